/* Encoding and strict decoding of replicated commands (layout in codec.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

size_t codec_encoded_size(uint32_t argc, const size_t *lens)
{
    size_t total = CODEC_HEADER_SIZE;

    for (uint32_t i = 0; i < argc; i++)
        total += 4 + lens[i];
    return (total + 7) / 8 * 8;
}

void codec_encode(struct buf *out, uint8_t type, int64_t time_ms, uint32_t argc,
                  const char *const *argv, const size_t *lens)
{
    static const unsigned char zeros[8];
    unsigned char head[4] = {CODEC_VERSION, type, 0, 0};
    size_t total = CODEC_HEADER_SIZE;

    for (uint32_t i = 0; i < argc; i++)
        total += 4 + lens[i];
    buf_reserve(out, codec_encoded_size(argc, lens));

    buf_append(out, head, sizeof(head));
    put_u32(out, argc);
    put_u64(out, (uint64_t)time_ms);
    for (uint32_t i = 0; i < argc; i++) {
        /* Callers enforce max-value-size far below this; an argument that
         * does not fit the length field is a bug, not input. */
        if (lens[i] > UINT32_MAX)
            abort();
        put_u32(out, (uint32_t)lens[i]);
        buf_append(out, argv[i], lens[i]);
    }
    buf_append(out, zeros, (8 - total % 8) % 8);
}

static bool codec_type_known(uint8_t type)
{
    switch (type) {
    case CODEC_COMMAND:
    case CODEC_EXPIRE:
    case CODEC_MEMBER_SET:
    case CODEC_MEMBER_DEL:
        return true;
    default:
        return false;
    }
}

/* Check the fixed header and that @argc could fit in what follows, so a
 * corrupt argc never drives a large allocation. */
static int codec_check_header(const unsigned char *p, size_t len,
                              uint32_t *argc)
{
    uint32_t n;

    if (len < CODEC_HEADER_SIZE)
        return -EPROTO;
    if (p[0] != CODEC_VERSION || !codec_type_known(p[1]))
        return -EPROTO;
    if (p[2] != 0 || p[3] != 0)
        return -EPROTO;
    n = get_u32(p + 4);
    if (n > CODEC_MAX_ARGS || n > (len - CODEC_HEADER_SIZE) / 4)
        return -EPROTO;
    *argc = n;
    return 0;
}

/* The zeros that round an encoding up to a multiple of 8 bytes. */
static bool raft_padding(const unsigned char *p, size_t n, size_t total)
{
    if (n >= 8)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

int codec_decode(const void *data, size_t len, struct codec_command *cmd)
{
    const unsigned char *p = data;
    const char **argv;
    size_t *lens;
    size_t pos = CODEC_HEADER_SIZE;
    uint32_t argc;
    int rv;

    rv = codec_check_header(p, len, &argc);
    if (rv != 0)
        return rv;

    argv = xmalloc(argc * sizeof(*argv));
    lens = xmalloc(argc * sizeof(*lens));
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t n;

        if (len - pos < 4)
            goto err_layout;
        n = get_u32(p + pos);
        pos += 4;
        if (n > len - pos)
            goto err_layout;
        argv[i] = (const char *)p + pos;
        lens[i] = n;
        pos += n;
    }
    if (len % 8 != 0 || !raft_padding(p + pos, len - pos, len))
        goto err_layout;

    cmd->type = p[1];
    cmd->time_ms = (int64_t)get_u64(p + 8);
    cmd->argc = argc;
    cmd->argv = argv;
    cmd->lens = lens;
    return 0;

err_layout:
    free(argv);
    free(lens);
    return -EPROTO;
}

void codec_command_free(struct codec_command *cmd)
{
    free(cmd->argv);
    free(cmd->lens);
    cmd->argv = NULL;
    cmd->lens = NULL;
    cmd->argc = 0;
}

int codec_peek_key(const void *data, size_t len, const char **key,
                   size_t *key_len)
{
    const unsigned char *p = data;
    size_t pos = CODEC_HEADER_SIZE;

    if (len < CODEC_HEADER_SIZE || p[0] != CODEC_VERSION ||
        p[1] != CODEC_COMMAND || get_u32(p + 4) < 2)
        return -1;
    for (int i = 0; i < 2; i++) {
        uint32_t n;

        if (len - pos < 4)
            return -1;
        n = get_u32(p + pos);
        pos += 4;
        if (n > len - pos)
            return -1;
        *key = (const char *)p + pos;
        *key_len = n;
        pos += n;
    }
    return 0;
}
