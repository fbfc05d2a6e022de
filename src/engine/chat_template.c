/* Chat templates (see engine.h): ChatML and Llama 3, rendered in C rather
 * than by a Jinja interpreter; a model's Jinja template is only inspected to
 * tell which of the two it is. */
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "engine/engine.h"

#define MAX_RENDER (64u << 20)

hr_chat_template hr_chat_template_by_name(const char *name) {
    if (!name) return HR_TEMPLATE_UNKNOWN;
    static const char *chatml[] = {"chatml", "hermes", "hermes3", "hermes-3", "smollm2", "smollm"};
    static const char *llama3[] = {"llama3", "llama-3", "llama3.1", "llama-3.1"};
    for (size_t i = 0; i < sizeof chatml / sizeof chatml[0]; i++)
        if (!strcasecmp(name, chatml[i])) return HR_TEMPLATE_CHATML;
    for (size_t i = 0; i < sizeof llama3 / sizeof llama3[0]; i++)
        if (!strcasecmp(name, llama3[i])) return HR_TEMPLATE_LLAMA3;
    return HR_TEMPLATE_UNKNOWN;
}

hr_chat_template hr_chat_template_detect(const char *jinja) {
    if (!jinja) return HR_TEMPLATE_UNKNOWN;
    if (strstr(jinja, "<|im_start|>")) return HR_TEMPLATE_CHATML;
    if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) return HR_TEMPLATE_LLAMA3;
    return HR_TEMPLATE_UNKNOWN;
}

hr_chat_template hr_chat_template_from_model(const hr_model *m) {
    return hr_chat_template_detect(hr_gguf_get_str(hr_model_gguf(m), "tokenizer.chat_template", NULL));
}

const char *hr_chat_template_name(hr_chat_template t) {
    switch (t) {
    case HR_TEMPLATE_CHATML: return "chatml";
    case HR_TEMPLATE_LLAMA3: return "llama3";
    default: return "unknown";
    }
}

const char *hr_chat_template_eot(hr_chat_template t) {
    switch (t) {
    case HR_TEMPLATE_CHATML: return "<|im_end|>";
    case HR_TEMPLATE_LLAMA3: return "<|eot_id|>";
    default: return "";
    }
}

/* Llama 3's template trims message content. */
static void put_trimmed(hr_buf *b, const char *s) {
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[0])) s++, n--;
    while (n && strchr(" \t\r\n", s[n - 1])) n--;
    hr_buf_append(b, s, n);
}

char *hr_chat_template_render(hr_chat_template t, const hr_chat_msg *msgs, int n, bool add_generation_prompt) {
    if (t != HR_TEMPLATE_CHATML && t != HR_TEMPLATE_LLAMA3) return NULL;
    hr_buf b;
    hr_buf_init(&b, MAX_RENDER);
    for (int i = 0; i < n; i++) {
        const char *role = msgs[i].role ? msgs[i].role : "user";
        const char *content = msgs[i].content ? msgs[i].content : "";
        if (t == HR_TEMPLATE_CHATML) {
            hr_buf_printf(&b, "<|im_start|>%s\n", role);
            hr_buf_puts(&b, content);
            hr_buf_puts(&b, "<|im_end|>\n");
        } else {
            /* Llama 3.1 names tool results "ipython" */
            hr_buf_printf(&b, "<|start_header_id|>%s<|end_header_id|>\n\n", strcmp(role, "tool") ? role : "ipython");
            put_trimmed(&b, content);
            hr_buf_puts(&b, "<|eot_id|>");
        }
    }
    if (add_generation_prompt)
        hr_buf_puts(&b, t == HR_TEMPLATE_CHATML ? "<|im_start|>assistant\n"
                                                : "<|start_header_id|>assistant<|end_header_id|>\n\n");
    if (!b.data) hr_buf_puts(&b, "");
    return hr_buf_steal(&b);
}
