/* Shared by the fs*.c files only. */

#ifndef CASHE_FUSE_FS_INTERNAL_H
#define CASHE_FUSE_FS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "dirset.h"
#include "fs.h"
#include "names.h"
#include "util.h"

/* What fi->fh points to starts with one of these, so that an operation
 * can tell an open file from an open directory. */
#define HANDLE_FILE 0x656c6966u /* "file" */
#define HANDLE_DIR  0x00726964u /* "dir" */

/* An open file: the value as read at open, changed by writes, committed as
 * one SET at flush and fsync. */
struct handle {
    uint32_t magic;              /* HANDLE_FILE */
    pthread_mutex_t commit_lock; /* one commit at a time, held over I/O */
    pthread_mutex_t lock;        /* data and the fields below, held briefly */
    struct buf data;
    uint64_t changes; /* counts writes, so a commit knows what it covered */
    bool dirty;       /* changed since the last commit */
    bool append;      /* O_APPEND: every write goes to the end */
    bool unlinked;    /* the key was deleted through this mount: never commit */
    bool failed;      /* the last commit failed: close() has said so */
    bool sig_valid;   /* data is the value read at open, whose... */
    uint64_t sig;     /* ...signature this is (pagecache.h) */
    struct buf key;   /* guarded by fs.open_lock (rename) */
    struct handle *prev, *next; /* fs.open, guarded by fs.open_lock */
};

struct fs_state {
    struct fs_config cfg;
    struct dirset *dirs;   /* directories of this mount only */
    struct timespec start; /* the time of directories without a value */
    pthread_mutex_t open_lock;
    struct handle *open;
};

extern struct fs_state fs;

/* A command argument. */
struct arg {
    const char *p;
    size_t len;
};

#define ARG(s)     ((struct arg){(s), strlen(s)})
#define ARG_BUF(b) ((struct arg){(b)->data, (b)->len})

/* Run a command; see client_run(). Error replies become a negative errno:
 * what returns is never an error reply. */
redisReply *fs_command(int *err, bool resend_ok, int argc,
                       const struct arg *args);

/* What CASHE.STAT says of a key. */
struct key_stat {
    bool file; /* a live key */
    bool dir;  /* keys below it */
    size_t len;
    int64_t mtime_ms;
    uint64_t mod_rev;
    uint64_t version;
    int64_t pttl_ms; /* -1: no expiry */
};

/* 0 and *@ks, -ENOENT when neither a key nor a directory, or an error. */
int fs_stat_key(const char *key, size_t len, struct key_stat *ks);

/* Parse @path; kinds outside @allowed (a mask of 1 << enum names_kind)
 * give @wrong_kind. A path no key maps to gives @bad_name. */
int fs_parse(const char *path, struct names_path *np, unsigned allowed,
             int wrong_kind, int bad_name);

#define KIND(k)   (1u << (k))
#define KIND_FILE (KIND(NAMES_KEY) | KIND(NAMES_OWN_KEY))

/* Keep the directory around @path existing in this mount: the parent of a
 * key path, or the directory of a "%" path. */
void fs_keep_parent(const char *path, const struct names_path *np);

/* fs_file.c */
int fs_open(const char *path, struct fuse_file_info *fi);
int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int fs_read(const char *path, char *buf, size_t size, off_t off,
            struct fuse_file_info *fi);
int fs_write(const char *path, const char *buf, size_t size, off_t off,
             struct fuse_file_info *fi);
int fs_flush(const char *path, struct fuse_file_info *fi);
int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi);
int fs_release(const char *path, struct fuse_file_info *fi);
int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi);

/* Open files of this mount: the size of an uncommitted buffer of @key
 * (false when none), and what unlink and rename do to them. */
bool fs_open_dirty_size(const char *key, size_t len, size_t *size);
void fs_open_unlinked(const char *key, size_t len);
void fs_open_renamed(const char *from, size_t from_len, const char *to,
                     size_t to_len, bool dir);
/* The key of an open file, copied. */
void fs_open_key(struct handle *h, struct buf *out);

/* An open directory: its path, for readdir calls that get none. */
struct dir_handle {
    uint32_t magic; /* HANDLE_DIR */
    char path[];
};

/* fs_dir.c */
int fs_opendir(const char *path, struct fuse_file_info *fi);
int fs_releasedir(const char *path, struct fuse_file_info *fi);
int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
               struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int fs_mkdir(const char *path, mode_t mode);
int fs_rmdir(const char *path);
int fs_unlink(const char *path);
int fs_rename(const char *from, const char *to, unsigned int flags);
/* Whether a continued-component path names something (some key's segment
 * starts with it). 0, -ENOENT or an error. */
int fs_partial_exists(const struct names_path *np);

/* fs_xattr.c */
int fs_getxattr(const char *path, const char *name, char *value, size_t size);
int fs_setxattr(const char *path, const char *name, const char *value,
                size_t size, int flags);
int fs_listxattr(const char *path, char *list, size_t size);
int fs_removexattr(const char *path, const char *name);

#endif /* CASHE_FUSE_FS_INTERNAL_H */
