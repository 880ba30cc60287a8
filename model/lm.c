/* lm.c - ARPA parser, binary image builder, memory-mapped loader and back-off scoring (see lm.h).
 *
 * Both creation paths end in the same image: the ARPA parser and asr_lm_from_words fill a builder
 * (words and n-gram lists), image_build lays it out in one malloc'd buffer, and asr_lm_load maps a
 * saved copy of that buffer. Queries only ever read the image, so an ARPA-built and a mapped model
 * answer identically by construction.
 */
#include "lm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LM_MAGIC "ASRDLM\0\1"
#define LM_VERSION 1u
#define LM_ENDIAN 0x01020304u

typedef struct lm_header {
    char magic[8];
    uint32_t version, endian;
    uint32_t order, n_words;
    uint32_t bos, eos, unk, reserved;
    uint64_t count[ASR_LM_MAX_ORDER];   /* n-grams per order */
    uint64_t slots[ASR_LM_MAX_ORDER];   /* hash slots per order (0 for unigrams: dense by id) */
    uint64_t off_pool, pool_bytes;      /* words, NUL-terminated, back to back */
    uint64_t off_woff;                  /* (n_words + 1) u32 offsets into the pool */
    uint64_t off_whash, whash_slots;    /* (whash_slots) u32: id + 1, 0 = empty */
    uint64_t off_uni;                   /* (n_words) lm_uni */
    uint64_t off_tab[ASR_LM_MAX_ORDER]; /* (slots[k]) lm_entry for orders 2.. */
    uint64_t file_size;
    uint32_t crc;  /* CRC-32 of bytes [sizeof header, file_size) */
    uint32_t hcrc; /* CRC-32 of this header with hcrc = 0 */
} lm_header;

typedef struct lm_uni {
    float logp, bow;
} lm_uni;

typedef struct lm_entry {
    uint64_t key; /* 0 = empty slot */
    float logp, bow;
} lm_entry;

struct asr_lm {
    unsigned char *base; /* the image (mapped or malloc'd) */
    size_t size;
    int mapped;
    char *path; /* the mapped file, for asr_lm_verify's messages; NULL when built in memory */
    const lm_header *h;
    const char *pool;
    const uint32_t *woff, *whash;
    const lm_uni *uni;
    const lm_entry *tab[ASR_LM_MAX_ORDER];
};

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t word_hash(const char *w, size_t len)
{
    return mix64(asr_fnv1a(ASR_FNV1A_INIT, w, len));
}

/* Key of the tuple ids[0..n-1] followed by w (w = ASR_LM_NONE: no extra word); never 0. */
static uint64_t tuple_key(const uint32_t *ids, int n, uint32_t w)
{
    int len = n + (w != ASR_LM_NONE);
    uint64_t h = mix64(0x9e3779b97f4a7c15ULL * (uint64_t)len);
    for (int i = 0; i < n; i++)
        h = mix64(h ^ ((uint64_t)ids[i] + 0x632be59bd9b4e019ULL));
    if (w != ASR_LM_NONE)
        h = mix64(h ^ ((uint64_t)w + 0x632be59bd9b4e019ULL));
    return h ? h : 1;
}

static const lm_entry *table_find(const asr_lm *lm, int order, uint64_t key)
{
    const lm_entry *t = lm->tab[order - 1];
    uint64_t mask = lm->h->slots[order - 1] - 1;
    uint64_t i = key & mask;
    for (uint64_t probe = 0; probe <= mask; probe++, i = (i + 1) & mask) {
        if (t[i].key == key)
            return &t[i];
        if (t[i].key == 0)
            return NULL;
    }
    return NULL;
}

/* Starts loading the slot table_find(lm, order, key) reads first. */
static inline void lm_prefetch(const asr_lm *lm, int order, uint64_t key)
{
    __builtin_prefetch(&lm->tab[order - 1][key & (lm->h->slots[order - 1] - 1)]);
}

/* ---- queries ---- */

int asr_lm_order(const asr_lm *lm)
{
    return (int)lm->h->order;
}
uint32_t asr_lm_vocab_size(const asr_lm *lm)
{
    return lm->h->n_words;
}
const char *asr_lm_word(const asr_lm *lm, uint32_t id)
{
    return lm->pool + lm->woff[id];
}
uint32_t asr_lm_bos(const asr_lm *lm)
{
    return lm->h->bos;
}
uint32_t asr_lm_eos(const asr_lm *lm)
{
    return lm->h->eos;
}
uint32_t asr_lm_unk(const asr_lm *lm)
{
    return lm->h->unk;
}
uint64_t asr_lm_count(const asr_lm *lm, int k)
{
    return (k >= 1 && k <= (int)lm->h->order) ? lm->h->count[k - 1] : 0;
}

uint32_t asr_lm_word_id(const asr_lm *lm, const char *w, size_t len)
{
    uint64_t mask = lm->h->whash_slots - 1;
    uint64_t i = word_hash(w, len) & mask;
    for (uint64_t probe = 0; probe <= mask; probe++, i = (i + 1) & mask) {
        uint32_t v = lm->whash[i];
        if (v == 0)
            return ASR_LM_NONE;
        uint32_t id = v - 1;
        uint32_t wl = lm->woff[id + 1] - lm->woff[id] - 1;
        if (wl == len && memcmp(lm->pool + lm->woff[id], w, len) == 0)
            return id;
    }
    return ASR_LM_NONE;
}

int asr_lm_lookup(const asr_lm *lm, const uint32_t *ids, int n, float *logp, float *bow)
{
    if (n < 1 || n > (int)lm->h->order)
        return 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= lm->h->n_words)
            return 0;
    if (n == 1) {
        *logp = lm->uni[ids[0]].logp;
        *bow = lm->uni[ids[0]].bow;
        return 1;
    }
    const lm_entry *e = table_find(lm, n, tuple_key(ids, n, ASR_LM_NONE));
    if (!e)
        return 0;
    *logp = e->logp;
    *bow = e->bow;
    return 1;
}

/* The keys asr_lm_score looks up for w after the last n (<= order - 1) words of ctx, into
 * key_w[k - 1] (the last k words and w) and key_h[k - 1] (the last k words, k >= 2), and starts
 * loading every first slot they lead to: in a large model each is a cache and TLB miss, and issued
 * together they overlap instead of waiting one for another. */
static void score_keys(const asr_lm *lm, const uint32_t *ctx, int n, uint32_t w, uint64_t *key_w,
                       uint64_t *key_h)
{
    for (int k = n; k >= 1; k--) {
        const uint32_t *hist = ctx + (n - k);
        key_w[k - 1] = tuple_key(hist, k, w);
        lm_prefetch(lm, k + 1, key_w[k - 1]);
        if (k > 1) {
            key_h[k - 1] = tuple_key(hist, k, ASR_LM_NONE);
            lm_prefetch(lm, k, key_h[k - 1]);
        } else {
            __builtin_prefetch(&lm->uni[hist[0]]);
        }
    }
    __builtin_prefetch(&lm->uni[w]);
}

/* ctx, n_ctx reduced to the words asr_lm_score reads (the last order - 1); returns n. */
static int score_ctx(const asr_lm *lm, const uint32_t **ctx, int n_ctx)
{
    int n = n_ctx;
    if (n > (int)lm->h->order - 1) {
        *ctx += n - ((int)lm->h->order - 1);
        n = (int)lm->h->order - 1;
    }
    return n;
}

void asr_lm_prefetch(const asr_lm *lm, const uint32_t *ctx, int n_ctx, uint32_t w)
{
    uint64_t key_w[ASR_LM_MAX_ORDER], key_h[ASR_LM_MAX_ORDER];
    int n = score_ctx(lm, &ctx, n_ctx);
    score_keys(lm, ctx, n, w, key_w, key_h);
}

float asr_lm_score(const asr_lm *lm, const uint32_t *ctx, int n_ctx, uint32_t w)
{
    uint64_t key_w[ASR_LM_MAX_ORDER], key_h[ASR_LM_MAX_ORDER];
    int n = score_ctx(lm, &ctx, n_ctx);
    score_keys(lm, ctx, n, w, key_w, key_h);
    float bo = 0;
    /* Longest history first: ctx[n-k..n-1] w for k = n .. 1, then the unigram. */
    for (int k = n; k >= 1; k--) {
        const uint32_t *hist = ctx + (n - k);
        const lm_entry *e = table_find(lm, k + 1, key_w[k - 1]);
        if (e)
            return bo + e->logp;
        if (k == 1) {
            bo += lm->uni[hist[0]].bow;
        } else {
            const lm_entry *c = table_find(lm, k, key_h[k - 1]);
            if (c)
                bo += c->bow;
        }
    }
    return bo + lm->uni[w].logp;
}

/* ---- builder ---- */

typedef struct gram_list {
    uint32_t *ids; /* (n, k) */
    float *logp, *bow;
    uint32_t *line; /* (n) source line, for error messages */
    size_t n, cap;
} gram_list;

typedef struct builder {
    int order;
    char **words; /* (n_words) owned */
    uint32_t n_words, words_cap;
    uint32_t *whash; /* (whash_slots) id + 1 */
    uint64_t whash_slots;
    lm_uni *uni;                   /* (words_cap) */
    gram_list g[ASR_LM_MAX_ORDER]; /* index k-1; g[0] unused */
} builder;

static void builder_free(builder *b)
{
    for (uint32_t i = 0; i < b->n_words; i++)
        free(b->words[i]);
    free(b->words);
    free(b->whash);
    free(b->uni);
    for (int k = 0; k < ASR_LM_MAX_ORDER; k++) {
        free(b->g[k].ids);
        free(b->g[k].logp);
        free(b->g[k].bow);
        free(b->g[k].line);
    }
    memset(b, 0, sizeof *b);
}

static uint32_t builder_find(const builder *b, const char *w, size_t len)
{
    if (!b->whash_slots)
        return ASR_LM_NONE;
    uint64_t mask = b->whash_slots - 1;
    for (uint64_t i = word_hash(w, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = b->whash[i];
        if (!v)
            return ASR_LM_NONE;
        if (strlen(b->words[v - 1]) == len && memcmp(b->words[v - 1], w, len) == 0)
            return v - 1;
    }
}

static int whash_insert(uint32_t *tab, uint64_t slots, const char *w, uint32_t id)
{
    uint64_t mask = slots - 1;
    uint64_t i = word_hash(w, strlen(w)) & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = id + 1;
    return 0;
}

/* Adds a new word (caller checked it is absent); returns its id or ASR_LM_NONE on no memory. */
static uint32_t builder_add_word(builder *b, const char *w, size_t len, float logp, float bow)
{
    if (b->n_words == b->words_cap) {
        uint32_t cap = b->words_cap ? b->words_cap * 2 : 1024;
        char **nw = realloc(b->words, cap * sizeof *nw);
        if (!nw)
            return ASR_LM_NONE;
        b->words = nw;
        lm_uni *nu = realloc(b->uni, cap * sizeof *nu);
        if (!nu)
            return ASR_LM_NONE;
        b->uni = nu;
        b->words_cap = cap;
    }
    if ((uint64_t)(b->n_words + 1) * 2 > b->whash_slots) {
        uint64_t slots = b->whash_slots ? b->whash_slots * 2 : 2048;
        uint32_t *t = calloc(slots, sizeof *t);
        if (!t)
            return ASR_LM_NONE;
        for (uint32_t i = 0; i < b->n_words; i++)
            whash_insert(t, slots, b->words[i], i);
        free(b->whash);
        b->whash = t;
        b->whash_slots = slots;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return ASR_LM_NONE;
    memcpy(copy, w, len);
    copy[len] = '\0';
    uint32_t id = b->n_words++;
    b->words[id] = copy;
    b->uni[id].logp = logp;
    b->uni[id].bow = bow;
    whash_insert(b->whash, b->whash_slots, copy, id);
    return id;
}

static int gram_add(gram_list *g, int k, const uint32_t *ids, float logp, float bow, long line)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        uint32_t *ni = realloc(g->ids, cap * (size_t)k * sizeof *ni);
        if (!ni)
            return -1;
        g->ids = ni;
        float *np = realloc(g->logp, cap * sizeof *np);
        if (!np)
            return -1;
        g->logp = np;
        float *nb = realloc(g->bow, cap * sizeof *nb);
        if (!nb)
            return -1;
        g->bow = nb;
        uint32_t *nl = realloc(g->line, cap * sizeof *nl);
        if (!nl)
            return -1;
        g->line = nl;
        g->cap = cap;
    }
    g->line[g->n] = (uint32_t)line;
    memcpy(g->ids + g->n * (size_t)k, ids, (size_t)k * sizeof *ids);
    g->logp[g->n] = logp;
    g->bow[g->n] = bow;
    g->n++;
    return 0;
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static uint64_t align8(uint64_t x)
{
    return (x + 7) & ~(uint64_t)7;
}

static void set_views(asr_lm *lm)
{
    const lm_header *h = (const lm_header *)lm->base;
    lm->h = h;
    lm->pool = (const char *)lm->base + h->off_pool;
    lm->woff = (const uint32_t *)(lm->base + h->off_woff);
    lm->whash = (const uint32_t *)(lm->base + h->off_whash);
    lm->uni = (const lm_uni *)(lm->base + h->off_uni);
    for (uint32_t k = 1; k < h->order; k++)
        lm->tab[k] = (const lm_entry *)(lm->base + h->off_tab[k]);
}

static uint32_t header_crc(const lm_header *h)
{
    lm_header c = *h;
    c.hcrc = 0;
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&c, sizeof c);
}

static uint32_t payload_crc(const unsigned char *p, uint64_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

/* Lays the builder out as an image; NULL with *err on no memory or a key collision. */
static asr_lm *image_build(const builder *b, const char *name, asr_error *err)
{
    asr_lm *lm = NULL;
    unsigned char *img = NULL;
    lm_header h;
    if (b->n_words == 0) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: no words (a language model needs unigrams)", name);
        return NULL;
    }
    memset(&h, 0, sizeof h);
    memcpy(h.magic, LM_MAGIC, 8);
    h.version = LM_VERSION;
    h.endian = LM_ENDIAN;
    h.order = (uint32_t)b->order;
    h.n_words = b->n_words;
    h.bos = builder_find(b, "<s>", 3);
    h.eos = builder_find(b, "</s>", 4);
    h.unk = builder_find(b, "<unk>", 5);
    h.count[0] = b->n_words;
    uint64_t pool = 0;
    for (uint32_t i = 0; i < b->n_words; i++)
        pool += strlen(b->words[i]) + 1;
    h.whash_slots = pow2_at_least((uint64_t)b->n_words * 2 + 2);
    uint64_t off = align8(sizeof h);
    h.off_pool = off;
    h.pool_bytes = pool;
    off = align8(off + pool);
    h.off_woff = off;
    off = align8(off + ((uint64_t)b->n_words + 1) * 4);
    h.off_whash = off;
    off = align8(off + h.whash_slots * 4);
    h.off_uni = off;
    off = align8(off + (uint64_t)b->n_words * sizeof(lm_uni));
    for (int k = 2; k <= b->order; k++) {
        h.count[k - 1] = b->g[k - 1].n;
        h.slots[k - 1] = pow2_at_least(b->g[k - 1].n + b->g[k - 1].n / 3 + 2);
        h.off_tab[k - 1] = off;
        off = align8(off + h.slots[k - 1] * sizeof(lm_entry));
    }
    h.file_size = off;
    img = calloc(1, (size_t)off);
    lm = calloc(1, sizeof *lm);
    if (!img || !lm) {
        asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory building the language model", name);
        goto fail;
    }
    char *p = (char *)img + h.off_pool;
    uint32_t *woff = (uint32_t *)(img + h.off_woff);
    uint64_t o = 0;
    for (uint32_t i = 0; i < b->n_words; i++) {
        size_t l = strlen(b->words[i]) + 1;
        woff[i] = (uint32_t)o;
        memcpy(p + o, b->words[i], l);
        o += l;
    }
    woff[b->n_words] = (uint32_t)o;
    uint32_t *wh = (uint32_t *)(img + h.off_whash);
    for (uint32_t i = 0; i < b->n_words; i++)
        whash_insert(wh, h.whash_slots, b->words[i], i);
    if (b->n_words) /* b->uni is NULL without words: memcpy's arguments must be valid pointers */
        memcpy(img + h.off_uni, b->uni, (size_t)b->n_words * sizeof(lm_uni));
    for (int k = 2; k <= b->order; k++) {
        const gram_list *g = &b->g[k - 1];
        lm_entry *t = (lm_entry *)(img + h.off_tab[k - 1]);
        uint64_t mask = h.slots[k - 1] - 1;
        for (size_t j = 0; j < g->n; j++) {
            uint64_t key = tuple_key(g->ids + j * (size_t)k, k, ASR_LM_NONE);
            uint64_t i = key & mask;
            while (t[i].key && t[i].key != key)
                i = (i + 1) & mask;
            if (t[i].key == key) {
                asr_error_set(err, ASR_ERR_FORMAT, "%s:%u: duplicate %d-gram (or a 64-bit key collision)",
                              name, g->line ? g->line[j] : 0, k);
                goto fail;
            }
            t[i].key = key;
            t[i].logp = g->logp[j];
            t[i].bow = g->bow[j];
        }
    }
    h.crc = payload_crc(img + sizeof h, off - sizeof h);
    h.hcrc = header_crc(&h);
    memcpy(img, &h, sizeof h);
    lm->base = img;
    lm->size = (size_t)off;
    set_views(lm);
    return lm;
fail:
    free(img);
    free(lm);
    return NULL;
}

/* ---- ARPA parser ---- */

/* Next whitespace-separated token of *s (NULL at the end); *len its length. */
static const char *next_token(const char **s, size_t *len)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!*p) {
        *s = p;
        return NULL;
    }
    const char *start = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        p++;
    *len = (size_t)(p - start);
    *s = p;
    return start;
}

/* Parses the whole token as a finite float. */
static int parse_float(const char *tok, size_t len, float *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(v))
        return -1;
    *out = (float)v;
    return 0;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/* Line s (trailing whitespace ignored) equals lit. */
static int line_is(const char *s, const char *lit)
{
    size_t n = strlen(lit);
    while (*s == ' ' || *s == '\t')
        s++;
    return strncmp(s, lit, n) == 0 && is_blank(s + n);
}

asr_lm *asr_lm_load_arpa(const char *path, asr_error *err)
{
    builder b;
    memset(&b, 0, sizeof b);
    asr_lm *lm = NULL;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    uint64_t declared[ASR_LM_MAX_ORDER + 1] = {0};
    int state = 0;   /* 0 before \data\, 1 in \data\, 2 in a section, 3 after \end\ */
    int section = 0; /* order of the current n-gram section */
    int last_section = 0;
    uint64_t seen = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
#define ARPA_FAIL(...)                                                                                       \
    do {                                                                                                     \
        char msg_[300];                                                                                      \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                            \
        asr_error_set(err, ASR_ERR_FORMAT, "%s:%ld: %s", path, lineno, msg_);                                \
        goto fail;                                                                                           \
    } while (0)
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (state == 3)
            break;
        if (state == 0) {
            if (line_is(line, "\\data\\"))
                state = 1;
            continue;
        }
        if (is_blank(line))
            continue;
        const char *s = line;
        size_t len;
        if (line[0] == '\\') {
            if (line_is(line, "\\end\\")) {
                if (b.order == 0)
                    ARPA_FAIL("\\end\\ before any \"ngram N=COUNT\" line: the model has no n-grams");
                if (state == 2 && seen != declared[section])
                    ARPA_FAIL("\\%d-grams: has %llu entries, \\data\\ declared %llu", section,
                              (unsigned long long)seen, (unsigned long long)declared[section]);
                if (last_section != b.order)
                    ARPA_FAIL("\\end\\ before the \\%d-grams: section", last_section + 1);
                state = 3;
                continue;
            }
            int k = 0;
            char tail[16];
            if (sscanf(line, "\\%d-grams%15s", &k, tail) != 2 || strcmp(tail, ":") != 0)
                ARPA_FAIL("unknown section header");
            if (state == 1 && b.order == 0)
                ARPA_FAIL("no \"ngram N=COUNT\" lines in \\data\\");
            if (state == 2 && seen != declared[section])
                ARPA_FAIL("\\%d-grams: has %llu entries, \\data\\ declared %llu", section,
                          (unsigned long long)seen, (unsigned long long)declared[section]);
            if (k != last_section + 1 || k > b.order)
                ARPA_FAIL("section \\%d-grams: out of order (expected \\%d-grams:)", k, last_section + 1);
            section = last_section = k;
            seen = 0;
            state = 2;
            continue;
        }
        if (state == 1) {
            int k;
            unsigned long long cnt;
            int used = 0;
            if (sscanf(line, " ngram %d = %llu %n", &k, &cnt, &used) != 2 || !is_blank(line + used))
                ARPA_FAIL("expected \"ngram N=COUNT\" in \\data\\");
            if (k < 1 || k > ASR_LM_MAX_ORDER)
                ARPA_FAIL("order %d not supported (1..%d)", k, ASR_LM_MAX_ORDER);
            if (k != b.order + 1)
                ARPA_FAIL("ngram %d= out of order", k);
            if (cnt == 0 || cnt > (k == 1 ? 0xfffffff0ULL : (1ULL << 40)))
                ARPA_FAIL("bad count %llu for order %d", cnt, k);
            declared[k] = cnt;
            b.order = k;
            continue;
        }
        /* An n-gram line: logp w1 .. wk [bow] */
        int k = section;
        float logp, bow = 0;
        uint32_t ids[ASR_LM_MAX_ORDER];
        const char *tok = next_token(&s, &len);
        if (!tok || parse_float(tok, len, &logp) != 0)
            ARPA_FAIL("bad log probability \"%.*s\"", (int)(len > 40 ? 40 : len), tok);
        if (logp > 0)
            ARPA_FAIL("log probability %g > 0", logp);
        const char *wtok[ASR_LM_MAX_ORDER];
        size_t wlen[ASR_LM_MAX_ORDER];
        for (int i = 0; i < k; i++) {
            wtok[i] = next_token(&s, &wlen[i]);
            if (!wtok[i])
                ARPA_FAIL("%d-gram has %d words", k, i);
        }
        tok = next_token(&s, &len);
        if (tok) {
            if (k == b.order)
                ARPA_FAIL("highest-order %d-gram has a back-off weight or an extra word", k);
            if (parse_float(tok, len, &bow) != 0)
                ARPA_FAIL("bad back-off weight \"%.*s\"", (int)(len > 40 ? 40 : len), tok);
            if (next_token(&s, &len))
                ARPA_FAIL("extra text after the back-off weight");
        }
        if (++seen > declared[k])
            ARPA_FAIL("more %d-grams than \\data\\ declared (%llu)", k, (unsigned long long)declared[k]);
        if (k == 1) {
            if (builder_find(&b, wtok[0], wlen[0]) != ASR_LM_NONE)
                ARPA_FAIL("duplicate unigram \"%.*s\"", (int)wlen[0], wtok[0]);
            if (builder_add_word(&b, wtok[0], wlen[0], logp, bow) == ASR_LM_NONE) {
                asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            continue;
        }
        for (int i = 0; i < k; i++) {
            ids[i] = builder_find(&b, wtok[i], wlen[i]);
            if (ids[i] == ASR_LM_NONE)
                ARPA_FAIL("word \"%.*s\" is not a unigram", (int)wlen[i], wtok[i]);
        }
        if (gram_add(&b.g[k - 1], k, ids, logp, bow, lineno) != 0) {
            asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    if (ferror(f)) {
        asr_error_set(err, ASR_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (lineno == 0) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: empty file (not an ARPA or asrd language model)", path);
        goto fail;
    }
    if (state == 0)
        ARPA_FAIL("no \\data\\ line (not an ARPA file)");
    if (state != 3)
        ARPA_FAIL("file ends before \\end\\");
#undef ARPA_FAIL
    lm = image_build(&b, path, err);
fail:
    free(line);
    fclose(f);
    builder_free(&b);
    return lm;
}

asr_lm *asr_lm_from_words(const char *const *phrases, int n_phrases, asr_error *err)
{
    builder b;
    memset(&b, 0, sizeof b);
    asr_lm *lm = NULL;
    b.order = 1;
    for (int i = 0; i < n_phrases; i++) {
        const char *s = phrases[i];
        size_t len;
        const char *tok;
        while ((tok = next_token(&s, &len)) != NULL) {
            if (builder_find(&b, tok, len) == ASR_LM_NONE &&
                builder_add_word(&b, tok, len, 0, 0) == ASR_LM_NONE)
                goto nomem;
        }
    }
    if (b.n_words == 0) {
        asr_error_set(err, ASR_ERR_ARG, "phrase list: no words");
        goto fail;
    }
    if (builder_find(&b, "</s>", 4) == ASR_LM_NONE && builder_add_word(&b, "</s>", 4, 0, 0) == ASR_LM_NONE)
        goto nomem;
    float lp = (float)-log10((double)b.n_words);
    if (builder_find(&b, "<s>", 3) == ASR_LM_NONE && builder_add_word(&b, "<s>", 3, -99, 0) == ASR_LM_NONE)
        goto nomem;
    for (uint32_t i = 0; i < b.n_words; i++)
        if (strcmp(b.words[i], "<s>") != 0)
            b.uni[i].logp = lp;
    lm = image_build(&b, "phrase list", err);
    goto fail;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "phrase list: out of memory");
fail:
    builder_free(&b);
    return lm;
}

/* ---- binary save / load ---- */

asr_status asr_lm_save(const asr_lm *lm, const char *path, asr_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return asr_error_set(err, ASR_ERR_ARG, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, strerror(errno));
    size_t n = fwrite(lm->base, 1, lm->size, f);
    int bad = n != lm->size;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
#ifdef POSIX_FADV_DONTNEED
    /* Drop the written pages from the page cache (clean after fsync): the write path caches them
     * in small folios, and the first process to map the file then reads it back in huge ones
     * (map_huge), which every later mapping shares. Only a hint: failure changes nothing else. */
    if (!bad)
        posix_fadvise(fileno(f), 0, 0, POSIX_FADV_DONTNEED);
#endif
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return asr_error_set(err, ASR_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return ASR_OK;
}

/* Maps the file read-only at a 2 MB-aligned address, asking for huge pages. A query reads a few
 * slots at random places of a ~100 MB model, so nearly every look-up touched a 4 kB page the process
 * had not touched yet: a TLB miss and, on first touch, a page fault, which under a hypervisor that
 * shadows page tables (PVM here) costs ~7-12 us of CPU per page even with the page cache warm
 * (tests/bench/README.md, "Beam + LM decoding cost"). Where the file system keeps the file in
 * PMD-sized page-cache folios (ext4 since Linux 6.16, xfs), an aligned mapping maps each 2 MB with
 * one entry, shared by every process; MADV_HUGEPAGE makes a fault on an uncached part read it in
 * such a folio. Elsewhere these are no-ops. */
static void *map_huge(int fd, size_t size)
{
    const size_t huge = (size_t)2 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    if (size < huge || size > SIZE_MAX - 2 * huge)
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    size_t used = (size + page - 1) & ~(page - 1);
    /* Reserve 2 MB more than the file's pages, map the file over the aligned part, give back the
     * ends (head < huge, and the tail huge - head > 0, both whole pages). */
    unsigned char *r = mmap(NULL, used + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return MAP_FAILED;
    size_t head = (huge - ((uintptr_t)r & (huge - 1))) & (huge - 1);
    void *map = mmap(r + head, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (map == MAP_FAILED) {
        munmap(r, used + huge);
        return MAP_FAILED;
    }
    if (head)
        munmap(r, head);
    munmap(r + head + used, huge - head);
#ifdef MADV_HUGEPAGE
    madvise(map, size, MADV_HUGEPAGE);
#endif
    /* No read-around: then every fault on an uncached part, even those of asr_lm_verify's
     * sequential pass, reads a whole huge folio (the read-ahead of a sequential pass grows its
     * folios from small ones). */
    madvise(map, size, MADV_RANDOM);
    return map;
}

/* off + n*elem lies inside size (no overflow). */
static int in_file(uint64_t off, uint64_t n, uint64_t elem, uint64_t size)
{
    if (off > size || (off & 3))
        return 0;
    if (elem && n > (size - off) / elem)
        return 0;
    return 1;
}

asr_lm *asr_lm_load(const char *path, asr_error *err)
{
    asr_lm *lm = NULL;
    void *map = MAP_FAILED;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < sizeof(lm_header)) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: truncated (%llu bytes, header needs %zu)", path,
                      (unsigned long long)size, sizeof(lm_header));
        goto fail;
    }
    map = map_huge(fd, (size_t)size);
    if (map == MAP_FAILED) {
        asr_error_set(err, ASR_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    const lm_header *h = map;
    const unsigned char *base = map;
    if (memcmp(h->magic, LM_MAGIC, 8) != 0) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: not an asrd language model (bad magic)", path);
        goto fail;
    }
    if (h->endian != LM_ENDIAN) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: written on a machine of another byte order", path);
        goto fail;
    }
    if (h->version != LM_VERSION) {
        asr_error_set(err, ASR_ERR_VERSION, "%s: version %u not supported (this build reads %u)", path,
                      h->version, LM_VERSION);
        goto fail;
    }
    if (header_crc(h) != h->hcrc) {
        asr_error_set(err, ASR_ERR_CHECKSUM, "%s: header checksum mismatch (file corrupt)", path);
        goto fail;
    }
    if (h->file_size != size) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: size %llu bytes, header says %llu (truncated?)", path,
                      (unsigned long long)size, (unsigned long long)h->file_size);
        goto fail;
    }
    int ok = h->order >= 1 && h->order <= ASR_LM_MAX_ORDER && h->n_words >= 1 && h->count[0] == h->n_words &&
             in_file(h->off_pool, h->pool_bytes, 1, size) &&
             in_file(h->off_woff, (uint64_t)h->n_words + 1, 4, size) && h->whash_slots > h->n_words &&
             (h->whash_slots & (h->whash_slots - 1)) == 0 && in_file(h->off_whash, h->whash_slots, 4, size) &&
             in_file(h->off_uni, h->n_words, sizeof(lm_uni), size);
    for (uint32_t k = 1; ok && k < h->order; k++)
        ok = h->slots[k] > h->count[k] && (h->slots[k] & (h->slots[k] - 1)) == 0 &&
             (h->off_tab[k] & 7) == 0 && in_file(h->off_tab[k], h->slots[k], sizeof(lm_entry), size);
    if (!ok) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: inconsistent header (sizes or offsets)", path);
        goto fail;
    }
    /* The payload checksum is not checked here (asr_lm_verify, lm.h): it reads every page of the
     * file, most of the start-up time with a large model. What follows is what queries rely on. */
    /* Structure of the vocabulary, so queries can trust every offset and id. */
    const uint32_t *woff = (const uint32_t *)(base + h->off_woff);
    const char *pool = (const char *)base + h->off_pool;
    for (uint32_t i = 0; ok && i < h->n_words; i++)
        ok = woff[i] < woff[i + 1] && woff[i + 1] <= h->pool_bytes && pool[woff[i + 1] - 1] == '\0';
    ok = ok && woff[0] == 0;
    const uint32_t *wh = (const uint32_t *)(base + h->off_whash);
    for (uint64_t i = 0; ok && i < h->whash_slots; i++)
        ok = wh[i] <= h->n_words;
    ok = ok && (h->bos == ASR_LM_NONE || h->bos < h->n_words) &&
         (h->eos == ASR_LM_NONE || h->eos < h->n_words) && (h->unk == ASR_LM_NONE || h->unk < h->n_words);
    if (!ok) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: corrupt vocabulary", path);
        goto fail;
    }
    lm = calloc(1, sizeof *lm);
    if (!lm) {
        asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    lm->path = strdup(path);
    if (!lm->path) {
        free(lm);
        lm = NULL;
        asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    lm->base = map;
    lm->size = (size_t)size;
    lm->mapped = 1;
    set_views(lm);
    close(fd);
    return lm;
fail:
    if (map != MAP_FAILED)
        munmap(map, (size_t)size);
    close(fd);
    return NULL;
}

asr_lm *asr_lm_open(const char *path, asr_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* The magic is read through a mapping like asr_lm_load's, not read(2): a read would cache the
     * file's first pages in small folios, and the 2 MB around them could not be mapped huge. */
    struct stat st;
    int binary = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 8) {
        void *map = map_huge(fd, (size_t)st.st_size);
        if (map != MAP_FAILED) {
            binary = memcmp(map, LM_MAGIC, 8) == 0;
            munmap(map, (size_t)st.st_size);
        }
    }
    close(fd);
    return binary ? asr_lm_load(path, err) : asr_lm_load_arpa(path, err);
}

asr_status asr_lm_verify(const asr_lm *lm, asr_error *err)
{
    if (!lm->mapped)
        return ASR_OK; /* built here: nothing could have damaged it */
    if (payload_crc(lm->base + sizeof *lm->h, lm->size - sizeof *lm->h) != lm->h->crc)
        return asr_error_set(err, ASR_ERR_CHECKSUM, "%s: checksum mismatch (file corrupt)", lm->path);
    return ASR_OK;
}

void asr_lm_free(asr_lm *lm)
{
    if (!lm)
        return;
    free(lm->path);
    if (lm->mapped)
        munmap(lm->base, lm->size);
    else
        free(lm->base);
    free(lm);
}
