/* listen.c - listen addresses: resolution and the check of what is bound (see listen.h). */
#include "listen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listen_host_ok(const char *host, int bracketed, const char **why)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (bracketed) {
        if (inet_pton(AF_INET6, host, &a6) == 1)
            return 1;
        *why = "is not an IPv6 address";
        return 0;
    }
    if (!*host || !strcmp(host, "*"))
        return 1;
    if (strchr(host, ':')) {
        *why = "is an IPv6 address without brackets (write [ADDRESS]:PORT, e.g. [::1]:2700)";
        return 0;
    }
    if (strspn(host, "0123456789.") == strlen(host)) {
        if (inet_pton(AF_INET, host, &a4) == 1)
            return 1;
        *why = "is not an IPv4 address";
        return 0;
    }
    if (strlen(host) > 253 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != strlen(host)) {
        *why = "is not a host name or address";
        return 0;
    }
    return 1;
}

/* Appends ip (numeric) to out unless it is there already. */
static int add_addr(listen_addr *out, int n, int max, int family, const char *ip)
{
    for (int i = 0; i < n; i++)
        if (out[i].family == family && !strcmp(out[i].ip, ip))
            return n;
    if (n >= max)
        return n;
    out[n].family = family;
    snprintf(out[n].ip, sizeof out[n].ip, "%s", ip);
    return n + 1;
}

int listen_resolve(const char *host, listen_addr *out, int max, asr_error *err)
{
    char ip[INET6_ADDRSTRLEN];
    struct in_addr a4;
    struct in6_addr a6;
    if (max < 1) {
        asr_error_set(err, ASR_ERR_ARG, "listen: no room for addresses");
        return -1;
    }
    if (!host || !*host || !strcmp(host, "*")) {
        out[0].family = AF_UNSPEC;
        out[0].ip[0] = '\0';
        return 1;
    }
    /* Literals are taken as they are (normalised, so they compare with what the kernel says). */
    if (inet_pton(AF_INET, host, &a4) == 1 && inet_ntop(AF_INET, &a4, ip, sizeof ip))
        return add_addr(out, 0, max, AF_INET, ip);
    if (inet_pton(AF_INET6, host, &a6) == 1 && inet_ntop(AF_INET6, &a6, ip, sizeof ip))
        return add_addr(out, 0, max, AF_INET6, ip);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* No AI_ADDRCONFIG: it ignores loopback addresses, so "localhost" would resolve to nothing on a
     * host whose only interface is lo. */
    int e = getaddrinfo(host, NULL, &hints, &res);
    if (e != 0) {
        asr_error_set(err, ASR_ERR_IO, "the host name '%s' does not resolve: %s", host,
                      e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
        return -1;
    }
    int n = 0;
    static const int order[] = {AF_INET, AF_INET6}; /* IPv4 first: the address logged first */
    for (int k = 0; k < 2; k++)
        for (struct addrinfo *r = res; r; r = r->ai_next) {
            if (r->ai_family != order[k])
                continue;
            const void *a = r->ai_family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)r->ai_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)r->ai_addr)->sin6_addr;
            if (inet_ntop(r->ai_family, a, ip, sizeof ip))
                n = add_addr(out, n, max, r->ai_family, ip);
        }
    freeaddrinfo(res);
    if (n == 0) {
        asr_error_set(err, ASR_ERR_IO, "the host name '%s' has no IPv4 or IPv6 address", host);
        return -1;
    }
    return n;
}

void listen_url(const listen_addr *a, int port, int tls, char *buf, size_t size)
{
    const char *scheme = tls ? "https" : "http";
    if (a->family == AF_INET6)
        snprintf(buf, size, "%s://[%s]:%d/", scheme, a->ip, port);
    else if (a->family == AF_INET)
        snprintf(buf, size, "%s://%s:%d/", scheme, a->ip, port);
    else
        snprintf(buf, size, "%s://*:%d/", scheme, port);
}

/* ---- what the process listens on ---- */

typedef struct bound {
    int family;
    char ip[INET6_ADDRSTRLEN];
    int port;
    int v6only;
    int used;
} bound;

/* The process's listening TCP sockets (IPv4 and IPv6), at most max. */
static int list_bound(bound *b, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d))
            continue;
        int v = 0, proto = 0;
        socklen_t len = sizeof v;
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || !v)
            continue; /* not a socket, or not listening */
        len = sizeof proto;
        if (getsockopt((int)fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0 || proto != IPPROTO_TCP)
            continue;
        struct sockaddr_storage ss;
        len = sizeof ss;
        if (getsockname((int)fd, (struct sockaddr *)&ss, &len) != 0)
            continue;
        memset(&b[n], 0, sizeof b[n]);
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, b[n].ip, sizeof b[n].ip);
            b[n].port = ntohs(s4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, b[n].ip, sizeof b[n].ip);
            b[n].port = ntohs(s6->sin6_port);
            len = sizeof b[n].v6only;
            getsockopt((int)fd, IPPROTO_IPV6, IPV6_V6ONLY, &b[n].v6only, &len);
        } else {
            continue;
        }
        b[n].family = ss.ss_family;
        n++;
    }
    closedir(d);
    return n;
}

/* Does the bound socket serve the wanted address? */
static int serves(const listen_addr *w, const bound *b)
{
    if (w->family == AF_UNSPEC) /* every interface: dual-stack [::], or 0.0.0.0 without IPv6 */
        return (b->family == AF_INET6 && !strcmp(b->ip, "::") && !b->v6only) ||
               (b->family == AF_INET && !strcmp(b->ip, "0.0.0.0"));
    if (w->family != b->family || strcmp(w->ip, b->ip))
        return 0;
    /* [::] asked for is IPv6 only: IPv4 clients were not asked for (that is "*"). */
    return w->family == AF_INET || strcmp(w->ip, "::") || b->v6only;
}

/* Why a socket cannot be bound to a, port (a fresh attempt, for the error message). */
static const char *bind_error(const listen_addr *a, int port, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int family = a->family == AF_INET ? AF_INET : AF_INET6;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, a->ip, &s4->sin_addr);
        len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (a->family == AF_INET6)
            inet_pton(AF_INET6, a->ip, &s6->sin6_addr);
        len = sizeof *s6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(buf, size, "%s", strerror(errno));
        return buf;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        snprintf(buf, size, "%s", strerror(errno));
    else
        snprintf(buf, size, "no socket was bound to it");
    close(fd);
    return buf;
}

asr_status listen_verify(const listen_addr *want, int n, int *port, asr_error *err)
{
    bound b[64];
    int nb = list_bound(b, 64);
    char url[128], why[128];
    if (nb < 0)
        return asr_error_set(err, ASR_ERR_IO, "cannot list the process's sockets (/proc/self/fd): %s",
                             strerror(errno));
    int p = *port;
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int k = 0; k < nb; k++)
            if (serves(&want[i], &b[k]) && (p == 0 || b[k].port == p)) {
                p = b[k].port;
                b[k].used = 1;
                found = 1;
            }
        if (!found) {
            listen_url(&want[i], p, 0, url, sizeof url);
            return asr_error_set(err, ASR_ERR_IO, "cannot listen on %s: %s", url,
                                 bind_error(&want[i], p, why, sizeof why));
        }
    }
    for (int k = 0; k < nb; k++)
        if (!b[k].used) {
            listen_addr a = {b[k].family, ""};
            snprintf(a.ip, sizeof a.ip, "%s", b[k].ip);
            listen_url(&a, b[k].port, 0, url, sizeof url);
            return asr_error_set(err, ASR_ERR_IO, "listening on %s%s, which was not asked for", url,
                                 b[k].family == AF_INET6 && !b[k].v6only ? " (and IPv4)" : "");
        }
    *port = p;
    return ASR_OK;
}

int address_canonical(const char *s, char *out, size_t cap)
{
    unsigned char a[sizeof(struct in6_addr)];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET, s, a) == 1)
        return inet_ntop(AF_INET, a, out, (socklen_t)cap) != NULL;
    if (inet_pton(AF_INET6, s, a) != 1)
        return 0;
    if (!memcmp(a, mapped, sizeof mapped))
        return inet_ntop(AF_INET, a + 12, out, (socklen_t)cap) != NULL;
    return inet_ntop(AF_INET6, a, out, (socklen_t)cap) != NULL;
}
