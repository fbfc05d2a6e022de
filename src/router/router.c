#include "router/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"

struct hr_router {
    const hr_config *cfg; /* borrowed: outlives the router */
    const hr_router_strategy *strategy;
    void *state;
};

static const hr_router_strategy *strategies[] = {
    &hr_strategy_rules,
    &hr_strategy_classifier,
};

hr_router *hr_router_create(const hr_config *cfg, char *err, size_t errlen) {
    const char *name = cfg->strategy ? cfg->strategy : "rules";
    const hr_router_strategy *s = NULL;
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++)
        if (!strcmp(strategies[i]->name, name)) s = strategies[i];
    if (!s) {
        snprintf(err, errlen, "router strategy '%s' is not available", name);
        return NULL;
    }
    void *state = s->create ? s->create(cfg, err, errlen) : NULL;
    if (s->create && !state) return NULL;
    hr_router *r = hr_xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->strategy = s;
    r->state = state;
    return r;
}

void hr_router_free(hr_router *r) {
    if (!r) return;
    if (r->strategy->free) r->strategy->free(r->state);
    free(r);
}

const char *hr_router_strategy_name(const hr_router *r) { return r->strategy->name; }

int hr_router_decide(hr_router *r, const hr_chat_request *req, bool want_features, hr_route_decision *out) {
    uint64_t t0 = hr_now_ns();
    memset(out, 0, sizeof *out);
    const char *model = req->model ? req->model : "auto";
    if (strcmp(model, "auto") != 0) {
        int t = hr_config_tier_for_model(r->cfg, model);
        if (t < 0) return -1;
        out->tier = t;
        out->forced = true;
        out->strategy = "override";
        snprintf(out->reason, sizeof out->reason, "user override");
    } else {
        if (r->strategy->decide(r->state, req, want_features, out) < 0) {
            out->tier = r->cfg->rules.default_tier;
            snprintf(out->reason, sizeof out->reason, "router error: default tier");
        }
        if (!out->strategy) out->strategy = r->strategy->name;
        out->tier = hr_config_map_tier(r->cfg, out->tier);
    }
    out->route_us = (double)(hr_now_ns() - t0) / 1000.0;
    return 0;
}

void hr_route_decision_clear(hr_route_decision *d) {
    if (!d) return;
    cJSON_Delete(d->features);
    d->features = NULL;
}
