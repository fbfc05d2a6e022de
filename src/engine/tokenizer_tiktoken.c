/* Byte-level BPE from a tiktoken rank file (Llama 3's tokenizer.model).
 *
 * File format: one "BASE64 RANK\n" line per token, ranks 0..n-1 in order
 * (checked). Token i's text is its bytes in GPT-2's byte-to-unicode spelling,
 * as in a GGUF. Merges are derived from the ranks the way the Hugging Face
 * conversion does it (and so the released Llama 3 GGUFs): every split of a
 * multi-byte token into two pieces that are both tokens is a merge, ordered by
 * the merged token's rank, then by the pieces' ranks (280147 merges for
 * Llama 3). Merging by these ranks equals tiktoken's "lowest-rank adjacent
 * pair" rule, since all splits of a token share its rank band.
 *
 * Special tokens (ids n .. n+255) follow Llama 3.1's layout; with hermes3 the
 * Hermes 3 ChatML tokens take two reserved slots:
 *   n+0 <|begin_of_text|>   n+1 <|end_of_text|>   n+2 <|reserved_special_token_0|>
 *   n+3 <|reserved_special_token_1|>   n+4 <|finetune_right_pad_id|>
 *   n+5 <|reserved_special_token_2|>   n+6 <|start_header_id|>   n+7 <|end_header_id|>
 *   n+8 <|eom_id|>   n+9 <|eot_id|>   n+10 <|python_tag|>
 *   n+11+k <|reserved_special_token_{3+k}|>, except (hermes3)
 *   n+39 <|im_start|>, n+40 <|im_end|> (Hermes 3's EOS).
 * Limits: file <= 64 MiB, lines <= 4096 bytes, tokens <= HR_TOK_MAX_TOKEN_BYTES. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "engine/tokenizer_internal.h"

#define TIKTOKEN_MAX_FILE (64u << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes base64 s[0..n) into out (cap bytes); returns length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap) {
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (w >= cap) return -1;
            out[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)w;
}

/* raw bytes -> rank */
typedef struct rank_map {
    const unsigned char *pool;
    const uint32_t *off, *len;
    int32_t *ht;
    size_t mask;
} rank_map;

static uint64_t hbytes(const unsigned char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 31);
}

static int32_t rank_of(const rank_map *m, const unsigned char *s, size_t n) {
    size_t i = hbytes(s, n) & m->mask;
    for (;;) {
        int32_t r = m->ht[i];
        if (r < 0) return -1;
        if (m->len[r] == n && memcmp(m->pool + m->off[r], s, n) == 0) return r;
        i = (i + 1) & m->mask;
    }
}

/* Collects the merges for token r: every split into two pieces that are
 * both tokens, ordered by (rank of left, rank of right). Returns the count
 * written to out[] (split positions). */
static size_t token_splits(const rank_map *m, const unsigned char *s, size_t n, size_t *out) {
    size_t k = 0;
    int32_t rl[HR_TOK_MAX_TOKEN_BYTES], rr[HR_TOK_MAX_TOKEN_BYTES];
    for (size_t i = 1; i < n; i++) {
        int32_t a = rank_of(m, s, i), b = rank_of(m, s + i, n - i);
        if (a < 0 || b < 0) continue;
        /* insertion sort by (a, b): few splits per token */
        size_t j = k++;
        while (j > 0 && (rl[j - 1] > a || (rl[j - 1] == a && rr[j - 1] > b))) {
            rl[j] = rl[j - 1];
            rr[j] = rr[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        rl[j] = a;
        rr[j] = b;
        out[j] = i;
    }
    return k;
}

static size_t spell(const unsigned char *s, size_t n, char *out) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) w += hr_utf8_encode(hr_tok_byte_to_cp(s[i]), out + w);
    return w;
}

static const char *special_name(int k, int hermes3, char *buf, size_t cap) {
    static const char *const fixed[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                        "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                                        "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    if (k < 11) return fixed[k];
    if (hermes3 && k == 39) return "<|im_start|>";
    if (hermes3 && k == 40) return "<|im_end|>";
    snprintf(buf, cap, "<|reserved_special_token_%d|>", 3 + k - 11);
    return buf;
}

hr_tokenizer *hr_tokenizer_from_tiktoken(const char *path, int n_special, int hermes3, char *err, size_t errlen) {
    if (n_special != 0 && n_special != 256) {
        set_err(err, errlen, "tiktoken: n_special must be 0 or 256, not %d", n_special);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "tiktoken: cannot open %s", path);
        return NULL;
    }
    hr_buf file;
    hr_buf_init(&file, TIKTOKEN_MAX_FILE);
    char chunk[65536];
    size_t got;
    int too_big = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hr_buf_append(&file, chunk, got) != 0) {
            too_big = 1;
            break;
        }
    fclose(f);
    if (too_big || file.len == 0) {
        set_err(err, errlen, too_big ? "tiktoken: %s is larger than 64 MiB" : "tiktoken: %s is empty", path);
        hr_buf_free(&file);
        return NULL;
    }

    /* pass 1: decode lines into a raw pool */
    size_t cap_tokens = 1024, n = 0;
    uint32_t *off = hr_xmalloc(cap_tokens * sizeof *off), *len = hr_xmalloc(cap_tokens * sizeof *len);
    unsigned char *pool = hr_xmalloc(file.len);
    size_t pp = 0, line_no = 0;
    hr_tokenizer *t = NULL;
    const char *p = file.data, *end = file.data + file.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line_no++;
        if (le - p > 4096) {
            set_err(err, errlen, "tiktoken: %s:%zu: line too long", path, line_no);
            goto fail;
        }
        if (le > p) {
            const char *sp = memchr(p, ' ', (size_t)(le - p));
            if (!sp) {
                set_err(err, errlen, "tiktoken: %s:%zu: expected 'base64 rank'", path, line_no);
                goto fail;
            }
            char *rend;
            long rank = strtol(sp + 1, &rend, 10);
            if (rend == sp + 1 || rank != (long)n) {
                set_err(err, errlen, "tiktoken: %s:%zu: rank %ld out of order (expected %zu)", path, line_no, rank,
                        n);
                goto fail;
            }
            long bl = b64_decode(p, (size_t)(sp - p), pool + pp, file.len - pp);
            if (bl <= 0 || bl > HR_TOK_MAX_TOKEN_BYTES) {
                set_err(err, errlen, "tiktoken: %s:%zu: bad base64 token", path, line_no);
                goto fail;
            }
            if (n == cap_tokens) {
                cap_tokens *= 2;
                off = hr_xrealloc(off, cap_tokens * sizeof *off);
                len = hr_xrealloc(len, cap_tokens * sizeof *len);
            }
            if (n + 256 >= HR_TOK_MAX_VOCAB) {
                set_err(err, errlen, "tiktoken: %s: too many tokens", path);
                goto fail;
            }
            off[n] = (uint32_t)pp;
            len[n] = (uint32_t)bl;
            pp += (size_t)bl;
            n++;
        }
        p = le + 1;
    }
    if (n < 256) {
        set_err(err, errlen, "tiktoken: %s: only %zu tokens (a byte-level vocab needs 256+)", path, n);
        goto fail;
    }

    {
        rank_map m = {pool, off, len, NULL, 0};
        size_t ts = 16;
        while (ts < n * 2) ts <<= 1;
        m.mask = ts - 1;
        m.ht = hr_xmalloc(ts * sizeof *m.ht);
        for (size_t i = 0; i < ts; i++) m.ht[i] = -1;
        for (size_t r = 0; r < n; r++) {
            if (rank_of(&m, pool + off[r], len[r]) >= 0) continue;
            size_t i = hbytes(pool + off[r], len[r]) & m.mask;
            while (m.ht[i] >= 0) i = (i + 1) & m.mask;
            m.ht[i] = (int32_t)r;
        }

        size_t nt = n + (size_t)n_special;
        hr_buf spelled; /* token texts then merge texts, NUL separated */
        hr_buf_init(&spelled, 0);
        size_t *toff = hr_xmalloc(nt * sizeof *toff), *tlen = hr_xmalloc(nt * sizeof *tlen);
        int32_t *types = hr_xmalloc(nt * sizeof *types);
        char tmp[HR_TOK_MAX_TOKEN_BYTES * 4 + 64];
        for (size_t r = 0; r < n; r++) {
            size_t l = spell(pool + off[r], len[r], tmp);
            toff[r] = spelled.len;
            tlen[r] = l;
            hr_buf_append(&spelled, tmp, l + 0);
            hr_buf_append(&spelled, "", 1);
            types[r] = HR_TOK_TYPE_NORMAL;
        }
        for (int k = 0; k < n_special; k++) {
            const char *name = special_name(k, hermes3, tmp, sizeof tmp);
            size_t l = strlen(name);
            toff[n + (size_t)k] = spelled.len;
            tlen[n + (size_t)k] = l;
            hr_buf_append(&spelled, name, l);
            hr_buf_append(&spelled, "", 1);
            types[n + (size_t)k] = HR_TOK_TYPE_CONTROL;
        }
        /* merges, in rank order of the merged token */
        size_t nm = 0, mcap = n * 3;
        size_t *moff = hr_xmalloc(mcap * sizeof *moff), *mlen = hr_xmalloc(mcap * sizeof *mlen);
        size_t splits[HR_TOK_MAX_TOKEN_BYTES];
        for (size_t r = 0; r < n; r++) {
            if (len[r] < 2) continue;
            size_t ns = token_splits(&m, pool + off[r], len[r], splits);
            for (size_t k = 0; k < ns; k++) {
                size_t split = splits[k];
                size_t a = spell(pool + off[r], split, tmp);
                tmp[a] = ' ';
                size_t b = spell(pool + off[r] + split, len[r] - split, tmp + a + 1);
                if (nm == mcap) {
                    mcap *= 2;
                    moff = hr_xrealloc(moff, mcap * sizeof *moff);
                    mlen = hr_xrealloc(mlen, mcap * sizeof *mlen);
                }
                moff[nm] = spelled.len;
                mlen[nm] = a + 1 + b;
                hr_buf_append(&spelled, tmp, a + 1 + b);
                hr_buf_append(&spelled, "", 1);
                nm++;
            }
        }
        const char **tv = hr_xmalloc(nt * sizeof *tv), **mv = hr_xmalloc((nm ? nm : 1) * sizeof *mv);
        for (size_t i = 0; i < nt; i++) tv[i] = spelled.data + toff[i];
        for (size_t i = 0; i < nm; i++) mv[i] = spelled.data + moff[i];

        hr_tok_vocab_desc d = hr_tok_vocab_desc_default();
        d.model = "gpt2";
        d.pre = "llama-bpe";
        d.n_tokens = (int32_t)nt;
        d.tokens = tv;
        d.token_lens = tlen;
        d.types = types;
        d.n_merges = (int32_t)nm;
        d.merges = mv;
        d.merge_lens = mlen;
        if (n_special) {
            d.bos = (int32_t)n;
            d.eos = (int32_t)n + (hermes3 ? 40 : 1);
            d.eot = (int32_t)n + (hermes3 ? 40 : 9);
            d.pad = (int32_t)n + 4;
        }
        d.add_bos = 1;
        t = hr_tokenizer_create(&d, err, errlen);
        free(tv);
        free(mv);
        free(toff);
        free(tlen);
        free(types);
        free(moff);
        free(mlen);
        free(m.ht);
        hr_buf_free(&spelled);
    }
fail:
    free(off);
    free(len);
    free(pool);
    hr_buf_free(&file);
    return t;
}
