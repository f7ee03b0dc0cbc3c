/* The directory view of the keyspace that cashe-fuse needs: CASHE.STAT,
 * CASHE.LS and CASHE.RENAMEDIR.
 *
 * Directories are not stored; they follow from '/' in keys. A key is cut
 * into segments at '/' bytes, where a '/' separates two segments when the
 * segment before it is not empty and it is not the key's last byte (so
 * "a//b" is "a" then "/b", and "a/" is one segment). Directory "a" holds
 * the keys "a/" + at least one byte whose '/' after "a" separates; its own
 * value, if any, is key "a". The same rule is in fuse/names.c, which turns
 * segments into path components: the two must agree. docs/fuse.md has the
 * whole mapping. */

#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"
#include "resp.h"

/* The work one CASHE.LS call may do per entry it may return, so that keys
 * that expired and were not deleted yet cannot make one call long. */
#define LS_BUDGET_PER_ENTRY 10
#define LS_BUDGET_MIN       100

/* ---- segments ----------------------------------------------------------- */

/* Length of the first segment of @rest (a key, or what follows a directory
 * prefix in one): up to the first '/' at index >= 1 that is not the last
 * byte. */
static size_t segment_len(const char *rest, size_t len)
{
    for (size_t i = 1; i + 1 < len; i++) {
        if (rest[i] == '/')
            return i;
    }
    return len;
}

/* Whether a segment can have children: a '/' it ends with (when not its
 * only byte) can only be the last byte of a key. */
static bool segment_dir_capable(const char *seg, size_t len)
{
    return len == 1 || seg[len - 1] != '/';
}

/* The empty key is the root's: a directory. */
static bool key_dir_capable(const char *key, size_t len)
{
    size_t start = 0;

    if (len == 0)
        return true;
    for (;;) {
        size_t seg = segment_len(key + start, len - start);

        if (start + seg == len)
            return segment_dir_capable(key + start, seg);
        start += seg + 1;
    }
}

static bool has_prefix(const struct store_entry *e, const char *p, size_t len)
{
    return len == 0 || (e->key_len >= len && memcmp(e->key, p, len) == 0);
}

/* "@key/" in @out, or "" for the root (an empty @key). */
static void dir_prefix(struct buf *out, const char *key, size_t len)
{
    buf_reset(out);
    buf_append(out, key, len);
    if (len > 0)
        buf_append(out, "/", 1);
}

/* True when a live key lies below directory @key. The caller has checked
 * that @key can be a directory, so every longer key after "@key/" is
 * below it; "@key/" itself is a sibling (a segment ending in '/'). */
static bool has_children(const struct exec_ctx *ctx, const char *key,
                         size_t len)
{
    struct buf prefix = {0};
    const struct store_entry *e;
    bool found = false;

    dir_prefix(&prefix, key, len);
    for (e = store_seek(ctx->store, prefix.data, prefix.len);
         e != NULL && has_prefix(e, prefix.data, prefix.len);
         e = store_next(ctx->store, e)) {
        if (e->key_len > prefix.len && store_live(e, ctx->now_ms)) {
            found = true;
            break;
        }
    }
    buf_free(&prefix);
    return found;
}

/* ---- CASHE.STAT --------------------------------------------------------- */

/* CASHE.STAT key: nil when @key is neither a live key nor a directory, else
 * [value length, mtime ms, create revision, mod revision, version, pttl ms
 * or -1, kind], kind "file", "dir" or "both". A directory alone has zeros
 * and -1. */
void exec_cashe_stat(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens)
{
    const struct store_entry *e = exec_lookup_read(ctx, argv[1], lens[1]);
    bool dir = key_dir_capable(argv[1], lens[1]) &&
               has_children(ctx, argv[1], lens[1]);
    int64_t pttl = -1;

    if (e == NULL && !dir) {
        resp_null(ctx->reply);
        return;
    }
    if (e != NULL && e->expire_ms != 0)
        pttl = e->expire_ms > ctx->now_ms ? e->expire_ms - ctx->now_ms : 0;
    resp_array(ctx->reply, 7);
    resp_int(ctx->reply, e != NULL ? (int64_t)e->value_len : 0);
    resp_int(ctx->reply, e != NULL ? e->mtime_ms : 0);
    resp_int(ctx->reply, e != NULL ? (int64_t)e->create_rev : 0);
    resp_int(ctx->reply, e != NULL ? (int64_t)e->mod_rev : 0);
    resp_int(ctx->reply, e != NULL ? (int64_t)e->version : 0);
    resp_int(ctx->reply, pttl);
    resp_bulk_str(ctx->reply, e == NULL ? "dir" : dir ? "both" : "file");
}

/* ---- CASHE.LS ----------------------------------------------------------- */

struct listing {
    struct buf entries; /* RESP of the entries so far */
    size_t n;
};

static void listing_add(struct listing *l, const char *name, size_t len,
                        const char *kind, const struct store_entry *e)
{
    resp_array(&l->entries, 4);
    resp_bulk(&l->entries, name, len);
    resp_bulk_str(&l->entries, kind);
    resp_int(&l->entries, e != NULL ? (int64_t)e->value_len : 0);
    resp_int(&l->entries, e != NULL ? e->mtime_ms : 0);
    l->n++;
}

/* One child at @e, a live key below the prefix (@plen bytes): a file (the
 * rest of the key is one segment) or the first key seen of a directory.
 * Returns where the listing goes on: past a directory's whole subtree. */
static const struct store_entry *list_child(struct exec_ctx *ctx,
                                            const struct store_entry *e,
                                            size_t plen, struct listing *l)
{
    const char *rest = e->key + plen;
    size_t rlen = e->key_len - plen;
    size_t seg = segment_len(rest, rlen);
    struct buf past = {0};

    if (seg == rlen) {
        bool both = segment_dir_capable(rest, rlen) &&
                    has_children(ctx, e->key, e->key_len);

        listing_add(l, rest, rlen, both ? "both" : "file", e);
        return store_next(ctx->store, e);
    }
    /* A directory whose own key is live was listed as "both" with it: that
     * key sorts before everything below it. */
    if (exec_lookup_read(ctx, e->key, plen + seg) == NULL)
        listing_add(l, rest, seg, "dir", NULL);
    buf_append(&past, e->key, plen + seg);
    buf_append(&past, "0", 1); /* the byte after '/' */
    e = store_seek(ctx->store, past.data, past.len);
    buf_free(&past);
    return e;
}

/* CASHE.LS prefix cursor count: the children of the directory whose keys
 * start with @prefix ("" for the root, else a directory key and '/'), in
 * key order, from @cursor ("" to begin), at most @count. Reply: [next
 * cursor, [[name, kind, length, mtime ms], ...]]; the cursor is "" when the
 * listing is complete. A directory is found by its first key and its whole
 * subtree is skipped with one seek, so listing costs the number of
 * children, not of keys. The cursor is the rest of the key to go on from
 * (inclusive), so it stays valid whatever changes between calls. */
void exec_cashe_ls(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    struct listing l = {0};
    struct buf pos = {0};
    const struct store_entry *e;
    size_t plen = lens[1];
    int64_t count;
    size_t budget;

    if (!exec_parse_int(ctx, argv[3], lens[3], &count))
        return;
    if (count <= 0) {
        resp_error(ctx->reply, "ERR count must be positive");
        return;
    }
    budget = (size_t)count * LS_BUDGET_PER_ENTRY + LS_BUDGET_MIN;
    buf_append(&pos, argv[1], plen);
    buf_append(&pos, argv[2], lens[2]);
    e = store_seek(ctx->store, pos.data, pos.len);
    if (e != NULL && e->key_len == plen && has_prefix(e, argv[1], plen))
        e = store_next(ctx->store, e); /* the directory's own key */
    while (e != NULL && has_prefix(e, argv[1], plen) && l.n < (uint64_t)count &&
           budget > 0) {
        budget--;
        if (e->key_len > plen && store_live(e, ctx->now_ms))
            e = list_child(ctx, e, plen, &l);
        else
            e = store_next(ctx->store, e);
    }
    resp_array(ctx->reply, 2);
    if (e != NULL && has_prefix(e, argv[1], plen))
        resp_bulk(ctx->reply, e->key + plen, e->key_len - plen);
    else
        resp_bulk(ctx->reply, "", 0);
    resp_array(ctx->reply, l.n);
    buf_append(ctx->reply, l.entries.data, l.entries.len);
    buf_free(&l.entries);
    buf_free(&pos);
}

/* ---- CASHE.RENAMEDIR ---------------------------------------------------- */

struct key_list {
    struct buf *v;
    size_t n;
};

static void key_list_free(struct key_list *k)
{
    for (size_t i = 0; i < k->n; i++)
        buf_free(&k->v[i]);
    free(k->v);
    *k = (struct key_list){0};
}

/* Directory @key's own key and every key below it, expired or not: copies,
 * since what the caller does next changes the store. */
static void collect_dir(const struct exec_ctx *ctx, const char *key, size_t len,
                        struct key_list *out)
{
    struct buf prefix = {0};
    const struct store_entry *e = store_get(ctx->store, key, len);

    if (e != NULL) {
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n] = (struct buf){0};
        buf_append(&out->v[out->n++], key, len);
    }
    dir_prefix(&prefix, key, len);
    for (e = store_seek(ctx->store, prefix.data, prefix.len);
         e != NULL && has_prefix(e, prefix.data, prefix.len);
         e = store_next(ctx->store, e)) {
        if (e->key_len == prefix.len)
            continue;
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n] = (struct buf){0};
        buf_append(&out->v[out->n++], e->key, e->key_len);
    }
    buf_free(&prefix);
}

/* Delete the expired keys of @keys (with their events); how many are
 * live. */
static size_t count_live(struct exec_ctx *ctx, const struct key_list *keys)
{
    size_t live = 0;

    for (size_t i = 0; i < keys->n; i++) {
        if (exec_lookup_write(ctx, keys->v[i].data, keys->v[i].len) != NULL)
            live++;
    }
    return live;
}

/* True when directory @inner lies below directory @outer. */
static bool dir_below(const char *inner, size_t ilen, const char *outer,
                      size_t olen)
{
    return ilen > olen + 1 && memcmp(inner, outer, olen) == 0 &&
           inner[olen] == '/';
}

static bool renamedir_args_ok(struct exec_ctx *ctx, int argc, const char **argv,
                              const size_t *lens, bool *replace)
{
    *replace = argc == 4 && exec_arg_is(argv[3], lens[3], "replace");
    if (argc > 4 || (argc == 4 && !*replace)) {
        resp_error(ctx->reply, EXEC_ERR_SYNTAX);
        return false;
    }
    for (int i = 1; i <= 2; i++) {
        if (lens[i] == 0 || !key_dir_capable(argv[i], lens[i])) {
            exec_reply_error_quoting(ctx, "ERR not a directory name: ", argv[i],
                                     lens[i]);
            return false;
        }
    }
    if (dir_below(argv[2], lens[2], argv[1], lens[1])) {
        resp_error(ctx->reply, "ERR cannot move a directory below itself");
        return false;
    }
    return true;
}

static void move_keys(struct exec_ctx *ctx, const struct key_list *keys,
                      const char *from, size_t from_len, const char *to,
                      size_t to_len)
{
    struct buf dst = {0};

    for (size_t i = 0; i < keys->n; i++) {
        const struct buf *src = &keys->v[i];
        const struct store_entry *e =
            store_get(ctx->store, src->data, src->len);

        buf_reset(&dst);
        buf_append(&dst, to, to_len);
        buf_append(&dst, src->data + from_len, src->len - from_len);
        store_set(ctx->store, dst.data, dst.len, e->value, e->value_len,
                  e->expire_ms, ctx->rev, ctx->now_ms);
        store_del(ctx->store, src->data, src->len);
        exec_notify(ctx, "rename_from", src->data, src->len);
        exec_notify(ctx, "rename_to", dst.data, dst.len);
    }
    buf_free(&dst);
}

/* Keep the live keys of @all in @out (moved out of @all). */
static void keep_existing(const struct exec_ctx *ctx, struct key_list *all,
                          struct key_list *out)
{
    for (size_t i = 0; i < all->n; i++) {
        if (store_get(ctx->store, all->v[i].data, all->v[i].len) == NULL) {
            buf_free(&all->v[i]);
            continue;
        }
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n++] = all->v[i];
    }
    free(all->v);
    *all = (struct key_list){0};
}

/* CASHE.RENAMEDIR from to [REPLACE]: directory @from becomes @to in one
 * step: its own key and every key below it move, keeping value and expiry
 * (like RENAME, each moved key is new: its revision and mtime are this
 * entry's). Key "from/" is a file beside the directory and stays. A target
 * that has keys (its own or below it) is refused with NOTEMPTY unless
 * REPLACE deletes them first; a target that contains the source is always
 * refused. Reply: how many keys moved. */
void exec_cashe_renamedir(struct exec_ctx *ctx, int argc, const char **argv,
                          const size_t *lens)
{
    struct key_list src = {0}, dst = {0}, live = {0};
    bool replace;

    if (!renamedir_args_ok(ctx, argc, argv, lens, &replace))
        return;
    collect_dir(ctx, argv[1], lens[1], &src);
    if (count_live(ctx, &src) == 0) {
        resp_error(ctx->reply, "ERR no such directory");
        goto out;
    }
    if (lens[1] == lens[2] && memcmp(argv[1], argv[2], lens[1]) == 0) {
        resp_int(ctx->reply, 0);
        goto out;
    }
    collect_dir(ctx, argv[2], lens[2], &dst);
    if (count_live(ctx, &dst) > 0) {
        if (!replace || dir_below(argv[1], lens[1], argv[2], lens[2])) {
            resp_error(ctx->reply, "NOTEMPTY the target directory has keys");
            goto out;
        }
        for (size_t i = 0; i < dst.n; i++) {
            if (store_del(ctx->store, dst.v[i].data, dst.v[i].len))
                exec_notify(ctx, "del", dst.v[i].data, dst.v[i].len);
        }
    }
    keep_existing(ctx, &src, &live);
    move_keys(ctx, &live, argv[1], lens[1], argv[2], lens[2]);
    resp_int(ctx->reply, (int64_t)live.n);
out:
    key_list_free(&src);
    key_list_free(&dst);
    key_list_free(&live);
}
