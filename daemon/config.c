/* config.c - YAML configuration of the daemon (see config.h). A table names every key with its
 * type, range and field, so the parser, the range checks and the error messages cannot drift. */
#include "config.h"
#include "../frontend/yamlcfg.h"
#include "listen.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    K_INT,
    K_LONG,
    K_DOUBLE,
    K_FLOAT,
    K_BOOL,
    K_STR,
    K_LIST,
    K_ADDRS, /* K_LIST of IPv4/IPv6 addresses */
    K_LISTEN,
    K_LEVEL,
    K_DECODER,
    K_PRECISION
} key_type;

typedef struct key_def {
    const char *section; /* NULL: top level */
    const char *name;
    key_type type;
    size_t off;    /* offset of the field in cfg */
    double lo, hi; /* numeric range */
    size_t n_off;  /* K_LIST, K_ADDRS: offset of the count */
} key_def;

#define F(f) offsetof(cfg, f)
static const key_def keys[] = {
    {NULL, "listen", K_LISTEN, 0, 0, 0, 0},
    {NULL, "model", K_STR, F(model), 0, 0, 0},
    {NULL, "model_precision", K_PRECISION, F(precision), 0, 0, 0},
    {NULL, "threads", K_INT, F(threads), 1, 64, 0},
    {"www", "root", K_STR, F(www_root), 0, 0, 0},
    {"www", "mount", K_STR, F(www_mount), 0, 0, 0},
    {"mic", "enabled", K_BOOL, F(mic_enabled), 0, 0, 0},
    {"mic", "device", K_STR, F(mic_device), 0, 0, 0},
    {"mic", "sample_rate", K_INT, F(mic_rate), 8000, 192000, 0},
    {"mic", "source", K_STR, F(mic_source), 0, 0, 0},
    {"mic", "pace", K_BOOL, F(mic_pace), 0, 0, 0},
    {"mic", "grammar", K_LIST, F(mic_grammar), 0, 0, F(n_mic_grammar)},
    {"endpoint", "silence_ms", K_INT, F(silence_ms), 0, 60000, 0},
    {"endpoint", "max_utterance_ms", K_INT, F(max_utterance_ms), 0, 3600000, 0},
    {"endpoint", "blank_prob", K_DOUBLE, F(blank_prob), 0, 1, 0},
    {"limits", "max_sessions", K_INT, F(max_sessions), 1, 100000, 0},
    {"limits", "max_message_bytes", K_LONG, F(max_message_bytes), 1024, 64L << 20, 0},
    {"limits", "idle_timeout_s", K_INT, F(idle_timeout_s), 0, 86400, 0},
    {"limits", "max_audio_s", K_DOUBLE, F(max_audio_s), 0, 86400 * 7, 0},
    {"limits", "queue_bytes", K_LONG, F(queue_bytes), 4096, 256L << 20, 0},
    {"limits", "min_sample_rate", K_INT, F(min_rate), 1000, 384000, 0},
    {"limits", "max_sample_rate", K_INT, F(max_rate), 1000, 384000, 0},
    {"limits", "subscriber_queue", K_INT, F(subscriber_queue), 1, 100000, 0},
    {"limits", "max_sessions_per_address", K_INT, F(max_per_address), 0, 100000, 0},
    {"limits", "trusted_proxies", K_ADDRS, F(trusted_proxies), 0, 0, F(n_trusted_proxies)},
    {"limits", "ping_s", K_INT, F(ping_s), 1, 3600, 0}, /* lws keeps them in uint16_t */
    {"limits", "hangup_s", K_INT, F(hangup_s), 2, 7200, 0},
    {"shutdown", "drain_s", K_DOUBLE, F(drain_s), 0, 10, 0}, /* within daemon.c's STOP_GRACE_S */
    {"auth", "token", K_STR, F(token), 0, 0, 0},
    {"auth", "origins", K_LIST, F(origins), 0, 0, F(n_origins)},
    {"tls", "cert", K_STR, F(tls_cert), 0, 0, 0},
    {"tls", "key", K_STR, F(tls_key), 0, 0, 0},
    {"log", "level", K_LEVEL, F(log_level), 0, 0, 0},
    {"log", "file", K_STR, F(log_file), 0, 0, 0},
    {"log", "json", K_BOOL, F(json), 0, 0, 0},
    /* The ranges of asrd --batch's --beam, --lm-weight, --word-bonus, --unk-penalty, --lm-lookahead
     * (daemon/batch.c). */
    {"decoder", "kind", K_DECODER, F(decoder), 0, 0, 0},
    {"decoder", "beam", K_INT, F(beam.beam), 1, 10000, 0},
    {"decoder", "lm", K_STR, F(lm), 0, 0, 0},
    {"decoder", "lm_weight", K_FLOAT, F(beam.lm_weight), -1000, 1000, 0},
    {"decoder", "word_bonus", K_FLOAT, F(beam.word_bonus), -1000, 1000, 0},
    {"decoder", "unk_penalty", K_FLOAT, F(beam.unk_penalty), -1000, 1000, 0},
    {"decoder", "lm_lookahead", K_FLOAT, F(beam.lm_lookahead), 0, 10, 0},
    {"decoder", "closed_vocab", K_BOOL, F(beam.closed_vocab), 0, 0, 0},
};
#undef F
#define N_KEYS (sizeof keys / sizeof keys[0])

asr_status cfg_set_string(char **field, const char *v, asr_error *err)
{
    char *copy = NULL;
    if (v) {
        copy = strdup(v);
        if (!copy)
            return asr_error_set(err, ASR_ERR_NOMEM, "config: out of memory");
    }
    free(*field);
    *field = copy;
    return ASR_OK;
}

asr_status cfg_init(cfg *c, asr_error *err)
{
    memset(c, 0, sizeof *c);
    c->port = 2700;
    c->threads = 2;
    c->precision = ASR_PRECISION_DEFAULT;
    c->mic_rate = 16000;
    c->mic_pace = 1;
    c->silence_ms = 700;
    c->max_utterance_ms = 20000;
    c->blank_prob = 0.9;
    c->max_sessions = 256;
    c->max_message_bytes = 1L << 20;
    c->idle_timeout_s = 60;
    c->max_audio_s = 3600;
    c->queue_bytes = 1L << 20;
    c->min_rate = 8000;
    c->max_rate = 192000;
    c->subscriber_queue = 64;
    c->max_per_address = 128;
    c->ping_s = 30;
    c->hangup_s = 60;
    c->log_level = ASR_LOG_INFO;
    c->decoder = ASR_DECODER_GREEDY; /* the LM is built by `make lm`, not shipped in git */
    c->beam = ctc_beam_default_params();
    if (cfg_set_string(&c->source, "", err) || cfg_set_string(&c->listen_host, "127.0.0.1", err) ||
        cfg_set_string(&c->www_mount, "/", err)) {
        cfg_free(c);
        return ASR_ERR_NOMEM;
    }
    return ASR_OK;
}

void cfg_free(cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].type == K_STR)
            free(*(char **)((char *)c + keys[i].off));
    for (int i = 0; i < c->n_mic_grammar; i++)
        free(c->mic_grammar[i]);
    free(c->mic_grammar);
    for (int i = 0; i < c->n_origins; i++)
        free(c->origins[i]);
    free(c->origins);
    for (int i = 0; i < c->n_trusted_proxies; i++)
        free(c->trusted_proxies[i]);
    free(c->trusted_proxies);
    free(c->listen_host);
    free(c->source);
    memset(c, 0, sizeof *c);
}

asr_status cfg_set_listen(cfg *c, const char *value, asr_error *err)
{
    char host[256];
    const char *port_s;
    int inherited = 0;
    if (value[0] == '[') { /* [v6]:port */
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':' || (size_t)(close - value - 1) >= sizeof host)
            return asr_error_set(err, ASR_ERR_CONFIG, "listen: expected [ADDRESS]:PORT, got '%s'", value);
        memcpy(host, value + 1, (size_t)(close - value - 1));
        host[close - value - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(value, ':');
        if (!colon) { /* the host stays (already checked) */
            snprintf(host, sizeof host, "%s", c->listen_host ? c->listen_host : "127.0.0.1");
            port_s = value;
            inherited = 1;
        } else {
            if ((size_t)(colon - value) >= sizeof host)
                return asr_error_set(err, ASR_ERR_CONFIG, "listen: address too long in '%s'", value);
            memcpy(host, value, (size_t)(colon - value));
            host[colon - value] = '\0';
            port_s = colon + 1;
        }
    }
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || errno || port < 0 || port > 65535)
        return asr_error_set(err, ASR_ERR_CONFIG, "listen: port must be a number from 0 to 65535, got '%s'",
                             value);
    const char *why = "";
    if (!inherited && !listen_host_ok(host, value[0] == '[', &why))
        return asr_error_set(err, ASR_ERR_CONFIG, "listen: '%s' in '%s' %s", host, value, why);
    c->port = (int)port;
    return cfg_set_string(&c->listen_host, host, err);
}

/* ---- YAML tree ---- */

/* Where the pairs of one mapping go: the top level (section NULL) or a section. */
typedef struct walk_ctx {
    cfg *c;
    const char *section;
} walk_ctx;

static asr_status set_value(cfg_reader *r, cfg *c, const key_def *k, const char *full, yaml_node_t *v)
{
    void *field = (char *)c + k->off;
    const char *s = cfg_scalar(v);
    switch (k->type) {
    case K_INT:
        return cfg_get_int(r, v, full, (long)k->lo, (long)k->hi, (int *)field);
    case K_LONG:
        return cfg_get_long(r, v, full, (long)k->lo, (long)k->hi, (long *)field);
    case K_DOUBLE:
        return cfg_get_double(r, v, full, k->lo, k->hi, (double *)field);
    case K_FLOAT:
        return cfg_get_float(r, v, full, k->lo, k->hi, (float *)field);
    case K_BOOL:
        return cfg_get_bool(r, v, full, (int *)field);
    case K_DECODER: {
        static const char *const names[] = {"greedy", "beam"};
        static const int kinds[] = {ASR_DECODER_GREEDY, ASR_DECODER_BEAM};
        return cfg_get_enum(r, v, full, names, kinds, 2, (int *)field);
    }
    case K_PRECISION: {
        static const char *const names[] = {"float32", "int8"};
        static const int precisions[] = {ASR_PRECISION_FLOAT32, ASR_PRECISION_INT8};
        return cfg_get_enum(r, v, full, names, precisions, 2, (int *)field);
    }
    case K_LEVEL: {
        static const char *const names[] = {"debug", "info", "warning", "error"};
        static const int levels[] = {ASR_LOG_DEBUG, ASR_LOG_INFO, ASR_LOG_WARN, ASR_LOG_ERROR};
        return cfg_get_enum(r, v, full, names, levels, 4, (int *)field);
    }
    case K_STR:
        if (!s)
            return cfg_error(r, v, "%s: expected a string", full);
        /* An empty string means "not set" (the default behaviour). */
        return cfg_set_string((char **)field, *s ? s : NULL, r->err);
    case K_LISTEN:
        if (!s || !*s)
            return cfg_error(r, v, "%s: expected \"HOST:PORT\"", full);
        if (cfg_set_listen(c, s, r->err) != ASR_OK) {
            char why[sizeof r->err->msg];
            snprintf(why, sizeof why, "%s", r->err->msg);
            return cfg_error(r, v, "%s", why);
        }
        return ASR_OK;
    case K_LIST:
    case K_ADDRS: {
        if (v->type != YAML_SEQUENCE_NODE)
            return cfg_error(r, v, "%s: expected a list of strings", full);
        char ***list = (char ***)field;
        int *n = (int *)((char *)c + k->n_off);
        for (int i = 0; i < *n; i++)
            free((*list)[i]);
        free(*list);
        *list = NULL;
        *n = 0;
        size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (cnt == 0)
            return ASR_OK;
        *list = calloc(cnt, sizeof **list);
        if (!*list)
            return asr_error_set(r->err, ASR_ERR_NOMEM, "%s: out of memory", r->name);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = cfg_node(r, *it);
            const char *es = cfg_scalar(e);
            if (!es || !*es)
                return cfg_error(r, e, "%s: expected a non-empty string", full);
            char canon[INET6_ADDRSTRLEN];
            if (k->type == K_ADDRS && !address_canonical(es, canon, sizeof canon))
                return cfg_error(r, e, "%s: '%s' is not an IPv4 or IPv6 address", full, es);
            (*list)[*n] = strdup(es);
            if (!(*list)[*n])
                return asr_error_set(r->err, ASR_ERR_NOMEM, "%s: out of memory", r->name);
            (*n)++;
        }
        return ASR_OK;
    }
    }
    return ASR_OK;
}

/* One pair of the top level or of a section: a key of the table, or (top level) a section. */
static asr_status walk_pair(cfg_reader *r, void *user, const char *ks, yaml_node_t *k, yaml_node_t *v)
{
    const walk_ctx *w = user;
    const char *section = w->section;
    char full[128];
    snprintf(full, sizeof full, "%s%s%s", section ? section : "", section ? "." : "", ks);
    int is_section = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!section && keys[i].section && !strcmp(keys[i].section, ks))
            is_section = 1;
        if (((!section && !keys[i].section) ||
             (section && keys[i].section && !strcmp(keys[i].section, section))) &&
            !strcmp(keys[i].name, ks))
            return set_value(r, w->c, &keys[i], full, v);
    }
    if (is_section) {
        /* "section:" with nothing under it is an empty (null) scalar: nothing to set. */
        if (v->type == YAML_SCALAR_NODE && !*cfg_scalar(v))
            return ASR_OK;
        walk_ctx sub = {w->c, ks};
        return cfg_walk_map(r, v, ks, walk_pair, &sub);
    }
    return cfg_error(r, k, "unknown key '%s'", full);
}

asr_status cfg_load_string(cfg *c, const char *yaml, const char *name, asr_error *err)
{
    cfg_reader r;
    asr_status st = cfg_reader_open(&r, yaml, strlen(yaml), name, CFG_QUOTED_IS_STRING, err);
    if (st != ASR_OK)
        goto fail;
    yaml_node_t *root = cfg_root(&r);
    if (cfg_set_string(&c->source, name, err) != ASR_OK) {
        st = ASR_ERR_NOMEM;
        goto fail;
    }
    if (root && !(root->type == YAML_SCALAR_NODE && !*cfg_scalar(root))) { /* empty file: defaults */
        walk_ctx top = {c, NULL};
        st = cfg_walk_map(&r, root, NULL, walk_pair, &top);
        if (st == ASR_OK && c->min_rate > c->max_rate)
            st = asr_error_set(err, ASR_ERR_CONFIG,
                               "%s: limits.min_sample_rate (%d) exceeds limits.max_sample_rate (%d)", name,
                               c->min_rate, c->max_rate);
        if (st == ASR_OK && c->hangup_s <= c->ping_s)
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: limits.hangup_s (%d) must exceed limits.ping_s (%d)",
                               name, c->hangup_s, c->ping_s);
        if (st == ASR_OK && (!c->tls_cert) != (!c->tls_key))
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: tls.cert and tls.key must be given together", name);
        if (st == ASR_OK && c->www_mount && c->www_mount[0] != '/')
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: www.mount must start with '/', got '%s'", name,
                               c->www_mount);
    }
fail:
    cfg_reader_close(&r);
    return st;
}

asr_status cfg_load_file(cfg *c, const char *path, asr_error *err)
{
    char *text;
    size_t len;
    asr_status st = cfg_read_file(path, &text, &len, err);
    if (st != ASR_OK)
        return st;
    st = cfg_load_string(c, text, path, err);
    free(text);
    return st;
}
