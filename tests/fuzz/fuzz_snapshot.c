/* libFuzzer target: the snapshot decoder (src/snapshot.h).
 *
 * Each input is decoded twice: as it is, and with its last four bytes
 * replaced by the right CRC-32, so mutations reach the layout checks
 * behind the checksum instead of all dying at it. Whatever decodes must
 * encode to a snapshot that decodes again and encodes to the same bytes. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "members.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

#include "fuzz.h"

/* Decode @data into a fresh store; on success append its re-encoding to
 * @out. Returns what snapshot_decode() returned. */
static int decode_encode(const char *data, size_t size, struct buf *out)
{
    struct store *s = store_new();
    struct members m;
    uint64_t rev = 0;
    char err[256];
    int rv;

    members_init(&m);
    err[0] = '\0';
    rv = snapshot_decode(data, size, s, &m, &rev, err, sizeof(err));
    CHECK(rv == 0 || rv == -EBADMSG || rv == -EPROTO);
    CHECK(rv == 0 || err[0] != '\0');
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rv == 0)
        snapshot_encode(out, s, &m, rev);
    members_free(&m);
    store_free(s);
    return rv;
}

static void check_one(const char *data, size_t size)
{
    struct buf a = {0}, b = {0};
    char *copy;

    if (decode_encode(data, size, &a) == 0) {
        /* An exact-size copy, so a read past the end trips ASan. */
        copy = xmemdup(a.data, a.len);
        CHECK(decode_encode(copy, a.len, &b) == 0);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        free(copy);
    }
    buf_free(&a);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = xmalloc(size > 0 ? size : 1);

    memcpy(copy, data, size);
    check_one(copy, size);
    if (size >= 4) {
        uint32_t crc =
            (uint32_t)crc32(0L, (const Bytef *)copy, (uInt)(size - 4));
        struct buf le = {0};

        put_u32(&le, crc);
        if (memcmp(copy + size - 4, le.data, 4) != 0) {
            memcpy(copy + size - 4, le.data, 4);
            check_one(copy, size);
        }
        buf_free(&le);
    }
    free(copy);
    return 0;
}
