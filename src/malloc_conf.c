/* The allocator's settings, when cashed is linked with jemalloc: the
 * library reads this symbol at its first allocation, before main().
 *
 * The keyspace is long-lived small blocks, the Raft log short-lived blocks
 * of about the same sizes: during a fast fill they interleave, and once a
 * snapshot trims the log its blocks leave holes between keys. jemalloc keeps
 * each size in its own slabs and hands whole free pages back to the kernel
 * after dirty_decay_ms; a background thread does that purging, so the event
 * loop never pays for it. muzzy_decay_ms 0 skips MADV_FREE, whose pages
 * would still count in the RSS an operator watches. */

const char *malloc_conf =
    "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
