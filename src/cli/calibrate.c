/* hermes-router calibrate: chooses the classifier threshold that gives a
 * target mix on a data set (the way RouteLLM calibrates to a target share of
 * strong-model calls).
 *
 *   hermes-router calibrate --data F --model M [--target-large 0.05]
 *       [--target-medium 0.35] [--target-cost 0.3] [--split all|heldout] [--write]
 *
 * With several targets the threshold minimises the sum of squared misses
 * (one knob cannot hit two shares exactly). Prints the threshold, the mix it
 * gives and quality/cost/PGR on the data, and the config line to use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "router/classifier.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router calibrate --data FILE.jsonl --model MODEL [targets]\n"
               "  --target-large X    wanted share of large-tier calls (0..1)\n"
               "  --target-medium X   wanted share of medium-tier calls (0..1)\n"
               "  --target-cost X     wanted cost relative to all-large (0..1)\n"
               "  --split S           all (default) | heldout (rows the model did not train on)\n"
               "  --per-lang          also one threshold per language (en, zh), each calibrated on its own\n"
               "                      rows to the same targets (used when the config's threshold is 0)\n"
               "  --write             store the threshold(s) in MODEL.meta.json (without --per-lang it clears\n"
               "                      the per-language ones; used when the\n"
               "                      config's router.classifier.threshold is 0)\n"
               "At least one target is required.\n");
}

int hr_cmd_calibrate(int argc, char **argv) {
    const char *data = NULL, *model = NULL, *split_name = "all";
    hr_calibrate_target t = {-1, -1, -1};
    bool write = false, per_lang = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--write")) {
            write = true;
            continue;
        }
        if (!strcmp(a, "--per-lang")) {
            per_lang = true;
            continue;
        }
        double *num = !strcmp(a, "--target-large")    ? &t.large_share
                      : !strcmp(a, "--target-medium") ? &t.medium_share
                      : !strcmp(a, "--target-cost")   ? &t.cost
                                                      : NULL;
        const char **str = !strcmp(a, "--data") ? &data : !strcmp(a, "--model") ? &model
                                                : !strcmp(a, "--split")         ? &split_name
                                                                                : NULL;
        if (!num && !str) {
            fprintf(stderr, "hermes-router calibrate: unknown option '%s' (try --help)\n", a);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "hermes-router calibrate: %s needs a value\n", a);
            return 2;
        }
        if (num) {
            char *end;
            *num = strtod(v, &end);
            if (*end || *num < 0 || *num > 1) {
                fprintf(stderr, "hermes-router calibrate: %s wants a number in [0, 1]\n", a);
                return 2;
            }
        } else {
            *str = v;
        }
        i++;
    }
    if (!data || !model) {
        fprintf(stderr, "hermes-router calibrate: --data and --model are required (try --help)\n");
        return 2;
    }
    if (t.large_share < 0 && t.medium_share < 0 && t.cost < 0) {
        fprintf(stderr, "hermes-router calibrate: give --target-large, --target-medium or --target-cost\n");
        return 2;
    }
    if (strcmp(split_name, "all") && strcmp(split_name, "heldout")) {
        fprintf(stderr, "hermes-router calibrate: --split must be all or heldout\n");
        return 2;
    }
    char err[512];
    hr_classifier *c = hr_classifier_load(model, err, sizeof err);
    if (!c) {
        fprintf(stderr, "hermes-router calibrate: %s\n", err);
        return 1;
    }
    const hr_classifier_meta *meta = hr_classifier_get_meta(c);
    hr_route_dataset ds;
    if (hr_route_dataset_load(data, &ds, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router calibrate: %s\n", err);
        hr_classifier_free(c);
        return 1;
    }
    size_t *rows = malloc(ds.n * sizeof *rows), n = 0;
    for (size_t i = 0; i < ds.n; i++)
        if (!strcmp(split_name, "all") || hr_classifier_holds_out(meta, &ds.rows[i]))
            rows[n++] = i;
    int rc = 1;
    float *probs = n ? hr_classifier_predict_rows(c, &ds, rows, n) : NULL;
    if (!probs) {
        fprintf(stderr, "hermes-router calibrate: %s\n", n ? "prediction failed" : "no rows in the split");
    } else {
        hr_route_metrics m;
        double thr = hr_classifier_calibrate(c, &ds, rows, n, probs, &t, &m);
        printf("calibrated on %zu rows (split %s):\n", n, split_name);
        printf("threshold %.4f -> small %.1f%% medium %.1f%% large %.1f%%, cost %.3f of all-large, quality %.3f, "
               "PGR %.3f\n",
               thr, 100 * m.share[0], 100 * m.share[1], 100 * m.share[2], m.cost, m.quality, m.pgr);
        printf("config: router: { classifier: { model: %s, threshold: %.4f } }\n", model, thr);
        double lthr[2] = {0, 0};
        if (per_lang) {
            size_t *lr = malloc(n * sizeof *lr);
            float *lp = malloc(n * (size_t)meta->n_tiers * sizeof *lp);
            for (int l = 0; l < 2; l++) {
                size_t ln = 0;
                for (size_t i = 0; i < n; i++)
                    if (hr_classifier_lang_of(ds.rows[rows[i]].prompt) == l) {
                        memcpy(lp + ln * (size_t)meta->n_tiers, probs + i * (size_t)meta->n_tiers,
                               (size_t)meta->n_tiers * sizeof *lp);
                        lr[ln++] = rows[i];
                    }
                if (!ln) {
                    printf("%s: no rows, no threshold of its own\n", l ? "zh" : "en");
                    continue;
                }
                hr_route_metrics lm;
                lthr[l] = hr_classifier_calibrate(c, &ds, lr, ln, lp, &t, &lm);
                printf("%s (%zu rows): threshold %.4f -> small %.1f%% medium %.1f%% large %.1f%%, cost %.3f, "
                       "quality %.3f, PGR %.3f\n",
                       l ? "zh" : "en", ln, lthr[l], 100 * lm.share[0], 100 * lm.share[1], 100 * lm.share[2], lm.cost,
                       lm.quality, lm.pgr);
            }
            free(lr);
            free(lp);
        }
        rc = 0;
        if (write) {
            hr_classifier_set_threshold(c, thr);
            for (int l = 0; l < 2; l++) hr_classifier_set_lang_threshold(c, l, lthr[l]);
            if (hr_classifier_save(c, model, err, sizeof err) < 0) {
                fprintf(stderr, "hermes-router calibrate: %s\n", err);
                rc = 1;
            } else {
                printf("stored as the default threshold in %s.meta.json (used when the config's threshold is 0)\n",
                       model);
            }
        }
    }
    free(probs);
    free(rows);
    hr_route_dataset_free(&ds);
    hr_classifier_free(c);
    return rc;
}
