/* hermes-router serve: run the gateway. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "gateway/gateway.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router serve [--config FILE] [--host H] [--port N] [--threads N] [--quiet]\n"
               "  --config FILE   YAML config (default: $HERMES_ROUTER_CONFIG, else hermes-router.yaml if present)\n"
               "  --port N        override server.port (0 = any free port)\n");
}

static void print_banner(hr_gateway *gw) {
    const hr_config *c = hr_gateway_config(gw);
    fprintf(stderr, "hermes-router listening on http://%s:%d\n", c->host, hr_gateway_port(gw));
    fprintf(stderr, "  API:  http://%s:%d/v1/chat/completions   UI: http://%s:%d/\n", c->host, hr_gateway_port(gw),
            c->host, hr_gateway_port(gw));
    fprintf(stderr, "  config: %s   router: %s   log: %s\n", c->path ? c->path : "(built-in defaults)", c->strategy,
            !c->log.enabled ? "off" : c->log.postgres_url ? "postgres" : c->log.sqlite_path);
    for (int t = 0; t < HR_TIER_MAX; t++) {
        const hr_tier_config *tc = &c->tiers[t];
        if (!tc->enabled) continue;
        fprintf(stderr, "  tier %-6s", hr_tier_name(t));
        for (size_t i = 0; i < tc->n_aliases; i++) fprintf(stderr, "%s%s", i ? "," : " aliases ", tc->aliases[i]);
        fprintf(stderr, "\n");
        for (size_t i = 0; i < tc->n_backends; i++) {
            const hr_backend_config *b = &tc->backends[i];
            fprintf(stderr, "    %s %s model=%s tools=%s\n", b->type == HR_BACKEND_OPENAI ? "openai" : "embedded",
                    b->url ? b->url : "", b->model ? b->model : "-",
                    b->tool_format == HR_TOOLS_HERMES ? "hermes" : "openai");
        }
    }
}

int hr_cmd_serve(int argc, char **argv) {
    const char *config = getenv("HERMES_ROUTER_CONFIG");
    const char *host = NULL;
    int port = -1, threads = -1;
    static struct option opts[] = {{"config", required_argument, 0, 'c'}, {"host", required_argument, 0, 'H'},
                                   {"port", required_argument, 0, 'p'},   {"threads", required_argument, 0, 't'},
                                   {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
                                   {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:H:p:t:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'q': hr_log_set_level(HR_LOG_WARN); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!config) {
        FILE *f = fopen("hermes-router.yaml", "r");
        if (f) {
            fclose(f);
            config = "hermes-router.yaml";
        }
    }
    char err[512];
    hr_config *cfg;
    if (config) {
        cfg = hr_config_load(config, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "hermes-router: %s\n", err);
            return 1;
        }
    } else {
        fprintf(stderr, "hermes-router: no config given (--config FILE, $HERMES_ROUTER_CONFIG or ./hermes-router.yaml);"
                        " see docs/config.example.yaml\n");
        return 1;
    }
    if (host) {
        free(cfg->host);
        cfg->host = strdup(host);
    }
    if (port >= 0) cfg->port = port;
    if (threads >= 0) cfg->threads = threads;
    hr_gateway *gw = hr_gateway_create(cfg, err, sizeof err);
    if (!gw) {
        fprintf(stderr, "hermes-router: %s\n", err);
        return 1;
    }
    print_banner(gw);
    hr_gateway_run(gw);
    hr_gateway_free(gw);
    return 0;
}
