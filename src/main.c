/* cashed: parse the configuration, start Raft and the server, run the loop,
 * stop cleanly on SIGTERM or SIGINT. */

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "cluster.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "recover.h"
#include "server.h"
#include "version.h"

#define STOP_GRACE_MS 5000

struct daemon {
    uv_loop_t loop;
    struct config cfg;
    struct cluster cluster;
    struct server server;
    struct notify notify;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool stopping;
    int exit_code;
};

static void role_changed(void *arg)
{
    struct daemon *d = arg;

    server_role_changed(&d->server);
    notify_status(&d->notify);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void cluster_closed(void *arg)
{
    struct daemon *d = arg;

    /* The server first: it closes its own handles and lets hiredis close
     * the forwarder's, each exactly once; closing them twice aborts. */
    server_destroy(&d->server);
    uv_walk(&d->loop, walk_close, NULL);
}

static void server_stopped(void *arg)
{
    struct daemon *d = arg;

    cluster_stop(&d->cluster, STOP_GRACE_MS);
}

static void daemon_stop(struct daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_notice("stopping");
    notify_stopping(&d->notify);
    uv_signal_stop(&d->sigterm);
    uv_signal_stop(&d->sigint);
    server_stop(&d->server, STOP_GRACE_MS, server_stopped, d);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    daemon_stop(h->data);
}

static int parse_config(struct config *cfg, int argc, char **argv)
{
    char err[512];

    config_init(cfg);
    if (config_parse_args(cfg, argc, argv, err, sizeof(err)) != 0 ||
        (!cfg->help && !cfg->version &&
         config_finish(cfg, err, sizeof(err)) != 0)) {
        fprintf(stderr, "cashed: %s\n", err);
        fprintf(stderr, "Try 'cashed --help'.\n");
        return -1;
    }
    return 0;
}

/* Before the data directory is touched: a first start that bootstrapped
 * and then could not bind would leave a one-node cluster behind, which a
 * later start with --leaderaddr would restart instead of joining. */
static int addresses_free(const struct config *cfg)
{
    if (tcp_addr_in_use(cfg->raft.host, cfg->raft.port)) {
        log_error("cannot start: the Raft address %s:%u is in use (another "
                  "node?); choose another --raftaddr",
                  cfg->raft.host, cfg->raft.port);
        return -1;
    }
    if (!activation_passed(ACTIVATION_CLIENT) &&
        tcp_addr_in_use(cfg->listen.host, cfg->listen.port)) {
        log_error("cannot start: the client address %s:%u is in use "
                  "(another node?); choose another --listenaddr",
                  cfg->listen.host[0] ? cfg->listen.host : "127.0.0.1",
                  cfg->listen.port);
        return -1;
    }
    return 0;
}

static int run(struct daemon *d)
{
    int rv;

    d->cluster.role_changed = role_changed;
    d->cluster.role_changed_arg = d;
    d->cluster.closed_cb = cluster_closed;
    d->cluster.closed_arg = d;
    if (addresses_free(&d->cfg) != 0)
        return 1;
    rv = cluster_start(&d->cluster, &d->loop, &d->cfg);
    if (rv != 0)
        return rv < 0 ? 1 : 0;
    if (server_start(&d->server, &d->loop, &d->cfg, &d->cluster) != 0) {
        d->exit_code = 1;
        d->stopping = true;
        server_stop(&d->server, 0, server_stopped, d);
    }
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    /* Serving now, with SIGTERM handled: ready, quorum or not. */
    activation_close_unclaimed();
    if (!d->stopping)
        notify_ready(&d->notify, &d->loop, &d->cfg, &d->cluster);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

int main(int argc, char **argv)
{
    static struct daemon d;
    int rv;

    signal(SIGPIPE, SIG_IGN);
#ifndef CASHE_JEMALLOC
    /* With glibc's malloc (jemalloc's settings are in malloc_conf.c): the
     * library's pool threads allocate a snapshot-sized buffer now and then
     * (compression); with per-thread arenas and glibc's sliding mmap
     * threshold, each thread then keeps tens of MB it no longer uses. One
     * extra arena, and large blocks always mapped (so freeing returns them),
     * keep the footprint near the keyspace. */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
    if (parse_config(&d.cfg, argc, argv) != 0)
        return 2;
    if (d.cfg.help) {
        config_usage(stdout);
        return 0;
    }
    if (d.cfg.version) {
        printf("cashed %s\n", CASHE_VERSION);
        return 0;
    }
    if (d.cfg.recover) {
        rv = recover_run(&d.cfg) == 0 ? 0 : 1;
        config_free(&d.cfg);
        return rv;
    }
    log_init(d.cfg.id, log_level_parse(d.cfg.log_level));
    notify_init(&d.notify, argc, argv);
    uv_loop_init(&d.loop);
    rv = run(&d);
    uv_walk(&d.loop, walk_close, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    cluster_destroy(&d.cluster);
    config_free(&d.cfg);
    if (rv == 0)
        log_notice("stopped");
    return rv;
}
