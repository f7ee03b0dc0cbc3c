/* Tests for the free-space decision: when a node refuses writes. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "diskspace.h"

#define MiB (1024ULL * 1024)

static void test_reserve(void **state)
{
    (void)state;
    assert_true(diskspace_reserve(64 * MiB, 0) == 64 * MiB);
    /* Room for a snapshot like the last one comes on top. */
    assert_true(diskspace_reserve(64 * MiB, 10 * MiB) == 74 * MiB);
    /* 0 turns the check off, whatever the snapshots. */
    assert_true(diskspace_reserve(0, 10 * MiB) == 0);
    assert_true(diskspace_reserve(UINT64_MAX, 1) == UINT64_MAX);
    assert_true(diskspace_reserve(1, UINT64_MAX) == UINT64_MAX);
}

static void test_resume_level(void **state)
{
    (void)state;
    assert_true(diskspace_resume_level(64 * MiB) == 72 * MiB);
    assert_true(diskspace_resume_level(0) == 0);
    assert_true(diskspace_resume_level(7) == 7);
    assert_true(diskspace_resume_level(UINT64_MAX) == UINT64_MAX);
}

static void test_bytes(void **state)
{
    (void)state;
    assert_true(diskspace_bytes(10, 4096) == 40960);
    assert_true(diskspace_bytes(0, 4096) == 0);
    assert_true(diskspace_bytes(10, 0) == 0);
    assert_true(diskspace_bytes(UINT64_MAX / 2, 4) == UINT64_MAX);
}

static void test_fills_below_reserve(void **state)
{
    struct diskspace d = {0};

    (void)state;
    assert_int_equal(diskspace_update(&d, 100 * MiB, 64 * MiB), DISKSPACE_SAME);
    assert_false(d.full);
    /* At the reserve exactly: still fine. */
    assert_int_equal(diskspace_update(&d, 64 * MiB, 64 * MiB), DISKSPACE_SAME);
    assert_false(d.full);
    assert_int_equal(diskspace_update(&d, 64 * MiB - 1, 64 * MiB),
                     DISKSPACE_FILLED);
    assert_true(d.full);
    assert_true(d.free == 64 * MiB - 1);
    assert_true(d.reserve == 64 * MiB);
    /* Reported once. */
    assert_int_equal(diskspace_update(&d, 0, 64 * MiB), DISKSPACE_SAME);
    assert_true(d.full);
}

static void test_hysteresis(void **state)
{
    struct diskspace d = {0};

    (void)state;
    assert_int_equal(diskspace_update(&d, 1 * MiB, 64 * MiB), DISKSPACE_FILLED);
    /* Back above the reserve, not yet above the resume level. */
    assert_int_equal(diskspace_update(&d, 64 * MiB, 64 * MiB), DISKSPACE_SAME);
    assert_int_equal(diskspace_update(&d, 72 * MiB - 1, 64 * MiB),
                     DISKSPACE_SAME);
    assert_true(d.full);
    assert_int_equal(diskspace_update(&d, 72 * MiB, 64 * MiB), DISKSPACE_FREED);
    assert_false(d.full);
    /* Once free, it fills only below the reserve again. */
    assert_int_equal(diskspace_update(&d, 64 * MiB, 64 * MiB), DISKSPACE_SAME);
    assert_int_equal(diskspace_update(&d, 63 * MiB, 64 * MiB),
                     DISKSPACE_FILLED);
}

static void test_reserve_grows_with_snapshots(void **state)
{
    struct diskspace d = {0};

    (void)state;
    /* The same free space becomes too little once snapshots grow. */
    assert_int_equal(
        diskspace_update(&d, 100 * MiB, diskspace_reserve(64 * MiB, 20 * MiB)),
        DISKSPACE_SAME);
    assert_int_equal(
        diskspace_update(&d, 100 * MiB, diskspace_reserve(64 * MiB, 40 * MiB)),
        DISKSPACE_FILLED);
    /* ... and enough again once they shrink (FLUSHALL, then a snapshot). */
    assert_int_equal(
        diskspace_update(&d, 100 * MiB, diskspace_reserve(64 * MiB, 0)),
        DISKSPACE_FREED);
}

static void test_snapshot_ok(void **state)
{
    struct diskspace d = {0};

    (void)state;
    assert_true(diskspace_snapshot_room(0) == DISKSPACE_SEGMENT);
    assert_true(diskspace_snapshot_room(MiB) == MiB + DISKSPACE_SEGMENT);
    assert_true(diskspace_snapshot_room(UINT64_MAX) == UINT64_MAX);
    /* Room for one like the last plus a log segment. */
    diskspace_update(&d, 20 * MiB, 16 * MiB);
    assert_true(diskspace_snapshot_ok(&d, 12 * MiB));
    assert_false(diskspace_snapshot_ok(&d, 12 * MiB + 1));
    /* Full or not does not matter, the room does: a snapshot that fits
     * frees log segments. */
    diskspace_update(&d, 10 * MiB, 16 * MiB);
    assert_true(d.full);
    assert_true(diskspace_snapshot_ok(&d, 2 * MiB));
    assert_false(diskspace_snapshot_ok(&d, 3 * MiB));
    diskspace_update(&d, 0, 16 * MiB);
    assert_false(diskspace_snapshot_ok(&d, 0));
    assert_false(diskspace_snapshot_ok(&d, UINT64_MAX));
    /* The check off: never held. */
    diskspace_update(&d, 0, 0);
    assert_true(diskspace_snapshot_ok(&d, UINT64_MAX));
}

static void test_off(void **state)
{
    struct diskspace d = {0};

    (void)state;
    assert_int_equal(diskspace_update(&d, 0, 0), DISKSPACE_SAME);
    assert_false(d.full);
    /* Turning the check off (a reload to 0) frees a full node. */
    assert_int_equal(diskspace_update(&d, 0, 64 * MiB), DISKSPACE_FILLED);
    assert_int_equal(diskspace_update(&d, 0, 0), DISKSPACE_FREED);
    assert_false(d.full);
}

static void test_format(void **state)
{
    char out[16];

    (void)state;
    assert_string_equal(diskspace_format(0, out, sizeof(out)), "0B");
    assert_string_equal(diskspace_format(1023, out, sizeof(out)), "1023B");
    assert_string_equal(diskspace_format(1024, out, sizeof(out)), "1.0K");
    assert_string_equal(diskspace_format(3 * MiB + MiB / 10, out, sizeof(out)),
                        "3.1M");
    assert_string_equal(diskspace_format(64 * MiB, out, sizeof(out)), "64.0M");
    assert_string_equal(diskspace_format(5 * 1024 * MiB / 2, out, sizeof(out)),
                        "2.5G");
    assert_string_equal(diskspace_format(UINT64_MAX, out, sizeof(out)),
                        "16.0E");
}

static void test_describe(void **state)
{
    struct diskspace d = {0};
    char out[128];

    (void)state;
    diskspace_update(&d, 90 * MiB, 64 * MiB);
    assert_string_equal(diskspace_describe(&d, out, sizeof(out)),
                        "90.0M free of which 64.0M are kept");
    diskspace_update(&d, 3 * MiB + MiB / 10, 64 * MiB);
    /* Full: what it takes to accept writes again. */
    assert_string_equal(diskspace_describe(&d, out, sizeof(out)),
                        "3.1M free, less than the 72.0M needed to take writes");
    /* A short buffer is cut, never overrun. */
    memset(out, 'x', sizeof(out));
    diskspace_describe(&d, out, 8);
    assert_int_equal(strlen(out), 7);
    assert_true(out[8] == 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_resume_level),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_fills_below_reserve),
        cmocka_unit_test(test_hysteresis),
        cmocka_unit_test(test_reserve_grows_with_snapshots),
        cmocka_unit_test(test_snapshot_ok),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
