/* config.c - YAML training configuration (libyaml document API), strict: unknown keys are errors. */
#include "config.h"
#include "../model_file.h"

#include <errno.h>
#include <stdarg.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void tcfg_default(tcfg *c)
{
    memset(c, 0, sizeof(*c));
    c->max_utt_seconds = 20.0;
    c->mfcc = mfcc_default_params();
    /* The model's frontend (same as tests/tool_mkmodel.c): 40 mel bins, 40 cepstra, 20 Hz ..
     * nyquist - 400 Hz, c0 kept (no energy substitution). */
    c->mfcc.sample_rate = 16000;
    c->mfcc.frame_length_ms = 25;
    c->mfcc.frame_shift_ms = 10;
    c->mfcc.num_mel_bins = 40;
    c->mfcc.num_ceps = 40;
    c->mfcc.low_freq = 20;
    c->mfcc.high_freq = -400;
    c->mfcc.use_energy = 0;
    c->stack = 3;
    c->stride = 3;
    c->type = NN_GRU;
    c->layers = 3;
    c->hidden = 320;
    c->lr = 1e-3;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = 0;
    c->clip = 5;
    c->min_lr = 1e-5;
    c->decay_rate = 0.5;
    c->warmup = 300;
    c->decay_updates = 0;
    c->schedule = TCFG_SCHED_CONSTANT;
    c->batch_size = 32;
    c->max_frames = 0;
    c->epochs = 1000;
    c->log_every = 20;
    c->checkpoint_minutes = 10;
    c->threads = 2;
    c->seed = 1;
    c->best_by_cer = 0;
}

void tcfg_free(tcfg *c)
{
    if (!c)
        return;
    free(c->source);
    for (int i = 0; i < c->n_train; i++)
        free(c->train[i].path);
    free(c->train);
    for (int i = 0; i < c->n_dev; i++)
        free(c->dev[i]);
    free(c->dev);
    free(c->cache_dir);
    free(c->outdir);
    memset(c, 0, sizeof(*c));
}

char *tcfg_expand_env(const char *s, int *bad)
{
    size_t cap = strlen(s) + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = s; *p;) {
        const char *val = NULL;
        size_t vlen = 0;
        char name[256];
        char *def = NULL;
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                if (bad)
                    *bad = 1;
                free(out);
                return NULL;
            }
            size_t len = (size_t)(end - (p + 2));
            const char *colon = memchr(p + 2, ':', len);
            size_t nlen = colon ? (size_t)(colon - (p + 2)) : len;
            if (nlen >= sizeof(name))
                nlen = sizeof(name) - 1;
            memcpy(name, p + 2, nlen);
            name[nlen] = 0;
            val = getenv(name);
            if (colon && colon[1] == '-' && (!val || !*val)) {
                def = strndup(colon + 2, (size_t)(end - (colon + 2)));
                if (!def) {
                    free(out);
                    return NULL;
                }
                val = def;
            }
            p = end + 1;
        } else if (p[0] == '$' && (p[1] == '_' || (p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z'))) {
            size_t nlen = 0;
            p++;
            while ((p[nlen] == '_' || (p[nlen] >= 'A' && p[nlen] <= 'Z') || (p[nlen] >= 'a' && p[nlen] <= 'z') ||
                    (p[nlen] >= '0' && p[nlen] <= '9')) &&
                   nlen + 1 < sizeof(name)) {
                name[nlen] = p[nlen];
                nlen++;
            }
            name[nlen] = 0;
            p += nlen;
            val = getenv(name);
        } else {
            val = p;
            vlen = 1;
            p++;
        }
        if (val && !vlen)
            vlen = strlen(val);
        if (n + vlen + 1 > cap) {
            cap = (n + vlen + 1) * 2;
            char *t = realloc(out, cap);
            if (!t) {
                free(def);
                free(out);
                return NULL;
            }
            out = t;
        }
        if (vlen)
            memcpy(out + n, val, vlen);
        n += vlen;
        free(def);
    }
    out[n] = 0;
    return out;
}

/* ---- tree walking ---- */

typedef struct parse_ctx {
    yaml_document_t *doc;
    const char *name;
    asr_error *err;
    tcfg *c;
} parse_ctx;

static asr_status node_err(parse_ctx *x, const yaml_node_t *nd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static asr_status node_err(parse_ctx *x, const yaml_node_t *nd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return asr_error_set(x->err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s", x->name, (unsigned long)nd->start_mark.line + 1,
                         (unsigned long)nd->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *nd)
{
    return nd->type == YAML_SCALAR_NODE ? (const char *)nd->data.scalar.value : NULL;
}

static asr_status get_double(parse_ctx *x, const yaml_node_t *nd, const char *key, double lo, double hi, double *out)
{
    const char *s = scalar(nd);
    char *end;
    if (!s || !*s)
        return node_err(x, nd, "%s: expected a number", key);
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return node_err(x, nd, "%s: expected a number, got '%s'", key, s);
    if (v < lo || v > hi)
        return node_err(x, nd, "%s: %s is out of range [%g, %g]", key, s, lo, hi);
    *out = v;
    return ASR_OK;
}

static asr_status get_long(parse_ctx *x, const yaml_node_t *nd, const char *key, long lo, long hi, long *out)
{
    const char *s = scalar(nd);
    char *end;
    if (!s || !*s)
        return node_err(x, nd, "%s: expected an integer", key);
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno) {
        /* accept integral floats such as 1e4 */
        double d = strtod(s, &end);
        if (*end || d != floor(d) || fabs(d) > 9e15)
            return node_err(x, nd, "%s: expected an integer, got '%s'", key, s);
        v = (long)d;
    }
    if (v < lo || v > hi)
        return node_err(x, nd, "%s: %s is out of range [%ld, %ld]", key, s, lo, hi);
    *out = v;
    return ASR_OK;
}

static asr_status get_int(parse_ctx *x, const yaml_node_t *nd, const char *key, long lo, long hi, int *out)
{
    long v;
    asr_status st = get_long(x, nd, key, lo, hi, &v);
    if (st == ASR_OK)
        *out = (int)v;
    return st;
}

static asr_status get_float(parse_ctx *x, const yaml_node_t *nd, const char *key, double lo, double hi, float *out)
{
    double v;
    asr_status st = get_double(x, nd, key, lo, hi, &v);
    if (st == ASR_OK)
        *out = (float)v;
    return st;
}

static asr_status get_bool(parse_ctx *x, const yaml_node_t *nd, const char *key, int *out)
{
    const char *s = scalar(nd);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1")))
        *out = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0")))
        *out = 0;
    else
        return node_err(x, nd, "%s: expected true or false", key);
    return ASR_OK;
}

/* Expanded copy of a string scalar into *out (replacing any previous value). */
static asr_status get_path(parse_ctx *x, const yaml_node_t *nd, const char *key, char **out)
{
    const char *s = scalar(nd);
    int bad = 0;
    if (!s || !*s)
        return node_err(x, nd, "%s: expected a non-empty string", key);
    char *v = tcfg_expand_env(s, &bad);
    if (!v)
        return bad ? node_err(x, nd, "%s: unterminated ${ in '%s'", key, s)
                   : asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
    free(*out);
    *out = v;
    return ASR_OK;
}

typedef asr_status (*pair_fn)(parse_ctx *x, const char *key, yaml_node_t *val, yaml_node_t *keynode);

/* Calls fn for every key of a mapping node. */
static asr_status walk_map(parse_ctx *x, yaml_node_t *nd, const char *what, pair_fn fn)
{
    if (nd->type != YAML_MAPPING_NODE)
        return node_err(x, nd, "%s: expected a mapping (key: value lines)", what);
    for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        if (!ks)
            return node_err(x, k, "%s: keys must be plain words", what);
        asr_status st = fn(x, ks, v, k);
        if (st != ASR_OK)
            return st;
    }
    return ASR_OK;
}

/* Glob-expands `pattern` (already env-expanded) into a list of paths; appends to *list. */
static asr_status expand_glob(parse_ctx *x, yaml_node_t *nd, const char *pattern, char ***list, int *n)
{
    glob_t g;
    memset(&g, 0, sizeof(g));
    int has_magic = strpbrk(pattern, "*?[") != NULL;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return node_err(x, nd, "%s: %s", pattern,
                        has_magic ? "no manifest matches this pattern (run make corpus first?)"
                                  : "no such manifest (run make corpus first?)");
    }
    if (rc != 0) {
        globfree(&g);
        return node_err(x, nd, "%s: cannot expand pattern", pattern);
    }
    char **t = realloc(*list, sizeof(char *) * (size_t)(*n + (int)g.gl_pathc));
    if (!t) {
        globfree(&g);
        return asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
    }
    *list = t;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        t[*n] = strdup(g.gl_pathv[i]);
        if (!t[*n]) {
            globfree(&g);
            return asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
        }
        (*n)++;
    }
    globfree(&g);
    return ASR_OK;
}

/* One train entry: "path" or {path: P, repeat: R}. */
static asr_status add_train(parse_ctx *x, yaml_node_t *nd)
{
    char *path = NULL;
    double repeat = 1.0;
    asr_status st = ASR_OK;
    yaml_node_t *pathnode = nd;
    if (nd->type == YAML_SCALAR_NODE) {
        st = get_path(x, nd, "data.train", &path);
    } else if (nd->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top && st == ASR_OK; p++) {
            yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
            const char *ks = scalar(k);
            if (ks && !strcmp(ks, "path")) {
                st = get_path(x, v, "data.train.path", &path);
                pathnode = v;
            } else if (ks && !strcmp(ks, "repeat")) {
                st = get_double(x, v, "data.train.repeat", 0.0, 1000.0, &repeat);
            } else {
                st = node_err(x, k, "data.train: unknown key '%s' (expected path, repeat)", ks ? ks : "?");
            }
        }
        if (st == ASR_OK && !path)
            st = node_err(x, nd, "data.train: entry without a path");
    } else {
        st = node_err(x, nd, "data.train: expected a path or {path: P, repeat: R}");
    }
    if (st != ASR_OK) {
        free(path);
        return st;
    }
    char **list = NULL;
    int n = 0;
    st = expand_glob(x, pathnode, path, &list, &n);
    free(path);
    if (st == ASR_OK) {
        tcfg_manifest *t = realloc(x->c->train, sizeof(*t) * (size_t)(x->c->n_train + n));
        if (!t) {
            st = asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
        } else {
            x->c->train = t;
            for (int i = 0; i < n; i++) {
                t[x->c->n_train].path = list[i];
                t[x->c->n_train].repeat = repeat;
                x->c->n_train++;
                list[i] = NULL;
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return st;
}

static asr_status data_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    tcfg *c = x->c;
    if (!strcmp(key, "train") || !strcmp(key, "dev")) {
        if (v->type != YAML_SEQUENCE_NODE)
            return node_err(x, v, "data.%s: expected a list", key);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(x->doc, *it);
            asr_status st;
            if (key[0] == 't') {
                st = add_train(x, e);
            } else {
                char *path = NULL;
                st = get_path(x, e, "data.dev", &path);
                if (st == ASR_OK)
                    st = expand_glob(x, e, path, &c->dev, &c->n_dev);
                free(path);
            }
            if (st != ASR_OK)
                return st;
        }
        return ASR_OK;
    }
    if (!strcmp(key, "cache_dir"))
        return get_path(x, v, "data.cache_dir", &c->cache_dir);
    if (!strcmp(key, "max_utt_seconds"))
        return get_double(x, v, "data.max_utt_seconds", 0, 3600, &c->max_utt_seconds);
    if (!strcmp(key, "max_utts"))
        return get_int(x, v, "data.max_utts", 0, 1L << 30, &c->max_utts);
    if (!strcmp(key, "log_hyps"))
        return get_bool(x, v, "data.log_hyps", &c->log_hyps);
    return node_err(x, k, "data: unknown key '%s'", key);
}

static asr_status mfcc_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    mfcc_params *m = &x->c->mfcc;
    if (!strcmp(key, "num_mel_bins"))
        return get_int(x, v, "features.mfcc.num_mel_bins", 1, 256, &m->num_mel_bins);
    if (!strcmp(key, "num_ceps"))
        return get_int(x, v, "features.mfcc.num_ceps", 1, 256, &m->num_ceps);
    if (!strcmp(key, "low_freq"))
        return get_float(x, v, "features.mfcc.low_freq", 0, 8000, &m->low_freq);
    if (!strcmp(key, "high_freq"))
        return get_float(x, v, "features.mfcc.high_freq", -8000, 8000, &m->high_freq);
    if (!strcmp(key, "frame_length_ms"))
        return get_float(x, v, "features.mfcc.frame_length_ms", 1, 1000, &m->frame_length_ms);
    if (!strcmp(key, "frame_shift_ms"))
        return get_float(x, v, "features.mfcc.frame_shift_ms", 1, 1000, &m->frame_shift_ms);
    if (!strcmp(key, "cepstral_lifter"))
        return get_float(x, v, "features.mfcc.cepstral_lifter", 0, 1000, &m->cepstral_lifter);
    if (!strcmp(key, "preemph"))
        return get_float(x, v, "features.mfcc.preemph", 0, 1, &m->preemph);
    if (!strcmp(key, "use_energy"))
        return get_bool(x, v, "features.mfcc.use_energy", &m->use_energy);
    if (!strcmp(key, "remove_dc_offset"))
        return get_bool(x, v, "features.mfcc.remove_dc_offset", &m->remove_dc_offset);
    if (!strcmp(key, "energy_floor"))
        return get_float(x, v, "features.mfcc.energy_floor", 0, 1e9, &m->energy_floor);
    if (!strcmp(key, "sample_rate"))
        return get_int(x, v, "features.mfcc.sample_rate", 8000, 48000, &m->sample_rate);
    if (!strcmp(key, "window")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "povey"))
            m->window = MFCC_WINDOW_POVEY;
        else if (s && !strcmp(s, "hamming"))
            m->window = MFCC_WINDOW_HAMMING;
        else if (s && !strcmp(s, "hanning"))
            m->window = MFCC_WINDOW_HANNING;
        else
            return node_err(x, v, "features.mfcc.window: expected povey, hamming or hanning");
        return ASR_OK;
    }
    return node_err(x, k, "features.mfcc: unknown key '%s'", key);
}

static asr_status features_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    if (!strcmp(key, "stack"))
        return get_int(x, v, "features.stack", 1, 16, &x->c->stack);
    if (!strcmp(key, "stride"))
        return get_int(x, v, "features.stride", 1, 16, &x->c->stride);
    if (!strcmp(key, "mfcc"))
        return walk_map(x, v, "features.mfcc", mfcc_pair);
    return node_err(x, k, "features: unknown key '%s'", key);
}

static asr_status model_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    if (!strcmp(key, "type")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "gru"))
            x->c->type = NN_GRU;
        else if (s && !strcmp(s, "lstm"))
            x->c->type = NN_LSTM;
        else
            return node_err(x, v, "model.type: expected gru or lstm");
        return ASR_OK;
    }
    if (!strcmp(key, "layers"))
        return get_int(x, v, "model.layers", 1, ASR_MAX_LAYERS, &x->c->layers);
    if (!strcmp(key, "hidden"))
        return get_int(x, v, "model.hidden", 1, 4096, &x->c->hidden);
    return node_err(x, k, "model: unknown key '%s'", key);
}

static asr_status optim_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    tcfg *c = x->c;
    if (!strcmp(key, "lr"))
        return get_double(x, v, "optim.lr", 0, 10, &c->lr);
    if (!strcmp(key, "beta1"))
        return get_double(x, v, "optim.beta1", 0, 0.999999, &c->beta1);
    if (!strcmp(key, "beta2"))
        return get_double(x, v, "optim.beta2", 0, 0.99999999, &c->beta2);
    if (!strcmp(key, "eps"))
        return get_double(x, v, "optim.eps", 1e-20, 1, &c->eps);
    if (!strcmp(key, "weight_decay"))
        return get_double(x, v, "optim.weight_decay", 0, 1, &c->weight_decay);
    if (!strcmp(key, "clip"))
        return get_double(x, v, "optim.clip", 0, 1e9, &c->clip);
    if (!strcmp(key, "min_lr"))
        return get_double(x, v, "optim.min_lr", 0, 10, &c->min_lr);
    if (!strcmp(key, "decay_rate"))
        return get_double(x, v, "optim.decay_rate", 1e-6, 1, &c->decay_rate);
    if (!strcmp(key, "warmup"))
        return get_long(x, v, "optim.warmup", 0, 1L << 40, &c->warmup);
    if (!strcmp(key, "decay_updates"))
        return get_long(x, v, "optim.decay_updates", 0, 1L << 40, &c->decay_updates);
    if (!strcmp(key, "schedule")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "constant"))
            c->schedule = TCFG_SCHED_CONSTANT;
        else if (s && !strcmp(s, "cosine"))
            c->schedule = TCFG_SCHED_COSINE;
        else if (s && !strcmp(s, "exponential"))
            c->schedule = TCFG_SCHED_EXPONENTIAL;
        else
            return node_err(x, v, "optim.schedule: expected constant, cosine or exponential");
        return ASR_OK;
    }
    return node_err(x, k, "optim: unknown key '%s'", key);
}

static asr_status batch_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    if (!strcmp(key, "size"))
        return get_int(x, v, "batch.size", 1, 4096, &x->c->batch_size);
    if (!strcmp(key, "max_frames"))
        return get_long(x, v, "batch.max_frames", 0, 1L << 40, &x->c->max_frames);
    return node_err(x, k, "batch: unknown key '%s'", key);
}

static asr_status augment_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    tcfg *c = x->c;
    if (!strcmp(key, "time_masks"))
        return get_int(x, v, "augment.time_masks", 0, 100, &c->time_masks);
    if (!strcmp(key, "time_mask_width"))
        return get_int(x, v, "augment.time_mask_width", 0, 10000, &c->time_mask_width);
    if (!strcmp(key, "freq_masks"))
        return get_int(x, v, "augment.freq_masks", 0, 100, &c->freq_masks);
    if (!strcmp(key, "freq_mask_width"))
        return get_int(x, v, "augment.freq_mask_width", 0, 256, &c->freq_mask_width);
    return node_err(x, k, "augment: unknown key '%s'", key);
}

static asr_status top_pair(parse_ctx *x, const char *key, yaml_node_t *v, yaml_node_t *k)
{
    tcfg *c = x->c;
    if (!strcmp(key, "data"))
        return walk_map(x, v, "data", data_pair);
    if (!strcmp(key, "features"))
        return walk_map(x, v, "features", features_pair);
    if (!strcmp(key, "model"))
        return walk_map(x, v, "model", model_pair);
    if (!strcmp(key, "optim"))
        return walk_map(x, v, "optim", optim_pair);
    if (!strcmp(key, "batch"))
        return walk_map(x, v, "batch", batch_pair);
    if (!strcmp(key, "augment"))
        return walk_map(x, v, "augment", augment_pair);
    if (!strcmp(key, "epochs"))
        return get_int(x, v, "epochs", 0, 1000000, &c->epochs);
    if (!strcmp(key, "max_updates"))
        return get_long(x, v, "max_updates", 0, 1L << 40, &c->max_updates);
    if (!strcmp(key, "max_hours"))
        return get_double(x, v, "max_hours", 0, 1e6, &c->max_hours);
    if (!strcmp(key, "eval_every"))
        return get_long(x, v, "eval_every", 0, 1L << 40, &c->eval_every);
    if (!strcmp(key, "log_every"))
        return get_long(x, v, "log_every", 1, 1L << 40, &c->log_every);
    if (!strcmp(key, "checkpoint_minutes"))
        return get_double(x, v, "checkpoint_minutes", 0, 1e6, &c->checkpoint_minutes);
    if (!strcmp(key, "threads"))
        return get_int(x, v, "threads", 1, 256, &c->threads);
    if (!strcmp(key, "seed")) {
        long s;
        asr_status st = get_long(x, v, "seed", 0, 0x7fffffffffffffffL, &s);
        if (st == ASR_OK)
            c->seed = (unsigned long long)s;
        return st;
    }
    if (!strcmp(key, "outdir"))
        return get_path(x, v, "outdir", &c->outdir);
    if (!strcmp(key, "best_metric")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "wer"))
            c->best_by_cer = 0;
        else if (s && !strcmp(s, "cer"))
            c->best_by_cer = 1;
        else
            return node_err(x, v, "best_metric: expected wer or cer");
        return ASR_OK;
    }
    return node_err(x, k, "unknown key '%s'", key);
}

asr_status tcfg_parse(const char *text, size_t len, const char *name, tcfg *c, asr_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    asr_status st = ASR_OK;
    parse_ctx x = {&doc, name, err, c};

    tcfg_default(c);
    if (!yaml_parser_initialize(&parser))
        return asr_error_set(err, ASR_ERR_NOMEM, "%s: cannot initialise the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column ? &parser.problem_mark
                                                                                      : &parser.context_mark;
        st = asr_error_set(err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s%s%s", name, (unsigned long)m->line + 1,
                           (unsigned long)m->column + 1, parser.problem ? parser.problem : "YAML syntax error",
                           parser.context ? " " : "", parser.context ? parser.context : "");
        goto fail;
    }
    have_doc = 1;
    c->source = strdup(name);
    if (!c->source) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        st = asr_error_set(err, ASR_ERR_CONFIG, "%s:1:1: empty configuration (data.train is required)", name);
        goto fail;
    }
    st = walk_map(&x, root, "configuration", top_pair);
    if (st != ASR_OK)
        goto fail;
    if (c->n_train == 0) {
        st = node_err(&x, root, "data.train: at least one training manifest is required");
        goto fail;
    }
    if (c->mfcc.num_ceps > c->mfcc.num_mel_bins) {
        st = node_err(&x, root, "features.mfcc: num_ceps (%d) exceeds num_mel_bins (%d)", c->mfcc.num_ceps,
                      c->mfcc.num_mel_bins);
        goto fail;
    }
    if (!c->cache_dir || !c->outdir) {
        const char *data = getenv("ASRD_DATA");
        char buf[4096];
        if (!data || !*data)
            data = "data";
        if (!c->cache_dir) {
            snprintf(buf, sizeof(buf), "%s/cache", data);
            c->cache_dir = strdup(buf);
        }
        if (!c->outdir) {
            snprintf(buf, sizeof(buf), "%s/runs/default", data);
            c->outdir = strdup(buf);
        }
        if (!c->cache_dir || !c->outdir) {
            st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
            goto fail;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return ASR_OK;
fail:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    tcfg_free(c);
    return st;
}

asr_status tcfg_load(const char *path, tcfg *c, asr_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    memset(c, 0, sizeof(*c));
    if (!f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(buf, cap);
            if (!t) {
                free(buf);
                fclose(f);
                return asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = t;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return asr_error_set(err, ASR_ERR_IO, "%s: read error", path);
    }
    asr_status st = tcfg_parse(buf, n, path, c, err);
    free(buf);
    return st;
}
