/* model_flops.c - the model facts the benchmark needs, read from a model file.
 *
 * Usage: model_flops MODEL
 * Prints "key value" lines: flops_per_frame (asr_model_flops_per_frame), frame_ms, params,
 * sample_rate, frame_length and frame_shift (samples per MFCC frame and between frames), stack,
 * stride, layers, hidden (of the last layer). The benchmark turns audio lengths into output frames
 * with these, and model FLOPs / CPU seconds into achieved GFLOP/s.
 */
#include <stdio.h>

#include "../../model/asr_model.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: model_flops MODEL\n");
        return 2;
    }
    asr_error err = {0};
    asr_model *m = asr_model_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "model_flops: %s\n", err.msg);
        return 1;
    }
    const asr_model_desc *d = asr_model_get_desc(m);
    const mfcc_params *p = &d->frontend;
    mfcc *fe = mfcc_create(p, &err); /* frame sizes exactly as the frontend rounds them */
    if (!fe) {
        fprintf(stderr, "model_flops: %s\n", err.msg);
        asr_model_free(m);
        return 1;
    }
    printf("flops_per_frame %.0f\n", asr_model_flops_per_frame(m));
    printf("frame_ms %g\n", asr_model_frame_ms(m));
    printf("params %zu\n", asr_model_desc_params(d));
    printf("sample_rate %d\n", p->sample_rate);
    printf("frame_length %d\n", mfcc_frame_length(fe));
    printf("frame_shift %d\n", mfcc_frame_shift(fe));
    printf("stack %d\n", d->stack);
    printf("stride %d\n", d->stride);
    printf("layers %d\n", d->n_layers);
    printf("hidden %d\n", d->n_layers > 0 ? d->layers[d->n_layers - 1].hidden : 0);
    mfcc_destroy(fe);
    asr_model_free(m);
    return 0;
}
