/* cashed's configuration: defaults, the INI file (through libinih) and the
 * command line, in that order of precedence, lowest first.
 *
 * Every option has one name, used both as the long flag (--raftaddr) and as
 * the key in the file's [cashed] section (raftaddr = :4000). Flags take
 * "--name=value" and "--name value". Nothing here touches the network or
 * the data directory: config_finish() only derives and checks values. */

#ifndef CASHE_CONFIG_H
#define CASHE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A host:port as given and as resolved for binding and advertising. */
struct config_addr {
    char host[256]; /* "" when the input had none (":3000") */
    unsigned port;
};

struct config {
    char *id;                 /* node name; default "raft0" */
    char *listenaddr;         /* client TCP address; default ":3000" */
    char *raftaddr;           /* Raft address; default ":4000" */
    char *leaderaddr;         /* client address of a member to join; NULL */
    char *advertise_addr;     /* client address others use; derived if NULL */
    char *advertise_raftaddr; /* Raft address others use; derived if NULL */
    char *data_dir;           /* default "./cashe-data/<id>" */
    char *unix_socket;        /* default "/tmp/cashe-<id>.sock"; "" disables */
    char *password;           /* AUTH password; NULL (or ""): none */
    char *log_level;          /* "debug", "info", "notice" (default),
                                 "warning", "error" */
    char *config_file;        /* the file read, if any */

    unsigned election_timeout_ms;  /* default 1000 */
    unsigned heartbeat_timeout_ms; /* default 100 */
    unsigned snapshot_threshold;   /* entries between snapshots; 8192 */
    unsigned snapshot_trailing;    /* entries kept after one; 4096 */
    unsigned request_timeout_ms;   /* bounded wait for a leader; 5000 */

    uint64_t max_key_size;      /* bytes; default 64 KiB */
    uint64_t max_value_size;    /* bytes; default 8 MiB */
    uint64_t max_args;          /* arguments per command; default 65536 */
    uint64_t max_client_buffer; /* unanswered bytes per client; 64 MiB */
    uint64_t max_clients;       /* default 10000 */
    uint64_t min_free_space;    /* bytes kept free in the data dir; 64 MiB */

    /* Derived by config_finish(). */
    struct config_addr listen;  /* where the client port binds */
    struct config_addr raft;    /* where the Raft port binds */
    char advertise_client[300]; /* "host:port" */
    char advertise_raft[300];   /* "host:port" */

    bool help;
    bool version;
    bool recover; /* --recover: make this stopped node the only voter */
};

/* Fill @c with the defaults. */
void config_init(struct config *c);
void config_free(struct config *c);

/* Set option @name (a long flag name without dashes, or a file key) to
 * @value. Returns 0, or -ENOENT for an unknown name, -EINVAL for a bad
 * value, with a message in @err. */
int config_set(struct config *c, const char *name, const char *value, char *err,
               size_t err_len);

/* Parse the command line. --config FILE is read first, wherever it appears,
 * so flags override the file. Returns 0 or -EINVAL with a message (naming
 * the file, line and key for errors in the file) in @err. */
int config_parse_args(struct config *c, int argc, char **argv, char *err,
                      size_t err_len);

/* Read an INI file into @c: keys in a [cashed] section or before any
 * section, '-' and '_' alike; indentation is ignored (no continuation
 * lines). Stops at the first error. Returns 0, -errno
 * when the file cannot be opened, or -EINVAL/-EIO with "path:line: reason"
 * in @err. */
int config_load_file(struct config *c, const char *path, char *err,
                     size_t err_len);

/* Derive defaults that depend on other options (data dir, socket path,
 * advertised addresses) and check the whole. An empty bind host becomes
 * 127.0.0.1; a wildcard one is advertised as the first non-loopback IPv4
 * address (the one lookup of the machine's state here). Returns 0 or
 * -EINVAL. */
int config_finish(struct config *c, char *err, size_t err_len);

/* Split "host:port", ":port" or "[v6]:port". Returns 0 or -EINVAL. */
int config_parse_addr(const char *s, struct config_addr *a);

/* The --help text. */
void config_usage(FILE *f);

#endif /* CASHE_CONFIG_H */
