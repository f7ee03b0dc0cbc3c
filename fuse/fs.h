/* The filesystem: libfuse's high-level operations over cashed's keyspace.
 * docs/fuse.md describes what each operation does to keys. */

#ifndef CASHE_FUSE_FS_H
#define CASHE_FUSE_FS_H

#define FUSE_USE_VERSION 312

#include <stddef.h>
#include <sys/types.h>

#include <fuse.h>

struct fs_config {
    mode_t file_mode; /* permission bits of files */
    mode_t dir_mode;  /* and of directories */
    uid_t uid;        /* owner of everything */
    gid_t gid;
    size_t max_value; /* a write past this size fails with EFBIG */
};

/* Take the configuration; call once before fuse_new(). */
void fs_setup(const struct fs_config *cfg);

const struct fuse_operations *fs_operations(void);

#endif /* CASHE_FUSE_FS_H */
