/* test_torch_rnn.c - the C layers against PyTorch: tests/torch_rnn_ref.py runs torch.nn.GRU /
 * torch.nn.LSTM (several layers and sizes, float32 and float64) over whole sequences; this program
 * replays each sequence ONE FRAME AT A TIME (T = 1 calls, state carried between calls, every
 * layer per frame) through the fast path and the scalar reference, and requires max abs
 * difference <= 1e-4 on every output and on the final states.
 *
 * usage: test_torch_rnn [REF.bin]   (without an argument it runs the script itself, found next to
 * this source as tests/torch_rnn_ref.py from the repository root, with /usr/bin/python3)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/nn.h"
#include "test_util.h"

static FILE *in;

static int rd_i32(void)
{
    int32_t v = 0;
    if (fread(&v, 4, 1, in) != 1)
        return -1;
    return v;
}

static double *rd_f64(size_t n)
{
    double *v = malloc((n ? n : 1) * sizeof(double));
    if (fread(v, sizeof(double), n, in) != n) {
        free(v);
        return NULL;
    }
    return v;
}

static float *to_f32(const double *v, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

static double max_diff(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m))
            m = e;
    }
    return m;
}

/* Replays one case; fast selects nn_rnn_forward or nn_rnn_forward_ref. */
static void replay(int type, int L, int I, int H, int T, int bits, float **w, const double *h0,
                   const double *c0, const double *x, const double *y, const double *h_n, const double *c_n,
                   int fast)
{
    nn_rnn_layer layers[8];
    int G = type == 1 ? 3 : 4;
    for (int k = 0; k < L; k++)
        layers[k] = (nn_rnn_layer){
            type == 1 ? NN_GRU : NN_LSTM, k ? H : I, H, w[4 * k], w[4 * k + 1], w[4 * k + 2], w[4 * k + 3]};
    float *state[8];
    for (int k = 0; k < L; k++) {
        state[k] = calloc(2 * H, sizeof(float));
        for (int j = 0; j < H; j++) {
            state[k][j] = (float)h0[k * H + j];
            if (type == 2)
                state[k][H + j] = (float)c0[k * H + j];
        }
    }
    int maxin = I > H ? I : H;
    float *scratch = malloc(nn_rnn_scratch_size(&layers[0], 1) * sizeof(float) + (size_t)G * maxin * 64);
    float *xin = malloc(maxin * sizeof(float)), *hout = malloc(H * sizeof(float));
    float *yall = malloc((size_t)T * H * sizeof(float));
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < I; i++)
            xin[i] = (float)x[(size_t)t * I + i];
        const float *cur = xin;
        for (int k = 0; k < L; k++) {
            if (fast)
                nn_rnn_forward(&layers[k], 1, cur, state[k], hout, scratch);
            else
                nn_rnn_forward_ref(&layers[k], 1, cur, state[k], hout, scratch);
            memcpy(xin, hout, H * sizeof(float));
            cur = xin;
        }
        memcpy(yall + (size_t)t * H, hout, H * sizeof(float));
    }
    const char *name = type == 1 ? "GRU" : "LSTM";
    const char *path = fast ? "fast" : "reference";
    double e = max_diff(yall, y, (size_t)T * H);
    CHECK(e <= 1e-4, "%s %s L=%d I=%d H=%d T=%d float%d: outputs max abs diff %g", path, name, L, I, H, T,
          bits, e);
    double eh = 0, ec = 0;
    for (int k = 0; k < L; k++) {
        double a = max_diff(state[k], h_n + (size_t)k * H, H);
        eh = a > eh ? a : eh;
        if (type == 2) {
            double b = max_diff(state[k] + H, c_n + (size_t)k * H, H);
            ec = b > ec ? b : ec;
        }
    }
    CHECK(eh <= 1e-4 && ec <= 1e-4, "%s %s L=%d H=%d float%d: final state diff h %g c %g", path, name, L, H,
          bits, eh, ec);
    printf("%-9s %-4s layers %d in %3d hidden %3d T %2d float%d: max abs diff %.2e (state %.2e)\n", path,
           name, L, I, H, T, bits, e, eh > ec ? eh : ec);
    for (int k = 0; k < L; k++)
        free(state[k]);
    free(scratch), free(xin), free(hout), free(yall);
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/test_torch_rnn.XXXXXX";
    const char *ref = argc > 1 ? argv[1] : NULL;
    int made = 0;
    if (!ref) {
        int fd = mkstemp(tmp);
        if (fd < 0)
            return 1;
        close(fd);
        const char *script = access("tests/torch_rnn_ref.py", R_OK) == 0 ? "tests/torch_rnn_ref.py"
                                                                         : "../tests/torch_rnn_ref.py";
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, tmp);
        int rc = system(cmd);
        CHECK(rc == 0, "'%s' failed (%d): needs python3-torch", cmd, rc);
        if (rc) {
            unlink(tmp);
            return TEST_SUMMARY();
        }
        ref = tmp;
        made = 1;
    }
    in = fopen(ref, "rb");
    CHECK(in != NULL, "cannot open %s", ref);
    if (!in)
        return TEST_SUMMARY();
    int n_cases = rd_i32();
    CHECK(n_cases > 0, "no cases in %s", ref);
    for (int c = 0; c < n_cases; c++) {
        int type = rd_i32(), L = rd_i32(), I = rd_i32(), H = rd_i32(), T = rd_i32(), bits = rd_i32();
        if ((type != 1 && type != 2) || L < 1 || L > 8 || I < 1 || H < 1 || T < 1) {
            CHECK(0, "case %d: bad header", c);
            break;
        }
        int G = type == 1 ? 3 : 4;
        float *w[32];
        int ok = 1;
        for (int k = 0; k < L; k++) {
            size_t n[4] = {(size_t)G * H * (k ? H : I), (size_t)G * H * H, (size_t)G * H, (size_t)G * H};
            for (int j = 0; j < 4; j++) {
                double *v = rd_f64(n[j]);
                ok &= v != NULL;
                w[4 * k + j] = v ? to_f32(v, n[j]) : NULL;
                free(v);
            }
        }
        double *h0 = rd_f64((size_t)L * H), *c0 = type == 2 ? rd_f64((size_t)L * H) : NULL;
        double *x = rd_f64((size_t)T * I), *y = rd_f64((size_t)T * H), *h_n = rd_f64((size_t)L * H);
        double *c_n = type == 2 ? rd_f64((size_t)L * H) : NULL;
        ok &= h0 && x && y && h_n && (type == 1 || (c0 && c_n));
        CHECK(ok, "case %d: file truncated", c);
        if (ok) {
            replay(type, L, I, H, T, bits, w, h0, c0, x, y, h_n, c_n, 1);
            replay(type, L, I, H, T, bits, w, h0, c0, x, y, h_n, c_n, 0);
        }
        for (int k = 0; k < 4 * L; k++)
            free(w[k]);
        free(h0), free(c0), free(x), free(y), free(h_n), free(c_n);
        if (!ok)
            break;
    }
    fclose(in);
    if (made)
        unlink(tmp);
    return TEST_SUMMARY();
}
