/* tool_mkmodel.c - writes a random-weight asrd model through the real model writer, so tests can
 * run the whole pipeline without a trained model.
 *
 * usage: tool_mkmodel OUT.model [--layers 3] [--hidden 320] [--type gru|lstm] [--seed 1]
 *                     [--stack 3] [--stride 3] [--ceps 40] [--mels 40] [--rate 16000]
 *                     [--alphabet " abc...'"] ('_' may stand for space)
 *
 * Frontend: the model frontend (25 ms / 10 ms frames, povey window, pre-emphasis 0.97, mel bins
 * from 20 Hz to nyquist - 400 Hz, lifter 22, c0 kept (use_energy 0), DC removal). Weights are
 * PyTorch's default initialisation U(-1/sqrt(H), 1/sqrt(H)) for the RNN layers and
 * U(-1/sqrt(H_last), 1/sqrt(H_last)) for the projection, from a seeded xorshift generator, so the
 * same arguments always write the same file. Feature statistics are rough values for MFCC of
 * int16-scale speech (c0 mean 100 std 20, others mean 0 std 10), so a random network sees inputs
 * of order 1 instead of saturating on raw cepstra.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model_file.h"

static uint64_t rng_state;

static double uniform01(void)
{
    /* xorshift64*: plenty for test weights, and identical on every platform. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void fill(const float *p, size_t n, double bound)
{
    float *q = (float *)p; /* the description's tensors point into its own (writable) slab */
    for (size_t i = 0; i < n; i++)
        q[i] = (float)((2.0 * uniform01() - 1.0) * bound);
}

static int usage(void)
{
    fprintf(stderr, "usage: tool_mkmodel OUT.model [--layers N] [--hidden H] [--type gru|lstm] [--seed N]\n"
                    "                    [--stack N] [--stride N] [--ceps N] [--mels N] [--rate HZ]\n"
                    "                    [--alphabet LABELS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return usage();
    const char *out = argv[1];
    int layers = 3, hidden = 320, stack = 3, stride = 3, ceps = 40, mels = 40, rate = 16000;
    unsigned long long seed = 1;
    nn_layer_type type = NN_GRU;
    const char *alphabet = ASR_DEFAULT_ALPHABET;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--layers"))
            layers = atoi(v);
        else if (!strcmp(a, "--hidden"))
            hidden = atoi(v);
        else if (!strcmp(a, "--stack"))
            stack = atoi(v);
        else if (!strcmp(a, "--stride"))
            stride = atoi(v);
        else if (!strcmp(a, "--ceps"))
            ceps = atoi(v);
        else if (!strcmp(a, "--mels"))
            mels = atoi(v);
        else if (!strcmp(a, "--rate"))
            rate = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--alphabet"))
            alphabet = v;
        else if (!strcmp(a, "--type")) {
            if (!strcmp(v, "gru"))
                type = NN_GRU;
            else if (!strcmp(v, "lstm"))
                type = NN_LSTM;
            else
                return usage();
        } else
            return usage();
    }
    if (layers < 1 || layers > ASR_MAX_LAYERS || hidden < 1 || strlen(alphabet) > ASR_MAX_LABELS) {
        fprintf(stderr, "tool_mkmodel: bad layers/hidden/alphabet\n");
        return 2;
    }

    asr_model_desc d;
    memset(&d, 0, sizeof d);
    mfcc_params *p = &d.frontend;
    p->sample_rate = rate;
    p->frame_length_ms = 25.0f;
    p->frame_shift_ms = 10.0f;
    p->fft_size = 0;
    p->num_mel_bins = mels;
    p->low_freq = 20.0f;
    p->high_freq = -400.0f;
    p->num_ceps = ceps;
    p->cepstral_lifter = 22.0f;
    p->preemph = 0.97f;
    p->window = MFCC_WINDOW_POVEY;
    p->remove_dc_offset = 1;
    p->use_energy = 0;
    p->energy_floor = 0.0f;
    d.n_feat = ceps;
    d.stack = stack;
    d.stride = stride;
    snprintf(d.alphabet, sizeof d.alphabet, "%s", alphabet);
    for (char *c = d.alphabet; *c; c++)
        if (*c == '_')
            *c = ' ';
    d.n_layers = layers;
    int in = ceps * stack;
    for (int k = 0; k < layers; k++) {
        d.layers[k].type = type;
        d.layers[k].in = in;
        d.layers[k].hidden = hidden;
        in = hidden;
    }
    d.n_out = 1 + (int)strlen(d.alphabet);

    asr_error err = {ASR_OK, ""};
    if (asr_model_desc_alloc(&d, &err)) {
        fprintf(stderr, "tool_mkmodel: %s\n", err.msg);
        return 1;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!rng_state)
        rng_state = 1;
    for (int i = 0; i < ceps; i++) {
        d.feat_mean[i] = i == 0 ? 100.0f : 0.0f;
        d.feat_std[i] = i == 0 ? 20.0f : 10.0f;
    }
    for (int k = 0; k < layers; k++) {
        nn_rnn_layer *l = &d.layers[k];
        size_t gh = (size_t)nn_rnn_gates(type) * l->hidden;
        double bound = 1.0 / sqrt((double)l->hidden);
        fill(l->w_ih, gh * l->in, bound);
        fill(l->w_hh, gh * l->hidden, bound);
        fill(l->b_ih, gh, bound);
        fill(l->b_hh, gh, bound);
    }
    double pb = 1.0 / sqrt((double)hidden);
    fill(d.proj_w, (size_t)d.n_out * hidden, pb);
    fill(d.proj_b, (size_t)d.n_out, pb);

    int rc = 0;
    if (asr_model_write(out, &d, &err)) {
        fprintf(stderr, "tool_mkmodel: %s\n", err.msg);
        rc = 1;
    }
    asr_model_desc_free(&d);
    return rc;
}
