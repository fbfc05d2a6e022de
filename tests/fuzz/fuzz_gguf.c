/* libFuzzer target for the GGUF reader and the model loader's validation.
 *
 * Build and run (clang): tests/fuzz/run.sh [seconds]
 * Without libFuzzer (-DHR_FUZZ_MAIN) it replays the files given as
 * arguments, for reproducing a crash under gdb or valgrind.
 *
 * Every input must either be rejected with a message or open as a file
 * whose every key, array element and tensor lies inside the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    /* exact-size copy so the sanitizer sees reads past the end */
    uint8_t *p = malloc(size ? size : 1);
    if (size) memcpy(p, data, size);
    hr_gguf *g = hr_gguf_open_memory(p, size, err, sizeof err);
    if (!g) {
        if (!err[0]) abort(); /* every rejection names a reason */
        free(p);
        return 0;
    }
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < hr_gguf_n_kv(g); i++) {
        const char *k = hr_gguf_kv_key(g, i);
        if (hr_gguf_find_key(g, k) != i) abort();
        hr_gguf_array a;
        size_t len;
        double d;
        if (hr_gguf_kv_arr(g, i, &a)) {
            for (uint64_t j = 0; j < a.n && j < 64; j++) {
                const char *s = hr_gguf_arr_str(&a, j, &len);
                if (s) {
                    if ((const uint8_t *)s < p || (const uint8_t *)s + len > p + size) abort();
                    if (len) sink += (uint8_t)s[len - 1];
                } else {
                    sink += (uint64_t)hr_gguf_arr_i64(&a, j);
                }
            }
        } else if (hr_gguf_kv_str(g, i, &len)) {
            sink += len;
        } else if (hr_gguf_kv_num(g, i, &d)) {
            sink += (uint64_t)(d == d);
        }
    }
    for (int64_t i = 0; i < hr_gguf_n_tensors(g); i++) {
        const hr_gguf_tensor *t = hr_gguf_tensor_at(g, i);
        if (hr_gguf_find_tensor(g, t->name) != t) abort();
        if ((const uint8_t *)t->data < p || (const uint8_t *)t->data + t->nbytes > p + size) abort();
        if (t->nbytes) sink += ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    /* the loader's hyperparameter / shape checks (takes ownership of g) */
    hr_model *m = hr_model_from_gguf(g, err, sizeof err);
    hr_model_free(m);
    free(p);
    return 0;
}

#ifdef HR_FUZZ_MAIN
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc((size_t)n + 1);
        size_t got = fread(buf, 1, (size_t)n, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}
#endif
