/* RESP2 request parser and reply writers.
 *
 * The parser is a state machine over the caller's growing buffer. p->pos
 * only moves forward between resp_parser_next() calls, so each byte is
 * examined a bounded number of times however the input is split: header
 * lines are rescanned at most HEADER_MAX bytes, bulk data not at all, and an
 * inline line is searched for its newline only from where the last search
 * stopped. */

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* Longest "*<count>" or "$<length>" header line, without its CRLF. Any
 * 64-bit number fits; a longer line is an attack or garbage, and refusing it
 * keeps a client from making us wait on an endless header. */
#define HEADER_MAX 32

/* Smallest argument array; grown by doubling as arguments arrive. */
#define ARGS_MIN 8

enum {
    ST_START,     /* at the first byte of a command */
    ST_INLINE,    /* looking for the newline ending an inline command */
    ST_COUNT,     /* reading "*<count>\r\n" */
    ST_BULK_HEAD, /* reading "$<length>\r\n" */
    ST_BULK_DATA, /* waiting for <length> bytes and their CRLF */
    ST_READY,     /* a whole command is parsed */
    ST_ERROR,
};

#define PROTO "ERR Protocol error: "
static const char msg_bad_count[] = PROTO "invalid multibulk length";
static const char msg_big_count[] = PROTO "too big mbulk count string";
static const char msg_bad_bulk[] = PROTO "invalid bulk length";
static const char msg_unauth_count[] = PROTO "unauthenticated multibulk length";
static const char msg_unauth_bulk[] = PROTO "unauthenticated bulk length";
static const char msg_big_bulk[] = PROTO "too big bulk count string";
static const char msg_bulk_end[] = PROTO "expected CRLF after bulk data";
static const char msg_big_inline[] = PROTO "too big inline request";
static const char msg_quotes[] = PROTO "unbalanced quotes in request";
static const char msg_inline_args[] = PROTO "too many arguments in request";

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = *limits;
    p->state = ST_START;
}

void resp_parser_free(struct resp_parser *p)
{
    free(p->off);
    free(p->len);
    free(p->scratch);
    p->off = NULL;
    p->len = NULL;
    p->scratch = NULL;
    p->cap = 0;
    p->scratch_cap = 0;
    p->argc = 0;
}

static int parse_fail(struct resp_parser *p, const char *msg)
{
    p->state = ST_ERROR;
    p->error = msg;
    return -1;
}

static void push_arg(struct resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : ARGS_MIN;

        p->off = xrealloc(p->off, cap * sizeof(*p->off));
        p->len = xrealloc(p->len, cap * sizeof(*p->len));
        p->cap = cap;
    }
    p->off[p->argc] = off;
    p->len[p->argc] = len;
    p->argc++;
}

static bool start_command(struct resp_parser *p, const char *buf, size_t len)
{
    if (p->pos == len)
        return false;
    p->start = p->pos;
    p->argc = 0;
    p->inline_args = buf[p->pos] != '*';
    p->state = p->inline_args ? ST_INLINE : ST_COUNT;
    return true;
}

/* Read the header line at p->pos: a type byte, a decimal number, CRLF.
 * 1: *value is set and p->pos is past the line; 0: the line is incomplete;
 * -1: error (@too_long when there is no CR in reach, else @bad_number). */
static int read_header(struct resp_parser *p, const char *buf, size_t len,
                       const char *too_long, const char *bad_number,
                       int64_t *value)
{
    size_t avail = len - p->pos;
    size_t reach = avail < HEADER_MAX + 1 ? avail : HEADER_MAX + 1;
    const char *cr = memchr(buf + p->pos, '\r', reach);
    size_t end;

    if (cr == NULL)
        return avail > HEADER_MAX ? parse_fail(p, too_long) : 0;
    end = (size_t)(cr - buf);
    if (end + 1 == len)
        return 0;
    if (buf[end + 1] != '\n')
        return parse_fail(p, bad_number);
    if (parse_i64(buf + p->pos + 1, end - p->pos - 1, value) < 0)
        return parse_fail(p, bad_number);
    p->pos = end + 2;
    return 1;
}

static bool parse_count(struct resp_parser *p, const char *buf, size_t len)
{
    int64_t n;

    if (read_header(p, buf, len, msg_big_count, msg_bad_count, &n) <= 0)
        return false;
    if (n <= 0) {
        /* An empty command: nothing to run, go on to the next one. */
        p->state = ST_START;
        return true;
    }
    if ((uint64_t)n > p->limits.max_args || n > INT_MAX) {
        parse_fail(p, p->limits.unauthenticated ? msg_unauth_count
                                                : msg_bad_count);
        return false;
    }
    p->expected = (size_t)n;
    p->state = ST_BULK_HEAD;
    return true;
}

static bool parse_bulk_head(struct resp_parser *p, const char *buf, size_t len)
{
    unsigned char c;
    int64_t n;

    if (p->pos == len)
        return false;
    c = (unsigned char)buf[p->pos];
    if (c != '$') {
        /* Quote the byte only when it cannot corrupt the reply line. */
        snprintf(p->error_buf, sizeof(p->error_buf),
                 PROTO "expected '$', got '%c'",
                 c >= 0x20 && c < 0x7f ? c : '?');
        parse_fail(p, p->error_buf);
        return false;
    }
    if (read_header(p, buf, len, msg_big_bulk, msg_bad_bulk, &n) <= 0)
        return false;
    if (n < 0 || (uint64_t)n > p->limits.max_bulk) {
        parse_fail(p, n >= 0 && p->limits.unauthenticated ? msg_unauth_bulk
                                                          : msg_bad_bulk);
        return false;
    }
    p->bulk_len = (size_t)n;
    p->state = ST_BULK_DATA;
    return true;
}

static bool parse_bulk_data(struct resp_parser *p, const char *buf, size_t len)
{
    size_t avail = len - p->pos;
    size_t end = p->pos + p->bulk_len;

    /* Written so that a huge declared length cannot overflow. */
    if (avail < 2 || avail - 2 < p->bulk_len)
        return false;
    if (buf[end] != '\r' || buf[end + 1] != '\n') {
        parse_fail(p, msg_bulk_end);
        return false;
    }
    push_arg(p, p->pos, p->bulk_len);
    p->pos = end + 2;
    if (p->argc < p->expected) {
        p->state = ST_BULK_HEAD;
        return true;
    }
    p->state = ST_READY;
    p->consumed = p->pos;
    return false;
}

/* Inline commands split on blanks; a line ends at LF, its CR is a blank. */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The escape whose letter is at s[i] inside double quotes: store the byte it
 * stands for in *out, return the index after it. An unknown escape stands
 * for its letter, as does "\x" without two hex digits after it. */
static size_t unescape(const char *s, size_t n, size_t i, char *out)
{
    switch (s[i]) {
    case 'n':
        *out = '\n';
        break;
    case 'r':
        *out = '\r';
        break;
    case 't':
        *out = '\t';
        break;
    case 'b':
        *out = '\b';
        break;
    case 'a':
        *out = '\a';
        break;
    case 'x':
        if (i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            *out = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            return i + 3;
        }
        /* fall through */
    default:
        *out = s[i];
        break;
    }
    return i + 1;
}

/* Copy the quoted section opening at s[*ip] to p->scratch at *op, without
 * its quotes and with its escapes resolved. -1 when it never closes. */
static int copy_quoted(struct resp_parser *p, const char *s, size_t n,
                       size_t *ip, size_t *op)
{
    char quote = s[*ip];
    size_t i = *ip + 1;
    size_t o = *op;

    while (i < n && s[i] != quote) {
        char c = s[i++];

        if (c == '\\' && i < n) {
            if (quote == '"')
                i = unescape(s, n, i, &c);
            else if (s[i] == '\'')
                c = s[i++];
        }
        p->scratch[o++] = c;
    }
    if (i == n)
        return -1;
    *ip = i + 1;
    *op = o;
    return 0;
}

/* Copy the word starting at s[*ip] to p->scratch at *op. Quoted sections
 * may start anywhere in a word but must end it, as redis has it. */
static int copy_word(struct resp_parser *p, const char *s, size_t n, size_t *ip,
                     size_t *op)
{
    size_t i = *ip;

    while (i < n && !is_blank(s[i])) {
        if (s[i] == '"' || s[i] == '\'') {
            if (copy_quoted(p, s, n, &i, op) < 0)
                return -1;
            if (i < n && !is_blank(s[i]))
                return -1;
            break;
        }
        p->scratch[(*op)++] = s[i++];
    }
    *ip = i;
    return 0;
}

/* Split the inline line s[0, n) into arguments in p->scratch. Unquoting
 * only ever shrinks a word, so n bytes of scratch are enough. */
static int split_inline(struct resp_parser *p, const char *s, size_t n)
{
    size_t i = 0;
    size_t o = 0;

    if (n > p->scratch_cap) {
        p->scratch = xrealloc(p->scratch, n);
        p->scratch_cap = n;
    }
    p->argc = 0;
    for (;;) {
        size_t word = o;

        while (i < n && is_blank(s[i]))
            i++;
        if (i == n)
            return 0;
        if (p->argc == p->limits.max_args || p->argc == INT_MAX)
            return parse_fail(p, msg_inline_args);
        if (copy_word(p, s, n, &i, &o) < 0)
            return parse_fail(p, msg_quotes);
        push_arg(p, word, o - word);
    }
}

/* Bytes of inline line from p->start up to @end, not counting a CR that
 * may turn out to be the first half of its CRLF. */
static size_t inline_length(const struct resp_parser *p, const char *buf,
                            size_t end)
{
    size_t n = end - p->start;

    if (n > 0 && buf[end - 1] == '\r')
        n--;
    return n;
}

static bool parse_inline(struct resp_parser *p, const char *buf, size_t len)
{
    const char *nl = NULL;
    size_t end;

    if (p->pos < len)
        nl = memchr(buf + p->pos, '\n', len - p->pos);
    if (nl == NULL) {
        p->pos = len;
        if (inline_length(p, buf, len) > p->limits.max_inline)
            parse_fail(p, msg_big_inline);
        return false;
    }
    end = (size_t)(nl - buf);
    p->pos = end + 1;
    if (inline_length(p, buf, end) > p->limits.max_inline) {
        parse_fail(p, msg_big_inline);
        return false;
    }
    if (split_inline(p, buf + p->start, inline_length(p, buf, end)) < 0)
        return false;
    if (p->argc == 0) {
        p->state = ST_START; /* a blank line */
        return true;
    }
    p->state = ST_READY;
    p->consumed = p->pos;
    return false;
}

/* Advance by one step; false when waiting for bytes, ready or failed. */
static bool parse_step(struct resp_parser *p, const char *buf, size_t len)
{
    switch (p->state) {
    case ST_START:
        return start_command(p, buf, len);
    case ST_INLINE:
        return parse_inline(p, buf, len);
    case ST_COUNT:
        return parse_count(p, buf, len);
    case ST_BULK_HEAD:
        return parse_bulk_head(p, buf, len);
    case ST_BULK_DATA:
        return parse_bulk_data(p, buf, len);
    default:
        return false;
    }
}

enum resp_status resp_parse(struct resp_parser *p, const char *buf, size_t len)
{
    assert(len >= p->pos);
    while (parse_step(p, buf, len))
        ;
    switch (p->state) {
    case ST_READY:
        return RESP_COMMAND;
    case ST_ERROR:
        p->consumed = 0;
        return RESP_ERROR;
    case ST_START:
        p->start = p->pos; /* all before it was empty commands */
        /* fall through */
    default:
        p->consumed = p->start;
        return RESP_INCOMPLETE;
    }
}

const char *resp_arg(const struct resp_parser *p, const char *buf, size_t i)
{
    assert(i < p->argc);
    return (p->inline_args ? p->scratch : buf) + p->off[i];
}

void resp_parser_next(struct resp_parser *p)
{
    size_t n = p->consumed;

    if (p->state == ST_ERROR)
        return;
    p->pos -= n;
    p->consumed = 0;
    if (p->state == ST_READY) {
        p->state = ST_START;
        p->start = 0;
        p->argc = 0;
        return;
    }
    p->start -= n;
    if (!p->inline_args) {
        for (size_t i = 0; i < p->argc; i++)
            p->off[i] -= n;
    }
}

size_t resp_parser_wanted(const struct resp_parser *p, size_t len)
{
    size_t have;

    if (p->state != ST_BULK_DATA || len < p->pos)
        return 0;
    have = len - p->pos;
    if (p->bulk_len > SIZE_MAX - 2)
        return SIZE_MAX - have;
    return have >= p->bulk_len + 2 ? 0 : p->bulk_len + 2 - have;
}

/* Make every CR and LF in d[0, n) a space. */
static void blank_newlines(char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\r' || d[i] == '\n')
            d[i] = ' ';
    }
}

/* Append @type, the text s[0, n) kept on one line, and CRLF. */
static void put_line(struct buf *b, char type, const char *s, size_t n)
{
    char *d;

    buf_reserve(b, n + 3);
    d = b->data + b->len;
    d[0] = type;
    memcpy(d + 1, s, n);
    blank_newlines(d + 1, n);
    d[n + 1] = '\r';
    d[n + 2] = '\n';
    b->len += n + 3;
}

/* Append @type, the number, and CRLF. Taking the magnitude apart from the
 * sign lets INT64_MIN through without overflow. */
static void put_number(struct buf *b, char type, bool negative,
                       uint64_t magnitude)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do {
        tmp[--i] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (negative)
        tmp[--i] = '-';
    tmp[--i] = type;
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

void resp_simple(struct buf *b, const char *s)
{
    put_line(b, '+', s, strlen(s));
}

void resp_error(struct buf *b, const char *s)
{
    put_line(b, '-', s, strlen(s));
}

void resp_errorf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t len;
    char *d;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        resp_error(b, "ERR");
        return;
    }
    len = (size_t)n;
    /* '-', the message and its NUL, which the CRLF then overwrites. */
    buf_reserve(b, len + 3);
    d = b->data + b->len;
    d[0] = '-';
    va_start(ap, fmt);
    vsnprintf(d + 1, len + 1, fmt, ap);
    va_end(ap);
    blank_newlines(d + 1, len);
    d[len + 1] = '\r';
    d[len + 2] = '\n';
    b->len += len + 3;
}

void resp_int(struct buf *b, int64_t v)
{
    uint64_t magnitude = v < 0 ? -(uint64_t)v : (uint64_t)v;

    put_number(b, ':', v < 0, magnitude);
}

void resp_bulk(struct buf *b, const void *p, size_t n)
{
    put_number(b, '$', false, n);
    buf_reserve(b, n + 2);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->data[b->len + n] = '\r';
    b->data[b->len + n + 1] = '\n';
    b->len += n + 2;
}

void resp_bulk_str(struct buf *b, const char *s)
{
    resp_bulk(b, s, strlen(s));
}

void resp_null(struct buf *b)
{
    buf_append(b, "$-1\r\n", 5);
}

void resp_array(struct buf *b, size_t n)
{
    put_number(b, '*', false, n);
}

void resp_null_array(struct buf *b)
{
    buf_append(b, "*-1\r\n", 5);
}
