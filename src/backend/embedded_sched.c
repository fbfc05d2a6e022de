/* Embedded engines: one per GGUF file, shared by the backends naming it, and
 * the scheduler thread that owns each engine's hr_ctx (continuous batching,
 * see embedded.h for the step). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "backend/embedded_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "engine/quant.h"

typedef struct emb_sample_item emb_sample_item;

typedef struct emb_slot {
    emb_job *job;     /* NULL: free */
    int32_t *cache;   /* tokens whose K/V are in this slot's cache, [n_ctx] */
    int n_cache;
} emb_slot;

struct emb_engine {
    emb_engine *next;  /* registry list */
    int refs;          /* backends using it (registry mutex) */
    char path[PATH_MAX];
    char name[128];
    uint64_t file_bytes;
    hr_model *model;
    hr_tokenizer *tok;
    hr_grammar_vocab *gvocab;
    hr_chat_template tmpl; /* UNKNOWN: plain fallback */
    hr_ctx *ctx;
    int n_ctx, n_seq, n_batch, n_threads, queue_max;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    emb_job *q_head, *q_tail; /* waiting for a slot (mu) */
    int n_queued;             /* (mu) */
    emb_slot *slots;          /* scheduler thread only */
    hr_batch_entry *batch;
    emb_job **batch_job;      /* job of each entry */
    struct emb_sample_item {
        emb_job *job;
        const float *logits;
    } *samp;                  /* this step's sampling work, [n_seq] */

    /* statistics (atomics; written by the scheduler) */
    _Atomic int slots_busy;
    _Atomic uint64_t prompt_tokens, gen_tokens, cached_tokens, requests, prompt_ns, gen_ns;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static emb_engine *registry;

/* ---- jobs ----------------------------------------------------------------- */

void emb_job_release(emb_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    free(j->prompt);
    hr_sampler_free(j->sampler);
    hr_grammar_state_free(j->gstate);
    hr_grammar_free(j->grammar);
    hr_stop_free(&j->stop);
    hr_buf_free(&j->text);
    free(j->lps);
    free(j->logit_bias);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* Wakes the loop side (caller holds j->mu). */
static void job_notify(emb_job *j) {
    if (j->ev) event_active(j->ev, EV_READ, 0);
}

static void job_finish(emb_job *j, const char *reason, int err_status, const char *err_msg) {
    pthread_mutex_lock(&j->mu);
    j->finished = true;
    j->finish_reason = reason;
    j->err_status = err_status;
    if (err_msg) snprintf(j->err_msg, sizeof j->err_msg, "%s", err_msg);
    j->prompt_tokens = j->n_prompt;
    j->completion_tokens = j->n_gen;
    j->cached_tokens = j->n_cached;
    job_notify(j);
    pthread_mutex_unlock(&j->mu);
    j->phase = EMB_DONE;
}

/* Text and (optionally) a logprob record for the loop side. */
static void job_emit(emb_job *j, const char *text, size_t len, const hr_sample_result *res) {
    pthread_mutex_lock(&j->mu);
    if (len) hr_buf_append(&j->text, text, len);
    if (res && j->n_logprobs >= 0) {
        if (j->n_lps == j->cap_lps) {
            j->cap_lps = j->cap_lps ? j->cap_lps * 2 : 16;
            j->lps = hr_xrealloc(j->lps, j->cap_lps * sizeof *j->lps);
        }
        emb_lp *l = &j->lps[j->n_lps++];
        l->token = res->token;
        l->logprob = res->logprob;
        l->n_top = res->n_top < j->n_logprobs ? res->n_top : j->n_logprobs;
        memcpy(l->top, res->top, (size_t)l->n_top * sizeof l->top[0]);
    }
    if (len || res) job_notify(j);
    pthread_mutex_unlock(&j->mu);
}

/* ---- scheduler -------------------------------------------------------------- */

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Puts a queued job into the free slot that shares the longest prefix with
 * its prompt (engine mutex held; slots are the scheduler's own). */
static bool admit_one(emb_engine *e, emb_job *j) {
    int best = -1, best_lcp = -1;
    for (int s = 0; s < e->n_seq; s++) {
        if (e->slots[s].job) continue;
        int lcp = common_prefix(e->slots[s].cache, e->slots[s].n_cache, j->prompt, j->n_prompt);
        /* ties: the slot with the least cached (least reuse lost for others) */
        if (lcp > best_lcp || (lcp == best_lcp && e->slots[s].n_cache < e->slots[best].n_cache))
            best = s, best_lcp = lcp;
    }
    if (best < 0) return false;
    if (best_lcp >= j->n_prompt) best_lcp = j->n_prompt - 1; /* the last prompt token gives the first logits */
    emb_slot *sl = &e->slots[best];
    hr_ctx_seq_truncate(e->ctx, best, best_lcp);
    sl->n_cache = best_lcp;
    sl->job = j;
    j->slot = best;
    j->n_past = best_lcp;
    j->n_cached = best_lcp;
    j->phase = EMB_PREFILL;
    atomic_fetch_add(&e->slots_busy, 1);
    atomic_fetch_add(&e->requests, 1);
    atomic_fetch_add(&e->cached_tokens, (uint64_t)best_lcp);
    return true;
}

static void slot_release(emb_engine *e, int s) {
    emb_job *j = e->slots[s].job;
    e->slots[s].job = NULL;
    atomic_fetch_sub(&e->slots_busy, 1);
    emb_job_release(j);
}

/* Samples the next token of j from logits and releases its text. */
static void job_sample(emb_engine *e, emb_job *j, const float *logits) {
    /* log-probabilities cost a pass of exp over the vocabulary: only when asked */
    hr_sample_result res, *rp = j->n_logprobs >= 0 ? &res : NULL;
    int32_t t = hr_sampler_sample(j->sampler, logits, rp);
    if (t < 0) { /* the grammar allows nothing more: the output is complete */
        job_finish(j, "stop", 0, NULL);
        return;
    }
    if (j->gstate) hr_grammar_accept(j->gstate, t);
    j->n_gen++;
    atomic_fetch_add(&e->gen_tokens, 1);
    const char *out;
    size_t out_len;
    if (hr_tokenizer_is_eog(e->tok, t)) {
        char tail[16];
        size_t n = hr_detok_flush(&j->detok, tail, sizeof tail);
        bool hit = hr_stop_push(&j->stop, tail, n, &out, &out_len);
        job_emit(j, out, out_len, rp);
        if (!hit) {
            hr_stop_flush(&j->stop, &out, &out_len);
            job_emit(j, out, out_len, NULL);
        }
        job_finish(j, "stop", 0, NULL);
        return;
    }
    char piece[HR_DETOK_MIN_CAP];
    size_t n = hr_detok_push(&j->detok, t, piece, sizeof piece);
    bool hit = hr_stop_push(&j->stop, piece, n, &out, &out_len);
    job_emit(j, out, out_len, rp);
    if (hit) {
        job_finish(j, "stop", 0, NULL);
        return;
    }
    if (j->n_gen >= j->max_tokens) {
        char tail[16];
        n = hr_detok_flush(&j->detok, tail, sizeof tail);
        hit = hr_stop_push(&j->stop, tail, n, &out, &out_len);
        job_emit(j, out, out_len, NULL);
        if (!hit) {
            hr_stop_flush(&j->stop, &out, &out_len);
            job_emit(j, out, out_len, NULL);
        }
        job_finish(j, hit ? "stop" : "length", 0, NULL);
        return;
    }
    j->next_token = t;
    j->phase = EMB_GEN;
}

static void sample_item(void *ud, int i) {
    emb_engine *e = ud;
    job_sample(e, e->samp[i].job, e->samp[i].logits);
}

/* One step: admit, drop cancelled/finished, batch, decode, sample. Returns
 * false when there was nothing to do. */
static bool sched_step(emb_engine *e) {
    for (int s = 0; s < e->n_seq; s++) {
        emb_job *j = e->slots[s].job;
        if (j && (j->phase == EMB_DONE || atomic_load(&j->cancelled))) slot_release(e, s);
    }
    pthread_mutex_lock(&e->mu);
    while (e->q_head) {
        emb_job *j = e->q_head;
        if (atomic_load(&j->cancelled)) {
            e->q_head = j->next;
            e->n_queued--;
            emb_job_release(j);
            continue;
        }
        if (!admit_one(e, j)) break;
        e->q_head = j->next;
        e->n_queued--;
    }
    if (!e->q_head) e->q_tail = NULL;
    pthread_mutex_unlock(&e->mu);

    int n = 0, n_dec = 0, n_pre = 0;
    for (int s = 0; s < e->n_seq; s++) {
        emb_job *j = e->slots[s].job;
        if (!j || j->phase != EMB_GEN) continue;
        e->batch[n] = (hr_batch_entry){j->next_token, j->n_past, s, true};
        e->batch_job[n++] = j;
        n_dec++;
    }
    int budget = e->n_batch - n;
    if (n_dec && budget > EMB_PREFILL_CHUNK) budget = EMB_PREFILL_CHUNK;
    for (int s = 0; s < e->n_seq && budget > 0; s++) {
        emb_job *j = e->slots[s].job;
        if (!j || j->phase != EMB_PREFILL) continue;
        int k = j->n_prompt - j->n_past;
        if (k > budget) k = budget;
        for (int i = 0; i < k; i++) {
            int pos = j->n_past + i;
            e->batch[n] = (hr_batch_entry){j->prompt[pos], pos, s, pos == j->n_prompt - 1};
            e->batch_job[n++] = j;
        }
        budget -= k;
        n_pre += k;
    }
    if (n == 0) return false;

    char err[256];
    uint64_t t0 = hr_now_ns();
    int rows = hr_ctx_decode(e->ctx, e->batch, n, err, sizeof err);
    uint64_t dt = hr_now_ns() - t0;
    atomic_fetch_add(&e->prompt_ns, dt * (uint64_t)n_pre / (uint64_t)n);
    atomic_fetch_add(&e->gen_ns, dt * (uint64_t)n_dec / (uint64_t)n);
    atomic_fetch_add(&e->prompt_tokens, (uint64_t)n_pre);
    if (rows < 0) {
        hr_error("embedded %s: decode failed: %s", e->name, err);
        for (int s = 0; s < e->n_seq; s++) {
            emb_job *j = e->slots[s].job;
            if (!j) continue;
            job_finish(j, "stop", 500, "the embedded engine failed to compute this step");
            hr_ctx_seq_truncate(e->ctx, s, 0);
            e->slots[s].n_cache = 0;
            slot_release(e, s);
        }
        return true;
    }
    /* the cache now holds the decoded tokens */
    for (int i = 0; i < n; i++) {
        emb_slot *sl = &e->slots[e->batch[i].seq];
        sl->cache[e->batch[i].pos] = e->batch[i].token;
        sl->n_cache = e->batch[i].pos + 1;
    }
    int row = 0, n_samp = 0;
    for (int i = 0; i < n; i++) {
        emb_job *j = e->batch_job[i];
        j->n_past++; /* entries of a job come in position order; its logits entry is its last */
        if (!e->batch[i].logits) continue;
        const float *logits = hr_ctx_logits(e->ctx, row++);
        if (atomic_load(&j->cancelled)) continue;
        e->samp[n_samp++] = (emb_sample_item){j, logits};
    }
    /* sampling, grammar masks and detokenizing touch only their own job:
     * spread them over the engine's threads instead of one core */
    hr_ctx_parallel(e->ctx, n_samp, sample_item, e);
    return true;
}

static void *sched_main(void *arg) {
    emb_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->stop && !e->q_head && atomic_load(&e->slots_busy) == 0) pthread_cond_wait(&e->cv, &e->mu);
        bool stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        if (stop) break;
        if (!sched_step(e)) {
            /* only queued jobs that cannot be admitted, or busy slots that are
             * all done: release them on the next turn, wait for news */
            pthread_mutex_lock(&e->mu);
            bool busy = false;
            for (int s = 0; s < e->n_seq; s++) busy |= e->slots[s].job != NULL;
            if (!busy && !e->stop && !e->q_head) pthread_cond_wait(&e->cv, &e->mu);
            pthread_mutex_unlock(&e->mu);
        }
    }
    return NULL;
}

int emb_engine_enqueue(emb_engine *e, emb_job *j) {
    pthread_mutex_lock(&e->mu);
    if (e->n_queued >= e->queue_max) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    j->next = NULL;
    if (e->q_tail) e->q_tail->next = j;
    else e->q_head = j;
    e->q_tail = j;
    e->n_queued++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void emb_engine_poke(emb_engine *e) {
    pthread_mutex_lock(&e->mu);
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* ---- loading ---------------------------------------------------------------- */

static void engine_free(emb_engine *e) {
    if (!e) return;
    if (e->thread) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    while (e->q_head) {
        emb_job *j = e->q_head;
        e->q_head = j->next;
        emb_job_release(j);
    }
    for (int s = 0; e->slots && s < e->n_seq; s++) {
        if (e->slots[s].job) emb_job_release(e->slots[s].job);
        free(e->slots[s].cache);
    }
    free(e->slots);
    free(e->batch);
    free(e->batch_job);
    free(e->samp);
    hr_ctx_free(e->ctx);
    hr_grammar_vocab_free(e->gvocab);
    hr_tokenizer_free(e->tok);
    hr_model_free(e->model);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

static void base_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

static emb_engine *engine_load(const char *real, const emb_engine_params *p, char *err, size_t errlen) {
    emb_engine *e = hr_xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    snprintf(e->path, sizeof e->path, "%s", real);
    base_name(real, e->name, sizeof e->name);
    struct stat st;
    if (stat(real, &st) == 0) e->file_bytes = (uint64_t)st.st_size;
    char lerr[400];
    e->model = hr_model_load(real, lerr, sizeof lerr);
    if (!e->model) {
        snprintf(err, errlen, "%s", lerr); /* the loader's messages already name the file */
        goto fail;
    }
    e->tok = hr_tokenizer_from_gguf(hr_model_gguf(e->model), lerr, sizeof lerr);
    if (!e->tok) {
        snprintf(err, errlen, "%s: no usable tokenizer: %s", real, lerr);
        goto fail;
    }
    if (p->chat_template && p->chat_template[0] && strcmp(p->chat_template, "plain")) {
        e->tmpl = hr_chat_template_by_name(p->chat_template);
        if (e->tmpl == HR_TEMPLATE_UNKNOWN) {
            snprintf(err, errlen, "%s: unknown chat_template '%s' (chatml, llama3 or plain)", real, p->chat_template);
            goto fail;
        }
    } else if (!p->chat_template) {
        e->tmpl = hr_chat_template_from_model(e->model);
    }
    const hr_model_info *in = hr_model_get_info(e->model);
    hr_ctx_params cp = hr_ctx_default_params();
    cp.n_ctx = p->context > 0 ? p->context : (in->n_ctx_train < 4096 ? in->n_ctx_train : 4096);
    cp.n_seq = p->parallel > 0 ? p->parallel : 1;
    cp.n_threads = p->threads;
    cp.n_batch = 512;
    e->ctx = hr_ctx_create(e->model, &cp, lerr, sizeof lerr);
    if (!e->ctx) {
        snprintf(err, errlen, "%s: %s", real, lerr);
        goto fail;
    }
    e->n_ctx = hr_ctx_n_ctx(e->ctx);
    e->n_seq = cp.n_seq;
    e->n_batch = cp.n_batch;
    e->n_threads = cp.n_threads > 0 ? cp.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    e->queue_max = p->queue > 0 ? p->queue : HR_EMBEDDED_DEFAULT_QUEUE_PER_SLOT * e->n_seq;
    e->gvocab = hr_grammar_vocab_create(e->tok);
    e->slots = hr_xcalloc((size_t)e->n_seq, sizeof *e->slots);
    for (int s = 0; s < e->n_seq; s++) e->slots[s].cache = hr_xmalloc((size_t)e->n_ctx * sizeof(int32_t));
    e->batch = hr_xmalloc((size_t)e->n_batch * sizeof *e->batch);
    e->batch_job = hr_xmalloc((size_t)e->n_batch * sizeof *e->batch_job);
    e->samp = hr_xmalloc((size_t)e->n_batch * sizeof *e->samp);
    if (pthread_create(&e->thread, NULL, sched_main, e) != 0) {
        e->thread = 0;
        snprintf(err, errlen, "%s: cannot start the scheduler thread", real);
        goto fail;
    }
    return e;
fail:
    engine_free(e);
    return NULL;
}

emb_engine *emb_engine_get(const char *path, const emb_engine_params *p, char *err, size_t errlen) {
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        snprintf(err, errlen, "model file %s not found (hermes-router pull NAME downloads one)", path);
        return NULL;
    }
    pthread_mutex_lock(&registry_mu);
    emb_engine *e;
    for (e = registry; e; e = e->next)
        if (!strcmp(e->path, real)) break;
    if (e) {
        e->refs++;
        if ((p->parallel > 0 && p->parallel != e->n_seq) || (p->context > 0 && p->context != e->n_ctx))
            hr_warn("embedded %s: already loaded with parallel %d, context %d; sharing it as is", real, e->n_seq,
                    e->n_ctx);
    } else {
        e = engine_load(real, p, err, errlen);
        if (e) {
            e->refs = 1;
            e->next = registry;
            registry = e;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    return e;
}

void emb_engine_put(emb_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&registry_mu);
    bool last = --e->refs == 0;
    if (last) {
        emb_engine **pp = &registry;
        while (*pp && *pp != e) pp = &(*pp)->next;
        if (*pp) *pp = e->next;
    }
    pthread_mutex_unlock(&registry_mu);
    if (last) engine_free(e);
}

const hr_model *emb_engine_model(const emb_engine *e) { return e->model; }
const hr_tokenizer *emb_engine_tokenizer(const emb_engine *e) { return e->tok; }
const hr_grammar_vocab *emb_engine_gvocab(const emb_engine *e) { return e->gvocab; }
hr_chat_template emb_engine_template(const emb_engine *e) { return e->tmpl; }
int emb_engine_n_ctx(const emb_engine *e) { return e->n_ctx; }
const char *emb_engine_name(const emb_engine *e) { return e->name; }

/* ---- introspection ------------------------------------------------------------ */

static void engine_info(emb_engine *e, hr_embedded_info *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->path, sizeof o->path, "%.*s", (int)sizeof o->path - 1, e->path);
    const hr_model_info *in = hr_model_get_info(e->model);
    snprintf(o->name, sizeof o->name, "%s", e->name);
    const hr_type_traits *tt = hr_type_get(in->main_type);
    snprintf(o->quant, sizeof o->quant, "%s", tt ? tt->name : "?");
    snprintf(o->tmpl, sizeof o->tmpl, "%s", e->tmpl == HR_TEMPLATE_UNKNOWN ? "plain" : hr_chat_template_name(e->tmpl));
    o->file_bytes = e->file_bytes;
    o->n_params = in->n_params;
    o->n_ctx = e->n_ctx;
    o->n_seq = e->n_seq;
    o->n_threads = e->n_threads;
    o->queue_max = e->queue_max;
    pthread_mutex_lock(&e->mu);
    o->queued = e->n_queued;
    pthread_mutex_unlock(&e->mu);
    o->slots_busy = atomic_load(&e->slots_busy);
    o->prompt_tokens = atomic_load(&e->prompt_tokens);
    o->gen_tokens = atomic_load(&e->gen_tokens);
    o->cached_tokens = atomic_load(&e->cached_tokens);
    o->requests = atomic_load(&e->requests);
    o->prompt_seconds = (double)atomic_load(&e->prompt_ns) / 1e9;
    o->gen_seconds = (double)atomic_load(&e->gen_ns) / 1e9;
}

int hr_embedded_list(hr_embedded_info *out, int max) {
    int n = 0;
    pthread_mutex_lock(&registry_mu);
    for (emb_engine *e = registry; e; e = e->next) {
        if (n < max) engine_info(e, &out[n]);
        n++;
    }
    pthread_mutex_unlock(&registry_mu);
    return n;
}

/* Prometheus label value: backslash, quote and newline escaped. */
static void label_escape(hr_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '"') hr_buf_puts(b, "\\\"");
        else if (*s == '\\') hr_buf_puts(b, "\\\\");
        else if (*s == '\n') hr_buf_puts(b, "\\n");
        else hr_buf_append(b, s, 1);
    }
}

void hr_embedded_metrics_render(hr_buf *b) {
    enum { MAX_SHOWN = 16 };
    hr_embedded_info info[MAX_SHOWN];
    int n = hr_embedded_list(info, MAX_SHOWN);
    if (n > MAX_SHOWN) n = MAX_SHOWN;
    if (n == 0) return;
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"hermes_engine_prompt_tokens_total", "counter", "Prompt tokens computed by the embedded engine (reused prefixes excluded)."},
        {"hermes_engine_cached_tokens_total", "counter", "Prompt tokens reused from a slot's KV cache (prefix reuse)."},
        {"hermes_engine_generated_tokens_total", "counter", "Tokens generated by the embedded engine."},
        {"hermes_engine_prompt_seconds_total", "counter", "Decode time attributed to prompt tokens."},
        {"hermes_engine_generation_seconds_total", "counter", "Decode time attributed to generated tokens."},
        {"hermes_engine_prompt_tokens_per_second", "gauge", "Prompt tokens per second of prompt decode time (lifetime)."},
        {"hermes_engine_generation_tokens_per_second", "gauge", "Generated tokens per second of generation decode time, all sequences together (lifetime)."},
        {"hermes_engine_requests_total", "counter", "Requests admitted into a slot."},
        {"hermes_engine_queue_length", "gauge", "Requests waiting for a free slot."},
        {"hermes_engine_queue_limit", "gauge", "Requests that may wait before new ones get 429."},
        {"hermes_engine_slots_busy", "gauge", "KV slots (parallel sequences) in use."},
        {"hermes_engine_slots", "gauge", "KV slots (parallel sequences) configured."},
        {"hermes_engine_context_tokens", "gauge", "Context length per slot."},
    };
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        hr_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help, series[k].name, series[k].type);
        for (int i = 0; i < n; i++) {
            const hr_embedded_info *o = &info[i];
            double v = 0;
            switch (k) {
            case 0: v = (double)o->prompt_tokens; break;
            case 1: v = (double)o->cached_tokens; break;
            case 2: v = (double)o->gen_tokens; break;
            case 3: v = o->prompt_seconds; break;
            case 4: v = o->gen_seconds; break;
            case 5: v = o->prompt_seconds > 0 ? (double)o->prompt_tokens / o->prompt_seconds : 0; break;
            case 6: v = o->gen_seconds > 0 ? (double)o->gen_tokens / o->gen_seconds : 0; break;
            case 7: v = (double)o->requests; break;
            case 8: v = o->queued; break;
            case 9: v = o->queue_max; break;
            case 10: v = o->slots_busy; break;
            case 11: v = o->n_seq; break;
            case 12: v = o->n_ctx; break;
            }
            hr_buf_printf(b, "%s{model=\"", series[k].name);
            label_escape(b, o->name);
            hr_buf_printf(b, "\"} %.6g\n", v);
        }
    }
}
