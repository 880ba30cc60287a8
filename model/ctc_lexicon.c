/* ctc_lexicon.c - the vocabulary trie of the beam search (see ctc_beam.h): one path of labels per LM
 * word spelt in the model's alphabet, built from the LM's vocabulary and laid out as sorted edge
 * arrays (ctc_lexicon.h) that ctc_beam.c walks one label at a time.
 */
#include "ctc_lexicon.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Building: first-child / next-sibling links, then laid out as the edge arrays. Nodes are
 * numbered in creation order while the words are added in LM id order, whichever way a word's
 * path is found, so the trie is the same node for node. The links cost 12 bytes a node where a
 * dense (node, label) table cost 4 * n_labels, which at start-up was mostly page faults. Both the
 * links and the laid-out trie (~6 MB for the CMU vocabulary) are asr_big_alloc memory: page by
 * page, filling them took ~1,500 page faults, ~18 ms of the daemon's start-up on a virtual
 * machine; on huge pages, a few. */
typedef struct lex_bnode {
    int child, sibling, label;
    uint32_t word;
} lex_bnode;

typedef struct lex_builder {
    lex_bnode *b;
    int n, cap;
    int label_of[256]; /* byte -> label, -1: not in the alphabet (space is the word separator) */
} lex_builder;

/* A new node with label l, pushed at the head of parent's child list (the layout sorts them);
 * -1 on no memory. */
static int lex_new_node(lex_builder *lb, int parent, int l)
{
    if (lb->n == lb->cap) {
        lex_bnode *nb = lb->cap <= INT_MAX / 2 ? asr_big_alloc((size_t)lb->cap * 2 * sizeof *nb) : NULL;
        if (!nb)
            return -1;
        memcpy(nb, lb->b, (size_t)lb->n * sizeof *nb);
        asr_big_free(lb->b);
        lb->b = nb;
        lb->cap *= 2;
    }
    int ch = lb->n++;
    lb->b[ch] = (lex_bnode){-1, lb->b[parent].child, l, ASR_LM_NONE};
    lb->b[parent].child = ch;
    return ch;
}

/* Length of w if every byte of it is a label, else 0. */
static size_t lex_spelt(const lex_builder *lb, const char *w)
{
    const char *c = w;
    while (*c && lb->label_of[(unsigned char)*c] > 0)
        c++;
    return *c ? 0 : (size_t)(c - w);
}

/* Vocabularies sorted by bytes (ARPA files usually are; the CMU model is): a word shares its
 * path with the previous spellable word up to their common prefix, and the rest is new (sorted
 * input puts every word with a given prefix together). No search at all. Returns 0, 1 when the
 * vocabulary turns out unsorted (the caller starts over with lex_add_any), -1 on no memory. */
static int lex_add_sorted(lex_builder *lb, const asr_lm *lm, int *n_words)
{
    enum { MAXW = 1024 };
    int path[MAXW + 1]; /* path[d]: node after d bytes of prev */
    const char *prev = NULL;
    size_t prev_len = 0;
    uint32_t nw = asr_lm_vocab_size(lm);
    path[0] = 0;
    for (uint32_t id = 0; id < nw; id++) {
        const char *w = asr_lm_word(lm, id);
        size_t len = lex_spelt(lb, w);
        if (len == 0)
            continue;
        if (len > MAXW)
            return 1;
        size_t d = 0;
        if (prev) {
            while (d < len && d < prev_len && w[d] == prev[d])
                d++;
            /* Strictly after prev, else not sorted (a repeat spelling ends like one too). */
            if (d == len || (d < prev_len && (unsigned char)w[d] < (unsigned char)prev[d]))
                return 1;
        }
        for (size_t k = d; k < len; k++) {
            int ch = lex_new_node(lb, path[k], lb->label_of[(unsigned char)w[k]]);
            if (ch < 0)
                return -1;
            path[k + 1] = ch;
        }
        lb->b[path[len]].word = id;
        (*n_words)++;
        prev = w;
        prev_len = len;
    }
    return 0;
}

/* Any order: each letter's child is looked up in its parent's list. 0, or -1 on no memory. */
static int lex_add_any(lex_builder *lb, const asr_lm *lm, int *n_words)
{
    uint32_t nw = asr_lm_vocab_size(lm);
    for (uint32_t id = 0; id < nw; id++) {
        const char *w = asr_lm_word(lm, id);
        size_t len = lex_spelt(lb, w);
        if (len == 0)
            continue;
        int node = 0;
        for (size_t k = 0; k < len; k++) {
            int l = lb->label_of[(unsigned char)w[k]];
            int ch = lb->b[node].child;
            while (ch >= 0 && lb->b[ch].label != l)
                ch = lb->b[ch].sibling;
            if (ch < 0 && (ch = lex_new_node(lb, node, l)) < 0)
                return -1;
            node = ch;
        }
        if (lb->b[node].word == ASR_LM_NONE)
            (*n_words)++;
        lb->b[node].word = id;
    }
    return 0;
}

/* The edges' LM lookahead (lex_edge.la): best[x] = the highest unigram log10 p of a word at or
 * below node x. Every child is numbered after its parent (both builders create a node after its
 * parent), so one pass from the last node back finishes each node's children before the node.
 * 0, or -1 on no memory. */
static int lex_lookahead(ctc_lexicon *lx, const asr_lm *lm)
{
    int n = lx->n_nodes;
    float *best = asr_big_alloc((size_t)n * sizeof *best); /* huge pages, as the trie (above) */
    if (!best)
        return -1;
    for (int x = n - 1; x >= 0; x--) {
        const lex_node *nd = &lx->nodes[x];
        float b = nd->word != ASR_LM_NONE ? asr_lm_score(lm, NULL, 0, nd->word) : -INFINITY;
        for (int i = 0; i < nd->n; i++) {
            float c = best[lx->edges[nd->first + i].child];
            b = c > b ? c : b;
        }
        best[x] = b;
    }
    for (int i = 0; i + 1 < n; i++) {
        float c = best[lx->edges[i].child];
        /* c <= best[0], so la <= 0 (a node without a finite unigram below gets 0). */
        lx->edges[i].la = c > -INFINITY ? c - best[0] : 0;
    }
    asr_big_free(best);
    return 0;
}

ctc_lexicon *ctc_lexicon_create(const asr_lm *lm, const char *alphabet, int n_labels, asr_error *err)
{
    ctc_lexicon *lx = NULL;
    lex_builder lb;
    lb.n = 1;
    lb.cap = 1 << 12;
    while ((uint32_t)lb.cap < asr_lm_vocab_size(lm) * 3u && lb.cap < (1 << 26))
        lb.cap *= 2; /* ~3 nodes a word in English vocabularies: usually no realloc */
    for (int i = 0; i < 256; i++)
        lb.label_of[i] = -1;
    for (int k = 1; k < n_labels; k++)
        if (alphabet[k - 1] != ' ')
            lb.label_of[(unsigned char)alphabet[k - 1]] = k;
    lb.b = asr_big_alloc((size_t)lb.cap * sizeof *lb.b);
    lx = calloc(1, sizeof *lx);
    if (!lb.b || !lx)
        goto nomem;
    lb.b[0] = (lex_bnode){-1, -1, -1, ASR_LM_NONE};
    int r = lex_add_sorted(&lb, lm, &lx->n_words);
    if (r == 1) { /* not sorted: start over */
        lb.n = 1;
        lb.b[0] = (lex_bnode){-1, -1, -1, ASR_LM_NONE};
        lx->n_words = 0;
        r = lex_add_any(&lb, lm, &lx->n_words);
    }
    if (r < 0)
        goto nomem;
    if (lx->n_words == 0) {
        asr_error_set(err, ASR_ERR_ARG, "lexicon: no LM word is spelt in the model's alphabet");
        goto fail;
    }
    int n = lb.n;
    /* One block: nodes, then edges (a multiple of 4 bytes apart, so aligned for them). */
    size_t node_bytes = (size_t)n * sizeof *lx->nodes;
    lx->nodes = asr_big_alloc(node_bytes + (size_t)(n > 1 ? n - 1 : 1) * sizeof *lx->edges);
    if (!lx->nodes)
        goto nomem;
    lx->edges = (lex_edge *)(void *)((unsigned char *)lx->nodes + node_bytes);
    int e = 0;
    for (int i = 0; i < n; i++) {
        lx->nodes[i].first = e;
        lx->nodes[i].word = lb.b[i].word;
        /* The children, sorted by label (insertion: a node has at most n_labels of them). */
        for (int ch = lb.b[i].child; ch >= 0; ch = lb.b[ch].sibling) {
            lex_edge x = {lb.b[ch].label, ch, 0};
            int j = e++;
            while (j > lx->nodes[i].first && lx->edges[j - 1].label > x.label) {
                lx->edges[j] = lx->edges[j - 1];
                j--;
            }
            lx->edges[j] = x;
        }
        lx->nodes[i].n = e - lx->nodes[i].first;
    }
    lx->n_nodes = n;
    if (lex_lookahead(lx, lm) < 0)
        goto nomem;
    asr_big_free(lb.b);
    return lx;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "lexicon: out of memory");
fail:
    asr_big_free(lb.b);
    ctc_lexicon_destroy(lx);
    return NULL;
}

void ctc_lexicon_destroy(ctc_lexicon *lx)
{
    if (!lx)
        return;
    asr_big_free(lx->nodes); /* the edges are in the same block */
    free(lx);
}

int ctc_lexicon_words(const ctc_lexicon *lx)
{
    return lx->n_words;
}
