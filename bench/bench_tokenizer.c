/* Tokenizer speed: load time of the Llama 3 tiktoken vocab (merges derived
 * from ranks) and a GGUF spm vocab, then encode/decode throughput on ~100 KB
 * of mixed text (prose, code, CJK, emoji, long whitespace runs).
 *   bench_tokenizer [SHARED_DIR] [KB]   (default ../shared, 100) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const SAMPLES[] = {
    "The quick brown fox jumps over the lazy dog. It's 3.14159 o'clock, they'll say; we've seen 12,345 foxes!\n",
    "static int f(const char *s, size_t n) {\n    for (size_t i = 0; i < n; i++) if (s[i] == '\\n') return 1;\n}\n",
    "日本語のテキストと中文文本，还有한국어 텍스트。Ελληνικά και русский текст. ",
    "emoji 🦙🚀😶‍🌫️ <|im_start|> not special here \t\t    \n\n\n",
};

static void run(const char *name, const hr_tokenizer *t, const char *text, size_t n) {
    int32_t *ids = malloc(sizeof(int32_t) * (n + 16));
    int reps = 5, m = 0;
    double t0 = now();
    for (int r = 0; r < reps; r++) m = hr_tokenizer_encode(t, text, n, 0, ids, (int)n + 16);
    double enc = (now() - t0) / reps;
    char *out = malloc(n * 4 + 64);
    hr_detok d;
    t0 = now();
    hr_detok_init(&d, t, 0);
    size_t w = 0;
    for (int i = 0; i < m; i++) w += hr_detok_push(&d, ids[i], out + w, HR_TOK_MAX_TOKEN_BYTES * 4);
    double dec = now() - t0;
    printf("%-12s encode %7.2f ms (%6.1f MB/s, %d tokens, %.2f bytes/token)  detok %6.2f ms\n", name, enc * 1e3,
           n / enc / 1e6, m, (double)n / m, dec * 1e3);
    free(out);
    free(ids);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    size_t kb = argc > 2 ? (size_t)atoi(argv[2]) : 100;
    size_t n = kb * 1024;
    char *text = malloc(n + 1);
    size_t w = 0;
    for (int k = 0; w < n; k = (k + 1) % 4) {
        size_t l = strlen(SAMPLES[k]);
        if (w + l > n) break;
        memcpy(text + w, SAMPLES[k], l);
        w += l;
    }
    n = w;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", shared);
    double t0 = now();
    hr_tokenizer *l3 = hr_tokenizer_from_tiktoken(path, 256, 1, err, sizeof err);
    if (!l3) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("load llama3 tiktoken (128256 tokens, %d merges derived): %.1f ms\n", hr_tokenizer_n_merges(l3),
           (now() - t0) * 1e3);
    snprintf(path, sizeof path, "%s/tokenizers/llama-vocab/ggml-vocab-llama-spm.gguf", shared);
    t0 = now();
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    hr_tokenizer *sp = g ? hr_tokenizer_from_gguf(g, err, sizeof err) : NULL;
    hr_gguf_close(g);
    if (!sp) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("load llama-spm GGUF (32000 tokens): %.1f ms\n", (now() - t0) * 1e3);
    printf("input: %zu bytes\n", n);
    run("llama3-bpe", l3, text, n);
    run("llama-spm", sp, text, n);
    hr_tokenizer_free(l3);
    hr_tokenizer_free(sp);
    free(text);
    return 0;
}
