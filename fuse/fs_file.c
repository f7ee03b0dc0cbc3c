/* Open files. The value is read once at open (a linearizable GET), so all
 * reads through one open see one value; writes change a private buffer
 * that flush (every close) and fsync commit as one SET ... KEEPTTL, so the
 * error of a failed commit reaches close() and the key keeps its expiry.
 *
 * Lock order: a handle's commit_lock, fs.open_lock, a handle's lock. Only
 * commit_lock is held during a request to the daemon, so a commit waiting
 * for a quorum holds up nothing but the next commit of the same file. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "fs_internal.h"
#include "fslog.h"
#include "pagecache.h"
#include "watch.h"

static struct handle *handle_of(const struct fuse_file_info *fi)
{
    return (struct handle *)(uintptr_t)fi->fh;
}

static struct handle *handle_new(const struct buf *key)
{
    struct handle *h = xcalloc(1, sizeof(*h));

    h->magic = HANDLE_FILE;
    pthread_mutex_init(&h->commit_lock, NULL);
    pthread_mutex_init(&h->lock, NULL);
    buf_append(&h->key, key->data, key->len);
    return h;
}

static void handle_free(struct handle *h)
{
    buf_free(&h->key);
    buf_free(&h->data);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->commit_lock);
    free(h);
}

static void handle_register(struct handle *h, struct fuse_file_info *fi,
                            bool keep_cache)
{
    pthread_mutex_lock(&fs.open_lock);
    h->next = fs.open;
    if (fs.open != NULL)
        fs.open->prev = h;
    fs.open = h;
    pthread_mutex_unlock(&fs.open_lock);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 0;
    fi->keep_cache = keep_cache;
}

static void handle_unregister(struct handle *h)
{
    pthread_mutex_lock(&fs.open_lock);
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        fs.open = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs.open_lock);
}

static bool key_is(const struct buf *b, const char *key, size_t len)
{
    return b->len == len && (len == 0 || memcmp(b->data, key, len) == 0);
}

void fs_open_key(struct handle *h, struct buf *out)
{
    pthread_mutex_lock(&fs.open_lock);
    buf_append(out, h->key.data, h->key.len);
    pthread_mutex_unlock(&fs.open_lock);
}

bool fs_open_dirty_size(const char *key, size_t len, size_t *size)
{
    bool found = false;

    pthread_mutex_lock(&fs.open_lock);
    for (struct handle *h = fs.open; h != NULL && !found; h = h->next) {
        if (!key_is(&h->key, key, len))
            continue;
        pthread_mutex_lock(&h->lock);
        found = h->dirty && !h->unlinked;
        *size = h->data.len;
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_unlock(&fs.open_lock);
    return found;
}

void fs_open_unlinked(const char *key, size_t len)
{
    pthread_mutex_lock(&fs.open_lock);
    for (struct handle *h = fs.open; h != NULL; h = h->next) {
        if (!key_is(&h->key, key, len))
            continue;
        pthread_mutex_lock(&h->lock);
        h->unlinked = true;
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_unlock(&fs.open_lock);
}

/* Open files follow a rename, as on a local disk: a later commit writes the
 * new key, never resurrects the old one. */
void fs_open_renamed(const char *from, size_t from_len, const char *to,
                     size_t to_len, bool dir)
{
    pthread_mutex_lock(&fs.open_lock);
    for (struct handle *h = fs.open; h != NULL; h = h->next) {
        struct buf k = {0};
        bool below = dir && h->key.len > from_len + 1 &&
                     memcmp(h->key.data, from, from_len) == 0 &&
                     h->key.data[from_len] == '/';

        if (!key_is(&h->key, from, from_len) && !below)
            continue;
        buf_append(&k, to, to_len);
        buf_append(&k, h->key.data + from_len, h->key.len - from_len);
        buf_free(&h->key);
        h->key = k;
    }
    pthread_mutex_unlock(&fs.open_lock);
}

/* GET into @out: -ENOENT when the key is gone. */
static int get_value(const struct buf *key, struct buf *out)
{
    struct arg args[] = {ARG("GET"), ARG_BUF(key)};
    int err = 0;
    redisReply *r = fs_command(&err, true, 2, args);

    if (r == NULL)
        return err;
    if (r->type == REDIS_REPLY_STRING)
        buf_append(out, r->str, r->len);
    else
        err = r->type == REDIS_REPLY_NIL ? -ENOENT : -EIO;
    freeReplyObject(r);
    return err;
}

/* SET key value KEEPTTL, plus @cond ("NX", "XX") when not NULL: 1 when
 * set, 0 when @cond kept it from being set. */
static int set_value(const struct buf *key, const char *value, size_t len,
                     const char *cond)
{
    struct arg args[] = {ARG("SET"),
                         ARG_BUF(key),
                         {value, len},
                         ARG("KEEPTTL"),
                         ARG(cond != NULL ? cond : "")};
    int argc = cond != NULL ? 5 : 4;
    int err = 0;
    redisReply *r = fs_command(&err, true, argc, args);

    if (r == NULL)
        return err;
    err = r->type == REDIS_REPLY_STATUS ? 1
          : r->type == REDIS_REPLY_NIL  ? 0
                                        : -EIO;
    freeReplyObject(r);
    return err;
}

/* @truncated: the file starts empty and is committed even if never
 * written (O_TRUNC); otherwise the value is read now, when @load. */
static int open_key(const struct names_path *np, struct fuse_file_info *fi,
                    bool load, bool truncated)
{
    struct handle *h = handle_new(&np->key);
    int rv = load && !truncated ? get_value(&h->key, &h->data) : 0;
    bool keep = false;

    if (rv != 0) {
        handle_free(h);
        return rv;
    }
    h->append = (fi->flags & O_APPEND) != 0;
    h->dirty = truncated;
    /* The kernel's pages of this file are kept only when they hold what
     * was just read, and only while events would drop them on a change
     * made through any other mount or client. */
    if (truncated) {
        pagecache_taint(h->key.data, h->key.len);
    } else {
        h->sig = pagecache_sig(h->data.data, h->data.len);
        h->sig_valid = true;
        keep = pagecache_open(h->key.data, h->key.len, h->sig, watch_live());
    }
    handle_register(h, fi, keep);
    return 0;
}

int fs_open(const char *path, struct fuse_file_info *fi)
{
    struct names_path np;
    bool trunc = (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY;
    int rv = fs_parse(path, &np, KIND_FILE, -EISDIR, -ENOENT);

    if (rv != 0)
        return rv;
    rv = open_key(&np, fi, true, trunc);
    names_path_free(&np);
    return rv;
}

/* The key is made at once, empty, so the new file exists for everyone;
 * NX keeps a key someone made meanwhile. */
int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct names_path np;
    int rv = fs_parse(path, &np, KIND_FILE, -EPERM, -EINVAL);

    if (rv != 0)
        return rv;
    rv = set_value(&np.key, "", 0, "NX");
    if (rv == 1)
        rv = open_key(&np, fi, false, false);
    else if (rv == 0)
        rv = (fi->flags & O_EXCL) ? -EEXIST : open_key(&np, fi, true, false);
    names_path_free(&np);
    return rv;
}

/* What the kernel's pages of the open file's key now hold. */
static void note_pages(struct handle *h, bool sig_valid, uint64_t sig)
{
    struct buf key = {0};

    fs_open_key(h, &key);
    if (sig_valid)
        pagecache_filled(key.data, key.len, sig);
    else
        pagecache_taint(key.data, key.len);
    buf_free(&key);
}

int fs_read(const char *path, char *buf, size_t size, off_t off,
            struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    size_t n = 0;
    bool sig_valid;
    uint64_t sig;

    pthread_mutex_lock(&h->lock);
    if (off >= 0 && (size_t)off < h->data.len) {
        n = h->data.len - (size_t)off;
        n = n < size ? n : size;
        memcpy(buf, h->data.data + off, n);
    }
    sig_valid = h->sig_valid;
    sig = h->sig;
    pthread_mutex_unlock(&h->lock);
    note_pages(h, sig_valid, sig);
    return (int)n;
}

/* Grow (with zeros, as a sparse file reads) or shrink to @size. */
static void resize(struct buf *b, size_t size)
{
    if (size > b->len) {
        buf_reserve(b, size - b->len);
        memset(b->data + b->len, 0, size - b->len);
    }
    b->len = size;
}

int fs_write(const char *path, const char *buf, size_t size, off_t off,
             struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    size_t start;
    int rv = (int)size;

    pthread_mutex_lock(&h->lock);
    start = h->append ? h->data.len : (size_t)off;
    if (off < 0 || start > fs.cfg.max_value ||
        size > fs.cfg.max_value - start) {
        rv = -EFBIG;
    } else {
        if (start + size > h->data.len)
            resize(&h->data, start + size);
        memcpy(h->data.data + start, buf, size);
        h->dirty = true;
        h->changes++;
        h->sig_valid = false;
    }
    pthread_mutex_unlock(&h->lock);
    note_pages(h, false, 0);
    return rv;
}

/* The data is copied out so that reads and writes go on during the SET; a
 * write that lands meanwhile leaves the file dirty for the next commit. */
static int commit(struct handle *h)
{
    struct buf key = {0}, value = {0};
    uint64_t changes;
    bool todo;
    int rv = 0;

    pthread_mutex_lock(&h->commit_lock);
    fs_open_key(h, &key);
    pthread_mutex_lock(&h->lock);
    todo = h->dirty && !h->unlinked;
    if (todo)
        buf_append(&value, h->data.data, h->data.len);
    changes = h->changes;
    pthread_mutex_unlock(&h->lock);
    if (todo) {
        rv = set_value(&key, value.data != NULL ? value.data : "", value.len,
                       NULL);
        rv = rv == 0 ? -EIO : rv; /* a plain SET always sets */
        pthread_mutex_lock(&h->lock);
        h->failed = rv != 1;
        if (rv == 1 && h->changes == changes)
            h->dirty = false;
        pthread_mutex_unlock(&h->lock);
        rv = rv == 1 ? 0 : rv;
    }
    pthread_mutex_unlock(&h->commit_lock);
    buf_free(&key);
    buf_free(&value);
    return rv;
}

int fs_flush(const char *path, struct fuse_file_info *fi)
{
    return commit(handle_of(fi));
}

int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    return commit(handle_of(fi));
}

/* close() has flushed already; this catches writes that came after (a
 * shared mapping), with no one left to tell of an error but the log. A
 * commit that failed at close is not tried again: the program was told
 * the data did not make it, and must not find it written later. */
int fs_release(const char *path, struct fuse_file_info *fi)
{
    struct handle *h = handle_of(fi);
    int rv = 0;

    pthread_mutex_lock(&h->lock);
    if (h->failed)
        h->dirty = false;
    pthread_mutex_unlock(&h->lock);
    rv = commit(h);
    if (rv != 0)
        fslog(LOG_WARNING, "a write to %.*s was lost at release: %s",
              (int)h->key.len, h->key.data, strerror(-rv));
    handle_unregister(h);
    handle_free(h);
    return 0;
}

static int truncate_key(const struct buf *key, size_t size)
{
    struct buf value = {0};
    int rv = size > 0 ? get_value(key, &value) : 0;

    if (rv == 0) {
        resize(&value, size);
        rv = set_value(key, value.data != NULL ? value.data : "", value.len,
                       "XX");
        rv = rv == 0 ? -ENOENT : rv < 0 ? rv : 0;
    }
    buf_free(&value);
    return rv;
}

/* By path: read, cut or extend, write back, keeping the expiry. XX keeps a
 * key deleted meanwhile deleted. */
int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    struct names_path np;
    struct handle *h;
    int rv;

    if (size < 0)
        return -EINVAL;
    if ((uint64_t)size > fs.cfg.max_value)
        return -EFBIG;
    if (fi != NULL && fi->fh != 0) {
        h = handle_of(fi);
        pthread_mutex_lock(&h->lock);
        resize(&h->data, (size_t)size);
        h->dirty = true;
        h->changes++;
        h->sig_valid = false;
        pthread_mutex_unlock(&h->lock);
        note_pages(h, false, 0);
        return 0;
    }
    rv = fs_parse(path, &np, KIND_FILE, -EISDIR, -ENOENT);
    if (rv != 0)
        return rv;
    pagecache_taint(np.key.data, np.key.len);
    rv = truncate_key(&np.key, (size_t)size);
    names_path_free(&np);
    return rv;
}
