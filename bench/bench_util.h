/* Small helpers shared by the bench programs (header-only: each bench is its
 * own executable). */
#ifndef HR_BENCH_UTIL_H
#define HR_BENCH_UTIL_H

#include <stddef.h>

#include "core/buf.h"

/* Text of exactly `chars` code points cut from a repeated (UTF-8) filler. */
static inline char *bench_make_text(const char *filler, size_t chars) {
    hr_buf b;
    hr_buf_init(&b, 0);
    size_t have = 0;
    const char *p = filler;
    while (have < chars) {
        size_t n = 1;
        while (((unsigned char)p[n] & 0xC0) == 0x80) n++;
        hr_buf_append(&b, p, n);
        have++;
        p += n;
        if (!*p) p = filler;
    }
    return hr_buf_steal(&b);
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile of a sorted array. */
static inline double bench_pct(const double *v, size_t n, double q) { return v[(size_t)(q * (double)(n - 1) + 0.5)]; }

#endif
