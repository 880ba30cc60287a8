/* server.c - libwebsockets server: Vosk sessions, /mic subscribers, /healthz, /metrics, static files
 * (see server.h for the design and the close codes). */
#include "server.h"

#include <libwebsockets.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../proto/vosk.h"
#include "listen.h"

#define OUT_MAX 64           /* unsent replies before a session stops being read */
#define SUB_SNDBUF 16384     /* SO_SNDBUF of a /mic subscriber's socket (the kernel doubles it) */
#define TICK_US (200 * 1000) /* timer: idle checks, and lws_service returns at least this often */

/* lws's per-connection struct (zeroed by lws, freed by lws after CLOSED). [net] */
typedef struct pss {
    struct lws *wsi;
    session *s;    /* NULL for HTTP requests and refused connections */
    char peer[64]; /* the client's address (limits.max_sessions_per_address; client_address) */
    int mic_sub;   /* a /mic subscriber */
    struct pss *prev, *next;

    /* the message being received */
    int in_msg, binary;
    size_t msg_bytes;
    char *text;
    size_t text_len, text_cap;
    job *cur;
    size_t cur_cap;
    int have_carry; /* a PCM16 sample split across fragments or messages */
    unsigned char carry;

    int rate;       /* the client's sample rate (for the audio cap) */
    double audio_s; /* client audio received */
    int eof_sent;   /* no more audio accepted */
    int rx_paused;
    long long last_rx_ms;
    long long choked_since_ms; /* /mic subscriber: since when its socket takes nothing (0: it does) */
    int dropped;               /* /mic subscriber dropped for not reading: lws closes it soon */
    int close_code;         /* closing: input is ignored, the close goes out at the next writable callback */
    char close_reason[124]; /* a close frame carries at most 123 bytes of reason */
    int refused;            /* closing a connection refused at ESTABLISHED (no session) */
    int close_started;      /* the writable callback returned -1 once: lws runs the close handshake */
    int close_when_drained; /* subscribers at shutdown */

    /* HTTP */
    unsigned char *body; /* LWS_PRE + body_len */
    size_t body_len;
} pss;

struct server {
    const cfg *c;
    hub *h;
    struct lws_context *ctx;
    struct lws_vhost *vh[LISTEN_MAX_ADDRS]; /* one per address listened on */
    listen_addr addrs[LISTEN_MAX_ADDRS];
    int n_addrs;
    int port; /* the port listened on (the configured one, or the one the kernel chose for 0) */
    struct lws_protocols protocols[2];
    struct lws_http_mount mounts[3];
    lws_retry_bo_t retry;
    lws_sorted_usec_list_t sul;
    char www_root[PATH_MAX];
    char www_mount[256];
    pss *list; /* open WebSocket connections */
    int n_open;
    int n_refusing; /* refused connections whose close handshake is still under way */
    int stopping;
    session *mic;
    void (*mic_print)(const char *json, void *user);
    void *mic_user;
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static server *srv_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void count_error(server *sv, hub_error_kind k)
{
    atomic_fetch_add(&sv->h->stats.errors[k], 1);
}

/* Queues {"error" : msg} for the client and asks for a write. */
static void send_error(pss *p, const char *msg)
{
    char *t = vosk_format_error(msg);
    if (t)
        session_push_out(p->s, t, 0, NULL);
    lws_callback_on_writable(p->wsi);
}

/* Starts lws's close handshake; only from the SERVER_WRITEABLE callback, which then returns -1.
 * lws sends the close frame with this code and reason, keeps reading (and dropping) what the client
 * had already sent until the client's own close frame arrives (LRS_AWAITING_CLOSE_ACK, 5 s at most),
 * and only then shuts the socket, so the client reads the code and reason instead of a reset. */
static int close_now(struct lws *wsi, int code, const char *reason)
{
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

/* Stops taking messages and closes at the next writable callback: the way to close from any other
 * callback. Returning -1 from LWS_CALLBACK_RECEIVE instead drops the rest of lws's read buffer, so a
 * frame that came in the same read (audio sent right after a refused config) leaves lws's frame
 * parser mid-frame; it then reads audio bytes as a frame header, fails, and kills the socket before
 * the close frame goes out (the client sees 1006). */
static void close_later(pss *p, int code, const char *reason)
{
    if (p->close_code)
        return; /* the first reason stands */
    p->close_code = code;
    snprintf(p->close_reason, sizeof p->close_reason, "%s", reason);
    lws_callback_on_writable(p->wsi);
}

/* Stops reading a client whose work or replies pile up. */
static void maybe_pause(server *sv, pss *p)
{
    pthread_mutex_lock(&sv->h->lock);
    int full = p->s->queued_bytes > (size_t)sv->c->queue_bytes || p->s->n_out > OUT_MAX;
    pthread_mutex_unlock(&sv->h->lock);
    if (full && !p->rx_paused) {
        p->rx_paused = 1;
        lws_rx_flow_control(p->wsi, 0);
    }
}

/* A partial result ({"partial" : ...}), which the next message of the feed supersedes. */
static int is_partial(const char *json)
{
    json += strspn(json, "{ \t\r\n");
    return !strncmp(json, "\"partial\"", 9);
}

/* Queues a microphone message for a subscriber. Its queue holds results and at most one partial (a
 * newer message supersedes an unsent partial, session_push_latest), so a subscriber that reads
 * slowly gets the latest partial and every result; one with more than limits.subscriber_queue
 * messages unsent cannot catch up: its queue is freed and it is closed with 1008 (the close frame
 * goes out when its socket takes it; if it never does, the stall rule in service_all drops it). */
static void feed_subscriber(server *sv, pss *p, const char *text, int partial)
{
    char *copy = strdup(text);
    if (!copy)
        return;
    int n = session_push_latest(p->s, copy, partial);
    if (n <= sv->c->subscriber_queue)
        return;
    session_drop_out(p->s);
    count_error(sv, ERR_SLOW_SUBSCRIBER);
    asr_log(ASR_LOG_WARN,
            "/mic subscriber too slow (%d messages unsent, limits.subscriber_queue %d): closing", n,
            sv->c->subscriber_queue);
    char why[100];
    snprintf(why, sizeof why, "too slow: more than %d results unread", sv->c->subscriber_queue);
    close_later(p, 1008, why);
}

/* The idle rule of /mic subscribers: one whose socket has taken nothing for limits.idle_timeout_s
 * (it does not read; its close frame could not get through either) is dropped without a close
 * handshake and its queue freed; when shutting down, at once (it would hold up the exit). */
static void check_stalled(server *sv, pss *p, long long now)
{
    if (p->dropped || (sv->c->idle_timeout_s <= 0 && !sv->stopping))
        return;
    if (!lws_send_pipe_choked(p->wsi)) {
        p->choked_since_ms = 0;
        return;
    }
    if (!p->choked_since_ms)
        p->choked_since_ms = now;
    if (!sv->stopping && now - p->choked_since_ms <= (long long)sv->c->idle_timeout_s * 1000)
        return;
    count_error(sv, ERR_SLOW_SUBSCRIBER);
    if (sv->stopping)
        asr_log(ASR_LOG_INFO, "stopping: dropping a /mic subscriber that does not read");
    else
        asr_log(ASR_LOG_INFO, "/mic subscriber has read nothing for %d s (limits.idle_timeout_s): dropping",
                sv->c->idle_timeout_s);
    p->dropped = 1;
    session_drop_out(p->s);
    lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Broadcasts the microphone's replies. [net] */
static void serve_mic(server *sv)
{
    if (sv->mic) {
        out_msg *m;
        while ((m = session_pop_out(sv->mic))) {
            if (m->text) {
                if (sv->mic_print)
                    sv->mic_print(m->text, sv->mic_user);
                int partial = is_partial(m->text);
                for (pss *p = sv->list; p; p = p->next)
                    if (p->mic_sub && !p->close_code && !p->close_started && !p->dropped)
                        feed_subscriber(sv, p, m->text, partial);
            }
            out_msg_free(m);
        }
    }
}

/* Wakes p's writer, resumes its reading once its queue has room, closes it when idle. [net] */
static void serve_one(server *sv, pss *p, long long now)
{
    {
        pthread_mutex_lock(&sv->h->lock);
        int has_out = p->s->out != NULL;
        int work_held = p->s->queued_bytes > (size_t)sv->c->queue_bytes / 2;
        int can_resume = p->rx_paused && !work_held && p->s->n_out <= OUT_MAX / 2;
        pthread_mutex_unlock(&sv->h->lock);
        if (p->rx_paused && work_held) {
            /* The daemon is the slow party: it does not read this client (its audio waits in the
             * session's queue), so neither the client's messages nor its pong, which sits behind
             * them in the socket, reach lws. Without this, lws's validity timer (limits.ping_s,
             * hangup_s: only a pong confirms) would hang the client up with no close frame, and the
             * idle rule would close it, for the daemon's own backlog. Both clocks run again from
             * when it is read again. A session held only by its unsent replies (n_out: the client
             * does not read) gets no such grace. */
            lws_validity_confirmed(p->wsi);
            p->last_rx_ms = now;
        }
        if (p->mic_sub)
            check_stalled(sv, p, now);
        if ((has_out || p->close_when_drained) && !p->close_started && !p->dropped)
            lws_callback_on_writable(p->wsi);
        if (can_resume && !p->close_code) {
            p->rx_paused = 0;
            lws_rx_flow_control(p->wsi, 1);
        }
        if (!p->mic_sub && !p->close_code && !p->close_started && sv->c->idle_timeout_s > 0 && !p->eof_sent &&
            now - p->last_rx_ms > (long long)sv->c->idle_timeout_s * 1000) {
            count_error(sv, ERR_IDLE_TIMEOUT);
            asr_log(ASR_LOG_INFO, "session idle for %d s: closing", sv->c->idle_timeout_s);
            close_later(p, 1001, "idle timeout");
        }
    }
}

/* Every session: on the tick (idle timeouts, stalled subscribers) and while a reader is paused. */
static void service_all(server *sv)
{
    serve_mic(sv);
    long long now = now_ms();
    for (pss *p = sv->list; p; p = p->next)
        serve_one(sv, p, now);
}

/* After a worker's wake-up: the sessions given output since the last one (the hub's dirty list),
 * not all of them. With hundreds of sessions the full walk on every wake (a worker round each)
 * cost a hub-lock round trip per session per round, under the lock the workers need. A paused
 * reader can resume after any round that consumed its jobs, so while one is paused the full walk
 * runs as before. */
static void service_dirty(server *sv)
{
    session *d[256];
    int n, paused = 0;
    for (pss *p = sv->list; p && !paused; p = p->next)
        paused = p->rx_paused;
    long long now = now_ms();
    while ((n = hub_take_dirty(sv->h, d, (int)(sizeof d / sizeof d[0]))) > 0) {
        for (int i = 0; i < n; i++) {
            session *s = d[i];
            if (s == sv->mic) {
                serve_mic(sv);
            } else if (!paused) {
                pthread_mutex_lock(&sv->h->lock);
                pss *p = s->gone ? NULL : s->user; /* s->user is cleared when the client goes */
                pthread_mutex_unlock(&sv->h->lock);
                if (p)
                    serve_one(sv, p, now);
            }
            session_unref(s);
        }
    }
    if (paused)
        service_all(sv);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    server *sv = lws_container_of(sul, server, sul);
    service_all(sv);
    lws_sul_schedule(sv->ctx, 0, &sv->sul, tick, TICK_US);
}

/* ---- HTTP: /healthz and /metrics ---- */

/* What /healthz answers: 200 "ok"; 503 "draining" from SIGTERM on (server_shutdown); 503 "full"
 * while limits.max_sessions sessions are open. A load balancer checking it stops sending new
 * sessions here before the daemon goes away or would refuse them with 1013. */
static int health_of(const server *sv, const char **why)
{
    const char *w = sv->stopping ? "draining" : sv->n_open >= sv->c->max_sessions ? "full" : "ok";
    if (why)
        *why = w;
    return strcmp(w, "ok") ? 503 : 200;
}

static size_t metrics_text(server *sv, char *buf, size_t cap)
{
    hub_stats *st = &sv->h->stats;
    double audio_s = (double)atomic_load(&st->samples_in) / sv->h->rate;
    double busy_s = (double)atomic_load(&st->busy_ns) / 1e9;
    long queued;
    double queued_s = 0; /* audio received but not yet recognised, every session */
    pthread_mutex_lock(&sv->h->lock);
    queued = sv->h->jobs_queued;
    for (pss *p = sv->list; p; p = p->next)
        queued_s += (double)(p->s->queued_bytes / sizeof(float)) / p->rate;
    pthread_mutex_unlock(&sv->h->lock);
    size_t n = 0;
#define OUT(...) (n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__))
    /* Pool sizing: sessions against the limit, whether the balancer should send more (= /healthz),
     * and the queue below. */
    OUT("# HELP asrd_ready 1 while /healthz answers 200 (not draining, a session slot free), else 0.\n"
        "# TYPE asrd_ready gauge\nasrd_ready %d\n",
        health_of(sv, NULL) == 200);
    OUT("# HELP asrd_draining 1 from SIGTERM on: open sessions finish, new ones are refused.\n"
        "# TYPE asrd_draining gauge\nasrd_draining %d\n",
        sv->stopping);
    OUT("# HELP asrd_sessions_max Concurrent sessions allowed (limits.max_sessions).\n"
        "# TYPE asrd_sessions_max gauge\nasrd_sessions_max %d\n",
        sv->c->max_sessions);
    OUT("# HELP asrd_workers Recognition worker threads.\n# TYPE asrd_workers gauge\nasrd_workers %d\n",
        sv->c->threads);
    OUT("# HELP asrd_sessions_open WebSocket sessions open now (Vosk clients and /mic subscribers).\n"
        "# TYPE asrd_sessions_open gauge\nasrd_sessions_open %ld\n",
        (long)atomic_load(&st->sessions_open));
    OUT("# HELP asrd_sessions_total WebSocket sessions accepted since start.\n"
        "# TYPE asrd_sessions_total counter\nasrd_sessions_total %ld\n",
        (long)atomic_load(&st->sessions_total));
    OUT("# HELP asrd_audio_seconds_total Audio recognised, in seconds.\n"
        "# TYPE asrd_audio_seconds_total counter\nasrd_audio_seconds_total %.3f\n",
        audio_s);
    OUT("# HELP asrd_processing_seconds_total Worker time spent recognising.\n"
        "# TYPE asrd_processing_seconds_total counter\nasrd_processing_seconds_total %.3f\n",
        busy_s);
    OUT("# HELP asrd_real_time_factor Processing time over audio time since start.\n"
        "# TYPE asrd_real_time_factor gauge\nasrd_real_time_factor %.4f\n",
        audio_s > 0 ? busy_s / audio_s : 0.0);
    OUT("# HELP asrd_queue_depth Jobs (audio chunks, commands) waiting for a worker.\n"
        "# TYPE asrd_queue_depth gauge\nasrd_queue_depth %ld\n",
        queued);
    OUT("# HELP asrd_queued_audio_seconds Audio received from clients and not yet recognised.\n"
        "# TYPE asrd_queued_audio_seconds gauge\nasrd_queued_audio_seconds %.3f\n",
        queued_s);
    OUT("# HELP asrd_dropped_audio_seconds_total Audio dropped because recognition fell behind.\n"
        "# TYPE asrd_dropped_audio_seconds_total counter\nasrd_dropped_audio_seconds_total %.3f\n",
        (double)atomic_load(&st->dropped_samples) / sv->h->rate);
    OUT("# HELP asrd_results_total Final results sent.\n# TYPE asrd_results_total counter\n"
        "asrd_results_total %ld\n",
        (long)atomic_load(&st->results));
    OUT("# HELP asrd_partials_total Partial results sent.\n# TYPE asrd_partials_total counter\n"
        "asrd_partials_total %ld\n",
        (long)atomic_load(&st->partials));
    OUT("# HELP asrd_errors_total Refused messages and connections, by kind.\n# TYPE asrd_errors_total "
        "counter\n");
    for (int k = 0; k < ERR_N_KINDS; k++)
        OUT("asrd_errors_total{kind=\"%s\"} %ld\n", hub_error_name((hub_error_kind)k),
            (long)atomic_load(&st->errors[k]));
#undef OUT
    return n;
}

static int http_reply(struct lws *wsi, pss *p, int status, const char *type, const char *body, size_t len)
{
    p->body = malloc(LWS_PRE + len + 1);
    if (!p->body)
        return -1;
    memcpy(p->body + LWS_PRE, body, len);
    p->body_len = len;
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *q = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, type, len, &q, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8,
                                     &q, end) ||
        lws_finalize_write_http_header(wsi, start, &q, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_http(struct lws *wsi, pss *p)
{
    server *sv = srv_of(wsi);
    char uri[256] = "";
    lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    if (!strcmp(uri, "/healthz") || !strcmp(uri, "/healthz/")) {
        char body[128];
        const char *why;
        int status = health_of(sv, &why);
        int n = snprintf(body, sizeof body, "%s\n", why);
        return http_reply(wsi, p, status, "text/plain", body, (size_t)n);
    }
    if (!strcmp(uri, "/metrics") || !strcmp(uri, "/metrics/")) {
        size_t need = metrics_text(sv, NULL, 0) + 1;
        char *body = malloc(need);
        if (!body)
            return -1;
        metrics_text(sv, body, need);
        int rc = http_reply(wsi, p, 200, "text/plain; version=0.0.4", body, need - 1);
        free(body);
        return rc;
    }
    return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL)
               ? -1
               : (lws_http_transaction_completed(wsi) ? -1 : 0);
}

/* ---- WebSocket ---- */

/* Whether a client's guess equals the secret, in a time that depends on the secret's length only:
 * strcmp stops at the first difference, so its time tells how much of a guess is right. */
static int same_secret(const char *guess, const char *secret)
{
    size_t lg = strlen(guess), ls = strlen(secret);
    volatile unsigned char d = (unsigned char)(lg != ls);
    for (size_t i = 0; i < ls; i++)
        d |= (unsigned char)((unsigned char)(i < lg ? guess[i] : 0) ^ (unsigned char)secret[i]);
    return d == 0;
}

/* The request carries auth.token ("Authorization: Bearer T" or ?token=T), or none is configured. */
static int token_ok(server *sv, struct lws *wsi)
{
    if (!sv->c->token)
        return 1;
    char buf[512];
    int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 7 && !strncasecmp(buf, "Bearer ", 7) && same_secret(buf + 7, sv->c->token))
        return 1;
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof buf); /* points after "token=" */
    return v && same_secret(v, sv->c->token);
}

/* HTTP requests that need the token when one is configured: everything but /healthz (load
 * balancers) and the page's scripts and style sheet (no data; a page loaded with ?token=T passes
 * the token on to its WebSocket, not to the files it loads). */
static int http_needs_token(const char *uri)
{
    size_t n = strlen(uri);
    if (!strcmp(uri, "/healthz") || !strcmp(uri, "/healthz/"))
        return 0;
    return !((n > 3 && !strcmp(uri + n - 3, ".js")) || (n > 4 && !strcmp(uri + n - 4, ".css")));
}

/* Refuses a request with an HTTP error written at once, as lws_return_http_status() does, but with
 * the status line by hand: before an upgrade is processed lws has not yet noted the request's HTTP
 * version and would answer "HTTP/1.0", which WebSocket clients reject unread (they should see the
 * status), and with room for one extra header. Returns 1 (lws then closes the connection) or -1. */
static int http_refuse(struct lws *wsi, const char *status, const char *body, const char *header,
                       const char *value)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *q = start, *end = buf + sizeof buf - 1;
    size_t ls = strlen(status), lb = strlen(body);
    char len[24];
    int n = snprintf(len, sizeof len, "%zu", lb);
    if (ls + 2 > (size_t)(end - q))
        return -1;
    memcpy(q, status, ls);
    memcpy(q + ls, "\r\n", 2);
    q += ls + 2;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)"text/plain",
                                     10, &q, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (const unsigned char *)len, n, &q,
                                     end) ||
        (header && lws_add_http_header_by_name(wsi, (const unsigned char *)header,
                                               (const unsigned char *)value, (int)strlen(value), &q, end)) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8,
                                     &q, end) ||
        lws_finalize_http_header(wsi, &q, end) || (size_t)(end - q) < lb)
        return -1;
    memcpy(q, body, lb);
    q += lb;
    return lws_write(wsi, start, (size_t)(q - start), LWS_WRITE_HTTP) == (int)(q - start) ? 1 : -1;
}

/* A request without the token: 401 with the challenge RFC 6750 asks for, for plain HTTP and for
 * WebSocket upgrades alike, so a client learns why. */
static int refuse_unauthorized(server *sv, struct lws *wsi, const char *what)
{
    count_error(sv, ERR_AUTH);
    asr_log(ASR_LOG_WARN, "refusing %s: missing or wrong bearer token", what);
    return http_refuse(wsi, "HTTP/1.1 401 Unauthorized", "401 missing or wrong token (auth.token)\n",
                       "www-authenticate:", "Bearer realm=\"asrd\"");
}

/* A WebSocket upgrade's Origin is allowed: none (not a browser: Vosk clients), the Host the request
 * was sent to (the page served from here), or one of auth.origins ("*": any). Else a page on any
 * other site the user visits could open a session or /mic (cross-site WebSocket hijacking). */
static int origin_ok(server *sv, struct lws *wsi, char *origin, size_t cap)
{
    origin[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0)
        return 1;
    if (lws_hdr_copy(wsi, origin, (int)cap, WSI_TOKEN_ORIGIN) <= 0)
        return 0; /* too long */
    for (int i = 0; i < sv->c->n_origins; i++)
        if (!strcmp(sv->c->origins[i], "*") || !strcasecmp(sv->c->origins[i], origin))
            return 1;
    char host[256];
    const char *o = strstr(origin, "://");
    return o && lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) > 0 && !strcasecmp(o + 3, host);
}

/* Refuses an established connection without a session: the close goes out from the writable
 * callback like every other (see close_later). */
static int refuse(server *sv, pss *p, int code, const char *reason)
{
    p->refused = 1;
    sv->n_refusing++;
    close_later(p, code, reason);
    return 0;
}

/* The client's address for limits.max_sessions_per_address and the logs: the peer's, or, when the
 * peer is one of limits.trusted_proxies, the rightmost address of its X-Forwarded-For (the one that
 * proxy added; those left of it are whatever the client claimed). A missing, too long or malformed
 * header counts the proxy itself. */
static void client_address(server *sv, struct lws *wsi, char *peer, size_t cap)
{
    char canon[INET6_ADDRSTRLEN], xff[512], fwd[INET6_ADDRSTRLEN];
    lws_get_peer_simple(wsi, peer, cap);
    if (!address_canonical(peer, canon, sizeof canon))
        return;
    snprintf(peer, cap, "%s", canon);
    int trusted = 0;
    for (int i = 0; i < sv->c->n_trusted_proxies && !trusted; i++)
        trusted = address_canonical(sv->c->trusted_proxies[i], fwd, sizeof fwd) && !strcmp(fwd, canon);
    if (!trusted || lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
        return;
    char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    last += strspn(last, " \t");
    last[strcspn(last, " \t")] = '\0';
    if (address_canonical(last, fwd, sizeof fwd))
        snprintf(peer, cap, "%s", fwd);
    else
        asr_log(ASR_LOG_WARN, "X-Forwarded-For from %s ends in '%s', not an address: counting the proxy's",
                canon, last);
}

static int on_established(struct lws *wsi, pss *p)
{
    server *sv = srv_of(wsi);
    asr_error err = {ASR_OK, ""};
    p->wsi = wsi;
    if (sv->stopping)
        return refuse(sv, p, 1001, "server shutting down");
    if (sv->n_open >= sv->c->max_sessions) {
        count_error(sv, ERR_TOO_MANY_SESSIONS);
        asr_log(ASR_LOG_WARN, "refusing a session: %d open (limits.max_sessions)", sv->n_open);
        return refuse(sv, p, 1013, "too many sessions, try again later");
    }
    char uri[256] = "";
    lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    client_address(sv, wsi, p->peer, sizeof p->peer);
    if (sv->c->max_per_address > 0) {
        int n = 0;
        for (pss *q = sv->list; q; q = q->next)
            n += !strcmp(q->peer, p->peer);
        if (n >= sv->c->max_per_address) {
            count_error(sv, ERR_ADDRESS_LIMIT);
            asr_log(ASR_LOG_WARN,
                    "refusing a session from %s: %d open from there (limits.max_sessions_per_address)",
                    p->peer, n);
            return refuse(sv, p, 1013, "too many sessions from this address, try again later");
        }
    }
    p->mic_sub = !strcmp(uri, "/mic") || !strncmp(uri, "/mic?", 5);
    if (p->mic_sub) {
        /* The kernel's share of a subscriber's queue: Linux grows a socket's send buffer up to
         * tcp_wmem's 4 MB, so a client that never reads would hold that much kernel memory each.
         * The feed needs a few KB/s; lws keeps what the socket does not take. */
        int sz = SUB_SNDBUF;
        setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    p->s = session_create(sv->h, 0, &err);
    if (!p->s) {
        count_error(sv, ERR_INTERNAL);
        return refuse(sv, p, 1011, "out of memory");
    }
    p->s->user = p;
    p->rate = sv->h->rate;
    p->last_rx_ms = now_ms();
    p->next = sv->list;
    if (sv->list)
        sv->list->prev = p;
    sv->list = p;
    sv->n_open++;
    atomic_fetch_add(&sv->h->stats.sessions_open, 1);
    atomic_fetch_add(&sv->h->stats.sessions_total, 1);
    asr_log(ASR_LOG_DEBUG, "session opened (%s), %d open", p->mic_sub ? "/mic subscriber" : "recognition",
            sv->n_open);
    return 0;
}

static void on_closed(server *sv, pss *p)
{
    free(p->text);
    p->text = NULL;
    job_free(p->cur);
    p->cur = NULL;
    if (p->refused) {
        p->refused = 0;
        sv->n_refusing--;
    }
    if (!p->s)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        sv->list = p->next;
    if (p->next)
        p->next->prev = p->prev;
    sv->n_open--;
    atomic_fetch_sub(&sv->h->stats.sessions_open, 1);
    session_close(p->s);
    p->s = NULL;
    asr_log(ASR_LOG_DEBUG, "session closed, %d open", sv->n_open);
}

static void end_audio(pss *p, int code, const char *reason)
{
    job *j = job_new(JOB_EOF, 0);
    if (!j)
        return;
    j->close_code = code;
    snprintf(j->reason, sizeof j->reason, "%s", reason);
    p->eof_sent = 1;
    session_push(p->s, j);
}

static int on_text(server *sv, pss *p)
{
    vosk_msg m;
    vosk_msg_type t = vosk_parse(p->text ? p->text : "", p->text_len, &m);
    p->text_len = 0;
    if (p->mic_sub && t != VOSK_MSG_ERROR) {
        send_error(p, "the /mic feed only publishes results; send audio to another path");
        vosk_msg_free(&m);
        return 0;
    }
    switch (t) {
    case VOSK_MSG_ERROR:
        count_error(sv, strstr(m.error, "unknown command") ? ERR_UNKNOWN_COMMAND
                        : strstr(m.error, "JSON")          ? ERR_INVALID_JSON
                                                           : ERR_BAD_CONFIG);
        send_error(p, m.error);
        return 0;
    case VOSK_MSG_CONFIG: {
        int r = m.config.sample_rate;
        if (r && (r < sv->c->min_rate || r > sv->c->max_rate)) {
            char why[120];
            snprintf(why, sizeof why, "unsupported sample rate %d (accepted: %d..%d Hz)", r, sv->c->min_rate,
                     sv->c->max_rate);
            count_error(sv, ERR_UNSUPPORTED_RATE);
            vosk_msg_free(&m);
            close_later(p, 1003, why);
            return 0;
        }
        job *j = job_new(JOB_CONFIG, 0);
        if (j) {
            j->rate = r;
            j->words = m.config.words;
            j->has_phrases = m.config.has_phrase_list; /* the job takes the list over */
            j->phrases = m.config.phrases;
            j->n_phrases = m.config.n_phrases;
            m.config.phrases = NULL;
            m.config.n_phrases = 0;
            if (r)
                p->rate = r;
            session_push(p->s, j);
        }
        vosk_msg_free(&m);
        return 0;
    }
    case VOSK_MSG_EOF:
        if (!p->eof_sent)
            end_audio(p, 1000, "");
        return 0;
    case VOSK_MSG_RESET: {
        job *j = p->eof_sent ? NULL : job_new(JOB_RESET, 0);
        if (j)
            session_push(p->s, j);
        return 0;
    }
    }
    return 0;
}

/* Appends a fragment of PCM16LE bytes to the current audio job, carrying an odd byte over. */
static int add_pcm(pss *p, const unsigned char *b, size_t len)
{
    size_t need = (len + (size_t)p->have_carry) / 2;
    if (!p->cur) {
        p->cur = job_new(JOB_AUDIO, 0);
        p->cur_cap = 0;
        if (!p->cur)
            return -1;
    }
    if (p->cur->n + need > p->cur_cap) {
        size_t cap = p->cur_cap ? p->cur_cap : 1024;
        while (cap < p->cur->n + need)
            cap *= 2;
        float *ns = realloc(p->cur->samples, cap * sizeof *ns);
        if (!ns)
            return -1;
        p->cur->samples = ns;
        p->cur_cap = cap;
    }
    float *out = p->cur->samples + p->cur->n;
    size_t i = 0;
    if (p->have_carry && len > 0) {
        *out++ = (float)(int16_t)(uint16_t)(p->carry | (b[0] << 8));
        i = 1;
        p->have_carry = 0;
    }
    for (; i + 1 < len; i += 2)
        *out++ = (float)(int16_t)(uint16_t)(b[i] | (b[i + 1] << 8));
    if (i < len) {
        p->carry = b[i];
        p->have_carry = 1;
    }
    p->cur->n = (size_t)(out - p->cur->samples);
    return 0;
}

static int on_receive(struct lws *wsi, pss *p, const void *in, size_t len)
{
    server *sv = srv_of(wsi);
    if (!p->s || p->close_code || p->close_started)
        return 0; /* closing: what the client sent meanwhile is dropped */
    if (!p->in_msg) {
        p->in_msg = 1;
        p->binary = lws_frame_is_binary(wsi);
        p->msg_bytes = 0;
        p->text_len = 0;
    }
    p->msg_bytes += len;
    p->last_rx_ms = now_ms();
    if (p->msg_bytes > (size_t)sv->c->max_message_bytes) {
        count_error(sv, ERR_MESSAGE_TOO_BIG);
        close_later(p, 1009, "message too big");
        return 0;
    }
    int done = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (done) /* a whole message shows the client alive, as a pong would: its pong may be queued behind
               * audio the daemon has not read yet (serve_one) */
        lws_validity_confirmed(wsi);
    if (p->binary) {
        if (!p->eof_sent && !sv->stopping && !p->mic_sub && add_pcm(p, in, len) != 0) {
            count_error(sv, ERR_INTERNAL);
            close_later(p, 1011, "out of memory");
            return 0;
        }
        if (done) {
            p->in_msg = 0;
            if (p->mic_sub) {
                send_error(p, "the /mic feed only publishes results; send audio to another path");
                return 0;
            }
            if (p->eof_sent || sv->stopping) {
                job_free(p->cur);
                p->cur = NULL;
                return 0;
            }
            job *j = p->cur ? p->cur : job_new(JOB_AUDIO, 0);
            p->cur = NULL;
            if (!j)
                return 0;
            p->audio_s += (double)j->n / p->rate;
            session_push(p->s, j);
            if (sv->c->max_audio_s > 0 && p->audio_s >= sv->c->max_audio_s) {
                count_error(sv, ERR_AUDIO_CAP);
                end_audio(p, 1008, "audio limit reached");
            }
            maybe_pause(sv, p);
        }
        return 0;
    }
    if (p->text_len + len + 1 > p->text_cap) {
        size_t cap = p->text_cap ? p->text_cap : 256;
        while (cap < p->text_len + len + 1)
            cap *= 2;
        char *nt = realloc(p->text, cap);
        if (!nt) {
            close_later(p, 1011, "out of memory");
            return 0;
        }
        p->text = nt;
        p->text_cap = cap;
    }
    memcpy(p->text + p->text_len, in, len);
    p->text_len += len;
    p->text[p->text_len] = '\0';
    if (!done)
        return 0;
    p->in_msg = 0;
    return on_text(sv, p);
}

/* The microphone's last replies have been broadcast (subscribers may close at shutdown). */
static int mic_done(server *sv)
{
    if (!sv->mic)
        return 1;
    pthread_mutex_lock(&sv->h->lock);
    int idle = !sv->mic->jobs && !sv->mic->scheduled && !sv->mic->out;
    pthread_mutex_unlock(&sv->h->lock);
    return idle;
}

/* Closes from the writable callback (see close_now), once. A paused session is read again, so that
 * lws sees the client's close frame: at once (PROCESS_NOW), as lws would apply a change made inside
 * a callback only after the callback returned 0. */
static int close_here(pss *p, int code, const char *reason)
{
    p->close_started = 1;
    if (p->rx_paused) {
        p->rx_paused = 0;
        lws_rx_flow_control(p->wsi, LWS_RXFLOW_REASON_APPLIES_ENABLE | LWS_RXFLOW_REASON_USER_BOOL |
                                        LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
    }
    return close_now(p->wsi, code, reason);
}

static int on_writable(struct lws *wsi, pss *p)
{
    /* lws still calls back while it awaits the client's close frame; a second -1 would make it drop
     * the connection at once (it treats that as the polite close having failed). */
    if (p->close_started)
        return 0;
    if (p->close_code)
        return close_here(p, p->close_code, p->close_reason);
    if (!p->s)
        return 0;
    out_msg *m = session_pop_out(p->s);
    if (!m) {
        if (p->close_when_drained && mic_done(srv_of(wsi)))
            return close_here(p, 1001, "server shutting down");
        return 0;
    }
    if (!m->text) {
        int code = m->close_code;
        char reason[64];
        snprintf(reason, sizeof reason, "%s", m->reason);
        out_msg_free(m);
        return close_here(p, code, reason);
    }
    unsigned char *buf = malloc(LWS_PRE + m->len);
    if (!buf) {
        out_msg_free(m);
        return close_here(p, 1011, "out of memory");
    }
    memcpy(buf + LWS_PRE, m->text, m->len);
    int n = lws_write(wsi, buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
    free(buf);
    out_msg_free(m);
    if (n < 0)
        return -1;
    server *sv = srv_of(wsi);
    pthread_mutex_lock(&sv->h->lock);
    int more = p->s->out != NULL;
    pthread_mutex_unlock(&sv->h->lock);
    if (more || p->close_when_drained)
        lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss *p = user;
    server *sv;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        sv = srv_of(wsi);
        if (sv && lws_get_vhost(wsi) == sv->vh[0]) /* lws calls every vhost: serve once */
            service_dirty(sv);
        return 0;
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION: {
        char uri[256] = "";
        sv = srv_of(wsi);
        lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
        if (http_needs_token(uri) && !token_ok(sv, wsi)) {
            char what[300];
            snprintf(what, sizeof what, "GET %s", uri);
            return refuse_unauthorized(sv, wsi, what);
        }
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* Every WebSocket upgrade passes here before any WebSocket exists, so a refusal is an HTTP
         * status the client can read. Draining: 503, which a balancer can retry on another backend
         * (HAProxy: retry-on 503, option redispatch; a close 1001 after the handshake it could not
         * retry). No token: 401. Another site's Origin: 403. */
        char origin[256];
        sv = srv_of(wsi);
        if (sv->stopping) {
            count_error(sv, ERR_DRAINING);
            return http_refuse(wsi, "HTTP/1.1 503 Service Unavailable",
                               "503 server draining: connect again\n", "retry-after:", "1");
        }
        if (!token_ok(sv, wsi))
            return refuse_unauthorized(sv, wsi, "a WebSocket upgrade");
        if (!origin_ok(sv, wsi, origin, sizeof origin)) {
            count_error(sv, ERR_ORIGIN);
            asr_log(ASR_LOG_WARN,
                    "refusing a WebSocket from Origin '%s' (not this host, not in auth.origins)", origin);
            return http_refuse(wsi, "HTTP/1.1 403 Forbidden",
                               "403 WebSocket from another site's Origin (auth.origins)\n", NULL, NULL);
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(wsi, p);
    case LWS_CALLBACK_RECEIVE:
        return on_receive(wsi, p, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writable(wsi, p);
    case LWS_CALLBACK_CLOSED:
        on_closed(srv_of(wsi), p);
        return 0;
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, p);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (p && p->body) {
            int n = lws_write(wsi, p->body + LWS_PRE, p->body_len, LWS_WRITE_HTTP_FINAL);
            free(p->body);
            p->body = NULL;
            if (n < 0 || lws_http_transaction_completed(wsi))
                return -1;
            return 0;
        }
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (p) {
            free(p->body);
            p->body = NULL;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifecycle ---- */

static void lws_log_sink(int level, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof msg, "lws: %s", line);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    asr_log(level == LLL_ERR ? ASR_LOG_ERROR : ASR_LOG_WARN, "%s", msg);
}

static void wake(void *user)
{
    lws_cancel_service(user);
}

server *server_create(const cfg *c, hub *h, const char *www_root, asr_error *err)
{
    server *sv = calloc(1, sizeof *sv);
    if (!sv) {
        asr_error_set(err, ASR_ERR_NOMEM, "server: out of memory");
        return NULL;
    }
    sv->c = c;
    sv->h = h;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_sink);

    /* Protocol 0 is the Vosk protocol: clients that name no subprotocol bind to it. */
    sv->protocols[0] = (struct lws_protocols){
        .name = "asrd",
        .callback = callback,
        .per_session_data_size = sizeof(pss),
        .rx_buffer_size = 16384,
    };

    /* /healthz and /metrics are answered by the callback; the page comes from www_root. */
    int nm = 0;
    static const char *const dyn[] = {"/healthz", "/metrics"};
    for (int i = 0; i < 2; i++, nm++) {
        sv->mounts[nm] = (struct lws_http_mount){
            .mountpoint = dyn[i],
            .origin = "asrd",
            .origin_protocol = LWSMPRO_CALLBACK,
            .mountpoint_len = (unsigned char)strlen(dyn[i]),
        };
    }
    if (www_root && *www_root) {
        snprintf(sv->www_root, sizeof sv->www_root, "%s", www_root);
        snprintf(sv->www_mount, sizeof sv->www_mount, "%s", c->www_mount ? c->www_mount : "/");
        sv->mounts[nm++] = (struct lws_http_mount){
            .mountpoint = sv->www_mount,
            .origin = sv->www_root,
            .def = "index.html",
            .origin_protocol = LWSMPRO_FILE,
            .mountpoint_len = (unsigned char)strlen(sv->www_mount),
        };
    }
    for (int i = 0; i + 1 < nm; i++)
        sv->mounts[i].mount_next = &sv->mounts[i + 1];

    /* lws pings a client whose last pong is ping_s old and hangs it up (no close frame) at hangup_s;
     * the pong is what confirms validity (lws's ws parser), so see serve_one for paused sessions. */
    sv->retry = (lws_retry_bo_t){.secs_since_valid_ping = (uint16_t)c->ping_s,
                                 .secs_since_valid_hangup = (uint16_t)c->hangup_s};

    sv->n_addrs = listen_resolve(c->listen_host, sv->addrs, LISTEN_MAX_ADDRS, err);
    if (sv->n_addrs < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        asr_error_set(err, ASR_ERR_IO, "cannot listen on %s:%d: %s", c->listen_host, c->port, why);
        goto fail;
    }

    /* The context listens nowhere itself; one vhost per address (listen.h). */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sv->protocols;
    info.mounts = sv->mounts;
    info.user = sv;
    info.retry_and_idle_policy = &sv->retry;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (c->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = c->tls_cert;
        info.ssl_private_key_filepath = c->tls_key;
    }
    sv->ctx = lws_create_context(&info);
    if (!sv->ctx) {
        asr_error_set(err, ASR_ERR_IO, "cannot create the server%s", c->tls_cert ? " (TLS library?)" : "");
        goto fail;
    }
    sv->port = c->port;
    char url[128], name[16];
    for (int i = 0; i < sv->n_addrs; i++) {
        const listen_addr *a = &sv->addrs[i];
        struct lws_context_creation_info vi = info;
        snprintf(name, sizeof name, "asrd%d", i);
        vi.vhost_name = name;
        vi.port = sv->port; /* after the first vhost: the port it got, when 0 was asked for */
        vi.iface = a->family == AF_UNSPEC ? NULL : a->ip;
        vi.options = info.options | LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
        if (a->family == AF_INET) /* else lws binds [::] whatever iface says */
            vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        else if (a->family == AF_INET6) /* [::] asked for means IPv6 only: "*" is both */
            vi.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
        listen_url(a, sv->port, c->tls_cert != NULL, url, sizeof url);
        sv->vh[i] = lws_create_vhost(sv->ctx, &vi);
        /* lws may come up without a socket (an address it does not find is only logged): ask the
         * kernel what is bound, after every vhost so that port 0 is shared. The check also says
         * why a vhost lws refused has no socket (it tries the bind itself). */
        if (listen_verify(sv->addrs, i + 1, &sv->port, err) != ASR_OK)
            goto fail;
        if (!sv->vh[i]) {
            asr_error_set(err, ASR_ERR_IO, "cannot listen on %s%s", url,
                          c->tls_cert ? " (bad TLS files?)" : "");
            goto fail;
        }
    }
    h->wake = wake;
    h->wake_user = sv->ctx;
    lws_sul_schedule(sv->ctx, 0, &sv->sul, tick, TICK_US);
    return sv;
fail:
    server_destroy(sv);
    return NULL;
}

int server_port(const server *sv)
{
    return sv->port;
}

void server_urls(const server *sv, char *buf, size_t size)
{
    size_t n = 0;
    if (size)
        buf[0] = '\0';
    for (int i = 0; i < sv->n_addrs && n < size; i++) {
        char url[128];
        listen_url(&sv->addrs[i], sv->port, sv->c->tls_cert != NULL, url, sizeof url);
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " and " : "", url);
    }
}

int server_service(server *sv)
{
    return lws_service(sv->ctx, 0);
}

void server_set_mic(server *sv, session *mic, void (*print)(const char *json, void *user), void *user)
{
    sv->mic = mic;
    sv->mic_print = print;
    sv->mic_user = user;
}

void server_shutdown(server *sv)
{
    if (sv->stopping)
        return;
    sv->stopping = 1;
    for (pss *p = sv->list; p; p = p->next) {
        if (p->mic_sub) {
            p->close_when_drained = 1;
            lws_callback_on_writable(p->wsi);
        } else if (!p->eof_sent) {
            end_audio(p, 1001, "server shutting down");
        }
    }
}

int server_open_sessions(const server *sv)
{
    return sv->n_open + sv->n_refusing;
}

void server_destroy(server *sv)
{
    if (!sv)
        return;
    if (sv->ctx) {
        sv->h->wake = NULL;
        lws_context_destroy(sv->ctx);
    }
    free(sv);
}
