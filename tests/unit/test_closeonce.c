/* Tests for closeonce: whatever the I/O does, the library's close callback
 * runs once, with the I/O it was given. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "closeonce.h"

static raft_io_close_cb given_cb; /* what the wrapper passed down */
static int inner_closes;
static int library_cbs;
static struct raft_io *library_io;

static void inner_close(struct raft_io *io, raft_io_close_cb cb)
{
    (void)io;
    inner_closes++;
    given_cb = cb;
}

static void library_cb(struct raft_io *io)
{
    library_cbs++;
    library_io = io;
}

static void test_close_reported_twice_reaches_the_library_once(void **state)
{
    struct raft_io io;

    (void)state;
    memset(&io, 0, sizeof(io));
    io.close = inner_close;
    closeonce_wrap(&io);
    assert_ptr_not_equal(io.close, inner_close);

    io.close(&io, library_cb);
    assert_int_equal(inner_closes, 1);
    assert_non_null(given_cb);
    assert_int_equal(library_cbs, 0); /* nothing until the I/O says so */

    given_cb(&io);
    assert_int_equal(library_cbs, 1);
    assert_ptr_equal(library_io, &io);
    given_cb(&io);
    given_cb(&io);
    assert_int_equal(library_cbs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_reported_twice_reaches_the_library_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
