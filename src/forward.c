/* One hiredis connection from this node to the leader's client port. */

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "forward.h"
#include "log.h"
#include "redis_uv.h"
#include "resp.h"

struct forwarder {
    uv_loop_t *loop;
    char *password;
    redisAsyncContext *ac;
    char addr[300];
};

struct fwd_req {
    cluster_done_fn done;
    void *arg;
    struct link *link;
    struct fwd_req *prev, *next; /* on the link, oldest first */
    uint64_t sent_us;
};

/* What hiredis keeps for one connection: whether it ever connected decides
 * if a command lost with it may have run. */
struct link {
    struct forwarder *f;
    bool connected;
    unsigned refs;               /* the context's own, plus one per command */
    struct fwd_req *head, *tail; /* commands waiting for their reply */
};

static void link_unref(struct link *l)
{
    if (--l->refs == 0)
        free(l);
}

static void reply_to_resp(struct buf *out, const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
        resp_bulk(out, r->str, r->len);
        break;
    case REDIS_REPLY_STATUS:
        buf_append(out, "+", 1);
        buf_append(out, r->str, r->len);
        buf_append(out, "\r\n", 2);
        break;
    case REDIS_REPLY_ERROR:
        buf_append(out, "-", 1);
        buf_append(out, r->str, r->len);
        buf_append(out, "\r\n", 2);
        break;
    case REDIS_REPLY_INTEGER:
        resp_int(out, r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        resp_array(out, r->elements);
        for (size_t i = 0; i < r->elements; i++)
            reply_to_resp(out, r->element[i]);
        break;
    default:
        resp_null(out);
        break;
    }
}

static bool is_shutdown(const redisReply *r)
{
    size_t n = sizeof(SHUTDOWN_CODE) - 1;

    return r->type == REDIS_REPLY_ERROR && r->len > n &&
           memcmp(r->str, SHUTDOWN_CODE, n) == 0 && r->str[n] == ' ';
}

static void forward_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct fwd_req *req = privdata;
    struct link *l = req->link;
    struct buf out = {0};

    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        l->head = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    else
        l->tail = req->prev;
    if (r == NULL) {
        req->done(req->arg,
                  req->link->connected ? CLUSTER_UNKNOWN : CLUSTER_NOT_LEADER,
                  NULL);
    } else if (is_shutdown(r)) {
        /* The leader is stopping and did not run it. */
        req->done(req->arg, CLUSTER_SHUTDOWN, NULL);
    } else {
        reply_to_resp(&out, r);
        req->done(req->arg, CLUSTER_OK, &out);
        buf_free(&out);
    }
    link_unref(req->link);
    free(req);
}

/* The context is going away: hiredis has or will shortly complete every
 * command on it with a NULL reply. */
static void link_gone(const redisAsyncContext *ac)
{
    struct link *l = ac->data;

    if (l->f != NULL && l->f->ac == ac)
        l->f->ac = NULL;
    link_unref(l);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;

    if (status == REDIS_OK) {
        l->connected = true;
        return;
    }
    log_warning("cannot reach the leader at %s: %s", l->f ? l->f->addr : "?",
                ac->errstr);
    link_gone(ac);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    link_gone(ac);
}

static int forwarder_connect(struct forwarder *f, const char *addr)
{
    struct config_addr a;
    struct link *l;
    redisAsyncContext *ac;

    if (config_parse_addr(addr, &a) != 0)
        return -1;
    ac = redisAsyncConnect(a.host[0] ? a.host : "127.0.0.1", (int)a.port);
    if (ac == NULL || ac->err) {
        if (ac != NULL)
            redisAsyncFree(ac);
        return -1;
    }
    if (redis_uv_attach(ac, f->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->f = f;
    l->refs = 1;
    ac->data = l;
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    if (f->password != NULL)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", f->password);
    redisAsyncCommand(ac, NULL, NULL, "CASHE FORWARDED");
    f->ac = ac;
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    return 0;
}

struct forwarder *forwarder_new(uv_loop_t *loop, const char *password)
{
    struct forwarder *f = xcalloc(1, sizeof(*f));

    f->loop = loop;
    f->password = password ? xstrdup(password) : NULL;
    return f;
}

/* Let go of the connection now. redisAsyncDisconnect() would wait for
 * every reply, which a leader cut off or stopped never sends: free the
 * context instead, which completes each command on it with a NULL reply
 * (here, or right after the hiredis callback this is called from). hiredis
 * then calls the disconnect callback only for a context that connected:
 * the context's reference on a link that never did is dropped here. */
static void link_drop(struct forwarder *f)
{
    redisAsyncContext *ac = f->ac;
    struct link *l = ac->data;
    bool connected = l->connected;

    l->f = NULL;
    f->ac = NULL;
    redisAsyncFree(ac);
    if (!connected)
        link_unref(l);
}

void forwarder_retarget(struct forwarder *f, const char *addr)
{
    if (f->ac != NULL && (addr == NULL || strcmp(addr, f->addr) != 0))
        link_drop(f);
}

void forwarder_expire(struct forwarder *f, uint64_t timeout_us)
{
    const struct link *l;
    uint64_t waited;

    if (f->ac == NULL)
        return;
    l = f->ac->data;
    if (l->head == NULL)
        return;
    waited = clock_mono_us() - l->head->sent_us;
    if (waited < timeout_us)
        return;
    log_warning("the leader at %s has not answered a relayed command for "
                "%llu ms; dropping the connection to it",
                f->addr, (unsigned long long)(waited / 1000));
    link_drop(f);
}

void forwarder_free(struct forwarder *f)
{
    forwarder_retarget(f, NULL);
    free(f->password);
    free(f);
}

int forwarder_send(struct forwarder *f, const char *addr, int argc,
                   const char **argv, const size_t *lens, cluster_done_fn done,
                   void *arg)
{
    struct fwd_req *req;
    struct link *l;

    /* The leader moved: commands the old connection held that were never
     * sent come back to wait for a leader; this one queues after them. */
    if (f->ac != NULL && strcmp(addr, f->addr) != 0) {
        link_drop(f);
        return CLUSTER_NOT_LEADER;
    }
    if (f->ac == NULL && forwarder_connect(f, addr) != 0)
        return CLUSTER_NOT_LEADER;
    req = xcalloc(1, sizeof(*req));
    req->done = done;
    req->arg = arg;
    req->link = l = f->ac->data;
    if (redisAsyncCommandArgv(f->ac, forward_reply_cb, req, argc, argv, lens) !=
        REDIS_OK) {
        free(req);
        return CLUSTER_NOT_LEADER;
    }
    l->refs++;
    req->sent_us = clock_mono_us();
    req->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = req;
    else
        l->head = req;
    l->tail = req;
    return CLUSTER_OK;
}
