/* The Raft state machine: applies log entries to the store and the member
 * table, and turns them into snapshots and back.
 *
 * apply never fails toward Raft: a command that is wrong for the current
 * state (INCR of "abc") produces an error reply, the same on every replica,
 * and the log moves on. Only an entry that does not decode is logged as a
 * corruption; it is skipped, again identically everywhere. */

#ifndef CASHE_FSM_H
#define CASHE_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec.h"
#include "members.h"
#include "store.h"
#include "util.h"

struct fsm {
    struct raft_fsm raft_fsm; /* handed to raft_init() */
    struct store *store;
    struct members members;
    uint64_t rev;        /* revision counter, one per applied write */
    int64_t time_ms;     /* time of the last applied entry, never backwards */
    uint64_t applied;    /* entries applied, for statistics */
    struct buf reply;    /* scratch reply for entries nobody waits for */
    struct buf *out;     /* where the entry being applied replies */
    struct buf snapshot; /* encoding made on the loop, freed by finalize */
    struct raft_buffer *snapshot_bufs;
    void *snapshot_map; /* shared mapping the child encodes into, or NULL */
    size_t snapshot_map_len;
    pid_t snapshot_pid; /* that child, or 0 */
    uint64_t snapshot_start_us;
    size_t snapshot_keys;

    /* Called after a member entry applies (may be NULL). */
    void (*members_changed)(void *arg);
    void *members_changed_arg;
    exec_notify_fn notify; /* keyspace events (may be NULL) */
    void *notify_arg;
    /* Called as each entry starts to apply (may be NULL): returns the buffer
     * its reply goes to, owned by whoever proposed the entry, or NULL. */
    struct buf *(*before_apply)(void *arg);
    /* Called once the entry applied and its reply is complete (may be
     * NULL); same argument. */
    void (*after_apply)(void *arg);
    void *before_apply_arg;
    /* The entry that applies @ahead entries after the one starting now, as
     * far as the log holds it yet, or NULL (may be NULL): its key is
     * prefetched from the store. Same argument. */
    const struct raft_buffer *(*peek)(void *arg, unsigned ahead);
};

void fsm_init(struct fsm *f);

/* Take snapshots in a forked child if @io can run snapshot_async (it has
 * async_work); else encode in the loop. canonical/raft 0.15's libuv backend
 * implements async_work but reports version 1, which would keep the library
 * from using it: such an @io is marked version 2 here. */
void fsm_use_io(struct fsm *f, struct raft_io *io);
void fsm_close(struct fsm *f);

/* A snapshot has been taken and Raft has not finalized it yet. */
static inline bool fsm_snapshot_in_progress(const struct fsm *f)
{
    return f->snapshot_bufs != NULL;
}

/* What raft_apply()'s callback receives as its result: the buffer the reply
 * went to (see before_apply). */
static inline const struct buf *fsm_result(void *result)
{
    return result;
}

#endif /* CASHE_FSM_H */
