/* test_ctc_decoder.c - streaming CTC greedy decoder: hand-made frame sequences with known argmax
 * paths, and a random-logits comparison with an offline run-based collapse written here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model/ctc_decoder.h"
#include "test_util.h"

#define ALPHA " abcdefghijklmnopqrstuvwxyz'"
#define NL ((int)sizeof(ALPHA)) /* blank + labels */
#define FRAME_MS 30.0

/* Label index of a spec character: '_' is the blank. */
static int label_of(char c)
{
    if (c == '_')
        return 0;
    const char *p = strchr(ALPHA, c);
    return p ? (int)(p - ALPHA) + 1 : -1;
}

/* A frame whose argmax is `label` with posterior p, the rest spread evenly. */
static void make_frame(float *lp, int label, double p)
{
    for (int k = 0; k < NL; k++)
        lp[k] = (float)log((1.0 - p) / (NL - 1));
    lp[label] = (float)log(p);
}

/* Pushes one frame per spec character, all with posterior p. */
static void push_spec(ctc_greedy *d, const char *spec, double p)
{
    float lp[NL];
    for (const char *s = spec; *s; s++) {
        make_frame(lp, label_of(*s), p);
        ctc_greedy_push(d, lp);
    }
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-6;
}

static void test_hand_made(void)
{
    asr_error err;
    ctc_greedy *d = ctc_greedy_create(ALPHA, NL, FRAME_MS, &err);
    CHECK(d != NULL, "create: %s", err.msg);
    asr_result r;

    /* repeats collapse; blank separates the double l; leading/trailing/double spaces vanish */
    /*            0         1         2         */
    /*            0123456789012345678901234567  */
    push_spec(d, "__hh_ee_ll_ll_oo  __wwor_ld__", 0.9);
    CHECK(strcmp(ctc_greedy_partial(d), "hello world") == 0, "partial '%s'", ctc_greedy_partial(d));
    CHECK(ctc_greedy_final(d, &r) == ASR_OK, "final");
    CHECK(strcmp(r.text, "hello world") == 0, "text '%s'", r.text);
    CHECK(r.n_words == 2, "n_words %d", r.n_words);
    if (r.n_words == 2) {
        CHECK(strcmp(r.words[0].word, "hello") == 0, "w0 %s", r.words[0].word);
        /* hello: first 'h' at frame 2, last 'o' frames 14-15 -> end of frame 15 */
        CHECK(near(r.words[0].start_ms, 2 * FRAME_MS), "start %g", r.words[0].start_ms);
        CHECK(near(r.words[0].end_ms, 16 * FRAME_MS), "end %g", r.words[0].end_ms);
        CHECK(near(r.words[0].conf, 0.9), "conf %g", r.words[0].conf);
        CHECK(strcmp(r.words[1].word, "world") == 0, "w1 %s", r.words[1].word);
        /* world: 'w' at 20-21, 'd' at 26 */
        CHECK(near(r.words[1].start_ms, 20 * FRAME_MS), "start %g", r.words[1].start_ms);
        CHECK(near(r.words[1].end_ms, 27 * FRAME_MS), "end %g", r.words[1].end_ms);
    }
    asr_result_free(&r);

    /* final resets the hypothesis; time keeps running (29 frames so far) */
    CHECK(strcmp(ctc_greedy_partial(d), "") == 0, "partial after final '%s'", ctc_greedy_partial(d));
    CHECK(ctc_greedy_frames(d) == 29, "frames %ld", ctc_greedy_frames(d));
    /* the old utterance ended on blank; this one starts with 'a' at frame 29 */
    push_spec(d, "a", 0.5);
    CHECK(ctc_greedy_final(d, &r) == ASR_OK, "final");
    CHECK(strcmp(r.text, "a") == 0 && r.n_words == 1, "text '%s'", r.text);
    if (r.n_words == 1) {
        CHECK(near(r.words[0].start_ms, 29 * FRAME_MS), "start %g", r.words[0].start_ms);
        CHECK(near(r.words[0].end_ms, 30 * FRAME_MS), "end %g", r.words[0].end_ms);
        CHECK(near(r.words[0].conf, 0.5), "conf %g", r.words[0].conf);
    }
    asr_result_free(&r);
    /* a label continuing across final is a new emission, not a repeat */
    push_spec(d, "a", 0.5);
    CHECK(strcmp(ctc_greedy_partial(d), "a") == 0, "partial '%s'", ctc_greedy_partial(d));

    /* empty utterance */
    ctc_greedy_reset(d);
    CHECK(ctc_greedy_frames(d) == 0, "frames after reset");
    push_spec(d, "___  __", 0.9);
    CHECK(ctc_greedy_final(d, &r) == ASR_OK, "final");
    CHECK(r.text && strcmp(r.text, "") == 0 && r.n_words == 0, "empty text '%s'", r.text);
    asr_result_free(&r);

    /* confidence is the mean over the word's emitting frames (blanks excluded) */
    ctc_greedy_reset(d);
    float lp[NL];
    make_frame(lp, label_of('o'), 0.8);
    ctc_greedy_push(d, lp);
    make_frame(lp, label_of('o'), 0.6); /* repeat: counts */
    ctc_greedy_push(d, lp);
    make_frame(lp, 0, 0.1 + 0.85); /* blank: ignored */
    ctc_greedy_push(d, lp);
    make_frame(lp, label_of('k'), 0.4);
    ctc_greedy_push(d, lp);
    make_frame(lp, label_of(' '), 0.99); /* space: ends the word, ignored */
    ctc_greedy_push(d, lp);
    CHECK(ctc_greedy_final(d, &r) == ASR_OK, "final");
    CHECK(r.n_words == 1 && strcmp(r.text, "ok") == 0, "text '%s'", r.text);
    if (r.n_words == 1) {
        CHECK(near(r.words[0].conf, (0.8 + 0.6 + 0.4) / 3), "conf %g", r.words[0].conf);
        CHECK(near(r.words[0].end_ms, 4 * FRAME_MS), "end %g", r.words[0].end_ms);
    }
    asr_result_free(&r);

    /* apostrophes are ordinary labels */
    ctc_greedy_reset(d);
    push_spec(d, "ddoonn''tt", 0.7);
    CHECK(strcmp(ctc_greedy_partial(d), "don't") == 0, "partial '%s'", ctc_greedy_partial(d));
    ctc_greedy_destroy(d);

    /* bad arguments */
    CHECK(ctc_greedy_create("ab", 4, FRAME_MS, &err) == NULL && err.code == ASR_ERR_ARG, "mismatch");
    CHECK(ctc_greedy_create("ab", 3, 0, &err) == NULL, "frame_ms 0");
}

/* Partial hypotheses only grow (each is a prefix of the next) and querying them changes nothing. */
static void test_partial_monotone(void)
{
    asr_error err;
    ctc_greedy *a = ctc_greedy_create(ALPHA, NL, FRAME_MS, &err);
    ctc_greedy *b = ctc_greedy_create(ALPHA, NL, FRAME_MS, &err);
    const char *spec = "_tt_h_e  ___q_uu_i_cc_k  bb_r_oo_ww_nn   ffo_x__";
    char prev[256] = "";
    int mono = 1;
    float lp[NL];
    for (const char *s = spec; *s; s++) {
        make_frame(lp, label_of(*s), 0.9);
        ctc_greedy_push(a, lp);
        ctc_greedy_push(b, lp);
        const char *p = ctc_greedy_partial(a);
        if (strncmp(p, prev, strlen(prev)) != 0)
            mono = 0;
        snprintf(prev, sizeof prev, "%s", p);
    }
    CHECK(mono, "partial not monotone");
    asr_result ra, rb;
    ctc_greedy_final(a, &ra);
    ctc_greedy_final(b, &rb);
    CHECK(strcmp(ra.text, "the quick brown fox") == 0, "text '%s'", ra.text);
    CHECK(strcmp(ra.text, rb.text) == 0 && ra.n_words == rb.n_words, "queried vs not");
    for (int i = 0; i < ra.n_words && i < rb.n_words; i++)
        CHECK(ra.words[i].start_ms == rb.words[i].start_ms && ra.words[i].end_ms == rb.words[i].end_ms &&
                  ra.words[i].conf == rb.words[i].conf,
              "word %d differs", i);
    asr_result_free(&ra);
    asr_result_free(&rb);
    ctc_greedy_destroy(a);
    ctc_greedy_destroy(b);
}

/* --- offline reference: argmax path -> runs -> words, written independently of the decoder --- */
typedef struct ref_word {
    char text[512];
    long first, last;
    double conf_sum;
    long n;
} ref_word;

/* Decodes frames [0, T) of path (argmax labels) with posteriors post; t0 = stream time offset. */
static int offline_decode(const int *path, const double *post, long T, long t0, ref_word *out, int max,
                          char *text)
{
    int nw = 0;
    int open = 0;
    text[0] = '\0';
    long i = 0;
    while (i < T) {
        long j = i;
        while (j < T && path[j] == path[i])
            j++;
        /* run [i, j) of label path[i] */
        int lab = path[i];
        if (lab != 0) {
            char c = ALPHA[lab - 1];
            if (c == ' ') {
                open = 0;
            } else {
                if (!open) {
                    if (nw == max)
                        return -1;
                    memset(&out[nw], 0, sizeof out[nw]);
                    out[nw].first = t0 + i;
                    nw++;
                    open = 1;
                }
                ref_word *w = &out[nw - 1];
                size_t L = strlen(w->text);
                w->text[L] = c;
                w->text[L + 1] = '\0';
                w->last = t0 + j - 1;
                for (long k = i; k < j; k++) {
                    w->conf_sum += post[k];
                    w->n++;
                }
            }
        }
        i = j;
    }
    for (int k = 0; k < nw; k++) {
        if (k)
            strcat(text, " ");
        strcat(text, out[k].text);
    }
    return nw;
}

static void test_random_property(void)
{
    asr_error err;
    /* a 4-label alphabet (blank, space, a, b) makes repeats and doubles frequent */
    const char *alpha = " ab";
    int nl = 4;
    ctc_greedy *d = ctc_greedy_create(alpha, nl, 40.0, &err);
    CHECK(d != NULL, "create");
    srand(12345);
    int mismatches = 0, cases = 0;
    for (int trial = 0; trial < 300; trial++) {
        long T = 1 + rand() % 200;
        int path[200];
        double post[200];
        float frames[200][4];
        for (long t = 0; t < T; t++) {
            double z[4], m = -1e9, s = 0;
            for (int k = 0; k < nl; k++) {
                z[k] = (double)rand() / RAND_MAX * 6.0 - 3.0;
                if (k == 0)
                    z[k] += 1.0; /* blanks a bit more frequent, as in real CTC output */
            }
            for (int k = 0; k < nl; k++)
                m = fmax(m, z[k]);
            for (int k = 0; k < nl; k++)
                s += exp(z[k] - m);
            int best = 0;
            for (int k = 0; k < nl; k++) {
                frames[t][k] = (float)(z[k] - m - log(s));
                if (frames[t][k] > frames[t][best])
                    best = k;
            }
            path[t] = best;
            post[t] = exp((double)frames[t][best]);
        }
        /* split into utterances at random points; time runs on across them */
        ctc_greedy_reset(d);
        long start = 0;
        while (start < T) {
            long len = 1 + rand() % (T - start);
            for (long t = start; t < start + len; t++)
                ctc_greedy_push(d, frames[t]);
            asr_result r;
            ctc_greedy_final(d, &r);
            /* the reference reads labels through ALPHA, whose first three are " ab" too */
            ref_word rw[128];
            char text[4096];
            int nw = offline_decode(path + start, post + start, len, start, rw, 128, text);
            cases++;
            int ok = nw == r.n_words && strcmp(text, r.text) == 0;
            for (int k = 0; ok && k < nw; k++) {
                ok = strcmp(rw[k].text, r.words[k].word) == 0 &&
                     fabs(r.words[k].start_ms - rw[k].first * 40.0) < 1e-9 &&
                     fabs(r.words[k].end_ms - (rw[k].last + 1) * 40.0) < 1e-9 &&
                     fabs(r.words[k].conf - rw[k].conf_sum / rw[k].n) < 1e-5;
            }
            if (!ok && mismatches++ < 3)
                fprintf(stderr, "trial %d: decoder '%s' (%d words) vs offline '%s' (%d words)\n", trial,
                        r.text, r.n_words, text, nw);
            asr_result_free(&r);
            start += len;
        }
    }
    CHECK(mismatches == 0, "%d of %d random utterances differ from the offline collapse", mismatches, cases);
    ctc_greedy_destroy(d);
}

int main(void)
{
    test_hand_made();
    test_partial_monotone();
    test_random_property();
    return TEST_SUMMARY();
}
