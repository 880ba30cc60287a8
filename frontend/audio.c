/* audio.c - audio files in (libsndfile), mono, any rate out (libsoxr), int16 scale.
 *
 * DESIGN: an audio_reader decodes blocks with sf_readf_float (normalised to [-1, 1), then scaled
 * by 32768: exact for 8/16-bit PCM, so 16-bit input at its own rate comes out as the exact int16
 * values Kaldi reads), averages the channels, and feeds an audio_resampler. Standard input goes
 * through a virtual-I/O object that buffers what it has read, so libsndfile can sniff the format
 * and seek backwards a little (FLAC cannot be opened on a bare pipe; OGG seeks to the end to find
 * its length, which reads all of stdin into memory).
 *
 * libsndfile reads a truncated file without an error; we look at what it says in its log (WAV
 * "data : N (should be M)", OGG "ended unexpectedly") and at the frame count it announced, and
 * refuse the file rather than transcribing half of it silently.
 *
 * libsndfile is opened with dlopen by the first audio_reader_open (sf_load), not linked: with it
 * came its codecs (libFLAC, libvorbis, libvorbisenc, libopus, libogg, libmpg123, libmp3lame) into
 * every start of asrd, ~4 ms of the daemon's start-up CPU, which reads no audio file unless its
 * microphone source is one.
 */
#include "audio.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>
#include <soxr.h>

/* ---- libsndfile, loaded on first use ----
 * Every libsndfile function audio.c calls, through pointers that sf_load fills: sndfile.sf_open(). */
#define SF_LIB "libsndfile.so.1"
#define SF_FUNCS(X)                                                                                          \
    X(SNDFILE *, sf_open, (const char *, int, SF_INFO *))                                                    \
    X(SNDFILE *, sf_open_virtual, (SF_VIRTUAL_IO *, int, SF_INFO *, void *))                                 \
    X(int, sf_close, (SNDFILE *))                                                                            \
    X(int, sf_command, (SNDFILE *, int, void *, int))                                                        \
    X(sf_count_t, sf_readf_float, (SNDFILE *, float *, sf_count_t))                                          \
    X(int, sf_error, (SNDFILE *))                                                                            \
    X(const char *, sf_strerror, (SNDFILE *))

static struct {
    SF_FUNCS(ASR_DL_POINTER)
} sndfile;
static pthread_once_t sf_once = PTHREAD_ONCE_INIT;
static char sf_why[256]; /* empty once loaded; written once, under sf_once */

static void sf_load_once(void)
{
    void *h = asr_dl_open(SF_LIB, sf_why, sizeof sf_why);
#define SF_LOOKUP(ret, name, args)                                                                           \
    asr_dl_sym(h, SF_LIB, #name, (void **)&sndfile.name, sf_why, sizeof sf_why);
    SF_FUNCS(SF_LOOKUP)
#undef SF_LOOKUP
}

/* Loads libsndfile (once per process; any thread): ASR_OK, or ASR_ERR_AUDIO with the reason. */
static asr_status sf_load(asr_error *err)
{
    pthread_once(&sf_once, sf_load_once);
    return sf_why[0] ? asr_error_set(err, ASR_ERR_AUDIO, "audio: %s", sf_why) : ASR_OK;
}

#define BLOCK_FRAMES 4096
/* Standard input: bytes further than this behind the read position may be dropped. */
#define STDIN_KEEP (1 << 20)

/* ---- standard input as libsndfile virtual I/O ---- */

typedef struct stdin_vio {
    int fd;
    unsigned char *buf; /* (cap) bytes [base, base + len) of the input */
    size_t cap, len;
    sf_count_t base, pos;
    int eof, error;
    int opening; /* inside sf_open_virtual: header parsers peek far ahead (WAV skips its data chunk
                    to look for trailing chunks, OGG looks for its last page); answering such reads
                    with "end of input" instead of reading up to them keeps a live pipe streaming */
} stdin_vio;

/* Reads from fd until the buffer holds byte offset `want` - 1 or the input ends. */
static void vio_fill(stdin_vio *v, sf_count_t want)
{
    while (!v->eof && !v->error && v->base + (sf_count_t)v->len < want) {
        if (v->len == v->cap) {
            size_t cap = v->cap ? v->cap * 2 : 65536;
            unsigned char *b = realloc(v->buf, cap);
            if (!b) {
                v->error = ENOMEM;
                return;
            }
            v->buf = b;
            v->cap = cap;
        }
        ssize_t n = read(v->fd, v->buf + v->len, v->cap - v->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            v->error = errno;
        else if (n == 0)
            v->eof = 1;
        else
            v->len += (size_t)n;
    }
}

static sf_count_t vio_get_filelen(void *user)
{
    stdin_vio *v = user;
    /* Unknown until the input ends; libsndfile treats SF_COUNT_MAX as "a pipe". */
    return v->eof ? v->base + (sf_count_t)v->len : SF_COUNT_MAX;
}

static sf_count_t vio_seek(sf_count_t offset, int whence, void *user)
{
    stdin_vio *v = user;
    sf_count_t to;
    if (whence == SEEK_SET) {
        to = offset;
    } else if (whence == SEEK_CUR) {
        to = v->pos + offset;
    } else {
        if (v->opening && !v->eof)
            return -1; /* the end of a pipe is not known yet */
        vio_fill(v, SF_COUNT_MAX);
        to = v->base + (sf_count_t)v->len + offset;
    }
    if (to < v->base)
        return -1;
    v->pos = to;
    return to;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user)
{
    stdin_vio *v = user;
    if (count <= 0)
        return 0;
    if (v->opening && v->pos > v->base + (sf_count_t)v->len + 65536)
        return 0;
    vio_fill(v, v->pos + count);
    sf_count_t end = v->base + (sf_count_t)v->len;
    sf_count_t n = v->pos >= end ? 0 : (end - v->pos < count ? end - v->pos : count);
    if (n > 0)
        memcpy(ptr, v->buf + (v->pos - v->base), (size_t)n);
    v->pos += n;
    /* A long stream is not held whole: drop what lies far behind the read position (a read past
     * the end, as OGG does to look for its last page, drops nothing). */
    sf_count_t upto = v->pos < end ? v->pos : end;
    if (!v->opening && upto - v->base > 4 * STDIN_KEEP) {
        size_t drop = (size_t)(upto - v->base - STDIN_KEEP);
        memmove(v->buf, v->buf + drop, v->len - drop);
        v->len -= drop;
        v->base += (sf_count_t)drop;
    }
    return n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr;
    (void)count;
    (void)user;
    return 0;
}

static sf_count_t vio_tell(void *user)
{
    return ((stdin_vio *)user)->pos;
}

/* ---- resampler ---- */

/* libsoxr at its 'high quality' recipe (20-bit precision, linear phase, passband to 0.913 of the
 * lower Nyquist frequency, rolloff <= 0.01 dB): the quality sox and FFmpeg use by default. Its output
 * does not depend on how the input is cut into chunks as long as every call gets enough output room
 * for all it can produce (soxr_process takes no more input than that room allows, and what it leaves
 * in its FIFOs is computed the same way later): audio_resampler_process always drains it. */
#define RESAMPLER_QUALITY SOXR_HQ

struct audio_resampler {
    int in_rate, out_rate;
    double ratio; /* out_rate / in_rate */
    soxr_t soxr;  /* NULL when in_rate == out_rate (exact copy), or after the end of a stream */
};

/* A fresh soxr stream (soxr_clear in 0.1.3 does not restart a stream: a new one is created). */
static int resampler_start(audio_resampler *rs, asr_error *err)
{
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(RESAMPLER_QUALITY, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1); /* no OpenMP threads: one stream, one thread */
    rs->soxr = soxr_create(rs->in_rate, rs->out_rate, 1, &e, &io, &q, &rt);
    if (!rs->soxr) {
        asr_error_set(err, ASR_ERR_NOMEM, "resampler: %d Hz -> %d Hz: %s", rs->in_rate, rs->out_rate,
                      e ? e : "soxr_create failed");
        return -1;
    }
    return 0;
}

audio_resampler *audio_resampler_create(int in_rate, int out_rate, asr_error *err)
{
    audio_resampler *rs = NULL;
    if (in_rate <= 0 || out_rate <= 0) {
        asr_error_set(err, ASR_ERR_ARG, "resampler: sample rates must be > 0 (got %d -> %d Hz)", in_rate,
                      out_rate);
        return NULL;
    }
    double ratio = (double)out_rate / in_rate;
    /* The range libsamplerate accepted (soxr takes more, but no microphone or file needs it, and a
     * 1 Hz header is a broken file, not audio to stretch 16000 times). */
    if (in_rate != out_rate && (ratio < 1.0 / 256 || ratio > 256)) {
        asr_error_set(err, ASR_ERR_UNSUPPORTED,
                      "resampler: cannot convert %d Hz to %d Hz (ratio %g outside 1/256..256)", in_rate,
                      out_rate, ratio);
        return NULL;
    }
    rs = calloc(1, sizeof *rs);
    if (!rs) {
        asr_error_set(err, ASR_ERR_NOMEM, "resampler: out of memory");
        return NULL;
    }
    rs->in_rate = in_rate;
    rs->out_rate = out_rate;
    rs->ratio = ratio;
    if (in_rate != out_rate && resampler_start(rs, err) < 0) {
        free(rs);
        return NULL;
    }
    return rs;
}

static int grow(float **out, size_t *cap, size_t need)
{
    if (need <= *cap && *out)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    float *b = realloc(*out, sizeof(float) * c);
    if (!b)
        return -1;
    *out = b;
    *cap = c;
    return 0;
}

long audio_resampler_process(audio_resampler *rs, const float *in, size_t n_in, int end, float **out,
                             size_t *cap, asr_error *err)
{
    if (rs->in_rate == rs->out_rate) {
        if (grow(out, cap, n_in ? n_in : 1) < 0)
            goto nomem;
        if (n_in)
            memcpy(*out, in, sizeof(float) * n_in);
        return (long)n_in;
    }
    if (!rs->soxr && resampler_start(rs, err) < 0) /* the previous stream ended */
        return -1;
    size_t n_out = 0;
    /* The input, then at the end the flush (in = NULL). Each call gets room for all that its input
     * can give and is repeated while it fills that room: nothing is left in soxr's output FIFO for
     * a later call, whatever the chunking. */
    for (int flush = n_in ? 0 : 1; flush <= (end ? 1 : 0); flush++) {
        for (;;) {
            size_t want = flush ? 1024 : (size_t)((double)n_in * rs->ratio) + 64;
            if (grow(out, cap, n_out + want) < 0)
                goto nomem;
            size_t room = *cap - n_out, idone = 0, odone = 0;
            soxr_error_t e = soxr_process(rs->soxr, flush ? NULL : in, flush ? 0 : n_in, &idone, *out + n_out,
                                          room, &odone);
            if (e) {
                asr_error_set(err, ASR_ERR_AUDIO, "resampler: %s", e);
                return -1;
            }
            if (!flush) {
                in += idone;
                n_in -= idone;
            }
            n_out += odone;
            if (odone < room && (flush || n_in == 0))
                break;
        }
    }
    if (end) { /* the next call starts a new stream */
        soxr_delete(rs->soxr);
        rs->soxr = NULL;
    }
    return (long)n_out;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "resampler: out of memory");
    return -1;
}

void audio_resampler_reset(audio_resampler *rs)
{
    if (rs->soxr) {
        soxr_delete(rs->soxr);
        rs->soxr = NULL;
    }
}

void audio_resampler_destroy(audio_resampler *rs)
{
    if (!rs)
        return;
    soxr_delete(rs->soxr);
    free(rs);
}

/* ---- reader ---- */

struct audio_reader {
    char *path;
    SNDFILE *sf;
    SF_INFO info;
    stdin_vio *vio; /* standard input only */
    audio_resampler *rs;
    float *block; /* (BLOCK_FRAMES * channels) decoded interleaved frames */
    float *mono;  /* (BLOCK_FRAMES) */
    float *out;   /* (out_cap) resampled samples not yet handed out: [out_pos, out_len) */
    size_t out_cap, out_len, out_pos;
    long long frames_read;
    int done; /* resampler flushed: nothing more to come */
};

/* 1 if libsndfile's log says the data is shorter than the header announced. */
static int log_says_truncated(SNDFILE *sf)
{
    char log[4096];
    sndfile.sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    if (strstr(log, "ended unexpectedly"))
        return 1;
    const char *d = strstr(log, "\ndata : ");
    if (d) {
        long long have = 0, want = 0;
        if (sscanf(d, "\ndata : %lld (should be %lld)", &want, &have) == 2 && have < want &&
            want < 0x7fff0000LL) /* huge or 0xffffffff sizes: written to a pipe, length unknown */
            return 1;
    }
    return 0;
}

void audio_reader_close(audio_reader *r)
{
    if (!r)
        return;
    if (r->sf)
        sndfile.sf_close(r->sf);
    if (r->vio) {
        free(r->vio->buf);
        free(r->vio);
    }
    audio_resampler_destroy(r->rs);
    free(r->block);
    free(r->mono);
    free(r->out);
    free(r->path);
    free(r);
}

audio_reader *audio_reader_open(const char *path, int out_rate, asr_error *err)
{
    audio_reader *r = NULL;
    asr_error e2;
    if (!path || out_rate < 0) {
        asr_error_set(err, ASR_ERR_ARG, "audio: %s: invalid output rate %d", path ? path : "(null)",
                      out_rate);
        return NULL;
    }
    if (sf_load(err) != ASR_OK)
        return NULL;
    r = calloc(1, sizeof *r);
    if (!r)
        goto nomem;
    r->path = strdup(path);
    if (!r->path)
        goto nomem;

    if (strcmp(path, "-") == 0) {
        static SF_VIRTUAL_IO io = {vio_get_filelen, vio_seek, vio_read, vio_write, vio_tell};
        r->vio = calloc(1, sizeof *r->vio);
        if (!r->vio)
            goto nomem;
        r->vio->fd = 0;
        r->vio->opening = 1;
        r->sf = sndfile.sf_open_virtual(&io, SFM_READ, &r->info, r->vio);
        r->vio->opening = 0;
        if (!r->sf) {
            if (r->vio->error)
                asr_error_set(err, ASR_ERR_IO, "-: cannot read standard input: %s", strerror(r->vio->error));
            else if (r->vio->eof && r->vio->base + (sf_count_t)r->vio->len == 0)
                asr_error_set(err, ASR_ERR_AUDIO, "-: empty input (no audio)");
            else
                asr_error_set(err, ASR_ERR_AUDIO, "-: not a readable audio stream (%s)",
                              sndfile.sf_strerror(NULL));
            goto fail;
        }
    } else {
        struct stat st;
        if (stat(path, &st) != 0) {
            asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
            asr_error_set(err, ASR_ERR_IO, "%s: is a directory", path);
            goto fail;
        }
        if (S_ISREG(st.st_mode) && st.st_size == 0) {
            asr_error_set(err, ASR_ERR_AUDIO, "%s: empty file (no audio)", path);
            goto fail;
        }
        if (access(path, R_OK) != 0) {
            asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        r->sf = sndfile.sf_open(path, SFM_READ, &r->info);
        if (!r->sf) {
            asr_error_set(err, ASR_ERR_AUDIO, "%s: not a readable audio file (%s)", path,
                          sndfile.sf_strerror(NULL));
            goto fail;
        }
    }
    if (r->info.channels <= 0) {
        asr_error_set(err, ASR_ERR_AUDIO, "%s: audio has %d channels", path, r->info.channels);
        goto fail;
    }
    if (r->info.samplerate <= 0) {
        asr_error_set(err, ASR_ERR_AUDIO, "%s: invalid sample rate %d Hz", path, r->info.samplerate);
        goto fail;
    }
    if (r->info.frames == 0) {
        asr_error_set(err, ASR_ERR_AUDIO, "%s: no audio (0 frames)", path);
        goto fail;
    }
    if (log_says_truncated(r->sf)) {
        asr_error_set(err, ASR_ERR_FORMAT, "%s: truncated file (data shorter than its header says)", path);
        goto fail;
    }
    if (out_rate == 0)
        out_rate = r->info.samplerate;
    r->rs = audio_resampler_create(r->info.samplerate, out_rate, &e2);
    if (!r->rs) {
        if (e2.code == ASR_ERR_UNSUPPORTED)
            asr_error_set(err, ASR_ERR_UNSUPPORTED,
                          "%s: sample rate %d Hz cannot be converted to %d Hz (ratio outside 1/256..256)",
                          path, r->info.samplerate, out_rate);
        else
            asr_error_set(err, e2.code, "%s: %s", path, e2.msg);
        goto fail;
    }
    /* Normalised floats times 32768 give the int16 scale for every input format. */
    sndfile.sf_command(r->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    r->block = malloc(sizeof(float) * BLOCK_FRAMES * (size_t)r->info.channels);
    r->mono = malloc(sizeof(float) * BLOCK_FRAMES);
    if (!r->block || !r->mono)
        goto nomem;
    return r;

nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path ? path : "audio");
fail:
    audio_reader_close(r);
    return NULL;
}

int audio_reader_file_rate(const audio_reader *r)
{
    return r->info.samplerate;
}
int audio_reader_file_channels(const audio_reader *r)
{
    return r->info.channels;
}

/* Decodes one block and resamples it into r->out. Returns 0, or -1 with *err filled. */
static int reader_fill(audio_reader *r, asr_error *err)
{
    int ch = r->info.channels;
    sf_count_t n = sndfile.sf_readf_float(r->sf, r->block, BLOCK_FRAMES);
    if (n < BLOCK_FRAMES && sndfile.sf_error(r->sf) != SF_ERR_NO_ERROR) {
        asr_error_set(err, ASR_ERR_FORMAT,
                      "%s: truncated or corrupt audio (decode error after %lld frames: %s)", r->path,
                      r->frames_read + (long long)(n > 0 ? n : 0), sndfile.sf_strerror(r->sf));
        return -1;
    }
    if (n < 0)
        n = 0;
    r->frames_read += n;
    int end = n == 0;
    if (end) {
        int known = r->info.frames > 0 && r->info.frames != SF_COUNT_MAX;
        if ((known && r->frames_read < r->info.frames) || log_says_truncated(r->sf)) {
            asr_error_set(err, ASR_ERR_FORMAT,
                          "%s: truncated file (%lld frames decoded, header announces %lld)", r->path,
                          r->frames_read, known ? (long long)r->info.frames : -1LL);
            return -1;
        }
        if (r->frames_read == 0) {
            asr_error_set(err, ASR_ERR_AUDIO, "%s: no audio (0 frames)", r->path);
            return -1;
        }
    }
    for (sf_count_t i = 0; i < n; i++) {
        const float *f = r->block + i * ch;
        float s = f[0];
        for (int c = 1; c < ch; c++)
            s += f[c];
        r->mono[i] = (ch == 1 ? s : s / (float)ch) * 32768.0f;
    }
    long got = audio_resampler_process(r->rs, r->mono, (size_t)n, end, &r->out, &r->out_cap, err);
    if (got < 0) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err ? err->msg : "resampler error");
        asr_error_set(err, ASR_ERR_AUDIO, "%s: %s", r->path, m);
        return -1;
    }
    r->out_len = (size_t)got;
    r->out_pos = 0;
    if (end)
        r->done = 1;
    return 0;
}

long audio_reader_read(audio_reader *r, float *out, size_t max, asr_error *err)
{
    size_t total = 0;
    while (total < max) {
        if (r->out_pos < r->out_len) {
            size_t k = r->out_len - r->out_pos;
            if (k > max - total)
                k = max - total;
            memcpy(out + total, r->out + r->out_pos, sizeof(float) * k);
            r->out_pos += k;
            total += k;
            continue;
        }
        if (r->done)
            break;
        if (reader_fill(r, err) < 0)
            return -1;
    }
    return (long)total;
}

asr_status audio_read_file(const char *path, int out_rate, float **samples, size_t *n, asr_error *err)
{
    asr_status st;
    float *buf = NULL;
    size_t len = 0, cap = 0;
    *samples = NULL;
    *n = 0;
    audio_reader *r = audio_reader_open(path, out_rate, err);
    if (!r)
        return err ? err->code : ASR_ERR_AUDIO;
    for (;;) {
        if (grow(&buf, &cap, len + 65536) < 0) {
            st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        long got = audio_reader_read(r, buf + len, cap - len, err);
        if (got < 0) {
            st = err ? err->code : ASR_ERR_AUDIO;
            goto fail;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len == 0) {
        st = asr_error_set(err, ASR_ERR_AUDIO, "%s: no audio (0 samples)", path);
        goto fail;
    }
    audio_reader_close(r);
    *samples = buf;
    *n = len;
    return ASR_OK;
fail:
    audio_reader_close(r);
    free(buf);
    return st;
}
