/* JSON Schema subset: validation with error paths, the unsupported-keyword
 * checker, and the request checks built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hermes/hermes.h"

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"},"
    "\"score\":{\"type\":\"number\"},"
    "\"ok\":{\"type\":\"boolean\"},"
    "\"nothing\":{\"type\":\"null\"},"
    "\"kind\":{\"enum\":[\"a\",\"b\",3]},"
    "\"version\":{\"const\":{\"major\":1}},"
    "\"maybe\":{\"type\":[\"string\",\"null\"]},"
    "\"either\":{\"anyOf\":[{\"type\":\"integer\"},{\"$ref\":\"#/$defs/item\"}]},"
    "\"items\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/item\"},\"minItems\":1,\"maxItems\":3},"
    "\"tags\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"tree\":{\"$ref\":\"#/definitions/node\"}},"
    "\"required\":[\"name\"],\"additionalProperties\":false,"
    "\"$defs\":{\"item\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}},"
    "\"definitions\":{\"node\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/node\"}}}}}}";

static void expect(const char *instance, const char *want_err) {
    cJSON *s = cJSON_Parse(SCHEMA), *v = cJSON_Parse(instance);
    assert_non_null(s);
    assert_non_null(v);
    char err[300];
    int rc = hr_hermes_schema_validate(s, v, err, sizeof err);
    if (!want_err) {
        if (rc != 0) fail_msg("%s: unexpected error %s", instance, err);
    } else {
        if (rc == 0) fail_msg("%s: accepted, wanted %s", instance, want_err);
        if (strcmp(err, want_err)) fail_msg("%s:\n got  %s\n want %s", instance, err, want_err);
    }
    cJSON_Delete(s);
    cJSON_Delete(v);
}

static void test_valid(void **state) {
    (void)state;
    cJSON *schema = cJSON_Parse(SCHEMA);
    assert_int_equal(hr_hermes_schema_check(schema, NULL, 0), 0);
    cJSON_Delete(schema);
    expect("{\"name\":\"x\"}", NULL);
    expect("{\"name\":\"x\",\"age\":3,\"score\":2,\"ok\":false,\"nothing\":null,\"kind\":3,\"version\":{\"major\":1},"
           "\"maybe\":null,\"either\":{\"name\":\"q\"},\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
           "\"tags\":{\"k\":\"v\"},\"tree\":{\"kids\":[{\"kids\":[]},{}]}}",
           NULL);
    expect("{\"name\":\"x\",\"age\":3.0,\"score\":2.5,\"either\":7}", NULL); /* 3.0 is an integer */
}

static void test_errors(void **state) {
    (void)state;
    expect("[]", "$: expected object, got array");
    expect("{}", "$: missing required property 'name'");
    expect("{\"name\":1}", "$.name: expected string, got integer");
    expect("{\"name\":\"x\",\"age\":1.5}", "$.age: expected integer, got number");
    expect("{\"name\":\"x\",\"score\":\"1\"}", "$.score: expected number, got string");
    expect("{\"name\":\"x\",\"ok\":0}", "$.ok: expected boolean, got integer");
    expect("{\"name\":\"x\",\"nothing\":false}", "$.nothing: expected null, got boolean");
    expect("{\"name\":\"x\",\"kind\":\"c\"}", "$.kind: value is not one of the enum values");
    expect("{\"name\":\"x\",\"version\":{\"major\":2}}", "$.version: value does not match const");
    expect("{\"name\":\"x\",\"maybe\":1}", "$.maybe: expected string or null, got integer");
    expect("{\"name\":\"x\",\"extra\":1}", "$: unexpected property 'extra'");
    expect("{\"name\":\"x\",\"items\":[]}", "$.items: expected at least 1 items, got 0");
    expect("{\"name\":\"x\",\"items\":[{\"name\":\"a\"},{\"name\":\"a\"},{\"name\":\"a\"},{\"name\":\"a\"}]}",
           "$.items: expected at most 3 items, got 4");
    expect("{\"name\":\"x\",\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":5}]}",
           "$.items[2].name: expected string, got integer");
    expect("{\"name\":\"x\",\"tags\":{\"k\":1}}", "$.tags.k: expected string, got integer");
    expect("{\"name\":\"x\",\"tags\":{\"a b\":1}}", "$.tags[\"a b\"]: expected string, got integer");
    expect("{\"name\":\"x\",\"either\":\"s\"}",
           "$.either: matches none of the anyOf alternatives (first: $.either: expected integer, got string)");
    expect("{\"name\":\"x\",\"tree\":{\"kids\":[{\"kids\":[{\"kids\":1}]}]}}",
           "$.tree.kids[0].kids[0].kids: expected array, got integer");
}

static void check(const char *schema, int want_count, const char *want_err) {
    cJSON *s = cJSON_Parse(schema);
    assert_non_null(s);
    char err[300];
    int n = hr_hermes_schema_check(s, err, sizeof err);
    if (n != want_count || (want_err && strcmp(err, want_err)))
        fail_msg("%s: count %d (want %d), err '%s' (want '%s')", schema, n, want_count, err, want_err ? want_err : "");
    cJSON_Delete(s);
}

static void test_check(void **state) {
    (void)state;
    check("{\"type\":\"object\",\"title\":\"T\",\"description\":\"d\",\"properties\":{\"a\":{\"type\":\"string\",\"default\":\"x\"}}}", 0, NULL);
    check("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"pattern\":\"^a\"}}}", 1,
          "unsupported JSON Schema keyword 'pattern' at $.properties.name");
    check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":1,\"format\":\"date\"}},\"oneOf\":[]}", 3,
          "unsupported JSON Schema keyword 'minLength' at $.properties.a");
    check("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"integer\",\"minimum\":0}]}}", 1,
          "unsupported JSON Schema keyword 'minimum' at $.items.anyOf[0]");
    check("{\"$defs\":{\"x\":{\"not\":{}}},\"$ref\":\"#/$defs/x\"}", 1,
          "unsupported JSON Schema keyword 'not' at $.$defs.x");
    check("{\"$ref\":\"#/$defs/missing\"}", 1, NULL);
    check("{\"$ref\":\"http://example.com/s.json\"}", 1, NULL);
    check("{\"type\":\"text\"}", 1, "malformed JSON Schema at $.type: unknown type 'text'");
    check("{\"properties\":{\"a\":5}}", 1, "malformed JSON Schema at $.properties.a: a schema must be an object");
    /* Depth cap. */
    char deep[4096] = "";
    for (int i = 0; i < 80; i++) strcat(deep, "{\"items\":");
    strcat(deep, "{}");
    for (int i = 0; i < 80; i++) strcat(deep, "}");
    check(deep, 1, NULL);
}

static void test_ref_loop_terminates(void **state) {
    (void)state;
    cJSON *s = cJSON_Parse("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}");
    cJSON *v = cJSON_Parse("1");
    char err[200];
    assert_int_equal(hr_hermes_schema_validate(s, v, err, sizeof err), -1);
    assert_non_null(strstr(err, "deeper"));
    cJSON_Delete(s);
    cJSON_Delete(v);
}

static int req_check(const char *body, hr_request_error *err) {
    cJSON *r = cJSON_Parse(body);
    assert_non_null(r);
    memset(err, 0, sizeof *err);
    int rc = hr_hermes_request_check(r, err);
    cJSON_Delete(r);
    return rc;
}

static void test_request_check(void **state) {
    (void)state;
    hr_request_error err;
    assert_int_equal(req_check("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                               "\"properties\":{\"a\":{\"type\":\"integer\"}}}}}],\"tool_choice\":{\"type\":\"function\","
                               "\"function\":{\"name\":\"f\"}},\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                               "{\"name\":\"n\",\"strict\":true,\"schema\":{\"type\":\"object\"}}}}",
                               &err),
                     0);
    assert_int_equal(req_check("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"bad name\"}}]}", &err), -1);
    assert_string_equal(err.param, "tools[0]");
    assert_int_equal(req_check("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
                               "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", &err), -1);
    assert_non_null(strstr(err.message, "duplicate"));
    assert_int_equal(req_check("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                               "\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"x\"}}}}}]}", &err), -1);
    assert_string_equal(err.message,
                        "tools[0].function.parameters: unsupported JSON Schema keyword 'pattern' at $.properties.a");
    assert_int_equal(req_check("{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":"
                               "{\"type\":\"object\",\"patternProperties\":{}}}}}", &err), -1);
    assert_string_equal(err.param, "response_format");
    assert_non_null(strstr(err.message, "'patternProperties'"));
    assert_int_equal(req_check("{\"tool_choice\":\"required\"}", &err), -1);
    assert_int_equal(req_check("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":"
                               "{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}", &err), -1);
    assert_int_equal(req_check("{\"parallel_tool_calls\":1}", &err), -1);
    assert_int_equal(req_check("{\"response_format\":{\"type\":\"yaml\"}}", &err), -1);
}

static void test_json_answer(void **state) {
    (void)state;
    char err[200];
    cJSON *s = cJSON_Parse(SCHEMA);
    const char *ok = " {\"name\": \"Goku\", \"age\": 40}\n";
    assert_int_equal(hr_hermes_json_answer_check(ok, strlen(ok), s, err, sizeof err), 0);
    const char *bad = "{\"name\": 7}";
    assert_int_equal(hr_hermes_json_answer_check(bad, strlen(bad), s, err, sizeof err), -1);
    assert_string_equal(err, "$.name: expected string, got integer");
    const char *junk = "{\"name\": \"x\"} trailing";
    assert_int_equal(hr_hermes_json_answer_check(junk, strlen(junk), s, err, sizeof err), -1);
    assert_string_equal(err, "answer is not valid JSON");
    assert_int_equal(hr_hermes_json_answer_check("[1]", 3, NULL, err, sizeof err), -1);
    assert_int_equal(hr_hermes_json_answer_check("{}", 2, NULL, err, sizeof err), 0);
    assert_int_equal(hr_hermes_json_answer_check("{\"a\":", 5, NULL, err, sizeof err), -1);
    cJSON_Delete(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_check),        cmocka_unit_test(test_ref_loop_terminates),
        cmocka_unit_test(test_request_check), cmocka_unit_test(test_json_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
