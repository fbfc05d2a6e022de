/* Classifier router: labelled data, metrics, training and calibration
 * (used by the train / eval / calibrate commands and the tests). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xgboost/c_api.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "router/classifier.h"

/* ---- data ---- */

void hr_route_dataset_add(hr_route_dataset *ds, const hr_route_example *ex) {
    if ((ds->n & (ds->n - 1)) == 0) /* grow at powers of two */
        ds->rows = hr_xrealloc(ds->rows, (ds->n ? ds->n * 2 : 1) * sizeof *ds->rows);
    hr_route_example *r = &ds->rows[ds->n++];
    r->id = hr_xstrdup(ex->id ? ex->id : "");
    r->source = hr_xstrdup(ex->source ? ex->source : "?");
    r->lang = hr_xstrdup(ex->lang ? ex->lang : "?");
    r->category = hr_xstrdup(ex->category ? ex->category : "?");
    r->prompt = hr_xstrdup(ex->prompt ? ex->prompt : "");
    memcpy(r->quality, ex->quality, sizeof r->quality);
    r->label = ex->label;
}

void hr_route_dataset_free(hr_route_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) {
        hr_route_example *r = &ds->rows[i];
        free(r->id);
        free(r->source);
        free(r->lang);
        free(r->category);
        free(r->prompt);
    }
    free(ds->rows);
    ds->rows = NULL;
    ds->n = 0;
}

static const char *opt_string(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_row(const char *line, hr_route_example *ex, char *why, size_t whylen, cJSON **keep) {
    cJSON *o = cJSON_Parse(line);
    *keep = o;
    if (!cJSON_IsObject(o)) {
        snprintf(why, whylen, "not a JSON object");
        return -1;
    }
    memset(ex, 0, sizeof *ex);
    ex->id = (char *)opt_string(o, "id");
    ex->prompt = (char *)opt_string(o, "prompt");
    ex->source = (char *)opt_string(o, "source");
    ex->lang = (char *)opt_string(o, "lang");
    ex->category = (char *)opt_string(o, "category");
    const char *label = opt_string(o, "label");
    if (!ex->id || !ex->prompt) {
        snprintf(why, whylen, "needs string fields \"id\" and \"prompt\"");
        return -1;
    }
    ex->label = label ? hr_tier_from_name(label) : -1;
    if (ex->label < 0) {
        snprintf(why, whylen, "\"label\" must be small, medium or large");
        return -1;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quality");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, hr_tier_name(t));
        if (!cJSON_IsNumber(v)) {
            /* rows without measured quality (e.g. imported labels): 1 from the label up */
            if (q) {
                snprintf(why, whylen, "\"quality.%s\" must be a number", hr_tier_name(t));
                return -1;
            }
            ex->quality[t] = t >= ex->label ? 1.0f : 0.0f;
        } else {
            ex->quality[t] = (float)v->valuedouble;
        }
    }
    return 0;
}

int hr_route_dataset_load(const char *path, hr_route_dataset *ds, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    hr_buf line;
    hr_buf_init(&line, HR_DATASET_MAX_LINE);
    long lineno = 0;
    int rc = 0;
    for (;;) {
        hr_buf_reset(&line);
        int c, eof = 0, too_long = 0;
        while ((c = getc_unlocked(f)) != EOF && c != '\n') {
            char ch = (char)c;
            if (!too_long && hr_buf_append(&line, &ch, 1) < 0) too_long = 1;
        }
        if (c == EOF) eof = 1;
        if (eof && line.len == 0 && !too_long) break;
        lineno++;
        if (too_long) {
            snprintf(err, errlen, "%s:%ld: line longer than %u bytes", path, lineno, HR_DATASET_MAX_LINE);
            rc = -1;
            break;
        }
        size_t k = 0;
        while (k < line.len && (line.data[k] == ' ' || line.data[k] == '\t' || line.data[k] == '\r')) k++;
        if (k == line.len) {
            if (eof) break;
            continue;
        }
        if (ds->n >= HR_DATASET_MAX_ROWS) {
            snprintf(err, errlen, "%s:%ld: more than %d rows", path, lineno, HR_DATASET_MAX_ROWS);
            rc = -1;
            break;
        }
        hr_route_example ex;
        char why[128];
        cJSON *o = NULL;
        if (parse_row(line.data, &ex, why, sizeof why, &o) < 0) {
            snprintf(err, errlen, "%s:%ld: %s", path, lineno, why);
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        hr_route_dataset_add(ds, &ex);
        cJSON_Delete(o);
        if (eof) break;
    }
    hr_buf_free(&line);
    fclose(f);
    if (rc == 0 && ds->n == 0) {
        snprintf(err, errlen, "%s: no rows", path);
        rc = -1;
    }
    if (rc < 0) hr_route_dataset_free(ds);
    return rc;
}

const char *hr_route_guess_lang(const char *text) {
    size_t n = strlen(text), off = 0, cjk = 0, other = 0;
    while (off < n) {
        uint32_t c;
        off += hr_utf8_decode(text + off, n - off, &c);
        if (hr_utf8_is_cjk(c)) cjk++;
        else if (c > ' ') other++;
    }
    return cjk * 4 > other ? "zh" : "en";
}

static uint32_t id_bucket(const char *id) {
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 16777619u;
    /* a final avalanche so similar ids spread evenly */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h % 10000u;
}

bool hr_route_split_is_val(const char *id, double fraction) {
    if (fraction <= 0) return false;
    if (fraction >= 1) return true;
    return (double)id_bucket(id) < fraction * 10000.0;
}

int hr_route_split_fold(const char *id, int folds) {
    if (folds < 2) return 0;
    return (int)((uint64_t)id_bucket(id) * (uint64_t)folds / 10000u);
}

bool hr_classifier_holds_out(const hr_classifier_meta *m, const hr_route_example *ex) {
    if (hr_route_source_in_list(ex->source, m->exclude_sources)) return true;
    if (m->folds > 1) return hr_route_split_fold(ex->id, m->folds) == m->fold;
    return hr_route_split_is_val(ex->id, m->val_fraction);
}

bool hr_route_source_in_list(const char *source, const char *list) {
    if (!list || !*list || !source) return false;
    size_t n = strlen(source);
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t k = e ? (size_t)(e - s) : strlen(s);
        if (k == n && !memcmp(s, source, n)) return true;
        s += k + (e ? 1 : 0);
    }
    return false;
}

/* ---- metrics ---- */

static void tier_means(const hr_route_dataset *ds, const size_t *rows, size_t n, hr_route_metrics *m) {
    memset(m, 0, sizeof *m);
    m->n = n;
    if (!n) return;
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < HR_TIER_MAX; t++) m->q_tier[t] += ds->rows[rows[i]].quality[t];
    for (int t = 0; t < HR_TIER_MAX; t++) m->q_tier[t] /= (double)n;
}

static void finish_metrics(hr_route_metrics *m) {
    double gap = m->q_tier[HR_TIER_LARGE] - m->q_tier[HR_TIER_SMALL];
    m->pgr = fabs(gap) > 1e-9 ? (m->quality - m->q_tier[HR_TIER_SMALL]) / gap : NAN;
}

void hr_route_metrics_compute(const hr_route_dataset *ds, const size_t *rows, size_t n, const int *choice,
                              hr_route_metrics *m) {
    tier_means(ds, rows, n, m);
    if (!n) return;
    double q = 0, cost = 0;
    for (size_t i = 0; i < n; i++) {
        int t = choice[i];
        q += ds->rows[rows[i]].quality[t];
        cost += hr_tier_cost[t] / hr_tier_cost[HR_TIER_LARGE];
        m->share[t] += 1.0;
    }
    m->quality = q / (double)n;
    m->cost = cost / (double)n;
    for (int t = 0; t < HR_TIER_MAX; t++) m->share[t] /= (double)n;
    finish_metrics(m);
}

void hr_route_metrics_random(const hr_route_dataset *ds, const size_t *rows, size_t n,
                             const double share[HR_TIER_MAX], hr_route_metrics *m) {
    tier_means(ds, rows, n, m);
    if (!n) return;
    for (int t = 0; t < HR_TIER_MAX; t++) {
        m->share[t] = share[t];
        m->quality += share[t] * m->q_tier[t];
        m->cost += share[t] * hr_tier_cost[t] / hr_tier_cost[HR_TIER_LARGE];
    }
    finish_metrics(m);
}

/* ---- features of a data set ---- */

/* Embeddings of rows[0..n) (n * emb_dim floats), computed on every core: a
 * BERT pass costs milliseconds per prompt where the hashed features cost
 * microseconds. A prompt the model fails on gets zeros (and one message). */
typedef struct embed_job {
    const hr_route_dataset *ds;
    const size_t *rows;
    size_t n;
    const hr_features_params *fp;
    float *out;
    int stride, first;
    int failed;
} embed_job;

static void *embed_worker(void *arg) {
    embed_job *j = arg;
    char err[256];
    for (size_t i = (size_t)j->first; i < j->n; i += (size_t)j->stride) {
        const char *text = j->ds->rows[j->rows[i]].prompt;
        float *o = j->out + i * (size_t)j->fp->emb_dim;
        if (hr_features_embed_text(j->fp, text, strlen(text), o, err, sizeof err) < 0) {
            memset(o, 0, (size_t)j->fp->emb_dim * sizeof *o);
            if (!j->failed++) fprintf(stderr, "hermes-router: embedding row %s: %s\n", j->ds->rows[j->rows[i]].id, err);
        }
    }
    return NULL;
}

static float *embed_rows(const hr_route_dataset *ds, const size_t *rows, size_t n, const hr_features_params *fp) {
    float *out = hr_xmalloc((n ? n : 1) * (size_t)fp->emb_dim * sizeof *out);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = nc < 1 ? 1 : nc > 16 ? 16 : (int)nc;
    embed_job jobs[16];
    pthread_t th[16];
    bool started[16] = {false};
    for (int t = 0; t < nt; t++) {
        jobs[t] = (embed_job){ds, rows, n, fp, out, nt, t, 0};
        if (t > 0) started[t] = pthread_create(&th[t], NULL, embed_worker, &jobs[t]) == 0;
    }
    embed_worker(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else embed_worker(&jobs[t]);
    }
    return out;
}

void hr_route_dataset_features(const hr_route_dataset *ds, const size_t *rows, size_t n,
                               const hr_features_params *fp, size_t **indptr_out, uint32_t **indices_out,
                               float **values_out) {
    float *emb = fp->emb_dim > 0 ? embed_rows(ds, rows, n, fp) : NULL;
    size_t cap = 1024, nnz = 0;
    size_t *indptr = hr_xmalloc((n + 1) * sizeof *indptr);
    uint32_t *indices = hr_xmalloc(cap * sizeof *indices);
    float *values = hr_xmalloc(cap * sizeof *values);
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    indptr[0] = 0;
    for (size_t i = 0; i < n; i++) {
        hr_chat_request req;
        memset(&req, 0, sizeof req);
        hr_chat_request_from_prompt(ds->rows[rows[i]].prompt, &req);
        hr_features_extract_with(fp, &req, emb ? emb + i * (size_t)fp->emb_dim : NULL, &v);
        hr_chat_request_free(&req);
        if (nnz + v.n > cap) {
            while (nnz + v.n > cap) cap *= 2;
            indices = hr_xrealloc(indices, cap * sizeof *indices);
            values = hr_xrealloc(values, cap * sizeof *values);
        }
        memcpy(indices + nnz, v.idx, v.n * sizeof *indices);
        memcpy(values + nnz, v.val, v.n * sizeof *values);
        nnz += v.n;
        indptr[i + 1] = nnz;
    }
    hr_feature_vec_free(&v);
    free(emb);
    *indptr_out = indptr;
    *indices_out = indices;
    *values_out = values;
}

/* ---- training ---- */

hr_train_params hr_train_default_params(void) {
    hr_train_params p;
    memset(&p, 0, sizeof p);
    p.features = hr_features_default_params();
    p.trees = 100;
    p.depth = 4;
    p.eta = 0.1;
    p.subsample = 0.8;
    p.colsample = 0.5;
    p.min_child_weight = 2;
    p.lambda = 1;
    p.alpha = 0;
    p.seed = 1;
    p.threshold = 0.5;
    p.target = HR_TARGET_BEST;
    p.weight_floor = -1;
    p.val_fraction = 0.2;
    return p;
}

int hr_train_target_class(const hr_route_example *ex, hr_train_target target) {
    if (target == HR_TARGET_LABEL) return ex->label;
    float best = ex->quality[0];
    for (int t = 1; t < HR_TIER_MAX; t++)
        if (ex->quality[t] > best) best = ex->quality[t];
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (ex->quality[t] >= best - 0.05f) return t;
    return HR_TIER_MAX - 1;
}

static DMatrixHandle make_dmatrix(const hr_route_dataset *ds, const size_t *rows, size_t n,
                                  const hr_train_params *p, char *err, size_t errlen) {
    const hr_features_params *fp = &p->features;
    size_t *indptr;
    uint32_t *indices;
    float *values;
    hr_route_dataset_features(ds, rows, n, fp, &indptr, &indices, &values);
    DMatrixHandle d = NULL;
    int rc = XGDMatrixCreateFromCSREx(indptr, indices, values, n + 1, indptr[n], hr_features_ncols(fp), &d);
    free(indptr);
    free(indices);
    free(values);
    if (rc != 0) {
        snprintf(err, errlen, "XGBoost: cannot build the training matrix: %s", XGBGetLastError());
        return NULL;
    }
    float *labels = hr_xmalloc((n ? n : 1) * HR_TIER_MAX * sizeof *labels);
    if (p->target == HR_TARGET_GAIN) {
        /* n x 3 regression targets: q[0], q[1]-q[0], q[2]-q[1] */
        for (size_t i = 0; i < n; i++) {
            const float *q = ds->rows[rows[i]].quality;
            for (int t = 0; t < HR_TIER_MAX; t++) labels[i * HR_TIER_MAX + (size_t)t] = t ? q[t] - q[t - 1] : q[0];
        }
        char iface[192];
        snprintf(iface, sizeof iface,
                 "{\"data\":[%llu,true],\"shape\":[%zu,%d],\"typestr\":\"<f4\",\"version\":3}",
                 (unsigned long long)(uintptr_t)labels, n, HR_TIER_MAX);
        if (XGDMatrixSetInfoFromInterface(d, "label", iface) != 0) {
            snprintf(err, errlen, "XGBoost: cannot set the regression targets: %s", XGBGetLastError());
            free(labels);
            XGDMatrixFree(d);
            return NULL;
        }
    } else {
        for (size_t i = 0; i < n; i++) labels[i] = (float)hr_train_target_class(&ds->rows[rows[i]], p->target);
        XGDMatrixSetFloatInfo(d, "label", labels, n);
    }
    if (p->weight_floor >= 0) {
        for (size_t i = 0; i < n; i++) {
            const float *q = ds->rows[rows[i]].quality;
            float lo = q[0], hi = q[0];
            for (int t = 1; t < HR_TIER_MAX; t++) {
                if (q[t] < lo) lo = q[t];
                if (q[t] > hi) hi = q[t];
            }
            labels[i] = (hi - lo) + (float)p->weight_floor;
        }
        XGDMatrixSetFloatInfo(d, "weight", labels, n);
    }
    free(labels);
    return d;
}

hr_classifier *hr_classifier_train(const hr_train_params *p, const hr_route_dataset *ds, const size_t *train,
                                   size_t n_train, const size_t *val, size_t n_val, char *err, size_t errlen) {
    char ferr[160];
    if (hr_features_params_check(&p->features, ferr, sizeof ferr) < 0) {
        snprintf(err, errlen, "%s", ferr);
        return NULL;
    }
    if (n_train < 2) {
        snprintf(err, errlen, "training needs at least 2 rows (got %zu)", n_train);
        return NULL;
    }
    if (p->trees < 1 || p->trees > 10000 || p->depth < 1 || p->depth > 16) {
        snprintf(err, errlen, "trees must be 1..10000 and depth 1..16");
        return NULL;
    }
    DMatrixHandle dtrain = make_dmatrix(ds, train, n_train, p, err, errlen);
    if (!dtrain) return NULL;
    DMatrixHandle dval = n_val ? make_dmatrix(ds, val, n_val, p, err, errlen) : NULL;
    if (n_val && !dval) {
        XGDMatrixFree(dtrain);
        return NULL;
    }
    DMatrixHandle cache[2] = {dtrain, dval};
    BoosterHandle h = NULL;
    hr_classifier *out = NULL;
    if (XGBoosterCreate(cache, dval ? 2 : 1, &h) != 0) goto fail;
    char num[64];
#define SETP(k, fmt, v)                                              \
    do {                                                             \
        snprintf(num, sizeof num, fmt, v);                           \
        if (XGBoosterSetParam(h, k, num) != 0) goto fail;            \
    } while (0)
    SETP("booster", "%s", p->booster ? p->booster : "gbtree");
    bool gain = p->target == HR_TARGET_GAIN;
    SETP("objective", "%s", gain ? "reg:squarederror" : "multi:softprob");
    SETP("lambda", "%g", p->lambda);
    SETP("alpha", "%g", p->alpha);
    if (!gain) SETP("num_class", "%d", HR_TIER_MAX);
    SETP("tree_method", "%s", p->tree_method ? p->tree_method : "hist");
    SETP("eval_metric", "%s", gain ? "rmse" : "mlogloss");
    SETP("max_depth", "%d", p->depth);
    SETP("eta", "%g", p->eta);
    SETP("subsample", "%g", p->subsample > 0 ? p->subsample : 1.0);
    SETP("colsample_bytree", "%g", p->colsample > 0 ? p->colsample : 1.0);
    SETP("min_child_weight", "%g", p->min_child_weight);
    SETP("seed", "%u", p->seed);
    SETP("verbosity", "%d", 0);
    if (p->nthread > 0) SETP("nthread", "%d", p->nthread);
#undef SETP
    const char *names[2] = {"train", "val"};
    char last_eval[256] = "";
    for (int it = 0; it < p->trees; it++) {
        if (XGBoosterUpdateOneIter(h, it, dtrain) != 0) goto fail;
        if (p->progress) {
            /* evaluating costs about as much as a round: every 10th round */
            const char *ev = NULL;
            if ((it + 1) % 10 == 0 || it == 0 || it + 1 == p->trees)
                if (XGBoosterEvalOneIter(h, it, cache, names, dval ? 2 : 1, &ev) != 0) ev = NULL;
            if (ev) snprintf(last_eval, sizeof last_eval, "%s", ev);
            p->progress(it + 1, p->trees, last_eval, p->ud);
        }
    }
    hr_classifier_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.features = p->features;
    meta.n_tiers = HR_TIER_MAX;
    for (int t = 0; t < HR_TIER_MAX; t++) meta.tiers[t] = t;
    meta.threshold = p->threshold;
    meta.trees = p->trees;
    meta.depth = p->depth;
    meta.eta = p->eta;
    meta.seed = p->seed;
    meta.val_fraction = p->val_fraction;
    meta.folds = p->folds > 1 ? p->folds : 0;
    meta.fold = p->folds > 1 ? p->fold : 0;
    snprintf(meta.exclude_sources, sizeof meta.exclude_sources, "%s", p->exclude_sources ? p->exclude_sources : "");
    snprintf(meta.embedder, sizeof meta.embedder, "%s", p->embedder_path ? p->embedder_path : "");
    snprintf(meta.booster, sizeof meta.booster, "%s", p->booster ? p->booster : "gbtree");
    snprintf(meta.target, sizeof meta.target, "%s",
             p->target == HR_TARGET_LABEL ? "label" : p->target == HR_TARGET_GAIN ? "gain" : "best");
    XGBoosterSetParam(h, "nthread", "1");
    out = hr_classifier_wrap(h, &meta);
    h = NULL;
    XGDMatrixFree(dtrain);
    if (dval) XGDMatrixFree(dval);
    return out;
fail:
    snprintf(err, errlen, "XGBoost training failed: %s", XGBGetLastError());
    if (h) XGBoosterFree(h);
    XGDMatrixFree(dtrain);
    if (dval) XGDMatrixFree(dval);
    return NULL;
}

/* ---- batch prediction, routing, calibration ---- */

float *hr_classifier_predict_rows(hr_classifier *c, const hr_route_dataset *ds, const size_t *rows, size_t n) {
    const hr_classifier_meta *m = hr_classifier_get_meta(c);
    float *probs = hr_xcalloc((n ? n : 1) * (size_t)m->n_tiers, sizeof *probs);
    /* in chunks, so the feature matrix stays small */
    const size_t chunk = 1024;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        size_t *indptr;
        uint32_t *indices;
        float *values;
        hr_route_dataset_features(ds, rows + off, k, &m->features, &indptr, &indices, &values);
        int rc = hr_classifier_predict_csr(c, indptr, indices, values, k, probs + off * (size_t)m->n_tiers);
        free(indptr);
        free(indices);
        free(values);
        if (rc < 0) {
            free(probs);
            return NULL;
        }
    }
    return probs;
}

void hr_classifier_route_rows(const hr_classifier *c, const float *probs, size_t n, double threshold, int *choice) {
    const hr_classifier_meta *m = hr_classifier_get_meta(c);
    for (size_t i = 0; i < n; i++)
        choice[i] = m->tiers[hr_classifier_choose(m, probs + i * (size_t)m->n_tiers, threshold, NULL)];
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double target_loss(const hr_route_metrics *m, const hr_calibrate_target *t) {
    double l = 0;
    if (t->large_share >= 0) l += (m->share[HR_TIER_LARGE] - t->large_share) * (m->share[HR_TIER_LARGE] - t->large_share);
    if (t->medium_share >= 0)
        l += (m->share[HR_TIER_MEDIUM] - t->medium_share) * (m->share[HR_TIER_MEDIUM] - t->medium_share);
    if (t->cost >= 0) l += (m->cost - t->cost) * (m->cost - t->cost);
    return l;
}

double hr_classifier_calibrate(const hr_classifier *c, const hr_route_dataset *ds, const size_t *rows, size_t n,
                               const float *probs, const hr_calibrate_target *target, hr_route_metrics *mout) {
    const hr_classifier_meta *meta = hr_classifier_get_meta(c);
    int nt = meta->n_tiers;
    /* candidate thresholds: midpoints between the thresholds where a row's
     * decision can change: its P(pass) values (class targets), or for a gain
     * model 1 / (1 + lambda) at each lambda where two tiers tie */
    size_t nv = n * (size_t)(nt * (nt - 1) / 2);
    float *vals = hr_xmalloc((nv + 2) * sizeof *vals);
    size_t k = 0;
    bool gain = hr_classifier_meta_is_gain(meta);
    for (size_t i = 0; i < n; i++) {
        const float *o = probs + i * (size_t)nt;
        if (gain) {
            for (int a = 0; a < nt; a++)
                for (int b = a + 1; b < nt; b++) {
                    double dc = (hr_tier_cost[meta->tiers[b]] - hr_tier_cost[meta->tiers[a]]) /
                                hr_tier_cost[HR_TIER_LARGE];
                    double lambda = ((double)o[b] - (double)o[a]) / dc;
                    if (lambda > 0) vals[k++] = (float)(1.0 / (1.0 + lambda));
                }
        } else {
            float pass[HR_TIER_MAX];
            hr_classifier_pick(o, nt, 0.5, pass);
            for (int t = 0; t < nt - 1; t++) vals[k++] = pass[t];
        }
    }
    vals[k++] = 0.0f;
    vals[k++] = 1.0f;
    qsort(vals, k, sizeof *vals, cmp_float);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || vals[i] != vals[u - 1]) vals[u++] = vals[i];
    /* at most ~2000 candidates, evenly spaced over the sorted values */
    size_t step = u > 2000 ? u / 2000 : 1;
    int *choice = hr_xmalloc((n ? n : 1) * sizeof *choice);
    double best_t = meta->threshold, best_l = INFINITY;
    hr_route_metrics best_m, m;
    memset(&best_m, 0, sizeof best_m);
    for (size_t i = 0; i <= u; i += step) {
        double thr;
        if (i == 0) thr = vals[0] * 0.5;            /* below everything */
        else if (i >= u) thr = 1.0;                  /* only certain passes */
        else thr = 0.5 * ((double)vals[i - 1] + (double)vals[i]);
        hr_classifier_route_rows(c, probs, n, thr, choice);
        hr_route_metrics_compute(ds, rows, n, choice, &m);
        double l = target_loss(&m, target);
        if (l < best_l) {
            best_l = l;
            best_t = thr;
            best_m = m;
        }
        if (i >= u) break;
        if (i + step > u && i != u) i = u - step; /* always try the top end */
    }
    free(choice);
    free(vals);
    if (mout) *mout = best_m;
    return best_t;
}
