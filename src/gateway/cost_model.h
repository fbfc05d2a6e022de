/* Cost model: the estimated monthly spend of a request mix routed over the
 * tiers, against sending every request to one tier (the baseline). Used by
 * `hermes-router cost` and by GET /v1/router/cost (the dashboard).
 *
 * A tier is priced one of three ways (config `cost:` under the tier, or the
 * top-level `costs:` section):
 *   - usd_per_month + capacity_rps: a deployment (e.g. 2x A100 80GB) that
 *     serves capacity_rps requests/s for usd_per_month; spend scales with the
 *     load (load / capacity_rps deployments, fractional: a shared or
 *     autoscaled fleet), "gpu" basis;
 *   - usd_per_month alone: a fixed price paid whenever the tier gets any
 *     traffic, "fixed" basis;
 *   - usd_per_mtok_in / usd_per_mtok_out: per-token prices times the tier's
 *     mean tokens per request, "tokens" basis.
 * A tier with no price at all in the config gets the built-in default below
 * ("default" basis), chosen to reproduce the seed's example: 100,000
 * requests/day all on the 70B tier (2x A100 80GB) costs $10,000/month.
 *
 * A month is 30 days. Everything here is pure arithmetic: no I/O, no
 * allocation except hr_cost_json's result. */
#ifndef HR_GATEWAY_COST_MODEL_H
#define HR_GATEWAY_COST_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "store/store.h"

#define HR_COST_SECONDS_PER_MONTH (30.0 * 86400.0)
/* Built-in defaults: small = 8B on 1x A100 80GB, medium = 70B on 2x A100
 * 80GB, large = 405B on 8x A100 80GB. The 70B deployment is sized for 100,000
 * requests/day; the 8B one serves 5x as many requests, the 405B one as many
 * as the 70B. */
#define HR_COST_DEFAULT_SMALL_USD 5000.0
#define HR_COST_DEFAULT_MEDIUM_USD 10000.0
#define HR_COST_DEFAULT_LARGE_USD 40000.0
#define HR_COST_DEFAULT_MEDIUM_RPS (100000.0 / 86400.0)
#define HR_COST_DEFAULT_SMALL_RPS (5.0 * HR_COST_DEFAULT_MEDIUM_RPS)
#define HR_COST_DEFAULT_LARGE_RPS HR_COST_DEFAULT_MEDIUM_RPS
/* Mean tokens per request when nothing better is known (token pricing only). */
#define HR_COST_DEFAULT_TOKENS_IN 500.0
#define HR_COST_DEFAULT_TOKENS_OUT 250.0

typedef enum { HR_COST_NONE = 0, HR_COST_GPU, HR_COST_FIXED, HR_COST_TOKENS } hr_cost_basis;

typedef struct hr_cost_price {
    bool enabled;           /* the tier exists (disabled tiers take no traffic) */
    bool is_default;        /* price is the built-in default, not from the config */
    double usd_per_month;
    double capacity_rps;
    double usd_per_mtok_in;
    double usd_per_mtok_out;
} hr_cost_price;

typedef struct hr_cost_input {
    double requests_per_day;        /* > 0 */
    double share[HR_TIER_MAX];      /* any non-negative weights; normalised to sum 1 */
    double tokens_in[HR_TIER_MAX];  /* mean prompt tokens per request (<= 0: default) */
    double tokens_out[HR_TIER_MAX]; /* mean completion tokens per request (<= 0: default) */
    int baseline;                   /* tier that takes everything in the baseline */
} hr_cost_input;

typedef struct hr_cost_line {
    double share;        /* normalised */
    double rps;          /* mean requests/s on the tier */
    double deployments;  /* load / capacity (gpu basis), else 0 */
    double usd_month;
    hr_cost_basis basis;
} hr_cost_line;

typedef struct hr_cost_result {
    hr_cost_line tier[HR_TIER_MAX];
    double routed_usd;          /* sum of the tiers */
    double baseline_usd;        /* every request on the baseline tier */
    double baseline_usd_tier[HR_TIER_MAX]; /* every request on tier t (0 when disabled) */
    double savings_usd;         /* baseline - routed (negative: routing costs more) */
    double savings_pct;         /* of the baseline; 0 when the baseline is 0 */
} hr_cost_result;

/* Prices for each tier from cfg (NULL = no config: three tiers with the
 * built-in defaults). A tier with no price in the config gets the default. */
void hr_cost_prices_from_config(const hr_config *cfg, hr_cost_price out[HR_TIER_MAX]);
/* Monthly spend of one tier at rps requests/s with the given mean tokens. */
double hr_cost_tier_usd(const hr_cost_price *p, double rps, double tokens_in, double tokens_out,
                        hr_cost_basis *basis, double *deployments);
/* Fills out. Returns 0, or -1 with a one-line message in err: no positive
 * requests_per_day, no weight, weight on a disabled tier, disabled baseline. */
int hr_cost_estimate(const hr_cost_price prices[HR_TIER_MAX], const hr_cost_input *in, hr_cost_result *out,
                     char *err, size_t errlen);
/* The observed mix from request-log aggregates: share = answered requests
 * (status < 400) per tier, mean tokens per request per tier. Leaves
 * requests_per_day and baseline alone. Returns the answered request count
 * (0: no mix could be taken from the log). */
uint64_t hr_cost_input_from_stats(const hr_store_stats *st, hr_cost_input *in);
/* The seed's example mix (60% / 35% / 5%), with the share of a tier cfg does
 * not enable moved to the tier that takes its traffic (cfg NULL = three tiers). */
void hr_cost_example_mix(const hr_config *cfg, double share[HR_TIER_MAX]);
const char *hr_cost_basis_name(hr_cost_basis b); /* "gpu" | "fixed" | "tokens" | "none" */
/* JSON form: {requests_per_day, baseline, routed_usd, baseline_usd,
 * savings_usd, savings_pct, baselines:{tier:usd}, tiers:{tier:{share, rps,
 * deployments, usd_month, basis, default_price, usd_per_month, capacity_rps,
 * usd_per_mtok_in, usd_per_mtok_out}}}. Caller owns it. */
cJSON *hr_cost_json(const hr_cost_price prices[HR_TIER_MAX], const hr_cost_input *in, const hr_cost_result *r);

#endif
