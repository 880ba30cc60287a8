/* test_ctc_beam.c - prefix beam search: beam 1 (max merge, no LM) == greedy decoding on random
 * logits; a full beam == the most probable labelling by brute force over every path; toy ARPA
 * LMs with hand-computed decisions (back-off weights as ARPA defines, closed vocabulary never
 * outputs a forbidden word; open vocabulary charges unk_penalty once, when a partial word leaves
 * the trie, at a hand-computed tie); streaming (partials between frames, consecutive utterances) ==
 * whole-utterance decoding; phrase-list vocabularies; the vocabulary trie of sorted words (built
 * without search) == the trie of the same words unsorted (children searched for). */
#include "../model/ctc_beam.h"
#include "../model/ctc_lexicon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static unsigned rng = 12345u;
static double urand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) + 0.5) / 16777216.0;
}
static double nrand(void)
{
    return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand());
}

/* T frames of log-softmax(logits): one label per frame made dominant (blank half the time), the
 * rest Gaussian noise, so paths spell words with repeats and blanks between them. */
static float *random_frames(int T, int L, double peak)
{
    float *f = malloc((size_t)T * (size_t)L * sizeof *f);
    for (int t = 0; t < T; t++) {
        float *x = f + (size_t)t * (size_t)L;
        int dom = urand() < 0.5 ? 0 : (int)(urand() * L);
        double mx = -1e30, s = 0;
        for (int k = 0; k < L; k++) {
            x[k] = (float)(nrand() + (k == dom ? peak : 0));
            mx = x[k] > mx ? x[k] : mx;
        }
        for (int k = 0; k < L; k++)
            s += exp(x[k] - mx);
        for (int k = 0; k < L; k++)
            x[k] = (float)(x[k] - mx - log(s));
    }
    return f;
}

static void test_greedy_equivalence(void)
{
    const char *alpha = " abc'";
    int L = 6;
    ctc_beam_params p = ctc_beam_default_params();
    p.beam = 1;
    p.viterbi = 1;
    p.word_bonus = 0;
    int bad_text = 0, bad_words = 0, bad_partial = 0, runs = 0;
    for (int run = 0; run < 200; run++) {
        int T = 1 + (int)(urand() * 120);
        float *f = random_frames(T, L, run % 2 ? 2.0 : 4.0);
        ctc_greedy *g = ctc_greedy_create(alpha, L, 40.0, NULL);
        ctc_beam *b = ctc_beam_create(alpha, L, 40.0, &p, NULL, NULL, NULL);
        for (int t = 0; t < T; t++) {
            ctc_greedy_push(g, f + (size_t)t * L);
            ctc_beam_push(b, f + (size_t)t * L);
            /* Greedy's partial may carry a trailing space only through words; compare words. */
            if (strcmp(ctc_greedy_partial(g), ctc_beam_partial(b)) != 0)
                bad_partial++;
        }
        asr_result rg, rb;
        ctc_greedy_final(g, &rg);
        ctc_beam_final(b, &rb);
        runs++;
        if (strcmp(rg.text, rb.text) != 0) {
            if (bad_text++ < 3)
                fprintf(stderr, "greedy \"%s\" beam \"%s\"\n", rg.text, rb.text);
        } else if (rg.n_words != rb.n_words) {
            bad_words++;
        } else {
            for (int i = 0; i < rg.n_words; i++)
                if (strcmp(rg.words[i].word, rb.words[i].word) != 0 ||
                    rg.words[i].start_ms != rb.words[i].start_ms ||
                    rg.words[i].end_ms != rb.words[i].end_ms ||
                    fabsf(rg.words[i].conf - rb.words[i].conf) > 1e-6f) {
                    if (bad_words++ < 3)
                        fprintf(stderr, "word %d: greedy %s %.0f-%.0f %.4f beam %s %.0f-%.0f %.4f\n", i,
                                rg.words[i].word, rg.words[i].start_ms, rg.words[i].end_ms, rg.words[i].conf,
                                rb.words[i].word, rb.words[i].start_ms, rb.words[i].end_ms, rb.words[i].conf);
                    break;
                }
        }
        asr_result_free(&rg);
        asr_result_free(&rb);
        ctc_greedy_destroy(g);
        ctc_beam_destroy(b);
        free(f);
    }
    CHECK(bad_text == 0, "beam 1 text != greedy in %d of %d runs", bad_text, runs);
    CHECK(bad_words == 0, "beam 1 words/times/conf != greedy in %d of %d runs", bad_words, runs);
    CHECK(bad_partial == 0, "beam 1 partials != greedy in %d frames", bad_partial);
}

/* ---- brute force: most probable labelling under the beam's prefix semantics ---- */

/* Collapses a path to the beam's prefix: repeats merged, blanks dropped, no leading space, runs
 * of spaces as one (a trailing space is kept: "a" and "a " are different prefixes). */
static void collapse(const int *path, int T, const char *alpha, char *out)
{
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        int k = path[t];
        if (k != 0 && k != prev) {
            char c = alpha[k - 1];
            if (!(c == ' ' && (n == 0 || out[n - 1] == ' ')))
                out[n++] = c;
        }
        prev = k;
    }
    out[n] = '\0';
}

#define BF_MAX 4096
static char bf_key[BF_MAX][16];
static double bf_p[BF_MAX];
static int bf_n;

static void test_brute_force(void)
{
    const char *alpha = " ab";
    int L = 4, T = 5;
    ctc_beam_params p = ctc_beam_default_params();
    p.beam = 2000;
    p.char_prune = 0;
    p.max_chars = 3;
    p.beam_delta = 0;
    p.word_bonus = 0;
    int bad = 0;
    for (int run = 0; run < 60; run++) {
        float *f = random_frames(T, L, run % 3 ? 1.0 : 0.0);
        bf_n = 0;
        int path[8];
        int total = 1;
        for (int t = 0; t < T; t++)
            total *= L;
        for (int code = 0; code < total; code++) {
            double lp = 0;
            for (int t = 0, c = code; t < T; t++, c /= L) {
                path[t] = c % L;
                lp += f[t * L + path[t]];
            }
            char key[16];
            collapse(path, T, alpha, key);
            int i;
            for (i = 0; i < bf_n && strcmp(bf_key[i], key) != 0; i++)
                ;
            if (i == bf_n) {
                strcpy(bf_key[bf_n], key);
                bf_p[bf_n++] = 0;
            }
            bf_p[i] += exp(lp);
        }
        int best = 0;
        for (int i = 1; i < bf_n; i++)
            if (bf_p[i] > bf_p[best])
                best = i;
        char want[16];
        strcpy(want, bf_key[best]);
        size_t wl = strlen(want);
        while (wl > 0 && want[wl - 1] == ' ')
            want[--wl] = '\0';
        ctc_beam *b = ctc_beam_create(alpha, L, 10.0, &p, NULL, NULL, NULL);
        for (int t = 0; t < T; t++)
            ctc_beam_push(b, f + t * L);
        asr_result r;
        ctc_beam_final(b, &r);
        if (strcmp(r.text, want) != 0 && bad++ < 3)
            fprintf(stderr, "brute force \"%s\" beam \"%s\"\n", want, r.text);
        asr_result_free(&r);
        ctc_beam_destroy(b);
        free(f);
    }
    CHECK(bad == 0, "full beam != brute-force best labelling in %d of 60 runs", bad);
}

/* ---- toy LMs ---- */

static char dir[] = "/tmp/test_ctc_beam_XXXXXX";

static asr_lm *toy_lm(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    asr_error err = {0};
    asr_lm *lm = asr_lm_load_arpa(path, &err);
    CHECK(lm != NULL, "toy lm %s: %s", name, err.msg);
    return lm;
}

/* One frame of probabilities (normalised here) as log-probabilities. */
static void frame(float *out, int L, const double *p)
{
    double s = 0;
    for (int k = 0; k < L; k++)
        s += p[k];
    for (int k = 0; k < L; k++)
        out[k] = (float)log(p[k] / s);
}

/* Decodes T frames; returns the final text (caller frees) and, if parts, the partial after each
 * frame in parts[t] (caller frees). */
static char *decode_partials(const float *f, int T, int L, const char *alpha, const ctc_beam_params *p,
                             const asr_lm *lm, const ctc_lexicon *lx, char **parts)
{
    ctc_beam *b = ctc_beam_create(alpha, L, 10.0, p, lm, lx, NULL);
    for (int t = 0; t < T; t++) {
        ctc_beam_push(b, f + (size_t)t * (size_t)L);
        if (parts)
            parts[t] = strdup(ctc_beam_partial(b));
    }
    asr_result r;
    ctc_beam_final(b, &r);
    char *s = strdup(r.text);
    asr_result_free(&r);
    ctc_beam_destroy(b);
    return s;
}

static char *decode(const float *f, int T, int L, const char *alpha, const ctc_beam_params *p,
                    const asr_lm *lm, const ctc_lexicon *lx)
{
    return decode_partials(f, T, L, alpha, p, lm, lx, NULL);
}

/* "a" then a frame where x and y are equally likely: only the LM decides, through bow(a). */
static void test_backoff_decision(void)
{
    const char *alpha = " axy";
    int L = 5;
    /* labels: 0 blank, 1 space, 2 a, 3 x, 4 y */
    const double fr[4][5] = {
        {0.02, 0.02, 0.9, 0.03, 0.03},
        {0.05, 0.85, 0.04, 0.03, 0.03},
        {0.04, 0.03, 0.03, 0.45, 0.45},
        {0.9, 0.04, 0.02, 0.02, 0.02},
    };
    float f[4 * 5];
    for (int t = 0; t < 4; t++)
        frame(f + t * L, L, fr[t]);
    /* p(x | a) = bow(a) + p(x), p(y | a) listed; p(</s> | a x) and p(</s> | a y) both come to
     * p(</s>) (bow(x) = bow(y) = 0, "a x" unlisted, "a y" listed without a back-off weight). */
    const char *fmt = "\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n-1 <s> 0\n-1 </s>\n"
                      "-0.6 a %s\n-0.5 x 0\n-0.9 y 0\n\n\\2-grams:\n-0.2 <s> a\n-0.7 a y\n\n\\end\\\n";
    char text[512];
    ctc_beam_params p = ctc_beam_default_params();
    p.lm_weight = 1.0f;
    p.word_bonus = 0;
    p.closed_vocab = 1;
    /* bow(a) = -0.3: x scores -0.8, y -0.7: y. */
    snprintf(text, sizeof text, fmt, "-0.3");
    asr_lm *lm = toy_lm("bow1.arpa", text);
    ctc_lexicon *lx = lm ? ctc_lexicon_create(lm, alpha, L, NULL) : NULL;
    char *s = lx ? decode(f, 4, L, alpha, &p, lm, lx) : NULL;
    CHECK(s && strcmp(s, "a y") == 0, "bow -0.3 wants \"a y\", got \"%s\"", s ? s : "(null)");
    free(s);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
    /* bow(a) = -0.1: x scores -0.6, y -0.7: x. */
    snprintf(text, sizeof text, fmt, "-0.1");
    lm = toy_lm("bow2.arpa", text);
    lx = lm ? ctc_lexicon_create(lm, alpha, L, NULL) : NULL;
    s = lx ? decode(f, 4, L, alpha, &p, lm, lx) : NULL;
    CHECK(s && strcmp(s, "a x") == 0, "bow -0.1 wants \"a x\", got \"%s\"", s ? s : "(null)");
    free(s);
    /* Without the LM the tie goes to either; with lm_weight 0 too: only check it is one of them. */
    p.lm_weight = 0;
    s = lx ? decode(f, 4, L, alpha, &p, lm, lx) : NULL;
    CHECK(s && (strcmp(s, "a x") == 0 || strcmp(s, "a y") == 0), "weight 0: \"%s\"", s ? s : "");
    free(s);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
}

/* LM lookahead: at beam 1 the letter the acoustics prefer first ("c", 0.55 against "a", 0.45)
 * starts only an unlikely word ("cb", log10 p -3; "ab" -0.1). Without lookahead the beam keeps
 * "c" and the LM can only judge the word when it closes, too late: "cb". With it, "c" is charged
 * its likeliest completion's unigram from its first letter and "a" wins: "ab", which a wide beam
 * finds either way. */
static void test_lookahead_decision(void)
{
    const char *alpha = " abc";
    int L = 5;
    /* labels: 0 blank, 1 space, 2 a, 3 b, 4 c */
    const double fr[4][5] = {
        {0.0, 0.0, 0.45, 0.0, 0.55},
        {0.05, 0.02, 0.02, 0.89, 0.02},
        {0.9, 0.04, 0.02, 0.02, 0.02},
        {0.05, 0.9, 0.02, 0.02, 0.01},
    };
    float f[4 * 5];
    for (int t = 0; t < 4; t++)
        frame(f + t * L, L, fr[t]);
    f[0] = f[1] = f[3] = -30; /* no blank, space or b in the first frame */
    asr_lm *lm = toy_lm("la.arpa", "\\data\\\nngram 1=4\n\n\\1-grams:\n-1 <s>\n-0.5 </s>\n-0.1 ab\n-3 cb\n"
                                   "\n\\end\\\n");
    ctc_lexicon *lx = lm ? ctc_lexicon_create(lm, alpha, L, NULL) : NULL;
    CHECK(lx != NULL, "lookahead lexicon");
    if (!lx) {
        asr_lm_free(lm);
        return;
    }
    ctc_beam_params p = ctc_beam_default_params();
    p.lm_weight = 1.0f;
    p.word_bonus = 0;
    p.beam = 1;
    p.lm_lookahead = 0;
    char *s = decode(f, 4, L, alpha, &p, lm, lx);
    CHECK(s && strcmp(s, "cb") == 0, "beam 1 without lookahead keeps the acoustics' c: \"%s\"", s ? s : "");
    free(s);
    p.lm_lookahead = 1;
    s = decode(f, 4, L, alpha, &p, lm, lx);
    CHECK(s && strcmp(s, "ab") == 0, "beam 1 with lookahead: \"%s\"", s ? s : "");
    free(s);
    p.lm_lookahead = 0;
    p.beam = 16;
    s = decode(f, 4, L, alpha, &p, lm, lx);
    CHECK(s && strcmp(s, "ab") == 0, "beam 16 without lookahead: \"%s\"", s ? s : "");
    free(s);
    /* A lookahead without a positive LM weight does nothing (the bounds assume it <= 0). */
    p.beam = 1;
    p.lm_lookahead = 1;
    p.lm_weight = 0;
    s = decode(f, 4, L, alpha, &p, lm, lx);
    CHECK(s && strcmp(s, "cb") == 0, "weight 0: lookahead off: \"%s\"", s ? s : "");
    free(s);
    p.lm_lookahead = -0.5f;
    ctc_beam *bad = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
    CHECK(bad == NULL, "lm_lookahead < 0 refused");
    ctc_beam_destroy(bad);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
}

/* A word the LM does not have is never output in closed mode; open mode can output it. */
static void test_closed_vocab(void)
{
    const char *alpha = " abc";
    int L = 5;
    asr_lm *lm = toy_lm("closed.arpa", "\\data\\\nngram 1=4\n\n\\1-grams:\n-1 <s>\n-0.5 </s>\n"
                                       "-0.3 ab\n-0.4 ba\n\n\\end\\\n");
    if (!lm)
        return;
    ctc_lexicon *lx = ctc_lexicon_create(lm, alpha, L, NULL);
    CHECK(lx && ctc_lexicon_words(lx) == 2, "lexicon of 2 words (<s> </s> left out)");
    /* Frames spelling "abc" clearly. */
    const double fr[5][5] = {
        {0.02, 0.02, 0.9, 0.03, 0.03}, {0.02, 0.02, 0.03, 0.9, 0.03}, {0.02, 0.02, 0.03, 0.03, 0.9},
        {0.9, 0.04, 0.02, 0.02, 0.02}, {0.9, 0.04, 0.02, 0.02, 0.02},
    };
    float f[5 * 5];
    for (int t = 0; t < 5; t++)
        frame(f + t * L, L, fr[t]);
    ctc_beam_params p = ctc_beam_default_params();
    p.closed_vocab = 1;
    char *s = decode(f, 5, L, alpha, &p, lm, lx);
    CHECK(strstr(s, "abc") == NULL, "closed vocabulary output \"%s\"", s);
    free(s);
    p.closed_vocab = 0;
    p.unk_penalty = -1;
    s = decode(f, 5, L, alpha, &p, lm, lx);
    CHECK(strcmp(s, "abc") == 0, "open vocabulary wants \"abc\", got \"%s\"", s);
    free(s);
    /* Random frames: every output word is in the vocabulary. */
    p.closed_vocab = 1;
    int bad = 0, words = 0;
    for (int run = 0; run < 100; run++) {
        int T = 5 + (int)(urand() * 60);
        float *rf = random_frames(T, L, 3.0);
        ctc_beam *b = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
        for (int t = 0; t < T; t++)
            ctc_beam_push(b, rf + (size_t)t * L);
        asr_result r;
        ctc_beam_final(b, &r);
        for (int i = 0; i < r.n_words; i++, words++)
            if (strcmp(r.words[i].word, "ab") != 0 && strcmp(r.words[i].word, "ba") != 0)
                bad++;
        asr_result_free(&r);
        ctc_beam_destroy(b);
        free(rf);
    }
    CHECK(bad == 0 && words > 20, "%d of %d words outside the closed vocabulary", bad, words);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
}

/* Open vocabulary: unk_penalty is charged once per out-of-vocabulary word, at the frame its
 * partial word leaves the trie (or at its close for a prefix of vocabulary words that is no word
 * itself). Each case puts unk_penalty 0.002 either side of the value where two hypotheses tie by
 * hand computation from the frames' log-probabilities, so a penalty charged at another frame, twice
 * or not at all moves the decision. Vocabulary {ab, ba}; labels 0 blank, 1 space, 2 a, 3 b, 4 x. */
static void test_unk_penalty_timing(void)
{
    const char *alpha = " abx";
    int L = 5;
    const double fr[3][5] = {
        {0.02, 0.02, 0.9, 0.03, 0.03},
        {0.04, 0.02, 0.04, 0.3, 0.6},
        {0.25, 0.02, 0.6, 0.05, 0.08},
    };
    float f[3 * 5];
    for (int t = 0; t < 3; t++)
        frame(f + t * L, L, fr[t]);
#define LP(t, k) ((double)f[(t)*L + (k)])
#define P(t, k) exp(LP(t, k))
    const char *lms[2] = {"\\data\\\nngram 1=4\n\n\\1-grams:\n-1 <s>\n-0.5 </s>\n-0.3 ab\n"
                          "-0.4 ba\n\n\\end\\\n",
                          "\\data\\\nngram 1=5\n\n\\1-grams:\n-1 <s>\n-0.5 </s>\n-0.3 ab\n-0.4 ba\n"
                          "-1.2 <unk>\n\n\\end\\\n"};
    for (int v = 0; v < 2; v++) {
        asr_lm *lm = toy_lm(v ? "unk1.arpa" : "unk0.arpa", lms[v]);
        ctc_lexicon *lx = lm ? ctc_lexicon_create(lm, alpha, L, NULL) : NULL;
        if (!lx) {
            asr_lm_free(lm);
            return;
        }
        ctc_beam_params p = ctc_beam_default_params();
        p.beam = 64;
        p.beam_delta = 0;
        p.word_bonus = v ? 0.7f : 0; /* the same for every hypothesis with one word */
        p.use_eos = 0;
        /* v = 1: the LM scores the closed word, <unk> for an unknown one (never penalised). */
        p.lm_weight = v ? 1.0f : 0;
        double ln10 = log(10.0), lm_ab = v ? -0.3 * ln10 : 0, lm_unk = v ? -1.2 * ln10 : 0;
        /* After frame 1: "ab" (in the trie) vs "ax" (left it at this frame); no LM yet. */
        double tie1 = LP(1, 3) - LP(1, 4);
        /* Final after 3 frames: "axa" (left the trie at frame 1, stays out at frame 2; one path)
         * vs "ab" (paths a b -, a b b, a a b, a - b, - a b, ' ' a b: a space before any word
         * leaves the prefix as is); everything else is far behind. */
        double axa = LP(0, 2) + LP(1, 4) + LP(2, 2) + lm_unk;
        double ab = log(P(0, 2) * P(1, 3) * (P(2, 0) + P(2, 3)) + P(0, 2) * (P(1, 2) + P(1, 0)) * P(2, 3) +
                        (P(0, 0) + P(0, 1)) * P(1, 2) * P(2, 3)) +
                    lm_ab;
        double tie3 = ab - axa;
        for (int side = -1; side <= 1; side += 2) {
            char *parts[3];
            p.unk_penalty = (float)(tie1 + side * 0.002);
            char *s = decode_partials(f, 3, L, alpha, &p, lm, lx, parts);
            CHECK(strcmp(parts[0], "a") == 0 && strcmp(parts[1], side < 0 ? "ab" : "ax") == 0,
                  "lm %d: penalty %.3f (tie %.3f): partials \"%s\" \"%s\"", v, p.unk_penalty, tie1, parts[0],
                  parts[1]);
            for (int t = 0; t < 3; t++)
                free(parts[t]);
            free(s);
            p.unk_penalty = (float)(tie3 + side * 0.002);
            s = decode_partials(f, 3, L, alpha, &p, lm, lx, parts);
            CHECK(strcmp(s, side < 0 ? "ab" : "axa") == 0, "lm %d: penalty %.3f (tie %.3f): final \"%s\"", v,
                  p.unk_penalty, tie3, s);
            for (int t = 0; t < 3; t++)
                free(parts[t]);
            free(s);
        }
        /* "a" alone never leaves the trie but is no word: charged when it closes. Versus the
         * empty text (no word, no bonus, no LM score); paths a -, a a, - a, ' ' a vs blanks and
         * spaces only. */
        const double hr[2][5] = {{0.5, 0.01, 0.45, 0.02, 0.02}, {0.9, 0.02, 0.04, 0.02, 0.02}};
        float h[2 * 5];
        for (int t = 0; t < 2; t++)
            frame(h + t * L, L, hr[t]);
#define HP(t, k) exp((double)h[(t)*L + (k)])
        double tie_a = log((HP(0, 0) + HP(0, 1)) * (HP(1, 0) + HP(1, 1))) -
                       log(HP(0, 2) * (HP(1, 0) + HP(1, 2)) + (HP(0, 0) + HP(0, 1)) * HP(1, 2)) -
                       p.word_bonus - lm_unk;
#undef HP
        for (int side = -1; side <= 1; side += 2) {
            p.unk_penalty = (float)(tie_a + side * 0.002);
            char *s = decode(h, 2, L, alpha, &p, lm, lx);
            CHECK(strcmp(s, side < 0 ? "" : "a") == 0, "lm %d: penalty %.3f (tie %.3f): \"%s\"", v,
                  p.unk_penalty, tie_a, s);
            free(s);
        }
        /* Closed vocabulary is unchanged: the out-of-vocabulary hypotheses are dropped. */
        p.closed_vocab = 1;
        p.unk_penalty = 0;
        char *s = decode(f, 3, L, alpha, &p, lm, lx);
        CHECK(strcmp(s, "ab") == 0, "lm %d: closed vocabulary \"%s\"", v, s);
        free(s);
        ctc_lexicon_destroy(lx);
        asr_lm_free(lm);
    }
#undef LP
#undef P
}

/* Results do not depend on how often partials are read, and consecutive utterances decode as
 * fresh ones shifted in time. */
static void test_streaming(void)
{
    const char *alpha = " abc";
    int L = 5;
    asr_lm *lm = toy_lm("stream.arpa", "\\data\\\nngram 1=6\nngram 2=2\n\n\\1-grams:\n-1 <s> -0.2\n"
                                       "-0.8 </s>\n-0.5 ab -0.1\n-0.6 ba -0.3\n-0.9 c -0.2\n-1.1 cab 0\n\n"
                                       "\\2-grams:\n-0.1 ab ba\n-0.2 <s> c\n\n\\end\\\n");
    if (!lm)
        return;
    ctc_lexicon *lx = ctc_lexicon_create(lm, alpha, L, NULL);
    ctc_beam_params p = ctc_beam_default_params();
    p.beam = 8;
    p.unk_penalty = -1; /* random letters are mostly unknown words */
    int T1 = 80, T2 = 70;
    float *f = random_frames(T1 + T2, L, 2.5);
    ctc_beam *whole = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
    ctc_beam *chunk = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
    ctc_beam *fresh = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
    asr_result a1, a2, c1, c2, fr2;
    for (int t = 0; t < T1; t++)
        ctc_beam_push(whole, f + (size_t)t * L);
    ctc_beam_final(whole, &a1);
    for (int t = T1; t < T1 + T2; t++)
        ctc_beam_push(whole, f + (size_t)t * L);
    ctc_beam_final(whole, &a2);
    for (int t = 0; t < T1; t++) {
        ctc_beam_push(chunk, f + (size_t)t * L);
        if (t % 3 == 0)
            (void)ctc_beam_partial(chunk);
    }
    ctc_beam_final(chunk, &c1);
    for (int t = T1; t < T1 + T2; t++) {
        ctc_beam_push(chunk, f + (size_t)t * L);
        (void)ctc_beam_partial(chunk);
    }
    ctc_beam_final(chunk, &c2);
    for (int t = T1; t < T1 + T2; t++)
        ctc_beam_push(fresh, f + (size_t)t * L);
    ctc_beam_final(fresh, &fr2);
    CHECK(strcmp(a1.text, c1.text) == 0 && strcmp(a2.text, c2.text) == 0,
          "partials change results: \"%s\"/\"%s\" vs \"%s\"/\"%s\"", a1.text, a2.text, c1.text, c2.text);
    CHECK(ctc_beam_frames(whole) == T1 + T2, "frames");
    int same = strcmp(a2.text, fr2.text) == 0 && a2.n_words == fr2.n_words;
    for (int i = 0; same && i < a2.n_words; i++)
        same = a2.words[i].start_ms == fr2.words[i].start_ms + T1 * 10.0 &&
               a2.words[i].end_ms == fr2.words[i].end_ms + T1 * 10.0 && a2.words[i].conf == fr2.words[i].conf;
    CHECK(same, "second utterance \"%s\" vs fresh \"%s\"", a2.text, fr2.text);
    CHECK(a1.n_words > 0 && a2.n_words > 0, "words were output");
    for (int i = 0; i < a1.n_words; i++)
        CHECK(a1.words[i].start_ms < a1.words[i].end_ms && a1.words[i].conf > 0 && a1.words[i].conf <= 1 &&
                  (i == 0 || a1.words[i].start_ms >= a1.words[i - 1].end_ms),
              "word %d times %.0f-%.0f conf %g", i, a1.words[i].start_ms, a1.words[i].end_ms,
              a1.words[i].conf);
    /* reset = fresh decoder */
    ctc_beam_reset(chunk);
    for (int t = T1; t < T1 + T2; t++)
        ctc_beam_push(chunk, f + (size_t)t * L);
    asr_result r2;
    ctc_beam_final(chunk, &r2);
    CHECK(strcmp(r2.text, fr2.text) == 0 && r2.n_words == fr2.n_words &&
              (r2.n_words == 0 || r2.words[0].start_ms == fr2.words[0].start_ms),
          "reset");
    /* A long stream stays sane (node recycling under ASan). */
    float *lf = random_frames(3000, L, 2.5);
    for (int t = 0; t < 3000; t++)
        ctc_beam_push(chunk, lf + (size_t)t * L);
    asr_result lr;
    CHECK(ctc_beam_final(chunk, &lr) == ASR_OK && lr.n_words > 50, "long stream: %d words: %s", lr.n_words,
          lr.text);
    asr_result_free(&lr);
    free(lf);
    asr_result_free(&a1);
    asr_result_free(&a2);
    asr_result_free(&c1);
    asr_result_free(&c2);
    asr_result_free(&fr2);
    asr_result_free(&r2);
    ctc_beam_destroy(whole);
    ctc_beam_destroy(chunk);
    ctc_beam_destroy(fresh);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
    free(f);
}

/* ---- the fast search == the plain one ---- */

/* A random ARPA model of the given order over nw random words spelt in alpha's letters (some
 * letters of alpha left out, so decoding meets unknown words), with <s>, </s> and optionally
 * <unk>; every listed n-gram's prefix is listed, as in real ARPA files. log10 p in [-3, -0.01]
 * and back-off weights in [-1, 0], so every score is <= 0 as the pruning bound assumes. */
static asr_lm *random_lm(const char *name, int order, int nw, int with_unk)
{
    const char *letters = "abcd"; /* alpha " abcde'": e and ' are never in a word */
    enum { MAXW = 40, MAXG = 3000 };
    char words[MAXW + 3][8];
    int n = 0;
    strcpy(words[n++], "<s>");
    strcpy(words[n++], "</s>");
    if (with_unk)
        strcpy(words[n++], "<unk>");
    while (n < nw + 2 + with_unk && n < MAXW + 3) {
        int len = 1 + (int)(urand() * 3);
        char w[8];
        for (int i = 0; i < len; i++)
            w[i] = letters[(int)(urand() * 4)];
        w[len] = '\0';
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= strcmp(words[i], w) == 0;
        if (!dup)
            strcpy(words[n++], w);
    }
    static int gw[MAXG][4], gn[MAXG];
    int ng = 0, count[5] = {0, n};
    for (int i = 0; i < n; i++) {
        gn[ng] = 1;
        gw[ng++][0] = i;
    }
    for (int k = 2; k <= order; k++) {
        int before = ng;
        for (int g = 0; g < before; g++) {
            if (gn[g] != k - 1 || gw[g][k - 2] == 1) /* nothing follows </s> */
                continue;
            for (int w = 1; w < n; w++) { /* never <s> */
                if (urand() > 0.15 || ng == MAXG)
                    continue;
                memcpy(gw[ng], gw[g], sizeof gw[g]);
                gw[ng][k - 1] = w;
                gn[ng++] = k;
                count[k]++;
            }
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "\\data\\\n");
    for (int k = 1; k <= order; k++)
        fprintf(f, "ngram %d=%d\n", k, count[k]);
    for (int k = 1; k <= order; k++) {
        fprintf(f, "\n\\%d-grams:\n", k);
        for (int g = 0; g < ng; g++) {
            if (gn[g] != k)
                continue;
            fprintf(f, "%.4f", gw[g][k - 1] == 0 ? -99 : -0.01 - 2.99 * urand());
            for (int j = 0; j < k; j++)
                fprintf(f, " %s", words[gw[g][j]]);
            if (k < order)
                fprintf(f, " %.4f", -urand());
            fputc('\n', f);
        }
    }
    fprintf(f, "\n\\end\\\n");
    fclose(f);
    asr_error err = {0};
    asr_lm *lm = asr_lm_load_arpa(path, &err);
    CHECK(lm != NULL, "random lm %s: %s", name, err.msg);
    return lm;
}

/* Identical results: text, word times, confidences. Returns 0 and says why if not. */
static int same_result(const asr_result *a, const asr_result *b)
{
    if (strcmp(a->text, b->text) != 0 || a->n_words != b->n_words) {
        fprintf(stderr, "fast \"%s\" plain \"%s\"\n", a->text, b->text);
        return 0;
    }
    for (int i = 0; i < a->n_words; i++)
        if (strcmp(a->words[i].word, b->words[i].word) != 0 || a->words[i].start_ms != b->words[i].start_ms ||
            a->words[i].end_ms != b->words[i].end_ms || a->words[i].conf != b->words[i].conf) {
            fprintf(stderr, "word %d: fast %s %.0f-%.0f %.9g plain %s %.0f-%.0f %.9g\n", i, a->words[i].word,
                    a->words[i].start_ms, a->words[i].end_ms, a->words[i].conf, b->words[i].word,
                    b->words[i].start_ms, b->words[i].end_ms, b->words[i].conf);
            return 0;
        }
    return 1;
}

/* Score pruning, top-k selection and the LM cache change nothing: random frames, random LMs
 * (orders 2-4, with and without <unk>, and no LM), open and closed vocabulary, random beams,
 * weights, bonuses, penalties, prunes, viterbi on and off, log-probabilities on a grid (ties,
 * which go to the lower candidate index); two utterances per decoder (the LM cache lives across
 * them), partials compared at every frame. */
static void test_fast_equals_plain(void)
{
    const char *alpha = " abcde'";
    int L = 8;
    asr_lm *lms[6];
    ctc_lexicon *lxs[6];
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "rand%d.arpa", i);
        lms[i] = random_lm(name, 2 + i % 3, 12 + 4 * i, i % 2);
        lxs[i] = lms[i] ? ctc_lexicon_create(lms[i], alpha, L, NULL) : NULL;
        if (!lxs[i]) {
            CHECK(0, "random lexicon %d", i);
            for (int j = 0; j <= i; j++) {
                ctc_lexicon_destroy(lxs[j]);
                asr_lm_free(lms[j]);
            }
            return;
        }
    }
    static const int beams[] = {1, 3, 8, 16, 32, 64};
    static const float bonuses[] = {-2, 0, 1, 3};
    static const float penalties[] = {-20, -6, -1, 0, 2};
    static const float weights[] = {0, 0.3f, 0.8f, 2, -0.5f};
    static const float deltas[] = {0, 4, 12};
    static const float prunes[] = {0, 1e-3f, 0.05f};
    static const float lookaheads[] = {0, 0.3f, 1, 2.5f};
    int runs = 0, bad_final = 0, bad_partial = 0, words = 0;
    for (int run = 0; run < 240; run++) {
        int li = run % 7; /* 6: no LM */
        ctc_beam_params p = ctc_beam_default_params();
        p.beam = beams[(int)(urand() * 6)];
        p.word_bonus = bonuses[(int)(urand() * 4)];
        p.unk_penalty = penalties[(int)(urand() * 5)];
        p.lm_weight = weights[(int)(urand() * 5)];
        p.beam_delta = deltas[(int)(urand() * 3)];
        p.char_prune = prunes[(int)(urand() * 3)];
        p.max_chars = urand() < 0.3 ? 2 : 8;
        p.lm_lookahead = lookaheads[(int)(urand() * 4)];
        p.closed_vocab = li < 6 && urand() < 0.3;
        p.use_eos = urand() < 0.8;
        p.viterbi = run % 2;
        const asr_lm *lm = li < 6 ? lms[li] : NULL;
        const ctc_lexicon *lx = li < 6 ? lxs[li] : NULL;
        ctc_beam *fast = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
        ctc_beam *plain = ctc_beam_create(alpha, L, 10.0, &p, lm, lx, NULL);
        ctc_beam_set_reference(plain, 1);
        for (int utt = 0; utt < 2; utt++) {
            int T = 1 + (int)(urand() * 90);
            float *f = random_frames(T, L, 1.0 + 3.0 * urand());
            if (run % 4 >= 2) /* log-probabilities on a coarse grid: many tied scores */
                for (int i = 0; i < T * L; i++)
                    f[i] = roundf(f[i] * 2) / 2;
            for (int t = 0; t < T; t++) {
                ctc_beam_push(fast, f + (size_t)t * L);
                ctc_beam_push(plain, f + (size_t)t * L);
                if (strcmp(ctc_beam_partial(fast), ctc_beam_partial(plain)) != 0)
                    bad_partial++;
            }
            asr_result a, b;
            ctc_beam_final(fast, &a);
            ctc_beam_final(plain, &b);
            runs++;
            words += b.n_words;
            if (!same_result(&a, &b) && bad_final++ < 3)
                fprintf(stderr,
                        "  run %d: lm %d beam %d bonus %g unk %g weight %g delta %g prune %g "
                        "chars %d closed %d eos %d viterbi %d lookahead %g\n",
                        run, li, p.beam, p.word_bonus, p.unk_penalty, p.lm_weight, p.beam_delta, p.char_prune,
                        p.max_chars, p.closed_vocab, p.use_eos, p.viterbi, p.lm_lookahead);
            asr_result_free(&a);
            asr_result_free(&b);
            free(f);
        }
        ctc_beam_destroy(fast);
        ctc_beam_destroy(plain);
    }
    CHECK(bad_final == 0, "fast search != plain search in %d of %d utterances", bad_final, runs);
    CHECK(bad_partial == 0, "fast search partials != plain in %d frames", bad_partial);
    CHECK(words > runs, "the utterances had words (%d in %d)", words, runs);
    for (int i = 0; i < 6; i++) {
        ctc_lexicon_destroy(lxs[i]);
        asr_lm_free(lms[i]);
    }
}

static void test_phrases(void)
{
    const char *alpha = " abcdefghijklmnopqrstuvwxyz'";
    int L = 29;
    const char *ph[] = {"Turn ON the light", "open the door"};
    asr_lm *lm = NULL;
    ctc_lexicon *lx = NULL;
    asr_error err = {0};
    CHECK(ctc_phrases_build(ph, 2, alpha, L, &lm, &lx, &err) == ASR_OK, "phrases: %s", err.msg);
    if (!lx)
        return;
    CHECK(ctc_lexicon_words(lx) == 6, "6 words, got %d", ctc_lexicon_words(lx));
    /* Spell "the doar" (a typo): closed vocabulary turns it into phrase words. */
    const char *spell = "the doar";
    int T = 0;
    float f[40 * 29];
    for (const char *c = spell; *c; c++) {
        double pr[29];
        int lab = (int)(strchr(alpha, *c) - alpha) + 1;
        for (int k = 0; k < L; k++)
            pr[k] = 0.01;
        pr[lab] = 0.6;
        if (*c == 'a')
            pr[(int)(strchr(alpha, 'o') - alpha) + 1] = 0.3;
        frame(f + T++ * L, L, pr);
        for (int k = 0; k < L; k++)
            pr[k] = k == 0 ? 0.9 : 0.004;
        frame(f + T++ * L, L, pr);
    }
    ctc_beam_params p = ctc_beam_default_params();
    p.closed_vocab = 1;
    char *s = decode(f, T, L, alpha, &p, lm, lx);
    CHECK(strcmp(s, "the door") == 0, "phrase decode \"%s\"", s);
    free(s);
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
}

static void test_args(void)
{
    asr_error err = {0};
    ctc_beam_params p = ctc_beam_default_params();
    p.beam = 0;
    CHECK(ctc_beam_create(" ab", 4, 10, &p, NULL, NULL, &err) == NULL && err.code == ASR_ERR_ARG,
          "beam 0 refused");
    p = ctc_beam_default_params();
    CHECK(ctc_beam_create(" ab", 5, 10, &p, NULL, NULL, &err) == NULL, "alphabet mismatch refused");
    asr_decoder d;
    CHECK(asr_decoder_init(&d, ASR_DECODER_GREEDY, " ab", 4, 10, &p, NULL, NULL, &err) == ASR_OK && d.greedy,
          "decoder greedy");
    asr_decoder_free(&d);
    CHECK(asr_decoder_init(&d, ASR_DECODER_BEAM, " ab", 4, 10, &p, NULL, NULL, &err) == ASR_OK && d.beam,
          "decoder beam");
    asr_decoder_free(&d);
}

/* Appends to out, depth first in label order, "depth label word|" for every node below x: the
 * trie's shape and words whatever its node numbering. */
static void lex_shape(const ctc_lexicon *lx, const asr_lm *lm, int x, int depth, char *out, size_t cap)
{
    const lex_node *n = &lx->nodes[x];
    for (int i = 0; i < n->n; i++) {
        const lex_edge *e = &lx->edges[n->first + i];
        CHECK(i == 0 || lx->edges[n->first + i - 1].label < e->label, "edges of node %d sorted by label", x);
        uint32_t w = lx->nodes[e->child].word;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%d %d %s %g|", depth, e->label,
                 w == ASR_LM_NONE ? "" : asr_lm_word(lm, w), e->la);
        lex_shape(lx, lm, e->child, depth + 1, out, cap);
    }
}

/* Checks every edge's lookahead below node x (reached by prefix) against the words' own
 * unigrams: the best log10 p of a spelt word starting with the child's prefix, minus the best of
 * all spelt words. Returns the number of edges that differ. */
static int lex_check_la(const ctc_lexicon *lx, const char *alpha, int x, char *prefix, int len,
                        const char **words, const float *logp, int nw)
{
    int bad = 0;
    float top = -INFINITY;
    for (int i = 0; i < nw; i++)
        if (strspn(words[i], alpha) == strlen(words[i]) && !strchr(words[i], ' ') && logp[i] > top)
            top = logp[i];
    const lex_node *n = &lx->nodes[x];
    for (int i = 0; i < n->n; i++) {
        const lex_edge *e = &lx->edges[n->first + i];
        prefix[len] = alpha[e->label - 1];
        prefix[len + 1] = '\0';
        float want = -INFINITY;
        for (int k = 0; k < nw; k++)
            if (strspn(words[k], alpha) == strlen(words[k]) && !strncmp(words[k], prefix, (size_t)len + 1) &&
                logp[k] > want)
                want = logp[k];
        if (e->la != want - top) {
            fprintf(stderr, "  lookahead of \"%s\": %g, want %g\n", prefix, e->la, want - top);
            bad++;
        }
        bad += lex_check_la(lx, alpha, e->child, prefix, len + 1, words, logp, nw);
    }
    return bad;
}

static void test_lexicon_sorted_equals_unsorted(void)
{
    /* Byte order != label order: "'" sorts before the letters but is the last label; "x1" and
     * "b-b" are not spelt in the alphabet. */
    const char *alpha = " abcdefghijklmnopqrstuvwxyz'";
    int L = 29;
    const char *words[] = {"a",  "ab",   "abc", "abd",    "b",  "b-b", "ba",
                           "it", "it's", "its", "itself", "x1", "zz"};
    const int nw = (int)(sizeof words / sizeof *words), order[] = {12, 3, 0, 9, 5, 1, 7, 11, 2, 10, 4, 8, 6};
    char sorted[1024], shuffled[1024];
    /* Unigrams all different, the likeliest (-0.4) not spelt: "x1" */
    const float logp[] = {-2.5f, -1.25f, -3, -0.75f, -2, -1.5f, -2.75f, -1, -3.5f, -1.75f, -2.25f, -0.4f, -4};
    int ns = snprintf(sorted, sizeof sorted, "\\data\\\nngram 1=%d\n\n\\1-grams:\n-1 <s>\n-1 </s>\n", nw + 2);
    int nu = snprintf(shuffled, sizeof shuffled, "%s", sorted);
    for (int i = 0; i < nw; i++) {
        ns += snprintf(sorted + ns, sizeof sorted - (size_t)ns, "%g %s\n", logp[i], words[i]);
        nu +=
            snprintf(shuffled + nu, sizeof shuffled - (size_t)nu, "%g %s\n", logp[order[i]], words[order[i]]);
    }
    snprintf(sorted + ns, sizeof sorted - (size_t)ns, "\n\\end\\\n");
    snprintf(shuffled + nu, sizeof shuffled - (size_t)nu, "\n\\end\\\n");
    asr_lm *la = toy_lm("sorted.arpa", sorted), *lb = toy_lm("shuffled.arpa", shuffled);
    ctc_lexicon *xa = la ? ctc_lexicon_create(la, alpha, L, NULL) : NULL;
    ctc_lexicon *xb = lb ? ctc_lexicon_create(lb, alpha, L, NULL) : NULL;
    CHECK(xa && xb, "both lexicons built");
    if (xa && xb) {
        char sa[4096] = "", sb[4096] = "";
        lex_shape(xa, la, 0, 0, sa, sizeof sa);
        lex_shape(xb, lb, 0, 0, sb, sizeof sb);
        CHECK(strcmp(sa, sb) == 0, "same trie sorted and unsorted:\n  %s\n  %s", sa, sb);
        CHECK(strstr(sa, "2 28  ") && strstr(sa, "3 20 it's "),
              "it's spelt with the apostrophe's label (28): %s", sa);
        CHECK(xa->n_nodes == xb->n_nodes && xa->n_words == 11 && xb->n_words == 11,
              "nodes %d / %d, words %d / %d (11 spelt)", xa->n_nodes, xb->n_nodes, xa->n_words, xb->n_words);
        /* Sorted input numbers nodes in creation order: every child after its parent, depth first. */
        int ok = 1;
        for (int i = 0; i < xa->n_nodes; i++)
            for (int j = 0; j < xa->nodes[i].n; j++)
                ok &= xa->edges[xa->nodes[i].first + j].child > i;
        CHECK(ok, "children numbered after their parents");
        char prefix[64];
        CHECK(lex_check_la(xa, alpha, 0, prefix, 0, words, logp, nw) == 0, "lookahead of every edge, sorted");
        CHECK(lex_check_la(xb, alpha, 0, prefix, 0, words, logp, nw) == 0,
              "lookahead of every edge, unsorted");
    }
    ctc_lexicon_destroy(xa);
    ctc_lexicon_destroy(xb);
    asr_lm_free(la);
    asr_lm_free(lb);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_greedy_equivalence();
    test_brute_force();
    test_backoff_decision();
    test_closed_vocab();
    test_lookahead_decision();
    test_unk_penalty_timing();
    test_streaming();
    test_fast_equals_plain();
    test_phrases();
    test_lexicon_sorted_equals_unsorted();
    test_args();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
