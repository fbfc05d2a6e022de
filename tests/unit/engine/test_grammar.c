/* The grammar automaton on bytes: what JSON / JSON Schema / tool-call text
 * it accepts, rejects, and calls complete; compile errors naming the
 * keyword; the completion cost it reports. (Token masks and the property
 * test are in test_grammar_property.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/grammar.h"

/* 1: accepted and complete; 0: a valid prefix, not complete; -1: rejected */
static int run(const hr_grammar *g, const char *text) {
    hr_grammar_state *st = hr_grammar_state_create(g, NULL, 0, NULL, 0);
    assert_non_null(st);
    int r = hr_grammar_accept_bytes(st, text, strlen(text));
    int res = r < 0 ? -1 : hr_grammar_done(st) ? 1 : 0;
    hr_grammar_state_free(st);
    return res;
}

static hr_grammar *compile_ok(const char *schema) {
    char err[256];
    hr_grammar *g = hr_grammar_from_schema(schema, err, sizeof err);
    if (!g) fail_msg("schema %s: %s", schema, err);
    return g;
}

#define ACCEPT(g, s) do { int r_ = run(g, s); if (r_ != 1) fail_msg("expected complete accept (got %d): %s", r_, s); } while (0)
#define PREFIX(g, s) do { int r_ = run(g, s); if (r_ != 0) fail_msg("expected incomplete prefix (got %d): %s", r_, s); } while (0)
#define REJECT(g, s) do { int r_ = run(g, s); if (r_ != -1) fail_msg("expected reject (got %d): %s", r_, s); } while (0)

static void test_json_object_mode(void **state) {
    (void)state;
    hr_grammar *g = hr_grammar_json_object();
    assert_non_null(g);
    ACCEPT(g, "{}");
    ACCEPT(g, " {\"a\": [1, -2.5e+3, 0, 0.25, \"x\", true, false, null, {\"b\": {}}, []]} \n");
    ACCEPT(g, "{\"a\":{\"a\":{\"a\":[[[]]]}}}");
    ACCEPT(g, "{\"k\": \"\\u00e9\\n\\\"\\\\\\/\", \"\xc3\xa9\": \"\xe2\x82\xac \xf0\x9f\x98\x80\"}");
    PREFIX(g, "{\"a\": [1, 2");
    PREFIX(g, "");
    REJECT(g, "[]");
    REJECT(g, "1");
    REJECT(g, "{\"a\":}");
    REJECT(g, "{\"a\" 1}");
    REJECT(g, "{\"a\": 1,}");
    REJECT(g, "{\"a\": [1,]}");
    REJECT(g, "{\"a\": 01}");
    REJECT(g, "{\"a\": -}");
    REJECT(g, "{\"a\": 1.}");
    REJECT(g, "{\"a\": .5}");
    REJECT(g, "{\"a\": 1e}");
    REJECT(g, "{\"a\": tru}");
    REJECT(g, "{\"a\": True}");
    REJECT(g, "{} {}");
    REJECT(g, "{\"a\": \"\\ud800\"}");      /* lone surrogate escape */
    REJECT(g, "{\"a\": \"\\x\"}");          /* bad escape */
    REJECT(g, "{\"a\": \"\x01\"}");         /* raw control character */
    REJECT(g, "{\"a\": \"\xc3\"}");         /* truncated UTF-8 */
    REJECT(g, "{\"a\": \"\xed\xa0\x80\"}"); /* UTF-8 surrogate */
    REJECT(g, "{\"a\": \"\xc0\xaf\"}");     /* overlong */
    REJECT(g, "{\"a\\n\": 1}");              /* keys carry no escapes */
    /* additional keys are not tracked for duplicates (declared ones are: test_object_schema) */
    ACCEPT(g, "{\"a\": 1, \"a\": 2}");
    /* number digit caps */
    ACCEPT(g, "{\"n\": 123456789012345}");
    REJECT(g, "{\"n\": 1234567890123456}");
    REJECT(g, "{\"n\": 1e1234}");
    hr_grammar_free(g);
}

static void test_whitespace_cap(void **state) {
    (void)state;
    hr_grammar *g = hr_grammar_json_object();
    char buf[256];
    snprintf(buf, sizeof buf, "{%*s}", HR_GRAMMAR_MAX_WS, "");
    ACCEPT(g, buf);
    snprintf(buf, sizeof buf, "{%*s}", HR_GRAMMAR_MAX_WS + 1, "");
    REJECT(g, buf);
    snprintf(buf, sizeof buf, "{\"a\":%*s1%*s,%*s\"b\"%*s:2}", HR_GRAMMAR_MAX_WS, "", HR_GRAMMAR_MAX_WS, "", HR_GRAMMAR_MAX_WS, "",
             HR_GRAMMAR_MAX_WS, "");
    ACCEPT(g, buf);
    snprintf(buf, sizeof buf, "{}%*s", HR_GRAMMAR_MAX_WS + 1, "");
    REJECT(g, buf);
    hr_grammar_free(g);
}

static void test_object_schema(void **state) {
    (void)state;
    hr_grammar *g = compile_ok("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                               "\"age\":{\"type\":\"integer\"},\"nick\":{\"type\":\"string\"},\"n\":{\"type\":\"number\"}},"
                               "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}");
    ACCEPT(g, "{\"name\": \"x\", \"age\": 3}");
    ACCEPT(g, "{\"age\": -3, \"nick\": \"\", \"name\": \"x\", \"n\": 1.5}");
    ACCEPT(g, "{\"n\": 0, \"name\": \"x\", \"age\": 0}");
    PREFIX(g, "{\"name\": \"x\"");
    REJECT(g, "{\"name\": \"x\"}");               /* age missing */
    REJECT(g, "{\"name\": \"x\", \"age\": 3.5}"); /* integer */
    REJECT(g, "{\"name\": \"x\", \"age\": 3e2}");
    REJECT(g, "{\"name\": 1, \"age\": 3}");
    REJECT(g, "{\"name\": \"x\", \"age\": 3, \"other\": 1}"); /* additionalProperties false */
    REJECT(g, "{\"nam\": \"x\"");
    REJECT(g, "{\"name\": \"x\", \"name\": \"y\"");
    REJECT(g, "[]");
    hr_grammar_free(g);

    /* default additionalProperties: any extra key with any value, declared keys keep their schema */
    g = compile_ok("{\"properties\":{\"a\":{\"type\":\"boolean\"},\"ab\":{\"type\":\"null\"}},\"required\":[\"ab\"]}");
    ACCEPT(g, "{\"ab\": null}");
    ACCEPT(g, "{\"abc\": [1], \"ab\": null, \"a\": true, \"b\": {}}");
    ACCEPT(g, "\"a string is fine: no type given\"");
    REJECT(g, "{\"ab\": 1}");
    REJECT(g, "{\"a\": null, \"ab\": null}");
    REJECT(g, "{\"a\": true}");
    hr_grammar_free(g);

    /* additionalProperties as a schema; required names not in properties follow it */
    g = compile_ok("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"extra\"],"
                   "\"additionalProperties\":{\"type\":\"string\"}}");
    ACCEPT(g, "{\"extra\": \"e\"}");
    ACCEPT(g, "{\"id\": 1, \"z\": \"s\", \"extra\": \"\"}");
    REJECT(g, "{\"z\": 1, \"extra\": \"\"}");
    REJECT(g, "{\"id\": 1}");
    hr_grammar_free(g);
}

static void test_enum_const_anyof_ref(void **state) {
    (void)state;
    hr_grammar *g = compile_ok("{\"enum\": [\"red\", \"re\", 1, 12, null, {\"a\": [1, 2]}, \"caf\\u00e9\"]}");
    ACCEPT(g, "\"red\"");
    ACCEPT(g, "\"re\"");
    ACCEPT(g, "1");
    ACCEPT(g, " 12 ");
    ACCEPT(g, "null");
    ACCEPT(g, "{\"a\":[1,2]}");
    ACCEPT(g, "\"caf\xc3\xa9\"");
    REJECT(g, "\"r\"");
    REJECT(g, "\"redd\"");
    REJECT(g, "123");
    REJECT(g, "2");
    REJECT(g, "{\"a\": [1, 2]}"); /* literals are written canonically */
    hr_grammar_free(g);

    g = compile_ok("{\"type\": \"string\", \"enum\": [\"a\", 1, \"b\"]}");
    ACCEPT(g, "\"a\"");
    REJECT(g, "1");
    hr_grammar_free(g);

    g = compile_ok("{\"const\": 3.5}");
    ACCEPT(g, "3.5");
    PREFIX(g, "3");
    REJECT(g, "3.6");
    REJECT(g, "4");
    hr_grammar_free(g);

    g = compile_ok("{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}, "
                   "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"],\"additionalProperties\":false},"
                   "{\"type\":\"object\",\"properties\":{\"y\":{\"type\":\"string\"}},\"required\":[\"y\"],\"additionalProperties\":false}]}");
    ACCEPT(g, "\"s\"");
    ACCEPT(g, "7");
    ACCEPT(g, "{\"x\": 1}");
    ACCEPT(g, "{\"y\": \"1\"}");
    REJECT(g, "7.5");
    REJECT(g, "{\"x\": \"1\"}");
    REJECT(g, "{\"x\": 1, \"y\": \"1\"}");
    REJECT(g, "{}");
    hr_grammar_free(g);

    g = compile_ok("{\"type\": [\"string\", \"null\"]}");
    ACCEPT(g, "null");
    ACCEPT(g, "\"\"");
    REJECT(g, "0");
    hr_grammar_free(g);

    /* recursive $ref */
    g = compile_ok("{\"$ref\": \"#/$defs/node\", \"$defs\": {\"node\": {\"type\": \"object\", \"properties\": "
                   "{\"v\": {\"type\": \"integer\"}, \"kids\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/node\"}}}, "
                   "\"required\": [\"v\"], \"additionalProperties\": false}}}");
    ACCEPT(g, "{\"v\": 1}");
    ACCEPT(g, "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": []}, {\"kids\": [{\"v\": 4}], \"v\": 3}]}");
    REJECT(g, "{\"v\": 1, \"kids\": [{}]}");
    REJECT(g, "{\"v\": 1, \"kids\": [{\"v\": \"2\"}]}");
    hr_grammar_free(g);

    g = compile_ok("{\"definitions\": {\"s\": {\"type\": \"string\"}}, \"type\": \"array\", \"items\": {\"$ref\": \"#/definitions/s\"}}");
    ACCEPT(g, "[\"a\", \"b\"]");
    REJECT(g, "[1]");
    hr_grammar_free(g);
}

static void test_arrays(void **state) {
    (void)state;
    hr_grammar *g = compile_ok("{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":2,\"maxItems\":3}");
    REJECT(g, "[]");
    REJECT(g, "[true]");
    PREFIX(g, "[true");
    ACCEPT(g, "[true, false]");
    ACCEPT(g, "[true,false,true]");
    REJECT(g, "[true,false,true,");
    REJECT(g, "[1, 2]");
    hr_grammar_free(g);
    g = compile_ok("{\"type\":\"array\",\"maxItems\":0}");
    ACCEPT(g, "[]");
    REJECT(g, "[1]");
    hr_grammar_free(g);
    g = compile_ok("{\"type\":\"array\"}");
    ACCEPT(g, "[1, \"a\", {\"b\": [null]}]");
    hr_grammar_free(g);
}

static void expect_error(const char *schema, const char *want) {
    char err[256] = "";
    hr_grammar *g = hr_grammar_from_schema(schema, err, sizeof err);
    if (g) fail_msg("schema compiled but should not: %s", schema);
    if (!strstr(err, want)) fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"pattern\":\"^a\"}}}",
                 "unsupported JSON Schema keyword 'pattern' at $.properties.name");
    expect_error("{\"allOf\": [{}]}", "unsupported JSON Schema keyword 'allOf' at $");
    expect_error("{\"type\": \"string\", \"minLength\": 3}", "'minLength'");
    expect_error("{\"$ref\": \"#/$defs/missing\"}", "does not resolve");
    expect_error("{\"type\": \"object\", \"required\": [\"a\"], \"additionalProperties\": false}", "cannot be satisfied");
    expect_error("{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", "cannot be satisfied");
    expect_error("{\"enum\": [1], \"type\": \"string\"}", "cannot be satisfied");
    expect_error("{\"type\": \"integer\", \"const\": 1.5}", "cannot be satisfied");
    expect_error("{\"type\": \"strin\"}", "unknown type");
    expect_error("{\"properties\": {\"a\\\"b\": {}}}", "escapes");
    expect_error("{\"$ref\": \"#/$defs/a\", \"type\": \"object\", \"$defs\": {\"a\": {}}}", "'$ref' with sibling keyword 'type'");
    expect_error("{\"anyOf\": [{}], \"properties\": {}}", "'anyOf' with sibling");
    expect_error("{\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}}}", "deeper than 64");
    expect_error("not json", "not valid JSON");
    /* annotations are fine; unsatisfiable optional parts are pruned, not errors */
    hr_grammar *g = compile_ok("{\"title\": \"T\", \"description\": \"d\", \"type\": \"object\", \"properties\": "
                               "{\"a\": false, \"b\": {\"type\": \"integer\", \"default\": 1}}, \"additionalProperties\": false}");
    ACCEPT(g, "{\"b\": 2}");
    REJECT(g, "{\"a\": 1}");
    hr_grammar_free(g);
    /* json_object spelling */
    g = compile_ok("{\"type\": \"json_object\"}");
    ACCEPT(g, "{\"x\": 1}");
    REJECT(g, "2");
    hr_grammar_free(g);
}

static void test_min_bytes_and_remaining(void **state) {
    (void)state;
    hr_grammar *g = compile_ok("{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"string\"},"
                               "\"c\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2}},"
                               "\"required\":[\"ab\",\"c\"]}");
    /* {"ab":"","c":[0,0]} */
    assert_int_equal(hr_grammar_min_bytes(g), (int)strlen("{\"ab\":\"\",\"c\":[0,0]}"));
    hr_grammar_state *st = hr_grammar_state_create(g, NULL, 0, NULL, 0);
    const char *full = "{\"ab\":\"\",\"c\":[0,0]}";
    /* along the shortest completion the cost drops by one per byte */
    for (size_t i = 0; i < strlen(full); i++) {
        assert_int_equal(hr_grammar_remaining(st), (int)(strlen(full) - i));
        assert_int_equal(hr_grammar_accept_bytes(st, full + i, 1), 0);
    }
    assert_int_equal(hr_grammar_remaining(st), 0);
    assert_true(hr_grammar_done(st));
    hr_grammar_state_free(st);
    char err[128];
    assert_null(hr_grammar_state_create(g, NULL, 5, err, sizeof err));
    assert_non_null(strstr(err, "too small"));
    hr_grammar_free(g);
}

static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"],"
    "\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"noargs\"}}]";

static hr_grammar *tools_grammar(hr_grammar_tool_choice ch, const char *only, bool parallel) {
    cJSON *t = cJSON_Parse(TOOLS);
    char err[256];
    hr_grammar *g = hr_grammar_from_tools(t, ch, only, parallel, err, sizeof err);
    if (!g) fail_msg("tools: %s", err);
    cJSON_Delete(t);
    return g;
}

static void test_tools(void **state) {
    (void)state;
    const char *call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>";
    const char *call2 = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
    char buf[1024];
    hr_grammar *g = tools_grammar(HR_GRAMMAR_TOOLS_AUTO, NULL, true);
    ACCEPT(g, "");
    ACCEPT(g, "Just text, no call. <tool_ca but not a call > < tool_call>");
    ACCEPT(g, call);
    snprintf(buf, sizeof buf, "Let me check.\n%s\n%s", call, call2);
    ACCEPT(g, buf);
    snprintf(buf, sizeof buf, "%s then text", call);
    REJECT(g, buf);
    ACCEPT(g, "<tool_call>{\"name\":\"noargs\",\"arguments\":{\"anything\":[1]}}</tool_call>");
    REJECT(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"c\"}}\n</tool_call>");
    REJECT(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"k\"}}");
    REJECT(g, "<tool_call>\n{\"name\": \"get_weathe\", ");
    REJECT(g, "<tool_call>\n{\"name\": \"unknown\"");
    REJECT(g, "<tool_call>\n{\"arguments\": {}, \"name\": \"get_time\"}");
    PREFIX(g, "Sure. <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}");
    hr_grammar_free(g);

    g = tools_grammar(HR_GRAMMAR_TOOLS_REQUIRED, NULL, false);
    PREFIX(g, "");
    REJECT(g, "Text");
    ACCEPT(g, call);
    ACCEPT(g, call2);
    snprintf(buf, sizeof buf, "%s\n%s", call, call2);
    REJECT(g, buf); /* not parallel: one call */
    hr_grammar_free(g);

    g = tools_grammar(HR_GRAMMAR_TOOLS_AUTO, "get_time", true); /* named: forced, only that tool */
    REJECT(g, call);
    ACCEPT(g, call2);
    REJECT(g, "x");
    hr_grammar_free(g);

    /* a tool whose arguments cannot be satisfied is never started */
    cJSON *t = cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"ok\"}},"
                           "{\"type\":\"function\",\"function\":{\"name\":\"bad\",\"parameters\":{\"type\":\"object\","
                           "\"required\":[\"x\"],\"additionalProperties\":false}}}]");
    char err[256];
    g = hr_grammar_from_tools(t, HR_GRAMMAR_TOOLS_AUTO, NULL, false, err, sizeof err);
    assert_non_null(g);
    ACCEPT(g, "<tool_call>\n{\"name\": \"ok\", \"arguments\": {}}\n</tool_call>");
    REJECT(g, "<tool_call>\n{\"name\": \"b");
    hr_grammar_free(g);
    assert_null(hr_grammar_from_tools(t, HR_GRAMMAR_TOOLS_REQUIRED, "bad", false, err, sizeof err));
    assert_non_null(strstr(err, "cannot be satisfied"));
    cJSON_Delete(t);
    t = cJSON_Parse(TOOLS);
    assert_null(hr_grammar_from_tools(t, HR_GRAMMAR_TOOLS_AUTO, "nope", false, err, sizeof err));
    assert_non_null(strstr(err, "unknown function 'nope'"));
    cJSON_Delete(t);
    t = cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
                    "\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"date\"}}}}}]");
    assert_null(hr_grammar_from_tools(t, HR_GRAMMAR_TOOLS_AUTO, NULL, false, err, sizeof err));
    assert_non_null(strstr(err, "unsupported JSON Schema keyword 'format' at tools[0].function.parameters.properties.a"));
    cJSON_Delete(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object_mode), cmocka_unit_test(test_whitespace_cap),
        cmocka_unit_test(test_object_schema),    cmocka_unit_test(test_enum_const_anyof_ref),
        cmocka_unit_test(test_arrays),           cmocka_unit_test(test_errors),
        cmocka_unit_test(test_min_bytes_and_remaining), cmocka_unit_test(test_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
