/* Tests for the snapshot format. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot.h"

#define HEADER_SIZE 24 /* magic, version, flags, revision */

static void fill_store(struct store *s)
{
    static const char bin_key[] = {'b', '\0', 'k'};
    static const char bin_val[] = {'\0', '\xff', '\n'};
    char key[32], val[64];

    store_set(s, "plain", 5, "value", 5, 0, 1, 1000);
    store_set(s, "plain", 5, "value2", 6, 0, 2, 1001);
    store_set(s, "ttl", 3, "soon", 4, 1700000005000LL, 3, 1002);
    store_set(s, bin_key, sizeof(bin_key), bin_val, sizeof(bin_val), 0, 4,
              1003);
    store_set(s, "empty", 5, "", 0, 0, 5, 1004);
    store_set(s, "", 0, "empty key", 9, 0, 6, -1005);
    for (int i = 0; i < 50; i++) {
        int kl = snprintf(key, sizeof(key), "dir/key%03d", i);
        int vl = snprintf(val, sizeof(val), "v%d", i * i);
        store_set(s, key, (size_t)kl, val, (size_t)vl, i % 3 ? 0 : 2000 + i,
                  10 + (uint64_t)i, 2000 + i);
    }
    store_set_expire(s, "plain", 5, 1800000000000LL, 70, 3000);
}

static void fill_members(struct members *m)
{
    members_set(m, "raft0", member_id_from_name("raft0", 5), "10.0.0.1:4000",
                "10.0.0.1:3000", MEMBER_VOTER);
    members_set(m, "raft1", member_id_from_name("raft1", 5), "[::1]:4001", "",
                MEMBER_STANDBY);
    members_set(m, "raft-2.b_c", 12345, ":4002", ":3002", MEMBER_SPARE);
}

static void assert_same_stores(const struct store *a, const struct store *b)
{
    const struct store_entry *x = store_first(a), *y = store_first(b);

    assert_int_equal(store_count(a), store_count(b));
    assert_int_equal(store_bytes(a), store_bytes(b));
    for (; x != NULL && y != NULL; x = store_next(a, x), y = store_next(b, y)) {
        assert_int_equal(x->key_len, y->key_len);
        assert_memory_equal(x->key, y->key, x->key_len ? x->key_len : 0);
        assert_int_equal(x->value_len, y->value_len);
        if (x->value_len)
            assert_memory_equal(x->value, y->value, x->value_len);
        assert_int_equal(x->expire_ms, y->expire_ms);
        assert_int_equal(x->mtime_ms, y->mtime_ms);
        assert_int_equal(x->create_rev, y->create_rev);
        assert_int_equal(x->mod_rev, y->mod_rev);
        assert_int_equal(x->version, y->version);
    }
    assert_null(x);
    assert_null(y);
    assert_int_equal(store_next_expiry(a), store_next_expiry(b));
}

static void assert_same_members(const struct members *a,
                                const struct members *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->v[i].name, b->v[i].name);
        assert_true(a->v[i].id == b->v[i].id);
        assert_string_equal(a->v[i].raft_addr, b->v[i].raft_addr);
        assert_string_equal(a->v[i].client_addr, b->v[i].client_addr);
        assert_int_equal(a->v[i].role, b->v[i].role);
    }
}

/* Decode into a fresh store and throw the store away; keeps failing cases
 * independent of each other. */
static int decode_fresh(const void *p, size_t len, char *err, size_t err_len)
{
    struct store *s = store_new();
    struct members m;
    uint64_t rev = 77;
    int rv;

    members_init(&m);
    members_set(&m, "keep", 1, "a", "b", MEMBER_VOTER);
    err[0] = '\0';
    rv = snapshot_decode(p, len, s, &m, &rev, err, err_len);
    if (rv != 0) {
        /* Outputs other than the store are untouched on failure. */
        assert_int_equal(rev, 77);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.v[0].name, "keep");
        assert_true(err[0] != '\0');
    }
    members_free(&m);
    store_free(s);
    return rv;
}

static void encode_sample(struct buf *b)
{
    struct store *s = store_new();
    struct members m;

    members_init(&m);
    fill_store(s);
    fill_members(&m);
    snapshot_encode(b, s, &m, 4242);
    members_free(&m);
    store_free(s);
}

static void test_round_trip(void **state)
{
    struct store *s = store_new(), *t = store_new();
    struct members m, n;
    struct buf b = {0};
    uint64_t rev = 0;
    char err[128] = "";

    (void)state;
    members_init(&m);
    members_init(&n);
    fill_store(s);
    fill_members(&m);
    members_set(&n, "stale", 9, "x", "y", MEMBER_SPARE);
    /* Encoding appends: a prefix already in the buffer is left alone. */
    buf_append(&b, "prefix", 6);
    snapshot_encode(&b, s, &m, 4242);
    assert_memory_equal(b.data, "prefix", 6);
    assert_memory_equal(b.data + 6, "CASHESNP", 8);

    assert_int_equal(
        snapshot_decode(b.data + 6, b.len - 6, t, &n, &rev, err, sizeof(err)),
        0);
    assert_int_equal(rev, 4242);
    assert_same_stores(s, t);
    assert_same_members(&m, &n);
    assert_null(members_find_name(&n, "stale"));
    assert_int_equal(store_next_expiry(t), 2000);

    members_free(&m);
    members_free(&n);
    store_free(s);
    store_free(t);
    buf_free(&b);
}

/* The size is exact: the fork path hands the encoder a mapping of that size
 * that must neither be overrun nor left with a tail. */
static void test_encoded_size_is_exact(void **state)
{
    struct store *s = store_new();
    struct members m;
    struct buf b = {0};

    (void)state;
    members_init(&m);
    snapshot_encode(&b, s, &m, 0);
    assert_int_equal(snapshot_encoded_size(s, &m), b.len);
    fill_store(s);
    fill_members(&m);
    buf_reset(&b);
    snapshot_encode(&b, s, &m, 99);
    assert_int_equal(snapshot_encoded_size(s, &m), b.len);
    members_free(&m);
    store_free(s);
    buf_free(&b);
}

static void test_empty_round_trip(void **state)
{
    struct store *s = store_new(), *t = store_new();
    struct members m, n;
    struct buf b = {0};
    uint64_t rev = 1;
    char err[128] = "";

    (void)state;
    members_init(&m);
    members_init(&n);
    members_set(&n, "stale", 9, "x", "y", MEMBER_SPARE);
    snapshot_encode(&b, s, &m, 0);
    assert_int_equal(b.len, 40);
    assert_int_equal(
        snapshot_decode(b.data, b.len, t, &n, &rev, err, sizeof(err)), 0);
    assert_int_equal(rev, 0);
    assert_int_equal(store_count(t), 0);
    assert_int_equal(n.n, 0);
    members_free(&n);
    store_free(s);
    store_free(t);
    buf_free(&b);
}

static void test_every_truncation(void **state)
{
    struct buf b = {0};
    char err[128];

    (void)state;
    encode_sample(&b);
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1);

        memcpy(copy, b.data, n);
        int rv = decode_fresh(copy, n, err, sizeof(err));
        assert_true(rv == -EPROTO || rv == -EBADMSG);
        if (n < 40)
            assert_non_null(strstr(err, "truncated"));
        free(copy);
    }
    assert_int_equal(decode_fresh(b.data, b.len, err, sizeof(err)), 0);
    buf_free(&b);
}

static void reseal(struct buf *b)
{
    put_u32(b, (uint32_t)crc32(0, (const Bytef *)b->data, (uInt)b->len));
}

/* Cut the body anywhere and recompute the checksum: the length checks alone
 * must then catch it. */
static void test_truncation_with_valid_crc(void **state)
{
    struct buf b = {0}, cut = {0};
    char err[128];

    (void)state;
    encode_sample(&b);
    for (size_t n = 0; n < b.len - 4; n++) {
        buf_reset(&cut);
        buf_append(&cut, b.data, n);
        reseal(&cut);
        assert_int_equal(decode_fresh(cut.data, cut.len, err, sizeof(err)),
                         -EPROTO);
        /* Either a count the rest cannot hold, or a field cut short. */
        if (strstr(err, "truncated") == NULL && strstr(err, "exceeds") == NULL)
            fail_msg("cut at %zu: unexpected error '%s'", n, err);
    }
    buf_free(&cut);
    buf_free(&b);
}

static void test_every_byte_flip(void **state)
{
    static const unsigned char masks[] = {0x01, 0x80, 0xff};
    struct buf b = {0};
    char err[128];

    (void)state;
    encode_sample(&b);
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < ARRAY_SIZE(masks); k++) {
            b.data[i] ^= (char)masks[k];
            assert_int_equal(decode_fresh(b.data, b.len, err, sizeof(err)),
                             -EBADMSG);
            assert_string_equal(err, "snapshot checksum mismatch");
            b.data[i] ^= (char)masks[k];
        }
    }
    assert_int_equal(decode_fresh(b.data, b.len, err, sizeof(err)), 0);
    buf_free(&b);
}

/* Hand-built snapshots, for layouts the encoder never writes. */
static void put_head(struct buf *b, uint32_t version, uint32_t flags)
{
    buf_append(b, "CASHESNP", 8);
    put_u32(b, version);
    put_u32(b, flags);
    put_u64(b, 9);
}

static void put_bytes(struct buf *b, const char *s, size_t len)
{
    put_u32(b, (uint32_t)len);
    buf_append(b, s, len);
}

static void put_member(struct buf *b, const char *name, size_t name_len,
                       uint64_t id, const char *raft, size_t raft_len,
                       uint32_t role)
{
    put_bytes(b, name, name_len);
    put_u64(b, id);
    put_bytes(b, raft, raft_len);
    put_bytes(b, "c:1", 3);
    put_u32(b, role);
}

static void put_entry(struct buf *b, const char *key, size_t key_len)
{
    put_bytes(b, key, key_len);
    put_bytes(b, "v", 1);
    for (int i = 0; i < 5; i++)
        put_u64(b, 1);
}

static void expect_reject(struct buf *b, const char *want)
{
    char err[128];

    reseal(b);
    assert_int_equal(decode_fresh(b->data, b->len, err, sizeof(err)), -EPROTO);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, want);
    buf_reset(b);
}

static void test_header_rejects(void **state)
{
    struct buf b = {0};
    char err[128];

    (void)state;
    /* The hand-built form is accepted when nothing is wrong. */
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_member(&b, "raft0", 5, 1, "r:1", 3, MEMBER_VOTER);
    put_u64(&b, 1);
    put_entry(&b, "k", 1);
    reseal(&b);
    assert_int_equal(decode_fresh(b.data, b.len, err, sizeof(err)), 0);
    buf_reset(&b);

    put_head(&b, SNAPSHOT_VERSION + 1, 0);
    put_u32(&b, 0);
    put_u64(&b, 0);
    expect_reject(&b, "version 2");

    put_head(&b, 0, 0);
    put_u32(&b, 0);
    put_u64(&b, 0);
    expect_reject(&b, "version 0");

    put_head(&b, SNAPSHOT_VERSION, 4);
    put_u32(&b, 0);
    put_u64(&b, 0);
    expect_reject(&b, "flags 0x4");

    put_head(&b, SNAPSHOT_VERSION, 0);
    b.data[0] = 'X';
    put_u32(&b, 0);
    put_u64(&b, 0);
    expect_reject(&b, "magic");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, 0);
    buf_append(&b, "\0", 1);
    expect_reject(&b, "unexpected bytes");
    buf_free(&b);
}

static void test_member_rejects(void **state)
{
    struct buf b = {0};

    (void)state;
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, UINT32_MAX);
    put_u64(&b, 0);
    expect_reject(&b, "member count");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_member(&b, "bad name", 8, 1, "r:1", 3, MEMBER_VOTER);
    put_u64(&b, 0);
    expect_reject(&b, "invalid name");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_member(&b, "", 0, 1, "r:1", 3, MEMBER_VOTER);
    put_u64(&b, 0);
    expect_reject(&b, "invalid name");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_member(&b, "raft0", 5, 1, "r:1", 3, MEMBER_SPARE + 1);
    put_u64(&b, 0);
    expect_reject(&b, "role 3");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_member(&b, "raft0", 5, 1, "r\0:1", 4, MEMBER_VOTER);
    put_u64(&b, 0);
    expect_reject(&b, "invalid address");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 2);
    put_member(&b, "raft0", 5, 1, "r:1", 3, MEMBER_VOTER);
    put_member(&b, "raft0", 5, 2, "r:2", 3, MEMBER_VOTER);
    put_u64(&b, 0);
    expect_reject(&b, "duplicate member 'raft0'");

    /* A name length running past the end. */
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 1);
    put_u32(&b, 1000);
    buf_append(&b, "raft0", 5);
    put_u64(&b, 0);
    put_u64(&b, 0);
    put_u64(&b, 0);
    expect_reject(&b, "truncated in member 0");
    buf_free(&b);
}

static void test_entry_rejects(void **state)
{
    struct buf b = {0};

    (void)state;
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, UINT64_MAX);
    expect_reject(&b, "entry count");

    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, 2);
    put_entry(&b, "a", 1);
    put_entry(&b, "a", 1);
    expect_reject(&b, "entry 1 repeats a key");

    /* A key length near UINT32_MAX must not wrap the bounds check. */
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, 2);
    put_entry(&b, "a", 1);
    put_u32(&b, UINT32_MAX);
    for (int i = 0; i < 6; i++)
        put_u64(&b, 0);
    expect_reject(&b, "truncated in entry 1");

    /* A value length one past the end. */
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, 1);
    put_bytes(&b, "k", 1);
    put_u32(&b, 41);
    for (int i = 0; i < 5; i++)
        put_u64(&b, 0);
    expect_reject(&b, "truncated in entry 0");

    /* Fewer entries than the count, with enough spare bytes that the count
     * check passes. */
    put_head(&b, SNAPSHOT_VERSION, 0);
    put_u32(&b, 0);
    put_u64(&b, 2);
    put_bytes(&b, "k", 1);
    put_bytes(&b, "a-value-long-enough-to-cover-the-count-check-xxxxxxxxxxxxx",
              58);
    for (int i = 0; i < 5; i++)
        put_u64(&b, 0);
    expect_reject(&b, "truncated in entry 1");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encoded_size_is_exact),
        cmocka_unit_test(test_empty_round_trip),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_truncation_with_valid_crc),
        cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_header_rejects),
        cmocka_unit_test(test_member_rejects),
        cmocka_unit_test(test_entry_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
