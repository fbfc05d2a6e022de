/* Tensor types and matrix kernels: fp16/bf16 conversions exact on known
 * values, GGUF block layouts decoded as ggml defines them, quantize ->
 * dequantize error within per-type tolerances, the reference dot products
 * equal to float math on dequantized values, and every SIMD level the CPU
 * has equal to the scalar reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/quant.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Roughly normal (sum of uniforms), with the occasional outlier real
 * weights have. */
static float rng_weight(void)
{
    float s = 0.0f;
    for (int i = 0; i < 4; i++)
        s += (float)(rng_u32() & 0xffff) / 65536.0f - 0.5f;
    if ((rng_u32() & 255) == 0)
        s *= 4.0f;
    return s;
}

static void fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * rng_weight();
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const int all_types[] = {HR_TYPE_F32,  HR_TYPE_F16,  HR_TYPE_BF16, HR_TYPE_Q8_0, HR_TYPE_Q4_0, HR_TYPE_Q4_1,
                                HR_TYPE_Q5_0, HR_TYPE_Q5_1, HR_TYPE_Q4_K, HR_TYPE_Q5_K, HR_TYPE_Q6_K};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))

/* ---- type table --------------------------------------------------------- */

static void test_type_table(void **state)
{
    (void)state;
    static const struct {
        int type, block, bytes;
        const char *name;
    } want[] = {
        {HR_TYPE_F32, 1, 4, "f32"},         {HR_TYPE_F16, 1, 2, "f16"},        {HR_TYPE_BF16, 1, 2, "bf16"},
        {HR_TYPE_Q4_0, 32, 18, "q4_0"},     {HR_TYPE_Q4_1, 32, 20, "q4_1"},    {HR_TYPE_Q5_0, 32, 22, "q5_0"},
        {HR_TYPE_Q5_1, 32, 24, "q5_1"},     {HR_TYPE_Q8_0, 32, 34, "q8_0"},    {HR_TYPE_Q8_1, 32, 36, "q8_1"},
        {HR_TYPE_Q4_K, 256, 144, "q4_K"},   {HR_TYPE_Q5_K, 256, 176, "q5_K"},  {HR_TYPE_Q6_K, 256, 210, "q6_K"},
        {HR_TYPE_Q8_K, 256, 292, "q8_K"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const hr_type_traits *t = hr_type_get(want[i].type);
        assert_non_null(t);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->block_size, want[i].block);
        assert_int_equal(t->block_bytes, want[i].bytes);
        assert_true(t->supported);
        assert_int_equal(hr_type_row_bytes(want[i].type, 4096), (size_t)(4096 / want[i].block * want[i].bytes));
    }
    assert_null(hr_type_get(4)); /* removed Q4_2 */
    assert_null(hr_type_get(-1));
    assert_null(hr_type_get(HR_TYPE_COUNT));
    assert_int_equal(hr_type_row_bytes(HR_TYPE_Q4_K, 100), 0);  /* not a whole block */
    assert_int_equal(hr_type_row_bytes(HR_TYPE_Q2_K, 256), 0);  /* known but unsupported */
    assert_int_equal(hr_vec_dot_type(HR_TYPE_F16), HR_TYPE_F32);
    assert_int_equal(hr_vec_dot_type(HR_TYPE_Q4_0), HR_TYPE_Q8_0);
    assert_int_equal(hr_vec_dot_type(HR_TYPE_Q5_1), HR_TYPE_Q8_1);
    assert_int_equal(hr_vec_dot_type(HR_TYPE_Q6_K), HR_TYPE_Q8_K);
}

/* ---- fp16 / bf16 -------------------------------------------------------- */

static void test_fp16_known_values(void **state)
{
    (void)state;
    static const struct {
        float f;
        uint16_t h;
    } exact[] = {
        {0.0f, 0x0000},     {1.0f, 0x3c00},       {-2.0f, 0xc000},        {65504.0f, 0x7bff},
        {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001},   {1023 * 0x1p-24f, 0x03ff}, {0.5f, 0x3800},
        {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        assert_int_equal(hr_fp32_to_fp16(exact[i].f), exact[i].h);
        assert_true(hr_fp16_to_fp32(exact[i].h) == exact[i].f);
    }
    assert_int_equal(hr_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(bits(hr_fp16_to_fp32(0x8000)), 0x80000000u);
    /* rounding: ties to even, overflow to inf, underflow to zero */
    assert_int_equal(hr_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);       /* tie, even down */
    assert_int_equal(hr_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);   /* tie, even up */
    assert_int_equal(hr_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    assert_int_equal(hr_fp32_to_fp16(65519.0f), 0x7bff);
    assert_int_equal(hr_fp32_to_fp16(65520.0f), 0x7c00);
    assert_int_equal(hr_fp32_to_fp16(1e10f), 0x7c00);
    assert_int_equal(hr_fp32_to_fp16(0x1p-25f), 0x0000);              /* tie to even zero */
    assert_int_equal(hr_fp32_to_fp16(0x1.8p-25f), 0x0001);
    assert_int_equal(hr_fp32_to_fp16(3 * 0x1p-25f), 0x0002);          /* 1.5 units: tie up to 2 */
    assert_int_equal(hr_fp32_to_fp16(-1e-30f), 0x8000);
    assert_int_equal(hr_fp32_to_fp16(0x1p-14f - 0x1p-25f), 0x0400);   /* rounds up into the normals */
    /* NaN stays NaN both ways */
    uint16_t hn = hr_fp32_to_fp16(NAN);
    assert_int_equal(hn & 0x7c00, 0x7c00);
    assert_true((hn & 0x3ff) != 0);
    assert_true(isnan(hr_fp16_to_fp32(0x7e00)));
    assert_true(isnan(hr_fp16_to_fp32(0xfc01)));
    /* every finite half survives a round trip through float */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        assert_int_equal(hr_fp32_to_fp16(hr_fp16_to_fp32((uint16_t)h)), h);
    }
}

__attribute__((target("f16c"))) static uint16_t hw_fp32_to_fp16(float f)
{
    return (uint16_t)__builtin_ia32_vcvtps2ph((float __attribute__((vector_size(16)))){f, 0, 0, 0}, 0)[0];
}

/* The scalar conversion must agree with F16C (what llama.cpp uses to write
 * files and what the fast paths use). */
static void test_fp16_matches_f16c(void **state)
{
    (void)state;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("f16c"))
        skip();
    for (int i = 0; i < 200000; i++) {
        uint32_t u = rng_u32() ^ (rng_u32() << 16);
        float f = from_bits(u);
        if (isnan(f))
            continue;
        assert_int_equal(hr_fp32_to_fp16(f), hw_fp32_to_fp16(f));
    }
}

static void test_bf16_known_values(void **state)
{
    (void)state;
    assert_int_equal(hr_fp32_to_bf16(1.0f), 0x3f80);
    assert_true(hr_bf16_to_fp32(0x3f80) == 1.0f);
    assert_true(hr_bf16_to_fp32(0xc040) == -3.0f);
    assert_int_equal(hr_fp32_to_bf16(from_bits(0x3f808000u)), 0x3f80); /* tie, even down */
    assert_int_equal(hr_fp32_to_bf16(from_bits(0x3f818000u)), 0x3f82); /* tie, even up */
    assert_int_equal(hr_fp32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    assert_int_equal(hr_fp32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80); /* FLT_MAX rounds to inf */
    assert_int_equal(hr_fp32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(hr_fp32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(hr_fp32_to_bf16(from_bits(0x00010000u)), 0x0001); /* subnormal kept */
    assert_int_equal(hr_fp32_to_bf16(-0.0f), 0x8000);
    uint16_t n = hr_fp32_to_bf16(from_bits(0x7f800001u)); /* NaN with low payload: not inf */
    assert_true(isnan(hr_bf16_to_fp32(n)));
    assert_true(isnan(hr_bf16_to_fp32(hr_fp32_to_bf16(-NAN))));
}

/* ---- block layouts (hand-built blocks, decoded per the ggml layout) ----- */

static void test_layout_q4_0_q5_0_q8_0(void **state)
{
    (void)state;
    uint8_t b[22];
    float y[32];
    /* q4_0: d = 2.0; byte j holds element j (low nibble) and j+16 (high) */
    b[0] = 0x00, b[1] = 0x40;
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    hr_dequantize_row(HR_TYPE_Q4_0, b, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 2.0f * (float)(j - 8));
        assert_true(y[j + 16] == 2.0f * (float)(7 - j));
    }
    /* q5_0: d = 1.0; qh bit j is bit 4 of element j */
    b[0] = 0x00, b[1] = 0x3c;
    uint32_t qh = 0x80000001u; /* elements 0 and 31 */
    memcpy(b + 2, &qh, 4);
    memset(b + 6, 0x00, 16);
    hr_dequantize_row(HR_TYPE_Q5_0, b, y, 32);
    assert_true(y[0] == 0.0f);   /* 16 - 16 */
    assert_true(y[1] == -16.0f); /* 0 - 16 */
    assert_true(y[31] == 0.0f);
    assert_true(y[16] == -16.0f);
    /* q8_0: d = -0.5 */
    uint8_t b8[34];
    b8[0] = 0x00, b8[1] = 0xb8;
    for (int j = 0; j < 32; j++)
        b8[2 + j] = (uint8_t)(int8_t)(j - 16);
    hr_dequantize_row(HR_TYPE_Q8_0, b8, y, 32);
    for (int j = 0; j < 32; j++)
        assert_true(y[j] == -0.5f * (float)(j - 16));
}

static void test_layout_k_quants(void **state)
{
    (void)state;
    float y[256];
    /* q4_K: d = 1, dmin = 1; sub-block 5 gets scale 42 (low nibble 10 in
     * scales[9], top bits 2 in scales[1]) and min 37 (high nibble 5 in
     * scales[9], top bits 2 in scales[5]); sub-block 1 scale 3, min 4. */
    uint8_t k4[144] = {0};
    k4[0] = 0x00, k4[1] = 0x3c, k4[2] = 0x00, k4[3] = 0x3c;
    uint8_t *sc = k4 + 4, *qs = k4 + 16;
    sc[1] = 3 | (2 << 6);
    sc[5] = 4 | (2 << 6);
    sc[9] = 10 | (5 << 4);
    qs[32 * 2 + 7] = 0x90;  /* chunk 2, byte 7: element 128+7 = 0, element 160+7 = 9 */
    qs[32 * 0 + 3] = 0x0f;  /* chunk 0, byte 3: element 3 = 15 (sub-block 0: scale 0) */
    qs[32 * 0 + 4] = 0x60;  /* element 32+4 = 6 (sub-block 1) */
    hr_dequantize_row(HR_TYPE_Q4_K, k4, y, 256);
    assert_true(y[160 + 7] == 42.0f * 9.0f - 37.0f);
    assert_true(y[160 + 8] == -37.0f);
    assert_true(y[3] == 0.0f);
    assert_true(y[36] == 3.0f * 6.0f - 4.0f);
    assert_true(y[37] == -4.0f);

    /* q5_K: same scales, qh bit j marks bit 4 of sub-block j's element l */
    uint8_t k5[176] = {0};
    memcpy(k5, k4, 16);
    uint8_t *qh = k5 + 16, *qs5 = k5 + 48;
    qh[7] = 1 << 5;         /* element 7 of sub-block 5 (= 167) gets +16 */
    qs5[32 * 2 + 7] = 0x90; /* low 4 bits 9 for element 167 */
    hr_dequantize_row(HR_TYPE_Q5_K, k5, y, 256);
    assert_true(y[167] == 42.0f * 25.0f - 37.0f);
    assert_true(y[7] == 0.0f);

    /* q6_K: d = 0.5; scale of sub-block 9 (elements 144..159) is -3.
     * Element 128+64+... layout: half 1, l = 16: ql[64+16] high nibble and
     * qh[32+16] bits 4-5 give element 128+64+16 = 208 (sub-block 13). */
    uint8_t k6[210] = {0};
    uint8_t *ql = k6, *qh6 = k6 + 128;
    int8_t *s6 = (int8_t *)(k6 + 192);
    k6[208] = 0x00, k6[209] = 0x38;
    for (int s = 0; s < 16; s++)
        s6[s] = 1;
    s6[9] = -3;
    s6[13] = 2;
    /* all elements default to q = 0 -> value (0 - 32) * scale * d */
    ql[64 + 16] = 0x50;         /* element 208 low 4 bits 5 */
    qh6[32 + 16] = 3 << 4;      /* element 208 high bits 3 -> q = 53 */
    ql[64 + 32 + 17] = 0x0a;    /* element 128+32+17 = 177 (sub-block 11) low bits 10 */
    qh6[32 + 17] = 1 << 2;      /* high bits 1 -> q = 26 */
    hr_dequantize_row(HR_TYPE_Q6_K, k6, y, 256);
    assert_true(y[208] == 0.5f * 2.0f * (float)(53 - 32));
    assert_true(y[177] == 0.5f * 1.0f * (float)(26 - 32));
    assert_true(y[150] == 0.5f * -3.0f * -32.0f);
    assert_true(y[0] == 0.5f * -32.0f);
}

/* ---- quantize -> dequantize round trip ---------------------------------- */

/* Relative RMS error bounds on roughly normal data with outliers. */
#define TOL_RT_F16 1e-3
#define TOL_RT_BF16 5e-3
#define TOL_RT_Q8 0.012
#define TOL_RT_Q8_K 0.016 /* one scale per 256: outliers cost more */
#define TOL_RT_Q6_K 0.04
#define TOL_RT_Q5 0.07
#define TOL_RT_Q5_K 0.06
#define TOL_RT_Q4 0.14
#define TOL_RT_Q4_K 0.11

static double roundtrip_rel_rms(int type, const float *x, int64_t n)
{
    size_t bytes = hr_type_row_bytes(type, n);
    assert_true(bytes > 0);
    void *q = malloc(bytes);
    float *y = malloc((size_t)n * sizeof(float));
    hr_quantize_row(type, x, q, n);
    hr_dequantize_row(type, q, y, n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        ref += (double)x[i] * x[i];
    }
    free(q);
    free(y);
    return sqrt(err / ref);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const struct {
        int type;
        double tol;
    } cases[] = {
        {HR_TYPE_F32, 0.0},         {HR_TYPE_F16, TOL_RT_F16},   {HR_TYPE_BF16, TOL_RT_BF16},
        {HR_TYPE_Q8_0, TOL_RT_Q8},  {HR_TYPE_Q8_1, TOL_RT_Q8},   {HR_TYPE_Q8_K, TOL_RT_Q8_K},
        {HR_TYPE_Q6_K, TOL_RT_Q6_K}, {HR_TYPE_Q5_0, TOL_RT_Q5},  {HR_TYPE_Q5_1, TOL_RT_Q5},
        {HR_TYPE_Q5_K, TOL_RT_Q5_K}, {HR_TYPE_Q4_0, TOL_RT_Q4},  {HR_TYPE_Q4_1, TOL_RT_Q4},
        {HR_TYPE_Q4_K, TOL_RT_Q4_K},
    };
    enum { N = 8192 };
    float *x = malloc(N * sizeof(float));
    fill(x, N, 0.05f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e = roundtrip_rel_rms(cases[i].type, x, N);
        if (getenv("HR_TEST_VERBOSE"))
            printf("roundtrip %-5s rel rms %.5f (tol %.4f)\n", hr_type_get(cases[i].type)->name, e, cases[i].tol);
        if (!(e <= cases[i].tol))
            fail_msg("%s: relative RMS %.5f > %.5f", hr_type_get(cases[i].type)->name, e, cases[i].tol);
    }
    /* all-zero and constant blocks must not produce NaN */
    float z[256];
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < 256; i++)
            z[i] = v ? 0.25f : 0.0f;
        for (int t = 0; t < N_TYPES; t++) {
            uint8_t q[1024];
            float y[256];
            hr_quantize_row(all_types[t], z, q, 256);
            hr_dequantize_row(all_types[t], q, y, 256);
            for (int i = 0; i < 256; i++)
                if (!(fabsf(y[i] - z[i]) <= 0.02f))
                    fail_msg("%s: constant %g block decodes to %g at %d", hr_type_get(all_types[t])->name, z[i],
                             y[i], i);
        }
    }
    free(x);
}

/* ---- matmul ------------------------------------------------------------- */

/* Fast path vs reference: |y - y_ref| <= TOL * sum|w_i x_i| (float
 * summation order is the only difference; the integer sums are exact). */
#define TOL_MM_FAST 2e-5
/* Reference integer dot vs float dot of the dequantized operands. */
#define TOL_MM_DEQUANT 2e-5
/* Q8_1 stores s = d*sum(q) as fp16, so the min term of q4_1/q5_1 carries an
 * fp16 rounding (2^-11 relative) of m*s: bounded by |m|*|s| per block. */
#define TOL_MM_Q8_1_S 1e-3

typedef struct {
    int wtype;
    int64_t k, rows;
    int n_batch;
    float *wf, *xf;      /* float source data */
    void *w, *xq;        /* quantized */
    float *wd, *xd;      /* dequantized */
    float *mag;          /* [b*rows + r] = sum |wd * xd| */
} mm_case;

static void mm_case_init(mm_case *c, int wtype, int64_t k, int64_t rows, int n_batch)
{
    int at = hr_vec_dot_type(wtype);
    c->wtype = wtype, c->k = k, c->rows = rows, c->n_batch = n_batch;
    c->wf = malloc((size_t)(k * rows) * sizeof(float));
    c->xf = malloc((size_t)(k * n_batch) * sizeof(float));
    c->wd = malloc((size_t)(k * rows) * sizeof(float));
    c->xd = malloc((size_t)(k * n_batch) * sizeof(float));
    c->mag = malloc((size_t)(rows * n_batch) * sizeof(float));
    size_t ws = hr_type_row_bytes(wtype, k), xs = hr_type_row_bytes(at, k);
    assert_true(ws > 0 && xs > 0);
    c->w = malloc(ws * (size_t)rows);
    c->xq = malloc(xs * (size_t)n_batch);
    fill(c->wf, k * rows, 0.05f);
    fill(c->xf, k * n_batch, 1.0f);
    for (int64_t r = 0; r < rows; r++) {
        hr_quantize_row(wtype, c->wf + r * k, (char *)c->w + (size_t)r * ws, k);
        hr_dequantize_row(wtype, (char *)c->w + (size_t)r * ws, c->wd + r * k, k);
    }
    for (int b = 0; b < n_batch; b++) {
        hr_quantize_row(at, c->xf + b * k, (char *)c->xq + (size_t)b * xs, k);
        hr_dequantize_row(at, (char *)c->xq + (size_t)b * xs, c->xd + b * k, k);
    }
    for (int b = 0; b < n_batch; b++)
        for (int64_t r = 0; r < rows; r++) {
            double m = 0;
            for (int64_t i = 0; i < k; i++)
                m += fabs((double)c->wd[r * k + i] * c->xd[b * k + i]);
            c->mag[b * rows + r] = (float)m;
        }
}

static void mm_case_free(mm_case *c)
{
    free(c->wf), free(c->xf), free(c->wd), free(c->xd), free(c->mag), free(c->w), free(c->xq);
}

static void test_ref_matches_dequantized(void **state)
{
    (void)state;
    for (int t = 0; t < N_TYPES; t++) {
        int64_t k = 512;
        mm_case c;
        mm_case_init(&c, all_types[t], k, 3, 2);
        float y[6];
        hr_matmul_rows_ref(c.wtype, c.w, k, 0, 3, c.xq, 2, y, 3);
        for (int b = 0; b < 2; b++)
            for (int r = 0; r < 3; r++) {
                double want = 0;
                for (int64_t i = 0; i < k; i++)
                    want += (double)c.wd[r * k + i] * c.xd[b * k + i];
                double err = fabs(y[b * 3 + r] - want);
                double tol = TOL_MM_DEQUANT * c.mag[b * 3 + r] + 1e-12;
                if (hr_vec_dot_type(c.wtype) == HR_TYPE_Q8_1) {
                    double ms = 0; /* sum over blocks of |min| * |sum x| */
                    for (int64_t i = 0; i < k; i += 32) {
                        double sx = 0, mn = 1e30;
                        for (int j = 0; j < 32; j++) {
                            sx += c.xd[b * k + i + j];
                            mn = fmin(mn, c.wd[r * k + i + j]);
                        }
                        ms += fabs(mn) * fabs(sx);
                    }
                    tol += TOL_MM_Q8_1_S * ms;
                }
                if (!(err <= tol))
                    fail_msg("%s: ref dot %g, float dot of dequantized %g", hr_type_get(c.wtype)->name,
                             (double)y[b * 3 + r], want);
            }
        mm_case_free(&c);
    }
}

/* Fast path vs reference for every row range and batch size given: y equal
 * within tolerance inside the range, untouched outside it. */
static void check_fast_vs_ref_shape(const char *level, int wtype, int64_t k, int64_t rows, const int64_t (*ranges)[2],
                                    int n_ranges, const int *nbs, int n_nbs)
{
    int maxb = 0;
    for (int i = 0; i < n_nbs; i++)
        maxb = nbs[i] > maxb ? nbs[i] : maxb;
    mm_case c;
    mm_case_init(&c, wtype, k, rows, maxb);
    int64_t ldy = rows + 3;
    float *yf = malloc(sizeof(float) * (size_t)(maxb * ldy)), *yr = malloc(sizeof(float) * (size_t)(maxb * ldy));
    for (int ri = 0; ri < n_ranges; ri++) {
        int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
        for (int ni = 0; ni < n_nbs; ni++) {
            int nb = nbs[ni];
            for (int64_t i = 0; i < maxb * ldy; i++)
                yf[i] = yr[i] = -12345.0f;
            hr_matmul_rows(wtype, c.w, k, r0, r1, c.xq, nb, yf, ldy);
            hr_matmul_rows_ref(wtype, c.w, k, r0, r1, c.xq, nb, yr, ldy);
            for (int b = 0; b < maxb; b++)
                for (int64_t r = 0; r < ldy; r++) {
                    float f = yf[b * ldy + r], ref = yr[b * ldy + r];
                    bool inside = b < nb && r >= r0 && r < r1;
                    if (!inside) {
                        if (f != -12345.0f)
                            fail_msg("%s %s k=%lld: wrote y outside its range (b=%d r=%lld)", level,
                                     hr_type_get(wtype)->name, (long long)k, b, (long long)r);
                        continue;
                    }
                    double tol = TOL_MM_FAST * c.mag[b * rows + r] + 1e-12;
                    if (!(fabs((double)f - ref) <= tol))
                        fail_msg("%s %s k=%lld rows [%lld,%lld) nb=%d: y[%d][%lld] = %.7g, reference %.7g", level,
                                 hr_type_get(wtype)->name, (long long)k, (long long)r0, (long long)r1, nb, b,
                                 (long long)r, (double)f, (double)ref);
                }
        }
    }
    free(yf), free(yr);
    mm_case_free(&c);
}

static void check_fast_vs_ref(const char *level, int wtype, int64_t k)
{
    static const int64_t ranges[][2] = {{0, 13}, {3, 4}, {5, 12}, {1, 9}};
    static const int nbs[] = {1, 2, 3, 4, 5, 6, 7, 8};
    check_fast_vs_ref_shape(level, wtype, k, 13, ranges, 4, nbs, 8);
}

/* Batched shapes: several 16-row tiles and 64-row groups with partial ones,
 * full and partial 16-activation tiles, small batches (2, 5: the Q8_0
 * weights-as-A tile path), K over several 512- and 1024-element segments
 * with a partial last one (the tiled paths' edges). */
static void check_fast_vs_ref_batched(const char *level, int wtype)
{
    static const int64_t ranges[][2] = {{0, 83}, {5, 70}, {16, 32}, {64, 65}};
    static const int nbs[] = {16, 9, 33, 17, 2, 5};
    int64_t k = hr_type_get(wtype)->block_size == 256 ? 1280 : 1120;
    check_fast_vs_ref_shape(level, wtype, k, 83, ranges, 4, nbs, (int)(sizeof nbs / sizeof nbs[0]));
}

/* Generation's matvec (n_batch 1) on rows taken from a wider matrix
 * (hr_matmul_rows_strided, padding filled with junk): the fast kernels pair
 * row r with row r + (r1 - r0) / 2 (two streams) and must use the stride for
 * both; odd and even row counts, k with a partial last 4-block group. */
static void check_fast_vs_ref_strided(const char *level, int wtype)
{
    int64_t k = hr_type_get(wtype)->block_size == 256 ? 512 : 160, rows = 11;
    mm_case c;
    mm_case_init(&c, wtype, k, rows, 1);
    size_t ws = hr_type_row_bytes(wtype, k), stride = ws + 64;
    char *wide = malloc(stride * (size_t)rows);
    memset(wide, 0x5a, stride * (size_t)rows);
    for (int64_t r = 0; r < rows; r++)
        memcpy(wide + (size_t)r * stride, (const char *)c.w + (size_t)r * ws, ws);
    static const int64_t ranges[][2] = {{0, 11}, {2, 10}, {4, 5}};
    for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
        int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
        float yf[11], yr[11];
        for (int i = 0; i < 11; i++)
            yf[i] = yr[i] = -12345.0f;
        hr_matmul_rows_strided(wtype, wide, stride, k, r0, r1, c.xq, 1, yf, rows);
        hr_matmul_rows_ref(wtype, c.w, k, r0, r1, c.xq, 1, yr, rows);
        for (int64_t r = 0; r < rows; r++) {
            bool inside = r >= r0 && r < r1;
            if (!inside && yf[r] != -12345.0f)
                fail_msg("%s %s strided: wrote y outside its range (r=%lld)", level, hr_type_get(wtype)->name,
                         (long long)r);
            if (inside && !(fabs((double)yf[r] - yr[r]) <= TOL_MM_FAST * c.mag[r] + 1e-12))
                fail_msg("%s %s strided rows [%lld,%lld): y[%lld] = %.7g, reference %.7g", level,
                         hr_type_get(wtype)->name, (long long)r0, (long long)r1, (long long)r, (double)yf[r],
                         (double)yr[r]);
        }
    }
    free(wide);
    mm_case_free(&c);
}

/* The activation quantizer of the level agrees with the reference one. */
static void check_activation_quantizer(const char *level, int wtype, int64_t k)
{
    int at = hr_vec_dot_type(wtype);
    size_t xs = hr_type_row_bytes(at, k);
    float *x = malloc((size_t)k * sizeof(float)), *a = malloc((size_t)k * sizeof(float)),
          *b = malloc((size_t)k * sizeof(float));
    void *qa = malloc(xs), *qb = malloc(xs);
    fill(x, k, 3.0f);
    hr_quantize_activation_row(wtype, x, qa, k);
    hr_quantize_row(at, x, qb, k);
    hr_dequantize_row(at, qa, a, k);
    hr_dequantize_row(at, qb, b, k);
    /* at most one quantization step apart (round-half-even vs away) */
    for (int64_t i = 0; i < k; i++) {
        int bs = hr_type_get(at)->block_size;
        float amax = 0;
        for (int64_t j = i / bs * bs; j < i / bs * bs + bs; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        if (!(fabsf(a[i] - b[i]) <= amax / 127.0f * 1.01f + 1e-6f))
            fail_msg("%s: activation quantizer for %s differs at %lld: %g vs %g", level, hr_type_get(wtype)->name,
                     (long long)i, a[i], b[i]);
    }
    free(x), free(a), free(b), free(qa), free(qb);
}

static void test_fast_matches_reference(void **state)
{
    (void)state;
    static const char *const levels[] = {"scalar", "avx2", "avx512", "amx"};
    int tested = 0;
    for (int l = 0; l < 4; l++) {
        if (hr_simd_force(levels[l]) != 0)
            continue;
        assert_string_equal(hr_simd_level(), levels[l]);
        tested++;
        for (int t = 0; t < N_TYPES; t++) {
            int wt = all_types[t];
            int bs = hr_type_get(hr_vec_dot_type(wt))->block_size;
            bs = bs > hr_type_get(wt)->block_size ? bs : hr_type_get(wt)->block_size;
            static const int64_t ks[] = {256, 768, 4096, 32, 96, 160, 8, 24, 37, 100}; /* 37, 100: float only */
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
                if (ks[i] % bs != 0)
                    continue;
                check_fast_vs_ref(levels[l], wt, ks[i]);
            }
            check_activation_quantizer(levels[l], wt, 768);
            if (l > 0) {
                check_fast_vs_ref_batched(levels[l], wt);
                check_fast_vs_ref_strided(levels[l], wt);
            }
        }
    }
    assert_true(tested >= 1);
    assert_int_equal(hr_simd_force("sse9"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_fp16_known_values),
        cmocka_unit_test(test_fp16_matches_f16c),
        cmocka_unit_test(test_bf16_known_values),
        cmocka_unit_test(test_layout_q4_0_q5_0_q8_0),
        cmocka_unit_test(test_layout_k_quants),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_ref_matches_dequantized),
        cmocka_unit_test(test_fast_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
