/* tnet.h - the training network: batched forward and backward (BPTT) of the acoustic model and
 * the CTC loss, on one parameter slab laid out exactly as the model file's tensors.
 *
 * Architecture (same as the runtime, model_file.h): stacked features (already normalised and
 * stacked by the caller) -> n_layers GRU/LSTM -> projection -> log-softmax -> CTC (blank = 0).
 *
 * Shapes: batches are time-major: x is (T, B, I) with I = n_feat * stack; utterance b has
 * lens[b] <= T valid frames (the rest is padding, ignored by loss and gradients); labels are
 * concatenated (sum of label_lens), values 1..n_out-1.
 *
 * Parameters live in one slab in model-file order (per layer: w_ih, w_hh, b_ih, b_hh; then proj.w,
 * proj.b), followed by the auxiliary head's aux.w, aux.b if the net has one (tnet_create_aux);
 * gradients in a parallel slab, zeroed by tnet_zero_grad and accumulated by backward.
 *
 * Auxiliary head (multi-task training, e.g. phone CTC beside character CTC): a second linear layer
 * on the last RNN layer's output (after dropout, like the projection) -> log-softmax over n_aux
 * classes (blank = 0) -> its own CTC loss on its own targets; the loss trained is the sum over the
 * batch of char loss + weight[b] * aux loss. It exists only in training: tnet_forward and
 * tnet_export ignore it, so exported models are exactly those of a net without it.
 *
 * Thread safety: a tnet belongs to one thread; internally it may use several threads
 * (tnet_set_threads) for batched matrix products and per-utterance CTC.
 */
#ifndef ASR_TNET_H
#define ASR_TNET_H

#include <stddef.h>

#include "../model_file.h"

typedef struct tnet tnet;

/* Creates a network shaped like `arch` (its layer types/sizes, n_out, stack, n_feat are used;
 * its tensors are copied into the slab if arch->slab is not NULL, else parameters are initialised
 * from `seed`: PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for RNNs, U(-1/sqrt(in), 1/sqrt(in)) for proj).
 * max_B and max_T bound the batch; NULL with *err on failure. */
tnet *tnet_create(const asr_model_desc *arch, int max_B, int max_T, unsigned long long seed, asr_error *err);
void tnet_destroy(tnet *n);

/* tnet_create with an auxiliary head of n_aux classes (n_aux = 0: none, the same as tnet_create;
 * else >= 2). Its tensors aux.w (n_aux, H_last) and aux.b (n_aux) are drawn U(-1/sqrt(H_last), ..)
 * from `seed`: after every model tensor when arch->slab is NULL (so those equal tnet_create's for
 * the same seed), from the seed alone when arch->slab holds weights (a warm start from a model
 * file, which has no auxiliary head). */
tnet *tnet_create_aux(const asr_model_desc *arch, int n_aux, int max_B, int max_T, unsigned long long seed,
                      asr_error *err);

/* Classes of the auxiliary head (0: none). */
int tnet_n_aux(const tnet *n);

/* Threads used by later calls (default 1): the batch is split across `threads` workers, each with
 * single-threaded OpenBLAS (this sets OpenBLAS's global thread count on every call). Results are
 * bit-for-bit reproducible for a given thread count, not across counts. */
void tnet_set_threads(tnet *n, int threads);

/* If dx is not NULL, later tnet_train_batch calls also write d(sum of losses)/dx (T, B, I) into dx
 * (zero on padding frames); the caller keeps dx alive. For gradient checks and feature analysis. */
void tnet_set_input_grad(tnet *n, float *dx);

/* Dropout for later tnet_train_batch calls (tnet_forward never drops): each layer's output is
 * zeroed with probability p (quantised to 1/65536) and scaled by 1/(1-p) otherwise, with masks
 * drawn from seed per (batch index, layer, frame): the same seed and batch give the same masks
 * whatever the thread count. The trainer passes a new seed every update. p = 0 turns it off. */
void tnet_set_dropout(tnet *n, float p, unsigned long long seed);

size_t tnet_n_params(const tnet *n);
float *tnet_params(tnet *n); /* slab, model-file order */
float *tnet_grads(tnet *n);  /* same layout */
void tnet_zero_grad(tnet *n);

/* Forward only: writes log-probabilities (T, B, n_out) into logprobs (caller-allocated) for the
 * padded batch; frames past lens[b] are unspecified. Uses the same state-at-zero start as the
 * runtime. */
asr_status tnet_forward(tnet *n, int T, int B, const float *x, const int *lens, float *logprobs);

/* Forward, CTC loss and backward for the batch: accumulates d(sum of per-utterance losses)/dparam
 * into the gradient slab and returns the per-utterance losses in loss[B] (natural log, summed
 * over frames; +inf-safe: an infeasible utterance (label sequence longer than its frames allow)
 * gets loss 0, no gradient, and a flag in infeasible[b] if infeasible is not NULL). */
asr_status tnet_train_batch(tnet *n, int T, int B, const float *x, const int *lens, const int *labels,
                            const int *label_lens, float *loss, int *infeasible);

/* The auxiliary targets of one batch for tnet_train_batch_aux; arrays are indexed by batch slot. */
typedef struct tnet_aux_targets {
    const int *labels;     /* concatenated targets (sum of label_lens), values 1..n_aux-1 */
    const int *label_lens; /* (B) */
    const float *weight;   /* (B) weight of utterance b's aux loss in the total, >= 0; 0: no aux loss */
    float *loss;           /* (B) out: unweighted aux CTC loss (0 where weight is 0 or infeasible) */
    int *infeasible;       /* (B) out, may be NULL: 1 where the aux labels do not fit the frames */
} tnet_aux_targets;

/* tnet_train_batch with the auxiliary head's CTC loss too: accumulates the gradient of
 * sum_b (loss[b] + aux->weight[b] * aux->loss[b]); loss and infeasible as in tnet_train_batch
 * (character head only). aux NULL is tnet_train_batch; ASR_ERR_ARG if aux is given to a net
 * without an auxiliary head, or a weight is negative or not finite. */
asr_status tnet_train_batch_aux(tnet *n, int T, int B, const float *x, const int *lens, const int *labels,
                                const int *label_lens, const tnet_aux_targets *aux, float *loss,
                                int *infeasible);

/* Copies the parameters into d's tensors (d already allocated with asr_model_desc_alloc with the
 * same architecture); the auxiliary head, which model files do not have, is not exported. */
asr_status tnet_export(const tnet *n, asr_model_desc *d, asr_error *err);

/* CTC loss and gradient for one utterance, exposed for tests: logprobs (T, n_out) log-softmax
 * outputs; returns -log p(labels|x) and writes d loss / d logits (pre-softmax activations,
 * T x n_out) into grad. Forward-backward in log space. Returns INFINITY if infeasible. */
double ctc_loss_grad(const float *logprobs, int T, int n_out, const int *labels, int L, float *grad);

#endif
