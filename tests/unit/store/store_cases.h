/* Request-log checks shared by the SQLite and PostgreSQL test programs.
 *
 * The including file defines g_cfg (the log under test) and fresh_log(),
 * which empties it before each case; every case here runs against whatever
 * backend g_cfg selects. Rows are generated from (thread, index) so that any
 * row read back can be checked field by field against what was written. */
#ifndef HR_TEST_STORE_CASES_H
#define HR_TEST_STORE_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* Not every including program runs every case. */
#pragma GCC diagnostic ignored "-Wunused-function"

static hr_log_config g_cfg;
static void fresh_log(void);

#define BASE_TS 1700000000000LL

/* Storage for the strings of one generated row. */
typedef struct gen_row {
    hr_log_row row;
    char request_id[48], model[32], reason[64], prompt[128];
} gen_row;

static void gen(gen_row *g, int t, int i) {
    static const char *tiers[] = {"small", "medium", "large"};
    memset(g, 0, sizeof *g);
    hr_log_row *r = &g->row;
    snprintf(g->request_id, sizeof g->request_id, "req-%d-%d", t, i);
    snprintf(g->model, sizeof g->model, "model-%d", i % 4);
    snprintf(g->reason, sizeof g->reason, "reason %d: \"quoted\"", i);
    snprintf(g->prompt, sizeof g->prompt, "prompt from thread %d, row %d\nsecond line\t\xc3\xa9\xe4\xb8\xad", t, i);
    r->ts_ms = BASE_TS + t * 100000LL + i;
    r->request_id = g->request_id;
    r->tier = tiers[(t + i) % 3];
    r->model = g->model;
    r->strategy = i % 2 ? "rules" : "classifier";
    r->reason = g->reason;
    r->forced = i % 2 == 1;
    r->stream = i % 3 == 0;
    r->route_us = i * 1.5 + 0.1;
    r->latency_ms = t * 1000.0 + i + 0.25;
    r->ttft_ms = r->latency_ms / 3.0;
    r->prompt_tokens = i % 7 == 0 ? -1 : i;
    r->completion_tokens = i * 2L;
    r->status = i % 10 == 0 ? 500 : 200;
    r->error = i % 10 == 0 ? "upstream said \"no\"\nline 2" : NULL;
    r->prompt = i % 5 == 0 ? NULL : g->prompt;
    r->attempts_json = i % 4 == 0 ? "[{\"tier\":\"small\",\"score\":0.5}]" : NULL;
    r->label = i % 6 == 0 ? "large" : NULL;
}

static void assert_str_or_null(const char *got, const char *want) {
    if (!want) assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

/* Compares a row read back with the one generated for its request_id. */
static void check_row(const hr_log_row *r) {
    int t, i;
    assert_non_null(r->request_id);
    assert_int_equal(sscanf(r->request_id, "req-%d-%d", &t, &i), 2);
    gen_row g;
    gen(&g, t, i);
    const hr_log_row *w = &g.row;
    assert_int_equal(r->ts_ms, w->ts_ms);
    assert_str_or_null(r->tier, w->tier);
    assert_str_or_null(r->model, w->model);
    assert_str_or_null(r->strategy, w->strategy);
    assert_str_or_null(r->reason, w->reason);
    assert_int_equal(r->forced, w->forced);
    assert_int_equal(r->stream, w->stream);
    assert_true(r->route_us == w->route_us);
    assert_true(r->latency_ms == w->latency_ms);
    assert_true(r->ttft_ms == w->ttft_ms);
    assert_int_equal(r->prompt_tokens, w->prompt_tokens);
    assert_int_equal(r->completion_tokens, w->completion_tokens);
    assert_int_equal(r->status, w->status);
    assert_str_or_null(r->error, w->error);
    assert_str_or_null(r->prompt, w->prompt);
    assert_str_or_null(r->attempts_json, w->attempts_json);
    assert_str_or_null(r->label, w->label);
}

static hr_store *open_log(const hr_store_options *opts) {
    char err[512] = "";
    hr_store *s = hr_store_open_ex(&g_cfg, opts, err, sizeof err);
    if (!s) fail_msg("open: %s", err);
    return s;
}

/* ---- concurrent writers ------------------------------------------------- */

#define N_THREADS 4
#define N_PER_THREAD 500

typedef struct writer_arg {
    hr_store *s;
    int t;
} writer_arg;

static void *writer_thread(void *p) {
    writer_arg *a = p;
    for (int i = 0; i < N_PER_THREAD; i++) {
        gen_row g;
        gen(&g, a->t, i);
        hr_store_write(a->s, &g.row);
    }
    return NULL;
}

typedef struct seen {
    unsigned char hit[N_THREADS][N_PER_THREAD];
    long n;
    int64_t last_ts;
    bool ordered;
} seen;

static int seen_row(const hr_log_row *r, int64_t id, void *ud) {
    seen *sn = ud;
    check_row(r);
    int t, i;
    sscanf(r->request_id, "req-%d-%d", &t, &i);
    assert_in_range(t, 0, N_THREADS - 1);
    assert_in_range(i, 0, N_PER_THREAD - 1);
    assert_int_equal(sn->hit[t][i], 0); /* never twice */
    sn->hit[t][i] = 1;
    assert_true(id > 0);
    if (sn->n && r->ts_ms < sn->last_ts) sn->ordered = false;
    sn->last_ts = r->ts_ms;
    sn->n++;
    return 0;
}

static void test_concurrent_writers(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    pthread_t th[N_THREADS];
    writer_arg args[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        args[t] = (writer_arg){s, t};
        assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
    hr_store_flush(s);
    assert_int_equal(hr_store_dropped(s), 0);
    assert_int_equal(hr_store_failed(s), 0);
    assert_int_equal(hr_store_written(s), N_THREADS * N_PER_THREAD);

    static seen sn;
    memset(&sn, 0, sizeof sn);
    sn.ordered = true;
    char err[256] = "";
    long n = hr_store_query_rows(s, NULL, seen_row, &sn, err, sizeof err);
    assert_int_equal(n, N_THREADS * N_PER_THREAD);
    assert_int_equal(sn.n, n);
    assert_true(sn.ordered);
    for (int t = 0; t < N_THREADS; t++)
        for (int i = 0; i < N_PER_THREAD; i++) assert_int_equal(sn.hit[t][i], 1);
    hr_store_close(s);
}

/* ---- queue full, close, reopen ------------------------------------------ */

static int count_row(const hr_log_row *r, int64_t id, void *ud) {
    (void)r, (void)id;
    (*(long *)ud)++;
    return 0;
}

static long count_rows(hr_store *s) {
    long n = 0;
    char err[256] = "";
    long got = hr_store_query_rows(s, NULL, count_row, &n, err, sizeof err);
    if (got < 0) fail_msg("query: %s", err);
    assert_int_equal(got, n);
    return n;
}

static void test_queue_full_drops(void **state) {
    (void)state;
    fresh_log();
    /* The writer only wakes on flush (batch never reached, timer far away),
     * so the queue of 4 fills and the rest are dropped deterministically. */
    hr_store_options o = {.queue_rows = 4, .batch_rows = 256, .batch_ms = 600000};
    hr_store *s = open_log(&o);
    for (int i = 0; i < 10; i++) {
        gen_row g;
        gen(&g, 0, i);
        hr_store_write(s, &g.row);
    }
    assert_int_equal(hr_store_dropped(s), 6);
    assert_int_equal(hr_store_written(s), 0);
    hr_store_flush(s);
    assert_int_equal(hr_store_written(s), 4);
    assert_int_equal(count_rows(s), 4);
    /* Room again after the flush. */
    gen_row g;
    gen(&g, 1, 1);
    hr_store_write(s, &g.row);
    hr_store_flush(s);
    assert_int_equal(hr_store_written(s), 5);
    assert_int_equal(hr_store_dropped(s), 6);
    hr_store_close(s);

    /* The byte cap drops too. */
    fresh_log();
    hr_store_options ob = {.queue_rows = 100, .queue_bytes = 1000, .batch_rows = 256, .batch_ms = 600000};
    s = open_log(&ob);
    for (int i = 1; i < 20; i++) {
        gen(&g, 0, i);
        hr_store_write(s, &g.row);
    }
    assert_true(hr_store_dropped(s) > 0);
    uint64_t queued = 19 - hr_store_dropped(s);
    hr_store_flush(s);
    assert_int_equal(hr_store_written(s), queued);
    hr_store_close(s);
}

static void test_close_flushes_and_reopen(void **state) {
    (void)state;
    fresh_log();
    hr_store_options o = {.batch_rows = 1000, .batch_ms = 600000}; /* nothing commits before close */
    hr_store *s = open_log(&o);
    for (int i = 0; i < 100; i++) {
        gen_row g;
        gen(&g, 0, i);
        hr_store_write(s, &g.row);
    }
    assert_int_equal(hr_store_written(s), 0);
    hr_store_close(s);

    char err[256] = "";
    hr_store *r = hr_store_open_readonly(&g_cfg, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(count_rows(r), 100);
    hr_store_close(r);

    /* Reopen for writing: existing rows stay, ids keep growing. */
    s = open_log(NULL);
    assert_int_equal(hr_store_schema_version(s), HR_STORE_SCHEMA_VERSION);
    for (int i = 100; i < 150; i++) {
        gen_row g;
        gen(&g, 0, i);
        hr_store_write(s, &g.row);
    }
    hr_store_flush(s);
    assert_int_equal(count_rows(s), 150);
    hr_store_close(s);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct collect {
    int64_t ids[64];
    char rid[64][48];
    int n;
} collect;

static int collect_row(const hr_log_row *r, int64_t id, void *ud) {
    collect *c = ud;
    check_row(r);
    if (c->n < 64) {
        c->ids[c->n] = id;
        snprintf(c->rid[c->n], sizeof c->rid[0], "%s", r->request_id);
    }
    c->n++;
    return 0;
}

static void write_gen(hr_store *s, int t, int from, int to) {
    for (int i = from; i < to; i++) {
        gen_row g;
        gen(&g, t, i);
        hr_store_write(s, &g.row);
    }
}

static void test_query_and_stats(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    write_gen(s, 0, 0, 30);
    hr_store_flush(s);
    char err[512] = "";

    /* newest first with a limit */
    collect c = {0};
    hr_store_query q = {.newest_first = true, .limit = 5};
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 5);
    assert_string_equal(c.rid[0], "req-0-29");
    assert_string_equal(c.rid[4], "req-0-25");
    assert_true(c.ids[0] > c.ids[1]);

    /* search: case-insensitive substring, across fields */
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.search = "REASON 2"}; /* reason 2, 20..29 */
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 11);
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.search = "said \"NO\""}; /* error text of rows 0, 10, 20 */
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 3);
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.search = "no such text anywhere"};
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 0);

    /* tier, time window, only_with_text */
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.tier = "small"}; /* i % 3 == 0 */
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 10);
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.since_ms = BASE_TS + 10, .until_ms = BASE_TS + 20};
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 10);
    assert_string_equal(c.rid[0], "req-0-10");
    memset(&c, 0, sizeof c);
    q = (hr_store_query){.only_with_text = true}; /* status 200 (i%10) and prompt (i%5) */
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), 24);

    /* search longer than the cap is an error */
    char big[HR_STORE_MAX_SEARCH + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    q = (hr_store_query){.search = big};
    assert_int_equal(hr_store_query_rows(s, &q, collect_row, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "search"));

    /* stats: totals and (tier, status) groups */
    hr_store_stats *st = calloc(1, sizeof *st);
    assert_int_equal(hr_store_stats_get(s, 0, 0, st, err, sizeof err), 0);
    assert_int_equal(st->requests, 30);
    assert_int_equal(st->first_ts_ms, BASE_TS);
    assert_int_equal(st->last_ts_ms, BASE_TS + 29);
    assert_false(st->truncated);
    uint64_t req = 0, pt = 0, ct = 0, forced = 0, err500 = 0;
    double lat = 0;
    for (size_t k = 0; k < st->n_groups; k++) {
        hr_store_group *g = &st->groups[k];
        req += g->requests, pt += g->prompt_tokens, ct += g->completion_tokens, forced += g->forced;
        lat += g->latency_ms_sum;
        if (g->status == 500) err500 += g->requests;
        if (k) assert_true(strcmp(st->groups[k - 1].tier, g->tier) <= 0);
    }
    uint64_t want_pt = 0, want_ct = 0;
    double want_lat = 0;
    for (int i = 0; i < 30; i++) {
        want_pt += i % 7 == 0 ? 0 : (uint64_t)i;
        want_ct += (uint64_t)i * 2;
        want_lat += i + 0.25;
    }
    assert_int_equal(req, 30);
    assert_int_equal(pt, want_pt);
    assert_int_equal(ct, want_ct);
    assert_int_equal(forced, 15);
    assert_int_equal(err500, 3);
    assert_true(fabs(lat - want_lat) < 1e-6);
    /* 3 tiers x {200, 500} */
    assert_int_equal(st->n_groups, 6);

    /* window */
    assert_int_equal(hr_store_stats_get(s, BASE_TS + 10, BASE_TS + 20, st, err, sizeof err), 0);
    assert_int_equal(st->requests, 10);
    assert_int_equal(st->first_ts_ms, BASE_TS + 10);
    assert_int_equal(st->last_ts_ms, BASE_TS + 19);
    assert_int_equal(hr_store_stats_get(s, BASE_TS + 1000, 0, st, err, sizeof err), 0);
    assert_int_equal(st->requests, 0);
    assert_int_equal(st->n_groups, 0);
    free(st);
    hr_store_close(s);
}

static int stop_after_3(const hr_log_row *r, int64_t id, void *ud) {
    (void)r, (void)id;
    return ++*(int *)ud >= 3;
}

static void test_early_stop(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    write_gen(s, 0, 0, 20);
    hr_store_flush(s);
    char err[256] = "";
    int k = 0;
    assert_int_equal(hr_store_query_rows(s, NULL, stop_after_3, &k, err, sizeof err), 3);
    /* the read connection is still usable afterwards */
    assert_int_equal(count_rows(s), 20);
    hr_store_close(s);
}

/* ---- export ------------------------------------------------------------- */

static void check_json_row(cJSON *o) {
    assert_non_null(o);
    cJSON *rid = cJSON_GetObjectItemCaseSensitive(o, "request_id");
    assert_true(cJSON_IsString(rid));
    int t, i;
    assert_int_equal(sscanf(rid->valuestring, "req-%d-%d", &t, &i), 2);
    gen_row g;
    gen(&g, t, i);
    const hr_log_row *w = &g.row;
#define STR(k, v)                                                                                                   \
    do {                                                                                                            \
        cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);                                                         \
        assert_non_null(it);                                                                                        \
        if (v) {                                                                                                    \
            assert_true(cJSON_IsString(it));                                                                        \
            assert_string_equal(it->valuestring, v);                                                                \
        } else                                                                                                      \
            assert_true(cJSON_IsNull(it));                                                                          \
    } while (0)
#define NUM(k, v)                                                                                                   \
    do {                                                                                                            \
        cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);                                                         \
        assert_true(cJSON_IsNumber(it));                                                                            \
        assert_true(it->valuedouble == (double)(v));                                                               \
    } while (0)
    NUM("ts", w->ts_ms);
    assert_true(cJSON_GetObjectItemCaseSensitive(o, "id")->valuedouble > 0);
    STR("tier", w->tier);
    STR("model", w->model);
    STR("strategy", w->strategy);
    STR("reason", w->reason);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "forced")), w->forced);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream")), w->stream);
    NUM("route_us", w->route_us);
    NUM("latency_ms", w->latency_ms);
    NUM("ttft_ms", w->ttft_ms);
    if (w->prompt_tokens < 0) assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "prompt_tokens")));
    else NUM("prompt_tokens", w->prompt_tokens);
    NUM("completion_tokens", w->completion_tokens);
    NUM("status", w->status);
    STR("error", w->error);
    STR("prompt", w->prompt);
    STR("label", w->label);
    cJSON *att = cJSON_GetObjectItemCaseSensitive(o, "attempts");
    assert_non_null(att);
    if (w->attempts_json) {
        assert_true(cJSON_IsArray(att));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(att, 0), "tier")->valuestring, "small");
    } else
        assert_true(cJSON_IsNull(att));
#undef STR
#undef NUM
}

/* Reads a JSONL file: checks every line, returns the line count. */
static long check_jsonl(FILE *f, bool only_with_text) {
    rewind(f);
    long n = 0;
    double last_ts = -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        assert_int_equal(line[len - 1], '\n');
        cJSON *o = cJSON_Parse(line);
        check_json_row(o);
        double ts = cJSON_GetObjectItemCaseSensitive(o, "ts")->valuedouble;
        assert_true(ts >= last_ts); /* oldest first */
        last_ts = ts;
        if (only_with_text) {
            assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "status")->valueint, 200);
            assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "prompt")));
        }
        cJSON_Delete(o);
        n++;
    }
    free(line);
    return n;
}

static void test_export_jsonl(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    /* written newest first: the export must still come out oldest first */
    for (int i = 39; i >= 0; i--) write_gen(s, 1, i, i + 1);
    hr_store_close(s);

    char err[512] = "";
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(hr_store_export_jsonl(&g_cfg, f, false, err, sizeof err), 40);
    assert_int_equal(check_jsonl(f, false), 40);
    fclose(f);

    f = tmpfile();
    long n = hr_store_export_jsonl(&g_cfg, f, true, err, sizeof err);
    assert_int_equal(n, 32); /* 40 minus 4 (status 500) minus 4 more (prompt NULL, i%5 but not i%10) */
    assert_int_equal(check_jsonl(f, true), 32);
    fclose(f);
}

/* ---- odd rows ----------------------------------------------------------- */

typedef struct one_row {
    hr_log_row got;
    char *prompt, *error, *tier, *attempts;
    int n;
} one_row;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int take_row(const hr_log_row *r, int64_t id, void *ud) {
    (void)id;
    one_row *o = ud;
    o->n++;
    o->got = *r;
    free(o->prompt), free(o->error), free(o->tier), free(o->attempts);
    o->prompt = dup_or_null(r->prompt);
    o->error = dup_or_null(r->error);
    o->tier = dup_or_null(r->tier);
    o->attempts = dup_or_null(r->attempts_json);
    return 0;
}

static void one_row_free(one_row *o) {
    free(o->prompt), free(o->error), free(o->tier), free(o->attempts);
    memset(o, 0, sizeof *o);
}

/* Writes one row, reads it back through the store and through the export. */
static void roundtrip(const hr_log_row *in, one_row *out, cJSON **json) {
    fresh_log();
    hr_store *s = open_log(NULL);
    hr_store_write(s, in);
    hr_store_flush(s);
    assert_int_equal(hr_store_written(s), 1);
    char err[512] = "";
    memset(out, 0, sizeof *out);
    assert_int_equal(hr_store_query_rows(s, NULL, take_row, out, err, sizeof err), 1);
    FILE *f = tmpfile();
    assert_int_equal(hr_store_export(s, NULL, f, err, sizeof err), 1);
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    assert_true(getline(&line, &cap, f) > 0);
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1); /* exactly one line */
    *json = cJSON_Parse(line);
    assert_non_null(*json);
    free(line);
    fclose(f);
    hr_store_close(s);
}

static void test_null_prompt_and_unknowns(void **state) {
    (void)state;
    hr_log_row in = {.ts_ms = BASE_TS, .request_id = "r", .tier = NULL, .status = 502, .prompt = NULL,
                     .prompt_tokens = -1, .completion_tokens = -1, .route_us = NAN, .latency_ms = INFINITY,
                     .ttft_ms = 3.5};
    one_row o;
    cJSON *j;
    roundtrip(&in, &o, &j);
    assert_null(o.prompt);
    assert_null(o.error);
    assert_string_equal(o.tier, ""); /* NULL tier is stored as "" */
    assert_int_equal(o.got.prompt_tokens, -1);
    assert_int_equal(o.got.completion_tokens, -1);
    assert_true(isnan(o.got.route_us));
    assert_true(isnan(o.got.latency_ms)); /* non-finite stored as NULL */
    assert_true(o.got.ttft_ms == 3.5);
    assert_int_equal(o.got.status, 502);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "prompt")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "prompt_tokens")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "route_us")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "model")));
    cJSON_Delete(j);
    one_row_free(&o);
}

static void test_weird_text(void **state) {
    (void)state;
    const char *weird = "quotes \" ' `; backslash \\ \\n; newline\nCR\r tab\t; json {\"a\":[1,2]}; "
                        "sql '); DROP TABLE requests; --; emoji \xf0\x9f\x98\x80; cjk \xe4\xb8\xad\xe6\x96\x87; "
                        "U+FFFD \xef\xbf\xbd; ctrl \x01\x1f";
    hr_log_row in = {.ts_ms = BASE_TS, .request_id = "weird", .tier = "small", .status = 200, .prompt = weird,
                     .error = weird, .attempts_json = "not json [", .prompt_tokens = 3, .completion_tokens = 4};
    one_row o;
    cJSON *j;
    roundtrip(&in, &o, &j);
    assert_string_equal(o.prompt, weird);
    assert_string_equal(o.error, weird);
    assert_string_equal(o.attempts, "not json [");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "prompt")->valuestring, weird);
    /* invalid JSON in attempts is exported as the raw string */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "attempts")->valuestring, "not json [");
    cJSON_Delete(j);
    one_row_free(&o);

    /* invalid UTF-8 is stored as U+FFFD, never as bytes a JSON reader rejects */
    hr_log_row bad = in;
    bad.prompt = "a\xff" "b\xc3" "c\xed\xa0\x80" "d"; /* stray byte, truncated sequence, surrogate */
    bad.error = NULL;
    roundtrip(&bad, &o, &j);
    assert_string_equal(o.prompt, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "prompt")->valuestring, o.prompt);
    cJSON_Delete(j);
    one_row_free(&o);

    /* 1 MB prompt */
    size_t big = 1u << 20;
    char *p = malloc(big + 1);
    for (size_t k = 0; k < big; k++) p[k] = (char)('a' + k % 26);
    memcpy(p + 1000, "\xe2\x82\xac\"\n", 5); /* a multibyte char, a quote, a newline in the middle */
    p[big] = '\0';
    hr_log_row large = in;
    large.prompt = p;
    large.error = NULL;
    roundtrip(&large, &o, &j);
    assert_int_equal(strlen(o.prompt), big);
    assert_memory_equal(o.prompt, p, big);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "prompt")->valuestring, p);
    cJSON_Delete(j);
    one_row_free(&o);

    /* past HR_STORE_MAX_TEXT: cut at the cap, on a code point boundary */
    size_t over = HR_STORE_MAX_TEXT + 10;
    char *q = malloc(over + 1);
    memset(q, 'x', over);
    memcpy(q + HR_STORE_MAX_TEXT - 1, "\xe2\x82\xac", 3); /* straddles the cap */
    q[over] = '\0';
    large.prompt = q;
    roundtrip(&large, &o, &j);
    assert_int_equal(strlen(o.prompt), HR_STORE_MAX_TEXT - 1);
    cJSON_Delete(j);
    one_row_free(&o);
    free(q);
    free(p);
}

static void test_null_handles(void **state) {
    (void)state;
    gen_row g;
    gen(&g, 0, 1);
    hr_store_write(NULL, &g.row);
    hr_store_flush(NULL);
    hr_store_close(NULL);
    assert_int_equal(hr_store_dropped(NULL), 0);
    char err[64] = "";
    assert_null(hr_store_open(NULL, err, sizeof err));
    assert_true(err[0] != '\0');
}

/* ---- labels ------------------------------------------------------------- */

typedef struct label_seen {
    int64_t ids[16];
    char labels[16][HR_STORE_MAX_LABEL + 1]; /* "" = NULL */
    int n;
} label_seen;

static int labels_seen_row(const hr_log_row *r, int64_t id, void *ud) {
    label_seen *x = ud;
    if (x->n < 16) {
        x->ids[x->n] = id;
        snprintf(x->labels[x->n], sizeof x->labels[0], "%s", r->label ? r->label : "");
        x->n++;
    }
    return 0;
}

static void read_labels_of(hr_store *s, label_seen *x) {
    char err[256] = "";
    memset(x, 0, sizeof *x);
    if (hr_store_query_rows(s, NULL, labels_seen_row, x, err, sizeof err) < 0) fail_msg("query: %s", err);
}

static void test_labels_set(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    write_gen(s, 0, 1, 6); /* rows 1..5: none labelled (label only when i % 6 == 0) */
    hr_store_flush(s);
    label_seen x;
    read_labels_of(s, &x);
    assert_int_equal(x.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(x.labels[i], "");
    char err[256] = "";

    /* one row; then a batch with an unknown id (skipped) and a clear */
    assert_int_equal(hr_store_label_set(s, x.ids[0], "medium", err, sizeof err), 1);
    assert_int_equal(hr_store_label_set(s, 999999, "large", err, sizeof err), 0);
    hr_store_label batch[] = {{x.ids[1], "large"}, {999999, "small"}, {x.ids[2], "\xe4\xb8\xad"}, {x.ids[0], NULL}};
    assert_int_equal(hr_store_labels_set(s, batch, 4, err, sizeof err), 3);
    read_labels_of(s, &x);
    assert_string_equal(x.labels[0], "");
    assert_string_equal(x.labels[1], "large");
    assert_string_equal(x.labels[2], "\xe4\xb8\xad");
    assert_string_equal(x.labels[3], "");

    /* a bad label refuses the whole batch: nothing changes */
    char longl[HR_STORE_MAX_LABEL + 2];
    memset(longl, 'a', sizeof longl - 1);
    longl[sizeof longl - 1] = '\0';
    hr_store_label bad1[] = {{x.ids[3], "small"}, {x.ids[4], longl}};
    hr_store_label bad2[] = {{x.ids[3], "small"}, {x.ids[4], "\xff"}};
    hr_store_label bad3[] = {{x.ids[3], ""}};
    err[0] = '\0';
    assert_int_equal(hr_store_labels_set(s, bad1, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "label"));
    assert_int_equal(hr_store_labels_set(s, bad2, 2, err, sizeof err), -1);
    assert_int_equal(hr_store_labels_set(s, bad3, 1, err, sizeof err), -1);
    assert_int_equal(hr_store_labels_set(s, NULL, 0, err, sizeof err), 0);
    read_labels_of(s, &x);
    assert_string_equal(x.labels[3], "");
    assert_string_equal(x.labels[4], "");

    /* labels survive a reopen; a read-only log refuses updates */
    hr_store_close(s);
    hr_store *r = hr_store_open_readonly(&g_cfg, err, sizeof err);
    assert_non_null(r);
    read_labels_of(r, &x);
    assert_int_equal(x.n, 5);
    assert_string_equal(x.labels[1], "large");
    err[0] = '\0';
    assert_int_equal(hr_store_label_set(r, x.ids[3], "small", err, sizeof err), -1);
    assert_non_null(strstr(err, "read-only"));
    hr_store_close(r);
    assert_int_equal(hr_store_label_set(NULL, 1, "small", err, sizeof err), -1);
}

#define STORE_COMMON_TESTS(setup, teardown)                                         \
    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),      \
    cmocka_unit_test_setup_teardown(test_queue_full_drops, setup, teardown),        \
    cmocka_unit_test_setup_teardown(test_close_flushes_and_reopen, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_query_and_stats, setup, teardown),         \
    cmocka_unit_test_setup_teardown(test_early_stop, setup, teardown),              \
    cmocka_unit_test_setup_teardown(test_export_jsonl, setup, teardown),            \
    cmocka_unit_test_setup_teardown(test_null_prompt_and_unknowns, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_weird_text, setup, teardown),              \
    cmocka_unit_test_setup_teardown(test_null_handles, setup, teardown),            \
    cmocka_unit_test_setup_teardown(test_labels_set, setup, teardown)

#endif
