/* Telling the service manager how the node is doing: the sd_notify(3)
 * protocol (READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1) and the
 * SIGHUP reload of what can change without a restart.
 *
 * Everything is a no-op without NOTIFY_SOCKET, so the daemon behaves the
 * same outside systemd, except that SIGHUP still reloads. */

#ifndef CASHE_NOTIFY_H
#define CASHE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster.h"
#include "config.h"

struct notify {
    uv_loop_t *loop;
    struct config *cfg;
    struct cluster *cluster;
    int argc;
    char **argv;

    uv_timer_t status_timer; /* keeps STATUS= current */
    uv_timer_t watchdog;     /* WATCHDOG=1, when the manager asks for it */
    uv_signal_t sighup;
    bool ready;
    bool stopping;
    uint64_t watchdog_usec; /* 0: no watchdog */
    char last_status[256];  /* what STATUS= said last */
};

/* Remember the command line for reloads, which read it again so that its
 * flags still win over the file. Ignores SIGHUP until notify_ready(). */
void notify_init(struct notify *n, int argc, char **argv);

/* The node serves its clients: send READY=1 and the first STATUS=, start
 * the status and watchdog timers and handle SIGHUP. Never waits for a
 * quorum: a first node must not hang the boot. */
void notify_ready(struct notify *n, uv_loop_t *loop, struct config *cfg,
                  struct cluster *cluster);

/* The role, term or leader changed: update STATUS= now. */
void notify_status(struct notify *n);

/* The node begins to stop: STOPPING=1. The watchdog keeps going until the
 * loop closes its handles. */
void notify_stopping(struct notify *n);

/* Reload the configuration (what SIGHUP does): RELOADING=1, re-read the
 * command line and its --config file, apply the log level and the limits,
 * log what changed and what needs a restart, then READY=1. A bad file
 * changes nothing. Returns 0, or -EINVAL when the new configuration was
 * refused. */
int notify_reload(struct notify *n);

#endif /* CASHE_NOTIFY_H */
