/* Upstream backend: an OpenAI-compatible HTTP server (llama.cpp server, vLLM,
 * Ollama, ...) reached through transport.h (the built-in HTTP/1.1 client for
 * http://, libcurl for https://) on the caller's loop.
 *
 * The request body is the client's JSON with `model` rewritten to the tier's
 * upstream model name; streaming requests always ask the upstream for usage
 * (stream_options.include_usage) so tokens are counted, and the usage-only
 * chunk is dropped again when the client did not ask for it.
 *
 * With tool_format hermes, requests that need the Hermes formats go to the
 * raw text endpoint {url}/completions with the prompt rendered here, and a
 * Hermes filter (hermes_filter.h) turns the text back into chat completions;
 * JSON-mode answers are validated by the same filter, which may ask for one
 * restart of the transfer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "backend/backend.h"
#include "backend/hermes_filter.h"
#include "backend/transport.h"
#include "core/buf.h"
#include "core/json_splice.h"
#include "core/log.h"

#define MAX_RESPONSE_BYTES (64u << 20) /* a non-streamed answer larger than this is an error */
#define MAX_SSE_EVENT_BYTES (8u << 20)

typedef struct upstream {
    hr_backend base;
    char *chat_url;
    char *completions_url; /* tool_format hermes: the raw text endpoint */
    char *models_url;
    char *auth_header;
    char *model_json;      /* the configured model name as a JSON string literal, or NULL */
    long connect_timeout_ms;
    long request_timeout_ms;
    long idle_timeout_s;
} upstream;

struct hr_call {
    hr_xfer *xfer;          /* the transfer in flight, or NULL */
    hr_loop *loop;
    upstream *up;
    hr_sink *sink;
    hr_chat_request *req;
    char *body;
    const char *headers[6];
    hr_buf buf;             /* non-stream: the body; stream: unparsed SSE bytes */
    hr_usage usage;
    long status;
    bool stream;
    bool client_usage;      /* forward the usage chunk */
    bool got_bytes;
    bool finished;          /* a terminal sink callback was made */
    bool in_callback;
    bool cancelled;
    hr_hermes_filter *filter; /* Hermes formats / JSON-mode checks, or NULL */
    bool text_mode;           /* POST /completions with a rendered Hermes prompt */
    bool restart_pending;     /* the filter asked for its JSON-mode retry */
};

static void call_free(hr_call *c) {
    hr_xfer_cancel(c->xfer);
    free(c->body);
    hr_buf_free(&c->buf);
    hr_hermes_filter_free(c->filter);
    free(c);
}

/* ---- errors -------------------------------------------------------------- */

static void sink_error(hr_call *c, int status, const char *type, const char *code, bool retryable, const char *fmt,
                       ...) __attribute__((format(printf, 6, 7)));
static void sink_error(hr_call *c, int status, const char *type, const char *code, bool retryable, const char *fmt,
                       ...) {
    if (c->finished || c->cancelled) return;
    c->finished = true;
    hr_backend_error e = {status, type, code, {0}, retryable};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    c->sink->ops->error(c->sink, &e);
}

/* An upstream answered with an error status: keep its message, map the status. */
static void upstream_http_error(hr_call *c) {
    cJSON *j = c->buf.len ? cJSON_ParseWithLength(c->buf.data, c->buf.len) : NULL;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
    const char *text = cJSON_IsString(msg) ? msg->valuestring : (c->buf.len && !j ? c->buf.data : "no message");
    int status = (int)c->status;
    bool client_fault = status == 400 || status == 404 || status == 413 || status == 422 || status == 429;
    sink_error(c, client_fault ? status : 502, client_fault ? "invalid_request_error" : "upstream_error",
               client_fault ? "upstream_rejected" : "upstream_error", false, "upstream %s returned HTTP %ld: %.200s",
               c->up->base.label, c->status, text);
    cJSON_Delete(j);
}

static void read_usage(const cJSON *obj, hr_usage *u) {
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(obj, "usage");
    if (!cJSON_IsObject(usage)) return;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    if (cJSON_IsNumber(p)) u->prompt_tokens = (long)p->valuedouble;
    if (cJSON_IsNumber(k)) u->completion_tokens = (long)k->valuedouble;
}

/* ---- streaming: SSE events -------------------------------------------- */

/* Handles one SSE event (the text between blank lines). */
static void sse_event(hr_call *c, char *ev, size_t len) {
    /* Collect the data: lines (an event may have several). */
    hr_buf data;
    hr_buf_init(&data, MAX_SSE_EVENT_BYTES);
    char *p = ev, *end = ev + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r') ll--;
        if (ll >= 5 && !memcmp(p, "data:", 5)) {
            const char *v = p + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ') v++, vl--;
            if (data.len) hr_buf_append(&data, "\n", 1);
            hr_buf_append(&data, v, vl);
        }
        p = le + 1;
    }
    if (!data.len) goto out;
    if (!strcmp(data.data, "[DONE]")) {
        if (!c->finished && !c->cancelled) {
            c->finished = true;
            c->sink->ops->done(c->sink, &c->usage);
        }
        goto out;
    }
    cJSON *chunk = cJSON_ParseWithLength(data.data, data.len);
    if (!chunk) {
        hr_warn("upstream %s: ignoring an SSE event that is not JSON", c->up->base.label);
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(chunk, "error")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(chunk, "error"), "message");
        sink_error(c, 502, "upstream_error", "upstream_error", false, "upstream %s failed mid-stream: %.200s",
                   c->up->base.label, cJSON_IsString(m) ? m->valuestring : "unknown error");
        cJSON_Delete(chunk);
        goto out;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    bool usage_only = cJSON_IsObject(usage) && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(chunk, "choices")) == 0;
    if (cJSON_IsObject(usage)) read_usage(chunk, &c->usage);
    if ((usage_only && !c->client_usage) || c->finished || c->cancelled) {
        cJSON_Delete(chunk);
        goto out;
    }
    if (!c->client_usage && usage) {
        cJSON_DeleteItemFromObjectCaseSensitive(chunk, "usage");
        c->sink->ops->chunk(c->sink, chunk, NULL, 0);
    } else {
        c->sink->ops->chunk(c->sink, chunk, data.data, data.len);
    }
out:
    hr_buf_free(&data);
}

static void sse_feed(hr_call *c) {
    size_t start = 0;
    for (;;) {
        char *base = c->buf.data + start;
        size_t avail = c->buf.len - start;
        /* an event ends at a blank line: \n\n or \r\n\r\n */
        char *sep = NULL;
        size_t seplen = 0;
        for (size_t i = 0; i + 1 < avail; i++) {
            if (base[i] == '\n' && base[i + 1] == '\n') { sep = base + i; seplen = 2; break; }
            if (base[i] == '\n' && base[i + 1] == '\r' && i + 2 < avail && base[i + 2] == '\n') {
                sep = base + i; seplen = 3; break;
            }
        }
        if (!sep) break;
        size_t evlen = (size_t)(sep - base);
        sse_event(c, base, evlen);
        start += evlen + seplen;
        if (c->cancelled || c->restart_pending) break;
    }
    if (start) {
        memmove(c->buf.data, c->buf.data + start, c->buf.len - start);
        c->buf.len -= start;
        c->buf.data[c->buf.len] = 0;
    }
}

static int on_data(void *ud, long status, const char *ptr, size_t n) {
    hr_call *c = ud;
    if (c->cancelled || c->restart_pending) return -1; /* aborts the transfer */
    c->got_bytes = true;
    c->status = status;
    if (hr_buf_append(&c->buf, ptr, n) < 0) {
        sink_error(c, 502, "upstream_error", "upstream_too_large", false, "upstream %s: answer larger than %u MiB",
                   c->up->base.label, (c->stream ? MAX_SSE_EVENT_BYTES : MAX_RESPONSE_BYTES) >> 20);
        return -1;
    }
    if (c->stream && c->status == 200) {
        c->in_callback = true;
        sse_feed(c);
        c->in_callback = false;
        if (c->cancelled || c->restart_pending) return -1;
    }
    return 0;
}

static int call_restart(hr_call *c);

/* A non-streamed answer for a sink that takes raw text: relayed without a
 * tree; the sink checks it and reads usage in its own scan (backend.h). */
static void complete_raw(hr_call *c) {
    c->finished = true;
    c->sink->ops->complete(c->sink, NULL, c->buf.data ? c->buf.data : "", c->buf.len, NULL);
}

static void on_done(void *ud, long status, hr_xfer_result res, bool got_bytes, const char *msg) {
    hr_call *c = ud;
    c->xfer = NULL; /* freed by the transport after this returns */
    if (!c->cancelled && !c->restart_pending) {
        if (res != HR_XFER_OK) {
            /* safe to send elsewhere: nothing reached the upstream, or nothing came back */
            bool retry = res == HR_XFER_CONNECT || res == HR_XFER_CONNECT_TIMEOUT || (res == HR_XFER_IO && !got_bytes);
            int code = res == HR_XFER_TIMEOUT || res == HR_XFER_CONNECT_TIMEOUT ? 504 : 502;
            sink_error(c, code, "upstream_error", retry ? "upstream_unreachable" : "upstream_error", retry,
                       "upstream %s: %s", c->up->base.label, msg);
        } else {
            c->status = status;
            if (c->status != 200) {
                upstream_http_error(c);
            } else if (c->stream) {
                if (c->buf.len) sse_event(c, c->buf.data, c->buf.len); /* last event without blank line */
                if (!c->finished) {
                    c->finished = true;
                    c->sink->ops->done(c->sink, &c->usage);
                }
            } else if (c->sink->raw_ok) {
                complete_raw(c);
            } else {
                cJSON *obj = cJSON_ParseWithLength(c->buf.data ? c->buf.data : "", c->buf.len);
                if (!cJSON_IsObject(obj)) {
                    cJSON_Delete(obj);
                    sink_error(c, 502, "upstream_error", "upstream_bad_json", false,
                               "upstream %s answered with invalid JSON", c->up->base.label);
                } else {
                    read_usage(obj, &c->usage);
                    c->finished = true;
                    c->sink->ops->complete(c->sink, obj, c->buf.data, c->buf.len, &c->usage);
                }
            }
        }
    }
    if (c->restart_pending && !c->cancelled && call_restart(c) == 0) return; /* the JSON-mode retry */
    call_free(c);
}

static const hr_xfer_cbs call_cbs = {on_data, on_done};

/* ---- submit / cancel --------------------------------------------------- */

/* The client's body with `model` set to this upstream's model name (removed
 * when none is configured) and, when streaming, stream_options.include_usage
 * forced on. Edits the raw text when the request still has it (no
 * re-printing), else prints the (modified) JSON. */
static char *upstream_body(hr_backend *b, hr_chat_request *req) {
    cJSON *root = req->root;
    const char *model = ((upstream *)b)->model_json;
    char *so_text = NULL;
    if (req->stream && !cJSON_GetObjectItemCaseSensitive(root, "stream_options")) {
        so_text = hr_xstrdup("{\"include_usage\":true}");
    } else if (req->stream) {
        cJSON *so = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "stream_options"), 1);
        if (!cJSON_IsObject(so)) {
            cJSON_Delete(so);
            so = cJSON_CreateObject();
        }
        cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
        cJSON_AddTrueToObject(so, "include_usage");
        so_text = cJSON_PrintUnformatted(so);
        cJSON_Delete(so);
    }
    char *body;
    hr_buf a, z;
    hr_buf_init(&a, 0);
    hr_buf_init(&z, 0);
    if (req->raw && hr_json_set_member(req->raw, req->raw_len, "model", model, &a) == 0 &&
        (!so_text || hr_json_set_member(a.data, a.len, "stream_options", so_text, &z) == 0)) {
        body = so_text ? hr_buf_steal(&z) : hr_buf_steal(&a);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
        if (model) cJSON_AddStringToObject(root, "model", b->cfg->model);
        if (so_text) {
            cJSON_DeleteItemFromObjectCaseSensitive(root, "stream_options");
            cJSON_AddRawToObject(root, "stream_options", so_text);
        }
        body = cJSON_PrintUnformatted(root);
    }
    hr_buf_free(&a);
    hr_buf_free(&z);
    free(so_text);
    return body;
}

static int start_transfer(hr_call *c);
static int hermes_setup(hr_call *c, hr_chat_request *req);

static hr_call *up_submit(hr_backend *b, hr_loop *loop, hr_chat_request *req, hr_sink *sink) {
    upstream *up = (upstream *)b;
    hr_call *c = hr_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->up = up;
    c->sink = sink;
    c->req = req;
    c->stream = req->stream;
    c->client_usage = req->include_usage;
    c->usage.prompt_tokens = c->usage.completion_tokens = -1;
    hr_buf_init(&c->buf, c->stream ? MAX_SSE_EVENT_BYTES : MAX_RESPONSE_BYTES);

    if (hermes_setup(c, req) < 0) {
        call_free(c);
        return NULL;
    }
    c->body = c->text_mode ? hr_hermes_filter_completions_body(c->filter, b->cfg->model) : upstream_body(b, req);

    int nh = 0;
    c->headers[nh++] = "Content-Type: application/json";
    if (c->stream) c->headers[nh++] = "Accept: text/event-stream";
    if (up->auth_header) c->headers[nh++] = up->auth_header;
    c->headers[nh] = NULL;
    if (start_transfer(c) < 0) {
        sink_error(c, 500, "server_error", NULL, false, "cannot start the upstream request");
        call_free(c);
        return NULL;
    }
    return c;
}

/* Starts the call's transfer (again for a restart). */
static int start_transfer(hr_call *c) {
    upstream *up = c->up;
    hr_xfer_opts o = {
        .method = "POST",
        .url = c->text_mode ? up->completions_url : up->chat_url,
        .body = c->body,
        .body_len = strlen(c->body),
        .headers = c->headers,
        .connect_timeout_ms = up->connect_timeout_ms,
        .total_timeout_ms = up->request_timeout_ms,
        .idle_timeout_ms = up->idle_timeout_s * 1000,
    };
    c->xfer = hr_xfer_start(c->loop, &o, &call_cbs, c);
    if (!c->xfer) return -1;
    atomic_fetch_add(&up->base.requests, 1);
    return 0;
}

/* The filter's retry hook: the restart happens once the current transfer
 * has been unwound (on_done), never inside a transport callback. */
static bool call_request_restart(void *ud) {
    hr_call *c = ud;
    if (c->cancelled) return false;
    c->restart_pending = true;
    return true;
}

/* Same request, same sink, a fresh transfer. 0, or -1 after an error callback. */
static int call_restart(hr_call *c) {
    hr_buf_reset(&c->buf);
    c->usage.prompt_tokens = c->usage.completion_tokens = -1;
    c->status = 0;
    c->got_bytes = c->finished = c->restart_pending = false;
    if (start_transfer(c) == 0) return 0;
    sink_error(c, 500, "server_error", NULL, false, "cannot restart the upstream request");
    return -1;
}

/* Puts the Hermes filter between this call and the gateway's sink when the
 * request needs it (hermes_filter.h). -1 after a 400 error callback. */
static int hermes_setup(hr_call *c, hr_chat_request *req) {
    unsigned mode = hr_hermes_filter_mode(c->up->base.cfg, req);
    if (!mode) return 0;
    hr_request_error err;
    c->filter = hr_hermes_filter_create(mode, req, c->sink, &err);
    if (!c->filter) {
        sink_error(c, 400, "invalid_request_error", NULL, false, "%s", err.message);
        return -1;
    }
    c->sink = hr_hermes_filter_sink(c->filter);
    c->text_mode = (mode & HR_HERMES_FILTER_TEXT) != 0;
    hr_hermes_filter_set_retry(c->filter, call_request_restart, c);
    return 0;
}

static void up_cancel(hr_call *c) {
    if (!c) return;
    c->cancelled = true;
    if (c->in_callback) return; /* on_data returns -1; the transfer ends and on_done frees the call */
    call_free(c);
}

static void up_free(hr_backend *b) {
    upstream *up = (upstream *)b;
    if (!up) return;
    free(up->chat_url);
    free(up->completions_url);
    free(up->models_url);
    free(up->auth_header);
    free(up->model_json);
    free(up);
}

static const hr_backend_vtbl upstream_vtbl = {"openai", up_submit, up_cancel, up_free};

hr_backend *hr_upstream_create(const hr_config *cfg, const hr_backend_config *bc, int tier, int index) {
    static int curl_ready;
    if (!curl_ready) { /* called from the main thread before loops start */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    upstream *up = hr_xcalloc(1, sizeof *up);
    up->base.vt = &upstream_vtbl;
    up->base.cfg = bc;
    up->base.tier = tier;
    up->base.index = index;
    snprintf(up->base.label, sizeof up->base.label, "%s[%d] %s (%s)", hr_tier_name(tier), index, bc->url,
             bc->model ? bc->model : "model from request");
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_printf(&b, "%s/chat/completions", bc->url);
    up->chat_url = hr_buf_steal(&b);
    hr_buf_printf(&b, "%s/completions", bc->url);
    up->completions_url = hr_buf_steal(&b);
    hr_buf_printf(&b, "%s/models", bc->url);
    up->models_url = hr_buf_steal(&b);
    if (bc->model) {
        hr_json_put_string(&b, bc->model);
        up->model_json = hr_buf_steal(&b);
    }
    if (bc->api_key && bc->api_key[0]) {
        hr_buf_printf(&b, "Authorization: Bearer %s", bc->api_key);
        up->auth_header = hr_buf_steal(&b);
    }
    up->connect_timeout_ms = (long)(cfg->connect_timeout_s * 1000);
    up->request_timeout_ms = (long)(cfg->request_timeout_s * 1000);
    up->idle_timeout_s = (long)(cfg->idle_timeout_s + 0.5);
    if (up->idle_timeout_s < 1) up->idle_timeout_s = 1;
    return &up->base;
}

/* ---- probe -------------------------------------------------------------- */

typedef struct probe {
    void (*done)(void *ud, bool ok);
    void *ud;
    const char *headers[2];
} probe;

static int probe_data(void *ud, long status, const char *p, size_t n) { return 0; }

static void probe_done(void *ud, long status, hr_xfer_result res, bool got_bytes, const char *msg) {
    probe *p = ud;
    p->done(p->ud, res == HR_XFER_OK && status > 0 && status < 500);
    free(p);
}

static const hr_xfer_cbs probe_cbs = {probe_data, probe_done};

void hr_upstream_probe(hr_backend *b, hr_loop *loop, double timeout_s, void (*done)(void *ud, bool ok), void *ud) {
    upstream *up = (upstream *)b;
    probe *p = hr_xcalloc(1, sizeof *p);
    p->done = done;
    p->ud = ud;
    p->headers[0] = up->auth_header;
    hr_xfer_opts o = {
        .method = "GET",
        .url = up->models_url,
        .headers = p->headers,
        .connect_timeout_ms = (long)(timeout_s * 1000),
        .total_timeout_ms = (long)(timeout_s * 1000),
        .idle_timeout_ms = (long)(timeout_s * 1000),
    };
    if (!hr_xfer_start(loop, &o, &probe_cbs, p)) {
        free(p);
        done(ud, false);
    }
}
