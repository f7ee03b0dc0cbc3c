/* The snapshot format (layout in snapshot.h): writer and strict reader. */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot.h"

#define SNAPSHOT_MAGIC      "CASHESNP"
#define SNAPSHOT_MAGIC_SIZE 8

/* Fixed parts: magic, version, flags, revision, member count, entry count,
 * CRC. Anything shorter cannot be a snapshot. */
#define SNAPSHOT_MIN_SIZE (SNAPSHOT_MAGIC_SIZE + 4 + 4 + 8 + 4 + 8 + 4)

/* The smallest encoding of one member and of one entry (all strings empty),
 * used to refuse counts the remaining bytes cannot hold. */
#define SNAPSHOT_MEMBER_MIN (4 + 8 + 4 + 4 + 4)
#define SNAPSHOT_ENTRY_MIN  (4 + 4 + 8 * 5)

static void put_str(struct buf *out, const char *s, size_t len)
{
    put_u32(out, (uint32_t)len);
    buf_append(out, s, len);
}

static void snapshot_encode_member(struct buf *out, const struct member *e)
{
    put_str(out, e->name, strlen(e->name));
    put_u64(out, e->id);
    put_str(out, e->raft_addr, strlen(e->raft_addr));
    put_str(out, e->client_addr, strlen(e->client_addr));
    put_u32(out, (uint32_t)e->role);
}

static void snapshot_encode_entry(struct buf *out, const struct store_entry *e)
{
    put_str(out, e->key, e->key_len);
    put_str(out, e->value, e->value_len);
    put_u64(out, (uint64_t)e->expire_ms);
    put_u64(out, (uint64_t)e->mtime_ms);
    put_u64(out, e->create_rev);
    put_u64(out, e->mod_rev);
    put_u64(out, e->version);
}

size_t snapshot_encoded_size(const struct store *s, const struct members *m)
{
    size_t n = SNAPSHOT_MIN_SIZE;

    for (size_t i = 0; i < m->n; i++)
        n += SNAPSHOT_MEMBER_MIN + strlen(m->v[i].name) +
             strlen(m->v[i].raft_addr) + strlen(m->v[i].client_addr);
    return n + store_count(s) * SNAPSHOT_ENTRY_MIN + store_bytes(s);
}

void snapshot_encode(struct buf *out, const struct store *s,
                     const struct members *m, uint64_t rev)
{
    size_t start = out->len;
    const struct store_entry *e;

    buf_append(out, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE);
    put_u32(out, SNAPSHOT_VERSION);
    put_u32(out, 0);
    put_u64(out, rev);

    put_u32(out, (uint32_t)m->n);
    for (size_t i = 0; i < m->n; i++)
        snapshot_encode_member(out, &m->v[i]);

    put_u64(out, store_count(s));
    for (e = store_first(s); e != NULL; e = store_next(s, e))
        snapshot_encode_entry(out, e);

    put_u32(out, (uint32_t)crc32_z(0, (const Bytef *)out->data + start,
                                   out->len - start));
}

/* A bounds-checked cursor over the bytes between the header and the CRC. */
struct reader {
    const unsigned char *p;
    size_t left;
};

static bool read_u32(struct reader *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return true;
}

static bool read_u64(struct reader *r, uint64_t *v)
{
    if (r->left < 8)
        return false;
    *v = get_u64(r->p);
    r->p += 8;
    r->left -= 8;
    return true;
}

/* A u32 length and that many bytes, left in place. */
static bool read_str(struct reader *r, const char **s, size_t *len)
{
    uint32_t n;

    if (!read_u32(r, &n) || n > r->left)
        return false;
    *s = (const char *)r->p;
    *len = n;
    r->p += n;
    r->left -= n;
    return true;
}

static int snapshot_check_header(struct reader *r, uint64_t *rev, char *err,
                                 size_t err_len)
{
    uint32_t version, flags;

    if (memcmp(r->p, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_SIZE) != 0)
        return errorf(err, err_len, -EPROTO, "snapshot has a bad magic number");
    r->p += SNAPSHOT_MAGIC_SIZE;
    r->left -= SNAPSHOT_MAGIC_SIZE;
    /* The minimum-size check already guarantees these fields. */
    if (!read_u32(r, &version) || !read_u32(r, &flags) || !read_u64(r, rev))
        return errorf(err, err_len, -EPROTO, "snapshot truncated in header");
    if (version != SNAPSHOT_VERSION)
        return errorf(err, err_len, -EPROTO,
                      "snapshot format version %" PRIu32 " is not supported",
                      version);
    if (flags != 0)
        return errorf(err, err_len, -EPROTO,
                      "snapshot flags 0x%" PRIx32 " are not supported", flags);
    return 0;
}

/* Member strings become C strings, so they may hold no NUL byte. */
static char *cstr_dup(const char *s, size_t len)
{
    char *d;

    if (memchr(s, '\0', len) != NULL)
        return NULL;
    d = xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static int snapshot_add_member(struct members *m, const char *name, uint64_t id,
                               const char *raft, size_t raft_len,
                               const char *client, size_t client_len,
                               uint32_t role)
{
    char *r = cstr_dup(raft, raft_len);
    char *c = cstr_dup(client, client_len);
    int rv = -EINVAL;

    if (r != NULL && c != NULL) {
        members_set(m, name, id, r, c, (int)role);
        rv = 0;
    }
    free(r);
    free(c);
    return rv;
}

static int snapshot_decode_member(struct reader *r, struct members *m,
                                  uint32_t i, char *err, size_t err_len)
{
    const char *name, *raft, *client;
    size_t name_len, raft_len, client_len;
    char nbuf[MEMBER_NAME_MAX + 1];
    uint64_t id;
    uint32_t role;

    if (!read_str(r, &name, &name_len) || !read_u64(r, &id) ||
        !read_str(r, &raft, &raft_len) || !read_str(r, &client, &client_len) ||
        !read_u32(r, &role))
        return errorf(err, err_len, -EPROTO,
                      "snapshot truncated in member %" PRIu32, i);
    if (!member_name_valid(name, name_len))
        return errorf(err, err_len, -EPROTO,
                      "snapshot member %" PRIu32 " has an invalid name", i);
    if (role > MEMBER_SPARE)
        return errorf(err, err_len, -EPROTO,
                      "snapshot member %" PRIu32 " has unknown role %" PRIu32,
                      i, role);
    memcpy(nbuf, name, name_len);
    nbuf[name_len] = '\0';
    if (members_find_name(m, nbuf) != NULL || members_find_id(m, id) != NULL)
        return errorf(err, err_len, -EPROTO,
                      "snapshot has a duplicate member '%s'", nbuf);
    if (snapshot_add_member(m, nbuf, id, raft, raft_len, client, client_len,
                            role) != 0)
        return errorf(err, err_len, -EPROTO,
                      "snapshot member %" PRIu32 " has an invalid address", i);
    return 0;
}

static int snapshot_decode_members(struct reader *r, struct members *m,
                                   char *err, size_t err_len)
{
    uint32_t n;
    int rv;

    if (!read_u32(r, &n))
        return errorf(err, err_len, -EPROTO,
                      "snapshot truncated in member count");
    if (n > r->left / SNAPSHOT_MEMBER_MIN)
        return errorf(err, err_len, -EPROTO,
                      "snapshot member count %" PRIu32 " exceeds its size", n);
    for (uint32_t i = 0; i < n; i++) {
        rv = snapshot_decode_member(r, m, i, err, err_len);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int snapshot_decode_entry(struct reader *r, struct store *s, uint64_t i,
                                 char *err, size_t err_len)
{
    struct store_entry e;
    uint64_t expire, mtime;

    if (!read_str(r, &e.key, &e.key_len) ||
        !read_str(r, &e.value, &e.value_len) || !read_u64(r, &expire) ||
        !read_u64(r, &mtime) || !read_u64(r, &e.create_rev) ||
        !read_u64(r, &e.mod_rev) || !read_u64(r, &e.version))
        return errorf(err, err_len, -EPROTO,
                      "snapshot truncated in entry %" PRIu64, i);
    e.expire_ms = (int64_t)expire;
    e.mtime_ms = (int64_t)mtime;
    if (store_get(s, e.key, e.key_len) != NULL)
        return errorf(err, err_len, -EPROTO,
                      "snapshot entry %" PRIu64 " repeats a key", i);
    store_load(s, &e);
    return 0;
}

static int snapshot_decode_entries(struct reader *r, struct store *s, char *err,
                                   size_t err_len)
{
    uint64_t n;
    int rv;

    if (!read_u64(r, &n))
        return errorf(err, err_len, -EPROTO,
                      "snapshot truncated in entry count");
    if (n > r->left / SNAPSHOT_ENTRY_MIN)
        return errorf(err, err_len, -EPROTO,
                      "snapshot entry count %" PRIu64 " exceeds its size", n);
    for (uint64_t i = 0; i < n; i++) {
        rv = snapshot_decode_entry(r, s, i, err, err_len);
        if (rv != 0)
            return rv;
    }
    return 0;
}

int snapshot_decode(const void *data, size_t len, struct store *s,
                    struct members *m, uint64_t *rev, char *err, size_t err_len)
{
    struct reader r = {data, 0};
    struct members loaded;
    uint64_t r_rev = 0;
    uint32_t crc;
    int rv;

    assert(store_count(s) == 0);
    if (len < SNAPSHOT_MIN_SIZE)
        return errorf(err, err_len, -EPROTO,
                      "snapshot truncated: %zu bytes, at least %d needed", len,
                      SNAPSHOT_MIN_SIZE);
    r.left = len - 4;
    crc = (uint32_t)crc32_z(0, r.p, r.left);
    if (crc != get_u32(r.p + r.left))
        return errorf(err, err_len, -EBADMSG, "snapshot checksum mismatch");

    rv = snapshot_check_header(&r, &r_rev, err, err_len);
    if (rv != 0)
        return rv;
    members_init(&loaded);
    rv = snapshot_decode_members(&r, &loaded, err, err_len);
    if (rv == 0)
        rv = snapshot_decode_entries(&r, s, err, err_len);
    if (rv == 0 && r.left != 0)
        rv = errorf(err, err_len, -EPROTO,
                    "snapshot has %zu unexpected bytes before its checksum",
                    r.left);
    if (rv != 0) {
        members_free(&loaded);
        return rv;
    }

    members_free(m);
    *m = loaded;
    *rev = r_rev;
    return 0;
}
