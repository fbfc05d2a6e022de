/* Placeholder until this subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int hr_cmd_log(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "hermes-router log: not built yet\n");
    return 2;
}
