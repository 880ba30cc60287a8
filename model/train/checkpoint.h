/* checkpoint.h - the trainer's resumable state in OUTDIR/checkpoint.bin.
 *
 * Layout (little-endian): "ASRTCKPT", u32 version, u32 n_feat, u64 n_params, the tckpt_state
 * fields as i64/f64 in declaration order, f32 feat_mean[n_feat], feat_std[n_feat],
 * params[n_params], adam_m[n_params], adam_v[n_params], u32 CRC-32 (zlib) of all preceding bytes.
 * Written to a temporary file, fsync'd and renamed: a checkpoint is complete or the previous one.
 * No RNG state is stored because every random draw is a function of (seed, epoch, batch index).
 *
 * Thread safety: functions are reentrant.
 */
#ifndef ASR_TRAIN_CHECKPOINT_H
#define ASR_TRAIN_CHECKPOINT_H

#include <stddef.h>

#include "../../frontend/asr_util.h"

typedef struct tckpt_state {
    long long update;      /* optimiser updates done (also Adam's step) */
    long long epoch;       /* epoch in progress (0-based) */
    long long batch;       /* batches of that epoch already trained */
    long long best_update; /* update of the best dev evaluation, -1: none yet */
    long long seed;        /* the run's seed (checked on resume) */
    double best_metric;    /* best mean dev WER or CER (1e30: none yet) */
    double train_seconds;  /* wall time spent training so far, all invocations */
    double audio_seconds;  /* audio trained on so far */
} tckpt_state;

/* Writes the checkpoint atomically. */
asr_status tckpt_save(const char *path, const tckpt_state *s, int n_feat, const float *feat_mean,
                      const float *feat_std, size_t n_params, const float *params, const float *m,
                      const float *v, asr_error *err);

/* Reads a checkpoint whose n_feat and n_params must match; fills every output. */
asr_status tckpt_load(const char *path, tckpt_state *s, int n_feat, float *feat_mean, float *feat_std,
                      size_t n_params, float *params, float *m, float *v, asr_error *err);

#endif
