/* asr_model.h - the runtime: one immutable model shared by many streams.
 *
 * An asr_model holds the weights, the frontend (mfcc) and the feature statistics; it is read-only
 * after loading and may be shared by any number of threads. An asr_stream is one audio source (a
 * microphone, a WebSocket session, a file): it owns its MFCC carry-over samples, its stacking
 * buffer and every layer's recurrent state, which persist across calls; it belongs to one thread
 * at a time.
 *
 * Chunking never changes results: accepting audio whole or in any pieces yields bit-identical
 * output frames.
 */
#ifndef ASR_MODEL_H
#define ASR_MODEL_H

#include <stddef.h>

#include "model_file.h"

typedef struct asr_model asr_model;

/* Loads and validates a model file; NULL with *err naming the file and the problem. */
asr_model *asr_model_load(const char *path, asr_error *err);

/* Builds a runtime model from a description (copies what it needs; d may be freed afterwards). */
asr_model *asr_model_from_desc(const asr_model_desc *d, asr_error *err);

void asr_model_free(asr_model *m);

/* Arithmetic of the network's matrix products. FLOAT32: as the model file stores the weights.
 * INT8: W_ih and W_hh quantised per output row at load, activations per frame (nn.h, "int8
 * inference"); biases, gates, projection and log-softmax stay float32. Both keep every
 * equivalence of this header (chunking, batching); they differ from each other by quantisation
 * (dev WER in model/README.md). */
typedef enum asr_precision { ASR_PRECISION_FLOAT32 = 0, ASR_PRECISION_INT8 = 1 } asr_precision;

/* The precision of the daemon and of `asrd --batch` when neither model_precision nor --precision
 * says otherwise (chosen by dev WER and speed: model/README.md, "Precision"). A model as
 * asr_model_load and asr_model_from_desc return it is float32 until this is called (the trainer
 * and the tools keep float32). */
#define ASR_PRECISION_DEFAULT ASR_PRECISION_INT8
#define ASR_PRECISION_DEFAULT_NAME "int8" /* asr_precision_name(ASR_PRECISION_DEFAULT) */

/* "float32" or "int8" -> *p: 0, or -1 for anything else (*p unchanged). */
int asr_precision_parse(const char *s, asr_precision *p);
/* "float32" or "int8" (static string). */
const char *asr_precision_name(asr_precision p);

/* Switches m to precision p (INT8 quantises the weights here; FLOAT32 frees them). Call it before
 * any stream or batch uses m: it is the one call that changes a loaded model (not thread-safe).
 * ASR_OK, or ASR_ERR_NOMEM / ASR_ERR_ARG with *err set (m unchanged). */
asr_status asr_model_set_precision(asr_model *m, asr_precision p, asr_error *err);
asr_precision asr_model_precision(const asr_model *m);

const asr_model_desc *asr_model_get_desc(const asr_model *m);
int asr_model_sample_rate(const asr_model *m);
int asr_model_n_out(const asr_model *m);
/* Labels 1..n_out-1 (label 0 is the CTC blank). */
const char *asr_model_alphabet(const asr_model *m);
/* Duration of one output frame in milliseconds (frame shift * stride). */
double asr_model_frame_ms(const asr_model *m);
/* Floating-point operations per output frame of the network (multiply-add = 2; layers, gates,
 * projection; the frontend is not counted), for benchmarks' GFLOP/s. */
double asr_model_flops_per_frame(const asr_model *m);

typedef struct asr_stream asr_stream;

asr_stream *asr_stream_create(const asr_model *m, asr_error *err);
void asr_stream_destroy(asr_stream *s);

/* Feeds n samples at the model's rate (int16 scale) and runs the network over every output frame
 * they complete (layer by layer over blocks of up to 64 frames); results queue inside the stream
 * until popped (the queue grows as needed). Same as asr_stream_feed + asr_stream_run_batch of
 * this one stream (in slices, so a long input never buffers more than a second of frames).
 * ASR_OK or ASR_ERR_NOMEM. */
asr_status asr_stream_accept(asr_stream *s, const float *samples, size_t n);

/* Frontend only: feeds n samples (int16 scale) through MFCC, normalisation and stacking; the
 * network input frames they complete wait in the stream (the buffer grows as needed) until
 * asr_stream_run_batch runs them. ASR_OK or ASR_ERR_NOMEM. */
asr_status asr_stream_feed(asr_stream *s, const float *samples, size_t n);

/* Network input frames fed but not yet run. */
int asr_stream_pending(const asr_stream *s);

/* Workspace for asr_stream_run_batch (activations and scratch of a batch; grows as needed). One per
 * thread; about (streams x 64 frames x widest layer) floats at its largest. NULL on no memory. */
typedef struct asr_batch asr_batch;
asr_batch *asr_batch_create(const asr_model *m);
void asr_batch_destroy(asr_batch *b);

/* Runs the pending frames of n distinct streams of the same model together and queues each one's
 * output. Per layer, the input projections of all pending frames of all streams are one matrix
 * product and recurrence step t of every stream that has a frame t is one (n_t, H) x (H, G*H)
 * product (nn_rnn_forward_batch); frames go in rounds of up to 64 per stream. Each stream's
 * output is BIT-IDENTICAL to running it alone (the same kernels compute every row in the same
 * arithmetic order), so batching, like chunking, never changes results. b may be NULL (the
 * stream(s) then use a workspace of their own). ASR_OK, ASR_ERR_ARG (streams of different
 * models) or ASR_ERR_NOMEM (no stream's state has changed). */
asr_status asr_stream_run_batch(asr_stream *const *streams, int n, asr_batch *b);

/* Feeds raw (un-normalised) MFCC frames (n_frames x n_feat) directly, bypassing the frontend. */
asr_status asr_stream_accept_features(asr_stream *s, const float *feats, int n_frames);

/* Copies the next output frame's log-probabilities (n_out floats) into out and returns 1, or
 * returns 0 when none is queued. */
int asr_stream_pop(asr_stream *s, float *logprobs);

/* Output frames produced so far since create/reset (popped or not). */
long asr_stream_frames(const asr_stream *s);

/* Clears everything: buffered samples, CMVN statistics, stacking buffer, recurrent state, queued
 * output (a new speaker or channel). */
void asr_stream_reset(asr_stream *s);

/* Clears only the recurrent state (e.g. at an utterance boundary) keeping audio buffers and the
 * online CMVN statistics (the normalisation keeps adapting across a session's utterances). */
void asr_stream_reset_state(asr_stream *s);

#endif
