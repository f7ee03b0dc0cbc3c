/* INFO in redis's format, with a raft section; CASHE MEMBERS. */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "server.h"
#include "server_internal.h"
#include "version.h"

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void section_server(struct server *s, struct buf *o)
{
    struct utsname u;
    int64_t up = (clock_wall_ms() - s->started_ms) / 1000;

    uname(&u);
    buf_printf(o,
               "# Server\r\n"
               "redis_version:7.0.0\r\n"
               "cashe_version:%s\r\n"
               "redis_mode:standalone\r\n"
               "os:%s %s %s\r\n"
               "process_id:%ld\r\n"
               "tcp_port:%u\r\n"
               "uptime_in_seconds:%lld\r\n"
               "uptime_in_days:%lld\r\n"
               "executable:cashed\r\n"
               "config_file:%s\r\n"
               "\r\n",
               CASHE_VERSION, u.sysname, u.release, u.machine, (long)getpid(),
               s->cfg->listen.port, (long long)up, (long long)up / 86400,
               s->cfg->config_file ? s->cfg->config_file : "");
}

static void section_clients(struct server *s, struct buf *o)
{
    buf_printf(o,
               "# Clients\r\n"
               "connected_clients:%zu\r\n"
               "maxclients:%llu\r\n"
               "blocked_clients:0\r\n"
               "\r\n",
               s->n_conns, (unsigned long long)s->cfg->max_clients);
}

static void section_memory(struct server *s, struct buf *o)
{
    struct store *st = s->cluster->fsm.store;

    buf_printf(o,
               "# Memory\r\n"
               "used_memory:%zu\r\n"
               "used_memory_rss:%zu\r\n"
               "keyspace_bytes:%zu\r\n"
               "maxmemory:0\r\n"
               "\r\n",
               rss_bytes(), rss_bytes(), store_bytes(st));
}

static void section_stats(struct server *s, struct buf *o)
{
    struct server_stats *t = &s->stats;
    struct cluster_stats *cs = &s->cluster->stats;

    buf_printf(o,
               "# Stats\r\n"
               "total_connections_received:%" PRIu64 "\r\n"
               "rejected_connections:%" PRIu64 "\r\n"
               "total_commands_processed:%" PRIu64 "\r\n"
               "total_net_input_bytes:%" PRIu64 "\r\n"
               "total_net_output_bytes:%" PRIu64 "\r\n"
               "commands_forwarded:%" PRIu64 "\r\n"
               "proposals:%" PRIu64 "\r\n"
               "proposal_batches:%" PRIu64 "\r\n"
               "read_barriers:%" PRIu64 "\r\n"
               "reads_batched:%" PRIu64 "\r\n"
               "\r\n",
               t->connections_received, t->connections_rejected,
               t->commands_processed, t->net_input_bytes, t->net_output_bytes,
               t->commands_forwarded, cs->proposals, cs->batches, cs->barriers,
               cs->reads_batched);
}

/* Bytes in the data directory's files (it has no subdirectories). */
static unsigned long long dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    struct stat st;
    unsigned long long total = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode))
            total += (unsigned long long)st.st_size;
    }
    closedir(d);
    return total;
}

/* On the leader, ",match_index=N": the last entry Raft knows @id holds,
 * which tells how far behind it is. Empty on other nodes. */
static void member_progress(const struct cluster *c, uint64_t id, struct buf *o)
{
    const struct raft *r = &c->raft;
    bool found = id == c->id;
    raft_index match = 0;

    if (!cluster_is_leader(c) || r->leader_state.progress == NULL)
        return;
    if (found) /* the leader holds all it has */
        match = raft_last_index((struct raft *)r);
    for (unsigned i = 0; i < r->configuration.n && !found; i++) {
        if (r->configuration.servers[i].id == id) {
            match = r->leader_state.progress[i].match_index;
            found = true;
        }
    }
    if (found)
        buf_printf(o, ",match_index=%llu", (unsigned long long)match);
}

static void section_raft(struct server *s, struct buf *o)
{
    struct cluster *c = s->cluster;
    const struct member *leader = cluster_leader(c);
    const struct members *m = &c->fsm.members;
    unsigned long long snap = c->started ? c->raft.log.snapshot.last_index : 0;

    buf_printf(o,
               "# Raft\r\n"
               "node:%s\r\n"
               "raft_id:%" PRIu64 "\r\n"
               "role:%s\r\n"
               "term:%llu\r\n"
               "leader:%s\r\n"
               "leader_id:%" PRIu64 "\r\n"
               "leader_addr:%s\r\n"
               "commit_index:%llu\r\n"
               "last_applied:%llu\r\n"
               "last_index:%llu\r\n"
               "snapshot_index:%llu\r\n"
               "snapshot_in_progress:%d\r\n"
               "revision:%" PRIu64 "\r\n"
               "data_dir:%s\r\n"
               "data_dir_bytes:%llu\r\n"
               "disk_full:%d\r\n"
               "disk_free_bytes:%llu\r\n"
               "disk_reserve_bytes:%llu\r\n"
               "members:%zu\r\n",
               s->cfg->id, c->id, cluster_role_name(c),
               (unsigned long long)(c->started ? c->raft.current_term : 0),
               leader ? leader->name : "", cluster_leader_id(c),
               leader ? leader->client_addr : "",
               (unsigned long long)(c->started ? c->raft.commit_index : 0),
               (unsigned long long)(c->started ? c->raft.last_applied : 0),
               (unsigned long long)(c->started ? raft_last_index(&c->raft) : 0),
               snap, fsm_snapshot_in_progress(&c->fsm), c->fsm.rev,
               s->cfg->data_dir, dir_bytes(s->cfg->data_dir),
               diskwatch_full(&c->disk), (unsigned long long)c->disk.space.free,
               (unsigned long long)c->disk.space.reserve, m->n);
    for (size_t i = 0; i < m->n; i++) {
        buf_printf(o,
                   "member%zu:name=%s,id=%" PRIu64 ",raft=%s,client=%s,role=%s",
                   i, m->v[i].name, m->v[i].id, m->v[i].raft_addr,
                   m->v[i].client_addr, member_role_name(m->v[i].role));
        member_progress(c, m->v[i].id, o);
        buf_append_str(o, "\r\n");
    }
    buf_append_str(o, "\r\n");
}

static void section_keyspace(struct server *s, struct buf *o)
{
    size_t n = store_count(s->cluster->fsm.store);

    buf_append_str(o, "# Keyspace\r\n");
    if (n > 0)
        buf_printf(o, "db0:keys=%zu,expires=0,avg_ttl=0\r\n", n);
    buf_append_str(o, "\r\n");
}

void info_render(struct server *s, const char *section, struct buf *out)
{
    static const struct {
        const char *name;
        void (*render)(struct server *s, struct buf *o);
    } sections[] = {
        {"server", section_server}, {"clients", section_clients},
        {"memory", section_memory}, {"stats", section_stats},
        {"raft", section_raft},     {"keyspace", section_keyspace},
    };
    bool all = strcasecmp(section, "default") == 0 ||
               strcasecmp(section, "all") == 0 ||
               strcasecmp(section, "everything") == 0;

    for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
        if (all || strcasecmp(section, sections[i].name) == 0)
            sections[i].render(s, out);
    }
    if (out->len >= 2)
        out->len -= 2; /* no blank line after the last section */
}

/* One array per member: name, raft id, raft address, client address, role
 * in the member table, role in the Raft configuration, "leader" or "". */
void members_render(struct server *s, struct buf *r)
{
    struct cluster *c = s->cluster;
    const struct members *m = &c->fsm.members;
    uint64_t leader = cluster_leader_id(c);
    char id[32];

    resp_array(r, m->n);
    for (size_t i = 0; i < m->n; i++) {
        int raft_role = cluster_raft_role(c, m->v[i].id);

        snprintf(id, sizeof(id), "%" PRIu64, m->v[i].id);
        resp_array(r, 7);
        resp_bulk_str(r, m->v[i].name);
        resp_bulk_str(r, id);
        resp_bulk_str(r, m->v[i].raft_addr);
        resp_bulk_str(r, m->v[i].client_addr);
        resp_bulk_str(r, member_role_name(m->v[i].role));
        resp_bulk_str(r, raft_role == RAFT_VOTER     ? "voter"
                         : raft_role == RAFT_STANDBY ? "standby"
                         : raft_role == RAFT_SPARE   ? "spare"
                                                     : "none");
        resp_bulk_str(r, m->v[i].id == leader ? "leader" : "");
    }
}
