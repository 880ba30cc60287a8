/* test_audio.c - audio_reader and audio_resampler: formats, mixdown, resampling, errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "../frontend/audio.h"
#include "test_util.h"

static char tmpdir[256];

/* Deterministic int16-valued test signal: a tone plus LCG noise. */
static short *make_pcm(size_t n, int rate, double freq)
{
    short *x = malloc(sizeof(short) * n);
    unsigned s = 777;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        double v = 9000 * sin(2 * M_PI * freq * i / rate) + (((s >> 8) & 0xfff) - 2048);
        x[i] = (short)lrint(v);
    }
    return x;
}

/* Writes interleaved 16-bit frames with libsndfile; returns 0 on success. */
static int write_file(const char *path, int format, int rate, int channels, const short *x, size_t frames)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf)
        return -1;
    sf_count_t w = sf_writef_short(sf, x, (sf_count_t)frames);
    sf_close(sf);
    return w == (sf_count_t)frames ? 0 : -1;
}

static void path_of(char *buf, size_t sz, const char *name)
{
    snprintf(buf, sz, "%s/%s", tmpdir, name);
}

static void test_formats(void)
{
    const int rate = 16000;
    const size_t n = 20000;
    short *x = make_pcm(n, rate, 440);
    struct {
        const char *name;
        int format;
        int lossless;
    } fmts[] = {
        {"a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1},
        {"a.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1},
        {"a.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0},
    };
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        char p[512];
        path_of(p, sizeof p, fmts[f].name);
        CHECK(write_file(p, fmts[f].format, rate, 1, x, n) == 0, "write %s", p);
        float *y = NULL;
        size_t ny = 0;
        asr_error err = {0};
        asr_status st = audio_read_file(p, rate, &y, &ny, &err);
        CHECK(st == ASR_OK, "read %s: %s", p, err.msg);
        CHECK(ny == n, "%s: %zu samples, wrote %zu", fmts[f].name, ny, n);
        if (st == ASR_OK && ny == n) {
            double maxd = 0, se = 0, sx = 0;
            for (size_t i = 0; i < n; i++) {
                double d = fabs((double)y[i] - x[i]);
                maxd = d > maxd ? d : maxd;
                se += d * d;
                sx += (double)x[i] * x[i];
            }
            if (fmts[f].lossless)
                CHECK(maxd == 0, "%s: not bit exact (max diff %g)", fmts[f].name, maxd);
            else /* Vorbis: same signal on the same int16 scale, within codec noise (> 15 dB SNR) */
                CHECK(se < sx * 0.03, "%s: SNR too low (err/signal %g)", fmts[f].name, se / sx);
        }
        free(y);
    }
    /* Streaming reads in odd sizes give the same samples as the whole-file read. */
    char p[512];
    path_of(p, sizeof p, "a.flac");
    asr_error err = {0};
    audio_reader *r = audio_reader_open(p, rate, &err);
    CHECK(r != NULL, "open %s: %s", p, err.msg);
    if (r) {
        CHECK(audio_reader_file_rate(r) == rate && audio_reader_file_channels(r) == 1, "rate/channels");
        float buf[333];
        size_t total = 0;
        int same = 1;
        long got;
        while ((got = audio_reader_read(r, buf, 333, &err)) > 0) {
            for (long i = 0; i < got; i++)
                same &= total + (size_t)i < n && buf[i] == x[total + (size_t)i];
            total += (size_t)got;
        }
        CHECK(got == 0 && total == n && same, "chunked read: %zu samples, same %d", total, same);
        audio_reader_close(r);
    }
    free(x);
}

static void test_mixdown(void)
{
    const size_t n = 8000;
    short *a = make_pcm(n, 16000, 300), *b = make_pcm(n, 16000, 1234);
    short *st = malloc(sizeof(short) * 2 * n);
    for (size_t i = 0; i < n; i++) {
        st[2 * i] = a[i];
        st[2 * i + 1] = (short)(b[i] / 2);
    }
    char p[512];
    path_of(p, sizeof p, "stereo.wav");
    CHECK(write_file(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 2, st, n) == 0, "write stereo");
    float *y = NULL;
    size_t ny = 0;
    asr_error err = {0};
    CHECK(audio_read_file(p, 16000, &y, &ny, &err) == ASR_OK && ny == n, "read stereo: %s", err.msg);
    int ok = ny == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = y[i] == (float)((a[i] + (b[i] / 2)) / 2.0);
    CHECK(ok, "stereo mixdown is not the average of the channels");
    free(y);
    free(a);
    free(b);
    free(st);
}

/* Frequency of a real signal from the DFT magnitude peak (coarse scan then fine). */
static double peak_freq(const float *y, size_t n, int rate, double lo, double hi)
{
    double best = lo, bestm = -1;
    for (double f = lo; f <= hi; f += 0.5) {
        double re = 0, im = 0;
        for (size_t i = 0; i < n; i++) {
            re += y[i] * cos(2 * M_PI * f * i / rate);
            im += y[i] * sin(2 * M_PI * f * i / rate);
        }
        double m = re * re + im * im;
        if (m > bestm) {
            bestm = m;
            best = f;
        }
    }
    return best;
}

static void test_resample(void)
{
    const size_t n = 8000; /* 1 s at 8 kHz */
    short *x = malloc(sizeof(short) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = (short)lrint(10000 * sin(2 * M_PI * 1000.0 * i / 8000));
    char p[512];
    path_of(p, sizeof p, "tone8k.wav");
    CHECK(write_file(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, x, n) == 0, "write tone8k");
    float *y = NULL;
    size_t ny = 0;
    asr_error err = {0};
    CHECK(audio_read_file(p, 16000, &y, &ny, &err) == ASR_OK, "resample read: %s", err.msg);
    CHECK(labs((long)ny - 16000) <= 2, "8k -> 16k: %zu samples for 1 s", ny);
    if (ny > 12000) {
        /* The middle 0.5 s, away from filter edges. */
        double f = peak_freq(y + 4000, 8000, 16000, 950, 1050);
        CHECK(fabs(f - 1000) <= 1.0, "resampled tone at %g Hz, want 1000", f);
        double rms = 0;
        for (size_t i = 4000; i < 12000; i++)
            rms += (double)y[i] * y[i];
        rms = sqrt(rms / 8000);
        CHECK(fabs(rms - 10000 / sqrt(2)) < 100, "resampled tone rms %g, want %g (int16 scale kept)", rms,
              10000 / sqrt(2));
    }

    float *xf = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        xf[i] = x[i];
    float *out = NULL;
    size_t capo = 0;
    /* Identity: exact copy. */
    audio_resampler *id = audio_resampler_create(16000, 16000, &err);
    long ni = audio_resampler_process(id, xf, n, 0, &out, &capo, &err);
    CHECK(ni == (long)n && memcmp(out, xf, sizeof(float) * n) == 0, "identity resampler is not a copy");
    audio_resampler_destroy(id);

    /* Unsupported ratio. */
    CHECK(audio_resampler_create(1, 16000, &err) == NULL && err.code == ASR_ERR_UNSUPPORTED,
          "1 Hz -> 16 kHz accepted");
    free(out);
    free(xf);
    free(y);
    free(x);
}

/* One stream through rs: the input cut at the offsets of cuts[0 .. n_cuts) (a cut may repeat: a
 * 0-sample call), then the flush (in = NULL, end = 1), or end = 1 on the last chunk itself when
 * end_with_data. Returns the output length (malloc'd in *y), or -1. */
static long resample_chunked(audio_resampler *rs, const float *x, size_t n, const size_t *cuts, size_t n_cuts,
                             int end_with_data, float **y)
{
    float *buf = NULL, *acc = malloc(sizeof(float) * (n * 8 + 4096));
    size_t cap = 0, len = 0, pos = 0;
    asr_error err = {0};
    long ret = 0;
    for (size_t c = 0; c <= n_cuts + !end_with_data && ret >= 0; c++) {
        int flush = c > n_cuts; /* the separate flush call */
        size_t to = flush ? n : c < n_cuts ? cuts[c] : n;
        long g = audio_resampler_process(rs, flush ? NULL : x + pos, to - pos,
                                         flush || (c == n_cuts && end_with_data), &buf, &cap, &err);
        if (g < 0 || len + (size_t)g > n * 8 + 4096)
            ret = -1;
        else if (g > 0)
            memcpy(acc + len, buf, sizeof(float) * (size_t)g), len += (size_t)g;
        pos = to;
    }
    free(buf);
    *y = acc;
    return ret < 0 ? -1 : (long)len;
}

/* The resampler's output does not depend on the chunking: at each input rate a 3 s signal (speech-
 * band tones, a sweep and noise on the int16 scale) cut at random points, down to 1-sample and
 * empty chunks, gives bit-identical output to the whole buffer in one call, with the length the
 * rates imply. The same object then starts a new stream after the end (or a reset mid-stream). */
static void test_resample_chunking(void)
{
    const int rates[] = {8000, 11025, 22050, 44100, 48000};
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        int rate = rates[ri];
        size_t n = (size_t)rate * 3;
        float *x = malloc(sizeof(float) * n);
        unsigned s = 4242u + (unsigned)rate;
        for (size_t i = 0; i < n; i++) {
            double t = (double)i / rate;
            s = s * 1103515245u + 12345u;
            x[i] = (float)lrint(6000 * sin(2 * M_PI * 440 * t) + 3000 * sin(2 * M_PI * (100 + 1500 * t) * t) +
                                (double)((int)((s >> 8) & 0x1fff) - 4096));
        }
        asr_error err = {0};
        audio_resampler *rs = audio_resampler_create(rate, 16000, &err);
        CHECK(rs != NULL, "%d Hz: create: %s", rate, err.msg);
        if (!rs) {
            free(x);
            continue;
        }
        float *whole = NULL;
        long nw = resample_chunked(rs, x, n, NULL, 0, 1, &whole);
        long want = lrint((double)n * 16000 / rate);
        CHECK(nw == want, "%d Hz: whole buffer gave %ld samples, want %ld", rate, nw, want);
        int trials = 0, same = 0;
        unsigned r = 99u + (unsigned)rate;
        for (int trial = 0; trial < 12; trial++) {
            size_t cuts[4096], nc = 0, pos = 0;
            int maxc = trial < 4 ? 7 : trial < 8 ? 700 : 9000; /* tiny, WebSocket-sized, large */
            while (nc < 4096) {
                r = r * 1664525u + 1013904223u;
                size_t k = (r >> 8) % (size_t)(maxc + 1); /* 0 included: empty calls */
                if (pos + k >= n)
                    break;
                pos += k;
                cuts[nc++] = pos;
            }
            if (trial % 4 == 3 && nc < 4096) /* the whole rest in the last chunk, ended with it */
                cuts[nc++] = n;
            float *y = NULL;
            long ny = resample_chunked(rs, x, n, cuts, nc, trial % 2, &y);
            trials++;
            if (ny == nw && memcmp(y, whole, sizeof(float) * (size_t)nw) == 0) {
                same++;
            } else {
                long first = -1;
                for (long i = 0; first < 0 && i < ny && i < nw; i++)
                    if (memcmp(&y[i], &whole[i], sizeof(float)) != 0)
                        first = i;
                fprintf(
                    stderr,
                    "%d Hz trial %d (%zu cuts, max chunk %d): %ld samples vs %ld, first difference at %ld\n",
                    rate, trial, nc, maxc, ny, nw, first);
            }
            free(y);
        }
        CHECK(same == trials, "%d Hz: %d of %d random chunkings bit-identical to the whole buffer", rate,
              same, trials);
        /* A reset mid-stream forgets the first part: the next stream equals the whole-buffer one. */
        float *tmp = NULL;
        size_t cap = 0;
        CHECK(audio_resampler_process(rs, x + 1234, 5000, 0, &tmp, &cap, &err) >= 0, "%d Hz: process", rate);
        audio_resampler_reset(rs);
        float *y = NULL;
        long ny = resample_chunked(rs, x, n, NULL, 0, 1, &y);
        CHECK(ny == nw && memcmp(y, whole, sizeof(float) * (size_t)nw) == 0,
              "%d Hz: after reset: not the same stream", rate);
        free(y);
        free(tmp);
        free(whole);
        audio_resampler_destroy(rs);
        free(x);
    }
}

/* rms of y[i0 .. i1) minus a * sin(2 pi f i / rate + ph) (a = 0: of y itself). */
static double rms_vs_tone(const float *y, size_t i0, size_t i1, double a, double f, int rate, double ph)
{
    double se = 0;
    for (size_t i = i0; i < i1; i++) {
        double d = y[i] - a * sin(2 * M_PI * f * (double)i / rate + ph);
        se += d * d;
    }
    return sqrt(se / (double)(i1 - i0));
}

/* The resampler against the analytic answer (an independent reference: resampling a sampled sine
 * band-limited below both Nyquist frequencies must give the same sine sampled at the new rate).
 *  - passband: tones up to 0.9 of the lower Nyquist frequency, and a linear sweep over that band,
 *    come out with an error rms <= 2e-3 of the signal's (-54 dB; soxr's HQ passband ripple is
 *    <= 0.01 dB, an error of 1.2e-3: measured -61 dB at worst, 44.1 kHz at 0.9 of Nyquist;
 *    libsamplerate's medium sinc, the resampler before, fails at 0.9: -13 dB);
 *  - downsampling: a tone above the output's Nyquist frequency comes out >= 100 dB down (no
 *    aliasing; measured <= -118 dB); upsampling: the error rms against the exact tone includes every image,
 * so the passband check also bounds imaging. Levels are taken over the middle of 2 s, away from the stream's
 * ends. */
static void test_resample_reference(void)
{
    const int rates[] = {8000, 11025, 22050, 44100, 48000};
    const double amp = 10000;
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        int rate = rates[ri];
        size_t n = (size_t)rate * 2;
        double nyq = (rate < 16000 ? rate : 16000) / 2.0;
        double freqs[] = {100, 440, 1000, 0.5 * nyq, 0.8 * nyq, 0.9 * nyq, 0, 0};
        size_t nf = 6;
        if (rate > 16000) { /* above the output's Nyquist frequency: must vanish */
            freqs[nf++] = 8000 + 0.1 * (rate / 2.0 - 8000);
            freqs[nf++] = 0.95 * rate / 2.0;
        }
        float *x = malloc(sizeof(float) * n), *y = NULL;
        size_t cap = 0;
        asr_error err = {0};
        audio_resampler *rs = audio_resampler_create(rate, 16000, &err);
        CHECK(rs != NULL, "%d Hz: %s", rate, err.msg);
        if (!rs) {
            free(x);
            continue;
        }
        for (size_t k = 0; k <= nf; k++) {
            int sweep = k == nf; /* last: a linear sweep 50 Hz .. 0.9 of the lower Nyquist */
            double f = sweep ? 0 : freqs[k], f1 = 0.9 * nyq, dur = (double)n / rate;
            for (size_t i = 0; i < n; i++) {
                double t = (double)i / rate;
                x[i] = (float)(amp * sin(sweep ? 2 * M_PI * (50 * t + (f1 - 50) * t * t / (2 * dur))
                                               : 2 * M_PI * f * t));
            }
            long ny = audio_resampler_process(rs, x, n, 1, &y, &cap, &err);
            CHECK(ny == 32000, "%d Hz: %ld samples for 2 s", rate, ny);
            if (ny != 32000)
                continue;
            size_t i0 = 4000, i1 = 28000;
            double e;
            if (sweep) {
                double se = 0;
                for (size_t i = i0; i < i1; i++) {
                    double t = (double)i / 16000;
                    double d = y[i] - amp * sin(2 * M_PI * (50 * t + (f1 - 50) * t * t / (2 * dur)));
                    se += d * d;
                }
                e = sqrt(se / (double)(i1 - i0)) / (amp / sqrt(2));
                CHECK(e <= 2e-3, "%d Hz: sweep to %.0f Hz: error rms %.3g of the signal's", rate, f1, e);
            } else if (f < nyq) {
                e = rms_vs_tone(y, i0, i1, amp, f, 16000, 0) / (amp / sqrt(2));
                CHECK(e <= 2e-3, "%d Hz: %.0f Hz tone: error rms %.3g of the tone's", rate, f, e);
            } else {
                e = rms_vs_tone(y, i0, i1, 0, 0, 16000, 0) / (amp / sqrt(2));
                CHECK(e <= 1e-5, "%d Hz: %.0f Hz tone aliased into the output at %.1f dB", rate, f,
                      20 * log10(e));
            }
            if (getenv("TEST_AUDIO_VERBOSE"))
                fprintf(stderr, "%d Hz %s %.0f Hz: %.1f dB\n", rate, sweep ? "sweep to" : "tone",
                        sweep ? f1 : f, 20 * log10(e));
        }
        audio_resampler_destroy(rs);
        free(y);
        free(x);
    }
}

/* Opening or reading `path` fails with `code` and a message naming the file. */
static void expect_error(const char *path, asr_status code, const char *word)
{
    float *y = NULL;
    size_t ny = 0;
    asr_error err = {0};
    asr_status st = audio_read_file(path, 16000, &y, &ny, &err);
    CHECK(st == code && err.code == code, "%s: status %d (%s), want %d", path, (int)st, err.msg, (int)code);
    CHECK(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", path, err.msg);
    CHECK(strstr(err.msg, word) != NULL, "%s: message lacks '%s': %s", path, word, err.msg);
    CHECK(y == NULL && ny == 0, "%s: samples returned on error", path);
    free(y);
}

static void test_errors(void)
{
    char p[512];
    path_of(p, sizeof p, "missing.wav");
    expect_error(p, ASR_ERR_IO, "No such file");
    expect_error("tests/data/bad_empty.wav", ASR_ERR_AUDIO, "no audio");
    expect_error("tests/data/bad_notaudio.wav", ASR_ERR_AUDIO, "not a readable audio file");
    expect_error("tests/data/bad_truncated.flac", ASR_ERR_FORMAT, "truncated");
    expect_error("tests/data/bad_zero_channels.wav", ASR_ERR_AUDIO, "hannel");
    expect_error("tests/data/bad_rate1hz.wav", ASR_ERR_UNSUPPORTED, "1 Hz");

    /* A valid WAV header with 0 frames: "no audio". */
    path_of(p, sizeof p, "zero_frames.wav");
    short dummy = 0;
    CHECK(write_file(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, &dummy, 0) == 0, "write 0-frame wav");
    expect_error(p, ASR_ERR_AUDIO, "no audio");

    /* A WAV cut mid-data: libsndfile reads it silently; we refuse it. */
    const size_t n = 16000;
    short *x = make_pcm(n, 16000, 500);
    char full[512];
    path_of(full, sizeof full, "full.wav");
    CHECK(write_file(full, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, x, n) == 0, "write full.wav");
    path_of(p, sizeof p, "cut.wav");
    FILE *in = fopen(full, "rb"), *out = fopen(p, "wb");
    char buf[20000];
    size_t got = in ? fread(buf, 1, sizeof buf, in) : 0;
    if (out)
        fwrite(buf, 1, got, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    expect_error(p, ASR_ERR_FORMAT, "truncated");
    free(x);

    /* Bad arguments. */
    asr_error err = {0};
    CHECK(audio_reader_open("tests/data/sample.flac", -5, &err) == NULL && err.code == ASR_ERR_ARG,
          "negative rate accepted");
}

/* The shipped samples open at their own rate (out_rate 0) and at 16 kHz. */
static void test_samples(void)
{
    asr_error err = {0};
    audio_reader *r = audio_reader_open("tests/data/digit8k.flac", 0, &err);
    CHECK(r && audio_reader_file_rate(r) == 8000, "digit8k.flac: %s", err.msg);
    audio_reader_close(r);
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(audio_read_file("tests/data/sample.flac", 16000, &a, &na, &err) == ASR_OK, "sample.flac: %s",
          err.msg);
    CHECK(audio_read_file("tests/data/sample.ogg", 16000, &b, &nb, &err) == ASR_OK, "sample.ogg: %s",
          err.msg);
    CHECK(na > 16000 && labs((long)na - (long)nb) < 200, "flac %zu vs ogg %zu samples", na, nb);
    free(a);
    free(b);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_audio.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_formats();
    test_mixdown();
    test_resample();
    test_resample_chunking();
    test_resample_reference();
    test_errors();
    test_samples();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_SUMMARY();
}
