/* Request log: the part shared by every backend -- row copying, the bounded
 * queue, the writer thread and its batching, the read calls' connection, and
 * the JSON form of a row. The backends (store_sqlite.c, store_pg.c) only move
 * rows in and out of their database. */
#include "store/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "store/store_backend.h"

typedef struct queued {
    hr_log_row row; /* strings point into mem */
    char *mem;
    size_t bytes;
    uint64_t enq_ns;
} queued;

struct hr_store {
    const hr_store_backend *be;
    hr_log_config cfg; /* private copy of the strings, for the lazily opened read connection */
    hr_store_options opt;
    bool readonly;
    int version;

    /* queue: ring of opt.queue_rows entries, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* writer waits for rows / flush / close */
    pthread_cond_t cv_done; /* flushers wait for committed batches */
    queued *ring;
    size_t head, count, bytes;
    uint64_t enqueued, done, flush_target;
    bool closing;
    pthread_t thread;
    bool thread_started;
    void *wconn; /* writer's connection: used by the writer thread only */

    /* read connection, guarded by read_mu */
    pthread_mutex_t read_mu;
    void *rconn;
    void *uconn; /* label updates (read-write), opened on first use, guarded by read_mu */

    _Atomic uint64_t n_dropped, n_written, n_failed;
};

hr_store_options hr_store_default_options(void) {
    return (hr_store_options){.queue_rows = 4096, .queue_bytes = 64u << 20, .batch_rows = 256, .batch_ms = 50};
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- row copy --------------------------------------------------------- */

/* Copies src as valid UTF-8 (invalid bytes -> U+FFFD), at most cap bytes, cut
 * on a code point boundary. With dst == NULL only measures. Returns bytes. */
static size_t text_copy(const char *src, char *dst, size_t cap) {
    static const char repl[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    size_t n = strlen(src), i = 0, o = 0;
    while (i < n && !((unsigned char)src[i] & 0x80)) i++; /* ASCII, the common case: one copy */
    if (i == n && n <= cap) {
        if (dst) memcpy(dst, src, n);
        return n;
    }
    i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)src[i];
        if (c < 0x80) {
            if (o + 1 > cap) break;
            if (dst) dst[o] = (char)c;
            o++, i++;
            continue;
        }
        uint32_t cp;
        size_t k = hr_utf8_decode(src + i, n - i, &cp);
        const char *from = src + i;
        size_t len = k;
        if (cp == 0xFFFD && k == 1) from = repl, len = 3; /* invalid byte */
        if (o + len > cap) break;
        if (dst) memcpy(dst + o, from, len);
        o += len, i += k;
    }
    return o;
}

#define ROW_NSTR 9
static const char **row_str(hr_log_row *r, int i) {
    const char **f[ROW_NSTR] = {&r->request_id, &r->tier,   &r->model,  &r->strategy,      &r->reason,
                                &r->error,      &r->prompt, &r->label, &r->attempts_json};
    return f[i];
}

/* Deep copy of row into q (one allocation for every string). */
static void row_copy(queued *q, const hr_log_row *row) {
    q->row = *row;
    if (!q->row.tier) q->row.tier = "";
    size_t len[ROW_NSTR], total = 0;
    for (int i = 0; i < ROW_NSTR; i++) {
        const char *s = *row_str(&q->row, i);
        len[i] = s ? text_copy(s, NULL, HR_STORE_MAX_TEXT) : 0;
        total += s ? len[i] + 1 : 0;
    }
    q->mem = hr_xmalloc(total ? total : 1);
    q->bytes = sizeof *q + total;
    char *p = q->mem;
    for (int i = 0; i < ROW_NSTR; i++) {
        const char **f = row_str(&q->row, i);
        if (!*f) continue;
        text_copy(*f, p, len[i]);
        p[len[i]] = '\0';
        *f = p;
        p += len[i] + 1;
    }
}

/* ---- writer ----------------------------------------------------------- */

static void *writer_main(void *arg) {
    hr_store *s = arg;
    size_t cap = s->opt.batch_rows;
    hr_log_row *rows = hr_xcalloc(cap, sizeof *rows);
    char **mems = hr_xcalloc(cap, sizeof *mems);
    bool warned = false;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (;;) {
            if (s->count >= s->opt.batch_rows || (s->count && (s->closing || s->flush_target > s->done))) break;
            if (!s->count && s->closing) break;
            if (!s->count) {
                pthread_cond_wait(&s->cv_work, &s->mu);
                continue;
            }
            uint64_t due = s->ring[s->head].enq_ns + (uint64_t)s->opt.batch_ms * 1000000ull;
            uint64_t now = hr_now_ns();
            if (now >= due) break;
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull)};
            pthread_cond_timedwait(&s->cv_work, &s->mu, &ts);
        }
        if (!s->count && s->closing) break;
        size_t n = s->count < cap ? s->count : cap;
        size_t nbytes = 0;
        for (size_t i = 0; i < n; i++) {
            queued *q = &s->ring[(s->head + i) % s->opt.queue_rows];
            rows[i] = q->row;
            mems[i] = q->mem;
            nbytes += q->bytes;
        }
        s->head = (s->head + n) % s->opt.queue_rows;
        s->count -= n;
        s->bytes -= nbytes;
        pthread_mutex_unlock(&s->mu);

        char err[512] = "";
        int rc = s->be->insert_batch(s->wconn, rows, n, err, sizeof err);
        if (rc == 0) {
            atomic_fetch_add(&s->n_written, n);
            warned = false;
        } else {
            atomic_fetch_add(&s->n_failed, n);
            if (!warned) hr_warn("request log: %zu rows lost: %s", n, err);
            warned = true; /* one line per run of failures, not one per batch */
        }
        for (size_t i = 0; i < n; i++) free(mems[i]);

        pthread_mutex_lock(&s->mu);
        s->done += n;
        pthread_cond_broadcast(&s->cv_done);
    }
    pthread_mutex_unlock(&s->mu);
    free(rows);
    free(mems);
    return NULL;
}

/* ---- open / close ----------------------------------------------------- */

static hr_store *store_new(const hr_log_config *cfg, const hr_store_options *opts, bool readonly) {
    hr_store *s = hr_xcalloc(1, sizeof *s);
    s->be = cfg->postgres_url && cfg->postgres_url[0] ? &hr_store_pg_backend : &hr_store_sqlite_backend;
    s->cfg.enabled = cfg->enabled;
    s->cfg.capture_text = cfg->capture_text;
    s->cfg.sqlite_path = hr_xstrdup(cfg->sqlite_path && cfg->sqlite_path[0] ? cfg->sqlite_path : "hermes-router.db");
    s->cfg.postgres_url = cfg->postgres_url && cfg->postgres_url[0] ? hr_xstrdup(cfg->postgres_url) : NULL;
    s->opt = opts ? *opts : hr_store_default_options();
    hr_store_options d = hr_store_default_options();
    if (!s->opt.queue_rows) s->opt.queue_rows = d.queue_rows;
    if (!s->opt.queue_bytes) s->opt.queue_bytes = d.queue_bytes;
    if (!s->opt.batch_rows) s->opt.batch_rows = d.batch_rows;
    if (s->opt.batch_ms < 0) s->opt.batch_ms = 0;
    s->readonly = readonly;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->read_mu, NULL);
    pthread_condattr_t ca; /* timed waits on the monotonic clock: wall-clock jumps do not stretch them */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv_work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->cv_done, NULL);
    return s;
}

static void store_free(hr_store *s) {
    if (s->wconn) s->be->close(s->wconn);
    if (s->rconn) s->be->close(s->rconn);
    if (s->uconn) s->be->close(s->uconn);
    for (size_t i = 0; i < s->count; i++) free(s->ring[(s->head + i) % s->opt.queue_rows].mem);
    free(s->ring);
    free(s->cfg.sqlite_path);
    free(s->cfg.postgres_url);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->read_mu);
    pthread_cond_destroy(&s->cv_work);
    pthread_cond_destroy(&s->cv_done);
    free(s);
}

hr_store *hr_store_open_ex(const hr_log_config *cfg, const hr_store_options *opts, char *err, size_t errlen) {
    if (!cfg) {
        set_err(err, errlen, "request log: no configuration");
        return NULL;
    }
    hr_store *s = store_new(cfg, opts, false);
    s->wconn = s->be->open(&s->cfg, HR_STORE_RW, &s->version, err, errlen);
    if (!s->wconn) {
        store_free(s);
        return NULL;
    }
    s->ring = hr_xcalloc(s->opt.queue_rows, sizeof *s->ring);
    int rc = pthread_create(&s->thread, NULL, writer_main, s);
    if (rc != 0) {
        set_err(err, errlen, "request log: cannot start the writer thread: %s", strerror(rc));
        store_free(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

hr_store *hr_store_open(const hr_log_config *cfg, char *err, size_t errlen) {
    return hr_store_open_ex(cfg, NULL, err, errlen);
}

hr_store *hr_store_open_readonly(const hr_log_config *cfg, char *err, size_t errlen) {
    if (!cfg) {
        set_err(err, errlen, "request log: no configuration");
        return NULL;
    }
    hr_store *s = store_new(cfg, NULL, true);
    s->rconn = s->be->open(&s->cfg, HR_STORE_RO, &s->version, err, errlen);
    if (!s->rconn) {
        store_free(s);
        return NULL;
    }
    return s;
}

void hr_store_write(hr_store *s, const hr_log_row *row) {
    if (!s || !row) return;
    if (s->readonly) {
        atomic_fetch_add(&s->n_dropped, 1);
        return;
    }
    /* Cheap check first so a full queue does not cost a copy of a big prompt. */
    pthread_mutex_lock(&s->mu);
    bool full = s->count >= s->opt.queue_rows || s->bytes >= s->opt.queue_bytes || s->closing;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        atomic_fetch_add(&s->n_dropped, 1);
        return;
    }
    queued q;
    row_copy(&q, row);
    q.enq_ns = hr_now_ns();
    pthread_mutex_lock(&s->mu);
    if (s->count >= s->opt.queue_rows || s->bytes + q.bytes > s->opt.queue_bytes || s->closing) {
        pthread_mutex_unlock(&s->mu);
        free(q.mem);
        atomic_fetch_add(&s->n_dropped, 1);
        return;
    }
    s->ring[(s->head + s->count) % s->opt.queue_rows] = q;
    s->count++;
    s->bytes += q.bytes;
    s->enqueued++;
    if (s->count == 1 || s->count >= s->opt.batch_rows) pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
}

void hr_store_flush(hr_store *s) {
    if (!s || s->readonly) return;
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->enqueued;
    if (target > s->flush_target) s->flush_target = target;
    pthread_cond_signal(&s->cv_work);
    while (s->done < target) pthread_cond_wait(&s->cv_done, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void hr_store_close(hr_store *s) {
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_signal(&s->cv_work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    store_free(s);
}

uint64_t hr_store_dropped(const hr_store *s) { return s ? atomic_load(&s->n_dropped) : 0; }
uint64_t hr_store_written(const hr_store *s) { return s ? atomic_load(&s->n_written) : 0; }
uint64_t hr_store_failed(const hr_store *s) { return s ? atomic_load(&s->n_failed) : 0; }
const char *hr_store_backend_name(const hr_store *s) { return s ? s->be->name : "none"; }
int hr_store_schema_version(const hr_store *s) { return s ? s->version : 0; }

/* ---- reading ---------------------------------------------------------- */

/* Locks read_mu and returns the read connection, opening it on first use. */
static void *read_conn_acquire(hr_store *s, char *err, size_t errlen) {
    pthread_mutex_lock(&s->read_mu);
    if (!s->rconn) {
        int v = 0;
        s->rconn = s->be->open(&s->cfg, HR_STORE_RO, &v, err, errlen);
        if (!s->rconn) {
            pthread_mutex_unlock(&s->read_mu);
            return NULL;
        }
    }
    return s->rconn;
}

long hr_store_query_rows(hr_store *s, const hr_store_query *q, hr_store_row_fn fn, void *ud, char *err,
                         size_t errlen) {
    if (!s || !fn) {
        set_err(err, errlen, "request log: not open");
        return -1;
    }
    hr_store_query all = {0};
    if (!q) q = &all;
    if (q->search && strlen(q->search) > HR_STORE_MAX_SEARCH) {
        set_err(err, errlen, "request log: search text longer than %d bytes", HR_STORE_MAX_SEARCH);
        return -1;
    }
    void *c = read_conn_acquire(s, err, errlen);
    if (!c) return -1;
    long n = s->be->query(c, q, fn, ud, err, errlen);
    pthread_mutex_unlock(&s->read_mu);
    return n;
}

void hr_store_stats_add(hr_store_stats *out, const char *tier, int status, uint64_t requests, uint64_t forced,
                        uint64_t prompt_tokens, uint64_t completion_tokens, double latency_ms_sum,
                        int64_t min_ts, int64_t max_ts) {
    if (!out->requests || min_ts < out->first_ts_ms) out->first_ts_ms = min_ts;
    if (!out->requests || max_ts > out->last_ts_ms) out->last_ts_ms = max_ts;
    out->requests += requests;
    if (out->n_groups >= HR_STORE_MAX_GROUPS) {
        out->truncated = true;
        return;
    }
    hr_store_group *g = &out->groups[out->n_groups++];
    snprintf(g->tier, sizeof g->tier, "%s", tier ? tier : "");
    g->status = status;
    g->requests = requests;
    g->forced = forced;
    g->prompt_tokens = prompt_tokens;
    g->completion_tokens = completion_tokens;
    g->latency_ms_sum = latency_ms_sum;
}

int hr_store_stats_get(hr_store *s, int64_t since_ms, int64_t until_ms, hr_store_stats *out, char *err,
                       size_t errlen) {
    if (!s || !out) {
        set_err(err, errlen, "request log: not open");
        return -1;
    }
    memset(out, 0, sizeof *out);
    void *c = read_conn_acquire(s, err, errlen);
    if (!c) return -1;
    int rc = s->be->stats(c, since_ms, until_ms, out, err, errlen);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

/* ---- labels ----------------------------------------------------------- */

long hr_store_labels_set(hr_store *s, const hr_store_label *labels, size_t n, char *err, size_t errlen) {
    if (!s) {
        set_err(err, errlen, "request log: not open");
        return -1;
    }
    if (s->readonly) {
        set_err(err, errlen, "request log: opened read-only, cannot set labels");
        return -1;
    }
    if (n && !labels) {
        set_err(err, errlen, "request log: no labels given");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *l = labels[i].label;
        if (!l) continue;
        size_t len = strlen(l);
        bool valid = true;
        for (size_t off = 0; off < len && valid;) {
            uint32_t cp;
            size_t k = hr_utf8_decode(l + off, len - off, &cp);
            if (cp == 0xFFFD && k == 1) valid = false;
            off += k;
        }
        if (!len || len > HR_STORE_MAX_LABEL || !valid) {
            set_err(err, errlen, "request log: label for row %lld is empty, longer than %d bytes or not UTF-8",
                    (long long)labels[i].id, HR_STORE_MAX_LABEL);
            return -1;
        }
    }
    if (!n) return 0;
    pthread_mutex_lock(&s->read_mu);
    if (!s->uconn) {
        int v = 0;
        s->uconn = s->be->open(&s->cfg, HR_STORE_RW, &v, err, errlen);
        if (!s->uconn) {
            pthread_mutex_unlock(&s->read_mu);
            return -1;
        }
    }
    long rc = s->be->labels_set(s->uconn, labels, n, err, errlen);
    pthread_mutex_unlock(&s->read_mu);
    return rc;
}

int hr_store_label_set(hr_store *s, int64_t id, const char *label, char *err, size_t errlen) {
    hr_store_label l = {.id = id, .label = label};
    long n = hr_store_labels_set(s, &l, 1, err, errlen);
    return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/* ---- JSON ------------------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v) {
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

void *hr_store_row_json(const hr_log_row *r, int64_t id) {
    cJSON *o = cJSON_CreateObject();
    if (!o) abort(); /* the project's OOM policy */
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddNumberToObject(o, "ts", (double)r->ts_ms);
    add_str(o, "request_id", r->request_id);
    add_str(o, "tier", r->tier);
    add_str(o, "model", r->model);
    add_str(o, "strategy", r->strategy);
    add_str(o, "reason", r->reason);
    cJSON_AddBoolToObject(o, "forced", r->forced);
    cJSON_AddBoolToObject(o, "stream", r->stream);
    add_num(o, "route_us", r->route_us);
    add_num(o, "latency_ms", r->latency_ms);
    add_num(o, "ttft_ms", r->ttft_ms);
    add_num(o, "prompt_tokens", r->prompt_tokens >= 0 ? (double)r->prompt_tokens : NAN);
    add_num(o, "completion_tokens", r->completion_tokens >= 0 ? (double)r->completion_tokens : NAN);
    cJSON_AddNumberToObject(o, "status", r->status);
    add_str(o, "error", r->error);
    add_str(o, "prompt", r->prompt);
    cJSON *att = r->attempts_json ? cJSON_Parse(r->attempts_json) : NULL;
    if (att) cJSON_AddItemToObject(o, "attempts", att);
    else add_str(o, "attempts", r->attempts_json);
    add_str(o, "label", r->label);
    return o;
}

typedef struct export_ctx {
    FILE *out;
    bool write_failed;
} export_ctx;

static int export_row(const hr_log_row *row, int64_t id, void *ud) {
    export_ctx *x = ud;
    cJSON *o = hr_store_row_json(row, id);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) abort();
    if (fputs(line, x->out) == EOF || fputc('\n', x->out) == EOF) x->write_failed = true;
    free(line);
    return x->write_failed;
}

long hr_store_export(hr_store *s, const hr_store_query *q, FILE *out, char *err, size_t errlen) {
    export_ctx x = {.out = out};
    long n = hr_store_query_rows(s, q, export_row, &x, err, errlen);
    if (n >= 0 && (x.write_failed || fflush(out) != 0 || ferror(out))) {
        set_err(err, errlen, "request log export: write failed: %s", strerror(errno));
        return -1;
    }
    return n;
}

long hr_store_export_jsonl(const hr_log_config *cfg, FILE *out, bool only_with_text, char *err, size_t errlen) {
    hr_store *s = hr_store_open_readonly(cfg, err, errlen);
    if (!s) return -1;
    hr_store_query q = {.only_with_text = only_with_text};
    long n = hr_store_export(s, &q, out, err, errlen);
    hr_store_close(s);
    return n;
}
