/* ctc_decoder.c - streaming CTC greedy decoding (see ctc_decoder.h).
 *
 * State per utterance: an append-only text buffer (the partial hypothesis), the list of finished
 * words (offset into the text, frame span, confidence sums) and the word being spelled. One frame
 * costs one argmax over the labels plus O(1) bookkeeping; buffers grow geometrically, so the
 * amortised cost per frame is constant however long the stream runs.
 */
#include "ctc_decoder.h"

#include "ctc_result.h"
#include "model_file.h" /* ASR_MAX_LABELS */

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ctc_greedy {
    char labels[ASR_MAX_LABELS + 1]; /* labels[k] = byte of label k; labels[0] (blank) unused */
    int n_labels;
    double frame_ms;
    long t;     /* frames consumed since create/reset */
    int prev;   /* argmax of the previous frame, -1 at an utterance start */
    char *text; /* (text_cap) NUL-terminated partial hypothesis */
    size_t text_len, text_cap;
    ctc_word_span *words; /* (words_cap) finished words of the utterance */
    int n_words, words_cap;
    int in_word; /* 1 while a word is being spelled (cur is valid) */
    ctc_word_span cur;
    asr_status status; /* sticky: ASR_ERR_NOMEM if a push could not grow a buffer */
};

ctc_greedy *ctc_greedy_create(const char *alphabet, int n_labels, double frame_ms, asr_error *err)
{
    ctc_greedy *d = NULL;
    if (!alphabet || n_labels < 2 || n_labels > ASR_MAX_LABELS + 1 ||
        strlen(alphabet) != (size_t)(n_labels - 1) || !(frame_ms > 0)) {
        asr_error_set(err, ASR_ERR_ARG,
                      "ctc decoder: alphabet of %zu labels does not match n_labels %d - 1 "
                      "(or frame_ms %g <= 0)",
                      alphabet ? strlen(alphabet) : 0, n_labels, frame_ms);
        return NULL;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        goto fail;
    d->labels[0] = '\0';
    memcpy(d->labels + 1, alphabet, (size_t)n_labels - 1);
    d->n_labels = n_labels;
    d->frame_ms = frame_ms;
    d->text_cap = 256;
    d->text = malloc(d->text_cap);
    d->words_cap = 32;
    d->words = malloc((size_t)d->words_cap * sizeof *d->words);
    if (!d->text || !d->words)
        goto fail;
    ctc_greedy_reset(d);
    return d;
fail:
    ctc_greedy_destroy(d);
    asr_error_set(err, ASR_ERR_NOMEM, "ctc decoder: out of memory");
    return NULL;
}

void ctc_greedy_destroy(ctc_greedy *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->words);
    free(d);
}

/* Starts a new utterance without touching the clock. */
static void new_utterance(ctc_greedy *d)
{
    d->prev = -1;
    d->text_len = 0;
    d->text[0] = '\0';
    d->n_words = 0;
    d->in_word = 0;
}

void ctc_greedy_reset(ctc_greedy *d)
{
    d->t = 0;
    d->status = ASR_OK;
    new_utterance(d);
}

static int append_char(ctc_greedy *d, char c)
{
    if (d->text_len + 2 > d->text_cap) {
        size_t cap = d->text_cap * 2;
        char *p = realloc(d->text, cap);
        if (!p)
            return -1;
        d->text = p;
        d->text_cap = cap;
    }
    d->text[d->text_len++] = c;
    d->text[d->text_len] = '\0';
    return 0;
}

/* Moves the current word into the finished list. */
static void close_word(ctc_greedy *d)
{
    if (!d->in_word)
        return;
    if (d->n_words == d->words_cap) {
        int cap = d->words_cap * 2;
        ctc_word_span *p = realloc(d->words, (size_t)cap * sizeof *p);
        if (!p) {
            d->status = ASR_ERR_NOMEM;
            d->in_word = 0;
            return;
        }
        d->words = p;
        d->words_cap = cap;
    }
    d->words[d->n_words++] = d->cur;
    d->in_word = 0;
}

void ctc_greedy_push(ctc_greedy *d, const float *logprobs)
{
    int best = 0;
    float bestv = logprobs[0];
    for (int k = 1; k < d->n_labels; k++) {
        if (logprobs[k] > bestv) { /* ties and NaN keep the lower label */
            bestv = logprobs[k];
            best = k;
        }
    }
    long t = d->t++;
    int prev = d->prev;
    d->prev = best;
    if (best == 0)
        return; /* blank: emits nothing, but separates genuine repeats */
    char c = d->labels[best];
    if (best == prev) {
        /* A repeated frame of the label just emitted: extends the current word's span. */
        if (c != ' ' && d->in_word) {
            d->cur.last = t;
            d->cur.conf_sum += exp((double)bestv);
            d->cur.conf_n++;
        }
        return;
    }
    if (c == ' ') {
        close_word(d);
        return;
    }
    if (!d->in_word) {
        /* First label of a new word: a single space separates it from the previous one. */
        if (d->text_len > 0 && append_char(d, ' ') != 0)
            goto nomem;
        d->in_word = 1;
        d->cur.off = d->text_len;
        d->cur.len = 0;
        d->cur.first = t;
        d->cur.conf_sum = 0;
        d->cur.conf_n = 0;
    }
    if (append_char(d, c) != 0)
        goto nomem;
    d->cur.len++;
    d->cur.last = t;
    d->cur.conf_sum += exp((double)bestv);
    d->cur.conf_n++;
    return;
nomem:
    d->status = ASR_ERR_NOMEM;
}

const char *ctc_greedy_partial(const ctc_greedy *d)
{
    return d->text;
}

long ctc_greedy_frames(const ctc_greedy *d)
{
    return d->t;
}

void asr_result_free(asr_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_words; i++)
        free(r->words[i].word);
    free(r->words);
    free(r->text);
    memset(r, 0, sizeof *r);
}

asr_status ctc_result_make(asr_result *out, const char *text, const ctc_word_span *words, int n_words,
                           double frame_ms)
{
    memset(out, 0, sizeof *out);
    out->text = strdup(text);
    if (!out->text)
        goto fail;
    if (n_words > 0) {
        out->words = calloc((size_t)n_words, sizeof *out->words);
        if (!out->words)
            goto fail;
    }
    for (int i = 0; i < n_words; i++) {
        const ctc_word_span *w = &words[i];
        asr_word *o = &out->words[i];
        o->word = strndup(text + w->off, w->len);
        if (!o->word)
            goto fail;
        out->n_words = i + 1;
        o->start_ms = (double)w->first * frame_ms;
        o->end_ms = (double)(w->last + 1) * frame_ms;
        o->conf = (float)(w->conf_sum / (double)w->conf_n);
    }
    return ASR_OK;
fail:
    asr_result_free(out);
    return ASR_ERR_NOMEM;
}

asr_status ctc_greedy_final(ctc_greedy *d, asr_result *out)
{
    asr_status st = ASR_ERR_NOMEM;
    memset(out, 0, sizeof *out);
    close_word(d);
    if (d->status == ASR_OK)
        st = ctc_result_make(out, d->text, d->words, d->n_words, d->frame_ms);
    new_utterance(d);
    d->status = ASR_OK;
    return st;
}
