/* hermes-router: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"serve", hr_cmd_serve, "run the gateway (OpenAI API + web UI)"},
    {"route", hr_cmd_route, "dry-run the router on a prompt or a JSONL file"},
    {"log", hr_cmd_log, "request log: export"},
    {"run", hr_cmd_run, "generate text with a GGUF model"},
    {"embed", hr_cmd_embed, "sentence embedding with a BERT-family GGUF (bge, MiniLM)"},
    {"bench", hr_cmd_bench, "benchmark a GGUF model (prompt 512 / generate 128)"},
    {"gguf", hr_cmd_gguf, "inspect or synthesize GGUF files"},
    {"tokenize", hr_cmd_tokenize, "tokenize text with a model's vocabulary"},
    {"train", hr_cmd_train, "train the classifier router"},
    {"eval", hr_cmd_eval, "evaluate routers on labelled data"},
    {"calibrate", hr_cmd_calibrate, "choose the classifier threshold for a target mix"},
    {"label", hr_cmd_label, "export prompts for labelling / import labels"},
    {"cost", hr_cmd_cost, "estimated monthly cost: routed mix vs. one tier"},
    {"pull", hr_cmd_pull, "download a GGUF model (catalogue name or URL) into the models folder"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'hermes-router <command> --help' shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hermes-router: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
