/* cashe-loadgen: a closed-loop load generator for the Redis protocol, one
 * thread, non-blocking sockets on epoll, replies parsed by hiredis's
 * redisReader. Each of -c connections keeps -P requests in flight; every
 * request's latency goes into one histogram. Prints one JSON line:
 *
 *   {"tool":"loadgen","workload":...,"ops":N,"errors":N,"seconds":s,
 *    "rps":x,"p50_ms":...,"max_ms":...,"max_stall_ms":...}
 *
 * ops counts the replies, other than error replies, to requests sent inside
 * the measured window; max_stall_ms is the longest time in that window
 * during which no reply at all arrived; pending and oldest_pending_ms tell
 * the requests left unanswered at the end, which no latency shows. Error
 * replies are counted (those to --init commands too, whenever they come), a
 * lost connection is reported on stderr and opened again. See bench/README.md.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/read.h>

#include "histogram.h"
#include "request.h"
#include "util.h"

#define NS_PER_S   1000000000ull
#define NS_PER_MS  1000000ull
#define RETRY_NS   (100 * NS_PER_MS) /* between attempts to connect */
#define CONNECT_NS (10 * NS_PER_S)   /* for every client to connect */
#define READ_CHUNK (64 * 1024)

enum command { CMD_SET, CMD_GET, CMD_MIXED, CMD_FILL };

static const char *const command_names[] = {"set", "get", "mixed", "fill"};

struct options {
    const char *host;
    const char *port;
    const char *socket_path;
    unsigned clients;
    unsigned pipeline;
    double seconds;    /* 0: until -n requests */
    uint64_t requests; /* 0: for -t seconds */
    size_t value_size;
    uint64_t keyspace;
    uint64_t fill; /* --fill N */
    enum command command;
    double set_ratio;  /* of mixed */
    const char **init; /* --init command lines */
    unsigned n_init;
    double warmup;
    const char *workload;
    bool reconnect;
};

enum conn_state {
    CONN_WAITING,    /* to connect at retry_at */
    CONN_CONNECTING, /* connect() in progress */
    CONN_INIT,       /* --init commands sent, replies awaited */
    CONN_READY,      /* carrying load */
    CONN_DEAD,       /* lost, and --no-reconnect */
};

struct loadgen;

struct conn {
    struct loadgen *lg;
    unsigned id;
    int fd;
    enum conn_state state;
    redisReader *reader;
    struct buf out;
    size_t out_sent;
    bool polling_out;  /* EPOLLOUT is registered */
    uint64_t *sent_at; /* ring of send times of the requests in flight */
    unsigned head;
    unsigned inflight;
    unsigned init_left; /* --init replies still to come */
    uint64_t retry_at;
    bool quiet;           /* a failure was reported since the last connection */
    char last_error[160]; /* text of the last error reply */
};

enum phase { PHASE_CONNECT, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

struct loadgen {
    struct options o;
    struct request set, get, *init;
    struct conn *conns;
    unsigned ring_size;
    int epfd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t rng;

    enum phase phase;
    uint64_t t_connect; /* start of PHASE_CONNECT */
    uint64_t t_warm_end;
    uint64_t t_start; /* of the measured window */
    uint64_t t_end;
    uint64_t issued; /* requests sent in the window */
    uint64_t ops, errors, lost, disconnects;
    uint64_t init_errors; /* over the whole run, measured or not */
    uint64_t last_reply, max_stall;
    uint64_t pending, oldest_pending; /* unanswered at the end */
    struct hist hist;
    char first_error[160];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: enough for picking keys. */
static uint64_t next_random(struct loadgen *lg)
{
    lg->rng ^= lg->rng >> 12;
    lg->rng ^= lg->rng << 25;
    lg->rng ^= lg->rng >> 27;
    return lg->rng * 2685821657736338717ull;
}

/* ---- replies ------------------------------------------------------------ */

/* The reader builds no reply objects: a reply is its type, cast to a
 * pointer (never NULL, since types start at 1). An error reply's text is
 * kept in its connection. */
static void *reply_string(const redisReadTask *task, char *str, size_t len)
{
    struct conn *c = task->privdata;

    if (task->type == REDIS_REPLY_ERROR && task->parent == NULL) {
        if (len >= sizeof(c->last_error))
            len = sizeof(c->last_error) - 1;
        memcpy(c->last_error, str, len);
        c->last_error[len] = '\0';
    }
    return (void *)(uintptr_t)task->type;
}

static void *reply_array(const redisReadTask *task, int elements)
{
    (void)elements;
    return (void *)(uintptr_t)task->type;
}

static void *reply_integer(const redisReadTask *task, long long value)
{
    (void)value;
    return (void *)(uintptr_t)task->type;
}

static void *reply_nil(const redisReadTask *task)
{
    return (void *)(uintptr_t)task->type;
}

static void reply_free(void *reply)
{
    (void)reply;
}

static redisReplyObjectFunctions reply_functions = {
    reply_string, reply_array, reply_integer, reply_nil, reply_free,
};

/* ---- connections -------------------------------------------------------- */

static void conn_reset(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->reader)
        redisReaderFree(c->reader);
    c->reader = NULL;
    buf_reset(&c->out);
    c->out_sent = 0;
    c->polling_out = false;
    c->head = 0;
    c->inflight = 0;
    c->init_left = 0;
}

/* The connection failed or was lost: the requests in flight are lost with
 * it. Reported once until the next connection succeeds. */
static void conn_fail(struct conn *c, uint64_t now, const char *what,
                      const char *why)
{
    struct loadgen *lg = c->lg;

    if (c->state == CONN_INIT || c->state == CONN_READY)
        lg->disconnects++;
    if (c->init_left < c->inflight)
        lg->lost += c->inflight - c->init_left;
    if (!c->quiet)
        fprintf(stderr, "cashe-loadgen: client %u: %s: %s%s\n", c->id, what,
                why, lg->o.reconnect ? " (retrying)" : "");
    c->quiet = true;
    conn_reset(c);
    c->state = lg->o.reconnect ? CONN_WAITING : CONN_DEAD;
    c->retry_at = now + RETRY_NS;
}

static int conn_poll(struct conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                             .data.ptr = c};

    if (epoll_ctl(c->lg->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -errno;
    c->polling_out = out;
    return 0;
}

/* Write what the output buffer holds, as far as the socket takes it. */
static void conn_flush(struct conn *c, uint64_t now)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent,
                         c->out.len - c->out_sent, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->polling_out && conn_poll(c, true) < 0)
                conn_fail(c, now, "epoll", strerror(errno));
            return;
        }
        if (n < 0) {
            conn_fail(c, now, "send", strerror(errno));
            return;
        }
        c->out_sent += (size_t)n;
    }
    buf_reset(&c->out);
    c->out_sent = 0;
    if (c->polling_out && conn_poll(c, false) < 0)
        conn_fail(c, now, "epoll", strerror(errno));
}

static void ring_push(struct conn *c, uint64_t t)
{
    c->sent_at[(c->head + c->inflight) % c->lg->ring_size] = t;
    c->inflight++;
}

static uint64_t ring_pop(struct conn *c)
{
    uint64_t t = c->sent_at[c->head];

    c->head = (c->head + 1) % c->lg->ring_size;
    c->inflight--;
    return t;
}

static bool counted_mode(const struct loadgen *lg)
{
    return lg->o.requests > 0 || lg->o.command == CMD_FILL;
}

static uint64_t request_target(const struct loadgen *lg)
{
    return lg->o.command == CMD_FILL ? lg->o.fill : lg->o.requests;
}

static bool may_issue(const struct loadgen *lg)
{
    if (lg->phase == PHASE_WARMUP)
        return true;
    if (lg->phase != PHASE_MEASURE)
        return false;
    return !counted_mode(lg) || lg->issued < request_target(lg);
}

/* Keep the pipeline of a ready connection full. */
static void conn_issue(struct conn *c, uint64_t now)
{
    struct loadgen *lg = c->lg;

    if (c->state != CONN_READY)
        return;
    while (c->inflight < lg->o.pipeline && may_issue(lg)) {
        const struct request *r = &lg->get;
        uint64_t key;

        if (lg->o.command == CMD_FILL) {
            r = &lg->set;
            key = lg->issued;
        } else {
            key = next_random(lg) % lg->o.keyspace;
            if (lg->o.command == CMD_SET ||
                (lg->o.command == CMD_MIXED &&
                 (double)(next_random(lg) >> 11) / 9007199254740992.0 <
                     lg->o.set_ratio))
                r = &lg->set;
        }
        request_append(r, &c->out, key);
        ring_push(c, now);
        if (lg->phase == PHASE_MEASURE)
            lg->issued++;
    }
}

static void conn_ready(struct conn *c, uint64_t now)
{
    c->state = CONN_READY;
    c->quiet = false;
    conn_issue(c, now);
}

/* Connected: send the --init commands, or start the load. */
static void conn_established(struct conn *c, uint64_t now)
{
    struct loadgen *lg = c->lg;

    if (conn_poll(c, false) < 0) {
        conn_fail(c, now, "epoll", strerror(errno));
        return;
    }
    if (lg->o.n_init == 0) {
        conn_ready(c, now);
    } else {
        c->state = CONN_INIT;
        for (unsigned i = 0; i < lg->o.n_init; i++) {
            request_append(&lg->init[i], &c->out, 0);
            ring_push(c, 0);
        }
        c->init_left = lg->o.n_init;
    }
    conn_flush(c, now);
}

static void conn_open(struct conn *c, uint64_t now)
{
    struct loadgen *lg = c->lg;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    int one = 1;

    c->fd = socket(lg->addr.ss_family,
                   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, now, "socket", strerror(errno));
        return;
    }
    if (lg->addr.ss_family != AF_UNIX)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->reader = redisReaderCreateWithFunctions(&reply_functions);
    if (c->reader == NULL) {
        conn_fail(c, now, "redisReader", "out of memory");
        return;
    }
    redisReaderSetPrivdata(c->reader, c);
    if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, now, "epoll", strerror(errno));
        return;
    }
    c->polling_out = true;
    c->state = CONN_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&lg->addr, lg->addrlen) == 0)
        conn_established(c, now);
    else if (errno != EINPROGRESS && errno != EAGAIN)
        conn_fail(c, now, "connect", strerror(errno));
}

static void on_connect_done(struct conn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        conn_fail(c, now, "connect", strerror(err));
    else
        conn_established(c, now);
}

static void on_reply(struct conn *c, int type, uint64_t now)
{
    struct loadgen *lg = c->lg;
    uint64_t sent;

    if (c->inflight == 0) {
        conn_fail(c, now, "protocol", "a reply to no request");
        return;
    }
    sent = ring_pop(c);
    if (c->init_left > 0) {
        c->init_left--;
        if (type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "cashe-loadgen: client %u: --init: %s\n", c->id,
                    c->last_error);
            lg->init_errors++;
        }
        if (c->init_left == 0)
            conn_ready(c, now);
        return;
    }
    if (lg->phase != PHASE_MEASURE || sent < lg->t_start)
        return;
    if (!counted_mode(lg) && now > lg->t_end)
        return;
    if (type == REDIS_REPLY_ERROR) {
        if (lg->errors++ == 0)
            snprintf(lg->first_error, sizeof(lg->first_error), "%s",
                     c->last_error);
        return;
    }
    lg->ops++;
    hist_record(&lg->hist, now - sent);
}

static void note_reply_time(struct loadgen *lg, uint64_t now)
{
    if (lg->phase == PHASE_MEASURE) {
        uint64_t end = counted_mode(lg) || now < lg->t_end ? now : lg->t_end;

        if (end > lg->last_reply && end - lg->last_reply > lg->max_stall)
            lg->max_stall = end - lg->last_reply;
    }
    lg->last_reply = now;
}

static void on_readable(struct conn *c, uint64_t now)
{
    static char chunk[READ_CHUNK];
    bool replied = false;
    ssize_t n;
    void *reply;

    n = recv(c->fd, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        conn_fail(c, now, "recv", strerror(errno));
        return;
    }
    if (n == 0) {
        conn_fail(c, now, "recv", "connection closed by the server");
        return;
    }
    if (redisReaderFeed(c->reader, chunk, (size_t)n) != REDIS_OK) {
        conn_fail(c, now, "reader", c->reader->errstr);
        return;
    }
    for (;;) {
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            conn_fail(c, now, "protocol", c->reader->errstr);
            return;
        }
        if (reply == NULL)
            break;
        replied = true;
        on_reply(c, (int)(uintptr_t)reply, now);
        if (c->state != CONN_INIT && c->state != CONN_READY)
            return;
    }
    if (replied)
        note_reply_time(c->lg, now);
    conn_issue(c, now);
    conn_flush(c, now);
}

static void on_event(struct conn *c, uint32_t events, uint64_t now)
{
    if (c->state == CONN_CONNECTING) {
        on_connect_done(c, now);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c, now);
    if ((events & EPOLLOUT) && c->fd >= 0 &&
        (c->state == CONN_INIT || c->state == CONN_READY))
        conn_flush(c, now);
}

/* ---- phases ------------------------------------------------------------- */

static unsigned count_state(const struct loadgen *lg, enum conn_state s)
{
    unsigned n = 0;

    for (unsigned i = 0; i < lg->o.clients; i++)
        n += lg->conns[i].state == s;
    return n;
}

/* Send what a ready connection may send now. */
static void conn_kick(struct conn *c, uint64_t now)
{
    if (c->state != CONN_READY)
        return;
    conn_issue(c, now);
    conn_flush(c, now);
}

static void start_measuring(struct loadgen *lg, uint64_t now)
{
    lg->phase = PHASE_MEASURE;
    lg->t_start = now;
    lg->t_end = now + (uint64_t)(lg->o.seconds * (double)NS_PER_S);
    lg->issued = 0;
    lg->ops = lg->errors = lg->lost = lg->disconnects = 0;
    lg->first_error[0] = '\0';
    lg->last_reply = now;
    lg->max_stall = 0;
    hist_reset(&lg->hist);
    for (unsigned i = 0; i < lg->o.clients; i++)
        conn_kick(&lg->conns[i], now);
}

static void start_load(struct loadgen *lg, uint64_t now)
{
    lg->phase = PHASE_WARMUP;
    lg->t_warm_end = now + (uint64_t)(lg->o.warmup * (double)NS_PER_S);
    for (unsigned i = 0; i < lg->o.clients; i++)
        conn_kick(&lg->conns[i], now);
}

static unsigned total_inflight(const struct loadgen *lg)
{
    unsigned n = 0;

    for (unsigned i = 0; i < lg->o.clients; i++)
        n += lg->conns[i].inflight;
    return n;
}

static void finish(struct loadgen *lg, uint64_t now)
{
    if (lg->phase == PHASE_MEASURE) {
        if (counted_mode(lg) || now < lg->t_end)
            lg->t_end = now;
        note_reply_time(lg, lg->t_end);
    } else {
        lg->t_start = lg->t_end = now;
    }
    lg->phase = PHASE_DONE;
    /* Requests the server never answered show in no latency: count them. */
    for (unsigned i = 0; i < lg->o.clients; i++) {
        const struct conn *c = &lg->conns[i];
        uint64_t sent;

        if (c->init_left > 0 || c->inflight == 0)
            continue;
        lg->pending += c->inflight;
        sent = c->sent_at[c->head];
        if (sent < lg->t_end && lg->t_end - sent > lg->oldest_pending)
            lg->oldest_pending = lg->t_end - sent;
    }
}

/* Move between phases; returns -1 when no client ever connected. */
static int advance(struct loadgen *lg, uint64_t now)
{
    unsigned ready = count_state(lg, CONN_READY);

    if (stop_requested || count_state(lg, CONN_DEAD) == lg->o.clients) {
        finish(lg, now);
        return 0;
    }
    switch (lg->phase) {
    case PHASE_CONNECT:
        if (ready < lg->o.clients && now - lg->t_connect <= CONNECT_NS)
            break;
        if (ready == 0)
            return -1;
        if (lg->o.warmup > 0)
            start_load(lg, now);
        else
            start_measuring(lg, now);
        break;
    case PHASE_WARMUP:
        if (now >= lg->t_warm_end)
            start_measuring(lg, now);
        break;
    case PHASE_MEASURE:
        if (lg->o.seconds > 0 && now >= lg->t_end)
            finish(lg, now);
        else if (counted_mode(lg) && lg->issued >= request_target(lg) &&
                 total_inflight(lg) == 0)
            finish(lg, now);
        break;
    case PHASE_DONE:
        break;
    }
    return 0;
}

/* Milliseconds epoll may sleep: until the next deadline, 100 at most. */
static int wait_ms(const struct loadgen *lg, uint64_t now)
{
    uint64_t next = now + 100 * NS_PER_MS;

    if (lg->phase == PHASE_WARMUP && lg->t_warm_end < next)
        next = lg->t_warm_end;
    if (lg->phase == PHASE_MEASURE && lg->o.seconds > 0 && lg->t_end < next)
        next = lg->t_end;
    for (unsigned i = 0; i < lg->o.clients; i++) {
        const struct conn *c = &lg->conns[i];

        if (c->state == CONN_WAITING && c->retry_at < next)
            next = c->retry_at;
    }
    return next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static int run(struct loadgen *lg)
{
    struct epoll_event events[256];
    uint64_t now = now_ns();

    lg->t_connect = now;
    for (unsigned i = 0; i < lg->o.clients; i++)
        conn_open(&lg->conns[i], now);
    while (lg->phase != PHASE_DONE) {
        int n;

        now = now_ns();
        for (unsigned i = 0; i < lg->o.clients; i++) {
            struct conn *c = &lg->conns[i];

            if (c->state == CONN_WAITING && c->retry_at <= now)
                conn_open(c, now);
        }
        if (advance(lg, now) < 0) {
            fprintf(stderr, "cashe-loadgen: no client could connect\n");
            return -1;
        }
        if (lg->phase == PHASE_DONE)
            break;
        n = epoll_wait(lg->epfd, events, 256, wait_ms(lg, now));
        if (n < 0 && errno != EINTR) {
            perror("cashe-loadgen: epoll_wait");
            return -1;
        }
        now = now_ns();
        for (int i = 0; i < n; i++)
            on_event(events[i].data.ptr, events[i].events, now);
    }
    return 0;
}

/* ---- report ------------------------------------------------------------- */

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned)(unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static double ms(uint64_t ns)
{
    return (double)ns / (double)NS_PER_MS;
}

static void report(const struct loadgen *lg)
{
    const struct options *o = &lg->o;
    double secs = (double)(lg->t_end - lg->t_start) / (double)NS_PER_S;
    const struct hist *h = &lg->hist;

    printf("{\"tool\":\"loadgen\",\"workload\":");
    print_json_string(o->workload ? o->workload : command_names[o->command]);
    printf(
        ",\"command\":\"%s\",\"clients\":%u,\"pipeline\":%u,"
        "\"value_size\":%zu,\"keyspace\":%llu,",
        command_names[o->command], o->clients, o->pipeline, o->value_size,
        (unsigned long long)(o->command == CMD_FILL ? o->fill : o->keyspace));
    printf("\"ops\":%llu,\"errors\":%llu,\"lost\":%llu,\"disconnects\":%llu,",
           (unsigned long long)lg->ops,
           (unsigned long long)(lg->errors + lg->init_errors),
           (unsigned long long)lg->lost, (unsigned long long)lg->disconnects);
    printf("\"seconds\":%.3f,\"rps\":%.1f,", secs,
           secs > 0 ? (double)lg->ops / secs : 0.0);
    printf("\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"max_stall_ms\":%.3f,",
           ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)),
           ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)), ms(h->max),
           ms(lg->max_stall));
    printf("\"pending\":%llu,\"oldest_pending_ms\":%.3f}\n",
           (unsigned long long)lg->pending, ms(lg->oldest_pending));
    fflush(stdout);
    if (lg->errors)
        fprintf(stderr, "cashe-loadgen: %llu error replies, the first: %s\n",
                (unsigned long long)lg->errors, lg->first_error);
    if (lg->oldest_pending > NS_PER_S)
        fprintf(stderr,
                "cashe-loadgen: %llu requests unanswered at the end, the "
                "oldest sent %.0f ms before\n",
                (unsigned long long)lg->pending, ms(lg->oldest_pending));
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cashe-loadgen [OPTION]... set|get|mixed\n"
            "       cashe-loadgen [OPTION]... --fill N\n"
            "  -h HOST         server host (127.0.0.1)\n"
            "  -p PORT         server port (6379)\n"
            "  -s SOCKET       Unix socket instead of host and port\n"
            "  -c CLIENTS      connections (50)\n"
            "  -P DEPTH        requests in flight per connection (1)\n"
            "  -t SECONDS      measure for this long (10 unless -n)\n"
            "  -n REQUESTS     measure this many requests\n"
            "  -d BYTES        value size of SET (100)\n"
            "  -r KEYS         keyspace: random keys key:%%012d below KEYS "
            "(100000)\n"
            "  --fill N        SET key:0 .. key:N-1 once each, then stop\n"
            "  --mix RATIO     share of SETs in mixed (0.1)\n"
            "  --init CMD      send CMD on each connection before the load;\n"
            "                  repeatable (e.g. --init READONLY)\n"
            "  --warmup SECS   load before measuring (0)\n"
            "  --workload NAME the workload field of the JSON line\n"
            "  --no-reconnect  leave a lost connection closed\n"
            "  --help          this text\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_count(const char *s, unsigned *out, unsigned min)
{
    uint64_t v;

    if (parse_u64(s, &v) < 0 || v < min || v > 100000)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

enum {
    OPT_FILL = 256,
    OPT_MIX,
    OPT_INIT,
    OPT_WARMUP,
    OPT_WORKLOAD,
    OPT_NO_RECONNECT,
    OPT_HELP,
};

static const struct option long_options[] = {
    {"fill", required_argument, NULL, OPT_FILL},
    {"mix", required_argument, NULL, OPT_MIX},
    {"init", required_argument, NULL, OPT_INIT},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_command(const char *s, enum command *out)
{
    for (unsigned i = 0; i < CMD_FILL; i++) {
        if (strcmp(s, command_names[i]) == 0) {
            *out = (enum command)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Returns 0, 1 after --help, or -1 (message printed) on a bad option. */
static int parse_options(int argc, char **argv, struct options *o)
{
    uint64_t v = 0;
    int opt, bad = 0;

    *o = (struct options){.host = "127.0.0.1",
                          .port = "6379",
                          .clients = 50,
                          .pipeline = 1,
                          .value_size = 100,
                          .keyspace = 100000,
                          .set_ratio = 0.1,
                          .reconnect = true};
    o->init = xcalloc((size_t)argc, sizeof(*o->init));
    while ((opt = getopt_long(argc, argv, "h:p:s:c:P:t:n:d:r:", long_options,
                              NULL)) != -1) {
        switch (opt) {
        case 'h':
            o->host = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 's':
            o->socket_path = optarg;
            break;
        case 'c':
            bad |= parse_count(optarg, &o->clients, 1);
            break;
        case 'P':
            bad |= parse_count(optarg, &o->pipeline, 1);
            break;
        case 't':
            bad |= parse_double(optarg, &o->seconds);
            break;
        case 'n':
            bad |= parse_u64(optarg, &o->requests);
            break;
        case 'd':
            bad |= parse_u64(optarg, &v);
            bad |= v > 512 * 1024 * 1024 ? -1 : 0;
            o->value_size = (size_t)v;
            break;
        case 'r':
            bad |= parse_u64(optarg, &o->keyspace);
            bad |= o->keyspace == 0 ? -1 : 0;
            break;
        case OPT_FILL:
            bad |= parse_u64(optarg, &o->fill);
            o->command = CMD_FILL;
            break;
        case OPT_MIX:
            bad |= parse_double(optarg, &o->set_ratio);
            bad |= o->set_ratio > 1 ? -1 : 0;
            break;
        case OPT_INIT:
            o->init[o->n_init++] = optarg;
            break;
        case OPT_WARMUP:
            bad |= parse_double(optarg, &o->warmup);
            break;
        case OPT_WORKLOAD:
            o->workload = optarg;
            break;
        case OPT_NO_RECONNECT:
            o->reconnect = false;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->command != CMD_FILL && optind == argc - 1)
        bad |= parse_command(argv[optind], &o->command);
    else if (!(o->command == CMD_FILL && optind == argc))
        bad = -1;
    if (bad) {
        usage(stderr);
        return -1;
    }
    if (o->command == CMD_FILL)
        o->warmup = 0;
    if (o->seconds == 0 && o->requests == 0 && o->command != CMD_FILL)
        o->seconds = 10;
    return 0;
}

static int resolve(struct loadgen *lg)
{
    const struct options *o = &lg->o;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rv;

    if (o->socket_path) {
        struct sockaddr_un *un = (struct sockaddr_un *)&lg->addr;

        if (strlen(o->socket_path) >= sizeof(un->sun_path)) {
            fprintf(stderr, "cashe-loadgen: socket path too long\n");
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, o->socket_path);
        lg->addrlen = sizeof(*un);
        return 0;
    }
    rv = getaddrinfo(o->host, o->port, &hints, &res);
    if (rv != 0) {
        fprintf(stderr, "cashe-loadgen: %s:%s: %s\n", o->host, o->port,
                gai_strerror(rv));
        return -1;
    }
    memcpy(&lg->addr, res->ai_addr, res->ai_addrlen);
    lg->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int setup(struct loadgen *lg)
{
    const struct options *o = &lg->o;

    lg->init = xcalloc(o->n_init ? o->n_init : 1, sizeof(*lg->init));
    for (unsigned i = 0; i < o->n_init; i++) {
        if (request_init_line(&lg->init[i], o->init[i]) < 0) {
            fprintf(stderr, "cashe-loadgen: --init: empty command\n");
            return -1;
        }
    }
    request_init_set(&lg->set, o->value_size);
    request_init_get(&lg->get);
    lg->ring_size = o->pipeline > o->n_init ? o->pipeline : o->n_init;
    lg->rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
    if (lg->rng == 0)
        lg->rng = 1;
    lg->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lg->epfd < 0) {
        perror("cashe-loadgen: epoll_create1");
        return -1;
    }
    lg->conns = xcalloc(o->clients, sizeof(*lg->conns));
    for (unsigned i = 0; i < o->clients; i++) {
        struct conn *c = &lg->conns[i];

        c->lg = lg;
        c->id = i;
        c->fd = -1;
        c->sent_at = xcalloc(lg->ring_size, sizeof(*c->sent_at));
    }
    return 0;
}

static void teardown(struct loadgen *lg)
{
    for (unsigned i = 0; lg->conns && i < lg->o.clients; i++) {
        conn_reset(&lg->conns[i]);
        buf_free(&lg->conns[i].out);
        free(lg->conns[i].sent_at);
    }
    free(lg->conns);
    for (unsigned i = 0; lg->init && i < lg->o.n_init; i++)
        request_free(&lg->init[i]);
    free(lg->init);
    request_free(&lg->set);
    request_free(&lg->get);
    free(lg->o.init);
    if (lg->epfd >= 0)
        close(lg->epfd);
}

int main(int argc, char **argv)
{
    static struct loadgen lg = {.epfd = -1};
    struct sigaction sa = {.sa_handler = on_signal};
    int rv;

    rv = parse_options(argc, argv, &lg.o);
    if (rv != 0) {
        free(lg.o.init);
        return rv > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rv = resolve(&lg) == 0 && setup(&lg) == 0 ? run(&lg) : -1;
    if (rv == 0)
        report(&lg);
    teardown(&lg);
    return rv == 0 ? 0 : 1;
}
