/* The cascade (strategies cascade, rules+cascade, classifier+cascade): the
 * starting tier answers first into a buffering sink, the answer is scored
 * (router/quality.h, optionally with a judge tier's yes/no), and the request
 * moves up to the next enabled tier while score < quality_threshold and fewer
 * than max_cascade escalations were made. The last tier's answer is returned
 * whatever its score. Only the accepted answer reaches the client: a
 * streaming client gets its chunks replayed after scoring (or, with
 * stream_early_accept, the starting tier streams live once the mean
 * log-probability of its first after_tokens tokens clears the bar).
 *
 * A tier that fails (error, no live backend) counts as an attempt with no
 * score and the cascade moves on; when the last tier fails, the best earlier
 * answer is returned if there is one, else the error.
 *
 * Threads: a cascade runs on one loop thread, like any backend call. The
 * stats object is shared by all loops (one mutex). */
#ifndef HR_GATEWAY_CASCADE_H
#define HR_GATEWAY_CASCADE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/config.h"
#include "router/quality.h"

#include "gateway/http.h"
struct hr_gateway;

enum { HR_JUDGE_NONE = 0, HR_JUDGE_YES, HR_JUDGE_NO, HR_JUDGE_FAILED };

typedef struct hr_cascade_attempt {
    int tier;
    int status;                  /* 200, or the HTTP status of the failure */
    double score;                /* the attempt's score (judge blended in); -1 when not scored */
    hr_quality_report quality;   /* the heuristic signals */
    int judge;                   /* HR_JUDGE_* */
    double judge_ms;
    long judge_tokens;           /* prompt + completion tokens the judge used (-1 unknown) */
    long prompt_tokens;          /* -1 unknown */
    long completion_tokens;
    double latency_ms;           /* attempt start to its last byte */
    char model[96];              /* model that answered (from the answer) */
    char error[160];             /* failure message ("" when ok) */
} hr_cascade_attempt;

/* What the cascade did for one request; lives in the gateway's request, is
 * filled by the cascade before it calls the gateway's sink. */
typedef struct hr_cascade_info {
    int n;                        /* attempts made (0: the request was not cascaded) */
    hr_cascade_attempt a[HR_TIER_MAX];
    int final_tier;               /* tier whose answer (or error) was returned */
    double final_score;           /* its score; -1 when not scored (early accept, error) */
    bool early_accept;            /* streamed live from the starting tier */
    int judge_tier;               /* -1 when no judge */
    char path[160];               /* "small:0.42>medium:0.91", "small:early", "small:error>medium:0.80" */
} hr_cascade_info;

typedef struct hr_cascade hr_cascade;

/* Sets up a cascade answering req from tier `start` into out (the gateway's
 * sink: chunk... done, complete, or error, exactly once, as a backend would).
 * Nothing runs until hr_cascade_run(). req, out and info must stay valid until
 * the terminal callback on out, or until hr_cascade_cancel(). */
hr_cascade *hr_cascade_create(struct hr_gateway *gw, hr_loop *loop, int start, hr_chat_request *req, hr_sink *out,
                              hr_cascade_info *info);
/* Starts the first attempt. May call out's terminal callback before it
 * returns (every tier down): the caller must not touch its request after. */
void hr_cascade_run(hr_cascade *c);
/* The client went away: stops every call; no callback on out after this. */
void hr_cascade_cancel(hr_cascade *c);

/* The reporting and stats calls below accept info == NULL (not cascaded):
 * they do nothing / return NULL. */
/* Adds model_used, quality_score, escalation_path, early_accept and the
 * attempts to the response's "hermes" object. */
void hr_cascade_info_json(const hr_cascade_info *info, cJSON *hermes);
/* x-hermes-model-used, x-hermes-quality-score, x-hermes-escalation-path. */
void hr_cascade_info_headers(const hr_cascade_info *info, hr_http_req *req);
/* The attempts as a JSON array (the request log's attempts_json); malloc'd. */
char *hr_cascade_info_attempts_json(const hr_cascade_info *info);

/* ---- stats: escalation rate per tier pair, score histogram, cost ---- */
typedef struct hr_cascade_stats hr_cascade_stats;
hr_cascade_stats *hr_cascade_stats_create(const hr_config *cfg);
void hr_cascade_stats_free(hr_cascade_stats *s);
/* Counts a finished cascade (s may be NULL; an info without a final tier,
 * e.g. the client left, is not counted). */
void hr_cascade_stats_observe(hr_cascade_stats *s, const hr_cascade_info *info);
/* {"requests", "attempts": {tier: n}, "escalations": {"small>medium": {count,
 * rate}}, "accepted": {tier: n}, "early_accepts", "judge": {yes, no, failed},
 * "score_histogram": {"buckets": [0.1, ...], "counts": [...]}, "cost":
 * {unit, cascade, direct, largest, overhead_pct, savings_vs_largest_pct}}. */
cJSON *hr_cascade_stats_json(hr_cascade_stats *s);
/* hermes_cascade_* series in Prometheus text format. */
void hr_cascade_stats_render(hr_cascade_stats *s, hr_buf *out);
/* The cost of one answer on tier with these tokens, in the stats' unit
 * ("usd" when every enabled tier has prices in the config, else relative
 * 8:70:405 per request). Exposed for tests. */
double hr_cascade_cost(const hr_config *cfg, int tier, long prompt_tokens, long completion_tokens, const char **unit);

#endif
