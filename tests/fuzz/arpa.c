/* arpa.c - libFuzzer harness: an ARPA text file through asr_lm_load_arpa (model/lm.c), the parser
 * behind decoder.lm and `asrd --lm FILE.arpa`; a model it accepts is then queried as the decoder
 * queries it (lm_query.h). */
#include "fuzz_util.h"
#include "lm_query.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *path = fuzz_memfile(data, size, NULL);
    asr_error err;
    asr_lm *lm = asr_lm_load_arpa(path, &err);
    if (lm) {
        fuzz_lm_query(lm, 1);
        asr_lm_free(lm);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
