/* optim.h - Adam (PyTorch's formulation, optional decoupled weight decay), global-norm gradient
 * clipping and the learning-rate schedule.
 *
 * Loss convention (documented in configs/train-default.yaml): the training loss is the sum of the
 * per-utterance CTC losses (each summed over its frames) divided by the batch's utterance count,
 * as torch.nn.functional.ctc_loss(reduction='sum') / B. tnet accumulates d(sum)/dparam, so the
 * step scales gradients by 1/B before clipping.
 *
 * Thread safety: a topt belongs to one thread.
 */
#ifndef ASR_TRAIN_OPTIM_H
#define ASR_TRAIN_OPTIM_H

#include <stddef.h>

#include "../../frontend/asr_util.h"
#include "config.h"

typedef struct topt {
    size_t n;     /* parameters */
    float *m, *v; /* (n) first and second moments */
    long step;    /* Adam steps taken (bias correction) */
    double beta1, beta2, eps, weight_decay;
} topt;

/* Allocates zeroed moments for n parameters; NULL with *err on failure. */
topt *topt_create(size_t n, const tcfg *c, asr_error *err);
void topt_destroy(topt *o);

/* Euclidean norm of g (accumulated in double, fixed order: deterministic). */
double topt_norm(const float *g, size_t n);

/* Given the norm of the raw gradient and the factor that turns it into the loss's gradient
 * (1/B), returns the factor to apply so that the final gradient's norm is at most `clip`
 * (clip <= 0: no clipping), as torch.nn.utils.clip_grad_norm_ (clip / (norm + 1e-6)). */
double topt_clip_scale(double raw_norm, double loss_scale, double clip);

/* One Adam step: g_eff = grad_scale * grads; p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p). */
void topt_step(topt *o, float *params, const float *grads, double grad_scale, double lr);

/* Learning rate for update number `update` (1-based): linear warmup from lr/warmup to lr, then
 * constant, cosine down to min_lr at `total` updates, or exponential (x decay_rate every
 * decay_updates, floored at min_lr). `total` is used by cosine only (decay_updates if set).
 * With anneal_start > 0 and total > anneal_start, updates after anneal_start follow a cosine from
 * the schedule's lr at anneal_start down to min_lr at `total` (a final anneal that can be added to
 * a running exponential schedule without changing the updates before it). */
double topt_lr(const tcfg *c, long update, long total);

#endif
