/* One hiredis connection per thread, kept in thread-specific data so that
 * it is closed when libfuse retires an idle worker thread. */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "client.h"
#include "fslog.h"
#include "util.h"

/* TRYAGAIN means leadership moved before the command ran: worth a few
 * quick retries, each after a short pause for the new leader. */
#define TRYAGAIN_RETRIES  5
#define TRYAGAIN_PAUSE_US 50000

static struct client_config config;
static pthread_key_t conn_key;
static atomic_int reachable = 1;  /* for logging changes only */
static __thread bool local_reads; /* this thread's connections: READONLY */

static void conn_destroy(void *c)
{
    redisFree(c);
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int resolve_tcp(const char *source, const char *colon,
                       struct client_config *cfg)
{
    const char *host = source;
    size_t host_len = (size_t)(colon - source);
    char *end;
    long port = strtol(colon + 1, &end, 10);

    if (colon[1] == '\0' || *end != '\0' || port <= 0 || port > 65535)
        return -EINVAL;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    cfg->host = host_len > 0 ? strndup(host, host_len) : xstrdup("127.0.0.1");
    cfg->port = (int)port;
    return 0;
}

int client_resolve(const char *source, struct client_config *cfg)
{
    const char *colon = strrchr(source, ':');
    struct buf run = {0}, tmp = {0};

    if (strchr(source, '/') != NULL) {
        cfg->unix_path = xstrdup(source);
        return 0;
    }
    if (colon != NULL)
        return resolve_tcp(source, colon, cfg);
    if (source[0] == '\0')
        return -EINVAL;
    buf_printf(&run, "/run/cashe/%s.sock", source);
    buf_printf(&tmp, "/tmp/cashe-%s.sock", source);
    /* The packaged location first; the daemon's built-in default next; the
     * packaged one when neither exists yet (the daemon may come later). */
    if (!file_exists(run.data) && file_exists(tmp.data)) {
        cfg->unix_path = tmp.data;
        buf_free(&run);
    } else {
        cfg->unix_path = run.data;
        buf_free(&tmp);
    }
    return 0;
}

void client_init(const struct client_config *cfg)
{
    config = *cfg;
    pthread_key_create(&conn_key, conn_destroy);
}

static struct timeval timeout_tv(void)
{
    return (struct timeval){
        .tv_sec = config.timeout_ms / 1000,
        .tv_usec = (config.timeout_ms % 1000) * 1000,
    };
}

static int authenticate(redisContext *c, char *msg, size_t len)
{
    redisReply *r = redisCommand(c, "AUTH %s", config.password);
    int rv = 0;

    if (r == NULL) {
        snprintf(msg, len, "AUTH failed: %s", c->errstr);
        return -EIO;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(msg, len, "AUTH refused: %s", r->str);
        rv = -EACCES;
    }
    freeReplyObject(r);
    return rv;
}

static redisContext *conn_open(int *err, char *msg, size_t len)
{
    struct timeval tv = timeout_tv();
    redisContext *c;

    c = config.unix_path != NULL
            ? redisConnectUnixWithTimeout(config.unix_path, tv)
            : redisConnectWithTimeout(config.host, config.port, tv);
    if (c == NULL) {
        snprintf(msg, len, "out of memory");
        *err = -ENOMEM;
        return NULL;
    }
    if (c->err != 0) {
        snprintf(msg, len, "%s", c->errstr);
        *err = -EIO;
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (config.unix_path == NULL)
        redisEnableKeepAlive(c);
    if (config.password != NULL && (*err = authenticate(c, msg, len)) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *client_connect(int *err, char *msg, size_t len)
{
    return conn_open(err, msg, len);
}

/* A connection the daemon closed while it sat idle (a restart) reads as
 * ready: nothing else ever arrives unasked. */
static bool conn_stale(redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};

    return poll(&p, 1, 0) != 0;
}

static void conn_drop(void)
{
    redisContext *c = pthread_getspecific(conn_key);

    pthread_setspecific(conn_key, NULL);
    redisFree(c);
}

static void note_reachable(bool now, const char *msg)
{
    int was = atomic_exchange(&reachable, now);

    if (was && !now)
        fslog(LOG_WARNING, "cashed at %s unreachable: %s",
              config.unix_path ? config.unix_path : config.host, msg);
    else if (!was && now)
        fslog(LOG_NOTICE, "cashed at %s reachable again",
              config.unix_path ? config.unix_path : config.host);
}

static int read_locally(redisContext *c)
{
    redisReply *r = redisCommand(c, "READONLY");
    int rv = r != NULL && r->type == REDIS_REPLY_STATUS ? 0 : -EIO;

    freeReplyObject(r);
    return rv;
}

void client_thread_local_reads(void)
{
    local_reads = true;
    conn_drop();
}

/* This thread's connection; *@fresh when it was opened just now. */
static redisContext *conn_get(int *err, bool *fresh)
{
    redisContext *c = pthread_getspecific(conn_key);
    char msg[256];

    *fresh = false;
    if (c != NULL && conn_stale(c)) {
        conn_drop();
        c = NULL;
    }
    if (c != NULL)
        return c;
    c = conn_open(err, msg, sizeof(msg));
    if (c != NULL && local_reads && (*err = read_locally(c)) != 0) {
        snprintf(msg, sizeof(msg), "READONLY: %s", c->errstr);
        redisFree(c);
        c = NULL;
    }
    if (c == NULL) {
        note_reachable(false, msg);
        return NULL;
    }
    note_reachable(true, NULL);
    pthread_setspecific(conn_key, c);
    *fresh = true;
    return c;
}

/* The peer closed the connection, as opposed to a timeout: only then is
 * sending again on a new one quick and, for idempotent commands, safe. */
static bool was_closed(const redisContext *c, int saved_errno)
{
    return c->err == REDIS_ERR_EOF ||
           (c->err == REDIS_ERR_IO &&
            (saved_errno == ECONNRESET || saved_errno == EPIPE));
}

static bool is_tryagain(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "TRYAGAIN", 8) == 0;
}

redisReply *client_run(int argc, const char **argv, const size_t *lens,
                       bool resend_ok, int *err)
{
    int retries = 0;

    for (;;) {
        bool fresh;
        redisContext *c = conn_get(err, &fresh);
        redisReply *r;

        if (c == NULL)
            return NULL;
        r = redisCommandArgv(c, argc, argv, lens);
        if (r == NULL) {
            bool closed = was_closed(c, errno);

            note_reachable(false, c->errstr);
            conn_drop();
            if (resend_ok && closed && !fresh && retries++ == 0)
                continue;
            *err = -EIO;
            return NULL;
        }
        if (is_tryagain(r) && retries++ < TRYAGAIN_RETRIES) {
            freeReplyObject(r);
            usleep(TRYAGAIN_PAUSE_US * (useconds_t)retries);
            continue;
        }
        return r;
    }
}

int client_check(char *msg, size_t len)
{
    int err = 0;
    redisContext *c = pthread_getspecific(conn_key);
    redisReply *r;

    if (c == NULL) {
        c = conn_open(&err, msg, len);
        if (c == NULL)
            return err;
        pthread_setspecific(conn_key, c);
    }
    r = redisCommand(c, "PING");
    if (r == NULL) {
        snprintf(msg, len, "%s", c->errstr);
        conn_drop();
        return -EIO;
    }
    err = r->type == REDIS_REPLY_ERROR ? client_error_errno(r) : 0;
    if (err != 0)
        snprintf(msg, len, "%s", r->str);
    freeReplyObject(r);
    return err;
}

struct error_map {
    const char *prefix;
    int err;
};

static const struct error_map error_prefixes[] = {
    {"NOLEADER", -EIO},
    {"UNKNOWN", -EIO},
    {"SHUTDOWN", -EIO},
    {"TRYAGAIN", -EAGAIN},
    {"NOAUTH", -EACCES},
    {"WRONGPASS", -EACCES},
    {"READONLY", -EROFS},
    {"NOTEMPTY", -ENOTEMPTY},
    {"ERR no such key", -ENOENT},
    {"ERR no such directory", -ENOENT},
    {"ERR not a directory name", -EINVAL},
    {"ERR cannot move a directory", -EINVAL},
};

static const struct error_map error_words[] = {
    {"max-key-size", -ENAMETOOLONG},
    {"max-value-size", -EFBIG},
    {"exceeds maximum allowed size", -EFBIG},
    {"too big bulk", -EFBIG},
};

int client_error_errno(const redisReply *r)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_prefixes); i++) {
        const char *p = error_prefixes[i].prefix;

        if (strncmp(r->str, p, strlen(p)) == 0)
            return error_prefixes[i].err;
    }
    for (size_t i = 0; i < ARRAY_SIZE(error_words); i++) {
        if (strstr(r->str, error_words[i].prefix) != NULL)
            return error_words[i].err;
    }
    return -EIO;
}

void client_thread_close(void)
{
    conn_drop();
}
