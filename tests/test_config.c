/* test_config.c - the daemon's YAML configuration: defaults, every section read, listen forms, and
 * errors (unknown keys, wrong types, out-of-range values, bad YAML) reported at the right
 * file:line:column, counted by hand from the test documents; the decoder section against
 * ctc_beam_default_params(). Also parses configs/asrd.yaml. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/config.h"
#include "../daemon/listen.h"
#include "test_util.h"

static void test_defaults(void)
{
    cfg c;
    asr_error e = {0};
    CHECK(cfg_init(&c, &e) == ASR_OK, "init");
    CHECK(!strcmp(c.listen_host, "127.0.0.1") && c.port == 2700, "default listen");
    CHECK(c.model == NULL && c.token == NULL && c.tls_cert == NULL, "unset strings");
    CHECK(cfg_load_string(&c, "", "empty.yaml", &e) == ASR_OK, "empty document: %s", e.msg);
    CHECK(c.port == 2700, "empty keeps defaults");
    CHECK(c.ping_s == 30 && c.hangup_s == 60, "ping defaults: %d, %d", c.ping_s, c.hangup_s);
    CHECK(c.subscriber_queue == 64 && c.max_per_address == 128 && c.n_origins == 0 && !c.origins,
          "exposure defaults: subscriber_queue %d, max_sessions_per_address %d, %d origins",
          c.subscriber_queue, c.max_per_address, c.n_origins);
    cfg_free(&c);
}

/* The keys of /mic subscribers and exposure (issue 12): values, ranges, the origins list. */
static void test_exposure_keys(void)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    CHECK(cfg_load_string(&c,
                          "limits: {subscriber_queue: 3, max_sessions_per_address: 0}\n"
                          "auth: {origins: [\"https://a.example\", \"*\"]}\n",
                          "x.yaml", &e) == ASR_OK,
          "load: %s", e.msg);
    CHECK(c.subscriber_queue == 3 && c.max_per_address == 0, "limits: %d %d", c.subscriber_queue,
          c.max_per_address);
    CHECK(c.n_origins == 2 && !strcmp(c.origins[0], "https://a.example") && !strcmp(c.origins[1], "*"),
          "origins");
    CHECK(cfg_load_string(&c, "auth: {origins: []}\n", "y.yaml", &e) == ASR_OK && c.n_origins == 0,
          "an empty list clears it: %s", e.msg);
    cfg_free(&c);
}

static void test_values(void)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    const char *y = "listen: \"0.0.0.0:9000\"\n"
                    "model: /tmp/m.model\n"
                    "threads: 3\n"
                    "www: {root: /srv/www, mount: /ui}\n"
                    "mic:\n"
                    "  enabled: true\n"
                    "  device: \"hw:1\"\n"
                    "  sample_rate: 48000\n"
                    "  grammar: [\"yes\", \"no thanks\"]\n"
                    "endpoint: {silence_ms: 500, max_utterance_ms: 0, blank_prob: 0.5}\n"
                    "limits:\n"
                    "  max_sessions: 3\n"
                    "  max_message_bytes: 65536\n"
                    "  idle_timeout_s: 5\n"
                    "  max_audio_s: 1.5\n"
                    "auth: {token: s3cret}\n"
                    "tls: {cert: a.pem, key: b.pem}\n"
                    "log: {level: debug, json: yes}\n";
    CHECK(cfg_load_string(&c, y, "v.yaml", &e) == ASR_OK, "load: %s", e.msg);
    CHECK(!strcmp(c.listen_host, "0.0.0.0") && c.port == 9000, "listen");
    CHECK(c.model && !strcmp(c.model, "/tmp/m.model"), "model");
    CHECK(c.threads == 3, "threads");
    CHECK(!strcmp(c.www_root, "/srv/www") && !strcmp(c.www_mount, "/ui"), "www");
    CHECK(c.mic_enabled == 1 && !strcmp(c.mic_device, "hw:1") && c.mic_rate == 48000, "mic");
    CHECK(c.n_mic_grammar == 2 && !strcmp(c.mic_grammar[1], "no thanks"), "grammar");
    CHECK(c.silence_ms == 500 && c.max_utterance_ms == 0 && c.blank_prob == 0.5, "endpoint");
    CHECK(c.max_sessions == 3 && c.max_message_bytes == 65536 && c.idle_timeout_s == 5 &&
              c.max_audio_s == 1.5,
          "limits");
    CHECK(!strcmp(c.token, "s3cret") && !strcmp(c.tls_cert, "a.pem") && !strcmp(c.tls_key, "b.pem"),
          "auth/tls");
    CHECK(c.log_level == ASR_LOG_DEBUG && c.json == 1, "log");
    /* a second file overrides only what it names; "" clears a string */
    CHECK(cfg_load_string(&c, "threads: 1\nauth: {token: \"\"}\n", "w.yaml", &e) == ASR_OK, "second: %s",
          e.msg);
    CHECK(c.threads == 1 && c.token == NULL && c.port == 9000, "override");
    cfg_free(&c);

    cfg_init(&c, &e);
    CHECK(cfg_set_listen(&c, "[::1]:81", &e) == ASR_OK && !strcmp(c.listen_host, "::1") && c.port == 81,
          "v6");
    CHECK(cfg_set_listen(&c, "8080", &e) == ASR_OK && !strcmp(c.listen_host, "::1") && c.port == 8080,
          "port only");
    CHECK(cfg_set_listen(&c, ":0", &e) == ASR_OK && !strcmp(c.listen_host, "") && c.port == 0, "any host");
    CHECK(cfg_set_listen(&c, "h:99999", &e) != ASR_OK, "port range");
    CHECK(cfg_set_listen(&c, "h:abc", &e) != ASR_OK, "port number");
    /* hosts: literals and names are kept; numbers that are no IPv4 address and IPv6 without
     * brackets are refused, naming the host, and the previous value stays */
    CHECK(cfg_set_listen(&c, "localhost:1", &e) == ASR_OK && !strcmp(c.listen_host, "localhost"), "name");
    CHECK(cfg_set_listen(&c, "*:2", &e) == ASR_OK && !strcmp(c.listen_host, "*"), "star");
    CHECK(cfg_set_listen(&c, "[::]:3", &e) == ASR_OK && !strcmp(c.listen_host, "::"), "v6 any");
    CHECK(cfg_set_listen(&c, "256.1.1.1:29010", &e) != ASR_OK && strstr(e.msg, "'256.1.1.1'") &&
              strstr(e.msg, "not an IPv4 address"),
          "256.1.1.1: %s", e.msg);
    CHECK(cfg_set_listen(&c, "127.1:4", &e) != ASR_OK && strstr(e.msg, "127.1"), "127.1: %s", e.msg);
    CHECK(cfg_set_listen(&c, "::1:5", &e) != ASR_OK && strstr(e.msg, "brackets"), "bare v6: %s", e.msg);
    CHECK(cfg_set_listen(&c, "[localhost]:6", &e) != ASR_OK && strstr(e.msg, "not an IPv6"), "[name]: %s",
          e.msg);
    CHECK(cfg_set_listen(&c, "a b:7", &e) != ASR_OK && strstr(e.msg, "'a b'"), "space: %s", e.msg);
    CHECK(!strcmp(c.listen_host, "::") && c.port == 3, "refused values change nothing");
    cfg_free(&c);
}

/* Loads y and expects an error whose message starts with "bad.yaml:LINE:COL: " and contains want. */
static void expect_error(const char *y, int line, int col, const char *want)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bad.yaml:%d:%d: ", line, col);
    asr_status st = cfg_load_string(&c, y, "bad.yaml", &e);
    CHECK(st == ASR_ERR_CONFIG, "'%s' accepted", y);
    CHECK(!strncmp(e.msg, prefix, strlen(prefix)), "'%s': want %s..., got '%s'", y, prefix, e.msg);
    CHECK(strstr(e.msg, want) != NULL, "'%s': want '%s' in '%s'", y, want, e.msg);
    cfg_free(&c);
}

/* limits.trusted_proxies: address literals only, compared in canonical form (daemon/listen.c). */
static void test_trusted_proxies(void)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    CHECK(c.n_trusted_proxies == 0 && !c.trusted_proxies, "no trusted proxy by default");
    CHECK(cfg_load_string(&c, "limits: {trusted_proxies: [\"127.0.0.1\", \"::1\", \"::ffff:10.0.0.7\"]}\n",
                          "t.yaml", &e) == ASR_OK,
          "load: %s", e.msg);
    CHECK(c.n_trusted_proxies == 3 && !strcmp(c.trusted_proxies[0], "127.0.0.1") &&
              !strcmp(c.trusted_proxies[2], "::ffff:10.0.0.7"),
          "trusted_proxies kept as written");
    cfg_free(&c);
    expect_error("limits: {trusted_proxies: [\"haproxy.local\"]}\n", 1, 28,
                 "limits.trusted_proxies: 'haproxy.local' is not an IPv4 or IPv6 address");
    expect_error("limits:\n  trusted_proxies:\n    - 127.0.0.1\n    - 256.1.1.1\n", 4, 7,
                 "'256.1.1.1' is not an IPv4 or IPv6 address");
    expect_error("limits: {trusted_proxies: \"127.0.0.1\"}\n", 1, 27, "expected a list");
    /* what the daemon compares: one canonical text per address */
    static const char *const same[][2] = {{"127.0.0.1", "127.0.0.1"},
                                          {"::ffff:127.0.0.1", "127.0.0.1"},
                                          {"::FFFF:7f00:1", "127.0.0.1"},
                                          {"0:0:0:0:0:0:0:1", "::1"},
                                          {"2001:DB8::0:1", "2001:db8::1"}};
    char out[64];
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        CHECK(address_canonical(same[i][0], out, sizeof out) && !strcmp(out, same[i][1]),
              "%s -> '%s' (want %s)", same[i][0], out, same[i][1]);
    static const char *const bad[] = {"", "localhost", "127.1", "1.2.3.4:80", "[::1]", "1.2.3.4 ", "::1%lo"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!address_canonical(bad[i], out, sizeof out), "'%s' is not an address", bad[i]);
}

static void test_errors(void)
{
    expect_error("threads: 2\nbogus: 1\n", 2, 1, "unknown key 'bogus'");
    expect_error("limits:\n  max_sessions: 4\n  max_sesions: 5\n", 3, 3, "unknown key 'limits.max_sesions'");
    expect_error("endpoint: {silence_ms: 100, foo: 1}\n", 1, 29, "unknown key 'endpoint.foo'");
    expect_error("threads: two\n", 1, 10, "expected an integer");
    expect_error("threads: \"2\"\n", 1, 10, "expected an integer");
    expect_error("threads: 0\n", 1, 10, "out of range");
    expect_error("threads: 1000\n", 1, 10, "out of range");
    expect_error("endpoint:\n  blank_prob: 1.5\n", 2, 15, "out of range");
    expect_error("limits: {max_audio_s: lots}\n", 1, 23, "expected a number");
    expect_error("mic: {enabled: maybe}\n", 1, 16, "expected true or false");
    expect_error("log: {level: loud}\n", 1, 14, "expected debug");
    expect_error("mic: {grammar: yes}\n", 1, 16, "expected a list");
    expect_error("listen: \"host:70000\"\n", 1, 9, "port");
    expect_error("model: [a, b]\n", 1, 8, "expected a string");
    expect_error("limits: 5\n", 1, 9, "expected a mapping");
    expect_error("threads: [1\n", 2, 1, ""); /* YAML syntax error: libyaml's mark */
    expect_error("- a\n- b\n", 1, 1, "expected a mapping");
    expect_error("limits: {subscriber_queue: 0}\n", 1, 28, "out of range");
    expect_error("limits: {max_sessions_per_address: -1}\n", 1, 36, "out of range");
    expect_error("limits: {ping_s: 0}\n", 1, 18, "out of range");
    expect_error("limits:\n  hangup_s: 100000\n", 2, 13, "out of range");
    expect_error("auth: {origins: \"https://a.example\"}\n", 1, 17, "expected a list");
    expect_error("auth: {origins: [\"\"]}\n", 1, 18, "expected a non-empty string");
    /* duplicate keys: at the second one (the first value would otherwise be silently overwritten) */
    expect_error("threads: 2\nmodel: m\nthreads: 4\n", 3, 1,
                 "duplicate key 'threads' (first at line 1, column 1)");
    expect_error("limits:\n  max_sessions: 4\n  max_sessions: 5\n", 3, 3,
                 "duplicate key 'limits.max_sessions'");
    expect_error("limits: {idle_timeout_s: 5}\nthreads: 2\nlimits: {max_sessions: 5}\n", 3, 1,
                 "duplicate key 'limits' (first at line 1, column 1)");
    /* cross-key checks name the file */
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    CHECK(cfg_load_string(&c, "tls: {cert: a.pem}\n", "x.yaml", &e) == ASR_ERR_CONFIG &&
              strstr(e.msg, "x.yaml"),
          "tls pair: %s", e.msg);
    CHECK(cfg_load_string(&c, "limits: {min_sample_rate: 48000, max_sample_rate: 8000}\n", "x.yaml", &e) ==
              ASR_ERR_CONFIG,
          "rate order");
    cfg p;
    cfg_init(&p, &e);
    CHECK(cfg_load_string(&p, "limits: {ping_s: 5, hangup_s: 5}\n", "x.yaml", &e) == ASR_ERR_CONFIG &&
              strstr(e.msg, "x.yaml") && strstr(e.msg, "limits.hangup_s"),
          "ping order: %s", e.msg);
    CHECK(cfg_load_string(&p, "limits: {ping_s: 1, hangup_s: 3}\n", "x.yaml", &e) == ASR_OK &&
              p.ping_s == 1 && p.hangup_s == 3,
          "ping_s, hangup_s: %s", e.msg);
    cfg_free(&p);
    CHECK(cfg_load_file(&c, "/nonexistent/asrd.yaml", &e) == ASR_ERR_IO &&
              strstr(e.msg, "/nonexistent/asrd.yaml"),
          "missing file: %s", e.msg);
    cfg_free(&c);
}

/* The decoder section: defaults are exactly ctc_beam_default_params() (the one place batch mode
 * reads them too), every key is read, the other search parameters are left alone. */
static int same_beam(const ctc_beam_params *a, const ctc_beam_params *b)
{
    return a->beam == b->beam && a->char_prune == b->char_prune && a->max_chars == b->max_chars &&
           a->beam_delta == b->beam_delta && a->lm_weight == b->lm_weight && a->word_bonus == b->word_bonus &&
           a->unk_penalty == b->unk_penalty && a->lm_lookahead == b->lm_lookahead &&
           a->closed_vocab == b->closed_vocab && a->use_eos == b->use_eos && a->viterbi == b->viterbi;
}

static void test_decoder(void)
{
    cfg c;
    asr_error e = {0};
    ctc_beam_params d = ctc_beam_default_params();
    cfg_init(&c, &e);
    CHECK(c.decoder == ASR_DECODER_GREEDY && c.lm == NULL, "default decoder greedy, no LM");
    CHECK(same_beam(&c.beam, &d), "default beam parameters are ctc_beam_default_params()");
    const char *y = "decoder:\n"
                    "  kind: beam\n"
                    "  lm: /data/en.lmbin\n"
                    "  beam: 7\n"
                    "  lm_weight: 1.25\n"
                    "  word_bonus: -2\n"
                    "  unk_penalty: -9.5\n"
                    "  lm_lookahead: 0.75\n"
                    "  closed_vocab: true\n";
    CHECK(cfg_load_string(&c, y, "d.yaml", &e) == ASR_OK, "decoder section: %s", e.msg);
    CHECK(c.decoder == ASR_DECODER_BEAM, "kind beam");
    CHECK(c.lm && !strcmp(c.lm, "/data/en.lmbin"), "lm path");
    CHECK(c.beam.beam == 7 && c.beam.lm_weight == 1.25f && c.beam.word_bonus == -2.0f &&
              c.beam.unk_penalty == -9.5f && c.beam.lm_lookahead == 0.75f && c.beam.closed_vocab == 1,
          "beam %d weight %g bonus %g unk %g lookahead %g closed %d", c.beam.beam, c.beam.lm_weight,
          c.beam.word_bonus, c.beam.unk_penalty, c.beam.lm_lookahead, c.beam.closed_vocab);
    CHECK(c.beam.char_prune == d.char_prune && c.beam.max_chars == d.max_chars &&
              c.beam.beam_delta == d.beam_delta && c.beam.use_eos == d.use_eos && c.beam.viterbi == d.viterbi,
          "unconfigurable search parameters keep their defaults");
    /* a later file changes only what it names; lm "" clears the LM; kind back to greedy */
    CHECK(cfg_load_string(&c, "decoder: {kind: greedy, lm: \"\"}\n", "e.yaml", &e) == ASR_OK, "second: %s",
          e.msg);
    CHECK(c.decoder == ASR_DECODER_GREEDY && c.lm == NULL && c.beam.beam == 7, "partial override");
    /* an empty section is allowed and changes nothing */
    CHECK(cfg_load_string(&c, "decoder:\n", "f.yaml", &e) == ASR_OK && c.beam.beam == 7, "empty section: %s",
          e.msg);
    /* integral floats and the range ends are accepted */
    CHECK(cfg_load_string(&c, "decoder: {lm_weight: 0, word_bonus: 1000, unk_penalty: -1000, beam: 10000}\n",
                          "g.yaml", &e) == ASR_OK &&
              c.beam.lm_weight == 0 && c.beam.word_bonus == 1000 && c.beam.unk_penalty == -1000 &&
              c.beam.beam == 10000,
          "range ends: %s", e.msg);
    cfg_free(&c);

    expect_error("decoder:\n  kind: viterbi\n", 2, 9, "decoder.kind: expected greedy or beam");
    expect_error("decoder: {kind: 1}\n", 1, 17, "decoder.kind: expected greedy or beam");
    expect_error("decoder:\n  beam: 0\n", 2, 9, "decoder.beam: 0 is out of range");
    expect_error("decoder:\n  beam: 10001\n", 2, 9, "out of range");
    expect_error("decoder:\n  beam: 2.5\n", 2, 9, "decoder.beam: expected an integer");
    expect_error("decoder:\n  beam: 8\n  lm_weight: heavy\n", 3, 14, "decoder.lm_weight: expected a number");
    expect_error("decoder:\n  lm_weight: \"0.5\"\n", 2, 14, "decoder.lm_weight: expected a number");
    expect_error("decoder:\n  word_bonus: 1e9\n", 2, 15, "decoder.word_bonus");
    expect_error("decoder:\n  unk_penalty: -2000\n", 2, 16, "out of range");
    expect_error("decoder:\n  lm_lookahead: -0.5\n", 2, 17, "decoder.lm_lookahead: -0.5 is out of range");
    expect_error("decoder:\n  lm_lookahead: 11\n", 2, 17, "out of range");
    expect_error("decoder:\n  closed_vocab: 2\n", 2, 17, "decoder.closed_vocab: expected true or false");
    expect_error("decoder:\n  lm: [a.lm]\n", 2, 7, "decoder.lm: expected a string");
    expect_error("decoder:\n  beam: 4\n  lm_wieght: 1\n", 3, 3, "unknown key 'decoder.lm_wieght'");
    expect_error("decoder: beam\n", 1, 10, "expected a mapping");
    expect_error("kind: beam\n", 1, 1, "unknown key 'kind'");
}

/* model_precision: the built-in default, both names, anything else refused with its place. */
static void test_precision(void)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    CHECK(c.precision == ASR_PRECISION_DEFAULT, "default precision %d", c.precision);
    CHECK(cfg_load_string(&c, "model_precision: int8\n", "p.yaml", &e) == ASR_OK &&
              c.precision == ASR_PRECISION_INT8,
          "int8: %s", e.msg);
    CHECK(cfg_load_string(&c, "model_precision: float32\n", "p.yaml", &e) == ASR_OK &&
              c.precision == ASR_PRECISION_FLOAT32,
          "float32: %s", e.msg);
    cfg_free(&c);
    expect_error("threads: 2\nmodel_precision: fp16\n", 2, 18, "model_precision: expected float32 or int8");
}

static void test_shipped(void)
{
    cfg c;
    asr_error e = {0};
    cfg_init(&c, &e);
    CHECK(cfg_load_file(&c, "configs/asrd.yaml", &e) == ASR_OK, "configs/asrd.yaml: %s", e.msg);
    CHECK(c.port == 2700 && !strcmp(c.listen_host, "127.0.0.1"), "shipped config listens on the default");
    CHECK(c.precision == ASR_PRECISION_DEFAULT, "shipped model_precision %d, built-in %d", c.precision,
          ASR_PRECISION_DEFAULT);
    /* The values the file documents are the built-in ones (the file cannot drift from the code),
     * except the decoder kind and LM: the file selects beam search with the en-us LM, while the
     * built-in defaults (no configuration file) stay greedy without an LM (test_decoder). */
    ctc_beam_params d = ctc_beam_default_params();
    CHECK(c.decoder == ASR_DECODER_BEAM && c.lm && !strcmp(c.lm, "default"),
          "shipped decoder: beam with LM \"default\" (kind %d, lm %s)", c.decoder, c.lm ? c.lm : "NULL");
    CHECK(same_beam(&c.beam, &d),
          "shipped decoder section equals ctc_beam_default_params(): beam %d weight %g "
          "bonus %g unk %g",
          c.beam.beam, c.beam.lm_weight, c.beam.word_bonus, c.beam.unk_penalty);
    cfg_free(&c);
}

int main(void)
{
    test_defaults();
    test_values();
    test_errors();
    test_exposure_keys();
    test_trusted_proxies();
    test_decoder();
    test_precision();
    test_shipped();
    return TEST_SUMMARY();
}
