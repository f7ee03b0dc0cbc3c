/* cashectl snapshot save and restore: a consistent dump of the keyspace.
 *
 * save asks a node for CASHE.DUMP, a linearizable read that returns the
 * whole keyspace in cashed's snapshot format (snapshot.h: magic, version,
 * entries with their metadata, CRC-32 at the end). The dump is decoded and
 * its checksum checked before the file is written, through a temporary
 * file and a rename, so FILE is either the old one or a complete dump.
 *
 * restore decodes a dump the same way and writes each key back with SET,
 * its expiry kept as the absolute time it was (PXAT); keys that expired in
 * the meantime are skipped. Revisions, versions and mtimes start afresh in
 * the target cluster. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "members.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

/* SETs sent before their replies are read. */
#define RESTORE_WINDOW 256

struct dump {
    struct store *store;
    struct members members;
    uint64_t rev;
};

static int dump_decode(struct dump *d, const char *data, size_t len,
                       const char *what)
{
    char err[256];

    d->store = store_new();
    members_init(&d->members);
    if (snapshot_decode(data, len, d->store, &d->members, &d->rev, err,
                        sizeof(err)) != 0)
        return ctl_fail(CTL_FAILED, "%s is not a valid cashe dump: %s", what,
                        err);
    return CTL_OK;
}

static void dump_free(struct dump *d)
{
    if (d->store == NULL)
        return;
    store_free(d->store);
    members_free(&d->members);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* FILE appears complete or not at all. */
static int write_file(const char *path, const char *data, size_t len)
{
    struct buf tmp = {0};
    int fd, rv;

    buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rv = ctl_fail(CTL_FAILED, "cannot create %s: %s", tmp.data,
                      strerror(errno));
        buf_free(&tmp);
        return rv;
    }
    rv = write_all(fd, data, len);
    if (rv == 0 && fsync(fd) != 0)
        rv = -errno;
    if (close(fd) != 0 && rv == 0)
        rv = -errno;
    if (rv == 0 && rename(tmp.data, path) != 0)
        rv = -errno;
    if (rv != 0) {
        unlink(tmp.data);
        rv = ctl_fail(CTL_FAILED, "cannot write %s: %s", path, strerror(-rv));
    }
    buf_free(&tmp);
    return rv;
}

static void report_saved(const struct ctl *c, const char *path,
                         const struct dump *d, size_t bytes)
{
    FILE *f = strcmp(path, "-") == 0 ? stderr : stdout;

    if (c->json && f == stdout) {
        fputs("{\"file\":", f);
        json_str(f, path, strlen(path));
        fprintf(f, ",\"keys\":%zu,\"bytes\":%zu,\"revision\":%" PRIu64 "}\n",
                store_count(d->store), bytes, d->rev);
        return;
    }
    fprintf(f, "saved %zu keys (%zu bytes, revision %" PRIu64 ") to %s\n",
            store_count(d->store), bytes, d->rev,
            strcmp(path, "-") == 0 ? "stdout" : path);
}

static int snapshot_save(struct ctl *c, const char *path)
{
    struct dump d = {0};
    redisReply *r;
    int rv;

    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    r = ctl_call(c, &rv, "CASHE.DUMP", NULL);
    if (r == NULL) {
        if (rv == CTL_UNAVAILABLE && c->rc->err == REDIS_ERR_EOF)
            fprintf(stderr, "If the keyspace is larger than the node's "
                            "max-client-buffer, raise that setting.\n");
        return rv;
    }
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return ctl_bad_reply("CASHE.DUMP");
    }
    rv = dump_decode(&d, r->str, r->len, "the node's reply");
    if (rv == CTL_OK && strcmp(path, "-") == 0)
        rv = write_all(STDOUT_FILENO, r->str, r->len) == 0
                 ? CTL_OK
                 : ctl_fail(CTL_FAILED, "cannot write to stdout: %s",
                            strerror(errno));
    else if (rv == CTL_OK)
        rv = write_file(path, r->str, r->len);
    if (rv == CTL_OK)
        report_saved(c, path, &d, r->len);
    freeReplyObject(r);
    dump_free(&d);
    return rv;
}

/* ---- restore ------------------------------------------------------------- */

static int read_file(const char *path, struct buf *out)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO
                                    : open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return ctl_fail(CTL_FAILED, "cannot open %s: %s", path,
                        strerror(errno));
    do {
        buf_reserve(out, 1 << 20);
        n = read(fd, out->data + out->len, out->cap - out->len);
        if (n > 0)
            out->len += (size_t)n;
    } while (n > 0 || (n < 0 && errno == EINTR));
    if (fd != STDIN_FILENO)
        close(fd);
    if (n < 0)
        return ctl_fail(CTL_FAILED, "cannot read %s: %s", path,
                        strerror(errno));
    return CTL_OK;
}

static int check_empty(struct ctl *c)
{
    redisReply *r;
    long long n;
    int rv;

    if (c->force)
        return CTL_OK;
    if ((r = ctl_call(c, &rv, "DBSIZE", NULL)) == NULL)
        return rv;
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (n < 0)
        return ctl_bad_reply("DBSIZE");
    if (n > 0)
        return ctl_fail(CTL_FAILED,
                        "the target cluster already holds %lld keys.\n"
                        "Restore into a new, empty cluster, or give "
                        "--force to write the dump over what is there.",
                        n);
    return CTL_OK;
}

static void append_set(struct ctl *c, const struct store_entry *e)
{
    char at[32];
    const char *argv[5] = {"SET", e->key, e->value, "PXAT", at};
    size_t lens[5] = {3, e->key_len, e->value_len, 4, 0};

    snprintf(at, sizeof(at), "%" PRId64, e->expire_ms);
    lens[4] = strlen(at);
    redisAppendCommandArgv(c->rc, e->expire_ms ? 5 : 3, argv, lens);
}

/* Read @n pipelined replies; the first failure is reported, the others
 * only drained. */
static int collect(struct ctl *c, size_t n, int rv)
{
    for (size_t i = 0; i < n; i++) {
        void *reply;
        redisReply *r;
        const char *hint;

        if (redisGetReply(c->rc, &reply) != REDIS_OK)
            return ctl_fail(CTL_UNAVAILABLE, "lost the connection to %s: %s",
                            c->target, c->rc->errstr);
        r = reply;
        if (r->type == REDIS_REPLY_ERROR && rv == CTL_OK) {
            rv = ctl_error_status(r->str, &hint);
            ctl_fail(rv, "restore stopped: %s%s%s", r->str, hint[0] ? "\n" : "",
                     hint);
        }
        freeReplyObject(r);
    }
    return rv;
}

static int restore_entries(struct ctl *c, const struct dump *d,
                           size_t *restored, size_t *expired)
{
    int64_t now = clock_wall_ms();
    size_t window = 0;
    int rv = CTL_OK;

    for (const struct store_entry *e = store_first(d->store);
         e != NULL && rv == CTL_OK; e = store_next(d->store, e)) {
        if (e->expire_ms != 0 && e->expire_ms <= now) {
            (*expired)++;
            continue;
        }
        append_set(c, e);
        (*restored)++;
        if (++window == RESTORE_WINDOW) {
            rv = collect(c, window, rv);
            window = 0;
        }
    }
    return collect(c, window, rv);
}

static int snapshot_restore(struct ctl *c, const char *path)
{
    struct buf data = {0};
    struct dump d = {0};
    size_t restored = 0, expired = 0;
    int rv;

    if ((rv = read_file(path, &data)) != CTL_OK)
        goto out;
    if ((rv = dump_decode(&d, data.data, data.len, path)) != CTL_OK)
        goto out;
    if ((rv = ctl_connect(c)) != CTL_OK || (rv = check_empty(c)) != CTL_OK)
        goto out;
    rv = restore_entries(c, &d, &restored, &expired);
    if (rv != CTL_OK)
        fprintf(stderr, "Keys written before the failure stay; run the "
                        "restore again with --force once the cause is "
                        "fixed.\n");
    else if (c->json)
        printf("{\"keys\":%zu,\"expired\":%zu}\n", restored, expired);
    else
        printf("restored %zu keys from %s (%zu had expired)\n", restored, path,
               expired);
out:
    dump_free(&d);
    buf_free(&data);
    return rv;
}

int ctl_snapshot(struct ctl *c, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[0], "save") == 0) {
        if (c->force)
            return ctl_fail(CTL_USAGE, "--force is for snapshot restore");
        return snapshot_save(c, argv[1]);
    }
    if (argc == 2 && strcmp(argv[0], "restore") == 0)
        return snapshot_restore(c, argv[1]);
    return ctl_fail(CTL_USAGE,
                    "usage: cashectl snapshot save FILE | snapshot restore "
                    "[--force] FILE");
}
