/* The rule strategy on its own (hr_strategy_rules): every rule and its
 * boundaries, precedence, character (not byte) lengths, keyword matching
 * (Chinese substrings, English case folding and word boundaries), keywords
 * counted only in the last user message, custom config, features. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "router/router.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct msg {
    const char *role;
    const char *text;
} msg;

/* prefix followed by copies of the one-character `unit` up to `chars` characters. */
static char *text_of(const char *prefix, const char *unit, size_t chars) {
    hr_buf b;
    hr_buf_init(&b, 0);
    hr_buf_puts(&b, prefix);
    size_t have = 0;
    for (const char *p = prefix; *p; p++) have += ((unsigned char)*p & 0xC0) != 0x80;
    assert_true(have <= chars);
    for (; have < chars; have++) hr_buf_puts(&b, unit);
    return hr_buf_steal(&b);
}

static void make_req(hr_chat_request *req, const msg *msgs, size_t n, long max_tokens) {
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "messages");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].text);
        cJSON_AddItemToArray(arr, m);
    }
    if (max_tokens > 0) cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    hr_request_error err;
    assert_int_equal(hr_chat_request_from_json(root, req, &err), 0);
}

static void *rules_new(const hr_config *cfg) {
    char err[256] = "";
    void *s = hr_strategy_rules.create(cfg, err, sizeof err);
    if (!s) fail_msg("rules create failed: %s", err);
    return s;
}

static void decide_req(void *s, const hr_chat_request *req, bool features, hr_route_decision *out) {
    memset(out, 0, sizeof *out);
    assert_int_equal(hr_strategy_rules.decide(s, req, features, out), 0);
}

/* Routes messages with the given strategy state; checks tier and reason. */
static void expect_msgs(void *s, const msg *msgs, size_t n, long max_tokens, int tier, const char *reason) {
    hr_chat_request req;
    make_req(&req, msgs, n, max_tokens);
    hr_route_decision d;
    decide_req(s, &req, false, &d);
    if (strcmp(d.reason, reason) != 0 || d.tier != tier)
        fail_msg("expected %s / '%s', got %s / '%s'", hr_tier_name(tier), reason, hr_tier_name(d.tier), d.reason);
    assert_null(d.features);
    hr_chat_request_free(&req);
}

static void expect_prompt(void *s, const char *prompt, long max_tokens, int tier, const char *reason) {
    msg m = {"user", prompt};
    expect_msgs(s, &m, 1, max_tokens, tier, reason);
}

static void expect_prompt_owned(void *s, char *prompt, long max_tokens, int tier, const char *reason) {
    expect_prompt(s, prompt, max_tokens, tier, reason);
    free(prompt);
}

static void replace_list(char ***list, size_t *n, const char **words) {
    for (size_t i = 0; i < *n; i++) free((*list)[i]);
    free(*list);
    size_t k = 0;
    while (words[k]) k++;
    *list = hr_xcalloc(k + 1, sizeof **list);
    for (size_t i = 0; i < k; i++) (*list)[i] = hr_xstrdup(words[i]);
    *n = k;
}

typedef struct fixture {
    hr_config *cfg;
    void *rules;
} fixture;

static int setup(void **state) {
    fixture *f = hr_xcalloc(1, sizeof *f);
    f->cfg = hr_config_default();
    f->rules = rules_new(f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    hr_strategy_rules.free(f->rules);
    hr_config_free(f->cfg);
    free(f);
    return 0;
}

#define RULES(state) (((fixture *)*(state))->rules)

/* ---- rules 1 and 2: context length ------------------------------------------- */

static void test_context_boundaries(void **state) {
    void *s = RULES(state);
    expect_prompt_owned(s, text_of("", "x", 20001), -1, HR_TIER_LARGE, "context over 20K chars");
    expect_prompt_owned(s, text_of("", "x", 20000), -1, HR_TIER_MEDIUM, "context over 5K chars");
    expect_prompt_owned(s, text_of("", "x", 5001), -1, HR_TIER_MEDIUM, "context over 5K chars");
    expect_prompt_owned(s, text_of("", "x", 5000), -1, HR_TIER_MEDIUM, "default");
}

static void test_context_counts_characters_not_bytes(void **state) {
    void *s = RULES(state);
    /* 5001 Chinese characters are 15003 bytes: over 5000 either way */
    char *t = text_of("", "中", 5001);
    assert_int_equal(strlen(t), 15003);
    expect_prompt_owned(s, t, -1, HR_TIER_MEDIUM, "context over 5K chars");
    /* 5000 characters (15000 bytes) are not over 5000 */
    expect_prompt_owned(s, text_of("", "中", 5000), -1, HR_TIER_MEDIUM, "default");
    /* 1700 characters = 5100 bytes: a byte count would wrongly say "over 5K" */
    expect_prompt_owned(s, text_of("", "中", 1700), -1, HR_TIER_MEDIUM, "default");
    expect_prompt_owned(s, text_of("", "中", 20001), -1, HR_TIER_LARGE, "context over 20K chars");
    expect_prompt_owned(s, text_of("", "中", 20000), -1, HR_TIER_MEDIUM, "context over 5K chars");
    /* a short Chinese simple task of 499 characters (1497 bytes) is still short */
    expect_prompt_owned(s, text_of("翻译", "中", 499), -1, HR_TIER_SMALL, "simple-task keyword: 翻译");
}

static void test_context_sums_all_messages(void **state) {
    void *s = RULES(state);
    char *sys = text_of("", "s", 10000), *old = text_of("", "u", 6000), *ans = text_of("", "a", 4000);
    msg m[] = {{"system", sys}, {"user", old}, {"assistant", ans}, {"user", "hi"}}; /* 20002 */
    expect_msgs(s, m, 4, -1, HR_TIER_LARGE, "context over 20K chars");
    m[3].text = ""; /* 20000: not over 20K */
    expect_msgs(s, m, 4, -1, HR_TIER_MEDIUM, "context over 5K chars");
    free(sys);
    free(old);
    free(ans);
    /* a 4987-char system prompt + "translate this" (14) = 5001 beats the simple rule */
    sys = text_of("", "s", 4987);
    msg m2[] = {{"system", sys}, {"user", "translate this"}};
    expect_msgs(s, m2, 2, -1, HR_TIER_MEDIUM, "context over 5K chars");
    free(sys);
    sys = text_of("", "s", 4986); /* 5000 */
    msg m3[] = {{"system", sys}, {"user", "translate this"}};
    expect_msgs(s, m3, 2, -1, HR_TIER_SMALL, "simple-task keyword: translate");
    free(sys);
}

/* ---- rule 3: complex-code keywords ------------------------------------------- */

static void test_complex_keywords(void **state) {
    void *s = RULES(state);
    expect_prompt(s, "请帮我设计一个分布式系统", -1, HR_TIER_MEDIUM, "complex-code keyword: 分布式");
    expect_prompt(s, "这段代码有内存泄漏吗", -1, HR_TIER_MEDIUM, "complex-code keyword: 内存泄漏");
    expect_prompt(s, "Why does this Race Condition happen?", -1, HR_TIER_MEDIUM, "complex-code keyword: race condition");
    expect_prompt(s, "write a COMPILER for brainfuck", -1, HR_TIER_MEDIUM, "complex-code keyword: compiler");
    expect_prompt(s, "a lock-free queue please", -1, HR_TIER_MEDIUM, "complex-code keyword: lock-free");
    /* short messages with a simple keyword: complex wins (rule 3 before rule 6) */
    expect_prompt(s, "翻译这段分布式代码", -1, HR_TIER_MEDIUM, "complex-code keyword: 分布式");
    expect_prompt(s, "translate this compiler error", -1, HR_TIER_MEDIUM, "complex-code keyword: compiler");
    /* complex wins over max_tokens and reasoning too (reason names rule 3) */
    expect_prompt(s, "多线程", 100000, HR_TIER_MEDIUM, "complex-code keyword: 多线程");
    expect_prompt_owned(s, text_of("analyze this concurrency bug ", "x", 800), -1, HR_TIER_MEDIUM,
                        "complex-code keyword: concurrency");
}

/* ---- rule 4: reasoning keyword in a long message ----------------------------- */

static void test_reasoning_boundaries(void **state) {
    void *s = RULES(state);
    expect_prompt_owned(s, text_of("Please analyze this: ", "x", 501), -1, HR_TIER_MEDIUM,
                        "reasoning keyword 'analyze' in long message");
    expect_prompt_owned(s, text_of("Please analyze this: ", "x", 500), -1, HR_TIER_MEDIUM, "default");
    /* the default tier is medium too: make the difference visible with a small default */
    hr_config *cfg = hr_config_default();
    cfg->rules.default_tier = HR_TIER_SMALL;
    void *r = rules_new(cfg);
    expect_prompt_owned(r, text_of("Please analyze this: ", "x", 500), -1, HR_TIER_SMALL, "default");
    expect_prompt_owned(r, text_of("Please analyze this: ", "x", 501), -1, HR_TIER_MEDIUM,
                        "reasoning keyword 'analyze' in long message");
    expect_prompt_owned(r, text_of("请分析这个问题", "中", 501), -1, HR_TIER_MEDIUM,
                        "reasoning keyword '分析' in long message");
    expect_prompt_owned(r, text_of("请分析这个问题", "中", 500), -1, HR_TIER_SMALL, "default");
    /* a long message without a reasoning keyword is not promoted */
    expect_prompt_owned(r, text_of("Tell me a story ", "x", 900), -1, HR_TIER_SMALL, "default");
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
}

/* ---- rule 5: max_tokens -------------------------------------------------------- */

static void test_max_tokens_boundaries(void **state) {
    void *s = RULES(state);
    hr_config *cfg = hr_config_default();
    cfg->rules.default_tier = HR_TIER_SMALL;
    void *r = rules_new(cfg);
    expect_prompt(r, "hello there", 2049, HR_TIER_MEDIUM, "max_tokens over 2048");
    expect_prompt(r, "hello there", 2048, HR_TIER_SMALL, "default");
    expect_prompt(r, "hello there", -1, HR_TIER_SMALL, "default");
    /* rule 5 beats rule 6: a simple task that asks for a long answer */
    expect_prompt(r, "translate this", 4096, HR_TIER_MEDIUM, "max_tokens over 2048");
    expect_prompt(r, "translate this", 2048, HR_TIER_SMALL, "simple-task keyword: translate");
    /* rule 4 beats rule 5 */
    expect_prompt_owned(r, text_of("Why is the sky blue? ", "x", 600), 4096, HR_TIER_MEDIUM,
                        "reasoning keyword 'why' in long message");
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
    expect_prompt(s, "hello there", 2049, HR_TIER_MEDIUM, "max_tokens over 2048");
}

/* ---- rule 6: simple-task keyword in a short message ---------------------------- */

static void test_simple_boundaries(void **state) {
    void *s = RULES(state);
    expect_prompt(s, "翻译：今天天气很好", -1, HR_TIER_SMALL, "simple-task keyword: 翻译");
    expect_prompt(s, "What is the capital of France?", -1, HR_TIER_SMALL, "simple-task keyword: what is");
    expect_prompt_owned(s, text_of("translate: ", "x", 499), -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt_owned(s, text_of("translate: ", "x", 500), -1, HR_TIER_MEDIUM, "default");
    expect_prompt_owned(s, text_of("translate: ", "x", 501), -1, HR_TIER_MEDIUM, "default");
    expect_prompt_owned(s, text_of("总结一下", "中", 499), -1, HR_TIER_SMALL, "simple-task keyword: 总结");
    expect_prompt_owned(s, text_of("总结一下", "中", 500), -1, HR_TIER_MEDIUM, "default");
    /* nothing matches: default */
    expect_prompt(s, "hello there", -1, HR_TIER_MEDIUM, "default");
    expect_prompt(s, "你好", -1, HR_TIER_MEDIUM, "default");
}

static void test_reason_names_first_match_in_text(void **state) {
    void *s = RULES(state);
    expect_prompt(s, "summarize and then translate", -1, HR_TIER_SMALL, "simple-task keyword: summarize");
    expect_prompt(s, "translate and then summarize", -1, HR_TIER_SMALL, "simple-task keyword: translate");
}

/* ---- keywords count only in the last user message ------------------------------ */

static void test_keywords_only_in_last_user_message(void **state) {
    void *s = RULES(state);
    msg sys[] = {{"system", "You translate and summarize. 分布式 compiler expert."}, {"user", "hello"}};
    expect_msgs(s, sys, 2, -1, HR_TIER_MEDIUM, "default");
    msg earlier[] = {{"user", "translate 分布式 compiler"}, {"assistant", "ok, translate what?"}, {"user", "hello"}};
    expect_msgs(s, earlier, 3, -1, HR_TIER_MEDIUM, "default");
    /* the last user message counts even when an assistant message follows it */
    msg after[] = {{"user", "hello"}, {"user", "翻译这句"}, {"assistant", "好的"}};
    expect_msgs(s, after, 3, -1, HR_TIER_SMALL, "simple-task keyword: 翻译");
    /* no user message at all: only length rules and the default apply */
    msg none[] = {{"system", "translate everything"}};
    expect_msgs(s, none, 1, -1, HR_TIER_MEDIUM, "default");
    /* a long reasoning keyword in an earlier message does not count either */
    char *longer = text_of("analyze this in depth: ", "x", 800);
    hr_config *cfg = hr_config_default();
    cfg->rules.default_tier = HR_TIER_SMALL;
    void *r = rules_new(cfg);
    msg old[] = {{"user", longer}, {"assistant", "ok"}, {"user", "and now?"}};
    expect_msgs(r, old, 3, -1, HR_TIER_SMALL, "default");
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
    free(longer);
}

/* ---- English matching: case and word boundaries --------------------------------- */

static void test_english_case_insensitive(void **state) {
    void *s = RULES(state);
    expect_prompt(s, "TRANSLATE this", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "Translate this", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "tRaNsLaTe this", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "WHAT IS love", -1, HR_TIER_SMALL, "simple-task keyword: what is");
    expect_prompt(s, "What's up", -1, HR_TIER_SMALL, "simple-task keyword: what's");
    expect_prompt(s, "What’s up", -1, HR_TIER_SMALL, "simple-task keyword: what's");
    expect_prompt(s, "What‘s up", -1, HR_TIER_MEDIUM, "default"); /* only U+2019 stands for ' */
}

static void test_english_word_boundaries(void **state) {
    void *s = RULES(state);
    /* word start: no match inside a word */
    expect_prompt(s, "more information please", -1, HR_TIER_MEDIUM, "default");     /* format */
    expect_prompt(s, "reformat nothing", -1, HR_TIER_MEDIUM, "default");             /* format */
    expect_prompt(s, "my_list is here", -1, HR_TIER_MEDIUM, "default");              /* list */
    expect_prompt(s, "somewhat isolated", -1, HR_TIER_MEDIUM, "default");            /* what is */
    /* word end: no match when the word goes on (other than an inflection) */
    expect_prompt(s, "listen to me", -1, HR_TIER_MEDIUM, "default");                 /* list */
    expect_prompt(s, "formal wear", -1, HR_TIER_MEDIUM, "default");
    expect_prompt(s, "what island", -1, HR_TIER_MEDIUM, "default");                  /* what is */
    expect_prompt(s, "whatis that", -1, HR_TIER_MEDIUM, "default");
    /* punctuation, line starts and non-ASCII text are boundaries */
    expect_prompt(s, "(translate) it", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "x\ntranslate", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "请translate这段", -1, HR_TIER_SMALL, "simple-task keyword: translate");
    expect_prompt(s, "Format: json", -1, HR_TIER_SMALL, "simple-task keyword: format");
    /* inflections of the keyword still match */
    expect_prompt(s, "formatted output", -1, HR_TIER_SMALL, "simple-task keyword: format");
    expect_prompt(s, "formatting rules", -1, HR_TIER_SMALL, "simple-task keyword: format");
    expect_prompt(s, "lists of things", -1, HR_TIER_SMALL, "simple-task keyword: list");
    expect_prompt(s, "summarizing it", -1, HR_TIER_SMALL, "simple-task keyword: summarize");
    expect_prompt(s, "classified ads", -1, HR_TIER_SMALL, "simple-task keyword: classify");
    expect_prompt(s, "it classifies", -1, HR_TIER_SMALL, "simple-task keyword: classify");
    expect_prompt(s, "converted values", -1, HR_TIER_SMALL, "simple-task keyword: convert");
    expect_prompt(s, "I extracted it", -1, HR_TIER_SMALL, "simple-task keyword: extract");
    /* derived words are other words */
    expect_prompt(s, "the extraction", -1, HR_TIER_MEDIUM, "default");
}

static void test_why_and_multiword_spacing(void **state) {
    (void)state;
    hr_config *cfg = hr_config_default();
    cfg->rules.default_tier = HR_TIER_SMALL;
    cfg->rules.reasoning_min_chars = 5;
    void *r = rules_new(cfg);
    expect_prompt(r, "Why is the sky blue", -1, HR_TIER_MEDIUM, "reasoning keyword 'why' in long message");
    expect_prompt(r, "whyever not", -1, HR_TIER_SMALL, "default");
    expect_prompt(r, "please reason about it", -1, HR_TIER_MEDIUM, "reasoning keyword 'reason about' in long message");
    /* a space in a keyword matches any run of whitespace, not "no space" */
    expect_prompt(r, "please reason   about it", -1, HR_TIER_MEDIUM,
                  "reasoning keyword 'reason about' in long message");
    expect_prompt(r, "please reason\n\tabout it", -1, HR_TIER_MEDIUM,
                  "reasoning keyword 'reason about' in long message");
    expect_prompt(r, "please reasonabout it", -1, HR_TIER_SMALL, "default");
    expect_prompt(r, "the reasons about it", -1, HR_TIER_SMALL, "default");
    expect_prompt(r, "evaluating this", -1, HR_TIER_MEDIUM, "reasoning keyword 'evaluate' in long message");
    expect_prompt(r, "the trade-offs here", -1, HR_TIER_MEDIUM, "reasoning keyword 'trade-off' in long message");
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
}

/* ---- custom config --------------------------------------------------------------- */

static void test_custom_thresholds_and_keywords(void **state) {
    (void)state;
    hr_config *cfg = hr_config_default();
    cfg->rules.large_context_chars = 1000;
    cfg->rules.medium_context_chars = 300;
    cfg->rules.reasoning_min_chars = 10;
    cfg->rules.simple_max_chars = 50;
    cfg->rules.medium_max_tokens = 100;
    cfg->rules.default_tier = HR_TIER_LARGE;
    replace_list(&cfg->rules.complex_keywords, &cfg->rules.n_complex_keywords,
                 (const char *[]){"Kubernetes", "  service   mesh ", "量子", "c  sharp", NULL});
    replace_list(&cfg->rules.reasoning_keywords, &cfg->rules.n_reasoning_keywords, (const char *[]){"ponder", NULL});
    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){"spell", "拼写", "q", NULL});
    void *r = rules_new(cfg);
    expect_prompt_owned(r, text_of("", "x", 1001), -1, HR_TIER_LARGE, "context over 1K chars");
    expect_prompt_owned(r, text_of("", "x", 1000), -1, HR_TIER_MEDIUM, "context over 300 chars");
    expect_prompt_owned(r, text_of("", "x", 300), -1, HR_TIER_LARGE, "default");
    expect_prompt(r, "deploy on kubernetes", -1, HR_TIER_MEDIUM, "complex-code keyword: Kubernetes");
    expect_prompt(r, "a Service Mesh", -1, HR_TIER_MEDIUM, "complex-code keyword: service mesh");
    expect_prompt(r, "量子计算", -1, HR_TIER_MEDIUM, "complex-code keyword: 量子");
    expect_prompt(r, "in C\tsharp", -1, HR_TIER_MEDIUM, "complex-code keyword: c sharp"); /* space as 2nd byte */
    expect_prompt(r, "q?", -1, HR_TIER_SMALL, "simple-task keyword: q");                 /* one-byte keyword */
    expect_prompt(r, "Q", -1, HR_TIER_SMALL, "simple-task keyword: q");
    expect_prompt(r, "qq", -1, HR_TIER_LARGE, "default");
    expect_prompt(r, "ponder this deeply", -1, HR_TIER_MEDIUM, "reasoning keyword 'ponder' in long message");
    expect_prompt(r, "ponder it", -1, HR_TIER_LARGE, "default"); /* 9 chars: not longer than 10 */
    expect_prompt(r, "hi", 101, HR_TIER_MEDIUM, "max_tokens over 100");
    expect_prompt(r, "hi", 100, HR_TIER_LARGE, "default");
    expect_prompt(r, "spell it", -1, HR_TIER_SMALL, "simple-task keyword: spell");
    expect_prompt(r, "拼写检查", -1, HR_TIER_SMALL, "simple-task keyword: 拼写");
    expect_prompt_owned(r, text_of("spell ", "x", 50), -1, HR_TIER_LARGE, "default");
    /* the default lists are gone */
    expect_prompt(r, "translate 分布式", -1, HR_TIER_LARGE, "default");
    hr_strategy_rules.free(r);

    /* thresholds that are not multiples of 1000 print as plain numbers */
    cfg->rules.large_context_chars = 12345;
    cfg->rules.medium_context_chars = 5500;
    r = rules_new(cfg);
    expect_prompt_owned(r, text_of("", "x", 12346), -1, HR_TIER_LARGE, "context over 12345 chars");
    expect_prompt_owned(r, text_of("", "x", 5501), -1, HR_TIER_MEDIUM, "context over 5500 chars");
    hr_strategy_rules.free(r);

    /* empty keyword lists: keyword rules never fire */
    replace_list(&cfg->rules.complex_keywords, &cfg->rules.n_complex_keywords, (const char *[]){NULL});
    replace_list(&cfg->rules.reasoning_keywords, &cfg->rules.n_reasoning_keywords, (const char *[]){NULL});
    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){NULL});
    r = rules_new(cfg);
    expect_prompt(r, "spell kubernetes", -1, HR_TIER_LARGE, "default");
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
}

static void test_default_tier_from_config(void **state) {
    (void)state;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        hr_config *cfg = hr_config_default();
        cfg->rules.default_tier = t;
        void *r = rules_new(cfg);
        expect_prompt(r, "hello there", -1, t, "default");
        hr_strategy_rules.free(r);
        hr_config_free(cfg);
    }
}

static void test_create_rejects_bad_config(void **state) {
    (void)state;
    char err[256];
    hr_config *cfg = hr_config_default();
    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){"ok", "  ", NULL});
    assert_null(hr_strategy_rules.create(cfg, err, sizeof err));
    assert_string_equal(err, "router.rules.simple_keywords[1]: empty keyword");

    char longkw[300];
    memset(longkw, 'k', sizeof longkw - 1);
    longkw[sizeof longkw - 1] = 0;
    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){longkw, NULL});
    assert_null(hr_strategy_rules.create(cfg, err, sizeof err));
    assert_string_equal(err, "router.rules.simple_keywords[0]: keyword longer than 256 bytes");

    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){"ok", NULL});
    cfg->rules.default_tier = 7;
    assert_null(hr_strategy_rules.create(cfg, err, sizeof err));
    assert_string_equal(err, "router.rules.default_tier: 7 is not a tier");
    hr_config_free(cfg);

    /* too many keywords in all */
    cfg = hr_config_default();
    const char **many = hr_xcalloc(1100, sizeof *many);
    char (*words)[16] = hr_xcalloc(1099, sizeof *words);
    for (int i = 0; i < 1099; i++) {
        snprintf(words[i], sizeof words[i], "kw%d", i);
        many[i] = words[i];
    }
    replace_list(&cfg->rules.complex_keywords, &cfg->rules.n_complex_keywords, many);
    assert_null(hr_strategy_rules.create(cfg, err, sizeof err));
    assert_non_null(strstr(err, "at most 1024"));
    free(many);
    free(words);
    hr_config_free(cfg);
}

static void test_long_keyword_reason_is_truncated_on_a_character(void **state) {
    (void)state;
    hr_config *cfg = hr_config_default();
    char kw[256];
    size_t o = 0;
    for (int i = 0; i < 80; i++) { memcpy(kw + o, "键", 3); o += 3; } /* 240 bytes */
    kw[o] = 0;
    replace_list(&cfg->rules.simple_keywords, &cfg->rules.n_simple_keywords, (const char *[]){kw, NULL});
    void *r = rules_new(cfg);
    hr_chat_request req;
    msg m = {"user", kw};
    make_req(&req, &m, 1, -1);
    hr_route_decision d;
    decide_req(r, &req, false, &d);
    assert_int_equal(d.tier, HR_TIER_SMALL);
    const char *prefix = "simple-task keyword: ";
    assert_memory_equal(d.reason, prefix, strlen(prefix));
    size_t quoted = strlen(d.reason) - strlen(prefix);
    assert_true(quoted > 0 && quoted <= 96);
    assert_int_equal(quoted % 3, 0); /* whole characters only */
    hr_chat_request_free(&req);
    hr_strategy_rules.free(r);
    hr_config_free(cfg);
}

/* ---- features ------------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) fail_msg("features lack '%s'", k);
    return v;
}

static int array_has(const cJSON *arr, const char *s) {
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) && !strcmp(it->valuestring, s)) return 1;
    return 0;
}

static void test_features(void **state) {
    void *s = RULES(state);
    msg m[] = {{"system", "be brief, translate"}, {"user", "翻译这段分布式代码, then summarize and translate"}};
    hr_chat_request req;
    make_req(&req, m, 2, 300);
    hr_route_decision d, plain;
    decide_req(s, &req, true, &d);
    decide_req(s, &req, false, &plain);
    /* features never change the decision */
    assert_int_equal(d.tier, plain.tier);
    assert_string_equal(d.reason, plain.reason);
    assert_string_equal(d.reason, "complex-code keyword: 分布式");
    assert_null(plain.features);
    assert_non_null(d.features);
    const cJSON *f = d.features;
    assert_int_equal(get(f, "context_chars")->valueint, (int)req.context_chars);
    assert_int_equal(get(f, "last_user_chars")->valueint, (int)req.last_user->chars);
    assert_int_equal(get(f, "max_tokens")->valueint, 300);
    assert_int_equal(get(f, "n_messages")->valueint, 2);
    assert_string_equal(get(f, "rule")->valuestring, "complex_keyword");
    const cJSON *matched = get(f, "matched");
    const cJSON *cx = get(matched, "complex"), *rs = get(matched, "reasoning"), *sm = get(matched, "simple");
    assert_int_equal(cJSON_GetArraySize(cx), 1);
    assert_true(array_has(cx, "分布式"));
    assert_int_equal(cJSON_GetArraySize(rs), 0);
    /* every distinct match is listed once, even when repeated in the text */
    assert_int_equal(cJSON_GetArraySize(sm), 3);
    assert_true(array_has(sm, "翻译") && array_has(sm, "summarize") && array_has(sm, "translate"));
    hr_route_decision_clear(&d);
    assert_null(d.features);
    hr_chat_request_free(&req);

    /* features on a length decision still report the keywords and lengths */
    char *big = text_of("translate ", "中", 20001);
    msg b = {"user", big};
    make_req(&req, &b, 1, -1);
    decide_req(s, &req, true, &d);
    assert_string_equal(d.reason, "context over 20K chars");
    assert_true(cJSON_IsNull(get(d.features, "max_tokens")));
    assert_int_equal(get(d.features, "last_user_chars")->valueint, 20001);
    assert_string_equal(get(d.features, "rule")->valuestring, "large_context");
    assert_true(array_has(get(get(d.features, "matched"), "simple"), "translate"));
    hr_route_decision_clear(&d);
    hr_chat_request_free(&req);
    free(big);
}

/* Random bytes (invalid UTF-8 included) and random keyword-ish text: no read
 * past the end (ASan), features never change the decision, and a keyword
 * appended as its own word is always found. */
static void test_random_text(void **state) {
    void *s = RULES(state);
    static const char *pieces[] = {"translate", "Translat", "分布", "分布式", "why", "whyever", " ", "\n", "reason ",
                                   "about", "ing", "s", "_", "中", "\xe5\x88", "\xff", "what's", "what", "is", "-"};
    unsigned seed = 12345;
    char buf[700];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        size_t want = (seed >> 16) % 600;
        while (n < want) {
            seed = seed * 1103515245u + 12345u;
            if (iter % 2) {
                buf[n++] = (char)(seed >> 16);
            } else {
                const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
                size_t k = strlen(p);
                if (n + k >= want) break;
                memcpy(buf + n, p, k);
                n += k;
            }
        }
        buf[n] = 0;
        /* exact-length copy so that ASan sees any read past the text */
        char *text = hr_xmalloc(n + 1);
        memcpy(text, buf, n + 1);
        hr_chat_request req;
        msg m = {"user", text};
        if (strlen(text) == n) { /* cJSON strings stop at NUL */
            make_req(&req, &m, 1, -1);
            hr_route_decision a, b;
            decide_req(s, &req, false, &a);
            decide_req(s, &req, true, &b);
            assert_int_equal(a.tier, b.tier);
            assert_string_equal(a.reason, b.reason);
            hr_route_decision_clear(&b);
            hr_chat_request_free(&req);
            if (n < 400) { /* a complex keyword as its own word always wins */
                char *t2 = hr_xmalloc(n + 32);
                snprintf(t2, n + 32, "%s 分布式 compiler", text);
                msg m2 = {"user", t2};
                make_req(&req, &m2, 1, -1);
                decide_req(s, &req, false, &a);
                assert_int_equal(a.tier, HR_TIER_MEDIUM);
                assert_non_null(strstr(a.reason, "complex-code keyword: "));
                hr_chat_request_free(&req);
                free(t2);
            }
        }
        free(text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_context_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_counts_characters_not_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_sums_all_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complex_keywords, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasoning_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_tokens_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simple_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_names_first_match_in_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keywords_only_in_last_user_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_english_case_insensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_english_word_boundaries, setup, teardown),
        cmocka_unit_test(test_why_and_multiword_spacing),
        cmocka_unit_test(test_custom_thresholds_and_keywords),
        cmocka_unit_test(test_default_tier_from_config),
        cmocka_unit_test(test_create_rejects_bad_config),
        cmocka_unit_test(test_long_keyword_reason_is_truncated_on_a_character),
        cmocka_unit_test_setup_teardown(test_features, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
