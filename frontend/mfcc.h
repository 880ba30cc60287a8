/* mfcc.h - streaming MFCC on KissFFT, computed as Kaldi's compute-mfcc-feats computes it.
 *
 * Per frame: (dither, unused: always 0) -> DC removal -> raw log energy -> pre-emphasis -> window
 * -> zero-pad to the FFT size -> power spectrum -> mel filterbank -> log -> DCT-II (orthonormal,
 * first num_ceps) -> lifter -> c0 replaced by log energy if use_energy.
 * Frames follow Kaldi's snip_edges=true layout: frame i covers samples [i*shift, i*shift+length).
 *
 * Streaming contract: feeding the same samples whole, one by one, or in any chunking yields
 * bit-identical frames (each frame is computed from exactly its own samples, in the same order).
 *
 * Thread safety: an mfcc object is immutable after mfcc_create and may be shared by any number of
 * threads; each mfcc_stream (it owns a KissFFT cfg with scratch) belongs to one thread at a time.
 */
#ifndef ASR_MFCC_H
#define ASR_MFCC_H

#include <stddef.h>

#include "asr_util.h"

typedef enum mfcc_window { MFCC_WINDOW_POVEY = 0, MFCC_WINDOW_HAMMING, MFCC_WINDOW_HANNING } mfcc_window;

typedef struct mfcc_params {
    int sample_rate;       /* Hz (16000) */
    float frame_length_ms; /* 25 */
    float frame_shift_ms;  /* 10 */
    int fft_size;          /* 0: next power of two >= frame length in samples (Kaldi) */
    int num_mel_bins;      /* 23 */
    float low_freq;        /* Hz, 20 */
    float high_freq;       /* Hz; <= 0 means nyquist + high_freq (Kaldi), default 0 */
    int num_ceps;          /* 13 */
    float cepstral_lifter; /* 22; 0 disables */
    float preemph;         /* 0.97 */
    mfcc_window window;    /* povey */
    int remove_dc_offset;  /* 1 */
    int use_energy;        /* 1: c0 replaced by log energy (raw energy, before pre-emphasis) */
    float energy_floor;    /* 0 (Kaldi default); log energy is max(log(E), log(floor)) when > 0 */
} mfcc_params;

/* Kaldi compute-mfcc-feats defaults (the values in the comments above, dither 0). */
mfcc_params mfcc_default_params(void);

typedef struct mfcc mfcc;

/* Validates params and precomputes window, mel filterbank and DCT/lifter tables.
 * Returns NULL with *err naming the bad parameter. */
mfcc *mfcc_create(const mfcc_params *p, asr_error *err);
void mfcc_destroy(mfcc *m);

const mfcc_params *mfcc_get_params(const mfcc *m);
int mfcc_frame_length(const mfcc *m); /* samples per frame */
int mfcc_frame_shift(const mfcc *m);  /* samples between frame starts */

typedef struct mfcc_stream mfcc_stream;

/* Per-stream state: carried-over samples and FFT scratch. NULL on allocation failure. */
mfcc_stream *mfcc_stream_create(const mfcc *m);
void mfcc_stream_destroy(mfcc_stream *s);

/* Appends n samples (int16 scale). Returns ASR_OK or ASR_ERR_NOMEM. */
asr_status mfcc_stream_accept(mfcc_stream *s, const float *samples, size_t n);

/* Computes the next complete frame into out (num_ceps floats) and returns 1, or returns 0 when
 * fewer than a frame's samples are buffered. */
int mfcc_stream_pop(mfcc_stream *s, float *out);

/* Drops buffered samples; the next sample starts frame 0 again. */
void mfcc_stream_reset(mfcc_stream *s);

/* Vocal-tract-length warping applied to finished MFCC frames, for training-time speaker variety:
 * fills w (num_ceps x num_ceps, row-major) so that c' = w c approximates the MFCC the same audio
 * gives with Kaldi's VTLN-warped mel filterbank (warp factor alpha, Kaldi's piecewise-linear
 * VtlnWarpFreq with vtln_low 100 Hz and vtln_high nyquist - 500 Hz, as torchaudio's
 * compliance.kaldi.mfcc(vtln_warp=alpha)): the log-mel energies are recovered from the cepstra
 * (undo lifter, transposed orthonormal DCT: exact when num_ceps == num_mel_bins, the cepstrally
 * smoothed spectrum otherwise), each warped filter's centre frequency is looked up in them by
 * linear interpolation between neighbouring bins, and the result is transformed back. With
 * use_energy, c0 (log energy) passes through unchanged. alpha 1 gives the identity (to rounding).
 * alpha is a speed-perturbation factor too: audio played s times faster moves content at f to
 * s*f, which the filterbank warp with alpha = s undoes in reverse. Returns ASR_ERR_ARG when
 * alpha is outside [0.5, 2] or the warp's corner frequencies fall outside the mel range. */
asr_status mfcc_warp_matrix(const mfcc *m, double alpha, float *w, asr_error *err);

/* Convenience: all frames of a whole signal. *feats is malloc'd (n_frames x num_ceps, row-major);
 * caller frees. */
asr_status mfcc_compute(const mfcc *m, const float *samples, size_t n, float **feats, int *n_frames);

#endif
