#include "segment.h"

#include <string.h>

#define FORMAT       1
#define ENTRY_HEADER 16 /* term, type, 3 unused bytes, size */
#define RAFT_TYPES   3  /* command, barrier, configuration change */

static uint32_t crc_table[256];

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;

        for (int k = 0; k < 8; k++)
            c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
        crc_table[i] = c;
    }
}

uint32_t segment_crc(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint32_t crc = 0;

    if (crc_table[1] == 0)
        crc_table_init();
    for (size_t i = 0; i < len; i++)
        crc = (crc << 8) ^ crc_table[((crc >> 24) ^ b[i]) & 0xff];
    return crc;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One entry header of a batch: a term and a known type. The 3 bytes after
 * the type are whatever the library's buffer held: not checked. */
static int entry_header_ok(const unsigned char *e)
{
    return le64(e) != 0 && e[8] >= 1 && e[8] <= RAFT_TYPES;
}

int segment_batch_at(const unsigned char *p, size_t len, size_t off,
                     size_t *size)
{
    size_t left, header, data = 0;
    uint64_t n;

    if (off > len || len - off < 8 + 8 + ENTRY_HEADER)
        return 0;
    left = len - off - 8;
    n = le64(p + off + 8);
    /* Cheap tests first: most offsets of a damaged region fail here. */
    if (n == 0 || n > (left - 8) / ENTRY_HEADER ||
        !entry_header_ok(p + off + 16))
        return 0;
    header = 8 + (size_t)n * ENTRY_HEADER;
    if (segment_crc(p + off + 8, header) != le32(p + off))
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = p + off + 16 + i * ENTRY_HEADER;
        size_t sz = le32(e + 12);

        if (!entry_header_ok(e))
            return 0;
        data += (sz + 7) / 8 * 8;
        if (data > left - header)
            return 0;
    }
    if (segment_crc(p + off + 8 + header, data) != le32(p + off + 4))
        return 0;
    *size = 8 + header + data;
    return 1;
}

/* Zeros where the next batch would start: the end of what was written. */
static int end_of_data(const unsigned char *p, size_t len, size_t off)
{
    static const unsigned char zeros[16];

    return off > len || len - off < sizeof(zeros) ||
           memcmp(p + off, zeros, sizeof(zeros)) == 0;
}

int segment_find_damage(const unsigned char *p, size_t len,
                        struct segment_damage *d)
{
    size_t off = 8, size;

    memset(d, 0, sizeof(*d));
    if (len < 8 || le64(p) != FORMAT)
        return 0;
    while (!end_of_data(p, len, off) && segment_batch_at(p, len, off, &size)) {
        d->batches++;
        off += size;
    }
    /* Where the batches stop, zeros or not, nothing intact may follow:
     * each batch is durable before the next is written. Batches start
     * 8-byte aligned; most offsets fail segment_batch_at()'s first tests. */
    for (size_t o = off + 8; o + 8 < len; o += 8) {
        if (segment_batch_at(p, len, o, &size)) {
            d->at = off;
            d->intact_at = o;
            return 1;
        }
    }
    return 0;
}
