/* Tool-call output parser: single, multiple, streamed at every split point,
 * malformed calls, prefill, parallel_tool_calls=false, one-shot message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"
#include "hermes/hermes.h"

static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\"},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}},\"required\":[\"location\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";

/* An event log: content concatenated, tool events as lines. */
typedef struct {
    hr_buf content;
    hr_buf calls;   /* "START i id name\nARGS i text\nEND i\n" / "INVALID i name|error|raw\n" */
    int n_content_events;
    bool bad_delta; /* a content delta that is not whole UTF-8 or shows a tag */
} elog;

static void on_event(void *user, const hr_hermes_event *ev) {
    elog *l = user;
    switch (ev->type) {
    case HR_HERMES_EV_CONTENT:
        assert_true(ev->len > 0);
        if (hr_utf8_complete_prefix(ev->text, ev->len) != ev->len) l->bad_delta = true;
        if (memmem(ev->text, ev->len, "<tool_call>", 11)) l->bad_delta = true;
        hr_buf_append(&l->content, ev->text, ev->len);
        l->n_content_events++;
        break;
    case HR_HERMES_EV_TOOL_START:
        hr_buf_printf(&l->calls, "START %d %s %s\n", ev->index, ev->id, ev->name);
        break;
    case HR_HERMES_EV_TOOL_ARGS:
        hr_buf_printf(&l->calls, "ARGS %d %.*s\n", ev->index, (int)ev->len, ev->text);
        break;
    case HR_HERMES_EV_TOOL_END:
        hr_buf_printf(&l->calls, "END %d %s\n", ev->index, ev->id);
        break;
    case HR_HERMES_EV_TOOL_INVALID:
        hr_buf_printf(&l->calls, "INVALID %d %s|%s|%.*s\n", ev->index, ev->name ? ev->name : "-", ev->error,
                      (int)ev->len, ev->text);
        break;
    }
}

static cJSON *tools_json(void) {
    cJSON *t = cJSON_Parse(TOOLS);
    assert_non_null(t);
    return t;
}

/* Feeds text cut at the given points; returns the log (caller frees). */
static void run_split(const cJSON *tools, const char *text, const size_t *cuts, int ncuts, elog *l,
                      const hr_hermes_parser_params *base) {
    memset(l, 0, sizeof *l);
    hr_buf_init(&l->content, 0);
    hr_buf_init(&l->calls, 0);
    hr_hermes_parser_params p = base ? *base : hr_hermes_parser_default_params();
    p.tools = tools;
    if (!p.id_seed) p.id_seed = 42;
    p.on_event = on_event;
    p.user = l;
    hr_hermes_parser *ps = hr_hermes_parser_create(&p);
    size_t n = strlen(text), at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        hr_hermes_parser_feed(ps, text + at, end - at);
        at = end;
    }
    hr_hermes_parser_finish(ps);
    hr_hermes_parser_free(ps);
    if (!l->content.data) hr_buf_puts(&l->content, "");
    if (!l->calls.data) hr_buf_puts(&l->calls, "");
}

static void elog_free(elog *l) {
    hr_buf_free(&l->content);
    hr_buf_free(&l->calls);
}

static void test_single_call(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    elog l;
    run_split(tools, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
              NULL, 0, &l, NULL);
    assert_string_equal(l.content.data, "");
    assert_int_equal(l.n_content_events, 0);
    assert_non_null(strstr(l.calls.data, "START 0 call_"));
    assert_non_null(strstr(l.calls.data, " get_weather\nARGS 0 {\"location\":\"Paris\"}\nEND 0 call_"));
    elog_free(&l);
    cJSON_Delete(tools);
}

static void test_multiple_calls_and_text(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    elog l;
    run_split(tools,
              "Let me check both.\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Oslo\", "
              "\"unit\": \"c\"}}\n</tool_call>\n<tool_call>\n{\"arguments\": {}, \"name\": \"get_time\"}\n</tool_call>\n",
              NULL, 0, &l, NULL);
    assert_string_equal(l.content.data, "Let me check both.");
    const char *s0 = strstr(l.calls.data, "START 0 "), *s1 = strstr(l.calls.data, "START 1 ");
    assert_non_null(s0);
    assert_non_null(s1);
    assert_non_null(strstr(l.calls.data, "ARGS 0 {\"location\":\"Oslo\",\"unit\":\"c\"}\n"));
    assert_non_null(strstr(l.calls.data, "ARGS 1 {}\n"));
    assert_memory_not_equal(s0 + 8, s1 + 8, 29); /* distinct ids */
    elog_free(&l);
    cJSON_Delete(tools);
}

static const char *STREAM_TEXT =
    "Sure — a < b and <tool_response> stay text; 日本語 😀 here.\n"
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Zürich </tool\", \"unit\": \"f\"}}\n</tool_call>\n"
    "<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>"
    "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n"
    "Done <tool";

/* Every split point (2 chunks), every pair of split points over a stride
 * (3 chunks), and byte-by-byte: the same log as one feed. */
static void test_every_split(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    elog ref;
    run_split(tools, STREAM_TEXT, NULL, 0, &ref, NULL);
    assert_false(ref.bad_delta);
    assert_string_equal(ref.content.data, "Sure — a < b and <tool_response> stay text; 日本語 😀 here.Done <tool");
    assert_non_null(strstr(ref.calls.data, "ARGS 0 {\"location\":\"Zürich </tool\",\"unit\":\"f\"}"));
    assert_non_null(strstr(ref.calls.data, "INVALID 0 nope|unknown function 'nope'|<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>"));
    assert_non_null(strstr(ref.calls.data, "START 1 "));
    size_t n = strlen(STREAM_TEXT);
    int checked = 0;
    for (size_t i = 0; i <= n; i++) {
        elog l;
        run_split(tools, STREAM_TEXT, &i, 1, &l, NULL);
        if (strcmp(l.content.data, ref.content.data) || strcmp(l.calls.data, ref.calls.data) || l.bad_delta)
            fail_msg("split at %zu differs:\n%s\n%s", i, l.content.data, l.calls.data);
        elog_free(&l);
        checked++;
    }
    for (size_t i = 0; i <= n; i += 3)
        for (size_t j = i; j <= n; j += 5) {
            size_t cuts[2] = {i, j};
            elog l;
            run_split(tools, STREAM_TEXT, cuts, 2, &l, NULL);
            if (strcmp(l.content.data, ref.content.data) || strcmp(l.calls.data, ref.calls.data) || l.bad_delta)
                fail_msg("split at %zu,%zu differs", i, j);
            elog_free(&l);
            checked++;
        }
    size_t *cuts = malloc(n * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i;
    elog l;
    run_split(tools, STREAM_TEXT, cuts, (int)n, &l, NULL);
    assert_string_equal(l.content.data, ref.content.data);
    assert_string_equal(l.calls.data, ref.calls.data);
    assert_false(l.bad_delta);
    assert_true(l.n_content_events > 10); /* content really streamed */
    elog_free(&l);
    free(cuts);
    elog_free(&ref);
    cJSON_Delete(tools);
    assert_true(checked > 1000);
}

static void expect_invalid(const cJSON *tools, const char *text, const char *error_part) {
    elog l;
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.max_call_bytes = 200;
    run_split(tools, text, NULL, 0, &l, &p);
    if (!strstr(l.calls.data, "INVALID 0 ") || strstr(l.calls.data, "START") || !strstr(l.calls.data, error_part))
        fail_msg("for %s\ngot %s", text, l.calls.data);
    assert_null(strstr(l.content.data, "<tool_call>"));
    elog_free(&l);
}

static void test_malformed(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": }</tool_call>",
                   "not valid JSON");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\"} {\"x\":1}</tool_call>", "not valid JSON");
    expect_invalid(tools, "<tool_call>[1,2]</tool_call>", "must be a JSON object");
    expect_invalid(tools, "<tool_call>{\"arguments\": {}}</tool_call>", "no string 'name'");
    expect_invalid(tools, "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>", "unknown function 'rm_rf'");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": [1]}</tool_call>", "must be a JSON object");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": 5}}</tool_call>",
                   "$.location: expected string, got integer");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>",
                   "missing required property 'location'");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"x\", \"unit\": \"k\"}}</tool_call>",
                   "$.unit: value is not one of the enum values");
    expect_invalid(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"x\", \"zip\": 1}}</tool_call>",
                   "unexpected property 'zip'");
    expect_invalid(tools, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"loc", "unterminated tool call");
    /* Over-long block: reported, skipped to its close tag, parsing resumes. */
    char big[1024];
    snprintf(big, sizeof big, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"%0300d\"}}</tool_call>after", 7);
    expect_invalid(tools, big, "exceeds 200 bytes");
    elog l;
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.max_call_bytes = 200;
    run_split(tools, big, NULL, 0, &l, &p);
    assert_string_equal(l.content.data, "after");
    /* ... the same at every split point, also with the block right at the cap. */
    for (int variant = 0; variant < 2; variant++) {
        hr_hermes_parser_params q = p;
        if (variant) q.max_call_bytes = strstr(big, "</tool_call>") - big - 11;
        elog ref;
        run_split(tools, big, NULL, 0, &ref, &q);
        assert_true(variant == 0 ? strstr(ref.calls.data, "INVALID 0") != NULL : strstr(ref.calls.data, "START 0") != NULL);
        for (size_t i = 0; i <= strlen(big); i++) {
            elog s;
            run_split(tools, big, &i, 1, &s, &q);
            if (strcmp(s.calls.data, ref.calls.data) || strcmp(s.content.data, ref.content.data))
                fail_msg("over-long split %zu (variant %d) differs: %s", i, variant, s.calls.data);
            elog_free(&s);
        }
        elog_free(&ref);
    }
    elog_free(&l);
    /* An unterminated but complete and valid call at the end is accepted. */
    run_split(tools, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n", NULL, 0, &l, NULL);
    assert_non_null(strstr(l.calls.data, "START 0"));
    elog_free(&l);
    /* String arguments holding JSON, and Llama-style "parameters". */
    run_split(tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Rome\\\"}\"}</tool_call>"
                     "<tool_call>{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Bern\"}}</tool_call>",
              NULL, 0, &l, NULL);
    assert_non_null(strstr(l.calls.data, "ARGS 0 {\"location\":\"Rome\"}"));
    assert_non_null(strstr(l.calls.data, "ARGS 1 {\"location\":\"Bern\"}"));
    elog_free(&l);
    cJSON_Delete(tools);
}

static void test_prefill_and_parallel(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    elog l;
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.prefill = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ";
    run_split(tools, "{\"location\": \"Lima\"}}\n</tool_call>", NULL, 0, &l, &p);
    assert_non_null(strstr(l.calls.data, "get_weather\nARGS 0 {\"location\":\"Lima\"}"));
    elog_free(&l);

    p = hr_hermes_parser_default_params();
    p.parallel_tool_calls = false;
    p.tools = tools;
    p.id_seed = 1;
    p.on_event = on_event;
    memset(&l, 0, sizeof l);
    hr_buf_init(&l.content, 0);
    hr_buf_init(&l.calls, 0);
    p.user = &l;
    hr_hermes_parser *ps = hr_hermes_parser_create(&p);
    const char *t = "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"get_time\"}</tool_call>tail";
    hr_hermes_parser_feed(ps, t, strlen(t));
    assert_true(hr_hermes_parser_done(ps));
    hr_hermes_parser_finish(ps);
    assert_int_equal(hr_hermes_parser_n_calls(ps), 1);
    assert_string_equal(hr_hermes_parser_finish_reason(ps), "tool_calls");
    assert_null(strstr(l.calls.data, "START 1"));
    assert_null(l.content.data);
    hr_hermes_parser_free(ps);
    elog_free(&l);
    cJSON_Delete(tools);
}

static void test_no_tools_passthrough(void **state) {
    (void)state;
    elog l;
    run_split(NULL, "plain <tool_call>{\"name\":\"x\"}</tool_call> text\n", NULL, 0, &l, NULL);
    assert_string_equal(l.content.data, "plain <tool_call>{\"name\":\"x\"}</tool_call> text\n");
    assert_string_equal(l.calls.data, "");
    elog_free(&l);
    /* With tools but no call: trailing whitespace is kept; a cut UTF-8 tail becomes U+FFFD. */
    cJSON *tools = tools_json();
    run_split(tools, "Hello\n", NULL, 0, &l, NULL);
    assert_string_equal(l.content.data, "Hello\n");
    elog_free(&l);
    run_split(tools, "caf\xC3", NULL, 0, &l, NULL);
    assert_string_equal(l.content.data, "caf\xEF\xBF\xBD");
    elog_free(&l);
    cJSON_Delete(tools);
}

static void test_parse_message(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.tools = tools;
    const char *fr = NULL;
    const char *t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>\n"
                    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": 1}}\n</tool_call>";
    cJSON *m = hr_hermes_parse_message(t, strlen(t), &p, &fr);
    assert_string_equal(fr, "tool_calls");
    assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring, "assistant");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "content")));
    cJSON *calls = cJSON_GetObjectItem(m, "tool_calls");
    assert_int_equal(cJSON_GetArraySize(calls), 1);
    cJSON *c0 = cJSON_GetArrayItem(calls, 0);
    const char *id = cJSON_GetObjectItem(c0, "id")->valuestring;
    assert_int_equal(strlen(id), 29);
    assert_memory_equal(id, "call_", 5);
    assert_string_equal(cJSON_GetObjectItem(c0, "type")->valuestring, "function");
    cJSON *f = cJSON_GetObjectItem(c0, "function");
    assert_string_equal(cJSON_GetObjectItem(f, "name")->valuestring, "get_weather");
    assert_string_equal(cJSON_GetObjectItem(f, "arguments")->valuestring, "{\"location\":\"Paris\"}");
    cJSON *inv = cJSON_GetObjectItem(m, "invalid_tool_calls");
    assert_int_equal(cJSON_GetArraySize(inv), 1);
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(inv, 0), "error")->valuestring, "$.location"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(inv, 0), "name")->valuestring, "get_weather");
    cJSON_Delete(m);

    /* Only malformed calls: finish_reason stop, content "", no tool_calls. */
    t = "<tool_call>{oops}</tool_call>";
    m = hr_hermes_parse_message(t, strlen(t), &p, &fr);
    assert_string_equal(fr, "stop");
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring, "");
    assert_null(cJSON_GetObjectItem(m, "tool_calls"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "invalid_tool_calls")), 1);
    cJSON_Delete(m);

    /* Plain answer. */
    m = hr_hermes_parse_message("Just text.", 10, &p, &fr);
    assert_string_equal(fr, "stop");
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring, "Just text.");
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

static void test_unique_ids(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.tools = tools; /* id_seed 0: random */
    const char *t = "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
    enum { N = 200 };
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        cJSON *m = hr_hermes_parse_message(t, strlen(t), &p, NULL);
        snprintf(ids[i], 32, "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "tool_calls"), 0), "id")->valuestring);
        cJSON_Delete(m);
        for (int j = 0; j < i; j++) assert_string_not_equal(ids[i], ids[j]);
    }
    cJSON_Delete(tools);
}

typedef struct {
    hr_buf out; /* the deltas, printed, one per line */
} deltas;

static void on_delta(void *user, const hr_hermes_event *ev) {
    deltas *d = user;
    cJSON *j = hr_hermes_event_delta(ev);
    if (!j) {
        assert_int_equal(ev->type, HR_HERMES_EV_TOOL_END);
        return;
    }
    char *s = cJSON_PrintUnformatted(j);
    hr_buf_printf(&d->out, "%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static void test_openai_deltas(void **state) {
    (void)state;
    cJSON *tools = tools_json();
    deltas d;
    hr_buf_init(&d.out, 0);
    hr_hermes_parser_params p = hr_hermes_parser_default_params();
    p.tools = tools;
    p.id_seed = 7;
    p.on_event = on_delta;
    p.user = &d;
    hr_hermes_parser *ps = hr_hermes_parser_create(&p);
    const char *t = "Hi <tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call><tool_call>{bad}</tool_call>";
    hr_hermes_parser_feed(ps, t, strlen(t));
    hr_hermes_parser_finish(ps);
    hr_hermes_parser_free(ps);
    char *line2 = strchr(d.out.data, '\n') + 1;
    assert_memory_equal(d.out.data, "{\"content\":\"Hi\"}\n", 17);
    assert_memory_equal(line2, "{\"tool_calls\":[{\"index\":0,\"id\":\"call_", 37);
    assert_non_null(strstr(line2, "\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]}\n"
                                  "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}\n"
                                  "{\"invalid_tool_calls\":[{\"index\":0,\"raw\":\"<tool_call>{bad}</tool_call>\","
                                  "\"error\":\"tool call is not valid JSON\"}]}\n"));
    hr_buf_free(&d.out);
    cJSON_Delete(tools);
}

/* Random documents built from tag fragments, fed whole and in random pieces:
 * same log, and the content never shows an open tag (ASan watches memory). */
static void test_random_documents(void **state) {
    (void)state;
    static const char *const frags[] = {
        "<tool_call>", "</tool_call>", "{\"name\": \"get_time\", \"arguments\": {}}",
        "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"é\"}}", "<", "tool", "_call", ">", "</",
        " ", "\n", "é", "\xC3", "\xA9", "x", "{", "\"", "😀", "<tool_response>"};
    const int nf = (int)(sizeof frags / sizeof frags[0]);
    cJSON *tools = tools_json();
    uint64_t rng = 12345;
    char doc[2048];
    for (int iter = 0; iter < 400; iter++) {
        size_t len = 0;
        int parts = 1 + (int)((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33) % 40;
        for (int k = 0; k < parts; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *f = frags[(rng >> 33) % (uint64_t)nf];
            size_t fl = strlen(f);
            if (len + fl >= sizeof doc) break;
            memcpy(doc + len, f, fl);
            len += fl;
        }
        doc[len] = 0;
        hr_hermes_parser_params p = hr_hermes_parser_default_params();
        p.max_call_bytes = 64;
        elog ref;
        run_split(tools, doc, NULL, 0, &ref, &p);
        if (strstr(ref.content.data, "<tool_call>")) fail_msg("open tag leaked in: %s", doc);
        for (int rep = 0; rep < 4; rep++) {
            size_t cuts[6];
            for (int c = 0; c < 6; c++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                cuts[c] = (size_t)((rng >> 33) % (len + 1));
            }
            for (int a = 0; a < 6; a++) /* sort */
                for (int b = a + 1; b < 6; b++)
                    if (cuts[b] < cuts[a]) { size_t t = cuts[a]; cuts[a] = cuts[b]; cuts[b] = t; }
            elog l;
            run_split(tools, doc, cuts, 6, &l, &p);
            if (strcmp(l.content.data, ref.content.data) || strcmp(l.calls.data, ref.calls.data))
                fail_msg("doc %s\nsplit log differs:\n%s|%s\nvs\n%s|%s", doc, l.content.data, l.calls.data,
                         ref.content.data, ref.calls.data);
            elog_free(&l);
        }
        elog_free(&ref);
    }
    cJSON_Delete(tools);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_call),      cmocka_unit_test(test_multiple_calls_and_text),
        cmocka_unit_test(test_every_split),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_prefill_and_parallel), cmocka_unit_test(test_no_tools_passthrough),
        cmocka_unit_test(test_parse_message),    cmocka_unit_test(test_unique_ids),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_openai_deltas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
