#include <stdarg.h>
#include <stdio.h>

#include "fslog.h"

static bool use_syslog;
static bool debug_enabled;

void fslog_init(bool foreground, bool debug)
{
    debug_enabled = debug;
    use_syslog = !foreground;
    if (use_syslog)
        openlog("cashe-fuse", LOG_PID, LOG_DAEMON);
}

void fslog(int priority, const char *fmt, ...)
{
    va_list ap;

    if (priority == LOG_DEBUG && !debug_enabled)
        return;
    va_start(ap, fmt);
    if (use_syslog) {
        vsyslog(priority, fmt, ap);
    } else {
        fputs("cashe-fuse: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
