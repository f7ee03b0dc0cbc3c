/* cashectl's connection to a node, and what its failures mean. */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

/* Where packaged instances (cashe@NAME.service) put their socket, and where
 * a bare cashed puts it. */
#define RUN_SOCKET_FMT "/run/cashe/%s.sock"
#define TMP_SOCKET_FMT "/tmp/cashe-%s.sock"

int ctl_fail(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("cashectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (status == CTL_USAGE)
        fputs("Try 'cashectl --help'.\n", stderr);
    return status;
}

int ctl_bad_reply(const char *what)
{
    return ctl_fail(CTL_FAILED,
                    "unexpected reply to %s: is this really cashed, and "
                    "of the same version as cashectl?",
                    what);
}

static bool is_socket(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* -i NAME: the packaged location first, then a bare cashed's. */
static void resolve_socket(struct ctl *c, char *path, size_t len)
{
    const char *name = c->instance ? c->instance : "raft0";

    snprintf(path, len, RUN_SOCKET_FMT, name);
    if (is_socket(path))
        return;
    snprintf(path, len, TMP_SOCKET_FMT, name);
    if (is_socket(path))
        return;
    snprintf(path, len, RUN_SOCKET_FMT, name); /* reported as missing */
}

/* host:port, :port (loopback) or [v6]:port. */
static int split_addr(const char *addr, char *host, size_t len, int *port)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen;
    char *end;
    long p;

    if (colon == NULL)
        return -EINVAL;
    hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h = addr + 1;
        hlen -= 2;
    }
    if (hlen >= len)
        return -EINVAL;
    if (hlen == 0)
        snprintf(host, len, "127.0.0.1");
    else
        snprintf(host, len, "%.*s", (int)hlen, h);
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p <= 0 || p > 65535)
        return -EINVAL;
    *port = (int)p;
    return 0;
}

static struct timeval timeout_tv(double s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

static int auth(redisContext *rc, const char *password, char *why,
                size_t why_len)
{
    redisReply *r = redisCommand(rc, "AUTH %s", password);
    int rv = 0;

    if (r == NULL) {
        snprintf(why, why_len, "%s", rc->errstr);
        return -EIO;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_len, "%s", r->str);
        rv = -EACCES;
    }
    freeReplyObject(r);
    return rv;
}

static redisContext *open_tcp(const struct ctl *c, const char *addr, char *why,
                              size_t why_len, int *err)
{
    struct timeval tv = timeout_tv(c->timeout_s > 0 ? c->timeout_s : 10);
    char host[256];
    int port;
    redisContext *rc;

    *err = 0;
    if (split_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(why, why_len, "'%s' is not an address like host:port", addr);
        *err = -EINVAL;
        return NULL;
    }
    rc = redisConnectWithTimeout(host, port, tv);
    if (rc == NULL || rc->err) {
        *err = rc && rc->err == REDIS_ERR_IO ? -errno : -EIO;
        snprintf(why, why_len, "%s", rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    if (c->password != NULL &&
        (*err = auth(rc, c->password, why, why_len)) != 0) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

redisContext *ctl_connect_addr(const struct ctl *c, const char *addr, char *why,
                               size_t why_len)
{
    int err;
    redisContext *rc = open_tcp(c, addr, why, why_len, &err);

    if (rc != NULL && c->timeout_s > 0)
        redisSetTimeout(rc, timeout_tv(c->timeout_s));
    return rc;
}

/* Unavailable (exit 4) is for a node that is not there or not serving; a
 * socket we may not open is the operator's to fix, not a cluster state. */
static int connect_status(int err)
{
    if (err == -EACCES || err == -EPERM || err == -EINVAL)
        return CTL_FAILED;
    return CTL_UNAVAILABLE;
}

static int connect_hint(const struct ctl *c, int err, const char *why)
{
    if (err == -EACCES && c->endpoint != NULL)
        return ctl_fail(CTL_FAILED,
                        "%s refused the password: %s\nGive the right one "
                        "with --password or CASHE_PASSWORD.",
                        c->target, why);
    if (err == -EACCES || err == -EPERM)
        return ctl_fail(CTL_FAILED,
                        "cannot open %s: %s\nRun as root or as a member of "
                        "the group that owns the socket (cashe).",
                        c->target, why);
    if (c->endpoint != NULL)
        return ctl_fail(connect_status(err),
                        "cannot connect to cashed at %s: %s\nIs the node "
                        "up, and is this its client address (listenaddr)?",
                        c->target, why);
    return ctl_fail(connect_status(err),
                    "cannot connect to cashed at %s: %s\nIs it running "
                    "(systemctl status cashe@%s)? Name another node with "
                    "-i NAME, --socket PATH or --endpoint HOST:PORT.",
                    c->target, why, c->instance ? c->instance : "raft0");
}

static redisContext *open_unix(struct ctl *c, char *why, size_t why_len,
                               int *err)
{
    struct timeval tv = timeout_tv(c->timeout_s > 0 ? c->timeout_s : 10);
    redisContext *rc;

    *err = 0;
    if (access(c->target, F_OK) != 0) {
        *err = -errno;
        snprintf(why, why_len, "%s", strerror(errno));
        if (c->socket == NULL)
            snprintf(why, why_len, "no socket there, nor at " TMP_SOCKET_FMT,
                     c->instance ? c->instance : "raft0");
        return NULL;
    }
    rc = redisConnectUnixWithTimeout(c->target, tv);
    if (rc == NULL || rc->err) {
        *err = rc && rc->err == REDIS_ERR_IO ? -errno : -EIO;
        snprintf(why, why_len, "%s", rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    return rc;
}

int ctl_connect(struct ctl *c)
{
    char why[256] = "";
    int err;

    if (c->endpoint != NULL) {
        snprintf(c->target, sizeof(c->target), "%s", c->endpoint);
        c->rc = open_tcp(c, c->endpoint, why, sizeof(why), &err);
    } else {
        if (c->socket != NULL)
            snprintf(c->target, sizeof(c->target), "%s", c->socket);
        else
            resolve_socket(c, c->target, sizeof(c->target));
        c->rc = open_unix(c, why, sizeof(why), &err);
    }
    if (c->rc == NULL)
        return connect_hint(c, err, why);
    if (c->timeout_s > 0)
        redisSetTimeout(c->rc, timeout_tv(c->timeout_s));
    else
        redisSetTimeout(c->rc, (struct timeval){0, 0});
    return CTL_OK;
}

void ctl_disconnect(struct ctl *c)
{
    redisFree(c->rc);
    c->rc = NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int ctl_error_status(const char *err, const char **hint)
{
    *hint = "";
    if (starts_with(err, "NOLEADER")) {
        *hint = "No leader: most voters are down or cannot reach each "
                "other. Check 'cashectl status' on each node; if most "
                "voters are lost for good, see RECOVERY in cashe(7).";
        return CTL_UNAVAILABLE;
    }
    if (starts_with(err, "TRYAGAIN")) {
        *hint = "Leadership changed; nothing ran. Run the command again.";
        return CTL_UNAVAILABLE;
    }
    if (starts_with(err, "SHUTDOWN")) {
        *hint = "This node is stopping: use another one (-i, --socket or "
                "--endpoint).";
        return CTL_UNAVAILABLE;
    }
    if (starts_with(err, "UNKNOWN")) {
        *hint = "The write may or may not have been applied: check the "
                "result (e.g. with 'cashectl get') before retrying.";
        return CTL_FAILED;
    }
    if (starts_with(err, "NOAUTH") || starts_with(err, "WRONGPASS")) {
        *hint = "Give the password with --password or CASHE_PASSWORD.";
        return CTL_FAILED;
    }
    if (strstr(err, "no such") != NULL)
        return CTL_NOT_FOUND;
    return CTL_FAILED;
}

static int lost_connection(struct ctl *c)
{
    if (c->rc->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        return ctl_fail(CTL_UNAVAILABLE,
                        "%s did not answer within %g s.\nThe node may be "
                        "overloaded or stuck; try again, raise --timeout, "
                        "or use another node.",
                        c->target, c->timeout_s);
    return ctl_fail(CTL_UNAVAILABLE,
                    "lost the connection to %s: %s\nIs the node still "
                    "running? Check 'cashectl status' or its log.",
                    c->target, c->rc->errstr);
}

redisReply *ctl_run(struct ctl *c, int argc, const char **argv,
                    const size_t *lens, int *status)
{
    redisReply *r = redisCommandArgv(c->rc, argc, argv, lens);
    const char *hint;

    if (r == NULL) {
        *status = lost_connection(c);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *status = ctl_error_status(r->str, &hint);
        ctl_fail(*status, "%s%s%s", r->str, hint[0] ? "\n" : "", hint);
        freeReplyObject(r);
        return NULL;
    }
    *status = CTL_OK;
    return r;
}

#define CALL_MAX_ARGS 16

redisReply *ctl_call(struct ctl *c, int *status, const char *arg, ...)
{
    const char *argv[CALL_MAX_ARGS];
    size_t lens[CALL_MAX_ARGS];
    int argc = 0;
    va_list ap;

    va_start(ap, arg);
    for (; arg != NULL && argc < CALL_MAX_ARGS;
         arg = va_arg(ap, const char *)) {
        argv[argc] = arg;
        lens[argc++] = strlen(arg);
    }
    va_end(ap);
    return ctl_run(c, argc, argv, lens, status);
}
