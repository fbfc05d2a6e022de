/* Memory read bandwidth probe (hr_measure_read_bandwidth, see quant.h): the
 * yardstick generation speed is reported against. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/clock.h"
#include "engine/quant.h"

#define MEMBW_BYTES ((size_t)1 << 30)
#define MEMBW_PASSES 5
#define MEMBW_MAX_THREADS 64

typedef struct {
    const uint64_t *p;
    size_t n; /* uint64 words, a multiple of 32 */
    uint64_t sum;
} membw_slice;

/* Eight independent 256-bit accumulators and software prefetch 4 KB ahead
 * (what the engine's streaming kernels do) keep enough loads in flight to
 * saturate the memory system from one core. */
#define MEMBW_PREFETCH 4096
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t n)
{
    typedef uint64_t v4 __attribute__((vector_size(32), aligned(32)));
    v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    const v4 *v = (const v4 *)p;
    for (size_t i = 0; i < n / 4; i += 8) {
        for (int l = 0; l < 4; l++)
            __builtin_prefetch((const char *)&v[i] + MEMBW_PREFETCH + 64 * l, 0, 3);
        a0 += v[i];
        a1 += v[i + 1];
        a2 += v[i + 2];
        a3 += v[i + 3];
        a4 += v[i + 4];
        a5 += v[i + 5];
        a6 += v[i + 6];
        a7 += v[i + 7];
    }
    v4 a = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return a[0] + a[1] + a[2] + a[3];
}

static uint64_t sum_plain(const uint64_t *p, size_t n)
{
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < n; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    return a0 + a1 + a2 + a3;
}

static void *membw_worker(void *arg)
{
    membw_slice *s = arg;
    s->sum = __builtin_cpu_supports("avx2") ? sum_avx2(s->p, s->n) : sum_plain(s->p, s->n);
    return NULL;
}

double hr_measure_read_bandwidth(int threads)
{
    if (threads < 1 || threads > MEMBW_MAX_THREADS)
        return 0.0;
    void *buf = NULL;
    if (posix_memalign(&buf, 2u << 20, MEMBW_BYTES) != 0)
        return 0.0;
    madvise(buf, MEMBW_BYTES, MADV_HUGEPAGE);
    memset(buf, 1, MEMBW_BYTES); /* fault every page in before timing */
    __builtin_cpu_init();

    size_t words = MEMBW_BYTES / 8, per = (words / (size_t)threads) & ~(size_t)31;
    membw_slice slices[MEMBW_MAX_THREADS];
    pthread_t tid[MEMBW_MAX_THREADS];
    double best = 0.0;
    uint64_t sink = 0;
    for (int pass = 0; pass < MEMBW_PASSES; pass++) {
        uint64_t t0 = hr_now_ns();
        bool created[MEMBW_MAX_THREADS] = {false};
        for (int t = 0; t < threads; t++)
            slices[t] = (membw_slice){(const uint64_t *)buf + (size_t)t * per, per, 0};
        for (int t = 1; t < threads; t++)
            created[t] = pthread_create(&tid[t], NULL, membw_worker, &slices[t]) == 0;
        membw_worker(&slices[0]);
        for (int t = 1; t < threads; t++) {
            if (created[t])
                pthread_join(tid[t], NULL);
            else
                membw_worker(&slices[t]); /* could not start a thread: read it here */
        }
        uint64_t t1 = hr_now_ns();
        for (int t = 0; t < threads; t++)
            sink += slices[t].sum;
        double bw = (double)(per * 8 * (size_t)threads) / ((double)(t1 - t0) * 1e-9);
        if (bw > best)
            best = bw;
    }
    free(buf);
    /* Every word is 0x0101..01, so the sum is known: a wrong sum means the
     * loop did not read what it claims (never expected; guards the probe). */
    if (sink != (uint64_t)MEMBW_PASSES * per * (size_t)threads * 0x0101010101010101ull)
        return 0.0;
    return best;
}
