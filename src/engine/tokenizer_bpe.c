/* Byte-level BPE (GGUF tokenizer model "gpt2").
 *
 * 1. Pre-split: the regexes of the vocab's pre-tokenizer (tokenizer.ggml.pre)
 *    run one after the other, each splitting the pieces the previous one left
 *    (text between matches stays a piece of its own). PCRE2, UTF + UCP, JIT.
 * 2. Each piece is spelled in GPT-2's byte-to-unicode alphabet; for "llama-bpe"
 *    a piece that is a whole vocab token is taken as is (ignore_merges).
 * 3. Merges: adjacent symbols are merged lowest merge rank first (ties:
 *    leftmost) with a heap over a linked list: O(n log n) per piece.
 * A final symbol that is not a token (only possible with odd vocabs) falls
 * back to its single bytes' tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "engine/tokenizer_internal.h"

/* ---- GPT-2 byte <-> unicode --------------------------------------------- */

static int byte_is_printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

/* The 68 non-printable bytes (0..32, 127..160, 173) map to U+0100.. in order. */
uint32_t hr_tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return 256u + 33 + (b - 127u);
    return 256u + 67; /* 173 */
}

int hr_tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(127 + k - 33);
    if (k == 67) return 173;
    return -1;
}

/* ---- pre-tokenizer regexes ---------------------------------------------- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3                                                                                            \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| " \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                        \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| " \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/* DeepSeek LLM's letter class (the cased-letter ranges its HF pre-tokenizer
 * lists), as code point ranges. */
#define RE_DS_LETTERS                                                                                          \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"       \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"      \
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"            \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"          \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"          \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"  \
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}" \
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"           \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"            \
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"            \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"           \
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"          \
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"        \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}" \
    "\\x{1E900}-\\x{1E943}]+"

typedef struct pre_def {
    const char *names[10]; /* tokenizer.ggml.pre values */
    const char *re[HR_TOK_MAX_REGEX];
    int ignore_merges;
} pre_def;

static const pre_def PRE_DEFS[] = {
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "pixtral"}, {RE_LLAMA3}, 1},
    {{"deepseek-llm"},
     {"[\\r\\n]", RE_DS_LETTERS,
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", "\\s+$", RE_CJK,
      "\\p{N}+"},
     0},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}, 0},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, 0},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", RE_GPT2}, 0},
    {{"gpt-2", "phi-2", "jina-es", "jina-de", "mpt", "olmo", "jais", "trillion"}, {RE_GPT2}, 0},
    {{"qwen2", "stablelm2", "hunyuan", "megrez"}, {RE_QWEN2}, 0},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"}, 0},
    /* the default for gpt2 vocabs without a pre-tokenizer name */
    {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, 0},
};

int hr_tok_bpe_setup(hr_tokenizer *t, char *err, size_t errlen) {
    const pre_def *def = NULL;
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0] && !def; i++)
        for (int k = 0; k < 10 && PRE_DEFS[i].names[k]; k++)
            if (!strcmp(PRE_DEFS[i].names[k], t->pre)) def = &PRE_DEFS[i];
    if (!def) {
        if (err && errlen) snprintf(err, errlen, "tokenizer: unknown BPE pre-tokenizer '%s'", t->pre);
        return -1;
    }
    t->ignore_merges = def->ignore_merges;
    for (int k = 0; k < HR_TOK_MAX_REGEX && def->re[k]; k++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)def->re[k], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_INVALID_UTF, &ec,
                                       &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            if (err && errlen)
                snprintf(err, errlen, "tokenizer: pre-tokenizer '%s' regex %d: %s at %zu", t->pre, k, (char *)msg,
                         (size_t)eo);
            return -1;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
        t->re[t->n_re++] = re;
    }
    return 0;
}

/* ---- splitting ----------------------------------------------------------- */

typedef struct span {
    size_t off, len;
} span;

typedef struct span_list {
    span *a;
    size_t n, cap;
} span_list;

static void span_push(span_list *l, size_t off, size_t len) {
    if (!len) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->a = hr_xrealloc(l->a, l->cap * sizeof *l->a);
    }
    l->a[l->n++] = (span){off, len};
}

/* Length of the UTF-8 character at s[0..n) (1 for an invalid byte). */
static size_t char_len(const char *s, size_t n) {
    uint32_t cp;
    size_t k = hr_utf8_decode(s, n, &cp);
    return k ? k : 1;
}

static void split_one(pcre2_code *re, pcre2_match_data *md, const char *s, span in, span_list *out) {
    size_t pos = 0, start = 0; /* relative to in.off */
    const char *sub = s + in.off;
    while (pos <= in.len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)sub, in.len, pos, 0, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: step one character */
            if (ms >= in.len) break;
            pos = ms + char_len(sub + ms, in.len - ms);
            continue;
        }
        if (ms > start) span_push(out, in.off + start, ms - start);
        span_push(out, in.off + ms, me - ms);
        start = pos = me;
    }
    if (start < in.len) span_push(out, in.off + start, in.len - start);
}

/* ---- merging ------------------------------------------------------------- */

typedef struct bsym {
    int32_t prev, next;
    uint32_t n; /* original bytes covered; 0 = merged away */
    int32_t id;
    uint32_t off; /* original byte offset in the word */
} bsym;

static void try_merge(const hr_tokenizer *t, bsym *sy, int32_t l, int32_t r, hr_tok_heap *h) {
    if (l < 0 || r < 0) return;
    const hr_tok_merge *m = hr_tok_merge_find(t, sy[l].id, sy[r].id);
    if (!m) return;
    hr_tok_heap_push(h, (hr_tok_bigram){l, r, -(float)m->rank, sy[l].n + sy[r].n, m->result});
}

typedef struct bpe_scratch {
    bsym *sy;
    size_t cap;
    hr_tok_heap h;
    char *enc;
    size_t enc_cap;
} bpe_scratch;

static void encode_word(const hr_tokenizer *t, const char *w, size_t n, bpe_scratch *sc, hr_tok_vec *out) {
    if (t->ignore_merges) {
        if (sc->enc_cap < n * 2) {
            sc->enc_cap = n * 2;
            sc->enc = hr_xrealloc(sc->enc, sc->enc_cap);
        }
        size_t el = 0;
        for (size_t i = 0; i < n; i++) el += hr_utf8_encode(hr_tok_byte_to_cp((uint8_t)w[i]), sc->enc + el);
        int32_t id = hr_tok_lookup(t, sc->enc, el);
        if (id >= 0) {
            hr_tok_vec_push(out, id);
            return;
        }
    }
    if (sc->cap < n) {
        sc->cap = n;
        sc->sy = hr_xrealloc(sc->sy, n * sizeof *sc->sy);
    }
    bsym *sy = sc->sy;
    for (size_t i = 0; i < n; i++)
        sy[i] = (bsym){(int32_t)i - 1, (int32_t)i + 1, 1, t->byte_tok[(uint8_t)w[i]], (uint32_t)i};
    sy[n - 1].next = -1;
    hr_tok_heap *h = &sc->h;
    h->n = 0;
    for (size_t i = 1; i < n; i++) try_merge(t, sy, (int32_t)i - 1, (int32_t)i, h);
    while (h->n) {
        hr_tok_bigram b = hr_tok_heap_pop(h);
        bsym *l = &sy[b.left], *r = &sy[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size || l->next != b.right) continue;
        l->n += r->n;
        l->id = b.id;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = b.left;
        try_merge(t, sy, l->prev, b.left, h);
        try_merge(t, sy, b.left, l->next, h);
    }
    for (int32_t i = 0; i >= 0; i = sy[i].next) {
        if (sy[i].id >= 0) {
            hr_tok_vec_push(out, sy[i].id);
            continue;
        }
        /* merge result missing from the vocab: fall back to byte tokens */
        for (uint32_t j = 0; j < sy[i].n; j++) {
            int32_t id = t->byte_tok[(uint8_t)w[sy[i].off + j]];
            if (id < 0) id = t->unk;
            if (id >= 0) hr_tok_vec_push(out, id);
        }
    }
}

void hr_tok_bpe_encode(const hr_tokenizer *t, const char *s, size_t n, hr_tok_vec *out) {
    if (!n) return;
    span_list cur = {0}, nxt = {0};
    span_push(&cur, 0, n);
    for (int k = 0; k < t->n_re; k++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re[k], NULL);
        nxt.n = 0;
        for (size_t i = 0; i < cur.n; i++) split_one(t->re[k], md, s, cur.a[i], &nxt);
        pcre2_match_data_free(md);
        span_list tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    bpe_scratch sc = {0};
    for (size_t i = 0; i < cur.n; i++) encode_word(t, s + cur.a[i].off, cur.a[i].len, &sc, out);
    free(sc.sy);
    free(sc.h.a);
    free(sc.enc);
    free(cur.a);
    free(nxt.a);
}
