/* Configuration: the YAML file (libyaml) turned into validated structs.
 *
 * hr_config_load() either returns a complete, validated config or NULL with a
 * message naming the file, line and key ("config.yaml:12: tiers.small.backends[0].url:
 * expected a URL"); the server never starts half-configured. Defaults come from
 * hr_config_default(). All strings are owned by the config; hr_config_free(NULL)
 * is a no-op. */
#ifndef HR_CORE_CONFIG_H
#define HR_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Tier indices, smallest first. A config enables two or three of them. */
typedef enum { HR_TIER_SMALL = 0, HR_TIER_MEDIUM = 1, HR_TIER_LARGE = 2, HR_TIER_MAX = 3 } hr_tier;

const char *hr_tier_name(int tier);     /* "small" | "medium" | "large" | "?" */
int hr_tier_from_name(const char *name); /* -1 if not a tier name */

typedef enum { HR_BACKEND_OPENAI = 0, HR_BACKEND_EMBEDDED = 1 } hr_backend_type;
typedef enum { HR_TOOLS_OPENAI = 0, HR_TOOLS_HERMES = 1 } hr_tool_format;

typedef struct hr_backend_config {
    hr_backend_type type;
    char *url;       /* openai: base URL ending in /v1 (".../chat/completions" is appended) */
    char *model;     /* openai: model name sent upstream; embedded: path to the GGUF */
    char *api_key;   /* openai: optional bearer token for the upstream */
    hr_tool_format tool_format;
    /* embedded only */
    int threads;     /* 0 = number of cores */
    int context;     /* 0 = from the GGUF */
    int parallel;    /* concurrent sequences (KV slots) */
    char *chat_template; /* NULL = from the GGUF; "chatml" | "llama3" | "plain" */
    int queue;       /* requests that may wait for a slot (0 = 8 per slot); past it: 429 */
} hr_backend_config;

typedef struct hr_tier_config {
    bool enabled;
    char **aliases;
    size_t n_aliases;
    hr_backend_config *backends;
    size_t n_backends;
    /* cost model: either a fixed monthly price with a capacity, or per-token prices */
    double usd_per_month;
    double capacity_rps;       /* requests/s the monthly price buys (0 = unknown) */
    double usd_per_mtok_in;
    double usd_per_mtok_out;
} hr_tier_config;

typedef struct hr_rules_config {
    size_t large_context_chars;   /* 20000: total context above this -> large */
    size_t medium_context_chars;  /* 5000: above this -> medium */
    size_t reasoning_min_chars;   /* 500: reasoning keyword + last message longer -> medium */
    size_t simple_max_chars;      /* 500: simple keyword + last message shorter -> small */
    long medium_max_tokens;       /* 2048: max_tokens above this -> medium */
    char **complex_keywords;   size_t n_complex_keywords;
    char **reasoning_keywords; size_t n_reasoning_keywords;
    char **simple_keywords;    size_t n_simple_keywords;
    int default_tier;             /* HR_TIER_MEDIUM */
} hr_rules_config;

typedef struct hr_classifier_config {
    char *model;        /* path to the trained router model (NULL = none) */
    char *embedder;     /* embedding GGUF for a model with an embedding block (NULL = the one its sidecar names) */
    double threshold;   /* cheapest tier whose P(pass) >= threshold; 0 = the model's own */
    int dim;            /* hashed feature dimension */
} hr_classifier_config;

/* Weights of the cascade's quality signals (router/quality.h): the score is
 * 1 - sum(weight * penalty), clamped to [0, 1]; 0 turns a signal off. */
typedef struct hr_quality_weights {
    double short_answer;  /* 0.5: answer shorter than short_answer_chars */
    double uncertainty;   /* 0.4: an uncertainty phrase ("I'm not sure", 不确定, ...) */
    double repetition;    /* 0.6: share of repeated sentences */
    double mean_logprob;  /* 0.5: mean token log-probability below the good bar */
    double min_logprob;   /* 0.2: minimum token log-probability below the good bar */
    double length;        /* 0.5: finish_reason "length" (cut off) */
    double format;        /* 0.6: breaks the requested JSON schema / tool-call format */
    double judge;         /* 0.6: share of the judge's yes(1)/no(0) in the final score */
} hr_quality_weights;

typedef struct hr_cascade_judge_config {
    bool enabled;             /* false */
    int tier;                 /* HR_TIER_*, or -1 = the largest enabled tier */
    char *prompt;             /* system prompt of the grading question (NULL = built-in) */
    double timeout_s;         /* 10 s: a slower judge counts as failed */
} hr_cascade_judge_config;

typedef struct hr_cascade_early_config {
    bool enabled;             /* false */
    int after_tokens;         /* 16: decide after this many streamed tokens */
    double min_mean_logprob;  /* -0.3: their mean log-probability must be at least this */
} hr_cascade_early_config;

typedef struct hr_cascade_config {
    double quality_threshold; /* 0.7 */
    int max_cascade;          /* 2 */
    hr_quality_weights weights;
    int short_answer_chars;   /* 8 (Unicode characters, trimmed) */
    char **uncertainty_phrases; size_t n_uncertainty_phrases; /* zh + en defaults */
    double logprob_mean_good; /* -0.5: mean at or above -> no penalty */
    double logprob_mean_bad;  /* -2.0: mean at or below -> full penalty (linear between) */
    double logprob_min_good;  /* -5 */
    double logprob_min_bad;   /* -12 */
    bool request_logprobs;    /* true: ask upstreams for logprobs (stripped again unless the client asked) */
    hr_cascade_judge_config judge;
    hr_cascade_early_config stream_early_accept;
} hr_cascade_config;

typedef struct hr_log_config {
    bool enabled;
    char *sqlite_path;  /* default "hermes-router.db" */
    char *postgres_url; /* when set, used instead of SQLite */
    bool capture_text;  /* store prompt text */
} hr_log_config;

typedef struct hr_config {
    char *path;                 /* file it came from, or NULL for defaults */
    char *host;                 /* "127.0.0.1" */
    int port;                   /* 7861 */
    char **api_keys;            /* empty = no auth */
    size_t n_api_keys;
    size_t max_body_bytes;      /* 4 MiB */
    double connect_timeout_s;   /* upstream connect timeout, 5 s */
    double request_timeout_s;   /* whole upstream request, 600 s */
    double idle_timeout_s;      /* upstream read inactivity, 120 s */
    int threads;                /* event-loop threads; 0 = one per core */
    bool ui;                    /* serve the web UI at / (default true) */
    hr_tier_config tiers[HR_TIER_MAX];
    char *strategy;             /* "rules" | "classifier" | "cascade" | "rules+cascade" | "classifier+cascade" */
    hr_rules_config rules;
    hr_classifier_config classifier;
    hr_cascade_config cascade;
    hr_log_config log;
} hr_config;

hr_config *hr_config_default(void);
hr_config *hr_config_load(const char *path, char *err, size_t errlen);
/* Parses YAML text (name is used in messages only). */
hr_config *hr_config_parse(const char *yaml, size_t len, const char *name, char *err, size_t errlen);
void hr_config_free(hr_config *cfg);
/* Fills r with the seed's thresholds and keyword lists (owned by r). */
void hr_config_set_rule_defaults(hr_rules_config *r);
/* Fills c with the cascade defaults (phrase list owned by c). */
void hr_config_set_cascade_defaults(hr_cascade_config *c);

/* Number of enabled tiers, and the mapping of a wanted tier onto enabled ones:
 * the nearest enabled tier at or above `want`, else the largest enabled one. */
int hr_config_tier_count(const hr_config *cfg);
int hr_config_map_tier(const hr_config *cfg, int want);
/* Resolves a `model` field: tier name or alias -> tier index; -1 if unknown. */
int hr_config_tier_for_model(const hr_config *cfg, const char *model);

#endif
