/* The keyspace: an ordered in-memory map of binary-safe keys to values.
 *
 * Keys sort by memcmp order, shorter first on a common prefix, so every key
 * that starts with a prefix forms one contiguous run: prefix listing seeks to
 * the prefix and walks forward, never scanning the whole map.
 *
 * The store knows nothing of clocks, Raft or clients. Callers pass every time
 * and revision in; the store never reads a clock, so replicas that apply the
 * same commands reach the same state. Expired entries stay until a caller
 * deletes them; store_live() is the one place that decides whether an entry
 * is visible at a given time. */

#ifndef CASHE_STORE_H
#define CASHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* What a caller may read of an entry. The pointers stay valid until the entry
 * is next modified or deleted, or the store is freed. */
struct store_entry {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t expire_ms;   /* absolute, ms since the epoch; 0: no expiry */
    int64_t mtime_ms;    /* time of the last change to value or expiry */
    uint64_t create_rev; /* store revision that created the key */
    uint64_t mod_rev;    /* store revision of the last change */
    uint64_t version;    /* number of changes since creation, from 1 */
};

/* The store's key order: memcmp, then shorter first. <0, 0 or >0. */
int store_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

struct store *store_new(void);
void store_free(struct store *s);

/* Remove every entry. */
void store_clear(struct store *s);

/* Number of entries, expired ones included, and the bytes their keys and
 * values take. */
size_t store_count(const struct store *s);
size_t store_bytes(const struct store *s);

/* True when @e exists and has not expired at @now_ms. */
bool store_live(const struct store_entry *e, int64_t now_ms);

/* The entry for @key, expired or not; NULL when absent. */
const struct store_entry *store_get(const struct store *s, const char *key,
                                    size_t key_len);

/* Hints, for a caller about to look up keys one after another (applying a
 * batch of entries): each brings part of a lookup toward the CPU cache, so
 * that the misses of several lookups overlap instead of adding up. Call
 * store_prefetch_slot() some keys ahead, then store_prefetch_node() for the
 * same key a few keys later, once its slot is likely cached. Neither
 * changes anything, and neither is needed for a correct result. */
void store_prefetch_slot(const struct store *s, const char *key,
                         size_t key_len);
void store_prefetch_node(const struct store *s, const char *key,
                         size_t key_len);

/* Create or replace @key with a copy of @value. On creation create_rev is
 * @rev and version 1; on replace version grows by one. mod_rev becomes @rev,
 * mtime_ms @now_ms and expire_ms @expire_ms (0 clears any expiry). Returns
 * the entry. */
const struct store_entry *store_set(struct store *s, const char *key,
                                    size_t key_len, const char *value,
                                    size_t value_len, int64_t expire_ms,
                                    uint64_t rev, int64_t now_ms);

/* Change only the expiry of an existing key, counting it as a change (mod_rev,
 * version and mtime move). Returns false when @key is absent. */
bool store_set_expire(struct store *s, const char *key, size_t key_len,
                      int64_t expire_ms, uint64_t rev, int64_t now_ms);

/* Delete @key. Returns true when it existed. */
bool store_del(struct store *s, const char *key, size_t key_len);

/* Insert an entry exactly as given, metadata included (snapshot restore).
 * The key must not exist yet. */
void store_load(struct store *s, const struct store_entry *e);

/* Ordered iteration: the first entry whose key is >= @key (NULL when there is
 * none), and the entry after @e (NULL at the end). Expired entries are
 * included; callers filter with store_live(). Modifying the store invalidates
 * @e for store_next(). */
const struct store_entry *store_seek(const struct store *s, const char *key,
                                     size_t key_len);
const struct store_entry *store_first(const struct store *s);
const struct store_entry *store_next(const struct store *s,
                                     const struct store_entry *e);

/* Expiry index. The earliest expire_ms among entries with an expiry, or 0
 * when none has one. */
int64_t store_next_expiry(const struct store *s);

/* Call @fn for up to @max entries whose expire_ms is <= @now_ms, earliest
 * first, without changing the store. Returns how many were visited. @fn must
 * not modify the store. */
size_t store_expired(const struct store *s, int64_t now_ms, size_t max,
                     void (*fn)(const struct store_entry *e, void *arg),
                     void *arg);

#endif /* CASHE_STORE_H */
