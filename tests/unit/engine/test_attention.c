/* Attention kernels (engine/attention.h): the AVX-512 versions against the
 * scalar references on the shapes decode and prefill use, with ragged
 * position counts (tails of the 16-wide blocks) and strided rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/attention.h"
#include "engine/vecmath.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}
static float *rand_buf(size_t n) {
    float *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) b[i] = frand();
    return b;
}

static void close_to(const float *a, const float *b, size_t n, float tol) {
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]), m = fabsf(b[i]) > 1 ? fabsf(b[i]) : 1;
        if (d > tol * m) fail_msg("element %zu: %g vs reference %g", i, (double)a[i], (double)b[i]);
    }
}

static const int hds[] = {16, 64, 128, 80};
static const int ns[] = {1, 7, 16, 17, 33, 76, 200};

static void test_scores(void **st) {
    (void)st;
    if (!hr_att_fast()) skip();
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
            int hd = hds[a], n = ns[b], G = 3;
            size_t ldk = (size_t)hd + 16, lds = (size_t)n + 5; /* strided rows */
            float *K = rand_buf((size_t)n * ldk), *q = rand_buf((size_t)G * hd);
            float *s = calloc((size_t)G * lds, sizeof *s), *r = calloc((size_t)G * lds, sizeof *r);
            for (size_t i = 0; i < (size_t)G * lds; i++) s[i] = r[i] = 42.0f; /* untouched past n */
            hr_att_scores_ref(K, ldk, n, hd, q, G, r, lds);
            assert_int_equal(hr_att_scores_avx512(K, ldk, n, hd, q, G, s, lds), 1);
            close_to(s, r, (size_t)G * lds, 1e-5f);
            free(K), free(q), free(s), free(r);
        }
    /* head sizes the fast path does not take: refused, nothing written */
    float K[24] = {0}, q[24] = {0}, s[4] = {7, 7, 7, 7};
    assert_int_equal(hr_att_scores_avx512(K, 24, 1, 24, q, 1, s, 4), 0);
    assert_true(s[0] == 7.0f);
}

static void test_softmax(void **st) {
    (void)st;
    if (!hr_att_fast()) skip();
    for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
        int n = ns[b];
        float *x = rand_buf((size_t)n + 3), *y = malloc(((size_t)n + 3) * sizeof *y);
        for (int i = 0; i < n; i++) x[i] *= 30.0f; /* a wide range of exponents */
        memcpy(y, x, ((size_t)n + 3) * sizeof *y);
        hr_att_softmax_ref(y, n, 0.125f);
        assert_int_equal(hr_att_softmax_avx512(x, n, 0.125f), 1);
        close_to(x, y, (size_t)n + 3, 2e-6f);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x[i];
        assert_true(fabs(sum - 1.0) < 1e-5);
        free(x), free(y);
    }
}

static void test_values(void **st) {
    (void)st;
    if (!hr_att_fast()) skip();
    static const int Gs[] = {1, 3, 4, 7, 48};
    for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (size_t c = 0; c < sizeof Gs / sizeof *Gs; c++) {
                int hd = hds[a], n = ns[b], G = Gs[c];
                size_t ldv = (size_t)hd + 16, ldp = (size_t)n + 3;
                float *V = rand_buf((size_t)(n + 1) * ldv), *P = rand_buf((size_t)G * ldp);
                /* rows past n may hold anything, even NaN: never read */
                for (int d = 0; d < hd; d++) V[(size_t)n * ldv + d] = NAN;
                float *o = malloc((size_t)G * hd * sizeof *o), *r = malloc((size_t)G * hd * sizeof *r);
                hr_att_values_ref(V, ldv, n, hd, P, ldp, G, r);
                assert_int_equal(hr_att_values_avx512(V, ldv, n, hd, P, ldp, G, o), 1);
                close_to(o, r, (size_t)G * hd, 1e-5f);
                free(V), free(P), free(o), free(r);
            }
}

static void test_swiglu(void **st) {
    (void)st;
    if (!hr_att_fast()) skip();
    for (size_t n = 1; n < 70; n += 7) {
        float *g = rand_buf(n), *u = rand_buf(n), *r = malloc(n * sizeof *r);
        for (size_t i = 0; i < n; i++) g[i] *= 40.0f; /* deep into both tails */
        if (n > 3) g[0] = 100.0f, g[1] = -100.0f, g[2] = 0.0f;
        memcpy(r, g, n * sizeof *r);
        hr_vec_swiglu_ref(r, u, n);
        assert_int_equal(hr_vec_swiglu_avx512(g, u, n), 1);
        close_to(g, r, n, 2e-6f);
        free(g), free(u), free(r);
    }
}

/* GELU (erf form): the AVX-512 erf approximation (|error| <= 1.5e-7) vs erff */
static void test_gelu(void **st) {
    (void)st;
    if (!hr_att_fast()) skip();
    for (size_t n = 1; n < 70; n += 7) {
        float *g = rand_buf(n), *r = malloc(n * sizeof *r);
        for (size_t i = 0; i < n; i++) g[i] *= 12.0f; /* both tails and the middle */
        if (n > 4) g[0] = 100.0f, g[1] = -100.0f, g[2] = 0.0f, g[3] = -0.5f;
        memcpy(r, g, n * sizeof *r);
        hr_vec_gelu_ref(r, n);
        assert_int_equal(hr_vec_gelu_avx512(g, n), 1);
        for (size_t i = 0; i < n; i++) /* relative to max(|x|, 1): gelu(x) ~ x for large x */
            if (!(fabsf(g[i] - r[i]) <= 1e-6f * fmaxf(fabsf(r[i]), 1.0f)))
                fail_msg("gelu[%zu]: %g vs %g", i, g[i], r[i]);
        free(g), free(r);
    }
    float x = -3.0f, y = 1.5f;
    hr_vec_gelu(&x, 1);
    hr_vec_gelu(&y, 1);
    assert_true(fabsf(x - (-0.00404969f)) < 1e-6f); /* x/2 (1 + erf(x/sqrt 2)) */
    assert_true(fabsf(y - 1.39978920f) < 1e-6f);
}

/* the dispatching entry points agree with the references whichever runs */
static void test_dispatch(void **st) {
    (void)st;
    int hd = 64, n = 37, G = 3;
    float *K = rand_buf((size_t)n * hd), *q = rand_buf((size_t)G * hd);
    float s[3 * 37], r[3 * 37];
    hr_att_scores(K, (size_t)hd, n, hd, q, G, s, (size_t)n);
    hr_att_scores_ref(K, (size_t)hd, n, hd, q, G, r, (size_t)n);
    close_to(s, r, sizeof s / sizeof *s, 1e-5f);
    for (int g = 0; g < G; g++) {
        hr_att_softmax(s + g * n, n, 0.125f);
        hr_att_softmax_ref(r + g * n, n, 0.125f);
    }
    close_to(s, r, sizeof s / sizeof *s, 2e-6f);
    float o[3 * 64], ro[3 * 64];
    hr_att_values(K, (size_t)hd, n, hd, s, (size_t)n, G, o); /* K reused as the values */
    hr_att_values_ref(K, (size_t)hd, n, hd, r, (size_t)n, G, ro);
    close_to(o, ro, sizeof o / sizeof *o, 1e-5f);
    free(K), free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_gelu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
