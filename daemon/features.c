/* features.c - Kaldi-default MFCC of one file, printed one frame per line. */
#include "features.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../frontend/audio.h"
#include "../frontend/mfcc.h"

asr_status features_print_kaldi(const char *path, FILE *out, asr_error *err)
{
    mfcc_params p = mfcc_default_params();
    p.sample_rate = 0;
    return features_print(path, &p, out, err);
}

asr_status features_print(const char *path, const mfcc_params *params, FILE *out, asr_error *err)
{
    asr_status st = ASR_OK;
    audio_reader *r = NULL;
    mfcc *m = NULL;
    mfcc_stream *s = NULL;
    float *buf = NULL, *frame = NULL;
    const size_t chunk = 8192;

    r = audio_reader_open(path, params->sample_rate, err); /* 0: the file's own rate, as Kaldi */
    if (!r)
        return err ? err->code : ASR_ERR_AUDIO;
    int rate = audio_reader_file_rate(r);
    mfcc_params p = *params;
    p.sample_rate = params->sample_rate ? params->sample_rate : rate;
    m = mfcc_create(&p, err);
    if (!m) {
        st = err ? err->code : ASR_ERR_ARG;
        if (err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            asr_error_set(err, st, "%s: %s", path, msg);
        }
        goto fail;
    }
    s = mfcc_stream_create(m);
    buf = malloc(sizeof(float) * chunk);
    frame = malloc(sizeof(float) * (size_t)p.num_ceps);
    if (!s || !buf || !frame) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        long n = audio_reader_read(r, buf, chunk, err);
        if (n < 0) {
            st = err ? err->code : ASR_ERR_AUDIO;
            goto fail;
        }
        if (n == 0)
            break;
        if (mfcc_stream_accept(s, buf, (size_t)n) != ASR_OK) {
            st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        while (mfcc_stream_pop(s, frame)) {
            for (int k = 0; k < p.num_ceps; k++)
                fprintf(out, k ? " %.9g" : "%.9g", frame[k]);
            fputc('\n', out);
        }
    }
    if (fflush(out) != 0 || ferror(out)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: writing features: %s", path, strerror(errno));
        goto fail;
    }
fail:
    free(frame);
    free(buf);
    mfcc_stream_destroy(s);
    mfcc_destroy(m);
    audio_reader_close(r);
    return st;
}
