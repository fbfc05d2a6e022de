/* Shared internals of the tokenizer files (tokenizer*.c). Not a public API. */
#ifndef HR_ENGINE_TOKENIZER_INTERNAL_H
#define HR_ENGINE_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "engine/tokenizer.h"

#define HR_TOK_MAX_REGEX 8

/* Open-addressing hash: token text -> id, and (left id, right id) -> merge. */
typedef struct hr_tok_merge {
    uint64_t key;   /* (left << 32) | right, both as uint32 */
    int32_t rank;   /* merge index, lower merges first */
    int32_t result; /* id of left+right, -1 if not in the vocab */
} hr_tok_merge;

struct hr_tokenizer {
    hr_tok_kind kind;
    char *pre;
    int32_t n_vocab;
    char *pool;        /* all token texts, back to back, NUL after each */
    uint32_t *off;     /* token i = pool + off[i], len[i] bytes */
    uint32_t *len;
    float *scores;     /* spm */
    uint8_t *types;
    uint32_t *tok_ht;  /* id + 1, 0 = empty */
    size_t tok_mask;

    int32_t n_merges;
    char *merge_pool;  /* "left right" texts, for hr_tokenizer_merge() */
    uint32_t *merge_off;
    uint32_t *merge_len;
    hr_tok_merge *merge_ht;
    size_t merge_mask;

    int32_t bos, eos, eot, unk, pad, sep, cls;
    int add_bos;
    int add_space_prefix;
    int ignore_merges;           /* bpe: a whole pre-split word in the vocab wins */
    int32_t eog[16];
    int n_eog;

    int32_t *specials;           /* control/user-defined/unknown ids, longest text first */
    int n_specials;

    pcre2_code *re[HR_TOK_MAX_REGEX];
    int n_re;

    int32_t byte_tok[256];       /* spm: "<0xNN>"; bpe: the byte's unicode char; -1 */
    int max_token_len;           /* bytes, wpm */
};

/* Growable id list (abort on OOM). */
typedef struct hr_tok_vec {
    int32_t *v;
    size_t n, cap;
} hr_tok_vec;

void hr_tok_vec_push(hr_tok_vec *a, int32_t id);

int32_t hr_tok_lookup(const hr_tokenizer *t, const char *s, size_t n);
const hr_tok_merge *hr_tok_merge_find(const hr_tokenizer *t, int32_t l, int32_t r);

/* Per-family encoders of one raw fragment (no special tokens inside). */
void hr_tok_spm_encode(const hr_tokenizer *t, const char *s, size_t n, int space_prefix,
                       hr_tok_vec *out);
void hr_tok_bpe_encode(const hr_tokenizer *t, const char *s, size_t n, hr_tok_vec *out);
void hr_tok_wpm_encode(const hr_tokenizer *t, const char *s, size_t n, hr_tok_vec *out);

/* bpe setup: compiles the pre-split regexes for t->pre; 0 or -1 + err. */
int hr_tok_bpe_setup(hr_tokenizer *t, char *err, size_t errlen);
/* GPT-2 byte <-> unicode code point mapping. */
uint32_t hr_tok_byte_to_cp(uint8_t b);
int hr_tok_cp_to_byte(uint32_t cp); /* -1 if cp is not a mapped byte */

/* Binary heap of candidate merges, shared by spm and bpe. */
typedef struct hr_tok_bigram {
    int32_t left, right; /* symbol indices */
    float score;         /* spm: higher first; bpe: -rank */
    uint32_t size;       /* byte length of the merged text, to detect stale entries */
    int32_t id;          /* merged token id */
} hr_tok_bigram;

typedef struct hr_tok_heap {
    hr_tok_bigram *a;
    size_t n, cap;
} hr_tok_heap;

void hr_tok_heap_push(hr_tok_heap *h, hr_tok_bigram b);
hr_tok_bigram hr_tok_heap_pop(hr_tok_heap *h);

#endif
