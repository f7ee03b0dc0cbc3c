/* Unit tests for the ordered keyspace and its expiry index. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* The tests' own generator, so runs repeat exactly and nothing shares
 * rand()'s global state. */
static uint64_t test_rng = 1;

static void rng_seed(uint64_t seed)
{
    test_rng = seed;
}

static uint32_t rng_below(uint32_t n)
{
    test_rng = test_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((test_rng >> 33) % n);
}

/* An independent statement of the order: memcmp, shorter first. */
static int model_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;

    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen;
}

static void assert_key(const struct store_entry *e, const char *key, size_t len)
{
    assert_non_null(e);
    assert_int_equal(e->key_len, len);
    if (len > 0)
        assert_memory_equal(e->key, key, len);
}

static void assert_value(const struct store_entry *e, const char *value,
                         size_t len)
{
    assert_non_null(e);
    assert_int_equal(e->value_len, len);
    if (len > 0)
        assert_memory_equal(e->value, value, len);
}

static void set_plain(struct store *s, const char *key, size_t len)
{
    store_set(s, key, len, "v", 1, 0, 1, 1);
}

static void test_empty(void **state)
{
    struct store *s = store_new();

    (void)state;
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_bytes(s), 0);
    assert_null(store_first(s));
    assert_null(store_seek(s, S("")));
    assert_null(store_seek(s, S("a")));
    assert_null(store_get(s, S("")));
    assert_false(store_del(s, S("a")));
    assert_false(store_set_expire(s, S("a"), 5, 1, 1));
    assert_int_equal(store_next_expiry(s), 0);
    assert_int_equal(store_expired(s, INT64_MAX, 10, NULL, NULL), 0);
    store_clear(s);
    assert_null(store_first(s));
    store_free(s);
    store_free(NULL);
}

/* Binary keys in their expected order: NUL and 0xff bytes, prefixes, and
 * bytes above 0x7f, which must sort as unsigned. */
static const struct {
    const char *key;
    size_t len;
} ordered_keys[] = {
    {S("")},       {S("\0")},       {S("\0\0")},
    {S("\0\xff")}, {S("\x01")},     {S("a")},
    {S("a\0")},    {S("a\0\0")},    {S("a\0b")},
    {S("a\x01")},  {S("aa")},       {S("ab")},
    {S("ab\0")},   {S("b")},        {S("\x7f")},
    {S("\x80")},   {S("\xfe\xff")}, {S("\xff")},
    {S("\xff\0")}, {S("\xff\xff")}, {S("\xff\xff\xff")},
};

static struct store *ordered_store(void)
{
    struct store *s = store_new();
    size_t n = ARRAY_SIZE(ordered_keys);

    /* Insert in a scrambled order: stride 5 is coprime with the count. */
    assert_int_not_equal(n % 5, 0);
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 5) % n;

        set_plain(s, ordered_keys[j].key, ordered_keys[j].len);
    }
    return s;
}

static void test_order_binary_keys(void **state)
{
    struct store *s = ordered_store();
    const struct store_entry *e = store_first(s);

    (void)state;
    assert_int_equal(store_count(s), ARRAY_SIZE(ordered_keys));
    for (size_t i = 0; i < ARRAY_SIZE(ordered_keys); i++) {
        assert_key(e, ordered_keys[i].key, ordered_keys[i].len);
        if (i > 0)
            assert_true(model_cmp(ordered_keys[i - 1].key,
                                  ordered_keys[i - 1].len, ordered_keys[i].key,
                                  ordered_keys[i].len) < 0);
        e = store_next(s, e);
    }
    assert_null(e);
    for (size_t i = 0; i < ARRAY_SIZE(ordered_keys); i++)
        assert_key(store_get(s, ordered_keys[i].key, ordered_keys[i].len),
                   ordered_keys[i].key, ordered_keys[i].len);
    assert_null(store_get(s, S("a\0\0\0")));
    assert_null(store_get(s, S("\xff\xff\xff\xff")));
    store_free(s);
}

static void test_seek(void **state)
{
    struct store *s = ordered_store();

    (void)state;
    assert_key(store_seek(s, S("")), S(""));
    assert_key(store_seek(s, S("\0")), S("\0"));
    assert_key(store_seek(s, S("\0\x01")), S("\0\xff"));
    assert_key(store_seek(s, S("a")), S("a"));
    assert_key(store_seek(s, S("a\0\0\0")), S("a\0b"));
    assert_key(store_seek(s, S("a\x02")), S("aa"));
    assert_key(store_seek(s, S("a\xff")), S("b"));
    assert_key(store_seek(s, S("ac")), S("b"));
    assert_key(store_seek(s, S("c")), S("\x7f"));
    assert_key(store_seek(s, S("\xff\xff\xfe")), S("\xff\xff\xff"));
    assert_null(store_seek(s, S("\xff\xff\xff\0")));
    assert_null(store_seek(s, S("\xff\xff\xff\xff")));
    store_free(s);
}

static size_t list_prefix(const struct store *s, const char *p, size_t plen,
                          const struct store_entry **out, size_t max)
{
    size_t n = 0;

    for (const struct store_entry *e = store_seek(s, p, plen);
         e != NULL && e->key_len >= plen && memcmp(e->key, p, plen) == 0;
         e = store_next(s, e)) {
        assert_true(n < max);
        out[n++] = e;
    }
    return n;
}

static void test_prefix_walk(void **state)
{
    static const char *const keys[] = {
        "use",     "usea",   "user",  "user:", "user:1",
        "user:10", "user:2", "user;", "users", "usez",
    };
    struct store *s = store_new();
    const struct store_entry *got[16];
    size_t n;

    (void)state;
    for (size_t i = ARRAY_SIZE(keys); i-- > 0;)
        set_plain(s, keys[i], strlen(keys[i]));
    n = list_prefix(s, S("user:"), got, ARRAY_SIZE(got));
    assert_int_equal(n, 4);
    assert_key(got[0], S("user:"));
    assert_key(got[1], S("user:1"));
    assert_key(got[2], S("user:10"));
    assert_key(got[3], S("user:2"));
    n = list_prefix(s, S("user"), got, ARRAY_SIZE(got));
    assert_int_equal(n, 7);
    assert_key(got[0], S("user"));
    assert_key(got[6], S("users"));
    assert_int_equal(list_prefix(s, S("x"), got, ARRAY_SIZE(got)), 0);
    assert_int_equal(list_prefix(s, S("user:3"), got, ARRAY_SIZE(got)), 0);
    assert_int_equal(list_prefix(s, S(""), got, ARRAY_SIZE(got)), 10);
    store_free(s);
}

static void test_set_and_replace(void **state)
{
    struct store *s = store_new();
    const struct store_entry *e;

    (void)state;
    e = store_set(s, S("k"), S("hello"), 0, 5, 100);
    assert_key(e, S("k"));
    assert_value(e, S("hello"));
    assert_int_equal(e->create_rev, 5);
    assert_int_equal(e->mod_rev, 5);
    assert_int_equal(e->version, 1);
    assert_int_equal(e->mtime_ms, 100);
    assert_int_equal(e->expire_ms, 0);
    assert_ptr_equal(store_get(s, S("k")), e);

    /* A longer value, with an expiry. */
    e = store_set(s, S("k"), S("hello, world"), 5000, 7, 200);
    assert_ptr_equal(store_get(s, S("k")), e);
    assert_value(e, S("hello, world"));
    assert_int_equal(e->create_rev, 5);
    assert_int_equal(e->mod_rev, 7);
    assert_int_equal(e->version, 2);
    assert_int_equal(e->mtime_ms, 200);
    assert_int_equal(e->expire_ms, 5000);
    assert_int_equal(store_next_expiry(s), 5000);

    /* Same length, and 0 clears the expiry. */
    e = store_set(s, S("k"), S("HELLO, WORLD"), 0, 9, 300);
    assert_value(e, S("HELLO, WORLD"));
    assert_int_equal(e->create_rev, 5);
    assert_int_equal(e->mod_rev, 9);
    assert_int_equal(e->version, 3);
    assert_int_equal(e->mtime_ms, 300);
    assert_int_equal(e->expire_ms, 0);
    assert_int_equal(store_next_expiry(s), 0);
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_bytes(s), 1 + 12);
    store_free(s);
}

static void test_empty_key_and_value(void **state)
{
    struct store *s = store_new();
    const struct store_entry *e;

    (void)state;
    e = store_set(s, "", 0, "", 0, 0, 1, 1);
    assert_non_null(e);
    assert_int_equal(e->key_len, 0);
    assert_int_equal(e->value_len, 0);
    assert_non_null(e->key);
    assert_non_null(e->value);
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_bytes(s), 0);
    assert_ptr_equal(store_first(s), e);
    assert_ptr_equal(store_seek(s, "", 0), e);

    e = store_set(s, S("x"), "", 0, 0, 2, 2);
    assert_int_equal(e->value_len, 0);
    e = store_set(s, S("x"), S("abc"), 0, 3, 3);
    assert_value(e, S("abc"));
    e = store_set(s, S("x"), "", 0, 0, 4, 4);
    assert_int_equal(e->value_len, 0);
    assert_int_equal(e->version, 3);
    assert_int_equal(store_bytes(s), 1);
    assert_true(store_del(s, "", 0));
    assert_null(store_get(s, "", 0));
    assert_key(store_first(s), S("x"));
    store_free(s);
}

/* store_set() copies the value: it may come from the entry being replaced,
 * and the key may come from it too. */
static void test_set_aliasing(void **state)
{
    struct store *s = store_new();
    const struct store_entry *e;

    (void)state;
    e = store_set(s, S("key"), S("abcdefgh"), 0, 1, 1);
    e = store_set(s, e->key, e->key_len, e->value, e->value_len, 0, 2, 2);
    assert_value(e, S("abcdefgh"));
    e = store_set(s, e->key, e->key_len, e->value + 2, 4, 0, 3, 3);
    assert_value(e, S("cdef"));
    e = store_set(s, e->key, e->key_len, e->value + 1, 3, 0, 4, 4);
    assert_value(e, S("def"));
    assert_key(e, S("key"));
    assert_int_equal(e->version, 4);
    assert_int_equal(store_bytes(s), 3 + 3);
    assert_true(store_set_expire(s, e->key, e->key_len, 9, 5, 5));
    e = store_get(s, S("key"));
    assert_true(store_del(s, e->key, e->key_len));
    assert_int_equal(store_count(s), 0);
    store_free(s);
}

static void test_set_expire(void **state)
{
    struct store *s = store_new();
    const struct store_entry *e;

    (void)state;
    store_set(s, S("a"), S("1"), 0, 1, 10);
    assert_false(store_set_expire(s, S("b"), 50, 2, 20));
    assert_int_equal(store_next_expiry(s), 0);

    assert_true(store_set_expire(s, S("a"), 50, 3, 30));
    e = store_get(s, S("a"));
    assert_value(e, S("1"));
    assert_int_equal(e->expire_ms, 50);
    assert_int_equal(e->create_rev, 1);
    assert_int_equal(e->mod_rev, 3);
    assert_int_equal(e->version, 2);
    assert_int_equal(e->mtime_ms, 30);
    assert_int_equal(store_next_expiry(s), 50);

    store_set(s, S("b"), S("2"), 40, 4, 40);
    assert_int_equal(store_next_expiry(s), 40);
    assert_true(store_set_expire(s, S("b"), 60, 5, 50));
    assert_int_equal(store_next_expiry(s), 50);
    assert_true(store_set_expire(s, S("a"), 0, 6, 60));
    assert_int_equal(store_get(s, S("a"))->expire_ms, 0);
    assert_int_equal(store_get(s, S("a"))->version, 3);
    assert_int_equal(store_next_expiry(s), 60);
    assert_true(store_set_expire(s, S("b"), 0, 7, 70));
    assert_int_equal(store_next_expiry(s), 0);
    /* Clearing an expiry that is not there still counts as a change. */
    assert_true(store_set_expire(s, S("b"), 0, 8, 80));
    assert_int_equal(store_get(s, S("b"))->version, 4);
    assert_int_equal(store_get(s, S("b"))->mod_rev, 8);
    store_free(s);
}

static void test_del(void **state)
{
    struct store *s = ordered_store();
    size_t n = ARRAY_SIZE(ordered_keys);
    const struct store_entry *e;
    size_t bytes = 0;

    (void)state;
    assert_false(store_del(s, S("zz")));
    assert_false(store_del(s, S("a\0\0\0")));
    /* Delete the odd positions, then check the even ones remain in order. */
    for (size_t i = 1; i < n; i += 2)
        assert_true(store_del(s, ordered_keys[i].key, ordered_keys[i].len));
    for (size_t i = 1; i < n; i += 2)
        assert_false(store_del(s, ordered_keys[i].key, ordered_keys[i].len));
    assert_int_equal(store_count(s), (n + 1) / 2);
    for (size_t i = 0; i < n; i += 2)
        bytes += ordered_keys[i].len + 1;
    assert_int_equal(store_bytes(s), bytes);
    e = store_first(s);
    for (size_t i = 0; i < n; i += 2) {
        assert_key(e, ordered_keys[i].key, ordered_keys[i].len);
        e = store_next(s, e);
    }
    assert_null(e);
    for (size_t i = 0; i < n; i += 2)
        assert_true(store_del(s, ordered_keys[i].key, ordered_keys[i].len));
    assert_null(store_first(s));
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_bytes(s), 0);
    store_free(s);
}

static void test_clear_and_reuse(void **state)
{
    struct store *s = ordered_store();

    (void)state;
    store_set(s, S("t1"), S("x"), 100, 2, 2);
    store_set(s, S("t2"), S("x"), 50, 3, 3);
    assert_int_equal(store_next_expiry(s), 50);
    store_clear(s);
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_bytes(s), 0);
    assert_null(store_first(s));
    assert_null(store_get(s, S("a")));
    assert_int_equal(store_next_expiry(s), 0);
    assert_int_equal(store_expired(s, INT64_MAX, 10, NULL, NULL), 0);
    store_set(s, S("b"), S("xy"), 7, 4, 4);
    store_set(s, S("a"), S("z"), 0, 5, 5);
    assert_key(store_first(s), S("a"));
    assert_int_equal(store_count(s), 2);
    assert_int_equal(store_bytes(s), 5);
    assert_int_equal(store_next_expiry(s), 7);
    store_free(s);
}

static void test_counts_and_bytes(void **state)
{
    struct store *s = store_new();

    (void)state;
    store_set(s, S("ab"), S("cde"), 0, 1, 1);
    store_set(s, S("\0"), S("\0\0"), 0, 2, 2);
    assert_int_equal(store_count(s), 2);
    assert_int_equal(store_bytes(s), 5 + 3);
    store_set(s, S("ab"), S("c"), 0, 3, 3);
    assert_int_equal(store_bytes(s), 3 + 3);
    store_set(s, S("ab"), S("123456789"), 0, 4, 4);
    assert_int_equal(store_bytes(s), 11 + 3);
    assert_true(store_set_expire(s, S("ab"), 99, 5, 5));
    assert_int_equal(store_bytes(s), 11 + 3);
    assert_true(store_del(s, S("\0")));
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_bytes(s), 11);
    store_free(s);
}

static void test_live(void **state)
{
    struct store_entry e = {.expire_ms = 1000};

    (void)state;
    assert_false(store_live(NULL, 0));
    assert_true(store_live(&e, 998));
    assert_true(store_live(&e, 999));
    assert_false(store_live(&e, 1000));
    assert_false(store_live(&e, 1001));
    assert_false(store_live(&e, INT64_MAX));
    e.expire_ms = 0;
    assert_true(store_live(&e, INT64_MIN));
    assert_true(store_live(&e, 0));
    assert_true(store_live(&e, INT64_MAX));
    e.expire_ms = INT64_MAX;
    assert_true(store_live(&e, INT64_MAX - 1));
    assert_false(store_live(&e, INT64_MAX));
}

static void test_load(void **state)
{
    struct store *s = store_new();
    struct store_entry in = {
        .key = "k\0ey",
        .key_len = 4,
        .value = "val",
        .value_len = 3,
        .expire_ms = 777,
        .mtime_ms = 555,
        .create_rev = 11,
        .mod_rev = 22,
        .version = 33,
    };
    const struct store_entry *e;

    (void)state;
    store_load(s, &in);
    in.key = "plain";
    in.key_len = 5;
    in.expire_ms = 0;
    store_load(s, &in);
    e = store_get(s, S("k\0ey"));
    assert_key(e, S("k\0ey"));
    assert_value(e, S("val"));
    assert_int_equal(e->expire_ms, 777);
    assert_int_equal(e->mtime_ms, 555);
    assert_int_equal(e->create_rev, 11);
    assert_int_equal(e->mod_rev, 22);
    assert_int_equal(e->version, 33);
    assert_ptr_not_equal(e->key, in.key);
    assert_int_equal(store_get(s, S("plain"))->expire_ms, 0);
    assert_int_equal(store_count(s), 2);
    assert_int_equal(store_bytes(s), 4 + 3 + 5 + 3);
    assert_int_equal(store_next_expiry(s), 777);
    e = store_set(s, S("k\0ey"), S("new"), 0, 40, 600);
    assert_int_equal(e->create_rev, 11);
    assert_int_equal(e->version, 34);
    assert_int_equal(store_next_expiry(s), 0);
    store_free(s);
}

/* Collects what store_expired() visits. */
struct visits {
    size_t n;
    char keys[256][8];
    size_t key_lens[256];
    int64_t expires[256];
};

static void collect(const struct store_entry *e, void *arg)
{
    struct visits *v = arg;

    assert_true(v->n < ARRAY_SIZE(v->keys));
    assert_true(e->key_len <= sizeof(v->keys[0]));
    memcpy(v->keys[v->n], e->key, e->key_len);
    v->key_lens[v->n] = e->key_len;
    v->expires[v->n] = e->expire_ms;
    v->n++;
}

static void test_expired_basic(void **state)
{
    struct store *s = store_new();
    struct visits v = {0};

    (void)state;
    store_set(s, S("c"), S("x"), 30, 1, 1);
    store_set(s, S("a"), S("x"), 10, 2, 2);
    store_set(s, S("d"), S("x"), 0, 3, 3);
    store_set(s, S("b"), S("x"), 20, 4, 4);
    store_set(s, S("e"), S("x"), 20, 5, 5);
    assert_int_equal(store_next_expiry(s), 10);

    assert_int_equal(store_expired(s, 9, 10, collect, &v), 0);
    assert_int_equal(store_expired(s, 20, 0, collect, &v), 0);
    assert_int_equal(store_expired(s, 20, 10, collect, &v), 3);
    assert_memory_equal(v.keys[0], "a", 1);
    assert_memory_equal(v.keys[1], "b", 1);
    assert_memory_equal(v.keys[2], "e", 1);
    assert_int_equal(v.expires[1], 20);
    v.n = 0;
    assert_int_equal(store_expired(s, INT64_MAX, 2, collect, &v), 2);
    assert_memory_equal(v.keys[1], "b", 1);
    v.n = 0;
    assert_int_equal(store_expired(s, INT64_MAX, 100, collect, &v), 4);
    assert_memory_equal(v.keys[3], "c", 1);
    /* Visiting changed nothing. */
    assert_int_equal(store_count(s), 5);
    assert_int_equal(store_next_expiry(s), 10);
    store_free(s);
}

/* More expired entries than fit the stack frontier, in reverse order. */
static void test_expired_many(void **state)
{
    struct store *s = store_new();
    struct visits *v = calloc(1, sizeof(*v));

    (void)state;
    assert_non_null(v);
    for (int i = 0; i < 200; i++) {
        char key[2] = {(char)(i / 256), (char)(i % 256)};

        store_set(s, key, 2, "v", 1, 1000 - i, (uint64_t)i + 1, 0);
    }
    assert_int_equal(store_next_expiry(s), 801);
    assert_int_equal(store_expired(s, 1000, 1000, collect, v), 200);
    for (size_t i = 1; i < v->n; i++)
        assert_true(v->expires[i - 1] < v->expires[i]);
    v->n = 0;
    assert_int_equal(store_expired(s, 1000, 150, collect, v), 150);
    assert_int_equal(v->expires[149], 950);
    v->n = 0;
    assert_int_equal(store_expired(s, 900, SIZE_MAX, collect, v), 100);
    assert_int_equal(v->expires[99], 900);
    free(v);
    store_free(s);
}

/* Randomized comparison against a brute-force model. */
#define MODEL_KEYS  150
#define MODEL_VALUE 24

struct model_entry {
    bool present;
    bool duplicate;
    char key[4];
    size_t key_len;
    char value[MODEL_VALUE];
    size_t value_len;
    int64_t expire_ms;
    int64_t mtime_ms;
    uint64_t create_rev;
    uint64_t mod_rev;
    uint64_t version;
};

static struct model_entry model[MODEL_KEYS];

static void model_init(void)
{
    memset(model, 0, sizeof(model));
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        /* Short binary keys with NULs, 0xff bytes and shared prefixes. */
        model[i].key[0] = (char)(i % 5 == 0 ? 0 : i % 7 == 0 ? 0xff : 'k');
        model[i].key[1] = (char)(i / 3);
        model[i].key[2] = '\0';
        model[i].key_len = 1 + i % 3;
    }
    /* Different i can produce the same bytes; use the first of each. */
    for (size_t i = 0; i < MODEL_KEYS; i++)
        for (size_t j = 0; j < i; j++)
            if (model_cmp(model[i].key, model[i].key_len, model[j].key,
                          model[j].key_len) == 0)
                model[i].duplicate = true;
}

static int model_order(const void *pa, const void *pb)
{
    const struct model_entry *a = *(const struct model_entry *const *)pa;
    const struct model_entry *b = *(const struct model_entry *const *)pb;

    return model_cmp(a->key, a->key_len, b->key, b->key_len);
}

static int model_expiry_order(const void *pa, const void *pb)
{
    const struct model_entry *a = *(const struct model_entry *const *)pa;
    const struct model_entry *b = *(const struct model_entry *const *)pb;

    if (a->expire_ms != b->expire_ms)
        return a->expire_ms < b->expire_ms ? -1 : 1;
    return model_order(pa, pb);
}

static void model_check_entry(const struct store_entry *e,
                              const struct model_entry *m)
{
    assert_key(e, m->key, m->key_len);
    assert_value(e, m->value, m->value_len);
    assert_int_equal(e->expire_ms, m->expire_ms);
    assert_int_equal(e->mtime_ms, m->mtime_ms);
    assert_int_equal(e->create_rev, m->create_rev);
    assert_int_equal(e->mod_rev, m->mod_rev);
    assert_int_equal(e->version, m->version);
}

static void model_check_all(const struct store *s)
{
    struct model_entry *sorted[MODEL_KEYS];
    size_t n = 0;
    const struct store_entry *e = store_first(s);

    for (size_t i = 0; i < MODEL_KEYS; i++)
        if (model[i].present)
            sorted[n++] = &model[i];
    qsort(sorted, n, sizeof(sorted[0]), model_order);
    for (size_t i = 0; i < n; i++) {
        model_check_entry(e, sorted[i]);
        e = store_next(s, e);
    }
    assert_null(e);
}

static void model_check_expiry(const struct store *s)
{
    struct model_entry *due[MODEL_KEYS];
    int64_t now = (int64_t)rng_below(260);
    size_t max = rng_below(40);
    size_t n = 0;
    int64_t earliest = 0;
    struct visits v = {0};
    size_t want;

    for (size_t i = 0; i < MODEL_KEYS; i++) {
        const struct model_entry *m = &model[i];

        if (!m->present || m->expire_ms == 0)
            continue;
        if (earliest == 0 || m->expire_ms < earliest)
            earliest = m->expire_ms;
        if (m->expire_ms <= now)
            due[n++] = &model[i];
    }
    assert_int_equal(store_next_expiry(s), earliest);
    qsort(due, n, sizeof(due[0]), model_expiry_order);
    want = n < max ? n : max;
    assert_int_equal(store_expired(s, now, max, collect, &v), want);
    assert_int_equal(v.n, want);
    for (size_t i = 0; i < want; i++) {
        assert_int_equal(v.expires[i], due[i]->expire_ms);
        assert_int_equal(v.key_lens[i], due[i]->key_len);
        assert_memory_equal(v.keys[i], due[i]->key, due[i]->key_len);
    }
}

static void model_check_totals(const struct store *s)
{
    size_t count = 0;
    size_t bytes = 0;

    for (size_t i = 0; i < MODEL_KEYS; i++) {
        if (model[i].present) {
            count++;
            bytes += model[i].key_len + model[i].value_len;
        }
    }
    assert_int_equal(store_count(s), count);
    assert_int_equal(store_bytes(s), bytes);
}

static int64_t random_expiry(void)
{
    /* Few distinct times, so ties are common; negative times too. */
    return rng_below(3) == 0 ? 0 : (int64_t)rng_below(250) - 5;
}

static void random_value(struct model_entry *m, uint64_t rev)
{
    m->value_len = rng_below(MODEL_VALUE + 1);
    for (size_t i = 0; i < m->value_len; i++)
        m->value[i] = (char)(rev + i);
}

static void model_set(struct store *s, struct model_entry *m, uint64_t rev)
{
    const struct store_entry *e;

    random_value(m, rev);
    m->expire_ms = random_expiry();
    m->mtime_ms = (int64_t)rev * 10;
    m->mod_rev = rev;
    if (!m->present) {
        m->create_rev = rev;
        m->version = 0;
    }
    m->version++;
    m->present = true;
    e = store_set(s, m->key, m->key_len, m->value, m->value_len, m->expire_ms,
                  rev, m->mtime_ms);
    model_check_entry(e, m);
}

/* Replace a value with a slice of itself, read from the entry. */
static void model_set_slice(struct store *s, struct model_entry *m,
                            uint64_t rev)
{
    const struct store_entry *e = store_get(s, m->key, m->key_len);
    size_t off;

    if (!m->present) {
        assert_null(e);
        return;
    }
    off = rng_below((uint32_t)m->value_len + 1);
    m->value_len = rng_below((uint32_t)(m->value_len - off) + 1);
    memmove(m->value, m->value + off, m->value_len);
    m->mtime_ms = (int64_t)rev * 10;
    m->mod_rev = rev;
    m->version++;
    e = store_set(s, e->key, e->key_len, e->value + off, m->value_len,
                  m->expire_ms, rev, m->mtime_ms);
    model_check_entry(e, m);
}

static void model_set_expire(struct store *s, struct model_entry *m,
                             uint64_t rev)
{
    int64_t expire = random_expiry();
    bool ok =
        store_set_expire(s, m->key, m->key_len, expire, rev, (int64_t)rev * 10);

    assert_int_equal(ok, m->present);
    if (ok) {
        m->expire_ms = expire;
        m->mtime_ms = (int64_t)rev * 10;
        m->mod_rev = rev;
        m->version++;
        model_check_entry(store_get(s, m->key, m->key_len), m);
    }
}

static void model_load(struct store *s, struct model_entry *m, uint64_t rev)
{
    struct store_entry in;

    if (m->present)
        return;
    random_value(m, rev);
    m->present = true;
    m->expire_ms = random_expiry();
    m->mtime_ms = (int64_t)rng_below(1000);
    m->create_rev = rng_below(1000);
    m->mod_rev = m->create_rev + rng_below(1000);
    m->version = 1 + rng_below(50);
    in = (struct store_entry){.key = m->key,
                              .key_len = m->key_len,
                              .value = m->value,
                              .value_len = m->value_len,
                              .expire_ms = m->expire_ms,
                              .mtime_ms = m->mtime_ms,
                              .create_rev = m->create_rev,
                              .mod_rev = m->mod_rev,
                              .version = m->version};
    store_load(s, &in);
    model_check_entry(store_get(s, m->key, m->key_len), m);
}

static void model_step(struct store *s, uint64_t rev)
{
    struct model_entry *m;
    uint32_t op = rng_below(1000);

    do
        m = &model[rng_below(MODEL_KEYS)];
    while (m->duplicate);
    if (op < 350) {
        model_set(s, m, rev);
    } else if (op < 450) {
        model_set_slice(s, m, rev);
    } else if (op < 600) {
        model_set_expire(s, m, rev);
    } else if (op < 850) {
        assert_int_equal(store_del(s, m->key, m->key_len), m->present);
        m->present = false;
    } else if (op < 998) {
        model_load(s, m, rev);
    } else {
        store_clear(s);
        for (size_t i = 0; i < MODEL_KEYS; i++)
            model[i].present = false;
    }
}

static void test_model_random(void **state)
{
    struct store *s = store_new();

    (void)state;
    rng_seed(12345);
    model_init();
    for (uint64_t rev = 1; rev <= 6000; rev++) {
        model_step(s, rev);
        model_check_totals(s);
        model_check_expiry(s);
        if (rev % 50 == 0)
            model_check_all(s);
    }
    model_check_all(s);
    store_free(s);
}

/* 100k keys inserted in random order come out sorted. */
#define BIG_N 100000

static void big_key(uint32_t i, char out[6])
{
    out[0] = 'k';
    out[1] = (char)(i >> 24);
    out[2] = (char)(i >> 16);
    out[3] = (char)(i >> 8);
    out[4] = (char)i;
    out[5] = '\0';
}

/* The prefetch hints are harmless on an empty store, on present and absent
 * keys, and leave every entry as it was. */
static void test_prefetch_changes_nothing(void **state)
{
    struct store *s = store_new();
    char key[6];

    (void)state;
    store_prefetch_slot(s, "a", 1);
    store_prefetch_node(s, "a", 1);
    for (uint32_t i = 0; i < 1000; i++) {
        big_key(i, key);
        store_set(s, key, 5, key, 5, 0, i + 1, 0);
    }
    for (uint32_t i = 0; i < 2000; i++) {
        big_key(i, key);
        store_prefetch_slot(s, key, 5);
        store_prefetch_node(s, key, 5);
        store_prefetch_node(s, "", 0);
    }
    assert_int_equal(store_count(s), 1000);
    for (uint32_t i = 0; i < 1000; i++) {
        const struct store_entry *e;

        big_key(i, key);
        e = store_get(s, key, 5);
        assert_non_null(e);
        assert_value(e, key, 5);
    }
    store_free(s);
}

static void test_many_keys(void **state)
{
    uint32_t *perm = malloc(BIG_N * sizeof(*perm));
    struct store *s = store_new();
    const struct store_entry *e;
    char key[6];
    uint32_t i;

    (void)state;
    assert_non_null(perm);
    rng_seed(99);
    for (i = 0; i < BIG_N; i++)
        perm[i] = i;
    for (i = BIG_N - 1; i > 0; i--) {
        uint32_t j = rng_below(i + 1);
        uint32_t t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    for (i = 0; i < BIG_N; i++) {
        big_key(perm[i], key);
        store_set(s, key, 5, key, 5, 0, i + 1, 0);
    }
    assert_int_equal(store_count(s), BIG_N);
    assert_int_equal(store_bytes(s), (size_t)BIG_N * 10);
    for (i = 0, e = store_first(s); e != NULL; e = store_next(s, e), i++) {
        big_key(i, key);
        assert_key(e, key, 5);
        assert_value(e, key, 5);
    }
    assert_int_equal(i, BIG_N);

    /* Seek just past a key lands on its successor. */
    for (int n = 0; n < 1000; n++) {
        i = rng_below(BIG_N - 1);
        big_key(i, key);
        e = store_seek(s, key, 6);
        big_key(i + 1, key);
        assert_key(e, key, 5);
    }

    /* Delete the odd keys in random order; the even ones remain. */
    for (i = 0; i < BIG_N; i++) {
        big_key(perm[i], key);
        if (perm[i] % 2 == 1) {
            assert_true(store_del(s, key, 5));
            assert_false(store_del(s, key, 5));
        } else {
            assert_non_null(store_get(s, key, 5));
        }
    }
    assert_int_equal(store_count(s), BIG_N / 2);
    for (i = 0, e = store_first(s); e != NULL; e = store_next(s, e), i += 2) {
        big_key(i, key);
        assert_key(e, key, 5);
    }
    assert_int_equal(i, BIG_N);

    /* Point lookups (the hash index) agree with the list after the deletes,
     * also once values change length and nodes move. */
    for (i = 0; i < BIG_N; i++) {
        big_key(i, key);
        if (i % 2 == 1) {
            assert_null(store_get(s, key, 5));
            continue;
        }
        e = store_set(s, key, 5, "longer value", 3 + i % 9, 0, BIG_N + i, 0);
        assert_int_equal(e->value_len, 3 + i % 9);
        assert_ptr_equal(store_get(s, key, 5), e);
        assert_int_equal(e->version, 2);
    }
    assert_int_equal(store_count(s), BIG_N / 2);
    free(perm);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_order_binary_keys),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_prefix_walk),
        cmocka_unit_test(test_set_and_replace),
        cmocka_unit_test(test_empty_key_and_value),
        cmocka_unit_test(test_set_aliasing),
        cmocka_unit_test(test_set_expire),
        cmocka_unit_test(test_del),
        cmocka_unit_test(test_clear_and_reuse),
        cmocka_unit_test(test_counts_and_bytes),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_expired_basic),
        cmocka_unit_test(test_expired_many),
        cmocka_unit_test(test_model_random),
        cmocka_unit_test(test_prefetch_changes_nothing),
        cmocka_unit_test(test_many_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
