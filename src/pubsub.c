/* Subscriptions per connection, and delivery to them. */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pubsub.h"
#include "resp.h"
#include "server.h"
#include "server_internal.h"

#define KEYSPACE_PREFIX "__keyspace@0__:"
#define KEYEVENT_PREFIX "__keyevent@0__:"

struct subscription {
    char *name;
    size_t len;
    bool pattern;
};

bool pubsub_active(const struct conn *c)
{
    return c->n_subs > 0;
}

static size_t count_kind(const struct conn *c, bool pattern)
{
    size_t n = 0;

    for (size_t i = 0; i < c->n_subs; i++)
        n += c->subs[i].pattern == pattern;
    return n;
}

static ssize_t find_sub(const struct conn *c, const char *name, size_t len,
                        bool pattern)
{
    for (size_t i = 0; i < c->n_subs; i++) {
        const struct subscription *s = &c->subs[i];

        if (s->pattern == pattern && s->len == len &&
            memcmp(s->name, name, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* The server keeps subscribed connections on a list so a change is
 * delivered without walking every client. */
static void link_subscriber(struct conn *c)
{
    struct server *s = c->srv;

    if (c->n_subs != 1)
        return;
    c->sub_prev = NULL;
    c->sub_next = s->subscribers;
    if (s->subscribers != NULL)
        s->subscribers->sub_prev = c;
    s->subscribers = c;
}

static void unlink_subscriber(struct conn *c)
{
    struct server *s = c->srv;

    if (c->sub_prev != NULL)
        c->sub_prev->sub_next = c->sub_next;
    else if (s->subscribers == c)
        s->subscribers = c->sub_next;
    if (c->sub_next != NULL)
        c->sub_next->sub_prev = c->sub_prev;
    c->sub_next = c->sub_prev = NULL;
}

static void reply_count(struct buf *r, const char *kind, const char *name,
                        size_t len, size_t count)
{
    resp_array(r, 3);
    resp_bulk_str(r, kind);
    if (name != NULL)
        resp_bulk(r, name, len);
    else
        resp_null(r);
    resp_int(r, (int64_t)count);
}

static void subscribe(struct conn *c, bool pattern, int argc, const char **argv,
                      const size_t *lens, struct buf *r)
{
    for (int i = 1; i < argc; i++) {
        if (find_sub(c, argv[i], lens[i], pattern) < 0) {
            struct subscription *s;

            c->subs = xrealloc(c->subs, (c->n_subs + 1) * sizeof(*c->subs));
            s = &c->subs[c->n_subs++];
            s->name = xmemdup(argv[i], lens[i]);
            s->len = lens[i];
            s->pattern = pattern;
            link_subscriber(c);
        }
        reply_count(r, pattern ? "psubscribe" : "subscribe", argv[i], lens[i],
                    c->n_subs);
    }
}

static void remove_sub(struct conn *c, size_t i)
{
    free(c->subs[i].name);
    c->subs[i] = c->subs[--c->n_subs];
    if (c->n_subs == 0)
        unlink_subscriber(c);
}

static void unsubscribe(struct conn *c, bool pattern, int argc,
                        const char **argv, const size_t *lens, struct buf *r)
{
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    ssize_t i;

    if (argc > 1) {
        for (int a = 1; a < argc; a++) {
            i = find_sub(c, argv[a], lens[a], pattern);
            if (i >= 0)
                remove_sub(c, (size_t)i);
            reply_count(r, kind, argv[a], lens[a], c->n_subs);
        }
        return;
    }
    if (count_kind(c, pattern) == 0) {
        reply_count(r, kind, NULL, 0, c->n_subs);
        return;
    }
    /* All of one kind: the reply names each as it goes. */
    for (size_t k = 0; k < c->n_subs;) {
        struct subscription s = c->subs[k];

        if (s.pattern != pattern) {
            k++;
            continue;
        }
        c->subs[k].name = NULL;
        remove_sub(c, k);
        reply_count(r, kind, s.name, s.len, c->n_subs);
        free(s.name);
    }
}

void pubsub_command(struct conn *c, const struct cmd_spec *cmd, int argc,
                    const char **argv, const size_t *lens, struct buf *r)
{
    const char *name = cmd->name;

    if (strcmp(name, "subscribe") == 0) {
        subscribe(c, false, argc, argv, lens, r);
    } else if (strcmp(name, "psubscribe") == 0) {
        subscribe(c, true, argc, argv, lens, r);
    } else if (strcmp(name, "unsubscribe") == 0) {
        unsubscribe(c, false, argc, argv, lens, r);
    } else if (strcmp(name, "punsubscribe") == 0) {
        unsubscribe(c, true, argc, argv, lens, r);
    } else { /* ping while subscribed */
        resp_array(r, 2);
        resp_bulk_str(r, "pong");
        if (argc > 1)
            resp_bulk(r, argv[1], lens[1]);
        else
            resp_bulk(r, "", 0);
    }
}

void pubsub_drop(struct conn *c)
{
    for (size_t i = 0; i < c->n_subs; i++)
        free(c->subs[i].name);
    free(c->subs);
    c->subs = NULL;
    if (c->n_subs > 0)
        unlink_subscriber(c);
    c->n_subs = 0;
}

static void deliver(struct conn *c, const struct buf *channel, const char *msg,
                    size_t msg_len)
{
    for (size_t i = 0; i < c->n_subs; i++) {
        const struct subscription *s = &c->subs[i];
        struct buf *r;

        if (!s->pattern && (s->len != channel->len ||
                            memcmp(s->name, channel->data, s->len) != 0))
            continue;
        if (s->pattern &&
            !glob_match(s->name, s->len, channel->data, channel->len))
            continue;
        r = dispatch_ready_reply(c);
        if (s->pattern) {
            resp_array(r, 4);
            resp_bulk_str(r, "pmessage");
            resp_bulk(r, s->name, s->len);
        } else {
            resp_array(r, 3);
            resp_bulk_str(r, "message");
        }
        resp_bulk(r, channel->data, channel->len);
        resp_bulk(r, msg, msg_len);
        conn_mark_dirty(c);
    }
}

/* After FLUSHALL or a snapshot install no stream of per-key events can
 * say what changed. Subscribers are disconnected instead: a cache built on
 * events (cashe-fuse's) drops everything when its subscription breaks. */
static void drop_all(struct server *s)
{
    struct conn *c, *next;

    for (c = s->subscribers; c != NULL; c = next) {
        next = c->sub_next;
        conn_close(c);
    }
}

void pubsub_notify(void *arg, const char *event, const char *key,
                   size_t key_len)
{
    struct server *s = arg;
    struct buf space = {0}, ev = {0};

    if (s->subscribers == NULL)
        return;
    if (strcmp(event, "flushall") == 0) {
        drop_all(s);
        return;
    }
    buf_append_str(&space, KEYSPACE_PREFIX);
    buf_append(&space, key, key_len);
    buf_append_str(&ev, KEYEVENT_PREFIX);
    buf_append_str(&ev, event);
    for (struct conn *c = s->subscribers, *next; c != NULL; c = next) {
        next = c->sub_next;
        if (c->closing)
            continue;
        deliver(c, &space, event, strlen(event));
        deliver(c, &ev, key, key_len);
        if (c->out.len + c->writing.len > s->cfg->max_client_buffer)
            conn_close(c);
    }
    buf_free(&space);
    buf_free(&ev);
}
