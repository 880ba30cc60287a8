/* test_mfcc_warp.c - mfcc_warp_matrix: alpha 1 is the identity (to 1e-5) for the shipped model's
 * frontend (40 mel bins, 40 cepstra: a real test of the DCT and lifter inversion) and for Kaldi's
 * defaults (23 -> 13 with energy, truncated cepstra); the energy coefficient passes through; a
 * log-mel spectrum that is linear in the bin index comes out as the same line sampled at Kaldi's
 * warped centre positions (computed here from VtlnWarpFreq's definition, with this test's own
 * DCT), which fixes the direction of the warp; out-of-range factors and corners are refused. The
 * comparison with torchaudio's VTLN-warped MFCC on real speech is tests/e2e_mfcc_warp.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/mfcc.h"
#include "test_util.h"

static mfcc_params model_frontend(void)
{
    mfcc_params p = mfcc_default_params();
    p.num_mel_bins = 40;
    p.num_ceps = 40;
    p.low_freq = 20.0f;
    p.high_freq = -400.0f;
    p.use_energy = 0;
    return p;
}

static double mel(double f)
{
    return 1127.0 * log(1.0 + f / 700.0);
}
static double imel(double m)
{
    return 700.0 * (exp(m / 1127.0) - 1.0);
}

/* Kaldi's MelBanks::VtlnWarpFreq (mel-computations.cc), vtln_low 100, vtln_high nyquist - 500. */
static double kaldi_warp(double low, double high, double nyquist, double alpha, double f)
{
    double vl = 100.0, vh = nyquist - 500.0;
    if (f < low || f > high)
        return f;
    double l = vl * fmax(1.0, alpha), h = vh * fmin(1.0, alpha);
    double Fl = l / alpha, Fh = h / alpha;
    if (f < l)
        return low + (Fl - low) / (l - low) * (f - low);
    if (f < h)
        return f / alpha;
    return high + (high - Fh) / (high - h) * (f - high);
}

/* Kaldi's ComputeDctMatrix row k times the lifter. */
static double dct_lift(const mfcc_params *p, int k, int n)
{
    int N = p->num_mel_bins;
    double d = k == 0 ? sqrt(1.0 / N) : sqrt(2.0 / N) * cos(M_PI / N * (n + 0.5) * k);
    double Q = p->cepstral_lifter;
    return d * (Q != 0 ? 1.0 + 0.5 * Q * sin(M_PI * k / Q) : 1.0);
}

static float *warp(const mfcc_params *p, double alpha, asr_status *st, asr_error *err)
{
    mfcc *m = mfcc_create(p, err);
    if (!m) {
        *st = err->code;
        return NULL;
    }
    float *w = malloc(sizeof(float) * (size_t)p->num_ceps * p->num_ceps);
    *st = mfcc_warp_matrix(m, alpha, w, err);
    mfcc_destroy(m);
    if (*st) {
        free(w);
        return NULL;
    }
    return w;
}

static void test_identity(const mfcc_params *p, const char *tag)
{
    asr_error err = {ASR_OK, ""};
    asr_status st;
    float *w = warp(p, 1.0, &st, &err);
    CHECK(w != NULL, "%s: alpha 1: %s", tag, err.msg);
    if (!w)
        return;
    int n = p->num_ceps;
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            worst = fmax(worst, fabs(w[i * n + j] - (i == j)));
    CHECK(worst <= 1e-5, "%s: alpha 1 is not the identity: max |W - I| %g", tag, worst);
    free(w);
}

/* log-mel x_b = 3 + 0.25 b (plus a curve below the first and above the last bin, where the
 * warped positions are clamped): the warped spectrum is x at Kaldi's warped centre position of
 * each bin, clamped to [0, nmel - 1]; exact for linear interpolation of a line. */
static void test_line(const mfcc_params *p, double alpha, const char *tag)
{
    asr_error err = {ASR_OK, ""};
    asr_status st;
    float *w = warp(p, alpha, &st, &err);
    CHECK(w != NULL, "%s: alpha %g: %s", tag, alpha, err.msg);
    if (!w)
        return;
    const int N = p->num_mel_bins, C = p->num_ceps;
    double nyq = 0.5 * p->sample_rate, lo = p->low_freq,
           hi = p->high_freq <= 0 ? nyq + p->high_freq : p->high_freq;
    double ml = mel(lo), dm = (mel(hi) - ml) / (N + 1);
    double *x = malloc(sizeof(double) * N), *xw = malloc(sizeof(double) * N);
    int moved_down = 0, moved_up = 0;
    for (int b = 0; b < N; b++) {
        x[b] = 3.0 + 0.25 * b;
        double pos = (mel(kaldi_warp(lo, hi, nyq, alpha, imel(ml + (b + 1) * dm))) - ml) / dm - 1.0;
        moved_down += pos < b - 0.01;
        moved_up += pos > b + 0.01;
        pos = fmin(fmax(pos, 0.0), N - 1.0);
        xw[b] = 3.0 + 0.25 * pos;
    }
    /* alpha > 1 moves the filters down in frequency (F(f) = f / alpha), alpha < 1 up. */
    CHECK(alpha > 1 ? moved_down > N / 2 && moved_up == 0 : moved_up > N / 2 && moved_down == 0,
          "%s: alpha %g: %d bins moved down, %d up", tag, alpha, moved_down, moved_up);
    double worst = 0, change = 0;
    for (int k = 0; k < C; k++) {
        double c_want = 0;
        for (int b = 0; b < N; b++)
            c_want += dct_lift(p, k, b) * xw[b];
        double c_got = 0;
        for (int j = 0; j < C; j++) {
            double cj = 0;
            for (int b = 0; b < N; b++)
                cj += dct_lift(p, j, b) * x[b];
            c_got += w[k * C + j] * cj;
            if (j == k)
                change = fmax(change, fabs(c_want - cj));
        }
        worst = fmax(worst, fabs(c_got - c_want));
    }
    CHECK(worst <= 1e-4 && change > 0.05,
          "%s: alpha %g: W c vs the warped line's cepstra: max diff %g (warp moves "
          "them by %g)",
          tag, alpha, worst, change);
    free(x), free(xw), free(w);
}

int main(void)
{
    mfcc_params p = model_frontend();
    test_identity(&p, "40/40 16 kHz");
    p.sample_rate = 8000;
    test_identity(&p, "40/40 8 kHz");
    p = model_frontend();
    p.num_ceps = 20;
    test_identity(&p, "40 -> 20");
    p = mfcc_default_params();
    test_identity(&p, "Kaldi defaults 23 -> 13, energy");
    p.cepstral_lifter = 0;
    test_identity(&p, "Kaldi defaults, no lifter");

    p = model_frontend();
    for (double a = 0.8; a < 1.25; a += 0.1) {
        if (fabs(a - 1) < 1e-9)
            continue;
        test_line(&p, a, "40/40");
    }
    p.sample_rate = 8000;
    test_line(&p, 1.1, "40/40 8 kHz");
    test_line(&p, 0.9, "40/40 8 kHz");

    /* With use_energy, c0 is log energy: it passes through and feeds nothing else. */
    {
        p = mfcc_default_params();
        asr_error err = {ASR_OK, ""};
        asr_status st;
        float *w = warp(&p, 1.15, &st, &err);
        CHECK(w != NULL, "energy: %s", err.msg);
        if (w) {
            int ok = 1, moved = 0;
            for (int k = 0; k < 13; k++) {
                ok &= w[k] == (k == 0) && w[k * 13] == (k == 0);
                for (int j = 1; j < 13; j++)
                    moved |= fabs(w[k * 13 + j] - (k == j)) > 0.01;
            }
            CHECK(ok && moved, "energy: row and column 0 should be e0 and the rest warped (%d, %d)", ok,
                  moved);
            free(w);
        }
    }

    /* Refusals. */
    p = model_frontend();
    static const double bad_alpha[] = {0.49, 2.01, 0, -1, NAN};
    for (size_t i = 0; i < sizeof bad_alpha / sizeof *bad_alpha; i++) {
        asr_error err = {ASR_OK, ""};
        asr_status st;
        float *w = warp(&p, bad_alpha[i], &st, &err);
        CHECK(!w && st == ASR_ERR_ARG && strstr(err.msg, "warp factor"), "alpha %g: %d %s", bad_alpha[i],
              (int)st, err.msg);
        free(w);
    }
    for (double a = 0.5; a <= 2.0; a += 0.25) {
        asr_error err = {ASR_OK, ""};
        asr_status st;
        float *w = warp(&p, a, &st, &err);
        CHECK(w != NULL, "alpha %g in range refused: %s", a, err.msg);
        free(w);
    }
    {
        /* high 7400 Hz is below vtln_high (7500 Hz): Kaldi asserts, we refuse. */
        p.high_freq = -600.0f;
        asr_error err = {ASR_OK, ""};
        asr_status st;
        float *w = warp(&p, 1.1, &st, &err);
        CHECK(!w && st == ASR_ERR_ARG && strstr(err.msg, "corners"), "high 7400 Hz: %d %s", (int)st, err.msg);
        free(w);
    }
    return TEST_SUMMARY();
}
