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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replace_append_remove)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
