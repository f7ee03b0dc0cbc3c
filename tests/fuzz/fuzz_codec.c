/* libFuzzer target: the replicated command decoder (src/codec.h).
 *
 * The decoder accepts exactly one layout, so any input it accepts must
 * encode back to the same bytes. The input is also read the other way, as
 * arguments to encode: whatever codec_encode() writes must decode to the
 * same command. The input is copied to an exact-size buffer first, so a
 * read past its end trips ASan. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

#include "fuzz.h"

static void check_decoded(const char *data, size_t size,
                          const struct codec_command *cmd)
{
    struct buf out = {0};

    CHECK(cmd->type >= CODEC_COMMAND && cmd->type <= CODEC_MEMBER_DEL);
    CHECK(cmd->argc <= CODEC_MAX_ARGS);
    for (uint32_t i = 0; i < cmd->argc; i++) {
        CHECK(cmd->argv[i] >= data);
        CHECK(cmd->argv[i] + cmd->lens[i] <= data + size);
    }
    codec_encode(&out, cmd->type, cmd->time_ms, cmd->argc, cmd->argv,
                 cmd->lens);
    CHECK(out.len == size);
    CHECK(out.len % 8 == 0);
    CHECK(memcmp(out.data, data, size) == 0);
    buf_free(&out);
}

/* Cut the input into arguments at every '\n' and encode them. */
static void check_encode(const char *data, size_t size)
{
    const char **argv = xmalloc((size + 1) * sizeof(*argv));
    size_t *lens = xmalloc((size + 1) * sizeof(*lens));
    uint8_t type = size > 0 ? (uint8_t)(1 + (uint8_t)data[0] % 4) : 1;
    int64_t time_ms = (int64_t)size * 1000003 - 7;
    struct codec_command cmd;
    struct buf out = {0};
    uint32_t argc = 0;
    size_t start = 0;

    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            argv[argc] = data + start;
            lens[argc++] = i - start;
            start = i + 1;
        }
    }
    codec_encode(&out, type, time_ms, argc, argv, lens);
    CHECK(codec_decode(out.data, out.len, &cmd) == 0);
    CHECK(cmd.type == type && cmd.time_ms == time_ms && cmd.argc == argc);
    for (uint32_t i = 0; i < argc; i++) {
        CHECK(cmd.lens[i] == lens[i]);
        CHECK(memcmp(cmd.argv[i], argv[i], lens[i]) == 0);
    }
    codec_command_free(&cmd);
    /* Any truncation of a valid entry is invalid. */
    CHECK(codec_decode(out.data, out.len - 1, &cmd) == -EPROTO);
    buf_free(&out);
    free(argv);
    free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = xmalloc(size > 0 ? size : 1);
    struct codec_command cmd;
    int rv;

    memcpy(copy, data, size);
    rv = codec_decode(copy, size, &cmd);
    CHECK(rv == 0 || rv == -EPROTO);
    if (rv == 0) {
        check_decoded(copy, size, &cmd);
        codec_command_free(&cmd);
    }
    if (size <= 4096)
        check_encode(copy, size);
    free(copy);
    return 0;
}
