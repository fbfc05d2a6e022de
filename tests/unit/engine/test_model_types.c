/* Engine logits vs the numpy reference on small synthetic models of every
 * tensor type the synthesizer writes. The reference dequantizes weights
 * exactly (its own decoder) and computes in float64; the engine quantizes
 * activations for the dot products (q8_0 / q8_K), so each type gets a named
 * tolerance on max |engine - ref| / max |ref| over all positions. */
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

typedef struct tcase {
    const char *shape, *type;
    float tol; /* relative */
} tcase;

#define TOL_FLOAT 1e-3f /* f32 weights, f32 activations */
#define TOL_HALF 1e-3f  /* f16 / bf16 weights, f32 activations: exact products */
#define TOL_Q 5e-2f     /* weights quantized, activations quantized to 8 bits */

static const tcase cases[] = {
    {"tiny", "f32", TOL_FLOAT},   {"tiny", "f16", TOL_HALF},    {"tiny", "bf16", TOL_HALF},
    {"tiny", "q8_0", TOL_Q},      {"tiny", "q4_0", TOL_Q},      {"tiny", "q5_0", TOL_Q},
    {"tiny-k", "q4_k", TOL_Q},    {"tiny-k", "q5_k", TOL_Q},    {"tiny-k", "q6_k", TOL_Q},
    {"tiny-k", "q4_k_m", TOL_Q},
};

static const int32_t toks[] = {1, 300, 17, 42, 255, 380, 7};
#define NT ((int)(sizeof toks / sizeof toks[0]))

static void run_case(const tcase *tc) {
    char path[] = "/tmp/hr_synth_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    hr_synth_params sp = hr_synth_default_params();
    sp.shape = tc->shape;
    sp.type = tc->type;
    sp.seed = 42;
    char err[256] = "";
    if (hr_synth_write(&sp, path, err, sizeof err) != 0) fail_msg("synth %s %s: %s", tc->shape, tc->type, err);
    hr_model *m = hr_model_load(path, err, sizeof err);
    if (!m) fail_msg("load %s %s: %s", tc->shape, tc->type, err);
    int V = hr_model_get_info(m)->n_vocab;

    char out[] = "/tmp/hr_synth_ref_XXXXXX";
    fd = mkstemp(out);
    close(fd);
    char cmd[4096], list[256] = "";
    for (int i = 0; i < NT; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "", toks[i]);
    const char *src = getenv("HR_SRC");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/llama_ref.py %s --tokens %s --out %s", src ? src : ".",
             path, list, out);
    assert_int_equal(system(cmd), 0);
    float *ref = malloc((size_t)NT * V * sizeof(float));
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof(float), (size_t)NT * V, f), (size_t)NT * V);
    fclose(f);
    unlink(out);

    hr_ctx_params cp = hr_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_threads = 2;
    hr_ctx *c = hr_ctx_create(m, &cp, err, sizeof err);
    assert_non_null(c);
    /* first 3 tokens as a batch, the rest one by one: both paths are checked */
    hr_batch_entry b[NT];
    for (int i = 0; i < 3; i++) b[i] = (hr_batch_entry){toks[i], i, 0, true};
    assert_int_equal(hr_ctx_decode(c, b, 3, err, sizeof err), 3);
    float maxref = 0, maxd = 0;
    for (int i = 0; i < NT; i++) {
        if (i >= 3) {
            hr_batch_entry e = {toks[i], i, 0, true};
            assert_int_equal(hr_ctx_decode(c, &e, 1, err, sizeof err), 1);
        }
        const float *l = hr_ctx_logits(c, i < 3 ? i : 0);
        for (int v = 0; v < V; v++) {
            float r = ref[(size_t)i * V + v], d = fabsf(l[v] - r);
            if (fabsf(r) > maxref) maxref = fabsf(r);
            if (!(d <= maxd)) maxd = d;
        }
    }
    float rel = maxd / maxref;
    print_message("%-7s %-7s max|ref| %.3f  max|diff| %.5f  rel %.5f (tol %.4f)\n", tc->shape, tc->type, maxref, maxd,
                  rel, tc->tol);
    if (!(rel <= tc->tol)) fail_msg("%s %s: relative logit error %g > %g", tc->shape, tc->type, rel, tc->tol);
    assert_true(maxref > 0.5f); /* the synthetic model is not degenerate */
    hr_ctx_free(c);
    hr_model_free(m);
    free(ref);
    unlink(path);
}

static int fill_zero(void *ud, int64_t idx, const char *name, void *buf, size_t n) {
    (void)ud;
    (void)idx;
    (void)name;
    (void)buf;
    (void)n;
    return 0; /* the writer hands out zeroed buffers */
}

static void test_types(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}

static void test_synth_errors(void **state) {
    (void)state;
    hr_synth_params sp = hr_synth_default_params();
    char err[256] = "";
    sp.shape = "gpt-5";
    assert_int_equal(hr_synth_write(&sp, "/tmp/hr_never.gguf", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown shape"));
    sp.shape = "tiny";
    sp.type = "q9_9";
    assert_int_equal(hr_synth_write(&sp, "/tmp/hr_never.gguf", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown type"));
}

/* A hand-built llama GGUF with one defect at a time: the loader names it. */
static const char *load_error(int variant, char *err, size_t errsz) {
    char path[] = "/tmp/hr_badmodel_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    hr_gguf_writer *w = hr_gguf_writer_create();
    hr_gguf_writer_set_str(w, "general.architecture", "llama");
    hr_gguf_writer_set_u32(w, "llama.embedding_length", 256);
    hr_gguf_writer_set_u32(w, "llama.block_count", 1);
    hr_gguf_writer_set_u32(w, "llama.feed_forward_length", 512);
    hr_gguf_writer_set_u32(w, "llama.attention.head_count", variant == 1 ? 0 : 4);
    int64_t emb[2] = {256, 300}, norm[1] = {variant == 2 ? 128 : 256};
    hr_gguf_writer_add_tensor(w, "token_embd.weight", variant == 3 ? 16 /* iq2_xxs */ : 8, 2, emb, NULL);
    if (variant != 4) hr_gguf_writer_add_tensor(w, "output_norm.weight", 0, 1, norm, NULL);
    assert_int_equal(hr_gguf_writer_write(w, path, fill_zero, NULL, err, errsz), 0);
    hr_gguf_writer_free(w);
    hr_model *m = hr_model_load(path, err, errsz);
    assert_null(m);
    unlink(path);
    return err;
}

static void test_load_errors(void **state) {
    (void)state;
    char err[256];
    assert_non_null(strstr(load_error(1, err, sizeof err), "invalid hyperparameters"));
    assert_non_null(strstr(load_error(2, err, sizeof err), "tensor 'output_norm.weight' has shape [128, 1], expected [256, 1]"));
    assert_non_null(strstr(load_error(3, err, sizeof err), "cannot compute"));
    assert_non_null(strstr(load_error(4, err, sizeof err), "missing tensor 'output_norm.weight'"));
    assert_non_null(strstr(load_error(0, err, sizeof err), "missing tensor 'blk.0.attn_norm.weight'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_types), cmocka_unit_test(test_synth_errors),
                                       cmocka_unit_test(test_load_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
