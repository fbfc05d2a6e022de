/* Classifier router: decision rule, metrics, split; train -> save -> load ->
 * predict round trip (identical probabilities); load errors; calibration
 * hitting a target share; the strategy through hr_router_decide with a tiny
 * trained model. Small models (few trees, few hundred rows) keep it fast. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "router/classifier.h"
#include "router/router.h"

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hr-test-classifier-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in_tmp(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

/* A synthetic, separable data set: greetings -> small, code -> medium,
 * Chinese proofs -> large (quality says exactly that). */
static void synthetic(hr_route_dataset *ds, size_t per_class) {
    memset(ds, 0, sizeof *ds);
    char prompt[512], id[32];
    for (size_t i = 0; i < per_class * 3; i++) {
        int cls = (int)(i % 3);
        if (cls == 0) snprintf(prompt, sizeof prompt, "Say hello to my friend number %zu, please.", i);
        else if (cls == 1)
            snprintf(prompt, sizeof prompt,
                     "Fix this function %zu:\n```python\ndef f(x):\n    return x + %zu\n```\nIt returns the wrong value.",
                     i, i);
        else snprintf(prompt, sizeof prompt, "请证明第%zu个定理：对于所有正整数n，n的平方加n是偶数，并分析原因。", i);
        snprintf(id, sizeof id, "syn:%zu", i);
        hr_route_example ex = {.id = id, .source = "syn", .lang = cls == 2 ? "zh" : "en", .category = "x",
                               .prompt = prompt, .label = cls};
        for (int t = 0; t < HR_TIER_MAX; t++) ex.quality[t] = t >= cls ? 1.0f : 0.0f;
        hr_route_dataset_add(ds, &ex);
    }
}

static size_t *all_rows(size_t n) {
    size_t *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = i;
    return r;
}

static hr_train_params small_params(void) {
    hr_train_params p = hr_train_default_params();
    p.trees = 8;
    p.depth = 3;
    p.features.dim = 256;
    p.nthread = 1;
    p.subsample = 1.0;
    p.colsample = 1.0;
    p.min_child_weight = 0.5;
    p.eta = 0.5;
    return p;
}

static void test_pick_rule(void **state) {
    (void)state;
    float probs[3] = {0.2f, 0.3f, 0.5f}, pass[3];
    assert_int_equal(hr_classifier_pick(probs, 3, 0.1, pass), 0);
    assert_float_equal(pass[0], 0.2, 1e-6);
    assert_float_equal(pass[1], 0.5, 1e-6);
    assert_float_equal(pass[2], 1.0, 0);
    assert_int_equal(hr_classifier_pick(probs, 3, 0.5, NULL), 1);
    assert_int_equal(hr_classifier_pick(probs, 3, 0.51, NULL), 2);
    assert_int_equal(hr_classifier_pick(probs, 3, 1.0, NULL), 2); /* the largest is the fallback */
    float two[2] = {0.7f, 0.3f};
    assert_int_equal(hr_classifier_pick(two, 2, 0.6, NULL), 0);
    assert_int_equal(hr_classifier_pick(two, 2, 0.8, NULL), 1);
}

/* Gain rule: maximise q - lambda * cost, lambda = 1/threshold - 1; costs
 * 8/405, 70/405, 1. */
static void test_pick_gain_rule(void **state) {
    (void)state;
    const int tiers[3] = {HR_TIER_SMALL, HR_TIER_MEDIUM, HR_TIER_LARGE};
    float q[3] = {0.5f, 0.7f, 0.75f};
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 1.0), 2);  /* lambda 0: any gain */
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 0.5), 1);  /* lambda 1: 0.2 for 0.153 yes, 0.05 for 0.83 no */
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 0.1), 0);  /* lambda 9 */
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 0.0), 0);
    /* the medium/large break-even: 0.05 / (1 - 70/405) -> lambda 0.0605, threshold 0.943 */
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 0.94), 1);
    assert_int_equal(hr_classifier_pick_gain(q, tiers, 3, 0.945), 2);
    float flat[3] = {0.5f, 0.5f, 0.5f};
    assert_int_equal(hr_classifier_pick_gain(flat, tiers, 3, 1.0), 0); /* ties go to the cheaper tier */
    /* monotone: a higher threshold never picks a cheaper tier */
    float r[3] = {0.2f, 0.55f, 0.6f};
    int prev = 0;
    for (int k = 0; k <= 100; k++) {
        int t = hr_classifier_pick_gain(r, tiers, 3, k / 100.0);
        assert_true(t >= prev);
        prev = t;
    }
    assert_int_equal(prev, 2);
    /* through the meta: "pass" carries the predicted qualities */
    hr_classifier_meta m;
    memset(&m, 0, sizeof m);
    m.n_tiers = 3;
    memcpy(m.tiers, tiers, sizeof tiers);
    snprintf(m.target, sizeof m.target, "gain");
    float pass[3];
    assert_int_equal(hr_classifier_choose(&m, q, 0.5, pass), 1);
    assert_memory_equal(pass, q, sizeof q);
    snprintf(m.target, sizeof m.target, "best");
    float probs[3] = {0.2f, 0.3f, 0.5f};
    assert_int_equal(hr_classifier_choose(&m, probs, 0.5, pass), 1);
    assert_float_equal(pass[1], 0.5, 1e-6);
}

static void test_metrics_and_split(void **state) {
    (void)state;
    hr_route_dataset ds;
    memset(&ds, 0, sizeof ds);
    hr_route_example a = {.id = "a", .prompt = "x", .label = 0, .quality = {1, 1, 1}};
    hr_route_example b = {.id = "b", .prompt = "y", .label = 2, .quality = {0, 0, 1}};
    hr_route_dataset_add(&ds, &a);
    hr_route_dataset_add(&ds, &b);
    size_t rows[2] = {0, 1};
    int choice[2] = {HR_TIER_SMALL, HR_TIER_LARGE};
    hr_route_metrics m;
    hr_route_metrics_compute(&ds, rows, 2, choice, &m);
    assert_float_equal(m.quality, 1.0, 1e-9);
    assert_float_equal(m.cost, (8.0 / 405 + 1.0) / 2, 1e-9);
    assert_float_equal(m.q_tier[0], 0.5, 1e-9);
    assert_float_equal(m.pgr, 1.0, 1e-9);
    assert_float_equal(m.share[0], 0.5, 1e-9);
    double share[3] = {0.5, 0, 0.5};
    hr_route_metrics_random(&ds, rows, 2, share, &m);
    assert_float_equal(m.quality, 0.75, 1e-9);
    assert_float_equal(m.pgr, 0.5, 1e-9);
    /* target classes: "best" sends a prompt no tier passes to small */
    hr_route_example none = {.id = "n", .prompt = "z", .label = 2, .quality = {0.1f, 0.1f, 0.12f}};
    assert_int_equal(hr_train_target_class(&none, HR_TARGET_LABEL), 2);
    assert_int_equal(hr_train_target_class(&none, HR_TARGET_BEST), 0);
    assert_int_equal(hr_train_target_class(&b, HR_TARGET_BEST), 2);
    hr_route_dataset_free(&ds);

    size_t val = 0;
    char id[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "mmlu:%08x", (unsigned)i * 2654435761u);
        bool v = hr_route_split_is_val(id, 0.2);
        assert_int_equal(v, hr_route_split_is_val(id, 0.2)); /* deterministic */
        val += v;
    }
    assert_in_range(val, 1800, 2200);
    /* folds partition the ids; fold 0 of 5 is exactly the 0.2 validation part */
    size_t per_fold[5] = {0};
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "row-%d", i);
        int f = hr_route_split_fold(id, 5);
        assert_in_range(f, 0, 4);
        per_fold[f]++;
        assert_int_equal(f == 0, hr_route_split_is_val(id, 0.2));
    }
    for (int f = 0; f < 5; f++) assert_in_range(per_fold[f], 850, 1150);
    hr_classifier_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.folds = 5;
    meta.fold = 3;
    snprintf(meta.exclude_sources, sizeof meta.exclude_sources, "mmlu");
    hr_route_example ex = {.id = "row-1", .source = "alpaca_eval"};
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "row-%d", i);
        ex.id = id;
        assert_int_equal(hr_classifier_holds_out(&meta, &ex), hr_route_split_fold(id, 5) == 3);
    }
    ex.source = "mmlu";
    assert_true(hr_classifier_holds_out(&meta, &ex));
    assert_true(hr_route_source_in_list("mmlu", "alpaca_eval,mmlu"));
    assert_false(hr_route_source_in_list("mml", "alpaca_eval,mmlu"));
    assert_false(hr_route_source_in_list("mmlu", ""));
}

static void roundtrip(const char *booster) {
    hr_route_dataset ds;
    synthetic(&ds, 40);
    size_t *rows = all_rows(ds.n);
    hr_train_params p = small_params();
    p.booster = booster;
    if (!strcmp(booster, "gblinear")) p.trees = 50, p.eta = 1, p.lambda = 0.001, p.weight_floor = -1;
    char err[512];
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    float *before = hr_classifier_predict_rows(c, &ds, rows, ds.n);
    assert_non_null(before);
    /* the signal is learnt: the argmax is the class on (nearly) every row */
    size_t correct = 0;
    for (size_t i = 0; i < ds.n; i++) {
        const float *pr = before + 3 * i;
        int best = pr[1] > pr[0] ? 1 : 0;
        if (pr[2] > pr[best]) best = 2;
        correct += best == ds.rows[i].label;
        assert_float_equal(pr[0] + pr[1] + pr[2], 1.0, 1e-5);
    }
    assert_true(correct >= ds.n * 95 / 100);

    const char *names[2] = {"m.ubj", "m.json"};
    for (int k = 0; k < 2; k++) {
        char path[300];
        path_in_tmp(path, sizeof path, names[k]);
        assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
        hr_classifier *l = hr_classifier_load(path, err, sizeof err);
        assert_non_null(l);
        const hr_classifier_meta *m = hr_classifier_get_meta(l);
        assert_int_equal(m->features.dim, 256);
        assert_int_equal(m->n_tiers, 3);
        assert_int_equal(m->trees, p.trees);
        assert_string_equal(m->booster, booster);
        assert_string_equal(m->target, "best");
        float *after = hr_classifier_predict_rows(l, &ds, rows, ds.n);
        assert_non_null(after);
        assert_memory_equal(before, after, ds.n * 3 * sizeof *after);
        /* one row through the request path gives the same numbers */
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        hr_chat_request_from_prompt(ds.rows[5].prompt, &req);
        float one[3];
        assert_int_equal(hr_classifier_predict_request(l, &req, NULL, one), 0);
        assert_memory_equal(one, after + 15, sizeof one);
        hr_chat_request_free(&req);
        free(after);
        hr_classifier_free(l);
    }
    free(before);
    hr_classifier_free(c);
    free(rows);
    hr_route_dataset_free(&ds);
}

static void test_train_save_load_roundtrip(void **state) {
    (void)state;
    roundtrip("gbtree");
    roundtrip("gblinear"); /* predicts through a DMatrix: no in-place prediction for linear boosters */
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_errors(void **state) {
    (void)state;
    char err[512], path[300], meta[320];
    path_in_tmp(path, sizeof path, "missing.ubj");
    assert_null(hr_classifier_load(path, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));

    /* a valid model, then break one file at a time */
    hr_route_dataset ds;
    synthetic(&ds, 10);
    size_t *rows = all_rows(ds.n);
    hr_train_params p = small_params();
    p.trees = 2;
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    path_in_tmp(path, sizeof path, "bad.ubj");
    snprintf(meta, sizeof meta, "%s.meta.json", path);
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    hr_classifier_free(c);

    write_text(path, "this is not a model");
    assert_null(hr_classifier_load(path, err, sizeof err));
    assert_non_null(strstr(err, "not a valid XGBoost model"));

    path_in_tmp(path, sizeof path, "bad2.ubj");
    snprintf(meta, sizeof meta, "%s.meta.json", path);
    c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    hr_classifier_free(c);
    write_text(meta, "{\"format\":\"something else\"}");
    assert_null(hr_classifier_load(path, err, sizeof err));
    assert_non_null(strstr(err, "format"));
    write_text(meta, "{\"format\":\"hermes-router-classifier\",\"version\":1,\"features\":{\"version\":1,"
                     "\"dim\":512,\"char_min\":1,\"char_max\":3,\"word_max\":2},\"ncols\":525,"
                     "\"tiers\":[\"small\",\"medium\",\"large\"]}");
    assert_null(hr_classifier_load(path, err, sizeof err)); /* booster has 256+13 features */
    assert_non_null(strstr(err, "features"));
    write_text(meta, "{\"format\":\"hermes-router-classifier\",\"version\":1,\"features\":{\"version\":1,"
                     "\"dim\":256,\"char_min\":1,\"char_max\":3,\"word_max\":2},\"ncols\":269,"
                     "\"tiers\":[\"small\",\"large\"]}");
    assert_null(hr_classifier_load(path, err, sizeof err)); /* 3 classes, 2 tiers */
    assert_non_null(strstr(err, "tier"));
    free(rows);
    hr_route_dataset_free(&ds);
}

/* Calibration on real labelled prompts: the threshold found gives the asked
 * share of large-tier calls within 2 points, and the asked cost within 0.02. */
static void test_calibration_hits_target(void **state) {
    (void)state;
    const char *shared = getenv("HR_SHARED");
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/data/routing/train.jsonl", shared ? shared : "../shared");
    hr_route_dataset full;
    assert_int_equal(hr_route_dataset_load(path, &full, err, sizeof err), 0);
    /* every 10th row: a few hundred, all sources */
    size_t n = 0, *rows = malloc(full.n * sizeof *rows);
    for (size_t i = 0; i < full.n; i += 10) rows[n++] = i;
    hr_train_params p = hr_train_default_params();
    p.trees = 10;
    p.depth = 3;
    p.features.dim = 512;
    p.nthread = 1;
    hr_classifier *c = hr_classifier_train(&p, &full, rows, n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    float *probs = hr_classifier_predict_rows(c, &full, rows, n);
    assert_non_null(probs);
    double targets[3] = {0.05, 0.2, 0.4};
    for (int k = 0; k < 3; k++) {
        hr_calibrate_target t = {.large_share = targets[k], .medium_share = -1, .cost = -1};
        hr_route_metrics m;
        double thr = hr_classifier_calibrate(c, &full, rows, n, probs, &t, &m);
        assert_true(thr > 0 && thr <= 1);
        assert_float_equal(m.share[HR_TIER_LARGE], targets[k], 0.02);
        /* the metrics describe what routing at thr really does */
        int *choice = malloc(n * sizeof *choice);
        hr_classifier_route_rows(c, probs, n, thr, choice);
        hr_route_metrics check;
        hr_route_metrics_compute(&full, rows, n, choice, &check);
        assert_float_equal(check.share[HR_TIER_LARGE], m.share[HR_TIER_LARGE], 1e-12);
        free(choice);
    }
    hr_calibrate_target tc = {.large_share = -1, .medium_share = -1, .cost = 0.3};
    hr_route_metrics m;
    hr_classifier_calibrate(c, &full, rows, n, probs, &tc, &m);
    assert_float_equal(m.cost, 0.3, 0.02);
    free(probs);
    hr_classifier_free(c);
    /* the gain knob too (its candidates are the rows' break-even thresholds) */
    p.target = HR_TARGET_GAIN;
    c = hr_classifier_train(&p, &full, rows, n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    probs = hr_classifier_predict_rows(c, &full, rows, n);
    for (int k = 0; k < 3; k++) {
        tc.cost = 0.1 + 0.1 * k;
        hr_classifier_calibrate(c, &full, rows, n, probs, &tc, &m);
        assert_float_equal(m.cost, tc.cost, 0.02);
    }
    free(probs);
    hr_classifier_free(c);
    free(rows);
    hr_route_dataset_free(&full);
}

static void test_dataset_errors(void **state) {
    (void)state;
    char path[300], err[512];
    hr_route_dataset ds;
    path_in_tmp(path, sizeof path, "bad.jsonl");
    write_text(path, "{\"id\":\"a\",\"prompt\":\"x\",\"label\":\"small\",\"quality\":{\"small\":1,\"medium\":1,"
                     "\"large\":1}}\n{\"id\":\"b\",\"prompt\":\"y\",\"label\":\"huge\"}\n");
    assert_int_equal(hr_route_dataset_load(path, &ds, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: \"label\""));
    write_text(path, "\n{\"id\":\"b\",\"prompt\":\"y\",\"label\":\"medium\"}\n\n");
    assert_int_equal(hr_route_dataset_load(path, &ds, err, sizeof err), 0);
    assert_int_equal(ds.n, 1);
    assert_float_equal(ds.rows[0].quality[0], 0, 0); /* no quality: 1 from the label up */
    assert_float_equal(ds.rows[0].quality[1], 1, 0);
    hr_route_dataset_free(&ds);
}

/* A config with every tier enabled and the classifier strategy on model. */
static hr_config *classifier_config(const char *model) {
    hr_config *cfg = hr_config_default();
    for (int t = 0; t < HR_TIER_MAX; t++) cfg->tiers[t].enabled = true;
    free(cfg->strategy);
    cfg->strategy = strdup("classifier");
    cfg->classifier.model = strdup(model);
    return cfg;
}

static void test_strategy_in_router(void **state) {
    (void)state;
    hr_route_dataset ds;
    synthetic(&ds, 40);
    size_t *rows = all_rows(ds.n);
    hr_train_params p = small_params();
    char err[512], path[300];
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    path_in_tmp(path, sizeof path, "router.ubj");
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    hr_classifier_free(c);

    hr_config *cfg = classifier_config(path);
    cfg->classifier.threshold = 0.5;
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    assert_non_null(r);
    /* a reload creates a second router while the first still serves */
    hr_router *r2 = hr_router_create(cfg, err, sizeof err);
    assert_non_null(r2);
    assert_string_equal(hr_router_strategy_name(r), "classifier");
    struct {
        const char *prompt;
        int tier;
    } cases[] = {
        {"Say hello to my friend number 1000, please.", HR_TIER_SMALL},
        {"Fix this function 7:\n```python\ndef f(x):\n    return x + 7\n```\nIt returns the wrong value.", HR_TIER_MEDIUM},
        {"请证明第99个定理：对于所有正整数n，n的平方加n是偶数，并分析原因。", HR_TIER_LARGE},
    };
    for (size_t k = 0; k < 3; k++) {
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        hr_chat_request_from_prompt(cases[k].prompt, &req);
        hr_route_decision d;
        assert_int_equal(hr_router_decide(k == 1 ? r2 : r, &req, true, &d), 0);
        assert_int_equal(d.tier, cases[k].tier);
        assert_string_equal(d.strategy, "classifier");
        assert_int_equal(d.n_probs, 3);
        assert_float_equal(d.probs[0] + d.probs[1] + d.probs[2], 1.0, 1e-5);
        assert_non_null(strstr(d.reason, "P("));
        assert_non_null(d.features);
        assert_non_null(cJSON_GetObjectItem(d.features, "p_pass"));
        assert_non_null(cJSON_GetObjectItem(d.features, "cjk_share"));
        hr_route_decision_clear(&d);
        hr_chat_request_free(&req);
    }
    hr_router_free(r);
    hr_router_free(r2);

    /* threshold 0 in the config: the model's own (stored by train/calibrate) */
    hr_classifier *withthr = hr_classifier_load(path, err, sizeof err);
    assert_non_null(withthr);
    hr_classifier_set_threshold(withthr, 0.37);
    assert_int_equal(hr_classifier_save(withthr, path, err, sizeof err), 0);
    hr_classifier_free(withthr);
    cfg->classifier.threshold = 0;
    r = hr_router_create(cfg, err, sizeof err);
    assert_non_null(r);
    {
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        hr_chat_request_from_prompt(cases[0].prompt, &req);
        hr_route_decision d;
        assert_int_equal(hr_router_decide(r, &req, true, &d), 0);
        assert_non_null(strstr(d.reason, "0.37"));
        assert_float_equal(cJSON_GetObjectItem(d.features, "threshold")->valuedouble, 0.37, 1e-9);
        hr_route_decision_clear(&d);
        hr_chat_request_free(&req);
    }
    hr_router_free(r);

    /* a missing model fails create() with the path in the message */
    free(cfg->classifier.model);
    path_in_tmp(path, sizeof path, "nope.ubj");
    cfg->classifier.model = strdup(path);
    assert_null(hr_router_create(cfg, err, sizeof err));
    assert_non_null(strstr(err, "nope.ubj"));
    free(cfg->classifier.model);
    cfg->classifier.model = NULL;
    assert_null(hr_router_create(cfg, err, sizeof err));
    assert_non_null(strstr(err, "router.classifier.model"));
    hr_config_free(cfg);
    free(rows);
    hr_route_dataset_free(&ds);
}

/* Target "gain": a regression of each tier's quality; predictions come back
 * as expected qualities (close to the truth on separable data), survive save
 * and load, and the strategy routes by gain per cost. */
static void test_gain_model(void **state) {
    (void)state;
    hr_route_dataset ds;
    synthetic(&ds, 40);
    size_t *rows = all_rows(ds.n);
    const char *boosters[2] = {"gbtree", "gblinear"};
    for (int b = 0; b < 2; b++) {
        hr_train_params p = small_params();
        p.target = HR_TARGET_GAIN;
        p.booster = boosters[b];
        if (b == 1) p.trees = 60, p.eta = 1, p.lambda = 0.001;
        else p.trees = 20;
        char err[512], path[300];
        hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
        if (!c) fail_msg("train: %s", err);
        assert_string_equal(hr_classifier_get_meta(c)->target, "gain");
        float *q = hr_classifier_predict_rows(c, &ds, rows, ds.n);
        assert_non_null(q);
        double se = 0;
        for (size_t i = 0; i < ds.n; i++)
            for (int t = 0; t < 3; t++) se += pow(q[3 * i + t] - ds.rows[i].quality[t], 2);
        assert_true(sqrt(se / (3.0 * ds.n)) < 0.15);
        /* at threshold 0.6 (lambda 2/3) every gain of 1 is worth its cost: the oracle's routing */
        int *choice = malloc(ds.n * sizeof *choice);
        hr_classifier_route_rows(c, q, ds.n, 0.6, choice);
        size_t same = 0;
        for (size_t i = 0; i < ds.n; i++) same += choice[i] == ds.rows[i].label;
        assert_true(same >= ds.n * 95 / 100);
        /* calibration over the gain knob finds the oracle's cost (a third
         * each of small, medium, large; real data: test_calibration_hits_target) */
        hr_calibrate_target t = {.large_share = -1, .medium_share = -1, .cost = (8.0 + 70 + 405) / 405 / 3};
        hr_route_metrics m;
        double thr = hr_classifier_calibrate(c, &ds, rows, ds.n, q, &t, &m);
        assert_true(thr > 0 && thr <= 1);
        assert_float_equal(m.cost, t.cost, 0.01);
        free(choice);

        path_in_tmp(path, sizeof path, b ? "gain.json" : "gain.ubj");
        assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
        hr_classifier *l = hr_classifier_load(path, err, sizeof err);
        if (!l) fail_msg("load: %s", err);
        assert_string_equal(hr_classifier_get_meta(l)->target, "gain");
        float *q2 = hr_classifier_predict_rows(l, &ds, rows, ds.n);
        assert_memory_equal(q, q2, ds.n * 3 * sizeof *q);
        free(q2);
        hr_classifier_free(l);
        hr_classifier_free(c);
        free(q);

        hr_config *cfg = classifier_config(path);
        cfg->classifier.threshold = 0.6;
        hr_router *r = hr_router_create(cfg, err, sizeof err);
        assert_non_null(r);
        const char *prompts[3] = {"Say hello to my friend number 1000, please.",
                                  "Fix this function 7:\n```python\ndef f(x):\n    return x + 7\n```\nIt returns the wrong value.",
                                  "请证明第99个定理：对于所有正整数n，n的平方加n是偶数，并分析原因。"};
        for (int k = 0; k < 3; k++) {
            hr_chat_request req;
            memset(&req, 0, sizeof req);
            hr_chat_request_from_prompt(prompts[k], &req);
            hr_route_decision d;
            assert_int_equal(hr_router_decide(r, &req, true, &d), 0);
            if (d.tier != k) fail_msg("%s: prompt %d -> tier %d (%s)", boosters[b], k, d.tier, d.reason);
            assert_int_equal(d.tier, k);
            assert_non_null(strstr(d.reason, "E[quality]"));
            assert_non_null(cJSON_GetObjectItem(d.features, "expected_quality"));
            hr_route_decision_clear(&d);
            hr_chat_request_free(&req);
        }
        hr_router_free(r);
        hr_config_free(cfg);
    }
    free(rows);
    hr_route_dataset_free(&ds);
}

/* decide() from several threads at once on one router gives the same
 * probabilities as one thread (predictions are serialised per model). */
typedef struct conc_arg {
    hr_router *r;
    const hr_route_dataset *ds;
    const float *expect; /* 3 per row */
    int mismatches;
} conc_arg;

static void *conc_worker(void *p) {
    conc_arg *a = p;
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < a->ds->n; i++) {
            hr_chat_request req;
            memset(&req, 0, sizeof req);
            hr_chat_request_from_prompt(a->ds->rows[i].prompt, &req);
            hr_route_decision d;
            if (hr_router_decide(a->r, &req, false, &d) != 0 || memcmp(d.probs, a->expect + 3 * i, 3 * sizeof(float)))
                a->mismatches++;
            hr_route_decision_clear(&d);
            hr_chat_request_free(&req);
        }
    return NULL;
}

static void test_concurrent_decide(void **state) {
    (void)state;
    hr_route_dataset ds;
    synthetic(&ds, 10);
    size_t *rows = all_rows(ds.n);
    hr_train_params p = small_params();
    char err[512], path[300];
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    path_in_tmp(path, sizeof path, "conc.ubj");
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    float *expect = hr_classifier_predict_rows(c, &ds, rows, ds.n);
    hr_classifier_free(c);
    hr_config *cfg = classifier_config(path);
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    assert_non_null(r);
    enum { NT = 4 };
    pthread_t th[NT];
    conc_arg args[NT];
    for (int k = 0; k < NT; k++) {
        args[k] = (conc_arg){.r = r, .ds = &ds, .expect = expect};
        assert_int_equal(pthread_create(&th[k], NULL, conc_worker, &args[k]), 0);
    }
    for (int k = 0; k < NT; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(args[k].mismatches, 0);
    }
    hr_router_free(r);
    hr_config_free(cfg);
    free(expect);
    free(rows);
    hr_route_dataset_free(&ds);
}

/* The optional embedding block: a synthetic BERT (random weights, the bge
 * vocab) as the embedder. The row carries the model's unit-length embedding
 * after the dense extras; train -> save -> load finds the embedder through
 * the sidecar and predicts the same; a missing embedder or one of another
 * size is a load error; the strategy runs with it in the router. */
static void test_embedding_block(void **state) {
    (void)state;
    char err[512], bert[300], path[300], meta[320];
    const char *shared = getenv("HR_SHARED");
    char vocab[512];
    snprintf(vocab, sizeof vocab, "%s/tokenizers/llama-vocab/ggml-vocab-bert-bge.gguf", shared ? shared : "../shared");
    path_in_tmp(bert, sizeof bert, "bert.gguf");
    hr_synth_params sp = hr_synth_default_params();
    sp.shape = "bert-tiny";
    sp.type = "f32";
    sp.vocab_gguf = vocab;
    assert_int_equal(hr_synth_write(&sp, bert, err, sizeof err), 0);
    hr_embedder *e = hr_embedder_load(bert, err, sizeof err);
    assert_non_null(e);
    int ed = hr_embedder_dim(e);
    assert_true(ed > 0);

    /* the row */
    hr_features_params fp = hr_features_default_params();
    fp.dim = 256;
    fp.emb_dim = ed;
    fp.embedder = e;
    assert_int_equal(hr_features_ncols(&fp), 256 + HR_FEAT_N_DENSE + (size_t)ed);
    const char *text = "Explain why the sky is blue, in two sentences.";
    hr_chat_request req;
    memset(&req, 0, sizeof req);
    hr_chat_request_from_prompt(text, &req);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    assert_int_equal(hr_features_extract(&fp, &req, &v), 0);
    float *ref = calloc((size_t)ed, sizeof *ref);
    assert_true(hr_embedder_embed(e, text, strlen(text), ref, err, sizeof err) > 0);
    double ss = 0;
    for (int k = 0; k < ed; k++) {
        float got = hr_feature_vec_get(&v, (uint32_t)(256 + HR_FEAT_N_DENSE + k));
        assert_true(got == ref[k]);
        ss += (double)got * got;
    }
    assert_true(fabs(ss - 1.0) < 1e-4);
    /* without the model the row cannot be made */
    fp.embedder = NULL;
    assert_int_equal(hr_features_extract(&fp, &req, &v), -1);
    fp.embedder = e;
    hr_chat_request_free(&req);
    hr_feature_vec_free(&v);
    free(ref);

    /* train -> save -> load (the embedder comes from the sidecar) -> same numbers */
    hr_route_dataset ds;
    synthetic(&ds, 8);
    size_t *rows = all_rows(ds.n);
    hr_train_params p = small_params();
    p.features = fp;
    p.embedder_path = bert;
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    float *before = hr_classifier_predict_rows(c, &ds, rows, ds.n);
    assert_non_null(before);
    path_in_tmp(path, sizeof path, "emb.ubj");
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    hr_classifier_free(c);
    hr_classifier *l = hr_classifier_load(path, err, sizeof err);
    assert_non_null(l);
    assert_int_equal(hr_classifier_get_meta(l)->features.emb_dim, ed);
    assert_string_equal(hr_classifier_get_meta(l)->embedder, bert);
    float *after = hr_classifier_predict_rows(l, &ds, rows, ds.n);
    assert_non_null(after);
    assert_memory_equal(before, after, ds.n * 3 * sizeof *after);
    free(after);
    free(before);
    hr_classifier_free(l);

    /* errors: the embedder missing, or of another size than trained with */
    char missing[300];
    path_in_tmp(missing, sizeof missing, "nowhere.gguf");
    assert_null(hr_classifier_load_ex(path, missing, err, sizeof err));
    assert_non_null(strstr(err, "embedding model"));
    snprintf(meta, sizeof meta, "%s.meta.json", path);
    FILE *f = fopen(meta, "r");
    assert_non_null(f);
    char text_meta[8192];
    size_t n = fread(text_meta, 1, sizeof text_meta - 1, f);
    fclose(f);
    text_meta[n] = 0;
    char needle[64], repl[64];
    snprintf(needle, sizeof needle, "\"dim\":\t%d", ed); /* cJSON_Print's layout */
    char *at = strstr(text_meta, needle);
    assert_non_null(at);
    snprintf(repl, sizeof repl, "\"dim\":\t%d", ed + 1);
    char edited[8300];
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text_meta), text_meta, repl, at + strlen(needle));
    char ncols_old[64], ncols_new[64];
    snprintf(ncols_old, sizeof ncols_old, "\"ncols\":\t%d", 256 + HR_FEAT_N_DENSE + ed);
    snprintf(ncols_new, sizeof ncols_new, "\"ncols\":\t%d", 256 + HR_FEAT_N_DENSE + ed + 1);
    char *nc = strstr(edited, ncols_old);
    assert_non_null(nc);
    char edited2[8400];
    snprintf(edited2, sizeof edited2, "%.*s%s%s", (int)(nc - edited), edited, ncols_new, nc + strlen(ncols_old));
    f = fopen(meta, "w");
    fputs(edited2, f);
    fclose(f);
    assert_null(hr_classifier_load(path, err, sizeof err));
    assert_non_null(strstr(err, "values"));

    /* the strategy with it, through the router */
    c = hr_classifier_train(&p, &ds, rows, ds.n, NULL, 0, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(hr_classifier_save(c, path, err, sizeof err), 0);
    hr_classifier_free(c);
    hr_config *cfg = classifier_config(path);
    cfg->classifier.embedder = strdup(bert);
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    assert_non_null(r);
    hr_chat_request q;
    memset(&q, 0, sizeof q);
    hr_chat_request_from_prompt("Say hello to my friend number 1000, please.", &q);
    hr_route_decision d;
    memset(&d, 0, sizeof d);
    assert_int_equal(hr_router_decide(r, &q, true, &d), 0);
    assert_string_equal(d.strategy, "classifier");
    assert_non_null(d.features);
    const cJSON *edim = cJSON_GetObjectItemCaseSensitive(d.features, "embedding_dim");
    assert_true(cJSON_IsNumber(edim) && edim->valueint == ed);
    hr_route_decision_clear(&d);
    hr_chat_request_free(&q);
    hr_router_free(r);
    hr_config_free(cfg);
    free(rows);
    hr_route_dataset_free(&ds);
    hr_embedder_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_rule),
        cmocka_unit_test(test_pick_gain_rule),
        cmocka_unit_test(test_gain_model),
        cmocka_unit_test(test_metrics_and_split),
        cmocka_unit_test(test_dataset_errors),
        cmocka_unit_test(test_train_save_load_roundtrip),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_calibration_hits_target),
        cmocka_unit_test(test_strategy_in_router),
        cmocka_unit_test(test_concurrent_decide),
        cmocka_unit_test(test_embedding_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
