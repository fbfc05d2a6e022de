/* Router features: golden vectors for English and Chinese (computed by an
 * independent re-implementation of the documented hashing), exact dense
 * extras, and the invariants the classifier relies on (sorted columns, unit
 * L2 norm, bounded work, reuse of one vector). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/features.h"

typedef struct golden {
    uint32_t idx;
    float val;
} golden;

/* "Hello, World?" with dim 64, char 1..3, words 1..2 */
static const golden en_golden[] = {
    {1, 0.105999788f},  {6, 0.105999788f},  {7, 0.105999788f},  {8, 0.105999788f},  {12, 0.105999788f},
    {13, 0.317999364f}, {18, 0.211999576f}, {22, 0.105999788f}, {26, 0.211999576f}, {30, 0.52999894f},
    {32, 0.105999788f}, {33, 0.105999788f}, {39, 0.105999788f}, {40, 0.105999788f}, {46, 0.105999788f},
    {47, 0.211999576f}, {49, 0.105999788f}, {51, 0.211999576f}, {53, 0.317999364f}, {57, 0.211999576f},
    {58, 0.317999364f}, {59, 0.105999788f}, {61, 0.211999576f},
};

/* "你好世界？" with dim 64: 12 char n-grams, one collision, no ASCII words */
static const golden zh_golden[] = {
    {12, 0.267261242f}, {17, 0.267261242f}, {22, 0.267261242f}, {24, 0.267261242f},
    {27, 0.534522484f}, {31, 0.267261242f}, {32, 0.267261242f}, {37, 0.267261242f},
    {41, 0.267261242f}, {51, 0.267261242f}, {57, 0.267261242f},
};

static hr_features_params params(int dim) {
    hr_features_params p = hr_features_default_params();
    p.dim = dim;
    return p;
}

static void extract_prompt(const hr_features_params *p, const char *prompt, hr_feature_vec *v) {
    hr_chat_request req;
    memset(&req, 0, sizeof req);
    assert_int_equal(hr_chat_request_from_prompt(prompt, &req), 0);
    assert_int_equal(hr_features_extract(p, &req, v), 0);
    hr_chat_request_free(&req);
}

static size_t hashed_count(const hr_feature_vec *v, int dim) {
    size_t n = 0;
    while (n < v->n && v->idx[n] < (uint32_t)dim) n++;
    return n;
}

static void check_golden(const char *prompt, const golden *g, size_t ng) {
    hr_features_params p = params(64);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    extract_prompt(&p, prompt, &v);
    assert_int_equal(hashed_count(&v, 64), ng);
    for (size_t i = 0; i < ng; i++) {
        assert_int_equal(v.idx[i], g[i].idx);
        assert_float_equal(v.val[i], g[i].val, 1e-6);
    }
    hr_feature_vec_free(&v);
}

static void test_golden_english(void **state) {
    (void)state;
    check_golden("Hello, World?", en_golden, sizeof en_golden / sizeof en_golden[0]);
    /* case and whitespace runs are normalised away */
    check_golden("hello,   WORLD?", en_golden, sizeof en_golden / sizeof en_golden[0]);
}

static void test_golden_chinese(void **state) {
    (void)state;
    check_golden("你好世界？", zh_golden, sizeof zh_golden / sizeof zh_golden[0]);
}

static void test_dense_extras(void **state) {
    (void)state;
    const char *body =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"Why?\\n```python\\nx = 1\\n```\\n什么？\"}],"
        "\"max_tokens\":100,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        "\"response_format\":{\"type\":\"json_object\"}}";
    hr_chat_request req;
    hr_request_error rerr;
    assert_int_equal(hr_chat_request_parse(body, strlen(body), &req, &rerr), 0);
    hr_features_params p = params(4096);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    assert_int_equal(hr_features_extract(&p, &req, &v), 0);
    uint32_t d = 4096;
    /* counts are log(1 + n). "Why?\n```python\nx = 1\n```\n什么？": 4+1+9+1+5+1+3+1+3 = 28 code points */
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_CHARS), log1p(28), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_QMARKS), log1p(2), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_FENCES), log1p(2), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_TURNS), log1p(2), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_CONTEXT_CHARS), log1p(8 + 28), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_MAX_TOKENS), log1p(100), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_TOOLS), 1, 0);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_RESPONSE_FORMAT), 1, 0);
    /* 5 lines; the two fences and the line between them are code */
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_LINES), log1p(5), 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_CODE_SHARE), 3.0f / 5.0f, 1e-6);
    /* non-space code points: 28 - 4 newlines - 2 spaces = 22; CJK: 什 么 ？ */
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_CJK_SHARE), 3.0f / 22.0f, 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_DIGIT_SHARE), 1.0f / 22.0f, 1e-6);
    assert_float_equal(hr_feature_vec_get(&v, d + HR_FEAT_WORDS), log1p(4), 1e-6); /* Why python x 1 */
    hr_feature_vec_free(&v);
    hr_chat_request_free(&req);
}

static void test_invariants(void **state) {
    (void)state;
    hr_features_params p = params(4096);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    const char *prompts[] = {"", "a", "What is the capital of France?", "请把这段话翻译成英文：今天天气很好。",
                             "def f(x):\n    return x + 1\n"};
    for (size_t k = 0; k < sizeof prompts / sizeof prompts[0]; k++) {
        extract_prompt(&p, prompts[k], &v);
        size_t nh = hashed_count(&v, p.dim);
        double ss = 0;
        for (size_t i = 0; i < v.n; i++) {
            if (i) assert_true(v.idx[i] > v.idx[i - 1]);
            assert_true(v.idx[i] < hr_features_ncols(&p));
            if (i < nh) ss += (double)v.val[i] * v.val[i];
        }
        if (prompts[k][0]) assert_float_equal(ss, 1.0, 1e-5);
        else assert_int_equal(nh, 0);
        /* max_tokens absent: the column is missing, not zero */
        assert_float_equal(hr_feature_vec_get(&v, (uint32_t)p.dim + HR_FEAT_MAX_TOKENS), 0, 0);
        assert_int_equal(v.n - nh, HR_FEAT_N_DENSE - 1);
    }
    /* reusing the vector gives the same row as a fresh one */
    hr_feature_vec w;
    hr_feature_vec_init(&w);
    extract_prompt(&p, "What is the capital of France?", &v);
    extract_prompt(&p, "What is the capital of France?", &w);
    assert_int_equal(v.n, w.n);
    assert_memory_equal(v.idx, w.idx, v.n * sizeof *v.idx);
    assert_memory_equal(v.val, w.val, v.n * sizeof *v.val);
    hr_feature_vec_free(&w);
    hr_feature_vec_free(&v);
}

static void test_long_text_is_bounded(void **state) {
    (void)state;
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + (i * 7) % 26);
    big[n] = 0;
    hr_features_params p = params(1 << 20); /* large dim: few collisions */
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    extract_prompt(&p, big, &v);
    /* only HR_FEATURES_MAX_TEXT code points are hashed: at most 3 per position + one word */
    assert_true(hashed_count(&v, p.dim) <= 3 * HR_FEATURES_MAX_TEXT + 2);
    /* but the dense length sees everything */
    assert_float_equal(hr_feature_vec_get(&v, (uint32_t)p.dim + HR_FEAT_CHARS), log1p((double)n), 1e-5);
    hr_feature_vec_free(&v);
    free(big);
}

/* Random bytes (invalid UTF-8, lone fences, odd whitespace) straight into the
 * parsed message: the extractor stays in bounds and keeps its invariants. */
static void test_random_bytes(void **state) {
    (void)state;
    hr_features_params p = params(512);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    uint32_t seed = 12345;
    static const unsigned char alphabet[] = "`?\n\t ab{};=()\xe4\xbd\xa0\xef\xbc\x9f\xff\xc3\x80";
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(round * 7 % 400);
        char *text = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = (char)alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        text[n] = 0;
        hr_chat_message msg = {.role = HR_ROLE_USER, .text = text, .text_len = n, .chars = n};
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        req.messages = &msg;
        req.n_messages = 1;
        req.last_user = &msg;
        req.max_tokens = -1;
        req.context_chars = n;
        assert_int_equal(hr_features_extract(&p, &req, &v), 0);
        for (size_t i = 1; i < v.n; i++) assert_true(v.idx[i] > v.idx[i - 1]);
        assert_true(v.n == 0 || v.idx[v.n - 1] < hr_features_ncols(&p));
        float code = hr_feature_vec_get(&v, (uint32_t)p.dim + HR_FEAT_CODE_SHARE);
        float cjk = hr_feature_vec_get(&v, (uint32_t)p.dim + HR_FEAT_CJK_SHARE);
        assert_true(code >= 0 && code <= 1 && cjk >= 0 && cjk <= 1);
        free(text);
    }
    hr_feature_vec_free(&v);
}

static void test_params_check(void **state) {
    (void)state;
    char err[128];
    hr_features_params p = hr_features_default_params();
    assert_int_equal(p.dim, 4096);
    assert_int_equal(hr_features_params_check(&p, err, sizeof err), 0);
    p.dim = 3;
    assert_int_equal(hr_features_params_check(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "dim"));
    p = hr_features_default_params();
    p.char_min = 4;
    assert_int_equal(hr_features_params_check(&p, err, sizeof err), -1);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    hr_chat_request req;
    memset(&req, 0, sizeof req);
    hr_chat_request_from_prompt("x", &req);
    assert_int_equal(hr_features_extract(&p, &req, &v), -1);
    hr_chat_request_free(&req);
    hr_feature_vec_free(&v);
    assert_string_equal(hr_features_dense_name(HR_FEAT_CJK_SHARE), "cjk_share");
    assert_string_equal(hr_features_dense_name(HR_FEAT_N_DENSE), "?");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_english), cmocka_unit_test(test_golden_chinese),
        cmocka_unit_test(test_dense_extras),   cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_long_text_is_bounded), cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_params_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
