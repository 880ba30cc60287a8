/* ctc_lexicon.h - the vocabulary trie's layout, shared by its builder (ctc_lexicon.c) and the beam
 * search that walks it (ctc_beam.c). Private to model/ctc_*.c: callers use the opaque ctc_lexicon
 * of ctc_beam.h.
 *
 * Thread safety: a built ctc_lexicon is immutable; any number of searches may read it.
 */
#ifndef ASR_CTC_LEXICON_H
#define ASR_CTC_LEXICON_H

#include <stdint.h>

#include "ctc_beam.h"

typedef struct lex_node {
    int first, n;  /* edges[first .. first+n-1], sorted by label */
    uint32_t word; /* LM id of the word ending here, or ASR_LM_NONE */
} lex_node;

typedef struct lex_edge {
    int label, child;
    float la; /* LM lookahead of the child: log10 of the likeliest LM unigram among the words at or
               * below it, minus the same over the whole trie (<= 0; see ctc_lexicon.c) */
} lex_edge;

struct ctc_lexicon {
    lex_node *nodes; /* (n_nodes); node 0 is the root */
    lex_edge *edges; /* (n_nodes - 1) */
    int n_nodes, n_words;
};

#endif
