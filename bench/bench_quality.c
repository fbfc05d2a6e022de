/* bench_quality: cost of the cascade's quality score per answer (the
 * gateway's own work per cascade attempt, besides buffering).
 * Usage: bench_quality [iterations]  (default 20000). Prints microseconds per
 * score for a few answer shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "router/quality.h"

static void run(const char *name, const hr_cascade_config *k, const cJSON *req, const hr_quality_answer *a, long iters) {
    hr_quality_report r;
    uint64_t t0 = hr_now_ns();
    double sink = 0;
    for (long i = 0; i < iters; i++) {
        hr_quality_score(k, req, a, &r);
        sink += r.score;
    }
    double us = (double)(hr_now_ns() - t0) / 1e3 / (double)iters;
    printf("%-34s %6zu bytes  %8.2f us/score  (score %.2f)\n", name, a->len, us, sink / (double)iters);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    if (iters < 1) iters = 1;
    hr_config *cfg = hr_config_default();
    const hr_cascade_config *k = &cfg->cascade;
    hr_buf en;
    hr_buf_init(&en, 0);
    for (int i = 0; i < 20; i++)
        hr_buf_printf(&en, "Sentence number %d explains one more detail of the answer in plain words. ", i);
    float *lp = malloc(400 * sizeof *lp);
    for (int i = 0; i < 400; i++) lp[i] = -0.05f - (float)(i % 7) * 0.1f;
    hr_quality_answer a = {.text = en.data, .len = en.len, .finish_reason = "stop", .logprobs = lp, .n_logprobs = 400};
    run("english 1.5 KB + 400 logprobs", k, NULL, &a, iters);
    hr_buf zh;
    hr_buf_init(&zh, 0);
    for (int i = 0; i < 20; i++) hr_buf_printf(&zh, "这是第%d句话，用来说明答案中的一个细节。", i);
    hr_quality_answer b = {.text = zh.data, .len = zh.len, .finish_reason = "stop"};
    run("chinese 1.4 KB, no logprobs", k, NULL, &b, iters);
    cJSON *req = cJSON_Parse("{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":"
                             "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"type\":"
                             "\"string\"}}},\"required\":[\"items\"]}}}}");
    hr_buf js;
    hr_buf_init(&js, 0);
    hr_buf_puts(&js, "{\"items\": [");
    for (int i = 0; i < 60; i++) hr_buf_printf(&js, "%s\"item number %d\"", i ? ", " : "", i);
    hr_buf_puts(&js, "]}");
    hr_quality_answer c = {.text = js.data, .len = js.len, .finish_reason = "stop"};
    run("json_schema answer 1.1 KB", k, req, &c, iters);
    cJSON_Delete(req);
    hr_buf_free(&en);
    hr_buf_free(&zh);
    hr_buf_free(&js);
    free(lp);
    hr_config_free(cfg);
    return 0;
}
