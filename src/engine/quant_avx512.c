/* AVX-512 level (F/BW/VL + VNNI): the x86 kernel bodies with vpdpbusd for
 * the u8 x s8 dot (one instruction, no i16 saturation). Selected only when
 * CPUID reports avx512f/bw/vl/vnni. */
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

#include <immintrin.h>

#include <stdalign.h>
#include <string.h>

#include "engine/quant_impl.h"

static inline __attribute__((always_inline)) __m256i x86_dot_u8i8(__m256i acc, __m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(acc, u, s);
}

static inline __attribute__((always_inline)) __m256i x86_madd_acc(__m256i acc, __m256i a, __m256i b)
{
    return _mm256_dpwssd_epi32(acc, a, b);
}

#include "engine/quant_x86.h"

/* Few-rows kernels below take activation rows in groups of at most 4, each
 * weight block unpacked once per group; 5 rows go as 3 + 2, not 4 + 1. */
#define X86_GROUP_MAX 4
X86_INLINE int x86_row_group(int left)
{
    return left <= X86_GROUP_MAX ? left : left == X86_GROUP_MAX + 1 ? 3 : X86_GROUP_MAX;
}

/* ---- 512-bit Q6_K kernel -------------------------------------------------
 * A zmm holds 64 levels = four 16-element sub-blocks with contiguous
 * activations, so the 256-bit work per chunk halves; per-sub-block scales are
 * spread over the i16 products with one permute. (A zmm Q4_K variant measured
 * slower than the 256-bit one on this CPU, so Q4_K/Q5_K keep the shared
 * kernels.) */

/* Sum of i16 products p (32 lanes) times scales scv (i16, same layout), added
 * to i32 lanes. */
static inline __attribute__((always_inline)) __m512i z_scaled(__m512i acc, __m512i q, const int8_t *y, __m512i scv)
{
    __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512((const void *)y));
    return _mm512_dpwssd_epi32(acc, p, scv);
}

static inline __attribute__((always_inline)) float z_hsum(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}

static inline __attribute__((always_inline)) void dot_q6_K_z(const void *w, const char *x, size_t xs, int64_t k,
                                                             float *out, const int nc)
{
    const hr_block_q6_K *a = w;
    __m512 acc[X86_NC];
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x03);
    /* qh bits for [elements 0..31 | 32..63] and [64..95 | 96..127] */
    const __m512i sh01 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2), sh23 = _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6);
    /* i16 product lane -> sub-block: 8 lanes per sub-block of 16 */
    const __m512i idx_lo = _mm512_setr_epi64(0x0000000000000000ll, 0x0000000000000000ll, 0x0001000100010001ll,
                                             0x0001000100010001ll, 0x0002000200020002ll, 0x0002000200020002ll,
                                             0x0003000300030003ll, 0x0003000300030003ll);
    const __m512i four = _mm512_set1_epi16(4);
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        if (nc == 1) /* streaming: keep loads in flight ahead of the row */
            for (int p = 0; p < 4; p++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * p, _MM_HINT_T0);
        float d = x86_fp16(a[i].d);
        __m512i sc16 = _mm512_cvtepi8_epi16(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a[i].scales)));
        /* one row: two more chains (vpdpwssd latency) */
        __m512i sum[X86_NC], sum2[X86_NC];
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) sum[c] = sum2[c] = _mm512_setzero_si512();
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m512i l = _mm512_loadu_si512((const void *)(a[i].ql + 64 * h));
            __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
            __m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh01), m3), 4));
            __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh23), m3), 4));
            __m512i i01 = _mm512_add_epi16(idx_lo, _mm512_set1_epi16((short)(8 * h)));
            __m512i s01 = _mm512_permutexvar_epi16(i01, sc16);
            __m512i s23 = _mm512_permutexvar_epi16(_mm512_add_epi16(i01, four), sc16);
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const int8_t *y = ((const hr_block_q8_K *)(x + (size_t)c * xs))[i].qs + 128 * h;
                sum[c] = z_scaled(sum[c], q01, y, s01);
                if (nc == 1)
                    sum2[c] = z_scaled(sum2[c], q23, y + 64, s23);
                else
                    sum[c] = z_scaled(sum[c], q23, y + 64, s23);
            }
        }
        __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        {
            const hr_block_q8_K *b = (const hr_block_q8_K *)(x + (size_t)c * xs) + i;
            __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), scv);
            __m512i t = nc == 1 ? _mm512_add_epi32(sum[c], sum2[c]) : sum[c];
            __m512i tot = _mm512_sub_epi32(t, _mm512_zextsi256_si512(_mm256_slli_epi32(bs, 5)));
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * b->d), _mm512_cvtepi32_ps(tot), acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) out[c] = z_hsum(acc[c]);
}

X86_MATMUL(q6_K_z)

/* Generation (one activation row): nr (1 or 2) weight rows at w and w + dist
 * (two streams, see SYMN_KERNEL), two accumulator chains per row. Kept apart
 * from q6zn_rows for one row: interleaving the unpacking with the dots reads
 * ~5% faster from memory (alternating runs: 17.3 against 16.5 GB/s on one
 * thread, 35.4 against 33.5 on two); for Q8_0/Q5_0/Q4_K the few-rows kernels
 * with one row measured the same as their old one-row copies. */
X86_INLINE void q6z_rows(const char *w, size_t dist, const hr_block_q8_K *x, int64_t nsb, float *out, const int nr)
{
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x03);
    const __m512i sh01 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2), sh23 = _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i idx_lo = _mm512_setr_epi64(0x0000000000000000ll, 0x0000000000000000ll, 0x0001000100010001ll,
                                             0x0001000100010001ll, 0x0002000200020002ll, 0x0002000200020002ll,
                                             0x0003000300030003ll, 0x0003000300030003ll);
    const __m512i four = _mm512_set1_epi16(4);
    for (int64_t i = 0; i < nsb; i++) {
        const hr_block_q8_K *b = &x[i];
        _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++)
        {
            const hr_block_q6_K *a = (const hr_block_q6_K *)(w + (size_t)s * dist);
            for (int p = 0; p < 4; p++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * p, _MM_HINT_T0);
            __m512i sc16 =
                _mm512_cvtepi8_epi16(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a[i].scales)));
            __m512i sum = _mm512_setzero_si512(), sum2 = _mm512_setzero_si512();
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
            {
                __m512i l = _mm512_loadu_si512((const void *)(a[i].ql + 64 * h));
                __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
                __m512i q01 = _mm512_or_si512(
                    _mm512_and_si512(l, m4), _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh01), m3), 4));
                __m512i q23 =
                    _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh23), m3), 4));
                __m512i i01 = _mm512_add_epi16(idx_lo, _mm512_set1_epi16((short)(8 * h)));
                const int8_t *y = b->qs + 128 * h;
                sum = z_scaled(sum, q01, y, _mm512_permutexvar_epi16(i01, sc16));
                sum2 = z_scaled(sum2, q23, y + 64, _mm512_permutexvar_epi16(_mm512_add_epi16(i01, four), sc16));
            }
            __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
            __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), scv);
            __m512i t = _mm512_add_epi32(sum, sum2);
            __m512i tot = _mm512_sub_epi32(t, _mm512_zextsi256_si512(_mm256_slli_epi32(bs, 5)));
            acc[s] = _mm512_fmadd_ps(_mm512_set1_ps(x86_fp16(a[i].d) * b->d), _mm512_cvtepi32_ps(tot), acc[s]);
        }
    }
    for (int s = 0; s < nr; s++)
        out[s] = z_hsum(acc[s]);
}

/* The same for NC (2-4) activation rows: each super-block is unpacked once
 * (6-bit levels, scales) and dotted with every row. */
#define Q6N_MAX X86_GROUP_MAX
X86_INLINE void q6zn_rows(const char *w, size_t dist, const char *x, size_t xs, int64_t nsb, float out[2][Q6N_MAX],
                          const int nr, const int nc)
{
    __m512 acc[2][Q6N_MAX];
    _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        acc[s][c] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x03);
    const __m512i sh01 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2), sh23 = _mm512_setr_epi64(4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i idx_lo = _mm512_setr_epi64(0x0000000000000000ll, 0x0000000000000000ll, 0x0001000100010001ll,
                                             0x0001000100010001ll, 0x0002000200020002ll, 0x0002000200020002ll,
                                             0x0003000300030003ll, 0x0003000300030003ll);
    const __m512i four = _mm512_set1_epi16(4);
    for (int64_t i = 0; i < nsb; i++) {
        _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++)
        {
            const hr_block_q6_K *a = (const hr_block_q6_K *)(w + (size_t)s * dist);
            for (int p = 0; p < 4; p++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * p, _MM_HINT_T0);
            __m512i sc16 =
                _mm512_cvtepi8_epi16(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a[i].scales)));
            __m512i q01[2], q23[2], s01[2], s23[2];
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
            {
                __m512i l = _mm512_loadu_si512((const void *)(a[i].ql + 64 * h));
                __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
                q01[h] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                         _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh01), m3), 4));
                q23[h] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                         _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi64(hb, sh23), m3), 4));
                __m512i i01 = _mm512_add_epi16(idx_lo, _mm512_set1_epi16((short)(8 * h)));
                s01[h] = _mm512_permutexvar_epi16(i01, sc16);
                s23[h] = _mm512_permutexvar_epi16(_mm512_add_epi16(i01, four), sc16);
            }
            __m256i scv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
            float d = x86_fp16(a[i].d);
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const hr_block_q8_K *b = (const hr_block_q8_K *)(x + (size_t)c * xs) + i;
                __m512i sum = _mm512_setzero_si512(), sum2 = _mm512_setzero_si512();
                _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
                {
                    sum = z_scaled(sum, q01[h], b->qs + 128 * h, s01[h]);
                    sum2 = z_scaled(sum2, q23[h], b->qs + 128 * h + 64, s23[h]);
                }
                __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), scv);
                __m512i tot = _mm512_sub_epi32(_mm512_add_epi32(sum, sum2),
                                               _mm512_zextsi256_si512(_mm256_slli_epi32(bs, 5)));
                acc[s][c] = _mm512_fmadd_ps(_mm512_set1_ps(d * b->d), _mm512_cvtepi32_ps(tot), acc[s][c]);
            }
        }
    }
    for (int s = 0; s < nr; s++)
        for (int c = 0; c < nc; c++) out[s][c] = z_hsum(acc[s][c]);
}

X86_INLINE void q6zn_range(const char *wb, size_t ws, int64_t r0, int64_t r1, const char *xq, size_t xs, int64_t nsb,
                           float *y, int64_t ldy, const int nc)
{
    int64_t h = (r1 - r0) / 2; /* rows r and r + h together: two streams */
    float o[2][Q6N_MAX];
    for (int64_t r = r0; r < r0 + h; r++) {
        q6zn_rows(wb + (size_t)r * ws, (size_t)h * ws, xq, xs, nsb, o, 2, nc);
        for (int c = 0; c < nc; c++) y[c * ldy + r] = o[0][c], y[c * ldy + r + h] = o[1][c];
    }
    if ((r1 - r0) & 1) {
        q6zn_rows(wb + (size_t)(r1 - 1) * ws, 0, xq, xs, nsb, o, 1, nc);
        for (int c = 0; c < nc; c++) y[c * ldy + r1 - 1] = o[0][c];
    }
}

#define Q6N_ROWS 15 /* 2..15 activation rows: groups of up to Q6N_MAX (AMX tiles from 16) */

static void matmul_q6_K_z1(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq, size_t xs,
                           int n_batch, float *y, int64_t ldy)
{
    int64_t nsb = k / HR_QK_K;
    if (n_batch == 1) {
        const char *wb = w;
        int64_t h = (r1 - r0) / 2; /* rows r and r + h together */
        float o[2];
        for (int64_t r = r0; r < r0 + h; r++) {
            q6z_rows(wb + (size_t)r * ws, (size_t)h * ws, xq, nsb, o, 2);
            y[r] = o[0], y[r + h] = o[1];
        }
        if ((r1 - r0) & 1) {
            q6z_rows(wb + (size_t)(r1 - 1) * ws, 0, xq, nsb, o, 1);
            y[r1 - 1] = o[0];
        }
        return;
    }
    if (n_batch > Q6N_ROWS) {
        matmul_q6_K_z(w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);
        return;
    }
    for (int c0 = 0; c0 < n_batch;) {
        int nc = x86_row_group(n_batch - c0);
        const char *xc = (const char *)xq + (size_t)c0 * xs;
        float *yc = y + (int64_t)c0 * ldy;
        switch (nc) {
        case 1: q6zn_range(w, ws, r0, r1, xc, xs, nsb, yc, ldy, 1); break;
        case 2: q6zn_range(w, ws, r0, r1, xc, xs, nsb, yc, ldy, 2); break;
        case 3: q6zn_range(w, ws, r0, r1, xc, xs, nsb, yc, ldy, 3); break;
        default: q6zn_range(w, ws, r0, r1, xc, xs, nsb, yc, ldy, 4); break;
        }
        c0 += nc;
    }
}

/* ---- one activation row, 32-block symmetric types (q8_0, q4_0, q5_0) -----
 * Generation's matvec. The weight levels are taken unsigned (q + offset:
 * q4_0 nibbles, q5_0 5-bit values, q8_0 bytes ^ 0x80) so vpdpbusd needs no
 * sign juggling; the offset times the activation sums is subtracted by
 * starting each block's accumulator at -offset * (sums of 4 levels), and
 * the activation scales are converted to float, both once per call. */

#define SYM1_MAX_BLOCKS 512 /* k up to 16384; longer rows use the shared kernel */

typedef struct {
    alignas(32) int32_t corr[SYM1_MAX_BLOCKS][8]; /* -offset * sums of 4 activation levels */
    float dx[SYM1_MAX_BLOCKS];
} sym1_act;

static void sym1_prepare(const hr_block_q8_0 *x, int64_t nb, int offset, sym1_act *a)
{
    const __m256i off = _mm256_set1_epi8((char)offset);
    for (int64_t i = 0; i < nb; i++) {
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, _mm256_loadu_si256((const __m256i *)x[i].qs));
        _mm256_store_si256((__m256i *)a->corr[i], _mm256_sub_epi32(_mm256_setzero_si256(), s));
        a->dx[i] = x86_fp16(x[i].d);
    }
}

X86_INLINE __m256i sym1_u_q8_0(const hr_block_q8_0 *b)
{
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}
X86_INLINE __m256i sym1_u_q4_0(const hr_block_q4_0 *b)
{
    return x86_nibbles32(b->qs);
}
X86_INLINE __m256i sym1_u_q5_0(const hr_block_q5_0 *b)
{
    uint32_t bits;
    memcpy(&bits, b->qh, 4);
    __m256i q = x86_nibbles32(b->qs);
    return _mm256_mask_add_epi8(q, _cvtu32_mask32(bits), q, _mm256_set1_epi8(0x10));
}

/* ---- one or a few activation rows, 32-block symmetric types ----------------
 * Generation and a few sequences decoding together (continuous batching):
 * each weight block is loaded and offset once and feeds up to SYMN_MAX
 * activation rows, each with its own prepared corrections and scales
 * (sym1_prepare); more rows go in groups. The shared kernel pays a sign per
 * activation row and block and ran below the matvec's speed per row for 2-4
 * rows (q4_0/q5_0: 0.5-0.95 of n separate matvecs); the AMX tiles pay fixed
 * scaling work per 16-row tile.
 *
 * nr (1 or 2) weight rows at w and w + dist go together: two rows far apart
 * (two halves of the caller's range) are two sequential streams, and the
 * hardware prefetcher keeps more lines in flight for two than for one, so one
 * core reads ~10% more per second (a 1 GiB q8_0 matvec on one thread: 15.5 ->
 * 17.0 GB/s, about what a plain read loop gets). */

#define SYMN_MAX X86_GROUP_MAX

#define SYMN_KERNEL(T, OFFSET)                                                                                     \
    X86_INLINE void symn_rows_##T(const char *w, size_t dist, const char *x, size_t xs, const sym1_act *p,         \
                                  int64_t nb, float out[2][SYMN_MAX], const int nr, const int nc)                  \
    {                                                                                                              \
        __m128 acc[2][SYMN_MAX];                                                                                   \
        float tail[2][SYMN_MAX];                                                                                   \
        _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++) \
            acc[s][c] = _mm_setzero_ps(),                                                                          \
            tail[s][c] = 0.0f;                                                                                     \
        int64_t i = 0;                                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                                              \
            _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++)                                                   \
            {                                                                                                      \
                const hr_block_##T *a = (const hr_block_##T *)(w + (size_t)s * dist);                              \
                for (int pf = 0; pf < (4 * (int)sizeof(hr_block_##T) + 63) / 64; pf++)                             \
                    _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * pf, _MM_HINT_T0);                      \
                __m256i u[4];                                                                                      \
                _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) u[v] = sym1_u_##T(&a[i + v]);                  \
                __m128 dw = x86_fp16x4(a[i].d, a[i + 1].d, a[i + 2].d, a[i + 3].d);                               \
                _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)                                               \
                {                                                                                                  \
                    const hr_block_q8_0 *b = (const hr_block_q8_0 *)(x + (size_t)c * xs);                          \
                    __m256i d4[4];                                                                                 \
                    _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) d4[v] = _mm256_dpbusd_epi32(               \
                        _mm256_load_si256((const __m256i *)p[c].corr[i + v]), u[v],                               \
                        _mm256_loadu_si256((const __m256i *)b[i + v].qs));                                         \
                    __m128 d = _mm_mul_ps(dw, _mm_loadu_ps(p[c].dx + i));                                          \
                    acc[s][c] = _mm_fmadd_ps(d, x86_reduce4(d4[0], d4[1], d4[2], d4[3]), acc[s][c]);               \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        for (; i < nb; i++)                                                                                        \
            for (int s = 0; s < nr; s++) {                                                                         \
                const hr_block_##T *a = (const hr_block_##T *)(w + (size_t)s * dist);                              \
                __m256i u = sym1_u_##T(&a[i]);                                                                     \
                for (int c = 0; c < nc; c++) {                                                                     \
                    const hr_block_q8_0 *b = (const hr_block_q8_0 *)(x + (size_t)c * xs);                          \
                    __m256i t = _mm256_dpbusd_epi32(_mm256_load_si256((const __m256i *)p[c].corr[i]), u,          \
                                                    _mm256_loadu_si256((const __m256i *)b[i].qs));                 \
                    tail[s][c] += x86_fp16(a[i].d) * p[c].dx[i] * (float)x86_hsum_i32(t);                          \
                }                                                                                                  \
            }                                                                                                      \
        for (int s = 0; s < nr; s++)                                                                               \
            for (int c = 0; c < nc; c++) out[s][c] = x86_hsum128(acc[s][c]) + tail[s][c];                         \
    }                                                                                                              \
    X86_INLINE void symn_range_##T(const char *wb, size_t ws, int64_t r0, int64_t r1, const char *xq, size_t xs,  \
                                   const sym1_act *p, int64_t nb, float *y, int64_t ldy, const int nc)             \
    {                                                                                                              \
        int64_t h = (r1 - r0) / 2; /* rows r and r + h together: two streams */                                    \
        float o[2][SYMN_MAX];                                                                                      \
        for (int64_t r = r0; r < r0 + h; r++) {                                                                    \
            symn_rows_##T(wb + (size_t)r * ws, (size_t)h * ws, xq, xs, p, nb, o, 2, nc);                           \
            for (int c = 0; c < nc; c++) y[c * ldy + r] = o[0][c], y[c * ldy + r + h] = o[1][c];                  \
        }                                                                                                          \
        if ((r1 - r0) & 1) {                                                                                       \
            symn_rows_##T(wb + (size_t)(r1 - 1) * ws, 0, xq, xs, p, nb, o, 1, nc);                                 \
            for (int c = 0; c < nc; c++) y[c * ldy + r1 - 1] = o[0][c];                                            \
        }                                                                                                          \
    }                                                                                                              \
    /* 1..SYMN_SMALL rows: groups of at most SYMN_MAX */                                                         \
    static void matmul_small_##T(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq,      \
                                 size_t xs, int n_batch, float *y, int64_t ldy)                                    \
    {                                                                                                              \
        int64_t nb = k / HR_QK;                                                                                    \
        if (n_batch > SYMN_SMALL || nb > SYM1_MAX_BLOCKS) {                                                        \
            matmul_##T(w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);                                                 \
            return;                                                                                                \
        }                                                                                                          \
        for (int c0 = 0; c0 < n_batch;) {                                                                          \
            int nc = x86_row_group(n_batch - c0);                                                                  \
            sym1_act p[SYMN_MAX];                                                                                  \
            const char *xc = (const char *)xq + (size_t)c0 * xs;                                                   \
            for (int c = 0; c < nc; c++)                                                                           \
                sym1_prepare((const hr_block_q8_0 *)(xc + (size_t)c * xs), nb, OFFSET, &p[c]);                     \
            float *yc = y + (int64_t)c0 * ldy;                                                                     \
            switch (nc) {                                                                                          \
            case 1: symn_range_##T(w, ws, r0, r1, xc, xs, p, nb, yc, ldy, 1); break;                               \
            case 2: symn_range_##T(w, ws, r0, r1, xc, xs, p, nb, yc, ldy, 2); break;                               \
            case 3: symn_range_##T(w, ws, r0, r1, xc, xs, p, nb, yc, ldy, 3); break;                               \
            default: symn_range_##T(w, ws, r0, r1, xc, xs, p, nb, yc, ldy, 4); break;                              \
            }                                                                                                      \
            c0 += nc;                                                                                              \
        }                                                                                                          \
    }

#define SYMN_SMALL 15 /* up to this many rows (1 = the matvec); the AMX level's own crossover is in quant_amx.c */

SYMN_KERNEL(q8_0, 128)
SYMN_KERNEL(q4_0, 8)
SYMN_KERNEL(q5_0, 16)

/* ---- one activation row, Q4_K ----------------------------------------------
 * Generation's matvec for the most common K type. Per call, the activation
 * side that every weight row shares (pair sums of the 16-sums, d) is read
 * once; per super-block the packed 6-bit scales/mins are unpacked with byte
 * shuffles and the min term stays in vector lanes (no horizontal sum per
 * super-block). */

#define K1_MAX_SUPER 256 /* k up to 65536; longer rows use the shared kernel */
#define K1_ROWS 15       /* 1..15 activation rows: groups of up to 4 (see matmul_k1_q4_K) */

typedef struct {
    alignas(16) int16_t bs32[K1_MAX_SUPER][8]; /* sums of 32 activation levels */
    float d[K1_MAX_SUPER];
} k1_act;

static void k1_prepare(const hr_block_q8_K *x, int64_t nsb, k1_act *a)
{
    for (int64_t i = 0; i < nsb; i++) {
        __m128i lo = _mm_loadu_si128((const __m128i *)x[i].bsums), hi = _mm_loadu_si128((const __m128i *)(x[i].bsums + 8));
        _mm_store_si128((__m128i *)a->bs32[i], _mm_hadd_epi16(lo, hi));
        a->d[i] = x[i].d;
    }
}

/* The 12 packed bytes -> bytes 0..7 scales, 8..15 mins (layout in
 * quant_impl.h). Reads 16 bytes from s (the 4 after the scales are the
 * block's qs, inside the block). */
X86_INLINE __m128i k1_scales_mins(const uint8_t *s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i m1 = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    const __m128i m2 = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    __m128i r = _mm_or_si128(_mm_and_si128(a, m1), _mm_and_si128(_mm_srli_epi16(a, 4), m2));
    return _mm_or_si128(r, _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)));
}

/* nr (1 or 2) weight rows at w and w + dist (two streams, see SYMN_KERNEL)
 * against NC (1-4) activation rows: each super-block is unpacked once
 * (nibbles, scales, mins) and dotted with every row. */
#define K1N_MAX X86_GROUP_MAX
X86_INLINE void k1n_rows_q4_K(const char *w, size_t dist, const char *x, size_t xs, const k1_act *p, int64_t nsb,
                              float out[2][K1N_MAX], const int nr, const int nc)
{
    __m256 acc[2][K1N_MAX];
    __m128 macc[2][K1N_MAX];
    _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++) _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
        acc[s][c] = _mm256_setzero_ps(), macc[s][c] = _mm_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < nsb; i++) {
        _Pragma("GCC unroll 2") for (int s = 0; s < nr; s++)
        {
            const hr_block_q4_K *a = (const hr_block_q4_K *)(w + (size_t)s * dist);
            for (int pf = 0; pf < 3; pf++)
                _mm_prefetch((const char *)&a[i] + X86_PREFETCH + 64 * pf, _MM_HINT_T0);
            __m128i sm = k1_scales_mins(a[i].scales);
            __m256i scv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            __m128i mn16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
            __m256i q[8], sc[8];
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
            {
                __m256i b = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * j));
                q[2 * j] = _mm256_and_si256(b, m4);
                q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
                sc[2 * j] = x86_scale_j(scv, 2 * j);
                sc[2 * j + 1] = x86_scale_j(scv, 2 * j + 1);
            }
            uint32_t dd;
            memcpy(&dd, &a[i].d, 4); /* d, dmin */
            __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd));
            _Pragma("GCC unroll 4") for (int c = 0; c < nc; c++)
            {
                const int8_t *y = ((const hr_block_q8_K *)(x + (size_t)c * xs))[i].qs;
                __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
                {
                    s0 = x86_scaled_dot(s0, q[2 * j], y + 64 * j, sc[2 * j]);
                    s1 = x86_scaled_dot(s1, q[2 * j + 1], y + 64 * j + 32, sc[2 * j + 1]);
                }
                __m128 ds = _mm_mul_ps(dw, _mm_set1_ps(p[c].d[i]));
                acc[s][c] = _mm256_fmadd_ps(_mm256_broadcastss_ps(ds), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                                            acc[s][c]);
                __m128i ms = _mm_madd_epi16(mn16, _mm_load_si128((const __m128i *)p[c].bs32[i]));
                macc[s][c] = _mm_fmadd_ps(_mm_permute_ps(ds, 0x55), _mm_cvtepi32_ps(ms), macc[s][c]);
            }
        }
    }
    for (int s = 0; s < nr; s++)
        for (int c = 0; c < nc; c++) out[s][c] = x86_hsum(acc[s][c]) - x86_hsum128(macc[s][c]);
}

X86_INLINE void k1n_range_q4_K(const char *wb, size_t ws, int64_t r0, int64_t r1, const char *xq, size_t xs,
                               const k1_act *p, int64_t nsb, float *y, int64_t ldy, const int nc)
{
    int64_t h = (r1 - r0) / 2; /* rows r and r + h together: two streams */
    float o[2][K1N_MAX];
    for (int64_t r = r0; r < r0 + h; r++) {
        k1n_rows_q4_K(wb + (size_t)r * ws, (size_t)h * ws, xq, xs, p, nsb, o, 2, nc);
        for (int c = 0; c < nc; c++) y[c * ldy + r] = o[0][c], y[c * ldy + r + h] = o[1][c];
    }
    if ((r1 - r0) & 1) {
        k1n_rows_q4_K(wb + (size_t)(r1 - 1) * ws, 0, xq, xs, p, nsb, o, 1, nc);
        for (int c = 0; c < nc; c++) y[c * ldy + r1 - 1] = o[0][c];
    }
}

static void matmul_k1_q4_K(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq, size_t xs,
                           int n_batch, float *y, int64_t ldy)
{
    int64_t nsb = k / HR_QK_K;
    if (n_batch > K1_ROWS || nsb > K1_MAX_SUPER) {
        matmul_q4_K(w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);
        return;
    }
    /* groups share each unpacked super-block (the shared kernel did 0.52 /
     * 0.95 / 1.09 of a matvec per row of work at 2 / 4 / 8 rows) */
    for (int c0 = 0; c0 < n_batch;) {
        int nc = x86_row_group(n_batch - c0);
        k1_act p[K1N_MAX]; /* 5 KB each */
        const char *xc = (const char *)xq + (size_t)c0 * xs;
        for (int c = 0; c < nc; c++) k1_prepare((const hr_block_q8_K *)(xc + (size_t)c * xs), nsb, &p[c]);
        float *yc = y + (int64_t)c0 * ldy;
        switch (nc) {
        case 1: k1n_range_q4_K(w, ws, r0, r1, xc, xs, p, nsb, yc, ldy, 1); break;
        case 2: k1n_range_q4_K(w, ws, r0, r1, xc, xs, p, nsb, yc, ldy, 2); break;
        case 3: k1n_range_q4_K(w, ws, r0, r1, xc, xs, p, nsb, yc, ldy, 3); break;
        default: k1n_range_q4_K(w, ws, r0, r1, xc, xs, p, nsb, yc, ldy, 4); break;
        }
        c0 += nc;
    }
}

void hr_quant_kernels_avx512(hr_quant_kernels *t)
{
    t->name = "avx512";
    x86_fill_table(t);
    t->matmul[HR_TYPE_Q6_K] = matmul_q6_K_z1;
    t->matmul[HR_TYPE_Q4_K] = matmul_k1_q4_K;
    t->matmul[HR_TYPE_Q8_0] = matmul_small_q8_0;
    t->matmul[HR_TYPE_Q4_0] = matmul_small_q4_0;
    t->matmul[HR_TYPE_Q5_0] = matmul_small_q5_0;
}
