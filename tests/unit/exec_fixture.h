/* The fixture shared by the exec unit tests: a store, a context at a fixed
 * time that logs keyspace events, and helpers that run one command and
 * return its reply as a string. */

#ifndef CASHE_TEST_EXEC_FIXTURE_H
#define CASHE_TEST_EXEC_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "store.h"
#include "util.h"

#define NOW      INT64_C(1700000000000)
#define MAX_ARGS 64

struct fx {
    struct store *store;
    struct scan_cursors *cursors;
    struct buf reply;
    struct buf events;
    struct exec_ctx ctx;
    uint64_t rev;
};

/* Events are logged as "event:key;" (keys may hold NUL bytes). */
static inline void on_event(void *arg, const char *event, const char *key,
                            size_t len)
{
    buf_append_str(arg, event);
    buf_append(arg, ":", 1);
    buf_append(arg, key, len);
    buf_append(arg, ";", 1);
}

static inline int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));

    f->store = store_new();
    f->cursors = scan_cursors_new(1024);
    f->ctx = (struct exec_ctx){
        .store = f->store,
        .now_ms = NOW,
        .reply = &f->reply,
        .cursors = f->cursors,
        .notify = on_event,
        .notify_arg = &f->events,
    };
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fx *f = *state;

    store_free(f->store);
    scan_cursors_free(f->cursors);
    buf_free(&f->reply);
    buf_free(&f->events);
    free(f);
    return 0;
}

/* Run one command; every command gets a fresh revision. The reply is
 * NUL-terminated for string comparisons (f->reply.len excludes it). */
static inline const char *runv(struct fx *f, int argc, const char **argv,
                               const size_t *lens)
{
    const struct cmd_spec *cmd = cmd_lookup(argv[0], lens[0]);

    assert_non_null(cmd);
    buf_reset(&f->reply);
    f->ctx.rev = ++f->rev;
    exec_command(cmd, &f->ctx, argc, argv, lens);
    buf_reserve(&f->reply, 1);
    f->reply.data[f->reply.len] = '\0';
    return f->reply.data;
}

/* Run a command given as a NULL-terminated list (empty arguments allowed). */
static inline const char *run_list(struct fx *f, const char *const *list)
{
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int argc = 0;

    for (; list[argc] != NULL; argc++) {
        argv[argc] = list[argc];
        lens[argc] = strlen(list[argc]);
    }
    return runv(f, argc, argv, lens);
}

#define RUN(f, ...) run_list(f, (const char *const[]){__VA_ARGS__, NULL})

#endif /* CASHE_TEST_EXEC_FIXTURE_H */
