/* The engine's thread pool: every chunk of every job runs exactly once, jobs
 * follow each other back to back (the forward-pass pattern) and after idle
 * sleeps, and a pool of 1 runs inline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/threadpool.h"

#define N 1000

typedef struct job {
    _Atomic int next;
    _Atomic int hits[N];
    _Atomic int max_ith;
} job;

static void work(void *ud, int ith, int nth) {
    job *j = ud;
    if (ith < 0 || ith >= nth) abort(); /* cmocka asserts are not for worker threads */
    int m = atomic_load(&j->max_ith);
    while (ith > m && !atomic_compare_exchange_weak(&j->max_ith, &m, ith)) {
    }
    for (;;) {
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= N) break;
        atomic_fetch_add(&j->hits[i], 1);
    }
}

static void run_jobs(hr_pool *p, int n_jobs) {
    for (int r = 0; r < n_jobs; r++) {
        job j;
        memset(&j, 0, sizeof j);
        hr_pool_run(p, work, &j);
        for (int i = 0; i < N; i++)
            if (atomic_load(&j.hits[i]) != 1) fail_msg("job %d: chunk %d ran %d times", r, i, atomic_load(&j.hits[i]));
    }
}

static void test_back_to_back(void **state) {
    (void)state;
    hr_pool *p = hr_pool_create(4);
    assert_int_equal(hr_pool_size(p), 4);
    run_jobs(p, 2000);
    hr_pool_free(p);
}

static void test_after_sleep(void **state) {
    (void)state;
    hr_pool *p = hr_pool_create(3);
    for (int k = 0; k < 3; k++) {
        usleep(30000); /* workers go to sleep on the condvar */
        run_jobs(p, 5);
    }
    hr_pool_free(p);
}

static void test_single(void **state) {
    (void)state;
    hr_pool *p = hr_pool_create(1);
    job j;
    memset(&j, 0, sizeof j);
    hr_pool_run(p, work, &j);
    assert_int_equal(atomic_load(&j.max_ith), 0);
    assert_int_equal(atomic_load(&j.next) >= N, 1);
    hr_pool_free(p);
    hr_pool_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_back_to_back), cmocka_unit_test(test_after_sleep),
                                       cmocka_unit_test(test_single)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
