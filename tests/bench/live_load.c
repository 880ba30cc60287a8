/* live_load.c - the load generator of `make bench-live` (tests/bench/live.py): N concurrent
 * Vosk-protocol WebSocket sessions, each streaming real speech as 16 kHz PCM16LE in 100 ms chunks
 * paced in real time, from one libwebsockets event loop in C (the Python generator it replaces
 * was itself the bottleneck: ~216 ms late at 320 sessions while the daemon still had CPU left).
 *
 * Usage: live_load --port P --sessions N --seconds S --pcm FILE.raw [--host 127.0.0.1] [--path /]
 *
 * Session i connects at i * 100 ms / N (starts staggered over one chunk), sends
 * {"config": {"sample_rate": 16000}}, then chunk k when it "has been recorded", at
 * t_open + (k + 1) * 100 ms (timers of the event loop), then {"eof" : 1}, and waits for the
 * server's close. Sessions start at different offsets of the speech (looped), so they differ.
 *
 * Measured: per chunk, the latency from its lws_write to the reply that covers it (the daemon
 * answers every audio message with one partial or result, in order); how late sends were against
 * their schedule (the generator's own lag, which must stay small for the figures to mean
 * anything); chunks never answered; sessions that failed or did not end with close code 1000;
 * this process's CPU time. One JSON object on stdout:
 *   {"n","chunks","replies","unanswered","bad_close","errors","p50_ms","p95_ms","max_ms",
 *    "late_p95_ms","late_max_ms","cpu_s","wall_s"}
 * Exit status 0 (the figures say how it went), 2 on usage errors.
 */
#include <libwebsockets.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define RATE 16000
#define CHUNK_BYTES (RATE / 10 * 2) /* 100 ms of PCM16 */

typedef struct sess {
    lws_sorted_usec_list_t sul; /* connect, then the chunk clock */
    struct lws *wsi;
    int idx;
    int opened, closed, failed;
    int config_pending, eof_sent;
    int n_chunks;   /* to send */
    int scheduled;  /* chunks whose time has come */
    int sent;       /* chunks written */
    int replies;    /* partial/result messages received */
    int answered;   /* chunks a reply covered (<= sent) */
    int close_code; /* from the server's close frame; 0 if none */
    double t_open;
    double *due;    /* (n_chunks) when chunk k was due */
    double *t_sent; /* (n_chunks) when chunk k was written */
    size_t off;     /* next byte of the speech */
    char *rx;       /* message being received */
    size_t rx_len, rx_cap;
} sess;

static struct lws_context *ctx;
static sess *S;
static int N, n_done;
static const unsigned char *pcm;
static size_t pcm_len;
static double *lat, *late; /* (N * chunks) */
static size_t n_lat, n_late;
static const char *host = "127.0.0.1", *path = "/";
static int port;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void finish(sess *s, int failed)
{
    if (s->closed)
        return;
    s->closed = 1;
    s->failed = failed;
    n_done++;
}

static void chunk_tick(lws_sorted_usec_list_t *sul)
{
    sess *s = lws_container_of(sul, sess, sul);
    if (s->closed || !s->wsi)
        return;
    s->due[s->scheduled] = s->t_open + 0.1 * (s->scheduled + 1);
    s->scheduled++;
    lws_callback_on_writable(s->wsi);
    if (s->scheduled < s->n_chunks) {
        double next = s->t_open + 0.1 * (s->scheduled + 1) - now_s();
        lws_sul_schedule(ctx, 0, &s->sul, chunk_tick, next > 0 ? (lws_usec_t)(next * 1e6) : 1);
    }
}

static void connect_tick(lws_sorted_usec_list_t *sul)
{
    sess *s = lws_container_of(sul, sess, sul);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = host;
    ci.port = port;
    ci.path = path;
    ci.host = host;
    ci.origin = NULL;   /* no Origin header, as a non-browser client */
    ci.protocol = NULL; /* Vosk clients ask for no subprotocol */
    ci.local_protocol_name = "load";
    ci.userdata = s;
    ci.pwsi = &s->wsi;
    if (!lws_client_connect_via_info(&ci))
        finish(s, 1);
}

static int write_msg(struct lws *wsi, const void *p, size_t n, enum lws_write_protocol kind)
{
    static unsigned char buf[LWS_PRE + CHUNK_BYTES + 64];
    memcpy(buf + LWS_PRE, p, n);
    return lws_write(wsi, buf + LWS_PRE, n, kind) < (int)n ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    sess *s = (sess *)user;
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s->opened = 1;
        s->config_pending = 1;
        s->t_open = now_s();
        lws_sul_schedule(ctx, 0, &s->sul, chunk_tick, 100000);
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (s->config_pending) {
            static const char cfg[] = "{\"config\": {\"sample_rate\": 16000}}";
            if (write_msg(wsi, cfg, sizeof cfg - 1, LWS_WRITE_TEXT))
                return -1;
            s->config_pending = 0;
        } else if (s->sent < s->scheduled) {
            if (s->off + CHUNK_BYTES > pcm_len)
                s->off = 0;
            double t = now_s();
            if (write_msg(wsi, pcm + s->off, CHUNK_BYTES, LWS_WRITE_BINARY))
                return -1;
            s->off += CHUNK_BYTES;
            s->t_sent[s->sent] = t;
            late[n_late++] = t - s->due[s->sent];
            s->sent++;
        } else if (s->sent == s->n_chunks && !s->eof_sent) {
            static const char eof[] = "{\"eof\" : 1}";
            if (write_msg(wsi, eof, sizeof eof - 1, LWS_WRITE_TEXT))
                return -1;
            s->eof_sent = 1;
        }
        if (s->sent < s->scheduled || (s->sent == s->n_chunks && !s->eof_sent))
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        double t = now_s();
        if (s->rx_len + len + 1 > s->rx_cap) {
            size_t cap = (s->rx_len + len + 1) * 2;
            char *r = realloc(s->rx, cap);
            if (!r)
                return -1;
            s->rx = r;
            s->rx_cap = cap;
        }
        memcpy(s->rx + s->rx_len, in, len);
        s->rx_len += len;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            break;
        s->rx[s->rx_len] = 0;
        if (strstr(s->rx, "\"partial\"") || strstr(s->rx, "\"text\"")) {
            s->replies++;
            if (s->answered < s->sent) { /* the final result after eof covers no chunk */
                lat[n_lat++] = t - s->t_sent[s->answered];
                s->answered++;
            }
        }
        s->rx_len = 0;
        break;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2)
            s->close_code = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (s) {
            lws_sul_cancel(&s->sul);
            fprintf(stderr, "live_load: session %d: %s\n", s->idx,
                    in ? (const char *)in : "connection error");
            finish(s, 1);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (s) {
            lws_sul_cancel(&s->sul);
            s->wsi = NULL;
            finish(s, 0);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    if (n == 0)
        return -0.001; /* printed as -1 ms: nothing measured (JSON has no NaN) */
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int usage(void)
{
    fprintf(stderr,
            "usage: live_load --port P --sessions N --seconds S --pcm FILE.raw [--host H] [--path P]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"sessions", required_argument, NULL, 'n'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"pcm", required_argument, NULL, 'f'},
                                         {"host", required_argument, NULL, 'H'},
                                         {"path", required_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    double seconds = 0;
    const char *pcm_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'n':
            N = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'f':
            pcm_path = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'P':
            path = optarg;
            break;
        default:
            return usage();
        }
    }
    if (port <= 0 || port > 65535 || N <= 0 || N > 100000 || !(seconds >= 0.1) || !pcm_path)
        return usage();
    FILE *f = fopen(pcm_path, "rb");
    if (!f) {
        fprintf(stderr, "live_load: %s: %s\n", pcm_path, strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long flen = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = flen > 0 ? malloc((size_t)flen) : NULL;
    if (!buf || fread(buf, 1, (size_t)flen, f) != (size_t)flen || flen < CHUNK_BYTES) {
        fprintf(stderr, "live_load: %s: cannot read at least one chunk of PCM\n", pcm_path);
        return 1;
    }
    fclose(f);
    pcm = buf;
    pcm_len = (size_t)flen / CHUNK_BYTES * CHUNK_BYTES;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    lws_set_log_level(LLL_ERR, NULL);
    static struct lws_protocols protocols[] = {{"load", callback, 0, 4096, 0, NULL, 0},
                                               {NULL, NULL, 0, 0, 0, NULL, 0}};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.fd_limit_per_thread = (unsigned)N + 64;
    info.timeout_secs = 30;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "live_load: cannot create the libwebsockets context\n");
        return 1;
    }
    int chunks = (int)lround(seconds / 0.1);
    S = calloc((size_t)N, sizeof *S);
    lat = calloc((size_t)N * (size_t)chunks + 1, sizeof *lat);
    late = calloc((size_t)N * (size_t)chunks + 1, sizeof *late);
    if (!S || !lat || !late)
        return 1;
    size_t n_off = pcm_len / CHUNK_BYTES;
    for (int i = 0; i < N; i++) {
        sess *s = &S[i];
        s->idx = i;
        s->n_chunks = chunks;
        s->due = calloc((size_t)chunks, sizeof *s->due);
        s->t_sent = calloc((size_t)chunks, sizeof *s->t_sent);
        if (!s->due || !s->t_sent)
            return 1;
        s->off = ((size_t)i * 3331u) % n_off * CHUNK_BYTES; /* sessions differ */
        lws_sul_schedule(ctx, 0, &s->sul, connect_tick, (lws_usec_t)(100000.0 * i / N) + 1);
    }
    double t0 = now_s(), deadline = t0 + seconds + 60;
    while (n_done < N && now_s() < deadline)
        if (lws_service(ctx, 0) < 0)
            break;
    double wall = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec * 1e-6;
    long replies = 0, unanswered = 0;
    int bad_close = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        sess *s = &S[i];
        replies += s->replies;
        unanswered += s->n_chunks - s->answered;
        errors += s->failed || !s->opened || !s->closed;
        bad_close += s->close_code != 1000;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_d);
    qsort(late, n_late, sizeof *late, cmp_d);
    printf("{\"n\": %d, \"chunks\": %ld, \"replies\": %ld, \"unanswered\": %ld, \"bad_close\": %d, "
           "\"errors\": %d, \"p50_ms\": %.2f, \"p95_ms\": %.2f, \"max_ms\": %.2f, \"late_p95_ms\": %.2f, "
           "\"late_max_ms\": %.2f, \"cpu_s\": %.3f, \"wall_s\": %.3f}\n",
           N, (long)N * chunks, replies, unanswered, bad_close, errors, 1000 * pct(lat, n_lat, 0.5),
           1000 * pct(lat, n_lat, 0.95), n_lat ? 1000 * lat[n_lat - 1] : -1.0, 1000 * pct(late, n_late, 0.95),
           n_late ? 1000 * late[n_late - 1] : -1.0, cpu, wall);
    lws_context_destroy(ctx);
    for (int i = 0; i < N; i++) {
        free(S[i].due);
        free(S[i].t_sent);
        free(S[i].rx);
    }
    free(S);
    free(lat);
    free(late);
    free(buf);
    return 0;
}
