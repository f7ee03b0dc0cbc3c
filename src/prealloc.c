/* Log segments prepared with their blocks written (see prealloc.h). */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "prealloc.h"

/* Direct I/O alignment: the page size, which covers the logical block size
 * of every disk the library's probe accepts. */
#define ALIGN 4096
/* Zeros are written a buffer of this size at a time, so that the log
 * writes of the node (and of others on the same disk) queue behind one
 * chunk at most, not behind a whole segment. */
#define ZERO_CHUNK   (1 << 20)
#define FIEMAP_BATCH 32

/* Calls @fn on each part of [@start, @end) that lies in unwritten extents,
 * in order, until @fn returns non-zero; extents that follow each other in
 * the file make one part (fragmented free space can cut a segment into
 * thousands of extents). FIEMAP_FLAG_SYNC writes dirty pages back first,
 * so that data still in the page cache is not reported as unwritten.
 * Returns @fn's non-zero result, or 0. */
static int each_unwritten(int fd, uint64_t start, uint64_t end,
                          int (*fn)(int fd, uint64_t from, uint64_t to,
                                    void *arg),
                          void *arg)
{
    size_t size =
        sizeof(struct fiemap) + FIEMAP_BATCH * sizeof(struct fiemap_extent);
    struct fiemap *fm;
    uint64_t run_from = 0, run_to = 0; /* the part not yet passed to @fn */
    int rv = 0;

    fm = malloc(size);
    if (fm == NULL)
        return 0;
    while (start < end && rv == 0) {
        struct fiemap_extent *ext = NULL;
        unsigned i;

        memset(fm, 0, size);
        fm->fm_start = start;
        fm->fm_length = end - start;
        fm->fm_flags = FIEMAP_FLAG_SYNC;
        fm->fm_extent_count = FIEMAP_BATCH;
        if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0 || fm->fm_mapped_extents == 0)
            break;
        for (i = 0; i < fm->fm_mapped_extents && rv == 0; i++) {
            uint64_t from, to;

            ext = &fm->fm_extents[i];
            from = ext->fe_logical > start ? ext->fe_logical : start;
            to = ext->fe_logical + ext->fe_length;
            if (to > end)
                to = end;
            if (!(ext->fe_flags & FIEMAP_EXTENT_UNWRITTEN) || from >= to)
                continue;
            if (run_to != from) {
                if (run_from < run_to)
                    rv = fn(fd, run_from, run_to, arg);
                run_from = from;
            }
            run_to = to;
        }
        if (ext->fe_flags & FIEMAP_EXTENT_LAST)
            break;
        start = ext->fe_logical + ext->fe_length;
    }
    if (rv == 0 && run_from < run_to)
        rv = fn(fd, run_from, run_to, arg);
    free(fm);
    return rv;
}

static int found(int fd, uint64_t from, uint64_t to, void *arg)
{
    return 1;
}

bool prealloc_has_unwritten(int fd, off_t offset, off_t len)
{
    return each_unwritten(fd, (uint64_t)offset, (uint64_t)(offset + len), found,
                          NULL) != 0;
}

/* Writes zeros over [@from, @to) from one ZERO_CHUNK of zeros, allocated at
 * the first call (*@arg). Returns 0 or an errno value. */
static int write_zeros(int fd, uint64_t from, uint64_t to, void *arg)
{
    void **zeros = arg;

    if (*zeros == NULL) {
        *zeros = aligned_alloc(ALIGN, ZERO_CHUNK);
        if (*zeros == NULL)
            return ENOMEM;
        memset(*zeros, 0, ZERO_CHUNK);
    }
    while (from < to) {
        size_t n = to - from < ZERO_CHUNK ? (size_t)(to - from) : ZERO_CHUNK;
        ssize_t done = pwrite(fd, *zeros, n, (off_t)from);

        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return done < 0 ? errno : EIO;
        from += (uint64_t)done;
    }
    return 0;
}

int prealloc_zero(int fd, off_t offset, off_t len)
{
    uint64_t start = ((uint64_t)offset + ALIGN - 1) / ALIGN * ALIGN;
    uint64_t end = ((uint64_t)offset + (uint64_t)len) / ALIGN * ALIGN;
    void *zeros = NULL;
    struct stat st;
    int flags;
    int err;

    if (offset < 0 || len <= 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        start >= end)
        return 0;
    if (each_unwritten(fd, start, end, found, NULL) == 0)
        return 0;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return errno;
    if (!(flags & O_DIRECT) && fcntl(fd, F_SETFL, flags | O_DIRECT) != 0)
        return errno;
    err = each_unwritten(fd, start, end, write_zeros, &zeros);
    if (!(flags & O_DIRECT) && fcntl(fd, F_SETFL, flags) != 0 && err == 0)
        err = errno;
    free(zeros);
    return err;
}

bool prealloc_zeroing_helps(int fd)
{
    struct statfs sf;

    if (fstatfs(fd, &sf) != 0)
        return false;
    return sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC;
}

static int allocate_and_zero(int fd, off_t offset, off_t len)
{
    int (*allocate)(int, off_t, off_t);
    int rv;

    allocate = (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, "posix_fallocate");
    if (allocate != NULL)
        rv = allocate(fd, offset, len);
    else
        rv = fallocate(fd, 0, offset, len) == 0 ? 0 : errno;
    if (rv == 0 && prealloc_zeroing_helps(fd))
        (void)prealloc_zero(fd, offset, len);
    return rv;
}

/* canonical/raft calls posix_fallocate by its plain name; code built with
 * 64-bit file offsets (this file, cashed) calls it posix_fallocate64. Both
 * are defined here. */
int cashe_posix_fallocate(int fd, off_t offset,
                          off_t len) __asm__("posix_fallocate");

int cashe_posix_fallocate(int fd, off_t offset, off_t len)
{
    return allocate_and_zero(fd, offset, len);
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
    return allocate_and_zero(fd, offset, len);
}
