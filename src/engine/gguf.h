/* GGUF reader and writer.
 *
 * File format (GGUF v2/v3, little-endian; v1 and big-endian files are refused):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment (default 32)
 *   tensor data: each tensor at data_start + offset (offset a multiple of the alignment)
 * where string = u64 length + bytes (no NUL), and an array value is
 * u32 element_type | u64 count | count elements (arrays of arrays are refused).
 *
 * The reader mmaps the file read-only and checks every length, count, offset,
 * dimension and alignment against the file size before it uses it; a corrupt
 * or truncated file gives a one-line error naming what is wrong (never a
 * crash, never an allocation larger than a small multiple of the file size).
 * Tensor data stays in the mapping: pointers from this API are valid until
 * hr_gguf_close(). A hr_gguf is immutable after open and may be read from
 * any number of threads.
 *
 * Limits: 1<<20 keys, 1<<20 tensors, 4 dims, keys/tensor names <= 1024 bytes,
 * arrays <= 1<<28 elements, strings <= 1<<30 bytes. */
#ifndef HR_ENGINE_GGUF_H
#define HR_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types, numbered as in the file (never renumber). */
typedef enum hr_gguf_vtype {
    HR_GGUF_U8 = 0,
    HR_GGUF_I8 = 1,
    HR_GGUF_U16 = 2,
    HR_GGUF_I16 = 3,
    HR_GGUF_U32 = 4,
    HR_GGUF_I32 = 5,
    HR_GGUF_F32 = 6,
    HR_GGUF_BOOL = 7,
    HR_GGUF_STRING = 8,
    HR_GGUF_ARRAY = 9,
    HR_GGUF_U64 = 10,
    HR_GGUF_I64 = 11,
    HR_GGUF_F64 = 12,
} hr_gguf_vtype;

#define HR_GGUF_MAX_DIMS 4
#define HR_GGUF_DEFAULT_ALIGNMENT 32

typedef struct hr_gguf hr_gguf;

typedef struct hr_gguf_tensor {
    const char *name;              /* NUL-terminated, owned by the hr_gguf */
    int type;                      /* hr_type id (quant.h), validated as a known type */
    int n_dims;                    /* 1..4 */
    int64_t ne[HR_GGUF_MAX_DIMS];  /* ne[0] = innermost (row length); unused dims are 1 */
    uint64_t offset;               /* from the start of the data section */
    size_t nbytes;                 /* bytes of data (checked to lie inside the file) */
    const void *data;              /* into the mapping, aligned to the file's alignment */
} hr_gguf_tensor;

/* An array value: a view into the mapping. Use the accessors below. */
typedef struct hr_gguf_array {
    int type;                 /* element hr_gguf_vtype (never ARRAY) */
    uint64_t n;               /* element count */
    const uint8_t *data;      /* first element in the file (may be unaligned) */
    const uint64_t *str_off;  /* STRING arrays: offset of element i from data */
} hr_gguf_array;

/* Opens and validates a file. Returns NULL with a message in err (if err is
 * not NULL) on any error. */
hr_gguf *hr_gguf_open(const char *path, char *err, size_t errsz);
/* Same over a caller's buffer (not copied: it must outlive the hr_gguf).
 * Used by tests and the fuzz target. */
hr_gguf *hr_gguf_open_memory(const void *data, size_t size, char *err, size_t errsz);
/* Unmaps and frees. NULL is a no-op. */
void hr_gguf_close(hr_gguf *g);

uint32_t hr_gguf_version(const hr_gguf *g);
size_t hr_gguf_file_size(const hr_gguf *g);
uint32_t hr_gguf_alignment(const hr_gguf *g);
/* Offset of the tensor data section in the file. */
uint64_t hr_gguf_data_offset(const hr_gguf *g);

/* ---- metadata ---- */
int64_t hr_gguf_n_kv(const hr_gguf *g);
/* Index of a key, or -1. */
int64_t hr_gguf_find_key(const hr_gguf *g, const char *key);
const char *hr_gguf_kv_key(const hr_gguf *g, int64_t i);
hr_gguf_vtype hr_gguf_kv_type(const hr_gguf *g, int64_t i);

/* Typed getters by key name. Each returns false (and leaves *out alone) if the
 * key is missing or its value does not fit the requested type. Integer getters
 * accept any integer type whose value is in range (and bool for u32/i32);
 * hr_gguf_get_f32/f64 also accept integers. */
bool hr_gguf_get_u32(const hr_gguf *g, const char *key, uint32_t *out);
bool hr_gguf_get_i32(const hr_gguf *g, const char *key, int32_t *out);
bool hr_gguf_get_u64(const hr_gguf *g, const char *key, uint64_t *out);
bool hr_gguf_get_i64(const hr_gguf *g, const char *key, int64_t *out);
bool hr_gguf_get_f32(const hr_gguf *g, const char *key, float *out);
bool hr_gguf_get_f64(const hr_gguf *g, const char *key, double *out);
bool hr_gguf_get_bool(const hr_gguf *g, const char *key, bool *out);
/* A STRING value, NUL-terminated copy owned by g (len may be NULL; the value
 * itself may contain NUL bytes, len is exact). NULL if missing / not a string. */
const char *hr_gguf_get_str(const hr_gguf *g, const char *key, size_t *len);
/* An ARRAY value. false if missing / not an array. */
bool hr_gguf_get_arr(const hr_gguf *g, const char *key, hr_gguf_array *out);
/* Same by index (for listing all keys). */
bool hr_gguf_kv_arr(const hr_gguf *g, int64_t i, hr_gguf_array *out);
const char *hr_gguf_kv_str(const hr_gguf *g, int64_t i, size_t *len);
/* Any numeric or bool scalar as a double (false if not such a scalar). */
bool hr_gguf_kv_num(const hr_gguf *g, int64_t i, double *out);

/* Element access. i must be < a->n (checked: out of range returns NULL / 0).
 * hr_gguf_arr_str: pointer into the mapping, NOT NUL-terminated, *len bytes;
 * NULL if the array is not of strings. */
const char *hr_gguf_arr_str(const hr_gguf_array *a, uint64_t i, size_t *len);
/* Numeric elements (any integer/float/bool element type) converted. */
double hr_gguf_arr_f64(const hr_gguf_array *a, uint64_t i);
float hr_gguf_arr_f32(const hr_gguf_array *a, uint64_t i);
int64_t hr_gguf_arr_i64(const hr_gguf_array *a, uint64_t i);

/* ---- tensors ---- */
int64_t hr_gguf_n_tensors(const hr_gguf *g);
const hr_gguf_tensor *hr_gguf_tensor_at(const hr_gguf *g, int64_t i);
/* NULL if there is no tensor of that name. */
const hr_gguf_tensor *hr_gguf_find_tensor(const hr_gguf *g, const char *name);

/* Name of a value type ("u32", "string", ...), "?" if unknown. */
const char *hr_gguf_vtype_name(int t);
/* Bytes per block / elements per block of a tensor type as the file format
 * defines them (independent of whether the engine computes with it); false
 * for unknown type ids. */
bool hr_gguf_type_size(int type, size_t *block_bytes, int *block_size);

/* ---- writer ----
 * Builds a GGUF v3 file: add metadata and tensor descriptions, then write.
 * Strings and arrays are copied at add time. Tensor data is either given at
 * add time (pointer kept, not copied: it must live until write returns) or
 * produced at write time by the fill callback, one tensor at a time (so an
 * 8B-shape file never needs to sit in memory). Out of memory aborts. */
typedef struct hr_gguf_writer hr_gguf_writer;

/* Fills buf (nbytes, zeroed) with the data of tensor idx (index in add order).
 * Returns 0, or nonzero to abort the write. */
typedef int (*hr_gguf_fill_fn)(void *ud, int64_t idx, const char *name, void *buf, size_t nbytes);

hr_gguf_writer *hr_gguf_writer_create(void);
void hr_gguf_writer_free(hr_gguf_writer *w);
void hr_gguf_writer_set_alignment(hr_gguf_writer *w, uint32_t alignment); /* power of 2 */
/* Setters replace an existing key of the same name. */
void hr_gguf_writer_set_str(hr_gguf_writer *w, const char *key, const char *val);
void hr_gguf_writer_set_u32(hr_gguf_writer *w, const char *key, uint32_t val);
void hr_gguf_writer_set_i32(hr_gguf_writer *w, const char *key, int32_t val);
void hr_gguf_writer_set_u64(hr_gguf_writer *w, const char *key, uint64_t val);
void hr_gguf_writer_set_f32(hr_gguf_writer *w, const char *key, float val);
void hr_gguf_writer_set_bool(hr_gguf_writer *w, const char *key, bool val);
/* Array of n strings; lens may be NULL (then each is NUL-terminated). */
void hr_gguf_writer_set_arr_str(hr_gguf_writer *w, const char *key, const char *const *vals, const size_t *lens,
                                uint64_t n);
/* Array of n numbers of element type etype (U8..F64, not STRING/ARRAY);
 * vals holds n packed little-endian elements of that type. */
void hr_gguf_writer_set_arr_data(hr_gguf_writer *w, const char *key, hr_gguf_vtype etype, const void *vals,
                                 uint64_t n);
/* Adds a tensor; returns its index or -1 (bad type / dims / row not a
 * multiple of the block size / duplicate name). data may be NULL (then the
 * fill callback supplies it). ne[0] is the innermost dimension. */
int64_t hr_gguf_writer_add_tensor(hr_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                  const void *data);
/* Writes the file (atomically: to path.tmp, then renamed). Returns 0 or -1
 * with a message in err. fill may be NULL if every tensor had data. */
int hr_gguf_writer_write(hr_gguf_writer *w, const char *path, hr_gguf_fill_fn fill, void *ud, char *err,
                         size_t errsz);

#endif
