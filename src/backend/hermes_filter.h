/* Hermes filter: the Hermes 3 formats and JSON-mode validation between a
 * backend and the gateway's sink. Internal to src/backend (the upstream
 * backend uses it; the embedded backend can too): it is itself an hr_sink
 * that wraps the gateway's sink.
 *
 * Two independent stages, chosen per request by hr_hermes_filter_mode():
 *
 * HR_HERMES_FILTER_TEXT (backend tool_format: hermes, and the request has
 *   tools, a JSON response_format, or tool history): the gateway renders the
 *   Hermes prompt itself (hermes/hermes.h, prefill included) and the backend
 *   asks the upstream's raw text endpoint POST {url}/completions with
 *   stop ["<|im_end|>"] (hr_hermes_filter_completions_body). The backend feeds
 *   the upstream's text_completion objects / chunks into the filter's sink
 *   unchanged; the filter turns them into chat.completion /
 *   chat.completion.chunk objects through the <tool_call> parser:
 *   message.tool_calls with unique ids, arguments as a JSON string,
 *   finish_reason "tool_calls"; streaming: a tool call's id and name first,
 *   then its arguments; malformed calls only in the "invalid_tool_calls"
 *   extension (message field / delta field), never as calls or content; no raw
 *   <tool_call> text reaches the client. Usage is passed through.
 *
 * HR_HERMES_FILTER_JSON (response_format json_object / json_schema, any
 *   tool_format): the answer's content is checked with
 *   hr_hermes_json_answer_check (skipped when the answer made tool calls).
 *   An invalid answer is retried once through the owner's retry hook; the
 *   answer then released carries, in the top-level "hermes" extension object,
 *   {"json_valid": true|false, "json_error": "..." (when invalid),
 *   "json_retries": 0|1}; the gateway merges that object into its own
 *   "hermes" field and sets the header x-hermes-json-valid. If the retry
 *   fails with an error, the first (invalid) answer is released, flagged.
 *   Streaming: chunks are held until the stream ends and the content is
 *   validated, then released in order (the flag rides in the first chunk);
 *   a JSON-mode stream therefore arrives all at once, and the client never
 *   sees an answer that is then retried. Held output is capped at
 *   HR_HERMES_FILTER_MAX_HELD bytes of content (past it: a 502 error).
 *
 * Threads: single loop thread, like every sink. Memory: everything belongs
 * to the filter; hr_hermes_filter_free releases it without sink callbacks. */
#ifndef HR_BACKEND_HERMES_FILTER_H
#define HR_BACKEND_HERMES_FILTER_H

#include <stdbool.h>

#include "backend/backend.h"

#define HR_HERMES_FILTER_TEXT 1u
#define HR_HERMES_FILTER_JSON 2u
#define HR_HERMES_FILTER_MAX_HELD (8u << 20)

typedef struct hr_hermes_filter hr_hermes_filter;

/* The stages req needs on a backend configured as bc: 0 (plain relay) or a
 * mask of HR_HERMES_FILTER_*. TEXT only for tool_format hermes on an openai
 * backend; JSON whenever response_format is json_object or json_schema. */
unsigned hr_hermes_filter_mode(const hr_backend_config *bc, const hr_chat_request *req);

/* Creates a filter writing into out. req (borrowed) must outlive the filter.
 * TEXT renders the prompt now: NULL with err (an HTTP 400 for the client)
 * when it cannot be rendered. (n > 1 never gets here: requests are parsed
 * with n limited to 1.) */
hr_hermes_filter *hr_hermes_filter_create(unsigned mode, hr_chat_request *req, hr_sink *out, hr_request_error *err);
/* The sink the backend writes into (owned by the filter). */
hr_sink *hr_hermes_filter_sink(hr_hermes_filter *f);
/* TEXT: the JSON body for POST {url}/completions (malloc'd): model (NULL =
 * none), prompt, stop ["<|im_end|>"] plus the client's stop strings, stream
 * and stream_options.include_usage, max_tokens, and the sampling fields
 * passed through (temperature, top_p, seed, penalties, logit_bias, user). */
char *hr_hermes_filter_completions_body(const hr_hermes_filter *f, const char *model);
/* The owner's hook for one JSON-mode retry. Called from inside a terminal
 * sink callback (done/complete); it must arrange to re-run the same request
 * into the filter's sink after that callback returns, and return true, or
 * return false (the invalid answer is then released, flagged). */
void hr_hermes_filter_set_retry(hr_hermes_filter *f, bool (*retry)(void *ud), void *ud);
void hr_hermes_filter_free(hr_hermes_filter *f); /* NULL: no-op */

#endif
