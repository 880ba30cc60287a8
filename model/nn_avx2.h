/* nn_avx2.h - internal: the AVX2/FMA kernels behind nn.h's fast paths. Only call them after
 * checking the CPU (nn.c does, once). Same contracts as the scalar code in nn.c; results agree
 * with it to rounding (different summation order, polynomial exp/tanh within a few ulp).
 */
#ifndef ASR_NN_AVX2_H
#define ASR_NN_AVX2_H

/* y(t, n) = sum_k x(t, k) w(n, k) + b(n) for t < T, n < N: x rows ldx apart, y rows ldy apart,
 * w (N, K) row-major, b (N) or NULL. T = 1 is a matrix-vector product. */
void nn_avx2_gemm_nt(const float *w, const float *b, int K, int N, int T, const float *x, int ldx, float *y,
                     int ldy);

/* GRU gates of one frame: xp = W_ih x + b_ih, hp = W_hh h + b_hh (3H each); h_prev -> h. */
void nn_avx2_gru_gates(int H, const float *xp, const float *hp, const float *h_prev, float *h);

/* LSTM gates of one frame: xp, hp (4H each); c (H) updated in place, h (H) written. */
void nn_avx2_lstm_gates(int H, const float *xp, const float *hp, float *c, float *h);

#endif
