/* Gateway metrics: counters and histograms for Prometheus (/metrics) and the
 * router stats endpoint. Thread-safe (one mutex; an update is a few dozen ns).
 * Label sets are bounded: reasons are reduced to their kind (the text before
 * ':'), and past HR_METRICS_MAX_SERIES new series fold into "other". */
#ifndef HR_GATEWAY_METRICS_H
#define HR_GATEWAY_METRICS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

#define HR_METRICS_MAX_SERIES 512

typedef struct hr_metrics hr_metrics;

typedef struct hr_request_metrics {
    int tier;                 /* -1 when the request never reached a tier */
    const char *strategy;     /* NULL when not routed */
    const char *reason;       /* full reason; reduced to its kind for labels */
    bool forced;
    bool stream;
    int status;               /* HTTP status sent (499 when the client went away) */
    double route_us;          /* < 0 when not routed */
    double upstream_ms;       /* time to the backend's first byte; < 0 if none */
    double total_ms;
    long tokens_in;           /* < 0 unknown */
    long tokens_out;
    bool fallback;            /* answered by another tier than the router chose */
} hr_request_metrics;

hr_metrics *hr_metrics_create(void);
void hr_metrics_free(hr_metrics *m);
void hr_metrics_observe(hr_metrics *m, const hr_request_metrics *r);
/* Appends the Prometheus text exposition format. */
void hr_metrics_render(hr_metrics *m, hr_buf *out);
/* Router stats as in the seed's get_stats: per-tier counts, total, ratios as
 * percentages, plus reasons and decision time. Caller owns the result. */
cJSON *hr_metrics_stats(hr_metrics *m, const bool tiers_enabled[3]);

#endif
