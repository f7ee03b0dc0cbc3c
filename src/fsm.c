/* raft_fsm glue: decode an entry, run it, keep the reply for the proposer. */

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fsm.h"
#include "log.h"
#include "resp.h"
#include "snapshot.h"

static void apply_command(struct fsm *f, const struct codec_command *c)
{
    const struct cmd_spec *cmd;
    struct exec_ctx ctx = {
        .store = f->store,
        .now_ms = f->time_ms,
        .rev = ++f->rev,
        .reply = f->out,
        .notify = f->notify,
        .notify_arg = f->notify_arg,
    };

    if (c->argc == 0) {
        resp_error(f->out, "ERR empty command in log entry");
        return;
    }
    cmd = cmd_lookup(c->argv[0], c->lens[0]);
    if (cmd == NULL || !(cmd->flags & CMD_WRITE) ||
        !cmd_arity_ok(cmd, (int)c->argc)) {
        resp_error(f->out, "ERR log entry holds no valid write command");
        return;
    }
    exec_command(cmd, &ctx, (int)c->argc, c->argv, c->lens);
}

/* Delete the listed keys that have expired by the entry's time. A key that
 * was rewritten with a later expiry since the leader proposed this stays. */
static void apply_expire(struct fsm *f, const struct codec_command *c)
{
    int64_t deleted = 0;

    for (uint32_t i = 0; i < c->argc; i++) {
        const struct store_entry *e =
            store_get(f->store, c->argv[i], c->lens[i]);

        if (e == NULL || store_live(e, f->time_ms))
            continue;
        store_del(f->store, c->argv[i], c->lens[i]);
        deleted++;
        if (f->notify != NULL)
            f->notify(f->notify_arg, "expired", c->argv[i], c->lens[i]);
    }
    resp_int(f->out, deleted);
}

static char *arg_dup(const struct codec_command *c, uint32_t i)
{
    char *s = xmalloc(c->lens[i] + 1);

    memcpy(s, c->argv[i], c->lens[i]);
    s[c->lens[i]] = '\0';
    return s;
}

static void apply_member_set(struct fsm *f, const struct codec_command *c)
{
    char *name, *id, *raft_addr, *client_addr;
    int role;

    if (c->argc != 5 || member_role_parse(c->argv[4], c->lens[4], &role) ||
        !member_name_valid(c->argv[0], c->lens[0])) {
        resp_error(f->out, "ERR malformed member entry");
        return;
    }
    name = arg_dup(c, 0);
    id = arg_dup(c, 1);
    raft_addr = arg_dup(c, 2);
    client_addr = arg_dup(c, 3);
    members_set(&f->members, name, strtoull(id, NULL, 10), raft_addr,
                client_addr, role);
    free(name);
    free(id);
    free(raft_addr);
    free(client_addr);
    resp_simple(f->out, "OK");
}

static void apply_member_del(struct fsm *f, const struct codec_command *c)
{
    char *name;

    if (c->argc != 1) {
        resp_error(f->out, "ERR malformed member entry");
        return;
    }
    name = arg_dup(c, 0);
    resp_int(f->out, members_del(&f->members, name) == 0);
    free(name);
}

static void apply_entry(struct fsm *f, const struct raft_buffer *buf)
{
    struct codec_command c;

    if (codec_decode(buf->base, buf->len, &c) != 0) {
        const unsigned char *b = buf->base;
        log_error("skipping a log entry that does not decode (%zu bytes: "
                  "%02x %02x %02x %02x %02x %02x %02x %02x)",
                  buf->len, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
        resp_error(f->out, "ERR undecodable log entry");
        return;
    }
    if (c.time_ms > f->time_ms)
        f->time_ms = c.time_ms;
    switch (c.type) {
    case CODEC_COMMAND:
        apply_command(f, &c);
        break;
    case CODEC_EXPIRE:
        apply_expire(f, &c);
        break;
    case CODEC_MEMBER_SET:
        apply_member_set(f, &c);
        break;
    case CODEC_MEMBER_DEL:
        apply_member_del(f, &c);
        break;
    }
    if ((c.type == CODEC_MEMBER_SET || c.type == CODEC_MEMBER_DEL) &&
        f->members_changed != NULL)
        f->members_changed(f->members_changed_arg);
    codec_command_free(&c);
}

/* Entries come in batches: while one applies, start the cache misses of
 * the store lookups a few entries on, the slot first, then the node the
 * slot points to, each some entries before its lookup. */
#define PREFETCH_SLOT_AHEAD 8
#define PREFETCH_NODE_AHEAD 4

static void prefetch_ahead(struct fsm *f, unsigned ahead, bool node)
{
    const struct raft_buffer *b = f->peek(f->before_apply_arg, ahead);
    const char *key;
    size_t key_len;

    if (b == NULL || codec_peek_key(b->base, b->len, &key, &key_len) != 0)
        return;
    if (node)
        store_prefetch_node(f->store, key, key_len);
    else
        store_prefetch_slot(f->store, key, key_len);
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf,
                     void **result)
{
    struct fsm *f = rf->data;

    if (f->peek != NULL) {
        prefetch_ahead(f, PREFETCH_SLOT_AHEAD, false);
        prefetch_ahead(f, PREFETCH_NODE_AHEAD, true);
    }
    f->out = f->before_apply ? f->before_apply(f->before_apply_arg) : NULL;
    if (f->out == NULL) {
        buf_reset(&f->reply);
        f->out = &f->reply;
    }
    *result = f->out;
    f->applied++;
    apply_entry(f, buf);
    if (f->after_apply != NULL)
        f->after_apply(f->before_apply_arg);
    return 0;
}

/* Snapshots. With version 3 of raft_fsm the keyspace is encoded by a forked
 * child, which sees the store as it was at the fork through the kernel's
 * copy-on-write while the loop goes on applying entries: the loop pays for
 * the fork, not for the encoding. The child writes straight into a shared
 * mapping sized exactly beforehand, which becomes the snapshot buffer Raft
 * writes out: no copy, and no large allocation left behind in the heap.
 * snapshot_async, on a thread of the pool, waits for the child. Where the
 * raft_io has no async_work, and when the mapping or fork fails, the loop
 * encodes. The buffers stay ours until finalize. */

static void snapshot_child(struct fsm *f)
{
    struct buf b = {
        .data = f->snapshot_map,
        .len = 0,
        .cap = f->snapshot_map_len,
    };

    /* A lower priority: on a busy CPU serving goes first (on a machine
     * whose CPU the node shares with its peers, as in bench/, three
     * encodings at once otherwise stall every node), yet the encoding still
     * gets about a tenth of the CPU, so the log it lets Raft trim does not
     * pile up in memory under sustained writes. */
    (void)setpriority(PRIO_PROCESS, 0, 10);
    /* Exactly sized, so the encoder never reallocates the mapping. */
    snapshot_encode(&b, f->store, &f->members, f->rev);
    _exit(b.data == f->snapshot_map && b.len == f->snapshot_map_len ? 0 : 1);
}

static void snapshot_unmap(struct fsm *f)
{
    if (f->snapshot_map != NULL)
        munmap(f->snapshot_map, f->snapshot_map_len);
    f->snapshot_map = NULL;
    f->snapshot_map_len = 0;
}

static int snapshot_fork(struct fsm *f)
{
    size_t size = snapshot_encoded_size(f->store, &f->members);
    void *map;
    pid_t pid;

    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (map == MAP_FAILED)
        return -errno;
    f->snapshot_map = map;
    f->snapshot_map_len = size;
    pid = fork();
    if (pid < 0) {
        int err = errno;

        log_warning("cannot fork the snapshot writer: %s; encoding on the "
                    "loop",
                    strerror(err));
        snapshot_unmap(f);
        return -err;
    }
    if (pid == 0)
        snapshot_child(f);
    f->snapshot_pid = pid;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct fsm *f = rf->data;

    buf_reset(&f->snapshot);
    f->snapshot_start_us = clock_mono_us();
    f->snapshot_keys = store_count(f->store);
    f->snapshot_bufs = xcalloc(1, sizeof(*f->snapshot_bufs));
    if (f->raft_fsm.version < 3 || snapshot_fork(f) != 0) {
        snapshot_encode(&f->snapshot, f->store, &f->members, f->rev);
        f->snapshot_bufs[0].base = f->snapshot.data;
        f->snapshot_bufs[0].len = f->snapshot.len;
    }
    *bufs = f->snapshot_bufs;
    *n_bufs = 1;
    return 0;
}

/* Reap the child; its encoding counts only if it exited 0. */
static int snapshot_reap(struct fsm *f)
{
    int status;
    pid_t pid = f->snapshot_pid;

    f->snapshot_pid = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int fsm_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[],
                              unsigned *n_bufs)
{
    struct fsm *f = rf->data;

    (void)n_bufs;
    if (f->snapshot_pid <= 0)
        return 0;
    if (snapshot_reap(f) != 0)
        return RAFT_IOERR;
    (*bufs)[0].base = f->snapshot_map;
    (*bufs)[0].len = f->snapshot_map_len;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *rf,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct fsm *f = rf->data;
    size_t len =
        f->snapshot_map != NULL ? f->snapshot_map_len : f->snapshot.len;

    if (f->snapshot_pid > 0) {
        kill(f->snapshot_pid, SIGKILL);
        snapshot_reap(f);
    }
    log_info("snapshot of %zu keys, %zu bytes, taken in %llu ms",
             f->snapshot_keys, len,
             (unsigned long long)(clock_mono_us() - f->snapshot_start_us) /
                 1000);
    snapshot_unmap(f);
    free(f->snapshot_bufs);
    f->snapshot_bufs = NULL;
    buf_free(&f->snapshot);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* Load into fresh structures and swap only on success, so a bad snapshot
 * never leaves a half-loaded keyspace behind. */
static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct fsm *f = rf->data;
    struct store *store = store_new();
    struct members members;
    uint64_t rev = 0;
    char err[256];
    int rv;

    members_init(&members);
    rv = snapshot_decode(buf->base, buf->len, store, &members, &rev, err,
                         sizeof(err));
    if (rv != 0) {
        log_error("cannot restore snapshot: %s", err);
        store_free(store);
        members_free(&members);
        return RAFT_CORRUPT;
    }
    store_free(f->store);
    members_free(&f->members);
    f->store = store;
    f->members = members;
    f->rev = rev;
    log_info("restored snapshot: %zu keys, %zu members, revision %llu",
             store_count(store), members.n, (unsigned long long)rev);
    raft_free(buf->base);
    /* The whole keyspace was replaced: no per-key events can describe it. */
    if (f->notify != NULL)
        f->notify(f->notify_arg, "flushall", "", 0);
    if (f->members_changed != NULL)
        f->members_changed(f->members_changed_arg);
    return 0;
}

void fsm_init(struct fsm *f)
{
    memset(f, 0, sizeof(*f));
    f->store = store_new();
    members_init(&f->members);
    f->raft_fsm.version = 3;
    f->raft_fsm.data = f;
    f->raft_fsm.apply = fsm_apply;
    f->raft_fsm.snapshot = fsm_snapshot;
    f->raft_fsm.restore = fsm_restore;
    f->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
    f->raft_fsm.snapshot_async = fsm_snapshot_async;
}

void fsm_use_io(struct fsm *f, struct raft_io *io)
{
    if (io->async_work != NULL) {
        if (io->version < 2)
            io->version = 2;
        return;
    }
    f->raft_fsm.version = 2;
    f->raft_fsm.snapshot_async = NULL;
}

void fsm_close(struct fsm *f)
{
    if (f->snapshot_pid > 0) {
        kill(f->snapshot_pid, SIGKILL);
        snapshot_reap(f);
    }
    snapshot_unmap(f);
    store_free(f->store);
    members_free(&f->members);
    buf_free(&f->reply);
    buf_free(&f->snapshot);
    free(f->snapshot_bufs);
}
