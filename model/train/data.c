/* data.c - manifests, memory-mapped feature caches, epoch plans, batches and SpecAugment.
 *
 * DESIGN: feature extraction runs on o->threads worker threads. Workers take the next manifest line
 * under `mu`, decode and compute MFCC without the lock, reserve a region of the cache file under
 * the lock (appending in completion order) and pwrite their frames outside it; the index (offset,
 * frames per line) is written last, with statistics computed afterwards in line order so they do
 * not depend on thread timing. Only the calling thread touches the tdata_set afterwards.
 */
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../frontend/audio.h"
#include "../text.h"
#include "pdict.h"

#define CACHE_MAGIC "ASRFEAT1"
#define CACHE_VERSION 1u

uint64_t tdata_mix(uint64_t a, uint64_t b)
{
    uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 generator */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform integer in [0, n) (n > 0); the tiny modulo bias is irrelevant here */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int tdata_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* "<parent>/<base without .tsv>" */
static char *set_name(const char *manifest)
{
    const char *base = strrchr(manifest, '/');
    const char *start = manifest;
    if (base) {
        const char *p = base;
        while (p > manifest && p[-1] != '/')
            p--;
        start = p;
    }
    size_t n = strlen(start);
    if (n > 4 && !strcmp(start + n - 4, ".tsv"))
        n -= 4;
    return strndup(start, n);
}

/* ---- manifest ---- */

typedef struct line_list {
    char **paths; /* resolved audio paths */
    char **texts;
    int n, cap;
} line_list;

static void lines_free(line_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->texts[i]);
    }
    free(l->paths);
    free(l->texts);
    memset(l, 0, sizeof(*l));
}

static asr_status read_manifest(const char *manifest, int max_utts, line_list *l, asr_error *err)
{
    FILE *f = fopen(manifest, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    asr_status st = ASR_OK;
    const char *slash = strrchr(manifest, '/');
    size_t dirlen = slash ? (size_t)(slash - manifest) : 0;

    memset(l, 0, sizeof(*l));
    if (!f)
        return asr_error_set(err, ASR_ERR_IO, "%s: %s", manifest, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        if (max_utts > 0 && l->n >= max_utts)
            break;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line) {
            st = asr_error_set(err, ASR_ERR_FORMAT, "%s:%d: expected 'path<TAB>text'", manifest, lineno);
            goto fail;
        }
        *tab = 0;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            char **p = realloc(l->paths, sizeof(char *) * (size_t)l->cap);
            if (p)
                l->paths = p;
            char **t = realloc(l->texts, sizeof(char *) * (size_t)l->cap);
            if (t)
                l->texts = t;
            if (!p || !t) {
                st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", manifest);
                goto fail;
            }
        }
        char *path;
        if (line[0] == '/' || !slash) {
            path = strdup(line);
        } else {
            path = malloc(dirlen + strlen(line) + 2);
            if (path)
                sprintf(path, "%.*s/%s", (int)dirlen, manifest, line);
        }
        char *text = strdup(tab + 1);
        if (!path || !text) {
            free(path);
            free(text);
            st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", manifest);
            goto fail;
        }
        l->paths[l->n] = path;
        l->texts[l->n] = text;
        l->n++;
    }
    if (ferror(f)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: read error", manifest);
        goto fail;
    }
    free(line);
    fclose(f);
    return ASR_OK;
fail:
    free(line);
    fclose(f);
    lines_free(l);
    return st;
}

/* ---- cache ---- */

typedef struct cache_head {
    char magic[8];
    uint32_t version, n_feat, n_utts, zero;
    uint64_t key;
} cache_head;

typedef struct cache_entry {
    uint64_t offset;
    int64_t n_frames;
} cache_entry;

static size_t cache_data_start(int n_utts, int n_feat)
{
    return sizeof(cache_head) + sizeof(cache_entry) * (size_t)n_utts +
           sizeof(double) * (2 * (size_t)n_feat + 1);
}

static uint64_t cache_key(const char *manifest, const tdata_opts *o, int n_lines, asr_error *err, int *ok)
{
    struct stat sb;
    char real[PATH_MAX];
    uint64_t h = ASR_FNV1A_INIT;
    const mfcc_params *m = &o->mfcc;
    *ok = 0;
    if (stat(manifest, &sb) != 0 || !realpath(manifest, real)) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", manifest, strerror(errno));
        return 0;
    }
    h = asr_fnv1a(h, real, strlen(real));
    int64_t v[4] = {(int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec, (int64_t)sb.st_mtim.tv_nsec, n_lines};
    h = asr_fnv1a(h, v, sizeof(v));
    int iv[7] = {m->sample_rate, m->fft_size,         m->num_mel_bins, m->num_ceps,
                 (int)m->window, m->remove_dc_offset, m->use_energy};
    float fv[7] = {m->frame_length_ms, m->frame_shift_ms, m->low_freq,    m->high_freq,
                   m->cepstral_lifter, m->preemph,        m->energy_floor};
    h = asr_fnv1a(h, iv, sizeof(iv));
    h = asr_fnv1a(h, fv, sizeof(fv));
    *ok = 1;
    return h;
}

typedef struct extract_job {
    const tdata_opts *o;
    mfcc *m;
    const line_list *lines;
    const char *name;
    int fd;
    int n_feat;
    size_t data_start;  /* bytes */
    pthread_mutex_t mu; /* guards everything below */
    int next, done, failed_io;
    uint64_t floats_written;
    cache_entry *index; /* (n) */
    int n_bad_audio;
    double t0, last_print;
    asr_error io_err;
} extract_job;

static void *extract_worker(void *arg)
{
    extract_job *j = arg;
    const int n = j->lines->n;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next++;
        int stop = j->failed_io || (j->o->stop && *j->o->stop);
        pthread_mutex_unlock(&j->mu);
        if (i >= n || stop)
            break;
        float *samples = NULL, *feats = NULL;
        size_t ns = 0;
        int nf = 0;
        asr_error e = {0};
        int64_t frames = -1;
        if (audio_read_file(j->lines->paths[i], j->o->mfcc.sample_rate, &samples, &ns, &e) == ASR_OK) {
            if (ns == 0) {
                frames = 0;
            } else if (mfcc_compute(j->m, samples, ns, &feats, &nf) == ASR_OK) {
                frames = nf;
            }
        }
        free(samples);
        pthread_mutex_lock(&j->mu);
        uint64_t off = j->floats_written;
        if (frames > 0)
            j->floats_written += (uint64_t)frames * (uint64_t)j->n_feat;
        j->index[i].offset = off;
        j->index[i].n_frames = frames;
        if (frames < 0) {
            if (j->n_bad_audio < 5)
                asr_log(ASR_LOG_WARN, "%s: skipped: %s", j->lines->paths[i],
                        e.msg[0] ? e.msg : "feature error");
            j->n_bad_audio++;
        }
        pthread_mutex_unlock(&j->mu);
        int io_bad = 0;
        if (frames > 0) {
            size_t bytes = (size_t)frames * (size_t)j->n_feat * sizeof(float);
            off_t pos = (off_t)(j->data_start + off * sizeof(float));
            const char *p = (const char *)feats;
            while (bytes > 0) {
                ssize_t w = pwrite(j->fd, p, bytes, pos);
                if (w <= 0) {
                    io_bad = 1;
                    break;
                }
                p += w;
                pos += w;
                bytes -= (size_t)w;
            }
        }
        free(feats);
        pthread_mutex_lock(&j->mu);
        if (io_bad && !j->failed_io) {
            j->failed_io = 1;
            asr_error_set(&j->io_err, ASR_ERR_IO, "feature cache: write failed: %s", strerror(errno));
        }
        j->done++;
        double t = now_s();
        if (j->o->progress && (t - j->last_print > 0.5 || j->done == n)) {
            j->last_print = t;
            fprintf(stderr, "\rfeatures %s: %d/%d (%.0f%%) %.0f files/s   ", j->name, j->done, n,
                    100.0 * j->done / n, j->done / (t - j->t0 + 1e-9));
            if (j->done == n)
                fputc('\n', stderr);
            fflush(stderr);
        }
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

static int write_all(int fd, const void *buf, size_t n, off_t pos)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, pos);
        if (w <= 0)
            return -1;
        p += w;
        pos += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Computes the features of every line into cache file `path`. */
static asr_status build_cache(const char *path, const char *name, const line_list *lines, uint64_t key,
                              const tdata_opts *o, asr_error *err)
{
    const int n_feat = o->mfcc.num_ceps;
    char tmp[PATH_MAX];
    extract_job j;
    pthread_t th[16];
    int n_threads = o->threads < 1 ? 1 : (o->threads > 16 ? 16 : o->threads);
    int started = 0, fd = -1, mu_init = 0;
    asr_status st = ASR_OK;
    double *stats = NULL;
    float *buf = NULL;

    memset(&j, 0, sizeof(j));
    if ((size_t)snprintf(tmp, sizeof(tmp), "%.4000s.tmp%ld", path, (long)getpid()) >= sizeof(tmp))
        return asr_error_set(err, ASR_ERR_ARG, "%s: path too long", path);
    j.m = mfcc_create(&o->mfcc, err);
    if (!j.m)
        return err ? err->code : ASR_ERR_ARG;
    j.index = calloc((size_t)(lines->n ? lines->n : 1), sizeof(cache_entry));
    stats = calloc(2 * (size_t)n_feat + 1, sizeof(double));
    if (!j.index || !stats) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    j.o = o;
    j.lines = lines;
    j.name = name;
    j.fd = fd;
    j.n_feat = n_feat;
    j.data_start = cache_data_start(lines->n, n_feat);
    j.t0 = now_s();
    pthread_mutex_init(&j.mu, NULL);
    mu_init = 1;
    for (int t = 0; t < n_threads; t++) {
        if (pthread_create(&th[t], NULL, extract_worker, &j) != 0)
            break;
        started++;
    }
    if (started == 0)
        extract_worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    if (j.failed_io) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, j.io_err.msg);
        goto fail;
    }
    if (j.done < lines->n) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: interrupted during feature extraction", name);
        goto fail;
    }
    /* statistics in line order (independent of thread timing) */
    size_t max_frames = 0;
    for (int i = 0; i < lines->n; i++)
        if (j.index[i].n_frames > 0 && (size_t)j.index[i].n_frames > max_frames)
            max_frames = (size_t)j.index[i].n_frames;
    buf = malloc((max_frames ? max_frames : 1) * (size_t)n_feat * sizeof(float));
    if (!buf) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (int i = 0; i < lines->n; i++) {
        int64_t nf = j.index[i].n_frames;
        if (nf <= 0)
            continue;
        size_t bytes = (size_t)nf * (size_t)n_feat * sizeof(float);
        if (pread(fd, buf, bytes, (off_t)(j.data_start + j.index[i].offset * sizeof(float))) !=
            (ssize_t)bytes) {
            st = asr_error_set(err, ASR_ERR_IO, "%s: read back failed", tmp);
            goto fail;
        }
        for (int64_t t = 0; t < nf; t++)
            for (int f = 0; f < n_feat; f++) {
                double v = buf[t * n_feat + f];
                stats[f] += v;
                stats[n_feat + f] += v * v;
            }
        stats[2 * n_feat] += (double)nf;
    }
    cache_head h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.n_feat = (uint32_t)n_feat;
    h.n_utts = (uint32_t)lines->n;
    h.key = key;
    if (write_all(fd, &h, sizeof(h), 0) ||
        write_all(fd, j.index, sizeof(cache_entry) * (size_t)lines->n, sizeof(h)) ||
        write_all(fd, stats, sizeof(double) * (2 * (size_t)n_feat + 1),
                  (off_t)(sizeof(h) + sizeof(cache_entry) * (size_t)lines->n)) ||
        ftruncate(fd, (off_t)(j.data_start + j.floats_written * sizeof(float))) || fsync(fd)) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    pthread_mutex_destroy(&j.mu);
    free(buf);
    free(stats);
    free(j.index);
    mfcc_destroy(j.m);
    return ASR_OK;
fail:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (mu_init)
        pthread_mutex_destroy(&j.mu);
    free(buf);
    free(stats);
    free(j.index);
    mfcc_destroy(j.m);
    return st;
}

/* Maps a cache file and checks it against key/n_utts/n_feat; returns 0 if usable. */
static int map_cache(const char *path, uint64_t key, int n_utts, int n_feat, tdata_set *s)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) != 0 || (size_t)sb.st_size < cache_data_start(n_utts, n_feat)) {
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -1;
    const cache_head *h = map;
    size_t len = (size_t)sb.st_size;
    size_t start = cache_data_start(n_utts, n_feat);
    if (memcmp(h->magic, CACHE_MAGIC, 8) || h->version != CACHE_VERSION || h->key != key ||
        h->n_utts != (uint32_t)n_utts || h->n_feat != (uint32_t)n_feat) {
        munmap(map, len);
        return -1;
    }
    const cache_entry *idx = (const cache_entry *)(h + 1);
    for (int i = 0; i < n_utts; i++) {
        if (idx[i].n_frames > 0 &&
            (idx[i].offset + (uint64_t)idx[i].n_frames * (uint64_t)n_feat) * sizeof(float) > len - start) {
            munmap(map, len);
            return -1;
        }
    }
    s->map = map;
    s->map_len = len;
    return 0;
}

/* The phone targets of u->text (left NULL when a word is not in the dictionary). 0, or -1 when out
 * of memory. */
static int add_phones(tdata_utt *u, const pdict *d)
{
    int n = pdict_text_labels(d, u->text, NULL, 0);
    if (n < 0)
        return 0;
    u->phones = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!u->phones)
        return -1;
    u->n_phones = pdict_text_labels(d, u->text, u->phones, n);
    return 0;
}

tdata_set *tdata_set_load(const char *manifest, const tdata_opts *o, asr_error *err)
{
    line_list lines;
    tdata_set *s = NULL;
    char path[PATH_MAX];
    int ok;
    const int n_feat = o->mfcc.num_ceps;

    if (read_manifest(manifest, o->max_utts, &lines, err) != ASR_OK)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->manifest = strdup(manifest);
    s->name = set_name(manifest);
    s->n_feat = n_feat;
    s->repeat = 1;
    s->sum = calloc((size_t)n_feat, sizeof(double));
    s->sumsq = calloc((size_t)n_feat, sizeof(double));
    s->utts = calloc((size_t)(lines.n ? lines.n : 1), sizeof(tdata_utt));
    if (!s->manifest || !s->name || !s->sum || !s->sumsq || !s->utts)
        goto nomem;
    s->n_utts = lines.n;
    uint64_t key = cache_key(manifest, o, lines.n, err, &ok);
    if (!ok)
        goto fail;
    if (tdata_mkdirs(o->cache_dir) != 0) {
        asr_error_set(err, ASR_ERR_IO, "%s: cannot create folder: %s", o->cache_dir, strerror(errno));
        goto fail;
    }
    if ((size_t)snprintf(path, sizeof(path), "%.4000s/%016llx.feats", o->cache_dir,
                         (unsigned long long)key) >= sizeof(path)) {
        asr_error_set(err, ASR_ERR_ARG, "%s: path too long", o->cache_dir);
        goto fail;
    }
    if (map_cache(path, key, lines.n, n_feat, s) != 0) {
        if (build_cache(path, s->name, &lines, key, o, err) != ASR_OK)
            goto fail;
        if (map_cache(path, key, lines.n, n_feat, s) != 0) {
            asr_error_set(err, ASR_ERR_FORMAT, "%s: feature cache unreadable after writing it", path);
            goto fail;
        }
    }
    const cache_head *h = s->map;
    const cache_entry *idx = (const cache_entry *)(h + 1);
    const double *st = (const double *)(idx + lines.n);
    const float *data = (const float *)((const char *)s->map + cache_data_start(lines.n, n_feat));
    memcpy(s->sum, st, sizeof(double) * (size_t)n_feat);
    memcpy(s->sumsq, st + n_feat, sizeof(double) * (size_t)n_feat);
    s->sum_frames = st[2 * n_feat];
    const size_t alen = strlen(o->alphabet);
    double shift_s = o->mfcc.frame_shift_ms / 1000.0;
    for (int i = 0; i < lines.n; i++) {
        tdata_utt *u = &s->utts[i];
        u->path = lines.paths[i];
        lines.paths[i] = NULL;
        u->text = asr_text_normalize(lines.texts[i]);
        if (!u->text)
            goto nomem;
        if (idx[i].n_frames < 0) {
            s->skip_audio++;
            continue;
        }
        u->n_frames = (int)idx[i].n_frames;
        u->feats = data + idx[i].offset;
        u->n_out = u->n_frames >= o->stack ? (u->n_frames - o->stack) / o->stride + 1 : 0;
        size_t L = strlen(u->text);
        u->labels = malloc(sizeof(int) * (L ? L : 1));
        if (!u->labels)
            goto nomem;
        int mappable = 1, repeats = 0;
        for (size_t k = 0; k < L; k++) {
            const char *p = memchr(o->alphabet, u->text[k], alen);
            if (!p || u->text[k] == 0) {
                mappable = 0;
                break;
            }
            u->labels[k] = 1 + (int)(p - o->alphabet);
            if (k > 0 && u->labels[k] == u->labels[k - 1])
                repeats++;
        }
        u->n_labels = (int)L;
        if (mappable && o->phones && add_phones(u, o->phones) != 0)
            goto nomem;
        if (!mappable) {
            free(u->labels);
            u->labels = NULL;
            u->n_labels = 0;
            s->skip_text++;
        } else if (u->n_out < (int)L + repeats || u->n_out == 0) {
            s->skip_short++;
        } else if (o->max_out_frames > 0 && u->n_out > o->max_out_frames) {
            s->skip_long++;
        } else {
            u->usable = 1;
            s->n_usable++;
            s->usable_seconds += u->n_frames * shift_s;
            if (u->phones) {
                s->n_phone_usable++;
                s->phone_seconds += u->n_frames * shift_s;
            }
        }
    }
    lines_free(&lines);
    return s;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", manifest);
fail:
    lines_free(&lines);
    tdata_set_free(s);
    return NULL;
}

void tdata_set_free(tdata_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_utts; i++) {
        free(s->utts[i].labels);
        free(s->utts[i].phones);
        free(s->utts[i].text);
        free(s->utts[i].path);
    }
    free(s->utts);
    if (s->map)
        munmap(s->map, s->map_len);
    free(s->sum);
    free(s->sumsq);
    free(s->manifest);
    free(s->name);
    free(s);
}

asr_status tdata_stats(tdata_set *const *sets, const double *weights, int n_sets, float *mean, float *std,
                       asr_error *err)
{
    if (n_sets < 1)
        return asr_error_set(err, ASR_ERR_ARG, "feature statistics: no training set");
    const int n_feat = sets[0]->n_feat;
    double total = 0;
    for (int i = 0; i < n_sets; i++)
        total += (weights ? weights[i] : 1.0) * sets[i]->sum_frames;
    if (total <= 0)
        return asr_error_set(err, ASR_ERR_ARG, "feature statistics: the training sets have no frames");
    for (int f = 0; f < n_feat; f++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n_sets; i++) {
            double w = weights ? weights[i] : 1.0;
            s += w * sets[i]->sum[f];
            s2 += w * sets[i]->sumsq[f];
        }
        double m = s / total;
        double var = s2 / total - m * m;
        double sd = var > 0 ? sqrt(var) : 0;
        mean[f] = (float)m;
        std[f] = (float)(sd < 1e-3 ? 1e-3 : sd);
    }
    return ASR_OK;
}

/* ---- epochs ---- */

typedef struct sort_key {
    int len, pos;
} sort_key;

static int cmp_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

asr_status tdata_epoch_plan(tdata_set *const *sets, int n_sets, int epoch, unsigned long long seed,
                            int batch_size, long max_frames, tdata_epoch *e, asr_error *err)
{
    uint64_t rng = tdata_mix(seed, 0x45504f4348ULL + (uint64_t)epoch); /* "EPOCH" */
    size_t cap = 0, n = 0;
    tdata_item *items = NULL, *sorted = NULL;
    sort_key *keys = NULL;
    int *starts = NULL, *perm = NULL;

    memset(e, 0, sizeof(*e));
    for (int s = 0; s < n_sets; s++)
        cap += (size_t)ceil(sets[s]->repeat) * (size_t)sets[s]->n_usable;
    items = malloc(sizeof(*items) * (cap ? cap : 1));
    if (!items)
        goto nomem;
    for (int s = 0; s < n_sets; s++) {
        double whole = floor(sets[s]->repeat), frac = sets[s]->repeat - whole;
        for (int u = 0; u < sets[s]->n_utts; u++) {
            if (!sets[s]->utts[u].usable)
                continue;
            int copies = (int)whole + (frac > 0 && rng_unit(&rng) < frac ? 1 : 0);
            for (int c = 0; c < copies && n < cap; c++)
                items[n++] = (tdata_item){s, u};
        }
    }
    if (n == 0) {
        free(items);
        return asr_error_set(err, ASR_ERR_ARG, "no usable training utterance (see the skip counts above)");
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t k = (size_t)rng_below(&rng, i + 1);
        tdata_item t = items[i];
        items[i] = items[k];
        items[k] = t;
    }
    keys = malloc(sizeof(*keys) * n);
    sorted = malloc(sizeof(*sorted) * n);
    starts = malloc(sizeof(int) * (n + 1));
    if (!keys || !sorted || !starts)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        keys[i] = (sort_key){sets[items[i].set]->utts[items[i].utt].n_out, (int)i};
    qsort(keys, n, sizeof(*keys), cmp_key);
    int nb = 0;
    size_t in_batch = 0;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = items[keys[i].pos];
        long len = keys[i].len;
        if (in_batch == 0 || in_batch == (size_t)batch_size ||
            (max_frames > 0 && (long)(in_batch + 1) * len > max_frames)) {
            starts[nb++] = (int)i;
            in_batch = 0;
        }
        in_batch++;
    }
    starts[nb] = (int)n;
    perm = malloc(sizeof(int) * (size_t)nb);
    e->batch_start = malloc(sizeof(int) * (size_t)(nb + 1));
    if (!perm || !e->batch_start)
        goto nomem;
    for (int b = 0; b < nb; b++)
        perm[b] = b;
    for (int b = nb - 1; b > 0; b--) {
        int k = (int)rng_below(&rng, (uint64_t)b + 1);
        int t = perm[b];
        perm[b] = perm[k];
        perm[k] = t;
    }
    size_t w = 0;
    for (int b = 0; b < nb; b++) {
        e->batch_start[b] = (int)w;
        for (int i = starts[perm[b]]; i < starts[perm[b] + 1]; i++)
            items[w++] = sorted[i];
    }
    e->batch_start[nb] = (int)w;
    e->items = items;
    e->n_items = (int)n;
    e->n_batches = nb;
    free(keys);
    free(sorted);
    free(starts);
    free(perm);
    return ASR_OK;
nomem:
    free(items);
    free(keys);
    free(sorted);
    free(starts);
    free(perm);
    free(e->batch_start);
    memset(e, 0, sizeof(*e));
    return asr_error_set(err, ASR_ERR_NOMEM, "epoch plan: out of memory");
}

void tdata_epoch_free(tdata_epoch *e)
{
    if (!e)
        return;
    free(e->items);
    free(e->batch_start);
    memset(e, 0, sizeof(*e));
}

/* ---- batches ---- */

/* Frames needed by CTC for these labels: one per label plus a blank between repeated labels. */
static int ctc_min_frames(const int *labels, int n)
{
    int need = n;
    for (int i = 1; i < n; i++)
        need += labels[i] == labels[i - 1];
    return need;
}

static int out_frames(int n_frames, int stack, int stride)
{
    return n_frames >= stack ? (n_frames - stack) / stride + 1 : 0;
}

/* Grows *buf to hold n floats. */
static int reserve_floats(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    float *t = realloc(*buf, n * sizeof(float));
    if (!t)
        return -1;
    *buf = t;
    *cap = n;
    return 0;
}

asr_status tdata_batch_fill(tdata_batch *b, tdata_set *const *sets, const tdata_item *items, int n,
                            const tdata_feat *f, asr_error *err)
{
    const int n_feat = sets[items[0].set]->n_feat;
    const int stack = f->stack, stride = f->stride;
    const int I = n_feat * stack;
    const int vary = f->fe && (f->vtlp > 0 || f->speed > 0);
    asr_status st = ASR_OK;
    cmvn_stream *cs = NULL;
    float *warp = NULL;
    int T = 0;
    size_t n_labels = 0, n_phones = 0;
    if (n > b->cap_B) {
        int *l = realloc(b->lens, sizeof(int) * (size_t)n);
        if (l)
            b->lens = l;
        int *ll = realloc(b->label_lens, sizeof(int) * (size_t)n);
        if (ll)
            b->label_lens = ll;
        int *pl = realloc(b->phone_lens, sizeof(int) * (size_t)n);
        if (pl)
            b->phone_lens = pl;
        int *hp = realloc(b->has_phones, sizeof(int) * (size_t)n);
        if (hp)
            b->has_phones = hp;
        double *sp = realloc(b->speed, sizeof(double) * (size_t)n);
        if (sp)
            b->speed = sp;
        double *wa = realloc(b->warp, sizeof(double) * (size_t)n);
        if (wa)
            b->warp = wa;
        if (!l || !ll || !pl || !hp || !sp || !wa)
            return asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
        b->cap_B = n;
    }
    /* Factors and lengths first: the batch's T depends on them. */
    for (int i = 0; i < n; i++) {
        const tdata_utt *u = &sets[items[i].set]->utts[items[i].utt];
        double sp = 1.0, wa = 1.0;
        int len = u->n_out;
        if (vary && u->n_out > 0) {
            uint64_t rng = tdata_mix(f->seed, (uint64_t)i);
            double r1 = rng_unit(&rng), r2 = rng_unit(&rng);
            wa = 1.0 + f->vtlp * (2 * r1 - 1);
            sp = 1.0 + f->speed * (2 * r2 - 1);
            int nf = (int)((u->n_frames - 1) / sp) + 1;
            int lo = out_frames(nf, stack, stride);
            if (lo < 1 || lo < ctc_min_frames(u->labels, u->n_labels))
                sp = 1.0;
            else
                len = lo;
        }
        b->speed[i] = sp;
        b->warp[i] = wa;
        b->lens[i] = len;
        if (len > T)
            T = len;
        n_labels += (size_t)u->n_labels;
        n_phones += (size_t)u->n_phones;
    }
    size_t need_x = (size_t)(T ? T : 1) * (size_t)n * (size_t)I;
    if (reserve_floats(&b->x, &b->cap_x, need_x))
        return asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
    if (n_labels + 1 > b->cap_labels) {
        int *t = realloc(b->labels, sizeof(int) * (n_labels + 1));
        if (!t)
            return asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
        b->labels = t;
        b->cap_labels = n_labels + 1;
    }
    if (n_phones + 1 > b->cap_phones) {
        int *t = realloc(b->phones, sizeof(int) * (n_phones + 1));
        if (!t)
            return asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
        b->phones = t;
        b->cap_phones = n_phones + 1;
    }
    cs = cmvn_stream_create(n_feat, &f->cmvn, f->mean, f->std, err);
    if (!cs)
        return err ? err->code : ASR_ERR_NOMEM;
    if (vary && !(warp = malloc(sizeof(float) * (size_t)n_feat * (size_t)n_feat))) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
        goto out;
    }
    b->T = T;
    b->B = n;
    b->I = I;
    b->audio_seconds = 0;
    memset(b->x, 0, need_x * sizeof(float));
    size_t lp = 0, pp = 0;
    for (int i = 0; i < n; i++) {
        const tdata_utt *u = &sets[items[i].set]->utts[items[i].utt];
        b->label_lens[i] = u->n_labels;
        if (u->n_labels)
            memcpy(b->labels + lp, u->labels, sizeof(int) * (size_t)u->n_labels);
        lp += (size_t)u->n_labels;
        b->has_phones[i] = u->phones != NULL;
        b->phone_lens[i] = u->n_phones;
        if (u->n_phones)
            memcpy(b->phones + pp, u->phones, sizeof(int) * (size_t)u->n_phones);
        pp += (size_t)u->n_phones;
        int len = b->lens[i];
        if (len <= 0) {
            b->audio_seconds += u->n_frames * f->frame_shift_s;
            continue;
        }
        /* Frames used by the stacks: (len - 1) * stride + stack of the (resampled) utterance. */
        int nf = (len - 1) * stride + stack;
        if (reserve_floats(&b->work, &b->cap_work, (size_t)nf * (size_t)n_feat * 2)) {
            st = asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
            goto out;
        }
        float *frames = b->work, *tmp = b->work + (size_t)nf * n_feat;
        const float *src = u->feats;
        if (vary) {
            double sp = b->speed[i];
            for (int j = 0; j < nf; j++) {
                double pos = j * sp;
                int i0 = (int)pos;
                double fr = pos - i0;
                const float *x0 = u->feats + (size_t)i0 * n_feat;
                float *dst = tmp + (size_t)j * n_feat;
                if (i0 + 1 < u->n_frames && fr > 0) {
                    const float *x1 = x0 + n_feat;
                    for (int k = 0; k < n_feat; k++)
                        dst[k] = (float)((1 - fr) * x0[k] + fr * x1[k]);
                } else {
                    memcpy(dst, u->feats + (size_t)(i0 < u->n_frames ? i0 : u->n_frames - 1) * n_feat,
                           sizeof(float) * (size_t)n_feat);
                }
            }
            if ((st = mfcc_warp_matrix(f->fe, b->warp[i] * sp, warp, err)))
                goto out;
            for (int j = 0; j < nf; j++) {
                const float *x = tmp + (size_t)j * n_feat;
                float *y = frames + (size_t)j * n_feat;
                for (int k = 0; k < n_feat; k++) {
                    const float *wr = warp + (size_t)k * n_feat;
                    float acc = 0;
                    for (int l = 0; l < n_feat; l++)
                        acc += wr[l] * x[l];
                    y[k] = acc;
                }
            }
            src = frames;
        }
        cmvn_stream_reset(cs);
        cmvn_stream_apply_frames(cs, src, tmp, nf);
        b->audio_seconds += nf * f->frame_shift_s;
        for (int t = 0; t < len; t++) {
            float *dst = b->x + ((size_t)t * (size_t)n + (size_t)i) * (size_t)I;
            memcpy(dst, tmp + (size_t)t * stride * n_feat, sizeof(float) * (size_t)I);
        }
    }
out:
    free(warp);
    cmvn_stream_destroy(cs);
    return st;
}

void tdata_batch_free(tdata_batch *b)
{
    if (!b)
        return;
    free(b->x);
    free(b->lens);
    free(b->labels);
    free(b->label_lens);
    free(b->phones);
    free(b->phone_lens);
    free(b->has_phones);
    free(b->work);
    free(b->speed);
    free(b->warp);
    memset(b, 0, sizeof(*b));
}

void tdata_specaugment(tdata_batch *b, int n_feat, int time_masks, int time_width, int freq_masks,
                       int freq_width, uint64_t seed)
{
    const int stack = b->I / n_feat;
    for (int i = 0; i < b->B; i++) {
        uint64_t rng = tdata_mix(seed, (uint64_t)i);
        int len = b->lens[i];
        if (len <= 0)
            continue;
        for (int m = 0; m < time_masks && time_width > 0; m++) {
            int w = (int)rng_below(&rng, (uint64_t)time_width + 1);
            if (w > len / 4) /* never blank more than a quarter of a short utterance per mask */
                w = len / 4;
            int t0 = (int)rng_below(&rng, (uint64_t)(len - w) + 1);
            for (int t = t0; t < t0 + w; t++)
                memset(b->x + ((size_t)t * (size_t)b->B + (size_t)i) * (size_t)b->I, 0,
                       sizeof(float) * (size_t)b->I);
        }
        for (int m = 0; m < freq_masks && freq_width > 0; m++) {
            int w = (int)rng_below(&rng, (uint64_t)freq_width + 1);
            if (w > n_feat)
                w = n_feat;
            int f0 = (int)rng_below(&rng, (uint64_t)(n_feat - w) + 1);
            for (int t = 0; t < len; t++) {
                float *row = b->x + ((size_t)t * (size_t)b->B + (size_t)i) * (size_t)b->I;
                for (int k = 0; k < stack; k++)
                    for (int f = f0; f < f0 + w; f++)
                        row[k * n_feat + f] = 0;
            }
        }
    }
}
