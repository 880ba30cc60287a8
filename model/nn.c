/* nn.c - GRU/LSTM and linear layers: the scalar reference and the run-time dispatch to the
 * AVX2/FMA kernels of nn_avx2.c and the AVX-512 matrix product of nn_avx512.c (chosen once, by
 * CPUID, on first use; the AVX-512 product is bit-identical to the AVX2 one, so results do not
 * depend on which of the two a CPU gets). int8 layers: the weights' quantisation and the dispatch
 * to the int8 kernels of nn_q8.c (scalar, AVX2, AVX-512 VNNI: all bit-identical).
 *
 * Both paths follow the same order of work per call: input projection of all T frames
 * (xp = x W_ih^T + b_ih, T x G*H, the only part that does not depend on the state, so a matrix
 * product), then per frame hp = W_hh h + b_hh and the gate nonlinearities of nn.h.
 */
#include "nn.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "nn_avx2.h"
#include "nn_avx512.h"
#include "nn_q8.h"

#include <stdlib.h>

int nn_rnn_gates(nn_layer_type type)
{
    return type == NN_LSTM ? 4 : 3;
}

int nn_rnn_state_size(const nn_rnn_layer *l)
{
    return l->type == NN_LSTM ? 2 * l->hidden : l->hidden;
}

size_t nn_rnn_scratch_size(const nn_rnn_layer *l, int T)
{
    /* xp (T, G*H) then hp (G*H), each row padded to 16 floats so every row starts 64-byte aligned
     * relative to the scratch start. */
    size_t gh = (size_t)nn_rnn_gates(l->type) * l->hidden;
    size_t row = (gh + 15) & ~(size_t)15;
    return row * ((size_t)T + 1);
}

/* ---- scalar reference ---- */

static float sigmoid_ref(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* y = W x + b for one vector; W (n, k) row-major. */
static void matvec_ref(const float *w, const float *b, int k, int n, const float *x, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *row = w + (size_t)i * k;
        float s = 0.0f;
        for (int j = 0; j < k; j++)
            s += row[j] * x[j];
        y[i] = s + (b ? b[i] : 0.0f);
    }
}

void nn_linear_forward_ref(const float *w, const float *b, int in, int out, int T, const float *x, float *y)
{
    for (int t = 0; t < T; t++)
        matvec_ref(w, b, in, out, x + (size_t)t * in, y + (size_t)t * out);
}

/* Gate nonlinearities for one frame: xp, hp (G*H) pre-activations; h_prev -> h (H); c in place. */
static void gru_gates_ref(int H, const float *xp, const float *hp, const float *h_prev, float *h)
{
    for (int i = 0; i < H; i++) {
        float r = sigmoid_ref(xp[i] + hp[i]);
        float z = sigmoid_ref(xp[H + i] + hp[H + i]);
        float n = tanhf(xp[2 * H + i] + r * hp[2 * H + i]);
        h[i] = (1.0f - z) * n + z * h_prev[i];
    }
}

static void lstm_gates_ref(int H, const float *xp, const float *hp, float *c, float *h)
{
    for (int j = 0; j < H; j++) {
        float ig = sigmoid_ref(xp[j] + hp[j]);
        float fg = sigmoid_ref(xp[H + j] + hp[H + j]);
        float gg = tanhf(xp[2 * H + j] + hp[2 * H + j]);
        float og = sigmoid_ref(xp[3 * H + j] + hp[3 * H + j]);
        c[j] = fg * c[j] + ig * gg;
        h[j] = og * tanhf(c[j]);
    }
}

void nn_rnn_forward_ref(const nn_rnn_layer *l, int T, const float *x, float *state, float *y, float *scratch)
{
    if (T <= 0)
        return;
    int H = l->hidden, I = l->in, gh = nn_rnn_gates(l->type) * H;
    size_t row = ((size_t)gh + 15) & ~(size_t)15;
    float *xp = scratch, *hp = scratch + row * (size_t)T;
    for (int t = 0; t < T; t++)
        matvec_ref(l->w_ih, l->b_ih, I, gh, x + (size_t)t * I, xp + row * t);
    for (int t = 0; t < T; t++) {
        const float *h_prev = t ? y + (size_t)(t - 1) * H : state;
        float *h = y + (size_t)t * H;
        matvec_ref(l->w_hh, l->b_hh, H, gh, h_prev, hp);
        if (l->type == NN_GRU)
            gru_gates_ref(H, xp + row * t, hp, h_prev, h);
        else
            lstm_gates_ref(H, xp + row * t, hp, state + H, h);
    }
    memcpy(state, y + (size_t)(T - 1) * H, (size_t)H * sizeof(float));
}

void nn_log_softmax(float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += exp((double)(x[i] - mx));
    float lse = mx + (float)log(s);
    for (int i = 0; i < n; i++)
        x[i] -= lse;
}

/* ---- dispatch ---- */

enum { SIMD_NONE, SIMD_AVX2, SIMD_AVX512 };

/* Written once under pthread_once, which orders them before every read (any thread may be first). */
static int simd_level;
static int simd_vnni; /* AVX-512 VNNI (with F and BW) beside simd_level == SIMD_AVX512: the int8 kernel */
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

/* __builtin_cpu_supports also checks that the OS saves the registers (XGETBV), and valgrind,
 * which does not emulate AVX-512, reports a CPU without it: the AVX2 kernels run there. */
static void simd_detect(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        simd_level = SIMD_AVX2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq"))
            simd_level = SIMD_AVX512;
    }
    if (simd_level == SIMD_AVX512 && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
        simd_vnni = 1;
    /* ASRD_SIMD caps the choice (nn.h), so the fallbacks can run on this CPU. */
    const char *cap = getenv("ASRD_SIMD");
    if (cap && !strcmp(cap, "scalar"))
        simd_level = SIMD_NONE, simd_vnni = 0;
    else if (cap && !strcmp(cap, "avx2") && simd_level > SIMD_AVX2)
        simd_level = SIMD_AVX2, simd_vnni = 0;
}

static int simd(void)
{
    pthread_once(&simd_once, simd_detect);
    return simd_level;
}

static int have_avx2(void)
{
    return simd() >= SIMD_AVX2;
}

const char *nn_kernel_name(void)
{
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    return names[simd()];
}

const char *nn_q8_kernel_name(void)
{
    return simd() == SIMD_NONE ? "scalar" : simd_vnni ? "avx512-vnni" : "avx2";
}

/* The int8 product: VNNI, AVX2 or the scalar reference (all bit-identical, nn_q8.h). */
static void q8_gemm(const nn_q8_matrix *w, const float *b, int T, const int8_t *x, const float *sx, float *y,
                    int ldy, int fast)
{
    if (fast && simd() != SIMD_NONE && simd_vnni)
        nn_q8_gemm_vnni(w, b, T, x, sx, y, ldy);
    else if (fast && simd() != SIMD_NONE)
        nn_q8_gemm_avx2(w, b, T, x, sx, y, ldy);
    else
        nn_q8_gemm_ref(w, b, T, x, sx, y, ldy);
}

/* nn_q8_quantize_row, in AVX-512 beside the VNNI kernel (bit-identical to the scalar one). */
static float q8_row(const float *x, int K, int kp, int8_t *q, int fast)
{
    if (fast && simd() != SIMD_NONE && simd_vnni)
        return nn_q8_quantize_row_avx512(x, K, kp, q);
    return nn_q8_quantize_row(x, K, kp, q);
}

/* Quantises T rows of x (K floats, ldx apart) into qx (rows kp apart) and their scales sx. */
static void q8_rows(int T, const float *x, size_t ldx, int K, int kp, int8_t *qx, float *sx, int fast)
{
    for (int t = 0; t < T; t++)
        sx[t] = q8_row(x + (size_t)t * ldx, K, kp, qx + (size_t)t * kp, fast);
}

int nn_q8_matrix_init_layouts(nn_q8_matrix *m, const float *w, int N, int K, int rowmajor, int packed)
{
    memset(m, 0, sizeof *m);
    m->rows = N, m->cols = K, m->kp = nn_q8_kp(K);
    size_t n16 = ((size_t)N + 15) & ~(size_t)15, kp = (size_t)m->kp, bytes = n16 * kp;
    int8_t *row = malloc(kp); /* one quantised row, when there is no row-major copy to write it to */
    if (rowmajor)
        m->q = aligned_alloc(64, bytes ? bytes : 64);
    if (packed)
        m->qp = aligned_alloc(64, bytes ? bytes : 64);
    m->scale = calloc(n16 + 16, sizeof(float));
    m->qsum = calloc(n16 + 16, sizeof(int32_t));
    if (!row || (rowmajor && !m->q) || (packed && !m->qp) || !m->scale || !m->qsum) {
        free(row);
        nn_q8_matrix_free(m);
        return -1;
    }
    if (packed) /* the padding rows of the last block */
        memset(m->qp, 0, bytes);
    for (int n = 0; n < N; n++) {
        int8_t *r = rowmajor ? m->q + (size_t)n * kp : row;
        m->scale[n] = q8_row(w + (size_t)n * K, K, (int)kp, r, 1);
        int32_t s = 0;
        for (int k = 0; k < K; k++)
            s += r[k];
        m->qsum[n] = s;
        /* The VNNI layout: block b, k-group g holds rows 16b..16b+15, four k-values each. */
        for (size_t k = 0; packed && k < kp; k++)
            m->qp[(((size_t)n / 16) * (kp / 4) + k / 4) * 64 + ((size_t)n % 16) * 4 + k % 4] = r[k];
    }
    free(row);
    return 0;
}

/* Only the layout this CPU's kernel reads (one int8 copy: the model's float32 weights stay loaded
 * beside it, and a daemon's memory counts). */
int nn_q8_matrix_init(nn_q8_matrix *m, const float *w, int N, int K)
{
    int vnni = simd() != SIMD_NONE && simd_vnni;
    return nn_q8_matrix_init_layouts(m, w, N, K, !vnni, vnni);
}

void nn_q8_matrix_free(nn_q8_matrix *m)
{
    free(m->q), free(m->qp), free(m->scale), free(m->qsum);
    memset(m, 0, sizeof *m);
}

int nn_q8_layer_init(nn_q8_layer *q, const nn_rnn_layer *l)
{
    int gh = nn_rnn_gates(l->type) * l->hidden;
    memset(q, 0, sizeof *q);
    if (nn_q8_matrix_init(&q->ih, l->w_ih, gh, l->in) || nn_q8_matrix_init(&q->hh, l->w_hh, gh, l->hidden)) {
        nn_q8_layer_free(q);
        return -1;
    }
    return 0;
}

void nn_q8_layer_free(nn_q8_layer *q)
{
    nn_q8_matrix_free(&q->ih);
    nn_q8_matrix_free(&q->hh);
}

static void q8_linear(const nn_q8_matrix *m, const float *b, int T, const float *x, float *y, int8_t *qx,
                      float *sx, int fast)
{
    q8_rows(T, x, (size_t)m->cols, m->cols, m->kp, qx, sx, fast);
    q8_gemm(m, b, T, qx, sx, y, m->rows, fast);
}

void nn_q8_linear_forward(const nn_q8_matrix *m, const float *b, int T, const float *x, float *y, int8_t *qx,
                          float *sx)
{
    q8_linear(m, b, T, x, y, qx, sx, 1);
}

void nn_q8_linear_forward_ref(const nn_q8_matrix *m, const float *b, int T, const float *x, float *y,
                              int8_t *qx, float *sx)
{
    q8_linear(m, b, T, x, y, qx, sx, 0);
}

/* The fast matrix product (only when have_avx2()): AVX-512 where there is, else AVX2. */
static void gemm_fast(const float *w, const float *b, int K, int N, int T, const float *x, int ldx, float *y,
                      int ldy)
{
    if (simd() == SIMD_AVX512)
        nn_avx512_gemm_nt(w, b, K, N, T, x, ldx, y, ldy);
    else
        nn_avx2_gemm_nt(w, b, K, N, T, x, ldx, y, ldy);
}

void nn_linear_forward(const float *w, const float *b, int in, int out, int T, const float *x, float *y)
{
    if (have_avx2())
        gemm_fast(w, b, in, out, T, x, in, y, out);
    else
        nn_linear_forward_ref(w, b, in, out, T, x, y);
}

void nn_rnn_forward(const nn_rnn_layer *l, int T, const float *x, float *state, float *y, float *scratch)
{
    if (T <= 0)
        return;
    if (!have_avx2()) {
        nn_rnn_forward_ref(l, T, x, state, y, scratch);
        return;
    }
    int H = l->hidden, I = l->in, gh = nn_rnn_gates(l->type) * H;
    int row = (gh + 15) & ~15;
    float *xp = scratch, *hp = scratch + (size_t)row * T;
    gemm_fast(l->w_ih, l->b_ih, I, gh, T, x, I, xp, row);
    for (int t = 0; t < T; t++) {
        const float *h_prev = t ? y + (size_t)(t - 1) * H : state;
        float *h = y + (size_t)t * H;
        gemm_fast(l->w_hh, l->b_hh, H, gh, 1, h_prev, H, hp, row);
        if (l->type == NN_GRU)
            nn_avx2_gru_gates(H, xp + (size_t)row * t, hp, h_prev, h);
        else
            nn_avx2_lstm_gates(H, xp + (size_t)row * t, hp, state + H, h);
    }
    memcpy(state, y + (size_t)(T - 1) * H, (size_t)H * sizeof(float));
}

/* ---- many streams at once ---- */

size_t nn_rnn_batch_scratch_size(const nn_rnn_layer *l, int n, int R)
{
    /* xp (R, G*H), hp (n, G*H) and the gathered previous states (n, H), rows padded to 16 floats;
     * then for int8 the quantised x (R, kp(I)) and h (n, kp(H)) bytes and their scales (R + n,
     * padded to 16 floats). */
    size_t gh = (size_t)nn_rnn_gates(l->type) * l->hidden;
    size_t row = (gh + 15) & ~(size_t)15, hrow = ((size_t)l->hidden + 15) & ~(size_t)15;
    size_t q8 = ((size_t)R * nn_q8_kp(l->in) + (size_t)n * nn_q8_kp(l->hidden)) / sizeof(float) +
                (((size_t)R + n + 15) & ~(size_t)15);
    return row * ((size_t)R + (size_t)n) + hrow * (size_t)n + q8;
}

/* The shared body of nn_rnn_forward_batch and its reference: fast selects the SIMD kernels.
 * Per step t the streams still running (T[i] > t) have their previous h gathered into hs
 * (n_t, H); one product gives hp (n_t, G*H); each stream's gates then run exactly as alone. */
static void rnn_batch(const nn_rnn_layer *l, const nn_q8_layer *q, int n, const int *T, const float *x,
                      float *const *state, float *y, float *scratch, int fast)
{
    int H = l->hidden, I = l->in, gh = nn_rnn_gates(l->type) * H;
    int row = (gh + 15) & ~15, hrow = (H + 15) & ~15;
    int R = 0, maxT = 0;
    for (int i = 0; i < n; i++) {
        R += T[i];
        maxT = T[i] > maxT ? T[i] : maxT;
    }
    if (R == 0)
        return;
    float *xp = scratch, *hp = xp + (size_t)row * R, *hs = hp + (size_t)row * n;
    /* int8 only: quantised x and h rows (kp bytes each, 64-byte multiples) and their scales. */
    int kpi = nn_q8_kp(I), kph = nn_q8_kp(H);
    int8_t *qx = (int8_t *)(hs + (size_t)hrow * n), *qh = qx + (size_t)R * kpi;
    float *sx = (float *)(qh + (size_t)n * kph), *sh = sx + R;
    if (q) {
        q8_rows(R, x, (size_t)I, I, kpi, qx, sx, fast);
        q8_gemm(&q->ih, l->b_ih, R, qx, sx, xp, row, fast);
    } else if (fast)
        gemm_fast(l->w_ih, l->b_ih, I, gh, R, x, I, xp, row);
    else
        for (int r = 0; r < R; r++)
            matvec_ref(l->w_ih, l->b_ih, I, gh, x + (size_t)r * I, xp + (size_t)row * r);
    for (int t = 0; t < maxT; t++) {
        int nt = 0;
        for (int i = 0, off = 0; i < n; off += T[i++]) {
            if (T[i] <= t)
                continue;
            const float *h_prev = t ? y + (size_t)(off + t - 1) * H : state[i];
            memcpy(hs + (size_t)hrow * nt, h_prev, (size_t)H * sizeof(float));
            nt++;
        }
        if (q) {
            q8_rows(nt, hs, (size_t)hrow, H, kph, qh, sh, fast);
            q8_gemm(&q->hh, l->b_hh, nt, qh, sh, hp, row, fast);
        } else if (fast)
            gemm_fast(l->w_hh, l->b_hh, H, gh, nt, hs, hrow, hp, row);
        else
            for (int j = 0; j < nt; j++)
                matvec_ref(l->w_hh, l->b_hh, H, gh, hs + (size_t)hrow * j, hp + (size_t)row * j);
        nt = 0;
        for (int i = 0, off = 0; i < n; off += T[i++]) {
            if (T[i] <= t)
                continue;
            const float *h_prev = hs + (size_t)hrow * nt, *xpt = xp + (size_t)row * (off + t);
            const float *hpt = hp + (size_t)row * nt;
            float *h = y + (size_t)(off + t) * H;
            nt++;
            if (l->type == NN_GRU) {
                if (fast)
                    nn_avx2_gru_gates(H, xpt, hpt, h_prev, h);
                else
                    gru_gates_ref(H, xpt, hpt, h_prev, h);
            } else {
                if (fast)
                    nn_avx2_lstm_gates(H, xpt, hpt, state[i] + H, h);
                else
                    lstm_gates_ref(H, xpt, hpt, state[i] + H, h);
            }
        }
    }
    for (int i = 0, off = 0; i < n; off += T[i++])
        if (T[i] > 0)
            memcpy(state[i], y + (size_t)(off + T[i] - 1) * H, (size_t)H * sizeof(float));
}

void nn_rnn_forward_batch_ref(const nn_rnn_layer *l, int n, const int *T, const float *x, float *const *state,
                              float *y, float *scratch)
{
    rnn_batch(l, NULL, n, T, x, state, y, scratch, 0);
}

void nn_rnn_forward_batch(const nn_rnn_layer *l, int n, const int *T, const float *x, float *const *state,
                          float *y, float *scratch)
{
    rnn_batch(l, NULL, n, T, x, state, y, scratch, have_avx2());
}

void nn_rnn_forward_batch_q8_ref(const nn_rnn_layer *l, const nn_q8_layer *q, int n, const int *T,
                                 const float *x, float *const *state, float *y, float *scratch)
{
    rnn_batch(l, q, n, T, x, state, y, scratch, 0);
}

void nn_rnn_forward_batch_q8(const nn_rnn_layer *l, const nn_q8_layer *q, int n, const int *T, const float *x,
                             float *const *state, float *y, float *scratch)
{
    rnn_batch(l, q, n, T, x, state, y, scratch, have_avx2());
}
