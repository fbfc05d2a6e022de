/* Attention kernels: scalar references and the dispatch (see attention.h). */
#include "engine/attention.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/quant.h"

void hr_att_scores_ref(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds) {
    for (int g = 0; g < G; g++)
        for (int p = 0; p < n; p++) {
            const float *k = K + (size_t)p * ldk, *qq = q + (size_t)g * hd;
            float acc = 0;
            for (int d = 0; d < hd; d++) acc += k[d] * qq[d];
            s[(size_t)g * lds + p] = acc;
        }
}

void hr_att_softmax_ref(float *s, int n, float scale) {
    float mx = -INFINITY, sum = 0;
    for (int t = 0; t < n; t++) {
        s[t] *= scale;
        if (s[t] > mx) mx = s[t];
    }
    for (int t = 0; t < n; t++) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    float inv = 1.0f / sum;
    for (int t = 0; t < n; t++) s[t] *= inv;
}

void hr_att_values_ref(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o) {
    for (int g = 0; g < G; g++) {
        float *og = o + (size_t)g * hd;
        const float *pr = P + (size_t)g * ldp;
        for (int d = 0; d < hd; d++) og[d] = 0;
        for (int p = 0; p < n; p++)
            for (int d = 0; d < hd; d++) og[d] += pr[p] * V[(size_t)p * ldv + d];
    }
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int fast;

static void pick(void) {
    const char *lvl = hr_simd_level(); /* honours HR_SIMD */
    fast = (!strcmp(lvl, "avx512") || !strcmp(lvl, "amx")) && __builtin_cpu_supports("avx512f");
}

int hr_att_fast(void) {
    pthread_once(&once, pick);
    return fast;
}

void hr_att_scores(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds) {
    if (!hr_att_fast() || !hr_att_scores_avx512(K, ldk, n, hd, q, G, s, lds))
        hr_att_scores_ref(K, ldk, n, hd, q, G, s, lds);
}

void hr_att_softmax(float *s, int n, float scale) {
    if (!hr_att_fast() || !hr_att_softmax_avx512(s, n, scale)) hr_att_softmax_ref(s, n, scale);
}

void hr_att_values(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o) {
    if (!hr_att_fast() || !hr_att_values_avx512(V, ldv, n, hd, P, ldp, G, o))
        hr_att_values_ref(V, ldv, n, hd, P, ldp, G, o);
}
