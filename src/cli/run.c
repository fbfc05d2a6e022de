/* Placeholder until this subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int hr_cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "hermes-router run: not built yet\n");
    return 2;
}
