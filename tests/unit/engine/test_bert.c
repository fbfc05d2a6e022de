/* BERT sentence embedder (hr_embedder_*) on synthetic bert-tiny GGUFs
 * (2 layers, hidden 64, 4 heads, ffn 128, context 64, the bert-bge vocab):
 *   - embeddings of English, accented, Chinese, empty and over-long (truncated)
 *     texts agree with the independent numpy reference (tests/ref/bert_ref.py:
 *     its own GGUF reader, WordPiece tokenizer and float64 forward pass) within
 *     TOL_F32 for f32 weights and TOL_Q8 for q8_0 weights, with the same token
 *     ids; CLS pooling (the synth default) and mean pooling;
 *   - embeddings have unit norm, the same text gives bit-identical vectors,
 *     and two threads embedding at once get exactly the single-thread vectors;
 *   - foreign architectures, truncated files, missing or mis-shaped tensors
 *     and bad hyperparameters are refused with a message. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/tokenizer.h"

/* Max |engine - reference| per component of the unit-length embedding (dim 64,
 * components ~0.12). f32 weights: only float32-vs-float64 rounding differs
 * (measured <= 1e-7 at every SIMD level). q8_0 weights, against the plain
 * reference (same dequantized weights, float64 activations): the engine
 * rounds every matmul's input to 8 bits per 32-block (measured 3.3e-3); and
 * against the reference run with --emulate-q8, which rounds the activations
 * the same way, so only summation order and rare rounding ties differ. */
#define TOL_F32 2e-5f
#define TOL_Q8 1e-2f
#define COS_Q8 0.999 /* cosine similarity engine vs plain reference, q8_0 */
#define TOL_Q8_EMU 1e-4f /* measured <= 1e-7; margin for a rounding tie decided differently */

static char dir[64];
static char path_f32[128], path_q8[128], path_mean[128], path_llama[128];

#define ROUTE "Routing prompts to the cheapest model that can answer them well is the whole point of a router. "
#define ROUTE4 ROUTE ROUTE ROUTE ROUTE
#define ZH "\xe6\x88\x91\xe7\x88\xb1\xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa9\xe5\xae\x89\xe9\x97\xa8\xe3\x80\x82" \
    "\xe4\xba\xba\xe5\xb7\xa5\xe6\x99\xba\xe8\x83\xbd\xe6\xad\xa3\xe5\x9c\xa8\xe6\x94\xb9\xe5\x8f\x98" \
    "\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82" /* 我爱北京天安门。人工智能正在改变世界。 */
#define ZH8 ZH ZH ZH ZH ZH ZH ZH ZH

/* The last two are longer than 16 bytes per context token: the embedder
 * tokenizes only a prefix of them, cut at a space / before an ideograph. */
static const char *texts[] = {
    "Hello world, this is a test.",
    "The quick brown fox jumps over the lazy dog! Caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9 na\xc3\xafve?",
    ZH,
    "",
    ROUTE ROUTE ROUTE,
    "   mixed\tWhitespace\n and 123 numbers, e-mail@example.com (parens) [brackets] {braces} 3.14",
    ROUTE4 ROUTE4 ROUTE4,
    ZH8 ZH8 ZH8,
};
#define NT ((int)(sizeof texts / sizeof texts[0]))
#define LONG_TEXT 4

static const char *shared(void) {
    const char *s = getenv("HR_SHARED");
    return s ? s : "../shared";
}

static int synth(const char *shape, const char *type, const char *out, bool vocab) {
    char vpath[4096], err[256] = "";
    snprintf(vpath, sizeof vpath, "%s/tokenizers/llama-vocab/ggml-vocab-bert-bge.gguf", shared());
    hr_synth_params p = hr_synth_default_params();
    p.shape = shape;
    p.type = type;
    p.vocab_gguf = vocab ? vpath : NULL;
    int rc = hr_synth_write(&p, out, err, sizeof err);
    if (rc) fprintf(stderr, "synth %s %s: %s\n", shape, type, err);
    return rc;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int spill(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

/* A copy of src with bert.pooling_type set to `pooling` (patched in place:
 * key, u32 value type, u32 value). */
static int patch_pooling(const char *src, const char *dst, uint32_t pooling) {
    size_t len;
    unsigned char *b = slurp(src, &len);
    if (!b) return -1;
    static const char key[] = "bert.pooling_type";
    int rc = -1;
    for (size_t i = 0; i + sizeof key + 8 < len; i++)
        if (!memcmp(b + i, key, sizeof key - 1)) {
            uint32_t vt;
            memcpy(&vt, b + i + sizeof key - 1, 4);
            if (vt != 4) break; /* u32 */
            memcpy(b + i + sizeof key - 1 + 4, &pooling, 4);
            rc = spill(dst, b, len);
            break;
        }
    free(b);
    return rc;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hr_test_bert_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path_f32, sizeof path_f32, "%s/tiny-f32.gguf", dir);
    snprintf(path_q8, sizeof path_q8, "%s/tiny-q8_0.gguf", dir);
    snprintf(path_mean, sizeof path_mean, "%s/tiny-f32-mean.gguf", dir);
    snprintf(path_llama, sizeof path_llama, "%s/llama-tiny.gguf", dir);
    if (synth("bert-tiny", "f32", path_f32, true) || synth("bert-tiny", "q8_0", path_q8, true) ||
        synth("tiny", "f32", path_llama, false) || patch_pooling(path_f32, path_mean, 1))
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(path_f32);
    unlink(path_q8);
    unlink(path_mean);
    unlink(path_llama);
    rmdir(dir);
    return 0;
}

/* ------------------------------ reference ---------------------------------- */

typedef struct ref_rec {
    int n;
    int32_t ids[512];
    float emb[64];
} ref_rec;

/* Runs bert_ref.py over texts[0..n) and reads its records. */
static ref_rec *run_reference(const char *model, const char *const *tx, int n, int dim, const char *opts) {
    assert_int_equal(dim, 64);
    char in[160], out[160], cmd[8192];
    snprintf(in, sizeof in, "%s/texts.bin", dir);
    snprintf(out, sizeof out, "%s/ref.bin", dir);
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(0, f);
        fputs(tx[i], f);
    }
    fclose(f);
    const char *src = getenv("HR_SRC");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/bert_ref.py %s --texts %s --out %s %s",
             src ? src : ".", model, in, out, opts);
    assert_int_equal(system(cmd), 0);
    ref_rec *r = calloc((size_t)n, sizeof *r);
    f = fopen(out, "rb");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        int32_t k;
        assert_int_equal(fread(&k, 4, 1, f), 1);
        assert_true(k >= 2 && k <= 512);
        r[i].n = k;
        assert_int_equal(fread(r[i].ids, 4, (size_t)k, f), (size_t)k);
        assert_int_equal(fread(r[i].emb, 4, (size_t)dim, f), (size_t)dim);
    }
    fclose(f);
    unlink(in);
    unlink(out);
    return r;
}

/* The engine's tokenizer on the same text, with the embedder's framing. */
static int engine_ids(const char *model, const char *text, int max_tokens, int32_t *ids) {
    char err[256];
    hr_gguf *g = hr_gguf_open(model, err, sizeof err);
    assert_non_null(g);
    hr_tokenizer *t = hr_tokenizer_from_gguf(g, err, sizeof err);
    assert_non_null(t);
    int32_t tmp[1024], cs[2];
    assert_int_equal(hr_tokenizer_encode(t, "", 0, HR_TOK_ADD_BOS | HR_TOK_ADD_EOS, cs, 2), 2);
    int n = hr_tokenizer_encode(t, text, strlen(text), 0, tmp, 1024);
    assert_true(n >= 0);
    if (n > max_tokens - 2) n = max_tokens - 2;
    ids[0] = cs[0];
    memcpy(ids + 1, tmp, (size_t)n * sizeof(int32_t));
    ids[n + 1] = cs[1];
    hr_tokenizer_free(t);
    hr_gguf_close(g);
    return n + 2;
}

static void compare_model(const char *model, const char *opts, float tol, double min_cos) {
    char err[256] = "";
    hr_embedder *e = hr_embedder_load(model, err, sizeof err);
    if (!e) fail_msg("load %s: %s", model, err);
    int dim = hr_embedder_dim(e), maxt = hr_embedder_max_tokens(e);
    assert_int_equal(dim, 64);
    assert_int_equal(maxt, 64);
    ref_rec *r = run_reference(model, texts, NT, dim, opts);
    float worst = 0;
    for (int i = 0; i < NT; i++) {
        float v[64];
        int n = hr_embedder_embed(e, texts[i], strlen(texts[i]), v, err, sizeof err);
        if (n < 0) fail_msg("text %d: %s", i, err);
        if (n != r[i].n) fail_msg("text %d: engine used %d tokens, reference %d", i, n, r[i].n);
        int32_t ids[512];
        assert_int_equal(engine_ids(model, texts[i], maxt, ids), n);
        for (int k = 0; k < n; k++)
            if (ids[k] != r[i].ids[k]) fail_msg("text %d token %d: engine id %d, reference %d", i, k, ids[k], r[i].ids[k]);
        double dot = 0;
        for (int k = 0; k < dim; k++) {
            float d = fabsf(v[k] - r[i].emb[k]);
            if (!(d <= worst)) worst = d;
            dot += (double)v[k] * r[i].emb[k];
        }
        if (!(worst <= tol)) fail_msg("%s text %d: max |engine - reference| = %g > %g", model, i, worst, tol);
        if (!(dot >= min_cos)) fail_msg("%s text %d: cosine %f < %f", model, i, dot, min_cos);
    }
    for (int i = LONG_TEXT; i < NT; i++)
        if (i != LONG_TEXT + 1) assert_int_equal(r[i].n, maxt); /* the long texts were truncated */
    assert_true(strlen(texts[NT - 2]) > 16 * 64 + 64 && strlen(texts[NT - 1]) > 16 * 64 + 64);
    assert_int_equal(r[3].n, 2);            /* "" -> [CLS] [SEP] */
    print_message("%s%s: max |engine - reference| = %.3g (tolerance %.3g)\n", strrchr(model, '/') + 1,
                  *opts ? " (reference --emulate-q8)" : "", worst, tol);
    free(r);
    hr_embedder_free(e);
}

static void test_reference_f32(void **state) {
    (void)state;
    compare_model(path_f32, "", TOL_F32, 0.9999999);
}

static void test_reference_q8_0(void **state) {
    (void)state;
    compare_model(path_q8, "", TOL_Q8, COS_Q8);
    compare_model(path_q8, "--emulate-q8", TOL_Q8_EMU, 0.99999);
}

/* bert.pooling_type 1: mean of all token rows, [CLS]/[SEP] included */
static void test_reference_mean_pooling(void **state) {
    (void)state;
    compare_model(path_mean, "", TOL_F32, 0.9999999);
    char err[256];
    hr_embedder *a = hr_embedder_load(path_f32, err, sizeof err), *b = hr_embedder_load(path_mean, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    float va[64], vb[64];
    assert_int_equal(hr_embedder_embed(a, texts[0], strlen(texts[0]), va, err, sizeof err), 10);
    assert_int_equal(hr_embedder_embed(b, texts[0], strlen(texts[0]), vb, err, sizeof err), 10);
    assert_memory_not_equal(va, vb, sizeof va);
    hr_embedder_free(a);
    hr_embedder_free(b);
}

/* ---------------------------- properties ---------------------------------- */

static void test_unit_norm_deterministic(void **state) {
    (void)state;
    char err[256];
    const char *models[] = {path_f32, path_q8};
    for (int m = 0; m < 2; m++) {
        hr_embedder *e = hr_embedder_load(models[m], err, sizeof err);
        assert_non_null(e);
        for (int i = 0; i < NT; i++) {
            float a[64], b[64];
            assert_true(hr_embedder_embed(e, texts[i], strlen(texts[i]), a, err, sizeof err) >= 2);
            double ss = 0;
            for (int k = 0; k < 64; k++) ss += (double)a[k] * a[k];
            if (!(fabs(sqrt(ss) - 1) < 1e-5)) fail_msg("text %d: norm %f", i, sqrt(ss));
            assert_true(hr_embedder_embed(e, texts[i], strlen(texts[i]), b, err, sizeof err) >= 2);
            assert_memory_equal(a, b, sizeof a);
        }
        /* a different text gives a different vector; text is taken by length */
        float x[64], y[64];
        assert_int_equal(hr_embedder_embed(e, "apple pie", 5, x, err, sizeof err), 3); /* "apple" */
        assert_int_equal(hr_embedder_embed(e, "apple", 5, y, err, sizeof err), 3);
        assert_memory_equal(x, y, sizeof x);
        assert_int_equal(hr_embedder_embed(e, "pie", 3, y, err, sizeof err), 3);
        assert_memory_not_equal(x, y, sizeof x);
        assert_int_equal(hr_embedder_embed(e, NULL, 0, y, err, sizeof err), 2);
        assert_int_equal(hr_embedder_embed(e, NULL, 4, y, err, sizeof err), -1);
        hr_embedder_free(e);
    }
}

typedef struct thr_arg {
    const hr_embedder *e;
    float out[NT][64];
    int fails;
} thr_arg;

static void *thr_main(void *ud) {
    thr_arg *a = ud;
    char err[256];
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < NT; i++) {
            int k = (i + r) % NT; /* the two threads interleave different texts */
            if (hr_embedder_embed(a->e, texts[k], strlen(texts[k]), a->out[k], err, sizeof err) < 2) a->fails++;
        }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    char err[256];
    hr_embedder *e = hr_embedder_load(path_q8, err, sizeof err);
    assert_non_null(e);
    float base[NT][64];
    for (int i = 0; i < NT; i++) assert_true(hr_embedder_embed(e, texts[i], strlen(texts[i]), base[i], err, sizeof err) >= 2);
    thr_arg *a = calloc(2, sizeof *a);
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        a[t].e = e;
        assert_int_equal(pthread_create(&th[t], NULL, thr_main, &a[t]), 0);
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(a[t].fails, 0);
        assert_memory_equal(a[t].out, base, sizeof base);
    }
    free(a);
    hr_embedder_free(e);
}

/* ------------------------------- errors ------------------------------------ */

static void expect_load_error(const char *path, const char *needle) {
    char err[512] = "";
    hr_embedder *e = hr_embedder_load(path, err, sizeof err);
    if (e) fail_msg("%s loaded, expected an error containing '%s'", path, needle);
    if (!strstr(err, needle)) fail_msg("error '%s' does not contain '%s'", err, needle);
}

/* A bert GGUF with the tiny hyperparameters and the given tensors only. */
static void write_bert(const char *path, uint32_t E, uint32_t heads, const char *tname, int64_t ne0, int64_t ne1) {
    hr_gguf_writer *w = hr_gguf_writer_create();
    hr_gguf_writer_set_str(w, "general.architecture", "bert");
    hr_gguf_writer_set_u32(w, "bert.embedding_length", E);
    hr_gguf_writer_set_u32(w, "bert.block_count", 2);
    hr_gguf_writer_set_u32(w, "bert.feed_forward_length", 128);
    hr_gguf_writer_set_u32(w, "bert.attention.head_count", heads);
    hr_gguf_writer_set_u32(w, "bert.context_length", 64);
    float *data = NULL;
    if (tname) {
        data = calloc((size_t)(ne0 * ne1), sizeof(float));
        int64_t ne[2] = {ne0, ne1};
        assert_true(hr_gguf_writer_add_tensor(w, tname, 0, 2, ne, data) >= 0);
    }
    char err[256];
    assert_int_equal(hr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), 0);
    hr_gguf_writer_free(w);
    free(data);
}

static void test_errors(void **state) {
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s/bad.gguf", dir);
    expect_load_error(path_llama, "not a BERT model: general.architecture is 'llama'");
    expect_load_error("/nonexistent/model.gguf", "/nonexistent/model.gguf");
    /* truncated: in the tensor data, in the metadata, in the header */
    size_t len;
    unsigned char *b = slurp(path_f32, &len);
    assert_non_null(b);
    size_t cuts[] = {len - 100, len / 2, 4000, 30, 3};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(spill(p, b, cuts[i]), 0);
        char err[512] = "";
        assert_null(hr_embedder_load(p, err, sizeof err));
        assert_true(strlen(err) > 0);
    }
    free(b);
    write_bert(p, 64, 4, NULL, 0, 0);
    expect_load_error(p, "missing tensor 'token_embd.weight'");
    write_bert(p, 64, 4, "token_embd.weight", 32, 100);
    expect_load_error(p, "tensor 'token_embd.weight' has shape [32, 100, 1], expected [64, rows]");
    write_bert(p, 64, 4, "token_embd.weight", 64, 100);
    expect_load_error(p, "missing tensor 'position_embd.weight'");
    write_bert(p, 64, 5, NULL, 0, 0);
    expect_load_error(p, "invalid hyperparameters");
    /* a vocab-only GGUF (no weights) */
    char vpath[4096];
    snprintf(vpath, sizeof vpath, "%s/tokenizers/llama-vocab/ggml-vocab-bert-bge.gguf", shared());
    expect_load_error(vpath, "missing tensor 'token_embd.weight'");
    unlink(p);
    /* bert shapes need a WordPiece vocab */
    assert_int_not_equal(synth("bert-tiny", "f32", p, false), 0);
    assert_int_not_equal(synth("bert-tiny", "q4_k_m", p, true), 0);
}

/* the CLI: hermes-router embed */
static void test_cli(void **state) {
    (void)state;
    const char *bin = getenv("HR_BIN");
    if (!bin || access(bin, X_OK) != 0) skip();
    char cmd[8192], out[4096] = "";
    snprintf(cmd, sizeof cmd, "%s embed -m %s -p 'Hello world' 2>&1", bin, path_f32);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_equal(pclose(f), 0);
    if (!strstr(out, "dim: 64") || !strstr(out, "tokens: 4 (max 64)") || !strstr(out, "embedding: "))
        fail_msg("unexpected output: '%s'", out);
    /* -f -: the text from stdin, same vector */
    char out2[4096] = "";
    snprintf(cmd, sizeof cmd, "printf 'Hello world' | %s embed -m %s -f - 2>&1", bin, path_f32);
    f = popen(cmd, "r");
    assert_non_null(f);
    n = fread(out2, 1, sizeof out2 - 1, f);
    out2[n] = 0;
    assert_int_equal(pclose(f), 0);
    const char *v1 = strstr(out, "embedding: "), *v2 = strstr(out2, "embedding: ");
    assert_non_null(v2);
    assert_string_equal(v1, v2);
    snprintf(cmd, sizeof cmd, "%s embed -m %s -p x 2>&1", bin, path_llama);
    f = popen(cmd, "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_not_equal(pclose(f), 0);
    if (!strstr(out, "hermes-router embed:") || !strstr(out, "not a BERT model")) fail_msg("unexpected output: '%s'", out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_f32),   cmocka_unit_test(test_reference_q8_0),
        cmocka_unit_test(test_reference_mean_pooling), cmocka_unit_test(test_unit_norm_deterministic),
        cmocka_unit_test(test_threads),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
