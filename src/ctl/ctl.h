/* cashectl: the operator's command-line client of cashed.
 *
 * One synchronous hiredis connection to one node (its Unix socket by
 * default, or a TCP endpoint with AUTH), one subcommand per run. Every
 * failure is reported once, on stderr, by the function that decides it is a
 * failure, with what to do about it; the exit status tells scripts which
 * kind of failure it was. */

#ifndef CASHE_CTL_H
#define CASHE_CTL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses, documented in cashectl(1). */
enum ctl_exit {
    CTL_OK = 0,
    CTL_FAILED = 1,      /* anything else */
    CTL_USAGE = 2,       /* bad command line */
    CTL_NOT_FOUND = 3,   /* no such key, member or directory */
    CTL_UNAVAILABLE = 4, /* no connection, no leader, node stopping */
};

/* Options that only some subcommands take: each subcommand lists those it
 * accepts, and any other one given is a usage error. */
enum ctl_opt {
    CTL_OPT_RECURSIVE = 1u << 0, /* -r */
    CTL_OPT_FILE = 1u << 1,      /* --file */
    CTL_OPT_TTL = 1u << 2,       /* --ttl */
    CTL_OPT_CLEAR = 1u << 3,     /* --clear */
    CTL_OPT_FORCE = 1u << 4,     /* --force */
    CTL_OPT_COUNT = 1u << 5,     /* --count */
};

struct ctl {
    /* Where to connect: exactly one of socket and endpoint is used. */
    const char *socket;   /* --socket, or resolved from the instance */
    const char *instance; /* -i; default "raft0" */
    const char *endpoint; /* --endpoint host:port */
    const char *password; /* --password or $CASHE_PASSWORD; TCP only */
    double timeout_s;     /* per reply; 0: wait for ever */
    bool json;

    unsigned opts_given; /* enum ctl_opt bits */
    bool recursive;
    const char *file;
    int64_t ttl_s;
    bool clear;
    bool force;
    int64_t count;

    char target[300]; /* what we talk to, for messages */
    redisContext *rc;
};

/* A subcommand: @argv holds its arguments after its name(s). Returns an
 * exit status, having reported any failure. */
typedef int (*ctl_cmd_fn)(struct ctl *c, int argc, char **argv);

/* ---- connection (conn.c) ------------------------------------------------ */

/* Connect to the node the options name. Returns CTL_OK or a failure
 * status, reported. */
int ctl_connect(struct ctl *c);

/* Connect to another node by its client address ("host:port"), with the
 * same password and timeout. NULL, with a reason in @why, on failure. */
redisContext *ctl_connect_addr(const struct ctl *c, const char *addr, char *why,
                               size_t why_len);

void ctl_disconnect(struct ctl *c);

/* Run one command on the connection. Returns the reply, or NULL after
 * reporting the failure (lost connection, or an error reply) with the exit
 * status it maps to in *@status. The caller frees the reply. */
redisReply *ctl_run(struct ctl *c, int argc, const char **argv,
                    const size_t *lens, int *status);

/* ctl_run for NUL-terminated arguments, ending with NULL. */
redisReply *ctl_call(struct ctl *c, int *status, const char *arg, ...)
    __attribute__((sentinel));

/* The exit status an error reply maps to, and a hint for the operator
 * (never NULL, may be ""). */
int ctl_error_status(const char *err, const char **hint);

/* Report a failure: "cashectl: " + message on stderr. Returns @status. */
int ctl_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report a reply of a type the command never returns. */
int ctl_bad_reply(const char *what);

/* ---- output (output.c) ----------------------------------------------------
 */

/* A JSON string: control characters escaped, bytes that are not valid
 * UTF-8 written as \u00XX of the byte (so binary keys survive as
 * Latin-1). */
void json_str(FILE *f, const char *s, size_t len);

/* A byte string for people: printable as is, otherwise with C escapes. */
void human_str(FILE *f, const char *s, size_t len);

/* "1.5 MiB" and the like. */
void human_bytes(char *out, size_t len, unsigned long long bytes);

/* A plain text table: columns as wide as their widest cell. */
#define TABLE_COLS 8

struct table {
    size_t cols; /* at most TABLE_COLS */
    size_t rows;
    char **cells; /* rows x cols, owned */
    size_t width[TABLE_COLS];
};

/* Add a row of t->cols cells (copied). */
void table_row(struct table *t, const char *const *cells);

/* Print the table and free its cells. */
void table_print(struct table *t);

/* ---- INFO text (infotext.c) --------------------------------------------- */

struct info_field {
    char *key;
    char *value;
};

struct info {
    struct info_field *v;
    size_t n;
};

/* Split INFO's "key:value" lines; section headers and blanks are skipped. */
void info_parse(struct info *info, const char *text, size_t len);
void info_free(struct info *info);

/* The value of @key, or NULL. */
const char *info_get(const struct info *info, const char *key);
unsigned long long info_get_ull(const struct info *info, const char *key);

/* Field @name of a "k=v,k=v" value, copied into @out. False if absent. */
bool info_subfield(const char *value, const char *name, char *out, size_t len);

/* ---- the member table (cmd_cluster.c) ----------------------------------- */

/* CASHE MEMBERS: one array per member of these string fields. */
#define MEMBER_FIELDS 7
enum { M_NAME, M_ID, M_RAFT, M_CLIENT, M_ROLE, M_RAFT_ROLE, M_LEADER };

/* The member table, its shape checked; NULL after reporting a failure. */
redisReply *ctl_members(struct ctl *c, int *status);
const char *ctl_member_field(const redisReply *m, int i);

/* ---- subcommands -------------------------------------------------------- */

int ctl_get(struct ctl *c, int argc, char **argv);
int ctl_put(struct ctl *c, int argc, char **argv);
int ctl_del(struct ctl *c, int argc, char **argv);
int ctl_ls(struct ctl *c, int argc, char **argv);
int ctl_ttl(struct ctl *c, int argc, char **argv);
int ctl_watch(struct ctl *c, int argc, char **argv);

int ctl_member(struct ctl *c, int argc, char **argv);
int ctl_leader(struct ctl *c, int argc, char **argv);
int ctl_status(struct ctl *c, int argc, char **argv);

int ctl_snapshot(struct ctl *c, int argc, char **argv);

#endif /* CASHE_CTL_H */
