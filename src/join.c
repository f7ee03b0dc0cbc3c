/* A joining node asks an existing member, by its client address, to add it.
 *
 * The request is CASHE JOIN <name> <raft address> <client address> over the
 * Redis protocol; any member takes it and forwards it to the leader. It is
 * repeated every second until this node's own member table, replicated to
 * it once it is in the Raft configuration, lists it as a voter. */

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "log.h"
#include "redis_uv.h"

#define JOIN_RETRY_MS 1000

struct join_client {
    redisAsyncContext *ac;
    uint64_t next_attempt_ms;
    unsigned attempts;
    bool logged_failure;
};

static bool joined(struct cluster *c)
{
    struct member *m = members_find_name(&c->fsm.members, c->cfg->id);

    return m != NULL && m->role == MEMBER_VOTER &&
           strcmp(m->raft_addr, c->cfg->advertise_raft) == 0 &&
           strcmp(m->client_addr, c->cfg->advertise_client) == 0;
}

static void join_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct cluster *c = privdata;
    redisReply *reply = r;

    if (c->join == NULL || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!c->join->logged_failure)
            log_warning("join through %s refused: %s; retrying",
                        c->cfg->leaderaddr, reply->str);
        c->join->logged_failure = true;
    } else if (reply->type == REDIS_REPLY_STATUS) {
        log_notice("joined the cluster through %s", c->cfg->leaderaddr);
        c->join_pending = false;
    }
    redisAsyncDisconnect(ac);
}

static void join_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct cluster *c = ac->data;

    if (c->join != NULL && c->join->ac == ac)
        c->join->ac = NULL;
}

/* Said once per start: the attempts go on every second, quietly. */
static void join_unreachable(struct cluster *c, const char *why)
{
    if (c->join == NULL || c->join->logged_failure)
        return;
    log_warning("cannot reach %s to join the cluster: %s; retrying every "
                "second",
                c->cfg->leaderaddr, why);
    c->join->logged_failure = true;
}

/* hiredis frees a context whose connection failed without calling the
 * disconnect callback: forget it here too. */
static void join_connect_cb(const redisAsyncContext *ac, int status)
{
    if (status == REDIS_OK)
        return;
    join_unreachable(ac->data, ac->errstr);
    join_disconnect_cb(ac, status);
}

static void join_attempt(struct cluster *c)
{
    struct config_addr a;
    const char *host;
    struct config *cfg = c->cfg;
    redisAsyncContext *ac;

    if (config_parse_addr(cfg->leaderaddr, &a) != 0) {
        log_error("bad --leaderaddr '%s'; not joining", cfg->leaderaddr);
        c->join_pending = false;
        return;
    }
    host = a.host[0] ? a.host : "127.0.0.1";
    ac = redisAsyncConnect(host, (int)a.port);
    if (ac == NULL || ac->err) {
        join_unreachable(c, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return;
    }
    if (redis_uv_attach(ac, c->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, join_connect_cb);
    redisAsyncSetDisconnectCallback(ac, join_disconnect_cb);
    c->join->ac = ac;
    if (cfg->password != NULL)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", cfg->password);
    redisAsyncCommand(ac, join_reply_cb, c, "CASHE JOIN %s %s %s", cfg->id,
                      cfg->advertise_raft, cfg->advertise_client);
    c->join->attempts++;
}

void join_tick(struct cluster *c)
{
    uint64_t now = clock_mono_us() / 1000;

    if (!c->join_pending || c->stopping)
        return;
    if (joined(c)) {
        c->join_pending = false;
        return;
    }
    if (c->join == NULL)
        c->join = xcalloc(1, sizeof(*c->join));
    if (c->join->ac != NULL || now < c->join->next_attempt_ms)
        return;
    c->join->next_attempt_ms = now + JOIN_RETRY_MS;
    join_attempt(c);
}

void join_close(struct cluster *c)
{
    struct join_client *j = c->join;

    if (j == NULL)
        return;
    c->join = NULL;
    if (j->ac != NULL)
        redisAsyncFree(j->ac);
    free(j);
}
