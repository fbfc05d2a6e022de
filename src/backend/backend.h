/* Backends: where a tier's requests are answered.
 *
 * A backend takes a parsed request and a sink, and produces into the sink:
 * streaming chunks (OpenAI chat.completion.chunk objects) then done(), or one
 * complete chat.completion object, or error(). Upstream (OpenAI-compatible
 * HTTP via libcurl) and embedded (our engine) backends honour the same
 * contract, so the gateway, the cascade and the tests do not care which one
 * answered.
 *
 * Threads: each event-loop thread owns an hr_loop (its event_base and its
 * libcurl multi handle). A call runs entirely on the loop it was submitted
 * on; sink callbacks happen on that loop's thread. */
#ifndef HR_BACKEND_BACKEND_H
#define HR_BACKEND_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/chat.h"
#include "core/config.h"

struct event_base;

typedef struct hr_usage {
    long prompt_tokens;     /* -1 when unknown */
    long completion_tokens; /* -1 when unknown */
} hr_usage;

typedef struct hr_backend_error {
    int status;          /* HTTP status to answer with (502 for an unreachable upstream) */
    const char *type;    /* OpenAI error type, e.g. "upstream_error" */
    const char *code;    /* OpenAI error code or NULL */
    char message[320];
    bool retryable;      /* nothing was delivered and the endpoint could not be reached:
                            the gateway may retry elsewhere */
} hr_backend_error;

typedef struct hr_sink hr_sink;
typedef struct hr_sink_ops {
    /* Streaming: one chunk object; takes ownership. raw (may be NULL) is the
     * exact JSON text of chunk, so the gateway can relay it without printing. */
    void (*chunk)(hr_sink *s, cJSON *chunk, const char *raw, size_t raw_len);
    /* Streaming: the stream ended normally. usage may be NULL. */
    void (*done)(hr_sink *s, const hr_usage *usage);
    /* Non-streaming: the whole chat.completion object; takes ownership. raw
     * (may be NULL) is its exact JSON text. When the sink set raw_ok, a
     * backend may pass completion == NULL and usage == NULL with raw set to
     * text it has not checked: the sink checks it (backend/json_scan.h; not
     * a JSON object = 502 upstream_bad_json) and reads usage from it, in the
     * one scan it needs anyway. */
    void (*complete)(hr_sink *s, cJSON *completion, const char *raw, size_t raw_len, const hr_usage *usage);
    /* Failure; the call is over after this. */
    void (*error)(hr_sink *s, const hr_backend_error *err);
} hr_sink_ops;

struct hr_sink {
    const hr_sink_ops *ops;
    bool raw_ok; /* complete() may come without a parsed object (see above); false when zeroed */
};

/* Per-thread loop context (see loop.c). */
typedef struct hr_loop hr_loop;
hr_loop *hr_loop_create(struct event_base *base, int index);
void hr_loop_free(hr_loop *l);
struct event_base *hr_loop_base(hr_loop *l);
int hr_loop_index(const hr_loop *l);
/* The libcurl multi handle of this loop (upstream backend only). */
void *hr_loop_curl_multi(hr_loop *l);
/* Slot for the native HTTP/1.1 client's per-loop state (transport_h1.c). */
void **hr_loop_h1_slot(hr_loop *l);

typedef struct hr_backend hr_backend;
typedef struct hr_call hr_call;

typedef struct hr_backend_vtbl {
    const char *type;
    /* Starts answering req into sink on loop. Returns the call handle, or
     * NULL after having called sink->error synchronously. The request must
     * outlive the call. */
    hr_call *(*submit)(hr_backend *b, hr_loop *loop, hr_chat_request *req, hr_sink *sink);
    /* Stops a call (client gone); no sink callback happens after it returns. */
    void (*cancel)(hr_call *c);
    void (*free)(hr_backend *b);
} hr_backend_vtbl;

struct hr_backend {
    const hr_backend_vtbl *vt;
    const hr_backend_config *cfg; /* borrowed from the config */
    int tier;
    int index;                    /* position within the tier */
    char label[200];              /* "small[0] openai http://host/v1 (model)" */
    _Atomic int64_t down_until_ms;/* unix ms; 0 = live */
    _Atomic uint64_t requests;
    _Atomic uint64_t failures;
};

/* Upstream OpenAI-compatible backend (upstream.c). */
hr_backend *hr_upstream_create(const hr_config *cfg, const hr_backend_config *bc, int tier, int index);

/* Probes an upstream's reachability: GET {url}/models on loop, then calls
 * done(ok) on the loop thread. Used by /ready. */
void hr_upstream_probe(hr_backend *b, hr_loop *loop, double timeout_s, void (*done)(void *ud, bool ok), void *ud);

static inline bool hr_backend_is_live(hr_backend *b, int64_t now_ms) {
    return atomic_load_explicit(&b->down_until_ms, memory_order_relaxed) <= now_ms;
}

#endif
