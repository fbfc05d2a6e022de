/* Cascade reporting without a server: attempt costs (relative sizes or the
 * config's prices), the stats object (escalation rate per tier pair, score
 * histogram, cascade vs direct vs largest cost), the Prometheus series, and
 * the hermes-object / attempts JSON. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/cascade.h"

static hr_config *three_tiers(void) {
    hr_config *c = hr_config_default();
    for (int t = 0; t < HR_TIER_MAX; t++) c->tiers[t].enabled = true;
    return c;
}

static hr_cascade_attempt att(int tier, double score, long in, long out) {
    hr_cascade_attempt a;
    memset(&a, 0, sizeof a);
    a.tier = tier;
    a.status = 200;
    a.score = score;
    a.quality.score = score;
    a.prompt_tokens = in;
    a.completion_tokens = out;
    a.judge_tokens = -1;
    a.latency_ms = 12.5;
    snprintf(a.model, sizeof a.model, "m-%d", tier);
    return a;
}

static void test_cost_units(void **state) {
    (void)state;
    hr_config *c = three_tiers();
    const char *unit;
    assert_true(hr_cascade_cost(c, HR_TIER_SMALL, 10, 10, &unit) == 8);
    assert_string_equal(unit, "relative");
    assert_true(hr_cascade_cost(c, HR_TIER_LARGE, 10, 10, NULL) == 405);
    /* per-token prices on every tier: USD */
    for (int t = 0; t < HR_TIER_MAX; t++) c->tiers[t].usd_per_mtok_in = c->tiers[t].usd_per_mtok_out = (t + 1) * 1.0;
    double v = hr_cascade_cost(c, HR_TIER_MEDIUM, 1000000, 500000, &unit);
    assert_string_equal(unit, "usd");
    assert_true(fabs(v - 3.0) < 1e-9);
    assert_true(hr_cascade_cost(c, HR_TIER_MEDIUM, -1, -1, NULL) == 0); /* unknown tokens cost nothing known */
    /* a monthly price with a capacity: per request */
    c->tiers[HR_TIER_LARGE].usd_per_mtok_in = c->tiers[HR_TIER_LARGE].usd_per_mtok_out = 0;
    c->tiers[HR_TIER_LARGE].usd_per_month = 2592000;
    c->tiers[HR_TIER_LARGE].capacity_rps = 1;
    assert_true(fabs(hr_cascade_cost(c, HR_TIER_LARGE, 5, 5, &unit) - 1.0) < 1e-9);
    assert_string_equal(unit, "usd");
    /* one tier without a price: everything relative */
    c->tiers[HR_TIER_LARGE].capacity_rps = 0;
    hr_cascade_cost(c, HR_TIER_SMALL, 1, 1, &unit);
    assert_string_equal(unit, "relative");
    hr_config_free(c);
}

static double num(const cJSON *o, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    if (!cJSON_IsNumber(cur)) fail_msg("%s is not a number", path);
    return cur->valuedouble;
}

static void test_stats(void **state) {
    (void)state;
    hr_config *c = three_tiers();
    hr_cascade_stats *s = hr_cascade_stats_create(c);
    hr_cascade_info a = {0};
    /* 1: small accepted at 0.95 */
    a.n = 1;
    a.a[0] = att(HR_TIER_SMALL, 0.95, 10, 5);
    a.final_tier = HR_TIER_SMALL;
    a.final_score = 0.95;
    a.judge_tier = -1;
    hr_cascade_stats_observe(s, &a);
    /* 2: small 0.4 -> medium 0.8 */
    hr_cascade_info b = {0};
    b.n = 2;
    b.a[0] = att(HR_TIER_SMALL, 0.4, 10, 5);
    b.a[1] = att(HR_TIER_MEDIUM, 0.8, 10, 5);
    b.final_tier = HR_TIER_MEDIUM;
    b.final_score = 0.8;
    b.judge_tier = -1;
    hr_cascade_stats_observe(s, &b);
    /* 3: small 0 -> medium 0.5 -> large 0.7, judge on small said no */
    hr_cascade_info d = {0};
    d.n = 3;
    d.a[0] = att(HR_TIER_SMALL, 0.0, 10, 5);
    d.a[0].judge = HR_JUDGE_NO;
    d.a[1] = att(HR_TIER_MEDIUM, 0.5, 10, 5);
    d.a[2] = att(HR_TIER_LARGE, 0.7, 10, 5);
    d.final_tier = HR_TIER_LARGE;
    d.final_score = 0.7;
    d.judge_tier = HR_TIER_LARGE;
    hr_cascade_stats_observe(s, &d);
    /* not cascaded: ignored */
    hr_cascade_info none = {0};
    hr_cascade_stats_observe(s, &none);
    hr_cascade_stats_observe(s, NULL);
    hr_cascade_info left = d; /* the client went away: no final tier, not counted */
    left.final_tier = -1;
    hr_cascade_stats_observe(s, &left);

    cJSON *j = hr_cascade_stats_json(s);
    assert_true(num(j, "requests") == 3);
    assert_true(num(j, "attempts.small") == 3);
    assert_true(num(j, "attempts.medium") == 2);
    assert_true(num(j, "escalations.small>medium.count") == 2);
    assert_true(fabs(num(j, "escalations.small>medium.rate") - 0.6667) < 1e-9);
    assert_true(num(j, "escalations.medium>large.count") == 1);
    assert_true(num(j, "escalations.medium>large.rate") == 0.5);
    assert_true(num(j, "escalations.small>large.count") == 0);
    assert_true(num(j, "accepted.large") == 1);
    assert_true(num(j, "judge.no") == 1);
    const cJSON *counts = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "score_histogram"), "counts");
    /* scores 0.95 | 0.4 0.8 | 0 0.5 0.7 -> (0,.1]:0 (.3,.4]:1 (.4,.5]:1 (.6,.7]:1 (.7,.8]:1 (.9,1]:1 */
    int want[10] = {1, 0, 0, 1, 1, 0, 1, 1, 0, 1};
    for (int i = 0; i < 10; i++)
        if (cJSON_GetArrayItem(counts, i)->valuedouble != want[i]) fail_msg("bucket %d", i);
    /* relative cost: cascade = 8 + (8+70) + (8+70+405 + judge 405) ; direct = 8 + 70 + 405; largest = 3 * 405 */
    assert_true(num(j, "cost.cascade") == 8 + 78 + 483 + 405);
    assert_true(num(j, "cost.direct") == 8 + 70 + 405);
    assert_true(num(j, "cost.largest") == 3 * 405);
    cJSON_Delete(j);

    hr_buf out;
    hr_buf_init(&out, 0);
    hr_cascade_stats_render(s, &out);
    assert_non_null(strstr(out.data, "hermes_cascade_requests_total 3\n"));
    assert_non_null(strstr(out.data, "hermes_cascade_escalations_total{from=\"small\",to=\"medium\"} 2\n"));
    assert_non_null(strstr(out.data, "hermes_cascade_quality_score_bucket{le=\"0.5\"} 3\n"));
    assert_non_null(strstr(out.data, "hermes_cascade_quality_score_bucket{le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(out.data, "hermes_cascade_judge_total{verdict=\"no\"} 1\n"));
    assert_non_null(strstr(out.data, "hermes_cascade_cost_total{kind=\"direct\"} 483\n"));
    hr_buf_free(&out);
    hr_cascade_stats_free(s);
    hr_cascade_stats_free(NULL);
    hr_config_free(c);
}

static void test_info_json(void **state) {
    (void)state;
    hr_cascade_info b = {0};
    b.n = 2;
    b.a[0] = att(HR_TIER_SMALL, 0.4, 10, 5);
    b.a[0].quality.penalty[HR_QS_UNCERTAINTY] = 1;
    b.a[1] = att(HR_TIER_MEDIUM, 0.8, 11, 6);
    b.final_tier = HR_TIER_MEDIUM;
    b.final_score = 0.8;
    b.judge_tier = -1;
    snprintf(b.path, sizeof b.path, "small:0.40>medium:0.80");
    cJSON *x = cJSON_CreateObject();
    hr_cascade_info_json(&b, x);
    assert_string_equal(cJSON_GetObjectItem(x, "model_used")->valuestring, "m-1");
    assert_true(cJSON_GetObjectItem(x, "quality_score")->valuedouble == 0.8);
    assert_string_equal(cJSON_GetObjectItem(x, "escalation_path")->valuestring, "small:0.40>medium:0.80");
    cJSON_Delete(x);
    char *s = hr_cascade_info_attempts_json(&b);
    cJSON *a = cJSON_Parse(s);
    free(s);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    const cJSON *a0 = cJSON_GetArrayItem(a, 0);
    assert_string_equal(cJSON_GetObjectItem(a0, "tier")->valuestring, "small");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(a0, "signals"), "uncertainty")->valuedouble == 1);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a0, "accepted")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "accepted")));
    assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "prompt_tokens")->valuedouble == 11);
    cJSON_Delete(a);
    hr_cascade_info none = {0};
    assert_null(hr_cascade_info_attempts_json(&none));
    assert_null(hr_cascade_info_attempts_json(NULL));
    x = cJSON_CreateObject();
    hr_cascade_info_json(&none, x);
    assert_int_equal(cJSON_GetArraySize(x), 0);
    cJSON_Delete(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_units),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_info_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
