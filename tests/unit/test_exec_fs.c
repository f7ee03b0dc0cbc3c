/* Unit tests for the directory view commands (exec_fs.c): CASHE.STAT,
 * CASHE.LS (children, kinds, paging, subtree skipping, expiry) and
 * CASHE.RENAMEDIR (what moves, what stays, refusals, events). */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "exec_internal.h"
#include "store.h"
#include "util.h"

#include "exec_fixture.h"

static void set_key(struct fx *f, const char *key, const char *value)
{
    assert_string_equal(RUN(f, "set", key, value), "+OK\r\n");
}

/* ---- a small RESP reader for the replies --------------------------------- */

struct rv {
    char type; /* '$', ':', '*', '-', '+', or 'n' for nil */
    int64_t i;
    char *s;
    size_t len;
    struct rv *elems;
    size_t n;
};

static void rv_free(struct rv *v)
{
    for (size_t i = 0; i < v->n; i++)
        rv_free(&v->elems[i]);
    free(v->elems);
    free(v->s);
}

static struct rv rv_parse(const char **p)
{
    struct rv v = {.type = **p};
    char *end;

    v.i = strtoll(*p + 1, &end, 10);
    if (v.type == '-' || v.type == '+') {
        end = strstr(*p, "\r\n");
        v.s = xmemdup(*p + 1, (size_t)(end - *p - 1));
        v.len = (size_t)(end - *p - 1);
        *p = end + 2;
        return v;
    }
    *p = end + 2;
    if ((v.type == '$' || v.type == '*') && v.i < 0) {
        v.type = 'n';
    } else if (v.type == '$') {
        v.s = xmemdup(*p, (size_t)v.i);
        v.len = (size_t)v.i;
        *p += v.i + 2;
    } else if (v.type == '*') {
        v.n = (size_t)v.i;
        v.elems = xcalloc(v.n ? v.n : 1, sizeof(*v.elems));
        for (size_t k = 0; k < v.n; k++)
            v.elems[k] = rv_parse(p);
    }
    return v;
}

static bool rv_is(const struct rv *v, const char *s)
{
    return v->len == strlen(s) && memcmp(v->s, s, v->len) == 0;
}

/* One CASHE.LS call: "name=kind," per entry appended to @out; returns the
 * next cursor (caller frees). */
static char *ls_call(struct fx *f, const char *prefix, const char *cursor,
                     const char *count, struct buf *out)
{
    const char *p = RUN(f, "cashe.ls", prefix, cursor, count);
    struct rv v = rv_parse(&p);
    char *next;

    assert_int_equal(v.type, '*');
    assert_int_equal(v.n, 2);
    assert_int_equal(v.elems[0].type, '$');
    assert_int_equal(v.elems[1].type, '*');
    for (size_t i = 0; i < v.elems[1].n; i++) {
        struct rv *e = &v.elems[1].elems[i];

        assert_int_equal(e->n, 4);
        buf_append(out, e->elems[0].s, e->elems[0].len);
        buf_append(out, "=", 1);
        buf_append(out, e->elems[1].s, e->elems[1].len);
        buf_append(out, ",", 1);
    }
    next = xcalloc(1, v.elems[0].len + 1);
    memcpy(next, v.elems[0].s, v.elems[0].len);
    rv_free(&v);
    return next;
}

/* The whole listing, page by page; also checks the page sizes. */
static char *ls_all(struct fx *f, const char *prefix, const char *count)
{
    struct buf out = {0};
    char *cursor = xstrdup("");
    int calls = 0;

    do {
        size_t before = out.len;
        char *next = ls_call(f, prefix, cursor, count, &out);

        free(cursor);
        cursor = next;
        assert_true(++calls < 10000);
        (void)before;
    } while (cursor[0] != '\0');
    free(cursor);
    buf_append(&out, "", 1);
    return out.data;
}

/* ---- CASHE.STAT -----------------------------------------------------------
 */

static void test_stat_file_and_missing(void **state)
{
    struct fx *f = *state;
    char want[256];

    assert_string_equal(RUN(f, "cashe.stat", "nope"), "$-1\r\n");
    set_key(f, "k", "hello");
    set_key(f, "k", "hello!");
    snprintf(want, sizeof(want),
             "*7\r\n:6\r\n:%" PRId64 "\r\n:2\r\n:3\r\n:2\r\n:-1\r\n"
             "$4\r\nfile\r\n",
             NOW);
    assert_string_equal(RUN(f, "cashe.stat", "k"), want);
}

static void test_stat_dir_and_both(void **state)
{
    struct fx *f = *state;
    const char dir[] = "*7\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:-1\r\n"
                       "$3\r\ndir\r\n";
    const char *p;
    struct rv v;

    set_key(f, "a/b", "x");
    assert_string_equal(RUN(f, "cashe.stat", "a"), dir);
    set_key(f, "a", "own");
    p = RUN(f, "cashe.stat", "a");
    v = rv_parse(&p);
    assert_int_equal(v.elems[0].i, 3);
    assert_true(rv_is(&v.elems[6], "both"));
    rv_free(&v);
    /* "a/b" has no children; "a/" is a file beside directory "a". */
    p = RUN(f, "cashe.stat", "a/b");
    v = rv_parse(&p);
    assert_true(rv_is(&v.elems[6], "file"));
    rv_free(&v);
    assert_string_equal(RUN(f, "cashe.stat", "a/"), "$-1\r\n");
}

/* A segment ending in '/' has no children, unless it is "/" alone. */
static void test_stat_odd_dirs(void **state)
{
    struct fx *f = *state;
    const char *p;
    struct rv v;

    set_key(f, "a/", "1");
    set_key(f, "a//x", "2"); /* directory "a", child "/x" */
    p = RUN(f, "cashe.stat", "a/");
    v = rv_parse(&p);
    assert_true(rv_is(&v.elems[6], "file"));
    rv_free(&v);
    set_key(f, "/", "3");
    set_key(f, "//y", "4"); /* directory "/", child "y" */
    p = RUN(f, "cashe.stat", "/");
    v = rv_parse(&p);
    assert_true(rv_is(&v.elems[6], "both"));
    rv_free(&v);
    p = RUN(f, "cashe.stat", "");
    v = rv_parse(&p);
    assert_true(rv_is(&v.elems[6], "dir")); /* the root */
    rv_free(&v);
}

static void test_stat_ttl_and_expiry(void **state)
{
    struct fx *f = *state;
    const char *p;
    struct rv v;

    assert_string_equal(RUN(f, "set", "t", "v", "px", "5000"), "+OK\r\n");
    set_key(f, "gone/x", "v");
    assert_string_equal(RUN(f, "pexpire", "gone/x", "100"), ":1\r\n");
    f->ctx.now_ms += 1000;
    p = RUN(f, "cashe.stat", "t");
    v = rv_parse(&p);
    assert_int_equal(v.elems[5].i, 4000);
    rv_free(&v);
    /* Expired keys neither exist nor make directories. */
    assert_string_equal(RUN(f, "cashe.stat", "gone/x"), "$-1\r\n");
    assert_string_equal(RUN(f, "cashe.stat", "gone"), "$-1\r\n");
    f->ctx.now_ms += 5000;
    assert_string_equal(RUN(f, "cashe.stat", "t"), "$-1\r\n");
}

/* ---- CASHE.LS --------------------------------------------------------------
 */

static void fill_tree(struct fx *f)
{
    static const char *const keys[] = {"a",  "a!",   "a/b",  "a/c/d",
                                       "b/", "c",    "/x",   "/y/z",
                                       "z/", "z//q", "a/c/e"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        set_key(f, keys[i], "v");
    assert_string_equal(RUN(f, "set", "", "root"), "+OK\r\n");
}

static void test_ls_root(void **state)
{
    struct fx *f = *state;
    char *all;

    fill_tree(f);
    all = ls_all(f, "", "100");
    assert_string_equal(all, "/x=file,/y=dir,a=both,a!=file,b/=file,"
                             "c=file,z/=file,z=dir,");
    free(all);
}

static void test_ls_subdirs(void **state)
{
    struct fx *f = *state;
    char *all;

    fill_tree(f);
    all = ls_all(f, "a/", "100");
    assert_string_equal(all, "b=file,c=dir,");
    free(all);
    all = ls_all(f, "a/c/", "100");
    assert_string_equal(all, "d=file,e=file,");
    free(all);
    all = ls_all(f, "z/", "100");
    assert_string_equal(all, "/q=file,");
    free(all);
    all = ls_all(f, "/y/", "100");
    assert_string_equal(all, "z=file,");
    free(all);
    all = ls_all(f, "nothing/", "100");
    assert_string_equal(all, "");
    free(all);
}

/* Pages of one entry give the same listing, each entry once. */
static void test_ls_paging(void **state)
{
    struct fx *f = *state;
    char *one, *all;

    fill_tree(f);
    all = ls_all(f, "", "100");
    one = ls_all(f, "", "1");
    assert_string_equal(one, all);
    free(one);
    one = ls_all(f, "", "3");
    assert_string_equal(one, all);
    free(one);
    free(all);
}

/* A cursor stays valid across changes: entries added before it are not
 * seen, none after it is lost. */
static void test_ls_cursor_survives_changes(void **state)
{
    struct fx *f = *state;
    struct buf out = {0};
    char *cursor;

    set_key(f, "d/b", "v");
    set_key(f, "d/d", "v");
    set_key(f, "d/f", "v");
    cursor = ls_call(f, "d/", "", "1", &out);
    assert_string_equal(RUN(f, "del", "d/d"), ":1\r\n");
    set_key(f, "d/a", "v");
    set_key(f, "d/e", "v");
    do {
        char *next = ls_call(f, "d/", cursor, "1", &out);

        free(cursor);
        cursor = next;
    } while (cursor[0] != '\0');
    buf_append(&out, "", 1);
    assert_string_equal(out.data, "b=file,e=file,f=file,");
    free(cursor);
    buf_free(&out);
}

/* A directory of many keys costs one entry: a listing that walked every
 * key would run out of its budget (10 per entry asked) long before "zz". */
static void test_ls_skips_subtrees(void **state)
{
    struct fx *f = *state;
    struct buf out = {0};
    char key[32];
    char *cursor;

    for (int i = 0; i < 50000; i++) {
        int n = snprintf(key, sizeof(key), "big/%06d", i);

        store_set(f->store, key, (size_t)n, "v", 1, 0, 1, NOW);
    }
    set_key(f, "zz", "v");
    cursor = ls_call(f, "", "", "10", &out);
    buf_append(&out, "", 1);
    assert_string_equal(out.data, "big=dir,zz=file,");
    assert_string_equal(cursor, "");
    free(cursor);
    buf_free(&out);
}

static void test_ls_many_children_complete(void **state)
{
    struct fx *f = *state;
    char key[32];
    char *all;
    size_t n = 0;

    for (int i = 0; i < 20000; i++) {
        int len = snprintf(key, sizeof(key), "dir/%05d", i);

        store_set(f->store, key, (size_t)len, "v", 1, 0, 1, NOW);
    }
    all = ls_all(f, "dir/", "1000");
    for (const char *p = all; (p = strstr(p, "=file,")) != NULL; p++)
        n++;
    assert_int_equal(n, 20000);
    assert_non_null(strstr(all, "00000=file,00001=file,"));
    assert_non_null(strstr(all, "19999=file,"));
    free(all);
}

static void test_ls_expired_and_entry_fields(void **state)
{
    struct fx *f = *state;
    const char *p;
    struct rv v;
    char *all;

    set_key(f, "e/live", "12345");
    set_key(f, "e/old", "v");
    set_key(f, "e/sub/old", "v");
    assert_string_equal(RUN(f, "pexpire", "e/old", "10"), ":1\r\n");
    assert_string_equal(RUN(f, "pexpire", "e/sub/old", "10"), ":1\r\n");
    f->ctx.now_ms += 100;
    all = ls_all(f, "e/", "10");
    assert_string_equal(all, "live=file,");
    free(all);
    p = RUN(f, "cashe.ls", "e/", "", "10");
    v = rv_parse(&p);
    assert_int_equal(v.elems[1].elems[0].elems[2].i, 5);
    assert_int_equal(v.elems[1].elems[0].elems[3].i, NOW);
    rv_free(&v);
}

static void test_ls_bad_count(void **state)
{
    struct fx *f = *state;

    assert_string_equal(RUN(f, "cashe.ls", "", "", "0"),
                        "-ERR count must be positive\r\n");
    assert_string_equal(RUN(f, "cashe.ls", "", "", "x"),
                        "-ERR value is not an integer or out of range\r\n");
    assert_string_equal(RUN(f, "cashe.ls", "", ""),
                        "-ERR wrong number of arguments for 'cashe.ls' "
                        "command\r\n");
}

/* ---- CASHE.RENAMEDIR
 * --------------------------------------------------------- */

static void test_renamedir_moves_tree(void **state)
{
    struct fx *f = *state;
    const struct store_entry *e;

    set_key(f, "d", "own");
    set_key(f, "d/a", "1");
    set_key(f, "d/b/c", "2");
    set_key(f, "d/", "beside");
    set_key(f, "dx", "other");
    assert_string_equal(RUN(f, "expire", "d/a", "100"), ":1\r\n");
    buf_reset(&f->events);
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "e"), ":3\r\n");
    assert_null(store_get(f->store, "d", 1));
    assert_null(store_get(f->store, "d/a", 3));
    assert_null(store_get(f->store, "d/b/c", 5));
    assert_non_null(store_get(f->store, "d/", 2));
    assert_non_null(store_get(f->store, "dx", 2));
    e = store_get(f->store, "e", 1);
    assert_non_null(e);
    assert_memory_equal(e->value, "own", 3);
    assert_int_equal(e->create_rev, f->rev);
    e = store_get(f->store, "e/a", 3);
    assert_non_null(e);
    assert_int_equal(e->expire_ms, NOW + 100000);
    e = store_get(f->store, "e/b/c", 5);
    assert_non_null(e);
    assert_memory_equal(e->value, "2", 1);
    buf_append(&f->events, "", 1);
    assert_string_equal(f->events.data, "rename_from:d;rename_to:e;"
                                        "rename_from:d/a;rename_to:e/a;"
                                        "rename_from:d/b/c;rename_to:e/b/c;");
}

static void test_renamedir_target_not_empty(void **state)
{
    struct fx *f = *state;

    set_key(f, "s/a", "1");
    set_key(f, "t/x", "2");
    assert_string_equal(RUN(f, "cashe.renamedir", "s", "t"),
                        "-NOTEMPTY the target directory has keys\r\n");
    assert_non_null(store_get(f->store, "s/a", 3));
    assert_string_equal(RUN(f, "cashe.renamedir", "s", "t", "REPLACE"),
                        ":1\r\n");
    assert_null(store_get(f->store, "t/x", 3));
    assert_non_null(store_get(f->store, "t/a", 3));
    /* The target's own key counts too. */
    set_key(f, "u", "file");
    assert_string_equal(RUN(f, "cashe.renamedir", "t", "u"),
                        "-NOTEMPTY the target directory has keys\r\n");
    /* "t/" beside the target is not in it. */
    set_key(f, "v/", "beside");
    assert_string_equal(RUN(f, "cashe.renamedir", "t", "v"), ":1\r\n");
    assert_non_null(store_get(f->store, "v/", 2));
    assert_non_null(store_get(f->store, "v/a", 3));
}

static void test_renamedir_refusals(void **state)
{
    struct fx *f = *state;

    set_key(f, "d/sub/x", "1");
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "d/sub/y"),
                        "-ERR cannot move a directory below itself\r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "d/sub", "d", "replace"),
                        "-NOTEMPTY the target directory has keys\r\n");
    assert_non_null(store_get(f->store, "d/sub/x", 7));
    assert_string_equal(RUN(f, "cashe.renamedir", "none", "x"),
                        "-ERR no such directory\r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "d"), ":0\r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "", "x"),
                        "-ERR not a directory name: \r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "x/"),
                        "-ERR not a directory name: x/\r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "x", "nx"),
                        "-ERR syntax error\r\n");
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "x", "replace", "y"),
                        "-ERR syntax error\r\n");
    assert_non_null(store_get(f->store, "d/sub/x", 7));
}

static void test_renamedir_expired_keys(void **state)
{
    struct fx *f = *state;

    set_key(f, "d/live", "1");
    set_key(f, "d/old", "2");
    assert_string_equal(RUN(f, "pexpire", "d/old", "10"), ":1\r\n");
    f->ctx.now_ms += 100;
    buf_reset(&f->events);
    assert_string_equal(RUN(f, "cashe.renamedir", "d", "n"), ":1\r\n");
    assert_null(store_get(f->store, "d/old", 5));
    assert_null(store_get(f->store, "n/old", 5));
    assert_non_null(store_get(f->store, "n/live", 6));
    buf_append(&f->events, "", 1);
    assert_string_equal(f->events.data, "expired:d/old;rename_from:d/live;"
                                        "rename_to:n/live;");
    /* A directory of expired keys only is gone. */
    set_key(f, "g/x", "1");
    assert_string_equal(RUN(f, "pexpire", "g/x", "10"), ":1\r\n");
    f->ctx.now_ms += 100;
    assert_string_equal(RUN(f, "cashe.renamedir", "g", "h"),
                        "-ERR no such directory\r\n");
}

static void test_table_rows(void **state)
{
    const struct cmd_spec *c;

    (void)state;
    c = cmd_lookup("CASHE.LS", 8);
    assert_non_null(c);
    assert_int_equal(c->flags, CMD_READ);
    c = cmd_lookup("Cashe.Stat", 10);
    assert_non_null(c);
    assert_int_equal(c->flags, CMD_READ);
    c = cmd_lookup("cashe.renamedir", 15);
    assert_non_null(c);
    assert_int_equal(c->flags, CMD_WRITE);
    assert_int_equal(c->first_key, 1);
    assert_int_equal(c->last_key, 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_stat_file_and_missing),
        T(test_stat_dir_and_both),
        T(test_stat_odd_dirs),
        T(test_stat_ttl_and_expiry),
        T(test_ls_root),
        T(test_ls_subdirs),
        T(test_ls_paging),
        T(test_ls_cursor_survives_changes),
        T(test_ls_skips_subtrees),
        T(test_ls_many_children_complete),
        T(test_ls_expired_and_entry_fields),
        T(test_ls_bad_count),
        T(test_renamedir_moves_tree),
        T(test_renamedir_target_not_empty),
        T(test_renamedir_refusals),
        T(test_renamedir_expired_keys),
        cmocka_unit_test(test_table_rows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
