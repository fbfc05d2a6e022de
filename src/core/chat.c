#include "core/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"

static const char *role_names[] = {"system", "user", "assistant", "tool", "developer"};

const char *hr_role_name(hr_role r) {
    return (unsigned)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "?";
}

static int fail(hr_request_error *err, const char *param, const char *fmt, const char *arg) {
    if (err) {
        snprintf(err->message, sizeof err->message, fmt, arg ? arg : "");
        snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    }
    return -1;
}

/* Joins a message's content into text. content may be a string, null (an
 * assistant message with tool_calls), or an array of parts {type:"text", text}. */
static int message_text(const cJSON *content, hr_buf *out, char *param, hr_request_error *err) {
    if (!content || cJSON_IsNull(content)) return 0;
    if (cJSON_IsString(content)) return hr_buf_puts(out, content->valuestring), 0;
    if (!cJSON_IsArray(content)) return fail(err, param, "%s must be a string or an array of content parts", param);
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        if (!cJSON_IsObject(part)) return fail(err, param, "%s: each content part must be an object", param);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsString(type)) return fail(err, param, "%s: content part without a string 'type'", param);
        if (!strcmp(type->valuestring, "text")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(t)) return fail(err, param, "%s: text part without a string 'text'", param);
            if (out->len) hr_buf_puts(out, "\n");
            hr_buf_puts(out, t->valuestring);
        }
        /* image_url / input_audio parts carry no text for routing; backends see the JSON. */
    }
    return 0;
}

static int check_number(const cJSON *root, const char *key, double lo, double hi, hr_request_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return fail(err, key, "'%s' must be a number", key);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "'%s' must be between %g and %g", key, lo, hi);
        return fail(err, key, "%s", msg);
    }
    return 0;
}

static int check_type(const cJSON *root, const char *key, int (*is)(const cJSON *), const char *what,
                      hr_request_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v) || is(v)) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "'%s' must be %s", key, what);
    return fail(err, key, "%s", msg);
}

static int is_int(const cJSON *v) { return cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble; }
static int is_bool(const cJSON *v) { return cJSON_IsBool(v); }
static int is_obj(const cJSON *v) { return cJSON_IsObject(v); }
static int is_arr(const cJSON *v) { return cJSON_IsArray(v); }
static int is_str(const cJSON *v) { return cJSON_IsString(v); }
static int is_stop(const cJSON *v) {
    if (cJSON_IsString(v)) return 1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 16) return 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, v) if (!cJSON_IsString(s)) return 0;
    return 1;
}
static int is_str_or_obj(const cJSON *v) { return cJSON_IsString(v) || cJSON_IsObject(v); }

static int validate_fields(const cJSON *root, hr_request_error *err) {
    if (check_type(root, "model", is_str, "a string", err) ||
        check_type(root, "stream", is_bool, "a boolean", err) ||
        check_type(root, "stream_options", is_obj, "an object", err) ||
        check_type(root, "max_tokens", is_int, "an integer", err) ||
        check_type(root, "max_completion_tokens", is_int, "an integer", err) ||
        check_type(root, "n", is_int, "an integer", err) ||
        check_type(root, "seed", is_int, "an integer", err) ||
        check_type(root, "logprobs", is_bool, "a boolean", err) ||
        check_type(root, "top_logprobs", is_int, "an integer", err) ||
        check_type(root, "stop", is_stop, "a string or an array of up to 16 strings", err) ||
        check_type(root, "tools", is_arr, "an array", err) ||
        check_type(root, "tool_choice", is_str_or_obj, "a string or an object", err) ||
        check_type(root, "parallel_tool_calls", is_bool, "a boolean", err) ||
        check_type(root, "response_format", is_obj, "an object", err) ||
        check_type(root, "user", is_str, "a string", err) ||
        check_number(root, "temperature", 0, 2, err) || check_number(root, "top_p", 0, 1, err) ||
        check_number(root, "presence_penalty", -2, 2, err) ||
        check_number(root, "frequency_penalty", -2, 2, err) ||
        check_number(root, "max_tokens", 1, 1e9, err) || check_number(root, "max_completion_tokens", 1, 1e9, err) ||
        check_number(root, "top_logprobs", 0, 20, err) || check_number(root, "n", 1, 1, err))
        return -1;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (cJSON_IsObject(rf)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsString(t) || (strcmp(t->valuestring, "text") && strcmp(t->valuestring, "json_object") &&
                                   strcmp(t->valuestring, "json_schema")))
            return fail(err, "response_format.type",
                        "response_format.type must be 'text', 'json_object' or 'json_schema'", NULL);
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools"), *tool;
    if (cJSON_IsArray(tools)) {
        cJSON_ArrayForEach(tool, tools) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!cJSON_IsObject(tool) || !cJSON_IsObject(fn) || !cJSON_IsString(name) || !name->valuestring[0])
                return fail(err, "tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                            NULL);
        }
    }
    return 0;
}

int hr_chat_request_from_json(cJSON *root, hr_chat_request *req, hr_request_error *err) {
    memset(req, 0, sizeof *req);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, NULL, "the request body must be a JSON object", NULL);
    }
    req->root = root;
    req->max_tokens = -1;
    if (validate_fields(root, err) < 0) goto bad;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    req->model = cJSON_IsString(model) && model->valuestring[0] ? model->valuestring : "auto";
    req->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    req->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (cJSON_IsNumber(mt)) req->max_tokens = (long)mt->valuedouble;
    req->has_tools = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "tools")) > 0;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    req->has_response_format = cJSON_IsString(rft) && strcmp(rft->valuestring, "text") != 0;

    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) { fail(err, "messages", "'messages' is required", NULL); goto bad; }
    if (!cJSON_IsArray(msgs)) { fail(err, "messages", "'messages' must be an array", NULL); goto bad; }
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) { fail(err, "messages", "'messages' must contain at least one message", NULL); goto bad; }
    req->messages = hr_xcalloc((size_t)n, sizeof *req->messages);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", req->n_messages);
        if (!cJSON_IsObject(m)) { fail(err, param, "%s must be an object", param); goto bad; }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) { fail(err, param, "%s.role must be a string", param); goto bad; }
        int r = -1;
        for (int i = 0; i < (int)(sizeof role_names / sizeof role_names[0]); i++)
            if (!strcmp(role->valuestring, role_names[i])) r = i;
        if (r < 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s.role '%.64s' is not one of system, user, assistant, tool, developer", param,
                     role->valuestring);
            fail(err, param, "%s", msg);
            goto bad;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!content && r != HR_ROLE_ASSISTANT) { fail(err, param, "%s.content is required", param); goto bad; }
        hr_buf text;
        hr_buf_init(&text, 0);
        char cparam[64];
        snprintf(cparam, sizeof cparam, "%s.content", param);
        if (message_text(content, &text, cparam, err) < 0) { hr_buf_free(&text); goto bad; }
        hr_chat_message *cm = &req->messages[req->n_messages++];
        cm->role = (hr_role)r;
        cm->text_len = text.len;
        cm->text = hr_buf_steal(&text);
        cm->chars = hr_utf8_count(cm->text, cm->text_len);
        cm->json = m;
        req->context_chars += cm->chars;
        if (cm->role == HR_ROLE_USER) req->last_user = cm;
    }
    return 0;
bad:
    hr_chat_request_free(req);
    return -1;
}

int hr_chat_request_parse(const char *body, size_t len, hr_chat_request *req, hr_request_error *err) {
    memset(req, 0, sizeof *req);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return fail(err, NULL, "the request body is not valid JSON", NULL);
    if (hr_chat_request_from_json(root, req, err) < 0) return -1;
    req->raw = hr_xstrndup(body, len);
    req->raw_len = len;
    return 0;
}

int hr_chat_request_from_prompt(const char *prompt, hr_chat_request *req) {
    cJSON *root = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(msgs, m);
    return hr_chat_request_from_json(root, req, NULL);
}

void hr_chat_request_root_changed(hr_chat_request *req) {
    free(req->raw);
    req->raw = NULL;
    req->raw_len = 0;
}

void hr_chat_request_free(hr_chat_request *req) {
    if (!req) return;
    for (size_t i = 0; i < req->n_messages; i++) free(req->messages[i].text);
    free(req->messages);
    free(req->raw);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof *req);
}
