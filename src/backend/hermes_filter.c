/* Hermes filter (see hermes_filter.h): text completions -> chat completions
 * through the Hermes <tool_call> parser (TEXT), and JSON-mode validation with
 * one retry (JSON). Data flow inside one filter:
 *
 *   backend -> sink ops -> [TEXT: text_*] -> [JSON: json_*] -> out sink
 *
 * Each stage either forwards to the next or, when absent, straight out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/hermes_filter.h"
#include "core/buf.h"
#include "hermes/hermes.h"

#define IM_END "<|im_end|>"
#define MAX_CLIENT_STOPS 16

struct hr_hermes_filter {
    hr_sink sink; /* first: the backend writes here */
    hr_sink *out;
    unsigned mode;
    hr_chat_request *req;
    bool stream;
    bool over; /* a terminal callback went out */

    /* TEXT */
    hr_hermes_prompt prompt;
    const cJSON *parse_tools; /* tools when the tool prompt was rendered, else NULL */
    hr_hermes_parser *parser;
    bool role_sent;
    bool choice_finished;
    char *id, *model;
    double created;
    char up_finish[24]; /* the upstream's finish_reason ("length", ...) */

    /* JSON */
    const cJSON *schema; /* NULL: json_object */
    bool (*retry)(void *ud);
    void *retry_ud;
    int retries;
    hr_buf content;       /* streaming: the answer's content so far */
    bool made_calls;      /* streaming: a tool_calls delta was seen */
    cJSON *held;          /* streaming: chunks held until validation (array) */
    /* the invalid first answer, kept while its retry runs */
    cJSON *prev;          /* completion object, or array of chunks */
    hr_usage prev_usage;
    char prev_error[200];
};

static const hr_sink_ops filter_ops;

/* ---- mode and creation --------------------------------------------------- */

static bool json_mode_of(const cJSON *root, const cJSON **schema) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type)) return false;
    if (!strcmp(type->valuestring, "json_object")) {
        if (schema) *schema = NULL;
        return true;
    }
    if (!strcmp(type->valuestring, "json_schema")) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
        if (schema) *schema = cJSON_IsObject(s) ? s : NULL;
        return true;
    }
    return false;
}

static bool has_tool_history(const hr_chat_request *req) {
    for (size_t i = 0; i < req->n_messages; i++) {
        const hr_chat_message *m = &req->messages[i];
        if (m->role == HR_ROLE_TOOL) return true;
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m->json, "tool_calls");
        if (m->role == HR_ROLE_ASSISTANT && cJSON_GetArraySize(tc) > 0) return true;
    }
    return false;
}

unsigned hr_hermes_filter_mode(const hr_backend_config *bc, const hr_chat_request *req) {
    unsigned mode = 0;
    bool json = json_mode_of(req->root, NULL);
    if (json) mode |= HR_HERMES_FILTER_JSON;
    if (bc->type == HR_BACKEND_OPENAI && bc->tool_format == HR_TOOLS_HERMES &&
        (req->has_tools || json || has_tool_history(req)))
        mode |= HR_HERMES_FILTER_TEXT;
    return mode;
}

static void parser_event(void *user, const hr_hermes_event *ev);

static void parser_start(hr_hermes_filter *f) {
    hr_hermes_parser_params pp = hr_hermes_parser_default_params();
    pp.tools = f->parse_tools;
    pp.parallel_tool_calls = f->prompt.parallel_tool_calls;
    pp.prefill = f->prompt.prefill;
    pp.on_event = parser_event;
    pp.user = f;
    f->parser = hr_hermes_parser_create(&pp);
}

hr_hermes_filter *hr_hermes_filter_create(unsigned mode, hr_chat_request *req, hr_sink *out, hr_request_error *err) {
    hr_hermes_filter *f = hr_xcalloc(1, sizeof *f);
    f->sink.ops = &filter_ops;
    f->out = out;
    f->mode = mode;
    f->req = req;
    f->stream = req->stream;
    hr_buf_init(&f->content, HR_HERMES_FILTER_MAX_HELD);
    json_mode_of(req->root, &f->schema);
    if (mode & HR_HERMES_FILTER_TEXT) {
        hr_hermes_prompt_params pp = hr_hermes_prompt_params_from_request(req->root);
        if (hr_hermes_prompt_render(&pp, &f->prompt, err) < 0) {
            hr_hermes_filter_free(f);
            return NULL;
        }
        f->parse_tools = f->prompt.tools_in_prompt ? pp.tools : NULL;
        parser_start(f);
    }
    return f;
}

hr_sink *hr_hermes_filter_sink(hr_hermes_filter *f) { return &f->sink; }

void hr_hermes_filter_set_retry(hr_hermes_filter *f, bool (*retry)(void *ud), void *ud) {
    f->retry = retry;
    f->retry_ud = ud;
}

static void attempt_reset(hr_hermes_filter *f) {
    hr_hermes_parser_free(f->parser);
    f->parser = NULL;
    if (f->mode & HR_HERMES_FILTER_TEXT) parser_start(f);
    f->role_sent = f->choice_finished = false;
    free(f->id);
    free(f->model);
    f->id = f->model = NULL;
    f->up_finish[0] = 0;
    hr_buf_reset(&f->content);
    f->made_calls = false;
    cJSON_Delete(f->held);
    f->held = NULL;
}

void hr_hermes_filter_free(hr_hermes_filter *f) {
    if (!f) return;
    hr_hermes_parser_free(f->parser);
    free(f->id);
    free(f->model);
    cJSON_Delete(f->held);
    hr_hermes_prompt_free(&f->prompt);
    hr_buf_free(&f->content);
    cJSON_Delete(f->prev);
    free(f);
}

/* ---- the completions request body ---------------------------------------- */

static void copy_field(cJSON *dst, const cJSON *root, const char *name, const char *as) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(dst, as ? as : name, cJSON_Duplicate(v, true));
}

char *hr_hermes_filter_completions_body(const hr_hermes_filter *f, const char *model) {
    const cJSON *root = f->req->root;
    cJSON *b = cJSON_CreateObject();
    if (model) cJSON_AddStringToObject(b, "model", model);
    cJSON_AddStringToObject(b, "prompt", f->prompt.text);
    cJSON *stop = cJSON_AddArrayToObject(b, "stop");
    cJSON_AddItemToArray(stop, cJSON_CreateString(IM_END));
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (cJSON_IsString(cs)) {
        if (strcmp(cs->valuestring, IM_END)) cJSON_AddItemToArray(stop, cJSON_CreateString(cs->valuestring));
    } else if (cJSON_IsArray(cs)) {
        const cJSON *s;
        int n = 0;
        cJSON_ArrayForEach(s, cs) {
            if (cJSON_IsString(s) && strcmp(s->valuestring, IM_END) && n++ < MAX_CLIENT_STOPS)
                cJSON_AddItemToArray(stop, cJSON_CreateString(s->valuestring));
        }
    }
    if (f->req->max_tokens >= 0) cJSON_AddNumberToObject(b, "max_tokens", (double)f->req->max_tokens);
    static const char *const pass[] = {"temperature", "top_p", "seed", "presence_penalty", "frequency_penalty",
                                       "logit_bias", "user"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) copy_field(b, root, pass[i], NULL);
    /* <tool_call> and </tool_call> must come back as text (vLLM's option; others ignore it) */
    cJSON_AddFalseToObject(b, "skip_special_tokens");
    if (f->stream) {
        cJSON_AddTrueToObject(b, "stream");
        cJSON_AddTrueToObject(cJSON_AddObjectToObject(b, "stream_options"), "include_usage");
    } else {
        cJSON_AddFalseToObject(b, "stream");
    }
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return text;
}

/* ---- out ------------------------------------------------------------------ */

static void out_chunk(hr_hermes_filter *f, cJSON *chunk) {
    if (f->over) {
        cJSON_Delete(chunk);
        return;
    }
    f->out->ops->chunk(f->out, chunk, NULL, 0);
}

static void out_done(hr_hermes_filter *f, const hr_usage *u) {
    if (f->over) return;
    f->over = true;
    f->out->ops->done(f->out, u);
}

static void out_complete(hr_hermes_filter *f, cJSON *obj, const hr_usage *u) {
    if (f->over) {
        cJSON_Delete(obj);
        return;
    }
    f->over = true;
    f->out->ops->complete(f->out, obj, NULL, 0, u);
}

static void out_error(hr_hermes_filter *f, const hr_backend_error *e) {
    if (f->over) return;
    f->over = true;
    f->out->ops->error(f->out, e);
}

/* ---- JSON stage ------------------------------------------------------------ */

/* The "hermes" extension on obj (a completion or the first chunk). */
static void json_flag(hr_hermes_filter *f, cJSON *obj, const char *error) {
    if (!cJSON_IsObject(obj)) return;
    cJSON *h = cJSON_GetObjectItemCaseSensitive(obj, "hermes");
    if (!cJSON_IsObject(h)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "hermes");
        h = cJSON_AddObjectToObject(obj, "hermes");
    }
    cJSON_AddBoolToObject(h, "json_valid", error == NULL);
    if (error) cJSON_AddStringToObject(h, "json_error", error);
    cJSON_AddNumberToObject(h, "json_retries", f->retries);
}

/* Checks an answer; 0 valid, -1 invalid with why. Answers that made tool
 * calls are not JSON-mode answers and pass. */
static int json_check(hr_hermes_filter *f, const char *text, size_t len, bool made_calls, char *why, size_t n) {
    if (made_calls) return 0;
    return hr_hermes_json_answer_check(text ? text : "", text ? len : 0, f->schema, why, n);
}

/* Tries the one retry; true when the backend will answer again. */
static bool json_try_retry(hr_hermes_filter *f) {
    if (f->retries > 0 || !f->retry) return false;
    if (!f->retry(f->retry_ud)) return false;
    f->retries++;
    return true;
}

static void json_release_chunks(hr_hermes_filter *f, cJSON *held, const char *error, const hr_usage *u) {
    cJSON *first = cJSON_GetArrayItem(held, 0);
    json_flag(f, first, error);
    while (cJSON_GetArraySize(held) > 0) {
        cJSON *c = cJSON_DetachItemFromArray(held, 0);
        out_chunk(f, c);
    }
    cJSON_Delete(held);
    out_done(f, u);
}

static void json_chunk(hr_hermes_filter *f, cJSON *chunk) {
    if (!f->held) f->held = cJSON_CreateArray();
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0), "delta");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(delta, "tool_calls")) > 0) f->made_calls = true;
    cJSON_AddItemToArray(f->held, chunk);
    if (cJSON_IsString(content) && hr_buf_puts(&f->content, content->valuestring) < 0) {
        hr_backend_error e = {502, "upstream_error", "json_answer_too_large", {0}, false};
        snprintf(e.message, sizeof e.message, "JSON-mode answer larger than %u MiB", HR_HERMES_FILTER_MAX_HELD >> 20);
        cJSON_Delete(f->held);
        f->held = NULL;
        out_error(f, &e);
    }
}

static void json_done(hr_hermes_filter *f, const hr_usage *u) {
    char why[200];
    cJSON *held = f->held ? f->held : cJSON_CreateArray();
    f->held = NULL;
    if (json_check(f, f->content.data, f->content.len, f->made_calls, why, sizeof why) == 0) {
        cJSON_Delete(f->prev);
        f->prev = NULL;
        json_release_chunks(f, held, NULL, u);
        return;
    }
    if (!f->prev && json_try_retry(f)) {
        f->prev = held;
        f->prev_usage = u ? *u : (hr_usage){-1, -1};
        snprintf(f->prev_error, sizeof f->prev_error, "%s", why);
        attempt_reset(f);
        return;
    }
    cJSON_Delete(f->prev);
    f->prev = NULL;
    json_release_chunks(f, held, why, u);
}

static void json_complete(hr_hermes_filter *f, cJSON *obj, const hr_usage *u) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(obj, "choices"), 0), "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    bool calls = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls")) > 0;
    const char *text = cJSON_IsString(content) ? content->valuestring : NULL;
    char why[200];
    if (json_check(f, text, text ? strlen(text) : 0, calls, why, sizeof why) == 0) {
        cJSON_Delete(f->prev);
        f->prev = NULL;
        json_flag(f, obj, NULL);
        out_complete(f, obj, u);
        return;
    }
    if (!f->prev && json_try_retry(f)) {
        f->prev = obj;
        f->prev_usage = u ? *u : (hr_usage){-1, -1};
        snprintf(f->prev_error, sizeof f->prev_error, "%s", why);
        attempt_reset(f);
        return;
    }
    cJSON_Delete(f->prev);
    f->prev = NULL;
    json_flag(f, obj, why);
    out_complete(f, obj, u);
}

/* The retry failed outright: release the first answer, flagged. */
static bool json_error(hr_hermes_filter *f) {
    if (!f->prev) return false;
    cJSON *prev = f->prev;
    f->prev = NULL;
    char why[300];
    snprintf(why, sizeof why, "%s (the retry failed)", f->prev_error);
    if (cJSON_IsArray(prev)) {
        json_release_chunks(f, prev, why, &f->prev_usage);
    } else {
        json_flag(f, prev, why);
        out_complete(f, prev, &f->prev_usage);
    }
    return true;
}

/* Next stage after TEXT (or the first stage without TEXT). */
static void next_chunk(hr_hermes_filter *f, cJSON *chunk) {
    if (f->mode & HR_HERMES_FILTER_JSON) json_chunk(f, chunk);
    else out_chunk(f, chunk);
}

static void next_done(hr_hermes_filter *f, const hr_usage *u) {
    if (f->mode & HR_HERMES_FILTER_JSON) json_done(f, u);
    else out_done(f, u);
}

static void next_complete(hr_hermes_filter *f, cJSON *obj, const hr_usage *u) {
    if (f->mode & HR_HERMES_FILTER_JSON) json_complete(f, obj, u);
    else out_complete(f, obj, u);
}

/* ---- TEXT stage ------------------------------------------------------------- */

static void note_meta(hr_hermes_filter *f, const cJSON *obj) {
    if (!f->id) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
        const char *s = cJSON_IsString(id) ? id->valuestring : "hermes";
        if (!strncmp(s, "cmpl-", 5)) s += 5;
        size_t n = strlen(s) + 16;
        f->id = hr_xmalloc(n);
        snprintf(f->id, n, "chatcmpl-%s", s);
    }
    if (!f->model) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "model");
        if (cJSON_IsString(m)) f->model = hr_xstrdup(m->valuestring);
    }
    if (!f->created) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "created");
        f->created = cJSON_IsNumber(c) ? c->valuedouble : (double)time(NULL);
    }
}

static cJSON *chunk_new(hr_hermes_filter *f, cJSON *delta, const char *finish_reason) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", f->id ? f->id : "chatcmpl-hermes");
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", f->created);
    if (f->model) cJSON_AddStringToObject(c, "model", f->model);
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    if (delta) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        if (!f->role_sent) {
            cJSON_AddItemToObject(delta, "role", cJSON_CreateString("assistant"));
            f->role_sent = true;
        }
        cJSON_AddItemToObject(ch, "delta", delta);
        cJSON_AddNullToObject(ch, "logprobs");
        if (finish_reason) cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
        else cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(choices, ch);
    }
    return c;
}

static void parser_event(void *user, const hr_hermes_event *ev) {
    hr_hermes_filter *f = user;
    if (!f->stream) return; /* non-streaming answers use hr_hermes_parse_message */
    cJSON *delta = hr_hermes_event_delta(ev);
    if (!delta) return;
    next_chunk(f, chunk_new(f, delta, NULL));
}

static const char *text_finish_reason(hr_hermes_filter *f, const char *parser_reason) {
    if (!strcmp(parser_reason, "tool_calls")) return "tool_calls";
    if (!strcmp(f->up_finish, "length")) return "length";
    return "stop";
}

static void text_finish_choice(hr_hermes_filter *f) {
    if (f->choice_finished) return;
    f->choice_finished = true;
    hr_hermes_parser_finish(f->parser);
    if (f->over) return;
    const char *fr = text_finish_reason(f, hr_hermes_parser_finish_reason(f->parser));
    next_chunk(f, chunk_new(f, cJSON_CreateObject(), fr));
}

static void text_chunk(hr_hermes_filter *f, cJSON *in) {
    note_meta(f, in);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(in, "choices");
    const cJSON *ch = cJSON_GetArrayItem(choices, 0);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(ch, "text");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    if (!f->choice_finished && cJSON_IsString(text) && text->valuestring[0])
        hr_hermes_parser_feed(f->parser, text->valuestring, strlen(text->valuestring));
    if (cJSON_IsString(fr) && !f->over) {
        snprintf(f->up_finish, sizeof f->up_finish, "%s", fr->valuestring);
        text_finish_choice(f);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(in, "usage");
    if (cJSON_IsObject(usage) && !f->over) {
        text_finish_choice(f); /* usage comes last: the choice is over */
        cJSON *c = chunk_new(f, NULL, NULL);
        cJSON_AddItemToObject(c, "usage", cJSON_Duplicate(usage, true));
        next_chunk(f, c);
    }
    cJSON_Delete(in);
}

static void text_done(hr_hermes_filter *f, const hr_usage *u) {
    text_finish_choice(f);
    next_done(f, u);
}

static void text_complete(hr_hermes_filter *f, cJSON *in, const hr_usage *u) {
    note_meta(f, in);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(in, "choices"), 0);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(ch, "text");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    if (cJSON_IsString(fr)) snprintf(f->up_finish, sizeof f->up_finish, "%s", fr->valuestring);
    hr_hermes_parser_params pp = hr_hermes_parser_default_params();
    pp.tools = f->parse_tools;
    pp.parallel_tool_calls = f->prompt.parallel_tool_calls;
    pp.prefill = f->prompt.prefill;
    const char *s = cJSON_IsString(text) ? text->valuestring : "";
    const char *parser_reason = "stop";
    cJSON *msg = hr_hermes_parse_message(s, strlen(s), &pp, &parser_reason);

    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", f->id);
    cJSON_AddStringToObject(out, "object", "chat.completion");
    cJSON_AddNumberToObject(out, "created", f->created);
    if (f->model) cJSON_AddStringToObject(out, "model", f->model);
    cJSON *choices = cJSON_AddArrayToObject(out, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON_AddItemToObject(c0, "message", msg);
    cJSON_AddNullToObject(c0, "logprobs");
    cJSON_AddStringToObject(c0, "finish_reason", text_finish_reason(f, parser_reason));
    cJSON_AddItemToArray(choices, c0);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(in, "usage");
    if (cJSON_IsObject(usage)) cJSON_AddItemToObject(out, "usage", cJSON_Duplicate(usage, true));
    cJSON_Delete(in);
    next_complete(f, out, u);
}

/* ---- sink ops (what the backend calls) --------------------------------------- */

static void op_chunk(hr_sink *s, cJSON *chunk, const char *raw, size_t raw_len) {
    hr_hermes_filter *f = (hr_hermes_filter *)s;
    if (f->over) {
        cJSON_Delete(chunk);
        return;
    }
    if (f->mode & HR_HERMES_FILTER_TEXT) text_chunk(f, chunk);
    else next_chunk(f, chunk);
}

static void op_done(hr_sink *s, const hr_usage *u) {
    hr_hermes_filter *f = (hr_hermes_filter *)s;
    if (f->over) return;
    if (f->mode & HR_HERMES_FILTER_TEXT) text_done(f, u);
    else next_done(f, u);
}

static void op_complete(hr_sink *s, cJSON *obj, const char *raw, size_t raw_len, const hr_usage *u) {
    hr_hermes_filter *f = (hr_hermes_filter *)s;
    if (f->over) {
        cJSON_Delete(obj);
        return;
    }
    if (f->mode & HR_HERMES_FILTER_TEXT) text_complete(f, obj, u);
    else next_complete(f, obj, u);
}

static void op_error(hr_sink *s, const hr_backend_error *e) {
    hr_hermes_filter *f = (hr_hermes_filter *)s;
    if (f->over) return;
    if (json_error(f)) return;
    out_error(f, e);
}

static const hr_sink_ops filter_ops = {op_chunk, op_done, op_complete, op_error};
