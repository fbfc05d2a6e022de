/* Sampling on hand-made logits: greedy, seed reproducibility, top-k / top-p /
 * min-p cut-offs (tokens outside them are never drawn), penalties, the token
 * mask hook, logprobs, and stop-string holding across token boundaries. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"

#define V 16

static void ramp(float *l) {
    for (int i = 0; i < V; i++) l[i] = (float)i * 0.5f; /* token 15 best */
}

static hr_sampler_params plain(void) {
    hr_sampler_params p = hr_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    return p;
}

static void test_greedy(void **state) {
    (void)state;
    float l[V];
    ramp(l);
    l[3] = 100;
    hr_sampler_params p = plain();
    p.temperature = 0;
    hr_sampler *s = hr_sampler_create(&p, V);
    for (int i = 0; i < 5; i++) assert_int_equal(hr_sampler_sample(s, l, NULL), 3);
    hr_sampler_free(s);
}

static void test_seed_reproducible(void **state) {
    (void)state;
    float l[V];
    ramp(l);
    hr_sampler_params p = plain();
    p.seed = 99;
    hr_sampler *a = hr_sampler_create(&p, V), *b = hr_sampler_create(&p, V);
    p.seed = 100;
    hr_sampler *c = hr_sampler_create(&p, V);
    int same_ab = 0, same_ac = 0, distinct[V] = {0};
    for (int i = 0; i < 200; i++) {
        int32_t x = hr_sampler_sample(a, l, NULL), y = hr_sampler_sample(b, l, NULL), z = hr_sampler_sample(c, l, NULL);
        same_ab += x == y;
        same_ac += x == z;
        distinct[x] = 1;
    }
    assert_int_equal(same_ab, 200);
    assert_true(same_ac < 200);
    int nd = 0;
    for (int i = 0; i < V; i++) nd += distinct[i];
    assert_true(nd >= 5); /* T=1 over a gentle ramp really samples */
    hr_sampler_reset(a);
    hr_sampler_reset(b);
    assert_int_equal(hr_sampler_sample(a, l, NULL), hr_sampler_sample(b, l, NULL));
    hr_sampler_free(a);
    hr_sampler_free(b);
    hr_sampler_free(c);
}

static void test_cutoffs(void **state) {
    (void)state;
    float l[V];
    ramp(l);
    hr_sampler_params p = plain();
    p.top_k = 3;
    hr_sampler *s = hr_sampler_create(&p, V);
    for (int i = 0; i < 300; i++) assert_true(hr_sampler_sample(s, l, NULL) >= 13);
    hr_sampler_free(s);

    /* top_p: probabilities 0.5, 0.3, 0.2 -> p=0.7 keeps the first two */
    float q[V];
    for (int i = 0; i < V; i++) q[i] = -INFINITY;
    q[4] = logf(0.5f);
    q[7] = logf(0.3f);
    q[9] = logf(0.2f);
    p = plain();
    p.top_p = 0.7f;
    s = hr_sampler_create(&p, V);
    int seen7 = 0;
    for (int i = 0; i < 300; i++) {
        int32_t t = hr_sampler_sample(s, q, NULL);
        assert_true(t == 4 || t == 7);
        seen7 += t == 7;
    }
    assert_true(seen7 > 50);
    hr_sampler_free(s);

    /* min_p 0.5: only tokens with p >= 0.25 survive (4 and 7) */
    p = plain();
    p.min_p = 0.5f;
    s = hr_sampler_create(&p, V);
    for (int i = 0; i < 300; i++) {
        int32_t t = hr_sampler_sample(s, q, NULL);
        assert_true(t == 4 || t == 7);
    }
    hr_sampler_free(s);
}

/* top-k over a larger vocab (heap selection): only the k best are drawn,
 * and all of them are. */
static void test_top_k_large(void **state) {
    (void)state;
    enum { NV = 5000, K = 5 };
    static float l[NV];
    uint64_t r = 7;
    for (int i = 0; i < NV; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)(r >> 40) / (float)(1 << 24); /* [0, 1) */
    }
    int best[K] = {1001, 2002, 3003, 4004, 4999};
    for (int i = 0; i < K; i++) l[best[i]] = 1.5f + 0.01f * (float)i;
    hr_sampler_params p = plain();
    p.top_k = K;
    hr_sampler *s = hr_sampler_create(&p, NV);
    int seen[K] = {0};
    for (int it = 0; it < 500; it++) {
        int32_t t = hr_sampler_sample(s, l, NULL);
        int found = -1;
        for (int i = 0; i < K; i++)
            if (t == best[i]) found = i;
        if (found < 0) fail_msg("token %d is not among the top %d", t, K);
        seen[found] = 1;
    }
    for (int i = 0; i < K; i++) assert_true(seen[i]);
    hr_sampler_free(s);
}

static void test_penalties(void **state) {
    (void)state;
    float l[V] = {0};
    l[5] = 2.0f;
    l[6] = 1.9f;
    hr_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 1.5f; /* 2.0 / 1.5 < 1.9 */
    hr_sampler *s = hr_sampler_create(&p, V);
    assert_int_equal(hr_sampler_sample(s, l, NULL), 5); /* accepted: now penalized */
    assert_int_equal(hr_sampler_sample(s, l, NULL), 6);
    hr_sampler_free(s);

    p = plain();
    p.temperature = 0;
    p.frequency_penalty = 0.06f; /* each occurrence costs 0.06 */
    s = hr_sampler_create(&p, V);
    hr_sampler_accept(s, 5);
    assert_int_equal(hr_sampler_sample(s, l, NULL), 5); /* 2.0 - 0.06 > 1.9: still 5; now seen twice */
    assert_int_equal(hr_sampler_sample(s, l, NULL), 6); /* 2.0 - 0.12 < 1.9 */
    hr_sampler_free(s);

    p = plain();
    p.temperature = 0;
    p.presence_penalty = 0.2f;
    p.penalty_last_n = 2; /* window: only the last two tokens count */
    s = hr_sampler_create(&p, V);
    hr_sampler_accept(s, 5);
    assert_int_equal(hr_sampler_sample(s, l, NULL), 6);
    hr_sampler_accept(s, 1);
    hr_sampler_accept(s, 2); /* 5 and 6 fell out of the window */
    assert_int_equal(hr_sampler_sample(s, l, NULL), 5);
    hr_sampler_free(s);
}

static int mask_even(void *ud, float *l, int n) {
    int *calls = ud;
    (*calls)++;
    for (int i = 0; i < n; i += 2) l[i] = -INFINITY;
    return 0;
}
static int mask_all(void *ud, float *l, int n) {
    (void)ud;
    for (int i = 0; i < n; i++) l[i] = -INFINITY;
    return 0;
}

static void test_mask_and_logprobs(void **state) {
    (void)state;
    float l[V];
    ramp(l);
    hr_sampler_params p = plain();
    p.n_logprobs = 3;
    hr_sampler *s = hr_sampler_create(&p, V);
    int calls = 0;
    hr_sampler_set_mask(s, mask_even, &calls);
    for (int i = 0; i < 50; i++) assert_true(hr_sampler_sample(s, l, NULL) % 2 == 1);
    assert_int_equal(calls, 50);
    hr_sample_result r;
    int32_t t = hr_sampler_sample(s, l, &r);
    assert_int_equal(r.token, t);
    assert_int_equal(r.n_top, 3);
    assert_int_equal(r.top[0].token, 15);
    assert_int_equal(r.top[1].token, 13);
    assert_int_equal(r.top[2].token, 11);
    /* logprobs over the 8 odd tokens: exact softmax */
    double z = 0;
    for (int i = 1; i < V; i += 2) z += exp(l[i]);
    assert_true(fabs(r.top[0].logprob - (l[15] - log(z))) < 1e-4);
    assert_true(fabs(r.logprob - (l[t] - log(z))) < 1e-4);
    assert_true(r.top[0].logprob >= r.top[1].logprob && r.top[1].logprob >= r.top[2].logprob);
    hr_sampler_set_mask(s, mask_all, NULL);
    assert_int_equal(hr_sampler_sample(s, l, NULL), -1);
    hr_sampler_free(s);
}

/* Feeds pieces, collects released text. */
static bool feed(hr_stop *st, const char *const *pieces, int n, char *out) {
    out[0] = 0;
    bool hit = false;
    for (int i = 0; i < n && !hit; i++) {
        const char *o;
        size_t ol;
        hit = hr_stop_push(st, pieces[i], strlen(pieces[i]), &o, &ol);
        strncat(out, o ? o : "", ol);
    }
    if (!hit) {
        const char *o;
        size_t ol;
        hr_stop_flush(st, &o, &ol);
        strncat(out, o ? o : "", ol);
    }
    return hit;
}

static void test_logit_bias(void **state) {
    (void)state;
    float logits[5] = {0.0f, 3.0f, 1.0f, 2.5f, -1.0f};
    hr_sampler_params p = hr_sampler_default_params();
    p.temperature = 0;
    hr_logit_bias *b = malloc(4 * sizeof *b);
    p.n_logprobs = 4;
    b[0] = (hr_logit_bias){1, -100.0f}; /* ban the best */
    b[1] = (hr_logit_bias){4, 3.0f};    /* -1 + 3 = 2: below token 3 */
    b[2] = (hr_logit_bias){7, 50.0f};   /* outside the vocabulary: ignored */
    b[3] = (hr_logit_bias){-1, 50.0f};
    p.logit_bias = b;
    p.n_logit_bias = 4;
    hr_sampler *s = hr_sampler_create(&p, 5);
    memset(b, 0xff, 4 * sizeof *b); /* the sampler keeps its own copy */
    free(b);
    hr_sample_result r;
    assert_int_equal(hr_sampler_sample(s, logits, &r), 3);
    assert_true(logits[1] == 3.0f); /* the caller's logits are not modified */
    /* the banned token has no probability at all */
    assert_int_equal(r.n_top, 4);
    for (int i = 0; i < r.n_top; i++) assert_int_not_equal(r.top[i].token, 1);
    hr_sampler_free(s);
    hr_logit_bias up = {0, 10.0f};
    p.logit_bias = &up;
    p.n_logit_bias = 1;
    s = hr_sampler_create(&p, 5);
    assert_int_equal(hr_sampler_sample(s, logits, NULL), 0);
    hr_sampler_free(s);
}

static void test_stop_strings(void **state) {
    (void)state;
    const char *stops[] = {"<|im_end|>", "\n\nUser:"};
    hr_stop st;
    char out[256];
    hr_stop_init(&st, stops, 2);
    const char *a[] = {"Hello", " world", "<|im", "_e", "nd|>", "never"};
    assert_true(feed(&st, a, 6, out));
    assert_string_equal(out, "Hello world");
    hr_stop_free(&st);

    hr_stop_init(&st, stops, 2);
    const char *b[] = {"a <", "|im", " no", "\n\nUs", "e", "r: x"};
    assert_true(feed(&st, b, 6, out));
    assert_string_equal(out, "a <|im no");
    hr_stop_free(&st);

    /* a prefix that never completes is released at the end */
    hr_stop_init(&st, stops, 2);
    const char *c[] = {"x", "<|im_e"};
    assert_false(feed(&st, c, 2, out));
    assert_string_equal(out, "x<|im_e");
    hr_stop_free(&st);

    /* held text is released as soon as it cannot start a stop */
    hr_stop_init(&st, stops, 2);
    const char *o;
    size_t ol;
    assert_false(hr_stop_push(&st, "ab<|", 4, &o, &ol));
    assert_int_equal(ol, 2);
    assert_memory_equal(o, "ab", 2);
    assert_false(hr_stop_push(&st, "x", 1, &o, &ol));
    assert_int_equal(ol, 3);
    assert_memory_equal(o, "<|x", 3);
    hr_stop_free(&st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),    cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_cutoffs),   cmocka_unit_test(test_top_k_large), cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_mask_and_logprobs), cmocka_unit_test(test_stop_strings), cmocka_unit_test(test_logit_bias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
