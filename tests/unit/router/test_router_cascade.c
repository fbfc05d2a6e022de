/* The cascade strategies in the router framework: "cascade" starts at the
 * smallest enabled tier, "rules+cascade" at the rule router's tier; both
 * report the cascade strategy name and say so through hr_router_cascades(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/router.h"

static int decide(hr_router *r, const char *model, const char *prompt, hr_route_decision *d) {
    cJSON *root = cJSON_CreateObject();
    if (model) cJSON_AddStringToObject(root, "model", model);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "messages"), m);
    hr_chat_request req;
    hr_request_error e;
    assert_int_equal(hr_chat_request_from_json(root, &req, &e), 0);
    int rc = hr_router_decide(r, &req, false, d);
    hr_chat_request_free(&req);
    return rc;
}

#define TIERS "tiers:\n  medium:\n    backends: [{ url: http://b/v1 }]\n  large:\n    backends: [{ url: http://c/v1 }]\n"

static void test_cascade_smallest(void **state) {
    (void)state;
    const char *y = TIERS "router: { strategy: cascade }\n";
    char err[256];
    hr_config *c = hr_config_parse(y, strlen(y), "t", err, sizeof err);
    hr_router *r = hr_router_create(c, err, sizeof err);
    assert_non_null(r);
    assert_true(hr_router_cascades(r));
    assert_string_equal(hr_router_strategy_name(r), "cascade");
    hr_route_decision d;
    assert_int_equal(decide(r, NULL, "Analyze the distributed compiler", &d), 0);
    assert_int_equal(d.tier, HR_TIER_MEDIUM); /* smallest enabled */
    assert_string_equal(d.strategy, "cascade");
    assert_false(d.forced);
    assert_non_null(strstr(d.reason, "cascade"));
    assert_int_equal(decide(r, "large", "hi", &d), 0);
    assert_true(d.forced);
    assert_string_equal(d.strategy, "override");
    hr_router_free(r);
    hr_config_free(c);
}

static void test_rules_cascade(void **state) {
    (void)state;
    const char *y = "tiers:\n  small:\n    backends: [{ url: http://a/v1 }]\n" TIERS
                    "router: { strategy: rules+cascade }\n";
    char err[256];
    hr_config *c = hr_config_parse(y, strlen(y), "t", err, sizeof err);
    hr_router *r = hr_router_create(c, err, sizeof err);
    assert_non_null(r);
    assert_true(hr_router_cascades(r));
    assert_string_equal(hr_router_strategy_name(r), "rules+cascade");
    hr_route_decision d;
    assert_int_equal(decide(r, NULL, "Translate hello into French", &d), 0);
    assert_int_equal(d.tier, HR_TIER_SMALL);
    assert_string_equal(d.strategy, "rules+cascade");
    assert_non_null(strstr(d.reason, "simple-task"));
    assert_int_equal(decide(r, NULL, "Tell me a story", &d), 0);
    assert_int_equal(d.tier, HR_TIER_MEDIUM); /* the rule default: the cascade starts there */
    hr_router_free(r);
    hr_config_free(c);
}

static void test_plain_rules_do_not_cascade(void **state) {
    (void)state;
    const char *y = TIERS "router: { strategy: rules }\n";
    char err[256];
    hr_config *c = hr_config_parse(y, strlen(y), "t", err, sizeof err);
    hr_router *r = hr_router_create(c, err, sizeof err);
    assert_false(hr_router_cascades(r));
    hr_router_free(r);
    /* classifier+cascade needs a classifier model, like classifier */
    free(c->strategy);
    c->strategy = strdup("classifier+cascade");
    assert_null(hr_router_create(c, err, sizeof err));
    assert_non_null(strstr(err, "classifier.model"));
    hr_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cascade_smallest),
        cmocka_unit_test(test_rules_cascade),
        cmocka_unit_test(test_plain_rules_do_not_cascade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
