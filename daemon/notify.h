/* notify.h - the service manager's notification protocol (sd_notify(3)) without libsystemd.
 *
 * A state ("READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1") is one datagram to the AF_UNIX
 * socket named by $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace. Linking
 * libsystemd for these two calls brought seven shared libraries (libsystemd, libgcrypt,
 * libgpg-error, liblz4, libzstd, liblzma, libcap) into every start of the binary.
 *
 * Thread safety: reads the environment (getenv): call from the thread that owns it (the daemon's
 * main thread), not while another thread may change it.
 */
#ifndef ASRD_NOTIFY_H
#define ASRD_NOTIFY_H

#include <stdint.h>

/* Sends state; 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty (not under a service
 * manager), a negative errno when it is malformed or the send fails (as sd_notify(0, state)). */
int notify_send(const char *state);

/* printf-style notify_send. */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the manager expects pings within (sd_watchdog_enabled(0, usec)): 1 with
 * *usec set when $WATCHDOG_USEC is a positive number and $WATCHDOG_PID, if set, is this process;
 * else 0. */
int notify_watchdog(uint64_t *usec);

#endif
