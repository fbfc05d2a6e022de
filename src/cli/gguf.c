/* hermes-router gguf info FILE | gguf synth --shape S --type T -o FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/quant.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router gguf info FILE [--all]\n"
               "       hermes-router gguf synth --shape smollm2-135m|llama-3.2-1b|llama-3.1-8b|tiny|tiny-k\n"
               "                                        |bge-small|bert-tiny (BERT encoders: f32|f16|q8_0|...)\n"
               "                                --type f32|f16|bf16|q8_0|q4_0|q5_0|q4_k|q5_k|q6_k|q4_k_m|q5_k_m\n"
               "                                -o FILE [--vocab GGUF | --tiktoken FILE | --no-vocab] [--seed N]\n"
               "                                [--chat-template FILE]\n");
}

static void print_value(const hr_gguf *g, int64_t i, bool all) {
    hr_gguf_vtype t = hr_gguf_kv_type(g, i);
    if (t == HR_GGUF_STRING) {
        size_t len;
        const char *s = hr_gguf_kv_str(g, i, &len);
        size_t show = len > 60 && !all ? 60 : len;
        putchar('"');
        for (size_t k = 0; k < show; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c == '\n') fputs("\\n", stdout);
            else if (c < 0x20) printf("\\x%02x", c);
            else putchar(c);
        }
        printf("\"%s", show < len ? "..." : "");
        return;
    }
    if (t == HR_GGUF_ARRAY) {
        hr_gguf_array a;
        hr_gguf_kv_arr(g, i, &a);
        printf("[%s x %llu]", hr_gguf_vtype_name(a.type), (unsigned long long)a.n);
        uint64_t show = a.n < 5 || all ? a.n : 5;
        for (uint64_t k = 0; k < show; k++) {
            if (a.type == HR_GGUF_STRING) {
                size_t len;
                const char *s = hr_gguf_arr_str(&a, k, &len);
                printf(" \"%.*s\"", (int)(len > 40 ? 40 : len), s);
            } else {
                printf(" %g", hr_gguf_arr_f64(&a, k));
            }
        }
        if (show < a.n) printf(" ...");
        return;
    }
    double v;
    if (t == HR_GGUF_BOOL) {
        hr_gguf_kv_num(g, i, &v);
        printf("%s", v ? "true" : "false");
    } else if (hr_gguf_kv_num(g, i, &v)) {
        printf("%.10g", v);
    }
}

static int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) all = true;
        else if (!path) path = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    char err[512];
    hr_gguf *g = hr_gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "hermes-router gguf: %s\n", err);
        return 1;
    }
    printf("file: %s\nversion: %u  size: %zu bytes  alignment: %u  data offset: %llu\n", path, hr_gguf_version(g),
           hr_gguf_file_size(g), hr_gguf_alignment(g), (unsigned long long)hr_gguf_data_offset(g));
    printf("\nmetadata (%lld keys):\n", (long long)hr_gguf_n_kv(g));
    for (int64_t i = 0; i < hr_gguf_n_kv(g); i++) {
        printf("  %-44s %-7s ", hr_gguf_kv_key(g, i), hr_gguf_vtype_name(hr_gguf_kv_type(g, i)));
        print_value(g, i, all);
        putchar('\n');
    }
    printf("\ntensors (%lld):\n  %-4s %-36s %-6s %-24s %12s %12s\n", (long long)hr_gguf_n_tensors(g), "#", "name",
           "type", "shape", "offset", "bytes");
    size_t total = 0, by_type[64] = {0};
    int count_type[64] = {0};
    for (int64_t i = 0; i < hr_gguf_n_tensors(g); i++) {
        const hr_gguf_tensor *t = hr_gguf_tensor_at(g, i);
        const hr_type_traits *tr = hr_type_get(t->type);
        char shape[64] = "";
        for (int d = 0; d < t->n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? " x " : "", (long long)t->ne[d]);
        printf("  %-4lld %-36s %-6s %-24s %12llu %12zu\n", (long long)i, t->name, tr ? tr->name : "?", shape,
               (unsigned long long)t->offset, t->nbytes);
        total += t->nbytes;
        if (t->type >= 0 && t->type < 64) {
            by_type[t->type] += t->nbytes;
            count_type[t->type]++;
        }
    }
    printf("\ntotal tensor data: %.2f MiB;", (double)total / (1 << 20));
    for (int t = 0; t < 64; t++)
        if (count_type[t]) {
            const hr_type_traits *tr = hr_type_get(t);
            printf(" %d %s (%.1f MiB)", count_type[t], tr ? tr->name : "?", (double)by_type[t] / (1 << 20));
        }
    printf("\n");
    hr_gguf_close(g);
    return 0;
}

static const char *shared_dir(void) {
    const char *e = getenv("HR_SHARED");
    if (e && *e) return e;
    if (access("../shared", R_OK) == 0) return "../shared";
    return "/work/shared";
}

static void progress(void *ud, double frac) {
    (void)ud;
    int w = 40, n = (int)(frac * w + 0.5);
    fprintf(stderr, "\r  [%.*s%*s] %3.0f%%", n, "########################################", w - n, "", frac * 100);
    if (frac >= 1.0) fputc('\n', stderr);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            if (cap > (1u << 24)) break;
            buf = realloc(buf, cap);
            if (!buf) break;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096) break;
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

static int cmd_synth(int argc, char **argv) {
    hr_synth_params p = hr_synth_default_params();
    p.shape = NULL;
    p.type = NULL;
    const char *out = NULL, *vocab = NULL, *tiktoken = NULL, *tmpl_path = NULL;
    bool no_vocab = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--shape") && has) p.shape = argv[++i];
        else if (!strcmp(a, "--type") && has) p.type = argv[++i];
        else if (!strcmp(a, "-o") && has) out = argv[++i];
        else if (!strcmp(a, "--vocab") && has) vocab = argv[++i];
        else if (!strcmp(a, "--tiktoken") && has) tiktoken = argv[++i];
        else if (!strcmp(a, "--chat-template") && has) tmpl_path = argv[++i];
        else if (!strcmp(a, "--seed") && has) p.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--no-vocab")) no_vocab = true;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!p.shape || !p.type || !out) {
        usage(stderr);
        return 2;
    }
    static char vbuf[4096];
    if (!vocab && !tiktoken && !no_vocab) {
        const char *dv = hr_synth_shape_vocab(p.shape);
        if (dv) {
            const char *colon = strchr(dv, ':');
            snprintf(vbuf, sizeof vbuf, "%s/%s", shared_dir(), colon + 1);
            if (!strncmp(dv, "gguf:", 5)) vocab = vbuf;
            else tiktoken = vbuf;
        }
    }
    p.vocab_gguf = vocab;
    p.vocab_tiktoken = tiktoken;
    char *tmpl = NULL;
    if (tmpl_path) {
        tmpl = read_text(tmpl_path);
        if (!tmpl) {
            fprintf(stderr, "hermes-router gguf synth: cannot read %s\n", tmpl_path);
            return 1;
        }
        p.chat_template = tmpl;
    }
    p.progress = isatty(2) ? progress : NULL;
    fprintf(stderr, "synthesizing %s %s -> %s (vocab: %s)\n", p.shape, p.type, out,
            vocab ? vocab : tiktoken ? tiktoken : "generated");
    char err[512];
    int rc = hr_synth_write(&p, out, err, sizeof err);
    free(tmpl);
    if (rc != 0) {
        fprintf(stderr, "hermes-router gguf synth: %s\n", err);
        return 1;
    }
    return 0;
}

int hr_cmd_gguf(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    fprintf(stderr, "hermes-router gguf: unknown subcommand '%s' (info, synth)\n", argv[1]);
    return 2;
}
