/* tnet_internal.h - pieces of the training network shared between its source files, tests and
 * the speed harness; not part of the trainer's public interface (tnet.h).
 *
 * Thread safety: every function here is reentrant; buffers belong to the caller.
 */
#ifndef ASR_TNET_INTERNAL_H
#define ASR_TNET_INTERNAL_H

#include <stddef.h>

#include "tnet.h"

/* Doubles of scratch ctc_loss_grad_strided needs for T frames and L labels. */
size_t ctc_work_size(int T, int L);

/* ctc_loss_grad with strides: frame t's log-probabilities start at logprobs + t * lp_stride and
 * its gradient row at grad + t * g_stride (n_out floats each). work holds ctc_work_size(T, L)
 * doubles. On infeasible input (T too short for the labels) returns INFINITY and zeroes the
 * gradient rows. */
double ctc_loss_grad_strided(const float *logprobs, int lp_stride, int T, int n_out, const int *labels, int L,
                             float *grad, int g_stride, double *work);

/* The dropout mask tnet_train_batch applies to layer k's output of batch utterance b at frame t:
 * H values, each 0 or 1/(1-p') where p' is p rounded to 1/65536. */
void tnet_dropout_row(unsigned long long seed, int b, int k, int t, int H, float p, float *mask);

/* Minimum frames a CTC alignment of labels needs: L plus one blank between equal neighbours. */
int ctc_min_frames(const int *labels, int L);

/* How a batch is spread over cores. workers >= 1 threads each run a slice of the batch with
 * single-threaded BLAS (data parallelism, the default: workers = tnet_set_threads value); with
 * workers == 1, blas_threads > 1 lets OpenBLAS split every product instead (kept to measure the
 * alternative in the speed harness). */
void tnet_set_parallelism(tnet *n, int workers, int blas_threads);

/* Fused per-row gate kernels (tnet_kern.c): scalar references and their AVX2/FMA versions. Row
 * layouts: gi, gh (G*H) products without biases; act GRU (r, z, n, W_hn h + b_hn), LSTM (i, f, g, o);
 * di / dg gate pre-activation gradients of the input / recurrent products (LSTM: di serves both);
 * backward kernels also add them into the bias gradients gbi / gbh; dh (GRU) is in/out: the
 * recurrent gradient in, d * z out (the caller adds dG_hh W_hh); dc (LSTM) in/out likewise. */
typedef struct tnet_kernels {
    void (*gru_fwd)(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                    const float *hp, float *act, float *h);
    void (*lstm_fwd)(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                     const float *cp, float *act, float *c, float *h);
    void (*gru_bwd)(int H, const float *act, const float *dy, const float *hp, float *dh, float *di,
                    float *dg, float *gbi, float *gbh);
    void (*lstm_bwd)(int H, const float *act, const float *dy, const float *dh, const float *cp,
                     const float *c, float *dc, float *di, float *gbi, float *gbh);
} tnet_kernels;

void tnet_gru_fwd_row_ref(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                          const float *hp, float *act, float *h);
void tnet_lstm_fwd_row_ref(int H, const float *gi, const float *gh, const float *bih, const float *bhh,
                           const float *cp, float *act, float *c, float *h);
void tnet_gru_bwd_row_ref(int H, const float *act, const float *dy, const float *hp, float *dh, float *di,
                          float *dg, float *gbi, float *gbh);
void tnet_lstm_bwd_row_ref(int H, const float *act, const float *dy, const float *dh, const float *cp,
                           const float *c, float *dc, float *di, float *gbi, float *gbh);

/* The fastest kernels this CPU runs (AVX2/FMA when CPUID reports them and allow_simd), else the
 * references. */
tnet_kernels tnet_kernels_get(int allow_simd);

/* Uses the SIMD kernels (default) or the scalar references (simd = 0), for tests. */
void tnet_set_simd(tnet *n, int simd);

#endif
