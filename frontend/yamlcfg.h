/* yamlcfg.h - typed readers over a libyaml document, shared by the strict YAML configurations of
 * the daemon (daemon/config.c) and the trainer (model/train/config.c), so that both read numbers,
 * booleans and names the same way and report every problem as "file:line:column: message"
 * (1-based, at the offending node).
 *
 * Two dialects, chosen by flags when the document is opened:
 *   CFG_QUOTED_IS_STRING  a quoted scalar ("2", 'yes') is a string, never a number or a boolean
 *                         (the daemon);
 *   CFG_LENIENT_NUMBERS   integral numbers written as floats (1e4) are integers, and 1 / 0 are
 *                         booleans (the trainer).
 *
 * Thread safety: reentrant; a cfg_reader belongs to its caller.
 */
#ifndef ASR_YAMLCFG_H
#define ASR_YAMLCFG_H

#include "asr_util.h"

#include <yaml.h>

enum {
    CFG_QUOTED_IS_STRING = 1u << 0,
    CFG_LENIENT_NUMBERS = 1u << 1,
};

/* One parsed document and where its errors go. */
typedef struct cfg_reader {
    yaml_document_t doc;
    int have_doc;     /* doc is loaded (cfg_reader_close deletes it) */
    const char *name; /* file name for messages (not owned) */
    asr_error *err;
    unsigned flags; /* CFG_* */
} cfg_reader;

/* Parses text (len bytes, need not be NUL-terminated) into r. A YAML syntax error is ASR_ERR_CONFIG
 * "name:line:column: problem context" at libyaml's mark. Call cfg_reader_close afterwards in every
 * case (it is a no-op when nothing was loaded). */
asr_status cfg_reader_open(cfg_reader *r, const char *text, size_t len, const char *name, unsigned flags,
                           asr_error *err);

/* Frees the document; safe on a reader that failed to open. */
void cfg_reader_close(cfg_reader *r);

/* The root node, or NULL for an empty document. */
yaml_node_t *cfg_root(cfg_reader *r);

/* The node with the given id (a mapping pair's key or value, a sequence item). */
yaml_node_t *cfg_node(cfg_reader *r, int id);

/* Sets ASR_ERR_CONFIG "name:line:column: <printf message>" at node nd; returns ASR_ERR_CONFIG. */
asr_status cfg_error(cfg_reader *r, const yaml_node_t *nd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The text of a scalar node, NULL for a mapping or sequence. "key:" with no value is "". */
const char *cfg_scalar(const yaml_node_t *nd);

/* Readers of one value: key names the value in messages ("optim.lr"); on success *out is set,
 * otherwise it is untouched and the error says "key: expected ..." or "key: V is out of range
 * [lo, hi]". */
asr_status cfg_get_long(cfg_reader *r, const yaml_node_t *nd, const char *key, long lo, long hi, long *out);
asr_status cfg_get_int(cfg_reader *r, const yaml_node_t *nd, const char *key, long lo, long hi, int *out);
asr_status cfg_get_double(cfg_reader *r, const yaml_node_t *nd, const char *key, double lo, double hi,
                          double *out);
asr_status cfg_get_float(cfg_reader *r, const yaml_node_t *nd, const char *key, double lo, double hi,
                         float *out);
/* true/yes/on and false/no/off (plus 1/0 with CFG_LENIENT_NUMBERS). */
asr_status cfg_get_bool(cfg_reader *r, const yaml_node_t *nd, const char *key, int *out);
/* One of n names; *out = values[i]. The error lists them: "key: expected a, b or c". */
asr_status cfg_get_enum(cfg_reader *r, const yaml_node_t *nd, const char *key, const char *const *names,
                        const int *values, int n, int *out);

/* Called for each key of a mapping: key is its text, keynode/val its nodes (for error marks). */
typedef asr_status (*cfg_pair_fn)(cfg_reader *r, void *user, const char *key, yaml_node_t *keynode,
                                  yaml_node_t *val);

/* Calls fn for every pair of mapping nd, in file order, stopping at the first error. what names the
 * mapping in messages ("optim"; NULL: the top level): "what: expected a mapping (key: value lines)"
 * when nd is not one, "what: keys must be plain words" for a key that is not a scalar, and
 * "duplicate key 'what.key' (first at line L, column C)" at the second occurrence of a key (quoted
 * or not, whatever the values), before fn sees it. */
asr_status cfg_walk_map(cfg_reader *r, yaml_node_t *nd, const char *what, cfg_pair_fn fn, void *user);

/* Reads a whole file into a NUL-terminated malloc'd *text (length *len, the caller frees it).
 * ASR_ERR_IO "path: reason", ASR_ERR_NOMEM. */
asr_status cfg_read_file(const char *path, char **text, size_t *len, asr_error *err);

#endif
