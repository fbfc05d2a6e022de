/* Tokenizer core: vocabulary tables, special-token partition, the encode
 * dispatcher, vocabulary queries and the streaming detokenizer. The family
 * algorithms live in tokenizer_spm.c, tokenizer_bpe.c, tokenizer_wpm.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, qsort_r */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "engine/gguf.h"
#include "engine/tokenizer_internal.h"

/* ---- small helpers ------------------------------------------------------ */


void hr_tok_vec_push(hr_tok_vec *a, int32_t id) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = hr_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t table_size_for(size_t n) {
    size_t s = 16;
    while (s < n * 2) s <<= 1;
    return s;
}

int32_t hr_tok_lookup(const hr_tokenizer *t, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & t->tok_mask;
    for (;;) {
        uint32_t v = t->tok_ht[i];
        if (!v) return -1;
        int32_t id = (int32_t)(v - 1);
        if (t->len[id] == n && memcmp(t->pool + t->off[id], s, n) == 0) return id;
        i = (i + 1) & t->tok_mask;
    }
}

const hr_tok_merge *hr_tok_merge_find(const hr_tokenizer *t, int32_t l, int32_t r) {
    if (!t->merge_ht || l < 0 || r < 0) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = hash_u64(key) & t->merge_mask;
    for (;;) {
        const hr_tok_merge *m = &t->merge_ht[i];
        if (m->rank < 0) return NULL;
        if (m->key == key) return m;
        i = (i + 1) & t->merge_mask;
    }
}

/* ---- heap --------------------------------------------------------------- */

/* a before b: higher score, then lower left index (llama.cpp's order). */
static int bigram_before(const hr_tok_bigram *a, const hr_tok_bigram *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

void hr_tok_heap_push(hr_tok_heap *h, hr_tok_bigram b) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->a = hr_xrealloc(h->a, h->cap * sizeof *h->a);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
}

hr_tok_bigram hr_tok_heap_pop(hr_tok_heap *h) {
    hr_tok_bigram top = h->a[0];
    hr_tok_bigram last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&h->a[c + 1], &h->a[c])) c++;
        if (!bigram_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n) h->a[i] = last;
    return top;
}

/* ---- construction ------------------------------------------------------- */

hr_tok_vocab_desc hr_tok_vocab_desc_default(void) {
    hr_tok_vocab_desc d;
    memset(&d, 0, sizeof d);
    d.bos = d.eos = d.eot = d.unk = d.pad = d.sep = d.cls = -1;
    d.add_space_prefix = -1;
    return d;
}

static int cmp_special(const void *a, const void *b, void *ud) {
    const hr_tokenizer *t = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y]) return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void add_eog(hr_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
}

static int32_t check_id(int32_t id, int32_t n) { return (id >= 0 && id < n) ? id : -1; }

hr_tokenizer *hr_tokenizer_create(const hr_tok_vocab_desc *d, char *err, size_t errlen) {
    hr_tok_kind kind;
    if (!d || !d->model) {
        hr_errf(err, errlen, "tokenizer: no model type given");
        return NULL;
    }
    if (!strcmp(d->model, "llama"))
        kind = HR_TOK_KIND_SPM;
    else if (!strcmp(d->model, "gpt2"))
        kind = HR_TOK_KIND_BPE;
    else if (!strcmp(d->model, "bert"))
        kind = HR_TOK_KIND_WPM;
    else {
        hr_errf(err, errlen, "tokenizer: unsupported tokenizer model '%s' (want llama, gpt2 or bert)", d->model);
        return NULL;
    }
    if (d->n_tokens <= 0 || d->n_tokens > HR_TOK_MAX_VOCAB || !d->tokens) {
        hr_errf(err, errlen, "tokenizer: vocabulary size %d out of range (1..%d)", (int)d->n_tokens,
                HR_TOK_MAX_VOCAB);
        return NULL;
    }
    if (kind == HR_TOK_KIND_BPE && d->n_merges > 0 && !d->merges) {
        hr_errf(err, errlen, "tokenizer: merges missing");
        return NULL;
    }

    hr_tokenizer *t = hr_xcalloc(1, sizeof *t);
    t->kind = kind;
    t->pre = hr_xstrdup(d->pre && *d->pre ? d->pre : "default");
    int32_t n = d->n_tokens;
    t->n_vocab = n;
    t->off = hr_xmalloc((size_t)n * sizeof *t->off);
    t->len = hr_xmalloc((size_t)n * sizeof *t->len);
    t->types = hr_xmalloc((size_t)n);
    t->scores = hr_xcalloc((size_t)n, sizeof *t->scores);

    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t l = d->token_lens ? d->token_lens[i] : (d->tokens[i] ? strlen(d->tokens[i]) : 0);
        if (!d->tokens[i] || l > HR_TOK_MAX_TOKEN_BYTES) {
            hr_errf(err, errlen, "tokenizer: token %d is missing or longer than %d bytes", (int)i,
                    HR_TOK_MAX_TOKEN_BYTES);
            hr_tokenizer_free(t);
            return NULL;
        }
        t->len[i] = (uint32_t)l;
        total += l + 1;
    }
    t->pool = hr_xmalloc(total ? total : 1);
    size_t pos = 0;
    for (int32_t i = 0; i < n; i++) {
        t->off[i] = (uint32_t)pos;
        memcpy(t->pool + pos, d->tokens[i], t->len[i]);
        pos += t->len[i];
        t->pool[pos++] = 0;
        int ty = d->types ? d->types[i] : HR_TOK_TYPE_NORMAL;
        t->types[i] = (uint8_t)((ty >= 0 && ty <= 6) ? ty : HR_TOK_TYPE_NORMAL);
        if (d->scores) t->scores[i] = d->scores[i];
        if ((int)t->len[i] > t->max_token_len) t->max_token_len = (int)t->len[i];
    }

    /* text -> id; on duplicate texts the lowest id wins (as a map insert would) */
    size_t ts = table_size_for((size_t)n);
    t->tok_mask = ts - 1;
    t->tok_ht = hr_xcalloc(ts, sizeof *t->tok_ht);
    for (int32_t i = 0; i < n; i++) {
        const char *s = t->pool + t->off[i];
        if (hr_tok_lookup(t, s, t->len[i]) >= 0) continue;
        size_t j = hash_bytes(s, t->len[i]) & t->tok_mask;
        while (t->tok_ht[j]) j = (j + 1) & t->tok_mask;
        t->tok_ht[j] = (uint32_t)i + 1;
    }

    t->bos = check_id(d->bos, n);
    t->eos = check_id(d->eos, n);
    t->eot = check_id(d->eot, n);
    t->unk = check_id(d->unk, n);
    t->pad = check_id(d->pad, n);
    t->sep = check_id(d->sep, n);
    t->cls = check_id(d->cls, n);
    t->add_bos = d->add_bos;
    t->add_space_prefix = d->add_space_prefix < 0 ? (kind == HR_TOK_KIND_SPM) : d->add_space_prefix;

    /* end-of-generation set: eos, eot and well-known end markers */
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    static const char *const eog_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>"};
    for (size_t k = 0; k < sizeof eog_names / sizeof eog_names[0]; k++) {
        int32_t id = hr_tok_lookup(t, eog_names[k], strlen(eog_names[k]));
        if (id >= 0 && t->types[id] == HR_TOK_TYPE_CONTROL) add_eog(t, id);
    }
    if (t->eot < 0) {
        int32_t id = hr_tok_lookup(t, "<|eot_id|>", 10);
        if (id < 0) id = hr_tok_lookup(t, "<|im_end|>", 10);
        if (id >= 0 && t->types[id] == HR_TOK_TYPE_CONTROL) t->eot = id;
    }

    /* special tokens, longest first (the partition matches them in that order) */
    for (int32_t i = 0; i < n; i++) {
        int ty = t->types[i];
        if ((ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_USER_DEFINED || ty == HR_TOK_TYPE_UNKNOWN) && t->len[i])
            t->n_specials++;
    }
    t->specials = hr_xmalloc((size_t)(t->n_specials ? t->n_specials : 1) * sizeof *t->specials);
    t->n_specials = 0;
    for (int32_t i = 0; i < n; i++) {
        int ty = t->types[i];
        if ((ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_USER_DEFINED || ty == HR_TOK_TYPE_UNKNOWN) && t->len[i])
            t->specials[t->n_specials++] = i;
    }
    qsort_r(t->specials, (size_t)t->n_specials, sizeof *t->specials, cmp_special, t);

    /* byte tokens */
    for (int b = 0; b < 256; b++) t->byte_tok[b] = -1;
    if (kind == HR_TOK_KIND_SPM) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            int32_t id = hr_tok_lookup(t, name, 6);
            if (id < 0) {
                char c = (char)b;
                id = hr_tok_lookup(t, &c, 1);
            }
            t->byte_tok[b] = id;
        }
    } else if (kind == HR_TOK_KIND_BPE) {
        for (int b = 0; b < 256; b++) {
            char u[4];
            size_t l = hr_utf8_encode(hr_tok_byte_to_cp((uint8_t)b), u);
            t->byte_tok[b] = hr_tok_lookup(t, u, l);
        }
    }

    /* merges */
    if (kind == HR_TOK_KIND_BPE && d->n_merges > 0) {
        int32_t nm = d->n_merges;
        size_t mtotal = 0;
        for (int32_t i = 0; i < nm; i++) {
            size_t l = d->merge_lens ? d->merge_lens[i] : (d->merges[i] ? strlen(d->merges[i]) : 0);
            if (!d->merges[i] || l > 2 * HR_TOK_MAX_TOKEN_BYTES + 1) {
                hr_errf(err, errlen, "tokenizer: merge %d missing or too long", (int)i);
                hr_tokenizer_free(t);
                return NULL;
            }
            mtotal += l + 1;
        }
        t->merge_pool = hr_xmalloc(mtotal ? mtotal : 1);
        t->merge_off = hr_xmalloc((size_t)nm * sizeof *t->merge_off);
        t->merge_len = hr_xmalloc((size_t)nm * sizeof *t->merge_len);
        size_t ms = table_size_for((size_t)nm);
        t->merge_mask = ms - 1;
        t->merge_ht = hr_xmalloc(ms * sizeof *t->merge_ht);
        for (size_t j = 0; j < ms; j++) t->merge_ht[j].rank = -1;
        size_t mp = 0;
        char cat[2 * HR_TOK_MAX_TOKEN_BYTES + 2];
        for (int32_t i = 0; i < nm; i++) {
            const char *m = d->merges[i];
            size_t l = d->merge_lens ? d->merge_lens[i] : strlen(m);
            t->merge_off[i] = (uint32_t)mp;
            t->merge_len[i] = (uint32_t)l;
            memcpy(t->merge_pool + mp, m, l);
            mp += l;
            t->merge_pool[mp++] = 0;
            /* split at the first space after position 0 (a token may itself be " "?
             * GGUF merges use the byte-unicode spelling, so no literal spaces) */
            const char *sp = l > 1 ? memchr(m + 1, ' ', l - 1) : NULL;
            if (!sp) continue;
            size_t ll = (size_t)(sp - m), rl = l - ll - 1;
            int32_t li = hr_tok_lookup(t, m, ll), ri = hr_tok_lookup(t, sp + 1, rl);
            if (li < 0 || ri < 0) continue;
            uint64_t key = ((uint64_t)(uint32_t)li << 32) | (uint32_t)ri;
            size_t j = hash_u64(key) & t->merge_mask;
            int dup = 0;
            while (t->merge_ht[j].rank >= 0) {
                if (t->merge_ht[j].key == key) {
                    dup = 1;
                    break;
                }
                j = (j + 1) & t->merge_mask;
            }
            if (dup) continue; /* first (best) rank wins */
            memcpy(cat, m, ll);
            memcpy(cat + ll, sp + 1, rl);
            t->merge_ht[j].key = key;
            t->merge_ht[j].rank = i;
            t->merge_ht[j].result = hr_tok_lookup(t, cat, ll + rl);
        }
        t->n_merges = nm;
    }

    if (kind == HR_TOK_KIND_BPE && hr_tok_bpe_setup(t, err, errlen) != 0) {
        hr_tokenizer_free(t);
        return NULL;
    }
    if (kind == HR_TOK_KIND_WPM) {
        if (t->unk < 0) t->unk = hr_tok_lookup(t, "[UNK]", 5);
        int ec;
        PCRE2_SIZE eo;
        t->re[0] = pcre2_compile((PCRE2_SPTR) "\\p{P}", PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        if (t->re[0]) {
            pcre2_jit_compile(t->re[0], PCRE2_JIT_COMPLETE);
            t->n_re = 1;
        }
    }
    return t;
}

void hr_tokenizer_free(hr_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    free(t->pre);
    free(t->pool);
    free(t->off);
    free(t->len);
    free(t->scores);
    free(t->types);
    free(t->tok_ht);
    free(t->merge_pool);
    free(t->merge_off);
    free(t->merge_len);
    free(t->merge_ht);
    free(t->specials);
    free(t);
}

/* ---- GGUF --------------------------------------------------------------- */

static int32_t gguf_id(const hr_gguf *g, const char *key) {
    int32_t v;
    uint32_t u;
    if (hr_gguf_get_i32(g, key, &v)) return v;
    if (hr_gguf_get_u32(g, key, &u)) return u > INT32_MAX ? -1 : (int32_t)u;
    return -1;
}

hr_tokenizer *hr_tokenizer_from_gguf(const hr_gguf *g, char *err, size_t errlen) {
    if (!g) {
        hr_errf(err, errlen, "tokenizer: no GGUF given");
        return NULL;
    }
    const char *model = hr_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) {
        hr_errf(err, errlen, "tokenizer: GGUF has no tokenizer.ggml.model");
        return NULL;
    }
    hr_gguf_array toks, scores, types, merges;
    if (!hr_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks) || toks.type != HR_GGUF_STRING) {
        hr_errf(err, errlen, "tokenizer: GGUF has no tokenizer.ggml.tokens string array");
        return NULL;
    }
    if (toks.n == 0 || toks.n > HR_TOK_MAX_VOCAB) {
        hr_errf(err, errlen, "tokenizer: tokenizer.ggml.tokens has %llu entries (1..%d allowed)",
                (unsigned long long)toks.n, HR_TOK_MAX_VOCAB);
        return NULL;
    }
    int32_t n = (int32_t)toks.n;
    int has_scores = hr_gguf_get_arr(g, "tokenizer.ggml.scores", &scores) && scores.n == toks.n;
    int has_types = hr_gguf_get_arr(g, "tokenizer.ggml.token_type", &types) && types.n == toks.n;
    int has_merges = hr_gguf_get_arr(g, "tokenizer.ggml.merges", &merges) && merges.type == HR_GGUF_STRING;
    if (has_merges && merges.n > HR_TOK_MAX_VOCAB * 2ull) {
        hr_errf(err, errlen, "tokenizer: too many merges (%llu)", (unsigned long long)merges.n);
        return NULL;
    }

    hr_tok_vocab_desc d = hr_tok_vocab_desc_default();
    d.model = model;
    d.pre = hr_gguf_get_str(g, "tokenizer.ggml.pre", NULL);
    d.n_tokens = n;
    const char **tv = hr_xmalloc((size_t)n * sizeof *tv);
    size_t *tl = hr_xmalloc((size_t)n * sizeof *tl);
    float *sv = has_scores ? hr_xmalloc((size_t)n * sizeof *sv) : NULL;
    int32_t *yv = has_types ? hr_xmalloc((size_t)n * sizeof *yv) : NULL;
    for (int32_t i = 0; i < n; i++) {
        tv[i] = hr_gguf_arr_str(&toks, (uint64_t)i, &tl[i]);
        if (!tv[i]) tv[i] = "", tl[i] = 0;
        if (sv) sv[i] = hr_gguf_arr_f32(&scores, (uint64_t)i);
        if (yv) yv[i] = (int32_t)hr_gguf_arr_i64(&types, (uint64_t)i);
    }
    d.tokens = tv;
    d.token_lens = tl;
    d.scores = sv;
    d.types = yv;
    const char **mv = NULL;
    size_t *ml = NULL;
    if (has_merges && merges.n) {
        d.n_merges = (int32_t)merges.n;
        mv = hr_xmalloc((size_t)merges.n * sizeof *mv);
        ml = hr_xmalloc((size_t)merges.n * sizeof *ml);
        for (uint64_t i = 0; i < merges.n; i++) {
            mv[i] = hr_gguf_arr_str(&merges, i, &ml[i]);
            if (!mv[i]) mv[i] = "", ml[i] = 0;
        }
        d.merges = mv;
        d.merge_lens = ml;
    }
    d.bos = gguf_id(g, "tokenizer.ggml.bos_token_id");
    d.eos = gguf_id(g, "tokenizer.ggml.eos_token_id");
    d.eot = gguf_id(g, "tokenizer.ggml.eot_token_id");
    d.unk = gguf_id(g, "tokenizer.ggml.unknown_token_id");
    d.pad = gguf_id(g, "tokenizer.ggml.padding_token_id");
    d.sep = gguf_id(g, "tokenizer.ggml.seperator_token_id");
    d.cls = gguf_id(g, "tokenizer.ggml.cls_token_id");
    bool b;
    /* llama.cpp defaults: spm and wpm add BOS (wpm: CLS), bpe does not */
    d.add_bos = strcmp(model, "gpt2") != 0;
    if (hr_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) d.add_bos = b;
    if (hr_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) d.add_space_prefix = b;

    hr_tokenizer *t = hr_tokenizer_create(&d, err, errlen);
    free(tv);
    free(tl);
    free(sv);
    free(yv);
    free(mv);
    free(ml);
    return t;
}

/* ---- encode ------------------------------------------------------------- */

typedef struct frag {
    size_t off, len;
    int32_t id; /* -1 = raw text */
} frag;

typedef struct frag_list {
    frag *a;
    size_t n, cap;
} frag_list;

static void frag_push(frag_list *l, size_t off, size_t len, int32_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->a = hr_xrealloc(l->a, l->cap * sizeof *l->a);
    }
    l->a[l->n++] = (frag){off, len, id};
}

/* Splits text into raw runs and special tokens, trying the specials longest
 * first over what is still raw (llama.cpp's order, so ids match its output).
 * Control/unknown tokens need HR_TOK_PARSE_SPECIAL; user-defined ones are
 * ordinary vocabulary words and always match. */
static void partition(const hr_tokenizer *t, const char *text, size_t len, unsigned flags, frag_list *out) {
    frag_list cur = {0}, nxt = {0};
    frag_push(&cur, 0, len, -1);
    int parse_special = (flags & HR_TOK_PARSE_SPECIAL) != 0;
    for (int k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        if (!parse_special && t->types[id] != HR_TOK_TYPE_USER_DEFINED) continue;
        const char *st = t->pool + t->off[id];
        size_t sl = t->len[id];
        int hit = 0;
        nxt.n = 0;
        for (size_t f = 0; f < cur.n; f++) {
            frag fr = cur.a[f];
            if (fr.id >= 0 || fr.len < sl) {
                frag_push(&nxt, fr.off, fr.len, fr.id);
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            for (;;) {
                const char *p = memmem(text + pos, end - pos, st, sl);
                if (!p) break;
                size_t at = (size_t)(p - text);
                if (at > pos) frag_push(&nxt, pos, at - pos, -1);
                frag_push(&nxt, at, sl, id);
                pos = at + sl;
                hit = 1;
            }
            if (pos < end) frag_push(&nxt, pos, end - pos, -1);
        }
        if (hit) {
            frag_list tmp = cur;
            cur = nxt;
            nxt = tmp;
        }
    }
    free(nxt.a);
    *out = cur;
}

int hr_tokenizer_encode(const hr_tokenizer *t, const char *text, size_t len, unsigned flags, int32_t *out,
                        int max_out) {
    if (!t) return 0;
    if (!text) len = 0;
    hr_tok_vec v = {0};
    int32_t first = t->kind == HR_TOK_KIND_WPM ? (t->cls >= 0 ? t->cls : t->bos) : t->bos;
    if ((flags & HR_TOK_ADD_BOS) && first >= 0) hr_tok_vec_push(&v, first);

    frag_list fl = {0};
    partition(t, text ? text : "", len, flags, &fl);
    int prev_special = 1; /* spm: a space prefix goes at the start and after each special */
    for (size_t i = 0; i < fl.n; i++) {
        frag f = fl.a[i];
        if (f.id >= 0) {
            hr_tok_vec_push(&v, f.id);
            prev_special = 1;
            continue;
        }
        switch (t->kind) {
        case HR_TOK_KIND_SPM:
            hr_tok_spm_encode(t, text + f.off, f.len, t->add_space_prefix && prev_special, &v);
            break;
        case HR_TOK_KIND_BPE:
            hr_tok_bpe_encode(t, text + f.off, f.len, &v);
            break;
        case HR_TOK_KIND_WPM:
            hr_tok_wpm_encode(t, text + f.off, f.len, &v);
            break;
        }
        prev_special = 0;
    }
    free(fl.a);
    int32_t last = t->kind == HR_TOK_KIND_WPM ? (t->sep >= 0 ? t->sep : t->eos) : t->eos;
    if ((flags & HR_TOK_ADD_EOS) && last >= 0) hr_tok_vec_push(&v, last);

    int n = v.n > (size_t)INT32_MAX ? INT32_MAX : (int)v.n;
    if (n > max_out || !out) {
        free(v.v);
        return n == 0 ? 0 : -n;
    }
    if (n) memcpy(out, v.v, (size_t)n * sizeof *out);
    free(v.v);
    return n;
}

/* ---- queries ------------------------------------------------------------ */

hr_tok_kind hr_tokenizer_kind(const hr_tokenizer *t) { return t->kind; }
int32_t hr_tokenizer_n_vocab(const hr_tokenizer *t) { return t->n_vocab; }
int32_t hr_tokenizer_bos(const hr_tokenizer *t) { return t->bos; }
int32_t hr_tokenizer_eos(const hr_tokenizer *t) { return t->eos; }
int32_t hr_tokenizer_eot(const hr_tokenizer *t) { return t->eot; }
int hr_tokenizer_add_bos(const hr_tokenizer *t) { return t->add_bos; }
const char *hr_tokenizer_pre(const hr_tokenizer *t) { return t->pre; }
int32_t hr_tokenizer_n_merges(const hr_tokenizer *t) { return t->n_merges; }

int hr_tokenizer_is_eog(const hr_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 1;
    return 0;
}

hr_tok_type hr_tokenizer_token_type(const hr_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return HR_TOK_TYPE_UNDEFINED;
    return (hr_tok_type)t->types[id];
}

int32_t hr_tokenizer_find(const hr_tokenizer *t, const char *text, size_t len) {
    if (!text) return -1;
    return hr_tok_lookup(t, text, len);
}

const char *hr_tokenizer_token_text(const hr_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->len[id];
    return t->pool + t->off[id];
}

const char *hr_tokenizer_merge(const hr_tokenizer *t, int32_t i, size_t *len) {
    if (i < 0 || i >= t->n_merges) return NULL;
    if (len) *len = t->merge_len[i];
    return t->merge_pool + t->merge_off[i];
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t hr_tokenizer_token_bytes(const hr_tokenizer *t, int32_t id, char *out, size_t cap) {
    if (id < 0 || id >= t->n_vocab) return 0;
    const char *s = t->pool + t->off[id];
    size_t n = t->len[id], w = 0;
    int ty = t->types[id];
#define PUT(c)                                  \
    do {                                        \
        if (w < cap) out[w] = (char)(c);        \
        w++;                                    \
    } while (0)
    if (ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_UNKNOWN ||
        (ty == HR_TOK_TYPE_USER_DEFINED && t->kind == HR_TOK_KIND_BPE)) {
        for (size_t i = 0; i < n; i++) PUT(s[i]);
        return w;
    }
    if (t->kind == HR_TOK_KIND_SPM && ty == HR_TOK_TYPE_BYTE && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
        int hi = hexval(s[3]), lo = hexval(s[4]);
        if (hi >= 0 && lo >= 0) {
            PUT(hi * 16 + lo);
            return w;
        }
    }
    if (t->kind == HR_TOK_KIND_BPE) {
        size_t i = 0;
        while (i < n) {
            uint32_t cp;
            size_t k = hr_utf8_decode(s + i, n - i, &cp);
            int b = hr_tok_cp_to_byte(cp);
            if (b >= 0)
                PUT(b);
            else
                for (size_t j = 0; j < k; j++) PUT(s[i + j]);
            i += k;
        }
        return w;
    }
    /* spm / wpm: U+2581 is a space */
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            PUT(' ');
            i += 3;
        } else
            PUT(s[i++]);
    }
    return w;
#undef PUT
}

/* ---- streaming detokenizer ---------------------------------------------- */

void hr_detok_init(hr_detok *d, const hr_tokenizer *t, int show_special) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->show_special = show_special;
}

static size_t utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0; /* continuation or invalid lead */
}

/* Emits whole sequences from buf[0..n) into out, replacing invalid bytes by
 * U+FFFD; returns how many trailing bytes form an incomplete sequence that
 * must wait (only when !final). Once something does not fit in cap, nothing
 * more is written (the output stays a prefix, cut at a character). */
static size_t emit_utf8(const unsigned char *buf, size_t n, int final, char *out, size_t cap, size_t *w) {
    int full = 0;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(buf[i]);
        int ok = k > 0;
        if (ok && i + k > n) {
            /* incomplete: valid so far? */
            size_t j = i + 1;
            while (j < n && (buf[j] & 0xC0) == 0x80) j++;
            if (j == n && !final) return n - i;
            ok = 0;
        }
        if (ok)
            for (size_t j = 1; j < k; j++)
                if ((buf[i + j] & 0xC0) != 0x80) ok = 0;
        const unsigned char *src = ok ? buf + i : (const unsigned char *)"\xEF\xBF\xBD";
        size_t sl = ok ? k : 3;
        if (!full && *w + sl <= cap) {
            memcpy(out + *w, src, sl);
            *w += sl;
        } else
            full = 1;
        i += ok ? k : 1;
    }
    return 0;
}

size_t hr_detok_push(hr_detok *d, int32_t id, char *out, size_t cap) {
    const hr_tokenizer *t = d->t;
    size_t w = 0;
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    int ty = t->types[id];
    if ((ty == HR_TOK_TYPE_CONTROL || ty == HR_TOK_TYPE_UNKNOWN) && !d->show_special) return 0;
    unsigned char buf[HR_TOK_MAX_TOKEN_BYTES * 2 + 16];
    size_t n = (size_t)d->n_pending;
    memcpy(buf, d->pending, n);
    size_t tb = hr_tokenizer_token_bytes(t, id, (char *)buf + n, sizeof buf - n);
    if (tb > sizeof buf - n) tb = sizeof buf - n;
    unsigned char *p = buf;
    size_t total = n + tb;
    if (!d->started && ty != HR_TOK_TYPE_CONTROL) {
        d->started = 1;
        if (t->kind == HR_TOK_KIND_SPM && t->add_space_prefix && total > 0 && p[0] == ' ') {
            p++;
            total--;
        }
    }
    size_t keep = emit_utf8(p, total, 0, out, cap, &w);
    d->n_pending = (int)keep;
    memcpy(d->pending, p + total - keep, keep);
    return w;
}

size_t hr_detok_flush(hr_detok *d, char *out, size_t cap) {
    size_t w = 0;
    emit_utf8(d->pending, (size_t)d->n_pending, 1, out, cap, &w);
    d->n_pending = 0;
    return w;
}

int hr_tokenizer_write_gguf(const hr_tokenizer *t, hr_gguf_writer *w, int32_t n_vocab) {
    int32_t n = hr_tokenizer_n_vocab(t);
    if (n_vocab <= 0) n_vocab = n;
    if (n_vocab < n) return -1;
    const char **v = hr_xmalloc((size_t)n_vocab * sizeof(char *));
    size_t *lens = hr_xmalloc((size_t)n_vocab * sizeof(size_t));
    int32_t *types = hr_xmalloc((size_t)n_vocab * sizeof(int32_t));
    char (*pad)[24] = hr_xmalloc((size_t)(n_vocab - n + 1) * 24);
    for (int32_t i = 0; i < n; i++) {
        v[i] = hr_tokenizer_token_text(t, i, &lens[i]);
        types[i] = hr_tokenizer_token_type(t, i);
    }
    for (int32_t i = n; i < n_vocab; i++) {
        lens[i] = (size_t)snprintf(pad[i - n], 24, "[PAD%d]", (int)i);
        v[i] = pad[i - n];
        types[i] = HR_TOK_TYPE_UNUSED;
    }
    hr_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    hr_gguf_writer_set_str(w, "tokenizer.ggml.pre", hr_tokenizer_pre(t));
    hr_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v, lens, (uint64_t)n_vocab);
    hr_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", HR_GGUF_I32, types, (uint64_t)n_vocab);
    int32_t nm = hr_tokenizer_n_merges(t);
    const char **mv = hr_xmalloc((size_t)(nm + 1) * sizeof(char *));
    size_t *ml = hr_xmalloc((size_t)(nm + 1) * sizeof(size_t));
    for (int32_t i = 0; i < nm; i++) mv[i] = hr_tokenizer_merge(t, i, &ml[i]);
    hr_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", mv, ml, (uint64_t)nm);
    if (hr_tokenizer_bos(t) >= 0) hr_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)hr_tokenizer_bos(t));
    if (hr_tokenizer_eos(t) >= 0) hr_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)hr_tokenizer_eos(t));
    if (hr_tokenizer_eot(t) >= 0) hr_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)hr_tokenizer_eot(t));
    hr_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    free(mv);
    free(ml);
    free(v);
    free(lens);
    free(types);
    free(pad);
    return 0;
}
