/* mfcc.c - streaming MFCC on KissFFT, as Kaldi's compute-mfcc-feats computes it.
 *
 * DESIGN: mfcc_create precomputes everything that does not depend on the signal (window, sparse
 * mel filterbank, DCT matrix with the lifter folded in), so a frame costs one real FFT plus a few
 * short loops. An mfcc_stream only buffers samples and owns the FFT cfg and scratch; a frame is
 * computed from exactly its own samples in a fixed order, so any chunking of the input gives
 * bit-identical output (test_mfcc checks this).
 *
 * Kaldi references (feature-window.cc, mel-computations.cc, feature-mfcc.cc):
 *   frame length/shift  = (int)(rate * 0.001 * ms), computed in double
 *   window (ProcessWindow): DC removal -> raw log energy -> pre-emphasis -> window -> zero pad
 *   mel scale 1127 ln(1 + f/700); triangles in mel between equally spaced points
 *   log with floor FLT_EPSILON; DCT (ComputeDctMatrix); lifter 1 + Q/2 sin(pi i/Q)
 *   c0 replaced by the raw log energy when use_energy.
 */
#include "mfcc.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fftr.h>

struct mfcc {
    mfcc_params p;
    int frame_length;       /* samples per frame */
    int frame_shift;        /* samples between frame starts */
    int fft_size;           /* even, >= frame_length */
    double *window;         /* (frame_length) */
    int *mel_first;         /* (num_mel_bins) first FFT bin of each triangle */
    int *mel_len;           /* (num_mel_bins) number of FFT bins in each triangle */
    int *mel_off;           /* (num_mel_bins) offset of each triangle's weights in mel_w */
    double *mel_w;          /* (sum of mel_len) triangle weights, packed */
    double *dct;            /* (num_ceps, num_mel_bins) row-major, lifter already applied per row */
    double *dct_t;          /* (num_mel_bins, num_ceps) the same, transposed (compute_frame) */
    float log_energy_floor; /* log(energy_floor), used only when energy_floor > 0 */
};

struct mfcc_stream {
    const mfcc *m;
    float *buf; /* (cap) buffered samples; the next frame starts at buf[start] */
    size_t len, cap, start;
    size_t skip;        /* samples still to drop when the shift exceeds the frame length */
    kiss_fftr_cfg cfg;  /* owns KissFFT scratch: one stream per thread */
    double *work;       /* (frame_length) frame after DC removal */
    float *frame;       /* (fft_size) windowed, zero-padded frame: the FFT input */
    kiss_fft_cpx *spec; /* (fft_size/2 + 1) */
    double *power;      /* (fft_size/2 + 1) */
    double *logmel;     /* (num_mel_bins) */
};

mfcc_params mfcc_default_params(void)
{
    mfcc_params p = {
        .sample_rate = 16000,
        .frame_length_ms = 25.0f,
        .frame_shift_ms = 10.0f,
        .fft_size = 0,
        .num_mel_bins = 23,
        .low_freq = 20.0f,
        .high_freq = 0.0f,
        .num_ceps = 13,
        .cepstral_lifter = 22.0f,
        .preemph = 0.97f,
        .window = MFCC_WINDOW_POVEY,
        .remove_dc_offset = 1,
        .use_energy = 1,
        .energy_floor = 0.0f,
    };
    return p;
}

static double mel_scale(double f)
{
    return 1127.0 * log(1.0 + f / 700.0);
}

void mfcc_destroy(mfcc *m)
{
    if (!m)
        return;
    free(m->window);
    free(m->mel_first);
    free(m->mel_len);
    free(m->mel_off);
    free(m->mel_w);
    free(m->dct);
    free(m->dct_t);
    free(m);
}

/* Checks every parameter before anything is allocated, so the message names the culprit. */
static asr_status check_params(const mfcc_params *p, int *flen, int *fshift, int *nfft, double *hi,
                               asr_error *err)
{
    if (p->sample_rate <= 0)
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: sample_rate must be > 0 (got %d)", p->sample_rate);
    if (!(p->frame_length_ms > 0) || !(p->frame_shift_ms > 0))
        return asr_error_set(err, ASR_ERR_ARG,
                             "mfcc: frame_length_ms and frame_shift_ms must be > 0 (got %g, %g)",
                             p->frame_length_ms, p->frame_shift_ms);
    /* As Kaldi: static_cast<int32>(samp_freq * 0.001 * ms), in double. */
    double fl = (double)p->sample_rate * 0.001 * (double)p->frame_length_ms;
    double fs = (double)p->sample_rate * 0.001 * (double)p->frame_shift_ms;
    if (fl < 2 || fl > 1 << 20)
        return asr_error_set(err, ASR_ERR_ARG,
                             "mfcc: frame_length_ms %g gives %g samples at %d Hz (need 2..%d)",
                             p->frame_length_ms, fl, p->sample_rate, 1 << 20);
    if (fs < 1 || fs > 1 << 20)
        return asr_error_set(err, ASR_ERR_ARG,
                             "mfcc: frame_shift_ms %g gives %g samples at %d Hz (need >= 1)",
                             p->frame_shift_ms, fs, p->sample_rate);
    *flen = (int)fl;
    *fshift = (int)fs;
    if (p->fft_size == 0) {
        int n = 1;
        while (n < *flen)
            n <<= 1;
        *nfft = n;
    } else if (p->fft_size < *flen || p->fft_size % 2 != 0) {
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: fft_size %d must be even and >= the frame length %d",
                             p->fft_size, *flen);
    } else {
        *nfft = p->fft_size;
    }
    if (p->num_mel_bins < 3)
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: num_mel_bins must be >= 3 (got %d)", p->num_mel_bins);
    if (p->num_ceps < 1 || p->num_ceps > p->num_mel_bins)
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: num_ceps must be in 1..num_mel_bins=%d (got %d)",
                             p->num_mel_bins, p->num_ceps);
    double nyquist = 0.5 * p->sample_rate;
    double high = p->high_freq <= 0 ? nyquist + p->high_freq : p->high_freq;
    if (!(p->low_freq >= 0 && p->low_freq < nyquist && high > 0 && high <= nyquist && p->low_freq < high))
        return asr_error_set(err, ASR_ERR_ARG,
                             "mfcc: bad frequency range low_freq %g, high_freq %g (-> %g) vs nyquist %g",
                             p->low_freq, p->high_freq, high, nyquist);
    *hi = high;
    if (!(p->cepstral_lifter >= 0))
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: cepstral_lifter must be >= 0 (got %g)",
                             p->cepstral_lifter);
    if (!(p->preemph >= 0 && p->preemph <= 1))
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: preemph must be in [0, 1] (got %g)", p->preemph);
    if (p->window != MFCC_WINDOW_POVEY && p->window != MFCC_WINDOW_HAMMING &&
        p->window != MFCC_WINDOW_HANNING)
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: unknown window type %d", (int)p->window);
    if (!(p->energy_floor >= 0))
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: energy_floor must be >= 0 (got %g)", p->energy_floor);
    return ASR_OK;
}

mfcc *mfcc_create(const mfcc_params *p, asr_error *err)
{
    mfcc *m = NULL;
    int flen = 0, fshift = 0, nfft = 0;
    double high = 0;
    if (!p) {
        asr_error_set(err, ASR_ERR_ARG, "mfcc: NULL parameters");
        return NULL;
    }
    if (check_params(p, &flen, &fshift, &nfft, &high, err) != ASR_OK)
        return NULL;

    int nmel = p->num_mel_bins, nceps = p->num_ceps, nbins = nfft / 2;
    m = calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    m->p = *p;
    m->frame_length = flen;
    m->frame_shift = fshift;
    m->fft_size = nfft;
    m->window = malloc(sizeof(double) * (size_t)flen);
    m->mel_first = malloc(sizeof(int) * (size_t)nmel);
    m->mel_len = malloc(sizeof(int) * (size_t)nmel);
    m->mel_off = malloc(sizeof(int) * (size_t)nmel);
    m->dct = malloc(sizeof(double) * (size_t)nceps * (size_t)nmel);
    m->dct_t = malloc(sizeof(double) * (size_t)nceps * (size_t)nmel);
    if (!m->window || !m->mel_first || !m->mel_len || !m->mel_off || !m->dct || !m->dct_t)
        goto nomem;

    /* Window, computed in double as Kaldi's FeatureWindowFunction, stored as float. */
    double a = 2.0 * M_PI / (flen - 1);
    for (int i = 0; i < flen; i++) {
        double w;
        switch (p->window) {
        case MFCC_WINDOW_HAMMING:
            w = 0.54 - 0.46 * cos(a * i);
            break;
        case MFCC_WINDOW_HANNING:
            w = 0.5 - 0.5 * cos(a * i);
            break;
        default:
            w = pow(0.5 - 0.5 * cos(a * i), 0.85);
            break;
        }
        m->window[i] = w;
    }

    /* Mel filterbank (Kaldi MelBanks): num_mel_bins triangles whose corners are equally spaced in
     * mel between low and high; FFT bins 0..nfft/2-1 (the Nyquist bin never contributes). Stored
     * sparsely: each triangle covers a contiguous run of FFT bins. */
    double bin_width = (double)p->sample_rate / nfft;
    double mel_low = mel_scale(p->low_freq), mel_high = mel_scale(high);
    double delta = (mel_high - mel_low) / (nmel + 1);
    size_t total = 0;
    for (int b = 0; b < nmel; b++) {
        double left = mel_low + b * delta, right = mel_low + (b + 2) * delta;
        int first = -1, last = -1;
        for (int i = 0; i < nbins; i++) {
            double mel = mel_scale(bin_width * i);
            if (mel > left && mel < right) {
                if (first < 0)
                    first = i;
                last = i;
            }
        }
        if (first < 0) {
            asr_error_set(err, ASR_ERR_ARG,
                          "mfcc: mel bin %d is empty (num_mel_bins %d too large for fft_size %d at %d Hz)", b,
                          nmel, nfft, p->sample_rate);
            goto fail;
        }
        m->mel_first[b] = first;
        m->mel_len[b] = last - first + 1;
        m->mel_off[b] = (int)total;
        total += (size_t)(last - first + 1);
    }
    m->mel_w = malloc(sizeof(double) * total);
    if (!m->mel_w)
        goto nomem;
    for (int b = 0; b < nmel; b++) {
        double left = mel_low + b * delta, center = mel_low + (b + 1) * delta,
               right = mel_low + (b + 2) * delta;
        for (int k = 0; k < m->mel_len[b]; k++) {
            double mel = mel_scale(bin_width * (m->mel_first[b] + k));
            double w = mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);
            m->mel_w[m->mel_off[b] + k] = w;
        }
    }

    /* DCT (Kaldi ComputeDctMatrix, first num_ceps rows) with the lifter folded into each row. */
    for (int k = 0; k < nceps; k++) {
        double lift = p->cepstral_lifter != 0
                          ? 1.0 + 0.5 * p->cepstral_lifter * sin(M_PI * k / p->cepstral_lifter)
                          : 1.0;
        for (int n = 0; n < nmel; n++) {
            double d = k == 0 ? sqrt(1.0 / nmel) : sqrt(2.0 / nmel) * cos(M_PI / nmel * (n + 0.5) * k);
            m->dct[(size_t)k * nmel + n] = m->dct_t[(size_t)n * nceps + k] = d * lift;
        }
    }
    m->log_energy_floor = p->energy_floor > 0 ? logf(p->energy_floor) : 0.0f;
    return m;

nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "mfcc: out of memory");
fail:
    mfcc_destroy(m);
    return NULL;
}

static double inv_mel_scale(double mel)
{
    return 700.0 * (exp(mel / 1127.0) - 1.0);
}

/* Kaldi MelBanks::VtlnWarpFreq: piecewise linear, fixed at low and high, slope 1/alpha between the
 * corners l and h. Returns -1 when the corners leave (low, high) (Kaldi asserts). */
static double vtln_warp_freq(double vlow, double vhigh, double low, double high, double alpha, double f)
{
    if (f < low || f > high)
        return f;
    double l = vlow * (alpha > 1 ? alpha : 1), h = vhigh * (alpha < 1 ? alpha : 1);
    double scale = 1.0 / alpha, fl = scale * l, fh = scale * h;
    if (!(l > low && h < high))
        return -1;
    if (f < l)
        return low + (fl - low) / (l - low) * (f - low);
    if (f < h)
        return scale * f;
    return high + (high - fh) / (high - h) * (f - high);
}

asr_status mfcc_warp_matrix(const mfcc *m, double alpha, float *w, asr_error *err)
{
    const mfcc_params *p = &m->p;
    const int nmel = p->num_mel_bins, nceps = p->num_ceps;
    if (!(alpha >= 0.5 && alpha <= 2.0))
        return asr_error_set(err, ASR_ERR_ARG, "mfcc: warp factor %g outside [0.5, 2]", alpha);
    double nyquist = 0.5 * p->sample_rate;
    double low = p->low_freq, high = p->high_freq <= 0 ? nyquist + p->high_freq : p->high_freq;
    double vlow = 100.0, vhigh = nyquist - 500.0;
    double mel_low = mel_scale(low), delta = (mel_scale(high) - mel_low) / (nmel + 1);
    double *a = calloc((size_t)nmel * nmel, sizeof(double));  /* (nmel, nmel) interpolation */
    double *t = calloc((size_t)nmel * nceps, sizeof(double)); /* (nmel, nceps) a * dct^T / lift^2 */
    if (!a || !t) {
        free(a);
        free(t);
        return asr_error_set(err, ASR_ERR_NOMEM, "mfcc: out of memory");
    }
    asr_status st = ASR_OK;
    for (int b = 0; b < nmel; b++) {
        double f = vtln_warp_freq(vlow, vhigh, low, high, alpha, inv_mel_scale(mel_low + (b + 1) * delta));
        if (f < 0) {
            st = asr_error_set(err, ASR_ERR_ARG,
                               "mfcc: warp factor %g moves the VTLN corners outside %g..%g Hz", alpha, low,
                               high);
            goto out;
        }
        double pos = (mel_scale(f) - mel_low) / delta - 1.0;
        if (pos <= 0) {
            a[(size_t)b * nmel] = 1;
        } else if (pos >= nmel - 1) {
            a[(size_t)b * nmel + nmel - 1] = 1;
        } else {
            int i = (int)pos;
            double fr = pos - i;
            a[(size_t)b * nmel + i] = 1 - fr;
            a[(size_t)b * nmel + i + 1] = fr;
        }
    }
    /* dct rows carry the lifter: D[k][n] = dct[k][n] / lift_k, and the inverse of c_k = lift_k (D x)_k
     * is x = sum_k D[k][n] c_k / lift_k = sum_k dct[k][n] c_k / lift_k^2. */
    for (int k = 0; k < nceps; k++) {
        double lift = p->cepstral_lifter != 0
                          ? 1.0 + 0.5 * p->cepstral_lifter * sin(M_PI * k / p->cepstral_lifter)
                          : 1.0;
        for (int b = 0; b < nmel; b++) {
            double acc = 0;
            for (int n = 0; n < nmel; n++)
                acc += a[(size_t)b * nmel + n] * m->dct[(size_t)k * nmel + n];
            t[(size_t)b * nceps + k] = acc / (lift * lift);
        }
    }
    for (int k = 0; k < nceps; k++)
        for (int j = 0; j < nceps; j++) {
            double acc = 0;
            for (int b = 0; b < nmel; b++)
                acc += m->dct[(size_t)k * nmel + b] * t[(size_t)b * nceps + j];
            w[(size_t)k * nceps + j] = (float)acc;
        }
    if (p->use_energy)
        for (int k = 0; k < nceps; k++)
            w[k] = w[(size_t)k * nceps] = k == 0 ? 1.0f : 0.0f;
out:
    free(a);
    free(t);
    return st;
}

const mfcc_params *mfcc_get_params(const mfcc *m)
{
    return &m->p;
}
int mfcc_frame_length(const mfcc *m)
{
    return m->frame_length;
}
int mfcc_frame_shift(const mfcc *m)
{
    return m->frame_shift;
}

void mfcc_stream_destroy(mfcc_stream *s)
{
    if (!s)
        return;
    free(s->buf);
    if (s->cfg)
        kiss_fftr_free(s->cfg);
    free(s->work);
    free(s->frame);
    free(s->spec);
    free(s->power);
    free(s->logmel);
    free(s);
}

mfcc_stream *mfcc_stream_create(const mfcc *m)
{
    mfcc_stream *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->m = m;
    size_t nf = (size_t)m->fft_size;
    s->cfg = kiss_fftr_alloc(m->fft_size, 0, NULL, NULL);
    s->frame = malloc(sizeof(float) * nf);
    s->spec = malloc(sizeof(kiss_fft_cpx) * (nf / 2 + 1));
    s->work = malloc(sizeof(double) * (size_t)m->frame_length);
    s->power = malloc(sizeof(double) * (nf / 2 + 1));
    s->logmel = malloc(sizeof(double) * (size_t)m->p.num_mel_bins);
    s->cap = (size_t)m->frame_length * 2;
    s->buf = malloc(sizeof(float) * s->cap);
    if (!s->cfg || !s->work || !s->frame || !s->spec || !s->power || !s->logmel || !s->buf)
        goto fail;
    return s;
fail:
    mfcc_stream_destroy(s);
    return NULL;
}

asr_status mfcc_stream_accept(mfcc_stream *s, const float *samples, size_t n)
{
    if (s->skip > 0) {
        size_t d = s->skip < n ? s->skip : n;
        s->skip -= d;
        samples += d;
        n -= d;
    }
    if (n == 0)
        return ASR_OK;
    if (s->len + n > s->cap && s->start > 0) {
        /* Drop samples no future frame needs before growing. */
        memmove(s->buf, s->buf + s->start, sizeof(float) * (s->len - s->start));
        s->len -= s->start;
        s->start = 0;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap;
        while (cap < s->len + n)
            cap *= 2;
        float *b = realloc(s->buf, sizeof(float) * cap);
        if (!b)
            return ASR_ERR_NOMEM;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, samples, sizeof(float) * n);
    s->len += n;
    return ASR_OK;
}

/* One frame of Kaldi's MFCC from flen samples at x. Kaldi works in float; the steps around the FFT
 * run in double here (a few hundred operations per frame) so that only the float FFT's own rounding
 * separates us from the exact result: on high-dynamic-range frames (a clean tone) float rounding in
 * the pre-processing alone moves liftered cepstra by several 1e-3. */
static void compute_frame(mfcc_stream *s, const float *x, float *out)
{
    const mfcc *m = s->m;
    const mfcc_params *p = &m->p;
    int flen = m->frame_length, nfft = m->fft_size;
    double *w = s->work;

    double mean = 0;
    if (p->remove_dc_offset) {
        for (int i = 0; i < flen; i++)
            mean += x[i];
        mean /= flen;
    }
    /* Raw energy: after DC removal, before pre-emphasis and window (Kaldi raw_energy=true). */
    double energy = 0;
    for (int i = 0; i < flen; i++) {
        w[i] = (double)x[i] - mean;
        energy += w[i] * w[i];
    }
    float log_energy = (float)log(energy > FLT_EPSILON ? energy : FLT_EPSILON);
    if (p->energy_floor > 0 && log_energy < m->log_energy_floor)
        log_energy = m->log_energy_floor;

    /* Pre-emphasis from the end backwards (x[0] -= c*x[0] as Kaldi), then window and zero pad. */
    double c = p->preemph;
    float *f = s->frame;
    for (int i = flen - 1; i > 0; i--)
        f[i] = (float)((w[i] - c * w[i - 1]) * m->window[i]);
    f[0] = (float)((w[0] - c * w[0]) * m->window[0]);
    for (int i = flen; i < nfft; i++)
        f[i] = 0.0f;

    kiss_fftr(s->cfg, f, s->spec);
    int nb = nfft / 2; /* the Nyquist bin carries no mel weight */
    for (int i = 0; i < nb; i++)
        s->power[i] = (double)s->spec[i].r * s->spec[i].r + (double)s->spec[i].i * s->spec[i].i;

    int nmel = p->num_mel_bins;
    for (int b = 0; b < nmel; b++) {
        const double *wt = m->mel_w + m->mel_off[b];
        const double *pw = s->power + m->mel_first[b];
        double e = 0.0;
        for (int k = 0; k < m->mel_len[b]; k++)
            e += wt[k] * pw[k];
        s->logmel[b] = log(e > FLT_EPSILON ? e : FLT_EPSILON);
    }
    /* Cepstra: c_k = sum over n of dct[k][n] * logmel[n], each sum in increasing n from 0.0. Eight
     * sums advance together (n outer, k inner on the transposed matrix): each still adds exactly
     * its own terms, the same expressions, in its own order, so the bits are those of one sum
     * after another, but eight dependent chains of additions run at once instead of one (one after
     * another they were ~40% of this function; the compiler packs the eight into SSE2 pairs). */
    int nceps = p->num_ceps, k = 0;
    for (; k + 8 <= nceps; k += 8) {
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, a4 = 0.0, a5 = 0.0, a6 = 0.0, a7 = 0.0;
        for (int n = 0; n < nmel; n++) {
            const double *col = m->dct_t + (size_t)n * nceps + k;
            double v = s->logmel[n];
            a0 += col[0] * v, a1 += col[1] * v, a2 += col[2] * v, a3 += col[3] * v;
            a4 += col[4] * v, a5 += col[5] * v, a6 += col[6] * v, a7 += col[7] * v;
        }
        out[k] = (float)a0, out[k + 1] = (float)a1, out[k + 2] = (float)a2, out[k + 3] = (float)a3;
        out[k + 4] = (float)a4, out[k + 5] = (float)a5, out[k + 6] = (float)a6, out[k + 7] = (float)a7;
    }
    for (; k < nceps; k++) {
        double acc = 0.0;
        for (int n = 0; n < nmel; n++)
            acc += m->dct_t[(size_t)n * nceps + k] * s->logmel[n];
        out[k] = (float)acc;
    }
    if (p->use_energy)
        out[0] = log_energy;
}

int mfcc_stream_pop(mfcc_stream *s, float *out)
{
    size_t flen = (size_t)s->m->frame_length;
    if (s->len - s->start < flen)
        return 0;
    compute_frame(s, s->buf + s->start, out);
    s->start += (size_t)s->m->frame_shift;
    if (s->start >= s->len) {
        /* Nothing buffered is needed any more; a shift longer than the frame also skips samples
         * still to come. */
        s->skip = s->start - s->len;
        s->len = s->start = 0;
    }
    return 1;
}

void mfcc_stream_reset(mfcc_stream *s)
{
    s->len = s->start = s->skip = 0;
}

asr_status mfcc_compute(const mfcc *m, const float *samples, size_t n, float **feats, int *n_frames)
{
    asr_status st = ASR_OK;
    float *f = NULL;
    mfcc_stream *s = NULL;
    size_t flen = (size_t)m->frame_length, shift = (size_t)m->frame_shift;
    size_t nfr = n < flen ? 0 : 1 + (n - flen) / shift;
    size_t nc = (size_t)m->p.num_ceps;

    *feats = NULL;
    *n_frames = 0;
    if (nfr > (size_t)0x7fffffff) {
        st = ASR_ERR_ARG;
        goto fail;
    }
    f = malloc(sizeof(float) * (nfr ? nfr : 1) * nc);
    s = mfcc_stream_create(m);
    if (!f || !s) {
        st = ASR_ERR_NOMEM;
        goto fail;
    }
    /* Frames straight from the caller's array: same computation as the stream, no copy. */
    for (size_t i = 0; i < nfr; i++)
        compute_frame(s, samples + i * shift, f + i * nc);
    mfcc_stream_destroy(s);
    *feats = f;
    *n_frames = (int)nfr;
    return ASR_OK;
fail:
    mfcc_stream_destroy(s);
    free(f);
    return st;
}
