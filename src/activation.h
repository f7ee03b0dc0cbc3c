/* Socket activation: listening sockets handed over by systemd (or anything
 * speaking the sd_listen_fds(3) protocol: LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES), so the server adopts them instead of binding its own.
 *
 * Names: "client" for the RESP TCP listener, "unix" for the client Unix
 * socket. An fd without a known name (no FileDescriptorName=) is taken by
 * its address family: AF_UNIX is "unix", AF_INET and AF_INET6 "client". */

#ifndef CASHE_ACTIVATION_H
#define CASHE_ACTIVATION_H

#include <stdbool.h>

#define ACTIVATION_CLIENT "client"
#define ACTIVATION_UNIX   "unix"

/* Claim the listening stream socket passed under @name: returns its fd,
 * now the caller's, or -1 when none was passed. The first call reads the
 * environment (and removes LISTEN_* from it); each fd is handed out once. */
int activation_take(const char *name);

/* Whether a socket named @name was passed and not yet taken. */
bool activation_passed(const char *name);

/* Whether a socket named @name was passed and claimed: the server must not
 * unlink the path of a Unix socket it did not create. */
bool activation_claimed(const char *name);

/* Whether the socket @fd is bound to a loopback address (127/8 or ::1). */
bool activation_is_loopback(int fd);

/* Close the passed sockets nobody claimed, saying so in the log. */
void activation_close_unclaimed(void);

#endif /* CASHE_ACTIVATION_H */
