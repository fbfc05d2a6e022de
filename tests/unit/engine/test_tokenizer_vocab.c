/* Tokenizer test vectors from llama.cpp (shared/tokenizers/llama-vocab):
 * X.gguf.inp holds cases separated by "\n__ggml_vocab_test__\n", X.gguf.out
 * one line of expected ids per case (no BOS, parse_special off). Each vocab
 * is loaded once and every case must reproduce exactly. Llama 3 ("llama-bpe")
 * has no vocab GGUF here: it is built from the tiktoken ranks in
 * shared/tokenizers/llama3/tokenizer.model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static const char *shared_dir(void) {
    const char *s = getenv("HR_SHARED");
    return s ? s : "../shared";
}

/* Runs every case of vocab `name` through t; returns the number of failures
 * and prints the first few. */
static int run_vectors(const hr_tokenizer *t, const char *name) {
    char path[1024];
    size_t il, ol;
    snprintf(path, sizeof path, "%s/tokenizers/llama-vocab/ggml-vocab-%s.gguf.inp", shared_dir(), name);
    char *inp = read_all(path, &il);
    snprintf(path, sizeof path, "%s/tokenizers/llama-vocab/ggml-vocab-%s.gguf.out", shared_dir(), name);
    char *out = read_all(path, &ol);
    assert_non_null(inp);
    assert_non_null(out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *ip = inp, *op = out;
    int cases = 0, fails = 0;
    int32_t *ids = malloc(sizeof(int32_t) * 65536);
    for (;;) {
        char *e = strstr(ip, sep);
        if (!e) break;
        char *nl = strchr(op, '\n');
        assert_non_null(nl);
        *nl = 0;
        int n = hr_tokenizer_encode(t, ip, (size_t)(e - ip), 0, ids, 65536);
        char got[65536];
        size_t w = 0;
        for (int i = 0; i < n && w + 16 < sizeof got; i++) w += (size_t)snprintf(got + w, sizeof got - w, " %d", ids[i]);
        got[w] = 0;
        if (strcmp(got, op) != 0) {
            if (fails < 3)
                fprintf(stderr, "[%s] case %d '%.*s'\n  want:%s\n  got: %s\n", name, cases, (int)(e - ip), ip, op, got);
            fails++;
        }
        cases++;
        ip = e + sizeof sep - 1;
        op = nl + 1;
    }
    fprintf(stderr, "[%s] %d/%d cases match\n", name, cases - fails, cases);
    assert_true(cases > 0);
    free(ids);
    free(inp);
    free(out);
    return fails;
}

static void check_gguf_vocab(const char *name) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama-vocab/ggml-vocab-%s.gguf", shared_dir(), name);
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    if (!g) fail_msg("%s: %s", path, err);
    hr_tokenizer *t = hr_tokenizer_from_gguf(g, err, sizeof err);
    if (!t) fail_msg("%s: %s", name, err);
    hr_gguf_close(g); /* the tokenizer keeps no reference */
    int fails = run_vectors(t, name);
    hr_tokenizer_free(t);
    assert_int_equal(fails, 0);
}

#define VOCAB_TEST(fn, name) \
    static void fn(void **state) { (void)state; check_gguf_vocab(name); }

VOCAB_TEST(test_llama_spm, "llama-spm")
VOCAB_TEST(test_gpt2, "gpt-2")
VOCAB_TEST(test_phi3, "phi-3")
VOCAB_TEST(test_deepseek_coder, "deepseek-coder")
VOCAB_TEST(test_deepseek_llm, "deepseek-llm")
VOCAB_TEST(test_falcon, "falcon")
VOCAB_TEST(test_mpt, "mpt")
VOCAB_TEST(test_refact, "refact")
VOCAB_TEST(test_starcoder, "starcoder")
VOCAB_TEST(test_bert_bge, "bert-bge")

static void test_llama_bpe_tiktoken(void **state) {
    (void)state;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", shared_dir());
    hr_tokenizer *t = hr_tokenizer_from_tiktoken(path, 256, 1, err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_int_equal(hr_tokenizer_n_vocab(t), 128256);
    int fails = run_vectors(t, "llama-bpe");
    hr_tokenizer_free(t);
    assert_int_equal(fails, 0);
}

/* The synthesizer's path: the tiktoken vocab exported as GGUF metadata
 * (tokens, token types, derived merges), written, read back through
 * hr_tokenizer_from_gguf: the llama-bpe vectors must still match. */
static void test_llama_bpe_exported_gguf(void **state) {
    (void)state;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", shared_dir());
    hr_tokenizer *src = hr_tokenizer_from_tiktoken(path, 256, 1, err, sizeof err);
    if (!src) fail_msg("%s", err);
    hr_gguf_writer *w = hr_gguf_writer_create();
    assert_int_equal(hr_tokenizer_write_gguf(src, w, 0), 0);
    snprintf(path, sizeof path, "/tmp/hr_tok_vocab_%d.gguf", (int)getpid());
    assert_int_equal(hr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), 0);
    hr_gguf_writer_free(w);
    hr_tokenizer_free(src);
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    unlink(path);
    if (!g) fail_msg("%s", err);
    hr_tokenizer *t = hr_tokenizer_from_gguf(g, err, sizeof err);
    hr_gguf_close(g);
    if (!t) fail_msg("%s", err);
    int fails = run_vectors(t, "llama-bpe");
    hr_tokenizer_free(t);
    assert_int_equal(fails, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),     cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_llama_bpe_tiktoken), cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_deepseek_coder), cmocka_unit_test(test_deepseek_llm),
        cmocka_unit_test(test_falcon),        cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_refact),        cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_bert_bge),      cmocka_unit_test(test_llama_bpe_exported_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
