/* hermes-router serve: run the gateway. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/embedded.h"
#include "cli/cli.h"
#include "cli/pull.h"
#include "core/buf.h"
#include "core/log.h"
#include "gateway/gateway.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router serve [--config FILE] [--host H] [--port N] [--threads N] [--quiet]\n"
               "  --config FILE   YAML config (default: $HERMES_ROUTER_CONFIG, else hermes-router.yaml if present,\n"
               "                  else built-in: two embedded tiers on the models in $HERMES_ROUTER_MODELS or\n"
               "                  ~/.cache/hermes-router/models, or $HERMES_ROUTER_MODEL=PATH[,PATH])\n"
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
            if (b->type == HR_BACKEND_OPENAI)
                fprintf(stderr, "    openai %s model=%s tools=%s\n", b->url, b->model ? b->model : "-",
                        b->tool_format == HR_TOOLS_HERMES ? "hermes" : "openai");
            else
                fprintf(stderr, "    embedded %s\n", b->model);
        }
    }
    enum { MAX_SHOWN = 8 };
    hr_embedded_info info[MAX_SHOWN];
    int n = hr_embedded_list(info, MAX_SHOWN);
    for (int i = 0; i < n && i < MAX_SHOWN; i++) {
        const hr_embedded_info *m = &info[i];
        double p = (double)m->n_params;
        fprintf(stderr, "  model %s: %.1f MB %s, %.*f%s params, context %d x %d slots, template %s, %d threads\n",
                m->name, (double)m->file_bytes / 1e6, m->quant, p >= 1e9 ? 1 : 0,
                p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3, p >= 1e9 ? "B" : p >= 1e6 ? "M" : "K", m->n_ctx,
                m->n_seq, m->tmpl, m->n_threads);
    }
}

/* ---- the built-in configuration (no config file) ---------------------------- */

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* First catalogue file present in dir, by preference. */
static bool find_in_dir(const char *dir, const char *const *names, char *out, size_t cap) {
    for (int i = 0; names[i]; i++) {
        const hr_catalogue_entry *e = hr_catalogue_find(names[i]);
        if (!e) continue;
        snprintf(out, cap, "%s/%s", dir, e->file);
        if (file_exists(out)) return true;
    }
    return false;
}

/* The small model shipped next to the sources (../shared/models here). */
static bool find_local_small(char *out, size_t cap) {
    const char *shared = getenv("HR_SHARED");
    if (shared && shared[0]) {
        snprintf(out, cap, "%s/models/stories260K.gguf", shared);
        if (file_exists(out)) return true;
    }
    snprintf(out, cap, "../shared/models/stories260K.gguf");
    if (file_exists(out)) return true;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0; /* build dir */
        snprintf(out, cap, "%.*s/../../shared/models/stories260K.gguf", (int)(cap > 64 ? cap - 64 : 0), exe);
        if (file_exists(out)) return true;
    }
    return false;
}

static void yaml_quoted(hr_buf *b, const char *s) {
    hr_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') hr_buf_append(b, "\\", 1);
        hr_buf_append(b, s, 1);
    }
    hr_buf_puts(b, "\"");
}

/* Two embedded tiers: $HERMES_ROUTER_MODEL ("path" or "small,medium"), else
 * the best catalogue files in the models folder, else a pull of
 * SmolLM2-135M-Instruct (unless $HERMES_ROUTER_NO_PULL), else the small local
 * model (said in one line). NULL with err when there is no model at all. */
static hr_config *default_config(char *err, size_t errlen) {
    static const char *const small_pref[] = {"SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct:Q8_0",
                                             "SmolLM2-360M-Instruct", "SmolLM2-360M-Instruct:Q8_0", NULL};
    static const char *const medium_pref[] = {"Hermes-3-Llama-3.1-8B", "Hermes-3-Llama-3.1-8B:Q8_0",
                                              "SmolLM2-1.7B-Instruct", "SmolLM2-1.7B-Instruct:Q8_0",
                                              "SmolLM2-360M-Instruct", "SmolLM2-360M-Instruct:Q8_0", NULL};
    char small[PATH_MAX] = "", medium[PATH_MAX] = "", dir[2048];
    hr_models_dir(dir, sizeof dir);
    const char *env = getenv("HERMES_ROUTER_MODEL");
    if (env && env[0]) {
        const char *comma = strchr(env, ',');
        snprintf(small, sizeof small, "%.*s", comma ? (int)(comma - env) : (int)strlen(env), env);
        snprintf(medium, sizeof medium, "%s", comma ? comma + 1 : env);
        if (!file_exists(small) || !file_exists(medium)) {
            snprintf(err, errlen, "HERMES_ROUTER_MODEL=%s: no such file", env);
            return NULL;
        }
    } else {
        bool have_small = find_in_dir(dir, small_pref, small, sizeof small);
        bool have_medium = find_in_dir(dir, medium_pref, medium, sizeof medium);
        if (!have_small && have_medium) snprintf(small, sizeof small, "%s", medium);
        if (have_small && !have_medium) snprintf(medium, sizeof medium, "%s", small);
        if (!have_small && !have_medium) {
            char perr[1200] = "";
            const char *np = getenv("HERMES_ROUTER_NO_PULL");
            bool pulled = false;
            if (!(np && np[0] && strcmp(np, "0"))) {
                fprintf(stderr, "hermes-router: no model in %s; pulling SmolLM2-135M-Instruct\n", dir);
                pulled = hr_pull("SmolLM2-135M-Instruct", dir, NULL, true, 5, small, sizeof small, perr,
                                 sizeof perr) == 0;
            } else {
                snprintf(perr, sizeof perr, "HERMES_ROUTER_NO_PULL is set");
            }
            if (pulled) {
                snprintf(medium, sizeof medium, "%s", small);
            } else if (find_local_small(small, sizeof small)) {
                snprintf(medium, sizeof medium, "%s", small);
                fprintf(stderr,
                        "hermes-router: no model in %s and no download (%s); starting with the small local model %s "
                        "(hermes-router pull SmolLM2-135M-Instruct for a real one)\n",
                        dir, perr, small);
            } else {
                snprintf(err, errlen,
                         "no model found in %.200s (%.120s): run 'hermes-router pull SmolLM2-135M-Instruct', or set "
                         "HERMES_ROUTER_MODEL=/path/to/model.gguf, or give --config FILE",
                         dir, perr);
                return NULL;
            }
        }
    }
    hr_buf y;
    hr_buf_init(&y, 0);
    hr_buf_puts(&y, "tiers:\n");
    const char *tiers[2] = {"small", "medium"}, *aliases[2] = {"hermes-8b", "hermes-70b"};
    const char *paths[2] = {small, medium};
    for (int t = 0; t < 2; t++) {
        hr_buf_printf(&y, "  %s:\n    aliases: [%s]\n    backends:\n      - type: embedded\n        model: ", tiers[t],
                      aliases[t]);
        yaml_quoted(&y, paths[t]);
        hr_buf_puts(&y, "\n        parallel: 4\n");
    }
    hr_buf_puts(&y, "router:\n  strategy: rules\n");
    hr_config *cfg = hr_config_parse(y.data, y.len, "(built-in defaults)", err, errlen);
    hr_buf_free(&y);
    if (cfg) {
        free(cfg->path);
        cfg->path = NULL;
    }
    return cfg;
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
        cfg = default_config(err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "hermes-router: %s\n", err);
            return 1;
        }
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
