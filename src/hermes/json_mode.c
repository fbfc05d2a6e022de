/* JSON mode (Hermes 3 model card, "Prompt Format for JSON Mode / Structured
 * Outputs") and the request checks the gateway runs before routing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hermes/hermes_int.h"

void hr_hermes_json_mode_prompt(const cJSON *schema, hr_buf *out) {
    hr_buf_puts(out, "You are a helpful assistant that answers in JSON. Here's the json schema you must adhere to:\n"
                     "<schema>\n");
    if (schema) hr_hermes_json_dumps(schema, true, out);
    else hr_buf_puts(out, "{\"type\": \"object\"}");
    hr_buf_puts(out, "\n</schema>");
}

int hr_hermes_json_answer_check(const char *text, size_t len, const cJSON *schema, char *err, size_t errsz) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, false);
    int rc = 0;
    if (err && errsz) err[0] = 0;
    bool trailing = false;
    if (v)
        for (const char *q = end; q < text + len; q++)
            if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') trailing = true;
    if (!v || trailing) {
        if (err) snprintf(err, errsz, "answer is not valid JSON");
        rc = -1;
    } else if (!schema) {
        if (!cJSON_IsObject(v)) {
            if (err) snprintf(err, errsz, "$: expected object (json_object mode)");
            rc = -1;
        }
    } else {
        rc = hr_hermes_schema_validate(schema, v, err, errsz);
    }
    cJSON_Delete(v);
    return rc;
}

static int fail(hr_request_error *err, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(hr_request_error *err, const char *param, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        snprintf(err->param, sizeof err->param, "%s", param);
    }
    return -1;
}

/* OpenAI's rule for function names: ^[a-zA-Z0-9_-]{1,64}$ (also what keeps
 * them safe to splice into the prompt and the prefill). */
static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

static int check_tools(const cJSON *tools, hr_request_error *err) {
    if (!tools || cJSON_IsNull(tools)) return 0;
    if (!cJSON_IsArray(tools)) return fail(err, "tools", "'tools' must be an array");
    if (cJSON_GetArraySize(tools) > 512) return fail(err, "tools", "'tools' has more than 512 entries");
    int i = 0;
    const cJSON *t;
    char param[48], why[200];
    cJSON_ArrayForEach(t, tools) {
        snprintf(param, sizeof param, "tools[%d]", i);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!cJSON_IsObject(t) || !cJSON_IsObject(f) || (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function"))))
            return fail(err, param, "%s must be {\"type\": \"function\", \"function\": {...}}", param);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        if (!cJSON_IsString(name) || !valid_name(name->valuestring))
            return fail(err, param, "%s.function.name must match ^[a-zA-Z0-9_-]{1,64}$", param);
        const cJSON *prev;
        int j = 0;
        cJSON_ArrayForEach(prev, tools) {
            if (j++ >= i) break;
            const cJSON *pn = cJSON_GetObjectItemCaseSensitive(hr_hermes__tool_function(prev), "name");
            if (cJSON_IsString(pn) && !strcmp(pn->valuestring, name->valuestring))
                return fail(err, param, "%s: duplicate function name '%s'", param, name->valuestring);
        }
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(f, "description");
        if (desc && !cJSON_IsString(desc)) return fail(err, param, "%s.function.description must be a string", param);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(f, "parameters");
        if (params && !cJSON_IsNull(params)) {
            if (!cJSON_IsObject(params)) return fail(err, param, "%s.function.parameters must be an object", param);
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(params, "type");
            if (pt && (!cJSON_IsString(pt) || strcmp(pt->valuestring, "object")))
                return fail(err, param, "%s.function.parameters must be a schema of type 'object'", param);
            if (hr_hermes_schema_check(params, why, sizeof why) > 0)
                return fail(err, param, "%s.function.parameters: %s", param, why);
        }
        i++;
    }
    return 0;
}

int hr_hermes_request_check(const cJSON *root, hr_request_error *err) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (check_tools(tools, err) < 0) return -1;
    hr_hermes_prompt_params p = hr_hermes_prompt_params_from_request(root);
    p.messages = NULL;
    const cJSON *tc = p.tool_choice;
    if (tc && !cJSON_IsNull(tc)) {
        bool have = cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0;
        if (cJSON_IsString(tc)) {
            if (strcmp(tc->valuestring, "auto") && strcmp(tc->valuestring, "none") && strcmp(tc->valuestring, "required"))
                return fail(err, "tool_choice", "tool_choice must be 'auto', 'none', 'required' or a function");
            if (!strcmp(tc->valuestring, "required") && !have)
                return fail(err, "tool_choice", "tool_choice 'required' needs a non-empty 'tools'");
        } else {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
            if (!cJSON_IsObject(tc) || !cJSON_IsString(name))
                return fail(err, "tool_choice",
                            "tool_choice object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
            if (!have || !hr_hermes__tool_find(tools, name->valuestring))
                return fail(err, "tool_choice", "tool_choice names function '%.64s', which is not in 'tools'",
                            name->valuestring);
        }
    }
    const cJSON *ptc = p.parallel_tool_calls;
    if (ptc && !cJSON_IsNull(ptc) && !cJSON_IsBool(ptc))
        return fail(err, "parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
    const cJSON *rf = p.response_format;
    if (rf && !cJSON_IsNull(rf)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
            return fail(err, "response_format", "response_format must be an object with a string 'type'");
        if (!strcmp(type->valuestring, "json_schema")) {
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
            if (!cJSON_IsObject(js)) return fail(err, "response_format", "response_format.json_schema must be an object");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
            if (name && !cJSON_IsString(name))
                return fail(err, "response_format", "response_format.json_schema.name must be a string");
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
            if (schema && !cJSON_IsObject(schema))
                return fail(err, "response_format", "response_format.json_schema.schema must be an object");
            char why[200];
            if (schema && hr_hermes_schema_check(schema, why, sizeof why) > 0)
                return fail(err, "response_format", "response_format.json_schema.schema: %s", why);
        } else if (strcmp(type->valuestring, "json_object") && strcmp(type->valuestring, "text")) {
            return fail(err, "response_format", "response_format.type must be 'text', 'json_object' or 'json_schema'");
        }
    }
    return 0;
}
