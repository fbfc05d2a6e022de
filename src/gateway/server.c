/* Server: threads, listening sockets, request dispatch. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/thread.h>
#include <netdb.h>

#include "backend/embedded.h"
#include "core/log.h"
#include "gateway/cascade.h"
#include "gateway/internal.h"

static void dispatch(hr_http_req *req, void *arg) {
    hr_worker *w = arg;
    const char *path = hr_http_req_path(req);
    hr_http_method cmd = hr_http_req_method(req);
    bool get = cmd == HR_HTTP_GET || cmd == HR_HTTP_HEAD;
    bool post = cmd == HR_HTTP_POST;

    if (!strcmp(path, "/v1/chat/completions") || !strcmp(path, "/chat/completions")) {
        if (!post) goto method;
        hr_handle_chat(w, req);
    } else if (!strcmp(path, "/health") || !strcmp(path, "/healthz")) {
        if (!get) goto method;
        hr_handle_health(w, req);
    } else if (!strcmp(path, "/ready") || !strcmp(path, "/readyz")) {
        if (!get) goto method;
        hr_handle_ready(w, req);
    } else if (!strcmp(path, "/metrics")) {
        if (!get) goto method;
        hr_handle_metrics(w, req);
    } else if (!strcmp(path, "/v1/models") || !strcmp(path, "/models")) {
        if (!get) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_models(w, req);
    } else if (!strcmp(path, "/v1/router/stats")) {
        if (!get) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_stats(w, req);
    } else if (!strcmp(path, "/v1/router/route")) {
        if (!post) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_route(w, req);
    } else if (!strcmp(path, "/v1/router/requests")) {
        if (!get) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_dash_requests(w, req);
    } else if (!strcmp(path, "/v1/router/timeseries")) {
        if (!get) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_dash_timeseries(w, req);
    } else if (!strcmp(path, "/v1/router/cost")) {
        if (!get) goto method;
        if (hr_check_auth(w->gw, req)) hr_handle_dash_cost(w, req);
    } else if (!strncmp(path, "/v1/", 4)) {
        hr_send_error(req, 404, "invalid_request_error", "unknown_url", NULL, "Unknown request URL: %.255s", path);
    } else if (get && w->gw->cfg->ui) {
        hr_handle_ui(w, req, path);
    } else {
        hr_send_error(req, 404, "invalid_request_error", "unknown_url", NULL, "Unknown request URL: %.255s", path);
    }
    return;
method:
    hr_send_error(req, 405, "invalid_request_error", "method_not_allowed", NULL, "Method not allowed for %.255s", path);
}

static evutil_socket_t listen_socket(const char *host, int port, char *err, size_t errlen) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port(evutil_socket_t fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

static int worker_init(hr_gateway *gw, hr_worker *w, int index, char *err, size_t errlen) {
    w->gw = gw;
    w->index = index;
    w->fd = listen_socket(gw->cfg->host, gw->port, err, errlen);
    if (w->fd < 0) return -1;
    if (gw->port == 0) gw->port = bound_port(w->fd);
    w->base = event_base_new();
    w->loop = hr_loop_create(w->base, index);
    /* Bodies up to the limit are read; a body past it gets our JSON error
     * (400 request_too_large). The server itself stops at twice the limit
     * (+1 MiB, 413) so a client cannot make us buffer without bound. */
    hr_http_limits lim = {
        .max_head = 64 * 1024,
        .max_body = gw->cfg->max_body_bytes * 2 + (1u << 20),
        .timeout_s = 600,
    };
    w->http = hr_http_server_create(w->base, w->fd, &lim, dispatch, w, err, errlen);
    if (!w->http) {
        close(w->fd);
        return -1;
    }
    return 0;
}

static void worker_cleanup(hr_worker *w) {
    hr_http_server_free(w->http); /* usually done already, before the backends (hr_gateway_free) */
    w->http = NULL;
    hr_loop_free(w->loop);
    if (w->base) event_base_free(w->base);
}

static int build_backends(hr_gateway *gw, char *err, size_t errlen) {
    for (int t = 0; t < HR_TIER_MAX; t++) {
        hr_tier_config *tc = &gw->cfg->tiers[t];
        if (!tc->enabled) continue;
        for (size_t i = 0; i < tc->n_backends && i < HR_MAX_BACKENDS_PER_TIER; i++) {
            hr_backend_config *bc = &tc->backends[i];
            hr_backend *b = NULL;
            if (bc->type == HR_BACKEND_OPENAI) b = hr_upstream_create(gw->cfg, bc, t, (int)i);
            else if (bc->type == HR_BACKEND_EMBEDDED && !(b = hr_embedded_create(gw->cfg, bc, t, (int)i, err, errlen)))
                return -1;
            if (b) gw->backends[t][gw->n_backends[t]++] = b;
        }
    }
    return 0;
}

hr_gateway *hr_gateway_create(hr_config *cfg, char *err, size_t errlen) {
    hr_gateway *gw = hr_xcalloc(1, sizeof *gw);
    gw->cfg = cfg;
    gw->port = cfg->port;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    pthread_mutex_init(&gw->router_mu, NULL);
    hr_router *router = hr_router_create(cfg, err, errlen);
    if (!router) goto fail;
    gw->router_cur = hr_xcalloc(1, sizeof *gw->router_cur);
    gw->router_cur->router = router;
    if (build_backends(gw, err, errlen) < 0) goto fail;
    gw->decider = hr_decider_create();
    gw->metrics = hr_metrics_create();
    if (hr_router_cascades(router)) gw->cascade_stats = hr_cascade_stats_create(cfg);
    if (cfg->log.enabled) {
        gw->store = hr_store_open(&cfg->log, err, errlen);
        if (!gw->store) goto fail;
    }
    gw->n_workers = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (gw->n_workers < 1) gw->n_workers = 1;
    if (gw->n_workers > 64) gw->n_workers = 64;
    gw->workers = hr_xcalloc((size_t)gw->n_workers, sizeof *gw->workers);
    for (int i = 0; i < gw->n_workers; i++)
        if (worker_init(gw, &gw->workers[i], i, err, errlen) < 0) goto fail;
    return gw;
fail:
    hr_gateway_free(gw);
    return NULL;
}

static void *worker_main(void *arg) {
    hr_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

hr_router_ref *hr_gateway_router_acquire(hr_gateway *gw) {
    pthread_mutex_lock(&gw->router_mu);
    hr_router_ref *ref = gw->router_cur;
    ref->refs++;
    pthread_mutex_unlock(&gw->router_mu);
    return ref;
}

void hr_gateway_router_release(hr_gateway *gw, hr_router_ref *ref) {
    pthread_mutex_lock(&gw->router_mu);
    bool last = --ref->refs == 0 && ref != gw->router_cur;
    pthread_mutex_unlock(&gw->router_mu);
    if (last) { /* retired by a reload and no request holds it any more */
        hr_router_free(ref->router);
        free(ref);
    }
}

int hr_gateway_router_reload(hr_gateway *gw, char *err, size_t errlen) {
    hr_router *r = hr_router_create(gw->cfg, err, errlen);
    if (!r) return -1;
    hr_router_ref *ref = hr_xcalloc(1, sizeof *ref);
    ref->router = r;
    pthread_mutex_lock(&gw->router_mu);
    hr_router_ref *old = gw->router_cur;
    gw->router_cur = ref;
    bool unused = old->refs == 0;
    pthread_mutex_unlock(&gw->router_mu);
    if (unused) {
        hr_router_free(old->router);
        free(old);
    }
    return 0;
}

/* SIGHUP reloads the router (a retrained classifier model is read again);
 * requests in flight finish with the router they started with. */
static void on_sighup(evutil_socket_t sig, short what, void *arg) {
    hr_gateway *gw = arg;
    char err[512];
    if (hr_gateway_router_reload(gw, err, sizeof err) < 0) hr_error("SIGHUP: router not reloaded: %s", err);
    else hr_info("SIGHUP: router reloaded (%s)", gw->cfg->strategy);
}

/* SIGINT/SIGTERM are delivered as events on the first loop (libevent turns
 * them into ordinary callbacks), which then stops every loop. */
static void on_signal(evutil_socket_t sig, short what, void *arg) {
    hr_gateway *gw = arg;
    hr_info("signal %d: stopping", (int)sig);
    hr_gateway_stop(gw);
}

int hr_gateway_run(hr_gateway *gw) {
    struct event *sigint = evsignal_new(gw->workers[0].base, SIGINT, on_signal, gw);
    struct event *sigterm = evsignal_new(gw->workers[0].base, SIGTERM, on_signal, gw);
    struct event *sighup = evsignal_new(gw->workers[0].base, SIGHUP, on_sighup, gw);
    event_add(sighup, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    for (int i = 1; i < gw->n_workers; i++) pthread_create(&gw->workers[i].thread, NULL, worker_main, &gw->workers[i]);
    worker_main(&gw->workers[0]);
    for (int i = 1; i < gw->n_workers; i++) {
        event_base_loopbreak(gw->workers[i].base);
        pthread_join(gw->workers[i].thread, NULL);
    }
    event_free(sigint);
    event_free(sigterm);
    event_free(sighup);
    return 0;
}

void hr_gateway_stop(hr_gateway *gw) {
    atomic_store(&gw->stopping, true);
    for (int i = 0; i < gw->n_workers; i++) event_base_loopbreak(gw->workers[i].base);
}

void hr_gateway_free(hr_gateway *gw) {
    if (!gw) return;
    /* connections first: requests still open are cancelled (their backend
     * calls too) while the backends exist */
    for (int i = 0; gw->workers && i < gw->n_workers; i++) {
        hr_http_server_free(gw->workers[i].http);
        gw->workers[i].http = NULL;
    }
    hr_decider_free(gw->decider); /* decisions in flight: their requests were just cancelled */
    /* backends next: an embedded engine's scheduler thread may still wake a
     * loop's event until it is stopped, so the loops' bases go after it */
    for (int t = 0; t < HR_TIER_MAX; t++)
        for (int i = 0; i < gw->n_backends[t]; i++) gw->backends[t][i]->vt->free(gw->backends[t][i]);
    for (int i = 0; gw->workers && i < gw->n_workers; i++) worker_cleanup(&gw->workers[i]);
    free(gw->workers);
    hr_store_close(gw->store);
    hr_metrics_free(gw->metrics);
    hr_cascade_stats_free(gw->cascade_stats);
    if (gw->router_cur) hr_router_free(gw->router_cur->router);
    free(gw->router_cur);
    pthread_mutex_destroy(&gw->router_mu);
    hr_config_free(gw->cfg);
    free(gw);
}

int hr_gateway_port(const hr_gateway *gw) { return gw->port; }
const hr_config *hr_gateway_config(const hr_gateway *gw) { return gw->cfg; }
