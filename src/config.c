/* cashed's options: one table drives the defaults, the INI keys, the flags
 * and --help, so the four cannot drift apart. */

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ini.h>

#include "codec.h"
#include "config.h"
#include "members.h"
#include "util.h"

enum option_type {
    OPT_STRING, /* any text */
    OPT_ADDR,   /* host:port, checked with config_parse_addr() */
    OPT_NAME,   /* a member name */
    OPT_LEVEL,  /* a log level name */
    OPT_UINT,   /* decimal, stored as unsigned */
    OPT_COUNT,  /* decimal, stored as uint64_t */
    OPT_SIZE,   /* decimal with k/m/g, stored as uint64_t */
};

struct option_def {
    const char *name;
    enum option_type type;
    size_t offset;
    const char *arg;   /* placeholder shown in --help */
    const char *dflt;  /* applied by config_init(); NULL: unset or derived */
    uint64_t min, max; /* numeric types only */
    const char *help;
};

#define FIELD(f) offsetof(struct config, f)
/* clang-format off */
#define TEXT(n, t, f, a, d, h) {n, t, FIELD(f), a, d, 0, 0, h}
#define NUM(n, t, f, a, d, lo, hi, h) {n, t, FIELD(f), a, d, lo, hi, h}
/* clang-format on */

static const struct option_def options[] = {
    TEXT("id", OPT_NAME, id, "NAME", "raft0",
         "node name (1-64 of A-Z a-z 0-9 . _ -); also picks the Raft id"),
    TEXT("listenaddr", OPT_ADDR, listenaddr, "ADDR", ":3000",
         "client (RESP) address to bind; an empty host means 127.0.0.1"),
    TEXT("raftaddr", OPT_ADDR, raftaddr, "ADDR", ":4000",
         "Raft address to bind; an empty host means 127.0.0.1"),
    TEXT("leaderaddr", OPT_ADDR, leaderaddr, "ADDR", NULL,
         "client address of any member, to join its cluster on first start"),
    TEXT("advertise-addr", OPT_ADDR, advertise_addr, "ADDR", NULL,
         "client address others use (default: the bind address, or this "
         "host's first IPv4 address when binding a wildcard)"),
    TEXT("advertise-raftaddr", OPT_ADDR, advertise_raftaddr, "ADDR", NULL,
         "Raft address others use (default: derived like advertise-addr)"),
    TEXT("data-dir", OPT_STRING, data_dir, "DIR", NULL,
         "Raft log and snapshots (default: ./cashe-data/<id>)"),
    TEXT("unix-socket", OPT_STRING, unix_socket, "PATH", NULL,
         "client Unix socket (default: /tmp/cashe-<id>.sock; empty: none)"),
    TEXT("password", OPT_STRING, password, "SECRET", NULL,
         "require AUTH with this password (prefer the file to the flag)"),
    TEXT("log-level", OPT_LEVEL, log_level, "LEVEL", "notice",
         "debug, info, notice, warning or error"),
    NUM("election-timeout", OPT_UINT, election_timeout_ms, "MS", "800", 1,
        UINT_MAX, "Raft election timeout in milliseconds"),
    NUM("heartbeat-timeout", OPT_UINT, heartbeat_timeout_ms, "MS", "100", 1,
        UINT_MAX, "Raft heartbeat interval in milliseconds"),
    NUM("snapshot-threshold", OPT_UINT, snapshot_threshold, "N", "8192", 1,
        UINT_MAX, "log entries between snapshots"),
    NUM("snapshot-trailing", OPT_UINT, snapshot_trailing, "N", "4096", 0,
        UINT_MAX, "log entries kept after a snapshot"),
    NUM("request-timeout", OPT_UINT, request_timeout_ms, "MS", "5000", 1,
        UINT_MAX,
        "how long a command waits for a leader, or a relayed one for the "
        "leader's reply, in milliseconds"),
    /* Each argument travels with a 32-bit length in log entries and
     * snapshots, which bounds the key and value sizes. */
    NUM("max-key-size", OPT_SIZE, max_key_size, "SIZE", "64k", 1, UINT32_MAX,
        "largest key in bytes (k, m, g suffixes)"),
    NUM("max-value-size", OPT_SIZE, max_value_size, "SIZE", "8m", 0, UINT32_MAX,
        "largest value in bytes (k, m, g suffixes)"),
    /* The smallest write (SET key value) has three arguments, and a decoder
     * refuses entries with more than CODEC_MAX_ARGS. */
    NUM("max-args", OPT_COUNT, max_args, "N", "65536", 3, CODEC_MAX_ARGS,
        "most arguments in one command"),
    NUM("max-client-buffer", OPT_SIZE, max_client_buffer, "SIZE", "64m", 1,
        UINT64_MAX, "most unanswered bytes buffered per client"),
    NUM("max-clients", OPT_COUNT, max_clients, "N", "10000", 1, UINT64_MAX,
        "most client connections at once"),
    /* Covers canonical/raft's preallocated log segments (8 MiB each) with
     * room to spare; the last snapshot's size is added for the next. */
    NUM("min-free-space", OPT_SIZE, min_free_space, "SIZE", "64m", 0,
        UINT64_MAX,
        "refuse writes below this much free disk, plus a snapshot's size "
        "(0: never)"),
};

static const char *const log_levels[] = {"debug", "info", "notice", "warning",
                                         "error"};

/* Look up @len bytes of @name; '-' and '_' match each other so file keys
 * can follow either habit. */
static const struct option_def *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const char *o = options[i].name;
        size_t j = 0;

        for (; j < len && o[j] != '\0'; j++) {
            char a = name[j] == '_' ? '-' : name[j];

            if (a != o[j])
                break;
        }
        if (j == len && o[j] == '\0')
            return &options[i];
    }
    return NULL;
}

static char **option_str(struct config *c, const struct option_def *o)
{
    return (char **)((char *)c + o->offset);
}

static bool log_level_valid(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++) {
        if (strcmp(s, log_levels[i]) == 0)
            return true;
    }
    return false;
}

/* Plain decimal, digits only, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int option_number(const struct option_def *o, const char *value,
                         uint64_t *v, char *err, size_t err_len)
{
    int rv;

    if (o->type == OPT_SIZE)
        rv = parse_size(value, v);
    else
        rv = parse_u64(value, v);
    if (rv == -EINVAL && o->type == OPT_SIZE)
        return errorf(err, err_len, rv,
                      "'%s' is not a size (a number with an optional k, m "
                      "or g suffix)",
                      value);
    if (rv == -EINVAL)
        return errorf(err, err_len, rv, "'%s' is not a number", value);
    if (rv != 0 || *v < o->min || *v > o->max)
        return errorf(err, err_len, -EINVAL,
                      "'%s' is out of range (%llu to %llu)", value,
                      (unsigned long long)o->min, (unsigned long long)o->max);
    return 0;
}

static int option_check_text(const struct option_def *o, const char *value,
                             char *err, size_t err_len)
{
    struct config_addr a;

    switch (o->type) {
    case OPT_ADDR:
        if (config_parse_addr(value, &a) != 0)
            return errorf(err, err_len, -EINVAL,
                          "'%s' is not an address like host:port, :port or "
                          "[v6]:port",
                          value);
        return 0;
    case OPT_NAME:
        if (!member_name_valid(value, strlen(value)))
            return errorf(err, err_len, -EINVAL,
                          "'%s' is not a name (1 to %d of A-Z a-z 0-9 . _ -)",
                          value, MEMBER_NAME_MAX);
        return 0;
    case OPT_LEVEL:
        if (!log_level_valid(value))
            return errorf(err, err_len, -EINVAL,
                          "'%s' is not one of debug, info, notice, warning, "
                          "error",
                          value);
        return 0;
    default:
        return 0;
    }
}

/* Check and store @value; on failure @c is unchanged and @err says why,
 * without naming the option (callers do, in their own words). */
static int option_apply(struct config *c, const struct option_def *o,
                        const char *value, char *err, size_t err_len)
{
    char **field;
    uint64_t v;
    int rv;

    if (o->type == OPT_UINT || o->type == OPT_COUNT || o->type == OPT_SIZE) {
        rv = option_number(o, value, &v, err, err_len);
        if (rv != 0)
            return rv;
        if (o->type == OPT_UINT)
            *(unsigned *)((char *)c + o->offset) = (unsigned)v;
        else
            *(uint64_t *)((char *)c + o->offset) = v;
        return 0;
    }

    field = option_str(c, o);
    /* An empty address unsets an optional one (say, a file's leaderaddr). */
    if (o->type == OPT_ADDR && o->dflt == NULL && value[0] == '\0') {
        free(*field);
        *field = NULL;
        return 0;
    }
    rv = option_check_text(o, value, err, err_len);
    if (rv != 0)
        return rv;
    free(*field);
    *field = xstrdup(value);
    return 0;
}

void config_init(struct config *c)
{
    char err[128];

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (options[i].dflt == NULL)
            continue;
        /* The table's own defaults always parse. */
        if (option_apply(c, &options[i], options[i].dflt, err, sizeof(err)))
            abort();
    }
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *o = &options[i];

        if (o->type != OPT_UINT && o->type != OPT_COUNT && o->type != OPT_SIZE)
            free(*option_str(c, o));
    }
    free(c->config_file);
    memset(c, 0, sizeof(*c));
}

int config_set(struct config *c, const char *name, const char *value, char *err,
               size_t err_len)
{
    const struct option_def *o = option_find(name, strlen(name));
    char why[384];

    if (o == NULL)
        return errorf(err, err_len, -ENOENT, "unknown option '%s'", name);
    if (option_apply(c, o, value, why, sizeof(why)) != 0)
        return errorf(err, err_len, -EINVAL, "bad value for '%s': %s", o->name,
                      why);
    return 0;
}

/* --- The INI file --- */

struct file_ctx {
    struct config *c;
    const char *path;
    FILE *f;
    int line;     /* lines handed to inih so far */
    int err_line; /* 0, or the line of the first error found here */
    char *err;
    size_t err_len;
};

static int file_fail(struct file_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int file_fail(struct file_ctx *x, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    x->err_line = x->line;
    errorf(x->err, x->err_len, -EINVAL, "%s:%d: %s", x->path, x->line, why);
    return 0;
}

/* inih would read an indented line as the continuation of the previous
 * value; an indented "key = value" is far more likely meant as its own
 * line, so indentation is dropped before inih sees it. */
static char *file_unindent(char *str, size_t len)
{
    size_t skip = strspn(str, " \t");

    memmove(str, str + skip, len - skip + 1);
    return str;
}

/* inih's line reader. Counting lines here gives the handler the line it is
 * called for; stopping here (returning NULL) ends parsing at the first
 * error instead of applying the rest of a broken file. */
static char *file_read_line(char *str, int num, void *stream)
{
    struct file_ctx *x = stream;
    size_t len;
    int next;

    if (x->err_line != 0 || fgets(str, num, x->f) == NULL)
        return NULL;
    x->line++;
    len = strlen(str);
    if (len > 0 && str[len - 1] == '\n')
        return file_unindent(str, len);
    /* No newline: the last line, or one longer than inih's buffer, which it
     * would otherwise split into two lines. */
    next = getc(x->f);
    if (next == EOF || next == '\n')
        return file_unindent(str, len);
    file_fail(x, "line longer than %d bytes", num - 1);
    return NULL;
}

static int file_handler(void *user, const char *section, const char *name,
                        const char *value)
{
    struct file_ctx *x = user;
    const struct option_def *o;
    char why[384], *unquoted = NULL;
    size_t len;
    int rv;

    if (x->err_line != 0)
        return 0;
    if (section[0] != '\0' && strcmp(section, "cashed") != 0)
        return file_fail(x, "unknown section '[%s]'", section);
    o = option_find(name, strlen(name));
    if (o == NULL)
        return file_fail(x, "unknown key '%s'", name);
    /* A value may be quoted ("" or '' is an empty one); a value that opens
     * a quote must close it. */
    len = strlen(value);
    if (len > 0 && (value[0] == '"' || value[0] == '\'')) {
        if (len < 2 || value[len - 1] != value[0])
            return file_fail(x, "unterminated quote in the value of '%s'",
                             o->name);
        unquoted = xmemdup(value + 1, len - 1);
        unquoted[len - 2] = '\0';
        value = unquoted;
    }
    rv = option_apply(x->c, o, value, why, sizeof(why));
    free(unquoted);
    if (rv != 0)
        return file_fail(x, "bad value for '%s': %s", o->name, why);
    return 1;
}

int config_load_file(struct config *c, const char *path, char *err,
                     size_t err_len)
{
    struct file_ctx x = {c, path, NULL, 0, 0, err, err_len};
    int rv;

    x.f = fopen(path, "r");
    if (x.f == NULL) {
        rv = -errno;
        return errorf(err, err_len, rv, "%s: %s", path, strerror(-rv));
    }
    free(c->config_file);
    c->config_file = xstrdup(path);

    rv = ini_parse_stream(file_read_line, &x, file_handler, &x);
    if (ferror(x.f) && x.err_line == 0)
        rv = errorf(err, err_len, -EIO, "%s: read error", path);
    else if (rv > 0 && (x.err_line == 0 || rv < x.err_line))
        rv = errorf(err, err_len, -EINVAL,
                    "%s:%d: syntax error (expected [section] or "
                    "name = value)",
                    path, rv);
    else if (x.err_line != 0)
        rv = -EINVAL;
    else if (rv != 0)
        rv = errorf(err, err_len, -ENOMEM, "%s: out of memory", path);
    fclose(x.f);
    return rv;
}

/* --- The command line --- */

struct flag {
    const struct option_def *opt;
    const char *value;
};

/* What follows a value-taking flag is its value unless it is a flag itself:
 * "--leaderaddr --id=x" is a missing value, not an address "--id=x". */
static bool looks_like_flag(const char *s)
{
    return s[0] == '-' && s[1] != '\0';
}

/* Split @arg (without its leading "--") into a name and an inline value. */
static void split_flag(const char *arg, size_t *name_len, const char **value)
{
    const char *eq = strchr(arg, '=');

    *name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    *value = eq != NULL ? eq + 1 : NULL;
}

/* The boolean flags; returns true when @arg was one. */
static bool args_boolean(struct config *c, const char *arg)
{
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        c->help = true;
    else if (strcmp(arg, "--version") == 0)
        c->version = true;
    else if (strcmp(arg, "--recover") == 0)
        c->recover = true;
    else
        return false;
    return true;
}

/* Read one flag at argv[*i] into @out, or the --config path into @file;
 * *i moves past a separate value. */
static int args_one(struct config *c, int argc, char **argv, int *i,
                    struct flag *out, const char **file, char *err,
                    size_t err_len)
{
    const char *arg = argv[*i], *value;
    size_t len;

    out->opt = NULL;
    if (args_boolean(c, arg))
        return 0;
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return errorf(err, err_len, -EINVAL,
                      arg[0] == '-' ? "unknown option %s"
                                    : "unexpected argument '%s'",
                      arg);
    split_flag(arg + 2, &len, &value);
    if (len == 4 && strncmp(arg + 2, "help", 4) == 0)
        return errorf(err, err_len, -EINVAL, "option --help takes no value");
    if (len == 7 && strncmp(arg + 2, "version", 7) == 0)
        return errorf(err, err_len, -EINVAL, "option --version takes no value");
    if (len != 6 || strncmp(arg + 2, "config", 6) != 0) {
        out->opt = option_find(arg + 2, len);
        if (out->opt == NULL)
            return errorf(err, err_len, -EINVAL, "unknown option --%.*s",
                          (int)len, arg + 2);
    }
    if (value == NULL && *i + 1 < argc && !looks_like_flag(argv[*i + 1]))
        value = argv[++*i];
    if (value == NULL)
        return errorf(err, err_len, -EINVAL, "option --%.*s needs a value",
                      (int)len, arg + 2);
    if (out->opt == NULL)
        *file = value;
    out->value = value;
    return 0;
}

static int args_apply(struct config *c, const struct flag *flags, int n,
                      char *err, size_t err_len)
{
    char why[384];

    for (int i = 0; i < n; i++) {
        if (option_apply(c, flags[i].opt, flags[i].value, why, sizeof(why)))
            return errorf(err, err_len, -EINVAL, "bad value for --%s: %s",
                          flags[i].opt->name, why);
    }
    return 0;
}

int config_parse_args(struct config *c, int argc, char **argv, char *err,
                      size_t err_len)
{
    struct flag *flags = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
    const char *file = NULL;
    int n = 0, rv = 0;

    /* Collect everything first: the file goes under the flags wherever
     * --config appears. */
    for (int i = 1; i < argc && rv == 0; i++) {
        rv = args_one(c, argc, argv, &i, &flags[n], &file, err, err_len);
        if (rv == 0 && flags[n].opt != NULL)
            n++;
    }
    /* --help and --version must work even with a broken file. */
    if (rv == 0 && file != NULL && !c->help && !c->version)
        rv = config_load_file(c, file, err, err_len) != 0 ? -EINVAL : 0;
    if (rv == 0)
        rv = args_apply(c, flags, n, err, err_len);
    free(flags);
    return rv;
}

/* --- Addresses --- */

static int parse_port(const char *s, unsigned *port)
{
    unsigned v = 0;

    if (*s == '\0' || strlen(s) > 5)
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    *port = v;
    return 0;
}

int config_parse_addr(const char *s, struct config_addr *a)
{
    const char *host = s, *colon;
    size_t host_len;
    unsigned port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':' || close == s + 1)
            return -EINVAL;
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -EINVAL;
        host_len = (size_t)(colon - s);
        /* A bare IPv6 address is ambiguous with a port: it needs []. */
        if (memchr(s, ':', host_len) != NULL)
            return -EINVAL;
    }
    if (host_len >= sizeof(a->host) || strcspn(host, "[] \t") < host_len)
        return -EINVAL;
    if (parse_port(colon + 1, &port) != 0)
        return -EINVAL;
    memcpy(a->host, host, host_len);
    a->host[host_len] = '\0';
    a->port = port;
    return 0;
}

static bool host_is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static void format_addr(char *out, size_t len, const char *host, unsigned port)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, len, "[%s]:%u", host, port);
    else
        snprintf(out, len, "%s:%u", host, port);
}

/* The host others most likely reach us on when we bind every interface:
 * the first IPv4 address that is up and not loopback. */
static void first_ipv4(char *out, size_t len)
{
    struct ifaddrs *list, *i;

    snprintf(out, len, "127.0.0.1");
    if (getifaddrs(&list) != 0)
        return;
    for (i = list; i != NULL; i = i->ifa_next) {
        const struct sockaddr_in *sin = (const void *)i->ifa_addr;

        if (sin == NULL || sin->sin_family != AF_INET)
            continue;
        if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)len);
        break;
    }
    freeifaddrs(list);
}

static int bind_addr(const char *name, const char *value, struct config_addr *a,
                     char *err, size_t err_len)
{
    if (value == NULL || config_parse_addr(value, a) != 0)
        return errorf(err, err_len, -EINVAL, "bad %s '%s'", name,
                      value != NULL ? value : "");
    /* An empty host keeps a quick start local (and password-free). */
    if (a->host[0] == '\0')
        snprintf(a->host, sizeof(a->host), "127.0.0.1");
    return 0;
}

static int advertise(const char *name, const char *given,
                     const struct config_addr *bound, char *out, size_t len,
                     char *err, size_t err_len)
{
    struct config_addr a;
    char host[INET_ADDRSTRLEN];

    if (given != NULL) {
        if (config_parse_addr(given, &a) != 0 || a.host[0] == '\0' ||
            host_is_wildcard(a.host))
            return errorf(err, err_len, -EINVAL,
                          "%s '%s' needs a host others can reach", name, given);
        format_addr(out, len, a.host, a.port);
    } else if (!host_is_wildcard(bound->host)) {
        format_addr(out, len, bound->host, bound->port);
    } else {
        first_ipv4(host, sizeof(host));
        format_addr(out, len, host, bound->port);
    }
    return 0;
}

static int finish_addresses(struct config *c, char *err, size_t err_len)
{
    int rv;

    rv = bind_addr("listenaddr", c->listenaddr, &c->listen, err, err_len);
    if (rv == 0)
        rv = bind_addr("raftaddr", c->raftaddr, &c->raft, err, err_len);
    if (rv != 0)
        return rv;
    if (c->listen.port == c->raft.port &&
        (strcmp(c->listen.host, c->raft.host) == 0 ||
         host_is_wildcard(c->listen.host) || host_is_wildcard(c->raft.host)))
        return errorf(err, err_len, -EINVAL,
                      "listenaddr and raftaddr both use port %u",
                      c->listen.port);
    if (c->leaderaddr != NULL) {
        struct config_addr a;

        if (config_parse_addr(c->leaderaddr, &a) != 0)
            return errorf(err, err_len, -EINVAL, "bad leaderaddr '%s'",
                          c->leaderaddr);
    }
    rv = advertise("advertise-addr", c->advertise_addr, &c->listen,
                   c->advertise_client, sizeof(c->advertise_client), err,
                   err_len);
    if (rv == 0)
        rv = advertise("advertise-raftaddr", c->advertise_raftaddr, &c->raft,
                       c->advertise_raft, sizeof(c->advertise_raft), err,
                       err_len);
    return rv;
}

/* --- Checks and derived values --- */

static char *str_join(const char *a, const char *b, const char *c)
{
    struct buf out = {0};

    buf_append_str(&out, a);
    buf_append_str(&out, b);
    buf_append(&out, c, strlen(c) + 1);
    return out.data;
}

/* Values set directly in the struct skip option_apply(): check the ranges
 * again. */
static int finish_numbers(const struct config *c, char *err, size_t err_len)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *o = &options[i];
        const char *p = (const char *)c + o->offset;
        uint64_t v;

        if (o->type == OPT_UINT)
            v = *(const unsigned *)p;
        else if (o->type == OPT_COUNT || o->type == OPT_SIZE)
            v = *(const uint64_t *)p;
        else
            continue;
        if (v < o->min || v > o->max)
            return errorf(err, err_len, -EINVAL,
                          "%s %llu is out of range (%llu to %llu)", o->name,
                          (unsigned long long)v, (unsigned long long)o->min,
                          (unsigned long long)o->max);
    }
    if (c->election_timeout_ms <= c->heartbeat_timeout_ms)
        return errorf(err, err_len, -EINVAL,
                      "election-timeout (%u ms) must be greater than "
                      "heartbeat-timeout (%u ms)",
                      c->election_timeout_ms, c->heartbeat_timeout_ms);
    return 0;
}

static int finish_texts(struct config *c, char *err, size_t err_len)
{
    struct sockaddr_un sun;

    if (c->id == NULL || !member_name_valid(c->id, strlen(c->id)))
        return errorf(err, err_len, -EINVAL,
                      "id '%s' is not a name (1 to %d of A-Z a-z 0-9 . _ -)",
                      c->id != NULL ? c->id : "", MEMBER_NAME_MAX);
    if (c->log_level == NULL || !log_level_valid(c->log_level))
        return errorf(err, err_len, -EINVAL, "bad log-level '%s'",
                      c->log_level != NULL ? c->log_level : "");
    if (c->data_dir == NULL)
        c->data_dir = str_join("./cashe-data/", c->id, "");
    if (c->data_dir[0] == '\0')
        return errorf(err, err_len, -EINVAL, "data-dir is empty");
    if (c->unix_socket == NULL)
        c->unix_socket = str_join("/tmp/cashe-", c->id, ".sock");
    if (strlen(c->unix_socket) >= sizeof(sun.sun_path))
        return errorf(err, err_len, -EINVAL,
                      "unix-socket path is longer than %zu bytes",
                      sizeof(sun.sun_path) - 1);
    /* An empty password would be one anybody can give: treat it as none. */
    if (c->password != NULL && c->password[0] == '\0') {
        free(c->password);
        c->password = NULL;
    }
    return 0;
}

/* The client port beyond loopback needs a password: checked here, before
 * anything is created on disk. */
static int finish_password(struct config *c, char *err, size_t err_len)
{
    const char *h = c->listen.host;
    bool loopback = h[0] == '\0' || strncmp(h, "127.", 4) == 0 ||
                    strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;

    if (loopback || c->password != NULL)
        return 0;
    return errorf(err, err_len, -EINVAL,
                  "listenaddr %s serves beyond loopback: set a password "
                  "(or listen on 127.0.0.1)",
                  c->listenaddr);
}

int config_finish(struct config *c, char *err, size_t err_len)
{
    int rv;

    rv = finish_texts(c, err, err_len);
    if (rv == 0)
        rv = finish_numbers(c, err, err_len);
    if (rv == 0)
        rv = finish_addresses(c, err, err_len);
    if (rv == 0)
        rv = finish_password(c, err, err_len);
    return rv;
}

/* --- --help --- */

void config_usage(FILE *f)
{
    fputs("Usage: cashed [OPTION]...\n"
          "Run one node of a cashe cluster. Every option can also be set in "
          "the\n[cashed] section of the --config file as \"name = value\"; "
          "flags win.\n\n"
          "  --config=FILE\n"
          "      read options from FILE before the flags\n",
          f);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *o = &options[i];

        fprintf(f, "  --%s=%s\n      %s", o->name, o->arg, o->help);
        if (o->dflt != NULL)
            fprintf(f, " (default: %s)", o->dflt);
        fputc('\n', f);
    }
    fputs("  --recover\n      after a permanent loss of quorum: make this "
          "stopped node the only\n      voter of its cluster, keeping its "
          "data, and exit\n"
          "  -h, --help\n      show this help and exit\n"
          "  --version\n      print the version and exit\n",
          f);
}
