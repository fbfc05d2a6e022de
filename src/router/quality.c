/* Quality signals for the cascade (see quality.h for the contract). */
#include "router/quality.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "hermes/hermes.h"

static const char *signal_names[HR_QS_COUNT] = {"short_answer", "uncertainty", "repetition", "mean_logprob",
                                                "min_logprob",  "length",      "format"};

const char *hr_quality_signal_name(int s) { return s >= 0 && s < HR_QS_COUNT ? signal_names[s] : "?"; }

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

static size_t capped(size_t len) { return len > HR_QUALITY_MAX_TEXT ? HR_QUALITY_MAX_TEXT : len; }

static bool is_space(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0x3000 ||
           cp == 0xA0;
}

/* ---- short ---------------------------------------------------------------- */

double hr_quality_short(const char *text, size_t len, int min_chars) {
    if (min_chars <= 0) return 0;
    len = text ? capped(len) : 0;
    /* count code points between the first and last non-space */
    size_t chars = 0, pending_space = 0;
    bool started = false;
    for (size_t i = 0; i < len && chars < (size_t)min_chars;) {
        uint32_t cp;
        i += hr_utf8_decode(text + i, len - i, &cp);
        if (is_space(cp)) {
            if (started) pending_space++;
            continue;
        }
        started = true;
        chars += pending_space + 1;
        pending_space = 0;
    }
    if (chars >= (size_t)min_chars) return 0;
    return (double)((size_t)min_chars - chars) / (double)min_chars;
}

/* ---- uncertainty ---------------------------------------------------------- */

/* ASCII-lowercased copy with U+2019 (’) turned into '. */
static char *fold(const char *text, size_t len, size_t *out_len) {
    char *o = hr_xmalloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == 0xE2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 && (unsigned char)text[i + 2] == 0x99) {
            o[k++] = '\'';
            i += 2;
        } else {
            o[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    o[k] = 0;
    *out_len = k;
    return o;
}

double hr_quality_uncertainty(const char *text, size_t len, char *const *phrases, size_t n) {
    if (!text || !len || !n) return 0;
    size_t flen;
    char *hay = fold(text, capped(len), &flen);
    double p = 0;
    for (size_t i = 0; i < n && p == 0; i++) {
        if (!phrases[i] || !phrases[i][0]) continue;
        size_t nl;
        char *needle = fold(phrases[i], strlen(phrases[i]), &nl);
        if (memmem(hay, flen, needle, nl)) p = 1;
        free(needle);
    }
    free(hay);
    return p;
}

/* ---- repetition ----------------------------------------------------------- */

static bool is_sentence_end(uint32_t cp) {
    return cp == '.' || cp == '!' || cp == '?' || cp == '\n' || cp == 0x3002 /* 。 */ || cp == 0xFF01 /* ！ */ ||
           cp == 0xFF1F /* ？ */;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double hr_quality_repetition(const char *text, size_t len) {
    if (!text || !len) return 0;
    len = capped(len);
    uint64_t *hashes = hr_xmalloc(HR_QUALITY_MAX_SENTENCES * sizeof *hashes);
    size_t n = 0;
    /* FNV-1a over the normalised sentence: spaces collapsed, ASCII lowercased */
    uint64_t h = 1469598103934665603ull;
    size_t chars = 0;
    bool space = false;
    for (size_t i = 0; i <= len && n < HR_QUALITY_MAX_SENTENCES;) {
        uint32_t cp = '\n';
        size_t step = 1;
        if (i < len) step = hr_utf8_decode(text + i, len - i, &cp);
        if (is_sentence_end(cp)) {
            if (chars >= 3) hashes[n++] = h;
            h = 1469598103934665603ull;
            chars = 0;
            space = false;
        } else if (is_space(cp)) {
            space = chars > 0;
        } else {
            if (space) {
                h = (h ^ ' ') * 1099511628211ull;
                space = false;
            }
            if (cp >= 'A' && cp <= 'Z') cp += 32;
            for (int s = 0; s < 32; s += 8) h = (h ^ ((cp >> s) & 0xff)) * 1099511628211ull;
            chars++;
        }
        i += step;
    }
    double p = 0;
    if (n >= 2) {
        qsort(hashes, n, sizeof *hashes, cmp_u64);
        size_t repeated = 0;
        for (size_t i = 1; i < n; i++) repeated += hashes[i] == hashes[i - 1];
        p = (double)repeated / (double)n;
    }
    free(hashes);
    return p;
}

/* ---- logprobs --------------------------------------------------------------- */

double hr_quality_ramp(double value, double good, double bad) {
    if (!(good > bad)) return value < good ? 1 : 0;
    if (isnan(value)) return 1;
    return clamp01((good - value) / (good - bad));
}

/* ---- format ------------------------------------------------------------------ */

static const cJSON *find_tool(const cJSON *tools, const char *name) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (cJSON_IsString(nm) && name && !strcmp(nm->valuestring, name)) return fn;
    }
    return NULL;
}

static double fail(char *err, size_t errsz, const char *fmt, const char *a) {
    if (err && errsz) snprintf(err, errsz, fmt, a ? a : "");
    return 1;
}

double hr_quality_format(const cJSON *request, const hr_quality_answer *a, char *err, size_t errsz) {
    if (err && errsz) err[0] = 0;
    if (!request) return 0;
    const char *text = a->text ? a->text : "";
    size_t len = a->text ? a->len : 0;
    int n_calls = cJSON_GetArraySize(a->tool_calls);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(request, "tools");
    bool has_tools = cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0;

    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(request, "response_format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (cJSON_IsString(type) && n_calls == 0 &&
        (!strcmp(type->valuestring, "json_object") || !strcmp(type->valuestring, "json_schema"))) {
        const cJSON *schema = NULL;
        if (!strcmp(type->valuestring, "json_schema"))
            schema = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
        char why[160];
        if (hr_hermes_json_answer_check(text, len, cJSON_IsObject(schema) ? schema : NULL, why, sizeof why) < 0)
            return fail(err, errsz, "response_format: %s", why);
    }
    if (!has_tools) return 0;
    if (a->invalid_tool_calls) return fail(err, errsz, "the backend reported a malformed tool call%s", NULL);
    if (len && memmem(text, capped(len), "<tool_call>", 11))
        return fail(err, errsz, "a <tool_call> block was left in the content%s", NULL);
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(request, "tool_choice");
    bool required = (cJSON_IsString(choice) && !strcmp(choice->valuestring, "required")) || cJSON_IsObject(choice);
    if (required && n_calls == 0) return fail(err, errsz, "tool_choice requires a tool call and none came%s", NULL);
    const cJSON *call;
    cJSON_ArrayForEach(call, a->tool_calls) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsString(name)) return fail(err, errsz, "a tool call has no function name%s", NULL);
        const cJSON *tool = find_tool(tools, name->valuestring);
        if (!tool) return fail(err, errsz, "tool call to unknown function '%.80s'", name->valuestring);
        cJSON *parsed = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return fail(err, errsz, "tool call '%.80s': arguments are not a JSON object", name->valuestring);
        }
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(tool, "parameters");
        char why[160];
        int bad = cJSON_IsObject(params) ? hr_hermes_schema_validate(params, parsed, why, sizeof why) : 0;
        cJSON_Delete(parsed);
        if (bad < 0) {
            if (err && errsz) snprintf(err, errsz, "tool call '%.60s': %s", name->valuestring, why);
            return 1;
        }
    }
    return 0;
}

/* ---- the score ---------------------------------------------------------------- */

void hr_quality_score(const hr_cascade_config *cfg, const cJSON *request, const hr_quality_answer *a,
                      hr_quality_report *out) {
    memset(out, 0, sizeof *out);
    const char *text = a->text ? a->text : "";
    size_t len = a->text ? a->len : 0;
    const hr_quality_weights *w = &cfg->weights;
    bool calls = cJSON_GetArraySize(a->tool_calls) > 0;
    double *p = out->penalty;
    if (w->short_answer > 0 && !calls) p[HR_QS_SHORT] = hr_quality_short(text, len, cfg->short_answer_chars);
    if (w->uncertainty > 0)
        p[HR_QS_UNCERTAINTY] = hr_quality_uncertainty(text, len, cfg->uncertainty_phrases, cfg->n_uncertainty_phrases);
    if (w->repetition > 0) p[HR_QS_REPETITION] = hr_quality_repetition(text, len);
    if (a->logprobs && a->n_logprobs > 0) {
        double sum = 0, mn = 0;
        for (size_t i = 0; i < a->n_logprobs; i++) {
            double v = a->logprobs[i];
            if (!isfinite(v)) v = -100; /* -inf: an impossible token */
            sum += v;
            if (i == 0 || v < mn) mn = v;
        }
        out->has_logprobs = true;
        out->mean_logprob = sum / (double)a->n_logprobs;
        out->min_logprob = mn;
        p[HR_QS_MEAN_LOGPROB] = hr_quality_ramp(out->mean_logprob, cfg->logprob_mean_good, cfg->logprob_mean_bad);
        p[HR_QS_MIN_LOGPROB] = hr_quality_ramp(mn, cfg->logprob_min_good, cfg->logprob_min_bad);
    }
    if (a->finish_reason && !strcmp(a->finish_reason, "length")) p[HR_QS_LENGTH] = 1;
    if (w->format > 0) p[HR_QS_FORMAT] = hr_quality_format(request, a, out->format_error, sizeof out->format_error);
    const double weights[HR_QS_COUNT] = {w->short_answer, w->uncertainty, w->repetition, w->mean_logprob,
                                         w->min_logprob,  w->length,      w->format};
    double total = 0;
    for (int i = 0; i < HR_QS_COUNT; i++) total += weights[i] * p[i];
    out->score = clamp01(1 - total);
}

/* Numbers rounded to 4 decimals so the JSON stays short and stable. */
static void add_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, round(v * 1e4) / 1e4); }

cJSON *hr_quality_report_json(const hr_quality_report *r) {
    cJSON *o = cJSON_CreateObject();
    add_num(o, "score", r->score);
    cJSON *s = cJSON_AddObjectToObject(o, "signals");
    for (int i = 0; i < HR_QS_COUNT; i++)
        if (r->penalty[i] > 0) add_num(s, signal_names[i], r->penalty[i]);
    if (r->has_logprobs) {
        add_num(o, "mean_logprob", r->mean_logprob);
        add_num(o, "min_logprob", r->min_logprob);
    }
    if (r->format_error[0]) cJSON_AddStringToObject(o, "format_error", r->format_error);
    return o;
}

/* ---- judge ---------------------------------------------------------------------- */

const char *const hr_quality_judge_default_prompt =
    "You grade answers written by an AI assistant. Read the user's question and the answer. "
    "Reply with exactly one word: yes if the answer is correct, complete and follows the request, "
    "no otherwise.";

#define JUDGE_MAX_PART 8192

static void put_cut(hr_buf *b, const char *s, size_t len) {
    if (len > JUDGE_MAX_PART) {
        len = hr_utf8_complete_prefix(s, JUDGE_MAX_PART);
        hr_buf_append(b, s, len);
        hr_buf_puts(b, " [...]");
    } else {
        hr_buf_append(b, s, len);
    }
}

cJSON *hr_quality_judge_request(const char *prompt, const char *question, const char *answer, size_t answer_len) {
    hr_buf u;
    hr_buf_init(&u, 0);
    hr_buf_puts(&u, "Question:\n");
    put_cut(&u, question ? question : "", question ? strlen(question) : 0);
    hr_buf_puts(&u, "\n\nAnswer:\n");
    put_cut(&u, answer ? answer : "", answer ? answer_len : 0);
    hr_buf_puts(&u, "\n\nIs this answer good? Reply yes or no.");
    cJSON *root = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", prompt && prompt[0] ? prompt : hr_quality_judge_default_prompt);
    cJSON_AddItemToArray(msgs, sys);
    cJSON *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", u.data ? u.data : "");
    cJSON_AddItemToArray(msgs, usr);
    hr_buf_free(&u);
    cJSON_AddNumberToObject(root, "max_tokens", 4);
    cJSON_AddNumberToObject(root, "temperature", 0);
    cJSON_AddFalseToObject(root, "stream");
    return root;
}

static bool word_is(const char *w, size_t n, const char *want) { return strlen(want) == n && !strncmp(w, want, n); }

int hr_quality_judge_verdict(const char *text, size_t len) {
    if (!text) return -1;
    if (len > 256) len = 256;
    size_t i = 0;
    /* skip leading whitespace, quotes, markdown emphasis, punctuation */
    while (i < len && strchr(" \t\r\n\"'*`_:.-([{", text[i])) i++;
    static const char *yes_zh[] = {"是", "对", "正确", "好"};
    static const char *no_zh[] = {"否", "不", "错"};
    for (size_t k = 0; k < sizeof no_zh / sizeof *no_zh; k++)
        if (len - i >= strlen(no_zh[k]) && !memcmp(text + i, no_zh[k], strlen(no_zh[k]))) return 0;
    for (size_t k = 0; k < sizeof yes_zh / sizeof *yes_zh; k++)
        if (len - i >= strlen(yes_zh[k]) && !memcmp(text + i, yes_zh[k], strlen(yes_zh[k]))) return 1;
    char w[16];
    size_t n = 0;
    while (i < len && n < sizeof w - 1) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c < 'a' || c > 'z') break;
        w[n++] = c;
        i++;
    }
    if (word_is(w, n, "yes") || word_is(w, n, "y") || word_is(w, n, "true")) return 1;
    if (word_is(w, n, "no") || word_is(w, n, "n") || word_is(w, n, "false")) return 0;
    return -1;
}

double hr_quality_with_judge(double heuristic, int verdict, double weight) {
    if (verdict < 0) return heuristic;
    weight = clamp01(weight);
    return clamp01((1 - weight) * heuristic + weight * (verdict ? 1.0 : 0.0));
}

bool hr_quality_judge_matters(double heuristic, double weight, double threshold) {
    if (weight <= 0) return false;
    double hi = hr_quality_with_judge(heuristic, 1, weight);
    double lo = hr_quality_with_judge(heuristic, 0, weight);
    return (hi >= threshold) != (lo >= threshold);
}

/* ---- collecting answers ---------------------------------------------------------- */

void hr_answer_init(hr_answer *a) {
    memset(a, 0, sizeof *a);
    hr_buf_init(&a->text, HR_QUALITY_MAX_TEXT);
}

void hr_answer_free(hr_answer *a) {
    if (!a) return;
    hr_buf_free(&a->text);
    free(a->logprobs);
    cJSON_Delete(a->tool_calls);
    memset(a, 0, sizeof *a);
}

static void add_text(hr_answer *a, const cJSON *s) {
    if (!cJSON_IsString(s) || !s->valuestring[0]) return;
    if (hr_buf_puts(&a->text, s->valuestring) < 0) a->truncated = true;
}

static void add_logprobs(hr_answer *a, const cJSON *choice) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(lp, "content");
    const cJSON *t;
    cJSON_ArrayForEach(t, content) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "logprob");
        if (!cJSON_IsNumber(v)) continue;
        if (a->n_logprobs >= HR_QUALITY_MAX_LOGPROBS) {
            a->truncated = true;
            return;
        }
        if (a->n_logprobs == a->cap_logprobs) {
            a->cap_logprobs = a->cap_logprobs ? a->cap_logprobs * 2 : 64;
            a->logprobs = hr_xrealloc(a->logprobs, a->cap_logprobs * sizeof *a->logprobs);
        }
        a->logprobs[a->n_logprobs++] = (float)v->valuedouble;
    }
}

static void set_finish(hr_answer *a, const cJSON *choice) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(f)) snprintf(a->finish_reason, sizeof a->finish_reason, "%s", f->valuestring);
}

static void note_invalid(hr_answer *a, const cJSON *msg) {
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(msg, "invalid_tool_calls");
    if (cJSON_IsArray(inv) && cJSON_GetArraySize(inv) > 0) a->invalid_tool_calls = true;
}

static const cJSON *first_choice(const cJSON *obj) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(obj, "choices"), 0);
}

/* Appends s (a string item) to the string member key of obj. */
static void append_member(cJSON *obj, const char *key, const cJSON *s) {
    if (!cJSON_IsString(s)) return;
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(cur)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        cJSON_AddStringToObject(obj, key, s->valuestring);
        return;
    }
    size_t a = strlen(cur->valuestring), b = strlen(s->valuestring);
    if (a + b > HR_QUALITY_MAX_TEXT) return;
    char *joined = hr_xmalloc(a + b + 1);
    memcpy(joined, cur->valuestring, a);
    memcpy(joined + a, s->valuestring, b + 1);
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(joined));
    free(joined);
}

static void merge_tool_delta(hr_answer *a, const cJSON *d) {
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(d, "index");
    int i = cJSON_IsNumber(idx) ? (int)idx->valuedouble : cJSON_GetArraySize(a->tool_calls);
    if (i < 0 || i >= HR_QUALITY_MAX_TOOL_CALLS) {
        a->truncated = true;
        return;
    }
    if (!a->tool_calls) a->tool_calls = cJSON_CreateArray();
    while (cJSON_GetArraySize(a->tool_calls) <= i) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddObjectToObject(c, "function");
        cJSON_AddItemToArray(a->tool_calls, c);
    }
    cJSON *call = cJSON_GetArrayItem(a->tool_calls, i);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
    if (cJSON_IsString(id) && !cJSON_HasObjectItem(call, "id")) cJSON_AddStringToObject(call, "id", id->valuestring);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(d, "function");
    cJSON *dst = cJSON_GetObjectItemCaseSensitive(call, "function");
    append_member(dst, "name", cJSON_GetObjectItemCaseSensitive(fn, "name"));
    append_member(dst, "arguments", cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
}

void hr_answer_add_chunk(hr_answer *a, const cJSON *chunk) {
    const cJSON *choice = first_choice(chunk);
    if (!choice) return;
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    if ((cJSON_IsString(content) && content->valuestring[0]) || cJSON_GetArraySize(calls) > 0) a->chunks++;
    add_text(a, content);
    const cJSON *d;
    cJSON_ArrayForEach(d, calls) merge_tool_delta(a, d);
    note_invalid(a, delta);
    add_logprobs(a, choice);
    set_finish(a, choice);
}

void hr_answer_add_completion(hr_answer *a, const cJSON *completion) {
    const cJSON *choice = first_choice(completion);
    if (!choice) return;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    add_text(a, cJSON_GetObjectItemCaseSensitive(msg, "content"));
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0) {
        cJSON_Delete(a->tool_calls);
        a->tool_calls = cJSON_Duplicate(calls, true);
    }
    note_invalid(a, msg);
    add_logprobs(a, choice);
    set_finish(a, choice);
}

void hr_answer_view(const hr_answer *a, hr_quality_answer *out) {
    memset(out, 0, sizeof *out);
    out->text = a->text.data ? a->text.data : "";
    out->len = a->text.len;
    out->finish_reason = a->finish_reason[0] ? a->finish_reason : NULL;
    out->logprobs = a->logprobs;
    out->n_logprobs = a->n_logprobs;
    out->tool_calls = a->tool_calls;
    out->invalid_tool_calls = a->invalid_tool_calls;
}
