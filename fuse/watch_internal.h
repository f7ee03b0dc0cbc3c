/* Shared by watch.c (the subscription) and watch_inval.c (what an event
 * invalidates). */

#ifndef CASHE_FUSE_WATCH_INTERNAL_H
#define CASHE_FUSE_WATCH_INTERNAL_H

#include <stddef.h>

#include "fs.h"

#include <fuse_lowlevel.h>

/* The mount the invalidations go to. */
struct watch_target {
    struct fuse *fuse;
    struct fuse_session *se;
    const char *mountpoint; /* absolute, for statx() of cached entries */
};

/* One keyspace event: @event happened to @key. Runs on the watch thread
 * only, never inside a FUSE request. */
void watch_event(const struct watch_target *t, const char *key, size_t len,
                 const char *event);

/* Drop the entry @name of the root and everything cached below it. */
void watch_drop_top(const struct watch_target *t, const char *name);

#endif /* CASHE_FUSE_WATCH_INTERNAL_H */
