/* vosk.c - Vosk protocol messages (see vosk.h). Output is built by hand rather than through cJSON
 * because clients compare against Vosk's exact layout (json.h dump: sorted keys, " : ", "%f"). */
#include "vosk.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vosk_msg_type fail(vosk_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static vosk_msg_type fail(vosk_msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    vosk_msg_free(m);
    m->type = VOSK_MSG_ERROR;
    return VOSK_MSG_ERROR;
}

static vosk_msg_type parse_config(const cJSON *c, vosk_msg *m)
{
    if (!cJSON_IsObject(c))
        return fail(m, "\"config\" must be an object");
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(c, "sample_rate");
    if (sr) {
        double v = sr->valuedouble;
        if (!cJSON_IsNumber(sr) || !isfinite(v) || v != floor(v) || v <= 0 || v > 1e7)
            return fail(m, "config.sample_rate must be a positive integer (Hz)");
        m->config.sample_rate = (int)v;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "words");
    if (w) {
        if (cJSON_IsBool(w))
            m->config.words = cJSON_IsTrue(w) ? 1 : 0;
        else if (cJSON_IsNumber(w)) /* vosk-server applies bool(): 0 and 1 work too */
            m->config.words = w->valuedouble != 0;
        else
            return fail(m, "config.words must be true or false");
    }
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(c, "max_alternatives");
    if (ma) {
        if (!cJSON_IsNumber(ma) || ma->valuedouble < 0 || ma->valuedouble > 1000)
            return fail(m, "config.max_alternatives must be a number from 0 to 1000");
        m->config.max_alternatives = (int)ma->valuedouble;
    }
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(c, "phrase_list");
    if (pl) {
        if (!cJSON_IsArray(pl))
            return fail(m, "config.phrase_list must be a list of strings");
        int n = cJSON_GetArraySize(pl);
        m->config.has_phrase_list = 1;
        if (n > 0) {
            m->config.phrases = calloc((size_t)n, sizeof *m->config.phrases);
            if (!m->config.phrases)
                return fail(m, "out of memory");
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, pl)
        {
            if (!cJSON_IsString(e))
                return fail(m, "config.phrase_list must be a list of strings");
            m->config.phrases[m->config.n_phrases] = strdup(e->valuestring);
            if (!m->config.phrases[m->config.n_phrases])
                return fail(m, "out of memory");
            m->config.n_phrases++;
        }
    }
    m->type = VOSK_MSG_CONFIG;
    return VOSK_MSG_CONFIG;
}

vosk_msg_type vosk_parse(const char *text, size_t len, vosk_msg *m)
{
    memset(m, 0, sizeof *m);
    m->config.words = -1;
    m->config.max_alternatives = -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j)
        return fail(m, "invalid JSON");
    vosk_msg_type t;
    const cJSON *c;
    if (!cJSON_IsObject(j))
        t = fail(m, "expected a JSON object such as {\"eof\" : 1}");
    else if ((c = cJSON_GetObjectItemCaseSensitive(j, "config")))
        t = parse_config(c, m);
    else if (cJSON_GetObjectItemCaseSensitive(j, "eof"))
        t = m->type = VOSK_MSG_EOF;
    else if (cJSON_GetObjectItemCaseSensitive(j, "reset"))
        t = m->type = VOSK_MSG_RESET;
    else
        t = fail(m, "unknown command: expected \"config\", \"eof\" or \"reset\"");
    cJSON_Delete(j);
    return t;
}

void vosk_msg_free(vosk_msg *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->config.n_phrases; i++)
        free(m->config.phrases[i]);
    free(m->config.phrases);
    m->config.phrases = NULL;
    m->config.n_phrases = 0;
    m->config.has_phrase_list = 0;
}

/* ---- output: a growing string ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int bad;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->bad = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A JSON string as json.h's json_escape writes it (", \, \b, \f, \n, \r, \t escaped), plus \u00XX for
 * the other control characters so the output is always valid JSON. */
static void put_string(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        char esc[8];
        switch (*c) {
        case '"':
            puts_(b, "\\\"");
            break;
        case '\\':
            puts_(b, "\\\\");
            break;
        case '\b':
            puts_(b, "\\b");
            break;
        case '\f':
            puts_(b, "\\f");
            break;
        case '\n':
            puts_(b, "\\n");
            break;
        case '\r':
            puts_(b, "\\r");
            break;
        case '\t':
            puts_(b, "\\t");
            break;
        default:
            if (*c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *c);
                puts_(b, esc);
            } else {
                put(b, (const char *)c, 1);
            }
        }
    }
    put(b, "\"", 1);
}

/* std::to_string(double): "%f". Non-finite values would be invalid JSON: written as 0. */
static void put_double(sbuf *b, double v)
{
    char num[64];
    snprintf(num, sizeof num, "%f", isfinite(v) ? v : 0.0);
    puts_(b, num);
}

static char *finish(sbuf *b)
{
    if (b->bad) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

static char *one_string(const char *key, const char *value)
{
    sbuf b = {0};
    puts_(&b, "{\n  \"");
    puts_(&b, key);
    puts_(&b, "\" : ");
    put_string(&b, value);
    puts_(&b, "\n}");
    return finish(&b);
}

char *vosk_format_partial(const char *text)
{
    return one_string("partial", text);
}

char *vosk_format_error(const char *msg)
{
    return one_string("error", msg);
}

char *vosk_format_result(const char *text, const vosk_word *w, int n, int words)
{
    if (!words || n <= 0)
        return one_string("text", text);
    sbuf b = {0};
    puts_(&b, "{\n  \"result\" : [");
    for (int i = 0; i < n; i++) {
        puts_(&b, i ? ", {\n      \"conf\" : " : "{\n      \"conf\" : ");
        put_double(&b, w[i].conf);
        puts_(&b, ",\n      \"end\" : ");
        put_double(&b, w[i].end);
        puts_(&b, ",\n      \"start\" : ");
        put_double(&b, w[i].start);
        puts_(&b, ",\n      \"word\" : ");
        put_string(&b, w[i].word);
        puts_(&b, "\n    }");
    }
    puts_(&b, "],\n  \"text\" : ");
    put_string(&b, text);
    puts_(&b, "\n}");
    return finish(&b);
}
