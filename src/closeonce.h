/* The Raft I/O's close callback, delivered once.
 *
 * canonical/raft 0.15's libuv I/O can report its close as done twice: once
 * the last pending disk request finishes it calls the callback, and a
 * request that completes after that calls it again. The library's callback
 * then frees the in-memory log a second time, and the process crashes on
 * its way out (seen on tmpfs, where log writes go through the thread pool,
 * in about one stop in five). This wraps an I/O's close so that the
 * library's callback runs the first time only. */

#ifndef CASHE_CLOSEONCE_H
#define CASHE_CLOSEONCE_H

#include <raft.h>

/* Wrap @io (after raft_uv_init()). One Raft I/O per process. */
void closeonce_wrap(struct raft_io *io);

#endif /* CASHE_CLOSEONCE_H */
