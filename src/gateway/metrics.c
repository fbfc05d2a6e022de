#include "gateway/metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/* Bucket upper bounds in seconds. */
static const double route_buckets[] = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3};
static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,    5,     10,   30,    60,   120, 300};
#define N_ROUTE_B (sizeof route_buckets / sizeof route_buckets[0])
#define N_LAT_B (sizeof latency_buckets / sizeof latency_buckets[0])
#define N_TIER_LABELS (HR_TIER_MAX + 1) /* + "none" */

typedef struct histo {
    uint64_t counts[N_LAT_B + 1]; /* sized for the larger bucket set; last = +Inf */
    double sum;
    uint64_t n;
} histo;

typedef struct series {
    int tier;
    char reason[64];
    char strategy[24];
    int status;
    uint64_t count;
} series;

struct hr_metrics {
    pthread_mutex_t mu;
    series *series;
    size_t n_series;
    histo route;                       /* decision time */
    histo upstream[N_TIER_LABELS];     /* backend time to first byte */
    histo total[N_TIER_LABELS];        /* whole request */
    uint64_t tokens_in[N_TIER_LABELS], tokens_out[N_TIER_LABELS];
    uint64_t tier_count[N_TIER_LABELS];/* routed requests per tier (any status) */
    uint64_t forced[N_TIER_LABELS];
    uint64_t fallbacks;
    uint64_t streams;
    double route_us_sum;
    uint64_t route_n;
};

hr_metrics *hr_metrics_create(void) {
    hr_metrics *m = calloc(1, sizeof *m);
    if (!m) abort();
    pthread_mutex_init(&m->mu, NULL);
    m->series = calloc(HR_METRICS_MAX_SERIES, sizeof *m->series);
    if (!m->series) abort();
    return m;
}

void hr_metrics_free(hr_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m->series);
    free(m);
}

static void histo_add(histo *h, const double *bounds, size_t nb, double v) {
    size_t i = 0;
    while (i < nb && v > bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
}

/* "complex-code keyword: 分布式" -> "complex-code keyword" */
static void reason_kind(const char *reason, char *out, size_t cap) {
    if (!reason || !reason[0]) {
        snprintf(out, cap, "none");
        return;
    }
    size_t n = strcspn(reason, ":;(");
    while (n > 0 && reason[n - 1] == ' ') n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, reason, n);
    out[n] = 0;
}

void hr_metrics_observe(hr_metrics *m, const hr_request_metrics *r) {
    int t = r->tier >= 0 && r->tier < HR_TIER_MAX ? r->tier : HR_TIER_MAX;
    char kind[64];
    reason_kind(r->reason, kind, sizeof kind);
    const char *strategy = r->strategy ? r->strategy : "none";
    pthread_mutex_lock(&m->mu);
    series *s = NULL;
    for (size_t i = 0; i < m->n_series; i++) {
        series *x = &m->series[i];
        if (x->tier == t && x->status == r->status && !strcmp(x->reason, kind) && !strcmp(x->strategy, strategy)) {
            s = x;
            break;
        }
    }
    if (!s) {
        if (m->n_series < HR_METRICS_MAX_SERIES - 1) {
            s = &m->series[m->n_series++];
            s->tier = t;
            s->status = r->status;
            snprintf(s->reason, sizeof s->reason, "%s", kind);
            snprintf(s->strategy, sizeof s->strategy, "%s", strategy);
        } else { /* the last slot is the overflow series */
            s = &m->series[HR_METRICS_MAX_SERIES - 1];
            if (m->n_series < HR_METRICS_MAX_SERIES) {
                m->n_series = HR_METRICS_MAX_SERIES;
                s->tier = HR_TIER_MAX;
                s->status = 0;
                snprintf(s->reason, sizeof s->reason, "other");
                snprintf(s->strategy, sizeof s->strategy, "other");
            }
        }
    }
    s->count++;
    if (r->route_us >= 0) {
        histo_add(&m->route, route_buckets, N_ROUTE_B, r->route_us / 1e6);
        m->route_us_sum += r->route_us;
        m->route_n++;
    }
    if (r->upstream_ms >= 0) histo_add(&m->upstream[t], latency_buckets, N_LAT_B, r->upstream_ms / 1e3);
    histo_add(&m->total[t], latency_buckets, N_LAT_B, r->total_ms / 1e3);
    if (r->tokens_in > 0) m->tokens_in[t] += (uint64_t)r->tokens_in;
    if (r->tokens_out > 0) m->tokens_out[t] += (uint64_t)r->tokens_out;
    if (t < HR_TIER_MAX) m->tier_count[t]++;
    if (r->forced) m->forced[t]++;
    if (r->fallback) m->fallbacks++;
    if (r->stream) m->streams++;
    pthread_mutex_unlock(&m->mu);
}

static const char *tier_label(int t) { return t < HR_TIER_MAX ? hr_tier_name(t) : "none"; }

/* Label values are escaped as Prometheus requires (\\, \", \n). */
static void put_label(hr_buf *out, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') hr_buf_printf(out, "\\%c", *v);
        else if (*v == '\n') hr_buf_puts(out, "\\n");
        else hr_buf_append(out, v, 1);
    }
}

static void render_histo(hr_buf *out, const char *name, const char *labels, const histo *h, const double *bounds,
                         size_t nb) {
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += h->counts[i];
        hr_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "", bounds[i],
                      (unsigned long long)cum);
    }
    cum += h->counts[nb];
    hr_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "", (unsigned long long)cum);
    hr_buf_printf(out, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, labels, h->sum, name, labels,
                  (unsigned long long)h->n);
}

void hr_metrics_render(hr_metrics *m, hr_buf *out) {
    pthread_mutex_lock(&m->mu);
    hr_buf_puts(out, "# HELP hermes_requests_total Chat requests by tier, routing reason, strategy and HTTP status.\n"
                     "# TYPE hermes_requests_total counter\n");
    for (size_t i = 0; i < m->n_series; i++) {
        series *s = &m->series[i];
        hr_buf_printf(out, "hermes_requests_total{tier=\"%s\",reason=\"", tier_label(s->tier));
        put_label(out, s->reason);
        hr_buf_printf(out, "\",strategy=\"%s\",status=\"%d\"} %llu\n", s->strategy, s->status,
                      (unsigned long long)s->count);
    }
    hr_buf_puts(out, "# HELP hermes_route_decision_seconds Time the router took to decide.\n"
                     "# TYPE hermes_route_decision_seconds histogram\n");
    render_histo(out, "hermes_route_decision_seconds", "", &m->route, route_buckets, N_ROUTE_B);
    hr_buf_puts(out, "# HELP hermes_upstream_latency_seconds Backend time to the first byte of the answer.\n"
                     "# TYPE hermes_upstream_latency_seconds histogram\n");
    for (int t = 0; t < N_TIER_LABELS; t++) {
        if (!m->upstream[t].n) continue;
        char l[32];
        snprintf(l, sizeof l, "tier=\"%s\"", tier_label(t));
        render_histo(out, "hermes_upstream_latency_seconds", l, &m->upstream[t], latency_buckets, N_LAT_B);
    }
    hr_buf_puts(out, "# HELP hermes_request_duration_seconds Whole request, arrival to last byte.\n"
                     "# TYPE hermes_request_duration_seconds histogram\n");
    for (int t = 0; t < N_TIER_LABELS; t++) {
        if (!m->total[t].n) continue;
        char l[32];
        snprintf(l, sizeof l, "tier=\"%s\"", tier_label(t));
        render_histo(out, "hermes_request_duration_seconds", l, &m->total[t], latency_buckets, N_LAT_B);
    }
    hr_buf_puts(out, "# HELP hermes_tokens_total Tokens by tier and direction (in = prompt, out = completion).\n"
                     "# TYPE hermes_tokens_total counter\n");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        hr_buf_printf(out, "hermes_tokens_total{tier=\"%s\",direction=\"in\"} %llu\n", tier_label(t),
                      (unsigned long long)m->tokens_in[t]);
        hr_buf_printf(out, "hermes_tokens_total{tier=\"%s\",direction=\"out\"} %llu\n", tier_label(t),
                      (unsigned long long)m->tokens_out[t]);
    }
    hr_buf_printf(out, "# HELP hermes_tier_fallbacks_total Requests answered by a larger tier because the chosen one "
                       "had no live backend.\n# TYPE hermes_tier_fallbacks_total counter\n"
                       "hermes_tier_fallbacks_total %llu\n",
                  (unsigned long long)m->fallbacks);
    pthread_mutex_unlock(&m->mu);
}

cJSON *hr_metrics_stats(hr_metrics *m, const bool enabled[3]) {
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&m->mu);
    uint64_t total = 0;
    for (int t = 0; t < HR_TIER_MAX; t++) total += m->tier_count[t];
    for (int t = 0; t < HR_TIER_MAX; t++) cJSON_AddNumberToObject(o, hr_tier_name(t), (double)m->tier_count[t]);
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON *ratios = cJSON_AddObjectToObject(o, "ratios");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        char pct[32];
        snprintf(pct, sizeof pct, "%.1f%%", total ? 100.0 * (double)m->tier_count[t] / (double)total : 0.0);
        cJSON_AddStringToObject(ratios, hr_tier_name(t), pct);
    }
    cJSON *tiers = cJSON_AddArrayToObject(o, "tiers_enabled");
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (enabled[t]) cJSON_AddItemToArray(tiers, cJSON_CreateString(hr_tier_name(t)));
    cJSON *reasons = cJSON_AddObjectToObject(o, "reasons");
    for (size_t i = 0; i < m->n_series; i++) {
        series *s = &m->series[i];
        cJSON *r = cJSON_GetObjectItemCaseSensitive(reasons, s->reason);
        if (!r) cJSON_AddNumberToObject(reasons, s->reason, (double)s->count);
        else cJSON_SetNumberValue(r, r->valuedouble + (double)s->count);
    }
    uint64_t forced = 0;
    for (int t = 0; t < N_TIER_LABELS; t++) forced += m->forced[t];
    cJSON_AddNumberToObject(o, "forced", (double)forced);
    cJSON_AddNumberToObject(o, "fallbacks", (double)m->fallbacks);
    cJSON_AddNumberToObject(o, "avg_route_us", m->route_n ? m->route_us_sum / (double)m->route_n : 0);
    cJSON *tok = cJSON_AddObjectToObject(o, "tokens");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        cJSON *x = cJSON_AddObjectToObject(tok, hr_tier_name(t));
        cJSON_AddNumberToObject(x, "in", (double)m->tokens_in[t]);
        cJSON_AddNumberToObject(x, "out", (double)m->tokens_out[t]);
    }
    pthread_mutex_unlock(&m->mu);
    return o;
}
