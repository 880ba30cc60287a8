/* features.h - `asrd --features --kaldi FILE`: raw MFCC exactly as Kaldi's compute-mfcc-feats
 * computes it with its defaults (25/10 ms, povey, pre-emphasis 0.97, 23 mel bins, 13 cepstra with
 * c0 = raw log energy, lifter 22, dither 0, snip edges), on the int16 sample scale.
 *
 * Thread safety: reentrant (no shared state).
 */
#ifndef ASRD_FEATURES_H
#define ASRD_FEATURES_H

#include <stdio.h>

#include "../frontend/asr_util.h"
#include "../frontend/mfcc.h"

/* Reads `path` ("-" = standard input) at its own sample rate (Kaldi does not resample; channels are
 * averaged) and prints one frame per line to `out`: num_ceps space-separated values, %.9g.
 * A file shorter than one frame prints nothing and succeeds, as Kaldi does.
 * Returns ASR_OK, or a status with *err filled (message names the file). */
asr_status features_print_kaldi(const char *path, FILE *out, asr_error *err);

/* Same with any MFCC parameters; p->sample_rate 0 means the file's own rate (no resampling),
 * otherwise the audio is resampled to p->sample_rate. */
asr_status features_print(const char *path, const mfcc_params *p, FILE *out, asr_error *err);

#endif
