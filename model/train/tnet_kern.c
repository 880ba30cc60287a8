/* tnet_kern.c - fused per-row gate kernels of the trainer (forward nonlinearities, backward gate
 * gradients), a plain scalar reference and an AVX2/FMA version of each (own target attribute;
 * chosen at run time when CPUID reports AVX2 and FMA). test_tnet_grad compares the two.
 *
 * Row layouts (H = hidden size):
 *   gi, gh    (G*H) input / recurrent projections without biases
 *   act GRU   (4H) r, z, n, W_hn h + b_hn        LSTM (4H) i, f, g, o
 *   di, dg    (G*H) gradients wrt the gate pre-activations of the input / recurrent products
 *             (LSTM: one array serves both)
 * Backward row kernels also add di / dg into the bias-gradient accumulators gbi / gbh, which saves
 * a separate pass over the (T*B, G*H) buffers.
 */
#include <immintrin.h>
#include <math.h>

#include "tnet_internal.h"
#include "../nn_avx2_math.h"

static inline float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static void gru_fwd_cols(int H, int q0, const float *gi, const float *gh, const float *bih, const float *bhh,
                         const float *hp, float *act, float *h)
{
    for (int q = q0; q < H; q++) {
        float r = sigm(gi[q] + bih[q] + gh[q] + bhh[q]);
        float z = sigm(gi[H + q] + bih[H + q] + gh[H + q] + bhh[H + q]);
        float ghn = gh[2 * H + q] + bhh[2 * H + q];
        float n = tanhf(gi[2 * H + q] + bih[2 * H + q] + r * ghn);
        act[q] = r;
        act[H + q] = z;
        act[2 * H + q] = n;
        act[3 * H + q] = ghn;
        h[q] = (1.0f - z) * n + z * hp[q];
    }
}

void tnet_gru_fwd_row_ref(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                          const float *hp, float *act, float *h)
{
    gru_fwd_cols(H, 0, gi, gh, bih, bhh, hp, act, h);
}

static void lstm_fwd_cols(int H, int q0, const float *gi, const float *gh, const float *bih, const float *bhh,
                          const float *cp, float *act, float *c, float *h)
{
    for (int q = q0; q < H; q++) {
        float ig = sigm(gi[q] + bih[q] + gh[q] + bhh[q]);
        float fg = sigm(gi[H + q] + bih[H + q] + gh[H + q] + bhh[H + q]);
        float gg = tanhf(gi[2 * H + q] + bih[2 * H + q] + gh[2 * H + q] + bhh[2 * H + q]);
        float og = sigm(gi[3 * H + q] + bih[3 * H + q] + gh[3 * H + q] + bhh[3 * H + q]);
        float cc = fg * cp[q] + ig * gg;
        act[q] = ig;
        act[H + q] = fg;
        act[2 * H + q] = gg;
        act[3 * H + q] = og;
        c[q] = cc;
        h[q] = og * tanhf(cc);
    }
}

void tnet_lstm_fwd_row_ref(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                           const float *cp, float *act, float *c, float *h)
{
    lstm_fwd_cols(H, 0, gi, gh, bih, bhh, cp, act, c, h);
}

static void gru_bwd_cols(int H, int q0, const float *act, const float *dy, const float *hp, float *dh,
                         float *di, float *dg, float *gbi, float *gbh)
{
    for (int q = q0; q < H; q++) {
        float r = act[q], z = act[H + q], n = act[2 * H + q], ghn = act[3 * H + q];
        float d = dy[q] + dh[q];
        float dan = d * (1.0f - z) * (1.0f - n * n);
        float daz = d * (hp[q] - n) * z * (1.0f - z);
        float dar = dan * ghn * r * (1.0f - r);
        di[q] = dar;
        di[H + q] = daz;
        di[2 * H + q] = dan;
        dg[q] = dar;
        dg[H + q] = daz;
        dg[2 * H + q] = dan * r;
        gbi[q] += dar;
        gbi[H + q] += daz;
        gbi[2 * H + q] += dan;
        gbh[q] += dar;
        gbh[H + q] += daz;
        gbh[2 * H + q] += dan * r;
        dh[q] = d * z;
    }
}

void tnet_gru_bwd_row_ref(int H, const float *act, const float *dy, const float *hp, float *dh, float *di,
                          float *dg, float *gbi, float *gbh)
{
    gru_bwd_cols(H, 0, act, dy, hp, dh, di, dg, gbi, gbh);
}

static void lstm_bwd_cols(int H, int q0, const float *act, const float *dy, const float *dh, const float *cp,
                          const float *c, float *dc, float *di, float *gbi, float *gbh)
{
    for (int q = q0; q < H; q++) {
        float ig = act[q], fg = act[H + q], gg = act[2 * H + q], og = act[3 * H + q];
        float d = dy[q] + dh[q];
        float tc = tanhf(c[q]);
        float dct = dc[q] + d * og * (1.0f - tc * tc);
        float v[4] = {dct * gg * ig * (1.0f - ig), dct * cp[q] * fg * (1.0f - fg),
                      dct * ig * (1.0f - gg * gg), d * tc * og * (1.0f - og)};
        for (int k = 0; k < 4; k++) {
            di[k * H + q] = v[k];
            gbi[k * H + q] += v[k];
            gbh[k * H + q] += v[k];
        }
        dc[q] = dct * fg;
    }
}

void tnet_lstm_bwd_row_ref(int H, const float *act, const float *dy, const float *dh, const float *cp,
                           const float *c, float *dc, float *di, float *gbi, float *gbh)
{
    lstm_bwd_cols(H, 0, act, dy, dh, cp, c, dc, di, gbi, gbh);
}

/* ---------- AVX2 / FMA ---------- */

#define TGT __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline)) TGT

/* exp, sigmoid and tanh: the runtime's (../nn_avx2_math.h), so training and recognition agree. */

#define LD(p) _mm256_loadu_ps(p)
#define ST(p, v) _mm256_storeu_ps(p, v)
#define ADD(a, b) _mm256_add_ps(a, b)
#define SUB(a, b) _mm256_sub_ps(a, b)
#define MUL(a, b) _mm256_mul_ps(a, b)

TGT static void gru_fwd_avx2(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                             const float *hp, float *act, float *h)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int q = 0;
    for (; q + 8 <= H; q += 8) {
        __m256 r = nn_avx2_sigmoid(ADD(ADD(LD(gi + q), LD(bih + q)), ADD(LD(gh + q), LD(bhh + q))));
        __m256 z =
            nn_avx2_sigmoid(ADD(ADD(LD(gi + H + q), LD(bih + H + q)), ADD(LD(gh + H + q), LD(bhh + H + q))));
        __m256 ghn = ADD(LD(gh + 2 * H + q), LD(bhh + 2 * H + q));
        __m256 n = nn_avx2_tanh(_mm256_fmadd_ps(r, ghn, ADD(LD(gi + 2 * H + q), LD(bih + 2 * H + q))));
        ST(act + q, r);
        ST(act + H + q, z);
        ST(act + 2 * H + q, n);
        ST(act + 3 * H + q, ghn);
        ST(h + q, _mm256_fmadd_ps(z, LD(hp + q), MUL(SUB(one, z), n)));
    }
    /* tail: the reference on the remaining columns (gate blocks stay H apart) */
    gru_fwd_cols(H, q, gi, gh, bih, bhh, hp, act, h);
}

TGT static void lstm_fwd_avx2(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                              const float *cp, float *act, float *c, float *h)
{
    int q = 0;
    for (; q + 8 <= H; q += 8) {
        __m256 ig = nn_avx2_sigmoid(ADD(ADD(LD(gi + q), LD(bih + q)), ADD(LD(gh + q), LD(bhh + q))));
        __m256 fg =
            nn_avx2_sigmoid(ADD(ADD(LD(gi + H + q), LD(bih + H + q)), ADD(LD(gh + H + q), LD(bhh + H + q))));
        __m256 gg = nn_avx2_tanh(
            ADD(ADD(LD(gi + 2 * H + q), LD(bih + 2 * H + q)), ADD(LD(gh + 2 * H + q), LD(bhh + 2 * H + q))));
        __m256 og = nn_avx2_sigmoid(
            ADD(ADD(LD(gi + 3 * H + q), LD(bih + 3 * H + q)), ADD(LD(gh + 3 * H + q), LD(bhh + 3 * H + q))));
        __m256 cc = _mm256_fmadd_ps(fg, LD(cp + q), MUL(ig, gg));
        ST(act + q, ig);
        ST(act + H + q, fg);
        ST(act + 2 * H + q, gg);
        ST(act + 3 * H + q, og);
        ST(c + q, cc);
        ST(h + q, MUL(og, nn_avx2_tanh(cc)));
    }
    lstm_fwd_cols(H, q, gi, gh, bih, bhh, cp, act, c, h); /* tail */
}

TGT static void gru_bwd_avx2(int H, const float *act, const float *dy, const float *hp, float *dh, float *di,
                             float *dg, float *gbi, float *gbh)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int q = 0;
    for (; q + 8 <= H; q += 8) {
        __m256 r = LD(act + q), z = LD(act + H + q), n = LD(act + 2 * H + q), ghn = LD(act + 3 * H + q);
        __m256 d = ADD(LD(dy + q), LD(dh + q));
        __m256 dan = MUL(MUL(d, SUB(one, z)), _mm256_fnmadd_ps(n, n, one));
        __m256 daz = MUL(MUL(d, SUB(LD(hp + q), n)), MUL(z, SUB(one, z)));
        __m256 dar = MUL(MUL(dan, ghn), MUL(r, SUB(one, r)));
        __m256 dnr = MUL(dan, r);
        ST(di + q, dar);
        ST(di + H + q, daz);
        ST(di + 2 * H + q, dan);
        ST(dg + q, dar);
        ST(dg + H + q, daz);
        ST(dg + 2 * H + q, dnr);
        ST(gbi + q, ADD(LD(gbi + q), dar));
        ST(gbi + H + q, ADD(LD(gbi + H + q), daz));
        ST(gbi + 2 * H + q, ADD(LD(gbi + 2 * H + q), dan));
        ST(gbh + q, ADD(LD(gbh + q), dar));
        ST(gbh + H + q, ADD(LD(gbh + H + q), daz));
        ST(gbh + 2 * H + q, ADD(LD(gbh + 2 * H + q), dnr));
        ST(dh + q, MUL(d, z));
    }
    gru_bwd_cols(H, q, act, dy, hp, dh, di, dg, gbi, gbh); /* tail */
}

TGT static void lstm_bwd_avx2(int H, const float *act, const float *dy, const float *dh, const float *cp,
                              const float *c, float *dc, float *di, float *gbi, float *gbh)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int q = 0;
    for (; q + 8 <= H; q += 8) {
        __m256 ig = LD(act + q), fg = LD(act + H + q), gg = LD(act + 2 * H + q), og = LD(act + 3 * H + q);
        __m256 d = ADD(LD(dy + q), LD(dh + q));
        __m256 tc = nn_avx2_tanh(LD(c + q));
        __m256 dct = _mm256_fmadd_ps(MUL(d, og), _mm256_fnmadd_ps(tc, tc, one), LD(dc + q));
        __m256 v[4] = {
            MUL(MUL(dct, gg), MUL(ig, SUB(one, ig))), MUL(MUL(dct, LD(cp + q)), MUL(fg, SUB(one, fg))),
            MUL(MUL(dct, ig), _mm256_fnmadd_ps(gg, gg, one)), MUL(MUL(d, tc), MUL(og, SUB(one, og)))};
        for (int k = 0; k < 4; k++) {
            ST(di + k * H + q, v[k]);
            ST(gbi + k * H + q, ADD(LD(gbi + k * H + q), v[k]));
            ST(gbh + k * H + q, ADD(LD(gbh + k * H + q), v[k]));
        }
        ST(dc + q, MUL(dct, fg));
    }
    lstm_bwd_cols(H, q, act, dy, dh, cp, c, dc, di, gbi, gbh); /* tail */
}

tnet_kernels tnet_kernels_get(int allow_simd)
{
    tnet_kernels k = {tnet_gru_fwd_row_ref, tnet_lstm_fwd_row_ref, tnet_gru_bwd_row_ref,
                      tnet_lstm_bwd_row_ref};
    __builtin_cpu_init();
    if (allow_simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        k.gru_fwd = gru_fwd_avx2;
        k.lstm_fwd = lstm_fwd_avx2;
        k.gru_bwd = gru_bwd_avx2;
        k.lstm_bwd = lstm_bwd_avx2;
    }
    return k;
}
