/* test_ctc.c - CTC loss and gradient (model/train/ctc.c) against an independent reference: brute-force
 * enumeration of every alignment path for small cases (loss and exact gradient), plus infeasibility,
 * long blank-heavy inputs and strided use.
 *
 * With arguments `--cases IN --out OUT` it instead computes loss and gradient for the cases in IN
 * (written by tests/torch_ctc_ref.py) so tests/e2e_torch_ctc.sh can compare them with PyTorch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/train/tnet_internal.h"
#include "test_util.h"

static unsigned long long rng_state = 12345;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void log_softmax_rows(const float *z, int T, int O, float *lp)
{
    for (int t = 0; t < T; t++) {
        double m = z[t * O], s = 0;
        for (int k = 1; k < O; k++)
            m = z[t * O + k] > m ? z[t * O + k] : m;
        for (int k = 0; k < O; k++)
            s += exp(z[t * O + k] - m);
        for (int k = 0; k < O; k++)
            lp[t * O + k] = (float)(z[t * O + k] - m - log(s));
    }
}

/* Brute force: sums p(path) over every path of length T that collapses to labels; grad as
 * softmax - E[path occupancy | labels]. Returns -log p or INFINITY. */
static double brute(const float *lp, int T, int O, const int *lab, int L, double *grad)
{
    int path[16], coll[16];
    long total = 1;
    for (int t = 0; t < T; t++)
        total *= O;
    double p = 0;
    double *occ = calloc((size_t)T * O, sizeof(double));
    for (long code = 0; code < total; code++) {
        long c = code;
        for (int t = 0; t < T; t++) {
            path[t] = (int)(c % O);
            c /= O;
        }
        int n = 0, prev = -1;
        for (int t = 0; t < T; t++) {
            if (path[t] != 0 && path[t] != prev)
                coll[n++] = path[t];
            prev = path[t];
        }
        if (n != L || (L > 0 && memcmp(coll, lab, sizeof(int) * L) != 0))
            continue;
        double lpp = 0;
        for (int t = 0; t < T; t++)
            lpp += lp[t * O + path[t]];
        double pp = exp(lpp);
        p += pp;
        for (int t = 0; t < T; t++)
            occ[t * O + path[t]] += pp;
    }
    for (int i = 0; i < T * O; i++)
        grad[i] = exp(lp[i]) - (p > 0 ? occ[i] / p : 0);
    free(occ);
    return p > 0 ? -log(p) : INFINITY;
}

static void check_case(int T, int O, const int *lab, int L, double scale, const char *what)
{
    float *z = malloc(sizeof(float) * T * O), *lp = malloc(sizeof(float) * T * O);
    float *g = malloc(sizeof(float) * T * O);
    double *rg = malloc(sizeof(double) * T * O);
    for (int i = 0; i < T * O; i++)
        z[i] = (float)((urand() * 2 - 1) * scale);
    log_softmax_rows(z, T, O, lp);
    double loss = ctc_loss_grad(lp, T, O, lab, L, g);
    double ref = brute(lp, T, O, lab, L, rg);
    if (isinf(ref)) {
        CHECK(isinf(loss) && loss > 0, "%s: infeasible case gives %g", what, loss);
    } else {
        CHECK(fabs(loss - ref) <= 1e-5 * fabs(ref) + 1e-6, "%s: loss %.9g vs brute force %.9g", what, loss,
              ref);
        double md = 0;
        for (int i = 0; i < T * O; i++)
            md = fmax(md, fabs(g[i] - rg[i]));
        CHECK(md <= 1e-5, "%s: gradient max abs diff %g", what, md);
    }
    free(z);
    free(lp);
    free(g);
    free(rg);
}

static void unit_tests(void)
{
    static const int aa[] = {1, 1}, ab[] = {1, 2}, aba[] = {1, 2, 1}, a[] = {2}, abb[] = {2, 1, 1};
    check_case(1, 3, NULL, 0, 1.0, "L=0 T=1");
    check_case(5, 3, NULL, 0, 2.0, "L=0 T=5");
    check_case(1, 3, a, 1, 1.0, "L=1 T=1 (minimal)");
    check_case(6, 3, a, 1, 3.0, "L=1 T=6");
    check_case(2, 3, aa, 2, 1.0, "aa T=2 (infeasible)");
    check_case(3, 3, aa, 2, 1.0, "aa T=3 (minimal)");
    check_case(7, 3, aa, 2, 2.0, "aa T=7");
    check_case(2, 3, ab, 2, 1.0, "ab T=2 (minimal)");
    check_case(8, 3, ab, 2, 4.0, "ab T=8 peaky");
    check_case(3, 3, aba, 3, 1.0, "aba T=3 (minimal)");
    check_case(6, 4, abb, 3, 2.0, "abb T=6");
    check_case(4, 4, abb, 3, 2.0, "abb T=4 (minimal)");
    check_case(3, 4, abb, 3, 2.0, "abb T=3 (infeasible)");
    for (int r = 0; r < 6; r++) { /* random small cases */
        int T = 2 + (int)(urand() * 6), O = 3 + (int)(urand() * 2), L = (int)(urand() * 4), lab[4];
        for (int i = 0; i < L; i++)
            lab[i] = 1 + (int)(urand() * (O - 1));
        char what[64];
        snprintf(what, sizeof(what), "random %d (T %d O %d L %d)", r, T, O, L);
        check_case(T, O, lab, L, 3.0, what);
    }
    CHECK(ctc_min_frames(abb, 3) == 4 && ctc_min_frames(aa, 2) == 3 && ctc_min_frames(ab, 2) == 2,
          "minimal frames");

    /* Long and blank-heavy: finite, gradient rows sum to 0 (softmax and occupancy both sum to 1),
     * and the strided form on an interleaved batch gives the same numbers. */
    const int T = 3000, O = 29, L = 5, lab[5] = {3, 3, 7, 1, 28};
    float *z = malloc(sizeof(float) * T * O), *lp = malloc(sizeof(float) * T * O);
    float *g = malloc(sizeof(float) * T * O), *lp2 = malloc(sizeof(float) * 2 * T * O);
    float *g2 = malloc(sizeof(float) * 2 * T * O);
    double *work = malloc(sizeof(double) * ctc_work_size(T, L));
    for (int t = 0; t < T; t++)
        for (int k = 0; k < O; k++)
            z[t * O + k] = (float)(urand() * 2 - 1 + (k == 0 ? 6 : 0));
    log_softmax_rows(z, T, O, lp);
    double loss = ctc_loss_grad(lp, T, O, lab, L, g);
    CHECK(isfinite(loss) && loss > 0, "long blank-heavy loss %g", loss);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int k = 0; k < O; k++)
            s += g[t * O + k];
        worst = fmax(worst, fabs(s));
    }
    CHECK(worst < 1e-4, "gradient rows sum to %g", worst);
    for (int t = 0; t < T; t++) {
        memcpy(lp2 + (2 * t + 1) * O, lp + t * O, sizeof(float) * O);
        for (int k = 0; k < O; k++)
            lp2[2 * t * O + k] = NAN; /* the other utterance: never read */
    }
    double loss2 = ctc_loss_grad_strided(lp2 + O, 2 * O, T, O, lab, L, g2 + O, 2 * O, work);
    int same = loss2 == loss;
    for (int t = 0; t < T && same; t++)
        same = memcmp(g2 + (2 * t + 1) * O, g + t * O, sizeof(float) * O) == 0;
    CHECK(same, "strided CTC equals contiguous (%g vs %g)", loss2, loss);
    double inf = ctc_loss_grad_strided(lp2 + O, 2 * O, 5, O, lab, L, g2 + O, 2 * O, work);
    CHECK(isinf(inf), "T=5 for 'ccga_' (needs 6) is infeasible: %g", inf);
    free(z);
    free(lp);
    free(g);
    free(lp2);
    free(g2);
    free(work);
}

/* Case file: "N", then per case "T O L", L labels, T*O logits. Output: per case the loss (or inf)
 * then T*O gradient values wrt the logits. */
static int run_cases(const char *in, const char *out)
{
    FILE *f = fopen(in, "r"), *o = fopen(out, "w");
    int N = 0, rc = 1;
    if (!f || !o || fscanf(f, "%d", &N) != 1) {
        fprintf(stderr, "test_ctc: cannot read %s or write %s\n", in, out);
        goto done;
    }
    for (int c = 0; c < N; c++) {
        int T, O, L;
        if (fscanf(f, "%d %d %d", &T, &O, &L) != 3 || T < 1 || O < 2 || L < 0)
            goto bad;
        int *lab = malloc(sizeof(int) * (L + 1));
        float *z = malloc(sizeof(float) * T * O), *lp = malloc(sizeof(float) * T * O);
        float *g = malloc(sizeof(float) * T * O);
        int ok = lab && z && lp && g;
        for (int i = 0; ok && i < L; i++)
            ok = fscanf(f, "%d", &lab[i]) == 1;
        for (int i = 0; ok && i < T * O; i++)
            ok = fscanf(f, "%f", &z[i]) == 1;
        if (ok) {
            log_softmax_rows(z, T, O, lp);
            double loss = ctc_loss_grad(lp, T, O, lab, L, g);
            fprintf(o, "%.10g\n", loss);
            for (int i = 0; i < T * O; i++)
                fprintf(o, "%.8g%c", g[i], i + 1 == T * O ? '\n' : ' ');
        }
        free(lab);
        free(z);
        free(lp);
        free(g);
        if (!ok)
            goto bad;
    }
    rc = 0;
    goto done;
bad:
    fprintf(stderr, "test_ctc: malformed case file %s\n", in);
done:
    if (f)
        fclose(f);
    if (o && fclose(o) != 0)
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--cases") && !strcmp(argv[3], "--out"))
        return run_cases(argv[2], argv[4]);
    unit_tests();
    return TEST_SUMMARY();
}
