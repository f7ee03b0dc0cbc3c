/* Drive a hiredis async context from the libuv loop.
 *
 * Used instead of hiredis/adapters/libuv.h: the adapter of hiredis 0.14
 * (Debian 12) drops poll errors, and libuv reports a refused or reset
 * connection as one. The context then never learns that its connection
 * failed and its commands never complete. */

#ifndef CASHE_REDIS_UV_H
#define CASHE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Returns REDIS_OK, or REDIS_ERR when the context could not be attached
 * (the caller then frees it). */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif /* CASHE_REDIS_UV_H */
