/* Log-linear latency buckets: see histogram.h. */

#include <string.h>

#include "histogram.h"

/* Values below 2 * HIST_SUB_HALF keep shift 0 (one bucket each); above,
 * the shift keeps the top HIST_SUB_BITS + 1 bits of the value, so bucket
 * index = HIST_SUB_HALF * shift + (value >> shift). */
static unsigned bucket_of(uint64_t value)
{
    unsigned msb, shift;

    if (value < 2 * HIST_SUB_HALF)
        return (unsigned)value;
    msb = 63u - (unsigned)__builtin_clzll(value);
    shift = msb - HIST_SUB_BITS;
    return HIST_SUB_HALF * shift + (unsigned)(value >> shift);
}

/* The smallest value of bucket @i and the bucket's width. */
static void bucket_range(unsigned i, uint64_t *low, uint64_t *width)
{
    unsigned shift;

    if (i < 2 * HIST_SUB_HALF) {
        *low = i;
        *width = 1;
        return;
    }
    shift = i / HIST_SUB_HALF - 1;
    *low = (uint64_t)(i - HIST_SUB_HALF * shift) << shift;
    *width = (uint64_t)1 << shift;
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

void hist_record(struct hist *h, uint64_t value)
{
    if (h->count == 0 || value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    h->count++;
    h->buckets[bucket_of(value)]++;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0, low, width, mid;

    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    /* The rank-th smallest value, 1-based, rounded up. */
    rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen < rank)
            continue;
        bucket_range(i, &low, &width);
        mid = low + width / 2;
        if (mid < h->min)
            return h->min;
        return mid > h->max ? h->max : mid;
    }
    return h->max;
}
