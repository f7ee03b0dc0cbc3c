/* Disk space of the data directory, watched from the loop, and a guard on
 * the Raft log's writes.
 *
 * - Every DISKWATCH_INTERVAL_MS the free space (statvfs) is held against
 *   the reserve of diskspace.h. Below it the node is full: it refuses
 *   writes (dispatch answers NOSPACE), and a leader hands leadership to
 *   another voter. Reads go on. Each change is logged once.
 * - No snapshot is taken while there is no room for one as large as the
 *   last plus a log segment.
 * - A log write that fails all the same (the disk filled faster than the
 *   watch looks) stops the process at once with DISKWATCH_EXIT: after such
 *   a failure canonical/raft 0.15 would go on and write later entries after
 *   a gap (a follower) or abort (a leader). Stopping before any other write
 *   keeps the log on disk whole; its tail is fetched again from the leader.
 *   The node stops the same way when canonical/raft turns unavailable for
 *   good (a failed snapshot install, a failed term or vote write).
 * - Before Raft starts, the node waits until the data directory has room
 *   for a log segment and a snapshot like the last (unless min-free-space
 *   is 0), so that a node restarted on a full disk (by systemd, after
 *   DISKWATCH_EXIT) starts once space returns, and one whose own log
 *   filled the disk starts and compacts it. */

#ifndef CASHE_DISKWATCH_H
#define CASHE_DISKWATCH_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "diskspace.h"

#define DISKWATCH_INTERVAL_MS 100
/* Exit status after a failed write of the Raft log. */
#define DISKWATCH_EXIT 3

struct cluster;

struct diskwatch {
    struct cluster *cluster;
    uv_timer_t timer;
    bool started;
    struct diskspace space;
    uint64_t snapshot_bytes; /* the largest snapshot file on disk */
    bool snapshots_held;     /* no room for the next snapshot */
    unsigned ticks;
    int stat_error; /* errno of the last failed statvfs, logged once */
    struct raft_transfer transfer;
    bool transferring;
    uint64_t next_transfer_us;
};

/* Block until @cfg's data directory has room to start Raft (at once when
 * it has, or when min-free-space is 0), logging once while it waits.
 * Returns 0 to go on, 1 when SIGTERM or SIGINT came while it waited. */
int diskwatch_wait(const struct config *cfg);

/* Guard the Raft I/O of @c (call before raft_start) and watch its data
 * directory from @loop. */
void diskwatch_start(struct diskwatch *w, uv_loop_t *loop, struct cluster *c);

/* True while the node refuses writes for lack of space. */
bool diskwatch_full(const struct diskwatch *w);

/* The snapshot threshold to give Raft instead of @threshold: UINT_MAX (no
 * snapshot) while there is no room for one, @threshold otherwise. */
uint64_t diskwatch_snapshot_threshold(const struct diskwatch *w,
                                      uint64_t threshold);

#endif /* CASHE_DISKWATCH_H */
