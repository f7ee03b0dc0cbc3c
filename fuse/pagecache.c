/* A fixed-size chained hash table under one mutex. It only ever forgets
 * safely: a key without a record drops its pages at the next open, so
 * when the table fills up it is simply emptied. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pagecache.h"
#include "util.h"

#define BUCKETS     16384
#define MAX_RECORDS 65536

struct record {
    struct record *next;
    uint64_t sig;
    size_t len;
    char key[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct record *buckets[BUCKETS];
static size_t n_records;

/* FNV-1a: not for adversaries, who could only make a reader of this
 * mount see a value the key held earlier anyway. */
static uint64_t hash_bytes(const char *p, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t pagecache_sig(const char *value, size_t len)
{
    uint64_t h = hash_bytes(value, len, 0xcbf29ce484222325ull);

    /* Mix the length in, so that values of different sizes never match. */
    return h ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
}

static struct record **slot(const char *key, size_t len)
{
    uint64_t h = hash_bytes(key, len, 0xcbf29ce484222325ull);
    struct record **r = &buckets[h % BUCKETS];

    while (*r != NULL &&
           ((*r)->len != len || (len > 0 && memcmp((*r)->key, key, len))))
        r = &(*r)->next;
    return r;
}

static void clear_locked(void)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        while (buckets[i] != NULL) {
            struct record *r = buckets[i];

            buckets[i] = r->next;
            free(r);
        }
    }
    n_records = 0;
}

static void remove_locked(const char *key, size_t len)
{
    struct record **r = slot(key, len);
    struct record *dead = *r;

    if (dead == NULL)
        return;
    *r = dead->next;
    free(dead);
    n_records--;
}

bool pagecache_open(const char *key, size_t len, uint64_t sig, bool allowed)
{
    const struct record *r;
    bool keep;

    pthread_mutex_lock(&lock);
    r = *slot(key, len);
    keep = allowed && r != NULL && r->sig == sig;
    if (!keep)
        remove_locked(key, len);
    pthread_mutex_unlock(&lock);
    return keep;
}

void pagecache_filled(const char *key, size_t len, uint64_t sig)
{
    struct record **r;

    pthread_mutex_lock(&lock);
    r = slot(key, len);
    if (*r == NULL) {
        if (n_records >= MAX_RECORDS) {
            clear_locked();
            r = slot(key, len);
        }
        *r = xmalloc(sizeof(**r) + len);
        (*r)->next = NULL;
        (*r)->len = len;
        if (len > 0)
            memcpy((*r)->key, key, len);
        n_records++;
    }
    (*r)->sig = sig;
    pthread_mutex_unlock(&lock);
}

void pagecache_taint(const char *key, size_t len)
{
    pthread_mutex_lock(&lock);
    remove_locked(key, len);
    pthread_mutex_unlock(&lock);
}

void pagecache_clear(void)
{
    pthread_mutex_lock(&lock);
    clear_locked();
    pthread_mutex_unlock(&lock);
}
