/* test_tnet_grad.c - the training network's gradients (model/train/tnet.c) against central
 * differences of its own CTC loss, for GRU, LSTM and mixed 2-layer nets on a padded batch of 3
 * utterances of different lengths: every parameter tensor (a few dozen sampled entries each),
 * the input, and the CTC gradient wrt logits. Plus: padding invariance (extra NaN-filled padding
 * frames change nothing), batch additivity (grad of {a,b} = grad {a} + grad {b}), thread-count
 * equivalence and bit-for-bit repeatability, export/import round trip, and equality of
 * tnet_forward with the runtime layers (nn_rnn_forward_ref / nn_linear_forward_ref / log-softmax)
 * on exported weights.
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
        double fp = fd_loss(n, x);
        p[i] = keep - (float)eps;
        double fm = fd_loss(n, x);
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
    int bad = 0;
    double worst = 0;
    for (int s = 0; s < 30; s++) {
        int b = (int)(urand() * B), t = (int)(urand() * lens[b]), i = (int)(urand() * IN);
        size_t at = ((size_t)t * B + b) * IN + i;
        float keep = x[at];
        x[at] = keep + 1e-2f;
        double fp = fd_loss(n, x);
        x[at] = keep - 1e-2f;
        double fm = fd_loss(n, x);
        x[at] = keep;
        double num = (fp - fm) / (((double)(keep + 1e-2f)) - ((double)(keep - 1e-2f)));
        double e = fabs(num - dx[at]) / fmax(fmax(fabs(num), fabs(dx[at])), 1e-2);
        worst = fmax(worst, e);
        bad += e > 1e-2;
    }
    CHECK(bad == 0, "%s input: %d of 30 entries off (worst %.3g)", name, bad, worst);
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
