/* cmvn.c - streaming cepstral mean and variance normalisation (see cmvn.h for the equations). */
#include "cmvn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAR_FLOOR 1e-6 /* on the stream's variance, in squared feature units */

struct cmvn_stream {
    cmvn_params p;
    int n_feat;
    double lambda;       /* forgetting factor, 1 when window == 0 */
    double n;            /* decayed frame count */
    double *sum;         /* (n_feat) decayed sum of frames */
    double *sumsq;       /* (n_feat) decayed sum of squares */
    double *mu;          /* (n_feat) global mean */
    double *sigma;       /* (n_feat) global std */
    double *ex2;         /* (n_feat) global E[x^2] = sigma^2 + mu^2 */
    float *fmu, *fsigma; /* (n_feat) the global statistics as given: CMVN_GLOBAL computes in float,
                            exactly as models of version 1 always did */
};

cmvn_params cmvn_default_params(void)
{
    cmvn_params p = {.mode = CMVN_ONLINE, .prior_frames = 200.0f, .window = 600.0f, .norm_vars = 1};
    return p;
}

asr_status cmvn_params_check(const cmvn_params *p, asr_error *err)
{
    if (p->mode != CMVN_GLOBAL && p->mode != CMVN_ONLINE)
        return asr_error_set(err, ASR_ERR_ARG, "cmvn: unknown mode %d", (int)p->mode);
    if (p->mode == CMVN_GLOBAL)
        return ASR_OK; /* the other fields are unused */
    if (!(p->prior_frames > 0 && p->prior_frames <= 1e6f))
        return asr_error_set(err, ASR_ERR_ARG, "cmvn: prior_frames must be in (0, 1e6] (got %g)",
                             p->prior_frames);
    if (!(p->window == 0 || (p->window >= 1 && p->window <= 1e7f)))
        return asr_error_set(err, ASR_ERR_ARG, "cmvn: window must be 0 or in [1, 1e7] frames (got %g)",
                             p->window);
    if (p->norm_vars != 0 && p->norm_vars != 1)
        return asr_error_set(err, ASR_ERR_ARG, "cmvn: norm_vars must be 0 or 1 (got %d)", p->norm_vars);
    return ASR_OK;
}

const char *cmvn_mode_name(cmvn_mode m)
{
    switch (m) {
    case CMVN_GLOBAL:
        return "global";
    case CMVN_ONLINE:
        return "online";
    }
    return NULL;
}

int cmvn_mode_parse(const char *s)
{
    if (!strcmp(s, "global"))
        return CMVN_GLOBAL;
    if (!strcmp(s, "online"))
        return CMVN_ONLINE;
    return -1;
}

void cmvn_stream_destroy(cmvn_stream *s)
{
    if (!s)
        return;
    free(s->sum);
    free(s->sumsq);
    free(s->mu);
    free(s->sigma);
    free(s->ex2);
    free(s->fmu);
    free(s->fsigma);
    free(s);
}

cmvn_stream *cmvn_stream_create(int n_feat, const cmvn_params *p, const float *mean, const float *std,
                                asr_error *err)
{
    if (n_feat < 1 || !mean || !std) {
        asr_error_set(err, ASR_ERR_ARG, "cmvn: need n_feat >= 1 and global statistics");
        return NULL;
    }
    if (cmvn_params_check(p, err))
        return NULL;
    for (int i = 0; i < n_feat; i++)
        if (!(std[i] > 0) || !isfinite(mean[i])) {
            asr_error_set(err, ASR_ERR_ARG, "cmvn: global statistics of coefficient %d are invalid", i);
            return NULL;
        }
    cmvn_stream *s = calloc(1, sizeof *s);
    size_t nb = sizeof(double) * (size_t)n_feat;
    if (!s || !(s->sum = malloc(nb)) || !(s->sumsq = malloc(nb)) || !(s->mu = malloc(nb)) ||
        !(s->sigma = malloc(nb)) || !(s->ex2 = malloc(nb)) || !(s->fmu = malloc(nb)) ||
        !(s->fsigma = malloc(nb))) {
        asr_error_set(err, ASR_ERR_NOMEM, "cmvn: out of memory");
        cmvn_stream_destroy(s);
        return NULL;
    }
    s->p = *p;
    s->n_feat = n_feat;
    s->lambda = p->window > 0 ? 1.0 - 1.0 / p->window : 1.0;
    for (int i = 0; i < n_feat; i++) {
        s->fmu[i] = mean[i];
        s->fsigma[i] = std[i];
        s->mu[i] = mean[i];
        s->sigma[i] = std[i];
        s->ex2[i] = (double)std[i] * std[i] + (double)mean[i] * mean[i];
    }
    cmvn_stream_reset(s);
    return s;
}

void cmvn_stream_reset(cmvn_stream *s)
{
    s->n = 0;
    memset(s->sum, 0, sizeof(double) * (size_t)s->n_feat);
    memset(s->sumsq, 0, sizeof(double) * (size_t)s->n_feat);
}

void cmvn_stream_apply(cmvn_stream *s, const float *in, float *out)
{
    const int nf = s->n_feat;
    if (s->p.mode == CMVN_GLOBAL) {
        for (int i = 0; i < nf; i++)
            out[i] = (in[i] - s->fmu[i]) / s->fsigma[i];
        return;
    }
    const double lam = s->lambda;
    s->n = lam * s->n + 1.0;
    /* Kaldi's top-up rule: the prior fills the window up to `window` frames and fades as the
     * stream's own (decayed) count n approaches it; a prior kept at full weight would stay
     * P / (P + window) of the statistics forever (1/4 with the defaults), and a channel's offset
     * would never be removed. */
    double P = s->p.prior_frames;
    if (s->p.window > 0 && s->p.window - s->n < P)
        P = s->p.window - s->n > 0 ? s->p.window - s->n : 0;
    const double inv = 1.0 / (P + s->n);
    for (int i = 0; i < nf; i++) {
        double x = in[i];
        s->sum[i] = lam * s->sum[i] + x;
        s->sumsq[i] = lam * s->sumsq[i] + x * x;
        double mean = (P * s->mu[i] + s->sum[i]) * inv;
        double sd = s->sigma[i];
        if (s->p.norm_vars) {
            double var = (P * s->ex2[i] + s->sumsq[i]) * inv - mean * mean;
            sd = sqrt(var > VAR_FLOOR ? var : VAR_FLOOR);
        }
        out[i] = (float)((x - mean) / sd);
    }
}

void cmvn_stream_apply_frames(cmvn_stream *s, const float *in, float *out, int n_frames)
{
    for (int t = 0; t < n_frames; t++)
        cmvn_stream_apply(s, in + (size_t)t * s->n_feat, out + (size_t)t * s->n_feat);
}
