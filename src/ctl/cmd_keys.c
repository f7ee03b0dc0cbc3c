/* cashectl get, put, del, ls, ttl, watch: the keyspace. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

/* Keys per SCAN or CASHE.LS round trip. */
#define LIST_BATCH "1000"

#define KEYSPACE_CHANNEL "__keyspace@0__:"

static int usage(const char *text)
{
    return ctl_fail(CTL_USAGE, "usage: cashectl %s", text);
}

int ctl_get(struct ctl *c, int argc, char **argv)
{
    redisReply *r;
    int rv;

    if (argc != 1)
        return usage("get KEY");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if ((r = ctl_call(c, &rv, "GET", argv[0], NULL)) == NULL)
        return rv;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return ctl_fail(CTL_NOT_FOUND, "no such key: %s", argv[0]);
    }
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return ctl_bad_reply("GET");
    }
    if (c->json) {
        fputs("{\"key\":", stdout);
        json_str(stdout, argv[0], strlen(argv[0]));
        fputs(",\"value\":", stdout);
        json_str(stdout, r->str, r->len);
        fputs("}\n", stdout);
    } else {
        fwrite(r->str, 1, r->len, stdout);
        /* A terminal gets its prompt back on a line of its own; a pipe
         * gets the value's bytes exactly. */
        if (isatty(STDOUT_FILENO) &&
            (r->len == 0 || r->str[r->len - 1] != '\n'))
            putchar('\n');
    }
    freeReplyObject(r);
    return CTL_OK;
}

/* All of @fd, or -errno. */
static int read_all(int fd, struct buf *out)
{
    for (;;) {
        ssize_t n;

        buf_reserve(out, 65536);
        n = read(fd, out->data + out->len, out->cap - out->len);
        if (n == 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        out->len += (size_t)n;
    }
}

static int put_value(const struct ctl *c, int argc, char **argv,
                     struct buf *value)
{
    FILE *f;
    int rv;

    if (argc == 2) {
        buf_append_str(value, argv[1]);
        return CTL_OK;
    }
    if (c->file == NULL || strcmp(c->file, "-") == 0) {
        rv = read_all(STDIN_FILENO, value);
        if (rv != 0)
            return ctl_fail(CTL_FAILED,
                            "cannot read the value from stdin: "
                            "%s",
                            strerror(-rv));
        return CTL_OK;
    }
    f = fopen(c->file, "rb");
    if (f == NULL)
        return ctl_fail(CTL_FAILED, "cannot open %s: %s", c->file,
                        strerror(errno));
    rv = read_all(fileno(f), value);
    fclose(f);
    if (rv != 0)
        return ctl_fail(CTL_FAILED, "cannot read %s: %s", c->file,
                        strerror(-rv));
    return CTL_OK;
}

int ctl_put(struct ctl *c, int argc, char **argv)
{
    struct buf value = {0};
    char ttl[32];
    const char *args[5] = {"SET", argv[0], NULL, "EX", ttl};
    size_t lens[5] = {3, 0, 0, 2, 0};
    redisReply *r;
    int rv;

    if (argc < 1 || argc > 2)
        return usage("put KEY [VALUE]  (or the value on stdin, or --file)");
    if (argc == 2 && c->file != NULL)
        return ctl_fail(CTL_USAGE, "give the value or --file, not both");
    if ((rv = put_value(c, argc, argv, &value)) != CTL_OK)
        goto out;
    if ((rv = ctl_connect(c)) != CTL_OK)
        goto out;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)c->ttl_s);
    lens[1] = strlen(argv[0]);
    args[2] = value.data ? value.data : "";
    lens[2] = value.len;
    lens[4] = strlen(ttl);
    r = ctl_run(c, c->ttl_s > 0 ? 5 : 3, args, lens, &rv);
    if (r != NULL) {
        puts("OK");
        freeReplyObject(r);
    }
out:
    buf_free(&value);
    return rv;
}

int ctl_del(struct ctl *c, int argc, char **argv)
{
    const char **args;
    size_t *lens;
    redisReply *r;
    int rv;

    if (argc < 1)
        return usage("del KEY...");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    args = xcalloc((size_t)argc + 1, sizeof(*args));
    lens = xcalloc((size_t)argc + 1, sizeof(*lens));
    args[0] = "DEL";
    lens[0] = 3;
    for (int i = 0; i < argc; i++) {
        args[i + 1] = argv[i];
        lens[i + 1] = strlen(argv[i]);
    }
    r = ctl_run(c, argc + 1, args, lens, &rv);
    free(args);
    free(lens);
    if (r == NULL)
        return rv;
    if (r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return ctl_bad_reply("DEL");
    }
    if (c->json)
        printf("{\"deleted\":%lld}\n", r->integer);
    else
        printf("%lld\n", r->integer);
    rv = r->integer == 0 ? CTL_NOT_FOUND : CTL_OK;
    freeReplyObject(r);
    if (rv == CTL_NOT_FOUND)
        ctl_fail(rv, "none of the keys existed");
    return rv;
}

/* ---- ls ------------------------------------------------------------------ */

/* A glob that matches exactly the keys starting with @prefix. */
static void prefix_pattern(struct buf *out, const char *prefix)
{
    for (const char *p = prefix; *p != '\0'; p++) {
        if (strchr("*?[]\\", *p) != NULL)
            buf_append(out, "\\", 1);
        buf_append(out, p, 1);
    }
    buf_append(out, "*", 1);
}

struct lister {
    struct ctl *c;
    size_t n;
};

static void list_key(struct lister *l, const char *s, size_t len,
                     const char *suffix)
{
    if (l->c->json) {
        fputs(l->n ? ",\n " : "[", stdout);
        json_str(stdout, s, len);
    } else {
        fwrite(s, 1, len, stdout);
        fputs(suffix, stdout);
        putchar('\n');
    }
    l->n++;
}

static void list_entry(struct lister *l, const redisReply *e)
{
    const char *kind = e->element[1]->str;

    if (!l->c->json) {
        if (strcmp(kind, "dir") != 0)
            list_key(l, e->element[0]->str, e->element[0]->len, "");
        if (strcmp(kind, "file") != 0)
            list_key(l, e->element[0]->str, e->element[0]->len, "/");
        return;
    }
    fputs(l->n ? ",\n {\"name\":" : "[{\"name\":", stdout);
    json_str(stdout, e->element[0]->str, e->element[0]->len);
    printf(",\"kind\":\"%s\",\"size\":%lld,\"mtime_ms\":%lld}", kind,
           e->element[2]->integer, e->element[3]->integer);
    l->n++;
}

static bool ls_reply_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        const redisReply *e = r->element[1]->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[1]->type != REDIS_REPLY_STRING ||
            e->element[2]->type != REDIS_REPLY_INTEGER ||
            e->element[3]->type != REDIS_REPLY_INTEGER)
            return false;
    }
    return true;
}

/* One level, through CASHE.LS: directories come back as one entry each,
 * however many keys they hold. */
static int ls_level(struct ctl *c, const char *dir, struct lister *l)
{
    char *cursor = xstrdup("");
    int rv = CTL_OK;

    do {
        redisReply *r =
            ctl_call(c, &rv, "CASHE.LS", dir, cursor, LIST_BATCH, NULL);

        if (r == NULL)
            break;
        if (!ls_reply_ok(r)) {
            freeReplyObject(r);
            rv = ctl_bad_reply("CASHE.LS");
            break;
        }
        for (size_t i = 0; i < r->element[1]->elements; i++)
            list_entry(l, r->element[1]->element[i]);
        free(cursor);
        cursor = xmemdup(r->element[0]->str, r->element[0]->len + 1);
        freeReplyObject(r);
    } while (cursor[0] != '\0');
    free(cursor);
    return rv;
}

static bool scan_reply_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        if (r->element[1]->element[i]->type != REDIS_REPLY_STRING)
            return false;
    }
    return true;
}

/* Every key under the prefix, through SCAN MATCH: the daemon seeks to the
 * pattern's literal prefix, so this never walks the whole keyspace. */
static int ls_recursive(struct ctl *c, const char *prefix, struct lister *l)
{
    struct buf pattern = {0};
    char *cursor = xstrdup("0");
    int rv = CTL_OK;

    prefix_pattern(&pattern, prefix);
    buf_append(&pattern, "", 1);
    do {
        redisReply *r = ctl_call(c, &rv, "SCAN", cursor, "MATCH", pattern.data,
                                 "COUNT", LIST_BATCH, NULL);

        if (r == NULL)
            break;
        if (!scan_reply_ok(r)) {
            freeReplyObject(r);
            rv = ctl_bad_reply("SCAN");
            break;
        }
        for (size_t i = 0; i < r->element[1]->elements; i++)
            list_key(l, r->element[1]->element[i]->str,
                     r->element[1]->element[i]->len, "");
        free(cursor);
        cursor = xstrdup(r->element[0]->str);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(cursor);
    buf_free(&pattern);
    return rv;
}

int ctl_ls(struct ctl *c, int argc, char **argv)
{
    const char *prefix = argc == 1 ? argv[0] : "";
    struct lister l = {c, 0};
    struct buf dir = {0};
    int rv;

    if (argc > 1)
        return usage("ls [-r] [PREFIX]");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if (c->recursive) {
        rv = ls_recursive(c, prefix, &l);
    } else {
        buf_append_str(&dir, prefix);
        if (dir.len > 0 && dir.data[dir.len - 1] != '/')
            buf_append(&dir, "/", 1);
        buf_append(&dir, "", 1);
        rv = ls_level(c, dir.data, &l);
        buf_free(&dir);
    }
    if (c->json)
        fputs(l.n ? "]\n" : "[]\n", stdout);
    if (rv == CTL_OK && l.n == 0 && prefix[0] != '\0')
        return ctl_fail(CTL_NOT_FOUND, "no keys under '%s'", prefix);
    return rv;
}

/* ---- ttl ----------------------------------------------------------------- */

static int ttl_show(struct ctl *c, const char *key)
{
    redisReply *r;
    int rv;

    if ((r = ctl_call(c, &rv, "PTTL", key, NULL)) == NULL)
        return rv;
    if (r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return ctl_bad_reply("PTTL");
    }
    if (r->integer == -2) {
        freeReplyObject(r);
        return ctl_fail(CTL_NOT_FOUND, "no such key: %s", key);
    }
    if (c->json) {
        fputs("{\"key\":", stdout);
        json_str(stdout, key, strlen(key));
        if (r->integer < 0)
            fputs(",\"ttl_ms\":null}\n", stdout);
        else
            printf(",\"ttl_ms\":%lld}\n", r->integer);
    } else if (r->integer < 0) {
        puts("none");
    } else {
        /* Whole seconds, rounded up: a key shown with 0 left is gone. */
        printf("%lld\n", (r->integer + 999) / 1000);
    }
    freeReplyObject(r);
    return CTL_OK;
}

/* PERSIST says 0 both for a key without expiry and for no key at all. */
static int ttl_clear(struct ctl *c, const char *key)
{
    redisReply *r;
    int rv;
    long long n;

    if ((r = ctl_call(c, &rv, "PERSIST", key, NULL)) == NULL)
        return rv;
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (n == 0) {
        if ((r = ctl_call(c, &rv, "EXISTS", key, NULL)) == NULL)
            return rv;
        n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (n == 0)
            return ctl_fail(CTL_NOT_FOUND, "no such key: %s", key);
    }
    if (n < 0)
        return ctl_bad_reply("PERSIST");
    puts("OK");
    return CTL_OK;
}

static bool positive(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' && end != s && v > 0;
}

static int ttl_set(struct ctl *c, const char *key, const char *seconds)
{
    redisReply *r;
    int rv;

    if ((r = ctl_call(c, &rv, "EXPIRE", key, seconds, NULL)) == NULL)
        return rv;
    rv = r->type != REDIS_REPLY_INTEGER ? ctl_bad_reply("EXPIRE")
         : r->integer == 0 ? ctl_fail(CTL_NOT_FOUND, "no such key: %s", key)
                           : CTL_OK;
    freeReplyObject(r);
    if (rv == CTL_OK)
        puts("OK");
    return rv;
}

int ctl_ttl(struct ctl *c, int argc, char **argv)
{
    int rv;

    if (argc < 1 || argc > 2 || (argc == 2 && c->clear))
        return usage("ttl KEY [SECONDS | --clear]");
    if (argc == 2 && !positive(argv[1]))
        return ctl_fail(CTL_USAGE, "'%s' is not a positive number of seconds",
                        argv[1]);
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if (c->clear)
        return ttl_clear(c, argv[0]);
    if (argc == 2)
        return ttl_set(c, argv[0], argv[1]);
    return ttl_show(c, argv[0]);
}

/* ---- watch --------------------------------------------------------------- */

static void print_event(const struct ctl *c, const redisReply *r)
{
    const redisReply *channel = r->element[2], *event = r->element[3];
    size_t skip = strlen(KEYSPACE_CHANNEL);
    const char *key = channel->str + skip;
    size_t len = channel->len - skip;

    if (c->json) {
        fputs("{\"event\":", stdout);
        json_str(stdout, event->str, event->len);
        fputs(",\"key\":", stdout);
        json_str(stdout, key, len);
        fputs("}\n", stdout);
    } else {
        fwrite(event->str, 1, event->len, stdout);
        putchar(' ');
        fwrite(key, 1, len, stdout);
        putchar('\n');
    }
    fflush(stdout);
}

static bool is_event(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
           r->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(r->element[0]->str, "pmessage") == 0 &&
           r->element[2]->type == REDIS_REPLY_STRING &&
           r->element[3]->type == REDIS_REPLY_STRING &&
           r->element[2]->len >= strlen(KEYSPACE_CHANNEL);
}

static int subscribe(struct ctl *c, const char *prefix)
{
    struct buf pattern = {0};
    redisReply *r;
    const char *hint;
    int rv = CTL_OK;

    buf_append_str(&pattern, KEYSPACE_CHANNEL);
    prefix_pattern(&pattern, prefix);
    buf_append(&pattern, "", 1);
    r = redisCommand(c->rc, "PSUBSCRIBE %s", pattern.data);
    buf_free(&pattern);
    if (r == NULL)
        return ctl_fail(CTL_UNAVAILABLE, "lost the connection to %s: %s",
                        c->target, c->rc->errstr);
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "unknown command"))
        rv = ctl_fail(CTL_UNAVAILABLE,
                      "%s does not publish keyspace events (it predates "
                      "SUBSCRIBE support).\nUpgrade cashed, or poll with "
                      "'cashectl ls -r'.",
                      c->target);
    else if (r->type == REDIS_REPLY_ERROR)
        rv = ctl_fail(ctl_error_status(r->str, &hint), "%s\n%s", r->str, hint);
    else if (r->type != REDIS_REPLY_ARRAY)
        rv = ctl_bad_reply("PSUBSCRIBE");
    freeReplyObject(r);
    return rv;
}

int ctl_watch(struct ctl *c, int argc, char **argv)
{
    int64_t seen = 0;
    void *reply;
    int rv;

    if (argc > 1)
        return usage("watch [PREFIX] [--count N]");
    if ((rv = ctl_connect(c)) != CTL_OK)
        return rv;
    if ((rv = subscribe(c, argc ? argv[0] : "")) != CTL_OK)
        return rv;
    /* Changes may be rare: only the connection's end stops the wait. */
    redisSetTimeout(c->rc, (struct timeval){0, 0});
    while (c->count == 0 || seen < c->count) {
        if (redisGetReply(c->rc, &reply) != REDIS_OK)
            return ctl_fail(CTL_UNAVAILABLE,
                            "lost the connection to %s while watching: %s",
                            c->target, c->rc->errstr);
        if (is_event(reply)) {
            print_event(c, reply);
            seen++;
        }
        freeReplyObject(reply);
    }
    return CTL_OK;
}
