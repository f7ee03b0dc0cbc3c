/* Unit tests for the key <-> path mapping (names.c) and the mount-local
 * directory set (dirset.c): fixed cases, then random binary keys for round
 * trips, injectivity and valid components, and random paths for the rule
 * that only canonical paths parse. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirset.h"
#include "names.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* "/" + the encoding of @key, NUL-terminated. */
static char *path_of(const char *key, size_t len)
{
    struct buf b = {0};

    buf_append(&b, "/", 1);
    names_encode_key(key, len, &b);
    buf_append(&b, "", 1);
    return b.data;
}

static void assert_key_eq(const struct buf *b, const char *key, size_t len)
{
    assert_int_equal(b->len, len);
    if (len > 0)
        assert_memory_equal(b->data, key, len);
}

/* Every component of @path (absolute) is a valid file name. */
static void assert_valid_components(const char *path, size_t len)
{
    size_t start = 1;

    assert_true(len >= 2 && path[0] == '/');
    assert_null(memchr(path, '\0', len));
    for (size_t i = 1; i <= len; i++) {
        size_t n;

        if (i < len && path[i] != '/')
            continue;
        n = i - start;
        assert_true(n > 0);
        assert_true(n <= NAMES_COMPONENT_MAX);
        assert_false(n == 1 && path[start] == '.');
        assert_false(n == 2 && path[start] == '.' && path[start + 1] == '.');
        start = i + 1;
    }
}

/* ---- fixed cases -------------------------------------------------------- */

struct pair {
    const char *key;
    size_t len;
    const char *path;
};

#define P(k, p)                                                                \
    {                                                                          \
        k, sizeof(k) - 1, p                                                    \
    }

static const struct pair pairs[] = {
    P("a", "a"),
    P("a/b", "a/b"),
    P("app/db/host", "app/db/host"),
    P("/a", "%2Fa"),
    P("a/", "a%2F"),
    P("a//b", "a/%2Fb"),
    P("/", "%2F"),
    P("//", "%2F%2F"),
    P("///", "%2F/%2F"),
    P("a//", "a/%2F"),
    P("/a/", "%2Fa%2F"),
    P(".", "%2E"),
    P("..", "%2E%2E"),
    P("...", "..."),
    P(".a", ".a"),
    P("a/./b", "a/%2E/b"),
    P("x/../y", "x/%2E%2E/y"),
    P("a\0b", "a%00b"),
    P("\0", "%00"),
    P("a b\n", "a b\n"),
    P("\xff\xfe", "\xff\xfe"),
    P("", "%"),
    /* '%' is escaped only where it would read as an escape. */
    P("a%b", "a%b"),
    P("100%", "100%"),
    P("%41", "%41"),
    P("%2f", "%2f"),
    P("a%2E", "a%2E"),
    P("%2E.", "%2E."),
    P("%+x", "%+x"),
    P("%", "%25"),
    P("%%", "%%"),
    P("%+", "%25+"),
    P("a%+", "a%25+"),
    P("%00", "%2500"),
    P("%2F", "%252F"),
    P("%25", "%2525"),
    P("%2E", "%252E"),
    P("%2E%2E", "%252E%252E"),
    P("x/%", "x/%25"),
    P("%/x", "%25/x"),
};

static void test_fixed_pairs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct buf b = {0};
        struct names_path np;
        char abs[64];

        names_encode_key(pairs[i].key, pairs[i].len, &b);
        buf_append(&b, "", 1);
        assert_string_equal(b.data, pairs[i].path);
        snprintf(abs, sizeof(abs), "/%s", pairs[i].path);
        assert_int_equal(names_parse(abs, &np), 0);
        assert_int_equal(np.kind,
                         pairs[i].len == 0 ? NAMES_OWN_KEY : NAMES_KEY);
        assert_key_eq(&np.key, pairs[i].key, pairs[i].len);
        names_path_free(&np);
        buf_free(&b);
    }
}

static void test_segment_len(void **state)
{
    (void)state;
    assert_int_equal(names_segment_len("a/b", 3), 1);
    assert_int_equal(names_segment_len("a/", 2), 2);
    assert_int_equal(names_segment_len("/a/b", 4), 2);
    assert_int_equal(names_segment_len("//x", 3), 1);
    assert_int_equal(names_segment_len("/", 1), 1);
    assert_int_equal(names_segment_len("abc", 3), 3);
    assert_int_equal(names_segment_len("", 0), 0);
}

static void test_dir_capable(void **state)
{
    (void)state;
    assert_true(names_dir_capable("", 0));
    assert_true(names_dir_capable("a", 1));
    assert_true(names_dir_capable("a/b", 3));
    assert_true(names_dir_capable("/", 1));
    assert_true(names_dir_capable("a//", 3)); /* last segment "/" */
    assert_true(names_dir_capable("/a", 2));
    assert_false(names_dir_capable("a/", 2));
    assert_false(names_dir_capable("/a/", 3));
    assert_false(names_dir_capable("//", 2));
}

static void test_root_and_own(void **state)
{
    struct names_path np;

    (void)state;
    assert_int_equal(names_parse("/", &np), 0);
    assert_int_equal(np.kind, NAMES_ROOT);
    assert_int_equal(np.key.len, 0);
    names_path_free(&np);

    assert_int_equal(names_parse("/a/%", &np), 0);
    assert_int_equal(np.kind, NAMES_OWN_KEY);
    assert_key_eq(&np.key, "a", 1);
    names_path_free(&np);

    assert_int_equal(names_parse("/x/y/%", &np), 0);
    assert_int_equal(np.kind, NAMES_OWN_KEY);
    assert_key_eq(&np.key, "x/y", 3);
    names_path_free(&np);

    assert_int_equal(names_parse("/%2F/%", &np), 0);
    assert_key_eq(&np.key, "/", 1);
    names_path_free(&np);

    /* "%" only last, and only in a directory that can exist. */
    assert_int_equal(names_parse("/%/x", &np), -ENOENT);
    assert_int_equal(names_parse("/a/%/%", &np), -ENOENT);
    assert_int_equal(names_parse("/a%2F/%", &np), -ENOENT);
}

static void test_not_canonical(void **state)
{
    static const char *const bad[] = {
        "/a%2Fb",   /* that '/' separates */
        "/a%25b",   /* '%' needs no escape before "b" */
        "/%25%",    /* nor the first of "%%" */
        "/%2541",   /* nor before "41" */
        "/a//b",    /* empty component */
        "/a/",      /* empty component */
        "/x/%+",    /* the marker, with nothing before it */
        "/aaa%+",   /* continued component too short */
        "/%2E%+",   /* continued component too short */
        "relative", /* not absolute */
        "/x%+/y",   /* too short to be continued */
    };
    struct names_path np;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (names_parse(bad[i], &np) == 0)
            fail_msg("parsed %s", bad[i]);
    }
}

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_long_segments(void **state)
{
    char *a255 = repeat('a', 255), *a256 = repeat('a', 256);
    char *pct = repeat('\0', 600); /* 600 escapes */
    struct buf b = {0};

    (void)state;
    /* 255 escaped bytes fit one component; 256 do not. */
    names_encode_segment(a255, 255, &b);
    assert_int_equal(b.len, 255);
    assert_null(memchr(b.data, '/', b.len));
    buf_reset(&b);
    names_encode_segment(a256, 256, &b);
    assert_int_equal(b.len, 253 + 3 + 3);
    assert_memory_equal(b.data + 253, "%+/aaa", 6);
    buf_reset(&b);
    /* Escapes are never cut: 84 of them (252 bytes) per component. */
    assert_int_equal(names_segment_component(pct, 600, 0, &b), 1);
    assert_int_equal(b.len, 84 * 3 + 2);
    buf_reset(&b);
    assert_int_equal(names_segment_component(pct, 600, 7, &b), 0);
    assert_int_equal(b.len, (600 - 7 * 84) * 3);
    assert_int_equal(names_segment_component(pct, 600, 8, &b), -1);
    /* Short segments are one final component. */
    buf_reset(&b);
    assert_int_equal(names_segment_component("a.b", 3, 0, &b), 0);
    assert_int_equal(names_segment_component("a.b", 3, 1, &b), -1);
    buf_free(&b);
    free(a255);
    free(a256);
    free(pct);
}

static void test_partial_paths(void **state)
{
    char *a = repeat('a', 700);
    struct names_path np;
    struct buf key = {0};
    char *path;
    size_t cut;

    (void)state;
    buf_append(&key, "dir/", 4);
    buf_append(&key, a, 700);
    path = path_of(key.data, key.len); /* /dir/a253%+/a253%+/a194 */
    cut = strlen("/dir/") + 255;
    path[cut] = '\0';
    assert_int_equal(names_parse(path, &np), 0);
    assert_int_equal(np.kind, NAMES_PARTIAL);
    assert_int_equal(np.dir_len, 4);
    assert_int_equal(np.depth, 1);
    assert_key_eq(&np.key, key.data, 4 + 253);
    assert_int_equal(np.chunks.len, 256);
    assert_memory_equal(np.chunks.data, path + 5, 255);
    names_path_free(&np);
    path[cut] = '/';
    path[cut + 256] = '\0';
    assert_int_equal(names_parse(path, &np), 0);
    assert_int_equal(np.depth, 2);
    assert_key_eq(&np.key, key.data, 4 + 506);
    names_path_free(&np);
    free(path);

    /* A '/' inside a continued run can only be the segment's first. */
    a[0] = '/';
    path = path_of(a, 700);
    path[256] = '\0';
    assert_int_equal(names_parse(path, &np), 0);
    assert_int_equal(np.kind, NAMES_PARTIAL);
    assert_int_equal(np.dir_len, 0);
    assert_true(np.key.data[0] == '/');
    names_path_free(&np);
    memcpy(path + 4, "%2F", 3);
    assert_int_equal(names_parse(path, &np), -ENOENT);
    free(path);
    buf_free(&key);
    free(a);
}

/* ---- random keys -------------------------------------------------------- */

static const char alphabet[] = {'a',  '/',    '/', '.', '.', '%', '%', '+',
                                '\0', '\xff', 'E', '2', 'F', '5', '0'};

static size_t random_key(char *k, size_t max)
{
    size_t len = rng() % 4 == 0 ? rng() % max : rng() % 12;
    bool wide = rng() % 8 == 0; /* long runs of plain bytes */

    for (size_t i = 0; i < len; i++) {
        if (wide && rng() % 16 != 0)
            k[i] = 'x';
        else
            k[i] = alphabet[rng() % sizeof(alphabet)];
    }
    return len;
}

struct entry {
    char *s;
    size_t len;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

#define N_KEYS  30000
#define KEY_MAX 1400

static void test_random_round_trip(void **state)
{
    struct entry *keys = xcalloc(N_KEYS, sizeof(*keys));
    struct entry *paths = xcalloc(N_KEYS, sizeof(*paths));
    char k[KEY_MAX];
    size_t n = 0, cut = 0;

    (void)state;
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t len = random_key(k, KEY_MAX);

        keys[i] = (struct entry){xmemdup(k, len), len};
    }
    qsort(keys, N_KEYS, sizeof(*keys), entry_cmp);
    for (size_t i = 0; i < N_KEYS; i++) {
        struct names_path np;
        char *path;

        if (i > 0 && entry_cmp(&keys[i - 1], &keys[i]) == 0)
            continue;
        path = path_of(keys[i].s, keys[i].len);
        assert_valid_components(path, strlen(path));
        assert_int_equal(names_parse(path, &np), 0);
        assert_key_eq(&np.key, keys[i].s, keys[i].len);
        assert_int_equal(np.kind, keys[i].len == 0 ? NAMES_OWN_KEY : NAMES_KEY);
        names_path_free(&np);
        paths[n++] = (struct entry){path, strlen(path)};
        cut += strstr(path, NAMES_CONT "/") != NULL;
    }
    assert_true(cut > 100); /* long segments were exercised */
    /* Distinct keys, distinct paths. */
    qsort(paths, n, sizeof(*paths), entry_cmp);
    for (size_t i = 1; i < n; i++)
        assert_int_not_equal(entry_cmp(&paths[i - 1], &paths[i]), 0);
    for (size_t i = 0; i < N_KEYS; i++)
        free(keys[i].s);
    for (size_t i = 0; i < n; i++)
        free(paths[i].s);
    free(keys);
    free(paths);
}

/* The own value of every directory-capable key has a path too. */
static void test_random_own_paths(void **state)
{
    char k[64];

    (void)state;
    for (int i = 0; i < 20000; i++) {
        size_t len = random_key(k, sizeof(k));
        struct names_path np;
        struct buf p = {0};

        if (!names_dir_capable(k, len) || len == 0)
            continue;
        buf_append(&p, "/", 1);
        names_encode_key(k, len, &p);
        buf_append(&p, "/%", 3);
        assert_int_equal(names_parse(p.data, &np), 0);
        assert_int_equal(np.kind, NAMES_OWN_KEY);
        assert_key_eq(&np.key, k, len);
        names_path_free(&np);
        buf_free(&p);
    }
}

/* Random paths: whatever parses is exactly the encoding of its key. */
static void test_random_paths_canonical(void **state)
{
    static const char chars[] = "a%2FE05+./";
    int parsed = 0;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        char path[16] = "/";
        size_t len = 1 + rng() % 10;
        struct names_path np;
        struct buf enc = {0};

        for (size_t j = 1; j < len; j++)
            path[j] = chars[rng() % (sizeof(chars) - 1)];
        path[len] = '\0';
        if (names_parse(path, &np) != 0)
            continue;
        parsed++;
        assert_int_not_equal(np.kind, NAMES_PARTIAL); /* too short */
        buf_append(&enc, "/", 1);
        if (np.kind == NAMES_KEY)
            names_encode_key(np.key.data, np.key.len, &enc);
        else if (np.kind == NAMES_OWN_KEY && np.key.len > 0) {
            names_encode_key(np.key.data, np.key.len, &enc);
            buf_append(&enc, "/%", 2);
        } else if (np.kind == NAMES_OWN_KEY) {
            buf_append(&enc, "%", 1);
        }
        buf_append(&enc, "", 1);
        assert_string_equal(enc.data, path);
        names_path_free(&np);
        buf_free(&enc);
    }
    assert_true(parsed > 1000);
}

/* ---- dirset -------------------------------------------------------------- */

static void test_dirset_basic(void **state)
{
    struct dirset *d = dirset_new();
    struct buf *names;
    size_t n;

    (void)state;
    dirset_add(d, "a/b/c", 5);
    dirset_add(d, "a/b/c", 5);
    dirset_add(d, "a!", 2);
    dirset_add(d, "x", 1);
    assert_true(dirset_exists(d, "a", 1));
    assert_true(dirset_exists(d, "a/b", 3));
    assert_true(dirset_exists(d, "a/b/c", 5));
    assert_true(dirset_exists(d, "", 0));
    assert_false(dirset_exists(d, "a/b/c/d", 7));
    assert_false(dirset_exists(d, "a/", 2)); /* the file "a%2F" */
    assert_false(dirset_exists(d, "y", 1));
    assert_true(dirset_has_children(d, "a", 1));
    assert_false(dirset_has_children(d, "a/b/c", 5));
    assert_false(dirset_has_children(d, "x", 1));

    n = dirset_children(d, "", 0, &names);
    assert_int_equal(n, 3);
    assert_key_eq(&names[0], "a", 1);
    assert_key_eq(&names[1], "a!", 2);
    assert_key_eq(&names[2], "x", 1);
    dirset_names_free(names, n);
    n = dirset_children(d, "a/", 2, &names);
    assert_int_equal(n, 1);
    assert_key_eq(&names[0], "b", 1);
    dirset_names_free(names, n);

    assert_false(dirset_remove(d, "a/b", 3));
    assert_true(dirset_remove(d, "a/b/c", 5));
    assert_false(dirset_exists(d, "a", 1));
    dirset_free(d);
}

static void test_dirset_odd_names(void **state)
{
    struct dirset *d = dirset_new();
    struct buf *names;
    size_t n;

    (void)state;
    /* "a//x" is directory "a" holding "/x": not below "a/". */
    dirset_add(d, "a//x", 4);
    assert_true(dirset_exists(d, "a", 1));
    assert_false(dirset_exists(d, "a/", 2));
    n = dirset_children(d, "a/", 2, &names);
    assert_int_equal(n, 1);
    assert_key_eq(&names[0], "/x", 2);
    dirset_names_free(names, n);
    n = dirset_children(d, "a//", 3, &names);
    assert_int_equal(n, 0);
    dirset_names_free(names, n);
    dirset_free(d);
}

static void test_dirset_rename(void **state)
{
    struct dirset *d = dirset_new();

    (void)state;
    dirset_add(d, "src", 3);
    dirset_add(d, "src/a", 5);
    dirset_add(d, "src/a/b", 7);
    dirset_add(d, "srcx", 4);
    dirset_add(d, "dst/old", 7);
    dirset_rename(d, "src", 3, "dst", 3);
    assert_true(dirset_exists(d, "dst", 3));
    assert_true(dirset_exists(d, "dst/a/b", 7));
    assert_false(dirset_exists(d, "dst/old", 7));
    assert_false(dirset_exists(d, "src", 3));
    assert_true(dirset_exists(d, "srcx", 4));
    dirset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_pairs),
        cmocka_unit_test(test_segment_len),
        cmocka_unit_test(test_dir_capable),
        cmocka_unit_test(test_root_and_own),
        cmocka_unit_test(test_not_canonical),
        cmocka_unit_test(test_long_segments),
        cmocka_unit_test(test_partial_paths),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_random_own_paths),
        cmocka_unit_test(test_random_paths_canonical),
        cmocka_unit_test(test_dirset_basic),
        cmocka_unit_test(test_dirset_odd_names),
        cmocka_unit_test(test_dirset_rename),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
