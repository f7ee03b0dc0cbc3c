/* cashectl: options, usage, and the table of subcommands. */

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"
#include "version.h"

#define DEFAULT_TIMEOUT_S 30.0

static const char usage_text[] =
    "Usage: cashectl [OPTION]... COMMAND [ARG]...\n"
    "Administer a cashe cluster and its keyspace through one cashed node.\n"
    "\n"
    "Keys:\n"
    "  get KEY                      print the value of KEY\n"
    "  put KEY [VALUE]              set KEY (VALUE from stdin or --file if "
    "omitted)\n"
    "  del KEY...                   delete keys\n"
    "  ls [PREFIX]                  list the directory PREFIX (keys split "
    "at '/')\n"
    "  ls -r [PREFIX]               list every key that starts with PREFIX\n"
    "  ttl KEY [SECONDS|--clear]    show, set or clear the time to live\n"
    "  watch PREFIX                 print changes to keys under PREFIX\n"
    "Cluster:\n"
    "  status                       this node and the cluster, with lag\n"
    "  member list                  the members and their roles\n"
    "  member add NAME RAFTADDR CLIENTADDR   add a node as a voter\n"
    "  member remove NAME           remove a member\n"
    "  member promote NAME | member demote NAME   make a voter / a spare\n"
    "  leader transfer [NAME]       hand leadership to NAME (or any voter)\n"
    "  snapshot save FILE           write a consistent, checksummed dump\n"
    "  snapshot restore FILE        load a dump into an empty cluster\n"
    "\n"
    "Where to connect (default: -i raft0):\n"
    "  -i, --instance=NAME   the local instance NAME: /run/cashe/NAME.sock,\n"
    "                        or /tmp/cashe-NAME.sock if that is missing\n"
    "  -s, --socket=PATH     a node's Unix socket\n"
    "  -e, --endpoint=HOST:PORT  a node's client TCP address\n"
    "      --password=SECRET password for --endpoint (default: "
    "$CASHE_PASSWORD)\n"
    "  -t, --timeout=SECONDS how long to wait for each reply (default 30; "
    "0: no limit)\n"
    "Output:\n"
    "  -j, --json            machine-readable output (get, ls, ttl, watch,\n"
    "                        member list, status, snapshot)\n"
    "Command options:\n"
    "  -r, --recursive       ls: every key under PREFIX, not one level\n"
    "  -f, --file=FILE       put: read the value from FILE\n"
    "      --ttl=SECONDS     put: expire the key after SECONDS\n"
    "      --clear           ttl: remove the key's expiry\n"
    "      --force           snapshot restore: load into a non-empty "
    "keyspace\n"
    "  -n, --count=N         watch: exit after N changes\n"
    "  -h, --help            show this help and exit\n"
    "  -V, --version         print the version and exit\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error, 3 not found,\n"
    "4 cluster or node unavailable (no connection, no leader, stopping).\n"
    "See cashectl(1) and cashe(7).\n";

enum long_only {
    OPT_PASSWORD = 256,
    OPT_TTL,
    OPT_CLEAR,
    OPT_FORCE,
};

static const struct option long_options[] = {
    {"instance", required_argument, NULL, 'i'},
    {"socket", required_argument, NULL, 's'},
    {"endpoint", required_argument, NULL, 'e'},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"timeout", required_argument, NULL, 't'},
    {"json", no_argument, NULL, 'j'},
    {"recursive", no_argument, NULL, 'r'},
    {"file", required_argument, NULL, 'f'},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"clear", no_argument, NULL, OPT_CLEAR},
    {"force", no_argument, NULL, OPT_FORCE},
    {"count", required_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

struct command {
    const char *name;
    ctl_cmd_fn fn;
    unsigned opts; /* the enum ctl_opt options it takes */
};

static const struct command commands[] = {
    {"get", ctl_get, 0},
    {"put", ctl_put, CTL_OPT_FILE | CTL_OPT_TTL},
    {"del", ctl_del, 0},
    {"ls", ctl_ls, CTL_OPT_RECURSIVE},
    {"ttl", ctl_ttl, CTL_OPT_CLEAR},
    {"watch", ctl_watch, CTL_OPT_COUNT},
    {"member", ctl_member, 0},
    {"leader", ctl_leader, 0},
    {"status", ctl_status, 0},
    {"snapshot", ctl_snapshot, CTL_OPT_FORCE},
};

static bool parse_positive(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0)
        return false;
    *out = v;
    return true;
}

static bool valid_instance(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int option_value(struct ctl *c, int opt, const char *arg)
{
    char *end;

    switch (opt) {
    case 'i':
        if (!valid_instance(arg))
            return ctl_fail(CTL_USAGE, "bad instance name '%s'", arg);
        c->instance = arg;
        break;
    case 't':
        errno = 0;
        c->timeout_s = strtod(arg, &end);
        if (errno != 0 || end == arg || *end != '\0' || c->timeout_s < 0)
            return ctl_fail(CTL_USAGE, "bad --timeout '%s'", arg);
        break;
    case OPT_TTL:
        c->opts_given |= CTL_OPT_TTL;
        if (!parse_positive(arg, &c->ttl_s))
            return ctl_fail(CTL_USAGE, "--ttl needs a positive number of "
                                       "seconds");
        break;
    case 'n':
        c->opts_given |= CTL_OPT_COUNT;
        if (!parse_positive(arg, &c->count))
            return ctl_fail(CTL_USAGE, "--count needs a positive number");
        break;
    default:
        return ctl_fail(CTL_USAGE, "unknown option");
    }
    return CTL_OK;
}

/* Returns -1 to go on, or an exit status. */
static int option_one(struct ctl *c, int opt, const char *arg)
{
    switch (opt) {
    case 's':
        c->socket = arg;
        break;
    case 'e':
        c->endpoint = arg;
        break;
    case OPT_PASSWORD:
        c->password = arg;
        break;
    case 'j':
        c->json = true;
        break;
    case 'r':
        c->opts_given |= CTL_OPT_RECURSIVE;
        c->recursive = true;
        break;
    case 'f':
        c->opts_given |= CTL_OPT_FILE;
        c->file = arg;
        break;
    case OPT_CLEAR:
        c->opts_given |= CTL_OPT_CLEAR;
        c->clear = true;
        break;
    case OPT_FORCE:
        c->opts_given |= CTL_OPT_FORCE;
        c->force = true;
        break;
    case 'h':
        fputs(usage_text, stdout);
        return CTL_OK;
    case 'V':
        printf("cashectl %s\n", CASHE_VERSION);
        return CTL_OK;
    case '?':
        return CTL_USAGE; /* getopt said what */
    default: {
        int rv = option_value(c, opt, arg);

        return rv == CTL_OK ? -1 : rv;
    }
    }
    return -1;
}

static int parse_options(struct ctl *c, int argc, char **argv)
{
    int opt, rv;

    argv[0] = (char *)"cashectl"; /* what getopt's messages start with */
    c->timeout_s = DEFAULT_TIMEOUT_S;
    c->password = getenv("CASHE_PASSWORD");
    if (c->password != NULL && c->password[0] == '\0')
        c->password = NULL;
    while ((opt = getopt_long(argc, argv, "i:s:e:t:jrf:n:hV", long_options,
                              NULL)) != -1) {
        rv = option_one(c, opt, optarg);
        if (rv == CTL_USAGE)
            fputs("Try 'cashectl --help'.\n", stderr);
        if (rv >= 0)
            return rv;
    }
    if ((c->socket != NULL) + (c->endpoint != NULL) + (c->instance != NULL) > 1)
        return ctl_fail(CTL_USAGE, "give only one of --socket, --endpoint "
                                   "and --instance");
    return -1;
}

static const char *option_name(unsigned bit)
{
    switch (bit) {
    case CTL_OPT_RECURSIVE:
        return "--recursive";
    case CTL_OPT_FILE:
        return "--file";
    case CTL_OPT_TTL:
        return "--ttl";
    case CTL_OPT_CLEAR:
        return "--clear";
    case CTL_OPT_FORCE:
        return "--force";
    default:
        return "--count";
    }
}

static int run(struct ctl *c, const struct command *cmd, int argc, char **argv)
{
    unsigned extra = c->opts_given & ~cmd->opts;
    int rv;

    if (extra != 0)
        return ctl_fail(CTL_USAGE, "option %s does not apply to '%s'",
                        option_name(extra & -extra), cmd->name);
    /* Each command checks its arguments, then connects: a usage error
     * must not depend on whether a node is up. */
    rv = cmd->fn(c, argc, argv);
    ctl_disconnect(c);
    return rv;
}

int main(int argc, char **argv)
{
    static struct ctl c;
    int rv = parse_options(&c, argc, argv);

    if (rv >= 0)
        return rv;
    if (optind >= argc)
        return ctl_fail(CTL_USAGE, "no command given");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0)
            return run(&c, &commands[i], argc - optind - 1, argv + optind + 1);
    }
    return ctl_fail(CTL_USAGE, "unknown command '%s'", argv[optind]);
}
