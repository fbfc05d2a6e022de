/* Router features: a request turned into one sparse row for the classifier.
 *
 * Layout of a row (ncols = dim + HR_FEAT_N_DENSE columns):
 *   [0, dim)                 hashed text n-grams of the last user message
 *                            (all message texts joined when there is none),
 *                            term counts L2-normalised to unit length;
 *   [dim, dim+N_DENSE)       dense extras, raw values (see hr_feat_dense).
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

typedef struct hr_features_params {
    int dim;        /* hashed block size, 16 .. HR_FEATURES_MAX_DIM (default 4096) */
    int char_min;   /* char n-gram sizes (default 1..3), 1 <= min <= max <= 5 */
    int char_max;
    int word_max;   /* word n-grams 1..word_max (default 2), 0 = no words, <= 3 */
} hr_features_params;

hr_features_params hr_features_default_params(void);
/* 0 when p is usable, else -1 with a message naming the bad field. */
int hr_features_params_check(const hr_features_params *p, char *err, size_t errlen);
/* Number of columns of a row: dim + HR_FEAT_N_DENSE. */
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
} hr_feature_vec;

void hr_feature_vec_init(hr_feature_vec *v);
void hr_feature_vec_free(hr_feature_vec *v);

/* Fills out with the row for req (replacing what it held). Returns 0, or -1
 * when p is invalid. */
int hr_features_extract(const hr_features_params *p, const hr_chat_request *req, hr_feature_vec *out);

/* Value of column col in v (0 when absent). For tests and explanations. */
float hr_feature_vec_get(const hr_feature_vec *v, uint32_t col);

#endif
