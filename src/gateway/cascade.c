/* The cascade: answer on the starting tier into a buffering sink, score,
 * escalate while the score is low (contract in cascade.h).
 *
 * One cascade = a sequence of attempts, one per tier, each submitted to a
 * backend of the tier with this cascade as the sink. The attempt's answer is
 * kept (chunks, or the completion object) and collected into an hr_answer for
 * scoring; then either the next tier is tried or the kept answer is handed
 * to the gateway's sink as if a backend produced it. The judge is a second,
 * non-streaming call with its own sink and a timer. */
#include "gateway/cascade.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/internal.h"

#define BACKEND_DOWN_MS 5000         /* as chat.c: an unreachable backend is skipped this long */
#define TRIES_PER_TIER 2             /* backends tried per tier on connection failures */
#define MAX_BUFFERED_BYTES (64u << 20) /* a buffered answer larger than this fails the attempt */

typedef struct kept {
    cJSON **chunks;              /* stream: the chunks, in order (owned) */
    size_t n, cap;
    cJSON *completion;           /* non-stream: the object (owned) */
    hr_usage usage;
    int attempt;                 /* index into info->a */
} kept;

typedef struct judge_sink {
    hr_sink sink;                /* first */
    struct hr_cascade *c;
} judge_sink;

struct hr_cascade {
    hr_sink sink;                /* first: attempts call back through it */
    hr_gateway *gw;
    hr_loop *loop;
    const hr_cascade_config *cfg;
    hr_chat_request *req;
    hr_sink *out;
    hr_cascade_info *info;
    bool stream;
    bool strip_logprobs;         /* we asked for logprobs, the client did not */
    int tier;                    /* tier of the running attempt */
    int escalations;
    int tries;                   /* backends tried on this tier */
    hr_backend *backend;
    hr_call *call;
    uint64_t t0_ns;              /* attempt start */
    size_t bytes;                /* buffered so far */
    hr_answer ans;
    kept cur;                    /* the running attempt's answer */
    kept best;                   /* the best-scoring earlier answer (returned if the last tier fails) */
    double best_score;
    bool live;                   /* early accept: chunks go straight to out */
    bool submitting;             /* inside backend submit: a synchronous error is deferred */
    bool pending_error;
    hr_backend_error perr;
    /* judge */
    judge_sink js;
    hr_chat_request jreq;
    hr_backend *jbackend;
    hr_call *jcall;
    struct event *jtimer;
    uint64_t j0_ns;
    hr_answer jans;
    bool judging;
    /* next step, run from the loop: a backend's callback (e.g. a stream's
     * [DONE] inside libcurl's write callback) must not start a new transfer */
    struct event *step_ev;
    void (*step)(struct hr_cascade *c);
    /* delivery */
    bool delivering;
    bool cancelled;
    bool done;
};

static void start_attempt(hr_cascade *c);
static void attempt_over(hr_cascade *c, double score);
static void judge_start(hr_cascade *c);
static void retry_attempt(hr_cascade *c);

static void on_step(evutil_socket_t fd, short what, void *arg) {
    hr_cascade *c = arg;
    void (*fn)(hr_cascade *) = c->step;
    c->step = NULL;
    if (fn) fn(c);
}

/* Runs fn(c) from the event loop, as soon as the current callback returns. */
static void defer(hr_cascade *c, void (*fn)(hr_cascade *)) {
    c->step = fn;
    struct timeval now = {0, 0};
    evtimer_add(c->step_ev, &now);
}

/* ---- small helpers --------------------------------------------------------- */

static void kept_clear(kept *k) {
    for (size_t i = 0; i < k->n; i++) cJSON_Delete(k->chunks[i]);
    free(k->chunks);
    cJSON_Delete(k->completion);
    memset(k, 0, sizeof *k);
    k->usage.prompt_tokens = k->usage.completion_tokens = -1;
}

static void kept_push(kept *k, cJSON *chunk) {
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 32;
        k->chunks = hr_xrealloc(k->chunks, k->cap * sizeof *k->chunks);
    }
    k->chunks[k->n++] = chunk;
}

/* logprobs the client did not ask for are removed (null, as OpenAI sends). */
static void strip_logprobs(hr_cascade *c, cJSON *obj) {
    if (!c->strip_logprobs) return;
    cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(obj, "choices")) {
        if (cJSON_HasObjectItem(ch, "logprobs")) cJSON_ReplaceItemInObjectCaseSensitive(ch, "logprobs", cJSON_CreateNull());
    }
}

static int next_tier(const hr_cascade *c, int t) {
    for (int u = t + 1; u < HR_TIER_MAX; u++)
        if (c->gw->cfg->tiers[u].enabled) return u;
    return -1;
}

static hr_cascade_attempt *cur_attempt(hr_cascade *c) { return &c->info->a[c->info->n - 1]; }

static void cascade_free(hr_cascade *c) {
    if (c->jtimer) event_free(c->jtimer);
    if (c->step_ev) event_free(c->step_ev);
    kept_clear(&c->cur);
    kept_clear(&c->best);
    hr_answer_free(&c->ans);
    hr_answer_free(&c->jans);
    hr_chat_request_free(&c->jreq);
    free(c);
}

static void path_append(hr_cascade_info *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_append(hr_cascade_info *info, const char *fmt, ...) {
    size_t l = strlen(info->path);
    if (l && l + 1 < sizeof info->path) info->path[l++] = '>', info->path[l] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->path + l, sizeof info->path - l, fmt, ap);
    va_end(ap);
}

static void note_model(hr_cascade_attempt *a, const cJSON *obj) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "model");
    if (!a->model[0] && cJSON_IsString(m)) snprintf(a->model, sizeof a->model, "%s", m->valuestring);
}

/* ---- delivery to the gateway's sink ------------------------------------------- */

/* Hands k to out (chunks then done, or the completion) and frees the cascade,
 * unless the client went away meanwhile. */
static void deliver(hr_cascade *c, kept *k) {
    c->done = true;
    c->delivering = true;
    if (k->completion) {
        cJSON *obj = k->completion;
        k->completion = NULL;
        c->out->ops->complete(c->out, obj, NULL, 0, &k->usage);
    } else {
        size_t i = 0;
        for (; i < k->n && !c->cancelled; i++) {
            cJSON *ch = k->chunks[i];
            k->chunks[i] = NULL;
            c->out->ops->chunk(c->out, ch, NULL, 0);
        }
        if (!c->cancelled) c->out->ops->done(c->out, &k->usage);
    }
    cascade_free(c);
}

static void deliver_error(hr_cascade *c, const hr_backend_error *e) {
    c->done = true;
    c->delivering = true; /* a cancel from inside out's callback must not free us */
    hr_backend_error x = *e;
    x.retryable = false; /* the gateway must not retry on its own */
    c->out->ops->error(c->out, &x);
    cascade_free(c);
}

/* Accepts the kept answer of attempt k->attempt as the final one. */
static void accept_answer(hr_cascade *c, kept *k) {
    hr_cascade_info *info = c->info;
    hr_cascade_attempt *a = &info->a[k->attempt];
    info->final_tier = a->tier;
    info->final_score = a->score;
    deliver(c, k);
}

/* ---- judge --------------------------------------------------------------------- */

static void judge_finish(hr_cascade *c, int verdict, const char *why) {
    if (!c->judging) return;
    c->judging = false;
    c->jcall = NULL;
    if (c->jtimer) {
        event_free(c->jtimer);
        c->jtimer = NULL;
    }
    hr_cascade_attempt *a = cur_attempt(c);
    a->judge = verdict < 0 ? HR_JUDGE_FAILED : verdict ? HR_JUDGE_YES : HR_JUDGE_NO;
    a->judge_ms = (double)(hr_now_ns() - c->j0_ns) / 1e6;
    if (verdict < 0) hr_warn("cascade judge on %s failed (%s): using the heuristic score", hr_tier_name(c->info->judge_tier), why);
    double score = hr_quality_with_judge(a->quality.score, verdict, c->cfg->weights.judge);
    hr_chat_request_free(&c->jreq);
    attempt_over(c, score);
}

static void judge_usage(hr_cascade *c, const hr_usage *u) {
    if (!u) return;
    long n = 0;
    if (u->prompt_tokens > 0) n += u->prompt_tokens;
    if (u->completion_tokens > 0) n += u->completion_tokens;
    cur_attempt(c)->judge_tokens = n;
}

static hr_cascade *judge_owner(hr_sink *s) { return ((judge_sink *)s)->c; }

static void js_chunk(hr_sink *s, cJSON *chunk, const char *raw, size_t raw_len) {
    hr_cascade *c = judge_owner(s);
    hr_answer_add_chunk(&c->jans, chunk);
    cJSON_Delete(chunk);
}

static void js_done(hr_sink *s, const hr_usage *u) {
    hr_cascade *c = judge_owner(s);
    c->jcall = NULL;
    judge_usage(c, u);
    judge_finish(c, hr_quality_judge_verdict(c->jans.text.data, c->jans.text.len), "no yes/no in its reply");
}

static void js_complete(hr_sink *s, cJSON *obj, const char *raw, size_t raw_len, const hr_usage *u) {
    hr_cascade *c = judge_owner(s);
    c->jcall = NULL;
    hr_answer_add_completion(&c->jans, obj);
    cJSON_Delete(obj);
    judge_usage(c, u);
    judge_finish(c, hr_quality_judge_verdict(c->jans.text.data, c->jans.text.len), "no yes/no in its reply");
}

static void js_error(hr_sink *s, const hr_backend_error *e) {
    hr_cascade *c = judge_owner(s);
    c->jcall = NULL;
    if (e->retryable && c->jbackend) {
        atomic_store(&c->jbackend->down_until_ms, hr_unix_ms() + BACKEND_DOWN_MS);
        atomic_fetch_add(&c->jbackend->failures, 1);
    }
    if (c->submitting) { /* synchronous failure inside submit: finish after it returns */
        c->pending_error = true;
        return;
    }
    judge_finish(c, -1, e->message);
}

static const hr_sink_ops judge_ops = {js_chunk, js_done, js_complete, js_error};

static void judge_timeout(evutil_socket_t fd, short what, void *arg) {
    hr_cascade *c = arg;
    if (c->jcall && c->jbackend) c->jbackend->vt->cancel(c->jcall);
    c->jcall = NULL;
    judge_finish(c, -1, "timed out");
}

/* Asks the judge tier about the current answer; attempt_over() follows. */
static void judge_start(hr_cascade *c) {
    const hr_chat_message *u = c->req->last_user;
    hr_buf answer; /* the content, then the tool calls as JSON (the judge grades both) */
    hr_buf_init(&answer, 0);
    hr_buf_append(&answer, c->ans.text.data ? c->ans.text.data : "", c->ans.text.len);
    if (c->ans.tool_calls) {
        char *calls = cJSON_PrintUnformatted(c->ans.tool_calls);
        hr_buf_printf(&answer, "%sTool calls: %s", answer.len ? "\n" : "", calls);
        free(calls);
    }
    cJSON *root = hr_quality_judge_request(c->cfg->judge.prompt, u ? u->text : "", answer.data ? answer.data : "",
                                           answer.len);
    hr_buf_free(&answer);
    hr_request_error err;
    c->judging = true;
    c->j0_ns = hr_now_ns();
    hr_answer_free(&c->jans);
    hr_answer_init(&c->jans);
    if (hr_chat_request_from_json(root, &c->jreq, &err) < 0) {
        judge_finish(c, -1, err.message);
        return;
    }
    c->jbackend = hr_gateway_pick(c->gw, c->info->judge_tier, NULL);
    if (!c->jbackend) {
        judge_finish(c, -1, "no live backend");
        return;
    }
    c->js.sink.ops = &judge_ops;
    c->js.c = c;
    c->jtimer = evtimer_new(hr_loop_base(c->loop), judge_timeout, c);
    double t = c->cfg->judge.timeout_s;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - floor(t)) * 1e6)};
    evtimer_add(c->jtimer, &tv);
    c->submitting = true;
    c->pending_error = false;
    c->jcall = c->jbackend->vt->submit(c->jbackend, c->loop, &c->jreq, &c->js.sink);
    c->submitting = false;
    if (c->pending_error) {
        c->pending_error = false;
        judge_finish(c, -1, "the judge call failed to start");
    }
}

/* ---- attempts ------------------------------------------------------------------ */

/* Scored: accept, or escalate. */
static void attempt_over(hr_cascade *c, double score) {
    hr_cascade_info *info = c->info;
    hr_cascade_attempt *a = cur_attempt(c);
    a->score = score;
    path_append(info, "%s:%.2f", hr_tier_name(a->tier), score);
    int next = next_tier(c, c->tier);
    if (score >= c->cfg->quality_threshold || next < 0 || c->escalations >= c->cfg->max_cascade) {
        accept_answer(c, &c->cur);
        return;
    }
    /* keep the better of this and the earlier answers for a last-tier failure */
    if (!c->best.completion && !c->best.n) {
        c->best = c->cur;
        c->best_score = score;
    } else if (score > c->best_score) {
        kept_clear(&c->best);
        c->best = c->cur;
        c->best_score = score;
    } else {
        kept_clear(&c->cur);
    }
    memset(&c->cur, 0, sizeof c->cur);
    c->escalations++;
    c->tier = next;
    defer(c, start_attempt);
}

/* The answer is complete: score it (and ask the judge when it can matter). */
static void attempt_answered(hr_cascade *c, const hr_usage *u) {
    hr_cascade_attempt *a = cur_attempt(c);
    a->status = 200;
    a->latency_ms = (double)(hr_now_ns() - c->t0_ns) / 1e6;
    if (u) {
        a->prompt_tokens = u->prompt_tokens;
        a->completion_tokens = u->completion_tokens;
        c->cur.usage = *u;
    }
    hr_quality_answer view;
    hr_answer_view(&c->ans, &view);
    hr_quality_score(c->cfg, c->req->root, &view, &a->quality);
    double h = a->quality.score;
    if (c->live) { /* early accept: already streamed; scored for the log only */
        a->score = h;
        return;
    }
    bool can_escalate = next_tier(c, c->tier) >= 0 && c->escalations < c->cfg->max_cascade;
    if (c->info->judge_tier >= 0 && can_escalate &&
        hr_quality_judge_matters(h, c->cfg->weights.judge, c->cfg->quality_threshold)) {
        defer(c, judge_start);
        return;
    }
    attempt_over(c, h);
}

/* The attempt failed: move on, or return the best earlier answer, or fail. */
static void attempt_failed(hr_cascade *c, const hr_backend_error *e) {
    hr_cascade_info *info = c->info;
    hr_cascade_attempt *a = cur_attempt(c);
    a->status = e->status;
    a->latency_ms = (double)(hr_now_ns() - c->t0_ns) / 1e6;
    snprintf(a->error, sizeof a->error, "%.159s", e->message);
    path_append(info, "%s:error", hr_tier_name(a->tier));
    kept_clear(&c->cur);
    int next = next_tier(c, c->tier);
    if (next >= 0) { /* a failure is not a quality escalation: max_cascade does not stop it */
        c->tier = next;
        defer(c, start_attempt);
        return;
    }
    if (c->best.completion || c->best.n) {
        info->final_tier = info->a[c->best.attempt].tier;
        info->final_score = info->a[c->best.attempt].score;
        deliver(c, &c->best);
        return;
    }
    info->final_tier = a->tier;
    info->final_score = -1;
    deliver_error(c, e);
}

static hr_cascade *owner(hr_sink *s) { return (hr_cascade *)s; }

static void at_chunk(hr_sink *s, cJSON *chunk, const char *raw, size_t raw_len) {
    hr_cascade *c = owner(s);
    note_model(cur_attempt(c), chunk);
    hr_answer_add_chunk(&c->ans, chunk);
    strip_logprobs(c, chunk);
    if (c->live) {
        c->delivering = true;
        c->out->ops->chunk(c->out, chunk, NULL, 0);
        c->delivering = false;
        if (c->cancelled) { /* the client went away while we wrote */
            if (c->call) c->backend->vt->cancel(c->call);
            c->call = NULL;
            cascade_free(c);
        }
        return;
    }
    c->bytes += raw ? raw_len : 256;
    kept_push(&c->cur, chunk);
    if (c->bytes > MAX_BUFFERED_BYTES) {
        if (c->call) c->backend->vt->cancel(c->call);
        c->call = NULL;
        hr_backend_error e = {502, "upstream_error", "answer_too_large", {0}, false};
        snprintf(e.message, sizeof e.message, "cascade: the %s answer is larger than %u MiB", hr_tier_name(c->tier),
                 MAX_BUFFERED_BYTES >> 20);
        attempt_failed(c, &e);
        return;
    }
    /* stream_early_accept: enough tokens, confident enough -> stream live */
    const hr_cascade_early_config *ea = &c->cfg->stream_early_accept;
    if (ea->enabled && c->info->n == 1 && c->ans.n_logprobs >= (size_t)ea->after_tokens &&
        next_tier(c, c->tier) >= 0 && c->cfg->max_cascade > 0) {
        double sum = 0;
        for (int i = 0; i < ea->after_tokens; i++) sum += c->ans.logprobs[i];
        double mean = sum / ea->after_tokens;
        if (mean >= ea->min_mean_logprob) {
            hr_cascade_info *info = c->info;
            info->early_accept = true;
            info->final_tier = c->tier;
            info->final_score = -1;
            path_append(info, "%s:early", hr_tier_name(c->tier));
            c->live = true;
            c->delivering = true;
            for (size_t i = 0; i < c->cur.n && !c->cancelled; i++) {
                cJSON *ch = c->cur.chunks[i];
                c->cur.chunks[i] = NULL;
                c->out->ops->chunk(c->out, ch, NULL, 0);
            }
            c->delivering = false;
            kept_clear(&c->cur);
            if (c->cancelled) {
                if (c->call) c->backend->vt->cancel(c->call);
                c->call = NULL;
                cascade_free(c);
            }
        }
    }
}

static void at_done(hr_sink *s, const hr_usage *u) {
    hr_cascade *c = owner(s);
    c->call = NULL;
    if (c->live) {
        attempt_answered(c, u);
        c->info->final_score = -1;
        c->done = true;
        c->delivering = true;
        c->out->ops->done(c->out, u);
        cascade_free(c);
        return;
    }
    attempt_answered(c, u);
}

static void at_complete(hr_sink *s, cJSON *obj, const char *raw, size_t raw_len, const hr_usage *u) {
    hr_cascade *c = owner(s);
    c->call = NULL;
    note_model(cur_attempt(c), obj);
    hr_answer_add_completion(&c->ans, obj);
    strip_logprobs(c, obj);
    c->cur.completion = obj;
    attempt_answered(c, u);
}

static void at_error(hr_sink *s, const hr_backend_error *e) {
    hr_cascade *c = owner(s);
    c->call = NULL;
    if (c->submitting) { /* synchronous failure inside submit: handled after it returns */
        c->pending_error = true;
        c->perr = *e;
        return;
    }
    if (c->live) { /* mid-stream failure after going live: the client sees it */
        hr_cascade_attempt *a = cur_attempt(c);
        a->status = e->status;
        snprintf(a->error, sizeof a->error, "%.159s", e->message);
        deliver_error(c, e);
        return;
    }
    if (e->retryable && c->backend) {
        atomic_store(&c->backend->down_until_ms, hr_unix_ms() + BACKEND_DOWN_MS);
        atomic_fetch_add(&c->backend->failures, 1);
        hr_warn("cascade: %s; marked down for %d s", e->message, BACKEND_DOWN_MS / 1000);
        if (c->tries < TRIES_PER_TIER && c->cur.n == 0 && hr_gateway_pick(c->gw, c->tier, c->backend)) {
            c->tries++; /* same attempt, another backend of the tier */
            defer(c, retry_attempt);
            return;
        }
    }
    attempt_failed(c, e);
}

static const hr_sink_ops attempt_ops = {at_chunk, at_done, at_complete, at_error};

/* Submits the current attempt to b; a synchronous failure goes through at_error. */
static void submit_to(hr_cascade *c, hr_backend *b) {
    c->backend = b;
    c->submitting = true;
    c->pending_error = false;
    c->call = b->vt->submit(b, c->loop, c->req, &c->sink);
    c->submitting = false;
    if (c->pending_error) {
        c->pending_error = false;
        hr_backend_error pe = c->perr;
        pe.retryable = false; /* no endless retry loop on a synchronous failure */
        at_error(&c->sink, &pe);
    }
}

static void retry_attempt(hr_cascade *c) {
    hr_backend *b = hr_gateway_pick(c->gw, c->tier, c->backend);
    hr_answer_free(&c->ans);
    hr_answer_init(&c->ans);
    if (!b) {
        hr_backend_error e = {503, "server_error", "no_live_backend", {0}, false};
        snprintf(e.message, sizeof e.message, "no live backend left for tier %s", hr_tier_name(c->tier));
        attempt_failed(c, &e);
        return;
    }
    submit_to(c, b);
}

static void start_attempt(hr_cascade *c) {
    hr_cascade_info *info = c->info;
    hr_cascade_attempt *a = &info->a[info->n++];
    memset(a, 0, sizeof *a);
    a->tier = c->tier;
    a->score = -1;
    a->prompt_tokens = a->completion_tokens = a->judge_tokens = -1;
    kept_clear(&c->cur);
    c->cur.attempt = info->n - 1;
    hr_answer_free(&c->ans);
    hr_answer_init(&c->ans);
    c->bytes = 0;
    c->tries = 1;
    c->t0_ns = hr_now_ns();
    hr_backend *b = hr_gateway_pick(c->gw, c->tier, NULL);
    if (!b) {
        hr_backend_error e = {503, "server_error", "no_live_backend", {0}, false};
        snprintf(e.message, sizeof e.message, "no live backend for tier %s", hr_tier_name(c->tier));
        attempt_failed(c, &e);
        return;
    }
    submit_to(c, b);
}

/* ---- public ---------------------------------------------------------------------- */

hr_cascade *hr_cascade_create(hr_gateway *gw, hr_loop *loop, int start, hr_chat_request *req, hr_sink *out,
                              hr_cascade_info *info) {
    hr_cascade *c = hr_xcalloc(1, sizeof *c);
    c->sink.ops = &attempt_ops;
    c->gw = gw;
    c->loop = loop;
    c->cfg = &gw->cfg->cascade;
    c->req = req;
    c->out = out;
    c->info = info;
    c->tier = start;
    c->stream = req->stream;
    c->step_ev = evtimer_new(hr_loop_base(loop), on_step, c);
    kept_clear(&c->cur);
    kept_clear(&c->best);
    hr_answer_init(&c->ans);
    hr_answer_init(&c->jans);
    memset(info, 0, sizeof *info);
    info->final_tier = -1;
    info->final_score = -1;
    info->judge_tier = -1;
    if (c->cfg->judge.enabled) {
        int jt = c->cfg->judge.tier;
        info->judge_tier = jt >= 0 ? jt : hr_config_map_tier(gw->cfg, HR_TIER_MAX - 1);
    }
    /* ask for logprobs (the logprob signals and early accept need them) */
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(req->root, "logprobs");
    if (c->cfg->request_logprobs && !cJSON_IsTrue(lp)) {
        cJSON_DeleteItemFromObjectCaseSensitive(req->root, "logprobs");
        cJSON_AddTrueToObject(req->root, "logprobs");
        hr_chat_request_root_changed(req);
        c->strip_logprobs = true;
    }
    return c;
}

void hr_cascade_run(hr_cascade *c) { start_attempt(c); }

void hr_cascade_cancel(hr_cascade *c) {
    if (!c) return;
    if (c->delivering) { /* inside our own call to out: finish there */
        c->cancelled = true;
        return;
    }
    if (c->call && c->backend) c->backend->vt->cancel(c->call);
    if (c->jcall && c->jbackend) c->jbackend->vt->cancel(c->jcall);
    cascade_free(c);
}

/* ---- reporting ---------------------------------------------------------------------- */

static void add_rounded(cJSON *o, const char *k, double v, double scale) {
    cJSON_AddNumberToObject(o, k, round(v * scale) / scale);
}

static const char *judge_name(int j) {
    switch (j) {
    case HR_JUDGE_YES: return "yes";
    case HR_JUDGE_NO: return "no";
    case HR_JUDGE_FAILED: return "failed";
    default: return NULL;
    }
}

static cJSON *attempts_json(const hr_cascade_info *info) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < info->n; i++) {
        const hr_cascade_attempt *a = &info->a[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tier", hr_tier_name(a->tier));
        if (a->model[0]) cJSON_AddStringToObject(o, "model", a->model);
        cJSON_AddNumberToObject(o, "status", a->status);
        if (a->score >= 0) add_rounded(o, "score", a->score, 1e4);
        else cJSON_AddNullToObject(o, "score");
        if (a->status == 200) {
            add_rounded(o, "heuristic", a->quality.score, 1e4);
            cJSON *q = hr_quality_report_json(&a->quality);
            cJSON_AddItemToObject(o, "signals", cJSON_DetachItemFromObject(q, "signals"));
            cJSON *it;
            if ((it = cJSON_DetachItemFromObject(q, "mean_logprob"))) cJSON_AddItemToObject(o, "mean_logprob", it);
            if ((it = cJSON_DetachItemFromObject(q, "min_logprob"))) cJSON_AddItemToObject(o, "min_logprob", it);
            if ((it = cJSON_DetachItemFromObject(q, "format_error"))) cJSON_AddItemToObject(o, "format_error", it);
            cJSON_Delete(q);
        }
        if (judge_name(a->judge)) {
            cJSON *j = cJSON_AddObjectToObject(o, "judge");
            cJSON_AddStringToObject(j, "verdict", judge_name(a->judge));
            cJSON_AddStringToObject(j, "tier", hr_tier_name(info->judge_tier));
            add_rounded(j, "latency_ms", a->judge_ms, 1e3);
            cJSON_AddNumberToObject(j, "tokens", (double)a->judge_tokens);
        }
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)a->prompt_tokens);
        cJSON_AddNumberToObject(o, "completion_tokens", (double)a->completion_tokens);
        add_rounded(o, "latency_ms", a->latency_ms, 1e3);
        if (a->error[0]) cJSON_AddStringToObject(o, "error", a->error);
        cJSON_AddBoolToObject(o, "accepted", a->tier == info->final_tier && a->status == 200);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static const char *model_used(const hr_cascade_info *info) {
    for (int i = info->n - 1; i >= 0; i--)
        if (info->a[i].tier == info->final_tier && info->a[i].model[0]) return info->a[i].model;
    return info->final_tier >= 0 ? hr_tier_name(info->final_tier) : "";
}

void hr_cascade_info_json(const hr_cascade_info *info, cJSON *x) {
    if (!info || !info->n) return;
    cJSON_AddStringToObject(x, "model_used", model_used(info));
    if (info->final_score >= 0) add_rounded(x, "quality_score", info->final_score, 1e4);
    else cJSON_AddNullToObject(x, "quality_score");
    cJSON_AddStringToObject(x, "escalation_path", info->path);
    if (info->early_accept) cJSON_AddBoolToObject(x, "early_accept", true);
    cJSON_AddItemToObject(x, "attempts", attempts_json(info));
}

void hr_cascade_info_headers(const hr_cascade_info *info, hr_http_req *h) {
    if (!info || !info->n) return;
    char buf[256];
    hr_header_escape(model_used(info), buf, sizeof buf);
    hr_http_add_header(h, "x-hermes-model-used", buf);
    if (info->final_score >= 0) {
        snprintf(buf, sizeof buf, "%.4f", info->final_score);
        hr_http_add_header(h, "x-hermes-quality-score", buf);
    }
    hr_header_escape(info->path, buf, sizeof buf);
    hr_http_add_header(h, "x-hermes-escalation-path", buf);
}

char *hr_cascade_info_attempts_json(const hr_cascade_info *info) {
    if (!info || !info->n) return NULL;
    cJSON *a = attempts_json(info);
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

/* ---- stats ------------------------------------------------------------------------------ */

#define N_SCORE_BUCKETS 10

struct hr_cascade_stats {
    pthread_mutex_t mu;
    const hr_config *cfg;
    uint64_t requests;
    uint64_t attempts[HR_TIER_MAX];
    uint64_t failed[HR_TIER_MAX];
    uint64_t escalations[HR_TIER_MAX][HR_TIER_MAX];
    uint64_t accepted[HR_TIER_MAX];
    uint64_t early;
    uint64_t judge[4];
    uint64_t hist[N_SCORE_BUCKETS]; /* scores in (k/10, (k+1)/10]; 0 in the first */
    double score_sum;
    uint64_t scored;
    double cost_cascade, cost_direct, cost_largest;
    const char *unit;
};

static const double relative_size[HR_TIER_MAX] = {8, 70, 405};

/* Per-request USD price of a tier, or -1 when the config gives none. */
static double tier_usd(const hr_tier_config *t, long in, long out) {
    if (t->usd_per_mtok_in > 0 || t->usd_per_mtok_out > 0)
        return ((in > 0 ? (double)in : 0) * t->usd_per_mtok_in + (out > 0 ? (double)out : 0) * t->usd_per_mtok_out) /
               1e6;
    if (t->usd_per_month > 0 && t->capacity_rps > 0) return t->usd_per_month / (t->capacity_rps * 30.0 * 86400.0);
    return -1;
}

double hr_cascade_cost(const hr_config *cfg, int tier, long in, long out, const char **unit) {
    bool usd = true;
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (cfg->tiers[t].enabled && tier_usd(&cfg->tiers[t], 0, 0) < 0) usd = false;
    if (unit) *unit = usd ? "usd" : "relative";
    if (tier < 0 || tier >= HR_TIER_MAX) return 0;
    return usd ? tier_usd(&cfg->tiers[tier], in, out) : relative_size[tier];
}

hr_cascade_stats *hr_cascade_stats_create(const hr_config *cfg) {
    hr_cascade_stats *s = hr_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->cfg = cfg;
    hr_cascade_cost(cfg, 0, 0, 0, &s->unit);
    return s;
}

void hr_cascade_stats_free(hr_cascade_stats *s) {
    if (!s) return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void hr_cascade_stats_observe(hr_cascade_stats *s, const hr_cascade_info *info) {
    if (!s || !info || !info->n || info->final_tier < 0) return; /* not cascaded, or the client left */
    const hr_config *cfg = s->cfg;
    int largest = hr_config_map_tier(cfg, HR_TIER_MAX - 1);
    double cascade = 0, direct = 0, all_large = 0;
    for (int i = 0; i < info->n; i++) {
        const hr_cascade_attempt *a = &info->a[i];
        cascade += hr_cascade_cost(cfg, a->tier, a->prompt_tokens, a->completion_tokens, NULL);
        if (judge_name(a->judge) && a->judge != HR_JUDGE_NONE)
            cascade += hr_cascade_cost(cfg, info->judge_tier, a->judge_tokens, 0, NULL);
    }
    const hr_cascade_attempt *fin = &info->a[info->n - 1];
    for (int i = info->n - 1; i >= 0; i--)
        if (info->a[i].tier == info->final_tier) {
            fin = &info->a[i];
            break;
        }
    direct = hr_cascade_cost(cfg, fin->tier, fin->prompt_tokens, fin->completion_tokens, NULL);
    all_large = hr_cascade_cost(cfg, largest, fin->prompt_tokens, fin->completion_tokens, NULL);
    pthread_mutex_lock(&s->mu);
    s->requests++;
    for (int i = 0; i < info->n; i++) {
        const hr_cascade_attempt *a = &info->a[i];
        s->attempts[a->tier]++;
        if (a->status != 200) s->failed[a->tier]++;
        if (i + 1 < info->n) s->escalations[a->tier][info->a[i + 1].tier]++;
        if (a->score >= 0) {
            /* bucket b holds (b/10, (b+1)/10]; 0 goes to the first */
            int b = (int)ceil(a->score * N_SCORE_BUCKETS - 1e-9) - 1;
            if (b >= N_SCORE_BUCKETS) b = N_SCORE_BUCKETS - 1;
            if (b < 0) b = 0;
            s->hist[b]++;
            s->score_sum += a->score;
            s->scored++;
        }
        if (a->judge > 0 && a->judge < 4) s->judge[a->judge]++;
    }
    if (info->final_tier >= 0 && info->final_tier < HR_TIER_MAX) s->accepted[info->final_tier]++;
    if (info->early_accept) s->early++;
    s->cost_cascade += cascade;
    s->cost_direct += direct;
    s->cost_largest += all_large;
    pthread_mutex_unlock(&s->mu);
}

cJSON *hr_cascade_stats_json(hr_cascade_stats *s) {
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->mu);
    cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    cJSON *att = cJSON_AddObjectToObject(o, "attempts");
    cJSON *acc = cJSON_AddObjectToObject(o, "accepted");
    cJSON *fail = cJSON_AddObjectToObject(o, "failed");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!s->cfg->tiers[t].enabled) continue;
        cJSON_AddNumberToObject(att, hr_tier_name(t), (double)s->attempts[t]);
        cJSON_AddNumberToObject(acc, hr_tier_name(t), (double)s->accepted[t]);
        cJSON_AddNumberToObject(fail, hr_tier_name(t), (double)s->failed[t]);
    }
    cJSON *esc = cJSON_AddObjectToObject(o, "escalations");
    for (int f = 0; f < HR_TIER_MAX; f++)
        for (int t = f + 1; t < HR_TIER_MAX; t++) {
            if (!s->cfg->tiers[f].enabled || !s->cfg->tiers[t].enabled) continue;
            char k[32];
            snprintf(k, sizeof k, "%s>%s", hr_tier_name(f), hr_tier_name(t));
            cJSON *e = cJSON_AddObjectToObject(esc, k);
            cJSON_AddNumberToObject(e, "count", (double)s->escalations[f][t]);
            add_rounded(e, "rate", s->attempts[f] ? (double)s->escalations[f][t] / (double)s->attempts[f] : 0, 1e4);
        }
    cJSON_AddNumberToObject(o, "early_accepts", (double)s->early);
    cJSON *j = cJSON_AddObjectToObject(o, "judge");
    cJSON_AddNumberToObject(j, "yes", (double)s->judge[HR_JUDGE_YES]);
    cJSON_AddNumberToObject(j, "no", (double)s->judge[HR_JUDGE_NO]);
    cJSON_AddNumberToObject(j, "failed", (double)s->judge[HR_JUDGE_FAILED]);
    cJSON *h = cJSON_AddObjectToObject(o, "score_histogram");
    cJSON *bounds = cJSON_AddArrayToObject(h, "upper_bounds");
    cJSON *counts = cJSON_AddArrayToObject(h, "counts");
    for (int b = 0; b < N_SCORE_BUCKETS; b++) {
        cJSON_AddItemToArray(bounds, cJSON_CreateNumber((double)(b + 1) / N_SCORE_BUCKETS));
        cJSON_AddItemToArray(counts, cJSON_CreateNumber((double)s->hist[b]));
    }
    add_rounded(h, "mean", s->scored ? s->score_sum / (double)s->scored : 0, 1e4);
    cJSON *c = cJSON_AddObjectToObject(o, "cost");
    cJSON_AddStringToObject(c, "unit", s->unit);
    if (!strcmp(s->unit, "relative")) cJSON_AddStringToObject(c, "relative_sizes", "8:70:405 per request");
    cJSON_AddNumberToObject(c, "cascade", s->cost_cascade);
    cJSON_AddNumberToObject(c, "direct", s->cost_direct);
    cJSON_AddNumberToObject(c, "largest", s->cost_largest);
    add_rounded(c, "overhead_pct", s->cost_direct > 0 ? 100 * (s->cost_cascade / s->cost_direct - 1) : 0, 100);
    add_rounded(c, "savings_vs_largest_pct",
                s->cost_largest > 0 ? 100 * (1 - s->cost_cascade / s->cost_largest) : 0, 100);
    pthread_mutex_unlock(&s->mu);
    return o;
}

void hr_cascade_stats_render(hr_cascade_stats *s, hr_buf *out) {
    pthread_mutex_lock(&s->mu);
    hr_buf_printf(out, "# HELP hermes_cascade_requests_total Requests answered through the cascade.\n"
                       "# TYPE hermes_cascade_requests_total counter\nhermes_cascade_requests_total %llu\n",
                  (unsigned long long)s->requests);
    hr_buf_puts(out, "# HELP hermes_cascade_attempts_total Cascade attempts per tier (status ok or failed).\n"
                     "# TYPE hermes_cascade_attempts_total counter\n");
    for (int t = 0; t < HR_TIER_MAX; t++) {
        if (!s->cfg->tiers[t].enabled) continue;
        hr_buf_printf(out, "hermes_cascade_attempts_total{tier=\"%s\",result=\"ok\"} %llu\n", hr_tier_name(t),
                      (unsigned long long)(s->attempts[t] - s->failed[t]));
        hr_buf_printf(out, "hermes_cascade_attempts_total{tier=\"%s\",result=\"failed\"} %llu\n", hr_tier_name(t),
                      (unsigned long long)s->failed[t]);
    }
    hr_buf_puts(out, "# HELP hermes_cascade_escalations_total Escalations from one tier to the next.\n"
                     "# TYPE hermes_cascade_escalations_total counter\n");
    for (int f = 0; f < HR_TIER_MAX; f++)
        for (int t = f + 1; t < HR_TIER_MAX; t++)
            if (s->cfg->tiers[f].enabled && s->cfg->tiers[t].enabled)
                hr_buf_printf(out, "hermes_cascade_escalations_total{from=\"%s\",to=\"%s\"} %llu\n", hr_tier_name(f),
                              hr_tier_name(t), (unsigned long long)s->escalations[f][t]);
    hr_buf_puts(out, "# HELP hermes_cascade_accepted_total Cascaded requests by the tier whose answer was returned.\n"
                     "# TYPE hermes_cascade_accepted_total counter\n");
    for (int t = 0; t < HR_TIER_MAX; t++)
        if (s->cfg->tiers[t].enabled)
            hr_buf_printf(out, "hermes_cascade_accepted_total{tier=\"%s\"} %llu\n", hr_tier_name(t),
                          (unsigned long long)s->accepted[t]);
    hr_buf_printf(out, "# HELP hermes_cascade_early_accepts_total Answers streamed live by stream_early_accept.\n"
                       "# TYPE hermes_cascade_early_accepts_total counter\nhermes_cascade_early_accepts_total %llu\n",
                  (unsigned long long)s->early);
    hr_buf_puts(out, "# HELP hermes_cascade_judge_total Judge verdicts.\n# TYPE hermes_cascade_judge_total counter\n");
    static const char *jn[] = {"", "yes", "no", "failed"};
    for (int k = 1; k < 4; k++)
        hr_buf_printf(out, "hermes_cascade_judge_total{verdict=\"%s\"} %llu\n", jn[k], (unsigned long long)s->judge[k]);
    hr_buf_puts(out, "# HELP hermes_cascade_quality_score Quality scores of cascade attempts.\n"
                     "# TYPE hermes_cascade_quality_score histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < N_SCORE_BUCKETS; b++) {
        cum += s->hist[b];
        hr_buf_printf(out, "hermes_cascade_quality_score_bucket{le=\"%g\"} %llu\n", (double)(b + 1) / N_SCORE_BUCKETS,
                      (unsigned long long)cum);
    }
    hr_buf_printf(out, "hermes_cascade_quality_score_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    hr_buf_printf(out, "hermes_cascade_quality_score_sum %.6g\nhermes_cascade_quality_score_count %llu\n",
                  s->score_sum, (unsigned long long)s->scored);
    hr_buf_printf(out,
                  "# HELP hermes_cascade_cost_total Cost of cascaded requests (unit %s): all attempts paid "
                  "(cascade), the final tier alone (direct), everything on the largest tier (largest).\n"
                  "# TYPE hermes_cascade_cost_total counter\n"
                  "hermes_cascade_cost_total{kind=\"cascade\"} %.9g\nhermes_cascade_cost_total{kind=\"direct\"} %.9g\n"
                  "hermes_cascade_cost_total{kind=\"largest\"} %.9g\n",
                  s->unit, s->cost_cascade, s->cost_direct, s->cost_largest);
    pthread_mutex_unlock(&s->mu);
}
