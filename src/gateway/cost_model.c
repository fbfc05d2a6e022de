/* Cost model arithmetic (see cost_model.h for the pricing rules). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gateway/cost_model.h"

static const hr_cost_price default_prices[HR_TIER_MAX] = {
    {true, true, HR_COST_DEFAULT_SMALL_USD, HR_COST_DEFAULT_SMALL_RPS, 0, 0},
    {true, true, HR_COST_DEFAULT_MEDIUM_USD, HR_COST_DEFAULT_MEDIUM_RPS, 0, 0},
    {true, true, HR_COST_DEFAULT_LARGE_USD, HR_COST_DEFAULT_LARGE_RPS, 0, 0},
};

void hr_cost_prices_from_config(const hr_config *cfg, hr_cost_price out[HR_TIER_MAX]) {
    for (int t = 0; t < HR_TIER_MAX; t++) {
        out[t] = default_prices[t];
        if (!cfg) continue;
        const hr_tier_config *tc = &cfg->tiers[t];
        out[t].enabled = tc->enabled;
        if (tc->usd_per_month > 0 || tc->usd_per_mtok_in > 0 || tc->usd_per_mtok_out > 0) {
            out[t].is_default = false;
            out[t].usd_per_month = tc->usd_per_month;
            out[t].capacity_rps = tc->capacity_rps;
            out[t].usd_per_mtok_in = tc->usd_per_mtok_in;
            out[t].usd_per_mtok_out = tc->usd_per_mtok_out;
        }
    }
}

double hr_cost_tier_usd(const hr_cost_price *p, double rps, double tokens_in, double tokens_out,
                        hr_cost_basis *basis, double *deployments) {
    hr_cost_basis b = HR_COST_NONE;
    double usd = 0, dep = 0;
    if (tokens_in <= 0) tokens_in = HR_COST_DEFAULT_TOKENS_IN;
    if (tokens_out <= 0) tokens_out = HR_COST_DEFAULT_TOKENS_OUT;
    if (p->usd_per_month > 0 && p->capacity_rps > 0) {
        b = HR_COST_GPU;
        dep = rps / p->capacity_rps;
        usd = p->usd_per_month * dep;
    } else if (p->usd_per_month > 0) {
        b = HR_COST_FIXED;
        usd = rps > 0 ? p->usd_per_month : 0;
    } else if (p->usd_per_mtok_in > 0 || p->usd_per_mtok_out > 0) {
        b = HR_COST_TOKENS;
        double requests = rps * HR_COST_SECONDS_PER_MONTH;
        usd = requests * (tokens_in * p->usd_per_mtok_in + tokens_out * p->usd_per_mtok_out) / 1e6;
    }
    if (basis) *basis = b;
    if (deployments) *deployments = dep;
    return usd;
}

int hr_cost_estimate(const hr_cost_price prices[HR_TIER_MAX], const hr_cost_input *in, hr_cost_result *out,
                     char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!(in->requests_per_day > 0) || !isfinite(in->requests_per_day)) {
        snprintf(err, errlen, "requests per day must be a positive number");
        return -1;
    }
    if (in->baseline < 0 || in->baseline >= HR_TIER_MAX || !prices[in->baseline].enabled) {
        snprintf(err, errlen, "baseline tier %s is not configured", hr_tier_name(in->baseline));
        return -1;
    }
    double sum = 0;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        double s = in->share[t];
        if (s < 0 || !isfinite(s)) {
            snprintf(err, errlen, "the share of tier %s must be a non-negative number", hr_tier_name(t));
            return -1;
        }
        if (s > 0 && !prices[t].enabled) {
            snprintf(err, errlen, "the mix sends traffic to tier %s, which is not configured", hr_tier_name(t));
            return -1;
        }
        sum += s;
    }
    if (!(sum > 0)) {
        snprintf(err, errlen, "the mix is empty: give at least one tier a positive share");
        return -1;
    }
    double rps = in->requests_per_day / 86400.0;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        hr_cost_line *l = &out->tier[t];
        l->share = in->share[t] / sum;
        l->rps = rps * l->share;
        l->usd_month = hr_cost_tier_usd(&prices[t], l->rps, in->tokens_in[t], in->tokens_out[t], &l->basis,
                                        &l->deployments);
        out->routed_usd += l->usd_month;
        if (prices[t].enabled)
            out->baseline_usd_tier[t] = hr_cost_tier_usd(&prices[t], rps, in->tokens_in[t], in->tokens_out[t], NULL, NULL);
    }
    out->baseline_usd = out->baseline_usd_tier[in->baseline];
    out->savings_usd = out->baseline_usd - out->routed_usd;
    out->savings_pct = out->baseline_usd > 0 ? 100.0 * out->savings_usd / out->baseline_usd : 0;
    return 0;
}

uint64_t hr_cost_input_from_stats(const hr_store_stats *st, hr_cost_input *in) {
    uint64_t n[HR_TIER_MAX] = {0}, tin[HR_TIER_MAX] = {0}, tout[HR_TIER_MAX] = {0}, total = 0;
    for (size_t i = 0; i < st->n_groups && i < HR_STORE_MAX_GROUPS; i++) {
        const hr_store_group *g = &st->groups[i];
        int t = hr_tier_from_name(g->tier);
        if (t < 0 || g->status >= 400) continue;
        n[t] += g->requests;
        tin[t] += g->prompt_tokens;
        tout[t] += g->completion_tokens;
        total += g->requests;
    }
    for (int t = 0; t < HR_TIER_MAX; t++) {
        in->share[t] = total ? (double)n[t] / (double)total : 0;
        in->tokens_in[t] = n[t] ? (double)tin[t] / (double)n[t] : 0;
        in->tokens_out[t] = n[t] ? (double)tout[t] / (double)n[t] : 0;
    }
    return total;
}

void hr_cost_example_mix(const hr_config *cfg, double share[HR_TIER_MAX]) {
    static const double seed[HR_TIER_MAX] = {0.60, 0.35, 0.05};
    for (int t = 0; t < HR_TIER_MAX; t++) share[t] = 0;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        int to = cfg ? hr_config_map_tier(cfg, t) : t;
        if (to >= 0 && to < HR_TIER_MAX) share[to] += seed[t];
    }
}

const char *hr_cost_basis_name(hr_cost_basis b) {
    switch (b) {
    case HR_COST_GPU: return "gpu";
    case HR_COST_FIXED: return "fixed";
    case HR_COST_TOKENS: return "tokens";
    default: return "none";
    }
}

/* Money rounded to cents so the JSON stays readable. */
static double cents(double v) { return round(v * 100.0) / 100.0; }

cJSON *hr_cost_json(const hr_cost_price prices[HR_TIER_MAX], const hr_cost_input *in, const hr_cost_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests_per_day", round(in->requests_per_day * 10.0) / 10.0);
    cJSON_AddStringToObject(o, "baseline", hr_tier_name(in->baseline));
    cJSON_AddNumberToObject(o, "routed_usd", cents(r->routed_usd));
    cJSON_AddNumberToObject(o, "baseline_usd", cents(r->baseline_usd));
    cJSON_AddNumberToObject(o, "savings_usd", cents(r->savings_usd));
    cJSON_AddNumberToObject(o, "savings_pct", round(r->savings_pct * 10.0) / 10.0);
    cJSON *bl = cJSON_AddObjectToObject(o, "baselines");
    cJSON *tiers = cJSON_AddObjectToObject(o, "tiers");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!prices[t].enabled) continue;
        cJSON_AddNumberToObject(bl, hr_tier_name(t), cents(r->baseline_usd_tier[t]));
        const hr_cost_line *l = &r->tier[t];
        cJSON *to = cJSON_AddObjectToObject(tiers, hr_tier_name(t));
        cJSON_AddNumberToObject(to, "share", round(l->share * 10000.0) / 10000.0);
        cJSON_AddNumberToObject(to, "rps", round(l->rps * 10000.0) / 10000.0);
        cJSON_AddNumberToObject(to, "deployments", round(l->deployments * 1000.0) / 1000.0);
        cJSON_AddNumberToObject(to, "usd_month", cents(l->usd_month));
        cJSON_AddStringToObject(to, "basis", hr_cost_basis_name(l->basis));
        cJSON_AddBoolToObject(to, "default_price", prices[t].is_default);
        cJSON_AddNumberToObject(to, "usd_per_month", prices[t].usd_per_month);
        cJSON_AddNumberToObject(to, "capacity_rps", round(prices[t].capacity_rps * 10000.0) / 10000.0);
        cJSON_AddNumberToObject(to, "usd_per_mtok_in", prices[t].usd_per_mtok_in);
        cJSON_AddNumberToObject(to, "usd_per_mtok_out", prices[t].usd_per_mtok_out);
    }
    return o;
}
