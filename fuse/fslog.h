/* cashe-fuse's log: stderr in the foreground, syslog (the journal) once it
 * runs as a daemon. Priorities are syslog's LOG_*. */

#ifndef CASHE_FUSE_FSLOG_H
#define CASHE_FUSE_FSLOG_H

#include <stdbool.h>
#include <syslog.h>

/* Switch to syslog when @foreground is false. */
void fslog_init(bool foreground, bool debug);

void fslog(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* CASHE_FUSE_FSLOG_H */
