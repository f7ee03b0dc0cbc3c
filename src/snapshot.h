/* The snapshot format: the keyspace, the member table and the revision
 * counter in one versioned, checksummed blob.
 *
 *   8 bytes  magic "CASHESNP"
 *   u32      format version (SNAPSHOT_VERSION)
 *   u32      flags, zero
 *   u64      revision counter
 *   u32      member count, then per member:
 *              u32 len + name, u64 id, u32 len + raft address,
 *              u32 len + client address, u32 role
 *   u64      entry count, then per entry:
 *              u32 key len + key, u32 value len + value,
 *              i64 expire_ms, i64 mtime_ms, u64 create_rev, u64 mod_rev,
 *              u64 version
 *   u32      CRC-32 (zlib's) of every byte before it
 *
 * Integers are little-endian. The decoder checks the checksum first, then
 * every length against the bytes left, so a truncated or corrupt snapshot is
 * rejected with a message and never half loaded into a live store. */

#ifndef CASHE_SNAPSHOT_H
#define CASHE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "members.h"
#include "store.h"
#include "util.h"

#define SNAPSHOT_VERSION 1

/* The exact number of bytes snapshot_encode() appends for @s and @m, so a
 * caller can hand it memory of that size that must never be reallocated. */
size_t snapshot_encoded_size(const struct store *s, const struct members *m);

/* Append the encoding of @s, @m and @rev to @out. */
void snapshot_encode(struct buf *out, const struct store *s,
                     const struct members *m, uint64_t rev);

/* Decode into @s (which must be empty) and @m (which is replaced) and @rev.
 * Returns 0, or -EBADMSG (checksum), -EPROTO (layout, version, magic) with a
 * human-readable reason in @err. On failure @s may hold a partial load: the
 * caller discards it. */
int snapshot_decode(const void *data, size_t len, struct store *s,
                    struct members *m, uint64_t *rev, char *err,
                    size_t err_len);

#endif /* CASHE_SNAPSHOT_H */
