/* capture.c - PortAudio and file/stdin capture sources feeding one SPSC ring.
 *
 * DESIGN
 * Three kinds of thread touch a capture:
 *
 *  - the owner (the daemon's main thread): capture_open, capture_start, capture_close.
 *  - the supervisor thread (one per capture, started by capture_start): opens the source, keeps it
 *    running, and on any failure logs one line and retries with exponential backoff.  It owns the
 *    PortAudio stream, the PortAudio library reference (so a retry can Pa_Terminate/Pa_Initialize to
 *    rescan for a device plugged in later), and for CAPTURE_FILE the audio_reader.  For a file it is
 *    also the producer: it reads 20 ms blocks and writes them to the ring at the pace of a real
 *    microphone (block k is written at t0 + (k+1) * block, i.e. once it "has been recorded").
 *  - the PortAudio callback thread (CAPTURE_PORTAUDIO only): the ring's producer.  It converts to
 *    mono int16-scale floats in a buffer allocated before the stream opened and calls ring_write;
 *    nothing else: no malloc, no locks, no logging, no system calls.  It bumps an atomic callback
 *    counter that the supervisor watches to detect a stalled device.
 *  - the consumer (the daemon's microphone feed): capture_read takes samples from the ring and
 *    resamples them (consumer side, so the callback stays trivial) from the rate the source was
 *    opened at to opts.out_rate.
 *
 * Rate changes: a device reopened after a failure may come back at another rate.  The supervisor
 * publishes the new rate in `want_rate` before starting the stream and waits (up to 1 s) until the
 * consumer, having drained every sample of the old rate, acknowledges it in `have_rate`, so one
 * resampler never sees two rates.
 *
 * Shutdown: capture_close sets `stop` and signals `cv`, which ends any backoff or pacing wait at
 * once; the supervisor closes the stream (Pa_CloseStream waits for the callback to return) and
 * exits; the owner joins it.
 *
 * Pipes.  A file source may be a FIFO (mic.source: a named pipe another program writes) or stdin.
 * Opening a FIFO blocks until a writer comes, and reading one blocks while its writer is silent; a
 * supervisor blocked there would make capture_close (and SIGTERM) wait for ever.  So a FIFO is
 * first opened O_NONBLOCK by the supervisor itself (fifo_wait), which polls it in 100 ms steps,
 * checking `stop`, until data is there; it keeps that descriptor and, while the reader opens the
 * FIFO by name, a write end too, so that the reader's open() returns at once even when the writer
 * has already left (its data stays in the pipe while we hold it); before each read it polls again.
 * What remains is a read that asks for more than the writer sent before going silent: capture_close
 * then opens a write end of its own and feeds the pipe zeros until the read returns and the
 * supervisor, seeing `stop`, exits.  The hard deadline, for stdin (which cannot be fed) or anything
 * else: after 2 s the supervisor is cancelled.  It can be cancelled only inside the reader's calls
 * (open and read are cancellation points; it runs with cancellation disabled elsewhere, so it never
 * dies holding a lock), which leaks the reader's memory at exit only.
 *
 * Loading.  PortAudio is opened with dlopen the first time a PortAudio source or the device list
 * is asked for (pa_load), not linked: with it, libasound, libjack and libstdc++ came into every
 * start of the binary, ~5 ms of the daemon's start-up CPU spent relocating libraries that a daemon
 * without a microphone (the shipped configuration) or `asrd --batch` never calls.
 */
#include "capture.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <portaudio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../frontend/audio.h"
#include "ring.h"

#define MAX_CHANNELS 32

struct capture {
    /* Immutable after capture_open. */
    capture_opts opts; /* device/path point at the copies below */
    char *device;      /* copy of opts.device (may be NULL) */
    char *path;        /* copy of opts.path (may be NULL) */
    ring *ring;        /* producer: callback or supervisor; consumer: capture_read */
    size_t block_max;  /* frames in the largest block a source delivers */
    float *cb_buf;     /* (block_max) callback scratch: written only by the callback thread */
    float *file_buf;   /* (block_max) file reader block: supervisor only */

    /* Shared, guarded by mu (only for waits: the fields themselves are atomics). */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled by capture_close (stop) and by the consumer's rate ack */
    pthread_t thread;
    int started;                    /* owner only */
    atomic_int stop;                /* owner writes, supervisor reads */
    atomic_int state;               /* capture_state_t; supervisor writes, anyone reads */
    atomic_int done;                /* supervisor sets when it returns (timed join for stdin) */
    atomic_uint_fast64_t retries;   /* supervisor writes */
    atomic_uint_fast64_t callbacks; /* callback writes, supervisor reads (stall detection) */
    atomic_int want_rate;           /* supervisor writes: rate of samples now entering the ring */
    atomic_int have_rate;           /* consumer writes: rate its resampler is set up for */
    char name[256];                 /* device/file in use; written by supervisor under mu */
    int channels;                   /* of the open stream: supervisor writes before start, callback reads */
    int fifo_rd, fifo_wr; /* a FIFO source's own ends (-1: none); supervisor, then owner after join */

    /* Consumer only. */
    audio_resampler *rs; /* have_rate -> out_rate, NULL when equal */
    float *in_buf;       /* (block_max) ring -> resampler */
    float *pend;         /* resampler output not yet returned: pend[pend_off .. pend_n) */
    size_t pend_cap, pend_n, pend_off;
    float *rs_out; /* (rs_cap) resampler output scratch */
    size_t rs_cap;
};

/* ---- small helpers ---- */

/* ---- PortAudio, loaded on first use ----
 * Every PortAudio function capture.c calls, through pointers that pa_load fills: pa.Pa_Initialize(). */
#define PA_FUNCS(X)                                                                                          \
    X(PaError, Pa_Initialize, (void))                                                                        \
    X(PaError, Pa_Terminate, (void))                                                                         \
    X(const char *, Pa_GetErrorText, (PaError))                                                              \
    X(PaDeviceIndex, Pa_GetDeviceCount, (void))                                                              \
    X(PaDeviceIndex, Pa_GetDefaultInputDevice, (void))                                                       \
    X(const PaDeviceInfo *, Pa_GetDeviceInfo, (PaDeviceIndex))                                               \
    X(const PaHostApiInfo *, Pa_GetHostApiInfo, (PaHostApiIndex))                                            \
    X(PaError, Pa_IsFormatSupported, (const PaStreamParameters *, const PaStreamParameters *, double))       \
    X(PaError, Pa_OpenStream,                                                                                \
      (PaStream **, const PaStreamParameters *, const PaStreamParameters *, double, unsigned long,           \
       PaStreamFlags, PaStreamCallback *, void *))                                                           \
    X(PaError, Pa_StartStream, (PaStream *))                                                                 \
    X(PaError, Pa_AbortStream, (PaStream *))                                                                 \
    X(PaError, Pa_CloseStream, (PaStream *))                                                                 \
    X(PaError, Pa_IsStreamActive, (PaStream *))

static struct {
    PA_FUNCS(ASR_DL_POINTER)
} pa;
static pthread_once_t pa_once = PTHREAD_ONCE_INIT;
static char pa_why[256]; /* empty once loaded; written once, under pa_once */

typedef void (*alsa_error_fn)(const char *file, int line, const char *fn, int err, const char *fmt, ...);

static void noop_alsa(const char *file, int line, const char *fn, int err, const char *fmt, ...)
{
    (void)file, (void)line, (void)fn, (void)err, (void)fmt;
}
static void noop_jack(const char *msg)
{
    (void)msg;
}

/* Silences the libraries PortAudio probes: ALSA's dozens of lines of configuration noise, and
 * libjack, which without a server prints five lines and, unless told not to, tries to start jackd
 * (which a daemon must never do). They are PortAudio's own dependencies, found through its handle. */
static void quiet_backends(void *h)
{
    void (*alsa_handler)(alsa_error_fn) = (void (*)(alsa_error_fn))dlsym(h, "snd_lib_error_set_handler");
    void (*jack_error)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(h, "jack_set_error_function");
    void (*jack_info)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(h, "jack_set_info_function");
    if (alsa_handler)
        alsa_handler(noop_alsa);
    if (jack_error)
        jack_error(noop_jack);
    if (jack_info)
        jack_info(noop_jack);
}

#define PA_LIB "libportaudio.so.2"

static void pa_load_once(void)
{
    setenv("JACK_NO_START_SERVER", "1", 0);
    void *h = asr_dl_open(PA_LIB, pa_why, sizeof pa_why);
#define PA_LOOKUP(ret, name, args) asr_dl_sym(h, PA_LIB, #name, (void **)&pa.name, pa_why, sizeof pa_why);
    PA_FUNCS(PA_LOOKUP)
#undef PA_LOOKUP
    if (!pa_why[0])
        quiet_backends(h);
}

/* Loads PortAudio (once per process; any thread): ASR_OK, or ASR_ERR_AUDIO with the reason. */
static asr_status pa_load(asr_error *err)
{
    pthread_once(&pa_once, pa_load_once);
    return pa_why[0] ? asr_error_set(err, ASR_ERR_AUDIO, "capture: PortAudio: %s", pa_why) : ASR_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sleeps until monotonic time `until` or until stop; returns 1 if stopping. */
static int wait_until(capture *c, double until)
{
    /* Not cancellable here: a cancel (stdin shutdown) must not leave mu locked. */
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->stop)) {
        double t = now_s();
        if (t >= until)
            break;
        struct timespec ts;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    pthread_setcancelstate(old, NULL);
    return atomic_load(&c->stop);
}

static void set_name(capture *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->name, sizeof c->name, "%s", name);
    pthread_mutex_unlock(&c->mu);
}

/* Waits (up to 1 s, or stop) until the consumer has switched to `rate`. */
static void publish_rate(capture *c, int rate)
{
    if (atomic_load(&c->want_rate) == rate)
        return;
    atomic_store(&c->want_rate, rate);
    double until = now_s() + 1.0;
    while (atomic_load(&c->have_rate) != rate && now_s() < until && !atomic_load(&c->stop))
        wait_until(c, fmin(until, now_s() + 0.01));
}

capture_opts capture_default_opts(void)
{
    capture_opts o;
    memset(&o, 0, sizeof o);
    o.kind = CAPTURE_PORTAUDIO;
    o.paced = 1;
    o.out_rate = 16000;
    o.ring_seconds = 2.0;
    o.block_seconds = 0.02;
    o.retry_min_s = 0.5;
    o.retry_max_s = 10.0;
    o.stall_timeout_s = 2.0;
    return o;
}

/* ---- PortAudio source ---- */

/* Real-time callback: convert to mono int16-scale floats and copy into the ring.  Nothing else. */
static int pa_callback(const void *input, void *output, unsigned long frames,
                       const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user)
{
    (void)output, (void)ti, (void)flags;
    capture *c = user;
    const float *in = input;
    int ch = c->channels;
    while (in && frames) {
        size_t n = frames < c->block_max ? frames : c->block_max;
        for (size_t i = 0; i < n; i++) {
            float s = 0;
            for (int k = 0; k < ch; k++)
                s += in[i * ch + k];
            c->cb_buf[i] = s * (32768.0f / (float)ch);
        }
        ring_write(c->ring, c->cb_buf, n);
        in += n * ch;
        frames -= n;
    }
    atomic_fetch_add_explicit(&c->callbacks, 1, memory_order_relaxed);
    return paContinue;
}

/* Finds the input device for opts.device; returns paNoDevice with why filled. */
static PaDeviceIndex pa_find_device(const char *want, char *why, size_t why_size)
{
    int n = pa.Pa_GetDeviceCount();
    if (n < 0) {
        snprintf(why, why_size, "PortAudio cannot list devices: %s", pa.Pa_GetErrorText(n));
        return paNoDevice;
    }
    if (!want || !*want || !strcmp(want, "default")) {
        PaDeviceIndex d = pa.Pa_GetDefaultInputDevice();
        if (d == paNoDevice)
            snprintf(why, why_size, "no default input device (%d devices seen)", n);
        return d;
    }
    char *end;
    long idx = strtol(want, &end, 10);
    if (*end == '\0') {
        if (idx < 0 || idx >= n || pa.Pa_GetDeviceInfo((PaDeviceIndex)idx)->maxInputChannels < 1) {
            snprintf(why, why_size, "no input device with index %ld (%d devices seen)", idx, n);
            return paNoDevice;
        }
        return (PaDeviceIndex)idx;
    }
    for (int pass = 0; pass < 2; pass++)
        for (PaDeviceIndex i = 0; i < n; i++) {
            const PaDeviceInfo *d = pa.Pa_GetDeviceInfo(i);
            if (d->maxInputChannels < 1)
                continue;
            if (pass == 0 ? !strcmp(d->name, want) : strstr(d->name, want) != NULL)
                return i;
        }
    snprintf(why, why_size, "no input device named \"%s\" (%d devices seen; see --list-devices)", want, n);
    return paNoDevice;
}

/* Opens and starts a stream; returns it, or NULL with why filled. */
static PaStream *pa_open(capture *c, char *why, size_t why_size)
{
    PaDeviceIndex dev = pa_find_device(c->device, why, why_size);
    if (dev == paNoDevice)
        return NULL;
    const PaDeviceInfo *info = pa.Pa_GetDeviceInfo(dev);
    PaStreamParameters p;
    memset(&p, 0, sizeof p);
    p.device = dev;
    p.sampleFormat = paFloat32;
    p.suggestedLatency = info->defaultHighInputLatency;
    /* Rates to try: the configured one only, else the model's rate (no resampling) then the
     * device's own default. */
    double rates[2] = {c->opts.device_rate ? c->opts.device_rate : c->opts.out_rate,
                       c->opts.device_rate ? 0 : info->defaultSampleRate};
    int chans[2] = {1, info->maxInputChannels < MAX_CHANNELS ? info->maxInputChannels : MAX_CHANNELS};
    PaError e = paInvalidSampleRate;
    for (int ri = 0; ri < 2 && e != paFormatIsSupported; ri++) {
        if (rates[ri] <= 0 || (ri == 1 && rates[1] == rates[0]))
            continue;
        for (int ci = 0; ci < 2; ci++) {
            p.channelCount = chans[ci];
            e = pa.Pa_IsFormatSupported(&p, NULL, rates[ri]);
            if (e == paFormatIsSupported) {
                rates[0] = rates[ri];
                break;
            }
        }
    }
    if (e != paFormatIsSupported) {
        snprintf(why, why_size, "input device \"%s\" supports neither %g Hz nor its default rate: %s",
                 info->name, rates[0], pa.Pa_GetErrorText(e));
        return NULL;
    }
    int rate = (int)rates[0];
    unsigned long frames = (unsigned long)lround(rate * c->opts.block_seconds);
    if (frames > c->block_max)
        frames = c->block_max; /* cannot happen: block_max covers 192 kHz */
    c->channels = p.channelCount;
    PaStream *s = NULL;
    e = pa.Pa_OpenStream(&s, &p, NULL, rate, frames, paClipOff, pa_callback, c);
    if (e != paNoError) {
        snprintf(why, why_size, "cannot open input device \"%s\" at %d Hz: %s", info->name, rate,
                 pa.Pa_GetErrorText(e));
        return NULL;
    }
    publish_rate(c, rate);
    /* Named and logged before the first callback, so nobody sees samples from a nameless device. */
    set_name(c, info->name);
    asr_log(ASR_LOG_INFO, "capture: recording from \"%s\" (%s) at %d Hz, %d channel%s", info->name,
            pa.Pa_GetHostApiInfo(info->hostApi)->name, rate, c->channels, c->channels > 1 ? "s" : "");
    e = pa.Pa_StartStream(s);
    if (e != paNoError) {
        snprintf(why, why_size, "cannot start input device \"%s\": %s", info->name, pa.Pa_GetErrorText(e));
        pa.Pa_CloseStream(s);
        return NULL;
    }
    return s;
}

/* Supervises one open stream until it fails or stop; returns a reason ("" when stopping). */
static void pa_watch(capture *c, PaStream *s, char *why, size_t why_size)
{
    uint64_t last = atomic_load(&c->callbacks);
    double last_t = now_s();
    while (!wait_until(c, now_s() + 0.1)) {
        PaError a = pa.Pa_IsStreamActive(s);
        if (a != 1) {
            snprintf(why, why_size, "the input stream stopped (%s)",
                     a < 0 ? pa.Pa_GetErrorText(a) : "device gone");
            return;
        }
        uint64_t cb = atomic_load(&c->callbacks);
        double t = now_s();
        if (cb != last) {
            last = cb;
            last_t = t;
        } else if (t - last_t > c->opts.stall_timeout_s) {
            snprintf(why, why_size, "no audio from the device for %.1f s", t - last_t);
            return;
        }
    }
    why[0] = '\0';
}

static void run_portaudio(capture *c)
{
    double backoff = c->opts.retry_min_s;
    int pa_ok = 0;
    char why[512];
    while (!atomic_load(&c->stop)) {
        atomic_store(&c->state, CAPTURE_OPENING);
        if (pa_ok)
            pa.Pa_Terminate(); /* rescan: a device may have appeared or come back */
        PaError e = pa.Pa_Initialize();
        pa_ok = e == paNoError;
        PaStream *s = NULL;
        if (!pa_ok)
            snprintf(why, sizeof why, "PortAudio: %s", pa.Pa_GetErrorText(e));
        else
            s = pa_open(c, why, sizeof why);
        if (s) {
            atomic_store(&c->state, CAPTURE_RUNNING);
            double t0 = now_s();
            pa_watch(c, s, why, sizeof why);
            pa.Pa_AbortStream(s);
            pa.Pa_CloseStream(s);
            if (atomic_load(&c->stop))
                break;
            if (now_s() - t0 > 30)
                backoff = c->opts.retry_min_s; /* it worked a while: start over */
        }
        atomic_fetch_add(&c->retries, 1);
        atomic_store(&c->state, CAPTURE_WAITING);
        asr_log(ASR_LOG_WARN, "capture: %s; retrying in %.1f s", why, backoff);
        if (wait_until(c, now_s() + backoff))
            break;
        backoff = fmin(backoff * 2, c->opts.retry_max_s);
    }
    if (pa_ok)
        pa.Pa_Terminate();
}

/* ---- file / stdin source ---- */

/* The reader's calls, the only places where a file source's supervisor may be cancelled. */
static audio_reader *reader_open(capture *c, asr_error *err)
{
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    audio_reader *rd = audio_reader_open(c->path, c->opts.out_rate, err);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    return rd;
}

static long reader_read(audio_reader *rd, float *out, size_t max, asr_error *err)
{
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    long n = audio_reader_read(rd, out, max, err);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    return n;
}

static void fifo_close(capture *c)
{
    if (c->fifo_rd >= 0)
        close(c->fifo_rd);
    if (c->fifo_wr >= 0)
        close(c->fifo_wr);
    c->fifo_rd = c->fifo_wr = -1;
}

/* Waits (in 100 ms polls, checking stop) until the FIFO has data or its writer hung up.  Returns 1
 * when stopping, 2 on a hang-up without data, 0 when there is data. */
static int fifo_poll(capture *c)
{
    for (;;) {
        if (atomic_load(&c->stop))
            return 1;
        struct pollfd p = {.fd = c->fifo_rd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r > 0 && (p.revents & POLLIN))
            return 0;
        if (r > 0 && (p.revents & (POLLHUP | POLLERR)))
            return 2;
        if (r < 0 && errno != EINTR)
            return 2;
    }
}

/* Before the reader opens c->path: if it is a FIFO, opens it without blocking and waits for data
 * (see DESIGN), leaving c->fifo_rd and c->fifo_wr open for the reader's open().  Returns 1 when
 * stopping, 2 when a writer came and went without data (why filled), 0 otherwise (not a FIFO,
 * or data waiting). */
static int fifo_wait(capture *c, char *why, size_t why_size)
{
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0; /* the reader's open says why */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        close(fd);
        return 0;
    }
    c->fifo_rd = fd;
    int r = fifo_poll(c);
    if (r == 0) {
        /* A reader (us) exists, so this cannot block or fail with ENXIO. */
        c->fifo_wr = open(c->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        return 0;
    }
    fifo_close(c);
    if (r == 2)
        snprintf(why, why_size, "%s: the writer closed the FIFO without sending audio", c->path);
    return r;
}

/* Streams one opened file into the ring.  Returns 0 at end of file, -1 on a read error (why
 * filled), 1 when stopping.  *t0 and *sent carry the pacing clock across loops of the file. */
static int file_stream(capture *c, audio_reader *rd, double *t0, uint64_t *sent, char *why, size_t why_size)
{
    size_t block = (size_t)lround(c->opts.out_rate * c->opts.block_seconds);
    asr_error err;
    for (;;) {
        if (c->fifo_rd >= 0 && fifo_poll(c) == 1)
            return 1;
        long n = reader_read(rd, c->file_buf, block, &err);
        if (atomic_load(&c->stop))
            return 1; /* what a read interrupted by capture_close got is not audio */
        if (n < 0) {
            snprintf(why, why_size, "%s", err.msg);
            return -1;
        }
        if (n == 0)
            return 0;
        if (c->opts.paced) {
            /* A microphone delivers a block once it has been recorded. */
            if (wait_until(c, *t0 + (double)(*sent + (uint64_t)n) / c->opts.out_rate))
                return 1;
            ring_write(c->ring, c->file_buf, (size_t)n);
        } else {
            size_t off = 0;
            while (off < (size_t)n) {
                size_t sp = ring_space(c->ring), k = (size_t)n - off;
                off += ring_write(c->ring, c->file_buf + off, k < sp ? k : sp);
                if (off < (size_t)n && wait_until(c, now_s() + 0.002))
                    return 1;
            }
        }
        *sent += (uint64_t)n;
        if (atomic_load(&c->stop))
            return 1;
    }
}

static void run_file(capture *c)
{
    int is_stdin = !strcmp(c->path, "-");
    double backoff = c->opts.retry_min_s;
    char why[600];
    double t0 = 0;
    uint64_t sent = 0;
    int fresh_clock = 1;
    while (!atomic_load(&c->stop)) {
        atomic_store(&c->state, CAPTURE_OPENING);
        asr_error err;
        audio_reader *rd = NULL;
        int w = is_stdin ? 0 : fifo_wait(c, why, sizeof why);
        if (w == 1)
            break;
        if (w == 0) {
            rd = reader_open(c, &err);
            if (c->fifo_wr >= 0) { /* the reader has its own descriptor now: let EOF through */
                close(c->fifo_wr);
                c->fifo_wr = -1;
            }
            if (!rd) {
                fifo_close(c);
                snprintf(why, sizeof why, "%s", err.msg);
            }
        }
        if (rd) {
            set_name(c, is_stdin ? "stdin" : c->path);
            if (fresh_clock) {
                asr_log(ASR_LOG_INFO, "capture: reading %s%s", is_stdin ? "stdin" : c->path,
                        c->opts.paced ? " in real time" : "");
                t0 = now_s();
                sent = 0;
                fresh_clock = 0;
            }
            atomic_store(&c->state, CAPTURE_RUNNING);
            int r = file_stream(c, rd, &t0, &sent, why, sizeof why);
            audio_reader_close(rd);
            fifo_close(c);
            if (r == 1)
                break;
            if (r == 0 && c->opts.loop)
                continue;
            if (r == 0) {
                asr_log(ASR_LOG_INFO, "capture: end of %s", is_stdin ? "stdin" : c->path);
                atomic_store(&c->state, CAPTURE_ENDED);
                return;
            }
        }
        if (is_stdin) { /* a pipe cannot be reopened */
            asr_log(ASR_LOG_ERROR, "capture: %s; standard input cannot be reopened", why);
            atomic_store(&c->state, CAPTURE_ENDED);
            return;
        }
        atomic_fetch_add(&c->retries, 1);
        atomic_store(&c->state, CAPTURE_WAITING);
        asr_log(ASR_LOG_WARN, "capture: %s; retrying in %.1f s", why, backoff);
        fresh_clock = 1;
        if (wait_until(c, now_s() + backoff))
            break;
        backoff = fmin(backoff * 2, c->opts.retry_max_s);
    }
}

static void *supervisor(void *arg)
{
    capture *c = arg;
    /* Cancelled only inside the reader's calls (see DESIGN): never while holding a lock. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    if (c->opts.kind == CAPTURE_PORTAUDIO)
        run_portaudio(c);
    else
        run_file(c);
    atomic_store(&c->done, 1);
    return NULL;
}

/* ---- public API ---- */

capture *capture_open(const capture_opts *opts, asr_error *err)
{
    capture *c = NULL;
    const capture_opts *o = opts;
    if (!o) {
        asr_error_set(err, ASR_ERR_ARG, "capture: no options");
        return NULL;
    }
    if (o->kind != CAPTURE_PORTAUDIO && o->kind != CAPTURE_FILE) {
        asr_error_set(err, ASR_ERR_ARG, "capture: unknown source kind %d", (int)o->kind);
        return NULL;
    }
    if (o->kind == CAPTURE_FILE && (!o->path || !*o->path)) {
        asr_error_set(err, ASR_ERR_ARG, "capture: a file source needs a path (or \"-\" for stdin)");
        return NULL;
    }
    if (o->kind == CAPTURE_FILE && o->loop && !strcmp(o->path, "-")) {
        asr_error_set(err, ASR_ERR_ARG, "capture: standard input cannot be looped");
        return NULL;
    }
    if (o->out_rate < 1000 || o->out_rate > 192000 || o->device_rate < 0 || o->device_rate > 192000 ||
        (o->device_rate && o->device_rate < 1000)) {
        asr_error_set(err, ASR_ERR_ARG,
                      "capture: sample rate out of range 1000..192000 Hz (out %d, device %d)", o->out_rate,
                      o->device_rate);
        return NULL;
    }
    if (!(o->ring_seconds >= 0.05 && o->ring_seconds <= 600) ||
        !(o->block_seconds >= 0.001 && o->block_seconds <= 0.5) ||
        !(o->retry_min_s > 0 && o->retry_min_s <= 3600) ||
        !(o->retry_max_s >= o->retry_min_s && o->retry_max_s <= 3600) ||
        !(o->stall_timeout_s >= 0.1 && o->stall_timeout_s <= 3600)) {
        asr_error_set(err, ASR_ERR_ARG,
                      "capture: durations out of range (ring 0.05..600 s, block 0.001..0.5 s, "
                      "retry 0 < min <= max <= 3600 s, stall 0.1..3600 s)");
        return NULL;
    }
    if (o->kind == CAPTURE_PORTAUDIO) {
        /* Fail early if the library itself is missing or broken; devices are looked up by the
         * supervisor. */
        if (pa_load(err) != ASR_OK)
            return NULL;
        PaError e = pa.Pa_Initialize();
        if (e != paNoError) {
            asr_error_set(err, ASR_ERR_AUDIO, "capture: PortAudio: %s", pa.Pa_GetErrorText(e));
            return NULL;
        }
        pa.Pa_Terminate();
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->opts = *o;
    if (o->device && !(c->device = strdup(o->device)))
        goto nomem;
    if (o->path && !(c->path = strdup(o->path)))
        goto nomem;
    c->opts.device = c->device;
    c->opts.path = c->path;
    /* The ring and blocks are sized for the fastest rate a source may come back at. */
    int max_rate = o->kind == CAPTURE_FILE ? o->out_rate : 192000;
    c->block_max = (size_t)ceil(max_rate * o->block_seconds) + 1;
    c->ring = ring_create((size_t)ceil(max_rate * o->ring_seconds), err);
    if (!c->ring)
        goto fail;
    if (!(c->cb_buf = malloc(c->block_max * sizeof(float))))
        goto nomem;
    if (!(c->file_buf = malloc(c->block_max * sizeof(float))))
        goto nomem;
    if (!(c->in_buf = malloc(c->block_max * sizeof(float))))
        goto nomem;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&c->stop, 0);
    atomic_init(&c->state, CAPTURE_IDLE);
    atomic_init(&c->done, 0);
    atomic_init(&c->retries, 0);
    atomic_init(&c->callbacks, 0);
    /* A file enters the ring already at out_rate; a device's rate is known once it is open. */
    int r0 = o->kind == CAPTURE_FILE ? o->out_rate : 0;
    atomic_init(&c->want_rate, r0);
    atomic_init(&c->have_rate, r0);
    c->fifo_rd = c->fifo_wr = -1;
    return c;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "capture: out of memory");
fail:
    if (c) {
        ring_destroy(c->ring);
        free(c->cb_buf);
        free(c->file_buf);
        free(c->in_buf);
        free(c->device);
        free(c->path);
        free(c);
    }
    return NULL;
}

asr_status capture_start(capture *c, asr_error *err)
{
    if (c->started)
        return asr_error_set(err, ASR_ERR_ARG, "capture: already started");
    /* Signals are for the owner's thread: none interrupts the supervisor's open() or read(). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&c->thread, NULL, supervisor, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return asr_error_set(err, ASR_ERR_NOMEM, "capture: cannot start thread: %s", strerror(e));
    c->started = 1;
    return ASR_OK;
}

/* Appends resampler output for `in` (or the flush when end) to the pending buffer. */
static int consume(capture *c, const float *in, size_t n, int end, asr_error *err)
{
    if (c->pend_off == c->pend_n)
        c->pend_off = c->pend_n = 0;
    long m = audio_resampler_process(c->rs, in, n, end, &c->rs_out, &c->rs_cap, err);
    if (m < 0)
        return -1;
    if (c->pend_n + (size_t)m > c->pend_cap) {
        size_t cap = (c->pend_n + (size_t)m) * 2;
        float *p = realloc(c->pend, cap * sizeof *p);
        if (!p) {
            asr_error_set(err, ASR_ERR_NOMEM, "capture: out of memory");
            return -1;
        }
        c->pend = p;
        c->pend_cap = cap;
    }
    if (m)
        memcpy(c->pend + c->pend_n, c->rs_out, (size_t)m * sizeof *c->rs_out);
    c->pend_n += (size_t)m;
    return 0;
}

long capture_read(capture *c, float *out, size_t max, asr_error *err)
{
    int want = atomic_load(&c->want_rate);
    int have = atomic_load(&c->have_rate);
    if (want != have && ring_available(c->ring) == 0) {
        /* Every sample of the old rate is out: flush the old resampler, switch to the new rate. */
        if (c->rs && consume(c, NULL, 0, 1, err) < 0)
            return -1;
        audio_resampler_destroy(c->rs);
        c->rs = NULL;
        if (want != c->opts.out_rate) {
            c->rs = audio_resampler_create(want, c->opts.out_rate, err);
            if (!c->rs)
                return -1;
        }
        atomic_store(&c->have_rate, want);
        have = want;
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    if (!c->rs) {
        size_t got = 0;
        if (c->pend_off < c->pend_n) { /* the old resampler's flushed tail */
            got = c->pend_n - c->pend_off < max ? c->pend_n - c->pend_off : max;
            memcpy(out, c->pend + c->pend_off, got * sizeof *out);
            c->pend_off += got;
        }
        return (long)(got + ring_read(c->ring, out + got, max - got));
    }
    while (c->pend_n - c->pend_off < max) {
        size_t n = ring_read(c->ring, c->in_buf, c->block_max);
        if (!n)
            break;
        if (consume(c, c->in_buf, n, 0, err) < 0)
            return -1;
    }
    size_t got = c->pend_n - c->pend_off < max ? c->pend_n - c->pend_off : max;
    memcpy(out, c->pend + c->pend_off, got * sizeof *out);
    c->pend_off += got;
    return (long)got;
}

int capture_eof(capture *c)
{
    return atomic_load(&c->state) == CAPTURE_ENDED && ring_available(c->ring) == 0 &&
           c->pend_off == c->pend_n;
}

capture_state_t capture_state(const capture *c)
{
    return (capture_state_t)atomic_load(&((capture *)c)->state);
}

const char *capture_state_name(capture_state_t s)
{
    switch (s) {
    case CAPTURE_IDLE:
        return "idle";
    case CAPTURE_OPENING:
        return "opening";
    case CAPTURE_RUNNING:
        return "running";
    case CAPTURE_WAITING:
        return "waiting";
    case CAPTURE_ENDED:
        return "ended";
    case CAPTURE_STOPPED:
        return "stopped";
    }
    return "unknown";
}

uint64_t capture_dropped(const capture *c)
{
    return ring_dropped(c->ring);
}

uint64_t capture_retries(const capture *c)
{
    return atomic_load(&((capture *)c)->retries);
}

void capture_device_name(const capture *c, char *buf, size_t size)
{
    if (!size)
        return;
    capture *m = (capture *)c;
    pthread_mutex_lock(&m->mu);
    snprintf(buf, size, "%s", m->name);
    pthread_mutex_unlock(&m->mu);
}

/* Joins the supervisor if it ends within `seconds`; returns 1 if joined. */
static int timed_join(capture *c, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + seconds;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return pthread_timedjoin_np(c->thread, NULL, &ts) == 0;
}

void capture_close(capture *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        atomic_store(&c->stop, 1);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        if (c->opts.kind == CAPTURE_FILE) {
            /* It may be blocked reading a pipe whose writer is silent (see DESIGN). */
            int joined = timed_join(c, 0.2);
            int fd = joined || !strcmp(c->path, "-") ? -1 : open(c->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) {
                static const char zeros[4096];
                double until = now_s() + 2.0;
                while (!joined && now_s() < until) {
                    if (write(fd, zeros, sizeof zeros) < 0 && errno != EAGAIN)
                        break;
                    joined = timed_join(c, 0.02);
                }
                close(fd);
            }
            if (!joined)
                joined = timed_join(c, 2.0);
            if (!joined) {
                asr_log(ASR_LOG_WARN, "capture: %s still blocked in a read after 2 s: abandoning it",
                        strcmp(c->path, "-") ? c->path : "stdin");
                pthread_cancel(c->thread);
                pthread_join(c->thread, NULL);
            }
        } else {
            pthread_join(c->thread, NULL);
        }
    }
    fifo_close(c); /* after a cancel they may still be open */
    atomic_store(&c->state, CAPTURE_STOPPED);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    audio_resampler_destroy(c->rs);
    ring_destroy(c->ring);
    free(c->pend);
    free(c->rs_out);
    free(c->cb_buf);
    free(c->file_buf);
    free(c->in_buf);
    free(c->device);
    free(c->path);
    free(c);
}

asr_status capture_list_devices(FILE *out, asr_error *err)
{
    if (pa_load(err) != ASR_OK)
        return err ? err->code : ASR_ERR_AUDIO;
    PaError e = pa.Pa_Initialize();
    if (e != paNoError)
        return asr_error_set(err, ASR_ERR_AUDIO, "capture: PortAudio: %s", pa.Pa_GetErrorText(e));
    int n = pa.Pa_GetDeviceCount();
    PaDeviceIndex def = pa.Pa_GetDefaultInputDevice();
    int shown = 0;
    for (PaDeviceIndex i = 0; i < n; i++) {
        const PaDeviceInfo *d = pa.Pa_GetDeviceInfo(i);
        if (d->maxInputChannels < 1)
            continue;
        fprintf(out, "%3d%s %s  [%s, %d in, %.0f Hz]\n", i, i == def ? "*" : " ", d->name,
                pa.Pa_GetHostApiInfo(d->hostApi)->name, d->maxInputChannels, d->defaultSampleRate);
        shown++;
    }
    if (!shown)
        fprintf(out, "no input devices\n");
    pa.Pa_Terminate();
    return ASR_OK;
}
