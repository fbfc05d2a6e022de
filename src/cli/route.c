/* Placeholder until this subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int hr_cmd_route(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "hermes-router route: not built yet\n");
    return 2;
}
