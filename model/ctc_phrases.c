/* ctc_phrases.c - a client's phrase list as a closed-vocabulary LM and its trie (see ctc_beam.h:
 * ctc_phrases_build): the phrases normalised as transcripts are, a unigram LM of their words
 * (asr_lm_from_words), and the vocabulary trie of that LM.
 */
#include "ctc_beam.h"
#include "text.h"

#include <stdlib.h>

asr_status ctc_phrases_build(const char *const *phrases, int n_phrases, const char *alphabet, int n_labels,
                             asr_lm **lm, ctc_lexicon **lx, asr_error *err)
{
    asr_status st = ASR_ERR_NOMEM;
    char **norm = calloc((size_t)(n_phrases > 0 ? n_phrases : 1), sizeof *norm);
    *lm = NULL;
    *lx = NULL;
    if (!norm) {
        asr_error_set(err, st, "phrase list: out of memory");
        goto fail;
    }
    for (int i = 0; i < n_phrases; i++) {
        norm[i] = asr_text_normalize(phrases[i]);
        if (!norm[i]) {
            asr_error_set(err, st, "phrase list: out of memory");
            goto fail;
        }
    }
    *lm = asr_lm_from_words((const char *const *)norm, n_phrases, err);
    if (!*lm)
        goto fail_code;
    *lx = ctc_lexicon_create(*lm, alphabet, n_labels, err);
    if (!*lx)
        goto fail_code;
    for (int i = 0; i < n_phrases; i++)
        free(norm[i]);
    free(norm);
    return ASR_OK;
fail_code:
    st = err ? err->code : ASR_ERR_ARG;
fail:
    if (norm)
        for (int i = 0; i < n_phrases; i++)
            free(norm[i]);
    free(norm);
    ctc_lexicon_destroy(*lx);
    asr_lm_free(*lm);
    *lm = NULL;
    *lx = NULL;
    return st;
}
