/* When a node must refuse writes for lack of disk space. */

#include <stdio.h>

#include "diskspace.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t diskspace_reserve(uint64_t min_free, uint64_t snapshot_bytes)
{
    if (min_free == 0)
        return 0;
    return add_sat(min_free, snapshot_bytes);
}

uint64_t diskspace_resume_level(uint64_t reserve)
{
    return add_sat(reserve, reserve / 8);
}

uint64_t diskspace_bytes(uint64_t blocks, uint64_t block_size)
{
    if (block_size != 0 && blocks > UINT64_MAX / block_size)
        return UINT64_MAX;
    return blocks * block_size;
}

enum diskspace_change diskspace_update(struct diskspace *d, uint64_t avail,
                                       uint64_t reserve)
{
    bool was = d->full;

    d->free = avail;
    d->reserve = reserve;
    if (reserve == 0)
        d->full = false;
    else if (d->full)
        d->full = avail < diskspace_resume_level(reserve);
    else
        d->full = avail < reserve;
    if (d->full == was)
        return DISKSPACE_SAME;
    return d->full ? DISKSPACE_FILLED : DISKSPACE_FREED;
}

const char *diskspace_format(uint64_t bytes, char *out, size_t len)
{
    static const char units[] = "KMGTPE";
    double v = (double)bytes;
    int i = -1;

    if (bytes < 1024) {
        snprintf(out, len, "%lluB", (unsigned long long)bytes);
        return out;
    }
    while (v >= 1024 && i < (int)sizeof(units) - 2) {
        v /= 1024;
        i++;
    }
    snprintf(out, len, "%.1f%c", v, units[i]);
    return out;
}

uint64_t diskspace_snapshot_room(uint64_t snapshot_bytes)
{
    return add_sat(snapshot_bytes, DISKSPACE_SEGMENT);
}

bool diskspace_snapshot_ok(const struct diskspace *d, uint64_t snapshot_bytes)
{
    return d->reserve == 0 ||
           d->free >= diskspace_snapshot_room(snapshot_bytes);
}

const char *diskspace_describe(const struct diskspace *d, char *out, size_t len)
{
    char have[16], need[16];

    diskspace_format(d->free, have, sizeof(have));
    if (d->full)
        snprintf(out, len, "%s free, less than the %s needed to take writes",
                 have,
                 diskspace_format(diskspace_resume_level(d->reserve), need,
                                  sizeof(need)));
    else
        snprintf(out, len, "%s free of which %s are kept", have,
                 diskspace_format(d->reserve, need, sizeof(need)));
    return out;
}
