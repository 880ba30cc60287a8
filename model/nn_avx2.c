/* nn_avx2.c - AVX2/FMA kernels for nn.c (compiled for any x86-64; each function carries its own
 * target attribute and nn.c calls them only when CPUID reports AVX2 and FMA).
 *
 * Matrix products keep PyTorch's row-major (outputs, inputs) weights and compute dot products:
 * each kernel holds several output rows (and for T > 1 several frames) in accumulators, streams
 * the rows once, and reduces horizontally at the end. For the recurrent matrix-vector product the
 * cost is reading W_hh (G*H*H floats) per frame, so the 8-row kernel aims at keeping two loads
 * per cycle busy; for the input projection the 4x3 register block reuses each loaded vector 3-4
 * times, so the product is bound by FMA throughput instead.
 */
#include "nn_avx2.h"
#include "nn_avx2_math.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#define TGT __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline)) TGT

static const int mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Mask selecting the first rem (0..7) lanes. */
INL __m256i tail_mask(int rem)
{
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - rem));
}

/* Four 8-lane sums -> one 4-lane vector (sum of a0, a1, a2, a3). */
INL __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 s01 = _mm256_hadd_ps(a0, a1);
    __m256 s23 = _mm256_hadd_ps(a2, a3);
    __m256 s = _mm256_hadd_ps(s01, s23);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* One 8-lane sum, added in exactly the order hsum4 adds each of its inputs, so a row gives the
 * same bits whichever kernel computes it (T = 1 and T = many must agree bit for bit). */
INL float hsum1(__m256 a)
{
    return _mm_cvtss_f32(hsum4(a, a, a, a));
}

INL void store4(float *y, __m128 s, const float *b)
{
    if (b)
        s = _mm_add_ps(s, _mm_loadu_ps(b));
    _mm_storeu_ps(y, s);
}

/* 8 rows x 1 frame: y[0..7] = w[0..7] . x (+ b). */
INL void kern_8x1(const float *w, int K, const float *x, float *y, const float *b)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const size_t k1 = (size_t)K;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k1 + k), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * k1 + k), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * k1 + k), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 4 * k1 + k), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 5 * k1 + k), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 6 * k1 + k), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 7 * k1 + k), xv, a7);
    }
    if (k < K) {
        __m256i m = tail_mask(K - k);
        __m256 xv = _mm256_maskload_ps(x + k, m);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w + k, m), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + k1 + k, m), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 2 * k1 + k, m), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 3 * k1 + k, m), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 4 * k1 + k, m), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 5 * k1 + k, m), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 6 * k1 + k, m), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 7 * k1 + k, m), xv, a7);
    }
    store4(y, hsum4(a0, a1, a2, a3), b);
    store4(y + 4, hsum4(a4, a5, a6, a7), b ? b + 4 : NULL);
}

/* 4 rows x 3 frames: y[t*ldy + 0..3] = w[0..3] . x[t*ldx] (+ b), t < 3. */
INL void kern_4x3(const float *w, int K, const float *x, int ldx, float *y, int ldy, const float *b)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    const size_t k1 = (size_t)K, l1 = (size_t)ldx;
    int k = 0;
#define STEP(LOAD)                                                                                           \
    do {                                                                                                     \
        __m256 x0 = LOAD(x + k), x1 = LOAD(x + l1 + k), x2 = LOAD(x + 2 * l1 + k), wv;                       \
        wv = LOAD(w + k);                                                                                    \
        a00 = _mm256_fmadd_ps(wv, x0, a00), a01 = _mm256_fmadd_ps(wv, x1, a01);                              \
        a02 = _mm256_fmadd_ps(wv, x2, a02);                                                                  \
        wv = LOAD(w + k1 + k);                                                                               \
        a10 = _mm256_fmadd_ps(wv, x0, a10), a11 = _mm256_fmadd_ps(wv, x1, a11);                              \
        a12 = _mm256_fmadd_ps(wv, x2, a12);                                                                  \
        wv = LOAD(w + 2 * k1 + k);                                                                           \
        a20 = _mm256_fmadd_ps(wv, x0, a20), a21 = _mm256_fmadd_ps(wv, x1, a21);                              \
        a22 = _mm256_fmadd_ps(wv, x2, a22);                                                                  \
        wv = LOAD(w + 3 * k1 + k);                                                                           \
        a30 = _mm256_fmadd_ps(wv, x0, a30), a31 = _mm256_fmadd_ps(wv, x1, a31);                              \
        a32 = _mm256_fmadd_ps(wv, x2, a32);                                                                  \
    } while (0)
    for (; k + 8 <= K; k += 8)
        STEP(_mm256_loadu_ps);
    if (k < K) {
        __m256i m = tail_mask(K - k);
#define MLOAD(p) _mm256_maskload_ps(p, m)
        STEP(MLOAD);
#undef MLOAD
    }
#undef STEP
    store4(y, hsum4(a00, a10, a20, a30), b);
    store4(y + ldy, hsum4(a01, a11, a21, a31), b);
    store4(y + 2 * (size_t)ldy, hsum4(a02, a12, a22, a32), b);
}

/* 4 rows x 1 frame. */
INL void kern_4x1(const float *w, int K, const float *x, float *y, const float *b)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const size_t k1 = (size_t)K;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv = _mm256_loadu_ps(x + k);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k1 + k), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * k1 + k), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * k1 + k), xv, a3);
    }
    if (k < K) {
        __m256i m = tail_mask(K - k);
        __m256 xv = _mm256_maskload_ps(x + k, m);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w + k, m), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w + k1 + k, m), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 2 * k1 + k, m), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w + 3 * k1 + k, m), xv, a3);
    }
    store4(y, hsum4(a0, a1, a2, a3), b);
}

/* 1 row x 1 frame. */
INL float kern_1x1(const float *w, int K, const float *x)
{
    __m256 a0 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a0);
    if (k < K) {
        __m256i m = tail_mask(K - k);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w + k, m), _mm256_maskload_ps(x + k, m), a0);
    }
    return hsum1(a0);
}

TGT void nn_avx2_gemm_nt(const float *w, const float *b, int K, int N, int T, const float *x, int ldx,
                         float *y, int ldy)
{
    const size_t k1 = (size_t)K;
    if (T == 1) {
        int n = 0;
        for (; n + 8 <= N; n += 8)
            kern_8x1(w + n * k1, K, x, y + n, b ? b + n : NULL);
        for (; n + 4 <= N; n += 4)
            kern_4x1(w + n * k1, K, x, y + n, b ? b + n : NULL);
        for (; n < N; n++)
            y[n] = kern_1x1(w + n * k1, K, x) + (b ? b[n] : 0.0f);
        return;
    }
    /* Frames in tiles that stay in L1 while a row block sweeps them: each W row is read from
     * memory once per tile. */
    const int TT = 24;
    for (int t0 = 0; t0 < T; t0 += TT) {
        int t1 = t0 + TT < T ? t0 + TT : T;
        int n = 0;
        for (; n + 4 <= N; n += 4) {
            const float *wn = w + n * k1, *bn = b ? b + n : NULL;
            int t = t0;
            for (; t + 3 <= t1; t += 3)
                kern_4x3(wn, K, x + (size_t)t * ldx, ldx, y + (size_t)t * ldy + n, ldy, bn);
            for (; t < t1; t++)
                kern_4x1(wn, K, x + (size_t)t * ldx, y + (size_t)t * ldy + n, bn);
        }
        for (; n < N; n++)
            for (int t = t0; t < t1; t++)
                y[(size_t)t * ldy + n] = kern_1x1(w + n * k1, K, x + (size_t)t * ldx) + (b ? b[n] : 0.0f);
    }
}

/* ---- gate nonlinearities (nn_avx2_math.h) ---- */

static float sigmoid1(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

TGT void nn_avx2_gru_gates(int H, const float *xp, const float *hp, const float *h_prev, float *h)
{
    int i = 0;
    __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= H; i += 8) {
        __m256 r = nn_avx2_sigmoid(_mm256_add_ps(_mm256_loadu_ps(xp + i), _mm256_loadu_ps(hp + i)));
        __m256 z = nn_avx2_sigmoid(_mm256_add_ps(_mm256_loadu_ps(xp + H + i), _mm256_loadu_ps(hp + H + i)));
        __m256 n = nn_avx2_tanh(
            _mm256_fmadd_ps(r, _mm256_loadu_ps(hp + 2 * H + i), _mm256_loadu_ps(xp + 2 * H + i)));
        /* h' = (1 - z) n + z h */
        __m256 hv = _mm256_fmadd_ps(z, _mm256_loadu_ps(h_prev + i), _mm256_mul_ps(_mm256_sub_ps(one, z), n));
        _mm256_storeu_ps(h + i, hv);
    }
    for (; i < H; i++) {
        float r = sigmoid1(xp[i] + hp[i]);
        float z = sigmoid1(xp[H + i] + hp[H + i]);
        float n = tanhf(xp[2 * H + i] + r * hp[2 * H + i]);
        h[i] = (1.0f - z) * n + z * h_prev[i];
    }
}

TGT void nn_avx2_lstm_gates(int H, const float *xp, const float *hp, float *c, float *h)
{
    int j = 0;
    for (; j + 8 <= H; j += 8) {
        __m256 ig = nn_avx2_sigmoid(_mm256_add_ps(_mm256_loadu_ps(xp + j), _mm256_loadu_ps(hp + j)));
        __m256 fg = nn_avx2_sigmoid(_mm256_add_ps(_mm256_loadu_ps(xp + H + j), _mm256_loadu_ps(hp + H + j)));
        __m256 gg =
            nn_avx2_tanh(_mm256_add_ps(_mm256_loadu_ps(xp + 2 * H + j), _mm256_loadu_ps(hp + 2 * H + j)));
        __m256 og =
            nn_avx2_sigmoid(_mm256_add_ps(_mm256_loadu_ps(xp + 3 * H + j), _mm256_loadu_ps(hp + 3 * H + j)));
        __m256 cv = _mm256_fmadd_ps(fg, _mm256_loadu_ps(c + j), _mm256_mul_ps(ig, gg));
        _mm256_storeu_ps(c + j, cv);
        _mm256_storeu_ps(h + j, _mm256_mul_ps(og, nn_avx2_tanh(cv)));
    }
    for (; j < H; j++) {
        float ig = sigmoid1(xp[j] + hp[j]);
        float fg = sigmoid1(xp[H + j] + hp[H + j]);
        float gg = tanhf(xp[2 * H + j] + hp[2 * H + j]);
        float og = sigmoid1(xp[3 * H + j] + hp[3 * H + j]);
        c[j] = fg * c[j] + ig * gg;
        h[j] = og * tanhf(c[j]);
    }
}
