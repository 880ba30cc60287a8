/* asr_decoder.c - one interface over both decoders (see ctc_beam.h: asr_decoder): greedy CTC
 * (ctc_decoder.c) or prefix beam search (ctc_beam.c), chosen once per stream.
 */
#include "ctc_beam.h"

#include <string.h>

asr_status asr_decoder_init(asr_decoder *d, asr_decoder_kind kind, const char *alphabet, int n_labels,
                            double frame_ms, const ctc_beam_params *p, const asr_lm *lm,
                            const ctc_lexicon *lex, asr_error *err)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    if (kind == ASR_DECODER_GREEDY)
        d->greedy = ctc_greedy_create(alphabet, n_labels, frame_ms, err);
    else
        d->beam = ctc_beam_create(alphabet, n_labels, frame_ms, p, lm, lex, err);
    if (!d->greedy && !d->beam)
        return err ? err->code : ASR_ERR_ARG;
    return ASR_OK;
}

void asr_decoder_free(asr_decoder *d)
{
    if (!d)
        return;
    ctc_greedy_destroy(d->greedy);
    ctc_beam_destroy(d->beam);
    d->greedy = NULL;
    d->beam = NULL;
}

void asr_decoder_push(asr_decoder *d, const float *logprobs)
{
    if (d->kind == ASR_DECODER_GREEDY)
        ctc_greedy_push(d->greedy, logprobs);
    else
        ctc_beam_push(d->beam, logprobs);
}

const char *asr_decoder_partial(asr_decoder *d)
{
    return d->kind == ASR_DECODER_GREEDY ? ctc_greedy_partial(d->greedy) : ctc_beam_partial(d->beam);
}

asr_status asr_decoder_final(asr_decoder *d, asr_result *out)
{
    return d->kind == ASR_DECODER_GREEDY ? ctc_greedy_final(d->greedy, out) : ctc_beam_final(d->beam, out);
}

void asr_decoder_reset(asr_decoder *d)
{
    if (d->kind == ASR_DECODER_GREEDY)
        ctc_greedy_reset(d->greedy);
    else
        ctc_beam_reset(d->beam);
}
