/* Random-weight llama (and BERT encoder) GGUFs with real shapes (see
 * hr_synth_write in engine.h).
 *
 * Weights are uniform in [-a, a] with a = sqrt(3 / k) (std 1/sqrt(k) for a
 * row of k inputs), norms are 1, so activations stay O(1) through the layers
 * and logits have a std near 1. Mixed "_m" types follow llama.cpp's choice:
 * token_embd/output and the attn_v/ffn_down of "more bits" layers get Q6_K;
 * a row width that is not a multiple of 256 falls back from K types
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0). BERT shapes: matrices and
 * embeddings in the chosen type, token_types, LayerNorms and biases f32
 * (LayerNorm weights 1 +- 0.1, biases +- 0.05). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"

typedef struct shape {
    const char *name;
    int n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    float rope_base;
    bool tied, rope_freqs;
} shape;

static const shape shapes[] = {
    {"smollm2-135m", 30, 576, 1536, 9, 3, 49152, 8192, 100000.0f, true, false},
    {"llama-3.2-1b", 16, 2048, 8192, 32, 8, 128256, 131072, 500000.0f, true, true},
    {"llama-3.1-8b", 32, 4096, 14336, 32, 8, 128256, 131072, 500000.0f, false, true},
    /* test shapes */
    {"tiny", 2, 64, 128, 4, 2, 384, 512, 10000.0f, true, false},
    {"tiny-k", 2, 256, 512, 4, 2, 384, 512, 500000.0f, false, true},
};

/* BERT encoders (the vocabulary size comes from the vocab GGUF) */
typedef struct bert_shape {
    const char *name;
    int n_layer, n_embd, n_ff, n_head, n_ctx, pooling;
} bert_shape;

static const bert_shape bert_shapes[] = {
    {"bge-small", 12, 384, 1536, 12, 512, 2}, /* bge-small-en/zh-v1.5, CLS pooling */
    {"bert-tiny", 2, 64, 128, 4, 64, 2},      /* test shape */
};

#define SHAPE_NAMES "smollm2-135m, llama-3.2-1b, llama-3.1-8b, tiny, tiny-k, bge-small, bert-tiny"


hr_synth_params hr_synth_default_params(void) {
    hr_synth_params p;
    memset(&p, 0, sizeof p);
    p.shape = "tiny";
    p.type = "f32";
    p.seed = 1234;
    return p;
}

const char *hr_synth_shape_vocab(const char *shape_name) {
    if (!strcmp(shape_name, "smollm2-135m")) return "gguf:tokenizers/llama-vocab/ggml-vocab-starcoder.gguf";
    if (!strncmp(shape_name, "llama-3", 7)) return "tiktoken:tokenizers/llama3/tokenizer.model";
    if (!strcmp(shape_name, "bge-small") || !strcmp(shape_name, "bert-tiny"))
        return "gguf:tokenizers/llama-vocab/ggml-vocab-bert-bge.gguf";
    return NULL;
}

/* ---- type choice ---- */
static int parse_type(const char *s, bool *mixed) {
    static const struct {
        const char *n;
        int t;
        bool mixed;
    } tab[] = {{"f32", HR_TYPE_F32, 0},   {"f16", HR_TYPE_F16, 0},   {"bf16", HR_TYPE_BF16, 0},
               {"q8_0", HR_TYPE_Q8_0, 0}, {"q4_0", HR_TYPE_Q4_0, 0}, {"q4_1", HR_TYPE_Q4_1, 0},
               {"q5_0", HR_TYPE_Q5_0, 0}, {"q5_1", HR_TYPE_Q5_1, 0}, {"q2_k", HR_TYPE_Q2_K, 0},
               {"q3_k", HR_TYPE_Q3_K, 0}, {"q4_k", HR_TYPE_Q4_K, 0}, {"q5_k", HR_TYPE_Q5_K, 0},
               {"q6_k", HR_TYPE_Q6_K, 0}, {"q4_k_m", HR_TYPE_Q4_K, 1}, {"q5_k_m", HR_TYPE_Q5_K, 1},
               {"q4_k_s", HR_TYPE_Q4_K, 0}, {"q5_k_s", HR_TYPE_Q5_K, 0}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(s, tab[i].n)) {
            *mixed = tab[i].mixed;
            return tab[i].t;
        }
    return -1;
}

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int fallback(int t, int64_t ncols) {
    const hr_type_traits *tr = hr_type_get(t);
    if (tr && ncols % tr->block_size == 0) return t;
    switch (t) {
    case HR_TYPE_Q2_K: case HR_TYPE_Q3_K: case HR_TYPE_Q4_K: t = HR_TYPE_Q5_0; break;
    case HR_TYPE_Q5_K: t = HR_TYPE_Q5_1; break;
    case HR_TYPE_Q6_K: t = HR_TYPE_Q8_0; break;
    default: t = HR_TYPE_F16; break;
    }
    tr = hr_type_get(t);
    return tr && ncols % tr->block_size == 0 ? t : HR_TYPE_F16;
}

/* ---- fill ---- */
typedef struct fill_ctx {
    uint64_t seed;
    int64_t n_tensors;
    float *row;
    int64_t row_cap;
    int64_t *ne0, *ne1; /* per tensor */
    int *types;
    bool *is_norm;      /* llama norms: all ones */
    uint8_t *kind;      /* KIND_* (NULL: llama, is_norm decides) */
    void (*progress)(void *ud, double frac);
    void *ud;
} fill_ctx;

static inline uint64_t xs(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* BERT tensors: matrices (and embeddings) uniform with std 1/sqrt(k);
 * LayerNorm weights 1 +- 0.1 and biases +- 0.05, so activations stay O(1) */
enum { KIND_MAT = 0, KIND_LN_W = 1, KIND_BIAS = 2 };

static int fill(void *ud, int64_t idx, const char *name, void *buf, size_t nbytes) {
    fill_ctx *f = ud;
    int64_t k = f->ne0[idx], rows = f->ne1[idx];
    int type = f->types[idx];
    size_t rb = hr_type_row_bytes(type, k);
    if (rb * (size_t)rows != nbytes) return -1;
    if (k > f->row_cap) {
        free(f->row);
        f->row_cap = k;
        f->row = hr_xmalloc((size_t)k * sizeof(float));
    }
    uint64_t s = f->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1));
    if (!s) s = 1;
    bool rope = strstr(name, "rope_freqs") != NULL;
    float a = sqrtf(3.0f / (float)k);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < k; i++) {
            float u = 0;
            if (f->kind) {
                u = (float)(xs(&s) >> 40) * (2.0f / 16777216.0f) - 1.0f; /* [-1, 1) */
                int kd = f->kind[idx];
                f->row[i] = kd == KIND_LN_W ? 1.0f + 0.1f * u : kd == KIND_BIAS ? 0.05f * u : a * u;
                continue;
            }
            if (f->is_norm[idx]) f->row[i] = 1.0f;
            else if (rope) f->row[i] = i < k / 4 ? 1.0f : (i < k / 2 ? 2.0f : 8.0f); /* llama 3.1-like factors */
            else f->row[i] = a * ((float)(xs(&s) >> 40) * (2.0f / 16777216.0f) - 1.0f);
        }
        hr_quantize_row(type, f->row, (uint8_t *)buf + (size_t)r * rb, k);
    }
    if (f->progress) f->progress(f->ud, (double)(idx + 1) / (double)f->n_tensors);
    return 0;
}

/* ---- vocab ---- */
static int copy_tokenizer_kv(hr_gguf_writer *w, const hr_gguf *src, int n_vocab, char *err, size_t errsz) {
    for (int64_t i = 0; i < hr_gguf_n_kv(src); i++) {
        const char *key = hr_gguf_kv_key(src, i);
        if (strncmp(key, "tokenizer.", 10) != 0) continue;
        hr_gguf_vtype t = hr_gguf_kv_type(src, i);
        double num;
        if (t == HR_GGUF_STRING) {
            hr_gguf_writer_set_str(w, key, hr_gguf_kv_str(src, i, NULL));
        } else if (t == HR_GGUF_ARRAY) {
            hr_gguf_array a;
            hr_gguf_kv_arr(src, i, &a);
            bool per_token = !strcmp(key, "tokenizer.ggml.tokens") || !strcmp(key, "tokenizer.ggml.scores") ||
                             !strcmp(key, "tokenizer.ggml.token_type");
            uint64_t n = a.n;
            if (per_token && n > (uint64_t)n_vocab) {
                hr_errf(err, errsz, "vocab has %llu tokens, more than the shape's %d", (unsigned long long)n, n_vocab);
                return -1;
            }
            uint64_t total = per_token ? (uint64_t)n_vocab : n;
            if (a.type == HR_GGUF_STRING) {
                const char **v = hr_xmalloc((size_t)total * sizeof(char *) + 1);
                size_t *lens = hr_xmalloc((size_t)total * sizeof(size_t) + 1);
                char (*pad)[24] = hr_xmalloc((size_t)(total - n) * 24 + 1);
                for (uint64_t j = 0; j < n; j++) v[j] = hr_gguf_arr_str(&a, j, &lens[j]);
                for (uint64_t j = n; j < total; j++) {
                    lens[j] = (size_t)snprintf(pad[j - n], 24, "[PAD%llu]", (unsigned long long)j);
                    v[j] = pad[j - n];
                }
                hr_gguf_writer_set_arr_str(w, key, v, lens, total);
                free(v);
                free(lens);
                free(pad);
            } else if (a.type == HR_GGUF_F32 || a.type == HR_GGUF_I32) {
                int32_t *v = hr_xcalloc((size_t)total + 1, 4);
                for (uint64_t j = 0; j < n; j++) {
                    if (a.type == HR_GGUF_F32) {
                        float x = hr_gguf_arr_f32(&a, j);
                        memcpy(&v[j], &x, 4);
                    } else {
                        v[j] = (int32_t)hr_gguf_arr_i64(&a, j);
                    }
                }
                if (!strcmp(key, "tokenizer.ggml.token_type"))
                    for (uint64_t j = n; j < total; j++) v[j] = HR_TOK_TYPE_UNUSED;
                hr_gguf_writer_set_arr_data(w, key, (hr_gguf_vtype)a.type, v, total);
                free(v);
            } else {
                size_t es = a.type == HR_GGUF_U8 || a.type == HR_GGUF_I8 || a.type == HR_GGUF_BOOL ? 1 : 0;
                if (es && !per_token) hr_gguf_writer_set_arr_data(w, key, (hr_gguf_vtype)a.type, a.data, n);
            }
        } else if (t == HR_GGUF_BOOL) {
            bool b = false;
            hr_gguf_get_bool(src, key, &b);
            hr_gguf_writer_set_bool(w, key, b);
        } else if (t == HR_GGUF_F32 || t == HR_GGUF_F64) {
            hr_gguf_kv_num(src, i, &num);
            hr_gguf_writer_set_f32(w, key, (float)num);
        } else if (hr_gguf_kv_num(src, i, &num)) {
            if (num >= 0 && num <= 4294967295.0) hr_gguf_writer_set_u32(w, key, (uint32_t)num);
            else hr_gguf_writer_set_i32(w, key, (int32_t)num);
        }
    }
    return 0;
}

static int tiktoken_vocab(hr_gguf_writer *w, const char *path, int n_vocab, char *err, size_t errsz) {
    char e2[256] = "";
    hr_tokenizer *t = hr_tokenizer_from_tiktoken(path, 256, 1, e2, sizeof e2);
    if (!t) {
        hr_errf(err, errsz, "%s: %s", path, e2);
        return -1;
    }
    int n = hr_tokenizer_n_vocab(t);
    if (n > n_vocab) {
        hr_errf(err, errsz, "vocab has %d tokens, more than the shape's %d", n, n_vocab);
        hr_tokenizer_free(t);
        return -1;
    }
    hr_tokenizer_write_gguf(t, w, n_vocab);
    hr_tokenizer_free(t);
    return 0;
}

/* A minimal SentencePiece-style vocab: <unk> <s> </s>, 256 byte tokens,
 * then "▁a".."▁z" style filler; enough for engine tests. */
static void simple_vocab(hr_gguf_writer *w, int n_vocab) {
    char (*txt)[24] = hr_xmalloc((size_t)n_vocab * 24);
    const char **v = hr_xmalloc((size_t)n_vocab * sizeof(char *));
    float *scores = hr_xcalloc((size_t)n_vocab, sizeof(float));
    int32_t *types = hr_xmalloc((size_t)n_vocab * sizeof(int32_t));
    for (int i = 0; i < n_vocab; i++) {
        if (i < 3) {
            snprintf(txt[i], 24, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            types[i] = i == 0 ? HR_TOK_TYPE_UNKNOWN : HR_TOK_TYPE_CONTROL;
        } else if (i < 259) {
            snprintf(txt[i], 24, "<0x%02X>", i - 3);
            types[i] = HR_TOK_TYPE_BYTE;
        } else {
            snprintf(txt[i], 24, "\xe2\x96\x81w%d", i - 259);
            types[i] = HR_TOK_TYPE_NORMAL;
            scores[i] = -(float)i;
        }
        v[i] = txt[i];
    }
    hr_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    hr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v, NULL, (uint64_t)n_vocab);
    hr_gguf_writer_set_arr_data(w, "tokenizer.ggml.scores", HR_GGUF_F32, scores, (uint64_t)n_vocab);
    hr_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", HR_GGUF_I32, types, (uint64_t)n_vocab);
    hr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    hr_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    hr_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    free(txt);
    free(v);
    free(scores);
    free(types);
}

/* ---- BERT ---- */
static int bert_add(hr_gguf_writer *w, fill_ctx *f, const char *name, int64_t k, int64_t n, int type, int kind,
                    char *err, size_t errsz) {
    int tt = kind == KIND_MAT ? fallback(type, k) : HR_TYPE_F32;
    const hr_type_traits *tr = hr_type_get(tt);
    if (!tr || !tr->supported) {
        hr_errf(err, errsz, "type %s is not supported by the kernels yet", tr ? tr->name : "?");
        return -1;
    }
    int64_t ne[2] = {k, n};
    int64_t ix = hr_gguf_writer_add_tensor(w, name, tt, n > 1 ? 2 : 1, ne, NULL);
    if (ix < 0) {
        hr_errf(err, errsz, "cannot add tensor %s", name);
        return -1;
    }
    f->ne0[ix] = k;
    f->ne1[ix] = n;
    f->types[ix] = tt;
    f->kind[ix] = (uint8_t)kind;
    f->n_tensors = ix + 1;
    return 0;
}

/* A "bert" GGUF as llama.cpp's converter names it (see engine/bert.c). */
static int bert_write(const hr_synth_params *p, const bert_shape *sh, int base, const char *path, char *err,
                      size_t errsz) {
    if (!p->vocab_gguf) {
        hr_errf(err, errsz, "shape %s needs a WordPiece vocab GGUF (--vocab)", sh->name);
        return -1;
    }
    char e2[256] = "";
    hr_gguf *src = hr_gguf_open(p->vocab_gguf, e2, sizeof e2);
    if (!src) {
        hr_errf(err, errsz, "vocab: %s", e2);
        return -1;
    }
    const char *model = hr_gguf_get_str(src, "tokenizer.ggml.model", NULL);
    hr_gguf_array toks;
    if (!model || strcmp(model, "bert") != 0 || !hr_gguf_get_arr(src, "tokenizer.ggml.tokens", &toks) ||
        toks.n < 1 || toks.n > (1u << 22)) {
        hr_errf(err, errsz, "vocab %s is not a WordPiece (tokenizer.ggml.model 'bert') vocabulary", p->vocab_gguf);
        hr_gguf_close(src);
        return -1;
    }
    int V = (int)toks.n;
    hr_gguf_writer *w = hr_gguf_writer_create();
    char name[128];
    snprintf(name, sizeof name, "synthetic %s %s", sh->name, p->type);
    hr_gguf_writer_set_str(w, "general.architecture", "bert");
    hr_gguf_writer_set_str(w, "general.name", name);
    hr_gguf_writer_set_u32(w, "general.file_type", (uint32_t)base);
    hr_gguf_writer_set_u32(w, "bert.context_length", (uint32_t)sh->n_ctx);
    hr_gguf_writer_set_u32(w, "bert.embedding_length", (uint32_t)sh->n_embd);
    hr_gguf_writer_set_u32(w, "bert.block_count", (uint32_t)sh->n_layer);
    hr_gguf_writer_set_u32(w, "bert.feed_forward_length", (uint32_t)sh->n_ff);
    hr_gguf_writer_set_u32(w, "bert.attention.head_count", (uint32_t)sh->n_head);
    hr_gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    hr_gguf_writer_set_bool(w, "bert.attention.causal", false);
    hr_gguf_writer_set_u32(w, "bert.pooling_type", (uint32_t)sh->pooling);
    int rc = copy_tokenizer_kv(w, src, V, err, errsz);
    hr_gguf_close(src);

    int cap = 8 + 16 * sh->n_layer, E = sh->n_embd, F = sh->n_ff;
    fill_ctx f = {.seed = p->seed, .progress = p->progress, .ud = p->progress_ud};
    f.ne0 = hr_xcalloc((size_t)cap, sizeof(int64_t));
    f.ne1 = hr_xcalloc((size_t)cap, sizeof(int64_t));
    f.types = hr_xcalloc((size_t)cap, sizeof(int));
    f.is_norm = hr_xcalloc((size_t)cap, sizeof(bool));
    f.kind = hr_xcalloc((size_t)cap, 1);
    if (rc == 0) rc = bert_add(w, &f, "token_embd.weight", E, V, base, KIND_MAT, err, errsz);
    if (rc == 0) rc = bert_add(w, &f, "position_embd.weight", E, sh->n_ctx, base, KIND_MAT, err, errsz);
    if (rc == 0) rc = bert_add(w, &f, "token_types.weight", E, 2, HR_TYPE_F32, KIND_MAT, err, errsz);
    if (rc == 0) rc = bert_add(w, &f, "token_embd_norm.weight", E, 1, HR_TYPE_F32, KIND_LN_W, err, errsz);
    if (rc == 0) rc = bert_add(w, &f, "token_embd_norm.bias", E, 1, HR_TYPE_F32, KIND_BIAS, err, errsz);
    static const struct {
        const char *name;
        char k, n; /* 'E' or 'F' */
    } mats[] = {{"attn_q", 'E', 'E'}, {"attn_k", 'E', 'E'}, {"attn_v", 'E', 'E'},
                {"attn_output", 'E', 'E'}, {"ffn_up", 'E', 'F'}, {"ffn_down", 'F', 'E'}};
    for (int l = 0; l < sh->n_layer && rc == 0; l++) {
        char nm[96];
        for (size_t i = 0; i < sizeof mats / sizeof mats[0] && rc == 0; i++) {
            int64_t k = mats[i].k == 'E' ? E : F, n = mats[i].n == 'E' ? E : F;
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, mats[i].name);
            rc = bert_add(w, &f, nm, k, n, base, KIND_MAT, err, errsz);
            snprintf(nm, sizeof nm, "blk.%d.%s.bias", l, mats[i].name);
            if (rc == 0) rc = bert_add(w, &f, nm, n, 1, HR_TYPE_F32, KIND_BIAS, err, errsz);
            if (rc == 0 && (i == 3 || i == 5)) { /* after attn_output and ffn_down: the LayerNorms */
                const char *ln = i == 3 ? "attn_output_norm" : "layer_output_norm";
                snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, ln);
                rc = bert_add(w, &f, nm, E, 1, HR_TYPE_F32, KIND_LN_W, err, errsz);
                snprintf(nm, sizeof nm, "blk.%d.%s.bias", l, ln);
                if (rc == 0) rc = bert_add(w, &f, nm, E, 1, HR_TYPE_F32, KIND_BIAS, err, errsz);
            }
        }
    }
    if (rc == 0) rc = hr_gguf_writer_write(w, path, fill, &f, err, errsz);
    free(f.row);
    free(f.ne0);
    free(f.ne1);
    free(f.types);
    free(f.is_norm);
    free(f.kind);
    hr_gguf_writer_free(w);
    return rc;
}

int hr_synth_write(const hr_synth_params *p, const char *path, char *err, size_t errsz) {
    const shape *sh = NULL;
    const bert_shape *bsh = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(p->shape, shapes[i].name)) sh = &shapes[i];
    for (size_t i = 0; i < sizeof bert_shapes / sizeof bert_shapes[0]; i++)
        if (!strcmp(p->shape, bert_shapes[i].name)) bsh = &bert_shapes[i];
    if (!sh && !bsh) {
        hr_errf(err, errsz, "unknown shape '%s' (" SHAPE_NAMES ")", p->shape);
        return -1;
    }
    bool mixed = false;
    int base = parse_type(p->type, &mixed);
    if (base < 0) {
        hr_errf(err, errsz, "unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m)",
               p->type);
        return -1;
    }
    if (bsh) {
        if (mixed) {
            hr_errf(err, errsz, "mixed types (%s) are for llama shapes; use a plain type for %s", p->type, bsh->name);
            return -1;
        }
        return bert_write(p, bsh, base, path, err, errsz);
    }
    hr_gguf_writer *w = hr_gguf_writer_create();
    char name[128];
    snprintf(name, sizeof name, "synthetic %s %s", sh->name, p->type);
    hr_gguf_writer_set_str(w, "general.architecture", "llama");
    hr_gguf_writer_set_str(w, "general.name", name);
    hr_gguf_writer_set_u32(w, "general.file_type", (uint32_t)base);
    hr_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)sh->n_ctx);
    hr_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)sh->n_embd);
    hr_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)sh->n_layer);
    hr_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)sh->n_ff);
    hr_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)sh->n_head);
    hr_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv);
    hr_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(sh->n_embd / sh->n_head));
    hr_gguf_writer_set_f32(w, "llama.rope.freq_base", sh->rope_base);
    hr_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    hr_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)sh->n_vocab);

    int rc = 0;
    if (p->vocab_gguf) {
        char e2[256] = "";
        hr_gguf *src = hr_gguf_open(p->vocab_gguf, e2, sizeof e2);
        if (!src) {
            hr_errf(err, errsz, "vocab: %s", e2);
            rc = -1;
        } else {
            rc = copy_tokenizer_kv(w, src, sh->n_vocab, err, errsz);
            hr_gguf_close(src);
        }
    } else if (p->vocab_tiktoken) {
        rc = tiktoken_vocab(w, p->vocab_tiktoken, sh->n_vocab, err, errsz);
    } else {
        simple_vocab(w, sh->n_vocab);
    }
    /* real SmolLM2 and Hermes 3 files carry a ChatML template */
    static const char chatml_jinja[] =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
        "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    if (rc == 0 && (p->chat_template || p->vocab_gguf || p->vocab_tiktoken))
        hr_gguf_writer_set_str(w, "tokenizer.chat_template", p->chat_template ? p->chat_template : chatml_jinja);

    /* tensors: [0]=token_embd, then per layer, then output_norm (+ output, rope_freqs) */
    int cap = 4 + 9 * sh->n_layer;
    fill_ctx f = {.seed = p->seed, .progress = p->progress, .ud = p->progress_ud};
    f.ne0 = hr_xcalloc((size_t)cap, sizeof(int64_t));
    f.ne1 = hr_xcalloc((size_t)cap, sizeof(int64_t));
    f.types = hr_xcalloc((size_t)cap, sizeof(int));
    f.is_norm = hr_xcalloc((size_t)cap, sizeof(bool));
    int E = sh->n_embd, F = sh->n_ff, KV = sh->n_embd / sh->n_head * sh->n_head_kv, V = sh->n_vocab;
    int q6 = mixed ? HR_TYPE_Q6_K : base;
#define ADD(nm, k, n, ty, norm)                                                                  \
    do {                                                                                         \
        int tt_ = fallback((ty), (k));                                                           \
        const hr_type_traits *tr_ = hr_type_get(tt_);                                            \
        if (!tr_ || !tr_->supported) {                                                           \
            hr_errf(err, errsz, "type %s is not supported by the kernels yet", tr_ ? tr_->name : "?"); \
            rc = -1;                                                                             \
            break;                                                                               \
        }                                                                                        \
        int64_t ne_[2] = {(k), (n)};                                                             \
        int64_t ix_ = hr_gguf_writer_add_tensor(w, (nm), tt_, (n) > 1 ? 2 : 1, ne_, NULL);     \
        if (ix_ < 0) {                                                                           \
            hr_errf(err, errsz, "cannot add tensor %s", (nm));                                    \
            rc = -1;                                                                             \
            break;                                                                               \
        }                                                                                        \
        f.ne0[ix_] = (k);                                                                        \
        f.ne1[ix_] = (n);                                                                        \
        f.types[ix_] = tt_;                                                                      \
        f.is_norm[ix_] = (norm);                                                                 \
        f.n_tensors = ix_ + 1;                                                                   \
    } while (0)
    if (rc == 0) ADD("token_embd.weight", E, V, q6, false);
    for (int l = 0; l < sh->n_layer && rc == 0; l++) {
        char nm[64];
        bool mb = mixed && more_bits(l, sh->n_layer);
#define LAYER(suffix, k, n, ty, norm)                             \
    snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, suffix);      \
    ADD(nm, k, n, ty, norm);                                      \
    if (rc) break;
        LAYER("attn_norm", E, 1, HR_TYPE_F32, true);
        LAYER("attn_q", E, E, base, false);
        LAYER("attn_k", E, KV, base, false);
        LAYER("attn_v", E, KV, mb ? HR_TYPE_Q6_K : base, false);
        LAYER("attn_output", E, E, base, false);
        LAYER("ffn_norm", E, 1, HR_TYPE_F32, true);
        LAYER("ffn_gate", E, F, base, false);
        LAYER("ffn_up", E, F, base, false);
        LAYER("ffn_down", F, E, mb ? HR_TYPE_Q6_K : base, false);
#undef LAYER
    }
    if (rc == 0) ADD("output_norm.weight", E, 1, HR_TYPE_F32, true);
    if (rc == 0 && !sh->tied) ADD("output.weight", E, V, q6, false);
    if (rc == 0 && sh->rope_freqs) ADD("rope_freqs.weight", sh->n_embd / sh->n_head / 2, 1, HR_TYPE_F32, false);
#undef ADD
    if (rc == 0) rc = hr_gguf_writer_write(w, path, fill, &f, err, errsz);
    free(f.row);
    free(f.ne0);
    free(f.ne1);
    free(f.types);
    free(f.is_norm);
    hr_gguf_writer_free(w);
    return rc;
}
