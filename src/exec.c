/* The command table, dispatch, and the helpers every command shares. */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exec_internal.h"
#include "resp.h"

#define R CMD_READ
#define W CMD_WRITE
#define C CMD_CONN

/* Sorted by name: cmd_lookup() bisects it (a unit test checks the order). */
static const struct cmd_spec commands[] = {
    {"append", 3, W, 1, 1, 1, exec_append},
    {"auth", -2, C | CMD_NOAUTH | CMD_NOSCRIPT, 0, 0, 0, NULL},
    {"cashe", -2, CMD_ADMIN, 0, 0, 0, NULL},
    {"cashe.dump", 1, R, 0, 0, 0, exec_cashe_dump},
    {"cashe.ls", 4, R, 1, 1, 1, exec_cashe_ls},
    {"cashe.renamedir", -3, W, 1, 2, 1, exec_cashe_renamedir},
    {"cashe.stat", 2, R, 1, 1, 1, exec_cashe_stat},
    {"client", -2, C, 0, 0, 0, NULL},
    {"command", -1, C, 0, 0, 0, NULL},
    {"dbsize", 1, R, 0, 0, 0, exec_dbsize},
    {"decr", 2, W, 1, 1, 1, exec_decr},
    {"decrby", 3, W, 1, 1, 1, exec_decrby},
    {"del", -2, W, 1, -1, 1, exec_del},
    {"echo", 2, C, 0, 0, 0, NULL},
    {"exists", -2, R, 1, -1, 1, exec_exists},
    {"expire", -3, W, 1, 1, 1, exec_expire},
    {"expireat", -3, W, 1, 1, 1, exec_expireat},
    {"expiretime", 2, R, 1, 1, 1, exec_expiretime},
    {"flushall", -1, W, 0, 0, 0, exec_flushall},
    {"flushdb", -1, W, 0, 0, 0, exec_flushall},
    {"get", 2, R, 1, 1, 1, exec_get},
    {"getdel", 2, W, 1, 1, 1, exec_getdel},
    {"getex", -2, W, 1, 1, 1, exec_getex},
    {"getrange", 4, R, 1, 1, 1, exec_getrange},
    {"getset", 3, W, 1, 1, 1, exec_getset},
    {"hello", -1, C | CMD_NOAUTH | CMD_NOSCRIPT, 0, 0, 0, NULL},
    {"incr", 2, W, 1, 1, 1, exec_incr},
    {"incrby", 3, W, 1, 1, 1, exec_incrby},
    {"incrbyfloat", 3, W, 1, 1, 1, exec_incrbyfloat},
    {"info", -1, C, 0, 0, 0, NULL},
    {"keys", 2, R, 0, 0, 0, exec_keys},
    {"mget", -2, R, 1, -1, 1, exec_mget},
    {"mset", -3, W, 1, -1, 2, exec_mset},
    {"msetnx", -3, W, 1, -1, 2, exec_msetnx},
    {"persist", 2, W, 1, 1, 1, exec_persist},
    {"pexpire", -3, W, 1, 1, 1, exec_pexpire},
    {"pexpireat", -3, W, 1, 1, 1, exec_pexpireat},
    {"pexpiretime", 2, R, 1, 1, 1, exec_pexpiretime},
    {"ping", -1, C, 0, 0, 0, NULL},
    {"psetex", 4, W, 1, 1, 1, exec_psetex},
    {"psubscribe", -2, C, 0, 0, 0, NULL},
    {"pttl", 2, R, 1, 1, 1, exec_pttl},
    {"punsubscribe", -1, C, 0, 0, 0, NULL},
    {"quit", -1, C | CMD_NOAUTH | CMD_NOSCRIPT, 0, 0, 0, NULL},
    {"readonly", 1, C, 0, 0, 0, NULL},
    {"readwrite", 1, C, 0, 0, 0, NULL},
    {"rename", 3, W, 1, 2, 1, exec_rename},
    {"renamenx", 3, W, 1, 2, 1, exec_renamenx},
    {"scan", -2, R, 0, 0, 0, exec_scan},
    {"select", 2, C, 0, 0, 0, NULL},
    {"set", -3, W, 1, 1, 1, exec_set},
    {"setex", 4, W, 1, 1, 1, exec_setex},
    {"setnx", 3, W, 1, 1, 1, exec_setnx},
    {"setrange", 4, W, 1, 1, 1, exec_setrange},
    {"strlen", 2, R, 1, 1, 1, exec_strlen},
    {"subscribe", -2, C, 0, 0, 0, NULL},
    {"substr", 4, R, 1, 1, 1, exec_getrange},
    {"ttl", 2, R, 1, 1, 1, exec_ttl},
    {"type", 2, R, 1, 1, 1, exec_type},
    {"unlink", -2, W, 1, -1, 1, exec_del},
    {"unsubscribe", -1, C, 0, 0, 0, NULL},
};

#undef R
#undef W
#undef C

/* Longer than any name in the table. */
#define CMD_NAME_MAX 16

const struct cmd_spec *cmd_lookup(const char *name, size_t len)
{
    char lower[CMD_NAME_MAX];
    size_t lo = 0;
    size_t hi = ARRAY_SIZE(commands);

    if (len == 0 || len >= CMD_NAME_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        lower[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *cand = commands[mid].name;
        size_t cand_len = strlen(cand);
        int cmp = memcmp(lower, cand, len < cand_len ? len : cand_len);

        if (cmp == 0 && len != cand_len)
            cmp = len < cand_len ? -1 : 1;
        if (cmp == 0)
            return &commands[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct cmd_spec *cmd_table(size_t *n)
{
    *n = ARRAY_SIZE(commands);
    return commands;
}

bool cmd_arity_ok(const struct cmd_spec *cmd, int argc)
{
    if (cmd->arity >= 0)
        return argc == cmd->arity;
    return argc >= -cmd->arity;
}

void exec_command(const struct cmd_spec *cmd, struct exec_ctx *ctx, int argc,
                  const char **argv, const size_t *lens)
{
    /* The server checks both before it gets here; checking again keeps a
     * caller's slip from becoming an out-of-bounds read of argv. */
    if (cmd->exec == NULL) {
        resp_errorf(ctx->reply, "ERR '%s' is not a data command", cmd->name);
        return;
    }
    if (!cmd_arity_ok(cmd, argc)) {
        resp_errorf(ctx->reply,
                    "ERR wrong number of arguments for '%s' command",
                    cmd->name);
        return;
    }
    cmd->exec(ctx, argc, argv, lens);
}

const struct store_entry *exec_lookup_read(const struct exec_ctx *ctx,
                                           const char *key, size_t len)
{
    const struct store_entry *e = store_get(ctx->store, key, len);

    if (e == NULL || !store_live(e, ctx->now_ms))
        return NULL;
    return e;
}

const struct store_entry *exec_lookup_write(struct exec_ctx *ctx,
                                            const char *key, size_t len)
{
    const struct store_entry *e = store_get(ctx->store, key, len);

    if (e == NULL)
        return NULL;
    if (store_live(e, ctx->now_ms))
        return e;
    store_del(ctx->store, key, len);
    exec_notify(ctx, "expired", key, len);
    return NULL;
}

void exec_notify(struct exec_ctx *ctx, const char *event, const char *key,
                 size_t len)
{
    if (ctx->notify != NULL)
        ctx->notify(ctx->notify_arg, event, key, len);
}

bool exec_arg_is(const char *arg, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(arg, word, len) == 0;
}

bool exec_str_to_i64(const char *s, size_t len, int64_t *out)
{
    /* parse_i64 lets "-0" through; redis does not. */
    if (len == 2 && s[0] == '-' && s[1] == '0')
        return false;
    return parse_i64(s, len, out) == 0;
}

bool exec_parse_int(struct exec_ctx *ctx, const char *s, size_t len,
                    int64_t *out)
{
    if (exec_str_to_i64(s, len, out))
        return true;
    resp_error(ctx->reply, EXEC_ERR_NOT_INT);
    return false;
}

void exec_reply_bad_expire(struct exec_ctx *ctx, const char *name)
{
    resp_errorf(ctx->reply, "ERR invalid expire time in '%s' command", name);
}

/* Enough of the offending argument to recognise it. */
#define QUOTE_MAX 128

void exec_reply_error_quoting(struct exec_ctx *ctx, const char *prefix,
                              const char *arg, size_t len)
{
    char quote[QUOTE_MAX + 1];
    size_t n = 0;

    while (n < len && n < QUOTE_MAX && arg[n] != '\0') {
        quote[n] = arg[n] == '\r' || arg[n] == '\n' ? ' ' : arg[n];
        n++;
    }
    quote[n] = '\0';
    resp_errorf(ctx->reply, "%s%s", prefix, quote);
}
