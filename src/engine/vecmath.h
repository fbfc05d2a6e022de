/* Element-wise vector math of the forward pass, with AVX-512 versions
 * chosen at run time like attention.h (same HR_SIMD rule). */
#ifndef HR_ENGINE_VECMATH_H
#define HR_ENGINE_VECMATH_H

#include <stddef.h>

/* g[i] = silu(g[i]) * u[i] = g[i] / (1 + e^-g[i]) * u[i], i < n */
void hr_vec_swiglu(float *g, const float *u, size_t n);
void hr_vec_swiglu_ref(float *g, const float *u, size_t n);
int hr_vec_swiglu_avx512(float *g, const float *u, size_t n); /* 0: not run */

/* x[i] = gelu(x[i]) = x/2 (1 + erf(x / sqrt 2)), i < n: the exact (erf) GELU
 * of BERT. The AVX-512 version evaluates erf with Abramowitz-Stegun 7.1.26
 * (absolute error <= 1.5e-7) and hr_exp512. */
void hr_vec_gelu(float *x, size_t n);
void hr_vec_gelu_ref(float *x, size_t n);
int hr_vec_gelu_avx512(float *x, size_t n); /* 0: not run */

#endif
