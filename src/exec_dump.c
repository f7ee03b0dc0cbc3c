/* CASHE.DUMP: the whole keyspace as one blob, for `cashectl snapshot save`.
 *
 * It is an ordinary read, so the server runs it after a commit that began
 * once it arrived: the blob is a linearizable, point-in-time copy, never a
 * mix of before and after a write. The encoding is the snapshot format
 * (snapshot.h) with an empty member table: a dump carries data, not a
 * cluster's identity, so it can seed any other cluster. */

#include "exec_internal.h"
#include "resp.h"
#include "snapshot.h"

/* A dump has no revision counter of its own: the newest key's revision
 * says how recent it is. */
static uint64_t newest_revision(const struct store *s)
{
    uint64_t rev = 0;

    for (const struct store_entry *e = store_first(s); e != NULL;
         e = store_next(s, e)) {
        if (e->mod_rev > rev)
            rev = e->mod_rev;
    }
    return rev;
}

/* CASHE.DUMP: a bulk string in the snapshot format. Keys that expired and
 * were not deleted yet are included with their expiry; whoever loads the
 * dump skips what has expired by then. */
void exec_cashe_dump(struct exec_ctx *ctx, int argc, const char **argv,
                     const size_t *lens)
{
    struct members none;
    struct buf blob = {0};

    members_init(&none);
    snapshot_encode(&blob, ctx->store, &none, newest_revision(ctx->store));
    resp_bulk(ctx->reply, blob.data, blob.len);
    buf_free(&blob);
    members_free(&none);
}
