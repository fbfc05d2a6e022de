/* Rule strategy: fixed, explainable rules over the request's shape and the
 * last user message. First match wins, in this order:
 *   1. context_chars > large_context_chars (20000)            -> large  "context over 20K chars"
 *   2. context_chars > medium_context_chars (5000)            -> medium "context over 5K chars"
 *   3. last user message has a complex-code keyword           -> medium "complex-code keyword: 分布式"
 *   4. last user message has a reasoning keyword and is
 *      longer than reasoning_min_chars (500)                  -> medium "reasoning keyword 'analyze' in long message"
 *   5. max_tokens > medium_max_tokens (2048)                  -> medium "max_tokens over 2048"
 *   6. last user message has a simple-task keyword and is
 *      shorter than simple_max_chars (500)                    -> small  "simple-task keyword: 翻译"
 *   7. otherwise the configured default tier                           "default"
 * Lengths are Unicode code points (hr_chat_message.chars), never bytes.
 * Keywords in system/assistant/earlier user messages do not count.
 * When several keywords of a list match, the reason names the one that occurs
 * first in the text.
 *
 * Keyword matching (compiled once at create(); a decision allocates nothing
 * unless features are wanted):
 * - ASCII letters compare case-insensitively; every other byte exactly. A
 *   UTF-8 keyword can only match on whole characters (a lead byte never equals
 *   a continuation byte), so Chinese keywords are plain substrings: "分析" matches
 *   inside "请分析一下".
 * - A keyword that starts with an ASCII letter or digit must start a word: the
 *   byte before it is not [A-Za-z0-9_]. "format" does not match "information".
 *   Non-ASCII text is a boundary, so "请translate这段" matches "translate".
 * - A keyword that ends with an ASCII letter or digit must end a word, or (letter
 *   only) be followed by an English inflection that ends the word: -s, -es, -ed,
 *   -d, -ing, with a doubled final consonant ("formatted") or a dropped final e
 *   ("analyzing") or y -> i ("classified"). So "why" does not match "whyever"
 *   and "list" does not match "listen", but "analyze" matches "analyzed".
 *   Derived words are other words ("extraction" is not "extract"): list them
 *   as keywords of their own when wanted.
 * - A space in a keyword matches any run of ASCII whitespace; keywords are
 *   trimmed and their inner whitespace collapsed to one space at create().
 *   An apostrophe inside a keyword also matches U+2019 ("what’s").
 *
 * Limits: at most RULES_MAX_KEYWORDS keywords over the three lists, each at
 * most RULES_MAX_KEYWORD_BYTES bytes; create() fails with a message past them,
 * and on an empty keyword (it would match everything). Matching costs
 * O(text bytes x keywords sharing a first byte) with no backtracking beyond
 * one keyword's length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "router/router.h"

#define RULES_MAX_KEYWORDS 1024
#define RULES_MAX_KEYWORD_BYTES 256
#define RULES_REASON_KEYWORD_BYTES 96 /* keyword bytes quoted in a reason */

enum { LIST_COMPLEX = 0, LIST_REASONING = 1, LIST_SIMPLE = 2, LIST_COUNT = 3 };
static const char *list_names[LIST_COUNT] = {"complex", "reasoning", "simple"};
static const char *list_config_names[LIST_COUNT] = {"complex_keywords", "reasoning_keywords", "simple_keywords"};

enum { KW_WORD_START = 1, KW_WORD_END = 2, KW_INFLECT = 4 };

typedef struct rules_keyword {
    char *pattern;  /* ASCII-folded, trimmed, single-spaced */
    size_t len;
    char *display;  /* trimmed, as configured: for reasons and features */
    uint8_t list;   /* LIST_* */
    uint8_t flags;  /* KW_* */
} rules_keyword;

typedef struct rules_state {
    size_t large_context_chars, medium_context_chars, reasoning_min_chars, simple_max_chars;
    long medium_max_tokens;
    int default_tier;
    char reason_large[64], reason_medium[64], reason_max_tokens[64];
    rules_keyword *kw;  /* sorted by first pattern byte */
    size_t n_kw;
    uint16_t first[257]; /* kw[first[b] .. first[b+1]) start with byte b */
    /* Filter on the first two (folded) bytes: bit (b0 << 8 | b1) is set when a
     * keyword may start with b0 b1; one_byte[b0] when a one-byte keyword starts
     * with b0. Most text positions are rejected by one bit test. */
    uint64_t pair[65536 / 64];
    uint8_t one_byte[256];
} rules_state;

/* Per-decision scan result: lives on the stack. */
typedef struct rules_scan {
    int first_hit[LIST_COUNT];                   /* index of the earliest match per list, -1 if none */
    uint64_t hit[(RULES_MAX_KEYWORDS + 63) / 64]; /* every matched keyword (features only) */
} rules_scan;

static inline unsigned char fold(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }
static inline int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static inline int is_alnum(unsigned char c) { return is_word(c) && c != '_'; }
static inline int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static inline int is_vowel(unsigned char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* "20K" for multiples of 1000, else the plain number. */
static void format_count(char *out, size_t n, size_t v) {
    if (v >= 1000 && v % 1000 == 0) snprintf(out, n, "%zuK", v / 1000);
    else snprintf(out, n, "%zu", v);
}

/* Trims and collapses whitespace; returns a new string (possibly ""). */
static char *normalize(const char *s, int fold_case) {
    size_t n = strlen(s);
    char *out = hr_xmalloc(n + 1);
    size_t o = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space(c)) { pending_space = o > 0; continue; }
        if (pending_space) out[o++] = ' ';
        pending_space = 0;
        out[o++] = (char)(fold_case ? fold(c) : c);
    }
    out[o] = '\0';
    return out;
}

static int add_list(rules_keyword *kw, size_t *n, char **words, size_t count, int list, char *err, size_t errlen) {
    for (size_t i = 0; i < count; i++) {
        if (!words[i]) continue;
        if (strlen(words[i]) > RULES_MAX_KEYWORD_BYTES) {
            snprintf(err, errlen, "router.rules.%s[%zu]: keyword longer than %d bytes", list_config_names[list], i,
                     RULES_MAX_KEYWORD_BYTES);
            return -1;
        }
        char *pattern = normalize(words[i], 1);
        if (!pattern[0]) {
            free(pattern);
            snprintf(err, errlen, "router.rules.%s[%zu]: empty keyword", list_config_names[list], i);
            return -1;
        }
        if (*n >= RULES_MAX_KEYWORDS) {
            free(pattern);
            snprintf(err, errlen, "router.rules: more than %d keywords in all", RULES_MAX_KEYWORDS);
            return -1;
        }
        rules_keyword *k = &kw[(*n)++];
        k->pattern = pattern;
        k->len = strlen(pattern);
        k->display = normalize(words[i], 0);
        k->list = (uint8_t)list;
        unsigned char first = (unsigned char)pattern[0], last = (unsigned char)pattern[k->len - 1];
        k->flags = (uint8_t)((is_alnum(first) ? KW_WORD_START : 0) | (is_alnum(last) ? KW_WORD_END : 0) |
                             (is_alpha(last) ? KW_INFLECT : 0));
    }
    return 0;
}

static int cmp_first_byte(const void *a, const void *b) {
    const rules_keyword *x = a, *y = b;
    int d = (int)(unsigned char)x->pattern[0] - (int)(unsigned char)y->pattern[0];
    if (d) return d;
    return x->list != y->list ? (int)x->list - (int)y->list : strcmp(x->pattern, y->pattern);
}

static void rules_free(void *self) {
    rules_state *s = self;
    if (!s) return;
    for (size_t i = 0; i < s->n_kw; i++) {
        free(s->kw[i].pattern);
        free(s->kw[i].display);
    }
    free(s->kw);
    free(s);
}

static void *rules_create(const hr_config *cfg, char *err, size_t errlen) {
    const hr_rules_config *rc = &cfg->rules;
    rules_state *s = hr_xcalloc(1, sizeof *s);
    s->large_context_chars = rc->large_context_chars;
    s->medium_context_chars = rc->medium_context_chars;
    s->reasoning_min_chars = rc->reasoning_min_chars;
    s->simple_max_chars = rc->simple_max_chars;
    s->medium_max_tokens = rc->medium_max_tokens;
    s->default_tier = rc->default_tier;
    if (s->default_tier < 0 || s->default_tier >= HR_TIER_MAX) {
        snprintf(err, errlen, "router.rules.default_tier: %d is not a tier", s->default_tier);
        free(s);
        return NULL;
    }
    char num[32];
    format_count(num, sizeof num, s->large_context_chars);
    snprintf(s->reason_large, sizeof s->reason_large, "context over %s chars", num);
    format_count(num, sizeof num, s->medium_context_chars);
    snprintf(s->reason_medium, sizeof s->reason_medium, "context over %s chars", num);
    snprintf(s->reason_max_tokens, sizeof s->reason_max_tokens, "max_tokens over %ld", s->medium_max_tokens);

    size_t total = rc->n_complex_keywords + rc->n_reasoning_keywords + rc->n_simple_keywords;
    if (total > RULES_MAX_KEYWORDS) {
        snprintf(err, errlen, "router.rules: %zu keywords, at most %d in all", total, RULES_MAX_KEYWORDS);
        free(s);
        return NULL;
    }
    s->kw = hr_xcalloc(total ? total : 1, sizeof *s->kw);
    if (add_list(s->kw, &s->n_kw, rc->complex_keywords, rc->n_complex_keywords, LIST_COMPLEX, err, errlen) < 0 ||
        add_list(s->kw, &s->n_kw, rc->reasoning_keywords, rc->n_reasoning_keywords, LIST_REASONING, err, errlen) < 0 ||
        add_list(s->kw, &s->n_kw, rc->simple_keywords, rc->n_simple_keywords, LIST_SIMPLE, err, errlen) < 0) {
        rules_free(s);
        return NULL;
    }
    qsort(s->kw, s->n_kw, sizeof *s->kw, cmp_first_byte);
    size_t k = 0;
    for (int b = 0; b < 256; b++) {
        s->first[b] = (uint16_t)k;
        while (k < s->n_kw && (unsigned char)s->kw[k].pattern[0] == b) k++;
    }
    s->first[256] = (uint16_t)k;
    for (size_t i = 0; i < s->n_kw; i++) {
        const unsigned char *p = (const unsigned char *)s->kw[i].pattern;
        if (s->kw[i].len == 1) {
            s->one_byte[p[0]] = 1;
            continue;
        }
        for (int b1 = 0; b1 < 256; b1++) /* a space in a pattern matches any whitespace byte */
            if (b1 == p[1] || (p[1] == ' ' && is_space((unsigned char)b1))) {
                unsigned key = (unsigned)p[0] << 8 | (unsigned)b1;
                s->pair[key / 64] |= 1ull << (key % 64);
            }
    }
    return s;
}

/* Does t[pos..len) start with suffix followed by a word end? */
static int suffix_ends_word(const unsigned char *t, size_t len, size_t pos, const char *suffix) {
    size_t n = strlen(suffix);
    if (pos + n > len) return 0;
    for (size_t i = 0; i < n; i++)
        if (fold(t[pos + i]) != (unsigned char)suffix[i]) return 0;
    return pos + n == len || !is_word(t[pos + n]);
}

/* Matches kw at t[pos]; the caller has checked the word-start rule. */
static int keyword_match_at(const rules_keyword *kw, const unsigned char *t, size_t len, size_t pos) {
    const unsigned char *p = (const unsigned char *)kw->pattern;
    size_t i = pos, k = 0;
    /* All but the last pattern byte, then the last one separately: inflections
     * may replace it (dropped e, y -> i). The last byte is never a space. */
    for (; k + 1 < kw->len; k++) {
        if (p[k] == ' ') {
            if (i >= len || !is_space(t[i])) return 0;
            while (i < len && is_space(t[i])) i++;
        } else if (p[k] == '\'' && k > 0 && i + 3 <= len && !memcmp(t + i, "\xe2\x80\x99", 3)) {
            i += 3; /* a typographic apostrophe (U+2019) in the text: "what’s" */
        } else {
            if (i >= len || fold(t[i]) != p[k]) return 0;
            i++;
        }
    }
    unsigned char last = p[kw->len - 1];
    int full = i < len && fold(t[i]) == last;
    if (!(kw->flags & KW_WORD_END)) return full;
    if (full && (i + 1 == len || !is_word(t[i + 1]))) return 1;
    if (!(kw->flags & KW_INFLECT)) return 0;
    if (full) {
        size_t e = i + 1;
        if (suffix_ends_word(t, len, e, "s") || suffix_ends_word(t, len, e, "es") ||
            suffix_ends_word(t, len, e, "ed") || suffix_ends_word(t, len, e, "ing"))
            return 1;
        if (last == 'e' && suffix_ends_word(t, len, e, "d")) return 1;
        /* doubled final consonant: format -> formatted, formatting */
        if (!is_vowel(last) && last != 'y' && last != 'w' && last != 'x' && e < len && fold(t[e]) == last &&
            (suffix_ends_word(t, len, e + 1, "ed") || suffix_ends_word(t, len, e + 1, "ing")))
            return 1;
        return 0;
    }
    /* the last byte replaced: analyze -> analyzing, classify -> classified */
    if (last == 'e') return suffix_ends_word(t, len, i, "ing");
    if (last == 'y') return suffix_ends_word(t, len, i, "ies") || suffix_ends_word(t, len, i, "ied");
    return 0;
}

/* Scans text once for the lists in `want` (bitmask of 1 << LIST_*). With
 * all_hits, records every matched keyword; otherwise stops as soon as
 * `stop_list` has matched (its rule wins over the others). */
static void rules_scan_text(const rules_state *s, const char *text, size_t len, unsigned want, bool all_hits,
                            int stop_list, rules_scan *out) {
    for (int l = 0; l < LIST_COUNT; l++) out->first_hit[l] = -1;
    memset(out->hit, 0, sizeof out->hit);
    if (!want || !s->n_kw) return;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t pos = 0; pos < len; pos++) {
        unsigned char c = fold(t[pos]);
        size_t a = s->first[c], b = s->first[c + 1];
        if (a == b) continue;
        if (!s->one_byte[c]) {
            if (pos + 1 >= len) continue;
            unsigned key = (unsigned)c << 8 | fold(t[pos + 1]);
            if (!(s->pair[key / 64] >> (key % 64) & 1)) continue;
        }
        int word_start = pos == 0 || !is_word(t[pos - 1]);
        for (size_t k = a; k < b; k++) {
            const rules_keyword *kw = &s->kw[k];
            if (!(want & (1u << kw->list))) continue;
            if ((kw->flags & KW_WORD_START) && !word_start) continue;
            if (!all_hits && out->first_hit[kw->list] >= 0) continue;
            if (!keyword_match_at(kw, t, len, pos)) continue;
            if (out->first_hit[kw->list] < 0) out->first_hit[kw->list] = (int)k;
            out->hit[k / 64] |= 1ull << (k % 64);
            if (!all_hits && kw->list == stop_list) return;
        }
    }
}

/* Quotes at most RULES_REASON_KEYWORD_BYTES of a keyword, on a character boundary. */
static int reason_kw_len(const char *kw) {
    size_t n = strlen(kw);
    if (n > RULES_REASON_KEYWORD_BYTES) n = hr_utf8_complete_prefix(kw, RULES_REASON_KEYWORD_BYTES);
    return (int)n;
}

static const char *rule_names[] = {"large_context", "medium_context", "complex_keyword", "reasoning_keyword",
                                   "max_tokens",    "simple_keyword", "default"};

static cJSON *rules_features(const rules_state *s, const hr_chat_request *req, size_t last_chars,
                             const rules_scan *scan, int rule) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "context_chars", (double)req->context_chars);
    cJSON_AddNumberToObject(f, "last_user_chars", (double)last_chars);
    if (req->max_tokens >= 0) cJSON_AddNumberToObject(f, "max_tokens", (double)req->max_tokens);
    else cJSON_AddNullToObject(f, "max_tokens");
    cJSON_AddNumberToObject(f, "n_messages", (double)req->n_messages);
    cJSON *matched = cJSON_AddObjectToObject(f, "matched");
    for (int l = 0; l < LIST_COUNT; l++) {
        cJSON *arr = cJSON_AddArrayToObject(matched, list_names[l]);
        for (size_t k = 0; k < s->n_kw; k++)
            if (s->kw[k].list == l && (scan->hit[k / 64] >> (k % 64) & 1))
                cJSON_AddItemToArray(arr, cJSON_CreateString(s->kw[k].display));
    }
    cJSON_AddStringToObject(f, "rule", rule_names[rule]);
    return f;
}

static int rules_decide(void *self, const hr_chat_request *req, bool want_features, hr_route_decision *out) {
    const rules_state *s = self;
    const hr_chat_message *last = req->last_user;
    size_t last_chars = last ? last->chars : 0;
    bool is_long = last_chars > s->reasoning_min_chars;
    bool is_short = last_chars < s->simple_max_chars;
    rules_scan scan;
    bool scanned = false;
    int rule;

    if (want_features) { /* every list, whatever the rules need: the features show all matches */
        rules_scan_text(s, last ? last->text : "", last ? last->text_len : 0, 7u, true, -1, &scan);
        scanned = true;
    }
    if (req->context_chars > s->large_context_chars) {
        rule = 0;
        out->tier = HR_TIER_LARGE;
        snprintf(out->reason, sizeof out->reason, "%s", s->reason_large);
    } else if (req->context_chars > s->medium_context_chars) {
        rule = 1;
        out->tier = HR_TIER_MEDIUM;
        snprintf(out->reason, sizeof out->reason, "%s", s->reason_medium);
    } else {
        if (!scanned) {
            unsigned want = 1u << LIST_COMPLEX;
            if (is_long) want |= 1u << LIST_REASONING;
            if (is_short) want |= 1u << LIST_SIMPLE;
            rules_scan_text(s, last ? last->text : "", last ? last->text_len : 0, want, false, LIST_COMPLEX, &scan);
        }
        int hit;
        if ((hit = scan.first_hit[LIST_COMPLEX]) >= 0) {
            rule = 2;
            out->tier = HR_TIER_MEDIUM;
            const char *kw = s->kw[hit].display;
            snprintf(out->reason, sizeof out->reason, "complex-code keyword: %.*s", reason_kw_len(kw), kw);
        } else if (is_long && (hit = scan.first_hit[LIST_REASONING]) >= 0) {
            rule = 3;
            out->tier = HR_TIER_MEDIUM;
            const char *kw = s->kw[hit].display;
            snprintf(out->reason, sizeof out->reason, "reasoning keyword '%.*s' in long message", reason_kw_len(kw),
                     kw);
        } else if (req->max_tokens > s->medium_max_tokens) {
            rule = 4;
            out->tier = HR_TIER_MEDIUM;
            snprintf(out->reason, sizeof out->reason, "%s", s->reason_max_tokens);
        } else if (is_short && (hit = scan.first_hit[LIST_SIMPLE]) >= 0) {
            rule = 5;
            out->tier = HR_TIER_SMALL;
            const char *kw = s->kw[hit].display;
            snprintf(out->reason, sizeof out->reason, "simple-task keyword: %.*s", reason_kw_len(kw), kw);
        } else {
            rule = 6;
            out->tier = s->default_tier;
            snprintf(out->reason, sizeof out->reason, "default");
        }
    }
    if (want_features) out->features = rules_features(s, req, last_chars, &scan, rule);
    return 0;
}

const hr_router_strategy hr_strategy_rules = {"rules", rules_create, rules_decide, rules_free, NULL};
