/* Request-log benchmark: what hr_store_write costs the request path (p50/p99
 * per call) and how many rows/s the writer commits.
 *
 *   bench_store [--rows N] [--threads T] [--prompt BYTES] [--postgres URL]
 *
 * SQLite goes to a temp file (removed afterwards); --postgres writes into
 * that database's `requests` table (rows are left there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "store/store.h"

typedef struct worker {
    hr_store *s;
    int t;
    long rows;
    const char *prompt;
    double *lat_ns; /* per call */
} worker;

static void *work(void *p) {
    worker *w = p;
    char rid[64];
    for (long i = 0; i < w->rows; i++) {
        snprintf(rid, sizeof rid, "bench-%d-%ld", w->t, i);
        hr_log_row r = {.ts_ms = hr_unix_ms(), .request_id = rid, .tier = "small", .model = "hermes-8b",
                        .strategy = "rules", .reason = "simple keyword", .route_us = 3.2, .latency_ms = 120.5,
                        .ttft_ms = 20.25, .prompt_tokens = 42, .completion_tokens = 17, .status = 200,
                        .prompt = w->prompt};
        uint64_t t0 = hr_now_ns();
        hr_store_write(w->s, &r);
        w->lat_ns[i] = (double)(hr_now_ns() - t0);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long rows = 100000;
    int threads = 1;
    size_t prompt_len = 200;
    const char *pg = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt_len = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--postgres")) pg = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_store [--rows N] [--threads T] [--prompt BYTES] [--postgres URL]\n");
            return 2;
        }
    }
    if (rows < 1 || threads < 1 || threads > 64) return 2;
    char dir[] = "/tmp/hr-bench-store-XXXXXX", path[96];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/log.db", dir);
    hr_log_config cfg = {.enabled = true, .sqlite_path = path, .postgres_url = (char *)pg, .capture_text = true};
    /* a queue big enough that nothing is dropped: this measures throughput */
    hr_store_options o = hr_store_default_options();
    o.queue_rows = (size_t)rows * (size_t)threads;
    o.queue_bytes = (size_t)1 << 34;
    char err[512];
    hr_store *s = hr_store_open_ex(&cfg, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_store: %s\n", err);
        return 1;
    }
    char *prompt = hr_xmalloc(prompt_len + 1);
    for (size_t i = 0; i < prompt_len; i++) prompt[i] = (char)('a' + i % 26);
    prompt[prompt_len] = '\0';

    pthread_t th[64];
    worker w[64];
    uint64_t t0 = hr_now_ns();
    for (int t = 0; t < threads; t++) {
        w[t] = (worker){s, t, rows, prompt, hr_xcalloc((size_t)rows, sizeof(double))};
        pthread_create(&th[t], NULL, work, &w[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    uint64_t t1 = hr_now_ns();
    hr_store_flush(s);
    uint64_t t2 = hr_now_ns();

    size_t n = (size_t)rows * (size_t)threads;
    double *all = hr_xmalloc(n * sizeof *all);
    for (int t = 0; t < threads; t++) {
        memcpy(all + (size_t)t * (size_t)rows, w[t].lat_ns, (size_t)rows * sizeof(double));
        free(w[t].lat_ns);
    }
    qsort(all, n, sizeof *all, cmp_d);
    printf("backend %s, %d thread(s) x %ld rows, prompt %zu B\n", hr_store_backend_name(s), threads, rows,
           prompt_len);
    printf("hr_store_write: p50 %.0f ns, p99 %.0f ns, max %.0f ns\n", all[n / 2], all[n * 99 / 100], all[n - 1]);
    printf("enqueue all: %.1f ms; committed all: %.1f ms -> %.0f rows/s; written %llu, dropped %llu, failed %llu\n",
           (double)(t1 - t0) / 1e6, (double)(t2 - t0) / 1e6, (double)n / ((double)(t2 - t0) / 1e9),
           (unsigned long long)hr_store_written(s), (unsigned long long)hr_store_dropped(s),
           (unsigned long long)hr_store_failed(s));
    hr_store_close(s);
    free(all);
    free(prompt);
    char p2[128];
    unlink(path);
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
    rmdir(dir);
    return 0;
}
