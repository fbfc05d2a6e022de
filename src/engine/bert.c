/* BERT-family sentence embedder (bge, MiniLM, ...): the encoder forward pass
 * and pooling (see hr_embedder_* in engine.h).
 *
 * Tensor layout (GGUF names as llama.cpp's converter writes them; ne[0] is
 * a matrix's input width, so ne = [k, n] is n rows of k elements, y = W x + b):
 *   token_embd.weight          [E, n_vocab]
 *   position_embd.weight       [E, n_ctx]
 *   token_types.weight         [E, n_types]   (optional; type 0 for every token)
 *   token_embd_norm.weight/bias [E]            (f32)
 *   blk.L.attn_q/k/v           [E, E] + bias [E]
 *   blk.L.attn_output          [E, E] + bias [E]
 *   blk.L.attn_output_norm     [E] weight/bias (f32)
 *   blk.L.ffn_up               [E, F] + bias [F]
 *   blk.L.ffn_down             [F, E] + bias [E]
 *   blk.L.layer_output_norm    [E] weight/bias (f32; older files: blk.L.output_norm)
 * Post-LN encoder: x = LN(emb_tok + emb_pos + emb_type);
 * per layer x = LN(x + Wo attn(x) + bo); x = LN(x + down(gelu(up(x)))),
 * bidirectional attention (no mask), scale 1/sqrt(head_dim), the exact (erf)
 * GELU as Hugging Face's BERT. Pooling: bert.pooling_type 1 = mean over all
 * tokens ([CLS] and [SEP] included), 2 (default) = the [CLS] row; then L2
 * normalisation (eps 1e-12, as torch's F.normalize).
 *
 * One call computes the whole sequence as one batch on the calling thread:
 * matmuls through the quant kernels (hr_matmul_rows, activations prepared by
 * hr_quantize_activation_row, so AVX-512/AMX paths run), attention through
 * the attention.h kernels in blocks of query rows (see attention()). All scratch is allocated
 * per call, so any number of threads may embed with one hr_embedder. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/attention.h"
#include "engine/engine.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"
#include "engine/vecmath.h"

#define MAX_LAYERS 512
#define MAX_EMBD (1 << 16)
#define MAX_CTX (1 << 16)
#define MAX_VOCAB (1 << 22)
#define Q_BLOCK 64 /* query rows per attention block: scores [Q_BLOCK][n_tokens] */

typedef struct bert_layer {
    const hr_gguf_tensor *wq, *wk, *wv, *wo, *up, *down;
    const float *bq, *bk, *bv, *bo, *bup, *bdown;
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
} bert_layer;

struct hr_embedder {
    hr_gguf *g;
    hr_tokenizer *tok;
    int E, L, H, hd, F, n_ctx, n_vocab, pooling;
    float eps;
    int32_t cls, sep;
    const hr_gguf_tensor *tok_embd, *pos_embd, *type_embd; /* type_embd may be NULL */
    const float *embd_ln_w, *embd_ln_b;
    bert_layer *layers;
};


/* ------------------------------- loading ---------------------------------- */

typedef struct loader {
    const hr_gguf *g;
    char *err;
    size_t errsz;
    bool bad;
} loader;

/* A tensor of shape [ne0, ne1] (ne1 = 0: a vector [ne0], which must be f32).
 * Matrices must be a type the kernels compute with, rows a whole number of
 * blocks. ne1 < 0: any row count >= 1 (returned through *rows). */
static const hr_gguf_tensor *want(loader *ld, const char *name, int64_t ne0, int64_t ne1, bool optional,
                                  int64_t *rows) {
    if (ld->bad) return NULL;
    const hr_gguf_tensor *t = hr_gguf_find_tensor(ld->g, name);
    if (!t) {
        if (!optional) {
            hr_errf(ld->err, ld->errsz, "missing tensor '%s'", name);
            ld->bad = true;
        }
        return NULL;
    }
    int64_t want1 = ne1 > 0 ? ne1 : 1;
    bool shape_ok = t->ne[0] == ne0 && (ne1 < 0 ? t->ne[1] >= 1 : t->ne[1] == want1) && t->ne[2] == 1 &&
                    t->ne[3] == 1;
    if (!shape_ok) {
        if (ne1 < 0)
            hr_errf(ld->err, ld->errsz, "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, rows]", name,
                   (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)ne0);
        else
            hr_errf(ld->err, ld->errsz, "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld]", name,
                   (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)ne0,
                   (long long)want1);
        ld->bad = true;
        return NULL;
    }
    if (ne1 == 0) {
        if (t->type != HR_TYPE_F32) {
            const hr_type_traits *tr = hr_type_get(t->type);
            hr_errf(ld->err, ld->errsz, "tensor '%s' is %s, expected f32", name, tr ? tr->name : "?");
            ld->bad = true;
            return NULL;
        }
        return t;
    }
    const hr_type_traits *tr = hr_type_get(t->type);
    bool weight_type = tr && tr->supported && t->type != HR_TYPE_Q8_1 && t->type != HR_TYPE_Q8_K;
    if (!weight_type || hr_type_row_bytes(t->type, ne0) == 0 ||
        hr_type_row_bytes(hr_vec_dot_type(t->type), ne0) == 0) {
        hr_errf(ld->err, ld->errsz, "tensor '%s' has type %s, which the engine cannot compute with rows of %lld",
               name, tr ? tr->name : "?", (long long)ne0);
        ld->bad = true;
        return NULL;
    }
    if (rows) *rows = t->ne[1];
    return t;
}

static const float *want_vec(loader *ld, const char *name, int64_t n) {
    const hr_gguf_tensor *t = want(ld, name, n, 0, false, NULL);
    return t ? (const float *)t->data : NULL;
}

static bool get_u32(const hr_gguf *g, const char *key, uint32_t *out, bool required, char *err, size_t errsz) {
    if (hr_gguf_get_u32(g, key, out)) return true;
    if (required || hr_gguf_find_key(g, key) >= 0) {
        hr_errf(err, errsz, "missing or invalid metadata '%s'", key);
        return false;
    }
    return true;
}

static hr_embedder *embedder_from_gguf(hr_gguf *g, char *err, size_t errsz) {
    hr_embedder *e = hr_xcalloc(1, sizeof *e);
    e->g = g;
    const char *arch = hr_gguf_get_str(g, "general.architecture", NULL);
    if (!arch) {
        hr_errf(err, errsz, "not a BERT model: no general.architecture");
        goto fail;
    }
    if (strcmp(arch, "bert") != 0) {
        hr_errf(err, errsz, "not a BERT model: general.architecture is '%.60s' (expected 'bert')", arch);
        goto fail;
    }
    uint32_t E = 0, L = 0, F = 0, H = 0, n_ctx = 0, pooling = 2, head_kv = 0;
    if (!get_u32(g, "bert.embedding_length", &E, true, err, errsz) ||
        !get_u32(g, "bert.block_count", &L, true, err, errsz) ||
        !get_u32(g, "bert.feed_forward_length", &F, true, err, errsz) ||
        !get_u32(g, "bert.attention.head_count", &H, true, err, errsz) ||
        !get_u32(g, "bert.context_length", &n_ctx, true, err, errsz) ||
        !get_u32(g, "bert.pooling_type", &pooling, false, err, errsz))
        goto fail;
    if (E == 0 || E > MAX_EMBD || L == 0 || L > MAX_LAYERS || F == 0 || F > 16 * MAX_EMBD || H == 0 || E % H ||
        n_ctx < 2 || n_ctx > MAX_CTX) {
        hr_errf(err, errsz, "invalid hyperparameters: embedding_length %u, block_count %u, feed_forward_length %u, "
               "head_count %u, context_length %u", E, L, F, H, n_ctx);
        goto fail;
    }
    head_kv = H;
    if (!get_u32(g, "bert.attention.head_count_kv", &head_kv, false, err, errsz)) goto fail;
    if (head_kv != H) {
        hr_errf(err, errsz, "attention.head_count_kv %u != head_count %u is not supported for BERT", head_kv, H);
        goto fail;
    }
    if (pooling != 1 && pooling != 2) {
        hr_errf(err, errsz, "bert.pooling_type %u is not supported (1 mean, 2 cls)", pooling);
        goto fail;
    }
    bool causal = false;
    if (hr_gguf_get_bool(g, "bert.attention.causal", &causal) && causal) {
        hr_errf(err, errsz, "bert.attention.causal is true: only bidirectional encoders are supported");
        goto fail;
    }
    e->eps = 1e-12f;
    if (hr_gguf_find_key(g, "bert.attention.layer_norm_epsilon") >= 0 &&
        !hr_gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &e->eps)) {
        hr_errf(err, errsz, "invalid metadata 'bert.attention.layer_norm_epsilon'");
        goto fail;
    }
    if (!(e->eps > 0 && e->eps < 1)) {
        hr_errf(err, errsz, "invalid layer_norm_epsilon %g", e->eps);
        goto fail;
    }
    e->E = (int)E;
    e->L = (int)L;
    e->F = (int)F;
    e->H = (int)H;
    e->hd = (int)(E / H);
    e->n_ctx = (int)n_ctx;
    e->pooling = (int)pooling;

    loader ld = {g, err, errsz, false};
    int64_t rows = 0;
    e->tok_embd = want(&ld, "token_embd.weight", E, -1, false, &rows);
    if (ld.bad) goto fail;
    if (rows > MAX_VOCAB) {
        hr_errf(err, errsz, "token_embd.weight has %lld rows (vocab), limit %d", (long long)rows, MAX_VOCAB);
        goto fail;
    }
    e->n_vocab = (int)rows;
    e->pos_embd = want(&ld, "position_embd.weight", E, n_ctx, false, NULL);
    e->type_embd = want(&ld, "token_types.weight", E, -1, true, NULL);
    e->embd_ln_w = want_vec(&ld, "token_embd_norm.weight", E);
    e->embd_ln_b = want_vec(&ld, "token_embd_norm.bias", E);
    if (ld.bad) goto fail;
    e->layers = hr_xcalloc(L, sizeof(bert_layer));
    for (uint32_t l = 0; l < L && !ld.bad; l++) {
        bert_layer *y = &e->layers[l];
        char nm[96];
#define MAT(field, suffix, ne0, ne1)                                 \
    snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, suffix);          \
    y->field = want(&ld, nm, ne0, ne1, false, NULL);
#define VEC(field, name, n)                                          \
    snprintf(nm, sizeof nm, "blk.%u.%s", l, name);                   \
    y->field = want_vec(&ld, nm, n);
        MAT(wq, "attn_q", E, E);
        VEC(bq, "attn_q.bias", E);
        MAT(wk, "attn_k", E, E);
        VEC(bk, "attn_k.bias", E);
        MAT(wv, "attn_v", E, E);
        VEC(bv, "attn_v.bias", E);
        MAT(wo, "attn_output", E, E);
        VEC(bo, "attn_output.bias", E);
        VEC(ln1_w, "attn_output_norm.weight", E);
        VEC(ln1_b, "attn_output_norm.bias", E);
        MAT(up, "ffn_up", E, F);
        VEC(bup, "ffn_up.bias", F);
        MAT(down, "ffn_down", F, E);
        VEC(bdown, "ffn_down.bias", E);
        /* layer_output_norm; early conversions called it output_norm */
        const char *lon = "layer_output_norm";
        snprintf(nm, sizeof nm, "blk.%u.layer_output_norm.weight", l);
        if (!hr_gguf_find_tensor(g, nm)) {
            snprintf(nm, sizeof nm, "blk.%u.output_norm.weight", l);
            if (hr_gguf_find_tensor(g, nm)) lon = "output_norm";
        }
        snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, lon);
        y->ln2_w = want_vec(&ld, nm, E);
        snprintf(nm, sizeof nm, "blk.%u.%s.bias", l, lon);
        y->ln2_b = want_vec(&ld, nm, E);
#undef MAT
#undef VEC
    }
    if (ld.bad) goto fail;

    char e2[256] = "";
    e->tok = hr_tokenizer_from_gguf(g, e2, sizeof e2);
    if (!e->tok) {
        hr_errf(err, errsz, "tokenizer: %s", e2);
        goto fail;
    }
    if (hr_tokenizer_kind(e->tok) != HR_TOK_KIND_WPM) {
        hr_errf(err, errsz, "tokenizer.ggml.model is not 'bert' (WordPiece)");
        goto fail;
    }
    if (hr_tokenizer_n_vocab(e->tok) > e->n_vocab) {
        hr_errf(err, errsz, "vocabulary has %d tokens but token_embd.weight only %d rows", hr_tokenizer_n_vocab(e->tok),
               e->n_vocab);
        goto fail;
    }
    /* [CLS] and [SEP]: what the tokenizer adds around an empty text */
    int32_t cs[4];
    if (hr_tokenizer_encode(e->tok, "", 0, HR_TOK_ADD_BOS | HR_TOK_ADD_EOS, cs, 4) != 2) {
        hr_errf(err, errsz, "the vocabulary has no [CLS]/[SEP] tokens (tokenizer.ggml.cls_token_id, seperator_token_id)");
        goto fail;
    }
    e->cls = cs[0];
    e->sep = cs[1];
    return e;
fail:
    hr_embedder_free(e); /* closes g */
    return NULL;
}

hr_embedder *hr_embedder_load(const char *path, char *err, size_t errlen) {
    char e2[512] = "";
    hr_gguf *g = hr_gguf_open(path, e2, sizeof e2);
    if (!g) {
        hr_errf(err, errlen, "%s", e2);
        return NULL;
    }
    hr_embedder *e = embedder_from_gguf(g, e2, sizeof e2);
    if (!e) hr_errf(err, errlen, "%s: %s", path, e2);
    return e;
}

void hr_embedder_free(hr_embedder *e) {
    if (!e) return;
    hr_tokenizer_free(e->tok);
    hr_gguf_close(e->g);
    free(e->layers);
    free(e);
}

int hr_embedder_dim(const hr_embedder *e) { return e->E; }
int hr_embedder_max_tokens(const hr_embedder *e) { return e->n_ctx; }

/* ------------------------------- forward ---------------------------------- */

typedef struct scratch {
    int T;
    float *x, *q, *k, *v, *att, *tmp, *h; /* [T][E] x6, [T][F] */
    uint8_t *xq;                          /* activations prepared for one weight type */
    const float *xq_src;                  /* what xq holds (NULL: nothing) ... */
    int xq_type;                          /* ... prepared for this vec_dot type */
    int Tp;                               /* T rounded up to 16 */
    float *qh, *sc, *oh, *kt;             /* attention: [Q_BLOCK][hd], [Q_BLOCK][Tp], [Q_BLOCK][hd], [hd][Tp] */
} scratch;

/* y[t][r] = W_r . x_t + b[r] for every token t; W is [k, n]. */
static void linear(scratch *s, const hr_gguf_tensor *w, const float *b, const float *x, float *y) {
    int64_t k = w->ne[0], n = w->ne[1];
    int at = hr_vec_dot_type(w->type);
    if (s->xq_src != x || s->xq_type != at) {
        size_t stride = hr_type_row_bytes(at, k);
        for (int t = 0; t < s->T; t++) hr_quantize_activation_row(w->type, x + (size_t)t * k, s->xq + t * stride, k);
        s->xq_src = x;
        s->xq_type = at;
    }
    hr_matmul_rows(w->type, w->data, k, 0, n, s->xq, s->T, y, n);
    for (int t = 0; t < s->T; t++) {
        float *yr = y + (size_t)t * n;
        for (int64_t r = 0; r < n; r++) yr[r] += b[r];
    }
}

/* x = LN(x + r) row by row (r may be NULL) */
static void add_norm(float *x, const float *r, const float *w, const float *b, int T, int E, float eps) {
    for (int t = 0; t < T; t++) {
        float *xr = x + (size_t)t * E;
        if (r) {
            const float *rr = r + (size_t)t * E;
            for (int i = 0; i < E; i++) xr[i] += rr[i];
        }
        double sum = 0, ss = 0;
        for (int i = 0; i < E; i++) sum += xr[i];
        double mean = sum / E;
        for (int i = 0; i < E; i++) {
            double d = xr[i] - mean;
            ss += d * d;
        }
        float inv = (float)(1.0 / sqrt(ss / E + eps)), m = (float)mean;
        for (int i = 0; i < E; i++) xr[i] = (xr[i] - m) * inv * w[i] + b[i];
    }
}

/* att[t][h*hd..] = softmax(q_t k^T / sqrt(hd)) v over every token, per head.
 * Both products have the form hr_att_values computes (rows of one operand
 * scaled by the entries of the other and summed, no horizontal reductions):
 * scores S[g][p] = sum_d Q[g][d] Kt[d][p] with the head's keys transposed into
 * Kt [hd][Tp] (Tp = T rounded up to 16, zero columns), then
 * out[g][d] = sum_p P[g][p] V[p][d]. hr_att_scores (one dot product per
 * position, built for decode) would spend most of its time reducing. */
static void attention(const hr_embedder *e, scratch *s) {
    int T = s->T, Tp = s->Tp, E = e->E, hd = e->hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < e->H; h++) {
        const float *K = s->k + (size_t)h * hd, *V = s->v + (size_t)h * hd;
        for (int t = 0; t < T; t++)
            for (int d = 0; d < hd; d++) s->kt[(size_t)d * Tp + t] = K[(size_t)t * E + d];
        for (int t0 = 0; t0 < T; t0 += Q_BLOCK) {
            int G = T - t0 < Q_BLOCK ? T - t0 : Q_BLOCK;
            for (int g = 0; g < G; g++)
                memcpy(s->qh + (size_t)g * hd, s->q + (size_t)(t0 + g) * E + (size_t)h * hd, (size_t)hd * sizeof(float));
            hr_att_values(s->kt, (size_t)Tp, hd, Tp, s->qh, (size_t)hd, G, s->sc); /* S = Q Kt: [G][Tp] */
            for (int g = 0; g < G; g++) hr_att_softmax(s->sc + (size_t)g * Tp, T, scale);
            hr_att_values(V, (size_t)E, T, hd, s->sc, (size_t)Tp, G, s->oh);
            for (int g = 0; g < G; g++)
                memcpy(s->att + (size_t)(t0 + g) * E + (size_t)h * hd, s->oh + (size_t)g * hd, (size_t)hd * sizeof(float));
        }
    }
}

static void forward(const hr_embedder *e, const int32_t *ids, scratch *s, float *out) {
    int T = s->T, E = e->E;
    /* embeddings */
    float *row = s->tmp;
    size_t tok_rb = hr_type_row_bytes(e->tok_embd->type, E), pos_rb = hr_type_row_bytes(e->pos_embd->type, E);
    float *type0 = s->att; /* token type 0, the same for every token */
    if (e->type_embd) hr_dequantize_row(e->type_embd->type, e->type_embd->data, type0, E);
    else memset(type0, 0, (size_t)E * sizeof(float));
    for (int t = 0; t < T; t++) {
        float *xr = s->x + (size_t)t * E;
        hr_dequantize_row(e->tok_embd->type, (const uint8_t *)e->tok_embd->data + (size_t)ids[t] * tok_rb, xr, E);
        hr_dequantize_row(e->pos_embd->type, (const uint8_t *)e->pos_embd->data + (size_t)t * pos_rb, row, E);
        for (int i = 0; i < E; i++) xr[i] += row[i] + type0[i];
    }
    add_norm(s->x, NULL, e->embd_ln_w, e->embd_ln_b, T, E, e->eps);
    for (int l = 0; l < e->L; l++) {
        const bert_layer *y = &e->layers[l];
        linear(s, y->wq, y->bq, s->x, s->q);
        linear(s, y->wk, y->bk, s->x, s->k);
        linear(s, y->wv, y->bv, s->x, s->v);
        attention(e, s);
        linear(s, y->wo, y->bo, s->att, s->tmp);
        add_norm(s->x, s->tmp, y->ln1_w, y->ln1_b, T, E, e->eps);
        s->xq_src = NULL; /* x changed in place */
        linear(s, y->up, y->bup, s->x, s->h);
        hr_vec_gelu(s->h, (size_t)T * e->F);
        s->xq_src = NULL; /* h too */
        linear(s, y->down, y->bdown, s->h, s->tmp);
        add_norm(s->x, s->tmp, y->ln2_w, y->ln2_b, T, E, e->eps);
        s->xq_src = NULL;
    }
    /* pooling + L2 normalisation */
    if (e->pooling == 1) {
        for (int i = 0; i < E; i++) {
            double acc = 0;
            for (int t = 0; t < T; t++) acc += s->x[(size_t)t * E + i];
            out[i] = (float)(acc / T);
        }
    } else {
        memcpy(out, s->x, (size_t)E * sizeof(float)); /* [CLS] */
    }
    double ss = 0;
    for (int i = 0; i < E; i++) ss += (double)out[i] * out[i];
    double nrm = sqrt(ss);
    float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    for (int i = 0; i < E; i++) out[i] *= inv;
}

/* Where a text can be cut without changing the tokens before the cut: the
 * last byte at or below `want` that is ASCII whitespace or starts a CJK
 * ideograph (U+5000..U+9FFF, lead bytes E5..E9), both word boundaries of the
 * WordPiece pre-split; len when there is none in (want/2, want]. */
static size_t cut_point(const char *text, size_t len, size_t want) {
    if (len <= want) return len;
    for (size_t i = want; i > want / 2; i--) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c >= 0xE5 && c <= 0xE9)) return i;
    }
    return len;
}

/* Token ids of text (without [CLS]/[SEP]) into *ids (malloc'd), at most max;
 * returns the count or -1. Long texts are tokenized from a prefix of 16 bytes
 * per wanted token (cut at a word boundary) when that prefix yields enough
 * tokens, so embedding a huge prompt does not tokenize all of it. */
static int tokenize(const hr_embedder *e, const char *text, size_t len, int max, int32_t **ids) {
    size_t want = (size_t)max * 16 + 64;
    size_t use = cut_point(text, len, want);
    for (;;) {
        /* WordPiece gives at most one token per input byte */
        size_t cap = use + 8 < 64 ? 64 : use + 8;
        int32_t *v = hr_xmalloc(cap * sizeof(int32_t));
        int n = hr_tokenizer_encode(e->tok, text, use, 0, v, (int)cap);
        if (n < 0) { /* not expected; the size asked for */
            free(v);
            cap = (size_t)-n;
            v = hr_xmalloc(cap * sizeof(int32_t));
            n = hr_tokenizer_encode(e->tok, text, use, 0, v, (int)cap);
        }
        if (n < 0 || n >= max || use == len) {
            if (n < 0) {
                free(v);
                return -1;
            }
            *ids = v;
            return n < max ? n : max;
        }
        free(v); /* the prefix was too short for max tokens: everything */
        use = len;
    }
}

int hr_embedder_embed(const hr_embedder *e, const char *text, size_t len, float *out, char *err, size_t errlen) {
    if (!e || !out || (!text && len)) {
        hr_errf(err, errlen, "hr_embedder_embed: bad arguments");
        return -1;
    }
    if (len > (size_t)1 << 30) {
        hr_errf(err, errlen, "text of %zu bytes is too long (limit 1 GiB)", len);
        return -1;
    }
    int32_t *tids = NULL;
    int n = tokenize(e, text ? text : "", len, e->n_ctx - 2, &tids); /* truncated: keep room for [SEP] */
    if (n < 0) {
        hr_errf(err, errlen, "tokenizer failed");
        return -1;
    }
    int T = n + 2;
    int32_t *ids = hr_xmalloc((size_t)T * sizeof(int32_t));
    ids[0] = e->cls;
    memcpy(ids + 1, tids, (size_t)n * sizeof(int32_t));
    ids[n + 1] = e->sep;
    free(tids);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= e->n_vocab) { /* cannot happen: checked at load */
            hr_errf(err, errlen, "token %d out of range", ids[t]);
            free(ids);
            return -1;
        }

    scratch s;
    memset(&s, 0, sizeof s);
    s.T = T;
    size_t TE = (size_t)T * e->E, TF = (size_t)T * e->F, kmax = e->F > e->E ? (size_t)e->F : (size_t)e->E;
    float *blk = hr_xmalloc((6 * TE + TF) * sizeof(float));
    s.x = blk;
    s.q = s.x + TE;
    s.k = s.q + TE;
    s.v = s.k + TE;
    s.att = s.v + TE;
    s.tmp = s.att + TE;
    s.h = s.tmp + TE;
    s.xq = hr_xmalloc((size_t)T * kmax * sizeof(float) + 1024); /* f32 is the widest activation type */
    s.xq_type = -1;
    size_t G = (size_t)(T < Q_BLOCK ? T : Q_BLOCK);
    s.qh = hr_xmalloc(G * (size_t)e->hd * sizeof(float));
    s.oh = hr_xmalloc(G * (size_t)e->hd * sizeof(float));
    s.Tp = (T + 15) & ~15;
    s.sc = hr_xmalloc(G * (size_t)s.Tp * sizeof(float));
    s.kt = hr_xcalloc((size_t)e->hd * (size_t)s.Tp, sizeof(float)); /* padding columns stay 0 */
    forward(e, ids, &s, out);
    free(s.sc);
    free(s.kt);
    free(s.oh);
    free(s.qh);
    free(s.xq);
    free(blk);
    free(ids);
    return T;
}
