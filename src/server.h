/* The client-facing side of cashed: RESP over TCP and a Unix socket.
 *
 * Commands of one connection may be in flight together (pipelining); their
 * replies go out in the order the commands came in. A connection's writes
 * go through the leader's log; its reads wait for a commit that began after
 * them unless the connection is READONLY; a follower relays both to the
 * leader. */

#ifndef CASHE_SERVER_H
#define CASHE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster.h"
#include "config.h"
#include "exec.h"

struct conn;
struct slot;
struct forwarder;

struct server_stats {
    uint64_t connections_received;
    uint64_t connections_rejected;
    uint64_t commands_processed;
    uint64_t commands_forwarded;
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
};

struct server {
    uv_loop_t *loop;
    struct config *cfg;
    struct cluster *cluster;
    uv_tcp_t tcp;
    uv_pipe_t unix_sock;
    bool tcp_open;
    bool unix_open;
    uint64_t unix_dev, unix_ino; /* the socket file this node made */
    bool tcp_needs_auth;         /* the TCP listener is not on loopback */

    struct conn *conns;       /* every open connection */
    struct conn *subscribers; /* those subscribed to keyspace events */
    size_t n_conns;
    size_t n_unix_conns; /* those of n_conns on the Unix socket */
    uint64_t next_client_id;

    struct slot *waiting;     /* commands waiting for a leader to be known */
    uint64_t leader_stopping; /* raft id of a leader that answered SHUTDOWN */
    uv_timer_t timer;         /* their deadlines, and draining on stop */
    uv_check_t flush_check;   /* writes replies gathered in an iteration */
    struct conn *dirty;       /* connections with replies to write */
    struct forwarder *forwarder;
    struct scan_cursors *cursors;

    int64_t started_ms;
    struct server_stats stats;

    bool stopping;
    uint64_t stop_deadline_us;
    uint64_t stop_busy_us; /* a client last had a command or reply under way */
    void (*stopped)(void *arg);
    void *stopped_arg;
};

/* Bind the listeners given in @cfg (or taken over from systemd later) and
 * start serving. Returns 0 or -1 after logging why. */
int server_start(struct server *s, uv_loop_t *loop, struct config *cfg,
                 struct cluster *cluster);

/* Stop accepting connections and commands, let replies in flight go out (at
 * most @grace_ms), close every connection, then call @stopped. */
void server_stop(struct server *s, unsigned grace_ms,
                 void (*stopped)(void *arg), void *arg);

/* The cluster's role or leader changed: retry commands waiting for one. */
void server_role_changed(struct server *s);

/* Release what is left once the loop has stopped. */
void server_destroy(struct server *s);

#endif /* CASHE_SERVER_H */
