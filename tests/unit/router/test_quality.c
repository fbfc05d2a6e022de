/* Cascade quality score (router/quality): each signal on its own, the
 * weighted score, the judge's verdict parsing and blending, and collecting
 * answers from chat.completion objects and chunk streams. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "router/quality.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static hr_config *cfg_default(void) { return hr_config_default(); }

static double score_text(const hr_cascade_config *k, const char *text, hr_quality_report *r) {
    hr_quality_answer a = {.text = text, .len = strlen(text), .finish_reason = "stop"};
    hr_quality_score(k, NULL, &a, r);
    return r->score;
}

static void test_short(void **state) {
    (void)state;
    NEAR(hr_quality_short("", 0, 8), 1.0);
    NEAR(hr_quality_short("   \n ", 5, 8), 1.0);
    NEAR(hr_quality_short("ok", 2, 8), 6.0 / 8);
    NEAR(hr_quality_short("  ok  ", 6, 8), 6.0 / 8);         /* trimmed */
    NEAR(hr_quality_short("你好", strlen("你好"), 8), 6.0 / 8); /* characters, not bytes */
    NEAR(hr_quality_short("a b", 3, 8), 5.0 / 8);             /* inner space counts */
    NEAR(hr_quality_short("Paris is.", 9, 8), 0);
    NEAR(hr_quality_short("12345678", 8, 8), 0);              /* boundary: exactly min */
    NEAR(hr_quality_short("1234567", 7, 8), 1.0 / 8);
    NEAR(hr_quality_short("", 0, 0), 0);                      /* off */
}

static void test_uncertainty(void **state) {
    (void)state;
    hr_config *c = cfg_default();
    char *const *ph = c->cascade.uncertainty_phrases;
    size_t n = c->cascade.n_uncertainty_phrases;
    const char *hits[] = {"这个问题我不确定。", "我不太清楚这个。", "目前无法确定答案", "我不知道",
                          "Honestly, I'm not sure.", "I DON'T KNOW the answer", "I cannot help with that",
                          "I’m not sure (curly apostrophe)"};
    for (size_t i = 0; i < sizeof hits / sizeof *hits; i++)
        if (hr_quality_uncertainty(hits[i], strlen(hits[i]), ph, n) != 1) fail_msg("no hit in '%s'", hits[i]);
    const char *clean[] = {"The capital of France is Paris.", "我确定答案是42。", "I know the answer: 4.", ""};
    for (size_t i = 0; i < sizeof clean / sizeof *clean; i++)
        if (hr_quality_uncertainty(clean[i], strlen(clean[i]), ph, n) != 0) fail_msg("false hit in '%s'", clean[i]);
    char *custom[] = {"Perhaps"};
    NEAR(hr_quality_uncertainty("perhaps so", 10, custom, 1), 1);
    NEAR(hr_quality_uncertainty("perhaps so", 10, NULL, 0), 0);
    hr_config_free(c);
}

static void test_repetition(void **state) {
    (void)state;
    NEAR(hr_quality_repetition("One sentence only.", 18), 0);
    const char *rep = "The answer is 4. The answer is 4. The answer is 4. The answer is 4.";
    NEAR(hr_quality_repetition(rep, strlen(rep)), 3.0 / 4);
    const char *ws = "the  Answer is 4!  THE answer   is 4?";
    NEAR(hr_quality_repetition(ws, strlen(ws)), 1.0 / 2); /* spaces collapsed, case folded */
    const char *zh = "我很好。我很好。你最近怎么样？";
    NEAR(hr_quality_repetition(zh, strlen(zh)), 1.0 / 3);
    const char *fw = "真的吗！真的吗！";
    NEAR(hr_quality_repetition(fw, strlen(fw)), 1.0 / 2);
    const char *distinct = "First point. Second point. Third point.";
    NEAR(hr_quality_repetition(distinct, strlen(distinct)), 0);
    const char *list = "1. apples\n2. pears\n3. plums"; /* "1", "2" are too short to count */
    NEAR(hr_quality_repetition(list, strlen(list)), 0);
}

static void test_ramp(void **state) {
    (void)state;
    NEAR(hr_quality_ramp(-0.1, -0.5, -2.0), 0);
    NEAR(hr_quality_ramp(-0.5, -0.5, -2.0), 0);
    NEAR(hr_quality_ramp(-1.25, -0.5, -2.0), 0.5);
    NEAR(hr_quality_ramp(-2.0, -0.5, -2.0), 1);
    NEAR(hr_quality_ramp(-9.0, -0.5, -2.0), 1);
}

static void test_logprob_signals(void **state) {
    (void)state;
    hr_config *c = cfg_default();
    const char *t = "The capital of France is Paris.";
    float good[] = {-0.1f, -0.2f, -0.05f, -0.3f};
    hr_quality_answer a = {.text = t, .len = strlen(t), .logprobs = good, .n_logprobs = 4};
    hr_quality_report r;
    hr_quality_score(&c->cascade, NULL, &a, &r);
    assert_true(r.has_logprobs);
    assert_true(fabs(r.mean_logprob - (-0.1625)) < 1e-6);
    assert_true(fabs(r.min_logprob - (-0.3)) < 1e-6);
    NEAR(r.score, 1.0);
    /* mean -1.25: half the mean penalty (0.5 * 0.5); min -2: none */
    float mid[] = {-0.5f, -2.0f, -1.0f, -1.5f};
    a.logprobs = mid;
    hr_quality_score(&c->cascade, NULL, &a, &r);
    assert_true(fabs(r.penalty[HR_QS_MEAN_LOGPROB] - 0.5) < 1e-6);
    NEAR(r.penalty[HR_QS_MIN_LOGPROB], 0);
    assert_true(fabs(r.score - 0.75) < 1e-6);
    /* one very unlikely token: only the min signal fires (min -12 => full) */
    float spike[41];
    for (int i = 0; i < 40; i++) spike[i] = -0.01f;
    spike[40] = -12.0f; /* mean -0.30: no mean penalty */
    a.logprobs = spike;
    a.n_logprobs = 41;
    hr_quality_score(&c->cascade, NULL, &a, &r);
    assert_true(fabs(r.penalty[HR_QS_MIN_LOGPROB] - 1) < 1e-6);
    assert_true(fabs(r.score - 0.8) < 1e-6);
    /* no logprobs: neither signal */
    a.logprobs = NULL;
    a.n_logprobs = 0;
    hr_quality_score(&c->cascade, NULL, &a, &r);
    assert_false(r.has_logprobs);
    NEAR(r.score, 1.0);
    hr_config_free(c);
}

static void test_length(void **state) {
    (void)state;
    hr_config *c = cfg_default();
    const char *t = "A long enough answer that was cut";
    hr_quality_answer a = {.text = t, .len = strlen(t), .finish_reason = "length"};
    hr_quality_report r;
    hr_quality_score(&c->cascade, NULL, &a, &r);
    NEAR(r.penalty[HR_QS_LENGTH], 1);
    NEAR(r.score, 0.5);
    a.finish_reason = "stop";
    hr_quality_score(&c->cascade, NULL, &a, &r);
    NEAR(r.score, 1);
    hr_config_free(c);
}

static void test_format_json(void **state) {
    (void)state;
    cJSON *req = cJSON_Parse("{\"messages\":[],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                             "\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
                             "\"integer\"}},\"required\":[\"n\"]}}}}");
    char err[200];
    hr_quality_answer a = {.text = "{\"n\": 3}", .len = 8};
    NEAR(hr_quality_format(req, &a, err, sizeof err), 0);
    a.text = "{\"n\": \"three\"}";
    a.len = strlen(a.text);
    NEAR(hr_quality_format(req, &a, err, sizeof err), 1);
    assert_non_null(strstr(err, "response_format"));
    a.text = "Sure! Here is the JSON: {\"n\": 3}";
    a.len = strlen(a.text);
    NEAR(hr_quality_format(req, &a, err, sizeof err), 1);
    cJSON_Delete(req);
    req = cJSON_Parse("{\"response_format\":{\"type\":\"json_object\"}}");
    a.text = " {\"anything\": [1,2]} ";
    a.len = strlen(a.text);
    NEAR(hr_quality_format(req, &a, err, sizeof err), 0);
    a.text = "[1,2]";
    a.len = 5;
    NEAR(hr_quality_format(req, &a, err, sizeof err), 1);
    cJSON_Delete(req);
    /* no request / plain text request: never a format problem */
    NEAR(hr_quality_format(NULL, &a, err, sizeof err), 0);
    req = cJSON_Parse("{\"response_format\":{\"type\":\"text\"}}");
    NEAR(hr_quality_format(req, &a, err, sizeof err), 0);
    cJSON_Delete(req);
}

static const char *tools_req =
    "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]%s}";

static cJSON *tools_request(const char *extra) {
    char buf[1024];
    snprintf(buf, sizeof buf, tools_req, extra);
    cJSON *r = cJSON_Parse(buf);
    assert_non_null(r);
    return r;
}

static double format_calls(cJSON *req, const char *calls_json, const char *content, char *err) {
    cJSON *calls = calls_json ? cJSON_Parse(calls_json) : NULL;
    hr_quality_answer a = {.text = content, .len = content ? strlen(content) : 0, .tool_calls = calls};
    double p = hr_quality_format(req, &a, err, 200);
    cJSON_Delete(calls);
    return p;
}

static void test_format_tools(void **state) {
    (void)state;
    char err[200];
    cJSON *req = tools_request("");
    NEAR(format_calls(req, "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                           "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]", NULL, err), 0);
    NEAR(format_calls(req, "[{\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]", NULL, err), 1);
    assert_non_null(strstr(err, "unknown function"));
    NEAR(format_calls(req, "[{\"function\":{\"name\":\"get_weather\",\"arguments\":\"{city: Paris\"}}]", NULL, err), 1);
    assert_non_null(strstr(err, "not a JSON object"));
    NEAR(format_calls(req, "[{\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":3}\"}}]", NULL, err),
         1); /* fails the parameters schema */
    NEAR(format_calls(req, NULL, "<tool_call>\n{\"name\": \"get_weather\"", err), 1);
    assert_non_null(strstr(err, "<tool_call>"));
    NEAR(format_calls(req, NULL, "It is sunny in Paris today.", err), 0); /* auto: text is fine */
    hr_quality_answer inv = {.text = "", .invalid_tool_calls = true};
    NEAR(hr_quality_format(req, &inv, err, sizeof err), 1);
    cJSON_Delete(req);
    req = tools_request(",\"tool_choice\":\"required\"");
    NEAR(format_calls(req, NULL, "It is sunny in Paris today.", err), 1);
    cJSON_Delete(req);
}

static void test_weighted_score(void **state) {
    (void)state;
    hr_config *c = cfg_default();
    hr_cascade_config *k = &c->cascade;
    hr_quality_report r;
    NEAR(score_text(k, "The capital of France is Paris.", &r), 1.0);
    /* short (2 of 8 chars: 0.75 * 0.5) */
    NEAR(score_text(k, "ok", &r), 1 - 0.75 * 0.5);
    /* uncertainty 0.4 */
    NEAR(score_text(k, "I'm not sure, maybe Paris.", &r), 0.6);
    /* uncertainty + repetition (1/2 * 0.6) */
    NEAR(score_text(k, "I don't know the answer. I don't know the answer.", &r), 1 - 0.4 - 0.3);
    /* clamped at 0 */
    assert_true(score_text(k, "我不知道。我不知道。我不知道。", &r) >= 0);
    /* weight 0 turns a signal off */
    k->weights.uncertainty = 0;
    NEAR(score_text(k, "I'm not sure, maybe Paris.", &r), 1.0);
    cJSON *j = hr_quality_report_json(&r);
    char *s = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(s, "\"score\":1"));
    free(s);
    cJSON_Delete(j);
    score_text(k, "ok", &r);
    j = hr_quality_report_json(&r);
    s = cJSON_PrintUnformatted(j);
    assert_non_null(strstr(s, "\"short_answer\":0.75"));
    free(s);
    cJSON_Delete(j);
    hr_config_free(c);
}

static void test_judge(void **state) {
    (void)state;
    assert_int_equal(hr_quality_judge_verdict("yes", 3), 1);
    assert_int_equal(hr_quality_judge_verdict(" Yes.", 5), 1);
    assert_int_equal(hr_quality_judge_verdict("**YES**", 7), 1);
    assert_int_equal(hr_quality_judge_verdict("No, it is wrong", 15), 0);
    assert_int_equal(hr_quality_judge_verdict("\"no\"", 4), 0);
    assert_int_equal(hr_quality_judge_verdict("是的", strlen("是的")), 1);
    assert_int_equal(hr_quality_judge_verdict("不是", strlen("不是")), 0);
    assert_int_equal(hr_quality_judge_verdict("否", strlen("否")), 0);
    assert_int_equal(hr_quality_judge_verdict("maybe", 5), -1);
    assert_int_equal(hr_quality_judge_verdict("yesterday", 9), -1);
    assert_int_equal(hr_quality_judge_verdict("nothing", 7), -1);
    assert_int_equal(hr_quality_judge_verdict("", 0), -1);
    assert_int_equal(hr_quality_judge_verdict(NULL, 0), -1);
    NEAR(hr_quality_with_judge(0.5, 1, 0.6), 0.8);
    NEAR(hr_quality_with_judge(1.0, 0, 0.6), 0.4);
    NEAR(hr_quality_with_judge(0.5, -1, 0.6), 0.5); /* judge failed: heuristic */
    assert_true(hr_quality_judge_matters(0.5, 0.6, 0.7));   /* 0.2 .. 0.8 straddles 0.7 */
    assert_false(hr_quality_judge_matters(0.1, 0.2, 0.7));  /* 0.08 .. 0.28: escalates anyway */
    assert_false(hr_quality_judge_matters(1.0, 0.2, 0.7));  /* 0.8 .. 1: accepted anyway */
    assert_false(hr_quality_judge_matters(0.5, 0, 0.7));
    cJSON *req = hr_quality_judge_request(NULL, "What is 2+2?", "4", 1);
    const cJSON *m = cJSON_GetObjectItem(req, "messages");
    assert_int_equal(cJSON_GetArraySize(m), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "content")->valuestring,
                        hr_quality_judge_default_prompt);
    const char *u = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")->valuestring;
    assert_non_null(strstr(u, "What is 2+2?"));
    assert_non_null(strstr(u, "Answer:\n4"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(req, "stream")));
    cJSON_Delete(req);
    /* custom prompt, long answer cut */
    size_t big = 20000;
    char *ans = malloc(big);
    memset(ans, 'a', big);
    req = hr_quality_judge_request("Grade it.", "q", ans, big);
    m = cJSON_GetObjectItem(req, "messages");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "content")->valuestring, "Grade it.");
    assert_true(strlen(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1), "content")->valuestring) < 9000);
    cJSON_Delete(req);
    free(ans);
}

static void test_collect_completion(void **state) {
    (void)state;
    cJSON *obj = cJSON_Parse(
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"Hello\",\"logprob\":-0.25},{\"token\":\" there\",\"logprob\":-1.5}]},"
        "\"finish_reason\":\"length\"}]}");
    hr_answer a;
    hr_answer_init(&a);
    hr_answer_add_completion(&a, obj);
    hr_quality_answer v;
    hr_answer_view(&a, &v);
    assert_string_equal(v.text, "Hello there");
    assert_string_equal(v.finish_reason, "length");
    assert_int_equal(v.n_logprobs, 2);
    assert_true(fabs(v.logprobs[1] + 1.5) < 1e-6);
    hr_answer_free(&a);
    cJSON_Delete(obj);
}

static void test_collect_stream(void **state) {
    (void)state;
    const char *chunks[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"logprobs\":{\"content\":"
        "[{\"token\":\"Hel\",\"logprob\":-0.5}]},\"finish_reason\":null}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"logprobs\":{\"content\":[{\"token\":\"lo\","
        "\"logprob\":-0.1}]},\"finish_reason\":null}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"{\\\"city\\\":\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"\\\"Paris\\\"}\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
    };
    hr_answer a;
    hr_answer_init(&a);
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        cJSON *c = cJSON_Parse(chunks[i]);
        assert_non_null(c);
        hr_answer_add_chunk(&a, c);
        cJSON_Delete(c);
    }
    hr_quality_answer v;
    hr_answer_view(&a, &v);
    assert_string_equal(v.text, "Hello");
    assert_string_equal(v.finish_reason, "tool_calls");
    assert_int_equal(v.n_logprobs, 2);
    assert_int_equal(a.chunks, 5);
    assert_int_equal(cJSON_GetArraySize(v.tool_calls), 1);
    const cJSON *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(v.tool_calls, 0), "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "name")->valuestring, "get_weather");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"city\":\"Paris\"}");
    /* the merged call passes the format check of its request */
    cJSON *req = tools_request("");
    char err[200];
    NEAR(hr_quality_format(req, &v, err, sizeof err), 0);
    cJSON_Delete(req);
    hr_answer_free(&a);
}

static void test_config_keys(void **state) {
    (void)state;
    const char *yaml = "tiers:\n  small:\n    backends: [{ url: http://a/v1, model: m }]\n"
                       "  large:\n    backends: [{ url: http://b/v1, model: m }]\n"
                       "router:\n  strategy: cascade\n  cascade:\n    quality_threshold: 0.5\n    max_cascade: 1\n"
                       "    weights: { short_answer: 0.1, judge: 0.9, format: 0 }\n"
                       "    short_answer_chars: 3\n    uncertainty_phrases: [hmm]\n"
                       "    logprob: { mean_good: -0.2, mean_bad: -1 }\n    request_logprobs: false\n"
                       "    judge: { enabled: true, tier: large, prompt: \"Grade.\", timeout: 2s }\n"
                       "    stream_early_accept: { enabled: true, after_tokens: 4, min_mean_logprob: -0.1 }\n";
    char err[512] = "";
    hr_config *c = hr_config_parse(yaml, strlen(yaml), "t.yaml", err, sizeof err);
    if (!c) fail_msg("%s", err);
    hr_cascade_config *k = &c->cascade;
    NEAR(k->quality_threshold, 0.5);
    assert_int_equal(k->max_cascade, 1);
    NEAR(k->weights.short_answer, 0.1);
    NEAR(k->weights.judge, 0.9);
    NEAR(k->weights.format, 0);
    NEAR(k->weights.uncertainty, 0.4); /* default kept */
    assert_int_equal(k->short_answer_chars, 3);
    assert_int_equal(k->n_uncertainty_phrases, 1);
    NEAR(k->logprob_mean_good, -0.2);
    NEAR(k->logprob_min_bad, -12);
    assert_false(k->request_logprobs);
    assert_true(k->judge.enabled);
    assert_int_equal(k->judge.tier, HR_TIER_LARGE);
    assert_string_equal(k->judge.prompt, "Grade.");
    NEAR(k->judge.timeout_s, 2);
    assert_true(k->stream_early_accept.enabled);
    assert_int_equal(k->stream_early_accept.after_tokens, 4);
    hr_config_free(c);

    const char *bad[][2] = {
        {"router:\n  cascade:\n    weights: { shortness: 1 }\n", "router.cascade.weights.shortness: unknown key"},
        {"router:\n  cascade:\n    weights: { format: 2 }\n", "router.cascade.weights.format: must be between"},
        {"router:\n  cascade:\n    judge: { tier: huge }\n", "router.cascade.judge.tier: expected small"},
        {"router:\n  cascade:\n    judge: { enabled: true, tier: medium }\n", "judge.tier: tier 'medium' is not"},
        {"router:\n  cascade:\n    logprob: { mean_good: -3, mean_bad: -1 }\n", "below its *_good bar"},
        {"router:\n  cascade:\n    stream_early_accept: { after_tokens: 0 }\n", "after_tokens: must be between"},
        {"router:\n  cascade:\n    nope: 1\n", "router.cascade.nope: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char y[1024];
        snprintf(y, sizeof y, "tiers:\n  small:\n    backends: [{ url: http://a/v1, model: m }]\n%s", bad[i][0]);
        c = hr_config_parse(y, strlen(y), "t.yaml", err, sizeof err);
        if (c) fail_msg("case %zu parsed", i);
        if (!strstr(err, bad[i][1])) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short),          cmocka_unit_test(test_uncertainty),
        cmocka_unit_test(test_repetition),     cmocka_unit_test(test_ramp),
        cmocka_unit_test(test_logprob_signals), cmocka_unit_test(test_length),
        cmocka_unit_test(test_format_json),    cmocka_unit_test(test_format_tools),
        cmocka_unit_test(test_weighted_score), cmocka_unit_test(test_judge),
        cmocka_unit_test(test_collect_completion), cmocka_unit_test(test_collect_stream),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
