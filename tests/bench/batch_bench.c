/* batch_bench.c - throughput of many concurrent streams, batched (asr_stream_feed of every stream,
 * then one asr_stream_run_batch) vs unbatched (asr_stream_accept per stream), as the daemon's
 * workers would run them: every stream gets a 0.2 s chunk per round. Prints stream-audio seconds
 * per CPU second for each N and the ratio; then the recurrent product alone, (n, H) x (H, 3H),
 * with the AVX2 kernel vs single-threaded OpenBLAS sgemm.
 *
 * Usage: batch_bench MODEL [--seconds S] [--streams 1,8,32,128] [--precision float32|int8]
 *   MODEL      e.g. from `build/tests/tool_mkmodel m.model` (3 x 320 GRU)
 *   --seconds  audio per stream per repetition (default 2)
 *   --precision the network's arithmetic (asr_model_set_precision; default float32)
 * Both runs must give identical output; the program checks and says so.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../model/asr_model.h"
#include "../../model/nn_avx2.h"

void openblas_set_num_threads(int n);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long long rs = 7;
static float frand(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rs >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static float *make_audio(size_t n, int seed)
{
    float *a = malloc(n * sizeof *a);
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        double f0 = 100 + 60 * sin(2 * M_PI * 0.5 * i / 16000.0 + seed);
        ph += 2 * M_PI * f0 / 16000.0;
        a[i] = (float)(2000 * (sin(ph) + 0.5 * sin(3 * ph)) + 300 * frand());
    }
    return a;
}

/* Runs N streams over their audio in 0.2 s rounds; returns CPU seconds; sums the log-probs into
 * *sum (so the two modes can be compared). batched: 0 accept per stream, 1 feed all + one
 * run_batch, 2 feed only (the frontend's share). */
static double run(const asr_model *m, int N, float *const *audio, size_t n, int batched, double *sum)
{
    asr_error err;
    int no = asr_model_n_out(m);
    asr_stream **s = malloc((size_t)N * sizeof *s);
    asr_batch *b = asr_batch_create(m);
    float *lp = malloc((size_t)no * sizeof *lp);
    for (int i = 0; i < N; i++)
        s[i] = asr_stream_create(m, &err);
    const size_t chunk = 3200;
    double t0 = cpu_now();
    for (size_t pos = 0; pos < n; pos += chunk) {
        size_t c = n - pos < chunk ? n - pos : chunk;
        if (batched) {
            for (int i = 0; i < N; i++)
                asr_stream_feed(s[i], audio[i] + pos, c);
            if (batched == 1)
                asr_stream_run_batch(s, N, b);
            else
                for (int i = 0; i < N; i++)
                    asr_stream_reset(s[i]); /* drop the pending frames */
        } else {
            for (int i = 0; i < N; i++)
                asr_stream_accept(s[i], audio[i] + pos, c);
        }
        for (int i = 0; i < N; i++)
            while (asr_stream_pop(s[i], lp))
                *sum += lp[0] + lp[no - 1];
    }
    double t = cpu_now() - t0;
    for (int i = 0; i < N; i++)
        asr_stream_destroy(s[i]);
    asr_batch_destroy(b);
    free(s);
    free(lp);
    return t;
}

/* The recurrent product of one step for n streams, K = H, N = 3H: AVX2 kernel vs sgemm. */
static void gemm_compare(int H)
{
    int G = 3 * H;
    float *w = malloc((size_t)G * H * sizeof *w), *x = malloc((size_t)128 * H * sizeof *x);
    float *y = malloc((size_t)128 * G * sizeof *y), *bias = malloc((size_t)G * sizeof *bias);
    for (size_t i = 0; i < (size_t)G * H; i++)
        w[i] = frand() * 0.05f;
    for (size_t i = 0; i < (size_t)128 * H; i++)
        x[i] = frand();
    for (int i = 0; i < G; i++)
        bias[i] = frand();
    openblas_set_num_threads(1);
    printf("recurrent product (n, %d) x (%d, %d), GFLOP/s:  n   avx2_gemm_nt   openblas_sgemm(1 thread)\n", H,
           H, G);
    static const int ns[] = {1, 8, 32, 128};
    for (int k = 0; k < 4; k++) {
        int n = ns[k], reps = 2000 / n + 20;
        double t0 = cpu_now();
        for (int r = 0; r < reps; r++)
            nn_avx2_gemm_nt(w, bias, H, G, n, x, H, y, G);
        double ta = cpu_now() - t0;
        t0 = cpu_now();
        for (int r = 0; r < reps; r++) {
            for (int i = 0; i < n; i++)
                memcpy(y + (size_t)i * G, bias, (size_t)G * sizeof *y);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, G, H, 1.0f, x, H, w, H, 1.0f, y, G);
        }
        double tb = cpu_now() - t0;
        double fl = 2.0 * n * G * H * reps * 1e-9;
        printf("%54d   %12.1f   %12.1f\n", n, fl / ta, fl / tb);
    }
    free(w), free(x), free(y), free(bias);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    double seconds = 2.0;
    int Ns[16] = {1, 8, 32, 128}, nN = 4;
    asr_precision prec = ASR_PRECISION_FLOAT32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
                 asr_precision_parse(argv[i + 1], &prec) == 0)
            i++;
        else if (!strcmp(argv[i], "--streams") && i + 1 < argc) {
            nN = 0;
            for (char *p = argv[++i]; *p && nN < 16; p += *p == ',')
                Ns[nN++] = (int)strtol(p, &p, 10);
        } else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr,
                    "usage: batch_bench MODEL [--seconds S] [--streams 1,8,32,128] [--precision P]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: batch_bench MODEL [--seconds S] [--streams 1,8,32,128] [--precision P]\n");
        return 2;
    }
    asr_error err;
    asr_model *m = asr_model_load(path, &err);
    if (m && asr_model_set_precision(m, prec, &err) != ASR_OK) {
        asr_model_free(m);
        m = NULL;
    }
    if (!m) {
        fprintf(stderr, "batch_bench: %s\n", err.msg);
        return 1;
    }
    int rate = asr_model_sample_rate(m);
    size_t n = (size_t)(seconds * rate);
    int maxN = 0;
    for (int k = 0; k < nN; k++)
        maxN = Ns[k] > maxN ? Ns[k] : maxN;
    float **audio = calloc((size_t)maxN + 1, sizeof *audio);
    for (int i = 0; i < maxN; i++)
        audio[i] = make_audio(n, i);
    printf("model %s (%s), %.2f GFLOP per audio second; %.1f s of audio per stream, 0.2 s chunks\n", path,
           asr_precision_name(prec), asr_model_flops_per_frame(m) * 1000.0 / asr_model_frame_ms(m) * 1e-9,
           seconds);
    printf("x RT = stream-audio seconds per CPU second (median of 5; at least 32 stream-seconds each)\n");
    printf("%8s %16s %16s %8s %16s %10s\n", "streams", "unbatched x RT", "batched x RT", "ratio",
           "frontend x RT", "identical");
    double dummy = 0;
    run(m, maxN < 8 ? maxN : 8, audio, n, 1, &dummy); /* warm up: page faults, caches */
    for (int k = 0; k < nN; k++) {
        int N = Ns[k], reps = N * seconds >= 32 ? 1 : (int)ceil(32 / (N * seconds));
        double t[3][5], sum[2] = {0, 0};
        for (int r = 0; r < 5; r++)
            for (int mode = 0; mode < 3; mode++) {
                double tt = 0, s = 0;
                for (int q = 0; q < reps; q++)
                    tt += run(m, N, audio, n, mode, &s);
                t[mode][r] = tt;
                if (mode < 2 && r == 0)
                    sum[mode] = s;
            }
        for (int mode = 0; mode < 3; mode++) /* median of 5 */
            for (int i = 0; i < 5; i++)
                for (int j = i + 1; j < 5; j++)
                    if (t[mode][j] < t[mode][i]) {
                        double x = t[mode][i];
                        t[mode][i] = t[mode][j], t[mode][j] = x;
                    }
        double a = reps * N * (double)n / rate;
        printf("%8d %16.1f %16.1f %8.2f %16.1f %10s\n", N, a / t[0][2], a / t[1][2], t[0][2] / t[1][2],
               a / t[2][2], sum[0] == sum[1] ? "yes" : "NO");
    }
    gemm_compare(asr_model_get_desc(m)->layers[0].hidden);
    for (int i = 0; i < maxN; i++)
        free(audio[i]);
    free(audio);
    asr_model_free(m);
    return 0;
}
