/* Built-in defaults: the seed's rules and keyword lists, local tiers. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"

static const char *tier_names[HR_TIER_MAX] = {"small", "medium", "large"};

const char *hr_tier_name(int tier) { return tier >= 0 && tier < HR_TIER_MAX ? tier_names[tier] : "?"; }

int hr_tier_from_name(const char *name) {
    for (int i = 0; i < HR_TIER_MAX; i++)
        if (name && !strcmp(name, tier_names[i])) return i;
    return -1;
}

/* Keyword lists: the seed's Chinese keywords plus English equivalents.
 * English keywords match case-insensitively on word starts (see router/rules.c). */
static const char *complex_kw[] = {
    "分布式", "编译器", "并发", "性能优化", "架构设计", "多线程", "算法复杂度", "内存泄漏",
    "distributed system", "compiler", "concurrency", "concurrent", "performance optimization",
    "optimize performance", "system design", "architecture design", "multithreading", "race condition",
    "memory leak", "lock-free", NULL};
static const char *reasoning_kw[] = {
    "分析", "比较", "评估", "为什么", "论证", "推理", "证明",
    "analyze", "analyse", "analysis", "compare", "comparison", "evaluate", "assess", "why",
    "argue", "prove", "reason about", "critique", "trade-off", "tradeoff", NULL};
static const char *simple_kw[] = {
    "翻译", "格式化", "提取", "分类", "是什么", "总结", "改写",
    "translate", "format", "extract", "classify", "what is", "what's", "summarize", "summarise",
    "rewrite", "convert", "list", NULL};

/* Uncertainty phrases for the cascade's quality score; English ones match
 * case-insensitively (router/quality.c), ’ counts as '. */
static const char *uncertainty_phrases[] = {
    "不确定", "不太清楚", "无法确定", "我不知道", "不清楚", "我不确定", "无法回答", "不太确定", "可能不准确",
    "i'm not sure", "i am not sure", "i don't know", "i do not know", "i cannot", "i can't", "i'm unable",
    "i am unable", "not certain", "i'm not certain", "unclear to me", "i have no idea", "hard to say", NULL};

static char **dup_list(const char **src, size_t *n) {
    size_t k = 0;
    while (src[k]) k++;
    char **out = hr_xcalloc(k + 1, sizeof *out);
    for (size_t i = 0; i < k; i++) out[i] = hr_xstrdup(src[i]);
    *n = k;
    return out;
}

void hr_config_set_rule_defaults(hr_rules_config *r) {
    r->large_context_chars = 20000;
    r->medium_context_chars = 5000;
    r->reasoning_min_chars = 500;
    r->simple_max_chars = 500;
    r->medium_max_tokens = 2048;
    r->complex_keywords = dup_list(complex_kw, &r->n_complex_keywords);
    r->reasoning_keywords = dup_list(reasoning_kw, &r->n_reasoning_keywords);
    r->simple_keywords = dup_list(simple_kw, &r->n_simple_keywords);
    r->default_tier = HR_TIER_MEDIUM;
}

void hr_config_set_cascade_defaults(hr_cascade_config *k) {
    k->quality_threshold = 0.7;
    k->max_cascade = 2;
    k->weights = (hr_quality_weights){.short_answer = 0.5, .uncertainty = 0.4, .repetition = 0.6, .mean_logprob = 0.5,
                                      .min_logprob = 0.2, .length = 0.5, .format = 0.6, .judge = 0.6};
    k->short_answer_chars = 8;
    k->uncertainty_phrases = dup_list(uncertainty_phrases, &k->n_uncertainty_phrases);
    k->logprob_mean_good = -0.5;
    k->logprob_mean_bad = -2.0;
    k->logprob_min_good = -5.0;
    k->logprob_min_bad = -12.0;
    k->request_logprobs = true;
    k->judge.enabled = false;
    k->judge.tier = -1;
    k->judge.timeout_s = 10;
    k->stream_early_accept.enabled = false;
    k->stream_early_accept.after_tokens = 16;
    k->stream_early_accept.min_mean_logprob = -0.3;
}

hr_config *hr_config_default(void) {
    hr_config *c = hr_xcalloc(1, sizeof *c);
    c->host = hr_xstrdup("127.0.0.1");
    c->port = 7861;
    c->max_body_bytes = 4u << 20;
    c->connect_timeout_s = 5;
    c->request_timeout_s = 600;
    c->idle_timeout_s = 120;
    c->ui = true;
    c->strategy = hr_xstrdup("rules");
    hr_config_set_rule_defaults(&c->rules);
    c->classifier.threshold = 0; /* 0: the threshold stored with the model (train/calibrate) */
    c->classifier.dim = 4096;
    hr_config_set_cascade_defaults(&c->cascade);
    c->log.enabled = true;
    c->log.sqlite_path = hr_xstrdup("hermes-router.db");
    c->log.capture_text = true;
    return c;
}

static void free_list(char **l, size_t n) {
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

void hr_config_free(hr_config *c) {
    if (!c) return;
    free(c->path);
    free(c->host);
    free_list(c->api_keys, c->n_api_keys);
    for (int t = 0; t < HR_TIER_MAX; t++) {
        hr_tier_config *tc = &c->tiers[t];
        free_list(tc->aliases, tc->n_aliases);
        for (size_t b = 0; b < tc->n_backends; b++) {
            hr_backend_config *bc = &tc->backends[b];
            free(bc->url);
            free(bc->model);
            free(bc->api_key);
            free(bc->chat_template);
        }
        free(tc->backends);
    }
    free(c->strategy);
    free_list(c->rules.complex_keywords, c->rules.n_complex_keywords);
    free_list(c->rules.reasoning_keywords, c->rules.n_reasoning_keywords);
    free_list(c->rules.simple_keywords, c->rules.n_simple_keywords);
    free(c->classifier.model);
    free(c->classifier.embedder);
    free_list(c->cascade.uncertainty_phrases, c->cascade.n_uncertainty_phrases);
    free(c->cascade.judge.prompt);
    free(c->log.sqlite_path);
    free(c->log.postgres_url);
    free(c);
}

int hr_config_tier_count(const hr_config *c) {
    int n = 0;
    for (int t = 0; t < HR_TIER_MAX; t++) n += c->tiers[t].enabled;
    return n;
}

int hr_config_map_tier(const hr_config *c, int want) {
    if (want < 0) want = 0;
    for (int t = want; t < HR_TIER_MAX; t++)
        if (c->tiers[t].enabled) return t;
    for (int t = HR_TIER_MAX - 1; t >= 0; t--)
        if (c->tiers[t].enabled) return t;
    return want < HR_TIER_MAX ? want : HR_TIER_MAX - 1;
}

int hr_config_tier_for_model(const hr_config *c, const char *model) {
    if (!model) return -1;
    int t = hr_tier_from_name(model);
    if (t >= 0) return c->tiers[t].enabled ? t : -1;
    for (t = 0; t < HR_TIER_MAX; t++) {
        if (!c->tiers[t].enabled) continue;
        for (size_t i = 0; i < c->tiers[t].n_aliases; i++)
            if (!strcmp(model, c->tiers[t].aliases[i])) return t;
    }
    return -1;
}
