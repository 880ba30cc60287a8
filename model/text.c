/* text.c - transcript normalisation (English, to the model alphabet) and WER/CER.
 *
 * Normalisation runs in two passes:
 *   1. fold_ascii: UTF-8 -> ASCII. Latin letters with diacritics lose them (é -> e, ß -> ss,
 *      æ -> ae, œ -> oe), typographic quotes and dashes become ' " -, the pound and euro signs
 *      become private marker bytes, anything else outside ASCII (and invalid UTF-8) becomes a space.
 *   2. a scanner over the ASCII text that emits lowercase words into the output:
 *      - abbreviations (case-insensitive, at a word start): Mr. Mrs. Dr. St. Jr. etc. e.g. i.e. vs.
 *        ... (table below); "St."/"Dr." read "saint"/"doctor" before a capitalised word, otherwise
 *        "street"/"drive";
 *      - numbers: cardinals (1,234 -> one thousand two hundred thirty four; no "and"), decimals
 *        (3.14 -> three point one four), ordinals (21st -> twenty first), years (four digits in
 *        1100-1999 or 2010-2099: 1984 -> nineteen eighty four, 1905 -> nineteen oh five,
 *        1900 -> nineteen hundred; 2000-2009 are read as cardinals), decades (1980s -> nineteen
 *        eighties), times (10:30 -> ten thirty, 10:00 -> ten o'clock), leading zeros and numbers
 *        of more than 15 digits digit by digit, a minus sign before a number -> minus;
 *      - currency before a number: $5 -> five dollars, $1 -> one dollar, $5.50 -> five dollars
 *        fifty cents, $3 million -> three million dollars (likewise pounds, euros);
 *      - % -> percent, & -> and, @ -> at;
 *      - apostrophes are kept between letters (don't, o'clock) and dropped at word edges
 *        ('tis -> tis, dogs' -> dogs); hyphens and every other character separate words.
 *   Words are joined by single spaces, without leading or trailing space.
 */
#include "text.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------- growing string ---------- */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->s, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->s = q;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_putc(sbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

/* Appends one or more space-separated words, with a single space before them if needed. */
static void sb_word(sbuf *b, const char *w)
{
    if (!*w)
        return;
    if (b->len > 0 && b->s[b->len - 1] != ' ')
        sb_putc(b, ' ');
    sb_putn(b, w, strlen(w));
}

/* ---------- pass 1: UTF-8 -> ASCII ---------- */
#define MARK_POUND '\x01'
#define MARK_EURO '\x02'

/* U+00C0..U+00FF; '#' entries are handled separately, ' ' removes. */
static const char latin1[] = "AAAAAA#CEEEEIIIIDNOOOOO OUUUUY##aaaaaa#ceeeeiiiidnooooo ouuuuy#y";
_Static_assert(sizeof latin1 == 0x40 + 1, "one entry per code point U+00C0..U+00FF");
/* U+0100..U+017F; '#' entries (IJ ij OE oe) are handled separately. */
static const char latin_ext_a[] = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi##JjKkkLlLlLlLlLl"
                                  "NnNnNnnNnOoOoOo##RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
_Static_assert(sizeof latin_ext_a == 0x80 + 1, "one entry per code point U+0100..U+017F");

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and the code point in *cp
 * (0xFFFD for invalid input, consuming one byte). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* Code points that fold to something other than one letter of the tables above: two letters,
 * an apostrophe, a hyphen or a currency marker. */
static const struct {
    uint32_t cp;
    char to[3];
} folds[] = {
    /* clang-format off */
    {0xC6, "AE"}, {0xDE, "TH"}, {0xDF, "ss"}, {0xE6, "ae"}, {0xFE, "th"},       /* Latin-1 */
    {0x132, "IJ"}, {0x133, "ij"}, {0x152, "OE"}, {0x153, "oe"},                 /* Latin Extended-A */
    {0x2018, "'"}, {0x2019, "'"}, {0x02BC, "'"}, {0x2032, "'"},                 /* quotes, prime */
    {0x2010, "-"}, {0x2011, "-"}, {0x2012, "-"}, {0x2013, "-"}, {0x2014, "-"}, {0x2212, "-"},
    {0xA3, {MARK_POUND}}, {0x20AC, {MARK_EURO}},
    /* clang-format on */
};

static void fold_ascii(const char *text, sbuf *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_next(s + i, n - i, &cp);
        if (cp < 0x80) {
            sb_putc(out, (cp == MARK_POUND || cp == MARK_EURO || cp == 0) ? ' ' : (char)cp);
            continue;
        }
        size_t k = 0;
        while (k < sizeof folds / sizeof folds[0] && folds[k].cp != cp)
            k++;
        if (k < sizeof folds / sizeof folds[0])
            sb_putn(out, folds[k].to, strlen(folds[k].to));
        else if (cp >= 0xC0 && cp <= 0xFF)
            sb_putc(out, latin1[cp - 0xC0]);
        else if (cp >= 0x100 && cp <= 0x17F)
            sb_putc(out, latin_ext_a[cp - 0x100]);
        else
            sb_putc(out, ' ');
    }
}

/* ---------- numbers ---------- */
static const char *ones[] = {"zero",     "one",     "two",     "three",     "four",     "five",    "six",
                             "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
                             "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *tens[] = {"",      "",      "twenty",  "thirty", "forty",
                             "fifty", "sixty", "seventy", "eighty", "ninety"};

/* 1..999 */
static void say_hundreds(sbuf *b, int v)
{
    if (v >= 100) {
        sb_word(b, ones[v / 100]);
        sb_word(b, "hundred");
        v %= 100;
    }
    if (v >= 20) {
        sb_word(b, tens[v / 10]);
        if (v % 10)
            sb_word(b, ones[v % 10]);
    } else if (v > 0) {
        sb_word(b, ones[v]);
    }
}

/* 0 .. 999,999,999,999,999 */
static void say_cardinal(sbuf *b, long long v)
{
    static const char *scales[] = {"", "thousand", "million", "billion", "trillion"};
    if (v == 0) {
        sb_word(b, "zero");
        return;
    }
    int groups[5], ng = 0;
    while (v > 0 && ng < 5) {
        groups[ng++] = (int)(v % 1000);
        v /= 1000;
    }
    for (int g = ng - 1; g >= 0; g--) {
        if (groups[g] == 0)
            continue;
        say_hundreds(b, groups[g]);
        if (g > 0)
            sb_word(b, scales[g]);
    }
}

static void say_digits(sbuf *b, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isdigit((unsigned char)d[i]))
            sb_word(b, ones[d[i] - '0']);
}

static int is_year(long long v)
{
    return (v >= 1100 && v <= 1999) || (v >= 2010 && v <= 2099);
}

static void say_year(sbuf *b, int v)
{
    int hi = v / 100, lo = v % 100;
    say_hundreds(b, hi);
    if (lo == 0) {
        sb_word(b, "hundred");
    } else if (lo < 10) {
        sb_word(b, "oh");
        sb_word(b, ones[lo]);
    } else {
        say_hundreds(b, lo);
    }
}

/* Index of the last word in b (after its last space). */
static size_t last_word(const sbuf *b)
{
    size_t i = b->len;
    while (i > 0 && b->s[i - 1] != ' ')
        i--;
    return i;
}

static void ordinalize(sbuf *b)
{
    static const char *irregular[][2] = {{"one", "first"},     {"two", "second"},   {"three", "third"},
                                         {"five", "fifth"},    {"eight", "eighth"}, {"nine", "ninth"},
                                         {"twelve", "twelfth"}};
    if (b->oom || b->len == 0)
        return;
    size_t w = last_word(b);
    for (size_t k = 0; k < sizeof irregular / sizeof irregular[0]; k++) {
        if (strcmp(b->s + w, irregular[k][0]) == 0) {
            b->len = w;
            b->s[w] = '\0';
            sb_putn(b, irregular[k][1], strlen(irregular[k][1]));
            return;
        }
    }
    if (b->s[b->len - 1] == 'y') {
        b->len--;
        sb_putn(b, "ieth", 4);
    } else {
        sb_putn(b, "th", 2);
    }
}

static void pluralize(sbuf *b)
{
    if (b->oom || b->len == 0)
        return;
    char last = b->s[b->len - 1];
    if (last == 'y') {
        b->len--;
        sb_putn(b, "ies", 3);
    } else if (last == 'x') {
        sb_putn(b, "es", 2);
    } else {
        sb_putc(b, 's');
    }
}

static int ieq_prefix(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (tolower((unsigned char)*s) != *p)
            return 0;
    return 1;
}

/* Reads a number starting at s[i] (a digit, or '.' before a digit) and speaks it. `currency` is
 * the unit word ("dollar", "pound", "euro") when a currency sign preceded it, else NULL.
 * Returns the index after everything consumed. */
static size_t say_number(sbuf *b, const char *s, size_t i, const char *currency)
{
    char digits[64];
    size_t nd = 0, j = i;
    int commas = 0, overflow = 0;
    /* integer part, with optional thousands separators (",ddd" not followed by a digit) */
    while (isdigit((unsigned char)s[j]) ||
           (s[j] == ',' && nd > 0 && isdigit((unsigned char)s[j + 1]) && isdigit((unsigned char)s[j + 2]) &&
            isdigit((unsigned char)s[j + 3]) && !isdigit((unsigned char)s[j + 4]))) {
        if (s[j] == ',') {
            commas = 1;
        } else if (nd < sizeof digits - 1) {
            digits[nd++] = s[j];
        } else {
            overflow = 1;
        }
        j++;
    }
    digits[nd] = '\0';
    /* fractional part */
    const char *frac = NULL;
    size_t nf = 0;
    if (s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
        frac = s + j + 1;
        while (isdigit((unsigned char)frac[nf]))
            nf++;
        j += 1 + nf;
    }
    int spelled = overflow || nd > 15 || (nd > 1 && digits[0] == '0' && !commas);
    long long v = spelled || nd == 0 ? 0 : atoll(digits);

    /* time h:mm */
    if (!currency && !frac && !commas && nd >= 1 && nd <= 2 && v <= 24 && s[j] == ':' &&
        isdigit((unsigned char)s[j + 1]) && isdigit((unsigned char)s[j + 2]) &&
        !isdigit((unsigned char)s[j + 3])) {
        int mm = (s[j + 1] - '0') * 10 + (s[j + 2] - '0');
        say_cardinal(b, v);
        if (mm == 0) {
            sb_word(b, "o'clock");
        } else if (mm < 10) {
            sb_word(b, "oh");
            sb_word(b, ones[mm]);
        } else {
            say_hundreds(b, mm);
        }
        return j + 3;
    }

    /* suffixes directly after the digits */
    int ordinal = 0, plural = 0;
    if (!frac && nd > 0 && !isalpha((unsigned char)s[j + 2]) &&
        (ieq_prefix(s + j, "st") || ieq_prefix(s + j, "nd") || ieq_prefix(s + j, "rd") ||
         ieq_prefix(s + j, "th"))) {
        ordinal = 1;
        j += 2;
    } else if (!frac && nd > 0 && (s[j] == 's' || s[j] == 'S') && !isalpha((unsigned char)s[j + 1])) {
        plural = 1;
        j += 1;
    } else if (!frac && nd > 0 && s[j] == '\'' && (s[j + 1] == 's' || s[j + 1] == 'S') &&
               !isalpha((unsigned char)s[j + 2])) {
        plural = 1;
        j += 2;
    }

    if (currency) {
        /* "$3 million": the scale word comes before the unit */
        const char *scale = NULL;
        size_t k = j;
        while (s[k] == ' ')
            k++;
        static const char *scales[] = {"thousand", "million", "billion", "trillion"};
        for (size_t q = 0; q < 4; q++) {
            size_t L = strlen(scales[q]);
            if (k > j && ieq_prefix(s + k, scales[q]) && !isalpha((unsigned char)s[k + L])) {
                scale = scales[q];
                j = k + L;
            }
        }
        int cents = frac && nf == 2 && !scale && !spelled;
        if (cents) { /* $5.50 -> five dollars fifty cents; $0.50 -> fifty cents */
            int c = (frac[0] - '0') * 10 + (frac[1] - '0');
            if (v > 0 || c == 0) {
                say_cardinal(b, v);
                sb_word(b, currency);
                if (v != 1)
                    sb_putc(b, 's');
            }
            if (c > 0) {
                say_cardinal(b, c);
                sb_word(b, c == 1 ? "cent" : "cents");
            }
            return j;
        }
        if (spelled)
            say_digits(b, digits, nd);
        else if (nd > 0)
            say_cardinal(b, v);
        else
            sb_word(b, "zero");
        if (frac) {
            sb_word(b, "point");
            say_digits(b, frac, nf);
        }
        if (scale)
            sb_word(b, scale);
        sb_word(b, currency);
        if (scale || frac || spelled || v != 1)
            sb_putc(b, 's');
        return j;
    }

    if (spelled) {
        say_digits(b, digits, nd);
    } else if (nd > 0) {
        if (!commas && !frac && !ordinal && nd == 4 && is_year(v))
            say_year(b, (int)v);
        else
            say_cardinal(b, v);
    }
    if (frac) {
        sb_word(b, "point");
        say_digits(b, frac, nf);
    }
    if (ordinal)
        ordinalize(b);
    if (plural)
        pluralize(b);
    return j;
}

/* ---------- abbreviations ---------- */
typedef struct abbrev {
    const char *from; /* lowercase, as written */
    const char *to;
    const char *alt; /* reading when the next word is not capitalised, or NULL */
} abbrev;

static const abbrev abbrevs[] = {
    {"mrs.", "missus", NULL},      {"mr.", "mister", NULL},     {"ms.", "miz", NULL},
    {"dr.", "doctor", "drive"},    {"st.", "saint", "street"},  {"jr.", "junior", NULL},
    {"sr.", "senior", NULL},       {"mt.", "mount", NULL},      {"prof.", "professor", NULL},
    {"capt.", "captain", NULL},    {"gen.", "general", NULL},   {"col.", "colonel", NULL},
    {"lt.", "lieutenant", NULL},   {"sgt.", "sergeant", NULL},  {"gov.", "governor", NULL},
    {"rev.", "reverend", NULL},    {"etc.", "et cetera", NULL}, {"vs.", "versus", NULL},
    {"e.g.", "for example", NULL}, {"i.e.", "that is", NULL},   {"approx.", "approximately", NULL},
    {"dept.", "department", NULL}, {"ave.", "avenue", NULL},    {"mrs", "missus", NULL},
    {"mr", "mister", NULL},
};

/* Tries the abbreviation table at s[i] (a word start); returns the index after the match or i. */
static size_t try_abbrev(sbuf *b, const char *s, size_t i)
{
    for (size_t k = 0; k < sizeof abbrevs / sizeof abbrevs[0]; k++) {
        const abbrev *a = &abbrevs[k];
        size_t L = strlen(a->from);
        if (!ieq_prefix(s + i, a->from))
            continue;
        if (isalnum((unsigned char)s[i + L]) ||
            (a->from[L - 1] != '.' && (s[i + L] == '.' || s[i + L] == '\'')))
            continue;
        const char *say = a->to;
        if (a->alt) {
            size_t k2 = i + L;
            while (s[k2] == ' ')
                k2++;
            if (!isupper((unsigned char)s[k2]))
                say = a->alt;
        }
        sb_word(b, say);
        return i + L;
    }
    return i;
}

/* ---------- pass 2 ---------- */
char *asr_text_normalize(const char *text)
{
    sbuf a = {0}, b = {0};
    char *ret = NULL;
    fold_ascii(text ? text : "", &a);
    sb_putn(&a, "\0\0\0\0", 4); /* lookahead padding: the scanner peeks a few bytes ahead */
    sb_putn(&b, "", 0);
    if (a.oom || b.oom)
        goto fail;
    const char *s = a.s;
    size_t n = a.len - 4, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int word_start = i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '\'');
        if (isalpha(c)) {
            if (word_start) {
                size_t j = try_abbrev(&b, s, i);
                if (j != i) {
                    i = j;
                    continue;
                }
            }
            /* a run of letters and apostrophes; apostrophes survive only between letters */
            size_t j = i;
            if (b.len > 0 && b.s[b.len - 1] != ' ')
                sb_putc(&b, ' ');
            while (isalpha((unsigned char)s[j]) || s[j] == '\'') {
                if (isalpha((unsigned char)s[j]))
                    sb_putc(&b, (char)tolower((unsigned char)s[j]));
                else if (j > i && isalpha((unsigned char)s[j - 1]) && isalpha((unsigned char)s[j + 1]))
                    sb_putc(&b, '\'');
                j++;
            }
            i = j;
        } else if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[i + 1]) && word_start)) {
            i = say_number(&b, s, i, NULL);
        } else if ((c == '$' || c == MARK_POUND || c == MARK_EURO) &&
                   (isdigit((unsigned char)s[i + 1]) ||
                    (s[i + 1] == '.' && isdigit((unsigned char)s[i + 2])))) {
            i = say_number(&b, s, i + 1, c == '$' ? "dollar" : c == MARK_POUND ? "pound" : "euro");
        } else if (c == '-' && isdigit((unsigned char)s[i + 1]) && word_start) {
            sb_word(&b, "minus");
            i++;
        } else {
            if (c == '%')
                sb_word(&b, "percent");
            else if (c == '&')
                sb_word(&b, "and");
            else if (c == '@')
                sb_word(&b, "at");
            else if (b.len > 0 && b.s[b.len - 1] != ' ')
                sb_putc(&b, ' ');
            i++;
        }
        if (b.oom)
            goto fail;
    }
    /* drop a trailing separator */
    while (b.len > 0 && b.s[b.len - 1] == ' ')
        b.s[--b.len] = '\0';
    if (b.oom)
        goto fail;
    ret = b.s;
    b.s = NULL;
fail:
    free(a.s);
    free(b.s);
    return ret;
}

/* ---------- edit distance ---------- */
typedef struct tok {
    const char *p;
    size_t n;
} tok;

/* Splits s into whitespace-separated words (*out malloc'd); returns the count or -1. */
static long split_words(const char *s, tok **out)
{
    long n = 0, cap = 16;
    tok *t = malloc((size_t)cap * sizeof *t);
    if (!t)
        return -1;
    while (*s) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *w = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (n == cap) {
            cap *= 2;
            tok *q = realloc(t, (size_t)cap * sizeof *q);
            if (!q) {
                free(t);
                return -1;
            }
            t = q;
        }
        t[n].p = w;
        t[n].n = (size_t)(s - w);
        n++;
    }
    *out = t;
    return n;
}

/* Levenshtein distance between token sequences a (na) and b (nb) with one row of min(na, nb) + 1
 * cells. */
static long levenshtein(const tok *a, long na, const tok *b, long nb)
{
    if (na < nb) { /* keep the row over the shorter sequence */
        const tok *t = a;
        a = b;
        b = t;
        long tn = na;
        na = nb;
        nb = tn;
    }
    long *row = malloc((size_t)(nb + 1) * sizeof *row);
    if (!row)
        return -1;
    for (long j = 0; j <= nb; j++)
        row[j] = j;
    for (long i = 1; i <= na; i++) {
        long diag = row[0];
        row[0] = i;
        for (long j = 1; j <= nb; j++) {
            long up = row[j];
            int same = a[i - 1].n == b[j - 1].n && memcmp(a[i - 1].p, b[j - 1].p, a[i - 1].n) == 0;
            long best = diag + (same ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    long d = row[nb];
    free(row);
    return d;
}

/* Characters of the words of s, single spaces between words: one token per character. */
static long split_chars(const char *s, tok **out)
{
    tok *w = NULL;
    long nw = split_words(s, &w);
    if (nw < 0)
        return -1;
    long n = 0;
    for (long i = 0; i < nw; i++)
        n += (long)w[i].n + (i > 0);
    tok *t = malloc((size_t)(n > 0 ? n : 1) * sizeof *t);
    if (!t) {
        free(w);
        return -1;
    }
    long k = 0;
    for (long i = 0; i < nw; i++) {
        if (i > 0)
            t[k++] = (tok){" ", 1};
        for (size_t j = 0; j < w[i].n; j++)
            t[k++] = (tok){w[i].p + j, 1};
    }
    free(w);
    *out = t;
    return n;
}

/* Edits between the token sequences split from ref and hyp, and ref's length. */
static asr_errors error_rate(const char *ref, const char *hyp, long (*split)(const char *, tok **))
{
    asr_errors e = {-1, 0};
    tok *r = NULL, *h = NULL;
    long nr = split(ref ? ref : "", &r);
    long nh = nr < 0 ? -1 : split(hyp ? hyp : "", &h);
    if (nr < 0 || nh < 0)
        goto fail;
    e.ref_len = nr;
    e.edits = levenshtein(r, nr, h, nh);
fail:
    free(r);
    free(h);
    return e;
}

asr_errors asr_wer(const char *ref, const char *hyp)
{
    return error_rate(ref, hyp, split_words);
}

asr_errors asr_cer(const char *ref, const char *hyp)
{
    return error_rate(ref, hyp, split_chars);
}
