/* Logging for operators: to the journal with structured fields when stderr
 * is connected to it, otherwise readable lines on stderr.
 *
 * Levels are syslog's. Log once, where an error is handled, with enough
 * context (node, term, key) to act on it. */

#ifndef CASHE_LOG_H
#define CASHE_LOG_H

#include <stdint.h>
#include <syslog.h>

/* Set the node name and the level; decide journal or terminal output. */
void log_init(const char *node, int level);
void log_set_level(int level);

/* "debug", "info", "notice", "warning", "error" to a syslog level, or -1. */
int log_level_parse(const char *name);

/* A provider of the current Raft term, added to every journal entry. */
void log_set_term_source(uint64_t (*term)(void *arg), void *arg);

void log_at(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...)   log_at(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)    log_at(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_notice(...)  log_at(LOG_NOTICE, __FILE__, __LINE__, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...)   log_at(LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)

#endif /* CASHE_LOG_H */
