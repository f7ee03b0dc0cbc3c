/* The operations table, attributes, statfs, and the helpers the other
 * fs*.c files share. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "fs_internal.h"
#include "fslog.h"
#include "watch.h"

#define BLOCK_SIZE 4096

struct fs_state fs = {
    .open_lock = PTHREAD_MUTEX_INITIALIZER,
};

void fs_setup(const struct fs_config *cfg)
{
    fs.cfg = *cfg;
    fs.dirs = dirset_new();
    clock_gettime(CLOCK_REALTIME, &fs.start);
}

redisReply *fs_command(int *err, bool resend_ok, int argc,
                       const struct arg *args)
{
    const char *argv[8];
    size_t lens[8];
    redisReply *r;

    for (int i = 0; i < argc; i++) {
        argv[i] = args[i].p;
        lens[i] = args[i].len;
    }
    r = client_run(argc, argv, lens, resend_ok, err);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        *err = client_error_errno(r);
        fslog(LOG_DEBUG, "%.*s: %s", (int)lens[0], argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static bool reply_is(const redisReply *r, int type)
{
    return r != NULL && r->type == type;
}

/* CASHE.STAT's reply: 6 integers and the kind. */
static int parse_stat(const redisReply *r, struct key_stat *ks)
{
    redisReply *const *e = r->element;
    const char *kind;

    if (r->elements != 7 || !reply_is(e[6], REDIS_REPLY_STRING))
        return -EIO;
    for (int i = 0; i < 6; i++) {
        if (!reply_is(e[i], REDIS_REPLY_INTEGER))
            return -EIO;
    }
    kind = e[6]->str;
    *ks = (struct key_stat){
        .file = strcmp(kind, "file") == 0 || strcmp(kind, "both") == 0,
        .dir = strcmp(kind, "dir") == 0 || strcmp(kind, "both") == 0,
        .len = (size_t)e[0]->integer,
        .mtime_ms = e[1]->integer,
        .mod_rev = (uint64_t)e[3]->integer,
        .version = (uint64_t)e[4]->integer,
        .pttl_ms = e[5]->integer,
    };
    return 0;
}

int fs_stat_key(const char *key, size_t len, struct key_stat *ks)
{
    struct arg args[] = {ARG("CASHE.STAT"), {key, len}};
    int err = 0;
    redisReply *r = fs_command(&err, true, 2, args);

    if (r == NULL)
        return err;
    if (r->type == REDIS_REPLY_NIL)
        err = -ENOENT;
    else if (r->type == REDIS_REPLY_ARRAY)
        err = parse_stat(r, ks);
    else
        err = -EIO;
    freeReplyObject(r);
    return err;
}

int fs_parse(const char *path, struct names_path *np, unsigned allowed,
             int wrong_kind, int bad_name)
{
    if (path == NULL || names_parse(path, np) != 0)
        return bad_name;
    if (!(allowed & KIND(np->kind))) {
        names_path_free(np);
        return wrong_kind;
    }
    return 0;
}

void fs_keep_parent(const char *path, const struct names_path *np)
{
    const char *slash = strrchr(path, '/');
    struct names_path parent;
    char *copy;

    if (np->kind == NAMES_OWN_KEY) {
        dirset_add(fs.dirs, np->key.data, np->key.len);
        return;
    }
    if (np->kind != NAMES_KEY || slash == NULL || slash == path)
        return;
    copy = strndup(path, (size_t)(slash - path));
    if (names_parse(copy, &parent) == 0) {
        if (parent.kind == NAMES_KEY)
            dirset_add(fs.dirs, parent.key.data, parent.key.len);
        names_path_free(&parent);
    }
    free(copy);
}

/* ---- attributes --------------------------------------------------------- */

static struct timespec ms_to_timespec(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000,
                             .tv_nsec = (long)(ms % 1000) * 1000000};
}

static void fill_times(struct stat *st, struct timespec t)
{
    st->st_atim = t;
    st->st_mtim = t;
    st->st_ctim = t;
}

static void fill_dir(struct stat *st, const struct key_stat *ks)
{
    st->st_mode = S_IFDIR | fs.cfg.dir_mode;
    st->st_nlink = 2;
    st->st_uid = fs.cfg.uid;
    st->st_gid = fs.cfg.gid;
    st->st_blksize = BLOCK_SIZE;
    fill_times(st, ks != NULL && ks->file ? ms_to_timespec(ks->mtime_ms)
                                          : fs.start);
}

static void fill_file(struct stat *st, size_t len, int64_t mtime_ms)
{
    st->st_mode = S_IFREG | fs.cfg.file_mode;
    st->st_nlink = 1;
    st->st_uid = fs.cfg.uid;
    st->st_gid = fs.cfg.gid;
    st->st_size = (off_t)len;
    st->st_blocks = (blkcnt_t)((len + 511) / 512);
    st->st_blksize = BLOCK_SIZE;
    fill_times(st, ms_to_timespec(mtime_ms));
}

/* fstat: the open file's own value, whatever became of the key. */
static int getattr_open(struct handle *h, struct stat *st)
{
    struct buf key = {0};
    struct key_stat ks = {0};
    int rv;

    fs_open_key(h, &key);
    rv = fs_stat_key(key.data, key.len, &ks);
    buf_free(&key);
    if (rv != 0 && rv != -ENOENT)
        return rv;
    pthread_mutex_lock(&h->lock);
    fill_file(st, h->data.len,
              ks.file ? ks.mtime_ms : (int64_t)fs.start.tv_sec * 1000);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static int getattr_key(const struct names_path *np, struct stat *st)
{
    struct key_stat ks = {0};
    int rv = fs_stat_key(np->key.data, np->key.len, &ks);
    bool local_dir;
    size_t size;

    if (rv != 0 && rv != -ENOENT)
        return rv;
    local_dir = !ks.dir && dirset_exists(fs.dirs, np->key.data, np->key.len);
    if (np->kind == NAMES_KEY && (ks.dir || local_dir)) {
        fill_dir(st, &ks);
        return 0;
    }
    if (!ks.file)
        return -ENOENT;
    if (!fs_open_dirty_size(np->key.data, np->key.len, &size))
        size = ks.len;
    fill_file(st, size, ks.mtime_ms);
    return 0;
}

static int fs_getattr(const char *path, struct stat *st,
                      struct fuse_file_info *fi)
{
    struct names_path np;
    int rv;

    memset(st, 0, sizeof(*st));
    if (fi != NULL && fi->fh != 0 &&
        *(const uint32_t *)(uintptr_t)fi->fh == HANDLE_FILE)
        return getattr_open((struct handle *)(uintptr_t)fi->fh, st);
    rv = fs_parse(path, &np, ~0u, -ENOENT, -ENOENT);
    if (rv != 0)
        return rv;
    switch (np.kind) {
    case NAMES_ROOT:
        fill_dir(st, NULL);
        break;
    case NAMES_PARTIAL:
        rv = fs_partial_exists(&np);
        if (rv == 0)
            fill_dir(st, NULL);
        break;
    default:
        rv = getattr_key(&np, st);
        break;
    }
    names_path_free(&np);
    if (rv == 0)
        watch_note(path);
    return rv;
}

/* The clock cannot be set and there is nothing to own or permit per key:
 * accepting these quietly lets cp -a, rsync -a and touch work. */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid,
                    struct fuse_file_info *fi)
{
    return 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2],
                      struct fuse_file_info *fi)
{
    return 0;
}

/* ---- statfs ------------------------------------------------------------- */

static int64_t info_field(const char *info, const char *name)
{
    const char *p = strstr(info, name);

    return p != NULL ? strtoll(p + strlen(name), NULL, 10) : 0;
}

/* Used: the keys and the bytes of keys and values. Capacity: the memory of
 * this host, where the keyspace lives when the mount is local. */
static int fs_statfs(const char *path, struct statvfs *sv)
{
    struct arg dbsize[] = {ARG("DBSIZE")};
    struct arg info[] = {ARG("INFO"), ARG("memory")};
    int err = 0;
    redisReply *keys = fs_command(&err, true, 1, dbsize);
    redisReply *mem = keys != NULL ? fs_command(&err, true, 2, info) : NULL;
    struct sysinfo si;
    uint64_t used, total;

    if (keys == NULL || mem == NULL || keys->type != REDIS_REPLY_INTEGER ||
        mem->type != REDIS_REPLY_STRING) {
        freeReplyObject(keys);
        freeReplyObject(mem);
        return err != 0 ? err : -EIO;
    }
    memset(sv, 0, sizeof(*sv));
    sysinfo(&si);
    used =
        ((uint64_t)info_field(mem->str, "keyspace_bytes:") + BLOCK_SIZE - 1) /
        BLOCK_SIZE;
    total = (uint64_t)si.totalram * si.mem_unit / BLOCK_SIZE;
    if (total < used)
        total = used;
    sv->f_bsize = sv->f_frsize = BLOCK_SIZE;
    sv->f_blocks = total;
    sv->f_bfree = sv->f_bavail = total - used;
    sv->f_ffree = sv->f_favail = total - used;
    sv->f_files = (uint64_t)keys->integer + sv->f_ffree;
    sv->f_namemax = NAMES_COMPONENT_MAX;
    freeReplyObject(keys);
    freeReplyObject(mem);
    return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* Unlinking an open file deletes the key at once (no .fuse_hidden
     * renames into the keyspace); the open file lives on in its buffer,
     * reached by handle, not path. */
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    cfg->use_ino = 0;
    cfg->direct_io = 0;
    cfg->kernel_cache = 0; /* each open decides: see open_key() */
    cfg->auto_cache = 0;
    watch_attach_config(cfg);
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    return NULL;
}

static const struct fuse_operations operations = {
    .init = fs_init,
    .getattr = fs_getattr,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
    .statfs = fs_statfs,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .flush = fs_flush,
    .fsync = fs_fsync,
    .release = fs_release,
    .truncate = fs_truncate,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .unlink = fs_unlink,
    .rename = fs_rename,
    .getxattr = fs_getxattr,
    .setxattr = fs_setxattr,
    .listxattr = fs_listxattr,
    .removexattr = fs_removexattr,
};

const struct fuse_operations *fs_operations(void)
{
    return &operations;
}
