/* ring.c - lock-free SPSC float ring.
 *
 * DESIGN
 * Two monotonically increasing 64-bit counters, `head` (samples ever written; only the producer
 * stores it) and `tail` (samples ever read; only the consumer stores it).  The fill level is
 * head - tail, never more than the capacity, and a sample's slot is its counter masked by
 * capacity-1 (capacity is a power of two).  64-bit counters never wrap in practice (2^64 samples at
 * 192 kHz is millions of years), so full and empty are told apart without a spare slot.
 *
 * Ordering: the producer copies samples into their slots, then publishes them with a release store
 * of head; the consumer acquires head before reading the slots.  Symmetrically the consumer
 * releases tail after copying out, and the producer acquires tail before overwriting slots.  Each
 * side reads its own counter relaxed (it is the only writer).  head and tail sit on separate cache
 * lines so the two threads do not fight over one line.
 *
 * The dropped counter is written only by the producer and read by anyone (relaxed: a statistic).
 */
#include "ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ring {
    alignas(64) _Atomic uint64_t head;    /* written by the producer: samples ever written */
    alignas(64) _Atomic uint64_t tail;    /* written by the consumer: samples ever read */
    alignas(64) _Atomic uint64_t dropped; /* written by the producer: samples refused (ring full) */
    size_t cap;                           /* power of two; immutable after create */
    size_t mask;                          /* cap - 1 */
    float *buf; /* (cap) samples; slots owned by whichever side the counters give them to */
};

ring *ring_create(size_t capacity, asr_error *err)
{
    ring *r = NULL;
    if (capacity < 1 || capacity > ((size_t)1 << 30)) {
        asr_error_set(err, ASR_ERR_ARG, "ring: capacity %zu samples out of range 1..2^30", capacity);
        return NULL;
    }
    size_t cap = 1;
    while (cap < capacity)
        cap <<= 1;
    r = aligned_alloc(64, sizeof *r);
    if (!r)
        goto fail;
    memset(r, 0, sizeof *r);
    r->buf = malloc(cap * sizeof *r->buf);
    if (!r->buf)
        goto fail;
    r->cap = cap;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->dropped, 0);
    return r;
fail:
    asr_error_set(err, ASR_ERR_NOMEM, "ring: out of memory for %zu samples", cap);
    ring_destroy(r);
    return NULL;
}

void ring_destroy(ring *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

size_t ring_capacity(const ring *r)
{
    return r->cap;
}

size_t ring_write(ring *r, const float *x, size_t n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t space = r->cap - (size_t)(head - tail);
    size_t w = n < space ? n : space;
    if (w) {
        size_t at = (size_t)head & r->mask;
        size_t first = r->cap - at < w ? r->cap - at : w;
        memcpy(r->buf + at, x, first * sizeof *x);
        memcpy(r->buf, x + first, (w - first) * sizeof *x);
        atomic_store_explicit(&r->head, head + w, memory_order_release);
    }
    if (w < n) {
        uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
        atomic_store_explicit(&r->dropped, d + (n - w), memory_order_relaxed);
    }
    return w;
}

/* Consumer side shared by read and skip: out == NULL discards. */
static size_t ring_take(ring *r, float *out, size_t max)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t avail = (size_t)(head - tail);
    size_t k = max < avail ? max : avail;
    if (!k)
        return 0;
    if (out) {
        size_t at = (size_t)tail & r->mask;
        size_t first = r->cap - at < k ? r->cap - at : k;
        memcpy(out, r->buf + at, first * sizeof *out);
        memcpy(out + first, r->buf, (k - first) * sizeof *out);
    }
    atomic_store_explicit(&r->tail, tail + k, memory_order_release);
    return k;
}

size_t ring_read(ring *r, float *out, size_t max)
{
    return ring_take(r, out, max);
}

size_t ring_skip(ring *r, size_t n)
{
    return ring_take(r, NULL, n);
}

size_t ring_available(const ring *r)
{
    /* Load tail first: head only grows, so head - tail read in this order never underflows. */
    uint64_t tail = atomic_load_explicit(&((ring *)r)->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&((ring *)r)->head, memory_order_acquire);
    /* From a third thread, tail may have moved on after we read it: clamp to the capacity. */
    size_t a = (size_t)(head - tail);
    return a > r->cap ? r->cap : a;
}

size_t ring_space(const ring *r)
{
    return r->cap - ring_available(r);
}

uint64_t ring_dropped(const ring *r)
{
    return atomic_load_explicit(&((ring *)r)->dropped, memory_order_relaxed);
}

uint64_t ring_written(const ring *r)
{
    return atomic_load_explicit(&((ring *)r)->head, memory_order_acquire);
}

void ring_reset(ring *r)
{
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    atomic_store(&r->dropped, 0);
}
