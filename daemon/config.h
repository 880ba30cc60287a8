/* config.h - the daemon's configuration: defaults, YAML file (libyaml), command-line overrides.
 *
 * Every key is optional. Unknown keys, keys given twice, wrong types and out-of-range values are
 * errors reported as "file:line:column: message" (1-based). configs/asrd.yaml documents every key;
 * the layout is
 *   listen: "HOST:PORT"   model: PATH   threads: N
 *   www:      {root: DIR, mount: /PATH}
 *   mic:      {enabled: bool, device: NAME, sample_rate: HZ, source: FILE|-, pace: bool,
 *              grammar: [phrase, ...]}
 *   endpoint: {silence_ms: MS, max_utterance_ms: MS, blank_prob: P}
 *   limits:   {max_sessions, max_message_bytes, idle_timeout_s, max_audio_s, queue_bytes,
 *              min_sample_rate, max_sample_rate, subscriber_queue, max_sessions_per_address,
 *              ping_s, hangup_s}
 *   shutdown: {drain_s: S}
 *   auth:     {token: STRING, origins: [ORIGIN, ...]}
 *   tls:      {cert: FILE, key: FILE}
 *   log:      {level: debug|info|warning|error, file: PATH, json: bool}
 *   decoder:  {kind: greedy|beam, beam: N, lm: PATH, lm_weight: X, word_bonus: X, unk_penalty: X,
 *              closed_vocab: bool}
 *
 * Thread safety: functions are reentrant; a cfg belongs to its caller and is read-only once the
 * daemon starts (every thread may read it then).
 */
#ifndef ASRD_CONFIG_H
#define ASRD_CONFIG_H

#include "../frontend/asr_util.h"
#include "../model/asr_model.h"
#include "../model/ctc_beam.h"

typedef struct cfg {
    char *source; /* the file read last ("" before any), for messages */

    char *listen_host; /* "127.0.0.1": an IPv4 or IPv6 literal (no brackets) or a host name (every
                        * address it resolves to); "*" or "" = every interface (listen.h) */
    int port;          /* 2700 */
    char *model;       /* NULL: the default resolution batch mode uses */
    int precision;     /* asr_precision of the network's products (model_precision) */
    int threads;       /* recognition worker threads */

    char *www_root;  /* static files; NULL: in-tree proto/www or the installed share dir */
    char *www_mount; /* URL prefix of the static files, "/" */

    int mic_enabled;    /* run the capture source as a stream publishing on /mic */
    char *mic_device;   /* capture device name; NULL: system default */
    int mic_rate;       /* capture sample rate */
    char *mic_source;   /* a file or "-" instead of a device (tests, pipelines) */
    int mic_pace;       /* pace the file source in real time */
    char **mic_grammar; /* (n_mic_grammar) phrases restricting the microphone's results */
    int n_mic_grammar;

    int silence_ms;       /* trailing "blank" audio that ends an utterance; 0: never */
    int max_utterance_ms; /* an utterance longer than this is ended; 0: no limit */
    double blank_prob;    /* a frame is silence when P(blank) >= this */

    int max_sessions;       /* more WebSocket sessions are closed with 1013 */
    long max_message_bytes; /* larger messages close the session with 1009 */
    int idle_timeout_s;     /* no message for this long closes the session; 0: never */
    double max_audio_s;     /* audio per session; 0: no cap */
    long queue_bytes;       /* unprocessed audio per session before flow control stops reading */
    int min_rate, max_rate; /* client sample rates accepted */
    int subscriber_queue;   /* unsent results a /mic subscriber may have before it is closed (1008) */
    int max_per_address;    /* open sessions per client address (limits.max_sessions_per_address);
                             * more are closed with 1013; 0: no limit */
    char **trusted_proxies; /* (n_trusted_proxies) peer addresses whose X-Forwarded-For names the client
                             * (the rightmost address in it): a load balancer's, e.g. HAProxy's */
    int n_trusted_proxies;
    int ping_s;   /* a WebSocket client whose last pong is this old is pinged (lws validity) */
    int hangup_s; /* ... and hung up (no close frame) when it is this old; > ping_s. A session the
                   * daemon itself stops reading (queue_bytes) is exempt while it does (server.c) */

    double drain_s; /* after SIGTERM, keep listening this long at least (/healthz 503 "draining",
                     * new sessions refused with HTTP 503) so that a load balancer notices; 0..10 */

    char *token;    /* bearer token required from clients (WebSocket, /metrics, the page); NULL: none */
    char **origins; /* (n_origins) Origin values allowed to open a WebSocket ("*": any); none: only
                     * requests without Origin or whose Origin is the Host they were sent to */
    int n_origins;
    char *tls_cert, *tls_key;

    int log_level;  /* asr_log_level */
    char *log_file; /* NULL: stderr */
    int json;       /* microphone results on stdout as JSON lines */

    /* The decoder of every session without a phrase list (phrase lists keep their closed-vocabulary
     * beam search). Defaults: greedy, ctc_beam_default_params(), no LM. */
    int decoder;          /* asr_decoder_kind: ASR_DECODER_GREEDY or ASR_DECODER_BEAM */
    ctc_beam_params beam; /* decoder.beam, lm_weight, word_bonus, unk_penalty, closed_vocab; the rest as
                           * ctc_beam_default_params() */
    char *lm;             /* decoder.lm: ARPA or binary LM file; NULL: none (acoustic-only beam) */
} cfg;

/* Fills *c with the defaults (strings are owned copies; free with cfg_free). ASR_ERR_NOMEM. */
asr_status cfg_init(cfg *c, asr_error *err);

/* Reads a YAML file over the values already in *c (keys absent from the file keep theirs).
 * On failure *err holds "file:line:column: message" (or "file: reason" for I/O errors) and *c
 * may be partly updated. */
asr_status cfg_load_file(cfg *c, const char *path, asr_error *err);

/* Same, from a string (name is used in messages). */
asr_status cfg_load_string(cfg *c, const char *yaml, const char *name, asr_error *err);

/* Parses "HOST:PORT", ":PORT", "PORT" or "[V6ADDR]:PORT" into c (--listen and the listen key). */
asr_status cfg_set_listen(cfg *c, const char *value, asr_error *err);

/* Replaces a string field (e.g. &c->model) with a copy of v (NULL clears it). */
asr_status cfg_set_string(char **field, const char *v, asr_error *err);

/* Frees every string and zeroes *c; NULL-safe. */
void cfg_free(cfg *c);

#endif
