/* hermes-router tokenize: show how a vocabulary splits a text.
 *
 *   hermes-router tokenize -m FILE.gguf "text"
 *   hermes-router tokenize --tiktoken tokenizer.model [--hermes3] "text"
 *
 * Prints one line per token: id, then the piece (its raw bytes, with control
 * characters escaped), then a total. --ids prints only the ids on one line.
 * "-" (or no text) reads the text from stdin (at most 16 MiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/utf8.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#define TOKENIZE_MAX_INPUT (16u << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage: hermes-router tokenize (-m FILE.gguf | --tiktoken FILE [--hermes3]) [options] [TEXT | -]\n"
            "  -m, --model FILE   read the vocabulary of a GGUF file\n"
            "  --tiktoken FILE    read a tiktoken rank file (Llama 3 tokenizer.model) + 256 special tokens\n"
            "  --hermes3          with --tiktoken: Hermes 3 special tokens (<|im_start|>, <|im_end|>)\n"
            "  --special          match special tokens written in the text (<|im_end|>, <s>, ...)\n"
            "  --bos              prepend the BOS token\n"
            "  --ids              print only the ids, space separated\n");
}

/* A piece may be part of a UTF-8 sequence (byte tokens): then its non-ASCII
 * bytes are shown as \xNN rather than printed broken. */
static void print_piece(const char *s, size_t n) {
    int whole = hr_utf8_complete_prefix(s, n) == n && !(n && ((unsigned char)s[0] & 0xC0) == 0x80);
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && !whole)
            printf("\\x%02X", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            printf("\\x%02X", c);
        else
            putchar(c);
    }
    putchar('\'');
}

int hr_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *tiktoken = NULL, *text = NULL;
    int hermes3 = 0, ids_only = 0;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(a, "--tiktoken") && i + 1 < argc)
            tiktoken = argv[++i];
        else if (!strcmp(a, "--hermes3"))
            hermes3 = 1;
        else if (!strcmp(a, "--special"))
            flags |= HR_TOK_PARSE_SPECIAL;
        else if (!strcmp(a, "--bos"))
            flags |= HR_TOK_ADD_BOS;
        else if (!strcmp(a, "--ids"))
            ids_only = 1;
        else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "hermes-router tokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!text)
            text = a;
        else {
            fprintf(stderr, "hermes-router tokenize: give the text as one argument (quote it)\n");
            return 2;
        }
    }
    if (!model == !tiktoken) {
        fprintf(stderr, "hermes-router tokenize: give exactly one of -m FILE.gguf or --tiktoken FILE\n");
        usage(stderr);
        return 2;
    }

    hr_buf in;
    hr_buf_init(&in, TOKENIZE_MAX_INPUT);
    if (!text || !strcmp(text, "-")) {
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (hr_buf_append(&in, chunk, got) != 0) {
                fprintf(stderr, "hermes-router tokenize: input larger than 16 MiB\n");
                hr_buf_free(&in);
                return 1;
            }
    } else
        hr_buf_puts(&in, text);

    char err[512];
    hr_tokenizer *t;
    if (model) {
        hr_gguf *g = hr_gguf_open(model, err, sizeof err);
        if (!g) {
            fprintf(stderr, "hermes-router tokenize: %s\n", err);
            hr_buf_free(&in);
            return 1;
        }
        t = hr_tokenizer_from_gguf(g, err, sizeof err);
        hr_gguf_close(g);
    } else
        t = hr_tokenizer_from_tiktoken(tiktoken, 256, hermes3, err, sizeof err);
    if (!t) {
        fprintf(stderr, "hermes-router tokenize: %s\n", err);
        hr_buf_free(&in);
        return 1;
    }

    const char *data = in.data ? in.data : "";
    int n = hr_tokenizer_encode(t, data, in.len, flags, NULL, 0);
    int cap = n < 0 ? -n : n;
    int32_t *ids = hr_xmalloc((size_t)(cap ? cap : 1) * sizeof *ids);
    n = hr_tokenizer_encode(t, data, in.len, flags, ids, cap);
    if (ids_only) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        char piece[HR_TOK_MAX_TOKEN_BYTES];
        for (int i = 0; i < n; i++) {
            size_t l = hr_tokenizer_token_bytes(t, ids[i], piece, sizeof piece);
            if (l > sizeof piece) l = sizeof piece;
            printf("%7d  ", ids[i]);
            print_piece(piece, l);
            putchar('\n');
        }
        printf("%d tokens, %zu bytes\n", n, in.len);
    }
    free(ids);
    hr_tokenizer_free(t);
    hr_buf_free(&in);
    return 0;
}
