/* Spin-then-sleep thread pool with optional participation (threadpool.h).
 *
 * `state` packs the job generation (high 32 bits), a CLOSED flag and the
 * number of workers inside the job (low 31 bits). A worker joins with a CAS
 * that only succeeds while the generation is the one it saw and the job is
 * open; the caller closes the job with a CAS that only succeeds when no
 * worker is inside. After that, late workers see CLOSED and skip the job. */
#include "engine/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"

#define SPIN_ITERS 20000
#define CLOSED (1ull << 31)
#define ACTIVE_MASK (CLOSED - 1)

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
    _Atomic uint64_t state;
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

static inline uint32_t gen_of(uint64_t s) { return (uint32_t)(s >> 32); }

static void *worker_main(void *arg) {
    worker *w = arg;
    hr_pool *p = w->pool;
    uint32_t seen = gen_of(atomic_load(&p->state));
    for (;;) {
        uint64_t s;
        int spins = 0;
        while (gen_of(s = atomic_load_explicit(&p->state, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (gen_of(atomic_load(&p->state)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen_of(s);
        /* join unless the job is already closed or replaced */
        bool joined = false;
        while (gen_of(s) == seen && !(s & CLOSED)) {
            if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
                joined = true;
                break;
            }
        }
        if (!joined) continue;
        p->fn(p->ud, w->ith, p->n);
        atomic_fetch_sub_explicit(&p->state, 1, memory_order_release);
    }
}

hr_pool *hr_pool_create(int n) {
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    hr_pool *p = hr_xcalloc(1, sizeof *p);
    p->n = n;
    atomic_store(&p->state, CLOSED);
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
    /* open a new generation (the previous job is closed with no one inside) */
    uint64_t s = atomic_load(&p->state);
    atomic_store(&p->state, ((uint64_t)(gen_of(s) + 1) << 32)); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ud, 0, p->n);
    /* close: succeeds only when no worker is inside */
    int spins = 0;
    for (;;) {
        s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (!(s & ACTIVE_MASK) && atomic_compare_exchange_weak(&p->state, &s, s | CLOSED)) break;
        if (++spins < SPIN_ITERS) cpu_relax();
        else sched_yield();
    }
}
