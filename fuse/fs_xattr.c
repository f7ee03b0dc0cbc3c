/* Extended attributes of files (keys): user.cashe.ttl, seconds left before
 * the key expires (absent when it does not; set to expire, remove to
 * persist), and the read-only user.cashe.revision (the store revision of
 * the last change) and user.cashe.version (changes since creation).
 * Directories have none. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "fs_internal.h"

#define XATTR_TTL      "user.cashe.ttl"
#define XATTR_REVISION "user.cashe.revision"
#define XATTR_VERSION  "user.cashe.version"

/* Longest TTL accepted, in seconds: far beyond any use, well inside the
 * daemon's arithmetic. */
#define TTL_MAX_S (INT64_C(1) << 40)

/* The key a path names as a file, with its stat; -ENODATA for a
 * directory, which has no attributes. */
static int xattr_target(const char *path, struct names_path *np,
                        struct key_stat *ks)
{
    int rv = fs_parse(path, np, ~0u, -ENODATA, -ENOENT);

    if (rv != 0)
        return rv;
    if (np->kind == NAMES_ROOT || np->kind == NAMES_PARTIAL) {
        rv = -ENODATA;
    } else {
        rv = fs_stat_key(np->key.data, np->key.len, ks);
        if (rv == 0 && np->kind == NAMES_KEY &&
            (ks->dir || dirset_exists(fs.dirs, np->key.data, np->key.len)))
            rv = -ENODATA;
        else if (rv == 0 && !ks->file)
            rv = -ENOENT;
    }
    if (rv != 0)
        names_path_free(np);
    return rv;
}

/* The value as text; -ENODATA when the attribute is absent. */
static int xattr_text(const char *name, const struct key_stat *ks, char *text,
                      size_t len)
{
    if (strcmp(name, XATTR_TTL) == 0) {
        if (ks->pttl_ms < 0)
            return -ENODATA;
        /* Rounded up: a key that is still there has time left. */
        return snprintf(text, len, "%" PRId64, (ks->pttl_ms + 999) / 1000);
    }
    if (strcmp(name, XATTR_REVISION) == 0)
        return snprintf(text, len, "%" PRIu64, ks->mod_rev);
    if (strcmp(name, XATTR_VERSION) == 0)
        return snprintf(text, len, "%" PRIu64, ks->version);
    return -ENODATA;
}

static int copy_out(const char *text, size_t len, char *value, size_t size)
{
    if (size == 0)
        return (int)len;
    if (size < len)
        return -ERANGE;
    memcpy(value, text, len);
    return (int)len;
}

static bool is_ours(const char *name)
{
    return strcmp(name, XATTR_TTL) == 0 || strcmp(name, XATTR_REVISION) == 0 ||
           strcmp(name, XATTR_VERSION) == 0;
}

int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
    struct names_path np;
    struct key_stat ks;
    char text[32];
    int rv;

    /* The kernel asks for security.capability before every write: an
     * answer without a request to the daemon keeps writes cheap. */
    if (!is_ours(name))
        return -ENODATA;
    rv = xattr_target(path, &np, &ks);
    if (rv != 0)
        return rv;
    names_path_free(&np);
    rv = xattr_text(name, &ks, text, sizeof(text));
    return rv < 0 ? rv : copy_out(text, (size_t)rv, value, size);
}

int fs_listxattr(const char *path, char *list, size_t size)
{
    static const char fixed[] = XATTR_REVISION "\0" XATTR_VERSION;
    struct names_path np;
    struct key_stat ks;
    struct buf names = {0};
    int rv = xattr_target(path, &np, &ks);

    if (rv == -ENODATA)
        return 0;
    if (rv != 0)
        return rv;
    names_path_free(&np);
    buf_append(&names, fixed, sizeof(fixed));
    if (ks.pttl_ms >= 0)
        buf_append(&names, XATTR_TTL, sizeof(XATTR_TTL));
    rv = copy_out(names.data, names.len, list, size);
    buf_free(&names);
    return rv;
}

/* Seconds, with up to three decimals, as milliseconds; a trailing newline
 * (from echo) is allowed. */
static int parse_ttl(const char *value, size_t size, int64_t *ms)
{
    char text[32];
    char *end;
    double s;

    if (size > 0 && value[size - 1] == '\n')
        size--;
    if (size == 0 || size >= sizeof(text))
        return -EINVAL;
    memcpy(text, value, size);
    text[size] = '\0';
    if (strspn(text, "0123456789.") != size)
        return -EINVAL;
    s = strtod(text, &end);
    if (*end != '\0' || !(s > 0) || s > (double)TTL_MAX_S)
        return -EINVAL;
    *ms = (int64_t)(s * 1000 + 0.5);
    return *ms > 0 ? 0 : -EINVAL;
}

static int run_int(const char *cmd, const struct buf *key, const char *arg)
{
    struct arg args[] = {ARG(cmd), ARG_BUF(key), ARG(arg != NULL ? arg : "")};
    int err = 0;
    redisReply *r = fs_command(&err, true, arg != NULL ? 3 : 2, args);

    if (r == NULL)
        return err;
    err = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -EIO;
    freeReplyObject(r);
    return err;
}

static bool read_only_name(const char *name)
{
    return strcmp(name, XATTR_REVISION) == 0 ||
           strcmp(name, XATTR_VERSION) == 0;
}

int fs_setxattr(const char *path, const char *name, const char *value,
                size_t size, int flags)
{
    struct names_path np;
    struct key_stat ks;
    char ms_text[24];
    int64_t ms;
    int rv;

    if (read_only_name(name))
        return -EPERM;
    if (strcmp(name, XATTR_TTL) != 0)
        return -ENOTSUP;
    if (parse_ttl(value, size, &ms) != 0)
        return -EINVAL;
    rv = xattr_target(path, &np, &ks);
    if (rv != 0)
        return rv == -ENODATA ? -ENOTSUP : rv;
    if ((flags & XATTR_CREATE) && ks.pttl_ms >= 0)
        rv = -EEXIST;
    else if ((flags & XATTR_REPLACE) && ks.pttl_ms < 0)
        rv = -ENODATA;
    if (rv == 0) {
        snprintf(ms_text, sizeof(ms_text), "%" PRId64, ms);
        rv = run_int("PEXPIRE", &np.key, ms_text);
        rv = rv == 1 ? 0 : rv == 0 ? -ENOENT : rv;
    }
    names_path_free(&np);
    return rv;
}

int fs_removexattr(const char *path, const char *name)
{
    struct names_path np;
    struct key_stat ks;
    int rv;

    if (read_only_name(name))
        return -EPERM;
    if (strcmp(name, XATTR_TTL) != 0)
        return -ENODATA;
    rv = xattr_target(path, &np, &ks);
    if (rv != 0)
        return rv;
    rv = run_int("PERSIST", &np.key, NULL);
    rv = rv == 1 ? 0 : rv == 0 ? -ENODATA : rv;
    names_path_free(&np);
    return rv;
}
