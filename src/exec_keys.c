/* Commands on keys whatever their value: DEL, EXISTS, TYPE, the expiry
 * family, RENAME, DBSIZE and FLUSHALL. */

#include <string.h>

#include "exec_internal.h"
#include "resp.h"

void exec_del(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens)
{
    int64_t deleted = 0;

    for (int i = 1; i < argc; i++) {
        if (exec_lookup_write(ctx, argv[i], lens[i]) == NULL)
            continue;
        store_del(ctx->store, argv[i], lens[i]);
        exec_notify(ctx, "del", argv[i], lens[i]);
        deleted++;
    }
    resp_int(ctx->reply, deleted);
}

/* A key named twice counts twice, as in redis. */
void exec_exists(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    int64_t found = 0;

    for (int i = 1; i < argc; i++) {
        if (exec_lookup_read(ctx, argv[i], lens[i]) != NULL)
            found++;
    }
    resp_int(ctx->reply, found);
}

void exec_type(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    bool found = exec_lookup_read(ctx, argv[1], lens[1]) != NULL;

    resp_simple(ctx->reply, found ? "string" : "none");
}

/* -2 for no key, -1 for no expiry, else the time left; seconds round to
 * the nearest. */
static void ttl_generic(struct exec_ctx *ctx, const char **argv,
                        const size_t *lens, bool in_ms)
{
    const struct store_entry *e = exec_lookup_read(ctx, argv[1], lens[1]);
    int64_t left;

    if (e == NULL) {
        resp_int(ctx->reply, -2);
        return;
    }
    if (e->expire_ms == 0) {
        resp_int(ctx->reply, -1);
        return;
    }
    left = e->expire_ms - ctx->now_ms;
    if (left < 0)
        left = 0;
    resp_int(ctx->reply, in_ms ? left : (left + 500) / 1000);
}

void exec_ttl(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens)
{
    ttl_generic(ctx, argv, lens, false);
}

void exec_pttl(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens)
{
    ttl_generic(ctx, argv, lens, true);
}

static void expiretime_generic(struct exec_ctx *ctx, const char **argv,
                               const size_t *lens, bool in_ms)
{
    const struct store_entry *e = exec_lookup_read(ctx, argv[1], lens[1]);

    if (e == NULL)
        resp_int(ctx->reply, -2);
    else if (e->expire_ms == 0)
        resp_int(ctx->reply, -1);
    else
        resp_int(ctx->reply, in_ms ? e->expire_ms : e->expire_ms / 1000);
}

void exec_expiretime(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens)
{
    expiretime_generic(ctx, argv, lens, false);
}

void exec_pexpiretime(struct exec_ctx *ctx, int argc, const char **argv,
                      const size_t *lens)
{
    expiretime_generic(ctx, argv, lens, true);
}

enum {
    EXPIRE_NX = 1u << 0,
    EXPIRE_XX = 1u << 1,
    EXPIRE_GT = 1u << 2,
    EXPIRE_LT = 1u << 3,
};

static bool parse_expire_opts(struct exec_ctx *ctx, int argc, const char **argv,
                              const size_t *lens, unsigned *flags)
{
    static const char *const names[] = {"nx", "xx", "gt", "lt"};
    unsigned f = 0;

    for (int i = 3; i < argc; i++) {
        size_t n = 0;

        while (n < ARRAY_SIZE(names) &&
               !exec_arg_is(argv[i], lens[i], names[n]))
            n++;
        if (n == ARRAY_SIZE(names)) {
            exec_reply_error_quoting(ctx, "ERR Unsupported option ", argv[i],
                                     lens[i]);
            return false;
        }
        f |= 1u << n;
    }
    if ((f & EXPIRE_NX) && (f & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
        resp_error(ctx->reply, "ERR NX and XX, GT or LT options at the same "
                               "time are not compatible");
        return false;
    }
    if ((f & EXPIRE_GT) && (f & EXPIRE_LT)) {
        resp_error(ctx->reply,
                   "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    *flags = f;
    return true;
}

/* The absolute time in ms that argv[2] names, relative to @base_ms. Negative
 * values are allowed (they expire the key); overflow is an error. */
static bool expire_when(struct exec_ctx *ctx, const char *name,
                        const char **argv, const size_t *lens, int64_t base_ms,
                        bool in_seconds, int64_t *when)
{
    int64_t t;

    if (!exec_parse_int(ctx, argv[2], lens[2], &t))
        return false;
    if (in_seconds) {
        if (t > INT64_MAX / 1000 || t < INT64_MIN / 1000)
            goto invalid;
        t *= 1000;
    }
    if ((base_ms > 0 && t > INT64_MAX - base_ms) ||
        (base_ms < 0 && t < INT64_MIN - base_ms))
        goto invalid;
    *when = t + base_ms;
    return true;

invalid:
    exec_reply_bad_expire(ctx, name);
    return false;
}

/* Whether NX, XX, GT or LT let a new expiry replace @current (0: none,
 * which GT and LT treat as infinitely far). */
static bool expire_allowed(unsigned flags, int64_t current, int64_t when)
{
    if ((flags & EXPIRE_NX) && current != 0)
        return false;
    if ((flags & EXPIRE_XX) && current == 0)
        return false;
    if ((flags & EXPIRE_GT) && (current == 0 || when <= current))
        return false;
    if ((flags & EXPIRE_LT) && current != 0 && when >= current)
        return false;
    return true;
}

/* A time already past deletes the key: replicas agree on it because
 * now_ms is the entry's time. */
static void expire_generic(struct exec_ctx *ctx, const char *name, int argc,
                           const char **argv, const size_t *lens,
                           int64_t base_ms, bool in_seconds)
{
    const struct store_entry *e;
    unsigned flags;
    int64_t when;

    if (!parse_expire_opts(ctx, argc, argv, lens, &flags) ||
        !expire_when(ctx, name, argv, lens, base_ms, in_seconds, &when))
        return;
    e = exec_lookup_write(ctx, argv[1], lens[1]);
    if (e == NULL || !expire_allowed(flags, e->expire_ms, when)) {
        resp_int(ctx->reply, 0);
        return;
    }
    if (when <= ctx->now_ms) {
        store_del(ctx->store, argv[1], lens[1]);
        exec_notify(ctx, "del", argv[1], lens[1]);
    } else {
        store_set_expire(ctx->store, argv[1], lens[1], when, ctx->rev,
                         ctx->now_ms);
        exec_notify(ctx, "expire", argv[1], lens[1]);
    }
    resp_int(ctx->reply, 1);
}

void exec_expire(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    expire_generic(ctx, "expire", argc, argv, lens, ctx->now_ms, true);
}

void exec_pexpire(struct exec_ctx *ctx, int argc, const char **argv,
                  const size_t *lens)
{
    expire_generic(ctx, "pexpire", argc, argv, lens, ctx->now_ms, false);
}

void exec_expireat(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    expire_generic(ctx, "expireat", argc, argv, lens, 0, true);
}

void exec_pexpireat(struct exec_ctx *ctx, int argc, const char **argv,
                    const size_t *lens)
{
    expire_generic(ctx, "pexpireat", argc, argv, lens, 0, false);
}

void exec_persist(struct exec_ctx *ctx, int argc, const char **argv,
                  const size_t *lens)
{
    const struct store_entry *e = exec_lookup_write(ctx, argv[1], lens[1]);

    if (e == NULL || e->expire_ms == 0) {
        resp_int(ctx->reply, 0);
        return;
    }
    store_set_expire(ctx->store, argv[1], lens[1], 0, ctx->rev, ctx->now_ms);
    exec_notify(ctx, "persist", argv[1], lens[1]);
    resp_int(ctx->reply, 1);
}

/* The destination becomes a new key (create_rev is this revision, version
 * 1) with the source's value and expiry; an existing destination is
 * replaced. Returns false when RENAMENX found the destination taken. */
static bool rename_generic(struct exec_ctx *ctx, const char **argv,
                           const size_t *lens, bool nx)
{
    const struct store_entry *src;

    if (exec_lookup_write(ctx, argv[2], lens[2]) != NULL) {
        if (nx)
            return false;
        store_del(ctx->store, argv[2], lens[2]);
    }
    /* Looked up again: the deletion above may have moved entries. */
    src = store_get(ctx->store, argv[1], lens[1]);
    store_set(ctx->store, argv[2], lens[2], src->value, src->value_len,
              src->expire_ms, ctx->rev, ctx->now_ms);
    store_del(ctx->store, argv[1], lens[1]);
    exec_notify(ctx, "rename_from", argv[1], lens[1]);
    exec_notify(ctx, "rename_to", argv[2], lens[2]);
    return true;
}

static void rename_command(struct exec_ctx *ctx, const char **argv,
                           const size_t *lens, bool nx)
{
    bool same = lens[1] == lens[2] && memcmp(argv[1], argv[2], lens[1]) == 0;
    bool done;

    if (exec_lookup_write(ctx, argv[1], lens[1]) == NULL) {
        resp_error(ctx->reply, "ERR no such key");
        return;
    }
    done = !same && rename_generic(ctx, argv, lens, nx);
    if (nx)
        resp_int(ctx->reply, done ? 1 : 0);
    else
        resp_simple(ctx->reply, "OK");
}

void exec_rename(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    rename_command(ctx, argv, lens, false);
}

void exec_renamenx(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    rename_command(ctx, argv, lens, true);
}

/* Counts expired entries not deleted yet, as redis's DBSIZE does. */
void exec_dbsize(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens)
{
    resp_int(ctx->reply, (int64_t)store_count(ctx->store));
}

/* FLUSHALL and FLUSHDB: one database, so the same thing. ASYNC and SYNC are
 * accepted and mean nothing here. */
void exec_flushall(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens)
{
    if (argc > 2 || (argc == 2 && !exec_arg_is(argv[1], lens[1], "async") &&
                     !exec_arg_is(argv[1], lens[1], "sync"))) {
        resp_error(ctx->reply, EXEC_ERR_SYNTAX);
        return;
    }
    store_clear(ctx->store);
    /* No event per key, as redis; "flushall" with no key tells the node's
     * subscribers that everything they cached is gone. */
    if (ctx->notify != NULL)
        ctx->notify(ctx->notify_arg, "flushall", "", 0);
    resp_simple(ctx->reply, "OK");
}
