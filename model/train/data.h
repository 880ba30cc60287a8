/* data.h - training data: manifests, the feature cache, epochs, batches and SpecAugment.
 *
 * A manifest is "path<TAB>text" per line, paths relative to the manifest's folder. Features are
 * computed once per manifest with the daemon's own frontend (audio_read_file at the model rate ->
 * mfcc_compute) into <cache_dir>/<hash>.feats, keyed by the manifest's path, size and mtime, the
 * MFCC parameters and the utterance limit; the file is memory-mapped, so more data than fits in
 * memory streams from disk. Cache layout (little-endian):
 *   "ASRFEAT1", u32 version, u32 n_feat, u32 n_utts, u32 0, u64 key,
 *   index: n_utts x {u64 offset (floats from the data start), i64 n_frames (-1: unreadable)},
 *   f64 sum[n_feat], f64 sumsq[n_feat], f64 total_frames, then the f32 frames (n_frames x n_feat).
 * Written to a temporary name and renamed: a cache file is complete or absent.
 *
 * Targets: asr_text_normalize(text), each character mapped to its label (1 + index in the
 * alphabet). With a pronouncing dictionary (tdata_opts.phones) also phone targets: the words'
 * pronunciations concatenated (pdict_text_labels, no word-boundary symbol); an utterance with a
 * word missing from the dictionary has none (phones NULL) and is trained without phone loss. Training
 * utterances with unmappable characters, failed audio, more network frames than max_frames or fewer than CTC
 * needs (labels + repeated pairs) are skipped and counted.
 *
 * Everything random (repeat fractions, utterance shuffling, batch order, masks) is a pure function
 * of (seed, epoch, batch index): resuming needs only those numbers to replay the same batches.
 *
 * Thread safety: a tdata_set is read-only after loading and may be shared; batches belong to their
 * caller.
 */
#ifndef ASR_TRAIN_DATA_H
#define ASR_TRAIN_DATA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "../../frontend/asr_util.h"
#include "../../frontend/cmvn.h"
#include "../../frontend/mfcc.h"

typedef struct tdata_utt {
    const float *feats; /* (n_frames, n_feat) raw MFCC, inside the mapped cache */
    int n_frames;       /* MFCC frames */
    int n_out;          /* network frames after stacking: (n_frames - stack) / stride + 1, or 0 */
    int *labels;        /* (n_labels) values 1..n_out_labels-1, NULL if unmappable */
    int n_labels;
    int *phones; /* (n_phones) phone labels 1..PDICT_N_CLASSES-1; NULL: no dictionary or an OOV word */
    int n_phones;
    char *text; /* normalised reference text */
    char *path; /* audio path (resolved) */
    int usable; /* 1 if it may be trained on */
} tdata_utt;

typedef struct tdata_set {
    char *manifest; /* path as configured */
    char *name;     /* "<parent folder>/<file name without .tsv>", e.g. "cathy/dev" */
    double repeat;  /* copies per epoch (training sets) */
    int n_feat;
    int n_utts;
    tdata_utt *utts; /* (n_utts) every manifest line (up to the utterance limit) */
    int n_usable;
    int skip_audio, skip_text, skip_short, skip_long; /* counts of skipped training utterances */
    double sum_frames;   /* MFCC frames of the whole manifest (statistics weight) */
    double *sum, *sumsq; /* (n_feat) per-coefficient sums over every frame */
    double usable_seconds;
    int n_phone_usable;   /* usable utterances with phone targets */
    double phone_seconds; /* their audio */
    void *map;            /* mmap of the cache file */
    size_t map_len;
} tdata_set;

typedef struct tdata_opts {
    mfcc_params mfcc;
    const char *cache_dir;
    const char *alphabet;       /* labels 1..n-1 */
    const struct pdict *phones; /* pronouncing dictionary for phone targets; NULL: none */
    int stack, stride;
    int max_out_frames;          /* training utterances with more network frames are skipped; 0: none */
    int max_utts;                /* first N lines only; 0: all */
    int threads;                 /* feature extraction threads */
    int progress;                /* print a progress line on stderr */
    volatile sig_atomic_t *stop; /* extraction stops (ASR_ERR_IO "interrupted") when *stop != 0 */
} tdata_opts;

/* Reads a manifest, builds or reuses its feature cache, maps labels. NULL with *err naming the
 * manifest (and line) on failure. Unreadable audio is not fatal: counted in skip_audio. */
tdata_set *tdata_set_load(const char *manifest, const tdata_opts *o, asr_error *err);
void tdata_set_free(tdata_set *s);

/* Training items of one epoch: (set, utterance) pairs, length-sorted into batches, batch order
 * shuffled. */
typedef struct tdata_item {
    int set, utt;
} tdata_item;

typedef struct tdata_epoch {
    tdata_item *items; /* (n_items) in batch order */
    int n_items;
    int *batch_start; /* (n_batches + 1) item index where each batch starts */
    int n_batches;
} tdata_epoch;

/* Plans epoch `epoch` (0-based) of the training sets: repeats (fractions drawn from the seed),
 * shuffle, stable sort by length, batches of at most batch_size items and at most max_frames
 * B * T_max network frames (0: no cap), batch order shuffled. */
asr_status tdata_epoch_plan(tdata_set *const *sets, int n_sets, int epoch, unsigned long long seed,
                            int batch_size, long max_frames, tdata_epoch *e, asr_error *err);
void tdata_epoch_free(tdata_epoch *e);

/* A padded, time-major batch ready for tnet. */
typedef struct tdata_batch {
    int T, B, I;     /* network frames, utterances, inputs (n_feat * stack) */
    float *x;        /* (T, B, I), zero past lens[b] */
    int *lens;       /* (B) */
    int *labels;     /* concatenated targets (sum of label_lens) */
    int *label_lens; /* (B) */
    int *phones;     /* concatenated phone targets of the utterances that have them */
    int *phone_lens; /* (B) 0 where has_phones is 0 */
    int *has_phones; /* (B) 1 if the utterance has phone targets (tdata_utt.phones) */
    size_t cap_phones;
    double audio_seconds; /* audio the batch covers (MFCC frames x shift) */
    size_t cap_x, cap_labels;
    int cap_B;
    float *work; /* scratch: the utterance being made, twice */
    size_t cap_work;
    double *speed, *warp; /* (cap_B) factors drawn for each utterance of the last fill */
} tdata_batch;

/* How a batch's features are made from the cached raw MFCC, per utterance and in this order:
 *   1. speaker and speed variety (training only, when fe != NULL and vtlp or speed > 0): a warp
 *      factor a ~ U[1-vtlp, 1+vtlp] and a speed factor s ~ U[1-speed, 1+speed] drawn from
 *      (seed, item index); frames are resampled in time (frame j of the result is frame j*s of the
 *      original, linearly interpolated: s times faster speech) and warped in frequency by
 *      mfcc_warp_matrix(a * s) (the filterbank warp that speed s also causes). The speed is set to 1
 *      when the shortened utterance would have too few frames for its CTC labels;
 *   2. normalisation with the model's cmvn (frontend/cmvn.c: a fresh stream per utterance, exactly
 *      what asrd computes for a stream that starts with this utterance);
 *   3. stacking (stack frames every stride) and zero padding to the batch's longest utterance. */
typedef struct tdata_feat {
    const float *mean, *std; /* (n_feat) global statistics */
    cmvn_params cmvn;
    int stack, stride;
    double frame_shift_s;
    const mfcc *fe;     /* the frontend (for warp matrices); NULL: no speed/VTLP variety */
    double vtlp, speed; /* half-widths of the factor ranges; 0: off */
    uint64_t seed;      /* augmentation seed of this batch */
} tdata_feat;

/* Makes the features of items[0..n) (see tdata_feat) into b, growing its buffers. Utterances with
 * n_out == 0 get lens 0. */
asr_status tdata_batch_fill(tdata_batch *b, tdata_set *const *sets, const tdata_item *items, int n,
                            const tdata_feat *f, asr_error *err);
void tdata_batch_free(tdata_batch *b);

/* SpecAugment on a filled batch: per utterance, `time_masks` masks of width U[0, time_width]
 * network frames and `freq_masks` masks of width U[0, freq_width] MFCC coefficients (masked in
 * every stacked copy), set to 0 (the mean after normalisation). Random from `seed`. */
void tdata_specaugment(tdata_batch *b, int n_feat, int time_masks, int time_width, int freq_masks,
                       int freq_width, uint64_t seed);

/* Combines the sets' statistics (weighted by weights[i], NULL: 1 each) into mean/std (n_feat);
 * std floored at 1e-3. */
asr_status tdata_stats(tdata_set *const *sets, const double *weights, int n_sets, float *mean, float *std,
                       asr_error *err);

/* Deterministic 64-bit mixing (splitmix64 finaliser) for deriving seeds. */
uint64_t tdata_mix(uint64_t a, uint64_t b);

/* mkdir -p: creates path and its missing parents (mode 0777 less umask). 0, or -1 (an empty path,
 * one of PATH_MAX bytes or more, or mkdir failed: errno). */
int tdata_mkdirs(const char *path);

#endif
