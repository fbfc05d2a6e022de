/* Placeholder: the rule strategy (being written). Always the default tier. */
#include <stdio.h>

#include "router/router.h"

static void *rules_create(const hr_config *cfg, char *err, size_t errlen) { return (void *)cfg; }

static int rules_decide(void *self, const hr_chat_request *req, bool want_features, hr_route_decision *out) {
    const hr_config *cfg = self;
    out->tier = cfg->rules.default_tier;
    snprintf(out->reason, sizeof out->reason, "default");
    return 0;
}

const hr_router_strategy hr_strategy_rules = {"rules", rules_create, rules_decide, NULL};
