/* test_mfcc.c - streaming MFCC: chunk independence, frame count, parameter checks, physics.
 * (Agreement with Kaldi's numbers is tests/e2e_kaldi_mfcc.sh, against torchaudio.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/mfcc.h"
#include "test_util.h"

/* Deterministic test signal on the int16 scale: two tones, a chirp and LCG noise. */
static float *make_signal(size_t n, int rate)
{
    float *x = malloc(sizeof(float) * n);
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        s = s * 1103515245u + 12345u;
        double noise = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
        double v =
            6000 * sin(2 * M_PI * 300 * t) + 3000 * sin(2 * M_PI * (200 * t + 900 * t * t)) + 800 * noise;
        x[i] = (float)lrint(v);
    }
    return x;
}

/* Features of x fed in chunks of `chunk` samples (0: whole); returns frames written. */
static int stream_chunked(const mfcc *m, const float *x, size_t n, size_t chunk, float *out, int max_frames)
{
    mfcc_stream *s = mfcc_stream_create(m);
    int nc = mfcc_get_params(m)->num_ceps, nf = 0;
    if (chunk == 0)
        chunk = n;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        if (mfcc_stream_accept(s, x + i, k) != ASR_OK)
            break;
        while (nf < max_frames && mfcc_stream_pop(s, out + (size_t)nf * nc))
            nf++;
    }
    mfcc_stream_destroy(s);
    return nf;
}

static void test_chunking(const mfcc_params *p, const char *what)
{
    asr_error err;
    mfcc *m = mfcc_create(p, &err);
    CHECK(m != NULL, "%s: mfcc_create: %s", what, err.msg);
    if (!m)
        return;
    size_t n = (size_t)p->sample_rate * 2 + 37;
    float *x = make_signal(n, p->sample_rate);
    int len = mfcc_frame_length(m), shift = mfcc_frame_shift(m), nc = p->num_ceps;
    int expect = 1 + (int)((n - (size_t)len) / (size_t)shift);
    float *ref = NULL;
    int nref = 0;
    CHECK(mfcc_compute(m, x, n, &ref, &nref) == ASR_OK, "%s: mfcc_compute", what);
    CHECK(nref == expect, "%s: %d frames, expected 1 + (N - len)/shift = %d", what, nref, expect);
    size_t bytes = sizeof(float) * (size_t)nref * (size_t)nc;
    float *got = malloc(bytes + sizeof(float) * (size_t)nc);
    const size_t chunks[] = {0, 1, 7, 160, 4096};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        memset(got, 0, bytes);
        int nf = stream_chunked(m, x, n, chunks[c], got, nref + 1);
        CHECK(nf == nref, "%s: chunk %zu gave %d frames, whole %d", what, chunks[c], nf, nref);
        CHECK(nf == nref && memcmp(got, ref, bytes) == 0, "%s: chunk %zu frames differ from whole", what,
              chunks[c]);
    }
    /* Reset: the stream starts over and reproduces the same frames. */
    mfcc_stream *s = mfcc_stream_create(m);
    mfcc_stream_accept(s, x, 1000);
    mfcc_stream_reset(s);
    mfcc_stream_accept(s, x, n);
    int nf = 0;
    while (nf < nref && mfcc_stream_pop(s, got + (size_t)nf * nc))
        nf++;
    CHECK(nf == nref && memcmp(got, ref, bytes) == 0, "%s: after reset frames differ", what);
    mfcc_stream_destroy(s);

    /* Frame i depends on samples [i*shift, i*shift+len) only: the frames of a sub-signal starting
     * at frame 3 equal frames 3.. of the whole. */
    float *sub = NULL;
    int nsub = 0;
    size_t off = (size_t)shift * 3;
    CHECK(mfcc_compute(m, x + off, n - off, &sub, &nsub) == ASR_OK && nsub == nref - 3 &&
              memcmp(sub, ref + 3 * nc, sizeof(float) * (size_t)nsub * nc) == 0,
          "%s: frames are not a function of their own samples", what);
    free(sub);
    free(got);
    free(ref);
    free(x);
    mfcc_destroy(m);
}

static void test_short_signals(void)
{
    mfcc_params p = mfcc_default_params();
    mfcc *m = mfcc_create(&p, NULL);
    float x[400] = {0};
    float *f = NULL;
    int nf = -1;
    CHECK(mfcc_compute(m, x, 399, &f, &nf) == ASR_OK && nf == 0, "399 samples: %d frames (want 0)", nf);
    free(f);
    CHECK(mfcc_compute(m, x, 400, &f, &nf) == ASR_OK && nf == 1, "400 samples: %d frames (want 1)", nf);
    /* Digital silence: DC-free zero frame, log energy and log mel at the FLT_EPSILON floor. */
    if (nf == 1) {
        CHECK(fabsf(f[0] - logf(1.1920929e-07f)) < 1e-5f, "silence c0 %g, want log(FLT_EPSILON)", f[0]);
        /* c1..: DCT rows 1.. of a constant vector are 0 (sum of cos over a full period). */
        float mx = 0;
        for (int k = 1; k < 13; k++)
            mx = fmaxf(mx, fabsf(f[k]));
        CHECK(mx < 1e-4f, "silence c1.. max %g, want 0", mx);
    }
    free(f);
    CHECK(mfcc_frame_length(m) == 400 && mfcc_frame_shift(m) == 160, "16 kHz: len %d shift %d",
          mfcc_frame_length(m), mfcc_frame_shift(m));
    mfcc_destroy(m);
    p.sample_rate = 8000;
    m = mfcc_create(&p, NULL);
    CHECK(m && mfcc_frame_length(m) == 200 && mfcc_frame_shift(m) == 80, "8 kHz frame sizes");
    mfcc_destroy(m);
}

static void expect_bad(mfcc_params p, const char *word, const char *what)
{
    asr_error err = {0};
    mfcc *m = mfcc_create(&p, &err);
    CHECK(m == NULL && err.code == ASR_ERR_ARG && strstr(err.msg, word) != NULL,
          "%s: expected ASR_ERR_ARG naming '%s', got %s (%s)", what, word, m ? "success" : "error", err.msg);
    mfcc_destroy(m);
}

static void test_validation(void)
{
    mfcc_params d = mfcc_default_params(), p;
    p = d;
    p.sample_rate = 0;
    expect_bad(p, "sample_rate", "rate 0");
    p = d;
    p.frame_length_ms = 0;
    expect_bad(p, "frame_length_ms", "frame length 0");
    p = d;
    p.frame_shift_ms = -1;
    expect_bad(p, "frame_shift_ms", "negative shift");
    p = d;
    p.num_mel_bins = 2;
    expect_bad(p, "num_mel_bins", "2 mel bins");
    p = d;
    p.num_ceps = 24;
    expect_bad(p, "num_ceps", "more ceps than bins");
    p = d;
    p.num_ceps = 0;
    expect_bad(p, "num_ceps", "0 ceps");
    p = d;
    p.low_freq = 9000;
    expect_bad(p, "low_freq", "low above nyquist");
    p = d;
    p.high_freq = 9000;
    expect_bad(p, "high_freq", "high above nyquist");
    p = d;
    p.high_freq = -8000;
    expect_bad(p, "high_freq", "high offset below low");
    p = d;
    p.fft_size = 256;
    expect_bad(p, "fft_size", "fft shorter than frame");
    p = d;
    p.fft_size = 513;
    expect_bad(p, "fft_size", "odd fft");
    p = d;
    p.preemph = 1.5f;
    expect_bad(p, "preemph", "preemph > 1");
    p = d;
    p.cepstral_lifter = -1;
    expect_bad(p, "cepstral_lifter", "negative lifter");
    p = d;
    p.window = (mfcc_window)7;
    expect_bad(p, "window", "bad window");
    p = d;
    p.energy_floor = -1;
    expect_bad(p, "energy_floor", "negative floor");
    p = d;
    p.num_mel_bins = 200;
    p.num_ceps = 13;
    expect_bad(p, "mel bin", "empty mel bins");
    CHECK(mfcc_create(NULL, NULL) == NULL, "NULL params accepted");
}

/* A pure tone's log mel spectrum peaks in the triangle whose centre is nearest the tone, computed
 * here from the mel formula, not from the code under test. Uses 40 bins, no DCT (num_ceps = 40,
 * lifter 0): the inverse DCT recovers the log mel energies. */
static void test_tone_bin(void)
{
    mfcc_params p = mfcc_default_params();
    p.num_mel_bins = p.num_ceps = 40;
    p.cepstral_lifter = 0;
    p.use_energy = 0;
    p.preemph = 0;
    mfcc *m = mfcc_create(&p, NULL);
    const double tones[] = {250, 1000, 3000, 6500};
    double mlo = 1127 * log(1 + 20 / 700.0), mhi = 1127 * log(1 + 8000 / 700.0);
    double delta = (mhi - mlo) / (p.num_mel_bins + 1);
    for (size_t t = 0; t < sizeof tones / sizeof tones[0]; t++) {
        float x[400], c[40];
        for (int i = 0; i < 400; i++)
            x[i] = (float)(10000 * sin(2 * M_PI * tones[t] * i / 16000.0));
        float *f = NULL;
        int nf = 0;
        mfcc_compute(m, x, 400, &f, &nf);
        memcpy(c, f, sizeof c);
        free(f);
        /* Orthonormal DCT-II inverse: logmel[n] = sum_k c[k] * M[k][n]. */
        int best = -1;
        double bestv = -1e30;
        for (int n = 0; n < 40; n++) {
            double v = c[0] * sqrt(1.0 / 40);
            for (int k = 1; k < 40; k++)
                v += c[k] * sqrt(2.0 / 40) * cos(M_PI / 40 * (n + 0.5) * k);
            if (v > bestv) {
                bestv = v;
                best = n;
            }
        }
        double tm = 1127 * log(1 + tones[t] / 700.0);
        int want = (int)lround((tm - mlo) / delta) - 1; /* centre of bin b is mlo + (b+1)*delta */
        CHECK(abs(best - want) <= 1, "tone %g Hz peaks in mel bin %d, expected %d", tones[t], best, want);
    }
    mfcc_destroy(m);
}

int main(void)
{
    mfcc_params p = mfcc_default_params();
    test_chunking(&p, "kaldi 16k");
    p.sample_rate = 8000;
    test_chunking(&p, "kaldi 8k");
    p = mfcc_default_params();
    p.num_mel_bins = p.num_ceps = 40;
    p.high_freq = -400;
    p.window = MFCC_WINDOW_HAMMING;
    test_chunking(&p, "40 bins hamming");
    p = mfcc_default_params();
    p.frame_length_ms = 10;
    p.frame_shift_ms = 25; /* shift longer than the frame: skipped samples */
    test_chunking(&p, "shift > length");
    test_short_signals();
    test_validation();
    test_tone_bin();
    return TEST_SUMMARY();
}
