/* test_nn.c - the layer kernels: fast path (AVX2/FMA, AVX-512) against the scalar reference over
 * random sizes (odd ones included), T frames in one call against T calls of one frame (bit-
 * identical: the streaming runtime relies on it), split calls carrying state, linear layer,
 * log-softmax, and the AVX-512 matrix product against the AVX2 one (bit-identical, many shapes and
 * strides; skipped, and said so, on a CPU without AVX-512). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../model/nn.h"
#include "../model/nn_avx2.h"
#include "../model/nn_avx512.h"
#include "test_model_util.h"
#include "test_util.h"

/* max |a - b| / max(1, |b|) */
static double rel_err(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= m))
            m = d; /* NaN propagates as a failure */
    }
    return m;
}

static void test_rnn(nn_layer_type type, int I, int H, int T)
{
    const char *tn = type == NN_GRU ? "gru" : "lstm";
    int G = nn_rnn_gates(type);
    float bound = 1.0f / sqrtf((float)H);
    float *w_ih = frand_buf((size_t)G * H * I, bound), *w_hh = frand_buf((size_t)G * H * H, bound);
    float *b_ih = frand_buf((size_t)G * H, bound), *b_hh = frand_buf((size_t)G * H, bound);
    nn_rnn_layer l = {type, I, H, w_ih, w_hh, b_ih, b_hh};
    int S = nn_rnn_state_size(&l);
    CHECK(S == (type == NN_GRU ? H : 2 * H), "state size %d", S);
    /* inputs of order a few units, like normalised features */
    float *x = frand_buf((size_t)T * I, 2.0f);
    float *s0 = frand_buf((size_t)S, 0.5f);
    float *scratch = malloc(nn_rnn_scratch_size(&l, T) * sizeof(float));
    float *scratch1 = malloc(nn_rnn_scratch_size(&l, 1) * sizeof(float));
    float *y_ref = malloc((size_t)T * H * sizeof(float)), *y_fast = malloc((size_t)T * H * sizeof(float));
    float *y_step = malloc((size_t)T * H * sizeof(float)), *y_ref1 = malloc((size_t)T * H * sizeof(float));
    float *st_ref = malloc(S * sizeof(float)), *st_fast = malloc(S * sizeof(float));
    float *st_step = malloc(S * sizeof(float)), *st_ref1 = malloc(S * sizeof(float));
    memcpy(st_ref, s0, S * sizeof(float));
    memcpy(st_fast, s0, S * sizeof(float));
    memcpy(st_step, s0, S * sizeof(float));
    memcpy(st_ref1, s0, S * sizeof(float));

    nn_rnn_forward_ref(&l, T, x, st_ref, y_ref, scratch);
    nn_rnn_forward(&l, T, x, st_fast, y_fast, scratch);
    for (int t = 0; t < T; t++) {
        nn_rnn_forward(&l, 1, x + (size_t)t * I, st_step, y_step + (size_t)t * H, scratch1);
        nn_rnn_forward_ref(&l, 1, x + (size_t)t * I, st_ref1, y_ref1 + (size_t)t * H, scratch1);
    }
    double e = rel_err(y_fast, y_ref, (size_t)T * H), es = rel_err(st_fast, st_ref, S);
    CHECK(e <= 1e-5 && es <= 1e-5, "%s I=%d H=%d T=%d: fast vs reference: y %.3g, state %.3g", tn, I, H, T, e,
          es);
    CHECK(!memcmp(y_step, y_fast, (size_t)T * H * sizeof(float)) &&
              !memcmp(st_step, st_fast, S * sizeof(float)),
          "%s I=%d H=%d T=%d: fast, T calls of 1 frame differ from 1 call of T (%.3g)", tn, I, H, T,
          rel_err(y_step, y_fast, (size_t)T * H));
    CHECK(!memcmp(y_ref1, y_ref, (size_t)T * H * sizeof(float)) &&
              !memcmp(st_ref1, st_ref, S * sizeof(float)),
          "%s I=%d H=%d T=%d: reference, T calls of 1 frame differ from 1 call of T", tn, I, H, T);
    CHECK(!memcmp(st_fast, y_fast + (size_t)(T - 1) * H, H * sizeof(float)), "%s: state h != last output",
          tn);

    /* Split into two calls (T1 + T - T1 frames) = one call. */
    if (T > 2) {
        int T1 = T / 3;
        memcpy(st_step, s0, S * sizeof(float));
        nn_rnn_forward(&l, T1, x, st_step, y_step, scratch);
        nn_rnn_forward(&l, T - T1, x + (size_t)T1 * I, st_step, y_step + (size_t)T1 * H, scratch);
        CHECK(!memcmp(y_step, y_fast, (size_t)T * H * sizeof(float)), "%s I=%d H=%d T=%d: split call differs",
              tn, I, H, T);
    }
    free(w_ih), free(w_hh), free(b_ih), free(b_hh), free(x), free(s0), free(scratch), free(scratch1);
    free(y_ref), free(y_fast), free(y_step), free(y_ref1), free(st_ref), free(st_fast), free(st_step),
        free(st_ref1);
}

/* An independent check of the GRU equations on one hand-sized case (H = 1, I = 1), in double. */
static void test_gru_by_hand(void)
{
    float w_ih[3] = {0.5f, -0.25f, 0.75f}, w_hh[3] = {-0.5f, 0.3f, 0.2f};
    float b_ih[3] = {0.1f, 0.2f, -0.3f}, b_hh[3] = {0.05f, -0.1f, 0.4f};
    nn_rnn_layer l = {NN_GRU, 1, 1, w_ih, w_hh, b_ih, b_hh};
    float x = 0.8f, h = -0.6f, y, scratch[64];
    double r = 1 / (1 + exp(-(0.5 * 0.8 + 0.1 + -0.5 * -0.6 + 0.05)));
    double z = 1 / (1 + exp(-(-0.25 * 0.8 + 0.2 + 0.3 * -0.6 - 0.1)));
    double n = tanh(0.75 * 0.8 - 0.3 + r * (0.2 * -0.6 + 0.4));
    double expect = (1 - z) * n + z * -0.6;
    nn_rnn_forward_ref(&l, 1, &x, &h, &y, scratch);
    CHECK(fabs(y - expect) < 1e-6, "GRU by hand: %g vs %g", (double)y, expect);
    float c_state[2] = {-0.6f, 0.3f}, wi4[4] = {0.5f, -0.25f, 0.75f, 0.1f},
          wh4[4] = {-0.5f, 0.3f, 0.2f, 0.6f};
    float bi4[4] = {0.1f, 0.2f, -0.3f, 0.0f}, bh4[4] = {0.05f, -0.1f, 0.4f, -0.2f};
    nn_rnn_layer m = {NN_LSTM, 1, 1, wi4, wh4, bi4, bh4};
    double gi = 1 / (1 + exp(-(0.4 + 0.1 + 0.3 + 0.05))), gf = 1 / (1 + exp(-(-0.2 + 0.2 - 0.18 - 0.1)));
    double gg = tanh(0.6 - 0.3 - 0.12 + 0.4), go = 1 / (1 + exp(-(0.08 - 0.36 - 0.2)));
    double c = gf * 0.3 + gi * gg, hh = go * tanh(c);
    nn_rnn_forward(&m, 1, &x, c_state, &y, scratch);
    CHECK(fabs(y - hh) < 1e-6 && fabs(c_state[1] - c) < 1e-6, "LSTM by hand: h %g vs %g, c %g vs %g",
          (double)y, hh, (double)c_state[1], c);
}

static void test_linear(int in, int out, int T, int with_bias)
{
    float *w = frand_buf((size_t)in * out, 0.3f), *b = frand_buf(out, 0.3f),
          *x = frand_buf((size_t)T * in, 1.0f);
    float *y1 = malloc((size_t)T * out * sizeof(float)), *y2 = malloc((size_t)T * out * sizeof(float));
    float *y3 = malloc((size_t)T * out * sizeof(float));
    nn_linear_forward_ref(w, with_bias ? b : NULL, in, out, T, x, y1);
    nn_linear_forward(w, with_bias ? b : NULL, in, out, T, x, y2);
    for (int t = 0; t < T; t++)
        nn_linear_forward(w, with_bias ? b : NULL, in, out, 1, x + (size_t)t * in, y3 + (size_t)t * out);
    double e = rel_err(y2, y1, (size_t)T * out);
    CHECK(e <= 1e-5, "linear in=%d out=%d T=%d: %.3g", in, out, T, e);
    CHECK(!memcmp(y2, y3, (size_t)T * out * sizeof(float)), "linear in=%d out=%d T=%d: T=1 calls differ", in,
          out, T);
    free(w), free(b), free(x), free(y1), free(y2), free(y3);
}

/* One shape of the AVX-512 product: bit-identical to AVX2 over the whole y buffer (the gaps between
 * rows must stay untouched too), and close to the scalar reference. x holds some exact zeros of
 * both signs. */
static void test_gemm_avx512(int K, int N, int T, int ldx, int ldy, int with_bias)
{
    const float sentinel = -7.25f;
    float *w = frand_buf((size_t)N * K, 0.3f), *b = frand_buf(N, 0.3f), *x = frand_buf((size_t)T * ldx, 1.0f);
    const float *bb = with_bias ? b : NULL;
    size_t ny = (size_t)T * ldy;
    float *y2 = malloc(ny * sizeof(float)), *y5 = malloc(ny * sizeof(float));
    float *xc = malloc((size_t)T * K * sizeof(float)), *yr = malloc((size_t)T * N * sizeof(float));
    float *yc = malloc((size_t)T * N * sizeof(float));
    for (size_t i = 0; i < (size_t)T * ldx; i += 11)
        x[i] = i % 2 ? 0.0f : -0.0f;
    for (size_t i = 0; i < ny; i++)
        y2[i] = y5[i] = sentinel;
    nn_avx2_gemm_nt(w, bb, K, N, T, x, ldx, y2, ldy);
    nn_avx512_gemm_nt(w, bb, K, N, T, x, ldx, y5, ldy);
    size_t d = 0;
    while (d < ny && !memcmp(y2 + d, y5 + d, sizeof(float)))
        d++;
    CHECK(d == ny,
          "avx512 K=%d N=%d T=%d ldx=%d ldy=%d bias=%d: differs from avx2 at t=%zu n=%zu: %.9g vs %.9g", K, N,
          T, ldx, ldy, with_bias, d / ldy, d % ldy, d < ny ? (double)y5[d] : 0.0,
          d < ny ? (double)y2[d] : 0.0);
    int gaps = 1;
    for (int t = 0; t < T; t++) {
        memcpy(xc + (size_t)t * K, x + (size_t)t * ldx, (size_t)K * sizeof(float));
        memcpy(yc + (size_t)t * N, y5 + (size_t)t * ldy, (size_t)N * sizeof(float));
        for (int n = N; n < ldy; n++)
            gaps &= y5[(size_t)t * ldy + n] == sentinel;
    }
    CHECK(gaps, "avx512 K=%d N=%d T=%d ldy=%d: wrote between rows", K, N, T, ldy);
    nn_linear_forward_ref(w, bb, K, N, T, xc, yr);
    /* the usual 1e-5 up to K = 1000; beyond, the reference's one long sequential sum drifts more */
    double e = rel_err(yc, yr, (size_t)T * N), tol = 1e-5 * fmax(1.0, K / 1000.0);
    CHECK(e <= tol, "avx512 K=%d N=%d T=%d: vs reference %.3g", K, N, T, e);
    free(w), free(b), free(x), free(y2), free(y5), free(xc), free(yr), free(yc);
}

static void test_gemm_avx512_shapes(void)
{
    printf("fast kernels on this CPU: %s\n", nn_kernel_name());
    if (strcmp(nn_kernel_name(), "avx512")) {
        printf("SKIPPED: the AVX-512 product tests (the CPU, or valgrind, reports no AVX-512)\n");
        return;
    }
    /* K: below, at and around multiples of 8 and 16, the model's 120 and 320, the largest the
     * 32 KB pack takes (tiles of 2 frames) and beyond it (AVX2 fallback); T: 1 (AVX2 fallback),
     * odd counts (a padded pair), around the 4-pair block and the 24-frame tile, several tiles. */
    static const int Ks[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 120, 320, 1000};
    static const int Ns[] = {1, 3, 4, 5, 7, 8, 9, 12, 13, 29, 64, 100};
    static const int Ts[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 15,
                             16, 17, 23, 24, 25, 31, 33, 48, 49, 64, 65, 100};
    int i = 0;
    for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
        for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++)
            for (size_t e = 0; e < sizeof Ts / sizeof *Ts; e++, i++)
                test_gemm_avx512(Ks[a], Ns[c], Ts[e], Ks[a] + (i % 3) * 5, Ns[c] + (i % 4) * 3, i & 1);
    test_gemm_avx512(4096, 9, 7, 4096, 9, 1);   /* 2-frame tiles */
    test_gemm_avx512(4097, 5, 3, 4100, 6, 0);   /* beyond the pack: AVX2 */
    test_gemm_avx512(320, 960, 8, 336, 960, 1); /* 8 streams' recurrent step, padded rows as rnn_batch */
    test_gemm_avx512(120, 960, 50, 120, 960, 1);
}

static void test_log_softmax(void)
{
    float v[29], w[29];
    for (int i = 0; i < 29; i++)
        v[i] = w[i] = frand() * 30.0f + (i == 3 ? 500.0f : 0.0f); /* large offset: no overflow */
    nn_log_softmax(v, 29);
    double s = 0;
    for (int i = 0; i < 29; i++)
        s += exp((double)v[i]);
    CHECK(fabs(s - 1.0) < 1e-5, "log-softmax sums to %g", s);
    CHECK(fabs((v[5] - v[7]) - (w[5] - w[7])) < 1e-3, "log-softmax changes differences");
}

int main(void)
{
    static const int Is[] = {1, 3, 7, 8, 9, 17, 40, 120};
    static const int Hs[] = {1, 4, 5, 8, 13, 16, 33, 64, 100};
    static const int Ts[] = {1, 2, 3, 4, 7, 25, 50};
    for (int type = NN_GRU; type <= NN_LSTM; type++)
        for (size_t a = 0; a < sizeof Is / sizeof *Is; a++)
            for (size_t b = 0; b < sizeof Hs / sizeof *Hs; b++) {
                int T = Ts[(a * 3 + b) % (sizeof Ts / sizeof *Ts)];
                test_rnn((nn_layer_type)type, Is[a], Hs[b], T);
            }
    /* the production shape, a few frames */
    test_rnn(NN_GRU, 120, 320, 10);
    test_rnn(NN_GRU, 320, 320, 3);
    test_rnn(NN_LSTM, 120, 320, 5);
    test_gru_by_hand();
    for (int in = 1; in < 70; in += 13)
        for (int out = 1; out < 40; out += 7)
            test_linear(in, out, 1 + (in + out) % 9, (in + out) & 1);
    test_linear(320, 29, 33, 1);
    test_log_softmax();
    test_gemm_avx512_shapes();
    return TEST_SUMMARY();
}
