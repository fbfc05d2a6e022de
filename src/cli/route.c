/* hermes-router route: dry-run the router, no backend is contacted.
 *
 *   hermes-router route [--config FILE] [--json] [--model NAME] [--max-tokens N] "prompt text" | -
 *       prints tier, reason, strategy and decision time for one user message
 *       ("-" reads the prompt from stdin); --json prints one JSON object with
 *       the features behind the decision.
 *   hermes-router route [--config FILE] --jsonl FILE|-
 *       reads one JSON object per line, either {"id", "prompt", "max_tokens"?}
 *       or a chat request {"id", "messages": [...], "max_tokens"?, "model"?},
 *       and writes {"id", "tier", "reason", "probabilities"} per line to stdout
 *       (probabilities: {tier: p} from the classifier, null for rules).
 *       A bad line is reported on stderr as FILE:LINE: why, and skipped; the
 *       exit status is then 1.
 *
 * Without --config all three tiers are enabled with the built-in rules.
 * Limits: a prompt or a JSONL line is at most the config's max_body (4 MiB). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/chat.h"
#include "core/config.h"
#include "router/router.h"

static void route_usage(FILE *f) {
    fprintf(f,
            "usage: hermes-router route [--config FILE] [--json] [--model NAME] [--max-tokens N] \"prompt text\" | -\n"
            "       hermes-router route [--config FILE] --jsonl FILE|-\n"
            "Dry-runs the router: prints the tier, the reason, the strategy and the decision time.\n"
            "  --config FILE     YAML config (default: built-in rules, all three tiers enabled)\n"
            "  --json            one JSON object, with the features behind the decision\n"
            "  --model NAME      the request's model field (tier, alias or auto; default auto)\n"
            "  --max-tokens N    the request's max_tokens\n"
            "  --jsonl FILE      batch: lines {\"id\",\"prompt\"} or {\"id\",\"messages\",\"max_tokens\"?};\n"
            "                    writes {\"id\",\"tier\",\"reason\",\"probabilities\"} per line (\"-\" = stdin)\n");
}

static double round_to(double v, double unit) { return round(v / unit) * unit; }

static cJSON *probs_json(const hr_route_decision *d) {
    if (d->n_probs <= 0) return cJSON_CreateNull();
    cJSON *p = cJSON_CreateObject();
    for (int i = 0; i < d->n_probs && i < HR_TIER_MAX; i++)
        cJSON_AddNumberToObject(p, hr_tier_name(i), round_to(d->probs[i], 1e-6));
    return p;
}

/* Reads a whole stream into a capped buffer; -1 when over the cap. */
static int read_all(FILE *f, hr_buf *out) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hr_buf_append(out, chunk, n) < 0) return -1;
    return ferror(f) ? -1 : 0;
}

/* Reads one line (without the newline) into line, which has a cap. Returns 1
 * for a line, 0 at the end, -1 for a line over the cap (the rest of it is
 * consumed). */
static int read_line(FILE *f, hr_buf *line) {
    hr_buf_reset(line);
    char chunk[8192];
    int toobig = 0, any = 0;
    while (fgets(chunk, sizeof chunk, f)) {
        any = 1;
        size_t n = strlen(chunk);
        int end = n > 0 && chunk[n - 1] == '\n';
        if (end) n--;
        if (!toobig && hr_buf_append(line, chunk, n) < 0) toobig = 1;
        if (end) break;
    }
    if (!any) return 0;
    if (toobig) return -1;
    if (line->len && line->data[line->len - 1] == '\r') line->data[--line->len] = 0;
    return 1;
}

static int route_jsonl(hr_router *r, const hr_config *cfg, const char *path) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "hermes-router route: %s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    hr_buf line;
    hr_buf_init(&line, cfg->max_body_bytes);
    size_t lineno = 0, bad = 0;
    int got;
    while ((got = read_line(f, &line)) != 0) {
        lineno++;
        if (got < 0) {
            fprintf(stderr, "%s:%zu: line longer than %zu bytes\n", path, lineno, cfg->max_body_bytes);
            bad++;
            continue;
        }
        size_t i = 0;
        while (i < line.len && (line.data[i] == ' ' || line.data[i] == '\t')) i++;
        if (i == line.len) continue; /* blank line */
        cJSON *obj = cJSON_ParseWithLength(line.data, line.len);
        if (!cJSON_IsObject(obj)) {
            fprintf(stderr, "%s:%zu: not a JSON object\n", path, lineno);
            cJSON_Delete(obj);
            bad++;
            continue;
        }
        cJSON *id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(obj, "id"), 1);
        if (!id) id = cJSON_CreateNull();
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(obj, "prompt");
        if (!cJSON_GetObjectItemCaseSensitive(obj, "messages")) {
            if (!cJSON_IsString(prompt)) {
                fprintf(stderr, "%s:%zu: needs a string 'prompt' or a 'messages' array\n", path, lineno);
                cJSON_Delete(obj);
                cJSON_Delete(id);
                bad++;
                continue;
            }
            cJSON *msgs = cJSON_AddArrayToObject(obj, "messages");
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddStringToObject(m, "content", prompt->valuestring);
            cJSON_AddItemToArray(msgs, m);
        }
        hr_chat_request req;
        hr_request_error rerr;
        if (hr_chat_request_from_json(obj, &req, &rerr) < 0) { /* takes obj */
            fprintf(stderr, "%s:%zu: %s\n", path, lineno, rerr.message);
            cJSON_Delete(id);
            bad++;
            continue;
        }
        hr_route_decision d;
        if (hr_router_decide(r, &req, false, &d) < 0) {
            fprintf(stderr, "%s:%zu: model '%s' is not a tier, an alias or auto\n", path, lineno, req.model);
            hr_chat_request_free(&req);
            cJSON_Delete(id);
            bad++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "id", id);
        cJSON_AddStringToObject(o, "tier", hr_tier_name(d.tier));
        cJSON_AddStringToObject(o, "reason", d.reason);
        cJSON_AddItemToObject(o, "probabilities", probs_json(&d));
        char *s = cJSON_PrintUnformatted(o);
        if (!s) {
            fprintf(stderr, "hermes-router route: out of memory\n");
            abort();
        }
        puts(s);
        free(s);
        cJSON_Delete(o);
        hr_route_decision_clear(&d);
        hr_chat_request_free(&req);
    }
    if (f != stdin) fclose(f);
    hr_buf_free(&line);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "hermes-router route: cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return bad ? 1 : 0;
}

static int route_one(hr_router *r, const hr_config *cfg, const char *text, const char *model, long max_tokens,
                     int json) {
    hr_buf stdin_buf;
    hr_buf_init(&stdin_buf, cfg->max_body_bytes);
    if (!strcmp(text, "-")) {
        if (read_all(stdin, &stdin_buf) < 0) {
            fprintf(stderr, "hermes-router route: the prompt on stdin is over %zu bytes or unreadable\n",
                    cfg->max_body_bytes);
            hr_buf_free(&stdin_buf);
            return 1;
        }
        text = stdin_buf.data ? stdin_buf.data : "";
    } else if (strlen(text) > cfg->max_body_bytes) {
        fprintf(stderr, "hermes-router route: the prompt is over %zu bytes\n", cfg->max_body_bytes);
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    if (model) cJSON_AddStringToObject(root, "model", model);
    if (max_tokens > 0) cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "messages"), m);
    hr_buf_free(&stdin_buf);

    hr_chat_request req;
    hr_request_error rerr;
    if (hr_chat_request_from_json(root, &req, &rerr) < 0) {
        fprintf(stderr, "hermes-router route: %s\n", rerr.message);
        return 1;
    }
    hr_route_decision d;
    if (hr_router_decide(r, &req, json != 0, &d) < 0) {
        fprintf(stderr, "hermes-router route: model '%s' is not a tier, an alias or auto\n", req.model);
        hr_chat_request_free(&req);
        return 1;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tier", hr_tier_name(d.tier));
        cJSON_AddStringToObject(o, "reason", d.reason);
        cJSON_AddStringToObject(o, "strategy", d.strategy ? d.strategy : "?");
        cJSON_AddBoolToObject(o, "forced", d.forced);
        cJSON_AddNumberToObject(o, "route_us", round_to(d.route_us, 0.01));
        cJSON_AddItemToObject(o, "probabilities", probs_json(&d));
        cJSON_AddItemToObject(o, "features", d.features ? d.features : cJSON_CreateNull());
        d.features = NULL; /* now owned by o */
        char *s = cJSON_Print(o);
        if (!s) abort();
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("tier:     %s\n", hr_tier_name(d.tier));
        printf("reason:   %s\n", d.reason);
        printf("strategy: %s%s\n", d.strategy ? d.strategy : "?", d.forced ? " (forced by model)" : "");
        for (int i = 0; i < d.n_probs && i < HR_TIER_MAX; i++)
            printf("p(%s):%*s%.4f\n", hr_tier_name(i), (int)(7 - strlen(hr_tier_name(i))), "", d.probs[i]);
        printf("time:     %.2f us\n", d.route_us);
    }
    hr_route_decision_clear(&d);
    hr_chat_request_free(&req);
    return fflush(stdout) == 0 ? 0 : 1;
}

int hr_cmd_route(int argc, char **argv) {
    const char *config_path = NULL, *jsonl = NULL, *prompt = NULL, *model = NULL;
    long max_tokens = -1;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            route_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--config") || !strcmp(a, "--jsonl") || !strcmp(a, "--model") ||
                   !strcmp(a, "--max-tokens")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hermes-router route: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--config")) config_path = v;
            else if (!strcmp(a, "--jsonl")) jsonl = v;
            else if (!strcmp(a, "--model")) model = v;
            else {
                char *end;
                errno = 0;
                max_tokens = strtol(v, &end, 10);
                if (errno || end == v || *end || max_tokens < 1 || max_tokens > 1000000000) {
                    fprintf(stderr, "hermes-router route: --max-tokens '%s' is not a number from 1 to 1e9\n", v);
                    return 2;
                }
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "hermes-router route: unknown option '%s' (try --help)\n", a);
            return 2;
        } else if (prompt) {
            fprintf(stderr, "hermes-router route: one prompt only (quote it)\n");
            return 2;
        } else {
            prompt = a;
        }
    }
    if (!!jsonl == !!prompt) {
        fprintf(stderr, jsonl ? "hermes-router route: give either a prompt or --jsonl, not both\n"
                              : "hermes-router route: give a prompt or --jsonl FILE (try --help)\n");
        return 2;
    }
    if (jsonl && (json || model || max_tokens > 0)) {
        fprintf(stderr, "hermes-router route: --json, --model and --max-tokens apply to a single prompt, not --jsonl\n");
        return 2;
    }

    char err[512] = "";
    hr_config *cfg;
    if (config_path) {
        cfg = hr_config_load(config_path, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "hermes-router route: %s\n", err);
            return 1;
        }
    } else {
        cfg = hr_config_default();
        for (int t = 0; t < HR_TIER_MAX; t++) cfg->tiers[t].enabled = true;
    }
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    if (!r) {
        fprintf(stderr, "hermes-router route: %s\n", err);
        hr_config_free(cfg);
        return 1;
    }
    int rc = jsonl ? route_jsonl(r, cfg, jsonl) : route_one(r, cfg, prompt, model, max_tokens, json);
    hr_router_free(r);
    hr_config_free(cfg);
    return rc;
}
