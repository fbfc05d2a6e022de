/* Tokenizer behaviour: special-token gating, byte round trips, the streaming
 * detokenizer's UTF-8 hold-back, output-size contract, error messages, and
 * the GGUF export path the synthesizer uses (tiktoken -> GGUF arrays ->
 * hr_tokenizer_from_gguf gives the same ids). Vocabularies load once. */
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

static hr_tokenizer *llama3; /* tiktoken + Hermes 3 specials */
static hr_tokenizer *spm;    /* llama-spm GGUF */

static const char *shared_dir(void) {
    const char *s = getenv("HR_SHARED");
    return s ? s : "../shared";
}

static int setup(void **state) {
    (void)state;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", shared_dir());
    llama3 = hr_tokenizer_from_tiktoken(path, 256, 1, err, sizeof err);
    if (!llama3) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/tokenizers/llama-vocab/ggml-vocab-llama-spm.gguf", shared_dir());
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    if (!g) return -1;
    spm = hr_tokenizer_from_gguf(g, err, sizeof err);
    hr_gguf_close(g);
    return spm ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    hr_tokenizer_free(llama3);
    hr_tokenizer_free(spm);
    return 0;
}

static int enc(const hr_tokenizer *t, const char *s, unsigned flags, int32_t *out, int max) {
    return hr_tokenizer_encode(t, s, strlen(s), flags, out, max);
}

/* Concatenated raw bytes of ids. */
static size_t join(const hr_tokenizer *t, const int32_t *ids, int n, char *out, size_t cap) {
    size_t w = 0;
    for (int i = 0; i < n; i++) {
        size_t l = hr_tokenizer_token_bytes(t, ids[i], out + w, cap - w);
        assert_true(l <= cap - w);
        w += l;
    }
    return w;
}

static void test_hermes_specials(void **state) {
    (void)state;
    assert_int_equal(hr_tokenizer_n_vocab(llama3), 128256);
    assert_int_equal(hr_tokenizer_bos(llama3), 128000);
    assert_int_equal(hr_tokenizer_eos(llama3), 128040);
    assert_int_equal(hr_tokenizer_find(llama3, "<|im_end|>", 10), 128040);
    assert_int_equal(hr_tokenizer_find(llama3, "<|im_start|>", 12), 128039);
    assert_int_equal(hr_tokenizer_find(llama3, "<|eot_id|>", 10), 128009);
    assert_int_equal(hr_tokenizer_find(llama3, "<|reserved_special_token_247|>", 30), 128255);
    assert_int_equal(hr_tokenizer_token_type(llama3, 128040), HR_TOK_TYPE_CONTROL);
    assert_int_equal(hr_tokenizer_token_type(llama3, 100), HR_TOK_TYPE_NORMAL);
    assert_true(hr_tokenizer_is_eog(llama3, 128040));
    assert_true(hr_tokenizer_is_eog(llama3, 128009));
    assert_true(hr_tokenizer_is_eog(llama3, 128001));
    assert_false(hr_tokenizer_is_eog(llama3, 128039));
    assert_false(hr_tokenizer_is_eog(llama3, 100));

    int32_t ids[64];
    const char *tmpl = "<|im_start|>user\nhi<|im_end|>\n";
    int n = enc(llama3, tmpl, HR_TOK_PARSE_SPECIAL | HR_TOK_ADD_BOS, ids, 64);
    assert_int_equal(n, 7);
    assert_int_equal(ids[0], 128000);
    assert_int_equal(ids[1], 128039);
    assert_int_equal(ids[2], 882); /* "user" */
    assert_int_equal(ids[3], 198); /* "\n" */
    assert_int_equal(ids[5], 128040);
    assert_int_equal(ids[6], 198);
    /* the same text as user content never yields control tokens */
    n = enc(llama3, tmpl, 0, ids, 64);
    assert_true(n > 7);
    for (int i = 0; i < n; i++) assert_true(ids[i] < 128000);
    char buf[256];
    assert_int_equal(join(llama3, ids, n, buf, sizeof buf), strlen(tmpl));
    assert_memory_equal(buf, tmpl, strlen(tmpl));
}

static void test_spm_specials_and_prefix(void **state) {
    (void)state;
    int32_t ids[64];
    assert_int_equal(hr_tokenizer_kind(spm), HR_TOK_KIND_SPM);
    assert_int_equal(hr_tokenizer_bos(spm), 1);
    assert_true(hr_tokenizer_add_bos(spm));
    int n = enc(spm, "<s>Hi", HR_TOK_PARSE_SPECIAL, ids, 64);
    assert_true(n >= 2);
    assert_int_equal(ids[0], 1);
    /* after a special token the space prefix comes back: "Hi" -> "▁Hi" */
    size_t l;
    const char *tx = hr_tokenizer_token_text(spm, ids[1], &l);
    assert_true(l >= 3 && memcmp(tx, "\xE2\x96\x81", 3) == 0);
    n = enc(spm, "<s>Hi", 0, ids, 64);
    for (int i = 0; i < n; i++) assert_int_not_equal(ids[i], 1);
    /* byte fallback: a character not in the vocab becomes <0xNN> tokens */
    n = enc(spm, "\xF0\x9F\xA6\x99", 0, ids, 64); /* 🦙 */
    int bytes = 0;
    for (int i = 0; i < n; i++) bytes += hr_tokenizer_token_type(spm, ids[i]) == HR_TOK_TYPE_BYTE;
    assert_int_equal(bytes, 4);
    char buf[64];
    size_t w = join(spm, ids, n, buf, sizeof buf);
    assert_int_equal(w, 5); /* " " prefix + 4 bytes */
    assert_memory_equal(buf, " \xF0\x9F\xA6\x99", 5);
}

static void test_round_trip(void **state) {
    (void)state;
    static const char *texts[] = {
        "Hello, world!",
        "  leading and trailing  ",
        "tabs\tand\nnewlines\r\n\n",
        "Ünïcödé — 日本語のテキスト, ελληνικά, русский, العربية",
        "emoji 🦙🚀😶‍🌫️ and math ∑∫√",
        "code: for (int i = 0; i < n; i++) { x += y[i] * 3.14159; }",
        "invalid \xFF\xFE bytes \xC3",
    };
    int32_t ids[1024];
    char buf[4096];
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        size_t len = strlen(texts[k]);
        int n = enc(llama3, texts[k], 0, ids, 1024);
        assert_true(n > 0);
        size_t w = join(llama3, ids, n, buf, sizeof buf);
        assert_int_equal(w, len);
        assert_memory_equal(buf, texts[k], len);
        n = enc(spm, texts[k], 0, ids, 1024);
        assert_true(n > 0);
        w = join(spm, ids, n, buf, sizeof buf);
        assert_int_equal(w, len + 1); /* the added space prefix */
        assert_memory_equal(buf + 1, texts[k], len);
    }
}

static void test_out_too_small(void **state) {
    (void)state;
    int32_t ids[4];
    const char *s = "one two three four five six";
    int need = enc(llama3, s, 0, ids, 4);
    assert_true(need < -4);
    int32_t *big = malloc(sizeof(int32_t) * (size_t)-need);
    assert_int_equal(enc(llama3, s, 0, big, -need), -need);
    assert_int_equal(enc(llama3, s, 0, NULL, 0), need);
    assert_int_equal(enc(llama3, "", 0, ids, 4), 0);
    assert_int_equal(enc(llama3, "", HR_TOK_ADD_BOS, ids, 4), 1);
    free(big);
}

/* 1 if s[0..n) is whole, valid UTF-8 (structure only). */
static int valid_utf8(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t k = s[i] < 0x80 ? 1 : (s[i] & 0xE0) == 0xC0 ? 2 : (s[i] & 0xF0) == 0xE0 ? 3 : (s[i] & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

static void test_detok_stream(void **state) {
    (void)state;
    int32_t ids[64];
    const char *s = "a 🦙 b é";
    int n = enc(llama3, s, 0, ids, 64);
    hr_detok d;
    hr_detok_init(&d, llama3, 0);
    char out[4096], all[256];
    size_t w = 0;
    int held = 0;
    for (int i = 0; i < n; i++) {
        size_t k = hr_detok_push(&d, ids[i], out, sizeof out);
        /* every chunk is whole UTF-8 */
        assert_true(valid_utf8(out, k));
        held += d.n_pending > 0;
        memcpy(all + w, out, k);
        w += k;
    }
    assert_true(held > 0); /* 🦙 is split over several byte-level tokens */
    w += hr_detok_flush(&d, all + w, sizeof all - w);
    assert_int_equal(w, strlen(s));
    assert_memory_equal(all, s, w);

    /* control tokens are silent unless asked for */
    hr_detok_init(&d, llama3, 0);
    assert_int_equal(hr_detok_push(&d, 128040, out, sizeof out), 0);
    hr_detok_init(&d, llama3, 1);
    assert_int_equal(hr_detok_push(&d, 128040, out, sizeof out), 10);
    assert_memory_equal(out, "<|im_end|>", 10);

    /* an incomplete sequence at the end flushes as U+FFFD */
    n = enc(llama3, "🦙", 0, ids, 64);
    assert_true(n >= 2);
    hr_detok_init(&d, llama3, 0);
    assert_int_equal(hr_detok_push(&d, ids[0], out, sizeof out), 0);
    size_t k = hr_detok_flush(&d, out, sizeof out);
    assert_true(k >= 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);

    /* a too small buffer gets a prefix cut at a character, never a half one */
    n = enc(llama3, "\xC3\xA9\xC3\xA9\xC3\xA9", 0, ids, 64); /* "ééé" */
    hr_detok_init(&d, llama3, 0);
    w = 0;
    for (int i = 0; i < n; i++) w += hr_detok_push(&d, ids[i], out + w, 3);
    assert_true(w >= 2 && w % 2 == 0);
    assert_true(valid_utf8(out, w));

    /* spm: the first token's prefix space is dropped */
    n = enc(spm, "Hello world", 0, ids, 64);
    hr_detok_init(&d, spm, 0);
    w = 0;
    for (int i = 0; i < n; i++) w += hr_detok_push(&d, ids[i], all + w, sizeof all - w);
    assert_int_equal(w, 11);
    assert_memory_equal(all, "Hello world", 11);
}

static void test_errors(void **state) {
    (void)state;
    char err[256] = "";
    hr_tok_vocab_desc d = hr_tok_vocab_desc_default();
    const char *toks[] = {"a", "b"};
    d.model = "rwkv";
    d.n_tokens = 2;
    d.tokens = toks;
    assert_null(hr_tokenizer_create(&d, err, sizeof err));
    assert_non_null(strstr(err, "rwkv"));
    d.model = "gpt2";
    d.pre = "no-such-pre";
    assert_null(hr_tokenizer_create(&d, err, sizeof err));
    assert_non_null(strstr(err, "no-such-pre"));
    d.n_tokens = 0;
    assert_null(hr_tokenizer_create(&d, err, sizeof err));

    assert_null(hr_tokenizer_from_tiktoken("/nonexistent/tok.model", 256, 0, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/tok.model"));
    char path[] = "/tmp/hr_tok_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char bad[] = "IQ== 0\nIg== 5\n";
    assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    close(fd);
    assert_null(hr_tokenizer_from_tiktoken(path, 256, 0, err, sizeof err));
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
    hr_tokenizer_free(NULL);
}

/* A tiny in-memory spm vocab: score order decides merges, unknown
 * characters fall back to byte tokens. */
static void test_spm_in_memory(void **state) {
    (void)state;
    const char *toks[] = {"<unk>", "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "ab", "<0x63>", "b\xE2\x96\x81"};
    float scores[] = {0, -3, -2, -2, -1, -0.5f, 0, -5};
    int32_t types[] = {HR_TOK_TYPE_UNKNOWN, 1, 1, 1, 1, 1, HR_TOK_TYPE_BYTE, 1};
    hr_tok_vocab_desc d = hr_tok_vocab_desc_default();
    d.model = "llama";
    d.n_tokens = 8;
    d.tokens = toks;
    d.scores = scores;
    d.types = types;
    d.unk = 0;
    char err[128];
    hr_tokenizer *t = hr_tokenizer_create(&d, err, sizeof err);
    assert_non_null(t);
    int32_t ids[16];
    /* "▁ab▁c": "ab" (-1) beats "b▁" (-5); then "▁ab" (-0.5); c -> <0x63> */
    int n = enc(t, "ab c", 0, ids, 16);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 5);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 6);
    /* no byte token for 'z': <unk> */
    n = enc(t, "z", 0, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 0);
    hr_tokenizer_free(t);
}

/* The synthesizer path: tokens, types and merges exported from the tiktoken
 * tokenizer, written to a GGUF, read back: same ids on real text. */
static void test_gguf_export_round_trip(void **state) {
    (void)state;
    int32_t nm = hr_tokenizer_n_merges(llama3);
    assert_int_equal(nm, 280147); /* what the released Llama 3 GGUFs carry */
    size_t l;
    const char *m0 = hr_tokenizer_merge(llama3, 0, &l);
    assert_int_equal(l, 5);
    assert_memory_equal(m0, "\xC4\xA0 \xC4\xA0", 5); /* "Ġ Ġ": rank 256 is two spaces */
    hr_gguf_writer *w = hr_gguf_writer_create();
    assert_int_equal(hr_tokenizer_write_gguf(llama3, w, 0), 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/hr_tok_export_%d.gguf", (int)getpid());
    char err[256];
    assert_int_equal(hr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), 0);
    hr_gguf_writer_free(w);
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    assert_non_null(g);
    hr_tokenizer *t = hr_tokenizer_from_gguf(g, err, sizeof err);
    hr_gguf_close(g);
    unlink(path);
    assert_non_null(t);
    assert_int_equal(hr_tokenizer_eos(t), 128040);
    static const char *texts[] = {"Hello world, this is a test of the export path.",
                                  "<|im_start|>system\nYou are Hermes 3.<|im_end|>\n",
                                  "数字 1234567 and 'contractions' aren't hard; they'll do  \n\n  spaces"};
    int32_t a[256], b[256];
    for (size_t k = 0; k < 3; k++) {
        int na = enc(llama3, texts[k], HR_TOK_PARSE_SPECIAL, a, 256);
        int nb = enc(t, texts[k], HR_TOK_PARSE_SPECIAL, b, 256);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, sizeof(int32_t) * (size_t)na);
    }
    hr_tokenizer_free(t);
}

/* Long inputs: linear-ish merging and no pathological regex behaviour; the
 * ids must still round-trip. (Speed itself is measured in bench/.) */
static void test_long_input(void **state) {
    (void)state;
    size_t n = 100 * 1024;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = "lorem ipsum dolor sit amet, \n 12345 \xC3\xA9"[i % 36];
    s[n] = 0;
    /* keep it valid UTF-8 at the end */
    if (((unsigned char)s[n - 1] & 0xC0) == 0xC0) s[n - 1] = 'x';
    memset(s + 50000, ' ', 20000); /* one long whitespace run */
    memset(s + 80000, 'a', 10000); /* one long word */
    int32_t *ids = malloc(sizeof(int32_t) * n);
    char *back = malloc(n * 2);
    const hr_tokenizer *ts[] = {llama3, spm};
    for (int k = 0; k < 2; k++) {
        int m = hr_tokenizer_encode(ts[k], s, n, 0, ids, (int)n);
        assert_true(m > 1000);
        size_t w = join(ts[k], ids, m, back, n * 2);
        size_t skip = k == 1; /* spm space prefix */
        assert_int_equal(w, n + skip);
        assert_memory_equal(back + skip, s, n);
    }
    free(s);
    free(ids);
    free(back);
}

/* Random bytes (mostly invalid UTF-8) and random mixes of specials and text:
 * encoding never loses or invents a byte, with or without PARSE_SPECIAL. */
static void test_random_round_trip(void **state) {
    (void)state;
    static const char *const pieces[] = {"<|im_start|>", "<|im_end|>", "<s>", " ", "\n", "ab", "\xC3\xA9",
                                         "\xF0\x9F", "\xA6\x99", "'s", "123", "\t\t", "<|", "|>"};
    unsigned seed = 12345;
    char text[512], back[2048];
    int32_t ids[1024];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = 0, want = (size_t)(seed % 300);
        while (n < want) {
            seed = seed * 1103515245u + 12345u;
            if (iter & 1) {
                const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
                size_t l = strlen(p);
                if (n + l > sizeof text) break;
                memcpy(text + n, p, l);
                n += l;
            } else
                text[n++] = (char)(seed >> 16);
        }
        unsigned flags = (iter & 2) ? HR_TOK_PARSE_SPECIAL : 0;
        const hr_tokenizer *ts[] = {llama3, spm};
        for (int k = 0; k < 2; k++) {
            int m = hr_tokenizer_encode(ts[k], text, n, flags, ids, 1024);
            assert_true(m >= 0);
            size_t w = join(ts[k], ids, m, back, sizeof back);
            if (k == 0) {
                assert_int_equal(w, n);
                assert_memory_equal(back, text, n);
            } else if (n) {
                /* spm adds one space at the start and after each special token */
                size_t specials = 0;
                for (int i = 0; i < m; i++) specials += hr_tokenizer_token_type(spm, ids[i]) == HR_TOK_TYPE_CONTROL;
                if (!(w >= n && w <= n + 1 + specials)) fprintf(stderr, "iter %d n %zu w %zu specials %zu m %d\n", iter, n, w, specials, m);
                assert_true(w >= n && w <= n + 1 + specials);
            }
        }
        seed = seed * 1103515245u + 12345u;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hermes_specials), cmocka_unit_test(test_spm_specials_and_prefix),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_out_too_small),
        cmocka_unit_test(test_detok_stream),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_spm_in_memory),   cmocka_unit_test(test_gguf_export_round_trip),
        cmocka_unit_test(test_long_input),      cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
