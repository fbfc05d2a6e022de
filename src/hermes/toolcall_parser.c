/* Streaming parser for Hermes tool calls in model output.
 *
 * States: TEXT (content; looking for "<tool_call>"), CALL (collecting a
 * block up to "</tool_call>"), SKIP (an over-long block: discarding to its
 * close tag), DONE (parallel_tool_calls false and a call completed).
 * Held back in TEXT, never emitted early: a suffix that may start the open
 * tag, an incomplete UTF-8 sequence, a trailing whitespace run (dropped if a
 * call follows). Leading whitespace after a call is dropped. Memory is
 * bounded: TEXT holds at most a few bytes plus a whitespace run (flushed past
 * WS_HOLD_MAX), CALL at most max_call_bytes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"
#include "hermes/hermes_int.h"

#define OPEN_TAG "<tool_call>"
#define OPEN_LEN 11
#define CLOSE_TAG "</tool_call>"
#define CLOSE_LEN 12
#define WS_HOLD_MAX 1024
#define CALL_MAX_DEFAULT ((size_t)1 << 20)

typedef enum { ST_TEXT, ST_CALL, ST_SKIP, ST_DONE } pstate;

struct hr_hermes_parser {
    hr_hermes_parser_params p;
    bool parse_tools;
    pstate st;
    hr_buf pend;       /* TEXT: held-back bytes */
    hr_buf call;       /* CALL: block text after the open tag; SKIP: tail for tag search */
    size_t scan_from;  /* CALL/SKIP: where a close tag could newly start */
    bool after_call;   /* drop leading whitespace of the next content */
    bool finished;
    int n_calls, n_invalid;
    uint64_t rng;
};

static atomic_uint_fast64_t id_counter;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void make_id(hr_hermes_parser *ps, char out[32]) {
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    memcpy(out, "call_", 5);
    for (int i = 0; i < 24; i++) {
        if (i % 8 == 0) ps->rng ^= splitmix64(&ps->rng);
        out[5 + i] = alnum[splitmix64(&ps->rng) % 62];
    }
    out[29] = 0;
}

hr_hermes_parser_params hr_hermes_parser_default_params(void) {
    hr_hermes_parser_params p;
    memset(&p, 0, sizeof p);
    p.validate_args = true;
    p.parallel_tool_calls = true;
    p.max_call_bytes = CALL_MAX_DEFAULT;
    return p;
}

static void emit(hr_hermes_parser *ps, hr_hermes_event *ev) {
    if (ps->p.on_event) ps->p.on_event(ps->p.user, ev);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void emit_content(hr_hermes_parser *ps, const char *s, size_t n) {
    if (ps->after_call) {
        while (n && is_ws(*s)) s++, n--;
        if (!n) return;
        ps->after_call = false;
    }
    if (!n) return;
    hr_hermes_event ev = {.type = HR_HERMES_EV_CONTENT, .index = -1, .text = s, .len = n};
    emit(ps, &ev);
}

static void emit_invalid(hr_hermes_parser *ps, const char *block, size_t n, bool closed, const char *name,
                         const char *error) {
    hr_buf raw;
    hr_buf_init(&raw, 0);
    hr_buf_puts(&raw, OPEN_TAG);
    hr_buf_append(&raw, block, n);
    if (closed) hr_buf_puts(&raw, CLOSE_TAG);
    hr_hermes_event ev = {.type = HR_HERMES_EV_TOOL_INVALID, .index = ps->n_invalid++, .name = name,
                          .text = raw.data, .len = raw.len, .error = error};
    emit(ps, &ev);
    hr_buf_free(&raw);
}

static bool all_ws(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i])) return false;
    return true;
}

/* Settles one block (the text between the tags). */
static void finish_block(hr_hermes_parser *ps, const char *block, size_t n, bool closed) {
    char err[512];
    const char *name = NULL;
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(block, n, &end, false);
    cJSON *args_owned = NULL;
    if (!obj || !all_ws(end, (size_t)(block + n - end))) {
        snprintf(err, sizeof err, "%stool call is not valid JSON", closed ? "" : "unterminated ");
        goto invalid;
    }
    if (!cJSON_IsObject(obj)) {
        snprintf(err, sizeof err, "tool call must be a JSON object {\"name\": ..., \"arguments\": {...}}");
        goto invalid;
    }
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsString(jn)) {
        snprintf(err, sizeof err, "tool call has no string 'name'");
        goto invalid;
    }
    name = jn->valuestring;
    const cJSON *fn = hr_hermes__tool_find(ps->p.tools, name);
    if (!fn) {
        snprintf(err, sizeof err, "unknown function '%.64s'", name);
        goto invalid;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "parameters"); /* Llama-3.1 style */
    if (cJSON_IsString(args)) args = args_owned = cJSON_Parse(args->valuestring);
    else if (!args || cJSON_IsNull(args)) args = args_owned = cJSON_CreateObject();
    if (!cJSON_IsObject(args)) {
        snprintf(err, sizeof err, "arguments of '%.64s' must be a JSON object", name);
        goto invalid;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    if (ps->p.validate_args && cJSON_IsObject(params)) {
        char why[300];
        if (hr_hermes_schema_validate(params, args, why, sizeof why) < 0) {
            snprintf(err, sizeof err, "arguments of '%.64s' do not match its parameters: %s", name, why);
            goto invalid;
        }
    }
    char id[32];
    make_id(ps, id);
    char *ser = cJSON_PrintUnformatted(args);
    if (!ser) abort(); /* out of memory: the project's single policy */
    hr_hermes_event ev = {.type = HR_HERMES_EV_TOOL_START, .index = ps->n_calls, .id = id, .name = name};
    emit(ps, &ev);
    ev.type = HR_HERMES_EV_TOOL_ARGS;
    ev.text = ser;
    ev.len = strlen(ser);
    emit(ps, &ev);
    ev.type = HR_HERMES_EV_TOOL_END;
    ev.text = NULL;
    ev.len = 0;
    emit(ps, &ev);
    free(ser);
    ps->n_calls++;
    cJSON_Delete(args_owned);
    cJSON_Delete(obj);
    if (!ps->p.parallel_tool_calls) ps->st = ST_DONE;
    return;
invalid:
    emit_invalid(ps, block, n, closed, name, err);
    cJSON_Delete(args_owned);
    cJSON_Delete(obj);
}

/* Longest suffix of s[0..n) that is a proper prefix of the open tag. */
static size_t tag_prefix_suffix(const char *s, size_t n) {
    size_t k = n < OPEN_LEN - 1 ? n : OPEN_LEN - 1;
    for (; k > 0; k--)
        if (!memcmp(s + n - k, OPEN_TAG, k)) return k;
    return 0;
}


/* TEXT: emits what is safe from pend; moves to CALL at an open tag (returns
 * true: run the next step). */
static bool text_step(hr_hermes_parser *ps) {
    hr_buf *pd = &ps->pend;
    if (!pd->len) return false;
    if (!ps->parse_tools) {
        size_t e = hr_utf8_complete_prefix(pd->data, pd->len);
        emit_content(ps, pd->data, e);
        memmove(pd->data, pd->data + e, pd->len - e);
        pd->len -= e;
        pd->data[pd->len] = 0;
        return false;
    }
    char *tag = memmem(pd->data, pd->len, OPEN_TAG, OPEN_LEN);
    if (tag) {
        size_t k = (size_t)(tag - pd->data), e = k;
        while (e && is_ws(pd->data[e - 1])) e--; /* whitespace before a call is dropped */
        emit_content(ps, pd->data, e);
        hr_buf_reset(&ps->call);
        hr_buf_append(&ps->call, tag + OPEN_LEN, pd->len - k - OPEN_LEN);
        hr_buf_reset(pd);
        ps->st = ST_CALL;
        ps->scan_from = 0;
        return true;
    }
    size_t keep_tag = tag_prefix_suffix(pd->data, pd->len);
    size_t e = pd->len - keep_tag;
    e = hr_utf8_complete_prefix(pd->data, e);
    size_t ws = e;
    while (ws && is_ws(pd->data[ws - 1])) ws--;
    if (e - ws <= WS_HOLD_MAX) e = ws; /* hold the trailing whitespace run */
    emit_content(ps, pd->data, e);
    memmove(pd->data, pd->data + e, pd->len - e);
    pd->len -= e;
    pd->data[pd->len] = 0;
    return false;
}

/* CALL / SKIP: looks for the close tag in the block collected so far
 * (returns true: back in TEXT with the rest in pend). */
static bool call_step(hr_hermes_parser *ps) {
    hr_buf *cb = &ps->call;
    size_t from = ps->scan_from < cb->len ? ps->scan_from : cb->len;
    char *close = cb->len ? memmem(cb->data + from, cb->len - from, CLOSE_TAG, CLOSE_LEN) : NULL;
    ps->scan_from = cb->len >= CLOSE_LEN - 1 ? cb->len - (CLOSE_LEN - 1) : 0;
    /* Too long: decided the same way whatever the split (past max + a whole
     * close tag with no close tag, or a close tag found beyond max). */
    if (ps->st == ST_CALL && ((!close && cb->len > ps->p.max_call_bytes + CLOSE_LEN) ||
                              (close && (size_t)(close - cb->data) > ps->p.max_call_bytes))) {
        char err[96];
        snprintf(err, sizeof err, "tool call exceeds %zu bytes", ps->p.max_call_bytes);
        emit_invalid(ps, cb->data, ps->p.max_call_bytes, false, NULL, err);
        ps->st = ST_SKIP;
    }
    if (!close) {
        if (ps->st == ST_SKIP && cb->len > CLOSE_LEN) { /* keep only a possible partial close tag */
            memmove(cb->data, cb->data + cb->len - CLOSE_LEN, CLOSE_LEN);
            cb->len = CLOSE_LEN;
            cb->data[cb->len] = 0;
            ps->scan_from = 0;
        }
        return false;
    }
    size_t k = (size_t)(close - cb->data), rest = cb->len - k - CLOSE_LEN;
    if (ps->st == ST_CALL) finish_block(ps, cb->data, k, true);
    if (ps->st == ST_DONE) return false;
    ps->st = ST_TEXT;
    ps->after_call = true;
    hr_buf_reset(&ps->pend);
    hr_buf_append(&ps->pend, close + CLOSE_LEN, rest);
    hr_buf_reset(cb);
    return true;
}

static void run(hr_hermes_parser *ps) {
    bool more = true;
    while (more) {
        if (ps->st == ST_TEXT) more = text_step(ps);
        else if (ps->st == ST_CALL || ps->st == ST_SKIP) more = call_step(ps);
        else more = false;
    }
}

hr_hermes_parser *hr_hermes_parser_create(const hr_hermes_parser_params *p) {
    hr_hermes_parser *ps = hr_xcalloc(1, sizeof *ps);
    ps->p = p ? *p : hr_hermes_parser_default_params();
    if (!ps->p.max_call_bytes) ps->p.max_call_bytes = CALL_MAX_DEFAULT;
    ps->parse_tools = cJSON_IsArray(ps->p.tools) && cJSON_GetArraySize(ps->p.tools) > 0;
    hr_buf_init(&ps->pend, 0);
    hr_buf_init(&ps->call, 0);
    if (ps->p.id_seed) {
        ps->rng = ps->p.id_seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ps->rng = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ (uint64_t)(uintptr_t)ps ^
                  (atomic_fetch_add(&id_counter, 1) * 0xD1B54A32D192ED03ull);
    }
    if (ps->p.prefill && *ps->p.prefill) hr_hermes_parser_feed(ps, ps->p.prefill, strlen(ps->p.prefill));
    return ps;
}

int hr_hermes_parser_feed(hr_hermes_parser *ps, const char *text, size_t len) {
    if (ps->finished || ps->st == ST_DONE || !len) return 0;
    if (ps->st == ST_TEXT) {
        hr_buf_append(&ps->pend, text, len);
    } else {
        hr_buf_append(&ps->call, text, len);
    }
    run(ps);
    return 0;
}

int hr_hermes_parser_finish(hr_hermes_parser *ps) {
    if (ps->finished) return 0;
    ps->finished = true;
    if (ps->st == ST_TEXT && ps->pend.len) {
        hr_buf *pd = &ps->pend;
        size_t e = pd->len;
        if (ps->n_calls + ps->n_invalid > 0)
            while (e && is_ws(pd->data[e - 1])) e--;
        /* An incomplete UTF-8 tail becomes U+FFFD. */
        size_t ok = hr_utf8_complete_prefix(pd->data, e);
        emit_content(ps, pd->data, ok);
        if (ok < e) emit_content(ps, "\xEF\xBF\xBD", 3);
        hr_buf_reset(pd);
    } else if (ps->st == ST_CALL) {
        finish_block(ps, ps->call.data ? ps->call.data : "", ps->call.len, false);
    }
    return 0;
}

bool hr_hermes_parser_done(const hr_hermes_parser *ps) { return ps->st == ST_DONE; }
int hr_hermes_parser_n_calls(const hr_hermes_parser *ps) { return ps->n_calls; }
int hr_hermes_parser_n_invalid(const hr_hermes_parser *ps) { return ps->n_invalid; }
const char *hr_hermes_parser_finish_reason(const hr_hermes_parser *ps) {
    return ps->n_calls > 0 ? "tool_calls" : "stop";
}

void hr_hermes_parser_free(hr_hermes_parser *ps) {
    if (!ps) return;
    hr_buf_free(&ps->pend);
    hr_buf_free(&ps->call);
    free(ps);
}

/* ---- OpenAI shapes ---- */

static cJSON *string_n(const char *s, size_t n) {
    char *c = hr_xstrndup(s ? s : "", s ? n : 0);
    cJSON *v = cJSON_CreateString(c);
    free(c);
    return v;
}

cJSON *hr_hermes_event_delta(const hr_hermes_event *ev) {
    cJSON *d, *arr, *tc, *f;
    switch (ev->type) {
    case HR_HERMES_EV_CONTENT:
        d = cJSON_CreateObject();
        cJSON_AddItemToObject(d, "content", string_n(ev->text, ev->len));
        return d;
    case HR_HERMES_EV_TOOL_START:
    case HR_HERMES_EV_TOOL_ARGS:
        d = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(d, "tool_calls");
        tc = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, tc);
        cJSON_AddNumberToObject(tc, "index", ev->index);
        if (ev->type == HR_HERMES_EV_TOOL_START) {
            cJSON_AddStringToObject(tc, "id", ev->id);
            cJSON_AddStringToObject(tc, "type", "function");
        }
        f = cJSON_AddObjectToObject(tc, "function");
        if (ev->type == HR_HERMES_EV_TOOL_START) {
            cJSON_AddStringToObject(f, "name", ev->name);
            cJSON_AddStringToObject(f, "arguments", "");
        } else {
            cJSON_AddItemToObject(f, "arguments", string_n(ev->text, ev->len));
        }
        return d;
    case HR_HERMES_EV_TOOL_INVALID:
        d = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(d, "invalid_tool_calls");
        tc = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, tc);
        cJSON_AddNumberToObject(tc, "index", ev->index);
        cJSON_AddItemToObject(tc, "raw", string_n(ev->text, ev->len));
        cJSON_AddStringToObject(tc, "error", ev->error ? ev->error : "");
        if (ev->name) cJSON_AddStringToObject(tc, "name", ev->name);
        return d;
    case HR_HERMES_EV_TOOL_END:
        break;
    }
    return NULL;
}

/* ---- one shot ---- */

typedef struct {
    hr_buf content;
    cJSON *calls, *invalid, *cur;
} collect;

static void collect_event(void *user, const hr_hermes_event *ev) {
    collect *c = user;
    switch (ev->type) {
    case HR_HERMES_EV_CONTENT:
        hr_buf_append(&c->content, ev->text, ev->len);
        break;
    case HR_HERMES_EV_TOOL_START: {
        c->cur = cJSON_CreateObject();
        cJSON_AddStringToObject(c->cur, "id", ev->id);
        cJSON_AddStringToObject(c->cur, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(c->cur, "function");
        cJSON_AddStringToObject(f, "name", ev->name);
        cJSON_AddStringToObject(f, "arguments", "");
        cJSON_AddItemToArray(c->calls, c->cur);
        break;
    }
    case HR_HERMES_EV_TOOL_ARGS: {
        cJSON *f = cJSON_GetObjectItem(c->cur, "function");
        const char *old = cJSON_GetObjectItem(f, "arguments")->valuestring;
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_buf_puts(&b, old);
        hr_buf_append(&b, ev->text, ev->len);
        cJSON_ReplaceItemInObject(f, "arguments", cJSON_CreateString(b.data));
        hr_buf_free(&b);
        break;
    }
    case HR_HERMES_EV_TOOL_END:
        c->cur = NULL;
        break;
    case HR_HERMES_EV_TOOL_INVALID: {
        cJSON *o = cJSON_CreateObject();
        hr_buf raw;
        hr_buf_init(&raw, 0);
        hr_buf_append(&raw, ev->text, ev->len);
        cJSON_AddStringToObject(o, "raw", raw.data);
        hr_buf_free(&raw);
        cJSON_AddStringToObject(o, "error", ev->error);
        if (ev->name) cJSON_AddStringToObject(o, "name", ev->name);
        cJSON_AddItemToArray(c->invalid, o);
        break;
    }
    }
}

cJSON *hr_hermes_parse_message(const char *text, size_t len, const hr_hermes_parser_params *p,
                               const char **finish_reason) {
    collect c;
    hr_buf_init(&c.content, 0);
    c.calls = cJSON_CreateArray();
    c.invalid = cJSON_CreateArray();
    c.cur = NULL;
    hr_hermes_parser_params pp = p ? *p : hr_hermes_parser_default_params();
    pp.on_event = collect_event;
    pp.user = &c;
    hr_hermes_parser *ps = hr_hermes_parser_create(&pp);
    hr_hermes_parser_feed(ps, text, len);
    hr_hermes_parser_finish(ps);
    if (finish_reason) *finish_reason = hr_hermes_parser_finish_reason(ps);
    hr_hermes_parser_free(ps);

    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "assistant");
    int ncalls = cJSON_GetArraySize(c.calls);
    if (ncalls && c.content.len == 0) cJSON_AddNullToObject(msg, "content");
    else cJSON_AddStringToObject(msg, "content", c.content.data ? c.content.data : "");
    if (ncalls) cJSON_AddItemToObject(msg, "tool_calls", c.calls);
    else cJSON_Delete(c.calls);
    if (cJSON_GetArraySize(c.invalid)) cJSON_AddItemToObject(msg, "invalid_tool_calls", c.invalid);
    else cJSON_Delete(c.invalid);
    hr_buf_free(&c.content);
    return msg;
}
