/* Internal to the quant*.c files: GGUF block layouts and the kernel table.
 *
 * Block layouts are ggml's, byte for byte (the engine mmaps GGUF tensors and
 * reads these structs in place), so every size is static_asserted. All fp16
 * fields are IEEE binary16 bit patterns, little endian.
 *
 * A SIMD level (scalar, avx2, avx512) provides one hr_quant_kernels table;
 * quant.c picks one at first use. A level may leave an entry NULL, in which
 * case the entry of the level below is used (quant.c fills the gaps). */
#ifndef HR_ENGINE_QUANT_IMPL_H
#define HR_ENGINE_QUANT_IMPL_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

#define HR_QK 32   /* elements per block of the 32-block types */
#define HR_QK_K 256 /* elements per super-block of the K types */

typedef struct { uint16_t d; uint8_t qs[HR_QK / 2]; } hr_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[HR_QK / 2]; } hr_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[HR_QK / 2]; } hr_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[HR_QK / 2]; } hr_block_q5_1;
typedef struct { uint16_t d; int8_t qs[HR_QK]; } hr_block_q8_0;
/* s = d * sum(qs), precomputed for the min term of q4_1/q5_1 dot products. */
typedef struct { uint16_t d, s; int8_t qs[HR_QK]; } hr_block_q8_1;

/* Q4_K/Q5_K: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min,
 * packed in scales[12]: sub-block j<4 uses scales[j]&63 and scales[j+4]&63;
 * j>=4 takes its low 4 bits from scales[j+4] (scale: low nibble, min: high
 * nibble) and its top 2 bits from the top bits of scales[j-4] / scales[j].
 * x = d*sc*q - dmin*m. qs holds 64 elements per 32 bytes: low nibbles are
 * elements 0..31 of the 64-chunk, high nibbles 32..63. Q5_K's qh bit 2c of
 * byte l is the 5th bit of element l of chunk c's first half, bit 2c+1 of its
 * second half. */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[HR_QK_K / 2]; } hr_block_q4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[HR_QK_K / 8];
    uint8_t qs[HR_QK_K / 2];
} hr_block_q5_K;
/* Q6_K: 16 sub-blocks of 16 with int8 scales; x = d*sc*(q-32), q 6 bits: low
 * 4 in ql, high 2 in qh. Per 128-half: ql[l] low/high nibble -> elements l /
 * l+64, ql[l+32] -> l+32 / l+96; qh[l] bits 0-1,2-3,4-5,6-7 -> l, l+32, l+64,
 * l+96. */
typedef struct {
    uint8_t ql[HR_QK_K / 2];
    uint8_t qh[HR_QK_K / 4];
    int8_t scales[HR_QK_K / 16];
    uint16_t d;
} hr_block_q6_K;
/* Q8_K: activations for the K types; d is a float; bsums[i] = sum of
 * qs[16i..16i+15] (for the min terms). */
typedef struct { float d; int8_t qs[HR_QK_K]; int16_t bsums[HR_QK_K / 16]; } hr_block_q8_K;

static_assert(sizeof(hr_block_q4_0) == 18, "q4_0 block");
static_assert(sizeof(hr_block_q4_1) == 20, "q4_1 block");
static_assert(sizeof(hr_block_q5_0) == 22, "q5_0 block");
static_assert(sizeof(hr_block_q5_1) == 24, "q5_1 block");
static_assert(sizeof(hr_block_q8_0) == 34, "q8_0 block");
static_assert(sizeof(hr_block_q8_1) == 36, "q8_1 block");
static_assert(sizeof(hr_block_q4_K) == 144, "q4_K block");
static_assert(sizeof(hr_block_q5_K) == 176, "q5_K block");
static_assert(sizeof(hr_block_q6_K) == 210, "q6_K block");
static_assert(sizeof(hr_block_q8_K) == 292, "q8_K block");

/* Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K. */
static inline void hr_k4_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Row-range matmul for one weight type, see hr_matmul_rows. xs: stride of
 * activation rows in bytes; ws: stride of weight rows in bytes. */
typedef void (*hr_matmul_fn)(const void *w, size_t ws, int64_t k, int64_t r0, int64_t r1, const void *xq, size_t xs,
                             int n_batch, float *y, int64_t ldy);
/* Quantizes one activation row (the vec_dot type of the weight type). */
typedef void (*hr_quantize_fn)(const float *x, void *xq, int64_t k);

typedef struct hr_quant_kernels {
    const char *name;
    hr_matmul_fn matmul[HR_TYPE_COUNT];     /* indexed by weight type */
    hr_quantize_fn quantize[HR_TYPE_COUNT]; /* indexed by activation type */
} hr_quant_kernels;

/* Each level fills its table (entries it does not accelerate stay NULL). */
void hr_quant_kernels_ref(hr_quant_kernels *t);
void hr_quant_kernels_avx2(hr_quant_kernels *t);
void hr_quant_kernels_avx512(hr_quant_kernels *t);
void hr_quant_kernels_amx(hr_quant_kernels *t);
/* 1 if the CPU has AMX-TILE/AMX-INT8 and the OS granted this process tile
 * state (asks once per call; quant.c caches the answer). */
int hr_quant_amx_available(void);

#endif
