/* Request log, PostgreSQL backend (libpq): for several gateways sharing one
 * log. Same table and columns as the SQLite backend; the schema version lives
 * in table hr_schema_version (one row), and migrations run in one
 * transaction under an advisory lock, so gateways starting together do not
 * race. A batch is one multi-row INSERT statement: atomic by itself, one round
 * trip. Reads stream rows in libpq's single-row mode, so an export of a big
 * table does not hold it in memory. Values travel as text parameters. */
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/store_backend.h"

/* Arbitrary constant naming hermes-router's migration lock. */
#define MIGRATION_LOCK_KEY 0x68726c6f67LL /* "hrlog" */

static const char *const migrations[HR_STORE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE IF NOT EXISTS requests ("
    " id BIGSERIAL PRIMARY KEY,"
    " ts_ms BIGINT NOT NULL,"
    " request_id TEXT, tier TEXT NOT NULL DEFAULT '', model TEXT, strategy TEXT, reason TEXT,"
    " forced SMALLINT NOT NULL DEFAULT 0, stream SMALLINT NOT NULL DEFAULT 0,"
    " route_us DOUBLE PRECISION, latency_ms DOUBLE PRECISION, ttft_ms DOUBLE PRECISION,"
    " prompt_tokens BIGINT, completion_tokens BIGINT,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " error TEXT, prompt TEXT, attempts_json TEXT, label TEXT);"
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts_ms);"
    "CREATE INDEX IF NOT EXISTS requests_tier ON requests(tier);",
};

/* libpq messages end with a newline and may span lines: keep the first line. */
static void pg_err(char *err, size_t errlen, const char *what, const char *msg) {
    size_t n = strcspn(msg, "\n");
    snprintf(err, errlen, "postgres: %s: %.*s", what, (int)n, msg);
}

static void pg_close(void *c) {
    if (c) PQfinish(c);
}

/* Runs sql (no parameters); 0 if it returned ok/tuples. *out gets the result when asked. */
static int pg_exec(PGconn *c, const char *sql, PGresult **out, const char *what, char *err, size_t errlen) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_err(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (out) *out = r;
    else PQclear(r);
    return 0;
}

static int pg_version(PGconn *c, int *v, char *err, size_t errlen) {
    PGresult *r = NULL;
    if (pg_exec(c, "SELECT version FROM hr_schema_version", &r, "schema version", err, errlen)) return -1;
    *v = PQntuples(r) > 0 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return 0;
}

static int pg_migrate(PGconn *c, int *version, char *err, size_t errlen) {
    char sql[128];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATION_LOCK_KEY);
    if (pg_exec(c, sql, NULL, "migration lock", err, errlen)) return -1;
    int v = 0;
    if (pg_exec(c, "CREATE TABLE IF NOT EXISTS hr_schema_version (version INTEGER NOT NULL)", NULL, "schema version",
                err, errlen) ||
        pg_version(c, &v, err, errlen))
        goto fail;
    if (v > HR_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "postgres: request log schema version %d is newer than this build's (%d)", v,
                 HR_STORE_SCHEMA_VERSION);
        goto fail;
    }
    for (int from = v; v < HR_STORE_SCHEMA_VERSION; v++)
        if (pg_exec(c, migrations[v], NULL, from == 0 ? "create schema" : "migrate schema", err, errlen)) goto fail;
    snprintf(sql, sizeof sql,
             "DELETE FROM hr_schema_version; INSERT INTO hr_schema_version (version) VALUES (%d); COMMIT", v);
    if (pg_exec(c, sql, NULL, "schema version", err, errlen)) goto fail;
    *version = v;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

static void *pg_open(const hr_log_config *cfg, hr_store_mode mode, int *version, char *err, size_t errlen) {
    /* A default connect timeout so a dead server cannot hold the writer (and
     * close) for minutes; one given in the URL wins, as it is expanded later. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", "hermes-router", cfg->postgres_url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        pg_err(err, errlen, "cannot connect to the request log", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        pg_err(err, errlen, "client encoding", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    /* Quiet the NOTICEs of CREATE ... IF NOT EXISTS on an existing schema. */
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    if (mode == HR_STORE_RW) {
        if (pg_migrate(c, version, err, errlen)) {
            PQfinish(c);
            return NULL;
        }
        return c;
    }
    int v = 0;
    if (pg_version(c, &v, err, errlen) || v < 1) {
        snprintf(err, errlen, "postgres: the database holds no hermes-router request log");
        PQfinish(c);
        return NULL;
    }
    if (v > HR_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "postgres: request log schema version %d is newer than this build's (%d)", v,
                 HR_STORE_SCHEMA_VERSION);
        PQfinish(c);
        return NULL;
    }
    *version = v;
    return c;
}

#define NUM_LEN 32
#define NUMS_PER_ROW 9

static const char *num_i64(char *buf, long long v) {
    snprintf(buf, NUM_LEN, "%lld", v);
    return buf;
}

static const char *num_real(char *buf, double v) {
    if (!isfinite(v)) return NULL;
    snprintf(buf, NUM_LEN, "%.17g", v);
    return buf;
}

static int pg_insert_batch(void *conn, const hr_log_row *rows, size_t n, char *err, size_t errlen) {
    PGconn *c = conn;
    if (n == 0) return 0;
    hr_buf sql;
    hr_buf_init(&sql, 0);
    hr_buf_puts(&sql, "INSERT INTO requests (" HR_STORE_COLUMNS ") VALUES ");
    const char **vals = hr_xcalloc(n * HR_STORE_NCOLUMNS, sizeof *vals);
    char *nums = hr_xmalloc(n * NUMS_PER_ROW * NUM_LEN);
    for (size_t i = 0; i < n; i++) {
        const hr_log_row *r = &rows[i];
        const char **v = vals + i * HR_STORE_NCOLUMNS;
        char *nb = nums + i * NUMS_PER_ROW * NUM_LEN;
        v[0] = num_i64(nb + 0 * NUM_LEN, r->ts_ms);
        v[1] = r->request_id;
        v[2] = r->tier ? r->tier : "";
        v[3] = r->model;
        v[4] = r->strategy;
        v[5] = r->reason;
        v[6] = r->forced ? "1" : "0";
        v[7] = r->stream ? "1" : "0";
        v[8] = num_real(nb + 1 * NUM_LEN, r->route_us);
        v[9] = num_real(nb + 2 * NUM_LEN, r->latency_ms);
        v[10] = num_real(nb + 3 * NUM_LEN, r->ttft_ms);
        v[11] = r->prompt_tokens >= 0 ? num_i64(nb + 4 * NUM_LEN, r->prompt_tokens) : NULL;
        v[12] = r->completion_tokens >= 0 ? num_i64(nb + 5 * NUM_LEN, r->completion_tokens) : NULL;
        v[13] = num_i64(nb + 6 * NUM_LEN, r->status);
        v[14] = r->error;
        v[15] = r->prompt;
        v[16] = r->attempts_json;
        v[17] = r->label;
        hr_buf_puts(&sql, i ? ",(" : "(");
        for (int k = 0; k < HR_STORE_NCOLUMNS; k++)
            hr_buf_printf(&sql, "%s$%zu", k ? "," : "", i * HR_STORE_NCOLUMNS + (size_t)k + 1);
        hr_buf_puts(&sql, ")");
    }
    int ret = -1;
    /* One retry when the connection was lost (server restart): the statement is
     * atomic, so a failed attempt left nothing behind. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (PQstatus(c) != CONNECTION_OK) {
            PQreset(c);
            if (PQstatus(c) != CONNECTION_OK) {
                pg_err(err, errlen, "reconnect", PQerrorMessage(c));
                break;
            }
            PQsetClientEncoding(c, "UTF8");
        }
        PGresult *r = PQexecParams(c, sql.data, (int)(n * HR_STORE_NCOLUMNS), NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            ret = 0;
            break;
        }
        pg_err(err, errlen, "insert", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        if (PQstatus(c) == CONNECTION_OK) break; /* a real error, not a lost connection */
    }
    free(vals);
    free(nums);
    hr_buf_free(&sql);
    return ret;
}

static const char *val(const PGresult *r, int col) { return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col); }

static double val_real(const PGresult *r, int col) {
    const char *v = val(r, col);
    return v ? strtod(v, NULL) : (double)NAN;
}

static long long val_i64(const PGresult *r, int col, long long dflt) {
    const char *v = val(r, col);
    return v ? strtoll(v, NULL, 10) : dflt;
}

/* Discards what is left of a running query (after an early stop). */
static void pg_drain(PGconn *c) {
    PGcancel *cn = PQgetCancel(c);
    if (cn) {
        char buf[256];
        PQcancel(cn, buf, sizeof buf);
        PQfreeCancel(cn);
    }
    PGresult *r;
    while ((r = PQgetResult(c))) PQclear(r);
}

/* One attempt; *lost is set when the connection was found dead before any row came. */
static long pg_query_once(PGconn *c, const hr_store_query *q, hr_store_row_fn fn, void *ud, bool *lost, char *err,
                          size_t errlen) {
    const char *params[5];
    char since[NUM_LEN], until[NUM_LEN], limit[NUM_LEN];
    int np = 0;
    hr_buf sql;
    hr_buf_init(&sql, 0);
    hr_buf_puts(&sql, "SELECT id, " HR_STORE_COLUMNS " FROM requests WHERE true");
    if (q->since_ms) {
        params[np++] = num_i64(since, q->since_ms);
        hr_buf_printf(&sql, " AND ts_ms >= $%d", np);
    }
    if (q->until_ms) {
        params[np++] = num_i64(until, q->until_ms);
        hr_buf_printf(&sql, " AND ts_ms < $%d", np);
    }
    if (q->tier) {
        params[np++] = q->tier;
        hr_buf_printf(&sql, " AND tier = $%d", np);
    }
    if (q->only_with_text) hr_buf_puts(&sql, " AND status = 200 AND prompt IS NOT NULL");
    if (q->search && q->search[0]) {
        params[np++] = q->search;
        static const char *const cols[] = {"request_id", "model", "reason", "error", "prompt", "label"};
        hr_buf_puts(&sql, " AND (");
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
            hr_buf_printf(&sql, "%sstrpos(lower(%s), lower($%d)) > 0", i ? " OR " : "", cols[i], np);
        hr_buf_puts(&sql, ")");
    }
    hr_buf_puts(&sql, q->newest_first ? " ORDER BY ts_ms DESC, id DESC" : " ORDER BY ts_ms ASC, id ASC");
    if (q->limit) {
        params[np++] = num_i64(limit, q->limit > INT64_MAX ? INT64_MAX : (long long)q->limit);
        hr_buf_printf(&sql, " LIMIT $%d", np);
    }
    int ok = PQsendQueryParams(c, sql.data, np, NULL, params, NULL, NULL, 0);
    hr_buf_free(&sql);
    if (!ok) {
        pg_err(err, errlen, "query", PQerrorMessage(c));
        *lost = PQstatus(c) != CONNECTION_OK;
        return -1;
    }
    PQsetSingleRowMode(c);
    long n = 0;
    bool stopped = false, failed = false;
    PGresult *r;
    while (!stopped && !failed && (r = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            hr_log_row row = {
                .ts_ms = val_i64(r, 1, 0),
                .request_id = val(r, 2),
                .tier = val(r, 3),
                .model = val(r, 4),
                .strategy = val(r, 5),
                .reason = val(r, 6),
                .forced = val_i64(r, 7, 0) != 0,
                .stream = val_i64(r, 8, 0) != 0,
                .route_us = val_real(r, 9),
                .latency_ms = val_real(r, 10),
                .ttft_ms = val_real(r, 11),
                .prompt_tokens = (long)val_i64(r, 12, -1),
                .completion_tokens = (long)val_i64(r, 13, -1),
                .status = (int)val_i64(r, 14, 0),
                .error = val(r, 15),
                .prompt = val(r, 16),
                .attempts_json = val(r, 17),
                .label = val(r, 18),
            };
            n++;
            if (fn(&row, val_i64(r, 0, 0), ud)) stopped = true;
        } else if (st != PGRES_TUPLES_OK) {
            pg_err(err, errlen, "query", PQresultErrorMessage(r));
            failed = true;
        }
        PQclear(r);
    }
    if (stopped || failed) pg_drain(c);
    *lost = failed && n == 0 && PQstatus(c) != CONNECTION_OK;
    return failed ? -1 : n;
}

static long pg_query(void *conn, const hr_store_query *q, hr_store_row_fn fn, void *ud, char *err, size_t errlen) {
    PGconn *c = conn;
    bool lost = false;
    long n = pg_query_once(c, q, fn, ud, &lost, err, errlen);
    if (lost) { /* server restart or failover: one retry on a fresh connection */
        PQreset(c);
        if (PQstatus(c) != CONNECTION_OK) return -1;
        PQsetClientEncoding(c, "UTF8");
        n = pg_query_once(c, q, fn, ud, &lost, err, errlen);
    }
    return n;
}

#define STATS_SQL                                                                                  \
    "SELECT tier, status, COUNT(*), SUM(forced), SUM(prompt_tokens), SUM(completion_tokens),"      \
    " SUM(latency_ms), MIN(ts_ms), MAX(ts_ms) FROM requests"                                      \
    " WHERE ts_ms >= $1 AND ts_ms < $2 GROUP BY tier, status ORDER BY tier, status"

static int pg_stats(void *conn, int64_t since_ms, int64_t until_ms, hr_store_stats *out, char *err, size_t errlen) {
    PGconn *c = conn;
    char since[NUM_LEN], until[NUM_LEN];
    const char *params[2] = {num_i64(since, since_ms ? since_ms : INT64_MIN),
                             num_i64(until, until_ms ? until_ms : INT64_MAX)};
    PGresult *r = PQexecParams(c, STATS_SQL, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQstatus(c) != CONNECTION_OK) { /* one retry, as in query */
        PQclear(r);
        PQreset(c);
        PQsetClientEncoding(c, "UTF8");
        r = PQexecParams(c, STATS_SQL, 2, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_err(err, errlen, "stats", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
#define V(col) (PQgetisnull(r, i, col) ? "0" : PQgetvalue(r, i, col))
        hr_store_stats_add(out, PQgetvalue(r, i, 0), atoi(V(1)), strtoull(V(2), NULL, 10),
                           strtoull(V(3), NULL, 10), strtoull(V(4), NULL, 10), strtoull(V(5), NULL, 10),
                           strtod(V(6), NULL), strtoll(V(7), NULL, 10), strtoll(V(8), NULL, 10));
#undef V
    }
    PQclear(r);
    return 0;
}

static long pg_labels_set(void *conn, const hr_store_label *labels, size_t n, char *err, size_t errlen) {
    PGconn *c = conn;
    if (PQstatus(c) != CONNECTION_OK) { /* one reconnect, as the reads do */
        PQreset(c);
        PQsetClientEncoding(c, "UTF8");
    }
    if (pg_exec(c, "BEGIN", NULL, "set labels", err, errlen)) return -1;
    long changed = 0;
    for (size_t i = 0; i < n; i++) {
        char id[NUM_LEN];
        const char *params[2] = {labels[i].label, num_i64(id, labels[i].id)};
        PGresult *r = PQexecParams(c, "UPDATE requests SET label = $1 WHERE id = $2", 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pg_err(err, errlen, "set labels", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
            PQclear(r);
            PQclear(PQexec(c, "ROLLBACK"));
            return -1;
        }
        changed += atol(PQcmdTuples(r));
        PQclear(r);
    }
    if (pg_exec(c, "COMMIT", NULL, "set labels", err, errlen)) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return changed;
}

const hr_store_backend hr_store_pg_backend = {
    .name = "postgres",
    .open = pg_open,
    .insert_batch = pg_insert_batch,
    .query = pg_query,
    .stats = pg_stats,
    .close = pg_close,
    .labels_set = pg_labels_set,
};
