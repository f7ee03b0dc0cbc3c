/* What one keyspace event invalidates in the kernel.
 *
 * fuse_invalidate_path() drops an inode's attributes and pages, and says
 * whether libfuse knows the path at all: when it does not, the kernel has
 * no entry for it either, and nothing below it. Entries (dentries) need
 * fuse_lowlevel_notify_inval_entry(), which wants the parent's node id;
 * libfuse reports node ids as inode numbers (use_ino is off), so a statx()
 * of the parent that trusts the kernel's cache (AT_STATX_DONT_SYNC) gives
 * it without a request.
 *
 * - Any change: the key's attributes and pages, and those of its "%" file
 *   when it is also a directory.
 * - A key that may have been created: a directory above it that the kernel
 *   still has as a file (key "a" gained "a/b") loses its entry.
 * - A key removed: its entry, and the entries of the directories above it
 *   that no longer exist (their last key went) or became plain files.
 *
 * Negative entries are not cached (negative_timeout is 0), so a new name
 * needs nothing. */

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fs_internal.h"
#include "pagecache.h"
#include "watch_internal.h"

enum change { CHANGE_VALUE, CHANGE_CREATE, CHANGE_REMOVE };

static bool is_one_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, list[i]) == 0)
            return true;
    }
    return false;
}

/* Events not named here (set, append, incrby, setrange, rename_to and any
 * the daemon may add) may create the key. */
static enum change classify(const char *event)
{
    static const char *const removals[] = {"del", "expired", "rename_from"};
    static const char *const values[] = {"expire", "persist"};

    if (is_one_of(event, removals, ARRAY_SIZE(removals)))
        return CHANGE_REMOVE;
    if (is_one_of(event, values, ARRAY_SIZE(values)))
        return CHANGE_VALUE;
    return CHANGE_CREATE;
}

static void terminate(struct buf *b)
{
    buf_append(b, "", 1);
    b->len--;
}

/* Drop the attributes and pages of @path; true when libfuse knows it. */
static bool inval_inode(const struct watch_target *t, const char *path)
{
    return fuse_invalidate_path(t->fuse, path) == 0;
}

/* What the kernel has cached for @len bytes of @path ("" is the root). */
static int cached_stat(const struct watch_target *t, const char *path,
                       size_t len, struct statx *stx)
{
    struct buf full = {0};
    int rv;

    buf_append_str(&full, t->mountpoint);
    buf_append(&full, path, len);
    terminate(&full);
    rv = statx(AT_FDCWD, full.data,
               AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT,
               STATX_TYPE | STATX_INO, stx);
    buf_free(&full);
    return rv == 0 ? 0 : -errno;
}

/* Drop the entry @path (its first @len bytes) from its directory. */
static void drop_entry(const struct watch_target *t, const char *path,
                       size_t len)
{
    const char *slash = memrchr(path, '/', len);
    size_t dir_len = (size_t)(slash - path);
    fuse_ino_t parent = FUSE_ROOT_ID;
    struct statx stx;

    if (dir_len > 0) {
        if (cached_stat(t, path, dir_len, &stx) != 0 || !S_ISDIR(stx.stx_mode))
            return; /* not cached, so neither is the entry */
        parent = stx.stx_ino;
    }
    fuse_lowlevel_notify_inval_entry(t->se, parent, slash + 1,
                                     len - dir_len - 1);
}

/* Whether directory @path is still one: keys below it, or this mount's
 * own empty directory. When the daemon cannot say, it is taken as gone:
 * dropping an entry costs a lookup, keeping a stale one is wrong. */
static bool dir_exists(const char *path)
{
    struct names_path np;
    struct key_stat ks = {0};
    bool exists = false;

    if (names_parse(path, &np) != 0)
        return false;
    if (np.kind == NAMES_ROOT)
        exists = true;
    else if (np.kind == NAMES_PARTIAL)
        exists = fs_partial_exists(&np) == 0;
    else if (np.kind == NAMES_KEY)
        exists = (fs_stat_key(np.key.data, np.key.len, &ks) == 0 && ks.dir) ||
                 dirset_exists(fs.dirs, np.key.data, np.key.len);
    names_path_free(&np);
    return exists;
}

/* Top down: the first directory above the key that the kernel has as
 * something else loses its entry, and with it all below. */
static void fix_ancestors(const struct watch_target *t, struct buf *path)
{
    struct statx stx;

    for (size_t i = 1; i < path->len; i++) {
        bool known;

        if (path->data[i] != '/')
            continue;
        path->data[i] = '\0';
        known = inval_inode(t, path->data);
        if (known && cached_stat(t, path->data, i, &stx) == 0 &&
            !S_ISDIR(stx.stx_mode)) {
            drop_entry(t, path->data, i);
            known = false;
        }
        path->data[i] = '/';
        if (!known)
            return;
    }
}

/* Bottom up from @end (the key's own path, or the byte before its last
 * '/'): directories that went lose their entries, until one that is still
 * there. Directories libfuse does not know are skipped: the kernel has no
 * entry for them, and whether one exists shows at the next known one. */
static void drop_vanished(const struct watch_target *t, struct buf *path,
                          size_t end)
{
    for (size_t i = end; i > 0; i--) {
        char saved = path->data[i];

        if (i < path->len && saved != '/')
            continue;
        path->data[i] = '\0';
        if (inval_inode(t, path->data)) {
            if (dir_exists(path->data)) {
                path->data[i] = saved;
                return;
            }
            drop_entry(t, path->data, i);
        }
        path->data[i] = saved;
    }
}

/* The key's own path: a file loses its entry; a directory (the key was its
 * "%" file) only when it went with the key. */
static void drop_removed(const struct watch_target *t, struct buf *path)
{
    struct statx stx;
    size_t len = path->len;

    buf_append_str(path, "/" NAMES_OWN);
    terminate(path);
    if (inval_inode(t, path->data))
        drop_entry(t, path->data, path->len);
    path->len = len;
    path->data[len] = '\0';
    if (inval_inode(t, path->data) &&
        (cached_stat(t, path->data, len, &stx) != 0 ||
         !S_ISDIR(stx.stx_mode))) {
        const char *slash = memrchr(path->data, '/', len);

        drop_entry(t, path->data, len);
        drop_vanished(t, path, (size_t)(slash - path->data));
        return;
    }
    drop_vanished(t, path, len);
}

void watch_event(const struct watch_target *t, const char *key, size_t len,
                 const char *event)
{
    enum change change = classify(event);
    struct buf path = {0};

    pagecache_taint(key, len);
    buf_append(&path, "/", 1);
    names_encode_key(key, len, &path);
    terminate(&path);
    if (change == CHANGE_REMOVE) {
        drop_removed(t, &path);
    } else {
        size_t own_at = path.len;

        inval_inode(t, path.data);
        buf_append_str(&path, "/" NAMES_OWN);
        terminate(&path);
        inval_inode(t, path.data);
        path.len = own_at;
        path.data[own_at] = '\0';
        if (change == CHANGE_CREATE)
            fix_ancestors(t, &path);
    }
    buf_free(&path);
}

void watch_drop_top(const struct watch_target *t, const char *name)
{
    struct buf path = {0};

    buf_printf(&path, "/%s", name);
    terminate(&path);
    inval_inode(t, path.data);
    fuse_lowlevel_notify_inval_entry(t->se, FUSE_ROOT_ID, name, strlen(name));
    buf_free(&path);
}
