/* Keyspace notifications over SUBSCRIBE and PSUBSCRIBE, as redis publishes
 * them: for each change to a key, "<event>" on "__keyspace@0__:<key>" and
 * "<key>" on "__keyevent@0__:<event>". Every node publishes the changes it
 * applies, so a subscriber on any node sees every change of the cluster.
 * Unlike redis, publishing is always on: there is no notify-keyspace-events
 * setting to turn it off, and it costs nothing without subscribers. After
 * FLUSHALL or a snapshot install, which replace keys wholesale, every
 * subscriber is disconnected rather than left with a partial picture. */

#ifndef CASHE_PUBSUB_H
#define CASHE_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

#include "exec.h"
#include "util.h"

struct conn;
struct server;

/* SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, and PING while
 * subscribed: replies appended to @r. */
void pubsub_command(struct conn *c, const struct cmd_spec *cmd, int argc,
                    const char **argv, const size_t *lens, struct buf *r);

/* True when @c is subscribed to anything: it may then only (un)subscribe,
 * PING, QUIT or RESET. */
bool pubsub_active(const struct conn *c);

/* The fsm's notify hook; @arg is the server. */
void pubsub_notify(void *arg, const char *event, const char *key,
                   size_t key_len);

/* Forget @c's subscriptions (it is closing). */
void pubsub_drop(struct conn *c);

#endif /* CASHE_PUBSUB_H */
