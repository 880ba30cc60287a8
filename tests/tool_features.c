/* tool_features.c - prints the MFCC of a file through features_print (Kaldi defaults unless told),
 * for tests/e2e_kaldi_mfcc.sh (it does not depend on asrd_main).
 * Usage: tool_features [--mel N] [--ceps N] [--low HZ] [--high HZ] FILE   (FILE "-" = stdin) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/features.h"

int main(int argc, char **argv)
{
    mfcc_params p = mfcc_default_params();
    p.sample_rate = 0; /* the file's own rate */
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--mel") == 0)
            p.num_mel_bins = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--ceps") == 0)
            p.num_ceps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--low") == 0)
            p.low_freq = strtof(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--high") == 0)
            p.high_freq = strtof(argv[i + 1], NULL);
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: %s [--mel N] [--ceps N] [--low HZ] [--high HZ] FILE\n", argv[0]);
        return 2;
    }
    asr_error err = {0};
    if (features_print(argv[i], &p, stdout, &err) != ASR_OK) {
        fprintf(stderr, "tool_features: %s\n", err.msg);
        return 1;
    }
    return 0;
}
