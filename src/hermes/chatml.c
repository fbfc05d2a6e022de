/* ChatML prompt rendering: the message loop of the Hermes 3 tool-use template
 * (also used without tools: plain ChatML) and the render entry point that
 * applies the tool_choice / response_format mapping documented in hermes.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hermes/hermes_int.h"

#define HR_HERMES_PROMPT_MAX_DEFAULT ((size_t)16 << 20)

static int fail(hr_request_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(hr_request_error *err, const char *param, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    }
    return -1;
}

hr_hermes_prompt_params hr_hermes_prompt_default_params(void) {
    hr_hermes_prompt_params p;
    memset(&p, 0, sizeof p);
    p.add_generation_prompt = true;
    p.bos_token = "";
    p.max_bytes = HR_HERMES_PROMPT_MAX_DEFAULT;
    return p;
}

hr_hermes_prompt_params hr_hermes_prompt_params_from_request(const cJSON *root) {
    hr_hermes_prompt_params p = hr_hermes_prompt_default_params();
    p.messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    p.tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    p.tool_choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    p.response_format = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    p.parallel_tool_calls = cJSON_GetObjectItemCaseSensitive(root, "parallel_tool_calls");
    return p;
}

int hr_hermes__content_text(const cJSON *content, hr_buf *out) {
    if (!content || cJSON_IsNull(content)) return 0;
    if (cJSON_IsString(content)) return hr_buf_puts(out, content->valuestring), 0;
    if (!cJSON_IsArray(content)) return -1;
    const cJSON *part;
    int n = 0;
    cJSON_ArrayForEach(part, content) {
        if (!cJSON_IsObject(part)) return -1;
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type)) return -1;
        if (strcmp(type->valuestring, "text")) continue; /* images etc. carry no text */
        if (!cJSON_IsString(t)) return -1;
        if (n++) hr_buf_puts(out, "\n");
        hr_buf_puts(out, t->valuestring);
    }
    return 0;
}

static const char *msg_role(const cJSON *m) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(r) ? r->valuestring : NULL;
}

static const cJSON *msg_tool_calls(const cJSON *m) {
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    return cJSON_IsNull(tc) ? NULL : tc;
}

static void render_tool_call(const cJSON *tc, hr_buf *out) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
    if (!f) f = tc;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
    hr_buf_puts(out, "\n<tool_call>\n{\"name\": \"");
    if (cJSON_IsString(name)) hr_buf_puts(out, name->valuestring);
    hr_buf_puts(out, "\", ");
    if (args) {
        hr_buf_puts(out, "\"arguments\": ");
        if (cJSON_IsString(args)) hr_buf_puts(out, args->valuestring);
        else hr_hermes_json_dumps(args, false, out);
    }
    hr_buf_puts(out, "}\n</tool_call>");
}

/* The template's message loop. prev_role: the role of the item before the
 * first message (the JSON-mode system turn), or NULL. */
static int render_messages(const cJSON *messages, const char *prev_role, hr_buf *out, hr_request_error *err) {
    int n = cJSON_GetArraySize(messages), i = 0;
    const cJSON *m;
    char param[64];
    cJSON_ArrayForEach(m, messages) {
        snprintf(param, sizeof param, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return fail(err, param, "%s must be an object", param);
        const char *role = msg_role(m);
        if (!role) return fail(err, param, "%s.role must be a string", param);
        const cJSON *tcs = msg_tool_calls(m);
        bool is_asst = !strcmp(role, "assistant");
        if (tcs && (!is_asst || !cJSON_IsArray(tcs)))
            return fail(err, param, "%s.tool_calls must be an array on an assistant message", param);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!strcmp(role, "user") || !strcmp(role, "system") || !strcmp(role, "developer") || (is_asst && !tcs)) {
            hr_buf_printf(out, "<|im_start|>%s\n", !strcmp(role, "developer") ? "system" : role);
            if (hr_hermes__content_text(content, out) < 0)
                return fail(err, param, "%s.content must be a string or an array of text parts", param);
            hr_buf_puts(out, "<|im_end|>\n");
        } else if (is_asst) {
            hr_buf_puts(out, "<|im_start|>assistant");
            const cJSON *tc;
            cJSON_ArrayForEach(tc, tcs) {
                if (!cJSON_IsObject(tc)) return fail(err, param, "%s.tool_calls entries must be objects", param);
                render_tool_call(tc, out);
            }
            hr_buf_puts(out, "<|im_end|>\n");
        } else if (!strcmp(role, "tool")) {
            const char *prev = i > 0 ? msg_role(cJSON_GetArrayItem(messages, i - 1)) : prev_role;
            bool last = i == n - 1;
            if (prev && strcmp(prev, "tool")) hr_buf_puts(out, "<|im_start|>tool\n");
            hr_buf_puts(out, "<tool_response>\n");
            if (hr_hermes__content_text(content, out) < 0)
                return fail(err, param, "%s.content must be a string or an array of text parts", param);
            hr_buf_puts(out, last ? "\n</tool_response>" : "\n</tool_response>\n");
            if (last) {
                hr_buf_puts(out, "<|im_end|>");
            } else {
                const char *next = msg_role(m->next);
                if (!next || strcmp(next, "tool")) hr_buf_puts(out, "<|im_end|>");
            }
        } else {
            return fail(err, param, "%s.role '%.40s' is not one of system, developer, user, assistant, tool", param,
                        role);
        }
        i++;
    }
    return 0;
}

static int parse_tool_choice(const hr_hermes_prompt_params *p, hr_hermes_prompt *out, hr_request_error *err) {
    const cJSON *tc = p->tool_choice;
    bool have_tools = cJSON_IsArray(p->tools) && cJSON_GetArraySize(p->tools) > 0;
    out->tool_choice = HR_HERMES_TOOL_CHOICE_AUTO;
    if (!tc || cJSON_IsNull(tc)) return 0;
    if (cJSON_IsString(tc)) {
        if (!strcmp(tc->valuestring, "auto")) return 0;
        if (!strcmp(tc->valuestring, "none")) return out->tool_choice = HR_HERMES_TOOL_CHOICE_NONE, 0;
        if (!strcmp(tc->valuestring, "required")) {
            if (!have_tools) return fail(err, "tool_choice", "tool_choice 'required' needs a non-empty 'tools'");
            return out->tool_choice = HR_HERMES_TOOL_CHOICE_REQUIRED, 0;
        }
        return fail(err, "tool_choice", "tool_choice must be 'auto', 'none', 'required' or a function");
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (!cJSON_IsObject(tc) || !cJSON_IsString(name))
        return fail(err, "tool_choice", "tool_choice object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    if (!have_tools || !hr_hermes__tool_find(p->tools, name->valuestring))
        return fail(err, "tool_choice", "tool_choice names function '%.64s', which is not in 'tools'", name->valuestring);
    out->tool_choice = HR_HERMES_TOOL_CHOICE_FUNCTION;
    out->forced_name = hr_xstrdup(name->valuestring);
    return 0;
}

static int parse_response_format(const hr_hermes_prompt_params *p, hr_hermes_prompt *out, hr_request_error *err) {
    const cJSON *rf = p->response_format;
    if (!rf || cJSON_IsNull(rf)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
        return fail(err, "response_format", "response_format must be an object with a string 'type'");
    if (!strcmp(type->valuestring, "text")) return 0;
    if (!strcmp(type->valuestring, "json_object")) return out->json_mode = true, 0;
    if (strcmp(type->valuestring, "json_schema"))
        return fail(err, "response_format", "response_format.type must be 'text', 'json_object' or 'json_schema'");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    if (!cJSON_IsObject(js)) return fail(err, "response_format", "response_format.json_schema must be an object");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (schema && !cJSON_IsObject(schema))
        return fail(err, "response_format", "response_format.json_schema.schema must be an object");
    out->json_mode = true;
    out->schema = schema;
    return 0;
}

int hr_hermes_prompt_render(const hr_hermes_prompt_params *p, hr_hermes_prompt *out, hr_request_error *err) {
    memset(out, 0, sizeof *out);
    if (!cJSON_IsArray(p->messages)) return fail(err, "messages", "'messages' must be an array");
    if (p->tools && !cJSON_IsNull(p->tools) && !cJSON_IsArray(p->tools))
        return fail(err, "tools", "'tools' must be an array");
    if (parse_tool_choice(p, out, err) < 0 || parse_response_format(p, out, err) < 0) {
        hr_hermes_prompt_free(out);
        return -1;
    }
    out->parallel_tool_calls = !cJSON_IsFalse(p->parallel_tool_calls);
    out->tools_in_prompt = cJSON_IsArray(p->tools) && cJSON_GetArraySize(p->tools) > 0 &&
                           out->tool_choice != HR_HERMES_TOOL_CHOICE_NONE;

    hr_buf b;
    hr_buf_init(&b, 0); /* bounded by the request body; checked against max_bytes below */
    hr_buf_puts(&b, p->bos_token ? p->bos_token : "");
    if (out->tools_in_prompt) hr_hermes__tools_header(p->tools, &b);
    if (out->json_mode) {
        hr_buf_puts(&b, "<|im_start|>system\n");
        hr_hermes_json_mode_prompt(out->schema, &b);
        hr_buf_puts(&b, "<|im_end|>\n");
    }
    if (render_messages(p->messages, out->json_mode ? "system" : NULL, &b, err) < 0) {
        hr_buf_free(&b);
        hr_hermes_prompt_free(out);
        return -1;
    }
    size_t prefill_at;
    if (p->add_generation_prompt) hr_buf_puts(&b, "<|im_start|>assistant\n");
    prefill_at = b.len;
    if (p->add_generation_prompt && out->tools_in_prompt) {
        if (out->tool_choice == HR_HERMES_TOOL_CHOICE_REQUIRED) hr_buf_puts(&b, "<tool_call>\n");
        else if (out->tool_choice == HR_HERMES_TOOL_CHOICE_FUNCTION)
            hr_buf_printf(&b, "<tool_call>\n{\"name\": \"%s\", \"arguments\": ", out->forced_name);
    }
    size_t max = p->max_bytes ? p->max_bytes : HR_HERMES_PROMPT_MAX_DEFAULT;
    if (b.len > max) {
        size_t len = b.len;
        hr_buf_free(&b);
        hr_hermes_prompt_free(out);
        return fail(err, "messages", "the rendered prompt is %zu bytes, over the %zu-byte limit", len, max);
    }
    if (!b.data) hr_buf_puts(&b, "");
    out->prefill = hr_xstrdup(b.data + prefill_at);
    out->len = b.len;
    out->text = hr_buf_steal(&b);
    return 0;
}

void hr_hermes_prompt_free(hr_hermes_prompt *out) {
    if (!out) return;
    free(out->text);
    free(out->prefill);
    free(out->forced_name);
    memset(out, 0, sizeof *out);
}
