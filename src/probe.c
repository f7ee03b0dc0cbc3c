/* Load the Raft log once in a child process before the real start, after
 * looking for damage the library would not see (segment.h).
 *
 * canonical/raft 0.15 aborts with a double free while loading an open
 * segment that ends inside its entries (a torn or corrupted tail), instead
 * of returning an error. Loading in a throwaway child turns that crash into
 * a message an operator can act on; an error the library does return is
 * left for the real start to report. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "cluster_internal.h"
#include "log.h"
#include "segment.h"

static int probe_child(struct config *cfg, uint64_t id)
{
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_snapshot *snapshot = NULL;
    struct raft_entry *entries = NULL;
    raft_index start_index;
    raft_term term;
    raft_id voted_for;
    size_t n;
    uv_loop_t loop;

    if (uv_loop_init(&loop) != 0 || raft_uv_tcp_init(&transport, &loop) != 0)
        return 2;
    memset(&io, 0, sizeof(io));
    if (raft_uv_init(&io, &loop, cfg->data_dir, &transport) != 0 ||
        io.init(&io, id, cfg->advertise_raft) != 0)
        return 2;
    return io.load(&io, &term, &voted_for, &snapshot, &start_index, &entries,
                   &n) == 0
               ? 0
               : 2;
}

/* The name of a segment canonical/raft set aside as damaged (it renames
 * such a file corrupt-*), or NULL: the entries in it are gone from the log
 * the library loads, though this node may have acknowledged them. */
static char *set_aside_segment(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *name = NULL;

    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "corrupt-", 8) == 0) {
            name = strdup(e->d_name);
            break;
        }
    }
    closedir(d);
    return name;
}

/* A node that lost acknowledged entries must not vote or lead with what is
 * left: with one more node down the cluster could lose a committed write.
 * So it stays down until the operator rebuilds it from the others. */
static int refuse_set_aside(const struct config *cfg)
{
    char *name = set_aside_segment(cfg->data_dir);

    if (name == NULL)
        return 0;
    log_error("cannot start: the raft library set aside a damaged log "
              "segment as %s/%s, so entries this node acknowledged may be "
              "missing. Remove the member (cashectl member remove %s), move "
              "%s aside and add the node back empty so it copies the log "
              "from the others (docs/operations.md)",
              cfg->data_dir, name, cfg->id, cfg->data_dir);
    free(name);
    return -1;
}

/* Whether the segment file @name in @dir is damaged before its end. */
static int segment_damaged(const char *dir, const char *name,
                           struct segment_damage *dmg)
{
    char path[4096];
    struct stat st;
    void *p;
    int fd, found = 0;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return 0;
    /* Non-blocking: a FIFO under that name must not hang the start. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0; /* the library's own load reports what it cannot read */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            found = segment_find_damage(p, (size_t)st.st_size, dmg);
            munmap(p, (size_t)st.st_size);
        }
    }
    close(fd);
    return found;
}

/* libraft takes a failing batch in an open segment for the torn end of a
 * write and drops it and all after it; when intact batches follow, those
 * are entries this node acknowledged (segment.h). Same remedy as a
 * segment the library set aside. */
static int refuse_damaged_segment(const struct config *cfg)
{
    DIR *d = opendir(cfg->data_dir);
    struct dirent *e;
    struct segment_damage dmg;
    int rv = 0;

    if (d == NULL)
        return 0;
    while (rv == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "open-", 5) != 0 ||
            !segment_damaged(cfg->data_dir, e->d_name, &dmg))
            continue;
        log_error("cannot start: log segment %s/%s is damaged at byte %zu, "
                  "and intact entries follow at byte %zu: not the torn end "
                  "of a write, so the raft library would drop entries this "
                  "node acknowledged. Remove the member (cashectl member "
                  "remove %s), move %s aside and add the node back empty so "
                  "it copies the log from the others (docs/operations.md)",
                  cfg->data_dir, e->d_name, dmg.at, dmg.intact_at, cfg->id,
                  cfg->data_dir);
        rv = -1;
    }
    closedir(d);
    return rv;
}

int cluster_probe_log(struct config *cfg, uint64_t id)
{
    pid_t pid;
    int status;

    if (refuse_set_aside(cfg) != 0 || refuse_damaged_segment(cfg) != 0)
        return -1;
    pid = fork();

    if (pid < 0)
        return 0; /* no probe; the real start still runs */
    if (pid == 0) {
        /* Quiet: the real start reports what the library says. */
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        _exit(probe_child(cfg, id));
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 0;
    }
    /* The child exits 0 or 2 by itself; anything else is a crash (a
     * signal, or a sanitizer's own exit code). */
    if (WIFEXITED(status) &&
        (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2))
        return refuse_set_aside(cfg);
    log_error("cannot start: the Raft log in %s is corrupt (the raft library "
              "crashed loading it: %s %d). Move the directory aside and let "
              "the node rejoin its cluster, or restore it from a snapshot",
              cfg->data_dir, WIFSIGNALED(status) ? "signal" : "exit code",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return -1;
}
