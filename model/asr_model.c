/* asr_model.c - the runtime: an immutable model (weights, frontend) and per-stream state.
 *
 * DESIGN. A stream turns audio into log-probabilities in three stages:
 *   1. frontend: samples -> mfcc_stream -> raw MFCC frames -> cmvn_stream (the global (x - mean) / std,
 *      or the online normalisation that adapts to the stream; its statistics survive
 *      asr_stream_reset_state, so a session keeps adapting across utterances);
 *   2. stacking: a ring of the last `stack` normalised frames; input frame idx completes network
 *      input j when idx == j*stride + stack - 1 (the stacked vector is frames idx-stack+1 .. idx);
 *   3. network: the pending stacked inputs are run LAYER BY LAYER in rounds of up to BLOCK frames
 *      per stream (layer 0 over the whole round, then layer 1, ...): each layer's weights stay in
 *      cache for the round and its input projection is one matrix product. Several streams can
 *      share a round (asr_stream_run_batch): their input projections become one product and
 *      their recurrence steps one product per step (nn_rnn_forward_batch). Every output row is
 *      computed by the same kernel in the same order however many frames or streams go
 *      together, so any chunking of the audio and any batching give bit-identical output.
 *      Results queue as n_out log-probabilities per frame.
 * Stages 1-2 (asr_stream_feed) and 3 (asr_stream_run_batch) are separate so a daemon can feed many
 * streams and then run them together; asr_stream_accept does both for one stream, feeding the
 * frontend in slices of at most SLICE samples so a long file given in one call never buffers more
 * than a slice of samples and its frames.
 *
 * Threads: an asr_model is read-only after construction (shared by any number of streams and
 * threads); an asr_stream is touched by one thread at a time (its owner).
 */
#include "asr_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/cmvn.h"
#include "../frontend/mfcc.h"
#include "nn.h"

#define BLOCK 64    /* network frames per layer-by-layer pass */
#define SLICE 16000 /* samples per frontend slice */

struct asr_model {
    asr_model_desc d; /* owns the slab */
    mfcc *fe;
    int in0; /* network input size: n_feat * stack */
    int max_hidden;
    nn_q8_layer *q8; /* (n_layers) quantised weights when the precision is int8, else NULL */
};

struct asr_stream {
    const asr_model *m;
    mfcc_stream *fs;
    cmvn_stream *cmvn;            /* feature normalisation state */
    float *raw;                   /* (n_feat) one raw MFCC frame */
    float *ring;                  /* (stack, n_feat) last normalised frames, frame idx at row idx % stack */
    long n_in;                    /* normalised frames seen since reset */
    float *xin;                   /* (x_cap, in0) stacked inputs waiting for the network */
    int n_x, x_cap;               /* rows of xin filled / allocated */
    float *state[ASR_MAX_LAYERS]; /* nn_rnn_state_size floats per layer */
    float *queue;                 /* (q_cap, n_out) ring of log-probability frames */
    size_t q_cap, q_head, q_len;
    long frames;    /* output frames produced since reset */
    asr_batch *own; /* workspace for runs given none (created on first use) */
};

/* A batch's activations and scratch, sized for the largest round seen so far. Streams keep only
 * their state and pending inputs: the per-layer buffers live here, one set per thread. */
struct asr_batch {
    const asr_model *m;
    int width;      /* floats per row of a and b: max(in0, widest layer, n_out) */
    size_t rows;    /* rows allocated in a and b */
    float *a, *b;   /* (rows, width) layer inputs/outputs, ping-pong; logits at the end */
    float *scratch; /* nn_rnn_batch_scratch_size floats of the largest layer */
    size_t scratch_cap;
    int n_cap;     /* entries in the per-stream arrays below */
    int *T;        /* (n_cap) frames of each active stream in this round */
    int *cur;      /* (n_cap) rows of each stream's xin already run */
    float **state; /* (n_cap) one layer's state of each active stream */
    int *ix;       /* (n_cap) active streams of this round (indices into the call's array) */
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
    }
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

static void free_q8(asr_model *m)
{
    if (m->q8)
        for (int k = 0; k < m->d.n_layers; k++)
            nn_q8_layer_free(&m->q8[k]);
    free(m->q8);
    m->q8 = NULL;
}

int asr_precision_parse(const char *s, asr_precision *p)
{
    if (!strcmp(s, "float32"))
        *p = ASR_PRECISION_FLOAT32;
    else if (!strcmp(s, "int8"))
        *p = ASR_PRECISION_INT8;
    else
        return -1;
    return 0;
}

const char *asr_precision_name(asr_precision p)
{
    return p == ASR_PRECISION_INT8 ? "int8" : "float32";
}

asr_status asr_model_set_precision(asr_model *m, asr_precision p, asr_error *err)
{
    if (p != ASR_PRECISION_FLOAT32 && p != ASR_PRECISION_INT8)
        return asr_error_set(err, ASR_ERR_ARG, "model precision %d: not float32 or int8", (int)p);
    if (p == ASR_PRECISION_FLOAT32) {
        free_q8(m);
        return ASR_OK;
    }
    if (m->q8)
        return ASR_OK;
    nn_q8_layer *q = calloc((size_t)m->d.n_layers, sizeof *q);
    int k = 0;
    if (q)
        for (; k < m->d.n_layers; k++)
            if (nn_q8_layer_init(&q[k], &m->d.layers[k]))
                break;
    if (!q || k < m->d.n_layers) {
        for (int j = 0; q && j < k; j++)
            nn_q8_layer_free(&q[j]);
        free(q);
        return asr_error_set(err, ASR_ERR_NOMEM, "model: out of memory quantising the weights to int8");
    }
    m->q8 = q;
    return ASR_OK;
}

asr_precision asr_model_precision(const asr_model *m)
{
    return m->q8 ? ASR_PRECISION_INT8 : ASR_PRECISION_FLOAT32;
}

void asr_model_free(asr_model *m)
{
    if (!m)
        return;
    free_q8(m);
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
    cmvn_stream_destroy(s->cmvn);
    free(s->raw);
    free(s->ring);
    free(s->xin);
    for (int k = 0; k < ASR_MAX_LAYERS; k++)
        free(s->state[k]);
    free(s->queue);
    asr_batch_destroy(s->own);
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
    s->cmvn = cmvn_stream_create(d->n_feat, &d->cmvn, d->feat_mean, d->feat_std, NULL);
    s->raw = falloc(d->n_feat);
    s->ring = falloc((size_t)d->stack * d->n_feat);
    s->x_cap = 8; /* grows with the frames a feed completes */
    s->xin = falloc((size_t)s->x_cap * m->in0);
    s->q_cap = 16;
    s->queue = falloc(s->q_cap * d->n_out);
    if (!s->fs || !s->cmvn || !s->raw || !s->ring || !s->xin || !s->queue)
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

/* ---- batch workspace ---- */

asr_batch *asr_batch_create(const asr_model *m)
{
    asr_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->m = m;
    b->width = m->in0 > m->max_hidden ? m->in0 : m->max_hidden;
    if (m->d.n_out > b->width)
        b->width = m->d.n_out;
    b->width = (b->width + 15) & ~15;
    return b;
}

void asr_batch_destroy(asr_batch *b)
{
    if (!b)
        return;
    free(b->a);
    free(b->b);
    free(b->scratch);
    free(b->T);
    free(b->cur);
    free(b->state);
    free(b->ix);
    free(b);
}

/* Grows b for n streams with R frames in one round. Nothing is lost on failure. */
static asr_status batch_reserve(asr_batch *b, int n, int R)
{
    const asr_model_desc *d = &b->m->d;
    if (n > b->n_cap) {
        int cap = n < 16 ? 16 : n;
        int *T = malloc((size_t)cap * sizeof *T), *cur = malloc((size_t)cap * sizeof *cur);
        float **st = malloc((size_t)cap * sizeof *st);
        int *ix = malloc((size_t)cap * sizeof *ix);
        if (!T || !cur || !st || !ix) {
            free(T), free(cur), free(st), free(ix);
            return ASR_ERR_NOMEM;
        }
        free(b->T), free(b->cur), free(b->state), free(b->ix);
        b->T = T, b->cur = cur, b->state = st, b->ix = ix;
        b->n_cap = cap;
    }
    if ((size_t)R > b->rows) {
        size_t rows = b->rows ? b->rows : 64;
        while (rows < (size_t)R)
            rows *= 2;
        float *a = falloc(rows * b->width), *bb = falloc(rows * b->width);
        if (!a || !bb) {
            free(a), free(bb);
            return ASR_ERR_NOMEM;
        }
        free(b->a), free(b->b);
        b->a = a, b->b = bb;
        b->rows = rows;
    }
    size_t need = 0;
    for (int k = 0; k < d->n_layers; k++) {
        size_t s = nn_rnn_batch_scratch_size(&d->layers[k], n, R);
        need = s > need ? s : need;
    }
    if (need > b->scratch_cap) {
        float *sc = falloc(need + need / 2);
        if (!sc)
            return ASR_ERR_NOMEM;
        free(b->scratch);
        b->scratch = sc;
        b->scratch_cap = need + need / 2;
    }
    return ASR_OK;
}

/* Picks this round's active streams (up to BLOCK pending frames each) into b->ix/T; returns
 * their number and their frames in *R. */
static int batch_round(asr_batch *b, asr_stream *const *streams, int n, int *R)
{
    int k = 0;
    *R = 0;
    for (int i = 0; i < n; i++) {
        int p = streams[i]->n_x - b->cur[i];
        if (p <= 0)
            continue;
        b->ix[k] = i;
        b->T[k] = p < BLOCK ? p : BLOCK;
        *R += b->T[k++];
    }
    return k;
}

asr_status asr_stream_run_batch(asr_stream *const *streams, int n, asr_batch *b)
{
    if (n <= 0)
        return ASR_OK;
    const asr_model *m = streams[0]->m;
    const asr_model_desc *d = &m->d;
    for (int i = 1; i < n; i++)
        if (streams[i]->m != m)
            return ASR_ERR_ARG;
    if (!b) {
        if (!streams[0]->own && !(streams[0]->own = asr_batch_create(m)))
            return ASR_ERR_NOMEM;
        b = streams[0]->own;
    }
    if (b->m != m)
        return ASR_ERR_ARG;
    /* Everything that can fail happens before any state changes: the first round is the
     * largest, and every stream's queue gets room for all its pending frames. */
    if (batch_reserve(b, n, 0))
        return ASR_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        b->cur[i] = 0;
    int R, k = batch_round(b, streams, n, &R);
    if (k == 0)
        return ASR_OK;
    if (batch_reserve(b, k, R))
        return ASR_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        if (queue_reserve(streams[i], (size_t)streams[i]->n_x))
            return ASR_ERR_NOMEM;
    int no = d->n_out, h_last = d->layers[d->n_layers - 1].hidden;
    while (k > 0) {
        /* Layer 0's input: each active stream's next rows of xin, stream after stream. */
        float *in = b->a, *out = b->b;
        for (int j = 0, off = 0; j < k; off += b->T[j++])
            memcpy(in + (size_t)off * m->in0, streams[b->ix[j]]->xin + (size_t)b->cur[b->ix[j]] * m->in0,
                   (size_t)b->T[j] * m->in0 * sizeof(float));
        for (int l = 0; l < d->n_layers; l++) {
            for (int j = 0; j < k; j++)
                b->state[j] = streams[b->ix[j]]->state[l];
            if (m->q8)
                nn_rnn_forward_batch_q8(&d->layers[l], &m->q8[l], k, b->T, in, b->state, out, b->scratch);
            else
                nn_rnn_forward_batch(&d->layers[l], k, b->T, in, b->state, out, b->scratch);
            float *t = in;
            in = out;
            out = t;
        }
        /* Projection of every row at once into the free buffer, then log-softmax into the queues. */
        nn_linear_forward(d->proj_w, d->proj_b, h_last, no, R, in, out);
        for (int j = 0, off = 0; j < k; off += b->T[j++]) {
            asr_stream *s = streams[b->ix[j]];
            for (int t = 0; t < b->T[j]; t++) {
                float *dst = s->queue + ((s->q_head + s->q_len) % s->q_cap) * (size_t)no;
                memcpy(dst, out + (size_t)(off + t) * no, (size_t)no * sizeof(float));
                nn_log_softmax(dst, no);
                s->q_len++;
            }
            s->frames += b->T[j];
            b->cur[b->ix[j]] += b->T[j];
        }
        k = batch_round(b, streams, n, &R);
    }
    for (int i = 0; i < n; i++)
        streams[i]->n_x = 0;
    return ASR_OK;
}

/* Normalises one raw MFCC frame into the stacking ring; appends a stacked input to xin when it
 * completes one. */
static asr_status push_frame(asr_stream *s, const float *raw)
{
    const asr_model_desc *d = &s->m->d;
    int nf = d->n_feat, stack = d->stack;
    long first = s->n_in - stack + 1; /* first frame of the stack ending at this one */
    if (first >= 0 && first % d->stride == 0 && s->n_x == s->x_cap) {
        /* grow before touching anything, so a failure loses no frame */
        float *x = falloc((size_t)2 * s->x_cap * s->m->in0);
        if (!x)
            return ASR_ERR_NOMEM;
        memcpy(x, s->xin, (size_t)s->n_x * s->m->in0 * sizeof(float));
        free(s->xin);
        s->xin = x;
        s->x_cap *= 2;
    }
    long idx = s->n_in++;
    float *row = s->ring + (idx % stack) * nf;
    cmvn_stream_apply(s->cmvn, raw, row);
    if (first < 0 || first % d->stride)
        return ASR_OK;
    float *x = s->xin + (size_t)s->n_x * s->m->in0;
    for (long f = first; f <= idx; f++)
        memcpy(x + (f - first) * nf, s->ring + (f % stack) * nf, (size_t)nf * sizeof(float));
    s->n_x++;
    return ASR_OK;
}

asr_status asr_stream_feed(asr_stream *s, const float *samples, size_t n)
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
    return ASR_OK;
}

int asr_stream_pending(const asr_stream *s)
{
    return s->n_x;
}

asr_status asr_stream_accept(asr_stream *s, const float *samples, size_t n)
{
    asr_status st;
    do {
        size_t take = n < SLICE ? n : SLICE;
        if ((st = asr_stream_feed(s, samples, take)) || (st = asr_stream_run_batch(&s, 1, NULL)))
            return st;
        samples += take;
        n -= take;
    } while (n > 0);
    return ASR_OK;
}

asr_status asr_stream_accept_features(asr_stream *s, const float *feats, int n_frames)
{
    asr_status st;
    for (int i = 0; i < n_frames; i++) {
        if ((st = push_frame(s, feats + (size_t)i * s->m->d.n_feat)))
            return st;
        if (s->n_x == BLOCK && (st = asr_stream_run_batch(&s, 1, NULL)))
            return st;
    }
    return asr_stream_run_batch(&s, 1, NULL);
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
    cmvn_stream_reset(s->cmvn);
    s->n_in = 0;
    s->n_x = 0;
    s->q_head = s->q_len = 0;
    s->frames = 0;
    asr_stream_reset_state(s);
}
