/* Dashboard routes, read from the request log:
 *   GET /v1/router/requests?limit=&q=&tier=   recent rows, newest first, searchable
 *   GET /v1/router/timeseries?minutes=         requests per tier per bucket, error
 *                                              count, latency percentiles per tier
 *   GET /v1/router/cost?hours=&baseline=&requests_per_day=
 *                                              estimated monthly spend of the observed
 *                                              mix vs. one tier, and the seed's example
 * The reads run on the loop thread but are bounded (row caps below) and use
 * the store's own read connection. Without a request log the answers say
 * "log": false and carry no rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>


#include "core/clock.h"
#include "gateway/cost_model.h"
#include "gateway/internal.h"

#define REQUESTS_DEFAULT 50
#define REQUESTS_MAX 500
#define PROMPT_PREVIEW_BYTES 400      /* prompt text shown per row */
#define SERIES_MAX_ROWS 200000        /* rows read for one timeseries answer */
#define SERIES_MAX_BUCKETS 120
#define SERIES_DEFAULT_MINUTES 60
#define SERIES_MAX_MINUTES (7 * 24 * 60)

/* Query parameters of the request URI (decoded). */
typedef struct params {
    hr_http_req *req;
    bool ok;
} params;

static void params_parse(hr_http_req *req, params *p) {
    p->req = req;
    p->ok = hr_http_req_query_ok(req);
}

static const char *param(params *p, const char *key) { return hr_http_req_param(p->req, key); }

/* Integer parameter within [lo, hi]; def when absent; false when malformed. */
static bool param_long(params *p, const char *key, long lo, long hi, long def, long *out) {
    const char *v = param(p, key);
    *out = def;
    if (!v || !*v) return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) return false;
    *out = n;
    return true;
}

static bool need_log(hr_worker *w, hr_http_req *req, cJSON *empty) {
    if (w->gw->store) return true;
    cJSON_AddBoolToObject(empty, "log", false);
    hr_send_json(req, 200, empty);
    return false;
}

/* ---- /v1/router/requests ---------------------------------------------- */

/* Cuts s to at most cap bytes on a UTF-8 code point boundary. */
static size_t utf8_cut(const char *s, size_t cap) {
    size_t n = strlen(s);
    if (n <= cap) return n;
    n = cap;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

static int add_row(const hr_log_row *row, int64_t id, void *ud) {
    cJSON *arr = ud;
    hr_log_row r = *row;
    char preview[PROMPT_PREVIEW_BYTES + 8];
    bool cut = false;
    if (r.prompt) {
        size_t n = utf8_cut(r.prompt, PROMPT_PREVIEW_BYTES);
        cut = r.prompt[n] != 0;
        memcpy(preview, r.prompt, n);
        preview[n] = 0;
        r.prompt = preview;
    }
    cJSON *o = hr_store_row_json(&r, id);
    if (cut) cJSON_AddBoolToObject(o, "prompt_truncated", true);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

void hr_handle_dash_requests(hr_worker *w, hr_http_req *req) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    if (!need_log(w, req, o)) return;
    params p;
    params_parse(req, &p);
    long limit;
    const char *q = param(&p, "q");
    const char *tier = param(&p, "tier");
    if (!p.ok || !param_long(&p, "limit", 1, REQUESTS_MAX, REQUESTS_DEFAULT, &limit)) {
        hr_send_error(req, 400, "invalid_request_error", NULL, "limit", "limit must be an integer from 1 to %d",
                      REQUESTS_MAX);
        goto out;
    }
    if (q && strlen(q) > HR_STORE_MAX_SEARCH) {
        hr_send_error(req, 400, "invalid_request_error", NULL, "q", "search text is longer than %u bytes",
                      (unsigned)HR_STORE_MAX_SEARCH);
        goto out;
    }
    if (tier && *tier && hr_tier_from_name(tier) < 0) {
        hr_send_error(req, 400, "invalid_request_error", NULL, "tier", "tier must be small, medium or large");
        goto out;
    }
    hr_store_query sq = {.search = q, .tier = tier && *tier ? tier : NULL, .newest_first = true,
                         .limit = (size_t)limit};
    char err[256];
    if (hr_store_query_rows(w->gw->store, &sq, add_row, data, err, sizeof err) < 0) {
        hr_send_error(req, 500, "server_error", "log_read_failed", NULL, "%s", err);
        goto out;
    }
    cJSON_AddBoolToObject(o, "log", true);
    hr_send_json(req, 200, o);
    o = NULL;
out:
    cJSON_Delete(o);
}

/* ---- /v1/router/timeseries -------------------------------------------- */

#define N_SLOTS (HR_TIER_MAX + 1) /* tiers, then "unrouted" (rejected before routing) */

typedef struct series {
    int64_t start_ms, bucket_ms;
    int n_buckets;
    uint64_t count[SERIES_MAX_BUCKETS][N_SLOTS];
    uint64_t errors[SERIES_MAX_BUCKETS];
    uint64_t total, total_errors;
    double *lat[HR_TIER_MAX], *ttft[HR_TIER_MAX]; /* answered requests' latencies */
    size_t n_lat[HR_TIER_MAX], cap_lat[HR_TIER_MAX];
    uint64_t tokens_in[HR_TIER_MAX], tokens_out[HR_TIER_MAX];
    bool truncated;
} series;

static int series_row(const hr_log_row *row, int64_t id, void *ud) {
    series *s = ud;
    int64_t b = (row->ts_ms - s->start_ms) / s->bucket_ms;
    if (b < 0) b = 0;
    if (b >= s->n_buckets) b = s->n_buckets - 1;
    int t = row->tier ? hr_tier_from_name(row->tier) : -1;
    s->count[b][t >= 0 ? t : HR_TIER_MAX]++;
    s->total++;
    if (row->status >= 400) {
        s->errors[b]++;
        s->total_errors++;
        return 0;
    }
    if (t < 0) return 0;
    if (s->n_lat[t] == s->cap_lat[t]) {
        s->cap_lat[t] = s->cap_lat[t] ? s->cap_lat[t] * 2 : 256;
        s->lat[t] = hr_xrealloc(s->lat[t], s->cap_lat[t] * sizeof(double));
        s->ttft[t] = hr_xrealloc(s->ttft[t], s->cap_lat[t] * sizeof(double));
    }
    s->lat[t][s->n_lat[t]] = isfinite(row->latency_ms) ? row->latency_ms : 0;
    s->ttft[t][s->n_lat[t]] = isfinite(row->ttft_ms) ? row->ttft_ms : s->lat[t][s->n_lat[t]];
    s->n_lat[t]++;
    if (row->prompt_tokens > 0) s->tokens_in[t] += (uint64_t)row->prompt_tokens;
    if (row->completion_tokens > 0) s->tokens_out[t] += (uint64_t)row->completion_tokens;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p) {
    if (n == 0) return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return round(v[k - 1] * 100.0) / 100.0;
}

void hr_handle_dash_timeseries(hr_worker *w, hr_http_req *req) {
    cJSON *o = cJSON_CreateObject();
    if (!need_log(w, req, o)) return;
    params p;
    params_parse(req, &p);
    long minutes;
    series *s = NULL;
    if (!p.ok || !param_long(&p, "minutes", 1, SERIES_MAX_MINUTES, SERIES_DEFAULT_MINUTES, &minutes)) {
        hr_send_error(req, 400, "invalid_request_error", NULL, "minutes", "minutes must be an integer from 1 to %d",
                      SERIES_MAX_MINUTES);
        goto out;
    }
    s = hr_xcalloc(1, sizeof *s);
    int64_t now = hr_unix_ms(), window_ms = (int64_t)minutes * 60000;
    /* Buckets of a round number of seconds, at most SERIES_MAX_BUCKETS/2 of them. */
    int64_t bucket_s = (window_ms / 1000 + SERIES_MAX_BUCKETS / 2 - 1) / (SERIES_MAX_BUCKETS / 2);
    static const int64_t steps[] = {5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] >= bucket_s) {
            bucket_s = steps[i];
            break;
        }
    s->bucket_ms = bucket_s * 1000;
    s->start_ms = (now - window_ms) / s->bucket_ms * s->bucket_ms; /* aligned to the bucket size */
    s->n_buckets = (int)((now - s->start_ms) / s->bucket_ms + 1);
    if (s->n_buckets > SERIES_MAX_BUCKETS) s->n_buckets = SERIES_MAX_BUCKETS;
    hr_store_query q = {.since_ms = s->start_ms, .newest_first = true, .limit = SERIES_MAX_ROWS};
    char err[256];
    long n = hr_store_query_rows(w->gw->store, &q, series_row, s, err, sizeof err);
    if (n < 0) {
        hr_send_error(req, 500, "server_error", "log_read_failed", NULL, "%s", err);
        goto out;
    }
    s->truncated = n >= SERIES_MAX_ROWS;

    const hr_config *cfg = w->gw->cfg;
    cJSON_AddBoolToObject(o, "log", true);
    cJSON_AddNumberToObject(o, "now_ms", (double)now);
    cJSON_AddNumberToObject(o, "start_ms", (double)s->start_ms);
    cJSON_AddNumberToObject(o, "window_s", (double)(now - s->start_ms) / 1000.0);
    cJSON_AddNumberToObject(o, "bucket_s", (double)bucket_s);
    cJSON_AddBoolToObject(o, "truncated", s->truncated);
    cJSON *tiers = cJSON_AddArrayToObject(o, "tiers");
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (cfg->tiers[t].enabled) cJSON_AddItemToArray(tiers, cJSON_CreateString(hr_tier_name(t)));
    cJSON *buckets = cJSON_AddArrayToObject(o, "buckets");
    for (int b = 0; b < s->n_buckets; b++) {
        cJSON *bo = cJSON_CreateObject();
        cJSON_AddNumberToObject(bo, "t", (double)(s->start_ms + b * s->bucket_ms));
        for (int t = 0; t < HR_TIER_MAX; t++)
            if (cfg->tiers[t].enabled || s->count[b][t]) cJSON_AddNumberToObject(bo, hr_tier_name(t), (double)s->count[b][t]);
        cJSON_AddNumberToObject(bo, "unrouted", (double)s->count[b][HR_TIER_MAX]);
        cJSON_AddNumberToObject(bo, "errors", (double)s->errors[b]);
        cJSON_AddItemToArray(buckets, bo);
    }
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!cfg->tiers[t].enabled && !s->n_lat[t]) continue;
        size_t k = s->n_lat[t];
        if (k) {
            qsort(s->lat[t], k, sizeof(double), cmp_double);
            qsort(s->ttft[t], k, sizeof(double), cmp_double);
        }
        cJSON *to = cJSON_AddObjectToObject(lat, hr_tier_name(t));
        cJSON_AddNumberToObject(to, "count", (double)k);
        cJSON_AddNumberToObject(to, "p50", pct(s->lat[t], k, 50));
        cJSON_AddNumberToObject(to, "p90", pct(s->lat[t], k, 90));
        cJSON_AddNumberToObject(to, "p99", pct(s->lat[t], k, 99));
        cJSON_AddNumberToObject(to, "ttft_p50", pct(s->ttft[t], k, 50));
        cJSON_AddNumberToObject(to, "ttft_p90", pct(s->ttft[t], k, 90));
        cJSON_AddNumberToObject(to, "tokens_in", (double)s->tokens_in[t]);
        cJSON_AddNumberToObject(to, "tokens_out", (double)s->tokens_out[t]);
    }
    double window_s = (double)window_ms / 1000.0;
    cJSON_AddNumberToObject(o, "requests", (double)s->total);
    cJSON_AddNumberToObject(o, "errors", (double)s->total_errors);
    cJSON_AddNumberToObject(o, "error_rate", s->total ? (double)s->total_errors / (double)s->total : 0);
    cJSON_AddNumberToObject(o, "rate_rps", (double)s->total / window_s);
    /* The rate over the last full minute (or the window, when shorter). */
    int64_t recent_ms = window_ms < 60000 ? window_ms : 60000;
    uint64_t recent = 0;
    for (int b = 0; b < s->n_buckets; b++) {
        int64_t bt = s->start_ms + b * s->bucket_ms;
        if (bt + s->bucket_ms > now - recent_ms)
            for (int k = 0; k < N_SLOTS; k++) recent += s->count[b][k];
    }
    cJSON_AddNumberToObject(o, "rate_rps_recent", (double)recent / ((double)recent_ms / 1000.0));
    hr_send_json(req, 200, o);
    o = NULL;
out:
    if (s)
        for (int t = 0; t < HR_TIER_MAX; t++) {
            free(s->lat[t]);
            free(s->ttft[t]);
        }
    free(s);
    cJSON_Delete(o);
}

/* ---- /v1/router/cost -------------------------------------------------- */

static int default_baseline(const hr_config *cfg) {
    if (cfg->tiers[HR_TIER_MEDIUM].enabled) return HR_TIER_MEDIUM;
    for (int t = HR_TIER_MAX - 1; t >= 0; t--)
        if (cfg->tiers[t].enabled) return t;
    return HR_TIER_MEDIUM;
}

void hr_handle_dash_cost(hr_worker *w, hr_http_req *req) {
    const hr_config *cfg = w->gw->cfg;
    params p;
    params_parse(req, &p);
    cJSON *o = cJSON_CreateObject();
    long hours, rpd_override;
    const char *bl = param(&p, "baseline");
    int baseline = bl && *bl ? hr_tier_from_name(bl) : default_baseline(cfg);
    if (!p.ok || !param_long(&p, "hours", 1, 24 * 365, 24, &hours) ||
        !param_long(&p, "requests_per_day", 0, 1000000000000L, 0, &rpd_override)) {
        hr_send_error(req, 400, "invalid_request_error", NULL, NULL,
                      "hours must be an integer from 1 to 8760 and requests_per_day a non-negative integer");
        goto out;
    }
    if (baseline < 0 || !cfg->tiers[baseline].enabled) {
        hr_send_error(req, 400, "invalid_request_error", NULL, "baseline", "baseline must be a configured tier");
        goto out;
    }
    hr_cost_price prices[HR_TIER_MAX];
    hr_cost_prices_from_config(cfg, prices);
    char err[256];

    /* The seed's example: 100,000 requests/day routed 60 / 35 / 5. */
    hr_cost_input ex = {.requests_per_day = 100000, .baseline = baseline};
    hr_cost_example_mix(cfg, ex.share);
    hr_cost_result exr;
    if (hr_cost_estimate(prices, &ex, &exr, err, sizeof err) == 0)
        cJSON_AddItemToObject(o, "example", hr_cost_json(prices, &ex, &exr));

    cJSON_AddBoolToObject(o, "log", w->gw->store != NULL);
    cJSON_AddNumberToObject(o, "window_hours", (double)hours);
    if (w->gw->store) {
        int64_t now = hr_unix_ms(), since = now - (int64_t)hours * 3600000;
        hr_store_stats st;
        if (hr_store_stats_get(w->gw->store, since, 0, &st, err, sizeof err) < 0) {
            hr_send_error(req, 500, "server_error", "log_read_failed", NULL, "%s", err);
            goto out;
        }
        hr_cost_input in = {.baseline = baseline};
        uint64_t answered = hr_cost_input_from_stats(&st, &in);
        cJSON_AddNumberToObject(o, "observed_requests", (double)answered);
        /* Observed volume extrapolated to a day: over the time since the first
         * row in the window, but never less than an hour (a burst of a few
         * requests is not a daily rate). */
        int64_t span = answered ? now - st.first_ts_ms : 0;
        if (span < 3600000) span = 3600000;
        double rpd = (double)answered * 86400000.0 / (double)span;
        cJSON_AddNumberToObject(o, "observed_requests_per_day", round(rpd * 10.0) / 10.0);
        in.requests_per_day = rpd_override > 0 ? (double)rpd_override : rpd;
        hr_cost_result r;
        if (answered && hr_cost_estimate(prices, &in, &r, err, sizeof err) == 0)
            cJSON_AddItemToObject(o, "observed", hr_cost_json(prices, &in, &r));
        else
            cJSON_AddNullToObject(o, "observed");
    }
    hr_send_json(req, 200, o);
    o = NULL;
out:
    cJSON_Delete(o);
}
