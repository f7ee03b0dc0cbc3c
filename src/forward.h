/* Relaying commands from a follower to the leader.
 *
 * One pipelined connection (hiredis on the loop) to the leader's client
 * address carries every relayed command of this node; replies come back in
 * order and are turned back into RESP bytes for the waiting client. */

#ifndef CASHE_FORWARD_H
#define CASHE_FORWARD_H

#include <stddef.h>
#include <uv.h>

#include "cluster.h"

struct forwarder;

struct forwarder *forwarder_new(uv_loop_t *loop, const char *password);

/* Close the connection; commands in flight complete with CLUSTER_UNKNOWN. */
void forwarder_free(struct forwarder *f);

/* Relay a command to the leader at @addr ("host:port"), connecting or
 * reconnecting as needed. done(arg, CLUSTER_OK, reply) brings the leader's
 * reply; CLUSTER_UNKNOWN means the connection was lost with the command
 * sent, CLUSTER_NOT_LEADER that it could not be sent. Returns CLUSTER_OK
 * when the command is on its way; done() then fires exactly once. */
int forwarder_send(struct forwarder *f, const char *addr, int argc,
                   const char **argv, const size_t *lens, cluster_done_fn done,
                   void *arg);

/* Drop the connection if it goes anywhere but @addr (the leader moved). */
void forwarder_retarget(struct forwarder *f, const char *addr);

#endif /* CASHE_FORWARD_H */
