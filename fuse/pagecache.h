/* What the kernel's page cache of each file may hold, so that an open
 * keeps it (FOPEN_KEEP_CACHE) only when it holds the very value the open
 * read.
 *
 * The kernel fills a file's pages from our read replies and from writes
 * only. The signature of the value behind the last read reply of a key
 * therefore says what its pages hold; a write through the mount taints
 * them. An open whose value has that signature may keep the pages, any
 * other open drops them. The choice needs no keyspace event: it compares
 * the value the open has just read (a linearizable GET) with what filled
 * the pages, so a kept page is never older than the open's own read.
 *
 * All functions are thread-safe. */

#ifndef CASHE_FUSE_PAGECACHE_H
#define CASHE_FUSE_PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The signature of a value: its length and a 64-bit hash of its bytes. */
uint64_t pagecache_sig(const char *value, size_t len);

/* An open of @key read a value with signature @sig. True when the pages
 * may be kept (@allowed, and they were filled from the same value). When
 * false the kernel drops them, and so does the record. */
bool pagecache_open(const char *key, size_t len, uint64_t sig, bool allowed);

/* A read reply of @key came from a value with signature @sig. */
void pagecache_filled(const char *key, size_t len, uint64_t sig);

/* The pages of @key may hold anything: a write, a truncate, a change
 * elsewhere. The next open drops them. */
void pagecache_taint(const char *key, size_t len);

/* Forget every key (a directory moved, events were lost). */
void pagecache_clear(void);

#endif /* CASHE_FUSE_PAGECACHE_H */
