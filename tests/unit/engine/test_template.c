/* Chat templates: exact rendering of ChatML and Llama 3, detection from the
 * real Jinja templates shipped in shared/hermes, and lookup by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"

static char *slurp(const char *rel) {
    const char *sh = getenv("HR_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sh ? sh : "../shared", rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static const hr_chat_msg conv[] = {
    {"system", "You are Hermes."},
    {"user", "  Hi!  "},
    {"assistant", "Hello."},
    {"user", "2+2?"},
};

static void test_chatml(void **state) {
    (void)state;
    char *s = hr_chat_template_render(HR_TEMPLATE_CHATML, conv, 4, true);
    assert_string_equal(s, "<|im_start|>system\nYou are Hermes.<|im_end|>\n"
                           "<|im_start|>user\n  Hi!  <|im_end|>\n"
                           "<|im_start|>assistant\nHello.<|im_end|>\n"
                           "<|im_start|>user\n2+2?<|im_end|>\n"
                           "<|im_start|>assistant\n");
    free(s);
    s = hr_chat_template_render(HR_TEMPLATE_CHATML, conv, 1, false);
    assert_string_equal(s, "<|im_start|>system\nYou are Hermes.<|im_end|>\n");
    free(s);
    s = hr_chat_template_render(HR_TEMPLATE_CHATML, conv, 0, false);
    assert_string_equal(s, "");
    free(s);
    assert_string_equal(hr_chat_template_eot(HR_TEMPLATE_CHATML), "<|im_end|>");
}

static void test_llama3(void **state) {
    (void)state;
    char *s = hr_chat_template_render(HR_TEMPLATE_LLAMA3, conv, 4, true);
    assert_string_equal(s, "<|start_header_id|>system<|end_header_id|>\n\nYou are Hermes.<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(s);
    assert_string_equal(hr_chat_template_eot(HR_TEMPLATE_LLAMA3), "<|eot_id|>");
    assert_null(hr_chat_template_render(HR_TEMPLATE_UNKNOWN, conv, 1, true));
}

static void test_detect(void **state) {
    (void)state;
    struct {
        const char *file;
        hr_chat_template want;
    } cases[] = {
        {"hermes/llama.cpp-templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", HR_TEMPLATE_CHATML},
        {"hermes/llama.cpp-templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", HR_TEMPLATE_CHATML},
        {"hermes/llama.cpp-templates/meta-llama-Llama-3.1-8B-Instruct.jinja", HR_TEMPLATE_LLAMA3},
        {"hermes/llama.cpp-templates/Qwen-Qwen2.5-7B-Instruct.jinja", HR_TEMPLATE_CHATML},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *j = slurp(cases[i].file);
        if (hr_chat_template_detect(j) != cases[i].want) fail_msg("%s: detected wrong template", cases[i].file);
        free(j);
    }
    assert_int_equal(hr_chat_template_detect("{{ messages }}"), HR_TEMPLATE_UNKNOWN);
    assert_int_equal(hr_chat_template_detect(NULL), HR_TEMPLATE_UNKNOWN);
}

static void test_by_name(void **state) {
    (void)state;
    assert_int_equal(hr_chat_template_by_name("chatml"), HR_TEMPLATE_CHATML);
    assert_int_equal(hr_chat_template_by_name("Hermes"), HR_TEMPLATE_CHATML);
    assert_int_equal(hr_chat_template_by_name("smollm2"), HR_TEMPLATE_CHATML);
    assert_int_equal(hr_chat_template_by_name("llama3"), HR_TEMPLATE_LLAMA3);
    assert_int_equal(hr_chat_template_by_name("llama-3.1"), HR_TEMPLATE_LLAMA3);
    assert_int_equal(hr_chat_template_by_name("vicuna"), HR_TEMPLATE_UNKNOWN);
    assert_string_equal(hr_chat_template_name(HR_TEMPLATE_LLAMA3), "llama3");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_chatml), cmocka_unit_test(test_llama3),
                                       cmocka_unit_test(test_detect), cmocka_unit_test(test_by_name)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
