/* POST /v1/chat/completions: parse, route, dispatch to the tier's backend,
 * and relay the answer as JSON or SSE, with the routing decision in headers
 * (x-hermes-*) and in the body ("hermes" extension object).
 *
 * Lifecycle of one request (gw_req), all on one loop thread:
 *   handle -> route -> attempt (pick backend, submit) -> sink callbacks
 *   -> finish (metrics + log row) -> free.
 * A connection failure before any byte was relayed marks the backend down,
 * then retries once on another backend of the tier, else falls back to the
 * next larger tier with a live backend. A client that goes away cancels the
 * backend call (the HTTP server reports EOF, a reset or a failed write). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


#include "backend/json_scan.h"
#include "core/clock.h"
#include "core/json_splice.h"
#include "core/log.h"
#include "gateway/cascade.h"
#include "gateway/internal.h"
#include "hermes/hermes.h"

#define BACKEND_DOWN_MS 5000 /* how long an unreachable backend is skipped */
#define MAX_ATTEMPTS 3

typedef struct gw_req {
    hr_sink sink; /* first: the backend calls back through it */
    hr_worker *w;
    hr_gateway *gw;
    hr_http_req *req;   /* NULL once the client is gone */
    hr_chat_request chat;
    hr_route_decision d;
    int tier;                     /* tier answering now */
    hr_backend *backend;
    hr_call *call;
    int attempts;
    bool fallback;
    bool streaming;               /* SSE headers sent */
    bool finished;
    bool in_submit;               /* inside backend submit: finish() does not free r */
    /* while a decider thread reads chat and writes d (finish() does not free r) */
    struct hr_decide_job *djob;
    char id[40];
    char model[160];
    char reason[256];
    uint64_t t0_ns, first_byte_ns;
    hr_usage usage;
    hr_cascade *cascade;          /* cascade strategies: answers instead of one backend call */
    hr_cascade_info *cinfo;       /* what the cascade did (NULL: not cascaded; owned) */
    bool cinfo_synced;
} gw_req;

static void finish(gw_req *r, int status, const char *error);
static void req_free(gw_req *r);

/* ---- helpers ---------------------------------------------------------- */

hr_backend *hr_gateway_pick(hr_gateway *gw, int tier, const hr_backend *avoid) {
    int n = gw->n_backends[tier];
    if (n == 0) return NULL;
    int64_t now = hr_unix_ms();
    unsigned start = atomic_fetch_add_explicit(&gw->rr[tier], 1, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        hr_backend *b = gw->backends[tier][(start + (unsigned)i) % (unsigned)n];
        if (b != avoid && hr_backend_is_live(b, now)) return b;
    }
    return NULL;
}

/* The cascade's final tier and escalation path become the request's (once). */
static void cascade_sync(gw_req *r) {
    if (!r->cinfo || !r->cinfo->n || r->cinfo_synced || r->cinfo->final_tier < 0) return;
    r->cinfo_synced = true;
    r->tier = r->cinfo->final_tier;
    size_t l = strlen(r->reason);
    snprintf(r->reason + l, sizeof r->reason - l, "; cascade %s", r->cinfo->path);
}

static void set_route_headers(gw_req *r) {
    hr_http_req *h = r->req;
    char buf[512];
    cascade_sync(r);
    hr_cascade_info_headers(r->cinfo, h);
    hr_http_add_header(h, "x-request-id", r->id);
    hr_http_add_header(h, "x-hermes-tier", r->tier >= 0 ? hr_tier_name(r->tier) : "none");
    hr_header_escape(r->reason, buf, sizeof buf);
    hr_http_add_header(h, "x-hermes-route-reason", buf);
    hr_buf us;
    hr_buf_init(&us, 0);
    hr_json_put_fixed2(&us, r->d.route_us); /* printf's float formatting costs more than the whole route */
    hr_http_add_header(h, "x-hermes-route-us", us.data);
    hr_buf_free(&us);
    hr_http_add_header(h, "x-hermes-strategy", r->d.strategy ? r->d.strategy : "none");
    if (r->model[0]) {
        hr_header_escape(r->model, buf, sizeof buf);
        hr_http_add_header(h, "x-hermes-model", buf);
    }
}

/* The "hermes" extension object: {"tier", "route_reason", ...} as JSON text. */
static char *hermes_field(gw_req *r) {
    cascade_sync(r);
    if (!r->cinfo) { /* the common case, written directly: this runs on every answer */
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_buf_puts(&b, "{\"tier\":");
        hr_json_put_string(&b, hr_tier_name(r->tier));
        hr_buf_puts(&b, ",\"route_reason\":");
        hr_json_put_string(&b, r->reason);
        hr_buf_puts(&b, ",\"strategy\":");
        hr_json_put_string(&b, r->d.strategy ? r->d.strategy : "none");
        hr_buf_puts(&b, ",\"route_us\":");
        hr_json_put_fixed2(&b, r->d.route_us);
        hr_buf_puts(&b, r->d.forced ? ",\"forced\":true" : ",\"forced\":false");
        if (r->fallback) hr_buf_puts(&b, ",\"fallback\":true");
        hr_buf_puts(&b, ",\"request_id\":");
        hr_json_put_string(&b, r->id);
        hr_buf_puts(&b, "}");
        return hr_buf_steal(&b);
    }
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "tier", hr_tier_name(r->tier));
    cJSON_AddStringToObject(x, "route_reason", r->reason);
    cJSON_AddStringToObject(x, "strategy", r->d.strategy ? r->d.strategy : "none");
    char us[32];
    snprintf(us, sizeof us, "%.2f", r->d.route_us); /* raw: cJSON's float printing is slow */
    cJSON_AddRawToObject(x, "route_us", us);
    cJSON_AddBoolToObject(x, "forced", r->d.forced);
    if (r->fallback) cJSON_AddBoolToObject(x, "fallback", true);
    cJSON_AddStringToObject(x, "request_id", r->id);
    hr_cascade_info_json(r->cinfo, x);
    char *text = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    return text;
}

/* A backend's own "hermes" object on obj (the Hermes filter's JSON-mode
 * verdict, backend/hermes_filter.h) joins the gateway's field; json_valid
 * also becomes the x-hermes-json-valid header while headers can still go. */
static char *merge_backend_hermes(gw_req *r, cJSON *obj, char *field) {
    cJSON *theirs = cJSON_GetObjectItemCaseSensitive(obj, "hermes");
    if (!cJSON_IsObject(theirs)) return field;
    cJSON *ours = cJSON_Parse(field);
    cJSON *it;
    cJSON_ArrayForEach(it, theirs) {
        if (it->string && !cJSON_HasObjectItem(ours, it->string))
            cJSON_AddItemToObject(ours, it->string, cJSON_Duplicate(it, true));
    }
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(theirs, "json_valid");
    if (cJSON_IsBool(jv) && r->req && !r->streaming)
        hr_http_add_header(r->req, "x-hermes-json-valid",
                          cJSON_IsTrue(jv) ? "true" : "false");
    free(field);
    field = cJSON_PrintUnformatted(ours);
    cJSON_Delete(ours);
    return field;
}

/* Serialises obj with the hermes field added. When raw (obj's exact text) is
 * given, the field is spliced in before the closing brace instead of
 * re-printing the whole object. Returns malloc'd text. */
static char *with_hermes_field(gw_req *r, cJSON *obj, const char *raw, size_t raw_len) {
    char *field = merge_backend_hermes(r, obj, hermes_field(r));
    while (raw && raw_len && (raw[raw_len - 1] == ' ' || raw[raw_len - 1] == '\n' || raw[raw_len - 1] == '\r'))
        raw_len--;
    if (raw && raw_len >= 2 && raw[raw_len - 1] == '}' && !cJSON_HasObjectItem(obj, "hermes")) {
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_buf_append(&b, raw, raw_len - 1);
        hr_buf_puts(&b, cJSON_GetArraySize(obj) > 0 ? ",\"hermes\":" : "\"hermes\":");
        hr_buf_puts(&b, field);
        hr_buf_puts(&b, "}");
        free(field);
        return hr_buf_steal(&b);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "hermes");
    cJSON_AddRawToObject(obj, "hermes", field);
    free(field);
    return cJSON_PrintUnformatted(obj);
}

/* with_hermes_field for an answer known only as checked raw text without a
 * "hermes" member of its own: the field is spliced before the closing brace. */
static char *splice_hermes_field(gw_req *r, const char *raw, size_t raw_len) {
    char *field = hermes_field(r);
    while (raw_len && (raw[raw_len - 1] == ' ' || raw[raw_len - 1] == '\n' || raw[raw_len - 1] == '\r' ||
                       raw[raw_len - 1] == '\t'))
        raw_len--;
    size_t open = 0;
    while (open < raw_len && raw[open] != '{') open++;
    size_t j = open + 1;
    while (j < raw_len && (raw[j] == ' ' || raw[j] == '\n' || raw[j] == '\r' || raw[j] == '\t')) j++;
    bool empty = j + 1 >= raw_len; /* nothing between the braces */
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_append(&b, raw, raw_len ? raw_len - 1 : 0);
    hr_buf_puts(&b, empty ? "\"hermes\":" : ",\"hermes\":");
    hr_buf_puts(&b, field);
    hr_buf_puts(&b, "}");
    free(field);
    return hr_buf_steal(&b);
}

/* note_model for raw text: the top-level "model" string (span from the scan). */
static void note_model_raw(gw_req *r, const char *raw, const hr_json_span *m) {
    if (r->model[0] || !m->found) return;
    size_t vs = m->start, ve = m->end;
    if (ve - vs < 2 || raw[vs] != '"') return;
    if (!memchr(raw + vs, '\\', ve - vs)) {
        size_t n = ve - vs - 2;
        if (n >= sizeof r->model) n = sizeof r->model - 1;
        memcpy(r->model, raw + vs + 1, n);
        r->model[n] = 0;
        return;
    }
    cJSON *j = cJSON_ParseWithLength(raw + vs, ve - vs); /* escapes: let cJSON decode them */
    if (cJSON_IsString(j)) snprintf(r->model, sizeof r->model, "%s", j->valuestring);
    cJSON_Delete(j);
}

static void note_model(gw_req *r, const cJSON *obj) {
    if (r->model[0]) return;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "model");
    if (cJSON_IsString(m)) snprintf(r->model, sizeof r->model, "%s", m->valuestring);
}

/* The answer is ending: the client going away no longer concerns r. */
static void stop_watch(gw_req *r) {
    if (r->req) hr_http_req_on_close(r->req, NULL, NULL);
}

/* ---- sink: backend -> client ------------------------------------------ */

static void write_sse(gw_req *r, const char *data, size_t len) {
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_append(&b, "data: ", 6);
    hr_buf_append(&b, data, len);
    hr_buf_append(&b, "\n\n", 2);
    hr_http_stream_write(r->req, b.data, b.len);
    hr_buf_free(&b);
}

static void start_stream(gw_req *r) {
    hr_http_add_header(r->req, "Content-Type", "text/event-stream");
    hr_http_add_header(r->req, "Cache-Control", "no-cache");
    set_route_headers(r);
    hr_http_stream_start(r->req, 200);
    r->streaming = true;
}

static void sink_chunk(hr_sink *s, cJSON *chunk, const char *raw, size_t raw_len) {
    gw_req *r = (gw_req *)s;
    if (!r->first_byte_ns) r->first_byte_ns = hr_now_ns();
    note_model(r, chunk);
    if (!r->req) {
        cJSON_Delete(chunk);
        return;
    }
    if (!r->streaming) {
        char *text = with_hermes_field(r, chunk, raw, raw_len); /* tier and reason in the first chunk */
        start_stream(r);
        write_sse(r, text, strlen(text));
        free(text);
    } else if (raw) {
        write_sse(r, raw, raw_len);
    } else {
        char *text = cJSON_PrintUnformatted(chunk);
        write_sse(r, text, strlen(text));
        free(text);
    }
    cJSON_Delete(chunk);
}

static void sink_done(hr_sink *s, const hr_usage *u) {
    gw_req *r = (gw_req *)s;
    r->call = NULL;
    if (u) r->usage = *u;
    if (r->req) {
        if (!r->streaming) start_stream(r);
        write_sse(r, "[DONE]", 6);
        stop_watch(r);
        hr_http_stream_end(r->req);
        r->req = NULL;
    }
    finish(r, 200, NULL);
}

static void sink_error(hr_sink *s, const hr_backend_error *e);

/* usage.prompt_tokens / completion_tokens from the "usage" value's text. */
static void read_usage_raw(const char *t, size_t n, hr_usage *u) {
    hr_json_span k[2] = {{.key = "prompt_tokens"}, {.key = "completion_tokens"}};
    if (!hr_json_scan_object(t, n, k, 2)) return;
    long v;
    if (k[0].found && hr_json_span_long(t + k[0].start, k[0].end - k[0].start, &v)) u->prompt_tokens = v;
    if (k[1].found && hr_json_span_long(t + k[1].start, k[1].end - k[1].start, &v)) u->completion_tokens = v;
}

static void sink_complete(hr_sink *s, cJSON *obj, const char *raw, size_t raw_len, const hr_usage *u) {
    gw_req *r = (gw_req *)s;
    r->call = NULL;
    if (!r->first_byte_ns) r->first_byte_ns = hr_now_ns();
    if (u) r->usage = *u;
    hr_json_span top[3] = {{.key = "model"}, {.key = "hermes"}, {.key = "usage"}};
    if (!obj) { /* raw text only (raw_ok): checked here, in the one scan */
        if (!hr_json_scan_object(raw, raw_len, top, 3)) {
            hr_backend_error e = {502, "upstream_error", "upstream_bad_json", {0}, false};
            snprintf(e.message, sizeof e.message, "upstream %s answered with invalid JSON",
                     r->backend ? r->backend->label : "?");
            sink_error(s, &e);
            return;
        }
        if (top[2].found) read_usage_raw(raw + top[2].start, top[2].end - top[2].start, &r->usage);
        if (top[1].found) obj = cJSON_ParseWithLength(raw, raw_len); /* the backend's own "hermes" joins ours */
    }
    if (obj) note_model(r, obj);
    else note_model_raw(r, raw, &top[0]);
    if (r->req) {
        char *text = obj ? with_hermes_field(r, obj, raw, raw_len) : splice_hermes_field(r, raw, raw_len);
        set_route_headers(r);
        stop_watch(r);
        hr_http_send_take(r->req, 200, text, strlen(text)); /* application/json by default */
        r->req = NULL;
    }
    cJSON_Delete(obj);
    finish(r, 200, NULL);
}

static void attempt(gw_req *r, hr_backend *avoid);

static void sink_error(hr_sink *s, const hr_backend_error *e) {
    gw_req *r = (gw_req *)s;
    r->call = NULL;
    if (e->retryable && r->backend) {
        int64_t until = hr_unix_ms() + BACKEND_DOWN_MS;
        atomic_store(&r->backend->down_until_ms, until);
        atomic_fetch_add(&r->backend->failures, 1);
        hr_warn("%s: %s; marked down for %d s", r->id, e->message, BACKEND_DOWN_MS / 1000);
        if (r->req && !r->streaming && r->attempts < MAX_ATTEMPTS && !r->in_submit) {
            attempt(r, r->backend);
            return;
        }
    }
    if (r->req) {
        if (r->streaming) {
            /* Mid-stream failure: an error event, then the end of the stream. */
            cJSON *err = hr_error_json(e->type, e->code, NULL, e->message);
            char *text = cJSON_PrintUnformatted(err);
            cJSON_Delete(err);
            write_sse(r, text, strlen(text));
            free(text);
            stop_watch(r);
            hr_http_stream_end(r->req);
        } else {
            set_route_headers(r);
            stop_watch(r);
            if (e->status == 429) /* a busy backend (embedded queue full): come back soon */
                hr_http_add_header(r->req, "Retry-After", "1");
            hr_send_json(r->req, e->status, hr_error_json(e->type, e->code, NULL, e->message));
        }
        r->req = NULL;
    }
    finish(r, e->status, e->message);
}

static const hr_sink_ops sink_ops = {sink_chunk, sink_done, sink_complete, sink_error};

/* ---- client gone ------------------------------------------------------ */

static void client_gone(gw_req *r) {
    if (r->djob) hr_decider_cancel(r->djob);
    if (r->cascade) {
        hr_cascade_cancel(r->cascade);
        r->cascade = NULL;
    }
    if (r->call) {
        r->backend->vt->cancel(r->call);
        r->call = NULL;
    }
    finish(r, 499, "client closed the connection");
}

/* The client went away (EOF, reset, timeout) before its answer ended; the
 * server frees the request after this returns. */
static void on_client_close(hr_http_req *req, void *arg) {
    gw_req *r = arg;
    r->req = NULL;
    client_gone(r);
}

/* Cancel the backend call when the client goes away while we wait. */
static void watch_client(gw_req *r) { hr_http_req_on_close(r->req, on_client_close, r); }

/* ---- dispatch --------------------------------------------------------- */

static void attempt(gw_req *r, hr_backend *avoid) {
    hr_gateway *gw = r->gw;
    r->attempts++;
    hr_backend *b = hr_gateway_pick(gw, r->tier, avoid);
    int from = r->tier;
    for (int t = r->tier + 1; !b && t < HR_TIER_MAX; t++) {
        if (!gw->cfg->tiers[t].enabled) continue;
        b = hr_gateway_pick(gw, t, avoid);
        if (b) r->tier = t;
    }
    if (!b) {
        char msg[256];
        snprintf(msg, sizeof msg, "no live backend for tier %s or any larger tier", hr_tier_name(from));
        hr_backend_error e = {503, "server_error", "no_live_backend", {0}, false};
        snprintf(e.message, sizeof e.message, "%s", msg);
        r->backend = NULL;
        sink_error(&r->sink, &e);
        return;
    }
    if (r->tier != from) {
        r->fallback = true;
        size_t l = strlen(r->reason);
        snprintf(r->reason + l, sizeof r->reason - l, "; fallback from %s: no live backend", hr_tier_name(from));
    }
    r->backend = b;
    /* submit may answer synchronously (sink->error: a 400 from the backend's
     * own checks, a 429); finish() then leaves freeing r to us */
    r->in_submit = true;
    hr_call *call = b->vt->submit(b, r->w->loop, &r->chat, &r->sink);
    r->in_submit = false;
    if (r->finished) {
        req_free(r);
        return;
    }
    r->call = call;
}

static void finish(gw_req *r, int status, const char *error) {
    if (r->finished) return;
    r->finished = true;
    stop_watch(r);
    cascade_sync(r);
    hr_gateway *gw = r->gw;
    uint64_t now = hr_now_ns();
    double total_ms = (double)(now - r->t0_ns) / 1e6;
    double upstream_ms = r->first_byte_ns ? (double)(r->first_byte_ns - r->t0_ns) / 1e6 - r->d.route_us / 1e3 : -1;
    hr_request_metrics m = {
        .tier = r->tier,
        .strategy = r->d.strategy,
        .reason = r->reason,
        .forced = r->d.forced,
        .stream = r->chat.stream,
        .status = status,
        .route_us = r->d.strategy ? r->d.route_us : -1,
        .upstream_ms = upstream_ms,
        .total_ms = total_ms,
        .tokens_in = r->usage.prompt_tokens,
        .tokens_out = r->usage.completion_tokens,
        .fallback = r->fallback,
    };
    hr_metrics_observe(gw->metrics, &m);
    hr_cascade_stats_observe(gw->cascade_stats, r->cinfo);
    char *attempts = hr_cascade_info_attempts_json(r->cinfo); /* NULL when not cascaded */
    if (gw->store) {
        const hr_chat_message *u = r->chat.last_user;
        hr_log_row row = {
            .ts_ms = hr_unix_ms() - (int64_t)total_ms,
            .request_id = r->id,
            .tier = r->tier >= 0 ? hr_tier_name(r->tier) : "",
            .model = r->model,
            .strategy = r->d.strategy ? r->d.strategy : "",
            .reason = r->reason,
            .forced = r->d.forced,
            .stream = r->chat.stream,
            .route_us = r->d.strategy ? r->d.route_us : 0,
            .latency_ms = total_ms,
            .ttft_ms = r->first_byte_ns ? (double)(r->first_byte_ns - r->t0_ns) / 1e6 : total_ms,
            .prompt_tokens = r->usage.prompt_tokens,
            .completion_tokens = r->usage.completion_tokens,
            .status = status,
            .error = error,
            .prompt = gw->cfg->log.capture_text && u ? u->text : NULL,
            .attempts_json = attempts,
        };
        hr_store_write(gw->store, &row);
    }
    free(attempts);
    free(r->cinfo);
    if (status >= 500) hr_warn("%s: %d %s", r->id, status, error ? error : "");
    if (!r->in_submit && !r->djob) req_free(r);
}

static void req_free(gw_req *r) {
    hr_route_decision_clear(&r->d);
    hr_chat_request_free(&r->chat);
    free(r);
}

/* A request rejected before it reached a backend is still counted and logged. */
static void reject(gw_req *r, int status, const char *type, const char *code, const char *param, const char *msg) {
    hr_send_error(r->req, status, type, code, param, "%s", msg);
    r->req = NULL;
    finish(r, status, msg);
}

/* "hr-" + 8 hex digits of t + at least 8 of id (snprintf's "hr-%08x%08llx",
 * without its cost on every request). */
static void put_id(char *out, unsigned t, unsigned long long id) {
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = hex[id & 15];
        id >>= 4;
    } while (id);
    while (n < 8) tmp[n++] = '0';
    memcpy(out, "hr-", 3);
    for (int i = 0; i < 8; i++) out[3 + i] = hex[(t >> (28 - 4 * i)) & 15];
    for (int i = 0; i < n; i++) out[11 + i] = tmp[n - 1 - i];
    out[11 + n] = 0;
}

static void routed_go(gw_req *r, int routed, bool cascades);

/* A decision made on a decider thread, back on r's loop. */
static void decided(void *arg, int routed, bool cascades) {
    gw_req *r = arg;
    r->djob = NULL;
    if (r->finished) { /* the client left while it was decided */
        req_free(r);
        return;
    }
    if (routed == HR_DECIDE_CANCELLED) {
        if (r->req) hr_send_error(r->req, 503, "server_error", "shutting_down", NULL, "the gateway is stopping");
        r->req = NULL;
        finish(r, 503, "the gateway is stopping");
        return;
    }
    routed_go(r, routed, cascades);
}

void hr_handle_chat(hr_worker *w, hr_http_req *req) {
    hr_gateway *gw = w->gw;
    gw_req *r = hr_xcalloc(1, sizeof *r);
    r->sink.ops = &sink_ops;
    r->sink.raw_ok = true;
    r->w = w;
    r->gw = gw;
    r->req = req;
    r->tier = -1;
    r->t0_ns = hr_now_ns();
    r->usage.prompt_tokens = r->usage.completion_tokens = -1;
    unsigned long long id = atomic_fetch_add(&gw->next_id, 1);
    put_id(r->id, (unsigned)(r->t0_ns & 0xffffffffu), id);

    if (!hr_check_auth(gw, req)) {
        r->req = NULL;
        finish(r, 401, "missing or wrong API key");
        return;
    }
    size_t len;
    const char *body = hr_http_req_body(req, &len);
    if (len > gw->cfg->max_body_bytes) {
        char msg[200];
        snprintf(msg, sizeof msg, "request body of %zu bytes is larger than the limit of %zu bytes", len,
                 gw->cfg->max_body_bytes);
        reject(r, 400, "invalid_request_error", "request_too_large", NULL, msg);
        return;
    }
    hr_request_error perr;
    if (hr_chat_request_parse(body ? body : "", len, &r->chat, &perr) < 0) {
        reject(r, 400, "invalid_request_error", NULL, perr.param, perr.message);
        return;
    }
    /* tools / tool_choice / response_format must be usable on every tier (Hermes prompt, schema subset) */
    if ((r->chat.has_tools || r->chat.has_response_format || cJSON_HasObjectItem(r->chat.root, "tool_choice")) &&
        hr_hermes_request_check(r->chat.root, &perr) < 0) {
        reject(r, 400, "invalid_request_error", NULL, perr.param, perr.message);
        return;
    }
    hr_router_ref *router = hr_gateway_router_acquire(gw);
    if (hr_router_is_slow(router->router)) {
        /* milliseconds of model work: decided on a decider thread, the loop serves on */
        watch_client(r);
        r->djob = hr_decider_submit(gw->decider, w, router, &r->chat, false, &r->d, decided, r);
        return;
    }
    int routed = hr_router_decide(router->router, &r->chat, false, &r->d);
    bool cascades = hr_router_cascades(router->router);
    hr_gateway_router_release(gw, router);
    routed_go(r, routed, cascades);
}

/* The decision made: answer from the chosen tier. */
static void routed_go(gw_req *r, int routed, bool cascades) {
    hr_gateway *gw = r->gw;
    if (routed < 0) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "The model '%.128s' does not exist: use 'auto', a tier name or an alias (GET /v1/models lists them)",
                 r->chat.model);
        reject(r, 404, "invalid_request_error", "model_not_found", "model", msg);
        return;
    }
    r->tier = r->d.tier;
    size_t rl = strlen(r->d.reason);
    if (rl >= sizeof r->reason) rl = sizeof r->reason - 1;
    memcpy(r->reason, r->d.reason, rl);
    r->reason[rl] = 0;
    watch_client(r);
    if (cascades && !r->d.forced) {
        /* the cascade answers (and may finish r before run returns) */
        r->cinfo = hr_xmalloc(sizeof *r->cinfo);
        r->cascade = hr_cascade_create(gw, r->w->loop, r->tier, &r->chat, &r->sink, r->cinfo);
        hr_cascade_run(r->cascade);
        return;
    }
    attempt(r, NULL);
}
