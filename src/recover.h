/* cashed --recover: the way out after a cluster lost its quorum for good.
 *
 * With most voters gone (disks lost, machines destroyed), the survivors can
 * never elect a leader again. --recover, run once on a stopped survivor,
 * appends a Raft configuration entry to that node's own log naming it the
 * only voter; started normally afterwards, it elects itself and serves
 * everything its log holds. The others join it again as new nodes. */

#ifndef CASHE_RECOVER_H
#define CASHE_RECOVER_H

#include "config.h"

/* Rewrite the Raft configuration in @cfg's data directory so that this node
 * is its only voter, then return. The node must not be running. Returns 0,
 * or -1 after printing why to stderr. */
int recover_run(const struct config *cfg);

#endif /* CASHE_RECOVER_H */
