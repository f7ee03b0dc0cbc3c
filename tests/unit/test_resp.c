/* Tests for the RESP parser and reply writers.
 *
 * Most parser tests go through a transcript: the input is fed to a parser
 * the way a server would (append a chunk, parse until incomplete, drop the
 * consumed bytes) and every command and the final state are written down as
 * text. Feeding the same input in different chunks must give the same
 * transcript. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"
#include "util.h"

/* Small limits, so every limit is easy to reach. */
static const struct resp_limits small = {
    .max_args = 4,
    .max_bulk = 16,
    .max_inline = 32,
};

static const struct resp_limits roomy = {
    .max_args = 1024 * 1024,
    .max_bulk = 64 * 1024 * 1024,
    .max_inline = 64 * 1024,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

/* Append @n bytes of @s to @out, bytes that are not plain text as \xHH. */
static void put_escaped(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f || c == '\\' || c == ',' || c == ';')
            buf_printf(out, "\\x%02x", c);
        else
            buf_append(out, &s[i], 1);
    }
}

/* Write the ready command as "arg,arg;" and check its arguments lie where
 * the contract says. */
static void put_command(const struct resp_parser *p, const struct buf *b,
                        struct buf *out)
{
    assert_true(p->argc > 0);
    for (size_t i = 0; i < p->argc; i++) {
        const char *a = resp_arg(p, b->data, i);

        if (a >= b->data && a <= b->data + b->len)
            assert_true(a + p->len[i] <= b->data + p->consumed);
        if (i > 0)
            buf_append(out, ",", 1);
        put_escaped(out, a, p->len[i]);
    }
    buf_append(out, ";", 1);
}

static void check_error_text(const char *msg)
{
    assert_non_null(msg);
    assert_true(strncmp(msg, "ERR Protocol error: ", 20) == 0);
    assert_null(strpbrk(msg, "\r\n"));
}

/* Parse what @b holds until more bytes are needed, as a server would.
 * -1 after a protocol error. */
static int drain(struct resp_parser *p, struct buf *b, struct buf *out)
{
    for (;;) {
        enum resp_status st = resp_parse(p, b->data, b->len);

        if (st == RESP_ERROR) {
            check_error_text(p->error);
            buf_printf(out, "E:%s", p->error);
            return -1;
        }
        assert_true(st == RESP_INCOMPLETE || st == RESP_COMMAND);
        assert_true(p->consumed <= b->len);
        if (st == RESP_COMMAND)
            put_command(p, b, out);
        buf_consume(b, p->consumed);
        resp_parser_next(p);
        if (st == RESP_INCOMPLETE)
            return 0;
    }
}

/* Feed in[0, n) in chunks ending at cuts[0..ncuts) and then at n; write
 * the transcript to @out: commands, then "E:<error>" or "I:<bytes left>". */
static void transcript(const struct resp_limits *limits, const char *in,
                       size_t n, const size_t *cuts, size_t ncuts,
                       struct buf *out)
{
    struct resp_parser p;
    struct buf b = {0};
    size_t fed = 0;
    int r = 0;

    resp_parser_init(&p, limits);
    for (size_t c = 0; c <= ncuts && r == 0; c++) {
        size_t upto = c < ncuts ? cuts[c] : n;

        assert_true(upto >= fed && upto <= n);
        buf_append(&b, in + fed, upto - fed);
        fed = upto;
        r = drain(&p, &b, out);
    }
    if (r == 0)
        buf_printf(out, "I:%zu", b.len);
    buf_append(out, "", 1); /* NUL, for assert_string_equal */
    resp_parser_free(&p);
    buf_free(&b);
}

static char *transcript_whole(const struct resp_limits *limits, const char *in,
                              size_t n)
{
    struct buf out = {0};

    transcript(limits, in, n, NULL, 0, &out);
    return out.data;
}

static void assert_transcript_cuts(const struct resp_limits *limits,
                                   const char *in, size_t n, const size_t *cuts,
                                   size_t ncuts, const char *want)
{
    struct buf out = {0};

    transcript(limits, in, n, cuts, ncuts, &out);
    assert_string_equal(out.data, want);
    buf_free(&out);
}

/* Parse in[0, n) in one call and in two (the first @k bytes, then all of
 * them, from another copy of the buffer so nothing may depend on its
 * address) on fresh parsers: the results must agree. */
static void check_split_literal(const struct resp_limits *limits,
                                const char *in, size_t n, size_t k)
{
    struct resp_parser whole, split;
    char *first = xmemdup(in, k);
    char *full = xmemdup(in, n);
    enum resp_status a, b;

    resp_parser_init(&whole, limits);
    resp_parser_init(&split, limits);
    a = resp_parse(&whole, in, n);
    b = resp_parse(&split, first, k);
    assert_true(b >= RESP_ERROR && b <= RESP_COMMAND);
    assert_true(split.consumed <= k);
    b = resp_parse(&split, full, n);
    assert_int_equal(a, b);
    if (a == RESP_ERROR)
        assert_string_equal(whole.error, split.error);
    else
        assert_int_equal(whole.consumed, split.consumed);
    if (a == RESP_COMMAND) {
        assert_int_equal(whole.argc, split.argc);
        for (size_t i = 0; i < whole.argc; i++) {
            assert_int_equal(whole.len[i], split.len[i]);
            assert_memory_equal(resp_arg(&whole, in, i),
                                resp_arg(&split, full, i), whole.len[i]);
        }
    }
    resp_parser_free(&whole);
    resp_parser_free(&split);
    free(first);
    free(full);
}

struct example {
    const char *in;
    size_t n;
    const char *want; /* transcript with the small limits */
};

#define EX(in, want)                                                           \
    {                                                                          \
        in, sizeof(in) - 1, want                                               \
    }

static const struct example examples[] = {
    /* Multibulk. */
    EX("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "GET,k;I:0"),
    EX("*1\r\n$4\r\nPING\r\n", "PING;I:0"),
    EX("*3\r\n$3\r\nSET\r\n$6\r\na\r\n\0b\n\r\n$0\r\n\r\n",
       "SET,a\\x0d\\x0a\\x00b\\x0a,;I:0"),
    EX("*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$16\r\n0123456789abcdef\r\n",
       "a,b,c,0123456789abcdef;I:0"),
    /* "-0" is not a number to redis either. */
    EX("*1\r\n$-0\r\n\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*0\r\n*-1\r\n*-7\r\n*1\r\n$1\r\nx\r\n", "x;I:0"),
    EX("*0\r\n", "I:0"),
    EX("\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", "a,b;I:0"),
    EX("*1\r\n$3\r\nfo", "I:10"),
    EX("*0\r\n*1\r\n$3\r\nfo", "I:10"),
    EX("*1\r\n$3\r\nfoo\r", "I:12"),
    EX("*2\r\n$1\r\na\r\n$1\r", "I:14"),
    EX("*", "I:1"),
    /* Inline. */
    EX("PING\r\n", "PING;I:0"),
    EX("PING\n", "PING;I:0"),
    EX("  SET\tk  v \r\n", "SET,k,v;I:0"),
    EX("\r\n\n  \t\r\nPING\r\n", "PING;I:0"),
    EX("\r\n\n", "I:0"),
    EX("a\rb\r\n", "a,b;I:0"),
    EX("a\0b c\r\n", "a\\x00b,c;I:0"),
    EX("SET \"a b\" 'c d'\r\n", "SET,a b,c d;I:0"),
    EX("\"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\\q\" end\r\n",
       "Az\\x0a\\x0d\\x09\\x08\\x07\\x5c\"q,end;I:0"),
    EX("\"\\x4g\" \"\\xZZ\" \"\\x\"\r\n", "x4g,xZZ,x;I:0"),
    EX("'it\\'s' 'a\\nb' 'a\\\\b'\r\n", "it's,a\\x5cnb,a\\x5c\\x5cb;I:0"),
    EX("SET k \"\"\r\n", "SET,k,;I:0"),
    EX("'' \"\"\n", ",;I:0"),
    EX("a\"b c\" x\r\n", "ab c,x;I:0"),
    EX("\"a;b\"\n", "a\\x3bb;I:0"),
    EX("SET k v", "I:7"),
    EX("PIN", "I:3"),
    EX("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;I:0"),
    EX("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r", "I:33"),
    EX("a b c d\r\n", "a,b,c,d;I:0"),
    /* Pipelines of both forms. */
    EX("PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\n*2\r\n$4\r\nECHO\r\n$2\r\nyo\r\n",
       "PING;PING;ECHO,hi;ECHO,yo;I:0"),
    EX("*1\r\n$1\r\na\r\n\r\n*0\r\nb\r\n*1\r\n$1\r\nc\r\nd", "a;b;c;I:1"),
    /* Multibulk errors. */
    EX("*abc\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*1a\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*+1\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("* 1\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*01\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*1\rX", "E:ERR Protocol error: invalid multibulk length"),
    EX("*1\n$1\r\na\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*5\r\n", "E:ERR Protocol error: invalid multibulk length"),
    EX("*99999999999999999999\r\n",
       "E:ERR Protocol error: invalid multibulk length"),
    EX("*1111111111111111111111111111111", "I:32"),
    EX("*11111111111111111111111111111111",
       "E:ERR Protocol error: too big mbulk count string"),
    EX("*1\r\nfoo\r\n", "E:ERR Protocol error: expected '$', got 'f'"),
    EX("*1\r\n\r\n", "E:ERR Protocol error: expected '$', got '?'"),
    EX("*2\r\n$1\r\na\r\n\xff", "E:ERR Protocol error: expected '$', got '?'"),
    EX("*1\r\n$abc\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$-1\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$17\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$1x\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$\r\n", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$3\rX", "E:ERR Protocol error: invalid bulk length"),
    EX("*1\r\n$1111111111111111111111111111111111111111",
       "E:ERR Protocol error: too big bulk count string"),
    EX("*1\r\n$3\r\nfooXY", "E:ERR Protocol error: expected CRLF after bulk "
                            "data"),
    EX("*1\r\n$3\r\nfoo\rX", "E:ERR Protocol error: expected CRLF after bulk "
                             "data"),
    EX("*1\r\n$3\r\nfoo\n\r", "E:ERR Protocol error: expected CRLF after bulk "
                              "data"),
    EX("*1\r\n$3\r\nfo\r\n\r\n", "E:ERR Protocol error: expected CRLF after "
                                 "bulk data"),
    /* Inline errors. */
    EX("\"abc\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("'abc\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("'\\\\'\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("\"abc\\\"\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("\"a\"b\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("'a'\"b\"\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("x \"a\\\r\n", "E:ERR Protocol error: unbalanced quotes in request"),
    EX("a b c d e\r\n", "E:ERR Protocol error: too many arguments in "
                        "request"),
    EX("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "E:ERR Protocol error: too big inline request"),
    EX("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
       "E:ERR Protocol error: too big inline request"),
    EX("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\r\n",
       "E:ERR Protocol error: too big inline request"),
    /* A good command, then garbage. */
    EX("PING\r\n*x\r\n", "PING;E:ERR Protocol error: invalid multibulk "
                         "length"),
};

static void test_examples_whole(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(examples); i++) {
        char *got = transcript_whole(&small, examples[i].in, examples[i].n);

        if (strcmp(got, examples[i].want) != 0)
            print_error("example %zu\n", i);
        assert_string_equal(got, examples[i].want);
        free(got);
    }
}

/* The same input split at every byte boundary, in one and two places, and
 * fed one byte at a time, parses the same. */
static void test_examples_every_split(void **state)
{
    (void)state;
    for (size_t e = 0; e < ARRAY_SIZE(examples); e++) {
        const struct example *ex = &examples[e];
        size_t *bytes = xmalloc((ex->n + 1) * sizeof(*bytes));

        for (size_t k = 0; k <= ex->n; k++) {
            check_split_literal(&small, ex->in, ex->n, k);
            for (size_t j = k; j <= ex->n; j++) {
                size_t cuts[2] = {k, j};

                assert_transcript_cuts(&small, ex->in, ex->n, cuts, 2,
                                       ex->want);
            }
            bytes[k] = k;
        }
        assert_transcript_cuts(&small, ex->in, ex->n, bytes, ex->n + 1,
                               ex->want);
        free(bytes);
    }
}

static void test_multibulk_zero_copy(void **state)
{
    static const char in[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\nextra";
    struct resp_parser p;

    (void)state;
    resp_parser_init(&p, &small);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_COMMAND);
    assert_int_equal(p.argc, 2);
    assert_int_equal(p.consumed, sizeof(in) - 1 - 5);
    assert_ptr_equal(resp_arg(&p, in, 0), in + 8);
    assert_ptr_equal(resp_arg(&p, in, 1), in + 17);
    assert_int_equal(p.len[0], 3);
    assert_int_equal(p.len[1], 1);

    /* Asked again before next(), the parser still holds the same command. */
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_COMMAND);
    assert_int_equal(p.argc, 2);
    assert_int_equal(p.consumed, sizeof(in) - 1 - 5);
    resp_parser_free(&p);
}

static void test_inline_scratch(void **state)
{
    static const char in[] = "SET \"k\\x00\" v\r\n";
    struct resp_parser p;

    (void)state;
    resp_parser_init(&p, &small);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_COMMAND);
    assert_int_equal(p.argc, 3);
    assert_int_equal(p.consumed, sizeof(in) - 1);
    assert_int_equal(p.len[1], 2);
    assert_memory_equal(resp_arg(&p, in, 1), "k\0", 2);
    assert_memory_equal(resp_arg(&p, in, 2), "v", 1);
    resp_parser_next(&p);
    assert_int_equal(p.pos, 0);
    resp_parser_free(&p);
}

/* Build a pipeline of @count commands in both forms into @in, and what
 * its transcript should be into @want. */
static void build_pipeline(size_t count, struct buf *in, struct buf *want)
{
    for (size_t i = 0; i < count; i++) {
        char key[32];

        snprintf(key, sizeof(key), "key:%zu", i);
        switch (i % 4) {
        case 0:
            buf_printf(in, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$1\r\n\n\r\n",
                       strlen(key), key);
            buf_printf(want, "SET,%s,\\x0a;", key);
            break;
        case 1:
            buf_printf(in, "GET %s\r\n", key);
            buf_printf(want, "GET,%s;", key);
            break;
        case 2:
            buf_printf(in, "*0\r\nDEL '%s' \"\\x41\"\n", key);
            buf_printf(want, "DEL,%s,A;", key);
            break;
        default:
            buf_printf(in, "*1\r\n$%zu\r\n%s\r\n", strlen(key), key);
            buf_printf(want, "%s;", key);
            break;
        }
    }
    buf_printf(want, "I:0");
    buf_append(want, "", 1);
}

static void test_pipeline(void **state)
{
    struct buf in = {0};
    struct buf want = {0};
    struct buf out = {0};
    size_t cuts[64];

    (void)state;
    build_pipeline(2000, &in, &want);
    transcript(&roomy, in.data, in.len, NULL, 0, &out);
    assert_string_equal(out.data, want.data);

    /* And in random chunks. */
    for (int round = 0; round < 20; round++) {
        for (size_t c = 0; c < ARRAY_SIZE(cuts); c++)
            cuts[c] = rng_below(in.len + 1);
        for (size_t c = 1; c < ARRAY_SIZE(cuts); c++) {
            for (size_t d = c; d > 0 && cuts[d - 1] > cuts[d]; d--) {
                size_t t = cuts[d];

                cuts[d] = cuts[d - 1];
                cuts[d - 1] = t;
            }
        }
        buf_reset(&out);
        transcript(&roomy, in.data, in.len, cuts, ARRAY_SIZE(cuts), &out);
        assert_string_equal(out.data, want.data);
    }
    buf_free(&in);
    buf_free(&want);
    buf_free(&out);
}

/* A length or count over the limit is refused as soon as its header line is
 * in, before any of the data it announces. */
static void test_limits_immediate(void **state)
{
    struct resp_limits limits = roomy;
    struct resp_parser p;
    static const char big_bulk[] = "*1\r\n$67108865\r\n";
    static const char ok_bulk[] = "*1\r\n$67108864\r\n";
    static const char big_count[] = "*1048577\r\n";

    (void)state;
    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, big_bulk, sizeof(big_bulk) - 1),
                     RESP_ERROR);
    assert_string_equal(p.error, "ERR Protocol error: invalid bulk length");
    resp_parser_free(&p);

    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, ok_bulk, sizeof(ok_bulk) - 1),
                     RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, sizeof(ok_bulk) - 1), 67108864 + 2);
    resp_parser_free(&p);

    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, big_count, sizeof(big_count) - 1),
                     RESP_ERROR);
    assert_string_equal(p.error,
                        "ERR Protocol error: invalid multibulk length");
    resp_parser_free(&p);

    /* Zero limits: only empty arguments, no arguments at all. */
    limits.max_bulk = 0;
    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, "*1\r\n$0\r\n\r\n", 11), RESP_COMMAND);
    resp_parser_next(&p);
    assert_int_equal(resp_parse(&p, "*1\r\n$1\r\n", 8), RESP_ERROR);
    resp_parser_free(&p);
    limits.max_args = 0;
    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, "*1\r\n", 4), RESP_ERROR);
    resp_parser_free(&p);
}

/* A client that has not logged in gets redis's messages for them. */
static void test_limits_unauthenticated(void **state)
{
    struct resp_limits limits = small;
    struct resp_parser p;

    (void)state;
    limits.unauthenticated = true;
    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, "*5\r\n", 4), RESP_ERROR);
    assert_string_equal(p.error,
                        "ERR Protocol error: unauthenticated multibulk length");
    resp_parser_free(&p);

    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, "*1\r\n$17\r\n", 9), RESP_ERROR);
    assert_string_equal(p.error,
                        "ERR Protocol error: unauthenticated bulk length");
    resp_parser_free(&p);

    /* Within them, a command parses as usual. */
    resp_parser_init(&p, &limits);
    assert_int_equal(resp_parse(&p, "*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n", 21),
                     RESP_COMMAND);
    resp_parser_free(&p);
}

/* "*1000000" alone must not size anything from the count; the arrays grow
 * as arguments arrive and still end up holding them all. */
static void test_count_allocates_lazily(void **state)
{
    const size_t count = 1000000;
    struct resp_parser p;
    struct buf in = {0};

    (void)state;
    buf_printf(&in, "*%zu\r\n", count);
    resp_parser_init(&p, &roomy);
    assert_int_equal(resp_parse(&p, in.data, in.len), RESP_INCOMPLETE);
    assert_true(p.cap <= 1024);
    buf_append_str(&in, "$1\r\na\r\n");
    assert_int_equal(resp_parse(&p, in.data, in.len), RESP_INCOMPLETE);
    assert_int_equal(p.argc, 1);
    assert_true(p.cap <= 1024);
    for (size_t i = 1; i < count; i++)
        buf_printf(&in, "$%zu\r\n%c\r\n", (size_t)1, (char)('a' + i % 26));
    assert_int_equal(resp_parse(&p, in.data, in.len), RESP_COMMAND);
    assert_int_equal(p.argc, count);
    assert_int_equal(p.consumed, in.len);
    assert_memory_equal(resp_arg(&p, in.data, count - 1),
                        &"abcdefghijklmnopqrstuvwxyz"[(count - 1) % 26], 1);
    resp_parser_free(&p);
    buf_free(&in);
}

static void test_wanted(void **state)
{
    static const char in[] = "*2\r\n$3\r\nGET\r\n$10\r\nabcdefghij\r\n";
    struct resp_parser p;
    size_t head = sizeof("*2\r\n$3\r\nGET\r\n$10\r\n") - 1;

    (void)state;
    resp_parser_init(&p, &small);
    assert_int_equal(resp_parse(&p, in, 10), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, 10), 3); /* "T\r\n" */
    assert_int_equal(resp_parse(&p, in, head - 1), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, head - 1), 0);
    assert_int_equal(resp_parse(&p, in, head), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, head), 12);
    assert_int_equal(resp_parse(&p, in, head + 3), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, head + 3), 9);
    assert_int_equal(resp_parse(&p, in, head + 11), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, head + 11), 1);
    assert_int_equal(resp_parse(&p, in, head + 12), RESP_COMMAND);
    assert_int_equal(resp_parser_wanted(&p, head + 12), 0);
    resp_parser_free(&p);

    resp_parser_init(&p, &small);
    assert_int_equal(resp_parse(&p, "GET k", 5), RESP_INCOMPLETE);
    assert_int_equal(resp_parser_wanted(&p, 5), 0);
    resp_parser_free(&p);
}

/* Empty commands in front of a partial one can be dropped while it is
 * still partial; the offsets of its parsed arguments follow. */
static void test_drop_during_incomplete(void **state)
{
    struct resp_parser p;
    struct buf b = {0};

    (void)state;
    resp_parser_init(&p, &small);
    buf_append_str(&b, "*0\r\n\r\n*2\r\n$1\r\na\r\n$1\r\n");
    assert_int_equal(resp_parse(&p, b.data, b.len), RESP_INCOMPLETE);
    assert_int_equal(p.consumed, 6);
    buf_consume(&b, p.consumed);
    resp_parser_next(&p);
    buf_append_str(&b, "b\r\n");
    assert_int_equal(resp_parse(&p, b.data, b.len), RESP_COMMAND);
    assert_int_equal(p.consumed, b.len);
    assert_int_equal(p.argc, 2);
    assert_memory_equal(resp_arg(&p, b.data, 0), "a", 1);
    assert_memory_equal(resp_arg(&p, b.data, 1), "b", 1);
    buf_consume(&b, p.consumed);
    resp_parser_next(&p);
    assert_int_equal(p.pos, 0);

    /* Only empty commands: all of it can go. */
    buf_append_str(&b, "\r\n*0\r\n   \n");
    assert_int_equal(resp_parse(&p, b.data, b.len), RESP_INCOMPLETE);
    assert_int_equal(p.consumed, b.len);

    /* Not dropping is fine too: the bytes count toward the next command. */
    buf_append_str(&b, "PING\r\n");
    assert_int_equal(resp_parse(&p, b.data, b.len), RESP_COMMAND);
    assert_int_equal(p.consumed, b.len);
    resp_parser_free(&p);
    buf_free(&b);
}

static void test_error_is_sticky(void **state)
{
    static const char in[] = "*1\r\n$3\r\nfooXY*1\r\n$1\r\na\r\n";
    struct resp_parser p;
    const char *msg;

    (void)state;
    resp_parser_init(&p, &small);
    assert_int_equal(resp_parse(&p, in, 13), RESP_ERROR);
    msg = p.error;
    check_error_text(msg);
    resp_parser_next(&p);
    assert_int_equal(resp_parse(&p, in, sizeof(in) - 1), RESP_ERROR);
    assert_string_equal(p.error, msg);
    assert_true(p.consumed <= sizeof(in) - 1);
    resp_parser_free(&p);
}

/* A big value arriving a byte at a time into the same growing buffer: each
 * call must resume, not rescan (quadratic would not finish). */
static void test_bytewise_large(void **state)
{
    const size_t size = 1 << 20;
    struct resp_limits limits = roomy;
    struct resp_parser p;
    struct buf in = {0};
    size_t k;

    (void)state;
    buf_printf(&in, "*2\r\n$3\r\nSET\r\n$%zu\r\n", size);
    buf_reserve(&in, size + 2);
    memset(in.data + in.len, 'v', size);
    in.len += size;
    buf_append_str(&in, "\r\n");
    resp_parser_init(&p, &limits);
    for (k = 0; k < in.len; k++)
        assert_int_equal(resp_parse(&p, in.data, k), RESP_INCOMPLETE);
    assert_int_equal(resp_parse(&p, in.data, k), RESP_COMMAND);
    assert_int_equal(p.len[1], size);
    resp_parser_free(&p);

    /* The same for an inline line just under its limit. */
    limits.max_inline = size + 1;
    buf_reset(&in);
    buf_reserve(&in, size + 2);
    memset(in.data, 'w', size);
    in.data[size / 2] = ' ';
    memcpy(in.data + size, "\r\n", 2);
    in.len = size + 2;
    resp_parser_init(&p, &limits);
    for (k = 0; k < in.len; k++)
        assert_int_equal(resp_parse(&p, in.data, k), RESP_INCOMPLETE);
    assert_int_equal(resp_parse(&p, in.data, k), RESP_COMMAND);
    assert_int_equal(p.argc, 2);
    assert_int_equal(p.len[0] + p.len[1], size - 1);
    resp_parser_free(&p);
    buf_free(&in);
}

/* Feed @in whole and in 1 to 3 random chunks: same transcript. */
static void check_any_split(const char *in, size_t n)
{
    struct buf whole = {0};
    struct buf split = {0};
    size_t cuts[3];
    size_t ncuts = 1 + rng_below(3);

    for (size_t c = 0; c < ncuts; c++)
        cuts[c] = rng_below(n + 1);
    for (size_t c = 1; c < ncuts; c++) {
        if (cuts[c] < cuts[c - 1])
            cuts[c] = cuts[c - 1];
    }
    transcript(&small, in, n, NULL, 0, &whole);
    transcript(&small, in, n, cuts, ncuts, &split);
    assert_string_equal(whole.data, split.data);
    check_split_literal(&small, in, n, cuts[0]);
    buf_free(&whole);
    buf_free(&split);
}

/* Bytes that mean something to the parser, more often than chance. */
static char random_byte(void)
{
    static const char interesting[] = "*$\r\n\r\n0123-9 \t\"'\\x4aZ";

    if (rng_below(2))
        return (char)rng_below(256);
    return interesting[rng_below(sizeof(interesting) - 1)];
}

static void test_fuzz_random_bytes(void **state)
{
    char in[96];

    (void)state;
    for (int round = 0; round < 50000; round++) {
        size_t n = rng_below(sizeof(in) + 1);

        for (size_t i = 0; i < n; i++)
            in[i] = random_byte();
        /* Half the time look like multibulk, so it gets past the '*'. */
        if (n > 0 && rng_below(2))
            in[0] = '*';
        check_any_split(in, n);
    }
}

/* Change @b a little: flip, insert, delete, duplicate or cut bytes. */
static void mutate(struct buf *b)
{
    size_t at = rng_below(b->len + 1);
    char c = random_byte();

    switch (rng_below(5)) {
    case 0:
        if (at < b->len)
            b->data[at] = c;
        break;
    case 1:
        buf_reserve(b, 1);
        memmove(b->data + at + 1, b->data + at, b->len - at);
        b->data[at] = c;
        b->len++;
        break;
    case 2:
        if (at < b->len) {
            memmove(b->data + at, b->data + at + 1, b->len - at - 1);
            b->len--;
        }
        break;
    case 3: {
        size_t n = rng_below(b->len - at + 1);

        buf_reserve(b, n);
        memmove(b->data + at + n, b->data + at, b->len - at);
        b->len += n;
        break;
    }
    default:
        b->len = at;
        break;
    }
}

static void test_fuzz_mutated(void **state)
{
    struct buf b = {0};

    (void)state;
    for (int round = 0; round < 50000; round++) {
        size_t parts = 1 + rng_below(3);

        buf_reset(&b);
        for (size_t i = 0; i < parts; i++) {
            const struct example *ex =
                &examples[rng_below(ARRAY_SIZE(examples))];

            buf_append(&b, ex->in, ex->n);
        }
        for (size_t m = 1 + rng_below(4); m > 0; m--)
            mutate(&b);
        check_any_split(b.data, b.len);
    }
    buf_free(&b);
}

static void assert_buf(struct buf *b, const char *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
    buf_reset(b);
}

#define ASSERT_BUF(b, lit) assert_buf(b, lit, sizeof(lit) - 1)

static void test_writers(void **state)
{
    struct buf b = {0};
    char big[2000];

    (void)state;
    resp_simple(&b, "OK");
    ASSERT_BUF(&b, "+OK\r\n");
    resp_simple(&b, "a\r\nb");
    ASSERT_BUF(&b, "+a  b\r\n");
    resp_simple(&b, "");
    ASSERT_BUF(&b, "+\r\n");
    resp_error(&b, "ERR bad\nthing");
    ASSERT_BUF(&b, "-ERR bad thing\r\n");
    resp_errorf(&b, "ERR unknown command '%s', %d args", "x\r\ny", 5);
    ASSERT_BUF(&b, "-ERR unknown command 'x  y', 5 args\r\n");
    resp_errorf(&b, "%s", "");
    ASSERT_BUF(&b, "-\r\n");

    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    resp_errorf(&b, "ERR %s", big);
    assert_int_equal(b.len, 5 + sizeof(big) - 1 + 2);
    assert_memory_equal(b.data, "-ERR e", 6);
    assert_memory_equal(b.data + b.len - 3, "e\r\n", 3);
    buf_reset(&b);

    resp_int(&b, 0);
    ASSERT_BUF(&b, ":0\r\n");
    resp_int(&b, -1);
    ASSERT_BUF(&b, ":-1\r\n");
    resp_int(&b, 42);
    ASSERT_BUF(&b, ":42\r\n");
    resp_int(&b, INT64_MAX);
    ASSERT_BUF(&b, ":9223372036854775807\r\n");
    resp_int(&b, INT64_MIN);
    ASSERT_BUF(&b, ":-9223372036854775808\r\n");

    resp_bulk(&b, "a\r\n\0b", 5);
    ASSERT_BUF(&b, "$5\r\na\r\n\0b\r\n");
    resp_bulk(&b, NULL, 0);
    ASSERT_BUF(&b, "$0\r\n\r\n");
    resp_bulk_str(&b, "hello");
    ASSERT_BUF(&b, "$5\r\nhello\r\n");
    resp_null(&b);
    ASSERT_BUF(&b, "$-1\r\n");
    resp_array(&b, 0);
    ASSERT_BUF(&b, "*0\r\n");
    resp_array(&b, 12);
    ASSERT_BUF(&b, "*12\r\n");
    resp_null_array(&b);
    ASSERT_BUF(&b, "*-1\r\n");

    /* Writers append; they never overwrite what is already there. */
    resp_array(&b, 2);
    resp_bulk_str(&b, "k");
    resp_int(&b, -7);
    resp_simple(&b, "PONG");
    resp_null(&b);
    ASSERT_BUF(&b, "*2\r\n$1\r\nk\r\n:-7\r\n+PONG\r\n$-1\r\n");
    buf_free(&b);
}

/* What the writers produce, the parser reads back (as a request). */
static void test_writers_round_trip(void **state)
{
    struct buf b = {0};
    struct resp_parser p;
    char value[300];

    (void)state;
    for (size_t i = 0; i < sizeof(value); i++)
        value[i] = (char)i;
    resp_array(&b, 3);
    resp_bulk_str(&b, "SET");
    resp_bulk(&b, "", 0);
    resp_bulk(&b, value, sizeof(value));
    resp_parser_init(&p, &roomy);
    assert_int_equal(resp_parse(&p, b.data, b.len), RESP_COMMAND);
    assert_int_equal(p.argc, 3);
    assert_int_equal(p.consumed, b.len);
    assert_int_equal(p.len[1], 0);
    assert_int_equal(p.len[2], sizeof(value));
    assert_memory_equal(resp_arg(&p, b.data, 2), value, sizeof(value));
    resp_parser_free(&p);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_whole),
        cmocka_unit_test(test_examples_every_split),
        cmocka_unit_test(test_multibulk_zero_copy),
        cmocka_unit_test(test_inline_scratch),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_limits_immediate),
        cmocka_unit_test(test_limits_unauthenticated),
        cmocka_unit_test(test_count_allocates_lazily),
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_drop_during_incomplete),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_bytewise_large),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_fuzz_mutated),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_writers_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
