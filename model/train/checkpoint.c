/* checkpoint.c - atomic save and validated load of the trainer state. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC "ASRTCKPT"
#define CKPT_VERSION 1u

typedef struct wctx {
    FILE *f;
    uLong crc;
    int bad;
} wctx;

static void put(wctx *w, const void *p, size_t n)
{
    if (w->bad || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->bad = 1;
    w->crc = crc32(w->crc, p, (uInt)n);
}

static void put_floats(wctx *w, const float *p, size_t n)
{
    const size_t chunk = 1 << 20; /* crc32 takes uInt lengths */
    for (size_t i = 0; i < n; i += chunk)
        put(w, p + i, sizeof(float) * (n - i < chunk ? n - i : chunk));
}

asr_status tckpt_save(const char *path, const tckpt_state *s, int n_feat, const float *feat_mean,
                      const float *feat_std, size_t n_params, const float *params, const float *m,
                      const float *v, asr_error *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%.4000s.tmp", path) >= sizeof(tmp))
        return asr_error_set(err, ASR_ERR_ARG, "%s: path too long", path);
    wctx w = {fopen(tmp, "wb"), crc32(0, Z_NULL, 0), 0};
    if (!w.f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, strerror(errno));
    uint32_t u32[2] = {CKPT_VERSION, (uint32_t)n_feat};
    uint64_t np = n_params;
    int64_t iv[5] = {s->update, s->epoch, s->batch, s->best_update, s->seed};
    double dv[3] = {s->best_metric, s->train_seconds, s->audio_seconds};
    put(&w, CKPT_MAGIC, 8);
    put(&w, u32, sizeof(u32));
    put(&w, &np, sizeof(np));
    put(&w, iv, sizeof(iv));
    put(&w, dv, sizeof(dv));
    put_floats(&w, feat_mean, (size_t)n_feat);
    put_floats(&w, feat_std, (size_t)n_feat);
    put_floats(&w, params, n_params);
    put_floats(&w, m, n_params);
    put_floats(&w, v, n_params);
    uint32_t crc = (uint32_t)w.crc;
    if (!w.bad && fwrite(&crc, 4, 1, w.f) != 1)
        w.bad = 1;
    if (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0)
        w.bad = 1;
    int e = errno;
    if (fclose(w.f) != 0)
        w.bad = 1;
    if (w.bad) {
        unlink(tmp);
        return asr_error_set(err, ASR_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(e));
    }
    return ASR_OK;
}

typedef struct rctx {
    FILE *f;
    uLong crc;
    int bad;
} rctx;

static void get(rctx *r, void *p, size_t n)
{
    if (r->bad || n == 0)
        return;
    if (fread(p, 1, n, r->f) != n) {
        r->bad = 1;
        return;
    }
    r->crc = crc32(r->crc, p, (uInt)n);
}

static void get_floats(rctx *r, float *p, size_t n)
{
    const size_t chunk = 1 << 20;
    for (size_t i = 0; i < n; i += chunk)
        get(r, p + i, sizeof(float) * (n - i < chunk ? n - i : chunk));
}

asr_status tckpt_load(const char *path, tckpt_state *s, int n_feat, float *feat_mean, float *feat_std,
                      size_t n_params, float *params, float *m, float *v, asr_error *err)
{
    rctx r = {fopen(path, "rb"), crc32(0, Z_NULL, 0), 0};
    char magic[8];
    uint32_t u32[2];
    uint64_t np;
    int64_t iv[5];
    double dv[3];
    uint32_t crc;
    asr_status st;
    if (!r.f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
    get(&r, magic, 8);
    get(&r, u32, sizeof(u32));
    get(&r, &np, sizeof(np));
    if (r.bad || memcmp(magic, CKPT_MAGIC, 8)) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: not a trainer checkpoint", path);
        goto fail;
    }
    if (u32[0] != CKPT_VERSION) {
        st = asr_error_set(err, ASR_ERR_VERSION, "%s: checkpoint version %u, expected %u", path, u32[0],
                           CKPT_VERSION);
        goto fail;
    }
    if (u32[1] != (uint32_t)n_feat || np != n_params) {
        st =
            asr_error_set(err, ASR_ERR_FORMAT,
                          "%s: checkpoint holds %llu parameters and %u features, the config needs %zu and %d",
                          path, (unsigned long long)np, u32[1], n_params, n_feat);
        goto fail;
    }
    get(&r, iv, sizeof(iv));
    get(&r, dv, sizeof(dv));
    get_floats(&r, feat_mean, (size_t)n_feat);
    get_floats(&r, feat_std, (size_t)n_feat);
    get_floats(&r, params, n_params);
    get_floats(&r, m, n_params);
    get_floats(&r, v, n_params);
    uLong want = r.crc;
    if (r.bad || fread(&crc, 4, 1, r.f) != 1) {
        st = asr_error_set(err, ASR_ERR_FORMAT, "%s: truncated checkpoint", path);
        goto fail;
    }
    if (crc != (uint32_t)want) {
        st = asr_error_set(err, ASR_ERR_CHECKSUM, "%s: checkpoint checksum mismatch (corrupt file)", path);
        goto fail;
    }
    fclose(r.f);
    s->update = iv[0];
    s->epoch = iv[1];
    s->batch = iv[2];
    s->best_update = iv[3];
    s->seed = iv[4];
    s->best_metric = dv[0];
    s->train_seconds = dv[1];
    s->audio_seconds = dv[2];
    return ASR_OK;
fail:
    fclose(r.f);
    return st;
}
