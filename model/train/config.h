/* config.h - the trainer's configuration, read from YAML (libyaml).
 *
 * Every key is optional (defaults from tcfg_default) except data.train; unknown keys, wrong types
 * and out-of-range values are errors reported as "file:line:column: message" (1-based). Strings
 * naming files expand environment variables ($VAR, ${VAR}, ${VAR:-default}); train and dev
 * manifest paths may be globs (sorted matches; a pattern matching nothing is an error). Relative
 * paths stay relative to the working directory (the recipe runs from the repository root).
 *
 * Layout (see configs/train-default.yaml for a commented example):
 *   data:     train: [{path: P, repeat: R} | P, ...]   dev: [P, ...]   cache_dir: D
 *             max_utt_seconds: S   max_utts: N   log_hyps: bool
 *   features: stack: 3   stride: 3   mfcc: {num_mel_bins, num_ceps, low_freq, high_freq, ...}
 *             cmvn: {mode: global|online, prior_frames, window, norm_vars} (default global)
 *   model:    type: gru|lstm   layers: 3   hidden: 320   dropout: 0 (training only: layer outputs)
 *             aux_phone: {weight: 0.3, dict: FILE} (training only: a phone CTC head beside the
 *             character one, targets from a CMU-format pronouncing dictionary; absent: none)
 *   optim:    lr, beta1, beta2, eps, weight_decay, clip, warmup, schedule: constant|cosine|
 *             exponential, min_lr, decay_updates, decay_rate, anneal_start
 *   batch:    size: 32   max_frames: 0
 *   augment:  time_masks, time_mask_width, freq_masks, freq_mask_width, vtlp, speed
 *   epochs, max_updates, max_hours, eval_every, log_every, checkpoint_minutes, threads, seed,
 *   outdir, best_metric: wer|cer|wer_lm, init_model: MODEL (start from a model's weights and feature
 *   statistics instead of random ones: fine-tuning; its architecture must equal the config's),
 *   eval_lm: LM (each evaluation also decodes the dev sets with asrd's shipped beam search,
 *   ctc_beam_default_params(), and this word LM; best_metric wer_lm picks best.model by it)
 *
 * Thread safety: functions are reentrant; a tcfg belongs to its caller.
 */
#ifndef ASR_TRAIN_CONFIG_H
#define ASR_TRAIN_CONFIG_H

#include "../../frontend/asr_util.h"
#include "../../frontend/cmvn.h"
#include "../../frontend/mfcc.h"
#include "../nn.h"

typedef enum tcfg_schedule {
    TCFG_SCHED_CONSTANT = 0,
    TCFG_SCHED_COSINE,
    TCFG_SCHED_EXPONENTIAL
} tcfg_schedule;

typedef struct tcfg_manifest {
    char *path;    /* expanded path of one manifest */
    double repeat; /* copies per epoch; a fraction f adds one more copy of each utterance with
                      probability f (drawn per epoch from the seed) */
} tcfg_manifest;

typedef struct tcfg {
    char *source; /* the config file's name, for messages */

    /* data */
    tcfg_manifest *train;
    int n_train;
    char **dev;
    int n_dev;
    char *cache_dir;        /* feature caches: <cache_dir>/<hash>.feats */
    double max_utt_seconds; /* training utterances longer than this are skipped; 0: no limit */
    int max_utts;           /* use at most this many utterances per manifest (tests); 0: all */
    int log_hyps;           /* write every dev hypothesis to OUTDIR/dev-<name>.hyp.tsv */

    /* features */
    mfcc_params mfcc;
    int stack, stride;
    cmvn_params cmvn; /* stored in the model; the trainer normalises each utterance with it */

    /* model */
    nn_layer_type type;
    int layers, hidden;
    double dropout; /* probability of dropping each layer output element in training (tnet_set_dropout) */
    char *aux_phone_dict;    /* pronouncing dictionary of the auxiliary phone CTC head; NULL: no head */
    double aux_phone_weight; /* weight of the phone CTC loss in the total (> 0 when the dict is set) */

    /* optimiser */
    double lr, beta1, beta2, eps, weight_decay, clip, min_lr, decay_rate;
    long warmup, decay_updates;
    long anneal_start; /* > 0: after this update, cosine from the schedule's lr there to min_lr at max_updates
                        */
    tcfg_schedule schedule;

    /* batching and augmentation */
    int batch_size;                  /* utterances per batch */
    long max_frames;                 /* cap on B * T_max (network frames) per batch; 0: none */
    int time_masks, time_mask_width; /* masks over network input frames (after stacking) */
    int freq_masks, freq_mask_width; /* masks over MFCC coefficients (all stacked copies) */
    double vtlp;  /* per utterance and epoch, a mel-filterbank warp factor from U[1-vtlp, 1+vtlp]; 0: off */
    double speed; /* per utterance and epoch, a speed factor from U[1-speed, 1+speed] (frames resampled
                     in time and the filterbank warped by the same factor); 0: off */

    /* run */
    int epochs;
    long max_updates; /* 0: no limit */
    double max_hours; /* wall-clock limit of one invocation; 0: none */
    long eval_every;  /* updates between dev evaluations; 0: at each epoch end */
    long log_every;   /* updates between log lines */
    double checkpoint_minutes;
    int threads;
    unsigned long long seed;
    char *outdir;
    char *init_model; /* NULL: random initial weights */
    int best_metric;  /* best.model by mean dev: TCFG_BEST_WER, _CER, or _WER_LM (needs eval_lm) */
    char *eval_lm;    /* NULL: greedy evaluation only */
} tcfg;

enum { TCFG_BEST_WER, TCFG_BEST_CER, TCFG_BEST_WER_LM };

/* Defaults: the values of configs/train-default.yaml except data. */
void tcfg_default(tcfg *c);

/* Parses YAML text; `name` is the file name used in messages. On error *c is left freed/zeroed. */
asr_status tcfg_parse(const char *text, size_t len, const char *name, tcfg *c, asr_error *err);

/* Reads and parses a YAML file. */
asr_status tcfg_load(const char *path, tcfg *c, asr_error *err);

/* Frees everything tcfg_parse allocated; NULL-safe; leaves c zeroed. */
void tcfg_free(tcfg *c);

/* Expands $VAR, ${VAR} and ${VAR:-default} in s. Returns a malloc'd string (caller frees) or NULL
 * on allocation failure or an unterminated "${" (*bad set to 1 then). */
char *tcfg_expand_env(const char *s, int *bad);

#endif
