/* The server's connections and reply slots; shared by its source files. */

#ifndef CASHE_SERVER_INTERNAL_H
#define CASHE_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "exec.h"
#include "resp.h"
#include "server.h"
#include "util.h"

/* Stop reading from a client while this many reply bytes wait for it. */
#define CONN_OUTPUT_PAUSE (1024 * 1024)
/* ...or while this many of its commands are unanswered. */
#define CONN_PENDING_PAUSE 4096

/* One command's place in its connection's reply order. */
enum slot_state {
    SLOT_DONE,     /* reply holds the answer */
    SLOT_FLIGHT,   /* a completion callback will fill it */
    SLOT_DEFERRED, /* a local read to run once every slot before it is done */
    SLOT_WAITING,  /* on the server's list until a leader is known */
};

/* Slots in flight or waiting hold a reference on their connection, which a
 * closed connection keeps until they complete. Deferred and waiting slots
 * own copies of their arguments. */
struct slot {
    struct slot *next;      /* in the connection's reply order */
    struct slot *wait_next; /* in the server's waiting-for-leader list */
    struct conn *conn;
    enum slot_state state;
    struct buf reply;
    size_t held; /* reply bytes counted in the connection's held */

    const struct cmd_spec *cmd;
    int argc;
    char **argv; /* copies, when the command outlives the input buffer */
    size_t *lens;
    uint64_t deadline_us; /* waiting for a leader until then */
    uint64_t sent_to;     /* raft id of the leader it was relayed to */
};

struct conn {
    union {
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct server *srv;
    struct conn *prev, *next; /* all connections */
    struct conn *dirty_next;  /* connections with output to write */
    bool dirty;
    uint64_t id;
    char *name; /* CLIENT SETNAME */
    char addr[64];
    bool is_unix;
    bool authed;
    bool readonly;  /* READONLY: reads served locally */
    bool from_peer; /* a member relaying: never forward again */
    bool reading;
    bool closing;
    bool close_after_write; /* QUIT, or a protocol error */
    unsigned refs;          /* the handle, plus one per slot in flight */

    struct buf in;
    struct resp_parser parser;
    struct slot *head, *tail; /* replies not yet moved to out */
    unsigned pending;         /* slots not done */
    size_t held;              /* reply bytes of completed slots */
    struct buf out;           /* replies ready to write */
    struct buf writing;       /* the bytes of the write in flight */
    bool write_in_flight;
    uv_write_t wreq;

    struct subscription *subs; /* SUBSCRIBE / PSUBSCRIBE, see pubsub.c */
    size_t n_subs;
    struct conn *sub_prev, *sub_next; /* the server's subscribers */

    int64_t created_ms;
    const char *last_cmd;
    uint64_t last_cmd_at; /* uv_now() when it last sent a command */
};

/* server.c */
void conn_mark_dirty(struct conn *c);
/* The address a client reached, as CLIENT LIST writes it: host:port, or
 * for the Unix socket its path with port 0. */
void conn_local_addr(const struct conn *c, char *out, size_t size);

/* Limits on what a client that has not logged in may send (redis's). */
#define UNAUTH_MAX_ARGS 10
#define UNAUTH_MAX_BULK 16384

/* The client gave the password: lift the limits for unauthenticated
 * clients to the configured ones. */
void conn_authenticated(struct conn *c);
void conn_close(struct conn *c);
void conn_unref(struct conn *c);
void conn_process_input(struct conn *c);
size_t conn_unanswered(const struct conn *c);

/* dispatch.c: run one parsed command of @c. */
void dispatch_command(struct conn *c, int argc, const char **argv,
                      const size_t *lens);
/* Move finished replies to the output, running deferred slots that have
 * reached the front. */
void slots_advance(struct conn *c);
void slot_free(struct slot *s);
/* Where a reply ready now goes to come after those still pending. */
struct buf *dispatch_ready_reply(struct conn *c);
/* Retry or expire commands waiting for a leader. */
void dispatch_retry_waiting(struct server *s);

/* conncmd.c: commands the connection answers itself. */
void conncmd_run(struct conn *c, const struct cmd_spec *cmd, int argc,
                 const char **argv, const size_t *lens, struct buf *reply);
/* CASHE ...: answered into @reply, gone asynchronous (completing @slot
 * through admin_done), or to be relayed to the leader. */
enum admin_result { ADMIN_REPLIED, ADMIN_ASYNC, ADMIN_FORWARD };
enum admin_result admin_run(struct conn *c, struct slot *slot, int argc,
                            const char **argv, const size_t *lens,
                            struct buf *reply);
void admin_done(void *arg, int status, const struct buf *reply);

/* info.c */
void info_render(struct server *s, const char *section, struct buf *out);
void members_render(struct server *s, struct buf *out);

#endif /* CASHE_SERVER_INTERNAL_H */
