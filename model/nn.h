/* nn.h - recurrent and linear layers of the acoustic model, inference side.
 *
 * Layers are plain structs of pointers and sizes; one generic function serves every GRU or LSTM
 * layer. Weights use PyTorch's layouts and gate orders, so torch.nn.GRU / torch.nn.LSTM weights
 * copy over unchanged:
 *   GRU  (G = 3, gates r, z, n):  r = sig(W_ir x + b_ir + W_hr h + b_hr)
 *                                  z = sig(W_iz x + b_iz + W_hz h + b_hz)
 *                                  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *                                  h' = (1 - z) * n + z * h
 *   LSTM (G = 4, gates i, f, g, o): c' = f * c + i * g,  h' = o * tanh(c')
 * Every matrix is row-major (rows = outputs).
 *
 * nn_rnn_forward runs T frames at once: the input projection for all T frames is one matrix
 * product, then the recurrence steps frame by frame. Running T frames in one call or in T calls
 * of one frame gives the same result (the state carries everything between calls).
 *
 * Thread safety: layers are read-only and may be shared by any number of threads; state and
 * scratch buffers belong to the caller.
 */
#ifndef ASR_NN_H
#define ASR_NN_H

#include <stddef.h>
#include <stdint.h>

typedef enum nn_layer_type { NN_GRU = 1, NN_LSTM = 2 } nn_layer_type;

typedef struct nn_rnn_layer {
    nn_layer_type type;
    int in;            /* input size I */
    int hidden;        /* hidden size H */
    const float *w_ih; /* (G*H, I) */
    const float *w_hh; /* (G*H, H) */
    const float *b_ih; /* (G*H) */
    const float *b_hh; /* (G*H) */
} nn_rnn_layer;

/* Gates per layer type: 3 for GRU, 4 for LSTM. */
int nn_rnn_gates(nn_layer_type type);

/* Floats of recurrent state: H for a GRU (h), 2*H for an LSTM (h then c). Zero = initial state. */
int nn_rnn_state_size(const nn_rnn_layer *l);

/* Floats of scratch nn_rnn_forward needs for T frames. */
size_t nn_rnn_scratch_size(const nn_rnn_layer *l, int T);

/* Runs T >= 1 frames: x (T, I) row-major in, state (nn_rnn_state_size) in/out, y (T, H) out.
 * Fast path (AVX2/FMA when the CPU has it, its matrix products in AVX-512 where available and
 * bit-identical to AVX2; else the reference). */
void nn_rnn_forward(const nn_rnn_layer *l, int T, const float *x, float *state, float *y, float *scratch);

/* Reference: same contract, plain scalar C loops. The fast path is tested against it. */
void nn_rnn_forward_ref(const nn_rnn_layer *l, int T, const float *x, float *state, float *y, float *scratch);

/* Floats of scratch nn_rnn_forward_batch needs for n streams with R frames in all. */
size_t nn_rnn_batch_scratch_size(const nn_rnn_layer *l, int n, int R);

/* Runs n independent streams through one layer at once. Stream i has T[i] >= 0 frames; x (R, I)
 * and y (R, H) hold the frames of stream 0, then those of stream 1, ... (R = sum of T); state[i]
 * is stream i's state (distinct streams). The input projection of all R frames is one matrix
 * product, and recurrence step t of every stream with T[i] > t is one (n_t, H) x (H, G*H) product.
 * Contract: each stream's y and state are BIT-IDENTICAL to nn_rnn_forward(l, T[i], x_i, state[i],
 * y_i) alone (every output row is one dot product in the same kernel arithmetic order whatever
 * the number of rows computed together). Fast path and reference (== nn_rnn_forward_ref). */
void nn_rnn_forward_batch(const nn_rnn_layer *l, int n, const int *T, const float *x, float *const *state,
                          float *y, float *scratch);
void nn_rnn_forward_batch_ref(const nn_rnn_layer *l, int n, const int *T, const float *x, float *const *state,
                              float *y, float *scratch);

/* y (T, out) = x (T, in) * W^T + b, W (out, in) row-major, b may be NULL. Fast path and reference. */
void nn_linear_forward(const float *w, const float *b, int in, int out, int T, const float *x, float *y);
void nn_linear_forward_ref(const float *w, const float *b, int in, int out, int T, const float *x, float *y);

/* The kernels the fast paths use on this CPU: "avx512", "avx2" or "scalar" (static string).
 * The environment variable ASRD_SIMD=scalar or avx2, read once on first use, caps the choice (to
 * test or compare the fallbacks; unknown values are ignored). */
const char *nn_kernel_name(void);

/* ---- int8 inference ----
 * Weights quantised per output row with a symmetric scale, activations per row (frame) with a
 * dynamic symmetric scale, products accumulated exactly in int32 and dequantised in float32; the
 * biases, gate nonlinearities and everything after stay float32. The int8 kernels (scalar, AVX2,
 * AVX-512 VNNI) are bit-identical to each other (nn_q8.h), so an int8 result depends on the CPU
 * only through the float gate kernels, exactly as a float32 one does. */

typedef struct nn_q8_matrix {
    int rows, cols; /* N outputs, K inputs */
    int kp;         /* K rounded up to a multiple of 64 (the kernels' step); the padding is zero */
    int8_t *q;      /* (N, kp) row-major: w(n, k) ~= scale[n] * q(n, k), q in [-127, 127]; or NULL */
    int8_t *qp;     /* or the same values for the VNNI kernel: (N16 / 16, kp / 4, 16, 4), blocks of
                     * 16 rows by 4 k-values, rows N..N16-1 zero (N16 = N rounded up to 16) */
    float *scale;   /* (N16) max_k |w(n, k)| / 127 (0 for an all-zero row and the padding) */
    int32_t *qsum;  /* (N16) sum_k q(n, k): the VNNI kernel's correction for its unsigned offset */
} nn_q8_matrix;

/* One layer's quantised W_ih and W_hh (the float layer keeps its biases). */
typedef struct nn_q8_layer {
    nn_q8_matrix ih, hh;
} nn_q8_layer;

/* K rounded up to a multiple of 64. */
int nn_q8_kp(int K);

/* Quantises K floats into kp int8 values (kp >= K, the rest zero): q = round(x * 127 / max|x|)
 * (nearest, ties to even). Returns the scale max|x| / 127 (x ~= scale * q), 0 if x is all zero. */
float nn_q8_quantize_row(const float *x, int K, int kp, int8_t *q);

/* Quantises W (N, K) row-major into m (allocated here; nn_q8_matrix_free releases it), in the one
 * layout this CPU's int8 kernel reads (q, or qp with AVX-512 VNNI). Returns 0, or -1 when out of
 * memory (m then holds nothing to free). */
int nn_q8_matrix_init(nn_q8_matrix *m, const float *w, int N, int K);
void nn_q8_matrix_free(nn_q8_matrix *m);

/* Quantises a float layer's W_ih and W_hh. 0, or -1 when out of memory (nothing left allocated). */
int nn_q8_layer_init(nn_q8_layer *q, const nn_rnn_layer *l);
void nn_q8_layer_free(nn_q8_layer *q);

/* y (T, N) = dequant(quantised x (T, K) times m^T) + b: each row of x quantised on its own.
 * qx: T * m->kp bytes of scratch, sx: T floats of scratch. Fast path and reference (bit-identical). */
void nn_q8_linear_forward(const nn_q8_matrix *m, const float *b, int T, const float *x, float *y, int8_t *qx,
                          float *sx);
void nn_q8_linear_forward_ref(const nn_q8_matrix *m, const float *b, int T, const float *x, float *y,
                              int8_t *qx, float *sx);

/* nn_rnn_forward_batch with the matrix products in int8 (q = nn_q8_layer_init of l): the input
 * projection of every frame and the recurrent product of every step quantise their input rows
 * (x, then h) per row, so each stream's result is again BIT-IDENTICAL whatever streams or frames
 * run with it, and the fast path equals the reference up to the float gate kernels (AVX2 against
 * scalar, as in float32). Scratch: nn_rnn_batch_scratch_size(l, n, R) floats, as for float32. */
void nn_rnn_forward_batch_q8(const nn_rnn_layer *l, const nn_q8_layer *q, int n, const int *T, const float *x,
                             float *const *state, float *y, float *scratch);
void nn_rnn_forward_batch_q8_ref(const nn_rnn_layer *l, const nn_q8_layer *q, int n, const int *T,
                                 const float *x, float *const *state, float *y, float *scratch);

/* The int8 kernels the fast paths use on this CPU: "avx512-vnni", "avx2" or "scalar". */
const char *nn_q8_kernel_name(void);

/* In-place log-softmax of n values. */
void nn_log_softmax(float *x, int n);

#endif
