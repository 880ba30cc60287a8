/* lm.h - word n-gram language models: ARPA text in, compact memory-mapped binary out.
 *
 * An ARPA file (orders 1..4, back-off weights) is parsed once with a strtod-based parser that
 * names file and line on every error, and turned into one contiguous image:
 *   header      magic "ASRDLM\0\1", version, byte-order mark, order, vocabulary size, <s>/</s>/<unk>
 *               ids, counts and hash-table sizes per order, section offsets, file size, CRC-32 of
 *               the payload and CRC-32 of the header itself
 *   vocabulary  NUL-terminated words (ids in ARPA unigram order), their offsets, an open-addressing
 *               hash table word -> id
 *   unigrams    (n_words) {log10 p, log10 back-off} indexed by word id
 *   orders 2..4 open-addressing hash tables of {64-bit key of the id tuple, log10 p, log10 back-off}
 * The same image is what asr_lm_save writes and what asr_lm_load maps read-only (MAP_SHARED, so many
 * daemon processes share the pages); loading checks magic, version, byte order, the header's
 * checksum, every offset and size against the file size and the vocabulary's structure, and refuses
 * anything else with a message naming the file. Those checks make every query stay inside the file
 * whatever the n-gram tables hold (a crafted file can carry a valid checksum anyway), and they read
 * the header and the vocabulary only, a few MB: the payload checksum, which reads every page of a
 * ~100 MB model and was most of the start-up time, is asr_lm_verify's (the daemon runs it in the
 * background after start-up and stops on a mismatch; `asrd --check` runs it on demand). Keys are 64-bit
 * hashes of (order, ids): two distinct n-grams with the same key are refused at build time; a query for an
 * absent n-gram colliding with a present one (probability ~count/2^64) would read the wrong entry.
 *
 * Scores are log10 probabilities as in ARPA. asr_lm_score backs off as ARPA defines:
 *   p(w | h1..hk) = p(h1..hk w)                           if that n-gram is listed
 *                 = bow(h1..hk) + p(w | h2..hk)           otherwise (bow = 0 if h1..hk is not listed)
 *
 * Thread safety: an asr_lm is immutable after creation; any number of threads may query it.
 */
#ifndef ASR_LM_H
#define ASR_LM_H

#include <stddef.h>
#include <stdint.h>

#include "../frontend/asr_util.h"

#define ASR_LM_MAX_ORDER 4
#define ASR_LM_NONE UINT32_MAX /* "no such word" */

typedef struct asr_lm asr_lm;

/* Parses an ARPA file into memory. NULL with *err = "PATH:LINE: problem" (ASR_ERR_FORMAT) on a
 * malformed file, ASR_ERR_IO if it cannot be read. */
asr_lm *asr_lm_load_arpa(const char *path, asr_error *err);

/* Writes the binary image atomically (PATH.tmp then rename). */
asr_status asr_lm_save(const asr_lm *lm, const char *path, asr_error *err);

/* Memory-maps a binary image written by asr_lm_save, after the structural checks above (not the
 * payload checksum: asr_lm_verify). A truncated file or a damaged header or vocabulary is refused
 * (ASR_ERR_FORMAT / ASR_ERR_CHECKSUM / ASR_ERR_VERSION, the message naming the file). */
asr_lm *asr_lm_load(const char *path, asr_error *err);

/* The payload checksum of a model mapped by asr_lm_load (reads the whole file): ASR_OK, or
 * ASR_ERR_CHECKSUM with "PATH: checksum mismatch (file corrupt)". ASR_OK for a model built in
 * memory (ARPA, phrase list). Safe to run on one thread while others query lm. */
asr_status asr_lm_verify(const asr_lm *lm, asr_error *err);

/* Loads either form: a file starting with the binary magic is mapped, anything else parsed as ARPA. */
asr_lm *asr_lm_open(const char *path, asr_error *err);

/* A closed-vocabulary unigram model from phrases (e.g. a client's phrase_list): every distinct word
 * (phrases are split on whitespace; callers normalise them first) and </s> get the same
 * probability 1/(n_distinct + 1); <s> is added with log10 p = -99. NULL on no words. */
asr_lm *asr_lm_from_words(const char *const *phrases, int n_phrases, asr_error *err);

void asr_lm_free(asr_lm *lm);

int asr_lm_order(const asr_lm *lm);
uint32_t asr_lm_vocab_size(const asr_lm *lm);
/* Word of an id (< vocab size); the string lives as long as lm. */
const char *asr_lm_word(const asr_lm *lm, uint32_t id);
/* Id of the len bytes at w, or ASR_LM_NONE. */
uint32_t asr_lm_word_id(const asr_lm *lm, const char *w, size_t len);
/* Ids of <s>, </s>, <unk> (ASR_LM_NONE where the model lacks them). */
uint32_t asr_lm_bos(const asr_lm *lm);
uint32_t asr_lm_eos(const asr_lm *lm);
uint32_t asr_lm_unk(const asr_lm *lm);
/* Number of n-grams of order k (1..order). */
uint64_t asr_lm_count(const asr_lm *lm, int k);

/* log10 p(w | ctx): ctx holds n_ctx word ids, oldest first (only the last order-1 are used), w a
 * valid id. Backs off as ARPA defines (see above). */
float asr_lm_score(const asr_lm *lm, const uint32_t *ctx, int n_ctx, uint32_t w);

/* Starts loading the memory asr_lm_score(lm, ctx, n_ctx, w) reads first, and returns: a hint
 * (results never change), so that the cache misses of several look-ups issued one after another
 * overlap. */
void asr_lm_prefetch(const asr_lm *lm, const uint32_t *ctx, int n_ctx, uint32_t w);

/* The listed entry of an n-gram (ids oldest first, 1 <= n <= order): returns 1 and fills log10 p
 * and back-off (0 where none), or 0 if not listed. For tests and tools. */
int asr_lm_lookup(const asr_lm *lm, const uint32_t *ids, int n, float *logp, float *bow);

#endif
