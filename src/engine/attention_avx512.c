/* AVX-512 attention kernels (see attention.h). */
#pragma GCC target("avx512f,fma")
#include <immintrin.h>
#include <math.h>

#include "engine/attention.h"
#include "engine/exp_avx512.h"

#define INL static inline __attribute__((always_inline))

/* fold(u, v): each input holds groups of width w (partial sums of one output
 * each); the result holds twice the groups at half the width, u's and v's
 * groups interleaved, each half-group pair summed. Four folds take 16 vectors
 * of 16 partial sums to one vector of 16 totals, in order. */
static const int32_t fold_idx[4][2][16] = {
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}, {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}, {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}, {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
    {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}, {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
};

INL __m512 fold(__m512 u, __m512 v, int r) {
    __m512i lo = _mm512_loadu_si512(fold_idx[r][0]), hi = _mm512_loadu_si512(fold_idx[r][1]);
    return _mm512_add_ps(_mm512_permutex2var_ps(u, lo, v), _mm512_permutex2var_ps(u, hi, v));
}

/* lane i of the result = horizontal sum of a[i] */
INL __m512 reduce16(__m512 a[16]) {
    __m512 r1[8], r2[4], r3[2];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) r1[i] = fold(a[i], a[i + 8], 0);
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) r2[i] = fold(r1[i], r1[i + 4], 1);
    _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++) r3[i] = fold(r2[i], r2[i + 2], 2);
    return fold(r3[0], r3[1], 3);
}

INL __mmask16 tail_mask(int m) { return m >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << m) - 1); }

/* one block of up to 16 positions for one query of NV x 16 dims */
INL __m512 scores_block(const float *K, size_t ldk, int m, const __m512 *qv, int nv) {
    __m512 a[16]; /* unrolled: GCC -O2 keeps a[] on the stack otherwise */
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
        __m512 acc = _mm512_setzero_ps();
        if (i < m) {
            const float *k = K + (size_t)i * ldk;
            _Pragma("GCC unroll 8") for (int c = 0; c < nv; c++) acc = _mm512_fmadd_ps(_mm512_loadu_ps(k + 16 * c), qv[c], acc);
        }
        a[i] = acc;
    }
    return reduce16(a);
}

INL void scores_nv(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds,
                   const int nv) {
    for (int p0 = 0; p0 < n; p0 += 16) {
        int m = n - p0 < 16 ? n - p0 : 16;
        const float *Kb = K + (size_t)p0 * ldk;
        for (int g = 0; g < G; g++) {
            __m512 qv[16];
            _Pragma("GCC unroll 8") for (int c = 0; c < nv; c++) qv[c] = _mm512_loadu_ps(q + (size_t)g * hd + 16 * c);
            _mm512_mask_storeu_ps(s + (size_t)g * lds + p0, tail_mask(m), scores_block(Kb, ldk, m, qv, nv));
        }
    }
}

int hr_att_scores_avx512(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds) {
    if (hd % 16 || hd > 256 || n <= 0) return n <= 0 && hd % 16 == 0;
    switch (hd / 16) { /* constant trip counts for the common head sizes */
    case 4: scores_nv(K, ldk, n, hd, q, G, s, lds, 4); break;
    case 8: scores_nv(K, ldk, n, hd, q, G, s, lds, 8); break;
    default: scores_nv(K, ldk, n, hd, q, G, s, lds, hd / 16); break;
    }
    return 1;
}

int hr_att_softmax_avx512(float *s, int n, float scale) {
    if (n <= 0) return 1;
    __m512 vs = _mm512_set1_ps(scale), vmx = _mm512_set1_ps(-INFINITY);
    for (int t = 0; t < n; t += 16) {
        __mmask16 k = tail_mask(n - t);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + t), vs);
        _mm512_mask_storeu_ps(s + t, k, v);
        vmx = _mm512_mask_max_ps(vmx, k, vmx, v);
    }
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmx)), vsum = _mm512_setzero_ps();
    for (int t = 0; t < n; t += 16) {
        __mmask16 k = tail_mask(n - t);
        __m512 e = hr_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + t), mx));
        _mm512_mask_storeu_ps(s + t, k, e);
        vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int t = 0; t < n; t += 16) {
        __mmask16 k = tail_mask(n - t);
        _mm512_mask_storeu_ps(s + t, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + t), inv));
    }
    return 1;
}

/* RR output rows x NV*16 dimensions in registers: per position, NV value
 * loads feed RR*NV fused multiply-adds (RR <= 6, NV <= 4: at most 24
 * accumulators) */
INL void values_tile(const float *V, size_t ldv, int n, const float *P, size_t ldp, float *o, size_t ldo,
                     const int RR, const int NV) {
    __m512 acc[6][4];
    /* fully unrolled (GCC's -O2 does not peel these on its own): the
     * accumulators must live in registers, not on the stack */
    _Pragma("GCC unroll 6") for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4") for (int c = 0; c < NV; c++) acc[r][c] = _mm512_setzero_ps();
    for (int p = 0; p < n; p++) {
        const float *v = V + (size_t)p * ldv;
        __m512 vv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < NV; c++) vv[c] = _mm512_loadu_ps(v + 16 * c);
        _Pragma("GCC unroll 6") for (int r = 0; r < RR; r++) {
            __m512 pb = _mm512_set1_ps(P[(size_t)r * ldp + p]);
            _Pragma("GCC unroll 4") for (int c = 0; c < NV; c++) acc[r][c] = _mm512_fmadd_ps(vv[c], pb, acc[r][c]);
        }
    }
    _Pragma("GCC unroll 6") for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4") for (int c = 0; c < NV; c++) _mm512_storeu_ps(o + (size_t)r * ldo + 16 * c, acc[r][c]);
}

#define TILE_NV(rr)                                                                                                 \
    switch (nv) {                                                                                                   \
    case 1: values_tile(Vd, ldv, n, Pr, ldp, od, (size_t)hd, rr, 1); break;                                         \
    case 2: values_tile(Vd, ldv, n, Pr, ldp, od, (size_t)hd, rr, 2); break;                                         \
    case 3: values_tile(Vd, ldv, n, Pr, ldp, od, (size_t)hd, rr, 3); break;                                         \
    default: values_tile(Vd, ldv, n, Pr, ldp, od, (size_t)hd, rr, 4); break;                                        \
    }

int hr_att_values_avx512(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o) {
    if (hd % 16) return 0;
    for (int d0 = 0; d0 < hd; d0 += 64) {
        int nv = (hd - d0) / 16 < 4 ? (hd - d0) / 16 : 4;
        const float *Vd = V + d0;
        for (int r0 = 0; r0 < G; r0 += 6) {
            int rr = G - r0 < 6 ? G - r0 : 6;
            const float *Pr = P + (size_t)r0 * ldp;
            float *od = o + (size_t)r0 * hd + d0;
            switch (rr) {
            case 1: TILE_NV(1) break;
            case 2: TILE_NV(2) break;
            case 3: TILE_NV(3) break;
            case 4: TILE_NV(4) break;
            case 5: TILE_NV(5) break;
            default: TILE_NV(6) break;
            }
        }
    }
    return 1;
}
