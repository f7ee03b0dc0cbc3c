/* String commands: GET and SET and their variants, counters, APPEND,
 * GETRANGE and SETRANGE. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"
#include "resp.h"

/* Options of SET (and, for the expiry ones and PERSIST, of GETEX). */
enum {
    OPT_NX = 1u << 0,
    OPT_XX = 1u << 1,
    OPT_GET = 1u << 2,
    OPT_KEEPTTL = 1u << 3,
    OPT_PERSIST = 1u << 4,
    OPT_EX = 1u << 5,
    OPT_PX = 1u << 6,
    OPT_EXAT = 1u << 7,
    OPT_PXAT = 1u << 8,
};

#define OPT_EXPIRY (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

struct set_opts {
    unsigned flags;
    const char *expire; /* the expiry argument, NULL when none */
    size_t expire_len;
};

/* The expiry option @arg names, or 0. */
static unsigned expiry_option(const char *arg, size_t len)
{
    if (exec_arg_is(arg, len, "ex"))
        return OPT_EX;
    if (exec_arg_is(arg, len, "px"))
        return OPT_PX;
    if (exec_arg_is(arg, len, "exat"))
        return OPT_EXAT;
    if (exec_arg_is(arg, len, "pxat"))
        return OPT_PXAT;
    return 0;
}

/* One flag option, if allowed next to the ones already seen; 0 if not. */
static unsigned flag_option(const char *arg, size_t len, unsigned seen,
                            bool for_set)
{
    if (for_set && exec_arg_is(arg, len, "nx") && !(seen & OPT_XX))
        return OPT_NX;
    if (for_set && exec_arg_is(arg, len, "xx") && !(seen & OPT_NX))
        return OPT_XX;
    if (for_set && exec_arg_is(arg, len, "get"))
        return OPT_GET;
    if (for_set && exec_arg_is(arg, len, "keepttl") &&
        !(seen & (OPT_EXPIRY | OPT_PERSIST)))
        return OPT_KEEPTTL;
    if (!for_set && exec_arg_is(arg, len, "persist") &&
        !(seen & (OPT_EXPIRY | OPT_KEEPTTL)))
        return OPT_PERSIST;
    return 0;
}

/* Parse the options of SET (@for_set) or GETEX from argv[@first] on. The
 * same option twice is accepted, the last value winning, as redis does; two
 * that contradict each other are a syntax error. */
static bool parse_set_opts(struct exec_ctx *ctx, int first, int argc,
                           const char **argv, const size_t *lens, bool for_set,
                           struct set_opts *opts)
{
    *opts = (struct set_opts){0};
    for (int i = first; i < argc; i++) {
        unsigned flag = flag_option(argv[i], lens[i], opts->flags, for_set);
        unsigned expiry = expiry_option(argv[i], lens[i]);

        if (flag != 0) {
            opts->flags |= flag;
            continue;
        }
        if (expiry == 0 || i + 1 >= argc ||
            (opts->flags & (OPT_KEEPTTL | OPT_PERSIST)) ||
            (opts->flags & OPT_EXPIRY & ~expiry)) {
            resp_error(ctx->reply, EXEC_ERR_SYNTAX);
            return false;
        }
        opts->flags |= expiry;
        opts->expire = argv[++i];
        opts->expire_len = lens[i];
    }
    return true;
}

/* Turn the expiry argument into an absolute time in ms. Replies the error
 * and returns false when it is not a positive integer or overflows. */
static bool expire_to_ms(struct exec_ctx *ctx, const char *name,
                         const struct set_opts *opts, int64_t *out)
{
    int64_t ms;

    if (!exec_parse_int(ctx, opts->expire, opts->expire_len, &ms))
        return false;
    if (ms <= 0)
        goto invalid;
    if (opts->flags & (OPT_EX | OPT_EXAT)) {
        if (ms > INT64_MAX / 1000)
            goto invalid;
        ms *= 1000;
    }
    if (opts->flags & (OPT_EX | OPT_PX)) {
        if (ctx->now_ms > 0 && ms > INT64_MAX - ctx->now_ms)
            goto invalid;
        ms += ctx->now_ms;
    }
    *out = ms;
    return true;

invalid:
    exec_reply_bad_expire(ctx, name);
    return false;
}

enum set_result { SET_ERROR, SET_SKIPPED, SET_DONE };

/* The common part of SET, SETNX, SETEX and PSETEX. With OPT_GET it replies
 * the old value; otherwise only an error is replied, the caller says the
 * rest in its own words. */
static enum set_result set_generic(struct exec_ctx *ctx, const char *name,
                                   const char *key, size_t klen,
                                   const char *val, size_t vlen,
                                   const struct set_opts *opts)
{
    const unsigned f = opts->flags;
    const struct store_entry *e;
    int64_t expire_ms = 0;

    if (opts->expire != NULL && !expire_to_ms(ctx, name, opts, &expire_ms))
        return SET_ERROR;
    e = exec_lookup_write(ctx, key, klen);
    if (f & OPT_GET) {
        if (e != NULL)
            resp_bulk(ctx->reply, e->value, e->value_len);
        else
            resp_null(ctx->reply);
    }
    if (((f & OPT_NX) && e != NULL) || ((f & OPT_XX) && e == NULL))
        return SET_SKIPPED;
    if ((f & OPT_KEEPTTL) && e != NULL)
        expire_ms = e->expire_ms;
    store_set(ctx->store, key, klen, val, vlen, expire_ms, ctx->rev,
              ctx->now_ms);
    exec_notify(ctx, "set", key, klen);
    if (opts->expire != NULL)
        exec_notify(ctx, "expire", key, klen);
    return SET_DONE;
}

void exec_set(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens)
{
    struct set_opts opts;
    enum set_result r;

    if (!parse_set_opts(ctx, 3, argc, argv, lens, true, &opts))
        return;
    r = set_generic(ctx, "set", argv[1], lens[1], argv[2], lens[2], &opts);
    if (r == SET_ERROR || (opts.flags & OPT_GET))
        return;
    if (r == SET_DONE)
        resp_simple(ctx->reply, "OK");
    else
        resp_null(ctx->reply);
}

void exec_setnx(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens)
{
    struct set_opts opts = {.flags = OPT_NX};
    enum set_result r;

    r = set_generic(ctx, "setnx", argv[1], lens[1], argv[2], lens[2], &opts);
    resp_int(ctx->reply, r == SET_DONE ? 1 : 0);
}

static void setex_generic(struct exec_ctx *ctx, const char *name, unsigned unit,
                          const char **argv, const size_t *lens)
{
    struct set_opts opts = {unit, argv[2], lens[2]};

    if (set_generic(ctx, name, argv[1], lens[1], argv[3], lens[3], &opts) ==
        SET_DONE)
        resp_simple(ctx->reply, "OK");
}

void exec_setex(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens)
{
    setex_generic(ctx, "setex", OPT_EX, argv, lens);
}

void exec_psetex(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    setex_generic(ctx, "psetex", OPT_PX, argv, lens);
}

void exec_get(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens)
{
    const struct store_entry *e = exec_lookup_read(ctx, argv[1], lens[1]);

    if (e != NULL)
        resp_bulk(ctx->reply, e->value, e->value_len);
    else
        resp_null(ctx->reply);
}

void exec_mget(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    resp_array(ctx->reply, (size_t)argc - 1);
    for (int i = 1; i < argc; i++)
        exec_get(ctx, 2, argv + i - 1, lens + i - 1);
}

void exec_getset(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    struct set_opts opts = {.flags = OPT_GET};

    set_generic(ctx, "getset", argv[1], lens[1], argv[2], lens[2], &opts);
}

void exec_getdel(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    const struct store_entry *e = exec_lookup_write(ctx, argv[1], lens[1]);

    if (e == NULL) {
        resp_null(ctx->reply);
        return;
    }
    resp_bulk(ctx->reply, e->value, e->value_len);
    store_del(ctx->store, argv[1], lens[1]);
    exec_notify(ctx, "del", argv[1], lens[1]);
}

/* GETEX replies the value first, then changes the expiry: an absolute time
 * already past deletes the key, PERSIST clears an expiry if there is one. */
void exec_getex(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens)
{
    const struct store_entry *e;
    struct set_opts opts;
    int64_t ms = 0;

    if (!parse_set_opts(ctx, 2, argc, argv, lens, false, &opts))
        return;
    e = exec_lookup_write(ctx, argv[1], lens[1]);
    if (e == NULL) {
        resp_null(ctx->reply);
        return;
    }
    if (opts.expire != NULL && !expire_to_ms(ctx, "getex", &opts, &ms))
        return;
    resp_bulk(ctx->reply, e->value, e->value_len);
    if (opts.expire != NULL && ms <= ctx->now_ms) {
        store_del(ctx->store, argv[1], lens[1]);
        exec_notify(ctx, "del", argv[1], lens[1]);
    } else if (opts.expire != NULL) {
        store_set_expire(ctx->store, argv[1], lens[1], ms, ctx->rev,
                         ctx->now_ms);
        exec_notify(ctx, "expire", argv[1], lens[1]);
    } else if ((opts.flags & OPT_PERSIST) && e->expire_ms != 0) {
        store_set_expire(ctx->store, argv[1], lens[1], 0, ctx->rev,
                         ctx->now_ms);
        exec_notify(ctx, "persist", argv[1], lens[1]);
    }
}

/* MSET and MSETNX take key-value pairs: an odd count of them is an arity
 * error the table cannot express. */
static bool pairs_ok(struct exec_ctx *ctx, const char *name, int argc)
{
    if (argc % 2 == 1)
        return true;
    resp_errorf(ctx->reply, "ERR wrong number of arguments for '%s' command",
                name);
    return false;
}

static void set_pairs(struct exec_ctx *ctx, int argc, const char **argv,
                      const size_t *lens)
{
    for (int i = 1; i < argc; i += 2) {
        exec_lookup_write(ctx, argv[i], lens[i]);
        store_set(ctx->store, argv[i], lens[i], argv[i + 1], lens[i + 1], 0,
                  ctx->rev, ctx->now_ms);
        exec_notify(ctx, "set", argv[i], lens[i]);
    }
}

void exec_mset(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    if (!pairs_ok(ctx, "mset", argc))
        return;
    set_pairs(ctx, argc, argv, lens);
    resp_simple(ctx->reply, "OK");
}

void exec_msetnx(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    if (!pairs_ok(ctx, "msetnx", argc))
        return;
    for (int i = 1; i < argc; i += 2) {
        if (exec_lookup_write(ctx, argv[i], lens[i]) != NULL) {
            resp_int(ctx->reply, 0);
            return;
        }
    }
    set_pairs(ctx, argc, argv, lens);
    resp_int(ctx->reply, 1);
}

/* INCR and friends keep the key's expiry, as redis does. */
static void incr_by(struct exec_ctx *ctx, const char *key, size_t klen,
                    int64_t by)
{
    const struct store_entry *e = exec_lookup_write(ctx, key, klen);
    int64_t value = 0;
    int64_t expire_ms = 0;
    char text[24];
    int n;

    if (e != NULL) {
        if (!exec_str_to_i64(e->value, e->value_len, &value)) {
            resp_error(ctx->reply, EXEC_ERR_NOT_INT);
            return;
        }
        expire_ms = e->expire_ms;
    }
    if ((by > 0 && value > INT64_MAX - by) ||
        (by < 0 && value < INT64_MIN - by)) {
        resp_error(ctx->reply, "ERR increment or decrement would overflow");
        return;
    }
    value += by;
    n = snprintf(text, sizeof(text), "%" PRId64, value);
    store_set(ctx->store, key, klen, text, (size_t)n, expire_ms, ctx->rev,
              ctx->now_ms);
    exec_notify(ctx, "incrby", key, klen);
    resp_int(ctx->reply, value);
}

void exec_incr(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    incr_by(ctx, argv[1], lens[1], 1);
}

void exec_decr(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    incr_by(ctx, argv[1], lens[1], -1);
}

void exec_incrby(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    int64_t by;

    if (exec_parse_int(ctx, argv[2], lens[2], &by))
        incr_by(ctx, argv[1], lens[1], by);
}

void exec_decrby(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    int64_t by;

    if (!exec_parse_int(ctx, argv[2], lens[2], &by))
        return;
    if (by == INT64_MIN) {
        resp_error(ctx->reply, "ERR decrement would overflow");
        return;
    }
    incr_by(ctx, argv[1], lens[1], -by);
}

/* Room for any long double printed with "%.17Lf" (the largest has 4933
 * integer digits). */
#define FLOAT_TEXT_MAX 5120

/* A long double the way redis reads one: the whole text, no leading space,
 * no NaN, no overflow or underflow to zero. */
static bool parse_long_double(const char *s, size_t len, long double *out)
{
    char text[FLOAT_TEXT_MAX];
    char *end;
    long double v;

    if (len == 0 || len >= sizeof(text) || isspace((unsigned char)s[0]))
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    errno = 0;
    v = strtold(text, &end);
    if (end != text + len || isnan(v))
        return false;
    if (errno == ERANGE && (isinf(v) || v == 0))
        return false;
    *out = v;
    return true;
}

/* Seventeen decimals, trailing zeros (and a bare point) dropped, so small
 * decimals read back as typed; "-0" prints as "0". */
static size_t format_long_double(long double v, char *text, size_t cap)
{
    size_t n = (size_t)snprintf(text, cap, "%.17Lf", v);

    if (memchr(text, '.', n) != NULL) {
        while (text[n - 1] == '0')
            n--;
        if (text[n - 1] == '.')
            n--;
    }
    if (n == 2 && text[0] == '-' && text[1] == '0') {
        text[0] = '0';
        n = 1;
    }
    return n;
}

void exec_incrbyfloat(struct exec_ctx *ctx, int argc, const char **argv,
                      const size_t *lens)
{
    const struct store_entry *e = exec_lookup_write(ctx, argv[1], lens[1]);
    long double value = 0;
    long double by;
    char text[FLOAT_TEXT_MAX];
    size_t n;

    if ((e != NULL && !parse_long_double(e->value, e->value_len, &value)) ||
        !parse_long_double(argv[2], lens[2], &by)) {
        resp_error(ctx->reply, "ERR value is not a valid float");
        return;
    }
    value += by;
    if (isnan(value) || isinf(value)) {
        resp_error(ctx->reply, "ERR increment would produce NaN or Infinity");
        return;
    }
    n = format_long_double(value, text, sizeof(text));
    store_set(ctx->store, argv[1], lens[1], text, n,
              e != NULL ? e->expire_ms : 0, ctx->rev, ctx->now_ms);
    exec_notify(ctx, "incrbyfloat", argv[1], lens[1]);
    resp_bulk(ctx->reply, text, n);
}

/* True when a value of @offset + @len bytes would pass EXEC_MAX_VALUE; then
 * the error is replied. */
static bool too_big(struct exec_ctx *ctx, uint64_t offset, uint64_t len)
{
    if (offset <= EXEC_MAX_VALUE && len <= EXEC_MAX_VALUE - offset)
        return false;
    resp_error(ctx->reply, EXEC_ERR_TOO_BIG);
    return true;
}

/* Store @key as the old value @old (may be NULL) with @src written over it
 * at @offset, the gap between them zero-filled. Returns the new length. */
static size_t write_at(struct exec_ctx *ctx, const char *key, size_t klen,
                       const struct store_entry *old, size_t offset,
                       const char *src, size_t len)
{
    size_t old_len = old != NULL ? old->value_len : 0;
    size_t new_len = offset + len > old_len ? offset + len : old_len;
    char *value = xmalloc(new_len);

    if (old_len > 0)
        memcpy(value, old->value, old_len);
    if (offset > old_len)
        memset(value + old_len, 0, offset - old_len);
    memcpy(value + offset, src, len);
    store_set(ctx->store, key, klen, value, new_len,
              old != NULL ? old->expire_ms : 0, ctx->rev, ctx->now_ms);
    free(value);
    return new_len;
}

/* TODO: APPEND copies the whole value each time, so a long run of appends
 * to one key is quadratic; fine until the store can grow a value in place. */
void exec_append(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    const struct store_entry *e = exec_lookup_write(ctx, argv[1], lens[1]);
    size_t old_len = e != NULL ? e->value_len : 0;
    size_t n;

    if (too_big(ctx, old_len, lens[2]))
        return;
    n = write_at(ctx, argv[1], lens[1], e, old_len, argv[2], lens[2]);
    exec_notify(ctx, "append", argv[1], lens[1]);
    resp_int(ctx->reply, (int64_t)n);
}

void exec_setrange(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    const struct store_entry *e;
    int64_t offset;
    size_t n;

    if (!exec_parse_int(ctx, argv[2], lens[2], &offset))
        return;
    if (offset < 0) {
        resp_error(ctx->reply, "ERR offset is out of range");
        return;
    }
    e = exec_lookup_write(ctx, argv[1], lens[1]);
    if (lens[3] == 0) {
        resp_int(ctx->reply, e != NULL ? (int64_t)e->value_len : 0);
        return;
    }
    if (too_big(ctx, (uint64_t)offset, lens[3]))
        return;
    n = write_at(ctx, argv[1], lens[1], e, (size_t)offset, argv[3], lens[3]);
    exec_notify(ctx, "setrange", argv[1], lens[1]);
    resp_int(ctx->reply, (int64_t)n);
}

void exec_strlen(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    const struct store_entry *e = exec_lookup_read(ctx, argv[1], lens[1]);

    resp_int(ctx->reply, e != NULL ? (int64_t)e->value_len : 0);
}

/* Negative indexes count from the end; the range is clamped to the value,
 * and an empty range gives an empty string, never an error. */
void exec_getrange(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    const struct store_entry *e;
    int64_t start;
    int64_t end;
    int64_t len;

    if (!exec_parse_int(ctx, argv[2], lens[2], &start) ||
        !exec_parse_int(ctx, argv[3], lens[3], &end))
        return;
    e = exec_lookup_read(ctx, argv[1], lens[1]);
    len = e != NULL ? (int64_t)e->value_len : 0;
    if (start < 0 && end < 0 && start > end)
        len = 0;
    if (start < 0)
        start = start + len < 0 ? 0 : start + len;
    if (end < 0)
        end = end + len < 0 ? 0 : end + len;
    if (end >= len)
        end = len - 1;
    if (len == 0 || start > end) {
        resp_bulk(ctx->reply, "", 0);
        return;
    }
    resp_bulk(ctx->reply, e->value + start, (size_t)(end - start + 1));
}
