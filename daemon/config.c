/* config.c - YAML configuration of the daemon (see config.h). A table names every key with its
 * type, range and field, so the parser, the range checks and the error messages cannot drift. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef enum { K_INT, K_LONG, K_DOUBLE, K_BOOL, K_STR, K_LIST, K_LISTEN, K_LEVEL } key_type;

typedef struct key_def {
    const char *section; /* NULL: top level */
    const char *name;
    key_type type;
    size_t off;   /* offset of the field in cfg */
    double lo, hi; /* numeric range */
    size_t n_off; /* K_LIST: offset of the count */
} key_def;

#define F(f) offsetof(cfg, f)
static const key_def keys[] = {
    {NULL, "listen", K_LISTEN, 0, 0, 0, 0},
    {NULL, "model", K_STR, F(model), 0, 0, 0},
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
    {"auth", "token", K_STR, F(token), 0, 0, 0},
    {"tls", "cert", K_STR, F(tls_cert), 0, 0, 0},
    {"tls", "key", K_STR, F(tls_key), 0, 0, 0},
    {"log", "level", K_LEVEL, F(log_level), 0, 0, 0},
    {"log", "file", K_STR, F(log_file), 0, 0, 0},
    {"log", "json", K_BOOL, F(json), 0, 0, 0},
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
    c->log_level = ASR_LOG_INFO;
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
    free(c->listen_host);
    free(c->source);
    memset(c, 0, sizeof *c);
}

asr_status cfg_set_listen(cfg *c, const char *value, asr_error *err)
{
    char host[256];
    const char *port_s;
    if (value[0] == '[') { /* [v6]:port */
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':' || (size_t)(close - value - 1) >= sizeof host)
            return asr_error_set(err, ASR_ERR_CONFIG, "listen: expected [ADDRESS]:PORT, got '%s'", value);
        memcpy(host, value + 1, (size_t)(close - value - 1));
        host[close - value - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(value, ':');
        if (!colon) {
            snprintf(host, sizeof host, "%s", c->listen_host ? c->listen_host : "127.0.0.1");
            port_s = value;
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
        return asr_error_set(err, ASR_ERR_CONFIG, "listen: port must be a number from 0 to 65535, got '%s'", value);
    c->port = (int)port;
    return cfg_set_string(&c->listen_host, host, err);
}

/* ---- YAML tree ---- */

typedef struct parse_ctx {
    yaml_document_t *doc;
    const char *name;
    asr_error *err;
    cfg *c;
} parse_ctx;

static asr_status node_err(parse_ctx *x, const yaml_node_t *nd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static asr_status node_err(parse_ctx *x, const yaml_node_t *nd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return asr_error_set(x->err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s", x->name, (unsigned long)nd->start_mark.line + 1,
                         (unsigned long)nd->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *nd)
{
    return nd->type == YAML_SCALAR_NODE ? (const char *)nd->data.scalar.value : NULL;
}

/* A scalar written in quotes is a string even if it looks like a number or a boolean. */
static int quoted(const yaml_node_t *nd)
{
    return nd->type == YAML_SCALAR_NODE && (nd->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                                            nd->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static asr_status set_value(parse_ctx *x, const key_def *k, const char *full, yaml_node_t *v)
{
    void *field = (char *)x->c + k->off;
    const char *s = scalar(v);
    char *end;
    switch (k->type) {
    case K_INT:
    case K_LONG: {
        if (!s || !*s || quoted(v))
            return node_err(x, v, "%s: expected an integer", full);
        errno = 0;
        long n = strtol(s, &end, 10);
        if (*end || errno)
            return node_err(x, v, "%s: expected an integer, got '%s'", full, s);
        if (n < k->lo || n > k->hi)
            return node_err(x, v, "%s: %s is out of range [%.0f, %.0f]", full, s, k->lo, k->hi);
        if (k->type == K_INT)
            *(int *)field = (int)n;
        else
            *(long *)field = n;
        return ASR_OK;
    }
    case K_DOUBLE: {
        if (!s || !*s || quoted(v))
            return node_err(x, v, "%s: expected a number", full);
        errno = 0;
        double d = strtod(s, &end);
        if (*end || errno || !isfinite(d))
            return node_err(x, v, "%s: expected a number, got '%s'", full, s);
        if (d < k->lo || d > k->hi)
            return node_err(x, v, "%s: %s is out of range [%g, %g]", full, s, k->lo, k->hi);
        *(double *)field = d;
        return ASR_OK;
    }
    case K_BOOL:
        if (s && !quoted(v) && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")))
            *(int *)field = 1;
        else if (s && !quoted(v) && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")))
            *(int *)field = 0;
        else
            return node_err(x, v, "%s: expected true or false", full);
        return ASR_OK;
    case K_LEVEL: {
        static const char *const names[] = {"debug", "info", "warning", "error"};
        for (int i = 0; s && i < 4; i++)
            if (!strcmp(s, names[i])) {
                *(int *)field = i;
                return ASR_OK;
            }
        return node_err(x, v, "%s: expected debug, info, warning or error", full);
    }
    case K_STR:
        if (!s)
            return node_err(x, v, "%s: expected a string", full);
        /* An empty string means "not set" (the default behaviour). */
        return cfg_set_string((char **)field, *s ? s : NULL, x->err);
    case K_LISTEN:
        if (!s || !*s)
            return node_err(x, v, "%s: expected \"HOST:PORT\"", full);
        if (cfg_set_listen(x->c, s, x->err) != ASR_OK) {
            char why[sizeof x->err->msg];
            snprintf(why, sizeof why, "%s", x->err->msg);
            return node_err(x, v, "%s", why);
        }
        return ASR_OK;
    case K_LIST: {
        if (v->type != YAML_SEQUENCE_NODE)
            return node_err(x, v, "%s: expected a list of strings", full);
        char ***list = (char ***)field;
        int *n = (int *)((char *)x->c + k->n_off);
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
            return asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(x->doc, *it);
            const char *es = scalar(e);
            if (!es || !*es)
                return node_err(x, e, "%s: expected a non-empty string", full);
            (*list)[*n] = strdup(es);
            if (!(*list)[*n])
                return asr_error_set(x->err, ASR_ERR_NOMEM, "%s: out of memory", x->name);
            (*n)++;
        }
        return ASR_OK;
    }
    }
    return ASR_OK;
}

/* Walks one mapping: the top level (section NULL) or a section's mapping. */
static asr_status walk(parse_ctx *x, yaml_node_t *nd, const char *section)
{
    if (nd->type != YAML_MAPPING_NODE)
        return node_err(x, nd, "%s: expected a mapping (key: value lines)", section ? section : "top level");
    for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        if (!ks)
            return node_err(x, k, "keys must be plain words");
        char full[128];
        snprintf(full, sizeof full, "%s%s%s", section ? section : "", section ? "." : "", ks);
        int is_section = 0, found = 0;
        for (size_t i = 0; i < N_KEYS; i++) {
            if (!section && keys[i].section && !strcmp(keys[i].section, ks))
                is_section = 1;
            if (((!section && !keys[i].section) || (section && keys[i].section && !strcmp(keys[i].section, section))) &&
                !strcmp(keys[i].name, ks)) {
                asr_status st = set_value(x, &keys[i], full, v);
                if (st != ASR_OK)
                    return st;
                found = 1;
                break;
            }
        }
        if (found)
            continue;
        if (is_section) {
            /* "section:" with nothing under it is an empty (null) scalar: nothing to set. */
            if (v->type == YAML_SCALAR_NODE && !*scalar(v))
                continue;
            asr_status st = walk(x, v, ks);
            if (st != ASR_OK)
                return st;
            continue;
        }
        return node_err(x, k, "unknown key '%s'", full);
    }
    return ASR_OK;
}

asr_status cfg_load_string(cfg *c, const char *yaml, const char *name, asr_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    asr_status st = ASR_OK;
    if (!yaml_parser_initialize(&parser))
        return asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
    if (!yaml_parser_load(&parser, &doc)) {
        st = asr_error_set(err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s", name, (unsigned long)parser.problem_mark.line + 1,
                           (unsigned long)parser.problem_mark.column + 1,
                           parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (cfg_set_string(&c->source, name, err) != ASR_OK) {
        st = ASR_ERR_NOMEM;
        goto fail;
    }
    if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) { /* empty file: defaults */
        parse_ctx x = {&doc, name, err, c};
        st = walk(&x, root, NULL);
        if (st == ASR_OK && c->min_rate > c->max_rate)
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: limits.min_sample_rate (%d) exceeds limits.max_sample_rate (%d)",
                               name, c->min_rate, c->max_rate);
        if (st == ASR_OK && (!c->tls_cert) != (!c->tls_key))
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: tls.cert and tls.key must be given together", name);
        if (st == ASR_OK && c->www_mount && c->www_mount[0] != '/')
            st = asr_error_set(err, ASR_ERR_CONFIG, "%s: www.mount must start with '/', got '%s'", name, c->www_mount);
    }
fail:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

asr_status cfg_load_file(cfg *c, const char *path, asr_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    asr_status st;
    if (!f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    buf = malloc(cap);
    if (!buf) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: read error", path);
        goto fail;
    }
    buf[n] = '\0';
    st = cfg_load_string(c, buf, path, err);
fail:
    free(buf);
    fclose(f);
    return st;
}
