/* Listeners, connections and their buffers. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "activation.h"
#include "forward.h"
#include "log.h"
#include "pubsub.h"
#include "server.h"
#include "server_internal.h"

#define READ_CHUNK    (64 * 1024)
#define INLINE_MAX    (64 * 1024)
#define TIMER_MS      20
#define STOP_QUIET_US (200 * 1000)

static void conn_start_reading(struct conn *c);

size_t conn_unanswered(const struct conn *c)
{
    size_t n = c->out.len + c->writing.len;

    for (const struct slot *s = c->head; s != NULL; s = s->next)
        n += s->reply.len;
    return n;
}

static void conn_free(struct conn *c)
{
    struct server *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->n_conns--;
    if (c->is_unix)
        s->n_unix_conns--;
    resp_parser_free(&c->parser);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->writing);
    free(c->name);
    free(c);
}

void conn_unref(struct conn *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void conn_closed_cb(uv_handle_t *h)
{
    conn_unref(h->data);
}

/* Slots still in flight keep the memory; their completions find the
 * connection closing and drop their replies. */
void conn_close(struct conn *c)
{
    struct slot *s, *next;

    if (c->closing)
        return;
    c->closing = true;
    pubsub_drop(c);
    for (s = c->head; s != NULL; s = next) {
        next = s->next;
        s->next = NULL;
        if (s->state == SLOT_DONE || s->state == SLOT_DEFERRED)
            slot_free(s);
    }
    c->head = c->tail = NULL;
    uv_close((uv_handle_t *)&c->h.stream, conn_closed_cb);
}

static void write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    c->write_in_flight = false;
    c->srv->stats.net_output_bytes += c->writing.len;
    buf_reset(&c->writing);
    if (status < 0) {
        log_debug("client %llu: write failed: %s", (unsigned long long)c->id,
                  uv_strerror(status));
        conn_close(c);
        conn_unref(c);
        return;
    }
    if (!c->closing)
        conn_mark_dirty(c);
    conn_unref(c);
}

/* Write what the socket takes at once, without a request: a completed
 * uv_write() costs the loop an epoll_ctl() and a deferred callback, which
 * for one reply per client per round is as much as the write itself.
 * Returns -1 if the connection failed and is closing. */
static int conn_try_write(struct conn *c)
{
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int rv = uv_try_write(&c->h.stream, &b, 1);

    if (rv == UV_EAGAIN)
        return 0;
    if (rv < 0) {
        log_debug("client %llu: write failed: %s", (unsigned long long)c->id,
                  uv_strerror(rv));
        conn_close(c);
        return -1;
    }
    c->srv->stats.net_output_bytes += (uint64_t)rv;
    buf_consume(&c->out, (size_t)rv);
    return 0;
}

/* Send whatever is ready: directly while the socket takes it, the rest
 * through one write request at a time. */
static void conn_flush(struct conn *c)
{
    struct buf tmp;
    uv_buf_t b;
    int rv;

    if (c->closing || c->write_in_flight)
        return;
    if (c->out.len > 0 && conn_try_write(c) < 0)
        return;
    if (c->out.len == 0) {
        /* QUIT, EOF or a protocol error: close only once the replies to
         * every command before it have gone out. */
        if (c->close_after_write) {
            if (c->head == NULL)
                conn_close(c);
        } else if (!c->reading) {
            conn_start_reading(c);
        }
        return;
    }
    tmp = c->writing;
    c->writing = c->out;
    c->out = tmp;
    b = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
    c->wreq.data = c;
    rv = uv_write(&c->wreq, &c->h.stream, &b, 1, write_cb);
    if (rv < 0) {
        conn_close(c);
        return;
    }
    c->write_in_flight = true;
    c->refs++;
}

void conn_mark_dirty(struct conn *c)
{
    struct server *s = c->srv;

    if (c->dirty || c->closing)
        return;
    c->dirty = true;
    c->refs++;
    c->dirty_next = s->dirty;
    s->dirty = c;
}

/* After the loop's I/O callbacks: write every connection that got replies,
 * so many replies finished in one iteration leave in one write. */
static void flush_check_cb(uv_check_t *h)
{
    struct server *s = h->data;
    struct conn *c;

    while ((c = s->dirty) != NULL) {
        s->dirty = c->dirty_next;
        c->dirty = false;
        if (!c->closing) {
            slots_advance(c);
            conn_flush(c);
        }
        conn_unref(c);
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    size_t want = resp_parser_wanted(&c->parser, c->in.len);
    size_t room = READ_CHUNK;

    /* Toward a long bulk string the buffer at most doubles per read: a
     * declared length reserves nothing, only bytes that arrived do. */
    if (want > room)
        room = want < c->in.len ? want : c->in.len > room ? c->in.len : room;
    buf_reserve(&c->in, room);
    *b = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static bool conn_paused(const struct conn *c)
{
    return c->pending >= CONN_PENDING_PAUSE ||
           c->held + c->out.len + c->writing.len >= CONN_OUTPUT_PAUSE;
}

void conn_process_input(struct conn *c)
{
    struct resp_parser *p = &c->parser;
    const char *argv_small[16];
    size_t lens_small[16];

    while (!c->closing && !c->close_after_write && !conn_paused(c)) {
        enum resp_status st = resp_parse(p, c->in.data, c->in.len);
        const char **argv = argv_small;
        size_t *lens = lens_small;

        if (st == RESP_INCOMPLETE)
            break;
        if (st == RESP_ERROR) {
            resp_error(dispatch_ready_reply(c), p->error);
            log_debug("client %llu: %s", (unsigned long long)c->id, p->error);
            c->close_after_write = true;
            break;
        }
        if (p->argc > ARRAY_SIZE(argv_small)) {
            argv = xmalloc(p->argc * sizeof(*argv));
            lens = xmalloc(p->argc * sizeof(*lens));
        }
        for (size_t i = 0; i < p->argc; i++) {
            argv[i] = resp_arg(p, c->in.data, i);
            lens[i] = p->len[i];
        }
        dispatch_command(c, (int)p->argc, argv, lens);
        if (argv != argv_small) {
            free(argv);
            free(lens);
        }
        buf_consume(&c->in, p->consumed);
        resp_parser_next(p);
    }
    /* After QUIT or a protocol error nothing more is read: the connection
     * only waits for its replies to go out. */
    if ((conn_paused(c) || c->close_after_write) && c->reading && !c->closing) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
    conn_mark_dirty(c);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    struct server *s = c->srv;

    if (n < 0) {
        if (n != UV_EOF)
            log_debug("client %llu: read failed: %s", (unsigned long long)c->id,
                      uv_strerror((int)n));
        /* A half-closed client still gets the replies it asked for. */
        c->close_after_write = true;
        uv_read_stop(st);
        c->reading = false;
        conn_mark_dirty(c);
        return;
    }
    c->in.len += (size_t)n;
    s->stats.net_input_bytes += (uint64_t)n;
    if (c->in.len > s->cfg->max_client_buffer) {
        log_warning("client %llu (%s): query buffer over max-client-buffer; "
                    "closing it",
                    (unsigned long long)c->id, c->addr);
        resp_error(dispatch_ready_reply(c),
                   "ERR Protocol error: query buffer limit exceeded");
        c->close_after_write = true;
        uv_read_stop(st);
        c->reading = false;
        conn_mark_dirty(c);
        return;
    }
    conn_process_input(c);
}

static void conn_start_reading(struct conn *c)
{
    if (c->reading || c->closing || c->close_after_write || conn_paused(c))
        return;
    if (uv_read_start(&c->h.stream, alloc_cb, read_cb) == 0)
        c->reading = true;
    if (c->in.len > 0)
        conn_process_input(c);
}

static void format_addr(const struct sockaddr_storage *ss, char *out,
                        size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        uv_ip4_name(in, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

        uv_ip6_name(in6, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, size, "%s:%u", host, port);
}

static void peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (c->is_unix) {
        snprintf(c->addr, sizeof(c->addr), "unix");
        return;
    }
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, c->addr, sizeof(c->addr));
}

void conn_local_addr(const struct conn *c, char *out, size_t size)
{
    const char *path = c->srv->cfg->unix_socket;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (c->is_unix)
        snprintf(out, size, "%s:0", path != NULL ? path : "");
    else if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr(&ss, out, size);
    else
        snprintf(out, size, "?");
}

/* What a command may declare: the configured limits once the client is
 * logged in; before, as in redis, no more than AUTH or HELLO needs, so a
 * client without the password cannot make the node hold much for it. */
static struct resp_limits conn_limits(const struct conn *c)
{
    const struct config *cfg = c->srv->cfg;

    if (!c->authed)
        return (struct resp_limits){.max_args = UNAUTH_MAX_ARGS,
                                    .max_bulk = UNAUTH_MAX_BULK,
                                    .max_inline = INLINE_MAX,
                                    .unauthenticated = true};
    return (struct resp_limits){
        .max_args = cfg->max_args,
        .max_bulk = cfg->max_value_size > cfg->max_key_size
                        ? cfg->max_value_size
                        : cfg->max_key_size,
        .max_inline = INLINE_MAX,
    };
}

void conn_authenticated(struct conn *c)
{
    c->authed = true;
    c->parser.limits = conn_limits(c);
}

/* max-clients bounds TCP clients and Unix-socket clients each on their own:
 * a crowd over the network must not take the slots cashectl and cashe-fuse
 * reach the node through. */
static bool over_max_clients(const struct server *s, bool is_unix)
{
    size_t n = is_unix ? s->n_unix_conns : s->n_conns - s->n_unix_conns;

    return n > s->cfg->max_clients;
}

static void accept_conn(uv_stream_t *listener, bool is_unix)
{
    struct server *s = listener->data;
    struct conn *c = xcalloc(1, sizeof(*c));
    struct resp_limits lim;

    if (is_unix)
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->h.tcp);
    c->h.stream.data = c;
    c->srv = s;
    c->refs = 1;
    c->is_unix = is_unix;
    if (uv_accept(listener, &c->h.stream) != 0) {
        uv_close((uv_handle_t *)&c->h.stream, (uv_close_cb)free);
        return;
    }
    if (!is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    c->id = ++s->next_client_id;
    c->created_ms = clock_wall_ms();
    c->last_cmd_at = uv_now(s->loop);
    c->authed = s->cfg->password == NULL || is_unix;
    lim = conn_limits(c);
    resp_parser_init(&c->parser, &lim);
    peer_name(c);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    if (is_unix)
        s->n_unix_conns++;
    s->stats.connections_received++;
    if (over_max_clients(s, is_unix) || s->stopping) {
        s->stats.connections_rejected++;
        resp_error(&c->out, s->stopping ? SHUTDOWN_ERROR
                                        : "ERR max number of clients reached");
        c->close_after_write = true;
        conn_mark_dirty(c);
        return;
    }
    conn_start_reading(c);
}

static void tcp_connection_cb(uv_stream_t *l, int status)
{
    if (status == 0)
        accept_conn(l, false);
}

static void unix_connection_cb(uv_stream_t *l, int status)
{
    if (status == 0)
        accept_conn(l, true);
}

static bool host_is_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0;
}

/* A listener passed by systemd is bound already: where it is bound decides
 * whether clients need AUTH. */
static int listen_tcp_fd(struct server *s, int fd)
{
    int rv;

    s->tcp_needs_auth = !activation_is_loopback(fd);
    if (s->tcp_needs_auth && s->cfg->password == NULL) {
        log_error("refusing to serve the client socket passed by systemd "
                  "beyond loopback without a password: set 'password'");
        close(fd);
        return -1;
    }
    uv_tcp_init(s->loop, &s->tcp);
    s->tcp.data = s;
    s->tcp_open = true;
    rv = uv_tcp_open(&s->tcp, fd);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&s->tcp, 511, tcp_connection_cb);
    if (rv != 0) {
        log_error("cannot listen on the client socket passed by systemd: %s",
                  uv_strerror(rv));
        return -1;
    }
    return 0;
}

static int listen_tcp(struct server *s)
{
    struct config *cfg = s->cfg;
    struct sockaddr_storage ss;
    const char *host = cfg->listen.host[0] ? cfg->listen.host : "127.0.0.1";
    int fd = activation_take(ACTIVATION_CLIENT);
    int rv;

    if (fd >= 0)
        return listen_tcp_fd(s, fd);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (uv_ip4_addr(host, (int)cfg->listen.port, (struct sockaddr_in *)&ss) &&
        uv_ip6_addr(host, (int)cfg->listen.port, (struct sockaddr_in6 *)&ss)) {
        log_error("cannot listen on %s: not an IP address", cfg->listenaddr);
        return -1;
    }
    s->tcp_needs_auth = !host_is_loopback(host);
    if (s->tcp_needs_auth && cfg->password == NULL) {
        log_error("refusing to serve %s beyond loopback without a password: "
                  "set 'password' or listen on 127.0.0.1",
                  cfg->listenaddr);
        return -1;
    }
    uv_tcp_init(s->loop, &s->tcp);
    s->tcp.data = s;
    s->tcp_open = true;
    rv = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&s->tcp, 511, tcp_connection_cb);
    if (rv != 0) {
        log_error("cannot listen on %s:%u: %s", host, cfg->listen.port,
                  uv_strerror(rv));
        return -1;
    }
    return 0;
}

/* Whether @path may be taken for this node's socket: free, or a socket
 * that nobody listens on any more (left by a node that died), which is
 * removed. A live socket is another node's, and any other file is not ours
 * to delete. Returns 0, or -1 after logging why not. */
static int unix_path_claim(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, rv;

    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        log_error("cannot listen on %s: a file that is not a socket is "
                  "there; remove it or choose another --unix-socket",
                  path);
        return -1;
    }
    if (strlen(path) < sizeof(sa.sun_path)) {
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
            close(fd);
            if (rv == 0) {
                log_error("cannot listen on %s: another process serves it; "
                          "give each node its own --unix-socket",
                          path);
                return -1;
            }
        }
    }
    unlink(path);
    return 0;
}

/* Remove the socket file on stop, if it is still the one this node made. */
static void unix_path_release(const struct server *s)
{
    struct stat st;
    const char *path = s->cfg->unix_socket;

    if (lstat(path, &st) == 0 && (uint64_t)st.st_dev == s->unix_dev &&
        (uint64_t)st.st_ino == s->unix_ino)
        unlink(path);
}

static int listen_unix(struct server *s)
{
    const char *path = s->cfg->unix_socket;
    /* A passed socket is served even when unix-socket is empty: whoever
     * passed it (cashe@.socket) decided where it lives. */
    int fd = activation_take(ACTIVATION_UNIX);
    int rv;

    if (fd < 0 && (path == NULL || path[0] == '\0'))
        return 0;
    if (fd < 0 && unix_path_claim(path) != 0)
        return -1;
    uv_pipe_init(s->loop, &s->unix_sock, 0);
    s->unix_sock.data = s;
    s->unix_open = true;
    rv = fd >= 0 ? uv_pipe_open(&s->unix_sock, fd)
                 : uv_pipe_bind(&s->unix_sock, path);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&s->unix_sock, 511, unix_connection_cb);
    if (rv != 0) {
        log_error("cannot listen on %s: %s",
                  fd >= 0 ? "the Unix socket passed by systemd" : path,
                  uv_strerror(rv));
        return -1;
    }
    if (fd < 0) {
        struct stat st;

        chmod(path, 0660);
        if (lstat(path, &st) == 0) {
            s->unix_dev = (uint64_t)st.st_dev;
            s->unix_ino = (uint64_t)st.st_ino;
        }
    }
    return 0;
}

static void timer_cb(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now;

    /* First, so relayed commands that had not been sent are retried at
     * once, ahead of any the clients send next. */
    forwarder_expire(s->forwarder, (uint64_t)s->cfg->request_timeout_ms * 1000);
    dispatch_retry_waiting(s);
    if (!s->stopping)
        return;
    now = clock_mono_us();
    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        if (!c->closing &&
            (c->pending > 0 || c->write_in_flight || c->out.len > 0) &&
            now < s->stop_deadline_us) {
            s->stop_busy_us = now;
            return;
        }
    }
    /* Connections close only after a quiet spell: a client that just got
     * the reply to a command in flight, or a SHUTDOWN, has time to read it
     * and send nothing more. A command arriving as its socket closed would
     * be cut off unanswered. */
    if (now - s->stop_busy_us < STOP_QUIET_US && now < s->stop_deadline_us)
        return;
    for (struct conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    uv_timer_stop(&s->timer);
    s->stopping = false; /* report once */
    s->stopped(s->stopped_arg);
}

int server_start(struct server *s, uv_loop_t *loop, struct config *cfg,
                 struct cluster *cluster)
{
    s->loop = loop;
    s->cfg = cfg;
    s->cluster = cluster;
    s->started_ms = clock_wall_ms();
    s->forwarder = forwarder_new(loop, cfg->password);
    s->cursors = scan_cursors_new(4096);
    cluster->fsm.notify = pubsub_notify;
    cluster->fsm.notify_arg = s;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, timer_cb, TIMER_MS, TIMER_MS);
    uv_check_init(loop, &s->flush_check);
    s->flush_check.data = s;
    uv_check_start(&s->flush_check, flush_check_cb);
    if (listen_tcp(s) != 0 || listen_unix(s) != 0)
        return -1;
    log_notice("serving clients on %s%s%s", cfg->advertise_client,
               s->unix_open ? " and " : "",
               s->unix_open ? cfg->unix_socket : "");
    return 0;
}

void server_stop(struct server *s, unsigned grace_ms,
                 void (*stopped)(void *arg), void *arg)
{
    s->stopping = true;
    s->stopped = stopped;
    s->stopped_arg = arg;
    s->stop_busy_us = clock_mono_us();
    s->stop_deadline_us = s->stop_busy_us + (uint64_t)grace_ms * 1000;
    if (s->tcp_open)
        uv_close((uv_handle_t *)&s->tcp, NULL);
    if (s->unix_open) {
        uv_close((uv_handle_t *)&s->unix_sock, NULL);
        /* A passed socket belongs to its socket unit, which listens on
         * it again for the next start. */
        if (!activation_claimed(ACTIVATION_UNIX))
            unix_path_release(s);
    }
    s->tcp_open = s->unix_open = false;
    /* Connections go on being read: what clients send from now on is
     * answered SHUTDOWN without running (dispatch_command()), so a client
     * learns its command did not run instead of finding it cut off unread
     * when the connection closes. */
}

/* Commands relayed to a former leader are answered now (UNKNOWN if sent:
 * they may have run), not whenever it answers; those not sent, and new
 * ones, go to the new leader or, on this node as leader, run here. While
 * no leader is known the connection stays: its leader may still answer,
 * and forwarder_expire() bounds the wait. */
void server_role_changed(struct server *s)
{
    const struct member *leader = cluster_leader(s->cluster);

    if (s->forwarder == NULL) /* not serving yet */
        return;
    /* The leader that was stopping has handed over (or come back). */
    if (cluster_leader_id(s->cluster) != s->leader_stopping)
        s->leader_stopping = 0;
    if (cluster_is_leader(s->cluster))
        forwarder_retarget(s->forwarder, NULL);
    else if (leader != NULL)
        forwarder_retarget(s->forwarder, leader->client_addr);
    dispatch_retry_waiting(s);
}

void server_destroy(struct server *s)
{
    if (s->forwarder != NULL)
        forwarder_free(s->forwarder);
    s->forwarder = NULL;
    if (s->cursors != NULL)
        scan_cursors_free(s->cursors);
    uv_close((uv_handle_t *)&s->timer, NULL);
    uv_close((uv_handle_t *)&s->flush_check, NULL);
}
