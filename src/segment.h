/* Telling a damaged Raft log segment from a torn write.
 *
 * canonical/raft 0.15 writes entries to "open" segments in batches, one
 * write in flight at a time, each durable before the next begins. Loading
 * an open segment it stops at the first batch whose checksums fail and
 * keeps what came before, taking the rest for the torn tail of a write cut
 * short by a crash. That is right for the last batch only: a batch that
 * fails with an intact batch after it was damaged after it was written
 * (disk, bit flip, a stray write), and stopping there silently drops
 * entries this node acknowledged. This module finds that case in a
 * segment's bytes; it does no I/O.
 *
 * One torn write can look the same: a power cut in the middle of a write
 * of several batches, with the disk keeping a later block of it but not an
 * earlier one. None of that write was acknowledged, so refusing the node
 * then costs a rebuild it did not need, never data; a kill -9 leaves no
 * such segment (none among the 161 the test suite's killed nodes left).
 *
 * The format, as libraft 0.15 writes it (all integers little-endian): a u64
 * format version (1; 0 for a preallocated segment never written), then
 * batches of
 *
 *   u32 header checksum, u32 data checksum
 *   header: u64 n (entries), n x { u64 term, u8 type, 3 unused bytes
 *           (not always zero), u32 payload size }
 *   data:   the n payloads, each padded with zeros to a multiple of 8
 *
 * and zeros after the last batch. The checksums are CRC-32 (polynomial
 * 0x04C11DB7, most significant bit first, initial value 0, no final xor)
 * of the header and of the data. */

#ifndef CASHE_SEGMENT_H
#define CASHE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

struct segment_damage {
    size_t batches;   /* intact batches before the damage */
    size_t at;        /* offset of the first batch that fails */
    size_t intact_at; /* offset of an intact batch after it */
};

/* The checksum libraft uses, of @len bytes at @p. */
uint32_t segment_crc(const void *p, size_t len);

/* Whether a whole, intact batch starts at offset @off of the @len bytes at
 * @p; if so its length (checksums included) goes to @size. */
int segment_batch_at(const unsigned char *p, size_t len, size_t off,
                     size_t *size);

/* 1 when the open segment in @p (@len bytes) holds a batch that fails its
 * checksums followed, anywhere after it, by an intact batch: @d says
 * where. 0 when it is whole, or ends in a torn or damaged batch with
 * nothing intact after it (what libraft recovers from by itself), or is not
 * in a format this module knows. */
int segment_find_damage(const unsigned char *p, size_t len,
                        struct segment_damage *d);

#endif
