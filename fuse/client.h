/* cashe-fuse's connection to cashed: hiredis, synchronous, one connection
 * per FUSE worker thread so that a slow request (a write waiting for a
 * quorum) never holds up the others. A connection is opened on first use
 * and opened again after any failure; nothing is cached here. */

#ifndef CASHE_FUSE_CLIENT_H
#define CASHE_FUSE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct client_config {
    char *unix_path; /* a Unix socket, or NULL for TCP */
    char *host;      /* TCP */
    int port;
    char *password; /* AUTH on every new connection, or NULL */
    int timeout_ms; /* connect and per-request I/O timeout */
};

/* Where SOURCE points: an instance name ("raft0": /run/cashe/raft0.sock,
 * else /tmp/cashe-raft0.sock, the daemon's default), a path (anything with
 * a '/'), or host:port. Fills the address fields of @cfg; -EINVAL for a
 * malformed host:port. */
int client_resolve(const char *source, struct client_config *cfg);

/* Take the configuration (copied). Call once, before any request. */
void client_init(const struct client_config *cfg);

/* Connect, authenticate and PING from the calling thread. 0, -EACCES for a
 * refused password, or another negative errno; @msg gets a description. */
int client_check(char *msg, size_t len);

/* A new connection of the caller's own, authenticated, outside the
 * per-thread ones: for a subscriber. NULL with *@err and @msg set on
 * failure. Free it with redisFree(). */
redisContext *client_connect(int *err, char *msg, size_t len);

/* Run one command on this thread's connection. Returns the reply (free it
 * with freeReplyObject(); error replies included) or NULL with *@err set to
 * a negative errno: -EIO when the daemon cannot be reached or the
 * connection broke. A command is sent a second time on a fresh connection
 * only when @resend_ok (it is idempotent) or when the old connection failed
 * before anything was sent. TRYAGAIN replies (the command did not run) are
 * retried a few times. */
redisReply *client_run(int argc, const char **argv, const size_t *lens,
                       bool resend_ok, int *err);

/* The negative errno for an error reply: NOLEADER, UNKNOWN, SHUTDOWN and
 * unrecognised errors -EIO; TRYAGAIN -EAGAIN; value limits -EFBIG; key
 * limits -ENAMETOOLONG; NOAUTH/WRONGPASS -EACCES; READONLY -EROFS;
 * NOTEMPTY -ENOTEMPTY; "no such key/directory" -ENOENT. */
int client_error_errno(const redisReply *r);

/* From now on this thread's connection reads the node's own applied
 * state (READONLY) rather than making linearizable reads: for the watch
 * thread, which asks about the state an event it got from that node left
 * behind. */
void client_thread_local_reads(void);

/* Close this thread's connection (the main thread, after its check). */
void client_thread_close(void);

#endif /* CASHE_FUSE_CLIENT_H */
