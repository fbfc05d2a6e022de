/* Element-wise vector math: references and dispatch (see vecmath.h). */
#include "engine/vecmath.h"

#include <math.h>

#include "engine/attention.h"

void hr_vec_swiglu_ref(float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void hr_vec_swiglu(float *g, const float *u, size_t n) {
    if (!hr_att_fast() || !hr_vec_swiglu_avx512(g, u, n)) hr_vec_swiglu_ref(g, u, n); /* same CPU test */
}

void hr_vec_gelu_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void hr_vec_gelu(float *x, size_t n) {
    if (!hr_att_fast() || !hr_vec_gelu_avx512(x, n)) hr_vec_gelu_ref(x, n);
}
