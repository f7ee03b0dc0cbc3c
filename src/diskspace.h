/* Free space in the data directory: when a node must refuse writes.
 *
 * canonical/raft 0.15 does not survive running out of space: a leader whose
 * log write fails aborts, and a follower whose append fails goes on and,
 * once space returns, writes later entries after a gap, so its log holds
 * entries at the wrong indexes (docs/architecture.md, "Disk full"). The node
 * therefore keeps a reserve free: min-free-space, which covers the
 * library's preallocated segments (DISKSPACE_SEGMENT each), plus room for
 * a snapshot as large as the last one on disk. Below it the node refuses
 * writes; it accepts them again once the free space is back above the
 * reserve plus an eighth, so that a node hovering at the line does not
 * flap. A snapshot is the largest write a node makes: it is held back
 * while the file system has no room for one like the last plus a segment
 * (it would free log segments, but a half-written one helps nobody).
 *
 * Pure: the caller measures (statvfs) and acts on the changes. */

#ifndef CASHE_DISKSPACE_H
#define CASHE_DISKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* canonical/raft's libuv backend preallocates log segments of this size. */
#define DISKSPACE_SEGMENT (8ULL * 1024 * 1024)

struct diskspace {
    bool full;        /* writes are refused */
    uint64_t free;    /* bytes free at the last measurement */
    uint64_t reserve; /* bytes to keep free at the last measurement */
};

enum diskspace_change {
    DISKSPACE_SAME,
    DISKSPACE_FILLED, /* fell below the reserve: refuse writes from now */
    DISKSPACE_FREED,  /* back above the resume level: accept writes again */
};

/* Bytes to keep free: @min_free plus @snapshot_bytes (the size of the
 * largest snapshot on disk), saturating. 0 when @min_free is 0, which
 * turns the check off. */
uint64_t diskspace_reserve(uint64_t min_free, uint64_t snapshot_bytes);

/* Free bytes where a full node accepts writes again: @reserve plus an
 * eighth, saturating. */
uint64_t diskspace_resume_level(uint64_t reserve);

/* Bytes in @blocks blocks of @block_size bytes (statvfs's f_bavail and
 * f_frsize), saturating. */
uint64_t diskspace_bytes(uint64_t blocks, uint64_t block_size);

/* Record a measurement of @avail bytes free against @reserve. A node becomes
 * full below @reserve and stays full until diskspace_resume_level(@reserve); a
 * @reserve of 0 is never full. Returns the change, if any. */
enum diskspace_change diskspace_update(struct diskspace *d, uint64_t avail,
                                       uint64_t reserve);

/* Free bytes a snapshot like one of @snapshot_bytes needs: itself and a
 * log segment, saturating. Also what a node needs to start Raft: a segment
 * for the entries it receives, and a snapshot to compact its log. */
uint64_t diskspace_snapshot_room(uint64_t snapshot_bytes);

/* True when a snapshot like one of @snapshot_bytes may be written: the
 * last measurement left diskspace_snapshot_room() for it, or the check is
 * off. */
bool diskspace_snapshot_ok(const struct diskspace *d, uint64_t snapshot_bytes);

/* The state for people: "3.1M free, less than the 72.0M needed to take
 * writes" (full), "90.0M free of which 64.0M are kept" (not full).
 * Returns @out. */
const char *diskspace_describe(const struct diskspace *d, char *out,
                               size_t len);

/* @bytes for people: "512B", "3.1K", "64.0M", "2.5G". Returns @out. */
const char *diskspace_format(uint64_t bytes, char *out, size_t len);

#endif /* CASHE_DISKSPACE_H */
