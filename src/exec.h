/* The command table and the keyspace semantics of every data command.
 *
 * exec_* functions are pure: they read and change a store, using only the
 * time and revision they are given, and append a RESP reply to a buffer. The
 * same function runs a write on every replica when its log entry is applied
 * (time = the leader's stamp in the entry) and a read on the node that serves
 * it (time = the local clock). Reads never change the store: an expired key
 * simply reads as absent. Writes treat an expired key as absent and may
 * delete it, which is deterministic because their time comes from the entry.
 *
 * Connection-level commands (PING, AUTH, CLIENT, INFO...) and cluster
 * administration are in the table, for COMMAND and for arity checks, but have
 * no exec function: the server runs them. */

#ifndef CASHE_EXEC_H
#define CASHE_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define CMD_WRITE    (1u << 0) /* changes the keyspace; goes through Raft */
#define CMD_READ     (1u << 1) /* reads the keyspace */
#define CMD_CONN     (1u << 2) /* run by the connection, never forwarded */
#define CMD_ADMIN    (1u << 3) /* cluster administration (CASHE ...) */
#define CMD_NOAUTH   (1u << 4) /* allowed before AUTH */
#define CMD_NOSCRIPT (1u << 5) /* for COMMAND output only */

/* The hard ceiling on a value a write can build (APPEND, SETRANGE), the same
 * on every replica whatever its configuration: 512 MiB, as redis. Configured,
 * lower limits are checked before a command is proposed. */
#define EXEC_MAX_VALUE ((size_t)512 * 1024 * 1024)

/* Where SCAN keeps its cursors: node-local, bounded, oldest dropped first. */
struct scan_cursors;
struct scan_cursors *scan_cursors_new(size_t max);
void scan_cursors_free(struct scan_cursors *c);

/* A keyspace event: @event is redis's name ("set", "del", "expire",
 * "expired", "rename_from", "rename_to", "incrby", "append", ...). */
typedef void (*exec_notify_fn)(void *arg, const char *event, const char *key,
                               size_t key_len);

struct exec_ctx {
    struct store *store;
    int64_t now_ms;    /* entry time (writes) or local clock */
    uint64_t rev;      /* revision a write stamps on what it changes */
    struct buf *reply; /* the RESP reply is appended here */
    struct scan_cursors *cursors; /* reads only: SCAN state, may be NULL */
    exec_notify_fn notify;        /* may be NULL */
    void *notify_arg;
};

typedef void (*exec_fn)(struct exec_ctx *ctx, int argc, const char **argv,
                        const size_t *lens);

struct cmd_spec {
    const char *name; /* lower case */
    int arity;        /* redis convention: N exactly, -N at least N */
    unsigned flags;
    int first_key; /* for COMMAND: positions of keys, 0 when none */
    int last_key;  /* -1: the last argument */
    int key_step;
    exec_fn exec; /* NULL for CMD_CONN and CMD_ADMIN commands */
};

/* Look a command up by name, case-insensitively. NULL when unknown. */
const struct cmd_spec *cmd_lookup(const char *name, size_t len);

/* The whole table, for COMMAND and COMMAND COUNT. */
const struct cmd_spec *cmd_table(size_t *n);

/* True when @argc fits the command's arity. */
bool cmd_arity_ok(const struct cmd_spec *cmd, int argc);

/* Run a data command (one with an exec function); argv[0] is its name. */
void exec_command(const struct cmd_spec *cmd, struct exec_ctx *ctx, int argc,
                  const char **argv, const size_t *lens);

/* Glob matching as redis's KEYS and SCAN MATCH do it (*, ?, [a-z], [^a],
 * backslash escapes), over binary-safe strings. */
bool glob_match(const char *pattern, size_t plen, const char *s, size_t slen);

#endif /* CASHE_EXEC_H */
