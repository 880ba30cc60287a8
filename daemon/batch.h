/* batch.h - `asrd --batch`: transcribe files (or a manifest of files with references) with one
 * model, in input order, optionally on several threads each stepping several files together,
 * optionally scoring WER/CER.
 *
 * Thread safety: batch_run creates and joins its own worker threads; the model is shared read-only.
 * Everything else is reentrant.
 */
#ifndef ASRD_BATCH_H
#define ASRD_BATCH_H

#include <stdio.h>

#include "../frontend/asr_util.h"
#include "../model/asr_model.h"
#include "../model/ctc_beam.h"
#include "../model/ctc_decoder.h"
#include "output.h"

/* One input: what to print, what to open, and the reference transcript (NULL if none). */
typedef struct batch_item {
    const char *path; /* as given on the command line or written in the manifest */
    const char *file; /* what is opened ("-" = standard input): path resolved against the manifest */
    const char *ref;  /* reference transcript (un-normalised), or NULL */
} batch_item;

typedef struct batch_options {
    output_format format;
    int with_path;            /* text format: prefix each line with "path<TAB>" */
    int threads;              /* worker threads (>= 1); output order is input order regardless */
    int streams;              /* files in flight per thread, their network steps batched (>= 1) */
    int progress;             /* draw a progress bar on the error stream (caller checks isatty) */
    int score;                /* after the transcripts, print the WER/CER summary line (items need refs) */
    double block_sec;         /* audio read per step (seconds) */
    asr_decoder_kind decoder; /* greedy or beam */
    int decoder_set;          /* --decoder was given (then --lm does not switch to beam) */
    ctc_beam_params beam;     /* beam search parameters (decoder == beam) */
    const char *lm_path;      /* ARPA or binary LM for the beam decoder, or NULL (no LM) */
    asr_precision precision; /* for the caller's asr_model_set_precision (batch_run takes the model as set) */
} batch_options;

/* text, no path prefix, 1 thread, 8 streams, no progress bar, no scoring, 0.5 s blocks, greedy decoder,
 * ctc_beam_default_params(), no LM, ASR_PRECISION_DEFAULT. */
batch_options batch_default_options(void);

/* Decoder options of `asrd --batch`, in this order (asrd_main maps its long options onto them). */
typedef enum batch_decoder_opt {
    BATCH_OPT_DECODER,     /* --decoder greedy|beam */
    BATCH_OPT_LM,          /* --lm PATH (implies --decoder beam unless --decoder was given) */
    BATCH_OPT_BEAM,        /* --beam N */
    BATCH_OPT_LM_WEIGHT,   /* --lm-weight X */
    BATCH_OPT_WORD_BONUS,  /* --word-bonus X */
    BATCH_OPT_UNK_PENALTY, /* --unk-penalty X */
    BATCH_OPT_CLOSED,      /* --closed-vocab (no value) */
    BATCH_OPT_LOOKAHEAD,   /* --lm-lookahead X */
} batch_decoder_opt;

/* Applies one decoder option (value NULL for flags); ASR_ERR_ARG with *err saying what is wrong. */
asr_status batch_decoder_option(batch_options *o, batch_decoder_opt opt, const char *value, asr_error *err);

/* `asrd --lm-convert IN OUT`: reads an ARPA (or binary) LM and writes the binary image. */
asr_status batch_lm_convert(const char *in, const char *out, asr_error *err);

/* `asrd --check`: loads the model (its checksum is always verified) and, when lm_path is not NULL,
 * the LM with its payload checksum (asr_lm_verify) and the vocabulary trie the decoder would
 * build. One "PATH: ok (...)" line per file on out, or "asrd: error: PATH: reason" on errf.
 * Returns the exit status: 0 both sound, 1 otherwise. */
int batch_check(const char *model_path, const char *lm_path, FILE *out, FILE *errf);

/* A manifest: lines "path<TAB>reference" (a line without a TAB has an empty reference; empty
 * lines are skipped); relative paths are resolved against the manifest's directory. */
typedef struct batch_manifest {
    int n;
    batch_item *items; /* (n) pointing into storage owned by the manifest */
    char **strings;    /* (n_strings) owned strings */
    int n_strings;
} batch_manifest;

/* Reads a manifest; on failure *err names the file (and line). */
asr_status batch_manifest_read(const char *path, batch_manifest *m, asr_error *err);
void batch_manifest_free(batch_manifest *m);

/* Totals for --score: edits and reference lengths summed over the items, after asr_text_normalize
 * of reference and hypothesis; a failed file counts as an empty hypothesis. */
typedef struct batch_score {
    long word_edits, words;
    long char_edits, chars;
    int failed;
} batch_score;

/* Transcribes every item with model m (loading o->lm_path once and sharing it between threads), writing
 * transcripts to out in item order and one line "asrd: error: PATH: reason" per failed file to errf (the
 * other files continue). With o->score, appends "WER x.xx% (edits/words) CER y.yy% (edits/chars)" to out and
 * fills *score if not NULL. Returns the number of failed files (>= 0), or -1 with *err filled if nothing
 * could run (no memory, threads could not start, output write error, "-" listed more than once). */
int batch_run(const asr_model *m, const batch_item *items, int n, const batch_options *o, FILE *out,
              FILE *errf, batch_score *score, asr_error *err);

#endif
