/* hiredis async contexts on the libuv loop; see redis_uv.h for why this is
 * not hiredis's own adapter. */

#include <stdlib.h>

#include "redis_uv.h"
#include "util.h"

struct redis_uv {
    redisAsyncContext *ac; /* NULL once hiredis has let go of it */
    uv_poll_t poll;
    int events;
};

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct redis_uv *p = h->data;
    /* On an error libuv has stopped polling and says nothing about the
     * direction: let hiredis try what it waits for, so it reads the error
     * from the socket and completes every command with a NULL reply. */
    int ev = status < 0 ? p->events : events;

    if (p->ac != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void set_events(struct redis_uv *p, int events)
{
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->poll, events, poll_cb);
    else
        uv_poll_stop(&p->poll);
}

static void add_read(void *arg)
{
    struct redis_uv *p = arg;

    set_events(p, p->events | UV_READABLE);
}

static void del_read(void *arg)
{
    struct redis_uv *p = arg;

    set_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *arg)
{
    struct redis_uv *p = arg;

    set_events(p, p->events | UV_WRITABLE);
}

static void del_write(void *arg)
{
    struct redis_uv *p = arg;

    set_events(p, p->events & ~UV_WRITABLE);
}

static void closed_cb(uv_handle_t *h)
{
    free(h->data);
}

/* hiredis is freeing the context: poll_cb may still be on the stack. */
static void cleanup(void *arg)
{
    struct redis_uv *p = arg;

    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, closed_cb);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    struct redis_uv *p;

    if (ac->ev.data != NULL)
        return REDIS_ERR;
    p = xcalloc(1, sizeof(*p));
    if (uv_poll_init_socket(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}
