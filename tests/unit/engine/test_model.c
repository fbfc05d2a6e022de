/* Llama forward pass on the real stories260K model:
 *   - logits of every prompt position agree with the independent numpy
 *     reference (tests/ref/llama_ref.py) within TOL_F32;
 *   - a batched prompt, token-by-token decoding and two interleaved sequences
 *     in one batch all give the same logits (KV cache + continuous batching);
 *   - the greedy continuation of "Once upon a time" is the exact expected
 *     token list, which reads as English;
 *   - bad batches and foreign architectures are refused with a message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"

/* Engine vs numpy (float64) on f32 weights: only float rounding differs. */
#define TOL_F32 2e-3f
/* f16 KV cache vs f32 KV cache (attention inputs rounded to 11 bits). */
#define TOL_KV_F16 2e-2f
/* Batched vs one-at-a-time evaluation of the same engine. */
#define TOL_SAME 1e-4f

static const char *model_path(void) {
    static char buf[4096];
    const char *sh = getenv("HR_SHARED");
    snprintf(buf, sizeof buf, "%s/models/stories260K.gguf", sh ? sh : "../shared");
    return buf;
}

static const int32_t prompt[] = {1, 403, 407, 261, 378}; /* <s> Once upon a time */
#define NP ((int)(sizeof prompt / sizeof prompt[0]))

static hr_ctx *make_ctx(hr_model *m, int n_seq, int threads) {
    hr_ctx_params p = hr_ctx_default_params();
    p.n_ctx = 256;
    p.n_seq = n_seq;
    p.n_batch = 64;
    p.n_threads = threads;
    char err[256];
    hr_ctx *c = hr_ctx_create(m, &p, err, sizeof err);
    assert_non_null(c);
    return c;
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN-sticky */
    }
    return d;
}

static void test_logits_vs_reference(void **state) {
    (void)state;
    char err[256];
    hr_model *m = hr_model_load(model_path(), err, sizeof err);
    assert_non_null(m);
    int V = hr_model_get_info(m)->n_vocab;
    char out[] = "/tmp/hr_ref_logits_XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    char cmd[8192], toks[256] = "";
    for (int i = 0; i < NP; i++) snprintf(toks + strlen(toks), sizeof toks - strlen(toks), "%s%d", i ? "," : "", prompt[i]);
    const char *src = getenv("HR_SRC");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/llama_ref.py %s --tokens %s --out %s", src ? src : ".",
             model_path(), toks, out);
    assert_int_equal(system(cmd), 0);
    float *ref = malloc((size_t)NP * V * sizeof(float));
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof(float), (size_t)NP * V, f), (size_t)NP * V);
    fclose(f);
    unlink(out);

    hr_ctx *c = make_ctx(m, 1, 2);
    hr_batch_entry b[NP];
    for (int i = 0; i < NP; i++) b[i] = (hr_batch_entry){prompt[i], i, 0, true};
    assert_int_equal(hr_ctx_decode(c, b, NP, err, sizeof err), NP);
    for (int i = 0; i < NP; i++) {
        float d = max_abs_diff(hr_ctx_logits(c, i), ref + (size_t)i * V, V);
        if (d > TOL_F32) fail_msg("position %d: max |engine - reference| = %g > %g", i, d, TOL_F32);
    }
    hr_ctx_free(c);
    free(ref);
    hr_model_free(m);
}

static void test_batch_equals_sequential(void **state) {
    (void)state;
    char err[256];
    hr_model *m = hr_model_load(model_path(), err, sizeof err);
    assert_non_null(m);
    int V = hr_model_get_info(m)->n_vocab;
    /* A: whole prompt at once, 1 thread */
    hr_ctx *a = make_ctx(m, 1, 1);
    hr_batch_entry b[NP];
    for (int i = 0; i < NP; i++) b[i] = (hr_batch_entry){prompt[i], i, 0, i == NP - 1};
    assert_int_equal(hr_ctx_decode(a, b, NP, err, sizeof err), 1);
    float *la = malloc((size_t)V * sizeof(float));
    memcpy(la, hr_ctx_logits(a, 0), (size_t)V * sizeof(float));
    /* B: one token per call, 3 threads, sequence slot 1 of 2 */
    hr_ctx *c = make_ctx(m, 2, 3);
    for (int i = 0; i < NP; i++) {
        hr_batch_entry e = {prompt[i], i, 1, true};
        assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), 1);
    }
    assert_true(max_abs_diff(la, hr_ctx_logits(c, 0), V) < TOL_SAME);
    assert_int_equal(hr_ctx_seq_len(c, 1), NP);
    assert_int_equal(hr_ctx_seq_len(c, 0), 0);
    /* C: continuous batching: seq 0 gets its whole prompt while seq 1 (already
     * holding the prompt) decodes one more token, in the same batch */
    hr_batch_entry mix[NP + 1];
    mix[0] = (hr_batch_entry){432, NP, 1, true};
    for (int i = 0; i < NP; i++) mix[i + 1] = (hr_batch_entry){prompt[i], i, 0, i == NP - 1};
    assert_int_equal(hr_ctx_decode(c, mix, NP + 1, err, sizeof err), 2);
    assert_true(max_abs_diff(la, hr_ctx_logits(c, 1), V) < TOL_SAME); /* seq 0 == A */
    float *l1 = malloc((size_t)V * sizeof(float));
    memcpy(l1, hr_ctx_logits(c, 0), (size_t)V * sizeof(float));
    /* the same step computed alone from A's cache */
    hr_batch_entry e = {432, NP, 0, true};
    assert_int_equal(hr_ctx_decode(a, &e, 1, err, sizeof err), 1);
    assert_true(max_abs_diff(l1, hr_ctx_logits(a, 0), V) < TOL_SAME);
    /* rewind: recomputing position NP-1 after truncation gives A's logits again */
    hr_ctx_seq_truncate(a, 0, NP - 1);
    assert_int_equal(hr_ctx_seq_len(a, 0), NP - 1);
    e = (hr_batch_entry){prompt[NP - 1], NP - 1, 0, true};
    assert_int_equal(hr_ctx_decode(a, &e, 1, err, sizeof err), 1);
    assert_true(max_abs_diff(la, hr_ctx_logits(a, 0), V) < TOL_SAME);
    free(la);
    free(l1);
    hr_ctx_free(a);
    hr_ctx_free(c);
    hr_model_free(m);
}

/* Weights copied into anonymous (huge page) memory compute exactly what the
 * file mapping does, and the file mapping stays readable after its pages are
 * dropped behind the copy. */
static void test_weights_copy(void **state) {
    (void)state;
    char err[256];
    hr_model_params mp = hr_model_default_params();
    mp.hugepages = 0;
    hr_model *a = hr_model_load_ex(model_path(), &mp, err, sizeof err);
    assert_non_null(a);
    assert_false(hr_model_get_info(a)->weights_copied);
    mp.hugepages = 1;
    hr_model *b = hr_model_load_ex(model_path(), &mp, err, sizeof err);
    assert_non_null(b);
    assert_true(hr_model_get_info(b)->weights_copied);
    hr_model_prefault(b, NULL, NULL);
    int V = hr_model_get_info(a)->n_vocab;
    hr_ctx *ca = make_ctx(a, 1, 1), *cb = make_ctx(b, 1, 2);
    hr_batch_entry bt[NP];
    for (int i = 0; i < NP; i++) bt[i] = (hr_batch_entry){prompt[i], i, 0, i == NP - 1};
    assert_int_equal(hr_ctx_decode(ca, bt, NP, err, sizeof err), 1);
    assert_int_equal(hr_ctx_decode(cb, bt, NP, err, sizeof err), 1);
    assert_memory_equal(hr_ctx_logits(ca, 0), hr_ctx_logits(cb, 0), (size_t)V * sizeof(float));
    const hr_gguf *g = hr_model_gguf(b);
    const hr_gguf_tensor *t = hr_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_memory_equal(t->data, hr_gguf_find_tensor(hr_model_gguf(a), "token_embd.weight")->data, t->nbytes);
    hr_ctx_free(ca);
    hr_ctx_free(cb);
    hr_model_free(a);
    hr_model_free(b);
}

static void test_greedy_continuation(void **state) {
    (void)state;
    /* from tests/ref/llama_ref.py --greedy 24: ", there was a little girl
     * named Lily. She loved to play outside in the p" */
    static const int32_t expect[] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
                                     401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282};
    const int n = (int)(sizeof expect / sizeof expect[0]);
    char err[256];
    hr_model *m = hr_model_load(model_path(), err, sizeof err);
    assert_non_null(m);
    hr_ctx *c = make_ctx(m, 1, 2);
    hr_sampler_params sp = hr_sampler_default_params();
    sp.temperature = 0;
    hr_sampler *s = hr_sampler_create(&sp, hr_model_get_info(m)->n_vocab);
    hr_batch_entry b[NP];
    for (int i = 0; i < NP; i++) b[i] = (hr_batch_entry){prompt[i], i, 0, i == NP - 1};
    assert_int_equal(hr_ctx_decode(c, b, NP, err, sizeof err), 1);
    const hr_gguf *g = hr_model_gguf(m);
    hr_gguf_array vocab;
    assert_true(hr_gguf_get_arr(g, "tokenizer.ggml.tokens", &vocab));
    char text[1024] = "";
    int letters = 0, total = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = hr_sampler_sample(s, hr_ctx_logits(c, 0), NULL);
        if (t != expect[i]) fail_msg("step %d: got token %d, expected %d (text so far: '%s')", i, t, expect[i], text);
        size_t len;
        const char *piece = hr_gguf_arr_str(&vocab, (uint64_t)t, &len);
        strncat(text, piece, len);
        hr_batch_entry e = {t, NP + i, 0, true};
        assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), 1);
    }
    /* "mostly ASCII letters and spaces" (U+2581 counts as a space) */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++, total++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == 0xE2 || *p == 0x96 || *p == 0x81)
            letters++;
    assert_true(letters * 10 >= total * 9);
    hr_sampler_free(s);
    hr_ctx_free(c);
    hr_model_free(m);
}

static void test_kv_f16(void **state) {
    (void)state;
    char err[256];
    hr_model *m = hr_model_load(model_path(), err, sizeof err);
    assert_non_null(m);
    int V = hr_model_get_info(m)->n_vocab;
    hr_ctx *a = make_ctx(m, 1, 2);
    hr_ctx_params p = hr_ctx_default_params();
    p.n_ctx = 256;
    p.n_batch = 64;
    p.n_threads = 2;
    p.kv_type = 1; /* HR_TYPE_F16 */
    hr_ctx *h = hr_ctx_create(m, &p, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(hr_ctx_kv_bytes(h) * 2, hr_ctx_kv_bytes(a));
    hr_batch_entry b[NP];
    for (int i = 0; i < NP; i++) b[i] = (hr_batch_entry){prompt[i], i, 0, true};
    assert_int_equal(hr_ctx_decode(a, b, NP, err, sizeof err), NP);
    assert_int_equal(hr_ctx_decode(h, b, NP, err, sizeof err), NP);
    float worst = 0;
    for (int i = 0; i < NP; i++) {
        float d = max_abs_diff(hr_ctx_logits(a, i), hr_ctx_logits(h, i), V);
        if (!(d <= worst)) worst = d;
    }
    if (!(worst < TOL_KV_F16)) fail_msg("f16 KV: max logit difference %g >= %g", worst, TOL_KV_F16);
    /* and 20 more decode steps stay close (positions up to 25) */
    for (int i = 0; i < 20; i++) {
        hr_batch_entry e = {300 + i, NP + i, 0, true};
        assert_int_equal(hr_ctx_decode(a, &e, 1, err, sizeof err), 1);
        assert_int_equal(hr_ctx_decode(h, &e, 1, err, sizeof err), 1);
        float d = max_abs_diff(hr_ctx_logits(a, 0), hr_ctx_logits(h, 0), V);
        if (!(d < TOL_KV_F16)) fail_msg("f16 KV step %d: max logit difference %g", i, d);
    }
    hr_ctx_free(a);
    hr_ctx_free(h);
    hr_model_free(m);
}

static void test_bad_batches(void **state) {
    (void)state;
    char err[256] = "";
    hr_model *m = hr_model_load(model_path(), err, sizeof err);
    assert_non_null(m);
    hr_ctx *c = make_ctx(m, 2, 1);
    hr_batch_entry e = {1, 1, 0, true}; /* gap: sequence is empty */
    assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "gap"));
    e = (hr_batch_entry){512, 0, 0, true};
    assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "token 512"));
    e = (hr_batch_entry){1, 0, 2, true};
    assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "sequence 2"));
    e = (hr_batch_entry){1, 256, 0, true};
    assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), -1);
    hr_batch_entry two[2] = {{1, 0, 0, true}, {1, 2, 0, true}};
    assert_int_equal(hr_ctx_decode(c, two, 2, err, sizeof err), -1);
    assert_int_equal(hr_ctx_decode(c, two, 0, err, sizeof err), -1);
    assert_null(hr_ctx_logits(c, 0));
    hr_ctx_free(c);
    hr_model_free(m);
}

static void test_foreign_arch(void **state) {
    (void)state;
    char path[] = "/tmp/hr_test_arch_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    hr_gguf_writer *w = hr_gguf_writer_create();
    hr_gguf_writer_set_str(w, "general.architecture", "falcon");
    char err[256] = "";
    assert_int_equal(hr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), 0);
    hr_gguf_writer_free(w);
    assert_null(hr_model_load(path, err, sizeof err));
    assert_non_null(strstr(err, "unsupported architecture 'falcon'"));
    unlink(path);
}

/* The CLI end to end: tokenizer + model + sampler + detokenizer. */
static void test_cli_run(void **state) {
    (void)state;
    const char *bin = getenv("HR_BIN");
    if (!bin || access(bin, X_OK) != 0) skip();
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s run -m %s -p 'Once upon a time' -n 24 --temp 0 -t 2 2>/dev/null", bin, model_path());
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_equal(pclose(f), 0);
    if (strncmp(out, ", there was a little girl named Lily.", 37) != 0) fail_msg("unexpected output: '%s'", out);
    snprintf(cmd, sizeof cmd, "%s run -m %s/../README.md -p x 2>&1", bin, model_path());
    f = popen(cmd, "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_not_equal(pclose(f), 0);
    assert_non_null(strstr(out, "hermes-router run:"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_vs_reference), cmocka_unit_test(test_batch_equals_sequential),
        cmocka_unit_test(test_greedy_continuation), cmocka_unit_test(test_kv_f16),
        cmocka_unit_test(test_bad_batches),         cmocka_unit_test(test_weights_copy),
        cmocka_unit_test(test_foreign_arch),        cmocka_unit_test(test_cli_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
