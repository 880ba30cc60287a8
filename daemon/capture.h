/* capture.h - live audio sources for the daemon's microphone feed: a PortAudio input device, or a
 * file / stdin paced in real time (or unpaced).  Every source ends in the same lock-free ring (ring.h);
 * everything after the ring (resampling to the model's rate, reading) is shared.
 *
 * Samples returned by capture_read are mono floats on the int16 scale (-32768..32767), as everywhere
 * in asrd, at opts.out_rate Hz.
 *
 * Failures never stop the service: when the device is missing, cannot be opened, or fails or stalls
 * mid-run, the capture's own supervisor thread logs one clear line (asr_log, WARN) and retries with
 * exponential backoff (opts.retry_min_s doubling up to opts.retry_max_s) until capture_close.  The
 * consumer simply reads nothing meanwhile (see capture_state).
 *
 * Thread safety: capture_open/start/close and capture_list_devices belong to the owner's thread
 * (the daemon's main thread); capture_read and capture_eof to one consumer thread (may be the same
 * thread); capture_dropped, capture_state, capture_retries and capture_device_name may be called from
 * any thread.  The PortAudio library is initialised by capture_open / capture_list_devices and
 * terminated by capture_close: do not use PortAudio elsewhere in the process.
 */
#ifndef ASRD_CAPTURE_H
#define ASRD_CAPTURE_H

#include <stdint.h>
#include <stdio.h>

#include "../frontend/asr_util.h"

typedef struct capture capture;

typedef enum capture_kind {
    CAPTURE_PORTAUDIO, /* an input device through PortAudio (ALSA, JACK, ...) */
    CAPTURE_FILE,      /* a file libsndfile reads, or "-" for standard input */
} capture_kind;

typedef struct capture_opts {
    capture_kind kind;
    /* CAPTURE_PORTAUDIO: NULL, "" or "default" = the default input device; a decimal number = that
     * PortAudio device index; otherwise a device name (exact match first, then the first input
     * device whose name contains it, e.g. "hw:1" or "USB"). */
    const char *device;
    int device_rate;        /* CAPTURE_PORTAUDIO: Hz to open the device at; 0 = its default rate */
    const char *path;       /* CAPTURE_FILE: file path or "-" (stdin) */
    int paced;              /* CAPTURE_FILE: 1 = deliver in real time (default), 0 = as fast as the
                               consumer reads (the reader then waits for ring space, never drops) */
    int loop;               /* CAPTURE_FILE: 1 = restart at end of file (not for stdin); default 0 */
    int out_rate;           /* Hz of samples capture_read returns; default 16000 */
    double ring_seconds;    /* ring capacity in seconds of source audio; default 2.0 */
    double block_seconds;   /* device callback / file read block; default 0.02 (20 ms) */
    double retry_min_s;     /* first retry delay after a failure; default 0.5 */
    double retry_max_s;     /* backoff cap; default 10 */
    double stall_timeout_s; /* PortAudio: no callback for this long = device failed; default 2 */
} capture_opts;

/* The defaults above (kind CAPTURE_PORTAUDIO, default device). */
capture_opts capture_default_opts(void);

/* Validates opts and allocates the capture (ring, resampler); nothing runs yet and no device is
 * opened, so a missing device is not an error here.  Returns NULL with *err filled on bad options
 * (unknown kind, rates or durations out of range, CAPTURE_FILE without path, loop with stdin) or
 * when PortAudio cannot be initialised.  opts' strings are copied.  Caller owns the capture. */
capture *capture_open(const capture_opts *opts, asr_error *err);

/* Starts the supervisor thread, which opens the source and keeps it open (retrying on its own).
 * Returns ASR_OK, or an error with *err filled if the thread cannot be created or it was already
 * started.  A source that cannot be opened is NOT an error: it is logged and retried. */
asr_status capture_start(capture *c, asr_error *err);

/* Consumer: copies up to max samples (mono, int16 scale, out_rate Hz) into out.  Never blocks;
 * returns 0 when nothing is ready (poll again in ~10-20 ms).  Returns -1 with *err filled only on a
 * resampler error (not expected in practice). */
long capture_read(capture *c, float *out, size_t max, asr_error *err);

/* Consumer: 1 once a non-looping file source has ended and every sample has been read (the feed
 * should flush its final result); 0 otherwise, always 0 for PortAudio. */
int capture_eof(capture *c);

typedef enum capture_state_t {
    CAPTURE_IDLE,    /* opened, not started */
    CAPTURE_OPENING, /* supervisor is opening the source */
    CAPTURE_RUNNING, /* samples are flowing */
    CAPTURE_WAITING, /* the source failed or is missing: waiting for the next retry */
    CAPTURE_ENDED,   /* file source reached its end (no loop) */
    CAPTURE_STOPPED, /* capture_close in progress */
} capture_state_t;

/* Current state (snapshot) and its name ("running", "waiting", ...). */
capture_state_t capture_state(const capture *c);
const char *capture_state_name(capture_state_t s);

/* Source samples dropped because the ring was full (the consumer fell behind), since start. */
uint64_t capture_dropped(const capture *c);

/* Number of failed open attempts / source failures so far (for metrics). */
uint64_t capture_retries(const capture *c);

/* Copies the name of the device or file now in use (or "" before the first successful open) into
 * buf (always NUL-terminated).  Any thread. */
void capture_device_name(const capture *c, char *buf, size_t size);

/* Stops the supervisor (interrupting a backoff wait at once), closes the source, frees
 * everything.  Returns promptly even when a file source is a FIFO with no writer or a silent one
 * (see capture.c, "Pipes"); at worst (standard input blocked in a read) after about 4 s.  NULL is
 * ignored. */
void capture_close(capture *c);

/* Prints the input devices PortAudio sees, one per line: index, name, host API, max input
 * channels, default rate, and which is the default.  Prints "no input devices" if there are none.
 * Returns ASR_OK, or an error with *err filled if PortAudio cannot be initialised. */
asr_status capture_list_devices(FILE *out, asr_error *err);

#endif
