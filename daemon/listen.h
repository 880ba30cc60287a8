/* listen.h - the addresses the daemon listens on: what listen: "HOST:PORT" means, and a check of
 * what the process really bound.
 *
 * DESIGN
 * libwebsockets 4.1.6 binds [::] (every interface, IPv4 included) unless told otherwise, treats
 * info.iface as an interface name first, resolves no host names, and when the interface or address
 * is not there it only logs and brings the vhost up without a socket. So the daemon decides the
 * addresses itself (listen_resolve: a literal is taken as it is, a host name is resolved and every
 * address it has is listened on), creates one lws vhost per address with the options that make lws
 * bind exactly that address, and then asks the kernel (listen_verify) which listening sockets the
 * process has: every wanted address must be there, and nothing else. Any difference is a start-up
 * error naming the address.
 *
 * Thread safety: reentrant; listen_verify looks at every socket of the process, so call it when no
 * other thread opens listening sockets (start-up).
 */
#ifndef ASRD_LISTEN_H
#define ASRD_LISTEN_H

#include <netinet/in.h>

#include "../frontend/asr_util.h"

#define LISTEN_MAX_ADDRS 8

typedef struct listen_addr {
    int family;                /* AF_INET, AF_INET6, or AF_UNSPEC: every interface (IPv6 and IPv4) */
    char ip[INET6_ADDRSTRLEN]; /* numeric address ("" for every interface) */
} listen_addr;

/* The addresses for the configured host: "" or "*" = every interface (one entry, AF_UNSPEC); an
 * IPv4 or IPv6 literal (without brackets) = that address; anything else is a host name resolved
 * with getaddrinfo, every distinct IPv4 and IPv6 address of it (IPv4 first, at most
 * LISTEN_MAX_ADDRS). Returns the count (>= 1), or -1 with *err naming the host when it does not
 * resolve. */
int listen_resolve(const char *host, listen_addr *out, int max, asr_error *err);

/* Checks the process's listening TCP sockets against want[0..n): each address must be listened on
 * once (on port *port, or when *port is 0 on one port shared by all, stored in *port), and no
 * other address may be. Every interface means a dual-stack [::] socket (or 0.0.0.0 on a host
 * without IPv6). Returns ASR_OK, or ASR_ERR_IO with *err saying what is missing or extra. */
asr_status listen_verify(const listen_addr *want, int n, int *port, asr_error *err);

/* The URL of a (port, tls) ("http://127.0.0.1:2700/", "https://[::1]:2700/"); every interface
 * is written "*" in place of the address) into buf (always terminated). */
void listen_url(const listen_addr *a, int port, int tls, char *buf, size_t size);

/* A config value's host part is acceptable (checked when the configuration is read, before any
 * name is resolved): "" and "*", an IPv4 literal (dotted quad), an IPv6 literal, or a host name of
 * letters, digits, '-', '.' and '_'. Numbers that are not an IPv4 address (256.1.1.1, 127.1) are
 * refused. Returns 1 if acceptable, else 0 with why (a short reason). */
int listen_host_ok(const char *host, int bracketed, const char **why);

/* The canonical text of an IPv4 or IPv6 address literal s (inet_ntop's form; an IPv4-mapped IPv6
 * address "::ffff:a.b.c.d" becomes "a.b.c.d", as a dual-stack socket reports IPv4 peers), for
 * comparing addresses written differently. Returns 1 with out filled, or 0 when s is not one
 * (host names are not resolved). cap >= INET6_ADDRSTRLEN. */
int address_canonical(const char *s, char *out, size_t cap);

#endif
