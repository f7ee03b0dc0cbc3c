/* Tests for posix_fallocate() as cashed defines it: the range is allocated,
 * left with no unwritten extent, and reads as before (zeros where nothing
 * was written, the data where something was). They run on the file system
 * of the working directory (the build directory) and are skipped where it
 * has no unwritten extents or no direct I/O (tmpfs, say). */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prealloc.h"

#define KiB 1024
#define MiB (1024 * 1024)

static char path[64];

static int open_fresh(void)
{
    int fd;

    snprintf(path, sizeof path, "test-prealloc-%d.tmp", (int)getpid());
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    return fd;
}

static void close_fresh(int fd)
{
    close(fd);
    unlink(path);
}

/* Skips the test unless the file system makes unwritten extents and does
 * direct I/O, the case the zeroing is for, and (@through_fallocate) is one
 * where posix_fallocate() zeros. */
static void require_unwritten_extents(bool through_fallocate)
{
    int fd = open_fresh();
    int direct;
    bool unwritten, helps;

    unwritten = fallocate(fd, 0, 0, 64 * KiB) == 0 &&
                prealloc_has_unwritten(fd, 0, 64 * KiB);
    direct = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT);
    helps = prealloc_zeroing_helps(fd);
    close_fresh(fd);
    if (!unwritten || direct != 0 || (through_fallocate && !helps))
        skip();
}

static void assert_bytes(int fd, off_t offset, size_t len, int byte)
{
    char *buf = malloc(len);
    size_t i;

    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, len, offset), (ssize_t)len);
    for (i = 0; i < len; i++) {
        if (buf[i] != (char)byte)
            fail_msg("byte %zu at offset %lld is %d, not %d", i,
                     (long long)offset, buf[i], byte);
    }
    free(buf);
}

/* A fresh file, as canonical/raft prepares an open segment. */
static void test_fresh_file_is_allocated_and_written(void **state)
{
    struct stat st;
    int flags;
    int fd;

    (void)state;
    require_unwritten_extents(true);
    fd = open_fresh();
    flags = fcntl(fd, F_GETFL);
    assert_int_equal(posix_fallocate(fd, 0, 8 * MiB), 0);
    assert_false(prealloc_has_unwritten(fd, 0, 8 * MiB));
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 8 * MiB);
    assert_true(st.st_blocks * 512 >= 8 * MiB);
    assert_bytes(fd, 0, 8 * MiB, 0);
    /* The status flags are the caller's again: no O_DIRECT left set. */
    assert_int_equal(fcntl(fd, F_GETFL), flags);
    close_fresh(fd);
}

/* An allocation over data already there keeps it, even data still in the
 * page cache over an unwritten extent: only what reads as zeros is
 * written. Unaligned edges are left to the allocation alone. */
static void test_existing_data_is_kept(void **state)
{
    char data[3 * 4096];
    int fd;

    (void)state;
    require_unwritten_extents(true);
    fd = open_fresh();
    memset(data, 'x', sizeof data);
    assert_int_equal(fallocate(fd, 0, 0, 1 * MiB), 0);
    assert_int_equal(pwrite(fd, data, sizeof data, 64 * KiB),
                     (ssize_t)sizeof data);
    assert_int_equal(posix_fallocate(fd, 100, 1 * MiB), 0);
    assert_false(prealloc_has_unwritten(fd, 4096, 1 * MiB - 4096));
    assert_bytes(fd, 0, 64 * KiB, 0);
    assert_bytes(fd, 64 * KiB, sizeof data, 'x');
    assert_bytes(fd, 64 * KiB + sizeof data,
                 1 * MiB + 100 - 64 * KiB - sizeof data, 0);
    /* And after the page cache is dropped, from the disk. */
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    assert_bytes(fd, 64 * KiB, sizeof data, 'x');
    assert_bytes(fd, 0, 64 * KiB, 0);
    close_fresh(fd);
}

/* More extents than one FIEMAP call returns: every one is written. The
 * pattern is in the file system's blocks (4 KiB, or 16 or 64 KiB on some
 * xfs), since a smaller write makes its whole block written. */
static void test_many_extents(void **state)
{
    struct stat st;
    size_t bs;
    char *block;
    off_t off, len;
    int fd;

    (void)state;
    require_unwritten_extents(false);
    fd = open_fresh();
    assert_int_equal(fstat(fd, &st), 0);
    bs = st.st_blksize > 4096 ? (size_t)st.st_blksize : 4096;
    len = 400 * (off_t)bs;
    block = malloc(bs);
    assert_non_null(block);
    memset(block, 'y', bs);
    /* A written block every other block splits the allocation into 200
     * unwritten extents. */
    assert_int_equal(fallocate(fd, 0, 0, len), 0);
    for (off = 0; off < len; off += 2 * (off_t)bs)
        assert_int_equal(pwrite(fd, block, bs, off), (ssize_t)bs);
    assert_true(prealloc_has_unwritten(fd, 0, len));
    assert_int_equal(prealloc_zero(fd, 0, len), 0);
    assert_false(prealloc_has_unwritten(fd, 0, len));
    for (off = 0; off < len; off += 2 * (off_t)bs) {
        assert_bytes(fd, off, bs, 'y');
        assert_bytes(fd, off + (off_t)bs, bs, 0);
    }
    free(block);
    close_fresh(fd);
}

/* Fragmented free space: extents that follow each other in the file but
 * not on the disk (here two files allocated in turns). They are written
 * as one range; the result is the same as extent by extent. */
static void test_adjacent_extents(void **state)
{
    char other[80];
    off_t off;
    int fd, fd2;

    (void)state;
    require_unwritten_extents(false);
    fd = open_fresh();
    snprintf(other, sizeof other, "%s.other", path);
    fd2 = open(other, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd2 >= 0);
    for (off = 0; off < 4 * MiB; off += 64 * KiB) {
        assert_int_equal(fallocate(fd, 0, off, 64 * KiB), 0);
        assert_int_equal(fdatasync(fd), 0);
        assert_int_equal(fallocate(fd2, 0, off, 64 * KiB), 0);
        assert_int_equal(fdatasync(fd2), 0);
    }
    assert_true(prealloc_has_unwritten(fd, 0, 4 * MiB));
    assert_int_equal(prealloc_zero(fd, 0, 4 * MiB), 0);
    assert_false(prealloc_has_unwritten(fd, 0, 4 * MiB));
    assert_true(prealloc_has_unwritten(fd2, 0, 4 * MiB)); /* not touched */
    assert_bytes(fd, 0, 4 * MiB, 0);
    close(fd2);
    unlink(other);
    close_fresh(fd);
}

/* Where zeroing gains nothing (tmpfs has no unwritten extents; btrfs
 * refuses no-wait direct writes anyway), posix_fallocate() only allocates,
 * as the C library's does. */
static void test_zeroing_only_on_ext4_and_xfs(void **state)
{
    char shm[64];
    int fd;

    (void)state;
    snprintf(shm, sizeof shm, "/dev/shm/test-prealloc-%d", (int)getpid());
    fd = open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        skip();
    unlink(shm);
    assert_false(prealloc_zeroing_helps(fd));
    assert_int_equal(posix_fallocate(fd, 0, 1 * MiB), 0);
    assert_bytes(fd, 0, 1 * MiB, 0);
    close(fd);
}

/* What posix_fallocate cannot do, it reports as the C library's does; what
 * is not a regular file is left alone. */
static void test_errors_and_other_files(void **state)
{
    int pipefd[2];
    int fd;

    (void)state;
    assert_int_equal(posix_fallocate(-1, 0, 4096), EBADF);
    fd = open_fresh();
    assert_int_equal(posix_fallocate(fd, 0, -1), EINVAL);
    close_fresh(fd);
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(prealloc_zero(pipefd[1], 0, 4096), 0);
    assert_int_equal(posix_fallocate(pipefd[1], 0, 4096), ESPIPE);
    close(pipefd[0]);
    close(pipefd[1]);
    /* Nothing aligned inside the range: nothing to write. */
    fd = open_fresh();
    assert_int_equal(posix_fallocate(fd, 10, 100), 0);
    assert_bytes(fd, 0, 110, 0);
    close_fresh(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_file_is_allocated_and_written),
        cmocka_unit_test(test_existing_data_is_kept),
        cmocka_unit_test(test_many_extents),
        cmocka_unit_test(test_adjacent_extents),
        cmocka_unit_test(test_errors_and_other_files),
        cmocka_unit_test(test_zeroing_only_on_ext4_and_xfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
