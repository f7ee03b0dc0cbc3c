/* Log segments prepared with their blocks written.
 *
 * canonical/raft prepares each open segment with posix_fallocate() and
 * writes batches of entries into it with direct I/O, first without waiting
 * (RWF_NOWAIT), through the thread pool when that is refused. On ext4 and
 * xfs posix_fallocate() leaves unwritten extents, and a no-wait direct
 * write into one is always refused (EAGAIN: converting the extent could
 * block). So every batch on every node paid for a refused io_submit, an
 * eventfd wake-up, a hand-off to a pool thread and back: about a fifth of
 * the CPU of unpipelined SETs.
 *
 * cashed defines posix_fallocate() itself; the library's calls bind to it.
 * It allocates as the C library does, and when the range is left with
 * unwritten extents it writes zeros over it with direct I/O (about 9 ms for
 * an 8 MiB segment, in the pool thread that prepares segments), so that the
 * library's writes overwrite written blocks and complete without the pool.
 * The file reads the same either way: zeros. Where direct I/O is not
 * possible, or zeroing fails, the file is left as allocated and the library
 * works as before.
 *
 * Only on ext4 and xfs: elsewhere there is nothing to gain (btrfs refuses
 * every no-wait direct write, zeroed or not, and its preallocated extents
 * are what keep a full disk writable). The price is that each segment is
 * written twice: on a disk whose write bandwidth is the limit, not its
 * latency, that costs more than the pool hand-offs it saves. */

#ifndef CASHE_PREALLOC_H
#define CASHE_PREALLOC_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether [@offset, @offset + @len) of @fd has an unwritten extent. False
 * when the file system cannot tell (no FIEMAP). */
bool prealloc_has_unwritten(int fd, off_t offset, off_t len);

/* Whether posix_fallocate() zeros what it allocates on @fd's file system:
 * ext4 and xfs. */
bool prealloc_zeroing_helps(int fd);

/* Write zeros, with direct I/O, over the unwritten extents in the
 * block-aligned part of [@offset, @offset + @len) of @fd. They read as
 * zeros already, so the file's contents and size do not change, as long
 * as nothing else writes to that range meanwhile. @fd's status flags are
 * restored. Returns 0 (also when there was nothing to do), or an errno
 * value (EINVAL: no direct I/O on this file system). */
int prealloc_zero(int fd, off_t offset, off_t len);

#endif /* CASHE_PREALLOC_H */
