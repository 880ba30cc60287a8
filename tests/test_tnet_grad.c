/* test_tnet_grad.c - the training network's gradients (model/train/tnet.c) against central
 * differences of its own CTC loss, for GRU, LSTM and mixed 2-layer nets on a padded batch of 3
 * utterances of different lengths: every parameter tensor (a few dozen sampled entries each),
 * the input, and the CTC gradient wrt logits. Plus: padding invariance (extra NaN-filled padding
 * frames change nothing), batch additivity (grad of {a,b} = grad {a} + grad {b}), thread-count
 * equivalence and bit-for-bit repeatability, export/import round trip, and equality of
 * tnet_forward with the runtime layers (nn_rnn_forward_ref / nn_linear_forward_ref / log-softmax)
 * on exported weights. Dropout: the mask generator's statistics, and the gradients of a dropped
 * training batch against central differences of an independent loss (the runtime's reference layers
 * on exported weights with the same masks applied between them), its thread-count equivalence, and
 * tnet_forward's indifference to it. Auxiliary (phone) CTC head: the combined loss char CTC +
 * w[b] * aux CTC against the same independent reference extended by the head (read from the slab's
 * tail), its gradients by central differences (with and without dropout), a weight-0 (out-of-
 * dictionary) utterance contributing nothing, a net with the head training bit for bit like one
 * without it when no aux targets are given, export without the head, and a warm start that draws
 * the head from the seed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/asr_model.h"
#include "../model/model_file.h"
#include "../model/nn.h"
#include "../model/train/tnet.h"
#include "../model/train/tnet_internal.h"
#include "test_util.h"

/* H0 = 11, H1 = 9: both the 8-lane SIMD body and the scalar tail of the gate kernels run. */
enum { NFEAT = 4, STACK = 3, IN = NFEAT * STACK, B = 3, T = 9, H0 = 11, H1 = 9 };
static const int lens[B] = {9, 5, 7};
static const int label_lens[B] = {3, 1, 3};
static const int labels[] = {1, 2, 2, /**/ 3, /**/ 4, 1, 4};

static unsigned long long rs = 777;
static double urand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

static void make_arch(asr_model_desc *d, nn_layer_type t0, nn_layer_type t1)
{
    memset(d, 0, sizeof(*d));
    d->frontend = mfcc_default_params();
    d->frontend.num_ceps = NFEAT;
    d->n_feat = NFEAT;
    d->stack = STACK;
    d->stride = 3;
    strcpy(d->alphabet, "abcd");
    d->n_out = 5;
    d->n_layers = 2;
    d->layers[0] = (nn_rnn_layer){.type = t0, .in = IN, .hidden = H0};
    d->layers[1] = (nn_rnn_layer){.type = t1, .in = H0, .hidden = H1};
}

/* Sum of the batch's losses (double); gradients accumulate into a zeroed slab. */
static double batch_loss(tnet *n, int TT, int BB, const float *x, const int *ln, const int *lab,
                         const int *ll)
{
    float loss[8];
    int inf[8];
    tnet_zero_grad(n);
    if (tnet_train_batch(n, TT, BB, x, ln, lab, ll, loss, inf) != ASR_OK)
        return NAN;
    double s = 0;
    for (int b = 0; b < BB; b++)
        s += loss[b];
    return s;
}

/* The same loss evaluated for finite differences: tnet_forward, then ctc_loss_grad per utterance,
 * summed in double (tnet_train_batch reports float losses, too coarse for a difference quotient). */
static double fd_loss(tnet *n, const float *x)
{
    static float lp[T * B * 8], tmp[T * 8], g[T * 8];
    if (tnet_forward(n, T, B, x, lens, lp) != ASR_OK)
        return NAN;
    double s = 0;
    int start = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < lens[b]; t++)
            memcpy(tmp + t * 5, lp + ((size_t)t * B + b) * 5, sizeof(float) * 5);
        s += ctc_loss_grad(tmp, lens[b], 5, labels + start, label_lens[b], g);
        start += label_lens[b];
    }
    return s;
}

/* The loss the finite differences difference: fd_loss, or drop_loss for the dropout check. */
static double (*fd_fn)(tnet *, const float *) = fd_loss;

static int close_rel(double a, double b, double rel, double floor_)
{
    return fabs(a - b) <= rel * fmax(fmax(fabs(a), fabs(b)), floor_);
}

/* Central differences on `count` sampled entries of p[0..len): analytic g vs (f(p+e) - f(p-e)) / 2e. */
static void check_entries(tnet *n, const char *what, float *p, const float *g, size_t len, int count,
                          const float *x)
{
    const double eps = 1e-2;
    double worst = 0;
    int bad = 0;
    for (int s = 0; s < count; s++) {
        size_t i = (size_t)(urand() * len);
        float keep = p[i];
        p[i] = keep + (float)eps;
        double fp = fd_fn(n, x);
        p[i] = keep - (float)eps;
        double fm = fd_fn(n, x);
        p[i] = keep;
        double num = (fp - fm) / (((double)(keep + (float)eps)) - ((double)(keep - (float)eps)));
        double err = fabs(num - g[i]) / fmax(fmax(fabs(num), fabs(g[i])), 1e-2);
        if (err > worst)
            worst = err;
        if (err > 1e-2) {
            if (bad++ < 3)
                fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g\n", what, i, g[i], num);
        }
    }
    CHECK(bad == 0, "%s: %d of %d entries off (worst rel err %.3g)", what, bad, count, worst);
}

/* d loss / d x (dx, from tnet_set_input_grad) on `count` sampled valid input entries vs central
 * differences of fd_fn. */
static void check_input_grad(tnet *n, const char *what, float *x, const float *dx, int count)
{
    int bad = 0;
    double worst = 0;
    for (int s = 0; s < count; s++) {
        int b = (int)(urand() * B), t = (int)(urand() * lens[b]), i = (int)(urand() * IN);
        size_t at = ((size_t)t * B + b) * IN + i;
        float keep = x[at];
        x[at] = keep + 1e-2f;
        double fp = fd_fn(n, x);
        x[at] = keep - 1e-2f;
        double fm = fd_fn(n, x);
        x[at] = keep;
        double num = (fp - fm) / (((double)(keep + 1e-2f)) - ((double)(keep - 1e-2f)));
        double e = fabs(num - dx[at]) / fmax(fmax(fabs(num), fabs(dx[at])), 1e-2);
        worst = fmax(worst, e);
        bad += e > 1e-2;
    }
    CHECK(bad == 0, "%s: %d of %d entries off (worst %.3g)", what, bad, count, worst);
}

static void grad_check(nn_layer_type t0, nn_layer_type t1, const char *name)
{
    asr_model_desc arch;
    asr_error err;
    make_arch(&arch, t0, t1);
    tnet *n = tnet_create(&arch, 8, 32, 42, &err);
    CHECK(n != NULL, "%s: tnet_create: %s", name, n ? "" : err.msg);
    if (!n)
        return;
    float *x = malloc(sizeof(float) * T * B * IN), *dx = malloc(sizeof(float) * T * B * IN);
    for (int i = 0; i < T * B * IN; i++)
        x[i] = (float)(urand() * 2 - 1);
    size_t np = tnet_n_params(n);
    float *g = malloc(sizeof(float) * np);
    tnet_set_input_grad(n, dx);
    double l0 = batch_loss(n, T, B, x, lens, labels, label_lens);
    tnet_set_input_grad(n, NULL);
    CHECK(isfinite(l0) && l0 > 0, "%s: loss %g", name, l0);
    memcpy(g, tnet_grads(n), sizeof(float) * np);

    /* Tensor boundaries in model-file order. */
    float *p = tnet_params(n);
    size_t off = 0;
    for (int k = 0; k < 2; k++) {
        const nn_rnn_layer *l = &arch.layers[k];
        size_t gh = (size_t)nn_rnn_gates(l->type) * l->hidden;
        size_t sz[4] = {gh * l->in, gh * l->hidden, gh, gh};
        const char *tn[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
        for (int q = 0; q < 4; q++) {
            char what[64];
            snprintf(what, sizeof(what), "%s layer%d.%s", name, k, tn[q]);
            check_entries(n, what, p + off, g + off, sz[q], 24, x);
            off += sz[q];
        }
    }
    char what[64];
    snprintf(what, sizeof(what), "%s proj.w", name);
    check_entries(n, what, p + off, g + off, (size_t)arch.n_out * H1, 24, x);
    off += (size_t)arch.n_out * H1;
    snprintf(what, sizeof(what), "%s proj.b", name);
    check_entries(n, what, p + off, g + off, (size_t)arch.n_out, arch.n_out, x);
    off += (size_t)arch.n_out;
    CHECK(off == np, "%s: tensor sizes add up to n_params (%zu vs %zu)", name, off, np);

    /* Input gradient: valid frames by central differences, padding frames exactly zero. */
    snprintf(what, sizeof(what), "%s input", name);
    check_input_grad(n, what, x, dx, 30);
    int nz = 0;
    for (int b = 0; b < B; b++)
        for (int t = lens[b]; t < T; t++)
            for (int i = 0; i < IN; i++)
                nz += dx[((size_t)t * B + b) * IN + i] != 0.0f;
    CHECK(nz == 0, "%s: input gradient on padding frames is zero (%d nonzero)", name, nz);

    /* Padding invariance: 6 extra frames of NaN padding; batch order shuffled. */
    {
        enum { T2 = T + 6 };
        static const int perm[B] = {2, 0, 1}; /* new slot j holds old utterance perm[j] */
        float *x2 = malloc(sizeof(float) * T2 * B * IN);
        int l2[B], ll2[B], lab2[16], o = 0;
        for (int i = 0; i < T2 * B * IN; i++)
            x2[i] = NAN;
        for (int j = 0; j < B; j++) {
            int b = perm[j];
            l2[j] = lens[b];
            ll2[j] = label_lens[b];
            int start = 0;
            for (int q = 0; q < b; q++)
                start += label_lens[q];
            for (int q = 0; q < label_lens[b]; q++)
                lab2[o++] = labels[start + q];
            for (int t = 0; t < lens[b]; t++)
                memcpy(x2 + ((size_t)t * B + j) * IN, x + ((size_t)t * B + b) * IN, sizeof(float) * IN);
        }
        double l2s = batch_loss(n, T2, B, x2, l2, lab2, ll2);
        CHECK(close_rel(l2s, l0, 1e-6, 1e-6), "%s: padded/permuted loss %.9g vs %.9g", name, l2s, l0);
        const float *g2 = tnet_grads(n);
        double md = 0;
        for (size_t i = 0; i < np; i++)
            md = fmax(md, fabs(g2[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
        CHECK(md <= 1e-4, "%s: padded/permuted gradients differ (max rel %.3g, relative to max(|g|, 1e-3))",
              name, md);
        free(x2);
    }

    /* Additivity: gradient of the batch = sum of the gradients of its utterances alone. */
    {
        float *acc = calloc(np, sizeof(float));
        float *x1 = malloc(sizeof(float) * T * IN);
        double ls = 0;
        int start = 0;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++)
                memcpy(x1 + (size_t)t * IN, x + ((size_t)t * B + b) * IN, sizeof(float) * IN);
            ls += batch_loss(n, lens[b], 1, x1, &lens[b], labels + start, &label_lens[b]);
            start += label_lens[b];
            for (size_t i = 0; i < np; i++)
                acc[i] += tnet_grads(n)[i];
        }
        CHECK(close_rel(ls, l0, 1e-6, 1e-6), "%s: sum of single losses %.9g vs batch %.9g", name, ls, l0);
        double md = 0;
        for (size_t i = 0; i < np; i++)
            md = fmax(md, fabs(acc[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
        CHECK(md <= 1e-4,
              "%s: batch gradient != sum of single gradients (max rel %.3g, relative to max(|g|, 1e-3))",
              name, md);
        free(acc);
        free(x1);
    }

    /* Threads: 2 and 3 workers agree with 1 closely, and repeat bit for bit. */
    for (int th = 2; th <= 3; th++) {
        tnet_set_threads(n, th);
        double la = batch_loss(n, T, B, x, lens, labels, label_lens);
        float *ga = malloc(sizeof(float) * np);
        memcpy(ga, tnet_grads(n), sizeof(float) * np);
        double lb = batch_loss(n, T, B, x, lens, labels, label_lens);
        CHECK(la == lb && memcmp(ga, tnet_grads(n), sizeof(float) * np) == 0, "%s: %d threads not repeatable",
              name, th);
        double md = 0;
        for (size_t i = 0; i < np; i++)
            md = fmax(md, fabs(ga[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
        CHECK(close_rel(la, l0, 1e-6, 1e-6) && md <= 1e-4,
              "%s: %d threads differ from 1 (loss %.9g vs %.9g, "
              "grad max rel %.3g)",
              name, th, la, l0, md);
        free(ga);
    }
    tnet_set_threads(n, 1);

    /* Scalar reference kernels give the same loss and gradients as the SIMD ones. */
    {
        tnet_set_simd(n, 0);
        double lr = batch_loss(n, T, B, x, lens, labels, label_lens);
        tnet_set_simd(n, 1);
        const float *gr = tnet_grads(n);
        double md = 0;
        for (size_t i = 0; i < np; i++)
            md = fmax(md, fabs(gr[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
        CHECK(close_rel(lr, l0, 1e-6, 1e-6) && md <= 1e-4,
              "%s: reference kernels differ from SIMD (loss %.9g vs "
              "%.9g, grad max rel %.3g)",
              name, lr, l0, md);
    }

    /* Export, re-import, and the runtime's layer functions on the exported weights. */
    asr_model_desc d = arch;
    if (asr_model_desc_alloc(&d, &err) != ASR_OK) {
        CHECK(0, "%s: asr_model_desc_alloc: %s", name, err.msg);
    } else {
        CHECK(tnet_export(n, &d, &err) == ASR_OK, "%s: export", name);
        tnet *m = tnet_create(&d, 8, 32, 0, &err);
        CHECK(m && memcmp(tnet_params(m), tnet_params(n), sizeof(float) * np) == 0,
              "%s: export/import round trip", name);
        tnet_destroy(m);
        float *lp = malloc(sizeof(float) * T * B * arch.n_out);
        CHECK(tnet_forward(n, T, B, x, lens, lp) == ASR_OK, "%s: forward", name);
        double md = 0;
        for (int b = 0; b < B; b++) {
            float ya[T * H0], yb[T * H1], xin[T * IN], state[4 * H0], out[8];
            float *scratch = malloc(sizeof(float) * (nn_rnn_scratch_size(&d.layers[0], T) +
                                                     nn_rnn_scratch_size(&d.layers[1], T) + 64));
            for (int t = 0; t < lens[b]; t++)
                memcpy(xin + t * IN, x + ((size_t)t * B + b) * IN, sizeof(float) * IN);
            memset(state, 0, sizeof(state));
            nn_rnn_forward_ref(&d.layers[0], lens[b], xin, state, ya, scratch);
            memset(state, 0, sizeof(state));
            nn_rnn_forward_ref(&d.layers[1], lens[b], ya, state, yb, scratch);
            for (int t = 0; t < lens[b]; t++) {
                nn_linear_forward_ref(d.proj_w, d.proj_b, H1, d.n_out, 1, yb + t * H1, out);
                nn_log_softmax(out, d.n_out);
                for (int o = 0; o < d.n_out; o++)
                    md = fmax(md, fabs(out[o] - lp[((size_t)t * B + b) * d.n_out + o]));
            }
            free(scratch);
        }
        CHECK(md <= 1e-5, "%s: tnet_forward vs runtime layers on exported weights: max diff %.3g", name, md);
        free(lp);
        asr_model_desc_free(&d);
    }
    free(g);
    free(x);
    free(dx);
    tnet_destroy(n);
}

/* CTC gradient wrt logits by central differences through log-softmax (double). */
static void ctc_logit_check(void)
{
    enum { CT = 12, O = 6 };
    static const int lab[] = {2, 2, 5, 1};
    float z[CT * O], lp[CT * O], g[CT * O];
    for (int i = 0; i < CT * O; i++)
        z[i] = (float)(urand() * 4 - 2);
    double worst = 0;
    for (int s = 0; s < CT * O; s++) {
        double f[2];
        for (int sign = 0; sign < 2; sign++) {
            float zz[CT * O];
            memcpy(zz, z, sizeof(z));
            zz[s] += sign ? -1e-2f : 1e-2f;
            for (int t = 0; t < CT; t++) {
                double m = -1e30, sum = 0;
                for (int k = 0; k < O; k++)
                    m = fmax(m, zz[t * O + k]);
                for (int k = 0; k < O; k++)
                    sum += exp(zz[t * O + k] - m);
                for (int k = 0; k < O; k++)
                    lp[t * O + k] = (float)(zz[t * O + k] - m - log(sum));
            }
            f[sign] = ctc_loss_grad(lp, CT, O, lab, 4, g);
        }
        double num = (f[0] - f[1]) / 2e-2;
        for (int t = 0; t < CT; t++) { /* analytic at the unperturbed point */
            double m = -1e30, sum = 0;
            for (int k = 0; k < O; k++)
                m = fmax(m, z[t * O + k]);
            for (int k = 0; k < O; k++)
                sum += exp(z[t * O + k] - m);
            for (int k = 0; k < O; k++)
                lp[t * O + k] = (float)(z[t * O + k] - m - log(sum));
        }
        ctc_loss_grad(lp, CT, O, lab, 4, g);
        worst = fmax(worst, fabs(num - g[s]) / fmax(fmax(fabs(num), fabs(g[s])), 1e-2));
    }
    CHECK(worst <= 1e-2, "CTC gradient wrt logits vs central differences: worst rel err %.3g", worst);
}

/* The runtime path on exported weights: raw features -> asr_stream_accept_features (normalises with
 * feat_mean / feat_std, stacks, runs the runtime's layers) gives tnet_forward's log-probabilities
 * on the same features normalised and stacked here. Stride 2 < stack 3: stacks overlap. */
static void runtime_check(nn_layer_type t0, nn_layer_type t1, const char *name)
{
    asr_model_desc arch, d;
    asr_error err;
    make_arch(&arch, t0, t1);
    arch.stride = 2;
    tnet *n = tnet_create(&arch, 4, 64, 7, &err);
    d = arch;
    if (!n || asr_model_desc_alloc(&d, &err) != ASR_OK || tnet_export(n, &d, &err) != ASR_OK) {
        CHECK(0, "%s runtime: setup: %s", name, err.msg);
        tnet_destroy(n);
        return;
    }
    for (int i = 0; i < NFEAT; i++) {
        d.feat_mean[i] = (float)(urand() * 4 - 2);
        d.feat_std[i] = (float)(0.5 + urand() * 2);
    }
    enum { RB = 2, RT = 40 };
    const int rl[RB] = {40, 23};
    static float raw[RB][(RT - 1) * 2 + STACK][NFEAT], x[RT * RB * IN], lp[RT * RB * 5], out[5];
    for (int b = 0; b < RB; b++)
        for (int f = 0; f < (rl[b] - 1) * 2 + STACK; f++)
            for (int i = 0; i < NFEAT; i++)
                raw[b][f][i] = (float)(urand() * 10 - 5);
    for (int b = 0; b < RB; b++)
        for (int t = 0; t < rl[b]; t++)
            for (int sk = 0; sk < STACK; sk++)
                for (int i = 0; i < NFEAT; i++)
                    x[((size_t)t * RB + b) * IN + sk * NFEAT + i] =
                        (raw[b][t * 2 + sk][i] - d.feat_mean[i]) / d.feat_std[i];
    CHECK(tnet_forward(n, RT, RB, x, rl, lp) == ASR_OK, "%s runtime: forward", name);
    asr_model *m = asr_model_from_desc(&d, &err);
    CHECK(m != NULL, "%s runtime: asr_model_from_desc: %s", name, m ? "" : err.msg);
    double md = 0;
    int frames_ok = 1;
    for (int b = 0; m && b < RB; b++) {
        asr_stream *st = asr_stream_create(m, &err);
        if (!st)
            break;
        asr_stream_accept_features(st, &raw[b][0][0], (rl[b] - 1) * 2 + STACK);
        int t = 0;
        while (asr_stream_pop(st, out)) {
            if (t < rl[b])
                for (int o = 0; o < 5; o++)
                    md = fmax(md, fabs(out[o] - lp[((size_t)t * RB + b) * 5 + o]));
            t++;
        }
        frames_ok &= t == rl[b];
        asr_stream_destroy(st);
    }
    CHECK(frames_ok, "%s runtime: stream produced as many frames as the trainer", name);
    CHECK(md <= 1e-4, "%s runtime: asr_stream log-probs vs tnet_forward: max diff %.3g", name, md);
    asr_model_free(m);
    asr_model_desc_free(&d);
    tnet_destroy(n);
}

/* The independent reference loss of the dropout and auxiliary-head checks: the runtime's reference
 * layers on weights exported from n (into drop_desc), with tnet_dropout_row's masks applied to each
 * layer's output when ref_drop, log-softmax and CTC; when ref_aux, plus aux_weight[b] times the CTC
 * loss of the auxiliary head (its weights read from the tail of n's slab) on aux_labels; summed in
 * double. */
enum { DROP_SEED = 4242, NA = 6 };
static const float drop_p = 0.3f;
static asr_model_desc drop_desc;
static int ref_drop = 1, ref_aux;
static const int aux_lens[B] = {4, 1, 2};
static const int aux_labels[] = {1, 2, 2, 3, /**/ 5, /**/ 4, 1};
static const float aux_weight[B] = {0.7f, 0.0f, 1.3f}; /* utterance 1: out of dictionary */

/* y (lens[b] x H, layer k's outputs for utterance b) *= its dropout masks. */
static void drop_rows(float *y, int b, int k, int H)
{
    float mask[H0 > H1 ? H0 : H1];
    for (int t = 0; t < lens[b]; t++) {
        tnet_dropout_row(DROP_SEED, b, k, t, H, drop_p, mask);
        for (int i = 0; i < H; i++)
            y[t * H + i] *= mask[i];
    }
}

static double ref_loss(tnet *n, const float *x)
{
    asr_model_desc *d = &drop_desc;
    asr_error err;
    if (tnet_export(n, d, &err) != ASR_OK)
        return NAN;
    const float *aw = tnet_params(n) + tnet_n_params(n) - (size_t)NA * (H1 + 1), *ab = aw + NA * H1;
    double s = 0;
    int start = 0, astart = 0;
    for (int b = 0; b < B; b++) {
        float xin[T * IN], ya[T * H0], yb[T * H1], state[4 * H0], lp[T * NA], g[T * NA];
        float *scratch = malloc(sizeof(float) * (nn_rnn_scratch_size(&d->layers[0], T) +
                                                 nn_rnn_scratch_size(&d->layers[1], T) + 64));
        for (int t = 0; t < lens[b]; t++)
            memcpy(xin + t * IN, x + ((size_t)t * B + b) * IN, sizeof(float) * IN);
        memset(state, 0, sizeof(state));
        nn_rnn_forward_ref(&d->layers[0], lens[b], xin, state, ya, scratch);
        if (ref_drop)
            drop_rows(ya, b, 0, H0);
        memset(state, 0, sizeof(state));
        nn_rnn_forward_ref(&d->layers[1], lens[b], ya, state, yb, scratch);
        if (ref_drop)
            drop_rows(yb, b, 1, H1);
        for (int t = 0; t < lens[b]; t++) {
            nn_linear_forward_ref(d->proj_w, d->proj_b, H1, d->n_out, 1, yb + t * H1, lp + t * 5);
            nn_log_softmax(lp + t * 5, d->n_out);
        }
        s += ctc_loss_grad(lp, lens[b], 5, labels + start, label_lens[b], g);
        start += label_lens[b];
        if (ref_aux && aux_weight[b] > 0) {
            for (int t = 0; t < lens[b]; t++) {
                nn_linear_forward_ref(aw, ab, H1, NA, 1, yb + t * H1, lp + t * NA);
                nn_log_softmax(lp + t * NA, NA);
            }
            s += aux_weight[b] * ctc_loss_grad(lp, lens[b], NA, aux_labels + astart, aux_lens[b], g);
        }
        astart += aux_lens[b];
        free(scratch);
    }
    return s;
}

/* The mask generator: drop rate, scale, determinism, independence of its keys. */
static void dropout_mask_check(void)
{
    enum { MH = 1000, ROWS = 200 };
    static float m[MH], m2[MH];
    long zeros = 0, n = 0;
    double sum = 0;
    int values_ok = 1;
    const float keep = 1.0f / (1.0f - drop_p);
    for (int r = 0; r < ROWS; r++) {
        tnet_dropout_row(7, r % 5, r % 3, r, MH, drop_p, m);
        for (int i = 0; i < MH; i++, n++) {
            zeros += m[i] == 0.0f;
            sum += m[i];
            values_ok &= m[i] == 0.0f || fabsf(m[i] - keep) <= 1e-4f * keep;
        }
    }
    double rate = (double)zeros / (double)n;
    CHECK(fabs(rate - drop_p) < 0.01, "dropout drops %.4f of %ld elements, expected %.2f", rate, n, drop_p);
    CHECK(values_ok, "dropout mask values are 0 or 1/(1-p)");
    CHECK(fabs(sum / (double)n - 1.0) < 0.02, "dropout mask mean %.4f, expected 1", sum / (double)n);
    tnet_dropout_row(7, 1, 2, 3, MH, drop_p, m);
    tnet_dropout_row(7, 1, 2, 3, MH, drop_p, m2);
    CHECK(memcmp(m, m2, sizeof(m)) == 0, "dropout mask repeats for the same key");
    const int keys[4][4] = {{8, 1, 2, 3}, {7, 0, 2, 3}, {7, 1, 1, 3}, {7, 1, 2, 4}};
    for (int q = 0; q < 4; q++) {
        tnet_dropout_row((unsigned long long)keys[q][0], keys[q][1], keys[q][2], keys[q][3], MH, drop_p, m2);
        int same = 0;
        for (int i = 0; i < MH; i++)
            same += (m[i] == 0.0f) == (m2[i] == 0.0f);
        /* independent masks agree on p^2 + (1-p)^2 = 58% of elements */
        CHECK(same < MH * 7 / 10, "dropout mask for key %d differs from its neighbour's (%d of %d agree)", q,
              same, MH);
    }
    tnet_dropout_row(7, 1, 2, 3, MH, 0.0f, m);
    int ones = 0;
    for (int i = 0; i < MH; i++)
        ones += m[i] == 1.0f;
    CHECK(ones == MH, "p = 0 keeps everything unscaled (%d of %d)", ones, MH);
}

/* Gradients of a training batch with dropout against the independent drop_loss. */
static void dropout_check(nn_layer_type t0, nn_layer_type t1, const char *name)
{
    asr_model_desc arch;
    asr_error err;
    make_arch(&arch, t0, t1);
    tnet *n = tnet_create(&arch, 8, 32, 43, &err);
    drop_desc = arch;
    if (!n || asr_model_desc_alloc(&drop_desc, &err) != ASR_OK) {
        CHECK(0, "%s dropout: setup: %s", name, err.msg);
        tnet_destroy(n);
        return;
    }
    size_t np = tnet_n_params(n);
    float *x = malloc(sizeof(float) * T * B * IN), *dx = malloc(sizeof(float) * T * B * IN);
    float *g = malloc(sizeof(float) * np), *lp0 = malloc(sizeof(float) * T * B * 5),
          *lp1 = malloc(sizeof(float) * T * B * 5);
    for (int i = 0; i < T * B * IN; i++)
        x[i] = (float)(urand() * 2 - 1);
    double plain = batch_loss(n, T, B, x, lens, labels, label_lens);
    CHECK(tnet_forward(n, T, B, x, lens, lp0) == ASR_OK, "%s dropout: forward", name);
    tnet_set_dropout(n, drop_p, DROP_SEED);
    tnet_set_input_grad(n, dx);
    double l0 = batch_loss(n, T, B, x, lens, labels, label_lens);
    tnet_set_input_grad(n, NULL);
    memcpy(g, tnet_grads(n), sizeof(float) * np);
    double ref = ref_loss(n, x);
    CHECK(close_rel(l0, ref, 1e-5, 1e-5), "%s dropout: batch loss %.9g vs reference with the same masks %.9g",
          name, l0, ref);
    CHECK(fabs(l0 - plain) > 1e-3 * fabs(plain), "%s dropout: changes the loss (%.6g vs %.6g without)", name,
          l0, plain);
    CHECK(tnet_forward(n, T, B, x, lens, lp1) == ASR_OK && memcmp(lp0, lp1, sizeof(float) * T * B * 5) == 0,
          "%s dropout: tnet_forward does not drop", name);

    fd_fn = ref_loss;
    float *p = tnet_params(n);
    const char *tn[3] = {"layer0.w_ih", "layer1.w_hh", "proj.w"};
    const size_t at[3] = {0,
                          (size_t)nn_rnn_gates(t0) * H0 * (IN + H0 + 2) + (size_t)nn_rnn_gates(t1) * H1 * H0,
                          np - (size_t)arch.n_out * (H1 + 1)};
    const size_t len[3] = {(size_t)nn_rnn_gates(t0) * H0 * IN, (size_t)nn_rnn_gates(t1) * H1 * H1,
                           (size_t)arch.n_out * H1};
    for (int q = 0; q < 3; q++) {
        char what[64];
        snprintf(what, sizeof(what), "%s dropout %s", name, tn[q]);
        check_entries(n, what, p + at[q], g + at[q], len[q], 24, x);
    }
    char what[64];
    snprintf(what, sizeof(what), "%s dropout input", name);
    check_input_grad(n, what, x, dx, 20);
    fd_fn = fd_loss;

    tnet_set_threads(n, 3);
    double l3 = batch_loss(n, T, B, x, lens, labels, label_lens);
    double md = 0;
    for (size_t i = 0; i < np; i++)
        md = fmax(md, fabs(tnet_grads(n)[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
    CHECK(close_rel(l3, l0, 1e-6, 1e-6) && md <= 1e-4,
          "%s dropout: 3 threads draw the same masks as 1 (loss %.9g vs %.9g, grad max rel %.3g)", name, l3,
          l0, md);
    free(x);
    free(dx);
    free(g);
    free(lp0);
    free(lp1);
    asr_model_desc_free(&drop_desc);
    tnet_destroy(n);
}

/* Max relative difference of two gradient slabs (relative to max(|g|, 1e-3)). */
static double grad_diff(const float *a, const float *g, size_t len)
{
    double md = 0;
    for (size_t i = 0; i < len; i++)
        md = fmax(md, fabs(a[i] - g[i]) / fmax(fabs(g[i]), 1e-3));
    return md;
}

/* The auxiliary (phone) CTC head of tnet_create_aux / tnet_train_batch_aux, with dropout or without. */
static void aux_check(nn_layer_type t0, nn_layer_type t1, const char *name, int with_drop)
{
    asr_model_desc arch;
    asr_error err;
    make_arch(&arch, t0, t1);
    tnet *n = tnet_create_aux(&arch, NA, 8, 32, 44, &err), *plain = tnet_create(&arch, 8, 32, 44, &err);
    drop_desc = arch;
    if (!n || !plain || asr_model_desc_alloc(&drop_desc, &err) != ASR_OK) {
        CHECK(0, "%s aux: setup: %s", name, err.msg);
        tnet_destroy(n);
        tnet_destroy(plain);
        return;
    }
    const size_t np = tnet_n_params(n), npm = tnet_n_params(plain), na = (size_t)NA * (H1 + 1);
    CHECK(np == npm + na && tnet_n_aux(n) == NA && tnet_n_aux(plain) == 0,
          "%s aux: slab = model tensors + %d x (%d + 1) (%zu vs %zu)", name, NA, H1, np, npm);
    CHECK(memcmp(tnet_params(n), tnet_params(plain), sizeof(float) * npm) == 0,
          "%s aux: model tensors equal tnet_create's for the same seed", name);
    float *x = malloc(sizeof(float) * T * B * IN), *dx = malloc(sizeof(float) * T * B * IN);
    float *g = malloc(sizeof(float) * np);
    for (int i = 0; i < T * B * IN; i++)
        x[i] = (float)(urand() * 2 - 1);
    if (with_drop) {
        tnet_set_dropout(n, drop_p, DROP_SEED);
        tnet_set_dropout(plain, drop_p, DROP_SEED);
    }

    /* Without aux targets, or with every weight 0, the net trains bit for bit like one without the head. */
    float lp[B], la[B], aloss[B];
    int inf[B], ainf[B];
    static const float zero_w[B] = {0, 0, 0};
    tnet_aux_targets none = {aux_labels, aux_lens, zero_w, aloss, ainf};
    tnet_zero_grad(plain);
    asr_status s1 = tnet_train_batch(plain, T, B, x, lens, labels, label_lens, lp, inf);
    for (int pass = 0; pass < 2; pass++) {
        tnet_zero_grad(n);
        asr_status s2 =
            tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, pass ? &none : NULL, la, inf);
        int aux_zero = 1;
        for (size_t i = npm; i < np; i++)
            aux_zero &= tnet_grads(n)[i] == 0.0f;
        for (int b = 0; pass && b < B; b++)
            aux_zero &= aloss[b] == 0.0f;
        CHECK(s1 == ASR_OK && s2 == ASR_OK && memcmp(lp, la, sizeof(lp)) == 0 &&
                  memcmp(tnet_grads(n), tnet_grads(plain), sizeof(float) * npm) == 0 && aux_zero,
              "%s aux: %s: losses and model gradients bit for bit those of a net without the head, "
              "head gradient and phone losses 0",
              name, pass ? "all weights 0" : "no aux targets");
    }

    /* The combined loss against the independent reference. */
    tnet_aux_targets aux = {aux_labels, aux_lens, aux_weight, aloss, ainf};
    tnet_set_input_grad(n, dx);
    tnet_zero_grad(n);
    asr_status st = tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, &aux, la, inf);
    tnet_set_input_grad(n, NULL);
    memcpy(g, tnet_grads(n), sizeof(float) * np);
    double tot = 0, chars = 0;
    for (int b = 0; b < B; b++) {
        tot += la[b] + aux_weight[b] * aloss[b];
        chars += la[b];
    }
    ref_drop = with_drop;
    ref_aux = 1;
    double ref = ref_loss(n, x);
    CHECK(st == ASR_OK && close_rel(tot, ref, 1e-5, 1e-5),
          "%s aux: char + weighted phone loss %.9g vs independent reference %.9g", name, tot, ref);
    CHECK(close_rel(chars, lp[0] + lp[1] + lp[2], 1e-6, 1e-6), "%s aux: char losses unchanged by the head",
          name);
    CHECK(aloss[1] == 0.0f && ainf[1] == 0 && aloss[0] > 0 && aloss[2] > 0 && !ainf[0] && !ainf[2],
          "%s aux: weight-0 (out-of-dictionary) utterance has phone loss 0, the others > 0 (%g %g %g)", name,
          aloss[0], aloss[1], aloss[2]);
    {
        static const int other[] = {1, 2, 2, 3, /**/ 2, /**/ 4, 1}; /* utterance 1's phones changed */
        tnet_aux_targets aux2 = {other, aux_lens, aux_weight, aloss, ainf};
        tnet_zero_grad(n);
        tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, &aux2, la, inf);
        CHECK(memcmp(g, tnet_grads(n), sizeof(float) * np) == 0,
              "%s aux: a weight-0 utterance's phone targets do not change the gradient", name);
    }

    fd_fn = ref_loss;
    float *p = tnet_params(n);
    const char *tn[5] = {"layer0.w_ih", "layer1.w_hh", "proj.w", "aux.w", "aux.b"};
    const size_t at[5] = {0,
                          (size_t)nn_rnn_gates(t0) * H0 * (IN + H0 + 2) + (size_t)nn_rnn_gates(t1) * H1 * H0,
                          npm - (size_t)arch.n_out * (H1 + 1), npm, npm + (size_t)NA * H1};
    const size_t len[5] = {(size_t)nn_rnn_gates(t0) * H0 * IN, (size_t)nn_rnn_gates(t1) * H1 * H1,
                           (size_t)arch.n_out * H1, (size_t)NA * H1, NA};
    for (int q = 0; q < 5; q++) {
        char what[80];
        snprintf(what, sizeof(what), "%s aux%s %s", name, with_drop ? " dropout" : "", tn[q]);
        check_entries(n, what, p + at[q], g + at[q], len[q], q == 4 ? NA : 24, x);
    }
    char what[80];
    snprintf(what, sizeof(what), "%s aux%s input", name, with_drop ? " dropout" : "");
    check_input_grad(n, what, x, dx, 20);
    fd_fn = fd_loss;
    ref_drop = 1;
    ref_aux = 0;

    tnet_set_threads(n, 3);
    tnet_zero_grad(n);
    tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, &aux, la, inf);
    double t3 = 0;
    for (int b = 0; b < B; b++)
        t3 += la[b] + aux_weight[b] * aloss[b];
    double md = grad_diff(tnet_grads(n), g, np);
    CHECK(close_rel(t3, tot, 1e-6, 1e-6) && md <= 1e-4,
          "%s aux: 3 threads agree with 1 (loss %.9g vs %.9g, grad max rel %.3g)", name, t3, tot, md);
    tnet_set_threads(n, 1);

    /* Export leaves the head out; a warm start from the exported model draws the head from the seed. */
    tnet *m = tnet_create(&drop_desc, 8, 32, 0, &err);
    CHECK(m && tnet_n_params(m) == npm && memcmp(tnet_params(m), tnet_params(n), sizeof(float) * npm) == 0,
          "%s aux: the exported model is the model tensors alone", name);
    tnet_destroy(m);
    tnet *w1 = tnet_create_aux(&drop_desc, NA, 8, 32, 5, &err),
         *w2 = tnet_create_aux(&drop_desc, NA, 8, 32, 5, &err),
         *w3 = tnet_create_aux(&drop_desc, NA, 8, 32, 6, &err);
    if (w1 && w2 && w3) {
        const float *h1 = tnet_params(w1) + npm, *h3 = tnet_params(w3) + npm;
        int in_range = 1, nonzero = 0;
        for (size_t i = 0; i < na; i++) {
            in_range &= fabsf(h1[i]) <= 1.0f / sqrtf((float)H1);
            nonzero += h1[i] != 0.0f;
        }
        CHECK(memcmp(tnet_params(w1), tnet_params(n), sizeof(float) * npm) == 0,
              "%s aux: warm start keeps the model's weights", name);
        CHECK(memcmp(h1, tnet_params(w2) + npm, sizeof(float) * na) == 0 &&
                  memcmp(h1, h3, sizeof(float) * na) != 0 && in_range && nonzero == (int)na,
              "%s aux: warm start draws the head from the seed (repeatable, seed-dependent, in U(-1/sqrt(H), "
              "..))",
              name);
    } else {
        CHECK(0, "%s aux: warm start: %s", name, err.msg);
    }
    tnet_destroy(w1);
    tnet_destroy(w2);
    tnet_destroy(w3);

    /* Argument checks. */
    static const float neg_w[B] = {0.5f, -1.0f, 0.5f};
    static const int big[] = {1, 2, 2, NA, /**/ 5, /**/ 4, 1};
    tnet_aux_targets bad_w = {aux_labels, aux_lens, neg_w, aloss, ainf},
                     bad_l = {big, aux_lens, aux_weight, aloss, ainf};
    CHECK(tnet_train_batch_aux(plain, T, B, x, lens, labels, label_lens, &aux, la, inf) == ASR_ERR_ARG,
          "%s aux: targets for a net without the head refused", name);
    CHECK(tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, &bad_w, la, inf) == ASR_ERR_ARG,
          "%s aux: negative weight refused", name);
    CHECK(tnet_train_batch_aux(n, T, B, x, lens, labels, label_lens, &bad_l, la, inf) == ASR_ERR_ARG,
          "%s aux: phone label >= n_aux refused", name);
    CHECK(tnet_create_aux(&arch, 1, 8, 32, 1, &err) == NULL, "%s aux: a 1-class head refused", name);
    free(x);
    free(dx);
    free(g);
    asr_model_desc_free(&drop_desc);
    tnet_destroy(n);
    tnet_destroy(plain);
}

/* Row kernels: SIMD vs scalar reference on random rows (H = 37: four vectors and a tail). */
static void kernel_check(void)
{
    enum { KH = 37 };
    tnet_kernels fast = tnet_kernels_get(1), ref = tnet_kernels_get(0);
    float in[16][4 * KH], out[2][8][4 * KH];
    for (int i = 0; i < 16; i++)
        for (int q = 0; q < 4 * KH; q++)
            in[i][q] = (float)(urand() * 8 - 4);
    for (int i = 0; i < 16; i++) /* activations in range for the backward kernels */
        for (int q = 0; q < 4 * KH; q++)
            in[i][q] = i >= 8 ? (float)urand() : in[i][q];
    double md = 0;
    for (int v = 0; v < 2; v++) {
        tnet_kernels k = v ? ref : fast;
        memset(out[v], 0, sizeof(out[v]));
        memcpy(out[v][2], in[5], sizeof(in[5])); /* dh / dc in-out */
        memcpy(out[v][3], in[6], sizeof(in[6]));
        k.gru_fwd(KH, in[0], in[1], in[2], in[3], in[4], out[v][0], out[v][1]);
        k.lstm_fwd(KH, in[0], in[1], in[2], in[3], in[4], out[v][4], out[v][5], out[v][6]);
        k.gru_bwd(KH, in[8], in[9], in[10], out[v][2], out[v][7], out[v][4], out[v][0], out[v][1]);
        k.lstm_bwd(KH, in[11], in[12], in[13], in[14], in[15], out[v][3], out[v][5], out[v][6], out[v][0]);
    }
    for (int a = 0; a < 8; a++)
        for (int q = 0; q < 4 * KH; q++)
            md = fmax(md, fabs(out[0][a][q] - out[1][a][q]) / fmax(fabs(out[1][a][q]), 1.0));
    CHECK(md <= 2e-6, "SIMD gate kernels vs scalar reference: max diff %.3g", md);
}

int main(void)
{
    kernel_check();
    ctc_logit_check();
    grad_check(NN_GRU, NN_GRU, "gru-gru");
    grad_check(NN_LSTM, NN_LSTM, "lstm-lstm");
    grad_check(NN_GRU, NN_LSTM, "gru-lstm");
    runtime_check(NN_GRU, NN_GRU, "gru-gru");
    runtime_check(NN_LSTM, NN_LSTM, "lstm-lstm");
    dropout_mask_check();
    dropout_check(NN_LSTM, NN_LSTM, "lstm-lstm");
    dropout_check(NN_GRU, NN_LSTM, "gru-lstm");
    aux_check(NN_LSTM, NN_LSTM, "lstm-lstm", 0);
    aux_check(NN_LSTM, NN_LSTM, "lstm-lstm", 1);
    aux_check(NN_GRU, NN_LSTM, "gru-lstm", 1);

    /* Infeasible utterance: loss 0, flagged, no gradient; argument checks. */
    asr_model_desc arch;
    asr_error err;
    make_arch(&arch, NN_GRU, NN_GRU);
    tnet *n = tnet_create(&arch, 4, 16, 1, &err);
    float x[4 * 2 * IN], loss[2];
    for (int i = 0; i < 4 * 2 * IN; i++)
        x[i] = (float)urand();
    int ln[2] = {2, 4}, ll[2] = {3, 1}, lab[4] = {1, 2, 3, 4}, inf[2];
    tnet_zero_grad(n);
    CHECK(tnet_train_batch(n, 4, 1, x, ln, lab, ll, loss, inf) == ASR_OK && inf[0] == 1 && loss[0] == 0.0f,
          "infeasible utterance flagged with loss 0");
    int nz = 0;
    for (size_t i = 0; i < tnet_n_params(n); i++)
        nz += tnet_grads(n)[i] != 0.0f;
    CHECK(nz == 0, "infeasible utterance leaves no gradient (%d nonzero)", nz);
    CHECK(tnet_train_batch(n, 4, 2, x, ln, lab, ll, loss, inf) == ASR_OK && inf[0] == 1 && inf[1] == 0 &&
              loss[1] > 0,
          "feasible neighbour still trained");
    int badlab[4] = {1, 2, 5, 1};
    CHECK(tnet_train_batch(n, 4, 2, x, ln, badlab, ll, loss, inf) == ASR_ERR_ARG, "label >= n_out refused");
    CHECK(tnet_train_batch(n, 17, 2, x, ln, lab, ll, loss, inf) == ASR_ERR_ARG, "T > max_T refused");
    tnet_destroy(n);
    return TEST_SUMMARY();
}
