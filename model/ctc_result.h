/* ctc_result.h - internal to the decoders (ctc_decoder.c, ctc_beam.c): one way to turn a decoded
 * utterance (its text and the spans of its words) into an asr_result, so greedy and beam search
 * report word times and confidences by the same rule (see ctc_decoder.h). Not a public API.
 *
 * Thread safety: reentrant.
 */
#ifndef ASR_CTC_RESULT_H
#define ASR_CTC_RESULT_H

#include "ctc_decoder.h"

#include <stddef.h>

/* One word of a decoded utterance. */
typedef struct ctc_word_span {
    size_t off, len;  /* bytes of the word in the utterance text */
    long first, last; /* frame indices (from the stream's start) of its first and last label frames */
    double conf_sum;  /* sum of max posteriors over the word's emitting frames */
    long conf_n;      /* number of those frames (>= 1) */
} ctc_word_span;

/* Fills *out with a copy of text and one asr_word per span: start = first * frame_ms, end =
 * (last + 1) * frame_ms, conf = conf_sum / conf_n. ASR_ERR_NOMEM leaves *out empty. */
asr_status ctc_result_make(asr_result *out, const char *text, const ctc_word_span *words, int n_words,
                           double frame_ms);

#endif
