/* Unit tests for pagecache.c: when an open may keep the kernel's pages. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pagecache.h"

#define SIG(s) pagecache_sig((s), strlen(s))

static int reset(void **state)
{
    pagecache_clear();
    return 0;
}

static void test_signatures(void **state)
{
    assert_int_equal(SIG("abc"), SIG("abc"));
    assert_int_not_equal(SIG("abc"), SIG("abd"));
    assert_int_not_equal(SIG(""), pagecache_sig("\0", 1));
    /* The length counts, not just the bytes hashed. */
    assert_int_not_equal(pagecache_sig("a\0", 1), pagecache_sig("a\0", 2));
    assert_int_equal(pagecache_sig(NULL, 0), SIG(""));
}

static void test_keep_only_what_filled_the_pages(void **state)
{
    /* Nothing recorded: the pages may hold anything. */
    assert_false(pagecache_open("k", 1, SIG("v1"), true));
    pagecache_filled("k", 1, SIG("v1"));
    assert_true(pagecache_open("k", 1, SIG("v1"), true));
    assert_true(pagecache_open("k", 1, SIG("v1"), true));
    /* Another value: drop, and the record goes with the pages. */
    assert_false(pagecache_open("k", 1, SIG("v2"), true));
    assert_false(pagecache_open("k", 1, SIG("v1"), true));
    /* The last read reply decides: an old open read after a new one. */
    pagecache_filled("k", 1, SIG("v2"));
    pagecache_filled("k", 1, SIG("v1"));
    assert_false(pagecache_open("k", 1, SIG("v2"), true));
}

static void test_not_allowed_drops(void **state)
{
    pagecache_filled("k", 1, SIG("v"));
    assert_false(pagecache_open("k", 1, SIG("v"), false));
    /* Dropped pages are empty: the record is gone too. */
    assert_false(pagecache_open("k", 1, SIG("v"), true));
}

static void test_taint_and_clear(void **state)
{
    pagecache_filled("a", 1, SIG("x"));
    pagecache_filled("b", 1, SIG("y"));
    pagecache_taint("a", 1);
    assert_false(pagecache_open("a", 1, SIG("x"), true));
    assert_true(pagecache_open("b", 1, SIG("y"), true));
    pagecache_clear();
    assert_false(pagecache_open("b", 1, SIG("y"), true));
    pagecache_taint("never", 5); /* unknown keys are fine */
}

static void test_binary_and_empty_keys(void **state)
{
    pagecache_filled("", 0, SIG("root"));
    pagecache_filled("a\0b", 3, SIG("1"));
    pagecache_filled("a\0c", 3, SIG("2"));
    assert_true(pagecache_open("", 0, SIG("root"), true));
    assert_true(pagecache_open("a\0b", 3, SIG("1"), true));
    assert_false(pagecache_open("a\0c", 3, SIG("1"), true));
    assert_false(pagecache_open("a", 1, SIG("1"), true));
}

/* Past its size the table empties itself: only a safe forgetting. */
static void test_many_keys(void **state)
{
    char key[32];
    size_t kept = 0;

    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof(key), "key%d", i);

        pagecache_filled(key, (size_t)n, (uint64_t)i);
    }
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof(key), "key%d", i);

        kept += pagecache_open(key, (size_t)n, (uint64_t)i, true);
        assert_false(pagecache_open(key, (size_t)n, (uint64_t)i + 1, true));
    }
    assert_true(kept > 0 && kept <= 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_signatures, reset),
        cmocka_unit_test_setup(test_keep_only_what_filled_the_pages, reset),
        cmocka_unit_test_setup(test_not_allowed_drops, reset),
        cmocka_unit_test_setup(test_taint_and_clear, reset),
        cmocka_unit_test_setup(test_binary_and_empty_keys, reset),
        cmocka_unit_test_setup(test_many_keys, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
