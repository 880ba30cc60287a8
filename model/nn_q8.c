/* nn_q8.c - the int8 row quantiser and the int8 matrix-product kernels of nn_q8.h: the scalar
 * reference, AVX2 and AVX-512 VNNI (nn.c quantises the weights with them and dispatches; compiled
 * for any x86-64; each SIMD function carries its own target attribute and nn.c calls it only when
 * CPUID reports the extension).
 *
 * Why the results are bit-identical: the integer dot product is exact in every kernel (int32
 * never overflows: |sum| <= 127 * 255 * kp), so only its float dequantisation could differ, and
 * every kernel applies nn_q8_dequant's operations to the same int32 value (the AVX-512 kernel to
 * 16 outputs at once: the same multiply, multiply, add per element, no fma).
 *   AVX2: int8 sign-extended to int16 (vpmovsxbw), vpmaddwd multiplies pairs into int32 exactly
 *   (127 * 127 * 2 fits; vpmaddubsw would saturate its int16 sums, so it is not used); 4 rows x 2
 *   frames of 8-lane partial sums, added up at the end.
 *   VNNI: vpdpbusd multiplies unsigned by signed bytes, so x is offset by 128 (x ^ 0x80 = x + 128
 *   as an unsigned byte) and 128 * sum_k q(n, k) is subtracted per row afterwards: exact in int32.
 *   The weights are in a packed copy (nn_q8_matrix.qp: 16 rows x 4 k-values per 64 bytes), so one
 *   vpdpbusd of a frame's broadcast four bytes advances 16 rows and needs no horizontal sum; 4 x 16
 *   rows x 4 frames per register block (8 x 16 rows for one frame).
 * Frames go in tiles that stay in L1 while the weight rows sweep them.
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

/* The weight q(n, k) from whichever layout m holds. */
static int8_t q_at(const nn_q8_matrix *m, size_t n, size_t k)
{
    size_t kp = (size_t)m->kp;
    return m->q ? m->q[n * kp + k] : m->qp[((n / 16) * (kp / 4) + k / 4) * 64 + (n % 16) * 4 + k % 4];
}

void nn_q8_gemm_ref(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                    int ldy)
{
    int K = w->cols, kp = w->kp;
    for (int t = 0; t < T; t++) {
        const int8_t *xt = x + (size_t)t * kp;
        for (int n = 0; n < w->rows; n++) {
            int32_t acc = 0;
            if (w->q) /* (the same sum, read directly: the scalar fallback's hot loop) */
                for (int k = 0; k < K; k++)
                    acc += (int32_t)xt[k] * w->q[(size_t)n * kp + k];
            else
                for (int k = 0; k < K; k++)
                    acc += (int32_t)xt[k] * q_at(w, (size_t)n, (size_t)k);
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

/* VNNI blocks: RB blocks of 16 rows (the packed layout qp) x P frames, one accumulator each; per
 * k-group of four, each frame's four bytes are broadcast (offset by 128: x ^ 0x80 as unsigned)
 * and vpdpbusd adds the four products of every row into its own 32-bit lane, so no horizontal
 * sums are needed. Then 128 * qsum is subtracted and nn_q8_dequant applied, 16 outputs at once
 * (the same float operations per element). Rows past N (the last block's padding) are not stored. */
INL5 void blk_vnni(const nn_q8_matrix *w, const float *b, int blk, const int8_t *x, const float *sx, float *y,
                   int ldy, const int RB, const int P)
{
    const size_t kp = (size_t)w->kp, kq = kp / 4;
    const int8_t *wp = w->qp + (size_t)blk * kq * 64;
    __m512i acc[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < RB; r++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm512_setzero_si512();
    for (size_t g = 0; g < kq; g++) {
        __m512i xb[4];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            uint32_t v;
            memcpy(&v, x + p * kp + 4 * g, 4);
            xb[p] = _mm512_set1_epi32((int)(v ^ 0x80808080u));
        }
#pragma GCC unroll 8
        for (int r = 0; r < RB; r++) {
            __m512i wv = _mm512_load_si512(wp + ((size_t)r * kq + g) * 64);
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
                acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], xb[p], wv);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RB; r++) {
        int n = (blk + r) * 16, left = w->rows - n;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512(w->qsum + n), 7);
        __m512 sw = _mm512_loadu_ps(w->scale + n);
        __m512 bv = b ? _mm512_maskz_loadu_ps(m, b + n) : _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            __m512 s = _mm512_mul_ps(_mm512_set1_ps(sx[p]), sw);
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], corr)), s);
            _mm512_mask_storeu_ps(y + (size_t)p * ldy + n, m, _mm512_add_ps(v, bv));
        }
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

/* Frames t0 .. t0 + tn - 1 (P at a time, tails 3, 2, 1) against RB blocks of rows from blk. */
INL5 void frames_vnni(const nn_q8_matrix *w, const float *b, int blk, const int8_t *x, const float *sx,
                      float *y, int ldy, int tn, const int RB)
{
    const size_t kp = (size_t)w->kp;
    int t = 0;
    for (; t + 4 <= tn; t += 4)
        blk_vnni(w, b, blk, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, RB, 4);
    switch (tn - t) {
    case 3:
        blk_vnni(w, b, blk, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, RB, 3);
        break;
    case 2:
        blk_vnni(w, b, blk, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, RB, 2);
        break;
    case 1:
        blk_vnni(w, b, blk, x + t * kp, sx + t, y + (size_t)t * ldy, ldy, RB, 1);
        break;
    default:
        break;
    }
}

/* Tiles of TILE frames; in each, 4 blocks of 16 rows (16 kB of weights for kp = 256, in L1) meet
 * every frame of the tile before the next 4. T = 1: 8 blocks at a time (8 independent chains hide
 * vpdpbusd's latency). */
TGT5 void nn_q8_gemm_vnni(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx,
                          float *y, int ldy)
{
    const size_t kp = (size_t)w->kp;
    int nb = (w->rows + 15) / 16;
    if (T == 1) {
        int k = 0;
        for (; k + 8 <= nb; k += 8)
            blk_vnni(w, b, k, x, sx, y, ldy, 8, 1);
        for (; k < nb; k++)
            blk_vnni(w, b, k, x, sx, y, ldy, 1, 1);
        return;
    }
    for (int t0 = 0; t0 < T; t0 += TILE) {
        int tn = T - t0 < TILE ? T - t0 : TILE, k = 0;
        const int8_t *xt = x + t0 * kp;
        float *yt = y + (size_t)t0 * ldy;
        for (; k + 4 <= nb; k += 4)
            frames_vnni(w, b, k, xt, sx + t0, yt, ldy, tn, 4);
        for (; k < nb; k++)
            frames_vnni(w, b, k, xt, sx + t0, yt, ldy, tn, 1);
    }
}
