/* test_model_batch.c - many streams run together (asr_stream_run_batch, nn_rnn_forward_batch) give
 * bit-identical output to each stream run alone: layer level (fast and reference, GRU and LSTM,
 * hidden sizes with and without SIMD tails, streams with 0..100 frames), and model level (streams
 * with different amounts of audio, random chunkings, streams joining and leaving between calls,
 * more than one 64-frame round pending, reset_state between calls, shared or own workspace), in
 * float32 and in int8 (asr_model_set_precision; int8 also against float32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/mfcc.h"
#include "../model/asr_model.h"
#include "../model/nn.h"
#include "test_model_util.h"
#include "test_util.h"

static int irand(int n)
{
    return (int)((frand() + 1.0f) * 0.5f * n) % n;
}

/* ---- layer level ---- */

static void test_layer(nn_layer_type type, int I, int H, int n, int fast)
{
    int G = nn_rnn_gates(type), S = type == NN_LSTM ? 2 * H : H;
    float b = 1.0f / sqrtf((float)H);
    float *w_ih = frand_buf((size_t)G * H * I, b), *w_hh = frand_buf((size_t)G * H * H, b);
    float *b_ih = frand_buf((size_t)G * H, b), *b_hh = frand_buf((size_t)G * H, b);
    nn_rnn_layer l = {type, I, H, w_ih, w_hh, b_ih, b_hh};
    int *T = malloc(n * sizeof *T), R = 0, maxT = 0;
    for (int i = 0; i < n; i++) {
        T[i] = i % 5 == 2 ? 0 : i == 1 ? 100 : 1 + irand(40);
        R += T[i];
        maxT = T[i] > maxT ? T[i] : maxT;
    }
    float *x = frand_buf((size_t)R * I, 1.5f), *y = malloc((size_t)(R ? R : 1) * H * sizeof(float));
    float **st = malloc(n * sizeof *st), **st_alone = malloc(n * sizeof *st_alone);
    for (int i = 0; i < n; i++) {
        st[i] = frand_buf(S, 0.8f);
        st_alone[i] = malloc(S * sizeof(float));
        memcpy(st_alone[i], st[i], S * sizeof(float));
    }
    float *scr = malloc(nn_rnn_batch_scratch_size(&l, n, R) * sizeof(float));
    float *scr1 = malloc(nn_rnn_scratch_size(&l, maxT ? maxT : 1) * sizeof(float));
    float *y1 = malloc((size_t)(maxT ? maxT : 1) * H * sizeof(float));
    if (fast)
        nn_rnn_forward_batch(&l, n, T, x, st, y, scr);
    else
        nn_rnn_forward_batch_ref(&l, n, T, x, st, y, scr);
    int same_y = 1, same_s = 1;
    for (int i = 0, off = 0; i < n; off += T[i++]) {
        if (T[i] > 0) {
            if (fast)
                nn_rnn_forward(&l, T[i], x + (size_t)off * I, st_alone[i], y1, scr1);
            else
                nn_rnn_forward_ref(&l, T[i], x + (size_t)off * I, st_alone[i], y1, scr1);
            same_y &= !memcmp(y1, y + (size_t)off * H, (size_t)T[i] * H * sizeof(float));
        }
        same_s &= !memcmp(st_alone[i], st[i], S * sizeof(float));
    }
    CHECK(same_y && same_s, "%s %s I=%d H=%d n=%d: batch differs from alone (outputs %d, states %d)",
          fast ? "fast" : "ref", type == NN_GRU ? "gru" : "lstm", I, H, n, same_y, same_s);
    for (int i = 0; i < n; i++)
        free(st[i]), free(st_alone[i]);
    free(st), free(st_alone), free(scr), free(scr1), free(y1), free(x), free(y), free(T);
    free(w_ih), free(w_hh), free(b_ih), free(b_hh);
}

/* ---- model level ---- */

/* Speech-like audio at int16 scale: gliding harmonics, noise, quiet stretches. */
static float *make_audio(size_t n, int seed)
{
    float *a = malloc((n ? n : 1) * sizeof(float));
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        double t = i / 16000.0, f0 = 110 + 50 * sin(2 * M_PI * 0.6 * t + seed);
        ph += 2 * M_PI * f0 / 16000.0;
        double s = 0;
        for (int h = 1; h < 10; h++)
            s += sin(h * ph + seed) / h;
        double env = (i / 3000 + seed) % 4 == 0 ? 0.02 : 1.0;
        a[i] = (float)(2500.0 * env * s + 150.0 * frand());
    }
    return a;
}

/* Growable array of output frames. */
typedef struct frames {
    float *v;
    long n, cap;
} frames;

static void drain(asr_stream *s, frames *f, int no)
{
    for (;;) {
        if (f->n == f->cap)
            f->v = realloc(f->v, (size_t)(f->cap = f->cap ? 2 * f->cap : 256) * no * sizeof(float));
        if (!asr_stream_pop(s, f->v + f->n * no))
            return;
        f->n++;
    }
}

#define NS 9

typedef struct plan {
    float *audio;
    size_t n, pos;
    int join;     /* call index at which the stream joins the batch */
    int reset_at; /* sample position of a reset_state (0: none) */
    frames alone, batched;
} plan;

/* One scenario: NS streams with different audio lengths, joining at different calls, fed random
 * chunks (sometimes nothing, sometimes more than 64 frames' worth) and run together; each one's
 * output must equal the same stream fed its whole audio alone with asr_stream_accept (and the same
 * reset_state at the same sample). */
static void scenario(const asr_model *m, const char *tag, int shared_ws, long max_chunk)
{
    int no = asr_model_n_out(m);
    asr_error err = {ASR_OK, ""};
    plan p[NS];
    asr_stream *bs[NS], *alone = asr_stream_create(m, &err);
    asr_batch *ws = shared_ws ? asr_batch_create(m) : NULL;
    for (int i = 0; i < NS; i++) {
        memset(&p[i], 0, sizeof p[i]);
        p[i].n = i == 0 ? 0 : i == 1 ? 300 : (size_t)(4000 + irand(16000 * 4));
        p[i].audio = make_audio(p[i].n, i);
        p[i].join = irand(4);
        p[i].reset_at = i == 3 && p[i].n > 20000 ? 17000 : 0;
        bs[i] = asr_stream_create(m, &err);
        /* alone, whole (split only at the reset point) */
        asr_stream_reset(alone);
        size_t cut = p[i].reset_at ? (size_t)p[i].reset_at : p[i].n;
        asr_stream_accept(alone, p[i].audio, cut);
        drain(alone, &p[i].alone, no);
        if (p[i].reset_at) {
            asr_stream_reset_state(alone);
            asr_stream_accept(alone, p[i].audio + cut, p[i].n - cut);
            drain(alone, &p[i].alone, no);
        }
    }
    int calls = 0, ok = 1;
    for (int call = 0;; call++) {
        asr_stream *active[NS];
        int k = 0, left = 0;
        for (int i = 0; i < NS; i++) {
            plan *q = &p[i];
            if (call < q->join || q->pos >= q->n) {
                left |= q->pos < q->n || (q->n == 0 && call <= q->join);
                if (!(q->n == 0 && call == q->join))
                    continue;
            }
            /* a chunk: sometimes empty, else random up to max_chunk, clipped at the reset point */
            size_t c = irand(5) == 0 ? 0 : 1 + (size_t)irand((int)max_chunk);
            if (c > q->n - q->pos)
                c = q->n - q->pos;
            if (q->reset_at && q->pos < (size_t)q->reset_at && q->pos + c > (size_t)q->reset_at)
                c = (size_t)q->reset_at - q->pos;
            ok &= asr_stream_feed(bs[i], q->audio + q->pos, c) == ASR_OK;
            q->pos += c;
            active[k++] = bs[i];
            left |= q->pos < q->n;
        }
        if (k > 0) {
            ok &= asr_stream_run_batch(active, k, ws) == ASR_OK;
            calls++;
        }
        for (int i = 0; i < NS; i++) {
            ok &= asr_stream_pending(bs[i]) == 0 || call < p[i].join || p[i].pos >= p[i].n;
            drain(bs[i], &p[i].batched, no);
            if (p[i].reset_at && p[i].pos == (size_t)p[i].reset_at && call >= p[i].join) {
                asr_stream_reset_state(bs[i]);
                p[i].reset_at = -p[i].reset_at; /* done */
            }
        }
        if (!left)
            break;
    }
    CHECK(ok, "%s: feed/run_batch failed", tag);
    for (int i = 0; i < NS; i++) {
        long n = p[i].alone.n;
        CHECK(p[i].batched.n == n &&
                  (n == 0 || !memcmp(p[i].batched.v, p[i].alone.v, (size_t)n * no * sizeof(float))),
              "%s: stream %d (%zu samples): batched %ld frames vs alone %ld, or values differ", tag, i,
              p[i].n, p[i].batched.n, n);
        CHECK(asr_stream_frames(bs[i]) == n, "%s: stream %d frame count", tag, i);
        free(p[i].audio), free(p[i].alone.v), free(p[i].batched.v);
        asr_stream_destroy(bs[i]);
    }
    CHECK(calls > 3, "%s: only %d calls", tag, calls);
    asr_stream_destroy(alone);
    asr_batch_destroy(ws);
}

/* The same audio through m in float32 and in int8: the int8 run really differs (the quantised
 * products are in use) and stays close (log-probabilities of a random untrained network). */
static void compare_precisions(asr_model *m, const char *tag)
{
    asr_error err = {ASR_OK, ""};
    int no = asr_model_n_out(m);
    float *a = make_audio(24000, 3);
    frames f[2] = {{0}, {0}};
    for (int p = 0; p < 2; p++) {
        CHECK(asr_model_set_precision(m, p ? ASR_PRECISION_INT8 : ASR_PRECISION_FLOAT32, &err) == ASR_OK &&
                  asr_model_precision(m) == (p ? ASR_PRECISION_INT8 : ASR_PRECISION_FLOAT32),
              "%s: set precision: %s", tag, err.msg);
        asr_stream *s = asr_stream_create(m, &err);
        asr_stream_accept(s, a, 24000);
        drain(s, &f[p], no);
        asr_stream_destroy(s);
    }
    double d = 0;
    for (long i = 0; i < f[0].n * no && f[0].n == f[1].n; i++)
        d = fmax(d, fabs((double)f[0].v[i] - f[1].v[i]));
    CHECK(f[0].n > 0 && f[0].n == f[1].n && d > 0 && d < 0.1,
          "%s: int8 vs float32: %ld/%ld frames, max diff %.3g", tag, f[0].n, f[1].n, d);
    free(a), free(f[0].v), free(f[1].v);
}

static void test_model(nn_layer_type type, int layers, int hidden, int stack, int stride, asr_precision prec)
{
    char tag[96];
    snprintf(tag, sizeof tag, "%s %dx%d stack %d stride %d %s", type == NN_GRU ? "gru" : "lstm", layers,
             hidden, stack, stride, asr_precision_name(prec));
    asr_model_desc d;
    test_model_desc(&d, type, layers, hidden, stack, stride);
    asr_error err = {ASR_OK, ""};
    asr_model *m = asr_model_from_desc(&d, &err);
    asr_model_desc_free(&d);
    CHECK(m != NULL, "%s: %s", tag, err.msg);
    if (!m)
        return;
    if (prec == ASR_PRECISION_INT8)
        compare_precisions(m, tag);
    CHECK(asr_model_set_precision(m, prec, &err) == ASR_OK && asr_model_precision(m) == prec, "%s: %s", tag,
          err.msg);
    char t2[192];
    snprintf(t2, sizeof t2, "%s, shared workspace, chunks <= 3200", tag);
    scenario(m, t2, 1, 3200);
    snprintf(t2, sizeof t2, "%s, own workspace, chunks <= 40000", tag);
    scenario(m, t2, 0, 40000); /* > 64 frames pending: several rounds per call */
    snprintf(t2, sizeof t2, "%s, shared workspace, chunks <= 97", tag);
    scenario(m, t2, 1, 97);

    /* Streams of another model are refused before anything runs. */
    asr_model_desc d2;
    test_model_desc(&d2, type, layers, hidden, stack, stride);
    asr_model *m2 = asr_model_from_desc(&d2, &err);
    asr_model_desc_free(&d2);
    asr_stream *s[2] = {asr_stream_create(m, &err), asr_stream_create(m2, &err)};
    float *a = make_audio(8000, 5);
    asr_stream_feed(s[0], a, 8000);
    asr_stream_feed(s[1], a, 8000);
    int p0 = asr_stream_pending(s[0]);
    CHECK(p0 > 0 && asr_stream_run_batch(s, 2, NULL) == ASR_ERR_ARG && asr_stream_pending(s[0]) == p0 &&
              asr_stream_frames(s[0]) == 0,
          "%s: mixed models accepted", tag);
    asr_batch *ws = asr_batch_create(m2);
    CHECK(asr_stream_run_batch(s, 1, ws) == ASR_ERR_ARG, "%s: workspace of another model accepted", tag);
    CHECK(asr_stream_run_batch(s, 0, NULL) == ASR_OK, "%s: empty batch", tag);
    asr_batch_destroy(ws);
    free(a);
    asr_stream_destroy(s[0]);
    asr_stream_destroy(s[1]);
    asr_model_free(m2);
    asr_model_free(m);
}

int main(void)
{
    static const int hs[] = {8, 19, 32, 45};
    static const int ns[] = {1, 2, 7, 30};
    for (int fast = 0; fast < 2; fast++)
        for (int t = 0; t < 2; t++)
            for (size_t h = 0; h < sizeof hs / sizeof *hs; h++)
                for (size_t n = 0; n < sizeof ns / sizeof *ns; n++)
                    test_layer(t ? NN_LSTM : NN_GRU, 13 + (int)h * 10, hs[h], ns[n], fast);
    test_model(NN_GRU, 3, 24, 3, 3, ASR_PRECISION_FLOAT32);
    test_model(NN_LSTM, 2, 20, 2, 1, ASR_PRECISION_FLOAT32);
    test_model(NN_GRU, 1, 40, 1, 2, ASR_PRECISION_FLOAT32);
    test_model(NN_GRU, 3, 24, 3, 3, ASR_PRECISION_INT8);
    test_model(NN_LSTM, 2, 20, 2, 1, ASR_PRECISION_INT8);
    asr_precision p = ASR_PRECISION_FLOAT32;
    CHECK(asr_precision_parse("int8", &p) == 0 && p == ASR_PRECISION_INT8 &&
              asr_precision_parse("int4", &p) == -1 && p == ASR_PRECISION_INT8 &&
              !strcmp(asr_precision_name(ASR_PRECISION_DEFAULT), ASR_PRECISION_DEFAULT_NAME),
          "precision names");
    return TEST_SUMMARY();
}
