/* lm_query.h - what the LM harnesses do with a model the loader accepted: every query the decoder
 * makes (words, ids, lookups, back-off scores), over the first words of the vocabulary, so that an
 * offset or id the loader let through is read, and ASan sees it if it points outside the image.
 * strict: every listed word is found again by asr_lm_word_id (true of every model asrd builds;
 * a binary image whose word hash table was altered loads all the same, the loader checks its
 * entries' range, not that each word is in it, so such a word is merely unknown to queries). */
#ifndef ASRD_FUZZ_LM_QUERY_H
#define ASRD_FUZZ_LM_QUERY_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/lm.h"

static void fuzz_lm_query(const asr_lm *lm, int strict)
{
    int order = asr_lm_order(lm);
    uint32_t n = asr_lm_vocab_size(lm);
    if (order < 1 || order > ASR_LM_MAX_ORDER || n == 0)
        abort();
    uint32_t special[3] = {asr_lm_bos(lm), asr_lm_eos(lm), asr_lm_unk(lm)};
    for (int i = 0; i < 3; i++)
        if (special[i] != ASR_LM_NONE && special[i] >= n)
            abort();
    for (int k = 1; k <= order; k++)
        (void)asr_lm_count(lm, k);
    uint32_t lim = n < 64 ? n : 64;
    uint32_t ctx[ASR_LM_MAX_ORDER + 1];
    for (uint32_t i = 0; i < lim; i++) {
        const char *w = asr_lm_word(lm, i);
        size_t len = strlen(w);
        uint32_t id = asr_lm_word_id(lm, w, len);
        if (id == ASR_LM_NONE ? strict : (id >= n || strcmp(asr_lm_word(lm, id), w) != 0))
            abort(); /* a listed word is found again (duplicates resolve to one of their ids) */
        for (int c = 0; c <= ASR_LM_MAX_ORDER; c++)
            ctx[c] = (i * 7u + (uint32_t)c * 13u) % n;
        float logp, bow;
        for (int c = 0; c <= order + 1 && c <= ASR_LM_MAX_ORDER; c++) {
            float s = asr_lm_score(lm, ctx, c, i);
            if (strict && isnan(s))
                abort(); /* a binary image's tables hold any bits (asr_lm_verify's business) */
        }
        for (int k = 1; k <= order; k++) {
            ctx[k - 1] = i;
            (void)asr_lm_lookup(lm, ctx, k, &logp, &bow);
        }
    }
    (void)asr_lm_word_id(lm, "", 0);
    (void)asr_lm_word_id(lm, "zzz-not-a-word", 14);
}

#endif
