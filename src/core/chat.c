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

/* An error about message i (its content when content is set). The parameter
 * name is built here, only when an error is reported: fmt's first %s is that
 * name, its second (if any) arg. */
static int fail_message(hr_request_error *err, size_t i, bool content, const char *fmt, const char *arg) {
    if (err) {
        snprintf(err->param, sizeof err->param, content ? "messages[%zu].content" : "messages[%zu]", i);
        snprintf(err->message, sizeof err->message, fmt, err->param, arg ? arg : "");
    }
    return -1;
}

/* Type tests without a library call each (cJSON's type bits are public). */
static inline int type_of(const cJSON *v) { return v ? v->type & 0xFF : cJSON_Invalid; }
static inline bool is_null(const cJSON *v) { return type_of(v) == cJSON_NULL; }
static inline bool is_string(const cJSON *v) { return type_of(v) == cJSON_String; }
static inline bool is_number(const cJSON *v) { return type_of(v) == cJSON_Number; }
static inline bool is_object(const cJSON *v) { return type_of(v) == cJSON_Object; }
static inline bool is_array(const cJSON *v) { return type_of(v) == cJSON_Array; }

/* The members of the request object that parsing reads: one pass over the
 * object's members fills this table (the first member of each name wins, as
 * with cJSON_GetObjectItemCaseSensitive), instead of one lookup per check. */
enum {
    F_MODEL, F_STREAM, F_STREAM_OPTIONS, F_MAX_TOKENS, F_MAX_COMPLETION_TOKENS, F_N, F_SEED, F_LOGPROBS,
    F_TOP_LOGPROBS, F_STOP, F_TOOLS, F_TOOL_CHOICE, F_PARALLEL_TOOL_CALLS, F_RESPONSE_FORMAT, F_USER,
    F_TEMPERATURE, F_TOP_P, F_PRESENCE_PENALTY, F_FREQUENCY_PENALTY, F_MESSAGES, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n", "seed", "logprobs",
    "top_logprobs", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "user",
    "temperature", "top_p", "presence_penalty", "frequency_penalty", "messages",
};

static void fields_collect(const cJSON *root, const cJSON *f[F_COUNT]) {
    memset(f, 0, F_COUNT * sizeof *f);
    for (const cJSON *c = root->child; c; c = c->next) {
        const char *k = c->string;
        if (!k) continue;
        for (int i = 0; i < F_COUNT; i++) {
            if (field_names[i][0] == k[0] && !strcmp(field_names[i], k)) {
                if (!f[i]) f[i] = c;
                break;
            }
        }
    }
}

/* A message's text: content may be a string, null (an assistant message
 * with tool_calls), or an array of parts {type:"text", text}, joined with
 * newlines. The text points into the tree (a string, or an array with one
 * text part) or is built (*owned set); never NULL. */
static int message_text(const cJSON *content, size_t idx, hr_chat_message *cm, hr_request_error *err) {
    static char empty[] = "";
    cm->text = empty;
    cm->text_owned = false;
    if (!content || is_null(content)) return 0;
    if (is_string(content)) return cm->text = content->valuestring, 0;
    if (!is_array(content))
        return fail_message(err, idx, true, "%s must be a string or an array of content parts", NULL);
    const char *single = NULL;
    bool joined = false;
    hr_buf out;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        if (!is_object(part)) goto bad_part;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!is_string(type)) {
            if (joined) hr_buf_free(&out);
            return fail_message(err, idx, true, "%s: content part without a string 'type'", NULL);
        }
        if (!strcmp(type->valuestring, "text")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!is_string(t)) {
                if (joined) hr_buf_free(&out);
                return fail_message(err, idx, true, "%s: text part without a string 'text'", NULL);
            }
            if (!single && !joined) {
                single = t->valuestring;
                continue;
            }
            if (!joined) {
                hr_buf_init(&out, 0);
                hr_buf_puts(&out, single);
                joined = true;
            }
            if (out.len) hr_buf_puts(&out, "\n");
            hr_buf_puts(&out, t->valuestring);
        }
        /* image_url / input_audio parts carry no text for routing; backends see the JSON. */
    }
    if (joined) {
        cm->text_len = out.len;
        cm->text = hr_buf_steal(&out);
        cm->text_owned = true;
    } else if (single) {
        cm->text = (char *)single;
    }
    return 0;
bad_part:
    if (joined) hr_buf_free(&out);
    return fail_message(err, idx, true, "%s: each content part must be an object", NULL);
}

static int check_number(const cJSON *v, const char *key, double lo, double hi, hr_request_error *err) {
    if (!v || is_null(v)) return 0;
    if (!is_number(v)) return fail(err, key, "'%s' must be a number", key);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "'%s' must be between %g and %g", key, lo, hi);
        return fail(err, key, "%s", msg);
    }
    return 0;
}

static int check_type(const cJSON *v, const char *key, bool (*is)(const cJSON *), const char *what,
                      hr_request_error *err) {
    if (!v || is_null(v) || is(v)) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "'%s' must be %s", key, what);
    return fail(err, key, "%s", msg);
}

static bool is_int(const cJSON *v) { return is_number(v) && v->valuedouble == (double)(long long)v->valuedouble; }
static bool is_bool(const cJSON *v) { return type_of(v) == cJSON_True || type_of(v) == cJSON_False; }
static bool is_stop(const cJSON *v) {
    if (is_string(v)) return 1;
    if (!is_array(v) || cJSON_GetArraySize(v) > 16) return 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, v) if (!is_string(s)) return 0;
    return 1;
}
static bool is_str_or_obj(const cJSON *v) { return is_string(v) || is_object(v); }

#define TYPE(F, is, what) check_type(f[F], field_names[F], is, what, err)
#define RANGE(F, lo, hi) check_number(f[F], field_names[F], lo, hi, err)

static int validate_fields(const cJSON *const f[F_COUNT], hr_request_error *err) {
    if (TYPE(F_MODEL, is_string, "a string") || TYPE(F_STREAM, is_bool, "a boolean") ||
        TYPE(F_STREAM_OPTIONS, is_object, "an object") || TYPE(F_MAX_TOKENS, is_int, "an integer") ||
        TYPE(F_MAX_COMPLETION_TOKENS, is_int, "an integer") || TYPE(F_N, is_int, "an integer") ||
        TYPE(F_SEED, is_int, "an integer") || TYPE(F_LOGPROBS, is_bool, "a boolean") ||
        TYPE(F_TOP_LOGPROBS, is_int, "an integer") ||
        TYPE(F_STOP, is_stop, "a string or an array of up to 16 strings") || TYPE(F_TOOLS, is_array, "an array") ||
        TYPE(F_TOOL_CHOICE, is_str_or_obj, "a string or an object") ||
        TYPE(F_PARALLEL_TOOL_CALLS, is_bool, "a boolean") || TYPE(F_RESPONSE_FORMAT, is_object, "an object") ||
        TYPE(F_USER, is_string, "a string") || RANGE(F_TEMPERATURE, 0, 2) || RANGE(F_TOP_P, 0, 1) ||
        RANGE(F_PRESENCE_PENALTY, -2, 2) || RANGE(F_FREQUENCY_PENALTY, -2, 2) || RANGE(F_MAX_TOKENS, 1, 1e9) ||
        RANGE(F_MAX_COMPLETION_TOKENS, 1, 1e9) || RANGE(F_TOP_LOGPROBS, 0, 20) || RANGE(F_N, 1, 1))
        return -1;
    const cJSON *rf = f[F_RESPONSE_FORMAT];
    if (is_object(rf)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!is_string(t) || (strcmp(t->valuestring, "text") && strcmp(t->valuestring, "json_object") &&
                              strcmp(t->valuestring, "json_schema")))
            return fail(err, "response_format.type",
                        "response_format.type must be 'text', 'json_object' or 'json_schema'", NULL);
    }
    const cJSON *tools = f[F_TOOLS], *tool;
    if (is_array(tools)) {
        cJSON_ArrayForEach(tool, tools) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!is_object(tool) || !is_object(fn) || !is_string(name) || !name->valuestring[0])
                return fail(err, "tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                            NULL);
        }
    }
    return 0;
}

#undef TYPE
#undef RANGE

static int role_of(const char *s) {
    for (int i = 0; i < (int)(sizeof role_names / sizeof role_names[0]); i++)
        if (role_names[i][0] == s[0] && !strcmp(s, role_names[i])) return i;
    return -1;
}

int hr_chat_request_from_json(cJSON *root, hr_chat_request *req, hr_request_error *err) {
    memset(req, 0, sizeof *req);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, NULL, "the request body must be a JSON object", NULL);
    }
    req->root = root;
    req->max_tokens = -1;
    const cJSON *f[F_COUNT];
    fields_collect(root, f);
    if (validate_fields(f, err) < 0) goto bad;

    const cJSON *model = f[F_MODEL];
    req->model = is_string(model) && model->valuestring[0] ? model->valuestring : "auto";
    req->stream = type_of(f[F_STREAM]) == cJSON_True;
    const cJSON *so = f[F_STREAM_OPTIONS];
    req->include_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *mt = f[F_MAX_COMPLETION_TOKENS];
    if (!is_number(mt)) mt = f[F_MAX_TOKENS];
    if (is_number(mt)) req->max_tokens = (long)mt->valuedouble;
    req->has_tools = f[F_TOOLS] && f[F_TOOLS]->child;
    const cJSON *rf = f[F_RESPONSE_FORMAT];
    const cJSON *rft = rf ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
    req->has_response_format = is_string(rft) && strcmp(rft->valuestring, "text") != 0;

    const cJSON *msgs = f[F_MESSAGES];
    if (!msgs) { fail(err, "messages", "'messages' is required", NULL); goto bad; }
    if (!is_array(msgs)) { fail(err, "messages", "'messages' must be an array", NULL); goto bad; }
    size_t n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) n++;
    if (n == 0) { fail(err, "messages", "'messages' must contain at least one message", NULL); goto bad; }
    req->messages = hr_xcalloc(n, sizeof *req->messages);
    cJSON_ArrayForEach(m, msgs) {
        size_t i = req->n_messages;
        if (!is_object(m)) { fail_message(err, i, false, "%s must be an object", NULL); goto bad; }
        const cJSON *role = NULL, *content = NULL;
        for (const cJSON *c = m->child; c; c = c->next) {
            if (!c->string) continue;
            if (!role && !strcmp(c->string, "role")) role = c;
            else if (!content && !strcmp(c->string, "content")) content = c;
        }
        if (!is_string(role)) { fail_message(err, i, false, "%s.role must be a string", NULL); goto bad; }
        int r = role_of(role->valuestring);
        if (r < 0) {
            fail_message(err, i, false, "%s.role '%.64s' is not one of system, user, assistant, tool, developer",
                         role->valuestring);
            goto bad;
        }
        if (!content && r != HR_ROLE_ASSISTANT) { fail_message(err, i, false, "%s.content is required", NULL); goto bad; }
        hr_chat_message *cm = &req->messages[i];
        if (message_text(content, i, cm, err) < 0) goto bad;
        req->n_messages++;
        cm->role = (hr_role)r;
        if (!cm->text_owned) cm->text_len = strlen(cm->text);
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
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].text_owned) free(req->messages[i].text);
    free(req->messages);
    free(req->raw);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof *req);
}
