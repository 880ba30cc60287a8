/* test_train_config.c - the trainer's YAML configuration: values, defaults, environment
 * expansion, globs, and errors located as file:line:column. Expected positions are computed from
 * the test's own text (line and column of a marker), not copied from the parser's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/train/config.h"
#include "test_util.h"

static char dir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* "name:L:C:" of the last occurrence of `marker` in text (1-based): the texts put the bad value
 * after the temp dir path, which holds the PID and so may contain a numeric marker too. */
static void where(const char *name, const char *text, const char *marker, char *out, size_t n)
{
    const char *p = strstr(text, marker);
    for (const char *q = p; q; q = strstr(q + 1, marker))
        p = q;
    int line = 1, col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, n, "%s:%d:%d:", name, line, col);
}

/* Parses text; expects failure with a message starting at the marker's position. */
static void expect_error(const char *text, const char *marker, const char *words)
{
    tcfg c;
    asr_error err = {ASR_OK, ""};
    char want[300];
    where("t.yaml", text, marker, want, sizeof(want));
    asr_status st = tcfg_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK(st == ASR_ERR_CONFIG, "status %d for marker '%s'", st, marker);
    CHECK(strncmp(err.msg, want, strlen(want)) == 0, "message '%s' should start with '%s'", err.msg, want);
    CHECK(strstr(err.msg, words) != NULL, "message '%s' should mention '%s'", err.msg, words);
    CHECK(c.train == NULL && c.source == NULL, "config freed after an error");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_train_config.%d", (int)getpid());
    char path[512], text[4096];
    snprintf(path, sizeof(path), "mkdir -p %s/corpus", dir);
    if (system(path) != 0)
        return 1;
    const char *names[] = {"b.tsv", "a.tsv", "c.tsv"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/corpus/%s", dir, names[i]);
        write_file(path, "x.flac\thello\n");
    }
    setenv("TTC_DIR", dir, 1);
    unsetenv("TTC_UNSET");

    /* a full, valid configuration */
    snprintf(text, sizeof(text),
             "seed: 42\n"
             "threads: 1\n"
             "outdir: ${TTC_UNSET:-fallback}/run\n"
             "epochs: 3\n"
             "max_updates: 1e3\n"
             "eval_every: 50\n"
             "best_metric: cer\n"
             "init_model: ${TTC_DIR}/start.model\n"
             "data:\n"
             "  train:\n"
             "    - {path: \"$TTC_DIR/corpus/*.tsv\", repeat: 2.5}\n"
             "    - ${TTC_DIR}/corpus/a.tsv\n"
             "  dev: [\"%s/corpus/c.tsv\"]\n"
             "  cache_dir: /tmp/x\n"
             "features:\n"
             "  stack: 4\n"
             "  stride: 2\n"
             "  mfcc: {num_mel_bins: 30, num_ceps: 20, high_freq: -200, use_energy: true}\n"
             "model: {type: lstm, layers: 2, hidden: 64, dropout: 0.15}\n"
             "optim: {lr: 3e-4, schedule: cosine, warmup: 7, clip: 0, anneal_start: 600}\n"
             "batch: {size: 5, max_frames: 900}\n"
             "augment: {time_masks: 1, time_mask_width: 4, freq_masks: 2, freq_mask_width: 3}\n",
             dir);
    tcfg c;
    asr_error err = {ASR_OK, ""};
    asr_status st = tcfg_parse(text, strlen(text), "full.yaml", &c, &err);
    CHECK(st == ASR_OK, "valid config: %s", err.msg);
    if (st == ASR_OK) {
        char want[512];
        CHECK(c.seed == 42 && c.threads == 1 && c.epochs == 3 && c.max_updates == 1000 && c.eval_every == 50,
              "run values");
        CHECK(c.best_metric == TCFG_BEST_CER, "best_metric cer");
        snprintf(want, sizeof(want), "%s/start.model", dir);
        CHECK(c.init_model && !strcmp(c.init_model, want), "init_model expanded: %s",
              c.init_model ? c.init_model : "(null)");
        CHECK(!strcmp(c.outdir, "fallback/run"), "outdir default expansion: %s", c.outdir);
        CHECK(c.n_train == 4, "glob (3) + one path: %d", c.n_train);
        if (c.n_train == 4) {
            for (int i = 0; i < 3; i++) {
                snprintf(want, sizeof(want), "%s/corpus/%c.tsv", dir, 'a' + i);
                CHECK(!strcmp(c.train[i].path, want), "glob match %d sorted: %s", i, c.train[i].path);
                CHECK(c.train[i].repeat == 2.5, "repeat 2.5");
            }
            snprintf(want, sizeof(want), "%s/corpus/a.tsv", dir);
            CHECK(!strcmp(c.train[3].path, want) && c.train[3].repeat == 1.0, "plain entry: %s",
                  c.train[3].path);
        }
        CHECK(c.n_dev == 1, "one dev set");
        CHECK(!strcmp(c.cache_dir, "/tmp/x"), "cache_dir");
        CHECK(c.stack == 4 && c.stride == 2, "stacking");
        CHECK(c.mfcc.num_mel_bins == 30 && c.mfcc.num_ceps == 20 && c.mfcc.high_freq == -200 &&
                  c.mfcc.use_energy == 1,
              "mfcc overrides");
        CHECK(c.mfcc.low_freq == 20 && c.mfcc.frame_shift_ms == 10 && c.mfcc.sample_rate == 16000,
              "mfcc defaults kept");
        CHECK(c.type == NN_LSTM && c.layers == 2 && c.hidden == 64 && c.dropout == 0.15, "model");
        CHECK(c.aux_phone_dict == NULL && c.aux_phone_weight == 0, "no aux_phone: no phone head");
        CHECK(c.lr == 3e-4 && c.schedule == TCFG_SCHED_COSINE && c.warmup == 7 && c.clip == 0 &&
                  c.anneal_start == 600,
              "optim");
        CHECK(c.beta1 == 0.9 && c.beta2 == 0.999, "optim defaults");
        CHECK(c.batch_size == 5 && c.max_frames == 900, "batch");
        CHECK(c.time_masks == 1 && c.time_mask_width == 4 && c.freq_masks == 2 && c.freq_mask_width == 3,
              "augment");
        tcfg_free(&c);
    }

    /* the shipped configs parse (their manifests may be absent here: then the error must name the
     * file and a line inside data.train) */
    const char *shipped[] = {"configs/train-default.yaml", "configs/train-gru.yaml",
                             "configs/train-quick.yaml", "configs/train-tiny.yaml",
                             "configs/train-finetune.yaml"};
    setenv("ASRD_SHARED", "/work/shared", 0);
    for (int i = 0; i < (int)(sizeof shipped / sizeof *shipped); i++) {
        if (access(shipped[i], R_OK) != 0)
            continue;
        st = tcfg_load(shipped[i], &c, &err);
        char pre[128];
        snprintf(pre, sizeof(pre), "%s:", shipped[i]);
        CHECK(st == ASR_OK || (st == ASR_ERR_CONFIG && !strncmp(err.msg, pre, strlen(pre)) &&
                               strstr(err.msg, "make corpus")),
              "%s: %s", shipped[i], err.msg);
        tcfg_free(&c);
    }

    /* errors, each located at the offending node */
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nepochs: 2\nbogus: 1\n", dir);
    expect_error(text, "bogus", "unknown key 'bogus'");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  type: gru\n  hiden: 3\n", dir);
    expect_error(text, "hiden", "model: unknown key 'hiden'");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\noptim:\n  lr:   fast\n", dir);
    expect_error(text, "fast", "optim.lr");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel: {layers: 99}\n", dir);
    expect_error(text, "99", "out of range");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel: {dropout: 1.0}\n", dir);
    expect_error(text, "1.0", "model.dropout");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\noptim: {anneal_start: -5}\n", dir);
    expect_error(text, "-5", "optim.anneal_start");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel: {type: transformer}\n", dir);
    expect_error(text, "transformer", "gru or lstm");
    snprintf(text, sizeof(text), "data:\n  train:\n    - %s/corpus/a.tsv\n    - nothing-here/*.tsv\n", dir);
    expect_error(text, "nothing-here", "no manifest matches");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\n  dev:\n    - nothing-here.tsv\n", dir);
    expect_error(text, "nothing-here", "no such manifest");
    snprintf(text, sizeof(text), "data:\n  train:\n    - {path: %s/corpus/a.tsv, weight: 2}\n", dir);
    expect_error(text, "weight", "unknown key 'weight'");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nbatch: 32\n", dir);
    expect_error(text, "32", "expected a mapping");
    expect_error("epochs: 3\n", "epochs", "data.train");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\noutdir: ${OOPS\n", dir);
    expect_error(text, "${OOPS", "unterminated");
    /* YAML syntax error: an unclosed flow sequence; libyaml reports where it noticed */
    {
        const char *bad = "data:\n  train: [a.tsv\nepochs: 3\n";
        st = tcfg_parse(bad, strlen(bad), "bad.yaml", &c, &err);
        int line = 0, col = 0;
        CHECK(st == ASR_ERR_CONFIG && sscanf(err.msg, "bad.yaml:%d:%d:", &line, &col) == 2 && line >= 2,
              "syntax error located: %s", err.msg);
    }
    /* model.aux_phone: the phone CTC head's weight and dictionary (a file that must exist) */
    snprintf(path, sizeof(path), "%s/p.dict", dir);
    write_file(path, "hello HH AH0 L OW1\n");
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: 0.25, dict: "
             "\"${TTC_DIR}/p.dict\"}\n",
             dir);
    st = tcfg_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK(st == ASR_OK && c.aux_phone_weight == 0.25 && c.aux_phone_dict && !strcmp(c.aux_phone_dict, path),
          "aux_phone: weight 0.25, dict expanded: %s", st == ASR_OK ? c.aux_phone_dict : err.msg);
    tcfg_free(&c);
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone:\n    dict: %s\n",
             dir, path);
    st = tcfg_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK(st == ASR_OK && c.aux_phone_weight == 0.3, "aux_phone: weight defaults to 0.3 (%g)",
          st == ASR_OK ? c.aux_phone_weight : -1.0);
    tcfg_free(&c);
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: 0.3, dict: %s/none.dict}\n",
             dir, dir);
    expect_error(text, dir, "none.dict: No such file"); /* at the value: the last occurrence of dir */
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: 0, dict: %s}\n", dir, path);
    expect_error(text, "0, dict", "model.aux_phone.weight: must be > 0");
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: 11, dict: %s}\n", dir, path);
    expect_error(text, "11, dict", "model.aux_phone.weight");
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: lots, dict: %s}\n", dir, path);
    expect_error(text, "lots", "model.aux_phone.weight");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {weight: 0.3}\n",
             dir);
    expect_error(text, "{weight", "dict");
    snprintf(text, sizeof(text),
             "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: {dict: %s, boundary: true}\n", dir,
             path);
    expect_error(text, "boundary", "model.aux_phone: unknown key 'boundary'");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nmodel:\n  aux_phone: 0.3\n", dir);
    expect_error(text, "0.3", "model.aux_phone: expected {weight: W, dict: FILE}");

    /* eval_lm (a file that must exist) and best_metric wer_lm (which needs it) */
    snprintf(path, sizeof(path), "%s/e.arpa", dir);
    write_file(path, "\\data\\\nngram 1=1\n\n\\1-grams:\n-1 hello\n\n\\end\\\n");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\neval_lm: %s\nbest_metric: wer_lm\n", dir,
             path);
    st = tcfg_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK(st == ASR_OK && c.eval_lm && !strcmp(c.eval_lm, path) && c.best_metric == TCFG_BEST_WER_LM,
          "eval_lm and best_metric wer_lm: %s", st == ASR_OK ? "" : err.msg);
    if (st == ASR_OK)
        tcfg_free(&c);
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\n", dir);
    st = tcfg_parse(text, strlen(text), "t.yaml", &c, &err);
    CHECK(st == ASR_OK && !c.eval_lm && c.best_metric == TCFG_BEST_WER, "no eval_lm by default, best by WER");
    if (st == ASR_OK)
        tcfg_free(&c);
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\neval_lm: %s/none.arpa\n", dir, dir);
    char missing[700];
    snprintf(missing, sizeof(missing), "%s/none.arpa", dir);
    expect_error(text, missing, "eval_lm: cannot read");
    snprintf(text, sizeof(text), "data:\n  train: [%s/corpus/a.tsv]\nepochs: 2\nbest_metric: wer_lm\n", dir);
    expect_error(text, "wer_lm", "best_metric: wer_lm needs eval_lm");

    /* missing file */
    st = tcfg_load("/nonexistent/x.yaml", &c, &err);
    CHECK(st == ASR_ERR_IO && strstr(err.msg, "/nonexistent/x.yaml"), "missing file: %s", err.msg);

    /* environment expansion */
    setenv("TTC_A", "alpha", 1);
    int bad = 0;
    char *e = tcfg_expand_env("$TTC_A/${TTC_A}/${TTC_UNSET:-d}/${TTC_UNSET}/$", &bad);
    CHECK(e && !strcmp(e, "alpha/alpha/d//$"), "expansion: %s", e ? e : "(null)");
    free(e);
    e = tcfg_expand_env("${TTC_A:-zzz}x", &bad);
    CHECK(e && !strcmp(e, "alphax"), "set variable wins over default: %s", e ? e : "(null)");
    free(e);

    snprintf(path, sizeof(path), "rm -rf %s", dir);
    if (system(path) != 0)
        fprintf(stderr, "cleanup failed\n");
    return TEST_SUMMARY();
}
