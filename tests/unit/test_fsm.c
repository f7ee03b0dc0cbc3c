/* The Raft state machine driven directly: entries in, state and replies out,
 * snapshots across instances. No Raft, no disk, no clock. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "fsm.h"
#include "snapshot.h"

#define T0 1700000000000LL

static void apply_argv(struct fsm *f, uint8_t type, int64_t time_ms, int argc,
                       const char **argv, struct buf *reply)
{
    size_t lens[16];
    struct buf entry = {0};
    struct raft_buffer rb;
    void *result = NULL;

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    codec_encode(&entry, type, time_ms, (uint32_t)argc, argv, lens);
    rb.base = entry.data;
    rb.len = entry.len;
    assert_int_equal(f->raft_fsm.apply(&f->raft_fsm, &rb, &result), 0);
    buf_reset(reply);
    buf_append(reply, fsm_result(result)->data, fsm_result(result)->len);
    buf_append(reply, "", 1);
    buf_free(&entry);
}

#define APPLY(f, t, reply, ...)                                                \
    do {                                                                       \
        const char *argv_[] = {__VA_ARGS__};                                   \
        apply_argv(f, CODEC_COMMAND, t, (int)ARRAY_SIZE(argv_), argv_, reply); \
    } while (0)

static void test_apply_replies_and_state(void **state)
{
    struct fsm f;
    struct buf r = {0};
    const struct store_entry *e;

    (void)state;
    fsm_init(&f);
    APPLY(&f, T0, &r, "SET", "k", "v", "EX", "10");
    assert_string_equal(r.data, "+OK\r\n");
    APPLY(&f, T0 + 1, &r, "INCR", "k");
    assert_string_equal(r.data,
                        "-ERR value is not an integer or out of range\r\n");
    APPLY(&f, T0 + 2, &r, "APPEND", "k", "w");
    assert_string_equal(r.data, ":2\r\n");
    e = store_get(f.store, "k", 1);
    assert_non_null(e);
    assert_memory_equal(e->value, "vw", 2);
    /* Expiry is absolute, from the entry's time, kept by APPEND. */
    assert_int_equal(e->expire_ms, T0 + 10000);
    assert_int_equal(e->mtime_ms, T0 + 2);
    assert_int_equal(f.rev, 3);
    /* A read command in the log is refused, identically everywhere. */
    APPLY(&f, T0 + 3, &r, "GET", "k");
    assert_string_equal(r.data,
                        "-ERR log entry holds no valid write command\r\n");
    buf_free(&r);
    fsm_close(&f);
}

/* An entry whose time is behind the last one (a new leader with a slower
 * clock) does not move time backwards. */
static void test_time_never_goes_back(void **state)
{
    struct fsm f;
    struct buf r = {0};

    (void)state;
    fsm_init(&f);
    APPLY(&f, T0 + 5000, &r, "SET", "a", "1");
    APPLY(&f, T0, &r, "SET", "b", "2", "PX", "100");
    assert_int_equal(store_get(f.store, "b", 1)->expire_ms, T0 + 5100);
    buf_free(&r);
    fsm_close(&f);
}

static void test_expire_entry_is_conditional(void **state)
{
    struct fsm f;
    struct buf r = {0};
    const char *keys[] = {"gone", "rewritten", "missing"};

    (void)state;
    fsm_init(&f);
    APPLY(&f, T0, &r, "SET", "gone", "x", "PX", "100");
    APPLY(&f, T0, &r, "SET", "rewritten", "x", "PX", "100");
    /* Rewritten with a later expiry after the leader listed it. */
    APPLY(&f, T0 + 50, &r, "SET", "rewritten", "y", "PX", "1000");
    apply_argv(&f, CODEC_EXPIRE, T0 + 200, 3, keys, &r);
    assert_string_equal(r.data, ":1\r\n");
    assert_null(store_get(f.store, "gone", 4));
    assert_non_null(store_get(f.store, "rewritten", 9));
    buf_free(&r);
    fsm_close(&f);
}

static void test_members(void **state)
{
    struct fsm f;
    struct buf r = {0};
    const char *set[] = {"raft1", "42", "127.0.0.1:4001", "127.0.0.1:3001",
                         "voter"};
    const char *bad[] = {"raft1", "42", "a", "b", "boss"};
    const char *del[] = {"raft1"};

    (void)state;
    fsm_init(&f);
    apply_argv(&f, CODEC_MEMBER_SET, T0, 5, set, &r);
    assert_string_equal(r.data, "+OK\r\n");
    assert_int_equal(f.members.n, 1);
    assert_int_equal(members_find_name(&f.members, "raft1")->id, 42);
    apply_argv(&f, CODEC_MEMBER_SET, T0, 5, bad, &r);
    assert_string_equal(r.data, "-ERR malformed member entry\r\n");
    apply_argv(&f, CODEC_MEMBER_DEL, T0, 1, del, &r);
    assert_string_equal(r.data, ":1\r\n");
    assert_int_equal(f.members.n, 0);
    buf_free(&r);
    fsm_close(&f);
}

/* Garbage in the log is skipped with an error reply, never applied. */
/* The look-ahead hook: what it returns is only a prefetch hint. Entries
 * that do not decode, carry no key or are missing change nothing. */
struct peek_log {
    struct raft_buffer v[4];
    unsigned asked[16];
    unsigned calls;
};

static const struct raft_buffer *peek_from(void *arg, unsigned ahead)
{
    struct peek_log *l = arg;

    assert_true(ahead < ARRAY_SIZE(l->asked));
    l->asked[ahead]++;
    return l->calls++ % 5 == 4 ? NULL : &l->v[l->calls % 4];
}

static void test_peek_is_only_a_hint(void **state)
{
    static const char junk[24] = {1, 1, 0, 0, 9, 9, 9, 9};
    const char *set[] = {"SET", "k", "v"};
    const char *ping[] = {"PING"};
    struct buf e1 = {0}, e2 = {0};
    struct peek_log l = {0};
    struct fsm f;
    struct buf r = {0};
    size_t lens[3] = {3, 1, 1};

    (void)state;
    codec_encode(&e1, CODEC_COMMAND, T0, 3, set, lens);
    codec_encode(&e2, CODEC_COMMAND, T0, 1, ping, lens);
    l.v[0] = (struct raft_buffer){.base = e1.data, .len = e1.len};
    l.v[1] = (struct raft_buffer){.base = e2.data, .len = e2.len};
    l.v[2] = (struct raft_buffer){.base = (void *)junk, .len = sizeof(junk)};
    l.v[3] = (struct raft_buffer){.base = (void *)junk, .len = 3};
    fsm_init(&f);
    f.peek = peek_from;
    f.before_apply_arg = &l;
    for (int i = 0; i < 20; i++) {
        APPLY(&f, T0, &r, "SET", "k", "v");
        assert_string_equal(r.data, "+OK\r\n");
    }
    APPLY(&f, T0, &r, "INCR", "n");
    assert_string_equal(r.data, ":1\r\n");
    assert_int_equal(store_count(f.store), 2);
    /* Asked for a slot and for a node, some entries ahead, per apply. */
    assert_int_equal(l.calls, 42);
    assert_int_equal(l.asked[8], 21);
    assert_int_equal(l.asked[4], 21);
    buf_free(&r);
    buf_free(&e1);
    buf_free(&e2);
    fsm_close(&f);
}

static void test_undecodable_entry(void **state)
{
    struct fsm f;
    char junk[16] = "not a command!!";
    struct raft_buffer rb = {junk, sizeof(junk)};
    void *result;

    (void)state;
    fsm_init(&f);
    assert_int_equal(f.raft_fsm.apply(&f.raft_fsm, &rb, &result), 0);
    assert_memory_equal(fsm_result(result)->data, "-ERR undecodable", 16);
    assert_int_equal(store_count(f.store), 0);
    fsm_close(&f);
}

static struct raft_buffer take_snapshot(struct fsm *f)
{
    struct raft_buffer *bufs, copy;
    unsigned n;

    assert_int_equal(f->raft_fsm.snapshot(&f->raft_fsm, &bufs, &n), 0);
    /* Version 3: the encoding arrives in snapshot_async, from a child. */
    assert_int_equal(f->raft_fsm.version, 3);
    assert_int_equal(f->raft_fsm.snapshot_async(&f->raft_fsm, &bufs, &n), 0);
    assert_int_equal(n, 1);
    copy.len = bufs[0].len;
    copy.base = raft_malloc(copy.len);
    memcpy(copy.base, bufs[0].base, copy.len);
    assert_int_equal(f->raft_fsm.snapshot_finalize(&f->raft_fsm, &bufs, &n), 0);
    return copy;
}

static void test_snapshot_restore(void **state)
{
    struct fsm a, b;
    struct buf r = {0};
    const char *set[] = {"raft0", "7", "h:1", "h:2", "voter"};
    struct raft_buffer snap;
    const struct store_entry *e;
    char key[16];

    (void)state;
    fsm_init(&a);
    fsm_init(&b);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key%04d", i);
        APPLY(&a, T0 + i, &r, "SET", key, key, "PX", "60000");
    }
    apply_argv(&a, CODEC_MEMBER_SET, T0, 5, set, &r);
    APPLY(&b, T0, &r, "SET", "stale", "x");
    snap = take_snapshot(&a);
    /* restore takes the buffer on success. */
    assert_int_equal(b.raft_fsm.restore(&b.raft_fsm, &snap), 0);
    assert_int_equal(store_count(b.store), 1000);
    assert_null(store_get(b.store, "stale", 5));
    e = store_get(b.store, "key0999", 7);
    assert_non_null(e);
    assert_int_equal(e->expire_ms, T0 + 999 + 60000);
    assert_int_equal(e->mod_rev, 1000);
    assert_int_equal(b.rev, a.rev);
    assert_int_equal(b.members.n, 1);
    /* The next write continues the revision sequence. */
    APPLY(&b, T0 + 2000, &r, "SET", "new", "1");
    assert_int_equal(store_get(b.store, "new", 3)->mod_rev, a.rev + 1);
    buf_free(&r);
    fsm_close(&a);
    fsm_close(&b);
}

/* A corrupt snapshot is refused and the state it would replace survives. */
static void test_corrupt_snapshot_keeps_state(void **state)
{
    struct fsm a, b;
    struct buf r = {0};
    struct raft_buffer snap;

    (void)state;
    fsm_init(&a);
    fsm_init(&b);
    APPLY(&a, T0, &r, "SET", "x", "1");
    APPLY(&b, T0, &r, "SET", "mine", "2");
    snap = take_snapshot(&a);
    ((unsigned char *)snap.base)[snap.len / 2] ^= 0x40;
    assert_int_not_equal(b.raft_fsm.restore(&b.raft_fsm, &snap), 0);
    raft_free(snap.base);
    assert_non_null(store_get(b.store, "mine", 4));
    assert_int_equal(store_count(b.store), 1);
    buf_free(&r);
    fsm_close(&a);
    fsm_close(&b);
}

/* The snapshot is the state when it was asked for, whatever applies while
 * the child encodes it. */
static void test_snapshot_is_point_in_time(void **state)
{
    struct fsm a, b;
    struct buf r = {0};
    struct raft_buffer *bufs, copy;
    unsigned n;

    (void)state;
    fsm_init(&a);
    fsm_init(&b);
    APPLY(&a, T0, &r, "SET", "before", "1");
    assert_int_equal(a.raft_fsm.snapshot(&a.raft_fsm, &bufs, &n), 0);
    APPLY(&a, T0 + 1, &r, "SET", "after", "2");
    APPLY(&a, T0 + 2, &r, "DEL", "before");
    assert_int_equal(a.raft_fsm.snapshot_async(&a.raft_fsm, &bufs, &n), 0);
    copy.len = bufs[0].len;
    copy.base = raft_malloc(copy.len);
    memcpy(copy.base, bufs[0].base, copy.len);
    assert_int_equal(a.raft_fsm.snapshot_finalize(&a.raft_fsm, &bufs, &n), 0);
    assert_int_equal(b.raft_fsm.restore(&b.raft_fsm, &copy), 0);
    assert_non_null(store_get(b.store, "before", 6));
    assert_null(store_get(b.store, "after", 5));
    assert_int_equal(b.rev, 1);
    buf_free(&r);
    fsm_close(&a);
    fsm_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_replies_and_state),
        cmocka_unit_test(test_time_never_goes_back),
        cmocka_unit_test(test_expire_entry_is_conditional),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_peek_is_only_a_hint),
        cmocka_unit_test(test_undecodable_entry),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_corrupt_snapshot_keeps_state),
        cmocka_unit_test(test_snapshot_is_point_in_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
