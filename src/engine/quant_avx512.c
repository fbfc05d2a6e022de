/* AVX-512 level (F/BW/VL + VNNI): the x86 kernel bodies with vpdpbusd for
 * the u8 x s8 dot (one instruction, no i16 saturation). Selected only when
 * CPUID reports avx512f/bw/vl/vnni. */
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

#include <immintrin.h>

#include "engine/quant_impl.h"

static inline __attribute__((always_inline)) __m256i x86_dot_u8i8(__m256i acc, __m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(acc, u, s);
}

#include "engine/quant_x86.h"

void hr_quant_kernels_avx512(hr_quant_kernels *t)
{
    t->name = "avx512";
    x86_fill_table(t);
}
