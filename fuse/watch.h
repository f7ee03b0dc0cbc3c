/* Cache coherence from keyspace events.
 *
 * A thread of its own, with its own connection to the node, follows
 * PSUBSCRIBE __keyspace@0__:* and turns each change of a key into
 * invalidations of the kernel's caches for the key's path: its attributes
 * and pages, and for creations and removals the directory entries that
 * appeared, vanished or changed type. While events flow the kernel may
 * cache for the mount's long attr_timeout and entry_timeout (60 s by
 * default). While they do not (the daemon restarts, the connection
 * breaks) the timeouts drop to at most WATCH_SHORT_TIMEOUT and every entry
 * reachable from the root is dropped, once when the events stop and again
 * when they flow again; the subscription is retried every
 * WATCH_RETRY_MS. docs/fuse.md states the bounds. */

#ifndef CASHE_FUSE_WATCH_H
#define CASHE_FUSE_WATCH_H

#include <stdbool.h>

#include "fs.h"

/* The kernel's cache timeouts without events, in seconds, at most. */
#define WATCH_SHORT_TIMEOUT 1.0
#define WATCH_RETRY_MS      500

/* Start the thread for the mount @fuse at @mountpoint (an absolute path).
 * Call once, after fuse_daemonize(): the thread does not survive a fork.
 * 0, or a negative errno when the thread cannot start. */
int watch_start(struct fuse *fuse, const char *mountpoint);

/* Stop the thread and wait for it. Call after fuse_unmount(), which ends
 * any request the thread may be waiting for, and before fuse_destroy(). */
void watch_stop(void);

/* From fs_init(): libfuse's configuration. Its timeouts as the options
 * set them are the long ones; the thread switches them from now on. */
void watch_attach_config(struct fuse_config *cfg);

/* True while the subscription is confirmed and events arrive. */
bool watch_live(void);

/* The kernel has just been told of @path ("/a/b"): remember its first
 * component, so that a lost subscription can drop everything below it. */
void watch_note(const char *path);

#endif /* CASHE_FUSE_WATCH_H */
