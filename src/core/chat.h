/* hr_chat_request: an OpenAI chat-completions request, parsed and validated
 * once, then carried through router, backend and log.
 *
 * The original JSON is kept (root) so backends can pass fields through
 * untouched; the parsed view adds what routing needs (texts, lengths in
 * Unicode characters, flags). A message's text points into root (string
 * content, or an array with one text part) or is owned by the request (parts
 * joined): either way it lives until hr_chat_request_free(), provided nobody
 * replaces the messages inside root. hr_chat_request_free() releases everything (and is a no-op on a zeroed struct). */
#ifndef HR_CORE_CHAT_H
#define HR_CORE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum {
    HR_ROLE_SYSTEM = 0,
    HR_ROLE_USER,
    HR_ROLE_ASSISTANT,
    HR_ROLE_TOOL,
    HR_ROLE_DEVELOPER,
} hr_role;

const char *hr_role_name(hr_role r);

typedef struct hr_chat_message {
    hr_role role;
    char *text;          /* text content (string content, or the text parts joined); never NULL.
                            Read-only: it may point into root's strings. */
    size_t text_len;     /* bytes */
    bool text_owned;     /* text was allocated for this message (freed with the request) */
    size_t chars;        /* Unicode code points */
    const cJSON *json;   /* the message object inside root (borrowed) */
} hr_chat_message;

typedef struct hr_chat_request {
    cJSON *root;                  /* the whole body (owned) */
    char *raw;                    /* the body's exact text (owned), or NULL. Relayed with
                                     textual edits (core/json_splice.h) instead of
                                     re-printing root. Whoever modifies root must call
                                     hr_chat_request_root_changed() so the edit is not lost. */
    size_t raw_len;
    const char *model;            /* "auto" when absent; points into root or a static */
    hr_chat_message *messages;
    size_t n_messages;
    bool stream;
    bool include_usage;           /* stream_options.include_usage */
    long max_tokens;              /* max_completion_tokens or max_tokens; -1 if absent */
    bool has_tools;               /* non-empty tools array */
    bool has_response_format;     /* response_format other than {type: text} */
    size_t context_chars;         /* sum of message chars */
    const hr_chat_message *last_user; /* NULL when there is no user message */
} hr_chat_request;

/* Error detail for a rejected request: OpenAI's {message, type, param, code}. */
typedef struct hr_request_error {
    char message[256];
    char param[64];  /* "" when not about one field */
} hr_request_error;

/* Parses and validates a request body. Returns 0, or -1 with err filled
 * (an invalid_request_error, HTTP 400). Checks: valid JSON object; messages a
 * non-empty array of objects with a known role and string/array content;
 * the types of model, stream, max_tokens, temperature, top_p, n, stop, tools,
 * tool_choice, response_format, seed and penalties. */
int hr_chat_request_parse(const char *body, size_t len, hr_chat_request *req, hr_request_error *err);
/* Takes ownership of root (an object) instead of parsing text. root is freed on error. */
int hr_chat_request_from_json(cJSON *root, hr_chat_request *req, hr_request_error *err);
/* Convenience for batch tools: one user message with this prompt. */
int hr_chat_request_from_prompt(const char *prompt, hr_chat_request *req);
void hr_chat_request_free(hr_chat_request *req);
/* Drops raw after root was modified: backends then print root instead. */
void hr_chat_request_root_changed(hr_chat_request *req);

#endif
