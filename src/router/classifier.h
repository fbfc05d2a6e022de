/* Classifier router: hashed text features (features.h) -> an XGBoost model
 * (C API, multi:softprob over the tiers; gblinear is `train`'s default,
 * gbtree an option) -> the cheapest tier whose predicted probability of
 * being good enough clears a threshold. A model trained with target "gain"
 * predicts each tier's expected quality instead and routes by predicted
 * gain per unit cost (hr_classifier_pick_gain).
 *
 * Target. Each class is a tier; the model predicts P(class = t). The class of
 * a training row is the cheapest tier that is "enough" for it: by default
 * (target "best") the cheapest tier whose quality is within 0.05 of the best
 * tier's, or (target "label") the data's label, the cheapest tier whose answer
 * passes. From the class probabilities the router derives
 *   P(tier t is enough) = P(class <= t) = sum of P(class = u) for u <= t,
 * which is monotone in t, so the decision "cheapest t with P >= threshold" is
 * well defined and a higher threshold never makes routing cheaper. The
 * largest tier is the fallback. hr_route_decision.probs[t] holds P(class = t)
 * (summing to 1); the cumulative values are in features.p_pass.
 *
 * Threshold. config router.classifier.threshold when it is in (0, 1], else
 * (0, the default) the sidecar's; `hermes-router train` stores one
 * calibrated to a target cost and `calibrate --write` replaces it. The
 * sidecar may also hold one per language ("threshold_by_lang": {"en", "zh"},
 * written by train and `calibrate --per-lang`), used when the config's is 0:
 * the same knob gives Chinese prompts a lower cost than English ones, so
 * each language is calibrated to the target on its own rows. A request is
 * "zh" when CJK code points are over a fifth of its non-space text
 * (hr_route_guess_lang; the cjk_share feature). The config's
 * classifier.dim only sets the training default: serving always uses the
 * feature settings in the sidecar.
 *
 * Files. A model is two files:
 *   MODEL            the XGBoost booster (UBJSON, or JSON when MODEL ends in ".json")
 *   MODEL.meta.json  sidecar: {"format":"hermes-router-classifier","version":1,
 *                    "features":{"version":1,"dim","char_min","char_max","word_max"},
 *                    "ncols","tiers":["small","medium","large"],"threshold",
 *                    "threshold_by_lang":{"en","zh"} (optional),
 *                    "trees","depth","eta","seed","val_fraction","folds","fold",
 *                    "exclude_sources":[...],"target","booster"}
 * so train and serve always agree on the features. Loading checks that both
 * files parse and agree (booster feature count == ncols, class count == tiers).
 *
 * Threads and reload. No globals: every hr_classifier owns its booster, so a
 * reload creates a new one and frees the old one once no decision uses it.
 * hr_classifier_predict() serialises calls into XGBoost with a per-model
 * mutex (XGBoost keeps per-thread prediction buffers, but we do not rely on
 * its thread-safety guarantees across versions): decide() may be called from
 * any number of threads; calls on one model run one at a time (~tens of µs).
 *
 * Costs: tier costs are proportional to Hermes 3 sizes 8 : 70 : 405 and are
 * reported relative to sending everything to the large tier. */
#ifndef HR_ROUTER_CLASSIFIER_H
#define HR_ROUTER_CLASSIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/chat.h"
#include "core/config.h"
#include "router/features.h"

#define HR_CLASSIFIER_MAX_FILE (256u << 20) /* model file size cap */

extern const double hr_tier_cost[HR_TIER_MAX]; /* 8, 70, 405 */

typedef struct hr_classifier_meta {
    hr_features_params features;
    int n_tiers;                 /* 2 or 3: classes are tiers[0..n_tiers) */
    int tiers[HR_TIER_MAX];      /* HR_TIER_* per class, smallest first */
    double threshold;            /* default threshold chosen at training */
    double threshold_lang[2];    /* per language (HR_CLF_LANG_*), 0 = use threshold */
    int trees, depth;
    double eta;
    uint32_t seed;
    double val_fraction;         /* rows with hr_route_split_is_val() held out */
    int folds, fold;             /* folds > 1: fold `fold` of `folds` held out instead */
    char exclude_sources[256];   /* comma-separated sources left out of training */
    char target[16];             /* "label" | "best" | "gain" (see hr_train_target) */
    char booster[16];            /* "gbtree" | "gblinear" */
    char embedder[512];          /* features.emb_dim > 0: the embedding model's GGUF, as trained with */
} hr_classifier_meta;

typedef struct hr_classifier hr_classifier;

/* Loads MODEL and MODEL.meta.json. NULL with err ("classifier model
 * 'x.ubj': cannot open: No such file or directory") on any problem. */
hr_classifier *hr_classifier_load(const char *path, char *err, size_t errlen);
/* The same; a model with an embedding block loads its embedding model from
 * embedder (NULL or "": the file the sidecar names, a relative name taken
 * from the model's folder). */
hr_classifier *hr_classifier_load_ex(const char *path, const char *embedder, char *err, size_t errlen);
/* Takes ownership of an XGBoost BoosterHandle (for the trainer). */
hr_classifier *hr_classifier_wrap(void *booster, const hr_classifier_meta *meta);
/* Saves both files (the booster format follows the extension). */
int hr_classifier_save(const hr_classifier *c, const char *path, char *err, size_t errlen);
void hr_classifier_free(hr_classifier *c);
const hr_classifier_meta *hr_classifier_get_meta(const hr_classifier *c);
/* Sets the default threshold stored in the sidecar (not thread-safe: before sharing c). */
void hr_classifier_set_threshold(hr_classifier *c, double threshold);
/* Languages with their own threshold. */
enum { HR_CLF_LANG_EN = 0, HR_CLF_LANG_ZH = 1 };
/* Sets the threshold of one language (0 = none: the default applies). Same rules. */
void hr_classifier_set_lang_threshold(hr_classifier *c, int lang, double threshold);
/* HR_CLF_LANG_ZH when CJK code points are over a fifth of the non-space text. */
int hr_classifier_lang_of(const char *text);

/* Class probabilities P(label = tiers[k]) for one row, written to probs[k]
 * (k < n_tiers); for a "gain" model the predicted quality of tier k instead
 * (and hr_route_decision.probs carries those). Returns 0, or -1 when
 * XGBoost fails. Thread-safe. */
int hr_classifier_predict(hr_classifier *c, const hr_feature_vec *v, float probs[HR_TIER_MAX]);
/* Features + predict for a request. scratch may be NULL (allocated per call). */
int hr_classifier_predict_request(hr_classifier *c, const hr_chat_request *req, hr_feature_vec *scratch,
                                  float probs[HR_TIER_MAX]);
/* Batch predict: rows in CSR form (indptr has n+1 entries), probs n*n_tiers. */
int hr_classifier_predict_csr(hr_classifier *c, const size_t *indptr, const uint32_t *indices,
                              const float *values, size_t n, float *probs);

/* Decision rule: the cheapest class k with P(label <= k) >= threshold (the
 * last class when none). pass[k] (may be NULL) receives P(label <= k).
 * Returns the class index. */
int hr_classifier_pick(const float *probs, int n_tiers, double threshold, float *pass);

/* Decision rule of a "gain" model (target "gain"): q[k] is the predicted
 * quality of class k; the pick maximises q[k] - lambda * cost[k] (cost
 * relative to the largest tier, 8:70:405), lambda = 1/threshold - 1, so
 * threshold 1 buys any predicted gain, 0.5 buys a gain of one quality point
 * per unit of all-large cost, lower thresholds demand more. Ties go to the
 * cheaper tier; a higher threshold never picks a cheaper tier. */
int hr_classifier_pick_gain(const float *q, const int *tiers, int n_tiers, double threshold);

/* The rule of model meta: pick (class targets) or pick_gain (target "gain").
 * out is what hr_classifier_predict gives. pass (may be NULL) gets
 * P(class <= k) for class targets, the predicted quality q[k] for "gain". */
int hr_classifier_choose(const hr_classifier_meta *m, const float *out, double threshold, float *pass);
/* True for a model trained with target "gain". */
bool hr_classifier_meta_is_gain(const hr_classifier_meta *m);

/* The router strategy "classifier" (config router.classifier.model/threshold)
 * is hr_strategy_classifier in router.h: create() loads the model (NULL with
 * the reason when the file is missing or corrupt), decide() extracts the
 * features and predicts, free() releases the model. */

/* ---- labelled data, metrics, training (train/eval/calibrate commands) ---- */

/* One labelled prompt, the format of ../shared/data/routing/train.jsonl. */
typedef struct hr_route_example {
    char *id, *source, *lang, *category;
    char *prompt;                 /* a single user message */
    float quality[HR_TIER_MAX];   /* small / medium / large */
    int label;                    /* HR_TIER_*: cheapest passing tier */
} hr_route_example;

typedef struct hr_route_dataset {
    hr_route_example *rows;
    size_t n;
} hr_route_dataset;

#define HR_DATASET_MAX_LINE (4u << 20) /* bytes per JSONL line */
#define HR_DATASET_MAX_ROWS 2000000

/* Reads a JSONL file. Lines need id, prompt (string), label (tier name) and
 * quality {small, medium, large}; source/lang/category default to "?".
 * Returns 0, or -1 with "FILE:LINE: what is wrong". */
int hr_route_dataset_load(const char *path, hr_route_dataset *ds, char *err, size_t errlen);
/* Adds a row (copies the strings). */
void hr_route_dataset_add(hr_route_dataset *ds, const hr_route_example *ex);
void hr_route_dataset_free(hr_route_dataset *ds);

/* "zh" when CJK code points are over a fifth of the non-space text, else "en". */
const char *hr_route_guess_lang(const char *text);

/* Deterministic split by id: true for about `fraction` of ids (FNV-1a hash
 * mapped to [0, 10000)). */
bool hr_route_split_is_val(const char *id, double fraction);
/* Cross-validation folds over the same hash: the fold of id among k equal
 * ranges (fold 0 of 5 is exactly the 0.2 validation fraction). */
int hr_route_split_fold(const char *id, int folds);
/* True when a model with this meta did not train on ex: its source was
 * excluded, or its id is in the model's validation part (fold or fraction). */
bool hr_classifier_holds_out(const hr_classifier_meta *m, const hr_route_example *ex);
/* true when source is in the comma-separated list. */
bool hr_route_source_in_list(const char *source, const char *list);

/* Quality, cost (relative to all-large), PGR of a routing of rows[0..n). */
typedef struct hr_route_metrics {
    size_t n;
    double quality, cost, pgr;
    double share[HR_TIER_MAX];
    double q_tier[HR_TIER_MAX];   /* quality of sending everything to each tier */
} hr_route_metrics;

/* choice[i] is the tier for ds->rows[rows[i]]. */
void hr_route_metrics_compute(const hr_route_dataset *ds, const size_t *rows, size_t n, const int *choice,
                              hr_route_metrics *m);
/* Expected metrics of random routing with the given tier shares. */
void hr_route_metrics_random(const hr_route_dataset *ds, const size_t *rows, size_t n,
                             const double share[HR_TIER_MAX], hr_route_metrics *m);

/* Builds the CSR feature matrix of rows[0..n) (caller frees the three arrays). */
void hr_route_dataset_features(const hr_route_dataset *ds, const size_t *rows, size_t n,
                               const hr_features_params *fp, size_t **indptr, uint32_t **indices,
                               float **values);

/* What the classes mean.
 * LABEL: the data's "label": the cheapest tier whose answer passes (the
 *   largest when none passes).
 * BEST: the cheapest tier whose quality is within 0.05 of the best tier's
 *   on that prompt ("this tier is enough": when no tier passes, the smallest
 *   is enough, since a larger one would not help).
 * Optional sample weights = max - min quality over the tiers + weight_floor,
 * so prompts where the choice matters count most (off by default: on the
 * routing data they did not help, see docs/ROUTER_EVAL.md). */
typedef enum { HR_TARGET_LABEL = 0, HR_TARGET_BEST = 1, HR_TARGET_GAIN = 2 } hr_train_target;

/* GAIN (a regression, not classes): the model predicts, per row, the
 *   quality of the smallest tier and the gain of each tier over the one
 *   below (q[0], q[1]-q[0], q[2]-q[1]; squared error), and prediction turns
 *   that into the expected quality of every tier (hr_classifier_choose).
 *   It keeps how much a bigger tier helps, which the class targets lose.
 *
 * The class index of a row under a target (LABEL / BEST only). */
int hr_train_target_class(const hr_route_example *ex, hr_train_target target);

typedef struct hr_train_params {
    hr_features_params features;
    int trees;          /* 100 */
    int depth;          /* 4 */
    double eta;         /* 0.1 */
    double subsample;   /* 0.8 */
    double colsample;   /* 0.5 (per tree) */
    double min_child_weight; /* 2 */
    uint32_t seed;      /* 1 */
    int nthread;        /* 0 = XGBoost's default */
    const char *tree_method; /* NULL = "hist" */
    const char *booster;     /* NULL = "gbtree"; "gblinear" = softmax regression on the features */
    double lambda, alpha;    /* L2 / L1 regularisation (1, 0) */
    double threshold;   /* written to the sidecar */
    hr_train_target target; /* HR_TARGET_BEST */
    double weight_floor;    /* sample weight = quality gap + floor; < 0: unweighted (default) */
    double val_fraction;
    int folds, fold;    /* folds > 1: hold out fold `fold` (ignores val_fraction) */
    const char *exclude_sources;
    const char *embedder_path; /* features.emb_dim > 0: the GGUF named in the sidecar */
    /* progress: called after each round with the evaluation line (may be NULL) */
    void (*progress)(int round, int total, const char *eval, void *ud);
    void *ud;
} hr_train_params;

hr_train_params hr_train_default_params(void);

/* Trains on ds->rows[train[0..n_train)], reporting validation loss on
 * val[0..n_val) (n_val may be 0). Returns a model or NULL with err. */
hr_classifier *hr_classifier_train(const hr_train_params *p, const hr_route_dataset *ds, const size_t *train,
                                   size_t n_train, const size_t *val, size_t n_val, char *err, size_t errlen);

/* Probabilities for rows[0..n): probs is n*n_tiers (allocated, caller frees). */
float *hr_classifier_predict_rows(hr_classifier *c, const hr_route_dataset *ds, const size_t *rows, size_t n);

/* Routes every row at a threshold: choice[i] = tier (HR_TIER_*). */
void hr_classifier_route_rows(const hr_classifier *c, const float *probs, size_t n, double threshold, int *choice);

/* Calibration targets: a share < 0 is "no target". */
typedef struct hr_calibrate_target {
    double large_share, medium_share, cost;
} hr_calibrate_target;

/* Picks the threshold whose routing of the n rows (probs from
 * hr_classifier_predict_rows) is closest to the targets (sum of squared
 * differences; candidates are the midpoints between distinct probabilities).
 * Fills the resulting metrics when m != NULL. Returns the threshold. */
double hr_classifier_calibrate(const hr_classifier *c, const hr_route_dataset *ds, const size_t *rows, size_t n,
                               const float *probs, const hr_calibrate_target *target, hr_route_metrics *m);

#endif
