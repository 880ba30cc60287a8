/* model_file.c - writing, reading and validating asrd model files (format: model_file.h).
 *
 * Reading checks magic and version, then walks the metadata and the tensors sequentially against
 * the shapes the metadata implies, reading each tensor straight into one slab. The checksum decides how to
 * word a failure: when it matches, the file is what the writer wrote and the structural error is reported as
 * is; when it does not, a file that ends early is reported as truncated (naming the tensor that needed the
 * missing bytes) and anything else as corrupt.
 */
#include "model_file.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_file.c stores floats by memcpy and assumes a little-endian host"
#endif

#define MAGIC "ASRDMODL"
#define MAGIC_LEN 8
#define MAX_DIM (1 << 20) /* sanity bound on any one size, so shapes cannot overflow */
#define MAX_NAME_LEN 64
#define MAX_META_LEN (1 << 16)

static const char *const window_names[] = {"povey", "hamming", "hanning"};

static const char *type_name(nn_layer_type t)
{
    return t == NN_GRU ? "gru" : t == NN_LSTM ? "lstm" : "?";
}

/* ---- description: allocation, size, consistency ---- */

/* Floats of every tensor of d, in slab order (feature statistics first). */
static size_t slab_floats(const asr_model_desc *d)
{
    size_t n = 2 * (size_t)d->n_feat;
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        size_t gh = (size_t)nn_rnn_gates(l->type) * l->hidden;
        n += gh * l->in + gh * l->hidden + 2 * gh;
    }
    int h_last = d->n_layers > 0 ? d->layers[d->n_layers - 1].hidden : 0;
    n += (size_t)d->n_out * h_last + d->n_out;
    return n;
}

size_t asr_model_desc_params(const asr_model_desc *d)
{
    return slab_floats(d) - 2 * (size_t)d->n_feat;
}

/* Checks everything that does not involve tensor data: sizes and alphabet. */
static asr_status check_shape(const asr_model_desc *d, const char *what, asr_error *err)
{
    const mfcc_params *p = &d->frontend;
    if (p->sample_rate <= 0 || !(p->frame_length_ms > 0) || !(p->frame_shift_ms > 0) ||
        p->num_mel_bins <= 0 || p->num_ceps <= 0 || p->fft_size < 0 || (int)p->window < 0 ||
        (int)p->window > 2)
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: invalid frontend parameters", what);
    if (d->cmvn.mode != CMVN_GLOBAL) {
        asr_error e;
        if (cmvn_params_check(&d->cmvn, &e))
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: %s", what, e.msg);
    }
    if (d->n_feat != p->num_ceps)
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: n_feat %d differs from num_ceps %d", what, d->n_feat,
                             p->num_ceps);
    if (d->stack < 1 || d->stride < 1 || d->stack > 64 || d->stride > 64)
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: stack %d / stride %d out of range 1..64", what,
                             d->stack, d->stride);
    if (d->n_layers < 1 || d->n_layers > ASR_MAX_LAYERS)
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: %d layers (expected 1..%d)", what, d->n_layers,
                             ASR_MAX_LAYERS);
    int in = d->n_feat * d->stack;
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        if (l->type != NN_GRU && l->type != NN_LSTM)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: layer%d has unknown type %d", what, k,
                                 (int)l->type);
        if (l->hidden < 1 || l->hidden > 8192)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: layer%d hidden size %d out of range 1..8192", what,
                                 k, l->hidden);
        if (l->in != in)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: layer%d input size %d, expected %d", what, k,
                                 l->in, in);
        in = l->hidden;
    }
    size_t na = strnlen(d->alphabet, sizeof d->alphabet);
    if (na == 0 || na > ASR_MAX_LABELS)
        return asr_error_set(err, ASR_ERR_ALPHABET, "%s: alphabet has %zu labels (expected 1..%d)", what, na,
                             ASR_MAX_LABELS);
    for (size_t i = 0; i < na; i++) {
        unsigned char c = (unsigned char)d->alphabet[i];
        if (c < 0x20 || c > 0x7e || c == '_')
            return asr_error_set(
                err, ASR_ERR_ALPHABET,
                "%s: alphabet label %zu is byte 0x%02x (labels are printable ASCII, not '_')", what, i + 1,
                c);
        const char *dup = memchr(d->alphabet, c, i);
        if (dup)
            return asr_error_set(err, ASR_ERR_ALPHABET,
                                 "%s: alphabet has duplicate label '%c' (labels %d and %zu)", what, c,
                                 (int)(dup - d->alphabet) + 1, i + 1);
    }
    if (d->n_out != (int)na + 1)
        return asr_error_set(err, ASR_ERR_ALPHABET,
                             "%s: alphabet has %zu labels (+ blank = %zu outputs) but proj.w has %d outputs",
                             what, na, na + 1, d->n_out);
    return ASR_OK;
}

asr_status asr_model_desc_check(const asr_model_desc *d, const char *what, asr_error *err)
{
    asr_status st = check_shape(d, what, err);
    if (st)
        return st;
    if (!d->feat_mean || !d->feat_std || !d->proj_w || !d->proj_b)
        return asr_error_set(err, ASR_ERR_ARG, "%s: tensors not allocated", what);
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        if (!l->w_ih || !l->w_hh || !l->b_ih || !l->b_hh)
            return asr_error_set(err, ASR_ERR_ARG, "%s: layer%d tensors not allocated", what, k);
    }
    for (int i = 0; i < d->n_feat; i++)
        if (!(d->feat_std[i] > 0) || d->feat_std[i] > 1e30f || !(d->feat_mean[i] == d->feat_mean[i]))
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: feat_std[%d] = %g must be positive and finite",
                                 what, i, (double)d->feat_std[i]);
    return ASR_OK;
}

/* Points every tensor of d into slab, in file order. */
static void point_tensors(asr_model_desc *d, float *slab)
{
    float *p = slab;
    d->feat_mean = p, p += d->n_feat;
    d->feat_std = p, p += d->n_feat;
    for (int k = 0; k < d->n_layers; k++) {
        nn_rnn_layer *l = &d->layers[k];
        size_t gh = (size_t)nn_rnn_gates(l->type) * l->hidden;
        l->w_ih = p, p += gh * l->in;
        l->w_hh = p, p += gh * l->hidden;
        l->b_ih = p, p += gh;
        l->b_hh = p, p += gh;
    }
    d->proj_w = p, p += (size_t)d->n_out * d->layers[d->n_layers - 1].hidden;
    d->proj_b = p;
    d->slab = slab;
}

asr_status asr_model_desc_alloc(asr_model_desc *d, asr_error *err)
{
    asr_status st = check_shape(d, "model description", err);
    if (st)
        return st;
    size_t bytes = (slab_floats(d) * sizeof(float) + 63) & ~(size_t)63;
    float *slab = asr_big_alloc(bytes); /* zeroed, 64-byte aligned (SIMD loads), on huge pages */
    if (!slab)
        return asr_error_set(err, ASR_ERR_NOMEM, "model description: cannot allocate %zu bytes", bytes);
    point_tensors(d, slab);
    for (int i = 0; i < d->n_feat; i++)
        d->feat_std[i] = 1.0f;
    return ASR_OK;
}

void asr_model_desc_free(asr_model_desc *d)
{
    if (!d)
        return;
    asr_big_free(d->slab);
    memset(d, 0, sizeof *d);
}

/* ---- tensor list shared by writer and reader ---- */

typedef struct tensor_spec {
    char name[MAX_NAME_LEN];
    int ndim;
    uint32_t dims[2];
    const float *data; /* into the description's slab */
} tensor_spec;

#define MAX_TENSORS (2 + 4 * ASR_MAX_LAYERS + 2)

static void add_spec(tensor_spec *t, const char *name, int ndim, int d0, int d1, const float *data)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->dims[0] = (uint32_t)d0;
    t->dims[1] = (uint32_t)d1;
    t->data = data;
}

/* The tensors of d in file order, with the shapes the metadata implies. */
static int tensor_specs(const asr_model_desc *d, tensor_spec *t)
{
    int n = 0;
    char name[MAX_NAME_LEN];
    add_spec(&t[n++], "feat_mean", 1, d->n_feat, 0, d->feat_mean);
    add_spec(&t[n++], "feat_std", 1, d->n_feat, 0, d->feat_std);
    for (int k = 0; k < d->n_layers; k++) {
        const nn_rnn_layer *l = &d->layers[k];
        int gh = nn_rnn_gates(l->type) * l->hidden;
        snprintf(name, sizeof name, "layer%d.w_ih", k);
        add_spec(&t[n++], name, 2, gh, l->in, l->w_ih);
        snprintf(name, sizeof name, "layer%d.w_hh", k);
        add_spec(&t[n++], name, 2, gh, l->hidden, l->w_hh);
        snprintf(name, sizeof name, "layer%d.b_ih", k);
        add_spec(&t[n++], name, 1, gh, 0, l->b_ih);
        snprintf(name, sizeof name, "layer%d.b_hh", k);
        add_spec(&t[n++], name, 1, gh, 0, l->b_hh);
    }
    add_spec(&t[n++], "proj.w", 2, d->n_out, d->layers[d->n_layers - 1].hidden, d->proj_w);
    add_spec(&t[n++], "proj.b", 1, d->n_out, 0, d->proj_b);
    return n;
}

static size_t tensor_floats(const tensor_spec *t)
{
    return t->ndim == 1 ? t->dims[0] : (size_t)t->dims[0] * t->dims[1];
}

/* ---- metadata text ---- */

/* Appends printf output to buf (cap bytes, *len used); returns -1 when it does not fit. */
static int __attribute__((format(printf, 4, 5)))
bprintf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* Writes the metadata block; floats use %.9g so they read back bit-exact. */
static int format_meta(const asr_model_desc *d, char *buf, size_t cap, size_t *len)
{
    const mfcc_params *p = &d->frontend;
    int r = 0;
    *len = 0;
    r |= bprintf(buf, cap, len, "sample_rate %d\n", p->sample_rate);
    r |= bprintf(buf, cap, len, "frame_length_ms %.9g\n", (double)p->frame_length_ms);
    r |= bprintf(buf, cap, len, "frame_shift_ms %.9g\n", (double)p->frame_shift_ms);
    r |= bprintf(buf, cap, len, "fft_size %d\n", p->fft_size);
    r |= bprintf(buf, cap, len, "num_mel_bins %d\n", p->num_mel_bins);
    r |= bprintf(buf, cap, len, "low_freq %.9g\n", (double)p->low_freq);
    r |= bprintf(buf, cap, len, "high_freq %.9g\n", (double)p->high_freq);
    r |= bprintf(buf, cap, len, "num_ceps %d\n", p->num_ceps);
    r |= bprintf(buf, cap, len, "cepstral_lifter %.9g\n", (double)p->cepstral_lifter);
    r |= bprintf(buf, cap, len, "preemph %.9g\n", (double)p->preemph);
    r |= bprintf(buf, cap, len, "window %s\n", window_names[p->window]);
    r |= bprintf(buf, cap, len, "remove_dc_offset %d\n", p->remove_dc_offset);
    r |= bprintf(buf, cap, len, "use_energy %d\n", p->use_energy);
    r |= bprintf(buf, cap, len, "energy_floor %.9g\n", (double)p->energy_floor);
    r |= bprintf(buf, cap, len, "n_feat %d\n", d->n_feat);
    r |= bprintf(buf, cap, len, "stack %d\n", d->stack);
    r |= bprintf(buf, cap, len, "stride %d\n", d->stride);
    char alpha[ASR_MAX_LABELS + 1];
    snprintf(alpha, sizeof alpha, "%s", d->alphabet);
    for (char *c = alpha; *c; c++)
        if (*c == ' ')
            *c = '_';
    r |= bprintf(buf, cap, len, "alphabet %s\n", alpha);
    r |= bprintf(buf, cap, len, "layers %d\n", d->n_layers);
    for (int k = 0; k < d->n_layers; k++)
        r |= bprintf(buf, cap, len, "layer%d %s %d %d\n", k, type_name(d->layers[k].type), d->layers[k].in,
                     d->layers[k].hidden);
    r |= bprintf(buf, cap, len, "n_out %d\n", d->n_out);
    if (d->cmvn.mode != CMVN_GLOBAL) {
        r |= bprintf(buf, cap, len, "cmvn %s\n", cmvn_mode_name(d->cmvn.mode));
        r |= bprintf(buf, cap, len, "cmvn_prior_frames %.9g\n", (double)d->cmvn.prior_frames);
        r |= bprintf(buf, cap, len, "cmvn_window %.9g\n", (double)d->cmvn.window);
        r |= bprintf(buf, cap, len, "cmvn_norm_vars %d\n", d->cmvn.norm_vars);
    }
    return r;
}

enum {
    K_SAMPLE_RATE,
    K_FRAME_LENGTH,
    K_FRAME_SHIFT,
    K_FFT_SIZE,
    K_MEL_BINS,
    K_LOW_FREQ,
    K_HIGH_FREQ,
    K_NUM_CEPS,
    K_LIFTER,
    K_PREEMPH,
    K_WINDOW,
    K_REMOVE_DC,
    K_USE_ENERGY,
    K_ENERGY_FLOOR,
    K_N_FEAT,
    K_STACK,
    K_STRIDE,
    K_ALPHABET,
    K_LAYERS,
    K_N_OUT,
    K_CMVN,
    K_CMVN_PRIOR,
    K_CMVN_WINDOW,
    K_CMVN_NORM_VARS,
    K_COUNT
};
#define K_COUNT_V1 K_CMVN /* version 1 files have the keys before cmvn, version 2 all of them */
static const char *const key_names[K_COUNT] = {"sample_rate",
                                               "frame_length_ms",
                                               "frame_shift_ms",
                                               "fft_size",
                                               "num_mel_bins",
                                               "low_freq",
                                               "high_freq",
                                               "num_ceps",
                                               "cepstral_lifter",
                                               "preemph",
                                               "window",
                                               "remove_dc_offset",
                                               "use_energy",
                                               "energy_floor",
                                               "n_feat",
                                               "stack",
                                               "stride",
                                               "alphabet",
                                               "layers",
                                               "n_out",
                                               "cmvn",
                                               "cmvn_prior_frames",
                                               "cmvn_window",
                                               "cmvn_norm_vars"};

static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v)
        return -1;
    *out = v;
    return 0;
}

/* Parses the metadata block into d's scalar fields. */
static asr_status parse_meta(const char *path, const char *text, size_t len, uint32_t version,
                             asr_model_desc *d, asr_error *err)
{
    const int n_keys = version >= 2 ? K_COUNT : K_COUNT_V1;
    char buf[MAX_META_LEN + 1];
    memcpy(buf, text, len);
    buf[len] = 0;
    if (memchr(text, 0, len))
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata contains a NUL byte", path);
    int seen[K_COUNT] = {0};
    int layer_seen[ASR_MAX_LAYERS] = {0};
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *sp = strchr(line, ' ');
        if (!sp)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata line %d has no value: '%.40s'", path,
                                 line_no, line);
        *sp = 0;
        const char *key = line, *val = sp + 1;
        int k = 0, bad = 0;
        while (k < n_keys && strcmp(key, key_names[k]))
            k++;
        if (k == n_keys) {
            int li;
            char tname[8];
            int in, hidden, n = 0;
            if (strncmp(key, "layer", 5) || parse_int(key + 5, &li) || key[5] < '0' || key[5] > '9')
                return asr_error_set(err, ASR_ERR_FORMAT, "%s: unknown metadata key '%.40s' (line %d)", path,
                                     key, line_no);
            if (li < 0 || li >= ASR_MAX_LAYERS)
                return asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata key '%.40s': at most %d layers", path,
                                     key, ASR_MAX_LAYERS);
            if (layer_seen[li]++)
                return asr_error_set(err, ASR_ERR_FORMAT, "%s: duplicate metadata key '%s'", path, key);
            if (sscanf(val, "%7s %d %d%n", tname, &in, &hidden, &n) != 3 || val[n])
                return asr_error_set(err, ASR_ERR_FORMAT,
                                     "%s: metadata '%s' wants 'TYPE IN HIDDEN', got '%.40s'", path, key, val);
            nn_rnn_layer *l = &d->layers[li];
            if (!strcmp(tname, "gru"))
                l->type = NN_GRU;
            else if (!strcmp(tname, "lstm"))
                l->type = NN_LSTM;
            else
                return asr_error_set(err, ASR_ERR_FORMAT, "%s: %s: unknown layer type '%s' (gru or lstm)",
                                     path, key, tname);
            l->in = in;
            l->hidden = hidden;
            continue;
        }
        if (seen[k]++)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: duplicate metadata key '%s'", path, key);
        mfcc_params *p = &d->frontend;
        switch (k) {
        case K_SAMPLE_RATE:
            bad = parse_int(val, &p->sample_rate);
            break;
        case K_FRAME_LENGTH:
            bad = parse_float(val, &p->frame_length_ms);
            break;
        case K_FRAME_SHIFT:
            bad = parse_float(val, &p->frame_shift_ms);
            break;
        case K_FFT_SIZE:
            bad = parse_int(val, &p->fft_size);
            break;
        case K_MEL_BINS:
            bad = parse_int(val, &p->num_mel_bins);
            break;
        case K_LOW_FREQ:
            bad = parse_float(val, &p->low_freq);
            break;
        case K_HIGH_FREQ:
            bad = parse_float(val, &p->high_freq);
            break;
        case K_NUM_CEPS:
            bad = parse_int(val, &p->num_ceps);
            break;
        case K_LIFTER:
            bad = parse_float(val, &p->cepstral_lifter);
            break;
        case K_PREEMPH:
            bad = parse_float(val, &p->preemph);
            break;
        case K_WINDOW:
            bad = 1;
            for (int w = 0; w < 3; w++)
                if (!strcmp(val, window_names[w]))
                    p->window = (mfcc_window)w, bad = 0;
            break;
        case K_REMOVE_DC:
            bad = parse_int(val, &p->remove_dc_offset);
            break;
        case K_USE_ENERGY:
            bad = parse_int(val, &p->use_energy);
            break;
        case K_ENERGY_FLOOR:
            bad = parse_float(val, &p->energy_floor);
            break;
        case K_N_FEAT:
            bad = parse_int(val, &d->n_feat);
            break;
        case K_STACK:
            bad = parse_int(val, &d->stack);
            break;
        case K_STRIDE:
            bad = parse_int(val, &d->stride);
            break;
        case K_ALPHABET: {
            size_t n = strlen(val);
            if (n > ASR_MAX_LABELS)
                return asr_error_set(err, ASR_ERR_ALPHABET, "%s: alphabet has %zu labels (at most %d)", path,
                                     n, ASR_MAX_LABELS);
            for (size_t i = 0; i <= n; i++)
                d->alphabet[i] = val[i] == '_' ? ' ' : val[i];
            break;
        }
        case K_LAYERS:
            bad = parse_int(val, &d->n_layers);
            break;
        case K_N_OUT:
            bad = parse_int(val, &d->n_out);
            break;
        case K_CMVN: {
            int m = cmvn_mode_parse(val);
            bad = m < 0;
            d->cmvn.mode = bad ? CMVN_GLOBAL : (cmvn_mode)m;
            break;
        }
        case K_CMVN_PRIOR:
            bad = parse_float(val, &d->cmvn.prior_frames);
            break;
        case K_CMVN_WINDOW:
            bad = parse_float(val, &d->cmvn.window);
            break;
        case K_CMVN_NORM_VARS:
            bad = parse_int(val, &d->cmvn.norm_vars);
            break;
        }
        if (bad)
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata '%s' has bad value '%.40s'", path, key,
                                 val);
    }
    for (int k = 0; k < n_keys; k++)
        if (!seen[k])
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: missing metadata key '%s'", path, key_names[k]);
    if (d->n_layers < 1 || d->n_layers > ASR_MAX_LAYERS)
        return asr_error_set(err, ASR_ERR_FORMAT, "%s: %d layers (expected 1..%d)", path, d->n_layers,
                             ASR_MAX_LAYERS);
    for (int k = 0; k < ASR_MAX_LAYERS; k++) {
        if (k < d->n_layers && !layer_seen[k])
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: missing metadata key 'layer%d'", path, k);
        if (k >= d->n_layers && layer_seen[k])
            return asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata has layer%d but layers is %d", path, k,
                                 d->n_layers);
    }
    return check_shape(d, path, err);
}

/* ---- writing ---- */

typedef struct writer {
    FILE *f;
    uLong crc;
    int failed;
} writer;

static void emit(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    w->crc = crc32(w->crc, p, (uInt)n);
    if (fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
}

static void emit_u32(writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    emit(w, b, 4);
}

asr_status asr_model_write(const char *path, const asr_model_desc *d, asr_error *err)
{
    char tmp[4096];
    char meta[MAX_META_LEN];
    size_t meta_len;
    tensor_spec t[MAX_TENSORS];
    writer w = {NULL, 0, 0};
    int fd = -1;
    asr_status st = asr_model_desc_check(d, path, err);
    if (st)
        return st;
    if (format_meta(d, meta, sizeof meta, &meta_len))
        return asr_error_set(err, ASR_ERR_ARG, "%s: metadata too long", path);
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return asr_error_set(err, ASR_ERR_ARG, "%s: path too long", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return asr_error_set(err, ASR_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(errno));
    fchmod(fd, 0644);
    w.f = fdopen(fd, "wb");
    if (!w.f) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    w.crc = crc32(0L, Z_NULL, 0);
    emit(&w, MAGIC, MAGIC_LEN);
    emit_u32(&w, d->cmvn.mode == CMVN_GLOBAL ? 1u : (uint32_t)ASR_MODEL_VERSION);
    emit_u32(&w, (uint32_t)meta_len);
    emit(&w, meta, meta_len);
    int nt = tensor_specs(d, t);
    emit_u32(&w, (uint32_t)nt);
    for (int i = 0; i < nt; i++) {
        size_t nl = strlen(t[i].name);
        emit_u32(&w, (uint32_t)nl);
        emit(&w, t[i].name, nl);
        emit_u32(&w, (uint32_t)t[i].ndim);
        for (int j = 0; j < t[i].ndim; j++)
            emit_u32(&w, t[i].dims[j]);
        emit(&w, t[i].data, tensor_floats(&t[i]) * sizeof(float));
    }
    uint32_t crc = (uint32_t)w.crc;
    emit_u32(&w, crc);
    if (w.failed || fflush(w.f) || fsync(fileno(w.f))) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        goto fail;
    }
    FILE *f = w.f;
    w.f = NULL;
    if (fclose(f)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: cannot rename %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    return ASR_OK;
fail:
    if (w.f)
        fclose(w.f);
    unlink(tmp);
    return st;
}

/* ---- reading ---- */

/* The file is read sequentially: small headers into local buffers, tensor data straight into the
 * slab (no second copy of the weights, so peak memory stays at one model), the CRC updated over
 * every byte read. `left` counts the bytes after the current position (from fstat). */
typedef struct reader {
    FILE *f;
    size_t left;
    uLong crc;
    int io_error;
} reader;

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads n bytes (the caller checked r->left); 0 on success. */
static int rd_bytes(reader *r, void *dst, size_t n)
{
    if (fread(dst, 1, n, r->f) != n) {
        r->io_error = 1;
        return -1;
    }
    r->crc = crc32(r->crc, dst, (uInt)n);
    r->left -= n;
    return 0;
}

/* Whether a failure is "the file ends too early" (reworded when the checksum also fails). */
typedef enum { PARSE_OK, PARSE_TRUNCATED, PARSE_BAD } parse_result;

#define NEED(n, ...)                                                                                         \
    do {                                                                                                     \
        if (r->left < (size_t)(n)) {                                                                         \
            asr_error_set(err, ASR_ERR_FORMAT, __VA_ARGS__);                                                 \
            return PARSE_TRUNCATED;                                                                          \
        }                                                                                                    \
    } while (0)
#define READ(dst, n)                                                                                         \
    do {                                                                                                     \
        if (rd_bytes(r, dst, n)) {                                                                           \
            asr_error_set(err, ASR_ERR_IO, "%s: read failed", path);                                         \
            return PARSE_BAD;                                                                                \
        }                                                                                                    \
    } while (0)

/* Walks metadata and tensors (after magic and version), filling d and its slab. */
static parse_result parse_body(const char *path, reader *r, uint32_t version, asr_model_desc *d,
                               asr_error *err)
{
    unsigned char b4[8];
    NEED(4, "%s: truncated: header needs 4 bytes, %zu left", path, r->left);
    READ(b4, 4);
    uint32_t meta_len = rd_u32(b4);
    if (meta_len > MAX_META_LEN) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: metadata length %u too large", path, meta_len);
        return PARSE_BAD;
    }
    NEED(meta_len, "%s: truncated: metadata needs %u bytes, %zu left", path, meta_len, r->left);
    {
        char *meta = malloc(meta_len + 1);
        if (!meta) {
            asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
            return PARSE_BAD;
        }
        int bad = rd_bytes(r, meta, meta_len) || parse_meta(path, meta, meta_len, version, d, err);
        free(meta);
        if (bad) {
            if (r->io_error)
                asr_error_set(err, ASR_ERR_IO, "%s: read failed", path);
            return PARSE_BAD;
        }
    }

    /* The tensors' data alone must fit in what is left of the file: checked before anything is
     * allocated, so a small malformed file cannot make us commit gigabytes (shapes are bounded by
     * check_shape, so the sum cannot overflow). */
    size_t need = slab_floats(d) * sizeof(float);
    NEED(need, "%s: truncated: the metadata's tensors need %zu bytes, %zu left", path, need, r->left);
    size_t bytes = (need + 63) & ~(size_t)63;
    float *slab = asr_big_alloc(bytes);
    if (!slab) {
        asr_error_set(err, ASR_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, bytes);
        return PARSE_BAD;
    }
    point_tensors(d, slab);
    tensor_spec t[MAX_TENSORS];
    int nt = tensor_specs(d, t);
    int done[MAX_TENSORS] = {0};

    NEED(4, "%s: truncated: tensor count needs 4 bytes, %zu left", path, r->left);
    READ(b4, 4);
    uint32_t n_tensors = rd_u32(b4);
    if (n_tensors != (uint32_t)nt) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: %u tensors, the metadata implies %d", path, n_tensors, nt);
        return PARSE_BAD;
    }
    for (int i = 0; i < nt; i++) {
        NEED(4, "%s: truncated: tensor %d header needs 4 bytes, %zu left", path, i, r->left);
        READ(b4, 4);
        uint32_t nl = rd_u32(b4);
        if (nl == 0 || nl >= MAX_NAME_LEN) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s: tensor %d name length %u invalid", path, i, nl);
            return PARSE_BAD;
        }
        NEED(nl, "%s: truncated: tensor %d name needs %u bytes, %zu left", path, i, nl, r->left);
        char name[MAX_NAME_LEN];
        READ(name, nl);
        name[nl] = 0;
        int j = 0;
        while (j < nt && strcmp(name, t[j].name))
            j++;
        if (j == nt) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s: unexpected tensor '%s'", path, name);
            return PARSE_BAD;
        }
        if (done[j]++) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s: duplicate tensor '%s'", path, name);
            return PARSE_BAD;
        }
        NEED(4, "%s: truncated: tensor %s needs 4 bytes for its rank, %zu left", path, name, r->left);
        READ(b4, 4);
        uint32_t ndim = rd_u32(b4);
        if (ndim != (uint32_t)t[j].ndim) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s: tensor %s has %u dimensions, expected %d", path, name,
                          ndim, t[j].ndim);
            return PARSE_BAD;
        }
        NEED(4 * ndim, "%s: truncated: tensor %s needs %u bytes for its shape, %zu left", path, name,
             4 * ndim, r->left);
        READ(b4, 4 * ndim);
        for (uint32_t k = 0; k < ndim; k++) {
            uint32_t dim = rd_u32(b4 + 4 * k);
            if (dim != t[j].dims[k]) {
                if (ndim == 2)
                    asr_error_set(err, ASR_ERR_FORMAT, "%s: tensor %s has shape (%u, %u), expected (%u, %u)",
                                  path, name, rd_u32(b4), rd_u32(b4 + 4), t[j].dims[0], t[j].dims[1]);
                else
                    asr_error_set(err, ASR_ERR_FORMAT, "%s: tensor %s has shape (%u), expected (%u)", path,
                                  name, dim, t[j].dims[0]);
                if (!strcmp(name, "proj.w") && k == 0)
                    asr_error_set(
                        err, ASR_ERR_ALPHABET,
                        "%s: alphabet has %d labels (+ blank = %d outputs) but proj.w has %u outputs", path,
                        d->n_out - 1, d->n_out, dim);
                return PARSE_BAD;
            }
        }
        size_t nb = tensor_floats(&t[j]) * sizeof(float);
        NEED(nb, "%s: truncated: tensor %s needs %zu bytes, %zu left", path, name, nb, r->left);
        READ((float *)t[j].data, nb);
    }
    NEED(4, "%s: truncated: checksum needs 4 bytes, %zu left", path, r->left);
    if (r->left != 4) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: %zu unexpected bytes after the last tensor", path,
                      r->left - 4);
        return PARSE_BAD;
    }
    return PARSE_OK;
}
#undef NEED
#undef READ

/* Whether the last 4 bytes of the file are the CRC of the others (re-reads the file; only used to
 * word an error). */
static int file_crc_ok(FILE *f, size_t size)
{
    unsigned char buf[65536];
    uLong crc = crc32(0L, Z_NULL, 0);
    if (size < MAGIC_LEN + 8 || fseek(f, 0, SEEK_SET))
        return 0;
    for (size_t left = size - 4; left > 0;) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        if (fread(buf, 1, n, f) != n)
            return 0;
        crc = crc32(crc, buf, (uInt)n);
        left -= n;
    }
    return fread(buf, 1, 4, f) == 4 && (uint32_t)crc == rd_u32(buf);
}

asr_status asr_model_read(const char *path, asr_model_desc *d, asr_error *err)
{
    asr_status st;
    FILE *f = NULL;
    memset(d, 0, sizeof *d);
    f = fopen(path, "rb");
    if (!f) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size > (off_t)1 << 31) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: %lld bytes is too large for a model", path,
                           (long long)sb.st_size);
        goto fail;
    }
    size_t size = (size_t)sb.st_size;
    unsigned char head[MAGIC_LEN + 4];
    size_t nh = size < sizeof head ? size : sizeof head;
    if (fread(head, 1, nh, f) != nh) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto fail;
    }
    if (size == 0) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: empty file (not an asrd model)", path);
        goto fail;
    }
    if (memcmp(head, MAGIC, nh < MAGIC_LEN ? nh : MAGIC_LEN)) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: bad magic (not an asrd model)", path);
        goto fail;
    }
    if (size < sizeof head) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: truncated: header needs %zu bytes, %zu present", path,
                           sizeof head, size);
        goto fail;
    }
    uint32_t version = rd_u32(head + MAGIC_LEN);
    if (version < 1 || version > ASR_MODEL_VERSION) {
        st = asr_error_set(err, ASR_ERR_VERSION,
                           "%s: version %u not supported (this asrd reads versions 1..%d)", path, version,
                           ASR_MODEL_VERSION);
        goto fail;
    }
    reader r = {f, size - sizeof head, crc32(crc32(0L, Z_NULL, 0), head, sizeof head), 0};
    asr_error perr = {ASR_OK, ""};
    parse_result pr = parse_body(path, &r, version, d, &perr);
    if (pr == PARSE_OK) {
        unsigned char c4[4];
        if (fread(c4, 1, 4, f) != 4) {
            st = asr_error_set(err, ASR_ERR_IO, "%s: read failed", path);
            goto fail;
        }
        if ((uint32_t)r.crc != rd_u32(c4)) {
            st = asr_error_set(err, ASR_ERR_CHECKSUM, "%s: checksum mismatch (file corrupt)", path);
            goto fail;
        }
    } else if (pr == PARSE_BAD && !r.io_error && !file_crc_ok(f, size)) {
        /* A structural error in a file that fails its checksum: the damage is the news. */
        st = asr_error_set(err, ASR_ERR_CHECKSUM, "%s: checksum mismatch (file corrupt)", path);
        goto fail;
    }
    if (pr != PARSE_OK) {
        st = perr.code;
        if (err)
            *err = perr;
        goto fail;
    }
    if ((st = asr_model_desc_check(d, path, err)))
        goto fail;
    fclose(f);
    return ASR_OK;
fail:
    if (f)
        fclose(f);
    asr_model_desc_free(d);
    return st;
}
