/* test_vosk.c - the Vosk protocol layer: client messages parsed (valid, invalid, unknown), replies
 * formatted in Vosk's json.h layout (expected strings written from that layout by hand), and every
 * reply parsed back by cJSON with the values put in. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/vosk.h"
#include "test_util.h"

static vosk_msg_type parse(const char *s, vosk_msg *m)
{
    return vosk_parse(s, strlen(s), m);
}

static void test_parse(void)
{
    vosk_msg m;
    CHECK(parse("{\"eof\" : 1}", &m) == VOSK_MSG_EOF, "eof");
    CHECK(parse("{\"reset\" : 1}", &m) == VOSK_MSG_RESET, "reset");
    CHECK(parse("{\"config\" : {\"sample_rate\" : 8000}}", &m) == VOSK_MSG_CONFIG, "config");
    CHECK(m.config.sample_rate == 8000 && m.config.words == -1 && !m.config.has_phrase_list, "config values");
    vosk_msg_free(&m);
    CHECK(parse("{\"config\": {\"sample_rate\": 44100.0, \"words\": false, \"max_alternatives\": 0, "
                "\"phrase_list\": [\"one two\", \"three\"], \"future_key\": 5}}",
                &m) == VOSK_MSG_CONFIG,
          "full config: %s", m.error);
    CHECK(m.config.sample_rate == 44100 && m.config.words == 0 && m.config.max_alternatives == 0,
          "full values");
    CHECK(m.config.has_phrase_list && m.config.n_phrases == 2 && !strcmp(m.config.phrases[0], "one two") &&
              !strcmp(m.config.phrases[1], "three"),
          "phrase list");
    vosk_msg_free(&m);
    CHECK(m.config.phrases == NULL && m.config.n_phrases == 0, "free clears");
    /* the message need not be NUL-terminated: only len bytes count */
    const char *two = "{\"eof\" : 1}{\"reset\" : 1}";
    CHECK(vosk_parse(two, 11, &m) == VOSK_MSG_EOF, "length-limited parse");

    static const char *const bad[] = {
        "",
        "{",
        "not json",
        "[1, 2]",
        "\"eof\"",
        "{}",
        "{\"hello\" : 1}",
        "{\"config\" : 5}",
        "{\"config\" : {\"sample_rate\" : \"16000\"}}",
        "{\"config\" : {\"sample_rate\" : 16000.5}}",
        "{\"config\" : {\"sample_rate\" : -8000}}",
        "{\"config\" : {\"sample_rate\" : 0}}",
        "{\"config\" : {\"words\" : \"yes\"}}",
        "{\"config\" : {\"phrase_list\" : \"one\"}}",
        "{\"config\" : {\"phrase_list\" : [\"one\", 2]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse(bad[i], &m) == VOSK_MSG_ERROR && m.error[0], "bad message %zu accepted: %s", i, bad[i]);
        CHECK(m.config.phrases == NULL, "bad message %zu leaves no phrase list", i);
    }
    parse("{\"hello\" : 1}", &m);
    CHECK(strstr(m.error, "unknown command") != NULL, "unknown command named: %s", m.error);
    parse("{oops", &m);
    CHECK(strstr(m.error, "invalid JSON") != NULL, "invalid JSON named: %s", m.error);
}

static void test_format(void)
{
    /* Vosk json.h dump(): "{\n" + pad + "\"key\" : " value ... "\n}", arrays inline with ", ",
     * floats via std::to_string (%f), keys sorted. */
    char *s = vosk_format_partial("hello world");
    CHECK(s && !strcmp(s, "{\n  \"partial\" : \"hello world\"\n}"), "partial: %s", s ? s : "(null)");
    free(s);
    s = vosk_format_partial("");
    CHECK(s && !strcmp(s, "{\n  \"partial\" : \"\"\n}"), "empty partial: %s", s ? s : "(null)");
    free(s);
    vosk_word w[2] = {{"one", 0.5, 0.93, 1.0}, {"two", 1.2, 1.5, 0.25}};
    s = vosk_format_result("one two", w, 2, 1);
    const char *want = "{\n  \"result\" : [{\n      \"conf\" : 1.000000,\n      \"end\" : 0.930000,\n"
                       "      \"start\" : 0.500000,\n      \"word\" : \"one\"\n    }, {\n"
                       "      \"conf\" : 0.250000,\n      \"end\" : 1.500000,\n      \"start\" : 1.200000,\n"
                       "      \"word\" : \"two\"\n    }],\n  \"text\" : \"one two\"\n}";
    CHECK(s && !strcmp(s, want), "result:\n%s", s ? s : "(null)");
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    CHECK(j != NULL, "result parses");
    if (j) {
        cJSON *r = cJSON_GetObjectItem(j, "result");
        CHECK(cJSON_GetArraySize(r) == 2, "two words");
        cJSON *w1 = cJSON_GetArrayItem(r, 1);
        CHECK(fabs(cJSON_GetObjectItem(w1, "start")->valuedouble - 1.2) < 1e-9, "start");
        CHECK(!strcmp(cJSON_GetObjectItem(w1, "word")->valuestring, "two"), "word");
        CHECK(!strcmp(cJSON_GetObjectItem(j, "text")->valuestring, "one two"), "text");
        cJSON_Delete(j);
    }
    free(s);
    s = vosk_format_result("one two", w, 2, 0);
    CHECK(s && !strcmp(s, "{\n  \"text\" : \"one two\"\n}"), "words off: %s", s ? s : "(null)");
    free(s);
    s = vosk_format_result("", NULL, 0, 1);
    CHECK(s && !strcmp(s, "{\n  \"text\" : \"\"\n}"), "empty result: %s", s ? s : "(null)");
    free(s);
    /* escaping: whatever goes in comes back out of a JSON parser */
    const char *nasty = "quote\" back\\slash\ttab\nnl \x01 it's";
    s = vosk_format_error(nasty);
    j = s ? cJSON_Parse(s) : NULL;
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "error")->valuestring, nasty), "escaping round trip: %s",
          s ? s : "(null)");
    cJSON_Delete(j);
    free(s);
}

int main(void)
{
    test_parse();
    test_format();
    return TEST_SUMMARY();
}
