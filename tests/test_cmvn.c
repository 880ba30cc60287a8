/* test_cmvn.c - streaming CMVN (frontend/cmvn.c): the same frames whole, frame by frame and in
 * random chunks give bit-identical output; online mode matches an independent reference (direct
 * decayed sums in long double, test_cmvn_ref.h) for several parameter sets; global mode is exactly
 * (x - mean) / std; the prior dominates the first frame; a constant offset on every coefficient
 * (a channel) is normalised away after a few thousand frames; reset forgets; bad parameters are
 * refused naming the field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/cmvn.h"
#define TEST_RNG_SEED 0x5DEECE66DULL
#include "test_cmvn_ref.h"
#include "test_model_util.h"
#include "test_util.h"

#define NF 20

static float g_mu[NF], g_sd[NF];

/* Plausible global statistics (c0 large, as MFCC c0 is). */
static void make_stats(void)
{
    for (int k = 0; k < NF; k++) {
        g_mu[k] = k == 0 ? 60.0f : 5.0f * frand();
        g_sd[k] = k == 0 ? 15.0f : 5.0f + 3.0f * frand();
    }
}

/* T frames of a "speaker": each coefficient an AR(1) process (smooth like cepstra) around its own
 * mean (0.7 global std away from the global mean) with 0.8 times the global spread. */
static float *make_frames(int T)
{
    float *x = malloc(sizeof(float) * (size_t)T * NF);
    double state[NF] = {0};
    for (int t = 0; t < T; t++)
        for (int k = 0; k < NF; k++) {
            state[k] = 0.9 * state[k] + sqrt(1 - 0.81) * sqrt(3.0) * frand(); /* unit variance */
            x[(size_t)t * NF + k] =
                (float)(g_mu[k] + 0.7 * g_sd[k] * (k % 2 ? 1 : -1) + 0.8 * g_sd[k] * state[k]);
        }
    return x;
}

static cmvn_stream *make(const cmvn_params *p)
{
    asr_error err = {ASR_OK, ""};
    cmvn_stream *s = cmvn_stream_create(NF, p, g_mu, g_sd, &err);
    CHECK(s != NULL, "create: %s", err.msg);
    if (!s)
        exit(1);
    return s;
}

static void test_params(void)
{
    asr_error err;
    cmvn_params d = cmvn_default_params();
    CHECK(d.mode == CMVN_ONLINE && d.prior_frames == 200 && d.window == 600 && d.norm_vars == 1,
          "defaults %d %g %g %d", (int)d.mode, d.prior_frames, d.window, d.norm_vars);
    CHECK(cmvn_params_check(&d, &err) == ASR_OK, "defaults refused: %s", err.msg);
    struct {
        float prior, window;
        int norm_vars;
        const char *field; /* NULL: accepted */
    } cases[] = {
        {0, 600, 1, "prior_frames"},
        {-1, 600, 1, "prior_frames"},
        {2e6f, 600, 1, "prior_frames"},
        {NAN, 600, 1, "prior_frames"},
        {200, 0.5f, 1, "window"},
        {200, -1, 1, "window"},
        {200, 2e7f, 1, "window"},
        {200, NAN, 1, "window"},
        {200, 600, 2, "norm_vars"},
        {200, 600, -1, "norm_vars"},
        {1e6f, 1e7f, 0, NULL},
        {1e-3f, 1, 1, NULL},
        {200, 0, 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cmvn_params p = d;
        p.prior_frames = cases[i].prior;
        p.window = cases[i].window;
        p.norm_vars = cases[i].norm_vars;
        err = (asr_error){ASR_OK, ""};
        asr_status st = cmvn_params_check(&p, &err);
        if (cases[i].field) {
            CHECK(st == ASR_ERR_ARG && strstr(err.msg, cases[i].field),
                  "case %zu (%g %g %d) not refused naming %s: %s", i, p.prior_frames, p.window, p.norm_vars,
                  cases[i].field, err.msg);
            CHECK(cmvn_stream_create(NF, &p, g_mu, g_sd, &err) == NULL,
                  "case %zu: create accepted bad params", i);
            /* Global mode ignores the online fields. */
            p.mode = CMVN_GLOBAL;
            CHECK(cmvn_params_check(&p, &err) == ASR_OK, "case %zu: global mode refused: %s", i, err.msg);
        } else {
            CHECK(st == ASR_OK, "case %zu (%g %g %d) refused: %s", i, p.prior_frames, p.window, p.norm_vars,
                  err.msg);
        }
    }
    cmvn_params p = d;
    p.mode = (cmvn_mode)7;
    CHECK(cmvn_params_check(&p, &err) == ASR_ERR_ARG && strstr(err.msg, "mode"), "mode 7: %s", err.msg);
    CHECK(!strcmp(cmvn_mode_name(CMVN_GLOBAL), "global") && !strcmp(cmvn_mode_name(CMVN_ONLINE), "online") &&
              cmvn_mode_name((cmvn_mode)7) == NULL,
          "mode names");
    CHECK(cmvn_mode_parse("global") == CMVN_GLOBAL && cmvn_mode_parse("online") == CMVN_ONLINE &&
              cmvn_mode_parse("Online") == -1 && cmvn_mode_parse("") == -1,
          "mode parse");

    /* Bad global statistics and sizes. */
    float sd[NF], mu[NF];
    memcpy(sd, g_sd, sizeof sd);
    memcpy(mu, g_mu, sizeof mu);
    sd[3] = 0;
    err = (asr_error){ASR_OK, ""};
    CHECK(cmvn_stream_create(NF, &d, g_mu, sd, &err) == NULL && strstr(err.msg, "coefficient 3"), "std 0: %s",
          err.msg);
    sd[3] = NAN;
    CHECK(cmvn_stream_create(NF, &d, g_mu, sd, &err) == NULL && strstr(err.msg, "coefficient 3"),
          "std NaN: %s", err.msg);
    mu[5] = INFINITY;
    CHECK(cmvn_stream_create(NF, &d, mu, g_sd, &err) == NULL && strstr(err.msg, "coefficient 5"),
          "mean inf: %s", err.msg);
    CHECK(cmvn_stream_create(0, &d, g_mu, g_sd, &err) == NULL && strstr(err.msg, "n_feat"), "n_feat 0: %s",
          err.msg);
    CHECK(cmvn_stream_create(NF, &d, NULL, g_sd, &err) == NULL, "NULL mean accepted");
}

/* Whole, frame by frame, random chunks and in place: bit-identical. */
static void test_chunks(const cmvn_params *p, const char *tag)
{
    const int T = 1500;
    float *x = make_frames(T);
    size_t nb = sizeof(float) * (size_t)T * NF;
    float *whole = malloc(nb), *o = malloc(nb);
    cmvn_stream *s = make(p);
    cmvn_stream_apply_frames(s, x, whole, T);

    cmvn_stream_reset(s);
    for (int t = 0; t < T; t++)
        cmvn_stream_apply(s, x + (size_t)t * NF, o + (size_t)t * NF);
    CHECK(!memcmp(o, whole, nb), "%s: frame by frame differs from whole", tag);

    for (int rep = 0; rep < 3; rep++) {
        cmvn_stream_reset(s);
        memset(o, 0, nb);
        for (int t = 0; t < T;) {
            int c = 1 + (int)((frand() + 1) * 0.5 * (rep == 0 ? 3 : rep == 1 ? 40 : 700));
            if (c > T - t)
                c = T - t;
            cmvn_stream_apply_frames(s, x + (size_t)t * NF, o + (size_t)t * NF, c);
            t += c;
        }
        CHECK(!memcmp(o, whole, nb), "%s: random chunks (rep %d) differ from whole", tag, rep);
    }

    /* In place (in == out), with a zero-frame call in between. */
    cmvn_stream_reset(s);
    memcpy(o, x, nb);
    cmvn_stream_apply_frames(s, o, o, 700);
    cmvn_stream_apply_frames(s, o + 700 * NF, o + 700 * NF, 0);
    cmvn_stream_apply_frames(s, o + 700 * NF, o + 700 * NF, T - 700);
    CHECK(!memcmp(o, whole, nb), "%s: in place differs", tag);

    /* Two streams interleaved do not share state. */
    cmvn_stream *s2 = make(p);
    float *o2 = malloc(nb);
    cmvn_stream_reset(s);
    for (int t = 0; t < T; t++) {
        cmvn_stream_apply(s, x + (size_t)t * NF, o + (size_t)t * NF);
        cmvn_stream_apply(s2, x + (size_t)(T - 1 - t) * NF, o2 + (size_t)t * NF);
    }
    CHECK(!memcmp(o, whole, nb), "%s: interleaved with a second stream differs", tag);
    free(o2);
    cmvn_stream_destroy(s2);

    free(x), free(whole), free(o);
    cmvn_stream_destroy(s);
}

/* Online mode against the direct long-double reference. */
static void test_reference(const cmvn_params *p, int T, const char *tag)
{
    float *x = make_frames(T);
    float *o = malloc(sizeof(float) * (size_t)T * NF);
    double *r = malloc(sizeof(double) * (size_t)T * NF);
    cmvn_stream *s = make(p);
    cmvn_stream_apply_frames(s, x, o, T);
    cmvn_ref(p, NF, g_mu, g_sd, x, T, r);
    double worst = 0, big = 0;
    long at = -1;
    for (long i = 0; i < (long)T * NF; i++) {
        double e = fabs(o[i] - r[i]) / (1.0 > fabs(r[i]) ? 1.0 : fabs(r[i]));
        if (!(e <= worst))
            worst = e, at = i;
        if (fabs(r[i]) > big)
            big = fabs(r[i]);
    }
    CHECK(worst <= 1e-5, "%s: max rel error %g at frame %ld coef %ld (ours %.9g, reference %.9g)", tag, worst,
          at / NF, at % NF, at >= 0 ? o[at] : 0.0, at >= 0 ? r[at] : 0.0);
    CHECK(big > 0.5, "%s: reference output is degenerate (max |out| %g)", tag, big);
    free(x), free(o), free(r);
    cmvn_stream_destroy(s);
}

static void test_global(void)
{
    const int T = 300;
    cmvn_params p = cmvn_default_params();
    p.mode = CMVN_GLOBAL;
    p.prior_frames = 0; /* unused in global mode */
    float *x = make_frames(T), *o = malloc(sizeof(float) * T * NF);
    cmvn_stream *s = make(&p);
    cmvn_stream_apply_frames(s, x, o, 100);
    cmvn_stream_reset(s); /* stateless: reset changes nothing */
    cmvn_stream_apply_frames(s, x + 100 * NF, o + 100 * NF, T - 100);
    int exact = 1;
    for (int i = 0; i < T * NF; i++) {
        float want = (x[i] - g_mu[i % NF]) / g_sd[i % NF];
        exact &= !memcmp(&want, &o[i], sizeof want);
    }
    CHECK(exact, "global mode is not exactly (x - mean) / std in float");
    free(x), free(o);
    cmvn_stream_destroy(s);
}

/* First frame: the global prior dominates, so the output is close to the global normalisation;
 * with a negligible prior the stream's own mean is the frame itself (output ~0), which shows the
 * check can fail. */
static void test_prior(void)
{
    float *x = make_frames(40);
    float o[NF];
    struct {
        float prior;
        double tol_rel, tol_abs;                         /* |out - global| <= tol_rel |global| + tol_abs */
    } cases[] = {{200, 0.05, 0.01}, {1e6f, 1e-5, 1e-5}}; /* prior 1e6 with window 0 (never capped) */
    for (int c = 0; c < 2; c++) {
        cmvn_params p = cmvn_default_params();
        p.prior_frames = cases[c].prior;
        p.window = c ? 0 : 600;
        for (int nv = 0; nv < 2; nv++) {
            p.norm_vars = nv;
            cmvn_stream *s = make(&p);
            cmvn_stream_apply(s, x, o);
            double worst = 0, gmax = 0;
            for (int k = 0; k < NF; k++) {
                double g = ((double)x[k] - g_mu[k]) / g_sd[k];
                double e = fabs(o[k] - g) - cases[c].tol_rel * fabs(g);
                worst = e > worst ? e : worst;
                gmax = fabs(g) > gmax ? fabs(g) : gmax;
            }
            CHECK(worst <= cases[c].tol_abs && gmax > 0.5,
                  "prior %g norm_vars %d: first frame %g beyond the global "
                  "normalisation's tolerance (max |global| %g)",
                  p.prior_frames, nv, worst, gmax);
            cmvn_stream_destroy(s);
        }
    }
    cmvn_params p = cmvn_default_params();
    p.prior_frames = 1e-3f;
    p.norm_vars = 0;
    cmvn_stream *s = make(&p);
    cmvn_stream_apply(s, x, o);
    double m = 0;
    for (int k = 0; k < NF; k++)
        m = fabs(o[k]) > m ? fabs(o[k]) : m;
    CHECK(m < 1e-2, "negligible prior: first frame should normalise to ~0, max |out| %g", m);
    cmvn_stream_destroy(s);
    free(x);
}

/* A channel: the same speech with a constant offset on every coefficient (1.5 global std, signs
 * alternating). At the start the offset shows fully (the prior dominates); the prior's weight
 * then fades as window lambda^t and the stream's own statistics absorb the offset. Measured (max
 * |difference| over frames [t, t+100), window 600): t=0 1.49, 1000 0.90, 2000 0.32, 3000 0.07,
 * 3900 0.016; window 300: 0.015 at 2000; window 0 fades only as P/(P+n): 0.60 at 2000, 0.10 at
 * 19,900. A prior kept at full weight (P/(P+n) -> 1/4 with window 600, as cmvn.c first had it)
 * plateaus at 0.9-1.0 and fails here. */
static void test_adaptation(void)
{
    const int T = 20000;
    float *x = make_frames(T), *y = malloc(sizeof(float) * (size_t)T * NF);
    for (int i = 0; i < T * NF; i++)
        y[i] = x[i] + 1.5f * g_sd[i % NF] * (i % NF % 3 ? 1 : -1);
    float *a = malloc(sizeof(float) * (size_t)T * NF), *b = malloc(sizeof(float) * (size_t)T * NF);
    static const int at[] = {0, 1000, 2000, 3000, 3900, 19900};
    enum { NAT = sizeof at / sizeof *at };
    for (int w = 0; w < 3; w++) {
        cmvn_params p = cmvn_default_params();
        p.window = w == 0 ? 600 : w == 1 ? 300 : 0;
        cmvn_stream *s = make(&p);
        cmvn_stream_apply_frames(s, x, a, T);
        cmvn_stream_reset(s);
        cmvn_stream_apply_frames(s, y, b, T);
        double d[NAT] = {0};
        printf("adaptation, window %g: max |offset - no offset| over 100 frames from", p.window);
        for (int j = 0; j < NAT; j++) {
            for (int i = at[j] * NF; i < (at[j] + 100) * NF; i++)
                d[j] = fabs(a[i] - b[i]) > d[j] ? fabs(a[i] - b[i]) : d[j];
            printf(" %d: %.3g%s", at[j], d[j], j + 1 < NAT ? "," : "\n");
        }
        CHECK(d[0] > 1.0, "window %g: the offset should show at the start (%g)", p.window, d[0]);
        if (w == 0) {
            CHECK(d[1] < d[0] && d[2] < 0.5 * d[1] && d[3] < 0.5 * d[2] && d[4] < 0.03,
                  "window 600: offset not normalised away: %g %g %g %g %g", d[0], d[1], d[2], d[3], d[4]);
        } else if (w == 1) {
            CHECK(d[2] < 0.03, "window 300: offset not normalised away after 2000 frames: %g", d[2]);
        } else {
            CHECK(d[2] < d[0] && d[5] < 0.2, "window 0: offset not fading: %g %g %g", d[0], d[2], d[5]);
        }
        cmvn_stream_destroy(s);
    }
    free(x), free(y), free(a), free(b);
}

/* reset forgets: after other frames and a reset, the output equals a fresh stream's. */
static void test_reset(void)
{
    const int T = 400;
    float *x = make_frames(T), *junk = make_frames(333);
    for (int i = 0; i < 333 * NF; i++)
        junk[i] += 20.0f;
    size_t nb = sizeof(float) * T * NF;
    float *fresh = malloc(nb), *o = malloc(nb);
    cmvn_params p = cmvn_default_params();
    cmvn_stream *s = make(&p), *f = make(&p);
    cmvn_stream_apply_frames(f, x, fresh, T);
    cmvn_stream_apply_frames(s, junk, junk, 333);
    cmvn_stream_apply_frames(s, x, o, T);
    CHECK(memcmp(o, fresh, nb) != 0, "continuing after other frames should differ from a fresh stream");
    cmvn_stream_reset(s);
    cmvn_stream_apply_frames(s, x, o, T);
    CHECK(!memcmp(o, fresh, nb), "reset stream differs from a fresh one");
    cmvn_stream_destroy(s), cmvn_stream_destroy(f);
    cmvn_stream_destroy(NULL);
    free(x), free(junk), free(fresh), free(o);
}

int main(void)
{
    make_stats();
    test_params();

    cmvn_params p = cmvn_default_params();
    test_chunks(&p, "default");
    p.window = 0;
    p.norm_vars = 0;
    test_chunks(&p, "window 0, norm_vars 0");

    p = cmvn_default_params();
    test_reference(&p, 2000, "default (prior 200, window 600)");
    p.norm_vars = 0;
    test_reference(&p, 1200, "norm_vars 0");
    p = cmvn_default_params();
    p.window = 0;
    test_reference(&p, 1200, "window 0 (never forget)");
    p.window = 7;
    p.prior_frames = 3;
    test_reference(&p, 600, "window 7, prior 3");
    p.window = 50;
    p.prior_frames = 1e6f;
    test_reference(&p, 600, "window 50, prior 1e6");
    p.window = 1e7f;
    p.prior_frames = 1;
    test_reference(&p, 600, "window 1e7, prior 1");

    test_global();
    test_prior();
    test_adaptation();
    test_reset();
    return TEST_SUMMARY();
}
