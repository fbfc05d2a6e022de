/* Embedded inference engine: the one header the rest of the project uses.
 *
 *   hr_model    weights of a llama-architecture GGUF (Llama 2, Llama 3/3.1,
 *               SmolLM2), read in place from the mmap; read-only after load,
 *               shared by any number of contexts and threads.
 *   hr_ctx      per-model working state: a KV cache with n_seq slots
 *               (sequences), scratch buffers, a thread pool. One thread calls
 *               a given hr_ctx at a time.
 *   hr_sampler  per-sequence sampling state (penalty history, RNG).
 *   chat templates: render a conversation to the prompt a model expects.
 *
 * Continuous batching: hr_ctx_decode() takes a batch of {seq, token, pos}
 * entries from any mix of sequences (a long prompt of one, single decode
 * steps of others) and computes them in one forward pass; logits come back
 * for the entries that asked for them.
 *
 * Errors: functions that can fail return NULL / -1 and write a one-line
 * message into err (when err != NULL). Out of memory aborts (core/buf.h). */
#ifndef HR_ENGINE_ENGINE_H
#define HR_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

/* ---- model ---------------------------------------------------------------- */

typedef struct hr_model hr_model;

typedef struct hr_model_info {
    char arch[32];       /* "llama" */
    char name[128];      /* general.name, or "" */
    int n_vocab;
    int n_embd;          /* model width */
    int n_layer;
    int n_head;
    int n_head_kv;       /* < n_head: grouped-query attention */
    int head_dim;        /* n_embd / n_head */
    int n_ff;            /* feed-forward width */
    int n_ctx_train;     /* context length from the file */
    float rms_eps;
    float rope_base;
    bool rope_scaled;    /* Llama 3.1 rope_freqs present */
    bool tied_output;    /* output projection is token_embd */
    int64_t n_params;    /* elements in all tensors */
    size_t weight_bytes; /* bytes of tensor data */
    int main_type;       /* the most common tensor type (hr_type id) */
    bool weights_copied; /* weights live in an anonymous (huge page) copy, not the file mapping */
} hr_model_info;

/* Loads a model. Refuses architectures other than "llama" by name, missing
 * or mis-shaped tensors, and tensor types the kernels cannot compute. */
hr_model *hr_model_load(const char *path, char *err, size_t errsz);

/* Load options (hr_model_load uses the defaults). */
typedef struct hr_model_params {
    /* Where generation reads the weights from. Generation streams every
     * weight once per token, and from 2 MiB transparent huge pages that runs
     * ~20% faster than from the file mapping's 4 KB page-cache pages. So the
     * loader can copy the tensor data into an anonymous mapping advised
     * MADV_HUGEPAGE, dropping the file pages behind the copy (RSS holds the
     * weights once; load reads the file once more).
     *   -1 (default) auto: copy when THP is enabled ("always" or "madvise" in
     *      /sys/kernel/mm/transparent_hugepage/enabled) and weights >= 32 MiB;
     *    0 never: read in place from the mmap;
     *    1 always copy (huge pages when THP is enabled).
     * A failed anonymous mapping falls back to the file mapping. See
     * hr_model_info.weights_copied. */
    int hugepages;
} hr_model_params;
hr_model_params hr_model_default_params(void);
/* hr_model_load with options; p may be NULL (defaults). */
hr_model *hr_model_load_ex(const char *path, const hr_model_params *p, char *err, size_t errsz);
/* Same from an opened file; takes ownership of g (closed by
 * hr_model_free, or on failure). */
hr_model *hr_model_from_gguf(hr_gguf *g, char *err, size_t errsz);
void hr_model_free(hr_model *m); /* NULL ok; all contexts must be freed first */
const hr_model_info *hr_model_get_info(const hr_model *m);
const hr_gguf *hr_model_gguf(const hr_model *m);
/* Touches every weight page (so timing excludes page faults); progress(ud,
 * fraction) is called along the way if not NULL. */
void hr_model_prefault(const hr_model *m, void (*progress)(void *ud, double frac), void *ud);

/* ---- context (KV cache + compute) ------------------------------------------ */

typedef struct hr_ctx hr_ctx;

typedef struct hr_ctx_params {
    int n_ctx;     /* positions per sequence; 0 = min(n_ctx_train, 4096) */
    int n_seq;     /* sequence slots (parallel requests); default 1 */
    int n_batch;   /* max entries per hr_ctx_decode call; default 512 */
    int n_threads; /* compute threads including the caller; 0 = online CPUs */
    int kv_type;   /* KV cache element type: HR_TYPE_F32 (0, default) or HR_TYPE_F16 (1,
                      half the memory; ~1e-3 relative error in attention) */
} hr_ctx_params;

hr_ctx_params hr_ctx_default_params(void);
/* Limits: n_ctx <= 1M, n_seq <= 1024, n_batch <= 8192, KV cache <= 64 GiB.
 * The KV cache is allocated up front but its pages are only touched as
 * positions fill, so resident memory follows actual use. */
hr_ctx *hr_ctx_create(const hr_model *m, const hr_ctx_params *p, char *err, size_t errsz);
void hr_ctx_free(hr_ctx *c); /* NULL ok */
int hr_ctx_n_ctx(const hr_ctx *c);
/* KV cache memory in bytes (all sequences). */
size_t hr_ctx_kv_bytes(const hr_ctx *c);

typedef struct hr_batch_entry {
    int32_t token;
    int32_t pos;  /* position in its sequence, 0-based */
    int32_t seq;  /* sequence slot, < n_seq */
    bool logits;  /* compute logits for this entry */
} hr_batch_entry;

/* Runs the model over n entries (1 <= n <= n_batch). Within one call the
 * entries of a sequence must have consecutive positions, the first at most
 * the sequence's current length (positions past it are overwritten, so a
 * sequence can be rewound with a smaller pos). Each entry attends to
 * positions 0..pos of its own sequence. Returns the number of logits rows
 * produced, or -1 on a bad batch (nothing is computed then). */
int hr_ctx_decode(hr_ctx *c, const hr_batch_entry *batch, int n, char *err, size_t errsz);
/* Logits (n_vocab floats) of the i-th entry that asked for them in the last
 * decode call; valid until the next call. NULL if i is out of range. */
const float *hr_ctx_logits(const hr_ctx *c, int i);
/* Runs fn(ud, i) for every i in [0, n) on the context's threads (the caller
 * included), items shared out dynamically; returns when all are done. For
 * per-sequence work between decode calls (sampling): fn must not call into c
 * and items must not depend on each other. Same caller rule as decode. */
void hr_ctx_parallel(hr_ctx *c, int n, void (*fn)(void *ud, int i), void *ud);
/* Current length (filled positions) of a sequence. */
int hr_ctx_seq_len(const hr_ctx *c, int seq);
/* Forgets positions >= n_keep of a sequence (0 clears it). */
void hr_ctx_seq_truncate(hr_ctx *c, int seq, int n_keep);

/* ---- sampling --------------------------------------------------------------- */

typedef struct hr_sampler hr_sampler;

typedef struct hr_sampler_params {
    float temperature;        /* <= 0: greedy (argmax) */
    int top_k;                /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off */
    float repeat_penalty;     /* 1: off; divides positive logits of seen tokens */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int penalty_last_n;       /* window of recent tokens for penalties; default 64 */
    uint64_t seed;            /* same seed + same logits -> same tokens */
    int n_logprobs;           /* top alternatives to report, 0..20 */
    /* OpenAI logit_bias: added to a token's logit before everything else;
     * -100 or less bans the token. Copied by hr_sampler_create (ids outside
     * the vocabulary are ignored); at most HR_MAX_LOGIT_BIAS entries. */
    const struct hr_logit_bias *logit_bias;
    int n_logit_bias;
} hr_sampler_params;

#define HR_MAX_LOGIT_BIAS 1024
typedef struct hr_logit_bias {
    int32_t token;
    float bias;
} hr_logit_bias;

/* Optional token mask (grammar-constrained decoding): called before sampling
 * with the candidate logits; set logits[i] = -INFINITY for forbidden ids.
 * Return 0, or -1 if nothing is allowed (sampling then fails with -1). */
typedef int (*hr_token_mask_fn)(void *ud, float *logits, int n_vocab);

typedef struct hr_token_logprob {
    int32_t token;
    float logprob;
} hr_token_logprob;

typedef struct hr_sample_result {
    int32_t token;
    float logprob;                  /* of the chosen token, under the model's
                                       distribution after penalties (T=1) */
    int n_top;                      /* <= n_logprobs */
    hr_token_logprob top[20];       /* best alternatives, best first */
} hr_sample_result;

hr_sampler_params hr_sampler_default_params(void);
hr_sampler *hr_sampler_create(const hr_sampler_params *p, int n_vocab);
void hr_sampler_free(hr_sampler *s); /* NULL ok */
void hr_sampler_set_mask(hr_sampler *s, hr_token_mask_fn fn, void *ud);
/* Records a token in the penalty history (prompt tokens too, if wanted). */
void hr_sampler_accept(hr_sampler *s, int32_t token);
/* Picks a token from logits (n_vocab floats, not modified); the chosen token
 * is accepted automatically. Returns the token id, or -1 if the mask allowed
 * nothing. res may be NULL, which skips the softmax over the whole vocabulary
 * that logprobs need. */
int32_t hr_sampler_sample(hr_sampler *s, const float *logits, hr_sample_result *res);
void hr_sampler_reset(hr_sampler *s); /* clears history, reseeds */

/* Stop strings: feed generated text piece by piece; reports how much of the
 * text so far is safe to emit (cannot be the start of a stop string) and
 * whether a stop string completed. At most 8 stops, each <= 256 bytes. */
typedef struct hr_stop {
    char stops[8][257];
    int n_stops;
    char *held;     /* text not yet released */
    size_t held_len, held_cap;
    bool hit;
} hr_stop;
void hr_stop_init(hr_stop *st, const char *const *stops, int n);
void hr_stop_free(hr_stop *st);
/* Appends text; writes the bytes now safe to emit to *out and *out_len (pointer
 * into st, valid until the next call). Returns true once a stop string has
 * matched (then out holds the text before it and generation should end). */
bool hr_stop_push(hr_stop *st, const char *text, size_t len, const char **out, size_t *out_len);
/* At the end of generation: whatever is still held is released. */
void hr_stop_flush(hr_stop *st, const char **out, size_t *out_len);

/* ---- chat templates ----------------------------------------------------------- */

typedef enum hr_chat_template {
    HR_TEMPLATE_UNKNOWN = 0,
    HR_TEMPLATE_CHATML = 1, /* <|im_start|>role\n...<|im_end|>\n (Hermes 3, SmolLM2) */
    HR_TEMPLATE_LLAMA3 = 2, /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
} hr_chat_template;

typedef struct hr_chat_msg {
    const char *role;    /* "system" | "user" | "assistant" | "tool" */
    const char *content;
} hr_chat_msg;

/* By name: "chatml", "hermes", "smollm2" -> CHATML; "llama3", "llama-3" -> LLAMA3. */
hr_chat_template hr_chat_template_by_name(const char *name);
/* Detects from a Jinja template's text (tokenizer.chat_template) by content. */
hr_chat_template hr_chat_template_detect(const char *jinja);
/* From a model's tokenizer.chat_template (UNKNOWN if absent/unrecognized). */
hr_chat_template hr_chat_template_from_model(const hr_model *m);
const char *hr_chat_template_name(hr_chat_template t);
/* Renders messages (+ the assistant header when add_generation_prompt).
 * Returns a malloc'd NUL-terminated string (caller frees), NULL for
 * UNKNOWN. The BOS token is not included (the tokenizer adds it). */
char *hr_chat_template_render(hr_chat_template t, const hr_chat_msg *msgs, int n, bool add_generation_prompt);
/* The text that ends an assistant turn ("<|im_end|>", "<|eot_id|>"). */
const char *hr_chat_template_eot(hr_chat_template t);

/* ---- sentence embeddings (BERT family: bge, MiniLM, ...) ---- */
typedef struct hr_embedder hr_embedder;
/* Loads a GGUF with general.architecture "bert" (WordPiece vocab). NULL with err on failure
 * (wrong architecture, missing tensor, bad shape: a clear message, never a crash). */
hr_embedder *hr_embedder_load(const char *path, char *err, size_t errlen);
int hr_embedder_dim(const hr_embedder *e);      /* embedding length (hidden size) */
int hr_embedder_max_tokens(const hr_embedder *e); /* context length incl. [CLS]/[SEP] */
/* Embeds UTF-8 text into out[dim]: [CLS] text [SEP] (truncated to max_tokens), the pooling the GGUF
 * names (bert.pooling_type: 1 mean, 2 CLS; default CLS), then L2-normalised. Single-threaded,
 * thread-safe (weights read-only, scratch per call). Returns the number of tokens used, -1 with err. */
int hr_embedder_embed(const hr_embedder *e, const char *text, size_t len, float *out, char *err, size_t errlen);
void hr_embedder_free(hr_embedder *e);

/* ---- synthetic models ------------------------------------------------------------- */

typedef struct hr_synth_params {
    const char *shape;          /* "smollm2-135m" | "llama-3.2-1b" | "llama-3.1-8b" | "tiny" | "tiny-k";
                                   BERT encoders: "bge-small" | "bert-tiny" (need a WordPiece vocab_gguf) */
    const char *type;           /* f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m */
    const char *vocab_gguf;     /* copy tokenizer.* keys from this GGUF (padded to the shape's vocab) */
    const char *vocab_tiktoken; /* or build from tiktoken ranks + 256 Hermes 3 specials */
    const char *chat_template;  /* optional tokenizer.chat_template */
    uint64_t seed;
    void (*progress)(void *ud, double frac); /* optional, called per tensor */
    void *progress_ud;
} hr_synth_params;

hr_synth_params hr_synth_default_params(void);
/* Writes a random-weight llama GGUF with the real shape (see synth.c for the
 * weight scaling and the _m type mix). Without a vocab source a small
 * SentencePiece-style vocab is generated. The BERT shapes write a "bert"
 * GGUF (as llama.cpp's converter names it) whose vocabulary size is the
 * vocab_gguf's. Returns 0 or -1 with err. */
int hr_synth_write(const hr_synth_params *p, const char *path, char *err, size_t errsz);
/* The default vocab of a shape: "gguf:<path under the shared dir>" or
 * "tiktoken:<path>", NULL for test shapes. */
const char *hr_synth_shape_vocab(const char *shape);

#endif
