/* Tests for the member table. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "members.h"
#include "util.h"

static void test_id_fnv1a(void **state)
{
    (void)state;
    /* Published FNV-1a 64 test vectors. */
    assert_true(member_id_from_name("", 0) == 0xcbf29ce484222325ULL);
    assert_true(member_id_from_name("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(member_id_from_name("foobar", 6) == 0x85944171f73967e8ULL);
    /* Only @len bytes count. */
    assert_true(member_id_from_name("foobarXYZ", 6) ==
                member_id_from_name("foobar", 6));
    assert_true(member_id_from_name("raft0", 5) !=
                member_id_from_name("raft1", 5));
}

static void test_id_nonzero_and_distinct(void **state)
{
    char name[32];
    uint64_t prev = 0;

    (void)state;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(name, sizeof(name), "node-%d", i);
        uint64_t id = member_id_from_name(name, (size_t)n);

        assert_true(id != 0);
        assert_true(id != prev);
        prev = id;
    }
}

static void test_roles(void **state)
{
    int role = -1;

    (void)state;
    assert_string_equal(member_role_name(MEMBER_VOTER), "voter");
    assert_string_equal(member_role_name(MEMBER_STANDBY), "standby");
    assert_string_equal(member_role_name(MEMBER_SPARE), "spare");
    assert_string_equal(member_role_name(3), "unknown");
    assert_string_equal(member_role_name(-1), "unknown");

    assert_int_equal(member_role_parse("voter", 5, &role), 0);
    assert_int_equal(role, MEMBER_VOTER);
    assert_int_equal(member_role_parse("standby", 7, &role), 0);
    assert_int_equal(role, MEMBER_STANDBY);
    assert_int_equal(member_role_parse("spareXX", 5, &role), 0);
    assert_int_equal(role, MEMBER_SPARE);

    role = 42;
    assert_int_equal(member_role_parse("spar", 4, &role), -EINVAL);
    assert_int_equal(member_role_parse("VOTER", 5, &role), -EINVAL);
    assert_int_equal(member_role_parse("voters", 6, &role), -EINVAL);
    assert_int_equal(member_role_parse("", 0, &role), -EINVAL);
    assert_int_equal(member_role_parse("vot\0r", 5, &role), -EINVAL);
    assert_int_equal(role, 42);
}

static void test_name_valid(void **state)
{
    char longest[MEMBER_NAME_MAX + 1];

    (void)state;
    assert_true(member_name_valid("raft0", 5));
    assert_true(member_name_valid("a", 1));
    assert_true(member_name_valid("Node_1.example-com", 18));
    assert_false(member_name_valid("", 0));
    assert_false(member_name_valid("a b", 3));
    assert_false(member_name_valid("a/b", 3));
    assert_false(member_name_valid("a:b", 3));
    assert_false(member_name_valid("a\0b", 3));
    assert_false(member_name_valid("\xc3\xa9", 2));
    /* Only @len bytes count: an invalid byte past it does not matter. */
    assert_true(member_name_valid("ab cd", 2));

    memset(longest, 'x', sizeof(longest));
    assert_true(member_name_valid(longest, MEMBER_NAME_MAX));
    assert_false(member_name_valid(longest, MEMBER_NAME_MAX + 1));
}

static void assert_sorted(const struct members *m)
{
    for (size_t i = 1; i < m->n; i++)
        assert_true(strcmp(m->v[i - 1].name, m->v[i].name) < 0);
}

static void test_set_sorted(void **state)
{
    const char *names[] = {"raft2", "raft0", "b", "raft10", "a", "raft1"};
    const char *want[] = {"a", "b", "raft0", "raft1", "raft10", "raft2"};
    struct members m;

    (void)state;
    members_init(&m);
    assert_int_equal(m.n, 0);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        members_set(&m, names[i], i + 1, "r", "c", MEMBER_VOTER);
        assert_sorted(&m);
    }
    assert_int_equal(m.n, ARRAY_SIZE(want));
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_string_equal(m.v[i].name, want[i]);
    members_free(&m);
    assert_int_equal(m.n, 0);
    assert_null(m.v);
}

static void test_set_replaces(void **state)
{
    char name[] = "raft1";
    char raft[] = "10.0.0.1:4001";
    struct members m;
    struct member *e;

    (void)state;
    members_init(&m);
    members_set(&m, "raft0", 1, ":4000", ":3000", MEMBER_VOTER);
    members_set(&m, name, 2, raft, ":3001", MEMBER_STANDBY);
    /* The table holds copies, not the caller's strings. */
    name[0] = 'X';
    raft[0] = 'X';
    e = members_find_name(&m, "raft1");
    assert_non_null(e);
    assert_string_equal(e->raft_addr, "10.0.0.1:4001");

    members_set(&m, "raft1", 7, ":5001", ":6001", MEMBER_SPARE);
    assert_int_equal(m.n, 2);
    e = members_find_name(&m, "raft1");
    assert_non_null(e);
    assert_true(e->id == 7);
    assert_string_equal(e->raft_addr, ":5001");
    assert_string_equal(e->client_addr, ":6001");
    assert_int_equal(e->role, MEMBER_SPARE);

    /* Replacing with the entry's own strings must not read freed memory. */
    members_set(&m, e->name, e->id, e->raft_addr, e->client_addr, MEMBER_VOTER);
    e = members_find_name(&m, "raft1");
    assert_string_equal(e->raft_addr, ":5001");
    assert_int_equal(e->role, MEMBER_VOTER);
    members_free(&m);
}

static void test_find(void **state)
{
    struct members m;
    struct member *e;

    (void)state;
    members_init(&m);
    assert_null(members_find_name(&m, "raft0"));
    assert_null(members_find_id(&m, 1));
    members_set(&m, "raft0", 100, ":4000", ":3000", MEMBER_VOTER);
    members_set(&m, "raft1", 200, ":4001", ":3001", MEMBER_VOTER);
    members_set(&m, "raft2", 300, ":4002", ":3002", MEMBER_VOTER);

    e = members_find_id(&m, 200);
    assert_non_null(e);
    assert_string_equal(e->name, "raft1");
    assert_null(members_find_id(&m, 400));
    assert_null(members_find_name(&m, "raft"));
    assert_null(members_find_name(&m, "raft3"));
    assert_ptr_equal(members_find_name(&m, "raft2"), &m.v[2]);
    members_free(&m);
}

static void test_del(void **state)
{
    struct members m;

    (void)state;
    members_init(&m);
    assert_int_equal(members_del(&m, "x"), -ENOENT);
    members_set(&m, "a", 1, "ra", "ca", MEMBER_VOTER);
    members_set(&m, "b", 2, "rb", "cb", MEMBER_VOTER);
    members_set(&m, "c", 3, "rc", "cc", MEMBER_VOTER);

    assert_int_equal(members_del(&m, "b"), 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.v[0].name, "a");
    assert_string_equal(m.v[1].name, "c");
    assert_int_equal(members_del(&m, "b"), -ENOENT);
    assert_int_equal(members_del(&m, "c"), 0);
    assert_int_equal(members_del(&m, "a"), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(members_del(&m, "a"), -ENOENT);

    /* Still usable after emptying. */
    members_set(&m, "d", 4, "rd", "cd", MEMBER_SPARE);
    assert_int_equal(m.n, 1);
    members_free(&m);
}

static void test_copy(void **state)
{
    struct members a, b;

    (void)state;
    members_init(&a);
    members_init(&b);
    members_set(&a, "raft0", 1, ":4000", ":3000", MEMBER_VOTER);
    members_set(&a, "raft1", 2, ":4001", ":3001", MEMBER_STANDBY);
    members_set(&b, "old", 9, "x", "y", MEMBER_SPARE);

    members_copy(&b, &a);
    assert_int_equal(b.n, 2);
    assert_null(members_find_name(&b, "old"));
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(b.v[i].name, a.v[i].name);
        assert_true(b.v[i].id == a.v[i].id);
        assert_string_equal(b.v[i].raft_addr, a.v[i].raft_addr);
        assert_string_equal(b.v[i].client_addr, a.v[i].client_addr);
        assert_int_equal(b.v[i].role, a.v[i].role);
        assert_ptr_not_equal(b.v[i].name, a.v[i].name);
    }

    /* Deep: changing the source leaves the copy alone. */
    members_set(&a, "raft0", 1, "changed", ":3000", MEMBER_VOTER);
    assert_string_equal(members_find_name(&b, "raft0")->raft_addr, ":4000");

    /* Copy onto itself and from an empty table. */
    members_copy(&a, &a);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.v[0].raft_addr, "changed");
    members_free(&b);
    members_copy(&a, &b);
    assert_int_equal(a.n, 0);
    members_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_fnv1a),
        cmocka_unit_test(test_id_nonzero_and_distinct),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_set_sorted),
        cmocka_unit_test(test_set_replaces),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_del),
        cmocka_unit_test(test_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
