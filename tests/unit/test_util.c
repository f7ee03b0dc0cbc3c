/* Unit tests for the shared helpers: allocation, buffers, integer codecs,
 * clocks and number parsing. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_alloc(void **state)
{
    unsigned char *z = xcalloc(16, 4);
    char *d = xstrdup("hello");
    void *e = xmemdup("", 0);
    void *zero = xmalloc(0);
    void *zero_re = xrealloc(NULL, 0);
    char *r = xmalloc(4);

    (void)state;
    for (int i = 0; i < 64; i++)
        assert_int_equal(z[i], 0);
    assert_string_equal(d, "hello");
    /* Zero-byte requests still give a pointer that can be freed. */
    assert_non_null(e);
    assert_non_null(zero);
    assert_non_null(zero_re);
    memcpy(r, "abcd", 4);
    r = xrealloc(r, 4096);
    assert_memory_equal(r, "abcd", 4);
    free(z);
    free(d);
    free(e);
    free(zero);
    free(zero_re);
    free(r);
}

static void test_buf_zero_value(void **state)
{
    struct buf b = {0};

    (void)state;
    buf_append(&b, "", 0);
    assert_int_equal(b.len, 0);
    buf_consume(&b, 10);
    assert_int_equal(b.len, 0);
    buf_reset(&b);
    buf_free(&b);
    assert_null(b.data);
    buf_append_str(&b, "abc");
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    buf_free(&b);
}

static void test_buf_append_grows(void **state)
{
    struct buf b = {0};
    char chunk[100];

    (void)state;
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)i;
    for (int i = 0; i < 100; i++)
        buf_append(&b, chunk, sizeof(chunk));
    assert_int_equal(b.len, 100 * sizeof(chunk));
    assert_true(b.cap >= b.len);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal((unsigned char)b.data[i], i % sizeof(chunk));

    /* Binary data, NULs included, is kept as is. */
    buf_reset(&b);
    buf_append(&b, S("a\0b\0"));
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a\0b\0", 4);
    buf_free(&b);
}

static void test_buf_reserve(void **state)
{
    struct buf b = {0};
    char *data;

    (void)state;
    buf_reserve(&b, 0);
    assert_true(b.cap >= b.len);
    buf_reserve(&b, 1000);
    assert_true(b.cap >= 1000);
    assert_int_equal(b.len, 0);
    data = b.data;
    buf_append(&b, "x", 1);
    buf_reserve(&b, 999);
    /* The room was already there: no reallocation. */
    assert_ptr_equal(b.data, data);
    assert_true(b.cap >= 1000);
    buf_free(&b);
}

static void test_buf_printf(void **state)
{
    struct buf b = {0};
    char big[300];

    (void)state;
    buf_printf(&b, "%d-%s", 42, "x");
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "42-x", 4);
    buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 4);
    buf_printf(&b, "|%llu", (unsigned long long)UINT64_MAX);
    assert_int_equal(b.len, 4 + 21);
    assert_memory_equal(b.data, "42-x|18446744073709551615", 25);

    /* Longer than the first allocation. */
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_reset(&b);
    buf_printf(&b, "<%s>", big);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[sizeof(big) - 1], 'q');
    assert_int_equal(b.data[sizeof(big)], '>');
    buf_free(&b);
}

static void test_buf_consume(void **state)
{
    struct buf b = {0};
    size_t cap;

    (void)state;
    buf_append_str(&b, "abcdef");
    buf_consume(&b, 0);
    assert_int_equal(b.len, 6);
    buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "cdef", 4);
    buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "xyz");
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);

    /* reset forgets the bytes and keeps the allocation. */
    buf_append_str(&b, "keep");
    cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_non_null(b.data);
    buf_free(&b);
}

static void test_put_get_u32(void **state)
{
    static const uint32_t values[] = {0,          1,           0xff,      0x100,
                                      0x12345678, 0x80000000u, UINT32_MAX};
    struct buf b = {0};

    (void)state;
    put_u32(&b, 0x11223344);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\x44\x33\x22\x11", 4);
    for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
        buf_reset(&b);
        put_u32(&b, values[i]);
        assert_int_equal(get_u32(b.data), values[i]);
    }
    /* Decoding works at any alignment. */
    buf_reset(&b);
    buf_append(&b, "x", 1);
    put_u32(&b, 0xdeadbeef);
    assert_int_equal(get_u32(b.data + 1), 0xdeadbeef);
    assert_int_equal(get_u32("\xff\xff\xff\xff"), UINT32_MAX);
    buf_free(&b);
}

static void test_put_get_u64(void **state)
{
    static const uint64_t values[] = {0,
                                      1,
                                      0xff,
                                      UINT32_MAX,
                                      (uint64_t)UINT32_MAX + 1,
                                      0x0102030405060708ULL,
                                      (uint64_t)INT64_MAX,
                                      (uint64_t)INT64_MAX + 1,
                                      UINT64_MAX};
    struct buf b = {0};

    (void)state;
    put_u64(&b, 0x0102030405060708ULL);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
        buf_reset(&b);
        put_u64(&b, values[i]);
        assert_int_equal(get_u64(b.data), values[i]);
    }
    buf_reset(&b);
    buf_append(&b, "abc", 3);
    put_u64(&b, UINT64_MAX - 1);
    put_u32(&b, 7);
    assert_int_equal(b.len, 3 + 8 + 4);
    assert_int_equal(get_u64(b.data + 3), UINT64_MAX - 1);
    assert_int_equal(get_u32(b.data + 11), 7);
    buf_free(&b);
}

static void test_clocks(void **state)
{
    uint64_t m1 = clock_mono_us();
    uint64_t m2 = clock_mono_us();
    int64_t w = clock_wall_ms();

    (void)state;
    assert_true(m2 >= m1);
    /* After 2020-01-01 and before 2200: catches seconds-vs-ms mix-ups. */
    assert_true(w > 1577836800000LL);
    assert_true(w < 7258118400000LL);
}

static void assert_i64_ok(const char *s, size_t len, int64_t want)
{
    int64_t v = 12345;

    assert_int_equal(parse_i64(s, len, &v), 0);
    assert_int_equal(v, want);
}

/* A failed parse returns -EINVAL and leaves the output alone. */
static void assert_i64_bad(const char *s, size_t len)
{
    int64_t v = 12345;

    assert_int_equal(parse_i64(s, len, &v), -EINVAL);
    assert_int_equal(v, 12345);
}

static void test_parse_i64_valid(void **state)
{
    (void)state;
    assert_i64_ok(S("0"), 0);
    assert_i64_ok(S("1"), 1);
    assert_i64_ok(S("-1"), -1);
    assert_i64_ok(S("10"), 10);
    assert_i64_ok(S("-100"), -100);
    assert_i64_ok(S("1234567890"), 1234567890);
    assert_i64_ok(S("9223372036854775807"), INT64_MAX);
    assert_i64_ok(S("-9223372036854775807"), -INT64_MAX);
    assert_i64_ok(S("-9223372036854775808"), INT64_MIN);
    /* Only @len bytes count; the input need not be NUL-terminated. */
    assert_i64_ok("123abc", 3, 123);
    assert_i64_ok("-5-", 2, -5);
}

static void test_parse_i64_invalid(void **state)
{
    (void)state;
    assert_i64_bad(S(""));
    assert_i64_bad("5", 0);
    assert_i64_bad(S("-"));
    assert_i64_bad(S("+1"));
    assert_i64_bad(S("+0"));
    assert_i64_bad(S("007"));
    assert_i64_bad(S("00"));
    assert_i64_bad(S("01"));
    assert_i64_bad(S("-01"));
    assert_i64_bad(S("--1"));
    assert_i64_bad(S(" 1"));
    assert_i64_bad(S("1 "));
    assert_i64_bad(S("1a"));
    assert_i64_bad(S("0x10"));
    assert_i64_bad(S("1.0"));
    assert_i64_bad(S("1e3"));
    assert_i64_bad(S("1\0"));
    assert_i64_bad(S("\0"
                     "1"));
}

/* Redis refuses "-0" (INCR on it is "not an integer"), and the contract is
 * redis's. */
static void test_parse_i64_negative_zero(void **state)
{
    (void)state;
    assert_i64_bad(S("-0"));
    assert_i64_bad(S("-00"));
}

static void test_parse_i64_overflow(void **state)
{
    (void)state;
    assert_i64_bad(S("9223372036854775808"));
    assert_i64_bad(S("-9223372036854775809"));
    assert_i64_bad(S("9999999999999999999"));
    assert_i64_bad(S("18446744073709551615"));
    assert_i64_bad(S("18446744073709551616"));
    assert_i64_bad(S("-18446744073709551616"));
    assert_i64_bad(S("99999999999999999999"));
    assert_i64_bad(S("123456789012345678901"));
    assert_i64_bad(S("-123456789012345678901"));
}

static void assert_size_ok(const char *s, uint64_t want)
{
    uint64_t v = 12345;

    assert_int_equal(parse_size(s, &v), 0);
    assert_int_equal(v, want);
}

static void assert_size_err(const char *s, int err)
{
    uint64_t v = 12345;

    assert_int_equal(parse_size(s, &v), err);
    assert_int_equal(v, 12345);
}

static void test_parse_size_valid(void **state)
{
    (void)state;
    assert_size_ok("0", 0);
    assert_size_ok("1", 1);
    assert_size_ok("4096", 4096);
    assert_size_ok("007", 7);
    assert_size_ok("0k", 0);
    assert_size_ok("1k", 1024);
    assert_size_ok("1K", 1024);
    assert_size_ok("64k", 65536);
    assert_size_ok("2m", 2 * 1024 * 1024);
    assert_size_ok("2M", 2 * 1024 * 1024);
    assert_size_ok("3g", 3ULL << 30);
    assert_size_ok("3G", 3ULL << 30);
    assert_size_ok("18446744073709551615", UINT64_MAX);
    assert_size_ok("17179869183g", 17179869183ULL << 30);
    assert_size_ok("17592186044415m", 17592186044415ULL << 20);
}

static void test_parse_size_invalid(void **state)
{
    (void)state;
    assert_size_err("", -EINVAL);
    assert_size_err("k", -EINVAL);
    assert_size_err("-1", -EINVAL);
    assert_size_err("+1", -EINVAL);
    assert_size_err(" 1", -EINVAL);
    assert_size_err("1 ", -EINVAL);
    assert_size_err("1k ", -EINVAL);
    assert_size_err("1x", -EINVAL);
    assert_size_err("1t", -EINVAL);
    assert_size_err("1kk", -EINVAL);
    assert_size_err("1km", -EINVAL);
    assert_size_err("0x10", -EINVAL);
    assert_size_err("1.5k", -EINVAL);
}

static void test_parse_size_overflow(void **state)
{
    (void)state;
    assert_size_err("18446744073709551616", -ERANGE);
    assert_size_err("99999999999999999999999", -ERANGE);
    assert_size_err("17179869184g", -ERANGE);
    assert_size_err("17592186044416m", -ERANGE);
    assert_size_err("18014398509481984k", -ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_buf_zero_value),
        cmocka_unit_test(test_buf_append_grows),
        cmocka_unit_test(test_buf_reserve),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_consume),
        cmocka_unit_test(test_put_get_u32),
        cmocka_unit_test(test_put_get_u64),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_parse_i64_valid),
        cmocka_unit_test(test_parse_i64_invalid),
        cmocka_unit_test(test_parse_i64_negative_zero),
        cmocka_unit_test(test_parse_i64_overflow),
        cmocka_unit_test(test_parse_size_valid),
        cmocka_unit_test(test_parse_size_invalid),
        cmocka_unit_test(test_parse_size_overflow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
