/* Checked allocation, the byte buffer, integer codecs, clocks, parsing. */

#include <errno.h>
#include <netdb.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void out_of_memory(size_t size)
{
    fprintf(stderr, "<2>cashe: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        out_of_memory(nmemb * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

void *xmemdup(const void *p, size_t n)
{
    void *d = xmalloc(n);

    if (n > 0)
        memcpy(d, p, n);
    return d;
}

void buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra;
    size_t cap;

    if (need < b->len)
        out_of_memory(SIZE_MAX);
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int errorf(char *err, size_t err_len, int rv, const char *fmt, ...)
{
    va_list ap;

    if (err_len > 0) {
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return rv;
}

void put_u32(struct buf *b, uint32_t v)
{
    unsigned char p[4];

    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, p, sizeof(p));
}

void put_u64(struct buf *b, uint64_t v)
{
    unsigned char p[8];

    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, p, sizeof(p));
}

uint32_t get_u32(const void *p)
{
    const unsigned char *c = p;
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | c[i];
    return v;
}

uint64_t get_u64(const void *p)
{
    const unsigned char *c = p;
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | c[i];
    return v;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int parse_i64(const char *s, size_t len, int64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    bool neg = false;

    if (len == 0 || len > 20)
        return -EINVAL;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return -EINVAL;
    }
    if (s[i] == '0' && (neg || len > i + 1))
        return -EINVAL;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -EINVAL;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -EINVAL;
        *out = (int64_t)v;
    }
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -ERANGE;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024 * 1024 * 1024;
        end++;
        break;
    default:
        return -EINVAL;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0')
        return -EINVAL;
    if (v > UINT64_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

bool tcp_addr_in_use(const char *host, unsigned port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai;
    char service[16];
    bool busy = false;

    if (host == NULL || host[0] == '\0' || strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return false;
    for (ai = res; ai != NULL && !busy; ai = ai->ai_next) {
        int one = 1;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);

        if (fd < 0)
            continue;
        /* As the listeners do: connections of an earlier run lingering in
         * TIME_WAIT do not make the port busy. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        busy =
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE;
        close(fd);
    }
    freeaddrinfo(res);
    return busy;
}
