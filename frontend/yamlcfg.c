/* yamlcfg.c - typed readers over a libyaml document (see yamlcfg.h). */
#include "yamlcfg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

asr_status cfg_reader_open(cfg_reader *r, const char *text, size_t len, const char *name, unsigned flags,
                           asr_error *err)
{
    yaml_parser_t parser;
    asr_status st = ASR_OK;
    memset(r, 0, sizeof *r);
    r->name = name;
    r->err = err;
    r->flags = flags;
    if (!yaml_parser_initialize(&parser))
        return asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (yaml_parser_load(&parser, &r->doc)) {
        r->have_doc = 1;
    } else {
        /* Some errors carry only a context mark (the problem mark stays at 0:0). */
        const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column ? &parser.problem_mark
                                                                                      : &parser.context_mark;
        st =
            asr_error_set(err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s%s%s", name, (unsigned long)m->line + 1,
                          (unsigned long)m->column + 1, parser.problem ? parser.problem : "YAML syntax error",
                          parser.context ? " " : "", parser.context ? parser.context : "");
    }
    yaml_parser_delete(&parser);
    return st;
}

void cfg_reader_close(cfg_reader *r)
{
    if (r->have_doc)
        yaml_document_delete(&r->doc);
    r->have_doc = 0;
}

yaml_node_t *cfg_root(cfg_reader *r)
{
    return r->have_doc ? yaml_document_get_root_node(&r->doc) : NULL;
}

yaml_node_t *cfg_node(cfg_reader *r, int id)
{
    return yaml_document_get_node(&r->doc, id);
}

asr_status cfg_error(cfg_reader *r, const yaml_node_t *nd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return asr_error_set(r->err, ASR_ERR_CONFIG, "%s:%lu:%lu: %s", r->name,
                         (unsigned long)nd->start_mark.line + 1, (unsigned long)nd->start_mark.column + 1,
                         msg);
}

const char *cfg_scalar(const yaml_node_t *nd)
{
    return nd->type == YAML_SCALAR_NODE ? (const char *)nd->data.scalar.value : NULL;
}

/* The scalar text if it may be read as a number or a boolean, else NULL. */
static const char *plain(const cfg_reader *r, const yaml_node_t *nd)
{
    const char *s = cfg_scalar(nd);
    if (s && (r->flags & CFG_QUOTED_IS_STRING) &&
        (nd->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
         nd->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        return NULL;
    return s;
}

asr_status cfg_get_long(cfg_reader *r, const yaml_node_t *nd, const char *key, long lo, long hi, long *out)
{
    const char *s = plain(r, nd);
    char *end;
    if (!s || !*s)
        return cfg_error(r, nd, "%s: expected an integer", key);
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno) {
        /* integral floats such as 1e4, where the dialect allows them */
        double d = strtod(s, &end);
        if (!(r->flags & CFG_LENIENT_NUMBERS) || *end || d != floor(d) || fabs(d) > 9e15)
            return cfg_error(r, nd, "%s: expected an integer, got '%s'", key, s);
        v = (long)d;
    }
    if (v < lo || v > hi)
        return cfg_error(r, nd, "%s: %s is out of range [%ld, %ld]", key, s, lo, hi);
    *out = v;
    return ASR_OK;
}

asr_status cfg_get_int(cfg_reader *r, const yaml_node_t *nd, const char *key, long lo, long hi, int *out)
{
    long v;
    asr_status st = cfg_get_long(r, nd, key, lo, hi, &v);
    if (st == ASR_OK)
        *out = (int)v;
    return st;
}

asr_status cfg_get_double(cfg_reader *r, const yaml_node_t *nd, const char *key, double lo, double hi,
                          double *out)
{
    const char *s = plain(r, nd);
    char *end;
    if (!s || !*s)
        return cfg_error(r, nd, "%s: expected a number", key);
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return cfg_error(r, nd, "%s: expected a number, got '%s'", key, s);
    if (v < lo || v > hi)
        return cfg_error(r, nd, "%s: %s is out of range [%g, %g]", key, s, lo, hi);
    *out = v;
    return ASR_OK;
}

asr_status cfg_get_float(cfg_reader *r, const yaml_node_t *nd, const char *key, double lo, double hi,
                         float *out)
{
    double v;
    asr_status st = cfg_get_double(r, nd, key, lo, hi, &v);
    if (st == ASR_OK)
        *out = (float)v;
    return st;
}

asr_status cfg_get_bool(cfg_reader *r, const yaml_node_t *nd, const char *key, int *out)
{
    const char *s = plain(r, nd);
    int lenient = (r->flags & CFG_LENIENT_NUMBERS) != 0;
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || (lenient && !strcmp(s, "1"))))
        *out = 1;
    else if (s &&
             (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || (lenient && !strcmp(s, "0"))))
        *out = 0;
    else
        return cfg_error(r, nd, "%s: expected true or false", key);
    return ASR_OK;
}

asr_status cfg_get_enum(cfg_reader *r, const yaml_node_t *nd, const char *key, const char *const *names,
                        const int *values, int n, int *out)
{
    const char *s = cfg_scalar(nd);
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = values[i];
            return ASR_OK;
        }
    char list[256];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i == 0       ? ""
                                : i == n - 1 ? " or "
                                             : ", ",
                                names[i]);
    return cfg_error(r, nd, "%s: expected %s", key, list);
}

asr_status cfg_walk_map(cfg_reader *r, yaml_node_t *nd, const char *what, cfg_pair_fn fn, void *user)
{
    if (nd->type != YAML_MAPPING_NODE)
        return cfg_error(r, nd, "%s: expected a mapping (key: value lines)", what ? what : "top level");
    for (yaml_node_pair_t *p = nd->data.mapping.pairs.start; p < nd->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(r, p->key);
        yaml_node_t *v = cfg_node(r, p->value);
        const char *ks = cfg_scalar(k);
        if (!ks)
            return what ? cfg_error(r, k, "%s: keys must be plain words", what)
                        : cfg_error(r, k, "keys must be plain words");
        /* A second value for a key would silently replace the first: refuse it, at the second. */
        for (yaml_node_pair_t *q = nd->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *qk = cfg_node(r, q->key);
            const char *qs = cfg_scalar(qk);
            if (qs && !strcmp(qs, ks))
                return cfg_error(r, k, "duplicate key '%s%s%s' (first at line %lu, column %lu)",
                                 what ? what : "", what ? "." : "", ks,
                                 (unsigned long)qk->start_mark.line + 1,
                                 (unsigned long)qk->start_mark.column + 1);
        }
        asr_status st = fn(r, user, ks, k, v);
        if (st != ASR_OK)
            return st;
    }
    return ASR_OK;
}

asr_status cfg_read_file(const char *path, char **text, size_t *len, asr_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 4096, n = 0;
    asr_status st = ASR_OK;
    *text = NULL;
    *len = 0;
    if (!f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
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
    *text = buf;
    *len = n;
    buf = NULL;
fail:
    free(buf);
    fclose(f);
    return st;
}
