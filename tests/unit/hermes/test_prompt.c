/* Prompt rendering: byte-for-byte against goldens rendered by the real
 * Hermes 3 tool-use Jinja template (tests/golden/hermes/render.py), plus the
 * Python-compatible JSON printer and request errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hermes/hermes.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    size_t got = fread(d, 1, (size_t)n, f);
    fclose(f);
    d[got] = 0;
    if (len) *len = got;
    return d;
}

static const char *golden_dir(void) {
    static char dir[1024];
    const char *src = getenv("HR_SRC");
    snprintf(dir, sizeof dir, "%s/tests/golden/hermes", src ? src : ".");
    return dir;
}

/* Shows where two renders first differ. */
static void show_diff(const char *name, const char *want, size_t wlen, const char *got, size_t glen) {
    size_t i = 0;
    while (i < wlen && i < glen && want[i] == got[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    print_error("%s: first difference at byte %zu (want %zu bytes, got %zu)\n  want: ...%.120s\n  got:  ...%.120s\n",
                name, i, wlen, glen, want + from, got + from);
}

static void test_goldens(void **state) {
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/cases.json", golden_dir());
    char *text = slurp(path, NULL);
    assert_non_null(text);
    cJSON *cases = cJSON_Parse(text);
    free(text);
    assert_true(cJSON_IsArray(cases));
    assert_true(cJSON_GetArraySize(cases) >= 30);
    int failures = 0, n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *req = cJSON_GetObjectItem(c, "request");
        hr_hermes_prompt_params p = hr_hermes_prompt_params_from_request(req);
        const cJSON *gen = cJSON_GetObjectItem(c, "add_generation_prompt");
        if (gen) p.add_generation_prompt = cJSON_IsTrue(gen);
        const cJSON *bos = cJSON_GetObjectItem(c, "bos_token");
        if (bos) p.bos_token = bos->valuestring;
        hr_hermes_prompt out;
        hr_request_error err = {{0}, {0}};
        if (hr_hermes_prompt_render(&p, &out, &err) != 0) {
            print_error("%s: render failed: %s\n", name, err.message);
            failures++;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s.txt", golden_dir(), name);
        size_t wlen = 0;
        char *want = slurp(path, &wlen);
        assert_non_null(want);
        if (wlen != out.len || memcmp(want, out.text, wlen) != 0) {
            show_diff(name, want, wlen, out.text, out.len);
            failures++;
        }
        /* The prefill is the tail of the prompt. */
        size_t pl = strlen(out.prefill);
        assert_true(pl <= out.len);
        assert_memory_equal(out.text + out.len - pl, out.prefill, pl);
        free(want);
        hr_hermes_prompt_free(&out);
        n++;
    }
    cJSON_Delete(cases);
    assert_int_equal(failures, 0);
    assert_true(n >= 30);
}

static char *render(const char *body, hr_hermes_prompt *out, hr_request_error *err) {
    cJSON *root = cJSON_Parse(body);
    assert_non_null(root);
    hr_hermes_prompt_params p = hr_hermes_prompt_params_from_request(root);
    int rc = hr_hermes_prompt_render(&p, out, err);
    cJSON_Delete(root);
    return rc == 0 ? out->text : NULL;
}

static void test_tool_choice_mapping(void **state) {
    (void)state;
    hr_hermes_prompt out;
    hr_request_error err;
    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
                        "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]";
    char body[1024];

    snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s}", tools);
    assert_non_null(render(body, &out, &err));
    assert_int_equal(out.tool_choice, HR_HERMES_TOOL_CHOICE_AUTO);
    assert_true(out.tools_in_prompt);
    assert_string_equal(out.prefill, "");
    assert_true(out.parallel_tool_calls);
    hr_hermes_prompt_free(&out);

    snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":\"none\"}", tools);
    assert_non_null(render(body, &out, &err));
    assert_false(out.tools_in_prompt);
    assert_null(strstr(out.text, "<tools>"));
    assert_string_equal(out.text, "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
    hr_hermes_prompt_free(&out);

    snprintf(body, sizeof body,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":{\"type\":\"function\","
             "\"function\":{\"name\":\"f\"}},\"parallel_tool_calls\":false}", tools);
    assert_non_null(render(body, &out, &err));
    assert_int_equal(out.tool_choice, HR_HERMES_TOOL_CHOICE_FUNCTION);
    assert_string_equal(out.forced_name, "f");
    assert_string_equal(out.prefill, "<tool_call>\n{\"name\": \"f\", \"arguments\": ");
    assert_false(out.parallel_tool_calls);
    hr_hermes_prompt_free(&out);

    /* errors: unknown named function, required without tools, bad role */
    snprintf(body, sizeof body,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":{\"type\":\"function\","
             "\"function\":{\"name\":\"nope\"}}}", tools);
    assert_null(render(body, &out, &err));
    assert_string_equal(err.param, "tool_choice");
    assert_non_null(strstr(err.message, "nope"));
    assert_null(render("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", &out, &err));
    assert_string_equal(err.param, "tool_choice");
    assert_null(render("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", &out, &err));
    assert_string_equal(err.param, "messages[0]");
    assert_null(render("{\"messages\":[{\"role\":\"user\",\"content\":7}]}", &out, &err));
    assert_null(render("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}", &out, &err));
    assert_null(out.text); /* zeroed on error */
}

static void test_prompt_cap(void **state) {
    (void)state;
    cJSON *root = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"0123456789012345678901234567890123456789\"}]}");
    hr_hermes_prompt_params p = hr_hermes_prompt_params_from_request(root);
    p.max_bytes = 32;
    hr_hermes_prompt out;
    hr_request_error err;
    assert_int_equal(hr_hermes_prompt_render(&p, &out, &err), -1);
    assert_non_null(strstr(err.message, "limit"));
    cJSON_Delete(root);
}

/* Deviations where the real template fails: documented fallbacks. */
static void test_template_crash_inputs(void **state) {
    (void)state;
    hr_hermes_prompt out;
    hr_request_error err;
    assert_non_null(render("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
                           "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":"
                           "{\"type\":[\"string\",\"null\"]},\"b\":{\"type\":\"weird\"}}}}}]}",
                           &out, &err));
    assert_non_null(strstr(out.text, "\"description\": \"f(a: Union[str,None], b: Any) - \n\n"));
    hr_hermes_prompt_free(&out);
}

static void dumps_eq(const char *json, bool ascii, const char *want) {
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_hermes_json_dumps(v, ascii, &b);
    assert_string_equal(b.data, want);
    hr_buf_free(&b);
    cJSON_Delete(v);
}

static void test_python_json(void **state) {
    (void)state;
    /* Expected strings are what CPython's json.dumps prints. */
    dumps_eq("{\"a\":[1,2.5,-3,0.1,1e-7,1e20,123456.789,-0],\"b\":null,\"c\":true}", false,
             "{\"a\": [1, 2.5, -3, 0.1, 1e-07, 1e+20, 123456.789, 0], \"b\": null, \"c\": true}");
    dumps_eq("[0.0001, 0.00001, 1.5e300, 3.141592653589793, 1e16, 12345678901234567890]", false,
             "[0.0001, 1e-05, 1.5e+300, 3.141592653589793, 1e+16, 1.2345678901234567e+19]");
    dumps_eq("\"q\\\"b\\\\s\\/n\\n\\t\\r\\b\\f\\u0001\\u007f é😀\"", false,
             "\"q\\\"b\\\\s/n\\n\\t\\r\\b\\f\\u0001\x7f é😀\"");
    dumps_eq("\"é😀—\"", true, "\"\\u00e9\\ud83d\\ude00\\u2014\"");
    dumps_eq("{}", false, "{}");
    dumps_eq("[]", false, "[]");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_tool_choice_mapping),
        cmocka_unit_test(test_prompt_cap),
        cmocka_unit_test(test_template_crash_inputs),
        cmocka_unit_test(test_python_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
