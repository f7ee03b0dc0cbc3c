/* cashe-fuse: mount a cashed node's keyspace.
 *
 *   cashe-fuse [options] SOURCE MOUNTPOINT
 *
 * Options are FUSE's (-f, -d, -s, -o ...) plus a few of our own, all given
 * with -o so that mount(8), fstab and mount.fuse3 can pass them. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "fs.h"
#include "fslog.h"
#include "util.h"
#include "version.h"
#include "watch.h"

#include <fuse_lowlevel.h>

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_MAX_VALUE "8m"
/* Keyspace events invalidate the kernel's caches, so they may live long. */
#define DEFAULT_CACHE_TIMEOUT "60"

struct options {
    char *source;
    char *password;
    char *password_file;
    unsigned timeout_s;
    unsigned file_mode;
    unsigned dir_mode;
    char *max_value;
    int help;
    int version;
    bool attr_timeout; /* given: libfuse takes it, we only note it */
    bool entry_timeout;
};

enum { KEY_HELP, KEY_VERSION, KEY_ATTR_TIMEOUT, KEY_ENTRY_TIMEOUT };

#define OPT(t, f)                                                              \
    {                                                                          \
        t, offsetof(struct options, f), 1                                      \
    }

static const struct fuse_opt option_spec[] = {
    OPT("password=%s", password),
    OPT("password_file=%s", password_file),
    OPT("timeout=%u", timeout_s),
    OPT("mode=%o", file_mode),
    OPT("dir_mode=%o", dir_mode),
    OPT("max_value=%s", max_value),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("attr_timeout=", KEY_ATTR_TIMEOUT),
    FUSE_OPT_KEY("entry_timeout=", KEY_ENTRY_TIMEOUT),
    FUSE_OPT_END,
};

static void usage(const char *prog)
{
    printf("usage: %s [options] SOURCE MOUNTPOINT\n"
           "\n"
           "Mount the keyspace of a cashed node. SOURCE is an instance name\n"
           "(raft0: /run/cashe/raft0.sock, else /tmp/cashe-raft0.sock), a\n"
           "Unix socket path, or host:port.\n"
           "\n"
           "cashe-fuse options:\n"
           "    -o password=SECRET     AUTH password (also: CASHE_PASSWORD)\n"
           "    -o password_file=PATH  read the password from PATH\n"
           "    -o timeout=SECONDS     per-request timeout (default %d)\n"
           "    -o mode=OCTAL          file permissions (default 0644)\n"
           "    -o dir_mode=OCTAL      directory permissions (default 0755)\n"
           "    -o max_value=SIZE      largest file; match the daemon's\n"
           "                           max-value-size (default %s)\n"
           "    -o uid=N,gid=N         owner (default: who mounts)\n"
           "    -o attr_timeout=S,entry_timeout=S\n"
           "                           kernel cache lifetimes while keyspace\n"
           "                           events invalidate (default %s; at\n"
           "                           most %g without events)\n"
           "\n",
           prog, DEFAULT_TIMEOUT_S, DEFAULT_MAX_VALUE, DEFAULT_CACHE_TIMEOUT,
           WATCH_SHORT_TIMEOUT);
}

static int option_proc(void *data, const char *arg, int key,
                       struct fuse_args *outargs)
{
    struct options *o = data;

    switch (key) {
    case FUSE_OPT_KEY_NONOPT:
        if (o->source == NULL) {
            o->source = xstrdup(arg);
            return 0;
        }
        return 1; /* the mount point, for fuse_parse_cmdline() */
    case KEY_HELP:
        o->help = 1;
        return 0;
    case KEY_VERSION:
        o->version = 1;
        return 0;
    case KEY_ATTR_TIMEOUT:
        o->attr_timeout = true;
        return 1;
    case KEY_ENTRY_TIMEOUT:
        o->entry_timeout = true;
        return 1;
    default:
        return 1;
    }
}

/* The first line of @path, without its newline. */
static char *read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    char *pw = NULL;

    if (f == NULL)
        return NULL;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        pw = xstrdup(line);
    }
    fclose(f);
    return pw;
}

/* A relative socket path would break when the daemon changes to "/". */
static void make_absolute(char **path)
{
    char cwd[4096];
    struct buf b = {0};

    if ((*path)[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return;
    buf_printf(&b, "%s/%s", cwd, *path);
    free(*path);
    *path = b.data;
}

static int client_setup(const struct options *o, struct client_config *cc)
{
    const char *env = getenv("CASHE_PASSWORD");

    if (client_resolve(o->source, cc) != 0) {
        fprintf(stderr, "cashe-fuse: bad SOURCE '%s'\n", o->source);
        return -1;
    }
    if (cc->unix_path != NULL)
        make_absolute(&cc->unix_path);
    if (o->password != NULL)
        cc->password = xstrdup(o->password);
    else if (o->password_file != NULL)
        cc->password = read_password(o->password_file);
    else if (env != NULL && env[0] != '\0')
        cc->password = xstrdup(env);
    if (o->password_file != NULL && cc->password == NULL) {
        fprintf(stderr, "cashe-fuse: cannot read %s\n", o->password_file);
        return -1;
    }
    cc->timeout_ms = (int)(o->timeout_s > 0 ? o->timeout_s : 1) * 1000;
    client_init(cc);
    return 0;
}

/* A wrong password is fatal; a daemon that is not up yet is not (it may
 * start after the mount, at boot). */
static int check_daemon(const char *source)
{
    char msg[256] = "";
    int rv = client_check(msg, sizeof(msg));

    client_thread_close();
    if (rv == -EACCES) {
        fprintf(stderr, "cashe-fuse: %s: %s\n", source, msg);
        return -1;
    }
    if (rv != 0)
        fprintf(stderr, "cashe-fuse: warning: %s not reachable yet: %s\n",
                source, msg);
    return 0;
}

static int fs_config_setup(const struct options *o)
{
    struct fs_config fc = {
        .file_mode = o->file_mode & 07777,
        .dir_mode = o->dir_mode & 07777,
        .uid = getuid(),
        .gid = getgid(),
    };
    uint64_t max;

    if (parse_size(o->max_value, &max) != 0 || max > SIZE_MAX) {
        fprintf(stderr, "cashe-fuse: bad max_value '%s'\n", o->max_value);
        return -1;
    }
    fc.max_value = (size_t)max;
    fs_setup(&fc);
    return 0;
}

static int run(struct fuse *fuse, const struct fuse_cmdline_opts *co)
{
    struct fuse_session *se = fuse_get_session(fuse);
    struct fuse_loop_config *lc;
    int rv;

    if (fuse_mount(fuse, co->mountpoint) != 0)
        return 1;
    if (fuse_daemonize(co->foreground) != 0 ||
        fuse_set_signal_handlers(se) != 0) {
        fuse_unmount(fuse);
        return 1;
    }
    fslog_init(co->foreground, co->debug);
    rv = watch_start(fuse, co->mountpoint);
    if (rv != 0)
        fslog(LOG_WARNING, "cannot follow keyspace events: %s", strerror(-rv));
    if (co->singlethread) {
        rv = fuse_loop(fuse);
    } else {
        lc = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(lc, (unsigned)co->clone_fd);
        /* UINT_MAX: not given (libfuse's default stands). */
        if (co->max_idle_threads != UINT_MAX)
            fuse_loop_cfg_set_idle_threads(lc, co->max_idle_threads);
        if (co->max_threads != UINT_MAX)
            fuse_loop_cfg_set_max_threads(lc, co->max_threads);
        rv = fuse_loop_mt(fuse, lc);
        fuse_loop_cfg_destroy(lc);
    }
    fuse_remove_signal_handlers(se);
    fuse_unmount(fuse);
    watch_stop();
    return rv != 0 ? 1 : 0;
}

static void add_names(struct fuse_args *args, const char *source)
{
    struct buf o = {0};

    /* What mount(8) and /proc/mounts show: "cashe:raft0 on /mnt type
     * fuse.cashe-fuse". Commas would split the option. */
    buf_append_str(&o, "-ofsname=cashe:");
    for (const char *p = source; *p != '\0'; p++)
        buf_append(&o, *p == ',' ? "_" : p, 1);
    buf_append(&o, "", 1);
    fuse_opt_add_arg(args, o.data);
    fuse_opt_add_arg(args, "-osubtype=cashe-fuse");
    buf_free(&o);
}

static void add_cache_defaults(struct fuse_args *args, const struct options *o)
{
    if (!o->attr_timeout)
        fuse_opt_add_arg(args, "-oattr_timeout=" DEFAULT_CACHE_TIMEOUT);
    if (!o->entry_timeout)
        fuse_opt_add_arg(args, "-oentry_timeout=" DEFAULT_CACHE_TIMEOUT);
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct options o = {
        .timeout_s = DEFAULT_TIMEOUT_S, .file_mode = 0644, .dir_mode = 0755};
    struct fuse_cmdline_opts co = {0};
    struct client_config cc = {0};
    struct fuse *fuse;
    int rv = 1;

    if (fuse_opt_parse(&args, &o, option_spec, option_proc) != 0)
        return 1;
    if (o.max_value == NULL)
        o.max_value = xstrdup(DEFAULT_MAX_VALUE);
    if (o.help) {
        usage(argv[0]);
        fuse_cmdline_help();
        fuse_lib_help(&args);
        rv = 0;
        goto out;
    }
    if (o.version) {
        printf("cashe-fuse %s (libfuse %s)\n", CASHE_VERSION,
               fuse_pkgversion());
        rv = 0;
        goto out;
    }
    if (o.source == NULL) {
        usage(argv[0]);
        goto out;
    }
    add_names(&args, o.source);
    add_cache_defaults(&args, &o);
    if (fuse_parse_cmdline(&args, &co) != 0)
        goto out;
    if (co.mountpoint == NULL) {
        fprintf(stderr, "cashe-fuse: no mount point given\n");
        goto out;
    }
    if (client_setup(&o, &cc) != 0 || check_daemon(o.source) != 0 ||
        fs_config_setup(&o) != 0)
        goto out;
    fuse =
        fuse_new(&args, fs_operations(), sizeof(struct fuse_operations), NULL);
    if (fuse == NULL)
        goto out;
    rv = run(fuse, &co);
    fuse_destroy(fuse);
out:
    /* Before a sanitizer's exit at the end can skip it. */
    fflush(stdout);
    free(co.mountpoint);
    free(o.source);
    free(o.password);
    free(o.password_file);
    free(o.max_value);
    fuse_opt_free_args(&args);
    return rv;
}
