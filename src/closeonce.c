/* The Raft I/O's close callback, delivered once (see closeonce.h). */

#include <stdbool.h>

#include "closeonce.h"
#include "log.h"

static struct {
    void (*close)(struct raft_io *io, raft_io_close_cb cb);
    raft_io_close_cb cb;
    bool fired;
} orig;

static void closed_once(struct raft_io *io)
{
    if (orig.fired) {
        log_debug("raft I/O reported closed again; ignored");
        return;
    }
    orig.fired = true;
    if (orig.cb != NULL)
        orig.cb(io);
}

static void close_wrapped(struct raft_io *io, raft_io_close_cb cb)
{
    orig.cb = cb;
    orig.fired = false;
    orig.close(io, closed_once);
}

void closeonce_wrap(struct raft_io *io)
{
    orig.close = io->close;
    io->close = close_wrapped;
}
