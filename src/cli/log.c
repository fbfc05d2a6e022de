/* hermes-router log: the request log from the command line.
 *
 *   hermes-router log export [--config FILE | --db PATH | --postgres URL] [--out FILE] [--with-text]
 *       writes every logged request, oldest first, one JSON object per line
 *       (fields: see hr_store_row_json in store/store.h) to stdout or FILE.
 *       --with-text keeps only answered requests (status 200) whose prompt
 *       text was captured: the set to label or train on.
 *   hermes-router log stats [--config FILE | --db PATH | --postgres URL] [--hours H]
 *       requests, errors and token sums per tier over the last H hours (all
 *       time by default).
 *
 * Without a source option the log is the default config's (hermes-router.db
 * in the current directory). The log is opened read-only: a running gateway
 * keeps writing meanwhile. --out writes FILE.tmp and renames it when
 * complete, so a failed export never leaves a truncated FILE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "store/store.h"

static void log_usage(FILE *f) {
    fprintf(f,
            "usage: hermes-router log export [--config FILE | --db PATH | --postgres URL] [--out FILE] [--with-text]\n"
            "       hermes-router log stats  [--config FILE | --db PATH | --postgres URL] [--hours H]\n"
            "Reads the request log (opened read-only; a running gateway may keep writing).\n"
            "  export            every request, oldest first, one JSON object per line\n"
            "  stats             requests, errors and tokens per tier\n"
            "  --config FILE     take the log from the config's `log:` section\n"
            "  --db PATH         a SQLite log file (default hermes-router.db)\n"
            "  --postgres URL    a PostgreSQL log (postgresql://...)\n"
            "  --out FILE        write the export to FILE instead of stdout\n"
            "  --with-text       only status-200 requests with captured prompt text\n"
            "  --hours H         stats over the last H hours (default: all time)\n");
}

typedef struct log_args {
    const char *cmd, *config, *db, *postgres, *out;
    bool with_text;
    double hours;
} log_args;

/* 0 ok, 1 --help shown, 2 usage error (already reported). */
static int parse_args(int argc, char **argv, log_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return 1;
        if (!strcmp(o, "--with-text")) a->with_text = true;
        else if (!strcmp(o, "--config") || !strcmp(o, "--db") || !strcmp(o, "--postgres") || !strcmp(o, "--out") ||
                 !strcmp(o, "--hours")) {
            if (!has_val) {
                fprintf(stderr, "hermes-router log: %s needs a value\n", o);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(o, "--config")) a->config = v;
            else if (!strcmp(o, "--db")) a->db = v;
            else if (!strcmp(o, "--postgres")) a->postgres = v;
            else if (!strcmp(o, "--out")) a->out = v;
            else {
                char *end;
                a->hours = strtod(v, &end);
                if (*end || !(a->hours > 0)) {
                    fprintf(stderr, "hermes-router log: --hours: expected a positive number, got '%s'\n", v);
                    return 2;
                }
            }
        } else if (o[0] == '-') {
            fprintf(stderr, "hermes-router log: unknown option '%s' (try --help)\n", o);
            return 2;
        } else if (!a->cmd) a->cmd = o;
        else {
            fprintf(stderr, "hermes-router log: unexpected argument '%s'\n", o);
            return 2;
        }
    }
    if (!a->cmd) {
        log_usage(stderr);
        return 2;
    }
    if (strcmp(a->cmd, "export") && strcmp(a->cmd, "stats")) {
        fprintf(stderr, "hermes-router log: unknown action '%s' (export | stats)\n", a->cmd);
        return 2;
    }
    if (!!a->config + !!a->db + !!a->postgres > 1) {
        fprintf(stderr, "hermes-router log: --config, --db and --postgres are alternatives: give one\n");
        return 2;
    }
    if (a->out && strcmp(a->cmd, "export")) {
        fprintf(stderr, "hermes-router log: --out is for export\n");
        return 2;
    }
    return 0;
}

/* The log to read: from the config file, or the default config with --db /
 * --postgres applied. NULL on error (reported). */
static hr_config *source_config(const log_args *a) {
    char err[512] = "";
    hr_config *cfg = a->config ? hr_config_load(a->config, err, sizeof err) : hr_config_default();
    if (!cfg) {
        fprintf(stderr, "hermes-router log: %s\n", err);
        return NULL;
    }
    if (a->db) {
        free(cfg->log.sqlite_path);
        cfg->log.sqlite_path = hr_xstrdup(a->db);
        free(cfg->log.postgres_url);
        cfg->log.postgres_url = NULL;
    }
    if (a->postgres) {
        free(cfg->log.postgres_url);
        cfg->log.postgres_url = hr_xstrdup(a->postgres);
    }
    return cfg;
}

static int do_export(const log_args *a, const hr_log_config *lc) {
    char err[512] = "";
    FILE *out = stdout;
    char *tmp = NULL;
    if (a->out) {
        hr_buf b;
        hr_buf_init(&b, 0);
        hr_buf_printf(&b, "%s.tmp", a->out);
        tmp = hr_buf_steal(&b);
        out = fopen(tmp, "w");
        if (!out) {
            fprintf(stderr, "hermes-router log: %s: %s\n", tmp, strerror(errno));
            free(tmp);
            return 1;
        }
    }
    long n = hr_store_export_jsonl(lc, out, a->with_text, err, sizeof err);
    int rc = 0;
    if (n < 0) {
        fprintf(stderr, "hermes-router log: %s\n", err);
        rc = 1;
    }
    if (a->out) {
        if (fclose(out) != 0 && rc == 0) {
            fprintf(stderr, "hermes-router log: %s: %s\n", tmp, strerror(errno));
            rc = 1;
        }
        if (rc == 0 && rename(tmp, a->out) != 0) {
            fprintf(stderr, "hermes-router log: %s: %s\n", a->out, strerror(errno));
            rc = 1;
        }
        if (rc != 0) remove(tmp);
        else fprintf(stderr, "exported %ld request%s to %s\n", n, n == 1 ? "" : "s", a->out);
        free(tmp);
    } else if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "hermes-router log: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

static int do_stats(const log_args *a, const hr_log_config *lc) {
    char err[512] = "";
    hr_store *s = hr_store_open_readonly(lc, err, sizeof err);
    if (!s) {
        fprintf(stderr, "hermes-router log: %s\n", err);
        return 1;
    }
    hr_store_stats *st = hr_xcalloc(1, sizeof *st);
    int64_t since = a->hours > 0 ? hr_unix_ms() - (int64_t)(a->hours * 3600e3) : 0;
    int rc = 0;
    if (hr_store_stats_get(s, since, 0, st, err, sizeof err) != 0) {
        fprintf(stderr, "hermes-router log: %s\n", err);
        rc = 1;
    } else {
        /* fold the (tier, status) groups into one line per tier */
        printf("%-10s %10s %8s %14s %14s %12s\n", "tier", "requests", "errors", "prompt_tok", "completion_tok",
               "avg_ms");
        for (size_t i = 0; i < st->n_groups;) {
            const char *tier = st->groups[i].tier;
            uint64_t req = 0, errs = 0, pt = 0, ct = 0;
            double lat = 0;
            for (; i < st->n_groups && !strcmp(st->groups[i].tier, tier); i++) {
                const hr_store_group *g = &st->groups[i];
                req += g->requests, pt += g->prompt_tokens, ct += g->completion_tokens, lat += g->latency_ms_sum;
                if (g->status >= 400) errs += g->requests;
            }
            printf("%-10s %10llu %8llu %14llu %14llu %12.1f\n", tier[0] ? tier : "(none)", (unsigned long long)req,
                   (unsigned long long)errs, (unsigned long long)pt, (unsigned long long)ct,
                   req ? lat / (double)req : 0.0);
        }
        printf("total      %10llu%s\n", (unsigned long long)st->requests,
               st->truncated ? "  (more groups than shown)" : "");
    }
    free(st);
    hr_store_close(s);
    return rc;
}

int hr_cmd_log(int argc, char **argv) {
    log_args a;
    int pr = parse_args(argc, argv, &a);
    if (pr == 1) {
        log_usage(stdout);
        return 0;
    }
    if (pr) return pr;
    hr_config *cfg = source_config(&a);
    if (!cfg) return 1;
    int rc = !strcmp(a.cmd, "export") ? do_export(&a, &cfg->log) : do_stats(&a, &cfg->log);
    hr_config_free(cfg);
    return rc;
}
