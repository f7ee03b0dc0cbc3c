/* libFuzzer target: the RESP request parser (src/resp.h).
 *
 * The first two input bytes pick the limits and seed the chunking; the rest
 * is the byte stream a client sends. It is fed once whole and once in
 * random chunks through a buffer that is reallocated to its exact length on
 * every call, so a read past @len or through a stale pointer trips ASan.
 * Both runs must yield the same commands and the same final status: how the
 * bytes arrive must not change what they mean. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"
#include "util.h"

#include "fuzz.h"

struct feed {
    struct resp_parser p;
    char *buf; /* exactly len bytes, moved on every call */
    size_t len;
    struct buf log; /* every command, serialized, for comparison */
    uint32_t rng;
    bool drop_partial; /* drop skipped bytes after RESP_INCOMPLETE */
};

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void pick_limits(uint8_t b, struct resp_limits *lim)
{
    static const size_t args[] = {1, 3, 16, 1024};
    static const size_t bulk[] = {0, 5, 64, 1 << 20};

    lim->max_args = args[b & 3];
    lim->max_bulk = bulk[(b >> 2) & 3];
    lim->max_inline = (b & 0x10) != 0 ? 16 : 64 * 1024;
    lim->unauthenticated = (b & 0x20) != 0;
}

/* Replace the buffer by an exact-size copy of its first len bytes plus
 * @n more, so the parser never sees the same address twice in a row. */
static void append_moved(struct feed *f, const uint8_t *more, size_t n)
{
    char *nb = xmalloc(f->len + n > 0 ? f->len + n : 1);

    if (f->len > 0)
        memcpy(nb, f->buf, f->len);
    if (n > 0)
        memcpy(nb + f->len, more, n);
    free(f->buf);
    f->buf = nb;
    f->len += n;
}

static void drop_front(struct feed *f, size_t n)
{
    CHECK(n <= f->len);
    memmove(f->buf, f->buf + n, f->len - n);
    f->len -= n;
    append_moved(f, NULL, 0);
    resp_parser_next(&f->p);
}

static void record_command(struct feed *f)
{
    struct resp_parser *p = &f->p;
    uint64_t sum = 0;

    CHECK(p->argc >= 1 && p->argc <= p->limits.max_args);
    CHECK(p->consumed > 0 && p->consumed <= f->len);
    put_u64(&f->log, p->argc);
    for (size_t i = 0; i < p->argc; i++) {
        const char *a = resp_arg(p, f->buf, i);

        CHECK(a != NULL);
        CHECK(p->len[i] <= p->limits.max_bulk ||
              p->len[i] <= p->limits.max_inline);
        if (!p->inline_args)
            CHECK(a >= f->buf && a + p->len[i] <= f->buf + p->consumed);
        for (size_t j = 0; j < p->len[i]; j++)
            sum += (unsigned char)a[j]; /* ASan checks every byte */
        put_u64(&f->log, p->len[i]);
        buf_append(&f->log, a, p->len[i]);
    }
    (void)sum;
}

/* Parse what the buffer holds until it needs more bytes or fails. */
static enum resp_status pump(struct feed *f)
{
    for (;;) {
        enum resp_status st = resp_parse(&f->p, f->buf, f->len);

        CHECK(st == RESP_ERROR || st == RESP_INCOMPLETE || st == RESP_COMMAND);
        if (st == RESP_ERROR) {
            CHECK(f->p.error != NULL && f->p.error[0] != '\0');
            CHECK(resp_parse(&f->p, f->buf, f->len) == RESP_ERROR);
            return st;
        }
        CHECK(f->p.consumed <= f->len);
        if (st == RESP_INCOMPLETE) {
            (void)resp_parser_wanted(&f->p, f->len);
            if (f->drop_partial && f->p.consumed > 0)
                drop_front(f, f->p.consumed);
            return st;
        }
        record_command(f);
        /* Until next(), the same command comes back. */
        CHECK(resp_parse(&f->p, f->buf, f->len) == RESP_COMMAND);
        drop_front(f, f->p.consumed);
    }
}

static enum resp_status run(struct feed *f, const struct resp_limits *lim,
                            const uint8_t *data, size_t size, bool chunked)
{
    enum resp_status st = RESP_INCOMPLETE;
    size_t off = 0;

    resp_parser_init(&f->p, lim);
    while (off < size && st != RESP_ERROR) {
        size_t n = size - off;

        if (chunked) {
            uint32_t r = next_rand(&f->rng);

            /* Mostly tiny pieces, now and then a big one. */
            n = (r & 7) != 0 ? 1 + (r >> 8) % 8 : 1 + (r >> 8) % 256;
            if (n > size - off)
                n = size - off;
        }
        append_moved(f, data + off, n);
        off += n;
        st = pump(f);
    }
    resp_parser_free(&f->p);
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct feed whole = {0}, pieces = {0};
    struct resp_limits lim;
    enum resp_status a, b;

    if (size < 2)
        return 0;
    pick_limits(data[0], &lim);
    pieces.rng = 0x9e3779b9u ^ (uint32_t)data[1] * 0x01000193u;
    pieces.drop_partial = (data[0] & 0x20) != 0;
    a = run(&whole, &lim, data + 2, size - 2, false);
    b = run(&pieces, &lim, data + 2, size - 2, true);
    CHECK(a == b);
    CHECK(whole.log.len == pieces.log.len);
    CHECK(whole.log.len == 0 ||
          memcmp(whole.log.data, pieces.log.data, whole.log.len) == 0);
    buf_free(&whole.log);
    buf_free(&pieces.log);
    return 0;
}
