/* libFuzzer target: the FUSE key <-> path mapping (fuse/names.h).
 *
 * Every input is used twice. As a key (any bytes): its path must parse
 * back to the same key, its own-value path ("<path>/%") too when it can be
 * a directory, and every prefix of its path that ends in a continued
 * component must parse as a partial path naming a prefix of the key. As a
 * path (up to the first NUL, '/' put in front when missing): when it
 * parses, encoding what it names must give back the same path. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "util.h"

#include "fuzz.h"

static bool buf_eq(const struct buf *b, const char *p, size_t n)
{
    return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

static void check_components(const char *path)
{
    const char *p = path + 1;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

        CHECK(len >= 1 && len <= NAMES_COMPONENT_MAX);
        /* "%" is only ever the empty key's whole path. */
        CHECK(!(len == 1 && p[0] == '%') || strcmp(path, "/%") == 0);
        if (slash == NULL)
            return;
        /* Only a whole chunk may be followed by another component of the
         * same segment; the check is that it parses, below. */
        p = slash + 1;
    }
}

/* Every prefix of @path (the path of @key) cut after a "%+" component. */
static void check_partials(const char *key, size_t len, char *path)
{
    for (char *q = strstr(path, NAMES_CONT "/"); q != NULL;
         q = strstr(q + 2, NAMES_CONT "/")) {
        struct names_path np;

        q[2] = '\0';
        CHECK(names_parse(path, &np) == 0);
        CHECK(np.kind == NAMES_PARTIAL);
        CHECK(np.depth >= 1 && np.dir_len <= np.key.len);
        CHECK(np.key.len <= len && memcmp(np.key.data, key, np.key.len) == 0);
        names_path_free(&np);
        q[2] = '/';
    }
}

static void key_round_trip(const char *key, size_t len)
{
    struct buf path = {0};
    struct names_path np;

    buf_append(&path, "/", 1);
    names_encode_key(key, len, &path);
    buf_append(&path, "", 1);
    CHECK(strlen(path.data) == path.len - 1); /* no NUL in a path */
    check_components(path.data);
    CHECK(names_parse(path.data, &np) == 0);
    CHECK(np.kind == (len == 0 ? NAMES_OWN_KEY : NAMES_KEY));
    CHECK(buf_eq(&np.key, key, len));
    names_path_free(&np);
    check_partials(key, len, path.data);
    if (len > 0 && names_dir_capable(key, len)) {
        path.len--;
        buf_append(&path, "/" NAMES_OWN, 3); /* with its NUL */
        CHECK(names_parse(path.data, &np) == 0);
        CHECK(np.kind == NAMES_OWN_KEY && buf_eq(&np.key, key, len));
        names_path_free(&np);
    }
    buf_free(&path);
}

/* What @np (parsed from @path) encodes back to, without the leading '/'. */
static void encode_parsed(const struct names_path *np, struct buf *out)
{
    switch (np->kind) {
    case NAMES_ROOT:
        break;
    case NAMES_KEY:
        names_encode_key(np->key.data, np->key.len, out);
        break;
    case NAMES_OWN_KEY:
        if (np->key.len > 0) {
            names_encode_key(np->key.data, np->key.len, out);
            buf_append(out, "/", 1);
        }
        buf_append_str(out, NAMES_OWN);
        break;
    case NAMES_PARTIAL:
        CHECK(np->depth >= 1 && np->chunks.len >= 1);
        if (np->dir_len > 0) {
            CHECK(np->key.data[np->dir_len - 1] == '/');
            names_encode_key(np->key.data, np->dir_len - 1, out);
            buf_append(out, "/", 1);
        }
        buf_append(out, np->chunks.data, np->chunks.len - 1);
        break;
    }
}

static void path_round_trip(const char *data, size_t size)
{
    struct buf path = {0}, again = {0};
    struct names_path np;
    size_t n = strnlen(data, size);
    int rv;

    if (n == 0 || data[0] != '/')
        buf_append(&path, "/", 1);
    buf_append(&path, data, n);
    buf_append(&path, "", 1);
    rv = names_parse(path.data, &np);
    CHECK(rv == 0 || rv == -ENOENT);
    if (rv == 0) {
        encode_parsed(&np, &again);
        CHECK(buf_eq(&again, path.data + 1, path.len - 2));
        if (np.kind == NAMES_KEY || np.kind == NAMES_OWN_KEY)
            key_round_trip(np.key.data, np.key.len);
        names_path_free(&np);
    }
    buf_free(&again);
    buf_free(&path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = xmalloc(size > 0 ? size : 1);

    memcpy(copy, data, size);
    key_round_trip(copy, size);
    path_round_trip(copy, size);
    free(copy);
    return 0;
}
