/* Raft start-up, proposals, linearizable reads, the periodic tick, stop. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closeonce.h"
#include "cluster.h"
#include "cluster_internal.h"
#include "codec.h"
#include "log.h"
#include "nodelay.h"

#define TICK_MS      20
#define IDLE_TICKS   (1000 / TICK_MS) /* a second with nothing applied */
#define EXPIRE_BATCH 512

/* A proposal in flight, on the cluster's list in log order. A command's
 * reply is written into it as its entry applies, so the reply does not
 * depend on when the library fires the callback. */
struct proposal {
    struct raft_barrier barrier;
    struct proposal *prev, *next;
    struct cluster *c;
    uint64_t index;
    uint64_t term; /* leader term it was appended in */
    bool is_barrier;
    bool applied; /* its entry applied; the reply is complete */
    cluster_done_fn done;
    void *arg;
    struct read_batch reads;
    struct buf reply;
};

static void reads_push(struct read_batch *b, cluster_done_fn done, void *arg)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    b->v[b->n].done = done;
    b->v[b->n].arg = arg;
    b->n++;
}

/* Complete every read of a batch with @status, then release it. */
static void reads_finish(struct read_batch *b, int status)
{
    for (size_t i = 0; i < b->n; i++)
        b->v[i].done(b->v[i].arg, status, NULL);
    free(b->v);
    memset(b, 0, sizeof(*b));
}

static struct proposal *proposal_new(struct cluster *c, cluster_done_fn done,
                                     void *arg)
{
    struct proposal *p = xcalloc(1, sizeof(*p));

    p->c = c;
    p->done = done;
    p->arg = arg;
    p->barrier.data = p;
    return p;
}

/* Reads that arrived before this proposal was made are linearized by its
 * commit: hand them the open batch. */
static void proposal_take_reads(struct cluster *c, struct proposal *p)
{
    p->reads = c->open_reads;
    memset(&c->open_reads, 0, sizeof(c->open_reads));
    c->stats.reads_batched += p->reads.n;
}

static int status_from_raft(int rv)
{
    switch (rv) {
    case 0:
        return CLUSTER_OK;
    case RAFT_NOTLEADER:
        return CLUSTER_NOT_LEADER;
    case RAFT_SHUTDOWN:
        return CLUSTER_SHUTDOWN;
    default:
        return CLUSTER_UNKNOWN;
    }
}

/* Proposals count as in flight from the moment they are queued. */
static void flight_add(struct cluster *c, struct proposal *p, uint64_t index)
{
    p->index = index;
    p->prev = c->flight_tail;
    if (c->flight_tail != NULL)
        c->flight_tail->next = p;
    else
        c->flight_head = p;
    c->flight_tail = p;
}

static void flight_remove(struct cluster *c, struct proposal *p)
{
    if (c->flight_cursor == p)
        c->flight_cursor = NULL;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        c->flight_head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        c->flight_tail = p->prev;
}

/* The proposal whose entry is at @index, if this node appended it as the
 * leader it still is, in the same term: a leader never rewrites its log
 * within its term, so then that entry is ours. After a change of term the
 * index may hold another leader's entry, and nothing is matched. */
static struct proposal *flight_find(struct cluster *c, uint64_t index)
{
    struct proposal *p = c->flight_cursor;

    if (c->raft.state != RAFT_LEADER)
        return NULL;
    /* Entries apply in order: resume the walk where the last one matched,
     * so a batch of n entries costs n steps, not n^2/2. */
    if (p == NULL || p->index >= index)
        p = c->flight_head;
    for (; p != NULL && p->index <= index; p = p->next) {
        if (p->index == index && !p->is_barrier &&
            p->term == c->raft.current_term) {
            c->flight_cursor = p;
            return p;
        }
    }
    return NULL;
}

/* fsm hook, as each entry starts to apply. Reads attached to a command run
 * now, against the state just before it: they arrived before it was
 * proposed, and its being applied proves the commit they wait for. */
static struct buf *before_apply(void *arg)
{
    struct cluster *c = arg;
    struct proposal *p = flight_find(c, raft_last_applied(&c->raft) + 1);

    if (p == NULL)
        return NULL;
    reads_finish(&p->reads, CLUSTER_OK);
    buf_reset(&p->reply);
    return &p->reply;
}

/* fsm hook: the entry @ahead after the one applying now, read from the
 * library's in-memory log (struct raft_log: a ring of entries from index
 * offset + 1, slots [front, back)), only while the log holds it. */
static const struct raft_buffer *peek_entry(void *arg, unsigned ahead)
{
    struct cluster *c = arg;
    const struct raft_log *l = &c->raft.log;
    raft_index index = raft_last_applied(&c->raft) + 1 + ahead;
    const struct raft_entry *e;
    size_t n;

    if (l->entries == NULL || l->size == 0 || index <= l->offset)
        return NULL;
    n = l->back >= l->front ? l->back - l->front : l->size - l->front + l->back;
    if (index - l->offset > n)
        return NULL;
    e = &l->entries[(l->front + (size_t)(index - l->offset - 1)) % l->size];
    return e->type == RAFT_COMMAND ? &e->buf : NULL;
}

/* fsm hook, once the entry applied: its reply is complete. The proposer
 * hears of it from flight_complete(), outside the library's apply loop. */
static void after_apply(void *arg)
{
    struct cluster *c = arg;
    struct proposal *p = c->flight_cursor;

    if (p != NULL && p->index == raft_last_applied(&c->raft) + 1)
        p->applied = true;
}

static void proposal_finish(struct proposal *p, int status,
                            const struct buf *reply)
{
    struct cluster *c = p->c;

    flight_remove(c, p);
    c->in_flight--;
    if (p->done != NULL)
        p->done(p->arg, status, reply);
    /* A read is only retried, never unknown: nothing it did can stick. */
    reads_finish(&p->reads,
                 status == CLUSTER_OK ? CLUSTER_OK : CLUSTER_NOT_LEADER);
    buf_free(&p->reply);
    free(p);
}

/* Answer the proposals whose entries applied, in log order. */
static void flight_complete(struct cluster *c)
{
    struct proposal *p;

    while ((p = c->flight_head) != NULL && p->applied)
        proposal_finish(p, CLUSTER_OK, &p->reply);
}

/* Proposals whose batch Raft no longer tracks (canonical/raft reports on a
 * request as its first entry applies) once their term has passed: they may
 * or may not commit under the next leader. Older terms come first. */
static void flight_orphans(struct cluster *c)
{
    struct proposal *p = c->flight_head, *next;
    bool leader = c->raft.state == RAFT_LEADER;

    if (p == NULL || (leader && p->term == c->raft.current_term))
        return;
    for (; p != NULL; p = next) {
        next = p->next;
        if (!p->is_barrier && !p->applied &&
            (!leader || p->term != c->raft.current_term))
            proposal_finish(p, CLUSTER_UNKNOWN, NULL);
    }
}

/* One raft_apply() call: entries [index, index + n) of @term. */
struct batch {
    struct raft_apply apply;
    struct cluster *c;
    uint64_t term;
    unsigned n;
};

/* canonical/raft calls back once for a request of n entries, as its first
 * entry applies: each entry's proposal is answered through after_apply().
 * Only a failure concerns the whole batch: none of it applied. */
static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct batch *b = req->data;
    struct cluster *c = b->c;
    struct proposal *p, *next;

    (void)result;
    if (status != 0) {
        log_warning("%u proposals from index %llu failed: %s", b->n,
                    (unsigned long long)req->index, raft_strerror(status));
        for (p = c->flight_head; p != NULL; p = next) {
            next = p->next;
            /* Appended, so a later leader may still commit it. */
            if (!p->is_barrier && !p->applied && p->term == b->term &&
                p->index >= req->index && p->index < req->index + b->n)
                proposal_finish(p,
                                status == RAFT_NOTLEADER ? CLUSTER_NOT_LEADER
                                                         : CLUSTER_UNKNOWN,
                                NULL);
        }
    }
    flight_complete(c);
    free(b);
}

/* Queued proposals that never reached the log: nothing of them ran. */
static void queue_fail(struct cluster *c, int status)
{
    unsigned n = c->queued;

    c->queued = 0;
    for (unsigned i = 0; i < n; i++) {
        struct proposal *p = c->queue[i];

        raft_free(c->queue_bufs[i].base);
        c->in_flight--;
        if (p->done != NULL)
            p->done(p->arg, status, NULL);
        reads_finish(&p->reads, status == CLUSTER_SHUTDOWN
                                    ? CLUSTER_SHUTDOWN
                                    : CLUSTER_NOT_LEADER);
        free(p);
    }
}

/* Apply everything proposed in this loop iteration as one request. */
static void queue_flush(struct cluster *c)
{
    struct batch *b;
    unsigned n = c->queued;
    int rv;

    if (n == 0)
        return;
    b = xmalloc(sizeof(*b));
    b->c = c;
    b->n = n;
    b->term = c->raft.current_term;
    b->apply.data = b;
    rv = raft_apply(&c->raft, &b->apply, c->queue_bufs, n, apply_cb);
    if (rv != 0) {
        free(b);
        queue_fail(c, status_from_raft(rv) == CLUSTER_SHUTDOWN
                          ? CLUSTER_SHUTDOWN
                          : CLUSTER_NOT_LEADER);
        return;
    }
    c->queued = 0;
    for (unsigned i = 0; i < n; i++) {
        c->queue[i]->term = b->term;
        flight_add(c, c->queue[i], b->apply.index + i);
    }
    c->stats.batches++;
}

static void queue_push(struct cluster *c, struct proposal *p,
                       struct raft_buffer rb)
{
    if (c->queued == c->queue_cap) {
        c->queue_cap = c->queue_cap ? c->queue_cap * 2 : 64;
        c->queue = xrealloc(c->queue, c->queue_cap * sizeof(*c->queue));
        c->queue_bufs =
            xrealloc(c->queue_bufs, c->queue_cap * sizeof(*c->queue_bufs));
    }
    c->queue[c->queued] = p;
    c->queue_bufs[c->queued] = rb;
    c->queued++;
    c->in_flight++;
    proposal_take_reads(c, p);
}

int cluster_propose_entry(struct cluster *c, uint8_t type, int argc,
                          const char **argv, const size_t *lens,
                          cluster_done_fn done, void *arg)
{
    struct buf entry = {0};
    struct raft_buffer rb;

    if (c->stopping)
        return CLUSTER_SHUTDOWN;
    if (!cluster_is_leader(c))
        return CLUSTER_NOT_LEADER;
    /* Encoded straight into memory Raft takes ownership of: the buffer is
     * sized exactly, so codec_encode() never reallocates it. */
    entry.cap = codec_encoded_size((uint32_t)argc, lens);
    entry.data = raft_malloc(entry.cap);
    if (entry.data == NULL)
        abort();
    codec_encode(&entry, type, clock_wall_ms(), (uint32_t)argc, argv, lens);
    assert(entry.len == entry.cap);
    rb.base = entry.data;
    rb.len = entry.len;
    queue_push(c, proposal_new(c, done, arg), rb);
    c->stats.proposals++;
    return CLUSTER_OK;
}

int cluster_propose(struct cluster *c, int argc, const char **argv,
                    const size_t *lens, cluster_done_fn done, void *arg)
{
    return cluster_propose_entry(c, CODEC_COMMAND, argc, argv, lens, done, arg);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct proposal *p = req->data;

    struct cluster *c = p->c;

    c->barrier_in_flight = false;
    proposal_finish(p, status_from_raft(status), NULL);
    flight_complete(c);
}

int cluster_barrier(struct cluster *c, cluster_done_fn done, void *arg)
{
    struct proposal *p;
    int rv;

    if (c->stopping)
        return CLUSTER_SHUTDOWN;
    p = proposal_new(c, done, arg);
    rv = raft_barrier(&c->raft, &p->barrier, barrier_cb);
    if (rv != 0) {
        free(p);
        return CLUSTER_NOT_LEADER;
    }
    p->is_barrier = true;
    p->term = c->raft.current_term;
    flight_add(c, p, p->barrier.index);
    c->in_flight++;
    c->stats.barriers++;
    c->barrier_in_flight = true;
    proposal_take_reads(c, p);
    return CLUSTER_OK;
}

int cluster_read(struct cluster *c, cluster_done_fn done, void *arg)
{
    if (c->stopping)
        return CLUSTER_SHUTDOWN;
    if (!cluster_is_leader(c))
        return CLUSTER_NOT_LEADER;
    reads_push(&c->open_reads, done, arg);
    return CLUSTER_OK;
}

/* Before the loop waits for I/O: what this iteration proposed goes to Raft
 * as one batch, and reads that no proposal picked up get one barrier
 * between them. While a barrier is in flight the next one waits, so reads
 * pile into a single batch behind it. */
static void prepare_cb(uv_prepare_t *h)
{
    struct cluster *c = h->data;

    flight_complete(c);
    flight_orphans(c);
    queue_flush(c);
    if (c->open_reads.n == 0 || c->barrier_in_flight)
        return;
    if (cluster_barrier(c, NULL, NULL) != CLUSTER_OK)
        reads_finish(&c->open_reads, CLUSTER_NOT_LEADER);
}

bool cluster_is_leader(const struct cluster *c)
{
    return c->started && !c->closed && c->raft.state == RAFT_LEADER;
}

uint64_t cluster_leader_id(const struct cluster *c)
{
    raft_id id = 0;
    const char *address = NULL;

    if (!c->started || c->closed)
        return 0;
    raft_leader((struct raft *)&c->raft, &id, &address);
    return id;
}

const struct member *cluster_leader(const struct cluster *c)
{
    uint64_t id = cluster_leader_id(c);

    return id ? members_find_id(&c->fsm.members, id) : NULL;
}

const char *cluster_role_name(const struct cluster *c)
{
    if (!c->started || c->closed)
        return "unavailable";
    switch (c->raft.state) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    default:
        return "unavailable";
    }
}

int cluster_raft_role(const struct cluster *c, uint64_t id)
{
    for (unsigned i = 0; i < c->raft.configuration.n; i++) {
        if (c->raft.configuration.servers[i].id == id)
            return c->raft.configuration.servers[i].role;
    }
    return -1;
}

static void expire_cb(void *arg, int status, const struct buf *reply)
{
    struct cluster *c = arg;

    c->expire_in_flight = false;
}

struct expired_keys {
    const char **argv;
    size_t *lens;
    int n;
};

static void collect_expired(const struct store_entry *e, void *arg)
{
    struct expired_keys *k = arg;

    k->argv[k->n] = e->key;
    k->lens[k->n] = e->key_len;
    k->n++;
}

/* The leader alone decides that keys have expired, and proposes their
 * deletion; replicas delete only when that entry applies. */
static void expire_tick(struct cluster *c)
{
    const char *argv[EXPIRE_BATCH];
    size_t lens[EXPIRE_BATCH];
    struct expired_keys k = {argv, lens, 0};
    int64_t next = store_next_expiry(c->fsm.store);
    int64_t now = clock_wall_ms();

    if (c->expire_in_flight || next == 0 || next > now)
        return;
    store_expired(c->fsm.store, now, EXPIRE_BATCH, collect_expired, &k);
    if (k.n == 0)
        return;
    if (cluster_propose_entry(c, CODEC_EXPIRE, k.n, argv, lens, expire_cb, c) ==
        CLUSTER_OK)
        c->expire_in_flight = true;
}

static void role_tick(struct cluster *c)
{
    uint64_t leader = cluster_leader_id(c);

    if (c->raft.state == c->last_state && leader == c->last_leader)
        return;
    if (leader != c->last_leader) {
        const struct member *m = cluster_leader(c);

        log_notice("%s in term %llu; leader is %s", cluster_role_name(c),
                   (unsigned long long)c->raft.current_term,
                   m                 ? m->name
                   : leader == c->id ? c->cfg->id
                   : leader          ? "not yet in the member table"
                                     : "unknown");
    }
    c->last_state = c->raft.state;
    c->last_leader = leader;
    if (c->role_changed != NULL)
        c->role_changed(c->role_changed_arg);
}

/* A snapshot re-encodes every key, and the fork it runs in makes the node
 * copy each page it writes next: its cost grows with the keyspace, the log
 * between two with the writes. With many keys, snapshots are spaced out to
 * one per twice the key count in entries, so a write pays for re-encoding
 * half a key, but at most 32x the configured threshold: 262144 entries by
 * default, about 64 MB of 100-byte writes held in memory, the size below
 * which Redis never rewrites its append-only file either. */
#define SNAPSHOT_KEYS_FACTOR 2
#define SNAPSHOT_MAX_FACTOR  32

static void snapshot_tick(struct cluster *c)
{
    uint64_t min = c->cfg->snapshot_threshold;
    uint64_t want = store_count(c->fsm.store) * SNAPSHOT_KEYS_FACTOR;
    bool idle;

    if (c->raft.last_applied != c->idle_applied) {
        c->idle_applied = c->raft.last_applied;
        c->idle_ticks = 0;
    } else if (c->idle_ticks < IDLE_TICKS) {
        c->idle_ticks++;
    }
    idle = c->idle_ticks >= IDLE_TICKS;
    if (c->snapshot_forced > 0)
        return; /* cluster_snapshot() holds the threshold at 1 */

    if (want > min * SNAPSHOT_MAX_FACTOR || idle)
        want = min * SNAPSHOT_MAX_FACTOR;
    if (want < min || idle)
        want = min;
    if (want > UINT_MAX)
        want = UINT_MAX; /* the library keeps it in an unsigned */
    want = diskwatch_snapshot_threshold(&c->disk, want);
    if (want != c->raft.snapshot.threshold)
        raft_set_snapshot_threshold(&c->raft, (unsigned)want);
    /* Once per snapshot index, so a barrier that took none (one was under
     * way, the disk is full) is not repeated every tick; never during a
     * leadership transfer, whose target must catch up with the log. */
    if (idle && cluster_is_leader(c) && !c->stopping && c->in_flight == 0 &&
        c->raft.transfer == NULL && !fsm_snapshot_in_progress(&c->fsm) &&
        c->raft.last_applied - c->raft.log.snapshot.last_index >= want &&
        c->idle_barrier_snap != c->raft.log.snapshot.last_index + 1) {
        c->idle_barrier_snap = c->raft.log.snapshot.last_index + 1;
        (void)cluster_barrier(c, NULL, NULL);
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct cluster *c = t->data;

    if (c->closed)
        return;
    role_tick(c);
    snapshot_tick(c);
    if (cluster_is_leader(c) && !c->stopping) {
        expire_tick(c);
        cluster_self_check(c);
    }
    join_tick(c);
}

bool cluster_dir_has_state(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    if (d == NULL)
        return false;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "metadata1") == 0 ||
            strcmp(e->d_name, "metadata2") == 0) {
            found = true;
            break;
        }
    }
    closedir(d);
    return found;
}

int cluster_dir_lock(const char *dir, long *holder)
{
    char path[4200];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd, err;

    if (snprintf(path, sizeof(path), "%s/cashe-lock", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return fd;
    err = errno;
    if (err == EACCES || err == EAGAIN) {
        fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
        *holder = fcntl(fd, F_GETLK, &fl) == 0 ? (long)fl.l_pid : 0;
        err = EBUSY;
    }
    close(fd);
    return -err;
}

static int make_dirs(const char *path)
{
    char tmp[4096];

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* A data directory belongs to one node name: started under another name,
 * the node would present a Raft id no member knows and wait forever. The
 * name is kept in the directory the first time and checked after. */
static int check_owner(const char *dir, const char *name)
{
    char path[4200], have[MEMBER_NAME_MAX + 2] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/cashe-node", dir);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(have, sizeof(have), f) == NULL)
            have[0] = '\0';
        fclose(f);
        have[strcspn(have, "\n")] = '\0';
        if (have[0] != '\0' && strcmp(have, name) != 0) {
            log_error("cannot start: data directory %s belongs to node '%s', "
                      "not '%s'; start it with --id=%s or use another "
                      "--data-dir",
                      dir, have, name, have);
            return -1;
        }
        if (have[0] != '\0')
            return 0;
    }
    f = fopen(path, "w");
    if (f == NULL || fprintf(f, "%s\n", name) < 0 || fclose(f) != 0) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int bootstrap(struct cluster *c)
{
    struct raft_configuration conf;
    int rv;

    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, c->id, c->cfg->advertise_raft,
                                RAFT_VOTER);
    if (rv == 0)
        rv = raft_bootstrap(&c->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0) {
        log_error("cannot bootstrap %s: %s", c->cfg->data_dir,
                  raft_errmsg(&c->raft));
        return -1;
    }
    log_notice("bootstrapped a new cluster with %s as its only voter",
               c->cfg->id);
    return 0;
}

static void raft_tune(struct cluster *c)
{
    struct config *cfg = c->cfg;

    raft_set_election_timeout(&c->raft, cfg->election_timeout_ms);
    raft_set_heartbeat_timeout(&c->raft, cfg->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&c->raft, cfg->snapshot_threshold);
    raft_set_snapshot_trailing(&c->raft, cfg->snapshot_trailing);
    raft_set_pre_vote(&c->raft, true);
    raft_uv_set_connect_retry_delay(&c->io, 200);
}

static int raft_setup(struct cluster *c)
{
    struct config *cfg = c->cfg;
    char bind[300];
    int rv;

    rv = raft_uv_tcp_init(&c->transport, c->loop);
    if (rv != 0) {
        log_error("cannot set up the Raft transport: %s", raft_strerror(rv));
        return -1;
    }
    snprintf(bind, sizeof(bind), "%s:%u", cfg->raft.host, cfg->raft.port);
    raft_uv_tcp_set_bind_address(&c->transport, bind);
    c->transport_made = true;
    nodelay_wrap(&c->transport);
    rv = raft_uv_init(&c->io, c->loop, cfg->data_dir, &c->transport);
    if (rv != 0) {
        log_error("cannot open the Raft log in %s: %s", cfg->data_dir,
                  c->io.errmsg);
        return -1;
    }
    c->io_made = true;
    closeonce_wrap(&c->io);
    fsm_init(&c->fsm);
    fsm_use_io(&c->fsm, &c->io);
    c->fsm.before_apply = before_apply;
    c->fsm.after_apply = after_apply;
    c->fsm.peek = peek_entry;
    c->fsm.before_apply_arg = c;
    rv = raft_init(&c->raft, &c->io, &c->fsm.raft_fsm, c->id,
                   cfg->advertise_raft);
    if (rv != 0) {
        log_error("cannot initialize Raft: %s", raft_errmsg(&c->raft));
        return -1;
    }
    c->raft.data = c;
    raft_tune(c);
    return 0;
}

static uint64_t current_term(void *arg)
{
    struct cluster *c = arg;

    return c->started ? c->raft.current_term : 0;
}

/* raft_start() failed: what raft_setup() made goes back once the close,
 * driven by main()'s last run of the loop, is over. */
static void start_failed_closed_cb(struct raft *r)
{
    struct cluster *c = r->data;

    fsm_close(&c->fsm);
}

int cluster_start(struct cluster *c, uv_loop_t *loop, struct config *cfg)
{
    struct config *f = cfg;
    long holder = 0;
    bool fresh;
    int rv;

    c->loop = loop;
    c->cfg = cfg;
    c->dir_lock_fd = -1;
    c->id = member_id_from_name(cfg->id, strlen(cfg->id));
    rv = make_dirs(f->data_dir);
    if (rv != 0) {
        log_error("cannot create data directory %s: %s", f->data_dir,
                  strerror(-rv));
        return -1;
    }
    rv = cluster_dir_lock(f->data_dir, &holder);
    if (rv == -EBUSY) {
        log_error("cannot start: data directory %s is in use by another "
                  "process (pid %ld); two nodes on one directory would "
                  "corrupt its log",
                  f->data_dir, holder);
        return -1;
    }
    if (rv < 0) {
        log_error("cannot lock data directory %s: %s", f->data_dir,
                  strerror(-rv));
        return -1;
    }
    c->dir_lock_fd = rv;
    if (check_owner(f->data_dir, f->id) != 0)
        return -1;
    fresh = !cluster_dir_has_state(f->data_dir);
    if (!fresh && cluster_probe_log(f, c->id) != 0)
        return -1;
    if (diskwatch_wait(f) != 0)
        return 1;
    if (raft_setup(c) != 0)
        return -1;
    diskwatch_start(&c->disk, loop, c);
    if (fresh && f->leaderaddr == NULL && bootstrap(c) != 0)
        return -1;
    rv = raft_start(&c->raft);
    if (rv != 0) {
        log_error("cannot start Raft from %s: %s", f->data_dir,
                  raft_errmsg(&c->raft)[0] ? raft_errmsg(&c->raft)
                                           : raft_strerror(rv));
        raft_close(&c->raft, start_failed_closed_cb);
        return -1;
    }
    c->started = true;
    log_set_term_source(current_term, c);
    log_notice("raft id %llu at %s, data in %s%s", (unsigned long long)c->id,
               f->advertise_raft, f->data_dir, fresh ? " (new)" : "");
    c->join_pending = f->leaderaddr != NULL;
    uv_timer_init(loop, &c->tick);
    c->tick.data = c;
    uv_timer_start(&c->tick, tick_cb, TICK_MS, TICK_MS);
    uv_prepare_init(loop, &c->prepare);
    c->prepare.data = c;
    uv_prepare_start(&c->prepare, prepare_cb);
    return 0;
}

/* Stopping. Raft must not be closed from inside one of its own callbacks
 * (canonical/raft then aborts in uv_poll_stop), so every step runs from a
 * timer: wait for proposals in flight, hand leadership over, close. */

#define STOP_POLL_MS 10

struct stopper {
    uv_timer_t timer;
    struct cluster *c;
    uint64_t deadline_us;
    bool transferring;
    bool transfer_done;
    struct raft_transfer transfer;
};

static void raft_closed_cb(struct raft *r)
{
    struct cluster *c = r->data;

    c->closed = true;
    log_info("raft closed");
    if (c->closed_cb != NULL)
        c->closed_cb(c->closed_arg);
}

static void stop_transfer_cb(struct raft_transfer *req)
{
    struct stopper *s = req->data;

    s->transfer_done = true;
}

bool cluster_has_other_voter(const struct cluster *c)
{
    for (unsigned i = 0; i < c->raft.configuration.n; i++) {
        const struct raft_server *srv = &c->raft.configuration.servers[i];

        if (srv->id != c->id && srv->role == RAFT_VOTER)
            return true;
    }
    return false;
}

static void raft_close_now(struct cluster *c)
{
    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_prepare_stop(&c->prepare);
    uv_close((uv_handle_t *)&c->prepare, NULL);
    join_close(c);
    admin_abort(c);
    queue_fail(c, CLUSTER_SHUTDOWN);
    flight_complete(c);
    reads_finish(&c->open_reads, CLUSTER_SHUTDOWN);
    raft_close(&c->raft, raft_closed_cb);
}

static void stop_timer_cb(uv_timer_t *t)
{
    struct stopper *s = t->data;
    struct cluster *c = s->c;
    bool late = clock_mono_us() > s->deadline_us;

    if (c->in_flight > 0 && !late)
        return;
    if (!s->transferring && cluster_is_leader(c) &&
        cluster_has_other_voter(c) && !late) {
        s->transfer.data = s;
        if (raft_transfer(&c->raft, &s->transfer, 0, stop_transfer_cb) == 0) {
            log_notice("stopping: handing leadership over");
            s->transferring = true;
            return;
        }
    }
    if (s->transferring && !s->transfer_done && !late)
        return;
    if (c->in_flight > 0)
        log_warning("stopping with %u proposals still in flight", c->in_flight);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    raft_close_now(c);
}

void cluster_stop(struct cluster *c, unsigned grace_ms)
{
    struct stopper *s;

    if (c->stopping)
        return;
    c->stopping = true;
    if (!c->started) {
        if (c->closed_cb != NULL)
            c->closed_cb(c->closed_arg);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    c->stopper = s;
    s->c = c;
    s->deadline_us = clock_mono_us() + (uint64_t)grace_ms * 1000;
    uv_timer_init(c->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, stop_timer_cb, 0, STOP_POLL_MS);
}

/* The library's disk and network objects are freed only here, once the
 * loop has run dry: after raft_close()'s callback, work it had handed to the
 * thread pool (a segment being prepared, say) can still complete and look at
 * them. Freeing them in that callback made a stop crash now and then. */
void cluster_destroy(struct cluster *c)
{
    if (c->started)
        fsm_close(&c->fsm);
    if (c->io_made)
        raft_uv_close(&c->io);
    if (c->transport_made)
        raft_uv_tcp_close(&c->transport);
    if (c->loop != NULL && c->dir_lock_fd >= 0)
        close(c->dir_lock_fd);
    free(c->stopper);
    free(c->open_reads.v);
    free(c->queue);
    free(c->queue_bufs);
    memset(c, 0, sizeof(*c));
}
