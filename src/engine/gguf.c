/* GGUF reader (see gguf.h for the format and the contract).
 *
 * Parsing goes through a bounds-checked cursor: every read checks the bytes
 * remaining first, so no length from the file is trusted before it is
 * compared with what is left. Counts are also checked against the bytes they
 * would need at minimum, so allocations stay proportional to the file size. */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define MAX_KV (1u << 20)
#define MAX_TENSORS (1u << 20)
#define MAX_NAME 1024
#define MAX_ARR (1ull << 28)
#define MAX_STR (1ull << 30)

typedef struct kv {
    char *key;
    int type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
    char *str; /* STRING: NUL-terminated copy */
    size_t str_len;
    hr_gguf_array arr; /* ARRAY */
    uint64_t *str_off; /* owned */
} kv;

struct hr_gguf {
    const uint8_t *base;
    size_t size;
    bool mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    int64_t n_kv;
    kv *kvs;
    int64_t n_tensors;
    hr_gguf_tensor *tensors;
    char **tensor_names;
    /* open-addressing hash tables of indices (+1, 0 = empty) */
    uint32_t *kv_hash, *t_hash;
    size_t kv_hash_n, t_hash_n;
};

/* ---- type sizes (file format knowledge, independent of kernel support) ---- */
static const struct {
    int block;
    int bytes;
} type_sizes[] = {
    [0] = {1, 4},      [1] = {1, 2},      [2] = {32, 18},    [3] = {32, 20},    [6] = {32, 22},
    [7] = {32, 24},    [8] = {32, 34},    [9] = {32, 36},    [10] = {256, 84},  [11] = {256, 110},
    [12] = {256, 144}, [13] = {256, 176}, [14] = {256, 210}, [15] = {256, 292}, [16] = {256, 66},
    [17] = {256, 74},  [18] = {256, 98},  [19] = {256, 50},  [20] = {32, 18},   [21] = {256, 110},
    [22] = {256, 82},  [23] = {256, 136}, [24] = {1, 1},     [25] = {1, 2},     [26] = {1, 4},
    [27] = {1, 8},     [28] = {1, 8},     [29] = {256, 56},  [30] = {1, 2},
};

bool hr_gguf_type_size(int type, size_t *block_bytes, int *block_size) {
    if (type < 0 || type >= (int)(sizeof type_sizes / sizeof type_sizes[0]) || !type_sizes[type].block) return false;
    if (block_bytes) *block_bytes = (size_t)type_sizes[type].bytes;
    if (block_size) *block_size = type_sizes[type].block;
    return true;
}

const char *hr_gguf_vtype_name(int t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    if (t < 0 || t > 12) return "?";
    return names[t];
}

static size_t vtype_size(int t) {
    switch (t) {
    case HR_GGUF_U8: case HR_GGUF_I8: case HR_GGUF_BOOL: return 1;
    case HR_GGUF_U16: case HR_GGUF_I16: return 2;
    case HR_GGUF_U32: case HR_GGUF_I32: case HR_GGUF_F32: return 4;
    case HR_GGUF_U64: case HR_GGUF_I64: case HR_GGUF_F64: return 8;
    default: return 0;
    }
}

/* ---- cursor ---- */
typedef struct {
    const uint8_t *p;
    size_t size, pos;
    char *err;
    size_t errsz;
} cursor;

static bool fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(cursor *c, const char *fmt, ...) {
    if (c->err && c->errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errsz, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool rd(cursor *c, void *out, size_t n, const char *what) {
    if (c->size - c->pos < n) {
        memset(out, 0, n); /* keeps the compiler's init analysis happy */
        return fail(c, "truncated file: %s at offset %zu needs %zu bytes, %zu left", what, c->pos, n,
                    c->size - c->pos);
    }
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return true;
}
static bool rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static bool rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* A string: returns a view (not NUL-terminated). */
static bool rd_str(cursor *c, const char **s, uint64_t *len, uint64_t max, const char *what) {
    uint64_t n;
    if (!rd_u64(c, &n, what)) return false;
    if (n > max) return fail(c, "%s at offset %zu: length %llu exceeds limit %llu", what, c->pos - 8,
                             (unsigned long long)n, (unsigned long long)max);
    if (c->size - c->pos < n)
        return fail(c, "truncated file: %s at offset %zu has length %llu, only %zu bytes left", what, c->pos - 8,
                    (unsigned long long)n, c->size - c->pos);
    *s = (const char *)c->p + c->pos;
    *len = n;
    c->pos += n;
    return true;
}

/* ---- hashing ---- */
static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t hash_size(int64_t n) {
    size_t m = 16;
    while (m < (size_t)n * 2) m <<= 1;
    return m;
}

/* Inserts index idx with name; returns false if the name exists already. */
static bool hash_insert(uint32_t *tab, size_t m, char **names_by_idx, const char *name, uint32_t idx) {
    size_t h = (size_t)hash_str(name) & (m - 1);
    while (tab[h]) {
        if (!strcmp(names_by_idx[tab[h] - 1], name)) return false;
        h = (h + 1) & (m - 1);
    }
    tab[h] = idx + 1;
    return true;
}

int64_t hr_gguf_find_key(const hr_gguf *g, const char *key) {
    if (!g || !key || !g->kv_hash) return -1;
    size_t m = g->kv_hash_n, h = (size_t)hash_str(key) & (m - 1);
    while (g->kv_hash[h]) {
        uint32_t i = g->kv_hash[h] - 1;
        if (!strcmp(g->kvs[i].key, key)) return i;
        h = (h + 1) & (m - 1);
    }
    return -1;
}

const hr_gguf_tensor *hr_gguf_find_tensor(const hr_gguf *g, const char *name) {
    if (!g || !name || !g->t_hash) return NULL;
    size_t m = g->t_hash_n, h = (size_t)hash_str(name) & (m - 1);
    while (g->t_hash[h]) {
        uint32_t i = g->t_hash[h] - 1;
        if (!strcmp(g->tensor_names[i], name)) return &g->tensors[i];
        h = (h + 1) & (m - 1);
    }
    return NULL;
}

/* ---- parsing ---- */
static bool has_nul(const char *s, uint64_t n) { return memchr(s, 0, n) != NULL; }

static bool parse_value(cursor *c, kv *e, const char *key) {
    size_t vs = vtype_size(e->type);
    if (vs) {
        uint8_t b[8] = {0};
        if (!rd(c, b, vs, "metadata value")) return false;
        switch (e->type) {
        case HR_GGUF_U8: e->v.u = b[0]; break;
        case HR_GGUF_I8: e->v.i = (int8_t)b[0]; break;
        case HR_GGUF_BOOL:
            if (b[0] > 1) return fail(c, "metadata '%s': bool value %u is not 0 or 1", key, b[0]);
            e->v.u = b[0];
            break;
        case HR_GGUF_U16: { uint16_t x; memcpy(&x, b, 2); e->v.u = x; break; }
        case HR_GGUF_I16: { int16_t x; memcpy(&x, b, 2); e->v.i = x; break; }
        case HR_GGUF_U32: { uint32_t x; memcpy(&x, b, 4); e->v.u = x; break; }
        case HR_GGUF_I32: { int32_t x; memcpy(&x, b, 4); e->v.i = x; break; }
        case HR_GGUF_F32: { float x; memcpy(&x, b, 4); e->v.f = x; break; }
        case HR_GGUF_U64: memcpy(&e->v.u, b, 8); break;
        case HR_GGUF_I64: memcpy(&e->v.i, b, 8); break;
        case HR_GGUF_F64: memcpy(&e->v.f, b, 8); break;
        }
        return true;
    }
    if (e->type == HR_GGUF_STRING) {
        const char *s;
        uint64_t n;
        if (!rd_str(c, &s, &n, MAX_STR, "metadata string")) return false;
        e->str = hr_xstrndup(s, (size_t)n);
        e->str_len = (size_t)n;
        return true;
    }
    if (e->type != HR_GGUF_ARRAY) return fail(c, "metadata '%s': unknown value type %d", key, e->type);
    uint32_t et;
    uint64_t n;
    if (!rd_u32(c, &et, "array element type") || !rd_u64(c, &n, "array length")) return false;
    if (et == HR_GGUF_ARRAY) return fail(c, "metadata '%s': arrays of arrays are not supported", key);
    if (et != HR_GGUF_STRING && !vtype_size((int)et))
        return fail(c, "metadata '%s': unknown array element type %u", key, et);
    if (n > MAX_ARR)
        return fail(c, "metadata '%s': array of %llu elements exceeds limit %llu", key, (unsigned long long)n,
                    (unsigned long long)MAX_ARR);
    e->arr.type = (int)et;
    e->arr.n = n;
    e->arr.data = c->p + c->pos;
    if (et == HR_GGUF_STRING) {
        /* each element needs >= 8 bytes: check before allocating the offsets */
        if ((c->size - c->pos) / 8 < n)
            return fail(c, "truncated file: metadata '%s' declares %llu strings, file too short", key,
                        (unsigned long long)n);
        e->str_off = hr_xmalloc((size_t)(n ? n : 1) * sizeof(uint64_t));
        size_t start = c->pos;
        for (uint64_t i = 0; i < n; i++) {
            const char *s;
            uint64_t len;
            e->str_off[i] = c->pos - start;
            if (!rd_str(c, &s, &len, MAX_STR, "array string")) return false;
        }
        e->arr.str_off = e->str_off;
    } else {
        size_t es = vtype_size((int)et);
        if ((c->size - c->pos) / es < n)
            return fail(c, "truncated file: metadata '%s' array of %llu %s needs %llu bytes, %zu left", key,
                        (unsigned long long)n, hr_gguf_vtype_name((int)et), (unsigned long long)(n * es),
                        c->size - c->pos);
        if (et == HR_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (c->p[c->pos + i] > 1) return fail(c, "metadata '%s': bool element %llu is not 0 or 1", key,
                                                      (unsigned long long)i);
        c->pos += (size_t)(n * es);
    }
    return true;
}

static void gguf_free_parts(hr_gguf *g) {
    if (g->kvs)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kvs[i].key);
            free(g->kvs[i].str);
            free(g->kvs[i].str_off);
        }
    free(g->kvs);
    if (g->tensor_names)
        for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensor_names[i]);
    free(g->tensor_names);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
}

static bool parse(hr_gguf *g, cursor *c) {
    uint32_t magic, version;
    if (!rd_u32(c, &magic, "magic")) return false;
    if (magic != GGUF_MAGIC) return fail(c, "not a GGUF file (bad magic)");
    if (!rd_u32(c, &version, "version")) return false;
    if (version == 1) return fail(c, "GGUF version 1 is not supported (convert the file to v3)");
    if (version > 0xffff) return fail(c, "GGUF version 0x%08x: big-endian files are not supported", version);
    if (version != 2 && version != 3) return fail(c, "unsupported GGUF version %u", version);
    g->version = version;
    uint64_t nt, nkv;
    if (!rd_u64(c, &nt, "tensor count") || !rd_u64(c, &nkv, "metadata count")) return false;
    if (nkv > MAX_KV) return fail(c, "metadata count %llu exceeds limit %u", (unsigned long long)nkv, MAX_KV);
    if (nt > MAX_TENSORS) return fail(c, "tensor count %llu exceeds limit %u", (unsigned long long)nt, MAX_TENSORS);
    /* each kv needs >= 12 bytes, each tensor info >= 24 */
    if ((c->size - c->pos) / 12 < nkv)
        return fail(c, "truncated file: %llu metadata entries cannot fit", (unsigned long long)nkv);
    if ((c->size - c->pos) / 24 < nt)
        return fail(c, "truncated file: %llu tensor infos cannot fit", (unsigned long long)nt);

    g->kvs = hr_xcalloc((size_t)nkv + 1, sizeof(kv));
    g->kv_hash_n = hash_size((int64_t)nkv);
    g->kv_hash = hr_xcalloc(g->kv_hash_n, sizeof(uint32_t));
    char **keys = hr_xcalloc((size_t)nkv + 1, sizeof(char *));
    bool ok = true;
    for (uint64_t i = 0; i < nkv && ok; i++) {
        kv *e = &g->kvs[i];
        const char *k;
        uint64_t kl;
        uint32_t t;
        ok = rd_str(c, &k, &kl, MAX_NAME, "metadata key");
        if (!ok) break;
        g->n_kv = (int64_t)i + 1;
        if (kl == 0 || has_nul(k, kl)) {
            ok = fail(c, "metadata key %llu at offset %zu is empty or contains NUL", (unsigned long long)i,
                      c->pos - (size_t)kl);
            break;
        }
        e->key = hr_xstrndup(k, (size_t)kl);
        keys[i] = e->key;
        if (!hash_insert(g->kv_hash, g->kv_hash_n, keys, e->key, (uint32_t)i)) {
            ok = fail(c, "duplicate metadata key '%s'", e->key);
            break;
        }
        if (!(ok = rd_u32(c, &t, "metadata value type"))) break;
        e->type = (int)t;
        ok = parse_value(c, e, e->key);
    }
    free(keys);
    if (!ok) return false;
    g->n_kv = (int64_t)nkv;

    g->alignment = HR_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = hr_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const kv *e = &g->kvs[ai];
        if (e->type != HR_GGUF_U32) return fail(c, "general.alignment has type %s, expected u32",
                                                hr_gguf_vtype_name(e->type));
        if (e->v.u == 0 || (e->v.u & (e->v.u - 1)) || e->v.u > (1u << 16))
            return fail(c, "general.alignment %llu is not a power of two <= 65536", (unsigned long long)e->v.u);
        g->alignment = (uint32_t)e->v.u;
    }

    g->tensors = hr_xcalloc((size_t)nt + 1, sizeof(hr_gguf_tensor));
    g->tensor_names = hr_xcalloc((size_t)nt + 1, sizeof(char *));
    g->t_hash_n = hash_size((int64_t)nt);
    g->t_hash = hr_xcalloc(g->t_hash_n, sizeof(uint32_t));
    for (uint64_t i = 0; i < nt; i++) {
        hr_gguf_tensor *t = &g->tensors[i];
        const char *nm;
        uint64_t nl;
        uint32_t nd, type;
        if (!rd_str(c, &nm, &nl, MAX_NAME, "tensor name")) return false;
        g->n_tensors = (int64_t)i + 1;
        if (nl == 0 || has_nul(nm, nl)) return fail(c, "tensor %llu: empty name or name contains NUL",
                                                    (unsigned long long)i);
        g->tensor_names[i] = hr_xstrndup(nm, (size_t)nl);
        t->name = g->tensor_names[i];
        if (!hash_insert(g->t_hash, g->t_hash_n, g->tensor_names, t->name, (uint32_t)i))
            return fail(c, "duplicate tensor name '%s'", t->name);
        if (!rd_u32(c, &nd, "tensor dim count")) return false;
        if (nd == 0 || nd > HR_GGUF_MAX_DIMS)
            return fail(c, "tensor '%s': %u dimensions (must be 1..%d)", t->name, nd, HR_GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        uint64_t nel = 1;
        for (int d = 0; d < HR_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if (!rd_u64(c, &ne, "tensor dimension")) return false;
            if (ne == 0 || ne > (1ull << 40))
                return fail(c, "tensor '%s': dimension %u is %llu (must be 1..2^40)", t->name, d,
                            (unsigned long long)ne);
            if (nel > (1ull << 48) / ne) return fail(c, "tensor '%s': element count overflows", t->name);
            nel *= ne;
            t->ne[d] = (int64_t)ne;
        }
        if (!rd_u32(c, &type, "tensor type")) return false;
        size_t bb;
        int bs;
        if (!hr_gguf_type_size((int)type, &bb, &bs)) return fail(c, "tensor '%s': unknown type id %u", t->name, type);
        t->type = (int)type;
        if (t->ne[0] % bs) return fail(c, "tensor '%s': row length %lld is not a multiple of the block size %d",
                                       t->name, (long long)t->ne[0], bs);
        t->nbytes = (size_t)(nel / (uint64_t)bs * bb);
        if (!rd_u64(c, &t->offset, "tensor offset")) return false;
        if (t->offset % g->alignment)
            return fail(c, "tensor '%s': offset %llu is not a multiple of the alignment %u", t->name,
                        (unsigned long long)t->offset, g->alignment);
    }
    uint64_t data = ((uint64_t)c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (nt > 0 && data > c->size) return fail(c, "truncated file: tensor data section starts past the end");
    g->data_off = data;
    uint64_t avail = data <= c->size ? c->size - data : 0;
    for (uint64_t i = 0; i < nt; i++) {
        hr_gguf_tensor *t = &g->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return fail(c, "truncated file: tensor '%s' data [%llu, +%zu) lies past the end of the file (%llu bytes "
                        "of data)", t->name, (unsigned long long)t->offset, t->nbytes, (unsigned long long)avail);
        t->data = c->p + data + t->offset;
    }
    return true;
}

static hr_gguf *open_common(const uint8_t *p, size_t size, bool mapped, char *err, size_t errsz) {
    hr_gguf *g = hr_xcalloc(1, sizeof *g);
    g->base = p;
    g->size = size;
    g->mapped = mapped;
    cursor c = {p, size, 0, err, errsz};
    if (!parse(g, &c)) {
        gguf_free_parts(g);
        if (mapped) munmap((void *)p, size);
        free(g);
        return NULL;
    }
    return g;
}

hr_gguf *hr_gguf_open_memory(const void *data, size_t size, char *err, size_t errsz) {
    if (!data && size) {
        if (err && errsz) snprintf(err, errsz, "no data");
        return NULL;
    }
    return open_common(data, size, false, err, errsz);
}

hr_gguf *hr_gguf_open(const char *path, char *err, size_t errsz) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err && errsz) snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (err && errsz) snprintf(err, errsz, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    if (size < 24) {
        if (err && errsz) snprintf(err, errsz, "%s: truncated file (%zu bytes, a GGUF header needs 24)", path, size);
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        if (err && errsz) snprintf(err, errsz, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    char e2[256] = "";
    hr_gguf *g = open_common(p, size, true, e2, sizeof e2);
    if (!g && err && errsz) snprintf(err, errsz, "%s: %s", path, e2);
    return g;
}

void hr_gguf_close(hr_gguf *g) {
    if (!g) return;
    gguf_free_parts(g);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

uint32_t hr_gguf_version(const hr_gguf *g) { return g->version; }
size_t hr_gguf_file_size(const hr_gguf *g) { return g->size; }
uint32_t hr_gguf_alignment(const hr_gguf *g) { return g->alignment; }
uint64_t hr_gguf_data_offset(const hr_gguf *g) { return g->data_off; }
int64_t hr_gguf_n_kv(const hr_gguf *g) { return g->n_kv; }
int64_t hr_gguf_n_tensors(const hr_gguf *g) { return g->n_tensors; }

const char *hr_gguf_kv_key(const hr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL;
}
hr_gguf_vtype hr_gguf_kv_type(const hr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? (hr_gguf_vtype)g->kvs[i].type : (hr_gguf_vtype)-1;
}
const hr_gguf_tensor *hr_gguf_tensor_at(const hr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

/* ---- typed getters ---- */
static bool is_int(int t) {
    return t == HR_GGUF_U8 || t == HR_GGUF_I8 || t == HR_GGUF_U16 || t == HR_GGUF_I16 || t == HR_GGUF_U32 ||
           t == HR_GGUF_I32 || t == HR_GGUF_U64 || t == HR_GGUF_I64 || t == HR_GGUF_BOOL;
}
static bool is_signed(int t) { return t == HR_GGUF_I8 || t == HR_GGUF_I16 || t == HR_GGUF_I32 || t == HR_GGUF_I64; }

static const kv *find(const hr_gguf *g, const char *key) {
    int64_t i = hr_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kvs[i];
}

/* Integer value as (negative flag, magnitude-ish): returns false if not int. */
static bool kv_int(const kv *e, int64_t *sv, uint64_t *uv, bool *neg) {
    if (!e || !is_int(e->type)) return false;
    if (is_signed(e->type)) {
        *sv = e->v.i;
        *neg = e->v.i < 0;
        *uv = *neg ? 0 : (uint64_t)e->v.i;
    } else {
        *uv = e->v.u;
        *neg = false;
        *sv = e->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)e->v.u;
    }
    return true;
}

bool hr_gguf_get_u64(const hr_gguf *g, const char *key, uint64_t *out) {
    int64_t s; uint64_t u; bool neg;
    if (!kv_int(find(g, key), &s, &u, &neg) || neg) return false;
    *out = u;
    return true;
}
bool hr_gguf_get_u32(const hr_gguf *g, const char *key, uint32_t *out) {
    uint64_t u;
    if (!hr_gguf_get_u64(g, key, &u) || u > UINT32_MAX) return false;
    *out = (uint32_t)u;
    return true;
}
bool hr_gguf_get_i64(const hr_gguf *g, const char *key, int64_t *out) {
    int64_t s; uint64_t u; bool neg;
    const kv *e = find(g, key);
    if (!kv_int(e, &s, &u, &neg)) return false;
    if (!is_signed(e->type) && u > (uint64_t)INT64_MAX) return false;
    *out = s;
    return true;
}
bool hr_gguf_get_i32(const hr_gguf *g, const char *key, int32_t *out) {
    int64_t v;
    if (!hr_gguf_get_i64(g, key, &v) || v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}
bool hr_gguf_get_f64(const hr_gguf *g, const char *key, double *out) {
    const kv *e = find(g, key);
    if (!e) return false;
    if (e->type == HR_GGUF_F32 || e->type == HR_GGUF_F64) {
        *out = e->v.f;
        return true;
    }
    if (e->type == HR_GGUF_BOOL) return false;
    int64_t s; uint64_t u; bool neg;
    if (!kv_int(e, &s, &u, &neg)) return false;
    *out = is_signed(e->type) ? (double)s : (double)u;
    return true;
}
bool hr_gguf_get_f32(const hr_gguf *g, const char *key, float *out) {
    double d;
    if (!hr_gguf_get_f64(g, key, &d)) return false;
    *out = (float)d;
    return true;
}
bool hr_gguf_get_bool(const hr_gguf *g, const char *key, bool *out) {
    const kv *e = find(g, key);
    if (!e || e->type != HR_GGUF_BOOL) return false;
    *out = e->v.u != 0;
    return true;
}
const char *hr_gguf_kv_str(const hr_gguf *g, int64_t i, size_t *len) {
    if (i < 0 || i >= g->n_kv || g->kvs[i].type != HR_GGUF_STRING) return NULL;
    if (len) *len = g->kvs[i].str_len;
    return g->kvs[i].str;
}
const char *hr_gguf_get_str(const hr_gguf *g, const char *key, size_t *len) {
    return hr_gguf_kv_str(g, hr_gguf_find_key(g, key), len);
}
bool hr_gguf_kv_arr(const hr_gguf *g, int64_t i, hr_gguf_array *out) {
    if (i < 0 || i >= g->n_kv || g->kvs[i].type != HR_GGUF_ARRAY) return false;
    *out = g->kvs[i].arr;
    return true;
}
bool hr_gguf_get_arr(const hr_gguf *g, const char *key, hr_gguf_array *out) {
    return hr_gguf_kv_arr(g, hr_gguf_find_key(g, key), out);
}
bool hr_gguf_kv_num(const hr_gguf *g, int64_t i, double *out) {
    if (i < 0 || i >= g->n_kv) return false;
    const kv *e = &g->kvs[i];
    if (e->type == HR_GGUF_F32 || e->type == HR_GGUF_F64) *out = e->v.f;
    else if (is_signed(e->type)) *out = (double)e->v.i;
    else if (is_int(e->type)) *out = (double)e->v.u;
    else return false;
    return true;
}

const char *hr_gguf_arr_str(const hr_gguf_array *a, uint64_t i, size_t *len) {
    if (!a || a->type != HR_GGUF_STRING || i >= a->n) return NULL;
    const uint8_t *p = a->data + a->str_off[i];
    uint64_t n;
    memcpy(&n, p, 8);
    if (len) *len = (size_t)n;
    return (const char *)p + 8;
}

double hr_gguf_arr_f64(const hr_gguf_array *a, uint64_t i) {
    if (!a || i >= a->n) return 0;
    size_t es = vtype_size(a->type);
    if (!es) return 0;
    const uint8_t *p = a->data + i * es;
    switch (a->type) {
    case HR_GGUF_U8: case HR_GGUF_BOOL: return p[0];
    case HR_GGUF_I8: return (int8_t)p[0];
    case HR_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); return x; }
    case HR_GGUF_I16: { int16_t x; memcpy(&x, p, 2); return x; }
    case HR_GGUF_U32: { uint32_t x; memcpy(&x, p, 4); return x; }
    case HR_GGUF_I32: { int32_t x; memcpy(&x, p, 4); return x; }
    case HR_GGUF_F32: { float x; memcpy(&x, p, 4); return x; }
    case HR_GGUF_U64: { uint64_t x; memcpy(&x, p, 8); return (double)x; }
    case HR_GGUF_I64: { int64_t x; memcpy(&x, p, 8); return (double)x; }
    case HR_GGUF_F64: { double x; memcpy(&x, p, 8); return x; }
    }
    return 0;
}
float hr_gguf_arr_f32(const hr_gguf_array *a, uint64_t i) { return (float)hr_gguf_arr_f64(a, i); }
int64_t hr_gguf_arr_i64(const hr_gguf_array *a, uint64_t i) {
    if (!a || i >= a->n) return 0;
    if (a->type == HR_GGUF_I64) {
        int64_t x;
        memcpy(&x, a->data + i * 8, 8);
        return x;
    }
    if (a->type == HR_GGUF_U64) {
        uint64_t x;
        memcpy(&x, a->data + i * 8, 8);
        return x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
    }
    double d = hr_gguf_arr_f64(a, i);
    if (d != d) return 0;
    if (d >= 9.2e18) return INT64_MAX;
    if (d <= -9.2e18) return INT64_MIN;
    return (int64_t)d;
}
