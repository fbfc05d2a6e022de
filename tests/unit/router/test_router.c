/* The router framework with the rule strategy behind it (hr_router_decide):
 * forced tiers and aliases, unknown models, mapping onto two enabled tiers,
 * the strategy name, timing, features ownership, config from YAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "router/router.h"

static hr_config *config_with_tiers(int small, int medium, int large) {
    hr_config *cfg = hr_config_default();
    int on[HR_TIER_MAX] = {small, medium, large};
    static const char *alias[HR_TIER_MAX] = {"hermes-8b", "hermes-70b", "hermes-405b"};
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!on[t]) continue;
        cfg->tiers[t].enabled = true;
        cfg->tiers[t].aliases = hr_xcalloc(2, sizeof(char *));
        cfg->tiers[t].aliases[0] = hr_xstrdup(alias[t]);
        cfg->tiers[t].n_aliases = 1;
    }
    return cfg;
}

static hr_router *router_new(const hr_config *cfg) {
    char err[256] = "";
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    if (!r) fail_msg("router create failed: %s", err);
    return r;
}

/* prompt = prefix + filler 'x' up to chars characters */
static char *text_of(const char *prefix, size_t chars) {
    size_t n = strlen(prefix);
    assert_true(n <= chars);
    char *s = hr_xmalloc(chars + 1);
    memcpy(s, prefix, n);
    memset(s + n, 'x', chars - n);
    s[chars] = 0;
    return s;
}

static void make_req(hr_chat_request *req, const char *model, const char *prompt, long max_tokens) {
    cJSON *root = cJSON_CreateObject();
    if (model) cJSON_AddStringToObject(root, "model", model);
    cJSON *arr = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(arr, m);
    if (max_tokens > 0) cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    hr_request_error err;
    assert_int_equal(hr_chat_request_from_json(root, req, &err), 0);
}

/* Decides; returns the tier (or -1) and copies the reason/strategy out. */
static int route(hr_router *r, const char *model, const char *prompt, long max_tokens, hr_route_decision *d) {
    hr_chat_request req;
    make_req(&req, model, prompt, max_tokens);
    int rc = hr_router_decide(r, &req, false, d);
    hr_chat_request_free(&req);
    return rc < 0 ? -1 : d->tier;
}

static void test_auto_uses_rules(void **state) {
    (void)state;
    hr_config *cfg = config_with_tiers(1, 1, 1);
    hr_router *r = router_new(cfg);
    assert_string_equal(hr_router_strategy_name(r), "rules");
    hr_route_decision d;
    assert_int_equal(route(r, NULL, "翻译：你好", -1, &d), HR_TIER_SMALL);
    assert_string_equal(d.reason, "simple-task keyword: 翻译");
    assert_string_equal(d.strategy, "rules");
    assert_false(d.forced);
    assert_int_equal(d.n_probs, 0);
    assert_true(d.route_us >= 0 && d.route_us < 1e6);
    assert_int_equal(route(r, "auto", "hello", -1, &d), HR_TIER_MEDIUM);
    assert_string_equal(d.reason, "default");
    char *big = text_of("", 20001);
    assert_int_equal(route(r, "auto", big, -1, &d), HR_TIER_LARGE);
    assert_string_equal(d.reason, "context over 20K chars");
    free(big);
    hr_router_free(r);
    hr_config_free(cfg);
}

static void test_forced_tiers_and_aliases(void **state) {
    (void)state;
    hr_config *cfg = config_with_tiers(1, 1, 1);
    hr_router *r = router_new(cfg);
    hr_route_decision d;
    /* a forced tier wins over every rule, even the context rule */
    char *big = text_of("", 20001);
    assert_int_equal(route(r, "small", big, -1, &d), HR_TIER_SMALL);
    free(big);
    assert_true(d.forced);
    assert_string_equal(d.strategy, "override");
    assert_string_equal(d.reason, "user override");
    assert_int_equal(route(r, "large", "translate this", -1, &d), HR_TIER_LARGE);
    assert_true(d.forced);
    assert_int_equal(route(r, "medium", "hi", -1, &d), HR_TIER_MEDIUM);
    assert_int_equal(route(r, "hermes-8b", "分布式系统", -1, &d), HR_TIER_SMALL);
    assert_string_equal(d.reason, "user override");
    assert_int_equal(route(r, "hermes-70b", "hi", -1, &d), HR_TIER_MEDIUM);
    assert_int_equal(route(r, "hermes-405b", "hi", -1, &d), HR_TIER_LARGE);
    /* unknown models are an error (the gateway answers 404) */
    assert_int_equal(route(r, "gpt-4", "hi", -1, &d), -1);
    assert_int_equal(route(r, "Small", "hi", -1, &d), -1); /* names are exact */
    hr_router_free(r);
    hr_config_free(cfg);

    /* a tier that is not enabled cannot be forced, by name or by alias */
    cfg = config_with_tiers(1, 1, 0);
    cfg->tiers[HR_TIER_LARGE].aliases = hr_xcalloc(2, sizeof(char *));
    cfg->tiers[HR_TIER_LARGE].aliases[0] = hr_xstrdup("hermes-405b");
    cfg->tiers[HR_TIER_LARGE].n_aliases = 1;
    r = router_new(cfg);
    assert_int_equal(route(r, "large", "hi", -1, &d), -1);
    assert_int_equal(route(r, "hermes-405b", "hi", -1, &d), -1);
    hr_router_free(r);
    hr_config_free(cfg);
}

static void test_two_tiers_map_rule_tiers(void **state) {
    (void)state;
    hr_route_decision d;
    char *big = text_of("", 20001), *mid = text_of("", 6000);

    /* small + medium: "large" goes to the biggest enabled tier, medium */
    hr_config *cfg = config_with_tiers(1, 1, 0);
    hr_router *r = router_new(cfg);
    assert_int_equal(route(r, NULL, big, -1, &d), HR_TIER_MEDIUM);
    assert_string_equal(d.reason, "context over 20K chars");
    assert_int_equal(route(r, NULL, "translate this", -1, &d), HR_TIER_SMALL);
    assert_int_equal(route(r, NULL, "hello", -1, &d), HR_TIER_MEDIUM);
    hr_router_free(r);
    hr_config_free(cfg);

    /* small + large: medium decisions go up to large, small stays small */
    cfg = config_with_tiers(1, 0, 1);
    r = router_new(cfg);
    assert_int_equal(route(r, NULL, mid, -1, &d), HR_TIER_LARGE);
    assert_string_equal(d.reason, "context over 5K chars");
    assert_int_equal(route(r, NULL, "hello", -1, &d), HR_TIER_LARGE);
    assert_string_equal(d.reason, "default");
    assert_int_equal(route(r, NULL, big, -1, &d), HR_TIER_LARGE);
    assert_int_equal(route(r, NULL, "translate this", -1, &d), HR_TIER_SMALL);
    hr_router_free(r);
    hr_config_free(cfg);

    /* medium + large: small decisions go up to medium */
    cfg = config_with_tiers(0, 1, 1);
    r = router_new(cfg);
    assert_int_equal(route(r, NULL, "translate this", -1, &d), HR_TIER_MEDIUM);
    assert_string_equal(d.reason, "simple-task keyword: translate");
    assert_int_equal(route(r, NULL, big, -1, &d), HR_TIER_LARGE);
    assert_int_equal(route(r, "small", "hi", -1, &d), -1);
    hr_router_free(r);
    hr_config_free(cfg);
    free(big);
    free(mid);
}

static void test_features_owned_by_decision(void **state) {
    (void)state;
    hr_config *cfg = config_with_tiers(1, 1, 1);
    hr_router *r = router_new(cfg);
    hr_chat_request req;
    make_req(&req, NULL, "What is 2+2?", 50);
    hr_route_decision d;
    assert_int_equal(hr_router_decide(r, &req, true, &d), 0);
    assert_int_equal(d.tier, HR_TIER_SMALL);
    assert_non_null(d.features);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(d.features, "max_tokens");
    assert_true(cJSON_IsNumber(mt) && mt->valueint == 50);
    hr_route_decision_clear(&d);
    assert_null(d.features);
    hr_route_decision_clear(&d); /* twice is fine */
    hr_chat_request_free(&req);
    /* forced decisions carry no features */
    make_req(&req, "large", "What is 2+2?", -1);
    assert_int_equal(hr_router_decide(r, &req, true, &d), 0);
    assert_null(d.features);
    hr_chat_request_free(&req);
    hr_router_free(r);
    hr_router_free(NULL);
    hr_config_free(cfg);
}

static void test_create_errors(void **state) {
    (void)state;
    char err[256];
    hr_config *cfg = config_with_tiers(1, 1, 1);
    free(cfg->strategy);
    cfg->strategy = hr_xstrdup("no-such-strategy");
    assert_null(hr_router_create(cfg, err, sizeof err));
    assert_non_null(strstr(err, "no-such-strategy"));
    free(cfg->strategy);
    cfg->strategy = hr_xstrdup("rules");
    free(cfg->rules.simple_keywords[0]);
    cfg->rules.simple_keywords[0] = hr_xstrdup("");
    assert_null(hr_router_create(cfg, err, sizeof err));
    assert_string_equal(err, "router.rules.simple_keywords[0]: empty keyword");
    hr_config_free(cfg);
}

static void test_config_from_yaml(void **state) {
    (void)state;
    static const char yaml[] =
        "tiers:\n"
        "  small:\n"
        "    aliases: [tiny]\n"
        "    backends: [{type: openai, url: 'http://127.0.0.1:9/v1', model: s}]\n"
        "  large:\n"
        "    backends: [{type: openai, url: 'http://127.0.0.1:9/v1', model: l}]\n"
        "router:\n"
        "  strategy: rules\n"
        "  rules:\n"
        "    medium_context_chars: 100\n"
        "    large_context_chars: 2000\n"
        "    simple_keywords: [ping]\n"
        "    default_tier: small\n";
    char err[256] = "";
    hr_config *cfg = hr_config_parse(yaml, sizeof yaml - 1, "test.yaml", err, sizeof err);
    if (!cfg) {
        /* config loading belongs to core; when it is not available, say so */
        if (strstr(err, "not built yet")) skip();
        fail_msg("config: %s", err);
    }
    hr_router *r = router_new(cfg);
    hr_route_decision d;
    assert_int_equal(route(r, NULL, "ping", -1, &d), HR_TIER_SMALL);
    assert_string_equal(d.reason, "simple-task keyword: ping");
    assert_int_equal(route(r, NULL, "hello", -1, &d), HR_TIER_SMALL);
    assert_string_equal(d.reason, "default");
    char *t = text_of("", 101);
    assert_int_equal(route(r, NULL, t, -1, &d), HR_TIER_LARGE); /* medium -> large (no medium tier) */
    assert_string_equal(d.reason, "context over 100 chars");
    free(t);
    t = text_of("", 2001);
    assert_int_equal(route(r, NULL, t, -1, &d), HR_TIER_LARGE);
    assert_string_equal(d.reason, "context over 2K chars");
    free(t);
    assert_int_equal(route(r, "tiny", "hi", -1, &d), HR_TIER_SMALL);
    assert_int_equal(route(r, "medium", "hi", -1, &d), -1);
    hr_router_free(r);
    hr_config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_uses_rules),
        cmocka_unit_test(test_forced_tiers_and_aliases),
        cmocka_unit_test(test_two_tiers_map_rule_tiers),
        cmocka_unit_test(test_features_owned_by_decision),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_config_from_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
