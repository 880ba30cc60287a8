/* batch.c - batch transcription (see batch.h).
 *
 * DESIGN. A worker owns up to K lanes (K = --streams, at most the number of files); a lane is one
 * file in flight: its audio reader, asr_stream and decoder (the model and the LM are shared
 * read-only). A worker runs rounds: each lane reads its next block of block_sec seconds and feeds
 * its stream's frontend; one asr_stream_run_batch steps the network of every fed stream together
 * (one matrix product instead of K matrix-vector products, bit-identical to each stream alone);
 * each stream's output frames go to its own decoder. A lane whose file ends finalises it into the
 * file's slot and claims the next unclaimed item, in input order, from a shared counter; a file
 * that cannot be opened or decoded gets its error in its slot and the lane moves on.
 * With --threads 1 the calling thread is the only worker: it drives rounds until the slot it has to
 * print next is done. With N threads, N worker threads run rounds until no item is left and the
 * calling thread waits for each slot in turn. Either way the calling thread is the only writer of
 * `out`/`errf`: it prints slot 0, frees it, then slot 1, and so on, so the output order is the input
 * order whatever finishes first, and K or N never change a transcript.
 * The counter and the slots' `done` flags are guarded by run.mtx; a slot's other fields are
 * written by exactly one worker (the one whose lane claimed it) before `done` is set and read by
 * the calling thread after. Lanes, their buffers and the batch workspace belong to their worker.
 */
#include "batch.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../frontend/audio.h"
#include "../model/text.h"

batch_options batch_default_options(void)
{
    batch_options o = {.format = OUTPUT_TEXT,
                       .with_path = 0,
                       .threads = 1,
                       .streams = 8,
                       .progress = 0,
                       .score = 0,
                       .block_sec = 0.5,
                       .decoder = ASR_DECODER_GREEDY,
                       .beam = ctc_beam_default_params(),
                       .lm_path = NULL,
                       .precision = ASR_PRECISION_DEFAULT};
    return o;
}

static int parse_num(const char *v, double lo, double hi, double *out)
{
    char *end;
    if (!v || !*v)
        return -1;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi))
        return -1;
    *out = x;
    return 0;
}

asr_status batch_decoder_option(batch_options *o, batch_decoder_opt opt, const char *value, asr_error *err)
{
    double x;
    switch (opt) {
    case BATCH_OPT_DECODER:
        if (value && strcmp(value, "greedy") == 0)
            o->decoder = ASR_DECODER_GREEDY;
        else if (value && strcmp(value, "beam") == 0)
            o->decoder = ASR_DECODER_BEAM;
        else
            return asr_error_set(err, ASR_ERR_ARG, "--decoder must be greedy or beam, not: %s",
                                 value ? value : "");
        o->decoder_set = 1;
        return ASR_OK;
    case BATCH_OPT_LM:
        o->lm_path = value;
        if (!o->decoder_set)
            o->decoder = ASR_DECODER_BEAM;
        return ASR_OK;
    case BATCH_OPT_BEAM:
        if (parse_num(value, 1, 10000, &x) != 0 || x != (int)x)
            return asr_error_set(err, ASR_ERR_ARG, "--beam must be a number from 1 to 10000, not: %s",
                                 value ? value : "");
        o->beam.beam = (int)x;
        return ASR_OK;
    case BATCH_OPT_LM_WEIGHT:
    case BATCH_OPT_WORD_BONUS:
    case BATCH_OPT_UNK_PENALTY:
        if (parse_num(value, -1000, 1000, &x) != 0)
            return asr_error_set(err, ASR_ERR_ARG, "--%s must be a number, not: %s",
                                 opt == BATCH_OPT_LM_WEIGHT    ? "lm-weight"
                                 : opt == BATCH_OPT_WORD_BONUS ? "word-bonus"
                                                               : "unk-penalty",
                                 value ? value : "");
        if (opt == BATCH_OPT_LM_WEIGHT)
            o->beam.lm_weight = (float)x;
        else if (opt == BATCH_OPT_WORD_BONUS)
            o->beam.word_bonus = (float)x;
        else
            o->beam.unk_penalty = (float)x;
        return ASR_OK;
    case BATCH_OPT_CLOSED:
        o->beam.closed_vocab = 1;
        return ASR_OK;
    case BATCH_OPT_LOOKAHEAD:
        if (parse_num(value, 0, 10, &x) != 0)
            return asr_error_set(err, ASR_ERR_ARG, "--lm-lookahead must be a number from 0 to 10, not: %s",
                                 value ? value : "");
        o->beam.lm_lookahead = (float)x;
        return ASR_OK;
    }
    return asr_error_set(err, ASR_ERR_ARG, "unknown decoder option");
}

asr_status batch_lm_convert(const char *in, const char *out, asr_error *err)
{
    asr_lm *lm = asr_lm_open(in, err);
    if (!lm)
        return err ? err->code : ASR_ERR_FORMAT;
    asr_status st = asr_lm_verify(lm, err); /* a binary input: never copy a damaged one */
    if (st == ASR_OK)
        st = asr_lm_save(lm, out, err);
    asr_lm_free(lm);
    return st;
}

int batch_check(const char *model_path, const char *lm_path, FILE *out, FILE *errf)
{
    asr_error err = {ASR_OK, ""};
    asr_lm *lm = NULL;
    ctc_lexicon *lx = NULL;
    int rc = 1;
    asr_model *m = asr_model_load(model_path, &err); /* reads the whole file, checksum included */
    if (!m) {
        fprintf(errf, "asrd: error: %s\n", err.msg);
        return 1;
    }
    fprintf(out, "%s: ok (model, %zu parameters, checksum verified)\n", model_path,
            asr_model_desc_params(asr_model_get_desc(m)));
    if (lm_path) {
        if (!(lm = asr_lm_open(lm_path, &err)) || asr_lm_verify(lm, &err) != ASR_OK ||
            !(lx = ctc_lexicon_create(lm, asr_model_alphabet(m), asr_model_n_out(m), &err))) {
            fprintf(errf, "asrd: error: %s\n", err.msg);
            goto done;
        }
        fprintf(out, "%s: ok (%d-gram LM, %u words, %d spelt in the model's alphabet, checksum verified)\n",
                lm_path, asr_lm_order(lm), asr_lm_vocab_size(lm), ctc_lexicon_words(lx));
    }
    rc = 0;
done:
    ctc_lexicon_destroy(lx);
    asr_lm_free(lm);
    asr_model_free(m);
    return rc;
}

/* ---------- manifest ---------- */
static int add_string(batch_manifest *m, char *s, int *cap)
{
    if (m->n_strings == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        char **p = realloc(m->strings, (size_t)nc * sizeof *p);
        if (!p)
            return -1;
        m->strings = p;
        *cap = nc;
    }
    m->strings[m->n_strings++] = s;
    return 0;
}

asr_status batch_manifest_read(const char *path, batch_manifest *m, asr_error *err)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    int items_cap = 0, strings_cap = 0;
    long lineno = 0;
    memset(m, 0, sizeof *m);

    f = fopen(path, "r");
    if (!f) {
        asr_error_set(err, ASR_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* keeps the '/' */
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *tab = strchr(line, '\t');
        const char *ref = "";
        if (tab) {
            *tab = '\0';
            ref = tab + 1;
        }
        if (line[0] == '\0') {
            asr_error_set(err, ASR_ERR_FORMAT, "%s:%ld: empty path", path, lineno);
            goto fail;
        }
        char *own = malloc((size_t)len + 1);
        if (!own || add_string(m, own, &strings_cap) != 0) {
            free(own);
            goto nomem;
        }
        memcpy(own, line, (size_t)len + 1); /* path '\0' ref '\0' */
        const char *ref_own = tab ? own + (ref - line) : own + strlen(own);
        const char *file = own;
        if (own[0] != '/' && strcmp(own, "-") != 0 && dir_len > 0) {
            size_t pl = strlen(own);
            char *res = malloc(dir_len + pl + 1);
            if (!res || add_string(m, res, &strings_cap) != 0) {
                free(res);
                goto nomem;
            }
            memcpy(res, path, dir_len);
            memcpy(res + dir_len, own, pl + 1);
            file = res;
        }
        if (m->n == items_cap) {
            int nc = items_cap ? items_cap * 2 : 64;
            batch_item *p = realloc(m->items, (size_t)nc * sizeof *p);
            if (!p)
                goto nomem;
            m->items = p;
            items_cap = nc;
        }
        m->items[m->n++] = (batch_item){.path = own, .file = file, .ref = ref_own};
    }
    if (ferror(f)) {
        asr_error_set(err, ASR_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    free(line);
    fclose(f);
    return ASR_OK;
nomem:
    asr_error_set(err, ASR_ERR_NOMEM, "%s: out of memory", path);
fail:
    free(line);
    if (f)
        fclose(f);
    batch_manifest_free(m);
    return err ? err->code : ASR_ERR_IO;
}

void batch_manifest_free(batch_manifest *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_strings; i++)
        free(m->strings[i]);
    free(m->strings);
    free(m->items);
    memset(m, 0, sizeof *m);
}

/* ---------- running ---------- */
typedef struct slot {
    int done; /* guarded by run.mtx */
    asr_status st;
    asr_error err;
    asr_result res;
    double audio_sec;
} slot;

typedef struct run {
    const asr_model *m;
    const batch_item *items;
    int n;
    const batch_options *o;
    const asr_lm *lm;       /* shared read-only by every worker, or NULL */
    const ctc_lexicon *lex; /* built from lm */
    int lanes;              /* streams in flight per worker: min(o->streams, n), >= 1 */
    slot *slots;            /* (n) */
    pthread_mutex_t mtx;
    pthread_cond_t cond; /* signalled when a slot is done */
    int next;            /* next item to claim; guarded by mtx */
} run;

/* One file in flight: its stream, decoder and reader belong to the lane's worker. */
typedef struct lane {
    asr_stream *s;
    asr_decoder d;
    audio_reader *rd; /* open while item >= 0 */
    int item;         /* the slot being transcribed, or -1 (idle) */
    size_t samples;   /* read so far from the current file */
} lane;

/* What one thread needs to transcribe: up to run.lanes files at a time, stepped together. */
typedef struct worker {
    run *r;
    lane *lanes; /* (k) */
    int k;       /* lanes set up; 0 if setup failed (then setup_err is every item's error) */
    asr_error setup_err;
    asr_batch *b;     /* workspace of the lanes' joint network step, or NULL (each uses its own) */
    float *buf;       /* (block) samples of one read, fed to one lane at a time */
    size_t block;     /* samples per read (block_sec at the model's rate) */
    float *lp;        /* (n_out) one output frame */
    asr_stream **fed; /* (k) streams given audio this round */
    int *fed_lane;    /* (k) their lanes */
} worker;

static int claim(run *r)
{
    pthread_mutex_lock(&r->mtx);
    int i = r->next < r->n ? r->next++ : -1;
    pthread_mutex_unlock(&r->mtx);
    return i;
}

/* Publishes slot i (its other fields are written before and never again by this thread). */
static void slot_done(run *r, int i, asr_status st)
{
    r->slots[i].st = st;
    pthread_mutex_lock(&r->mtx);
    r->slots[i].done = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mtx);
}

static void worker_free(worker *w)
{
    for (int j = 0; j < w->k; j++) {
        audio_reader_close(w->lanes[j].rd);
        asr_decoder_free(&w->lanes[j].d);
        asr_stream_destroy(w->lanes[j].s);
    }
    free(w->lanes);
    free(w->buf);
    free(w->lp);
    free(w->fed);
    free(w->fed_lane);
    asr_batch_destroy(w->b);
}

/* Sets up a worker's buffers and lanes (a stream and a decoder each; the model and LM are
 * shared). Fewer lanes if memory runs out; with none, w->setup_err says why. */
static void worker_init(worker *w, run *r)
{
    const asr_model *m = r->m;
    int rate = asr_model_sample_rate(m);
    memset(w, 0, sizeof *w);
    w->r = r;
    w->block = (size_t)(r->o->block_sec * rate);
    if (w->block < 1)
        w->block = 1;
    w->b = asr_batch_create(m);
    w->buf = malloc(w->block * sizeof *w->buf);
    w->lp = malloc((size_t)asr_model_n_out(m) * sizeof *w->lp);
    w->lanes = calloc((size_t)r->lanes, sizeof *w->lanes);
    w->fed = calloc((size_t)r->lanes, sizeof *w->fed);
    w->fed_lane = calloc((size_t)r->lanes, sizeof *w->fed_lane);
    if (!w->buf || !w->lp || !w->lanes || !w->fed || !w->fed_lane) {
        asr_error_set(&w->setup_err, ASR_ERR_NOMEM, "batch: out of memory");
        return;
    }
    for (; w->k < r->lanes; w->k++) {
        lane *L = &w->lanes[w->k];
        L->item = -1;
        L->s = asr_stream_create(m, &w->setup_err);
        if (!L->s)
            break;
        if (asr_decoder_init(&L->d, r->o->decoder, asr_model_alphabet(m), asr_model_n_out(m),
                             asr_model_frame_ms(m), &r->o->beam, r->lm, r->lex, &w->setup_err) != ASR_OK) {
            asr_stream_destroy(L->s);
            break;
        }
    }
}

/* Ends the lane's file: final result after end of file (st == ASR_OK), else the error already in
 * its slot (st is its code). */
static void lane_end(worker *w, lane *L, asr_status st)
{
    run *r = w->r;
    slot *sl = &r->slots[L->item];
    const char *file = r->items[L->item].file;
    if (st == ASR_OK) {
        st = asr_decoder_final(&L->d, &sl->res);
        if (st != ASR_OK)
            asr_error_set(&sl->err, st, "%s: decoding failed: %s", file, asr_strerror(st));
        else
            sl->audio_sec = (double)L->samples / asr_model_sample_rate(r->m);
    }
    audio_reader_close(L->rd);
    L->rd = NULL;
    slot_done(r, L->item, st);
    L->item = -1;
}

/* Gives an idle lane the next unclaimed file that opens (one that does not is done at once, with
 * its error). Returns 0 when no file is left. */
static int lane_start(worker *w, lane *L)
{
    run *r = w->r;
    int i;
    while ((i = claim(r)) >= 0) {
        slot *sl = &r->slots[i];
        asr_stream_reset(L->s);
        asr_decoder_reset(&L->d);
        L->samples = 0;
        L->rd = audio_reader_open(r->items[i].file, asr_model_sample_rate(r->m), &sl->err);
        if (L->rd) {
            L->item = i;
            return 1;
        }
        slot_done(r, i, sl->err.code ? sl->err.code : ASR_ERR_AUDIO);
    }
    return 0;
}

/* One round: every lane reads its next block (an ended file is finished and the lane takes the
 * next one), the frontend runs per stream, the network runs once over all fed streams
 * (asr_stream_run_batch: bit-identical to each alone), and each stream's output frames go to its
 * own decoder. Returns 0 when the worker has nothing left to do. */
static int worker_round(worker *w)
{
    run *r = w->r;
    int n_fed = 0, active = 0;
    if (w->k == 0) { /* no lanes: every item this worker claims fails with the setup error */
        int i = claim(r);
        if (i < 0)
            return 0;
        r->slots[i].err = w->setup_err;
        slot_done(r, i, w->setup_err.code);
        return 1;
    }
    for (int j = 0; j < w->k; j++) {
        lane *L = &w->lanes[j];
        while (L->item >= 0 || lane_start(w, L)) {
            slot *sl = &r->slots[L->item];
            long got = audio_reader_read(L->rd, w->buf, w->block, &sl->err);
            if (got < 0) {
                lane_end(w, L, sl->err.code ? sl->err.code : ASR_ERR_AUDIO);
                continue;
            }
            if (got == 0) {
                lane_end(w, L, ASR_OK);
                continue;
            }
            asr_status st = asr_stream_feed(L->s, w->buf, (size_t)got);
            if (st != ASR_OK) {
                asr_error_set(&sl->err, st, "%s: recognition failed: %s", r->items[L->item].file,
                              asr_strerror(st));
                lane_end(w, L, st);
                continue;
            }
            L->samples += (size_t)got;
            w->fed[n_fed] = L->s;
            w->fed_lane[n_fed++] = j;
            break;
        }
        active += L->item >= 0;
    }
    if (n_fed > 0 && asr_stream_run_batch(w->fed, n_fed, w->b) != ASR_OK) {
        /* no memory for the joint step (no stream has changed): each alone, its own workspace */
        for (int f = 0; f < n_fed; f++) {
            asr_status st = asr_stream_run_batch(&w->fed[f], 1, NULL);
            if (st != ASR_OK) {
                lane *L = &w->lanes[w->fed_lane[f]];
                asr_error_set(&r->slots[L->item].err, st, "%s: recognition failed: %s",
                              r->items[L->item].file, asr_strerror(st));
                lane_end(w, L, st);
            }
        }
    }
    for (int f = 0; f < n_fed; f++) {
        lane *L = &w->lanes[w->fed_lane[f]];
        if (L->item >= 0)
            while (asr_stream_pop(L->s, w->lp))
                asr_decoder_push(&L->d, w->lp);
    }
    return active > 0;
}

static void *worker_main(void *arg)
{
    worker w;
    worker_init(&w, arg);
    while (worker_round(&w))
        ;
    worker_free(&w);
    return NULL;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_draw(FILE *errf, int done, int n, double audio, double t0)
{
    char bar[31];
    int w = n > 0 ? (int)((long)done * 30 / n) : 30;
    for (int k = 0; k < 30; k++)
        bar[k] = k < w ? '#' : '.';
    bar[30] = '\0';
    fprintf(errf, "\r\033[K[%s] %d/%d files, %.1f s audio, %.1f s", bar, done, n, audio, now_sec() - t0);
    fflush(errf);
}

/* Prints "asrd: error: ..." naming the file exactly once. */
static void print_error(FILE *errf, const char *file, const asr_error *e)
{
    size_t fl = strlen(file);
    if (strncmp(e->msg, file, fl) == 0 && e->msg[fl] == ':')
        fprintf(errf, "asrd: error: %s\n", e->msg);
    else
        fprintf(errf, "asrd: error: %s: %s\n", file, e->msg[0] ? e->msg : asr_strerror(e->code));
}

/* Adds one item to the score; returns -1 when out of memory. */
static int score_add(batch_score *sc, const char *ref, const char *hyp)
{
    char *nr = asr_text_normalize(ref);
    char *nh = asr_text_normalize(hyp ? hyp : "");
    int rc = -1;
    if (nr && nh) {
        asr_errors w = asr_wer(nr, nh), c = asr_cer(nr, nh);
        if (w.edits >= 0 && c.edits >= 0) {
            sc->word_edits += w.edits;
            sc->words += w.ref_len;
            sc->char_edits += c.edits;
            sc->chars += c.ref_len;
            rc = 0;
        }
    }
    free(nr);
    free(nh);
    return rc;
}

int batch_run(const asr_model *m, const batch_item *items, int n, const batch_options *o, FILE *out,
              FILE *errf, batch_score *score, asr_error *err)
{
    int failed = 0, ret = -1, nthreads = 0, sync_ok = 0, own_worker = 0;
    pthread_t *tids = NULL;
    worker w; /* the calling thread's own, with one thread */
    asr_lm *lm = NULL;
    ctc_lexicon *lex = NULL;
    batch_score sc = {0, 0, 0, 0, 0};
    double audio = 0, t0 = now_sec();
    run r = {.m = m, .items = items, .n = n, .o = o, .next = 0};

    /* Files in flight at once would read standard input in turns, a mix of both; one reads it all. */
    int n_stdin = 0;
    for (int i = 0; i < n; i++)
        n_stdin += strcmp(items[i].file, "-") == 0;
    if (n_stdin > 1) {
        asr_error_set(err, ASR_ERR_ARG, "standard input (\"-\") is listed %d times; it can be read only once",
                      n_stdin);
        return -1;
    }
    /* At most a thread's share of the files in flight per thread, so that every thread gets work. */
    int threads = o->threads < 1 ? 1 : o->threads;
    int share = n > 0 ? (n + threads - 1) / threads : 1;
    r.lanes = o->streams < 1 ? 1 : o->streams;
    if (r.lanes > share)
        r.lanes = share;
    if (o->decoder == ASR_DECODER_BEAM && o->lm_path) {
        lm = asr_lm_open(o->lm_path, err);
        if (!lm)
            goto fail;
        lex = ctc_lexicon_create(lm, asr_model_alphabet(m), asr_model_n_out(m), err);
        if (!lex)
            goto fail;
        r.lm = lm;
        r.lex = lex;
    }
    r.slots = calloc(n > 0 ? (size_t)n : 1, sizeof *r.slots);
    if (!r.slots) {
        asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&r.mtx, NULL) != 0 || pthread_cond_init(&r.cond, NULL) != 0) {
        asr_error_set(err, ASR_ERR_NOMEM, "batch: cannot create synchronisation objects");
        goto fail;
    }
    sync_ok = 1;
    int want = o->threads < 1 ? 1 : o->threads;
    if (want > n)
        want = n;
    if (want > 1) {
        tids = calloc((size_t)want, sizeof *tids);
        if (!tids) {
            asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory");
            goto fail;
        }
        for (; nthreads < want; nthreads++)
            if (pthread_create(&tids[nthreads], NULL, worker_main, &r) != 0)
                break;
        if (nthreads == 0) {
            asr_error_set(err, ASR_ERR_NOMEM, "batch: cannot start worker threads");
            goto fail;
        }
    } else {
        worker_init(&w, &r);
        own_worker = 1;
    }

    if (o->progress)
        progress_draw(errf, 0, n, 0, t0);
    for (int i = 0; i < n; i++) {
        slot *sl = &r.slots[i];
        if (nthreads > 0) {
            pthread_mutex_lock(&r.mtx);
            while (!sl->done)
                pthread_cond_wait(&r.cond, &r.mtx);
            pthread_mutex_unlock(&r.mtx);
        } else {
            while (!sl->done && worker_round(&w)) /* this thread sets done: no lock needed */
                ;
        }
        if (o->progress)
            fputs("\r\033[K", errf);
        if (sl->st != ASR_OK) {
            failed++;
            print_error(errf, items[i].file, &sl->err);
        } else {
            audio += sl->audio_sec;
            asr_status st = output_write(out, o->format, items[i].path, &sl->res, o->with_path);
            if (st != ASR_OK) {
                asr_error_set(err, st, "batch: cannot write the output: %s", asr_strerror(st));
                goto fail;
            }
        }
        if (o->score && items[i].ref) {
            if (score_add(&sc, items[i].ref, sl->st == ASR_OK ? sl->res.text : NULL) != 0) {
                asr_error_set(err, ASR_ERR_NOMEM, "batch: out of memory while scoring");
                goto fail;
            }
        }
        asr_result_free(&sl->res);
        if (o->progress)
            progress_draw(errf, i + 1, n, audio, t0);
        fflush(out);
    }
    if (o->progress)
        fputs("\r\033[K", errf);
    sc.failed = failed;
    if (o->score) {
        fprintf(out, "WER %.2f%% (%ld/%ld) CER %.2f%% (%ld/%ld)\n",
                100.0 * (double)sc.word_edits / (double)(sc.words > 0 ? sc.words : 1), sc.word_edits,
                sc.words, 100.0 * (double)sc.char_edits / (double)(sc.chars > 0 ? sc.chars : 1),
                sc.char_edits, sc.chars);
        if (failed > 0)
            fprintf(errf, "asrd: note: %d failed file(s) scored as empty transcripts\n", failed);
    }
    if (fflush(out) != 0 || ferror(out)) {
        asr_error_set(err, ASR_ERR_IO, "batch: cannot write the output: %s", strerror(errno));
        goto fail;
    }
    if (score)
        *score = sc;
    ret = failed;
fail:
    if (nthreads > 0) {
        /* on an early exit, let the workers run out of items quickly */
        pthread_mutex_lock(&r.mtx);
        r.next = n;
        pthread_mutex_unlock(&r.mtx);
        for (int t = 0; t < nthreads; t++)
            pthread_join(tids[t], NULL);
    }
    if (sync_ok) {
        pthread_mutex_destroy(&r.mtx);
        pthread_cond_destroy(&r.cond);
    }
    if (r.slots)
        for (int i = 0; i < n; i++)
            asr_result_free(&r.slots[i].res);
    free(r.slots);
    free(tids);
    if (own_worker)
        worker_free(&w);
    ctc_lexicon_destroy(lex);
    asr_lm_free(lm);
    return ret;
}
