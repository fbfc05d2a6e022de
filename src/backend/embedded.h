/* Embedded backend: tiers answered by our own GGUF engine (src/engine),
 * inside the gateway process.
 *
 *   engine    one per distinct GGUF file (by real path), shared by every
 *             tier/backend that names it: the mmapped model, its tokenizer,
 *             one hr_ctx with `parallel` KV slots, and a scheduler thread
 *             that owns the hr_ctx. The first backend that loads a file sets
 *             its threads/context/parallel/queue; later ones share it as is
 *             (a warning says so when their settings differ).
 *   call      one request: rendered + tokenized on the loop thread in
 *             submit (errors there are synchronous: 400
 *             context_length_exceeded, 400 bad stop strings, 429 queue full),
 *             then queued for the scheduler.
 *
 * Scheduler (one thread per engine): between steps it admits queued requests
 * into free slots (the free slot whose cached tokens share the longest prefix
 * with the prompt; the cache is truncated to that prefix and only the rest is
 * computed), then runs ONE hr_ctx_decode over a batch made of the next token
 * of every generating sequence plus a chunk of pending prompt tokens
 * (EMB_PREFILL_CHUNK per step while others generate, so a long prompt does
 * not stall running streams), samples every sequence that produced logits,
 * detokenizes (whole UTF-8 only), applies stop strings, max_tokens, end of
 * generation and (tools / JSON mode) the grammar mask. Text deltas and
 * logprobs go to the call's mailbox (mutex) and the call's event is made
 * active on its loop (event_active is thread-safe under evthread pthreads):
 * the loop never waits on inference. A cancelled call is dropped at the next
 * step and its slot is free again (its KV cache stays for prefix reuse).
 *
 * API semantics (OpenAI chat completions):
 *   - sampling: temperature (default 1), top_p (default 1), seed (default:
 *     random), presence_penalty, frequency_penalty, stop (string or up to 8
 *     strings of <= 256 bytes), max_tokens / max_completion_tokens (default:
 *     what is left of the context); extensions top_k (default 40), min_p
 *     (default 0.05), repetition_penalty (default 1). Penalties look at the
 *     last 64 generated tokens (not the prompt).
 *   - logprobs / top_logprobs (0..20): OpenAI's shape
 *     {"content": [{"token","logprob","bytes","top_logprobs":[...]}]}; the
 *     logprob is the model's (after penalties, before temperature).
 *   - usage: prompt_tokens = tokens of the rendered prompt (BOS included),
 *     completion_tokens = sampled tokens (an end-of-generation token
 *     included), prompt_tokens_details.cached_tokens = reused prefix.
 *   - prompt + max_tokens > context: 400 context_length_exceeded.
 *   - chat template: the backend's chat_template, else the GGUF's
 *     tokenizer.chat_template (ChatML or Llama 3), else a plain fallback for
 *     models without one (e.g. stories260K): the message contents joined by
 *     "\n", no role markers, BOS first when the vocab wants it.
 *   - tools / response_format json (and tool history): the Hermes 3 prompt
 *     (hermes/hermes.h) and the Hermes filter (backend/hermes_filter.h) turn
 *     the text into tool_calls; output is grammar-constrained
 *     (engine/grammar.h) so it is always valid JSON / well-formed calls.
 *
 * Threads: create/free on the main thread before/after the loops run;
 * submit/cancel on a loop thread; sink callbacks on that loop thread. */
#ifndef HR_BACKEND_EMBEDDED_H
#define HR_BACKEND_EMBEDDED_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/buf.h"
#include "core/config.h"

/* Requests waiting for a slot, per engine, when the config gives none:
 * past it submit answers 429 with Retry-After. */
#define HR_EMBEDDED_DEFAULT_QUEUE_PER_SLOT 8

/* Loads (or shares) the engine for bc->model and returns the backend. NULL
 * with a one-line err naming the file when the model cannot be loaded. */
hr_backend *hr_embedded_create(const hr_config *cfg, const hr_backend_config *bc, int tier, int index, char *err,
                               size_t errlen);

/* What the startup banner and /metrics show about each loaded engine. */
typedef struct hr_embedded_info {
    char path[512];
    char name[128];      /* general.name or the file name */
    char quant[16];      /* main tensor type ("q4_k", "f32") */
    char tmpl[16];       /* "chatml" | "llama3" | "plain" */
    uint64_t file_bytes;
    int64_t n_params;
    int n_ctx, n_seq, n_threads, queue_max;
    /* live figures */
    int slots_busy, queued;
    uint64_t prompt_tokens, gen_tokens, cached_tokens, requests;
    double prompt_seconds, gen_seconds; /* decode time attributed to each kind */
} hr_embedded_info;

/* Fills up to max entries; returns the number of loaded engines. */
int hr_embedded_list(hr_embedded_info *out, int max);

/* Appends the hermes_engine_* Prometheus series of every loaded engine. */
void hr_embedded_metrics_render(hr_buf *out);

#endif
