/* nn_avx512.c - the AVX-512 matrix product for nn.c, bit-identical to nn_avx2_gemm_nt (compiled
 * for any x86-64; each function carries its own target attribute and nn.c calls them only when
 * CPUID reports AVX-512 F/VL/DQ next to AVX2/FMA).
 *
 * Why not simply 16 k-values per register: the AVX2 kernel gives every output eight partial sums,
 * lane l accumulating w(n, k) x(t, k) for k = l, l + 8, l + 16, ... by fma in increasing k, then
 * adds them in the tree ((0+1)+(2+3))+((4+5)+(6+7)) and adds the bias last. Sixteen consecutive
 * k-values in one register would put k and k + 8 into different partial sums and change the bits.
 * So a 512-bit register holds the eight partial sums of TWO frames instead: the low half frame t,
 * the high half frame t + 1, each half doing exactly the AVX2 arithmetic. The weights' eight
 * values are broadcast to both halves (a plain load, vbroadcastf32x8); the frames are first packed
 * pairwise ([x(t, k..k+7) | x(t+1, k..k+7)] per k-step, zero-padded at the K tail and after an odd
 * last frame) into a stack buffer that stays in L1 while the weight rows sweep it. The reduction
 * is vhaddps's pairing done with shuffles, per half, then low + high 128 bits as in AVX2.
 *
 * Register block: 4 rows x 4 frame pairs (16 accumulators, 4 packed x vectors): per k-step 8
 * loads for 16 512-bit fmas, so the product is bound by FMA throughput; 8 rows x 1 or 2 pairs for
 * what is left of a tile (a few streams stepping together). T = 1 (the recurrent
 * matrix-vector product of one stream) is bound by reading W_hh from L2 and stays with AVX2.
 */
#include "nn_avx512.h"
#include "nn_avx2.h"

#include <immintrin.h>
#include <stddef.h>

#define TGT __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define INL static inline __attribute__((always_inline)) TGT

enum {
    PACK_FLOATS = 8192, /* 32 KB of packed frames: fits L1 (48 KB) beside a block of weight rows */
    TILE_MAX = 24,      /* frames per tile at most (as the AVX2 kernel) */
    ROWS = 8,           /* output rows per register block at most */
    PAIRS = 4,          /* frame pairs per register block at most */
};

/* vhaddps on each 128-bit lane: [a0+a1, a2+a3, b0+b1, b2+b3] (each sum exactly as vhaddps adds it:
 * floating-point addition is commutative bit for bit). */
INL __m512 hadd(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

INL void store4(float *y, __m128 s, const float *b)
{
    if (b)
        s = _mm_add_ps(s, _mm_loadu_ps(b));
    _mm_storeu_ps(y, s);
}

/* One k-step j of the kernel below: acc[r][p] += w(r, 8j .. 8j+7) * pair p's k-step j, xj and wj
 * pointing at step j. tail = 0: all eight k-values; else the mask of the K tail's values. */
INL void kstep(__m512 acc[ROWS][PAIRS], const float *xj, size_t pstride, const float *wj, size_t k1,
               const __mmask8 tail, const int R, const int P)
{
    __m512 xv[PAIRS];
#pragma GCC unroll 4
    for (int p = 0; p < P; p++)
        xv[p] = _mm512_load_ps(xj + p * pstride);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m256 w8 = tail ? _mm256_maskz_loadu_ps(tail, wj + r * k1) : _mm256_loadu_ps(wj + r * k1);
        __m512 wv = _mm512_broadcast_f32x8(w8);
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm512_fmadd_ps(wv, xv[p], acc[r][p]);
    }
}

/* R rows (1, 4 or 8) x P frame pairs (1..PAIRS) of packed frames xp (pair p at xp + p * K8 * 16):
 * frame 2p goes to y + 2p * ldy, frame 2p + 1 to the row after it if 2p + 1 < nv. R and P are
 * constants after inlining, so the accumulator arrays live in registers. */
INL void kern(const float *w, int K, int K8, const float *xp, int nv, float *y, int ldy, const float *b,
              const int R, const int P)
{
    const size_t k1 = (size_t)K, pstride = (size_t)K8 * 16;
    __m512 acc[ROWS][PAIRS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int p = 0; p < P; p++)
            acc[r][p] = _mm512_setzero_ps();
    const int kf = K / 8;
    for (int j = 0; j < kf; j++)
        kstep(acc, xp + (size_t)j * 16, pstride, w + (size_t)j * 8, k1, 0, R, P);
    if (kf < K8) /* K tail: zeros beyond K in both operands, as the AVX2 kernel's masked loads */
        kstep(acc, xp + (size_t)kf * 16, pstride, w + (size_t)kf * 8, k1,
              (__mmask8)((1u << (K - kf * 8)) - 1), R, P);
#pragma GCC unroll 4
    for (int p = 0; p < P; p++) {
        float *y0 = y + (size_t)(2 * p) * ldy, *y1 = y0 + ldy;
        int second = 2 * p + 1 < nv;
        if (R > 1) {
#pragma GCC unroll 2
            for (int r = 0; r < R; r += 4) {
                /* lanes of s, per 128 bits: frame 2p's low and high half, frame 2p+1's low and
                 * high half, each [row r, r+1, r+2, r+3] -- AVX2's hsum4 before its low + high */
                __m512 s = hadd(hadd(acc[r][p], acc[r + 1][p]), hadd(acc[r + 2][p], acc[r + 3][p]));
                const float *br = b ? b + r : NULL;
                store4(y0 + r, _mm_add_ps(_mm512_castps512_ps128(s), _mm512_extractf32x4_ps(s, 1)), br);
                if (second)
                    store4(y1 + r, _mm_add_ps(_mm512_extractf32x4_ps(s, 2), _mm512_extractf32x4_ps(s, 3)),
                           br);
            }
        } else {
            /* one row: AVX2's hsum1, i.e. hsum4(a, a, a, a), lane 0; the bias as its kern_1x1 caller */
            __m512 h = hadd(acc[0][p], acc[0][p]);
            __m512 s = hadd(h, h);
            float bias = b ? b[0] : 0.0f;
            y0[0] = _mm_cvtss_f32(_mm_add_ps(_mm512_castps512_ps128(s), _mm512_extractf32x4_ps(s, 1))) + bias;
            if (second)
                y1[0] =
                    _mm_cvtss_f32(_mm_add_ps(_mm512_extractf32x4_ps(s, 2), _mm512_extractf32x4_ps(s, 3))) +
                    bias;
        }
    }
}

/* All N rows at packed pairs p .. p+P-1 of a tile of nv frames: R rows per kernel call, then
 * blocks of 4 and single rows for what is left. */
INL void rows_at(const float *w, const float *b, int K, int K8, const float *pack, int nv, int p, float *y,
                 int ldy, int N, const int R, const int P)
{
    const float *xp = pack + (size_t)p * K8 * 16;
    float *yp = y + (size_t)(2 * p) * ldy;
    int n = 0, v = nv - 2 * p;
    for (; n + R <= N; n += R)
        kern(w + (size_t)n * K, K, K8, xp, v, yp + n, ldy, b ? b + n : NULL, R, P);
    if (R > 4)
        for (; n + 4 <= N; n += 4)
            kern(w + (size_t)n * K, K, K8, xp, v, yp + n, ldy, b ? b + n : NULL, 4, P);
    for (; n < N; n++)
        kern(w + (size_t)n * K, K, K8, xp, v, yp + n, ldy, b ? b + n : NULL, 1, P);
}

/* Packs frames x(0 .. nv-1) into pairs: pack[(p * K8 + j) * 16 + h * 8 + i] = x(2p + h, 8j + i),
 * zero where 8j + i >= K or 2p + h >= nv. */
INL void pack_pairs(const float *x, int ldx, int K, int K8, int nv, float *pack)
{
    const int kf = K / 8;
    const __mmask8 m = (__mmask8)((1u << (K - kf * 8)) - 1);
    for (int f = 0; f < nv + (nv & 1); f++) {
        float *dst = pack + (size_t)(f / 2) * K8 * 16 + (f & 1) * 8;
        if (f == nv) {
            for (int j = 0; j < K8; j++)
                _mm256_store_ps(dst + (size_t)j * 16, _mm256_setzero_ps());
            break;
        }
        const float *src = x + (size_t)f * ldx;
        int j = 0;
        for (; j < kf; j++)
            _mm256_store_ps(dst + (size_t)j * 16, _mm256_loadu_ps(src + (size_t)j * 8));
        if (j < K8)
            _mm256_store_ps(dst + (size_t)j * 16, _mm256_maskz_loadu_ps(m, src + (size_t)j * 8));
    }
}

TGT void nn_avx512_gemm_nt(const float *w, const float *b, int K, int N, int T, const float *x, int ldx,
                           float *y, int ldy)
{
    const int K8 = (K + 7) / 8;
    if (T < 2 || K < 1 || K8 * 16 > PACK_FLOATS) {
        nn_avx2_gemm_nt(w, b, K, N, T, x, ldx, y, ldy);
        return;
    }
    float pack[PACK_FLOATS] __attribute__((aligned(64)));
    int tile = PACK_FLOATS / (K8 * 8);
    tile = (tile < TILE_MAX ? tile : TILE_MAX) & ~1;
    for (int t0 = 0; t0 < T; t0 += tile) {
        int nv = T - t0 < tile ? T - t0 : tile, np = (nv + 1) / 2, nfull = np / PAIRS * PAIRS;
        pack_pairs(x + (size_t)t0 * ldx, ldx, K, K8, nv, pack);
        float *yt = y + (size_t)t0 * ldy;
        /* whole blocks of PAIRS pairs, 4 rows x 4 pairs per call (fma-bound); the row block
         * outside, so its weights come from L2 once and from L1 for the other pair blocks */
        int n = 0;
        for (; n + 4 <= N; n += 4)
            for (int p = 0; p < nfull; p += PAIRS)
                kern(w + (size_t)n * K, K, K8, pack + (size_t)p * K8 * 16, nv - 2 * p,
                     yt + (size_t)(2 * p) * ldy + n, ldy, b ? b + n : NULL, 4, PAIRS);
        for (; n < N; n++)
            for (int p = 0; p < nfull; p += PAIRS)
                kern(w + (size_t)n * K, K, K8, pack + (size_t)p * K8 * 16, nv - 2 * p,
                     yt + (size_t)(2 * p) * ldy + n, ldy, b ? b + n : NULL, 1, PAIRS);
        /* 1..3 pairs left (all of them for T <= 6): 8 rows per call for 1 or 2 pairs, so that
         * 8 or 16 independent fma chains hide the fma latency */
        switch (np - nfull) {
        case 1:
            rows_at(w, b, K, K8, pack, nv, nfull, yt, ldy, N, 8, 1);
            break;
        case 2:
            rows_at(w, b, K, K8, pack, nv, nfull, yt, ldy, N, 8, 2);
            break;
        case 3:
            rows_at(w, b, K, K8, pack, nv, nfull, yt, ldy, N, 4, 3);
            break;
        }
    }
}
