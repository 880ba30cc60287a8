/* output.c - transcript formats for batch mode (see output.h). */
#include "output.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int output_format_parse(const char *name, output_format *f)
{
    static const struct {
        const char *name;
        output_format f;
    } tab[] = {{"text", OUTPUT_TEXT}, {"json", OUTPUT_JSON}, {"srt", OUTPUT_SRT}, {"vtt", OUTPUT_VTT}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(name, tab[i].name) == 0) {
            *f = tab[i].f;
            return 0;
        }
    }
    return -1;
}

int output_cues(const asr_result *r, output_cue *cues, int max)
{
    int n = 0;
    output_cue cur = {0, 0, 0, 0};
    for (int i = 0; i < r->n_words; i++) {
        const asr_word *w = &r->words[i];
        int split =
            cur.n > 0 && (cur.n >= OUTPUT_CUE_MAX_WORDS || w->end_ms - cur.start_ms > OUTPUT_CUE_MAX_MS ||
                          w->start_ms - cur.end_ms >= OUTPUT_CUE_GAP_MS);
        if (split) {
            if (n < max)
                cues[n] = cur;
            n++;
            cur.n = 0;
        }
        if (cur.n == 0) {
            cur.first = i;
            cur.start_ms = w->start_ms;
        }
        cur.n++;
        cur.end_ms = w->end_ms;
    }
    if (cur.n > 0) {
        if (n < max)
            cues[n] = cur;
        n++;
    }
    return n;
}

/* HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (VTT). */
static void fmt_time(char *buf, size_t n, double ms, char sep)
{
    long long t = llround(ms < 0 ? 0 : ms);
    snprintf(buf, n, "%02lld:%02lld:%02lld%c%03lld", t / 3600000, t / 60000 % 60, t / 1000 % 60, sep,
             t % 1000);
}

static asr_status write_subtitles(FILE *out, output_format f, const asr_result *r)
{
    output_cue *cues = NULL;
    if (r->n_words > 0) {
        cues = malloc((size_t)r->n_words * sizeof *cues);
        if (!cues)
            return ASR_ERR_NOMEM;
    }
    int nc = output_cues(r, cues, r->n_words);
    char sep = f == OUTPUT_SRT ? ',' : '.';
    if (f == OUTPUT_VTT)
        fputs("WEBVTT\n\n", out);
    for (int c = 0; c < nc; c++) {
        char t0[32], t1[32];
        fmt_time(t0, sizeof t0, cues[c].start_ms, sep);
        fmt_time(t1, sizeof t1, cues[c].end_ms, sep);
        if (f == OUTPUT_SRT)
            fprintf(out, "%d\n", c + 1);
        fprintf(out, "%s --> %s\n", t0, t1);
        for (int k = 0; k < cues[c].n; k++)
            fprintf(out, "%s%s", k ? " " : "", r->words[cues[c].first + k].word);
        fputs("\n\n", out);
    }
    free(cues);
    return ASR_OK;
}

/* Seconds with millisecond precision. */
static double secs(double ms)
{
    return round(ms) / 1000.0;
}

static asr_status write_json(FILE *out, const char *path, const asr_result *r)
{
    asr_status st = ASR_ERR_NOMEM;
    char *s = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "file", path) ||
        !cJSON_AddStringToObject(o, "text", r->text ? r->text : ""))
        goto fail;
    cJSON *arr = cJSON_AddArrayToObject(o, "result");
    if (!arr)
        goto fail;
    for (int i = 0; i < r->n_words; i++) {
        const asr_word *w = &r->words[i];
        cJSON *jw = cJSON_CreateObject();
        if (!jw)
            goto fail;
        cJSON_AddItemToArray(arr, jw);
        if (!cJSON_AddStringToObject(jw, "word", w->word) ||
            !cJSON_AddNumberToObject(jw, "start", secs(w->start_ms)) ||
            !cJSON_AddNumberToObject(jw, "end", secs(w->end_ms)) ||
            !cJSON_AddNumberToObject(jw, "conf", round((double)w->conf * 1e6) / 1e6))
            goto fail;
    }
    s = cJSON_PrintUnformatted(o);
    if (!s)
        goto fail;
    fputs(s, out);
    fputc('\n', out);
    st = ASR_OK;
fail:
    free(s);
    cJSON_Delete(o);
    return st;
}

asr_status output_write(FILE *out, output_format f, const char *path, const asr_result *r, int with_path)
{
    asr_status st = ASR_OK;
    switch (f) {
    case OUTPUT_TEXT:
        if (with_path)
            fprintf(out, "%s\t", path);
        fprintf(out, "%s\n", r->text ? r->text : "");
        break;
    case OUTPUT_JSON:
        st = write_json(out, path, r);
        break;
    case OUTPUT_SRT:
    case OUTPUT_VTT:
        st = write_subtitles(out, f, r);
        break;
    }
    if (st == ASR_OK && ferror(out))
        st = ASR_ERR_IO;
    return st;
}
