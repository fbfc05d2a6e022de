/* bench_router: decision time of the router (rules strategy, built-in
 * keyword lists, all tiers enabled) for one user message of 100, 2,000 and
 * 20,000 characters, English and Chinese. The filler text holds no keyword,
 * so the keyword scan reads the whole message (the worst case for rules 3-6);
 * 20,000 characters is decided by the context rule before any scan unless
 * features are wanted (then every list is scanned).
 *
 * Prints a markdown table of p50/p99 of route_us (as the gateway reports it)
 * without and with features. Usage: bench_router [iterations per row] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/buf.h"
#include "core/chat.h"
#include "core/config.h"
#include "router/router.h"

static const char *filler_en = "The quick brown fox jumps over the lazy dog near the river bank today. ";
static const char *filler_zh = "我们今天在公园里散步，天气晴朗，心情愉快。";

static void measure(hr_router *r, const hr_chat_request *req, bool features, size_t iters, double *p50, double *p99,
                    hr_route_decision *last) {
    double *t = hr_xmalloc(iters * sizeof *t);
    for (size_t i = 0; i < iters / 10 + 1; i++) { /* warm-up */
        hr_route_decision d;
        hr_router_decide(r, req, features, &d);
        hr_route_decision_clear(&d);
    }
    for (size_t i = 0; i < iters; i++) {
        hr_route_decision d;
        if (hr_router_decide(r, req, features, &d) < 0) {
            fprintf(stderr, "bench_router: decide failed\n");
            exit(1);
        }
        t[i] = d.route_us;
        hr_route_decision_clear(&d);
        if (i + 1 == iters) *last = d; /* tier and reason only: features are gone */
    }
    qsort(t, iters, sizeof *t, bench_cmp_double);
    *p50 = bench_pct(t, iters, 0.50);
    *p99 = bench_pct(t, iters, 0.99);
    free(t);
}

int main(int argc, char **argv) {
    size_t base_iters = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
    if (base_iters < 100) base_iters = 100;
    hr_config *cfg = hr_config_default();
    for (int t = 0; t < HR_TIER_MAX; t++) cfg->tiers[t].enabled = true;
    char err[256];
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    if (!r) {
        fprintf(stderr, "bench_router: %s\n", err);
        return 1;
    }
    static const size_t sizes[] = {100, 2000, 20000};
    static const char *langs[] = {"en", "zh"};
    printf("| prompt | chars | bytes | decision | p50 us | p99 us | p50 us (features) | p99 us (features) |\n");
    printf("|---|---:|---:|---|---:|---:|---:|---:|\n");
    for (size_t li = 0; li < 2; li++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            char *text = bench_make_text(li ? filler_zh : filler_en, sizes[si]);
            hr_chat_request req;
            if (hr_chat_request_from_prompt(text, &req) < 0) {
                fprintf(stderr, "bench_router: cannot build the request\n");
                return 1;
            }
            size_t iters = sizes[si] >= 20000 ? base_iters / 10 : base_iters;
            double p50, p99, f50, f99;
            hr_route_decision d;
            measure(r, &req, false, iters, &p50, &p99, &d);
            measure(r, &req, true, iters, &f50, &f99, &d);
            printf("| %s | %zu | %zu | %s: %s | %.2f | %.2f | %.2f | %.2f |\n", langs[li], req.last_user->chars,
                   req.last_user->text_len, hr_tier_name(d.tier), d.reason, p50, p99, f50, f99);
            hr_chat_request_free(&req);
            free(text);
        }
    }
    hr_router_free(r);
    hr_config_free(cfg);
    return 0;
}
