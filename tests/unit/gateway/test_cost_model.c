/* Cost model: the seed's example with the built-in prices, each pricing basis,
 * mixes on two-tier configs, the mix taken from log aggregates, and every
 * input error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/cost_model.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-6 * (1 + fabs((double)(b))))

static hr_config *parse(const char *yaml) {
    char err[512] = "";
    hr_config *c = hr_config_parse(yaml, strlen(yaml), "t.yaml", err, sizeof err);
    if (!c) fprintf(stderr, "config: %s\n", err);
    assert_non_null(c);
    return c;
}

static void test_seed_example_with_default_prices(void **state) {
    (void)state;
    hr_cost_price p[HR_TIER_MAX];
    hr_cost_prices_from_config(NULL, p);
    for (int t = 0; t < HR_TIER_MAX; t++) assert_true(p[t].enabled && p[t].is_default);
    hr_cost_input in = {.requests_per_day = 100000, .baseline = HR_TIER_MEDIUM};
    hr_cost_example_mix(NULL, in.share);
    NEAR(in.share[0], 0.60);
    NEAR(in.share[1], 0.35);
    NEAR(in.share[2], 0.05);
    hr_cost_result r;
    char err[256];
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), 0);
    /* All on the 70B tier: exactly the $10,000/month deployment it is sized for. */
    NEAR(r.baseline_usd, 10000);
    NEAR(r.tier[HR_TIER_SMALL].usd_month, 600);   /* 60% at a tenth of the 70B's cost per request */
    NEAR(r.tier[HR_TIER_MEDIUM].usd_month, 3500); /* 35% */
    NEAR(r.tier[HR_TIER_LARGE].usd_month, 2000);  /* 5% at 4x */
    NEAR(r.routed_usd, 6100);
    NEAR(r.savings_usd, 3900);
    NEAR(r.savings_pct, 39);
    NEAR(r.tier[HR_TIER_MEDIUM].deployments, 0.35);
    assert_int_equal(r.tier[HR_TIER_SMALL].basis, HR_COST_GPU);
    NEAR(r.baseline_usd_tier[HR_TIER_SMALL], 1000);
    NEAR(r.baseline_usd_tier[HR_TIER_LARGE], 40000);
}

static void test_weights_are_normalised(void **state) {
    (void)state;
    hr_cost_price p[HR_TIER_MAX];
    hr_cost_prices_from_config(NULL, p);
    hr_cost_input a = {.requests_per_day = 100000, .share = {60, 35, 5}, .baseline = HR_TIER_MEDIUM};
    hr_cost_input b = {.requests_per_day = 100000, .share = {0.6, 0.35, 0.05}, .baseline = HR_TIER_MEDIUM};
    hr_cost_result ra, rb;
    char err[256];
    assert_int_equal(hr_cost_estimate(p, &a, &ra, err, sizeof err), 0);
    assert_int_equal(hr_cost_estimate(p, &b, &rb, err, sizeof err), 0);
    NEAR(ra.routed_usd, rb.routed_usd);
    NEAR(ra.tier[0].share, 0.6);
}

static void test_pricing_bases(void **state) {
    (void)state;
    hr_cost_basis basis;
    double dep;
    hr_cost_price gpu = {.enabled = true, .usd_per_month = 10000, .capacity_rps = 5};
    NEAR(hr_cost_tier_usd(&gpu, 2.5, 0, 0, &basis, &dep), 5000);
    assert_int_equal(basis, HR_COST_GPU);
    NEAR(dep, 0.5);
    hr_cost_price fixed = {.enabled = true, .usd_per_month = 1500};
    NEAR(hr_cost_tier_usd(&fixed, 0.001, 0, 0, &basis, NULL), 1500);
    assert_int_equal(basis, HR_COST_FIXED);
    NEAR(hr_cost_tier_usd(&fixed, 0, 0, 0, NULL, NULL), 0); /* no traffic, no spend */
    hr_cost_price tok = {.enabled = true, .usd_per_mtok_in = 3, .usd_per_mtok_out = 15};
    /* 1 req/s for 30 days with 1000 in / 100 out tokens each. */
    NEAR(hr_cost_tier_usd(&tok, 1, 1000, 100, &basis, NULL), 2592000.0 * (1000 * 3 + 100 * 15) / 1e6);
    assert_int_equal(basis, HR_COST_TOKENS);
    /* Unknown tokens: the documented defaults. */
    NEAR(hr_cost_tier_usd(&tok, 1, 0, 0, NULL, NULL),
         2592000.0 * (HR_COST_DEFAULT_TOKENS_IN * 3 + HR_COST_DEFAULT_TOKENS_OUT * 15) / 1e6);
    hr_cost_price none = {.enabled = true};
    NEAR(hr_cost_tier_usd(&none, 1, 0, 0, &basis, NULL), 0);
    assert_int_equal(basis, HR_COST_NONE);
    assert_string_equal(hr_cost_basis_name(HR_COST_TOKENS), "tokens");
}

static const char *TWO_TIERS =
    "tiers:\n"
    "  small:\n    backends: [{ url: http://a/v1, model: m8 }]\n    cost: { usd_per_month: 2000, capacity_rps: 4 }\n"
    "  medium:\n    backends: [{ url: http://b/v1, model: m70 }]\n";

static void test_config_prices_and_two_tiers(void **state) {
    (void)state;
    hr_config *c = parse(TWO_TIERS);
    hr_cost_price p[HR_TIER_MAX];
    hr_cost_prices_from_config(c, p);
    assert_true(p[HR_TIER_SMALL].enabled && !p[HR_TIER_SMALL].is_default);
    NEAR(p[HR_TIER_SMALL].usd_per_month, 2000);
    assert_true(p[HR_TIER_MEDIUM].enabled && p[HR_TIER_MEDIUM].is_default); /* no price: the default */
    assert_false(p[HR_TIER_LARGE].enabled);
    double share[HR_TIER_MAX];
    hr_cost_example_mix(c, share); /* the large share goes to the biggest configured tier */
    NEAR(share[0], 0.60);
    NEAR(share[1], 0.40);
    NEAR(share[2], 0);
    hr_cost_input in = {.requests_per_day = 86400, .baseline = HR_TIER_MEDIUM};
    memcpy(in.share, share, sizeof share);
    hr_cost_result r;
    char err[256];
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), 0);
    NEAR(r.tier[0].usd_month, 2000 * 0.6 / 4);
    NEAR(r.baseline_usd_tier[HR_TIER_LARGE], 0);
    cJSON *j = hr_cost_json(p, &in, &r);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tiers"), "small"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tiers"), "large")); /* disabled tiers left out */
    assert_string_equal(cJSON_GetObjectItem(j, "baseline")->valuestring, "medium");
    NEAR(cJSON_GetObjectItem(j, "routed_usd")->valuedouble, round(r.routed_usd * 100) / 100);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "tiers"), "small"),
                                                  "default_price")));
    cJSON_Delete(j);
    hr_config_free(c);
}

static void test_errors(void **state) {
    (void)state;
    hr_config *c = parse(TWO_TIERS);
    hr_cost_price p[HR_TIER_MAX];
    hr_cost_prices_from_config(c, p);
    hr_cost_result r;
    char err[256];
    hr_cost_input in = {.requests_per_day = 0, .share = {1, 1, 0}, .baseline = HR_TIER_MEDIUM};
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "requests per day"));
    in.requests_per_day = NAN;
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    in.requests_per_day = 10;
    in.share[2] = 1; /* traffic on the unconfigured large tier */
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "large"));
    in.share[0] = in.share[1] = in.share[2] = 0;
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    in.share[0] = -1;
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    in.share[0] = 1;
    in.baseline = HR_TIER_LARGE;
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "baseline"));
    in.baseline = 7;
    assert_int_equal(hr_cost_estimate(p, &in, &r, err, sizeof err), -1);
    hr_config_free(c);
}

static void test_mix_from_log_stats(void **state) {
    (void)state;
    hr_store_stats st;
    memset(&st, 0, sizeof st);
    hr_store_group g[] = {
        {"large", 200, 1, 0, 1000, 500, 0},
        {"medium", 200, 3, 0, 300, 90, 0},
        {"medium", 502, 5, 0, 0, 0, 0},   /* failed: not part of the served mix */
        {"small", 200, 6, 0, 600, 120, 0},
        {"", 400, 9, 0, 0, 0, 0},         /* rejected before routing */
        {"huge", 200, 4, 0, 0, 0, 0},     /* not a tier name */
    };
    st.n_groups = sizeof g / sizeof g[0];
    memcpy(st.groups, g, sizeof g);
    hr_cost_input in = {0};
    assert_int_equal(hr_cost_input_from_stats(&st, &in), 10);
    NEAR(in.share[HR_TIER_SMALL], 0.6);
    NEAR(in.share[HR_TIER_MEDIUM], 0.3);
    NEAR(in.share[HR_TIER_LARGE], 0.1);
    NEAR(in.tokens_in[HR_TIER_SMALL], 100);
    NEAR(in.tokens_out[HR_TIER_MEDIUM], 30);
    NEAR(in.tokens_in[HR_TIER_LARGE], 1000);
    memset(&st, 0, sizeof st);
    assert_int_equal(hr_cost_input_from_stats(&st, &in), 0);
    NEAR(in.share[0] + in.share[1] + in.share[2], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example_with_default_prices),
        cmocka_unit_test(test_weights_are_normalised),
        cmocka_unit_test(test_pricing_bases),
        cmocka_unit_test(test_config_prices_and_two_tiers),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mix_from_log_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
