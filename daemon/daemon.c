/* daemon.c - the service's main loop (see daemon.h for the shutdown order). */
#include "daemon.h"

#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../model/nn.h"
#include "capture.h"
#include "notify.h"
#include "server.h"
#include "session.h"
#include "worker.h"

#define STOP_GRACE_S 10 /* SIGTERM: sessions get this long to receive their final results */
#define STOP_HARD_S 15  /* SIGTERM: the process is gone this long after it, cleaned up or not */

static volatile sig_atomic_t stop_flag, hup_flag;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        hup_flag = 1;
    else if (sig != SIGUSR1) /* SIGUSR1 only interrupts the event loop's wait */
        stop_flag = 1;
}

/* The hard deadline of shutdown (alarm armed at SIGTERM): something blocked the cleanup. Only
 * async-signal-safe calls here. */
static void on_deadline(int sig)
{
    static const char msg[] = "asrd: error: shutdown did not finish within 15 s of SIGTERM: exiting now\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- logging to a file (reopened on SIGHUP) ----
 * Every thread logs (workers, the capture supervisor, the microphone feed, this one). The sink
 * (asr_log_set) is installed once before any other thread starts and removed after they are all
 * joined: asr_log_set is not synchronised with asr_log (asr_util.h). What SIGHUP changes is only
 * the stream, log_fp, which log_lock guards: a line is written whole to one stream, and a stream
 * is closed only once no writer holds it. */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp; /* [log_lock] */

static void file_sink(asr_log_level level, const char *msg, void *user)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    (void)user;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel); /* fprintf may be a cancellation point */
    pthread_mutex_lock(&log_lock);
    if (log_fp) {
        fprintf(log_fp, "%s asrd: %s: %s\n", ts, names[level], msg);
        fflush(log_fp);
    }
    pthread_mutex_unlock(&log_lock);
    pthread_setcancelstate(cancel, NULL);
}

/* At start-up (no other thread yet): the sink, to log.file or stderr. */
static int open_log(const cfg *c)
{
    FILE *f = NULL;
    if (c->log_file && !(f = fopen(c->log_file, "a"))) {
        asr_log(ASR_LOG_ERROR, "%s: cannot open log file: %s", c->log_file, strerror(errno));
        return -1;
    }
    log_fp = f;
    asr_log_set(f ? file_sink : NULL, NULL, (asr_log_level)c->log_level);
    return 0;
}

/* SIGHUP (other threads log meanwhile): the stream is swapped under the lock and the old one
 * closed after, so no line goes to a closed stream; the sink itself is not touched. A log file
 * that cannot be reopened keeps the old stream. */
static void reopen_log(const cfg *c)
{
    if (!c->log_file)
        return;
    FILE *f = fopen(c->log_file, "a");
    if (!f) {
        asr_log(ASR_LOG_ERROR, "%s: cannot reopen log file: %s (still writing to the old one)", c->log_file,
                strerror(errno));
        return;
    }
    pthread_mutex_lock(&log_lock);
    FILE *old = log_fp;
    log_fp = f;
    pthread_mutex_unlock(&log_lock);
    if (old)
        fclose(old);
}

/* After every other thread is joined. */
static void close_log(const cfg *c)
{
    asr_log_set(NULL, NULL, (asr_log_level)c->log_level);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
}

/* ---- microphone feed ---- */

typedef struct mic_feed {
    capture *cap;
    session *s;
    hub *h;
    const cfg *c;
    pthread_t thread;
    int started;
    atomic_int stop;
    long long own_drops; /* model-rate samples dropped here (the session's queue was full) */
    int json;
    int tty;
} mic_feed;

/* The capture consumer: moves samples from the ring into the mic session's job queue. */
static void *mic_main(void *arg)
{
    mic_feed *f = arg;
    size_t max = (size_t)f->h->rate / 10; /* up to 100 ms per job */
    float *buf = malloc(max * sizeof *buf);
    asr_error err = {ASR_OK, ""};
    if (!buf)
        return NULL;
    double ratio = (double)f->h->rate / f->c->mic_rate;
    while (!atomic_load(&f->stop)) {
        long n = capture_read(f->cap, buf, max, &err);
        if (n < 0) {
            asr_log(ASR_LOG_ERROR, "microphone: %s", err.msg);
            n = 0;
        }
        if (n > 0) {
            pthread_mutex_lock(&f->h->lock);
            int full = f->s->queued_bytes > (size_t)f->c->queue_bytes;
            pthread_mutex_unlock(&f->h->lock);
            job *j = full ? NULL : job_new(JOB_AUDIO, (size_t)n);
            if (j) {
                memcpy(j->samples, buf, (size_t)n * sizeof *buf);
                j->n = (size_t)n;
                session_push(f->s, j);
            } else {
                f->own_drops += n;
            }
            atomic_store(&f->h->stats.dropped_samples,
                         f->own_drops + (long long)((double)capture_dropped(f->cap) * ratio));
            continue;
        }
        if (capture_eof(f->cap))
            break;
        usleep(10000);
    }
    job *j = job_new(JOB_EOF, 0); /* the last utterance's final result; the feed then ends */
    if (j)
        session_push(f->s, j);
    free(buf);
    return NULL;
}

/* Prints a microphone reply on stdout: a JSON line with --json, else final texts as lines (and the
 * partial on a terminal, redrawn in place). */
static void mic_print(const char *json, void *user)
{
    mic_feed *f = user;
    cJSON *j = cJSON_Parse(json);
    if (!j)
        return;
    if (f->json) {
        char *line = cJSON_PrintUnformatted(j);
        if (line) {
            printf("%s\n", line);
            free(line);
        }
    } else {
        const cJSON *t = cJSON_GetObjectItem(j, "text");
        const cJSON *p = cJSON_GetObjectItem(j, "partial");
        if (cJSON_IsString(t) && t->valuestring[0])
            printf(f->tty ? "\r\033[K%s\n" : "%s\n", t->valuestring);
        else if (f->tty && cJSON_IsString(p))
            printf("\r\033[K%s", p->valuestring);
    }
    fflush(stdout);
    cJSON_Delete(j);
}

static int mic_idle(mic_feed *f)
{
    if (!f->s)
        return 1;
    pthread_mutex_lock(&f->h->lock);
    int idle = !f->s->jobs && !f->s->scheduled && !f->s->out;
    pthread_mutex_unlock(&f->h->lock);
    return idle;
}

static int mic_start(mic_feed *f, const cfg *c, hub *h, asr_error *err)
{
    capture_opts o = capture_default_opts();
    o.kind = c->mic_source ? CAPTURE_FILE : CAPTURE_PORTAUDIO;
    o.device = c->mic_device;
    o.device_rate = c->mic_rate;
    o.path = c->mic_source;
    o.paced = c->mic_pace;
    o.out_rate = h->rate;
    f->h = h;
    f->c = c;
    f->json = c->json;
    f->tty = isatty(STDOUT_FILENO);
    f->cap = capture_open(&o, err);
    if (!f->cap)
        return -1;
    f->s = session_create(h, 1, err);
    if (!f->s)
        return -1;
    if (c->n_mic_grammar > 0) { /* mic.grammar: the feed's decoder becomes the phrase-list beam search */
        job *j = job_new(JOB_CONFIG, 0);
        if (!j || !(j->phrases = calloc((size_t)c->n_mic_grammar, sizeof *j->phrases))) {
            job_free(j);
            asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
            return -1;
        }
        j->has_phrases = 1;
        for (; j->n_phrases < c->n_mic_grammar; j->n_phrases++)
            if (!(j->phrases[j->n_phrases] = strdup(c->mic_grammar[j->n_phrases]))) {
                job_free(j);
                asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
                return -1;
            }
        session_push(f->s, j);
    }
    if (capture_start(f->cap, err) != ASR_OK)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&f->thread, NULL, mic_main, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        asr_error_set(err, ASR_ERR_NOMEM, "microphone: cannot start thread: %s", strerror(e));
        return -1;
    }
    f->started = 1;
    asr_log(ASR_LOG_INFO, "microphone feed: %s %s, results on /mic%s", c->mic_source ? "file" : "device",
            c->mic_source ? c->mic_source : (c->mic_device ? c->mic_device : "(default)"),
            c->json ? " and stdout (JSON lines)" : " and stdout");
    return 0;
}

static void mic_stop(mic_feed *f)
{
    if (f->started) {
        atomic_store(&f->stop, 1);
        pthread_join(f->thread, NULL);
        f->started = 0;
    }
}

/* ---- the LM's checksum, after start-up ----
 * asr_lm_load checks everything queries rely on but not the payload checksum, which reads every
 * page of a ~100 MB file (most of start-up time when it was done first). This thread runs it once,
 * at the lowest CPU priority, while the daemon serves; a mismatch stops the daemon with exit
 * status 1, as a corrupt LM at start-up does. The LM is immutable and queried concurrently, which
 * reading it is too. Written by the check thread, read by the main loop after `done` is set. */
typedef struct lm_check {
    pthread_t thread;
    int started;
    const asr_lm *lm;
    atomic_int done; /* 1: status and err are final */
    asr_status status;
    asr_error err;
    pthread_t main_thread;
} lm_check;

static void *lm_check_main(void *arg)
{
    lm_check *k = arg;
    setpriority(PRIO_PROCESS, (id_t)gettid(), 19); /* this thread only (Linux): sessions come first */
    k->status = asr_lm_verify(k->lm, &k->err);
    atomic_store(&k->done, 1);
    if (k->status != ASR_OK)
        pthread_kill(k->main_thread, SIGUSR1); /* wake the event loop */
    return NULL;
}

static void lm_check_start(lm_check *k, const asr_lm *lm)
{
    k->lm = lm;
    k->main_thread = pthread_self();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&k->thread, NULL, lm_check_main, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) { /* no thread: check here, before serving */
        lm_check_main(k);
        return;
    }
    k->started = 1;
}

static void lm_check_join(lm_check *k)
{
    if (k->started)
        pthread_join(k->thread, NULL);
    k->started = 0;
}

/* ---- start-up cost ----
 * The main thread's CPU time and its time runnable but waiting for a core so far (ms), from
 * /proc/thread-self/schedstat (Linux); 0 when it cannot be read. Start-up runs on this thread, so
 * at READY these say what the start cost and how much of its wall time a busy machine added. */
static int startup_sched(double *cpu_ms, double *runq_ms)
{
    unsigned long long run = 0, wait = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    int ok = f && fscanf(f, "%llu %llu", &run, &wait) == 2;
    if (f)
        fclose(f);
    *cpu_ms = ok ? (double)run / 1e6 : 0;
    *runq_ms = ok ? (double)wait / 1e6 : 0;
    return ok;
}

/* ---- main loop ---- */

int daemon_run(const cfg *c, const char *model_path, const char *www_root)
{
    int rc = 1;
    asr_model *model = NULL;
    asr_lm *lm = NULL;
    ctc_lexicon *lex = NULL;
    hub h;
    int hub_ok = 0;
    worker_pool *pool = NULL;
    server *sv = NULL;
    mic_feed mic;
    lm_check lmc;
    int lm_bad = 0;
    asr_error err = {ASR_OK, ""};
    memset(&mic, 0, sizeof mic);
    memset(&lmc, 0, sizeof lmc);

    if (open_log(c) != 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* the LM check's wake-up (see below); harmless from outside */
    sa.sa_handler = on_deadline;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    double t0 = now_s();
    model = asr_model_load(model_path, &err);
    if (model && asr_model_set_precision(model, (asr_precision)c->precision, &err) != ASR_OK) {
        asr_model_free(model);
        model = NULL;
    }
    if (!model) {
        asr_log(ASR_LOG_ERROR, "%s", err.msg);
        goto done;
    }
    asr_log(ASR_LOG_INFO, "model precision: %s (kernels: %s)", asr_precision_name(asr_model_precision(model)),
            asr_model_precision(model) == ASR_PRECISION_INT8 ? nn_q8_kernel_name() : nn_kernel_name());
    hub_params hp = {.silence_ms = c->silence_ms,
                     .max_utterance_ms = c->max_utterance_ms,
                     .blank_prob = c->blank_prob,
                     .decoder = (asr_decoder_kind)c->decoder,
                     .beam = c->beam};
    if (c->decoder == ASR_DECODER_BEAM && c->lm) {
        /* Once for the process: every session's beam search reads the same mapped pages. */
        lm = asr_lm_open(c->lm, &err);
        if (!lm || !(lex = ctc_lexicon_create(lm, asr_model_alphabet(model), asr_model_n_out(model), &err))) {
            asr_log(ASR_LOG_ERROR, "decoder.lm: %s", err.msg);
            goto done;
        }
        hp.lm = lm;
        hp.lex = lex;
    } else if (c->lm) {
        asr_log(ASR_LOG_WARN, "decoder.lm (%s) is not loaded: decoder.kind is greedy", c->lm);
    }
    if (c->decoder == ASR_DECODER_BEAM)
        asr_log(ASR_LOG_INFO,
                "decoder: beam %d, LM %s (%d words), lm_weight %g, word_bonus %g, unk_penalty %g, "
                "lm_lookahead %g%s",
                c->beam.beam, c->lm ? c->lm : "none", lex ? ctc_lexicon_words(lex) : 0, c->beam.lm_weight,
                c->beam.word_bonus, c->beam.unk_penalty, c->beam.lm_lookahead,
                c->beam.closed_vocab ? ", closed vocabulary" : "");
    else
        asr_log(ASR_LOG_INFO, "decoder: greedy");
    if (hub_init(&h, model, &hp, &err) != ASR_OK) {
        asr_log(ASR_LOG_ERROR, "%s", err.msg);
        goto done;
    }
    hub_ok = 1;
    sv = server_create(c, &h, www_root, &err);
    if (!sv) {
        asr_log(ASR_LOG_ERROR, "%s", err.msg);
        goto done;
    }
    pool = worker_pool_start(&h, c->threads, &err);
    if (!pool) {
        asr_log(ASR_LOG_ERROR, "%s", err.msg);
        goto done;
    }
    if (c->mic_enabled) {
        if (mic_start(&mic, c, &h, &err) != 0) {
            asr_log(ASR_LOG_ERROR, "microphone: %s", err.msg);
            goto done;
        }
        server_set_mic(sv, mic.s, mic_print, &mic);
    }
    char urls[600];
    server_urls(sv, urls, sizeof urls);
    double cpu_ms, runq_ms;
    if (startup_sched(&cpu_ms, &runq_ms))
        asr_log(ASR_LOG_INFO,
                "listening on %s (model %s, %d workers, ready in %.0f ms; main thread since the process "
                "started: CPU %.1f ms, waiting for a core %.1f ms)",
                urls, model_path, c->threads, (now_s() - t0) * 1000, cpu_ms, runq_ms);
    else
        asr_log(ASR_LOG_INFO, "listening on %s (model %s, %d workers, ready in %.0f ms)", urls, model_path,
                c->threads, (now_s() - t0) * 1000);
    notify_send("READY=1\nSTATUS=ready, 0 sessions open");
    if (lm)
        lm_check_start(&lmc, lm);

    uint64_t wd_usec = 0;
    double wd_every = notify_watchdog(&wd_usec) > 0 ? (double)wd_usec / 2e6 : 0;
    double last_wd = now_s(), last_status = 0, stop_at = 0;
    int stopping = 0;
    for (;;) {
        if (server_service(sv) < 0) {
            asr_log(ASR_LOG_ERROR, "event loop failed");
            break;
        }
        double now = now_s();
        if (!lm_bad && atomic_load(&lmc.done) && lmc.status != ASR_OK) {
            lm_bad = 1;
            asr_log(ASR_LOG_ERROR, "decoder.lm: %s: stopping", lmc.err.msg);
            stop_flag = 1;
        }
        if (hup_flag) {
            hup_flag = 0;
            asr_log(ASR_LOG_INFO, "SIGHUP: reopening the log");
            reopen_log(c);
        }
        if (stop_flag && !stopping) {
            stopping = 1;
            stop_at = now;
            alarm(STOP_HARD_S);
            asr_log(ASR_LOG_INFO, "stopping: finishing %d sessions; /healthz answers 503 (draining)%s",
                    server_open_sessions(sv), c->drain_s > 0 ? " for shutdown.drain_s at least" : "");
            notify_send("STOPPING=1");
            mic_stop(&mic);
            server_shutdown(sv);
        }
        if (wd_every > 0 && now - last_wd >= wd_every) {
            notify_send("WATCHDOG=1");
            last_wd = now;
        }
        if (now - last_status >= 1.0) {
            notify_sendf("STATUS=%s, %d sessions open, %ld total", stopping ? "stopping" : "running",
                         server_open_sessions(sv), (long)atomic_load(&h.stats.sessions_total));
            last_status = now;
        }
        /* shutdown.drain_s: the listener stays up, answering /healthz with 503 and refusing new
         * sessions with 503, until a load balancer's health checks have seen it (STOP_GRACE_S caps
         * both this and the sessions' finish). */
        if (stopping && server_open_sessions(sv) == 0 && mic_idle(&mic) && now - stop_at >= c->drain_s)
            break;
        if (stopping && now - stop_at > STOP_GRACE_S) {
            asr_log(ASR_LOG_WARN, "stopping: %d sessions did not finish within %d s",
                    server_open_sessions(sv), STOP_GRACE_S);
            break;
        }
    }
    rc = lm_bad ? 1 : 0;
done:
    lm_check_join(&lmc);
    mic_stop(&mic);
    worker_pool_stop(pool);
    server_destroy(sv);
    capture_close(mic.cap);
    session_unref(mic.s);
    if (hub_ok)
        hub_destroy(&h);
    ctc_lexicon_destroy(lex); /* after the workers: sessions read them until then */
    asr_lm_free(lm);
    asr_model_free(model);
    alarm(0);
    asr_log(ASR_LOG_INFO, rc == 0  ? "stopped"
                          : lm_bad ? "stopped: decoder.lm is corrupt"
                                   : "start-up failed");
    close_log(c);
    return rc;
}
