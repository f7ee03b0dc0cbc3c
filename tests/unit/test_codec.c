/* Tests for the replicated command codec. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Encode @argc NUL-terminated strings. */
static void encode_strs(struct buf *b, uint8_t type, int64_t t, uint32_t argc,
                        const char *const *argv)
{
    size_t lens[16];

    assert_true(argc <= ARRAY_SIZE(lens));
    for (uint32_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    codec_encode(b, type, t, argc, argv, lens);
}

static void assert_same_args(const struct codec_command *cmd, uint32_t argc,
                             const char *const *argv, const size_t *lens)
{
    assert_int_equal(cmd->argc, argc);
    for (uint32_t i = 0; i < argc; i++) {
        assert_int_equal(cmd->lens[i], lens[i]);
        if (lens[i] > 0)
            assert_memory_equal(cmd->argv[i], argv[i], lens[i]);
    }
}

static void test_layout(void **state)
{
    const char *argv[] = {"SET", "k"};
    const unsigned char want[] = {
        1,    1,    0,    0,    2,    0,    0,    0, /* version type rsv argc */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* time */
        3,    0,    0,    0,    'S',  'E',  'T',        /* arg 0 */
        1,    0,    0,    0,    'k',                    /* arg 1 */
        0,    0,    0,    0, /* padding to 32 bytes */
    };
    struct buf b = {0};

    (void)state;
    encode_strs(&b, CODEC_COMMAND, 0x1122334455667788LL, 2, argv);
    assert_int_equal(b.len, sizeof(want));
    assert_int_equal(codec_encoded_size(2, (const size_t[]){3, 1}), b.len);
    /* A buffer of exactly that size is filled in place, never reallocated
     * (the leader encodes straight into memory Raft takes over). */
    {
        size_t n = codec_encoded_size(2, (const size_t[]){3, 1});
        struct buf exact = {xmalloc(n), 0, n};
        char *before = exact.data;

        encode_strs(&exact, CODEC_COMMAND, 0x1122334455667788LL, 2, argv);
        assert_ptr_equal(exact.data, before);
        assert_int_equal(exact.len, n);
        buf_free(&exact);
    }
    assert_memory_equal(b.data, want, sizeof(want));
    buf_free(&b);
}

static void test_round_trip_strings(void **state)
{
    const char *argv[] = {"SET", "key", "value", "EX", "10"};
    size_t lens[] = {3, 3, 5, 2, 2};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    codec_encode(&b, CODEC_COMMAND, 1700000000123LL, 5, argv, lens);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    assert_int_equal(cmd.type, CODEC_COMMAND);
    assert_int_equal(cmd.time_ms, 1700000000123LL);
    assert_same_args(&cmd, 5, argv, lens);
    /* argv points into the encoded buffer, not at copies. */
    assert_ptr_equal(cmd.argv[0], b.data + CODEC_HEADER_SIZE + 4);
    codec_command_free(&cmd);
    buf_free(&b);
}

static void test_round_trip_binary(void **state)
{
    static const char nul[] = {'a', '\0', 'b', '\0'};
    static const char high[] = {'\xff', '\x80', '\x00', '\x7f'};
    size_t big_len = 1024 * 1024 + 3;
    char *big = malloc(big_len);
    const char *argv[] = {nul, "", high, big, ""};
    size_t lens[] = {sizeof(nul), 0, sizeof(high), big_len, 0};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 31 + 7);
    codec_encode(&b, CODEC_EXPIRE, -5, 5, argv, lens);
    assert_int_equal(b.len,
                     (CODEC_HEADER_SIZE + 5 * 4 + 8 + big_len + 7) / 8 * 8);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    assert_int_equal(cmd.type, CODEC_EXPIRE);
    assert_int_equal(cmd.time_ms, -5);
    assert_same_args(&cmd, 5, argv, lens);
    codec_command_free(&cmd);
    buf_free(&b);
    free(big);
}

static void test_round_trip_no_args(void **state)
{
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    codec_encode(&b, CODEC_MEMBER_DEL, INT64_MIN, 0, NULL, NULL);
    assert_int_equal(b.len, CODEC_HEADER_SIZE);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    assert_int_equal(cmd.type, CODEC_MEMBER_DEL);
    assert_int_equal(cmd.time_ms, INT64_MIN);
    assert_int_equal(cmd.argc, 0);
    codec_command_free(&cmd);
    buf_free(&b);
}

static void test_every_type(void **state)
{
    const char *argv[] = {"raft1", "42", ":4001", ":3001", "voter"};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    for (int type = 0; type < 256; type++) {
        buf_reset(&b);
        encode_strs(&b, (uint8_t)type, 1, 5, argv);
        int rv = codec_decode(b.data, b.len, &cmd);
        if (type >= CODEC_COMMAND && type <= CODEC_MEMBER_DEL) {
            assert_int_equal(rv, 0);
            assert_int_equal(cmd.type, type);
            codec_command_free(&cmd);
        } else {
            assert_int_equal(rv, -EPROTO);
        }
    }
    buf_free(&b);
}

static void test_bad_version(void **state)
{
    const char *argv[] = {"x"};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    encode_strs(&b, CODEC_COMMAND, 0, 1, argv);
    for (int v = 0; v < 256; v++) {
        if (v == CODEC_VERSION)
            continue;
        b.data[0] = (char)v;
        assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    }
    buf_free(&b);
}

static void test_reserved_nonzero(void **state)
{
    const char *argv[] = {"x"};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    encode_strs(&b, CODEC_COMMAND, 0, 1, argv);
    b.data[2] = 1;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    b.data[2] = 0;
    b.data[3] = (char)0x80;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    b.data[3] = 0;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    codec_command_free(&cmd);
    buf_free(&b);
}

/* Every proper prefix of a valid encoding is rejected, and the output struct
 * is left untouched. */
static void check_all_prefixes(const struct buf *b)
{
    struct codec_command cmd;

    for (size_t n = 0; n < b->len; n++) {
        char *copy = malloc(n ? n : 1);

        memcpy(copy, b->data, n);
        memset(&cmd, 0xa5, sizeof(cmd));
        assert_int_equal(codec_decode(copy, n, &cmd), -EPROTO);
        assert_int_equal(cmd.argc, 0xa5a5a5a5);
        free(copy);
    }
    assert_int_equal(codec_decode(b->data, b->len, &cmd), 0);
    codec_command_free(&cmd);
}

static void test_truncation(void **state)
{
    const char *set[] = {"SET", "key", "value"};
    const char *empties[] = {"", "", ""};
    const char *one[] = {"abcdefghij"};
    struct buf b = {0};

    (void)state;
    encode_strs(&b, CODEC_COMMAND, 99, 3, set);
    check_all_prefixes(&b);
    buf_reset(&b);
    encode_strs(&b, CODEC_EXPIRE, 99, 3, empties);
    check_all_prefixes(&b);
    buf_reset(&b);
    encode_strs(&b, CODEC_MEMBER_DEL, 99, 1, one);
    check_all_prefixes(&b);
    buf_reset(&b);
    encode_strs(&b, CODEC_MEMBER_DEL, 99, 0, NULL);
    check_all_prefixes(&b);
    buf_free(&b);
}

static void test_trailing_bytes(void **state)
{
    const char *argv[] = {"DEL", "k"};
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    /* 28 bytes of content, padded to 32. */
    encode_strs(&b, CODEC_COMMAND, 0, 2, argv);
    assert_int_equal(b.len, 32);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    codec_command_free(&cmd);
    /* Unpadded, or with a nonzero pad byte, or with 8 more zeros: refused. */
    assert_int_equal(codec_decode(b.data, 28, &cmd), -EPROTO);
    b.data[31] = 1;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    b.data[31] = 0;
    buf_append(&b, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    buf_append(&b, "\0", 1);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    buf_free(&b);
}

static void put_header(struct buf *b, uint32_t argc)
{
    unsigned char head[4] = {CODEC_VERSION, CODEC_COMMAND, 0, 0};

    buf_append(b, head, sizeof(head));
    put_u32(b, argc);
    put_u64(b, 0);
}

/* argc larger than the bytes could hold is refused before allocating: with
 * argc near UINT32_MAX an allocation would be gigabytes. */
static void test_argc_too_large(void **state)
{
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    put_header(&b, UINT32_MAX);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);

    /* Four empty arguments take 16 bytes: argc 5 cannot fit. */
    buf_reset(&b);
    put_header(&b, 5);
    for (int i = 0; i < 4; i++)
        put_u32(&b, 0);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);

    /* The same bytes with argc 4 decode. */
    b.data[4] = 4;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    assert_int_equal(cmd.argc, 4);
    codec_command_free(&cmd);

    /* argc below the byte bound but above CODEC_MAX_ARGS. */
    buf_reset(&b);
    put_header(&b, CODEC_MAX_ARGS + 1);
    buf_reserve(&b, (CODEC_MAX_ARGS + 1) * 4);
    memset(b.data + b.len, 0, (CODEC_MAX_ARGS + 1) * 4);
    b.len += (CODEC_MAX_ARGS + 1) * 4;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    b.data[4] = 0;
    b.data[5] = 0;
    b.data[6] = 0x10; /* argc = CODEC_MAX_ARGS, one empty arg short */
    b.len -= 4;
    assert_int_equal(codec_decode(b.data, b.len, &cmd), 0);
    assert_int_equal(cmd.argc, CODEC_MAX_ARGS);
    codec_command_free(&cmd);
    buf_free(&b);
}

static void test_length_past_end(void **state)
{
    struct codec_command cmd;
    struct buf b = {0};

    (void)state;
    put_header(&b, 1);
    put_u32(&b, 4);
    buf_append(&b, "abc", 3);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);

    /* A length near UINT32_MAX must not wrap the position. */
    buf_reset(&b);
    put_header(&b, 2);
    put_u32(&b, UINT32_MAX);
    put_u32(&b, 0);
    assert_int_equal(codec_decode(b.data, b.len, &cmd), -EPROTO);
    buf_free(&b);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Apply one random change: flip a byte, overwrite a length-sized field,
 * truncate or extend. */
static void mutate(struct buf *b)
{
    size_t at = b->len ? rng() % b->len : 0;

    switch (rng() % 5) {
    case 0:
        if (b->len)
            b->data[at] ^= (char)(1u << (rng() % 8));
        break;
    case 1:
        if (b->len)
            b->data[at] = (char)rng();
        break;
    case 2:
        if (b->len >= 4 && at <= b->len - 4) {
            uint32_t v = rng() % 3 ? rng() % 64 : rng();
            memcpy(b->data + at, &v, 4);
        }
        break;
    case 3:
        b->len = at;
        break;
    default: {
        char extra = (char)rng();
        buf_append(b, &extra, 1);
        break;
    }
    }
}

static void test_fuzz(void **state)
{
    const char *a[] = {"SET", "key", "value", "PX", "100"};
    const char *m[] = {"raft2", "123", "10.0.0.2:4002", "10.0.0.2:3002",
                       "standby"};
    const char *e[] = {"", "x", ""};
    struct buf seeds[3] = {{0}, {0}, {0}};
    struct buf b = {0};
    int ok = 0, rejected = 0;

    (void)state;
    encode_strs(&seeds[0], CODEC_COMMAND, 17, 5, a);
    encode_strs(&seeds[1], CODEC_MEMBER_SET, 18, 5, m);
    encode_strs(&seeds[2], CODEC_EXPIRE, 19, 3, e);
    for (int iter = 0; iter < 200000; iter++) {
        struct buf *seed = &seeds[iter % 3];
        struct codec_command cmd;
        int rounds = 1 + (int)(rng() % 4);

        buf_reset(&b);
        buf_append(&b, seed->data, seed->len);
        for (int r = 0; r < rounds; r++)
            mutate(&b);
        /* Decode from an exact-size copy so ASan sees any overread. */
        char *copy = malloc(b.len ? b.len : 1);
        memcpy(copy, b.data, b.len);
        int rv = codec_decode(copy, b.len, &cmd);
        const char *key = NULL;
        size_t key_len = 0;
        int peek = codec_peek_key(copy, b.len, &key, &key_len);

        /* The peek stays inside the bytes whatever they hold, and finds
         * the same key the decoder does. */
        if (peek == 0)
            assert_true(key >= copy && key + key_len <= copy + b.len);
        if (rv == 0 && cmd.type == CODEC_COMMAND && cmd.argc >= 2) {
            assert_int_equal(peek, 0);
            assert_ptr_equal(key, cmd.argv[1]);
            assert_int_equal(key_len, cmd.lens[1]);
        }
        if (rv == 0) {
            size_t sum = CODEC_HEADER_SIZE + 4 * (size_t)cmd.argc;
            for (uint32_t i = 0; i < cmd.argc; i++) {
                assert_true(cmd.argv[i] >= copy);
                assert_true(cmd.argv[i] + cmd.lens[i] <= copy + b.len);
                sum += cmd.lens[i];
            }
            assert_true(sum <= b.len && b.len - sum < 8 && b.len % 8 == 0);
            codec_command_free(&cmd);
            ok++;
        } else {
            assert_int_equal(rv, -EPROTO);
            rejected++;
        }
        free(copy);
    }
    /* Both outcomes occur, so the loop exercised the decoder's paths. */
    assert_true(ok > 0);
    assert_true(rejected > 0);
    for (int i = 0; i < 3; i++)
        buf_free(&seeds[i]);
    buf_free(&b);
}

static void test_peek_key(void **state)
{
    const char *set[] = {"SET", "user:1", "v"};
    const char *one[] = {"PING"};
    const char *keys[] = {"a", "b"};
    struct buf b = {0};
    const char *key;
    size_t key_len;

    (void)state;
    encode_strs(&b, CODEC_COMMAND, 5, 3, set);
    assert_int_equal(codec_peek_key(b.data, b.len, &key, &key_len), 0);
    assert_int_equal(key_len, 6);
    assert_memory_equal(key, "user:1", 6);
    /* Cut inside the key: no key to give. */
    assert_int_equal(codec_peek_key(b.data, CODEC_HEADER_SIZE + 4 + 3 + 4 + 5,
                                    &key, &key_len),
                     -1);
    assert_int_equal(
        codec_peek_key(b.data, CODEC_HEADER_SIZE - 1, &key, &key_len), -1);

    /* Only client commands with a first argument have a key. */
    buf_reset(&b);
    encode_strs(&b, CODEC_COMMAND, 5, 1, one);
    assert_int_equal(codec_peek_key(b.data, b.len, &key, &key_len), -1);
    buf_reset(&b);
    encode_strs(&b, CODEC_EXPIRE, 5, 2, keys);
    assert_int_equal(codec_peek_key(b.data, b.len, &key, &key_len), -1);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trip_strings),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_round_trip_no_args),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_reserved_nonzero),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_argc_too_large),
        cmocka_unit_test(test_length_past_end),
        cmocka_unit_test(test_peek_key),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
