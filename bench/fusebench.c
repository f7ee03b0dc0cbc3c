/* One client in a loop for bench/fuse.sh, so that both sides of the
 * comparison pay the same loop overhead:
 *
 *   cashe-fuse-bench read  FILE SECONDS       open, read, close
 *   cashe-fuse-bench write DIR SECONDS        open(O_TRUNC), write, close
 *   cashe-fuse-bench get   SOCKET KEY SECONDS GET over a Unix socket
 *   cashe-fuse-bench set   SOCKET KEY SECONDS SET over a Unix socket
 *
 * Writes go to 100 keys in turn, 100 bytes each. Prints operations per
 * second; exits 1 at the first failed operation. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define VALUE_SIZE 100
#define N_KEYS     100

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf));
    return close(fd) == 0 && n == VALUE_SIZE ? 0 : -1;
}

static int write_file(const char *dir, long i, const char *value)
{
    char path[4096];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/k%ld", dir, i % N_KEYS);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    n = write(fd, value, VALUE_SIZE);
    return close(fd) == 0 && n == VALUE_SIZE ? 0 : -1;
}

static int command(redisContext *c, const char *op, const char *key, long i,
                   const char *value)
{
    redisReply *r;
    int rv;

    if (strcmp(op, "get") == 0)
        r = redisCommand(c, "GET %s", key);
    else
        r = redisCommand(c, "SET %s/k%ld %b", key, i % N_KEYS, value,
                         (size_t)VALUE_SIZE);
    rv = r != NULL && r->type != REDIS_REPLY_ERROR &&
                 (r->type != REDIS_REPLY_STRING || r->len == VALUE_SIZE)
             ? 0
             : -1;
    freeReplyObject(r);
    return rv;
}

static int one(const char *op, char **argv, redisContext *c, long i,
               const char *value)
{
    if (strcmp(op, "read") == 0)
        return read_file(argv[2]);
    if (strcmp(op, "write") == 0)
        return write_file(argv[2], i, value);
    return command(c, op, argv[3], i, value);
}

int main(int argc, char **argv)
{
    const char *op = argc > 1 ? argv[1] : "";
    bool remote = strcmp(op, "get") == 0 || strcmp(op, "set") == 0;
    int want = remote ? 5 : 4;
    char value[VALUE_SIZE];
    redisContext *c = NULL;
    double secs, start, end;
    long n = 0;

    if (argc != want ||
        (!remote && strcmp(op, "read") != 0 && strcmp(op, "write") != 0)) {
        fprintf(stderr,
                "usage: %s read FILE S | write DIR S | "
                "get SOCKET KEY S | set SOCKET KEY S\n",
                argv[0]);
        return 2;
    }
    secs = atof(argv[argc - 1]);
    memset(value, 'v', sizeof(value));
    if (remote) {
        c = redisConnectUnix(argv[2]);
        if (c == NULL || c->err) {
            fprintf(stderr, "%s: cannot connect\n", argv[2]);
            return 1;
        }
    }
    start = now_s();
    end = start + secs;
    do {
        for (int k = 0; k < 64; k++, n++) {
            if (one(op, argv, c, n, value) != 0) {
                fprintf(stderr, "%s failed after %ld: %s\n", op, n,
                        c != NULL && c->err ? c->errstr : strerror(errno));
                return 1;
            }
        }
    } while (now_s() < end);
    printf("%.0f\n", (double)n / (now_s() - start));
    redisFree(c);
    return 0;
}
