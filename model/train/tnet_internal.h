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
double ctc_loss_grad_strided(const float *logprobs, int lp_stride, int T, int n_out, const int *labels,
                             int L, float *grad, int g_stride, double *work);

/* Minimum frames a CTC alignment of labels needs: L plus one blank between equal neighbours. */
int ctc_min_frames(const int *labels, int L);

/* How a batch is spread over cores. workers >= 1 threads each run a slice of the batch with
 * single-threaded BLAS (data parallelism, the default: workers = tnet_set_threads value); with
 * workers == 1, blas_threads > 1 lets OpenBLAS split every product instead (kept to measure the
 * alternative in the speed harness). */
void tnet_set_parallelism(tnet *n, int workers, int blas_threads);

#endif
