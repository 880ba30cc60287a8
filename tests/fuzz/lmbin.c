/* lmbin.c - libFuzzer harness: a binary LM image through asr_lm_open (model/lm.c), which maps a file
 * starting with the binary magic (asr_lm_load) and parses anything else as ARPA. When the input
 * starts with the magic and holds a whole header, its size field and both CRC-32s are set right
 * before loading (the header layout of lm.c: file_size at byte 184, payload CRC at 192, header CRC
 * at 196 of 200), so mutations reach the structural checks and the queries instead of stopping at
 * the header checksum; if the layout changes, the fix-up only loses its effect. A model the loader
 * accepts is queried as the decoder queries it (lm_query.h; the loader does not read the payload
 * checksum, so the queries meet whatever the tables hold), then checked by asr_lm_verify as the
 * daemon does after READY. */
#include "fuzz_util.h"
#include "lm_query.h"

#define HDR 200

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    uint8_t *buf = fuzz_dup(data, size);
    if (!buf)
        return 0;
    if (size >= HDR && memcmp(buf, "ASRDLM\0\1", 8) == 0) {
        uint64_t fs = size;
        memcpy(buf + 184, &fs, 8);
        fuzz_put_u32(buf + 192, fuzz_crc32(buf + HDR, size - HDR));
        fuzz_put_u32(buf + 196, 0);
        fuzz_put_u32(buf + 196, fuzz_crc32(buf, HDR));
    }
    const char *path = fuzz_memfile(buf, size, NULL);
    free(buf);
    asr_error err;
    asr_lm *lm = asr_lm_open(path, &err);
    if (lm) {
        fuzz_lm_query(lm, 0);
        err.msg[0] = '\0';
        if (asr_lm_verify(lm, &err) != ASR_OK && !err.msg[0])
            abort();
        asr_lm_free(lm);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
