/* RESP2, the Redis protocol: an incremental request parser and reply writers.
 *
 * The parser reads requests in both forms redis accepts: multibulk
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline ("GET k\r\n", what telnet
 * sends). A multibulk command's arguments are offsets into the caller's
 * buffer, which must keep holding every byte from its start up to the end of
 * the command until the command is handled. An inline command's arguments
 * may be unquoted and unescaped, so they live in a scratch copy owned by the
 * parser (at most limits.max_inline bytes); resp_arg() hides the difference.
 * Every declared length and count is checked against the limits before
 * anything is sized from it, and the argument arrays grow as arguments
 * arrive, so "*1000000\r\n" alone allocates nothing large.
 *
 * Writers append one reply to a struct buf. */

#ifndef CASHE_RESP_H
#define CASHE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct resp_limits {
    size_t max_args;   /* most arguments one command may have */
    size_t max_bulk;   /* longest single argument, in bytes */
    size_t max_inline; /* longest inline command line, in bytes */
    /* The limits are the tight ones of a client that has not logged in:
     * errors say so, as redis's do. */
    bool unauthenticated;
};

enum resp_status {
    RESP_ERROR = -1,     /* protocol error: reply p->error, then close */
    RESP_INCOMPLETE = 0, /* need more bytes */
    RESP_COMMAND = 1,    /* a whole command is ready */
};

struct resp_parser {
    struct resp_limits limits;

    /* A ready command: p->argc arguments; argument i is p->len[i] bytes at
     * resp_arg(p, buf, i) (never read p->off directly: it is relative to
     * the scratch copy for inline commands). p->consumed is the number of
     * bytes at the front of buf the parser is done with: after RESP_COMMAND,
     * everything through the end of the command; after RESP_INCOMPLETE, any
     * skipped empty commands before the partial one (often 0). */
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
    size_t start;     /* where the command being parsed begins in buf */
    size_t expected;  /* argument count declared by '*' */
    size_t bulk_len;  /* length declared by the current '$' */
    size_t cap;       /* allocated slots in off/len */
    bool inline_args; /* off[] indexes scratch, not buf */
    char *scratch;    /* unquoted arguments of an inline command */
    size_t scratch_cap;
    char error_buf[48]; /* p->error when it quotes a received byte */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);

/* Continue parsing @buf, which holds @len bytes: the same bytes as the last
 * call plus any appended since. The buffer may be moved (reallocated), but
 * bytes may only be dropped from its front as resp_parser_next() says.
 * Parsing resumes where the last call stopped, so a large argument arriving
 * in small pieces costs O(its size) overall. Empty commands ("*0\r\n",
 * "*-1\r\n") and blank inline lines are skipped. After RESP_COMMAND, calls
 * return the same command until resp_parser_next(); after RESP_ERROR, every
 * call returns RESP_ERROR.
 *
 * An inline line ends at LF (CRLF also works) and splits into words at
 * spaces, tabs and other blanks. A word may hold "double-quoted" text, with
 * the escapes \n \r \t \b \a \xHH (any other escaped byte stands for
 * itself), or 'single-quoted' text, where only \' is an escape; a quoted
 * section must end its word. Header lines ("*<n>", "$<n>") longer than 32
 * bytes and inline lines longer than limits.max_inline are errors. */
enum resp_status resp_parse(struct resp_parser *p, const char *buf, size_t len);

/* Argument @i (< p->argc) of the ready command parsed from @buf; it is
 * p->len[i] bytes long, binary, not NUL-terminated. Valid until
 * resp_parser_next(), while buf still holds the command. */
const char *resp_arg(const struct resp_parser *p, const char *buf, size_t i);

/* The caller has dropped p->consumed bytes from the front of its buffer:
 * after RESP_COMMAND, get ready for the next command (p->pos becomes 0);
 * after RESP_INCOMPLETE, shift the partial command's offsets by as much.
 * Dropping after RESP_INCOMPLETE is optional; it keeps a client that sends
 * only empty commands from filling the buffer. */
void resp_parser_next(struct resp_parser *p);

/* How many more bytes the command being parsed is known to need, beyond
 * @len: lets a reader size a read for a large argument. 0 when unknown. */
size_t resp_parser_wanted(const struct resp_parser *p, size_t len);

/* Reply writers. The line writers (simple, error, errorf) turn any CR or LF
 * in the text into a space, so no text can split a reply in two. */
void resp_simple(struct buf *b, const char *s); /* +s\r\n */
void resp_error(struct buf *b, const char *s);  /* -s\r\n */
void resp_errorf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_int(struct buf *b, int64_t v);                /* :v\r\n */
void resp_bulk(struct buf *b, const void *p, size_t n); /* $n\r\n...\r\n */
void resp_bulk_str(struct buf *b, const char *s);
void resp_null(struct buf *b);            /* $-1\r\n */
void resp_array(struct buf *b, size_t n); /* *n\r\n */
void resp_null_array(struct buf *b);      /* *-1\r\n */

#endif /* CASHE_RESP_H */
