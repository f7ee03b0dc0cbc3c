/* cashed --recover: force a one-voter configuration on a stopped node. */

#include <dirent.h>
#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "closeonce.h"
#include "cluster.h"
#include "fsm.h"
#include "members.h"
#include "recover.h"

struct recovery {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct fsm fsm;
    struct raft raft;
    bool raft_open;
};

/* Open the log as a stopped node would, without starting Raft. */
static int recovery_open(struct recovery *rc, const struct config *cfg,
                         uint64_t id)
{
    int rv;

    uv_loop_init(&rc->loop);
    fsm_init(&rc->fsm);
    rv = raft_uv_tcp_init(&rc->transport, &rc->loop);
    if (rv != 0) {
        fprintf(stderr, "cashed: cannot set up Raft: %s\n", raft_strerror(rv));
        return -1;
    }
    rv = raft_uv_init(&rc->io, &rc->loop, cfg->data_dir, &rc->transport);
    if (rv != 0) {
        fprintf(stderr, "cashed: cannot open the Raft log in %s: %s\n",
                cfg->data_dir, rc->io.errmsg);
        raft_uv_tcp_close(&rc->transport);
        return -1;
    }
    closeonce_wrap(&rc->io);
    fsm_use_io(&rc->fsm, &rc->io);
    rv = raft_init(&rc->raft, &rc->io, &rc->fsm.raft_fsm, id,
                   cfg->advertise_raft);
    if (rv != 0) {
        fprintf(stderr, "cashed: cannot open the Raft state in %s: %s\n",
                cfg->data_dir, raft_errmsg(&rc->raft));
        raft_uv_close(&rc->io);
        raft_uv_tcp_close(&rc->transport);
        return -1;
    }
    rc->raft.data = rc;
    rc->raft_open = true;
    return 0;
}

static void recovery_close(struct recovery *rc)
{
    if (rc->raft_open)
        raft_close(&rc->raft, NULL);
    uv_run(&rc->loop, UV_RUN_DEFAULT);
    /* Only now: work the library left in the thread pool may still look at
     * them until the loop has run dry (as in cluster_destroy()). */
    if (rc->raft_open) {
        raft_uv_close(&rc->io);
        raft_uv_tcp_close(&rc->transport);
    }
    uv_loop_close(&rc->loop);
    fsm_close(&rc->fsm);
}

int recover_run(const struct config *cfg)
{
    static struct recovery rc;
    struct raft_configuration conf;
    uint64_t id = member_id_from_name(cfg->id, strlen(cfg->id));
    long holder = 0;
    int lock, rv;

    if (!cluster_dir_has_state(cfg->data_dir)) {
        fprintf(stderr,
                "cashed: %s holds no Raft state: nothing to recover. Start "
                "the node normally to bootstrap or join a cluster.\n",
                cfg->data_dir);
        return -1;
    }
    /* A running node holds the lock: the log must not be rewritten under
     * it. */
    lock = cluster_dir_lock(cfg->data_dir, &holder);
    if (lock < 0) {
        if (lock == -EBUSY)
            fprintf(stderr,
                    "cashed: %s is in use by process %ld: is %s still "
                    "running? Stop it before --recover.\n",
                    cfg->data_dir, holder, cfg->id);
        else
            fprintf(stderr, "cashed: cannot lock %s: %s\n", cfg->data_dir,
                    strerror(-lock));
        return -1;
    }
    memset(&rc, 0, sizeof(rc));
    rv = recovery_open(&rc, cfg, id);
    if (rv == 0) {
        raft_configuration_init(&conf);
        rv = raft_configuration_add(&conf, id, cfg->advertise_raft, RAFT_VOTER);
        if (rv == 0)
            rv = raft_recover(&rc.raft, &conf);
        raft_configuration_close(&conf);
        if (rv != 0)
            fprintf(stderr, "cashed: recovery of %s failed: %s\n",
                    cfg->data_dir,
                    raft_errmsg(&rc.raft)[0] ? raft_errmsg(&rc.raft)
                                             : raft_strerror(rv));
    }
    recovery_close(&rc);
    close(lock);
    if (rv != 0)
        return -1;
    printf("cashed: %s is now the only voter of its cluster (Raft address "
           "%s).\nStart it normally; then start the other nodes on empty "
           "data directories with --leaderaddr=%s,\nor remove the lost ones "
           "with 'cashectl member remove NAME'.\n",
           cfg->id, cfg->advertise_raft, cfg->advertise_client);
    return 0;
}
