/* TCP_NODELAY on the Raft transport's connections.
 *
 * canonical/raft's TCP transport leaves Nagle's algorithm on. A small
 * AppendEntries sent while the previous one is unacknowledged then waits
 * for the peer's delayed ACK, about 40 ms on Linux: that was the 99th
 * percentile of every replicated write. This wraps a transport's listen and
 * connect so that each stream it hands to the library has Nagle off. */

#ifndef CASHE_NODELAY_H
#define CASHE_NODELAY_H

#include <raft/uv.h>

/* Wrap @t (once, before raft_uv_init()). One transport per process. */
void nodelay_wrap(struct raft_uv_transport *t);

#endif /* CASHE_NODELAY_H */
