/* model_file.c - libFuzzer harness: a model file through asr_model_read (model/model_file.c), the
 * loader of `asrd --model FILE`. The trailing CRC-32 is set right before loading (when the input
 * starts with the magic), so mutations reach the metadata and tensor parsers instead of stopping
 * at the checksum (the checksum's own refusals are tests/test_model_file.c's). */
#include <string.h>

#include "../../model/model_file.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    uint8_t *buf = fuzz_dup(data, size);
    if (!buf)
        return 0;
    if (size >= 16 && memcmp(buf, "ASRDMODL", 8) == 0)
        fuzz_put_u32(buf + size - 4, fuzz_crc32(buf, size - 4));
    const char *path = fuzz_memfile(buf, size, NULL);
    free(buf);
    asr_model_desc d;
    asr_error err;
    if (asr_model_read(path, &d, &err) == ASR_OK) {
        if (asr_model_desc_check(&d, "fuzz", &err) != ASR_OK)
            abort(); /* the loader accepted what the checker refuses */
        volatile size_t n = asr_model_desc_params(&d);
        (void)n;
        asr_model_desc_free(&d);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
