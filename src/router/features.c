/* Router features: hashed n-grams + dense extras (format in features.h). */
#include "router/features.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "engine/engine.h"

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

static const char *dense_names[HR_FEAT_N_DENSE] = {
    "chars", "qmarks", "fences", "turns", "context_chars", "max_tokens", "tools",
    "response_format", "code_share", "cjk_share", "lines", "words", "digit_share",
};

hr_features_params hr_features_default_params(void) {
    hr_features_params p = {.dim = 4096, .char_min = 1, .char_max = 3, .word_max = 2};
    return p;
}

int hr_features_params_check(const hr_features_params *p, char *err, size_t errlen) {
    if (p->dim < 16 || p->dim > HR_FEATURES_MAX_DIM) {
        snprintf(err, errlen, "features: dim %d out of range 16..%d", p->dim, HR_FEATURES_MAX_DIM);
        return -1;
    }
    if (p->char_min < 1 || p->char_max < p->char_min || p->char_max > 5) {
        snprintf(err, errlen, "features: char n-gram range %d..%d invalid (1 <= min <= max <= 5)", p->char_min,
                 p->char_max);
        return -1;
    }
    if (p->word_max < 0 || p->word_max > 3) {
        snprintf(err, errlen, "features: word n-gram size %d invalid (0..3)", p->word_max);
        return -1;
    }
    if (p->emb_dim < 0 || p->emb_dim > HR_FEATURES_MAX_EMB) {
        snprintf(err, errlen, "features: embedding size %d out of range 0..%d", p->emb_dim, HR_FEATURES_MAX_EMB);
        return -1;
    }
    if (p->emb_dim > 0 && p->embedder && hr_embedder_dim(p->embedder) != p->emb_dim) {
        snprintf(err, errlen, "features: the embedding model gives %d values, the features expect %d",
                 hr_embedder_dim(p->embedder), p->emb_dim);
        return -1;
    }
    return 0;
}

size_t hr_features_ncols(const hr_features_params *p) {
    return (size_t)p->dim + HR_FEAT_N_DENSE + (size_t)(p->emb_dim > 0 ? p->emb_dim : 0);
}

const char *hr_features_dense_name(int k) { return k >= 0 && k < HR_FEAT_N_DENSE ? dense_names[k] : "?"; }

void hr_feature_vec_init(hr_feature_vec *v) { memset(v, 0, sizeof *v); }

void hr_feature_vec_free(hr_feature_vec *v) {
    if (!v) return;
    free(v->idx);
    free(v->val);
    free(v->scratch);
    free(v->cp);
    free(v->emb);
    memset(v, 0, sizeof *v);
}

float hr_feature_vec_get(const hr_feature_vec *v, uint32_t col) {
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->idx[mid] == col) return v->val[mid];
        if (v->idx[mid] < col) lo = mid + 1;
        else hi = mid;
    }
    return 0.0f;
}

static void vec_reserve(hr_feature_vec *v, size_t n) {
    if (n <= v->cap) return;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < n) cap *= 2;
    v->idx = hr_xrealloc(v->idx, cap * sizeof *v->idx);
    v->val = hr_xrealloc(v->val, cap * sizeof *v->val);
    v->cap = cap;
}

static void vec_push(hr_feature_vec *v, uint32_t idx, float val) {
    vec_reserve(v, v->n + 1);
    v->idx[v->n] = idx;
    v->val[v->n] = val;
    v->n++;
}

static inline uint32_t fnv_byte(uint32_t h, uint8_t b) { return (h ^ b) * FNV_PRIME; }

static inline uint32_t fnv_cp(uint32_t h, uint32_t cp) {
    h = fnv_byte(h, (uint8_t)(cp & 0xff));
    h = fnv_byte(h, (uint8_t)((cp >> 8) & 0xff));
    h = fnv_byte(h, (uint8_t)((cp >> 16) & 0xff));
    return fnv_byte(h, (uint8_t)(cp >> 24));
}

static inline bool is_space_cp(uint32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x3000 || c == 0xA0;
}

static inline bool is_word_cp(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* Adds one occurrence of hashed column h to the scratch counts. The touched
 * columns are collected in v->idx (unsorted for now). */
static inline void count_hash(hr_feature_vec *v, uint32_t h, uint32_t dim) {
    uint32_t i = h % dim;
    if (v->scratch[i] == 0.0f) vec_push(v, i, 0.0f);
    v->scratch[i] += 1.0f;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Normalises text[0..len) into v->cp (at most HR_FEATURES_MAX_TEXT code points). */
static size_t normalise_text(hr_feature_vec *v, const char *text, size_t len) {
    if (!v->cp) {
        v->cp_cap = HR_FEATURES_MAX_TEXT;
        v->cp = hr_xmalloc(v->cp_cap * sizeof *v->cp);
    }
    size_t n = 0, off = 0;
    bool prev_space = false;
    while (off < len && n < HR_FEATURES_MAX_TEXT) {
        uint32_t c;
        off += hr_utf8_decode(text + off, len - off, &c);
        if (is_space_cp(c)) {
            if (prev_space) continue;
            c = ' ';
            prev_space = true;
        } else {
            prev_space = false;
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        }
        v->cp[n++] = c;
    }
    return n;
}

static void hash_char_ngrams(const hr_features_params *p, hr_feature_vec *v, size_t n) {
    uint32_t dim = (uint32_t)p->dim;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = fnv_byte(FNV_OFFSET, 'c');
        for (int k = 1; k <= p->char_max && i + (size_t)k <= n; k++) {
            h = fnv_cp(h, v->cp[i + (size_t)k - 1]);
            if (k >= p->char_min) count_hash(v, h, dim);
        }
    }
}

/* Word n-grams over the normalised code points: words are runs of [a-z0-9]
 * (all ASCII, so each code point is one byte of the word). */
static void hash_word_ngrams(const hr_features_params *p, hr_feature_vec *v, size_t n) {
    if (p->word_max < 1) return;
    uint32_t dim = (uint32_t)p->dim;
    size_t ws[3] = {0}, we[3] = {0}; /* the last up-to-3 words: [start,end) */
    int have = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_word_cp(v->cp[i])) i++;
        if (i >= n) break;
        size_t s = i;
        while (i < n && is_word_cp(v->cp[i])) i++;
        /* shift the window of recent words */
        for (int k = 2; k > 0; k--) {
            ws[k] = ws[k - 1];
            we[k] = we[k - 1];
        }
        ws[0] = s;
        we[0] = i;
        if (have < 3) have++;
        for (int len = 1; len <= p->word_max && len <= have; len++) {
            uint32_t h = fnv_byte(FNV_OFFSET, 'w');
            for (int k = len - 1; k >= 0; k--) {
                for (size_t j = ws[k]; j < we[k]; j++) h = fnv_byte(h, (uint8_t)v->cp[j]);
                if (k > 0) h = fnv_byte(h, ' ');
            }
            count_hash(v, h, dim);
        }
    }
}

static bool starts_with(const char *s, size_t n, const char *pfx) {
    size_t k = strlen(pfx);
    return n >= k && !memcmp(s, pfx, k);
}

static bool contains(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return true;
    return false;
}

/* A line "looks like code" when it starts with a common keyword or comment
 * marker, ends with ; { or }, or holds an operator rarely seen in prose. */
static bool line_is_code(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    if (!n) return false;
    static const char *starts[] = {"def ", "class ", "import ", "from ", "return", "#include", "#define",
                                   "for (", "for(", "while (", "while(", "if (", "if(", "elif ", "else:",
                                   "else {", "}", "//", "/*", "print(", "printf(", "func ", "fn ", "let ",
                                   "const ", "var ", "public ", "private ", "static ", "int ", "void ",
                                   ">>>", "$ ", "SELECT ", "assert ", NULL};
    for (int i = 0; starts[i]; i++)
        if (starts_with(s, n, starts[i])) return true;
    char last = s[n - 1];
    if (last == ';' || last == '{' || last == '}') return true;
    static const char *ops[] = {"==", "!=", "->", "=>", "+=", "()", "[]", "::", NULL};
    for (int i = 0; ops[i]; i++)
        if (contains(s, n, ops[i])) return true;
    return false;
}

typedef struct text_stats {
    double qmarks, fences, lines, words, cjk, digits, nonspace, code_lines, nonblank_lines;
} text_stats;

static void scan_text(const char *text, size_t len, text_stats *st) {
    memset(st, 0, sizeof *st);
    size_t off = 0, line_start = 0, fence_end = 0;
    bool in_word = false, in_fence = false;
    st->lines = len ? 1 : 0;
    while (off <= len) {
        if (off == len || text[off] == '\n') {
            const char *ls = text + line_start;
            size_t ln = off - line_start;
            bool blank = true;
            for (size_t i = 0; i < ln; i++)
                if (ls[i] != ' ' && ls[i] != '\t' && ls[i] != '\r') blank = false;
            if (!blank) {
                const char *t = ls;
                size_t tn = ln;
                while (tn && (*t == ' ' || *t == '\t')) t++, tn--;
                bool fence = starts_with(t, tn, "```");
                st->nonblank_lines++;
                if (fence || in_fence || line_is_code(ls, ln)) st->code_lines++;
                if (fence) in_fence = !in_fence;
            }
            if (off == len) break;
            st->lines++;
            line_start = off + 1;
        }
        uint32_t c;
        size_t k = hr_utf8_decode(text + off, len - off, &c);
        if (c == '?' || c == 0xFF1F) st->qmarks++;
        if (c == '`' && off >= fence_end && off + 3 <= len && !memcmp(text + off, "```", 3)) {
            st->fences++;
            fence_end = off + 3;
        }
        bool word = (c < 128) && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        if (word && !in_word) st->words++;
        in_word = word;
        if (!is_space_cp(c)) st->nonspace++;
        if (c >= '0' && c <= '9') st->digits++;
        if (hr_utf8_is_cjk(c)) st->cjk++;
        off += k;
    }
}

static void finish_hashed(const hr_features_params *p, hr_feature_vec *v) {
    size_t n = v->n;
    if (n == 0) return;
    /* sorted columns: scan the scratch when it is small relative to n, else sort */
    if ((size_t)p->dim <= 8 * n) {
        size_t k = 0;
        for (uint32_t i = 0; i < (uint32_t)p->dim; i++)
            if (v->scratch[i] != 0.0f) v->idx[k++] = i;
    } else {
        qsort(v->idx, n, sizeof *v->idx, cmp_u32);
    }
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double c = v->scratch[v->idx[i]];
        ss += c * c;
    }
    double inv = 1.0 / sqrt(ss);
    for (size_t i = 0; i < n; i++) {
        v->val[i] = (float)(v->scratch[v->idx[i]] * inv);
        v->scratch[v->idx[i]] = 0.0f;
    }
}

/* Counts enter as log(1 + n): trees do not care, linear boosters need the
 * scale of a 20,000-character prompt to stay near that of a share. */
static inline float logc(double n) { return (float)log1p(n); }

const char *hr_features_text(const hr_chat_request *req, hr_buf *joined, size_t *len, size_t *chars) {
    if (req->last_user) {
        *len = req->last_user->text_len;
        *chars = req->last_user->chars;
        return req->last_user->text;
    }
    *chars = 0;
    for (size_t i = 0; i < req->n_messages; i++) {
        if (i) hr_buf_append(joined, "\n", 1);
        hr_buf_append(joined, req->messages[i].text, req->messages[i].text_len);
        *chars += req->messages[i].chars + (i ? 1 : 0);
    }
    *len = joined->len;
    return joined->data ? joined->data : "";
}

int hr_features_embed_text(const hr_features_params *p, const char *text, size_t len, float *out, char *err,
                           size_t errlen) {
    if (p->emb_dim <= 0) return 0;
    if (!p->embedder) {
        snprintf(err, errlen, "features: the model needs an embedding model (%d values) and none is loaded",
                 p->emb_dim);
        return -1;
    }
    return hr_embedder_embed(p->embedder, text, len, out, err, errlen) < 0 ? -1 : 0;
}

int hr_features_extract(const hr_features_params *p, const hr_chat_request *req, hr_feature_vec *out) {
    return hr_features_extract_with(p, req, NULL, out);
}

int hr_features_extract_with(const hr_features_params *p, const hr_chat_request *req, const float *emb,
                             hr_feature_vec *out) {
    char err[160];
    if (hr_features_params_check(p, err, sizeof err) < 0) return -1;
    out->n = 0;
    if (out->scratch_dim != (size_t)p->dim) {
        free(out->scratch);
        out->scratch = hr_xcalloc((size_t)p->dim, sizeof *out->scratch);
        out->scratch_dim = (size_t)p->dim;
    }

    /* the text: the last user message, else every message joined */
    size_t len = 0, chars = 0;
    hr_buf joined;
    hr_buf_init(&joined, 0);
    const char *text = hr_features_text(req, &joined, &len, &chars);
    if (p->emb_dim > 0 && !emb) {
        if (out->emb_cap < (size_t)p->emb_dim) {
            free(out->emb);
            out->emb = hr_xmalloc((size_t)p->emb_dim * sizeof *out->emb);
            out->emb_cap = (size_t)p->emb_dim;
        }
        if (hr_features_embed_text(p, text, len, out->emb, err, sizeof err) < 0) {
            hr_buf_free(&joined);
            return -1;
        }
        emb = out->emb;
    }

    size_t ncp = normalise_text(out, text, len);
    hash_char_ngrams(p, out, ncp);
    hash_word_ngrams(p, out, ncp);
    finish_hashed(p, out);

    text_stats st;
    scan_text(text, len, &st);
    hr_buf_free(&joined);

    uint32_t d = (uint32_t)p->dim;
    double nonspace = st.nonspace > 0 ? st.nonspace : 1;
    vec_push(out, d + HR_FEAT_CHARS, logc((double)(chars)));
    vec_push(out, d + HR_FEAT_QMARKS, logc((double)(st.qmarks)));
    vec_push(out, d + HR_FEAT_FENCES, logc((double)(st.fences)));
    vec_push(out, d + HR_FEAT_TURNS, logc((double)(req->n_messages)));
    vec_push(out, d + HR_FEAT_CONTEXT_CHARS, logc((double)(req->context_chars)));
    if (req->max_tokens >= 0) vec_push(out, d + HR_FEAT_MAX_TOKENS, logc((double)req->max_tokens));
    vec_push(out, d + HR_FEAT_TOOLS, req->has_tools ? 1.0f : 0.0f);
    vec_push(out, d + HR_FEAT_RESPONSE_FORMAT, req->has_response_format ? 1.0f : 0.0f);
    vec_push(out, d + HR_FEAT_CODE_SHARE,
             st.nonblank_lines > 0 ? (float)(st.code_lines / st.nonblank_lines) : 0.0f);
    vec_push(out, d + HR_FEAT_CJK_SHARE, (float)(st.cjk / nonspace));
    vec_push(out, d + HR_FEAT_LINES, logc((double)(st.lines)));
    vec_push(out, d + HR_FEAT_WORDS, logc((double)(st.words)));
    vec_push(out, d + HR_FEAT_DIGIT_SHARE, (float)(st.digits / nonspace));
    for (int k = 0; k < p->emb_dim; k++) vec_push(out, d + HR_FEAT_N_DENSE + (uint32_t)k, emb[k]);
    return 0;
}
