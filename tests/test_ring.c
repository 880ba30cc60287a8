/* test_ring.c - the SPSC sample ring: capacity rounding, wrap-around with odd chunk sizes, a full
 * ring dropping and counting (never blocking), skip, and two threads streaming millions of samples
 * with order and count preserved, with and without a producer that retries. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/ring.h"
#include "test_util.h"

/* Sample i of the test sequence: exact in float (below 2^24) and never repeats within a run. */
static float seqval(uint64_t i)
{
    return (float)(i % 16000000u);
}

/* Deterministic chunk sizes 1..max (xorshift). */
static size_t next_chunk(uint64_t *s, size_t max)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return 1 + (size_t)(*s % max);
}

static void test_basic(void)
{
    asr_error err;
    CHECK(ring_create(0, &err) == NULL && err.code == ASR_ERR_ARG, "capacity 0 refused");
    ring *r = ring_create(100, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r)
        return;
    CHECK(ring_capacity(r) == 128, "rounded up to a power of two: %zu", ring_capacity(r));
    CHECK(ring_available(r) == 0 && ring_space(r) == 128, "empty");
    float out[256];
    CHECK(ring_read(r, out, 10) == 0, "read from empty returns 0");

    /* Wrap-around: push/pull odd sizes many times around the ring; contents stay in order. */
    uint64_t wi = 0, ri = 0, s = 88172645463325252ull;
    int order_ok = 1;
    float in[128];
    for (int it = 0; it < 5000; it++) {
        size_t n = next_chunk(&s, 77);
        if (n > ring_space(r))
            n = ring_space(r);
        for (size_t k = 0; k < n; k++)
            in[k] = seqval(wi + k);
        size_t w = ring_write(r, in, n);
        if (w != n)
            order_ok = 0;
        wi += w;
        size_t m = ring_read(r, out, next_chunk(&s, 77));
        for (size_t k = 0; k < m; k++)
            if (out[k] != seqval(ri + k))
                order_ok = 0;
        ri += m;
    }
    CHECK(order_ok, "order kept across wrap-around");
    CHECK(wi > 10 * 128, "wrapped many times (%llu samples)", (unsigned long long)wi);
    CHECK(ring_available(r) == wi - ri, "available = written - read");
    CHECK(ring_written(r) == wi, "written counter");
    CHECK(ring_dropped(r) == 0, "nothing dropped");

    /* Full ring: the excess is dropped and counted, what was there is kept. */
    ring_read(r, out, 256);
    ri = wi;
    for (size_t k = 0; k < 128; k++)
        in[k] = seqval(wi + k);
    CHECK(ring_write(r, in, 100) == 100, "100 fit");
    CHECK(ring_write(r, in + 100, 28) == 28, "28 more fit");
    CHECK(ring_write(r, in, 50) == 0, "full: 0 written");
    CHECK(ring_dropped(r) == 50, "50 dropped: %llu", (unsigned long long)ring_dropped(r));
    CHECK(ring_skip(r, 30) == 30, "skip 30");
    CHECK(ring_write(r, in, 40) == 30, "30 of 40 fit after skip");
    CHECK(ring_dropped(r) == 60, "60 dropped: %llu", (unsigned long long)ring_dropped(r));
    size_t m = ring_read(r, out, 256);
    CHECK(m == 128, "read all 128: %zu", m);
    int kept = 1;
    for (size_t k = 0; k < 98; k++)
        if (out[k] != seqval(ri + 30 + k))
            kept = 0;
    for (size_t k = 0; k < 30; k++)
        if (out[98 + k] != seqval(ri + k))
            kept = 0;
    CHECK(kept, "full ring kept old samples, then the accepted new ones");
    ring_reset(r);
    CHECK(ring_available(r) == 0 && ring_dropped(r) == 0 && ring_written(r) == 0, "reset");
    ring_destroy(r);
    ring_destroy(NULL);
}

typedef struct {
    ring *r;
    uint64_t total; /* samples to produce */
    int retry;      /* 1: write the remainder until it fits; 0: drop what does not fit */
    uint64_t accepted;
    atomic_int done; /* set by the producer after its last write */
} producer_arg;

static void *producer(void *p)
{
    producer_arg *a = p;
    float buf[512];
    uint64_t i = 0, s = 0x9E3779B97F4A7C15ull;
    while (i < a->total) {
        size_t n = next_chunk(&s, 512);
        if (n > a->total - i)
            n = (size_t)(a->total - i);
        for (size_t k = 0; k < n; k++)
            buf[k] = seqval(i + k);
        size_t off = 0;
        if (a->retry) {
            /* A producer that must not lose samples writes only what fits (ring_space), so the
             * ring never counts a drop. */
            while (off < n) {
                size_t sp = ring_space(a->r);
                size_t w = ring_write(a->r, buf + off, n - off < sp ? n - off : sp);
                if (!w)
                    sched_yield();
                off += w;
            }
            a->accepted += n;
        } else {
            a->accepted += ring_write(a->r, buf, n);
        }
        i += n;
    }
    atomic_store(&a->done, 1);
    return NULL;
}

/* Consumer on this thread; producer on another.  With retry every sample must arrive in order.
 * Without, what arrives is a strictly increasing subsequence with received + dropped = total. */
static void test_threads(int retry, uint64_t total, size_t cap)
{
    asr_error err;
    ring *r = ring_create(cap, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r)
        return;
    producer_arg a = {r, total, retry, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, producer, &a) == 0, "thread");
    float out[700];
    uint64_t got = 0, expect = 0, s = 12345;
    int in_order = 1, done = 0;
    while (!done) {
        size_t m = ring_read(r, out, next_chunk(&s, 700));
        if (!m) {
            if (atomic_load(&a.done) && ring_available(r) == 0)
                done = 1;
            else
                sched_yield();
            continue;
        }
        for (size_t k = 0; k < m; k++) {
            if (retry) {
                if (out[k] != seqval(expect))
                    in_order = 0;
                expect++;
            } else {
                /* Values are seqval(i) for increasing i; find the next i that matches. */
                uint64_t i = expect;
                while (i < total && seqval(i) != out[k])
                    i++;
                if (i == total)
                    in_order = 0;
                expect = i + 1;
            }
        }
        got += m;
    }
    pthread_join(th, NULL);
    if (retry) {
        CHECK(in_order, "retrying producer: every sample in order");
        CHECK(got == total, "count preserved: %llu of %llu", (unsigned long long)got,
              (unsigned long long)total);
        CHECK(ring_dropped(r) == 0, "nothing dropped");
    } else {
        CHECK(in_order, "dropping producer: an increasing subsequence arrives");
        CHECK(got + ring_dropped(r) == total, "received %llu + dropped %llu = %llu", (unsigned long long)got,
              (unsigned long long)ring_dropped(r), (unsigned long long)total);
        CHECK(got == a.accepted, "received = accepted by ring_write");
    }
    ring_destroy(r);
}

int main(void)
{
    test_basic();
    test_threads(1, 4000000, 1024);
    test_threads(1, 2000000, 64);
    test_threads(0, 4000000, 256);
    return TEST_SUMMARY();
}
