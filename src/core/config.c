/* YAML config loading (libyaml document API).
 *
 * Every key is known: an unknown key, a wrong type or a bad value is an error
 * naming file:line and the key path, e.g.
 *   "router.yaml:14: tiers.small.backends[0].url: expected an http:// or https:// URL".
 * Values may reference environment variables as ${NAME}. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/buf.h"

#define MAX_CONFIG_BYTES (4u << 20)

typedef struct ctx {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
    hr_config *cfg;
} ctx;

typedef yaml_node_t node;

static int errorf(ctx *c, const node *n, const char *path, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        snprintf(c->err, c->errlen, "%s:%zu: %s: %s", c->name, (size_t)n->start_mark.line + 1, path, msg);
    else
        snprintf(c->err, c->errlen, "%s: %s: %s", c->name, path, msg);
    return -1;
}

static const char *scalar(const node *n) { return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL; }

/* Expands ${VAR} references; returns a malloc'd string. */
static char *expand_env(const char *s) {
    hr_buf b;
    hr_buf_init(&b, 0);
    while (*s) {
        const char *start = strstr(s, "${");
        const char *end = start ? strchr(start, '}') : NULL;
        if (!start || !end) { hr_buf_puts(&b, s); break; }
        hr_buf_append(&b, s, (size_t)(start - s));
        char name[128];
        size_t n = (size_t)(end - start - 2);
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, start + 2, n);
        name[n] = 0;
        const char *v = getenv(name);
        if (v) hr_buf_puts(&b, v);
        s = end + 1;
    }
    return hr_buf_steal(&b);
}

static int get_string(ctx *c, const node *n, const char *path, char **out) {
    const char *s = scalar(n);
    if (!s) return errorf(c, n, path, "expected a string");
    free(*out);
    *out = expand_env(s);
    return 0;
}

static int get_double(ctx *c, const node *n, const char *path, double lo, double hi, double *out) {
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || errno) return errorf(c, n, path, "expected a number");
    while (isspace((unsigned char)*end)) end++;
    if (*end == 's' && end[1] == 0) end++; /* "5s" for durations */
    if (*end) return errorf(c, n, path, "expected a number, got '%s'", s);
    if (v < lo || v > hi) return errorf(c, n, path, "must be between %g and %g", lo, hi);
    *out = v;
    return 0;
}

static int get_long(ctx *c, const node *n, const char *path, long lo, long hi, long *out) {
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || errno) return errorf(c, n, path, "expected an integer");
    if (v < lo || v > hi) return errorf(c, n, path, "must be between %ld and %ld", lo, hi);
    *out = v;
    return 0;
}

static int get_int(ctx *c, const node *n, const char *path, int lo, int hi, int *out) {
    long v;
    if (get_long(c, n, path, lo, hi, &v) < 0) return -1;
    *out = (int)v;
    return 0;
}

static int get_size(ctx *c, const node *n, const char *path, size_t *out) {
    /* "4MiB", "512KiB", "1048576", "4MB" */
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || errno || v < 0) return errorf(c, n, path, "expected a size such as 4MiB");
    while (isspace((unsigned char)*end)) end++;
    double mul = 1;
    if (!*end || !strcasecmp(end, "b")) mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib")) mul = 1024;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib")) mul = 1024.0 * 1024;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib")) mul = 1024.0 * 1024 * 1024;
    else return errorf(c, n, path, "unknown size unit '%s' (use B, KiB, MiB, GiB)", end);
    v *= mul;
    if (v < 1024 || v > 1024.0 * 1024 * 1024) return errorf(c, n, path, "must be between 1KiB and 1GiB");
    *out = (size_t)v;
    return 0;
}

static int get_bool(ctx *c, const node *n, const char *path, bool *out) {
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) return *out = true, 0;
    if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) return *out = false, 0;
    return errorf(c, n, path, "expected true or false");
}

static int get_string_list(ctx *c, const node *n, const char *path, char ***out, size_t *count) {
    if (!n || n->type != YAML_SEQUENCE_NODE) return errorf(c, n, path, "expected a list");
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    char **list = hr_xcalloc(k + 1, sizeof *list);
    for (size_t i = 0; i < k; i++) {
        node *item = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        char p[160];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (get_string(c, item, p, &list[i]) < 0) {
            for (size_t j = 0; j < i; j++) free(list[j]);
            free(list);
            return -1;
        }
    }
    for (size_t i = 0; i < *count; i++) free((*out)[i]);
    free(*out);
    *out = list;
    *count = k;
    return 0;
}

/* Iterates a mapping: for each pair, calls fn(key, value). */
typedef int (*pair_fn)(ctx *c, const char *key, node *val, const char *path, void *ud);

static int each_pair(ctx *c, node *n, const char *path, pair_fn fn, void *ud) {
    if (!n || n->type != YAML_MAPPING_NODE) return errorf(c, n, path, "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        node *k = yaml_document_get_node(c->doc, p->key);
        node *v = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(k);
        if (!key) return errorf(c, k, path, "keys must be strings");
        char sub[160];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        int r = fn(c, key, v, sub, ud);
        if (r == 1) return errorf(c, k, sub, "unknown key");
        if (r < 0) return -1;
    }
    return 0;
}

/* ---- sections --------------------------------------------------------- */

static int parse_listen(ctx *c, node *v, const char *path) {
    const char *s = scalar(v);
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon) return errorf(c, v, path, "expected host:port, e.g. 127.0.0.1:7861");
    long port;
    char *end;
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) return errorf(c, v, path, "bad port in '%s'", s);
    free(c->cfg->host);
    c->cfg->host = hr_xstrndup(s, (size_t)(colon - s));
    c->cfg->port = (int)port;
    return 0;
}

static int server_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_config *cfg = c->cfg;
    if (!strcmp(key, "listen")) return parse_listen(c, v, path);
    if (!strcmp(key, "host")) return get_string(c, v, path, &cfg->host);
    if (!strcmp(key, "port")) return get_int(c, v, path, 0, 65535, &cfg->port);
    if (!strcmp(key, "api_keys")) return get_string_list(c, v, path, &cfg->api_keys, &cfg->n_api_keys);
    if (!strcmp(key, "max_body")) return get_size(c, v, path, &cfg->max_body_bytes);
    if (!strcmp(key, "connect_timeout")) return get_double(c, v, path, 0.01, 3600, &cfg->connect_timeout_s);
    if (!strcmp(key, "request_timeout")) return get_double(c, v, path, 0.01, 86400, &cfg->request_timeout_s);
    if (!strcmp(key, "idle_timeout")) return get_double(c, v, path, 0.01, 86400, &cfg->idle_timeout_s);
    if (!strcmp(key, "threads")) return get_int(c, v, path, 0, 256, &cfg->threads);
    if (!strcmp(key, "ui")) return get_bool(c, v, path, &cfg->ui);
    return 1;
}

static int backend_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_backend_config *b = ud;
    if (!strcmp(key, "type")) {
        const char *s = scalar(v);
        if (s && (!strcmp(s, "openai") || !strcmp(s, "upstream"))) b->type = HR_BACKEND_OPENAI;
        else if (s && !strcmp(s, "embedded")) b->type = HR_BACKEND_EMBEDDED;
        else return errorf(c, v, path, "expected openai or embedded");
        return 0;
    }
    if (!strcmp(key, "url")) return get_string(c, v, path, &b->url);
    if (!strcmp(key, "model")) return get_string(c, v, path, &b->model);
    if (!strcmp(key, "api_key")) return get_string(c, v, path, &b->api_key);
    if (!strcmp(key, "tool_format")) {
        const char *s = scalar(v);
        if (s && !strcmp(s, "hermes")) b->tool_format = HR_TOOLS_HERMES;
        else if (s && !strcmp(s, "openai")) b->tool_format = HR_TOOLS_OPENAI;
        else return errorf(c, v, path, "expected hermes or openai");
        return 0;
    }
    if (!strcmp(key, "threads")) return get_int(c, v, path, 0, 256, &b->threads);
    if (!strcmp(key, "context")) return get_int(c, v, path, 0, 1 << 20, &b->context);
    if (!strcmp(key, "parallel")) return get_int(c, v, path, 1, 256, &b->parallel);
    if (!strcmp(key, "chat_template")) return get_string(c, v, path, &b->chat_template);
    if (!strcmp(key, "queue")) return get_int(c, v, path, 0, 1 << 16, &b->queue);
    return 1;
}

static int cost_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_tier_config *t = ud;
    if (!strcmp(key, "usd_per_month")) return get_double(c, v, path, 0, 1e12, &t->usd_per_month);
    if (!strcmp(key, "capacity_rps")) return get_double(c, v, path, 0, 1e9, &t->capacity_rps);
    if (!strcmp(key, "usd_per_mtok_in")) return get_double(c, v, path, 0, 1e9, &t->usd_per_mtok_in);
    if (!strcmp(key, "usd_per_mtok_out")) return get_double(c, v, path, 0, 1e9, &t->usd_per_mtok_out);
    return 1;
}

static int validate_backend(ctx *c, node *n, const char *path, hr_backend_config *b) {
    if (b->type == HR_BACKEND_OPENAI) {
        if (!b->url) return errorf(c, n, path, "an openai backend needs 'url'");
        if (strncmp(b->url, "http://", 7) && strncmp(b->url, "https://", 8))
            return errorf(c, n, path, "url '%s' must start with http:// or https://", b->url);
        size_t l = strlen(b->url);
        while (l > 0 && b->url[l - 1] == '/') b->url[--l] = 0; /* base URL without trailing slash */
    } else {
        if (!b->model) return errorf(c, n, path, "an embedded backend needs 'model' (path to a .gguf file)");
        if (b->parallel == 0) b->parallel = 4;
        b->tool_format = HR_TOOLS_HERMES;
    }
    return 0;
}

static int tier_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_tier_config *t = ud;
    if (!strcmp(key, "aliases")) return get_string_list(c, v, path, &t->aliases, &t->n_aliases);
    if (!strcmp(key, "cost")) return each_pair(c, v, path, cost_pair, t);
    if (!strcmp(key, "backends")) {
        if (!v || v->type != YAML_SEQUENCE_NODE) return errorf(c, v, path, "expected a list of backends");
        size_t k = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (k == 0) return errorf(c, v, path, "a tier needs at least one backend");
        if (k > 64) return errorf(c, v, path, "at most 64 backends per tier");
        t->backends = hr_xcalloc(k, sizeof *t->backends);
        for (size_t i = 0; i < k; i++) {
            node *item = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
            char p[160];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            hr_backend_config *b = &t->backends[t->n_backends++];
            b->tool_format = HR_TOOLS_OPENAI;
            if (each_pair(c, item, p, backend_pair, b) < 0) return -1;
            if (validate_backend(c, item, p, b) < 0) return -1;
        }
        return 0;
    }
    return 1;
}

static int tiers_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    int t = hr_tier_from_name(key);
    if (t < 0) return errorf(c, v, path, "tiers are named small, medium and large");
    hr_tier_config *tc = &c->cfg->tiers[t];
    tc->enabled = true;
    if (each_pair(c, v, path, tier_pair, tc) < 0) return -1;
    if (tc->n_backends == 0) return errorf(c, v, path, "a tier needs 'backends' with at least one backend");
    return 0;
}

static int costs_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    int t = hr_tier_from_name(key);
    if (t < 0) return 1;
    return each_pair(c, v, path, cost_pair, &c->cfg->tiers[t]);
}

static int tier_value(ctx *c, node *v, const char *path, int *out) {
    int t = hr_tier_from_name(scalar(v));
    if (t < 0) return errorf(c, v, path, "expected small, medium or large");
    *out = t;
    return 0;
}

static int rules_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_rules_config *r = &c->cfg->rules;
    long x;
#define SIZE_FIELD(name)                                                     \
    if (!strcmp(key, #name)) {                                               \
        if (get_long(c, v, path, 0, 100000000, &x) < 0) return -1;           \
        r->name = (size_t)x;                                                 \
        return 0;                                                            \
    }
    SIZE_FIELD(large_context_chars)
    SIZE_FIELD(medium_context_chars)
    SIZE_FIELD(reasoning_min_chars)
    SIZE_FIELD(simple_max_chars)
#undef SIZE_FIELD
    if (!strcmp(key, "medium_max_tokens")) return get_long(c, v, path, 0, 100000000, &r->medium_max_tokens);
    if (!strcmp(key, "complex_keywords")) return get_string_list(c, v, path, &r->complex_keywords, &r->n_complex_keywords);
    if (!strcmp(key, "reasoning_keywords"))
        return get_string_list(c, v, path, &r->reasoning_keywords, &r->n_reasoning_keywords);
    if (!strcmp(key, "simple_keywords")) return get_string_list(c, v, path, &r->simple_keywords, &r->n_simple_keywords);
    if (!strcmp(key, "default_tier")) return tier_value(c, v, path, &r->default_tier);
    return 1;
}

static int classifier_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_classifier_config *k = &c->cfg->classifier;
    if (!strcmp(key, "model")) return get_string(c, v, path, &k->model);
    if (!strcmp(key, "embedder")) return get_string(c, v, path, &k->embedder);
    if (!strcmp(key, "threshold")) return get_double(c, v, path, 0, 1, &k->threshold);
    if (!strcmp(key, "dim")) return get_int(c, v, path, 16, 1 << 22, &k->dim);
    return 1;
}

static int weights_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_quality_weights *w = &c->cfg->cascade.weights;
#define WEIGHT(name) \
    if (!strcmp(key, #name)) return get_double(c, v, path, 0, 1, &w->name);
    WEIGHT(short_answer)
    WEIGHT(uncertainty)
    WEIGHT(repetition)
    WEIGHT(mean_logprob)
    WEIGHT(min_logprob)
    WEIGHT(length)
    WEIGHT(format)
    WEIGHT(judge)
#undef WEIGHT
    return 1;
}

static int logprob_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_cascade_config *k = &c->cfg->cascade;
    if (!strcmp(key, "mean_good")) return get_double(c, v, path, -100, 0, &k->logprob_mean_good);
    if (!strcmp(key, "mean_bad")) return get_double(c, v, path, -100, 0, &k->logprob_mean_bad);
    if (!strcmp(key, "min_good")) return get_double(c, v, path, -100, 0, &k->logprob_min_good);
    if (!strcmp(key, "min_bad")) return get_double(c, v, path, -100, 0, &k->logprob_min_bad);
    return 1;
}

static int judge_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_cascade_judge_config *j = &c->cfg->cascade.judge;
    if (!strcmp(key, "enabled")) return get_bool(c, v, path, &j->enabled);
    if (!strcmp(key, "tier")) return tier_value(c, v, path, &j->tier);
    if (!strcmp(key, "prompt")) return get_string(c, v, path, &j->prompt);
    if (!strcmp(key, "timeout")) return get_double(c, v, path, 0.01, 3600, &j->timeout_s);
    return 1;
}

static int early_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_cascade_early_config *e = &c->cfg->cascade.stream_early_accept;
    if (!strcmp(key, "enabled")) return get_bool(c, v, path, &e->enabled);
    if (!strcmp(key, "after_tokens")) return get_int(c, v, path, 1, 4096, &e->after_tokens);
    if (!strcmp(key, "min_mean_logprob")) return get_double(c, v, path, -100, 0, &e->min_mean_logprob);
    return 1;
}

static int cascade_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_cascade_config *k = &c->cfg->cascade;
    if (!strcmp(key, "quality_threshold")) return get_double(c, v, path, 0, 1, &k->quality_threshold);
    if (!strcmp(key, "max_cascade")) return get_int(c, v, path, 0, 2, &k->max_cascade);
    if (!strcmp(key, "weights")) return each_pair(c, v, path, weights_pair, NULL);
    if (!strcmp(key, "short_answer_chars")) return get_int(c, v, path, 0, 100000, &k->short_answer_chars);
    if (!strcmp(key, "uncertainty_phrases"))
        return get_string_list(c, v, path, &k->uncertainty_phrases, &k->n_uncertainty_phrases);
    if (!strcmp(key, "logprob")) {
        if (each_pair(c, v, path, logprob_pair, NULL) < 0) return -1;
        if (k->logprob_mean_bad >= k->logprob_mean_good || k->logprob_min_bad >= k->logprob_min_good)
            return errorf(c, v, path, "each *_bad bar must be below its *_good bar");
        return 0;
    }
    if (!strcmp(key, "request_logprobs")) return get_bool(c, v, path, &k->request_logprobs);
    if (!strcmp(key, "judge")) return each_pair(c, v, path, judge_pair, NULL);
    if (!strcmp(key, "stream_early_accept")) return each_pair(c, v, path, early_pair, NULL);
    return 1;
}

static const char *strategies[] = {"rules", "classifier", "cascade", "rules+cascade", "classifier+cascade", NULL};

static int router_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    if (!strcmp(key, "strategy")) {
        const char *s = scalar(v);
        for (int i = 0; s && strategies[i]; i++)
            if (!strcmp(s, strategies[i])) return get_string(c, v, path, &c->cfg->strategy);
        return errorf(c, v, path, "expected one of rules, classifier, cascade, rules+cascade, classifier+cascade");
    }
    if (!strcmp(key, "rules")) return each_pair(c, v, path, rules_pair, NULL);
    if (!strcmp(key, "classifier")) return each_pair(c, v, path, classifier_pair, NULL);
    if (!strcmp(key, "cascade")) return each_pair(c, v, path, cascade_pair, NULL);
    return 1;
}

static int log_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    hr_log_config *l = &c->cfg->log;
    if (!strcmp(key, "enabled")) return get_bool(c, v, path, &l->enabled);
    if (!strcmp(key, "sqlite")) return get_string(c, v, path, &l->sqlite_path);
    if (!strcmp(key, "postgres")) return get_string(c, v, path, &l->postgres_url);
    if (!strcmp(key, "capture_text")) return get_bool(c, v, path, &l->capture_text);
    return 1;
}

static int top_pair(ctx *c, const char *key, node *v, const char *path, void *ud) {
    if (!strcmp(key, "server")) return each_pair(c, v, path, server_pair, NULL);
    if (!strcmp(key, "tiers")) return each_pair(c, v, path, tiers_pair, NULL);
    if (!strcmp(key, "router")) return each_pair(c, v, path, router_pair, NULL);
    if (!strcmp(key, "log")) return each_pair(c, v, path, log_pair, NULL);
    if (!strcmp(key, "costs")) return each_pair(c, v, path, costs_pair, NULL);
    return 1;
}

hr_config *hr_config_parse(const char *yaml, size_t len, const char *name, char *err, size_t errlen) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu: invalid YAML: %s", name, (size_t)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_parser_delete(&parser);

    hr_config *cfg = hr_config_default();
    ctx c = {&doc, name, err, errlen, cfg};
    node *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (!root) {
        snprintf(err, errlen, "%s: the file is empty: at least 'tiers' is needed", name);
        rc = -1;
    } else {
        rc = each_pair(&c, root, "", top_pair, NULL);
    }
    if (rc == 0 && hr_config_tier_count(cfg) == 0) {
        snprintf(err, errlen, "%s: tiers: configure at least one tier (small, medium, large)", name);
        rc = -1;
    }
    if (rc == 0 && cfg->cascade.judge.enabled && cfg->cascade.judge.tier >= 0 &&
        !cfg->tiers[cfg->cascade.judge.tier].enabled) {
        snprintf(err, errlen, "%s: router.cascade.judge.tier: tier '%s' is not configured", name,
                 hr_tier_name(cfg->cascade.judge.tier));
        rc = -1;
    }
    /* aliases must be unique and must not shadow tier names or "auto" */
    for (int t = 0; rc == 0 && t < HR_TIER_MAX; t++)
        for (size_t i = 0; rc == 0 && i < cfg->tiers[t].n_aliases; i++) {
            const char *a = cfg->tiers[t].aliases[i];
            if (!strcmp(a, "auto") || hr_tier_from_name(a) >= 0) {
                snprintf(err, errlen, "%s: tiers.%s.aliases: '%s' is reserved", name, hr_tier_name(t), a);
                rc = -1;
            }
            for (int u = 0; rc == 0 && u < HR_TIER_MAX; u++)
                for (size_t j = 0; j < cfg->tiers[u].n_aliases; j++)
                    if ((u != t || j != i) && !strcmp(a, cfg->tiers[u].aliases[j])) {
                        snprintf(err, errlen, "%s: tiers.%s.aliases: '%s' is used twice", name, hr_tier_name(t), a);
                        rc = -1;
                        break;
                    }
        }
    yaml_document_delete(&doc);
    if (rc < 0) {
        hr_config_free(cfg);
        return NULL;
    }
    return cfg;
}

hr_config *hr_config_load(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    hr_buf b;
    hr_buf_init(&b, MAX_CONFIG_BYTES);
    char chunk[8192];
    size_t n;
    int toobig = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hr_buf_append(&b, chunk, n) < 0) { toobig = 1; break; }
    fclose(f);
    if (toobig) {
        hr_buf_free(&b);
        snprintf(err, errlen, "%s: larger than 4 MiB; not a config file?", path);
        return NULL;
    }
    hr_config *cfg = hr_config_parse(b.data ? b.data : "", b.len, path, err, errlen);
    hr_buf_free(&b);
    if (cfg) cfg->path = hr_xstrdup(path);
    return cfg;
}
