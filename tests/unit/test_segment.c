/* Tests for telling a damaged open segment from a torn write. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "segment.h"

#define SEG_SIZE 4096

struct seg {
    unsigned char b[SEG_SIZE];
    size_t len;          /* bytes written so far */
    size_t batch_at[16]; /* where each batch starts */
    int batches;
};

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void seg_init(struct seg *s)
{
    memset(s, 0, sizeof(*s));
    put64(s->b, 1);
    s->len = 8;
}

/* Append a batch of @n entries of term 1 and type command, with payloads
 * of @size bytes each (filled with @fill). */
static void seg_batch(struct seg *s, unsigned n, size_t size, int fill)
{
    unsigned char *p = s->b + s->len;
    size_t header = 8 + 16 * (size_t)n, padded = (size + 7) / 8 * 8;
    unsigned char *data = p + 8 + header;

    put64(p + 8, n);
    for (unsigned i = 0; i < n; i++) {
        unsigned char *e = p + 16 + 16 * i;

        put64(e, 1);
        e[8] = 1;
        put32(e + 12, (uint32_t)size);
        memset(data + i * padded, fill, size);
    }
    put32(p, segment_crc(p + 8, header));
    put32(p + 4, segment_crc(data, padded * n));
    s->batch_at[s->batches++] = s->len;
    s->len += 8 + header + padded * n;
    assert_true(s->len <= SEG_SIZE);
}

static void test_crc_matches_libraft(void **state)
{
    /* A batch header libraft 0.15 wrote (one entry of term 1, type 1, 96
     * bytes), with the checksum it stored beside it. */
    static const unsigned char header[24] = {
        1, 0, 0, 0, 0, 0, 0, 0, 1,    0, 0, 0,
        0, 0, 0, 0, 1, 0, 0, 0, 0x60, 0, 0, 0,
    };

    (void)state;
    assert_int_equal(segment_crc(header, sizeof(header)), 0x194328e6);
    assert_int_equal(segment_crc("", 0), 0);
}

static void test_unused_bytes_may_hold_anything(void **state)
{
    struct seg s;
    struct segment_damage d;
    size_t size;

    (void)state;
    /* libraft 0.15 leaves the 3 bytes after an entry's type as its buffer
     * held them (seen: 00 00 6b in a segment of a node killed under load);
     * the checksum covers them as written. */
    seg_init(&s);
    for (int i = 0; i < 3; i++)
        seg_batch(&s, 1, 24, 'u');
    unsigned char *e = s.b + s.batch_at[1] + 16;
    e[11] = 0x6b;
    put32(s.b + s.batch_at[1], segment_crc(s.b + s.batch_at[1] + 8, 24));
    assert_true(segment_batch_at(s.b, sizeof(s.b), s.batch_at[1], &size));
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);
}

static void test_whole_segment(void **state)
{
    struct seg s;
    struct segment_damage d;
    size_t size;

    (void)state;
    seg_init(&s);
    for (int i = 0; i < 5; i++)
        seg_batch(&s, (unsigned)i + 1, 40 + (size_t)i, 'a' + i);
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);
    assert_true(segment_batch_at(s.b, sizeof(s.b), s.batch_at[2], &size));
    assert_int_equal(size, s.batch_at[3] - s.batch_at[2]);
    /* Cut where the file ends, right after the last batch. */
    assert_int_equal(segment_find_damage(s.b, s.len, &d), 0);
}

static void test_never_written(void **state)
{
    unsigned char zeros[SEG_SIZE] = {0};
    struct segment_damage d;

    (void)state;
    assert_int_equal(segment_find_damage(zeros, sizeof(zeros), &d), 0);
    assert_int_equal(segment_find_damage(zeros, 3, &d), 0);
    assert_int_equal(segment_find_damage(zeros, 0, &d), 0);
}

static void test_torn_last_batch_is_not_damage(void **state)
{
    struct seg s;
    struct segment_damage d;

    (void)state;
    seg_init(&s);
    for (int i = 0; i < 4; i++)
        seg_batch(&s, 2, 100, 'k');
    /* The last write reached the disk only in part: its end is zeros. */
    memset(s.b + s.batch_at[3] + 60, 0, s.len - s.batch_at[3] - 60);
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);
    /* Or the file ends inside it. */
    seg_init(&s);
    for (int i = 0; i < 4; i++)
        seg_batch(&s, 2, 100, 'k');
    assert_int_equal(segment_find_damage(s.b, s.len - 7, &d), 0);
    /* Or its header is garbage. */
    s.b[s.batch_at[3] + 9] ^= 0x40;
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);
}

static void test_flipped_byte_before_intact_batches(void **state)
{
    struct seg s;
    struct segment_damage d;

    (void)state;
    seg_init(&s);
    for (int i = 0; i < 6; i++)
        seg_batch(&s, 3, 50, 'v');
    /* In a payload of the third batch. */
    s.b[s.batch_at[2] + 8 + 8 + 3 * 16 + 70] ^= 0x01;
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 1);
    assert_int_equal(d.batches, 2);
    assert_int_equal(d.at, s.batch_at[2]);
    assert_int_equal(d.intact_at, s.batch_at[3]);
    s.b[s.batch_at[2] + 8 + 8 + 3 * 16 + 70] ^= 0x01;
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);

    /* In an entry's size: the batch's length is then unknown, and the
     * batch after it is still found. */
    s.b[s.batch_at[1] + 16 + 12] ^= 0x10;
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 1);
    assert_int_equal(d.at, s.batch_at[1]);
    assert_int_equal(d.intact_at, s.batch_at[2]);
    s.b[s.batch_at[1] + 16 + 12] ^= 0x10;

    /* In the first checksum of the first batch. */
    s.b[s.batch_at[0]] ^= 0x80;
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 1);
    assert_int_equal(d.batches, 0);
    assert_int_equal(d.intact_at, s.batch_at[1]);
    s.b[s.batch_at[0]] ^= 0x80;
}

static void test_zeroed_batch_before_intact_ones(void **state)
{
    struct seg s;
    struct segment_damage d;

    (void)state;
    seg_init(&s);
    for (int i = 0; i < 4; i++)
        seg_batch(&s, 1, 24, 'z');
    /* A whole batch wiped: it reads like the end of the data, yet more
     * follows. */
    memset(s.b + s.batch_at[1], 0, s.batch_at[2] - s.batch_at[1]);
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 1);
    assert_int_equal(d.at, s.batch_at[1]);
    assert_int_equal(d.intact_at, s.batch_at[2]);
}

static void test_unknown_format_left_alone(void **state)
{
    struct seg s;
    struct segment_damage d;

    (void)state;
    seg_init(&s);
    for (int i = 0; i < 3; i++)
        seg_batch(&s, 1, 24, 'f');
    s.b[s.batch_at[1] + 30] ^= 1;
    put64(s.b, 2);
    assert_int_equal(segment_find_damage(s.b, sizeof(s.b), &d), 0);
}

static void test_hostile_counts(void **state)
{
    struct seg s;
    struct segment_damage d;
    size_t size;

    (void)state;
    seg_init(&s);
    seg_batch(&s, 1, 24, 'h');
    seg_batch(&s, 1, 24, 'h');
    /* Entry counts and sizes past the end of the buffer are no batch. */
    put64(s.b + s.batch_at[0] + 8, UINT64_MAX);
    assert_false(segment_batch_at(s.b, s.len, s.batch_at[0], &size));
    put64(s.b + s.batch_at[0] + 8, 1);
    put32(s.b + s.batch_at[0] + 16 + 12, UINT32_MAX);
    assert_false(segment_batch_at(s.b, s.len, s.batch_at[0], &size));
    assert_false(segment_batch_at(s.b, s.len, s.len + 100, &size));
    assert_false(segment_batch_at(s.b, s.len, SIZE_MAX - 4, &size));
    assert_int_equal(segment_find_damage(s.b, s.len, &d), 1);
    assert_int_equal(d.intact_at, s.batch_at[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_matches_libraft),
        cmocka_unit_test(test_unused_bytes_may_hold_anything),
        cmocka_unit_test(test_whole_segment),
        cmocka_unit_test(test_never_written),
        cmocka_unit_test(test_torn_last_batch_is_not_damage),
        cmocka_unit_test(test_flipped_byte_before_intact_batches),
        cmocka_unit_test(test_zeroed_batch_before_intact_ones),
        cmocka_unit_test(test_unknown_format_left_alone),
        cmocka_unit_test(test_hostile_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
