/* hermes-router cost: the cost model on the command line.
 *
 *   hermes-router cost [--config FILE] [--requests-per-day N] [--mix S,M,L]
 *                      [--baseline TIER] [--tokens-in N] [--tokens-out N] [--json]
 *   hermes-router cost --from-log [--config FILE | --db PATH | --postgres URL] [--hours H] ...
 *
 * Prints the estimated monthly spend per tier for a routed mix, the spend of
 * sending everything to the baseline tier, and the savings. Defaults
 * reproduce the seed's example: 100,000 requests/day, routed 60% / 35% / 5%,
 * against all on the 70B tier (medium, 2x A100 80GB, $10,000/month). Prices
 * come from the config (`cost:` per tier or `costs:`), else the built-in
 * defaults of gateway/cost_model.h. --from-log takes the mix and the mean
 * tokens per request from the request log (answered requests), and the
 * volume from it too unless --requests-per-day is given: the requests in the
 * window extrapolated to a day (over at least one hour). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "gateway/cost_model.h"
#include "store/store.h"

static void cost_usage(FILE *f) {
    fprintf(f,
            "usage: hermes-router cost [--config FILE] [--requests-per-day N] [--mix S,M,L] [--baseline TIER]\n"
            "                          [--from-log [--db PATH | --postgres URL] [--hours H]]\n"
            "                          [--tokens-in N] [--tokens-out N] [--json]\n"
            "Estimated monthly cost of routing vs. sending every request to one tier.\n"
            "  --config FILE          tiers and prices (`cost:` per tier, or `costs:`); default: built-in prices\n"
            "  --requests-per-day N   request volume (default 100000; with --from-log: measured)\n"
            "  --mix S,M,L            share of requests per tier in percent, smallest tier first\n"
            "                         (default 60,35,5; two numbers for a two-tier config)\n"
            "  --baseline TIER        the single tier to compare with (default medium)\n"
            "  --from-log             take the mix and tokens from the request log\n"
            "  --db PATH / --postgres URL   which log (default: the config's `log:`)\n"
            "  --hours H              only the last H hours of the log (default: all)\n"
            "  --tokens-in N / --tokens-out N   mean tokens per request for per-token prices\n"
            "                         (default 500 / 250; with --from-log: measured)\n"
            "  --json                 print the result as JSON\n");
}

typedef struct cost_args {
    const char *config, *db, *postgres, *mix, *baseline;
    bool from_log, json;
    double rpd, hours, tokens_in, tokens_out;
} cost_args;

static int parse_positive(const char *opt, const char *v, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || !isfinite(d)) {
        fprintf(stderr, "hermes-router cost: %s: expected a positive number, got '%s'\n", opt, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* 0 ok, 1 --help shown, 2 usage error (already reported). */
static int parse_args(int argc, char **argv, cost_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return 1;
        if (!strcmp(o, "--from-log")) a->from_log = true;
        else if (!strcmp(o, "--json")) a->json = true;
        else if (!strcmp(o, "--config") || !strcmp(o, "--db") || !strcmp(o, "--postgres") || !strcmp(o, "--mix") ||
                 !strcmp(o, "--baseline") || !strcmp(o, "--requests-per-day") || !strcmp(o, "--hours") ||
                 !strcmp(o, "--tokens-in") || !strcmp(o, "--tokens-out")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hermes-router cost: %s needs a value\n", o);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(o, "--config")) a->config = v;
            else if (!strcmp(o, "--db")) a->db = v;
            else if (!strcmp(o, "--postgres")) a->postgres = v;
            else if (!strcmp(o, "--mix")) a->mix = v;
            else if (!strcmp(o, "--baseline")) a->baseline = v;
            else if (!strcmp(o, "--requests-per-day")) {
                if (parse_positive(o, v, &a->rpd) < 0) return 2;
            } else if (!strcmp(o, "--hours")) {
                if (parse_positive(o, v, &a->hours) < 0) return 2;
            } else if (!strcmp(o, "--tokens-in")) {
                if (parse_positive(o, v, &a->tokens_in) < 0) return 2;
            } else if (parse_positive(o, v, &a->tokens_out) < 0) return 2;
        } else {
            fprintf(stderr, "hermes-router cost: unknown option '%s' (try --help)\n", o);
            return 2;
        }
    }
    if ((a->db || a->postgres || a->hours > 0) && !a->from_log) {
        fprintf(stderr, "hermes-router cost: --db, --postgres and --hours only go with --from-log\n");
        return 2;
    }
    if (a->from_log && a->mix) {
        fprintf(stderr, "hermes-router cost: --mix and --from-log exclude each other (the log gives the mix)\n");
        return 2;
    }
    return 0;
}

/* "60,35,5" onto the enabled tiers, smallest first. */
static int parse_mix(const char *s, const hr_cost_price prices[HR_TIER_MAX], double share[HR_TIER_MAX]) {
    int tiers[HR_TIER_MAX], n_tiers = 0;
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (prices[t].enabled) tiers[n_tiers++] = t;
    double v[HR_TIER_MAX + 1];
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || !(d >= 0) || !isfinite(d) || n == HR_TIER_MAX + 1) {
            n = -1;
            break;
        }
        v[n++] = d;
        p = end;
        if (*p == '%') p++;
        if (*p == ',') p++;
        else if (*p) {
            n = -1;
            break;
        }
    }
    if (n != n_tiers) {
        fprintf(stderr, "hermes-router cost: --mix '%s': expected %d comma-separated percentages (one per tier, "
                        "smallest first)\n", s, n_tiers);
        return -1;
    }
    for (int t = 0; t < HR_TIER_MAX; t++) share[t] = 0;
    for (int i = 0; i < n; i++) share[tiers[i]] = v[i];
    return 0;
}

/* 12345.6 -> "$12,346" */
static const char *money(double usd, char *buf, size_t cap) {
    char digits[64];
    bool neg = usd < 0;
    snprintf(digits, sizeof digits, "%.0f", fabs(usd));
    size_t n = strlen(digits), o = 0;
    if (neg && o + 1 < cap) buf[o++] = '-';
    if (o + 1 < cap) buf[o++] = '$';
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n) buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

static void describe_price(const hr_cost_price *p, char *out, size_t cap) {
    char m[48];
    if (p->usd_per_month > 0 && p->capacity_rps > 0)
        snprintf(out, cap, "%s/month per %.2f req/s", money(p->usd_per_month, m, sizeof m), p->capacity_rps);
    else if (p->usd_per_month > 0)
        snprintf(out, cap, "%s/month fixed", money(p->usd_per_month, m, sizeof m));
    else if (p->usd_per_mtok_in > 0 || p->usd_per_mtok_out > 0)
        snprintf(out, cap, "$%g in / $%g out per Mtok", p->usd_per_mtok_in, p->usd_per_mtok_out);
    else
        snprintf(out, cap, "no price");
}

static void print_table(const hr_cost_price prices[HR_TIER_MAX], const hr_cost_input *in, const hr_cost_result *r,
                        const char *source) {
    char a[48], b[48];
    printf("Cost model: %s requests/day (%.2f req/s), 30-day month; mix from %s\n",
           money(in->requests_per_day, a, sizeof a) + 1, in->requests_per_day / 86400.0, source);
    printf("  %-7s %7s %8s  %-34s %-7s %12s\n", "tier", "share", "req/s", "price", "basis", "$/month");
    bool any_default = false;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!prices[t].enabled) continue;
        const hr_cost_line *l = &r->tier[t];
        char price[96];
        describe_price(&prices[t], price, sizeof price);
        if (prices[t].is_default) {
            size_t n = strlen(price);
            snprintf(price + n, sizeof price - n, " *");
            any_default = true;
        }
        printf("  %-7s %6.1f%% %8.3f  %-34s %-7s %12s\n", hr_tier_name(t), 100.0 * l->share, l->rps, price,
               hr_cost_basis_name(l->basis), money(l->usd_month, a, sizeof a));
    }
    printf("  routed:                    %s/month\n", money(r->routed_usd, a, sizeof a));
    printf("  baseline (all on %s): %*s%s/month\n", hr_tier_name(in->baseline),
           (int)(7 - strlen(hr_tier_name(in->baseline))), "", money(r->baseline_usd, b, sizeof b));
    printf("  savings:                   %s/month (%.1f%%)\n", money(r->savings_usd, a, sizeof a), r->savings_pct);
    if (any_default)
        printf("  * built-in price (8B on 1x A100 80GB, 70B on 2x A100 80GB, 405B on 8x A100 80GB);\n"
               "    set `cost:` per tier in the config for your own\n");
}

int hr_cmd_cost(int argc, char **argv) {
    cost_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) {
        cost_usage(stdout);
        return 0;
    }
    if (rc) return rc;
    char err[512];
    hr_config *cfg = a.config ? hr_config_load(a.config, err, sizeof err) : NULL;
    if (a.config && !cfg) {
        fprintf(stderr, "hermes-router cost: %s\n", err);
        return 1;
    }
    hr_cost_price prices[HR_TIER_MAX];
    hr_cost_prices_from_config(cfg, prices);
    hr_cost_input in = {.requests_per_day = a.rpd > 0 ? a.rpd : 100000};
    in.baseline = a.baseline ? hr_tier_from_name(a.baseline) : HR_TIER_MEDIUM;
    if (!a.baseline && !prices[HR_TIER_MEDIUM].enabled)
        for (int t = 0; t < HR_TIER_MAX; t++)
            if (prices[t].enabled) in.baseline = t; /* the largest configured tier */
    if (in.baseline < 0 || !prices[in.baseline].enabled) {
        fprintf(stderr, "hermes-router cost: --baseline '%s' is not a configured tier\n", a.baseline);
        hr_config_free(cfg);
        return 2;
    }
    const char *source = "the command line";
    char source_buf[128];
    rc = 1;
    if (a.from_log) {
        hr_log_config lc = {.enabled = true};
        hr_config *defaults = NULL;
        if (a.db) lc.sqlite_path = (char *)a.db;
        else if (a.postgres) lc.postgres_url = (char *)a.postgres;
        else if (cfg) lc = cfg->log;
        else {
            defaults = hr_config_default();
            lc = defaults->log;
        }
        hr_store *s = hr_store_open_readonly(&lc, err, sizeof err);
        hr_config_free(defaults);
        if (!s) {
            fprintf(stderr, "hermes-router cost: %s\n", err);
            goto out;
        }
        int64_t now = hr_unix_ms();
        int64_t since = a.hours > 0 ? now - (int64_t)(a.hours * 3600000.0) : 0;
        hr_store_stats st;
        int got = hr_store_stats_get(s, since, 0, &st, err, sizeof err);
        hr_store_close(s);
        if (got < 0) {
            fprintf(stderr, "hermes-router cost: %s\n", err);
            goto out;
        }
        uint64_t answered = hr_cost_input_from_stats(&st, &in);
        if (!answered) {
            fprintf(stderr, "hermes-router cost: the request log has no answered requests%s\n",
                    a.hours > 0 ? " in that window" : "");
            goto out;
        }
        if (a.rpd <= 0) {
            int64_t span = st.last_ts_ms - st.first_ts_ms;
            if (a.hours > 0 && span < (int64_t)(a.hours * 3600000.0)) span = (int64_t)(a.hours * 3600000.0);
            if (span < 3600000) span = 3600000;
            in.requests_per_day = (double)answered * 86400000.0 / (double)span;
        }
        snprintf(source_buf, sizeof source_buf, "the request log (%llu answered requests)",
                 (unsigned long long)answered);
        source = source_buf;
    } else if (a.mix) {
        if (parse_mix(a.mix, prices, in.share) < 0) {
            rc = 2;
            goto out;
        }
    } else {
        hr_cost_example_mix(cfg, in.share);
        source = "the seed's example (60% / 35% / 5%)";
    }
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (a.tokens_in > 0) in.tokens_in[t] = a.tokens_in;
        if (a.tokens_out > 0) in.tokens_out[t] = a.tokens_out;
    }
    hr_cost_result r;
    if (hr_cost_estimate(prices, &in, &r, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router cost: %s\n", err);
        rc = 2;
        goto out;
    }
    if (a.json) {
        cJSON *o = hr_cost_json(prices, &in, &r);
        char *text = cJSON_Print(o);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        print_table(prices, &in, &r, source);
    }
    rc = 0;
out:
    hr_config_free(cfg);
    return rc;
}
