/* test_cmvn_ref.h - an independent reference for frontend/cmvn.c, written from the equations in
 * cmvn.h and not from its code: for every frame t the decayed statistics are summed directly over
 * the frames 0..t with weights lambda^(t-s), in long double (O(T^2)), instead of the running
 * recursion; the global prior's weight follows Kaldi's OnlineCmvn rule min(P, window - n). Shared by
 * test_cmvn and test_model_stream. */
#ifndef ASR_TEST_CMVN_REF_H
#define ASR_TEST_CMVN_REF_H

#include <math.h>
#include <stdlib.h>

#include "../frontend/cmvn.h"

/* x (T, nf) raw frames -> out (T, nf) normalised as p says, with global statistics mu/sd. */
static inline void cmvn_ref(const cmvn_params *p, int nf, const float *mu, const float *sd, const float *x,
                            int T, double *out)
{
    if (p->mode == CMVN_GLOBAL) {
        for (long i = 0; i < (long)T * nf; i++)
            out[i] = ((long double)x[i] - mu[i % nf]) / sd[i % nf];
        return;
    }
    const long double lam = p->window > 0 ? 1.0L - 1.0L / p->window : 1.0L;
    long double *pw = malloc(sizeof(long double) * (size_t)(T ? T : 1)); /* lambda^k */
    for (int k = 0; k < T; k++)
        pw[k] = k ? pw[k - 1] * lam : 1.0L;
    for (int t = 0; t < T; t++) {
        long double n = 0;
        for (int s = 0; s <= t; s++)
            n += pw[t - s];
        long double P = p->prior_frames;
        if (p->window > 0 && p->window - n < P)
            P = p->window - n > 0 ? p->window - n : 0;
        for (int k = 0; k < nf; k++) {
            long double S = 0, Q = 0;
            for (int s = 0; s <= t; s++) {
                long double v = x[(size_t)s * nf + k];
                S += pw[t - s] * v;
                Q += pw[t - s] * v * v;
            }
            long double m = mu[k], g = sd[k];
            long double mean = (P * m + S) / (P + n);
            long double dev = g;
            if (p->norm_vars) {
                long double var = (P * (g * g + m * m) + Q) / (P + n) - mean * mean;
                dev = sqrtl(var > 1e-6L ? var : 1e-6L);
            }
            out[(size_t)t * nf + k] = (double)(((long double)x[(size_t)t * nf + k] - mean) / dev);
        }
    }
    free(pw);
}

#endif
