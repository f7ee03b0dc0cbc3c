/* RESP encodings of cashe-loadgen's requests: see request.h. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

static void put_digits(char *out, uint64_t n)
{
    for (int i = REQUEST_KEY_DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
}

void request_key(char *out, uint64_t key)
{
    memcpy(out, REQUEST_KEY_PREFIX, sizeof(REQUEST_KEY_PREFIX) - 1);
    put_digits(out + sizeof(REQUEST_KEY_PREFIX) - 1, key);
}

static void append_bulk(struct buf *b, const char *p, size_t n)
{
    buf_printf(b, "$%zu\r\n", n);
    buf_append(b, p, n);
    buf_append(b, "\r\n", 2);
}

/* Encode @name, the key, then @value (when not NULL) and note where the
 * key's digits are. */
static void init_keyed(struct request *r, const char *name, const char *value,
                       size_t value_size)
{
    struct buf b = {0};
    char key[REQUEST_KEY_LEN];

    request_key(key, 0);
    buf_printf(&b, "*%d\r\n", value ? 3 : 2);
    append_bulk(&b, name, strlen(name));
    buf_printf(&b, "$%zu\r\n", REQUEST_KEY_LEN);
    r->digits = b.len + sizeof(REQUEST_KEY_PREFIX) - 1;
    buf_append(&b, key, REQUEST_KEY_LEN);
    buf_append(&b, "\r\n", 2);
    if (value)
        append_bulk(&b, value, value_size);
    r->data = b.data;
    r->len = b.len;
}

void request_init_set(struct request *r, size_t value_size)
{
    char *value = xmalloc(value_size);

    /* Printable and not all one byte, in case a server compresses. */
    for (size_t i = 0; i < value_size; i++)
        value[i] = (char)('a' + i % 26);
    init_keyed(r, "SET", value, value_size);
    free(value);
}

void request_init_get(struct request *r)
{
    init_keyed(r, "GET", NULL, 0);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int request_init_line(struct request *r, const char *line)
{
    struct buf words = {0};
    int argc = 0;
    const char *p = line;

    while (*p) {
        size_t n = 0;

        while (is_blank(*p))
            p++;
        while (p[n] && !is_blank(p[n]))
            n++;
        if (n == 0)
            break;
        append_bulk(&words, p, n);
        argc++;
        p += n;
    }
    if (argc == 0) {
        buf_free(&words);
        return -EINVAL;
    }

    struct buf b = {0};
    buf_printf(&b, "*%d\r\n", argc);
    buf_append(&b, words.data, words.len);
    buf_free(&words);
    r->data = b.data;
    r->len = b.len;
    r->digits = 0;
    return 0;
}

void request_free(struct request *r)
{
    free(r->data);
    r->data = NULL;
    r->len = 0;
}

void request_append(const struct request *r, struct buf *b, uint64_t key)
{
    buf_reserve(b, r->len);
    memcpy(b->data + b->len, r->data, r->len);
    if (r->digits)
        put_digits(b->data + b->len + r->digits, key);
    b->len += r->len;
}
