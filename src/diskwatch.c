/* The data directory's free space, watched from the loop; the guard on the
 * Raft log's writes; the wait for space before Raft starts. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "diskwatch.h"
#include "log.h"

/* The largest snapshot on disk is looked up every this many checks. */
#define SNAPSHOT_SCAN_TICKS 10
/* Least time between two attempts of a full leader to hand over. */
#define TRANSFER_RETRY_US (2 * 1000 * 1000)

/* Bytes free to unprivileged users (the node runs as user cashe) in the
 * file system holding @dir. Returns 0 or -errno. */
static int free_bytes(const char *dir, uint64_t *out)
{
    struct statvfs st;

    if (statvfs(dir, &st) != 0)
        return -errno;
    *out = diskspace_bytes(st.f_bavail, st.f_frsize);
    return 0;
}

/* The largest snapshot file in @dir (canonical/raft keeps the last two,
 * each "snapshot-TERM-INDEX-TIME" with a ".meta" beside it), 0 if none. */
static uint64_t largest_snapshot(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    uint64_t max = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (strncmp(e->d_name, "snapshot-", 9) != 0 ||
            (len > 5 && strcmp(e->d_name + len - 5, ".meta") == 0))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
            max = (uint64_t)st.st_size;
    }
    closedir(d);
    return max;
}

static volatile sig_atomic_t wait_stopped;

static void stop_waiting(int sig)
{
    wait_stopped = sig;
}

int diskwatch_wait(const struct config *cfg)
{
    struct sigaction sa, old_term, old_int;
    char have[16], need[16];
    bool waiting = false;
    uint64_t avail = 0, room;

    if (cfg->min_free_space == 0)
        return 0;
    room = diskspace_snapshot_room(largest_snapshot(cfg->data_dir));
    while (!wait_stopped && free_bytes(cfg->data_dir, &avail) == 0 &&
           avail < room) {
        if (!waiting) {
            log_warning("data directory %s has %s free, less than the %s "
                        "Raft needs to start (a log segment and a "
                        "snapshot): waiting for space",
                        cfg->data_dir, diskspace_format(avail, have, 16),
                        diskspace_format(room, need, 16));
            /* A stop while waiting is a stop, not a kill. */
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = stop_waiting;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGTERM, &sa, &old_term);
            sigaction(SIGINT, &sa, &old_int);
        }
        waiting = true;
        sleep(1); /* a signal cuts it short */
    }
    if (!waiting)
        return 0;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    if (wait_stopped) {
        log_notice("stopped while waiting for space in %s", cfg->data_dir);
        return 1;
    }
    log_notice("data directory %s has %s free: starting", cfg->data_dir,
               diskspace_format(avail, have, sizeof(have)));
    return 0;
}

/* --- The guard on Raft's writes --- */

/* One Raft I/O per process: the backend's own functions, wrapped. */
static struct {
    int (*append)(struct raft_io *io, struct raft_io_append *req,
                  const struct raft_entry entries[], unsigned n,
                  raft_io_append_cb cb);
    const char *dir;
} backend;

/* An append in flight: ours goes to the backend, Raft's waits for it. */
struct guarded_append {
    struct raft_io_append req;
    struct raft_io *io;
    struct raft_io_append *raft_req;
    raft_io_append_cb raft_cb;
};

/* canonical/raft 0.15 carries on after a failed log write and, once space
 * returns, writes later entries after the missing ones; a leader aborts in
 * its error path. Stop before the library does anything else. */
static void log_write_failed(struct raft_io *io, int status)
{
    log_error("cannot write the Raft log in %s: %s; stopping now so that the "
              "log on disk stays whole (restart once the file system has "
              "room: the node catches up from the leader)",
              backend.dir, io->errmsg[0] ? io->errmsg : raft_strerror(status));
    _exit(DISKWATCH_EXIT);
}

static void guarded_append_cb(struct raft_io_append *req, int status)
{
    struct guarded_append *g = req->data;
    struct raft_io_append *raft_req = g->raft_req;
    raft_io_append_cb cb = g->raft_cb;
    struct raft_io *io = g->io;

    free(g);
    /* RAFT_CANCELED: Raft is closing, nothing was lost. */
    if (status != 0 && status != RAFT_CANCELED)
        log_write_failed(io, status);
    cb(raft_req, status);
}

static int guarded_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n,
                          raft_io_append_cb cb)
{
    struct guarded_append *g = xmalloc(sizeof(*g));
    int rv;

    g->req.data = g;
    g->io = io;
    g->raft_req = req;
    g->raft_cb = cb;
    req->cb = cb;
    rv = backend.append(io, &g->req, entries, n, guarded_append_cb);
    if (rv != 0) {
        free(g);
        /* The backend may have queued part of it: same as a failed write. */
        log_write_failed(io, rv);
    }
    return rv;
}

static void guard_io(struct raft_io *io, const char *dir)
{
    backend.append = io->append;
    backend.dir = dir;
    io->append = guarded_append;
}

/* --- The watch --- */

static void transfer_cb(struct raft_transfer *req)
{
    struct diskwatch *w = req->data;

    w->transferring = false;
}

/* A full leader would make the whole cluster refuse writes: hand over to
 * the most up-to-date voter (Raft picks it), retrying while still full. */
static void hand_over(struct diskwatch *w)
{
    struct cluster *c = w->cluster;
    uint64_t now = clock_mono_us();

    if (w->transferring || now < w->next_transfer_us ||
        !cluster_has_other_voter(c))
        return;
    w->next_transfer_us = now + TRANSFER_RETRY_US;
    w->transfer.data = w;
    if (raft_transfer(&c->raft, &w->transfer, 0, transfer_cb) == 0) {
        w->transferring = true;
        log_notice("handing leadership over: this node is low on disk space");
    }
}

/* canonical/raft takes a snapshot only past the threshold, which the
 * cluster's tick sets through diskwatch_snapshot_threshold(): out of reach
 * while there is no room for one. */
static void snapshots_hold(struct diskwatch *w, bool hold)
{
    const char *dir = w->cluster->cfg->data_dir;
    char have[16], need[16];

    if (hold == w->snapshots_held)
        return;
    w->snapshots_held = hold;
    if (!hold) {
        log_notice("data directory %s has room for snapshots again", dir);
        return;
    }
    /* Now, not at the cluster's next tick. */
    raft_set_snapshot_threshold(&w->cluster->raft, UINT_MAX);
    log_warning("data directory %s has %s free, a snapshot needs %s: taking "
                "none until space is freed",
                dir, diskspace_format(w->space.free, have, sizeof(have)),
                diskspace_format(diskspace_snapshot_room(w->snapshot_bytes),
                                 need, sizeof(need)));
}

static void measure(struct diskwatch *w)
{
    struct cluster *c = w->cluster;
    const char *dir = c->cfg->data_dir;
    uint64_t avail = 0, reserve;
    char why[128];
    int rv = free_bytes(dir, &avail);

    if (rv != 0) {
        if (rv != w->stat_error)
            log_warning("cannot measure the free space of %s: %s", dir,
                        strerror(-rv));
        w->stat_error = rv;
        return;
    }
    w->stat_error = 0;
    if (w->ticks++ % SNAPSHOT_SCAN_TICKS == 0)
        w->snapshot_bytes = largest_snapshot(dir);
    reserve = diskspace_reserve(c->cfg->min_free_space, w->snapshot_bytes);
    switch (diskspace_update(&w->space, avail, reserve)) {
    case DISKSPACE_FILLED:
        log_warning("data directory %s has %s: refusing writes until space "
                    "is freed",
                    dir, diskspace_describe(&w->space, why, sizeof(why)));
        break;
    case DISKSPACE_FREED:
        log_notice("data directory %s has %s: taking writes again", dir,
                   diskspace_describe(&w->space, why, sizeof(why)));
        break;
    case DISKSPACE_SAME:
        break;
    }
    snapshots_hold(w, !diskspace_snapshot_ok(&w->space, w->snapshot_bytes));
}

static void timer_cb(uv_timer_t *t)
{
    struct diskwatch *w = t->data;
    struct cluster *c = w->cluster;

    if (c->closed || c->stopping)
        return;
    /* canonical/raft turns unavailable for good when its I/O fails in a
     * way it cannot handle (installing a snapshot, storing the term). */
    if (c->raft.state == RAFT_UNAVAILABLE) {
        log_error("Raft stopped working: %s; stopping (a restart loads the "
                  "log again)",
                  raft_errmsg(&c->raft)[0] ? raft_errmsg(&c->raft)
                                           : "no reason given");
        _exit(DISKWATCH_EXIT);
    }
    measure(w);
    if (w->space.full && cluster_is_leader(c))
        hand_over(w);
}

void diskwatch_start(struct diskwatch *w, uv_loop_t *loop, struct cluster *c)
{
    w->cluster = c;
    guard_io(&c->io, c->cfg->data_dir);
    measure(w);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, timer_cb, DISKWATCH_INTERVAL_MS,
                   DISKWATCH_INTERVAL_MS);
    w->started = true;
}

bool diskwatch_full(const struct diskwatch *w)
{
    return w->started && w->space.full;
}

uint64_t diskwatch_snapshot_threshold(const struct diskwatch *w,
                                      uint64_t threshold)
{
    return w->started && w->snapshots_held ? UINT_MAX : threshold;
}
