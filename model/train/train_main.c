/* train_main.c - asr-train: trains the acoustic model from a YAML config (see config.h).
 *
 * DESIGN: one thread drives everything (tnet may use worker threads inside its calls; feature
 * extraction uses its own workers before training starts). SIGINT/SIGTERM only set `g_stop`; the
 * loop notices it after the current update, then saves, in this order: OUTDIR/last.model,
 * OUTDIR/checkpoint.bin, and exits 0. Every random draw is a function of (seed, epoch, batch), so
 * the checkpoint's (update, epoch, batch) plus parameters and Adam moments resume bit for bit.
 *
 * Outputs in OUTDIR: config.yaml (copy of the config), log.tsv (one line per log interval; with
 * model.aux_phone two more columns: the phone CTC loss per utterance and per frame, over the
 * utterances that have phone targets; `loss` is always the character CTC loss alone),
 * eval.tsv (dev WER/CER per set and evaluation), dev-<set>.hyp.tsv (last evaluation's
 * hypotheses), best.model, last.model, checkpoint.bin.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's (declared in its cblas.h, whose macros clash with this file's names). */
char *openblas_get_corename(void);

#include "../asr_model.h"
#include "../ctc_beam.h"
#include "../ctc_decoder.h"
#include "../lm.h"
#include "../model_file.h"
#include "../text.h"
#include "checkpoint.h"
#include "config.h"
#include "data.h"
#include "optim.h"
#include "pdict.h"
#include "tnet.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: asr-train --config FILE [--resume DIR] [--outdir DIR] [--max-updates N] [--threads N]\n"
           "       asr-train --config FILE --dump-batches FILE [--dump-count N]\n"
           "       asr-train --config FILE --train-dump FILE --max-updates N\n"
           "       asr-train --config FILE --check-model MODEL [--check-count N]\n"
           "Trains the asrd acoustic model (CTC, GRU/LSTM) as the YAML config says; writes OUTDIR/\n"
           "{config.yaml,log.tsv,eval.tsv,best.model,last.model,checkpoint.bin}. SIGINT/SIGTERM save a\n"
           "checkpoint and exit 0; --resume DIR continues it bit for bit. --max-updates N caps the total\n"
           "update count (resumed runs included) without changing the LR schedule; --threads N overrides\n"
           "the config (results are reproducible for a given thread count only). Numbers are checked:\n"
           "--max-updates 1..10^9, --threads 1..256, --dump-count/--check-count 1..10^6; an option's\n"
           "value follows it (--threads 2) or an '=' (--threads=2); bad values and unknown options exit 2.\n"
           "  --dump-batches FILE  write the first --dump-count (20) batches of epoch 0 (no augmentation)\n"
           "                       for tests/bench/torch_train_ref.py, then exit\n"
           "  --train-dump FILE    train on those batches (cycling) for --max-updates and print throughput\n"
           "  --check-model MODEL  compare tnet_forward with the runtime asr_stream on MODEL over the first\n"
           "                       --check-count (8) utterances of the first training manifest\n");
}

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    if (p)
        sprintf(p, "%s/%s", dir, name);
    return p;
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = NULL;
    char buf[8192];
    size_t n;
    int rc = -1;
    if (!a)
        return -1;
    b = fopen(to, "wb");
    if (!b)
        goto out;
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
        if (fwrite(buf, 1, n, b) != n)
            goto out;
    rc = ferror(a) ? -1 : 0;
out:
    fclose(a);
    if (b && fclose(b) != 0)
        rc = -1;
    return rc;
}

/* ---- the run ---- */

typedef struct run {
    tcfg cfg;
    char *outdir;
    tdata_set **train;
    int n_train;
    tdata_set **dev;
    int n_dev;
    asr_model_desc desc; /* architecture + stats; tensors refreshed by tnet_export */
    asr_model_desc init; /* cfg.init_model's weights (slab NULL: none) */
    tnet *net;
    topt *opt;
    tckpt_state st;
    tdata_batch batch;
    mfcc *fe;      /* the frontend, for speed/VTLP warp matrices (NULL when both are off) */
    pdict *phones; /* model.aux_phone's dictionary: phone targets of the auxiliary head (NULL: none) */
    asr_lm *lm;    /* cfg.eval_lm and its lexicon: the dev sets are also decoded with the beam search */
    ctc_lexicon *lex;
    int max_T;
    double shift_s;
    FILE *log, *evalf;
    long long last_eval; /* update of the latest dev evaluation (-1: none in this invocation) */
} run;

static asr_status load_sets(run *r, asr_error *err)
{
    tdata_opts o;
    memset(&o, 0, sizeof(o));
    o.mfcc = r->cfg.mfcc;
    o.cache_dir = r->cfg.cache_dir;
    o.alphabet = ASR_DEFAULT_ALPHABET;
    o.stack = r->cfg.stack;
    o.stride = r->cfg.stride;
    o.max_out_frames =
        r->cfg.max_utt_seconds > 0
            ? (int)(r->cfg.max_utt_seconds * 1000.0 / r->cfg.mfcc.frame_shift_ms / r->cfg.stride)
            : 0;
    o.max_utts = r->cfg.max_utts;
    o.threads = r->cfg.threads;
    o.progress = isatty(2) || getenv("ASR_TRAIN_PROGRESS") != NULL;
    o.stop = &g_stop;
    if (r->cfg.aux_phone_dict) {
        if (!(r->phones = pdict_load(r->cfg.aux_phone_dict, err)))
            return err->code;
        o.phones = r->phones;
        printf("aux phone CTC: weight %g, %d words from %s (%d phones + blank, no word boundary)\n",
               r->cfg.aux_phone_weight, pdict_words(r->phones), r->cfg.aux_phone_dict, PDICT_N_CLASSES - 1);
    }
    r->train = calloc((size_t)r->cfg.n_train, sizeof(*r->train));
    r->dev = calloc((size_t)(r->cfg.n_dev ? r->cfg.n_dev : 1), sizeof(*r->dev));
    if (!r->train || !r->dev)
        return asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->cfg.n_train; i++) {
        tdata_set *s = tdata_set_load(r->cfg.train[i].path, &o, err);
        if (!s)
            return err->code;
        s->repeat = r->cfg.train[i].repeat;
        r->train[r->n_train++] = s;
        printf(
            "train %-22s %6d utts, %6d usable (%.2f h) x%g; skipped: %d audio, %d text, %d too short, %d too "
            "long\n",
            s->name, s->n_utts, s->n_usable, s->usable_seconds / 3600, s->repeat, s->skip_audio, s->skip_text,
            s->skip_short, s->skip_long);
        if (r->phones)
            printf(
                "phones %-21s %6d of %6d usable utts (%.2f of %.2f h) have phone targets; the rest have an "
                "out-of-dictionary word\n",
                s->name, s->n_phone_usable, s->n_usable, s->phone_seconds / 3600, s->usable_seconds / 3600);
    }
    o.max_out_frames = 0;
    o.phones = NULL; /* no phone loss on dev */
    for (int i = 0; i < r->cfg.n_dev; i++) {
        tdata_set *s = tdata_set_load(r->cfg.dev[i], &o, err);
        if (!s)
            return err->code;
        r->dev[r->n_dev++] = s;
        printf("dev   %-22s %6d utts (%d unreadable)\n", s->name, s->n_utts, s->skip_audio);
    }
    fflush(stdout);
    r->max_T = 1;
    for (int i = 0; i < r->n_train; i++)
        for (int u = 0; u < r->train[i]->n_utts; u++)
            if (r->train[i]->utts[u].usable) {
                /* speed perturbation makes utterances up to 1 / (1 - speed) times longer */
                int t = (int)(r->train[i]->utts[u].n_out / (1.0 - r->cfg.speed)) + 2;
                if (t > r->max_T)
                    r->max_T = t;
            }
    for (int i = 0; i < r->n_dev; i++)
        for (int u = 0; u < r->dev[i]->n_utts; u++)
            if (r->dev[i]->utts[u].n_out > r->max_T)
                r->max_T = r->dev[i]->utts[u].n_out;
    return ASR_OK;
}

/* Reads cfg.init_model into r->init after checking that it is the configured model (frontend,
 * stacking, alphabet, layers), and takes its feature statistics: fine-tuning keeps the input
 * normalisation the weights were trained with. */
static asr_status load_init(run *r, asr_error *err)
{
    const char *path = r->cfg.init_model;
    asr_model_desc *m = &r->init, *d = &r->desc;
    asr_status s = asr_model_read(path, m, err);
    if (s != ASR_OK)
        return s;
    const mfcc_params *a = &m->frontend, *b = &d->frontend;
    const char *what = NULL;
    char buf[96];
    if (a->sample_rate != b->sample_rate || a->frame_length_ms != b->frame_length_ms ||
        a->frame_shift_ms != b->frame_shift_ms || a->fft_size != b->fft_size ||
        a->num_mel_bins != b->num_mel_bins || a->low_freq != b->low_freq || a->high_freq != b->high_freq ||
        a->num_ceps != b->num_ceps || a->cepstral_lifter != b->cepstral_lifter || a->preemph != b->preemph ||
        a->window != b->window || a->remove_dc_offset != b->remove_dc_offset ||
        a->use_energy != b->use_energy || a->energy_floor != b->energy_floor)
        what = "its MFCC frontend differs from features.mfcc";
    else if (m->stack != d->stack || m->stride != d->stride)
        what = "its frame stacking differs from features.stack/stride";
    else if (memcmp(&m->cmvn, &d->cmvn, sizeof m->cmvn) != 0 &&
             !(m->cmvn.mode == CMVN_GLOBAL && d->cmvn.mode == CMVN_GLOBAL))
        what = "its feature normalisation differs from features.cmvn";
    else if (strcmp(m->alphabet, d->alphabet) != 0 || m->n_out != d->n_out)
        what = "its output alphabet differs from the trainer's";
    else if (m->n_layers != d->n_layers)
        what = "its number of layers differs from model.layers";
    for (int k = 0; !what && k < d->n_layers; k++)
        if (m->layers[k].type != d->layers[k].type || m->layers[k].hidden != d->layers[k].hidden ||
            m->layers[k].in != d->layers[k].in) {
            snprintf(buf, sizeof(buf), "its layer %d is %d x %s, the config's %d x %s", k + 1,
                     m->layers[k].hidden, m->layers[k].type == NN_GRU ? "GRU" : "LSTM", d->layers[k].hidden,
                     d->layers[k].type == NN_GRU ? "GRU" : "LSTM");
            what = buf;
        }
    if (what) {
        asr_error_set(err, ASR_ERR_CONFIG, "init_model %s: %s", path, what);
        asr_model_desc_free(m);
        return ASR_ERR_CONFIG;
    }
    memcpy(d->feat_mean, m->feat_mean, sizeof(float) * (size_t)d->n_feat);
    memcpy(d->feat_std, m->feat_std, sizeof(float) * (size_t)d->n_feat);
    return ASR_OK;
}

/* Fills r->desc with the configured architecture (zeroed tensors, stats from the training sets, or
 * cfg.init_model's). */
static asr_status make_desc(run *r, asr_error *err)
{
    asr_model_desc *d = &r->desc;
    memset(d, 0, sizeof(*d));
    d->frontend = r->cfg.mfcc;
    d->n_feat = r->cfg.mfcc.num_ceps;
    d->stack = r->cfg.stack;
    d->stride = r->cfg.stride;
    d->cmvn = r->cfg.cmvn;
    snprintf(d->alphabet, sizeof(d->alphabet), "%s", ASR_DEFAULT_ALPHABET);
    d->n_layers = r->cfg.layers;
    int in = d->n_feat * d->stack;
    for (int k = 0; k < d->n_layers; k++) {
        d->layers[k].type = r->cfg.type;
        d->layers[k].in = in;
        d->layers[k].hidden = r->cfg.hidden;
        in = r->cfg.hidden;
    }
    d->n_out = 1 + (int)strlen(d->alphabet);
    asr_status s = asr_model_desc_alloc(d, err);
    if (s != ASR_OK)
        return s;
    if (r->cfg.init_model) /* its statistics, not the training sets' (no pass over the features) */
        return load_init(r, err);
    double *w = malloc(sizeof(double) * (size_t)r->n_train);
    if (!w)
        return asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->n_train; i++)
        w[i] = r->train[i]->repeat;
    s = tdata_stats(r->train, w, r->n_train, d->feat_mean, d->feat_std, err);
    free(w);
    return s;
}

static asr_status write_model(run *r, const char *name, asr_error *err)
{
    asr_status s = tnet_export(r->net, &r->desc, err);
    if (s != ASR_OK)
        return s;
    char *path = join(r->outdir, name);
    if (!path)
        return asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
    s = asr_model_write(path, &r->desc, err);
    free(path);
    return s;
}

static asr_status save_checkpoint(run *r, asr_error *err)
{
    char *path = join(r->outdir, "checkpoint.bin");
    if (!path)
        return asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
    asr_status s = tckpt_save(path, &r->st, r->desc.n_feat, r->desc.feat_mean, r->desc.feat_std,
                              tnet_n_params(r->net), tnet_params(r->net), r->opt->m, r->opt->v, err);
    free(path);
    return s;
}

/* Dev items sorted by length (batches of similar lengths pad little). */
static tdata_set *cmp_len_ptr;
static int cmp_dev(const void *a, const void *b)
{
    const tdata_item *x = a, *y = b;
    int lx = cmp_len_ptr->utts[x->utt].n_out, ly = cmp_len_ptr->utts[y->utt].n_out;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->utt - y->utt;
}

/* The feature recipe of a batch: the model's normalisation; speed and VTLP variety only when
 * `train` (then seeded by epoch and batch, like SpecAugment). */
static tdata_feat feat_recipe(const run *r, int train, long epoch, long batch)
{
    tdata_feat f;
    memset(&f, 0, sizeof f);
    f.mean = r->desc.feat_mean;
    f.std = r->desc.feat_std;
    f.cmvn = r->desc.cmvn;
    f.stack = r->desc.stack;
    f.stride = r->desc.stride;
    f.frame_shift_s = r->shift_s;
    if (train && r->fe) {
        f.fe = r->fe;
        f.vtlp = r->cfg.vtlp;
        f.speed = r->cfg.speed;
        f.seed = tdata_mix(tdata_mix(r->cfg.seed, 0x5350454544565450ULL + (uint64_t)epoch), (uint64_t)batch);
    }
    return f;
}

/* WER and CER in % of hyps (by utterance) against dev set s's references; with log_hyps they are
 * written to OUTDIR/dev-<name><suffix>.hyp.tsv. */
static void score_set(run *r, tdata_set *s, char **hyps, const char *suffix, double *wer, double *cer)
{
    long we = 0, wn = 0, ce = 0, cn = 0;
    FILE *hf = NULL;
    if (r->cfg.log_hyps) {
        char name[600];
        snprintf(name, sizeof(name), "dev-%s%s.hyp.tsv", s->name, suffix);
        for (char *c = name; *c; c++)
            if (*c == '/')
                *c = '-';
        char *path = join(r->outdir, name);
        hf = path ? fopen(path, "w") : NULL;
        free(path);
    }
    for (int u = 0; u < s->n_utts; u++) {
        if (s->utts[u].n_frames < 0 || !s->utts[u].text)
            continue;
        const char *h = hyps[u] ? hyps[u] : "";
        asr_errors a = asr_wer(s->utts[u].text, h), c = asr_cer(s->utts[u].text, h);
        we += a.edits;
        wn += a.ref_len;
        ce += c.edits;
        cn += c.ref_len;
        if (hf)
            fprintf(hf, "%s\t%s\t%s\n", s->utts[u].path, s->utts[u].text, h);
    }
    if (hf)
        fclose(hf);
    *wer = wn ? 100.0 * we / wn : 0;
    *cer = cn ? 100.0 * ce / cn : 0;
}

/* Decodes every utterance of dev set `s` greedily, and with r->lm also with the beam search and the
 * LM (asrd's shipped decoder: ctc_beam_default_params()); returns WER/CER in wer[0], cer[0] (greedy)
 * and wer[1], cer[1] (beam + LM, when r->lm). */
static asr_status eval_set(run *r, tdata_set *s, double *wer, double *cer, asr_error *err)
{
    const int B = r->cfg.batch_size, n_out = r->desc.n_out;
    tdata_item *items = malloc(sizeof(*items) * (size_t)(s->n_utts ? s->n_utts : 1));
    char **hyps = calloc((size_t)(s->n_utts ? s->n_utts : 1), sizeof(char *));
    char **hyps_lm = calloc((size_t)(s->n_utts ? s->n_utts : 1), sizeof(char *));
    float *lp = malloc(sizeof(float) * (size_t)r->max_T * (size_t)B * (size_t)n_out);
    const double frame_ms = r->cfg.mfcc.frame_shift_ms * r->cfg.stride;
    ctc_greedy *dec = ctc_greedy_create(r->desc.alphabet, n_out, frame_ms, err);
    ctc_beam_params bp = ctc_beam_default_params();
    ctc_beam *beam =
        dec && r->lm ? ctc_beam_create(r->desc.alphabet, n_out, frame_ms, &bp, r->lm, r->lex, err) : NULL;
    tdata_set *sets[1] = {s};
    asr_status st = ASR_OK;
    int n = 0;
    if (!dec || (r->lm && !beam)) {
        st = err->code;
        goto out;
    }
    if (!items || !hyps || !hyps_lm || !lp) {
        st = asr_error_set(err, ASR_ERR_NOMEM, "eval: out of memory");
        goto out;
    }
    for (int u = 0; u < s->n_utts; u++)
        if (s->utts[u].n_out > 0)
            items[n++] = (tdata_item){0, u};
    cmp_len_ptr = s;
    qsort(items, (size_t)n, sizeof(*items), cmp_dev);
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B;
        tdata_feat feat = feat_recipe(r, 0, 0, 0);
        st = tdata_batch_fill(&r->batch, sets, items + i0, nb, &feat, err);
        if (st != ASR_OK)
            goto out;
        st = tnet_forward(r->net, r->batch.T, nb, r->batch.x, r->batch.lens, lp);
        if (st != ASR_OK) {
            asr_error_set(err, st, "eval %s: tnet_forward failed: %s", s->name, asr_strerror(st));
            goto out;
        }
        for (int b = 0; b < nb; b++) {
            asr_result res;
            ctc_greedy_reset(dec);
            for (int t = 0; t < r->batch.lens[b]; t++)
                ctc_greedy_push(dec, lp + ((size_t)t * (size_t)nb + (size_t)b) * (size_t)n_out);
            if (ctc_greedy_final(dec, &res) != ASR_OK) {
                st = asr_error_set(err, ASR_ERR_NOMEM, "eval: out of memory");
                goto out;
            }
            hyps[items[i0 + b].utt] = strdup(res.text ? res.text : "");
            asr_result_free(&res);
            if (!beam)
                continue;
            ctc_beam_reset(beam);
            for (int t = 0; t < r->batch.lens[b]; t++)
                ctc_beam_push(beam, lp + ((size_t)t * (size_t)nb + (size_t)b) * (size_t)n_out);
            if (ctc_beam_final(beam, &res) != ASR_OK) {
                st = asr_error_set(err, ASR_ERR_NOMEM, "eval: out of memory");
                goto out;
            }
            hyps_lm[items[i0 + b].utt] = strdup(res.text ? res.text : "");
            asr_result_free(&res);
        }
    }
    score_set(r, s, hyps, "", &wer[0], &cer[0]);
    if (beam)
        score_set(r, s, hyps_lm, "+lm", &wer[1], &cer[1]);
out:
    for (int u = 0; u < s->n_utts; u++) {
        if (hyps)
            free(hyps[u]);
        if (hyps_lm)
            free(hyps_lm[u]);
    }
    free(hyps);
    free(hyps_lm);
    ctc_beam_destroy(beam);
    free(items);
    free(lp);
    ctc_greedy_destroy(dec);
    return st;
}

/* Evaluates every dev set, logs, and keeps best.model. */
static asr_status evaluate(run *r, asr_error *err)
{
    r->last_eval = r->st.update;
    if (r->n_dev == 0)
        return ASR_OK;
    double sum_w[2] = {0, 0}, sum_c[2] = {0, 0}, t0 = now_s();
    for (int i = 0; i < r->n_dev; i++) {
        double w[2], c[2];
        asr_status s = eval_set(r, r->dev[i], w, c, err);
        if (s != ASR_OK)
            return s;
        for (int k = 0; k < (r->lm ? 2 : 1); k++) {
            sum_w[k] += w[k];
            sum_c[k] += c[k];
            printf("eval update %lld epoch %lld %-16s WER %6.2f%% CER %6.2f%%%s\n", r->st.update, r->st.epoch,
                   r->dev[i]->name, w[k], c[k], k ? " (beam + LM)" : "");
            fprintf(r->evalf, "%lld\t%lld\t%s%s\t%.3f\t%.3f\n", r->st.update, r->st.epoch, r->dev[i]->name,
                    k ? "+lm" : "", w[k], c[k]);
        }
    }
    double mw = sum_w[0] / r->n_dev, mc = sum_c[0] / r->n_dev;
    double mwl = sum_w[1] / r->n_dev, mcl = sum_c[1] / r->n_dev;
    double metric = r->cfg.best_metric == TCFG_BEST_CER      ? mc
                    : r->cfg.best_metric == TCFG_BEST_WER_LM ? mwl
                                                             : mw;
    fprintf(r->evalf, "%lld\t%lld\tmean\t%.3f\t%.3f\n", r->st.update, r->st.epoch, mw, mc);
    if (r->lm)
        fprintf(r->evalf, "%lld\t%lld\tmean+lm\t%.3f\t%.3f\n", r->st.update, r->st.epoch, mwl, mcl);
    fflush(r->evalf);
    int better = metric < r->st.best_metric;
    char lm[80] = "";
    if (r->lm)
        snprintf(lm, sizeof(lm), "; beam + LM WER %.2f%% CER %.2f%%", mwl, mcl);
    printf("eval update %lld mean WER %.2f%% CER %.2f%%%s (%.1f s)%s\n", r->st.update, mw, mc, lm,
           now_s() - t0, better ? " - new best" : "");
    fflush(stdout);
    if (better) {
        r->st.best_metric = metric;
        r->st.best_update = r->st.update;
        return write_model(r, "best.model", err);
    }
    return ASR_OK;
}

static void run_free(run *r)
{
    for (int i = 0; i < r->n_train; i++)
        tdata_set_free(r->train[i]);
    for (int i = 0; i < r->n_dev; i++)
        tdata_set_free(r->dev[i]);
    free(r->train);
    free(r->dev);
    tdata_batch_free(&r->batch);
    mfcc_destroy(r->fe);
    pdict_free(r->phones);
    ctc_lexicon_destroy(r->lex);
    asr_lm_free(r->lm);
    tnet_destroy(r->net);
    topt_destroy(r->opt);
    asr_model_desc_free(&r->desc);
    asr_model_desc_free(&r->init);
    if (r->log)
        fclose(r->log);
    if (r->evalf)
        fclose(r->evalf);
    tcfg_free(&r->cfg);
}

static FILE *open_table(const char *dir, const char *name, const char *header)
{
    char *path = join(dir, name);
    if (!path)
        return NULL;
    struct stat sb;
    int exists = stat(path, &sb) == 0 && sb.st_size > 0;
    FILE *f = fopen(path, "a");
    free(path);
    if (f && !exists)
        fprintf(f, "%s\n", header);
    return f;
}

/* ---- batch dump for the PyTorch benchmark ---- */

static int dump_batches(run *r, const char *path, int count, asr_error *err)
{
    tdata_epoch e;
    if (tdata_epoch_plan(r->train, r->n_train, 0, r->cfg.seed, r->cfg.batch_size, r->cfg.max_frames, &e, err))
        return 1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "asr-train: %s: %s\n", path, strerror(errno));
        tdata_epoch_free(&e);
        return 1;
    }
    int nb = count < e.n_batches ? count : e.n_batches;
    int hdr[4] = {nb, r->cfg.mfcc.num_ceps * r->cfg.stack, r->desc.n_out, 0};
    fwrite("ASRBATCH", 1, 8, f);
    fwrite(hdr, sizeof(int), 4, f);
    double secs = 0;
    for (int b = 0; b < nb; b++) {
        tdata_feat feat = feat_recipe(r, 1, 0, b);
        if (tdata_batch_fill(&r->batch, r->train, e.items + e.batch_start[b],
                             e.batch_start[b + 1] - e.batch_start[b], &feat, err)) {
            fclose(f);
            tdata_epoch_free(&e);
            return 1;
        }
        tdata_batch *x = &r->batch;
        int nl = 0;
        for (int i = 0; i < x->B; i++)
            nl += x->label_lens[i];
        int h[3] = {x->T, x->B, nl};
        fwrite(h, sizeof(int), 3, f);
        fwrite(&x->audio_seconds, sizeof(double), 1, f);
        fwrite(x->x, sizeof(float), (size_t)x->T * x->B * x->I, f);
        fwrite(x->lens, sizeof(int), (size_t)x->B, f);
        fwrite(x->label_lens, sizeof(int), (size_t)x->B, f);
        fwrite(x->labels, sizeof(int), (size_t)nl, f);
        secs += x->audio_seconds;
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "asr-train: %s: write failed\n", path);
        tdata_epoch_free(&e);
        return 1;
    }
    printf("dumped %d batches (%.1f s of audio) to %s\n", nb, secs, path);
    tdata_epoch_free(&e);
    return 0;
}

typedef struct dump_batch {
    int T, B, n_labels;
    double secs;
    float *x;
    int *lens, *label_lens, *labels;
} dump_batch;

static int train_dump(run *r, const char *path, long steps, asr_error *err)
{
    FILE *f = fopen(path, "rb");
    char magic[8];
    int hdr[4];
    dump_batch *bs = NULL;
    int nb = 0, rc = 1;
    float *loss = NULL;
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "ASRBATCH", 8) ||
        fread(hdr, sizeof(int), 4, f) != 4) {
        fprintf(stderr, "asr-train: %s: not a batch dump\n", path);
        goto out;
    }
    nb = hdr[0];
    bs = calloc((size_t)nb, sizeof(*bs));
    int maxT = 1, maxB = 1;
    for (int b = 0; bs && b < nb; b++) {
        dump_batch *d = &bs[b];
        int h[3];
        if (fread(h, sizeof(int), 3, f) != 3 || fread(&d->secs, sizeof(double), 1, f) != 1)
            goto trunc;
        d->T = h[0], d->B = h[1], d->n_labels = h[2];
        size_t nx = (size_t)d->T * d->B * hdr[1];
        d->x = malloc(sizeof(float) * nx);
        d->lens = malloc(sizeof(int) * d->B);
        d->label_lens = malloc(sizeof(int) * d->B);
        d->labels = malloc(sizeof(int) * (d->n_labels + 1));
        if (!d->x || !d->lens || !d->label_lens || !d->labels || fread(d->x, sizeof(float), nx, f) != nx ||
            fread(d->lens, sizeof(int), d->B, f) != (size_t)d->B ||
            fread(d->label_lens, sizeof(int), d->B, f) != (size_t)d->B ||
            fread(d->labels, sizeof(int), d->n_labels, f) != (size_t)d->n_labels)
            goto trunc;
        if (d->T > maxT)
            maxT = d->T;
        if (d->B > maxB)
            maxB = d->B;
    }
    if (hdr[1] != r->cfg.mfcc.num_ceps * r->cfg.stack) {
        fprintf(stderr, "asr-train: %s: input size %d does not match the config's %d\n", path, hdr[1],
                r->cfg.mfcc.num_ceps * r->cfg.stack);
        goto out;
    }
    {
        asr_model_desc arch = r->desc;
        arch.slab = NULL;
        r->net = tnet_create(&arch, maxB, maxT, r->cfg.seed, err);
    }
    if (!r->net)
        goto fail;
    tnet_set_threads(r->net, r->cfg.threads);
    r->opt = topt_create(tnet_n_params(r->net), &r->cfg, err);
    loss = malloc(sizeof(float) * maxB);
    if (!r->opt || !loss)
        goto fail;
    double audio = 0, t0 = now_s(), lsum = 0;
    for (long s = 0; s < steps; s++) {
        dump_batch *d = &bs[s % nb];
        tnet_zero_grad(r->net);
        asr_status st =
            tnet_train_batch(r->net, d->T, d->B, d->x, d->lens, d->labels, d->label_lens, loss, NULL);
        if (st != ASR_OK) {
            asr_error_set(err, st, "tnet_train_batch: %s", asr_strerror(st));
            goto fail;
        }
        double norm = topt_norm(tnet_grads(r->net), tnet_n_params(r->net));
        double scale = topt_clip_scale(norm, 1.0 / d->B, r->cfg.clip);
        topt_step(r->opt, tnet_params(r->net), tnet_grads(r->net), scale, r->cfg.lr);
        double l = 0;
        for (int i = 0; i < d->B; i++)
            l += loss[i];
        lsum = l / d->B;
        if (s == 0) /* the first step warms up (allocation, thread start): not timed */
            t0 = now_s();
        else
            audio += d->secs;
        if (s == 0 || (s + 1) % 10 == 0)
            printf("step %ld loss %.3f\n", s + 1, lsum);
    }
    double dt = now_s() - t0;
    printf(
        "asr-train: %ld steps (first untimed), %.1f s of audio in %.2f s: %.1f audio s/s (final loss %.3f)\n",
        steps, audio, dt, audio / dt, lsum);
    rc = 0;
    goto out;
trunc:
    fprintf(stderr, "asr-train: %s: truncated batch dump\n", path);
    goto out;
fail:
    fprintf(stderr, "asr-train: %s\n", err->msg);
out:
    if (f)
        fclose(f);
    for (int b = 0; bs && b < nb; b++) {
        free(bs[b].x);
        free(bs[b].lens);
        free(bs[b].label_lens);
        free(bs[b].labels);
    }
    free(bs);
    free(loss);
    return rc;
}

/* ---- exported model vs runtime ---- */

static int check_model(run *r, const char *model_path, int count, asr_error *err)
{
    asr_model_desc d;
    asr_model *m = NULL;
    asr_stream *s = NULL;
    float *lp = NULL, *row = NULL;
    int rc = 1;
    memset(&d, 0, sizeof(d));
    if (asr_model_read(model_path, &d, err) != ASR_OK || !(m = asr_model_load(model_path, err)) ||
        !(s = asr_stream_create(m, err)))
        goto fail;
    tdata_set *set = r->train[0];
    int n = 0, maxT = 1;
    for (int u = 0; u < set->n_utts && n < count; u++)
        if (set->utts[u].n_out > 0) {
            n++;
            if (set->utts[u].n_out > maxT)
                maxT = set->utts[u].n_out;
        }
    r->net = tnet_create(&d, 1, maxT, 0, err);
    if (!r->net)
        goto fail;
    tnet_set_threads(r->net, r->cfg.threads);
    lp = malloc(sizeof(float) * (size_t)maxT * d.n_out);
    row = malloc(sizeof(float) * d.n_out);
    if (!lp || !row) {
        asr_error_set(err, ASR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    double maxdiff = 0;
    long frames = 0;
    n = 0;
    for (int u = 0; u < set->n_utts && n < count; u++) {
        const tdata_utt *ut = &set->utts[u];
        if (ut->n_out <= 0)
            continue;
        n++;
        tdata_item it = {0, u};
        tdata_feat feat = feat_recipe(r, 0, 0, 0);
        feat.mean = d.feat_mean;
        feat.std = d.feat_std;
        feat.cmvn = d.cmvn;
        feat.stack = d.stack;
        feat.stride = d.stride;
        if (tdata_batch_fill(&r->batch, r->train, &it, 1, &feat, err) != ASR_OK)
            goto fail;
        asr_status st = tnet_forward(r->net, r->batch.T, 1, r->batch.x, r->batch.lens, lp);
        if (st != ASR_OK) {
            asr_error_set(err, st, "tnet_forward: %s", asr_strerror(st));
            goto fail;
        }
        asr_stream_reset(s);
        if (asr_stream_accept_features(s, ut->feats, ut->n_frames) != ASR_OK) {
            asr_error_set(err, ASR_ERR_ARG, "asr_stream_accept_features failed");
            goto fail;
        }
        int t = 0;
        while (asr_stream_pop(s, row)) {
            if (t < ut->n_out)
                for (int k = 0; k < d.n_out; k++) {
                    double df = fabs((double)row[k] - lp[(size_t)t * d.n_out + k]);
                    if (!(df <= maxdiff))
                        maxdiff = df;
                }
            t++;
        }
        if (t != ut->n_out) {
            printf("check-model: %s: runtime gave %d frames, tnet %d\n", ut->path, t, ut->n_out);
            maxdiff = INFINITY;
        }
        frames += t;
    }
    printf("check-model: %d utterances, %ld frames, max |logprob diff| = %.3g\n", n, frames, maxdiff);
    rc = maxdiff <= 1e-4 ? 0 : 2;
    goto out;
fail:
    fprintf(stderr, "asr-train: %s\n", err->msg);
out:
    free(lp);
    free(row);
    asr_stream_destroy(s);
    asr_model_free(m);
    asr_model_desc_free(&d);
    return rc;
}

/* ---- training ---- */

static int train(run *r, const char *resume_dir, long max_updates, asr_error *err)
{
    tdata_epoch e;
    memset(&e, 0, sizeof(e));
    float *loss = NULL, *aux_w = NULL, *aux_loss = NULL;
    int *infeasible = NULL, *aux_inf = NULL, rc = 1;
    {
        asr_model_desc arch = r->desc;
        arch.slab = NULL; /* fresh parameters from the seed */
        if (r->init.slab && !resume_dir) {
            arch = r->init; /* fine-tuning: the init model's weights (a resumed run has its own) */
            printf("initial weights: %s\n", r->cfg.init_model);
        }
        /* The phone head is training-only: a warm start draws it from the seed (tnet_create_aux). */
        r->net = tnet_create_aux(&arch, r->phones ? PDICT_N_CLASSES : 0, r->cfg.batch_size, r->max_T,
                                 r->cfg.seed, err);
    }
    if (!r->net)
        goto fail;
    tnet_set_threads(r->net, r->cfg.threads);
    const size_t np = tnet_n_params(r->net);
    r->opt = topt_create(np, &r->cfg, err);
    loss = malloc(sizeof(float) * (size_t)r->cfg.batch_size);
    infeasible = malloc(sizeof(int) * (size_t)r->cfg.batch_size);
    aux_w = malloc(sizeof(float) * (size_t)r->cfg.batch_size);
    aux_loss = malloc(sizeof(float) * (size_t)r->cfg.batch_size);
    aux_inf = malloc(sizeof(int) * (size_t)r->cfg.batch_size);
    if (!r->opt || !loss || !infeasible || !aux_w || !aux_loss || !aux_inf)
        goto fail;
    memset(&r->st, 0, sizeof(r->st));
    r->st.best_metric = 1e30;
    r->st.best_update = -1;
    r->st.seed = (long long)r->cfg.seed;
    if (resume_dir) {
        char *path = join(resume_dir, "checkpoint.bin");
        asr_status s = path ? tckpt_load(path, &r->st, r->desc.n_feat, r->desc.feat_mean, r->desc.feat_std,
                                         np, tnet_params(r->net), r->opt->m, r->opt->v, err)
                            : ASR_ERR_NOMEM;
        free(path);
        if (s != ASR_OK)
            goto fail;
        if (r->st.seed != (long long)r->cfg.seed) {
            asr_error_set(err, ASR_ERR_CONFIG, "%s: checkpoint seed %lld differs from the config's %llu",
                          resume_dir, r->st.seed, r->cfg.seed);
            goto fail;
        }
        r->opt->step = r->st.update;
        printf("resumed at update %lld (epoch %lld, batch %lld), best %.2f at update %lld\n", r->st.update,
               r->st.epoch, r->st.batch, r->st.best_metric, r->st.best_update);
    }
    if (r->cfg.eval_lm) {
        if (!(r->lm = asr_lm_open(r->cfg.eval_lm, err)) ||
            !(r->lex = ctc_lexicon_create(r->lm, r->desc.alphabet, r->desc.n_out, err)))
            goto fail;
        printf("dev sets also decoded with the beam search (asrd's defaults) and the LM %s (%d words)\n",
               r->cfg.eval_lm, ctc_lexicon_words(r->lex));
    }
    printf("model: %d x %d %s, %zu parameters, dropout %g; max %d network frames per utterance\n",
           r->cfg.layers, r->cfg.hidden, r->cfg.type == NN_GRU ? "GRU" : "LSTM", np, r->cfg.dropout,
           r->max_T);
    if (r->phones)
        printf("aux phone head: %d x %d + %d parameters of the %zu (training only: not in the exported "
               "models)\n",
               PDICT_N_CLASSES, r->cfg.hidden, PDICT_N_CLASSES, np);
    /* OpenBLAS picks its kernels from the CPU model; on CPUs it does not know (virtual machines) it
     * falls back to its SSE3 "Prescott" kernels, about 3x slower here (model/recipe/train.sh sets
     * OPENBLAS_CORETYPE from the CPU's flags). */
    const char *core = openblas_get_corename();
    printf("BLAS: OpenBLAS %s kernels%s\n", core ? core : "?",
           core && !strcmp(core, "Prescott") && __builtin_cpu_supports("avx2")
               ? " on an AVX2 CPU: slow; set OPENBLAS_CORETYPE=Haswell (or SkylakeX with AVX-512)"
               : "");
    fflush(stdout);

    /* schedule length for cosine: config's max_updates, else epochs x batches of epoch 0 */
    long total = r->cfg.max_updates;
    if (total <= 0) {
        if (tdata_epoch_plan(r->train, r->n_train, 0, r->cfg.seed, r->cfg.batch_size, r->cfg.max_frames, &e,
                             err))
            goto fail;
        total = (long)e.n_batches * r->cfg.epochs;
        tdata_epoch_free(&e);
    }
    const double t_start = now_s();
    double t_ckpt = t_start, t_win = 0, audio_win = 0, loss_win = 0, frames_win = 0, norm_win = 0;
    /* phone loss and frames per utterance with phone targets, summed over the window */
    double ploss_win = 0, pframes_win = 0;
    long n_win = 0, np_win = 0, planned_epoch = -1;
    int finished = 0, stopped = 0;
    for (;;) {
        if (r->st.epoch >= r->cfg.epochs) {
            finished = 1;
            break;
        }
        if (max_updates > 0 && r->st.update >= max_updates) {
            finished = 1;
            break;
        }
        if (g_stop || (r->cfg.max_hours > 0 && now_s() - t_start > r->cfg.max_hours * 3600)) {
            stopped = 1;
            break;
        }
        if (planned_epoch != r->st.epoch) {
            tdata_epoch_free(&e);
            if (tdata_epoch_plan(r->train, r->n_train, (int)r->st.epoch, r->cfg.seed, r->cfg.batch_size,
                                 r->cfg.max_frames, &e, err))
                goto fail;
            planned_epoch = r->st.epoch;
        }
        if (r->st.batch < e.n_batches) {
            double t0 = now_s();
            int b = (int)r->st.batch;
            int n = e.batch_start[b + 1] - e.batch_start[b];
            tdata_feat feat = feat_recipe(r, 1, (long)r->st.epoch, b);
            if (tdata_batch_fill(&r->batch, r->train, e.items + e.batch_start[b], n, &feat, err))
                goto fail;
            tdata_specaugment(&r->batch, r->desc.n_feat, r->cfg.time_masks, r->cfg.time_mask_width,
                              r->cfg.freq_masks, r->cfg.freq_mask_width,
                              tdata_mix(tdata_mix(r->cfg.seed, 0x5350454341554755ULL + (uint64_t)r->st.epoch),
                                        (uint64_t)b));
            tnet_set_dropout(r->net, (float)r->cfg.dropout,
                             tdata_mix(tdata_mix(r->cfg.seed, 0x44524f504f555421ULL + (uint64_t)r->st.epoch),
                                       (uint64_t)b));
            tnet_zero_grad(r->net);
            tnet_aux_targets aux = {r->batch.phones, r->batch.phone_lens, aux_w, aux_loss, aux_inf};
            for (int i = 0; i < n; i++)
                aux_w[i] = r->batch.has_phones[i] ? (float)r->cfg.aux_phone_weight : 0.0f;
            asr_status s =
                tnet_train_batch_aux(r->net, r->batch.T, n, r->batch.x, r->batch.lens, r->batch.labels,
                                     r->batch.label_lens, r->phones ? &aux : NULL, loss, infeasible);
            if (s != ASR_OK) {
                asr_error_set(err, s, "tnet_train_batch: %s", asr_strerror(s));
                goto fail;
            }
            int nf = 0, npf = 0;
            double lsum = 0, fr = 0, psum = 0, pfr = 0;
            for (int i = 0; i < n; i++) {
                if (!infeasible[i]) {
                    nf++;
                    lsum += loss[i];
                    fr += r->batch.lens[i];
                }
                if (r->phones && aux_w[i] > 0 && !aux_inf[i]) {
                    npf++;
                    psum += aux_loss[i];
                    pfr += r->batch.lens[i];
                }
            }
            if (npf > 0) {
                ploss_win += psum / npf;
                pframes_win += pfr / npf;
                np_win++;
            }
            r->st.update++;
            r->st.batch++;
            double lr = topt_lr(&r->cfg, (long)r->st.update, total);
            double norm = topt_norm(tnet_grads(r->net), np);
            if (nf > 0 && isfinite(lsum) && isfinite(norm)) {
                double scale = topt_clip_scale(norm, 1.0 / nf, r->cfg.clip);
                topt_step(r->opt, tnet_params(r->net), tnet_grads(r->net), scale, lr);
            } else {
                asr_log(ASR_LOG_WARN, "update %lld: non-finite loss or gradient, update skipped",
                        r->st.update);
                r->opt->step++; /* keep Adam's step equal to the update count */
            }
            r->st.audio_seconds += r->batch.audio_seconds;
            double dt = now_s() - t0;
            r->st.train_seconds += dt;
            t_win += dt;
            audio_win += r->batch.audio_seconds;
            loss_win += nf ? lsum / nf : 0;
            frames_win += nf ? fr / nf : 0;
            norm_win += nf ? norm / nf : 0;
            n_win++;
            if (r->st.update % r->cfg.log_every == 0) {
                double l = loss_win / n_win, lf = loss_win / (frames_win > 0 ? frames_win : 1);
                char pl[64] = "";
                double pmean = np_win ? ploss_win / np_win : NAN,
                       pf = pframes_win > 0 ? ploss_win / pframes_win : NAN;
                if (r->phones)
                    snprintf(pl, sizeof(pl), " phone loss %.3f (%.4f/frame)", pmean, pf);
                printf("update %lld epoch %lld (%3.0f%%) loss %.3f (%.4f/frame)%s lr %.2e |g| %.2f %.1f "
                       "audio s/s "
                       "(%.2f h seen)\n",
                       r->st.update, r->st.epoch, 100.0 * r->st.batch / e.n_batches, l, lf, pl, lr,
                       norm_win / n_win, audio_win / t_win, r->st.audio_seconds / 3600);
                fprintf(r->log, "%lld\t%lld\t%.5f\t%.6f\t%.4e\t%.4f\t%.2f\t%.1f", r->st.update, r->st.epoch,
                        l, lf, lr, norm_win / n_win, audio_win / t_win, r->st.train_seconds);
                if (r->phones)
                    fprintf(r->log, "\t%.5f\t%.6f", pmean, pf);
                fprintf(r->log, "\n");
                fflush(r->log);
                fflush(stdout);
                t_win = audio_win = loss_win = frames_win = norm_win = ploss_win = pframes_win = 0;
                n_win = np_win = 0;
            }
            if (r->cfg.eval_every > 0 && r->st.update % r->cfg.eval_every == 0 && evaluate(r, err))
                goto fail;
        }
        if (r->st.batch >= e.n_batches) {
            if (r->cfg.eval_every == 0) {
                printf("epoch %lld done\n", r->st.epoch);
                if (evaluate(r, err))
                    goto fail;
            }
            r->st.epoch++;
            r->st.batch = 0;
        }
        if (r->cfg.checkpoint_minutes > 0 && now_s() - t_ckpt > r->cfg.checkpoint_minutes * 60) {
            if (save_checkpoint(r, err) || write_model(r, "last.model", err))
                goto fail;
            t_ckpt = now_s();
        }
    }
    if (finished && r->last_eval != r->st.update && evaluate(r, err))
        goto fail;
    if (write_model(r, "last.model", err) || save_checkpoint(r, err))
        goto fail;
    if (r->n_dev == 0 && write_model(r, "best.model", err))
        goto fail;
    printf(
        "%s at update %lld (epoch %lld): %.2f h of audio in %.2f h of training; best dev %s %.2f%% at update "
        "%lld; checkpoint saved in %s\n",
        stopped ? (g_stop ? "interrupted" : "time limit reached") : "finished", r->st.update, r->st.epoch,
        r->st.audio_seconds / 3600, r->st.train_seconds / 3600,
        r->cfg.best_metric == TCFG_BEST_CER      ? "CER"
        : r->cfg.best_metric == TCFG_BEST_WER_LM ? "WER (beam + LM)"
                                                 : "WER",
        r->st.best_metric < 1e29 ? r->st.best_metric : NAN, r->st.best_update, r->outdir);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "asr-train: %s\n", err->msg);
out:
    tdata_epoch_free(&e);
    free(loss);
    free(infeasible);
    free(aux_w);
    free(aux_loss);
    free(aux_inf);
    return rc;
}

/* The number in s, which must be all digits (an optional sign) and lie in [lo, hi]; else prints
 * "asr-train: OPT: ..." and returns 0. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || end == s) {
        fprintf(stderr, "asr-train: %s: expected a whole number, got '%s'\n", opt, s);
        return 0;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "asr-train: %s: %s is out of range [%ld, %ld]\n", opt, s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *resume = NULL, *outdir = NULL, *dump = NULL, *tdump = NULL, *check = NULL;
    long max_updates = -1, threads = 0, dump_count = 20, check_count = 8;
    enum {
        O_CONFIG = 256,
        O_RESUME,
        O_OUTDIR,
        O_MAX_UPDATES,
        O_THREADS,
        O_DUMP,
        O_DUMP_COUNT,
        O_TDUMP,
        O_CHECK,
        O_CHECK_COUNT
    };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"config", required_argument, NULL, O_CONFIG},
        {"resume", required_argument, NULL, O_RESUME},
        {"outdir", required_argument, NULL, O_OUTDIR},
        {"max-updates", required_argument, NULL, O_MAX_UPDATES},
        {"threads", required_argument, NULL, O_THREADS},
        {"dump-batches", required_argument, NULL, O_DUMP},
        {"dump-count", required_argument, NULL, O_DUMP_COUNT},
        {"train-dump", required_argument, NULL, O_TDUMP},
        {"check-model", required_argument, NULL, O_CHECK},
        {"check-count", required_argument, NULL, O_CHECK_COUNT},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own messages, with the usage */
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case O_CONFIG:
            config = optarg;
            break;
        case O_RESUME:
            resume = optarg;
            break;
        case O_OUTDIR:
            outdir = optarg;
            break;
        case O_DUMP:
            dump = optarg;
            break;
        case O_TDUMP:
            tdump = optarg;
            break;
        case O_CHECK:
            check = optarg;
            break;
        /* 0 would train nothing; 10^9 updates is years of training here. */
        case O_MAX_UPDATES:
            ok = parse_long("--max-updates", optarg, 1, 1000000000L, &max_updates);
            break;
        case O_THREADS:
            ok = parse_long("--threads", optarg, 1, 256, &threads);
            break; /* the config's range */
        case O_DUMP_COUNT:
            ok = parse_long("--dump-count", optarg, 1, 1000000L, &dump_count);
            break;
        case O_CHECK_COUNT:
            ok = parse_long("--check-count", optarg, 1, 1000000L, &check_count);
            break;
        case ':':
            fprintf(stderr, "asr-train: %s needs a value\n", argv[optind - 1]);
            ok = 0;
            break;
        default: /* '?' */
            if (optopt)
                fprintf(stderr, "asr-train: unknown option -%c\n", optopt);
            else
                fprintf(stderr, "asr-train: unknown or ambiguous option %s\n", argv[optind - 1]);
            ok = 0;
            break;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "asr-train: unexpected argument '%s' (every input is an option)\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!!dump + !!tdump + !!check > 1) {
        fprintf(stderr, "asr-train: --dump-batches, --train-dump and --check-model exclude each other\n");
        usage(stderr);
        return 2;
    }
    if (resume && outdir) {
        fprintf(stderr, "asr-train: --resume DIR writes into DIR: --outdir cannot be given with it\n");
        usage(stderr);
        return 2;
    }
    if (!config) {
        fprintf(stderr, "asr-train: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    run r;
    asr_error err = {ASR_OK, ""};
    memset(&r, 0, sizeof(r));
    r.last_eval = -1;
    if (tcfg_load(config, &r.cfg, &err) != ASR_OK) {
        fprintf(stderr, "asr-train: %s\n", err.msg);
        return 2;
    }
    if (threads > 0)
        r.cfg.threads = (int)threads;
    if (max_updates < 0)
        max_updates = r.cfg.max_updates;
    r.outdir = (char *)(resume ? resume : outdir ? outdir : r.cfg.outdir);
    r.shift_s = r.cfg.mfcc.frame_shift_ms / 1000.0;
    if ((r.cfg.vtlp > 0 || r.cfg.speed > 0) && !(r.fe = mfcc_create(&r.cfg.mfcc, &err))) {
        fprintf(stderr, "asr-train: %s: features.mfcc: %s\n", config, err.msg);
        tcfg_free(&r.cfg);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 1;
    if (load_sets(&r, &err) != ASR_OK || make_desc(&r, &err) != ASR_OK) {
        if (g_stop) {
            fprintf(stderr, "asr-train: interrupted before training started (%s)\n", err.msg);
            rc = 0;
        } else {
            fprintf(stderr, "asr-train: %s\n", err.msg);
            if (err.code == ASR_ERR_CONFIG)
                rc = 2; /* as for errors in the config file itself */
        }
        goto out;
    }
    if (dump) {
        rc = dump_batches(&r, dump, (int)dump_count, &err);
        if (rc)
            fprintf(stderr, "asr-train: %s\n", err.msg);
        goto out;
    }
    if (tdump) {
        rc = train_dump(&r, tdump, max_updates > 0 ? max_updates : 20, &err);
        goto out;
    }
    if (check) {
        rc = check_model(&r, check, (int)check_count, &err);
        goto out;
    }
    if (tdata_mkdirs(r.outdir) != 0) {
        fprintf(stderr, "asr-train: %s: cannot create folder: %s\n", r.outdir, strerror(errno));
        goto out;
    }
    {
        char *cp = join(r.outdir, "config.yaml");
        if (!cp || copy_file(config, cp) != 0)
            fprintf(stderr, "asr-train: warning: cannot copy %s into %s\n", config, r.outdir);
        free(cp);
    }
    r.log = open_table(r.outdir, "log.tsv",
                       r.cfg.aux_phone_dict
                           ? "update\tepoch\tloss\tloss_per_frame\tlr\tgrad_norm\taudio_s_per_s\ttrain_"
                             "s\tphone_loss\tphone_loss_per_frame"
                           : "update\tepoch\tloss\tloss_per_frame\tlr\tgrad_norm\taudio_s_per_s\ttrain_s");
    r.evalf = open_table(r.outdir, "eval.tsv", "update\tepoch\tset\twer\tcer");
    if (!r.log || !r.evalf) {
        fprintf(stderr, "asr-train: %s: cannot write log files\n", r.outdir);
        goto out;
    }
    rc = train(&r, resume, max_updates, &err);
out:
    run_free(&r);
    return rc;
}
