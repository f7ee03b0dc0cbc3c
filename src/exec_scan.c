/* KEYS and SCAN, and the table of SCAN cursors.
 *
 * The store is ordered, so a SCAN cursor is simply the last key a call
 * examined: the next call seeks past it, and keys added or deleted in the
 * meantime cannot make it skip a key that stayed. The key itself does not
 * fit in the integer cursor redis clients expect, so each node keeps a
 * bounded table from cursor ids to keys, dropping the oldest when full. A
 * pattern's literal prefix becomes a seek: listing the keys under "app/db/"
 * never visits the rest of the keyspace. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"
#include "resp.h"

struct cursor_slot {
    uint64_t id; /* 0 when the slot is free */
    char *key;
    size_t key_len;
};

struct scan_cursors {
    struct cursor_slot *ring; /* max slots, oldest at head */
    size_t max;
    size_t head;
    size_t count;
    size_t *index; /* open addressing: ring slot + 1, 0 when empty */
    size_t index_mask;
    uint64_t seq;  /* ids are a scrambled counter... */
    uint64_t salt; /* ...salted per table, so another node's or an earlier
                      run's cursor is very likely reported invalid */
};

/* A bijective 64-bit mixer (the splitmix64 finaliser). */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

struct scan_cursors *scan_cursors_new(size_t max)
{
    struct scan_cursors *c = xcalloc(1, sizeof(*c));
    size_t slots = 2;

    c->max = max > 0 ? max : 1;
    while (slots < 2 * c->max)
        slots *= 2;
    c->ring = xcalloc(c->max, sizeof(*c->ring));
    c->index = xcalloc(slots, sizeof(*c->index));
    c->index_mask = slots - 1;
    c->salt = mix64(clock_mono_us() ^ (uint64_t)(uintptr_t)c);
    return c;
}

void scan_cursors_free(struct scan_cursors *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->max; i++)
        free(c->ring[i].key);
    free(c->ring);
    free(c->index);
    free(c);
}

/* The index position holding @id, or the empty one where it would go. */
static size_t index_probe(const struct scan_cursors *c, uint64_t id)
{
    size_t h = (size_t)id & c->index_mask;

    while (c->index[h] != 0 && c->ring[c->index[h] - 1].id != id)
        h = (h + 1) & c->index_mask;
    return h;
}

/* Remove index position @h, shifting back the entries after it that
 * probed past it, so no lookup ever stops at a false gap. */
static void index_remove(struct scan_cursors *c, size_t h)
{
    size_t j = h;

    for (;;) {
        size_t home;

        j = (j + 1) & c->index_mask;
        if (c->index[j] == 0)
            break;
        home = (size_t)c->ring[c->index[j] - 1].id & c->index_mask;
        /* Entry j may fill the hole at h unless its home lies in (h, j]. */
        if (h <= j ? (home <= h || home > j) : (home <= h && home > j)) {
            c->index[h] = c->index[j];
            h = j;
        }
    }
    c->index[h] = 0;
}

static void cursor_evict_oldest(struct scan_cursors *c)
{
    struct cursor_slot *slot = &c->ring[c->head];

    index_remove(c, index_probe(c, slot->id));
    free(slot->key);
    *slot = (struct cursor_slot){0};
    c->head = (c->head + 1) % c->max;
    c->count--;
}

/* Remember @key under a new nonzero id below 2^63 (clients that read the
 * cursor as a signed 64-bit integer keep working). */
static uint64_t cursor_put(struct scan_cursors *c, const char *key, size_t len)
{
    size_t pos;
    uint64_t id;

    if (c->count == c->max)
        cursor_evict_oldest(c);
    do {
        id = mix64(++c->seq ^ c->salt) & INT64_MAX;
    } while (id == 0 || c->index[index_probe(c, id)] != 0);
    pos = (c->head + c->count) % c->max;
    c->ring[pos] = (struct cursor_slot){id, xmemdup(key, len), len};
    c->index[index_probe(c, id)] = pos + 1;
    c->count++;
    return id;
}

static const struct cursor_slot *cursor_get(const struct scan_cursors *c,
                                            uint64_t id)
{
    size_t h = index_probe(c, id);

    return c->index[h] != 0 ? &c->ring[c->index[h] - 1] : NULL;
}

/* Store order: bytewise, a proper prefix first. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);

    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen;
}

static bool has_prefix(const struct store_entry *e, const char *prefix,
                       size_t n)
{
    return e->key_len >= n && memcmp(e->key, prefix, n) == 0;
}

/* The first entry of the run of keys that start with @prefix. */
static const struct store_entry *seek_prefix(const struct store *s,
                                             const char *prefix, size_t n)
{
    return n > 0 ? store_seek(s, prefix, n) : store_first(s);
}

/* A growable list of entries to reply with. */
struct entry_list {
    const struct store_entry **v;
    size_t n;
    size_t cap;
};

static void list_push(struct entry_list *l, const struct store_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = e;
}

static void reply_keys(struct buf *b, const struct entry_list *l)
{
    resp_array(b, l->n);
    for (size_t i = 0; i < l->n; i++)
        resp_bulk(b, l->v[i]->key, l->v[i]->key_len);
}

/* The pattern and what a seek can do with it. */
struct pattern {
    const char *text;
    size_t len;
    char *prefix; /* the literal text every match starts with */
    size_t prefix_len;
    bool literal; /* the pattern matches the prefix alone */
};

static void pattern_init(struct pattern *p, const char *text, size_t len)
{
    p->text = text;
    p->len = len;
    p->prefix = xmalloc(len + 1);
    p->prefix_len = glob_prefix(text, len, p->prefix, &p->literal);
}

static bool pattern_matches(const struct pattern *p,
                            const struct store_entry *e)
{
    return glob_match(p->text, p->len, e->key, e->key_len);
}

void exec_keys(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    struct entry_list found = {0};
    const struct store_entry *e;
    struct pattern pat;

    pattern_init(&pat, argv[1], lens[1]);
    if (pat.literal) {
        e = exec_lookup_read(ctx, pat.prefix, pat.prefix_len);
        if (e != NULL)
            list_push(&found, e);
    } else {
        e = seek_prefix(ctx->store, pat.prefix, pat.prefix_len);
        for (; e != NULL && has_prefix(e, pat.prefix, pat.prefix_len);
             e = store_next(ctx->store, e)) {
            if (store_live(e, ctx->now_ms) && pattern_matches(&pat, e))
                list_push(&found, e);
        }
    }
    reply_keys(ctx->reply, &found);
    free(found.v);
    free(pat.prefix);
}

/* The options of one SCAN call. */
struct scan_args {
    uint64_t cursor;
    const struct cursor_slot *from; /* NULL when starting over */
    int64_t count;
    const char *match; /* NULL: every key */
    size_t match_len;
    bool strings; /* false when TYPE asks for a type no key has */
};

#define SCAN_DEFAULT_COUNT 10

/* A cursor is a plain unsigned decimal; anything else is invalid. */
static bool parse_cursor(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool parse_scan_opts(struct exec_ctx *ctx, int argc, const char **argv,
                            const size_t *lens, struct scan_args *a)
{
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            resp_error(ctx->reply, EXEC_ERR_SYNTAX);
            return false;
        }
        if (exec_arg_is(argv[i], lens[i], "count")) {
            if (!exec_parse_int(ctx, argv[i + 1], lens[i + 1], &a->count))
                return false;
            if (a->count < 1) {
                resp_error(ctx->reply, EXEC_ERR_SYNTAX);
                return false;
            }
        } else if (exec_arg_is(argv[i], lens[i], "match")) {
            a->match = argv[i + 1];
            a->match_len = lens[i + 1];
        } else if (exec_arg_is(argv[i], lens[i], "type")) {
            a->strings = exec_arg_is(argv[i + 1], lens[i + 1], "string");
        } else {
            resp_error(ctx->reply, EXEC_ERR_SYNTAX);
            return false;
        }
    }
    return true;
}

static bool parse_scan(struct exec_ctx *ctx, int argc, const char **argv,
                       const size_t *lens, struct scan_args *a)
{
    *a = (struct scan_args){.count = SCAN_DEFAULT_COUNT, .strings = true};
    if (ctx->cursors == NULL) {
        resp_error(ctx->reply, "ERR SCAN is not available here");
        return false;
    }
    if (!parse_cursor(argv[1], lens[1], &a->cursor) ||
        (a->cursor != 0 &&
         (a->from = cursor_get(ctx->cursors, a->cursor)) == NULL)) {
        resp_error(ctx->reply, "ERR invalid cursor");
        return false;
    }
    return parse_scan_opts(ctx, argc, argv, lens, a);
}

/* Where this call starts: after the cursor's key, and never before the
 * pattern's prefix (MATCH may change between calls). */
static const struct store_entry *scan_start(const struct exec_ctx *ctx,
                                            const struct scan_args *a,
                                            const struct pattern *pat)
{
    const struct store_entry *e;

    if (a->from == NULL)
        return seek_prefix(ctx->store, pat->prefix, pat->prefix_len);
    e = store_seek(ctx->store, a->from->key, a->from->key_len);
    if (e != NULL &&
        key_cmp(e->key, e->key_len, a->from->key, a->from->key_len) == 0)
        e = store_next(ctx->store, e);
    if (e != NULL &&
        key_cmp(e->key, e->key_len, pat->prefix, pat->prefix_len) < 0)
        e = seek_prefix(ctx->store, pat->prefix, pat->prefix_len);
    return e;
}

/* Walk from @e until @want keys are found or @budget entries examined.
 * Returns the last entry examined, or NULL when the run of candidates is
 * over (the iteration is complete). */
static const struct store_entry *scan_walk(const struct exec_ctx *ctx,
                                           const struct store_entry *e,
                                           const struct pattern *pat,
                                           size_t want, size_t budget,
                                           struct entry_list *found)
{
    const struct store_entry *last = NULL;

    for (; e != NULL && has_prefix(e, pat->prefix, pat->prefix_len);
         e = store_next(ctx->store, e)) {
        if (found->n >= want || budget == 0)
            return last;
        budget--;
        last = e;
        if (store_live(e, ctx->now_ms) && pattern_matches(pat, e))
            list_push(found, e);
    }
    return NULL;
}

static void reply_scan(struct exec_ctx *ctx, uint64_t cursor,
                       const struct entry_list *found)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRIu64, cursor);

    resp_array(ctx->reply, 2);
    resp_bulk(ctx->reply, text, (size_t)n);
    reply_keys(ctx->reply, found);
}

/* COUNT is how many keys to return at most; so that a MATCH that few keys
 * pass still answers promptly, at most max(COUNT, 10) * 10 entries are
 * examined per call. */
void exec_scan(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    struct entry_list found = {0};
    const struct store_entry *last = NULL;
    struct scan_args a;
    struct pattern pat;
    uint64_t next = 0;
    size_t want;

    if (!parse_scan(ctx, argc, argv, lens, &a))
        return;
    pattern_init(&pat, a.match != NULL ? a.match : "*",
                 a.match != NULL ? a.match_len : 1);
    want = (uint64_t)a.count > SIZE_MAX / 10 ? SIZE_MAX / 10 : (size_t)a.count;
    if (pat.literal && a.strings) {
        const struct store_entry *e =
            exec_lookup_read(ctx, pat.prefix, pat.prefix_len);

        if (e != NULL)
            list_push(&found, e);
    } else if (a.strings) {
        last = scan_walk(ctx, scan_start(ctx, &a, &pat), &pat, want,
                         (want > 10 ? want : 10) * 10, &found);
    }
    if (last != NULL)
        next = cursor_put(ctx->cursors, last->key, last->key_len);
    reply_scan(ctx, next, &found);
    free(found.v);
    free(pat.prefix);
}
