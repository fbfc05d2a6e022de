/* Gateway internals shared by server.c, chat.c, admin.c. */
#ifndef HR_GATEWAY_INTERNAL_H
#define HR_GATEWAY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include "gateway/http.h"

#include "backend/backend.h"
#include "core/buf.h"
#include "core/config.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "router/router.h"
#include "store/store.h"

#define HR_MAX_BACKENDS_PER_TIER 64

typedef struct hr_worker {
    struct hr_gateway *gw;
    int index;
    pthread_t thread;
    struct event_base *base;
    hr_http_server *http;
    hr_loop *loop;
    evutil_socket_t fd;
    _Atomic unsigned rr[HR_TIER_MAX]; /* round-robin cursors */
} hr_worker;

/* The router in use, reference-counted so SIGHUP can swap in a new one
 * (e.g. a retrained classifier model) while requests decide with the old. */
typedef struct hr_router_ref {
    hr_router *router;
    int refs; /* guarded by hr_gateway.router_mu */
} hr_router_ref;

typedef struct hr_decider hr_decider;

struct hr_gateway {
    hr_config *cfg;
    pthread_mutex_t router_mu;
    hr_router_ref *router_cur;
    hr_backend *backends[HR_TIER_MAX][HR_MAX_BACKENDS_PER_TIER];
    int n_backends[HR_TIER_MAX];
    hr_store *store;
    hr_metrics *metrics;
    struct hr_cascade_stats *cascade_stats; /* cascade strategies only (gateway/cascade.h), else NULL */
    hr_worker *workers;
    int n_workers;
    int port;
    _Atomic unsigned long long next_id;
    _Atomic bool stopping;
    _Atomic unsigned rr[HR_TIER_MAX];
    hr_decider *decider; /* decisions off the loops for slow strategies (decider.c) */
};

/* ---- responses (respond.c) ---- */
/* Sends a JSON body with status; takes ownership of body. */
void hr_send_json(hr_http_req *req, int status, cJSON *body);
/* Sends OpenAI's error shape {"error": {message, type, param, code}}. */
void hr_send_error(hr_http_req *req, int status, const char *type, const char *code, const char *param,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
cJSON *hr_error_json(const char *type, const char *code, const char *param, const char *message);
const char *hr_status_text(int status);
/* Header value made safe: non-ASCII and control bytes percent-encoded. */
void hr_header_escape(const char *in, char *out, size_t cap);
/* Checks the bearer token when keys are configured; sends 401 and returns false otherwise. */
bool hr_check_auth(hr_gateway *gw, hr_http_req *req);

/* ---- backends (dispatch in chat.c) ---- */
/* Picks a live backend for tier (round robin), skipping `avoid`. NULL if none. */
hr_backend *hr_gateway_pick(hr_gateway *gw, int tier, const hr_backend *avoid);

/* ---- decisions off the loops (decider.c) ---- */
/* Called on the submitting loop with hr_router_decide's result, or with
 * HR_DECIDE_CANCELLED from hr_decider_free when the loops have stopped. */
typedef void (*hr_decided_fn)(void *arg, int routed, bool cascades);
#define HR_DECIDE_CANCELLED (-2)
/* Threads start with the first submitted decision. */
hr_decider *hr_decider_create(void);
/* Stops the threads (decisions being made are finished); every decision not
 * yet delivered, queued or made, gets HR_DECIDE_CANCELLED. Call after the
 * loops stopped, while their bases and the router still exist. */
void hr_decider_free(hr_decider *dc);
/* Decides chat with ref's router on a decider thread into *d, then calls done
 * on w's loop and releases ref. chat and d must live until then. */
typedef struct hr_decide_job hr_decide_job;
hr_decide_job *hr_decider_submit(hr_decider *dc, hr_worker *w, hr_router_ref *ref, const hr_chat_request *chat,
                                 bool want_features, hr_route_decision *d, hr_decided_fn done, void *arg);
/* The requester left: the decision is skipped if not begun (done still comes,
 * with HR_DECIDE_CANCELLED). Only from the submitting loop, before done. */
void hr_decider_cancel(hr_decide_job *j);

/* ---- router (server.c) ---- */
/* The current router, held until hr_gateway_router_release(). */
hr_router_ref *hr_gateway_router_acquire(hr_gateway *gw);
void hr_gateway_router_release(hr_gateway *gw, hr_router_ref *ref);
/* Builds a new router from the config (reading the classifier model again)
 * and makes it current; 0, or -1 with err (the old router stays). */
int hr_gateway_router_reload(hr_gateway *gw, char *err, size_t errlen);

/* ---- handlers ---- */
void hr_handle_chat(hr_worker *w, hr_http_req *req);
void hr_handle_health(hr_worker *w, hr_http_req *req);
void hr_handle_ready(hr_worker *w, hr_http_req *req);
void hr_handle_models(hr_worker *w, hr_http_req *req);
void hr_handle_metrics(hr_worker *w, hr_http_req *req);
void hr_handle_stats(hr_worker *w, hr_http_req *req);
void hr_handle_route(hr_worker *w, hr_http_req *req);
void hr_handle_ui(hr_worker *w, hr_http_req *req, const char *path);
/* dashboard.c: /v1/router/requests, /v1/router/timeseries, /v1/router/cost */
void hr_handle_dash_requests(hr_worker *w, hr_http_req *req);
void hr_handle_dash_timeseries(hr_worker *w, hr_http_req *req);
void hr_handle_dash_cost(hr_worker *w, hr_http_req *req);

/* Reads the request body (contiguous, NUL-terminated copy) within the
 * configured limit; on failure sends 400/413 and returns NULL. Caller frees. */
char *hr_read_body(hr_gateway *gw, hr_http_req *req, size_t *len);

#endif
