/* GGUF v3 writer (see gguf.h). Metadata values are serialized into one byte
 * buffer per key at set time; tensor data is streamed at write time. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/gguf.h"

typedef struct wkv {
    char *key;
    uint32_t type;
    hr_buf val; /* serialized value (without key and type) */
} wkv;

typedef struct wtensor {
    char *name;
    int type;
    int n_dims;
    int64_t ne[HR_GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;
    const void *data;
} wtensor;

struct hr_gguf_writer {
    uint32_t alignment;
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *ts;
    size_t n_t, cap_t;
};

hr_gguf_writer *hr_gguf_writer_create(void) {
    hr_gguf_writer *w = hr_xcalloc(1, sizeof *w);
    w->alignment = HR_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void hr_gguf_writer_free(hr_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        hr_buf_free(&w->kvs[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w);
}

void hr_gguf_writer_set_alignment(hr_gguf_writer *w, uint32_t a) {
    if (a && !(a & (a - 1))) w->alignment = a;
}

/* Returns the (emptied) value buffer for key, creating the entry. */
static hr_buf *kv_slot(hr_gguf_writer *w, const char *key, uint32_t type) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key)) {
            w->kvs[i].type = type;
            hr_buf_reset(&w->kvs[i].val);
            return &w->kvs[i].val;
        }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? w->cap_kv * 2 : 32;
        w->kvs = hr_xrealloc(w->kvs, w->cap_kv * sizeof(wkv));
    }
    wkv *e = &w->kvs[w->n_kv++];
    e->key = hr_xstrdup(key);
    e->type = type;
    hr_buf_init(&e->val, 0);
    return &e->val;
}

static void put_u32(hr_buf *b, uint32_t v) { hr_buf_append(b, &v, 4); }
static void put_u64(hr_buf *b, uint64_t v) { hr_buf_append(b, &v, 8); }
static void put_str(hr_buf *b, const char *s, size_t n) {
    put_u64(b, n);
    if (n) hr_buf_append(b, s, n);
}

void hr_gguf_writer_set_str(hr_gguf_writer *w, const char *key, const char *val) {
    put_str(kv_slot(w, key, HR_GGUF_STRING), val, strlen(val));
}
void hr_gguf_writer_set_u32(hr_gguf_writer *w, const char *key, uint32_t val) {
    put_u32(kv_slot(w, key, HR_GGUF_U32), val);
}
void hr_gguf_writer_set_i32(hr_gguf_writer *w, const char *key, int32_t val) {
    hr_buf_append(kv_slot(w, key, HR_GGUF_I32), &val, 4);
}
void hr_gguf_writer_set_u64(hr_gguf_writer *w, const char *key, uint64_t val) {
    put_u64(kv_slot(w, key, HR_GGUF_U64), val);
}
void hr_gguf_writer_set_f32(hr_gguf_writer *w, const char *key, float val) {
    hr_buf_append(kv_slot(w, key, HR_GGUF_F32), &val, 4);
}
void hr_gguf_writer_set_bool(hr_gguf_writer *w, const char *key, bool val) {
    uint8_t b = val ? 1 : 0;
    hr_buf_append(kv_slot(w, key, HR_GGUF_BOOL), &b, 1);
}
void hr_gguf_writer_set_arr_str(hr_gguf_writer *w, const char *key, const char *const *vals, const size_t *lens,
                                uint64_t n) {
    hr_buf *b = kv_slot(w, key, HR_GGUF_ARRAY);
    put_u32(b, HR_GGUF_STRING);
    put_u64(b, n);
    for (uint64_t i = 0; i < n; i++) put_str(b, vals[i], lens ? lens[i] : strlen(vals[i]));
}
void hr_gguf_writer_set_arr_data(hr_gguf_writer *w, const char *key, hr_gguf_vtype etype, const void *vals,
                                 uint64_t n) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if ((int)etype < 0 || etype > HR_GGUF_F64 || !sz[etype]) return;
    hr_buf *b = kv_slot(w, key, HR_GGUF_ARRAY);
    put_u32(b, (uint32_t)etype);
    put_u64(b, n);
    if (n) hr_buf_append(b, vals, (size_t)n * sz[etype]);
}

int64_t hr_gguf_writer_add_tensor(hr_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                  const void *data) {
    size_t bb;
    int bs;
    if (!name || !*name || n_dims < 1 || n_dims > HR_GGUF_MAX_DIMS || !hr_gguf_type_size(type, &bb, &bs)) return -1;
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->ts[i].name, name)) return -1;
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return -1;
        nel *= (uint64_t)ne[d];
    }
    if (ne[0] % bs) return -1;
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? w->cap_t * 2 : 64;
        w->ts = hr_xrealloc(w->ts, w->cap_t * sizeof(wtensor));
    }
    wtensor *t = &w->ts[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = hr_xstrdup(name);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < HR_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = (size_t)(nel / (uint64_t)bs * bb);
    t->data = data;
    return (int64_t)w->n_t++;
}

static int werr(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int werr(char *err, size_t errsz, const char *fmt, ...) {
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool write_pad(FILE *f, uint64_t pos, uint32_t align, uint64_t *newpos) {
    static const uint8_t zeros[64 * 1024];
    uint64_t target = (pos + align - 1) / align * align;
    size_t n = (size_t)(target - pos);
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k) return false;
        n -= k;
    }
    *newpos = target;
    return true;
}

int hr_gguf_writer_write(hr_gguf_writer *w, const char *path, hr_gguf_fill_fn fill, void *ud, char *err,
                         size_t errsz) {
    if (w->alignment != HR_GGUF_DEFAULT_ALIGNMENT) hr_gguf_writer_set_u32(w, "general.alignment", w->alignment);
    hr_buf head;
    hr_buf_init(&head, 0);
    put_u32(&head, 0x46554747u);
    put_u32(&head, 3);
    put_u64(&head, w->n_t);
    put_u64(&head, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&head, w->kvs[i].key, strlen(w->kvs[i].key));
        put_u32(&head, w->kvs[i].type);
        if (w->kvs[i].val.len) hr_buf_append(&head, w->kvs[i].val.data, w->kvs[i].val.len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->ts[i];
        t->offset = off;
        off = (off + t->nbytes + w->alignment - 1) / w->alignment * w->alignment;
        put_str(&head, t->name, strlen(t->name));
        put_u32(&head, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&head, (uint64_t)t->ne[d]);
        put_u32(&head, (uint32_t)t->type);
        put_u64(&head, t->offset);
    }
    size_t plen = strlen(path);
    char *tmp = hr_xmalloc(plen + 5);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        hr_buf_free(&head);
        free(tmp);
        return werr(err, errsz, "%s: %s", path, strerror(e));
    }
    int rc = 0;
    uint64_t pos = head.len;
    if (fwrite(head.data, 1, head.len, f) != head.len || !write_pad(f, pos, w->alignment, &pos)) {
        rc = werr(err, errsz, "%s: write failed: %s", path, strerror(errno));
    }
    hr_buf_free(&head);
    void *buf = NULL;
    size_t bufcap = 0;
    for (size_t i = 0; i < w->n_t && rc == 0; i++) {
        wtensor *t = &w->ts[i];
        const void *src = t->data;
        if (!src) {
            if (!fill) {
                rc = werr(err, errsz, "tensor '%s' has no data and no fill callback", t->name);
                break;
            }
            if (bufcap < t->nbytes) {
                free(buf);
                bufcap = t->nbytes;
                buf = hr_xmalloc(bufcap);
            }
            memset(buf, 0, t->nbytes);
            if (fill(ud, (int64_t)i, t->name, buf, t->nbytes) != 0) {
                rc = werr(err, errsz, "tensor '%s': fill callback failed", t->name);
                break;
            }
            src = buf;
        }
        if (fwrite(src, 1, t->nbytes, f) != t->nbytes) {
            rc = werr(err, errsz, "%s: write failed: %s", path, strerror(errno));
            break;
        }
        pos += t->nbytes;
        if (i + 1 < w->n_t && !write_pad(f, pos, w->alignment, &pos))
            rc = werr(err, errsz, "%s: write failed: %s", path, strerror(errno));
    }
    free(buf);
    if (fclose(f) != 0 && rc == 0) rc = werr(err, errsz, "%s: close failed: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = werr(err, errsz, "%s: rename failed: %s", path, strerror(errno));
    if (rc != 0) remove(tmp);
    free(tmp);
    return rc;
}
