/* Llama-architecture model: loading from GGUF and the forward pass.
 *
 * Tensor layout (GGUF llama naming; ne[0] is the input width of a matrix, so
 * a weight with ne = [k, n] has n rows of k elements, y = W x):
 *   token_embd.weight   [n_embd, n_vocab]
 *   blk.L.attn_norm     [n_embd]            (f32)
 *   blk.L.attn_q        [n_embd, n_head*hd]
 *   blk.L.attn_k/v      [n_embd, n_head_kv*hd]
 *   blk.L.attn_output   [n_head*hd, n_embd]
 *   blk.L.ffn_norm      [n_embd]            (f32)
 *   blk.L.ffn_gate/up   [n_embd, n_ff]
 *   blk.L.ffn_down      [n_ff, n_embd]
 *   output_norm         [n_embd]            (f32)
 *   output              [n_embd, n_vocab]   (absent: tied to token_embd)
 *   rope_freqs          [hd/2]              (optional, Llama 3.1 scaling)
 * RoPE rotates adjacent pairs (x[2i], x[2i+1]) of each head: the GGUF
 * converter permutes Q/K rows so this "normal" ordering is the right one. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "engine/attention.h"
#include "engine/engine.h"
#include "engine/quant.h"
#include "engine/threadpool.h"
#include "engine/vecmath.h"

#define MAX_LAYERS 512
#define MAX_VOCAB (1 << 22)
#define MAX_EMBD (1 << 16)
#define ATT_CHUNK 16 /* tokens of one sequence per attention work unit */

typedef struct layer_w {
    const hr_gguf_tensor *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *up, *down;
} layer_w;

struct hr_model {
    hr_gguf *g;
    hr_model_info info;
    const hr_gguf_tensor *tok_embd, *out_norm, *output;
    const float *rope_freqs; /* [hd/2] or NULL */
    int rope_dim;            /* rotated dims per head */
    layer_w *layers;
    /* weights copied out of the file mapping (hr_model_params.hugepages) */
    hr_gguf_tensor *own; /* [n_tensors] descriptors pointing into `copy` */
    void *copy_map;      /* the anonymous mapping, copy_len bytes */
    size_t copy_len;
};


/* Finds a tensor and checks its shape; ne1 = 0 for a vector. */
static const hr_gguf_tensor *want(const hr_gguf *g, const char *name, int64_t ne0, int64_t ne1, bool f32_only,
                                  bool optional, char *err, size_t errsz, bool *bad) {
    const hr_gguf_tensor *t = hr_gguf_find_tensor(g, name);
    if (!t) {
        if (!optional) {
            hr_errf(err, errsz, "missing tensor '%s'", name);
            *bad = true;
        }
        return NULL;
    }
    bool shape_ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!shape_ok) {
        hr_errf(err, errsz, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0],
               (long long)t->ne[1], (long long)ne0, (long long)(ne1 ? ne1 : 1));
        *bad = true;
        return NULL;
    }
    if (f32_only && t->type != HR_TYPE_F32) {
        hr_errf(err, errsz, "tensor '%s' must be f32", name);
        *bad = true;
        return NULL;
    }
    const hr_type_traits *tr = hr_type_get(t->type);
    if (!tr || !tr->supported) {
        hr_errf(err, errsz, "tensor '%s' has type %s, which the engine cannot compute", name, tr ? tr->name : "?");
        *bad = true;
        return NULL;
    }
    return t;
}

static bool get_hp(const hr_gguf *g, const char *arch, const char *suffix, uint32_t *out, bool required, char *err,
                   size_t errsz) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (hr_gguf_get_u32(g, key, out)) return true;
    if (required) hr_errf(err, errsz, "missing or invalid metadata '%s'", key);
    return !required;
}

hr_model *hr_model_from_gguf(hr_gguf *g, char *err, size_t errsz) {
    if (!g) return NULL;
    hr_model *m = hr_xcalloc(1, sizeof *m);
    m->g = g;
    hr_model_info *in = &m->info;
    const char *arch = hr_gguf_get_str(g, "general.architecture", NULL);
    if (!arch) {
        hr_errf(err, errsz, "missing general.architecture");
        goto fail;
    }
    if (strcmp(arch, "llama") != 0) {
        hr_errf(err, errsz, "unsupported architecture '%.60s' (only 'llama' is supported)", arch);
        goto fail;
    }
    snprintf(in->arch, sizeof in->arch, "%s", arch);
    const char *name = hr_gguf_get_str(g, "general.name", NULL);
    snprintf(in->name, sizeof in->name, "%s", name ? name : "");
    uint32_t n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_ctx = 0, rope_dim = 0, key_len = 0;
    if (!get_hp(g, arch, "embedding_length", &n_embd, true, err, errsz) ||
        !get_hp(g, arch, "block_count", &n_layer, true, err, errsz) ||
        !get_hp(g, arch, "feed_forward_length", &n_ff, true, err, errsz) ||
        !get_hp(g, arch, "attention.head_count", &n_head, true, err, errsz))
        goto fail;
    n_head_kv = n_head;
    get_hp(g, arch, "attention.head_count_kv", &n_head_kv, false, err, errsz);
    n_ctx = 2048;
    get_hp(g, arch, "context_length", &n_ctx, false, err, errsz);
    if (n_embd == 0 || n_embd > MAX_EMBD || n_layer == 0 || n_layer > MAX_LAYERS || n_head == 0 || n_ff == 0 ||
        n_ff > 16 * MAX_EMBD || n_head_kv == 0 || n_head % n_head_kv || n_embd % n_head || (n_embd / n_head) % 2 ||
        n_ctx == 0) {
        hr_errf(err, errsz,
               "invalid hyperparameters: n_embd %u, n_layer %u, n_ff %u, n_head %u, n_head_kv %u, context %u", n_embd,
               n_layer, n_ff, n_head, n_head_kv, n_ctx);
        goto fail;
    }
    int hd = (int)(n_embd / n_head);
    if (get_hp(g, arch, "attention.key_length", &key_len, false, err, errsz) && key_len && key_len != (uint32_t)hd) {
        hr_errf(err, errsz, "attention.key_length %u != n_embd/n_head %d is not supported", key_len, hd);
        goto fail;
    }
    rope_dim = (uint32_t)hd;
    get_hp(g, arch, "rope.dimension_count", &rope_dim, false, err, errsz);
    if (rope_dim == 0 || rope_dim > (uint32_t)hd || rope_dim % 2) {
        hr_errf(err, errsz, "invalid rope.dimension_count %u for head size %d", rope_dim, hd);
        goto fail;
    }
    m->rope_dim = (int)rope_dim;
    in->n_embd = (int)n_embd;
    in->n_layer = (int)n_layer;
    in->n_ff = (int)n_ff;
    in->n_head = (int)n_head;
    in->n_head_kv = (int)n_head_kv;
    in->head_dim = hd;
    in->n_ctx_train = (int)(n_ctx > (1u << 24) ? (1u << 24) : n_ctx);
    in->rms_eps = 1e-5f;
    char key[160];
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    hr_gguf_get_f32(g, key, &in->rms_eps);
    in->rope_base = 10000.0f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    hr_gguf_get_f32(g, key, &in->rope_base);
    if (!(in->rms_eps > 0 && in->rms_eps < 1) || !(in->rope_base > 1)) {
        hr_errf(err, errsz, "invalid rms epsilon %g or rope base %g", in->rms_eps, in->rope_base);
        goto fail;
    }

    const hr_gguf_tensor *te = hr_gguf_find_tensor(g, "token_embd.weight");
    if (!te) {
        hr_errf(err, errsz, "missing tensor 'token_embd.weight'");
        goto fail;
    }
    if (te->ne[1] < 1 || te->ne[1] > MAX_VOCAB) {
        hr_errf(err, errsz, "token_embd.weight has %lld rows (vocab), limit %d", (long long)te->ne[1], MAX_VOCAB);
        goto fail;
    }
    in->n_vocab = (int)te->ne[1];
    bool bad = false;
    int64_t E = n_embd, V = in->n_vocab, F = n_ff, KV = (int64_t)n_head_kv * hd;
    m->tok_embd = want(g, "token_embd.weight", E, V, false, false, err, errsz, &bad);
    m->out_norm = want(g, "output_norm.weight", E, 0, true, false, err, errsz, &bad);
    if (bad) goto fail;
    m->output = want(g, "output.weight", E, V, false, true, err, errsz, &bad);
    if (bad) goto fail;
    in->tied_output = m->output == NULL;
    if (!m->output) m->output = m->tok_embd;
    const hr_gguf_tensor *rf = want(g, "rope_freqs.weight", (int64_t)rope_dim / 2, 0, true, true, err, errsz, &bad);
    if (bad) goto fail;
    if (rf) {
        m->rope_freqs = rf->data;
        in->rope_scaled = true;
    }
    m->layers = hr_xcalloc(n_layer, sizeof(layer_w));
    for (uint32_t l = 0; l < n_layer && !bad; l++) {
        layer_w *L = &m->layers[l];
        char nm[96];
#define W(field, suffix, ne0, ne1, f32)                                                   \
    snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, suffix);                              \
    L->field = want(g, nm, ne0, ne1, f32, false, err, errsz, &bad);                      \
    if (bad) break;
        W(attn_norm, "attn_norm", E, 0, true);
        W(wq, "attn_q", E, E, false);
        W(wk, "attn_k", E, KV, false);
        W(wv, "attn_v", E, KV, false);
        W(wo, "attn_output", E, E, false);
        W(ffn_norm, "ffn_norm", E, 0, true);
        W(gate, "ffn_gate", E, F, false);
        W(up, "ffn_up", E, F, false);
        W(down, "ffn_down", F, E, false);
#undef W
    }
    if (bad) goto fail;
    /* stats */
    size_t counts[HR_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < hr_gguf_n_tensors(g); i++) {
        const hr_gguf_tensor *t = hr_gguf_tensor_at(g, i);
        in->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        in->weight_bytes += t->nbytes;
        if (t->type >= 0 && t->type < HR_TYPE_COUNT && t->n_dims >= 2) counts[t->type] += t->nbytes;
    }
    size_t best = 0;
    for (int t = 0; t < HR_TYPE_COUNT; t++)
        if (counts[t] > best) {
            best = counts[t];
            in->main_type = t;
        }
    return m;
fail:
    hr_model_free(m);
    return NULL;
}

/* ------------------------- weights in huge pages --------------------------- */

#define HUGE_ALIGN ((size_t)2 << 20)
#define AUTO_MIN_BYTES ((size_t)32 << 20) /* smaller models: the TLB covers them anyway */
#define DROP_STEP ((size_t)4 << 20)       /* file pages dropped behind the copy every 4 MiB */

static bool thp_available(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    char buf[128] = "";
    bool ok = fgets(buf, sizeof buf, f) && (strstr(buf, "[always]") || strstr(buf, "[madvise]"));
    fclose(f);
    return ok;
}

static const hr_gguf_tensor *remap(const hr_model *m, const hr_gguf_tensor *t) {
    if (!t) return NULL;
    for (int64_t i = 0; i < hr_gguf_n_tensors(m->g); i++)
        if (hr_gguf_tensor_at(m->g, i) == t) return &m->own[i];
    return t; /* not reached: every field points at a file tensor */
}

static void drop_file_pages(const uint8_t *from, const uint8_t *to) {
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)from & ~(uintptr_t)(pg - 1), b = (uintptr_t)to & ~(uintptr_t)(pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED); /* private read-only file pages: refault from the file */
}

/* Copies the tensor data section of a file-mapped model into a 2 MiB aligned
 * anonymous mapping advised MADV_HUGEPAGE, repoints every weight at the copy
 * and drops the file mapping's pages behind the copy, so RSS holds the
 * weights once. Returns false (model unchanged) if the mapping fails. */
static bool weights_to_anon(hr_model *m, bool huge) {
    int64_t n = hr_gguf_n_tensors(m->g);
    if (n < 1) return false;
    const uint8_t *lo = NULL, *hi = NULL;
    for (int64_t i = 0; i < n; i++) {
        const hr_gguf_tensor *t = hr_gguf_tensor_at(m->g, i);
        const uint8_t *d = t->data;
        if (!lo || d < lo) lo = d;
        if (!hi || d + t->nbytes > hi) hi = d + t->nbytes;
    }
    size_t span = (size_t)(hi - lo), len = (span + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN + HUGE_ALIGN;
    uint8_t *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return false;
    uint8_t *base = (uint8_t *)(((uintptr_t)map + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
    if (huge) madvise(base, len - (size_t)(base - map), MADV_HUGEPAGE);
    for (size_t o = 0; o < span; o += DROP_STEP) {
        size_t k = span - o < DROP_STEP ? span - o : DROP_STEP;
        memcpy(base + o, lo + o, k);
        drop_file_pages(lo + o, lo + o + k);
    }
    m->own = hr_xmalloc((size_t)n * sizeof(hr_gguf_tensor));
    for (int64_t i = 0; i < n; i++) {
        const hr_gguf_tensor *t = hr_gguf_tensor_at(m->g, i);
        m->own[i] = *t;
        m->own[i].data = base + ((const uint8_t *)t->data - lo);
    }
    m->copy_map = map;
    m->copy_len = len;
    m->tok_embd = remap(m, m->tok_embd);
    m->out_norm = remap(m, m->out_norm);
    m->output = remap(m, m->output);
    if (m->rope_freqs) m->rope_freqs = (const float *)(base + ((const uint8_t *)m->rope_freqs - lo));
    for (int l = 0; l < m->info.n_layer; l++) {
        layer_w *L = &m->layers[l];
        const hr_gguf_tensor **f[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                                      &L->ffn_norm, &L->gate, &L->up, &L->down};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) *f[i] = remap(m, *f[i]);
    }
    return true;
}

hr_model_params hr_model_default_params(void) {
    hr_model_params p = {-1};
    return p;
}

hr_model *hr_model_load_ex(const char *path, const hr_model_params *pp, char *err, size_t errsz) {
    hr_model_params p = pp ? *pp : hr_model_default_params();
    char e2[256] = "";
    hr_gguf *g = hr_gguf_open(path, err, errsz);
    if (!g) return NULL;
    hr_model *m = hr_model_from_gguf(g, e2, sizeof e2);
    if (!m) {
        hr_errf(err, errsz, "%s: %s", path, e2);
        return NULL;
    }
    if (p.hugepages != 0) {
        bool thp = thp_available();
        bool want_copy = p.hugepages > 0 || (thp && m->info.weight_bytes >= AUTO_MIN_BYTES);
        if (want_copy && weights_to_anon(m, thp)) m->info.weights_copied = true;
    }
    return m;
}

hr_model *hr_model_load(const char *path, char *err, size_t errsz) { return hr_model_load_ex(path, NULL, err, errsz); }

void hr_model_free(hr_model *m) {
    if (!m) return;
    hr_gguf_close(m->g);
    if (m->copy_map) munmap(m->copy_map, m->copy_len);
    free(m->own);
    free(m->layers);
    free(m);
}

const hr_model_info *hr_model_get_info(const hr_model *m) { return &m->info; }
const hr_gguf *hr_model_gguf(const hr_model *m) { return m->g; }

void hr_model_prefault(const hr_model *m, void (*progress)(void *ud, double frac), void *ud) {
    int64_t n = hr_gguf_n_tensors(m->g);
    size_t total = m->info.weight_bytes ? m->info.weight_bytes : 1, done = 0;
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < n; i++) {
        const hr_gguf_tensor *t = m->own ? &m->own[i] : hr_gguf_tensor_at(m->g, i);
        const uint8_t *p = t->data;
        for (size_t o = 0; o < t->nbytes; o += 4096) sink ^= p[o];
        done += t->nbytes;
        if (progress) progress(ud, (double)done / (double)total);
    }
    (void)sink;
}

/* ============================== context ================================== */

struct hr_ctx {
    const hr_model *m;
    int n_ctx, n_seq, n_batch, n_threads;
    hr_pool *pool;
    /* KV cache of kv_type (f32 or f16), laid out so that attention is two
     * kernel matmuls per head: keys  [n_seq][n_layer][n_head_kv][n_ctx][head_dim]
     * (rows = positions), values transposed [n_seq][n_layer][n_head_kv][head_dim][n_ctx]
     * (rows = dimensions, so P x V is a dot of each probability row with them).
     * With att_fast (f32, attention.h kernels) values are rows of positions
     * like the keys: P x V is then row scaling, no dot products. */
    uint8_t *kc, *vc;
    int kv_type;
    size_t kv_elt;
    int *seq_len;
    /* scratch, [n_batch][width] */
    float *x, *xn, *q, *k, *v, *att, *hb, *hb2;
    float *rope_cos, *rope_sin; /* [n_batch][rope_dim/2] */
    uint8_t *xq[3];             /* quantized activations, one per vec_dot type in use */
    int xq_type[3];
    size_t xq_cap;
    float *scores; /* per thread: [ATT_CHUNK * group][n_ctx] attention scores */
    uint8_t *qbuf; /* per thread: [ATT_CHUNK * group] query rows prepared for the K type */
    float *obuf;   /* per thread: [ATT_CHUNK * group][head_dim] attention outputs */
    size_t qbuf_stride;
    float *logits; /* [n_batch][n_vocab] */
    int n_logits;
    int32_t *out_rows; /* batch index of each logits row */
    float *inv_freq;   /* [rope_dim/2] */
    bool att_fast;     /* attention.h kernels for the f32 cache */
};

hr_ctx_params hr_ctx_default_params(void) {
    hr_ctx_params p = {0, 1, 512, 0, HR_TYPE_F32};
    return p;
}

int hr_ctx_n_ctx(const hr_ctx *c) { return c->n_ctx; }
size_t hr_ctx_kv_bytes(const hr_ctx *c) {
    const hr_model_info *in = &c->m->info;
    return (size_t)2 * c->n_seq * in->n_layer * c->n_ctx * in->n_head_kv * in->head_dim * c->kv_elt;
}

hr_ctx *hr_ctx_create(const hr_model *m, const hr_ctx_params *pp, char *err, size_t errsz) {
    hr_ctx_params p = pp ? *pp : hr_ctx_default_params();
    const hr_model_info *in = &m->info;
    if (p.n_ctx <= 0) p.n_ctx = in->n_ctx_train < 4096 ? in->n_ctx_train : 4096;
    if (p.n_seq <= 0) p.n_seq = 1;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = n > 0 ? (int)n : 1;
    }
    if (p.n_ctx > (1 << 20) || p.n_seq > 1024 || p.n_batch > 8192 || p.n_threads > 256) {
        hr_errf(err, errsz, "context params out of range: n_ctx %d (max 1M), n_seq %d (max 1024), n_batch %d (max 8192)",
               p.n_ctx, p.n_seq, p.n_batch);
        return NULL;
    }
    size_t kv_dim = (size_t)in->n_head_kv * in->head_dim;
    size_t kv_elems = (size_t)p.n_seq * in->n_layer * p.n_ctx * kv_dim;
    if (kv_elems > ((size_t)1 << 36) / sizeof(float)) {
        hr_errf(err, errsz, "KV cache of %zu MiB is too large: lower n_ctx or n_seq", kv_elems * 8 >> 20);
        return NULL;
    }
    hr_ctx *c = hr_xcalloc(1, sizeof *c);
    c->m = m;
    c->n_ctx = p.n_ctx;
    c->n_seq = p.n_seq;
    c->n_batch = p.n_batch;
    c->n_threads = p.n_threads;
    c->pool = hr_pool_create(p.n_threads);
    c->kv_type = p.kv_type == HR_TYPE_F16 ? HR_TYPE_F16 : HR_TYPE_F32;
    c->kv_elt = c->kv_type == HR_TYPE_F16 ? 2 : 4;
    c->att_fast = hr_att_fast() && !getenv("HR_ATT_REF"); /* HR_ATT_REF: the matmul path (A/B runs) */
    /* pages are only touched as positions fill, so RSS follows the real use */
    c->kc = hr_xmalloc(kv_elems * c->kv_elt);
    c->vc = hr_xmalloc(kv_elems * c->kv_elt);
    c->seq_len = hr_xcalloc((size_t)p.n_seq, sizeof(int));
    size_t B = (size_t)p.n_batch, E = (size_t)in->n_embd, F = (size_t)in->n_ff;
    c->x = hr_xmalloc(B * E * sizeof(float));
    c->xn = hr_xmalloc(B * E * sizeof(float));
    c->q = hr_xmalloc(B * E * sizeof(float));
    c->k = hr_xmalloc(B * kv_dim * sizeof(float));
    c->v = hr_xmalloc(B * kv_dim * sizeof(float));
    c->att = hr_xmalloc(B * E * sizeof(float));
    c->hb = hr_xmalloc(B * F * sizeof(float));
    c->hb2 = hr_xmalloc(B * F * sizeof(float));
    size_t half = (size_t)m->rope_dim / 2;
    c->rope_cos = hr_xmalloc(B * half * sizeof(float));
    c->rope_sin = hr_xmalloc(B * half * sizeof(float));
    size_t kmax = E > F ? E : F;
    c->xq_cap = B * kmax * sizeof(float) + 1024; /* f32 is the widest activation type */
    for (int i = 0; i < 3; i++) c->xq[i] = hr_xmalloc(c->xq_cap);
    size_t group = (size_t)(in->n_head / in->n_head_kv);
    c->scores = hr_xmalloc((size_t)c->n_threads * ATT_CHUNK * group * (size_t)p.n_ctx * sizeof(float));
    c->qbuf_stride = hr_type_row_bytes(hr_vec_dot_type(c->kv_type), in->head_dim);
    c->qbuf = hr_xmalloc((size_t)c->n_threads * ATT_CHUNK * group * c->qbuf_stride);
    c->obuf = hr_xmalloc((size_t)c->n_threads * ATT_CHUNK * group * (size_t)in->head_dim * sizeof(float));
    c->logits = hr_xmalloc(B * (size_t)in->n_vocab * sizeof(float));
    c->out_rows = hr_xmalloc(B * sizeof(int32_t));
    c->inv_freq = hr_xmalloc(half * sizeof(float));
    for (size_t i = 0; i < half; i++) {
        double f = pow((double)in->rope_base, -2.0 * (double)i / (double)m->rope_dim);
        if (m->rope_freqs) f /= (double)m->rope_freqs[i];
        c->inv_freq[i] = (float)f;
    }
    return c;
}

void hr_ctx_free(hr_ctx *c) {
    if (!c) return;
    hr_pool_free(c->pool);
    free(c->kc);
    free(c->vc);
    free(c->seq_len);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->rope_cos);
    free(c->rope_sin);
    for (int i = 0; i < 3; i++) free(c->xq[i]);
    free(c->scores);
    free(c->qbuf);
    free(c->obuf);
    free(c->logits);
    free(c->out_rows);
    free(c->inv_freq);
    free(c);
}

int hr_ctx_seq_len(const hr_ctx *c, int seq) { return seq >= 0 && seq < c->n_seq ? c->seq_len[seq] : 0; }
void hr_ctx_seq_truncate(hr_ctx *c, int seq, int n_keep) {
    if (seq < 0 || seq >= c->n_seq) return;
    if (n_keep < 0) n_keep = 0;
    if (n_keep < c->seq_len[seq]) c->seq_len[seq] = n_keep;
}
const float *hr_ctx_logits(const hr_ctx *c, int i) {
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * c->m->info.n_vocab;
}

/* ---------------------------- parallel matmul ----------------------------- */

typedef struct mm_op {
    const hr_gguf_tensor *w;
    const void *xq;
    float *y;
    int64_t ldy;
} mm_op;

typedef struct mm_job {
    mm_op ops[3];
    int n_ops;
    int nb;
    int64_t chunk;
    int64_t n_chunks[3];
    int64_t total_chunks;
    _Atomic int64_t next;
} mm_job;

static void mm_worker(void *ud, int ith, int nth) {
    (void)ith;
    (void)nth;
    mm_job *j = ud;
    for (;;) {
        int64_t ci = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (ci >= j->total_chunks) break;
        int o = 0;
        while (ci >= j->n_chunks[o]) ci -= j->n_chunks[o++];
        const mm_op *op = &j->ops[o];
        int64_t rows = op->w->ne[1];
        int64_t r0 = ci * j->chunk, r1 = r0 + j->chunk;
        if (r1 > rows) r1 = rows;
        hr_matmul_rows(op->w->type, op->w->data, op->w->ne[0], r0, r1, op->xq, j->nb, op->y, op->ldy);
    }
}

/* Row-parallel helper: fn(ud, r0, r1) over [0, n) split across the pool.
 * Used for the element-wise work of a batch (norms, SwiGLU, activation
 * quantization); single rows run inline. */
typedef void (*rows_fn)(void *ud, int r0, int r1);
typedef struct rows_job {
    rows_fn fn;
    void *ud;
    int n, chunk;
    _Atomic int next;
} rows_job;

static void rows_worker(void *ud, int ith, int nth) {
    (void)ith;
    (void)nth;
    rows_job *j = ud;
    for (;;) {
        int r0 = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
        if (r0 >= j->n) break;
        j->fn(j->ud, r0, r0 + j->chunk < j->n ? r0 + j->chunk : j->n);
    }
}

static void parallel_rows(hr_ctx *c, int n, rows_fn fn, void *ud) {
    int nth = hr_pool_size(c->pool);
    if (n < 4 || nth == 1) {
        fn(ud, 0, n);
        return;
    }
    rows_job j = {.fn = fn, .ud = ud, .n = n, .chunk = (n + 4 * nth - 1) / (4 * nth)};
    atomic_store(&j.next, 0);
    hr_pool_run(c->pool, rows_worker, &j);
}

typedef struct quant_rows {
    int wtype;
    const float *x;
    uint8_t *xq;
    int64_t k;
    size_t stride;
} quant_rows;

static void quant_rows_fn(void *ud, int r0, int r1) {
    quant_rows *q = ud;
    for (int b = r0; b < r1; b++) hr_quantize_activation_row(q->wtype, q->x + (size_t)b * q->k, q->xq + b * q->stride, q->k);
}

/* Quantizes nb rows of x (width k) for weights of type wtype; returns the
 * buffer. Rows already prepared for the same activation type are reused. */
typedef struct act_cache {
    int n;
    int type[3];
} act_cache;

static const void *prep_act(hr_ctx *c, act_cache *ac, int wtype, const float *x, int nb, int64_t k) {
    int at = hr_vec_dot_type(wtype);
    for (int i = 0; i < ac->n; i++)
        if (ac->type[i] == at) return c->xq[i];
    int slot = ac->n < 3 ? ac->n++ : 2;
    ac->type[slot] = at;
    quant_rows q = {wtype, x, c->xq[slot], k, hr_type_row_bytes(at, k)};
    parallel_rows(c, nb, quant_rows_fn, &q);
    return c->xq[slot];
}

/* y_i = W_i x for up to three weights sharing the input x ([nb][k]). */
static void matmul_multi(hr_ctx *c, int n_ops, const hr_gguf_tensor *const *ws, const float *x, int nb,
                         float *const *ys) {
    mm_job j;
    memset(&j, 0, sizeof j);
    act_cache ac = {0};
    int64_t k = ws[0]->ne[0];
    int64_t maxrows = 0;
    for (int i = 0; i < n_ops; i++) {
        j.ops[i].w = ws[i];
        j.ops[i].xq = prep_act(c, &ac, ws[i]->type, x, nb, k);
        j.ops[i].y = ys[i];
        j.ops[i].ldy = ws[i]->ne[1];
        if (ws[i]->ne[1] > maxrows) maxrows = ws[i]->ne[1];
    }
    int nth = hr_pool_size(c->pool);
    int64_t chunk = maxrows / (nth * 8);
    if (nb > 1 && chunk > 64) chunk = 64;
    chunk = (chunk + 15) & ~(int64_t)15;
    if (chunk < 16) chunk = 16;
    j.chunk = chunk;
    j.n_ops = n_ops;
    j.nb = nb;
    for (int i = 0; i < n_ops; i++) {
        j.n_chunks[i] = (ws[i]->ne[1] + chunk - 1) / chunk;
        j.total_chunks += j.n_chunks[i];
    }
    atomic_store(&j.next, 0);
    hr_pool_run(c->pool, mm_worker, &j);
}

static void matmul(hr_ctx *c, const hr_gguf_tensor *w, const float *x, int nb, float *y) {
    matmul_multi(c, 1, &w, x, nb, &y);
}

/* ------------------------------ attention --------------------------------- */

/* Attention work: units of up to ATT_CHUNK adjacent batch entries of one
 * sequence (their positions are consecutive) x one KV head. */
typedef struct att_unit {
    int b0, n; /* batch entries [b0, b0 + n) */
} att_unit;

typedef struct att_job {
    hr_ctx *c;
    const hr_batch_entry *batch;
    int nb, layer;
    const att_unit *units;
    int n_units;
    _Atomic int next;
} att_job;

/* One work item = (unit, kv head). Scores for all query rows of the unit
 * (its tokens x the query heads sharing this KV head) come from one kernel
 * matmul against the head's keys; softmax applies the causal limit per row;
 * the weighted value sums are kernel dot products with the transposed
 * values. */
static void att_worker(void *ud, int ith, int nth) {
    (void)nth;
    att_job *j = ud;
    hr_ctx *c = j->c;
    const hr_model_info *in = &c->m->info;
    int hd = in->head_dim, nkv = in->n_head_kv, group = in->n_head / in->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    size_t rows_max = (size_t)ATT_CHUNK * group;
    float *sc = c->scores + (size_t)ith * rows_max * c->n_ctx;
    uint8_t *qb = c->qbuf + (size_t)ith * rows_max * c->qbuf_stride;
    int total = j->n_units * nkv;
    for (;;) {
        int w = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (w >= total) break;
        const att_unit *u = &j->units[w / nkv];
        int kvh = w % nkv;
        const hr_batch_entry *e0 = &j->batch[u->b0];
        size_t head = ((size_t)e0->seq * in->n_layer + j->layer) * nkv + kvh;
        const uint8_t *K = c->kc + head * c->n_ctx * hd * c->kv_elt;
        const uint8_t *V = c->vc + head * c->n_ctx * hd * c->kv_elt;
        int n_pos = j->batch[u->b0 + u->n - 1].pos + 1, rows = u->n * group;
        if (c->kv_type == HR_TYPE_F32 && c->att_fast) {
            /* f32 cache: register-blocked kernels, no per-position dispatch */
            for (int i = 0; i < u->n; i++) {
                const float *q = c->q + (size_t)(u->b0 + i) * in->n_embd + (size_t)kvh * group * hd;
                float *srows = sc + (size_t)i * group * n_pos;
                hr_att_scores((const float *)K, (size_t)hd, n_pos, hd, q, group, srows, (size_t)n_pos);
                int n = j->batch[u->b0 + i].pos + 1; /* causal: this token sees positions < n */
                for (int g = 0; g < group; g++) {
                    float *srow = srows + (size_t)g * n_pos;
                    hr_att_softmax(srow, n, scale);
                    for (int t = n; t < n_pos; t++) srow[t] = 0;
                }
            }
            float *ob = c->obuf + (size_t)ith * rows_max * hd;
            hr_att_values((const float *)V, (size_t)hd, n_pos, hd, sc, (size_t)n_pos, rows, ob); /* V: rows */
            for (int i = 0; i < u->n; i++)
                memcpy(c->att + (size_t)(u->b0 + i) * in->n_embd + (size_t)kvh * group * hd,
                       ob + (size_t)i * group * hd, (size_t)group * hd * sizeof(float));
            continue;
        }
        for (int i = 0; i < u->n; i++)
            for (int g = 0; g < group; g++) {
                const float *q = c->q + (size_t)(u->b0 + i) * in->n_embd + (size_t)(kvh * group + g) * hd;
                hr_quantize_activation_row(c->kv_type, q, qb + (size_t)(i * group + g) * c->qbuf_stride, hd);
            }
        hr_matmul_rows(c->kv_type, K, hd, 0, n_pos, qb, rows, sc, n_pos);
        for (int i = 0; i < u->n; i++) {
            int n = j->batch[u->b0 + i].pos + 1; /* causal: this token sees positions < n */
            for (int g = 0; g < group; g++) {
                float *srow = sc + (size_t)(i * group + g) * n_pos, mx = -INFINITY, sum = 0;
                for (int t = 0; t < n; t++) {
                    srow[t] *= scale;
                    if (srow[t] > mx) mx = srow[t];
                }
                for (int t = 0; t < n; t++) {
                    srow[t] = expf(srow[t] - mx);
                    sum += srow[t];
                }
                float inv = 1.0f / sum;
                for (int t = 0; t < n; t++) srow[t] *= inv;
                for (int t = n; t < n_pos; t++) srow[t] = 0; /* later positions of this unit */
            }
        }
        /* out[row][d] = P[row] . Vt[d]: the probability rows are f32
         * activations, which is what f32/f16 weights take */
        float *ob = c->obuf + (size_t)ith * rows_max * hd;
        size_t vrow = (size_t)c->n_ctx * c->kv_elt;
        /* one call over all hd rows of Vt (row stride n_ctx): per-row calls cost
         * more in dispatch than in arithmetic when n_pos is small (decode) */
        hr_matmul_rows_strided(c->kv_type, V, vrow, n_pos, 0, hd, sc, rows, ob, hd);
        for (int i = 0; i < u->n; i++)
            memcpy(c->att + (size_t)(u->b0 + i) * in->n_embd + (size_t)kvh * group * hd, ob + (size_t)i * group * hd,
                   (size_t)group * hd * sizeof(float));
    }
}

/* ------------------------------ hr_ctx_parallel --------------------------- */

typedef struct par_job {
    void (*fn)(void *ud, int i);
    void *ud;
    int n;
    _Atomic int next;
} par_job;

static void par_worker(void *ud, int ith, int nth) {
    (void)ith, (void)nth;
    par_job *j = ud;
    for (int i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n;) j->fn(j->ud, i);
}

void hr_ctx_parallel(hr_ctx *c, int n, void (*fn)(void *ud, int i), void *ud) {
    if (n <= 0) return;
    if (n == 1 || hr_pool_size(c->pool) == 1) {
        for (int i = 0; i < n; i++) fn(ud, i);
        return;
    }
    par_job j = {fn, ud, n, 0};
    hr_pool_run(c->pool, par_worker, &j);
}

/* ------------------------------- helpers ---------------------------------- */

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = x[i] * s * w[i];
}

static void rope(float *v, int n_heads, int hd, int rope_dim, const float *cs, const float *sn) {
    for (int h = 0; h < n_heads; h++) {
        float *p = v + (size_t)h * hd;
        for (int i = 0; i < rope_dim / 2; i++) {
            float a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * cs[i] - b * sn[i];
            p[2 * i + 1] = a * sn[i] + b * cs[i];
        }
    }
}

typedef struct norm_rows {
    float *out;
    const float *x, *w;
    int n;
    float eps;
} norm_rows;

static void norm_rows_fn(void *ud, int r0, int r1) {
    norm_rows *j = ud;
    for (int b = r0; b < r1; b++) rmsnorm(j->out + (size_t)b * j->n, j->x + (size_t)b * j->n, j->w, j->n, j->eps);
}

typedef struct swiglu_rows {
    float *g;
    const float *u;
    int n;
} swiglu_rows;

static void swiglu_rows_fn(void *ud, int r0, int r1) {
    swiglu_rows *j = ud;
    size_t at = (size_t)r0 * j->n;
    hr_vec_swiglu(j->g + at, j->u + at, (size_t)(r1 - r0) * j->n);
}

static int check_batch(const hr_ctx *c, const hr_batch_entry *batch, int n, char *err, size_t errsz) {
    if (n < 1 || n > c->n_batch) {
        hr_errf(err, errsz, "batch of %d entries (must be 1..%d)", n, c->n_batch);
        return -1;
    }
    int *next = hr_xmalloc((size_t)c->n_seq * sizeof(int));
    for (int s = 0; s < c->n_seq; s++) next[s] = -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const hr_batch_entry *e = &batch[i];
        if (e->seq < 0 || e->seq >= c->n_seq) {
            hr_errf(err, errsz, "entry %d: sequence %d out of range (n_seq %d)", i, e->seq, c->n_seq);
            rc = -1;
        } else if (e->token < 0 || e->token >= c->m->info.n_vocab) {
            hr_errf(err, errsz, "entry %d: token %d out of range (vocab %d)", i, e->token, c->m->info.n_vocab);
            rc = -1;
        } else if (e->pos < 0 || e->pos >= c->n_ctx) {
            hr_errf(err, errsz, "entry %d: position %d outside the context (%d)", i, e->pos, c->n_ctx);
            rc = -1;
        } else if (next[e->seq] < 0 ? e->pos > c->seq_len[e->seq] : e->pos != next[e->seq]) {
            hr_errf(err, errsz, "entry %d: position %d of sequence %d leaves a gap (expected %s%d)", i, e->pos, e->seq,
                   next[e->seq] < 0 ? "<= " : "", next[e->seq] < 0 ? c->seq_len[e->seq] : next[e->seq]);
            rc = -1;
        } else {
            next[e->seq] = e->pos + 1;
        }
    }
    free(next);
    return rc;
}

int hr_ctx_decode(hr_ctx *c, const hr_batch_entry *batch, int nb, char *err, size_t errsz) {
    if (check_batch(c, batch, nb, err, errsz) < 0) return -1;
    const hr_model *m = c->m;
    const hr_model_info *in = &m->info;
    int E = in->n_embd, F = in->n_ff, hd = in->head_dim, half = m->rope_dim / 2;
    size_t kv_dim = (size_t)in->n_head_kv * hd;
    size_t emb_row = hr_type_row_bytes(m->tok_embd->type, E);

    for (int b = 0; b < nb; b++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd->data + (size_t)batch[b].token * emb_row;
        hr_dequantize_row(m->tok_embd->type, row, c->x + (size_t)b * E, E);
        for (int i = 0; i < half; i++) {
            float th = (float)batch[b].pos * c->inv_freq[i];
            c->rope_cos[(size_t)b * half + i] = cosf(th);
            c->rope_sin[(size_t)b * half + i] = sinf(th);
        }
    }
    /* attention units: runs of adjacent entries of one sequence, <= ATT_CHUNK */
    att_unit *units = hr_xmalloc((size_t)nb * sizeof(att_unit));
    int n_units = 0;
    for (int b = 0; b < nb; b++) {
        att_unit *u = n_units ? &units[n_units - 1] : NULL;
        if (u && u->n < ATT_CHUNK && batch[u->b0].seq == batch[b].seq) u->n++;
        else units[n_units++] = (att_unit){b, 1};
    }
    for (int l = 0; l < in->n_layer; l++) {
        const layer_w *L = &m->layers[l];
        norm_rows nr = {c->xn, c->x, L->attn_norm->data, E, in->rms_eps};
        parallel_rows(c, nb, norm_rows_fn, &nr);
        const hr_gguf_tensor *qkv[3] = {L->wq, L->wk, L->wv};
        float *ys[3] = {c->q, c->k, c->v};
        matmul_multi(c, 3, qkv, c->xn, nb, ys);
        for (int b = 0; b < nb; b++) {
            const float *cs = c->rope_cos + (size_t)b * half, *sn = c->rope_sin + (size_t)b * half;
            rope(c->q + (size_t)b * E, in->n_head, hd, m->rope_dim, cs, sn);
            rope(c->k + (size_t)b * kv_dim, in->n_head_kv, hd, m->rope_dim, cs, sn);
            const hr_batch_entry *e = &batch[b];
            for (int h = 0; h < in->n_head_kv; h++) {
                size_t off = ((((size_t)e->seq * in->n_layer + l) * in->n_head_kv + h) * c->n_ctx + e->pos) * hd;
                const float *kb = c->k + (size_t)b * kv_dim + (size_t)h * hd;
                const float *vb = c->v + (size_t)b * kv_dim + (size_t)h * hd;
                /* values transposed: element i of this position at [i][pos] */
                size_t voff = (((size_t)e->seq * in->n_layer + l) * in->n_head_kv + h) * (size_t)hd * c->n_ctx + e->pos;
                if (c->kv_type == HR_TYPE_F16) {
                    uint16_t *kd = (uint16_t *)(c->kc + off * 2), *vd = (uint16_t *)c->vc + voff;
                    for (int i = 0; i < hd; i++) {
                        kd[i] = hr_fp32_to_fp16(kb[i]);
                        vd[(size_t)i * c->n_ctx] = hr_fp32_to_fp16(vb[i]);
                    }
                } else if (c->att_fast) { /* attention.h kernels: values as rows too */
                    memcpy(c->kc + off * 4, kb, (size_t)hd * sizeof(float));
                    memcpy(c->vc + off * 4, vb, (size_t)hd * sizeof(float));
                } else {
                    float *vd = (float *)c->vc + voff;
                    memcpy(c->kc + off * 4, kb, (size_t)hd * sizeof(float));
                    for (int i = 0; i < hd; i++) vd[(size_t)i * c->n_ctx] = vb[i];
                }
            }
        }
        att_job aj = {.c = c, .batch = batch, .nb = nb, .layer = l, .units = units, .n_units = n_units};
        atomic_store(&aj.next, 0);
        hr_pool_run(c->pool, att_worker, &aj);
        matmul(c, L->wo, c->att, nb, c->xn);
        for (size_t i = 0; i < (size_t)nb * E; i++) c->x[i] += c->xn[i];

        nr.w = L->ffn_norm->data;
        parallel_rows(c, nb, norm_rows_fn, &nr);
        const hr_gguf_tensor *gu[2] = {L->gate, L->up};
        float *ys2[2] = {c->hb, c->hb2};
        matmul_multi(c, 2, gu, c->xn, nb, ys2);
        swiglu_rows sw = {c->hb, c->hb2, F};
        parallel_rows(c, nb, swiglu_rows_fn, &sw);
        matmul(c, L->down, c->hb, nb, c->xn);
        for (size_t i = 0; i < (size_t)nb * E; i++) c->x[i] += c->xn[i];
    }
    free(units);
    for (int b = 0; b < nb; b++) {
        int s = batch[b].seq;
        c->seq_len[s] = batch[b].pos + 1; /* entries of a sequence are consecutive: the last wins */
    }
    /* final norm only for rows that want logits */
    int n_out = 0;
    for (int b = 0; b < nb; b++) {
        if (!batch[b].logits) continue;
        rmsnorm(c->xn + (size_t)n_out * E, c->x + (size_t)b * E, m->out_norm->data, E, in->rms_eps);
        c->out_rows[n_out++] = b;
    }
    c->n_logits = n_out;
    if (n_out) matmul(c, m->output, c->xn, n_out, c->logits);
    return n_out;
}
