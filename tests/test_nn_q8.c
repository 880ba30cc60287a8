/* test_nn_q8.c - int8 inference (nn.h "int8 inference", nn_q8.h): quantisation round trip; the
 * scalar, AVX2 and AVX-512 VNNI int8 products bit-identical over random shapes (K, N not multiples
 * of the SIMD widths, T = 1..40, strides, extreme values) and the scalar one against an independent
 * int64 computation; an int8 linear layer and one int8 GRU/LSTM step against float32 within a
 * bound derived from the quantisation steps (below); many streams in one int8 batch bit-identical
 * to each stream alone and to one frame per call; ASRD_SIMD falling back to the scalar and AVX2
 * kernels (a child process of this program). Kernels the CPU lacks are skipped and said so.
 *
 * The bound. With w = sw q_w + e_w, |e_w| <= sw / 2 and x = sx q_x + e_x, |e_x| <= sx / 2 (rounding
 * to the nearest step; no clipping, the scale is max|.| / 127), the int8 product is
 *   sum_k (x_k - e_x,k)(w_k - e_w,k), so |y_q - y| <= sx/2 ||w||_1 + sw/2 ||x||_1 + K sx sw / 4,
 * plus float rounding of the dequantisation (relative 2^-22 of |y_q| is far above it). Through
 * one recurrent step (float gates): sigmoid is 1/4-Lipschitz, tanh 1-Lipschitz and both are
 * bounded by 1, which gives the per-unit bounds of step_bound_* from the pre-activation bounds. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../model/nn.h"
#include "../model/nn_q8.h"
#include "test_model_util.h"
#include "test_util.h"

static int irand(int n)
{
    return (int)((frand() + 1.0f) * 0.5f * n) % n;
}

static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

static int have_vnni(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/* ---- quantisation ---- */

static void test_round_trip(int K)
{
    float *x = frand_buf((size_t)K, 3.0f);
    int kp = nn_q8_kp(K);
    int8_t *q = malloc((size_t)kp);
    memset(q, 0x55, (size_t)kp); /* padding must be overwritten with zeros */
    float s = nn_q8_quantize_row(x, K, kp, q);
    float amax = 0;
    for (int k = 0; k < K; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    int ok = kp % 64 == 0 && kp >= K && kp < K + 64, hit127 = 0;
    double worst = 0;
    for (int k = 0; k < K; k++) {
        ok &= q[k] != -128;
        hit127 |= q[k] == 127 || q[k] == -127;
        /* half a step, plus the float rounding of x * 127 / amax before it is rounded */
        double e = fabs((double)x[k] - (double)s * q[k]);
        worst = fmax(worst, e / s);
    }
    for (int k = K; k < kp; k++)
        ok &= q[k] == 0;
    if (have_vnni()) { /* the AVX-512 quantiser: same scale, same values, padding included */
        int8_t *q2 = malloc((size_t)kp);
        memset(q2, 0x55, (size_t)kp);
        float s2 = nn_q8_quantize_row_avx512(x, K, kp, q2);
        CHECK(s2 == s && !memcmp(q, q2, (size_t)kp), "K=%d: AVX-512 quantiser != scalar", K);
        free(q2);
    }
    CHECK(ok && hit127 && fabsf(s - amax / 127.0f) == 0.0f && worst <= 0.5 + 1e-4,
          "K=%d: round trip: range/padding %d, max at +-127 %d, scale %g (amax %g), worst error %.6f steps",
          K, ok, hit127, (double)s, (double)amax, worst);
    free(x), free(q);
}

static void test_quantize_by_hand(void)
{
    float x[5] = {1.0f, -0.5f, 0.25f, 0.0f, -1.0f};
    int8_t q[64];
    float s = nn_q8_quantize_row(x, 5, 64, q);
    /* 127 * -0.5 = -63.5 rounds to even (-64); 127 * 0.25 = 31.75 -> 32 */
    CHECK(s == 1.0f / 127.0f && q[0] == 127 && q[1] == -64 && q[2] == 32 && q[3] == 0 && q[4] == -127,
          "by hand: scale %g, q %d %d %d %d %d", (double)s, q[0], q[1], q[2], q[3], q[4]);
    float z[3] = {0, 0, -0.0f};
    memset(q, 7, sizeof q);
    s = nn_q8_quantize_row(z, 3, 64, q);
    CHECK(s == 0.0f && q[0] == 0 && q[1] == 0 && q[2] == 0 && q[63] == 0, "zero row: scale %g", (double)s);
    /* a matrix: rows quantised independently, qsum is the row sum */
    float w[2 * 3] = {0.5f, -0.25f, 0.125f, 0, 0, 0};
    nn_q8_matrix m;
    CHECK(nn_q8_matrix_init_layouts(&m, w, 2, 3, 1, 1) == 0, "matrix init");
    /* the packed copy: row n, k at block n / 16, k-group k / 4, byte (n % 16) * 4 + k % 4 */
    int packed_ok = 1;
    for (int n = 0; n < 16; n++)
        for (int k = 0; k < 64; k++)
            packed_ok &= m.qp[(k / 4) * 64 + n * 4 + k % 4] == (n < 2 ? m.q[n * 64 + k] : 0);
    CHECK(packed_ok, "packed layout differs from the row-major one (or its padding is not zero)");
    CHECK(m.kp == 64 && m.q[0] == 127 && m.q[1] == -64 && m.q[2] == 32 && m.qsum[0] == 95 && m.qsum[1] == 0 &&
              m.scale[1] == 0.0f && m.scale[0] == 0.5f / 127.0f,
          "matrix by hand: q %d %d %d, qsum %d %d", m.q[0], m.q[1], m.q[2], m.qsum[0], m.qsum[1]);
    nn_q8_matrix_free(&m);
}

/* ---- kernels ---- */

/* The int8 products of every available kernel equal the scalar one bit for bit, and the scalar one
 * equals nn_q8_dequant of an int64 dot product computed here. extreme: every value +-127. */
static void test_kernels(int N, int K, int T, int ldy_extra, int with_bias, int extreme)
{
    float *w = frand_buf((size_t)N * K, 0.2f), *b = frand_buf((size_t)N, 0.5f);
    if (extreme)
        for (size_t i = 0; i < (size_t)N * K; i++)
            w[i] = i % 3 == 1 ? -0.2f : 0.2f;
    nn_q8_matrix m; /* both layouts: every kernel runs on it */
    CHECK(nn_q8_matrix_init_layouts(&m, w, N, K, 1, 1) == 0, "init");
    int kp = m.kp, ldy = N + ldy_extra;
    int8_t *qx = malloc((size_t)T * kp);
    float *sx = malloc((size_t)T * sizeof(float));
    float *x = frand_buf((size_t)T * K, 4.0f);
    if (extreme)
        for (size_t i = 0; i < (size_t)T * K; i++)
            x[i] = i % 2 ? -4.0f : 4.0f;
    for (int t = 0; t < T; t++)
        sx[t] = nn_q8_quantize_row(x + (size_t)t * K, K, kp, qx + (size_t)t * kp);
    size_t ny = (size_t)T * ldy;
    float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float)),
          *y2 = malloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        y0[i] = y1[i] = y2[i] = -7.0f; /* the gap between rows must stay untouched */
    const float *bb = with_bias ? b : NULL;
    nn_q8_gemm_ref(&m, bb, T, qx, sx, y0, ldy);
    int exact = 1;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int64_t)qx[(size_t)t * kp + k] * m.q[(size_t)n * kp + k];
            float e = nn_q8_dequant((int32_t)acc, sx[t], m.scale[n], bb ? bb[n] : 0.0f);
            exact &= memcmp(&e, &y0[(size_t)t * ldy + n], sizeof e) == 0;
        }
    for (int t = 0; t < T; t++)
        for (int n = N; n < ldy; n++)
            exact &= y0[(size_t)t * ldy + n] == -7.0f;
    CHECK(exact, "N=%d K=%d T=%d ldy=%d bias %d extreme %d: scalar kernel vs int64 dot product", N, K, T, ldy,
          with_bias, extreme);
    nn_q8_matrix mp; /* the reference reading the packed layout only (a VNNI CPU's matrices) */
    CHECK(nn_q8_matrix_init_layouts(&mp, w, N, K, 0, 1) == 0 && !mp.q, "init packed only");
    nn_q8_gemm_ref(&mp, bb, T, qx, sx, y1, ldy);
    CHECK(!memcmp(y0, y1, ny * sizeof(float)), "N=%d K=%d T=%d: scalar kernel on the packed layout differs",
          N, K, T);
    nn_q8_matrix_free(&mp);
    for (size_t i = 0; i < ny; i++)
        y1[i] = -7.0f;
    if (have_avx2()) {
        nn_q8_gemm_avx2(&m, bb, T, qx, sx, y1, ldy);
        CHECK(!memcmp(y0, y1, ny * sizeof(float)), "N=%d K=%d T=%d ldy=%d bias %d extreme %d: AVX2 != scalar",
              N, K, T, ldy, with_bias, extreme);
    }
    if (have_vnni()) {
        nn_q8_gemm_vnni(&m, bb, T, qx, sx, y2, ldy);
        CHECK(!memcmp(y0, y2, ny * sizeof(float)), "N=%d K=%d T=%d ldy=%d bias %d extreme %d: VNNI != scalar",
              N, K, T, ldy, with_bias, extreme);
    }
    nn_q8_matrix_free(&m);
    free(w), free(b), free(qx), free(sx), free(x), free(y0), free(y1), free(y2);
}

/* ---- against float32 ---- */

/* Bound on |int8 - exact| of every output of a linear layer (the header's derivation), in double. */
static double linear_bound(const nn_q8_matrix *m, int n, const float *w, const float *x, int K)
{
    double w1 = 0, x1 = 0, amax = 0;
    for (int k = 0; k < K; k++) {
        w1 += fabs(w[(size_t)n * K + k]);
        x1 += fabs(x[k]);
        amax = fmax(amax, fabs(x[k]));
    }
    double sx = amax / 127, sw = m->scale[n];
    return sx / 2 * w1 + sw / 2 * x1 + K * sx * sw / 4;
}

static void test_linear_bound(int N, int K, int T)
{
    float *w = frand_buf((size_t)N * K, 1.0f / sqrtf((float)K)), *b = frand_buf((size_t)N, 0.3f);
    float *x = frand_buf((size_t)T * K, 2.0f), *y = malloc((size_t)T * N * sizeof(float));
    float *y_ref = malloc((size_t)T * N * sizeof(float));
    nn_q8_matrix m;
    CHECK(nn_q8_matrix_init(&m, w, N, K) == 0, "init");
    int8_t *qx = malloc((size_t)T * m.kp);
    float *sx = malloc((size_t)T * sizeof(float));
    nn_q8_linear_forward(&m, b, T, x, y, qx, sx);
    nn_q8_linear_forward_ref(&m, b, T, x, y_ref, qx, sx);
    CHECK(!memcmp(y, y_ref, (size_t)T * N * sizeof(float)), "linear N=%d K=%d T=%d: fast != reference", N, K,
          T);
    double worst = 0, err_max = 0;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double exact = b[n];
            for (int k = 0; k < K; k++)
                exact += (double)w[(size_t)n * K + k] * x[(size_t)t * K + k];
            double e = fabs(y[(size_t)t * N + n] - exact);
            double bound = linear_bound(&m, n, w, x + (size_t)t * K, K) + 2e-7 * (fabs(exact) + 1);
            worst = fmax(worst, e / bound);
            err_max = fmax(err_max, e);
        }
    CHECK(worst <= 1.0 && err_max > 0, "linear N=%d K=%d T=%d: error %.3g reaches %.3f of the bound", N, K, T,
          err_max, worst);
    nn_q8_matrix_free(&m);
    free(w), free(b), free(x), free(y), free(y_ref), free(qx), free(sx);
}

static double sigm(double v)
{
    return 1 / (1 + exp(-v));
}

/* One recurrent step of the int8 layer (reference path: scalar gates, so only the quantisation
 * differs) from the state of a float32 run, against that run's next frame, for T frames. */
static void test_step_bound(nn_layer_type type, int I, int H, int T)
{
    const char *tn = type == NN_GRU ? "gru" : "lstm";
    int G = nn_rnn_gates(type), gh = G * H;
    nn_rnn_layer l = test_layer_rand(type, I, H, 1.0f / sqrtf((float)H));
    const float *w_ih = l.w_ih, *w_hh = l.w_hh, *b_ih = l.b_ih, *b_hh = l.b_hh;
    nn_q8_layer q;
    CHECK(nn_q8_layer_init(&q, &l) == 0, "layer init");
    int S = nn_rnn_state_size(&l);
    float *x = frand_buf((size_t)T * I, 2.0f), *st = frand_buf((size_t)S, 0.5f);
    float *prev = malloc(S * sizeof(float)), *sq = malloc(S * sizeof(float));
    float *yq = malloc(H * sizeof(float)), *yf = malloc(H * sizeof(float));
    float *scr = malloc(nn_rnn_batch_scratch_size(&l, 1, 1) * sizeof(float));
    float *scrf = malloc(nn_rnn_scratch_size(&l, 1) * sizeof(float));
    double *dx = malloc(gh * sizeof(double)), *dh = malloc(gh * sizeof(double));
    double *px = malloc(gh * sizeof(double)), *ph = malloc(gh * sizeof(double));
    double worst = 0, err_max = 0;
    int one = 1;
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * I;
        /* exact pre-activations from the float state, and their int8 error bounds */
        for (int n = 0; n < gh; n++) {
            px[n] = b_ih[n], ph[n] = b_hh[n];
            for (int k = 0; k < I; k++)
                px[n] += (double)w_ih[(size_t)n * I + k] * xt[k];
            for (int k = 0; k < H; k++)
                ph[n] += (double)w_hh[(size_t)n * H + k] * st[k];
            dx[n] = linear_bound(&q.ih, n, w_ih, xt, I) + 2e-7 * (fabs(px[n]) + 1);
            dh[n] = linear_bound(&q.hh, n, w_hh, st, H) + 2e-7 * (fabs(ph[n]) + 1);
        }
        memcpy(prev, st, S * sizeof(float));
        memcpy(sq, st, S * sizeof(float));
        float *sp = sq;
        nn_rnn_forward_batch_q8_ref(&l, &q, 1, &one, xt, &sp, yq, scr);
        nn_rnn_forward_ref(&l, 1, xt, st, yf, scrf); /* st moves on along the float trajectory */
        for (int j = 0; j < H; j++) {
            double bound, e = fabs((double)yq[j] - yf[j]);
            if (type == NN_LSTM) {
                /* c' = f c + i g: |dc'| <= |c| df + dg + di + di dg (|i|, |g| <= 1);
                 * h' = o tanh(c'): |dh'| <= do + dc' + do dc' (|o|, |tanh| <= 1). */
                double di = (dx[j] + dh[j]) / 4, df = (dx[H + j] + dh[H + j]) / 4;
                double dg = dx[2 * H + j] + dh[2 * H + j], dout = (dx[3 * H + j] + dh[3 * H + j]) / 4;
                double dc = fabs(prev[H + j]) * df + dg + di + di * dg + 1e-6;
                bound = dout + dc + dout * dc;
                double ec = fabs((double)sq[H + j] - st[H + j]);
                worst = fmax(worst, ec / dc);
            } else {
                /* n = tanh(a + r b): |dn| <= da + |r| db + |b| dr + dr db;
                 * h' = (1 - z) n + z h: |dh'| <= dn + dz (|n_q| + |h|) <= dn + 2 dz. */
                double dr = (dx[j] + dh[j]) / 4, dz = (dx[H + j] + dh[H + j]) / 4;
                double r = sigm(px[j] + ph[j]);
                double dn = dx[2 * H + j] + r * dh[2 * H + j] + dr * fabs(ph[2 * H + j]) + dr * dh[2 * H + j];
                bound = dn + 2 * dz;
            }
            bound += 1e-6; /* expf/tanhf rounding in both runs */
            worst = fmax(worst, e / bound);
            err_max = fmax(err_max, e);
        }
    }
    CHECK(worst <= 1.0 && err_max > 0,
          "%s I=%d H=%d: int8 step vs float32: error %.3g reaches %.3f of the bound", tn, I, H, err_max,
          worst);
    /* For the record (no bound claimed over many steps): the drift of a whole int8 run. */
    nn_q8_layer_free(&q);
    test_layer_free(&l);
    free(x), free(st), free(prev), free(sq), free(yq), free(yf);
    free(scr), free(scrf), free(dx), free(dh), free(px), free(ph);
}

/* ---- streams and frames ---- */

/* n streams of 0..40 frames (one of 100) in one int8 batch against each stream alone (a batch of
 * one) and against one frame per call: bit-identical; and the fast path against the reference
 * within float gate rounding. */
static void test_batch(nn_layer_type type, int I, int H, int n, int fast)
{
    int S = type == NN_LSTM ? 2 * H : H;
    nn_rnn_layer l = test_layer_rand(type, I, H, 1.0f / sqrtf((float)H));
    nn_q8_layer q;
    CHECK(nn_q8_layer_init(&q, &l) == 0, "layer init");
    int *T = malloc(n * sizeof *T), R = 0;
    for (int i = 0; i < n; i++) {
        T[i] = i % 5 == 2 ? 0 : i == 1 ? 100 : 1 + irand(40);
        R += T[i];
    }
    float *x = frand_buf((size_t)(R ? R : 1) * I, 1.5f), *y = malloc((size_t)(R ? R : 1) * H * sizeof(float));
    float *y1 = malloc(100 * (size_t)H * sizeof(float)), *y2 = malloc(100 * (size_t)H * sizeof(float));
    float **st = malloc(n * sizeof *st), *s1 = malloc(S * sizeof(float)), *s2 = malloc(S * sizeof(float));
    float **s0 = malloc(n * sizeof *s0);
    for (int i = 0; i < n; i++) {
        st[i] = frand_buf(S, 0.8f);
        s0[i] = malloc(S * sizeof(float));
        memcpy(s0[i], st[i], S * sizeof(float));
    }
    float *scr = malloc(nn_rnn_batch_scratch_size(&l, n, R) * sizeof(float));
    float *scr1 = malloc(nn_rnn_batch_scratch_size(&l, 1, 100) * sizeof(float));
    void (*fwd)(const nn_rnn_layer *, const nn_q8_layer *, int, const int *, const float *, float *const *,
                float *, float *) = fast ? nn_rnn_forward_batch_q8 : nn_rnn_forward_batch_q8_ref;
    fwd(&l, &q, n, T, x, st, y, scr);
    int same_alone = 1, same_frames = 1, one = 1;
    double fast_ref = 0;
    for (int i = 0, off = 0; i < n; off += T[i++]) {
        memcpy(s1, s0[i], S * sizeof(float));
        memcpy(s2, s0[i], S * sizeof(float));
        float *p1 = s1, *p2 = s2;
        fwd(&l, &q, 1, &T[i], x + (size_t)off * I, &p1, y1, scr1);
        for (int t = 0; t < T[i]; t++)
            fwd(&l, &q, 1, &one, x + (size_t)(off + t) * I, &p2, y2 + (size_t)t * H, scr1);
        size_t bytes = (size_t)T[i] * H * sizeof(float);
        same_alone &= !memcmp(y1, y + (size_t)off * H, bytes) && !memcmp(s1, st[i], S * sizeof(float));
        same_frames &= !memcmp(y2, y1, bytes) && !memcmp(s2, s1, S * sizeof(float));
        if (fast && T[i] > 0) { /* the reference on the same stream: same int8 products, scalar gates */
            memcpy(s2, s0[i], S * sizeof(float));
            nn_rnn_forward_batch_q8_ref(&l, &q, 1, &T[i], x + (size_t)off * I, &p2, y2, scr1);
            for (size_t k = 0; k < (size_t)T[i] * H; k++)
                fast_ref = fmax(fast_ref, fabs((double)y2[k] - y1[k]));
        }
    }
    const char *tag = fast ? "fast" : "ref";
    CHECK(same_alone, "%s %s I=%d H=%d n=%d: int8 batch differs from each stream alone", tag,
          type == NN_GRU ? "gru" : "lstm", I, H, n);
    CHECK(same_frames, "%s %s I=%d H=%d n=%d: int8, one frame per call differs from one call", tag,
          type == NN_GRU ? "gru" : "lstm", I, H, n);
    /* Only the gate kernels differ (polynomial exp/tanh, a few ulp per step, test_nn's 1e-5), and
     * any difference reaches the next step's quantisation of h: one flipped rounding moves a
     * product by at most sh * |w| <= 1/127 * max|w|, damped by the gates; 1e-3 allows that. */
    CHECK(fast_ref <= 1e-3, "%s I=%d H=%d n=%d: int8 fast vs reference %.3g", type == NN_GRU ? "gru" : "lstm",
          I, H, n, fast_ref);
    for (int i = 0; i < n; i++)
        free(st[i]), free(s0[i]);
    free(st), free(s0), free(s1), free(s2), free(scr), free(scr1), free(y1), free(y2), free(x), free(y),
        free(T);
    test_layer_free(&l);
    nn_q8_layer_free(&q);
}

/* ---- ASRD_SIMD fallbacks (in a child process: the choice is made once per process) ---- */

static void child_checks(const char *cap)
{
    const char *want = !strcmp(cap, "scalar") ? "scalar" : "avx2";
    CHECK(!strcmp(nn_q8_kernel_name(), want) && !strcmp(nn_kernel_name(), want),
          "ASRD_SIMD=%s: kernels %s / int8 %s", cap, nn_kernel_name(), nn_q8_kernel_name());
    /* Under scalar the fast path is the reference itself: bit-identical, gates included. */
    if (!strcmp(cap, "scalar")) {
        int I = 37, H = 29, T = 23;
        nn_rnn_layer l = test_layer_rand(NN_LSTM, I, H, 0.2f);
        nn_q8_layer q;
        nn_q8_layer_init(&q, &l);
        float *x = frand_buf((size_t)T * I, 1.0f), s1[2 * 29] = {0}, s2[2 * 29] = {0}, *p1 = s1, *p2 = s2;
        float *y1 = malloc((size_t)T * H * sizeof(float)), *y2 = malloc((size_t)T * H * sizeof(float));
        float *scr = malloc(nn_rnn_batch_scratch_size(&l, 1, T) * sizeof(float));
        nn_rnn_forward_batch_q8(&l, &q, 1, &T, x, &p1, y1, scr);
        nn_rnn_forward_batch_q8_ref(&l, &q, 1, &T, x, &p2, y2, scr);
        CHECK(!memcmp(y1, y2, (size_t)T * H * sizeof(float)), "ASRD_SIMD=scalar: fast path != reference");
        nn_q8_layer_free(&q);
        test_layer_free(&l);
        free(x), free(y1), free(y2), free(scr);
    }
}

static void test_fallback(const char *self, const char *cap)
{
    if (strcmp(cap, "scalar") && !have_avx2()) {
        printf("skipped: ASRD_SIMD=%s (no AVX2 on this CPU)\n", cap);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setenv("ASRD_SIMD", cap, 1);
        setenv("TEST_NN_Q8_CHILD", cap, 1);
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "ASRD_SIMD=%s: child failed (status %d)", cap, status);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *child = getenv("TEST_NN_Q8_CHILD");
    if (child) {
        child_checks(child);
        return TEST_SUMMARY();
    }
    printf("int8 kernels on this CPU: %s\n", nn_q8_kernel_name());
    if (!have_avx2())
        printf("skipped: AVX2 int8 kernel (no AVX2 on this CPU)\n");
    if (!have_vnni())
        printf("skipped: AVX-512 VNNI int8 kernel (no AVX-512 VNNI on this CPU)\n");

    test_quantize_by_hand();
    static const int ks[] = {1, 7, 15, 16, 17, 63, 64, 65, 100, 333, 1000};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        test_round_trip(ks[i]);
    for (int r = 0; r < 50; r++)
        test_round_trip(1 + irand(300));

    static const int kk[] = {1, 5, 17, 63, 64, 65, 127, 130, 200, 333, 1000};
    static const int nn[] = {1, 3, 4, 7, 8, 9, 15, 33, 70};
    for (int r = 0; r < 120; r++) {
        int K = kk[irand(sizeof kk / sizeof *kk)], N = nn[irand(sizeof nn / sizeof *nn)], T = 1 + irand(40);
        test_kernels(N, K, T, irand(3) ? 0 : 1 + irand(9), irand(2), 0);
    }
    test_kernels(13, 4096, 7, 2, 1, 1); /* every product +-127 * 127: the largest sums */
    test_kernels(64, 64, 24, 0, 0, 1);
    test_kernels(1, 1, 1, 0, 1, 0);

    for (int r = 0; r < 10; r++)
        test_linear_bound(1 + irand(70), 1 + irand(400), 1 + irand(40));
    test_step_bound(NN_LSTM, 39, 45, 30);
    test_step_bound(NN_GRU, 39, 45, 30);
    test_step_bound(NN_LSTM, 130, 97, 10);
    test_step_bound(NN_GRU, 7, 16, 10);

    static const int hs[] = {8, 19, 32, 45, 67};
    static const int ns[] = {1, 2, 7, 30};
    for (int fast = 0; fast < 2; fast++)
        for (int t = 0; t < 2; t++)
            for (size_t h = 0; h < sizeof hs / sizeof *hs; h++)
                test_batch(t ? NN_LSTM : NN_GRU, 13 + (int)h * 10, hs[h], ns[(h + t) % 4], fast);

    test_fallback(argv[0], "scalar");
    test_fallback(argv[0], "avx2");
    return TEST_SUMMARY();
}
