/* Socket activation through sd_listen_fds_with_names(3). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "activation.h"
#include "log.h"

/* More than the server could use; the rest are closed as unclaimed. */
#define MAX_PASSED 16

struct passed {
    int fd;        /* -1 once claimed or closed */
    char name[64]; /* as systemd named it, or taken from the family */
    bool claimed;
};

static struct {
    bool read;
    unsigned n;
    struct passed v[MAX_PASSED];
} passed;

/* Unnamed fds are named "unknown" by the protocol, and a socket unit
 * without FileDescriptorName= names them after itself: go by family. */
static const char *name_by_family(int fd)
{
    if (sd_is_socket(fd, AF_UNIX, SOCK_STREAM, 1) > 0)
        return ACTIVATION_UNIX;
    if (sd_is_socket(fd, AF_INET, SOCK_STREAM, 1) > 0 ||
        sd_is_socket(fd, AF_INET6, SOCK_STREAM, 1) > 0)
        return ACTIVATION_CLIENT;
    return "unusable";
}

static bool name_known(const char *name)
{
    return strcmp(name, ACTIVATION_CLIENT) == 0 ||
           strcmp(name, ACTIVATION_UNIX) == 0;
}

static void passed_read(void)
{
    char **names = NULL;
    int n;

    passed.read = true;
    n = sd_listen_fds_with_names(1, &names);
    if (n < 0)
        log_warning("socket activation: %s; binding our own sockets",
                    strerror(-n));
    for (int i = 0; i < n; i++) {
        struct passed *p = &passed.v[passed.n];
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names != NULL ? names[i] : "unknown";

        if (passed.n == MAX_PASSED) {
            close(fd);
            continue;
        }
        if (!name_known(name))
            name = name_by_family(fd);
        p->fd = fd;
        snprintf(p->name, sizeof(p->name), "%s", name);
        passed.n++;
    }
    for (int i = 0; names != NULL && names[i] != NULL; i++)
        free(names[i]);
    free(names);
}

int activation_take(const char *name)
{
    if (!passed.read)
        passed_read();
    for (unsigned i = 0; i < passed.n; i++) {
        struct passed *p = &passed.v[i];

        if (p->claimed || p->fd < 0 || strcmp(p->name, name) != 0)
            continue;
        /* Only a listening stream socket can be served. */
        if (sd_is_socket(p->fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
            log_warning("socket activation: the '%s' fd %d is not a "
                        "listening stream socket; ignoring it",
                        name, p->fd);
            continue;
        }
        p->claimed = true;
        log_info("socket activation: using the '%s' socket (fd %d)", name,
                 p->fd);
        return p->fd;
    }
    return -1;
}

bool activation_passed(const char *name)
{
    if (!passed.read)
        passed_read();
    for (unsigned i = 0; i < passed.n; i++) {
        if (!passed.v[i].claimed && passed.v[i].fd >= 0 &&
            strcmp(passed.v[i].name, name) == 0)
            return true;
    }
    return false;
}

bool activation_claimed(const char *name)
{
    for (unsigned i = 0; i < passed.n; i++) {
        if (passed.v[i].claimed && strcmp(passed.v[i].name, name) == 0)
            return true;
    }
    return false;
}

bool activation_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)&ss;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)&ss;

        const uint8_t *a = in6->sin6_addr.s6_addr;

        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127);
    }
    return false;
}

void activation_close_unclaimed(void)
{
    for (unsigned i = 0; i < passed.n; i++) {
        struct passed *p = &passed.v[i];

        if (p->claimed || p->fd < 0)
            continue;
        log_warning("socket activation: fd %d named '%s' is not used; "
                    "closing it",
                    p->fd, p->name);
        close(p->fd);
        p->fd = -1;
    }
}
