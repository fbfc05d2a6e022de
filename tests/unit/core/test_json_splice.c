/* Top-level member edits on JSON text, checked by re-parsing with cJSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/json_splice.h"

static char *set(const char *in, const char *key, const char *value) {
    hr_buf b;
    hr_buf_init(&b, 0);
    if (hr_json_set_member(in, strlen(in), key, value, &b) < 0) {
        hr_buf_free(&b);
        return NULL;
    }
    return hr_buf_steal(&b);
}

static void expect(const char *in, const char *key, const char *value, const char *want) {
    char *got = set(in, key, value);
    assert_non_null(got);
    cJSON *g = cJSON_Parse(got), *w = cJSON_Parse(want);
    if (!g || !w || !cJSON_Compare(g, w, 1)) fail_msg("got %s want %s", got, want);
    cJSON_Delete(g);
    cJSON_Delete(w);
    free(got);
}

static void test_replace_append_remove(void **state) {
    (void)state;
    expect("{\"model\":\"auto\",\"x\":1}", "model", "\"m8\"", "{\"model\":\"m8\",\"x\":1}");
    expect("{\"x\":{\"model\":\"inner\"},\"model\":\"a\"}", "model", "\"b\"", "{\"x\":{\"model\":\"inner\"},\"model\":\"b\"}");
    expect("{\"x\":\"\\\"model\\\":1\"}", "model", "\"b\"", "{\"x\":\"\\\"model\\\":1\",\"model\":\"b\"}");
    expect("{\"x\":[1,{\"a\":\"}\"}]}", "model", "\"b\"", "{\"x\":[1,{\"a\":\"}\"}],\"model\":\"b\"}");
    expect(" { } ", "stream_options", "{\"include_usage\":true}", "{\"stream_options\":{\"include_usage\":true}}");
    expect("{\"model\":\"a\",\"x\":1}", "model", NULL, "{\"x\":1}");
    expect("{\"x\":1, \"model\" : \"a\" }", "model", NULL, "{\"x\":1}");
    expect("{\"x\":1,\"model\":\"a\",\"y\":2}", "model", NULL, "{\"x\":1,\"y\":2}");
    expect("{\"model\":\"a\"}", "model", NULL, "{}");
    expect("{\"t\":0.7,\"model\":null}", "model", "\"z\"", "{\"t\":0.7,\"model\":\"z\"}");
    assert_null(set("[1]", "model", "1"));
}

static void test_put_string_and_fixed2(void **state) {
    (void)state;
    const char *cases[] = {"", "plain", "quote \" back \\ slash", "ctl \x01\x1f\n\r\t", "中文 ✓ 🦜", NULL};
    for (int i = 0; cases[i]; i++) {
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_json_put_string(&b, cases[i]);
        cJSON *j = cJSON_Parse(b.data);
        assert_non_null(j);
        assert_string_equal(j->valuestring, cases[i]);
        cJSON_Delete(j);
        hr_buf_free(&b);
    }
    double vals[] = {0, 0.004, 0.005, 1.5, 12.345, 1234567.891, -2.25};
    const char *want[] = {"0.00", "0.00", "0.01", "1.50", "12.35", "1234567.89", "-2.25"};
    for (int i = 0; i < 7; i++) {
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_json_put_fixed2(&b, vals[i]);
        assert_string_equal(b.data, want[i]);
        hr_buf_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replace_append_remove),
                                       cmocka_unit_test(test_put_string_and_fixed2)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
