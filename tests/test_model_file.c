/* test_model_file.c - the model file: exact round trip, and every kind of damaged or inconsistent
 * file refused with a message that names the file and the problem. Damaged files are made by
 * editing a written file's bytes (recomputing the CRC where the test wants to get past it). */
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../model/model_file.h"
#define TEST_RNG_SEED 88172645463325252ULL
#include "test_model_util.h"
#include "test_util.h"

static char dir[256];
static char path[512];

/* A small two-type model: layer0 GRU, layer1 LSTM, odd sizes. */
static void make_desc(asr_model_desc *d)
{
    memset(d, 0, sizeof *d);
    mfcc_params *p = &d->frontend;
    p->sample_rate = 8000;
    p->frame_length_ms = 25.5f;
    p->frame_shift_ms = 10.0f;
    p->fft_size = 512;
    p->num_mel_bins = 23;
    p->low_freq = 20.0f;
    p->high_freq = -400.0f;
    p->num_ceps = 13;
    p->cepstral_lifter = 22.0f;
    p->preemph = 0.97f;
    p->window = MFCC_WINDOW_HAMMING;
    p->remove_dc_offset = 1;
    p->use_energy = 1;
    p->energy_floor = 0.1f;
    d->n_feat = 13;
    d->stack = 2;
    d->stride = 3;
    snprintf(d->alphabet, sizeof d->alphabet, "%s", ASR_DEFAULT_ALPHABET);
    d->n_layers = 2;
    d->layers[0] = (nn_rnn_layer){.type = NN_GRU, .in = 26, .hidden = 11};
    d->layers[1] = (nn_rnn_layer){.type = NN_LSTM, .in = 11, .hidden = 7};
    d->n_out = 29;
}

static unsigned char *slurp(const char *f, size_t *n)
{
    FILE *fp = fopen(f, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(sz + 1);
    *n = fread(b, 1, sz, fp);
    fclose(fp);
    return b;
}

static void spit(const char *f, const unsigned char *b, size_t n)
{
    FILE *fp = fopen(f, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
}

static void fix_crc(unsigned char *b, size_t n)
{
    uint32_t c = (uint32_t)crc32(crc32(0, Z_NULL, 0), b, (uInt)(n - 4));
    for (int i = 0; i < 4; i++)
        b[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* Reads `f`, expects refusal with `code` and a message containing the file name and `needle`. */
static void expect_refused(const char *f, asr_status code, const char *needle, const char *what)
{
    asr_model_desc d;
    asr_error err = {ASR_OK, ""};
    asr_status st = asr_model_read(f, &d, &err);
    CHECK(st == code, "%s: status %d, expected %d (%s)", what, (int)st, (int)code, err.msg);
    CHECK(strstr(err.msg, f) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    CHECK(d.slab == NULL, "%s: slab left allocated", what);
}

/* Replaces the first occurrence of `from` in the metadata of file image b by `to`, fixing the
 * metadata length and the CRC. Returns the new size (b must have room). */
static size_t edit_meta(unsigned char *b, size_t n, const char *from, const char *to)
{
    uint32_t ml = b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24;
    unsigned char *m = b + 16;
    char *hit = memmem(m, ml, from, strlen(from));
    if (!hit)
        return 0;
    size_t off = (size_t)((unsigned char *)hit - b), fl = strlen(from), tl = strlen(to);
    memmove(b + off + tl, b + off + fl, n - off - fl);
    memcpy(b + off, to, tl);
    n = n - fl + tl;
    ml = ml - (uint32_t)fl + (uint32_t)tl;
    for (int i = 0; i < 4; i++)
        b[12 + i] = (unsigned char)(ml >> (8 * i));
    fix_crc(b, n);
    return n;
}

static void meta_case(const unsigned char *orig, size_t n, const char *from, const char *to, asr_status code,
                      const char *needle)
{
    unsigned char *b = malloc(n + 256);
    memcpy(b, orig, n);
    size_t m = edit_meta(b, n, from, to);
    CHECK(m > 0, "metadata edit '%s' found nothing", from);
    if (m) {
        spit(path, b, m);
        char what[128];
        snprintf(what, sizeof what, "edit '%s' -> '%s'", from, to);
        expect_refused(path, code, needle, what);
    }
    free(b);
}

/* Writes the first `cut` bytes of the file image for every cut below max_cut (every byte through
 * the metadata and first tensors, then every 7th and the last 8) and reads them back: each must be
 * refused as "truncated", naming the file. Returns the number that were not. */
static int truncation_failures(const unsigned char *img, size_t n, size_t max_cut)
{
    int bad = 0;
    for (size_t cut = 1; cut < n && cut < max_cut; cut += (cut < 1500 || cut + 8 >= n) ? 1 : 7) {
        spit(path, img, cut);
        asr_model_desc t;
        asr_error e = {ASR_OK, ""};
        if (asr_model_read(path, &t, &e) != ASR_ERR_FORMAT || !strstr(e.msg, "truncated") ||
            !strstr(e.msg, path)) {
            if (bad++ < 5)
                fprintf(stderr, "cut at %zu: %s\n", cut, e.msg);
        }
    }
    return bad;
}

static uint32_t version_of(const unsigned char *b)
{
    return b[8] | b[9] << 8 | b[10] << 16 | (uint32_t)b[11] << 24;
}

/* Model file version 2: online CMVN parameters round-trip and make the file version 2; a global
 * model stays version 1, byte for byte what a description without cmvn gives (`good`, written
 * before d had any cmvn set); cmvn keys are refused in version 1 and required in version 2; bad
 * values are refused naming the field. */
static void test_cmvn_versions(asr_model_desc *d, const char *good)
{
    asr_error err = {ASR_OK, ""};
    char online[600], global[600];
    snprintf(online, sizeof online, "%s/online.bin", dir);
    snprintf(global, sizeof global, "%s/global.bin", dir);

    /* Global mode with junk in the unused fields: still version 1, identical to the zeroed one. */
    d->cmvn = (cmvn_params){.mode = CMVN_GLOBAL, .prior_frames = 123, .window = 456, .norm_vars = 1};
    CHECK(asr_model_write(global, d, &err) == ASR_OK, "write global: %s", err.msg);
    size_t ng = 0, n0 = 0, n2 = 0;
    unsigned char *g = slurp(global, &ng), *g0 = slurp(good, &n0);
    CHECK(g && g0 && ng == n0 && !memcmp(g, g0, ng),
          "global-cmvn model differs from one written with cmvn zeroed "
          "(%zu vs %zu bytes)",
          ng, n0);
    CHECK(g && version_of(g) == 1 && !memmem(g, ng, "cmvn", 4), "global model: version %u or a cmvn key",
          g ? version_of(g) : 0);
    asr_model_desc r;
    CHECK(asr_model_read(global, &r, &err) == ASR_OK && r.cmvn.mode == CMVN_GLOBAL, "read global: %s",
          err.msg);
    asr_model_desc_free(&r);

    /* Online: version 2, every field back exactly (values that need all their float digits). */
    d->cmvn = (cmvn_params){
        .mode = CMVN_ONLINE, .prior_frames = 150.123457f, .window = 432.987654f, .norm_vars = 0};
    CHECK(asr_model_write(online, d, &err) == ASR_OK, "write online: %s", err.msg);
    unsigned char *v2 = slurp(online, &n2);
    CHECK(v2 && version_of(v2) == 2, "online model: version %u, expected 2", v2 ? version_of(v2) : 0);
    memset(&r, 0, sizeof r);
    CHECK(asr_model_read(online, &r, &err) == ASR_OK, "read online: %s", err.msg);
    CHECK(r.cmvn.mode == CMVN_ONLINE && r.cmvn.prior_frames == d->cmvn.prior_frames &&
              r.cmvn.window == d->cmvn.window && r.cmvn.norm_vars == 0,
          "online cmvn round trip: mode %d prior %.9g window %.9g norm_vars %d", (int)r.cmvn.mode,
          r.cmvn.prior_frames, r.cmvn.window, r.cmvn.norm_vars);
    CHECK(r.slab && !memcmp(r.feat_mean, d->feat_mean, asr_model_desc_params(d) * sizeof(float)) &&
              !memcmp(&r.frontend, &d->frontend, sizeof d->frontend) && r.n_out == d->n_out,
          "online model: other fields differ");
    asr_model_desc_free(&r);
    d->cmvn.norm_vars = 1;
    d->cmvn.window = 0;
    CHECK(asr_model_write(online, d, &err) == ASR_OK && asr_model_read(online, &r, &err) == ASR_OK &&
              r.cmvn.norm_vars == 1 && r.cmvn.window == 0 && r.cmvn.mode == CMVN_ONLINE,
          "online, window 0, norm_vars 1: %s", err.msg);
    asr_model_desc_free(&r);
    d->cmvn.window = 432.987654f;
    d->cmvn.norm_vars = 0;

    /* The writer refuses bad online parameters and leaves no file. */
    cmvn_params keep = d->cmvn;
    unlink(path);
    d->cmvn.prior_frames = 0;
    CHECK(asr_model_write(path, d, &err) == ASR_ERR_FORMAT && strstr(err.msg, "prior_frames"),
          "write prior 0 not refused: %s", err.msg);
    d->cmvn = keep;
    d->cmvn.norm_vars = 2;
    CHECK(asr_model_write(path, d, &err) == ASR_ERR_FORMAT && strstr(err.msg, "norm_vars"),
          "write norm_vars 2 not refused: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "refused write created a file");
    d->cmvn = keep;

    if (!g || !v2) {
        free(g), free(g0), free(v2);
        return;
    }
    /* Version 1 with a cmvn key: refused naming the key (the keys are version 2's). */
    meta_case(g, ng, "n_out 29\n", "n_out 29\ncmvn online\n", ASR_ERR_FORMAT, "'cmvn'");
    meta_case(g, ng, "n_out 29\n", "n_out 29\ncmvn_window 600\n", ASR_ERR_FORMAT, "'cmvn_window'");
    {
        /* The version 2 file with its version field set to 1. */
        unsigned char *b = malloc(n2);
        memcpy(b, v2, n2);
        b[8] = 1;
        fix_crc(b, n2);
        spit(path, b, n2);
        expect_refused(path, ASR_ERR_FORMAT, "metadata key 'cmvn'", "version 1 with cmvn keys");
        free(b);
    }
    /* Version 2 needs all four keys, once each, with valid values; every refusal names the key. */
    static const struct {
        const char *from, *to, *needle;
    } v2_cases[] = {
        {"cmvn_window 432.98764\n", "", "missing metadata key 'cmvn_window'"},
        {"cmvn online\n", "", "missing metadata key 'cmvn'"},
        {"cmvn_norm_vars 0\n", "", "missing metadata key 'cmvn_norm_vars'"},
        {"cmvn_prior_frames ", "cmvn_prior_frame ", "unknown metadata key 'cmvn_prior_frame'"},
        {"cmvn_norm_vars 0\n", "cmvn_norm_vars 0\ncmvn_norm_vars 0\n",
         "duplicate metadata key 'cmvn_norm_vars'"},
        {"cmvn_prior_frames 150.123459", "cmvn_prior_frames 0", "prior_frames must be in (0, 1e6] (got 0)"},
        {"cmvn_prior_frames 150.123459", "cmvn_prior_frames -5", "prior_frames must be in (0, 1e6] (got -5)"},
        {"cmvn_prior_frames 150.123459", "cmvn_prior_frames x", "'cmvn_prior_frames' has bad value 'x'"},
        {"cmvn_norm_vars 0", "cmvn_norm_vars 2", "norm_vars must be 0 or 1 (got 2)"},
        {"cmvn_window 432.98764", "cmvn_window 0.5", "window must be 0 or in [1, 1e7] frames (got 0.5)"},
        {"cmvn online", "cmvn adaptive", "'cmvn' has bad value 'adaptive'"},
    };
    for (size_t i = 0; i < sizeof v2_cases / sizeof *v2_cases; i++)
        meta_case(v2, n2, v2_cases[i].from, v2_cases[i].to, ASR_ERR_FORMAT, v2_cases[i].needle);
    {
        /* Version 2 saying cmvn global is a global model. */
        unsigned char *b = malloc(n2 + 16);
        memcpy(b, v2, n2);
        size_t m = edit_meta(b, n2, "cmvn online", "cmvn global");
        spit(path, b, m);
        CHECK(m && asr_model_read(path, &r, &err) == ASR_OK && r.cmvn.mode == CMVN_GLOBAL,
              "version 2 with cmvn global: %s", err.msg);
        asr_model_desc_free(&r);
        free(b);
    }
    /* Truncation anywhere through the version 2 metadata: "truncated", nothing else. */
    int trunc_bad = truncation_failures(v2, n2, 600);
    CHECK(trunc_bad == 0, "%d truncation offsets of the version 2 file not reported as truncated", trunc_bad);
    free(g), free(g0), free(v2);
    d->cmvn = (cmvn_params){0};
}

/* The shipped model was written by the version-1 writer: read and written back (global CMVN) it
 * must come out byte for byte the same. */
static void test_shipped_model(void)
{
    const char *shipped = "model/asrd-en.model";
    if (access(shipped, R_OK) != 0) {
        printf("skip: %s absent (run from the repository root)\n", shipped);
        return;
    }
    asr_model_desc s;
    asr_error err = {ASR_OK, ""};
    CHECK(asr_model_read(shipped, &s, &err) == ASR_OK, "read %s: %s", shipped, err.msg);
    if (err.code)
        return;
    CHECK(asr_model_write(path, &s, &err) == ASR_OK, "rewrite: %s", err.msg);
    size_t na = 0, nb = 0;
    unsigned char *a = slurp(shipped, &na), *b = slurp(path, &nb);
    /* the version follows the normalisation: 1 for global statistics, 2 for online CMVN */
    CHECK(a && version_of(a) == (s.cmvn.mode == CMVN_GLOBAL ? 1u : 2u),
          "shipped model: version %u with cmvn %s", a ? version_of(a) : 0, cmvn_mode_name(s.cmvn.mode));
    CHECK(a && b && na == nb && !memcmp(a, b, na), "shipped model rewritten differs (%zu vs %zu bytes)", na,
          nb);
    free(a), free(b);
    asr_model_desc_free(&s);
}

/* A small file whose metadata claims a 1-layer LSTM of 8192 (a 1.07 GB w_hh): reading it must be
 * refused as truncated without committing the memory the header asks for (issue 12: the reader
 * used to allocate and zero the whole slab first). Measured in a child: its peak RSS must stay far
 * below the claimed size. */
static void test_huge_header(void)
{
    asr_model_desc d;
    asr_error err = {ASR_OK, ""};
    make_desc(&d);
    d.n_layers = 1;
    d.layers[0] = (nn_rnn_layer){.type = NN_LSTM, .in = 26, .hidden = 8};
    CHECK(asr_model_desc_alloc(&d, &err) == ASR_OK, "alloc: %s", err.msg);
    for (int i = 0; i < d.n_feat; i++)
        d.feat_std[i] = 1.0f;
    char small[600];
    snprintf(small, sizeof small, "%s/huge.bin", dir);
    CHECK(asr_model_write(small, &d, &err) == ASR_OK, "write: %s", err.msg);
    asr_model_desc_free(&d);
    size_t n = 0;
    unsigned char *b = slurp(small, &n);
    unsigned char *big = b ? malloc(n + 64) : NULL;
    size_t m = 0;
    if (big) {
        memcpy(big, b, n);
        m = edit_meta(big, n, "layer0 lstm 26 8", "layer0 lstm 26 8192");
    }
    CHECK(m > 0, "huge header: metadata edit failed");
    if (m) {
        spit(small, big, m);
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        pid_t pid = fork();
        if (pid == 0) {
            asr_model_desc r;
            asr_error e = {ASR_OK, ""};
            asr_status st = asr_model_read(small, &r, &e);
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            long out[2] = {(long)st, ru.ru_maxrss};
            ssize_t w = write(fds[1], out, sizeof out);
            free(big); /* the child's copies: valgrind follows the child */
            free(b);
            _exit(w == (ssize_t)sizeof out && strstr(e.msg, "truncated") ? 0 : 1);
        }
        close(fds[1]);
        long got[2] = {-1, -1};
        ssize_t rd = read(fds[0], got, sizeof got);
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(rd == (ssize_t)sizeof got && got[0] == ASR_ERR_FORMAT && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0,
              "huge header (%zu-byte file): status %ld, child exit %d, expected a 'truncated' format error",
              m, got[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        CHECK(got[1] > 0 && got[1] < 256 * 1024,
              "huge header: peak RSS %ld KB reading a %zu-byte file (claims 1 GB)", got[1], m);
    }
    free(big);
    free(b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_model_file.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/model.bin", dir);
    char good[600];
    snprintf(good, sizeof good, "%s/good.bin", dir);

    /* Round trip: every field and every tensor byte. */
    asr_model_desc d, r;
    asr_error err = {ASR_OK, ""};
    make_desc(&d);
    CHECK(asr_model_desc_alloc(&d, &err) == ASR_OK, "alloc: %s", err.msg);
    size_t np = asr_model_desc_params(&d);
    size_t expect_np = (size_t)3 * 11 * (26 + 11 + 2) + (size_t)4 * 7 * (11 + 7 + 2) + 29 * 7 + 29;
    CHECK(np == expect_np, "params %zu, expected %zu", np, expect_np);
    float *all = d.feat_mean;
    size_t nall = np + 2 * 13;
    for (size_t i = 0; i < nall; i++)
        all[i] = frand();
    for (int i = 0; i < 13; i++)
        d.feat_std[i] = 0.5f + (float)i * 1.37f;
    CHECK(asr_model_write(good, &d, &err) == ASR_OK, "write: %s", err.msg);
    CHECK(asr_model_read(good, &r, &err) == ASR_OK, "read: %s", err.msg);
    CHECK(!memcmp(&r.frontend, &d.frontend, sizeof d.frontend), "frontend params differ");
    CHECK(r.n_feat == d.n_feat && r.stack == d.stack && r.stride == d.stride && r.n_out == d.n_out &&
              r.n_layers == d.n_layers,
          "scalars differ");
    CHECK(!strcmp(r.alphabet, d.alphabet), "alphabet '%s' vs '%s'", r.alphabet, d.alphabet);
    for (int k = 0; k < 2; k++)
        CHECK(r.layers[k].type == d.layers[k].type && r.layers[k].in == d.layers[k].in &&
                  r.layers[k].hidden == d.layers[k].hidden,
              "layer %d differs", k);
    CHECK(r.slab && !memcmp(r.feat_mean, d.feat_mean, nall * sizeof(float)), "tensor bytes differ");
    CHECK(!memcmp(r.proj_b, d.proj_b, 29 * sizeof(float)) &&
              !memcmp(r.layers[1].w_hh, d.layers[1].w_hh, 4 * 7 * 7 * sizeof(float)),
          "tensor pointers differ");
    asr_model_desc_free(&r);
    CHECK(r.slab == NULL && r.n_layers == 0, "free does not zero");
    asr_model_desc_free(NULL);

    /* No temporary file left behind by the atomic write. */
    DIR *dp = opendir(dir);
    int stray = 0;
    for (struct dirent *e; dp && (e = readdir(dp));)
        stray += strstr(e->d_name, ".tmp") != NULL;
    if (dp)
        closedir(dp);
    CHECK(stray == 0, "%d temporary files left", stray);

    /* Writer refuses an inconsistent description and leaves no file. */
    asr_model_desc bad = d;
    bad.alphabet[3] = 'a';
    CHECK(asr_model_write(path, &bad, &err) == ASR_ERR_ALPHABET && strstr(err.msg, "duplicate"),
          "duplicate label not refused: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "refused write created a file");
    bad = d;
    bad.n_out = 30;
    CHECK(asr_model_write(path, &bad, &err) == ASR_ERR_ALPHABET, "n_out 30 not refused: %s", err.msg);
    bad = d;
    bad.layers[1].in = 12;
    CHECK(asr_model_write(path, &bad, &err) == ASR_ERR_FORMAT && strstr(err.msg, "layer1"),
          "layer size chain not checked: %s", err.msg);

    size_t n;
    unsigned char *img = slurp(good, &n);
    CHECK(img != NULL && n > 100, "cannot read back %s", good);
    if (!img)
        return TEST_SUMMARY();

    /* Missing and empty files. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.bin", dir);
    expect_refused(missing, ASR_ERR_IO, "No such file", "missing file");
    spit(path, img, 0);
    expect_refused(path, ASR_ERR_FORMAT, "empty", "empty file");

    /* Truncation at every offset through the metadata and first tensors, then every 7th (and the
     * last 8): always "truncated", never a crash or a checksum complaint. */
    int trunc_bad = truncation_failures(img, n, n);
    CHECK(trunc_bad == 0, "%d truncation offsets not reported as truncated", trunc_bad);

    /* Truncation inside a tensor names the tensor and the byte counts. */
    {
        /* layer1.w_hh data starts after its header; find its name and cut 10 bytes into the data. */
        unsigned char *hit = memmem(img, n, "layer1.w_hh", 11);
        CHECK(hit != NULL, "tensor name not found in file");
        if (hit) {
            size_t data = (size_t)(hit - img) + 11 + 4 + 8;
            spit(path, img, data + 10);
            char needle[100];
            /* the tensors are checked against the file's size before any is read (or allocated) */
            snprintf(needle, sizeof needle, "truncated: the metadata's tensors need %zu bytes",
                     asr_model_desc_params(&d) * sizeof(float) + 2 * 13 * sizeof(float));
            expect_refused(path, ASR_ERR_FORMAT, needle, "cut inside layer1.w_hh");
        }
    }

    /* Any flipped byte past the version: checksum mismatch. */
    int flip_bad = 0;
    for (size_t off = 12; off < n; off += (off < 1200 ? 1 : 37)) {
        unsigned char *b = malloc(n);
        memcpy(b, img, n);
        b[off] ^= 0x20;
        spit(path, b, n);
        free(b);
        asr_model_desc t;
        asr_error e = {ASR_OK, ""};
        if (asr_model_read(path, &t, &e) != ASR_ERR_CHECKSUM || !strstr(e.msg, "checksum mismatch") ||
            !strstr(e.msg, path)) {
            if (flip_bad++ < 5)
                fprintf(stderr, "flip at %zu: %s\n", off, e.msg);
        }
    }
    CHECK(flip_bad == 0, "%d flipped bytes not reported as checksum mismatch", flip_bad);
    {
        unsigned char *b = malloc(n + 10);
        memcpy(b, img, n);
        memset(b + n, 0, 10);
        spit(path, b, n + 10);
        expect_refused(path, ASR_ERR_CHECKSUM, "checksum mismatch", "trailing bytes");
        fix_crc(b, n + 10);
        spit(path, b, n + 10);
        expect_refused(path, ASR_ERR_FORMAT, "unexpected bytes", "trailing bytes, CRC fixed");

        /* Wrong magic and version. */
        memcpy(b, img, n);
        b[0] = 'X';
        spit(path, b, n);
        expect_refused(path, ASR_ERR_FORMAT, "bad magic (not an asrd model)", "bad magic");
        spit(path, (const unsigned char *)"RIFF....WAVE", 12);
        expect_refused(path, ASR_ERR_FORMAT, "bad magic", "wav file");
        memcpy(b, img, n);
        b[8] = 7;
        spit(path, b, n);
        expect_refused(path, ASR_ERR_VERSION, "version 7 not supported (this asrd reads versions 1..2)",
                       "version 7");
        b[8] = 0;
        spit(path, b, n);
        expect_refused(path, ASR_ERR_VERSION, "version 0 not supported", "version 0");
        b[8] = 3;
        spit(path, b, n);
        expect_refused(path, ASR_ERR_VERSION, "version 3 not supported", "version 3");
        free(b);
    }

    /* Inconsistent metadata, with a valid checksum. */
    meta_case(img, n, "alphabet _abcdefghijklmnopqrstuvwxyz'", "alphabet _abcdefghijklmnopqrstuvwxya'",
              ASR_ERR_ALPHABET, "duplicate label 'a'");
    meta_case(img, n, "alphabet _abcdefghijklmnopqrstuvwxyz'", "alphabet _abcdefghijklmnopqrstuvwxy",
              ASR_ERR_ALPHABET, "alphabet has 26 labels (+ blank = 27 outputs) but proj.w has 29 outputs");
    meta_case(img, n, "alphabet _abcdefghijklmnopqrstuvwxyz'\n", "alphabet _abcdefghijklmnopqrstuvwxy\n",
              ASR_ERR_ALPHABET, "alphabet has 26 labels");
    meta_case(img, n, "alphabet _abcdefghijklmnopqrstuvwxyz'", "alphabet _ab\tcdefghijklmnopqrstuvwxyz'",
              ASR_ERR_ALPHABET, "alphabet label 4 is byte 0x09");
    meta_case(img, n, "stride 3\n", "", ASR_ERR_FORMAT, "missing metadata key 'stride'");
    meta_case(img, n, "stride 3\n", "stride 3\nfoo 1\n", ASR_ERR_FORMAT, "unknown metadata key 'foo'");
    meta_case(img, n, "stride 3\n", "stride 3\nstride 3\n", ASR_ERR_FORMAT,
              "duplicate metadata key 'stride'");
    meta_case(img, n, "stride 3\n", "stride x\n", ASR_ERR_FORMAT, "'stride' has bad value 'x'");
    meta_case(img, n, "window hamming", "window square", ASR_ERR_FORMAT, "'window' has bad value 'square'");
    meta_case(img, n, "layer1 lstm", "layer1 rnn", ASR_ERR_FORMAT, "unknown layer type 'rnn'");
    meta_case(img, n, "layer1 lstm 11 7\n", "", ASR_ERR_FORMAT, "missing metadata key 'layer1'");
    meta_case(img, n, "layers 2", "layers 1", ASR_ERR_FORMAT, "layer1 but layers is 1");
    /* a larger claim than the file holds is refused before anything is allocated */
    meta_case(img, n, "layer1 lstm 11 7", "layer1 lstm 11 8", ASR_ERR_FORMAT,
              "truncated: the metadata's tensors need");
    meta_case(img, n, "layer1 lstm 11 7", "layer1 gru 11 7", ASR_ERR_FORMAT,
              "layer1.w_ih has shape (28, 11), expected (21, 11)");
    meta_case(img, n, "layer1 lstm 11 7", "layer1 lstm 12 7", ASR_ERR_FORMAT,
              "layer1 input size 12, expected 11");
    meta_case(img, n, "n_feat 13", "n_feat 14", ASR_ERR_FORMAT, "n_feat 14 differs from num_ceps 13");
    {
        /* n_out and alphabet agree with each other but not with the stored projection. */
        unsigned char *b = malloc(n + 256);
        memcpy(b, img, n);
        size_t m =
            edit_meta(b, n, "alphabet _abcdefghijklmnopqrstuvwxyz'", "alphabet _abcdefghijklmnopqrstuvwxyz");
        m = m ? edit_meta(b, m, "n_out 29", "n_out 28") : 0;
        CHECK(m > 0, "edit failed");
        spit(path, b, m);
        expect_refused(path, ASR_ERR_ALPHABET,
                       "alphabet has 27 labels (+ blank = 28 outputs) but proj.w has 29 outputs",
                       "alphabet 27 labels vs proj.w 29");
        free(b);
    }
    {
        /* Non-positive feature std (valid file structure). */
        asr_model_desc z = d;
        float keep = d.feat_std[2];
        d.feat_std[2] = 0.0f;
        CHECK(asr_model_write(path, &z, &err) == ASR_ERR_FORMAT && strstr(err.msg, "feat_std[2]"),
              "zero std not refused: %s", err.msg);
        d.feat_std[2] = keep;
    }
    free(img);
    test_cmvn_versions(&d, good);
    asr_model_desc_free(&d);
    test_shipped_model();
    test_huge_header();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return TEST_SUMMARY();
}
