/* hermes-router label: the labelling loop for the classifier router.
 *
 *   hermes-router label export --config F [--out FILE] [--all] [--limit N]
 *       writes one JSON object per logged request with captured text:
 *       {"id":"log:ROWID","request_id","tier","strategy","prompt","label":null}
 *       (only rows without a label unless --all).
 *   hermes-router label import --config F --in LABELS.jsonl [--out DATASET.jsonl]
 *       reads {"id":"log:ROWID","label":"small|medium|large"} lines (extra
 *       fields ignored), writes each label into the log row it names (one
 *       transaction, hr_store_labels_set), so `train --from-log` sees it, and
 *       with --out also writes a training file for `train --data` ({"id",
 *       "source":"log","lang","prompt","label"}; quality is implied by the
 *       label). Labels naming no logged prompt are counted and skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/config.h"
#include "router/classifier.h"
#include "store/store.h"

#define MAX_LABELS 1000000
#define MAX_LINE (4u << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router label export --config F [--out FILE] [--all] [--limit N]\n"
               "       hermes-router label import --config F --in LABELS.jsonl [--out DATASET.jsonl]\n"
               "  import writes the labels into the request log (for train --from-log) and, with --out,\n"
               "  a training file for train --data.\n");
}

typedef struct export_ctx {
    FILE *out;
    bool all;
    long written;
} export_ctx;

static int export_row(const hr_log_row *row, int64_t id, void *ud) {
    export_ctx *x = ud;
    if (!row->prompt || (!x->all && row->label && *row->label)) return 0;
    cJSON *o = cJSON_CreateObject();
    char sid[32];
    snprintf(sid, sizeof sid, "log:%lld", (long long)id);
    cJSON_AddStringToObject(o, "id", sid);
    cJSON_AddStringToObject(o, "request_id", row->request_id ? row->request_id : "");
    cJSON_AddStringToObject(o, "tier", row->tier ? row->tier : "");
    cJSON_AddStringToObject(o, "strategy", row->strategy ? row->strategy : "");
    cJSON_AddStringToObject(o, "prompt", row->prompt);
    if (row->label && *row->label) cJSON_AddStringToObject(o, "label", row->label);
    else cJSON_AddNullToObject(o, "label");
    char *s = cJSON_PrintUnformatted(o);
    fprintf(x->out, "%s\n", s);
    free(s);
    cJSON_Delete(o);
    x->written++;
    return 0;
}

/* Labels read from the import file, looked up by log row id. */
typedef struct label_entry {
    int64_t id;
    int tier;
} label_entry;

typedef struct import_ctx {
    label_entry *labels; /* sorted by id */
    size_t n;
    FILE *out;           /* NULL: no training file */
    long written;
    hr_store_label *matched; /* labels naming a logged prompt, for the log update */
    size_t n_matched;
} import_ctx;

static int cmp_entry(const void *a, const void *b) {
    int64_t x = ((const label_entry *)a)->id, y = ((const label_entry *)b)->id;
    return x < y ? -1 : x > y;
}

static int import_row(const hr_log_row *row, int64_t id, void *ud) {
    import_ctx *x = ud;
    label_entry key = {.id = id};
    label_entry *e = bsearch(&key, x->labels, x->n, sizeof key, cmp_entry);
    if (!e || !row->prompt) return 0;
    x->matched[x->n_matched].id = id;
    x->matched[x->n_matched].label = hr_tier_name(e->tier);
    x->n_matched++;
    if (!x->out) return 0;
    cJSON *o = cJSON_CreateObject();
    char sid[32];
    snprintf(sid, sizeof sid, "log:%lld", (long long)id);
    cJSON_AddStringToObject(o, "id", sid);
    cJSON_AddStringToObject(o, "source", "log");
    cJSON_AddStringToObject(o, "lang", hr_route_guess_lang(row->prompt));
    cJSON_AddStringToObject(o, "prompt", row->prompt);
    cJSON_AddStringToObject(o, "label", hr_tier_name(e->tier));
    char *s = cJSON_PrintUnformatted(o);
    fprintf(x->out, "%s\n", s);
    free(s);
    cJSON_Delete(o);
    x->written++;
    return 0;
}

/* Reads LABELS.jsonl into a sorted array. -1 with err on the first bad line. */
static int read_labels(const char *path, import_ctx *x, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    hr_buf line;
    hr_buf_init(&line, MAX_LINE);
    size_t cap = 0;
    long lineno = 0;
    int rc = 0, c = 0;
    while (c != EOF) {
        hr_buf_reset(&line);
        bool too_long = false;
        while ((c = getc(f)) != EOF && c != '\n') {
            char ch = (char)c;
            if (!too_long && hr_buf_append(&line, &ch, 1) < 0) too_long = true;
        }
        lineno++;
        if (too_long) {
            snprintf(err, errlen, "%s:%ld: line too long", path, lineno);
            rc = -1;
            break;
        }
        if (!line.len) continue;
        cJSON *o = cJSON_Parse(line.data);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *lb = cJSON_GetObjectItemCaseSensitive(o, "label");
        long long rowid = -1;
        int tier = cJSON_IsString(lb) ? hr_tier_from_name(lb->valuestring) : -1;
        if (cJSON_IsNull(lb)) {
            cJSON_Delete(o);
            continue; /* still unlabelled */
        }
        if (!cJSON_IsString(id) || sscanf(id->valuestring, "log:%lld", &rowid) != 1 || tier < 0) {
            snprintf(err, errlen, "%s:%ld: want {\"id\":\"log:N\",\"label\":\"small|medium|large\"}", path, lineno);
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        cJSON_Delete(o);
        if (x->n >= MAX_LABELS) {
            snprintf(err, errlen, "%s: more than %d labels", path, MAX_LABELS);
            rc = -1;
            break;
        }
        if (x->n == cap) {
            cap = cap ? cap * 2 : 256;
            x->labels = hr_xrealloc(x->labels, cap * sizeof *x->labels);
        }
        x->labels[x->n].id = rowid;
        x->labels[x->n].tier = tier;
        x->n++;
    }
    hr_buf_free(&line);
    fclose(f);
    if (rc == 0) qsort(x->labels, x->n, sizeof *x->labels, cmp_entry);
    return rc;
}

int hr_cmd_label(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1], *config = NULL, *out = NULL, *in = NULL;
    bool all = false;
    long limit = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--all")) {
            all = true;
            continue;
        }
        const char **dst = !strcmp(a, "--config") ? &config : !strcmp(a, "--out") ? &out : !strcmp(a, "--in") ? &in
                                                                                                               : NULL;
        if (!dst && strcmp(a, "--limit") != 0) {
            fprintf(stderr, "hermes-router label: unknown option '%s' (try --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "hermes-router label: %s needs a value\n", a);
            return 2;
        }
        if (dst) *dst = v;
        else limit = atol(v);
        i++;
    }
    if (strcmp(sub, "export") && strcmp(sub, "import")) {
        fprintf(stderr, "hermes-router label: unknown subcommand '%s' (export or import)\n", sub);
        return 2;
    }
    if (!config) {
        fprintf(stderr, "hermes-router label: --config is required (it names the request log)\n");
        return 2;
    }
    bool is_import = !strcmp(sub, "import");
    if (is_import && !in) {
        fprintf(stderr, "hermes-router label import: --in LABELS.jsonl is required\n");
        return 2;
    }
    char err[512];
    import_ctx ix = {0};
    if (is_import && read_labels(in, &ix, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router label import: %s\n", err);
        free(ix.labels);
        return 1;
    }
    hr_config *cfg = hr_config_load(config, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "hermes-router label: %s\n", err);
        free(ix.labels);
        return 1;
    }
    /* import writes labels: read-write, but only into a log that exists */
    hr_store *s = hr_store_open_readonly(&cfg->log, err, sizeof err);
    if (s && is_import) {
        hr_store_close(s);
        s = hr_store_open(&cfg->log, err, sizeof err);
    }
    hr_config_free(cfg);
    if (!s) {
        fprintf(stderr, "hermes-router label: %s\n", err);
        free(ix.labels);
        return 1;
    }
    FILE *f = out ? fopen(out, "w") : is_import ? NULL : stdout;
    if (!f && out) {
        fprintf(stderr, "hermes-router label: cannot write '%s'\n", out);
        hr_store_close(s);
        free(ix.labels);
        return 1;
    }
    hr_store_query q = {.only_with_text = true, .limit = is_import ? 0 : (size_t)(limit > 0 ? limit : 0)};
    long n;
    export_ctx ex = {.out = f, .all = all};
    ix.out = f;
    ix.matched = hr_xmalloc((ix.n ? ix.n : 1) * sizeof *ix.matched);
    if (is_import) n = hr_store_query_rows(s, &q, import_row, &ix, err, sizeof err);
    else n = hr_store_query_rows(s, &q, export_row, &ex, err, sizeof err);
    int rc = 0;
    long stored = 0;
    if (n >= 0 && is_import) stored = hr_store_labels_set(s, ix.matched, ix.n_matched, err, sizeof err);
    if (n < 0 || stored < 0) {
        fprintf(stderr, "hermes-router label: %s\n", err);
        rc = 1;
    } else if (is_import) {
        fprintf(stderr, "label import: %zu of %zu labels matched a logged prompt; %ld stored in the request log",
                ix.n_matched, ix.n, stored);
        if (out) fprintf(stderr, "; wrote %s (train with --data %s)", out, out);
        fprintf(stderr, " (or train --from-log --config F)\n");
    } else {
        fprintf(stderr, "label export: %ld prompts%s\n", ex.written, all ? "" : " without a label");
    }
    if (out && fclose(f) != 0) rc = 1;
    hr_store_close(s);
    free(ix.labels);
    free(ix.matched);
    return rc;
}
