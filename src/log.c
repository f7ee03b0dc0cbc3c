/* Journal or terminal logging. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The entry carries the caller's location, passed in log_at(), rather
 * than the location of the sd_journal_send() call inside log_at(). */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static struct {
    char node[80];
    int level;
    bool journal;
    uint64_t (*term)(void *arg);
    void *term_arg;
} logger = {"cashed", LOG_INFO, false, NULL, NULL};

static const char *const level_names[] = {
    [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* journald sets JOURNAL_STREAM to the device and inode of the stream it
 * connected to stderr; a match means our stderr is that stream. */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return st.st_dev == dev && st.st_ino == ino;
}

void log_init(const char *node, int level)
{
    snprintf(logger.node, sizeof(logger.node), "%s", node);
    logger.level = level;
    logger.journal = stderr_is_journal();
}

void log_set_level(int level)
{
    logger.level = level;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0]));
         i++) {
        if (level_names[i] != NULL && strcmp(level_names[i], name) == 0)
            return i;
    }
    return -1;
}

void log_set_term_source(uint64_t (*term)(void *arg), void *arg)
{
    logger.term = term;
    logger.term_arg = arg;
}

static void log_terminal(int level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char when[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld %s %s: %s\n", when, ts.tv_nsec / 1000000,
            logger.node, level_names[level], msg);
}

/* __FILE__ is relative to the build directory ("../src/x.c", longer for a
 * build directory elsewhere): keep it from the last "src/" on. */
static const char *source_path(const char *file)
{
    const char *p = file, *found = file;

    while ((p = strstr(p, "src/")) != NULL)
        found = p++;
    return found;
}

void log_at(int level, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level > logger.level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!logger.journal) {
        log_terminal(level, msg);
        return;
    }
    sd_journal_send(
        "MESSAGE=%s", msg, "PRIORITY=%d", level, "CASHE_NODE=%s", logger.node,
        "CASHE_TERM=%llu",
        logger.term ? (unsigned long long)logger.term(logger.term_arg) : 0ULL,
        "CODE_FILE=%s", source_path(file), "CODE_LINE=%d", line,
        "SYSLOG_IDENTIFIER=cashed", NULL);
}
