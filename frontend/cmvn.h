/* cmvn.h - streaming cepstral mean and variance normalisation that adapts to each stream.
 *
 * Kaldi's online CMVN (OnlineCmvn: a window of the stream's own frames, topped up with the global
 * statistics while the window is short) with exponential forgetting in place of the window, so
 * the state is two running sums per coefficient and a frame count, whatever the stream's length:
 *   n   <- lambda n + 1,  S <- lambda S + x,  Q <- lambda Q + x^2     (lambda = 1 - 1/window)
 *   P'   = min(P, window - n)  (>= 0; P' = P when window is 0)       (Kaldi's top-up of the window)
 *   mean = (P' mu + S) / (P' + n)
 *   var  = (P' (sigma^2 + mu^2) + Q) / (P' + n) - mean^2               (floored)
 *   out  = (x - mean) / sqrt(var)     if norm_vars, else (x - mean) / sigma
 * where mu, sigma are the global statistics stored in the model and P = prior_frames weighs them.
 * The frame being normalised is counted first (as Kaldi includes frame t in its window). At the
 * start of a stream the output is the fixed global normalisation (P dominates); as the decayed
 * count n = window (1 - lambda^t) approaches the window, the prior's weight P' = window lambda^t
 * fades, so after a few windows the stream's own statistics alone remain, which removes a
 * speaker's or a channel's constant spectral tilt and level (with window 0 the prior fades as
 * P / (P + n) instead).
 *
 * Streaming contract: each frame is processed once, in order, in double precision: feeding the
 * same frames whole or in any chunking gives bit-identical output. The trainer normalises every
 * training utterance with this same code (a fresh stream per utterance), so trainer and runtime
 * agree exactly.
 *
 * Thread safety: a cmvn_stream belongs to one thread at a time; the statistics it was created with
 * are copied.
 */
#ifndef ASR_CMVN_H
#define ASR_CMVN_H

#include "asr_util.h"

typedef enum cmvn_mode {
    CMVN_GLOBAL = 0, /* (x - mu) / sigma with the stored statistics only (model version 1) */
    CMVN_ONLINE,     /* the adaptive normalisation above */
} cmvn_mode;

typedef struct cmvn_params {
    cmvn_mode mode;
    float prior_frames; /* P, > 0: frames' worth of weight given to the global statistics */
    float window;       /* frames of memory (lambda = 1 - 1/window); 0: never forget */
    int norm_vars;      /* 1: divide by the stream's own standard deviation */
} cmvn_params;

/* Online, P = 200, window 600 frames (6 s at 10 ms), norm_vars 1. */
cmvn_params cmvn_default_params(void);

/* Checks ranges for CMVN_ONLINE (prior_frames in (0, 1e6], window 0 or in [1, 1e7], norm_vars 0/1); *err
 * names the field. */
asr_status cmvn_params_check(const cmvn_params *p, asr_error *err);

/* "global" / "online"; NULL for an unknown mode. cmvn_mode_parse returns -1 for unknown text. */
const char *cmvn_mode_name(cmvn_mode m);
int cmvn_mode_parse(const char *s);

typedef struct cmvn_stream cmvn_stream;

/* A stream over n_feat coefficients with global mean/std (n_feat each, std > 0). NULL on
 * allocation failure or bad arguments (*err says which). */
cmvn_stream *cmvn_stream_create(int n_feat, const cmvn_params *p, const float *mean, const float *std,
                                asr_error *err);
void cmvn_stream_destroy(cmvn_stream *s);

/* Forgets the stream's statistics (a new speaker or channel). */
void cmvn_stream_reset(cmvn_stream *s);

/* Normalises one frame: in (n_feat raw values) -> out (n_feat); in and out may be the same. */
void cmvn_stream_apply(cmvn_stream *s, const float *in, float *out);

/* Normalises n_frames frames (n_frames x n_feat, row-major) in order; in and out may alias. */
void cmvn_stream_apply_frames(cmvn_stream *s, const float *in, float *out, int n_frames);

#endif
