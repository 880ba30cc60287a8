/* nn_q8.h - internal: the int8 matrix-product kernels behind nn.h's int8 layers (nn_q8_*).
 *
 * Contract of every kernel: y(t, n) = dequant(acc(t, n), sx(t), w->scale(n)) + b(n) for t < T,
 * n < w->rows, where acc = sum_k x(t, k) q(n, k) over the padded width w->kp is computed exactly in
 * int32 (|acc| <= 127 * 127 * kp, far below 2^31 for any layer asrd loads), and the dequantisation
 * is nn_q8_dequant below, the same float operations in every kernel. So the scalar, AVX2 and
 * AVX-512 VNNI kernels give BIT-IDENTICAL results for every shape. x (T, kp) int8 rows kp apart,
 * zero-padded after the K real values (nn_q8_quantize_row); y rows ldy apart; b (rows) or NULL.
 * Only call the AVX2 kernel after checking the CPU for AVX2, the AVX-512 ones for AVX-512 F/BW/VL/VNNI
 * (nn.c does, once). The AVX2 kernel reads w->q, the VNNI kernel w->qp, the scalar one either.
 */
#ifndef ASR_NN_Q8_H
#define ASR_NN_Q8_H

#include <stdint.h>

#include "nn.h"

/* The one dequantisation: int32 accumulator times the two scales, then the bias (a separate
 * multiply and add; C11 mode does not contract them into an fma, so every path rounds alike). */
static inline float nn_q8_dequant(int32_t acc, float sx, float sw, float b)
{
    float s = sx * sw;
    float p = (float)acc * s;
    return p + b;
}

void nn_q8_gemm_ref(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                    int ldy);
void nn_q8_gemm_avx2(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                     int ldy);
void nn_q8_gemm_vnni(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                     int ldy);

/* nn_q8_matrix_init with the layouts asked for (rowmajor: q, packed: qp; both for tests that run
 * every kernel on one matrix). Implemented in nn.c. */
int nn_q8_matrix_init_layouts(nn_q8_matrix *m, const float *w, int N, int K, int rowmajor, int packed);

/* nn_q8_quantize_row in AVX-512 (F, BW, VL), bit-identical to it (same scale, same int8 values). */
float nn_q8_quantize_row_avx512(const float *x, int K, int kp, int8_t *q);

#endif
