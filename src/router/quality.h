/* Quality score of an answer, for the cascade strategy: the smallest tier
 * answers first, the answer is scored, and the gateway escalates to the next
 * tier while the score stays below router.cascade.quality_threshold.
 *
 * The score is 1 - sum(weight_i * penalty_i), clamped to [0, 1]. Each signal
 * yields a penalty in [0, 1] (0 = nothing wrong) and has its own weight in
 * the config (router.cascade.weights; 0 turns it off):
 *   short_answer  trimmed answer shorter than short_answer_chars Unicode
 *                 characters: penalty (min - chars) / min. An answer made of
 *                 tool calls is never "short".
 *   uncertainty   an uncertainty phrase (不确定, "I'm not sure", ...; English
 *                 matched case-insensitively, ’ read as '): penalty 1.
 *   repetition    sentences split on 。.!?！？ and newlines, whitespace
 *                 collapsed, ASCII lowercased, fragments under 3 characters
 *                 ignored: penalty = repeated sentences / sentences (0 when
 *                 fewer than 2 sentences).
 *   mean_logprob  mean token log-probability m (only when the backend
 *                 returned logprobs): 0 at m >= logprob_mean_good, 1 at
 *                 m <= logprob_mean_bad, linear between.
 *   min_logprob   the same over the minimum token log-probability
 *                 (logprob_min_good / logprob_min_bad).
 *   length        finish_reason "length" (the answer was cut off): 1.
 *   format        the answer breaks what the request asked for: 1 when
 *                 response_format is json_object/json_schema and the content
 *                 is not (schema-valid) JSON, or tools were given and a tool
 *                 call names an unknown function, has arguments that are not
 *                 a JSON object valid against the tool's parameters, is
 *                 flagged invalid (invalid_tool_calls), is left as raw
 *                 <tool_call> text in the content, or tool_choice required a
 *                 call and none came.
 * An optional judge (a larger tier asked a yes/no grading question) is
 * combined afterwards: final = (1 - w_judge) * heuristic + w_judge * verdict
 * (yes = 1, no = 0); a failed judge leaves the heuristic score.
 *
 * Everything here is pure: no I/O, no global state; safe from any thread.
 * Inputs are borrowed. Caps: texts longer than HR_QUALITY_MAX_TEXT bytes are
 * scored on their first HR_QUALITY_MAX_TEXT bytes; at most
 * HR_QUALITY_MAX_SENTENCES sentences are compared. */
#ifndef HR_ROUTER_QUALITY_H
#define HR_ROUTER_QUALITY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/config.h"

#define HR_QUALITY_MAX_TEXT (1u << 20)
#define HR_QUALITY_MAX_SENTENCES 4096
#define HR_QUALITY_MAX_LOGPROBS 65536  /* an answer's token logprobs kept for scoring */
#define HR_QUALITY_MAX_TOOL_CALLS 64

typedef enum {
    HR_QS_SHORT = 0,
    HR_QS_UNCERTAINTY,
    HR_QS_REPETITION,
    HR_QS_MEAN_LOGPROB,
    HR_QS_MIN_LOGPROB,
    HR_QS_LENGTH,
    HR_QS_FORMAT,
    HR_QS_COUNT
} hr_quality_signal;

/* "short_answer", "uncertainty", ... (the config's weight names). */
const char *hr_quality_signal_name(int s);

/* The answer to score (all borrowed). */
typedef struct hr_quality_answer {
    const char *text;           /* assistant content; NULL = "" */
    size_t len;
    const char *finish_reason;  /* NULL when unknown */
    const float *logprobs;      /* one per generated token; NULL when the backend gave none */
    size_t n_logprobs;
    const cJSON *tool_calls;    /* OpenAI tool_calls array, or NULL */
    bool invalid_tool_calls;    /* the backend reported malformed calls */
} hr_quality_answer;

typedef struct hr_quality_report {
    double score;                       /* heuristic score in [0, 1] */
    double penalty[HR_QS_COUNT];        /* per signal, before weighting */
    bool has_logprobs;
    double mean_logprob, min_logprob;   /* 0 when !has_logprobs */
    char format_error[200];             /* why the format signal fired ("" otherwise) */
} hr_quality_report;

/* Scores a. request is the client's request body (response_format, tools,
 * tool_choice are read) or NULL. */
void hr_quality_score(const hr_cascade_config *cfg, const cJSON *request, const hr_quality_answer *a,
                      hr_quality_report *out);
/* The report as JSON {"score", "signals": {name: penalty, ...}, "mean_logprob",
 * "min_logprob", "format_error"}; only signals with a non-zero penalty are
 * listed. Caller owns it. */
cJSON *hr_quality_report_json(const hr_quality_report *r);

/* ---- single signals (penalties in [0, 1]) ---- */
double hr_quality_short(const char *text, size_t len, int min_chars);
/* phrases may be NULL (n = 0). */
double hr_quality_uncertainty(const char *text, size_t len, char *const *phrases, size_t n);
double hr_quality_repetition(const char *text, size_t len);
/* Linear ramp: 0 at value >= good, 1 at value <= bad (bad < good). */
double hr_quality_ramp(double value, double good, double bad);
/* 1 when the answer breaks the requested format (err says why), else 0. */
double hr_quality_format(const cJSON *request, const hr_quality_answer *a, char *err, size_t errsz);

/* ---- judge ---- */
/* The built-in grading system prompt (used when judge.prompt is unset). */
extern const char *const hr_quality_judge_default_prompt;
/* Request body for the judge: {"messages": [system prompt, user "Question: ...
 * Answer: ..."], "max_tokens": 4, "temperature": 0, "stream": false}.
 * question/answer are cut to 8 KiB each (on a UTF-8 boundary). prompt NULL =
 * the default. Caller owns it. */
cJSON *hr_quality_judge_request(const char *prompt, const char *question, const char *answer, size_t answer_len);
/* The judge's reply: 1 yes, 0 no, -1 neither (judge failed). Reads the first
 * word, ignoring case, whitespace, quotes, '*' and punctuation; accepts yes/no,
 * y/n, true/false, 是/对/正确 and 否/不/错. */
int hr_quality_judge_verdict(const char *text, size_t len);
/* The final score with a verdict (1/0); verdict < 0 returns heuristic. */
double hr_quality_with_judge(double heuristic, int verdict, double weight);
/* False when no verdict could move heuristic across threshold (the judge
 * call would be wasted). */
bool hr_quality_judge_matters(double heuristic, double weight, double threshold);

/* ---- collecting an answer from OpenAI objects ---- */
/* Accumulates an answer from a chat.completion object or from a stream of
 * chat.completion.chunk objects (choice 0 only): content, tool calls (deltas
 * merged by index), finish_reason, token logprobs (choices[0].logprobs.content
 * [].logprob), invalid_tool_calls. Bounded: content up to HR_QUALITY_MAX_TEXT
 * bytes (the rest is dropped, counted in truncated), HR_QUALITY_MAX_LOGPROBS
 * logprobs, HR_QUALITY_MAX_TOOL_CALLS calls. */
typedef struct hr_answer {
    hr_buf text;
    char finish_reason[32];
    float *logprobs;
    size_t n_logprobs, cap_logprobs;
    cJSON *tool_calls;          /* array or NULL */
    bool invalid_tool_calls;
    bool truncated;
    long chunks;                /* content/tool-call chunks seen (stream) */
} hr_answer;

void hr_answer_init(hr_answer *a);
void hr_answer_add_chunk(hr_answer *a, const cJSON *chunk);
void hr_answer_add_completion(hr_answer *a, const cJSON *completion);
/* A view for hr_quality_score (valid while a lives and is not changed). */
void hr_answer_view(const hr_answer *a, hr_quality_answer *out);
void hr_answer_free(hr_answer *a);

#endif
