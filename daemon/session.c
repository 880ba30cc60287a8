/* session.c - sessions, their job/output queues and the recognition a worker runs (see session.h). */
#include "session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../proto/vosk.h"

static const char *const error_names[ERR_N_KINDS] = {
    "invalid_json",    "unknown_command",   "bad_config", "unsupported_rate",
    "message_too_big", "too_many_sessions", "auth",       "idle_timeout",
    "audio_cap",       "slow_subscriber",   "origin",     "address_limit",
    "internal",        "draining",
};

const char *hub_error_name(hub_error_kind k)
{
    return k < ERR_N_KINDS ? error_names[k] : "unknown";
}

asr_status hub_init(hub *h, const asr_model *m, const hub_params *p, asr_error *err)
{
    memset(h, 0, sizeof *h);
    h->model = m;
    h->params = *p;
    h->rate = asr_model_sample_rate(m);
    h->ready_cap = 64;
    h->ready = calloc(h->ready_cap, sizeof *h->ready);
    if (!h->ready)
        return asr_error_set(err, ASR_ERR_NOMEM, "hub: out of memory");
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    return ASR_OK;
}

static void session_free(session *s);

void hub_destroy(hub *h)
{
    if (!h->ready)
        return;
    while (h->dirty) { /* the references of sessions nobody served (shutdown) */
        session *s = h->dirty;
        h->dirty = s->dirty_next;
        s->dirty = 0;
        if (--s->refs == 0)
            session_free(s);
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h->ready);
    h->ready = NULL;
}

job *job_new(job_type t, size_t n)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->type = t;
    j->words = -1;
    if (t == JOB_AUDIO && n > 0) {
        j->samples = malloc(n * sizeof *j->samples);
        if (!j->samples) {
            free(j);
            return NULL;
        }
    }
    return j;
}

void job_free(job *j)
{
    if (j) {
        for (int i = 0; i < j->n_phrases; i++)
            free(j->phrases[i]);
        free(j->phrases);
        free(j->samples);
        free(j);
    }
}

void out_msg_free(out_msg *m)
{
    if (m) {
        free(m->text);
        free(m);
    }
}

session *session_create(hub *h, int is_mic, asr_error *err)
{
    session *s = calloc(1, sizeof *s);
    if (!s) {
        asr_error_set(err, ASR_ERR_NOMEM, "session: out of memory");
        return NULL;
    }
    s->h = h;
    s->refs = 1;
    s->is_mic = is_mic;
    s->client_rate = h->rate;
    s->words = 1; /* vosk-server's default (VOSK_SHOW_WORDS) */
    return s;
}

static void session_free(session *s)
{
    for (job *j = s->jobs, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    for (out_msg *m = s->out, *n; m; m = n) {
        n = m->next;
        out_msg_free(m);
    }
    audio_resampler_destroy(s->rs);
    free(s->rs_buf);
    asr_stream_destroy(s->stream);
    if (s->dec_ok)
        asr_decoder_free(&s->dec);
    ctc_lexicon_destroy(s->lex);
    asr_lm_free(s->lm);
    free(s->lp);
    free(s);
}

int hub_take_dirty(hub *h, session **out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&h->lock);
    while (n < cap && h->dirty) {
        session *s = h->dirty;
        h->dirty = s->dirty_next;
        s->dirty = 0; /* output from now on puts it back on the list */
        s->dirty_next = NULL;
        out[n++] = s;
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

void session_ref(session *s)
{
    pthread_mutex_lock(&s->h->lock);
    s->refs++;
    pthread_mutex_unlock(&s->h->lock);
}

void session_unref(session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->h->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->h->lock);
    if (last)
        session_free(s);
}

/* Puts s on the ready queue (hub lock held); grows the ring when full. */
static int schedule_locked(session *s)
{
    hub *h = s->h;
    if (s->scheduled)
        return 0;
    if (h->ready_n == h->ready_cap) {
        size_t cap = h->ready_cap * 2;
        session **r = malloc(cap * sizeof *r);
        if (!r)
            return -1;
        for (size_t i = 0; i < h->ready_n; i++)
            r[i] = h->ready[(h->ready_head + i) % h->ready_cap];
        free(h->ready);
        h->ready = r;
        h->ready_cap = cap;
        h->ready_head = 0;
    }
    h->ready[(h->ready_head + h->ready_n) % h->ready_cap] = s;
    h->ready_n++;
    s->scheduled = 1;
    s->refs++;
    pthread_cond_signal(&h->cond);
    return 0;
}

void session_push(session *s, job *j)
{
    hub *h = s->h;
    j->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (s->gone) {
        pthread_mutex_unlock(&h->lock);
        job_free(j);
        return;
    }
    if (s->jobs_tail)
        s->jobs_tail->next = j;
    else
        s->jobs = j;
    s->jobs_tail = j;
    s->queued_bytes += j->n * sizeof(float);
    h->jobs_queued++;
    if (schedule_locked(s) != 0)
        atomic_fetch_add(&h->stats.errors[ERR_INTERNAL], 1); /* stays queued: runs with the next push */
    pthread_mutex_unlock(&h->lock);
}

void session_close(session *s)
{
    hub *h = s->h;
    job *drop;
    pthread_mutex_lock(&h->lock);
    s->gone = 1;
    drop = s->jobs;
    for (job *j = drop; j; j = j->next)
        h->jobs_queued--;
    s->jobs = s->jobs_tail = NULL;
    s->queued_bytes = 0;
    s->user = NULL;
    pthread_mutex_unlock(&h->lock);
    for (job *n; drop; drop = n) {
        n = drop->next;
        job_free(drop);
    }
    session_unref(s);
}

out_msg *session_pop_out(session *s)
{
    pthread_mutex_lock(&s->h->lock);
    out_msg *m = s->out;
    if (m) {
        s->out = m->next;
        if (!s->out)
            s->out_tail = NULL;
        s->n_out--;
    }
    pthread_mutex_unlock(&s->h->lock);
    return m;
}

/* Appends to the output queue with the lock held. */
static void append_out_locked(session *s, out_msg *m)
{
    if (!s->dirty) {
        s->dirty = 1;
        s->refs++; /* the dirty list's reference */
        s->dirty_next = s->h->dirty;
        s->h->dirty = s;
    }
    m->next = NULL;
    if (s->out_tail)
        s->out_tail->next = m;
    else
        s->out = m;
    s->out_tail = m;
    s->n_out++;
}

static out_msg *make_out(char *text, int close_code, const char *reason)
{
    out_msg *m = calloc(1, sizeof *m);
    if (!m) {
        free(text);
        return NULL;
    }
    m->text = text;
    m->len = text ? strlen(text) : 0;
    m->close_code = close_code;
    snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "");
    return m;
}

int session_push_latest(session *s, char *text, int partial)
{
    out_msg *m = make_out(text, 0, NULL);
    out_msg *drop = NULL;
    pthread_mutex_lock(&s->h->lock);
    if (m)
        m->partial = partial;
    if (m && s->out_tail && s->out_tail->partial) { /* superseded: unlink the tail */
        drop = s->out_tail;
        out_msg **pp = &s->out;
        while (*pp != drop)
            pp = &(*pp)->next;
        *pp = NULL;
        s->out_tail = NULL;
        for (out_msg *q = s->out; q; q = q->next)
            s->out_tail = q;
        s->n_out--;
    }
    if (m && !s->gone)
        append_out_locked(s, m);
    else
        out_msg_free(m);
    int n = s->n_out;
    pthread_mutex_unlock(&s->h->lock);
    out_msg_free(drop);
    return n;
}

int session_drop_out(session *s)
{
    pthread_mutex_lock(&s->h->lock);
    out_msg *m = s->out;
    int n = s->n_out;
    s->out = s->out_tail = NULL;
    s->n_out = 0;
    pthread_mutex_unlock(&s->h->lock);
    for (out_msg *next; m; m = next) {
        next = m->next;
        out_msg_free(m);
    }
    return n;
}

void session_push_out(session *s, char *text, int close_code, const char *reason)
{
    out_msg *m = make_out(text, close_code, reason);
    if (!m)
        return;
    pthread_mutex_lock(&s->h->lock);
    if (s->gone)
        out_msg_free(m);
    else
        append_out_locked(s, m);
    pthread_mutex_unlock(&s->h->lock);
}

/* ---- recognition (worker) ---- */

/* Replies produced while running one job, handed over in one locked step. */
typedef struct out_list {
    out_msg *head, *tail;
} out_list;

static void emit(out_list *l, char *text, int close_code, const char *reason)
{
    if (!text && !close_code)
        return;
    out_msg *m = make_out(text, close_code, reason);
    if (!m)
        return;
    if (l->tail)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
}

static asr_status ensure_state(session *s, asr_error *err)
{
    const asr_model *m = s->h->model;
    if (!s->stream && !(s->stream = asr_stream_create(m, err)))
        return err->code;
    if (!s->dec_ok) {
        const hub_params *p = &s->h->params;
        if (asr_decoder_init(&s->dec, p->decoder, asr_model_alphabet(m), asr_model_n_out(m),
                             asr_model_frame_ms(m), &p->beam, p->lm, p->lex, err) != ASR_OK)
            return err->code;
        s->dec_ok = 1;
    }
    if (!s->lp && !(s->lp = malloc((size_t)asr_model_n_out(m) * sizeof *s->lp)))
        return asr_error_set(err, ASR_ERR_NOMEM, "session: out of memory");
    if (!s->rs && !(s->rs = audio_resampler_create(s->client_rate, s->h->rate, err)))
        return err->code;
    return ASR_OK;
}

/* Ends the utterance: the final result as Vosk formats it. */
static char *final_result(session *s)
{
    asr_result r = {0};
    if (asr_decoder_final(&s->dec, &r) != ASR_OK) {
        atomic_fetch_add(&s->h->stats.errors[ERR_INTERNAL], 1);
        return vosk_format_result("", NULL, 0, s->words);
    }
    vosk_word *w = r.n_words ? calloc((size_t)r.n_words, sizeof *w) : NULL;
    int n = w ? r.n_words : 0;
    for (int i = 0; i < n; i++)
        w[i] = (vosk_word){r.words[i].word, r.words[i].start_ms / 1000.0, r.words[i].end_ms / 1000.0,
                           r.words[i].conf};
    char *text = vosk_format_result(r.text ? r.text : "", w, n, s->words);
    free(w);
    asr_result_free(&r);
    s->utt_frames = 0;
    s->silence_frames = 0;
    atomic_fetch_add(&s->h->stats.results, 1);
    return text;
}

/* Frontend only: feeds model-rate samples to the stream; the network runs later (batched). */
static int feed_audio(session *s, const float *x, size_t n)
{
    if (n > 0 && asr_stream_feed(s->stream, x, n) != ASR_OK) {
        atomic_fetch_add(&s->h->stats.errors[ERR_INTERNAL], 1);
        return -1;
    }
    atomic_fetch_add(&s->h->stats.samples_in, (long long)n);
    return 0;
}

/* Decodes every output frame the stream has queued (endpointing included); returns the number of
 * results emitted (utterances ended). */
static int decode_frames(session *s, out_list *out)
{
    hub *h = s->h;
    int results = 0;
    double frame_ms = asr_model_frame_ms(h->model);
    float log_blank = h->params.blank_prob > 0 ? (float)log(h->params.blank_prob) : -INFINITY;
    while (asr_stream_pop(s->stream, s->lp)) {
        asr_decoder_push(&s->dec, s->lp);
        s->utt_frames++;
        if (s->lp[0] >= log_blank)
            s->silence_frames++;
        else
            s->silence_frames = 0;
        int end = 0;
        if (h->params.silence_ms > 0 && s->silence_frames * frame_ms >= h->params.silence_ms &&
            asr_decoder_partial(&s->dec)[0])
            end = 1;
        if (h->params.max_utterance_ms > 0 && s->utt_frames * frame_ms >= h->params.max_utterance_ms)
            end = 1;
        if (end) {
            emit(out, final_result(s), 0, NULL);
            results++;
        }
    }
    return results;
}

/* Feeds, runs the network for this session alone and decodes; returns the results emitted. */
static int feed(session *s, const float *x, size_t n, out_list *out, asr_batch *b)
{
    if (feed_audio(s, x, n) == 0 && asr_stream_run_batch(&s->stream, 1, b) != ASR_OK)
        atomic_fetch_add(&s->h->stats.errors[ERR_INTERNAL], 1);
    return decode_frames(s, out);
}

/* Switches the decoder: beam search over the phrases' closed vocabulary, or (n == 0) back to the
 * configured decoder. On failure the old decoder stays and the client gets an error message. */
static void set_phrases(session *s, char **phrases, int n, out_list *out)
{
    const asr_model *m = s->h->model;
    const hub_params *hp = &s->h->params;
    asr_error err = {ASR_OK, ""};
    asr_lm *lm = NULL;
    ctc_lexicon *lex = NULL;
    asr_decoder d;
    if (n > 0 && ctc_phrases_build((const char *const *)phrases, n, asr_model_alphabet(m), asr_model_n_out(m),
                                   &lm, &lex, &err) != ASR_OK)
        goto fail;
    /* The phrase list's search keeps the built-in parameters (its uniform LM is not the one the
     * configured weights were tuned for). */
    ctc_beam_params bp = ctc_beam_default_params();
    bp.closed_vocab = 1;
    asr_status st = n > 0 ? asr_decoder_init(&d, ASR_DECODER_BEAM, asr_model_alphabet(m), asr_model_n_out(m),
                                             asr_model_frame_ms(m), &bp, lm, lex, &err)
                          : asr_decoder_init(&d, hp->decoder, asr_model_alphabet(m), asr_model_n_out(m),
                                             asr_model_frame_ms(m), &hp->beam, hp->lm, hp->lex, &err);
    if (st != ASR_OK)
        goto fail;
    if (s->dec_ok)
        asr_decoder_free(&s->dec);
    ctc_lexicon_destroy(s->lex);
    asr_lm_free(s->lm);
    s->dec = d;
    s->dec_ok = 1;
    s->lm = lm;
    s->lex = lex;
    asr_log(ASR_LOG_DEBUG, "session: %s",
            n > 0 ? "phrase list: closed-vocabulary beam search" : "configured decoder");
    return;
fail:
    ctc_lexicon_destroy(lex);
    asr_lm_free(lm);
    atomic_fetch_add(&s->h->stats.errors[ERR_BAD_CONFIG], 1);
    emit(out, vosk_format_error(err.msg), 0, NULL);
}

/* Runs job j. An audio job only goes as far as the frontend and returns 1: the caller runs the
 * network (batched with other sessions) and then calls finish_audio. Everything else runs to the
 * end here and returns 0. */
static int run_job(session *s, job *j, out_list *out, asr_batch *b)
{
    hub *h = s->h;
    asr_error err = {ASR_OK, ""};
    if (s->finished)
        return 0;
    if (j->type == JOB_CONFIG) {
        if (j->words >= 0)
            s->words = j->words;
        if (j->rate > 0 && j->rate != s->client_rate) {
            s->client_rate = j->rate;
            audio_resampler_destroy(s->rs); /* a tail of the old rate's filter is dropped */
            s->rs = NULL;
        }
        if (j->has_phrases)
            set_phrases(s, j->phrases, j->n_phrases, out);
        return 0;
    }
    if (ensure_state(s, &err) != ASR_OK) {
        asr_log(ASR_LOG_ERROR, "session: %s", err.msg);
        atomic_fetch_add(&h->stats.errors[ERR_INTERNAL], 1);
        emit(out, vosk_format_error(err.msg), 1011, "internal error");
        s->finished = 1;
        return 0;
    }
    if (j->type == JOB_AUDIO) {
        long got = audio_resampler_process(s->rs, j->samples, j->n, 0, &s->rs_buf, &s->rs_cap, &err);
        if (got < 0) {
            atomic_fetch_add(&h->stats.errors[ERR_INTERNAL], 1);
            got = 0;
        }
        feed_audio(s, s->rs_buf, (size_t)got);
        return 1;
    }
    if (j->type == JOB_RESET) {
        emit(out, final_result(s), 0, NULL);
        asr_stream_reset_state(s->stream);
        return 0;
    }
    /* JOB_EOF: flush the resampler's tail, then the final result and the close. */
    long got = audio_resampler_process(s->rs, NULL, 0, 1, &s->rs_buf, &s->rs_cap, &err);
    if (got > 0)
        feed(s, s->rs_buf, (size_t)got, out, b);
    emit(out, final_result(s), 0, NULL);
    if (j->close_code)
        emit(out, NULL, j->close_code, j->reason);
    s->finished = 1;
    return 0;
}

/* The rest of an audio job once the network has run: one reply per audio message, as Vosk sends
 * them: the result(s) of utterances that ended, else the partial hypothesis. */
static void finish_audio(session *s, out_list *out)
{
    if (decode_frames(s, out) == 0) {
        emit(out, vosk_format_partial(asr_decoder_partial(&s->dec)), 0, NULL);
        atomic_fetch_add(&s->h->stats.partials, 1);
    }
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int session_run_round(session **ss, int n, asr_batch *b)
{
    if (n <= 0)
        return 0;
    if (n > SESSION_BATCH_MAX)
        n = SESSION_BATCH_MAX;
    hub *h = ss[0]->h;
    job *jobs[SESSION_BATCH_MAX];
    out_list outs[SESSION_BATCH_MAX];
    asr_stream *fed[SESSION_BATCH_MAX];
    int fed_ix[SESSION_BATCH_MAX], n_fed = 0, dropped = 0, any_out = 0;

    /* 1. Each session's next job; a session with none left (or whose client is gone) is
     * unscheduled: from here on this worker no longer owns it. */
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < n; i++) {
        session *s = ss[i];
        job *j = s->jobs;
        outs[i] = (out_list){NULL, NULL};
        if (!j || s->gone) {
            s->scheduled = 0;
            jobs[i] = NULL;
            continue;
        }
        s->jobs = j->next;
        if (!s->jobs)
            s->jobs_tail = NULL;
        s->queued_bytes -= j->n * sizeof(float);
        h->jobs_queued--;
        jobs[i] = j;
    }
    pthread_mutex_unlock(&h->lock);

    /* 2. Run the jobs; audio jobs stop after the frontend. 3. One network pass for all of them.
     * 4. Decode each. Batching never changes a stream's output (asr_stream_run_batch). */
    long long t0 = now_ns();
    for (int i = 0; i < n; i++)
        if (jobs[i] && run_job(ss[i], jobs[i], &outs[i], b)) {
            fed[n_fed] = ss[i]->stream;
            fed_ix[n_fed++] = i;
        }
    if (n_fed > 0 && asr_stream_run_batch(fed, n_fed, b) != ASR_OK) {
        /* no memory for the batch: each alone (its own, smaller workspace) */
        atomic_fetch_add(&h->stats.errors[ERR_INTERNAL], 1);
        for (int k = 0; k < n_fed; k++)
            if (asr_stream_run_batch(&fed[k], 1, NULL) != ASR_OK)
                atomic_fetch_add(&h->stats.errors[ERR_INTERNAL], 1);
    }
    for (int k = 0; k < n_fed; k++)
        finish_audio(ss[fed_ix[k]], &outs[fed_ix[k]]);
    atomic_fetch_add(&h->stats.busy_ns, now_ns() - t0);

    /* 5. Hand the replies to the network thread in one locked step. */
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < n; i++) {
        session *s = ss[i];
        for (out_msg *m = outs[i].head, *nx; m; m = nx) {
            nx = m->next;
            if (s->gone) {
                out_msg_free(m);
            } else {
                append_out_locked(s, m);
                any_out = 1;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);

    /* 6. Drop the sessions that left; keep the rest in order. */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (jobs[i]) {
            job_free(jobs[i]);
            ss[kept++] = ss[i];
        } else {
            session_unref(ss[i]); /* the ready queue's reference */
            dropped = 1;
        }
    }
    /* Replies to write, or a session unscheduled: the network thread may also resume reading
     * from a flow-controlled client. */
    if ((any_out || dropped) && h->wake)
        h->wake(h->wake_user);
    return kept;
}
