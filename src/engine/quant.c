/* Type table and run-time dispatch between the SIMD levels.
 *
 * The level is chosen once (first call) from CPUID, or forced with
 * HR_SIMD=scalar|avx2|avx512|amx (a level the CPU lacks falls back to the best it
 * has, with a warning). Entries a level leaves NULL fall back to the level
 * below and finally to the scalar reference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant_impl.h"

static const hr_type_traits type_table[HR_TYPE_COUNT] = {
    [HR_TYPE_F32] = {"f32", 1, 4, true},
    [HR_TYPE_F16] = {"f16", 1, 2, true},
    [HR_TYPE_Q4_0] = {"q4_0", HR_QK, sizeof(hr_block_q4_0), true},
    [HR_TYPE_Q4_1] = {"q4_1", HR_QK, sizeof(hr_block_q4_1), true},
    [HR_TYPE_Q5_0] = {"q5_0", HR_QK, sizeof(hr_block_q5_0), true},
    [HR_TYPE_Q5_1] = {"q5_1", HR_QK, sizeof(hr_block_q5_1), true},
    [HR_TYPE_Q8_0] = {"q8_0", HR_QK, sizeof(hr_block_q8_0), true},
    [HR_TYPE_Q8_1] = {"q8_1", HR_QK, sizeof(hr_block_q8_1), true},
    [HR_TYPE_Q2_K] = {"q2_K", HR_QK_K, 84, false},
    [HR_TYPE_Q3_K] = {"q3_K", HR_QK_K, 110, false},
    [HR_TYPE_Q4_K] = {"q4_K", HR_QK_K, sizeof(hr_block_q4_K), true},
    [HR_TYPE_Q5_K] = {"q5_K", HR_QK_K, sizeof(hr_block_q5_K), true},
    [HR_TYPE_Q6_K] = {"q6_K", HR_QK_K, sizeof(hr_block_q6_K), true},
    [HR_TYPE_Q8_K] = {"q8_K", HR_QK_K, sizeof(hr_block_q8_K), true},
    [HR_TYPE_BF16] = {"bf16", 1, 2, true},
};

const hr_type_traits *hr_type_get(int type)
{
    if (type < 0 || type >= HR_TYPE_COUNT || !type_table[type].name)
        return NULL;
    return &type_table[type];
}

size_t hr_type_row_bytes(int type, int64_t n)
{
    const hr_type_traits *t = hr_type_get(type);
    if (!t || !t->supported || n < 0 || n % t->block_size != 0)
        return 0;
    return (size_t)(n / t->block_size) * t->block_bytes;
}

int hr_vec_dot_type(int wtype)
{
    switch (wtype) {
    case HR_TYPE_Q4_0:
    case HR_TYPE_Q5_0:
    case HR_TYPE_Q8_0: return HR_TYPE_Q8_0;
    case HR_TYPE_Q4_1:
    case HR_TYPE_Q5_1: return HR_TYPE_Q8_1;
    case HR_TYPE_Q4_K:
    case HR_TYPE_Q5_K:
    case HR_TYPE_Q6_K: return HR_TYPE_Q8_K;
    default: return HR_TYPE_F32;
    }
}

/* ---- dispatch ----------------------------------------------------------- */

enum { LEVEL_SCALAR, LEVEL_AVX2, LEVEL_AVX512, LEVEL_AMX, LEVEL_COUNT };
static const char *const level_names[LEVEL_COUNT] = {"scalar", "avx2", "avx512", "amx"};

static hr_quant_kernels active;
static int active_level;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static int cpu_level_detect(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return hr_quant_amx_available() ? LEVEL_AMX : LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return LEVEL_AVX2;
    return LEVEL_SCALAR;
}

/* Detected once: the AMX probe is a system call. */
static int cpu_level(void)
{
    static int level = -1;
    if (level < 0)
        level = cpu_level_detect();
    return level;
}

static void merge(hr_quant_kernels *dst, const hr_quant_kernels *src)
{
    for (int i = 0; i < HR_TYPE_COUNT; i++) {
        if (src->matmul[i])
            dst->matmul[i] = src->matmul[i];
        if (src->quantize[i])
            dst->quantize[i] = src->quantize[i];
    }
}

static void select_level(int level)
{
    hr_quant_kernels t;
    memset(&active, 0, sizeof active);
    if (level >= LEVEL_AVX2) {
        memset(&t, 0, sizeof t);
        hr_quant_kernels_avx2(&t);
        merge(&active, &t);
    }
    if (level >= LEVEL_AVX512) {
        memset(&t, 0, sizeof t);
        hr_quant_kernels_avx512(&t);
        merge(&active, &t);
    }
    if (level >= LEVEL_AMX) {
        memset(&t, 0, sizeof t);
        hr_quant_kernels_amx(&t);
        merge(&active, &t);
    }
    active.name = level_names[level];
    active_level = level;
}

static void active_init(void)
{
    int have = cpu_level(), want = have;
    const char *env = getenv("HR_SIMD");
    if (env && *env) {
        int found = -1;
        for (int i = 0; i < LEVEL_COUNT; i++)
            if (strcmp(env, level_names[i]) == 0)
                found = i;
        if (found < 0)
            fprintf(stderr, "hermes-router: HR_SIMD=%s is not scalar|avx2|avx512|amx; using %s\n", env,
                    level_names[have]);
        else if (found > have)
            fprintf(stderr, "hermes-router: HR_SIMD=%s is not supported by this CPU; using %s\n", env,
                    level_names[have]);
        else
            want = found;
    }
    select_level(want);
}

static const hr_quant_kernels *kernels(void)
{
    pthread_once(&active_once, active_init);
    return &active;
}

const char *hr_simd_level(void)
{
    return kernels()->name;
}

int hr_simd_force(const char *level)
{
    kernels();
    for (int i = 0; i < LEVEL_COUNT; i++) {
        if (strcmp(level, level_names[i]) == 0) {
            if (i > cpu_level())
                return -1;
            select_level(i);
            return 0;
        }
    }
    return -1;
}

void hr_quantize_activation_row(int wtype, const float *x, void *xq, int64_t k)
{
    int at = hr_vec_dot_type(wtype);
    hr_quantize_fn q = kernels()->quantize[at];
    if (q)
        q(x, xq, k);
    else
        hr_quantize_row(at, x, xq, k);
}

void hr_matmul_rows_strided(int wtype, const void *w, size_t w_stride, int64_t k, int64_t r0, int64_t r1,
                            const void *xq, int n_batch, float *y, int64_t ldy)
{
    hr_matmul_fn mm = (wtype >= 0 && wtype < HR_TYPE_COUNT) ? kernels()->matmul[wtype] : NULL;
    if (!mm) { /* the reference takes packed rows: one row at a time */
        for (int64_t r = r0; r < r1; r++)
            hr_matmul_rows_ref(wtype, (const char *)w + (size_t)r * w_stride, k, 0, 1, xq, n_batch, y + r, ldy);
        return;
    }
    mm(w, w_stride, k, r0, r1, xq, hr_type_row_bytes(hr_vec_dot_type(wtype), k), n_batch, y, ldy);
}

void hr_matmul_rows(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const void *xq, int n_batch,
                    float *y, int64_t ldy)
{
    hr_matmul_fn mm = (wtype >= 0 && wtype < HR_TYPE_COUNT) ? kernels()->matmul[wtype] : NULL;
    if (!mm) {
        hr_matmul_rows_ref(wtype, w, k, r0, r1, xq, n_batch, y, ldy);
        return;
    }
    mm(w, hr_type_row_bytes(wtype, k), k, r0, r1, xq, hr_type_row_bytes(hr_vec_dot_type(wtype), k), n_batch, y,
       ldy);
}
