/* json_scan: the one-pass JSON object check and top-level member spans that
 * let the upstream backend relay an answer without a cJSON tree. Valid
 * objects must also parse with cJSON; the scan is stricter than cJSON where
 * RFC 8259 is (raw control bytes in strings, numbers like 01 or 1.). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "backend/json_scan.h"

static bool ok(const char *s) { return hr_json_scan_object(s, strlen(s), NULL, 0); }

static void test_valid_objects(void **state) {
    (void)state;
    const char *good[] = {
        "{}", " { } ", "{\"a\":1}", "{\"a\":-0.5e+10,\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}", "{\"u\":\"caf\xc3\xa9\"}", "\n{\"a\" : [ ] , \"b\" : { } }\r\n",
        "{\"n\":0}", "{\"n\":1E5}", "{\"n\":-12.25}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_true(ok(good[i]));
        cJSON *j = cJSON_Parse(good[i]);
        assert_non_null(j);
        cJSON_Delete(j);
    }
}

static void test_invalid(void **state) {
    (void)state;
    const char *bad[] = {
        "", "[]", "\"x\"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{a:1}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}",
        "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"tab\there\"}", "{\"a\":[1,]}",
        "{\"a\":[1 2]}", "{} x", "{}{}", "{\"a\":1}}", "{\"a\":+1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (ok(bad[i])) fail_msg("accepted invalid JSON: %s", bad[i]);
    }
    /* length is honoured: a valid prefix with garbage after n is still judged on n */
    assert_true(hr_json_scan_object("{\"a\":1}garbage", 7, NULL, 0));
    assert_false(hr_json_scan_object("{\"a\":1}", 6, NULL, 0));
}

static void test_depth_cap(void **state) {
    (void)state;
    size_t d = HR_JSON_SCAN_MAX_DEPTH + 5;
    char *s = malloc(d * 6 + 8);
    size_t n = 0;
    s[n++] = '{';
    for (size_t i = 1; i < d; i++) { memcpy(s + n, "\"a\":{", 5); n += 5; }
    for (size_t i = 0; i < d; i++) s[n++] = '}';
    assert_false(hr_json_scan_object(s, n, NULL, 0));
    free(s);
    assert_true(ok("{\"a\":{\"b\":{\"c\":[[[[{}]]]]}}}"));
}

static void test_spans(void **state) {
    (void)state;
    const char *s = "{\"id\":\"x\",\"choices\":[{\"model\":\"inner\"}],\"model\":\"m8\",\"usage\":{\"prompt_tokens\":12,"
                    "\"completion_tokens\":14.0},\"model\":\"second\",\"m\\u006fdel\":\"esc\"}";
    hr_json_span k[3] = {{.key = "model"}, {.key = "usage"}, {.key = "hermes"}};
    assert_true(hr_json_scan_object(s, strlen(s), k, 3));
    assert_true(k[0].found); /* the top-level one, the first of two */
    assert_int_equal(k[0].end - k[0].start, 4);
    assert_memory_equal(s + k[0].start, "\"m8\"", 4);
    assert_true(k[1].found);
    assert_false(k[2].found);
    hr_json_span u[2] = {{.key = "prompt_tokens"}, {.key = "completion_tokens"}};
    assert_true(hr_json_scan_object(s + k[1].start, k[1].end - k[1].start, u, 2));
    long v = 0;
    assert_true(hr_json_span_long(s + k[1].start + u[0].start, u[0].end - u[0].start, &v));
    assert_int_equal(v, 12);
    assert_true(hr_json_span_long(s + k[1].start + u[1].start, u[1].end - u[1].start, &v));
    assert_int_equal(v, 14);
    assert_false(hr_json_span_long("\"12\"", 4, &v));
    assert_false(hr_json_span_long("null", 4, &v));
    assert_true(hr_json_span_long("-3", 2, &v));
    assert_int_equal(v, -3);
}

/* Strings long enough for the 8-bytes-at-a-time path: a quote, backslash or
 * control byte at every position of a word is still found. */
static void test_long_strings(void **state) {
    (void)state;
    char buf[128];
    for (int pos = 0; pos < 24; pos++) {
        for (int kind = 0; kind < 4; kind++) {
            char body[40];
            memset(body, 'a', sizeof body);
            body[sizeof body - 1] = 0;
            bool valid = true;
            if (kind == 0) { body[pos] = '"'; valid = false; }            /* ends the string early: junk follows */
            if (kind == 1) { body[pos] = '\\'; body[pos + 1] = 'n'; }    /* an escape */
            if (kind == 2) { body[pos] = '\t'; valid = false; }          /* raw control byte */
            if (kind == 3) { body[pos] = (char)0xC3; body[pos + 1] = (char)0xA9; } /* UTF-8 */
            snprintf(buf, sizeof buf, "{\"k\":\"%s\"}", body);
            if (ok(buf) != valid) fail_msg("pos %d kind %d: %s", pos, kind, buf);
            cJSON *j = cJSON_Parse(buf);
            if (valid) assert_non_null(j); /* cJSON also takes the raw control byte */
            cJSON_Delete(j);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_objects),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_long_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
