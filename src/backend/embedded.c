/* Embedded backend, loop side (see embedded.h): submit renders and tokenizes
 * the prompt, checks the context and the sampling fields, and queues a job;
 * the job's event brings the scheduler's deltas back to this loop, where they
 * become chat.completion chunks (or one chat.completion) for the sink. With
 * tools / JSON mode the deltas go as text_completion objects through the
 * Hermes filter, which builds the tool calls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backend/embedded_int.h"
#include "backend/hermes_filter.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "hermes/hermes.h"

typedef struct emb_backend {
    hr_backend base;
    emb_engine *e;
} emb_backend;

struct hr_call {
    emb_backend *b;
    emb_job *job;
    hr_sink *sink;            /* the gateway's, or the filter's */
    hr_hermes_filter *filter; /* tools / JSON mode */
    struct event *ev;
    bool stream;
    bool client_usage;
    bool text_objects;        /* emit text_completion objects (into the filter) */
    bool role_sent;
    bool in_callback;
    bool cancelled;
    bool over;                /* a terminal sink callback went out */
    char id[48];
    double created;
    hr_buf text;              /* non-streaming: the whole answer */
    cJSON *lp_content;        /* non-streaming: logprobs.content, or NULL */
};

static _Atomic uint64_t call_counter;

/* ---- errors ------------------------------------------------------------------ */

static void send_error(hr_sink *sink, int status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void send_error(hr_sink *sink, int status, const char *type, const char *code, const char *fmt, ...) {
    hr_backend_error e = {status, type, code, {0}, false};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    sink->ops->error(sink, &e);
}

/* ---- prompt -------------------------------------------------------------------- */

static bool json_response_format(const cJSON *root, const cJSON **schema) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    *schema = NULL;
    if (!cJSON_IsString(type)) return false;
    if (!strcmp(type->valuestring, "json_object")) return true;
    if (!strcmp(type->valuestring, "json_schema")) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
        *schema = cJSON_IsObject(s) ? s : NULL;
        return true;
    }
    return false;
}

static bool tool_history(const hr_chat_request *req) {
    for (size_t i = 0; i < req->n_messages; i++) {
        const hr_chat_message *m = &req->messages[i];
        if (m->role == HR_ROLE_TOOL) return true;
        if (m->role == HR_ROLE_ASSISTANT &&
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m->json, "tool_calls")) > 0)
            return true;
    }
    return false;
}

/* The prompt text for a plain chat request: the template's rendering, or
 * (no template) the contents joined by "\n". Caller frees. */
static char *render_plain(emb_engine *e, const hr_chat_request *req, bool *special) {
    hr_chat_template t = emb_engine_template(e);
    if (t == HR_TEMPLATE_UNKNOWN) {
        hr_buf b;
        hr_buf_init(&b, 0);
        for (size_t i = 0; i < req->n_messages; i++) {
            if (i) hr_buf_puts(&b, "\n");
            hr_buf_append(&b, req->messages[i].text, req->messages[i].text_len);
        }
        *special = false;
        return b.data ? hr_buf_steal(&b) : hr_xstrdup("");
    }
    hr_chat_msg *msgs = hr_xcalloc(req->n_messages, sizeof *msgs);
    for (size_t i = 0; i < req->n_messages; i++) {
        hr_role r = req->messages[i].role;
        msgs[i].role = r == HR_ROLE_DEVELOPER ? "system" : hr_role_name(r);
        msgs[i].content = req->messages[i].text;
    }
    char *text = hr_chat_template_render(t, msgs, (int)req->n_messages, true);
    free(msgs);
    *special = true;
    return text;
}

/* ---- sampling fields ------------------------------------------------------------ */

static bool num_field(const cJSON *root, const char *name, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

/* Fills sp and the job's logprobs/stops from the request; -1 after a 400. */
static int sampling_from_request(const cJSON *root, hr_sampler_params *sp, emb_job *j, hr_sink *sink) {
    *sp = hr_sampler_default_params();
    sp->temperature = 1.0f;
    sp->top_p = 1.0f;
    double v;
    if (num_field(root, "temperature", &v)) sp->temperature = (float)v;
    if (num_field(root, "top_p", &v)) sp->top_p = (float)v;
    if (num_field(root, "top_k", &v)) {
        if (v < 0 || v > 1e6 || v != floor(v)) {
            send_error(sink, 400, "invalid_request_error", "invalid_value", "top_k must be a non-negative integer");
            return -1;
        }
        sp->top_k = (int)v;
    }
    if (num_field(root, "min_p", &v)) {
        if (v < 0 || v > 1) {
            send_error(sink, 400, "invalid_request_error", "invalid_value", "min_p must be between 0 and 1");
            return -1;
        }
        sp->min_p = (float)v;
    }
    if (num_field(root, "repetition_penalty", &v) || num_field(root, "repeat_penalty", &v)) {
        if (v <= 0 || v > 10) {
            send_error(sink, 400, "invalid_request_error", "invalid_value",
                       "repetition_penalty must be greater than 0 and at most 10");
            return -1;
        }
        sp->repeat_penalty = (float)v;
    }
    if (num_field(root, "presence_penalty", &v)) sp->presence_penalty = (float)v;
    if (num_field(root, "frequency_penalty", &v)) sp->frequency_penalty = (float)v;
    if (num_field(root, "seed", &v)) sp->seed = (uint64_t)(int64_t)v;
    else sp->seed = hr_now_ns() ^ (atomic_fetch_add(&call_counter, 1) * 0x9e3779b97f4a7c15ull);
    j->n_logprobs = -1;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "logprobs"))) {
        j->n_logprobs = 0;
        if (num_field(root, "top_logprobs", &v)) j->n_logprobs = (int)v;
    }
    sp->n_logprobs = j->n_logprobs > 0 ? j->n_logprobs : 0;

    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(root, "logit_bias");
    if (lb && !cJSON_IsNull(lb)) {
        if (!cJSON_IsObject(lb) || cJSON_GetArraySize(lb) > HR_MAX_LOGIT_BIAS) {
            send_error(sink, 400, "invalid_request_error", "invalid_value",
                       "logit_bias must be an object of at most %d token ids", HR_MAX_LOGIT_BIAS);
            return -1;
        }
        int n_vocab = hr_model_get_info(emb_engine_model(j->e))->n_vocab, k = 0;
        j->logit_bias = hr_xmalloc((size_t)(cJSON_GetArraySize(lb) + 1) * sizeof *j->logit_bias);
        for (const cJSON *it = lb->child; it; it = it->next) {
            char *end;
            long id = strtol(it->string, &end, 10);
            if (!it->string[0] || *end || id < 0 || id >= n_vocab) {
                send_error(sink, 400, "invalid_request_error", "invalid_value",
                           "logit_bias: '%.40s' is not a token id of this model (0..%d)", it->string, n_vocab - 1);
                return -1;
            }
            if (!cJSON_IsNumber(it) || it->valuedouble < -100 || it->valuedouble > 100) {
                send_error(sink, 400, "invalid_request_error", "invalid_value",
                           "logit_bias: the bias of token %ld must be a number from -100 to 100", id);
                return -1;
            }
            j->logit_bias[k++] = (hr_logit_bias){(int32_t)id, (float)it->valuedouble};
        }
        sp->logit_bias = j->logit_bias;
        sp->n_logit_bias = k;
    }

    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    const cJSON *one = cJSON_IsString(stop) ? stop : NULL;
    int n = cJSON_IsArray(stop) ? cJSON_GetArraySize(stop) : one ? 1 : 0;
    if (n > EMB_MAX_STOPS - 1) { /* one place stays for the template's end-of-turn text */
        send_error(sink, 400, "invalid_request_error", "invalid_value", "stop: at most %d strings", EMB_MAX_STOPS - 1);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *s = one ? one : cJSON_GetArrayItem(stop, i);
        if (!cJSON_IsString(s) || !s->valuestring[0]) continue;
        if (strlen(s->valuestring) > EMB_MAX_STOP_BYTES) {
            send_error(sink, 400, "invalid_request_error", "invalid_value", "stop: each string at most %d bytes",
                       EMB_MAX_STOP_BYTES);
            return -1;
        }
        snprintf(j->stops[j->n_stops++], sizeof j->stops[0], "%s", s->valuestring);
    }
    return 0;
}

/* ---- output: objects for the sink ------------------------------------------------ */

static cJSON *obj_new(hr_call *c, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", c->created);
    cJSON_AddStringToObject(o, "model", emb_engine_name(c->b->e));
    return o;
}

static cJSON *usage_json(const emb_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)j->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->prompt_tokens + j->completion_tokens));
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"), "cached_tokens",
                            (double)j->cached_tokens);
    return u;
}

/* A token's text for logprobs: its bytes, invalid UTF-8 replaced. */
static cJSON *lp_token_json(const hr_tokenizer *tok, int32_t id, float logprob) {
    char raw[HR_TOK_MAX_TOKEN_BYTES];
    size_t n = hr_tokenizer_token_bytes(tok, id, raw, sizeof raw);
    if (n > sizeof raw) n = sizeof raw;
    hr_buf s;
    hr_buf_init(&s, 0);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = hr_utf8_decode(raw + i, n - i, &cp);
        char enc[4];
        if (cp == 0xFFFD && !(k == 3 && !memcmp(raw + i, "\xEF\xBF\xBD", 3))) hr_buf_append(&s, "\xEF\xBF\xBD", 3);
        else hr_buf_append(&s, enc, hr_utf8_encode(cp, enc));
        i += k;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", s.data ? s.data : "");
    hr_buf_free(&s);
    cJSON_AddNumberToObject(o, "logprob", isfinite(logprob) ? logprob : -9999.0);
    cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)raw[i]));
    return o;
}

static cJSON *lp_entries(hr_call *c, const emb_lp *lps, size_t n) {
    const hr_tokenizer *tok = emb_engine_tokenizer(c->b->e);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = lp_token_json(tok, lps[i].token, lps[i].logprob);
        cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
        for (int k = 0; k < lps[i].n_top; k++)
            cJSON_AddItemToArray(top, lp_token_json(tok, lps[i].top[k].token, lps[i].top[k].logprob));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void emit_chunk(hr_call *c, cJSON *chunk) {
    if (c->over) {
        cJSON_Delete(chunk);
        return;
    }
    c->sink->ops->chunk(c->sink, chunk, NULL, 0);
}

/* A streaming delta: text (may be empty) and logprob records. */
static void stream_delta(hr_call *c, const char *text, size_t len, const emb_lp *lps, size_t n_lps, bool want_lp) {
    if (!len && !n_lps) return;
    if (c->text_objects) {
        if (!len) return;
        cJSON *o = obj_new(c, "text_completion");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON_AddItemToObject(ch, "text", cJSON_CreateString(text));
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
        emit_chunk(c, o);
        return;
    }
    cJSON *o = obj_new(c, "chat.completion.chunk");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
    if (!c->role_sent) {
        cJSON_AddStringToObject(delta, "role", "assistant");
        c->role_sent = true;
    }
    cJSON_AddItemToObject(delta, "content", cJSON_CreateString(len ? text : ""));
    if (want_lp) cJSON_AddItemToObject(cJSON_AddObjectToObject(ch, "logprobs"), "content", lp_entries(c, lps, n_lps));
    else cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
    emit_chunk(c, o);
}

static void stream_end(hr_call *c, const emb_job *j) {
    cJSON *o = obj_new(c, c->text_objects ? "text_completion" : "chat.completion.chunk");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    if (c->text_objects) {
        cJSON_AddStringToObject(ch, "text", "");
    } else {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (!c->role_sent) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
            c->role_sent = true;
        }
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", j->finish_reason);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
    emit_chunk(c, o);
    if (c->client_usage) {
        cJSON *u = obj_new(c, c->text_objects ? "text_completion" : "chat.completion.chunk");
        cJSON_AddArrayToObject(u, "choices");
        cJSON_AddItemToObject(u, "usage", usage_json(j));
        emit_chunk(c, u);
    }
}

static void complete(hr_call *c, const emb_job *j, bool want_lp) {
    cJSON *o = obj_new(c, c->text_objects ? "text_completion" : "chat.completion");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    const char *text = c->text.data ? c->text.data : "";
    if (c->text_objects) {
        cJSON_AddStringToObject(ch, "text", text);
    } else {
        cJSON *m = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
    }
    if (want_lp && c->lp_content) {
        cJSON_AddItemToObject(cJSON_AddObjectToObject(ch, "logprobs"), "content", c->lp_content);
        c->lp_content = NULL;
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    cJSON_AddStringToObject(ch, "finish_reason", j->finish_reason);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    hr_usage u = {j->prompt_tokens, j->completion_tokens};
    c->over = true;
    c->sink->ops->complete(c->sink, o, NULL, 0, &u);
}

static void call_free(hr_call *c) {
    if (c->ev) {
        pthread_mutex_lock(&c->job->mu);
        c->job->ev = NULL;
        pthread_mutex_unlock(&c->job->mu);
        event_free(c->ev);
    }
    if (c->job) {
        atomic_store(&c->job->cancelled, true);
        emb_engine_poke(c->b->e);
        emb_job_release(c->job);
    }
    hr_hermes_filter_free(c->filter);
    hr_buf_free(&c->text);
    cJSON_Delete(c->lp_content);
    free(c);
}

/* The job's event: take everything the scheduler left in the mailbox. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
    hr_call *c = arg;
    emb_job *j = c->job;
    pthread_mutex_lock(&j->mu);
    hr_buf text = j->text;
    hr_buf_init(&j->text, 0);
    emb_lp *lps = j->lps;
    size_t n_lps = j->n_lps;
    j->lps = NULL;
    j->n_lps = j->cap_lps = 0;
    bool finished = j->finished;
    pthread_mutex_unlock(&j->mu);

    bool want_lp = j->n_logprobs >= 0 && !c->text_objects;
    c->in_callback = true;
    if (c->stream) {
        stream_delta(c, text.data ? text.data : "", text.len, lps, n_lps, want_lp);
    } else {
        if (text.len) hr_buf_append(&c->text, text.data, text.len);
        if (want_lp && n_lps) {
            if (!c->lp_content) c->lp_content = cJSON_CreateArray();
            cJSON *arr = lp_entries(c, lps, n_lps), *it;
            while ((it = cJSON_DetachItemFromArray(arr, 0))) cJSON_AddItemToArray(c->lp_content, it);
            cJSON_Delete(arr);
        }
    }
    hr_buf_free(&text);
    free(lps);
    if (finished && !c->cancelled && !c->over) {
        if (j->err_status) {
            c->over = true;
            send_error(c->sink, j->err_status, "server_error", "engine_error", "%s", j->err_msg);
        } else if (c->stream) {
            stream_end(c, j);
            hr_usage u = {j->prompt_tokens, j->completion_tokens};
            c->over = true;
            c->sink->ops->done(c->sink, &u);
        } else {
            if (want_lp && !c->lp_content) c->lp_content = cJSON_CreateArray();
            complete(c, j, want_lp);
        }
    }
    c->in_callback = false;
    if (c->cancelled || (finished && c->over)) call_free(c);
}

/* ---- submit / cancel / free --------------------------------------------------- */

static hr_call *emb_submit(hr_backend *base, hr_loop *loop, hr_chat_request *req, hr_sink *sink) {
    emb_backend *b = (emb_backend *)base;
    emb_engine *e = b->e;
    atomic_fetch_add(&base->requests, 1);
    const cJSON *root = req->root;
    const cJSON *schema = NULL;
    bool json = json_response_format(root, &schema);
    bool hermes = req->has_tools || json || tool_history(req);

    emb_job *j = hr_xcalloc(1, sizeof *j);
    atomic_init(&j->refs, 1);
    pthread_mutex_init(&j->mu, NULL);
    hr_buf_init(&j->text, 0);
    j->e = e;
    hr_call *c = hr_xcalloc(1, sizeof *c);
    c->b = b;
    c->job = j;
    c->sink = sink;
    c->stream = req->stream;
    c->client_usage = req->include_usage;
    c->created = (double)time(NULL);
    snprintf(c->id, sizeof c->id, "%s-emb%016llx", hermes ? "cmpl" : "chatcmpl",
             (unsigned long long)(hr_now_ns() ^ (atomic_fetch_add(&call_counter, 1) << 40)));
    hr_buf_init(&c->text, 0);

    hr_hermes_prompt hp = {0};
    char *prompt_text = NULL;
    bool special = true;
    const cJSON *tools = NULL;
    hr_sampler_params sp;
    if (sampling_from_request(root, &sp, j, sink) < 0) goto fail;

    /* the prompt */
    if (hermes) {
        hr_request_error rerr;
        unsigned mode = HR_HERMES_FILTER_TEXT | (json ? HR_HERMES_FILTER_JSON : 0);
        c->filter = hr_hermes_filter_create(mode, req, sink, &rerr);
        if (!c->filter) {
            send_error(sink, 400, "invalid_request_error", NULL, "%s", rerr.message);
            goto fail;
        }
        c->sink = hr_hermes_filter_sink(c->filter);
        c->text_objects = true;
        hr_hermes_prompt_params pp = hr_hermes_prompt_params_from_request(root);
        if (hr_hermes_prompt_render(&pp, &hp, &rerr) < 0) {
            send_error(sink, 400, "invalid_request_error", NULL, "%s", rerr.message);
            goto fail;
        }
        prompt_text = hp.text;
        hp.text = NULL;
        tools = hp.tools_in_prompt ? pp.tools : NULL;
    } else {
        prompt_text = render_plain(e, req, &special);
        if (!prompt_text) {
            send_error(sink, 500, "server_error", NULL, "cannot render the chat template");
            goto fail;
        }
    }
    const hr_tokenizer *tok = emb_engine_tokenizer(e);
    int n_ctx = emb_engine_n_ctx(e);
    unsigned flags = (hr_tokenizer_add_bos(tok) ? HR_TOK_ADD_BOS : 0) | (special ? HR_TOK_PARSE_SPECIAL : 0);
    j->prompt = hr_xmalloc((size_t)n_ctx * sizeof(int32_t));
    int np = hr_tokenizer_encode(tok, prompt_text, strlen(prompt_text), flags, j->prompt, n_ctx);
    free(prompt_text);
    long want = req->max_tokens;
    if (np < 0 || np >= n_ctx || (want > 0 && np + want > n_ctx)) {
        long ptoks = np < 0 ? -np : np;
        if (want > 0)
            send_error(sink, 400, "invalid_request_error", "context_length_exceeded",
                       "This model's maximum context length is %d tokens. However, you requested %ld tokens (%ld in "
                       "the messages, %ld in the completion). Please reduce the length of the messages or completion.",
                       n_ctx, ptoks + want, ptoks, want);
        else
            send_error(sink, 400, "invalid_request_error", "context_length_exceeded",
                       "This model's maximum context length is %d tokens. However, your messages resulted in %ld "
                       "tokens. Please reduce the length of the messages.",
                       n_ctx, ptoks);
        goto fail;
    }
    if (np == 0) {
        send_error(sink, 400, "invalid_request_error", NULL, "the prompt is empty");
        goto fail;
    }
    j->prompt = hr_xrealloc(j->prompt, (size_t)np * sizeof(int32_t));
    j->n_prompt = np;
    j->max_tokens = want > 0 ? (int)want : n_ctx - np;

    /* the grammar (tools / JSON mode) */
    if (hermes && (tools || json)) {
        char gerr[300];
        if (tools) {
            bool forced = hp.tool_choice == HR_HERMES_TOOL_CHOICE_REQUIRED || hp.forced_name;
            j->grammar = hr_grammar_from_tools(tools, forced ? HR_GRAMMAR_TOOLS_REQUIRED : HR_GRAMMAR_TOOLS_AUTO,
                                               hp.forced_name, hp.parallel_tool_calls, gerr, sizeof gerr);
        } else {
            j->grammar = hr_grammar_from_cjson(schema, gerr, sizeof gerr);
        }
        if (j->grammar) {
            j->gstate = hr_grammar_state_create(j->grammar, emb_engine_gvocab(e), j->max_tokens, gerr, sizeof gerr);
            if (j->gstate && hp.prefill && hp.prefill[0] &&
                hr_grammar_accept_bytes(j->gstate, hp.prefill, strlen(hp.prefill)) < 0) {
                snprintf(gerr, sizeof gerr, "the forced tool-call prefix does not fit the tool grammar");
                hr_grammar_state_free(j->gstate);
                j->gstate = NULL;
            }
        }
        if (!j->gstate) {
            send_error(sink, 400, "invalid_request_error", NULL, "%s", gerr);
            goto fail;
        }
    }
    hr_hermes_prompt_free(&hp);

    /* stop strings: the client's, plus the template's end-of-turn text in
     * case the vocab spells it out instead of having it as one token */
    hr_chat_template t = hermes ? HR_TEMPLATE_CHATML : emb_engine_template(e);
    if (t != HR_TEMPLATE_UNKNOWN) snprintf(j->stops[j->n_stops++], sizeof j->stops[0], "%s", hr_chat_template_eot(t));
    const char *stops[EMB_MAX_STOPS];
    for (int i = 0; i < j->n_stops; i++) stops[i] = j->stops[i];
    hr_stop_init(&j->stop, stops, j->n_stops);
    hr_detok_init(&j->detok, tok, 0);
    j->sampler = hr_sampler_create(&sp, hr_model_get_info(emb_engine_model(e))->n_vocab);
    if (j->gstate) hr_sampler_set_mask(j->sampler, hr_grammar_mask_fn, j->gstate);

    c->ev = event_new(hr_loop_base(loop), -1, 0, on_wake, c);
    j->ev = c->ev;
    atomic_fetch_add(&j->refs, 1); /* the scheduler's */
    if (emb_engine_enqueue(e, j) < 0) {
        atomic_fetch_sub(&j->refs, 1);
        send_error(sink, 429, "rate_limit_error", "queue_full",
                   "the embedded model %s is busy: every slot is in use and the queue is full; retry shortly",
                   emb_engine_name(e));
        goto fail;
    }
    return c;

fail:
    hr_hermes_prompt_free(&hp);
    c->sink = sink; /* errors above went straight to the gateway's sink */
    call_free(c);
    return NULL;
}

static void emb_cancel(hr_call *c) {
    if (!c) return;
    c->cancelled = true;
    c->over = true;
    if (c->in_callback) return; /* on_wake frees it when the callback returns */
    call_free(c);
}

static void emb_free(hr_backend *base) {
    emb_backend *b = (emb_backend *)base;
    if (!b) return;
    emb_engine_put(b->e);
    free(b);
}

static const hr_backend_vtbl embedded_vtbl = {"embedded", emb_submit, emb_cancel, emb_free};

hr_backend *hr_embedded_create(const hr_config *cfg, const hr_backend_config *bc, int tier, int index, char *err,
                               size_t errlen) {
    emb_engine_params p = {bc->threads, bc->context, bc->parallel, bc->queue, bc->chat_template};
    char lerr[600];
    emb_engine *e = emb_engine_get(bc->model, &p, lerr, sizeof lerr);
    if (!e) {
        snprintf(err, errlen, "tiers.%s.backends[%d]: %s", hr_tier_name(tier), index, lerr);
        return NULL;
    }
    emb_backend *b = hr_xcalloc(1, sizeof *b);
    b->base.vt = &embedded_vtbl;
    b->base.cfg = bc;
    b->base.tier = tier;
    b->base.index = index;
    b->e = e;
    snprintf(b->base.label, sizeof b->base.label, "%s[%d] embedded %s", hr_tier_name(tier), index,
             emb_engine_name(e));
    return &b->base;
}
