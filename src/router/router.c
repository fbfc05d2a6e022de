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
    const char *cascade;  /* "cascade", "rules+cascade", ...: the gateway cascades; NULL otherwise */
};

/* "cascade" alone starts every request at the smallest enabled tier; the
 * gateway (gateway/cascade.c) escalates from there. */
static int smallest_decide(void *self, const hr_chat_request *req, bool want_features, hr_route_decision *out) {
    out->tier = HR_TIER_SMALL;
    snprintf(out->reason, sizeof out->reason, "cascade: start at the smallest tier");
    return 0;
}
static const hr_router_strategy strategy_smallest = {"cascade", NULL, smallest_decide, NULL, NULL};

static const hr_router_strategy *strategies[] = {
    &hr_strategy_rules,
    &hr_strategy_classifier,
};

static const char *cascade_names[] = {"cascade", "rules+cascade", "classifier+cascade"};

hr_router *hr_router_create(const hr_config *cfg, char *err, size_t errlen) {
    const char *name = cfg->strategy ? cfg->strategy : "rules";
    const hr_router_strategy *s = NULL;
    const char *cascade = NULL;
    char base[64];
    snprintf(base, sizeof base, "%s", name);
    for (size_t i = 0; i < sizeof cascade_names / sizeof cascade_names[0]; i++)
        if (!strcmp(cascade_names[i], name)) cascade = cascade_names[i];
    if (cascade) {
        char *plus = strchr(base, '+');
        if (plus) *plus = 0;
        else s = &strategy_smallest;
    }
    for (size_t i = 0; !s && i < sizeof strategies / sizeof strategies[0]; i++)
        if (!strcmp(strategies[i]->name, base)) s = strategies[i];
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
    r->cascade = cascade;
    return r;
}

bool hr_router_cascades(const hr_router *r) { return r->cascade != NULL; }

bool hr_router_is_slow(const hr_router *r) { return r->strategy->slow && r->strategy->slow(r->state); }

void hr_router_free(hr_router *r) {
    if (!r) return;
    if (r->strategy->free) r->strategy->free(r->state);
    free(r);
}

const char *hr_router_strategy_name(const hr_router *r) { return r->cascade ? r->cascade : r->strategy->name; }

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
        if (!out->strategy || r->cascade) out->strategy = hr_router_strategy_name(r);
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
