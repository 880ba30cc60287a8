/* test_model_stream.c - the streaming runtime: audio whole vs in chunks (bit-identical
 * log-probabilities), features vs audio, an independent reference pipeline built from the scalar
 * layers, two interleaved streams on one model, reset and reset_state, model loaded from a file
 * vs built from a description; all of it for global and for online CMVN models (online: the
 * reference normalises with test_cmvn_ref.h, the output differs from the same weights with global
 * CMVN, reset_state keeps the CMVN statistics and reset clears them). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../frontend/cmvn.h"
#include "../frontend/mfcc.h"
#include "../model/asr_model.h"
#include "../model/nn.h"
#define TEST_RNG_SEED 0x2545F4914F6CDD1DULL
#include "test_cmvn_ref.h"
#include "test_model_util.h"
#include "test_util.h"

/* Speech-like test audio at int16 scale: gliding harmonics plus noise and a silent gap. */
static float *make_audio(size_t n, int seed)
{
    float *a = malloc(n * sizeof(float));
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        double t = i / 16000.0, f0 = 120 + 40 * sin(2 * M_PI * 0.7 * t + seed);
        ph += 2 * M_PI * f0 / 16000.0;
        double s = 0;
        for (int h = 1; h < 12; h++)
            s += sin(h * ph) / h;
        double env = (i / 4000 + seed) % 5 == 0 ? 0.01 : 1.0;
        a[i] = (float)(3000.0 * env * s + 200.0 * frand());
    }
    return a;
}

/* Feeds audio in chunks (chunk 0 = whole; < 0: random sizes up to -chunk) and collects output. */
static float *run(asr_stream *s, const float *audio, size_t n, long chunk, long *frames)
{
    int no = 29;
    size_t cap = 1024, len = 0;
    float *out = malloc(cap * no * sizeof(float));
    size_t pos = 0;
    while (pos < n) {
        size_t c = chunk == 0 ? n : chunk > 0 ? (size_t)chunk : 1 + (size_t)((frand() + 1) * 0.5 * -chunk);
        if (c > n - pos)
            c = n - pos;
        if (asr_stream_accept(s, audio + pos, c) != ASR_OK)
            break;
        pos += c;
        for (;;) {
            if (len == cap)
                out = realloc(out, (cap *= 2) * no * sizeof(float));
            if (!asr_stream_pop(s, out + len * no))
                break;
            len++;
        }
    }
    *frames = (long)len;
    return out;
}

/* Independent pipeline: mfcc_compute, normalise (cmvn_ref: global, or online from the equations),
 * stack, scalar layers over the whole sequence. */
static float *reference(const asr_model_desc *d, const float *audio, size_t n, long *frames)
{
    asr_error err;
    mfcc *fe = mfcc_create(&d->frontend, &err);
    float *f;
    int nf;
    mfcc_compute(fe, audio, n, &f, &nf);
    mfcc_destroy(fe);
    int F = d->n_feat, I = F * d->stack;
    long T = nf >= d->stack ? (nf - d->stack) / d->stride + 1 : 0;
    *frames = T;
    double *norm = malloc(sizeof(double) * (size_t)(nf ? nf : 1) * F);
    cmvn_ref(&d->cmvn, F, d->feat_mean, d->feat_std, f, nf, norm);
    float *x = malloc((T ? T : 1) * I * sizeof(float));
    for (long j = 0; j < T; j++)
        for (int s = 0; s < d->stack; s++)
            for (int i = 0; i < F; i++)
                x[j * I + s * F + i] = (float)norm[(j * d->stride + s) * F + i];
    free(f), free(norm);
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        float *y = malloc((T ? T : 1) * l->hidden * sizeof(float));
        float *st = calloc(2 * l->hidden, sizeof(float));
        float *scr = malloc(nn_rnn_scratch_size(l, (int)(T ? T : 1)) * sizeof(float));
        if (T)
            nn_rnn_forward_ref(l, (int)T, x, st, y, scr);
        free(x), free(st), free(scr);
        x = y;
    }
    float *o = malloc((T ? T : 1) * d->n_out * sizeof(float));
    nn_linear_forward_ref(d->proj_w, d->proj_b, d->layers[d->n_layers - 1].hidden, d->n_out, (int)T, x, o);
    for (long t = 0; t < T; t++)
        nn_log_softmax(o + t * d->n_out, d->n_out);
    free(x);
    return o;
}

static double max_abs(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m))
            m = e;
    }
    return m;
}

/* Pops everything queued (at most cap frames) into out; returns the number of frames. */
static long drain(asr_stream *s, float *out, long cap)
{
    long T = 0;
    while (T < cap && asr_stream_pop(s, out + T * 29))
        T++;
    return T;
}

/* Online CMVN: features [0, cut), reset_state, features [cut, nf). The output must be bit-identical
 * to a model with the same weights and an identity normalisation (global, mean 0, std 1) fed the
 * features normalised by one cmvn_stream over all frames (the statistics survive reset_state),
 * and must differ from the same with the cmvn_stream reset at the cut (which would mean
 * reset_state forgot them). asr_stream_reset then gives exactly a fresh stream's output. */
static void test_online_reset(const asr_model_desc *d, asr_model *m, const float *f, int nf, const char *tag)
{
    asr_error err = {ASR_OK, ""};
    const int F = d->n_feat, cut = nf / 2 + 1;
    const long cap = nf + 8;
    asr_model_desc id = *d;
    float *zero = calloc(F, sizeof(float)), *one = malloc(F * sizeof(float));
    for (int i = 0; i < F; i++)
        one[i] = 1.0f;
    id.feat_mean = zero;
    id.feat_std = one;
    id.cmvn = (cmvn_params){.mode = CMVN_GLOBAL};
    asr_model *mi = asr_model_from_desc(&id, &err);
    CHECK(mi != NULL, "%s: identity model: %s", tag, err.msg);
    float *g = malloc(sizeof(float) * (size_t)nf * F), *h = malloc(sizeof(float) * (size_t)nf * F);
    cmvn_stream *c = cmvn_stream_create(F, &d->cmvn, d->feat_mean, d->feat_std, &err);
    cmvn_stream_apply_frames(c, f, g, nf); /* statistics carried across the cut */
    cmvn_stream_reset(c);
    cmvn_stream_apply_frames(c, f, h, cut);
    cmvn_stream_reset(c);
    cmvn_stream_apply_frames(c, f + (size_t)cut * F, h + (size_t)cut * F,
                             nf - cut); /* forgotten at the cut */
    cmvn_stream_destroy(c);

    float *o = malloc(sizeof(float) * cap * 29), *oi = malloc(sizeof(float) * cap * 29),
          *oh = malloc(sizeof(float) * cap * 29);
    asr_stream *s = asr_stream_create(m, &err), *si = mi ? asr_stream_create(mi, &err) : NULL;
    if (!s || !si)
        goto out;
    long n = 0, ni = 0, nh = 0;
    asr_stream_accept_features(s, f, cut);
    n += drain(s, o + n * 29, cap - n);
    asr_stream_reset_state(s);
    asr_stream_accept_features(s, f + (size_t)cut * F, nf - cut);
    n += drain(s, o + n * 29, cap - n);

    asr_stream_accept_features(si, g, cut);
    ni += drain(si, oi + ni * 29, cap - ni);
    asr_stream_reset_state(si);
    asr_stream_accept_features(si, g + (size_t)cut * F, nf - cut);
    ni += drain(si, oi + ni * 29, cap - ni);

    asr_stream_reset(si);
    asr_stream_accept_features(si, h, cut);
    nh += drain(si, oh + nh * 29, cap - nh);
    asr_stream_reset_state(si);
    asr_stream_accept_features(si, h + (size_t)cut * F, nf - cut);
    nh += drain(si, oh + nh * 29, cap - nh);

    CHECK(
        n > 0 && n == ni && !memcmp(o, oi, sizeof(float) * n * 29),
        "%s: online stream with reset_state differs from the identity model on carried-over CMVN (%ld vs %ld "
        "frames, max diff %g)",
        tag, n, ni, n == ni ? max_abs(o, oi, (size_t)n * 29) : -1.0);
    CHECK(nh == n && max_abs(oh, oi, (size_t)n * 29) > 1e-3,
          "%s: CMVN reset at the cut should change the output after it (max diff %g)", tag,
          nh == n ? max_abs(oh, oi, (size_t)n * 29) : -1.0);

    /* reset: the same as a fresh stream on the second part. */
    asr_stream *fresh = asr_stream_create(m, &err);
    asr_stream_reset(s);
    asr_stream_accept_features(s, f + (size_t)cut * F, nf - cut);
    asr_stream_accept_features(fresh, f + (size_t)cut * F, nf - cut);
    n = drain(s, o, cap);
    ni = drain(fresh, oi, cap);
    CHECK(n > 0 && n == ni && !memcmp(o, oi, sizeof(float) * n * 29),
          "%s: reset stream differs from a fresh one", tag);
    asr_stream_destroy(fresh);
out:
    asr_stream_destroy(s), asr_stream_destroy(si);
    asr_model_free(mi);
    free(zero), free(one), free(g), free(h), free(o), free(oi), free(oh);
}

static void test_model(nn_layer_type type, int layers, int hidden, int stack, int stride,
                       const cmvn_params *cmvn)
{
    char tag[96];
    snprintf(tag, sizeof tag, "%s %dx%d stack %d stride %d cmvn %s", type == NN_GRU ? "gru" : "lstm", layers,
             hidden, stack, stride, cmvn ? "online" : "global");
    asr_model_desc d;
    test_model_desc(&d, type, layers, hidden, stack, stride);
    if (cmvn)
        d.cmvn = *cmvn;
    asr_error err = {ASR_OK, ""};
    asr_model *m = asr_model_from_desc(&d, &err);
    CHECK(m != NULL, "%s: from_desc: %s", tag, err.msg);
    if (!m)
        return;
    CHECK(asr_model_n_out(m) == 29 && asr_model_sample_rate(m) == 16000, "%s: accessors", tag);
    CHECK(fabs(asr_model_frame_ms(m) - 10.0 * stride) < 1e-9, "%s: frame_ms %g", tag, asr_model_frame_ms(m));
    CHECK(!strcmp(asr_model_alphabet(m), ASR_DEFAULT_ALPHABET), "%s: alphabet", tag);

    size_t n = 16000 * 3 + 123;
    float *audio = make_audio(n, 1), *audio2 = make_audio(n / 2, 2);
    asr_stream *s = asr_stream_create(m, &err);
    float tmp[29];
    CHECK(s && asr_stream_pop(s, tmp) == 0, "%s: new stream has output", tag);

    long T0, Tr;
    float *whole = run(s, audio, n, 0, &T0);
    long nmf = 1 + (long)(n - 400) / 160;
    CHECK(T0 == (nmf - stack) / stride + 1 && asr_stream_frames(s) == T0, "%s: %ld frames, expected %ld", tag,
          T0, (nmf - stack) / stride + 1);
    float *ref = reference(&d, audio, n, &Tr);
    CHECK(Tr == T0, "%s: reference has %ld frames, stream %ld", tag, Tr, T0);
    double e = max_abs(whole, ref, (size_t)T0 * 29);
    CHECK(e <= 1e-4, "%s: stream vs scalar reference pipeline: max abs diff %g", tag, e);
    free(ref);

    static const long chunks[] = {1, 7, 160, 161, 4096, 48000, -500, -20000};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        asr_stream_reset(s);
        long T;
        float *o = run(s, audio, n, chunks[c], &T);
        CHECK(T == T0 && !memcmp(o, whole, (size_t)T0 * 29 * sizeof(float)),
              "%s: chunk %ld: %ld frames, differs from whole by %g", tag, chunks[c], T,
              T == T0 ? max_abs(o, whole, (size_t)T0 * 29) : -1.0);
        free(o);
    }

    /* Features path = audio path. */
    {
        mfcc *fe = mfcc_create(&d.frontend, &err);
        float *f;
        int nf;
        mfcc_compute(fe, audio, n, &f, &nf);
        mfcc_destroy(fe);
        asr_stream_reset(s);
        CHECK(asr_stream_accept_features(s, f, 17) == ASR_OK &&
                  asr_stream_accept_features(s, f + 17 * 20, nf - 17) == ASR_OK,
              "%s: accept_features", tag);
        float *o = malloc((size_t)T0 * 29 * sizeof(float));
        long T = 0;
        while (T < T0 && asr_stream_pop(s, o + T * 29))
            T++;
        CHECK(T == T0 && asr_stream_pop(s, tmp) == 0 && !memcmp(o, whole, (size_t)T0 * 29 * sizeof(float)),
              "%s: features path differs", tag);
        free(o);

        /* reset_state at a stacking boundary = a fresh stream on the rest (needs stack == stride, so
         * no input frame is shared across the boundary); with global CMVN only: online CMVN keeps
         * its statistics across reset_state (test_online_reset). */
        if (stack == stride && !cmvn) {
            int cut = stack * 11;
            asr_stream_reset(s);
            asr_stream_accept_features(s, f, cut);
            while (asr_stream_pop(s, tmp))
                ;
            asr_stream_reset_state(s);
            asr_stream_accept_features(s, f + cut * 20, nf - cut);
            asr_stream *fresh = asr_stream_create(m, &err);
            asr_stream_accept_features(fresh, f + cut * 20, nf - cut);
            int same = 1, cnt = 0;
            float a[29], b[29];
            while (asr_stream_pop(fresh, b)) {
                same &= asr_stream_pop(s, a) && !memcmp(a, b, sizeof a);
                cnt++;
            }
            CHECK(same && cnt > 0 && asr_stream_pop(s, a) == 0, "%s: reset_state != fresh stream", tag);
            asr_stream_destroy(fresh);
        }
        if (cmvn)
            test_online_reset(&d, m, f, nf, tag);
        free(f);
    }

    /* Two streams on one model, interleaved chunk by chunk, each equal to its solo run. */
    {
        asr_stream *s2 = asr_stream_create(m, &err);
        long T2;
        float *solo2 = run(s2, audio2, n / 2, 0, &T2);
        asr_stream_reset(s);
        asr_stream_reset(s2);
        size_t cap1 = (size_t)T0 * 29, cap2 = (size_t)T2 * 29;
        float *o1 = calloc(cap1 + 29, sizeof(float)), *o2 = calloc(cap2 + 29, sizeof(float));
        size_t n1 = 0, n2 = 0, p1 = 0, p2 = 0;
        while (p1 < n || p2 < n / 2) {
            size_t c1 = n - p1 < 1234 ? n - p1 : 1234, c2 = n / 2 - p2 < 777 ? n / 2 - p2 : 777;
            asr_stream_accept(s, audio + p1, c1), p1 += c1;
            asr_stream_accept(s2, audio2 + p2, c2), p2 += c2;
            while (n1 < cap1 && asr_stream_pop(s, o1 + n1))
                n1 += 29;
            while (n2 < cap2 && asr_stream_pop(s2, o2 + n2))
                n2 += 29;
        }
        CHECK(n1 == cap1 && !memcmp(o1, whole, cap1 * sizeof(float)), "%s: interleaved stream 1 differs",
              tag);
        CHECK(n2 == cap2 && !memcmp(o2, solo2, cap2 * sizeof(float)), "%s: interleaved stream 2 differs",
              tag);
        free(o1), free(o2), free(solo2);
        asr_stream_destroy(s2);
    }

    /* Reset after partial input (mid-frame samples buffered) = fresh stream. */
    {
        long T;
        asr_stream_reset(s);
        asr_stream_accept(s, audio2, 5555);
        asr_stream_reset(s);
        CHECK(asr_stream_frames(s) == 0 && asr_stream_pop(s, tmp) == 0, "%s: reset keeps output", tag);
        float *o = run(s, audio, n, 3000, &T);
        CHECK(T == T0 && !memcmp(o, whole, (size_t)T0 * 29 * sizeof(float)), "%s: reset stream differs", tag);
        free(o);
    }

    /* Queue growth: accept everything, pop nothing, then pop all. */
    {
        asr_stream_reset(s);
        asr_stream_accept(s, audio, n / 2);
        asr_stream_accept(s, audio + n / 2, n - n / 2);
        float *o = malloc((size_t)T0 * 29 * sizeof(float));
        long T = 0;
        while (T < T0 && asr_stream_pop(s, o + T * 29))
            T++;
        CHECK(T == T0 && !memcmp(o, whole, (size_t)T0 * 29 * sizeof(float)), "%s: queued output differs",
              tag);
        free(o);
    }

    /* The same model through a file gives the same output. */
    {
        char path[] = "/tmp/test_model_stream.XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        CHECK(asr_model_write(path, &d, &err) == ASR_OK, "%s: write: %s", tag, err.msg);
        asr_model *m2 = asr_model_load(path, &err);
        CHECK(m2 != NULL, "%s: load: %s", tag, err.msg);
        if (m2) {
            asr_stream *s3 = asr_stream_create(m2, &err);
            long T;
            float *o = run(s3, audio, n, 4000, &T);
            CHECK(T == T0 && !memcmp(o, whole, (size_t)T0 * 29 * sizeof(float)), "%s: loaded model differs",
                  tag);
            free(o);
            asr_stream_destroy(s3);
            asr_model_free(m2);
        }
        unlink(path);
    }

    /* Online CMVN is applied: the same weights with global CMVN give other output. */
    if (cmvn) {
        asr_model_desc g = d;
        g.cmvn = (cmvn_params){.mode = CMVN_GLOBAL};
        asr_model *mg = asr_model_from_desc(&g, &err);
        asr_stream *sg = mg ? asr_stream_create(mg, &err) : NULL;
        CHECK(sg != NULL, "%s: global twin: %s", tag, err.msg);
        if (sg) {
            long T;
            float *o = run(sg, audio, n, 0, &T);
            double diff = T == T0 ? max_abs(o, whole, (size_t)T0 * 29) : -1;
            CHECK(T == T0 && diff > 1e-2, "%s: online vs global CMVN output: max diff %g (%ld frames)", tag,
                  diff, T);
            free(o);
        }
        asr_stream_destroy(sg);
        asr_model_free(mg);
    }

    free(whole);
    free(audio), free(audio2);
    asr_stream_destroy(s);
    asr_model_free(m);
    asr_model_desc_free(&d);
}

int main(void)
{
    test_model(NN_GRU, 3, 48, 3, 3, NULL);
    test_model(NN_LSTM, 2, 37, 3, 2, NULL);
    test_model(NN_GRU, 1, 64, 1, 1, NULL);
    test_model(NN_GRU, 2, 19, 2, 4, NULL);
    cmvn_params online = cmvn_default_params();
    test_model(NN_GRU, 2, 40, 3, 3, &online);
    online = (cmvn_params){.mode = CMVN_ONLINE, .prior_frames = 30, .window = 80, .norm_vars = 0};
    test_model(NN_LSTM, 2, 29, 2, 3, &online);

    asr_error err = {ASR_OK, ""};
    CHECK(asr_model_load("/nonexistent/x.model", &err) == NULL && strstr(err.msg, "/nonexistent/x.model"),
          "missing model: %s", err.msg);
    return TEST_SUMMARY();
}
