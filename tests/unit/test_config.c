/* Tests for configuration: defaults, config_set, the file, the flags and
 * config_finish. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static char err[512];

/* Write @text to a new temporary file; returns its path (free it). */
static char *temp_file(const char *text)
{
    char *path = xstrdup("/tmp/cashe-test-config-XXXXXX");
    int fd = mkstemp(path);
    size_t len = strlen(text);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static void drop_file(char *path)
{
    unlink(path);
    free(path);
}

/* Parse a NULL-terminated list of arguments into a fresh config. */
static int parse(struct config *c, ...)
{
    char *argv[32] = {"cashed"};
    int argc = 1;
    va_list ap;

    va_start(ap, c);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    config_init(c);
    err[0] = '\0';
    return config_parse_args(c, argc, argv, err, sizeof(err));
}

static void test_defaults(void **state)
{
    struct config c;

    (void)state;
    config_init(&c);
    assert_string_equal(c.id, "raft0");
    assert_string_equal(c.listenaddr, ":3000");
    assert_string_equal(c.raftaddr, ":4000");
    assert_null(c.leaderaddr);
    assert_null(c.advertise_addr);
    assert_null(c.advertise_raftaddr);
    assert_null(c.data_dir);
    assert_null(c.unix_socket);
    assert_null(c.password);
    assert_null(c.config_file);
    assert_string_equal(c.log_level, "notice");
    assert_int_equal(c.election_timeout_ms, 800);
    assert_int_equal(c.heartbeat_timeout_ms, 100);
    assert_int_equal(c.snapshot_threshold, 8192);
    assert_int_equal(c.snapshot_trailing, 4096);
    assert_int_equal(c.request_timeout_ms, 5000);
    assert_int_equal(c.max_key_size, 64 * 1024);
    assert_int_equal(c.max_value_size, 8 * 1024 * 1024);
    assert_int_equal(c.max_args, 65536);
    assert_int_equal(c.max_client_buffer, 64 * 1024 * 1024);
    assert_int_equal(c.max_clients, 10000);
    assert_false(c.help);
    assert_false(c.version);
    config_free(&c);
}

static void test_set_values(void **state)
{
    struct config c;

    (void)state;
    config_init(&c);
    assert_int_equal(config_set(&c, "id", "node-7.a_b", err, sizeof(err)), 0);
    assert_string_equal(c.id, "node-7.a_b");
    assert_int_equal(config_set(&c, "password", "s3cret", err, sizeof(err)), 0);
    assert_string_equal(c.password, "s3cret");
    assert_int_equal(config_set(&c, "max-key-size", "1k", err, sizeof(err)), 0);
    assert_int_equal(c.max_key_size, 1024);
    assert_int_equal(config_set(&c, "max_value_size", "2M", err, sizeof(err)),
                     0);
    assert_int_equal(c.max_value_size, 2 * 1024 * 1024);
    assert_int_equal(
        config_set(&c, "max-client-buffer", "1g", err, sizeof(err)), 0);
    assert_int_equal(c.max_client_buffer, 1024ULL * 1024 * 1024);
    assert_int_equal(
        config_set(&c, "election_timeout", "4294967295", err, sizeof(err)), 0);
    assert_int_equal(c.election_timeout_ms, 4294967295u);
    assert_int_equal(config_set(&c, "snapshot-trailing", "0", err, sizeof(err)),
                     0);
    assert_int_equal(c.snapshot_trailing, 0);
    assert_int_equal(config_set(&c, "log-level", "debug", err, sizeof(err)), 0);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(
        config_set(&c, "leaderaddr", "[::1]:3000", err, sizeof(err)), 0);
    assert_string_equal(c.leaderaddr, "[::1]:3000");
    /* Empty unsets an optional address. */
    assert_int_equal(config_set(&c, "leaderaddr", "", err, sizeof(err)), 0);
    assert_null(c.leaderaddr);
    assert_int_equal(config_set(&c, "unix-socket", "", err, sizeof(err)), 0);
    assert_string_equal(c.unix_socket, "");
    config_free(&c);
}

static void expect_bad(struct config *c, const char *name, const char *value,
                       const char *want)
{
    err[0] = '\0';
    assert_int_equal(config_set(c, name, value, err, sizeof(err)), -EINVAL);
    if (strstr(err, want) == NULL)
        fail_msg("set %s=%s: error '%s' lacks '%s'", name, value, err, want);
}

static void test_set_rejects(void **state)
{
    struct config c;

    (void)state;
    config_init(&c);
    assert_int_equal(config_set(&c, "foo", "1", err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "unknown option 'foo'");
    assert_int_equal(config_set(&c, "config", "x", err, sizeof(err)), -ENOENT);
    assert_int_equal(config_set(&c, "help", "1", err, sizeof(err)), -ENOENT);
    assert_int_equal(config_set(&c, "max-key", "1", err, sizeof(err)), -ENOENT);

    expect_bad(&c, "max-key-size", "abc", "bad value for 'max-key-size': ");
    expect_bad(&c, "max-key-size", "1t", "is not a size");
    expect_bad(&c, "max-key-size", "-1", "is not a size");
    expect_bad(&c, "max-key-size", "", "is not a size");
    expect_bad(&c, "max-key-size", "0", "out of range");
    expect_bad(&c, "max-key-size", "4g", "out of range");
    expect_bad(&c, "max-key-size", "99999999999999999999", "out of range");
    expect_bad(&c, "election-timeout", "4294967296", "out of range");
    expect_bad(&c, "election-timeout", "0", "out of range");
    expect_bad(&c, "election-timeout", "1k", "is not a number");
    expect_bad(&c, "election-timeout", " 10", "is not a number");
    expect_bad(&c, "election-timeout", "+10", "is not a number");
    expect_bad(&c, "max-args", "2", "out of range");
    expect_bad(&c, "max-args", "2000000", "out of range");
    expect_bad(&c, "max-clients", "0", "out of range");
    expect_bad(&c, "log-level", "verbose", "is not one of");
    expect_bad(&c, "log-level", "", "is not one of");
    expect_bad(&c, "id", "", "is not a name");
    expect_bad(&c, "id", "raft 0", "is not a name");
    expect_bad(&c, "id", "raft/0", "is not a name");
    expect_bad(&c, "listenaddr", "3000", "not an address");
    expect_bad(&c, "listenaddr", "", "not an address");
    expect_bad(&c, "raftaddr", ":0", "not an address");
    expect_bad(&c, "advertise-addr", "host:70000", "not an address");

    /* Nothing was changed by a rejected value. */
    assert_int_equal(c.max_key_size, 64 * 1024);
    assert_int_equal(c.election_timeout_ms, 800);
    assert_string_equal(c.id, "raft0");
    assert_string_equal(c.log_level, "notice");
    assert_string_equal(c.listenaddr, ":3000");
    config_free(&c);
}

static void test_args_forms(void **state)
{
    struct config c;

    (void)state;
    assert_int_equal(parse(&c, "--id=raft1", "--listenaddr", ":3001",
                           "--raftaddr=127.0.0.1:4001", "--leaderaddr", ":3000",
                           "--max-value-size", "1m", "--password=a=b", NULL),
                     0);
    assert_string_equal(c.id, "raft1");
    assert_string_equal(c.listenaddr, ":3001");
    assert_string_equal(c.raftaddr, "127.0.0.1:4001");
    assert_string_equal(c.leaderaddr, ":3000");
    assert_int_equal(c.max_value_size, 1024 * 1024);
    assert_string_equal(c.password, "a=b");
    assert_false(c.help);
    config_free(&c);

    assert_int_equal(parse(&c, "--leaderaddr=:3000", NULL), 0);
    assert_string_equal(c.leaderaddr, ":3000");
    config_free(&c);

    /* An empty value in either form. */
    assert_int_equal(parse(&c, "--unix-socket", "", "--password=", NULL), 0);
    assert_string_equal(c.unix_socket, "");
    assert_string_equal(c.password, "");
    config_free(&c);

    /* Later flags win. */
    assert_int_equal(parse(&c, "--id=a", "--id", "b", NULL), 0);
    assert_string_equal(c.id, "b");
    config_free(&c);
}

static void test_args_booleans(void **state)
{
    struct config c;

    (void)state;
    assert_int_equal(parse(&c, "-h", NULL), 0);
    assert_true(c.help);
    assert_false(c.version);
    config_free(&c);
    assert_int_equal(parse(&c, "--help", NULL), 0);
    assert_true(c.help);
    config_free(&c);
    assert_int_equal(parse(&c, "--version", "--id", "x", NULL), 0);
    assert_true(c.version);
    assert_string_equal(c.id, "x");
    config_free(&c);
    assert_int_equal(parse(&c, NULL), 0);
    assert_false(c.help);
    assert_false(c.version);
    config_free(&c);
}

static void expect_args_error(const char *want, ...)
{
    char *argv[16] = {"cashed"};
    int argc = 1;
    struct config c;
    va_list ap;

    va_start(ap, want);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    config_init(&c);
    err[0] = '\0';
    assert_int_equal(config_parse_args(&c, argc, argv, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, want);
    config_free(&c);
}

static void test_args_errors(void **state)
{
    (void)state;
    expect_args_error("unknown option --foo", "--foo", NULL);
    expect_args_error("unknown option --foo", "--foo=1", NULL);
    expect_args_error("unknown option --foo", "--id=a", "--foo", "x", NULL);
    expect_args_error("unknown option -x", "-x", NULL);
    expect_args_error("unknown option --", "--", NULL);
    expect_args_error("unknown option -help", "-help", NULL);
    expect_args_error("unexpected argument 'raft0'", "raft0", NULL);
    expect_args_error("option --leaderaddr needs a value", "--leaderaddr",
                      NULL);
    expect_args_error("option --leaderaddr needs a value", "--leaderaddr",
                      "--id=x", NULL);
    expect_args_error("option --id needs a value", "--id", "-h", NULL);
    expect_args_error("option --config needs a value", "--config", NULL);
    expect_args_error("option --help takes no value", "--help=yes", NULL);
    expect_args_error("option --version takes no value", "--version=1", NULL);
    expect_args_error("bad value for --max-key-size: 'big' is not a size (a "
                      "number with an optional k, m or g suffix)",
                      "--max-key-size", "big", NULL);
    expect_args_error("bad value for --listenaddr: 'localhost' is not an "
                      "address like host:port, :port or [v6]:port",
                      "--listenaddr=localhost", NULL);
}

static void test_file_and_flags(void **state)
{
    char *path = temp_file("; cashed config\n"
                           "# another comment\n"
                           "[cashed]\n"
                           "id = filenode\n"
                           "raftaddr = :4100\n"
                           "max_key_size = 2k\n"
                           "Log-Level = info\n"
                           "password = from-file\n");
    char arg[300];
    struct config c;

    (void)state;
    /* The file keys are case-sensitive: Log-Level is unknown. */
    assert_int_equal(parse(&c, "--config", path, NULL), -EINVAL);
    snprintf(arg, sizeof(arg), "%s:7: unknown key 'Log-Level'", path);
    assert_string_equal(err, arg);
    config_free(&c);
    drop_file(path);

    path = temp_file("[cashed]\n"
                     "id = filenode\n"
                     "raftaddr = :4100\n"
                     "max_key_size = 2k\n"
                     "log-level = info\n"
                     "password = from-file\n");
    /* --config after the flags still goes under them. */
    snprintf(arg, sizeof(arg), "--config=%s", path);
    assert_int_equal(
        parse(&c, "--id", "flagnode", "--max-key-size=3k", arg, NULL), 0);
    assert_string_equal(c.id, "flagnode");
    assert_int_equal(c.max_key_size, 3 * 1024);
    assert_string_equal(c.raftaddr, ":4100");
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.password, "from-file");
    assert_string_equal(c.config_file, path);
    config_free(&c);

    /* And before them. */
    assert_int_equal(parse(&c, "--config", path, "--log-level=error", NULL), 0);
    assert_string_equal(c.id, "filenode");
    assert_string_equal(c.log_level, "error");
    assert_int_equal(c.max_key_size, 2 * 1024);
    config_free(&c);
    drop_file(path);
}

static void test_file_no_section(void **state)
{
    char *path = temp_file("id=plain\r\n"
                           "  listenaddr   =   0.0.0.0:3005   ; inline\r\n"
                           "\r\n"
                           "[cashed]\r\n"
                           "max-args = 10\r\n");
    struct config c;

    (void)state;
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.id, "plain");
    assert_string_equal(c.listenaddr, "0.0.0.0:3005");
    assert_int_equal(c.max_args, 10);
    config_free(&c);
    drop_file(path);
}

/* Load @text and check the error is "<path>:<want>". */
static void expect_file_error(const char *text, const char *want)
{
    char *path = temp_file(text);
    char full[600];
    struct config c;

    config_init(&c);
    err[0] = '\0';
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
    snprintf(full, sizeof(full), "%s:%s", path, want);
    assert_string_equal(err, full);
    config_free(&c);
    drop_file(path);
}

static void test_file_errors(void **state)
{
    char long_line[400];

    (void)state;
    expect_file_error("[cashed]\nid = a\nmax-key-size = huge\n",
                      "3: bad value for 'max-key-size': 'huge' is not a size "
                      "(a number with an optional k, m or g suffix)");
    expect_file_error("# c\n\n\n\n\n\n\n\n\n\n\nfoo = 1\n",
                      "12: unknown key 'foo'");
    expect_file_error("[other]\nid = x\n", "2: unknown section '[other]'");
    expect_file_error("[cashed]\nconfig = /etc/x\n", "2: unknown key 'config'");
    expect_file_error("id = a\njust words\n",
                      "2: syntax error (expected [section] or name = value)");
    expect_file_error("[cashed\n",
                      "1: syntax error (expected [section] or name = value)");
    /* The first error is the one reported, whichever kind it is. */
    expect_file_error("bad line\nfoo = 1\n",
                      "1: syntax error (expected [section] or name = value)");
    expect_file_error("foo = 1\nbad line\n", "1: unknown key 'foo'");

    memset(long_line, 'x', sizeof(long_line));
    memcpy(long_line, "password = ", 11);
    long_line[sizeof(long_line) - 2] = '\n';
    long_line[sizeof(long_line) - 1] = '\0';
    expect_file_error(long_line, "1: line longer than 199 bytes");
}

static void test_file_stops_at_error(void **state)
{
    char *path = temp_file("id = first\nmax-args = 1\nid = second\n");
    struct config c;

    (void)state;
    config_init(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
    assert_string_equal(c.id, "first");
    assert_int_equal(c.max_args, 65536);
    config_free(&c);
    drop_file(path);
}

static void test_file_missing(void **state)
{
    struct config c;
    char arg[] = "/nonexistent/cashe.conf";

    (void)state;
    config_init(&c);
    assert_int_equal(config_load_file(&c, arg, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "/nonexistent/cashe.conf: No such file or "
                             "directory");
    config_free(&c);

    assert_int_equal(parse(&c, "--config", arg, NULL), -EINVAL);
    assert_string_equal(err, "/nonexistent/cashe.conf: No such file or "
                             "directory");
    config_free(&c);

    /* --help works even when the file would fail. */
    assert_int_equal(parse(&c, "--config", arg, "--help", NULL), 0);
    assert_true(c.help);
    config_free(&c);
}

static void test_flag_error_after_file(void **state)
{
    char *path = temp_file("[cashed]\nid = x\n\nmax-clients = lots\n");
    char want[600];
    struct config c;

    (void)state;
    assert_int_equal(parse(&c, "--id=y", "--config", path, NULL), -EINVAL);
    snprintf(want, sizeof(want),
             "%s:4: bad value for 'max-clients': 'lots' is not a number", path);
    assert_string_equal(err, want);
    config_free(&c);
    drop_file(path);
}

static void test_parse_addr(void **state)
{
    static const struct {
        const char *in;
        const char *host;
        unsigned port;
    } good[] = {
        {":3000", "", 3000},
        {"127.0.0.1:3000", "127.0.0.1", 3000},
        {"[::1]:3000", "::1", 3000},
        {"[fe80::1%eth0]:1", "fe80::1%eth0", 1},
        {"localhost:65535", "localhost", 65535},
        {"0.0.0.0:4000", "0.0.0.0", 4000},
        {"[::]:4000", "::", 4000},
    };
    static const char *const bad[] = {
        "",        "3000",      ":",        "localhost", "host:",
        ":0",      ":65536",    ":99999",   ":123456",   ":30a0",
        ":-1",     ":+80",      "::1:3000", "[::1]3000", "[::1]",
        "[]:3000", "[::1:3000", "a b:3000", "h]:3000",   ":3000 ",
    };
    struct config_addr a;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        memset(&a, 0, sizeof(a));
        assert_int_equal(config_parse_addr(good[i].in, &a), 0);
        assert_string_equal(a.host, good[i].host);
        assert_int_equal(a.port, good[i].port);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        strcpy(a.host, "untouched");
        if (config_parse_addr(bad[i], &a) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_string_equal(a.host, "untouched");
    }

    char longhost[300];
    memset(longhost, 'h', sizeof(longhost));
    strcpy(longhost + 255, ":80");
    assert_int_equal(config_parse_addr(longhost, &a), 0);
    assert_int_equal(strlen(a.host), 255);
    strcpy(longhost + 256, ":80");
    assert_int_equal(config_parse_addr(longhost, &a), -EINVAL);
}

static void test_finish_defaults(void **state)
{
    struct config c;

    (void)state;
    assert_int_equal(parse(&c, "--id=raft2", NULL), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, "./cashe-data/raft2");
    assert_string_equal(c.unix_socket, "/tmp/cashe-raft2.sock");
    /* The quick start stays on loopback. */
    assert_string_equal(c.listen.host, "127.0.0.1");
    assert_int_equal(c.listen.port, 3000);
    assert_string_equal(c.raft.host, "127.0.0.1");
    assert_int_equal(c.raft.port, 4000);
    assert_string_equal(c.advertise_client, "127.0.0.1:3000");
    assert_string_equal(c.advertise_raft, "127.0.0.1:4000");
    config_free(&c);
}

static void test_finish_explicit(void **state)
{
    struct config c;

    (void)state;
    assert_int_equal(parse(&c, "--data-dir=/var/lib/cashe/x",
                           "--unix-socket=", "--listenaddr=[::1]:3001",
                           "--raftaddr=10.1.2.3:4001", "--password=",
                           "--advertise-addr", "db1.example:3001", NULL),
                     0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, "/var/lib/cashe/x");
    assert_string_equal(c.unix_socket, "");
    assert_null(c.password);
    assert_string_equal(c.listen.host, "::1");
    assert_string_equal(c.advertise_client, "db1.example:3001");
    assert_string_equal(c.advertise_raft, "10.1.2.3:4001");
    config_free(&c);

    assert_int_equal(parse(&c, "--advertise-raftaddr=[fd00::5]:4000",
                           "--listenaddr=localhost:3000", NULL),
                     0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.advertise_raft, "[fd00::5]:4000");
    assert_string_equal(c.advertise_client, "localhost:3000");
    config_free(&c);
}

static void assert_reachable_ipv4(const char *hostport, const char *port)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    struct in_addr in;

    assert_non_null(colon);
    assert_string_equal(colon + 1, port);
    assert_true((size_t)(colon - hostport) < sizeof(host));
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    assert_int_equal(inet_pton(AF_INET, host, &in), 1);
    assert_string_not_equal(host, "0.0.0.0");
}

static void expect_finish_error(struct config *c, const char *want);

static void test_finish_wildcard(void **state)
{
    struct config c;

    (void)state;
    /* Beyond loopback without a password: refused before anything else. */
    assert_int_equal(
        parse(&c, "--listenaddr=0.0.0.0:3000", "--raftaddr=[::]:4000", NULL),
        0);
    expect_finish_error(&c, "set a password");
    config_free(&c);
    assert_int_equal(parse(&c, "--listenaddr=0.0.0.0:3000",
                           "--raftaddr=[::]:4000", "--password=pw", NULL),
                     0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.listen.host, "0.0.0.0");
    assert_string_equal(c.raft.host, "::");
    /* Some non-loopback IPv4 address of this machine, or 127.0.0.1. */
    assert_reachable_ipv4(c.advertise_client, "3000");
    assert_reachable_ipv4(c.advertise_raft, "4000");
    config_free(&c);
}

static void expect_finish_error(struct config *c, const char *want)
{
    err[0] = '\0';
    assert_int_equal(config_finish(c, err, sizeof(err)), -EINVAL);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' lacks '%s'", err, want);
    config_free(c);
}

static void test_finish_errors(void **state)
{
    struct config c;

    (void)state;
    parse(&c, "--election-timeout=100", "--heartbeat-timeout=100", NULL);
    expect_finish_error(&c, "election-timeout (100 ms) must be greater than "
                            "heartbeat-timeout (100 ms)");
    parse(&c, "--listenaddr=:3000", "--raftaddr=:3000", NULL);
    expect_finish_error(&c, "both use port 3000");
    parse(&c, "--listenaddr=0.0.0.0:3000", "--raftaddr=127.0.0.1:3000", NULL);
    expect_finish_error(&c, "both use port 3000");
    parse(&c, "--advertise-addr=:3000", NULL);
    expect_finish_error(&c, "advertise-addr ':3000' needs a host");
    parse(&c, "--advertise-raftaddr=0.0.0.0:4000", NULL);
    expect_finish_error(&c, "advertise-raftaddr '0.0.0.0:4000' needs a host");
    parse(&c, "--data-dir=", NULL);
    expect_finish_error(&c, "data-dir is empty");
    parse(&c, "--id=raft0", NULL);
    free(c.unix_socket);
    c.unix_socket = xmalloc(200);
    memset(c.unix_socket, 's', 199);
    c.unix_socket[199] = '\0';
    expect_finish_error(&c, "unix-socket path is longer than 107 bytes");

    /* Values put in the struct directly are checked too. */
    config_init(&c);
    c.max_args = 2;
    expect_finish_error(&c, "max-args 2 is out of range");
    config_init(&c);
    c.heartbeat_timeout_ms = 0;
    expect_finish_error(&c, "heartbeat-timeout 0 is out of range");
    config_init(&c);
    free(c.id);
    c.id = xstrdup("bad id");
    expect_finish_error(&c, "id 'bad id' is not a name");
    config_init(&c);
    free(c.log_level);
    c.log_level = xstrdup("loud");
    expect_finish_error(&c, "bad log-level 'loud'");
    config_init(&c);
    free(c.listenaddr);
    c.listenaddr = xstrdup("nope");
    expect_finish_error(&c, "bad listenaddr 'nope'");
    config_init(&c);
    c.leaderaddr = xstrdup(":0");
    expect_finish_error(&c, "bad leaderaddr ':0'");
}

static void test_finish_limits_not_related(void **state)
{
    struct config c;

    (void)state;
    /* A key limit above the value limit is allowed. */
    assert_int_equal(
        parse(&c, "--max-key-size=1m", "--max-value-size=1k", NULL), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    config_free(&c);
}

static void test_usage(void **state)
{
    static const char *const names[] = {
        "id",
        "listenaddr",
        "raftaddr",
        "leaderaddr",
        "advertise-addr",
        "advertise-raftaddr",
        "data-dir",
        "unix-socket",
        "password",
        "log-level",
        "election-timeout",
        "heartbeat-timeout",
        "snapshot-threshold",
        "snapshot-trailing",
        "request-timeout",
        "max-key-size",
        "max-value-size",
        "max-args",
        "max-client-buffer",
        "max-clients",
        "config",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char want[64];

    (void)state;
    config_usage(f);
    fclose(f);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        snprintf(want, sizeof(want), "  --%s=", names[i]);
        if (strstr(text, want) == NULL)
            fail_msg("--help lacks %s", names[i]);
    }
    assert_non_null(strstr(text, "-h, --help"));
    assert_non_null(strstr(text, "--version"));
    assert_non_null(strstr(text, "(default: raft0)"));
    assert_non_null(strstr(text, "(default: :3000)"));
    assert_non_null(strstr(text, "(default: 64k)"));
    assert_non_null(strstr(text, "(default: 800)"));
    assert_non_null(strstr(text, "./cashe-data/<id>"));
    assert_non_null(strstr(text, "/tmp/cashe-<id>.sock"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_values),
        cmocka_unit_test(test_set_rejects),
        cmocka_unit_test(test_args_forms),
        cmocka_unit_test(test_args_booleans),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_file_and_flags),
        cmocka_unit_test(test_file_no_section),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_file_stops_at_error),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_flag_error_after_file),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_finish_defaults),
        cmocka_unit_test(test_finish_explicit),
        cmocka_unit_test(test_finish_wildcard),
        cmocka_unit_test(test_finish_errors),
        cmocka_unit_test(test_finish_limits_not_related),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
