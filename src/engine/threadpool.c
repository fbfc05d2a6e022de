/* Spin-then-futex thread pool with optional participation (threadpool.h).
 *
 * `state` packs the job generation (high 32 bits), a CLOSED flag and the
 * number of workers inside the job (low 31 bits). A worker joins with a CAS
 * that only succeeds while the generation is the one it saw and the job is
 * open; the caller closes the job with a CAS that only succeeds when no
 * worker is inside. After that, late workers see CLOSED and skip the job.
 *
 * `gen` mirrors the generation as a 32-bit futex word. Waiting workers spin
 * on it for at most spin_ns of wall time, then sleep in FUTEX_WAIT; the
 * caller issues FUTEX_WAKE only when someone sleeps (a seq_cst store of gen
 * then a load of sleepers, against the worker's increment of sleepers then
 * its load of gen: one of the two sees the other). */
#include "engine/threadpool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

#define CLOSED (1ull << 31)
#define ACTIVE_MASK (CLOSED - 1)
#define CLOSE_SPINS 20000
#define SPIN_US_DEFAULT 20
#define SPIN_US_MAX 100000

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
    _Atomic uint32_t gen;
    _Atomic int stop;
    _Atomic int sleepers;
    uint64_t spin_ns;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint32_t gen_of(uint64_t s) { return (uint32_t)(s >> 32); }

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waits until gen moves past `seen` (or stop): spins up to spin_ns, then sleeps. */
static void wait_for_job(hr_pool *p, uint32_t seen) {
    uint64_t t0 = 0;
    for (unsigned i = 0; p->spin_ns; i++) {
        if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->stop, memory_order_relaxed))
            return;
        cpu_relax();
        if ((i & 31) == 31) {
            uint64_t now = hr_now_ns();
            if (!t0) t0 = now;
            else if (now - t0 >= p->spin_ns) break;
        }
    }
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) futex_wait(&p->gen, seen);
    atomic_fetch_sub(&p->sleepers, 1);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    hr_pool *p = w->pool;
    uint32_t seen = atomic_load(&p->gen);
    for (;;) {
        wait_for_job(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        /* join unless the job is already closed or replaced */
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
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
    long us = SPIN_US_DEFAULT;
    const char *env = getenv("HR_POOL_SPIN_US");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0 && v <= SPIN_US_MAX) us = v;
    }
    p->spin_ns = (uint64_t)us * 1000;
    atomic_store(&p->state, CLOSED);
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
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake_all(&p->gen);
    for (int i = 1; i < p->n; i++) pthread_join(p->ws[i].th, NULL);
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
    uint32_t g = gen_of(atomic_load(&p->state)) + 1;
    atomic_store_explicit(&p->state, (uint64_t)g << 32, memory_order_release);
    atomic_store(&p->gen, g); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->gen);
    fn(ud, 0, p->n);
    /* close: succeeds only when no worker is inside */
    int spins = 0;
    for (;;) {
        uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (!(s & ACTIVE_MASK) && atomic_compare_exchange_weak(&p->state, &s, s | CLOSED)) break;
        if (++spins < CLOSE_SPINS) cpu_relax();
        else sched_yield();
    }
}
