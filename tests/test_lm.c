/* test_lm.c - ARPA parsing (errors with file:line), back-off scores against hand computation and
 * against a naive reference over random models, binary round trip, corrupt binaries refused (at load
 * or by asr_lm_verify), empty models refused. */
#include "../model/lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static char dir[] = "/tmp/test_lm_XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[4][512];
    static int slot;
    char *p = path[slot++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *TOY = "some header text tools write\n"
                         "\\data\\\n"
                         "ngram 1=5\n"
                         "ngram 2=3\n"
                         "ngram 3=1\n"
                         "\n"
                         "\\1-grams:\n"
                         "-1.0\t<s>\t-0.5\n"
                         "-0.5\t</s>\n"
                         "-0.7\ta\t-0.3\n"
                         "-0.9 b -0.2\n"
                         "-1.2 c\n"
                         "\n"
                         "\\2-grams:\n"
                         "-0.2 <s> a -0.1\n"
                         "-0.4 a b -0.25\n"
                         "-0.6 b c\n"
                         "\n"
                         "\\3-grams:\n"
                         "-0.05 <s> a b\n"
                         "\n"
                         "\\end\\\n";

static uint32_t id(const asr_lm *lm, const char *w)
{
    return asr_lm_word_id(lm, w, strlen(w));
}

static float score3(const asr_lm *lm, const char *h1, const char *h2, const char *w)
{
    uint32_t ctx[2];
    int n = 0;
    if (h1)
        ctx[n++] = id(lm, h1);
    if (h2)
        ctx[n++] = id(lm, h2);
    return asr_lm_score(lm, ctx, n, id(lm, w));
}

static void check_toy(const asr_lm *lm, const char *what)
{
    CHECK(lm != NULL, "%s: toy model", what);
    if (!lm)
        return;
    CHECK(asr_lm_order(lm) == 3 && asr_lm_vocab_size(lm) == 5, "%s: order/vocab", what);
    CHECK(asr_lm_count(lm, 2) == 3 && asr_lm_count(lm, 3) == 1, "%s: counts", what);
    CHECK(asr_lm_bos(lm) == id(lm, "<s>") && asr_lm_eos(lm) == id(lm, "</s>") &&
              asr_lm_unk(lm) == ASR_LM_NONE,
          "%s: special ids", what);
    CHECK(id(lm, "d") == ASR_LM_NONE && id(lm, "") == ASR_LM_NONE, "%s: absent words", what);
    CHECK(strcmp(asr_lm_word(lm, id(lm, "b")), "b") == 0, "%s: word of id", what);
    const float eps = 1e-6f;
    /* Listed trigram. */
    CHECK(fabsf(score3(lm, "<s>", "a", "b") - -0.05f) < eps, "%s: trigram", what);
    /* <s> a c: bow(<s> a) + bow(a) + p(c) = -0.1 - 0.3 - 1.2. */
    CHECK(fabsf(score3(lm, "<s>", "a", "c") - -1.6f) < eps, "%s: two back-offs %g", what,
          score3(lm, "<s>", "a", "c"));
    /* a b c: bow(a b) + p(b c) = -0.25 - 0.6. */
    CHECK(fabsf(score3(lm, "a", "b", "c") - -0.85f) < eps, "%s: bigram after back-off", what);
    /* b c a: "b c" listed without bow (0), "c a" absent, bow(c) absent (0): p(a). */
    CHECK(fabsf(score3(lm, "b", "c", "a") - -0.7f) < eps, "%s: zero back-offs", what);
    /* c b a: "c b" not listed (bow 0), "b a" absent: bow(b) + p(a) = -0.2 - 0.7. */
    CHECK(fabsf(score3(lm, "c", "b", "a") - -0.9f) < eps, "%s: unlisted context", what);
    /* Unigram and bigram contexts. */
    CHECK(fabsf(score3(lm, NULL, NULL, "c") - -1.2f) < eps, "%s: unigram", what);
    CHECK(fabsf(score3(lm, NULL, "a", "b") - -0.4f) < eps, "%s: bigram", what);
    CHECK(fabsf(score3(lm, NULL, "a", "a") - (-0.3f - 0.7f)) < eps, "%s: bigram back-off", what);
    /* A longer context than the order uses only the last two words. */
    uint32_t ctx[3] = {id(lm, "c"), id(lm, "<s>"), id(lm, "a")};
    CHECK(fabsf(asr_lm_score(lm, ctx, 3, id(lm, "b")) - -0.05f) < eps, "%s: long context", what);
    float lp, bw;
    uint32_t ab[2] = {id(lm, "a"), id(lm, "b")};
    CHECK(asr_lm_lookup(lm, ab, 2, &lp, &bw) == 1 && lp == -0.4f && bw == -0.25f, "%s: lookup", what);
    uint32_t ba[2] = {id(lm, "b"), id(lm, "a")};
    CHECK(asr_lm_lookup(lm, ba, 2, &lp, &bw) == 0, "%s: lookup absent", what);
}

/* Each broken file must be refused with "PATH:LINE:" and a message containing `needle`. */
static void check_error(const char *text, int line, const char *needle)
{
    const char *p = write_file("bad.arpa", text);
    asr_error err = {0};
    asr_lm *lm = asr_lm_load_arpa(p, &err);
    char want[600];
    snprintf(want, sizeof want, "%s:%d: ", p, line);
    CHECK(lm == NULL && err.code == ASR_ERR_FORMAT, "refused: %s", needle);
    CHECK(strncmp(err.msg, want, strlen(want)) == 0 && strstr(err.msg, needle),
          "message \"%s\" wants prefix \"%s\" and \"%s\"", err.msg, want, needle);
    asr_lm_free(lm);
}

static void test_errors(void)
{
    const char *head = "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n"; /* lines 1-5 */
    char buf[1024];
#define BAD(body, line, needle)                                                                              \
    do {                                                                                                     \
        snprintf(buf, sizeof buf, "%s%s", head, body);                                                       \
        check_error(buf, line, needle);                                                                      \
    } while (0)
    BAD("-0.5 a -0.1\n-0.x b\n\\2-grams:\n-0.1 a b\n\\end\\\n", 7, "bad log probability");
    BAD("-0.5 a -0.1\n-0.5 b nan\n\\2-grams:\n-0.1 a b\n\\end\\\n", 7, "bad back-off");
    BAD("-0.5 a -0.1\n0.5 b\n\\2-grams:\n-0.1 a b\n\\end\\\n", 7, "> 0");
    BAD("-0.5 a -0.1\n-0.5 b\n\\2-grams:\n-0.1 a z\n\\end\\\n", 9, "\"z\" is not a unigram");
    BAD("-0.5 a -0.1\n-0.5 b\n\\2-grams:\n-0.1 a b -0.3\n\\end\\\n", 9, "back-off weight");
    BAD("-0.5 a -0.1\n-0.5 b\n\\2-grams:\n-0.1 a\n\\end\\\n", 9, "2-gram has 1 words");
    BAD("-0.5 a -0.1\n\\2-grams:\n-0.1 a b\n\\end\\\n", 7, "declared 2");
    BAD("-0.5 a -0.1\n-0.5 b\n-0.5 c\n\\2-grams:\n-0.1 a b\n\\end\\\n", 8, "more 1-grams");
    BAD("-0.5 a -0.1\n-0.5 a\n\\2-grams:\n-0.1 a a\n\\end\\\n", 7, "duplicate unigram");
    BAD("-0.5 a -0.1\n-0.5 b\n\\3-grams:\n-0.1 a b\n\\end\\\n", 8, "out of order");
    BAD("-0.5 a -0.1\n-0.5 b\n\\2-grams:\n-0.1 a b\n", 9, "ends before \\end\\");
    BAD("-0.5 a -0.1\n-0.5 b\n\\end\\\n", 8, "before the \\2-grams");
    BAD("-0.5 a -0.1\n-0.5 b\n\\2-grams:\n\\foo\n", 9, "unknown section");
#undef BAD
    check_error("\\data\\\nngram 1=1\nngram 3=1\n", 3, "ngram 3= out of order");
    check_error("\\data\\\nngram 1=1\nngram 2=1\nngram 3=1\nngram 4=1\nngram 5=1\n", 6,
                "order 5 not supported");
    check_error("\\data\\\nngram 1=x\n", 2, "ngram N=COUNT");
    check_error("just text\n", 1, "no \\data\\");
    /* A \data\ section without n-grams (issue 12): was accepted as a model of no words, through a
     * memcpy from NULL (UBSan) and an image its own loader refused as "inconsistent header". */
    check_error("\\data\\\n\\end\\\n", 2, "no n-grams");
    check_error("\\data\\\n\n\\end\\\n\n", 3, "no n-grams");
    {
        /* An empty file: said so, naming the file (was "PATH:1: no \data\ line"). */
        const char *p = write_file("empty.arpa", "");
        asr_error e = {0};
        asr_lm *lm = asr_lm_open(p, &e);
        CHECK(lm == NULL && e.code == ASR_ERR_FORMAT && strstr(e.msg, p) && strstr(e.msg, "empty file"),
              "empty file: %s", e.msg);
        asr_lm_free(lm);
    }
    /* A duplicate bigram is reported at its second occurrence. */
    check_error("\\data\\\nngram 1=2\nngram 2=2\n\\1-grams:\n-1 a 0\n-1 b\n\\2-grams:\n-0.1 a b\n"
                "-0.2 a b\n\\end\\\n",
                9, "duplicate 2-gram");
    asr_error err = {0};
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.arpa", dir);
    CHECK(asr_lm_load_arpa(missing, &err) == NULL && err.code == ASR_ERR_IO &&
              strstr(err.msg, "missing.arpa"),
          "missing file: %s", err.msg);
}

/* ---- random models vs a naive reference ---- */

#define RV 12   /* vocabulary */
#define RMAXN 4 /* order */

typedef struct ref_gram {
    int n;
    uint32_t w[RMAXN];
    float logp, bow;
} ref_gram;

static ref_gram grams[4000];
static int n_grams;

static const ref_gram *ref_find(const uint32_t *w, int n)
{
    for (int i = 0; i < n_grams; i++)
        if (grams[i].n == n && memcmp(grams[i].w, w, (size_t)n * sizeof *w) == 0)
            return &grams[i];
    return NULL;
}

/* ARPA back-off, recursively and naively. */
static double ref_score(const uint32_t *ctx, int n, uint32_t w)
{
    uint32_t t[RMAXN];
    memcpy(t, ctx, (size_t)n * sizeof *t);
    t[n] = w;
    const ref_gram *g = ref_find(t, n + 1);
    if (g)
        return g->logp;
    const ref_gram *c = ref_find(ctx, n);
    return (c ? c->bow : 0) + ref_score(ctx + 1, n - 1, w);
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f;
}

static void test_random(int order, unsigned seed)
{
    n_grams = 0;
    for (uint32_t i = 0; i < RV; i++)
        grams[n_grams++] = (ref_gram){1, {i}, -3 * frand(&seed) - 0.01f, order > 1 ? -frand(&seed) : 0};
    int count[RMAXN + 1] = {0, RV};
    for (int k = 2; k <= order; k++) {
        /* Every extension of a listed (k-1)-gram by a random word, with some probability: ARPA
         * files list the prefixes of every n-gram, which keeps back-off contexts meaningful. */
        int before = n_grams;
        for (int i = 0; i < before; i++) {
            if (grams[i].n != k - 1)
                continue;
            for (uint32_t w = 0; w < RV; w++) {
                if (frand(&seed) > 0.3f || n_grams >= 4000)
                    continue;
                ref_gram g = grams[i];
                g.n = k;
                g.w[k - 1] = w;
                g.logp = -2 * frand(&seed) - 0.01f;
                g.bow = k < order ? -frand(&seed) : 0;
                grams[n_grams++] = g;
                count[k]++;
            }
        }
    }
    char name[64];
    snprintf(name, sizeof name, "%s/rand%d.arpa", dir, order);
    FILE *f = fopen(name, "w");
    fprintf(f, "\\data\\\n");
    for (int k = 1; k <= order; k++)
        fprintf(f, "ngram %d=%d\n", k, count[k]);
    for (int k = 1; k <= order; k++) {
        fprintf(f, "\n\\%d-grams:\n", k);
        for (int i = 0; i < n_grams; i++) {
            if (grams[i].n != k)
                continue;
            fprintf(f, "%.9g", grams[i].logp);
            for (int j = 0; j < k; j++)
                fprintf(f, " w%u", grams[i].w[j]);
            if (k < order)
                fprintf(f, " %.9g", grams[i].bow);
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n\\end\\\n");
    fclose(f);
    asr_error err = {0};
    asr_lm *lm = asr_lm_load_arpa(name, &err);
    CHECK(lm != NULL, "random order %d: %s", order, err.msg);
    if (!lm)
        return;
    /* Word ids follow the unigram order, so w<i> has id i. */
    CHECK(asr_lm_word_id(lm, "w7", 2) == 7, "ids in unigram order");
    int bad = 0, tried = 0;
    for (int q = 0; q < 3000; q++) {
        uint32_t ctx[RMAXN];
        int n = (int)(frand(&seed) * (float)order); /* 0 .. order-1 */
        /* Half the queries follow a listed n-gram's prefix so the long paths are exercised. */
        const ref_gram *g = &grams[(int)(frand(&seed) * (float)n_grams)];
        for (int j = 0; j < n; j++)
            ctx[j] = (frand(&seed) < 0.5f && j < g->n) ? g->w[j] : (uint32_t)(frand(&seed) * RV);
        uint32_t w = (uint32_t)(frand(&seed) * RV);
        double want = ref_score(ctx, n, w);
        float got = asr_lm_score(lm, ctx, n, w);
        tried++;
        if (fabs(got - want) > 1e-5)
            bad++;
    }
    CHECK(bad == 0, "random order %d: %d of %d scores differ from the naive reference", order, bad, tried);
    asr_lm_free(lm);
}

static int read_all(const char *path, unsigned char **buf, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)*len);
    size_t n = fread(*buf, 1, (size_t)*len, f);
    fclose(f);
    return n == (size_t)*len ? 0 : -1;
}

static void write_all(const char *path, const unsigned char *buf, long len)
{
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, (size_t)len, f);
    fclose(f);
}

static void test_binary(void)
{
    asr_error err = {0};
    const char *arpa = write_file("toy.arpa", TOY);
    asr_lm *a = asr_lm_load_arpa(arpa, &err);
    check_toy(a, "arpa");
    char bin[600], bin2[600], bad[600];
    snprintf(bin, sizeof bin, "%s/toy.lmbin", dir);
    snprintf(bin2, sizeof bin2, "%s/toy2.lmbin", dir);
    snprintf(bad, sizeof bad, "%s/bad.lmbin", dir);
    CHECK(a && asr_lm_save(a, bin, &err) == ASR_OK, "save: %s", err.msg);
    asr_lm *b = asr_lm_load(bin, &err);
    check_toy(b, "mapped");
    asr_lm *c = asr_lm_open(bin, &err);
    check_toy(c, "open binary");
    asr_lm *d = asr_lm_open(arpa, &err);
    check_toy(d, "open arpa");
    /* Saving a mapped model reproduces the file byte for byte. */
    CHECK(b && asr_lm_save(b, bin2, &err) == ASR_OK, "save mapped");
    unsigned char *x = NULL, *y = NULL;
    long nx = 0, ny = 0;
    CHECK(read_all(bin, &x, &nx) == 0 && read_all(bin2, &y, &ny) == 0 && nx == ny &&
              memcmp(x, y, (size_t)nx) == 0,
          "round trip is byte-identical");
    CHECK(b && asr_lm_verify(b, &err) == ASR_OK, "verify intact: %s", err.msg);
    CHECK(a && asr_lm_verify(a, &err) == ASR_OK, "verify built in memory");
    /* Header corruptions: refused at load with a message naming the file. */
    struct {
        long off;
        const char *needle;
        asr_status code;
    } flips[] = {
        {0, "bad magic", ASR_ERR_FORMAT},
        {20, "header checksum", ASR_ERR_CHECKSUM},
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(y, x, (size_t)nx);
        y[flips[i].off] ^= 0x10;
        write_all(bad, y, nx);
        asr_lm *lm = asr_lm_load(bad, &err);
        CHECK(lm == NULL && err.code == flips[i].code && strstr(err.msg, flips[i].needle) &&
                  strstr(err.msg, "bad.lmbin"),
              "flip at %ld: %s", flips[i].off, err.msg);
        asr_lm_free(lm);
    }
    /* Every single-byte corruption of the payload: refused at load (vocabulary structure), or
     * loaded (load no longer reads the n-gram tables) and then reported by asr_lm_verify, naming
     * the file; a loaded one answers every query without reading outside the file (ASan build). */
    int refused = 0, verified = 0;
    for (long off = 200; off < nx; off++) {
        memcpy(y, x, (size_t)nx);
        y[off] ^= 0x5a;
        write_all(bad, y, nx);
        asr_lm *lm = asr_lm_load(bad, &err);
        if (!lm) {
            refused++;
            CHECK(strstr(err.msg, "bad.lmbin") != NULL, "payload flip at %ld refused: %s", off, err.msg);
            continue;
        }
        asr_error verr = {0};
        CHECK(asr_lm_verify(lm, &verr) == ASR_ERR_CHECKSUM && strstr(verr.msg, "bad.lmbin") &&
                  strstr(verr.msg, "checksum mismatch"),
              "payload flip at %ld: verify says \"%s\"", off, verr.msg);
        verified++;
        uint32_t n = asr_lm_vocab_size(lm);
        float sum = 0;
        for (uint32_t u = 0; u < n; u++)
            for (uint32_t v = 0; v < n; v++)
                for (uint32_t w = 0; w < n; w++) {
                    uint32_t ctx[2] = {u, v};
                    sum += asr_lm_score(lm, ctx, 2, w);
                }
        for (uint32_t u = 0; u < n; u++)
            sum += (float)strlen(asr_lm_word(lm, u));
        (void)sum;
        asr_lm_free(lm);
    }
    CHECK(refused > 0 && verified > 0, "payload flips: %d refused at load, %d by verify", refused, verified);
    long cuts[] = {0, 7, 100, nx - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_all(bad, x, cuts[i]);
        asr_lm *lm = asr_lm_load(bad, &err);
        CHECK(lm == NULL && err.code == ASR_ERR_FORMAT && strstr(err.msg, "bad.lmbin"),
              "truncated to %ld: %s", cuts[i], err.msg);
        asr_lm_free(lm);
    }
    /* A version from the future. */
    memcpy(y, x, (size_t)nx);
    y[8] = 9;
    write_all(bad, y, nx);
    asr_lm *v = asr_lm_load(bad, &err);
    CHECK(v == NULL && err.code == ASR_ERR_VERSION, "version: %s", err.msg);
    free(x);
    free(y);
    asr_lm_free(a);
    asr_lm_free(b);
    asr_lm_free(c);
    asr_lm_free(d);
}

static void test_words(void)
{
    asr_error err = {0};
    const char *ph[] = {"turn on the light", "turn off  the light", "yes"};
    asr_lm *lm = asr_lm_from_words(ph, 3, &err);
    CHECK(lm != NULL, "from words: %s", err.msg);
    if (!lm)
        return;
    /* turn on the light off yes + </s> = 7 equally likely, + <s>. */
    CHECK(asr_lm_vocab_size(lm) == 8 && asr_lm_order(lm) == 1, "vocab %u", asr_lm_vocab_size(lm));
    uint32_t ctx[1] = {asr_lm_bos(lm)};
    float want = (float)-log10(7.0);
    CHECK(fabsf(asr_lm_score(lm, ctx, 1, id(lm, "light")) - want) < 1e-6f, "uniform word");
    CHECK(fabsf(asr_lm_score(lm, NULL, 0, asr_lm_eos(lm)) - want) < 1e-6f, "uniform </s>");
    CHECK(id(lm, "lights") == ASR_LM_NONE, "closed");
    asr_lm_free(lm);
    const char *none[] = {"  "};
    CHECK(asr_lm_from_words(none, 1, &err) == NULL && err.code == ASR_ERR_ARG, "no words refused");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_binary();
    test_errors();
    for (int order = 1; order <= 4; order++)
        test_random(order, 1234u + (unsigned)order);
    test_words();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
