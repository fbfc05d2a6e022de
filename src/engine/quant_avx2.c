/* AVX2/FMA/F16C level. The target pragma applies to this file only, so the
 * rest of the build stays baseline x86-64; quant.c calls in here only after
 * CPUID says the CPU has these extensions. */
#pragma GCC target("avx2,fma,f16c")

#include <immintrin.h>

#include "engine/quant_impl.h"

/* u8 x s8 -> i32 lanes. maddubs saturates at +-32767 per pair, which the
 * operands here never reach: weights are < 64 (or |q| <= 127 only with
 * |y| <= 127, 2*127*127 = 32258). */
static inline __attribute__((always_inline)) __m256i x86_dot_u8i8(__m256i acc, __m256i u, __m256i s)
{
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
    return _mm256_add_epi32(acc, p);
}

/* i16 pairs -> i32 lanes, added to acc */
static inline __attribute__((always_inline)) __m256i x86_madd_acc(__m256i acc, __m256i a, __m256i b)
{
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}

#include "engine/quant_x86.h"

void hr_quant_kernels_avx2(hr_quant_kernels *t)
{
    t->name = "avx2";
    x86_fill_table(t);
}
