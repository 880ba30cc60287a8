/* test_text.c - transcript normalisation cases (expected readings written by hand) and WER/CER
 * against hand-counted edit distances and an independent full-matrix Levenshtein. */
#include <stdlib.h>
#include <string.h>

#include "../model/text.h"
#include "test_util.h"

static void norm_is(const char *in, const char *want)
{
    char *got = asr_text_normalize(in);
    CHECK(got && strcmp(got, want) == 0, "normalize(\"%s\") = \"%s\", want \"%s\"", in, got ? got : "(null)",
          want);
    free(got);
}

static void test_normalize(void)
{
    /* case, punctuation, spaces */
    norm_is("Gregson shoved back his chair and rose to his feet.",
            "gregson shoved back his chair and rose to his feet");
    norm_is("  Hello,   World!!  ", "hello world");
    norm_is("", "");
    norm_is("?!.,;:", "");
    norm_is("semi;colon(paren)[bracket]\"quote\"", "semi colon paren bracket quote");
    norm_is("tab\tand\nnewline", "tab and newline");
    /* apostrophes */
    norm_is("It's the aurora borealis.", "it's the aurora borealis");
    norm_is("'Tis the dogs' bones, rock 'n' roll", "tis the dogs bones rock n roll");
    norm_is("don\xE2\x80\x99t", "don't"); /* typographic apostrophe */
    norm_is("''quoted''", "quoted");
    /* hyphens */
    norm_is("well-known twenty-one", "well known twenty one");
    norm_is("a\xE2\x80\x94"
            "dash",
            "a dash"); /* em dash */
    /* diacritics */
    norm_is("Caf\xC3\xA9 na\xC3\xAFve Stra\xC3\x9F"
            "e \xC3\x86sop \xC5\x92uvre \xC5\x81\xC3\xB3"
            "d\xC5\xBA",
            "cafe naive strasse aesop oeuvre lodz");
    norm_is("\xC3\x85ngstr\xC3\xB6m se\xC3\xB1or", "angstrom senor");
    norm_is("emoji \xF0\x9F\x98\x80 here", "emoji here");
    norm_is("bad \xFF\xFE bytes\xC3", "bad bytes");
    /* numbers */
    norm_is("0", "zero");
    norm_is("7 11 19 20 42 99", "seven eleven nineteen twenty forty two ninety nine");
    norm_is("100 101 110 999", "one hundred one hundred one one hundred ten nine hundred ninety nine");
    norm_is("1000 1,000,000 1,234", "one thousand one million one thousand two hundred thirty four");
    norm_is("2005 1000000000", "two thousand five one billion");
    norm_is("3.14", "three point one four");
    norm_is("0.5 and .5", "zero point five and point five");
    norm_is("007", "zero zero seven");
    norm_is("1,2,3", "one two three");
    norm_is("in 1990, 300 people", "in nineteen ninety three hundred people");
    norm_is("-4 degrees", "minus four degrees");
    norm_is("pages 10-15", "pages ten fifteen");
    norm_is("mp3 4x4", "mp three four x four");
    /* years and decades */
    norm_is("1984", "nineteen eighty four");
    norm_is("1900 1905 1066", "nineteen hundred nineteen oh five one thousand sixty six");
    norm_is("2024", "twenty twenty four");
    norm_is("the 1980s and 1990's", "the nineteen eighties and nineteen nineties");
    /* ordinals */
    norm_is("1st 2nd 3rd 4th", "first second third fourth");
    norm_is("11th 12th 20th 21st 100th", "eleventh twelfth twentieth twenty first one hundredth");
    norm_is("the 5TH of May", "the fifth of may");
    /* times */
    norm_is("at 10:30 or 9:05 or 12:00", "at ten thirty or nine oh five or twelve o'clock");
    /* currency and percent */
    norm_is("$5", "five dollars");
    norm_is("$1", "one dollar");
    norm_is("$5.50", "five dollars fifty cents");
    norm_is("$0.50 $1.01", "fifty cents one dollar one cent");
    norm_is("$3 million", "three million dollars");
    norm_is("$1.5", "one point five dollars");
    norm_is("\xC2\xA3"
            "20 \xE2\x82\xAC"
            "1",
            "twenty pounds one euro");
    norm_is("50% 5 %", "fifty percent five percent");
    norm_is("Smith & Sons", "smith and sons");
    /* abbreviations */
    norm_is("Mr. Smith and Mrs. Jones met Dr. Who", "mister smith and missus jones met doctor who");
    norm_is("Mr Smith", "mister smith");
    norm_is("St. Louis is on Main St. today", "saint louis is on main street today");
    norm_is("apples, pears, etc.", "apples pears et cetera");
    norm_is("fruit, e.g. apples, i.e. food", "fruit for example apples that is food");
    norm_is("Ali vs. Frazier", "ali versus frazier");
    norm_is("U.S.A.", "u s a");
    /* abbreviations only match whole words */
    norm_is("Amr. first", "amr first");
    norm_is("mrsmith", "mrsmith");
    /* idempotent on normalised text */
    const char *samples[] = {"Mr. Smith paid $5.50 on the 3rd of May, 1984 (at 10:30).",
                             "It's 50% off -- e.g. caf\xC3\xA9s & bars!"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char *a = asr_text_normalize(samples[i]);
        char *b = a ? asr_text_normalize(a) : NULL;
        CHECK(a && b && strcmp(a, b) == 0, "not idempotent: \"%s\" -> \"%s\"", a ? a : "", b ? b : "");
        /* only the model alphabet */
        int ok = 1;
        for (const char *p = a; p && *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || *p == '\'' || *p == ' '))
                ok = 0;
        CHECK(ok, "character outside the alphabet in \"%s\"", a);
        free(a);
        free(b);
    }
}

/* Full-matrix Levenshtein over single characters (reference). */
static long ref_lev(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    long *D = malloc((n + 1) * (m + 1) * sizeof *D);
    for (size_t i = 0; i <= n; i++)
        D[i * (m + 1)] = (long)i;
    for (size_t j = 0; j <= m; j++)
        D[j] = (long)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            long sub = D[(i - 1) * (m + 1) + j - 1] + (a[i - 1] != b[j - 1]);
            long del = D[(i - 1) * (m + 1) + j] + 1;
            long ins = D[i * (m + 1) + j - 1] + 1;
            long v = sub < del ? sub : del;
            D[i * (m + 1) + j] = v < ins ? v : ins;
        }
    long r = D[n * (m + 1) + m];
    free(D);
    return r;
}

static void test_error_rates(void)
{
    asr_errors e;
    e = asr_wer("the cat sat on the mat", "the cat sat on the mat");
    CHECK(e.edits == 0 && e.ref_len == 6, "identical: %ld/%ld", e.edits, e.ref_len);
    /* one substitution (sat->sit), one deletion (the), one insertion (down) */
    e = asr_wer("the cat sat on the mat", "the cat sit down on mat");
    CHECK(e.edits == 3 && e.ref_len == 6, "3 edits: %ld/%ld", e.edits, e.ref_len);
    e = asr_wer("a b c", "");
    CHECK(e.edits == 3 && e.ref_len == 3, "all deleted: %ld/%ld", e.edits, e.ref_len);
    e = asr_wer("", "x y");
    CHECK(e.edits == 2 && e.ref_len == 0, "all inserted: %ld/%ld", e.edits, e.ref_len);
    e = asr_wer("  a   b ", "a b");
    CHECK(e.edits == 0 && e.ref_len == 2, "whitespace runs: %ld/%ld", e.edits, e.ref_len);
    /* words are compared whole: "ab" vs "abc" is one substitution */
    e = asr_wer("ab cd", "abc cd");
    CHECK(e.edits == 1, "word substitution: %ld", e.edits);
    /* kitten -> sitting: 3 character edits */
    e = asr_cer("kitten", "sitting");
    CHECK(e.edits == 3 && e.ref_len == 6, "kitten/sitting: %ld/%ld", e.edits, e.ref_len);
    /* spaces count: "ab cd" vs "abcd" is one deletion over 5 characters */
    e = asr_cer("ab cd", "abcd");
    CHECK(e.edits == 1 && e.ref_len == 5, "space deletion: %ld/%ld", e.edits, e.ref_len);
    e = asr_cer(" ab   cd ", "ab cd");
    CHECK(e.edits == 0 && e.ref_len == 5, "collapsed spaces: %ld/%ld", e.edits, e.ref_len);
    e = asr_cer("", "");
    CHECK(e.edits == 0 && e.ref_len == 0, "empty");

    /* random strings over a tiny alphabet vs the full-matrix reference (both argument orders, so
     * the row is taken over either string) */
    srand(7);
    int bad = 0;
    for (int t = 0; t < 500; t++) {
        char a[64], b[64];
        int na = rand() % 40, nb = rand() % 40;
        for (int i = 0; i < na; i++)
            a[i] = "abc"[rand() % 3];
        for (int i = 0; i < nb; i++)
            b[i] = "abc"[rand() % 3];
        a[na] = b[nb] = '\0';
        asr_errors x = asr_cer(a, b), y = asr_cer(b, a);
        long r = ref_lev(a, b);
        if (x.edits != r || y.edits != r || x.ref_len != na || y.ref_len != nb)
            bad++;
        /* the same strings as words ("a b c ...") */
        char wa[128] = "", wb[128] = "";
        for (int i = 0; i < na; i++)
            snprintf(wa + strlen(wa), sizeof wa - strlen(wa), "%s%c", i ? " " : "", a[i]);
        for (int i = 0; i < nb; i++)
            snprintf(wb + strlen(wb), sizeof wb - strlen(wb), "%s%c", i ? " " : "", b[i]);
        asr_errors w = asr_wer(wa, wb);
        if (w.edits != r || w.ref_len != na)
            bad++;
    }
    CHECK(bad == 0, "%d random cases differ from the reference Levenshtein", bad);
}

int main(void)
{
    test_normalize();
    test_error_rates();
    return TEST_SUMMARY();
}
