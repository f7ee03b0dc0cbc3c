/* The watch thread: one subscription, its liveness, the kernel cache
 * timeouts that follow it, and the names to sweep when it comes and goes.
 *
 * The connection is read with poll() and hiredis' reader, never with a
 * blocking read, so that the thread notices a stop request, sends PINGs
 * on a quiet connection and gives up on one that no longer answers. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fslog.h"
#include "pagecache.h"
#include "util.h"
#include "watch.h"
#include "watch_internal.h"

#define CHANNEL_PREFIX "__keyspace@0__:"
#define PATTERN        CHANNEL_PREFIX "*"
#define TICK_MS        250
#define PING_IDLE_US   2000000 /* a quiet connection gets a PING after this */
#define PING_WAIT_US   3000000 /* and is given up this long after it */
#define PRUNE_EVERY_US 5000000
#define NAME_BUCKETS   4096

/* A top-level name the kernel was told of, and when it was last. */
struct name {
    struct name *next;
    uint64_t seen_us;
    char s[];
};

static struct {
    struct watch_target target;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool live;
    bool told;   /* the current outage has been logged (thread only) */
    int wake[2]; /* a byte here interrupts the thread's poll() */

    pthread_mutex_t lock; /* the fields below */
    struct fuse_config *cfg;
    double long_attr, long_entry;
    struct name *names[NAME_BUCKETS];
    uint64_t pruned_us;
} w = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = {-1, -1}};

bool watch_live(void)
{
    return atomic_load(&w.live);
}

/* ---- timeouts ---------------------------------------------------------- */

static double shorter(double a, double b)
{
    return a < b ? a : b;
}

/* libfuse reads these at every reply; a double is stored in one piece on
 * every platform libfuse runs on, and the atomic store says so. */
static void apply_timeouts_locked(void)
{
    bool live = atomic_load(&w.live);
    double attr =
        live ? w.long_attr : shorter(w.long_attr, WATCH_SHORT_TIMEOUT);
    double entry =
        live ? w.long_entry : shorter(w.long_entry, WATCH_SHORT_TIMEOUT);

    if (w.cfg == NULL)
        return;
    __atomic_store(&w.cfg->attr_timeout, &attr, __ATOMIC_RELAXED);
    __atomic_store(&w.cfg->entry_timeout, &entry, __ATOMIC_RELAXED);
}

void watch_attach_config(struct fuse_config *cfg)
{
    pthread_mutex_lock(&w.lock);
    w.cfg = cfg;
    w.long_attr = cfg->attr_timeout;
    w.long_entry = cfg->entry_timeout;
    apply_timeouts_locked();
    pthread_mutex_unlock(&w.lock);
}

/* ---- names --------------------------------------------------------------- */

static size_t name_bucket(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h % NAME_BUCKETS;
}

void watch_note(const char *path)
{
    const char *s = path + (path[0] == '/');
    size_t len = strcspn(s, "/");
    struct name **n;

    if (len == 0)
        return;
    pthread_mutex_lock(&w.lock);
    n = &w.names[name_bucket(s, len)];
    while (*n != NULL && (strncmp((*n)->s, s, len) != 0 || (*n)->s[len]))
        n = &(*n)->next;
    if (*n == NULL) {
        *n = xcalloc(1, sizeof(**n) + len + 1);
        memcpy((*n)->s, s, len);
    }
    (*n)->seen_us = clock_mono_us();
    pthread_mutex_unlock(&w.lock);
}

/* A name last told of longer ago than the long timeouts has nothing
 * cached below it that has not expired. */
static void prune_names(uint64_t now)
{
    double longest;
    uint64_t max_age;

    pthread_mutex_lock(&w.lock);
    longest = w.long_attr > w.long_entry ? w.long_attr : w.long_entry;
    max_age = (uint64_t)((longest + 2) * 1e6);
    for (size_t i = 0; i < NAME_BUCKETS; i++) {
        for (struct name **n = &w.names[i]; *n != NULL;) {
            struct name *old = *n;

            if (now - old->seen_us <= max_age) {
                n = &old->next;
                continue;
            }
            *n = old->next;
            free(old);
        }
    }
    w.pruned_us = now;
    pthread_mutex_unlock(&w.lock);
}

/* Everything the kernel may hold: the root's attributes and every entry
 * of the root, with all below it. */
static void sweep(void)
{
    char **copy = NULL;
    size_t n = 0;

    pthread_mutex_lock(&w.lock);
    for (size_t i = 0; i < NAME_BUCKETS; i++) {
        for (struct name *x = w.names[i]; x != NULL; x = x->next) {
            copy = xrealloc(copy, (n + 1) * sizeof(*copy));
            copy[n++] = xstrdup(x->s);
        }
    }
    pthread_mutex_unlock(&w.lock);
    fuse_invalidate_path(w.target.fuse, "/");
    for (size_t i = 0; i < n; i++) {
        watch_drop_top(&w.target, copy[i]);
        free(copy[i]);
    }
    free(copy);
    pagecache_clear();
}

/* ---- state ------------------------------------------------------------- */

static void set_live(bool live)
{
    pthread_mutex_lock(&w.lock);
    atomic_store(&w.live, live);
    apply_timeouts_locked();
    pthread_mutex_unlock(&w.lock);
    /* After the switch: what was cached before it is dropped, whatever
     * timeout it was given. */
    sweep();
}

static void go_live(void)
{
    set_live(true);
    w.told = false;
    fslog(LOG_NOTICE, "following keyspace events: the kernel caches for "
                      "attr_timeout and entry_timeout, invalidated by them");
}

static void go_down(const char *why)
{
    set_live(false);
    fslog(LOG_WARNING,
          "keyspace events lost (%s): the kernel revalidates within %g s "
          "until they are back",
          why, WATCH_SHORT_TIMEOUT);
}

static bool stopping(void)
{
    return atomic_load(&w.stop);
}

/* ---- the connection ---------------------------------------------------- */

static int send_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    int done = 0, rv;

    va_start(ap, fmt);
    rv = redisvAppendCommand(c, fmt, ap);
    va_end(ap);
    while (rv == REDIS_OK && !done)
        rv = redisBufferWrite(c, &done);
    return rv == REDIS_OK ? 0 : -EIO;
}

static bool is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static void on_message(const redisReply *r)
{
    const redisReply *channel = r->element[2], *event = r->element[3];
    size_t skip = strlen(CHANNEL_PREFIX);

    if (!is_string(channel) || !is_string(event) || channel->len < skip ||
        memcmp(channel->str, CHANNEL_PREFIX, skip) != 0)
        return;
    watch_event(&w.target, channel->str + skip, channel->len - skip,
                event->str);
}

/* One reply: an event, the subscription's confirmation, a PONG. */
static int on_reply(const redisReply *r, char *msg, size_t len)
{
    const char *kind;

    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(msg, len, "%s", r->str);
        return -EIO;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        !is_string(r->element[0]))
        return 0;
    kind = r->element[0]->str;
    if (strcmp(kind, "pmessage") == 0 && r->elements == 4)
        on_message(r);
    else if (strcmp(kind, "psubscribe") == 0 && !watch_live())
        go_live();
    return 0;
}

/* Every complete reply in the reader. */
static int drain(redisContext *c, uint64_t *heard_us, char *msg, size_t len)
{
    for (;;) {
        void *reply = NULL;
        int rv;

        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            snprintf(msg, len, "%s", c->errstr);
            return -EIO;
        }
        if (reply == NULL || stopping()) {
            freeReplyObject(reply);
            return 0;
        }
        *heard_us = clock_mono_us();
        rv = on_reply(reply, msg, len);
        freeReplyObject(reply);
        if (rv != 0)
            return rv;
    }
}

/* A quiet connection is asked to PING; one that stays quiet is given up,
 * as a daemon that stopped answering sends no events either. */
static int keepalive(redisContext *c, uint64_t heard_us, uint64_t *ping_us,
                     char *msg, size_t len)
{
    uint64_t now = clock_mono_us();

    if (*ping_us > heard_us && now - *ping_us > PING_WAIT_US) {
        snprintf(msg, len, "no answer to PING");
        return -ETIMEDOUT;
    }
    if (*ping_us <= heard_us && now - heard_us > PING_IDLE_US) {
        *ping_us = now;
        return send_command(c, "PING");
    }
    return 0;
}

/* Read until the connection fails or the thread is asked to stop. */
static int follow(redisContext *c, char *msg, size_t len)
{
    uint64_t heard_us = clock_mono_us(), ping_us = 0;

    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                              {.fd = w.wake[0], .events = POLLIN}};
        int rv = drain(c, &heard_us, msg, len);

        if (rv != 0 || stopping())
            return rv;
        rv = poll(p, 2, TICK_MS);
        if (rv < 0 && errno != EINTR) {
            snprintf(msg, len, "poll: %s", strerror(errno));
            return -errno;
        }
        if (stopping())
            return 0;
        if (clock_mono_us() - w.pruned_us > PRUNE_EVERY_US)
            prune_names(clock_mono_us());
        if (rv > 0 && p[0].revents != 0) {
            if (redisBufferRead(c) != REDIS_OK) {
                snprintf(msg, len, "%s", c->errstr);
                return -EIO;
            }
            continue;
        }
        rv = keepalive(c, heard_us, &ping_us, msg, len);
        if (rv != 0) {
            if (msg[0] == '\0')
                snprintf(msg, len, "%s", c->errstr);
            return rv;
        }
    }
}

static int subscribe_and_follow(char *msg, size_t len)
{
    int err = 0;
    redisContext *c = client_connect(&err, msg, len);

    if (c == NULL)
        return err;
    err = send_command(c, "PSUBSCRIBE %s", PATTERN);
    if (err != 0)
        snprintf(msg, len, "%s", c->errstr);
    else
        err = follow(c, msg, len);
    redisFree(c);
    return err;
}

static void pause_retry(void)
{
    struct pollfd p = {.fd = w.wake[0], .events = POLLIN};

    poll(&p, 1, WATCH_RETRY_MS);
}

static void *watch_main(void *arg)
{
    sigset_t all;

    /* Signals are for libfuse's handlers in the other threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    client_thread_local_reads();
    while (!stopping()) {
        char msg[256] = "";

        subscribe_and_follow(msg, sizeof(msg));
        if (stopping())
            break;
        if (watch_live())
            go_down(msg);
        else if (!w.told)
            fslog(LOG_WARNING,
                  "cannot follow keyspace events (%s): the "
                  "kernel revalidates within %g s meanwhile",
                  msg, WATCH_SHORT_TIMEOUT);
        w.told = true;
        pause_retry();
    }
    client_thread_close();
    return NULL;
}

int watch_start(struct fuse *fuse, const char *mountpoint)
{
    int rv;

    w.target = (struct watch_target){
        .fuse = fuse,
        .se = fuse_get_session(fuse),
        .mountpoint = xstrdup(mountpoint),
    };
    if (pipe2(w.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return -errno;
    rv = pthread_create(&w.thread, NULL, watch_main, NULL);
    if (rv != 0) {
        close(w.wake[0]);
        close(w.wake[1]);
        return -rv;
    }
    w.started = true;
    return 0;
}

void watch_stop(void)
{
    if (!w.started)
        return;
    atomic_store(&w.stop, true);
    if (write(w.wake[1], "x", 1) < 0) {
        /* Full pipe: the thread is being woken already. */
    }
    pthread_join(w.thread, NULL);
    w.started = false;
    close(w.wake[0]);
    close(w.wake[1]);
    free((char *)w.target.mountpoint);
}
