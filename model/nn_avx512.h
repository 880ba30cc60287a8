/* nn_avx512.h - internal: the AVX-512 matrix product behind nn.h's fast paths. Only call it after
 * checking the CPU for AVX-512 F/VL/DQ and AVX2/FMA (nn.c does, once).
 *
 * Contract: the contract of nn_avx2_gemm_nt, and BIT-IDENTICAL results to it for every shape and
 * stride (each output is the same eight-lane fma chain over k, reduced in the same tree, plus the
 * bias, in the same order). Shapes it has no faster equivalent for (T = 1, K > 4096) go to the
 * AVX2 kernel itself.
 */
#ifndef ASR_NN_AVX512_H
#define ASR_NN_AVX512_H

/* y(t, n) = sum_k x(t, k) w(n, k) + b(n) for t < T, n < N: x rows ldx apart, y rows ldy apart,
 * w (N, K) row-major, b (N) or NULL. Uses about 32 KB of stack. */
void nn_avx512_gemm_nt(const float *w, const float *b, int K, int N, int T, const float *x, int ldx, float *y,
                       int ldy);

#endif
