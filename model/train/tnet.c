/* tnet.c - batched forward and backward through time of the acoustic model, with CTC.
 *
 * DESIGN
 * Speed comes from doing almost all arithmetic in a few large matrix products:
 *   forward, per layer: Gi = X W_ih^T for all T*B rows at once (one GEMM), then per frame one
 *     (B, H) x (H, G*H) GEMM for the recurrent part followed by a fused loop that applies the gate
 *     nonlinearities and stores what backward needs (gate activations, W_hn h + b_hn, states);
 *   backward, per layer, frames in reverse: a fused loop turns dh into gate gradients (stored per
 *     frame in (T*B, G*H) buffers) and one (B, G*H) x (G*H, H) GEMM carries dh to the previous frame;
 *     after the loop dW_hh = dGh^T H_prev, dW_ih = dGi^T X and dX = dGi W_ih are three big GEMMs.
 * Padding: inside a worker the utterances are ordered by decreasing length, so at frame t the
 *   active ones are a prefix of n_act[t] rows: recurrent GEMMs and gate loops touch only those; the
 *   states of finished rows are zeroed and their gate gradients are zero, so padding frames affect
 *   nothing (and cost nothing in the recurrence).
 * Dropout (training only, tnet_set_dropout): every layer's output is multiplied by a mask of
 *   0 or 1/(1-p) before it feeds the next layer or the projection (the recurrence sees the
 *   undropped state, as in PyTorch's nn.LSTM dropout; here the last layer is dropped too). The mask
 *   of an element depends only on (seed, batch index, layer, frame), so it does not depend on how
 *   the batch is split across workers; tnet_forward never drops.
 * Auxiliary head (tnet_create_aux, training only): a second linear layer + log-softmax on the same
 *   (dropped) last-layer output, computed in backward only; its CTC gradient, scaled per utterance by
 *   the caller's weight, goes through its own GEMMs into the slab's tail and is added to the
 *   projection's gradient wrt that output, so the layers below see the gradient of the summed loss.
 * Cores: data parallelism. The batch (sorted by length) is dealt round-robin to `workers` threads,
 *   each with its own activations and gradient slab and single-threaded BLAS; the slabs are added
 *   to the network's gradient in worker order, so results are bit-for-bit reproducible for a given
 *   thread count and batch.
 * Thread ownership: the tnet and its workspaces belong to the calling thread; during a call worker
 *   k (k >= 1 runs on its own pthread, worker 0 on the caller) writes only its own workspace and
 *   reads the shared parameters and inputs.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tnet_internal.h"

typedef struct tlayer {
    nn_layer_type type;
    int in, H, G;
    size_t o_wih, o_whh, o_bih, o_bhh; /* offsets into the parameter slab */
} tlayer;

/* Per-thread workspace; rows = max_T * cap_B, all buffers time-major (row = t * nb + j). */
typedef struct tworker {
    struct tnet *net;
    int cap_B;
    float *grads;                /* (n_params) this worker's gradient contribution */
    float *x;                    /* (rows, I) gathered input */
    float *h[ASR_MAX_LAYERS];    /* ((max_T + 1) * cap_B, H): block 0 = zero initial state */
    float *c[ASR_MAX_LAYERS];    /* LSTM cell states, same shape; NULL for GRU */
    float *act[ASR_MAX_LAYERS];  /* (rows, 4H): GRU r z n (W_hn h + b_hn); LSTM i f g o */
    float *gi;                   /* (rows, GHmax) input projection; reused as dGh in backward */
    float *gh;                   /* (cap_B, GHmax) recurrent projection of one frame */
    float *dgi;                  /* (rows, GHmax) gate pre-activation gradients */
    float *dy, *dx;              /* (rows, Dmax) gradient wrt a layer's output / input (ping-pong) */
    float *dh, *dc;              /* (cap_B, Hmax) recurrent gradient carried backwards */
    float *mask[ASR_MAX_LAYERS]; /* (rows, H) dropout masks (0 or 1/(1-p)); NULL until dropout is used */
    float *xd[ASR_MAX_LAYERS];   /* (rows, H) dropped layer outputs: the next layer's input */
    float *logits;               /* (rows, n_out) logits, then log-probs in place */
    float *dlog;                 /* (rows, n_out) d loss / d logits */
    float *alog;                 /* (rows, n_aux) auxiliary head's logits, then log-probs; NULL: no head */
    float *dalog;                /* (rows, n_aux) d (weighted aux loss) / d aux logits */
    double *ctc_work;
    size_t ctc_cap;
    /* per call */
    int nb, T;     /* utterances in this slice, frames (its longest) */
    int idx[4096]; /* batch index of slice row j; sized by max_B check in create */
    int ulen[4096];
    int *n_act; /* (max_T) active rows at frame t */
    asr_status st;
} tworker;

struct tnet {
    int n_layers;
    tlayer L[ASR_MAX_LAYERS];
    int n_in, n_out, H_last, GH_max, H_max, D_max;
    int n_aux;         /* classes of the auxiliary CTC head (training only); 0: none */
    size_t o_pw, o_pb; /* projection (n_out, H_last), (n_out) */
    size_t o_aw, o_ab; /* auxiliary head (n_aux, H_last), (n_aux): after every model-file tensor */
    size_t n_params;   /* the slab: model-file tensors, then the auxiliary head */
    int max_B, max_T;
    float *params, *grads;
    int workers, blas_threads;
    tworker *w; /* n_w allocated workspaces */
    int n_w, w_cap_B;
    float *dx_out; /* optional (T, B, I) input-gradient destination */
    float dropout; /* drop probability of layer outputs in tnet_train_batch; 0: none */
    uint64_t drop_seed;
    tnet_kernels kern; /* fused gate kernels (SIMD or reference) */
    /* per call (read by workers) */
    int call_T, call_B, do_backward;
    const float *call_x;
    const int *call_lens, *call_labels, *call_label_off, *call_label_lens;
    float *call_loss;
    int *call_infeasible;
    const tnet_aux_targets *call_aux; /* NULL: no auxiliary loss in this call */
    const int *call_aux_off;
    float *call_logprobs;
};

/* ---------- small helpers ---------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill_uniform(float *p, size_t n, float a, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        p[i] = (float)((2.0 * u - 1.0) * a);
    }
}

static void *xcalloc(size_t n, size_t sz)
{
    return n ? calloc(n, sz) : calloc(1, 1);
}

/* ---------- creation ---------- */

tnet *tnet_create(const asr_model_desc *arch, int max_B, int max_T, unsigned long long seed, asr_error *err)
{
    return tnet_create_aux(arch, 0, max_B, max_T, seed, err);
}

tnet *tnet_create_aux(const asr_model_desc *arch, int n_aux, int max_B, int max_T, unsigned long long seed,
                      asr_error *err)
{
    tnet *n = NULL;
    if (!arch || arch->n_layers < 1 || arch->n_layers > ASR_MAX_LAYERS || arch->n_out < 2 || max_B < 1 ||
        max_B > 4096 || max_T < 1 || n_aux < 0 || n_aux == 1) {
        asr_error_set(err, ASR_ERR_ARG,
                      "tnet_create: bad architecture or batch bounds (layers %d, n_out %d, n_aux %d, "
                      "max_B %d (1..4096), max_T %d)",
                      arch ? arch->n_layers : -1, arch ? arch->n_out : -1, n_aux, max_B, max_T);
        return NULL;
    }
    n = calloc(1, sizeof(*n));
    if (!n)
        goto nomem;
    n->n_layers = arch->n_layers;
    n->n_out = arch->n_out;
    n->n_aux = n_aux;
    n->n_in = arch->layers[0].in;
    n->max_B = max_B;
    n->max_T = max_T;
    n->workers = 1;
    n->blas_threads = 1;
    n->kern = tnet_kernels_get(1);
    if (arch->stack > 0 && arch->n_feat > 0 && n->n_in != arch->stack * arch->n_feat) {
        asr_error_set(err, ASR_ERR_ARG, "tnet_create: layer 0 input %d != n_feat %d * stack %d", n->n_in,
                      arch->n_feat, arch->stack);
        goto fail;
    }
    size_t off = 0;
    int prev = n->n_in;
    n->D_max = n->n_in;
    for (int k = 0; k < n->n_layers; k++) {
        const nn_rnn_layer *al = &arch->layers[k];
        tlayer *l = &n->L[k];
        if ((al->type != NN_GRU && al->type != NN_LSTM) || al->in != prev || al->hidden < 1) {
            asr_error_set(err, ASR_ERR_ARG,
                          "tnet_create: layer %d: bad type %d or input %d (expected %d) or "
                          "hidden %d",
                          k, (int)al->type, al->in, prev, al->hidden);
            goto fail;
        }
        l->type = al->type;
        l->in = al->in;
        l->H = al->hidden;
        l->G = al->type == NN_GRU ? 3 : 4;
        size_t gh = (size_t)l->G * l->H;
        l->o_wih = off;
        off += gh * l->in;
        l->o_whh = off;
        off += gh * l->H;
        l->o_bih = off;
        off += gh;
        l->o_bhh = off;
        off += gh;
        if ((int)gh > n->GH_max)
            n->GH_max = (int)gh;
        if (l->H > n->H_max)
            n->H_max = l->H;
        if (l->H > n->D_max)
            n->D_max = l->H;
        prev = l->H;
    }
    n->H_last = prev;
    n->o_pw = off;
    off += (size_t)n->n_out * prev;
    n->o_pb = off;
    off += (size_t)n->n_out;
    n->o_aw = off;
    off += (size_t)n->n_aux * prev;
    n->o_ab = off;
    off += (size_t)n->n_aux;
    n->n_params = off;
    n->params = malloc(sizeof(float) * off);
    n->grads = calloc(off, sizeof(float));
    if (!n->params || !n->grads)
        goto nomem;

    if (arch->slab) {
        for (int k = 0; k < n->n_layers; k++) {
            const nn_rnn_layer *al = &arch->layers[k];
            tlayer *l = &n->L[k];
            size_t gh = (size_t)l->G * l->H;
            if (!al->w_ih || !al->w_hh || !al->b_ih || !al->b_hh) {
                asr_error_set(err, ASR_ERR_ARG, "tnet_create: layer %d has a slab but missing tensors", k);
                goto fail;
            }
            memcpy(n->params + l->o_wih, al->w_ih, sizeof(float) * gh * l->in);
            memcpy(n->params + l->o_whh, al->w_hh, sizeof(float) * gh * l->H);
            memcpy(n->params + l->o_bih, al->b_ih, sizeof(float) * gh);
            memcpy(n->params + l->o_bhh, al->b_hh, sizeof(float) * gh);
        }
        if (!arch->proj_w || !arch->proj_b) {
            asr_error_set(err, ASR_ERR_ARG, "tnet_create: projection tensors missing");
            goto fail;
        }
        memcpy(n->params + n->o_pw, arch->proj_w, sizeof(float) * n->n_out * n->H_last);
        memcpy(n->params + n->o_pb, arch->proj_b, sizeof(float) * n->n_out);
        /* A warm start from a model file, which has no auxiliary head: the head from the seed alone. */
        uint64_t s = seed;
        fill_uniform(n->params + n->o_aw, (size_t)n->n_aux * (n->H_last + 1), 1.0f / sqrtf((float)n->H_last),
                     &s);
    } else {
        /* PyTorch's defaults: every RNN tensor U(-1/sqrt(H), 1/sqrt(H)); nn.Linear U(-1/sqrt(in), ..). */
        uint64_t s = seed;
        for (int k = 0; k < n->n_layers; k++) {
            tlayer *l = &n->L[k];
            float a = 1.0f / sqrtf((float)l->H);
            size_t end = (k + 1 < n->n_layers) ? n->L[k + 1].o_wih : n->o_pw;
            fill_uniform(n->params + l->o_wih, end - l->o_wih, a, &s);
        }
        fill_uniform(n->params + n->o_pw, (size_t)n->n_out * (n->H_last + 1), 1.0f / sqrtf((float)n->H_last),
                     &s);
        /* Drawn last, so every model tensor equals tnet_create's for the same seed. */
        fill_uniform(n->params + n->o_aw, (size_t)n->n_aux * (n->H_last + 1), 1.0f / sqrtf((float)n->H_last),
                     &s);
    }
    return n;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "tnet_create: out of memory");
fail:
    tnet_destroy(n);
    return NULL;
}

static void worker_free(tworker *w)
{
    free(w->grads);
    free(w->x);
    for (int k = 0; k < ASR_MAX_LAYERS; k++) {
        free(w->h[k]);
        free(w->c[k]);
        free(w->act[k]);
        free(w->mask[k]);
        free(w->xd[k]);
    }
    free(w->gi);
    free(w->gh);
    free(w->dgi);
    free(w->dy);
    free(w->dx);
    free(w->dh);
    free(w->dc);
    free(w->logits);
    free(w->dlog);
    free(w->alog);
    free(w->dalog);
    free(w->ctc_work);
    free(w->n_act);
    memset(w, 0, sizeof(*w));
}

static void workspaces_free(tnet *n)
{
    for (int i = 0; i < n->n_w; i++)
        worker_free(&n->w[i]);
    free(n->w);
    n->w = NULL;
    n->n_w = 0;
}

void tnet_destroy(tnet *n)
{
    if (!n)
        return;
    workspaces_free(n);
    free(n->params);
    free(n->grads);
    free(n);
}

/* Allocates the per-thread workspaces for the current worker count (once, or after a change). */
static asr_status workspaces_ensure(tnet *n)
{
    int nw = n->workers < n->max_B ? n->workers : n->max_B;
    int cap_B = (n->max_B + nw - 1) / nw;
    if (n->w && n->n_w == nw && n->w_cap_B == cap_B)
        return ASR_OK;
    workspaces_free(n);
    n->w = calloc((size_t)nw, sizeof(tworker));
    if (!n->w)
        return ASR_ERR_NOMEM;
    n->n_w = nw;
    n->w_cap_B = cap_B;
    size_t rows = (size_t)n->max_T * cap_B, hrows = (size_t)(n->max_T + 1) * cap_B;
    for (int i = 0; i < nw; i++) {
        tworker *w = &n->w[i];
        w->net = n;
        w->cap_B = cap_B;
        w->grads = xcalloc(n->n_params, sizeof(float));
        w->x = xcalloc(rows * n->n_in, sizeof(float));
        int ok = w->grads && w->x;
        for (int k = 0; k < n->n_layers && ok; k++) {
            const tlayer *l = &n->L[k];
            w->h[k] = xcalloc(hrows * l->H, sizeof(float));
            w->act[k] = malloc(sizeof(float) * rows * 4 * l->H);
            ok = w->h[k] && w->act[k];
            if (ok && l->type == NN_LSTM)
                ok = (w->c[k] = xcalloc(hrows * l->H, sizeof(float))) != NULL;
        }
        w->gi = malloc(sizeof(float) * rows * n->GH_max);
        w->gh = malloc(sizeof(float) * (size_t)cap_B * n->GH_max);
        w->dgi = malloc(sizeof(float) * rows * n->GH_max);
        w->dy = malloc(sizeof(float) * rows * n->D_max);
        w->dx = malloc(sizeof(float) * rows * n->D_max);
        w->dh = malloc(sizeof(float) * (size_t)cap_B * n->H_max);
        w->dc = malloc(sizeof(float) * (size_t)cap_B * n->H_max);
        w->logits = malloc(sizeof(float) * rows * n->n_out);
        w->dlog = malloc(sizeof(float) * rows * n->n_out);
        w->n_act = malloc(sizeof(int) * n->max_T);
        if (n->n_aux > 0) {
            w->alog = malloc(sizeof(float) * rows * n->n_aux);
            w->dalog = malloc(sizeof(float) * rows * n->n_aux);
            ok = ok && w->alog && w->dalog;
        }
        if (!ok || !w->gi || !w->gh || !w->dgi || !w->dy || !w->dx || !w->dh || !w->dc || !w->logits ||
            !w->dlog || !w->n_act) {
            workspaces_free(n);
            return ASR_ERR_NOMEM;
        }
    }
    return ASR_OK;
}

void tnet_set_threads(tnet *n, int threads)
{
    tnet_set_parallelism(n, threads < 1 ? 1 : threads, 1);
}

void tnet_set_parallelism(tnet *n, int workers, int blas_threads)
{
    n->workers = workers < 1 ? 1 : workers;
    n->blas_threads = blas_threads < 1 ? 1 : blas_threads;
}

size_t tnet_n_params(const tnet *n)
{
    return n->n_params;
}
int tnet_n_aux(const tnet *n)
{
    return n->n_aux;
}
float *tnet_params(tnet *n)
{
    return n->params;
}
float *tnet_grads(tnet *n)
{
    return n->grads;
}
void tnet_zero_grad(tnet *n)
{
    memset(n->grads, 0, sizeof(float) * n->n_params);
}
void tnet_set_input_grad(tnet *n, float *dx)
{
    n->dx_out = dx;
}
void tnet_set_simd(tnet *n, int simd)
{
    n->kern = tnet_kernels_get(simd);
}
void tnet_set_dropout(tnet *n, float p, unsigned long long seed)
{
    n->dropout = p > 0.0f && p < 1.0f ? p : 0.0f;
    n->drop_seed = seed;
}

/* Drop threshold on 16-bit uniforms: an element is dropped when its draw is below it. */
static unsigned drop_threshold(float p)
{
    return (unsigned)lrintf(p * 65536.0f);
}

void tnet_dropout_row(unsigned long long seed, int b, int k, int t, int H, float p, float *mask)
{
    const unsigned thr = drop_threshold(p);
    const float keep = thr < 65536u ? 65536.0f / (float)(65536u - thr) : 0.0f; /* exact 1 / (1 - p') */
    uint64_t s = seed ^ ((uint64_t)(unsigned)b << 40) ^ ((uint64_t)(unsigned)k << 32) ^ (uint64_t)(unsigned)t;
    (void)splitmix64(&s); /* decorrelate neighbouring keys */
    uint64_t r = 0;
    for (int i = 0; i < H; i++) {
        if ((i & 3) == 0)
            r = splitmix64(&s);
        mask[i] = (unsigned)(r & 0xffffu) < thr ? 0.0f : keep;
        r >>= 16;
    }
}

/* Dropout buffers for every layer of every worker (first use only). */
static asr_status dropout_buffers_ensure(tnet *n)
{
    size_t rows = (size_t)n->max_T * n->w_cap_B;
    for (int i = 0; i < n->n_w; i++)
        for (int k = 0; k < n->n_layers; k++) {
            tworker *w = &n->w[i];
            if (!w->mask[k])
                w->mask[k] = malloc(sizeof(float) * rows * n->L[k].H);
            if (!w->xd[k])
                w->xd[k] = malloc(sizeof(float) * rows * n->L[k].H);
            if (!w->mask[k] || !w->xd[k])
                return ASR_ERR_NOMEM;
        }
    return ASR_OK;
}

/* Draws layer k's masks for the slice and writes the dropped outputs xd[k] = mask * h (zero on
 * padding rows). */
static void layer_dropout(tworker *w, int k)
{
    const tnet *n = w->net;
    const int T = w->T, nb = w->nb, H = n->L[k].H;
    const float *y = w->h[k] + (size_t)nb * H;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < nb; j++) {
            const size_t row = (size_t)t * nb + j;
            float *m = w->mask[k] + row * H, *o = w->xd[k] + row * H;
            if (j < w->n_act[t])
                tnet_dropout_row(n->drop_seed, w->idx[j], k, t, H, n->dropout, m);
            else
                memset(m, 0, sizeof(float) * H);
            for (int i = 0; i < H; i++)
                o[i] = y[row * H + i] * m[i];
        }
}

/* g *= mask over the slice's rows (gradient through the dropout of layer k). */
static void dropout_backward(tworker *w, int k, float *g)
{
    const size_t len = (size_t)w->T * w->nb * w->net->L[k].H;
    const float *m = w->mask[k];
    for (size_t i = 0; i < len; i++)
        g[i] *= m[i];
}

/* The input the layer above (or the projection) reads from layer k: dropped or not. */
static const float *layer_output(const tworker *w, int k)
{
    const tnet *n = w->net;
    if (n->do_backward && n->dropout > 0.0f)
        return w->xd[k];
    return w->h[k] + (size_t)w->nb * n->L[k].H;
}

/* ---------- forward ---------- */

/* Recurrent layer forward over the worker's slice: X (T*nb, in) -> h[k] blocks 1..T. */
static void layer_forward(tworker *w, int k, const float *X)
{
    const tnet *n = w->net;
    const tlayer *l = &n->L[k];
    const int T = w->T, nb = w->nb, H = l->H, GH = l->G * l->H;
    const float *Wih = n->params + l->o_wih, *Whh = n->params + l->o_whh;
    const float *bih = n->params + l->o_bih, *bhh = n->params + l->o_bhh;
    float *h = w->h[k], *act = w->act[k], *c = w->c[k], *gi = w->gi, *gh = w->gh;

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T * nb, GH, l->in, 1.0f, X, l->in, Wih, l->in, 0.0f,
                gi, GH);
    memset(h, 0, sizeof(float) * nb * H); /* initial state */
    if (c)
        memset(c, 0, sizeof(float) * nb * H);
    for (int t = 0; t < T; t++) {
        const int na = w->n_act[t];
        const float *hp = h + (size_t)t * nb * H;
        float *hn = h + (size_t)(t + 1) * nb * H;
        if (na > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, GH, H, 1.0f, hp, H, Whh, H, 0.0f, gh,
                        GH);
        for (int j = 0; j < na; j++) {
            const size_t row = (size_t)t * nb + j;
            const float *g1 = gi + row * GH, *g2 = gh + (size_t)j * GH;
            float *a = act + row * 4 * H, *hj = hn + (size_t)j * H;
            if (l->type == NN_GRU)
                n->kern.gru_fwd(H, g1, g2, bih, bhh, hp + (size_t)j * H, a, hj);
            else
                n->kern.lstm_fwd(H, g1, g2, bih, bhh, c + (size_t)t * nb * H + (size_t)j * H, a,
                                 c + (size_t)(t + 1) * nb * H + (size_t)j * H, hj);
        }
        /* Finished utterances: zero state, so their rows feed nothing but zeros onwards. */
        if (na < nb) {
            memset(hn + (size_t)na * H, 0, sizeof(float) * (nb - na) * H);
            if (c)
                memset(c + (size_t)(t + 1) * nb * H + (size_t)na * H, 0, sizeof(float) * (nb - na) * H);
        }
    }
}

/* Z = log-softmax(X W^T + b) over R rows: X (R, H), W (O, H), b (O), Z (R, O). */
static void linear_log_softmax(int R, int H, int O, const float *X, const float *W, const float *b, float *Z)
{
    for (size_t r = 0; r < (size_t)R; r++)
        memcpy(Z + r * O, b, sizeof(float) * O);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, O, H, 1.0f, X, H, W, H, 1.0f, Z, O);
    for (size_t r = 0; r < (size_t)R; r++) {
        float *z = Z + r * O, m = z[0], s = 0.0f;
        for (int o = 1; o < O; o++)
            m = z[o] > m ? z[o] : m;
        for (int o = 0; o < O; o++)
            s += expf(z[o] - m);
        float ls = m + logf(s);
        for (int o = 0; o < O; o++)
            z[o] -= ls;
    }
}

/* Gathers the slice's input frames (zeroing padding) and runs every layer and the projection,
 * leaving log-probabilities in w->logits. */
static void worker_forward(tworker *w)
{
    const tnet *n = w->net;
    const int T = w->T, nb = w->nb, In = n->n_in, B = n->call_B;
    for (int t = 0; t < T; t++) {
        int na = 0;
        for (int j = 0; j < nb; j++) {
            float *dst = w->x + ((size_t)t * nb + j) * In;
            if (t < w->ulen[j]) {
                memcpy(dst, n->call_x + ((size_t)t * B + w->idx[j]) * In, sizeof(float) * In);
                na++;
            } else {
                memset(dst, 0, sizeof(float) * In);
            }
        }
        w->n_act[t] = na;
    }
    const float *X = w->x;
    for (int k = 0; k < n->n_layers; k++) {
        layer_forward(w, k, X);
        if (n->do_backward && n->dropout > 0.0f)
            layer_dropout(w, k);
        X = layer_output(w, k);
    }
    const int O = n->n_out, H = n->H_last;
    const float *pb = n->params + n->o_pb;
    linear_log_softmax(T * nb, H, O, X, n->params + n->o_pw, pb, w->logits);
}

/* ---------- backward ---------- */

/* Layer backward: dY (T*nb, H) gradient wrt the layer's outputs; X its inputs. Accumulates
 * parameter gradients into w->grads and, if dX is not NULL, writes d loss / d X (T*nb, in). */
static void layer_backward(tworker *w, int k, const float *X, const float *dY, float *dX)
{
    const tnet *n = w->net;
    const tlayer *l = &n->L[k];
    const int T = w->T, nb = w->nb, H = l->H, GH = l->G * l->H;
    const float *Wih = n->params + l->o_wih, *Whh = n->params + l->o_whh;
    float *gWih = w->grads + l->o_wih, *gWhh = w->grads + l->o_whh;
    float *gbih = w->grads + l->o_bih, *gbhh = w->grads + l->o_bhh;
    const float *h = w->h[k], *act = w->act[k], *c = w->c[k];
    float *dgi = w->dgi;
    float *dgh = l->type == NN_GRU ? w->gi : w->dgi; /* LSTM: same gradient for both products */
    float *dh = w->dh, *dc = w->dc;

    memset(dh, 0, sizeof(float) * nb * H);
    memset(dc, 0, sizeof(float) * nb * H);
    for (int t = T - 1; t >= 0; t--) {
        const int na = w->n_act[t];
        const float *hp = h + (size_t)t * nb * H;
        for (int j = 0; j < na; j++) {
            const size_t row = (size_t)t * nb + j;
            const float *a = act + row * 4 * H, *dyj = dY + row * H;
            float *dhj = dh + (size_t)j * H;
            if (l->type == NN_GRU)
                n->kern.gru_bwd(H, a, dyj, hp + (size_t)j * H, dhj, dgi + row * GH, dgh + row * GH, gbih,
                                gbhh);
            else
                n->kern.lstm_bwd(H, a, dyj, dhj, c + (size_t)t * nb * H + (size_t)j * H,
                                 c + (size_t)(t + 1) * nb * H + (size_t)j * H, dc + (size_t)j * H,
                                 dgi + row * GH, gbih, gbhh);
        }
        if (na < nb) {
            memset(dgi + ((size_t)t * nb + na) * GH, 0, sizeof(float) * (nb - na) * GH);
            if (dgh != dgi)
                memset(dgh + ((size_t)t * nb + na) * GH, 0, sizeof(float) * (nb - na) * GH);
        }
        if (na > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, na, H, GH, 1.0f, dgh + (size_t)t * nb * GH,
                        GH, Whh, H, l->type == NN_GRU ? 1.0f : 0.0f, dh, H);
    }
    const int R = T * nb;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, H, R, 1.0f, dgh, GH, h, H, 1.0f, gWhh, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, l->in, R, 1.0f, dgi, GH, X, l->in, 1.0f, gWih,
                l->in);
    if (dX)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, l->in, GH, 1.0f, dgi, GH, Wih, l->in, 0.0f,
                    dX, l->in);
}

static asr_status ensure_ctc_work(tworker *w, size_t need)
{
    if (need <= w->ctc_cap)
        return ASR_OK;
    double *p = realloc(w->ctc_work, sizeof(double) * need);
    if (!p)
        return ASR_ERR_NOMEM;
    w->ctc_work = p;
    w->ctc_cap = need;
    return ASR_OK;
}

/* CTC of every utterance of the slice on the log-probabilities LP (rows, O), its gradient wrt the
 * logits into D (rows, O; zeroed here). Utterance b (batch index) has labels + off[b], lens[b]
 * labels; weight (NULL: 1 each) scales its gradient, and weight[b] == 0 skips it (loss 0). loss[b]
 * gets the unweighted loss (0 if infeasible), infeasible[b] (if not NULL) the infeasibility flag. */
static asr_status slice_ctc(tworker *w, const float *LP, float *D, int O, const int *labels, const int *off,
                            const int *lens, const float *weight, float *loss, int *infeasible)
{
    const int nb = w->nb;
    memset(D, 0, sizeof(float) * (size_t)w->T * nb * O);
    for (int j = 0; j < nb; j++) {
        int b = w->idx[j], L = lens[b];
        if (weight && weight[b] == 0.0f) {
            loss[b] = 0.0f;
            if (infeasible)
                infeasible[b] = 0;
            continue;
        }
        if (ensure_ctc_work(w, ctc_work_size(w->ulen[j], L)) != ASR_OK)
            return ASR_ERR_NOMEM;
        float *dj = D + (size_t)j * O;
        double l = ctc_loss_grad_strided(LP + (size_t)j * O, nb * O, w->ulen[j], O, labels + off[b], L, dj,
                                         nb * O, w->ctc_work);
        int bad = !isfinite(l);
        loss[b] = bad ? 0.0f : (float)l;
        if (infeasible)
            infeasible[b] = bad;
        if (weight && weight[b] != 1.0f)
            for (int t = 0; t < w->ulen[j]; t++)
                for (int o = 0; o < O; o++)
                    dj[(size_t)t * nb * O + o] *= weight[b];
    }
    return ASR_OK;
}

/* Backward through a linear head Z = Y W^T + b over R rows: gW += D^T Y, gb += the column sums of D,
 * dY = D W + beta dY. Y, dY (R, H); D (R, O); W, gW (O, H). */
static void head_backward(int R, int H, int O, const float *D, const float *Y, const float *W, float *gW,
                          float *gb, float *dY, float beta)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, H, R, 1.0f, D, O, Y, H, 1.0f, gW, H);
    for (size_t r = 0; r < (size_t)R; r++)
        for (int o = 0; o < O; o++)
            gb[o] += D[r * O + o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, H, O, 1.0f, D, O, W, H, beta, dY, H);
}

/* CTC on every utterance of the slice (and the auxiliary head's, when the call has targets), then
 * backward through the heads and the layers. */
static void worker_backward(tworker *w)
{
    tnet *n = w->net;
    const int T = w->T, nb = w->nb, O = n->n_out, H = n->H_last;
    const int R = T * nb;
    const tnet_aux_targets *aux = n->call_aux;
    const float *Y = layer_output(w, n->n_layers - 1);
    memset(w->grads, 0, sizeof(float) * n->n_params);
    w->st = slice_ctc(w, w->logits, w->dlog, O, n->call_labels, n->call_label_off, n->call_label_lens, NULL,
                      n->call_loss, n->call_infeasible);
    if (w->st == ASR_OK && aux) {
        /* The auxiliary head reads the same (dropped) last-layer output as the projection. */
        linear_log_softmax(R, H, n->n_aux, Y, n->params + n->o_aw, n->params + n->o_ab, w->alog);
        w->st = slice_ctc(w, w->alog, w->dalog, n->n_aux, aux->labels, n->call_aux_off, aux->label_lens,
                          aux->weight, aux->loss, aux->infeasible);
    }
    if (w->st != ASR_OK)
        return;
    const int drop = n->dropout > 0.0f;
    head_backward(R, H, O, w->dlog, Y, n->params + n->o_pw, w->grads + n->o_pw, w->grads + n->o_pb, w->dy,
                  0.0f);
    if (aux)
        head_backward(R, H, n->n_aux, w->dalog, Y, n->params + n->o_aw, w->grads + n->o_aw,
                      w->grads + n->o_ab, w->dy, 1.0f);
    if (drop)
        dropout_backward(w, n->n_layers - 1, w->dy);
    /* Layers, top down; dy and dx swap roles. */
    for (int k = n->n_layers - 1; k >= 0; k--) {
        const float *X = k == 0 ? w->x : layer_output(w, k - 1);
        float *dX = (k > 0 || n->dx_out) ? w->dx : NULL;
        layer_backward(w, k, X, w->dy, dX);
        if (drop && k > 0)
            dropout_backward(w, k - 1, dX);
        float *tmp = w->dy;
        w->dy = w->dx;
        w->dx = tmp;
    }
    /* After the final swap, w->dy holds d loss / d x of the slice. */
    if (n->dx_out) {
        const int In = n->n_in, B = n->call_B;
        for (int t = 0; t < n->call_T; t++)
            for (int j = 0; j < nb; j++) {
                float *dst = n->dx_out + ((size_t)t * B + w->idx[j]) * In;
                if (t < w->ulen[j])
                    memcpy(dst, w->dy + ((size_t)t * nb + j) * In, sizeof(float) * In);
                else
                    memset(dst, 0, sizeof(float) * In);
            }
    }
}

static void *worker_run(void *arg)
{
    tworker *w = arg;
    tnet *n = w->net;
    w->st = ASR_OK;
    if (w->nb == 0)
        return NULL;
    if (w->T > 0)
        worker_forward(w);
    if (n->do_backward) {
        worker_backward(w);
    } else if (n->call_logprobs) {
        const int O = n->n_out, B = n->call_B;
        for (int t = 0; t < w->T; t++)
            for (int j = 0; j < w->nb; j++)
                memcpy(n->call_logprobs + ((size_t)t * B + w->idx[j]) * O,
                       w->logits + ((size_t)t * w->nb + j) * O, sizeof(float) * O);
    }
    return NULL;
}

/* Sorts the batch by decreasing length (ties by index), deals it round-robin to the workers and
 * runs them; worker 0 on the calling thread. */
static asr_status run_workers(tnet *n)
{
    asr_status st = workspaces_ensure(n);
    if (st == ASR_OK && n->do_backward && n->dropout > 0.0f)
        st = dropout_buffers_ensure(n);
    if (st != ASR_OK)
        return st;
    const int B = n->call_B, nw = n->n_w;
    int order[4096];
    for (int b = 0; b < B; b++)
        order[b] = b;
    for (int i = 1; i < B; i++) { /* insertion sort: stable, deterministic */
        int v = order[i], j = i;
        while (j > 0 && n->call_lens[order[j - 1]] < n->call_lens[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    for (int i = 0; i < nw; i++) {
        n->w[i].nb = 0;
        n->w[i].T = 0;
    }
    for (int i = 0; i < B; i++) {
        tworker *w = &n->w[i % nw];
        w->idx[w->nb] = order[i];
        w->ulen[w->nb] = n->call_lens[order[i]];
        if (w->ulen[w->nb] > w->T)
            w->T = w->ulen[w->nb];
        w->nb++;
    }
    pthread_t th[64];
    int started[64] = {0};
    int nthreads = nw < 64 ? nw : 64;
    openblas_set_num_threads(nw > 1 ? 1 : n->blas_threads);
    for (int i = 1; i < nthreads; i++)
        started[i] = pthread_create(&th[i], NULL, worker_run, &n->w[i]) == 0;
    worker_run(&n->w[0]);
    for (int i = 1; i < nw; i++) {
        if (i < nthreads && started[i])
            pthread_join(th[i], NULL);
        else
            worker_run(&n->w[i]); /* could not start a thread: same work, same result, inline */
    }
    for (int i = 0; i < nw; i++)
        if (n->w[i].st != ASR_OK)
            return n->w[i].st;
    if (n->do_backward) /* fixed order: reproducible sums */
        for (int i = 0; i < nw; i++) {
            if (n->w[i].nb == 0)
                continue;
            const float *g = n->w[i].grads;
            for (size_t p = 0; p < n->n_params; p++)
                n->grads[p] += g[p];
        }
    return ASR_OK;
}

static asr_status check_batch(const tnet *n, int T, int B, const float *x, const int *lens)
{
    if (T < 0 || T > n->max_T || B < 1 || B > n->max_B || !x || !lens)
        return ASR_ERR_ARG;
    for (int b = 0; b < B; b++)
        if (lens[b] < 0 || lens[b] > T)
            return ASR_ERR_ARG;
    return ASR_OK;
}

asr_status tnet_forward(tnet *n, int T, int B, const float *x, const int *lens, float *logprobs)
{
    asr_status st = check_batch(n, T, B, x, lens);
    if (st != ASR_OK || !logprobs)
        return ASR_ERR_ARG;
    n->call_T = T;
    n->call_B = B;
    n->call_x = x;
    n->call_lens = lens;
    n->do_backward = 0;
    n->call_logprobs = logprobs;
    return run_workers(n);
}

/* Label offsets of a batch's concatenated labels into off[B]; ASR_ERR_ARG unless every length is
 * >= 0 and every label is in 1..n_classes-1. */
static asr_status label_offsets(int B, const int *labels, const int *label_lens, int n_classes, int *off)
{
    int tot = 0;
    if (!label_lens)
        return ASR_ERR_ARG;
    for (int b = 0; b < B; b++) {
        if (label_lens[b] < 0)
            return ASR_ERR_ARG;
        off[b] = tot;
        tot += label_lens[b];
    }
    if (tot > 0 && !labels)
        return ASR_ERR_ARG;
    for (int i = 0; i < tot; i++)
        if (labels[i] < 1 || labels[i] >= n_classes)
            return ASR_ERR_ARG;
    return ASR_OK;
}

asr_status tnet_train_batch(tnet *n, int T, int B, const float *x, const int *lens, const int *labels,
                            const int *label_lens, float *loss, int *infeasible)
{
    return tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, NULL, loss, infeasible);
}

asr_status tnet_train_batch_aux(tnet *n, int T, int B, const float *x, const int *lens, const int *labels,
                                const int *label_lens, const tnet_aux_targets *aux, float *loss,
                                int *infeasible)
{
    asr_status st = check_batch(n, T, B, x, lens);
    if (st != ASR_OK || !loss)
        return ASR_ERR_ARG;
    int off[4096], aux_off[4096];
    if (label_offsets(B, labels, label_lens, n->n_out, off) != ASR_OK)
        return ASR_ERR_ARG;
    if (aux) {
        if (n->n_aux == 0 || !aux->weight || !aux->loss ||
            label_offsets(B, aux->labels, aux->label_lens, n->n_aux, aux_off) != ASR_OK)
            return ASR_ERR_ARG;
        for (int b = 0; b < B; b++)
            if (!(aux->weight[b] >= 0.0f && isfinite(aux->weight[b])))
                return ASR_ERR_ARG;
    }
    n->call_aux = aux;
    n->call_aux_off = aux_off;
    n->call_T = T;
    n->call_B = B;
    n->call_x = x;
    n->call_lens = lens;
    n->call_labels = labels;
    n->call_label_off = off;
    n->call_label_lens = label_lens;
    n->call_loss = loss;
    n->call_infeasible = infeasible;
    n->call_logprobs = NULL;
    n->do_backward = 1;
    st = run_workers(n);
    n->call_label_off = NULL;
    n->call_aux = NULL;
    n->call_aux_off = NULL;
    return st;
}

asr_status tnet_export(const tnet *n, asr_model_desc *d, asr_error *err)
{
    if (!d || !d->slab || d->n_layers != n->n_layers || d->n_out != n->n_out)
        return asr_error_set(err, ASR_ERR_ARG,
                             "tnet_export: description not allocated or shaped differently "
                             "(layers %d vs %d, n_out %d vs %d)",
                             d ? d->n_layers : -1, n->n_layers, d ? d->n_out : -1, n->n_out);
    for (int k = 0; k < n->n_layers; k++) {
        const tlayer *l = &n->L[k];
        nn_rnn_layer *dl = &d->layers[k];
        if (dl->type != l->type || dl->in != l->in || dl->hidden != l->H)
            return asr_error_set(err, ASR_ERR_ARG, "tnet_export: layer %d shaped differently", k);
        size_t gh = (size_t)l->G * l->H;
        /* The description's slab is writable memory it owns; its fields are const for readers. */
        memcpy((float *)dl->w_ih, n->params + l->o_wih, sizeof(float) * gh * l->in);
        memcpy((float *)dl->w_hh, n->params + l->o_whh, sizeof(float) * gh * l->H);
        memcpy((float *)dl->b_ih, n->params + l->o_bih, sizeof(float) * gh);
        memcpy((float *)dl->b_hh, n->params + l->o_bhh, sizeof(float) * gh);
    }
    memcpy((float *)d->proj_w, n->params + n->o_pw, sizeof(float) * n->n_out * n->H_last);
    memcpy((float *)d->proj_b, n->params + n->o_pb, sizeof(float) * n->n_out);
    return ASR_OK;
}
