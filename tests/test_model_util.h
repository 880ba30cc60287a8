/* test_model_util.h - shared setup of the model tests: a deterministic uniform generator and a
 * random model description. A test may pick its own stream of numbers by defining TEST_RNG_SEED
 * before including this header. Everything is static inline, so a test uses only what it needs. */
#ifndef ASR_TEST_MODEL_UTIL_H
#define ASR_TEST_MODEL_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/mfcc.h"
#include "../model/asr_model.h"

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9E3779B97F4A7C15ULL
#endif

static uint64_t test_rng = TEST_RNG_SEED;

/* U(-1, 1), xorshift64: the same numbers on every platform. */
static inline float frand(void)
{
    test_rng ^= test_rng << 13, test_rng ^= test_rng >> 7, test_rng ^= test_rng << 17;
    return (float)((test_rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* n values U(-scale, scale) in a malloc'd buffer (at least one element). */
static inline float *frand_buf(size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand() * scale;
    return p;
}

/* A layer of the given shape with weights and biases U(-scale, scale), drawn in the order w_ih,
 * w_hh, b_ih, b_hh (malloc'd; test_layer_free releases them). */
static inline nn_rnn_layer test_layer_rand(nn_layer_type type, int I, int H, float scale)
{
    size_t gh = (size_t)nn_rnn_gates(type) * H;
    nn_rnn_layer l = {.type = type, .in = I, .hidden = H};
    l.w_ih = frand_buf(gh * I, scale);
    l.w_hh = frand_buf(gh * H, scale);
    l.b_ih = frand_buf(gh, scale);
    l.b_hh = frand_buf(gh, scale);
    return l;
}

static inline void test_layer_free(nn_rnn_layer *l)
{
    free((float *)l->w_ih), free((float *)l->w_hh), free((float *)l->b_ih), free((float *)l->b_hh);
}

/* A model description with random weights U(-1/sqrt(hidden), 1/sqrt(hidden)) and plausible feature
 * statistics: 20 cepstra from 40 mel bins at 16 kHz, the default alphabet, `layers` layers of one
 * type. Exits on allocation failure. Free with asr_model_desc_free. */
static inline void test_model_desc(asr_model_desc *d, nn_layer_type type, int layers, int hidden, int stack,
                                   int stride)
{
    memset(d, 0, sizeof *d);
    mfcc_params *p = &d->frontend;
    *p = mfcc_default_params();
    p->num_mel_bins = 40;
    p->num_ceps = 20;
    p->use_energy = 0;
    p->high_freq = -400.0f;
    d->n_feat = 20;
    d->stack = stack;
    d->stride = stride;
    snprintf(d->alphabet, sizeof d->alphabet, "%s", ASR_DEFAULT_ALPHABET);
    d->n_out = 1 + (int)strlen(d->alphabet);
    d->n_layers = layers;
    int in = d->n_feat * stack;
    for (int k = 0; k < layers; k++) {
        d->layers[k] = (nn_rnn_layer){.type = type, .in = in, .hidden = hidden};
        in = hidden;
    }
    asr_error err;
    if (asr_model_desc_alloc(d, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    float b = 1.0f / sqrtf((float)hidden);
    float *all = (float *)d->layers[0].w_ih;
    size_t n = asr_model_desc_params(d);
    for (size_t i = 0; i < n; i++)
        all[i] = frand() * b;
    for (int i = 0; i < d->n_feat; i++) {
        d->feat_mean[i] = i == 0 ? 60.0f : frand() * 5.0f;
        d->feat_std[i] = i == 0 ? 15.0f : 5.0f + 3.0f * frand();
    }
}

#endif
