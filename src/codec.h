/* The encoding of replicated commands: what goes into a Raft log entry.
 *
 * Every entry is one command: a type, the leader's wall-clock time when it
 * proposed the entry, and a list of byte-string arguments. Applying an entry
 * uses only what it carries (never the local clock), so every replica that
 * applies the same log reaches the same state.
 *
 * Layout, all integers little-endian:
 *
 *   u8  version      CODEC_VERSION
 *   u8  type         enum codec_type
 *   u16 reserved     zero
 *   u32 argc
 *   i64 time_ms      leader's wall clock, ms since the epoch
 *   argc x { u32 len, len bytes }
 *   0..7 zero bytes, so the whole is a multiple of 8 bytes long
 *
 * The padding is for canonical/raft: it sends several entries in one message
 * with each payload rounded up to 8 bytes, and a follower then finds every
 * entry after an unaligned one at the wrong offset. A decoder accepts
 * exactly this layout: anything else is rejected, never guessed at. */

#ifndef CASHE_CODEC_H
#define CASHE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CODEC_VERSION     1
#define CODEC_HEADER_SIZE 16

/* Upper bound on argc a decoder will accept; bounds what it allocates. */
#define CODEC_MAX_ARGS (1024 * 1024)

enum codec_type {
    /* A client's write command as argv (e.g. SET k v EX 10). */
    CODEC_COMMAND = 1,
    /* Leader-proposed deletion of expired keys: argv is the keys. Each is
     * deleted only if it has expired as of the entry's time. */
    CODEC_EXPIRE = 2,
    /* Add or update a member: argv is name, raft id (decimal), raft address,
     * client address, role ("voter", "standby", "spare"). */
    CODEC_MEMBER_SET = 3,
    /* Remove a member: argv is the name. */
    CODEC_MEMBER_DEL = 4,
};

/* A decoded command. argv and lens point into the buffer it was decoded from
 * (argv entries are not NUL-terminated) and into arrays owned by the struct:
 * call codec_command_free() when done. */
struct codec_command {
    uint8_t type;
    int64_t time_ms;
    uint32_t argc;
    const char **argv;
    size_t *lens;
};

/* The exact number of bytes codec_encode() appends, padding included. */
size_t codec_encoded_size(uint32_t argc, const size_t *lens);

/* Append the encoding of a command to @out. */
void codec_encode(struct buf *out, uint8_t type, int64_t time_ms, uint32_t argc,
                  const char *const *argv, const size_t *lens);

/* Decode @len bytes at @data into @cmd. Returns 0, or -EPROTO for a bad
 * version, type or layout (truncated, overlong, trailing bytes, argc beyond
 * what the bytes can hold). @cmd is written only on success. */
int codec_decode(const void *data, size_t len, struct codec_command *cmd);

void codec_command_free(struct codec_command *cmd);

/* The first argument after the command name of a CODEC_COMMAND entry (the
 * key of SET, INCR, DEL...), pointing into @data, without decoding the rest
 * or allocating. Returns 0, or -1 for any other entry or a layout that does
 * not hold one; the full decode still judges the entry. */
int codec_peek_key(const void *data, size_t len, const char **key,
                   size_t *key_len);

#endif /* CASHE_CODEC_H */
