/* Commands a connection answers by itself, and the CASHE namespace. */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "version.h"

static bool arg_is(const char *arg, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(arg, word, len) == 0;
}

static void hello(struct conn *c, int argc, const char **argv,
                  const size_t *lens, struct buf *r)
{
    struct server *s = c->srv;
    int64_t proto = 2;
    int i = 2;

    if (argc >= 2 && parse_i64(argv[1], lens[1], &proto) != 0) {
        resp_error(r, "ERR Protocol version is not an integer or out of "
                      "range");
        return;
    }
    if (proto < 2 || proto > 3) {
        resp_error(r, "NOPROTO unsupported protocol version");
        return;
    }
    if (proto == 3) {
        resp_error(r, "NOPROTO this server speaks RESP2 only");
        return;
    }
    for (; i < argc; i++) {
        if (arg_is(argv[i], lens[i], "auth") && i + 2 < argc) {
            if (s->cfg->password == NULL ||
                strlen(s->cfg->password) != lens[i + 2] ||
                memcmp(s->cfg->password, argv[i + 2], lens[i + 2]) != 0) {
                resp_error(r, "WRONGPASS invalid username-password pair or "
                              "user is disabled.");
                return;
            }
            conn_authenticated(c);
            i += 2;
        } else if (arg_is(argv[i], lens[i], "setname") && i + 1 < argc) {
            free(c->name);
            c->name = xmemdup(argv[i + 1], lens[i + 1] + 1);
            c->name[lens[i + 1]] = '\0';
            i++;
        } else {
            resp_errorf(r, "ERR Syntax error in HELLO option '%.*s'",
                        (int)(lens[i] > 64 ? 64 : lens[i]), argv[i]);
            return;
        }
    }
    if (!c->authed) {
        resp_error(r, "NOAUTH HELLO must be called with the client already "
                      "authenticated, otherwise the HELLO <proto> AUTH "
                      "<user> <pass> option can be used to authenticate "
                      "the client and select the RESP protocol version at "
                      "the same time");
        return;
    }
    resp_array(r, 14);
    resp_bulk_str(r, "server");
    resp_bulk_str(r, "redis");
    resp_bulk_str(r, "version");
    resp_bulk_str(r, "7.0.0");
    resp_bulk_str(r, "proto");
    resp_int(r, 2);
    resp_bulk_str(r, "id");
    resp_int(r, (int64_t)c->id);
    resp_bulk_str(r, "mode");
    resp_bulk_str(r, "standalone");
    resp_bulk_str(r, "role");
    resp_bulk_str(r, cluster_is_leader(s->cluster) ? "master" : "replica");
    resp_bulk_str(r, "modules");
    resp_array(r, 0);
}

static void auth(struct conn *c, int argc, const char **argv,
                 const size_t *lens, struct buf *r)
{
    const char *pw = c->srv->cfg->password;
    int i = argc == 3 ? 2 : 1;

    if (argc > 3) {
        resp_error(r, "ERR syntax error");
        return;
    }
    /* Without a password the default user takes any password, as redis's
     * "nopass" default user does; other user names do not exist. */
    if (pw == NULL && argc == 3) {
        if (arg_is(argv[1], lens[1], "default"))
            resp_simple(r, "OK");
        else
            resp_error(r, "WRONGPASS invalid username-password pair or "
                          "user is disabled.");
        return;
    }
    if (pw == NULL) {
        resp_error(r, "ERR AUTH <password> called without any password "
                      "configured for the default user. Are you sure your "
                      "configuration is correct?");
        return;
    }
    if ((argc == 3 && !arg_is(argv[1], lens[1], "default")) ||
        strlen(pw) != lens[i] || memcmp(pw, argv[i], lens[i]) != 0) {
        log_info("client %llu (%s): wrong password", (unsigned long long)c->id,
                 c->addr);
        resp_error(r, "WRONGPASS invalid username-password pair or user is "
                      "disabled.");
        return;
    }
    conn_authenticated(c);
    resp_simple(r, "OK");
}

static void client_list_line(struct conn *c, struct buf *out)
{
    char laddr[128]; /* a Unix socket path is at most 107 bytes */
    uv_os_fd_t fd = -1;

    (void)uv_fileno((const uv_handle_t *)&c->h.stream, &fd);
    conn_local_addr(c, laddr, sizeof(laddr));
    buf_printf(out,
               "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%llu "
               "flags=%s db=0 sub=0 psub=0 multi=-1 qbuf=%zu obl=%zu "
               "cmd=%s\n",
               (unsigned long long)c->id, c->addr, laddr, (int)fd,
               c->name ? c->name : "",
               (long long)(clock_wall_ms() - c->created_ms) / 1000,
               (unsigned long long)(uv_now(c->srv->loop) - c->last_cmd_at) /
                   1000,
               c->readonly ? "r" : "N", c->in.len, c->out.len,
               c->last_cmd ? c->last_cmd : "NULL");
}

/* Redis tells an unknown subcommand from a known one given the wrong
 * arguments; clients and people both read the difference. */
static void client_usage_error(const char *sub, size_t n, struct buf *r)
{
    static const char *const known[] = {"id",      "getname", "setname",
                                        "setinfo", "list",    "info"};

    for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
        if (arg_is(sub, n, known[i])) {
            resp_errorf(r,
                        "ERR wrong number of arguments for 'client|%s' "
                        "command",
                        known[i]);
            return;
        }
    }
    resp_errorf(r, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
                (int)(n > 64 ? 64 : n), sub);
}

static void client(struct conn *c, int argc, const char **argv,
                   const size_t *lens, struct buf *r)
{
    const char *sub = argv[1];
    size_t n = lens[1];
    struct buf list = {0};

    if (arg_is(sub, n, "id") && argc == 2) {
        resp_int(r, (int64_t)c->id);
    } else if (arg_is(sub, n, "getname") && argc == 2) {
        if (c->name)
            resp_bulk_str(r, c->name);
        else
            resp_null(r);
    } else if (arg_is(sub, n, "setname") && argc == 3) {
        for (size_t i = 0; i < lens[2]; i++) {
            if (argv[2][i] <= ' ' || argv[2][i] > '~') {
                resp_error(r, "ERR Client names cannot contain spaces, "
                              "newlines or special characters.");
                return;
            }
        }
        free(c->name);
        c->name = lens[2] ? xmemdup(argv[2], lens[2] + 1) : NULL;
        if (c->name)
            c->name[lens[2]] = '\0';
        resp_simple(r, "OK");
    } else if (arg_is(sub, n, "setinfo") && argc == 4) {
        resp_simple(r, "OK");
    } else if ((arg_is(sub, n, "list") && argc == 2) ||
               (arg_is(sub, n, "info") && argc == 2)) {
        if (arg_is(sub, n, "info")) {
            client_list_line(c, &list);
        } else {
            for (struct conn *o = c->srv->conns; o != NULL; o = o->next)
                if (!o->closing)
                    client_list_line(o, &list);
        }
        resp_bulk(r, list.data, list.len);
        buf_free(&list);
    } else {
        client_usage_error(sub, n, r);
    }
}

static void flag_names(const struct cmd_spec *cmd, struct buf *r)
{
    const char *names[4];
    size_t n = 0;

    if (cmd->flags & CMD_WRITE)
        names[n++] = "write";
    if (cmd->flags & CMD_READ)
        names[n++] = "readonly";
    if (cmd->flags & CMD_NOAUTH)
        names[n++] = "no_auth";
    if (cmd->flags & (CMD_CONN | CMD_ADMIN))
        names[n++] = "fast";
    resp_array(r, n);
    for (size_t i = 0; i < n; i++)
        resp_simple(r, names[i]);
}

static void command_entry(const struct cmd_spec *cmd, struct buf *r)
{
    resp_array(r, 10);
    resp_bulk_str(r, cmd->name);
    resp_int(r, cmd->arity);
    flag_names(cmd, r);
    resp_int(r, cmd->first_key);
    resp_int(r, cmd->last_key);
    resp_int(r, cmd->key_step);
    resp_array(r, 0); /* ACL categories */
    resp_array(r, 0); /* tips */
    resp_array(r, 0); /* key specs */
    resp_array(r, 0); /* subcommands */
}

static void command(struct conn *c, int argc, const char **argv,
                    const size_t *lens, struct buf *r)
{
    size_t n;
    const struct cmd_spec *table = cmd_table(&n);

    if (argc == 1) {
        resp_array(r, n);
        for (size_t i = 0; i < n; i++)
            command_entry(&table[i], r);
    } else if (arg_is(argv[1], lens[1], "count")) {
        if (argc == 2)
            resp_int(r, (int64_t)n);
        else
            resp_error(r, "ERR wrong number of arguments for 'command|count' "
                          "command");
    } else if (arg_is(argv[1], lens[1], "info")) {
        resp_array(r, (size_t)argc - 2);
        for (int i = 2; i < argc; i++) {
            const struct cmd_spec *cmd = cmd_lookup(argv[i], lens[i]);

            if (cmd)
                command_entry(cmd, r);
            else
                resp_null(r);
        }
    } else if (arg_is(argv[1], lens[1], "docs")) {
        /* No docs: redis-cli then simply shows no hints. */
        resp_array(r, 0);
    } else {
        resp_errorf(r, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                    (int)(lens[1] > 64 ? 64 : lens[1]), argv[1]);
    }
}

void conncmd_run(struct conn *c, const struct cmd_spec *cmd, int argc,
                 const char **argv, const size_t *lens, struct buf *r)
{
    const char *name = cmd->name;

    if (strcmp(name, "ping") == 0) {
        if (argc > 2)
            resp_error(r, "ERR wrong number of arguments for 'ping' command");
        else if (argc == 2)
            resp_bulk(r, argv[1], lens[1]);
        else
            resp_simple(r, "PONG");
    } else if (strcmp(name, "echo") == 0) {
        resp_bulk(r, argv[1], lens[1]);
    } else if (strcmp(name, "hello") == 0) {
        hello(c, argc, argv, lens, r);
    } else if (strcmp(name, "auth") == 0) {
        auth(c, argc, argv, lens, r);
    } else if (strcmp(name, "select") == 0) {
        int64_t db;

        if (parse_i64(argv[1], lens[1], &db) != 0)
            resp_error(r, "ERR value is not an integer or out of range");
        else if (db == 0)
            resp_simple(r, "OK");
        else
            resp_error(r, "ERR DB index is out of range");
    } else if (strcmp(name, "quit") == 0) {
        resp_simple(r, "OK");
        c->close_after_write = true;
    } else if (strcmp(name, "client") == 0) {
        client(c, argc, argv, lens, r);
    } else if (strcmp(name, "command") == 0) {
        command(c, argc, argv, lens, r);
    } else if (strcmp(name, "readonly") == 0) {
        c->readonly = true;
        resp_simple(r, "OK");
    } else if (strcmp(name, "readwrite") == 0) {
        c->readonly = false;
        resp_simple(r, "OK");
    } else if (strcmp(name, "info") == 0) {
        struct buf text = {0};
        char section[64] = "default";

        if (argc >= 2)
            snprintf(section, sizeof(section), "%.*s",
                     (int)(lens[1] > 63 ? 63 : lens[1]), argv[1]);
        info_render(c->srv, section, &text);
        resp_bulk(r, text.data, text.len);
        buf_free(&text);
    } else {
        resp_errorf(r, "ERR command '%s' is not available", name);
    }
}

/* CASHE <subcommand>: the cluster's own administration. */

static char *arg_str(const char *arg, size_t len)
{
    char *s = xmalloc(len + 1);

    memcpy(s, arg, len);
    s[len] = '\0';
    return s;
}

static enum admin_result admin_status(int rv, struct buf *r)
{
    if (rv == CLUSTER_OK)
        return ADMIN_ASYNC;
    if (rv == CLUSTER_NOT_LEADER)
        return ADMIN_FORWARD;
    if (rv == CLUSTER_SHUTDOWN)
        resp_error(r, SHUTDOWN_ERROR);
    else
        resp_error(r, "ERR request refused; see the node's log");
    return ADMIN_REPLIED;
}

static enum admin_result admin_join(struct conn *c, struct slot *slot, int argc,
                                    const char **argv, const size_t *lens,
                                    struct buf *r)
{
    char *name, *raft_addr, *client_addr;
    struct config_addr a;
    int rv;

    if (argc != 5) {
        resp_error(r, "ERR usage: CASHE JOIN name raft-address "
                      "client-address");
        return ADMIN_REPLIED;
    }
    if (!member_name_valid(argv[2], lens[2])) {
        resp_error(r, "ERR invalid member name");
        return ADMIN_REPLIED;
    }
    name = arg_str(argv[2], lens[2]);
    raft_addr = arg_str(argv[3], lens[3]);
    client_addr = arg_str(argv[4], lens[4]);
    if (lens[3] > MEMBER_ADDR_MAX || lens[4] > MEMBER_ADDR_MAX ||
        config_parse_addr(raft_addr, &a) != 0 || a.host[0] == '\0' ||
        config_parse_addr(client_addr, &a) != 0 || a.host[0] == '\0') {
        resp_error(r, "ERR addresses must be host:port");
        rv = -1;
    } else {
        rv = cluster_join(c->srv->cluster, name, raft_addr, client_addr,
                          admin_done, slot);
    }
    free(name);
    free(raft_addr);
    free(client_addr);
    return rv < 0 ? ADMIN_REPLIED : admin_status(rv, r);
}

static enum admin_result admin_named(struct conn *c, struct slot *slot,
                                     int argc, const char **argv,
                                     const size_t *lens, struct buf *r)
{
    struct cluster *cl = c->srv->cluster;
    const char *sub = argv[1];
    size_t n = lens[1];
    char *name = argc >= 3 ? arg_str(argv[2], lens[2]) : NULL;
    int rv;

    if (arg_is(sub, n, "remove") && argc == 3)
        rv = cluster_remove(cl, name, admin_done, slot);
    else if (arg_is(sub, n, "promote") && argc == 3)
        rv = cluster_assign(cl, name, RAFT_VOTER, admin_done, slot);
    else if (arg_is(sub, n, "demote") && argc == 3)
        rv = cluster_assign(cl, name, RAFT_SPARE, admin_done, slot);
    else if (arg_is(sub, n, "transfer") && argc == 3 && cluster_is_leader(cl) &&
             strcmp(name, c->srv->cfg->id) == 0) {
        /* Already there: nothing to hand over. */
        resp_simple(r, name);
        free(name);
        return ADMIN_REPLIED;
    } else if (arg_is(sub, n, "transfer") && argc <= 3)
        rv = cluster_transfer(cl, name, admin_done, slot);
    else
        rv = -1;
    free(name);
    if (rv < 0) {
        resp_error(r, "ERR unknown CASHE subcommand or wrong arguments; try "
                      "CASHE HELP");
        return ADMIN_REPLIED;
    }
    if (rv == CLUSTER_FAILED && arg_is(sub, n, "transfer")) {
        resp_error(r, "ERR cannot transfer leadership there: no such voter");
        return ADMIN_REPLIED;
    }
    return admin_status(rv, r);
}

static void admin_help(struct buf *r)
{
    static const char *const lines[] = {
        "CASHE MEMBERS                       list members and roles",
        "CASHE JOIN name raft-addr client-addr  add a node (as a voter)",
        "CASHE REMOVE name                   remove a member",
        "CASHE PROMOTE name | DEMOTE name    make a voter / a spare",
        "CASHE TRANSFER [name]               hand leadership over",
        "CASHE SNAPSHOT                      take a snapshot now",
    };

    resp_array(r, ARRAY_SIZE(lines));
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        resp_simple(r, lines[i]);
}

enum admin_result admin_run(struct conn *c, struct slot *slot, int argc,
                            const char **argv, const size_t *lens,
                            struct buf *r)
{
    const char *sub = argv[1];
    size_t n = lens[1];

    if (arg_is(sub, n, "members") && argc == 2) {
        members_render(c->srv, r);
    } else if (arg_is(sub, n, "forwarded") && argc == 2) {
        c->from_peer = true;
        resp_simple(r, "OK");
    } else if (arg_is(sub, n, "help")) {
        admin_help(r);
    } else if (arg_is(sub, n, "join")) {
        return admin_join(c, slot, argc, argv, lens, r);
    } else if (arg_is(sub, n, "snapshot") && argc == 2) {
        return admin_status(cluster_snapshot(c->srv->cluster, admin_done, slot),
                            r);
    } else {
        return admin_named(c, slot, argc, argv, lens, r);
    }
    return ADMIN_REPLIED;
}
