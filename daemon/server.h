/* server.h - the WebSocket/HTTP server on libwebsockets 4.1.6: Vosk-compatible sessions on any
 * path but /mic, microphone subscribers on /mic, GET /healthz, GET /metrics (Prometheus text) and
 * static files (the browser page), all on one port.
 *
 * DESIGN
 * The thread that calls server_service is the network thread: it owns every lws object and only
 * does I/O. Client messages become jobs on the session (session.h); workers run them and queue the
 * replies, then wake this thread with lws_cancel_service; LWS_CALLBACK_EVENT_WAIT_CANCELLED (and a
 * 200 ms timer, which also checks idle timeouts) asks lws for a write callback on every session with
 * replies waiting, one lws_write per SERVER_WRITEABLE. Backpressure: a session whose unprocessed audio
 * exceeds limits.queue_bytes, or whose unsent replies pile up (a client that does not read), stops
 * being read (lws_rx_flow_control) until the workers and the socket catch up; other sessions are
 * never affected. /mic subscribers: each subscriber's queue holds the feed's results and at most
 * one partial (a newer message replaces an unsent partial), bounded by limits.subscriber_queue; its
 * socket's send buffer is small (SO_SNDBUF 16 KB), so the kernel holds little for it either; one
 * whose socket takes nothing for limits.idle_timeout_s is dropped.
 *
 * Close codes: 1000 after the final result of {"eof" : 1}; 1001 on shutdown and idle timeout; 1003
 * for a sample rate outside limits.min/max_sample_rate (reason names the range); 1008 when
 * limits.max_audio_s is reached (after the final result), and for a /mic subscriber with more than
 * limits.subscriber_queue results unsent (reason "too slow: ..."); 1009 for a message over
 * limits.max_message_bytes; 1013 beyond limits.max_sessions. Invalid JSON, unknown commands and bad
 * config values get {"error" : "..."} and the session goes on. A missing or wrong bearer token
 * (auth.token; "Authorization: Bearer T" or ?token=T, compared in constant time) fails the
 * handshake: the connection is dropped; so does an Origin header that is neither the Host the
 * request was sent to nor in auth.origins (no Origin: accepted). With a token, HTTP requests need it
 * too (401), except /healthz and the page's .js/.css files. A session beyond
 * limits.max_sessions_per_address from one client address is closed with 1013.
 *
 * Thread safety: every function belongs to the network thread, except that workers reach it only
 * through the hub's wake function (lws_cancel_service, thread-safe).
 */
#ifndef ASRD_SERVER_H
#define ASRD_SERVER_H

#include "config.h"
#include "session.h"

typedef struct server server;

/* Creates the lws context and starts listening per c (listen address, TLS, limits, auth) with the
 * static files of www_root (NULL or missing: no page). Listens on exactly the configured address:
 * an IPv4 or IPv6 literal, every address a host name resolves to, or every interface for "*" and ""
 * (listen.h); what is bound is checked with the kernel. Sets h->wake. NULL with *err naming the
 * address on failure (a name that does not resolve, an address not on this host, port in use, bad
 * TLS files): nothing is left listening then. c and h must outlive the server. */
server *server_create(const cfg *c, hub *h, const char *www_root, asr_error *err);

/* The port actually listened on (useful with port 0). */
int server_port(const server *s);

/* The URLs listened on, "http://127.0.0.1:2700/" (several joined by " and "), into buf. */
void server_urls(const server *s, char *buf, size_t size);

/* Runs one lws service iteration (returns at the latest after ~200 ms). <0 if lws failed. */
int server_service(server *s);

/* The microphone feed's session: its replies are printed through print(json, user) (may be NULL)
 * and copied to every /mic subscriber. */
void server_set_mic(server *s, session *mic, void (*print)(const char *json, void *user), void *user);

/* Starts a graceful shutdown: new connections and further audio are refused; every Vosk session gets
 * an end-of-audio job whose final result is followed by close 1001; /mic subscribers are closed with
 * 1001 once their queued replies are sent. */
void server_shutdown(server *s);

/* Open WebSocket connections (Vosk sessions and subscribers). */
int server_open_sessions(const server *s);

/* Frees everything (closes any connection left); NULL-safe. */
void server_destroy(server *s);

#endif
