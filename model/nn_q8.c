/* nn_q8.c - the int8 row quantiser and the int8 matrix-product kernels of nn_q8.h: the scalar
 * reference, AVX2 and AVX-512 VNNI (nn.c quantises the weights with them and dispatches; compiled for any
 * x86-64; each SIMD function carries its own target attribute and nn.c calls it only when CPUID reports the
 * extension).
 *
 * Why the results are bit-identical: the integer dot product is exact in every kernel (int32
 * never overflows: |sum| <= 127 * 255 * kp), so only its float dequantisation could differ, and
 * every kernel calls the same nn_q8_dequant on the same int32 value.
 *   AVX2: int8 sign-extended to int16 (vpmovsxbw), vpmaddwd multiplies pairs into int32 exactly
 *   (127 * 127 * 2 fits; vpmaddubsw would saturate its int16 sums, so it is not used).
 *   VNNI: vpdpbusd multiplies unsigned by signed bytes, so x is offset by 128 (x ^ 0x80 = x + 128
 *   as an unsigned byte) and 128 * sum_k q(n, k) is subtracted per row afterwards: exact in int32.
 * Register blocks: ROWS weight rows x up to 4 frames per pass over k, the frames taken in tiles
 * that stay in L1 while the weight rows sweep them.
 */
#include "nn_q8.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TILE = 24 }; /* frames per tile: 24 * kp bytes stay in L1 for kp <= 1024 */

int nn_q8_kp(int K)
{
    return (K + 63) & ~63;
}

/* Rounding to the nearest integer, ties to even, without a libm call: adding and subtracting
 * 1.5 * 2^23 leaves an integral float for |v| < 2^22 (the default rounding mode does the rounding).
 * Plain float arithmetic, so the compiler may vectorise it and every path rounds alike. */
static inline float round_even(float v)
{
    const float magic = 12582912.0f; /* (-ffast-math would fold this away: asrd is not built so) */
    return (v + magic) - magic;
}

float nn_q8_quantize_row(const float *x, int K, int kp, int8_t *q)
{
    float amax = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = fabsf(x[k]);
        amax = a > amax ? a : amax;
    }
    memset(q + K, 0, (size_t)(kp - K));
    if (!(amax > 0.0f)) {
        memset(q, 0, (size_t)K);
        return 0.0f;
    }
    /* |x * inv| <= 127 up to rounding, so the result is in [-127, 127]; clamped all the same */
    float inv = 127.0f / amax;
    for (int k = 0; k < K; k++) {
        float v = round_even(x[k] * inv);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[k] = (int8_t)(int)v;
    }
    return amax / 127.0f;
}

/* ---- scalar reference ---- */

void nn_q8_gemm_ref(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                    int ldy)
{
    int K = w->cols, kp = w->kp;
    for (int t = 0; t < T; t++) {
        const int8_t *xt = x + (size_t)t * kp;
        for (int n = 0; n < w->rows; n++) {
            const int8_t *wn = w->q + (size_t)n * kp;
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int32_t)xt[k] * wn[k];
            y[(size_t)t * ldy + n] = nn_q8_dequant(acc, sx[t], w->scale[n], b ? b[n] : 0.0f);
        }
    }
}

/* ---- AVX2 ---- */

#define TGT2 __attribute__((target("avx2")))
#define INL2 static inline __attribute__((always_inline)) TGT2

INL2 int32_t hsum8(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* R rows (from row n) x P frames (from x, rows kp apart): exact int32 dot products, dequantised. */
INL2 void blk_avx2(const nn_q8_matrix *w, const float *b, int n, const int8_t *x, const float *sx, float *y,
                   int ldy, const int R, const int P)
{
    const size_t kp = (size_t)w->kp;
    const int8_t *wn = w->q + (size_t)n * kp;
    __m256i acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm256_setzero_si256();
    for (size_t k = 0; k < kp; k += 16) {
        __m256i xv[2];
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            xv[p] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + p * kp + k)));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wn + r * kp + k)));
#pragma GCC unroll 2
            for (int p = 0; p < P; p++)
                acc[r][p] = _mm256_add_epi32(acc[r][p], _mm256_madd_epi16(wv, xv[p]));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int p = 0; p < P; p++)
            y[(size_t)p * ldy + n + r] =
                nn_q8_dequant(hsum8(acc[r][p]), sx[p], w->scale[n + r], b ? b[n + r] : 0.0f);
}

TGT2 void nn_q8_gemm_avx2(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx,
                          float *y, int ldy)
{
    const size_t kp = (size_t)w->kp;
    for (int t0 = 0; t0 < T; t0 += TILE) {
        int tn = T - t0 < TILE ? T - t0 : TILE;
        int n = 0;
        for (; n + 4 <= w->rows; n += 4) {
            int t = t0;
            for (; t + 2 <= t0 + tn; t += 2)
                blk_avx2(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 2);
            if (t < t0 + tn)
                blk_avx2(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 1);
        }
        for (; n < w->rows; n++) {
            int t = t0;
            for (; t + 2 <= t0 + tn; t += 2)
                blk_avx2(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 1, 2);
            if (t < t0 + tn)
                blk_avx2(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 1, 1);
        }
    }
}

/* ---- AVX-512 VNNI ---- */

#define TGT5 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INL5 static inline __attribute__((always_inline)) TGT5

/* The totals of 16 accumulators at once: lane j (128 bits) of the result holds the totals of
 * a[4j], a[4j + 1], a[4j + 2], a[4j + 3] in that order. Integer additions, so any order is exact;
 * 45 instructions instead of 16 separate reductions of about 8 each. */
INL5 __m512i reduce16(const __m512i a[16])
{
    __m512i t[8], u[4], v[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] */
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                                _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* per lane: [a, b, c, d], each summed over the lane */
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* lanes 0+1, 2+3 of u[2i], then of u[2i + 1] */
        v[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0x88),
                                _mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88), _mm512_shuffle_i32x4(v[0], v[1], 0xDD));
}

/* As blk_avx2 with 64 bytes per step: acc += (x + 128) * q by vpdpbusd, minus 128 * qsum. */
INL5 void blk_vnni(const nn_q8_matrix *w, const float *b, int n, const int8_t *x, const float *sx, float *y,
                   int ldy, const int R, const int P)
{
    const size_t kp = (size_t)w->kp;
    const int8_t *wn = w->q + (size_t)n * kp;
    const __m512i off = _mm512_set1_epi8((char)0x80);
    __m512i acc[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm512_setzero_si512();
    for (size_t k = 0; k < kp; k += 64) {
        __m512i xv[4];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            xv[p] = _mm512_xor_si512(_mm512_loadu_si512(x + p * kp + k), off);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512i wv = _mm512_loadu_si512(wn + r * kp + k);
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
                acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], xv[p], wv);
        }
    }
    if (R == 1) {
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            int32_t dot = _mm512_reduce_add_epi32(acc[0][p]) - 128 * w->qsum[n];
            y[(size_t)p * ldy + n] = nn_q8_dequant(dot, sx[p], w->scale[n], b ? b[n] : 0.0f);
        }
        return;
    }
    /* Groups of four rows of one frame: 4 rows x P frames, or 8 rows (two groups) x 1 frame. */
    __m512i a[16];
    int groups = R == 8 ? 2 : P;
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        a[i] = i < 4 * groups ? (R == 8 ? acc[i][0] : acc[i % 4][i / 4]) : _mm512_setzero_si512();
    int32_t tot[16] __attribute__((aligned(64)));
    _mm512_store_si512(tot, reduce16(a));
    for (int g = 0; g < groups; g++) {
        int p = R == 8 ? 0 : g, r0 = R == 8 ? 4 * g : 0;
        /* nn_q8_dequant on four outputs: the same operations, element by element */
        __m128i d = _mm_sub_epi32(_mm_load_si128((const __m128i *)(tot + 4 * g)),
                                  _mm_slli_epi32(_mm_loadu_si128((const __m128i *)(w->qsum + n + r0)), 7));
        __m128 sc = _mm_mul_ps(_mm_set1_ps(sx[p]), _mm_loadu_ps(w->scale + n + r0));
        __m128 v = _mm_mul_ps(_mm_cvtepi32_ps(d), sc);
        v = _mm_add_ps(v, b ? _mm_loadu_ps(b + n + r0) : _mm_setzero_ps());
        _mm_storeu_ps(y + (size_t)p * ldy + n + r0, v);
    }
}

/* nn_q8_quantize_row 16 values at a time: the same maximum (exact), the same scalar inv, and per
 * value the same multiply, magic add and subtract, clamp and conversion of an integral float. */
TGT5 float nn_q8_quantize_row_avx512(const float *x, int K, int kp, int8_t *q)
{
    __m512 mx = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16)
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
    if (k < K)
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16)((1u << (K - k)) - 1), x + k)));
    float amax = _mm512_reduce_max_ps(mx);
    memset(q + K, 0, (size_t)(kp - K));
    if (!(amax > 0.0f)) {
        memset(q, 0, (size_t)K);
        return 0.0f;
    }
    float inv = 127.0f / amax;
    const __m512 vinv = _mm512_set1_ps(inv), magic = _mm512_set1_ps(12582912.0f);
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (k = 0; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vinv);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
        v = _mm512_max_ps(_mm512_min_ps(v, hi), lo);
        _mm_mask_storeu_epi8(q + k, m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
    return amax / 127.0f;
}

/* P frames (1..4) from frame t against every row: ROWS rows at a time, then single rows. */
INL5 void rows_vnni(const nn_q8_matrix *w, const float *b, const int8_t *x, const float *sx, float *y,
                    int ldy, const int P)
{
    int n = 0;
    if (P == 1) /* a matrix-vector product: 8 independent chains hide vpdpbusd's latency */
        for (; n + 8 <= w->rows; n += 8)
            blk_vnni(w, b, n, x, sx, y, ldy, 8, 1);
    for (; n + 4 <= w->rows; n += 4)
        blk_vnni(w, b, n, x, sx, y, ldy, 4, P);
    for (; n < w->rows; n++)
        blk_vnni(w, b, n, x, sx, y, ldy, 1, P);
}

TGT5 void nn_q8_gemm_vnni(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx,
                          float *y, int ldy)
{
    const size_t kp = (size_t)w->kp;
    if (T == 1) {
        rows_vnni(w, b, x, sx, y, ldy, 1);
        return;
    }
    for (int t0 = 0; t0 < T; t0 += TILE) {
        int tn = T - t0 < TILE ? T - t0 : TILE;
        int n = 0;
        for (; n + 4 <= w->rows; n += 4) {
            int t = t0;
            for (; t + 4 <= t0 + tn; t += 4)
                blk_vnni(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 4);
            switch (t0 + tn - t) {
            case 3:
                blk_vnni(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 3);
                break;
            case 2:
                blk_vnni(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 2);
                break;
            case 1:
                blk_vnni(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 4, 1);
                break;
            default:
                break;
            }
        }
        for (; n < w->rows; n++)
            for (int t = t0; t < t0 + tn; t++)
                blk_vnni(w, b, n, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, 1, 1);
    }
}
