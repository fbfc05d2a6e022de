/* The Hermes 3 tool-use system turn, byte for byte what
 * NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja renders, quirks included:
 * the Python-signature "description" (args concatenated without separators,
 * arrays shown as list[Union[]] because the template passes json_spec|items),
 * parameters as Python json.dumps, "{}" when there are no properties. */
#include <string.h>

#include "core/utf8.h"
#include "hermes/hermes_int.h"

static const char TOOLS_INTRO[] =
    "<|im_start|>system\n"
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
    "XML tags. You may call one or more functions to assist with the user query. Don't make assumptions "
    "about what values to plug into functions. Here are the available tools: <tools> ";

static const char TOOLS_OUTRO[] =
    " </tools>"
    "Use the following pydantic model json schema for each tool call you will make: {\"properties\": "
    "{\"name\": {\"title\": \"Name\", \"type\": \"string\"}, \"arguments\": {\"title\": \"Arguments\", "
    "\"type\": \"object\"}}, \"required\": [\"name\", \"arguments\"], \"title\": \"FunctionCall\", "
    "\"type\": \"object\"}}\n"
    "For each function call return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags as follows:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-dict>}\n"
    "</tool_call><|im_end|>\n";

const cJSON *hr_hermes__tool_function(const cJSON *tool) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(tool, "function");
    return f ? f : tool;
}

const cJSON *hr_hermes__tool_find(const cJSON *tools, const char *name) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *f = hr_hermes__tool_function(t);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return f;
    }
    return NULL;
}

static const char *str_or(const cJSON *v, const char *dflt) {
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* The template's json_to_python_type macro, on the value of "type" (t, NULL
 * when undefined) and the spec's additionalProperties (ap, NULL when absent). */
static void python_type_t(const cJSON *t, const cJSON *ap, hr_buf *out, int depth);

static void python_type(const cJSON *spec, hr_buf *out, int depth) {
    const cJSON *t = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "type") : NULL;
    const cJSON *ap = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "additionalProperties") : NULL;
    python_type_t(t, ap, out, depth);
}

static void python_type_t(const cJSON *t, const cJSON *ap, hr_buf *out, int depth) {
    if (depth > 32) { hr_buf_puts(out, "Any"); return; }
    if (!t) { hr_buf_puts(out, "Union[]"); return; } /* Undefined is iterable, and empty */
    if (cJSON_IsString(t)) {
        const char *s = t->valuestring;
        if (!strcmp(s, "string")) hr_buf_puts(out, "str");
        else if (!strcmp(s, "number")) hr_buf_puts(out, "float");
        else if (!strcmp(s, "integer")) hr_buf_puts(out, "int");
        else if (!strcmp(s, "boolean")) hr_buf_puts(out, "bool");
        else if (!strcmp(s, "array")) hr_buf_puts(out, "list[Union[]]"); /* json_spec|items is a generator */
        else if (!strcmp(s, "object")) {
            if (ap) {
                hr_buf_puts(out, "dict[str, ");
                python_type(ap, out, depth + 1);
                hr_buf_puts(out, "]");
            } else {
                hr_buf_puts(out, "dict");
            }
        } else if (!*s) hr_buf_puts(out, "Union[]");
        else if (!strcmp(s, "null")) hr_buf_puts(out, "None"); /* deviation: the template recurses forever */
        else hr_buf_puts(out, "Any");                          /* deviation: idem */
        return;
    }
    if (cJSON_IsArray(t) || cJSON_IsObject(t)) { /* iterable: elements (or keys) as {"type": e} */
        hr_buf_puts(out, "Union[");
        const cJSON *e;
        bool first = true;
        cJSON_ArrayForEach(e, t) {
            if (!first) hr_buf_puts(out, ",");
            first = false;
            if (cJSON_IsObject(t)) {
                cJSON key = {0};
                key.type = cJSON_String;
                key.valuestring = e->string ? e->string : (char *)"";
                python_type_t(&key, NULL, out, depth + 1);
            } else {
                python_type_t(e, NULL, out, depth + 1);
            }
        }
        hr_buf_puts(out, "]");
        return;
    }
    hr_buf_puts(out, "Any"); /* number, bool, null: not iterable */
}

/* Python str.strip(): Unicode whitespace (str.isspace) at both ends. */
static int py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static void append_trimmed(const char *s, hr_buf *out) {
    size_t n = strlen(s), b = 0, e = n;
    while (b < n) {
        uint32_t cp;
        size_t k = hr_utf8_decode(s + b, n - b, &cp);
        if (!py_isspace(cp)) break;
        b += k;
    }
    /* from the end: find the last non-space code point */
    size_t i = b, last_end = b;
    while (i < n) {
        uint32_t cp;
        size_t k = hr_utf8_decode(s + i, n - i, &cp);
        i += k;
        if (!py_isspace(cp)) last_end = i;
    }
    e = last_end;
    hr_buf_append(out, s + b, e - b);
}

static void one_tool(const cJSON *tool, hr_buf *out) {
    const cJSON *f = hr_hermes__tool_function(tool);
    const char *name = str_or(cJSON_GetObjectItemCaseSensitive(f, "name"), "");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(f, "parameters");
    const cJSON *props = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "properties") : NULL;
    const cJSON *ret = cJSON_GetObjectItemCaseSensitive(f, "return");
    int nprops = cJSON_IsObject(props) ? cJSON_GetArraySize(props) : 0;
    const cJSON *p;

    hr_buf_printf(out, "{\"type\": \"function\", \"function\": {\"name\": \"%s\", \"description\": \"%s(", name, name);
    if (nprops) {
        bool first = true;
        cJSON_ArrayForEach(p, props) {
            if (!first) hr_buf_puts(out, ", ");
            first = false;
            hr_buf_printf(out, "%s: ", p->string);
            python_type(p, out, 0);
        }
    }
    hr_buf_puts(out, ")");
    if (ret) {
        hr_buf_puts(out, " -> ");
        python_type(ret, out, 0);
    }
    hr_buf_printf(out, " - %s\n\n", str_or(cJSON_GetObjectItemCaseSensitive(f, "description"), ""));
    if (nprops) {
        hr_buf_puts(out, "    Args:\n");
        cJSON_ArrayForEach(p, props) {
            hr_buf_printf(out, "        %s(", p->string);
            python_type(p, out, 0);
            hr_buf_puts(out, "): ");
            const cJSON *d = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "description") : NULL;
            if (cJSON_IsString(d)) append_trimmed(d->valuestring, out);
        }
    }
    const cJSON *rdesc = cJSON_IsObject(ret) ? cJSON_GetObjectItemCaseSensitive(ret, "description") : NULL;
    if (cJSON_IsString(rdesc)) hr_buf_printf(out, "\n    Returns:\n        %s", rdesc->valuestring);
    hr_buf_puts(out, "\", \"parameters\": ");
    if (!nprops) hr_buf_puts(out, "{}");
    else hr_hermes_json_dumps(params, false, out);
    hr_buf_puts(out, "}");
}

void hr_hermes__tools_header(const cJSON *tools, hr_buf *out) {
    hr_buf_puts(out, TOOLS_INTRO);
    const cJSON *t;
    bool first = true;
    cJSON_ArrayForEach(t, tools) {
        if (!first) hr_buf_puts(out, "\n");
        first = false;
        one_tool(t, out);
    }
    hr_buf_puts(out, TOOLS_OUTRO);
}
