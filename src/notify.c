/* sd_notify(3) for cashed, and the SIGHUP reload. */

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"
#include "util.h"

/* How often STATUS= is checked for a change (the applied index moves
 * without any event of its own). */
#define STATUS_INTERVAL_MS 1000

/* A numeric option, as stored in struct config. */
struct number_field {
    const char *name;
    size_t offset;
    bool wide; /* uint64_t rather than unsigned */
};

#define NUMBER(n, f, w)                                                        \
    {                                                                          \
        n, offsetof(struct config, f), w                                       \
    }

/* Read from the configuration wherever they are used, so a new value takes
 * effect at once (for new connections, in the case of max-args). */
static const struct number_field live_numbers[] = {
    NUMBER("request-timeout", request_timeout_ms, false),
    NUMBER("max-key-size", max_key_size, true),
    NUMBER("max-value-size", max_value_size, true),
    NUMBER("max-args", max_args, true),
    NUMBER("max-client-buffer", max_client_buffer, true),
    NUMBER("max-clients", max_clients, true),
    NUMBER("min-free-space", min_free_space, true),
};

/* Taken by Raft or the listeners at start-up: a change needs a restart. */
static const struct number_field fixed_numbers[] = {
    NUMBER("election-timeout", election_timeout_ms, false),
    NUMBER("heartbeat-timeout", heartbeat_timeout_ms, false),
    NUMBER("snapshot-threshold", snapshot_threshold, false),
    NUMBER("snapshot-trailing", snapshot_trailing, false),
};

static const struct {
    const char *name;
    size_t offset;
} fixed_texts[] = {
    {"id", offsetof(struct config, id)},
    {"listenaddr", offsetof(struct config, listenaddr)},
    {"raftaddr", offsetof(struct config, raftaddr)},
    {"advertise-addr", offsetof(struct config, advertise_addr)},
    {"advertise-raftaddr", offsetof(struct config, advertise_raftaddr)},
    {"data-dir", offsetof(struct config, data_dir)},
    {"unix-socket", offsetof(struct config, unix_socket)},
    {"password", offsetof(struct config, password)},
};

static uint64_t number_get(const struct config *c, const struct number_field *f)
{
    const char *p = (const char *)c + f->offset;

    return f->wide ? *(const uint64_t *)p : *(const unsigned *)p;
}

static void number_set(struct config *c, const struct number_field *f,
                       uint64_t v)
{
    char *p = (char *)c + f->offset;

    if (f->wide)
        *(uint64_t *)p = v;
    else
        *(unsigned *)p = (unsigned)v;
}

static const char *text_get(const struct config *c, size_t offset)
{
    return *(char *const *)((const char *)c + offset);
}

static bool text_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void status_format(const struct notify *n, char *out, size_t len)
{
    const struct cluster *c = n->cluster;
    const struct member *leader = cluster_leader(c);
    bool up = c->started && !c->closed;

    snprintf(out, len, "%s%s, term %llu, leader %s, applied index %llu",
             n->stopping ? "stopping: " : "", cluster_role_name(c),
             up ? (unsigned long long)c->raft.current_term : 0ULL,
             leader != NULL ? leader->name : "unknown",
             up ? (unsigned long long)c->raft.last_applied : 0ULL);
}

/* Send STATUS= when it changed, or always when @force. */
static void status_send(struct notify *n, bool force)
{
    char status[sizeof(n->last_status)];

    if (!n->ready)
        return;
    status_format(n, status, sizeof(status));
    if (!force && strcmp(status, n->last_status) == 0)
        return;
    memcpy(n->last_status, status, sizeof(status));
    sd_notifyf(0, "STATUS=%s", status);
}

static void status_timer_cb(uv_timer_t *t)
{
    status_send(t->data, false);
}

static void watchdog_cb(uv_timer_t *t)
{
    sd_notify(0, "WATCHDOG=1");
}

static void sighup_cb(uv_signal_t *h, int signum)
{
    notify_reload(h->data);
}

void notify_init(struct notify *n, int argc, char **argv)
{
    memset(n, 0, sizeof(*n));
    n->argc = argc;
    n->argv = argv;
    /* A SIGHUP before the loop handles it must not end the process. */
    signal(SIGHUP, SIG_IGN);
}

/* Ping at half the interval the manager asked for, so that one late timer
 * does not look like a hang. */
static void watchdog_start(struct notify *n)
{
    uint64_t usec = 0;
    uint64_t ms;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    n->watchdog_usec = usec;
    ms = usec / 2000;
    if (ms == 0)
        ms = 1;
    uv_timer_init(n->loop, &n->watchdog);
    n->watchdog.data = n;
    uv_timer_start(&n->watchdog, watchdog_cb, 0, ms);
    log_info("watchdog: pinging the service manager every %llu ms",
             (unsigned long long)ms);
}

void notify_ready(struct notify *n, uv_loop_t *loop, struct config *cfg,
                  struct cluster *cluster)
{
    n->loop = loop;
    n->cfg = cfg;
    n->cluster = cluster;
    n->ready = true;
    status_format(n, n->last_status, sizeof(n->last_status));
    sd_notifyf(0, "READY=1\nSTATUS=%s", n->last_status);

    uv_timer_init(loop, &n->status_timer);
    n->status_timer.data = n;
    uv_timer_start(&n->status_timer, status_timer_cb, STATUS_INTERVAL_MS,
                   STATUS_INTERVAL_MS);
    uv_signal_init(loop, &n->sighup);
    n->sighup.data = n;
    uv_signal_start(&n->sighup, sighup_cb, SIGHUP);
    watchdog_start(n);
}

void notify_status(struct notify *n)
{
    status_send(n, false);
}

void notify_stopping(struct notify *n)
{
    if (n->stopping)
        return;
    n->stopping = true;
    sd_notify(0, "STOPPING=1");
    status_send(n, false);
    if (n->ready)
        uv_signal_stop(&n->sighup);
}

/* Apply the values that can change live, logging each change. */
static void reload_apply(struct config *cur, struct config *fresh)
{
    for (size_t i = 0; i < ARRAY_SIZE(live_numbers); i++) {
        const struct number_field *f = &live_numbers[i];
        uint64_t was = number_get(cur, f), now = number_get(fresh, f);

        if (was == now)
            continue;
        log_notice("reload: %s %llu -> %llu", f->name, (unsigned long long)was,
                   (unsigned long long)now);
        number_set(cur, f, now);
    }
    if (!text_same(cur->log_level, fresh->log_level)) {
        int was = log_level_parse(cur->log_level);
        int now = log_level_parse(fresh->log_level);

        /* Under whichever of the two levels is more verbose, so the change
         * shows whether it turns logging up or down. */
        if (now > was)
            log_set_level(now);
        log_notice("reload: log-level %s -> %s", cur->log_level,
                   fresh->log_level);
        log_set_level(now);
        free(cur->log_level);
        cur->log_level = fresh->log_level;
        fresh->log_level = NULL;
    }
}

/* Say which changes wait for a restart rather than ignore them quietly. */
static void reload_report_fixed(const struct config *cur,
                                const struct config *fresh)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixed_numbers); i++) {
        if (number_get(cur, &fixed_numbers[i]) !=
            number_get(fresh, &fixed_numbers[i]))
            log_warning("reload: %s changed; it takes effect on restart",
                        fixed_numbers[i].name);
    }
    for (size_t i = 0; i < ARRAY_SIZE(fixed_texts); i++) {
        if (!text_same(text_get(cur, fixed_texts[i].offset),
                       text_get(fresh, fixed_texts[i].offset)))
            log_warning("reload: %s changed; it takes effect on restart",
                        fixed_texts[i].name);
    }
}

static uint64_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int notify_reload(struct notify *n)
{
    struct config fresh;
    char err[512];
    int rv = 0;

    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
               (unsigned long long)monotonic_usec());
    log_notice("reloading the configuration%s%s",
               n->cfg->config_file != NULL ? " from " : "",
               n->cfg->config_file != NULL ? n->cfg->config_file : "");
    /* The whole command line again, so its flags keep their precedence
     * over the file, and the same checks as at start-up. */
    config_init(&fresh);
    if (config_parse_args(&fresh, n->argc, n->argv, err, sizeof(err)) != 0 ||
        config_finish(&fresh, err, sizeof(err)) != 0) {
        log_error("reload: %s; keeping the running configuration", err);
        rv = -EINVAL;
    } else {
        reload_report_fixed(n->cfg, &fresh);
        reload_apply(n->cfg, &fresh);
    }
    config_free(&fresh);
    sd_notify(0, "READY=1");
    status_send(n, true);
    return rv;
}
