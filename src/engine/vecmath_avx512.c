/* AVX-512 element-wise math (see vecmath.h). */
#pragma GCC target("avx512f,fma")
#include <immintrin.h>

#include "engine/exp_avx512.h"
#include "engine/vecmath.h"

int hr_vec_swiglu_avx512(float *g, const float *u, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(k, g + i), y = _mm512_maskz_loadu_ps(k, u + i);
        __m512 e = hr_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), y));
    }
    return 1;
}

/* erf(z) for z >= 0: 1 - (a1 t + ... + a5 t^5) e^(-z^2), t = 1 / (1 + p z)
 * (Abramowitz and Stegun 7.1.26, |error| <= 1.5e-7); odd in z. */
int hr_vec_gelu_avx512(float *x, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), rs2 = _mm512_set1_ps(0.70710678118654752f);
    const __m512 p = _mm512_set1_ps(0.3275911f), a1 = _mm512_set1_ps(0.254829592f), a2 = _mm512_set1_ps(-0.284496736f),
                 a3 = _mm512_set1_ps(1.421413741f), a4 = _mm512_set1_ps(-1.453152027f),
                 a5 = _mm512_set1_ps(1.061405429f);
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        __m512 zs = _mm512_mul_ps(v, rs2);
        __m512 z = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(zs), absmask));
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(p, z, one));
        __m512 poly = _mm512_fmadd_ps(a5, t, a4);
        poly = _mm512_fmadd_ps(poly, t, a3);
        poly = _mm512_fmadd_ps(poly, t, a2);
        poly = _mm512_fmadd_ps(poly, t, a1);
        poly = _mm512_mul_ps(poly, t);
        __m512 e = hr_exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z));
        __m512 erf_abs = _mm512_fnmadd_ps(poly, e, one); /* 1 - poly e */
        /* sign of zs: erf is odd */
        __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(erf_abs), _mm512_andnot_si512(absmask, _mm512_castps_si512(zs))));
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf)));
    }
    return 1;
}
