/* Private to the exec module (exec.c, exec_string.c, exec_keys.c, glob.c):
 * the helpers the command implementations share, and the commands the
 * table in exec.c points at. Nothing outside exec*.c includes this. */

#ifndef CASHE_EXEC_INTERNAL_H
#define CASHE_EXEC_INTERNAL_H

#include "exec.h"

/* Reply texts shared by several commands, without the leading '-'. */
#define EXEC_ERR_SYNTAX  "ERR syntax error"
#define EXEC_ERR_NOT_INT "ERR value is not an integer or out of range"
#define EXEC_ERR_TOO_BIG                                                       \
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/* The entry for @key as a read sees it: NULL when absent or expired. */
const struct store_entry *exec_lookup_read(const struct exec_ctx *ctx,
                                           const char *key, size_t len);

/* The entry for @key as a write sees it: an expired entry is deleted first
 * (with an "expired" event) and reads as absent. */
const struct store_entry *exec_lookup_write(struct exec_ctx *ctx,
                                            const char *key, size_t len);

/* Report a keyspace event, when someone listens. */
void exec_notify(struct exec_ctx *ctx, const char *event, const char *key,
                 size_t len);

/* True when argument @arg (@len bytes) is @word, ignoring case. */
bool exec_arg_is(const char *arg, size_t len, const char *word);

/* Parse a signed 64-bit integer exactly as redis accepts one (so "-0", "+1",
 * " 1" and "01" are refused). Returns false after replying the error. */
bool exec_parse_int(struct exec_ctx *ctx, const char *s, size_t len,
                    int64_t *out);

/* The same check without a reply, for stored values. */
bool exec_str_to_i64(const char *s, size_t len, int64_t *out);

/* "-ERR invalid expire time in '<name>' command". */
void exec_reply_bad_expire(struct exec_ctx *ctx, const char *name);

/* An error that quotes client input: CR and LF become spaces, the quote
 * stops at a NUL and is capped, so the reply stays one valid line. */
void exec_reply_error_quoting(struct exec_ctx *ctx, const char *prefix,
                              const char *arg, size_t len);

/* Commands: exec_string.c. */
void exec_get(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens);
void exec_mget(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_strlen(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_getrange(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);
void exec_set(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens);
void exec_setnx(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens);
void exec_setex(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens);
void exec_psetex(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_getset(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_getdel(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_getex(struct exec_ctx *ctx, int argc, const char **argv,
                const size_t *lens);
void exec_mset(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_msetnx(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_incr(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_decr(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_incrby(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_decrby(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_incrbyfloat(struct exec_ctx *ctx, int argc, const char **argv,
                      const size_t *lens);
void exec_append(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_setrange(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);

/* Commands: exec_keys.c. */
void exec_del(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens);
void exec_exists(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_type(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_ttl(struct exec_ctx *ctx, int argc, const char **argv,
              const size_t *lens);
void exec_pttl(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_expiretime(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens);
void exec_pexpiretime(struct exec_ctx *ctx, int argc, const char **argv,
                      const size_t *lens);
void exec_expire(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_pexpire(struct exec_ctx *ctx, int argc, const char **argv,
                  const size_t *lens);
void exec_expireat(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);
void exec_pexpireat(struct exec_ctx *ctx, int argc, const char **argv,
                    const size_t *lens);
void exec_persist(struct exec_ctx *ctx, int argc, const char **argv,
                  const size_t *lens);
void exec_rename(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_renamenx(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);
void exec_keys(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_scan(struct exec_ctx *ctx, int argc, const char **argv,
               const size_t *lens);
void exec_dbsize(struct exec_ctx *ctx, int argc, const char **argv,
                 const size_t *lens);
void exec_flushall(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);

/* Commands: exec_fs.c, the directory view cashe-fuse uses. */
void exec_cashe_stat(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens);
void exec_cashe_ls(struct exec_ctx *ctx, int argc, const char **argv,
                   const size_t *lens);
void exec_cashe_renamedir(struct exec_ctx *ctx, int argc, const char **argv,
                          const size_t *lens);

/* Commands: exec_dump.c, the keyspace as one snapshot-format blob. */
void exec_cashe_dump(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens);

/* glob.c: the literal text every match of @pattern starts with, unescaped,
 * written to @prefix (which must hold @plen bytes); returns its length.
 * *@literal is set when the whole pattern is that text and nothing else. */
size_t glob_prefix(const char *pattern, size_t plen, char *prefix,
                   bool *literal);

#endif /* CASHE_EXEC_INTERNAL_H */
