/* Shared between the cluster's source files; not part of its contract. */

#ifndef CASHE_CLUSTER_INTERNAL_H
#define CASHE_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

/* Propose an entry of any codec type (cluster_propose is CODEC_COMMAND). */
int cluster_propose_entry(struct cluster *c, uint8_t type, int argc,
                          const char **argv, const size_t *lens,
                          cluster_done_fn done, void *arg);

/* Append a barrier; done(arg, status, NULL) once it applied. */
int cluster_barrier(struct cluster *c, cluster_done_fn done, void *arg);

/* Leader only: make the member table agree with this node's own addresses. */
void cluster_self_check(struct cluster *c);

/* Joining node: ask --leaderaddr to add us until the member table shows
 * us as a voter. */
void join_tick(struct cluster *c);
void join_close(struct cluster *c);

/* Load the log of an existing data directory in a child process first.
 * Returns -1, after logging why, when the library crashed loading it. */
int cluster_probe_log(struct config *cfg, uint64_t id);

/* Whether a voter other than this node is in the configuration: someone to
 * hand leadership to. */
bool cluster_has_other_voter(const struct cluster *c);

/* Fail every queued administration request (stop). */
void admin_abort(struct cluster *c);

#endif /* CASHE_CLUSTER_INTERNAL_H */
