/* Router features: a request turned into one sparse row for the classifier.
 *
 * Layout of a row (ncols = dim + HR_FEAT_N_DENSE + emb_dim columns):
 *   [0, dim)                 hashed text n-grams of the last user message
 *                            (all message texts joined when there is none),
 *                            term counts L2-normalised to unit length;
 *   [dim, dim+N_DENSE)       dense extras, raw values (see hr_feat_dense);
 *   [dim+N_DENSE, +emb_dim)  optional: the sentence embedding of the same
 *                            text by a BERT-family model (engine.h
 *                            hr_embedder: [CLS] pooling or mean, unit length),
 *                            every value present (also zeros).
 *
 * Text normalisation before hashing: ASCII letters lowercased, every run of
 * whitespace (space, \t, \n, \r, \f, \v, U+3000) becomes one space; at most
 * HR_FEATURES_MAX_TEXT code points (the start of the text) are hashed, so the
 * work is bounded whatever the request size. Dense extras see the whole text.
 *
 * Hashing (a file format: trained models depend on it, never change it
 * without bumping HR_FEATURES_VERSION):
 *   h = FNV-1a 32-bit over the bytes: one kind byte ('c' char n-gram,
 *   'w' word n-gram), then for a char n-gram each code point as 4 bytes
 *   little-endian; for a word n-gram the words' bytes separated by 0x20;
 *   index = h % dim.
 *   Char n-grams: every window of n code points, n in [char_min, char_max].
 *   Words: maximal runs of [a-z0-9] (after lowercasing); n-grams of
 *   1..word_max consecutive words.
 *
 * Costs: O(text) time, one scratch array of dim floats per hr_feature_vec
 * (reused between calls). A hr_feature_vec belongs to one thread at a time;
 * the params are read-only and may be shared. */
#ifndef HR_ROUTER_FEATURES_H
#define HR_ROUTER_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/chat.h"

#define HR_FEATURES_VERSION 1
#define HR_FEATURES_MAX_TEXT 8192   /* code points hashed per request */
#define HR_FEATURES_MAX_DIM (1 << 22)

/* Dense extras, appended after the hashed block. Append only: the order is
 * part of the model format. Counts (chars, qmarks, fences, turns,
 * context_chars, max_tokens, lines, words) are stored as log(1 + n); flags
 * are 0/1; shares are in [0, 1]. */
typedef enum {
    HR_FEAT_CHARS = 0,        /* last user message length in code points */
    HR_FEAT_QMARKS,           /* count of '?' and '？' in it */
    HR_FEAT_FENCES,           /* count of ``` in it */
    HR_FEAT_TURNS,            /* number of messages */
    HR_FEAT_CONTEXT_CHARS,    /* total code points over all messages */
    HR_FEAT_MAX_TOKENS,       /* max_tokens; left out (missing) when absent */
    HR_FEAT_TOOLS,            /* 1 when tools are given */
    HR_FEAT_RESPONSE_FORMAT,  /* 1 when a non-text response_format is asked */
    HR_FEAT_CODE_SHARE,       /* fraction of non-blank lines that look like code */
    HR_FEAT_CJK_SHARE,        /* CJK code points / non-space code points */
    HR_FEAT_LINES,            /* number of lines */
    HR_FEAT_WORDS,            /* number of ASCII words */
    HR_FEAT_DIGIT_SHARE,      /* ASCII digits / non-space code points */
    HR_FEAT_N_DENSE
} hr_feat_dense;

struct hr_embedder; /* engine/engine.h */
struct hr_buf;      /* core/buf.h */

#define HR_FEATURES_MAX_EMB 4096

typedef struct hr_features_params {
    int dim;        /* hashed block size, 16 .. HR_FEATURES_MAX_DIM (default 4096) */
    int char_min;   /* char n-gram sizes (default 1..3), 1 <= min <= max <= 5 */
    int char_max;
    int word_max;   /* word n-grams 1..word_max (default 2), 0 = no words, <= 3 */
    int emb_dim;    /* embedding block size, 0 (none, the default) .. HR_FEATURES_MAX_EMB */
    /* the model computing it when emb_dim > 0 (not owned; not part of the
     * format: the classifier sidecar names the file) */
    const struct hr_embedder *embedder;
} hr_features_params;

hr_features_params hr_features_default_params(void);
/* 0 when p is usable, else -1 with a message naming the bad field. */
int hr_features_params_check(const hr_features_params *p, char *err, size_t errlen);
/* Number of columns of a row: dim + HR_FEAT_N_DENSE + emb_dim. */
size_t hr_features_ncols(const hr_features_params *p);
/* Name of a dense extra ("chars", "qmarks", ...); "?" when out of range. */
const char *hr_features_dense_name(int k);

/* A sparse row: idx strictly increasing, val[i] the value of column idx[i].
 * Zero-initialise (or hr_feature_vec_init), reuse across calls, then free. */
typedef struct hr_feature_vec {
    uint32_t *idx;
    float *val;
    size_t n;
    size_t cap;
    float *scratch;     /* dim floats, all zero between calls */
    size_t scratch_dim;
    uint32_t *cp;       /* normalised code points of the hashed text */
    size_t cp_cap;
    float *emb;         /* the embedding being added */
    size_t emb_cap;
} hr_feature_vec;

void hr_feature_vec_init(hr_feature_vec *v);
void hr_feature_vec_free(hr_feature_vec *v);

/* Fills out with the row for req (replacing what it held). Returns 0, or -1
 * when p is invalid or the embedding fails (emb_dim > 0 without an embedder,
 * or the model's error). */
int hr_features_extract(const hr_features_params *p, const hr_chat_request *req, hr_feature_vec *out);
/* The same with the embedding given (emb_dim floats, e.g. computed in a batch
 * by hr_features_embed_text); emb NULL: computed with p->embedder. */
int hr_features_extract_with(const hr_features_params *p, const hr_chat_request *req, const float *emb,
                             hr_feature_vec *out);
/* The text a request's features look at (last user message, else all messages
 * joined by newlines): *len bytes at the returned pointer, which points into
 * req or into joined (an initialised buffer the caller frees). */
const char *hr_features_text(const hr_chat_request *req, struct hr_buf *joined, size_t *len, size_t *chars);
/* Embeds text with p->embedder into out[p->emb_dim]. 0, or -1 with err. */
int hr_features_embed_text(const hr_features_params *p, const char *text, size_t len, float *out, char *err,
                           size_t errlen);

/* Value of column col in v (0 when absent). For tests and explanations. */
float hr_feature_vec_get(const hr_feature_vec *v, uint32_t col);

#endif
