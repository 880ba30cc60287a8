/* ctc_beam.c - CTC prefix beam search with word LM and vocabulary trie (see ctc_beam.h; the trie is
 * built in ctc_lexicon.c, phrase lists in ctc_phrases.c, the decoder interface in asr_decoder.c).
 *
 * Prefixes live in a node pool: a node is one label appended to its parent, with what the prefix
 * determines (LM context and score, position in the vocabulary trie, label timing). Nodes are
 * reference-counted (children + membership of the beam) and recycled through a free list, so the
 * pool holds the kept hypotheses' paths and nothing else however long the stream runs.
 *
 * A frame: (1) every beam member registers a "stay" candidate keyed (parent, label) - blank and
 * repeat paths; (2) every member is extended by the pruned labels, each extension keyed (member,
 * label), so two paths into the same prefix meet in one candidate; (3) the best `beam` candidates
 * by acoustic + LM score become the new beam (new nodes are created only for survivors).
 *
 * LM lookahead (lm_lookahead > 0): a node inside a vocabulary word carries la, its trie node's
 * lookahead (lex_edge.la: log10 of the likeliest unigram among the words through it, relative to
 * the likeliest word's, <= 0) times lm_lookahead x lm_weight x ln 10, as part of its LM score. The
 * next letter swaps it for the child's (never higher: the child's words are some of the parent's),
 * leaving the vocabulary drops it, and closing the word replaces it with the word's real score, so
 * a finished prefix scores as without lookahead; only which partial words survive the beam changes.
 *
 * Speed, with results identical to the plain search (ctc_beam_set_reference runs that one and
 * test_ctc_beam compares them):
 * - Score pruning. A candidate's score only grows during (2) (merges add probability; its LM
 *   part is fixed). So once (1) is done, the beam-th best stay score and the best stay score -
 *   beam_delta are floors every survivor of (3) will reach, and an extension that would create a
 *   new candidate scoring below the floor is not created (an extension into an existing
 *   candidate always counts). Labels are tried best first, so an upper bound on an extension's
 *   score (parent's total + the label's log-probability + the most its LM part can gain) lets a
 *   member stop trying labels once it fails (with lookahead, a letter that leaves the
 *   vocabulary gains the partial word's la back: the bound counts it). For a space the bound
 *   assumes every LM score log10 p(w | h) <= 0, true of a normalised model (ARPA's 4-decimal
 *   rounding of one can exceed 0 by ~1e-4, which the floor's slack covers).
 * - Deferred word scores. A new candidate that closes a word (a space) whose bound passes is
 *   created with the bound as its LM part and looked up in (3) only if the bound still passes
 *   the final floor: the beam-th best and the best - beam_delta of the other candidates' final
 *   scores. The look-up (a cache and TLB miss in a large model, the largest cost of the search)
 *   is skipped for most of them, and those left are prefetched together so their misses overlap
 *   (asr_lm_prefetch). A deferred candidate meets no other path (its key is its parent's own
 *   extension), so its score is final once looked up. A node's word-close score never changes:
 *   it is computed once per node.
 * - Top-k selection: candidates' 64-bit rank keys (score bits, then candidate index) go into a
 *   sorted list of the best `beam` (binary search, short move; the stays arrive nearly in order)
 *   instead of sorting every candidate; ties still go to the lower candidate index, so the kept
 *   order is the sort's (it matters beyond ties: it orders the next frame's merges).
 * - An LM score cache: direct-mapped (context, word) -> log10 p, as the same word closes are
 *   scored by many prefixes frame after frame.
 * - A node keeps its merged score (the same float the selection computed) and where its trie
 *   edges are, so a frame neither recomputes the one nor reads the trie node for the other.
 */
#include "ctc_beam.h"

#include "ctc_lexicon.h"
#include "ctc_result.h"
#include "model_file.h" /* ASR_MAX_LABELS */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEG_INF (-INFINITY)
#define LN10 2.302585092994046f

/* ---------------- search ---------------- */

#define MAX_CTX (ASR_LM_MAX_ORDER - 1)

typedef struct bnode {
    int parent;      /* -1 for the root */
    int refs;        /* children + 1 while in the beam; 0 = free */
    int label;       /* 0 at the root */
    int lex;         /* trie node of the partial word (0 = word start), -1 = left the vocabulary */
    int lex_first;   /* its edges (d->lex->edges[lex_first ..]; 0 without a node), copied so a */
    int lex_n;       /* frame reads the edges without first reading the node */
    int in_word;     /* 1 if the last label is a letter */
    int beam_kids;   /* during a frame's step (2): its children in the beam */
    long t_first;    /* frame the label was first emitted */
    long t_last;     /* last frame it kept winning over blank on this hypothesis */
    double conf_sum; /* sum of the label's posteriors over its emitting frames */
    long conf_n;
    float lm;              /* natural-log LM + bonus score of the whole prefix (with la) */
    float la;              /* the lookahead part of lm: the partial word's (0 outside a word) */
    uint32_t ctx[MAX_CTX]; /* LM context, oldest first */
    int n_ctx;
    float pb, pnb;    /* log P(prefix, ending in blank / in its last label) at the current frame */
    float tot;        /* merge(pb, pnb), as computed when the node's candidate was scored */
    int close_ok;     /* close_s, close_w hold close_score of the node (computed once, on demand) */
    float close_s;    /* score of closing the node's word (node_close) */
    uint32_t close_w; /* the LM word it closes as, or ASR_LM_NONE */
} bnode;

/* Direct-mapped cache of LM scores. The key is the part of the context asr_lm_score reads (the
 * last order - 1 words), so the cached value is the very float it returns. */
#define LM_CACHE_SIZE 4096 /* entries, a power of two */

typedef struct lm_cache_entry {
    uint32_t w; /* ASR_LM_NONE: empty */
    uint32_t ctx[MAX_CTX];
    int n_ctx;
    float logp;
} lm_cache_entry;

/* Slack below the pruning floor: log-sum-exp in float is monotone only up to rounding, and an LM
 * score may exceed 0 by ARPA rounding; both are far below this. */
#define PRUNE_SLACK_ABS 0.01f
#define PRUNE_SLACK_REL 1e-5f

typedef struct cand {
    int node;   /* existing node, or -1 (created if the candidate survives) */
    int parent; /* key with label */
    int label;
    float nb, nnb; /* next frame's pb / pnb */
    float tot;     /* merge(nb, nnb), when score is up to date */
    float lm;      /* prefix score (for new nodes: parent's + word score) */
    float la;      /* for new nodes: bnode.la */
    int lex, in_word, n_ctx;
    uint32_t ctx[MAX_CTX];
    unsigned slot; /* its hash slot */
    int emitting;  /* existing node: its label won over blank this frame (extends t_last) */
    float emit_lp; /* new node: posterior of its label at this frame */
    float score;
    int dirty;   /* nb/nnb changed since score was computed (or never computed) */
    int pending; /* a new word close whose LM look-up waits for (3): lm is an upper bound */
} cand;

struct ctc_beam {
    char labels[ASR_MAX_LABELS + 1];
    int n_labels, space; /* space: label of ' ' or -1 */
    double frame_ms;
    ctc_beam_params p;
    const asr_lm *lm;
    const ctc_lexicon *lex;
    uint32_t bos, eos, unk;
    long t;
    bnode *nodes;             /* (nodes_cap) */
    int nodes_cap, free_head; /* free list threaded through parent */
    int *beam;                /* (p.beam) node indices */
    int *old;                 /* (p.beam) the previous frame's beam while the new one is built */
    int n_beam;
    cand *cands; /* (cands_cap) */
    int n_cands, cands_cap;
    int *hash; /* (hash_size) candidate index + 1 */
    int hash_size;
    int *order;               /* (cands_cap) candidate indices sorted by score */
    uint64_t *keys;           /* (cands_cap) rank keys of the candidates, for select_top */
    float *tot;               /* (p.beam) merged score of each beam member at the current frame */
    int *tried;               /* (n_labels) labels tried this frame */
    int *lex_next;            /* (n_labels) trie children of the node lex_next_fill last read, by label */
    float *lex_next_la;       /* (n_labels) their lookahead (lex_edge.la) */
    float la_scale;           /* lex_edge.la to natural-log score: lm_lookahead x lm_weight x ln 10, or 0 */
    lm_cache_entry *lm_cache; /* (LM_CACHE_SIZE) */
    int reference;            /* ctc_beam_set_reference: no pruning, full sort, no LM cache */
    char *text;               /* (text_cap) partial */
    size_t text_cap;
    int *path; /* (path_cap) node indices root..tip, for results */
    int path_cap;
    asr_status status;
};

ctc_beam_params ctc_beam_default_params(void)
{
    ctc_beam_params p = {
        .beam = 64,
        .char_prune = 1e-3f,
        .max_chars = 8,
        .beam_delta = 12.0f,
        /* beam, word_bonus, unk_penalty: tuned on cathy/dev + fsdd/dev (model/recipe/tune_lm.sh);
         * lm_weight: retuned on the five dev sets with the CMU LM for each shipped model (model/README.md) */
        .lm_weight = 0.8f,
        .word_bonus = 2.0f,
        .unk_penalty = -20.0f,
        .lm_lookahead = 0.3f,
        .closed_vocab = 0,
        .use_eos = 1,
        .viterbi = 0,
    };
    return p;
}

static inline float lse(float a, float b)
{
    if (a == NEG_INF)
        return b;
    if (b == NEG_INF)
        return a;
    return a > b ? a + log1pf(expf(b - a)) : b + log1pf(expf(a - b));
}

static inline float merge(const ctc_beam *d, float a, float b)
{
    return d->p.viterbi ? (a > b ? a : b) : lse(a, b);
}

/* Sets n's trie node (and the copy of where its edges are). */
static void node_set_lex(const ctc_beam *d, bnode *n, int lex)
{
    n->lex = lex;
    n->lex_first = lex >= 0 ? d->lex->nodes[lex].first : 0;
    n->lex_n = lex >= 0 ? d->lex->nodes[lex].n : 0;
}

static int node_alloc(ctc_beam *d)
{
    if (d->free_head < 0) {
        int cap = d->nodes_cap * 2;
        bnode *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        d->nodes = nn;
        for (int i = cap - 1; i >= d->nodes_cap; i--) {
            d->nodes[i].refs = 0;
            d->nodes[i].parent = d->free_head;
            d->free_head = i;
        }
        d->nodes_cap = cap;
    }
    int i = d->free_head;
    d->free_head = d->nodes[i].parent;
    return i;
}

/* Drops one reference; frees the node and, transitively, ancestors left unreferenced. */
static void node_release(ctc_beam *d, int i)
{
    while (i >= 0 && --d->nodes[i].refs == 0) {
        int parent = d->nodes[i].parent;
        d->nodes[i].parent = d->free_head;
        d->free_head = i;
        i = parent;
    }
}

/* Starts a new utterance: frees every node, the beam is the root alone. */
static void new_utterance(ctc_beam *d)
{
    d->free_head = -1;
    for (int i = d->nodes_cap - 1; i >= 1; i--) {
        d->nodes[i].refs = 0;
        d->nodes[i].parent = d->free_head;
        d->free_head = i;
    }
    bnode *r = &d->nodes[0];
    memset(r, 0, sizeof *r);
    r->parent = -1;
    r->refs = 1;
    r->t_first = r->t_last = d->t;
    if (d->lm && d->bos != ASR_LM_NONE) {
        r->ctx[0] = d->bos;
        r->n_ctx = 1;
    }
    r->pb = 0;
    r->pnb = NEG_INF;
    r->tot = merge(d, r->pb, r->pnb);
    node_set_lex(d, r, d->lex ? 0 : -1);
    d->beam[0] = 0;
    d->n_beam = 1;
}

ctc_beam *ctc_beam_create(const char *alphabet, int n_labels, double frame_ms, const ctc_beam_params *p,
                          const asr_lm *lm, const ctc_lexicon *lex, asr_error *err)
{
    ctc_beam *d = NULL;
    if (!alphabet || n_labels < 2 || n_labels > ASR_MAX_LABELS + 1 ||
        strlen(alphabet) != (size_t)(n_labels - 1) || !(frame_ms > 0)) {
        asr_error_set(
            err, ASR_ERR_ARG,
            "beam decoder: alphabet of %zu labels does not match n_labels %d - 1 (or frame_ms %g <= 0)",
            alphabet ? strlen(alphabet) : 0, n_labels, frame_ms);
        return NULL;
    }
    if (!p || p->beam < 1 || p->beam > 100000 || p->max_chars < 1 || !(p->char_prune >= 0) ||
        !(p->char_prune < 1) || !(p->beam_delta >= 0) || !isfinite(p->lm_weight) ||
        !isfinite(p->word_bonus) || !isfinite(p->unk_penalty) || !(p->lm_lookahead >= 0) ||
        !isfinite(p->lm_lookahead) || (!lm) != (!lex)) {
        asr_error_set(
            err, ASR_ERR_ARG,
            "beam decoder: bad parameters (beam >= 1, max_chars >= 1, "
            "0 <= char_prune < 1, beam_delta >= 0, lm_lookahead >= 0, lm and lexicon both or neither)");
        return NULL;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        goto fail;
    d->labels[0] = '\0';
    memcpy(d->labels + 1, alphabet, (size_t)n_labels - 1);
    d->n_labels = n_labels;
    d->space = -1;
    for (int k = 1; k < n_labels; k++)
        if (alphabet[k - 1] == ' ')
            d->space = k;
    d->frame_ms = frame_ms;
    d->p = *p;
    if (d->p.max_chars > n_labels - 1)
        d->p.max_chars = n_labels - 1;
    d->lm = lm;
    d->lex = lex;
    /* Lookahead needs the LM and a positive weight (the pruning bounds assume its part <= 0). */
    d->la_scale = lm && p->lm_weight > 0 && p->lm_lookahead > 0 ? p->lm_lookahead * p->lm_weight * LN10 : 0;
    d->bos = lm ? asr_lm_bos(lm) : ASR_LM_NONE;
    d->eos = lm ? asr_lm_eos(lm) : ASR_LM_NONE;
    d->unk = lm ? asr_lm_unk(lm) : ASR_LM_NONE;
    d->nodes_cap = 4 * p->beam + 64;
    d->nodes = malloc((size_t)d->nodes_cap * sizeof *d->nodes);
    d->beam = malloc((size_t)p->beam * sizeof *d->beam);
    d->old = malloc((size_t)p->beam * sizeof *d->old);
    d->cands_cap = p->beam * (d->p.max_chars + 2);
    d->cands = malloc((size_t)d->cands_cap * sizeof *d->cands);
    d->order = malloc((size_t)d->cands_cap * sizeof *d->order);
    d->keys = malloc((size_t)d->cands_cap * sizeof *d->keys);
    d->tot = malloc((size_t)p->beam * sizeof *d->tot);
    d->hash_size = 16;
    while (d->hash_size < 2 * d->cands_cap)
        d->hash_size *= 2;
    d->hash = calloc((size_t)d->hash_size, sizeof *d->hash);
    d->tried = malloc((size_t)n_labels * sizeof *d->tried);
    d->lex_next = malloc((size_t)n_labels * sizeof *d->lex_next);
    d->lex_next_la = malloc((size_t)n_labels * sizeof *d->lex_next_la);
    d->lm_cache = lm ? malloc(LM_CACHE_SIZE * sizeof *d->lm_cache) : NULL;
    if (d->lm_cache)
        for (int i = 0; i < LM_CACHE_SIZE; i++)
            d->lm_cache[i].w = ASR_LM_NONE;
    d->text_cap = 256;
    d->text = malloc(d->text_cap);
    d->path_cap = 256;
    d->path = malloc((size_t)d->path_cap * sizeof *d->path);
    if (!d->nodes || !d->beam || !d->old || !d->cands || !d->order || !d->keys || !d->tot || !d->hash ||
        !d->tried || !d->lex_next || !d->lex_next_la || !d->text || !d->path || (lm && !d->lm_cache))
        goto fail;
    ctc_beam_reset(d);
    return d;
fail:
    ctc_beam_destroy(d);
    asr_error_set(err, ASR_ERR_NOMEM, "beam decoder: out of memory");
    return NULL;
}

void ctc_beam_destroy(ctc_beam *d)
{
    if (!d)
        return;
    free(d->nodes);
    free(d->beam);
    free(d->old);
    free(d->cands);
    free(d->order);
    free(d->keys);
    free(d->tot);
    free(d->hash);
    free(d->tried);
    free(d->lex_next);
    free(d->lex_next_la);
    free(d->lm_cache);
    free(d->text);
    free(d->path);
    free(d);
}

void ctc_beam_reset(ctc_beam *d)
{
    d->t = 0;
    d->status = ASR_OK;
    new_utterance(d);
}

long ctc_beam_frames(const ctc_beam *d)
{
    return d->t;
}

void ctc_beam_set_reference(ctc_beam *d, int on)
{
    d->reference = on != 0;
}

static unsigned cand_hash(int parent, int label, int size)
{
    uint64_t h = ((uint64_t)(uint32_t)(parent + 1) << 8) ^ (uint64_t)label;
    h *= 0x9e3779b97f4a7c15ULL;
    return (unsigned)(h >> 40) & (unsigned)(size - 1);
}

/* The candidate for prefix (parent, label), or -1 and *slot = the empty hash slot it would take. */
static int cand_find(const ctc_beam *d, int parent, int label, unsigned *slot)
{
    unsigned mask = (unsigned)d->hash_size - 1;
    unsigned i = cand_hash(parent, label, d->hash_size);
    for (;; i = (i + 1) & mask) {
        int v = d->hash[i];
        if (v == 0)
            break;
        const cand *c = &d->cands[v - 1];
        if (c->parent == parent && c->label == label)
            return v - 1;
    }
    *slot = i;
    return -1;
}

/* A new empty candidate (parent, label) in the slot cand_find gave; -1 if the table is full. */
static int cand_new(ctc_beam *d, unsigned slot, int parent, int label)
{
    if (d->n_cands == d->cands_cap)
        return -1;
    int k = d->n_cands++;
    d->hash[slot] = k + 1;
    cand *c = &d->cands[k];
    c->slot = slot;
    c->node = -1;
    c->parent = parent;
    c->label = label;
    c->nb = c->nnb = NEG_INF;
    c->emitting = 0;
    c->dirty = 1;
    c->pending = 0;
    return k;
}

/* The candidate for prefix (parent, label), created empty if new; -1 if the table is full. */
static int cand_get(ctc_beam *d, int parent, int label)
{
    unsigned slot;
    int k = cand_find(d, parent, label, &slot);
    return k >= 0 ? k : cand_new(d, slot, parent, label);
}

/* The cache entry of (ctx, w) (ctx, n_ctx reduced to the words it keys on); *hit: it holds them. */
static lm_cache_entry *lm_cache_find(ctc_beam *d, const uint32_t **ctx, int *n_ctx, uint32_t w, int *hit)
{
    int used = asr_lm_order(d->lm) - 1;
    if (used > *n_ctx)
        used = *n_ctx;
    *ctx += *n_ctx - used;
    *n_ctx = used;
    uint64_t h = (uint64_t)w * 0x9e3779b97f4a7c15ULL + (uint64_t)used;
    for (int i = 0; i < used; i++)
        h = (h ^ (*ctx)[i]) * 0xff51afd7ed558ccdULL;
    lm_cache_entry *e = &d->lm_cache[(h >> 40) & (LM_CACHE_SIZE - 1)];
    *hit = e->w == w && e->n_ctx == used && memcmp(e->ctx, *ctx, (size_t)used * sizeof **ctx) == 0;
    return e;
}

/* Starts loading what lm_score(d, ctx, n_ctx, w) will read from the LM, unless it is cached. */
static void lm_prefetch(ctc_beam *d, const uint32_t *ctx, int n_ctx, uint32_t w)
{
    int hit;
    if (!d->reference && (lm_cache_find(d, &ctx, &n_ctx, w, &hit), !hit))
        asr_lm_prefetch(d->lm, ctx, n_ctx, w);
}

/* asr_lm_score through the decoder's cache (see lm_cache_entry). */
static float lm_score(ctc_beam *d, const uint32_t *ctx, int n_ctx, uint32_t w)
{
    if (d->reference)
        return asr_lm_score(d->lm, ctx, n_ctx, w);
    int hit, used = n_ctx;
    lm_cache_entry *e = lm_cache_find(d, &ctx, &used, w, &hit);
    if (hit)
        return e->logp;
    e->w = w;
    e->n_ctx = used;
    memcpy(e->ctx, ctx, (size_t)used * sizeof *ctx);
    e->logp = asr_lm_score(d->lm, ctx, used, w);
    return e->logp;
}

/* The LM word (ASR_LM_NONE: none, or no LM) that the word ending at trie node lex closes as, and
 * into *s its score but the LM's part: -inf if closed vocabulary forbids the word. */
static uint32_t close_word(const ctc_beam *d, int lex, float *s)
{
    *s = d->p.word_bonus;
    uint32_t w = ASR_LM_NONE;
    if (d->lm) {
        if (lex >= 0)
            w = d->lex->nodes[lex].word;
        if (w == ASR_LM_NONE) {
            if (d->p.closed_vocab) {
                *s = NEG_INF;
                return ASR_LM_NONE;
            }
            if (lex >= 0) /* a prefix of vocabulary words; one that left the trie paid already */
                *s += d->p.unk_penalty;
            w = d->unk;
        }
    }
    return w;
}

/* Score (natural log, weighted, bonus included) of closing the word of node-like state
 * (lex, ctx); returns -inf if closed vocabulary forbids the word. *w: close_word's. */
static float close_score(ctc_beam *d, int lex, const uint32_t *ctx, int n_ctx, uint32_t *w_out)
{
    float s;
    uint32_t w = *w_out = close_word(d, lex, &s);
    if (w != ASR_LM_NONE)
        s += d->p.lm_weight * LN10 * lm_score(d, ctx, n_ctx, w);
    return s;
}

/* Starts loading the LM entries node_close(d, n, ...) will read. */
static void node_prefetch(ctc_beam *d, const bnode *n)
{
    float s;
    uint32_t w;
    if (!n->close_ok && (w = close_word(d, n->lex, &s)) != ASR_LM_NONE)
        lm_prefetch(d, n->ctx, n->n_ctx, w);
}

/* The LM context after closing word w (close_score's) in context ctx, into out_ctx; returns its
 * length: ctx + w, last MAX_CTX words; an unknown word without <unk> clears it. */
static int close_ctx(const ctc_beam *d, const uint32_t *ctx, int n_ctx, uint32_t w, uint32_t *out_ctx)
{
    int n = 0;
    if (d->lm && w != ASR_LM_NONE) {
        int keep = n_ctx < MAX_CTX ? n_ctx : MAX_CTX - 1;
        for (int i = n_ctx - keep; i < n_ctx; i++)
            out_ctx[n++] = ctx[i];
        out_ctx[n++] = w;
    }
    return n;
}

/* close_score of node n's word and the context after it (into out_ctx, length *out_n). A node's
 * word and context never change, so its score is computed once (bypassed by the reference). */
static float node_close(ctc_beam *d, bnode *n, uint32_t *out_ctx, int *out_n)
{
    float s;
    uint32_t w;
    if (d->reference) {
        s = close_score(d, n->lex, n->ctx, n->n_ctx, &w);
    } else {
        if (!n->close_ok) {
            n->close_s = close_score(d, n->lex, n->ctx, n->n_ctx, &n->close_w);
            n->close_ok = 1;
        }
        s = n->close_s;
        w = n->close_w;
    }
    s -= n->la; /* the word's real score replaces its lookahead */
    *out_n = close_ctx(d, n->ctx, n->n_ctx, w, out_ctx);
    return s;
}

static int cmp_score_desc(const void *a, const void *b, void *arg)
{
    const cand *c = arg;
    float x = c[*(const int *)a].score, y = c[*(const int *)b].score;
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b; /* deterministic */
}

/* A key whose unsigned order is the rank order cmp_score_desc sorts by (higher score first,
 * then lower index): the score's bits made monotone, then the complemented index. score is
 * finite or +inf (never NaN or -inf here). */
static inline uint64_t rank_key(float score, int i)
{
    uint32_t u;
    if (score == 0)
        score = 0; /* -0 ranks as +0, as the float comparison does */
    memcpy(&u, &score, sizeof u);
    u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
    return (uint64_t)u << 32 | (uint32_t) ~(uint32_t)i;
}

/* Adds key x to keys[0..*m), the k best keys so far, highest first (keys are distinct: the
 * index is in them); drops the lowest when full. Inserting the candidates' rank keys one by one
 * leaves the k best as a full sort by cmp_score_desc would. The stays come first, nearly in the
 * list's order already (the last beam's), so most go to its end; the rest cost a binary search
 * and a short move. */
static void top_insert(uint64_t *keys, int *m, int k, uint64_t x)
{
    int n = *m;
    if (n == k) {
        if (x < keys[k - 1])
            return;
        n--;
    }
    int lo = n;
    if (n > 0 && keys[n - 1] < x) { /* lo = how many keys are higher: a branch-free binary search */
        int step = 1;
        while (step * 2 <= n)
            step *= 2;
        lo = 0;
        for (; step > 0; step /= 2) {
            int probe = lo + step <= n ? lo + step - 1 : n - 1;
            lo += keys[probe] > x && lo + step <= n ? step : 0;
        }
        memmove(keys + lo + 1, keys + lo, (size_t)(n - lo) * sizeof *keys);
    }
    keys[lo] = x;
    *m = n + 1;
}

/* Fills d->lex_next[label] with the child of trie node `node` by each of the n tried labels (-1 for
 * none): one pass over the node's edges instead of one per label. */
static void lex_next_fill(ctc_beam *d, int first, int n_edges, int n)
{
    for (int j = 0; j < n; j++)
        d->lex_next[d->tried[j]] = -1;
    const lex_edge *e = &d->lex->edges[first];
    for (int i = 0; i < n_edges; i++) { /* labels not tried are written too, never read */
        d->lex_next[e[i].label] = e[i].child;
        d->lex_next_la[e[i].label] = d->la_scale * e[i].la;
    }
}

/* Creates the new candidate (x, label) in the slot cand_find gave: one path of log-probability
 * ext, LM part lm, trie node lex, LM context ctx. */
static cand *cand_extend(ctc_beam *d, unsigned slot, int x, int label, float emit_lp, float ext, float lm,
                         float la, int lex, const uint32_t *ctx, int n_ctx)
{
    int ci = cand_new(d, slot, x, label);
    if (ci < 0) {
        d->status = ASR_ERR_NOMEM; /* cannot happen: cands_cap bounds every frame */
        return NULL;
    }
    cand *c = &d->cands[ci];
    c->emit_lp = emit_lp;
    c->lm = lm;
    c->la = la;
    memcpy(c->ctx, ctx, sizeof c->ctx);
    c->n_ctx = n_ctx;
    c->lex = lex;
    c->in_word = label != d->space;
    c->nnb = merge(d, NEG_INF, ext);
    return c;
}

/* Labels to try at this frame, into d->tried; returns how many. *sorted: they are in
 * non-increasing log-probability; *space_j: position of the space label among them, or -1. */
static int pick_labels(ctc_beam *d, const float *lp, int *sorted_out, int *space_out)
{
    /* Labels to try: posterior >= char_prune, best first, at most max_chars; the frame's argmax
     * (if not blank) always, so beam 1 can follow the greedy path. */
    int n_tried = 0;
    float thr = d->p.char_prune > 0 ? logf(d->p.char_prune) : NEG_INF;
    int best_label = 0;
    for (int k = 1; k < d->n_labels; k++) {
        if (lp[k] > lp[best_label])
            best_label = k;
        if (!(lp[k] >= thr))
            continue;
        int pos = n_tried++;
        while (pos > 0 && lp[d->tried[pos - 1]] < lp[k]) {
            d->tried[pos] = d->tried[pos - 1];
            pos--;
        }
        d->tried[pos] = k;
    }
    if (n_tried > d->p.max_chars)
        n_tried = d->p.max_chars;
    if (best_label != 0 && (n_tried == 0 || d->tried[0] != best_label))
        d->tried[n_tried == d->p.max_chars ? n_tried - 1 : n_tried++] = best_label;
    /* Early stopping needs the labels in non-increasing log-probability (the argmax appended
     * above, or NaNs, could break that). */
    int sorted = 1, space_j = -1; /* space_j: position of the space label in tried */
    for (int j = 0; j < n_tried; j++) {
        if (j > 0 && !(lp[d->tried[j]] <= lp[d->tried[j - 1]]))
            sorted = 0;
        if (d->tried[j] == d->space)
            space_j = j;
    }
    *sorted_out = sorted;
    *space_out = space_j;
    return n_tried;
}

/* (1) Every beam member registers its stay candidate (blank and repeat paths). */
static void add_stays(ctc_beam *d, const float *lp)
{
    for (int b = 0; b < d->n_beam; b++) {
        int x = d->beam[b];
        bnode *n = &d->nodes[x];
        int ci = cand_get(d, n->parent, n->label);
        cand *c = &d->cands[ci];
        c->node = x;
        float tot = d->tot[b] = n->tot;
        if (n->in_word && n->lex_n > 0) /* add_extensions reads them (lex_next_fill) */
            __builtin_prefetch(&d->lex->edges[n->lex_first]);
        float by_blank = tot + lp[0];
        c->nb = merge(d, c->nb, by_blank);
        if (n->label != 0) {
            float by_rep = n->pnb + lp[n->label];
            c->nnb = merge(d, c->nnb, by_rep);
            if (n->in_word && by_rep > by_blank)
                c->emitting = 1;
        }
        c->lm = n->lm;
        if (n->parent >= 0)
            d->nodes[n->parent].beam_kids++;
    }
}

/* The pruning floor (see the top of the file) when the beam-th best candidate scores at least kth
 * and the best at least best, NEG_INF for none. */
static float floor_of(const ctc_beam *d, float kth, float best)
{
    float floor_s = kth;
    if (d->p.beam_delta > 0 && best - d->p.beam_delta > floor_s)
        floor_s = best - d->p.beam_delta;
    if (floor_s > NEG_INF)
        floor_s -= PRUNE_SLACK_ABS + PRUNE_SLACK_REL * fabsf(floor_s);
    if (!(floor_s < INFINITY)) /* NaN or +inf (from +inf log-probabilities): no pruning */
        floor_s = NEG_INF;
    return floor_s;
}

/* The pruning floor after (1) (see the top of the file), NEG_INF for none; scores the stays. */
static float pruning_floor(ctc_beam *d)
{
    /* Every survivor of (3) will score at least this, so a new candidate below it cannot
     * survive. */
    if (d->reference)
        return NEG_INF;
    float hi = NEG_INF, lo = INFINITY;
    int n_num = 0; /* stays with a score that is a number (a NaN one is never kept) */
    for (int i = 0; i < d->n_cands; i++) {
        cand *c = &d->cands[i];
        c->tot = merge(d, c->nb, c->nnb);
        float sc = c->score = c->tot + c->lm;
        c->dirty = 0; /* (3) recomputes it only if an extension merges in */
        if (sc == sc) {
            n_num++;
            hi = sc > hi ? sc : hi;
            lo = sc < lo ? sc : lo;
        }
    }
    /* a stay per member, <= beam: with beam of them the lowest is the beam-th */
    return floor_of(d, n_num >= d->p.beam ? lo : NEG_INF, hi);
}

/* (2) Every member is extended by the tried labels (n_tried of them, sorted / space_j as
 * pick_labels says); new candidates scoring below floor_s are not created. */
static void add_extensions(ctc_beam *d, const float *lp, int n_tried, int sorted, int space_j, float floor_s)
{
    /* The most a new candidate's LM part can exceed its parent's: a letter may pay unk_penalty,
     * a space adds word_bonus, maybe unk_penalty, and lm_weight * ln 10 * log10 p <= 0 (assumed,
     * see the top of the file; no bound with a negative weight). */
    float gain_letter = d->lex && !d->p.closed_vocab && d->p.unk_penalty > 0 ? d->p.unk_penalty : 0;
    float gain_space = d->p.word_bonus + gain_letter;
    if (d->lm && !(d->p.lm_weight >= 0))
        gain_space = INFINITY;
    /* A new word close's LM look-up (a cache and TLB miss in a large model, each time a word is
     * first seen in a context) can wait for (3), where the floor is final and most fail it. */
    int defer = d->lm && !d->reference && gain_space < INFINITY;
    for (int b = 0; b < d->n_beam; b++) {
        int x = d->beam[b];
        bnode *n = &d->nodes[x];
        float tot = d->tot[b];
        if (space_j >= 0 && !n->in_word) {
            /* No empty words: a space at the start or after a space leaves the prefix as is. */
            float ls = lp[d->space];
            cand *c = &d->cands[cand_get(d, n->parent, n->label)];
            if (n->label == d->space) /* its pnb path is the repeat counted in (1) */
                c->nnb = merge(d, c->nnb, n->pb + ls);
            else
                c->nb = merge(d, c->nb, tot + ls);
            c->dirty = 1;
        }
        int kids = n->beam_kids;                            /* existing candidates (x, label) still to meet */
        int letters_pruned = 0;                             /* no later letter can make a new candidate */
        int from = n->in_word ? n->lex : (d->lex ? 0 : -1); /* trie node a letter goes from */
        int next_read = 0;                                  /* d->lex_next holds from's children */
        /* Leaving the vocabulary drops the partial word's lookahead (n->la <= 0): its gain. */
        float gain_letter_n = gain_letter;
        if (from >= 0 && !d->p.closed_vocab && d->p.unk_penalty - n->la > gain_letter_n)
            gain_letter_n = d->p.unk_penalty - n->la;
        for (int j = 0; j < n_tried; j++) {
            int c_lab = d->tried[j];
            int is_space = c_lab == d->space;
            if (is_space && !n->in_word)
                continue; /* above */
            float ext = (c_lab == n->label ? n->pb : tot) + lp[c_lab];
            unsigned slot;
            int ci = cand_find(d, x, c_lab, &slot);
            if (ci >= 0) {
                kids--;
                cand *c = &d->cands[ci];
                c->nnb = merge(d, c->nnb, ext);
                c->dirty = 1;
            } else if (is_space) {
                /* Bound first: the exact word score is an LM look-up. */
                if (ext + n->lm - n->la + gain_space < floor_s)
                    continue;
                uint32_t ctx[MAX_CTX] = {0};
                int n_ctx = 0;
                if (defer && !n->close_ok) {
                    /* With the bound as its LM part for now: select_beam looks it up if it can
                     * still be kept then. */
                    cand *c = cand_extend(d, slot, x, c_lab, lp[c_lab], ext, n->lm - n->la + gain_space, 0,
                                          d->lex ? 0 : -1, ctx, n_ctx);
                    if (c)
                        c->pending = 1;
                    continue;
                }
                float lm = n->lm + node_close(d, n, ctx, &n_ctx);
                if (ext + lm < floor_s)
                    continue;
                cand_extend(d, slot, x, c_lab, lp[c_lab], ext, lm, 0, d->lex ? 0 : -1, ctx, n_ctx);
            } else if (!letters_pruned) {
                if (tot + lp[c_lab] + n->lm + gain_letter_n < floor_s) {
                    /* This letter's bound fails, so do those of the later (less likely) ones. */
                    letters_pruned = sorted;
                    continue;
                }
                if (from >= 0 && !next_read) {
                    if (n->in_word)
                        lex_next_fill(d, n->lex_first, n->lex_n, n_tried);
                    else /* the trie's root */
                        lex_next_fill(d, d->lex->nodes[0].first, d->lex->nodes[0].n, n_tried);
                    next_read = 1;
                }
                int lex = from >= 0 ? d->lex_next[c_lab] : -1;
                float lm = n->lm, la = 0;
                if (from >= 0 && lex < 0) /* the partial word leaves the vocabulary (and its lookahead) */
                    lm = d->p.closed_vocab ? NEG_INF : lm - n->la + d->p.unk_penalty;
                else if (lex >= 0 && d->la_scale > 0) /* <= n->la: a subtree of the parent's */
                    lm += (la = d->lex_next_la[c_lab]) - n->la;
                if (ext + lm < floor_s)
                    continue;
                if (lex >= 0) /* select_beam reads it if the candidate survives (node_set_lex) */
                    __builtin_prefetch(&d->lex->nodes[lex]);
                cand_extend(d, slot, x, c_lab, lp[c_lab], ext, lm, la, lex, n->ctx, n->n_ctx);
            }
            if (letters_pruned && kids <= 0 && !(n->in_word && space_j > j))
                break; /* nothing left to do for this member */
        }
    }
    for (int b = 0; b < d->n_beam; b++) {
        int parent = d->nodes[d->beam[b]].parent;
        if (parent >= 0)
            d->nodes[parent].beam_kids = 0;
    }
}

/* Looks up the LM score of the pending candidates (the last n_pending of d->order) that can still
 * be kept against the other candidates (*m best rank keys in d->keys, best the best score), and
 * adds those to the keys. Returns the best score. */
static float resolve_pending(ctc_beam *d, int n_pending, int *m, float best)
{
    if (n_pending == 0)
        return best;
    float kth = *m == d->p.beam ? d->cands[(int)~(uint32_t)d->keys[*m - 1]].score : NEG_INF;
    float floor_s = floor_of(d, kth, best);
    int n_left = 0; /* those whose bound holds, moved to the front of the pending ones */
    int *pend = d->order + d->n_cands - n_pending;
    for (int r = 0; r < n_pending; r++) {
        cand *c = &d->cands[pend[r]];
        if (c->score >= floor_s) { /* else its bound already fails (a NaN one is never kept) */
            pend[n_left++] = pend[r];
            node_prefetch(d, &d->nodes[c->parent]); /* their look-ups' misses overlap */
        }
    }
    for (int r = 0; r < n_left; r++) {
        int i = pend[r];
        cand *c = &d->cands[i];
        bnode *n = &d->nodes[c->parent];
        c->lm = n->lm + node_close(d, n, c->ctx, &c->n_ctx);
        c->score = c->tot + c->lm;
        if (c->score > NEG_INF) {
            top_insert(d->keys, m, d->p.beam, rank_key(c->score, i));
            if (c->score > best)
                best = c->score;
        }
    }
    return best;
}

/* (3) The best `beam` candidates become the new beam (nodes created for new survivors, the old
 * beam released); t is this frame. */
static void select_beam(ctc_beam *d, const float *lp, long t)
{
    float best = NEG_INF;
    int n_ok = 0, n_pending = 0; /* pending candidates go to the end of d->order */
    for (int i = 0; i < d->n_cands; i++) {
        cand *c = &d->cands[i];
        if (c->dirty) {
            c->tot = merge(d, c->nb, c->nnb);
            c->score = c->tot + c->lm;
        }
        if (c->pending) {
            d->order[d->n_cands - ++n_pending] = i;
        } else if (c->score > NEG_INF) {
            d->order[n_ok++] = i;
            if (c->score > best)
                best = c->score;
        }
    }
    int keep = n_ok < d->p.beam ? n_ok : d->p.beam;
    if (d->reference) {
        qsort_r(d->order, (size_t)n_ok, sizeof *d->order, cmp_score_desc, d->cands);
    } else {
        int m = 0;
        for (int r = 0; r < n_ok; r++)
            top_insert(d->keys, &m, d->p.beam, rank_key(d->cands[d->order[r]].score, d->order[r]));
        best = resolve_pending(d, n_pending, &m, best);
        for (int r = 0; r < m; r++)
            d->order[r] = (int)~(uint32_t)d->keys[r];
        keep = m;
    }
    if (d->p.beam_delta > 0)
        while (keep > 1 && d->cands[d->order[keep - 1]].score < best - d->p.beam_delta)
            keep--;
    /* Mark survivors' nodes, create new ones; then release the old beam. */
    int *old = d->old;
    int n_old = d->n_beam;
    memcpy(old, d->beam, (size_t)n_old * sizeof *old);
    d->n_beam = 0;
    for (int r = 0; r < keep; r++) {
        cand *c = &d->cands[d->order[r]];
        int x = c->node;
        if (x < 0) {
            x = node_alloc(d);
            if (x < 0) {
                d->status = ASR_ERR_NOMEM;
                continue;
            }
            bnode *n = &d->nodes[x];
            n->parent = c->parent;
            n->refs = 0;
            n->label = c->label;
            node_set_lex(d, n, c->lex);
            n->close_ok = 0;
            n->in_word = c->in_word;
            n->beam_kids = 0;
            n->t_first = n->t_last = t;
            n->conf_sum = exp((double)c->emit_lp);
            n->conf_n = 1;
            n->lm = c->lm;
            n->la = c->la;
            memcpy(n->ctx, c->ctx, sizeof n->ctx);
            n->n_ctx = c->n_ctx;
            d->nodes[c->parent].refs++;
        } else if (c->emitting) {
            bnode *n = &d->nodes[x];
            n->t_last = t;
            n->conf_sum += exp((double)lp[n->label]);
            n->conf_n++;
        }
        d->nodes[x].refs++;
        d->nodes[x].pb = c->nb;
        d->nodes[x].pnb = c->nnb;
        d->nodes[x].tot = c->tot;
        d->beam[d->n_beam++] = x;
    }
    for (int i = 0; i < n_old; i++)
        node_release(d, old[i]);
    for (int i = 0; i < d->n_cands; i++)
        d->hash[d->cands[i].slot] = 0;
    if (d->n_beam == 0) /* only after a memory failure: keep the search alive from the root */
        new_utterance(d);
}

void ctc_beam_push(ctc_beam *d, const float *lp)
{
    long t = d->t++;
    d->n_cands = 0;
    int sorted, space_j;
    int n_tried = pick_labels(d, lp, &sorted, &space_j);
    add_stays(d, lp);
    float floor_s = pruning_floor(d);
    add_extensions(d, lp, n_tried, sorted, space_j, floor_s);
    select_beam(d, lp, t);
}

/* Fills d->path with the nodes root..x (exclusive of the root); returns its length or -1. */
static int build_path(ctc_beam *d, int x)
{
    int len = 0;
    for (int i = x; d->nodes[i].parent >= 0; i = d->nodes[i].parent)
        len++;
    if (len > d->path_cap) {
        int cap = len * 2;
        int *np = realloc(d->path, (size_t)cap * sizeof *np);
        if (!np)
            return -1;
        d->path = np;
        d->path_cap = cap;
    }
    int k = len;
    for (int i = x; k > 0; i = d->nodes[i].parent)
        d->path[--k] = i;
    return len;
}

/* Text of the path (spaces between words, none trailing) into d->text. */
static int path_text(ctc_beam *d, int len)
{
    if ((size_t)len + 1 > d->text_cap) {
        size_t cap = (size_t)len * 2 + 1;
        char *nt = realloc(d->text, cap);
        if (!nt)
            return -1;
        d->text = nt;
        d->text_cap = cap;
    }
    size_t n = 0;
    for (int i = 0; i < len; i++)
        d->text[n++] = d->labels[d->nodes[d->path[i]].label];
    while (n > 0 && d->text[n - 1] == ' ')
        n--;
    d->text[n] = '\0';
    return 0;
}

static int best_member(const ctc_beam *d)
{
    int best = d->beam[0];
    float bs = NEG_INF;
    for (int b = 0; b < d->n_beam; b++) {
        const bnode *n = &d->nodes[d->beam[b]];
        float s = n->tot + n->lm;
        if (s > bs) {
            bs = s;
            best = d->beam[b];
        }
    }
    return best;
}

const char *ctc_beam_partial(ctc_beam *d)
{
    int len = build_path(d, best_member(d));
    if (len < 0 || path_text(d, len) != 0) {
        d->status = ASR_ERR_NOMEM;
        return "";
    }
    return d->text;
}

asr_status ctc_beam_final(ctc_beam *d, asr_result *out)
{
    memset(out, 0, sizeof *out);
    if (d->status != ASR_OK)
        goto fail;
    /* Close each hypothesis' last word, add </s>, pick the best. */
    int best = -1, fallback = d->beam[0];
    float bs = NEG_INF, fs = NEG_INF;
    for (int b = 0; b < d->n_beam; b++) {
        bnode *n = &d->nodes[d->beam[b]];
        float s = n->tot + n->lm;
        if (s > fs) {
            fs = s;
            fallback = d->beam[b];
        }
        uint32_t ctx[MAX_CTX];
        int n_ctx = n->n_ctx;
        memcpy(ctx, n->ctx, sizeof ctx);
        if (n->in_word)
            s += node_close(d, n, ctx, &n_ctx);
        if (d->lm && d->p.use_eos && d->eos != ASR_LM_NONE && s > NEG_INF)
            s += d->p.lm_weight * LN10 * lm_score(d, ctx, n_ctx, d->eos);
        if (s > bs) {
            bs = s;
            best = d->beam[b];
        }
    }
    int drop_last = 0;
    if (best < 0) { /* closed vocabulary and every hypothesis ends inside a non-word */
        best = fallback;
        drop_last = d->nodes[best].in_word;
    }
    int len = build_path(d, best);
    if (len < 0 || path_text(d, len) != 0)
        goto fail;
    /* Words: runs of letters. */
    int n_words = 0;
    for (int i = 0; i < len; i++)
        if (d->nodes[d->path[i]].in_word && (i == 0 || !d->nodes[d->path[i - 1]].in_word))
            n_words++;
    if (drop_last && n_words > 0) {
        n_words--;
        while (len > 0 && d->nodes[d->path[len - 1]].in_word)
            len--;
        if (path_text(d, len) != 0)
            goto fail;
    }
    /* path_text wrote one byte per path node, so a word's nodes i..j-1 are its bytes i..j-1. */
    ctc_word_span *spans = n_words > 0 ? malloc((size_t)n_words * sizeof *spans) : NULL;
    if (n_words > 0 && !spans)
        goto fail;
    int w = 0;
    for (int i = 0; i < len;) {
        if (!d->nodes[d->path[i]].in_word) {
            i++;
            continue;
        }
        ctc_word_span *sp = &spans[w++];
        sp->off = (size_t)i;
        sp->first = d->nodes[d->path[i]].t_first;
        sp->conf_sum = 0;
        sp->conf_n = 0;
        int j = i;
        while (j < len && d->nodes[d->path[j]].in_word) {
            sp->conf_sum += d->nodes[d->path[j]].conf_sum;
            sp->conf_n += d->nodes[d->path[j]].conf_n;
            j++;
        }
        sp->len = (size_t)(j - i);
        sp->last = d->nodes[d->path[j - 1]].t_last;
        i = j;
    }
    asr_status st = ctc_result_make(out, d->text, spans, n_words, d->frame_ms);
    free(spans);
    if (st != ASR_OK)
        goto fail;
    new_utterance(d);
    return ASR_OK;
fail:
    asr_result_free(out);
    d->status = ASR_OK;
    new_utterance(d);
    return ASR_ERR_NOMEM;
}
