/* bench_classifier: decision time of the classifier strategy (hashed
 * features, dim 4096, 100 trees x 3 classes, depth 4) through
 * hr_router_decide, for one user message of 100, 2,000 and 20,000 characters,
 * English and Chinese; plus the two halves (feature extraction alone, tree
 * prediction alone) for the 2,000-character prompts.
 *
 * The model: --model M, or one trained here on every 8th row of the routing
 * data (the prediction cost depends on the tree count and depth, not on how
 * much data trained them). Goal (issue 6): p99 under 300 us at 2,000 chars.
 *
 * --embedder F.gguf: also a model with the sentence-embedding block (F, a
 * BERT-family GGUF), trained here the same way, and its decision time apart
 * (the issue asks for it separately), with the embedding alone next to it.
 *
 * Usage: bench_classifier [--model M] [--data train.jsonl] [--iters N] [--embedder F.gguf] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/buf.h"
#include "core/chat.h"
#include "core/clock.h"
#include "core/config.h"
#include "engine/engine.h"
#include "router/classifier.h"
#include "router/router.h"

/* Real-looking filler: a multiple-choice question in each language. */
static const char *filler_en =
    "A city imposes a municipal excise tax of $200 per year on commercial artists' studios. Which of the "
    "following is the strongest argument against the tax? A. It burdens interstate commerce. B. It is a "
    "tax on a privilege. ";
static const char *filler_zh = "请分析下面这段代码的时间复杂度，并说明为什么在最坏情况下需要线性时间。我们今天在公园里散步，天气晴朗。";

typedef enum { M_DECIDE, M_FEATURES, M_PREDICT } mode;

static void measure(hr_router *r, hr_classifier *c, const hr_chat_request *req, mode md, size_t iters, double *p50,
                    double *p99) {
    double *t = hr_xmalloc(iters * sizeof *t);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    hr_features_extract(&hr_classifier_get_meta(c)->features, req, &v);
    float probs[HR_TIER_MAX];
    for (size_t i = 0; i < iters + iters / 10 + 1; i++) {
        uint64_t t0 = hr_now_ns();
        if (md == M_DECIDE) {
            hr_route_decision d;
            hr_router_decide(r, req, false, &d);
            hr_route_decision_clear(&d);
        } else if (md == M_FEATURES) {
            hr_feature_vec w;
            hr_feature_vec_init(&w); /* as decide() does: a fresh vector per call */
            hr_features_extract(&hr_classifier_get_meta(c)->features, req, &w);
            hr_feature_vec_free(&w);
        } else {
            hr_classifier_predict(c, &v, probs);
        }
        double us = (double)(hr_now_ns() - t0) / 1000.0;
        if (i >= iters / 10 + 1) t[i - iters / 10 - 1] = us; /* after the warm-up */
    }
    qsort(t, iters, sizeof *t, bench_cmp_double);
    *p50 = t[iters / 2];
    *p99 = t[(size_t)(0.99 * (double)(iters - 1) + 0.5)];
    hr_feature_vec_free(&v);
    free(t);
}

/* Decision time with the embedding block; 0 or -1 (message printed). */
static int bench_embedder(const char *data, const char *embedder, size_t iters) {
    char err[512], path[300];
    hr_embedder *e = hr_embedder_load(embedder, err, sizeof err);
    if (!e) {
        fprintf(stderr, "bench_classifier: %s\n", err);
        return -1;
    }
    hr_route_dataset ds;
    if (hr_route_dataset_load(data, &ds, err, sizeof err) < 0) {
        fprintf(stderr, "bench_classifier: %s\n", err);
        hr_embedder_free(e);
        return -1;
    }
    size_t n = 0, *rows = malloc(ds.n * sizeof *rows);
    for (size_t i = 0; i < ds.n; i += 8) rows[n++] = i;
    hr_train_params p = hr_train_default_params();
    p.features.emb_dim = hr_embedder_dim(e);
    p.features.embedder = e;
    char abs[4096]; /* the sidecar's relative names are taken from the model's folder */
    p.embedder_path = realpath(embedder, abs) ? abs : embedder;
    fprintf(stderr, "bench_classifier: training with %d-value embeddings on %zu rows...\n", p.features.emb_dim, n);
    hr_classifier *c = hr_classifier_train(&p, &ds, rows, n, NULL, 0, err, sizeof err);
    free(rows);
    hr_route_dataset_free(&ds);
    if (!c || hr_classifier_save(c, (snprintf(path, sizeof path, "/tmp/bench_classifier_emb_%d.ubj", (int)getpid()), path),
                                 err, sizeof err) < 0) {
        fprintf(stderr, "bench_classifier: %s\n", err);
        hr_classifier_free(c);
        hr_embedder_free(e);
        return -1;
    }
    hr_classifier_free(c);
    hr_config *cfg = hr_config_default();
    for (int t = 0; t < HR_TIER_MAX; t++) cfg->tiers[t].enabled = true;
    free(cfg->strategy);
    cfg->strategy = hr_xstrdup("classifier");
    cfg->classifier.model = hr_xstrdup(path);
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    if (!r) {
        fprintf(stderr, "bench_classifier: %s\n", err);
        hr_config_free(cfg);
        hr_embedder_free(e);
        return -1;
    }
    const char *base = strrchr(embedder, '/');
    printf("\nWith the sentence-embedding block (%s, %d values, one thread per decision; %zu iterations per row):\n\n",
           base ? base + 1 : embedder, hr_embedder_dim(e), iters / 10 + 10);
    printf("| prompt | what | tokens | p50 ms | p99 ms |\n|---|---|---:|---:|---:|\n");
    size_t sizes[2] = {100, 2000};
    float *out = malloc((size_t)hr_embedder_dim(e) * sizeof *out);
    for (int lang = 0; lang < 2; lang++)
        for (int s = 0; s < 2; s++) {
            char *text = bench_make_text(lang ? filler_zh : filler_en, sizes[s]);
            hr_chat_request req;
            memset(&req, 0, sizeof req);
            hr_chat_request_from_prompt(text, &req);
            int ntok = hr_embedder_embed(e, text, strlen(text), out, err, sizeof err);
            for (int md = 0; md < 2; md++) {
                size_t it = iters / 10 + 10;
                double *t = hr_xmalloc(it * sizeof *t);
                for (size_t i = 0; i < it + 2; i++) {
                    uint64_t t0 = hr_now_ns();
                    if (md == 0) {
                        hr_route_decision d;
                        hr_router_decide(r, &req, false, &d);
                        hr_route_decision_clear(&d);
                    } else {
                        hr_embedder_embed(e, text, strlen(text), out, err, sizeof err);
                    }
                    if (i >= 2) t[i - 2] = (double)(hr_now_ns() - t0) / 1000.0;
                }
                qsort(t, it, sizeof *t, bench_cmp_double);
                printf("| %s %zu chars | %s | %d | %.1f | %.1f |\n", lang ? "zh" : "en", sizes[s],
                       md == 0 ? "decide (features + embedding + model)" : "embedding only", ntok, t[it / 2] / 1000,
                       t[(size_t)(0.99 * (double)(it - 1) + 0.5)] / 1000);
                free(t);
            }
            hr_chat_request_free(&req);
            free(text);
        }
    free(out);
    hr_router_free(r);
    hr_config_free(cfg);
    hr_embedder_free(e);
    char meta[320];
    snprintf(meta, sizeof meta, "%s.meta.json", path);
    unlink(path);
    unlink(meta);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *embedder = NULL;
    size_t iters = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--iters")) iters = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--embedder")) embedder = argv[i + 1];
    }
    if (iters < 10) iters = 10;
    char err[512], path[300];
    char defdata[512];
    const char *shared = getenv("HR_SHARED");
    snprintf(defdata, sizeof defdata, "%s/data/routing/train.jsonl", shared ? shared : "../shared");
    if (!data) data = defdata;
    if (!model) {
        hr_route_dataset ds;
        if (hr_route_dataset_load(data, &ds, err, sizeof err) < 0) {
            fprintf(stderr, "bench_classifier: %s (pass --model or --data)\n", err);
            return 1;
        }
        size_t n = 0, *rows = malloc(ds.n * sizeof *rows);
        for (size_t i = 0; i < ds.n; i += 8) rows[n++] = i;
        hr_train_params p = hr_train_default_params();
        fprintf(stderr, "bench_classifier: training %d trees depth %d dim %d on %zu rows...\n", p.trees, p.depth,
                p.features.dim, n);
        hr_classifier *c = hr_classifier_train(&p, &ds, rows, n, NULL, 0, err, sizeof err);
        free(rows);
        hr_route_dataset_free(&ds);
        if (!c) {
            fprintf(stderr, "bench_classifier: %s\n", err);
            return 1;
        }
        snprintf(path, sizeof path, "/tmp/bench_classifier_%d.ubj", (int)getpid());
        if (hr_classifier_save(c, path, err, sizeof err) < 0) {
            fprintf(stderr, "bench_classifier: %s\n", err);
            return 1;
        }
        hr_classifier_free(c);
        model = path;
    }
    hr_config *cfg = hr_config_default();
    for (int t = 0; t < HR_TIER_MAX; t++) cfg->tiers[t].enabled = true;
    free(cfg->strategy);
    cfg->strategy = hr_xstrdup("classifier");
    cfg->classifier.model = hr_xstrdup(model);
    hr_router *r = hr_router_create(cfg, err, sizeof err);
    hr_classifier *c = hr_classifier_load(model, err, sizeof err);
    if (!r || !c) {
        fprintf(stderr, "bench_classifier: %s\n", err);
        return 1;
    }
    const hr_classifier_meta *m = hr_classifier_get_meta(c);
    printf("### Classifier router: decision time\n\n");
    printf("hr_router_decide with strategy classifier (%s, dim %d, %d rounds x %d classes, depth %d), one user "
           "message, %zu iterations per row. Goal: p99 < 300 us at 2,000 characters.\n\n",
           m->booster, m->features.dim, m->trees, m->n_tiers, m->depth, iters);
    printf("| prompt | what | p50 us | p99 us |\n|---|---|---:|---:|\n");
    size_t sizes[3] = {100, 2000, 20000};
    for (int lang = 0; lang < 2; lang++) {
        for (int s = 0; s < 3; s++) {
            char *text = bench_make_text(lang ? filler_zh : filler_en, sizes[s]);
            hr_chat_request req;
            memset(&req, 0, sizeof req);
            hr_chat_request_from_prompt(text, &req);
            for (int md = 0; md < 3; md++) {
                if (md != M_DECIDE && sizes[s] != 2000) continue;
                double p50, p99;
                measure(r, c, &req, (mode)md, sizes[s] == 20000 ? iters / 4 + 10 : iters, &p50, &p99);
                static const char *what[3] = {"decide (features + model)", "features only", "model only"};
                printf("| %s %zu chars | %s | %.1f | %.1f |\n", lang ? "zh" : "en", sizes[s], what[md], p50, p99);
            }
            hr_chat_request_free(&req);
            free(text);
        }
    }
    hr_router_free(r);
    hr_classifier_free(c);
    hr_config_free(cfg);
    if (model == path) {
        char meta[320];
        snprintf(meta, sizeof meta, "%s.meta.json", path);
        unlink(path);
        unlink(meta);
    }
    if (embedder && bench_embedder(data, embedder, iters) < 0) return 1;
    return 0;
}
