/* Keys to paths and back. Decoding is checked by encoding again: a path is
 * accepted only when it is exactly what names_encode_key() makes of the key
 * it decodes to, which is what makes the mapping one to one. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* An escaped byte is "%XX": three bytes in place of one. */
#define ESCAPE_LEN 3

static const char hex_digits[] = "0123456789ABCDEF";

/* The two digits after a '%' that make it an escape anywhere: NUL, '/',
 * '%'. ("%2E" is an escape only as a whole "." or ".." component.) */
static bool is_code(const char *s, size_t avail)
{
    return avail >= 2 && ((s[0] == '0' && s[1] == '0') ||
                          (s[0] == '2' && (s[1] == 'F' || s[1] == '5')));
}

static bool is_dots(const char *s, size_t len)
{
    return (len == 1 && s[0] == '.') ||
           (len == 2 && s[0] == '.' && s[1] == '.');
}

/* A component whose literal text would read as "." or "..", or as the
 * own-value name "%". */
static bool is_reserved_text(const char *s, size_t len)
{
    return (len == 1 && s[0] == '%') ||
           (len == 3 && memcmp(s, "%2E", 3) == 0) ||
           (len == 6 && memcmp(s, "%2E%2E", 6) == 0);
}

/* Whether byte @i of segment @seg is written escaped. A '%' is, only when
 * a reader would otherwise take it for an escape or for the "%+" marker
 * at the segment's end; the decision looks at the segment's bytes, not at
 * where a long segment is cut, so it is the same on both sides of a cut. */
static bool escaped_at(const char *seg, size_t len, size_t i)
{
    char c = seg[i];

    if (c == '\0' || c == '/')
        return true;
    if (c != '%')
        return false;
    return is_code(seg + i + 1, len - i - 1) ||
           (i + 2 == len && seg[i + 1] == '+');
}

static size_t unit_len(const char *seg, size_t len, size_t i)
{
    return escaped_at(seg, len, i) ? ESCAPE_LEN : 1;
}

static void put_escape(struct buf *out, unsigned char c)
{
    char e[ESCAPE_LEN] = {'%', hex_digits[c >> 4], hex_digits[c & 15]};

    buf_append(out, e, sizeof(e));
}

/* Bytes [@from, @to) of the segment. */
static void escape_range(const char *seg, size_t len, size_t from, size_t to,
                         struct buf *out)
{
    size_t run = from;

    for (size_t i = from; i < to; i++) {
        if (!escaped_at(seg, len, i))
            continue;
        buf_append(out, seg + run, i - run);
        put_escape(out, (unsigned char)seg[i]);
        run = i + 1;
    }
    buf_append(out, seg + run, to - run);
}

/* The last component of a segment: the bytes from @from to its end. */
static void escape_last(const char *seg, size_t len, size_t from,
                        struct buf *out)
{
    const char *s = seg + from;
    size_t n = len - from;

    if (!is_dots(s, n) && !is_reserved_text(s, n)) {
        escape_range(seg, len, from, len, out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' || s[i] == '%')
            put_escape(out, (unsigned char)s[i]);
        else
            buf_append(out, s + i, 1);
    }
}

size_t names_segment_len(const char *rest, size_t len)
{
    for (size_t i = 1; i + 1 < len; i++) {
        if (rest[i] == '/')
            return i;
    }
    return len;
}

bool names_dir_capable(const char *key, size_t len)
{
    size_t start = 0;

    if (len == 0)
        return true;
    for (;;) {
        size_t seg = names_segment_len(key + start, len - start);

        if (start + seg == len)
            return key[len - 1] != '/' || seg == 1;
        start += seg + 1;
    }
}

void names_encode_segment(const char *seg, size_t len, struct buf *out)
{
    size_t rest = 0;
    size_t i = 0;

    for (size_t k = 0; k < len; k++)
        rest += unit_len(seg, len, k);
    /* The last component's special cases are all short: never cut. */
    while (rest > NAMES_COMPONENT_MAX) {
        size_t start = i;
        size_t n = 0;

        while (n + unit_len(seg, len, i) <= NAMES_CHUNK_MAX)
            n += unit_len(seg, len, i++);
        escape_range(seg, len, start, i, out);
        buf_append_str(out, NAMES_CONT "/");
        rest -= n;
    }
    escape_last(seg, len, i, out);
}

void names_encode_key(const char *key, size_t len, struct buf *out)
{
    size_t i = 0;

    if (len == 0) {
        buf_append_str(out, NAMES_OWN);
        return;
    }
    for (;;) {
        size_t seg = names_segment_len(key + i, len - i);

        names_encode_segment(key + i, seg, out);
        i += seg;
        if (i == len)
            return;
        buf_append(out, "/", 1); /* key[i] is the separator */
        i++;
    }
}

int names_segment_component(const char *seg, size_t len, size_t index,
                            struct buf *out)
{
    struct buf enc = {0};
    const char *p, *end, *slash;
    int rv = -1;

    names_encode_segment(seg, len, &enc);
    p = enc.data;
    end = enc.data + enc.len;
    for (size_t i = 0;; i++) {
        slash = memchr(p, '/', (size_t)(end - p));
        if (i == index) {
            buf_append(out, p,
                       slash != NULL ? (size_t)(slash - p) : (size_t)(end - p));
            rv = slash != NULL;
            break;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    buf_free(&enc);
    return rv;
}

/* ---- parsing ----------------------------------------------------------- */

struct component {
    const char *p;
    size_t len;
};

static bool is_continued(const struct component *c)
{
    return c->len > 2 && memcmp(c->p + c->len - 2, NAMES_CONT, 2) == 0;
}

static bool is_own(const struct component *c)
{
    return c->len == 1 && c->p[0] == NAMES_OWN[0];
}

/* Unescape one component's text (without a "%+" marker); @last: it ends
 * its segment. Every text decodes to something; whether it is the
 * encoding of what it decodes to is checked by encoding again. */
static void unescape(const char *s, size_t len, bool last, struct buf *out)
{
    if (last && len == 3 && memcmp(s, "%2E", 3) == 0) {
        buf_append(out, ".", 1);
        return;
    }
    if (last && len == 6 && memcmp(s, "%2E%2E", 6) == 0) {
        buf_append(out, "..", 2);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%' && is_code(s + i + 1, len - i - 1)) {
            c = s[i + 1] == '0' ? '\0' : s[i + 2] == 'F' ? '/' : '%';
            i += 2;
        }
        buf_append(out, &c, 1);
    }
}

/* Components [0, n) as a key; they must be exactly its encoding. */
static int decode_key(const struct component *c, size_t n, struct buf *key)
{
    struct buf check = {0};
    const char *text = n > 0 ? c[0].p : "";
    size_t text_len = n > 0 ? (size_t)(c[n - 1].p + c[n - 1].len - text) : 0;
    int rv = 0;

    for (size_t i = 0; i < n; i++) {
        bool cont = is_continued(&c[i]);

        if (is_own(&c[i]) || (cont && i == n - 1))
            return -ENOENT;
        unescape(c[i].p, c[i].len - (cont ? 2 : 0), !cont, key);
        if (!cont && i + 1 < n)
            buf_append(key, "/", 1);
    }
    if (n > 0) {
        names_encode_key(key->data, key->len, &check);
        if (check.len != text_len || memcmp(check.data, text, text_len) != 0)
            rv = -ENOENT;
    }
    buf_free(&check);
    return rv;
}

/* A continued component: 251-253 escaped bytes, and no '/' but a
 * segment's first. The rest (the cut, the escapes) is for the caller, who
 * compares with the encodings of real keys. */
static int decode_chunk(const struct component *c, bool first, struct buf *key)
{
    size_t len = c->len - 2;
    size_t start = key->len;

    if (len + 2 < NAMES_CHUNK_MAX || len > NAMES_CHUNK_MAX)
        return -ENOENT;
    unescape(c->p, len, false, key);
    for (size_t i = start; i < key->len; i++) {
        if (key->data[i] == '/' && !(first && i == start))
            return -ENOENT;
    }
    return 0;
}

static int parse_partial(const struct component *c, size_t n,
                         struct names_path *out)
{
    size_t run = n;
    int rv;

    while (run > 0 && is_continued(&c[run - 1]))
        run--;
    rv = decode_key(c, run, &out->key);
    if (rv != 0)
        return rv;
    if (run > 0) {
        if (!names_dir_capable(out->key.data, out->key.len))
            return -ENOENT;
        buf_append(&out->key, "/", 1);
    }
    out->dir_len = out->key.len;
    for (size_t i = run; i < n && rv == 0; i++) {
        rv = decode_chunk(&c[i], i == run, &out->key);
        buf_append(&out->chunks, c[i].p, c[i].len);
        buf_append(&out->chunks, "/", 1);
    }
    out->depth = n - run;
    out->kind = NAMES_PARTIAL;
    return rv;
}

static int parse_components(const struct component *c, size_t n,
                            struct names_path *out)
{
    int rv;

    if (n == 0) {
        out->kind = NAMES_ROOT;
        return 0;
    }
    if (is_own(&c[n - 1])) {
        rv = decode_key(c, n - 1, &out->key);
        if (rv == 0 && !names_dir_capable(out->key.data, out->key.len))
            rv = -ENOENT;
        out->kind = NAMES_OWN_KEY;
        return rv;
    }
    if (is_continued(&c[n - 1]))
        return parse_partial(c, n, out);
    out->kind = NAMES_KEY;
    return decode_key(c, n, &out->key);
}

static size_t split_path(const char *path, struct component **out)
{
    struct component *c = NULL;
    size_t n = 0;
    const char *p = path + 1;

    if (*p == '\0') {
        *out = NULL;
        return 0;
    }
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

        c = xrealloc(c, (n + 1) * sizeof(*c));
        c[n++] = (struct component){p, len};
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    *out = c;
    return n;
}

int names_parse(const char *path, struct names_path *out)
{
    struct names_path p = {0};
    struct component *c;
    size_t n;
    int rv = 0;

    if (path[0] != '/')
        return -ENOENT;
    n = split_path(path, &c);
    for (size_t i = 0; i < n; i++) {
        if (c[i].len == 0 || c[i].len > NAMES_COMPONENT_MAX)
            rv = -ENOENT;
    }
    if (rv == 0)
        rv = parse_components(c, n, &p);
    free(c);
    if (rv != 0) {
        names_path_free(&p);
        return rv;
    }
    *out = p;
    return 0;
}

void names_path_free(struct names_path *p)
{
    buf_free(&p->key);
    buf_free(&p->chunks);
}
