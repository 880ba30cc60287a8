/* test_yamlcfg.c - the shared YAML readers (frontend/yamlcfg.h): the two dialects (quoted scalars
 * are strings for the daemon; 1e4 and 1/0 are accepted by the trainer), range errors at the value's
 * line:column, enum messages listing the names, the mapping walk in file order, a syntax error at
 * libyaml's mark. The full configurations are covered by test_config and test_train_config. */
#include "../frontend/yamlcfg.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct seen {
    char keys[8][16];
    yaml_node_t *vals[8];
    int n;
} seen;

static asr_status collect(cfg_reader *r, void *user, const char *key, yaml_node_t *k, yaml_node_t *v)
{
    seen *s = user;
    (void)r;
    (void)k;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
        s->vals[s->n] = v;
    }
    s->n++;
    return ASR_OK;
}

/* Opens text in a dialect and returns the values of its top-level mapping in s. */
static int open_map(cfg_reader *r, const char *text, unsigned flags, seen *s, asr_error *e)
{
    memset(s, 0, sizeof *s);
    if (cfg_reader_open(r, text, strlen(text), "t.yaml", flags, e) != ASR_OK)
        return 0;
    return cfg_walk_map(r, cfg_root(r), NULL, collect, s) == ASR_OK;
}

static void test_dialects(void)
{
    const char *text = "a: 1e4\nb: \"2\"\nc: 1\nd: 'yes'\ne: 7\n";
    cfg_reader r;
    asr_error e = {0};
    seen s;
    long l = -1;
    int i = -1;

    CHECK(open_map(&r, text, CFG_LENIENT_NUMBERS, &s, &e) && s.n == 5, "walk: %s", e.msg);
    CHECK(s.n == 5 && !strcmp(s.keys[0], "a") && !strcmp(s.keys[4], "e"), "file order");
    CHECK(cfg_get_long(&r, s.vals[0], "a", 0, 100000, &l) == ASR_OK && l == 10000, "lenient 1e4 -> %ld", l);
    CHECK(cfg_get_int(&r, s.vals[1], "b", 0, 9, &i) == ASR_OK && i == 2, "lenient quoted 2 -> %d", i);
    CHECK(cfg_get_bool(&r, s.vals[2], "c", &i) == ASR_OK && i == 1, "lenient 1 is true");
    CHECK(cfg_get_bool(&r, s.vals[3], "d", &i) == ASR_OK && i == 1, "lenient quoted yes is true");
    cfg_reader_close(&r);

    CHECK(open_map(&r, text, CFG_QUOTED_IS_STRING, &s, &e) && s.n == 5, "walk: %s", e.msg);
    l = -1;
    CHECK(cfg_get_long(&r, s.vals[0], "a", 0, 100000, &l) == ASR_ERR_CONFIG && l == -1 &&
              !strcmp(e.msg, "t.yaml:1:4: a: expected an integer, got '1e4'"),
          "strict 1e4: %s", e.msg);
    CHECK(cfg_get_int(&r, s.vals[1], "b", 0, 9, &i) == ASR_ERR_CONFIG &&
              strstr(e.msg, "t.yaml:2:4: b: expected an integer"),
          "strict quoted 2: %s", e.msg);
    CHECK(cfg_get_bool(&r, s.vals[2], "c", &i) == ASR_ERR_CONFIG && strstr(e.msg, "expected true or false"),
          "strict 1 is no boolean: %s", e.msg);
    CHECK(cfg_get_bool(&r, s.vals[3], "d", &i) == ASR_ERR_CONFIG, "strict quoted yes is a string");
    CHECK(cfg_get_int(&r, s.vals[4], "e", 0, 5, &i) == ASR_ERR_CONFIG &&
              !strcmp(e.msg, "t.yaml:5:4: e: 7 is out of range [0, 5]"),
          "range: %s", e.msg);
    double d = 0;
    CHECK(cfg_get_double(&r, s.vals[4], "e", 0, 10, &d) == ASR_OK && d == 7.0, "double 7");
    static const char *const names[] = {"x", "y", "z"};
    static const int values[] = {10, 20, 30};
    CHECK(cfg_get_enum(&r, s.vals[4], "e", names, values, 3, &i) == ASR_ERR_CONFIG &&
              !strcmp(e.msg, "t.yaml:5:4: e: expected x, y or z"),
          "enum: %s", e.msg);
    cfg_reader_close(&r);

    CHECK(open_map(&r, "k: z\n", 0, &s, &e) &&
              cfg_get_enum(&r, s.vals[0], "k", names, values, 3, &i) == ASR_OK && i == 30,
          "enum value");
    cfg_reader_close(&r);
}

static void test_structure(void)
{
    cfg_reader r;
    asr_error e = {0};
    seen s;
    CHECK(!open_map(&r, "- a\n- b\n", 0, &s, &e) &&
              !strcmp(e.msg, "t.yaml:1:1: top level: expected a mapping (key: value lines)"),
          "not a mapping: %s", e.msg);
    cfg_reader_close(&r);
    CHECK(!open_map(&r, "a: [1\n", 0, &s, &e) && !strncmp(e.msg, "t.yaml:2:1: ", 12), "syntax error: %s",
          e.msg);
    cfg_reader_close(&r);
    CHECK(cfg_reader_open(&r, "", 0, "t.yaml", 0, &e) == ASR_OK && cfg_root(&r) == NULL, "empty document");
    cfg_reader_close(&r);

    char *text = NULL;
    size_t len = 0;
    CHECK(cfg_read_file("/nonexistent/t.yaml", &text, &len, &e) == ASR_ERR_IO && text == NULL &&
              strstr(e.msg, "/nonexistent/t.yaml"),
          "missing file: %s", e.msg);
    CHECK(cfg_read_file("tests/test_yamlcfg.c", &text, &len, &e) == ASR_OK && text && strlen(text) == len &&
              len > 100,
          "read this file: %s", e.msg);
    free(text);
}

/* A key given twice in one mapping is an error at the second one, naming the first; the same key in
 * two different mappings is fine. */
static void test_duplicates(void)
{
    cfg_reader r;
    asr_error e = {0};
    seen s;
    CHECK(!open_map(&r, "a: 1\nb: 2\na: 3\n", 0, &s, &e) &&
              !strcmp(e.msg, "t.yaml:3:1: duplicate key 'a' (first at line 1, column 1)"),
          "top-level duplicate: %s", e.msg);
    CHECK(s.n == 2, "the walk stops before the duplicate (%d pairs seen)", s.n);
    cfg_reader_close(&r);
    CHECK(!open_map(&r, "{x: 1, y: 2, x: 1}\n", 0, &s, &e) &&
              !strcmp(e.msg, "t.yaml:1:14: duplicate key 'x' (first at line 1, column 2)"),
          "flow-style duplicate, same value: %s", e.msg);
    cfg_reader_close(&r);
    CHECK(!open_map(&r, "'a': 1\n\"a\": 2\n", 0, &s, &e) && strstr(e.msg, "t.yaml:2:1: duplicate key 'a'"),
          "quoting does not make a key different: %s", e.msg);
    cfg_reader_close(&r);
    /* nested: the walk of the inner mapping reports it with the mapping's name */
    const char *nested = "m:\n  k: 1\n  j: 2\n  k: 3\nn: {k: 1}\n";
    CHECK(cfg_reader_open(&r, nested, strlen(nested), "t.yaml", 0, &e) == ASR_OK, "open nested");
    yaml_node_t *root = cfg_root(&r);
    yaml_node_t *m = cfg_node(&r, root->data.mapping.pairs.start[0].value);
    yaml_node_t *n = cfg_node(&r, root->data.mapping.pairs.start[1].value);
    memset(&s, 0, sizeof s);
    CHECK(cfg_walk_map(&r, m, "m", collect, &s) == ASR_ERR_CONFIG &&
              !strcmp(e.msg, "t.yaml:4:3: duplicate key 'm.k' (first at line 2, column 3)"),
          "nested duplicate: %s", e.msg);
    memset(&s, 0, sizeof s);
    CHECK(cfg_walk_map(&r, n, "n", collect, &s) == ASR_OK && s.n == 1, "same key in another mapping: %s",
          e.msg);
    cfg_reader_close(&r);
    CHECK(open_map(&r, "a: 1\nab: 2\nb: 3\n", 0, &s, &e) && s.n == 3, "prefixes are different keys: %s",
          e.msg);
    cfg_reader_close(&r);
}

int main(void)
{
    test_dialects();
    test_structure();
    test_duplicates();
    return TEST_SUMMARY();
}
