/* Config loading: a full file parses into the structs; every kind of mistake
 * is an error naming file:line and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static hr_config *parse(const char *yaml, char *err) {
    err[0] = 0;
    return hr_config_parse(yaml, strlen(yaml), "t.yaml", err, 512);
}

static void test_full_config(void **state) {
    (void)state;
    char err[512];
    setenv("HR_TEST_KEY", "sk-secret", 1);
    hr_config *c = parse("server:\n  listen: 0.0.0.0:9000\n  api_keys: [\"${HR_TEST_KEY}\", k2]\n  max_body: 1MiB\n"
                         "  connect_timeout: 2s\n"
                         "tiers:\n"
                         "  small:\n    aliases: [hermes-8b]\n    backends:\n"
                         "      - { type: openai, url: http://a:8000/v1/, model: m8 }\n"
                         "      - { type: openai, url: https://b/v1, model: m8, tool_format: hermes }\n"
                         "  large:\n    aliases: [hermes-405b]\n    backends: [{ url: http://c/v1, model: m405 }]\n"
                         "    cost: { usd_per_month: 60000 }\n"
                         "router:\n  strategy: rules\n  rules:\n    large_context_chars: 100\n"
                         "    simple_keywords: [foo, 翻译]\n    default_tier: small\n"
                         "log: { sqlite: /tmp/x.db, capture_text: false }\n"
                         "costs: { small: { usd_per_mtok_in: 0.1 } }\n",
                         err);
    assert_non_null(c);
    assert_string_equal(c->host, "0.0.0.0");
    assert_int_equal(c->port, 9000);
    assert_int_equal(c->n_api_keys, 2);
    assert_string_equal(c->api_keys[0], "sk-secret");
    assert_int_equal(c->max_body_bytes, 1 << 20);
    assert_true(c->connect_timeout_s == 2.0);
    assert_true(c->tiers[HR_TIER_SMALL].enabled);
    assert_false(c->tiers[HR_TIER_MEDIUM].enabled);
    assert_int_equal(c->tiers[HR_TIER_SMALL].n_backends, 2);
    assert_string_equal(c->tiers[HR_TIER_SMALL].backends[0].url, "http://a:8000/v1"); /* trailing / dropped */
    assert_int_equal(c->tiers[HR_TIER_SMALL].backends[1].tool_format, HR_TOOLS_HERMES);
    assert_true(c->tiers[HR_TIER_LARGE].usd_per_month == 60000);
    assert_true(c->tiers[HR_TIER_SMALL].usd_per_mtok_in == 0.1);
    assert_int_equal(c->rules.large_context_chars, 100);
    assert_int_equal(c->rules.medium_context_chars, 5000); /* default kept */
    assert_int_equal(c->rules.n_simple_keywords, 2);
    assert_string_equal(c->rules.simple_keywords[1], "翻译");
    assert_int_equal(c->rules.default_tier, HR_TIER_SMALL);
    assert_false(c->log.capture_text);
    assert_int_equal(hr_config_tier_count(c), 2);
    assert_int_equal(hr_config_map_tier(c, HR_TIER_MEDIUM), HR_TIER_LARGE);
    assert_int_equal(hr_config_map_tier(c, HR_TIER_LARGE), HR_TIER_LARGE);
    assert_int_equal(hr_config_tier_for_model(c, "hermes-8b"), HR_TIER_SMALL);
    assert_int_equal(hr_config_tier_for_model(c, "large"), HR_TIER_LARGE);
    assert_int_equal(hr_config_tier_for_model(c, "medium"), -1); /* not configured */
    assert_int_equal(hr_config_tier_for_model(c, "gpt-4"), -1);
    hr_config_free(c);
}

static void expect_error(const char *yaml, const char *needle) {
    char err[512];
    hr_config *c = parse(yaml, err);
    if (c) fail_msg("expected an error containing '%s'", needle);
    if (!strstr(err, needle)) fail_msg("error '%s' does not contain '%s'", err, needle);
}

static const char *tier = "tiers:\n  small:\n    backends: [{ url: http://a/v1, model: m }]\n";

static void test_errors(void **state) {
    (void)state;
    char buf[1024];
    expect_error("", "at least 'tiers'");
    expect_error("tiers: [\n", "t.yaml:");
    expect_error("server:\n  port: 99999\n", "t.yaml:2: server.port: must be between");
    expect_error("server:\n  listen: nowhere\n", "server.listen: expected host:port");
    expect_error("server:\n  colour: blue\n", "t.yaml:2: server.colour: unknown key");
    expect_error("server:\n  max_body: 4 parsecs\n", "server.max_body: unknown size unit");
    expect_error("tiers:\n  huge:\n    backends: []\n", "tiers.huge: tiers are named small, medium and large");
    expect_error("tiers:\n  small:\n    backends: []\n", "tiers.small.backends: a tier needs at least one backend");
    expect_error("tiers:\n  small:\n    aliases: [x]\n", "tiers.small: a tier needs 'backends'");
    expect_error("tiers:\n  small:\n    backends:\n      - { type: openai, model: m }\n",
                 "t.yaml:4: tiers.small.backends[0]: an openai backend needs 'url'");
    expect_error("tiers:\n  small:\n    backends:\n      - { url: ftp://x, model: m }\n", "must start with http://");
    expect_error("tiers:\n  small:\n    backends:\n      - { type: embedded }\n", "needs 'model'");
    expect_error("tiers:\n  small:\n    backends:\n      - { type: grpc, url: http://x }\n",
                 "tiers.small.backends[0].type: expected openai or embedded");
    expect_error("tiers:\n  small:\n    aliases: [auto]\n    backends: [{ url: http://a/v1 }]\n", "'auto' is reserved");
    expect_error("tiers:\n  small:\n    aliases: [x]\n    backends: [{ url: http://a/v1 }]\n"
                 "  large:\n    aliases: [x]\n    backends: [{ url: http://a/v1 }]\n",
                 "'x' is used twice");
    snprintf(buf, sizeof buf, "%srouter:\n  strategy: magic\n", tier);
    expect_error(buf, "router.strategy: expected one of");
    snprintf(buf, sizeof buf, "%srouter:\n  rules:\n    default_tier: tiny\n", tier);
    expect_error(buf, "router.rules.default_tier: expected small, medium or large");
    snprintf(buf, sizeof buf, "%srouter:\n  rules:\n    large_context_chars: lots\n", tier);
    expect_error(buf, "router.rules.large_context_chars: expected an integer");
    snprintf(buf, sizeof buf, "%slog:\n  capture_text: maybe\n", tier);
    expect_error(buf, "log.capture_text: expected true or false");
}

static void test_load_missing_file(void **state) {
    (void)state;
    char err[512];
    assert_null(hr_config_load("/nonexistent/hr.yaml", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/hr.yaml: cannot open"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
