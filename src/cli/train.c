/* hermes-router train: fits the classifier router on labelled prompts.
 *
 *   hermes-router train --data FILE.jsonl --out MODEL [--booster gbtree|gblinear]
 *       [--trees N] [--depth 4] [--dim 4096] [--eta X] [--val 0.2] [--seed 1] [--threshold T | --target-cost 0.3]
 *       [--exclude-source a,b] [--nthread N] [--embedder BERT.gguf] [--config F] [--quiet]
 *
 * Rows whose id hashes into the validation fraction (hr_route_split_is_val)
 * and rows of --exclude-source are held out; the command prints validation
 * metrics (accuracy, per-tier precision/recall, quality/cost/PGR at the
 * threshold next to random routing at the same mix and the oracle) and
 * writes MODEL and MODEL.meta.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "engine/engine.h"
#include "router/classifier.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: hermes-router train --data FILE.jsonl --out MODEL [options]\n"
            "  --trees N            boosting rounds (300 gblinear, 100 gbtree)\n"
            "  --depth N            tree depth (4)\n"
            "  --dim N              hashed feature dimension (config classifier.dim, 4096)\n"
            "  --eta X              learning rate (1 gblinear, 0.1 gbtree)\n"
            "  --char-ngrams A-B    character n-gram sizes (1-3)\n"
            "  --word-ngrams N      word n-grams 1..N (2; 0 = none)\n"
            "  --val X              validation fraction, split by id hash (0.2)\n"
            "  --seed N             random seed (1)\n"
            "  --folds K --fold I   hold out fold I of K (by id hash) instead of --val; eval can join\n"
            "                       the K models' held-out rows (--model m0,m1,...)\n"
            "  --threshold X        default threshold stored with the model\n"
            "  --target-cost X      else calibrate it to this cost share on the validation rows (0.3)\n"
            "  --exclude-source L   comma-separated sources held out of training (evaluated apart)\n"
            "  --nthread N          XGBoost threads (default: all cores)\n"
            "  --target T           best: class = cheapest tier as good as the best (default); label: the\n"
            "                       data's label; gain: regress each tier's quality gain, route by gain/cost\n"
            "  --weight-floor X     sample weight = quality gap + X; negative = unweighted (default -1)\n"
            "  --tree-method M      XGBoost tree_method: hist (default), approx, exact\n"
            "  --booster B          gbtree (default: --trees 100 --depth 4 --eta 0.1 --lambda 1) or gblinear\n"
            "                       (softmax regression on the features; --trees 300 --eta 1 --lambda 0.0001\n"
            "                       unless given); docs/ROUTER_EVAL.md compares them\n"
            "  --lambda X --alpha X L2 / L1 regularisation (0.0001 gblinear, 1 gbtree; alpha 0)\n"
            "  --embedder F.gguf    add a sentence embedding of each prompt by this BERT-family model\n"
            "                       (e.g. bge-small) to the features; the sidecar names the file\n"
            "  --config F           config file (classifier.dim)\n"
            "  --from-log           add the request log's labelled rows (needs --config; with or without --data)\n"
            "  --quiet              no progress display\n"
            "MODEL is UBJSON, or JSON when it ends in .json; the sidecar MODEL.meta.json\n"
            "holds the feature settings.\n");
}

typedef struct progress_state {
    bool tty, quiet;
    double t0;
} progress_state;

static void progress(int round, int total, const char *eval, void *ud) {
    progress_state *ps = ud;
    if (ps->quiet) return;
    const char *ev = strchr(eval, '\t');
    ev = ev ? ev + 1 : eval;
    double secs = (hr_now_us() - ps->t0) / 1e6;
    if (ps->tty) {
        int width = 30, fill = total ? round * width / total : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
        bar[width] = 0;
        fprintf(stderr, "\rtrain [%s] %d/%d %5.1fs  %s   ", bar, round, total, secs, ev);
        if (round == total) fputc('\n', stderr);
    } else if (round == total || round % 10 == 0 || round == 1) {
        fprintf(stderr, "train: round %d/%d %.1fs %s\n", round, total, secs, ev);
    }
}

/* Prints accuracy, per-tier precision/recall and routing metrics of rows. */
static void report(const char *title, hr_classifier *c, const hr_route_dataset *ds, const size_t *rows, size_t n,
                   double threshold, hr_train_target target) {
    if (!n) return;
    const hr_classifier_meta *m = hr_classifier_get_meta(c);
    float *probs = hr_classifier_predict_rows(c, ds, rows, n);
    if (!probs) {
        fprintf(stderr, "hermes-router train: prediction failed\n");
        return;
    }
    size_t tp[HR_TIER_MAX] = {0}, pred[HR_TIER_MAX] = {0}, actual[HR_TIER_MAX] = {0}, correct = 0;
    int *choice = malloc(n * sizeof *choice), *oracle = malloc(n * sizeof *oracle);
    bool gain = target == HR_TARGET_GAIN;
    double se[HR_TIER_MAX] = {0};
    for (size_t i = 0; gain && i < n; i++) {
        const float *q = probs + i * (size_t)m->n_tiers;
        for (int k = 0; k < m->n_tiers; k++) {
            double d = (double)q[k] - ds->rows[rows[i]].quality[m->tiers[k]];
            se[k] += d * d;
        }
        oracle[i] = ds->rows[rows[i]].label;
    }
    if (gain) {
        printf("%s: %zu rows, RMSE of the predicted quality:", title, n);
        for (int k = 0; k < m->n_tiers; k++) printf(" %s %.3f", hr_tier_name(m->tiers[k]), sqrt(se[k] / (double)n));
        printf("\n");
    }
    for (size_t i = 0; !gain && i < n; i++) {
        const float *p = probs + i * (size_t)m->n_tiers;
        int best = 0;
        for (int k = 1; k < m->n_tiers; k++)
            if (p[k] > p[best]) best = k;
        int bt = m->tiers[best], lt = hr_train_target_class(&ds->rows[rows[i]], target);
        int olab = ds->rows[rows[i]].label;
        pred[bt]++;
        actual[lt]++;
        if (bt == lt) tp[bt]++, correct++;
        oracle[i] = olab;
    }
    if (!gain) printf("%s: %zu rows, accuracy %.3f (majority class %.3f)\n", title, n, (double)correct / (double)n,
           (double)(actual[0] > actual[1] ? (actual[0] > actual[2] ? actual[0] : actual[2])
                                          : (actual[1] > actual[2] ? actual[1] : actual[2])) /
               (double)n);
    for (int t = 0; t < HR_TIER_MAX && !gain; t++)
        printf("  %-6s precision %.3f recall %.3f (support %zu)\n", hr_tier_name(t),
               pred[t] ? (double)tp[t] / (double)pred[t] : 0.0, actual[t] ? (double)tp[t] / (double)actual[t] : 0.0,
               actual[t]);
    hr_route_metrics rm, rnd, orc;
    hr_classifier_route_rows(c, probs, n, threshold, choice);
    hr_route_metrics_compute(ds, rows, n, choice, &rm);
    hr_route_metrics_random(ds, rows, n, rm.share, &rnd);
    hr_route_metrics_compute(ds, rows, n, oracle, &orc);
    printf("  classifier @%.2f: quality %.3f cost %.3f PGR %.3f (mix %.0f/%.0f/%.0f%%)\n", threshold, rm.quality,
           rm.cost, rm.pgr, 100 * rm.share[0], 100 * rm.share[1], 100 * rm.share[2]);
    printf("  random same mix: quality %.3f cost %.3f PGR %.3f\n", rnd.quality, rnd.cost, rnd.pgr);
    printf("  oracle (label):  quality %.3f cost %.3f PGR %.3f\n", orc.quality, orc.cost, orc.pgr);
    free(choice);
    free(oracle);
    free(probs);
}

/* Rows of the request log that carry a label and captured text. */
static int log_row(const hr_log_row *row, int64_t id, void *ud) {
    hr_route_dataset *ds = ud;
    int tier = row->label ? hr_tier_from_name(row->label) : -1;
    if (tier < 0 || !row->prompt) return 0;
    char sid[32];
    snprintf(sid, sizeof sid, "log:%lld", (long long)id);
    hr_route_example ex = {.id = sid, .source = "log", .lang = (char *)hr_route_guess_lang(row->prompt),
                           .category = "?", .prompt = (char *)row->prompt, .label = tier};
    for (int t = 0; t < HR_TIER_MAX; t++) ex.quality[t] = t >= tier ? 1.0f : 0.0f;
    hr_route_dataset_add(ds, &ex);
    return 0;
}

static int load_from_log(const hr_config *cfg, hr_route_dataset *ds, char *err, size_t errlen) {
    hr_store *s = hr_store_open_readonly(&cfg->log, err, errlen);
    if (!s) return -1;
    hr_store_query q = {.only_with_text = true};
    long n = hr_store_query_rows(s, &q, log_row, ds, err, errlen);
    hr_store_close(s);
    if (n < 0) return -1;
    fprintf(stderr, "train: %zu labelled rows from the request log (%ld with text)\n", ds->n, n);
    return 0;
}

int hr_cmd_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *config = NULL, *exclude = "", *embedder = NULL;
    bool from_log = false, quiet = false;
    hr_train_params p = hr_train_default_params();
    bool dim_set = false, threshold_set = false, trees_set = false, eta_set = false, lambda_set = false;
    double target_cost = 0.3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(...)                                                           \
    {                                                                           \
        if (!v) {                                                               \
            fprintf(stderr, "hermes-router train: %s needs a value\n", a);     \
            return 2;                                                           \
        }                                                                       \
        i++;                                                                    \
        __VA_ARGS__;                                                               \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--data")) TAKE(data = v)
        else if (!strcmp(a, "--out")) TAKE(out = v)
        else if (!strcmp(a, "--config")) TAKE(config = v)
        else if (!strcmp(a, "--trees")) TAKE(p.trees = atoi(v), trees_set = true)
        else if (!strcmp(a, "--depth")) TAKE(p.depth = atoi(v))
        else if (!strcmp(a, "--dim")) TAKE(p.features.dim = atoi(v), dim_set = true)
        else if (!strcmp(a, "--eta")) TAKE(p.eta = atof(v), eta_set = true)
        else if (!strcmp(a, "--char-ngrams")) TAKE(sscanf(v, "%d-%d", &p.features.char_min, &p.features.char_max))
        else if (!strcmp(a, "--word-ngrams")) TAKE(p.features.word_max = atoi(v))
        else if (!strcmp(a, "--val")) TAKE(p.val_fraction = atof(v))
        else if (!strcmp(a, "--seed")) TAKE(p.seed = (uint32_t)strtoul(v, NULL, 10))
        else if (!strcmp(a, "--threshold")) TAKE(p.threshold = atof(v), threshold_set = true)
        else if (!strcmp(a, "--target-cost")) TAKE(target_cost = atof(v))
        else if (!strcmp(a, "--exclude-source")) TAKE(exclude = v)
        else if (!strcmp(a, "--nthread")) TAKE(p.nthread = atoi(v))
        else if (!strcmp(a, "--target")) TAKE(p.target = !strcmp(v, "label") ? HR_TARGET_LABEL : !strcmp(v, "gain") ? HR_TARGET_GAIN : HR_TARGET_BEST)
        else if (!strcmp(a, "--weight-floor")) TAKE(p.weight_floor = atof(v))
        else if (!strcmp(a, "--tree-method")) TAKE(p.tree_method = v)
        else if (!strcmp(a, "--booster")) TAKE(p.booster = v)
        else if (!strcmp(a, "--folds")) TAKE(p.folds = atoi(v))
        else if (!strcmp(a, "--fold")) TAKE(p.fold = atoi(v))
        else if (!strcmp(a, "--lambda")) TAKE(p.lambda = atof(v), lambda_set = true)
        else if (!strcmp(a, "--alpha")) TAKE(p.alpha = atof(v))
        else if (!strcmp(a, "--embedder")) TAKE(embedder = v)
        else if (!strcmp(a, "--from-log")) from_log = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else {
            fprintf(stderr, "hermes-router train: unknown option '%s' (try --help)\n", a);
            return 2;
        }
#undef TAKE
    }
    /* the default learner is the (and the seed's): 100 trees of depth
     * 4. gblinear did slightly better on held-out folds (docs/ROUTER_EVAL.md)
     * and is one flag away; its settings differ from the trees' */
    if (!p.booster) p.booster = "gbtree";
    if (!strcmp(p.booster, "gblinear")) {
        if (!trees_set) p.trees = 300;
        if (!eta_set) p.eta = 1;
        if (!lambda_set) p.lambda = 0.0001;
    } else if (strcmp(p.booster, "gbtree") != 0) {
        fprintf(stderr, "hermes-router train: --booster must be gblinear or gbtree\n");
        return 2;
    }
    if ((!data && !from_log) || !out) {
        fprintf(stderr, "hermes-router train: --data (or --from-log) and --out are required (try --help)\n");
        return 2;
    }
    if (from_log && !config) {
        fprintf(stderr, "hermes-router train: --from-log needs --config (it names the request log)\n");
        return 2;
    }
    if (p.val_fraction < 0 || p.val_fraction >= 1) {
        fprintf(stderr, "hermes-router train: --val must be in [0, 1)\n");
        return 2;
    }
    if (p.folds < 0 || p.folds > 100 || (p.folds > 1 && (p.fold < 0 || p.fold >= p.folds))) {
        fprintf(stderr, "hermes-router train: --folds must be 2..100 and --fold 0..folds-1\n");
        return 2;
    }
    if (p.threshold <= 0 || p.threshold > 1 || target_cost < 0 || target_cost > 1) {
        fprintf(stderr, "hermes-router train: --threshold must be in (0, 1] and --target-cost in [0, 1]\n");
        return 2;
    }
    char err[512];
    hr_route_dataset logrows;
    memset(&logrows, 0, sizeof logrows);
    if (config) {
        hr_config *cfg = hr_config_load(config, err, sizeof err);
        if (!cfg) {
            fprintf(stderr, "hermes-router train: %s\n", err);
            return 1;
        }
        if (!dim_set && cfg->classifier.dim > 0) p.features.dim = cfg->classifier.dim;
        if (from_log && load_from_log(cfg, &logrows, err, sizeof err) < 0) {
            fprintf(stderr, "hermes-router train: %s\n", err);
            hr_config_free(cfg);
            hr_route_dataset_free(&logrows);
            return 1;
        }
        hr_config_free(cfg);
    }
    hr_embedder *emb = NULL;
    char emb_path[4096];
    if (embedder) {
        if (!(emb = hr_embedder_load(embedder, err, sizeof err))) {
            fprintf(stderr, "hermes-router train: %s\n", err);
            return 1;
        }
        /* absolute in the sidecar: the model may be read from another folder */
        if (!realpath(embedder, emb_path)) snprintf(emb_path, sizeof emb_path, "%s", embedder);
        p.features.emb_dim = hr_embedder_dim(emb);
        p.features.embedder = emb;
        p.embedder_path = emb_path;
    }
    if (hr_features_params_check(&p.features, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router train: %s\n", err);
        hr_embedder_free(emb);
        return 2;
    }
    hr_route_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (data && hr_route_dataset_load(data, &ds, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router train: %s\n", err);
        hr_route_dataset_free(&logrows);
        hr_embedder_free(emb);
        return 1;
    }
    for (size_t i = 0; i < logrows.n; i++) hr_route_dataset_add(&ds, &logrows.rows[i]);
    hr_route_dataset_free(&logrows);
    if (ds.n < 2) {
        fprintf(stderr, "hermes-router train: need at least 2 labelled rows (got %zu)\n", ds.n);
        hr_route_dataset_free(&ds);
        hr_embedder_free(emb);
        return 1;
    }
    size_t *tr = malloc(ds.n * sizeof *tr), *va = malloc(ds.n * sizeof *va), *ho = malloc(ds.n * sizeof *ho);
    size_t ntr = 0, nva = 0, nho = 0;
    for (size_t i = 0; i < ds.n; i++) {
        bool val = p.folds > 1 ? hr_route_split_fold(ds.rows[i].id, p.folds) == p.fold
                               : hr_route_split_is_val(ds.rows[i].id, p.val_fraction);
        if (hr_route_source_in_list(ds.rows[i].source, exclude)) ho[nho++] = i;
        else if (val) va[nva++] = i;
        else tr[ntr++] = i;
    }
    p.exclude_sources = exclude;
    progress_state ps = {.tty = isatty(2), .quiet = quiet, .t0 = hr_now_us()};
    p.progress = progress;
    p.ud = &ps;
    if (!quiet)
        fprintf(stderr,
                "train: %zu rows (%zu train, %zu validation, %zu held-out sources), %d trees depth %d dim %d%s%s\n",
                ds.n, ntr, nva, nho, p.trees, p.depth, p.features.dim, emb ? ", embeddings by " : "",
                emb ? emb_path : "");
    int rc = 1;
    hr_classifier *c = hr_classifier_train(&p, &ds, tr, ntr, va, nva, err, sizeof err);
    if (!c) {
        fprintf(stderr, "hermes-router train: %s\n", err);
        goto done;
    }
    if (!threshold_set) {
        /* the default threshold: the one giving target_cost on the validation
         * rows (the training rows when there are none) */
        const size_t *cr = nva ? va : tr;
        size_t cn = nva ? nva : ntr;
        float *probs = hr_classifier_predict_rows(c, &ds, cr, cn);
        if (probs) {
            hr_calibrate_target t = {.large_share = -1, .medium_share = -1, .cost = target_cost};
            hr_route_metrics m;
            p.threshold = hr_classifier_calibrate(c, &ds, cr, cn, probs, &t, &m);
            hr_classifier_set_threshold(c, p.threshold);
            printf("default threshold %.4f: cost %.3f of all-large on the %s rows (--target-cost %.2f)\n",
                   p.threshold, m.cost, nva ? "validation" : "training", target_cost);
            /* per language, where it has enough rows to calibrate on */
            size_t *lr = malloc(cn * sizeof *lr);
            float *lp = malloc(cn * (size_t)HR_TIER_MAX * sizeof *lp);
            for (int l = 0; l < 2; l++) {
                size_t ln = 0;
                for (size_t i = 0; i < cn; i++)
                    if (hr_classifier_lang_of(ds.rows[cr[i]].prompt) == l) {
                        memcpy(lp + ln * HR_TIER_MAX, probs + i * HR_TIER_MAX, HR_TIER_MAX * sizeof *lp);
                        lr[ln++] = cr[i];
                    }
                if (ln < 30) continue;
                double lt = hr_classifier_calibrate(c, &ds, lr, ln, lp, &t, &m);
                hr_classifier_set_lang_threshold(c, l, lt);
                printf("  %s threshold %.4f: cost %.3f on its %zu rows\n", l ? "zh" : "en", lt, m.cost, ln);
            }
            free(lr);
            free(lp);
            free(probs);
        }
    }
    if (hr_classifier_save(c, out, err, sizeof err) < 0) {
        fprintf(stderr, "hermes-router train: %s\n", err);
        goto done;
    }
    report("validation", c, &ds, va, nva, p.threshold, p.target);
    if (nho) report("held-out sources", c, &ds, ho, nho, p.threshold, p.target);
    printf("saved %s and %s.meta.json\n", out, out);
    rc = 0;
done:
    hr_classifier_free(c);
    hr_embedder_free(emb); /* after c: a trained classifier borrows it */
    free(tr);
    free(va);
    free(ho);
    hr_route_dataset_free(&ds);
    return rc;
}
