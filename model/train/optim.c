/* optim.c - Adam, clipping and learning-rate schedules. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

topt *topt_create(size_t n, const tcfg *c, asr_error *err)
{
    topt *o = calloc(1, sizeof(*o));
    if (!o)
        goto fail;
    o->n = n;
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v)
        goto fail;
    o->beta1 = c->beta1;
    o->beta2 = c->beta2;
    o->eps = c->eps;
    o->weight_decay = c->weight_decay;
    return o;
fail:
    topt_destroy(o);
    asr_error_set(err, ASR_ERR_NOMEM, "optimiser: out of memory for %zu parameters", n);
    return NULL;
}

void topt_destroy(topt *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    free(o);
}

double topt_norm(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

double topt_clip_scale(double raw_norm, double loss_scale, double clip)
{
    double norm = raw_norm * loss_scale;
    if (clip > 0 && norm > clip)
        return loss_scale * (clip / (norm + 1e-6));
    return loss_scale;
}

void topt_step(topt *o, float *params, const float *grads, double grad_scale, double lr)
{
    o->step++;
    const double bc1 = 1.0 - pow(o->beta1, (double)o->step);
    const double bc2 = 1.0 - pow(o->beta2, (double)o->step);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float gs = (float)grad_scale;
    const float step_size = (float)(lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float eps = (float)o->eps;
    const float decay = (float)(1.0 - lr * o->weight_decay);
    float *m = o->m, *v = o->v;
    for (size_t i = 0; i < o->n; i++) {
        float g = grads[i] * gs;
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) * inv_sqrt_bc2 + eps;
        /* decoupled weight decay (AdamW): shrink first, as torch.optim.AdamW does */
        params[i] = params[i] * decay - step_size * m[i] / denom;
    }
}

static double schedule_lr(const tcfg *c, long update, long total);

double topt_lr(const tcfg *c, long update, long total)
{
    if (c->anneal_start > 0 && total > c->anneal_start && update > c->anneal_start) {
        double from = schedule_lr(c, c->anneal_start, total);
        double p = (double)(update - c->anneal_start) / (double)(total - c->anneal_start);
        if (p > 1)
            p = 1;
        return c->min_lr + 0.5 * (from - c->min_lr) * (1.0 + cos(M_PI * p));
    }
    return schedule_lr(c, update, total);
}

static double schedule_lr(const tcfg *c, long update, long total)
{
    if (update < 1)
        update = 1;
    if (c->warmup > 0 && update <= c->warmup)
        return c->lr * (double)update / (double)c->warmup;
    double after = (double)(update - c->warmup);
    switch (c->schedule) {
    case TCFG_SCHED_COSINE: {
        long span = (c->decay_updates > 0 ? c->decay_updates : total - c->warmup);
        if (span <= 0)
            return c->lr;
        double p = after / (double)span;
        if (p > 1)
            p = 1;
        return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1.0 + cos(M_PI * p));
    }
    case TCFG_SCHED_EXPONENTIAL: {
        long every = c->decay_updates > 0 ? c->decay_updates : 10000;
        double lr = c->lr * pow(c->decay_rate, after / (double)every);
        return lr < c->min_lr ? c->min_lr : lr;
    }
    case TCFG_SCHED_CONSTANT:
    default:
        return c->lr;
    }
}
