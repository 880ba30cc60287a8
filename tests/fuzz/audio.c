/* audio.c - libFuzzer harness: an audio file through the reader of `asrd --batch` (frontend/audio.c,
 * libsndfile + resampler), held in memory, read twice: by path (sf_open on a regular file) and as
 * standard input "-" (the reader's own virtual I/O over a pipe-like descriptor), both resampled to
 * 16 kHz as the recogniser wants it. Reading stops after 10 s of output, so a header claiming hours
 * of audio over a short file costs no more than the file holds. */
#include <string.h>

#include "../../frontend/audio.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void read_some(const char *path)
{
    asr_error err;
    audio_reader *r = audio_reader_open(path, 16000, &err);
    if (!r) {
        if (!err.msg[0])
            abort();
        return;
    }
    if (audio_reader_file_rate(r) <= 0 || audio_reader_file_channels(r) <= 0)
        abort();
    static float out[4096];
    long total = 0, n = 0;
    while (total < 160000 && (n = audio_reader_read(r, out, sizeof out / sizeof *out, &err)) > 0)
        total += n;
    if (n < -1 || (n > (long)(sizeof out / sizeof *out)))
        abort();
    audio_reader_close(r);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int fd;
    const char *path = fuzz_memfile(data, size, &fd);
    read_some(path);
    /* The same bytes as standard input (a regular file at offset 0 read with read(2), as a
     * redirected file would be). */
    int saved = dup(0);
    if (saved < 0 || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) < 0)
        abort();
    read_some("-");
    if (dup2(saved, 0) < 0)
        abort();
    close(saved);
    return 0;
}
