/* hermes-router run -m FILE -p TEXT [-n N] [--temp T] [--seed S] [-t N] ...
 * Streams the generated text to stdout; timing goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "engine/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: hermes-router run -m FILE (-p TEXT | --tokens 1,2,3) [-n N] [-t THREADS]\n"
               "         [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
               "         [--presence-penalty P] [--frequency-penalty F] [--seed S] [-c CTX]\n"
               "         [--chat [--system TEXT] [--template chatml|llama3]] [--stop STR]... [--show-special]\n"
               "         [--logprobs N]\n");
}

static int parse_tokens(const char *s, int32_t *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) return -1;
        out[n++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

int hr_cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *tokens_arg = NULL, *system = NULL, *tmpl_name = NULL;
    const char *stops[8];
    int n_stops = 0, n_predict = 128, threads = 0, n_ctx = 0, logprobs = 0;
    bool chat = false, show_special = false;
    hr_sampler_params sp = hr_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") && has) model = argv[++i];
        else if (!strcmp(a, "-p") && has) prompt = argv[++i];
        else if (!strcmp(a, "--tokens") && has) tokens_arg = argv[++i];
        else if (!strcmp(a, "-n") && has) n_predict = atoi(argv[++i]);
        else if (!strcmp(a, "-t") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "-c") && has) n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has) sp.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && has) sp.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) sp.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--min-p") && has) sp.min_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--repeat-penalty") && has) sp.repeat_penalty = (float)atof(argv[++i]);
        else if (!strcmp(a, "--presence-penalty") && has) sp.presence_penalty = (float)atof(argv[++i]);
        else if (!strcmp(a, "--frequency-penalty") && has) sp.frequency_penalty = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && has) sp.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--logprobs") && has) logprobs = atoi(argv[++i]);
        else if (!strcmp(a, "--stop") && has) {
            if (n_stops < 8) stops[n_stops++] = argv[++i];
            else i++;
        } else if (!strcmp(a, "--chat")) chat = true;
        else if (!strcmp(a, "--system") && has) system = argv[++i];
        else if (!strcmp(a, "--template") && has) tmpl_name = argv[++i];
        else if (!strcmp(a, "--show-special")) show_special = true;
        else {
            fprintf(stderr, "hermes-router run: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || (!prompt && !tokens_arg) || n_predict < 0) {
        usage(stderr);
        return 2;
    }
    sp.n_logprobs = logprobs;
    char err[512];
    hr_model *m = hr_model_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "hermes-router run: %s\n", err);
        return 1;
    }
    const hr_model_info *in = hr_model_get_info(m);
    hr_tokenizer *tok = hr_tokenizer_from_gguf(hr_model_gguf(m), err, sizeof err);
    if (!tok && !tokens_arg) {
        fprintf(stderr, "hermes-router run: tokenizer: %s\n", err);
        hr_model_free(m);
        return 1;
    }
    hr_ctx_params cp = hr_ctx_default_params();
    cp.n_threads = threads;
    cp.n_ctx = n_ctx;
    hr_ctx *c = hr_ctx_create(m, &cp, err, sizeof err);
    if (!c) {
        fprintf(stderr, "hermes-router run: %s\n", err);
        hr_tokenizer_free(tok);
        hr_model_free(m);
        return 1;
    }
    int max_prompt = hr_ctx_n_ctx(c);
    int32_t *ids = hr_xmalloc((size_t)max_prompt * sizeof(int32_t));
    int n_ids;
    char *rendered = NULL;
    if (tokens_arg) {
        n_ids = parse_tokens(tokens_arg, ids, max_prompt);
        if (n_ids <= 0) {
            fprintf(stderr, "hermes-router run: bad --tokens list\n");
            n_ids = -1;
        }
    } else {
        const char *text = prompt;
        unsigned flags = hr_tokenizer_add_bos(tok) ? HR_TOK_ADD_BOS : 0;
        if (chat) {
            hr_chat_template t = tmpl_name ? hr_chat_template_by_name(tmpl_name) : hr_chat_template_from_model(m);
            if (t == HR_TEMPLATE_UNKNOWN) t = HR_TEMPLATE_CHATML;
            hr_chat_msg msgs[2];
            int nm = 0;
            if (system) msgs[nm++] = (hr_chat_msg){"system", system};
            msgs[nm++] = (hr_chat_msg){"user", prompt};
            rendered = hr_chat_template_render(t, msgs, nm, true);
            text = rendered;
            flags |= HR_TOK_PARSE_SPECIAL;
            if (n_stops < 8) stops[n_stops++] = hr_chat_template_eot(t);
        }
        n_ids = hr_tokenizer_encode(tok, text, strlen(text), flags, ids, max_prompt);
        if (n_ids < 0 || n_ids == 0) {
            fprintf(stderr, "hermes-router run: prompt of %d tokens does not fit the context (%d)\n", -n_ids, max_prompt);
            n_ids = -1;
        }
    }
    int rc = 0;
    if (n_ids < 0) rc = 1;
    if (rc == 0 && n_ids + n_predict > hr_ctx_n_ctx(c)) n_predict = hr_ctx_n_ctx(c) - n_ids;

    hr_sampler *s = hr_sampler_create(&sp, in->n_vocab);
    hr_stop st;
    hr_stop_init(&st, stops, n_stops);
    hr_detok dt;
    if (tok) hr_detok_init(&dt, tok, show_special);
    uint64_t t0 = hr_now_ns(), t1 = t0;
    int n_gen = 0;
    const int nb = 512;
    hr_batch_entry *batch = hr_xmalloc((size_t)nb * sizeof(hr_batch_entry));
    for (int i = 0; rc == 0 && i < n_ids; i += nb) {
        int n = n_ids - i < nb ? n_ids - i : nb;
        for (int k = 0; k < n; k++) {
            batch[k] = (hr_batch_entry){ids[i + k], i + k, 0, i + k == n_ids - 1};
            hr_sampler_accept(s, ids[i + k]);
        }
        if (hr_ctx_decode(c, batch, n, err, sizeof err) < 0) {
            fprintf(stderr, "hermes-router run: %s\n", err);
            rc = 1;
        }
    }
    t1 = hr_now_ns();
    char piece[HR_TOK_MAX_TOKEN_BYTES + 16];
    bool stopped = false;
    for (int i = 0; rc == 0 && i < n_predict && !stopped; i++) {
        hr_sample_result res;
        int32_t t = hr_sampler_sample(s, hr_ctx_logits(c, 0), logprobs > 0 ? &res : NULL); /* NULL: skip the softmax over the vocab */
        if (t < 0) break;
        n_gen++;
        if (tok && hr_tokenizer_is_eog(tok, t)) break;
        if (tok) {
            size_t len = hr_detok_push(&dt, t, piece, sizeof piece);
            const char *out;
            size_t out_len;
            stopped = hr_stop_push(&st, piece, len, &out, &out_len);
            if (out_len) fwrite(out, 1, out_len, stdout);
        } else {
            printf("%d ", t);
        }
        if (logprobs > 0) {
            fprintf(stderr, "[%d logprob %.3f:", t, res.logprob);
            for (int k = 0; k < res.n_top; k++) fprintf(stderr, " %d=%.3f", res.top[k].token, res.top[k].logprob);
            fprintf(stderr, "]\n");
        }
        fflush(stdout);
        if (stopped) break;
        hr_batch_entry e = {t, n_ids + i, 0, true};
        if (i + 1 < n_predict && hr_ctx_decode(c, &e, 1, err, sizeof err) < 0) {
            fprintf(stderr, "hermes-router run: %s\n", err);
            rc = 1;
        }
    }
    if (tok && rc == 0) {
        size_t len = hr_detok_flush(&dt, piece, sizeof piece);
        const char *out;
        size_t out_len;
        if (!stopped) {
            hr_stop_push(&st, piece, len, &out, &out_len);
            if (out_len) fwrite(out, 1, out_len, stdout);
            hr_stop_flush(&st, &out, &out_len);
            if (out_len) fwrite(out, 1, out_len, stdout);
        }
    }
    printf("\n");
    uint64_t t2 = hr_now_ns();
    if (rc == 0)
        fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s (%.2f tok/s)\n", n_ids,
                (double)(t1 - t0) / 1e9, n_ids / ((double)(t1 - t0) / 1e9 + 1e-12), n_gen, (double)(t2 - t1) / 1e9,
                n_gen / ((double)(t2 - t1) / 1e9 + 1e-12));
    free(batch);
    free(ids);
    free(rendered);
    hr_stop_free(&st);
    hr_sampler_free(s);
    hr_ctx_free(c);
    hr_tokenizer_free(tok);
    hr_model_free(m);
    return rc;
}
