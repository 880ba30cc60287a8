/* output.h - transcript formats for batch mode: text, JSON (Vosk-like words), SRT and WebVTT.
 *
 * Thread safety: reentrant; each call writes to the FILE it is given.
 */
#ifndef ASRD_OUTPUT_H
#define ASRD_OUTPUT_H

#include <stdio.h>

#include "../frontend/asr_util.h"
#include "../model/ctc_decoder.h"

typedef enum output_format { OUTPUT_TEXT = 0, OUTPUT_JSON, OUTPUT_SRT, OUTPUT_VTT } output_format;

/* Parses "text", "json", "srt" or "vtt"; returns 0, or -1 for anything else. */
int output_format_parse(const char *name, output_format *f);

/* Cue limits for SRT/VTT: a cue ends before a word that would make it longer than
 * OUTPUT_CUE_MAX_MS or OUTPUT_CUE_MAX_WORDS words, or that follows a pause of OUTPUT_CUE_GAP_MS. */
#define OUTPUT_CUE_MAX_MS 7000.0
#define OUTPUT_CUE_MAX_WORDS 10
#define OUTPUT_CUE_GAP_MS 1000.0

typedef struct output_cue {
    int first, n;            /* words r->words[first .. first+n) */
    double start_ms, end_ms; /* first word's start, last word's end */
} output_cue;

/* Splits r's words into cues (limits above). Writes at most max cues and returns how many there
 * are in total (r->n_words at most, so max = r->n_words always suffices). */
int output_cues(const asr_result *r, output_cue *cues, int max);

/* Writes one file's transcript:
 *   text: the text on one line, prefixed by "path<TAB>" when with_path is set;
 *   json: one compact object on one line: {"file": path, "text": ..., "result": [{"word", "start",
 *         "end", "conf"}, ...]} with times in seconds (millisecond precision), as Vosk reports words;
 *   srt/vtt: a complete subtitle document ("WEBVTT" header for vtt), cues from output_cues.
 * Returns ASR_OK, ASR_ERR_NOMEM, or ASR_ERR_IO when the stream reports a write error. */
asr_status output_write(FILE *out, output_format f, const char *path, const asr_result *r, int with_path);

#endif
