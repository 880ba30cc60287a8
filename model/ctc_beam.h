/* ctc_beam.h - streaming CTC prefix beam search with a word n-gram LM and a vocabulary trie.
 *
 * The same streaming shape as ctc_greedy (push a frame, read a partial, take a final with word
 * times and confidences), so callers switch decoders without other changes (see asr_decoder below).
 *
 * Search. Hypotheses are label prefixes (a tree of nodes shared between hypotheses). Per frame,
 * every kept prefix is carried forward by blank and by repeating its last label, and extended by
 * each label whose posterior is at least char_prune (at most max_chars labels, the frame's argmax
 * always tried); paths into the same prefix are merged (log-sum-exp, or max with viterbi = 1);
 * the best `beam` prefixes by acoustic + LM score survive, and those more than beam_delta below the
 * best are dropped. Cost per frame is O(beam * max_chars) whatever the utterance length.
 * Extensions that provably cannot survive the frame are never built, the survivors are picked by
 * top-k selection and LM scores are cached (see ctc_beam.c): results are exactly those of the
 * plain search (ctc_beam_set_reference, tested).
 *
 * Words. Space (' ') separates words. When a prefix closes a word (a space after a letter, or the
 * end of the utterance) the score gains lm_weight * ln(10) * log10 p(word | previous words) +
 * word_bonus; an out-of-vocabulary word (open vocabulary) gains word_bonus (plus lm_weight * the
 * LM's <unk> score when it has one) and becomes <unk> (or clears the context) for the words after
 * it. The vocabulary trie (ctc_lexicon, built from the LM's words spelt in the alphabet) tells
 * when a partial word leaves the vocabulary: at that frame closed-vocabulary search drops the
 * prefix, and open-vocabulary search charges it unk_penalty, once, so that non-word partials do
 * not score as well as real-word ones and crowd them out of the beam. A word that closes as a
 * prefix of vocabulary words without being one (never left the trie) is charged unk_penalty at
 * its close instead. Either way an out-of-vocabulary word pays unk_penalty exactly once. At the
 * end, </s> is scored (use_eos). Scores of spaces before any word, or of a space after a space,
 * go to the prefix unchanged (no empty words).
 *
 * Results. A word spans from the first frame of its first label to the last frame of its last
 * label (frames where that label kept winning over blank on the hypothesis' own path); its
 * confidence is the mean posterior of its labels over those emitting frames, as ctc_greedy
 * defines it. With beam = 1, viterbi = 1 and no LM the search is greedy decoding (tested).
 * Partials are the best hypothesis so far (ctc_beam_partial); a word already followed by a space
 * in a partial rarely changes, because the LM score it earned is part of every extension.
 *
 * Thread safety: an asr_lm and a ctc_lexicon are immutable and may be shared by any number of
 * decoders and threads; a ctc_beam belongs to one thread at a time.
 */
#ifndef ASR_CTC_BEAM_H
#define ASR_CTC_BEAM_H

#include "../frontend/asr_util.h"
#include "ctc_decoder.h"
#include "lm.h"

typedef struct ctc_beam_params {
    int beam;           /* hypotheses kept per frame, >= 1 */
    float char_prune;   /* labels with posterior below this are not tried (0..1; argmax always is) */
    int max_chars;      /* at most this many labels tried per hypothesis and frame, >= 1 */
    float beam_delta;   /* drop hypotheses more than this (natural log) below the best; 0 = off */
    float lm_weight;    /* weight of the LM's natural-log probability */
    float word_bonus;   /* added (natural log) per word */
    float unk_penalty;  /* added per out-of-vocabulary word (open vocabulary) */
    float lm_lookahead; /* LM lookahead (>= 0; 0 = off): a partial word in the vocabulary scores
                         * lm_lookahead x lm_weight x the log of its likeliest completion's unigram
                         * probability relative to the likeliest word's, replaced by the word's
                         * real LM score when it closes; needs an LM, ignored with lm_weight <= 0 */
    int closed_vocab;   /* 1: only words of the lexicon can be output */
    int use_eos;        /* 1: score </s> at the end of an utterance */
    int viterbi;        /* 1: merge paths by max instead of sum (beam 1 + no LM == greedy) */
} ctc_beam_params;

/* beam 64, char_prune 1e-3, max_chars 8, beam_delta 12, lm_weight 0.8, word_bonus 2,
 * unk_penalty -20, lm_lookahead 0.3 (chosen on the five dev sets, model/README.md), open vocabulary,
 * use_eos, log-sum-exp. beam/word_bonus/unk_penalty are the values
 * model/recipe/tune_lm.sh chose on dev; lm_weight is retuned on the five dev sets with the CMU LM for
 * each shipped model (model/README.md, Accuracy). The one place
 * these defaults live: `asrd --batch`, the daemon's configuration and its flags all start here. */
ctc_beam_params ctc_beam_default_params(void);

/* ---- vocabulary trie ---- */

typedef struct ctc_lexicon ctc_lexicon;

/* Trie of every LM word spelt entirely in the alphabet's letters (labels other than space);
 * other words (<s>, </s>, <unk>, digits, capitals) are left out. lm must outlive the lexicon.
 * NULL with *err if no word is spellable or memory runs out. */
ctc_lexicon *ctc_lexicon_create(const asr_lm *lm, const char *alphabet, int n_labels, asr_error *err);
void ctc_lexicon_destroy(ctc_lexicon *lx);
/* Words in the trie. */
int ctc_lexicon_words(const ctc_lexicon *lx);

/* For the daemon's phrase_list / grammar: a closed vocabulary and a uniform unigram LM over the
 * words of the phrases (each phrase is normalised with asr_text_normalize). On success *lm and
 * *lx are new (caller destroys both, lexicon first); use them with closed_vocab = 1. */
asr_status ctc_phrases_build(const char *const *phrases, int n_phrases, const char *alphabet, int n_labels,
                             asr_lm **lm, ctc_lexicon **lx, asr_error *err);

/* ---- decoder ---- */

typedef struct ctc_beam ctc_beam;

/* alphabet/n_labels/frame_ms as ctc_greedy_create; lm and lex may both be NULL (acoustic-only
 * beam search) or both given (lex built from lm); both must outlive the decoder. NULL with *err on
 * bad arguments or no memory. */
ctc_beam *ctc_beam_create(const char *alphabet, int n_labels, double frame_ms, const ctc_beam_params *p,
                          const asr_lm *lm, const ctc_lexicon *lex, asr_error *err);
void ctc_beam_destroy(ctc_beam *d);

/* Consumes one frame of log-probabilities (n_labels floats). Memory failures are remembered and
 * reported by the next ctc_beam_final. */
void ctc_beam_push(ctc_beam *d, const float *logprobs);

/* Frames consumed since create/reset. */
long ctc_beam_frames(const ctc_beam *d);

/* For tests: on = 1 runs the plain search (no score pruning, a full sort of the candidates, no
 * LM score cache) that the default, faster search must match exactly; 0 (the default) is the
 * fast one. Takes effect from the next frame. */
void ctc_beam_set_reference(ctc_beam *d, int on);

/* The best hypothesis of the current utterance (owned by the decoder, valid until the next call). */
const char *ctc_beam_partial(ctc_beam *d);

/* Ends the utterance (closes the last word, scores </s>), fills *out (caller frees with
 * asr_result_free) and starts a new utterance; time keeps running. ASR_ERR_NOMEM if memory ran
 * out (out empty, new utterance started). */
asr_status ctc_beam_final(ctc_beam *d, asr_result *out);

/* Forgets everything, time back to 0. */
void ctc_beam_reset(ctc_beam *d);

/* ---- one interface over both decoders ---- */

typedef enum asr_decoder_kind { ASR_DECODER_GREEDY, ASR_DECODER_BEAM } asr_decoder_kind;

typedef struct asr_decoder {
    asr_decoder_kind kind;
    ctc_greedy *greedy; /* kind == GREEDY */
    ctc_beam *beam;     /* kind == BEAM */
} asr_decoder;

/* Creates the decoder of the given kind (p, lm, lex are used by beam only). */
asr_status asr_decoder_init(asr_decoder *d, asr_decoder_kind kind, const char *alphabet, int n_labels,
                            double frame_ms, const ctc_beam_params *p, const asr_lm *lm,
                            const ctc_lexicon *lex, asr_error *err);
void asr_decoder_free(asr_decoder *d);
void asr_decoder_push(asr_decoder *d, const float *logprobs);
const char *asr_decoder_partial(asr_decoder *d);
asr_status asr_decoder_final(asr_decoder *d, asr_result *out);
void asr_decoder_reset(asr_decoder *d);

#endif
