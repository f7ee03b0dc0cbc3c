/* TCP_NODELAY on the Raft transport's connections (see nodelay.h). */

#include <uv.h>

#include "log.h"
#include "nodelay.h"

/* The wrapped transport's own functions and the library's callbacks. The
 * library passes the same callback to every connect, so one is kept. */
static struct {
    int (*listen)(struct raft_uv_transport *t, raft_uv_accept_cb cb);
    int (*connect)(struct raft_uv_transport *t, struct raft_uv_connect *req,
                   raft_id id, const char *address, raft_uv_connect_cb cb);
    raft_uv_accept_cb accept_cb;
    raft_uv_connect_cb connect_cb;
} orig;

static void set_nodelay(struct uv_stream_s *stream)
{
    int rv;

    if (stream == NULL || stream->type != UV_TCP)
        return;
    rv = uv_tcp_nodelay((uv_tcp_t *)stream, 1);
    if (rv != 0)
        log_warning("cannot turn Nagle off on a Raft connection: %s",
                    uv_strerror(rv));
}

static void accept_cb(struct raft_uv_transport *t, raft_id id,
                      const char *address, struct uv_stream_s *stream)
{
    set_nodelay(stream);
    orig.accept_cb(t, id, address, stream);
}

static int listen_wrapped(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    orig.accept_cb = cb;
    return orig.listen(t, accept_cb);
}

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream,
                       int status)
{
    if (status == 0)
        set_nodelay(stream);
    orig.connect_cb(req, stream, status);
}

static int connect_wrapped(struct raft_uv_transport *t,
                           struct raft_uv_connect *req, raft_id id,
                           const char *address, raft_uv_connect_cb cb)
{
    orig.connect_cb = cb;
    return orig.connect(t, req, id, address, connect_cb);
}

void nodelay_wrap(struct raft_uv_transport *t)
{
    orig.listen = t->listen;
    orig.connect = t->connect;
    t->listen = listen_wrapped;
    t->connect = connect_wrapped;
}
