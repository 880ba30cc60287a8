/* fuzz_util.h - what the libFuzzer harnesses of tests/fuzz/ share: the loaders under test read
 * files by path, so each input is handed to them as a real file held in memory (a memfd, named
 * /proc/self/fd/N), through the same public entry points the daemon uses; and the library's log
 * lines are silenced.
 *
 * Thread safety: none needed (libFuzzer calls a harness from one thread).
 */
#ifndef ASRD_FUZZ_UTIL_H
#define ASRD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "../../frontend/asr_util.h"

static inline void fuzz_log_drop(asr_log_level level, const char *msg, void *user)
{
    (void)level, (void)msg, (void)user;
}

/* Replaces the content of the harness's one in-memory file with data[0..size) and returns its path
 * (static storage) and, in *fd, its descriptor (offset 0). Aborts if the memfd cannot be made: a
 * harness that cannot feed its input must not report success. */
static inline const char *fuzz_memfile(const uint8_t *data, size_t size, int *fd_out)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        asr_log_set(fuzz_log_drop, NULL, ASR_LOG_ERROR);
        fd = memfd_create("fuzz-input", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size) ||
        lseek(fd, 0, SEEK_SET) != 0) {
        perror("fuzz input");
        abort();
    }
    if (fd_out)
        *fd_out = fd;
    return path;
}

/* A malloc'd copy of data[0..size) (at least 1 byte, no terminating NUL: a read past size is an
 * ASan report), NULL on no memory. */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (p && size)
        memcpy(p, data, size);
    return p;
}

static inline void fuzz_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t fuzz_crc32(const uint8_t *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

#endif
