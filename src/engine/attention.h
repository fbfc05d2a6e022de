/* Attention kernels over one KV head of the f32 cache (model.c's layout when
 * these run): keys and values both as rows of positions.
 *
 *   hr_att_scores:  s[g*lds + p] = dot(K + p*ldk, q + g*hd)      p < n, g < G
 *   hr_att_softmax: s[0..n) = softmax(s * scale), in place
 *   hr_att_values:  o[g*hd + d] = sum_{p<n} P[g*ldp + p] * V[p*ldv + d]
 *
 * Decode attends one query row per head to every cached position; as kernel
 * matmul calls each position (or dimension) costs one dispatch plus a
 * horizontal sum, which for head_dim 64 costs more than its arithmetic.
 * Scores keep 16 partial sums in registers and reduce them in one
 * transpose-add tree; values need no reduction at all: each value row is
 * loaded once and scaled into the output rows of every query of the group.
 * The fast path needs AVX-512F and hd a multiple of 16 up to 256; otherwise
 * the scalar reference runs. Results match the reference up to float
 * summation order (and a 1-ulp-class exp in softmax). */
#ifndef HR_ENGINE_ATTENTION_H
#define HR_ENGINE_ATTENTION_H

#include <stddef.h>

void hr_att_scores(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds);
void hr_att_softmax(float *s, int n, float scale);
void hr_att_values(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o);

/* The scalar references and the AVX-512 versions, for tests and benchmarks
 * (the _avx512 ones return 0 when the CPU or the shape is not supported,
 * having done nothing). */
void hr_att_scores_ref(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds);
void hr_att_softmax_ref(float *s, int n, float scale);
void hr_att_values_ref(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o);
int hr_att_scores_avx512(const float *K, size_t ldk, int n, int hd, const float *q, int G, float *s, size_t lds);
int hr_att_softmax_avx512(float *s, int n, float scale);
int hr_att_values_avx512(const float *V, size_t ldv, int n, int hd, const float *P, size_t ldp, int G, float *o);
/* 1 when the AVX-512 versions run on this CPU (and HR_SIMD allows avx512). */
int hr_att_fast(void);

#endif
