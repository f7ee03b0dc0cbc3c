/* Relaying commands from a follower to the leader.
 *
 * One pipelined connection (hiredis on the loop) to the leader's client
 * address carries every relayed command of this node; replies come back in
 * order and are turned back into RESP bytes for the waiting client.
 *
 * A relayed command never waits on a leader that is gone or silent: the
 * connection is dropped, answering every command on it at once, when the
 * leader changes (forwarder_retarget) or when the oldest command on it has
 * had no reply for the request timeout (forwarder_expire). */

#ifndef CASHE_FORWARD_H
#define CASHE_FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster.h"

struct forwarder;

struct forwarder *forwarder_new(uv_loop_t *loop, const char *password);

/* Drop the connection (see forwarder_retarget) and free @f. */
void forwarder_free(struct forwarder *f);

/* Relay a command to the leader at @addr ("host:port"), connecting as
 * needed. done(arg, CLUSTER_OK, reply) brings the leader's reply;
 * CLUSTER_UNKNOWN means the connection was lost or dropped with the command
 * sent, CLUSTER_NOT_LEADER that it was not sent (the connection never
 * came up). Returns CLUSTER_OK when the command is on its way; done() then
 * fires exactly once. Returns CLUSTER_NOT_LEADER, without calling done(),
 * when it cannot be sent now: no connection could be started, or the
 * connection went to another address and was just dropped (the commands
 * it had not sent are completed first, so a retry keeps their order). */
int forwarder_send(struct forwarder *f, const char *addr, int argc,
                   const char **argv, const size_t *lens, cluster_done_fn done,
                   void *arg);

/* Drop the connection if it goes anywhere but @addr (the leader moved;
 * NULL: this node leads, or nothing should be relayed). Its commands
 * complete before this returns, as forwarder_send() describes: sent ones
 * with CLUSTER_UNKNOWN, the rest with CLUSTER_NOT_LEADER. */
void forwarder_retarget(struct forwarder *f, const char *addr);

/* Drop the connection, as forwarder_retarget() does, when its oldest
 * command was sent @timeout_us ago or more and has no reply yet: a leader
 * cut off by the network or stopped (SIGSTOP) answers nothing, and TCP
 * alone would take many minutes to tell. Called periodically. */
void forwarder_expire(struct forwarder *f, uint64_t timeout_us);

#endif /* CASHE_FORWARD_H */
