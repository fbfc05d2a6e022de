/* Embedded backend internals shared by embedded.c (backend, loop side) and
 * embedded_sched.c (engines and their scheduler threads). See embedded.h. */
#ifndef HR_BACKEND_EMBEDDED_INT_H
#define HR_BACKEND_EMBEDDED_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/embedded.h"
#include "core/buf.h"
#include "engine/engine.h"
#include "engine/grammar.h"
#include "engine/tokenizer.h"

#define EMB_PREFILL_CHUNK 128        /* prompt tokens per step while other sequences generate */
#define EMB_MAX_STOPS 8              /* hr_stop's limit */
#define EMB_MAX_STOP_BYTES 256

struct event;

typedef struct emb_engine emb_engine;

/* One generated token's logprob record (only kept when the client asked). */
typedef struct emb_lp {
    int32_t token;
    float logprob;
    int n_top;
    hr_token_logprob top[20];
} emb_lp;

typedef enum { EMB_QUEUED = 0, EMB_PREFILL, EMB_GEN, EMB_DONE } emb_phase;

/* A request inside the engine. Created by submit (loop thread) with two
 * references: the loop side's and the scheduler's; freed by the last
 * emb_job_release. Fields are grouped by who touches them. */
typedef struct emb_job {
    _Atomic int refs;
    _Atomic bool cancelled;     /* set by the loop side; the scheduler drops the job at its next step */
    struct emb_job *next;       /* engine's queue link (engine mutex) */

    /* immutable after submit */
    emb_engine *e;
    int32_t *prompt;
    int n_prompt;
    int max_tokens;             /* >= 1; n_prompt + max_tokens <= n_ctx */
    int n_logprobs;             /* top alternatives per token; -1 = no logprobs at all */
    hr_logit_bias *logit_bias;  /* the request's, until the sampler copies it */
    char stops[EMB_MAX_STOPS][EMB_MAX_STOP_BYTES + 1];
    int n_stops;

    /* scheduler thread only */
    emb_phase phase;
    int slot;
    int n_past;                 /* positions of this sequence in the KV cache */
    int32_t next_token;         /* sampled, to be decoded at n_past */
    int n_gen;
    int n_cached;               /* prompt tokens reused from the slot's cache */
    hr_sampler *sampler;
    hr_grammar *grammar;        /* tools / JSON mode, or NULL (owned) */
    hr_grammar_state *gstate;
    hr_detok detok;
    hr_stop stop;

    /* mailbox: scheduler -> loop (mu) */
    pthread_mutex_t mu;
    struct event *ev;           /* the call's wakeup; NULL once the loop side left */
    hr_buf text;                /* released text not yet taken by the loop */
    emb_lp *lps;                /* logprob records not yet taken */
    size_t n_lps, cap_lps;
    bool finished;
    const char *finish_reason;  /* "stop" | "length" (static) */
    int err_status;             /* != 0: failed with err_msg */
    char err_msg[256];
    long prompt_tokens, completion_tokens, cached_tokens;
} emb_job;

void emb_job_release(emb_job *j);

/* ---- engines (embedded_sched.c) ---- */

typedef struct emb_engine_params {
    int threads, context, parallel, queue;
    const char *chat_template; /* override name or NULL */
} emb_engine_params;

/* Loads or shares the engine of path; NULL with err. */
emb_engine *emb_engine_get(const char *path, const emb_engine_params *p, char *err, size_t errlen);
void emb_engine_put(emb_engine *e);

const hr_model *emb_engine_model(const emb_engine *e);
const hr_tokenizer *emb_engine_tokenizer(const emb_engine *e);
const hr_grammar_vocab *emb_engine_gvocab(const emb_engine *e);
hr_chat_template emb_engine_template(const emb_engine *e);
int emb_engine_n_ctx(const emb_engine *e);
const char *emb_engine_name(const emb_engine *e); /* short model name for the "model" field */

/* Queues j (takes the scheduler's reference). -1 when the queue is full
 * (nothing taken; the caller answers 429). */
int emb_engine_enqueue(emb_engine *e, emb_job *j);
/* Wakes the scheduler (a job was cancelled). */
void emb_engine_poke(emb_engine *e);

#endif
