/* The replicated node: Raft on libuv, bootstrap and join, proposals,
 * linearizable reads, membership changes, leadership transfer and shutdown.
 *
 * Everything runs on the loop thread. A completion callback usually runs
 * later, from a Raft callback; an administration request that finds nothing
 * to do completes inside the call that made it. */

#ifndef CASHE_CLUSTER_H
#define CASHE_CLUSTER_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "diskwatch.h"
#include "fsm.h"
#include "util.h"

/* Outcomes a completion callback sees. */
enum cluster_status {
    CLUSTER_OK = 0,
    CLUSTER_NOT_LEADER, /* nothing was proposed: forward or retry */
    CLUSTER_UNKNOWN,    /* proposed, then leadership lost: may have applied */
    CLUSTER_FAILED,     /* not applied; the reply carries the reason */
    CLUSTER_SHUTDOWN,   /* the node is stopping; nothing was proposed */
};

/* The error a stopping node answers for a command it did not run. A
 * follower that relayed the command knows it by its first word and retries
 * it on the next leader. */
#define SHUTDOWN_CODE  "SHUTDOWN"
#define SHUTDOWN_ERROR SHUTDOWN_CODE " the node is stopping"

/* @reply is the RESP reply of an applied command (CLUSTER_OK), or NULL. It is
 * valid only during the call. */
typedef void (*cluster_done_fn)(void *arg, int status, const struct buf *reply);

/* A read waiting for a commit that began after it arrived. */
struct cluster_read {
    cluster_done_fn done;
    void *arg;
};

/* A linear batch of waiting reads, attached to one proposal. */
struct read_batch {
    struct cluster_read *v;
    size_t n;
    size_t cap;
};

struct cluster_stats {
    uint64_t proposals;
    uint64_t batches; /* raft_apply() calls: proposals travel in batches */
    uint64_t barriers;
    uint64_t reads_batched;
};

struct cluster {
    uv_loop_t *loop;
    struct config *cfg;
    uint64_t id;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct fsm fsm;
    bool started;
    bool stopping;
    bool closed;
    bool io_made, transport_made; /* freed by cluster_destroy() */
    bool join_pending; /* asked to join through --leaderaddr, no OK yet */
    int dir_lock_fd;   /* holds the data directory's lock; -1 before */

    struct read_batch open_reads; /* reads waiting for the next proposal */
    bool barrier_in_flight;
    /* Entries proposed in this loop iteration, applied as one batch just
     * before the loop waits for I/O: one append, one message per follower. */
    struct proposal **queue;
    struct raft_buffer *queue_bufs;
    unsigned queued;
    unsigned queue_cap;
    unsigned in_flight;           /* proposals not yet completed, queued too */
    struct proposal *flight_head; /* those proposals, in log order */
    struct proposal *flight_tail;
    struct proposal *flight_cursor; /* last one whose entry began to apply */
    unsigned snapshot_forced;       /* CASHE SNAPSHOT requests under way */
    /* When writes stop, the log since the last snapshot would stay in
     * memory until the next write: after a second with nothing applied the
     * threshold drops to the configured one, and the leader appends one
     * barrier, whose apply takes the snapshot on every node. */
    uint64_t idle_applied;      /* last_applied at the previous tick */
    unsigned idle_ticks;        /* ticks since last_applied last moved */
    uint64_t idle_barrier_snap; /* snapshot index when the last one went */

    uv_timer_t tick;      /* role changes, expiry, joins, status */
    uv_prepare_t prepare; /* applies the queue; a barrier for lone reads */
    unsigned short last_state;
    uint64_t last_leader;
    bool expire_in_flight;
    bool self_check_in_flight;

    struct admin_op *admin_head; /* membership changes, one at a time */
    struct admin_op *admin_tail;
    bool admin_busy;

    struct join_client *join;
    struct stopper *stopper;

    struct cluster_stats stats;
    struct diskwatch disk; /* free space; refuses writes when low */

    /* Called when this node's role or the leader changes (may be NULL). */
    void (*role_changed)(void *arg);
    void *role_changed_arg;
    /* Called once raft_close() has finished. */
    void (*closed_cb)(void *arg);
    void *closed_arg;
};

/* Set up Raft on the data directory: bootstrap a one-voter cluster on an
 * empty directory without --leaderaddr, prepare to join with it, restart
 * otherwise. Returns 0; 1 when stopped while it waited for disk space;
 * or -1 after logging why. */
int cluster_start(struct cluster *c, uv_loop_t *loop, struct config *cfg);

/* Transfer leadership if this node leads, then close Raft from a timer once
 * in-flight proposals are done (at most @grace_ms). closed_cb fires at the
 * end. */
void cluster_stop(struct cluster *c, unsigned grace_ms);

/* True when @dir holds a node's Raft state (its metadata files). */
bool cluster_dir_has_state(const char *dir);

/* Take @dir for this process: a POSIX record lock on its file cashe-lock,
 * which a forked child does not inherit and which the kernel drops when the
 * process ends, however it ends. Returns the lock's descriptor, to keep open
 * while the directory is in use; -EBUSY with *holder set to the holder's
 * pid when another process has it; or another -errno. */
int cluster_dir_lock(const char *dir, long *holder);

/* Release what is left once the loop has stopped. */
void cluster_destroy(struct cluster *c);

bool cluster_is_leader(const struct cluster *c);

/* The current leader's member entry, or NULL when unknown. */
const struct member *cluster_leader(const struct cluster *c);
uint64_t cluster_leader_id(const struct cluster *c);

/* Propose a client's write command: argv[0] is the command name. The
 * leader's clock is stamped into the entry. done() fires once it applied,
 * with its reply. Returns CLUSTER_OK when queued, or an error status when
 * nothing was proposed (done() then never fires). */
int cluster_propose(struct cluster *c, int argc, const char **argv,
                    const size_t *lens, cluster_done_fn done, void *arg);

/* Wait for a commit that starts after this call, then done(arg, CLUSTER_OK,
 * NULL): the caller then reads the store, linearizably. Reads ride on the
 * next proposal; if none is made before the loop next idles, one barrier
 * serves every read waiting. Returns CLUSTER_OK or an error status. */
int cluster_read(struct cluster *c, cluster_done_fn done, void *arg);

/* Cluster administration, leader only (CLUSTER_NOT_LEADER otherwise). Each
 * completes through done() with a RESP reply. */
int cluster_join(struct cluster *c, const char *name, const char *raft_addr,
                 const char *client_addr, cluster_done_fn done, void *arg);
int cluster_remove(struct cluster *c, const char *name, cluster_done_fn done,
                   void *arg);
int cluster_assign(struct cluster *c, const char *name, int role,
                   cluster_done_fn done, void *arg);
int cluster_transfer(struct cluster *c, const char *name, cluster_done_fn done,
                     void *arg);
int cluster_snapshot(struct cluster *c, cluster_done_fn done, void *arg);

/* "leader", "follower", "candidate" or "unavailable". */
const char *cluster_role_name(const struct cluster *c);

/* The role of a Raft id in the current Raft configuration, or -1. */
int cluster_raft_role(const struct cluster *c, uint64_t id);

#endif /* CASHE_CLUSTER_H */
