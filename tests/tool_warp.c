/* tool_warp.c - prints the MFCC of a file with the shipped model's frontend (40 mel bins, 40
 * cepstra, 20..nyquist-400 Hz, no energy, at the file's own rate), one frame per line, or with
 * --alpha A the frames times mfcc_warp_matrix(A), for tests/e2e_mfcc_warp.sh.
 * Usage: tool_warp [--alpha A] FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/audio.h"
#include "../frontend/mfcc.h"

int main(int argc, char **argv)
{
    double alpha = 0;
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--alpha")) {
        alpha = strtod(argv[i + 1], NULL);
        i += 2;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: %s [--alpha A] FILE\n", argv[0]);
        return 2;
    }
    const char *path = argv[i];
    asr_error err = {ASR_OK, ""};
    audio_reader *r = audio_reader_open(path, 0, &err);
    if (!r) {
        fprintf(stderr, "tool_warp: %s\n", err.msg);
        return 1;
    }
    mfcc_params p = mfcc_default_params();
    p.sample_rate = audio_reader_file_rate(r);
    p.num_mel_bins = 40;
    p.num_ceps = 40;
    p.low_freq = 20.0f;
    p.high_freq = -400.0f;
    p.use_energy = 0;
    size_t n = 0, cap = 1 << 16;
    float *x = malloc(sizeof(float) * cap);
    for (long got; x && (got = audio_reader_read(r, x + n, cap - n, &err)) != 0;) {
        if (got < 0) {
            fprintf(stderr, "tool_warp: %s\n", err.msg);
            return 1;
        }
        n += (size_t)got;
        if (n == cap)
            x = realloc(x, sizeof(float) * (cap *= 2));
    }
    audio_reader_close(r);
    mfcc *m = mfcc_create(&p, &err);
    float *f = NULL, *w = malloc(sizeof(float) * 40 * 40);
    int nf = 0;
    if (!x || !w || !m || mfcc_compute(m, x, n, &f, &nf) != ASR_OK ||
        (alpha != 0 && mfcc_warp_matrix(m, alpha, w, &err) != ASR_OK)) {
        fprintf(stderr, "tool_warp: %s: %s\n", path, err.msg);
        return 1;
    }
    for (int t = 0; t < nf; t++) {
        const float *c = f + (size_t)t * 40;
        for (int k = 0; k < 40; k++) {
            double v = c[k];
            if (alpha != 0) {
                v = 0;
                for (int j = 0; j < 40; j++)
                    v += (double)w[k * 40 + j] * c[j];
            }
            printf(k ? " %.9g" : "%.9g", v);
        }
        putchar('\n');
    }
    free(x), free(f), free(w);
    mfcc_destroy(m);
    return fflush(stdout) != 0;
}
