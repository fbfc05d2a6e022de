/* Routing decisions off the event loops, for strategies that cost
 * milliseconds (a classifier with an embedding model runs a BERT pass per
 * request): a small pool of threads decides and hands the result back to the
 * submitting loop through an event, so the loop keeps serving meanwhile. */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/buf.h"
#include "gateway/internal.h"

#define DECIDER_MAX_THREADS 8

struct hr_decide_job {
    struct hr_decide_job *next;            /* queue */
    struct hr_decide_job *o_prev, *o_next; /* outstanding: submitted, not yet delivered */
    hr_gateway *gw;
    hr_router_ref *ref; /* held until the result is delivered */
    const hr_chat_request *chat;
    bool want_features;
    hr_route_decision *d;
    int routed;
    bool cascades;
    struct event *ev; /* on the submitting loop */
    hr_decided_fn done;
    void *arg;
    atomic_bool cancelled; /* the requester left: skip the work, still deliver */
};
typedef struct hr_decide_job decide_job;

struct hr_decider {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    decide_job *head, *tail;
    decide_job *outstanding;
    bool stop;
    int n_threads;
    pthread_t threads[DECIDER_MAX_THREADS];
};

static void *decider_main(void *arg) {
    hr_decider *dc = arg;
    for (;;) {
        pthread_mutex_lock(&dc->mu);
        while (!dc->head && !dc->stop) pthread_cond_wait(&dc->cv, &dc->mu);
        decide_job *j = dc->head;
        if (dc->stop) { /* what is still queued is cancelled by hr_decider_free */
            pthread_mutex_unlock(&dc->mu);
            return NULL;
        }
        dc->head = j->next;
        if (!dc->head) dc->tail = NULL;
        pthread_mutex_unlock(&dc->mu);
        j->routed = atomic_load(&j->cancelled) ? HR_DECIDE_CANCELLED
                                               : hr_router_decide(j->ref->router, j->chat, j->want_features, j->d);
        j->cascades = hr_router_cascades(j->ref->router);
        event_active(j->ev, EV_READ, 0); /* the loop's base is thread-safe (evthread_use_pthreads) */
    }
}

static void unlink_outstanding(hr_decider *dc, decide_job *j) {
    pthread_mutex_lock(&dc->mu);
    if (j->o_prev) j->o_prev->o_next = j->o_next;
    else dc->outstanding = j->o_next;
    if (j->o_next) j->o_next->o_prev = j->o_prev;
    pthread_mutex_unlock(&dc->mu);
}

static void deliver(decide_job *j, int routed) {
    event_free(j->ev);
    hr_gateway_router_release(j->gw, j->ref);
    j->done(j->arg, routed, j->cascades);
    free(j);
}

/* On the submitting loop. */
static void delivered(evutil_socket_t fd, short what, void *arg) {
    decide_job *j = arg;
    unlink_outstanding(j->gw->decider, j);
    deliver(j, j->routed);
}

/* The threads start with the first decision (most setups never need them:
 * only a slow strategy, maybe one a reload brings, submits). Caller holds mu. */
static void start_threads(hr_decider *dc) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    int want = nc < 1 ? 1 : nc > DECIDER_MAX_THREADS ? DECIDER_MAX_THREADS : (int)nc;
    while (dc->n_threads < want && pthread_create(&dc->threads[dc->n_threads], NULL, decider_main, dc) == 0)
        dc->n_threads++;
}

hr_decider *hr_decider_create(void) {
    hr_decider *dc = hr_xcalloc(1, sizeof *dc);
    pthread_mutex_init(&dc->mu, NULL);
    pthread_cond_init(&dc->cv, NULL);
    return dc;
}

void hr_decider_free(hr_decider *dc) {
    if (!dc) return;
    pthread_mutex_lock(&dc->mu);
    dc->stop = true;
    pthread_cond_broadcast(&dc->cv);
    pthread_mutex_unlock(&dc->mu);
    for (int i = 0; i < dc->n_threads; i++) pthread_join(dc->threads[i], NULL);
    /* queued, or decided but not delivered (the loops have stopped): tell their owners */
    while (dc->outstanding) {
        decide_job *j = dc->outstanding;
        dc->outstanding = j->o_next;
        deliver(j, HR_DECIDE_CANCELLED);
    }
    pthread_mutex_destroy(&dc->mu);
    pthread_cond_destroy(&dc->cv);
    free(dc);
}

void hr_decider_cancel(hr_decide_job *j) { atomic_store(&j->cancelled, true); }

hr_decide_job *hr_decider_submit(hr_decider *dc, hr_worker *w, hr_router_ref *ref, const hr_chat_request *chat,
                                 bool want_features, hr_route_decision *d, hr_decided_fn done, void *arg) {
    decide_job *j = hr_xcalloc(1, sizeof *j);
    j->gw = w->gw;
    j->ref = ref;
    j->chat = chat;
    j->want_features = want_features;
    j->d = d;
    j->done = done;
    j->arg = arg;
    j->ev = event_new(w->base, -1, 0, delivered, j);
    pthread_mutex_lock(&dc->mu);
    if (!dc->n_threads) start_threads(dc);
    j->o_next = dc->outstanding;
    if (dc->outstanding) dc->outstanding->o_prev = j;
    dc->outstanding = j;
    bool queued = dc->n_threads > 0;
    if (queued) {
        if (dc->tail) dc->tail->next = j;
        else dc->head = j;
        dc->tail = j;
        pthread_cond_signal(&dc->cv);
    }
    pthread_mutex_unlock(&dc->mu);
    if (!queued) { /* no thread to be had: decide here, delivered from the loop as usual */
        j->routed = hr_router_decide(ref->router, chat, want_features, d);
        j->cascades = hr_router_cascades(ref->router);
        event_active(j->ev, EV_READ, 0);
    }
    return j;
}
