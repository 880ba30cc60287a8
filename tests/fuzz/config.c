/* config.c - libFuzzer harness: a YAML configuration through the daemon's loader (daemon/config.c,
 * over frontend/yamlcfg.c's typed readers), as `asrd --config FILE` reads it: cfg_init, then
 * cfg_load_file on the input held as an in-memory file, then cfg_free. */
#include "../../daemon/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *path = fuzz_memfile(data, size, NULL);
    cfg c;
    asr_error err;
    if (cfg_init(&c, &err) != ASR_OK)
        return 0;
    if (cfg_load_file(&c, path, &err) != ASR_OK && !err.msg[0])
        abort(); /* every refusal says why */
    cfg_free(&c);
    return 0;
}
