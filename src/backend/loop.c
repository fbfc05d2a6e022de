/* One loop context per event-loop thread: the event_base and a libcurl multi
 * handle driven by it (socket and timer callbacks), so upstream transfers run
 * on the loop without a thread per request. The multi handle keeps the
 * connection cache, so keep-alive connections to upstreams are reused. */
#include <stdlib.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "backend/backend.h"
#include "backend/transport.h"
#include "backend/upstream_internal.h"
#include "core/buf.h"

#define EASY_POOL 64

struct hr_loop {
    struct event_base *base;
    int index;
    CURLM *multi;
    struct event *timer;
    CURL *easy_pool[EASY_POOL]; /* reset handles kept for reuse: curl_easy_init is not cheap */
    int n_easy;
    void *h1;                   /* the native HTTP/1.1 client's pools (transport_h1.c) */
};

void **hr_loop_h1_slot(hr_loop *l) { return &l->h1; }

typedef struct sock_ctx {
    struct event ev; /* re-assigned only when libcurl changes what it waits for */
    short kind;
    hr_loop *loop;
} sock_ctx;

CURL *hr_loop_easy_get(hr_loop *l) { return l->n_easy ? l->easy_pool[--l->n_easy] : curl_easy_init(); }

void hr_loop_easy_put(hr_loop *l, CURL *e) {
    if (l->n_easy < EASY_POOL) {
        curl_easy_reset(e);
        l->easy_pool[l->n_easy++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static void check_done(hr_loop *l) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(l->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        hr_upstream_transfer_done(easy, rc);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    hr_loop *l = arg;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(l->multi, fd, action, &running);
    check_done(l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    hr_loop *l = arg;
    int running;
    curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(l);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    hr_loop *l = userp;
    sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_del(&sc->ev);
            free(sc);
            curl_multi_assign(l->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!sc) {
        sc = hr_xcalloc(1, sizeof *sc);
        sc->loop = l;
        curl_multi_assign(l->multi, s, sc);
    } else if (sc->kind == kind) {
        return 0;
    } else {
        event_del(&sc->ev);
    }
    sc->kind = kind;
    event_assign(&sc->ev, l->base, s, kind, on_socket_event, l);
    event_add(&sc->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    hr_loop *l = userp;
    if (timeout_ms < 0) {
        evtimer_del(l->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(l->timer, &tv);
    return 0;
}

hr_loop *hr_loop_create(struct event_base *base, int index) {
    hr_loop *l = hr_xcalloc(1, sizeof *l);
    l->base = base;
    l->index = index;
    l->multi = curl_multi_init();
    l->timer = evtimer_new(base, on_timer, l);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, 256L);
    return l;
}

void hr_loop_free(hr_loop *l) {
    if (!l) return;
    hr_h1_loop_free(l->h1);
    curl_multi_cleanup(l->multi);
    for (int i = 0; i < l->n_easy; i++) curl_easy_cleanup(l->easy_pool[i]);
    event_free(l->timer);
    free(l);
}

struct event_base *hr_loop_base(hr_loop *l) { return l->base; }
int hr_loop_index(const hr_loop *l) { return l->index; }
void *hr_loop_curl_multi(hr_loop *l) { return l->multi; }
