/* Directories that exist in one mount only.
 *
 * The keyspace has no directories, only keys with '/' in them, so a
 * directory with no key under it cannot be stored. To behave like a local
 * disk, a mount remembers the directories mkdir made and the ones that
 * unlink, rename and rmdir emptied, until rmdir removes them: "mkdir d;
 * touch d/f; rm d/f; rmdir d" and "rm -r" work. Other mounts never see
 * these directories, and they end with the mount. Members are directory
 * keys (the key the directory's own value would have), never empty.
 *
 * All functions are thread-safe. */

#ifndef CASHE_FUSE_DIRSET_H
#define CASHE_FUSE_DIRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct dirset;

struct dirset *dirset_new(void);
void dirset_free(struct dirset *d);

/* Add @key (no-op when present). */
void dirset_add(struct dirset *d, const char *key, size_t len);

/* Remove @key; false when it was not a member. */
bool dirset_remove(struct dirset *d, const char *key, size_t len);

/* True when @key is a member or a directory above one. */
bool dirset_exists(struct dirset *d, const char *key, size_t len);

/* True when some member lies below directory @key. */
bool dirset_has_children(struct dirset *d, const char *key, size_t len);

/* The names of the members and directories above them that are immediate
 * children of the directory whose keys start with @prefix ("" for the root,
 * else a key and '/'), as segments, sorted and unique. Returns how many;
 * *@names is an array the caller frees with dirset_names_free(). */
size_t dirset_children(struct dirset *d, const char *prefix, size_t len,
                       struct buf **names);
void dirset_names_free(struct buf *names, size_t n);

/* Directory @from became @to: members at or below @to are dropped, then
 * those at or below @from move below @to. */
void dirset_rename(struct dirset *d, const char *from, size_t from_len,
                   const char *to, size_t to_len);

#endif /* CASHE_FUSE_DIRSET_H */
