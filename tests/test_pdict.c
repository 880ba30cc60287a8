/* test_pdict.c - the pronouncing dictionary of the trainer's phone CTC head (model/train/pdict.c):
 * phone targets of words and texts against the CMU dictionary file of pocketsphinx-en-us read
 * independently here (first pronunciation, stress digits dropped), out-of-dictionary words, and on
 * small dictionaries written by the test: alternates ignored, exact headwords winning over ones
 * that only normalise to them, multi-word headwords skipped, errors naming the file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/train/pdict.h"
#include "test_util.h"

static const char *cmudict = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

/* The first pronunciation of `word` in the file at path, stress digits removed, phones joined by
 * single spaces, into out; 0 if the word has no entry. Plain line scanning, no hashing. */
static int file_pron(const char *path, const char *word, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t wl = strlen(word);
    int found = 0;
    out[0] = 0;
    while (f && !found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, word, wl) != 0 || (line[wl] != ' ' && line[wl] != '\t'))
            continue;
        found = 1;
        size_t o = 0;
        for (const char *p = line + wl; *p && *p != '\n' && o + 1 < n; p++) {
            if (*p >= '0' && *p <= '9')
                continue;
            if (*p == ' ' || *p == '\t') {
                if (o > 0 && out[o - 1] != ' ')
                    out[o++] = ' ';
                continue;
            }
            out[o++] = *p;
        }
        while (o > 0 && out[o - 1] == ' ')
            o--;
        out[o] = 0;
    }
    if (f)
        fclose(f);
    return found;
}

/* pdict's phones of text as names joined by spaces into out; returns the label count (-1: OOV). */
static int dict_pron(const pdict *d, const char *text, char *out, size_t n)
{
    int lab[256];
    int k = pdict_text_labels(d, text, lab, 256);
    out[0] = 0;
    for (int i = 0; i < k && i < 256; i++) {
        const char *name = pdict_phone_name(lab[i]);
        size_t o = strlen(out);
        snprintf(out + o, n - o, "%s%s", i ? " " : "", name ? name : "?");
    }
    return k;
}

static void cmudict_checks(void)
{
    asr_error err = {ASR_OK, ""};
    if (access(cmudict, R_OK) != 0) {
        printf("SKIP cmudict checks: %s not installed (package pocketsphinx-en-us)\n", cmudict);
        return;
    }
    pdict *d = pdict_load(cmudict, &err);
    CHECK(d != NULL, "load %s: %s", cmudict, d ? "" : err.msg);
    if (!d)
        return;
    CHECK(pdict_words(d) > 100000, "%d words", pdict_words(d));
    /* "a", "read" and "live" have alternates: the first pronunciation counts. */
    const char *words[] = {"hello", "world", "speech", "recognition", "don't",
                           "zero",  "a",     "read",   "live",        "the"};
    char want[512], got[512], text[512] = "";
    char all[2048] = "";
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        int in_file = file_pron(cmudict, words[i], want, sizeof(want));
        int k = dict_pron(d, words[i], got, sizeof(got));
        CHECK(in_file && k > 0 && strcmp(want, got) == 0, "'%s': '%s' vs the file's '%s'", words[i], got,
              want);
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? " " : "", words[i]);
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", i ? " " : "", want);
    }
    int k = dict_pron(d, text, got, sizeof(got));
    CHECK(k > 0 && strcmp(all, got) == 0, "text '%s': '%s' vs the words' concatenation '%s'", text, got, all);
    int lab[4];
    CHECK(pdict_text_labels(d, "hello qwzxvj world", lab, 4) == -1, "a text with an OOV word has no phones");
    CHECK(pdict_text_labels(d, "qwzxvj", lab, 4) == -1, "an OOV word has no phones");
    CHECK(pdict_text_labels(d, "", lab, 4) == 0, "the empty text has 0 phones");
    CHECK(pdict_text_labels(d, "recognition", lab, 2) > 2, "the count is returned even past cap");
    pdict_free(d);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void small_dict_checks(void)
{
    char dir[64], path[128], got[256];
    asr_error err = {ASR_OK, ""};
    snprintf(dir, sizeof(dir), "/tmp/test_pdict.%d", (int)getpid());
    snprintf(path, sizeof(path), "mkdir -p %s", dir);
    if (system(path) != 0)
        return;
    snprintf(path, sizeof(path), "%s/a.dict", dir);
    write_file(path, ";;; a comment\n"
                     "a. EY\n"
                     "a AH0\n"
                     "a(2) EY1\n"
                     "able-bodied EY B AH L B AA D IY D\n"
                     "cat\tK AE1 T\n"
                     "cat(2) K AA T\n"
                     "\n"
                     "zh ZH\n");
    pdict *d = pdict_load(path, &err);
    CHECK(d != NULL, "load %s: %s", path, d ? "" : err.msg);
    if (d) {
        CHECK(pdict_words(d) == 3, "3 words (a, cat, zh), got %d", pdict_words(d));
        CHECK(dict_pron(d, "a", got, sizeof(got)) == 1 && !strcmp(got, "AH"),
              "'a' is the exact headword's first pronunciation, not 'a.' nor 'a(2)': %s", got);
        CHECK(dict_pron(d, "cat a zh", got, sizeof(got)) == 5 && !strcmp(got, "K AE T AH ZH"),
              "tab separator, alternates ignored, concatenation: %s", got);
        CHECK(dict_pron(d, "able", got, sizeof(got)) == -1 && dict_pron(d, "bodied", got, sizeof(got)) == -1,
              "a headword that normalises to two words is skipped");
        pdict_free(d);
    }
    snprintf(path, sizeof(path), "%s/b.dict", dir);
    write_file(path, "cat K AE T\ndog D XX G\n");
    d = pdict_load(path, &err);
    char where[160];
    snprintf(where, sizeof(where), "%s:2:", path);
    CHECK(!d && strstr(err.msg, where) && strstr(err.msg, "XX"),
          "unknown phone names file:line and the phone: %s", err.msg);
    pdict_free(d);
    snprintf(path, sizeof(path), "%s/missing.dict", dir);
    d = pdict_load(path, &err);
    CHECK(!d && err.code == ASR_ERR_IO && strstr(err.msg, path), "a missing file is an error naming it: %s",
          err.msg);
    pdict_free(d);
    CHECK(pdict_phone_name(0) == NULL && pdict_phone_name(PDICT_N_CLASSES) == NULL &&
              !strcmp(pdict_phone_name(1), "AA") && !strcmp(pdict_phone_name(PDICT_N_CLASSES - 1), "ZH"),
          "labels 1..39 are AA..ZH, 0 (blank) has no name");
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    cmudict_checks();
    small_dict_checks();
    return TEST_SUMMARY();
}
