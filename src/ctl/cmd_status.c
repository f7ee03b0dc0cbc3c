/* cashectl status: this node, the leader, and how far behind each member is.
 *
 * The node's own view comes from its INFO (answered locally, so status
 * works without a quorum). How far behind each member is, only the leader
 * knows: its INFO gives each member's match index, the last log entry Raft
 * has confirmed the member holds. When the node asked is not the leader,
 * status asks the leader too, over its client address. */

#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

struct status {
    struct info node;   /* INFO of the node asked */
    struct info leader; /* INFO raft of the leader, when reachable */
    bool have_leader_info;
    char lag_error[300]; /* why the lag is unknown */
    redisReply *members;
};

static int fetch_info(struct ctl *c, struct info *info)
{
    redisReply *r;
    int rv;

    if ((r = ctl_call(c, &rv, "INFO", "all", NULL)) == NULL)
        return rv;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return ctl_bad_reply("INFO");
    }
    info_parse(info, r->str, r->len);
    freeReplyObject(r);
    return CTL_OK;
}

static void fetch_leader_info(struct ctl *c, struct status *s)
{
    const char *addr = info_get(&s->node, "leader_addr");
    redisContext *rc;
    redisReply *r;

    if (addr == NULL || addr[0] == '\0') {
        snprintf(s->lag_error, sizeof(s->lag_error), "no leader is known");
        return;
    }
    rc = ctl_connect_addr(c, addr, s->lag_error, sizeof(s->lag_error));
    if (rc == NULL)
        return;
    r = redisCommand(rc, "INFO raft");
    if (r == NULL)
        snprintf(s->lag_error, sizeof(s->lag_error), "%s", rc->errstr);
    else if (r->type != REDIS_REPLY_STRING)
        snprintf(s->lag_error, sizeof(s->lag_error), "%s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "bad INFO reply");
    else {
        info_parse(&s->leader, r->str, r->len);
        s->have_leader_info = true;
    }
    freeReplyObject(r);
    redisFree(rc);
}

/* The leader's "memberN" line for @name, or NULL. */
static const char *leader_member_line(const struct status *s, const char *name)
{
    char key[32], got[128];

    for (unsigned long long i = 0;; i++) {
        const char *line;

        snprintf(key, sizeof(key), "member%llu", i);
        line = info_get(&s->leader, key);
        if (line == NULL)
            return NULL;
        if (info_subfield(line, "name", got, sizeof(got)) &&
            strcmp(got, name) == 0)
            return line;
    }
}

/* The member's match index and its distance from the leader's last entry;
 * false when unknown. */
static bool member_lag(const struct status *s, const char *name,
                       unsigned long long *match, unsigned long long *behind)
{
    const char *line;
    char v[32];
    unsigned long long last;

    if (!s->have_leader_info)
        return false;
    line = leader_member_line(s, name);
    if (line == NULL || !info_subfield(line, "match_index", v, sizeof(v)))
        return false;
    *match = strtoull(v, NULL, 10);
    last = info_get_ull(&s->leader, "last_index");
    *behind = last > *match ? last - *match : 0;
    return true;
}

static unsigned long long key_count(const struct info *info)
{
    const char *db = info_get(info, "db0");
    char v[32];

    if (db == NULL || !info_subfield(db, "keys", v, sizeof(v)))
        return 0;
    return strtoull(v, NULL, 10);
}

static const char *text(const struct info *info, const char *key)
{
    const char *v = info_get(info, key);

    return v ? v : "";
}

/* ---- human output -------------------------------------------------------- */

static void print_node(const struct status *s)
{
    const struct info *n = &s->node;
    char size[32];

    human_bytes(size, sizeof(size), info_get_ull(n, "data_dir_bytes"));
    printf("node:      %s (%s), cashed %s\n", text(n, "node"), text(n, "role"),
           text(n, "cashe_version"));
    printf("term:      %s\n", text(n, "term"));
    if (text(n, "leader")[0] != '\0')
        printf("leader:    %s at %s\n", text(n, "leader"),
               text(n, "leader_addr"));
    else
        printf("leader:    none known\n");
    printf("applied:   %s (committed %s, last in log %s)\n",
           text(n, "last_applied"), text(n, "commit_index"),
           text(n, "last_index"));
    printf("snapshot:  %s\n", strcmp(text(n, "snapshot_index"), "0") == 0
                                  ? "none yet"
                                  : text(n, "snapshot_index"));
    printf("data dir:  %s (%s)\n", text(n, "data_dir"), size);
    printf("keys:      %llu\n\n", key_count(n));
}

static void print_members(const struct status *s)
{
    struct table t = {.cols = 7};
    char match[32], behind[32];
    unsigned long long mi, bi;

    table_row(&t, (const char *[]){"NAME", "ROLE", "RAFT-ROLE", "RAFT-ADDRESS",
                                   "CLIENT-ADDRESS", "MATCH", "BEHIND"});
    for (size_t i = 0; i < s->members->elements; i++) {
        const redisReply *m = s->members->element[i];
        const char *name = ctl_member_field(m, M_NAME);
        char role[48];
        bool known = member_lag(s, name, &mi, &bi);

        snprintf(match, sizeof(match), "%llu", mi);
        snprintf(behind, sizeof(behind), "%llu", bi);
        snprintf(role, sizeof(role), "%s%s", ctl_member_field(m, M_ROLE),
                 ctl_member_field(m, M_LEADER)[0] ? " (leader)" : "");
        table_row(&t,
                  (const char *[]){name, role, ctl_member_field(m, M_RAFT_ROLE),
                                   ctl_member_field(m, M_RAFT),
                                   ctl_member_field(m, M_CLIENT),
                                   known ? match : "?", known ? behind : "?"});
    }
    table_print(&t);
    if (!s->have_leader_info)
        printf("\nHow far behind each member is comes from the leader, "
               "which could not be asked: %s\n",
               s->lag_error);
}

/* ---- JSON output --------------------------------------------------------- */

static void json_field(const char *key, const char *value, bool number)
{
    printf("\"%s\":", key);
    if (number)
        printf("%s", value[0] ? value : "0");
    else
        json_str(stdout, value, strlen(value));
}

static void json_node(const struct status *s)
{
    static const struct {
        const char *key, *info;
        bool number;
    } fields[] = {
        {"name", "node", false},
        {"role", "role", false},
        {"version", "cashe_version", false},
        {"term", "term", true},
        {"leader", "leader", false},
        {"leader_addr", "leader_addr", false},
        {"commit_index", "commit_index", true},
        {"last_applied", "last_applied", true},
        {"last_index", "last_index", true},
        {"snapshot_index", "snapshot_index", true},
        {"revision", "revision", true},
        {"data_dir", "data_dir", false},
        {"data_dir_bytes", "data_dir_bytes", true},
    };

    fputs("{", stdout);
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        fputs(i ? "," : "", stdout);
        json_field(fields[i].key, text(&s->node, fields[i].info),
                   fields[i].number);
    }
    printf(",\"keys\":%llu}", key_count(&s->node));
}

static void json_member(const struct status *s, const redisReply *m)
{
    static const char *const keys[] = {"name",        "id",   "raft_addr",
                                       "client_addr", "role", "raft_role"};
    unsigned long long match, behind;

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        fputs(i ? "," : "{", stdout);
        json_field(keys[i], ctl_member_field(m, (int)i), false);
    }
    printf(",\"leader\":%s",
           ctl_member_field(m, M_LEADER)[0] ? "true" : "false");
    if (member_lag(s, ctl_member_field(m, M_NAME), &match, &behind))
        printf(",\"match_index\":%llu,\"behind\":%llu}", match, behind);
    else
        fputs(",\"match_index\":null,\"behind\":null}", stdout);
}

static void print_json(const struct status *s)
{
    fputs("{\"node\":", stdout);
    json_node(s);
    fputs(",\"members\":[", stdout);
    for (size_t i = 0; i < s->members->elements; i++) {
        fputs(i ? "," : "", stdout);
        json_member(s, s->members->element[i]);
    }
    fputs("],\"lag_error\":", stdout);
    if (s->have_leader_info)
        fputs("null", stdout);
    else
        json_str(stdout, s->lag_error, strlen(s->lag_error));
    fputs("}\n", stdout);
}

int ctl_status(struct ctl *c, int argc, char **argv)
{
    struct status s = {0};
    int rv;

    if (argc != 0)
        return ctl_fail(CTL_USAGE, "usage: cashectl status");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if ((rv = fetch_info(c, &s.node)) != CTL_OK)
        return rv;
    if ((s.members = ctl_members(c, &rv)) == NULL)
        goto out;
    if (strcmp(text(&s.node, "role"), "leader") == 0)
        s.have_leader_info = fetch_info(c, &s.leader) == CTL_OK;
    else
        fetch_leader_info(c, &s);
    if (c->json)
        print_json(&s);
    else {
        print_node(&s);
        print_members(&s);
    }
    /* Scripts can tell a cluster that serves from one that cannot. */
    rv = CTL_OK;
    if (text(&s.node, "leader")[0] == '\0')
        rv = ctl_fail(CTL_UNAVAILABLE,
                      "no leader is known: most voters are down or cannot "
                      "reach each other.\nIf they are lost for good, see "
                      "RECOVERY in cashe(7).");
out:
    freeReplyObject(s.members);
    info_free(&s.node);
    info_free(&s.leader);
    return rv;
}
