/* Small shared helpers: checked allocation and a growable byte buffer. */

#ifndef CASHE_UTIL_H
#define CASHE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that never returns NULL. cashe treats running out of memory as
 * fatal, as redis does: the process logs and aborts rather than carrying on
 * with a half-applied replicated command. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n);

/* A growable byte buffer. The zero value {0} is an empty, valid buffer. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Make room for at least @extra more bytes after len. */
void buf_reserve(struct buf *b, size_t extra);

void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);

/* printf-style append. */
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drop the first @n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* Release the allocation; the buffer is empty and valid afterwards. */
void buf_free(struct buf *b);

/* Format a message into @err (when @err_len > 0) and return @rv: for the
 * modules that report errors as a code plus a message buffer. */
int errorf(char *err, size_t err_len, int rv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Little-endian fixed-width encoders and decoders used by the codec and the
 * snapshot format. Decoders read from @p, which must hold enough bytes. */
void put_u32(struct buf *b, uint32_t v);
void put_u64(struct buf *b, uint64_t v);
uint32_t get_u32(const void *p);
uint64_t get_u64(const void *p);

/* Wall-clock time in milliseconds since the epoch, and a monotonic clock. */
int64_t clock_wall_ms(void);
uint64_t clock_mono_us(void);

/* Parse a signed 64-bit decimal integer the way redis does: no spaces, no
 * leading '+', no leading zeros, nothing after it. 0 on success, -EINVAL. */
int parse_i64(const char *s, size_t len, int64_t *out);

/* Parse an unsigned decimal number with an optional k/m/g (x1024) suffix
 * into @out. 0 on success, -EINVAL or -ERANGE. */
int parse_size(const char *s, uint64_t *out);

/* Whether something already listens on @host:@port (TCP; an empty host
 * or "localhost" is 127.0.0.1): a bind, as a listener would make it, fails
 * with EADDRINUSE. Any other failure is left to the real bind to report. */
bool tcp_addr_in_use(const char *host, unsigned port);

#endif /* CASHE_UTIL_H */
