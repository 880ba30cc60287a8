/* tool_model_bench.c - speed of the model runtime (a benchmark, not a test: prints numbers).
 *
 * usage: tool_model_bench MODEL [seconds_of_audio (default 60)]
 * Prints: model load time, network-only and full-pipeline time per output frame, GFLOP/s, real-
 * time factor (whole file and 0.2 s chunks as the daemon feeds them), peak RSS, and the input-
 * projection GEMM (own AVX2 and AVX-512 kernels vs OpenBLAS sgemm on one thread) for T = 1..64.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/asr_model.h"
#include "../model/nn.h"
#include "../model/nn_avx2.h"
#include "../model/nn_avx512.h"

void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = atol(line + strlen(key) + 1);
    if (f)
        fclose(f);
    return v;
}

static void gemm_compare(void)
{
    const int K = 320, N = 960, TMAX = 64;
    float *w = malloc((size_t)N * K * 4), *x = malloc((size_t)TMAX * K * 4),
          *y = malloc((size_t)TMAX * N * 4);
    float *b = malloc(N * 4);
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)TMAX * K; i++)
        x[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    for (int i = 0; i < N; i++)
        b[i] = 0.1f;
    openblas_set_num_threads(1);
    int avx512 = !strcmp(nn_kernel_name(), "avx512");
    printf("input projection (T,%d) x (%d,%d)^T, GFLOP/s:   T:  own-avx2  own-avx512  openblas-1thread\n", K,
           N, K);
    static const int Ts[] = {1, 2, 3, 4, 8, 16, 32, 64};
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++) {
        int T = Ts[i];
        int reps = 20000 / T;
        double t0 = now();
        for (int r = 0; r < reps; r++)
            nn_avx2_gemm_nt(w, b, K, N, T, x, K, y, N);
        double t1 = now();
        for (int r = 0; r < reps; r++) {
            for (int t = 0; t < T; t++)
                memcpy(y + (size_t)t * N, b, N * 4);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, x, K, w, K, 1.0f, y, N);
        }
        double t2 = now();
        for (int r = 0; r < reps && avx512; r++)
            nn_avx512_gemm_nt(w, b, K, N, T, x, K, y, N);
        double t3 = now();
        double fl = 2.0 * T * N * K * reps;
        printf("%60d: %8.1f  %10.1f  %8.1f\n", T, fl / (t1 - t0) * 1e-9, avx512 ? fl / (t3 - t2) * 1e-9 : 0.0,
               fl / (t2 - t1) * 1e-9);
    }
    free(w), free(x), free(y), free(b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tool_model_bench MODEL [seconds]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 60.0;
    asr_error err;
    long rss0 = rss_kb("VmRSS:");
    double t_first = now();
    asr_model *m = asr_model_load(argv[1], &err);
    t_first = now() - t_first;
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long rss1 = rss_kb("VmRSS:");
    asr_stream *st = asr_stream_create(m, &err);
    long rss2 = rss_kb("VmRSS:");
    double best = t_first;
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        asr_model *mm = asr_model_load(argv[1], &err);
        double t = now() - t0;
        best = t < best ? t : best;
        asr_model_free(mm);
    }
    const asr_model_desc *d = asr_model_get_desc(m);
    double fpf = asr_model_flops_per_frame(m), fms = asr_model_frame_ms(m);
    printf("model: %d layers x %d (%s), input %d, %zu params, %.2f MFLOP per %.0f ms output frame\n",
           d->n_layers, d->layers[0].hidden, d->layers[0].type == NN_GRU ? "gru" : "lstm", d->layers[0].in,
           asr_model_desc_params(d), fpf * 1e-6, fms);
    printf("load: %.2f ms first, %.2f ms best of 6\n", t_first * 1e3, best * 1e3);
    printf("RSS: %ld kB before load, %ld kB with the model, %ld kB with one stream\n", rss0, rss1, rss2);

    int rate = asr_model_sample_rate(m);
    size_t n = (size_t)(secs * rate);
    float *audio = malloc(n * sizeof(float));
    unsigned s = 1;
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        ph += 2 * M_PI * (150 + 50 * sin(i * 1e-4)) / rate;
        audio[i] = (float)(2000 * sin(ph) + 1000 * sin(3 * ph) + ((s >> 16) % 600) - 300.0);
    }
    float lp[64];

    /* network only: features straight in */
    int nfe = (int)(secs * 1000 / d->frontend.frame_shift_ms);
    float *feats = malloc((size_t)nfe * d->n_feat * sizeof(float));
    for (size_t i = 0; i < (size_t)nfe * d->n_feat; i++)
        feats[i] = d->feat_mean[i % d->n_feat] + d->feat_std[i % d->n_feat] * (float)sin(i * 0.37);
    double t0 = now();
    asr_stream_accept_features(st, feats, nfe);
    double tn = now() - t0;
    long fr = asr_stream_frames(st);
    while (asr_stream_pop(st, lp))
        ;
    printf("network only:   %ld frames, %.1f us/frame, %.1f GFLOP/s, RTF %.5f\n", fr, tn / fr * 1e6,
           fpf * fr / tn * 1e-9, tn / (fr * fms * 1e-3));

    asr_stream_reset(st);
    t0 = now();
    asr_stream_accept(st, audio, n);
    double tw = now() - t0;
    fr = asr_stream_frames(st);
    while (asr_stream_pop(st, lp))
        ;
    printf("audio, whole:   %.1f s audio, %.1f us/frame, RTF %.5f (%.0fx real time)\n", secs, tw / fr * 1e6,
           tw / secs, secs / tw);

    asr_stream_reset(st);
    size_t chunk = (size_t)(0.2 * rate);
    t0 = now();
    for (size_t p = 0; p < n; p += chunk) {
        asr_stream_accept(st, audio + p, n - p < chunk ? n - p : chunk);
        while (asr_stream_pop(st, lp))
            ;
    }
    double tc = now() - t0;
    printf("audio, 0.2 s chunks: RTF %.5f (%.0fx real time)\n", tc / secs, secs / tc);

    /* frame by frame (worst case: one output frame per call) */
    asr_stream_reset(st);
    chunk = (size_t)(fms * 1e-3 * rate);
    size_t n2 = n < (size_t)10 * rate ? n : (size_t)10 * rate;
    t0 = now();
    for (size_t p = 0; p < n2; p += chunk) {
        asr_stream_accept(st, audio + p, n2 - p < chunk ? n2 - p : chunk);
        while (asr_stream_pop(st, lp))
            ;
    }
    double t1f = now() - t0;
    printf("audio, one output frame per call: RTF %.5f\n", t1f / (n2 / (double)rate));
    printf("RSS: %ld kB after running (includes the %.0f s test signal and features), peak %ld kB\n",
           rss_kb("VmRSS:"), secs, rss_kb("VmHWM:"));
    asr_stream_destroy(st);
    asr_model_free(m);
    free(audio), free(feats);
    gemm_compare();
    return 0;
}
