/* vosk.h - the Vosk WebSocket protocol as a library: parse client text messages (cJSON) and format
 * the server's replies byte for byte as Vosk does.
 *
 * Client -> server text messages (alphacep/vosk-server websocket/asr_server.py):
 *   {"config": {"sample_rate": R, "words": bool, "max_alternatives": N, "phrase_list": [...]}}
 *   {"eof" : 1}      end of audio: the final result follows, then a normal close
 *   {"reset" : 1}    end the current utterance: its final result follows, the session goes on
 * Binary messages are PCM16LE mono audio (not handled here).
 *
 * Server -> client replies are formatted as vosk-api's json.h dump() writes them: keys sorted, two-space
 * indentation, " : " between key and value, arrays inline with ", ", numbers as C++ std::to_string
 * ("%f"), e.g. {\n  "partial" : "hello world"\n}. A result without words (or with words off) is
 * {\n  "text" : "..."\n}. asrd's own addition: {\n  "error" : "reason"\n} for bad client messages.
 *
 * Thread safety: every function is reentrant; results belong to the caller.
 */
#ifndef ASRD_VOSK_H
#define ASRD_VOSK_H

#include <stddef.h>

typedef enum vosk_msg_type {
    VOSK_MSG_ERROR = 0, /* invalid JSON, not an object, unknown command, bad value: see error */
    VOSK_MSG_CONFIG,
    VOSK_MSG_EOF,
    VOSK_MSG_RESET,
} vosk_msg_type;

typedef struct vosk_config {
    int sample_rate;      /* 0: not given */
    int words;            /* -1: not given, else 0/1 */
    int max_alternatives; /* -1: not given (accepted; asrd always sends one hypothesis) */
    int has_phrase_list;
    char **phrases; /* (n_phrases) owned strings, when has_phrase_list */
    int n_phrases;
} vosk_config;

typedef struct vosk_msg {
    vosk_msg_type type;
    vosk_config config; /* VOSK_MSG_CONFIG */
    char error[256];    /* VOSK_MSG_ERROR: why the message was refused */
} vosk_msg;

/* Parses one complete client text message of len bytes (need not be NUL-terminated) into *m
 * (free with vosk_msg_free) and returns m->type. A sample_rate must be a positive integer (a JSON
 * number such as 16000 or 16000.0); range checks belong to the caller. Unknown keys inside
 * "config" are ignored as vosk-server does; an object with none of config/eof/reset is an error. */
vosk_msg_type vosk_parse(const char *text, size_t len, vosk_msg *m);

/* Frees what m holds (phrase list); NULL-safe. */
void vosk_msg_free(vosk_msg *m);

/* One recognised word: times in seconds from the start of the session's audio, conf in 0..1. */
typedef struct vosk_word {
    const char *word;
    double start, end, conf;
} vosk_word;

/* {"partial" : text}. Returns a malloc'd NUL-terminated string (caller frees) or NULL. */
char *vosk_format_partial(const char *text);

/* {"result" : [{"conf","end","start","word"}, ...], "text" : text} with words != 0 and n > 0,
 * else {"text" : text}. malloc'd (caller frees) or NULL. */
char *vosk_format_result(const char *text, const vosk_word *w, int n, int words);

/* {"error" : msg}. malloc'd (caller frees) or NULL. */
char *vosk_format_error(const char *msg);

#endif
