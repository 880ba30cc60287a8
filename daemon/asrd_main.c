/* asrd_main.c - the asrd command line: the streaming daemon (default), batch transcription and
 * Kaldi feature dumps. Exit status: 0 success, 1 a file, the model or start-up failed, 2 usage or
 * configuration error. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/asr_model.h"
#include "batch.h"
#include "capture.h"
#include "config.h"
#include "daemon.h"
#include "features.h"
#include "output.h"

#ifndef ASRD_VERSION
#define ASRD_VERSION "unknown"
#endif
#ifndef ASRD_DATADIR
#define ASRD_DATADIR "/usr/local/share/asrd"
#endif
#define MODEL_NAME "asrd-en.model"
#define LM_NAME "cmu-en-us.lmbin"

static void usage(FILE *f)
{
    fputs("Usage: asrd [--config FILE] [DAEMON OPTIONS]\n"
          "       asrd --batch [--config FILE] [OPTIONS] FILE...\n"
          "       asrd --batch [--config FILE] [OPTIONS] --manifest LIST.tsv [--score]\n"
          "       asrd --check [--config FILE] [--model PATH] [--lm PATH]\n"
          "       asrd --features --kaldi FILE\n"
          "\n"
          "Speech recognition with a streaming GRU/LSTM acoustic model and a CTC greedy or beam search\n"
          "decoder (optionally with a word n-gram language model).\n"
          "\n"
          "Modes:\n"
          "  (none)              the streaming daemon: Vosk-compatible WebSocket recognition, the live\n"
          "                      microphone feed on /mic, GET /healthz, GET /metrics and the browser page,\n"
          "                      all on one port (default 127.0.0.1:2700); runs until SIGTERM/SIGINT\n"
          "  --batch             transcribe audio files (WAV, FLAC, OGG, ... at any sample rate;\n"
          "                      \"-\", given once, reads standard input) and exit\n"
          "  --features --kaldi  print raw MFCC of FILE as Kaldi's compute-mfcc-feats computes them with\n"
          "                      its defaults (13 coefficients, one 10 ms frame per line; no model needed)\n"
          "\n"
          "Daemon options (override the configuration file; see configs/asrd.yaml):\n"
          "  --config FILE       YAML configuration (errors are reported as file:line:column)\n"
          "  --listen HOST:PORT  the one address to listen on: IPv4, [IPv6] or a host name (all its "
          "addresses);\n"
          "                      every interface only as 0.0.0.0 (IPv4), [::] (IPv6), * or \"\" (both);\n"
          "                      port 0 = any free port\n"
          "  --model PATH        model file (default resolution as for --batch, below)\n"
          "  --precision P       float32 or int8: the network's matrix products (model_precision;\n"
          "                      also for --batch; default " ASR_PRECISION_DEFAULT_NAME ")\n"
          "  --threads N         recognition worker threads (default 2)\n"
          "  --device NAME       run the microphone feed from this capture device (\"default\", an index\n"
          "                      or part of a name)\n"
          "  --mic               run the microphone feed from the configured/default device\n"
          "  --mic-source FILE   run the microphone feed from FILE (\"-\" = stdin), paced in real time\n"
          "  --no-pace           with --mic-source: as fast as recognition goes\n"
          "  --list-devices      print the capture devices and exit\n"
          "  --json              microphone results on stdout as JSON lines\n"
          "  --www DIR           static files for the browser page\n"
          "  --log-level LEVEL   debug, info, warning or error\n"
          "\n"
          "Batch options:\n"
          "  --model PATH        model file; default: $ASRD_MODEL if set, else model/" MODEL_NAME "\n"
          "                      of the source tree the binary was built in (<binary dir>/../model/),\n"
          "                      else " ASRD_DATADIR "/" MODEL_NAME " (make install)\n"
          "  --format FMT        text (default): one line per file, the transcript; with several files\n"
          "                      (or --manifest) each line is \"path<TAB>transcript\";\n"
          "                      json: one object per file and per line (JSON Lines):\n"
          "                      {\"file\",\"text\",\"result\":[{\"word\",\"start\",\"end\",\"conf\"}]},\n"
          "                      times in seconds; conf = mean max posterior of the word's frames;\n"
          "                      srt, vtt: subtitles with cues of at most 7 s / 10 words (one FILE only)\n"
          "  --manifest LIST     transcribe the files listed in LIST, one \"path<TAB>reference\" per line\n"
          "                      (relative paths are relative to LIST's directory); prints\n"
          "                      \"path<TAB>transcript\" lines (text) or objects (json) in LIST's order\n"
          "  --score             with --manifest: after the transcripts print one line\n"
          "                      \"WER x.xx% (word edits/reference words) CER y.yy% (char edits/chars)\"\n"
          "                      over normalised references and transcripts; failed files count as empty\n"
          "  --threads N         transcribe N files in parallel (default 1); output order is unchanged\n"
          "  --streams K         each thread keeps up to K files in flight and runs the network for all\n"
          "                      of them in one matrix product per step (default 8; 1 = one file at a\n"
          "                      time); transcripts are identical whatever K\n"
          "  --no-progress       no progress bar (it is drawn on stderr only when stderr is a terminal)\n"
          "  --precision P       float32 or int8 (as for the daemon, above)\n"
          "  --config FILE       the model and decoder settings of the daemon's YAML configuration (model,\n"
          "                      model_precision, decoder.*), so batch decodes as the daemon does; flags\n"
          "                      override the file; its daemon keys (listen, threads, mic, endpoint, ...)\n"
          "                      are ignored\n"
          "  --lm-convert IN OUT convert an ARPA LM to the memory-mapped binary form and exit\n"
          "  --check             check the model and (with --decoder beam, --lm or a --config that uses\n"
          "                      one) the LM whole, checksums included, and exit: 0 when both are sound.\n"
          "                      The daemon checks the LM's payload checksum in the background after\n"
          "                      start-up, --batch only its structure (enough for safe reads)\n"
          "\n",
          f);
    /* The defaults come from the one place that defines them. */
    ctc_beam_params bp = ctc_beam_default_params();
    fprintf(
        f,
        "Decoder options (batch and daemon; they override the decoder section of --config FILE):\n"
        "  --decoder KIND      greedy (default) or beam: CTC prefix beam search, with --lm a word LM\n"
        "  --lm PATH           ARPA or binary (--lm-convert) word n-gram LM; implies --decoder beam\n"
        "                      unless --decoder is given. \"default\": data/lm/" LM_NAME " of the source\n"
        "                      tree (make lm builds it), else " ASRD_DATADIR "/" LM_NAME " (make install)\n"
        "  --beam N            hypotheses kept per frame (default %d)\n"
        "  --lm-weight X       LM weight (default %g)\n"
        "  --word-bonus X      added per word (default %g)\n"
        "  --unk-penalty X     per out-of-vocabulary word (default %g)\n"
        "  --lm-lookahead X    score partial words by their likeliest completion, this much (default %g;\n"
        "                      0 = off)\n"
        "  --closed-vocab      output LM words only\n"
        "\n",
        bp.beam, bp.lm_weight, bp.word_bonus, bp.unk_penalty, bp.lm_lookahead);
    fputs("  -h, --help          this help\n"
          "  -V, --version       print \"asrd VERSION\"\n"
          "\n"
          "A file that cannot be read or decoded gets one line \"asrd: error: PATH: reason\" on stderr\n"
          "and no transcript; the other files are still transcribed. Exit status: 0 all files\n"
          "transcribed, 1 some file (or the model) failed, 2 usage error.\n"
          "\n"
          "Environment: ASRD_MODEL  default model file (see --model).\n",
          f);
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "asrd: error: %s%s%s\nTry 'asrd --help'.\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* A count from 1 to 256 (--threads, --streams); -1 if v is anything else. */
static int parse_count(const char *v, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 1 || x > 256)
        return -1;
    *out = (int)x;
    return 0;
}

static int file_exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The source tree the binary was built in: <binary dir>/.. (build/asrd -> the checkout); 0 if known. */
static int source_root(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    char up[PATH_MAX + 8], real[PATH_MAX];
    snprintf(up, sizeof up, "%s/..", exe);
    int w = snprintf(buf, n, "%s", realpath(up, real) ? real : up);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Finds a file shipped with asrd: <source tree>/in_tree, else ASRD_DATADIR/installed. Returns 0 with
 * the path in buf, or -1 with the places tried ("A or B") in tried. */
static int find_data_file(const char *in_tree, const char *installed, char *buf, size_t n, char *tried,
                          size_t tn)
{
    char root[PATH_MAX];
    tried[0] = '\0';
    if (source_root(root, sizeof root) == 0) {
        snprintf(buf, n, "%s/%s", root, in_tree);
        if (file_exists(buf))
            return 0;
        snprintf(tried, tn, "%s or ", buf);
    }
    snprintf(buf, n, "%s/%s", ASRD_DATADIR, installed);
    if (file_exists(buf))
        return 0;
    size_t tl = strlen(tried);
    snprintf(tried + tl, tn - tl, "%s", buf);
    return -1;
}

/* Finds the default model ($ASRD_MODEL, else as find_data_file). */
static int default_model(char *buf, size_t n, char *tried, size_t tn)
{
    const char *env = getenv("ASRD_MODEL");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return 0;
    }
    return find_data_file("model/" MODEL_NAME, MODEL_NAME, buf, n, tried, tn);
}

/* Resolves the LM path "default" (decoder.lm / --lm) to the LM `make lm` builds in the source tree or
 * `make install` installs. Other paths are left alone. 0 on success (*path may now point into buf);
 * -1 after printing an error that names the places tried. */
static int resolve_default_lm(const char **path, char *buf, size_t n)
{
    char tried[2 * PATH_MAX + 128];
    if (!*path || strcmp(*path, "default") != 0)
        return 0;
    if (find_data_file("data/lm/" LM_NAME, LM_NAME, buf, n, tried, sizeof tried) != 0) {
        fprintf(stderr,
                "asrd: error: LM \"default\": no %s at %s; build it with make lm (the CMU "
                "Sphinx en-us trigram) or give a path\n",
                LM_NAME, tried);
        return -1;
    }
    *path = buf;
    return 0;
}

/* Finds the static files of the page: <source tree>/proto/www, else the installed share dir; NULL if
 * neither exists. */
static const char *default_www(char *buf, size_t n)
{
    char root[PATH_MAX];
    if (source_root(root, sizeof root) == 0) {
        int w = snprintf(buf, n, "%s/proto/www", root);
        if (w > 0 && (size_t)w < n && access(buf, R_OK | X_OK) == 0)
            return buf;
    }
    snprintf(buf, n, "%s/www", ASRD_DATADIR);
    return access(buf, R_OK | X_OK) == 0 ? buf : NULL;
}

/* The daemon: configuration file, then command-line overrides, then daemon_run. */
/* Decoder flags in command-line order, replayed over the configuration's decoder section. */
#define MAX_DEC_OPTS 64
typedef struct dec_opt {
    batch_decoder_opt opt;
    const char *value;
} dec_opt;

/* Applies the decoder flags to c with batch mode's parser (same names, ranges and rules: --lm
 * implies beam unless --decoder is given). The flags were validated while parsing. */
static asr_status apply_decoder_opts(cfg *c, const dec_opt *d, int n, asr_error *err)
{
    batch_options o = batch_default_options();
    o.decoder = (asr_decoder_kind)c->decoder;
    o.beam = c->beam;
    o.lm_path = c->lm;
    for (int i = 0; i < n; i++)
        if (batch_decoder_option(&o, d[i].opt, d[i].value, err) != ASR_OK)
            return err->code;
    c->decoder = (int)o.decoder;
    c->beam = o.beam;
    return o.lm_path == c->lm ? ASR_OK : cfg_set_string(&c->lm, o.lm_path, err);
}

/* Batch mode with --config: the model and decoder keys of the daemon's file (model, decoder.*), then
 * the decoder flags over them exactly as the daemon applies them, so both modes decode alike. The
 * file is checked whole as for the daemon; its other keys (listen, threads, www, mic, endpoint,
 * limits, auth, tls, log) only configure the daemon and are ignored. *c owns the strings *bo and
 * *model_path then point to (free with cfg_free). Returns 0, or the exit status after printing the
 * error (2: the file is unreadable or invalid, as for the daemon). */
static int batch_config(const char *path, const dec_opt *d, int n, cfg *c, batch_options *bo,
                        const char **model_path)
{
    asr_error err = {ASR_OK, ""};
    if (cfg_init(c, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        return 1;
    }
    if (cfg_load_file(c, path, &err) != ASR_OK || apply_decoder_opts(c, d, n, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        return err.code == ASR_ERR_NOMEM ? 1 : 2;
    }
    bo->decoder = (asr_decoder_kind)c->decoder;
    bo->beam = c->beam;
    bo->lm_path = c->lm;
    bo->precision = (asr_precision)c->precision;
    if (!*model_path)
        *model_path = c->model;
    return 0;
}

static int run_daemon(const char *config_path, const char *listen, const char *model_path, int precision,
                      const char *device, int mic, const char *mic_source, int no_pace, int json, int threads,
                      const char *www, const char *log_level, const dec_opt *dec, int n_dec)
{
    cfg c;
    asr_error err = {ASR_OK, ""};
    int rc = 2;
    char pathbuf[PATH_MAX + 64], tried[2 * PATH_MAX + 128], wwwbuf[PATH_MAX + 16];
    if (cfg_init(&c, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        return 1;
    }
    if (config_path && cfg_load_file(&c, config_path, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        goto done;
    }
    if (listen && cfg_set_listen(&c, listen, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: --%s\n", err.msg);
        goto done;
    }
    if (model_path && cfg_set_string(&c.model, model_path, &err) != ASR_OK)
        goto done;
    if (precision >= 0) /* --precision */
        c.precision = precision;
    if (device) {
        if (cfg_set_string(&c.mic_device, device, &err) != ASR_OK)
            goto done;
        c.mic_enabled = 1;
    }
    if (mic_source) {
        if (cfg_set_string(&c.mic_source, mic_source, &err) != ASR_OK)
            goto done;
        c.mic_enabled = 1;
    }
    if (mic)
        c.mic_enabled = 1;
    if (no_pace)
        c.mic_pace = 0;
    if (json)
        c.json = 1;
    if (threads)
        c.threads = threads;
    if (www && cfg_set_string(&c.www_root, www, &err) != ASR_OK)
        goto done;
    if (apply_decoder_opts(&c, dec, n_dec, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        goto done;
    }
    if (log_level) {
        static const char *const names[] = {"debug", "info", "warning", "error"};
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (!strcmp(log_level, names[i])) {
                c.log_level = i;
                found = 1;
            }
        if (!found) {
            rc = usage_error("--log-level must be debug, info, warning or error, not", log_level);
            goto done;
        }
    }
    rc = 1;
    if (!c.model) {
        if (default_model(pathbuf, sizeof pathbuf, tried, sizeof tried) != 0) {
            fprintf(stderr, "asrd: error: no model at %s; train one with make model or pass --model PATH\n",
                    tried);
            goto done;
        }
        if (cfg_set_string(&c.model, pathbuf, &err) != ASR_OK)
            goto done;
    }
    const char *lm_path = c.lm; /* "default" is looked up only when it will be loaded */
    if (c.decoder == ASR_DECODER_BEAM && resolve_default_lm(&lm_path, pathbuf, sizeof pathbuf) != 0)
        goto done;
    if (lm_path != c.lm && cfg_set_string(&c.lm, lm_path, &err) != ASR_OK)
        goto done;
    const char *root = c.www_root ? c.www_root : default_www(wwwbuf, sizeof wwwbuf);
    if (!root)
        fprintf(stderr,
                "asrd: warning: no static files (proto/www or %s/www): the browser page is not served\n",
                ASRD_DATADIR);
    rc = daemon_run(&c, c.model, root);
done:
    cfg_free(&c);
    return rc;
}

int main(int argc, char **argv)
{
    enum {
        OPT_BATCH = 256,
        OPT_MODEL,
        OPT_FORMAT,
        OPT_MANIFEST,
        OPT_SCORE,
        OPT_THREADS,
        OPT_STREAMS,
        OPT_NO_PROGRESS,
        OPT_FEATURES,
        OPT_KALDI,
        OPT_CONFIG,
        OPT_LISTEN,
        OPT_DEVICE,
        OPT_MIC,
        OPT_MIC_SOURCE,
        OPT_NO_PACE,
        OPT_LIST_DEVICES,
        OPT_JSON,
        OPT_WWW,
        OPT_LOG_LEVEL,
        OPT_PRECISION
    };
    enum { OPT_DEC = 1000, OPT_LM_CONVERT = 1100, OPT_CHECK }; /* OPT_DEC + batch_decoder_opt */
    static const struct option opts[] = {
        {"batch", no_argument, NULL, OPT_BATCH},
        {"model", required_argument, NULL, OPT_MODEL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"score", no_argument, NULL, OPT_SCORE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"streams", required_argument, NULL, OPT_STREAMS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"features", no_argument, NULL, OPT_FEATURES},
        {"kaldi", no_argument, NULL, OPT_KALDI},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"mic", no_argument, NULL, OPT_MIC},
        {"mic-source", required_argument, NULL, OPT_MIC_SOURCE},
        {"no-pace", no_argument, NULL, OPT_NO_PACE},
        {"list-devices", no_argument, NULL, OPT_LIST_DEVICES},
        {"json", no_argument, NULL, OPT_JSON},
        {"www", required_argument, NULL, OPT_WWW},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"decoder", required_argument, NULL, OPT_DEC + BATCH_OPT_DECODER},
        {"lm", required_argument, NULL, OPT_DEC + BATCH_OPT_LM},
        {"beam", required_argument, NULL, OPT_DEC + BATCH_OPT_BEAM},
        {"lm-weight", required_argument, NULL, OPT_DEC + BATCH_OPT_LM_WEIGHT},
        {"word-bonus", required_argument, NULL, OPT_DEC + BATCH_OPT_WORD_BONUS},
        {"unk-penalty", required_argument, NULL, OPT_DEC + BATCH_OPT_UNK_PENALTY},
        {"closed-vocab", no_argument, NULL, OPT_DEC + BATCH_OPT_CLOSED},
        {"lm-lookahead", required_argument, NULL, OPT_DEC + BATCH_OPT_LOOKAHEAD},
        {"lm-convert", no_argument, NULL, OPT_LM_CONVERT},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int batch = 0, features = 0, kaldi = 0, score = 0, progress = 1;
    const char *model_path = NULL, *manifest = NULL;
    const char *config_path = NULL, *listen = NULL, *device = NULL, *mic_source = NULL, *www = NULL,
               *log_level = NULL;
    int mic = 0, no_pace = 0, list_devices = 0, json = 0, threads = 0, daemon_only = 0;
    batch_options bo = batch_default_options();
    dec_opt dec[MAX_DEC_OPTS];
    int n_dec = 0;
    int lm_convert = 0, check = 0;
    asr_precision precision = ASR_PRECISION_DEFAULT;
    int precision_set = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case OPT_BATCH:
            batch = 1;
            break;
        case OPT_MODEL:
            model_path = optarg;
            break;
        case OPT_FORMAT:
            if (output_format_parse(optarg, &bo.format) != 0)
                return usage_error("--format must be text, json, srt or vtt, not", optarg);
            break;
        case OPT_MANIFEST:
            manifest = optarg;
            break;
        case OPT_SCORE:
            score = 1;
            break;
        case OPT_THREADS:
            if (parse_count(optarg, &threads) != 0)
                return usage_error("--threads must be a number from 1 to 256, not", optarg);
            bo.threads = threads;
            break;
        case OPT_STREAMS:
            if (parse_count(optarg, &bo.streams) != 0)
                return usage_error("--streams must be a number from 1 to 256, not", optarg);
            break;
        case OPT_NO_PROGRESS:
            progress = 0;
            break;
        case OPT_FEATURES:
            features = 1;
            break;
        case OPT_KALDI:
            kaldi = 1;
            break;
        case OPT_CONFIG:
            config_path = optarg;
            break;
        case OPT_PRECISION:
            if (asr_precision_parse(optarg, &precision) != 0)
                return usage_error("--precision must be float32 or int8, not", optarg);
            precision_set = 1;
            break;
        case OPT_LISTEN:
            listen = optarg;
            daemon_only = 1;
            break;
        case OPT_DEVICE:
            device = optarg;
            daemon_only = 1;
            break;
        case OPT_MIC:
            mic = 1;
            daemon_only = 1;
            break;
        case OPT_MIC_SOURCE:
            mic_source = optarg;
            daemon_only = 1;
            break;
        case OPT_NO_PACE:
            no_pace = 1;
            daemon_only = 1;
            break;
        case OPT_LIST_DEVICES:
            list_devices = 1;
            break;
        case OPT_JSON:
            json = 1;
            daemon_only = 1;
            break;
        case OPT_WWW:
            www = optarg;
            daemon_only = 1;
            break;
        case OPT_LOG_LEVEL:
            log_level = optarg;
            daemon_only = 1;
            break;
        case OPT_DEC + BATCH_OPT_DECODER:
        case OPT_DEC + BATCH_OPT_LM:
        case OPT_DEC + BATCH_OPT_BEAM:
        case OPT_DEC + BATCH_OPT_LM_WEIGHT:
        case OPT_DEC + BATCH_OPT_WORD_BONUS:
        case OPT_DEC + BATCH_OPT_UNK_PENALTY:
        case OPT_DEC + BATCH_OPT_CLOSED:
        case OPT_DEC + BATCH_OPT_LOOKAHEAD: {
            asr_error derr = {ASR_OK, ""};
            if (batch_decoder_option(&bo, (batch_decoder_opt)(c - OPT_DEC), optarg, &derr) != ASR_OK)
                return usage_error(derr.msg, NULL);
            if (n_dec == MAX_DEC_OPTS)
                return usage_error("too many decoder options", NULL);
            dec[n_dec++] = (dec_opt){(batch_decoder_opt)(c - OPT_DEC), optarg};
            break;
        }
        case OPT_LM_CONVERT:
            lm_convert = 1;
            break;
        case OPT_CHECK:
            check = 1;
            batch = 1; /* the model and LM are resolved as --batch resolves them */
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("asrd %s\n", ASRD_VERSION);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "asrd: error: option -%c is unknown or needs a value\n", optopt);
            else
                fprintf(stderr, "asrd: error: unknown option or missing value: %s\n", argv[optind - 1]);
            fputs("Try 'asrd --help'.\n", stderr);
            return 2;
        }
    }
    if (lm_convert) {
        asr_error lerr = {ASR_OK, ""};
        if (argc - optind != 2)
            return usage_error("--lm-convert takes two arguments: IN.arpa OUT.lmbin", NULL);
        if (batch_lm_convert(argv[optind], argv[optind + 1], &lerr) != ASR_OK) {
            fprintf(stderr, "asrd: error: %s\n", lerr.msg);
            return 1;
        }
        return 0;
    }
    int nfiles = argc - optind;
    char **files = argv + optind;

    if (features) {
        if (batch)
            return usage_error("--features and --batch cannot be combined", NULL);
        if (!kaldi)
            return usage_error("--features needs --kaldi (the only feature type so far)", NULL);
        if (nfiles != 1)
            return usage_error("--features --kaldi takes exactly one FILE", NULL);
        asr_error err = {ASR_OK, ""};
        if (features_print_kaldi(files[0], stdout, &err) != ASR_OK) {
            fprintf(stderr, "asrd: error: %s\n", err.msg);
            return 1;
        }
        if (fflush(stdout) != 0)
            return 1;
        return 0;
    }
    if (kaldi)
        return usage_error("--kaldi is only meaningful with --features", NULL);
    if (list_devices) {
        asr_error err = {ASR_OK, ""};
        if (capture_list_devices(stdout, &err) != ASR_OK) {
            fprintf(stderr, "asrd: error: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (!batch) {
        if (nfiles > 0)
            return usage_error("the daemon takes no FILE arguments (use --batch to transcribe files)",
                               files[0]);
        return run_daemon(config_path, listen, model_path, precision_set ? (int)precision : -1, device, mic,
                          mic_source, no_pace, json, threads, www, log_level, dec, n_dec);
    }
    if (daemon_only)
        return usage_error(
            "daemon options (--listen, --device, --mic, --mic-source, --no-pace, --json, --www, "
            "--log-level) cannot be combined with --batch",
            NULL);
    if (check && (nfiles > 0 || manifest))
        return usage_error("--check takes no FILE or --manifest: it checks the model and the LM", NULL);
    if (manifest && nfiles > 0)
        return usage_error("--manifest and FILE arguments cannot be combined", NULL);
    if (!check && !manifest && nfiles == 0)
        return usage_error("--batch needs FILE arguments or --manifest LIST", NULL);
    if (score && !manifest)
        return usage_error("--score needs --manifest (references come from the manifest)", NULL);
    if ((bo.format == OUTPUT_SRT || bo.format == OUTPUT_VTT) && (manifest || nfiles != 1))
        return usage_error("--format srt/vtt writes one subtitle document: give exactly one FILE", NULL);

    int rc = 1;
    asr_model *model = NULL;
    batch_manifest man = {0};
    batch_item *items = NULL;
    asr_error err = {ASR_OK, ""};
    char pathbuf[PATH_MAX + 64], tried[2 * PATH_MAX + 128];
    cfg conf = {0}; /* with --config: owns the model and LM paths bo points to */

    if (config_path && (rc = batch_config(config_path, dec, n_dec, &conf, &bo, &model_path)) != 0)
        goto done;
    rc = 1;
    if (precision_set)
        bo.precision = precision;
    if (!model_path) {
        if (default_model(pathbuf, sizeof pathbuf, tried, sizeof tried) != 0) {
            fprintf(stderr, "asrd: error: no model at %s; train one with make model or pass --model PATH\n",
                    tried);
            goto done;
        }
        model_path = pathbuf;
    }
    char lmbuf[PATH_MAX + 64];
    if (bo.decoder == ASR_DECODER_BEAM && resolve_default_lm(&bo.lm_path, lmbuf, sizeof lmbuf) != 0)
        goto done;
    if (check) {
        rc = batch_check(model_path, bo.decoder == ASR_DECODER_BEAM ? bo.lm_path : NULL, stdout, stderr);
        goto done;
    }
    int n;
    if (manifest) {
        if (batch_manifest_read(manifest, &man, &err) != ASR_OK) {
            fprintf(stderr, "asrd: error: %s\n", err.msg);
            goto done;
        }
        n = man.n;
        bo.with_path = 1;
        bo.score = score;
    } else {
        n = nfiles;
        items = calloc((size_t)n, sizeof *items);
        if (!items) {
            fprintf(stderr, "asrd: error: out of memory\n");
            goto done;
        }
        for (int i = 0; i < n; i++)
            items[i] = (batch_item){.path = files[i], .file = files[i], .ref = NULL};
        bo.with_path = n > 1;
    }
    model = asr_model_load(model_path, &err);
    if (!model || asr_model_set_precision(model, bo.precision, &err) != ASR_OK) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        goto done;
    }
    bo.progress = progress && isatty(STDERR_FILENO);
    int failed = batch_run(model, manifest ? man.items : items, n, &bo, stdout, stderr, NULL, &err);
    if (failed < 0) {
        fprintf(stderr, "asrd: error: %s\n", err.msg);
        goto done;
    }
    rc = failed > 0 ? 1 : 0;
done:
    asr_model_free(model);
    batch_manifest_free(&man);
    free(items);
    cfg_free(&conf);
    return rc;
}
