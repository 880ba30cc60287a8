/* tnet_bench.c - speed of tnet_train_batch (forward, CTC, backward) on the default architecture:
 * 3 x 320 GRU, I = 120 (40-d MFCC stacked x3, stride 3), 29 outputs, batch 32, utterances of
 * 100..300 output frames (3..9 s; each output frame is 30 ms of audio), batches of similar lengths
 * as a length-sorted trainer makes them. Prints audio seconds per second and GFLOP/s (useful FLOPs
 * of the valid frames: 3 x the forward matrix products).
 *
 * Usage: tnet_bench [--threads N] [--blas N] [--iters N] [--layers N] [--hidden H] [--lstm] [--B N]
 *   --threads N  data-parallel workers (default 2), each with single-threaded OpenBLAS
 *   --blas N     one worker, OpenBLAS with N threads over the whole batch (the alternative)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../model/train/tnet.h"
#include "../../model/train/tnet_internal.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long rs = 99;
static double urand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

int main(int argc, char **argv)
{
    int threads = 2, blas = 0, iters = 8, layers = 3, H = 320, lstm = 0, B = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--blas") && i + 1 < argc)
            blas = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc)
            H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--B") && i + 1 < argc)
            B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lstm"))
            lstm = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--blas N] [--iters N] [--layers N] [--hidden H] [--lstm] "
                    "[--B N]\n",
                    argv[0]);
            return 2;
        }
    }
    const int nfeat = 40, stack = 3, I = nfeat * stack, max_T = 300;
    asr_model_desc arch;
    memset(&arch, 0, sizeof(arch));
    arch.frontend = mfcc_default_params();
    arch.frontend.num_ceps = nfeat;
    arch.n_feat = nfeat;
    arch.stack = stack;
    arch.stride = 3;
    strcpy(arch.alphabet, ASR_DEFAULT_ALPHABET);
    arch.n_out = 29;
    arch.n_layers = layers;
    int in = I;
    double flops_frame = 0;
    for (int k = 0; k < layers; k++) {
        arch.layers[k] = (nn_rnn_layer){.type = lstm ? NN_LSTM : NN_GRU, .in = in, .hidden = H};
        flops_frame += 2.0 * (lstm ? 4 : 3) * H * (in + H);
        in = H;
    }
    flops_frame += 2.0 * arch.n_out * H;
    flops_frame *= 3; /* forward + two backward products (dX/dh and dW) */
    asr_error err;
    tnet *n = tnet_create(&arch, B, max_T, 1, &err);
    if (!n) {
        fprintf(stderr, "tnet_bench: %s\n", err.msg);
        return 1;
    }
    if (blas > 0)
        tnet_set_parallelism(n, 1, blas);
    else
        tnet_set_threads(n, threads);
    float *x = malloc(sizeof(float) * max_T * B * I), *loss = malloc(sizeof(float) * B);
    int *lens = malloc(sizeof(int) * B), *ll = malloc(sizeof(int) * B),
        *lab = malloc(sizeof(int) * B * max_T);
    for (size_t i = 0; i < (size_t)max_T * B * I; i++)
        x[i] = (float)(urand() * 2 - 1);
    double t_total = 0, cpu_total = 0, audio = 0, frames = 0;
    for (int it = -1; it < iters; it++) { /* iteration -1: warm-up, not timed */
        int top = 100 + (int)(urand() * 201), T = 0, nl = 0;
        for (int b = 0; b < B; b++) {
            lens[b] = top - (int)(urand() * top * 0.1);
            ll[b] = (int)(lens[b] * 0.35);
            for (int q = 0; q < ll[b]; q++)
                lab[nl++] = 1 + (int)(urand() * 28);
            if (lens[b] > T)
                T = lens[b];
        }
        tnet_zero_grad(n);
        double t0 = now(), c0 = cpu_now();
        asr_status st = tnet_train_batch(n, T, B, x, lens, lab, ll, loss, NULL);
        double dt = now() - t0, dc = cpu_now() - c0;
        if (st != ASR_OK) {
            fprintf(stderr, "tnet_bench: train_batch failed: %s\n", asr_strerror(st));
            return 1;
        }
        if (it < 0)
            continue;
        t_total += dt;
        cpu_total += dc;
        for (int b = 0; b < B; b++) {
            frames += lens[b];
            audio += lens[b] * 0.030;
        }
    }
    printf("tnet_bench: %d x %d %s, I %d, B %d, %s: %d batches, %.1f s audio in %.2f s: %.1f audio s/s, "
           "%.1f GFLOP/s\n",
           layers, H, lstm ? "LSTM" : "GRU", I, B,
           blas > 0 ? "1 worker, multithreaded BLAS" : "data-parallel workers", iters, audio, t_total,
           audio / t_total, frames * flops_frame / t_total * 1e-9);
    /* CPU time too: on a shared machine wall time alone hides whether the cores were ours. */
    printf("  (%s %d) CPU %.2f s: %.1f audio s per CPU-second, %.2f cores busy\n",
           blas > 0 ? "OpenBLAS threads" : "threads", blas > 0 ? blas : threads, cpu_total, audio / cpu_total,
           cpu_total / t_total);
    free(x);
    free(loss);
    free(lens);
    free(ll);
    free(lab);
    tnet_destroy(n);
    return 0;
}
