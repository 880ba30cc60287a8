/* session.h - one recognition session (a WebSocket client or the microphone feed) and the hub that
 * connects the network thread with the worker threads.
 *
 * DESIGN
 * The network thread (libwebsockets service loop) only does I/O: it turns client messages into jobs
 * (audio, config, reset, eof) appended to the session's job queue and schedules the session on the
 * hub's ready queue. A worker thread takes scheduled sessions (up to SESSION_BATCH_MAX) and runs
 * their jobs in order, one job per session per round: resampling to the model's rate, the frontend
 * (asr_stream_feed); then the network steps of every session of the round with fresh audio as one
 * batch (asr_stream_run_batch: their GRU steps become one matrix product per step, with output
 * bit-identical to each session alone); then CTC decoding and endpointing per session. Every reply
 * (a partial, a result, a close) goes to the session's output queue; then the worker calls the hub's
 * wake function (lws_cancel_service), and the network thread writes the replies. A session is
 * scheduled at most once at a time, so its recognition state has one owner at a time and needs no
 * lock; the job and output queues, flags and counters are guarded by the one hub mutex, held only to
 * link or unlink list items.
 *
 * Lifetime: sessions are reference counted outside libwebsockets' per-session struct (lws frees that
 * after LWS_CALLBACK_CLOSED while a worker may still run the session's jobs). The network thread
 * holds one reference while the connection lives, the ready queue one while scheduled.
 *
 * Endpointing: a frame is "silence" when P(blank) >= blank_prob. An utterance that has produced text
 * ends after silence_ms of trailing silence frames, and any utterance ends after max_utterance_ms;
 * its final result is sent and a new utterance starts. The recurrent state is deliberately KEPT at
 * the boundary: the stream computes all frames of a chunk at once, so a reset could only happen at a
 * chunk edge, and the results would then depend on how the client chunked its audio; after a run of
 * silence frames the state carries little beyond the channel/speaker context that helps the next
 * utterance. Consequently the text of consecutive results joined by spaces equals the transcript of
 * the whole audio (what asrd --batch prints) when utterances end on silence.
 *
 * Decoders: a session decodes with the configured decoder (hub_params: greedy, or the CTC prefix
 * beam search with the daemon's one shared LM). Phrase lists ({"config": {"phrase_list": [...]}},
 * mic.grammar): the session switches to the beam search over a closed vocabulary of the phrases'
 * words (ctc_phrases_build, the session's own small LM); an empty list switches back to the
 * configured decoder. Send it before the audio, as Vosk requires: the new decoder
 * starts its clock at 0. Only {"reset" : 1} clears
 * the recurrent state (a client's explicit "new utterance, forget the past").
 *
 * Thread ownership of fields is stated on each field: [net] network thread, [worker] the worker that
 * has the session scheduled, [hub] under hub->lock, [any] immutable after creation.
 */
#ifndef ASRD_SESSION_H
#define ASRD_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "../frontend/asr_util.h"
#include "../frontend/audio.h"
#include "../model/asr_model.h"
#include "../model/ctc_beam.h"
#include "../model/ctc_decoder.h"

typedef struct session session;

/* Counters for /metrics; atomics so any thread may bump them without the hub lock. */
typedef enum hub_error_kind {
    ERR_INVALID_JSON,
    ERR_UNKNOWN_COMMAND,
    ERR_BAD_CONFIG,
    ERR_UNSUPPORTED_RATE,
    ERR_MESSAGE_TOO_BIG,
    ERR_TOO_MANY_SESSIONS,
    ERR_AUTH,
    ERR_IDLE_TIMEOUT,
    ERR_AUDIO_CAP,
    ERR_SLOW_SUBSCRIBER, /* a /mic subscriber closed for not reading (queue full, or stalled) */
    ERR_ORIGIN,          /* a WebSocket upgrade from an Origin not allowed (auth.origins) */
    ERR_ADDRESS_LIMIT,   /* a connection over limits.max_sessions_per_address */
    ERR_INTERNAL,
    ERR_DRAINING, /* a WebSocket upgrade refused with HTTP 503 after SIGTERM */
    ERR_N_KINDS
} hub_error_kind;

/* Name of an error kind for metrics labels ("invalid_json", ...). */
const char *hub_error_name(hub_error_kind k);

typedef struct hub_stats {
    atomic_long sessions_open, sessions_total;
    atomic_llong samples_in;      /* model-rate samples recognised (audio seconds = / rate) */
    atomic_llong busy_ns;         /* worker time spent recognising */
    atomic_llong dropped_samples; /* model-rate samples dropped (microphone queue full) */
    atomic_long results, partials;
    atomic_long errors[ERR_N_KINDS];
} hub_stats;

typedef struct hub_params {
    int silence_ms, max_utterance_ms;
    double blank_prob;
    /* The decoder of sessions without a phrase list (the configuration's decoder section). */
    asr_decoder_kind decoder;
    ctc_beam_params beam;   /* decoder == ASR_DECODER_BEAM */
    const asr_lm *lm;       /* loaded once at start-up, shared read-only by every session; or NULL */
    const ctc_lexicon *lex; /* built from lm (NULL iff lm is); both outlive the hub */
} hub_params;

typedef struct hub {
    const asr_model *model; /* [any] shared read-only */
    hub_params params;      /* [any] */
    int rate;               /* [any] model sample rate */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* workers wait here for ready sessions */
    session **ready;     /* [hub] FIFO ring of scheduled sessions (each holds a reference) */
    size_t ready_cap, ready_head, ready_n;
    long jobs_queued; /* [hub] jobs waiting in all sessions */
    int quit;         /* [hub] workers exit when set */

    session *dirty; /* [hub] sessions given output since the network thread last looked,
                     * linked by dirty_next, each holding a reference (hub_take_dirty) */

    void (*wake)(void *user); /* called (no lock held) after output was queued: lws_cancel_service */
    void *wake_user;

    hub_stats stats;
} hub;

/* Initialises h (mutex, cond, ready queue). ASR_ERR_NOMEM. */
asr_status hub_init(hub *h, const asr_model *m, const hub_params *p, asr_error *err);
void hub_destroy(hub *h);

typedef enum job_type { JOB_AUDIO, JOB_CONFIG, JOB_RESET, JOB_EOF } job_type;

typedef struct job {
    job_type type;
    struct job *next;
    float *samples; /* JOB_AUDIO: (n) at the session's client rate, int16 scale */
    size_t n;
    int rate;        /* JOB_CONFIG: new client rate (0: unchanged) */
    int words;       /* JOB_CONFIG: -1 unchanged, else words on/off */
    int has_phrases; /* JOB_CONFIG: a phrase list was given (n_phrases 0: back to open vocabulary) */
    char **phrases;  /* (n_phrases) owned */
    int n_phrases;
    int close_code; /* JOB_EOF: close code after the final result (1000, 1001, 1008); 0: do not close */
    char reason[64];
} job;

/* One reply for the network thread: a text message, or (text == NULL) a close with code/reason. */
typedef struct out_msg {
    struct out_msg *next;
    char *text; /* NUL-terminated JSON, owned */
    size_t len;
    int close_code;
    char reason[64];
    int partial; /* a partial result queued by session_push_latest (a later message supersedes it) */
} out_msg;

struct session {
    hub *h;     /* [any] */
    int refs;   /* [hub] */
    int is_mic; /* [any] the microphone feed (outputs are broadcast, never closed) */

    /* queues [hub] */
    job *jobs, *jobs_tail;
    size_t queued_bytes; /* bytes of queued audio (4 per sample) */
    out_msg *out, *out_tail;
    int n_out;
    int scheduled; /* on the ready queue or being processed */
    int dirty;     /* on the hub's dirty list */
    session *dirty_next;
    int gone; /* the client disconnected: drop jobs, discard output */

    /* recognition state [worker] */
    int client_rate;
    int words;
    audio_resampler *rs;
    float *rs_buf;
    size_t rs_cap;
    asr_stream *stream;
    asr_decoder dec; /* the configured decoder, or beam search restricted to a phrase list */
    int dec_ok;
    asr_lm *lm; /* phrase-list LM and vocabulary (NULL with the configured decoder) */
    ctc_lexicon *lex;
    float *lp;           /* (n_out) one frame's log-probabilities */
    long utt_frames;     /* frames in the current utterance */
    long silence_frames; /* trailing silence frames */
    int finished;        /* eof processed: further jobs are ignored */

    void *user; /* [net] the network thread's own data (its lws connection) */
};

/* [net] Takes up to cap sessions off the hub's dirty list (sessions given output since they were
 * last taken) into out; returns how many. Each comes with a reference the caller drops
 * (session_unref) once it has served it. The network thread serves these after a worker's
 * wake-up instead of walking every session (one hub-lock round trip each) on every wake. */
int hub_take_dirty(hub *h, session **out, int cap);

/* A new session with one reference (for the caller), client rate = the model's, words on.
 * NULL with *err on no memory. */
session *session_create(hub *h, int is_mic, asr_error *err);

/* Reference counting; the last unref frees the session (any thread). */
void session_ref(session *s);
void session_unref(session *s);

/* [net or feed thread] Appends a job (ownership passes to the session) and schedules the session on
 * the hub. Jobs for a session marked gone are freed at once. */
void session_push(session *s, job *j);

/* Allocates a job; for JOB_AUDIO with room for n samples. NULL on no memory. */
job *job_new(job_type t, size_t n);
void job_free(job *j);

/* [net] Marks the client gone (its remaining jobs are dropped) and drops the network reference. */
void session_close(session *s);

/* [net] Pops the next reply (caller frees with out_msg_free), or NULL. */
out_msg *session_pop_out(session *s);
void out_msg_free(out_msg *m);

/* [net] Queues a reply made by the network thread itself (errors); takes ownership of text. */
void session_push_out(session *s, char *text, int close_code, const char *reason);

/* [net] Queues a /mic broadcast for a subscriber; takes ownership of text (freed if s is gone or on
 * no memory). partial: text is a partial result. A partial still unsent at the tail of the queue is
 * dropped first, since the new message (a newer partial, or the result) supersedes it: a queue
 * holds results and at most one partial, its last. Returns the messages queued afterwards. */
int session_push_latest(session *s, char *text, int partial);

/* [net] Drops every unsent reply (a subscriber closed for not reading); returns how many. */
int session_drop_out(session *s);

/* Most sessions one session_run_round takes. */
#define SESSION_BATCH_MAX 64

/* [worker] One round over the n (<= SESSION_BATCH_MAX) scheduled sessions a worker holds (each with
 * the ready queue's reference): every session runs its next job; the audio jobs' network steps run
 * together in one asr_stream_run_batch (workspace b, may be NULL), then each is decoded and its
 * replies are queued. A session with no job left (or whose client is gone) is unscheduled, loses
 * the queue's reference and leaves ss; returns how many remain (in order, at ss[0..]). */
int session_run_round(session **ss, int n, asr_batch *b);

#endif
