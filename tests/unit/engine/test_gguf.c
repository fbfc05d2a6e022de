/* GGUF reader/writer: reads the real stories260K file, round-trips every value
 * type through the writer, and feeds the reader every truncation of the header
 * region plus random byte flips: each must give an error or a valid file,
 * never a crash or an out-of-bounds read (ASan checks the latter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/gguf.h"

static char *shared_path(const char *rel) {
    const char *sh = getenv("HR_SHARED");
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", sh ? sh : "../shared", rel);
    return buf;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)sz);
    assert_int_equal(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void test_read_stories(void **state) {
    (void)state;
    char err[256] = "";
    hr_gguf *g = hr_gguf_open(shared_path("models/stories260K.gguf"), err, sizeof err);
    assert_non_null(g);
    assert_true(hr_gguf_version(g) == 3 || hr_gguf_version(g) == 2);
    size_t len = 0;
    const char *arch = hr_gguf_get_str(g, "general.architecture", &len);
    assert_non_null(arch);
    assert_string_equal(arch, "llama");
    assert_int_equal(len, 5);
    uint32_t emb = 0;
    assert_true(hr_gguf_get_u32(g, "llama.embedding_length", &emb));
    assert_int_equal(emb, 64);
    hr_gguf_array toks;
    assert_true(hr_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks));
    assert_int_equal(toks.type, HR_GGUF_STRING);
    assert_int_equal(toks.n, 512);
    const char *t0 = hr_gguf_arr_str(&toks, 0, &len);
    assert_non_null(t0);
    assert_memory_equal(t0, "<unk>", 5);
    assert_null(hr_gguf_arr_str(&toks, 512, &len)); /* out of range */
    hr_gguf_array scores;
    assert_true(hr_gguf_get_arr(g, "tokenizer.ggml.scores", &scores));
    assert_int_equal(scores.type, HR_GGUF_F32);
    /* wrong-type lookups fail cleanly */
    assert_null(hr_gguf_get_str(g, "llama.embedding_length", NULL));
    assert_false(hr_gguf_get_u32(g, "general.architecture", &emb));
    assert_false(hr_gguf_get_u32(g, "no.such.key", &emb));
    const hr_gguf_tensor *t = hr_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    assert_int_equal(((uintptr_t)t->data) % hr_gguf_alignment(g), 0);
    assert_null(hr_gguf_find_tensor(g, "nope"));
    assert_true(hr_gguf_n_tensors(g) > 10);
    hr_gguf_close(g);
    hr_gguf_close(NULL);
}

static void test_open_errors(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(hr_gguf_open("/nonexistent/x.gguf", err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    uint8_t junk[64] = "GGML not a gguf file at all, just some text to fill..........";
    assert_null(hr_gguf_open_memory(junk, sizeof junk, err, sizeof err));
    assert_non_null(strstr(err, "bad magic"));
    uint8_t v1[24] = {'G', 'G', 'U', 'F', 1, 0, 0, 0};
    assert_null(hr_gguf_open_memory(v1, sizeof v1, err, sizeof err));
    assert_non_null(strstr(err, "version 1"));
    uint8_t be[24] = {'G', 'G', 'U', 'F', 0, 0, 0, 3};
    assert_null(hr_gguf_open_memory(be, sizeof be, err, sizeof err));
    assert_non_null(strstr(err, "big-endian"));
    /* a huge tensor count must fail before allocating */
    uint8_t big[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
    assert_null(hr_gguf_open_memory(big, sizeof big, err, sizeof err));
    assert_non_null(strstr(err, "tensor count"));
}

/* GGUF v2 has the v3 layout (64-bit counts); v1 (32-bit counts) is refused. */
static void test_version2(void **state) {
    (void)state;
    size_t n;
    uint8_t *file = read_all(shared_path("models/stories260K.gguf"), &n);
    char err[256];
    file[4] = 2;
    hr_gguf *g = hr_gguf_open_memory(file, n, err, sizeof err);
    assert_non_null(g);
    assert_int_equal(hr_gguf_version(g), 2);
    assert_non_null(hr_gguf_find_tensor(g, "output.weight"));
    hr_gguf_close(g);
    file[4] = 4;
    assert_null(hr_gguf_open_memory(file, n, err, sizeof err));
    assert_non_null(strstr(err, "unsupported GGUF version 4"));
    free(file);
}

static int fill_pattern(void *ud, int64_t idx, const char *name, void *buf, size_t n) {
    (void)ud;
    (void)name;
    for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = (uint8_t)(i * 7 + (size_t)idx);
    return 0;
}

static void test_writer_roundtrip(void **state) {
    (void)state;
    char path[] = "/tmp/hr_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    hr_gguf_writer *w = hr_gguf_writer_create();
    hr_gguf_writer_set_str(w, "general.architecture", "llama");
    hr_gguf_writer_set_u32(w, "a.u32", 7);
    hr_gguf_writer_set_u32(w, "a.u32", 4000000000u); /* replaces */
    hr_gguf_writer_set_i32(w, "a.i32", -5);
    hr_gguf_writer_set_f32(w, "a.f32", 1.5f);
    hr_gguf_writer_set_bool(w, "a.bool", true);
    hr_gguf_writer_set_u64(w, "a.u64", 1ull << 40);
    const char *strs[] = {"hello", "", "wörld"};
    hr_gguf_writer_set_arr_str(w, "a.strs", strs, NULL, 3);
    int32_t ints[] = {1, -2, 3};
    hr_gguf_writer_set_arr_data(w, "a.ints", HR_GGUF_I32, ints, 3);
    float f32s[64];
    for (int i = 0; i < 64; i++) f32s[i] = (float)i * 0.5f;
    int64_t ne1[] = {64};
    assert_int_equal(hr_gguf_writer_add_tensor(w, "t.f32", 0, 1, ne1, f32s), 0);
    int64_t ne2[] = {64, 3};
    assert_int_equal(hr_gguf_writer_add_tensor(w, "t.q8", 8, 2, ne2, NULL), 1);
    assert_int_equal(hr_gguf_writer_add_tensor(w, "t.q8", 8, 2, ne2, NULL), -1); /* duplicate */
    int64_t bad[] = {33};
    assert_int_equal(hr_gguf_writer_add_tensor(w, "t.bad", 8, 1, bad, NULL), -1); /* not a block multiple */
    char err[256] = "";
    assert_int_equal(hr_gguf_writer_write(w, path, fill_pattern, NULL, err, sizeof err), 0);
    hr_gguf_writer_free(w);

    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    assert_non_null(g);
    assert_int_equal(hr_gguf_version(g), 3);
    uint32_t u;
    int32_t i32;
    int64_t i64;
    float f;
    bool b;
    uint64_t u64;
    assert_true(hr_gguf_get_u32(g, "a.u32", &u));
    assert_int_equal(u, 4000000000u);
    assert_false(hr_gguf_get_i32(g, "a.u32", &i32)); /* out of range for i32 */
    assert_true(hr_gguf_get_i64(g, "a.u32", &i64));
    assert_true(hr_gguf_get_i32(g, "a.i32", &i32));
    assert_int_equal(i32, -5);
    assert_false(hr_gguf_get_u32(g, "a.i32", &u)); /* negative */
    assert_true(hr_gguf_get_f32(g, "a.f32", &f));
    assert_true(f == 1.5f);
    assert_true(hr_gguf_get_bool(g, "a.bool", &b) && b);
    assert_true(hr_gguf_get_u64(g, "a.u64", &u64) && u64 == (1ull << 40));
    hr_gguf_array a;
    assert_true(hr_gguf_get_arr(g, "a.strs", &a));
    size_t len;
    const char *s = hr_gguf_arr_str(&a, 2, &len);
    assert_int_equal(len, strlen("wörld"));
    assert_memory_equal(s, "wörld", len);
    s = hr_gguf_arr_str(&a, 1, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_true(hr_gguf_get_arr(g, "a.ints", &a));
    assert_int_equal(hr_gguf_arr_i64(&a, 1), -2);
    assert_true(hr_gguf_arr_f32(&a, 2) == 3.0f);
    assert_null(hr_gguf_arr_str(&a, 0, &len));
    const hr_gguf_tensor *t = hr_gguf_find_tensor(g, "t.f32");
    assert_non_null(t);
    assert_memory_equal(t->data, f32s, sizeof f32s);
    t = hr_gguf_find_tensor(g, "t.q8");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 3 * 2 * 34);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(((const uint8_t *)t->data)[5], (uint8_t)(5 * 7 + 1));
    hr_gguf_close(g);
    unlink(path);
}

/* Every truncation of the metadata + tensor-info region must be rejected;
 * truncations inside the data section too (the last tensor no longer fits). */
static void test_truncations(void **state) {
    (void)state;
    size_t n;
    uint8_t *file = read_all(shared_path("models/stories260K.gguf"), &n);
    char err[256];
    hr_gguf *full = hr_gguf_open_memory(file, n, err, sizeof err);
    assert_non_null(full);
    size_t data_off = (size_t)hr_gguf_data_offset(full);
    hr_gguf_close(full);
    for (size_t len = 0; len < data_off; len++) {
        /* a fresh exact-size copy so ASan catches any read past len */
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, file, len);
        hr_gguf *g = hr_gguf_open_memory(p, len, err, sizeof err);
        if (g) fail_msg("truncation to %zu bytes accepted", len);
        assert_true(strlen(err) > 0);
        free(p);
    }
    for (size_t len = data_off; len < n; len += 4099) {
        uint8_t *p = malloc(len);
        memcpy(p, file, len);
        hr_gguf *g = hr_gguf_open_memory(p, len, err, sizeof err);
        assert_null(g);
        assert_non_null(strstr(err, "truncated"));
        free(p);
    }
    free(file);
}

/* Random byte flips over the header region: error or valid, never a crash;
 * a file that opens must still have every tensor inside the buffer. */
static void test_byte_flips(void **state) {
    (void)state;
    size_t n;
    uint8_t *file = read_all(shared_path("models/stories260K.gguf"), &n);
    char err[256];
    hr_gguf *full = hr_gguf_open_memory(file, n, err, sizeof err);
    size_t hdr = (size_t)hr_gguf_data_offset(full);
    hr_gguf_close(full);
    uint8_t *p = malloc(n);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int opened = 0, rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(p, file, n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            size_t at = (size_t)(rng % hdr);
            p[at] = (iter & 1) ? (uint8_t)(rng >> 32) : (uint8_t)(p[at] ^ (1u << ((rng >> 40) & 7)));
        }
        hr_gguf *g = hr_gguf_open_memory(p, n, err, sizeof err);
        if (!g) {
            rejected++;
            assert_true(strlen(err) > 0);
            continue;
        }
        opened++;
        for (int64_t i = 0; i < hr_gguf_n_tensors(g); i++) {
            const hr_gguf_tensor *t = hr_gguf_tensor_at(g, i);
            assert_true((const uint8_t *)t->data >= p);
            assert_true((const uint8_t *)t->data + t->nbytes <= p + n);
        }
        for (int64_t i = 0; i < hr_gguf_n_kv(g); i++) {
            hr_gguf_array a;
            if (hr_gguf_kv_arr(g, i, &a) && a.n) {
                size_t len;
                const char *s = hr_gguf_arr_str(&a, a.n - 1, &len);
                if (s) assert_true((const uint8_t *)s + len <= p + n);
                (void)hr_gguf_arr_f64(&a, a.n - 1);
            }
        }
        hr_gguf_close(g);
    }
    assert_true(rejected > 100);
    assert_true(opened > 0); /* flips inside string bodies keep the file valid */
    free(p);
    free(file);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_stories),   cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_version2),
        cmocka_unit_test(test_writer_roundtrip), cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
