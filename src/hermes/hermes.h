/* hermes: Hermes 3 wire formats. Prompt rendering (ChatML, the tool-use
 * system prompt, the JSON-mode system prompt), the streaming <tool_call>
 * output parser, and a JSON Schema validator for the supported subset.
 *
 * Everything works on the OpenAI request JSON (cJSON, borrowed, never
 * modified). Out of memory aborts (core/buf.h policy). Errors that a client
 * caused come back as -1 with an hr_request_error (OpenAI 400 shape).
 *
 * ---- Prompt (hr_hermes_prompt_render) ------------------------------------
 * Byte-identical to NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja as
 * transformers renders it (tests/golden/hermes: goldens from the real
 * template). The gateway-side mapping, before the template:
 *   - role "developer" renders as "system" (the template would drop it);
 *     content parts: the text parts joined by "\n"; null content is "".
 *   - tools present and tool_choice auto (default), "required" or a named
 *     function: the tool-use system prompt lists every tool. tool_choice
 *     "none" (or no tools): plain ChatML, no tools system turn; tool history
 *     still renders as <tool_call>/<tool_response> blocks.
 *   - "required": the prompt ends with the prefill "<tool_call>\n";
 *     {"type":"function","function":{"name":"f"}}: the prefill
 *     "<tool_call>\n{\"name\": \"f\", \"arguments\": ". The prefill is part
 *     of the model's answer: feed it to the parser first (parser params).
 *     Without add_generation_prompt there is no prefill.
 *   - parallel_tool_calls false: the prompt is unchanged (the template has no
 *     such switch); the parser stops after the first call (done() turns true).
 *   - response_format json_object / json_schema: a system turn
 *     "You are a helpful assistant that answers in JSON. Here's the json schema
 *     you must adhere to:\n<schema>\n{schema}\n</schema>" comes first (after the
 *     tools turn), schema = Python json.dumps(schema) (ASCII-escaped, as
 *     Hermes-Function-Calling's jsonmode.py builds it); json_object uses
 *     {"type": "object"}.
 * Where the real template cannot render an input, we render instead of failing
 * (deviations, not golden-testable): a tool without description -> "";
 * without parameters -> "parameters": {}; a property type "null" -> "None",
 * any other unknown type name -> "Any" (the template recurses forever);
 * "tool_calls": null is treated as absent; tool content null -> "".
 * Numbers in re-serialized JSON: integral values below 1e16 print as integers
 * (cJSON keeps no int/float distinction; Python would print 1.0 for 1.0).
 *
 * ---- Output parser (hr_hermes_parser) -------------------------------------
 * Fed text deltas split anywhere (mid-tag, mid-UTF-8), it emits:
 *   CONTENT   text outside calls, never any part of "<tool_call>" (a possible
 *             tag prefix is held back), never a cut UTF-8 sequence (held
 *             back; a cut tail at finish becomes U+FFFD), whitespace next to
 *             a call dropped. Without tools all text is content;
 *   TOOL_START {index, id "call_<24 alnum>", name}, then TOOL_ARGS (the
 *             arguments object compact-serialized, one fragment), TOOL_END;
 *   TOOL_INVALID a malformed call: {index among invalid calls, raw block text
 *             including the tags, error, name when known}. Malformed = bad
 *             JSON, missing/unknown name, arguments not an object, arguments
 *             failing the tool's parameter schema, unterminated at finish, or
 *             over max_call_bytes. It is never emitted as a call or content.
 * Accepted leniently: keys in any order, "arguments" as a JSON string holding
 * an object, "parameters" instead of "arguments", no arguments (= {}).
 * Each call is released when its </tool_call> arrives and it validates, so a
 * client never sees half of an invalid call. An unterminated block at finish()
 * is accepted when its JSON is complete and valid.
 * hr_hermes_parse_message() runs the same parser over a whole text and builds
 * the OpenAI assistant message (with an "invalid_tool_calls" extension). */
#ifndef HR_HERMES_HERMES_H
#define HR_HERMES_HERMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/chat.h" /* hr_request_error */

/* ---- prompt ---------------------------------------------------------------- */

typedef enum {
    HR_HERMES_TOOL_CHOICE_AUTO = 0,
    HR_HERMES_TOOL_CHOICE_NONE,
    HR_HERMES_TOOL_CHOICE_REQUIRED,
    HR_HERMES_TOOL_CHOICE_FUNCTION,
} hr_hermes_tool_choice;

typedef struct hr_hermes_prompt_params {
    const cJSON *messages;        /* OpenAI messages array (required) */
    const cJSON *tools;           /* tools array or NULL */
    const cJSON *tool_choice;     /* "auto"|"none"|"required"|{type,function:{name}} or NULL (auto) */
    const cJSON *response_format; /* {type: text|json_object|json_schema, ...} or NULL */
    const cJSON *parallel_tool_calls; /* bool or NULL (true) */
    bool add_generation_prompt;   /* default true */
    const char *bos_token;        /* prepended verbatim; default "" (the tokenizer adds BOS) */
    size_t max_bytes;             /* cap on the prompt; default 16 MiB */
} hr_hermes_prompt_params;

hr_hermes_prompt_params hr_hermes_prompt_default_params(void);
/* Defaults, with messages/tools/tool_choice/response_format/parallel_tool_calls
 * borrowed from a request body object. */
hr_hermes_prompt_params hr_hermes_prompt_params_from_request(const cJSON *root);

typedef struct hr_hermes_prompt {
    char *text;      /* the prompt, prefill included (owned, NUL-terminated) */
    size_t len;
    char *prefill;   /* the tail of text the model's answer starts with; "" if none (owned) */
    hr_hermes_tool_choice tool_choice;
    char *forced_name;      /* the named function (owned) or NULL */
    bool tools_in_prompt;   /* the tool-use system prompt was rendered */
    bool json_mode;         /* the JSON-mode system turn was rendered */
    bool parallel_tool_calls;
    const cJSON *schema;    /* json_schema's schema (borrowed from params) or NULL */
} hr_hermes_prompt;

/* Renders the prompt. 0, or -1 with err (bad message/tool shape, unknown
 * tool_choice name, prompt over max_bytes); out is then zeroed.
 * Free with hr_hermes_prompt_free (a no-op on a zeroed struct). */
int hr_hermes_prompt_render(const hr_hermes_prompt_params *p, hr_hermes_prompt *out, hr_request_error *err);
void hr_hermes_prompt_free(hr_hermes_prompt *out);

/* Appends the JSON-mode system prompt text for schema (NULL = json_object). */
void hr_hermes_json_mode_prompt(const cJSON *schema, hr_buf *out);

/* Checks a JSON-mode answer (e.g. from an upstream tier): text must be one
 * JSON value with only whitespace around it, valid against schema, or an
 * object when schema is NULL (json_object). 0, or -1 with err such as
 * "answer is not valid JSON" or "$.name: expected string, got integer"
 * (err may be NULL). */
int hr_hermes_json_answer_check(const char *text, size_t len, const cJSON *schema, char *err, size_t errsz);

/* Checks the Hermes-relevant parts of a request body: tools (each a function
 * with a string name, unique, optional string description, parameters an
 * object schema using only supported keywords), tool_choice (naming a known
 * tool), response_format json_schema (a schema object, supported keywords
 * only). 0, or -1 with err naming the param and, for schemas, the keyword
 * and its path (the gateway answers 400). */
int hr_hermes_request_check(const cJSON *root, hr_request_error *err);

/* ---- output parser ---------------------------------------------------------- */

typedef enum {
    HR_HERMES_EV_CONTENT = 0,
    HR_HERMES_EV_TOOL_START,
    HR_HERMES_EV_TOOL_ARGS,
    HR_HERMES_EV_TOOL_END,
    HR_HERMES_EV_TOOL_INVALID,
} hr_hermes_event_type;

/* Pointers are valid only during the callback. */
typedef struct hr_hermes_event {
    hr_hermes_event_type type;
    int index;          /* valid calls: 0,1,2..; invalid calls: their own 0,1,.. */
    const char *id;     /* TOOL_START/ARGS/END */
    const char *name;   /* TOOL_START/ARGS/END; TOOL_INVALID when known, else NULL */
    const char *text;   /* CONTENT delta, ARGS fragment, INVALID raw block */
    size_t len;
    const char *error;  /* TOOL_INVALID: one line */
} hr_hermes_event;

typedef void (*hr_hermes_event_fn)(void *user, const hr_hermes_event *ev);

typedef struct hr_hermes_parser_params {
    const cJSON *tools;        /* borrowed, must outlive the parser; NULL = no tool
                                  parsing (all text is content) */
    bool validate_args;        /* check arguments against parameters (default true) */
    bool parallel_tool_calls;  /* false: stop after the first valid call (default true) */
    const char *prefill;       /* fed first, as model output (hr_hermes_prompt.prefill) */
    uint64_t id_seed;          /* 0: random ids; else deterministic (tests) */
    size_t max_call_bytes;     /* cap on one <tool_call> block (default 1 MiB) */
    hr_hermes_event_fn on_event;
    void *user;
} hr_hermes_parser_params;

typedef struct hr_hermes_parser hr_hermes_parser;

hr_hermes_parser_params hr_hermes_parser_default_params(void);
hr_hermes_parser *hr_hermes_parser_create(const hr_hermes_parser_params *p);
/* Feeds a delta (any split). Events fire from inside. Returns 0. */
int hr_hermes_parser_feed(hr_hermes_parser *ps, const char *text, size_t len);
/* End of output: flushes held-back text, settles an open block. Further feeds
 * are ignored. Returns 0. */
int hr_hermes_parser_finish(hr_hermes_parser *ps);
/* True once parallel_tool_calls is false and a call completed: the rest of the
 * output is ignored, the backend may stop generating. */
bool hr_hermes_parser_done(const hr_hermes_parser *ps);
int hr_hermes_parser_n_calls(const hr_hermes_parser *ps);
int hr_hermes_parser_n_invalid(const hr_hermes_parser *ps);
/* "tool_calls" when at least one valid call was emitted, else "stop". */
const char *hr_hermes_parser_finish_reason(const hr_hermes_parser *ps);
void hr_hermes_parser_free(hr_hermes_parser *ps);

/* The OpenAI chat.completion.chunk "delta" object for an event (caller frees):
 * CONTENT {"content": text}; TOOL_START {"tool_calls":[{"index","id",
 * "type":"function","function":{"name","arguments":""}}]}; TOOL_ARGS
 * {"tool_calls":[{"index","function":{"arguments": fragment}}]};
 * TOOL_INVALID {"invalid_tool_calls":[{"index","raw","error","name"?}]}
 * (extension; a gateway may log it instead); TOOL_END NULL (nothing to send). */
cJSON *hr_hermes_event_delta(const hr_hermes_event *ev);

/* One shot: the OpenAI assistant message for a whole output text:
 * {"role":"assistant","content": string|null,
 *  "tool_calls":[{"id","type":"function","function":{"name","arguments"}}] (when any),
 *  "invalid_tool_calls":[{"raw","error","name"?}] (extension, when any)}.
 * content is null when there are calls and no other text. p: tools, prefill,
 * validate_args, parallel_tool_calls, id_seed (on_event ignored; NULL =
 * defaults with no tools). *finish_reason (may be NULL) gets "tool_calls" or
 * "stop" (static). Caller frees with cJSON_Delete. */
cJSON *hr_hermes_parse_message(const char *text, size_t len, const hr_hermes_parser_params *p,
                               const char **finish_reason);

/* ---- JSON Schema subset ------------------------------------------------------ */
/* Supported: type (name or array of names: object, array, string, number,
 * integer, boolean, null), properties, required, additionalProperties (bool or
 * schema), items (schema), minItems, maxItems, enum, const, anyOf, $ref to
 * "#/$defs/<name>" or "#/definitions/<name>" (of the root), $defs, definitions.
 * Ignored annotations: title, description, default, examples, $schema, $id,
 * $comment, deprecated, readOnly, writeOnly, strict. Anything else is
 * unsupported. Nesting deeper than 64 levels is an error. */

/* Lists unsupported keywords. Returns their count (0: supported); the first
 * one's keyword and path go to err as "unsupported JSON Schema keyword
 * 'pattern' at $.properties.name" (err may be NULL). Also reports a malformed
 * schema (a $ref that does not resolve, a non-object subschema, bad
 * type name) as a count of 1 with the reason. */
int hr_hermes_schema_check(const cJSON *schema, char *err, size_t errsz);

/* Validates instance against schema: 0 valid, -1 invalid with err like
 * "$.items[2].name: expected string, got number" (err may be NULL).
 * Unsupported keywords are ignored here (run _check first). */
int hr_hermes_schema_validate(const cJSON *schema, const cJSON *instance, char *err, size_t errsz);

/* ---- Python-compatible JSON (what the template's tojson prints) -------------- */
/* json.dumps(v) with ", " and ": " separators, keys in order; ensure_ascii
 * escapes non-ASCII as \uXXXX (surrogate pairs above U+FFFF). */
void hr_hermes_json_dumps(const cJSON *v, bool ensure_ascii, hr_buf *out);

#endif
