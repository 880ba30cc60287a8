/* asr_util.c - status strings, error details, logging sink. */
#include "asr_util.h"

#include <stdio.h>

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
