/* AMX level: AMX-TILE + AMX-INT8 on top of the AVX-512/VNNI level.
 *
 * Batched matmuls (n_batch >= 8, K types >= 16: prompt processing; Q8_0
 * from n_batch 2, see "Q8_0 small batches") run on the tile unit; smaller
 * batches and matvecs (generation, memory bound) use the AVX-512 kernels. Every integer sub-block dot is exact (TDPBSSD, s8 x s8 ->
 * s32), so results differ from the reference only in float rounding order.
 *
 * Layout. Per call, rows are taken in groups of AMX_GROUP tiles of 16 weight
 * rows and K in segments of AMX_KC. A group's segment is unpacked once into
 * s8 levels (q - offset; K-type scales kept apart as floats) and transposed
 * into the tile unit's B layout ([k/4][16 rows][4 bytes]), then every tile
 * of 16 activation rows is multiplied against it: the A tile is read straight
 * from the quantized activations (stride = activation row bytes), one TDPBSSD
 * per sub-block (32 levels, 16 for Q6_K) gives a 16 x 16 block of exact
 * integer sums, and AVX-512 applies the per-sub-block float scales:
 *   y[c][r] += sum_sb C[c][r] * wd[sb][r] * xs[c][sb] + wm[sb][r] * xa[c][sb]
 * where wd/wm are the weight scale/min terms and xs/xa the activation scale
 * and block sum (K types: d_x applied once per super-block). All scratch
 * lives on the stack (about 80 KB).
 *
 * Linux hands out AMX tile state only after arch_prctl(ARCH_REQ_XCOMP_PERM);
 * hr_quant_amx_available() asks once and the level is offered only if the
 * kernel agrees. Each call loads its tile configuration and releases the
 * tiles before returning, so threads need no other set-up. */
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")

#include <cpuid.h>
#include <immintrin.h>
#include <stdalign.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/quant_impl.h"

#define AMX_ROWS 16     /* weight rows per tile (columns of C) */
#define AMX_COLS 16     /* activation rows per tile (rows of C) */
#define AMX_GROUP 4     /* row tiles sharing one activation-side preparation */
#define AMX_KC 512      /* K elements per segment */
#define AMX_MAX_SB 32   /* sub-blocks per segment (AMX_KC / 16) */
/* Smaller batches use the AVX-512 kernels (measured crossover: 8 activation
 * rows for the 32-block types, 16 for the K types, whose AVX-512 kernels are
 * faster and whose tiles need more scaling work). */
#define AMX_MIN_BATCH 8
#define AMX_MIN_BATCH_K 16
/* Q4_0 / Q5_0: the AVX-512 kernel for a few rows (weights loaded once per 4
 * rows) does 2.0-2.2x a matvec per row of work up to 12 rows, the tiles
 * 1.3-1.9x from 8 to 12 and 2.7x at 16 (q5_0, k = 1536, one thread). */
#define AMX_MIN_BATCH_SYM 13

#define AMX_INLINE static inline __attribute__((always_inline))

/* ---- availability --------------------------------------------------------- */

#define AMX_ARCH_REQ_XCOMP_PERM 0x1023
#define AMX_XFEATURE_XTILEDATA 18

int hr_quant_amx_available(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) /* AMX-TILE, AMX-INT8 */
        return 0;
#ifdef SYS_arch_prctl
    return syscall(SYS_arch_prctl, AMX_ARCH_REQ_XCOMP_PERM, AMX_XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

/* ---- tile configuration -------------------------------------------------- */

typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

/* Tile registers: 0-3 sums (C), 4-5 activations (A), 6-7 weights (B). The
 * tile intrinsics paste their tile number into the instruction text, so the
 * numbers are written out at the call sites. */
#define AMX_LAG 3 /* sub-blocks in flight on the tile unit while one is scaled */

static void amx_configure(int sb)
{
    alignas(64) amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 4; t++)
        cfg.rows[t] = AMX_COLS, cfg.colsb[t] = AMX_ROWS * 4;
    for (int t = 4; t < 6; t++)
        cfg.rows[t] = AMX_COLS, cfg.colsb[t] = (uint16_t)sb;
    for (int t = 6; t < 8; t++)
        cfg.rows[t] = (uint8_t)(sb / 4), cfg.colsb[t] = AMX_ROWS * 4;
    _tile_loadconfig(&cfg);
}

/* ---- weight unpackers -----------------------------------------------------
 * Each writes kc s8 levels of one weight row, K range [k0, k0 + kc), to dst,
 * and per sub-block sbl the float scale wd[sbl * AMX_ROWS] and (asymmetric
 * types) additive term wm[sbl * AMX_ROWS]. */

typedef void (*amx_unpack_fn)(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm);

AMX_INLINE float amx_fp16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 16 bytes -> low nibbles in dst[0..15], high nibbles in dst[16..31] */
AMX_INLINE __m256i amx_nibbles(const uint8_t *p)
{
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

AMX_INLINE __m256i amx_qh_0x10(const uint8_t *qh4)
{
    uint32_t bits;
    memcpy(&bits, qh4, 4);
    return _mm256_maskz_mov_epi8((__mmask32)bits, _mm256_set1_epi8(0x10));
}

static void unpack_q8_0(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    (void)wm;
    const hr_block_q8_0 *b = (const hr_block_q8_0 *)row + k0 / HR_QK;
    for (int i = 0; i < kc / HR_QK; i++) {
        _mm256_storeu_si256((__m256i *)(dst + HR_QK * i), _mm256_loadu_si256((const __m256i *)b[i].qs));
        wd[i * AMX_ROWS] = amx_fp16(b[i].d);
    }
}

static void unpack_q4_0(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    (void)wm;
    const hr_block_q4_0 *b = (const hr_block_q4_0 *)row + k0 / HR_QK;
    for (int i = 0; i < kc / HR_QK; i++) {
        __m256i q = _mm256_sub_epi8(amx_nibbles(b[i].qs), _mm256_set1_epi8(8));
        _mm256_storeu_si256((__m256i *)(dst + HR_QK * i), q);
        wd[i * AMX_ROWS] = amx_fp16(b[i].d);
    }
}

static void unpack_q5_0(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    (void)wm;
    const hr_block_q5_0 *b = (const hr_block_q5_0 *)row + k0 / HR_QK;
    for (int i = 0; i < kc / HR_QK; i++) {
        __m256i q = _mm256_or_si256(amx_nibbles(b[i].qs), amx_qh_0x10(b[i].qh));
        _mm256_storeu_si256((__m256i *)(dst + HR_QK * i), _mm256_sub_epi8(q, _mm256_set1_epi8(16)));
        wd[i * AMX_ROWS] = amx_fp16(b[i].d);
    }
}

static void unpack_q4_1(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    const hr_block_q4_1 *b = (const hr_block_q4_1 *)row + k0 / HR_QK;
    for (int i = 0; i < kc / HR_QK; i++) {
        _mm256_storeu_si256((__m256i *)(dst + HR_QK * i), amx_nibbles(b[i].qs));
        wd[i * AMX_ROWS] = amx_fp16(b[i].d);
        wm[i * AMX_ROWS] = amx_fp16(b[i].m);
    }
}

static void unpack_q5_1(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    const hr_block_q5_1 *b = (const hr_block_q5_1 *)row + k0 / HR_QK;
    for (int i = 0; i < kc / HR_QK; i++) {
        __m256i q = _mm256_or_si256(amx_nibbles(b[i].qs), amx_qh_0x10(b[i].qh));
        _mm256_storeu_si256((__m256i *)(dst + HR_QK * i), q);
        wd[i * AMX_ROWS] = amx_fp16(b[i].d);
        wm[i * AMX_ROWS] = amx_fp16(b[i].m);
    }
}

/* Q4_K/Q5_K: sub-block j of 32 gets wd = d*sc_j, wm = -dmin*m_j (the
 * activation side supplies d_x * sum of its 32 levels). */
AMX_INLINE void k4_scales(const uint8_t *s, float d, float dmin, float *wd, float *wm)
{
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        hr_k4_scale_min(j, s, &sc, &m);
        wd[j * AMX_ROWS] = d * (float)sc;
        wm[j * AMX_ROWS] = -dmin * (float)m;
    }
}

static void unpack_q4_K(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    const hr_block_q4_K *b = (const hr_block_q4_K *)row + k0 / HR_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int i = 0; i < kc / HR_QK_K; i++, dst += HR_QK_K) {
        k4_scales(b[i].scales, amx_fp16(b[i].d), amx_fp16(b[i].dmin), wd + 8 * i * AMX_ROWS, wm + 8 * i * AMX_ROWS);
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            _mm256_storeu_si256((__m256i *)(dst + 64 * c), _mm256_and_si256(q, m4));
            _mm256_storeu_si256((__m256i *)(dst + 64 * c + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
    }
}

static void unpack_q5_K(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    const hr_block_q5_K *b = (const hr_block_q5_K *)row + k0 / HR_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), h = _mm256_set1_epi8(0x10);
    for (int i = 0; i < kc / HR_QK_K; i++, dst += HR_QK_K) {
        k4_scales(b[i].scales, amx_fp16(b[i].d), amx_fp16(b[i].dmin), wd + 8 * i * AMX_ROWS, wm + 8 * i * AMX_ROWS);
        __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
            __mmask32 h0 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c))));
            __mmask32 h1 = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c + 1))));
            __m256i lo = _mm256_mask_blend_epi8(h0, _mm256_and_si256(q, m4), _mm256_or_si256(_mm256_and_si256(q, m4), h));
            __m256i hq = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i hi = _mm256_mask_blend_epi8(h1, hq, _mm256_or_si256(hq, h));
            _mm256_storeu_si256((__m256i *)(dst + 64 * c), lo);
            _mm256_storeu_si256((__m256i *)(dst + 64 * c + 32), hi);
        }
    }
}

/* Q6_K: 16 sub-blocks of 16, s8 levels q - 32, wd = d*sc. */
static void unpack_q6_K(const char *row, int64_t k0, int kc, int8_t *dst, float *wd, float *wm)
{
    (void)wm;
    const hr_block_q6_K *b = (const hr_block_q6_K *)row + k0 / HR_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x03), o = _mm256_set1_epi8(32);
    for (int i = 0; i < kc / HR_QK_K; i++, dst += HR_QK_K) {
        float d = amx_fp16(b[i].d);
        for (int j = 0; j < 16; j++)
            wd[(16 * i + j) * AMX_ROWS] = d * (float)b[i].scales[j];
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
            int8_t *o8 = dst + 128 * h;
            _mm256_storeu_si256((__m256i *)(o8), _mm256_sub_epi8(q0, o));
            _mm256_storeu_si256((__m256i *)(o8 + 32), _mm256_sub_epi8(q1, o));
            _mm256_storeu_si256((__m256i *)(o8 + 64), _mm256_sub_epi8(q2, o));
            _mm256_storeu_si256((__m256i *)(o8 + 96), _mm256_sub_epi8(q3, o));
        }
    }
}

/* ---- activation side ------------------------------------------------------
 * For activation row x and segment [k0, k0 + kc) in sub-blocks of sb: the
 * byte offset of each sub-block's levels, its scale xs and additive term xa.
 * q8_0/q8_1: per block d (and s = d * sum, for q4_1/q5_1). q8_K: d of the
 * super-block, and for Q4_K/Q5_K the plain sum of the sub-block's 32 levels
 * (the K-type kernels apply d once per super-block). */

typedef struct {
    int wtype, atype;
    int sb;        /* levels per sub-block: 32, or 16 (Q6_K) */
    bool asym;     /* wm/xa term present */
    amx_unpack_fn unpack;
} amx_type;

AMX_INLINE size_t act_offset(const amx_type *ty, int64_t kpos)
{
    switch (ty->atype) {
    case HR_TYPE_Q8_0: return (size_t)(kpos / HR_QK) * sizeof(hr_block_q8_0) + offsetof(hr_block_q8_0, qs);
    case HR_TYPE_Q8_1: return (size_t)(kpos / HR_QK) * sizeof(hr_block_q8_1) + offsetof(hr_block_q8_1, qs);
    default:
        return (size_t)(kpos / HR_QK_K) * sizeof(hr_block_q8_K) + offsetof(hr_block_q8_K, qs) +
               (size_t)(kpos % HR_QK_K);
    }
}

/* n (<= AMX_MAX_SB) fp16 fields at byte `off` of consecutive blocks of bsize
 * bytes -> floats. Reads 4 bytes per block, all inside the block. */
AMX_INLINE void gather_fp16(const char *x, int bsize, int off, int n, float *dst)
{
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(bsize));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, x + (size_t)i * bsize + off, 1);
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)));
    }
}

static void act_prepare(const amx_type *ty, const char *x, int64_t k0, int nsb, float *xs, float *xa)
{
    if (ty->atype == HR_TYPE_Q8_0) {
        gather_fp16(x + (size_t)(k0 / HR_QK) * sizeof(hr_block_q8_0), sizeof(hr_block_q8_0),
                    offsetof(hr_block_q8_0, d), nsb, xs);
    } else if (ty->atype == HR_TYPE_Q8_1) {
        const char *b = x + (size_t)(k0 / HR_QK) * sizeof(hr_block_q8_1);
        gather_fp16(b, sizeof(hr_block_q8_1), offsetof(hr_block_q8_1, d), nsb, xs);
        gather_fp16(b, sizeof(hr_block_q8_1), offsetof(hr_block_q8_1, s), nsb, xa);
    } else {
        int per = HR_QK_K / ty->sb;
        for (int s = 0; s < nsb; s += per) {
            const hr_block_q8_K *b = (const hr_block_q8_K *)x + (k0 + (int64_t)s * ty->sb) / HR_QK_K;
            xs[s] = b->d;
            if (ty->asym) { /* sums of 32 = pairs of the sums of 16 */
                __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), _mm256_set1_epi16(1));
                _mm256_storeu_ps(xa + s, _mm256_cvtepi32_ps(p));
            }
        }
    }
}

/* ---- B layout --------------------------------------------------------------
 * 16 rows x 16 dwords (64 bytes of K each) -> 16 rows of 16 dwords, output
 * row j = dword j of every input row. */
AMX_INLINE void transpose16(const int8_t *src, size_t stride, int8_t *dst)
{
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_si512((const void *)(src + (size_t)i * stride));
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* u[4g + e]: rows 4g..4g+3, element e of each 128-bit lane */
        r[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        r[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        r[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        r[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int e = 0; e < 4; e++) {
        __m512i v0 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0x44), v1 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0xee);
        __m512i v2 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0x44);
        __m512i v3 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0xee);
        _mm512_storeu_si512((void *)(dst + 64 * (0 + e)), _mm512_shuffle_i32x4(v0, v2, 0x88));
        _mm512_storeu_si512((void *)(dst + 64 * (4 + e)), _mm512_shuffle_i32x4(v0, v2, 0xdd));
        _mm512_storeu_si512((void *)(dst + 64 * (8 + e)), _mm512_shuffle_i32x4(v1, v3, 0x88));
        _mm512_storeu_si512((void *)(dst + 64 * (12 + e)), _mm512_shuffle_i32x4(v1, v3, 0xdd));
    }
}

/* ---- the kernel ----------------------------------------------------------- */

typedef struct {
    alignas(64) int8_t b[AMX_GROUP][AMX_KC * AMX_ROWS]; /* B layout per row tile */
    alignas(64) float wd[AMX_GROUP][AMX_MAX_SB * AMX_ROWS];
    alignas(64) float wm[AMX_GROUP][AMX_MAX_SB * AMX_ROWS];
    alignas(64) int8_t rowmajor[AMX_ROWS][AMX_KC];
    alignas(64) int8_t apad[AMX_MAX_SB][AMX_COLS][32]; /* A tiles of a partial activation tile */
    alignas(64) float xs[AMX_COLS][AMX_MAX_SB];
    alignas(64) float xa[AMX_COLS][AMX_MAX_SB];
    alignas(64) float acc[AMX_COLS][AMX_ROWS];          /* K types: sums over finished super-blocks */
    alignas(64) int32_t cbuf[AMX_LAG + 1][AMX_COLS * AMX_ROWS]; /* stored C tiles */
} amx_scratch;

/* Unpacks rows [g0, g0 + nrows) (nrows <= 16), segment [k0, k0 + kc), into
 * row tile slot t of the scratch. Missing rows are zero (scale 0). */
static void repack_tile(const amx_type *ty, const char *w, size_t ws, int64_t g0, int nrows, int64_t k0, int kc,
                        amx_scratch *s, int t)
{
    int nsb = kc / ty->sb, kc64 = (kc + 63) & ~63;
    memset(s->wd[t], 0, sizeof(float) * (size_t)nsb * AMX_ROWS);
    if (ty->asym)
        memset(s->wm[t], 0, sizeof(float) * (size_t)nsb * AMX_ROWS);
    for (int n = 0; n < AMX_ROWS; n++) {
        if (n < nrows)
            ty->unpack(w + (size_t)(g0 + n) * ws, k0, kc, s->rowmajor[n], s->wd[t] + n, s->wm[t] + n);
        else
            memset(s->rowmajor[n], 0, (size_t)kc);
        if (kc64 > kc)
            memset(s->rowmajor[n] + kc, 0, (size_t)(kc64 - kc));
    }
    for (int q = 0; q < kc64 / 64; q++)
        transpose16(&s->rowmajor[0][64 * q], AMX_KC, s->b[t] + (size_t)q * 64 * 16);
}

/* Scaling of one stored C tile (sub-block sbl) into the accumulators.
 * 32-block types: acc[c] += C[c] * wd * xs[c] (+ wm * xa[c]).
 * K types (kq): acc[c] += C[c] * wd (+ wm * xa[c]); the super-block's d_x is
 * applied by post_flush. */
AMX_INLINE void post_sb(__m512 acc[AMX_COLS], const int32_t *cb, const float *wd, const float *wm, const float *xs,
                        const float *xa, int sbl, const bool asym, const bool kq)
{
    __m512 vd = _mm512_load_ps(wd + sbl * AMX_ROWS);
    __m512 vm = asym ? _mm512_load_ps(wm + sbl * AMX_ROWS) : _mm512_setzero_ps();
    _Pragma("GCC unroll 16") for (int c = 0; c < AMX_COLS; c++)
    {
        __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cb + c * AMX_ROWS)));
        __m512 sc = kq ? vd : _mm512_mul_ps(vd, _mm512_set1_ps(xs[c * AMX_MAX_SB + sbl]));
        acc[c] = _mm512_fmadd_ps(v, sc, acc[c]);
        if (asym)
            acc[c] = _mm512_fmadd_ps(vm, _mm512_set1_ps(xa[c * AMX_MAX_SB + sbl]), acc[c]);
    }
}

/* K types, end of a super-block whose first sub-block is sbl: acc_mem[c] +=
 * acc[c] * d_x[c]; acc restarts at 0. */
AMX_INLINE void post_flush(__m512 acc[AMX_COLS], float (*acc_mem)[AMX_ROWS], const float *xs, int sbl)
{
    _Pragma("GCC unroll 16") for (int c = 0; c < AMX_COLS; c++)
    {
        __m512 m = _mm512_load_ps(acc_mem[c]);
        _mm512_store_ps(acc_mem[c], _mm512_fmadd_ps(acc[c], _mm512_set1_ps(xs[c * AMX_MAX_SB + sbl]), m));
        acc[c] = _mm512_setzero_ps();
    }
}

#define AMX_ISSUE(TC, TA, TB, i)                                                                                \
    do {                                                                                                        \
        _tile_loadd(TA, ap[i], as);                                                                             \
        _tile_loadd(TB, b + (size_t)(i) * bstep, 64);                                                           \
        _tile_zero(TC);                                                                                         \
        _tile_dpbssd(TC, TA, TB);                                                                               \
        _tile_stored(TC, (void *)s->cbuf[(i) & 3], 64);                                                         \
    } while (0)

/* One row tile x one activation tile over a segment. Sub-block i's product is
 * issued AMX_LAG steps before it is scaled (four C tiles rotate), so the
 * tile unit's latency hides behind the vector units' scaling work. Result:
 * acc (32-block types) or s->acc (K types). */
AMX_INLINE void tile_segment(__m512 acc[AMX_COLS], amx_scratch *s, int t, const int8_t *const *ap, size_t as,
                             int nsb, int sbb, const bool asym, const bool kq)
{
    const int8_t *b = s->b[t];
    const float *wd = s->wd[t], *wm = s->wm[t], *xs = &s->xs[0][0], *xa = &s->xa[0][0];
    const size_t bstep = (size_t)sbb / 4 * 64;
    const int per = HR_QK_K / sbb;
    for (int i = 0; i < nsb + AMX_LAG; i++) {
        if (i < nsb) {
            switch (i & 3) {
            case 0: AMX_ISSUE(0, 4, 6, i); break;
            case 1: AMX_ISSUE(1, 5, 7, i); break;
            case 2: AMX_ISSUE(2, 4, 6, i); break;
            default: AMX_ISSUE(3, 5, 7, i); break;
            }
        }
        if (i >= AMX_LAG) {
            int j = i - AMX_LAG;
            post_sb(acc, s->cbuf[j & 3], wd, wm, xs, xa, j, asym, kq);
            if (kq && (j + 1) % per == 0)
                post_flush(acc, s->acc, xs, j + 1 - per);
        }
    }
}

static void amx_matmul(const amx_type *ty, const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1,
                       const void *xq, size_t xstride, int n_batch, float *y, int64_t ldy)
{
    amx_scratch s;
    const char *wb = w, *xb = xq;
    const int sbb = ty->sb;
    const bool kq = ty->atype == HR_TYPE_Q8_K;
    amx_configure(sbb);
    for (int64_t g0 = r0; g0 < r1; g0 += AMX_GROUP * AMX_ROWS) {
        int64_t grows = r1 - g0 < AMX_GROUP * AMX_ROWS ? r1 - g0 : AMX_GROUP * AMX_ROWS;
        int ntiles = (int)((grows + AMX_ROWS - 1) / AMX_ROWS);
        for (int64_t k0 = 0; k0 < k; k0 += AMX_KC) {
            int kc = (int)(k - k0 < AMX_KC ? k - k0 : AMX_KC), nsb = kc / sbb;
            for (int t = 0; t < ntiles; t++) {
                int64_t tr = grows - (int64_t)t * AMX_ROWS;
                repack_tile(ty, wb, ws, g0 + (int64_t)t * AMX_ROWS, tr < AMX_ROWS ? (int)tr : AMX_ROWS, k0, kc, &s,
                            t);
            }
            for (int c0 = 0; c0 < n_batch; c0 += AMX_COLS) {
                int m = n_batch - c0 < AMX_COLS ? n_batch - c0 : AMX_COLS;
                const int8_t *ap[AMX_MAX_SB];
                size_t as;
                memset(s.xs, 0, sizeof s.xs);
                memset(s.xa, 0, sizeof s.xa);
                for (int c = 0; c < m; c++)
                    act_prepare(ty, xb + (size_t)(c0 + c) * xstride, k0, nsb, s.xs[c], s.xa[c]);
                if (m == AMX_COLS) {
                    as = xstride;
                    for (int sbl = 0; sbl < nsb; sbl++)
                        ap[sbl] = (const int8_t *)xb + (size_t)c0 * xstride + act_offset(ty, k0 + (int64_t)sbl * sbb);
                } else {
                    as = 32;
                    for (int sbl = 0; sbl < nsb; sbl++) {
                        size_t off = act_offset(ty, k0 + (int64_t)sbl * sbb);
                        for (int c = 0; c < AMX_COLS; c++) {
                            if (c < m)
                                memcpy(s.apad[sbl][c], xb + (size_t)(c0 + c) * xstride + off, (size_t)sbb);
                            else
                                memset(s.apad[sbl][c], 0, (size_t)sbb);
                        }
                        ap[sbl] = &s.apad[sbl][0][0];
                    }
                }
                for (int t = 0; t < ntiles; t++) {
                    __m512 acc[AMX_COLS];
                    for (int c = 0; c < AMX_COLS; c++)
                        acc[c] = _mm512_setzero_ps();
                    if (kq) {
                        memset(s.acc, 0, sizeof s.acc);
                        if (ty->asym)
                            tile_segment(acc, &s, t, ap, as, nsb, sbb, true, true);
                        else
                            tile_segment(acc, &s, t, ap, as, nsb, sbb, false, true);
                        for (int c = 0; c < AMX_COLS; c++)
                            acc[c] = _mm512_load_ps(s.acc[c]);
                    } else if (ty->asym) {
                        tile_segment(acc, &s, t, ap, as, nsb, sbb, true, false);
                    } else {
                        tile_segment(acc, &s, t, ap, as, nsb, sbb, false, false);
                    }
                    int64_t rt = g0 + (int64_t)t * AMX_ROWS, left = r1 - rt;
                    __mmask16 mask = left >= AMX_ROWS ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                    for (int c = 0; c < m; c++) {
                        float *yp = y + (int64_t)(c0 + c) * ldy + rt;
                        __m512 v = acc[c];
                        if (k0 > 0)
                            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, yp));
                        _mm512_mask_storeu_ps(yp, mask, v);
                    }
                }
            }
        }
    }
    _tile_release();
}

/* ---- Q8_0 small batches: weights as the A operand --------------------------
 * For n_batch 2..16 the per-call weight unpack above (copy + transpose of
 * every weight row, amortised over one activation tile) costs more than the
 * products. Q8_0 levels are already s8 and a block's 32 levels are
 * contiguous, so a 16-row x 32-byte A tile is loaded straight from the
 * weights (row stride = weight row bytes, no copy); the activations, small
 * and shared by every weight row, are transposed once per call into B tiles
 * (columns n_batch..15 zero). C[r][c] is then weight row r x activation c and
 *   acc[r] += C[r] * (xs[sb] * wd[sb][r])
 * with xs[sb] the 16 activation scales of sub-block sb. Weight rows past the
 * last full 16-row tile use the AVX-512 kernel. */

#define Q8W_KC 1024                 /* K elements per segment */
/* Up to this many activation rows the AVX-512 kernel (weights loaded once for
 * 2-4 rows, quant_avx512.c) is faster: per row of work, from DRAM, one thread,
 * 2 rows 1.8x / 1.3x (AVX-512 / AMX), 3 rows 2.2-2.4x / 2.0x, 4 rows 2.3x /
 * 2.6-2.8x at k = 576 but 2.7x / 2.0x at k = 2048. */
#define Q8W_BELOW(k) ((k) >= 1024 ? 4 : 3)
#define Q8W_MAX_SB (Q8W_KC / HR_QK) /* 32 sub-blocks per segment */

typedef struct {
    alignas(64) int8_t bt[Q8W_MAX_SB][8 * 64];   /* B tiles: [k/4][16 activations][4 levels] */
    alignas(64) int8_t rowmajor[AMX_COLS][Q8W_KC]; /* activation levels, one row per activation */
    alignas(64) float xs[Q8W_MAX_SB][AMX_COLS];
    alignas(64) float wd[Q8W_MAX_SB][AMX_ROWS];
    alignas(64) int32_t cbuf[4][AMX_ROWS * AMX_COLS];
    alignas(64) float acc[AMX_ROWS][AMX_COLS];
    alignas(64) float accT[AMX_COLS][AMX_ROWS];
} q8w_scratch;

static void q8w_configure(void)
{
    alignas(64) amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 4; t++)
        cfg.rows[t] = AMX_ROWS, cfg.colsb[t] = AMX_COLS * 4;
    for (int t = 4; t < 6; t++)
        cfg.rows[t] = AMX_ROWS, cfg.colsb[t] = HR_QK;
    for (int t = 6; t < 8; t++)
        cfg.rows[t] = HR_QK / 4, cfg.colsb[t] = AMX_COLS * 4;
    _tile_loadconfig(&cfg);
}

#define Q8W_ISSUE(TC, TA, TB, i)                                                                                \
    do {                                                                                                        \
        _tile_loadd(TA, wrow + (size_t)(kb + (i)) * sizeof(hr_block_q8_0) + offsetof(hr_block_q8_0, qs),        \
                    (long)ws);                                                                                  \
        _tile_loadd(TB, s->bt[i], 64);                                                                          \
        _tile_zero(TC);                                                                                         \
        _tile_dpbssd(TC, TA, TB);                                                                               \
        _tile_stored(TC, (void *)s->cbuf[(i) & 3], 64);                                                         \
    } while (0)

/* One 16-row weight tile over a segment of nsb sub-blocks -> s->acc[r][c].
 * next (NULL for the last tile): the following tile's rows, prefetched into
 * L2 one block per row per sub-block (34-byte blocks touch every 64-byte
 * line) so their 16 streams arrive while this tile computes (T1 measured a
 * little faster than T0, whose misses stall on the fill buffers). */
static void q8w_tile(q8w_scratch *s, const char *wrow, const char *next, size_t ws, int64_t kb, int nsb)
{
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)ws));
    for (int i = 0; i < nsb; i++) { /* weight scales: 4 bytes at each block start (d + 2 levels) */
        __m512i v = _mm512_i32gather_epi32(idx, wrow + (size_t)(kb + i) * sizeof(hr_block_q8_0), 1);
        _mm512_store_ps(s->wd[i], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)));
    }
    __m512 acc[AMX_ROWS];
    for (int r = 0; r < AMX_ROWS; r++)
        acc[r] = _mm512_setzero_ps();
    for (int i = 0; i < nsb + AMX_LAG; i++) {
        if (i < nsb) {
            if (next) {
                const char *pf = next + (size_t)(kb + i) * sizeof(hr_block_q8_0);
                for (int r = 0; r < AMX_ROWS; r++)
                    _mm_prefetch(pf + (size_t)r * ws, _MM_HINT_T1);
                if (i == nsb - 1)
                    for (int r = 0; r < AMX_ROWS; r++)
                        _mm_prefetch(pf + (size_t)r * ws + sizeof(hr_block_q8_0) - 1, _MM_HINT_T1);
            }
            switch (i & 3) {
            case 0: Q8W_ISSUE(0, 4, 6, i); break;
            case 1: Q8W_ISSUE(1, 5, 7, i); break;
            case 2: Q8W_ISSUE(2, 4, 6, i); break;
            default: Q8W_ISSUE(3, 5, 7, i); break;
            }
        }
        if (i >= AMX_LAG) {
            int j = i - AMX_LAG;
            const int32_t *cb = s->cbuf[j & 3];
            const __m512 xv = _mm512_load_ps(s->xs[j]);
            _Pragma("GCC unroll 16") for (int r = 0; r < AMX_ROWS; r++)
            {
                __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cb + r * AMX_COLS)));
                acc[r] = _mm512_fmadd_ps(v, _mm512_mul_ps(xv, _mm512_set1_ps(s->wd[j][r])), acc[r]);
            }
        }
    }
    for (int r = 0; r < AMX_ROWS; r++)
        _mm512_store_ps(s->acc[r], acc[r]);
}

/* Rows [r0, r0 + 16 * ntiles) of a Q8_0 matmul with 2..16 activation rows. */
static void q8w_matmul(const char *w, size_t ws, int64_t k, int64_t r0, int ntiles, const char *xq, size_t xstride,
                       int n_batch, float *y, int64_t ldy)
{
    q8w_scratch s;
    memset(s.rowmajor[n_batch], 0, sizeof s.rowmajor[0] * (size_t)(AMX_COLS - n_batch));
    memset(s.xs, 0, sizeof s.xs);
    q8w_configure();
    for (int64_t k0 = 0; k0 < k; k0 += Q8W_KC) {
        int kc = (int)(k - k0 < Q8W_KC ? k - k0 : Q8W_KC), nsb = kc / HR_QK;
        int64_t kb = k0 / HR_QK;
        for (int c = 0; c < n_batch; c++) {
            const hr_block_q8_0 *xb = (const hr_block_q8_0 *)(xq + (size_t)c * xstride) + kb;
            for (int i = 0; i < nsb; i++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)xb[i].qs);
                _mm256_store_si256((__m256i *)(s.rowmajor[c] + HR_QK * i), v);
                s.xs[i][c] = amx_fp16(xb[i].d);
            }
            if (nsb & 1) /* the last transpose reads one sub-block past the segment */
                memset(s.rowmajor[c] + HR_QK * nsb, 0, HR_QK);
        }
        for (int q = 0; q < (nsb + 1) / 2; q++) /* two sub-blocks (64 levels) per transpose */
            transpose16(&s.rowmajor[0][64 * q], Q8W_KC, s.bt[2 * q]);
        for (int t = 0; t < ntiles; t++) {
            int64_t rt = r0 + (int64_t)t * AMX_ROWS;
            q8w_tile(&s, w + (size_t)rt * ws, t + 1 < ntiles ? w + (size_t)(rt + AMX_ROWS) * ws : NULL, ws, kb, nsb);
            transpose16((const int8_t *)&s.acc[0][0], AMX_COLS * sizeof(float), (int8_t *)&s.accT[0][0]);
            for (int c = 0; c < n_batch; c++) {
                float *yp = y + (int64_t)c * ldy + rt;
                __m512 v = _mm512_load_ps(s.accT[c]);
                if (k0 > 0)
                    v = _mm512_add_ps(v, _mm512_loadu_ps(yp));
                _mm512_storeu_ps(yp, v);
            }
        }
    }
    _tile_release();
}

/* ---- table ------------------------------------------------------------------ */

static hr_matmul_fn amx_below[HR_TYPE_COUNT]; /* the AVX-512 kernels, for small batches */

#define AMX_TYPE(T, AT, SB, ASYM)                                                                               \
    static const amx_type amx_##T = {HR_TYPE_##T, HR_TYPE_##AT, SB, ASYM, unpack_##T};                        \
    static void matmul_amx_##T(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq,    \
                               size_t xs, int n_batch, float *y, int64_t ldy)                                  \
    {                                                                                                           \
        if (HR_TYPE_##T == HR_TYPE_Q8_0 && n_batch > Q8W_BELOW(k) && n_batch <= AMX_COLS && r1 - r0 >= AMX_ROWS) { \
            int ntiles = (int)((r1 - r0) / AMX_ROWS);                                                           \
            q8w_matmul(w, ws, k, r0, ntiles, xq, xs, n_batch, y, ldy);                                          \
            r0 += (int64_t)ntiles * AMX_ROWS;                                                                   \
            if (r0 < r1)                                                                                        \
                amx_below[HR_TYPE_##T](w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);                              \
            return;                                                                                             \
        }                                                                                                       \
        if (n_batch < (HR_TYPE_##AT == HR_TYPE_Q8_K                                  ? AMX_MIN_BATCH_K           \
                       : HR_TYPE_##T == HR_TYPE_Q4_0 || HR_TYPE_##T == HR_TYPE_Q5_0 ? AMX_MIN_BATCH_SYM         \
                                                                                     : AMX_MIN_BATCH) ||         \
            r1 <= r0)                                                                                           \
            amx_below[HR_TYPE_##T](w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);                                  \
        else                                                                                                    \
            amx_matmul(&amx_##T, w, ws, k, r0, r1, xq, xs, n_batch, y, ldy);                                    \
    }

#define unpack_Q8_0 unpack_q8_0
#define unpack_Q4_0 unpack_q4_0
#define unpack_Q5_0 unpack_q5_0
#define unpack_Q4_1 unpack_q4_1
#define unpack_Q5_1 unpack_q5_1
#define unpack_Q4_K unpack_q4_K
#define unpack_Q5_K unpack_q5_K
#define unpack_Q6_K unpack_q6_K

AMX_TYPE(Q8_0, Q8_0, 32, false)
AMX_TYPE(Q4_0, Q8_0, 32, false)
AMX_TYPE(Q5_0, Q8_0, 32, false)
AMX_TYPE(Q4_1, Q8_1, 32, true)
AMX_TYPE(Q5_1, Q8_1, 32, true)
AMX_TYPE(Q4_K, Q8_K, 32, true)
AMX_TYPE(Q5_K, Q8_K, 32, true)
AMX_TYPE(Q6_K, Q8_K, 16, false)

void hr_quant_kernels_amx(hr_quant_kernels *t)
{
    hr_quant_kernels below;
    memset(&below, 0, sizeof below);
    hr_quant_kernels_avx512(&below);
    memcpy(amx_below, below.matmul, sizeof amx_below);
    t->name = "amx";
    t->matmul[HR_TYPE_Q8_0] = matmul_amx_Q8_0;
    t->matmul[HR_TYPE_Q4_0] = matmul_amx_Q4_0;
    t->matmul[HR_TYPE_Q5_0] = matmul_amx_Q5_0;
    t->matmul[HR_TYPE_Q4_1] = matmul_amx_Q4_1;
    t->matmul[HR_TYPE_Q5_1] = matmul_amx_Q5_1;
    t->matmul[HR_TYPE_Q4_K] = matmul_amx_Q4_K;
    t->matmul[HR_TYPE_Q5_K] = matmul_amx_Q5_K;
    t->matmul[HR_TYPE_Q6_K] = matmul_amx_Q6_K;
}
