/* pdict.h - a pronouncing dictionary in the CMU format, for phone CTC targets in training (the
 * auxiliary phone head, tnet_create_aux); never used by the runtime.
 *
 * File format (cmudict-en-us.dict of Debian's pocketsphinx-en-us): one entry per line, "word PH1
 * PH2 ..." separated by spaces or tabs; alternate pronunciations are "word(2) ..." and are ignored
 * (the first pronunciation of a word is used); a stress digit after a vowel (AH0) is dropped; every
 * phone must be one of the 39 ARPAbet phones of pdict_phone_name. Blank lines and lines starting
 * with ";;;" are skipped. Headwords are normalised like the character targets (asr_text_normalize,
 * model/text.h): an entry whose normalised headword is not exactly one word ("able-bodied" ->
 * "able bodied") is skipped, and a headword already in normalised form wins over one that only
 * normalises to it ("a." -> "a"), whatever their order in the file.
 *
 * Labels: 0 is the CTC blank, 1..39 the phones in pdict_phone_name's order; no word-boundary
 * symbol.
 *
 * Thread safety: a pdict is immutable after pdict_load and may be shared by any number of threads.
 */
#ifndef ASR_TRAIN_PDICT_H
#define ASR_TRAIN_PDICT_H

#include "../../frontend/asr_util.h"

/* CTC classes of the phone head: blank + 39 phones. */
#define PDICT_N_CLASSES 40

typedef struct pdict pdict;

/* Reads the dictionary at path. NULL with *err naming the file (and line for a bad entry). */
pdict *pdict_load(const char *path, asr_error *err);
void pdict_free(pdict *d);

/* Words in the dictionary (distinct normalised headwords). */
int pdict_words(const pdict *d);

/* The ARPAbet name of label 1..39 ("AA" .. "ZH"); NULL for any other value. */
const char *pdict_phone_name(int label);

/* The phone labels of a normalised text (asr_text_normalize output: words of a-z and apostrophes
 * separated by single spaces): the words' pronunciations concatenated, written to labels (at most
 * cap). Returns the number of labels (may exceed cap: then only cap were written), or -1 if a word
 * is not in the dictionary. An empty text gives 0. */
int pdict_text_labels(const pdict *d, const char *text, int *labels, int cap);

#endif
