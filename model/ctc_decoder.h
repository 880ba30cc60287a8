/* ctc_decoder.h - streaming CTC greedy decoding with word times and confidences.
 *
 * Per frame: argmax label; a label equal to the previous frame's label is a repeat and is
 * collapsed; blanks (label 0) are dropped and separate genuine repeats ("l _ l" -> "ll").
 * The hypothesis grows by appending; the cost per frame is constant (nothing is re-decoded).
 * Frames are the only input, so how the audio was chunked never changes the result.
 *
 * Words are runs of labels between space labels. A word starts at the first frame of its first
 * label and ends at the end of the last frame of its last label (repeated frames of that label
 * included); blank frames around or inside a word do not extend it. Its confidence is the mean,
 * over the word's emitting frames (every frame whose argmax is one of the word's labels, repeats
 * included), of the maximum posterior exp(max logprob).
 *
 * Thread safety: one decoder per stream, owned by one thread at a time.
 */
#ifndef ASR_CTC_DECODER_H
#define ASR_CTC_DECODER_H

#include "../frontend/asr_util.h"

typedef struct asr_word {
    char *word;
    double start_ms; /* from the stream's start (first frame of the word's first label) */
    double end_ms;   /* end of the word's last label frame */
    float conf;      /* 0..1 */
} asr_word;

typedef struct asr_result {
    char *text; /* words joined by single spaces, "" when nothing was heard */
    int n_words;
    asr_word *words;
} asr_result;

/* Frees what r holds and zeroes it; NULL-safe. */
void asr_result_free(asr_result *r);

typedef struct ctc_greedy ctc_greedy;

/* alphabet: labels 1..n_labels-1 as bytes (' ' = word separator), n_labels <= ASR_MAX_LABELS + 1;
 * frame_ms: output frame length. NULL with *err filled on bad arguments or no memory. */
ctc_greedy *ctc_greedy_create(const char *alphabet, int n_labels, double frame_ms, asr_error *err);
void ctc_greedy_destroy(ctc_greedy *d);

/* Consumes one frame of log-probabilities (n_labels floats). Ties pick the lower label. If a
 * buffer cannot grow, the failure is remembered and reported by the next ctc_greedy_final. */
void ctc_greedy_push(ctc_greedy *d, const float *logprobs);

/* Frames consumed since create/reset. */
long ctc_greedy_frames(const ctc_greedy *d);

/* The current utterance's hypothesis so far (owned by the decoder, valid until the next call). */
const char *ctc_greedy_partial(const ctc_greedy *d);

/* Ends the current utterance: fills *out (caller frees with asr_result_free) and starts a new
 * utterance; time keeps running from the stream's start, and the first frame of the new utterance
 * never counts as a repeat of the old one's last label. Returns ASR_ERR_NOMEM (out empty, new
 * utterance started) if memory ran out here or in an earlier push. */
asr_status ctc_greedy_final(ctc_greedy *d, asr_result *out);

/* Forgets everything, time back to 0. */
void ctc_greedy_reset(ctc_greedy *d);

#endif
