/* score.c - scores any recogniser's output exactly as `asrd --batch --score` does.
 *
 * Usage: score < PAIRS.tsv
 * Reads lines "reference<TAB>hypothesis" (a missing hypothesis counts as empty), normalises both
 * with asr_text_normalize and counts word and character edits with asr_wer / asr_cer, so
 * pocketsphinx and asrd are measured with one normaliser and one edit distance. Prints one line
 * per input line, "normalised_reference<TAB>normalised_hypothesis<TAB>word_edits<TAB>words<TAB>
 * char_edits<TAB>chars", then "TOTAL word_edits words char_edits chars".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/text.h"

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long we = 0, wn = 0, ce = 0, cn = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *tab = strchr(line, '\t');
        const char *hyp = "";
        if (tab) {
            *tab = '\0';
            hyp = tab + 1;
        }
        char *rn = asr_text_normalize(line), *hn = asr_text_normalize(hyp);
        if (!rn || !hn) {
            fprintf(stderr, "score: out of memory\n");
            free(rn);
            free(hn);
            rc = 1;
            break;
        }
        asr_errors w = asr_wer(rn, hn), c = asr_cer(rn, hn);
        if (w.edits < 0 || c.edits < 0) {
            fprintf(stderr, "score: out of memory\n");
            free(rn);
            free(hn);
            rc = 1;
            break;
        }
        printf("%s\t%s\t%ld\t%ld\t%ld\t%ld\n", rn, hn, w.edits, w.ref_len, c.edits, c.ref_len);
        we += w.edits;
        wn += w.ref_len;
        ce += c.edits;
        cn += c.ref_len;
        free(rn);
        free(hn);
    }
    free(line);
    if (rc == 0)
        printf("TOTAL %ld %ld %ld %ld\n", we, wn, ce, cn);
    return rc;
}
