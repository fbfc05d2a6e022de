/* Grammar-constrained decoding cost with the Llama 3 vocabulary (128K + 256
 * specials, Hermes 3 ChatML ids): time to compute and apply the token mask
 * per generated token (p50 / p99 / max), for a few schemas, along
 *   - "text": the tokens of a realistic valid answer (what a model emits),
 *   - "random": a model drawing uniformly among the allowed tokens (long
 *     random strings, many cold states: the worst case),
 * against the matrix work of one token of Llama-3.1-8B Q4_K_M, estimated from
 * this machine's Q4_K matmul kernel on a 14336x4096 matrix (8.03e9 weights,
 * split over the threads given). Mask times are thread CPU time (a shared
 * machine's preemption is not mask cost). Prints a markdown table;
 * HR_BENCH_SLOW_MS=x also lists the masks slower than x ms.
 *   bench_grammar [SHARED_DIR] [THREADS]   (default ../shared, 2) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/grammar.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Thread CPU time: the machine may be shared, and preemption is not mask cost. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    const char *schema; /* NULL = json_object; "tools" = tool mode */
    const char *text;   /* a valid output */
} bcase;

static const char *TOOLS =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search_web\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"query\":{\"type\":\"string\"},\"max_results\":{\"type\":\"integer\"}},\"required\":[\"query\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"send_email\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"to\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"subject\":{\"type\":\"string\"},"
    "\"body\":{\"type\":\"string\"}},\"required\":[\"to\",\"body\"],\"additionalProperties\":false}}}]";

static const bcase CASES[] = {
    {"json_object", NULL,
     "{\n  \"summary\": \"The quarterly report shows revenue growth of 12% driven by cloud services.\",\n"
     "  \"risks\": [\"currency exposure\", \"supplier concentration\"],\n  \"score\": 0.82,\n  \"approved\": true\n}"},
    {"person (object, enum, array)",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
     "\"email\":{\"type\":\"string\"},\"role\":{\"enum\":[\"admin\",\"editor\",\"viewer\"]},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":5}},"
     "\"required\":[\"name\",\"age\",\"role\"],\"additionalProperties\":false}",
     "{\"name\": \"Ada Lovelace\", \"age\": 36, \"email\": \"ada@example.org\", \"role\": \"editor\", "
     "\"tags\": [\"math\", \"engines\", \"poetry\"]}"},
    {"nested anyOf + $ref tree",
     "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\"},"
     "\"weight\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"null\"}]},"
     "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"label\"]}},"
     "\"$ref\":\"#/$defs/node\"}",
     "{\"label\": \"root\", \"weight\": null, \"children\": [{\"label\": \"left branch\", \"weight\": 1.5, "
     "\"children\": []}, {\"label\": \"right\", \"children\": [{\"label\": \"leaf\", \"weight\": -2}]}]}"},
    {"tool call (3 tools, auto)", "tools",
     "I'll look that up for you.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
     "\"unit\": \"celsius\", \"days\": 3}}\n</tool_call>"},
};

typedef struct {
    double p50, p99, max, mean;
    int n;
    unsigned long long hits, computed;
} stats;

static void summarize(double *t, int n, stats *s) {
    qsort(t, (size_t)n, sizeof *t, dcmp);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += t[i];
    s->n = n;
    s->p50 = n ? t[n / 2] : 0;
    s->p99 = n ? t[(int)((n - 1) * 0.99)] : 0;
    s->max = n ? t[n - 1] : 0;
    s->mean = n ? sum / n : 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* mode 0: follow ids[]; mode 1: draw uniformly among allowed tokens */
static void run(const hr_grammar *g, const hr_grammar_vocab *v, const hr_tokenizer *t, const int32_t *ids, int nids,
                int mode, int budget, stats *s) {
    int nv = hr_tokenizer_n_vocab(t);
    float *logits = malloc((size_t)nv * sizeof *logits);
    size_t nw = ((size_t)nv + 63) / 64;
    uint64_t *bits = malloc(nw * sizeof *bits);
    double *times = malloc(sizeof(double) * (size_t)(budget + nids + 8));
    hr_grammar_state *st = hr_grammar_state_create(g, v, budget, NULL, 0);
    int n = 0;
    int32_t last = -1;
    const char *sl = getenv("HR_BENCH_SLOW_MS");
    double slow_ms = sl ? atof(sl) : 0;
    for (int step = 0; step < budget; step++) {
        for (int i = 0; i < nv; i++) logits[i] = 0.0f;
        double t0 = cpu_now();
        int r = hr_grammar_mask(st, logits, nv);
        times[n++] = cpu_now() - t0;
        if (r != 0) break;
        if (slow_ms > 0 && times[n - 1] * 1e3 > slow_ms) {
            char tb[64];
            size_t l = step > 0 ? hr_tokenizer_token_bytes(t, last, tb, sizeof tb) : 0;
            fprintf(stderr, "  slow mask %.2f ms at step %d after token '%.*s' (remaining %d)\n", times[n - 1] * 1e3, step,
                    (int)l, tb, hr_grammar_remaining(st));
        }
        int32_t id;
        if (mode == 0) {
            if (step >= nids) break;
            id = ids[step];
        } else {
            int cnt = hr_grammar_allowed(st, bits, nw), target = (int)(rnd() % (uint64_t)cnt), seen = 0;
            id = -1;
            for (size_t w = 0; w < nw && id < 0; w++) {
                int pc = __builtin_popcountll(bits[w]);
                if (seen + pc <= target) {
                    seen += pc;
                    continue;
                }
                uint64_t m = bits[w];
                for (int k = target - seen; k > 0; k--) m &= m - 1;
                id = (int32_t)(w * 64 + (size_t)__builtin_ctzll(m));
            }
        }
        last = id;
        if (hr_grammar_accept(st, id) != 0) {
            fprintf(stderr, "token %d refused at step %d\n", id, step);
            break;
        }
        if (hr_grammar_ended(st)) break;
    }
    unsigned long long h, c;
    hr_grammar_state_stats(st, (uint64_t *)&h, (uint64_t *)&c);
    summarize(times, n, s);
    s->hits = h;
    s->computed = c;
    hr_grammar_state_free(st);
    free(times);
    free(bits);
    free(logits);
}

/* Seconds of Q4_K matmul per weight on this machine (n_batch 1, one thread). */
static double q4k_sec_per_weight(void) {
    const int64_t rows = 14336, k = 4096;
    size_t rb = hr_type_row_bytes(HR_TYPE_Q4_K, k);
    unsigned char *w = malloc(rb * (size_t)rows);
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < k; i++) row[i] = (float)((rnd() % 2001) / 1000.0 - 1.0) * 0.02f;
        if (r < 64) hr_quantize_row(HR_TYPE_Q4_K, row, w + (size_t)r * rb, k);
        else memcpy(w + (size_t)r * rb, w + (size_t)(r % 64) * rb, rb);
    }
    for (int64_t i = 0; i < k; i++) row[i] = (float)((rnd() % 2001) / 1000.0 - 1.0);
    size_t xb = hr_type_row_bytes(hr_vec_dot_type(HR_TYPE_Q4_K), k);
    void *xq = malloc(xb);
    hr_quantize_activation_row(HR_TYPE_Q4_K, row, xq, k);
    float *y = malloc(sizeof(float) * (size_t)rows);
    hr_matmul_rows(HR_TYPE_Q4_K, w, k, 0, rows, xq, 1, y, rows); /* warm */
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        hr_matmul_rows(HR_TYPE_Q4_K, w, k, 0, rows, xq, 1, y, rows);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(w), free(row), free(xq), free(y);
    return best / (double)(rows * k);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (threads < 1) threads = 1;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", shared);
    hr_tokenizer *t = hr_tokenizer_from_tiktoken(path, 256, 1, err, sizeof err);
    if (!t) {
        fprintf(stderr, "bench_grammar: %s\n", err);
        return 1;
    }
    double t0 = now();
    hr_grammar_vocab *v = hr_grammar_vocab_create(t);
    double vocab_ms = (now() - t0) * 1e3;
    double spw = q4k_sec_per_weight();
    double token_ms = spw * 8.03e9 / threads * 1e3;
    printf("# grammar mask cost, Llama 3 vocab (%d tokens)\n\n", hr_tokenizer_n_vocab(t));
    printf("vocab index build: %.1f ms (once per model)\n", vocab_ms);
    printf("Llama-3.1-8B Q4_K_M matmul estimate: %.2f ns/weight x 8.03e9 / %d threads = %.1f ms/token (SIMD %s)\n\n",
           spw * 1e9, threads, token_ms, hr_simd_level());
    printf("| schema | path | tokens | compile ms | mask p50 ms | mask p99 ms | mask max ms | mean ms | cache hits | p50 / token | p99 / token |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const bcase *bc = &CASES[c];
        t0 = now();
        hr_grammar *g;
        if (bc->schema && !strcmp(bc->schema, "tools")) {
            cJSON *tools = cJSON_Parse(TOOLS);
            g = hr_grammar_from_tools(tools, HR_GRAMMAR_TOOLS_AUTO, NULL, true, err, sizeof err);
            cJSON_Delete(tools);
        } else g = hr_grammar_from_schema(bc->schema, err, sizeof err);
        double compile_ms = (now() - t0) * 1e3;
        if (!g) {
            fprintf(stderr, "%s: %s\n", bc->name, err);
            return 1;
        }
        int32_t ids[4096];
        int nids = hr_tokenizer_encode(t, bc->text, strlen(bc->text), 0, ids, 4096);
        for (int mode = 0; mode < 2; mode++) {
            stats s;
            run(g, v, t, ids, nids, mode, mode == 0 ? nids + 64 : 400, &s);
            printf("| %s | %s | %d | %.2f | %.3f | %.3f | %.3f | %.3f | %llu/%llu | %.2f%% | %.2f%% |\n", bc->name,
                   mode ? "random" : "text", s.n, compile_ms, s.p50 * 1e3, s.p99 * 1e3, s.max * 1e3, s.mean * 1e3,
                   s.hits, s.hits + s.computed, 100 * s.p50 * 1e3 / token_ms, 100 * s.p99 * 1e3 / token_ms);
        }
        hr_grammar_free(g);
    }
    hr_grammar_vocab_free(v);
    hr_tokenizer_free(t);
    return 0;
}
