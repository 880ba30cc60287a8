/* asr_model.c - the runtime: an immutable model (weights, frontend) and per-stream state.
 *
 * DESIGN. A stream turns audio into log-probabilities in three stages:
 *   1. frontend: samples -> mfcc_stream -> raw MFCC frames -> (x - mean) / std;
 *   2. stacking: a ring of the last `stack` normalised frames; input frame idx completes network
 *      input j when idx == j*stride + stack - 1 (the stacked vector is frames idx-stack+1 .. idx);
 *   3. network: the stacked inputs completed by one call are run LAYER BY LAYER in blocks of up to
 *      BLOCK frames (layer 0 over the whole block, then layer 1, ...): each layer's weights stay in
 *      cache for the block and its input projection is one matrix product. nn_rnn_forward gives
 *      bit-identical results for T frames in one call or T calls of one frame, so any chunking of
 *      the audio gives bit-identical output. Results queue as n_out log-probabilities per frame.
 * Audio is fed to the frontend in slices of at most SLICE samples so a long file given in one call
 * never buffers more than a slice of samples and a block of frames.
 *
 * Threads: an asr_model is read-only after construction (shared by any number of streams and
 * threads); an asr_stream is touched by one thread at a time (its owner).
 */
#include "asr_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/mfcc.h"
#include "nn.h"

#define BLOCK 64      /* network frames per layer-by-layer pass */
#define SLICE 16000   /* samples per frontend slice */

struct asr_model {
    asr_model_desc d; /* owns the slab */
    mfcc *fe;
    int in0;          /* network input size: n_feat * stack */
    int max_hidden;
    size_t scratch_floats; /* nn_rnn_scratch_size of the largest layer for BLOCK frames */
};

struct asr_stream {
    const asr_model *m;
    mfcc_stream *fs;
    float *raw;        /* (n_feat) one raw MFCC frame */
    float *ring;       /* (stack, n_feat) last normalised frames, frame idx at row idx % stack */
    long n_in;         /* normalised frames seen since reset */
    float *xin;        /* (BLOCK, in0) stacked inputs waiting for the network */
    int n_x;           /* rows of xin filled */
    float *buf_a, *buf_b; /* (BLOCK, max_hidden) layer outputs, ping-pong */
    float *scratch;    /* nn_rnn_scratch_size floats */
    float *state[ASR_MAX_LAYERS]; /* nn_rnn_state_size floats per layer */
    float *queue;      /* (q_cap, n_out) ring of log-probability frames */
    size_t q_cap, q_head, q_len;
    long frames;       /* output frames produced since reset */
};

/* ---- model ---- */

static asr_model *finish_model(asr_model *m, asr_error *err)
{
    const asr_model_desc *d = &m->d;
    m->fe = mfcc_create(&d->frontend, err);
    if (!m->fe)
        return NULL;
    m->in0 = d->n_feat * d->stack;
    for (int k = 0; k < d->n_layers; k++) {
        if (d->layers[k].hidden > m->max_hidden)
            m->max_hidden = d->layers[k].hidden;
        size_t s = nn_rnn_scratch_size(&d->layers[k], BLOCK);
        if (s > m->scratch_floats)
            m->scratch_floats = s;
    }
    /* run_block also uses the scratch for the projection's logits */
    if ((size_t)BLOCK * d->n_out > m->scratch_floats)
        m->scratch_floats = (size_t)BLOCK * d->n_out;
    return m;
}

asr_model *asr_model_load(const char *path, asr_error *err)
{
    asr_model *m = calloc(1, sizeof *m);
    if (!m) {
        asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (asr_model_read(path, &m->d, err))
        goto fail;
    if (!finish_model(m, err)) {
        /* name the file: the frontend reports only the parameter */
        if (err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            asr_error_set(err, err->code, "%s: frontend: %s", path, msg);
        }
        goto fail;
    }
    return m;
fail:
    asr_model_free(m);
    return NULL;
}

asr_model *asr_model_from_desc(const asr_model_desc *d, asr_error *err)
{
    asr_model *m = NULL;
    if (asr_model_desc_check(d, "model description", err))
        return NULL;
    m = calloc(1, sizeof *m);
    if (!m) {
        asr_error_set(err, ASR_ERR_NOMEM, "model description: out of memory");
        return NULL;
    }
    /* Copy the shape, then every tensor: d's tensors need not live in one slab. */
    m->d = *d;
    m->d.slab = NULL;
    if (asr_model_desc_alloc(&m->d, err))
        goto fail;
    memcpy(m->d.feat_mean, d->feat_mean, d->n_feat * sizeof(float));
    memcpy(m->d.feat_std, d->feat_std, d->n_feat * sizeof(float));
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *s = &d->layers[k];
        nn_rnn_layer *t = &m->d.layers[k];
        size_t gh = (size_t)nn_rnn_gates(s->type) * s->hidden;
        memcpy((float *)t->w_ih, s->w_ih, gh * s->in * sizeof(float));
        memcpy((float *)t->w_hh, s->w_hh, gh * s->hidden * sizeof(float));
        memcpy((float *)t->b_ih, s->b_ih, gh * sizeof(float));
        memcpy((float *)t->b_hh, s->b_hh, gh * sizeof(float));
    }
    int h_last = d->layers[d->n_layers - 1].hidden;
    memcpy((float *)m->d.proj_w, d->proj_w, (size_t)d->n_out * h_last * sizeof(float));
    memcpy((float *)m->d.proj_b, d->proj_b, (size_t)d->n_out * sizeof(float));
    if (!finish_model(m, err))
        goto fail;
    return m;
fail:
    asr_model_free(m);
    return NULL;
}

void asr_model_free(asr_model *m)
{
    if (!m)
        return;
    mfcc_destroy(m->fe);
    asr_model_desc_free(&m->d);
    free(m);
}

const asr_model_desc *asr_model_get_desc(const asr_model *m)
{
    return &m->d;
}

int asr_model_sample_rate(const asr_model *m)
{
    return m->d.frontend.sample_rate;
}

int asr_model_n_out(const asr_model *m)
{
    return m->d.n_out;
}

const char *asr_model_alphabet(const asr_model *m)
{
    return m->d.alphabet;
}

double asr_model_frame_ms(const asr_model *m)
{
    return (double)m->d.frontend.frame_shift_ms * m->d.stride;
}

/* Multiply-adds count 2: every layer's input and recurrent products, the projection, plus the
 * gate arithmetic (a handful of operations per gate value, counted as 10); the frontend is not
 * included (benchmarks report the network's GFLOP/s). */
double asr_model_flops_per_frame(const asr_model *m)
{
    const asr_model_desc *d = &m->d;
    double f = 0;
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        double gh = (double)nn_rnn_gates(l->type) * l->hidden;
        f += 2.0 * gh * (l->in + l->hidden) + 10.0 * gh;
    }
    f += 2.0 * d->n_out * d->layers[d->n_layers - 1].hidden + 3.0 * d->n_out;
    return f;
}

/* ---- stream ---- */

static float *falloc(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void asr_stream_destroy(asr_stream *s)
{
    if (!s)
        return;
    mfcc_stream_destroy(s->fs);
    free(s->raw);
    free(s->ring);
    free(s->xin);
    free(s->buf_a);
    free(s->buf_b);
    free(s->scratch);
    for (int k = 0; k < ASR_MAX_LAYERS; k++)
        free(s->state[k]);
    free(s->queue);
    free(s);
}

asr_stream *asr_stream_create(const asr_model *m, asr_error *err)
{
    const asr_model_desc *d = &m->d;
    asr_stream *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->m = m;
    s->fs = mfcc_stream_create(m->fe);
    s->raw = falloc(d->n_feat);
    s->ring = falloc((size_t)d->stack * d->n_feat);
    s->xin = falloc((size_t)BLOCK * m->in0);
    s->buf_a = falloc((size_t)BLOCK * m->max_hidden);
    s->buf_b = falloc((size_t)BLOCK * m->max_hidden);
    s->scratch = falloc(m->scratch_floats);
    s->q_cap = BLOCK;
    s->queue = falloc(s->q_cap * d->n_out);
    if (!s->fs || !s->raw || !s->ring || !s->xin || !s->buf_a || !s->buf_b || !s->scratch || !s->queue)
        goto fail;
    for (int k = 0; k < d->n_layers; k++)
        if (!(s->state[k] = falloc(nn_rnn_state_size(&d->layers[k]))))
            goto fail;
    return s;
fail:
    asr_error_set(err, ASR_ERR_NOMEM, "cannot allocate a recognition stream");
    asr_stream_destroy(s);
    return NULL;
}

/* Makes room for n more queued frames (grows by doubling, unwrapping the ring). */
static asr_status queue_reserve(asr_stream *s, size_t n)
{
    if (s->q_len + n <= s->q_cap)
        return ASR_OK;
    size_t no = (size_t)s->m->d.n_out, cap = s->q_cap;
    while (cap < s->q_len + n)
        cap *= 2;
    float *q = falloc(cap * no);
    if (!q)
        return ASR_ERR_NOMEM;
    for (size_t i = 0; i < s->q_len; i++)
        memcpy(q + i * no, s->queue + ((s->q_head + i) % s->q_cap) * no, no * sizeof(float));
    free(s->queue);
    s->queue = q;
    s->q_cap = cap;
    s->q_head = 0;
    return ASR_OK;
}

/* Runs the network over the n_x stacked inputs, layer by layer, and queues the results. */
static asr_status run_block(asr_stream *s)
{
    const asr_model *m = s->m;
    const asr_model_desc *d = &m->d;
    int T = s->n_x;
    if (T == 0)
        return ASR_OK;
    if (queue_reserve(s, (size_t)T))
        return ASR_ERR_NOMEM;
    const float *in = s->xin;
    float *out = s->buf_a;
    for (int k = 0; k < d->n_layers; k++) {
        nn_rnn_forward(&d->layers[k], T, in, s->state[k], out, s->scratch);
        in = out;
        out = out == s->buf_a ? s->buf_b : s->buf_a;
    }
    /* Projection into the scratch (free now), then log-softmax into the queue ring. */
    int no = d->n_out, h = d->layers[d->n_layers - 1].hidden;
    float *logits = s->scratch;
    nn_linear_forward(d->proj_w, d->proj_b, h, no, T, in, logits);
    for (int t = 0; t < T; t++) {
        float *dst = s->queue + ((s->q_head + s->q_len) % s->q_cap) * (size_t)no;
        memcpy(dst, logits + (size_t)t * no, (size_t)no * sizeof(float));
        nn_log_softmax(dst, no);
        s->q_len++;
    }
    s->frames += T;
    s->n_x = 0;
    return ASR_OK;
}

/* Normalises one raw MFCC frame into the stacking ring; queues a stacked input when it completes
 * one and runs the network when a block is full. */
static asr_status push_frame(asr_stream *s, const float *raw)
{
    const asr_model_desc *d = &s->m->d;
    int nf = d->n_feat, stack = d->stack;
    long idx = s->n_in++;
    float *row = s->ring + (idx % stack) * nf;
    for (int i = 0; i < nf; i++)
        row[i] = (raw[i] - d->feat_mean[i]) / d->feat_std[i];
    long first = idx - stack + 1; /* first frame of the stack ending here */
    if (first < 0 || first % d->stride)
        return ASR_OK;
    float *x = s->xin + (size_t)s->n_x * s->m->in0;
    for (long f = first; f <= idx; f++)
        memcpy(x + (f - first) * nf, s->ring + (f % stack) * nf, (size_t)nf * sizeof(float));
    if (++s->n_x == BLOCK)
        return run_block(s);
    return ASR_OK;
}

asr_status asr_stream_accept(asr_stream *s, const float *samples, size_t n)
{
    asr_status st;
    while (n > 0) {
        size_t take = n < SLICE ? n : SLICE;
        if ((st = mfcc_stream_accept(s->fs, samples, take)))
            return st;
        samples += take;
        n -= take;
        while (mfcc_stream_pop(s->fs, s->raw))
            if ((st = push_frame(s, s->raw)))
                return st;
    }
    return run_block(s);
}

asr_status asr_stream_accept_features(asr_stream *s, const float *feats, int n_frames)
{
    asr_status st;
    for (int i = 0; i < n_frames; i++)
        if ((st = push_frame(s, feats + (size_t)i * s->m->d.n_feat)))
            return st;
    return run_block(s);
}

int asr_stream_pop(asr_stream *s, float *logprobs)
{
    if (s->q_len == 0)
        return 0;
    size_t no = (size_t)s->m->d.n_out;
    memcpy(logprobs, s->queue + s->q_head * no, no * sizeof(float));
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return 1;
}

long asr_stream_frames(const asr_stream *s)
{
    return s->frames;
}

void asr_stream_reset_state(asr_stream *s)
{
    const asr_model_desc *d = &s->m->d;
    for (int k = 0; k < d->n_layers; k++)
        memset(s->state[k], 0, (size_t)nn_rnn_state_size(&d->layers[k]) * sizeof(float));
}

void asr_stream_reset(asr_stream *s)
{
    mfcc_stream_reset(s->fs);
    s->n_in = 0;
    s->n_x = 0;
    s->q_head = s->q_len = 0;
    s->frames = 0;
    asr_stream_reset_state(s);
}
