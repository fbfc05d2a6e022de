/* Router: decides which tier answers a request. It never does I/O and costs
 * microseconds. Strategies are a small table of functions, one file each
 * (rules.c, classifier.c, ...), selected by name from the config.
 *
 * Ownership: hr_router_create() copies what it needs from the config; the
 * router is read-only after creation and safe to share between threads.
 * hr_route_decision.features is owned by the decision (free it with
 * hr_route_decision_clear()). */
#ifndef HR_ROUTER_ROUTER_H
#define HR_ROUTER_ROUTER_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/chat.h"
#include "core/config.h"

typedef struct hr_route_decision {
    int tier;                     /* HR_TIER_*, already mapped onto enabled tiers */
    char reason[160];             /* human-readable, e.g. "context over 20K chars" */
    const char *strategy;         /* static name: "rules", "classifier", "override", ... */
    bool forced;                  /* the caller named a tier/alias in `model` */
    double route_us;              /* decision time in microseconds */
    int n_probs;                  /* classifier: probabilities per tier (0 otherwise) */
    float probs[HR_TIER_MAX];
    cJSON *features;              /* optional: the features behind the decision (owned) */
} hr_route_decision;

/* A strategy. create() returns its state or NULL with err filled;
 * decide() fills out (tier may be any HR_TIER_*: the router maps it onto the
 * enabled tiers afterwards) and returns 0, or -1 on an internal failure. */
typedef struct hr_router_strategy {
    const char *name;
    void *(*create)(const hr_config *cfg, char *err, size_t errlen);
    int (*decide)(void *self, const hr_chat_request *req, bool want_features, hr_route_decision *out);
    void (*free)(void *self);
    /* optional: true when decide() costs milliseconds (an embedding model):
     * the gateway then decides off its event loops (gateway/decider.c) */
    bool (*slow)(void *self);
} hr_router_strategy;

extern const hr_router_strategy hr_strategy_rules;
extern const hr_router_strategy hr_strategy_classifier; /* classifier.c */

typedef struct hr_router hr_router;

hr_router *hr_router_create(const hr_config *cfg, char *err, size_t errlen);
void hr_router_free(hr_router *r);
/* The configured strategy: "rules", "classifier", "cascade", "rules+cascade", ... */
const char *hr_router_strategy_name(const hr_router *r);
/* True for the cascade strategies: the decision is the starting tier and the
 * gateway escalates from it while the answer's quality score is below the
 * threshold (gateway/cascade.c). A forced tier is never cascaded. */
bool hr_router_cascades(const hr_router *r);
/* True when a decision may cost milliseconds (see hr_router_strategy.slow). */
bool hr_router_is_slow(const hr_router *r);

/* Decides for req. Honours a forced tier in req->model (reason "user override"),
 * else asks the strategy; maps the result onto the enabled tiers; measures
 * route_us. Returns 0, or -1 when req->model names no tier/alias/"auto"
 * (the gateway answers 404 model_not_found). */
int hr_router_decide(hr_router *r, const hr_chat_request *req, bool want_features, hr_route_decision *out);
void hr_route_decision_clear(hr_route_decision *d);

#endif
