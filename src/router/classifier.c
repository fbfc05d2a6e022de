/* Classifier router: model files, prediction, decision rule, and the
 * "classifier" strategy. Training and evaluation helpers: xgb_train.c. */
#include "router/classifier.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <xgboost/c_api.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "router/router.h"

const double hr_tier_cost[HR_TIER_MAX] = {8.0, 70.0, 405.0};

struct hr_classifier {
    BoosterHandle booster; /* owned */
    hr_classifier_meta meta;
    size_t ncols;
    pthread_mutex_t mu;    /* serialises calls into the booster */
    bool via_dmatrix;      /* predict through a DMatrix (gblinear) */
    bool gain;             /* target "gain": outputs are q[0] and per-tier gains */
    hr_embedder *emb;      /* owned: loaded with the model (meta.features.embedder points to it) */
};

#define META_FORMAT "hermes-router-classifier"
#define META_VERSION 1
#define META_MAX (1u << 20)

hr_classifier *hr_classifier_wrap(void *booster, const hr_classifier_meta *meta) {
    hr_classifier *c = hr_xcalloc(1, sizeof *c);
    c->booster = booster;
    c->meta = *meta;
    c->ncols = hr_features_ncols(&meta->features);
    c->via_dmatrix = !strcmp(meta->booster, "gblinear");
    c->gain = hr_classifier_meta_is_gain(meta);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void hr_classifier_free(hr_classifier *c) {
    if (!c) return;
    if (c->booster) XGBoosterFree(c->booster);
    hr_embedder_free(c->emb);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const hr_classifier_meta *hr_classifier_get_meta(const hr_classifier *c) { return &c->meta; }

void hr_classifier_set_threshold(hr_classifier *c, double threshold) { c->meta.threshold = threshold; }

void hr_classifier_set_lang_threshold(hr_classifier *c, int lang, double threshold) {
    if (lang == HR_CLF_LANG_EN || lang == HR_CLF_LANG_ZH)
        c->meta.threshold_lang[lang] = threshold > 0 && threshold <= 1 ? threshold : 0;
}

int hr_classifier_lang_of(const char *text) {
    return !strcmp(hr_route_guess_lang(text), "zh") ? HR_CLF_LANG_ZH : HR_CLF_LANG_EN;
}

static const char *lang_names[2] = {"en", "zh"};

/* Reads a whole file (at most cap bytes). Returns malloc'd data or NULL with err. */
static char *read_file(const char *path, size_t cap, size_t *len, const char *what, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s '%s': cannot open: %s", what, path, strerror(errno));
        return NULL;
    }
    hr_buf b;
    hr_buf_init(&b, cap);
    char chunk[65536];
    size_t n;
    int too_big = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (hr_buf_append(&b, chunk, n) < 0) {
            too_big = 1;
            break;
        }
    int rerr = ferror(f);
    fclose(f);
    if (too_big || rerr) {
        snprintf(err, errlen, "%s '%s': %s", what, path, too_big ? "file too large" : "read error");
        hr_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    if (!b.data) return hr_xstrdup("");
    return hr_buf_steal(&b);
}

static int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    size_t pl = strlen(path) + 8;
    char *tmp = hr_xmalloc(pl);
    snprintf(tmp, pl, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static char *meta_path(const char *path) {
    size_t n = strlen(path) + sizeof ".meta.json";
    char *p = hr_xmalloc(n);
    snprintf(p, n, "%s.meta.json", path);
    return p;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static char *meta_to_json(const hr_classifier_meta *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", META_FORMAT);
    cJSON_AddNumberToObject(o, "version", META_VERSION);
    cJSON *f = cJSON_AddObjectToObject(o, "features");
    cJSON_AddNumberToObject(f, "version", HR_FEATURES_VERSION);
    cJSON_AddNumberToObject(f, "dim", m->features.dim);
    cJSON_AddNumberToObject(f, "char_min", m->features.char_min);
    cJSON_AddNumberToObject(f, "char_max", m->features.char_max);
    cJSON_AddNumberToObject(f, "word_max", m->features.word_max);
    cJSON *dn = cJSON_AddArrayToObject(f, "dense");
    for (int k = 0; k < HR_FEAT_N_DENSE; k++) cJSON_AddItemToArray(dn, cJSON_CreateString(hr_features_dense_name(k)));
    if (m->features.emb_dim > 0) {
        cJSON *e = cJSON_AddObjectToObject(f, "embedding");
        cJSON_AddNumberToObject(e, "dim", m->features.emb_dim);
        cJSON_AddStringToObject(e, "model", m->embedder);
    }
    cJSON_AddNumberToObject(o, "ncols", (double)hr_features_ncols(&m->features));
    cJSON *t = cJSON_AddArrayToObject(o, "tiers");
    for (int k = 0; k < m->n_tiers; k++) cJSON_AddItemToArray(t, cJSON_CreateString(hr_tier_name(m->tiers[k])));
    cJSON_AddNumberToObject(o, "threshold", m->threshold);
    if (m->threshold_lang[0] > 0 || m->threshold_lang[1] > 0) {
        cJSON *bl = cJSON_AddObjectToObject(o, "threshold_by_lang");
        for (int l = 0; l < 2; l++)
            if (m->threshold_lang[l] > 0) cJSON_AddNumberToObject(bl, lang_names[l], m->threshold_lang[l]);
    }
    cJSON_AddStringToObject(o, "target", m->target[0] ? m->target : "label");
    cJSON_AddStringToObject(o, "booster", m->booster[0] ? m->booster : "gbtree");
    cJSON_AddNumberToObject(o, "trees", m->trees);
    cJSON_AddNumberToObject(o, "depth", m->depth);
    cJSON_AddNumberToObject(o, "eta", m->eta);
    cJSON_AddNumberToObject(o, "seed", m->seed);
    cJSON_AddNumberToObject(o, "val_fraction", m->val_fraction);
    cJSON_AddNumberToObject(o, "folds", m->folds);
    cJSON_AddNumberToObject(o, "fold", m->fold);
    cJSON *ex = cJSON_AddArrayToObject(o, "exclude_sources");
    const char *s = m->exclude_sources;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *one = hr_xstrndup(s, n);
        if (n) cJSON_AddItemToArray(ex, cJSON_CreateString(one));
        free(one);
        s += n + (e ? 1 : 0);
    }
    char *out = cJSON_Print(o);
    cJSON_Delete(o);
    return out;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out, const char *path, char *err,
                   size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        snprintf(err, errlen, "classifier sidecar '%s': '%s' must be an integer in %d..%d", path, key, lo, hi);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static const char *opt_str(const cJSON *o, const char *key, const char *dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int meta_from_json(const char *text, const char *path, hr_classifier_meta *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "classifier sidecar '%s': not a JSON object", path);
        cJSON_Delete(o);
        return -1;
    }
    int rc = -1, version = 0, fversion = 0, ncols = 0;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "features");
    const cJSON *tiers = cJSON_GetObjectItemCaseSensitive(o, "tiers");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(o, "threshold");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, META_FORMAT) != 0) {
        snprintf(err, errlen, "classifier sidecar '%s': format is not \"%s\"", path, META_FORMAT);
        goto out;
    }
    if (get_int(o, "version", 1, META_VERSION, &version, path, err, errlen) < 0) goto out;
    if (!cJSON_IsObject(f)) {
        snprintf(err, errlen, "classifier sidecar '%s': missing \"features\" object", path);
        goto out;
    }
    if (get_int(f, "version", HR_FEATURES_VERSION, HR_FEATURES_VERSION, &fversion, path, err, errlen) < 0 ||
        get_int(f, "dim", 16, HR_FEATURES_MAX_DIM, &m->features.dim, path, err, errlen) < 0 ||
        get_int(f, "char_min", 1, 5, &m->features.char_min, path, err, errlen) < 0 ||
        get_int(f, "char_max", 1, 5, &m->features.char_max, path, err, errlen) < 0 ||
        get_int(f, "word_max", 0, 3, &m->features.word_max, path, err, errlen) < 0 ||
        get_int(o, "ncols", 1, HR_FEATURES_MAX_DIM + HR_FEAT_N_DENSE + HR_FEATURES_MAX_EMB, &ncols, path, err,
                errlen) < 0)
        goto out;
    const cJSON *emb = cJSON_GetObjectItemCaseSensitive(f, "embedding");
    if (emb) {
        const cJSON *em = cJSON_GetObjectItemCaseSensitive(emb, "model");
        if (get_int(emb, "dim", 1, HR_FEATURES_MAX_EMB, &m->features.emb_dim, path, err, errlen) < 0) goto out;
        if (!cJSON_IsString(em) || !*em->valuestring || strlen(em->valuestring) >= sizeof m->embedder) {
            snprintf(err, errlen, "classifier sidecar '%s': features.embedding.model must name the embedding GGUF",
                     path);
            goto out;
        }
        snprintf(m->embedder, sizeof m->embedder, "%s", em->valuestring);
    }
    char ferr[160];
    if (hr_features_params_check(&m->features, ferr, sizeof ferr) < 0) {
        snprintf(err, errlen, "classifier sidecar '%s': %s", path, ferr);
        goto out;
    }
    if ((size_t)ncols != hr_features_ncols(&m->features)) {
        snprintf(err, errlen,
                 "classifier sidecar '%s': ncols %d does not match dim %d + %d dense features + %d embedding values",
                 path, ncols, m->features.dim, HR_FEAT_N_DENSE, m->features.emb_dim);
        goto out;
    }
    int nt = cJSON_GetArraySize(tiers);
    if (!cJSON_IsArray(tiers) || nt < 2 || nt > HR_TIER_MAX) {
        snprintf(err, errlen, "classifier sidecar '%s': \"tiers\" must list 2 or 3 tier names", path);
        goto out;
    }
    m->n_tiers = nt;
    for (int k = 0; k < nt; k++) {
        const cJSON *t = cJSON_GetArrayItem(tiers, k);
        int tier = cJSON_IsString(t) ? hr_tier_from_name(t->valuestring) : -1;
        if (tier < 0 || (k > 0 && tier <= m->tiers[k - 1])) {
            snprintf(err, errlen, "classifier sidecar '%s': tiers[%d] is not a tier name in increasing order", path,
                     k);
            goto out;
        }
        m->tiers[k] = tier;
    }
    m->threshold = cJSON_IsNumber(thr) ? thr->valuedouble : 0.5;
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(o, "threshold_by_lang");
    for (int l = 0; l < 2; l++) {
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(bl, lang_names[l]);
        if (cJSON_IsNumber(tl) && tl->valuedouble > 0 && tl->valuedouble <= 1) m->threshold_lang[l] = tl->valuedouble;
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "trees")) && cJSON_IsNumber(v)) m->trees = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "depth")) && cJSON_IsNumber(v)) m->depth = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "eta")) && cJSON_IsNumber(v)) m->eta = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "seed")) && cJSON_IsNumber(v)) m->seed = (uint32_t)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "val_fraction")) && cJSON_IsNumber(v))
        m->val_fraction = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "folds")) && cJSON_IsNumber(v) && v->valueint > 1 &&
        v->valueint <= 100) {
        m->folds = v->valueint;
        const cJSON *fo = cJSON_GetObjectItemCaseSensitive(o, "fold");
        m->fold = cJSON_IsNumber(fo) && fo->valueint >= 0 && fo->valueint < m->folds ? fo->valueint : 0;
    }
    snprintf(m->target, sizeof m->target, "%s", opt_str(o, "target", "label"));
    snprintf(m->booster, sizeof m->booster, "%s", opt_str(o, "booster", "gbtree"));
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "exclude_sources");
    const cJSON *it;
    size_t used = 0;
    cJSON_ArrayForEach(it, ex) {
        if (!cJSON_IsString(it)) continue;
        int w = snprintf(m->exclude_sources + used, sizeof m->exclude_sources - used, "%s%s", used ? "," : "",
                         it->valuestring);
        if (w < 0 || (size_t)w >= sizeof m->exclude_sources - used) break;
        used += (size_t)w;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

/* Predicts rows given as CSR arrays; probs gets n*n_tiers values. Caller holds c->mu. */
static int predict_locked(hr_classifier *c, const size_t *indptr, const uint32_t *indices, const float *values,
                          size_t n, float *probs) {
    char a_indptr[160], a_indices[160], a_values[160];
    size_t nnz = indptr[n];
    /* XGBoost wants non-NULL data pointers even for empty arrays */
    static const uint32_t no_idx[1] = {0};
    static const float no_val[1] = {0};
    snprintf(a_indptr, sizeof a_indptr, "{\"data\":[%llu,true],\"shape\":[%zu],\"typestr\":\"<u8\",\"version\":3}",
             (unsigned long long)(uintptr_t)indptr, n + 1);
    snprintf(a_indices, sizeof a_indices,
             "{\"data\":[%llu,true],\"shape\":[%zu],\"typestr\":\"<u4\",\"version\":3}",
             (unsigned long long)(uintptr_t)(nnz ? indices : no_idx), nnz);
    snprintf(a_values, sizeof a_values, "{\"data\":[%llu,true],\"shape\":[%zu],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)(nnz ? values : no_val), nnz);
    static const char *cfg =
        "{\"cache_id\":0,\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,\"strict_shape\":true,"
        "\"missing\":NaN}";
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    if (c->via_dmatrix) {
        /* gblinear has no in-place prediction in XGBoost 1.7: go through a DMatrix */
        static const char *dcfg =
            "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,\"strict_shape\":true}";
        DMatrixHandle d = NULL;
        if (XGDMatrixCreateFromCSREx(indptr, nnz ? indices : no_idx, nnz ? values : no_val, n + 1, nnz, c->ncols,
                                     &d) != 0)
            return -1;
        int rc = XGBoosterPredictFromDMatrix(c->booster, d, dcfg, &shape, &dim, &res);
        if (rc == 0 && dim == 2 && shape[0] == n && shape[1] == (bst_ulong)c->meta.n_tiers)
            memcpy(probs, res, n * (size_t)c->meta.n_tiers * sizeof *probs);
        else rc = -1;
        XGDMatrixFree(d);
        return rc;
    }
    if (XGBoosterPredictFromCSR(c->booster, a_indptr, a_indices, a_values, (bst_ulong)c->ncols, cfg, NULL, &shape,
                                &dim, &res) != 0)
        return -1;
    if (dim != 2 || shape[0] != n || shape[1] != (bst_ulong)c->meta.n_tiers) return -1;
    memcpy(probs, res, n * (size_t)c->meta.n_tiers * sizeof *probs);
    return 0;
}

int hr_classifier_predict_csr(hr_classifier *c, const size_t *indptr, const uint32_t *indices, const float *values,
                              size_t n, float *probs) {
    if (n == 0) return 0;
    pthread_mutex_lock(&c->mu);
    int rc = predict_locked(c, indptr, indices, values, n, probs);
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && c->gain) {
        /* q[0], q[1]-q[0], q[2]-q[1] -> q[0], q[1], q[2] */
        int nt = c->meta.n_tiers;
        for (size_t i = 0; i < n; i++)
            for (int k = 1; k < nt; k++) probs[i * (size_t)nt + (size_t)k] += probs[i * (size_t)nt + (size_t)k - 1];
    }
    return rc;
}

int hr_classifier_predict(hr_classifier *c, const hr_feature_vec *v, float probs[HR_TIER_MAX]) {
    size_t indptr[2] = {0, v->n};
    return hr_classifier_predict_csr(c, indptr, v->idx, v->val, 1, probs);
}

int hr_classifier_predict_request(hr_classifier *c, const hr_chat_request *req, hr_feature_vec *scratch,
                                  float probs[HR_TIER_MAX]) {
    hr_feature_vec local;
    hr_feature_vec *v = scratch;
    if (!v) {
        hr_feature_vec_init(&local);
        v = &local;
    }
    int rc = hr_features_extract(&c->meta.features, req, v);
    if (rc == 0) rc = hr_classifier_predict(c, v, probs);
    if (!scratch) hr_feature_vec_free(&local);
    return rc;
}

int hr_classifier_pick(const float *probs, int n_tiers, double threshold, float *pass) {
    double cum = 0;
    int pick = -1;
    for (int k = 0; k < n_tiers; k++) {
        cum += probs[k];
        float p = k == n_tiers - 1 ? 1.0f : (float)cum;
        if (pass) pass[k] = p;
        if (pick < 0 && (k == n_tiers - 1 || p >= threshold)) pick = k;
    }
    return pick < 0 ? n_tiers - 1 : pick;
}

bool hr_classifier_meta_is_gain(const hr_classifier_meta *m) { return !strcmp(m->target, "gain"); }

int hr_classifier_pick_gain(const float *q, const int *tiers, int n_tiers, double threshold) {
    if (threshold <= 0) return 0;
    double lambda = threshold >= 1 ? 0.0 : 1.0 / threshold - 1.0;
    int pick = 0;
    double best = -INFINITY;
    for (int k = 0; k < n_tiers; k++) {
        double u = (double)q[k] - lambda * hr_tier_cost[tiers[k]] / hr_tier_cost[HR_TIER_LARGE];
        if (u > best) { /* strict: ties keep the cheaper tier */
            best = u;
            pick = k;
        }
    }
    return pick;
}

int hr_classifier_choose(const hr_classifier_meta *m, const float *out, double threshold, float *pass) {
    if (!hr_classifier_meta_is_gain(m)) return hr_classifier_pick(out, m->n_tiers, threshold, pass);
    if (pass)
        for (int k = 0; k < m->n_tiers; k++) pass[k] = out[k];
    return hr_classifier_pick_gain(out, m->tiers, m->n_tiers, threshold);
}

hr_classifier *hr_classifier_load(const char *path, char *err, size_t errlen) {
    return hr_classifier_load_ex(path, NULL, err, errlen);
}

/* The embedding model of a loaded sidecar: override, else the sidecar's file
 * (relative to the model's folder). */
static hr_embedder *load_embedder(const char *model_path, const hr_classifier_meta *m, const char *override,
                                  char *err, size_t errlen) {
    char file[1100];
    if (override && *override) snprintf(file, sizeof file, "%s", override);
    else if (m->embedder[0] == '/' || !strchr(model_path, '/')) snprintf(file, sizeof file, "%s", m->embedder);
    else snprintf(file, sizeof file, "%.*s/%s", (int)(strrchr(model_path, '/') - model_path), model_path, m->embedder);
    char eerr[400];
    hr_embedder *e = hr_embedder_load(file, eerr, sizeof eerr);
    if (!e) {
        snprintf(err, errlen, "classifier model '%s': its embedding model: %s", model_path, eerr);
        return NULL;
    }
    if (hr_embedder_dim(e) != m->features.emb_dim) {
        snprintf(err, errlen, "classifier model '%s': embedding model '%s' gives %d values, the model was trained on %d",
                 model_path, file, hr_embedder_dim(e), m->features.emb_dim);
        hr_embedder_free(e);
        return NULL;
    }
    return e;
}

hr_classifier *hr_classifier_load_ex(const char *path, const char *embedder, char *err, size_t errlen) {
    if (!path || !*path) {
        snprintf(err, errlen, "classifier model path is empty");
        return NULL;
    }
    size_t mlen = 0, blen = 0;
    char *mp = meta_path(path);
    char *mtext = read_file(mp, META_MAX, &mlen, "classifier sidecar", err, errlen);
    hr_classifier_meta meta;
    if (!mtext || meta_from_json(mtext, mp, &meta, err, errlen) < 0) {
        free(mtext);
        free(mp);
        return NULL;
    }
    free(mtext);
    free(mp);
    char *data = read_file(path, HR_CLASSIFIER_MAX_FILE, &blen, "classifier model", err, errlen);
    if (!data) return NULL;
    BoosterHandle h = NULL;
    if (blen == 0 || XGBoosterCreate(NULL, 0, &h) != 0 || XGBoosterLoadModelFromBuffer(h, data, blen) != 0) {
        snprintf(err, errlen, "classifier model '%s': not a valid XGBoost model (%s)", path,
                 blen == 0 ? "empty file" : XGBGetLastError());
        if (h) XGBoosterFree(h);
        free(data);
        return NULL;
    }
    free(data);
    XGBoosterSetParam(h, "nthread", "1");
    hr_embedder *emb = NULL;
    if (meta.features.emb_dim > 0 && !(emb = load_embedder(path, &meta, embedder, err, errlen))) {
        XGBoosterFree(h);
        return NULL;
    }
    meta.features.embedder = emb;
    hr_classifier *c = hr_classifier_wrap(h, &meta);
    c->emb = emb;
    bst_ulong nf = 0;
    if (XGBoosterGetNumFeature(h, &nf) != 0 || nf != (bst_ulong)c->ncols) {
        snprintf(err, errlen, "classifier model '%s': has %llu features, the sidecar says %zu", path,
                 (unsigned long long)nf, c->ncols);
        hr_classifier_free(c);
        return NULL;
    }
    /* one empty row checks the class count (and warms the predictor up) */
    size_t indptr[2] = {0, 0};
    float probs[HR_TIER_MAX];
    pthread_mutex_lock(&c->mu);
    int bad = predict_locked(c, indptr, NULL, NULL, 1, probs) != 0;
    pthread_mutex_unlock(&c->mu);
    if (bad) {
        snprintf(err, errlen, "classifier model '%s': does not predict %d tier probabilities (%s)", path,
                 meta.n_tiers, XGBGetLastError());
        hr_classifier_free(c);
        return NULL;
    }
    return c;
}

int hr_classifier_save(const hr_classifier *c, const char *path, char *err, size_t errlen) {
    const char *fmt = ends_with(path, ".json") ? "{\"format\":\"json\"}" : "{\"format\":\"ubj\"}";
    bst_ulong len = 0;
    const char *buf = NULL;
    if (XGBoosterSaveModelToBuffer(c->booster, fmt, &len, &buf) != 0) {
        snprintf(err, errlen, "cannot serialise the model: %s", XGBGetLastError());
        return -1;
    }
    if (write_file_atomic(path, buf, (size_t)len, err, errlen) < 0) return -1;
    char *mp = meta_path(path);
    char *mj = meta_to_json(&c->meta);
    int rc = write_file_atomic(mp, mj, strlen(mj), err, errlen);
    free(mj);
    free(mp);
    return rc;
}

/* ---- the "classifier" strategy ---- */

typedef struct clf_state {
    hr_classifier *clf;
    double threshold;
    double threshold_lang[2]; /* 0 = threshold */
} clf_state;

static void *clf_create(const hr_config *cfg, char *err, size_t errlen) {
    if (!cfg->classifier.model || !*cfg->classifier.model) {
        snprintf(err, errlen,
                 "router.classifier.model is not set (train one with 'hermes-router train --data F --out M')");
        return NULL;
    }
    hr_classifier *c = hr_classifier_load_ex(cfg->classifier.model, cfg->classifier.embedder, err, errlen);
    if (!c) return NULL;
    clf_state *s = hr_xcalloc(1, sizeof *s);
    s->clf = c;
    double t = cfg->classifier.threshold;
    s->threshold = (t > 0 && t <= 1) ? t : c->meta.threshold;
    if (!(t > 0 && t <= 1)) /* the config's knob overrides the model's per-language ones */
        for (int l = 0; l < 2; l++) s->threshold_lang[l] = c->meta.threshold_lang[l];
    return s;
}

static void clf_free(void *self) {
    clf_state *s = self;
    if (!s) return;
    hr_classifier_free(s->clf);
    free(s);
}

static int clf_decide(void *self, const hr_chat_request *req, bool want_features, hr_route_decision *out) {
    clf_state *s = self;
    const hr_classifier_meta *m = &s->clf->meta;
    hr_feature_vec v;
    hr_feature_vec_init(&v);
    float probs[HR_TIER_MAX] = {0}, pass[HR_TIER_MAX] = {0};
    if (hr_classifier_predict_request(s->clf, req, &v, probs) < 0) {
        hr_feature_vec_free(&v);
        return -1;
    }
    /* the language from the cjk_share feature (the same rule as hr_classifier_lang_of) */
    int lang = hr_feature_vec_get(&v, (uint32_t)m->features.dim + HR_FEAT_CJK_SHARE) > 0.2f ? HR_CLF_LANG_ZH
                                                                                           : HR_CLF_LANG_EN;
    double thr = s->threshold_lang[lang] > 0 ? s->threshold_lang[lang] : s->threshold;
    int k = hr_classifier_choose(m, probs, thr, pass);
    out->tier = m->tiers[k];
    out->strategy = "classifier";
    out->n_probs = HR_TIER_MAX;
    for (int i = 0; i < m->n_tiers; i++) out->probs[m->tiers[i]] = probs[i];
    if (s->clf->gain) {
        int o = 0;
        o += snprintf(out->reason, sizeof out->reason, "E[quality]");
        for (int i = 0; i < m->n_tiers && o > 0 && (size_t)o < sizeof out->reason; i++)
            o += snprintf(out->reason + o, sizeof out->reason - (size_t)o, " %s=%.2f", hr_tier_name(m->tiers[i]),
                          probs[i]);
        if (o > 0 && (size_t)o < sizeof out->reason)
            snprintf(out->reason + o, sizeof out->reason - (size_t)o, ", threshold %.2f", thr);
    } else if (k < m->n_tiers - 1)
        snprintf(out->reason, sizeof out->reason, "P(%s passes)=%.2f >= %.2f", hr_tier_name(m->tiers[k]), pass[k],
                 thr);
    else if (k > 0)
        snprintf(out->reason, sizeof out->reason, "P(%s passes)=%.2f < %.2f", hr_tier_name(m->tiers[k - 1]),
                 pass[k - 1], thr);
    else
        snprintf(out->reason, sizeof out->reason, "only tier");
    if (want_features) {
        cJSON *f = cJSON_CreateObject();
        size_t hashed = 0;
        uint32_t d = (uint32_t)m->features.dim;
        for (size_t i = 0; i < v.n; i++) {
            if (v.idx[i] < d) hashed++;
            else if (v.idx[i] < d + HR_FEAT_N_DENSE)
                cJSON_AddNumberToObject(f, hr_features_dense_name((int)(v.idx[i] - d)), v.val[i]);
        }
        cJSON_AddNumberToObject(f, "hashed_nonzero", (double)hashed);
        if (m->features.emb_dim > 0) cJSON_AddNumberToObject(f, "embedding_dim", m->features.emb_dim);
        cJSON *p = cJSON_AddObjectToObject(f, s->clf->gain ? "expected_quality" : "p_pass");
        for (int i = 0; i < m->n_tiers; i++) cJSON_AddNumberToObject(p, hr_tier_name(m->tiers[i]), pass[i]);
        cJSON_AddNumberToObject(f, "threshold", thr);
        out->features = f;
    }
    hr_feature_vec_free(&v);
    return 0;
}

static bool clf_slow(void *self) { return ((clf_state *)self)->clf->meta.features.emb_dim > 0; }

const hr_router_strategy hr_strategy_classifier = {"classifier", clf_create, clf_decide, clf_free, clf_slow};
