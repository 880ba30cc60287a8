/* asr_util.h - status codes, error details, logging and large-table memory shared by every asrd
 * module.
 *
 * Thread safety: asr_strerror, asr_error_set, asr_big_alloc, asr_big_free and asr_dl_* are
 * reentrant (callers run their loading once, e.g. under pthread_once).  asr_log may be
 * called from any thread except a real-time audio callback; the sink is set once at start-up (asr_log_set is
 * not synchronised with concurrent asr_log calls).
 */
#ifndef ASR_UTIL_H
#define ASR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum asr_status {
    ASR_OK = 0,
    ASR_ERR_NOMEM,       /* allocation failed */
    ASR_ERR_IO,          /* file missing, unreadable or short write */
    ASR_ERR_FORMAT,      /* file content is malformed or truncated */
    ASR_ERR_VERSION,     /* model file version not supported */
    ASR_ERR_CHECKSUM,    /* model file checksum mismatch (corrupt) */
    ASR_ERR_ALPHABET,    /* model alphabet invalid or inconsistent with the output layer */
    ASR_ERR_ARG,         /* invalid argument or parameter value */
    ASR_ERR_AUDIO,       /* audio cannot be decoded (not audio, 0 channels, ...) */
    ASR_ERR_UNSUPPORTED, /* valid but unsupported (e.g. sample rate the resampler refuses) */
    ASR_ERR_CONFIG,      /* configuration error */
} asr_status;

/* Static English text for a status code; never NULL. */
const char *asr_strerror(asr_status s);

/* Detailed error: the status plus a message that names the object (file, key) and the problem. */
typedef struct asr_error {
    asr_status code;
    char msg[512];
} asr_error;

/* Fills *err (if err is not NULL) with code and a printf-formatted message; returns code, so a
 * function can `return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));`. */
asr_status asr_error_set(asr_error *err, asr_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef enum asr_log_level { ASR_LOG_DEBUG, ASR_LOG_INFO, ASR_LOG_WARN, ASR_LOG_ERROR } asr_log_level;

/* Log sink: receives one complete message (no trailing newline). */
typedef void (*asr_log_fn)(asr_log_level level, const char *msg, void *user);

/* Sets the sink (NULL restores the default: "asrd: level: msg" lines on stderr) and the minimum
 * level that reaches it. */
void asr_log_set(asr_log_fn fn, void *user, asr_log_level min_level);

/* Logs a printf-formatted message through the sink. */
void asr_log(asr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Zeroed, 64-byte aligned memory for a large table built once and then read (model weights, the
 * LM's vocabulary trie). From 2 MB up: anonymous memory on 2 MB boundaries advised for transparent
 * huge pages (the kernel's madvise mode), so filling it takes a handful of page faults instead of
 * one per 4 KB page. On a virtual machine each fault is a trap to the hypervisor (~12 us on the
 * build machine): filling a few MB page by page was most of the daemon's start-up CPU. Smaller
 * sizes, or no mapping: aligned_alloc. NULL on no memory; free with asr_big_free (NULL is a no-op). */
void *asr_big_alloc(size_t bytes);
void asr_big_free(void *p);

/* Run-time linking of a library only some commands use (dlopen on first use instead of at every
 * start of the binary, where relocating a library and its dependencies costs CPU whether it is
 * used or not). asr_dl_open opens lib (RTLD_NOW | RTLD_LOCAL; never closed: the library stays
 * until exit) and returns its handle, or NULL with why (why_size bytes) saying why not;
 * asr_dl_sym looks up one function of it into *fn, or says in why that it is missing, and does
 * nothing once why is set (so a list of lookups needs no test between them): loading succeeded
 * when why is still empty. */
void *asr_dl_open(const char *lib, char *why, size_t why_size);
/* For a table of a library's functions as X(return type, name, (parameter types)) entries: the
 * field holding a pointer to one (`static struct { FUNCS(ASR_DL_POINTER) } lib;`). */
#define ASR_DL_POINTER(ret, name, args) ret(*name) args;
void asr_dl_sym(void *handle, const char *lib, const char *name, void **fn, char *why, size_t why_size);

/* 64-bit FNV-1a of n bytes at p, continuing from h (start with ASR_FNV1A_INIT). Not keyed: for hash
 * tables of trusted data and cache keys, not against adversarial input. */
#define ASR_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t asr_fnv1a(uint64_t h, const void *p, size_t n);

#endif
