/* asr_util.c - status strings, error details, logging sink, large-table memory, run-time linking. */
#include "asr_util.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *asr_strerror(asr_status s)
{
    switch (s) {
    case ASR_OK:
        return "success";
    case ASR_ERR_NOMEM:
        return "out of memory";
    case ASR_ERR_IO:
        return "input/output error";
    case ASR_ERR_FORMAT:
        return "malformed or truncated file";
    case ASR_ERR_VERSION:
        return "unsupported version";
    case ASR_ERR_CHECKSUM:
        return "checksum mismatch";
    case ASR_ERR_ALPHABET:
        return "invalid alphabet";
    case ASR_ERR_ARG:
        return "invalid argument";
    case ASR_ERR_AUDIO:
        return "cannot decode audio";
    case ASR_ERR_UNSUPPORTED:
        return "unsupported";
    case ASR_ERR_CONFIG:
        return "configuration error";
    }
    return "unknown error";
}

asr_status asr_error_set(asr_error *err, asr_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static asr_log_fn log_fn;
static void *log_user;
static asr_log_level log_min = ASR_LOG_INFO;

void asr_log_set(asr_log_fn fn, void *user, asr_log_level min_level)
{
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void asr_log(asr_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    char buf[1024];
    va_list ap;
    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (log_fn)
        log_fn(level, buf, log_user);
    else
        fprintf(stderr, "asrd: %s: %s\n", names[level], buf);
}

/* A 64-byte prefix records how the block was obtained, for asr_big_free. */
#define BIG_HUGE ((size_t)2 << 20)
typedef struct big_head {
    void *base; /* what to munmap or free */
    size_t len; /* mapped length; 0 = aligned_alloc */
} big_head;

void *asr_big_alloc(size_t bytes)
{
    if (bytes > SIZE_MAX - BIG_HUGE * 2 - 64)
        return NULL;
    size_t need = 64 + bytes;
    if (need >= BIG_HUGE) {
        size_t len = (need + BIG_HUGE - 1) & ~(BIG_HUGE - 1);
        unsigned char *p =
            mmap(NULL, len + BIG_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            /* Trim to a 2 MB aligned range so the kernel can back it with huge pages. */
            size_t head = (BIG_HUGE - ((uintptr_t)p & (BIG_HUGE - 1))) & (BIG_HUGE - 1);
            if (head)
                munmap(p, head);
            if (BIG_HUGE - head)
                munmap(p + head + len, BIG_HUGE - head);
            p += head;
#ifdef MADV_HUGEPAGE
            madvise(p, len, MADV_HUGEPAGE);
#endif
            big_head *h = (big_head *)(void *)p;
            h->base = p;
            h->len = len;
            return p + 64;
        }
    }
    unsigned char *p = aligned_alloc(64, (need + 63) & ~(size_t)63);
    if (!p)
        return NULL;
    memset(p, 0, need);
    big_head *h = (big_head *)(void *)p;
    h->base = p;
    h->len = 0;
    return p + 64;
}

void asr_big_free(void *p)
{
    if (!p)
        return;
    const big_head *h = (const big_head *)(void *)((unsigned char *)p - 64);
    if (h->len)
        munmap(h->base, h->len);
    else
        free(h->base);
}

void *asr_dl_open(const char *lib, char *why, size_t why_size)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(why, why_size, "cannot load %s: %s", lib, dlerror());
    return h;
}

void asr_dl_sym(void *handle, const char *lib, const char *name, void **fn, char *why, size_t why_size)
{
    if (why[0])
        return;
    if (!(*fn = dlsym(handle, name)))
        snprintf(why, why_size, "%s has no %s", lib, name);
}

uint64_t asr_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}
