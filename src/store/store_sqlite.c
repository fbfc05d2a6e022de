/* Request log, SQLite backend: one file in WAL mode (readers never block the
 * writer), synchronous=NORMAL (a power cut may lose the last commits, never
 * corrupts), busy_timeout so a second process (an export) waits instead of
 * failing. The schema version is PRAGMA user_version; migrations[v] takes a
 * log from version v to v+1, inside one IMMEDIATE transaction.
 *
 * Connections are opened without SQLite's per-connection mutex
 * (SQLITE_OPEN_NOMUTEX): store.c uses each one from one thread at a time. */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "store/store_backend.h"

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[HR_STORE_SCHEMA_VERSION] = {
    /* 0 -> 1. id is the rowid (ids only grow: rows are never deleted), no
     * AUTOINCREMENT: that wrote the sqlite_sequence row on every insert. One
     * index, on ts_ms (the time ranges and orders of query and stats); a tier
     * filter has three values to tell apart, so an index on tier saved
     * little and cost an index update per row. Logs created before keep their
     * AUTOINCREMENT and requests_tier (both still work: nothing migrates). */
    "CREATE TABLE IF NOT EXISTS requests ("
    " id INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " request_id TEXT, tier TEXT NOT NULL DEFAULT '', model TEXT, strategy TEXT, reason TEXT,"
    " forced INTEGER NOT NULL DEFAULT 0, stream INTEGER NOT NULL DEFAULT 0,"
    " route_us REAL, latency_ms REAL, ttft_ms REAL,"
    " prompt_tokens INTEGER, completion_tokens INTEGER,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " error TEXT, prompt TEXT, attempts_json TEXT, label TEXT);"
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts_ms);",
};

/* Rows per INSERT statement: one statement per row cost ~2x the per-row work
 * (statement start and halt). */
#define ROWS_PER_INSERT 16
#define N_COLS 18

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *insert;  /* one row; prepared on first insert */
    sqlite3_stmt *insert_n; /* ROWS_PER_INSERT rows */
    sqlite3_stmt *begin, *commit, *rollback; /* the writer's transaction, prepared once */
    char *path;
} sq_conn;

static void sq_close(void *c) {
    sq_conn *s = c;
    if (!s) return;
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->insert_n);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

static int sq_exec(sq_conn *s, const char *sql, char *err, size_t errlen) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    snprintf(err, errlen, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
}

static int sq_user_version(sq_conn *s, int *v, char *err, size_t errlen) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -1;
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int sq_migrate(sq_conn *s, int *version, char *err, size_t errlen) {
    if (sq_exec(s, "BEGIN IMMEDIATE", err, errlen)) return -1;
    int v = 0;
    if (sq_user_version(s, &v, err, errlen)) goto fail;
    if (v > HR_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: request log schema version %d is newer than this build's (%d)", s->path, v,
                 HR_STORE_SCHEMA_VERSION);
        goto fail;
    }
    for (; v < HR_STORE_SCHEMA_VERSION; v++)
        if (sq_exec(s, migrations[v], err, errlen)) goto fail;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    if (sq_exec(s, sql, err, errlen) || sq_exec(s, "COMMIT", err, errlen)) goto fail;
    *version = v;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void *sq_open(const hr_log_config *cfg, hr_store_mode mode, int *version, char *err, size_t errlen) {
    sq_conn *s = hr_xcalloc(1, sizeof *s);
    s->path = hr_xstrdup(cfg->sqlite_path);
    if (mode == HR_STORE_RO && access(s->path, F_OK) != 0) {
        snprintf(err, errlen, "%s: no such request log", s->path);
        sq_close(s);
        return NULL;
    }
    int flags = (mode == HR_STORE_RO ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open request log: %s", s->path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (mode == HR_STORE_RW) {
        if (sq_exec(s, "PRAGMA journal_mode=WAL", err, errlen) || sq_exec(s, "PRAGMA synchronous=NORMAL", err, errlen) ||
            sq_migrate(s, version, err, errlen)) {
            sq_close(s);
            return NULL;
        }
        return s;
    }
    int v = 0;
    if (sq_user_version(s, &v, err, errlen)) {
        sq_close(s);
        return NULL;
    }
    if (v < 1 || v > HR_STORE_SCHEMA_VERSION) {
        if (v < 1) snprintf(err, errlen, "%s: not a hermes-router request log (schema version 0)", s->path);
        else
            snprintf(err, errlen, "%s: request log schema version %d is newer than this build's (%d)", s->path, v,
                     HR_STORE_SCHEMA_VERSION);
        sq_close(s);
        return NULL;
    }
    *version = v;
    return s;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static void bind_count(sqlite3_stmt *st, int i, long v) {
    if (v >= 0) sqlite3_bind_int64(st, i, v);
    else sqlite3_bind_null(st, i);
}

/* Binds row r at parameters o+1 .. o+N_COLS. */
static void bind_row(sqlite3_stmt *st, int o, const hr_log_row *r) {
    sqlite3_bind_int64(st, o + 1, r->ts_ms);
    bind_text(st, o + 2, r->request_id);
    bind_text(st, o + 3, r->tier ? r->tier : "");
    bind_text(st, o + 4, r->model);
    bind_text(st, o + 5, r->strategy);
    bind_text(st, o + 6, r->reason);
    sqlite3_bind_int(st, o + 7, r->forced);
    sqlite3_bind_int(st, o + 8, r->stream);
    bind_real(st, o + 9, r->route_us);
    bind_real(st, o + 10, r->latency_ms);
    bind_real(st, o + 11, r->ttft_ms);
    bind_count(st, o + 12, r->prompt_tokens);
    bind_count(st, o + 13, r->completion_tokens);
    sqlite3_bind_int(st, o + 14, r->status);
    bind_text(st, o + 15, r->error);
    bind_text(st, o + 16, r->prompt);
    bind_text(st, o + 17, r->attempts_json);
    bind_text(st, o + 18, r->label);
}

static int prepare_insert(sq_conn *s, int rows, sqlite3_stmt **st, char *err, size_t errlen) {
    if (*st) return 0;
    hr_buf sql;
    hr_buf_init(&sql, 0);
    hr_buf_puts(&sql, "INSERT INTO requests (" HR_STORE_COLUMNS ") VALUES ");
    for (int i = 0; i < rows; i++) hr_buf_puts(&sql, i ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    int rc = sqlite3_prepare_v2(s->db, sql.data, -1, st, NULL);
    hr_buf_free(&sql);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int prepare_once(sq_conn *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen) {
    if (*st) return 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK) return 0;
    snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
    return -1;
}

/* Runs a prepared statement without rows (BEGIN, COMMIT, ROLLBACK); errors read like sq_exec's. */
static int step_done(sq_conn *s, sqlite3_stmt *st, char *err, size_t errlen) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && err) snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void sq_rollback(sq_conn *s) {
    if (sqlite3_get_autocommit(s->db)) return; /* no transaction left open */
    if (s->rollback) step_done(s, s->rollback, NULL, 0);
    else sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_insert_batch(void *c, const hr_log_row *rows, size_t n, char *err, size_t errlen) {
    sq_conn *s = c;
    if (prepare_insert(s, 1, &s->insert, err, errlen) || prepare_insert(s, ROWS_PER_INSERT, &s->insert_n, err, errlen) ||
        prepare_once(s, "BEGIN IMMEDIATE", &s->begin, err, errlen) || prepare_once(s, "COMMIT", &s->commit, err, errlen) ||
        prepare_once(s, "ROLLBACK", &s->rollback, err, errlen))
        return -1;
    if (step_done(s, s->begin, err, errlen)) return -1;
    for (size_t i = 0; i < n;) {
        bool many = n - i >= ROWS_PER_INSERT;
        sqlite3_stmt *st = many ? s->insert_n : s->insert;
        int k = many ? ROWS_PER_INSERT : 1;
        for (int j = 0; j < k; j++) bind_row(st, j * N_COLS, &rows[i + (size_t)j]);
        /* every parameter is bound for every row: no sqlite3_clear_bindings */
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            snprintf(err, errlen, "%s: insert: %s", s->path, sqlite3_errmsg(s->db));
            sq_rollback(s);
            return -1;
        }
        i += (size_t)k;
    }
    if (step_done(s, s->commit, err, errlen)) {
        sq_rollback(s);
        return -1;
    }
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(st, i);
}

static long col_count(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(st, i);
}

static long sq_query(void *c, const hr_store_query *q, hr_store_row_fn fn, void *ud, char *err, size_t errlen) {
    sq_conn *s = c;
    hr_buf sql;
    hr_buf_init(&sql, 0);
    hr_buf_puts(&sql, "SELECT id, " HR_STORE_COLUMNS " FROM requests WHERE 1=1");
    if (q->since_ms) hr_buf_puts(&sql, " AND ts_ms >= ?1");
    if (q->until_ms) hr_buf_puts(&sql, " AND ts_ms < ?2");
    if (q->tier) hr_buf_puts(&sql, " AND tier = ?3");
    if (q->only_with_text) hr_buf_puts(&sql, " AND status = 200 AND prompt IS NOT NULL");
    bool search = q->search && q->search[0];
    if (search)
        hr_buf_puts(&sql, " AND (instr(lower(request_id), lower(?4)) > 0 OR instr(lower(model), lower(?4)) > 0"
                          " OR instr(lower(reason), lower(?4)) > 0 OR instr(lower(error), lower(?4)) > 0"
                          " OR instr(lower(prompt), lower(?4)) > 0 OR instr(lower(label), lower(?4)) > 0)");
    hr_buf_puts(&sql, q->newest_first ? " ORDER BY ts_ms DESC, id DESC" : " ORDER BY ts_ms ASC, id ASC");
    if (q->limit) hr_buf_puts(&sql, " LIMIT ?5");

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: query: %s", s->path, sqlite3_errmsg(s->db));
        hr_buf_free(&sql);
        return -1;
    }
    hr_buf_free(&sql);
    if (q->since_ms) sqlite3_bind_int64(st, 1, q->since_ms);
    if (q->until_ms) sqlite3_bind_int64(st, 2, q->until_ms);
    if (q->tier) sqlite3_bind_text(st, 3, q->tier, -1, SQLITE_STATIC);
    if (search) sqlite3_bind_text(st, 4, q->search, -1, SQLITE_STATIC);
    if (q->limit) sqlite3_bind_int64(st, 5, q->limit > INT64_MAX ? INT64_MAX : (int64_t)q->limit);

    long n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        hr_log_row r = {
            .ts_ms = sqlite3_column_int64(st, 1),
            .request_id = col_text(st, 2),
            .tier = col_text(st, 3),
            .model = col_text(st, 4),
            .strategy = col_text(st, 5),
            .reason = col_text(st, 6),
            .forced = sqlite3_column_int(st, 7) != 0,
            .stream = sqlite3_column_int(st, 8) != 0,
            .route_us = col_real(st, 9),
            .latency_ms = col_real(st, 10),
            .ttft_ms = col_real(st, 11),
            .prompt_tokens = col_count(st, 12),
            .completion_tokens = col_count(st, 13),
            .status = sqlite3_column_int(st, 14),
            .error = col_text(st, 15),
            .prompt = col_text(st, 16),
            .attempts_json = col_text(st, 17),
            .label = col_text(st, 18),
        };
        n++;
        if (fn(&r, sqlite3_column_int64(st, 0), ud)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: query: %s", s->path, sqlite3_errmsg(s->db));
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

static int sq_stats(void *c, int64_t since_ms, int64_t until_ms, hr_store_stats *out, char *err, size_t errlen) {
    sq_conn *s = c;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT tier, status, COUNT(*), SUM(forced), SUM(prompt_tokens), SUM(completion_tokens),"
                           " SUM(latency_ms), MIN(ts_ms), MAX(ts_ms) FROM requests"
                           " WHERE ts_ms >= ?1 AND ts_ms < ?2 GROUP BY tier, status ORDER BY tier, status",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: stats: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, since_ms ? since_ms : INT64_MIN);
    sqlite3_bind_int64(st, 2, until_ms ? until_ms : INT64_MAX);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        hr_store_stats_add(out, col_text(st, 0), sqlite3_column_int(st, 1), (uint64_t)sqlite3_column_int64(st, 2),
                           (uint64_t)sqlite3_column_int64(st, 3), (uint64_t)sqlite3_column_int64(st, 4),
                           (uint64_t)sqlite3_column_int64(st, 5), sqlite3_column_double(st, 6),
                           sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8));
    int ret = 0;
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: stats: %s", s->path, sqlite3_errmsg(s->db));
        ret = -1;
    }
    sqlite3_finalize(st);
    return ret;
}

static long sq_labels_set(void *c, const hr_store_label *labels, size_t n, char *err, size_t errlen) {
    sq_conn *s = c;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE requests SET label = ?1 WHERE id = ?2", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: set labels: %s", s->path, sqlite3_errmsg(s->db));
        return -1;
    }
    if (sq_exec(s, "BEGIN IMMEDIATE", err, errlen)) {
        sqlite3_finalize(st);
        return -1;
    }
    long changed = 0;
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, labels[i].label);
        sqlite3_bind_int64(st, 2, labels[i].id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            snprintf(err, errlen, "%s: set labels: %s", s->path, sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        changed += sqlite3_changes(s->db);
    }
    sqlite3_finalize(st);
    if (sq_exec(s, "COMMIT", err, errlen)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return changed;
}

const hr_store_backend hr_store_sqlite_backend = {
    .name = "sqlite",
    .open = sq_open,
    .insert_batch = sq_insert_batch,
    .query = sq_query,
    .stats = sq_stats,
    .close = sq_close,
    .labels_set = sq_labels_set,
};
