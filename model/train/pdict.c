/* pdict.c - CMU-format pronouncing dictionary: load into a hash table, look texts up (pdict.h). */
#include "pdict.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../text.h"

/* The 39 ARPAbet phones of the CMU dictionary, sorted (bsearch); label = 1 + index. */
static const char *const phones[PDICT_N_CLASSES - 1] = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D", "DH", "EH", "ER", "EY",
    "F",  "G",  "HH", "IH", "IY", "JH", "K",  "L",  "M", "N",  "NG", "OW", "OY",
    "P",  "R",  "S",  "SH", "T",  "TH", "UH", "UW", "V", "W",  "Y",  "Z",  "ZH"};

typedef struct pentry {
    size_t word; /* offset of the normalised headword in d->text */
    size_t ph;   /* offset of its labels in d->ph */
    int n_ph;
    int exact; /* the headword was already normalised */
} pentry;

struct pdict {
    char *text; /* headwords, NUL-terminated, back to back */
    size_t text_len, text_cap;
    unsigned char *ph; /* labels 1..39 */
    size_t ph_len, ph_cap;
    pentry *e;
    int n, cap;
    int *slot; /* (n_slots) entry index + 1, 0: empty; open addressing, linear probing */
    size_t n_slots;
};

const char *pdict_phone_name(int label)
{
    return label >= 1 && label < PDICT_N_CLASSES ? phones[label - 1] : NULL;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* Label of an ARPAbet phone with an optional stress digit ("AH0"), 0 if unknown. */
static int phone_label(const char *tok, size_t len)
{
    char buf[4];
    if (len > 0 && tok[len - 1] >= '0' && tok[len - 1] <= '9')
        len--;
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, tok, len);
    buf[len] = 0;
    const char *const *p = bsearch(buf, phones, PDICT_N_CLASSES - 1, sizeof(phones[0]), cmp_name);
    return p ? 1 + (int)(p - phones) : 0;
}

/* Slot of word (n bytes) in the table: its entry's slot, or the empty slot where it would go. */
static size_t find_slot(const pdict *d, const char *word, size_t n)
{
    size_t i = (size_t)asr_fnv1a(ASR_FNV1A_INIT, word, n) & (d->n_slots - 1);
    while (d->slot[i]) {
        const char *w = d->text + d->e[d->slot[i] - 1].word;
        if (strncmp(w, word, n) == 0 && w[n] == 0)
            break;
        i = (i + 1) & (d->n_slots - 1);
    }
    return i;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *t = realloc(*p, c * elem);
    if (!t)
        return -1;
    *p = t;
    *cap = c;
    return 0;
}

/* Rebuilds the slot table with room for twice the entries. */
static int rehash(pdict *d)
{
    size_t ns = 1024;
    while (ns < (size_t)d->n * 2 + 2)
        ns *= 2;
    int *s = calloc(ns, sizeof(int));
    if (!s)
        return -1;
    free(d->slot);
    d->slot = s;
    d->n_slots = ns;
    for (int k = 0; k < d->n; k++) {
        const char *w = d->text + d->e[k].word;
        d->slot[find_slot(d, w, strlen(w))] = k + 1;
    }
    return 0;
}

/* Adds (or, exact over normalised, replaces) the entry of normalised word w. */
static int add_entry(pdict *d, const char *w, int exact, const unsigned char *lab, int n_lab)
{
    if ((size_t)d->n * 2 + 2 > d->n_slots && rehash(d) != 0)
        return -1;
    size_t wl = strlen(w), i = find_slot(d, w, wl);
    pentry *old = d->slot[i] ? &d->e[d->slot[i] - 1] : NULL;
    if (old && (old->exact || !exact))
        return 0; /* the first pronunciation of a word, exact headwords first */
    if (grow((void **)&d->ph, &d->ph_cap, d->ph_len + (size_t)n_lab, 1) != 0)
        return -1;
    memcpy(d->ph + d->ph_len, lab, (size_t)n_lab);
    if (old) {
        old->ph = d->ph_len;
        old->n_ph = n_lab;
        old->exact = 1;
        d->ph_len += (size_t)n_lab;
        return 0;
    }
    size_t cap = (size_t)d->cap;
    if (grow((void **)&d->e, &cap, (size_t)d->n + 1, sizeof(pentry)) != 0 ||
        grow((void **)&d->text, &d->text_cap, d->text_len + wl + 1, 1) != 0)
        return -1;
    d->cap = (int)cap;
    memcpy(d->text + d->text_len, w, wl + 1);
    d->e[d->n] = (pentry){d->text_len, d->ph_len, n_lab, exact};
    d->text_len += wl + 1;
    d->ph_len += (size_t)n_lab;
    d->slot[i] = ++d->n;
    return 0;
}

/* An alternate pronunciation's headword: "word(N)". */
static int is_alternate(const char *w, size_t n)
{
    if (n < 3 || w[n - 1] != ')')
        return 0;
    size_t i = n - 2;
    while (i > 0 && w[i] >= '0' && w[i] <= '9')
        i--;
    return i < n - 2 && w[i] == '(';
}

pdict *pdict_load(const char *path, asr_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        asr_error_set(err, ASR_ERR_IO, "pronouncing dictionary %s: %s", path, strerror(errno));
        return NULL;
    }
    pdict *d = calloc(1, sizeof(*d));
    char *line = NULL, *norm = NULL;
    size_t lcap = 0;
    long lineno = 0;
    unsigned char lab[256];
    if (!d || rehash(d) != 0)
        goto nomem;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        const char *sep = " \t\r\n";
        char *save = NULL, *word = strtok_r(line, sep, &save);
        if (!word || strncmp(word, ";;;", 3) == 0)
            continue;
        if (is_alternate(word, strlen(word)))
            continue;
        int n_lab = 0;
        for (char *tok = strtok_r(NULL, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
            int l = phone_label(tok, strlen(tok));
            if (!l || n_lab == (int)sizeof(lab)) {
                asr_error_set(err, ASR_ERR_FORMAT, "%s:%ld: %s '%s' in the entry of '%s'", path, lineno,
                              l ? "too many phones at" : "unknown phone", tok, word);
                goto fail;
            }
            lab[n_lab++] = (unsigned char)l;
        }
        if (n_lab == 0) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s:%ld: entry '%s' has no phones", path, lineno, word);
            goto fail;
        }
        norm = asr_text_normalize(word);
        if (!norm)
            goto nomem;
        if (norm[0] && !strchr(norm, ' ') && add_entry(d, norm, strcmp(norm, word) == 0, lab, n_lab) != 0)
            goto nomem;
        free(norm);
        norm = NULL;
    }
    if (ferror(f)) {
        asr_error_set(err, ASR_ERR_IO, "pronouncing dictionary %s: read error", path);
        goto fail;
    }
    if (d->n == 0) {
        asr_error_set(err, ASR_ERR_FORMAT, "pronouncing dictionary %s: no entries", path);
        goto fail;
    }
    free(line);
    fclose(f);
    return d;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "pronouncing dictionary %s: out of memory", path);
fail:
    free(norm);
    free(line);
    fclose(f);
    pdict_free(d);
    return NULL;
}

void pdict_free(pdict *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->ph);
    free(d->e);
    free(d->slot);
    free(d);
}

int pdict_words(const pdict *d)
{
    return d->n;
}

int pdict_text_labels(const pdict *d, const char *text, int *labels, int cap)
{
    int n = 0;
    for (const char *p = text; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t wl = strcspn(p, " ");
        size_t i = find_slot(d, p, wl);
        if (!d->slot[i])
            return -1;
        const pentry *e = &d->e[d->slot[i] - 1];
        for (int k = 0; k < e->n_ph; k++, n++)
            if (n < cap)
                labels[n] = d->ph[e->ph + (size_t)k];
        p += wl;
    }
    return n;
}
