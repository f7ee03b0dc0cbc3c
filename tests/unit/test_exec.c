/* Unit tests for the command table and every data command: exact reply
 * bytes, options and errors, TTL arithmetic at a fixed time, expired keys,
 * revision stamping, keyspace events, KEYS, SCAN and glob matching. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "exec_internal.h"
#include "store.h"
#include "util.h"

#include "exec_fixture.h"

/* Run a command written as one line, arguments split on spaces. */
static const char *run(struct fx *f, const char *line)
{
    char *copy = xstrdup(line);
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int argc = 0;

    for (char *t = strtok(copy, " "); t != NULL; t = strtok(NULL, " ")) {
        assert_true(argc < MAX_ARGS);
        argv[argc] = t;
        lens[argc++] = strlen(t);
    }
    runv(f, argc, argv, lens);
    free(copy);
    return f->reply.data;
}

#define EXPECT(f, line, want) assert_string_equal(run(f, line), want)

static const struct store_entry *entry(struct fx *f, const char *key)
{
    return store_get(f->store, key, strlen(key));
}

/* The keyspace events since the last call, then forget them. */
static char *events(struct fx *f)
{
    static char last[4096];

    snprintf(last, sizeof(last), "%.*s", (int)f->events.len,
             f->events.data ? f->events.data : "");
    buf_reset(&f->events);
    return last;
}

#define ERR_SYNTAX  "-ERR syntax error\r\n"
#define ERR_NOT_INT "-ERR value is not an integer or out of range\r\n"

/* ---- the table ---------------------------------------------------------- */

static void test_table_sorted_and_consistent(void **state)
{
    size_t n;
    const struct cmd_spec *t = cmd_table(&n);

    (void)state;
    assert_true(n > 40);
    for (size_t i = 0; i < n; i++) {
        unsigned kind =
            t[i].flags & (CMD_WRITE | CMD_READ | CMD_CONN | CMD_ADMIN);
        char upper[32];

        if (i > 0)
            assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
        for (const char *c = t[i].name; *c; c++)
            assert_false(*c >= 'A' && *c <= 'Z');
        /* Exactly one kind, and only data commands run here. */
        assert_true(kind != 0 && (kind & (kind - 1)) == 0);
        assert_int_equal(t[i].exec == NULL,
                         (kind & (CMD_CONN | CMD_ADMIN)) != 0);
        assert_true(t[i].arity != 0);
        assert_ptr_equal(cmd_lookup(t[i].name, strlen(t[i].name)), &t[i]);
        for (size_t k = 0; k <= strlen(t[i].name); k++)
            upper[k] = (char)(t[i].name[k] >= 'a' && t[i].name[k] <= 'z'
                                  ? t[i].name[k] - 32
                                  : t[i].name[k]);
        assert_ptr_equal(cmd_lookup(upper, strlen(upper)), &t[i]);
    }
}

static void test_table_lookup(void **state)
{
    const struct cmd_spec *c;

    (void)state;
    c = cmd_lookup("gEt", 3);
    assert_non_null(c);
    assert_string_equal(c->name, "get");
    assert_int_equal(c->arity, 2);
    assert_int_equal(c->flags, CMD_READ);
    assert_null(cmd_lookup("get\0", 4));
    assert_null(cmd_lookup("ge", 2));
    assert_null(cmd_lookup("gett", 4));
    assert_null(cmd_lookup("", 0));
    assert_null(cmd_lookup("averyveryverylongcommandname", 28));
    assert_null(cmd_lookup("zzz", 3));
    assert_null(cmd_lookup("aaa", 3));

    c = cmd_lookup("MSET", 4);
    assert_int_equal(c->first_key, 1);
    assert_int_equal(c->last_key, -1);
    assert_int_equal(c->key_step, 2);
    c = cmd_lookup("rename", 6);
    assert_int_equal(c->last_key, 2);
    c = cmd_lookup("dbsize", 6);
    assert_int_equal(c->flags, CMD_READ);
    assert_non_null(c->exec);
    c = cmd_lookup("cashe", 5);
    assert_int_equal(c->flags, CMD_ADMIN);
    assert_int_equal(c->arity, -2);
    assert_null(c->exec);
    assert_true(cmd_lookup("auth", 4)->flags & CMD_NOAUTH);
    assert_true(cmd_lookup("hello", 5)->flags & CMD_NOAUTH);
    assert_true(cmd_lookup("quit", 4)->flags & CMD_NOAUTH);
    assert_false(cmd_lookup("get", 3)->flags & CMD_NOAUTH);
    assert_int_equal(cmd_lookup("set", 3)->flags, CMD_WRITE);
    assert_int_equal(cmd_lookup("ping", 4)->flags & CMD_CONN, CMD_CONN);
    assert_ptr_equal(cmd_lookup("substr", 6)->exec,
                     cmd_lookup("getrange", 8)->exec);
}

static void test_arity(void **state)
{
    (void)state;
    assert_true(cmd_arity_ok(cmd_lookup("get", 3), 2));
    assert_false(cmd_arity_ok(cmd_lookup("get", 3), 1));
    assert_false(cmd_arity_ok(cmd_lookup("get", 3), 3));
    assert_false(cmd_arity_ok(cmd_lookup("set", 3), 2));
    assert_true(cmd_arity_ok(cmd_lookup("set", 3), 3));
    assert_true(cmd_arity_ok(cmd_lookup("set", 3), 9));
    assert_true(cmd_arity_ok(cmd_lookup("ping", 4), 1));
}

static void test_exec_command_guards(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "GET", "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT(f, "GET a b",
           "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT(f, "PING", "-ERR 'ping' is not a data command\r\n");
    assert_int_equal(store_count(f->store), 0);
}

/* ---- SET and GET -------------------------------------------------------- */

static void test_get_set_basic(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "GET k", "$-1\r\n");
    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "GET k", "$1\r\nv\r\n");
    EXPECT(f, "set k hello", "+OK\r\n");
    EXPECT(f, "get k", "$5\r\nhello\r\n");
    assert_string_equal(RUN(f, "SET", "e", ""), "+OK\r\n");
    EXPECT(f, "GET e", "$0\r\n\r\n");
    assert_string_equal(events(f), "set:k;set:k;set:e;");
}

static void test_set_nx_xx_get(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET k v1", "+OK\r\n");
    EXPECT(f, "SET k v2 NX", "$-1\r\n");
    EXPECT(f, "GET k", "$2\r\nv1\r\n");
    EXPECT(f, "SET n v XX", "$-1\r\n");
    assert_null(entry(f, "n"));
    EXPECT(f, "SET k v3 XX", "+OK\r\n");
    EXPECT(f, "SET k v4 GET", "$2\r\nv3\r\n");
    EXPECT(f, "SET new v GET", "$-1\r\n");
    EXPECT(f, "GET new", "$1\r\nv\r\n");
    /* Redis 7 allows NX with GET: the old value, nothing set. */
    EXPECT(f, "SET k v5 NX GET", "$2\r\nv4\r\n");
    EXPECT(f, "GET k", "$2\r\nv4\r\n");
    EXPECT(f, "SET k2 v XX GET", "$-1\r\n");
    assert_null(entry(f, "k2"));
    EXPECT(f, "SET k v6 nx nx", "$-1\r\n");
    EXPECT(f, "SET k v7 xx get", "$2\r\nv4\r\n");
    EXPECT(f, "GET k", "$2\r\nv7\r\n");
}

static void test_set_expiry_options(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET t v EX 10", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, NOW + 10000);
    assert_string_equal(events(f), "set:t;expire:t;");
    EXPECT(f, "SET t v px 1500", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, NOW + 1500);
    EXPECT(f, "SET t v EXAT 1800000000", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, INT64_C(1800000000000));
    EXPECT(f, "SET t v PXAT 1800000000123", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, INT64_C(1800000000123));
    EXPECT(f, "SET t v2 KEEPTTL", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, INT64_C(1800000000123));
    EXPECT(f, "GET t", "$2\r\nv2\r\n");
    assert_string_equal(events(f), "set:t;expire:t;set:t;expire:t;"
                                   "set:t;expire:t;set:t;");
    EXPECT(f, "SET t v3", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, 0);
    EXPECT(f, "SET t v EX 10 EX 20", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, NOW + 20000);
    EXPECT(f, "SET t v KEEPTTL KEEPTTL", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, NOW + 20000);
    EXPECT(f, "SET nk v KEEPTTL", "+OK\r\n");
    assert_int_equal(entry(f, "nk")->expire_ms, 0);
    EXPECT(f, "SET t v PXAT 9223372036854775807", "+OK\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, INT64_MAX);
    EXPECT(f, "SET t v NX EX 5", "$-1\r\n");
    assert_int_equal(entry(f, "t")->expire_ms, INT64_MAX);
}

static void test_set_errors(void **state)
{
    struct fx *f = *state;
    static const char *const syntax[] = {
        "SET k x NX XX",        "SET k x XX NX",        "SET k x EX 10 PX 100",
        "SET k x KEEPTTL EX 1", "SET k x EX 1 KEEPTTL", "SET k x EX",
        "SET k x FOO",          "SET k x PERSIST",      "SET k x EXAT 1 PXAT 1",
        "SET k x PX",           "SET k x GET EX",       "SET k x NXX",
    };
    const char *bad_time = "-ERR invalid expire time in 'set' command\r\n";

    EXPECT(f, "SET k v EX 100", "+OK\r\n");
    for (size_t i = 0; i < ARRAY_SIZE(syntax); i++)
        EXPECT(f, syntax[i], ERR_SYNTAX);
    EXPECT(f, "SET k x EX 0", bad_time);
    EXPECT(f, "SET k x EX -1", bad_time);
    EXPECT(f, "SET k x PX 0", bad_time);
    EXPECT(f, "SET k x EXAT 0", bad_time);
    EXPECT(f, "SET k x PXAT -5", bad_time);
    EXPECT(f, "SET k x EX 9223372036854776", bad_time);
    EXPECT(f, "SET k x EX 9223372036854775", bad_time);
    EXPECT(f, "SET k x PX 9223372036854775807", bad_time);
    EXPECT(f, "SET k x EXAT 9223372036854776", bad_time);
    EXPECT(f, "SET k x EX abc", ERR_NOT_INT);
    EXPECT(f, "SET k x EX 1.5", ERR_NOT_INT);
    EXPECT(f, "SET k x PX 99999999999999999999", ERR_NOT_INT);
    /* No error wrote anything. */
    EXPECT(f, "GET k", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 100000);
    assert_int_equal(entry(f, "k")->version, 1);
    assert_string_equal(events(f), "set:k;expire:k;");
}

static void test_setnx_setex_psetex(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SETNX k v", ":1\r\n");
    EXPECT(f, "SETNX k w", ":0\r\n");
    EXPECT(f, "GET k", "$1\r\nv\r\n");
    EXPECT(f, "SETEX k 10 w", "+OK\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 10000);
    EXPECT(f, "GET k", "$1\r\nw\r\n");
    EXPECT(f, "PSETEX k 250 x", "+OK\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 250);
    EXPECT(f, "SETEX k 0 v", "-ERR invalid expire time in 'setex' command\r\n");
    EXPECT(f, "PSETEX k -3 v",
           "-ERR invalid expire time in 'psetex' command\r\n");
    EXPECT(f, "SETEX k nope v", ERR_NOT_INT);
    EXPECT(f, "GET k", "$1\r\nx\r\n");
    assert_string_equal(events(f), "set:k;set:k;expire:k;set:k;expire:k;");
}

static void test_getset_getdel(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "GETSET k v", "$-1\r\n");
    EXPECT(f, "SET k v EX 100", "+OK\r\n");
    EXPECT(f, "GETSET k w", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, 0);
    EXPECT(f, "GETDEL k", "$1\r\nw\r\n");
    assert_null(entry(f, "k"));
    EXPECT(f, "GETDEL k", "$-1\r\n");
    assert_string_equal(events(f), "set:k;set:k;expire:k;set:k;del:k;");
}

static void test_getex(void **state)
{
    struct fx *f = *state;
    char line[128];

    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "GETEX k", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->version, 1);
    EXPECT(f, "GETEX k EX 100", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 100000);
    EXPECT(f, "GETEX k px 5", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 5);
    EXPECT(f, "GETEX k EXAT 1800000000", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, INT64_C(1800000000000));
    EXPECT(f, "GETEX k PERSIST", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, 0);
    assert_int_equal(entry(f, "k")->version, 5);
    /* PERSIST on a key without expiry changes nothing. */
    EXPECT(f, "GETEX k PERSIST", "$1\r\nv\r\n");
    assert_int_equal(entry(f, "k")->version, 5);
    assert_string_equal(events(f),
                        "set:k;expire:k;expire:k;expire:k;persist:k;");

    /* An absolute time not in the future deletes the key after the reply. */
    snprintf(line, sizeof(line), "GETEX k PXAT %" PRId64, NOW);
    EXPECT(f, line, "$1\r\nv\r\n");
    assert_null(entry(f, "k"));
    assert_string_equal(events(f), "del:k;");

    EXPECT(f, "GETEX k", "$-1\r\n");
    /* The key is looked up before the time is checked. */
    EXPECT(f, "GETEX k EX 0", "$-1\r\n");
    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "GETEX k EX 0",
           "-ERR invalid expire time in 'getex' command\r\n");
    EXPECT(f, "GETEX k EX x", ERR_NOT_INT);
    EXPECT(f, "GETEX k NX", ERR_SYNTAX);
    EXPECT(f, "GETEX k KEEPTTL", ERR_SYNTAX);
    EXPECT(f, "GETEX k GET", ERR_SYNTAX);
    EXPECT(f, "GETEX k PERSIST EX 1", ERR_SYNTAX);
    EXPECT(f, "GETEX k EX 1 PERSIST", ERR_SYNTAX);
    EXPECT(f, "GETEX k EX 1 PX 1", ERR_SYNTAX);
    EXPECT(f, "GETEX k EX", ERR_SYNTAX);
    assert_int_equal(entry(f, "k")->expire_ms, 0);
}

static void test_mget_mset_msetnx(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "MSET a 1 b",
           "-ERR wrong number of arguments for 'mset' "
           "command\r\n");
    EXPECT(f, "MSET a 1 c 3", "+OK\r\n");
    EXPECT(f, "MGET a b c", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
    EXPECT(f, "MGET b", "*1\r\n$-1\r\n");
    EXPECT(f, "SET a x EX 10", "+OK\r\n");
    EXPECT(f, "MSET a 2 a 3", "+OK\r\n");
    EXPECT(f, "GET a", "$1\r\n3\r\n");
    assert_int_equal(entry(f, "a")->expire_ms, 0);
    assert_string_equal(events(f), "set:a;set:c;set:a;expire:a;set:a;set:a;");

    EXPECT(f, "MSETNX x 1 y",
           "-ERR wrong number of arguments for 'msetnx' "
           "command\r\n");
    EXPECT(f, "MSETNX x 1 a 9", ":0\r\n");
    assert_null(entry(f, "x"));
    EXPECT(f, "GET a", "$1\r\n3\r\n");
    EXPECT(f, "MSETNX x 1 y 2", ":1\r\n");
    EXPECT(f, "MGET x y", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    assert_string_equal(events(f), "set:x;set:y;");
}

/* ---- counters ----------------------------------------------------------- */

static void test_incr_family(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "INCR n", ":1\r\n");
    EXPECT(f, "INCRBY n 10", ":11\r\n");
    EXPECT(f, "DECR n", ":10\r\n");
    EXPECT(f, "DECRBY n 20", ":-10\r\n");
    EXPECT(f, "GET n", "$3\r\n-10\r\n");
    EXPECT(f, "INCRBY n -5", ":-15\r\n");
    assert_string_equal(events(f),
                        "incrby:n;incrby:n;incrby:n;incrby:n;incrby:n;");
    EXPECT(f, "INCRBY n abc", ERR_NOT_INT);
    EXPECT(f, "INCRBY n 1.0", ERR_NOT_INT);
    EXPECT(f, "DECRBY n +1", ERR_NOT_INT);
    EXPECT(f, "GET n", "$3\r\n-15\r\n");
    assert_string_equal(events(f), "");
}

static void test_incr_bad_values(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {"abc",
                                      " 1",
                                      "1 ",
                                      "01",
                                      "-0",
                                      "1.5",
                                      "",
                                      "+1",
                                      "-",
                                      "9223372036854775808",
                                      "12345678901234567890123"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        RUN(f, "SET", "n", bad[i]);
        EXPECT(f, "INCR n", ERR_NOT_INT);
        EXPECT(f, "DECRBY n 3", ERR_NOT_INT);
        assert_int_equal(entry(f, "n")->version, 1 + i);
    }
    RUN(f, "SET", "n", "0");
    EXPECT(f, "INCR n", ":1\r\n");
    RUN(f, "SET", "n", "-9223372036854775808");
    EXPECT(f, "INCR n", ":-9223372036854775807\r\n");
}

static void test_incr_overflow(void **state)
{
    struct fx *f = *state;
    const char *overflow = "-ERR increment or decrement would overflow\r\n";

    EXPECT(f, "SET n 9223372036854775807", "+OK\r\n");
    EXPECT(f, "INCR n", overflow);
    EXPECT(f, "INCRBY n 1", overflow);
    EXPECT(f, "DECRBY n -1", overflow);
    EXPECT(f, "INCRBY n 0", ":9223372036854775807\r\n");
    EXPECT(f, "SET n -9223372036854775808", "+OK\r\n");
    EXPECT(f, "DECR n", overflow);
    EXPECT(f, "INCRBY n -1", overflow);
    EXPECT(f, "DECRBY n -9223372036854775807", ":-1\r\n");
    EXPECT(f, "DECRBY n -9223372036854775808",
           "-ERR decrement would overflow\r\n");
    EXPECT(f, "INCRBY z -9223372036854775808", ":-9223372036854775808\r\n");
    EXPECT(f, "GET n", "$2\r\n-1\r\n");
}

static void test_incr_keeps_ttl(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET n 5 EX 100", "+OK\r\n");
    EXPECT(f, "INCR n", ":6\r\n");
    assert_int_equal(entry(f, "n")->expire_ms, NOW + 100000);
    EXPECT(f, "INCRBYFLOAT n 0.5", "$3\r\n6.5\r\n");
    assert_int_equal(entry(f, "n")->expire_ms, NOW + 100000);
    assert_string_equal(events(f), "set:n;expire:n;incrby:n;incrbyfloat:n;");
}

static void test_incrbyfloat(void **state)
{
    struct fx *f = *state;
    const char *not_float = "-ERR value is not a valid float\r\n";
    const char *nan_inf = "-ERR increment would produce NaN or Infinity\r\n";

    EXPECT(f, "SET f 10.50", "+OK\r\n");
    EXPECT(f, "INCRBYFLOAT f 0.1", "$4\r\n10.6\r\n");
    EXPECT(f, "INCRBYFLOAT f -5", "$3\r\n5.6\r\n");
    EXPECT(f, "INCRBYFLOAT g 5.0e3", "$4\r\n5000\r\n");
    EXPECT(f, "INCRBYFLOAT g 2.0e2", "$4\r\n5200\r\n");
    EXPECT(f, "GET g", "$4\r\n5200\r\n");
    EXPECT(f, "SET h 3", "+OK\r\n");
    EXPECT(f, "INCRBYFLOAT h -3", "$1\r\n0\r\n");
    EXPECT(f, "INCRBYFLOAT h -0.0", "$1\r\n0\r\n");
    EXPECT(f, "INCRBYFLOAT h 1.5", "$3\r\n1.5\r\n");
    EXPECT(f, "INCRBYFLOAT h abc", not_float);
    EXPECT(f, "INCRBYFLOAT h nan", not_float);
    EXPECT(f, "INCRBYFLOAT h 1x", not_float);
    assert_string_equal(RUN(f, "INCRBYFLOAT", "h", " 1"), not_float);
    assert_string_equal(RUN(f, "INCRBYFLOAT", "h", ""), not_float);
    EXPECT(f, "INCRBYFLOAT h inf", nan_inf);
    EXPECT(f, "SET s hello", "+OK\r\n");
    EXPECT(f, "INCRBYFLOAT s 1", not_float);
    EXPECT(f, "SET big 1.1e4932", "+OK\r\n");
    EXPECT(f, "INCRBYFLOAT big 1.1e4932", nan_inf);
    EXPECT(f, "GET h", "$3\r\n1.5\r\n");
    EXPECT(f, "INCRBYFLOAT i 1e-3", "$5\r\n0.001\r\n");
}

/* ---- APPEND, STRLEN, GETRANGE, SETRANGE --------------------------------- */

static void test_append_strlen(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "STRLEN k", ":0\r\n");
    EXPECT(f, "APPEND k hello", ":5\r\n");
    assert_string_equal(RUN(f, "APPEND", "k", " world"), ":11\r\n");
    EXPECT(f, "GET k", "$11\r\nhello world\r\n");
    EXPECT(f, "STRLEN k", ":11\r\n");
    assert_string_equal(RUN(f, "APPEND", "k", ""), ":11\r\n");
    assert_string_equal(events(f), "append:k;append:k;append:k;");
    EXPECT(f, "EXPIRE k 50", ":1\r\n");
    EXPECT(f, "APPEND k !", ":12\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 50000);
}

static void test_getrange(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *args;
        const char *want;
    } cases[] = {
        {"0 3", "$4\r\nThis\r\n"},
        {"-3 -1", "$3\r\ning\r\n"},
        {"0 -1", "$16\r\nThis is a string\r\n"},
        {"10 100", "$6\r\nstring\r\n"},
        {"5 3", "$0\r\n\r\n"},
        {"-1 -5", "$0\r\n\r\n"},
        {"100 200", "$0\r\n\r\n"},
        {"-100 2", "$3\r\nThi\r\n"},
        {"0 -100", "$1\r\nT\r\n"},
        {"15 15", "$1\r\ng\r\n"},
        {"16 16", "$0\r\n\r\n"},
        {"-9223372036854775808 9223372036854775807",
         "$16\r\nThis is a string\r\n"},
    };
    char line[128];

    EXPECT(f, "SET k",
           "-ERR wrong number of arguments for 'set' "
           "command\r\n");
    RUN(f, "SET", "k", "This is a string");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(line, sizeof(line), "GETRANGE k %s", cases[i].args);
        EXPECT(f, line, cases[i].want);
        snprintf(line, sizeof(line), "substr k %s", cases[i].args);
        EXPECT(f, line, cases[i].want);
    }
    EXPECT(f, "GETRANGE missing 0 -1", "$0\r\n\r\n");
    EXPECT(f, "GETRANGE k a 1", ERR_NOT_INT);
    EXPECT(f, "GETRANGE k 0 1b", ERR_NOT_INT);
    EXPECT(f, "GETRANGE missing x 1", ERR_NOT_INT);
    RUN(f, "SET", "e", "");
    EXPECT(f, "GETRANGE e 0 -1", "$0\r\n\r\n");
    EXPECT(f, "GETRANGE e 0 0", "$0\r\n\r\n");
}

static void test_setrange(void **state)
{
    struct fx *f = *state;
    const struct store_entry *e;

    RUN(f, "SET", "k", "Hello World");
    EXPECT(f, "SETRANGE k 6 Redis", ":11\r\n");
    EXPECT(f, "GET k", "$11\r\nHello Redis\r\n");
    EXPECT(f, "SETRANGE k 11 !!", ":13\r\n");
    EXPECT(f, "GET k", "$13\r\nHello Redis!!\r\n");
    EXPECT(f, "SETRANGE k 0 J", ":13\r\n");
    EXPECT(f, "GET k", "$13\r\nJello Redis!!\r\n");

    EXPECT(f, "SETRANGE p 5 ab", ":7\r\n");
    e = entry(f, "p");
    assert_int_equal(e->value_len, 7);
    assert_memory_equal(e->value, "\0\0\0\0\0ab", 7);
    EXPECT(f, "SETRANGE p 9 c", ":10\r\n");
    assert_memory_equal(entry(f, "p")->value, "\0\0\0\0\0ab\0\0c", 10);
    assert_string_equal(events(f), "set:k;setrange:k;setrange:k;setrange:k;"
                                   "setrange:p;setrange:p;");

    /* An empty value changes nothing and creates nothing. */
    assert_string_equal(RUN(f, "SETRANGE", "q", "10", ""), ":0\r\n");
    assert_null(entry(f, "q"));
    assert_string_equal(RUN(f, "SETRANGE", "k", "100", ""), ":13\r\n");
    assert_int_equal(entry(f, "k")->version, 4);
    assert_string_equal(events(f), "");

    EXPECT(f, "SETRANGE k -1 x", "-ERR offset is out of range\r\n");
    EXPECT(f, "SETRANGE k x y", ERR_NOT_INT);
    EXPECT(f, "SETRANGE k 536870911 ab",
           "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
           "\r\n");
    EXPECT(f, "SETRANGE q 536870912 a",
           "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
           "\r\n");
    EXPECT(f, "SETRANGE q 9223372036854775807 a",
           "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"
           "\r\n");
    assert_null(entry(f, "q"));

    EXPECT(f, "EXPIRE k 10", ":1\r\n");
    EXPECT(f, "SETRANGE k 0 H", ":13\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 10000);
}

/* ---- generic key commands ----------------------------------------------- */

static void test_del_exists_type(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "MSET a 1 b 2", "+OK\r\n");
    events(f);
    EXPECT(f, "EXISTS a", ":1\r\n");
    EXPECT(f, "EXISTS a a b c", ":3\r\n");
    EXPECT(f, "TYPE a", "+string\r\n");
    EXPECT(f, "TYPE c", "+none\r\n");
    EXPECT(f, "DEL a c b", ":2\r\n");
    assert_string_equal(events(f), "del:a;del:b;");
    EXPECT(f, "EXISTS a b", ":0\r\n");
    EXPECT(f, "DEL a", ":0\r\n");
    EXPECT(f, "SET x 1", "+OK\r\n");
    EXPECT(f, "UNLINK x x", ":1\r\n");
    assert_int_equal(store_count(f->store), 0);
}

static void test_ttl_pttl_expiretime(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "TTL k", ":-2\r\n");
    EXPECT(f, "PTTL k", ":-2\r\n");
    EXPECT(f, "EXPIRETIME k", ":-2\r\n");
    EXPECT(f, "PEXPIRETIME k", ":-2\r\n");
    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "TTL k", ":-1\r\n");
    EXPECT(f, "PTTL k", ":-1\r\n");
    EXPECT(f, "EXPIRETIME k", ":-1\r\n");
    EXPECT(f, "PEXPIRETIME k", ":-1\r\n");

    /* Seconds round to the nearest. */
    EXPECT(f, "SET k v PX 10499", "+OK\r\n");
    EXPECT(f, "TTL k", ":10\r\n");
    EXPECT(f, "PTTL k", ":10499\r\n");
    EXPECT(f, "SET k v PX 10500", "+OK\r\n");
    EXPECT(f, "TTL k", ":11\r\n");
    EXPECT(f, "SET k v PX 1", "+OK\r\n");
    EXPECT(f, "TTL k", ":0\r\n");
    EXPECT(f, "PTTL k", ":1\r\n");

    EXPECT(f, "SET k v PXAT 1800000000999", "+OK\r\n");
    EXPECT(f, "EXPIRETIME k", ":1800000000\r\n");
    EXPECT(f, "PEXPIRETIME k", ":1800000000999\r\n");

    EXPECT(f, "SET k v EX 100", "+OK\r\n");
    f->ctx.now_ms = NOW + 40000;
    EXPECT(f, "TTL k", ":60\r\n");
    f->ctx.now_ms = NOW + 99999;
    EXPECT(f, "PTTL k", ":1\r\n");
    f->ctx.now_ms = NOW + 100000;
    EXPECT(f, "PTTL k", ":-2\r\n");
    EXPECT(f, "TTL k", ":-2\r\n");
    EXPECT(f, "EXPIRETIME k", ":-2\r\n");
}

static void test_expire_basic(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "EXPIRE k 100", ":0\r\n");
    EXPECT(f, "SET k v", "+OK\r\n");
    events(f);
    EXPECT(f, "EXPIRE k 100", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 100000);
    EXPECT(f, "PEXPIRE k 1500", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 1500);
    EXPECT(f, "EXPIREAT k 1800000000", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, INT64_C(1800000000000));
    EXPECT(f, "PEXPIREAT k 1800000000001", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, INT64_C(1800000000001));
    EXPECT(f, "PEXPIREAT k 9223372036854775807", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, INT64_MAX);
    assert_string_equal(events(f), "expire:k;expire:k;expire:k;expire:k;"
                                   "expire:k;");
    EXPECT(f, "GET k", "$1\r\nv\r\n");
}

static void test_expire_past_deletes(void **state)
{
    struct fx *f = *state;
    static const char *const past[] = {
        "EXPIRE k -1",   "EXPIRE k 0",
        "PEXPIRE k 0",   "PEXPIRE k -100",
        "EXPIREAT k 1",  "PEXPIREAT k 0",
        "EXPIREAT k -5", "PEXPIREAT k 1700000000000",
    };

    for (size_t i = 0; i < ARRAY_SIZE(past); i++) {
        EXPECT(f, "SET k v", "+OK\r\n");
        events(f);
        EXPECT(f, past[i], ":1\r\n");
        assert_null(entry(f, "k"));
        assert_string_equal(events(f), "del:k;");
    }
    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "PEXPIREAT k 1700000000001", ":1\r\n");
    assert_non_null(entry(f, "k"));
}

static void test_expire_options(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "EXPIRE k 100 XX", ":0\r\n");
    EXPECT(f, "EXPIRE k 100 GT", ":0\r\n");
    EXPECT(f, "EXPIRE k 100 NX", ":1\r\n");
    EXPECT(f, "EXPIRE k 200 nx", ":0\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 100000);
    EXPECT(f, "EXPIRE k 200 XX", ":1\r\n");
    EXPECT(f, "EXPIRE k 100 GT", ":0\r\n");
    EXPECT(f, "EXPIRE k 200 GT", ":0\r\n");
    EXPECT(f, "EXPIRE k 300 gt", ":1\r\n");
    EXPECT(f, "EXPIRE k 400 LT", ":0\r\n");
    EXPECT(f, "EXPIRE k 300 LT", ":0\r\n");
    EXPECT(f, "EXPIRE k 150 LT", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 150000);
    EXPECT(f, "EXPIRE k 250 XX GT", ":1\r\n");
    EXPECT(f, "EXPIRE k 350 XX LT", ":0\r\n");
    EXPECT(f, "PERSIST k", ":1\r\n");
    /* No expiry is forever: LT always lowers it. */
    EXPECT(f, "EXPIRE k 500 LT", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, NOW + 500000);
    EXPECT(f, "EXPIRE k 500 XX XX", ":1\r\n");
    /* An option that fails leaves a past time harmless. */
    EXPECT(f, "EXPIRE k -1 NX", ":0\r\n");
    assert_non_null(entry(f, "k"));
    EXPECT(f, "EXPIRE nope 100 LT", ":0\r\n");
}

static void test_expire_errors(void **state)
{
    struct fx *f = *state;
    const char *nx = "-ERR NX and XX, GT or LT options at the same time are "
                     "not compatible\r\n";
    const char *gtlt = "-ERR GT and LT options at the same time are not "
                       "compatible\r\n";

    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "EXPIRE k 10 NX XX", nx);
    EXPECT(f, "EXPIRE k 10 GT NX", nx);
    EXPECT(f, "EXPIRE k 10 NX LT", nx);
    EXPECT(f, "EXPIRE k 10 GT LT", gtlt);
    EXPECT(f, "EXPIRE k 10 FOO", "-ERR Unsupported option FOO\r\n");
    EXPECT(f, "PEXPIRE k 10 NX bar", "-ERR Unsupported option bar\r\n");
    assert_string_equal(RUN(f, "EXPIRE", "k", "10", "a\r\nb"),
                        "-ERR Unsupported option a  b\r\n");
    /* Options are checked before the number. */
    EXPECT(f, "EXPIRE k abc FOO", "-ERR Unsupported option FOO\r\n");
    EXPECT(f, "EXPIRE k abc", ERR_NOT_INT);
    EXPECT(f, "EXPIRE k 1.5", ERR_NOT_INT);
    EXPECT(f, "EXPIRE k 9223372036854776",
           "-ERR invalid expire time in 'expire' command\r\n");
    EXPECT(f, "EXPIRE k -9223372036854776",
           "-ERR invalid expire time in 'expire' command\r\n");
    EXPECT(f, "PEXPIRE k 9223372036854775807",
           "-ERR invalid expire time in 'pexpire' command\r\n");
    EXPECT(f, "EXPIREAT k 9223372036854776",
           "-ERR invalid expire time in 'expireat' command\r\n");
    /* Overflow is an error even for a missing key. */
    EXPECT(f, "EXPIRE nope 9223372036854776",
           "-ERR invalid expire time in 'expire' command\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, 0);
    assert_int_equal(entry(f, "k")->version, 1);
}

static void test_persist(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "PERSIST k", ":0\r\n");
    EXPECT(f, "SET k v", "+OK\r\n");
    EXPECT(f, "PERSIST k", ":0\r\n");
    EXPECT(f, "EXPIRE k 10", ":1\r\n");
    events(f);
    EXPECT(f, "PERSIST k", ":1\r\n");
    assert_int_equal(entry(f, "k")->expire_ms, 0);
    assert_int_equal(entry(f, "k")->mod_rev, f->rev);
    assert_string_equal(events(f), "persist:k;");
    EXPECT(f, "TTL k", ":-1\r\n");
}

static void test_rename(void **state)
{
    struct fx *f = *state;
    const struct store_entry *e;

    EXPECT(f, "RENAME nope x", "-ERR no such key\r\n");
    EXPECT(f, "RENAMENX nope x", "-ERR no such key\r\n");
    EXPECT(f, "SET a 1 EX 100", "+OK\r\n");
    EXPECT(f, "SET b 2", "+OK\r\n");
    events(f);
    EXPECT(f, "RENAME a a", "+OK\r\n");
    EXPECT(f, "RENAMENX a a", ":0\r\n");
    EXPECT(f, "RENAMENX a b", ":0\r\n");
    EXPECT(f, "GET b", "$1\r\n2\r\n");
    assert_string_equal(events(f), "");

    f->ctx.now_ms = NOW + 10;
    EXPECT(f, "RENAME a b", "+OK\r\n");
    assert_null(entry(f, "a"));
    e = entry(f, "b");
    assert_memory_equal(e->value, "1", 1);
    assert_int_equal(e->expire_ms, NOW + 100000);
    assert_int_equal(e->create_rev, f->rev);
    assert_int_equal(e->mod_rev, f->rev);
    assert_int_equal(e->version, 1);
    assert_int_equal(e->mtime_ms, NOW + 10);
    assert_string_equal(events(f), "rename_from:a;rename_to:b;");

    EXPECT(f, "RENAMENX b c", ":1\r\n");
    EXPECT(f, "GET c", "$1\r\n1\r\n");
    assert_int_equal(entry(f, "c")->expire_ms, NOW + 100000);
    EXPECT(f, "EXISTS b", ":0\r\n");
    EXPECT(f, "SET d x", "+OK\r\n");
    EXPECT(f, "RENAME d c", "+OK\r\n");
    assert_int_equal(entry(f, "c")->expire_ms, 0);
    EXPECT(f, "GET c", "$1\r\nx\r\n");
    assert_int_equal(store_count(f->store), 1);
}

static void test_dbsize_flush(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "DBSIZE", ":0\r\n");
    EXPECT(f, "MSET a 1 b 2 c 3", "+OK\r\n");
    EXPECT(f, "DBSIZE", ":3\r\n");
    EXPECT(f, "FLUSHALL foo", ERR_SYNTAX);
    EXPECT(f, "FLUSHALL ASYNC x", ERR_SYNTAX);
    EXPECT(f, "FLUSHDB SYNC SYNC", ERR_SYNTAX);
    EXPECT(f, "DBSIZE", ":3\r\n");
    EXPECT(f, "FLUSHALL", "+OK\r\n");
    EXPECT(f, "DBSIZE", ":0\r\n");
    EXPECT(f, "SET a 1", "+OK\r\n");
    EXPECT(f, "FLUSHALL async", "+OK\r\n");
    EXPECT(f, "SET a 1", "+OK\r\n");
    EXPECT(f, "FLUSHDB SYNC", "+OK\r\n");
    EXPECT(f, "SET a 1", "+OK\r\n");
    EXPECT(f, "FLUSHDB", "+OK\r\n");
    EXPECT(f, "DBSIZE", ":0\r\n");
}

/* ---- expiry as reads and writes see it ---------------------------------- */

static void test_expired_invisible_to_reads(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET k 5 PX 100", "+OK\r\n");
    EXPECT(f, "SET live x", "+OK\r\n");
    f->ctx.now_ms = NOW + 99;
    EXPECT(f, "GET k", "$1\r\n5\r\n");
    f->ctx.now_ms = NOW + 100;
    EXPECT(f, "GET k", "$-1\r\n");
    EXPECT(f, "MGET k live", "*2\r\n$-1\r\n$1\r\nx\r\n");
    EXPECT(f, "EXISTS k", ":0\r\n");
    EXPECT(f, "STRLEN k", ":0\r\n");
    EXPECT(f, "TYPE k", "+none\r\n");
    EXPECT(f, "TTL k", ":-2\r\n");
    EXPECT(f, "GETRANGE k 0 -1", "$0\r\n\r\n");
    EXPECT(f, "KEYS *", "*1\r\n$4\r\nlive\r\n");
    EXPECT(f, "KEYS k", "*0\r\n");
    EXPECT(f, "SCAN 0", "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n");
    EXPECT(f, "SCAN 0 MATCH k", "*2\r\n$1\r\n0\r\n*0\r\n");
    /* Reads never delete; DBSIZE counts what is still stored. */
    EXPECT(f, "DBSIZE", ":2\r\n");
    assert_non_null(entry(f, "k"));
    assert_string_equal(events(f), "set:k;expire:k;set:live;");
}

/* Each write on an expired key: the reply, and whether it deletes first. */
static void test_expired_absent_to_writes(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *line;
        const char *want;
        bool exists_after;
    } cases[] = {
        {"SETNX k n", ":1\r\n", true},
        {"SET k n XX", "$-1\r\n", false},
        {"SET k n NX GET", "$-1\r\n", true},
        {"SET k n KEEPTTL", "+OK\r\n", true},
        {"GETSET k n", "$-1\r\n", true},
        {"GETDEL k", "$-1\r\n", false},
        {"GETEX k PERSIST", "$-1\r\n", false},
        {"INCR k", ":1\r\n", true},
        {"INCRBYFLOAT k 2", "$1\r\n2\r\n", true},
        {"APPEND k n", ":1\r\n", true},
        {"SETRANGE k 1 n", ":2\r\n", true},
        {"DEL k", ":0\r\n", false},
        {"EXPIRE k 100", ":0\r\n", false},
        {"PERSIST k", ":0\r\n", false},
        {"RENAME k z", "-ERR no such key\r\n", false},
        {"MSETNX k n", ":1\r\n", true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct store_entry *e;

        f->ctx.now_ms = NOW;
        EXPECT(f, "SET k 7 PX 10", "+OK\r\n");
        f->ctx.now_ms = NOW + 10;
        events(f);
        EXPECT(f, cases[i].line, cases[i].want);
        assert_true(strncmp(events(f), "expired:k;", 10) == 0);
        e = entry(f, "k");
        if (!cases[i].exists_after) {
            assert_null(e);
            continue;
        }
        /* A new key: no old expiry, fresh revision and version. */
        assert_non_null(e);
        assert_int_equal(e->expire_ms, 0);
        assert_int_equal(e->create_rev, f->rev);
        assert_int_equal(e->version, 1);
    }
    assert_null(entry(f, "z"));
}

static void test_expired_rename_destination(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "SET dst old PX 10", "+OK\r\n");
    EXPECT(f, "SET src v", "+OK\r\n");
    f->ctx.now_ms = NOW + 10;
    events(f);
    EXPECT(f, "RENAMENX src dst", ":1\r\n");
    assert_string_equal(events(f),
                        "expired:dst;rename_from:src;rename_to:dst;");
    EXPECT(f, "GET dst", "$1\r\nv\r\n");
}

/* ---- stamping ----------------------------------------------------------- */

static void test_rev_version_mtime(void **state)
{
    struct fx *f = *state;
    const struct store_entry *e;
    uint64_t created;

    EXPECT(f, "SET k v", "+OK\r\n");
    created = f->rev;
    e = entry(f, "k");
    assert_int_equal(e->create_rev, created);
    assert_int_equal(e->mod_rev, created);
    assert_int_equal(e->version, 1);
    assert_int_equal(e->mtime_ms, NOW);

    f->ctx.now_ms = NOW + 1000;
    EXPECT(f, "SET k w", "+OK\r\n");
    e = entry(f, "k");
    assert_int_equal(e->create_rev, created);
    assert_int_equal(e->mod_rev, f->rev);
    assert_int_equal(e->version, 2);
    assert_int_equal(e->mtime_ms, NOW + 1000);

    f->ctx.now_ms = NOW + 2000;
    EXPECT(f, "EXPIRE k 100", ":1\r\n");
    e = entry(f, "k");
    assert_int_equal(e->mod_rev, f->rev);
    assert_int_equal(e->version, 3);
    assert_int_equal(e->mtime_ms, NOW + 2000);
    assert_int_equal(e->expire_ms, NOW + 2000 + 100000);

    /* Commands that change nothing stamp nothing. */
    EXPECT(f, "SET k x NX", "$-1\r\n");
    EXPECT(f, "GET k", "$1\r\nw\r\n");
    EXPECT(f, "EXPIRE k 1 GT", ":0\r\n");
    EXPECT(f, "GETEX k", "$1\r\nw\r\n");
    EXPECT(f, "INCR k", ERR_NOT_INT);
    e = entry(f, "k");
    assert_int_equal(e->mod_rev, f->rev - 5);
    assert_int_equal(e->version, 3);

    EXPECT(f, "APPEND k x", ":2\r\n");
    assert_int_equal(entry(f, "k")->mod_rev, f->rev);
    assert_int_equal(entry(f, "k")->version, 4);
    EXPECT(f, "SETRANGE k 0 y", ":2\r\n");
    assert_int_equal(entry(f, "k")->version, 5);
    EXPECT(f, "MSET k 1 j 2", "+OK\r\n");
    assert_int_equal(entry(f, "k")->mod_rev, f->rev);
    assert_int_equal(entry(f, "j")->create_rev, f->rev);
    EXPECT(f, "INCR k", ":2\r\n");
    assert_int_equal(entry(f, "k")->version, 7);
    assert_int_equal(entry(f, "k")->create_rev, created);
}

/* ---- binary safety and no listener -------------------------------------- */

static void test_binary_keys_values(void **state)
{
    struct fx *f = *state;
    const char *set[] = {"SET", "a\0b", "x\0y\r\n"};
    const size_t set_lens[] = {3, 3, 5};
    const char *get[] = {"GET", "a\0b"};
    const size_t get_lens[] = {3, 3};
    const char *keys[] = {"KEYS", "a?b"};
    const size_t keys_lens[] = {4, 3};

    runv(f, 3, set, set_lens);
    assert_string_equal(f->reply.data, "+OK\r\n");
    runv(f, 2, get, get_lens);
    assert_int_equal(f->reply.len, 11);
    assert_memory_equal(f->reply.data, "$5\r\nx\0y\r\n\r\n", 11);
    EXPECT(f, "GET a", "$-1\r\n");
    runv(f, 2, keys, keys_lens);
    assert_int_equal(f->reply.len, 13);
    assert_memory_equal(f->reply.data, "*1\r\n$3\r\na\0b\r\n", 13);
    assert_int_equal(f->events.len, 8);
    assert_memory_equal(f->events.data, "set:a\0b;", 8);
}

static void test_no_notify(void **state)
{
    struct fx *f = *state;

    f->ctx.notify = NULL;
    EXPECT(f, "SET k v PX 5", "+OK\r\n");
    f->ctx.now_ms = NOW + 5;
    EXPECT(f, "INCR k", ":1\r\n");
    EXPECT(f, "RENAME k j", "+OK\r\n");
    EXPECT(f, "DEL j", ":1\r\n");
    assert_int_equal(f->events.len, 0);
}

/* ---- KEYS --------------------------------------------------------------- */

static void test_keys(void **state)
{
    struct fx *f = *state;

    EXPECT(f,
           "MSET app/db/host h app/db/port p app/dbx 1 app/web w apq 2 "
           "ap 3 other 4 a* 5",
           "+OK\r\n");
    EXPECT(f, "KEYS app/db/*",
           "*2\r\n$11\r\napp/db/host\r\n$11\r\napp/db/port\r\n");
    EXPECT(f, "KEYS *",
           "*8\r\n$2\r\na*\r\n$2\r\nap\r\n$11\r\napp/db/host\r\n"
           "$11\r\napp/db/port\r\n$7\r\napp/dbx\r\n$7\r\napp/web\r\n"
           "$3\r\napq\r\n$5\r\nother\r\n");
    EXPECT(f, "KEYS ap?", "*1\r\n$3\r\napq\r\n");
    EXPECT(f, "KEYS apq", "*1\r\n$3\r\napq\r\n");
    EXPECT(f, "KEYS ap", "*1\r\n$2\r\nap\r\n");
    EXPECT(f, "KEYS app", "*0\r\n");
    EXPECT(f, "KEYS app/d\\b*",
           "*3\r\n$11\r\napp/db/host\r\n$11\r\napp/db/port\r\n"
           "$7\r\napp/dbx\r\n");
    EXPECT(f, "KEYS a\\*", "*1\r\n$2\r\na*\r\n");
    EXPECT(f, "KEYS *o*t",
           "*2\r\n$11\r\napp/db/host\r\n$11\r\napp/db/port\r\n");
    EXPECT(f, "KEYS [ao]*r", "*1\r\n$5\r\nother\r\n");
    EXPECT(f, "KEYS nomatch*", "*0\r\n");
    EXPECT(f, "KEYS zzz*", "*0\r\n");
    assert_string_equal(RUN(f, "KEYS", ""), "*0\r\n");
    assert_string_equal(RUN(f, "SET", "", "empty"), "+OK\r\n");
    assert_string_equal(RUN(f, "KEYS", ""), "*1\r\n$0\r\n\r\n");
}

/* ---- SCAN --------------------------------------------------------------- */

/* Parse a SCAN reply; call @fn for each key. Returns the cursor. */
static uint64_t scan_reply(const struct buf *r,
                           void (*fn)(const char *key, size_t len, void *arg),
                           void *arg)
{
    const char *p = r->data;
    char *end;
    uint64_t cursor;
    unsigned long n;

    assert_memory_equal(p, "*2\r\n$", 5);
    p += 5;
    n = strtoul(p, &end, 10);
    p = end + 2;
    cursor = strtoull(p, &end, 10);
    assert_int_equal((size_t)(end - p), n);
    p = end + 2;
    assert_true(*p == '*');
    n = strtoul(p + 1, &end, 10);
    p = end + 2;
    for (unsigned long i = 0; i < n; i++) {
        unsigned long len;

        assert_true(*p == '$');
        len = strtoul(p + 1, &end, 10);
        p = end + 2;
        if (fn != NULL)
            fn(p, len, arg);
        p += len + 2;
    }
    assert_ptr_equal(p, r->data + r->len);
    return cursor;
}

static void count_key(const char *key, size_t len, void *arg)
{
    (void)key;
    (void)len;
    (*(size_t *)arg)++;
}

static uint64_t scan_cmd(struct fx *f, uint64_t cursor, const char *rest,
                         size_t *nkeys)
{
    char line[256];

    snprintf(line, sizeof(line), "SCAN %" PRIu64 "%s%s", cursor,
             rest[0] ? " " : "", rest);
    run(f, line);
    *nkeys = 0;
    return scan_reply(&f->reply, count_key, nkeys);
}

static void test_scan_basic(void **state)
{
    struct fx *f = *state;
    uint64_t cursor = 0;
    size_t total = 0;
    size_t n;
    int calls = 0;
    char line[64];

    for (int i = 0; i < 25; i++) {
        snprintf(line, sizeof(line), "SET key:%02d v", i);
        run(f, line);
    }
    EXPECT(f, "SCAN 0 COUNT 100 MATCH key:1?",
           "*2\r\n$1\r\n0\r\n*10\r\n$6\r\nkey:10\r\n$6\r\nkey:11\r\n"
           "$6\r\nkey:12\r\n$6\r\nkey:13\r\n$6\r\nkey:14\r\n$6\r\nkey:15\r\n"
           "$6\r\nkey:16\r\n$6\r\nkey:17\r\n$6\r\nkey:18\r\n"
           "$6\r\nkey:19\r\n");
    do {
        cursor = scan_cmd(f, cursor, "", &n);
        assert_true(n <= 10);
        total += n;
        calls++;
    } while (cursor != 0);
    assert_int_equal(total, 25);
    assert_int_equal(calls, 3);

    cursor = scan_cmd(f, 0, "COUNT 25", &n);
    assert_int_equal(cursor, 0);
    assert_int_equal(n, 25);
    cursor = scan_cmd(f, 0, "count 24", &n);
    assert_true(cursor != 0 && cursor <= INT64_MAX);
    assert_int_equal(n, 24);
    cursor = scan_cmd(f, cursor, "COUNT 24", &n);
    assert_int_equal(cursor, 0);
    assert_int_equal(n, 1);

    cursor = scan_cmd(f, 0, "TYPE string COUNT 1000", &n);
    assert_int_equal(n, 25);
    EXPECT(f, "SCAN 0 TYPE list", "*2\r\n$1\r\n0\r\n*0\r\n");
    EXPECT(f, "SCAN 0 MATCH key:07", "*2\r\n$1\r\n0\r\n*1\r\n$6\r\nkey:07\r\n");
    EXPECT(f, "SCAN 0 MATCH nope*", "*2\r\n$1\r\n0\r\n*0\r\n");
    EXPECT(f, "SET zzz v", "+OK\r\n");
    /* A prefix run that ends exactly at COUNT is complete: cursor 0. */
    cursor = scan_cmd(f, 0, "MATCH key:2* COUNT 5", &n);
    assert_int_equal(cursor, 0);
    assert_int_equal(n, 5);
    cursor = scan_cmd(f, 0, "MATCH key:2* COUNT 3", &n);
    assert_int_equal(n, 3);
    cursor = scan_cmd(f, cursor, "MATCH key:2* COUNT 3", &n);
    assert_int_equal(cursor, 0);
    assert_int_equal(n, 2);
}

static void test_scan_errors(void **state)
{
    struct fx *f = *state;

    EXPECT(f, "MSET a 1 b 2 c 3", "+OK\r\n");
    EXPECT(f, "SCAN abc", "-ERR invalid cursor\r\n");
    EXPECT(f, "SCAN -1", "-ERR invalid cursor\r\n");
    EXPECT(f, "SCAN 12345", "-ERR invalid cursor\r\n");
    EXPECT(f, "SCAN 99999999999999999999", "-ERR invalid cursor\r\n");
    EXPECT(f, "SCAN 1x", "-ERR invalid cursor\r\n");
    EXPECT(f, "SCAN 0 COUNT 0", ERR_SYNTAX);
    EXPECT(f, "SCAN 0 COUNT -1", ERR_SYNTAX);
    EXPECT(f, "SCAN 0 COUNT x", ERR_NOT_INT);
    EXPECT(f, "SCAN 0 COUNT", ERR_SYNTAX);
    EXPECT(f, "SCAN 0 MATCH", ERR_SYNTAX);
    EXPECT(f, "SCAN 0 FOO bar", ERR_SYNTAX);
    EXPECT(f, "SCAN 0 COUNT 1 MATCH * TYPE", ERR_SYNTAX);
    /* The cursor is judged before the options. */
    EXPECT(f, "SCAN 5 COUNT 0", "-ERR invalid cursor\r\n");
    f->ctx.cursors = NULL;
    EXPECT(f, "SCAN 0", "-ERR SCAN is not available here\r\n");
}

/* A bounded table: the oldest cursors go first; using a cursor does not
 * consume it. */
static void test_scan_cursor_eviction(void **state)
{
    struct fx *f = *state;
    uint64_t ids[1000];
    size_t n;
    char line[64];

    scan_cursors_free(f->cursors);
    f->cursors = scan_cursors_new(50);
    f->ctx.cursors = f->cursors;
    EXPECT(f, "MSET a 1 b 2 c 3", "+OK\r\n");
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        ids[i] = scan_cmd(f, 0, "COUNT 1", &n);
        assert_true(ids[i] != 0);
        for (size_t j = 0; j < i; j++)
            assert_true(ids[j] != ids[i]);
    }
    for (size_t i = 0; i < 950; i++) {
        snprintf(line, sizeof(line), "SCAN %" PRIu64, ids[i]);
        EXPECT(f, line, "-ERR invalid cursor\r\n");
    }
    /* Oldest first, so each continuation only evicts a used cursor. */
    for (size_t i = 950; i < 1000; i++) {
        snprintf(line, sizeof(line), "SCAN %" PRIu64 " COUNT 1", ids[i]);
        assert_memory_equal(run(f, line), "*2\r\n", 4);
        assert_non_null(strstr(f->reply.data, "*1\r\n$1\r\nb\r\n"));
    }
}

static void append_key(const char *key, size_t len, void *arg)
{
    buf_append(arg, key, len);
    buf_append(arg, ",", 1);
}

static void test_scan_reuse_cursor(void **state)
{
    struct fx *f = *state;
    struct buf keys = {0};
    uint64_t c;
    uint64_t next;
    size_t n;
    char line[64];

    EXPECT(f, "MSET a 1 b 2 c 3 d 4", "+OK\r\n");
    c = scan_cmd(f, 0, "COUNT 2", &n);
    snprintf(line, sizeof(line), "SCAN %" PRIu64 " COUNT 1", c);
    /* A retried call sees the same keys from the same place. */
    for (int i = 0; i < 2; i++) {
        run(f, line);
        next = scan_reply(&f->reply, append_key, &keys);
        assert_true(next != 0 && next != c);
    }
    assert_int_equal(keys.len, 4);
    assert_memory_equal(keys.data, "c,c,", 4);
    /* Deleting the cursor's own key does not lose the place. */
    EXPECT(f, "DEL b c", ":2\r\n");
    run(f, line);
    buf_reset(&keys);
    assert_int_equal(scan_reply(&f->reply, append_key, &keys), 0);
    assert_memory_equal(keys.data, "d,", 2);
    buf_free(&keys);
}

static void test_scan_budget(void **state)
{
    struct fx *f = *state;
    uint64_t cursor = 0;
    size_t n;
    int calls = 0;
    char line[64];

    for (int i = 0; i < 1000; i++) {
        snprintf(line, sizeof(line), "SET x%04d v", i);
        run(f, line);
    }
    run(f, "SET x0999zzz v");
    /* MATCH with no prefix and one hit: bounded work per call. */
    do {
        cursor = scan_cmd(f, cursor, "MATCH *zzz", &n);
        calls++;
    } while (cursor != 0 && calls < 100);
    assert_int_equal(cursor, 0);
    assert_int_equal(calls, 11);
    assert_int_equal(n, 1);
}

struct scan_state {
    struct fx *f;
    bool *seen;
};

static void mark_seen(const char *key, size_t len, void *arg)
{
    struct scan_state *s = arg;
    unsigned idx;

    /* Everything returned existed when the reply was built. */
    assert_non_null(store_get(s->f->store, key, len));
    if (len == 6 && key[0] == 'k' && sscanf(key, "k%5u", &idx) == 1)
        s->seen[idx] = true;
}

static void test_scan_10k_with_changes(void **state)
{
    struct fx *f = *state;
    enum { N = 10000 };
    bool *deleted = xcalloc(N, sizeof(bool));
    bool *seen = xcalloc(N, sizeof(bool));
    struct scan_state st = {f, seen};
    uint64_t rng = 12345;
    uint64_t cursor = 0;
    char key[32];
    int calls = 0;

    for (unsigned i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "k%05u", i);

        store_set(f->store, key, (size_t)n, "v", 1, 0, 1, NOW);
    }
    do {
        snprintf(key, sizeof(key), "SCAN %" PRIu64, cursor);
        run(f, key);
        cursor = scan_reply(&f->reply, mark_seen, &st);
        calls++;
        /* Between calls: delete three keys, add two (one inside the
         * original range, one past it). */
        for (int j = 0; j < 3; j++) {
            unsigned victim;
            int n;

            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            victim = (unsigned)(rng >> 33) % N;
            n = snprintf(key, sizeof(key), "k%05u", victim);
            store_del(f->store, key, (size_t)n);
            deleted[victim] = true;
        }
        snprintf(key, sizeof(key), "k%05u.new", (unsigned)(rng % N));
        store_set(f->store, key, strlen(key), "n", 1, 0, 1, NOW);
        snprintf(key, sizeof(key), "z%d", calls);
        store_set(f->store, key, strlen(key), "n", 1, 0, 1, NOW);
    } while (cursor != 0 && calls < 5000);
    assert_int_equal(cursor, 0);
    for (unsigned i = 0; i < N; i++) {
        if (!deleted[i])
            assert_true(seen[i]);
    }
    free(deleted);
    free(seen);
}

/* ---- glob --------------------------------------------------------------- */

static void test_glob_cases(void **state)
{
    static const struct {
        const char *pattern;
        const char *s;
        bool match;
    } cases[] = {
        {"*", "", true},
        {"*", "abc", true},
        {"", "", true},
        {"", "a", false},
        {"**", "anything", true},
        {"abc", "abc", true},
        {"abc", "abd", false},
        {"abc", "ab", false},
        {"a?c", "abc", true},
        {"a?c", "ac", false},
        {"?", "", false},
        {"*?", "", false},
        {"*?", "x", true},
        {"h*llo", "hllo", true},
        {"h*llo", "heeeello", true},
        {"h*llo", "hello!", false},
        {"*a", "ba", true},
        {"*a", "ab", false},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXbY", false},
        {"a*b*c", "abcbc", true},
        {"*.txt", "a.b.txt", true},
        {"[abc]", "b", true},
        {"[abc]", "d", false},
        {"[abc]", "", false},
        {"[a-c]x", "bx", true},
        {"[c-a]x", "bx", true},
        {"[a-c]x", "dx", false},
        {"[^a]", "b", true},
        {"[^a]", "a", false},
        {"[^a-c]", "d", true},
        {"[^a-c]", "b", false},
        {"[]", "a", false},
        {"[^]", "a", true},
        {"[a-]", "-", true},
        {"[a-]", "b", false},
        {"[\\]]", "]", true},
        {"[\\]]", "\\", false},
        {"[a\\-z]", "-", true},
        {"[a\\-z]", "b", false},
        {"[[]", "[", true},
        {"[abc", "b", true},
        {"[abc", "bc", false},
        {"[", "a", false},
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"\\?", "?", true},
        {"\\[a]", "[a]", true},
        {"a\\", "a\\", true},
        {"\\a", "a", true},
        {"*\\*", "x*", true},
        {"*\\*", "xy", false},
        {"[*]", "*", true},
        {"[*]", "a", false},
        {"h[ae]llo", "hallo", true},
        {"h[ae]llo", "hillo", false},
        {"*[0-9]", "abc7", true},
        {"*[0-9]", "abc", false},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool got = glob_match(cases[i].pattern, strlen(cases[i].pattern),
                              cases[i].s, strlen(cases[i].s));

        if (got != cases[i].match)
            fail_msg("glob '%s' on '%s': got %d", cases[i].pattern, cases[i].s,
                     got);
    }
}

static void test_glob_binary(void **state)
{
    (void)state;
    assert_true(glob_match("a\0*", 3, "a\0bc", 4));
    assert_false(glob_match("a\0*", 3, "a\1bc", 4));
    assert_true(glob_match("a?c", 3, "a\0c", 3));
    assert_true(glob_match("?", 1, "\xff", 1));
    assert_true(glob_match("[\x80-\xff]", 5, "\x90", 1));
    assert_false(glob_match("[\x80-\xff]", 5, "\x7f", 1));
    assert_true(glob_match("[^\x01]", 4, "\0", 1));
    /* The length bounds the pattern, not a NUL. */
    assert_true(glob_match("ab*", 2, "ab", 2));
    assert_false(glob_match("ab*", 2, "abc", 3));
}

static void test_glob_no_blowup(void **state)
{
    enum { LEN = 200000 };
    char *s = xmalloc(LEN);
    char pattern[256];
    size_t plen = 0;
    clock_t start = clock();

    (void)state;
    memset(s, 'a', LEN);
    for (int i = 0; i < 60; i++) {
        pattern[plen++] = 'a';
        pattern[plen++] = '*';
    }
    pattern[plen++] = 'b';
    assert_false(glob_match(pattern, plen, s, LEN));
    assert_false(glob_match("*a*a*a*a*a*a*a*a*a*b", 20, s, LEN));
    s[LEN - 1] = 'b';
    assert_true(glob_match(pattern, plen, s, LEN));
    assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 5.0);
    free(s);
}

static void test_glob_prefix(void **state)
{
    static const struct {
        const char *pattern;
        const char *prefix;
        bool literal;
    } cases[] = {
        {"app/db/*", "app/db/", false}, {"*", "", false},
        {"abc", "abc", true},           {"", "", true},
        {"a\\*b", "a*b", true},         {"a\\*b*", "a*b", false},
        {"ab?c", "ab", false},          {"ab[c]", "ab", false},
        {"ab\\", "ab\\", true},         {"\\\\x*", "\\x", false},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool literal = !cases[i].literal;
        size_t n = glob_prefix(cases[i].pattern, strlen(cases[i].pattern), out,
                               &literal);

        assert_int_equal(n, strlen(cases[i].prefix));
        assert_memory_equal(out, cases[i].prefix, n);
        assert_int_equal(literal, cases[i].literal);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted_and_consistent),
        cmocka_unit_test(test_table_lookup),
        cmocka_unit_test(test_arity),
        T(test_exec_command_guards),
        T(test_get_set_basic),
        T(test_set_nx_xx_get),
        T(test_set_expiry_options),
        T(test_set_errors),
        T(test_setnx_setex_psetex),
        T(test_getset_getdel),
        T(test_getex),
        T(test_mget_mset_msetnx),
        T(test_incr_family),
        T(test_incr_bad_values),
        T(test_incr_overflow),
        T(test_incr_keeps_ttl),
        T(test_incrbyfloat),
        T(test_append_strlen),
        T(test_getrange),
        T(test_setrange),
        T(test_del_exists_type),
        T(test_ttl_pttl_expiretime),
        T(test_expire_basic),
        T(test_expire_past_deletes),
        T(test_expire_options),
        T(test_expire_errors),
        T(test_persist),
        T(test_rename),
        T(test_dbsize_flush),
        T(test_expired_invisible_to_reads),
        T(test_expired_absent_to_writes),
        T(test_expired_rename_destination),
        T(test_rev_version_mtime),
        T(test_binary_keys_values),
        T(test_no_notify),
        T(test_keys),
        T(test_scan_basic),
        T(test_scan_errors),
        T(test_scan_cursor_eviction),
        T(test_scan_reuse_cursor),
        T(test_scan_budget),
        T(test_scan_10k_with_changes),
        cmocka_unit_test(test_glob_cases),
        cmocka_unit_test(test_glob_binary),
        cmocka_unit_test(test_glob_no_blowup),
        cmocka_unit_test(test_glob_prefix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
