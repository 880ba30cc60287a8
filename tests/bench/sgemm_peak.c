/* sgemm_peak.c - single-thread sgemm throughput of this machine, the ceiling asrd is compared to.
 *
 * Usage: sgemm_peak [SIZE...]   (default 512 1024)
 * For each size N, times C = A*B (N x N x N, OpenBLAS cblas_sgemm on one thread) repeatedly for
 * at least ~0.3 s and prints the best repetition as "sgemm N gflops G" (2*N^3 FLOPs each).
 * Best-of rather than mean: other jobs share this machine, and the peak is what the CPU can do.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(int n)
{
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_peak: out of memory for N=%d\n", n);
        free(a);
        free(b);
        free(c);
        return 1;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7) % 13) * 0.01f - 0.06f;
        b[i] = (float)((i * 5) % 11) * 0.01f - 0.05f;
        c[i] = 0.0f;
    }
    double best = 1e30, spent = 0.0;
    int reps = 0;
    /* one untimed warm-up, then at least 3 timed repetitions and ~0.3 s */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    while (reps < 3 || spent < 0.3) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
        spent += dt;
        reps++;
    }
    double flops = 2.0 * (double)n * (double)n * (double)n;
    printf("sgemm %d gflops %.2f reps %d check %.4f\n", n, flops / best * 1e-9, reps, (double)c[nn / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    int rc = 0;
    if (argc < 2) {
        rc |= bench(512);
        rc |= bench(1024);
    }
    for (int i = 1; i < argc; i++) {
        int n = atoi(argv[i]);
        if (n < 1 || n > 8192) {
            fprintf(stderr, "sgemm_peak: bad size '%s' (1..8192)\n", argv[i]);
            return 2;
        }
        rc |= bench(n);
    }
    return rc;
}
