/* Grammar-constrained decoding: JSON / JSON Schema and Hermes tool calls.
 *
 *   hr_grammar        a compiled grammar (JSON Schema subset, any JSON object,
 *                     or the Hermes <tool_call> format). Read-only after
 *                     creation; may be shared by any number of sequences and
 *                     threads.
 *   hr_grammar_vocab  an index of a tokenizer's vocabulary (a byte trie of the
 *                     token texts plus precomputed token classes). Build once
 *                     per model (about 250 ms and 10 MB for Llama 3's 128K
 *                     vocab); read-only, shareable. Must not outlive its
 *                     tokenizer.
 *   hr_grammar_state  one sequence's position in the grammar, a per-sequence
 *                     mask cache (16 masks, 16 KB each for 128K tokens) and
 *                     scratch. One thread at a time.
 *
 * Use per generated token (the sampler's mask hook does the first step):
 *   hr_sampler_set_mask(s, hr_grammar_mask_fn, state);   once
 *   id = hr_sampler_sample(s, logits, NULL);             masks, then samples
 *   hr_grammar_accept(state, id);                        advance the grammar
 *   stop when hr_grammar_ended(state) (an end-of-generation token was taken)
 *   or when max_tokens is reached: the output is then complete already.
 *
 * The grammar works on BYTES: it is a pushdown automaton (a set of stacks,
 * one per live anyOf alternative) that accepts exactly the byte strings that
 * are valid JSON (RFC 8259, UTF-8) and valid against the schema. A token is
 * allowed when the automaton survives all of its bytes (hr_tokenizer_
 * token_bytes); end-of-generation tokens are allowed only when the value is
 * complete. CONTROL / UNUSED / UNKNOWN tokens are never allowed otherwise.
 *
 * Supported JSON Schema subset (the same keyword list as the gateway's
 * check, src/hermes): type (name or list), properties, required,
 * additionalProperties (bool or schema; default true, as in JSON Schema),
 * items, minItems, maxItems, enum, const, anyOf, $ref to "#/$defs/<name>" or
 * "#/definitions/<name>", $defs, definitions; annotations ignored (title,
 * description, default, examples, $schema, $id, $comment, deprecated,
 * readOnly, writeOnly, strict). Other keywords are an error naming the
 * keyword and where ("unsupported JSON Schema keyword 'pattern' at
 * $.properties.name"). Choices made so the output always validates:
 *   - enum / const take precedence: the value is one of the listed values
 *     (filtered by "type" when given), printed canonically; other
 *     constraining keywords next to them are an error.
 *   - $ref and anyOf may not have constraining siblings (error).
 *   - object keys are written without escapes; a property name that would
 *     need escaping (", \, control characters) is an error; a declared
 *     key appears at most once (additional keys are not tracked for
 *     duplicates: still valid JSON, each value valid against
 *     additionalProperties); any order.
 *   - numbers: at most 15 integer digits, 15 fraction digits, 3 exponent
 *     digits; integers without fraction/exponent. Strings: any valid UTF-8,
 *     the JSON escapes, \uXXXX except surrogates.
 *   - whitespace only where JSON allows it, at most HR_GRAMMAR_MAX_WS bytes
 *     in a row (so a model cannot loop on whitespace).
 *
 * Termination: hr_grammar_state_create takes max_tokens. The state tracks
 * D = the fewest bytes that complete the value, and allows a token only if
 * the state after it can still complete within the tokens left (each byte
 * can be one token: byte-level BPE and byte-fallback vocabularies have a
 * single-byte token for every byte). So generation that reaches max_tokens
 * has closed every string, array and object: the output is always complete,
 * valid JSON. Far from the limit this check costs nothing (masks are cached
 * with the largest D they can lead to).
 *
 * Tool mode (hr_grammar_from_tools): the Hermes 3 format
 *   <tool_call>\n{"name": "<tool name>", "arguments": <arguments>}\n</tool_call>
 * with the arguments constrained by that tool's parameters schema
 * (whitespace between the parts is free, capped). AUTO: free text first (any
 * bytes; the first "<tool_call>" in it starts a call), then calls, or no call
 * at all. REQUIRED: at least one call, no text. parallel: several calls
 * separated by whitespace (at most HR_GRAMMAR_MAX_CALLS), else exactly one.
 *
 * Cost: masks come from a walk of the vocab trie together with the
 * automaton (a byte that kills every stack prunes the whole subtree), with
 * fast paths for the states where most of the vocab is allowed (inside a
 * string or a key, free text): a precomputed token set plus walks of only the
 * subtrees that leave the string; inside such frames a walk tracks only a
 * small substate per trie node. Masks are cached per exact state. With
 * Llama 3's vocab a mask (computed and applied to 128K logits) takes about
 * 0.1 ms typical, 0.25 ms p99 (bench/bench_grammar.c); the slowest case is
 * an object key still matching declared names in the last few tokens of
 * the budget (a full walk, about 5 ms). The budget check assumes a
 * single-byte token exists for every byte the completion needs. Nesting
 * deeper than 64 frames is refused (objects/arrays there are not started).
 *
 * Errors: constructors return NULL and write a one-line message into err
 * (when err != NULL). Out of memory aborts (core/buf.h policy).
 * Limits: schema text <= 1 MiB, <= 16384 automaton nodes, <= 64 properties
 * per object, <= 1024 enum values, nesting <= 64 levels (schema and output),
 * <= 32 live anyOf alternatives at once (more are dropped: still valid). */
#ifndef HR_ENGINE_GRAMMAR_H
#define HR_ENGINE_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "engine/tokenizer.h"

#define HR_GRAMMAR_MAX_WS 32
#define HR_GRAMMAR_MAX_CALLS 16
#define HR_GRAMMAR_MAX_SCHEMA_BYTES (1u << 20)

typedef struct hr_grammar hr_grammar;
typedef struct hr_grammar_vocab hr_grammar_vocab;
typedef struct hr_grammar_state hr_grammar_state;

/* ---- compiling ------------------------------------------------------------ */

/* From JSON Schema text. NULL / "" / a schema {"type": "json_object"} give
 * the json_object grammar (any JSON object). */
hr_grammar *hr_grammar_from_schema(const char *schema_json, char *err, size_t errsz);
/* Same from a parsed schema (borrowed, not kept). NULL = json_object. */
hr_grammar *hr_grammar_from_cjson(const cJSON *schema, char *err, size_t errsz);
/* Any JSON object (response_format {type: json_object}). */
hr_grammar *hr_grammar_json_object(void);

typedef enum hr_grammar_tool_choice {
    HR_GRAMMAR_TOOLS_AUTO = 1,     /* free text, then zero or more calls */
    HR_GRAMMAR_TOOLS_REQUIRED = 2, /* one or more calls, no text */
} hr_grammar_tool_choice;

/* tools: the OpenAI request array [{"type":"function","function":{"name",
 * "parameters"}}] (borrowed). A missing parameters schema means any object.
 * only_name: restrict to that tool (tool_choice naming a function; implies
 * REQUIRED), or NULL. parallel: allow several calls. At most 256 tools,
 * names of 1..256 bytes without characters that need escaping. */
hr_grammar *hr_grammar_from_tools(const cJSON *tools, hr_grammar_tool_choice choice, const char *only_name,
                                  bool parallel, char *err, size_t errsz);

void hr_grammar_free(hr_grammar *g); /* NULL ok; all states must be freed first */

/* Fewest bytes of a complete output (0 for tool mode AUTO). */
int hr_grammar_min_bytes(const hr_grammar *g);

/* ---- vocabulary index ----------------------------------------------------- */

/* Never fails except on absurd input (NULL tokenizer: NULL). Keeps a pointer
 * to t (which must outlive the index). */
hr_grammar_vocab *hr_grammar_vocab_create(const hr_tokenizer *t);
void hr_grammar_vocab_free(hr_grammar_vocab *v); /* NULL ok */
int32_t hr_grammar_vocab_n(const hr_grammar_vocab *v);

/* ---- per-sequence state --------------------------------------------------- */

/* v may be NULL for byte-only use (hr_grammar_accept_bytes; masks then fail).
 * max_tokens: the generation budget (tokens the model may still produce,
 * end-of-generation not counted); <= 0 = unlimited. Fails when max_tokens is
 * smaller than the shortest valid output (hr_grammar_min_bytes). */
hr_grammar_state *hr_grammar_state_create(const hr_grammar *g, const hr_grammar_vocab *v, int max_tokens,
                                          char *err, size_t errsz);
void hr_grammar_state_free(hr_grammar_state *st); /* NULL ok */

/* Sets logits[i] = -INFINITY for every token not allowed now (the tokenizer
 * is the one the state's vocab index was built from). n_vocab may
 * exceed the vocab index size (extra ids are forbidden). Returns 0, or -1
 * if nothing is allowed (after an end-of-generation token, or a state that
 * was driven past its budget by hr_grammar_accept_bytes). */
int hr_grammar_mask(hr_grammar_state *st, float *logits, int n_vocab);
/* hr_token_mask_fn adapter (engine.h): ud is the hr_grammar_state. */
int hr_grammar_mask_fn(void *ud, float *logits, int n_vocab);
/* The allowed set as a bitset (bit i of words[i / 64]); nwords >=
 * (n_vocab + 63) / 64. Returns the number of allowed tokens, -1 without a
 * vocab. */
int hr_grammar_allowed(hr_grammar_state *st, uint64_t *words, size_t nwords);

/* Advances by a sampled token. Returns 0, or -1 if the token is not allowed
 * (state unchanged). An end-of-generation token is accepted only when the
 * output is complete; after it the state accepts nothing. */
int hr_grammar_accept(hr_grammar_state *st, int32_t token);
/* Advances by raw bytes (tests, forced text such as a prefill): 0, or -1
 * if they do not continue a valid output (state unchanged). Does not touch
 * the token budget. */
int hr_grammar_accept_bytes(hr_grammar_state *st, const char *bytes, size_t len);
/* The output so far is complete (end of generation allowed now). */
bool hr_grammar_done(const hr_grammar_state *st);
/* An end-of-generation token was accepted. */
bool hr_grammar_ended(const hr_grammar_state *st);
/* Fewest bytes still needed to complete the output (0 when done). */
int hr_grammar_remaining(const hr_grammar_state *st);
/* Tokens of budget left (INT32_MAX when unlimited). */
int hr_grammar_budget(const hr_grammar_state *st);

/* Counters for benchmarks: masks served from the cache / computed. */
void hr_grammar_state_stats(const hr_grammar_state *st, uint64_t *cache_hits, uint64_t *computed);

#endif
