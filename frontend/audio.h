/* audio.h - audio files in (libsndfile), any rate out (libsoxr), mono, int16 scale.
 *
 * Samples handed to the rest of asrd are floats on the int16 scale (-32768..32767), as Kaldi reads
 * WAV data, mono, at the rate the caller asks for.
 *
 * Thread safety: every object belongs to one thread at a time; distinct objects are independent.
 */
#ifndef ASR_AUDIO_H
#define ASR_AUDIO_H

#include <stddef.h>

#include "asr_util.h"

typedef struct audio_reader audio_reader;

/* Opens `path` ("-" reads standard input: any format libsndfile can sniff from a pipe, e.g. WAV,
 * FLAC, OGG) for streaming reads, mixed down to mono and resampled to `out_rate` Hz (0: keep the
 * file's own rate, no resampling).
 * Returns NULL and fills *err (message names the file and the reason) on failure: missing or
 * unreadable file, empty file or 0 frames ("no audio": an error, never 0 samples), not audio,
 * 0 channels, truncated (data shorter than the header says), a rate the resampler refuses.
 * Caller owns the reader. */
audio_reader *audio_reader_open(const char *path, int out_rate, asr_error *err);

/* Reads up to `max` output samples into out. Returns the number read (0 at end of file), or -1
 * with *err filled (message names the file) on a decode error such as a truncated file. */
long audio_reader_read(audio_reader *r, float *out, size_t max, asr_error *err);

/* The file's native sample rate and channel count. */
int audio_reader_file_rate(const audio_reader *r);
int audio_reader_file_channels(const audio_reader *r);

/* Closes the reader; NULL is ignored. */
void audio_reader_close(audio_reader *r);

/* Convenience: reads a whole file through audio_reader. *samples is malloc'd (caller frees). */
asr_status audio_read_file(const char *path, int out_rate, float **samples, size_t *n, asr_error *err);

/* Streaming resampler (libsoxr, 'high quality': linear phase, passband to 0.913 of the lower
 * Nyquist frequency within 0.01 dB, >= 100 dB of image/alias rejection) for PCM arriving in chunks
 * (files, standard input, WebSocket clients, capture). The output of a stream is the same, bit for
 * bit, however its input is cut into calls (tests/test_audio.c), and has round(n * out/in) samples
 * (the filter delay is compensated: output sample i is at the time of input sample i * in/out).
 * Identity (exact copy) when in_rate == out_rate. */
typedef struct audio_resampler audio_resampler;

/* Returns NULL with *err filled if the ratio is unsupported (outside 1/256..256). */
audio_resampler *audio_resampler_create(int in_rate, int out_rate, asr_error *err);

/* Converts n_in input samples; writes the output to (*out)[0 .. return value) (*out is realloc'd as
 * needed, caller owns it and may pass NULL with *cap = 0; *cap is its capacity in samples) and
 * returns the number of output samples produced, or -1 on error. Output lags input by the filter
 * delay (what is held back comes with later calls); `end` != 0 flushes the tail at end of stream
 * (in may then be NULL with n_in 0; the next call starts a new stream). */
long audio_resampler_process(audio_resampler *rs, const float *in, size_t n_in, int end, float **out,
                             size_t *cap, asr_error *err);

/* Forgets buffered state (new utterance from the same source). */
void audio_resampler_reset(audio_resampler *rs);
void audio_resampler_destroy(audio_resampler *rs);

#endif
