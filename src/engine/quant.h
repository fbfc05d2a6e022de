/* Tensor types and matrix kernels.
 *
 * Type ids are GGUF's (ggml_type) so they can be read straight from a file.
 * Each type has a plain scalar reference (quant_ref.c); fast paths (AVX2/FMA,
 * AVX-512/VNNI) live apart and are chosen once at run time from CPUID.
 * Weights are used in place (mmapped, read-only); activations are quantized on
 * the fly into the type the weight's dot product wants (hr_vec_dot_type).
 *
 * Threading is the caller's: hr_matmul_rows() computes a row range, so a
 * thread pool splits rows between workers. */
#ifndef HR_ENGINE_QUANT_H
#define HR_ENGINE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hr_type {
    HR_TYPE_F32 = 0,
    HR_TYPE_F16 = 1,
    HR_TYPE_Q4_0 = 2,
    HR_TYPE_Q4_1 = 3,
    HR_TYPE_Q5_0 = 6,
    HR_TYPE_Q5_1 = 7,
    HR_TYPE_Q8_0 = 8,
    HR_TYPE_Q8_1 = 9,
    HR_TYPE_Q2_K = 10,
    HR_TYPE_Q3_K = 11,
    HR_TYPE_Q4_K = 12,
    HR_TYPE_Q5_K = 13,
    HR_TYPE_Q6_K = 14,
    HR_TYPE_Q8_K = 15,
    HR_TYPE_BF16 = 30,
    HR_TYPE_COUNT = 31,
} hr_type;

typedef struct hr_type_traits {
    const char *name;     /* "q4_K", as GGUF tools print it */
    int block_size;       /* elements per block */
    size_t block_bytes;   /* bytes per block */
    bool supported;       /* the engine can compute with it */
} hr_type_traits;

/* NULL for an id that is not a known type. */
const hr_type_traits *hr_type_get(int type);
/* Bytes for n elements (n must be a multiple of block_size); 0 if unsupported. */
size_t hr_type_row_bytes(int type, int64_t n);

/* Reference conversions, used by tests, the synthesizer and embedding lookup.
 * type must be supported and n a multiple of its block size (checked by
 * assert only: callers validate shapes when they load a tensor). Quantizers
 * round to nearest with per-block scales; K types search each sub-block's
 * scale/min. F16/BF16 round to nearest even, as llama.cpp does. */
void hr_dequantize_row(int type, const void *src, float *dst, int64_t n);
void hr_quantize_row(int type, const float *src, void *dst, int64_t n);

/* The type activations are quantized to for a dot product with weights of
 * wtype (F32 for float weight types). */
int hr_vec_dot_type(int wtype);
/* Quantizes one activation row of k floats for weights of wtype; xq must hold
 * hr_type_row_bytes(hr_vec_dot_type(wtype), k) bytes. */
void hr_quantize_activation_row(int wtype, const float *x, void *xq, int64_t k);

/* y[b*ldy + r] = dot(W row r, activation row b) for r in [r0, r1), b < n_batch.
 * W: rows of k elements of wtype, row stride hr_type_row_bytes(wtype, k).
 * xq: n_batch activation rows, each prepared by hr_quantize_activation_row,
 * stride hr_type_row_bytes(hr_vec_dot_type(wtype), k). Uses the fastest path
 * the CPU has. wtype must be a supported weight type (not Q8_1/Q8_K) and k a
 * multiple of its block size and its activation type's. Writes only y[b*ldy + r]
 * for b < n_batch, r0 <= r < r1. No allocation, thread-safe for disjoint y.
 * Generation (n_batch 1) streams each weight byte once; for n_batch > 1 rows
 * are tiled and four activation rows share each weight block load. */
void hr_matmul_rows(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const void *xq, int n_batch,
                    float *y, int64_t ldy);
/* Same with an explicit byte stride between weight rows (>= the packed row
 * size): rows of k elements taken from a wider matrix, e.g. the first n_pos
 * positions of each transposed V row of a KV cache sized for n_ctx. */
void hr_matmul_rows_strided(int wtype, const void *w, size_t w_stride, int64_t k, int64_t r0, int64_t r1,
                            const void *xq, int n_batch, float *y, int64_t ldy);
/* hr_matmul_rows with the scalar reference only (tests compare the two). */
void hr_matmul_rows_ref(int wtype, const void *w, int64_t k, int64_t r0, int64_t r1, const void *xq, int n_batch,
                        float *y, int64_t ldy);

/* fp16 / bf16 scalar conversions. */
float hr_fp16_to_fp32(uint16_t h);
uint16_t hr_fp32_to_fp16(float f);
float hr_bf16_to_fp32(uint16_t h);
uint16_t hr_fp32_to_bf16(float f);

/* Which SIMD level is in use: "scalar", "avx2", "avx512", "amx" (for
 * logs/bench). Chosen once from CPUID (amx also needs the kernel to grant
 * this process AMX tile state); HR_SIMD=scalar|avx2|avx512|amx in the
 * environment forces a lower level (a level the CPU lacks is refused with a
 * warning). */
const char *hr_simd_level(void);
/* Switches to a level at run time (tests and benchmarks only: not while other
 * threads are computing). Returns 0, or -1 if the name is unknown or the CPU
 * lacks the level (nothing changes then). */
int hr_simd_force(const char *level);

/* Measured single-socket read bandwidth in bytes/s: best of several streaming
 * passes over a 1 GiB buffer split between `threads` threads (1..64). Takes
 * about a second; allocates and frees the buffer. Returns 0 on failure. */
double hr_measure_read_bandwidth(int threads);

#endif
