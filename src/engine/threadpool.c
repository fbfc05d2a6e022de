/* Spin-then-sleep thread pool (see threadpool.h).
 *
 * A job is published by bumping `gen`; workers that are spinning see it at
 * once, sleeping ones are woken through the condvar. Each finished thread
 * increments `done`; the caller spins until done == nth - 1. */
#include "engine/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/buf.h"

#define SPIN_ITERS 20000

typedef struct worker {
    struct hr_pool *pool;
    int ith;
    pthread_t th;
} worker;

struct hr_pool {
    int n;
    worker *ws;
    hr_pool_fn fn;
    void *ud;
    _Atomic unsigned gen;
    _Atomic int done;
    _Atomic int stop;
    _Atomic int sleepers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg) {
    worker *w = arg;
    hr_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        p->fn(p->ud, w->ith, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
    }
}

hr_pool *hr_pool_create(int n) {
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    hr_pool *p = hr_xcalloc(1, sizeof *p);
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ws = hr_xcalloc((size_t)n, sizeof(worker));
    for (int i = 1; i < n; i++) {
        p->ws[i].pool = p;
        p->ws[i].ith = i;
        if (pthread_create(&p->ws[i].th, NULL, worker_main, &p->ws[i]) != 0) {
            p->n = i; /* run with what we got */
            break;
        }
    }
    return p;
}

void hr_pool_free(hr_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->ws[i].th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ws);
    free(p);
}

int hr_pool_size(const hr_pool *p) { return p->n; }

void hr_pool_run(hr_pool *p, hr_pool_fn fn, void *ud) {
    if (p->n == 1) {
        fn(ud, 0, 1);
        return;
    }
    p->fn = fn;
    p->ud = ud;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ud, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1) {
        if (++spins < SPIN_ITERS) cpu_relax();
        else sched_yield();
    }
}
