/* beam_bench.c - CPU time of the CTC prefix beam search alone, fast (the default) vs the plain
 * reference search (ctc_beam_set_reference), on real log-probabilities: the acoustic model runs
 * once over every file of a manifest, then both searches decode the stored frames, alternating,
 * --reps times each; prints the median thread CPU seconds of each and whether every transcript
 * was identical. Timing the search apart from the network keeps the figure clear of the noise
 * of a loaded machine.
 *
 * Usage: beam_bench --model M --lm LM --manifest LIST.tsv [--beam N] [--lm-weight X]
 *                   [--word-bonus X] [--unk-penalty X] [--closed-vocab] [--reps N]
 *                   [--only fast|plain]
 * --only: run one search (for perf record); nothing is compared.
 * LIST.tsv lines are "path<TAB>reference", paths relative to LIST's folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../frontend/audio.h"
#include "../../model/asr_model.h"
#include "../../model/ctc_beam.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct utt {
    float *lp; /* (T, L) */
    int T;
} utt;

/* Decodes every utterance; returns CPU seconds; texts[i] (caller frees) if texts. */
/* Memory for the utterances' frames; a benchmark without it has nothing to measure. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "beam_bench: out of memory\n");
        exit(1);
    }
    return q;
}

static double decode_all(const utt *u, int n, int L, const char *alpha, double frame_ms,
                         const ctc_beam_params *p, const asr_lm *lm, const ctc_lexicon *lx, int reference,
                         char **texts)
{
    ctc_beam *b = ctc_beam_create(alpha, L, frame_ms, p, lm, lx, NULL);
    if (!b)
        return -1;
    ctc_beam_set_reference(b, reference);
    double t0 = cpu_now();
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < u[i].T; t++)
            ctc_beam_push(b, u[i].lp + (size_t)t * (size_t)L);
        asr_result r;
        if (ctc_beam_final(b, &r) != ASR_OK)
            fprintf(stderr, "beam_bench: decoding utterance %d failed (out of memory)\n", i);
        if (texts)
            texts[i] = strdup(r.text ? r.text : "");
        asr_result_free(&r);
    }
    double dt = cpu_now() - t0;
    ctc_beam_destroy(b);
    return dt;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *lm_path = NULL, *manifest = NULL;
    ctc_beam_params p = ctc_beam_default_params();
    int reps = 5, only = -1; /* -1 both, 0 fast, 1 plain */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--closed-vocab")) {
            p.closed_vocab = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "usage: see the top of tests/bench/beam_bench.c\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--lm"))
            lm_path = v;
        else if (!strcmp(a, "--manifest"))
            manifest = v;
        else if (!strcmp(a, "--beam"))
            p.beam = atoi(v);
        else if (!strcmp(a, "--lm-weight"))
            p.lm_weight = strtof(v, NULL);
        else if (!strcmp(a, "--word-bonus"))
            p.word_bonus = strtof(v, NULL);
        else if (!strcmp(a, "--unk-penalty"))
            p.unk_penalty = strtof(v, NULL);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else if (!strcmp(a, "--only"))
            only = !strcmp(v, "plain");
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (!model || !lm_path || !manifest || reps < 1 || reps > 99) {
        fprintf(stderr, "usage: see the top of tests/bench/beam_bench.c\n");
        return 2;
    }
    asr_error err = {0};
    asr_model *m = asr_model_load(model, &err);
    asr_lm *lm = m ? asr_lm_open(lm_path, &err) : NULL;
    const char *alpha = m ? asr_model_alphabet(m) : NULL;
    int L = m ? asr_model_n_out(m) : 0;
    ctc_lexicon *lx = lm ? ctc_lexicon_create(lm, alpha, L, &err) : NULL;
    asr_stream *s = lx ? asr_stream_create(m, &err) : NULL;
    FILE *mf = s ? fopen(manifest, "r") : NULL;
    if (!mf) {
        fprintf(stderr, "beam_bench: %s\n", err.msg[0] ? err.msg : "cannot open the manifest");
        return 1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", manifest);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    utt *u = NULL;
    int n = 0;
    long frames = 0;
    char line[4096];
    while (fgets(line, sizeof line, mf)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        char path[5200];
        snprintf(path, sizeof path, "%s%s", line[0] == '/' ? "" : dir, line);
        float *samples = NULL;
        size_t ns = 0;
        if (audio_read_file(path, asr_model_sample_rate(m), &samples, &ns, &err) != ASR_OK) {
            fprintf(stderr, "beam_bench: %s\n", err.msg);
            return 1;
        }
        asr_stream_reset(s);
        asr_stream_accept(s, samples, ns);
        free(samples);
        u = xrealloc(u, (size_t)(n + 1) * sizeof *u);
        u[n].T = 0;
        u[n].lp = NULL;
        int cap = 0;
        for (;;) {
            if (u[n].T == cap) {
                cap = cap ? 2 * cap : 256;
                u[n].lp = xrealloc(u[n].lp, (size_t)cap * (size_t)L * sizeof *u[n].lp);
            }
            if (!asr_stream_pop(s, u[n].lp + (size_t)u[n].T * (size_t)L))
                break;
            u[n].T++;
        }
        frames += u[n].T;
        n++;
    }
    fclose(mf);
    double fms = asr_model_frame_ms(m);
    char **ta = calloc((size_t)n, sizeof *ta), **tb = calloc((size_t)n, sizeof *tb);
    double tf[99], tr[99];
    int differ = 0;
    for (int r = 0; r < reps; r++) {
        tf[r] = only != 1 ? decode_all(u, n, L, alpha, fms, &p, lm, lx, 0, r == 0 ? ta : NULL) : 0;
        tr[r] = only != 0 ? decode_all(u, n, L, alpha, fms, &p, lm, lx, 1, r == 0 ? tb : NULL) : 0;
        if (tf[r] < 0 || tr[r] < 0) {
            fprintf(stderr, "beam_bench: cannot create the decoder (bad --beam or other parameters)\n");
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        differ += only < 0 && strcmp(ta[i], tb[i]) != 0;
        free(ta[i]);
        free(tb[i]);
    }
    qsort(tf, (size_t)reps, sizeof *tf, cmp_double);
    qsort(tr, (size_t)reps, sizeof *tr, cmp_double);
    printf("%d files, %ld frames, beam %d: fast %.3f s, plain %.3f s (median of %d), %d "
           "transcripts differ\n",
           n, frames, p.beam, tf[reps / 2], tr[reps / 2], reps, differ);
    for (int i = 0; i < n; i++)
        free(u[i].lp);
    free(u);
    free(ta);
    free(tb);
    asr_stream_destroy(s);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
    asr_model_free(m);
    return differ ? 1 : 0;
}
