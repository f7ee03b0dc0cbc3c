/* The mapping between keys and paths of the FUSE view: pure functions, no
 * I/O. docs/fuse.md states the rules for users; in short:
 *
 * A key is cut into segments at '/' bytes. A '/' separates two segments
 * when the segment before it is not empty and it is not the key's last
 * byte; every other '/' belongs to a segment (so a segment holds a '/' only
 * as its first or, at the key's end, its last byte). Each segment is one
 * path component, escaped: NUL and '/' become %00 and %2F; a segment "."
 * or ".." is written %2E or %2E%2E. A '%' stays as it is unless a reader
 * would take it for an escape: it becomes %25 when followed by 00, 2F or
 * 25, when it would end the component as "%+", and in the components "%",
 * "%2E" and "%2E%2E". So "100%" is the file "100%", and every key still
 * has exactly one path.
 *
 * A segment longer than NAME_MAX once escaped is cut into components of
 * 251 to 253 escaped bytes, each followed by the marker "%+" ("continued
 * in the next component"), and a last component of at most NAME_MAX. The
 * cut falls greedily on whole escapes.
 *
 * A key that is also a directory (keys "a" and "a/b") is a directory; its
 * own value is the file "%" inside it ("a/%"). The empty key is "/%".
 * Escaping never yields a component "%" or one ending in "%+", so neither
 * can clash with an escaped segment. */

#ifndef CASHE_FUSE_NAMES_H
#define CASHE_FUSE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define NAMES_COMPONENT_MAX 255  /* NAME_MAX */
#define NAMES_CHUNK_MAX     253  /* escaped bytes before a "%+" marker */
#define NAMES_OWN           "%"  /* a directory's own value */
#define NAMES_CONT          "%+" /* the segment goes on in the next component */

/* Length of the first segment of @rest, which is a whole key or what
 * follows a directory's prefix in one: up to the first '/' at index 1 or
 * later that is not the last byte, or @len when there is none. CASHE.LS in
 * the daemon cuts child names by the same rule. */
size_t names_segment_len(const char *rest, size_t len);

/* True when a key can be a directory: it is empty (the root), or its last
 * segment is "/" or does not end in '/'. A segment ending in a '/' that is
 * not its first byte only exists at the end of a key. */
bool names_dir_capable(const char *key, size_t len);

/* Append the components of one segment (@len > 0), joined by '/'. */
void names_encode_segment(const char *seg, size_t len, struct buf *out);

/* Append the path of @key relative to the mount's root, without a leading
 * '/'. The empty key gives "%". */
void names_encode_key(const char *key, size_t len, struct buf *out);

/* Component @index (from 0) of @seg's encoding, appended to @out. Returns 1
 * when it is a continued component (ends in "%+": a directory in
 * listings), 0 when it is the last, -1 when there is no such component. */
int names_segment_component(const char *seg, size_t len, size_t index,
                            struct buf *out);

enum names_kind {
    NAMES_ROOT,    /* "/" */
    NAMES_KEY,     /* a key's path: a file, a directory or both */
    NAMES_OWN_KEY, /* ".../%": the own value of the directory around it */
    NAMES_PARTIAL, /* a continued component: part of a long segment */
};

/* A parsed path. For NAMES_KEY and NAMES_OWN_KEY, key is the key. For
 * NAMES_PARTIAL, key is the directory prefix (dir_len bytes, empty or
 * ending in '/') followed by the part of the segment the path names, and
 * chunks is the path's run of continued components, each followed by '/'
 * (the text a child's encoding starts with). */
struct names_path {
    enum names_kind kind;
    struct buf key;
    size_t dir_len;
    size_t depth; /* NAMES_PARTIAL: how many continued components */
    struct buf chunks;
};

/* Parse an absolute path as FUSE passes it ("/", "/a/b"). Returns 0, or
 * -ENOENT for a path no key maps to: bad escapes, escapes of bytes that
 * need none, lowercase hex, '%' where it cannot be, a cut that is not the
 * one names_encode_key() makes. A NAMES_PARTIAL path is checked only
 * component by component: whether a key continues it is for the caller to
 * find out. @out is written only on success; free it with
 * names_path_free(). */
int names_parse(const char *path, struct names_path *out);

void names_path_free(struct names_path *p);

#endif /* CASHE_FUSE_NAMES_H */
