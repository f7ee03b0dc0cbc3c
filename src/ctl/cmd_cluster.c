/* cashectl member, leader and status: the cluster. */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

static int usage(const char *text)
{
    return ctl_fail(CTL_USAGE, "usage: cashectl %s", text);
}

static bool members_reply_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];

        if (m->type != REDIS_REPLY_ARRAY || m->elements != MEMBER_FIELDS)
            return false;
        for (size_t j = 0; j < MEMBER_FIELDS; j++) {
            if (m->element[j]->type != REDIS_REPLY_STRING)
                return false;
        }
    }
    return true;
}

redisReply *ctl_members(struct ctl *c, int *status)
{
    redisReply *r = ctl_call(c, status, "CASHE", "MEMBERS", NULL);

    if (r != NULL && !members_reply_ok(r)) {
        freeReplyObject(r);
        *status = ctl_bad_reply("CASHE MEMBERS");
        return NULL;
    }
    return r;
}

const char *ctl_member_field(const redisReply *m, int i)
{
    return m->element[i]->str;
}

static const redisReply *find_member(const redisReply *members,
                                     const char *name)
{
    for (size_t i = 0; i < members->elements; i++) {
        if (strcmp(ctl_member_field(members->element[i], M_NAME), name) == 0)
            return members->element[i];
    }
    return NULL;
}

/* ---- member -------------------------------------------------------------- */

static void member_json(const redisReply *m, FILE *f)
{
    static const char *const keys[] = {"name",        "id",   "raft_addr",
                                       "client_addr", "role", "raft_role"};

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        fprintf(f, "%s\"%s\":", i ? "," : "{", keys[i]);
        json_str(f, m->element[i]->str, m->element[i]->len);
    }
    fprintf(f, ",\"leader\":%s",
            ctl_member_field(m, M_LEADER)[0] ? "true" : "false");
}

static int member_list(struct ctl *c)
{
    struct table t = {.cols = 6};
    redisReply *r;
    int rv;

    if ((r = ctl_members(c, &rv)) == NULL)
        return rv;
    if (c->json) {
        fputs("[", stdout);
        for (size_t i = 0; i < r->elements; i++) {
            fputs(i ? ",\n " : "", stdout);
            member_json(r->element[i], stdout);
            fputs("}", stdout);
        }
        fputs("]\n", stdout);
        freeReplyObject(r);
        return CTL_OK;
    }
    table_row(&t, (const char *[]){"NAME", "ROLE", "RAFT-ROLE", "RAFT-ADDRESS",
                                   "CLIENT-ADDRESS", "LEADER"});
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];

        table_row(
            &t, (const char *[]){
                    ctl_member_field(m, M_NAME), ctl_member_field(m, M_ROLE),
                    ctl_member_field(m, M_RAFT_ROLE),
                    ctl_member_field(m, M_RAFT), ctl_member_field(m, M_CLIENT),
                    ctl_member_field(m, M_LEADER)[0] ? "*" : ""});
    }
    table_print(&t);
    freeReplyObject(r);
    return CTL_OK;
}

static int member_remove(struct ctl *c, const char *name)
{
    redisReply *r;
    int rv;
    bool known;

    if ((r = ctl_members(c, &rv)) == NULL)
        return rv;
    known = find_member(r, name) != NULL;
    freeReplyObject(r);
    if (!known)
        return ctl_fail(CTL_NOT_FOUND,
                        "no member named '%s'; see 'cashectl member list'",
                        name);
    if ((r = ctl_call(c, &rv, "CASHE", "REMOVE", name, NULL)) == NULL)
        return rv;
    freeReplyObject(r);
    printf("removed %s\n", name);
    return CTL_OK;
}

static int member_add(struct ctl *c, char **argv)
{
    redisReply *r;
    int rv;

    r = ctl_call(c, &rv, "CASHE", "JOIN", argv[0], argv[1], argv[2], NULL);
    if (r == NULL)
        return rv;
    freeReplyObject(r);
    printf("%s is a voter\n", argv[0]);
    return CTL_OK;
}

static int member_assign(struct ctl *c, const char *verb, const char *name,
                         const char *role)
{
    redisReply *r;
    int rv;

    if ((r = ctl_call(c, &rv, "CASHE", verb, name, NULL)) == NULL)
        return rv;
    freeReplyObject(r);
    printf("%s is now a %s\n", name, role);
    return CTL_OK;
}

static int member_run(struct ctl *c, const char *sub, char **argv)
{
    if (strcmp(sub, "list") == 0)
        return member_list(c);
    if (strcmp(sub, "add") == 0)
        return member_add(c, argv);
    if (strcmp(sub, "remove") == 0)
        return member_remove(c, argv[0]);
    if (strcmp(sub, "promote") == 0)
        return member_assign(c, "PROMOTE", argv[0], "voter");
    return member_assign(c, "DEMOTE", argv[0], "spare");
}

int ctl_member(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *name;
        int args;
    } subs[] = {
        {"list", 0}, {"add", 3}, {"remove", 1}, {"promote", 1}, {"demote", 1}};
    int rv;

    for (size_t i = 0; argc > 0 && i < ARRAY_SIZE(subs); i++) {
        if (strcmp(argv[0], subs[i].name) != 0 || argc - 1 != subs[i].args)
            continue;
        if ((rv = ctl_connect(c)) != CTL_OK)
            return rv;
        return member_run(c, argv[0], argv + 1);
    }
    return usage("member list | add NAME RAFTADDR CLIENTADDR | remove NAME "
                 "| promote NAME | demote NAME");
}

/* The daemon says "no such voter" for any target it cannot use; tell the
 * operator which case this is. */
static int check_transfer_target(struct ctl *c, const char *name)
{
    redisReply *r;
    const redisReply *m;
    size_t voters = 0;
    int rv;

    if ((r = ctl_members(c, &rv)) == NULL)
        return rv;
    for (size_t i = 0; i < r->elements; i++)
        voters +=
            strcmp(ctl_member_field(r->element[i], M_RAFT_ROLE), "voter") == 0;
    m = name ? find_member(r, name) : NULL;
    if (name != NULL && m == NULL)
        rv = ctl_fail(CTL_NOT_FOUND,
                      "no member named '%s'; see 'cashectl member list'", name);
    else if (m != NULL && strcmp(ctl_member_field(m, M_RAFT_ROLE), "voter"))
        rv = ctl_fail(CTL_FAILED,
                      "%s is not a voter; promote it first "
                      "('cashectl member promote %s')",
                      name, name);
    else if (voters < 2)
        rv = ctl_fail(CTL_FAILED, "there is no other voter to hand "
                                  "leadership to; add a member first");
    freeReplyObject(r);
    return rv;
}

int ctl_leader(struct ctl *c, int argc, char **argv)
{
    redisReply *r;
    int rv;

    if (argc < 1 || argc > 2 || strcmp(argv[0], "transfer") != 0)
        return usage("leader transfer [NAME]");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if ((rv = check_transfer_target(c, argc == 2 ? argv[1] : NULL)) != CTL_OK)
        return rv;
    r = ctl_call(c, &rv, "CASHE", "TRANSFER", argc == 2 ? argv[1] : NULL, NULL);
    if (r == NULL)
        return rv;
    if (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return ctl_bad_reply("CASHE TRANSFER");
    }
    printf("leader is now %s\n", r->str);
    freeReplyObject(r);
    return CTL_OK;
}
