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

/* The kernels the fast paths use on this CPU: "avx512", "avx2" or "scalar" (static string). */
const char *nn_kernel_name(void);

/* In-place log-softmax of n values. */
void nn_log_softmax(float *x, int n);

#endif
