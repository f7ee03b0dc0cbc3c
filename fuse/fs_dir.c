/* Directories: listing (CASHE.LS, page by page), mkdir and rmdir (in this
 * mount's dirset only), unlink, and rename of files (RENAME) and of
 * directories (CASHE.RENAMEDIR). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs_internal.h"
#include "pagecache.h"

#define LS_PAGE "1000"

/* ---- listing ------------------------------------------------------------ */

struct lister {
    void *buf;
    fuse_fill_dir_t filler;
    size_t depth;             /* continued components in the path */
    const struct buf *chunks; /* and their text */
    struct buf last;          /* the name listed last */
    struct buf *local;        /* this mount's directories, as names */
    bool *local_listed;
    size_t n_local;
    bool full;
};

static int buf_cmp(const struct buf *a, const char *p, size_t len)
{
    size_t n = a->len < len ? a->len : len;
    int c = n > 0 ? memcmp(a->data, p, n) : 0;

    return c != 0 ? c : a->len < len ? -1 : a->len > len;
}

static bool starts_with(const char *s, size_t len, const struct buf *prefix)
{
    return prefix->len == 0 ||
           (len >= prefix->len && memcmp(s, prefix->data, prefix->len) == 0);
}

/* Mark a name of this mount's directories as listed already. */
static void mark_local(struct lister *l, const char *name, size_t len)
{
    size_t lo = 0, hi = l->n_local;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = buf_cmp(&l->local[mid], name, len);

        if (c == 0) {
            l->local_listed[mid] = true;
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
}

static void emit(struct lister *l, const char *name, size_t len, bool dir)
{
    struct stat st = {.st_mode = dir ? S_IFDIR : S_IFREG};
    char *z;

    /* The children a continued component stands for are adjacent. */
    if (l->full || (l->last.len == len && buf_cmp(&l->last, name, len) == 0))
        return;
    buf_reset(&l->last);
    buf_append(&l->last, name, len);
    if (l->filler == NULL) {
        l->full = true; /* a probe: one name is enough */
        return;
    }
    mark_local(l, name, len);
    z = strndup(name, len);
    if (l->filler(l->buf, z, &st, 0, 0) != 0)
        l->full = true;
    free(z);
}

/* The component this directory shows for child segment @seg, into @out:
 * 1 a continued component (a directory), 0 the last, -1 none (a child a
 * continued-component directory does not hold). */
static int child_component(const struct lister *l, const char *seg, size_t len,
                           struct buf *out)
{
    struct buf enc = {0};
    bool ours = true;

    if (l->depth > 0) {
        names_encode_segment(seg, len, &enc);
        ours = enc.len > l->chunks->len &&
               memcmp(enc.data, l->chunks->data, l->chunks->len) == 0;
        buf_free(&enc);
    }
    return ours ? names_segment_component(seg, len, l->depth, out) : -1;
}

/* This mount's directories below the one listed, as listed names. */
static void collect_local(struct lister *l, const struct buf *prefix,
                          const struct buf *partial)
{
    struct buf *segs;
    size_t n = dirset_children(fs.dirs, prefix->data, prefix->len, &segs);

    l->local = xcalloc(n + 1, sizeof(*l->local));
    for (size_t i = 0; i < n; i++) {
        struct buf comp = {0};

        if (!starts_with(segs[i].data, segs[i].len, partial) ||
            child_component(l, segs[i].data, segs[i].len, &comp) < 0) {
            buf_free(&comp);
            continue;
        }
        l->local[l->n_local++] = comp;
    }
    dirset_names_free(segs, n);
    /* Sorted for mark_local(); repeats are harmless. */
    for (size_t i = 1; i < l->n_local; i++) {
        for (size_t j = i; j > 0 && buf_cmp(&l->local[j - 1], l->local[j].data,
                                            l->local[j].len) > 0;
             j--) {
            struct buf t = l->local[j];

            l->local[j] = l->local[j - 1];
            l->local[j - 1] = t;
        }
    }
    l->local_listed = xcalloc(l->n_local + 1, sizeof(bool));
}

static bool entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 4 &&
           e->element[0]->type == REDIS_REPLY_STRING &&
           e->element[1]->type == REDIS_REPLY_STRING;
}

/* One page of CASHE.LS: returns 1 when there is more, 0 at the end. */
static int list_page(struct lister *l, const struct buf *prefix,
                     const struct buf *partial, struct buf *cursor)
{
    struct arg args[] = {ARG("CASHE.LS"), ARG_BUF(prefix), ARG_BUF(cursor),
                         ARG(LS_PAGE)};
    int err = 0;
    redisReply *r = fs_command(&err, true, 4, args);
    int more = 1;

    if (r == NULL)
        return err;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -EIO;
    }
    for (size_t i = 0; i < r->element[1]->elements && more; i++) {
        const redisReply *e = r->element[1]->element[i];
        struct buf comp = {0};
        int c;

        if (!entry_ok(e))
            continue;
        if (!starts_with(e->element[0]->str, e->element[0]->len, partial)) {
            more = 0; /* past the names a continued component holds */
            break;
        }
        c = child_component(l, e->element[0]->str, e->element[0]->len, &comp);
        if (c >= 0)
            emit(l, comp.data, comp.len,
                 c == 1 || strcmp(e->element[1]->str, "file") != 0);
        buf_free(&comp);
    }
    buf_reset(cursor);
    buf_append(cursor, r->element[0]->str, r->element[0]->len);
    if (cursor->len == 0 || l->full)
        more = 0;
    freeReplyObject(r);
    return more;
}

static int list_keys(struct lister *l, const struct buf *prefix,
                     const struct buf *partial)
{
    struct buf cursor = {0};
    int rv;

    buf_append(&cursor, partial->data, partial->len);
    while ((rv = list_page(l, prefix, partial, &cursor)) == 1)
        ;
    buf_free(&cursor);
    return rv;
}

/* "%" when the directory is also a key. */
static int list_own(struct lister *l, const struct names_path *np)
{
    struct key_stat ks = {0};
    int rv;

    if (np->kind == NAMES_PARTIAL)
        return 0;
    rv = fs_stat_key(np->key.data, np->key.len, &ks);
    if (rv == 0 && ks.file)
        emit(l, NAMES_OWN, 1, false);
    return rv == -ENOENT ? 0 : rv;
}

static int list_dir(struct lister *l, const struct names_path *np)
{
    struct buf prefix = {0}, partial = {0};
    int rv;

    if (np->kind == NAMES_PARTIAL) {
        buf_append(&prefix, np->key.data, np->dir_len);
        buf_append(&partial, np->key.data + np->dir_len,
                   np->key.len - np->dir_len);
        l->depth = np->depth;
        l->chunks = &np->chunks;
    } else if (np->kind == NAMES_KEY) {
        buf_append(&prefix, np->key.data, np->key.len);
        buf_append(&prefix, "/", 1);
    }
    collect_local(l, &prefix, &partial);
    rv = list_own(l, np);
    if (rv == 0)
        rv = list_keys(l, &prefix, &partial);
    for (size_t i = 0; rv == 0 && i < l->n_local; i++) {
        if (!l->local_listed[i]) {
            buf_reset(&l->last); /* not a repeat of the keys' last */
            emit(l, l->local[i].data, l->local[i].len, true);
        }
    }
    buf_free(&prefix);
    buf_free(&partial);
    return rv;
}

/* With nullpath_ok, readdir may get no path: the handle keeps it. */
int fs_opendir(const char *path, struct fuse_file_info *fi)
{
    size_t len = strlen(path);
    struct dir_handle *d = xmalloc(sizeof(*d) + len + 1);

    d->magic = HANDLE_DIR;
    memcpy(d->path, path, len + 1);
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
    free((struct dir_handle *)(uintptr_t)fi->fh);
    return 0;
}

/* Everything is listed in one call with offsets of 0: libfuse keeps the
 * entries, and the listing is one pass over the daemon's pages. */
int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
               struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    const struct dir_handle *d =
        fi != NULL ? (const void *)(uintptr_t)fi->fh : NULL;
    struct lister l = {.buf = buf, .filler = filler};
    struct names_path np;
    int rv = fs_parse(d != NULL ? d->path : path, &np,
                      KIND(NAMES_ROOT) | KIND(NAMES_KEY) | KIND(NAMES_PARTIAL),
                      -ENOTDIR, -ENOENT);

    if (rv != 0)
        return rv;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    rv = list_dir(&l, &np);
    for (size_t i = 0; i < l.n_local; i++)
        buf_free(&l.local[i]);
    free(l.local);
    free(l.local_listed);
    buf_free(&l.last);
    names_path_free(&np);
    return rv;
}

int fs_partial_exists(const struct names_path *np)
{
    struct lister l = {0};
    struct buf prefix = {0}, partial = {0};
    struct buf cursor = {0};
    int rv;

    buf_append(&prefix, np->key.data, np->dir_len);
    buf_append(&partial, np->key.data + np->dir_len, np->key.len - np->dir_len);
    buf_append(&cursor, partial.data, partial.len);
    l.depth = np->depth;
    l.chunks = &np->chunks;
    do {
        rv = list_page(&l, &prefix, &partial, &cursor);
    } while (rv == 1 && l.last.len == 0);
    rv = rv < 0 ? rv : l.last.len > 0 ? 0 : -ENOENT;
    buf_free(&l.last);
    buf_free(&prefix);
    buf_free(&partial);
    buf_free(&cursor);
    return rv;
}

/* ---- changes ------------------------------------------------------------ */

/* The keyspace cannot hold an empty directory: it lives in this mount. */
int fs_mkdir(const char *path, mode_t mode)
{
    struct names_path np;
    struct key_stat ks;
    int rv = fs_parse(path, &np, KIND(NAMES_KEY), -EEXIST, -EINVAL);

    if (rv != 0)
        return rv;
    if (!names_dir_capable(np.key.data, np.key.len)) {
        rv = -EINVAL;
    } else {
        rv = fs_stat_key(np.key.data, np.key.len, &ks);
        if (rv == 0)
            rv = -EEXIST;
        else if (rv == -ENOENT)
            rv = 0;
    }
    if (rv == 0)
        dirset_add(fs.dirs, np.key.data, np.key.len);
    names_path_free(&np);
    return rv;
}

static int rmdir_key(const char *path, const struct names_path *np)
{
    struct key_stat ks = {0};
    int rv = fs_stat_key(np->key.data, np->key.len, &ks);
    bool local;

    if (rv != 0 && rv != -ENOENT)
        return rv;
    local = dirset_exists(fs.dirs, np->key.data, np->key.len);
    if (ks.dir || (ks.file && local))
        return -ENOTEMPTY; /* keys below, or the "%" file */
    if (ks.file)
        return -ENOTDIR;
    if (dirset_has_children(fs.dirs, np->key.data, np->key.len))
        return -ENOTEMPTY;
    if (!dirset_remove(fs.dirs, np->key.data, np->key.len) && !local)
        return -ENOENT;
    fs_keep_parent(path, np);
    return 0;
}

int fs_rmdir(const char *path)
{
    struct names_path np;
    int rv = fs_parse(path, &np, KIND(NAMES_KEY) | KIND(NAMES_PARTIAL), -EBUSY,
                      -ENOENT);

    if (rv != 0)
        return rv;
    if (np.kind == NAMES_PARTIAL) {
        rv = fs_partial_exists(&np);
        rv = rv == 0 ? -ENOTEMPTY : rv;
    } else {
        rv = rmdir_key(path, &np);
    }
    names_path_free(&np);
    return rv;
}

int fs_unlink(const char *path)
{
    struct names_path np;
    struct arg args[3] = {ARG("DEL")};
    int err = 0;
    redisReply *r;
    int rv = fs_parse(path, &np, KIND_FILE, -EISDIR, -ENOENT);

    if (rv != 0)
        return rv;
    args[1] = ARG_BUF(&np.key);
    r = fs_command(&err, true, 2, args);
    if (r == NULL)
        rv = err;
    else if (r->type != REDIS_REPLY_INTEGER || r->integer == 0)
        rv = -ENOENT;
    freeReplyObject(r);
    if (rv == 0) {
        pagecache_taint(np.key.data, np.key.len);
        fs_open_unlinked(np.key.data, np.key.len);
        fs_keep_parent(path, &np);
    }
    names_path_free(&np);
    return rv;
}

/* RENAME (or RENAMENX): one log entry, replacing the target. */
static int rename_file(const struct names_path *a, const struct names_path *b,
                       bool noreplace)
{
    struct arg args[] = {ARG(noreplace ? "RENAMENX" : "RENAME"),
                         ARG_BUF(&a->key), ARG_BUF(&b->key)};
    int err = 0;
    redisReply *r = fs_command(&err, false, 3, args);

    if (r == NULL)
        return err;
    if (noreplace && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        err = -EEXIST;
    freeReplyObject(r);
    if (err == 0) {
        /* The pages move with the inode; neither name's record holds. */
        pagecache_taint(a->key.data, a->key.len);
        pagecache_taint(b->key.data, b->key.len);
        fs_open_renamed(a->key.data, a->key.len, b->key.data, b->key.len,
                        false);
    }
    return err;
}

/* CASHE.RENAMEDIR moves the keys; this mount's empty directories below
 * the source move along. */
static int rename_dir(const struct names_path *a, const struct names_path *b,
                      bool has_keys, bool noreplace)
{
    struct arg args[] = {ARG("CASHE.RENAMEDIR"), ARG_BUF(&a->key),
                         ARG_BUF(&b->key)};
    struct key_stat ks;
    int err = 0;
    redisReply *r;

    if (b->kind != NAMES_KEY || !names_dir_capable(b->key.data, b->key.len))
        return -EINVAL;
    if (dirset_has_children(fs.dirs, b->key.data, b->key.len))
        return -ENOTEMPTY;
    if (noreplace && (fs_stat_key(b->key.data, b->key.len, &ks) == 0 ||
                      dirset_exists(fs.dirs, b->key.data, b->key.len)))
        return -EEXIST;
    if (has_keys) {
        r = fs_command(&err, false, 3, args);
        if (r == NULL)
            return err;
        freeReplyObject(r);
    }
    pagecache_clear();
    dirset_rename(fs.dirs, a->key.data, a->key.len, b->key.data, b->key.len);
    fs_open_renamed(a->key.data, a->key.len, b->key.data, b->key.len, true);
    return 0;
}

static int rename_parsed(const struct names_path *a, const struct names_path *b,
                         bool noreplace)
{
    struct key_stat ks = {0};
    bool local;
    int rv;

    if (a->kind == NAMES_OWN_KEY)
        return rename_file(a, b, noreplace);
    rv = fs_stat_key(a->key.data, a->key.len, &ks);
    if (rv != 0 && rv != -ENOENT)
        return rv;
    local = dirset_exists(fs.dirs, a->key.data, a->key.len);
    if (ks.dir || local)
        return rename_dir(a, b, ks.dir || ks.file, noreplace);
    if (ks.file)
        return rename_file(a, b, noreplace);
    return -ENOENT;
}

int fs_rename(const char *from, const char *to, unsigned int flags)
{
    struct names_path a, b;
    int rv;

    if (flags & ~RENAME_NOREPLACE)
        return -EINVAL; /* RENAME_EXCHANGE cannot be one step */
    rv = fs_parse(from, &a, KIND_FILE, -EBUSY, -ENOENT);
    if (rv != 0)
        return rv;
    rv = fs_parse(to, &b, KIND_FILE, -EBUSY, -EINVAL);
    if (rv == 0) {
        rv = rename_parsed(&a, &b, flags & RENAME_NOREPLACE);
        if (rv == 0)
            fs_keep_parent(from, &a);
        names_path_free(&b);
    }
    names_path_free(&a);
    return rv;
}
