/* A latency histogram of fixed size for cashe-loadgen: log-linear buckets
 * in the manner of HdrHistogram. Values are nanoseconds; below 256 each
 * value has its own bucket, above it each power of two is split into 128
 * buckets, so a reported value is within 0.4% of the recorded one. No
 * allocation after hist_init, no I/O. */

#ifndef CASHE_BENCH_HISTOGRAM_H
#define CASHE_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 7 /* 128 buckets per power of two */
#define HIST_SUB_HALF (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS) * HIST_SUB_HALF + HIST_SUB_HALF)

struct hist {
    uint64_t count; /* values recorded */
    uint64_t min;   /* exact smallest and largest value; 0 when empty */
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

/* Empty the histogram. */
void hist_reset(struct hist *h);

/* Record one value. */
void hist_record(struct hist *h, uint64_t value);

/* Add every value of @from to @into. */
void hist_merge(struct hist *into, const struct hist *from);

/* The value at quantile @q (0 <= q <= 1): the smallest recorded value that
 * at least q of all values do not exceed, as the middle of its bucket,
 * clamped to [min, max]. 0 when the histogram is empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
