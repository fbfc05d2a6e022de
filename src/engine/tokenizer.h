/* Tokenizers for the embedded engine: SentencePiece-style (GGUF model
 * "llama"), byte-level BPE (GGUF model "gpt2", and tiktoken rank files such as
 * Llama 3's tokenizer.model) and WordPiece (GGUF model "bert").
 *
 * A hr_tokenizer is read-only after creation and may be shared by any number
 * of threads; all per-call state lives on the caller's side (the output array,
 * the hr_detok streaming state).
 *
 * Token text conventions (the same as GGUF's tokenizer.ggml.tokens):
 *   - spm:  U+2581 stands for a space; byte tokens are spelled "<0xNN>".
 *   - bpe:  GPT-2 byte-to-unicode spelling ("Ġ" = space, "Ċ" = newline).
 *   - wpm:  "##" prefixes a word continuation.
 * hr_tokenizer_token_bytes() turns any of them into the raw bytes a model
 * "means", which is what a detokenizer prints.
 *
 * Exactness: encode() reproduces llama.cpp (and so Hugging Face) ids on the
 * llama.cpp test vectors for llama-spm, phi-3, gpt-2, llama-bpe, mpt,
 * starcoder, refact, falcon, deepseek-coder, deepseek-llm and bert-bge
 * (tests/unit/engine/test_tokenizer_vocab.c). Known differences: wpm folds
 * accents only for Latin scripts; spm splits invalid UTF-8 byte by byte.
 *
 * Errors: constructors return NULL and write a one-line message into err
 * (when err != NULL). Out of memory aborts (project policy, core/buf.h).
 * Limits: at most HR_TOK_MAX_VOCAB tokens, HR_TOK_MAX_TOKEN_BYTES bytes per
 * token; encode works on any input length in O(n log n). */
#ifndef HR_ENGINE_TOKENIZER_H
#define HR_ENGINE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define HR_TOK_MAX_VOCAB (1 << 22)
#define HR_TOK_MAX_TOKEN_BYTES 1024

typedef struct hr_tokenizer hr_tokenizer;
/* GGUF reader handle, defined by engine/gguf.h. */
typedef struct hr_gguf hr_gguf;

/* Vocabulary families (GGUF tokenizer.ggml.model). Values never renumbered. */
typedef enum hr_tok_kind {
    HR_TOK_KIND_SPM = 1, /* "llama": score-based merges + byte fallback */
    HR_TOK_KIND_BPE = 2, /* "gpt2": byte-level BPE, merges by rank */
    HR_TOK_KIND_WPM = 3, /* "bert": WordPiece, greedy longest match */
} hr_tok_kind;

/* Token types: GGUF tokenizer.ggml.token_type values (llama.cpp's). */
typedef enum hr_tok_type {
    HR_TOK_TYPE_UNDEFINED = 0,
    HR_TOK_TYPE_NORMAL = 1,
    HR_TOK_TYPE_UNKNOWN = 2,
    HR_TOK_TYPE_CONTROL = 3,      /* <s>, <|im_end|>: never produced from user text */
    HR_TOK_TYPE_USER_DEFINED = 4, /* added tokens: matched whole, like control */
    HR_TOK_TYPE_UNUSED = 5,
    HR_TOK_TYPE_BYTE = 6, /* spm byte fallback "<0xNN>" */
} hr_tok_type;

/* encode() flags */
#define HR_TOK_ADD_BOS 1u       /* prepend BOS (when the vocab has one) */
#define HR_TOK_PARSE_SPECIAL 2u /* match control (and unknown-type) token
                                   texts as whole tokens: template text only,
                                   never user text. USER_DEFINED tokens are
                                   plain added words and always match whole,
                                   as in llama.cpp (its test vectors need it). */
#define HR_TOK_ADD_EOS 4u       /* append EOS (bert: SEP) */

/* ---- building ---------------------------------------------------------- */

/* In-memory vocabulary, the shape of GGUF's tokenizer.ggml.* keys. Only used
 * during hr_tokenizer_create(); everything is copied. */
typedef struct hr_tok_vocab_desc {
    const char *model;         /* "llama" | "gpt2" | "bert" */
    const char *pre;           /* tokenizer.ggml.pre ("llama-bpe", "gpt-2",
                                  ...); NULL or "default" = the family default */
    int32_t n_tokens;
    const char *const *tokens; /* n_tokens strings */
    const size_t *token_lens;  /* byte lengths; NULL = strlen() each */
    const float *scores;       /* spm: merge scores; may be NULL otherwise */
    const int32_t *types;      /* hr_tok_type per token; NULL = all NORMAL */
    int32_t n_merges;          /* bpe: "left right" strings, best first */
    const char *const *merges;
    const size_t *merge_lens;  /* NULL = strlen() each */
    int32_t bos, eos, eot, unk, pad, sep, cls; /* -1 = none */
    int add_bos;               /* default for callers (hr_tokenizer_add_bos) */
    int add_space_prefix;      /* spm: prepend U+2581 (llama default 1); -1 = default */
} hr_tok_vocab_desc;

/* A desc with every id -1, add_space_prefix -1, rest zero. */
hr_tok_vocab_desc hr_tok_vocab_desc_default(void);

hr_tokenizer *hr_tokenizer_create(const hr_tok_vocab_desc *d, char *err, size_t errlen);

/* Reads tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,
 * bos_token_id,eos_token_id,eot_token_id,unknown_token_id,padding_token_id,
 * seperator_token_id,add_bos_token,add_space_prefix} from an open GGUF. The
 * tokenizer does not keep a reference to g. */
hr_tokenizer *hr_tokenizer_from_gguf(const hr_gguf *g, char *err, size_t errlen);

/* Reads a tiktoken rank file ("base64-token rank" per line, ranks 0..n-1 in
 * order, e.g. Llama 3's tokenizer.model: 128000 lines) and builds a byte-level
 * BPE with the Llama 3 pre-split ("llama-bpe"); merges are derived from the
 * ranks. n_special special tokens follow the ranks (Llama 3 uses 256):
 * ids n..n+255 get the Llama 3.1 names (<|begin_of_text|>, <|end_of_text|>,
 * <|start_header_id|>, <|eot_id|>, <|reserved_special_token_K|> ...), except
 * that when hermes3 != 0 the Hermes 3 ChatML tokens replace two reserved ones
 * (<|im_start|> = n+39, <|im_end|> = n+40); see tokenizer_tiktoken.c for
 * the table. BOS = <|begin_of_text|>;
 * EOS = <|im_end|> for hermes3, <|end_of_text|> otherwise; EOT = <|eot_id|>
 * (hermes3: <|im_end|>). n_special is 0 or 256. */
hr_tokenizer *hr_tokenizer_from_tiktoken(const char *path, int n_special, int hermes3,
                                         char *err, size_t errlen);

/* NULL is a no-op. */
void hr_tokenizer_free(hr_tokenizer *t);

/* ---- encoding ---------------------------------------------------------- */

/* Tokenizes text[0..len) (UTF-8; invalid bytes go through byte tokens or
 * <unk>). Returns the number of ids. When more than max_out ids would be
 * produced, nothing useful is left in out and the return is -(needed count):
 * call again with a big enough array. */
int hr_tokenizer_encode(const hr_tokenizer *t, const char *text, size_t len, unsigned flags,
                        int32_t *out, int max_out);

/* ---- vocabulary queries -------------------------------------------------- */

hr_tok_kind hr_tokenizer_kind(const hr_tokenizer *t);
int32_t hr_tokenizer_n_vocab(const hr_tokenizer *t);
int32_t hr_tokenizer_bos(const hr_tokenizer *t); /* -1 = none */
int32_t hr_tokenizer_eos(const hr_tokenizer *t);
int32_t hr_tokenizer_eot(const hr_tokenizer *t); /* end of turn; -1 = none */
/* 1 if id ends generation (eos, eot, or another end-of-generation control
 * token such as <|eom_id|>, <|end_of_text|>, <|im_end|>). */
int hr_tokenizer_is_eog(const hr_tokenizer *t, int32_t id);
/* Whether the vocab wants BOS prepended by default (GGUF add_bos_token). */
int hr_tokenizer_add_bos(const hr_tokenizer *t);
hr_tok_type hr_tokenizer_token_type(const hr_tokenizer *t, int32_t id); /* UNDEFINED if out of range */
/* Id of the token spelled exactly text[0..len) (GGUF spelling), or -1. Finds
 * special tokens by name: "<|im_end|>". */
int32_t hr_tokenizer_find(const hr_tokenizer *t, const char *text, size_t len);
/* Token text in GGUF spelling (not NUL-terminated); NULL if id out of range. */
const char *hr_tokenizer_token_text(const hr_tokenizer *t, int32_t id, size_t *len);
/* Raw bytes of a token (byte tokens and U+2581 / GPT-2 byte spelling
 * decoded). Writes at most cap bytes to out; returns the full length (like
 * snprintf, no NUL). Control tokens give their text (e.g. "<|im_end|>"). */
size_t hr_tokenizer_token_bytes(const hr_tokenizer *t, int32_t id, char *out, size_t cap);

/* ---- GGUF metadata for the synthesizer --------------------------------- */

/* For writing a GGUF from a BPE tokenizer (e.g. one from a tiktoken file):
 * tokens = hr_tokenizer_token_text(0..n_vocab-1), token_type =
 * hr_tokenizer_token_type(), merges = hr_tokenizer_merge(0..n_merges-1),
 * model "gpt2", pre = hr_tokenizer_pre(). Merge i is "left right" in GGUF
 * spelling (not NUL-terminated), rank order; NULL if out of range. */
int32_t hr_tokenizer_n_merges(const hr_tokenizer *t);
const char *hr_tokenizer_merge(const hr_tokenizer *t, int32_t i, size_t *len);
const char *hr_tokenizer_pre(const hr_tokenizer *t); /* "llama-bpe", "default" ... */
/* Writes a byte-level BPE tokenizer's GGUF metadata (model "gpt2", pre,
 * tokens, token types, merges, bos/eos/eot, add_bos) into w. The token list
 * is padded with "[PADi]" tokens of type unused up to n_vocab (>= the
 * tokenizer's own size; pass 0 for no padding). -1 when n_vocab is too small. */
struct hr_gguf_writer;
int hr_tokenizer_write_gguf(const hr_tokenizer *t, struct hr_gguf_writer *w, int32_t n_vocab);

/* ---- streaming detokenizer ---------------------------------------------- */

/* Turns a stream of ids into text that is always whole UTF-8: bytes of an
 * incomplete sequence are held back until the next token completes them (at
 * most 3 bytes). spm: the leading space of the very first token is dropped
 * when the vocab adds a space prefix (as llama.cpp does). Control tokens emit
 * nothing unless show_special. Caller-owned; no allocation. */
typedef struct hr_detok {
    const hr_tokenizer *t;
    int show_special;
    int started;        /* a non-control token has been seen */
    unsigned char pending[8];
    int n_pending;
} hr_detok;

void hr_detok_init(hr_detok *d, const hr_tokenizer *t, int show_special);
/* Writes the text that id completes to out and returns its byte count.
 * Invalid bytes come out as U+FFFD, so with cap >= HR_DETOK_MIN_CAP nothing
 * is ever truncated (a smaller cap cuts at a character boundary). */
#define HR_DETOK_MIN_CAP (3 * (HR_TOK_MAX_TOKEN_BYTES + 8))
size_t hr_detok_push(hr_detok *d, int32_t id, char *out, size_t cap);
/* Flushes held-back bytes of an incomplete sequence as U+FFFD each (end of
 * stream). Returns the byte count written (cap >= 12 suffices). */
size_t hr_detok_flush(hr_detok *d, char *out, size_t cap);

#endif
