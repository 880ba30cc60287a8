/* ctc.c - CTC loss and its gradient wrt the pre-softmax logits (Graves et al. 2006).
 *
 * The label sequence l (length L) is extended with blanks: l' = (0, l1, 0, l2, ..., lL, 0), S = 2L+1.
 * alpha[t][s] = log p(prefix paths ending in l'[s] at frame t), including frame t's emission;
 * beta[t][s]  = log p(suffix from frame t+1 on | in l'[s] at frame t), excluding frame t's emission.
 * A path may stay on s, advance to s+1, or skip a blank (s -> s+2) when l'[s+2] is a label different
 * from l'[s] (equal neighbours "aa" need a blank between them). Everything is in log space with
 * double log-sum-exp, so long blank-heavy utterances cannot underflow.
 * Gradient wrt logits: softmax(t, k) - sum over s with l'[s] = k of exp(alpha + beta - log p).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tnet_internal.h"

static inline double lse2(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

static inline int ext_label(const int *labels, int s)
{
    return (s & 1) ? labels[s >> 1] : 0;
}

int ctc_min_frames(const int *labels, int L)
{
    int need = L;
    for (int i = 1; i < L; i++)
        if (labels[i] == labels[i - 1])
            need++;
    return need;
}

size_t ctc_work_size(int T, int L)
{
    if (T < 1)
        T = 1;
    return 2 * (size_t)T * (size_t)(2 * L + 1);
}

double ctc_loss_grad_strided(const float *logprobs, int lp_stride, int T, int n_out, const int *labels, int L,
                             float *grad, int g_stride, double *work)
{
    const int S = 2 * L + 1;
    if (T <= 0)
        return L == 0 ? 0.0 : INFINITY;
    if (ctc_min_frames(labels, L) > T) {
        for (int t = 0; t < T; t++)
            memset(grad + (size_t)t * g_stride, 0, sizeof(float) * n_out);
        return INFINITY;
    }
    double *alpha = work;                /* (T, S) */
    double *beta = work + (size_t)T * S; /* (T, S) */
    for (size_t i = 0; i < 2 * (size_t)T * S; i++)
        work[i] = -INFINITY;

    /* Forward. Only s >= S - 2(T - t) can still reach the end, only s < 2(t + 1) is reachable. */
    alpha[0] = logprobs[0];
    if (L > 0)
        alpha[1] = logprobs[labels[0]];
    for (int t = 1; t < T; t++) {
        const float *lp = logprobs + (size_t)t * lp_stride;
        const double *ap = alpha + (size_t)(t - 1) * S;
        double *a = alpha + (size_t)t * S;
        int lo = S - 2 * (T - t), hi = 2 * (t + 1);
        if (lo < 0)
            lo = 0;
        if (hi > S)
            hi = S;
        for (int s = lo; s < hi; s++) {
            int k = ext_label(labels, s);
            double v = ap[s];
            if (s >= 1)
                v = lse2(v, ap[s - 1]);
            if (s >= 2 && k != 0 && k != ext_label(labels, s - 2))
                v = lse2(v, ap[s - 2]);
            a[s] = v == -INFINITY ? v : v + lp[k];
        }
    }
    const double *aT = alpha + (size_t)(T - 1) * S;
    double logp = S >= 2 ? lse2(aT[S - 1], aT[S - 2]) : aT[S - 1];
    if (logp == -INFINITY) { /* unreachable given the feasibility check, unless log-probs are -inf */
        for (int t = 0; t < T; t++)
            memset(grad + (size_t)t * g_stride, 0, sizeof(float) * n_out);
        return INFINITY;
    }

    /* Backward. */
    double *bT = beta + (size_t)(T - 1) * S;
    bT[S - 1] = 0.0;
    if (S >= 2)
        bT[S - 2] = 0.0;
    for (int t = T - 2; t >= 0; t--) {
        const float *lpn = logprobs + (size_t)(t + 1) * lp_stride;
        const double *bn = beta + (size_t)(t + 1) * S;
        double *b = beta + (size_t)t * S;
        int lo = S - 2 * (T - t), hi = 2 * (t + 1);
        if (lo < 0)
            lo = 0;
        if (hi > S)
            hi = S;
        for (int s = lo; s < hi; s++) {
            int k = ext_label(labels, s);
            double v = bn[s] == -INFINITY ? -INFINITY : bn[s] + lpn[k];
            if (s + 1 < S && bn[s + 1] != -INFINITY)
                v = lse2(v, bn[s + 1] + lpn[ext_label(labels, s + 1)]);
            if (s + 2 < S && bn[s + 2] != -INFINITY) {
                int k2 = ext_label(labels, s + 2);
                if (k2 != 0 && k2 != k)
                    v = lse2(v, bn[s + 2] + lpn[k2]);
            }
            b[s] = v;
        }
    }

    /* Gradient: softmax minus label occupancy. */
    for (int t = 0; t < T; t++) {
        const float *lp = logprobs + (size_t)t * lp_stride;
        float *g = grad + (size_t)t * g_stride;
        const double *a = alpha + (size_t)t * S, *b = beta + (size_t)t * S;
        for (int k = 0; k < n_out; k++)
            g[k] = expf(lp[k]);
        for (int s = 0; s < S; s++) {
            double v = a[s] + b[s];
            if (v == -INFINITY)
                continue;
            g[ext_label(labels, s)] -= (float)exp(v - logp);
        }
    }
    return -logp;
}

double ctc_loss_grad(const float *logprobs, int T, int n_out, const int *labels, int L, float *grad)
{
    double *work = malloc(sizeof(double) * ctc_work_size(T, L));
    if (!work)
        return NAN;
    double loss = ctc_loss_grad_strided(logprobs, n_out, T, n_out, labels, L, grad, n_out, work);
    free(work);
    return loss;
}
