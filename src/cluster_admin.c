/* Membership changes, leadership transfer and on-demand snapshots.
 *
 * A membership change is a small reconciler: each step looks at the member
 * table and the Raft configuration, takes the one action that brings them
 * closer to what was asked, and runs again from that action's callback. A
 * step that finds nothing left to do completes the request. Retrying a
 * request, on this leader or a new one, therefore resumes where the last
 * attempt stopped, and asking twice for the same thing is a no-op. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "codec.h"
#include "log.h"
#include "resp.h"

enum admin_kind { ADMIN_JOIN, ADMIN_REMOVE, ADMIN_ASSIGN };

struct admin_op {
    struct admin_op *next;
    struct cluster *c;
    enum admin_kind kind;
    char name[MEMBER_NAME_MAX + 1];
    uint64_t id;
    char raft_addr[MEMBER_ADDR_MAX + 1];
    char client_addr[MEMBER_ADDR_MAX + 1];
    int role; /* RAFT_VOTER, RAFT_STANDBY or RAFT_SPARE */
    unsigned steps;
    char error[200];
    struct raft_change change;
    cluster_done_fn done;
    void *arg;
};

static void admin_step(struct admin_op *op);
static void admin_next(struct cluster *c);
static int step_raft(struct admin_op *op, int rv);

static void admin_finish(struct admin_op *op, int status, const char *error)
{
    struct cluster *c = op->c;
    struct buf reply = {0};

    if (error != NULL)
        resp_error(&reply, error);
    else
        resp_simple(&reply, "OK");
    if (error != NULL)
        log_warning("membership change for %s failed: %s", op->name, error);
    op->done(op->arg, status, &reply);
    buf_free(&reply);
    free(op);
    c->admin_busy = false;
    admin_next(c);
}

static void change_cb(struct raft_change *req, int status)
{
    struct admin_op *op = req->data;

    if (status != 0) {
        step_raft(op, status);
        admin_finish(op, CLUSTER_FAILED, op->error);
        return;
    }
    admin_step(op);
}

static void member_entry_cb(void *arg, int status, const struct buf *reply)
{
    struct admin_op *op = arg;

    if (status != CLUSTER_OK) {
        admin_finish(op, status,
                     "UNKNOWN leadership lost during a "
                     "membership change; retry it");
        return;
    }
    admin_step(op);
}

static int role_to_member(int raft_role)
{
    switch (raft_role) {
    case RAFT_VOTER:
        return MEMBER_VOTER;
    case RAFT_STANDBY:
        return MEMBER_STANDBY;
    default:
        return MEMBER_SPARE;
    }
}

static int propose_member(struct admin_op *op, int member_role)
{
    char id[32];
    const char *argv[5];
    size_t lens[5];

    snprintf(id, sizeof(id), "%" PRIu64, op->id);
    argv[0] = op->name;
    argv[1] = id;
    argv[2] = op->raft_addr;
    argv[3] = op->client_addr;
    argv[4] = member_role_name(member_role);
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    return cluster_propose_entry(op->c, CODEC_MEMBER_SET, 5, argv, lens,
                                 member_entry_cb, op);
}

static int propose_member_del(struct admin_op *op)
{
    const char *argv[1] = {op->name};
    size_t lens[1] = {strlen(op->name)};

    return cluster_propose_entry(op->c, CODEC_MEMBER_DEL, 1, argv, lens,
                                 member_entry_cb, op);
}

/* Step results: an action was started (0), nothing is left to do (1), or
 * the request cannot proceed (-1, with op->error set). */
enum { STEP_STARTED = 0, STEP_DONE = 1, STEP_FAILED = -1 };

static int step_raft(struct admin_op *op, int rv)
{
    if (rv == 0)
        return STEP_STARTED;
    snprintf(op->error, sizeof(op->error), "ERR membership change failed: %s",
             raft_strerror(rv));
    return STEP_FAILED;
}

static int step_proposal(struct admin_op *op, int status)
{
    if (status == CLUSTER_OK)
        return STEP_STARTED;
    snprintf(op->error, sizeof(op->error), "%s",
             status == CLUSTER_SHUTDOWN ? SHUTDOWN_ERROR
                                        : "TRYAGAIN not the leader; retry");
    return STEP_FAILED;
}

static const char *raft_address_of(const struct cluster *c, uint64_t id)
{
    for (unsigned i = 0; i < c->raft.configuration.n; i++) {
        if (c->raft.configuration.servers[i].id == id)
            return c->raft.configuration.servers[i].address;
    }
    return NULL;
}

/* Another member already using the Raft address would make two ids share
 * one server. */
static bool address_taken(const struct cluster *c, const struct admin_op *op)
{
    for (size_t i = 0; i < c->fsm.members.n; i++) {
        const struct member *m = &c->fsm.members.v[i];

        if (m->id != op->id && strcmp(m->raft_addr, op->raft_addr) == 0)
            return true;
    }
    return false;
}

/* One action toward "op->name is a voter at these addresses". */
static int join_step(struct admin_op *op)
{
    struct cluster *c = op->c;
    struct member *m = members_find_name(&c->fsm.members, op->name);
    int raft_role = cluster_raft_role(c, op->id);
    const char *raft_addr = raft_address_of(c, op->id);
    bool same;

    if (address_taken(c, op) ||
        (raft_addr != NULL && strcmp(raft_addr, op->raft_addr) != 0)) {
        snprintf(op->error, sizeof(op->error),
                 "ERR %s or its Raft address is already a member with "
                 "other addresses; remove it first",
                 op->name);
        return STEP_FAILED;
    }
    same = m != NULL && m->id == op->id &&
           strcmp(m->raft_addr, op->raft_addr) == 0 &&
           strcmp(m->client_addr, op->client_addr) == 0;
    if (!same)
        return step_proposal(
            op, propose_member(op, raft_role < 0 ? MEMBER_SPARE
                                                 : role_to_member(raft_role)));
    if (raft_role < 0)
        return step_raft(op, raft_add(&c->raft, &op->change, op->id,
                                      op->raft_addr, change_cb));
    if (raft_role != RAFT_VOTER)
        return step_raft(op, raft_assign(&c->raft, &op->change, op->id,
                                         RAFT_VOTER, change_cb));
    if (m->role != MEMBER_VOTER)
        return step_proposal(op, propose_member(op, MEMBER_VOTER));
    return STEP_DONE;
}

static int remove_step(struct admin_op *op)
{
    struct cluster *c = op->c;

    if (op->id == c->id) {
        snprintf(op->error, sizeof(op->error),
                 "ERR %s is the leader; transfer leadership first", op->name);
        return STEP_FAILED;
    }
    if (cluster_raft_role(c, op->id) >= 0)
        return step_raft(op,
                         raft_remove(&c->raft, &op->change, op->id, change_cb));
    if (members_find_name(&c->fsm.members, op->name) != NULL)
        return step_proposal(op, propose_member_del(op));
    return STEP_DONE;
}

static int assign_step(struct admin_op *op)
{
    struct cluster *c = op->c;
    struct member *m = members_find_name(&c->fsm.members, op->name);
    int raft_role = cluster_raft_role(c, op->id);

    if (raft_role < 0 || m == NULL) {
        snprintf(op->error, sizeof(op->error), "ERR no such member '%s'",
                 op->name);
        return STEP_FAILED;
    }
    if (raft_role != op->role)
        return step_raft(op, raft_assign(&c->raft, &op->change, op->id,
                                         op->role, change_cb));
    if (m->role != role_to_member(op->role))
        return step_proposal(op, propose_member(op, role_to_member(op->role)));
    return STEP_DONE;
}

static const char *const admin_verbs[] = {
    [ADMIN_JOIN] = "join of",
    [ADMIN_REMOVE] = "removal of",
    [ADMIN_ASSIGN] = "role change of",
};

static void admin_step(struct admin_op *op)
{
    int rv;

    if (!cluster_is_leader(op->c)) {
        admin_finish(op, CLUSTER_NOT_LEADER,
                     "TRYAGAIN leadership changed during a membership "
                     "change; retry it");
        return;
    }
    if (++op->steps > 16) {
        admin_finish(op, CLUSTER_FAILED,
                     "ERR membership change did not converge");
        return;
    }
    if (op->kind == ADMIN_JOIN)
        rv = join_step(op);
    else if (op->kind == ADMIN_REMOVE)
        rv = remove_step(op);
    else
        rv = assign_step(op);
    if (rv == STEP_DONE) {
        if (op->steps > 1)
            log_notice("membership: %s %s done", admin_verbs[op->kind],
                       op->name);
        admin_finish(op, CLUSTER_OK, NULL);
    } else if (rv == STEP_FAILED) {
        admin_finish(op, CLUSTER_FAILED, op->error);
    }
}

static void admin_next(struct cluster *c)
{
    struct admin_op *op = c->admin_head;

    if (c->admin_busy || op == NULL)
        return;
    c->admin_head = op->next;
    if (c->admin_head == NULL)
        c->admin_tail = NULL;
    c->admin_busy = true;
    admin_step(op);
}

static int admin_queue(struct cluster *c, struct admin_op *op)
{
    if (c->stopping) {
        free(op);
        return CLUSTER_SHUTDOWN;
    }
    if (!cluster_is_leader(c)) {
        free(op);
        return CLUSTER_NOT_LEADER;
    }
    op->c = c;
    op->change.data = op;
    if (c->admin_tail != NULL)
        c->admin_tail->next = op;
    else
        c->admin_head = op;
    c->admin_tail = op;
    admin_next(c);
    return CLUSTER_OK;
}

void admin_abort(struct cluster *c)
{
    struct admin_op *op;
    struct buf reply = {0};

    resp_error(&reply, SHUTDOWN_ERROR);
    while ((op = c->admin_head) != NULL) {
        c->admin_head = op->next;
        op->done(op->arg, CLUSTER_SHUTDOWN, &reply);
        free(op);
    }
    c->admin_tail = NULL;
    buf_free(&reply);
}

static struct admin_op *admin_new(enum admin_kind kind, const char *name,
                                  cluster_done_fn done, void *arg)
{
    struct admin_op *op = xcalloc(1, sizeof(*op));

    op->kind = kind;
    snprintf(op->name, sizeof(op->name), "%s", name);
    op->id = member_id_from_name(name, strlen(name));
    op->done = done;
    op->arg = arg;
    return op;
}

int cluster_join(struct cluster *c, const char *name, const char *raft_addr,
                 const char *client_addr, cluster_done_fn done, void *arg)
{
    struct admin_op *op;

    op = admin_new(ADMIN_JOIN, name, done, arg);
    snprintf(op->raft_addr, sizeof(op->raft_addr), "%s", raft_addr);
    snprintf(op->client_addr, sizeof(op->client_addr), "%s", client_addr);
    return admin_queue(c, op);
}

int cluster_remove(struct cluster *c, const char *name, cluster_done_fn done,
                   void *arg)
{
    return admin_queue(c, admin_new(ADMIN_REMOVE, name, done, arg));
}

int cluster_assign(struct cluster *c, const char *name, int role,
                   cluster_done_fn done, void *arg)
{
    struct admin_op *op = admin_new(ADMIN_ASSIGN, name, done, arg);
    struct member *m = members_find_name(&c->fsm.members, name);

    op->role = role;
    if (m != NULL) {
        snprintf(op->raft_addr, sizeof(op->raft_addr), "%s", m->raft_addr);
        snprintf(op->client_addr, sizeof(op->client_addr), "%s",
                 m->client_addr);
    }
    return admin_queue(c, op);
}

/* The leader keeps its own entry current: after bootstrap it has none, and
 * a restart may bring new addresses. */
static void self_cb(void *arg, int status, const struct buf *reply)
{
    struct cluster *c = arg;

    c->self_check_in_flight = false;
}

void cluster_self_check(struct cluster *c)
{
    struct member *m = members_find_name(&c->fsm.members, c->cfg->id);
    struct config *cfg = c->cfg;
    char id[32];
    const char *argv[5];
    size_t lens[5];

    if (c->self_check_in_flight || c->admin_busy)
        return;
    if (m != NULL && m->id == c->id &&
        strcmp(m->raft_addr, cfg->advertise_raft) == 0 &&
        strcmp(m->client_addr, cfg->advertise_client) == 0 &&
        m->role == MEMBER_VOTER)
        return;
    snprintf(id, sizeof(id), "%" PRIu64, c->id);
    argv[0] = cfg->id;
    argv[1] = id;
    argv[2] = cfg->advertise_raft;
    argv[3] = cfg->advertise_client;
    argv[4] = member_role_name(MEMBER_VOTER);
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (cluster_propose_entry(c, CODEC_MEMBER_SET, 5, argv, lens, self_cb, c) ==
        CLUSTER_OK)
        c->self_check_in_flight = true;
}

struct transfer_op {
    struct raft_transfer req;
    struct cluster *c;
    uint64_t target;
    cluster_done_fn done;
    void *arg;
};

static void transfer_cb(struct raft_transfer *req)
{
    struct transfer_op *t = req->data;
    struct cluster *c = t->c;
    const struct member *m = cluster_leader(c);
    struct buf reply = {0};

    if (cluster_leader_id(c) != c->id && cluster_leader_id(c) != 0) {
        resp_simple(&reply, m ? m->name : "OK");
        t->done(t->arg, CLUSTER_OK, &reply);
    } else {
        resp_error(&reply, "ERR leadership transfer did not complete in time");
        t->done(t->arg, CLUSTER_FAILED, &reply);
    }
    buf_free(&reply);
    free(t);
}

int cluster_transfer(struct cluster *c, const char *name, cluster_done_fn done,
                     void *arg)
{
    struct transfer_op *t;
    uint64_t id = 0;
    int rv;

    if (!cluster_is_leader(c))
        return CLUSTER_NOT_LEADER;
    if (name != NULL) {
        struct member *m = members_find_name(&c->fsm.members, name);

        if (m == NULL)
            return CLUSTER_FAILED;
        id = m->id;
    }
    t = xcalloc(1, sizeof(*t));
    t->c = c;
    t->done = done;
    t->arg = arg;
    t->req.data = t;
    rv = raft_transfer(&c->raft, &t->req, id, transfer_cb);
    if (rv != 0) {
        free(t);
        log_warning("leadership transfer refused: %s", raft_strerror(rv));
        return CLUSTER_FAILED;
    }
    log_notice("transferring leadership to %s", name ? name : "any voter");
    return CLUSTER_OK;
}

/* canonical/raft has no call to take a snapshot now: lower the threshold to
 * one entry and append a barrier, whose apply then takes one. Raft checks
 * the threshold only after its whole apply loop, which runs the barrier's
 * callback, so the threshold goes back up from a timer, once that loop is
 * over and the snapshot has started. */
struct snapshot_op {
    struct cluster *c;
    cluster_done_fn done;
    void *arg;
    int status;
    uv_timer_t timer;
};

static void snapshot_op_free(uv_handle_t *h)
{
    free(h->data);
}

static void snapshot_restore_cb(uv_timer_t *t)
{
    struct snapshot_op *s = t->data;
    struct buf reply = {0};

    if (--s->c->snapshot_forced == 0)
        raft_set_snapshot_threshold(&s->c->raft, s->c->cfg->snapshot_threshold);
    if (s->status == CLUSTER_OK)
        resp_simple(&reply, "OK");
    else
        resp_error(&reply, "TRYAGAIN leadership changed; retry");
    s->done(s->arg, s->status, &reply);
    buf_free(&reply);
    uv_close((uv_handle_t *)&s->timer, snapshot_op_free);
}

static void snapshot_barrier_cb(void *arg, int status, const struct buf *r)
{
    struct snapshot_op *s = arg;

    s->status = status;
    uv_timer_init(s->c->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, snapshot_restore_cb, 0, 0);
}

int cluster_snapshot(struct cluster *c, cluster_done_fn done, void *arg)
{
    struct snapshot_op *s = xcalloc(1, sizeof(*s));
    int rv;

    s->c = c;
    s->done = done;
    s->arg = arg;
    raft_set_snapshot_threshold(&c->raft, 1);
    rv = cluster_barrier(c, snapshot_barrier_cb, s);
    if (rv != CLUSTER_OK) {
        if (c->snapshot_forced == 0)
            raft_set_snapshot_threshold(&c->raft, c->cfg->snapshot_threshold);
        free(s);
    } else {
        c->snapshot_forced++;
    }
    return rv;
}
