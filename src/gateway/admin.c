/* Admin and discovery routes: /health, /ready, /metrics, /v1/models,
 * /v1/router/stats, /v1/router/route (dry run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "backend/embedded.h"
#include "core/clock.h"
#include "gateway/cascade.h"
#include "gateway/internal.h"

void hr_handle_health(hr_worker *w, hr_http_req *req) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    hr_send_json(req, 200, o);
}

/* ---- /ready: probe every backend, answer when all have replied ---- */

typedef struct ready_probe {
    struct ready_ctx *ctx;
    hr_backend *b;
    bool ok;
} ready_probe;

typedef struct ready_ctx {
    hr_worker *w;
    hr_http_req *req;
    int pending;
    int n;
    ready_probe probes[HR_TIER_MAX * HR_MAX_BACKENDS_PER_TIER];
} ready_ctx;

static void ready_answer(ready_ctx *c) {
    hr_gateway *gw = c->w->gw;
    cJSON *o = cJSON_CreateObject();
    cJSON *tiers = cJSON_AddObjectToObject(o, "tiers");
    bool all = true;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!gw->cfg->tiers[t].enabled) continue;
        cJSON *to = cJSON_AddObjectToObject(tiers, hr_tier_name(t));
        cJSON *arr = cJSON_AddArrayToObject(to, "backends");
        int live = 0;
        for (int i = 0; i < c->n; i++) {
            if (c->probes[i].b->tier != t) continue;
            cJSON *bo = cJSON_CreateObject();
            cJSON_AddStringToObject(bo, "backend", c->probes[i].b->label);
            cJSON_AddBoolToObject(bo, "reachable", c->probes[i].ok);
            cJSON_AddItemToArray(arr, bo);
            live += c->probes[i].ok;
        }
        cJSON_AddNumberToObject(to, "reachable", live);
        if (!live) all = false;
    }
    cJSON_AddBoolToObject(o, "ready", all);
    hr_send_json(c->req, all ? 200 : 503, o);
    free(c);
}

static void ready_probe_done(void *ud, bool ok) {
    ready_probe *p = ud;
    ready_ctx *c = p->ctx;
    p->ok = ok;
    if (ok) atomic_store(&p->b->down_until_ms, 0); /* reachable again */
    if (--c->pending == 0) ready_answer(c);
}

void hr_handle_ready(hr_worker *w, hr_http_req *req) {
    hr_gateway *gw = w->gw;
    ready_ctx *c = hr_xcalloc(1, sizeof *c);
    c->w = w;
    c->req = req;
    for (int t = 0; t < HR_TIER_MAX; t++)
        for (int i = 0; i < gw->n_backends[t]; i++) c->probes[c->n++] = (ready_probe){c, gw->backends[t][i], false};
    if (c->n == 0) {
        ready_answer(c);
        return;
    }
    c->pending = c->n + 1; /* +1 so a synchronous completion cannot answer early */
    for (int i = 0; i < c->n; i++) {
        hr_backend *b = c->probes[i].b;
        if (b->cfg->type == HR_BACKEND_OPENAI) hr_upstream_probe(b, w->loop, 2.0, ready_probe_done, &c->probes[i]);
        else ready_probe_done(&c->probes[i], true);
    }
    if (--c->pending == 0) ready_answer(c);
}

/* ---- /v1/models ---- */

static void add_model(cJSON *arr, const char *id, const char *tier, int64_t created) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "hermes-router");
    if (tier) cJSON_AddStringToObject(m, "tier", tier);
    cJSON_AddItemToArray(arr, m);
}

void hr_handle_models(hr_worker *w, hr_http_req *req) {
    const hr_config *cfg = w->gw->cfg;
    int64_t created = (int64_t)time(NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    add_model(data, "auto", NULL, created);
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!cfg->tiers[t].enabled) continue;
        add_model(data, hr_tier_name(t), hr_tier_name(t), created);
        for (size_t i = 0; i < cfg->tiers[t].n_aliases; i++)
            add_model(data, cfg->tiers[t].aliases[i], hr_tier_name(t), created);
    }
    hr_send_json(req, 200, o);
}

/* ---- /metrics, /v1/router/stats ---- */

void hr_handle_metrics(hr_worker *w, hr_http_req *req) {
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_metrics_render(w->gw->metrics, &b);
    if (w->gw->cascade_stats) hr_cascade_stats_render(w->gw->cascade_stats, &b);
    hr_gateway *gw = w->gw;
    int64_t now = hr_unix_ms();
    hr_buf_puts(&b, "# HELP hermes_backend_up Whether a backend is currently considered live (1) or marked down.\n"
                    "# TYPE hermes_backend_up gauge\n");
    for (int t = 0; t < HR_TIER_MAX; t++)
        for (int i = 0; i < gw->n_backends[t]; i++)
            hr_buf_printf(&b, "hermes_backend_up{tier=\"%s\",backend=\"%d\"} %d\n", hr_tier_name(t), i,
                          hr_backend_is_live(gw->backends[t][i], now) ? 1 : 0);
    hr_embedded_metrics_render(&b); /* hermes_engine_*: embedded engines, if any */
    if (gw->store)
        hr_buf_printf(&b, "# HELP hermes_log_rows_dropped_total Request-log rows dropped because the writer fell behind.\n"
                          "# TYPE hermes_log_rows_dropped_total counter\nhermes_log_rows_dropped_total %llu\n",
                      (unsigned long long)hr_store_dropped(gw->store));
    hr_http_add_header(req, "Content-Type", "text/plain; version=0.0.4");
    size_t len = b.len;
    hr_http_send_take(req, 200, hr_buf_steal(&b), len);
}

void hr_handle_stats(hr_worker *w, hr_http_req *req) {
    bool enabled[HR_TIER_MAX];
    for (int t = 0; t < HR_TIER_MAX; t++) enabled[t] = w->gw->cfg->tiers[t].enabled;
    cJSON *o = hr_metrics_stats(w->gw->metrics, enabled);
    hr_router_ref *router = hr_gateway_router_acquire(w->gw);
    cJSON_AddStringToObject(o, "strategy", hr_router_strategy_name(router->router));
    hr_gateway_router_release(w->gw, router);
    if (w->gw->cascade_stats) cJSON_AddItemToObject(o, "cascade", hr_cascade_stats_json(w->gw->cascade_stats));
    hr_send_json(req, 200, o);
}

/* ---- /v1/router/route: the decision without generation ---- */

/* Answers with a decision (d's features move into the answer). */
static void route_reply(hr_http_req *req, const hr_chat_request *chat, hr_route_decision *d, int routed) {
    if (routed < 0) {
        hr_send_error(req, 404, "invalid_request_error", "model_not_found", "model",
                      "The model '%.128s' does not exist", chat->model);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tier", hr_tier_name(d->tier));
    cJSON_AddStringToObject(o, "reason", d->reason);
    cJSON_AddStringToObject(o, "strategy", d->strategy ? d->strategy : "");
    cJSON_AddBoolToObject(o, "forced", d->forced);
    cJSON_AddNumberToObject(o, "route_us", d->route_us);
    if (d->n_probs > 0) {
        cJSON *p = cJSON_AddObjectToObject(o, "probabilities");
        for (int t = 0; t < d->n_probs && t < HR_TIER_MAX; t++)
            cJSON_AddNumberToObject(p, hr_tier_name(t), d->probs[t]);
    }
    if (d->features) {
        cJSON_AddItemToObject(o, "features", d->features);
        d->features = NULL;
    }
    hr_send_json(req, 200, o);
}

/* A dry run decided off the loop (a slow strategy). */
typedef struct route_job {
    hr_http_req *req; /* NULL once the client left */
    hr_decide_job *djob;
    hr_chat_request chat;
    hr_route_decision d;
} route_job;

static void route_client_gone(hr_http_req *req, void *arg) {
    route_job *j = arg;
    j->req = NULL;
    hr_decider_cancel(j->djob);
}

static void route_decided(void *arg, int routed, bool cascades) {
    route_job *j = arg;
    if (j->req) {
        hr_http_req_on_close(j->req, NULL, NULL);
        if (routed == HR_DECIDE_CANCELLED)
            hr_send_error(j->req, 503, "server_error", "shutting_down", NULL, "the gateway is stopping");
        else route_reply(j->req, &j->chat, &j->d, routed);
    }
    hr_route_decision_clear(&j->d);
    hr_chat_request_free(&j->chat);
    free(j);
}

void hr_handle_route(hr_worker *w, hr_http_req *req) {
    size_t len;
    char *body = hr_read_body(w->gw, req, &len);
    if (!body) return;
    route_job *j = hr_xcalloc(1, sizeof *j);
    hr_request_error err;
    int rc = hr_chat_request_parse(body, len, &j->chat, &err);
    free(body);
    if (rc < 0) {
        hr_send_error(req, 400, "invalid_request_error", NULL, err.param, "%s", err.message);
        free(j);
        return;
    }
    hr_router_ref *router = hr_gateway_router_acquire(w->gw);
    if (hr_router_is_slow(router->router)) {
        j->req = req;
        hr_http_req_on_close(req, route_client_gone, j);
        j->djob = hr_decider_submit(w->gw->decider, w, router, &j->chat, true, &j->d, route_decided, j);
        return;
    }
    int routed = hr_router_decide(router->router, &j->chat, true, &j->d);
    hr_gateway_router_release(w->gw, router);
    route_reply(req, &j->chat, &j->d, routed);
    hr_route_decision_clear(&j->d);
    hr_chat_request_free(&j->chat);
    free(j);
}
