/* Hermes filter (src/backend/hermes_filter.h), driven directly through its
 * sink with canned upstream objects: which stages a request gets, the
 * /completions body, text chunks -> chat chunks (order: content, call start,
 * arguments, finish, usage), JSON-mode retry / flag / retry failure, and the
 * cap on a held JSON-mode stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/hermes_filter.h"

/* ---- a recording sink ---- */

typedef struct {
    hr_sink sink;
    cJSON *chunks;  /* array of chunk objects */
    cJSON *complete;
    hr_usage usage;
    int n_done, n_complete, n_error;
    int error_status;
    char error_code[64];
} rec;

static void rec_chunk(hr_sink *s, cJSON *c, const char *raw, size_t n) { cJSON_AddItemToArray(((rec *)s)->chunks, c); }
static void rec_done(hr_sink *s, const hr_usage *u) {
    rec *r = (rec *)s;
    r->n_done++;
    if (u) r->usage = *u;
}
static void rec_complete(hr_sink *s, cJSON *obj, const char *raw, size_t n, const hr_usage *u) {
    rec *r = (rec *)s;
    r->n_complete++;
    cJSON_Delete(r->complete);
    r->complete = obj;
    if (u) r->usage = *u;
}
static void rec_error(hr_sink *s, const hr_backend_error *e) {
    rec *r = (rec *)s;
    r->n_error++;
    r->error_status = e->status;
    snprintf(r->error_code, sizeof r->error_code, "%s", e->code ? e->code : "");
}
static const hr_sink_ops rec_ops = {rec_chunk, rec_done, rec_complete, rec_error};

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    r->sink.ops = &rec_ops;
    r->chunks = cJSON_CreateArray();
}
static void rec_free(rec *r) {
    cJSON_Delete(r->chunks);
    cJSON_Delete(r->complete);
}

static int n_retry_calls;
static bool retry_yes(void *ud) { return ++n_retry_calls > 0; }
static bool retry_no(void *ud) {
    n_retry_calls++;
    return false;
}

static void parse_req(const char *body, hr_chat_request *req) {
    hr_request_error err;
    int rc = hr_chat_request_parse(body, strlen(body), req, &err);
    if (rc) fprintf(stderr, "parse: %s\n", err.message);
    assert_int_equal(rc, 0);
}

#define TOOLS                                                                                                    \
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","     \
    "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]"

static hr_backend_config backend(hr_tool_format tf) {
    hr_backend_config bc;
    memset(&bc, 0, sizeof bc);
    bc.type = HR_BACKEND_OPENAI;
    bc.url = "http://127.0.0.1:1/v1";
    bc.tool_format = tf;
    return bc;
}

/* The upstream's text_completion chunk (the filter takes ownership). */
static cJSON *text_chunk(const char *text, const char *finish) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", "cmpl-7");
    cJSON_AddStringToObject(c, "object", "text_completion");
    cJSON_AddNumberToObject(c, "created", 3);
    cJSON_AddStringToObject(c, "model", "m");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddStringToObject(ch, "text", text);
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), ch);
    return c;
}

static cJSON *chat_completion(const char *content) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "object", "chat.completion");
    cJSON *ch = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), ch);
    return c;
}

static const cJSON *hermes_of(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "hermes"), key);
}

/* ---- tests ---- */

static void test_mode(void **state) {
    hr_backend_config h = backend(HR_TOOLS_HERMES), o = backend(HR_TOOLS_OPENAI);
    hr_chat_request plain, tools, json, history;
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &plain);
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":" TOOLS "}", &tools);
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}", &json);
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":null,"
              "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"1\"}]}",
              &history);
    assert_int_equal(hr_hermes_filter_mode(&h, &plain), 0);
    assert_int_equal(hr_hermes_filter_mode(&o, &plain), 0);
    assert_int_equal(hr_hermes_filter_mode(&h, &tools), HR_HERMES_FILTER_TEXT);
    assert_int_equal(hr_hermes_filter_mode(&o, &tools), 0);
    assert_int_equal(hr_hermes_filter_mode(&h, &json), HR_HERMES_FILTER_TEXT | HR_HERMES_FILTER_JSON);
    assert_int_equal(hr_hermes_filter_mode(&o, &json), HR_HERMES_FILTER_JSON);
    assert_int_equal(hr_hermes_filter_mode(&h, &history), HR_HERMES_FILTER_TEXT);
    hr_backend_config e = h;
    e.type = HR_BACKEND_EMBEDDED; /* the engine renders itself: no text endpoint */
    assert_int_equal(hr_hermes_filter_mode(&e, &tools), 0);
    hr_chat_request_free(&plain);
    hr_chat_request_free(&tools);
    hr_chat_request_free(&json);
    hr_chat_request_free(&history);
}

static void test_completions_body(void **state) {
    hr_chat_request req;
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":" TOOLS ",\"stream\":true,"
              "\"max_tokens\":12,\"temperature\":0.5,\"stop\":\"END\",\"logprobs\":true}",
              &req);
    rec r;
    rec_init(&r);
    hr_request_error err;
    hr_hermes_filter *f = hr_hermes_filter_create(HR_HERMES_FILTER_TEXT, &req, &r.sink, &err);
    assert_non_null(f);
    char *body = hr_hermes_filter_completions_body(f, "up-model");
    cJSON *b = cJSON_Parse(body);
    assert_string_equal(cJSON_GetObjectItem(b, "model")->valuestring, "up-model");
    const char *prompt = cJSON_GetObjectItem(b, "prompt")->valuestring;
    assert_non_null(strstr(prompt, "<tools> {\"type\": \"function\""));
    assert_non_null(strstr(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
    cJSON *stop = cJSON_GetObjectItem(b, "stop");
    assert_int_equal(cJSON_GetArraySize(stop), 2);
    assert_string_equal(cJSON_GetArrayItem(stop, 0)->valuestring, "<|im_end|>");
    assert_string_equal(cJSON_GetArrayItem(stop, 1)->valuestring, "END");
    assert_int_equal((int)cJSON_GetObjectItem(b, "max_tokens")->valuedouble, 12);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "stream")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "stream_options"), "include_usage")));
    assert_null(cJSON_GetObjectItem(b, "logprobs")); /* chat-shaped fields stay behind */
    assert_null(cJSON_GetObjectItem(b, "messages"));
    cJSON_Delete(b);
    free(body);
    hr_hermes_filter_free(f);
    rec_free(&r);
    hr_chat_request_free(&req);
}

static void test_text_stream_to_chat_chunks(void **state) {
    hr_chat_request req;
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":" TOOLS ",\"stream\":true}", &req);
    rec r;
    rec_init(&r);
    hr_request_error err;
    hr_hermes_filter *f = hr_hermes_filter_create(HR_HERMES_FILTER_TEXT, &req, &r.sink, &err);
    hr_sink *s = hr_hermes_filter_sink(f);
    const char *pieces[] = {"Ok.", "<tool", "_call>{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Oslo\"}}</tool_call>"};
    for (size_t i = 0; i < 4; i++) s->ops->chunk(s, text_chunk(pieces[i], NULL), NULL, 0);
    s->ops->chunk(s, text_chunk("", "stop"), NULL, 0);
    cJSON *usage_only = cJSON_Parse("{\"id\":\"cmpl-7\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}");
    s->ops->chunk(s, usage_only, NULL, 0);
    hr_usage u = {3, 4};
    s->ops->done(s, &u);

    assert_int_equal(r.n_done, 1);
    assert_int_equal(r.usage.completion_tokens, 4);
    int n = cJSON_GetArraySize(r.chunks);
    assert_int_equal(n, 5); /* content, call start, arguments, finish, usage */
    const char *want[] = {"content", "tool_calls", "tool_calls", NULL, NULL};
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_GetArrayItem(r.chunks, i);
        assert_string_equal(cJSON_GetObjectItem(c, "object")->valuestring, "chat.completion.chunk");
        assert_string_equal(cJSON_GetObjectItem(c, "id")->valuestring, "chatcmpl-7");
        cJSON *choices = cJSON_GetObjectItem(c, "choices");
        if (i == 4) {
            assert_int_equal(cJSON_GetArraySize(choices), 0);
            assert_non_null(cJSON_GetObjectItem(c, "usage"));
            continue;
        }
        cJSON *d = cJSON_GetObjectItem(cJSON_GetArrayItem(choices, 0), "delta");
        assert_int_equal(cJSON_HasObjectItem(d, "role"), i == 0);
        if (want[i]) assert_true(cJSON_HasObjectItem(d, want[i]));
        const cJSON *fr = cJSON_GetObjectItem(cJSON_GetArrayItem(choices, 0), "finish_reason");
        if (i == 3) assert_string_equal(fr->valuestring, "tool_calls");
        else assert_true(cJSON_IsNull(fr));
    }
    cJSON *start = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(
                       cJSON_GetObjectItem(cJSON_GetArrayItem(r.chunks, 1), "choices"), 0), "delta"), "tool_calls"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(start, "function"), "name")->valuestring, "get_weather");
    assert_memory_equal(cJSON_GetObjectItem(start, "id")->valuestring, "call_", 5);
    hr_hermes_filter_free(f);
    rec_free(&r);
    hr_chat_request_free(&req);
}

static const char *JSON_REQ = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":"
                              "\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":\"object\","
                              "\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}}}}";

static void test_json_retry_then_flag(void **state) {
    hr_chat_request req;
    parse_req(JSON_REQ, &req);
    rec r;
    rec_init(&r);
    hr_request_error err;
    hr_hermes_filter *f = hr_hermes_filter_create(HR_HERMES_FILTER_JSON, &req, &r.sink, &err);
    hr_hermes_filter_set_retry(f, retry_yes, NULL);
    hr_sink *s = hr_hermes_filter_sink(f);
    n_retry_calls = 0;
    s->ops->complete(s, chat_completion("{\"a\": \"x\"}"), NULL, 0, NULL);
    assert_int_equal(n_retry_calls, 1);
    assert_int_equal(r.n_complete, 0); /* held while the retry runs */
    s->ops->complete(s, chat_completion("{\"a\": 2.5}"), NULL, 0, NULL);
    assert_int_equal(n_retry_calls, 1); /* once only */
    assert_int_equal(r.n_complete, 1);
    assert_true(cJSON_IsFalse(hermes_of(r.complete, "json_valid")));
    assert_int_equal((int)hermes_of(r.complete, "json_retries")->valuedouble, 1);
    assert_non_null(strstr(hermes_of(r.complete, "json_error")->valuestring, "$.a"));
    hr_hermes_filter_free(f);
    rec_free(&r);

    /* no retry available: flagged at once */
    rec_init(&r);
    f = hr_hermes_filter_create(HR_HERMES_FILTER_JSON, &req, &r.sink, &err);
    hr_hermes_filter_set_retry(f, retry_no, NULL);
    s = hr_hermes_filter_sink(f);
    s->ops->complete(s, chat_completion("nope"), NULL, 0, NULL);
    assert_int_equal(r.n_complete, 1);
    assert_true(cJSON_IsFalse(hermes_of(r.complete, "json_valid")));
    assert_int_equal((int)hermes_of(r.complete, "json_retries")->valuedouble, 0);
    hr_hermes_filter_free(f);
    rec_free(&r);
    hr_chat_request_free(&req);
}

static void test_json_retry_error_releases_first_answer(void **state) {
    hr_chat_request req;
    parse_req(JSON_REQ, &req);
    rec r;
    rec_init(&r);
    hr_request_error err;
    hr_hermes_filter *f = hr_hermes_filter_create(HR_HERMES_FILTER_JSON, &req, &r.sink, &err);
    hr_hermes_filter_set_retry(f, retry_yes, NULL);
    hr_sink *s = hr_hermes_filter_sink(f);
    s->ops->complete(s, chat_completion("first"), NULL, 0, NULL);
    hr_backend_error e = {502, "upstream_error", "upstream_error", "boom", false};
    s->ops->error(s, &e);
    assert_int_equal(r.n_error, 0);
    assert_int_equal(r.n_complete, 1);
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.complete, "choices"), 0), "message");
    assert_string_equal(cJSON_GetObjectItem(msg, "content")->valuestring, "first");
    assert_non_null(strstr(hermes_of(r.complete, "json_error")->valuestring, "the retry failed"));
    hr_hermes_filter_free(f);
    rec_free(&r);
    hr_chat_request_free(&req);
}

static void test_json_stream_cap(void **state) {
    hr_chat_request req;
    parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
              "\"response_format\":{\"type\":\"json_object\"}}",
              &req);
    rec r;
    rec_init(&r);
    hr_request_error err;
    hr_hermes_filter *f = hr_hermes_filter_create(HR_HERMES_FILTER_JSON, &req, &r.sink, &err);
    hr_sink *s = hr_hermes_filter_sink(f);
    size_t piece = 1u << 20;
    char *big = malloc(piece + 1);
    memset(big, ' ', piece);
    big[piece] = 0;
    for (unsigned i = 0; i < (HR_HERMES_FILTER_MAX_HELD >> 20) + 2; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ch, "delta"), "content", big);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), ch);
        s->ops->chunk(s, c, NULL, 0);
    }
    s->ops->done(s, NULL);
    free(big);
    assert_int_equal(r.n_error, 1);
    assert_int_equal(r.error_status, 502);
    assert_string_equal(r.error_code, "json_answer_too_large");
    assert_int_equal(cJSON_GetArraySize(r.chunks), 0);
    assert_int_equal(r.n_done, 0);
    hr_hermes_filter_free(f);
    rec_free(&r);
    hr_chat_request_free(&req);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_completions_body),
        cmocka_unit_test(test_text_stream_to_chat_chunks),
        cmocka_unit_test(test_json_retry_then_flag),
        cmocka_unit_test(test_json_retry_error_releases_first_answer),
        cmocka_unit_test(test_json_stream_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
