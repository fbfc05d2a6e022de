/* hermes-router eval: the classifier's quality/cost curve next to baselines.
 *
 *   hermes-router eval --data FILE.jsonl --model MODEL[,MODEL...] [--split all|heldout]
 *       [--thresholds 0.1,0.2,...] [--max-cost 0.35] [--config F] [--csv out.csv] [--png out.png]
 *
 * Metrics follow ../shared/data/routing/README.md: quality = mean quality of
 * the chosen tier, cost = mean tier cost relative to all-large (8:70:405),
 * PGR = (quality - all-small) / (all-large - all-small), computed within each
 * group (all, each language, each source). Baselines: all-small/medium/large,
 * the rule router (strategy "rules" of --config or the defaults), random
 * routing at the classifier's mix (its expected value), and the oracle
 * (the data's label). --split heldout keeps only rows the model did not train
 * on (its validation ids or fold and excluded sources, from the sidecar);
 * with several models (cross-validation folds) the held-out rows are joined,
 * each predicted by a model that did not see it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/config.h"
#include "router/classifier.h"
#include "router/router.h"

#define MAX_THRESHOLDS 64
#define MAX_GROUPS 64
#define MAX_MODELS 16

typedef struct group {
    char name[64];
    size_t *rows; /* indices into the split */
    size_t n;
} group;

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router eval --data FILE.jsonl --model MODEL [options]\n"
               "  --split S          all (default) | heldout (rows the model did not train on)\n"
               "  --model M1,M2,...  several models (e.g. --folds K): each row is predicted by a model that\n"
               "                     held it out (needs --split heldout)\n"
               "  --thresholds L     comma-separated knob settings (default 0.05..0.95 by 0.05)\n"
               "  --max-cost X       report per group at the highest threshold with cost <= X (0.35)\n"
               "  --config F         config for the rule-router baseline (default rules)\n"
               "  --csv FILE         write every point (router, threshold, group, metrics)\n"
               "  --png FILE         plot PGR against cost (needs gnuplot)\n");
}

static void add_group(group *g, size_t *ng, const char *name, size_t cap) {
    for (size_t i = 0; i < *ng; i++)
        if (!strcmp(g[i].name, name)) return;
    if (*ng >= MAX_GROUPS) return;
    snprintf(g[*ng].name, sizeof g[*ng].name, "%s", name);
    g[*ng].rows = malloc((cap ? cap : 1) * sizeof(size_t));
    g[*ng].n = 0;
    (*ng)++;
}

static group *find_group(group *g, size_t ng, const char *name) {
    for (size_t i = 0; i < ng; i++)
        if (!strcmp(g[i].name, name)) return &g[i];
    return NULL;
}

/* Metrics of a routing restricted to group gr (choice indexed like split rows). */
static void group_metrics(const hr_route_dataset *ds, const size_t *split, const group *gr, const int *choice,
                          hr_route_metrics *m) {
    size_t *rows = malloc((gr->n ? gr->n : 1) * sizeof *rows);
    int *ch = malloc((gr->n ? gr->n : 1) * sizeof *ch);
    for (size_t i = 0; i < gr->n; i++) {
        rows[i] = split[gr->rows[i]];
        ch[i] = choice[gr->rows[i]];
    }
    hr_route_metrics_compute(ds, rows, gr->n, ch, m);
    free(rows);
    free(ch);
}

static void group_random(const hr_route_dataset *ds, const size_t *split, const group *gr, const double *share,
                         hr_route_metrics *m) {
    size_t *rows = malloc((gr->n ? gr->n : 1) * sizeof *rows);
    for (size_t i = 0; i < gr->n; i++) rows[i] = split[gr->rows[i]];
    hr_route_metrics_random(ds, rows, gr->n, share, m);
    free(rows);
}

static void csv_row(FILE *f, const char *router, double thr, const char *grp, const hr_route_metrics *m) {
    if (!f) return;
    fprintf(f, "%s,%.4f,%s,%zu,%.5f,%.5f,%.5f,%.4f,%.4f,%.4f\n", router, thr, grp, m->n, m->quality, m->cost, m->pgr,
            m->share[0], m->share[1], m->share[2]);
}

static int parse_thresholds(const char *s, double *out, int *n) {
    *n = 0;
    while (*s && *n < MAX_THRESHOLDS) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0 || v > 1) return -1;
        out[(*n)++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return *n ? 0 : -1;
}

/* Points of the plot: series 0..3 = classifier all/en/zh, random (all). */
typedef struct plot_data {
    double x[4][MAX_THRESHOLDS], y[4][MAX_THRESHOLDS];
    int n[4];
    double bx[8], by[8];
    const char *bname[8];
    int nb;
} plot_data;

static void plot_add(plot_data *pd, int series, double x, double y) {
    if (pd->n[series] < MAX_THRESHOLDS && isfinite(y)) {
        pd->x[series][pd->n[series]] = x;
        pd->y[series][pd->n[series]] = y;
        pd->n[series]++;
    }
}

/* Writes the points as gnuplot data blocks and runs gnuplot. */
static int plot_png(const plot_data *pd, const char *png, double max_cost) {
    char dat[] = "/tmp/hr-eval-data-XXXXXX", script[] = "/tmp/hr-eval-plot-XXXXXX";
    int fd1 = mkstemp(dat), fd2 = fd1 >= 0 ? mkstemp(script) : -1;
    if (fd1 < 0 || fd2 < 0) {
        if (fd1 >= 0) close(fd1), unlink(dat);
        return -1;
    }
    FILE *d = fdopen(fd1, "w"), *f = fdopen(fd2, "w");
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < pd->n[s]; i++) fprintf(d, "%.5f %.5f\n", pd->x[s][i], pd->y[s][i]);
        if (!pd->n[s]) fprintf(d, "0 NaN\n");
        fprintf(d, "\n\n");
    }
    for (int b = 0; b < pd->nb; b++) fprintf(d, "%.5f %.5f %s\n", pd->bx[b], pd->by[b], pd->bname[b]);
    fclose(d);
    fprintf(f,
            "set terminal png size 900,600\n"
            "set output '%s'\n"
            "set title 'hermes-router classifier: performance gap recovered (PGR) vs cost, held-out rows'\n"
            "set xlabel 'cost (relative to all-large; tier costs 8:70:405)'\n"
            "set ylabel 'PGR'\n"
            "set key bottom right\nset grid\nset xrange [0:1.1]\nset yrange [-0.1:1.3]\n"
            "set arrow from %.3f,-0.1 to %.3f,1.3 nohead dt 3\n"
            "plot '%s' index 0 using 1:2 with linespoints pt 7 title 'classifier (all)', \\\n"
            " '' index 1 using 1:2 with linespoints pt 5 title 'classifier (en)', \\\n"
            " '' index 2 using 1:2 with linespoints pt 9 title 'classifier (zh)', \\\n"
            " '' index 3 using 1:2 with lines dt 2 lw 2 title 'random at the same mix (all)', \\\n"
            " '' index 4 using 1:2 with points pt 13 ps 1.5 notitle, \\\n"
            " '' index 4 using 1:2:3 with labels offset 1,0.7 left notitle\n",
            png, max_cost, max_cost, dat);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "gnuplot %s", script);
    int rc = system(cmd);
    unlink(script);
    unlink(dat);
    return rc == 0 ? 0 : -1;
}

int hr_cmd_eval(int argc, char **argv) {
    const char *data = NULL, *model = NULL, *split_name = "all", *csv = NULL, *png = NULL, *config = NULL;
    const char *thr_list = NULL;
    double max_cost = 0.35;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        const char **dst = !strcmp(a, "--data")         ? &data
                           : !strcmp(a, "--model")      ? &model
                           : !strcmp(a, "--split")      ? &split_name
                           : !strcmp(a, "--csv")        ? &csv
                           : !strcmp(a, "--png")        ? &png
                           : !strcmp(a, "--config")     ? &config
                           : !strcmp(a, "--thresholds") ? &thr_list
                                                        : NULL;
        if (!dst && strcmp(a, "--max-cost") != 0) {
            fprintf(stderr, "hermes-router eval: unknown option '%s' (try --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "hermes-router eval: %s needs a value\n", a);
            return 2;
        }
        if (dst) *dst = v;
        else max_cost = atof(v);
        i++;
    }
    if (!data || !model) {
        fprintf(stderr, "hermes-router eval: --data and --model are required (try --help)\n");
        return 2;
    }
    double thr[MAX_THRESHOLDS];
    int nthr = 0;
    if (thr_list) {
        if (parse_thresholds(thr_list, thr, &nthr) < 0) {
            fprintf(stderr, "hermes-router eval: --thresholds wants numbers in [0,1] separated by commas\n");
            return 2;
        }
    } else {
        for (int k = 1; k <= 19; k++) thr[nthr++] = k * 0.05;
    }
    char err[512];
    if (strcmp(split_name, "all") && strcmp(split_name, "heldout")) {
        fprintf(stderr, "hermes-router eval: --split must be all or heldout\n");
        return 2;
    }
    /* one model, or several (e.g. the folds of a cross-validation) whose
     * held-out rows are joined: each row is predicted by a model that did not
     * train on it */
    hr_classifier *models[MAX_MODELS];
    int nmodels = 0;
    {
        char *list = strdup(model), *save = NULL;
        bool ok = true;
        for (char *tok = strtok_r(list, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
            hr_classifier *m = nmodels < MAX_MODELS ? hr_classifier_load(tok, err, sizeof err) : NULL;
            if (!m) {
                if (nmodels == MAX_MODELS) snprintf(err, sizeof err, "at most %d models", MAX_MODELS);
                ok = false;
            } else {
                models[nmodels++] = m;
                if (hr_classifier_get_meta(m)->n_tiers != hr_classifier_get_meta(models[0])->n_tiers) {
                    snprintf(err, sizeof err, "'%s' has other tiers than the first model", tok);
                    ok = false;
                }
            }
        }
        free(list);
        if (ok && nmodels == 0) snprintf(err, sizeof err, "--model names no file"), ok = false;
        if (ok && nmodels > 1 && strcmp(split_name, "heldout"))
            snprintf(err, sizeof err, "several models need --split heldout"), ok = false;
        if (!ok) {
            fprintf(stderr, "hermes-router eval: %s\n", err);
            for (int k = 0; k < nmodels; k++) hr_classifier_free(models[k]);
            return 1;
        }
    }
    hr_classifier *c = models[0];
    const hr_classifier_meta *meta = hr_classifier_get_meta(c);
    hr_config *cfg = config ? hr_config_load(config, err, sizeof err) : hr_config_default();
    hr_router *rules = NULL;
    if (cfg) {
        free(cfg->strategy);
        cfg->strategy = strdup("rules");
        rules = hr_router_create(cfg, err, sizeof err);
    }
    hr_route_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (!cfg || !rules || hr_route_dataset_load(data, &ds, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router eval: %s%s\n", cfg && !rules ? "rule router: " : "", err);
        hr_router_free(rules);
        hr_config_free(cfg);
        for (int k = 0; k < nmodels; k++) hr_classifier_free(models[k]);
        return 1;
    }
    int rc = 1;
    FILE *cf = NULL;
    group groups[MAX_GROUPS];
    size_t ng = 0;
    plot_data pd;
    memset(&pd, 0, sizeof pd);
    size_t *split = malloc(ds.n * sizeof *split), n = 0;
    int *owner = malloc(ds.n * sizeof *owner);
    float *probs = NULL;
    for (size_t i = 0; i < ds.n; i++) {
        int o = -1;
        for (int k = 0; k < nmodels && o < 0; k++)
            if (!strcmp(split_name, "all") || hr_classifier_holds_out(hr_classifier_get_meta(models[k]), &ds.rows[i]))
                o = k;
        if (o >= 0) {
            owner[n] = o;
            split[n++] = i;
        }
    }
    if (!n) {
        fprintf(stderr, "hermes-router eval: no rows in split '%s'\n", split_name);
        goto done;
    }
    printf("eval: %s, split %s: %zu of %zu rows; model %s (%s, target %s, excluded sources: %s)\n", data,
           split_name, n, ds.n, model, meta->booster, meta->target,
           meta->exclude_sources[0] ? meta->exclude_sources : "none");

    /* groups: all, lang=*, source=* */
    add_group(groups, &ng, "all", n);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "lang=%s", ds.rows[split[i]].lang);
        add_group(groups, &ng, name, n);
    }
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "source=%s", ds.rows[split[i]].source);
        add_group(groups, &ng, name, n);
    }
    for (size_t i = 0; i < n; i++) {
        char name[64];
        groups[0].rows[groups[0].n++] = i;
        snprintf(name, sizeof name, "lang=%s", ds.rows[split[i]].lang);
        group *g = find_group(groups, ng, name);
        if (g) g->rows[g->n++] = i;
        snprintf(name, sizeof name, "source=%s", ds.rows[split[i]].source);
        g = find_group(groups, ng, name);
        if (g) g->rows[g->n++] = i;
    }

    probs = hr_xmalloc(n * (size_t)meta->n_tiers * sizeof *probs);
    for (int k = 0; k < nmodels; k++) {
        size_t *rows = malloc(n * sizeof *rows), *pos = malloc(n * sizeof *pos), nr = 0;
        for (size_t i = 0; i < n; i++)
            if (owner[i] == k) {
                pos[nr] = i;
                rows[nr++] = split[i];
            }
        float *pk = nr ? hr_classifier_predict_rows(models[k], &ds, rows, nr) : NULL;
        for (size_t i = 0; pk && i < nr; i++)
            memcpy(probs + pos[i] * (size_t)meta->n_tiers, pk + i * (size_t)meta->n_tiers,
                   (size_t)meta->n_tiers * sizeof *probs);
        bool failed = nr && !pk;
        free(pk);
        free(rows);
        free(pos);
        if (failed) {
            fprintf(stderr, "hermes-router eval: prediction failed\n");
            goto done;
        }
    }
    if (csv) {
        cf = fopen(csv, "w");
        if (!cf) {
            fprintf(stderr, "hermes-router eval: cannot write '%s'\n", csv);
            free(probs);
            goto done;
        }
        fprintf(cf, "router,threshold,group,n,quality,cost,pgr,share_small,share_medium,share_large\n");
    }

    /* baselines */
    enum { B_SMALL, B_MEDIUM, B_LARGE, B_RULES, B_ORACLE, NB };
    static const char *bnames[NB] = {"all-small", "all-medium", "all-large", "rules", "oracle"};
    int *bch[NB];
    for (int b = 0; b < NB; b++) bch[b] = malloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        bch[B_SMALL][i] = HR_TIER_SMALL;
        bch[B_MEDIUM][i] = HR_TIER_MEDIUM;
        bch[B_LARGE][i] = HR_TIER_LARGE;
        bch[B_ORACLE][i] = ds.rows[split[i]].label;
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        hr_route_decision d;
        hr_chat_request_from_prompt(ds.rows[split[i]].prompt, &req);
        bch[B_RULES][i] = hr_router_decide(rules, &req, false, &d) == 0 ? d.tier : HR_TIER_MEDIUM;
        hr_route_decision_clear(&d);
        hr_chat_request_free(&req);
    }
    printf("\nbaselines (quality / cost / PGR per group):\n%-22s", "group");
    for (int b = 0; b < NB; b++) printf(" %-21s", bnames[b]);
    printf("\n");
    for (size_t g = 0; g < ng; g++) {
        printf("%-16s n=%-4zu", groups[g].name, groups[g].n);
        for (int b = 0; b < NB; b++) {
            hr_route_metrics m;
            group_metrics(&ds, split, &groups[g], bch[b], &m);
            printf(" %.3f/%.3f/%-7.3f", m.quality, m.cost, m.pgr);
            csv_row(cf, bnames[b], 0, groups[g].name, &m);
            if (g == 0 && pd.nb < 8) {
                pd.bx[pd.nb] = m.cost;
                pd.by[pd.nb] = m.pgr;
                pd.bname[pd.nb++] = bnames[b];
            }
        }
        printf("\n");
    }

    /* the curve */
    int *choice = malloc(n * sizeof *choice);
    group *g_en = find_group(groups, ng, "lang=en"), *g_zh = find_group(groups, ng, "lang=zh");
    printf("\nclassifier curve (random = random routing at the same mix):\n");
    printf("thresh  small medium large   cost  quality   PGR  random |  en cost  PGR  rand |  zh cost  PGR  rand\n");
    double best_thr = -1;
    for (int k = 0; k < nthr; k++) {
        hr_classifier_route_rows(c, probs, n, thr[k], choice);
        hr_route_metrics m[MAX_GROUPS], r[MAX_GROUPS];
        for (size_t g = 0; g < ng; g++) {
            group_metrics(&ds, split, &groups[g], choice, &m[g]);
            group_random(&ds, split, &groups[g], m[g].share, &r[g]);
            csv_row(cf, "classifier", thr[k], groups[g].name, &m[g]);
            csv_row(cf, "random", thr[k], groups[g].name, &r[g]);
        }
        if (m[0].cost <= max_cost && thr[k] > best_thr) best_thr = thr[k];
        plot_add(&pd, 0, m[0].cost, m[0].pgr);
        if (g_en) plot_add(&pd, 1, m[g_en - groups].cost, m[g_en - groups].pgr);
        if (g_zh) plot_add(&pd, 2, m[g_zh - groups].cost, m[g_zh - groups].pgr);
        plot_add(&pd, 3, r[0].cost, r[0].pgr);
        printf("%5.2f  %5.1f%% %5.1f%% %5.1f%%  %5.3f  %6.3f  %6.3f %6.3f |", thr[k], 100 * m[0].share[0],
               100 * m[0].share[1], 100 * m[0].share[2], m[0].cost, m[0].quality, m[0].pgr, r[0].pgr);
        for (int l = 0; l < 2; l++) {
            group *gl = l ? g_zh : g_en;
            if (gl) {
                size_t gi = (size_t)(gl - groups);
                printf("  %5.3f %6.3f %5.3f %s", m[gi].cost, m[gi].pgr, r[gi].pgr, l ? "" : "|");
            }
        }
        printf("\n");
    }

    /* per group at the operating point */
    if (best_thr >= 0) {
        hr_classifier_route_rows(c, probs, n, best_thr, choice);
        printf("\nat threshold %.2f (highest with overall cost <= %.2f):\n", best_thr, max_cost);
        printf("%-24s %5s  %6s %7s %6s %8s %8s\n", "group", "n", "cost", "quality", "PGR", "random", "oracle");
        for (size_t g = 0; g < ng; g++) {
            hr_route_metrics m, r, o;
            group_metrics(&ds, split, &groups[g], choice, &m);
            group_random(&ds, split, &groups[g], m.share, &r);
            group_metrics(&ds, split, &groups[g], bch[B_ORACLE], &o);
            printf("%-24s %5zu  %6.3f %7.3f %6.3f %8.3f %8.3f\n", groups[g].name, groups[g].n, m.cost, m.quality,
                   m.pgr, r.pgr, o.pgr);
        }
    } else {
        printf("\nno threshold reaches overall cost <= %.2f\n", max_cost);
    }
    free(choice);
    for (int b = 0; b < NB; b++) free(bch[b]);
    rc = 0;
    if (cf) {
        fclose(cf);
        cf = NULL;
        printf("\nwrote %s\n", csv);
    }
    if (png) {
        if (plot_png(&pd, png, max_cost) < 0) {
            fprintf(stderr, "hermes-router eval: plotting failed (is gnuplot installed? apt-get install gnuplot-nox)\n");
            rc = 1;
        } else {
            printf("wrote %s\n", png);
        }
    }
done:
    for (size_t g = 0; g < ng; g++) free(groups[g].rows);
    free(probs);
    free(owner);
    if (cf) fclose(cf);
    free(split);
    hr_route_dataset_free(&ds);
    hr_router_free(rules);
    hr_config_free(cfg);
    for (int k = 0; k < nmodels; k++) hr_classifier_free(models[k]);
    return rc;
}
