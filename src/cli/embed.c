/* hermes-router embed -m FILE.gguf (-p TEXT | -f FILE) [-r N] [--all]
 * Sentence embedding with a BERT-family GGUF (bge, MiniLM): prints the
 * dimension, the token count, the time per embedding and the first values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "engine/engine.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router embed -m FILE.gguf (-p TEXT | -f FILE) [-r REPEAT] [--all]\n"
               "  -f FILE read the text from a file ('-': stdin)\n"
               "  -r N    embed N times and report the mean time (default 1)\n"
               "  --all   print every value, not just the first 8\n");
}

int hr_cmd_embed(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int repeat = 1;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") && has) model = argv[++i];
        else if (!strcmp(a, "-p") && has) prompt = argv[++i];
        else if (!strcmp(a, "-f") && has) file = argv[++i];
        else if (!strcmp(a, "-r") && has) repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--all")) all = true;
        else {
            fprintf(stderr, "hermes-router embed: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !prompt == !file || repeat < 1) {
        usage(stderr);
        return 2;
    }
    hr_buf text;
    hr_buf_init(&text, 0);
    if (file) {
        FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "hermes-router embed: cannot read %s\n", file);
            return 1;
        }
        char chunk[65536];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) hr_buf_append(&text, chunk, k);
        if (f != stdin) fclose(f);
    } else {
        hr_buf_puts(&text, prompt);
    }
    char err[512];
    uint64_t t0 = hr_now_ns();
    hr_embedder *e = hr_embedder_load(model, err, sizeof err);
    if (!e) {
        fprintf(stderr, "hermes-router embed: %s\n", err);
        hr_buf_free(&text);
        return 1;
    }
    uint64_t t1 = hr_now_ns();
    int dim = hr_embedder_dim(e);
    float *v = hr_xmalloc((size_t)dim * sizeof(float));
    int n = 0;
    uint64_t t2 = hr_now_ns();
    for (int r = 0; r < repeat && n >= 0; r++) n = hr_embedder_embed(e, text.data, text.len, v, err, sizeof err);
    uint64_t t3 = hr_now_ns();
    if (n < 0) {
        fprintf(stderr, "hermes-router embed: %s\n", err);
        free(v);
        hr_buf_free(&text);
        hr_embedder_free(e);
        return 1;
    }
    printf("dim: %d\ntokens: %d (max %d)\ntime: %.3f ms per embedding (%d run%s, load %.1f ms)\n", dim, n,
           hr_embedder_max_tokens(e), (double)(t3 - t2) / 1e6 / repeat, repeat, repeat == 1 ? "" : "s",
           (double)(t1 - t0) / 1e6);
    int show = all || dim < 8 ? dim : 8;
    printf("embedding:");
    for (int i = 0; i < show; i++) printf(" %.6f", v[i]);
    printf("%s\n", show < dim ? " ..." : "");
    free(v);
    hr_buf_free(&text);
    hr_embedder_free(e);
    return 0;
}
