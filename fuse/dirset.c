/* A sorted array under a mutex: the set is small (directories a user made
 * or emptied in this mount), and the key order keeps everything below a
 * directory in one run. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dirset.h"
#include "store.h"
#include "names.h"

struct member {
    char *key;
    size_t len;
};

struct dirset {
    pthread_mutex_t lock;
    struct member *v;
    size_t n;
    size_t cap;
};

/* The first member >= @key. */
static size_t lower_bound(const struct dirset *d, const char *key, size_t len)
{
    size_t lo = 0, hi = d->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (store_key_cmp(d->v[mid].key, d->v[mid].len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether the byte at @pos of @m is a '/' separating two segments. */
static bool separates_at(const struct member *m, size_t pos)
{
    size_t i = 0;

    while (i < pos) {
        i += names_segment_len(m->key + i, m->len - i);
        if (i == pos)
            return i < m->len;
        i++;
    }
    return false;
}

static bool is_below(const struct member *m, const char *key, size_t len)
{
    if (len == 0)
        return true;
    return m->len > len + 1 && memcmp(m->key, key, len) == 0 &&
           m->key[len] == '/' && separates_at(m, len);
}

struct dirset *dirset_new(void)
{
    struct dirset *d = xcalloc(1, sizeof(*d));

    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void dirset_free(struct dirset *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].key);
    free(d->v);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static void insert_locked(struct dirset *d, const char *key, size_t len)
{
    size_t at = lower_bound(d, key, len);

    if (at < d->n && store_key_cmp(d->v[at].key, d->v[at].len, key, len) == 0)
        return;
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    memmove(&d->v[at + 1], &d->v[at], (d->n - at) * sizeof(*d->v));
    d->v[at] = (struct member){xmemdup(key, len), len};
    d->n++;
}

static void erase_locked(struct dirset *d, size_t at)
{
    free(d->v[at].key);
    memmove(&d->v[at], &d->v[at + 1], (d->n - at - 1) * sizeof(*d->v));
    d->n--;
}

void dirset_add(struct dirset *d, const char *key, size_t len)
{
    if (len == 0)
        return;
    pthread_mutex_lock(&d->lock);
    insert_locked(d, key, len);
    pthread_mutex_unlock(&d->lock);
}

bool dirset_remove(struct dirset *d, const char *key, size_t len)
{
    bool found;
    size_t at;

    pthread_mutex_lock(&d->lock);
    at = lower_bound(d, key, len);
    found =
        at < d->n && store_key_cmp(d->v[at].key, d->v[at].len, key, len) == 0;
    if (found)
        erase_locked(d, at);
    pthread_mutex_unlock(&d->lock);
    return found;
}

/* A member below @key, if any, from the run of members starting with it. */
static bool has_below_locked(const struct dirset *d, const char *key,
                             size_t len)
{
    for (size_t i = lower_bound(d, key, len); i < d->n; i++) {
        const struct member *m = &d->v[i];

        if (m->len < len || (len > 0 && memcmp(m->key, key, len) != 0))
            break;
        if (is_below(m, key, len))
            return true;
    }
    return false;
}

bool dirset_has_children(struct dirset *d, const char *key, size_t len)
{
    bool found;

    pthread_mutex_lock(&d->lock);
    found = has_below_locked(d, key, len);
    pthread_mutex_unlock(&d->lock);
    return found;
}

bool dirset_exists(struct dirset *d, const char *key, size_t len)
{
    bool found;
    size_t at;

    if (len == 0)
        return true;
    pthread_mutex_lock(&d->lock);
    at = lower_bound(d, key, len);
    found = (at < d->n &&
             store_key_cmp(d->v[at].key, d->v[at].len, key, len) == 0) ||
            has_below_locked(d, key, len);
    pthread_mutex_unlock(&d->lock);
    return found;
}

static int name_cmp(const void *a, const void *b)
{
    const struct buf *x = a, *y = b;

    return store_key_cmp(x->data, x->len, y->data, y->len);
}

/* Sort and drop repeats. */
static size_t unique_names(struct buf *v, size_t n)
{
    size_t out = 0;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), name_cmp);
    for (size_t i = 1; i < n; i++) {
        if (name_cmp(&v[out], &v[i]) == 0)
            buf_free(&v[i]);
        else
            v[++out] = v[i];
    }
    return out + 1;
}

size_t dirset_children(struct dirset *d, const char *prefix, size_t len,
                       struct buf **names)
{
    struct buf *v = NULL;
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    for (size_t i = lower_bound(d, prefix, len); i < d->n; i++) {
        const struct member *m = &d->v[i];
        size_t seg;

        if (m->len < len || (len > 0 && memcmp(m->key, prefix, len) != 0))
            break;
        if (m->len == len || (len > 0 && !separates_at(m, len - 1)))
            continue;
        seg = names_segment_len(m->key + len, m->len - len);
        v = xrealloc(v, (n + 1) * sizeof(*v));
        v[n] = (struct buf){0};
        buf_append(&v[n++], m->key + len, seg);
    }
    pthread_mutex_unlock(&d->lock);
    *names = v;
    return unique_names(v, n);
}

void dirset_names_free(struct buf *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_free(&names[i]);
    free(names);
}

void dirset_rename(struct dirset *d, const char *from, size_t from_len,
                   const char *to, size_t to_len)
{
    struct member *moved = NULL;
    size_t n_moved = 0;

    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n;) {
        struct member *m = &d->v[i];
        bool at_to = store_key_cmp(m->key, m->len, to, to_len) == 0 ||
                     is_below(m, to, to_len);
        bool at_from = store_key_cmp(m->key, m->len, from, from_len) == 0 ||
                       is_below(m, from, from_len);

        if (at_from) {
            moved = xrealloc(moved, (n_moved + 1) * sizeof(*moved));
            moved[n_moved++] = *m;
            memmove(m, m + 1, (d->n - i - 1) * sizeof(*m));
            d->n--;
        } else if (at_to) {
            erase_locked(d, i);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < n_moved; i++) {
        struct buf k = {0};

        buf_append(&k, to, to_len);
        buf_append(&k, moved[i].key + from_len, moved[i].len - from_len);
        insert_locked(d, k.data, k.len);
        buf_free(&k);
        free(moved[i].key);
    }
    free(moved);
    pthread_mutex_unlock(&d->lock);
}
