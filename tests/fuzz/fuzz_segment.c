/* libFuzzer target: the open-segment damage check (src/segment.h), which
 * reads whatever a data directory holds before the node starts.
 *
 * Whatever the bytes, the check returns 0 or 1 without reading past them;
 * when it reports damage, the intact batch it names lies after the damage,
 * inside the input, and is intact when looked at again. The input is copied
 * to an exact-size buffer first, so a read past its end trips ASan. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size > 0 ? size : 1);
    struct segment_damage d;
    size_t batch;
    int rv;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    rv = segment_find_damage(copy, size, &d);
    CHECK(rv == 0 || rv == 1);
    if (rv == 1) {
        CHECK(d.at >= 8 && d.intact_at > d.at && d.intact_at < size);
        CHECK(d.intact_at % 8 == 0);
        CHECK(segment_batch_at(copy, size, d.intact_at, &batch));
        CHECK(batch <= size - d.intact_at);
    }
    /* Every whole batch from the start lies inside the input. */
    for (size_t off = 8;
         off < size && segment_batch_at(copy, size, off, &batch); off += batch)
        CHECK(batch >= 32 && batch <= size - off);
    free(copy);
    return 0;
}
