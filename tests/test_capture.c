/* test_capture.c - capture sources without a sound card: option checks; the file source, unpaced
 * and paced, delivers exactly what audio_read_file reads (the shared reader is the independent
 * reference for "everything after the ring"); a small unread ring drops and counts; a missing file
 * and a missing PortAudio device are retried (state "waiting", retries counted) and capture_close
 * interrupts the backoff (timed); a FIFO source: close returns promptly with no writer, a silent
 * writer or a writer stalled mid-file, and a short file written at once arrives whole.  The real
 * PortAudio path is tested by e2e_capture.sh. */
#include <fcntl.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/capture.h"
#include "../frontend/audio.h"
#include "test_util.h"

#define SAMPLE "tests/data/sample.flac"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *close_main(void *arg)
{
    capture_close(arg);
    return NULL;
}

/* capture_close(c) on a helper thread; returns the seconds it took, or -1 when it had not
 * returned after 10 s (a hang: the test cannot go on, so it reports and exits). */
static double timed_close(capture *c, const char *what)
{
    pthread_t t;
    double t0 = now_s();
    pthread_create(&t, NULL, close_main, c);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    if (pthread_timedjoin_np(t, NULL, &ts) != 0) {
        CHECK(0, "%s: capture_close did not return within 10 s", what);
        printf("%d passed, %d failed\n", test_passed, test_failed);
        fflush(stdout);
        _exit(1);
    }
    return now_s() - t0;
}

/* Reads from c until capture_eof (or ~60 s); returns malloc'd samples. */
static float *drain(capture *c, size_t *n)
{
    size_t cap = 1 << 16, len = 0;
    float *x = malloc(cap * sizeof *x);
    asr_error err;
    for (int idle = 0; idle < 6000 && !capture_eof(c);) {
        if (len + 4096 > cap)
            x = realloc(x, (cap *= 2) * sizeof *x);
        long k = capture_read(c, x + len, 4096, &err);
        if (k < 0)
            break;
        if (k == 0) {
            idle++;
            sleep_ms(10);
        }
        len += (size_t)k;
    }
    *n = len;
    return x;
}

static void test_opts(void)
{
    asr_error err;
    capture_opts o = capture_default_opts();
    CHECK(o.kind == CAPTURE_PORTAUDIO && o.out_rate == 16000 && o.paced == 1, "defaults");
    o.kind = CAPTURE_FILE;
    CHECK(capture_open(&o, &err) == NULL && err.code == ASR_ERR_ARG, "file without path");
    o.path = "-";
    o.loop = 1;
    CHECK(capture_open(&o, &err) == NULL && strstr(err.msg, "standard input"), "loop on stdin refused: %s",
          err.msg);
    o = capture_default_opts();
    o.out_rate = 10;
    CHECK(capture_open(&o, &err) == NULL && err.code == ASR_ERR_ARG, "bad out_rate");
    o = capture_default_opts();
    o.retry_max_s = 0.1;
    CHECK(capture_open(&o, &err) == NULL && err.code == ASR_ERR_ARG, "retry max < min");
    o = capture_default_opts();
    o.kind = (capture_kind)7;
    CHECK(capture_open(&o, &err) == NULL && err.code == ASR_ERR_ARG, "bad kind");
    capture_close(NULL);
}

/* The file source at out_rate equals the reader's own output, paced or not. */
static void test_file(int paced, int rate)
{
    asr_error err;
    float *ref = NULL;
    size_t nref = 0;
    CHECK(audio_read_file(SAMPLE, rate, &ref, &nref, &err) == ASR_OK, "reference: %s", err.msg);
    capture_opts o = capture_default_opts();
    o.kind = CAPTURE_FILE;
    o.path = SAMPLE;
    o.paced = paced;
    o.out_rate = rate;
    o.ring_seconds = paced ? 2.0 : 0.1; /* unpaced: reader must wait for space, never drop */
    capture *c = capture_open(&o, &err);
    CHECK(c != NULL, "open: %s", err.msg);
    if (!c) {
        free(ref);
        return;
    }
    CHECK(capture_state(c) == CAPTURE_IDLE, "idle before start");
    CHECK(capture_start(c, &err) == ASR_OK, "start: %s", err.msg);
    CHECK(capture_start(c, &err) != ASR_OK, "second start refused");
    size_t n = 0;
    float *x = drain(c, &n);
    CHECK(capture_eof(c), "eof reached (paced=%d rate=%d)", paced, rate);
    CHECK(capture_state(c) == CAPTURE_ENDED, "state ended: %s", capture_state_name(capture_state(c)));
    CHECK(n == nref, "count: %zu vs %zu (paced=%d rate=%d)", n, nref, paced, rate);
    CHECK(n == nref && memcmp(x, ref, n * sizeof *x) == 0, "identical samples (paced=%d rate=%d)", paced,
          rate);
    CHECK(capture_dropped(c) == 0, "no drops with a reading consumer: %llu",
          (unsigned long long)capture_dropped(c));
    char name[64];
    capture_device_name(c, name, sizeof name);
    CHECK(strcmp(name, SAMPLE) == 0, "device name: %s", name);
    capture_close(c);
    free(x);
    free(ref);
}

/* Nobody reads a small ring while a paced file plays: the overflow is dropped and counted, and
 * what is kept is the beginning of the file. */
static void test_drops(void)
{
    asr_error err;
    float *ref = NULL;
    size_t nref = 0;
    CHECK(audio_read_file(SAMPLE, 16000, &ref, &nref, &err) == ASR_OK, "reference: %s", err.msg);
    capture_opts o = capture_default_opts();
    o.kind = CAPTURE_FILE;
    o.path = SAMPLE;
    o.ring_seconds = 0.05;
    capture *c = capture_open(&o, &err);
    CHECK(c && capture_start(c, &err) == ASR_OK, "start: %s", err.msg);
    if (!c) {
        free(ref);
        return;
    }
    for (int i = 0; i < 1000 && capture_state(c) != CAPTURE_ENDED; i++)
        sleep_ms(10);
    CHECK(capture_state(c) == CAPTURE_ENDED, "file played out");
    size_t n = 0;
    float *x = drain(c, &n);
    CHECK(n > 0 && n < nref, "kept part: %zu of %zu", n, nref);
    CHECK(n + capture_dropped(c) == nref, "kept %zu + dropped %llu = %zu", n,
          (unsigned long long)capture_dropped(c), nref);
    CHECK(n <= nref && memcmp(x, ref, n * sizeof *x) == 0, "kept samples are the file's first ones");
    capture_close(c);
    free(x);
    free(ref);
}

/* A source that cannot be opened is retried on the capture's own thread; close ends the wait. */
static void test_retry(capture_kind kind)
{
    asr_error err;
    capture_opts o = capture_default_opts();
    o.kind = kind;
    o.path = "tests/data/no-such-file.wav";
    o.device = "no-such-device-xyz";
    o.retry_min_s = 0.05;
    o.retry_max_s = 60; /* close must interrupt a long backoff */
    capture *c = capture_open(&o, &err);
    CHECK(c != NULL, "open (kind %d) succeeds without a source: %s", (int)kind, err.msg);
    if (!c)
        return;
    CHECK(capture_start(c, &err) == ASR_OK, "start: %s", err.msg);
    for (int i = 0; i < 500 && capture_retries(c) < 3; i++)
        sleep_ms(10);
    CHECK(capture_retries(c) >= 3, "retried (kind %d): %llu", (int)kind,
          (unsigned long long)capture_retries(c));
    capture_state_t s = capture_state(c);
    CHECK(s == CAPTURE_WAITING || s == CAPTURE_OPENING, "waiting or opening: %s", capture_state_name(s));
    float buf[16];
    CHECK(capture_read(c, buf, 16, &err) == 0, "nothing to read");
    CHECK(!capture_eof(c), "not eof");
    double dt = timed_close(c, "backoff");
    CHECK(dt < 1.0, "close interrupts a 60 s backoff (kind %d): %.2f s", (int)kind, dt);
}

/* ---- a FIFO as the source (mic.source: a named pipe another program writes) ---- */

typedef struct fifo_writer {
    const char *fifo, *wav; /* copy the bytes of wav into fifo... */
    size_t stall_after;     /* ...up to this many (0: all), then keep the FIFO open, silent */
    int hold;               /* 1: open the FIFO and write nothing until released */
    volatile int release;
    pthread_t t;
} fifo_writer;

static void *writer_main(void *arg)
{
    fifo_writer *w = arg;
    int fd = open(w->fifo, O_WRONLY); /* blocks until the capture opens its end */
    if (fd < 0)
        return NULL;
    FILE *f = w->hold ? NULL : fopen(w->wav, "rb");
    char buf[4096];
    size_t sent = 0, n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (w->stall_after && sent + n > w->stall_after)
            n = w->stall_after - sent;
        if (write(fd, buf, n) != (ssize_t)n)
            break;
        sent += n;
        if (w->stall_after && sent >= w->stall_after)
            break;
    }
    if (f)
        fclose(f);
    while ((w->hold || w->stall_after) && !w->release)
        sleep_ms(10);
    close(fd);
    return NULL;
}

/* A WAV (PCM16, 16 kHz) copy of the sample: a FIFO carries a stream, and WAV needs no seeking. */
static int make_wav(const char *path)
{
    asr_error err;
    float *x = NULL;
    size_t n = 0;
    if (audio_read_file(SAMPLE, 16000, &x, &n, &err) != ASR_OK)
        return -1;
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        free(x);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        short v = (short)x[i];
        sf_write_short(sf, &v, 1);
    }
    sf_close(sf);
    free(x);
    return 0;
}

static capture *fifo_capture(const char *fifo)
{
    asr_error err;
    capture_opts o = capture_default_opts();
    o.kind = CAPTURE_FILE;
    o.path = fifo;
    o.paced = 0;
    o.retry_min_s = 0.05;
    o.retry_max_s = 60;
    capture *c = capture_open(&o, &err);
    CHECK(c && capture_start(c, &err) == ASR_OK, "fifo capture: %s", err.msg);
    return c;
}

/* Nobody writes, a writer keeps it open and silent, a writer stalls after part of the file: each
 * time capture_close returns promptly (the supervisor used to block in open() or read() for ever,
 * and SIGTERM with it). A writer that sends a short file and leaves at once: every sample arrives. */
static void test_fifo(void)
{
    char dir[] = "/tmp/asrd-capfifo-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char fifo[128], wav[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(wav, sizeof wav, "%s/a.wav", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(make_wav(wav) == 0, "wav copy of the sample");
    asr_error err;
    float *ref = NULL;
    size_t nref = 0;
    CHECK(audio_read_file(wav, 16000, &ref, &nref, &err) == ASR_OK, "reference: %s", err.msg);

    /* no writer at all */
    capture *c = fifo_capture(fifo);
    if (c) {
        sleep_ms(300);
        CHECK(capture_state(c) != CAPTURE_ENDED, "no writer: still waiting (%s)",
              capture_state_name(capture_state(c)));
        double dt = timed_close(c, "no writer");
        CHECK(dt < 1.0, "no writer: close took %.2f s", dt);
    }

    /* a writer that holds the FIFO open and writes nothing */
    fifo_writer w = {.fifo = fifo, .hold = 1};
    c = fifo_capture(fifo);
    pthread_create(&w.t, NULL, writer_main, &w);
    if (c) {
        sleep_ms(300);
        double dt = timed_close(c, "silent writer");
        CHECK(dt < 1.0, "silent writer: close took %.2f s", dt);
    }
    w.release = 1;
    pthread_join(w.t, NULL);

    /* a writer that stops in the middle (the header and ~0.3 s of audio) and stays */
    fifo_writer w2 = {.fifo = fifo, .wav = wav, .stall_after = 44 + 9600};
    c = fifo_capture(fifo);
    pthread_create(&w2.t, NULL, writer_main, &w2);
    if (c) {
        float buf[4096];
        long got = 0;
        for (int i = 0; i < 300 && got < 4800; i++) {
            long k = capture_read(c, buf, 4096, &err);
            got += k > 0 ? k : 0;
            if (k <= 0)
                sleep_ms(10);
        }
        CHECK(got > 0, "stalled writer: the audio before the stall arrives (%ld samples)", got);
        double dt = timed_close(c, "stalled writer");
        CHECK(dt < 1.0, "stalled writer: close took %.2f s", dt);
    }
    w2.release = 1;
    pthread_join(w2.t, NULL);

    /* a writer that sends the whole file and leaves */
    fifo_writer w3 = {.fifo = fifo, .wav = wav};
    c = fifo_capture(fifo);
    pthread_create(&w3.t, NULL, writer_main, &w3);
    if (c) {
        size_t n = 0;
        float *x = drain(c, &n);
        CHECK(capture_eof(c), "whole file: eof");
        CHECK(n == nref && memcmp(x, ref, n * sizeof *x) == 0, "whole file: identical samples (%zu vs %zu)",
              n, nref);
        free(x);
        double dt = timed_close(c, "whole file");
        CHECK(dt < 1.0, "whole file: close took %.2f s", dt);
    }
    pthread_join(w3.t, NULL);
    free(ref);
    unlink(fifo);
    unlink(wav);
    rmdir(dir);
}

static int quiet_log_count;
static void quiet_log(asr_log_level level, const char *msg, void *user)
{
    (void)level, (void)msg, (void)user;
    quiet_log_count++;
}

int main(void)
{
    asr_log_set(quiet_log, NULL, ASR_LOG_DEBUG);
    test_opts();
    test_file(0, 16000);
    test_file(0, 8000);
    test_file(1, 16000);
    test_drops();
    test_retry(CAPTURE_FILE);
    test_retry(CAPTURE_PORTAUDIO);
    test_fifo();
    CHECK(quiet_log_count > 0, "capture logged through asr_log");
    asr_error err;
    FILE *f = tmpfile();
    CHECK(f && capture_list_devices(f, &err) == ASR_OK, "list devices: %s", err.msg);
    if (f)
        fclose(f);
    return TEST_SUMMARY();
}
