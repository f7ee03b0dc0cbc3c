/* Where each command runs: here, through the log, or on the leader.
 *
 *   connection commands     answered here, at once
 *   reads, READONLY         run here on the local store, in reply order
 *   reads                   leader: after the next commit (cluster_read)
 *   writes                  leader: proposed, answered once applied
 *   anything, on a follower relayed to the leader
 *   no leader known         held until one is, for request-timeout at most */

#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "log.h"
#include "pubsub.h"
#include "server.h"
#include "server_internal.h"

#define ERR_NOLEADER                                                           \
    "NOLEADER no leader is known: the cluster has no quorum or is electing; "  \
    "try again later"
#define ERR_UNKNOWN                                                            \
    "UNKNOWN leadership was lost before the write committed: it may or may "   \
    "not have been applied"
#define ERR_TRYAGAIN "TRYAGAIN leadership changed; the command did not run"

static void route(struct slot *slot, const char **argv, const size_t *lens);

static struct slot *slot_append(struct conn *c, enum slot_state state)
{
    struct slot *s = xcalloc(1, sizeof(*s));

    s->conn = c;
    s->state = state;
    if (c->tail != NULL)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    if (state == SLOT_FLIGHT || state == SLOT_WAITING) {
        c->pending++;
        c->refs++;
    }
    return s;
}

void slot_free(struct slot *s)
{
    for (int i = 0; s->argv != NULL && i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s->lens);
    buf_free(&s->reply);
    free(s);
}

static void slot_copy_args(struct slot *s, int argc, const char **argv,
                           const size_t *lens)
{
    if (s->argv != NULL)
        return;
    s->argc = argc;
    s->argv = xmalloc((size_t)argc * sizeof(*s->argv));
    s->lens = xmalloc((size_t)argc * sizeof(*s->lens));
    for (int i = 0; i < argc; i++) {
        s->argv[i] = xmemdup(argv[i], lens[i] + 1);
        s->argv[i][lens[i]] = '\0';
        s->lens[i] = lens[i];
    }
}

/* Pausing a connection's input bounds the commands it has in flight, not
 * the size of their replies: thousands of GETs of a large value completing
 * in one batch for a client that does not read would pile up without end.
 * Past max-client-buffer of unanswered replies the client is dropped, as
 * redis's output buffer limit does. */
static bool over_output_limit(struct conn *c)
{
    size_t unanswered = c->held + c->out.len + c->writing.len;

    /* A member's relay carries the replies of many of its clients; closing
     * it would fail them all, and writes among them would end UNKNOWN. Its
     * input pauses instead, and the member bounds each client. */
    if (unanswered <= c->srv->cfg->max_client_buffer || c->from_peer)
        return false;
    log_warning("client %llu (%s): %zu bytes of replies wait for it, over "
                "max-client-buffer; closing it",
                (unsigned long long)c->id, c->addr, unanswered);
    return true;
}

/* A slot in flight or waiting got its answer. */
static void slot_complete(struct slot *s)
{
    struct conn *c = s->conn;

    s->state = SLOT_DONE;
    c->pending--;
    if (c->closing) {
        slot_free(s);
    } else {
        s->held = s->reply.len;
        c->held += s->held;
        if (over_output_limit(c))
            conn_close(c); /* frees s with the other done slots */
        else
            conn_mark_dirty(c);
    }
    conn_unref(c);
}

static void run_local(struct server *srv, const struct cmd_spec *cmd, int argc,
                      const char **argv, const size_t *lens, struct buf *reply)
{
    struct exec_ctx ctx = {
        .store = srv->cluster->fsm.store,
        .now_ms = clock_wall_ms(),
        .reply = reply,
        .cursors = srv->cursors,
    };

    exec_command(cmd, &ctx, argc, argv, lens);
}

void slots_advance(struct conn *c)
{
    struct slot *s;

    while ((s = c->head) != NULL) {
        if (s->state == SLOT_DEFERRED) {
            run_local(c->srv, s->cmd, s->argc, (const char **)s->argv, s->lens,
                      &s->reply);
            s->state = SLOT_DONE;
        }
        if (s->state != SLOT_DONE)
            break;
        buf_append(&c->out, s->reply.data, s->reply.len);
        c->held -= s->held;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        slot_free(s);
    }
}

static void write_done(void *arg, int status, const struct buf *reply)
{
    struct slot *s = arg;

    switch (status) {
    case CLUSTER_OK:
        buf_append(&s->reply, reply->data, reply->len);
        break;
    case CLUSTER_NOT_LEADER:
        resp_error(&s->reply, ERR_TRYAGAIN);
        break;
    case CLUSTER_SHUTDOWN:
        resp_error(&s->reply, SHUTDOWN_ERROR);
        break;
    default:
        resp_error(&s->reply, ERR_UNKNOWN);
        break;
    }
    slot_complete(s);
}

static void read_done(void *arg, int status, const struct buf *reply)
{
    struct slot *s = arg;

    if (status == CLUSTER_OK && !s->conn->closing)
        run_local(s->conn->srv, s->cmd, s->argc, (const char **)s->argv,
                  s->lens, &s->reply);
    else if (status == CLUSTER_SHUTDOWN)
        resp_error(&s->reply, SHUTDOWN_ERROR);
    else
        resp_error(&s->reply, ERR_TRYAGAIN);
    slot_complete(s);
}

static void wait_for_leader(struct slot *s, const char **argv,
                            const size_t *lens);

/* The leader to relay to: none while the one known is stopping (it answers
 * SHUTDOWN to everything until it has handed over). */
static const struct member *relay_leader(struct server *srv)
{
    const struct member *m = cluster_leader(srv->cluster);

    if (m != NULL && m->id == srv->leader_stopping)
        return NULL;
    return m;
}

/* A relayed command that cannot have run (never sent, refused by a leader
 * that is stopping, or a read) waits for a leader again, within the request
 * timeout: the leader it went to may have just died or be handing over,
 * and the next one is a second away. A write or a CASHE command that was
 * sent may have run: UNKNOWN. */
static void forward_done(void *arg, int status, const struct buf *reply)
{
    struct slot *s = arg;
    bool changes = s->cmd->flags & (CMD_WRITE | CMD_ADMIN);
    bool retry = status == CLUSTER_NOT_LEADER || status == CLUSTER_SHUTDOWN ||
                 (status == CLUSTER_UNKNOWN && !changes);

    if (status == CLUSTER_SHUTDOWN)
        s->conn->srv->leader_stopping = s->sent_to;

    if (status == CLUSTER_OK) {
        buf_append(&s->reply, reply->data, reply->len);
    } else if (retry && !s->conn->closing && clock_mono_us() < s->deadline_us) {
        wait_for_leader(s, (const char **)s->argv, s->lens);
        return;
    } else if (status == CLUSTER_UNKNOWN && changes) {
        resp_error(&s->reply, ERR_UNKNOWN);
    } else {
        resp_error(&s->reply, retry ? ERR_NOLEADER : ERR_TRYAGAIN);
    }
    slot_complete(s);
}

void admin_done(void *arg, int status, const struct buf *reply)
{
    struct slot *s = arg;

    if (reply != NULL)
        buf_append(&s->reply, reply->data, reply->len);
    else
        resp_error(&s->reply, ERR_TRYAGAIN);
    slot_complete(s);
}

/* Refuse what would exceed the configured limits before it is proposed. */
static bool within_limits(struct server *srv, const struct cmd_spec *cmd,
                          int argc, const size_t *lens, struct buf *reply)
{
    struct config *cfg = srv->cfg;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;

    for (int i = 1; i < argc; i++) {
        bool is_key = cmd->first_key > 0 && i >= cmd->first_key && i <= last &&
                      cmd->key_step > 0 &&
                      (i - cmd->first_key) % cmd->key_step == 0;

        if (is_key && lens[i] > cfg->max_key_size) {
            resp_errorf(reply,
                        "ERR key of %zu bytes exceeds max-key-size "
                        "(%llu)",
                        lens[i], (unsigned long long)cfg->max_key_size);
            return false;
        }
        if (!is_key && lens[i] > cfg->max_value_size) {
            resp_errorf(reply,
                        "ERR value of %zu bytes exceeds "
                        "max-value-size (%llu)",
                        lens[i], (unsigned long long)cfg->max_value_size);
            return false;
        }
    }
    return true;
}

/* APPEND and SETRANGE grow a value: check the result on the leader. */
static bool growth_ok(struct server *srv, const struct cmd_spec *cmd,
                      const char **argv, const size_t *lens, struct buf *reply)
{
    const struct store_entry *e;
    uint64_t size;
    int64_t off;

    if (strcmp(cmd->name, "append") == 0) {
        e = store_get(srv->cluster->fsm.store, argv[1], lens[1]);
        size =
            (e && store_live(e, clock_wall_ms()) ? e->value_len : 0) + lens[2];
    } else if (strcmp(cmd->name, "setrange") == 0) {
        if (parse_i64(argv[2], lens[2], &off) != 0 || off < 0)
            return true; /* the command itself reports it */
        size = (uint64_t)off + lens[3];
    } else {
        return true;
    }
    if (size <= srv->cfg->max_value_size)
        return true;
    resp_errorf(reply,
                "ERR the value would grow to %llu bytes, beyond "
                "max-value-size (%llu)",
                (unsigned long long)size,
                (unsigned long long)srv->cfg->max_value_size);
    return false;
}

static void wait_for_leader(struct slot *s, const char **argv,
                            const size_t *lens)
{
    struct server *srv = s->conn->srv;

    slot_copy_args(s, s->argc, argv, lens);
    s->state = SLOT_WAITING;
    if (s->deadline_us == 0)
        s->deadline_us =
            clock_mono_us() + (uint64_t)srv->cfg->request_timeout_ms * 1000;
    s->wait_next = srv->waiting;
    srv->waiting = s;
}

static void route_forward(struct slot *s, const char **argv, const size_t *lens)
{
    struct server *srv = s->conn->srv;
    const struct member *leader = relay_leader(srv);
    int rv;

    if (s->conn->from_peer) {
        resp_error(&s->reply, ERR_TRYAGAIN);
        slot_complete(s);
        return;
    }
    /* Behind commands already waiting (those of its own connection among
     * them): they go first, in order, at the next retry. */
    if (leader == NULL || srv->waiting != NULL) {
        wait_for_leader(s, argv, lens);
        return;
    }
    s->sent_to = leader->id;
    /* Kept for a retry; the deadline counts from the first attempt. */
    slot_copy_args(s, s->argc, argv, lens);
    if (s->deadline_us == 0)
        s->deadline_us =
            clock_mono_us() + (uint64_t)srv->cfg->request_timeout_ms * 1000;
    s->state = SLOT_FLIGHT;
    rv = forwarder_send(srv->forwarder, leader->client_addr, s->argc,
                        (const char **)s->argv, s->lens, forward_done, s);
    if (rv != CLUSTER_OK) {
        wait_for_leader(s, argv, lens);
        return;
    }
    srv->stats.commands_forwarded++;
}

static void route_leader(struct slot *s, const char **argv, const size_t *lens)
{
    struct server *srv = s->conn->srv;
    const struct cmd_spec *cmd = s->cmd;
    int rv;

    s->state = SLOT_FLIGHT;
    if (cmd->flags & CMD_WRITE) {
        if (!within_limits(srv, cmd, s->argc, lens, &s->reply) ||
            !growth_ok(srv, cmd, argv, lens, &s->reply)) {
            slot_complete(s);
            return;
        }
        rv = cluster_propose(srv->cluster, s->argc, argv, lens, write_done, s);
    } else {
        slot_copy_args(s, s->argc, argv, lens);
        rv = cluster_read(srv->cluster, read_done, s);
    }
    if (rv == CLUSTER_NOT_LEADER)
        route_forward(s, argv, lens);
    else if (rv != CLUSTER_OK)
        write_done(s, rv, NULL);
}

/* A node low on disk space takes no writes, whoever sends them: its log
 * would grow (docs/architecture.md, "Disk full"). */
static void refuse_write_nospace(struct slot *s)
{
    struct config *cfg = s->conn->srv->cfg;
    char why[128];

    resp_errorf(&s->reply,
                "NOSPACE node %s: data directory %s has %s; writes are "
                "refused until space is freed",
                cfg->id, cfg->data_dir,
                diskspace_describe(&s->conn->srv->cluster->disk.space, why,
                                   sizeof(why)));
    slot_complete(s);
}

static void route(struct slot *s, const char **argv, const size_t *lens)
{
    struct conn *c = s->conn;
    struct cluster *cl = c->srv->cluster;

    if (cl->stopping) {
        resp_error(&s->reply, SHUTDOWN_ERROR);
        slot_complete(s);
    } else if ((s->cmd->flags & CMD_WRITE) && diskwatch_full(&cl->disk)) {
        refuse_write_nospace(s);
    } else if (s->cmd->flags & CMD_ADMIN) {
        switch (admin_run(c, s, s->argc, argv, lens, &s->reply)) {
        case ADMIN_REPLIED:
            slot_complete(s);
            break;
        case ADMIN_FORWARD:
            route_forward(s, argv, lens);
            break;
        case ADMIN_ASYNC:
            break;
        }
    } else if (cluster_is_leader(cl)) {
        route_leader(s, argv, lens);
    } else {
        route_forward(s, argv, lens);
    }
}

void dispatch_retry_waiting(struct server *srv)
{
    struct slot *list = NULL, *s;
    uint64_t now = clock_mono_us();

    /* The list is newest first: retry the oldest first, so a client's
     * pipelined commands run in the order it sent them. */
    while ((s = srv->waiting) != NULL) {
        srv->waiting = s->wait_next;
        s->wait_next = list;
        list = s;
    }
    while ((s = list) != NULL) {
        list = s->wait_next;
        s->wait_next = NULL;
        if (s->conn->closing) {
            slot_complete(s);
        } else if (cluster_is_leader(srv->cluster) ||
                   relay_leader(srv) != NULL) {
            route(s, (const char **)s->argv, s->lens);
        } else if (now >= s->deadline_us) {
            resp_error(&s->reply, ERR_NOLEADER);
            slot_complete(s);
        } else {
            s->wait_next = srv->waiting;
            srv->waiting = s;
        }
    }
}

static bool is_pubsub(const struct cmd_spec *cmd)
{
    return strcmp(cmd->name, "subscribe") == 0 ||
           strcmp(cmd->name, "psubscribe") == 0 ||
           strcmp(cmd->name, "unsubscribe") == 0 ||
           strcmp(cmd->name, "punsubscribe") == 0;
}

/* What a subscribed connection may still do, as redis allows it. */
static bool allowed_subscribed(const struct cmd_spec *cmd)
{
    return is_pubsub(cmd) || strcmp(cmd->name, "ping") == 0 ||
           strcmp(cmd->name, "quit") == 0;
}

static void unknown_command(struct buf *out, int argc, const char **argv,
                            const size_t *lens)
{
    struct buf msg = {0};

    buf_printf(&msg, "ERR unknown command '%.*s', with args beginning with: ",
               (int)(lens[0] > 128 ? 128 : lens[0]), argv[0]);
    for (int i = 1; i < argc && msg.len < 400; i++)
        buf_printf(&msg, "'%.*s' ", (int)(lens[i] > 64 ? 64 : lens[i]),
                   argv[i]);
    buf_append(&msg, "", 1);
    resp_error(out, msg.data);
    buf_free(&msg);
}

/* Replies that are ready now go straight out when nothing is queued before
 * them; otherwise they take a slot to keep their place. */
struct buf *dispatch_ready_reply(struct conn *c)
{
    if (c->head == NULL)
        return &c->out;
    return &slot_append(c, SLOT_DONE)->reply;
}

void dispatch_command(struct conn *c, int argc, const char **argv,
                      const size_t *lens)
{
    struct server *srv = c->srv;
    const struct cmd_spec *cmd = cmd_lookup(argv[0], lens[0]);
    struct slot *s;

    srv->stats.commands_processed++;
    if (srv->stopping) {
        srv->stop_busy_us = clock_mono_us();
        resp_error(dispatch_ready_reply(c), SHUTDOWN_ERROR);
        return;
    }
    if (cmd == NULL) {
        unknown_command(dispatch_ready_reply(c), argc, argv, lens);
        return;
    }
    c->last_cmd = cmd->name;
    c->last_cmd_at = uv_now(srv->loop);
    if (!cmd_arity_ok(cmd, argc)) {
        resp_errorf(dispatch_ready_reply(c),
                    "ERR wrong number of arguments for '%s' command",
                    cmd->name);
        return;
    }
    if (!c->authed && !(cmd->flags & CMD_NOAUTH)) {
        resp_error(dispatch_ready_reply(c), "NOAUTH Authentication required.");
        return;
    }
    if (pubsub_active(c) && !allowed_subscribed(cmd)) {
        resp_errorf(dispatch_ready_reply(c),
                    "ERR Can't execute '%s': only (P)SUBSCRIBE / "
                    "(P)UNSUBSCRIBE / PING / QUIT are allowed in this context",
                    cmd->name);
        return;
    }
    if (is_pubsub(cmd) ||
        (pubsub_active(c) && strcmp(cmd->name, "ping") == 0)) {
        pubsub_command(c, cmd, argc, argv, lens, dispatch_ready_reply(c));
        return;
    }
    if (cmd->flags & CMD_CONN) {
        conncmd_run(c, cmd, argc, argv, lens, dispatch_ready_reply(c));
        return;
    }
    if ((cmd->flags & CMD_READ) && c->readonly) {
        if (c->head == NULL) {
            run_local(srv, cmd, argc, argv, lens, &c->out);
            return;
        }
        s = slot_append(c, SLOT_DEFERRED);
        s->cmd = cmd;
        slot_copy_args(s, argc, argv, lens);
        return;
    }
    s = slot_append(c, SLOT_FLIGHT);
    s->cmd = cmd;
    s->argc = argc;
    route(s, argv, lens);
}
