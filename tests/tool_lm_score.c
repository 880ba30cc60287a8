/* tool_lm_score.c - prints asrd's language model score of word sequences, so converted models can
 * be checked against an independent scorer (e.g. libsphinxbase for model/recipe/sphinx_lm_to_arpa.py).
 *
 * usage: tool_lm_score LM (ARPA or binary image)
 *   reads lines "w1 .. wk" from stdin and prints, per line, log10 p(wk | w1 .. wk-1) as
 *   asr_lm_score computes it (%.6f), or "OOV" if a word is not in the vocabulary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/lm.h"

#define MAX_WORDS 16

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LM < lines of words\n", argv[0]);
        return 2;
    }
    asr_error err = {0};
    asr_lm *lm = asr_lm_open(argv[1], &err);
    if (!lm) {
        fprintf(stderr, "tool_lm_score: %s\n", err.msg);
        return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        uint32_t ids[MAX_WORDS];
        int n = 0, oov = 0;
        for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w && n < MAX_WORDS;
             w = strtok_r(NULL, " \t\r\n", &save)) {
            ids[n] = asr_lm_word_id(lm, w, strlen(w));
            oov |= ids[n] == ASR_LM_NONE;
            n++;
        }
        if (n == 0 || oov)
            puts(n == 0 ? "EMPTY" : "OOV");
        else
            printf("%.6f\n", asr_lm_score(lm, ids, n - 1, ids[n - 1]));
    }
    asr_lm_free(lm);
    return 0;
}
