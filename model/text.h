/* text.h - transcript normalisation and error rates.
 *
 * asr_text_normalize maps English text to the model alphabet (lowercase a-z, apostrophe, single
 * spaces): numbers, ordinals, years, currency and common abbreviations ("etc.", "Mr.", "St.") are
 * spelled out, other punctuation is removed, letters with diacritics lose them. The same function
 * normalises training targets (trainer), references and hypotheses (scoring).
 *
 * Thread safety: all functions are reentrant.
 */
#ifndef ASR_TEXT_H
#define ASR_TEXT_H

#include <stddef.h>

/* Returns a malloc'd normalised copy of text (caller frees), or NULL on allocation failure. */
char *asr_text_normalize(const char *text);

/* Levenshtein distance between ref and hyp counted in words (wer: whitespace-separated tokens) or
 * characters (cer: every character, words joined by single spaces, so spaces count). The strings
 * are compared as given: callers normalise both with asr_text_normalize first. O(n*m) time,
 * O(min(n, m)) memory; edits is -1 if memory runs out. */
typedef struct asr_errors {
    long edits;   /* substitutions + deletions + insertions */
    long ref_len; /* words or characters in the reference */
} asr_errors;

asr_errors asr_wer(const char *ref, const char *hyp);
asr_errors asr_cer(const char *ref, const char *hyp);

#endif
