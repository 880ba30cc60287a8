/* vosk.c - libFuzzer harness: a Vosk client text message through vosk_parse (proto/vosk.c), the
 * function the WebSocket thread calls on every text frame, then the reply formatters on what it
 * parsed (phrases and error text reach clients as JSON strings). */
#include <stdlib.h>
#include <string.h>

#include "../../proto/vosk.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* The daemon hands the frame's bytes without a terminating NUL: so does this copy, so a read past
     * len is caught by ASan. */
    char *text = (char *)fuzz_dup(data, size);
    if (!text)
        return 0;
    vosk_msg m;
    vosk_msg_type t = vosk_parse(text, size, &m);
    char *out = NULL;
    if (t == VOSK_MSG_ERROR) {
        out = vosk_format_error(m.error);
    } else if (t == VOSK_MSG_CONFIG && m.config.n_phrases > 0) {
        int n = m.config.n_phrases;
        vosk_word *w = calloc((size_t)n, sizeof *w);
        if (w) {
            for (int i = 0; i < n; i++)
                w[i] = (vosk_word){m.config.phrases[i], 0.1 * i, 0.1 * i + 0.05, 1.0 / (i + 1)};
            out = vosk_format_result(m.config.phrases[0], w, n, m.config.words != 0);
            free(w);
        }
        free(vosk_format_partial(m.config.phrases[n - 1]));
    }
    free(out);
    vosk_msg_free(&m);
    free(text);
    return 0;
}
