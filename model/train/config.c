/* config.c - YAML training configuration (libyaml document API), strict: unknown keys are errors. */
#include "config.h"
#include "../model_file.h"
#include "../../frontend/yamlcfg.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    c->cmvn = cmvn_default_params();
    c->cmvn.mode = CMVN_GLOBAL; /* online when the config asks (prior/window defaults kept) */
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
    c->anneal_start = 0;
    c->schedule = TCFG_SCHED_CONSTANT;
    c->batch_size = 32;
    c->max_frames = 0;
    c->epochs = 1000;
    c->log_every = 20;
    c->checkpoint_minutes = 10;
    c->threads = 2;
    c->seed = 1;
    c->best_metric = TCFG_BEST_WER;
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
    free(c->init_model);
    free(c->eval_lm);
    free(c->aux_phone_dict);
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
        } else if (p[0] == '$' &&
                   (p[1] == '_' || (p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z'))) {
            size_t nlen = 0;
            p++;
            while ((p[nlen] == '_' || (p[nlen] >= 'A' && p[nlen] <= 'Z') ||
                    (p[nlen] >= 'a' && p[nlen] <= 'z') || (p[nlen] >= '0' && p[nlen] <= '9')) &&
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

/* ---- tree walking (frontend/yamlcfg.h); the pair callbacks get the tcfg as their user pointer ---- */

/* Expanded copy of a string scalar into *out (replacing any previous value). */
static asr_status get_path(cfg_reader *x, const yaml_node_t *nd, const char *key, char **out)
{
    const char *s = cfg_scalar(nd);
    int bad = 0;
    if (!s || !*s)
        return cfg_error(x, nd, "%s: expected a non-empty string", key);
    char *v = tcfg_expand_env(s, &bad);
    if (!v)
        return bad ? cfg_error(x, nd, "%s: unterminated ${ in '%s'", key, s)
                   : asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
    free(*out);
    *out = v;
    return ASR_OK;
}

/* Glob-expands `pattern` (already env-expanded) into a list of paths; appends to *list. */
static asr_status expand_glob(cfg_reader *x, yaml_node_t *nd, const char *pattern, char ***list, int *n)
{
    glob_t g;
    memset(&g, 0, sizeof(g));
    int has_magic = strpbrk(pattern, "*?[") != NULL;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return cfg_error(x, nd, "%s: %s", pattern,
                         has_magic ? "no manifest matches this pattern (run make corpus first?)"
                                   : "no such manifest (run make corpus first?)");
    }
    if (rc != 0) {
        globfree(&g);
        return cfg_error(x, nd, "%s: cannot expand pattern", pattern);
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

/* The keys of a {path: P, repeat: R} train entry. */
typedef struct train_entry {
    char *path;
    yaml_node_t *pathnode; /* where glob errors point */
    double repeat;
} train_entry;

static asr_status train_entry_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    train_entry *t = user;
    if (!strcmp(key, "path")) {
        t->pathnode = v;
        return get_path(x, v, "data.train.path", &t->path);
    }
    if (!strcmp(key, "repeat"))
        return cfg_get_double(x, v, "data.train.repeat", 0.0, 1000.0, &t->repeat);
    return cfg_error(x, k, "data.train: unknown key '%s' (expected path, repeat)", key);
}

/* One train entry: "path" or {path: P, repeat: R}. */
static asr_status add_train(cfg_reader *x, tcfg *c, yaml_node_t *nd)
{
    train_entry e = {NULL, nd, 1.0};
    asr_status st;
    if (nd->type == YAML_SCALAR_NODE) {
        st = get_path(x, nd, "data.train", &e.path);
    } else if (nd->type == YAML_MAPPING_NODE) {
        st = cfg_walk_map(x, nd, "data.train", train_entry_pair, &e);
        if (st == ASR_OK && !e.path)
            st = cfg_error(x, nd, "data.train: entry without a path");
    } else {
        st = cfg_error(x, nd, "data.train: expected a path or {path: P, repeat: R}");
    }
    char *path = e.path;
    double repeat = e.repeat;
    yaml_node_t *pathnode = e.pathnode;
    if (st != ASR_OK) {
        free(path);
        return st;
    }
    char **list = NULL;
    int n = 0;
    st = expand_glob(x, pathnode, path, &list, &n);
    free(path);
    if (st == ASR_OK) {
        tcfg_manifest *t = realloc(c->train, sizeof(*t) * (size_t)(c->n_train + n));
        if (!t) {
            st = asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
        } else {
            c->train = t;
            for (int i = 0; i < n; i++) {
                t[c->n_train].path = list[i];
                t[c->n_train].repeat = repeat;
                c->n_train++;
                list[i] = NULL;
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return st;
}

static asr_status data_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "train") || !strcmp(key, "dev")) {
        if (v->type != YAML_SEQUENCE_NODE)
            return cfg_error(x, v, "data.%s: expected a list", key);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = cfg_node(x, *it);
            asr_status st;
            if (key[0] == 't') {
                st = add_train(x, c, e);
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
        return cfg_get_double(x, v, "data.max_utt_seconds", 0, 3600, &c->max_utt_seconds);
    if (!strcmp(key, "max_utts"))
        return cfg_get_int(x, v, "data.max_utts", 0, 1L << 30, &c->max_utts);
    if (!strcmp(key, "log_hyps"))
        return cfg_get_bool(x, v, "data.log_hyps", &c->log_hyps);
    return cfg_error(x, k, "data: unknown key '%s'", key);
}

static asr_status mfcc_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    mfcc_params *m = &c->mfcc;
    if (!strcmp(key, "num_mel_bins"))
        return cfg_get_int(x, v, "features.mfcc.num_mel_bins", 1, 256, &m->num_mel_bins);
    if (!strcmp(key, "num_ceps"))
        return cfg_get_int(x, v, "features.mfcc.num_ceps", 1, 256, &m->num_ceps);
    if (!strcmp(key, "low_freq"))
        return cfg_get_float(x, v, "features.mfcc.low_freq", 0, 8000, &m->low_freq);
    if (!strcmp(key, "high_freq"))
        return cfg_get_float(x, v, "features.mfcc.high_freq", -8000, 8000, &m->high_freq);
    if (!strcmp(key, "frame_length_ms"))
        return cfg_get_float(x, v, "features.mfcc.frame_length_ms", 1, 1000, &m->frame_length_ms);
    if (!strcmp(key, "frame_shift_ms"))
        return cfg_get_float(x, v, "features.mfcc.frame_shift_ms", 1, 1000, &m->frame_shift_ms);
    if (!strcmp(key, "cepstral_lifter"))
        return cfg_get_float(x, v, "features.mfcc.cepstral_lifter", 0, 1000, &m->cepstral_lifter);
    if (!strcmp(key, "preemph"))
        return cfg_get_float(x, v, "features.mfcc.preemph", 0, 1, &m->preemph);
    if (!strcmp(key, "use_energy"))
        return cfg_get_bool(x, v, "features.mfcc.use_energy", &m->use_energy);
    if (!strcmp(key, "remove_dc_offset"))
        return cfg_get_bool(x, v, "features.mfcc.remove_dc_offset", &m->remove_dc_offset);
    if (!strcmp(key, "energy_floor"))
        return cfg_get_float(x, v, "features.mfcc.energy_floor", 0, 1e9, &m->energy_floor);
    if (!strcmp(key, "sample_rate"))
        return cfg_get_int(x, v, "features.mfcc.sample_rate", 8000, 48000, &m->sample_rate);
    if (!strcmp(key, "window")) {
        static const char *const names[] = {"povey", "hamming", "hanning"};
        static const int values[] = {MFCC_WINDOW_POVEY, MFCC_WINDOW_HAMMING, MFCC_WINDOW_HANNING};
        int w;
        asr_status st = cfg_get_enum(x, v, "features.mfcc.window", names, values, 3, &w);
        if (st == ASR_OK)
            m->window = (mfcc_window)w;
        return st;
    }
    return cfg_error(x, k, "features.mfcc: unknown key '%s'", key);
}

static asr_status cmvn_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    cmvn_params *p = &((tcfg *)user)->cmvn;
    if (!strcmp(key, "mode")) {
        static const char *const names[] = {"global", "online"};
        static const int values[] = {CMVN_GLOBAL, CMVN_ONLINE};
        int m;
        asr_status st = cfg_get_enum(x, v, "features.cmvn.mode", names, values, 2, &m);
        if (st == ASR_OK)
            p->mode = (cmvn_mode)m;
        return st;
    }
    if (!strcmp(key, "prior_frames"))
        return cfg_get_float(x, v, "features.cmvn.prior_frames", 1, 1e6, &p->prior_frames);
    if (!strcmp(key, "window"))
        return cfg_get_float(x, v, "features.cmvn.window", 0, 1e7, &p->window);
    if (!strcmp(key, "norm_vars"))
        return cfg_get_bool(x, v, "features.cmvn.norm_vars", &p->norm_vars);
    return cfg_error(x, k, "features.cmvn: unknown key '%s'", key);
}

static asr_status features_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "stack"))
        return cfg_get_int(x, v, "features.stack", 1, 16, &c->stack);
    if (!strcmp(key, "stride"))
        return cfg_get_int(x, v, "features.stride", 1, 16, &c->stride);
    if (!strcmp(key, "mfcc"))
        return cfg_walk_map(x, v, "features.mfcc", mfcc_pair, c);
    if (!strcmp(key, "cmvn"))
        return cfg_walk_map(x, v, "features.cmvn", cmvn_pair, c);
    return cfg_error(x, k, "features: unknown key '%s'", key);
}

/* model.aux_phone: {weight: W, dict: FILE}; the dictionary must be a readable file. */
static asr_status aux_phone_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "weight")) {
        asr_status st = cfg_get_double(x, v, "model.aux_phone.weight", 0, 10, &c->aux_phone_weight);
        if (st == ASR_OK && !(c->aux_phone_weight > 0))
            return cfg_error(x, v,
                             "model.aux_phone.weight: must be > 0 (leave out aux_phone to train without it)");
        return st;
    }
    if (!strcmp(key, "dict")) {
        asr_status st = get_path(x, v, "model.aux_phone.dict", &c->aux_phone_dict);
        if (st == ASR_OK && access(c->aux_phone_dict, R_OK) != 0)
            return cfg_error(x, v, "model.aux_phone.dict: pronouncing dictionary %s: %s", c->aux_phone_dict,
                             strerror(errno));
        return st;
    }
    return cfg_error(x, k, "model.aux_phone: unknown key '%s' (expected weight, dict)", key);
}

static asr_status model_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "type")) {
        static const char *const names[] = {"gru", "lstm"};
        static const int values[] = {NN_GRU, NN_LSTM};
        int t;
        asr_status st = cfg_get_enum(x, v, "model.type", names, values, 2, &t);
        if (st == ASR_OK)
            c->type = (nn_layer_type)t;
        return st;
    }
    if (!strcmp(key, "layers"))
        return cfg_get_int(x, v, "model.layers", 1, ASR_MAX_LAYERS, &c->layers);
    if (!strcmp(key, "hidden"))
        return cfg_get_int(x, v, "model.hidden", 1, 4096, &c->hidden);
    if (!strcmp(key, "dropout"))
        return cfg_get_double(x, v, "model.dropout", 0, 0.9, &c->dropout);
    if (!strcmp(key, "aux_phone")) {
        if (v->type != YAML_MAPPING_NODE)
            return cfg_error(x, v, "model.aux_phone: expected {weight: W, dict: FILE}");
        c->aux_phone_weight = 0.3;
        asr_status st = cfg_walk_map(x, v, "model.aux_phone", aux_phone_pair, c);
        if (st == ASR_OK && !c->aux_phone_dict)
            st = cfg_error(x, v, "model.aux_phone: dict (a CMU-format pronouncing dictionary) is required");
        return st;
    }
    return cfg_error(x, k, "model: unknown key '%s'", key);
}

static asr_status optim_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "lr"))
        return cfg_get_double(x, v, "optim.lr", 0, 10, &c->lr);
    if (!strcmp(key, "beta1"))
        return cfg_get_double(x, v, "optim.beta1", 0, 0.999999, &c->beta1);
    if (!strcmp(key, "beta2"))
        return cfg_get_double(x, v, "optim.beta2", 0, 0.99999999, &c->beta2);
    if (!strcmp(key, "eps"))
        return cfg_get_double(x, v, "optim.eps", 1e-20, 1, &c->eps);
    if (!strcmp(key, "weight_decay"))
        return cfg_get_double(x, v, "optim.weight_decay", 0, 1, &c->weight_decay);
    if (!strcmp(key, "clip"))
        return cfg_get_double(x, v, "optim.clip", 0, 1e9, &c->clip);
    if (!strcmp(key, "min_lr"))
        return cfg_get_double(x, v, "optim.min_lr", 0, 10, &c->min_lr);
    if (!strcmp(key, "decay_rate"))
        return cfg_get_double(x, v, "optim.decay_rate", 1e-6, 1, &c->decay_rate);
    if (!strcmp(key, "warmup"))
        return cfg_get_long(x, v, "optim.warmup", 0, 1L << 40, &c->warmup);
    if (!strcmp(key, "anneal_start"))
        return cfg_get_long(x, v, "optim.anneal_start", 0, 1L << 40, &c->anneal_start);
    if (!strcmp(key, "decay_updates"))
        return cfg_get_long(x, v, "optim.decay_updates", 0, 1L << 40, &c->decay_updates);
    if (!strcmp(key, "schedule")) {
        static const char *const names[] = {"constant", "cosine", "exponential"};
        static const int values[] = {TCFG_SCHED_CONSTANT, TCFG_SCHED_COSINE, TCFG_SCHED_EXPONENTIAL};
        int sc;
        asr_status st = cfg_get_enum(x, v, "optim.schedule", names, values, 3, &sc);
        if (st == ASR_OK)
            c->schedule = (tcfg_schedule)sc;
        return st;
    }
    return cfg_error(x, k, "optim: unknown key '%s'", key);
}

static asr_status batch_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "size"))
        return cfg_get_int(x, v, "batch.size", 1, 4096, &c->batch_size);
    if (!strcmp(key, "max_frames"))
        return cfg_get_long(x, v, "batch.max_frames", 0, 1L << 40, &c->max_frames);
    return cfg_error(x, k, "batch: unknown key '%s'", key);
}

static asr_status augment_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "time_masks"))
        return cfg_get_int(x, v, "augment.time_masks", 0, 100, &c->time_masks);
    if (!strcmp(key, "time_mask_width"))
        return cfg_get_int(x, v, "augment.time_mask_width", 0, 10000, &c->time_mask_width);
    if (!strcmp(key, "freq_masks"))
        return cfg_get_int(x, v, "augment.freq_masks", 0, 100, &c->freq_masks);
    if (!strcmp(key, "freq_mask_width"))
        return cfg_get_int(x, v, "augment.freq_mask_width", 0, 256, &c->freq_mask_width);
    if (!strcmp(key, "vtlp"))
        return cfg_get_double(x, v, "augment.vtlp", 0, 0.3, &c->vtlp);
    if (!strcmp(key, "speed"))
        return cfg_get_double(x, v, "augment.speed", 0, 0.3, &c->speed);
    return cfg_error(x, k, "augment: unknown key '%s'", key);
}

static asr_status top_pair(cfg_reader *x, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    tcfg *c = user;
    if (!strcmp(key, "data"))
        return cfg_walk_map(x, v, "data", data_pair, c);
    if (!strcmp(key, "features"))
        return cfg_walk_map(x, v, "features", features_pair, c);
    if (!strcmp(key, "model"))
        return cfg_walk_map(x, v, "model", model_pair, c);
    if (!strcmp(key, "optim"))
        return cfg_walk_map(x, v, "optim", optim_pair, c);
    if (!strcmp(key, "batch"))
        return cfg_walk_map(x, v, "batch", batch_pair, c);
    if (!strcmp(key, "augment"))
        return cfg_walk_map(x, v, "augment", augment_pair, c);
    if (!strcmp(key, "epochs"))
        return cfg_get_int(x, v, "epochs", 0, 1000000, &c->epochs);
    if (!strcmp(key, "max_updates"))
        return cfg_get_long(x, v, "max_updates", 0, 1L << 40, &c->max_updates);
    if (!strcmp(key, "max_hours"))
        return cfg_get_double(x, v, "max_hours", 0, 1e6, &c->max_hours);
    if (!strcmp(key, "eval_every"))
        return cfg_get_long(x, v, "eval_every", 0, 1L << 40, &c->eval_every);
    if (!strcmp(key, "log_every"))
        return cfg_get_long(x, v, "log_every", 1, 1L << 40, &c->log_every);
    if (!strcmp(key, "checkpoint_minutes"))
        return cfg_get_double(x, v, "checkpoint_minutes", 0, 1e6, &c->checkpoint_minutes);
    if (!strcmp(key, "threads"))
        return cfg_get_int(x, v, "threads", 1, 256, &c->threads);
    if (!strcmp(key, "seed")) {
        long s;
        asr_status st = cfg_get_long(x, v, "seed", 0, 0x7fffffffffffffffL, &s);
        if (st == ASR_OK)
            c->seed = (unsigned long long)s;
        return st;
    }
    if (!strcmp(key, "outdir"))
        return get_path(x, v, "outdir", &c->outdir);
    if (!strcmp(key, "init_model"))
        return get_path(x, v, "init_model", &c->init_model);
    if (!strcmp(key, "best_metric")) {
        static const char *const names[] = {"wer", "cer", "wer_lm"};
        static const int values[] = {TCFG_BEST_WER, TCFG_BEST_CER, TCFG_BEST_WER_LM};
        return cfg_get_enum(x, v, "best_metric", names, values, 3, &c->best_metric);
    }
    if (!strcmp(key, "eval_lm")) {
        asr_status st = get_path(x, v, "eval_lm", &c->eval_lm);
        if (st == ASR_OK && access(c->eval_lm, R_OK) != 0)
            return cfg_error(x, v, "eval_lm: cannot read %s: %s (make lm builds the shipped LM)", c->eval_lm,
                             strerror(errno));
        return st;
    }
    return cfg_error(x, k, "unknown key '%s'", key);
}

/* The value of key in mapping nd (the mapping itself if absent: a position to report). */
static yaml_node_t *top_value(cfg_reader *x, yaml_node_t *nd, const char *key)
{
    for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top; p++) {
        const char *k = cfg_scalar(cfg_node(x, p->key));
        if (k && !strcmp(k, key))
            return cfg_node(x, p->value);
    }
    return nd;
}

asr_status tcfg_parse(const char *text, size_t len, const char *name, tcfg *c, asr_error *err)
{
    cfg_reader x;
    asr_status st;

    tcfg_default(c);
    st = cfg_reader_open(&x, text, len, name, CFG_LENIENT_NUMBERS, err);
    if (st != ASR_OK)
        goto fail;
    c->source = strdup(name);
    if (!c->source) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    yaml_node_t *root = cfg_root(&x);
    if (!root) {
        st = asr_error_set(err, ASR_ERR_CONFIG, "%s:1:1: empty configuration (data.train is required)", name);
        goto fail;
    }
    st = cfg_walk_map(&x, root, "configuration", top_pair, c);
    if (st != ASR_OK)
        goto fail;
    if (c->n_train == 0) {
        st = cfg_error(&x, root, "data.train: at least one training manifest is required");
        goto fail;
    }
    if (c->best_metric == TCFG_BEST_WER_LM && !c->eval_lm) {
        st = cfg_error(&x, top_value(&x, root, "best_metric"),
                       "best_metric: wer_lm needs eval_lm (a word LM)");
        goto fail;
    }
    if (c->mfcc.num_ceps > c->mfcc.num_mel_bins) {
        st = cfg_error(&x, root, "features.mfcc: num_ceps (%d) exceeds num_mel_bins (%d)", c->mfcc.num_ceps,
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
    cfg_reader_close(&x);
    return ASR_OK;
fail:
    cfg_reader_close(&x);
    tcfg_free(c);
    return st;
}

asr_status tcfg_load(const char *path, tcfg *c, asr_error *err)
{
    char *text;
    size_t len;
    memset(c, 0, sizeof(*c));
    asr_status st = cfg_read_file(path, &text, &len, err);
    if (st != ASR_OK)
        return st;
    st = tcfg_parse(text, len, path, c, err);
    free(text);
    return st;
}
