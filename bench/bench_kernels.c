/* Kernel benchmark: memory read bandwidth, then per weight type the
 * single-thread matvec speed (n_batch 1, weights larger than cache) as GB/s
 * of weights read, and batched matmul GFLOP/s (n_batch 32 and 512).
 *
 * The 2-thread matvec column splits the rows between two threads (as the
 * engine's pool does) and is compared with the 2-thread read bandwidth:
 * that is generation's share of the limit, kernels alone.
 *
 * Batched figures are per thread CPU second (CLOCK_THREAD_CPUTIME_ID), so a
 * busy shared machine that takes the CPU away does not count against the
 * kernel; matvec is wall time (the memory system is the point there).
 *
 * usage: bench_kernels [--quick] [--no-bw] [--types q4_0,q4_K,...]
 * HR_SIMD=scalar|avx2|avx512|amx forces a level. Prints a markdown table. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/clock.h"
#include "engine/quant.h"

#define MV_BYTES ((size_t)1 << 30) /* matvec weights: more than the last-level cache (480 MiB here) */
#define K 4096
#define SLAB 256          /* rows actually quantized; the rest are copies */
#define BATCH_ROWS 1024   /* rows used for the batched runs */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffff) / 65536.0f - 0.5f;
}

/* Weights live where the engine keeps them: anonymous memory, 2 MiB aligned,
 * transparent huge pages requested (model.c weights_to_anon); on 4 KB pages
 * a 1 GiB stream also pays a TLB miss per page. */
#define HUGE_ALIGN ((size_t)2 << 20)
typedef struct {
    char *map, *base;
    size_t len;
} weights_buf;

static bool weights_alloc(weights_buf *b, size_t bytes)
{
    b->len = bytes + HUGE_ALIGN;
    b->map = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->map == MAP_FAILED)
        return false;
    b->base = (char *)(((uintptr_t)b->map + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
    madvise(b->base, bytes, MADV_HUGEPAGE);
    return true;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    int wtype;
    const char *w;
    size_t ws;
    int64_t r0, r1;
    const void *xq;
    float *y;
} mv_part;

static void *mv_thread(void *arg)
{
    mv_part *p = arg;
    hr_matmul_rows(p->wtype, p->w, K, p->r0, p->r1, p->xq, 1, p->y, p->r1);
    return NULL;
}

/* Best of reps: rows rows, one activation row, split over two threads. */
static double best_seconds_2t(int wtype, const char *w, size_t ws, int64_t rows, const void *xq, float *y, int reps)
{
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        mv_part a = {wtype, w, ws, 0, rows / 2, xq, y}, b = {wtype, w, ws, rows / 2, rows, xq, y};
        pthread_t t;
        uint64_t t0 = hr_now_ns();
        bool started = pthread_create(&t, NULL, mv_thread, &b) == 0;
        mv_thread(&a);
        if (started)
            pthread_join(t, NULL);
        else
            mv_thread(&b);
        double s = (double)(hr_now_ns() - t0) * 1e-9;
        if (s < best)
            best = s;
    }
    return best;
}

/* Best of reps, wall time or (cpu) this thread's CPU time. */
static double best_seconds(int wtype, const void *w, int64_t rows, const void *xq, int nb, float *y, int reps,
                           bool cpu, int64_t ldy)
{
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        uint64_t t0 = hr_now_ns();
        double c0 = cpu_seconds();
        hr_matmul_rows(wtype, w, K, 0, rows, xq, nb, y, ldy);
        double s = cpu ? cpu_seconds() - c0 : (double)(hr_now_ns() - t0) * 1e-9;
        if (s < best)
            best = s;
    }
    return best;
}

int main(int argc, char **argv)
{
    bool quick = false, no_bw = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--no-bw") == 0)
            no_bw = true;
        else if (strcmp(argv[i], "--types") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--no-bw] [--types q4_0,q4_K,...]\n", argv[0]);
            return 2;
        }
    }
    double bw1 = no_bw ? 0.0 : hr_measure_read_bandwidth(1), bw2 = quick || no_bw ? 0.0 : hr_measure_read_bandwidth(2);
    printf("simd level: %s\n\n", hr_simd_level());
    printf("| threads | read bandwidth GB/s |\n|---|---|\n| 1 | %.1f |\n", bw1 / 1e9);
    if (!quick)
        printf("| 2 | %.1f |\n", bw2 / 1e9);
    printf("\nmatvec: %zu MiB of weights (rows of %d, huge pages as the engine loads them), wall time; batched: %d rows, per CPU second\n\n",
           MV_BYTES >> 20, K, BATCH_ROWS);
    printf("| type | bytes/weight | matvec GB/s | %% of 1-thread bw | 2-thread matvec GB/s | %% of 2-thread bw | "
           "matvec in L2 GB/s (cpu) | nb=32 GFLOP/s | nb=512 GFLOP/s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");

    static const int types[] = {HR_TYPE_F32,  HR_TYPE_F16,  HR_TYPE_BF16, HR_TYPE_Q8_0, HR_TYPE_Q4_0, HR_TYPE_Q4_1,
                                HR_TYPE_Q5_0, HR_TYPE_Q5_1, HR_TYPE_Q4_K, HR_TYPE_Q5_K, HR_TYPE_Q6_K};
    float *src = malloc((size_t)SLAB * K * sizeof(float));
    float *x = malloc((size_t)512 * K * sizeof(float));
    float *y = malloc(((size_t)512 * BATCH_ROWS + MV_BYTES / 256) * sizeof(float)); /* rows <= MV_BYTES/256 */
    for (size_t i = 0; i < (size_t)SLAB * K; i++)
        src[i] = 0.05f * rnd();
    for (size_t i = 0; i < (size_t)512 * K; i++)
        x[i] = rnd();

    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int wt = types[t];
        const hr_type_traits *tr = hr_type_get(wt);
        if (only && !strstr(only, tr->name))
            continue;
        size_t ws = hr_type_row_bytes(wt, K), xs = hr_type_row_bytes(hr_vec_dot_type(wt), K);
        int64_t rows = (int64_t)(MV_BYTES / ws);
        weights_buf wb;
        if (!weights_alloc(&wb, ws * (size_t)rows)) {
            fprintf(stderr, "bench_kernels: cannot map %zu MiB of weights\n", (ws * (size_t)rows) >> 20);
            return 1;
        }
        char *w = wb.base;
        for (int r = 0; r < SLAB; r++)
            hr_quantize_row(wt, src + (size_t)r * K, w + (size_t)r * ws, K);
        for (int64_t r = SLAB; r < rows; r++)
            memcpy(w + (size_t)r * ws, w + (size_t)(r % SLAB) * ws, ws);
        char *xq = malloc(xs * 512);
        for (int b = 0; b < 512; b++)
            hr_quantize_activation_row(wt, x + (size_t)b * K, xq + (size_t)b * xs, K);

        double s1 = best_seconds(wt, w, rows, xq, 1, y, quick ? 3 : 5, false, rows);
        double gbs = (double)(ws * (size_t)rows) / s1 / 1e9;
        double gb2 = (double)(ws * (size_t)rows) / best_seconds_2t(wt, w, ws, rows, xq, y, quick ? 3 : 5) / 1e9;
        /* compute ceiling: the first SLAB rows stay in L2, per CPU second */
        double sc = 1e30;
        for (int rep = 0; rep < (quick ? 3 : 10); rep++) {
            double c0 = cpu_seconds();
            for (int it = 0; it < 20; it++)
                hr_matmul_rows(wt, w, K, 0, SLAB, xq, 1, y, SLAB);
            double s = (cpu_seconds() - c0) / 20;
            sc = s < sc ? s : sc;
        }
        double gbc = (double)(ws * SLAB) / sc / 1e9;
        double s32 = best_seconds(wt, w, BATCH_ROWS, xq, 32, y, quick ? 2 : 3, true, BATCH_ROWS);
        double f32 = 2.0 * BATCH_ROWS * K * 32 / s32 / 1e9;
        double f512 = 0.0;
        if (!quick) {
            double s512 = best_seconds(wt, w, BATCH_ROWS, xq, 512, y, 2, true, BATCH_ROWS);
            f512 = 2.0 * BATCH_ROWS * K * 512 / s512 / 1e9;
        }
        printf("| %s | %.4f | %.1f | %.0f%% | %.1f | %.0f%% | %.1f | %.1f | %s%.1f |\n", tr->name, (double)ws / K, gbs,
               bw1 > 0 ? 100.0 * gbs * 1e9 / bw1 : 0.0, gb2, bw2 > 0 ? 100.0 * gb2 * 1e9 / bw2 : 0.0, gbc, f32,
               quick ? "(skipped) " : "", f512);
        fflush(stdout);
        munmap(wb.map, wb.len);
        free(xq);
    }
    free(src);
    free(x);
    free(y);
    return 0;
}
