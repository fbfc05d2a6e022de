/* Metrics: Prometheus text, reason reduction to bounded label values,
 * histogram buckets, and the router stats shape (the seed's get_stats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/metrics.h"

static void observe(hr_metrics *m, int tier, const char *reason, int status, double route_us, long in, long out) {
    hr_request_metrics r = {.tier = tier, .strategy = tier >= 0 ? "rules" : NULL, .reason = reason, .status = status,
                            .route_us = route_us, .upstream_ms = 10, .total_ms = 12, .tokens_in = in,
                            .tokens_out = out};
    hr_metrics_observe(m, &r);
}

static void test_prometheus_text(void **state) {
    (void)state;
    hr_metrics *m = hr_metrics_create();
    observe(m, 0, "simple-task keyword: 翻译", 200, 3, 10, 5);
    observe(m, 0, "simple-task keyword: translate", 200, 4, 20, 7);
    observe(m, 1, "default", 200, 1, 1, 1);
    observe(m, -1, NULL, 400, -1, -1, -1);
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_metrics_render(m, &b);
    /* the keyword is dropped from the label: both requests share one series */
    assert_non_null(strstr(b.data, "hermes_requests_total{tier=\"small\",reason=\"simple-task keyword\",strategy=\"rules\","
                                   "status=\"200\"} 2\n"));
    assert_non_null(strstr(b.data, "hermes_requests_total{tier=\"none\",reason=\"none\",strategy=\"none\",status=\"400\"} 1"));
    assert_non_null(strstr(b.data, "hermes_tokens_total{tier=\"small\",direction=\"in\"} 30\n"));
    assert_non_null(strstr(b.data, "hermes_tokens_total{tier=\"small\",direction=\"out\"} 12\n"));
    /* 3 routed decisions: 1us, 3us, 4us -> le=2e-06 has 1, le=5e-06 has 3 */
    assert_non_null(strstr(b.data, "hermes_route_decision_seconds_bucket{le=\"2e-06\"} 1\n"));
    assert_non_null(strstr(b.data, "hermes_route_decision_seconds_bucket{le=\"5e-06\"} 3\n"));
    assert_non_null(strstr(b.data, "hermes_route_decision_seconds_count{} 3\n"));
    assert_non_null(strstr(b.data, "hermes_request_duration_seconds_count{tier=\"small\"} 2\n"));
    hr_buf_free(&b);
    hr_metrics_free(m);
}

static void test_series_are_bounded(void **state) {
    (void)state;
    hr_metrics *m = hr_metrics_create();
    char reason[64];
    for (int i = 0; i < HR_METRICS_MAX_SERIES + 100; i++) {
        snprintf(reason, sizeof reason, "reason%d", i);
        observe(m, 1, reason, 200, 1, 1, 1);
    }
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_metrics_render(m, &b);
    assert_non_null(strstr(b.data, "reason=\"other\""));
    size_t lines = 0;
    for (const char *p = b.data; (p = strstr(p, "hermes_requests_total{")); p++) lines++;
    assert_true(lines <= HR_METRICS_MAX_SERIES);
    hr_buf_free(&b);
    hr_metrics_free(m);
}

static void test_stats_shape(void **state) {
    (void)state;
    hr_metrics *m = hr_metrics_create();
    for (int i = 0; i < 6; i++) observe(m, 0, "x", 200, 1, 1, 1);
    for (int i = 0; i < 3; i++) observe(m, 1, "y", 200, 1, 1, 1);
    observe(m, 2, "z", 200, 1, 1, 1);
    bool enabled[3] = {true, true, true};
    cJSON *s = hr_metrics_stats(m, enabled);
    assert_int_equal(cJSON_GetObjectItem(s, "small")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(s, "total")->valueint, 10);
    cJSON *ratios = cJSON_GetObjectItem(s, "ratios");
    assert_string_equal(cJSON_GetObjectItem(ratios, "small")->valuestring, "60.0%");
    assert_string_equal(cJSON_GetObjectItem(ratios, "medium")->valuestring, "30.0%");
    assert_string_equal(cJSON_GetObjectItem(ratios, "large")->valuestring, "10.0%");
    cJSON_Delete(s);
    hr_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_series_are_bounded),
        cmocka_unit_test(test_stats_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
