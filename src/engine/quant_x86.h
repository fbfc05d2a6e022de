/* x86 kernel bodies shared by the AVX2 and AVX-512 levels (256-bit lanes).
 *
 * Included by quant_avx2.c and quant_avx512.c after a `#pragma GCC target`
 * and after the level defines its integer primitive:
 *   static inline __m256i x86_dot_u8i8(__m256i acc, __m256i u, __m256i s)
 *     -> acc + per-32-bit-lane sum of four u8*s8 products
 * (AVX2: maddubs + madd; AVX-512 VNNI: vpdpbusd, exact, no saturation), and
 *   static inline __m256i x86_madd_acc(__m256i acc, __m256i a, __m256i b)
 *     -> acc + per-32-bit-lane sum of the two i16 x i16 products
 * (AVX2: madd + add; AVX-512 VNNI: vpdpwssd).
 *
 * Every dot kernel computes one weight row against nc activation rows at once
 * (nc = 1 or 4, a compile-time constant after inlining) so a weight block is
 * loaded and unpacked once per nc activations. The integer sums equal the
 * reference exactly; only float accumulation order differs. */
#ifndef HR_ENGINE_QUANT_X86_H
#define HR_ENGINE_QUANT_X86_H

#include <immintrin.h>
#include <string.h>

#include "engine/quant_impl.h"

#define X86_INLINE static inline __attribute__((always_inline))
#define X86_NC 4 /* activation rows per weight pass */
/* Bytes ahead for software prefetch of streamed weights (n_batch 1). Short on
 * purpose: 2 KB ahead the lines are usually already in L2 (the hardware
 * streamer runs ahead of the stream), so the prefetch only pulls them into
 * L1. At 4 KB ahead the software prefetches outran the streamer and became
 * the demand stream themselves, each holding an L1 fill buffer for a whole
 * DRAM round trip: 1 GiB matvecs ran at 63-74% of the read bandwidth, at 2 KB
 * 90-100% (bench_kernels, huge pages, 1 and 2 threads). */
#define X86_PREFETCH 2048

X86_INLINE float x86_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

X86_INLINE int x86_hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

X86_INLINE float x86_fp16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 16 packed nibbles -> 32 bytes: low nibbles (elements 0..15) in the low
 * lane, high nibbles (16..31) in the high lane. */
X86_INLINE __m256i x86_nibbles32(const uint8_t *p)
{
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    b = _mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)); /* high lane: high nibbles */
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0x10 where bit j of the word is set (the 5th bit of a
 * q5 element). */
X86_INLINE __m256i x86_bits_to_0x10(const uint8_t *qh4)
{
    uint32_t bits;
    memcpy(&bits, qh4, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* signed x signed via |a| and sign-transferred b */
X86_INLINE __m256i x86_dot_i8i8(__m256i a, __m256i b)
{
    return x86_dot_u8i8(_mm256_setzero_si256(), _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* ---- float weights (activations F32) ------------------------------------ */

X86_INLINE __m256 x86_load_w_f32(const void *w, int64_t i)
{
    return _mm256_loadu_ps((const float *)w + i);
}
X86_INLINE __m256 x86_load_w_f16(const void *w, int64_t i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
X86_INLINE __m256 x86_load_w_bf16(const void *w, int64_t i)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
X86_INLINE float x86_scalar_f32(const void *w, int64_t i)
{
    return ((const float *)w)[i];
}
X86_INLINE float x86_scalar_f16(const void *w, int64_t i)
{
    return x86_fp16(((const uint16_t *)w)[i]);
}
X86_INLINE float x86_scalar_bf16(const void *w, int64_t i)
{
    return hr_bf16_to_fp32(((const uint16_t *)w)[i]);
}

typedef float x86_elt_f32;
typedef uint16_t x86_elt_f16;
typedef uint16_t x86_elt_bf16;

/* Two independent accumulators per activation row hide the FMA latency. */
#define X86_DOT_FLOAT(T)                                                                                         \
    X86_INLINE void dot_##T(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)       \
    {                                                                                                            \
        __m256 acc0[X86_NC], acc1[X86_NC];                                                                       \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();           \
        int64_t i = 0;                                                                                           \
        if (nc == 1) { /* one row: four chains to cover the FMA latency */                                       \
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();                                           \
            const float *xc = (const float *)x;                                                                  \
            for (; i + 32 <= k; i += 32) {                                                                       \
                _mm_prefetch((const char *)w + (i + 32) * (int64_t)sizeof(x86_elt_##T) + X86_PREFETCH, _MM_HINT_T0); \
                acc0[0] = _mm256_fmadd_ps(x86_load_w_##T(w, i), _mm256_loadu_ps(xc + i), acc0[0]);              \
                acc1[0] = _mm256_fmadd_ps(x86_load_w_##T(w, i + 8), _mm256_loadu_ps(xc + i + 8), acc1[0]);      \
                a2 = _mm256_fmadd_ps(x86_load_w_##T(w, i + 16), _mm256_loadu_ps(xc + i + 16), a2);              \
                a3 = _mm256_fmadd_ps(x86_load_w_##T(w, i + 24), _mm256_loadu_ps(xc + i + 24), a3);              \
            }                                                                                                    \
            acc0[0] = _mm256_add_ps(acc0[0], a2);                                                                \
            acc1[0] = _mm256_add_ps(acc1[0], a3);                                                                \
        }                                                                                                        \
        for (; i + 16 <= k; i += 16) {                                                                           \
            __m256 w0 = x86_load_w_##T(w, i), w1 = x86_load_w_##T(w, i + 8);                                     \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                 \
            {                                                                                                    \
                const float *xc = (const float *)(x + (size_t)c * xs);                                           \
                acc0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + i), acc0[c]);                                \
                acc1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + i + 8), acc1[c]);                            \
            }                                                                                                    \
        }                                                                                                        \
        for (; i + 8 <= k; i += 8) {                                                                             \
            __m256 w0 = x86_load_w_##T(w, i);                                                                    \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc0[c] =                                      \
                _mm256_fmadd_ps(w0, _mm256_loadu_ps((const float *)(x + (size_t)c * xs) + i), acc0[c]);         \
        }                                                                                                        \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                     \
        {                                                                                                        \
            const float *xc = (const float *)(x + (size_t)c * xs);                                               \
            float s = x86_hsum(_mm256_add_ps(acc0[c], acc1[c]));                                                 \
            for (int64_t j = i; j < k; j++)                                                                      \
                s += x86_scalar_##T(w, j) * xc[j];                                                               \
            out[c] = s;                                                                                          \
        }                                                                                                        \
    }

X86_DOT_FLOAT(f32)
X86_DOT_FLOAT(f16)
X86_DOT_FLOAT(bf16)

/* ---- 32-block types ----------------------------------------------------- */

/* The four i32x8 block sums s0..s3 -> their four totals as floats. */
X86_INLINE __m128 x86_reduce4(__m256i s0, __m256i s1, __m256i s2, __m256i s3)
{
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    return _mm_cvtepi32_ps(t);
}

X86_INLINE __m128 x86_fp16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d)
{
    return _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, (short)c, (short)d, 0, 0, 0, 0));
}

X86_INLINE float x86_hsum128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Block unpackers: 32 levels in element order. Symmetric types give signed
 * levels (q - offset), asymmetric ones unsigned levels. */
X86_INLINE __m256i x86_unpack_q8_0(const hr_block_q8_0 *b)
{
    return _mm256_loadu_si256((const __m256i *)b->qs);
}
X86_INLINE __m256i x86_unpack_q4_0(const hr_block_q4_0 *b)
{
    return _mm256_sub_epi8(x86_nibbles32(b->qs), _mm256_set1_epi8(8));
}
X86_INLINE __m256i x86_unpack_q5_0(const hr_block_q5_0 *b)
{
    return _mm256_sub_epi8(_mm256_or_si256(x86_nibbles32(b->qs), x86_bits_to_0x10(b->qh)), _mm256_set1_epi8(16));
}
X86_INLINE __m256i x86_unpack_q4_1(const hr_block_q4_1 *b)
{
    return x86_nibbles32(b->qs);
}
X86_INLINE __m256i x86_unpack_q5_1(const hr_block_q5_1 *b)
{
    return _mm256_or_si256(x86_nibbles32(b->qs), x86_bits_to_0x10(b->qh));
}

/* Symmetric types against q8_0. Four blocks per step: their integer sums are
 * reduced together and scaled by one 4-wide multiply, which halves the
 * per-block overhead of the scale conversions. */
#define X86_DOT_SYM(T)                                                                                           \
    X86_INLINE void dot_##T(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)       \
    {                                                                                                            \
        const hr_block_##T *a = w;                                                                               \
        const int64_t nb = k / HR_QK;                                                                            \
        __m128 acc[X86_NC];                                                                                      \
        float tail[X86_NC];                                                                                      \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm_setzero_ps(), tail[c] = 0.0f;          \
        int64_t i = 0;                                                                                           \
        for (; i + 4 <= nb; i += 4) {                                                                            \
            if (nc == 1) /* streaming: keep loads in flight ahead of the row */                                  \
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH, _MM_HINT_T0),                                   \
                    _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64, _MM_HINT_T0);                          \
            __m256i q[4], aq[4];                                                                                 \
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)                                                  \
            {                                                                                                    \
                q[u] = x86_unpack_##T(&a[i + u]);                                                                \
                aq[u] = _mm256_sign_epi8(q[u], q[u]);                                                            \
            }                                                                                                    \
            __m128 dw = x86_fp16x4(a[i].d, a[i + 1].d, a[i + 2].d, a[i + 3].d);                                 \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                 \
            {                                                                                                    \
                const hr_block_q8_0 *b = (const hr_block_q8_0 *)(x + (size_t)c * xs) + i;                        \
                __m256i s[4];                                                                                    \
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) s[u] = x86_dot_u8i8(                         \
                    _mm256_setzero_si256(), aq[u], _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)b[u].qs), \
                                                                    q[u]));                                      \
                __m128 dx = x86_fp16x4(b[0].d, b[1].d, b[2].d, b[3].d);                                         \
                acc[c] = _mm_fmadd_ps(_mm_mul_ps(dw, dx), x86_reduce4(s[0], s[1], s[2], s[3]), acc[c]);          \
            }                                                                                                    \
        }                                                                                                        \
        for (; i < nb; i++) {                                                                                    \
            __m256i q = x86_unpack_##T(&a[i]), aq = _mm256_sign_epi8(q, q);                                      \
            float d = x86_fp16(a[i].d);                                                                          \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                 \
            {                                                                                                    \
                const hr_block_q8_0 *b = (const hr_block_q8_0 *)(x + (size_t)c * xs) + i;                        \
                __m256i y = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)b->qs), q);                     \
                tail[c] += d * x86_fp16(b->d) * (float)x86_hsum_i32(x86_dot_u8i8(_mm256_setzero_si256(), aq, y)); \
            }                                                                                                    \
        }                                                                                                        \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = x86_hsum128(acc[c]) + tail[c];            \
    }

/* Asymmetric types (x = d*q + m) against q8_1 (s = d_x * sum(q_x)). */
#define X86_DOT_ASYM(T)                                                                                          \
    X86_INLINE void dot_##T(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)       \
    {                                                                                                            \
        const hr_block_##T *a = w;                                                                               \
        const int64_t nb = k / HR_QK;                                                                            \
        __m128 acc[X86_NC];                                                                                      \
        float tail[X86_NC];                                                                                      \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm_setzero_ps(), tail[c] = 0.0f;          \
        int64_t i = 0;                                                                                           \
        for (; i + 4 <= nb; i += 4) {                                                                            \
            if (nc == 1)                                                                                         \
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH, _MM_HINT_T0),                                   \
                    _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64, _MM_HINT_T0);                          \
            __m256i q[4];                                                                                        \
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) q[u] = x86_unpack_##T(&a[i + u]);               \
            __m128 dw = x86_fp16x4(a[i].d, a[i + 1].d, a[i + 2].d, a[i + 3].d);                                 \
            __m128 mw = x86_fp16x4(a[i].m, a[i + 1].m, a[i + 2].m, a[i + 3].m);                                 \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                 \
            {                                                                                                    \
                const hr_block_q8_1 *b = (const hr_block_q8_1 *)(x + (size_t)c * xs) + i;                        \
                __m256i s[4];                                                                                    \
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) s[u] =                                       \
                    x86_dot_u8i8(_mm256_setzero_si256(), q[u], _mm256_loadu_si256((const __m256i *)b[u].qs));  \
                __m128 dx = x86_fp16x4(b[0].d, b[1].d, b[2].d, b[3].d);                                         \
                __m128 sx = x86_fp16x4(b[0].s, b[1].s, b[2].s, b[3].s);                                         \
                acc[c] = _mm_fmadd_ps(mw, sx, acc[c]);                                                           \
                acc[c] = _mm_fmadd_ps(_mm_mul_ps(dw, dx), x86_reduce4(s[0], s[1], s[2], s[3]), acc[c]);          \
            }                                                                                                    \
        }                                                                                                        \
        for (; i < nb; i++) {                                                                                    \
            __m256i q = x86_unpack_##T(&a[i]);                                                                   \
            float d = x86_fp16(a[i].d), m = x86_fp16(a[i].m);                                                    \
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                                 \
            {                                                                                                    \
                const hr_block_q8_1 *b = (const hr_block_q8_1 *)(x + (size_t)c * xs) + i;                        \
                __m256i y = _mm256_loadu_si256((const __m256i *)b->qs);                                          \
                tail[c] += d * x86_fp16(b->d) * (float)x86_hsum_i32(x86_dot_u8i8(_mm256_setzero_si256(), q, y)) + \
                           m * x86_fp16(b->s);                                                                   \
            }                                                                                                    \
        }                                                                                                        \
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = x86_hsum128(acc[c]) + tail[c];            \
    }

X86_DOT_SYM(q8_0)
X86_DOT_SYM(q4_0)
X86_DOT_SYM(q5_0)
X86_DOT_ASYM(q4_1)
X86_DOT_ASYM(q5_1)

/* ---- K types (activations Q8_K) ----------------------------------------- */

/* Unpacks the 12-byte Q4_K/Q5_K scales: byte j of *sc / *mn is sub-block
 * j's scale / min (kept in registers: byte stores read back as one 8-byte
 * load would miss store forwarding). */
X86_INLINE void x86_k4_scales(const uint8_t *s, uint64_t *sc, uint64_t *mn)
{
    uint32_t s0, s1, s2;
    memcpy(&s0, s, 4);
    memcpy(&s1, s + 4, 4);
    memcpy(&s2, s + 8, 4);
    uint32_t a = s0 & 0x3f3f3f3fu, b = (s2 & 0x0f0f0f0fu) | ((s0 >> 2) & 0x30303030u);
    uint32_t c = s1 & 0x3f3f3f3fu, d = ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 2) & 0x30303030u);
    *sc = (uint64_t)a | (uint64_t)b << 32;
    *mn = (uint64_t)c | (uint64_t)d << 32;
}

/* The eight scales as i16 in both 128-bit lanes; x86_scale_j picks scale j
 * into every i16 lane with one byte shuffle. */
X86_INLINE __m256i x86_k4_scale_vec(uint64_t sc)
{
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
}
X86_INLINE __m256i x86_scale_j(__m256i scv, int j)
{
    return _mm256_shuffle_epi8(scv, _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j))));
}

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]) */
X86_INLINE int x86_k4_min_sum(uint64_t m8, const int16_t *bsums)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)bsums), hi = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i pair = _mm_hadd_epi16(lo, hi); /* 8 sums of 32 */
    __m128i m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
    __m128i p = _mm_madd_epi16(pair, m);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
    return _mm_cvtsi128_si32(p);
}

/* u8 levels (< 64) times q8 times a per-32 scale (i16 in every lane of
 * scale), accumulated in i32 lanes */
X86_INLINE __m256i x86_scaled_dot(__m256i acc, __m256i q, const int8_t *y, __m256i scale)
{
    __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
    return x86_madd_acc(acc, p, scale);
}

X86_INLINE void dot_q4_K(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)
{
    const hr_block_q4_K *a = w;
    __m256 acc[X86_NC];
    float macc[X86_NC];
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps(), macc[c] = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        uint64_t sc, mn;
        if (nc == 1) { /* streaming: keep loads in flight ahead of the row (into the next rows) */
            _mm_prefetch((const char *)&a[i] + X86_PREFETCH, _MM_HINT_T0);
            _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 128, _MM_HINT_T0);
        }
        x86_k4_scales(a[i].scales, &sc, &mn);
        const __m256i scv = x86_k4_scale_vec(sc);
        float d = x86_fp16(a[i].d), dmin = x86_fp16(a[i].dmin);
        /* one row: four independent chains (vpdpwssd has 5 cycles latency) */
        const int ch = nc == 1 ? 4 : 1;
        __m256i sum[4][X86_NC];
        _Pragma("GCC unroll 4") for (int u = 0; u < ch; u++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            sum[u][c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            const int u0 = ch == 4 ? 2 * (j & 1) : 0, u1 = ch == 4 ? u0 + 1 : 0;
            const __m256i s0 = x86_scale_j(scv, 2 * j), s1 = x86_scale_j(scv, 2 * j + 1);
            __m256i b = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * j));
            __m256i lo = _mm256_and_si256(b, m4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const int8_t *y = ((const hr_block_q8_K *)(x + (size_t)c * xs))[i].qs + 64 * j;
                sum[u0][c] = x86_scaled_dot(sum[u0][c], lo, y, s0);
                sum[u1][c] = x86_scaled_dot(sum[u1][c], hi, y + 32, s1);
            }
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        {
            const hr_block_q8_K *b = (const hr_block_q8_K *)(x + (size_t)c * xs) + i;
            __m256i t = sum[0][c];
            if (ch == 4)
                t = _mm256_add_epi32(_mm256_add_epi32(t, sum[1][c]), _mm256_add_epi32(sum[2][c], sum[3][c]));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(t), acc[c]);
            macc[c] += dmin * b->d * (float)x86_k4_min_sum(mn, b->bsums);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = x86_hsum(acc[c]) - macc[c];
}

X86_INLINE void dot_q5_K(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)
{
    const hr_block_q5_K *a = w;
    __m256 acc[X86_NC];
    float macc[X86_NC];
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps(), macc[c] = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(0x01);
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        uint64_t sc, mn;
        if (nc == 1)
            for (int p = 0; p < 3; p++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * p, _MM_HINT_T0);
        x86_k4_scales(a[i].scales, &sc, &mn);
        const __m256i scv = x86_k4_scale_vec(sc);
        float d = x86_fp16(a[i].d), dmin = x86_fp16(a[i].dmin);
        __m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
        /* one row: four independent chains (vpdpwssd has 5 cycles latency) */
        const int ch = nc == 1 ? 4 : 1;
        __m256i sum[4][X86_NC];
        _Pragma("GCC unroll 4") for (int u = 0; u < ch; u++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            sum[u][c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            const int u0 = ch == 4 ? 2 * (j & 1) : 0, u1 = ch == 4 ? u0 + 1 : 0;
            const __m256i s0 = x86_scale_j(scv, 2 * j), s1 = x86_scale_j(scv, 2 * j + 1);
            __m256i b = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * j));
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), m1), 4);
            __m256i h1 =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), m1), 4);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(b, m4), h0);
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), h1);
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const int8_t *y = ((const hr_block_q8_K *)(x + (size_t)c * xs))[i].qs + 64 * j;
                sum[u0][c] = x86_scaled_dot(sum[u0][c], lo, y, s0);
                sum[u1][c] = x86_scaled_dot(sum[u1][c], hi, y + 32, s1);
            }
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        {
            const hr_block_q8_K *b = (const hr_block_q8_K *)(x + (size_t)c * xs) + i;
            __m256i t = sum[0][c];
            if (ch == 4)
                t = _mm256_add_epi32(_mm256_add_epi32(t, sum[1][c]), _mm256_add_epi32(sum[2][c], sum[3][c]));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(t), acc[c]);
            macc[c] += dmin * b->d * (float)x86_k4_min_sum(mn, b->bsums);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = x86_hsum(acc[c]) - macc[c];
}

/* q6_K: levels q in [0, 63] stand for q - 32; the -32 part is folded into
 * the activation block sums: sum sc*(q-32)*y = sum sc*q*y - 32 sum sc*bsum. */
X86_INLINE __m256i x86_q6_dot(__m256i acc, __m256i q, const int8_t *y, int s0, int s1)
{
    __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
    __m256i s = _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
    return x86_madd_acc(acc, p, s);
}

X86_INLINE void dot_q6_K(const void *w, const char *x, size_t xs, int64_t k, float *out, const int nc)
{
    const hr_block_q6_K *a = w;
    __m256 acc[X86_NC];
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        const int8_t *sc = a[i].scales;
        if (nc == 1)
            for (int p = 0; p < 4; p++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * p, _MM_HINT_T0);
        float d = x86_fp16(a[i].d);
        const int ch = nc == 1 ? 4 : 1; /* one row: four independent chains */
        __m256i sum[4][X86_NC];
        _Pragma("GCC unroll 4") for (int u = 0; u < ch; u++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            sum[u][c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
            const int8_t *s = sc + 8 * h;
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const int8_t *y = ((const hr_block_q8_K *)(x + (size_t)c * xs))[i].qs + 128 * h;
                sum[0][c] = x86_q6_dot(sum[0][c], q0, y, s[0], s[1]);
                sum[ch == 4 ? 1 : 0][c] = x86_q6_dot(sum[ch == 4 ? 1 : 0][c], q1, y + 32, s[2], s[3]);
                sum[ch == 4 ? 2 : 0][c] = x86_q6_dot(sum[ch == 4 ? 2 : 0][c], q2, y + 64, s[4], s[5]);
                sum[ch == 4 ? 3 : 0][c] = x86_q6_dot(sum[ch == 4 ? 3 : 0][c], q3, y + 96, s[6], s[7]);
            }
        }
        __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        {
            const hr_block_q8_K *b = (const hr_block_q8_K *)(x + (size_t)c * xs) + i;
            __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), scv);
            __m256i t = sum[0][c];
            if (ch == 4)
                t = _mm256_add_epi32(_mm256_add_epi32(t, sum[1][c]), _mm256_add_epi32(sum[2][c], sum[3][c]));
            __m256i tot = _mm256_sub_epi32(t, _mm256_slli_epi32(bs, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(tot), acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = x86_hsum(acc[c]);
}

/* ---- row-range driver --------------------------------------------------- */

typedef void (*x86_dot_fn)(const void *w, const char *x, size_t xs, int64_t k, float *out);

/* Rows are processed in tiles; within a tile every group of X86_NC
 * activation rows passes over the tile's weights, which stay in L1/L2, so
 * each weight byte comes from memory once. n_batch == 1 is a plain stream. */
#define X86_ROW_TILE 16

static void x86_matmul(x86_dot_fn dot1, x86_dot_fn dot2, x86_dot_fn dot3, x86_dot_fn dotn, const void *w, size_t ws,
                       int64_t k, int64_t r0, int64_t r1, const void *xq, size_t xs, int n_batch, float *y, int64_t ldy)
{
    const char *wb = w, *xb = xq;
    float o[X86_NC];
    /* the 1-3 rows left after groups of X86_NC share one pass too (attention
     * has 3 query rows per KV head on SmolLM2: one call, not three) */
    _Static_assert(X86_NC == 4, "tail[] covers the 1-3 leftover rows");
    x86_dot_fn tail[X86_NC] = {NULL, dot1, dot2, dot3};
    for (int64_t t0 = r0; t0 < r1; t0 += X86_ROW_TILE) {
        int64_t t1 = t0 + X86_ROW_TILE < r1 ? t0 + X86_ROW_TILE : r1;
        int b = 0;
        for (; b + X86_NC <= n_batch; b += X86_NC) {
            for (int64_t r = t0; r < t1; r++) {
                dotn(wb + (size_t)r * ws, xb + (size_t)b * xs, xs, k, o);
                for (int c = 0; c < X86_NC; c++)
                    y[(b + c) * ldy + r] = o[c];
            }
        }
        int rem = n_batch - b;
        if (rem > 0)
            for (int64_t r = t0; r < t1; r++) {
                tail[rem](wb + (size_t)r * ws, xb + (size_t)b * xs, xs, k, o);
                for (int c = 0; c < rem; c++)
                    y[(b + c) * ldy + r] = o[c];
            }
    }
}

#define X86_MATMUL(T)                                                                                           \
    static void dot1_##T(const void *w, const char *x, size_t xs, int64_t k, float *out)                       \
    {                                                                                                           \
        dot_##T(w, x, xs, k, out, 1);                                                                           \
    }                                                                                                           \
    static void dot2_##T(const void *w, const char *x, size_t xs, int64_t k, float *out)                       \
    {                                                                                                           \
        dot_##T(w, x, xs, k, out, 2);                                                                           \
    }                                                                                                           \
    static void dot3_##T(const void *w, const char *x, size_t xs, int64_t k, float *out)                       \
    {                                                                                                           \
        dot_##T(w, x, xs, k, out, 3);                                                                           \
    }                                                                                                           \
    static void dotn_##T(const void *w, const char *x, size_t xs, int64_t k, float *out)                       \
    {                                                                                                           \
        dot_##T(w, x, xs, k, out, X86_NC);                                                                      \
    }                                                                                                           \
    static void matmul_##T(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq, size_t xs, \
                           int n_batch, float *y, int64_t ldy)                                                  \
    {                                                                                                           \
        x86_matmul(dot1_##T, dot2_##T, dot3_##T, dotn_##T, w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);         \
    }

X86_MATMUL(f32)
X86_MATMUL(f16)
X86_MATMUL(bf16)
X86_MATMUL(q8_0)
X86_MATMUL(q4_0)
X86_MATMUL(q5_0)
X86_MATMUL(q4_1)
X86_MATMUL(q5_1)
X86_MATMUL(q4_K)
X86_MATMUL(q5_K)
X86_MATMUL(q6_K)

/* ---- activation quantizers (same arithmetic as the reference) ----------- */

/* 32 floats -> 32 int8 (round half to even, as lrintf); returns amax. */
X86_INLINE float x86_absmax(const float *x, int n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

X86_INLINE __m256i x86_round32(const float *x, float id)
{
    const __m256 v = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), v));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), v));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), v));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), v));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void quantize_q8_0(const float *x, void *vy, int64_t k)
{
    hr_block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / HR_QK; i++, x += HR_QK) {
        float d = x86_absmax(x, HR_QK) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = hr_fp32_to_fp16(d);
        _mm256_storeu_si256((__m256i *)y[i].qs, x86_round32(x, id));
    }
}

static void quantize_q8_1(const float *x, void *vy, int64_t k)
{
    hr_block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / HR_QK; i++, x += HR_QK) {
        float d = x86_absmax(x, HR_QK) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        __m256i q = x86_round32(x, id);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
        __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
        int sum = x86_hsum_i32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        y[i].d = hr_fp32_to_fp16(d);
        y[i].s = hr_fp32_to_fp16(d * (float)sum);
    }
}

static void quantize_q8_K(const float *x, void *vy, int64_t k)
{
    hr_block_q8_K *y = vy;
    for (int64_t i = 0; i < k / HR_QK_K; i++, x += HR_QK_K) {
        float d = x86_absmax(x, HR_QK_K) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = d;
        for (int j = 0; j < HR_QK_K / 32; j++) {
            __m256i q = x86_round32(x + 32 * j, id);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * j), q);
            /* per-16 sums: i8 -> i16 pairs -> lanes of 4 ... */
            __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
            __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); /* 8 sums of 4 */
            __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
            __m128i h = _mm_hadd_epi32(lo, hi); /* 4 sums of 8 */
            h = _mm_hadd_epi32(h, h);           /* sums of 16: [0..15], [16..31] */
            y[i].bsums[2 * j] = (int16_t)_mm_cvtsi128_si32(h);
            y[i].bsums[2 * j + 1] = (int16_t)_mm_extract_epi32(h, 1);
        }
    }
}

/* Fills the table with everything above. */
X86_INLINE void x86_fill_table(hr_quant_kernels *t)
{
    t->matmul[HR_TYPE_F32] = matmul_f32;
    t->matmul[HR_TYPE_F16] = matmul_f16;
    t->matmul[HR_TYPE_BF16] = matmul_bf16;
    t->matmul[HR_TYPE_Q8_0] = matmul_q8_0;
    t->matmul[HR_TYPE_Q4_0] = matmul_q4_0;
    t->matmul[HR_TYPE_Q5_0] = matmul_q5_0;
    t->matmul[HR_TYPE_Q4_1] = matmul_q4_1;
    t->matmul[HR_TYPE_Q5_1] = matmul_q5_1;
    t->matmul[HR_TYPE_Q4_K] = matmul_q4_K;
    t->matmul[HR_TYPE_Q5_K] = matmul_q5_K;
    t->matmul[HR_TYPE_Q6_K] = matmul_q6_K;
    t->quantize[HR_TYPE_Q8_0] = quantize_q8_0;
    t->quantize[HR_TYPE_Q8_1] = quantize_q8_1;
    t->quantize[HR_TYPE_Q8_K] = quantize_q8_K;
}

#endif
