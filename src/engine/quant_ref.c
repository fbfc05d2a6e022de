/* Scalar reference for every tensor type: fp16/bf16 conversion, row
 * quantize/dequantize and the dot products behind hr_matmul_rows_ref.
 *
 * This file is the definition the SIMD levels are tested against: plain C,
 * integer sums exactly as the fast paths compute them, no target flags. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/quant_impl.h"

/* ---- fp16 / bf16 -------------------------------------------------------- */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float hr_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        float v = (float)mant * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -v : v;
    }
    if (exp == 31)
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Round to nearest, ties to even (what F16C's vcvtps2ph does with imm 0). */
uint16_t hr_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return sign | 0x7e00 | (uint16_t)((x >> 13) & 0x3ff);
    if (x >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return sign | 0x7c00;
    if (x < 0x38800000u) { /* below 2^-14: half subnormal or zero */
        if (x <= 0x33000000u) /* <= 2^-25: rounds to (even) zero */
            return sign;
        uint32_t e = x >> 23;
        uint32_t m = (x & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return sign | (uint16_t)r;
    }
    uint32_t h = (((x >> 23) - 112) << 10) | ((x >> 13) & 0x3ff);
    uint32_t rem = x & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is the correct result */
    return sign | (uint16_t)h;
}

float hr_bf16_to_fp32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t hr_fp32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet it, keep the sign */
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1); /* ties to even; overflow gives inf */
    return (uint16_t)(x >> 16);
}

#define FP16(x) hr_fp16_to_fp32(x)
#define TO_FP16(x) hr_fp32_to_fp16(x)

static inline int nearest_int(float v)
{
    return (int)lrintf(v);
}

/* ---- 32-block types: quantize ------------------------------------------ */

static void quantize_q8_0(const float *x, hr_block_q8_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float amax = 0.0f;
        for (int j = 0; j < HR_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = TO_FP16(d);
        for (int j = 0; j < HR_QK; j++)
            y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
    }
}

static void quantize_q8_1(const float *x, hr_block_q8_1 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float amax = 0.0f;
        for (int j = 0; j < HR_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < HR_QK; j++) {
            y[i].qs[j] = (int8_t)nearest_int(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = TO_FP16(d);
        y[i].s = TO_FP16(d * (float)sum);
    }
}

/* Signed 4/5-bit: the scale maps the largest-magnitude value to -2^(b-1), so
 * the full negative range is used (as llama.cpp does). */
static float signed_scale(const float *x, int nlevels_half, float *id)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < HR_QK; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / (float)-nlevels_half;
    *id = d != 0.0f ? 1.0f / d : 0.0f;
    return d;
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void quantize_q4_0(const float *x, hr_block_q4_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float id;
        y[i].d = TO_FP16(signed_scale(x, 8, &id));
        for (int j = 0; j < HR_QK / 2; j++) {
            int a = clamp_int(nearest_int(x[j] * id) + 8, 0, 15);
            int b = clamp_int(nearest_int(x[j + 16] * id) + 8, 0, 15);
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void quantize_q5_0(const float *x, hr_block_q5_0 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float id;
        y[i].d = TO_FP16(signed_scale(x, 16, &id));
        uint32_t qh = 0;
        for (int j = 0; j < HR_QK / 2; j++) {
            int a = clamp_int(nearest_int(x[j] * id) + 16, 0, 31);
            int b = clamp_int(nearest_int(x[j + 16] * id) + 16, 0, 31);
            y[i].qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
            qh |= (uint32_t)(a >> 4) << j;
            qh |= (uint32_t)(b >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

/* Asymmetric: x = d*q + m with m the block minimum. */
static float minmax_scale(const float *x, int nmax, float *min, float *id)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < HR_QK; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    float d = (hi - lo) / (float)nmax;
    *id = d != 0.0f ? 1.0f / d : 0.0f;
    *min = lo;
    return d;
}

static void quantize_q4_1(const float *x, hr_block_q4_1 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float min, id;
        y[i].d = TO_FP16(minmax_scale(x, 15, &min, &id));
        y[i].m = TO_FP16(min);
        for (int j = 0; j < HR_QK / 2; j++) {
            int a = clamp_int(nearest_int((x[j] - min) * id), 0, 15);
            int b = clamp_int(nearest_int((x[j + 16] - min) * id), 0, 15);
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void quantize_q5_1(const float *x, hr_block_q5_1 *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK) {
        float min, id;
        y[i].d = TO_FP16(minmax_scale(x, 31, &min, &id));
        y[i].m = TO_FP16(min);
        uint32_t qh = 0;
        for (int j = 0; j < HR_QK / 2; j++) {
            int a = clamp_int(nearest_int((x[j] - min) * id), 0, 31);
            int b = clamp_int(nearest_int((x[j + 16] - min) * id), 0, 31);
            y[i].qs[j] = (uint8_t)((a & 15) | ((b & 15) << 4));
            qh |= (uint32_t)(a >> 4) << j;
            qh |= (uint32_t)(b >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

/* ---- 32-block types: dequantize ---------------------------------------- */

static void dequantize_q8_0(const hr_block_q8_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d);
        for (int j = 0; j < HR_QK; j++)
            y[j] = d * (float)x[i].qs[j];
    }
}

static void dequantize_q8_1(const hr_block_q8_1 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d);
        for (int j = 0; j < HR_QK; j++)
            y[j] = d * (float)x[i].qs[j];
    }
}

static void dequantize_q4_0(const hr_block_q4_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d);
        for (int j = 0; j < HR_QK / 2; j++) {
            y[j] = d * (float)((x[i].qs[j] & 15) - 8);
            y[j + 16] = d * (float)((x[i].qs[j] >> 4) - 8);
        }
    }
}

static void dequantize_q4_1(const hr_block_q4_1 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < HR_QK / 2; j++) {
            y[j] = d * (float)(x[i].qs[j] & 15) + m;
            y[j + 16] = d * (float)(x[i].qs[j] >> 4) + m;
        }
    }
}

/* 5-bit values of a q5 block: the nibble plus bit j of qh as bit 4. */
static void q5_values(const uint8_t qs[16], const uint8_t qh4[4], int v[32])
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        v[j] = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        v[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}

static void dequantize_q5_0(const hr_block_q5_0 *x, float *y, int64_t nb)
{
    int v[32];
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d);
        q5_values(x[i].qs, x[i].qh, v);
        for (int j = 0; j < HR_QK; j++)
            y[j] = d * (float)(v[j] - 16);
    }
}

static void dequantize_q5_1(const hr_block_q5_1 *x, float *y, int64_t nb)
{
    int v[32];
    for (int64_t i = 0; i < nb; i++, y += HR_QK) {
        float d = FP16(x[i].d), m = FP16(x[i].m);
        q5_values(x[i].qs, x[i].qh, v);
        for (int j = 0; j < HR_QK; j++)
            y[j] = d * (float)v[j] + m;
    }
}

/* ---- K types ------------------------------------------------------------ */

/* Fits x[0..n) ~ scale*q - min with q in [0, nmax], min >= 0 (so the range
 * always covers 0, like llama.cpp's K quants). Tries a grid of candidate
 * scales around (max-min)/nmax, refits scale and min by least squares for
 * each rounding, keeps the one with the smallest squared error. */
static float fit_scale_min(const float *x, int n, int nmax, float *the_min)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (lo > 0.0f)
        lo = 0.0f;
    if (hi <= lo) {
        *the_min = -lo;
        return 0.0f;
    }
    float best_scale = (hi - lo) / (float)nmax, best_min = lo, best_err = FLT_MAX;
    for (int step = -8; step <= 8; step++) {
        float iscale = ((float)nmax + 0.1f * (float)step) / (hi - lo);
        float sq = 0, sx = 0, sqx = 0, sqq = 0;
        for (int i = 0; i < n; i++) {
            float q = (float)clamp_int(nearest_int(iscale * (x[i] - lo)), 0, nmax);
            sq += q;
            sx += x[i];
            sqx += q * x[i];
            sqq += q * q;
        }
        float det = (float)n * sqq - sq * sq;
        if (det <= 0.0f)
            continue;
        float scale = ((float)n * sqx - sq * sx) / det;
        float min = (sqq * sx - sq * sqx) / det;
        if (min > 0.0f) { /* keep 0 representable: refit scale with min = 0 */
            min = 0.0f;
            scale = sqq > 0.0f ? sqx / sqq : 0.0f;
        }
        if (scale <= 0.0f)
            continue;
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float q = (float)clamp_int(nearest_int((x[i] - min) / scale), 0, nmax);
            float e = scale * q + min - x[i];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            best_scale = scale;
            best_min = min;
        }
    }
    *the_min = -best_min;
    return best_scale;
}

/* Packs 8 six-bit scales and mins into the 12-byte Q4_K/Q5_K layout. */
static void k4_pack_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[12])
{
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* Shared Q4_K/Q5_K quantizer of one super-block: fills d, dmin, scales and
 * the integer levels q[256] in [0, nmax]. */
static void quantize_k4_block(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out, uint8_t scales[12],
                              uint8_t q[HR_QK_K])
{
    float sub_scale[8], sub_min[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        sub_scale[j] = fit_scale_min(x + 32 * j, 32, nmax, &sub_min[j]);
        max_scale = fmaxf(max_scale, sub_scale[j]);
        max_min = fmaxf(max_min, sub_min[j]);
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)clamp_int(nearest_int(inv_scale * sub_scale[j]), 0, 63);
        mn[j] = (uint8_t)clamp_int(nearest_int(inv_min * sub_min[j]), 0, 63);
    }
    k4_pack_scales(sc, mn, scales);
    *d_out = TO_FP16(max_scale / 63.0f);
    *dmin_out = TO_FP16(max_min / 63.0f);
    /* Requantize against the scales as stored (fp16 and 6-bit rounded). */
    float d = FP16(*d_out), dmin = FP16(*dmin_out);
    for (int j = 0; j < 8; j++) {
        float s = d * (float)sc[j], m = dmin * (float)mn[j];
        for (int i = 0; i < 32; i++)
            q[32 * j + i] = s > 0.0f ? (uint8_t)clamp_int(nearest_int((x[32 * j + i] + m) / s), 0, nmax) : 0;
    }
}

static void quantize_q4_K(const float *x, hr_block_q4_K *y, int64_t nb)
{
    uint8_t q[HR_QK_K];
    for (int64_t i = 0; i < nb; i++, x += HR_QK_K) {
        quantize_k4_block(x, 15, &y[i].d, &y[i].dmin, y[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

static void quantize_q5_K(const float *x, hr_block_q5_K *y, int64_t nb)
{
    uint8_t q[HR_QK_K];
    for (int64_t i = 0; i < nb; i++, x += HR_QK_K) {
        quantize_k4_block(x, 31, &y[i].d, &y[i].dmin, y[i].scales, q);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int a = q[64 * c + l], b = q[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 15) | ((b & 15) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
        }
    }
}

static void dequantize_q4_K(const hr_block_q4_K *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        for (int c = 0; c < 4; c++, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            hr_k4_scale_min(2 * c, x[i].scales, &sc0, &m0);
            hr_k4_scale_min(2 * c + 1, x[i].scales, &sc1, &m1);
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                y[l] = d * (float)sc0 * (float)(q[l] & 15) - dmin * (float)m0;
                y[l + 32] = d * (float)sc1 * (float)(q[l] >> 4) - dmin * (float)m1;
            }
        }
    }
}

static void dequantize_q5_K(const hr_block_q5_K *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        for (int c = 0; c < 4; c++, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            hr_k4_scale_min(2 * c, x[i].scales, &sc0, &m0);
            hr_k4_scale_min(2 * c + 1, x[i].scales, &sc1, &m1);
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                int a = (q[l] & 15) | (((x[i].qh[l] >> (2 * c)) & 1) << 4);
                int b = (q[l] >> 4) | (((x[i].qh[l] >> (2 * c + 1)) & 1) << 4);
                y[l] = d * (float)sc0 * (float)a - dmin * (float)m0;
                y[l + 32] = d * (float)sc1 * (float)b - dmin * (float)m1;
            }
        }
    }
}

/* Level index l (0..255) of a Q6_K block -> ql/qh positions, see the layout. */
static void q6_values(const hr_block_q6_K *b, int v[HR_QK_K])
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int *o = v + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
            o[l + 32] = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            o[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            o[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        }
    }
}

static void quantize_q6_K(const float *x, hr_block_q6_K *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK_K) {
        /* Per 16-element sub-block: symmetric scale, q in [-32, 31]; try a
         * few scales around amax/32 and keep the best. */
        float sub[16], max_abs = 0.0f, max_sub = 0.0f;
        for (int s = 0; s < 16; s++) {
            const float *xs = x + 16 * s;
            float amax = 0.0f, vmax = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (fabsf(xs[l]) > amax) {
                    amax = fabsf(xs[l]);
                    vmax = xs[l];
                }
            }
            float best = 0.0f, best_err = FLT_MAX;
            for (int step = -6; step <= 6 && amax > 0.0f; step++) {
                float scale = vmax / (-32.0f + 0.25f * (float)step);
                float sqx = 0, sqq = 0;
                for (int l = 0; l < 16; l++) {
                    float q = (float)clamp_int(nearest_int(xs[l] / scale), -32, 31);
                    sqx += q * xs[l];
                    sqq += q * q;
                }
                if (sqq <= 0.0f)
                    continue;
                float fit = sqx / sqq, err = 0.0f;
                for (int l = 0; l < 16; l++) {
                    float e = fit * (float)clamp_int(nearest_int(xs[l] / fit), -32, 31) - xs[l];
                    err += e * e;
                }
                if (err < best_err) {
                    best_err = err;
                    best = fit;
                }
            }
            sub[s] = best;
            if (fabsf(best) > max_abs) {
                max_abs = fabsf(best);
                max_sub = best;
            }
        }
        float d = max_sub / -128.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = TO_FP16(d);
        d = FP16(y[i].d);
        int q[HR_QK_K];
        for (int s = 0; s < 16; s++) {
            int sc = clamp_int(nearest_int(id * sub[s]), -128, 127);
            y[i].scales[s] = (int8_t)sc;
            float ds = d * (float)sc;
            for (int l = 0; l < 16; l++)
                q[16 * s + l] = ds != 0.0f ? clamp_int(nearest_int(x[16 * s + l] / ds), -32, 31) + 32 : 32;
        }
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const int *v = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((v[l] & 15) | ((v[l + 64] & 15) << 4));
                ql[l + 32] = (uint8_t)((v[l + 32] & 15) | ((v[l + 96] & 15) << 4));
                qh[l] = (uint8_t)((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                  ((v[l + 96] >> 4) << 6));
            }
        }
    }
}

static void dequantize_q6_K(const hr_block_q6_K *x, float *y, int64_t nb)
{
    int v[HR_QK_K];
    for (int64_t i = 0; i < nb; i++, y += HR_QK_K) {
        float d = FP16(x[i].d);
        q6_values(&x[i], v);
        for (int l = 0; l < HR_QK_K; l++)
            y[l] = d * (float)x[i].scales[l / 16] * (float)v[l];
    }
}

static void quantize_q8_K(const float *x, hr_block_q8_K *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += HR_QK_K) {
        float amax = 0.0f;
        for (int j = 0; j < HR_QK_K; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = d;
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) {
                int q = nearest_int(x[16 * s + l] * id);
                y[i].qs[16 * s + l] = (int8_t)q;
                sum += q;
            }
            y[i].bsums[s] = (int16_t)sum;
        }
    }
}

static void dequantize_q8_K(const hr_block_q8_K *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += HR_QK_K)
        for (int j = 0; j < HR_QK_K; j++)
            y[j] = x[i].d * (float)x[i].qs[j];
}

/* ---- public row conversions -------------------------------------------- */

void hr_dequantize_row(int type, const void *src, float *dst, int64_t n)
{
    const hr_type_traits *t = hr_type_get(type);
    assert(t && t->block_size > 0 && n % t->block_size == 0);
    int64_t nb = n / t->block_size;
    switch (type) {
    case HR_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case HR_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = hr_fp16_to_fp32(((const uint16_t *)src)[i]);
        break;
    case HR_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = hr_bf16_to_fp32(((const uint16_t *)src)[i]);
        break;
    case HR_TYPE_Q4_0: dequantize_q4_0(src, dst, nb); break;
    case HR_TYPE_Q4_1: dequantize_q4_1(src, dst, nb); break;
    case HR_TYPE_Q5_0: dequantize_q5_0(src, dst, nb); break;
    case HR_TYPE_Q5_1: dequantize_q5_1(src, dst, nb); break;
    case HR_TYPE_Q8_0: dequantize_q8_0(src, dst, nb); break;
    case HR_TYPE_Q8_1: dequantize_q8_1(src, dst, nb); break;
    case HR_TYPE_Q4_K: dequantize_q4_K(src, dst, nb); break;
    case HR_TYPE_Q5_K: dequantize_q5_K(src, dst, nb); break;
    case HR_TYPE_Q6_K: dequantize_q6_K(src, dst, nb); break;
    case HR_TYPE_Q8_K: dequantize_q8_K(src, dst, nb); break;
    default: assert(!"unsupported type"); break;
    }
}

void hr_quantize_row(int type, const float *src, void *dst, int64_t n)
{
    const hr_type_traits *t = hr_type_get(type);
    assert(t && t->block_size > 0 && n % t->block_size == 0);
    int64_t nb = n / t->block_size;
    switch (type) {
    case HR_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case HR_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = hr_fp32_to_fp16(src[i]);
        break;
    case HR_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = hr_fp32_to_bf16(src[i]);
        break;
    case HR_TYPE_Q4_0: quantize_q4_0(src, dst, nb); break;
    case HR_TYPE_Q4_1: quantize_q4_1(src, dst, nb); break;
    case HR_TYPE_Q5_0: quantize_q5_0(src, dst, nb); break;
    case HR_TYPE_Q5_1: quantize_q5_1(src, dst, nb); break;
    case HR_TYPE_Q8_0: quantize_q8_0(src, dst, nb); break;
    case HR_TYPE_Q8_1: quantize_q8_1(src, dst, nb); break;
    case HR_TYPE_Q4_K: quantize_q4_K(src, dst, nb); break;
    case HR_TYPE_Q5_K: quantize_q5_K(src, dst, nb); break;
    case HR_TYPE_Q6_K: quantize_q6_K(src, dst, nb); break;
    case HR_TYPE_Q8_K: quantize_q8_K(src, dst, nb); break;
    default: assert(!"unsupported type"); break;
    }
}

/* ---- reference dot products (weight row . activation row) -------------- */

static float dot_f32(const void *w, const void *x, int64_t k)
{
    const float *a = w, *b = x;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_f16(const void *w, const void *x, int64_t k)
{
    const uint16_t *a = w;
    const float *b = x;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)hr_fp16_to_fp32(a[i]) * b[i];
    return (float)s;
}

static float dot_bf16(const void *w, const void *x, int64_t k)
{
    const uint16_t *a = w;
    const float *b = x;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)hr_bf16_to_fp32(a[i]) * b[i];
    return (float)s;
}

static float dot_q8_0(const void *w, const void *x, int64_t k)
{
    const hr_block_q8_0 *a = w, *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / HR_QK; i++) {
        int sum = 0;
        for (int j = 0; j < HR_QK; j++)
            sum += a[i].qs[j] * b[i].qs[j];
        s += FP16(a[i].d) * FP16(b[i].d) * (float)sum;
    }
    return s;
}

static float dot_q4_0(const void *w, const void *x, int64_t k)
{
    const hr_block_q4_0 *a = w;
    const hr_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / HR_QK; i++) {
        int sum = 0;
        for (int j = 0; j < HR_QK / 2; j++)
            sum += ((a[i].qs[j] & 15) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        s += FP16(a[i].d) * FP16(b[i].d) * (float)sum;
    }
    return s;
}

static float dot_q4_1(const void *w, const void *x, int64_t k)
{
    const hr_block_q4_1 *a = w;
    const hr_block_q8_1 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / HR_QK; i++) {
        int sum = 0;
        for (int j = 0; j < HR_QK / 2; j++)
            sum += (a[i].qs[j] & 15) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        s += FP16(a[i].d) * FP16(b[i].d) * (float)sum + FP16(a[i].m) * FP16(b[i].s);
    }
    return s;
}

static float dot_q5_0(const void *w, const void *x, int64_t k)
{
    const hr_block_q5_0 *a = w;
    const hr_block_q8_0 *b = x;
    float s = 0.0f;
    int v[32];
    for (int64_t i = 0; i < k / HR_QK; i++) {
        q5_values(a[i].qs, a[i].qh, v);
        int sum = 0;
        for (int j = 0; j < HR_QK; j++)
            sum += (v[j] - 16) * b[i].qs[j];
        s += FP16(a[i].d) * FP16(b[i].d) * (float)sum;
    }
    return s;
}

static float dot_q5_1(const void *w, const void *x, int64_t k)
{
    const hr_block_q5_1 *a = w;
    const hr_block_q8_1 *b = x;
    float s = 0.0f;
    int v[32];
    for (int64_t i = 0; i < k / HR_QK; i++) {
        q5_values(a[i].qs, a[i].qh, v);
        int sum = 0;
        for (int j = 0; j < HR_QK; j++)
            sum += v[j] * b[i].qs[j];
        s += FP16(a[i].d) * FP16(b[i].d) * (float)sum + FP16(a[i].m) * FP16(b[i].s);
    }
    return s;
}

static float dot_q4_K(const void *w, const void *x, int64_t k)
{
    const hr_block_q4_K *a = w;
    const hr_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            hr_k4_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            const int8_t *y = b[i].qs + 32 * j;
            int sub = 0;
            for (int l = 0; l < 32; l++)
                sub += ((j & 1) ? (q[l] >> 4) : (q[l] & 15)) * y[l];
            sumi += sc * sub;
            summ += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += FP16(a[i].d) * b[i].d * (float)sumi - FP16(a[i].dmin) * b[i].d * (float)summ;
    }
    return s;
}

static float dot_q5_K(const void *w, const void *x, int64_t k)
{
    const hr_block_q5_K *a = w;
    const hr_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            hr_k4_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            const int8_t *y = b[i].qs + 32 * j;
            int sub = 0;
            for (int l = 0; l < 32; l++) {
                int lo = (j & 1) ? (q[l] >> 4) : (q[l] & 15);
                sub += (lo | (((a[i].qh[l] >> j) & 1) << 4)) * y[l];
            }
            sumi += sc * sub;
            summ += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += FP16(a[i].d) * b[i].d * (float)sumi - FP16(a[i].dmin) * b[i].d * (float)summ;
    }
    return s;
}

static float dot_q6_K(const void *w, const void *x, int64_t k)
{
    const hr_block_q6_K *a = w;
    const hr_block_q8_K *b = x;
    float s = 0.0f;
    int v[HR_QK_K];
    for (int64_t i = 0; i < k / HR_QK_K; i++) {
        q6_values(&a[i], v);
        int sumi = 0;
        for (int sb = 0; sb < 16; sb++) {
            int sub = 0;
            for (int l = 0; l < 16; l++)
                sub += v[16 * sb + l] * b[i].qs[16 * sb + l];
            sumi += a[i].scales[sb] * sub;
        }
        s += FP16(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

typedef float (*dot_fn)(const void *w, const void *x, int64_t k);

static dot_fn ref_dot(int wtype)
{
    switch (wtype) {
    case HR_TYPE_F32: return dot_f32;
    case HR_TYPE_F16: return dot_f16;
    case HR_TYPE_BF16: return dot_bf16;
    case HR_TYPE_Q4_0: return dot_q4_0;
    case HR_TYPE_Q4_1: return dot_q4_1;
    case HR_TYPE_Q5_0: return dot_q5_0;
    case HR_TYPE_Q5_1: return dot_q5_1;
    case HR_TYPE_Q8_0: return dot_q8_0;
    case HR_TYPE_Q4_K: return dot_q4_K;
    case HR_TYPE_Q5_K: return dot_q5_K;
    case HR_TYPE_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

void hr_matmul_rows_ref(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const void *xq, int n_batch,
                        float *y, int64_t ldy)
{
    dot_fn dot = ref_dot(wtype);
    assert(dot && "weight type has no dot product");
    size_t ws = hr_type_row_bytes(wtype, k);
    size_t xs = hr_type_row_bytes(hr_vec_dot_type(wtype), k);
    for (int b = 0; b < n_batch; b++)
        for (int64_t r = r0; r < r1; r++)
            y[b * ldy + r] = dot((const char *)w + (size_t)r * ws, (const char *)xq + (size_t)b * xs, k);
}
