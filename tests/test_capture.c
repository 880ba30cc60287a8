/* test_capture.c - capture sources without a sound card: option checks; the file source, unpaced
 * and paced, delivers exactly what audio_read_file reads (the shared reader is the independent
 * reference for "everything after the ring"); a small unread ring drops and counts; a missing file
 * and a missing PortAudio device are retried (state "waiting", retries counted) and capture_close
 * interrupts the backoff.  The real PortAudio path is tested by e2e_capture.sh. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../daemon/capture.h"
#include "../frontend/audio.h"
#include "test_util.h"

#define SAMPLE "tests/data/sample.flac"

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads from c until capture_eof (or ~60 s); returns malloc'd samples. */
static float *drain(capture *c, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    float *x = malloc(cap * sizeof *x);
    asr_error err;
    for (int idle = 0; idle < 6000 && !capture_eof(c);) {
        if (len + 4096 > cap) x = realloc(x, (cap *= 2) * sizeof *x);
        long k = capture_read(c, x + len, 4096, &err);
        if (k < 0) break;
        if (k == 0) {
            idle++;
            sleep_ms(10);
        }
        len += (size_t)k;
    }
    *n = len;
    return x;
}

static void test_opts(void) {
    asr_error err;
    capture_opts o = capture_default_opts();
    CHECK(o.kind == CAPTURE_PORTAUDIO && o.out_rate == 16000 && o.paced == 1, "defaults");
    o.kind = CAPTURE_FILE;
    CHECK(capture_open(&o, &err) == NULL && err.code == ASR_ERR_ARG, "file without path");
    o.path = "-";
    o.loop = 1;
    CHECK(capture_open(&o, &err) == NULL &&
              strstr(err.msg, "standard input"),
          "loop on stdin refused: %s", err.msg);
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
static void test_file(int paced, int rate) {
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
    CHECK(n == nref && memcmp(x, ref, n * sizeof *x) == 0, "identical samples (paced=%d rate=%d)",
          paced, rate);
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
static void test_drops(void) {
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
    for (int i = 0; i < 1000 && capture_state(c) != CAPTURE_ENDED; i++) sleep_ms(10);
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
static void test_retry(capture_kind kind) {
    asr_error err;
    capture_opts o = capture_default_opts();
    o.kind = kind;
    o.path = "tests/data/no-such-file.wav";
    o.device = "no-such-device-xyz";
    o.retry_min_s = 0.05;
    o.retry_max_s = 60; /* close must interrupt a long backoff */
    capture *c = capture_open(&o, &err);
    CHECK(c != NULL, "open (kind %d) succeeds without a source: %s", (int)kind, err.msg);
    if (!c) return;
    CHECK(capture_start(c, &err) == ASR_OK, "start: %s", err.msg);
    for (int i = 0; i < 500 && capture_retries(c) < 3; i++) sleep_ms(10);
    CHECK(capture_retries(c) >= 3, "retried (kind %d): %llu", (int)kind,
          (unsigned long long)capture_retries(c));
    capture_state_t s = capture_state(c);
    CHECK(s == CAPTURE_WAITING || s == CAPTURE_OPENING, "waiting or opening: %s", capture_state_name(s));
    float buf[16];
    CHECK(capture_read(c, buf, 16, &err) == 0, "nothing to read");
    CHECK(!capture_eof(c), "not eof");
    capture_close(c);
    CHECK(1, "closed during backoff");
}

static int quiet_log_count;
static void quiet_log(asr_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
    quiet_log_count++;
}

int main(void) {
    asr_log_set(quiet_log, NULL, ASR_LOG_DEBUG);
    test_opts();
    test_file(0, 16000);
    test_file(0, 8000);
    test_file(1, 16000);
    test_drops();
    test_retry(CAPTURE_FILE);
    test_retry(CAPTURE_PORTAUDIO);
    CHECK(quiet_log_count > 0, "capture logged through asr_log");
    asr_error err;
    FILE *f = tmpfile();
    CHECK(f && capture_list_devices(f, &err) == ASR_OK, "list devices: %s", err.msg);
    if (f) fclose(f);
    return TEST_SUMMARY();
}
