/* Requests of cashe-loadgen, encoded in RESP once and copied per request:
 * SET and GET of a 16-byte key "key:%012llu", and any command line given
 * on the command line (--init). No I/O. */

#ifndef CASHE_BENCH_REQUEST_H
#define CASHE_BENCH_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define REQUEST_KEY_PREFIX "key:"
#define REQUEST_KEY_DIGITS 12
#define REQUEST_KEY_LEN    (sizeof(REQUEST_KEY_PREFIX) - 1 + REQUEST_KEY_DIGITS)

/* One encoded request. */
struct request {
    char *data;
    size_t len;
    size_t digits; /* offset of the key's digits in data; 0: no key */
};

/* SET key value, with a value of @value_size bytes. */
void request_init_set(struct request *r, size_t value_size);

/* GET key. */
void request_init_get(struct request *r);

/* The words of @line, split at spaces and tabs, as one command. Returns 0,
 * or -EINVAL (and leaves @r unset) when @line holds no word. */
int request_init_line(struct request *r, const char *line);

void request_free(struct request *r);

/* Append @r to @b, with key number @key (modulo 10^12) when it has a key. */
void request_append(const struct request *r, struct buf *b, uint64_t key);

/* Write the key with number @key into @out (REQUEST_KEY_LEN bytes, no
 * terminating NUL). */
void request_key(char *out, uint64_t key);

#endif
