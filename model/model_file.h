/* model_file.h - the asrd model file: what a model is, on disk and in memory.
 *
 * Layout (all integers little-endian u32, floats IEEE-754 little-endian f32):
 *   "ASRDMODL"            8-byte magic
 *   version               u32, ASR_MODEL_VERSION
 *   meta_len              u32, bytes of the metadata block that follows
 *   metadata              meta_len bytes of UTF-8 text, one "key value" per line, each key exactly
 *                         once: every frontend parameter (mfcc_params field names; floats as %.9g
 *                         so they read back bit-exact; window povey|hamming|hanning), n_feat,
 *                         feature stacking (stack, stride), alphabet (the labels after the blank
 *                         as one token, "alphabet _abcdefghijklmnopqrstuvwxyz'", '_' standing for
 *                         space, so '_' itself cannot be a label), "layers N" and one line per
 *                         layer "layerK TYPE IN HIDDEN" (e.g. "layer0 gru 120 320"), n_out;
 *                         version 2 only (and then required): cmvn online|global,
 *                         cmvn_prior_frames, cmvn_window, cmvn_norm_vars (frontend/cmvn.h).
 *                         A model whose normalisation is the fixed global one is written as
 *                         version 1 (byte-identical to what earlier asrd wrote); both are read.
 *   n_tensors             u32
 *   per tensor:           name_len u32, name bytes, ndim u32, dims u32[ndim], data f32[prod(dims)]
 *                         names: feat_mean (n_feat), feat_std (n_feat),
 *                                layerK.w_ih (G*H, I), layerK.w_hh (G*H, H),
 *                                layerK.b_ih (G*H), layerK.b_hh (G*H), proj.w (n_out, H), proj.b (n_out)
 *   crc32                 u32, CRC-32 (zlib polynomial) of every preceding byte
 * The loader checks magic, version, every metadata key (unknown, missing or duplicate keys are
 * errors), every tensor's name and shape against the metadata (tensors may come in any order),
 * n_out == 1 + alphabet length, no duplicate labels, and the checksum; any failure is refused with
 * a message naming the file and the problem, e.g. "model.bin: truncated: tensor layer1.w_hh needs
 * 1228800 bytes, 1000 left" or "model.bin: checksum mismatch (file corrupt)". Tensors are read
 * straight into the slab (64-byte aligned), so loading needs no second copy of the weights.
 *
 * Thread safety: functions are reentrant; an asr_model_desc belongs to its caller.
 */
#ifndef ASR_MODEL_FILE_H
#define ASR_MODEL_FILE_H

#include "../frontend/asr_util.h"
#include "../frontend/cmvn.h"
#include "../frontend/mfcc.h"
#include "nn.h"

#define ASR_MODEL_VERSION 2 /* the newest version; models with cmvn global are written as version 1 */
#define ASR_MAX_LAYERS 8
#define ASR_MAX_LABELS 64

/* The default alphabet after the blank (label 0): space, a-z, apostrophe. Space is ' ' in memory. */
#define ASR_DEFAULT_ALPHABET " abcdefghijklmnopqrstuvwxyz'"

/* Feature pipeline: MFCC (frontend) -> normalisation per coefficient: cmvn global is
 * (x - feat_mean) / feat_std (fixed statistics from the training set), cmvn online adapts the mean
 * and variance to each stream starting from those statistics (frontend/cmvn.h)
 * -> stacking: output frame j concatenates input frames j*stride .. j*stride+stack-1 (frames that
 * never complete a stack are dropped) -> RNN layers -> proj -> log-softmax over n_out labels. */
typedef struct asr_model_desc {
    mfcc_params frontend;
    int n_feat;       /* == frontend.num_ceps */
    float *feat_mean; /* (n_feat) */
    float *feat_std;  /* (n_feat), > 0 */
    cmvn_params cmvn; /* how feat_mean/feat_std are used; zeroed = global (version 1 files) */
    int stack;        /* frames concatenated per network input, >= 1 */
    int stride;       /* input frames between network inputs, >= 1 */
    char alphabet[ASR_MAX_LABELS + 1]; /* labels 1..n_out-1, one byte each, NUL-terminated */
    int n_layers;
    nn_rnn_layer layers[ASR_MAX_LAYERS]; /* layer 0 input = n_feat * stack */
    int n_out;                           /* 1 (blank) + strlen(alphabet) */
    const float *proj_w;                 /* (n_out, H_last) */
    const float *proj_b;                 /* (n_out) */
    float *slab; /* owns every tensor above when filled by asr_model_read / asr_model_desc_alloc */
} asr_model_desc;

/* Given frontend, n_feat, stack, stride, alphabet, n_layers and each layer's type/in/hidden, and
 * n_out, allocates one zeroed slab and points every tensor into it. */
asr_status asr_model_desc_alloc(asr_model_desc *d, asr_error *err);

/* Total float parameters of the network (layers + projection, not feature statistics). */
size_t asr_model_desc_params(const asr_model_desc *d);

/* Checks internal consistency (sizes, alphabet); `what` names the source in messages. */
asr_status asr_model_desc_check(const asr_model_desc *d, const char *what, asr_error *err);

/* Writes d to path (atomically: temp file then rename). */
asr_status asr_model_write(const char *path, const asr_model_desc *d, asr_error *err);

/* Reads and validates a model file into *d (allocating its slab). */
asr_status asr_model_read(const char *path, asr_model_desc *d, asr_error *err);

/* Frees the slab; NULL-safe; leaves d zeroed. */
void asr_model_desc_free(asr_model_desc *d);

#endif
