/* ring.h - lock-free single-producer/single-consumer ring of float samples (C11 atomics).
 *
 * The audio path's hand-off point: a capture source (the PortAudio callback, or a file/stdin reader
 * thread) writes samples, one consumer (the daemon's microphone feed) reads them.  A full ring never
 * blocks the producer: the samples that do not fit are dropped and counted, because an audio
 * callback that waits loses the device's own buffer anyway and may stall the audio system.
 *
 * Thread safety: exactly one producer thread may call ring_write and exactly one consumer thread may
 * call ring_read / ring_skip; ring_available, ring_space, ring_dropped and ring_written may be called
 * from any thread (their result is a snapshot).  ring_write/ring_read never allocate, lock, log or
 * make system calls, so the producer may be a real-time audio callback.  ring_create/ring_destroy
 * and ring_reset are not concurrent with anything.
 */
#ifndef ASRD_RING_H
#define ASRD_RING_H

#include <stddef.h>
#include <stdint.h>

#include "../frontend/asr_util.h"

typedef struct ring ring;

/* Creates a ring that holds at least `capacity` samples (rounded up to a power of two; capacity
 * must be in 1 .. 2^30).  Returns NULL with *err filled on a bad capacity or out of memory.
 * Caller owns the ring (ring_destroy). */
ring *ring_create(size_t capacity, asr_error *err);

/* Frees the ring; NULL is ignored. */
void ring_destroy(ring *r);

/* Usable capacity in samples (the rounded-up power of two). */
size_t ring_capacity(const ring *r);

/* Producer: copies up to n samples in order; samples that do not fit are dropped (the newest ones:
 * the ring keeps what it already holds, so the consumer sees a contiguous past) and added to the
 * dropped count.  Returns the number written (n minus the dropped). */
size_t ring_write(ring *r, const float *x, size_t n);

/* Consumer: copies up to max samples into out, oldest first; returns the number read (0 if empty).
 * Never waits. */
size_t ring_read(ring *r, float *out, size_t max);

/* Consumer: discards up to n samples without copying; returns the number discarded. */
size_t ring_skip(ring *r, size_t n);

/* Samples the consumer could read now / the producer could write now (snapshots). */
size_t ring_available(const ring *r);
size_t ring_space(const ring *r);

/* Total samples dropped by ring_write because the ring was full / total samples written, since
 * creation or the last ring_reset. */
uint64_t ring_dropped(const ring *r);
uint64_t ring_written(const ring *r);

/* Empties the ring and zeroes the counters.  Only while neither side is running. */
void ring_reset(ring *r);

#endif
