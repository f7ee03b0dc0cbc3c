/* RESP2, the Redis protocol: an incremental request parser and reply writers.
 *
 * The parser reads requests in both forms redis accepts: multibulk
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline ("GET k\r\n", what telnet
 * sends). It keeps no copy of the bytes: arguments are offsets into the
 * caller's buffer, which must keep holding every byte from its start up to
 * the end of the command until the command is handled. Every declared length
 * and count is checked against the limits before anything is sized from it.
 *
 * Writers append one reply to a struct buf. */

#ifndef CASHE_RESP_H
#define CASHE_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct resp_limits {
    size_t max_args;   /* most arguments one command may have */
    size_t max_bulk;   /* longest single argument, in bytes */
    size_t max_inline; /* longest inline command line, in bytes */
};

enum resp_status {
    RESP_ERROR = -1,      /* protocol error: reply p->error, then close */
    RESP_INCOMPLETE = 0,  /* need more bytes */
    RESP_COMMAND = 1,     /* a whole command is ready */
};

struct resp_parser {
    struct resp_limits limits;

    /* A ready command: p->argc arguments; argument i is p->len[i] bytes at
     * buf + p->off[i]. p->consumed is the number of bytes of buf it took. */
    size_t argc;
    size_t *off;
    size_t *len;
    size_t consumed;

    /* Set when resp_parse() returns RESP_ERROR: a reply-ready message
     * without the leading '-' ("ERR Protocol error: ..."). */
    const char *error;

    /* Internal parse state, resumed across calls. */
    int state;
    size_t pos;       /* bytes of buf already parsed */
    size_t expected;  /* argument count declared by '*' */
    size_t bulk_len;  /* length declared by the current '$' */
    size_t cap;       /* allocated slots in off/len */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);

/* Continue parsing @buf, which holds @len bytes: the same bytes as the last
 * call plus any appended since (the caller must not move or drop bytes while
 * a command is partially parsed, except with resp_parser_shift()). Empty
 * lines and empty inline commands are skipped. */
enum resp_status resp_parse(struct resp_parser *p, const char *buf, size_t len);

/* After a RESP_COMMAND has been handled and its p->consumed bytes dropped
 * from the front of the buffer: get ready for the next command. */
void resp_parser_next(struct resp_parser *p);

/* How many more bytes the command being parsed is known to need, beyond
 * @len: lets a reader size a read for a large argument. 0 when unknown. */
size_t resp_parser_wanted(const struct resp_parser *p, size_t len);

/* Reply writers. */
void resp_simple(struct buf *b, const char *s);     /* +s\r\n */
void resp_error(struct buf *b, const char *s);      /* -s\r\n; s has no CR/LF */
void resp_errorf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_int(struct buf *b, int64_t v);            /* :v\r\n */
void resp_bulk(struct buf *b, const void *p, size_t n); /* $n\r\n...\r\n */
void resp_bulk_str(struct buf *b, const char *s);
void resp_null(struct buf *b);                      /* $-1\r\n */
void resp_array(struct buf *b, size_t n);           /* *n\r\n */
void resp_null_array(struct buf *b);                /* *-1\r\n */

#endif /* CASHE_RESP_H */
