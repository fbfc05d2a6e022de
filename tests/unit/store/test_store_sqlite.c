/* Request log on SQLite: the shared cases (concurrent writers, drops, close,
 * reopen, queries, stats, export, odd text) plus what is SQLite's own: the
 * schema version pragma, WAL mode, refusing newer or foreign files, and a
 * writer killed mid-batch leaving a consistent log. */
#include "unit/store/store_cases.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];
static char g_path[128];

static void rm_db(void) {
    char p[160];
    unlink(g_path);
    snprintf(p, sizeof p, "%s-wal", g_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", g_path);
    unlink(p);
}

static void fresh_log(void) { rm_db(); }

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/hr-store-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_path, sizeof g_path, "%s/log.db", g_dir);
    memset(&g_cfg, 0, sizeof g_cfg);
    g_cfg.enabled = true;
    g_cfg.sqlite_path = g_path;
    g_cfg.capture_text = true;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rm_db();
    rmdir(g_dir);
    return 0;
}

static sqlite3 *raw_open(void) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    return db;
}

static long long raw_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t n) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void test_sqlite_schema(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    assert_string_equal(hr_store_backend_name(s), "sqlite");
    assert_int_equal(hr_store_schema_version(s), HR_STORE_SCHEMA_VERSION);
    hr_store_close(s);

    sqlite3 *db = raw_open();
    char buf[64];
    assert_int_equal(raw_int(db, "PRAGMA user_version"), HR_STORE_SCHEMA_VERSION);
    raw_text(db, "PRAGMA journal_mode", buf, sizeof buf);
    assert_string_equal(buf, "wal");
    /* one column per hr_log_row field + id */
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM pragma_table_info('requests')"), 19);
    /* one index (ts_ms, for time ranges and order); id is the rowid, no
     * AUTOINCREMENT (no sqlite_sequence table written per insert) */
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name LIKE 'requests_%'"),
                     1);
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='requests_ts'"), 1);
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='sqlite_sequence'"), 0);
    sqlite3_close(db);
}

typedef struct id_ctx {
    long n;
    int64_t last_id;
    bool increasing;
} id_ctx;

static int id_row(const hr_log_row *r, int64_t id, void *ud) {
    check_row(r);
    id_ctx *c = ud;
    if (id <= c->last_id) c->increasing = false;
    c->last_id = id;
    c->n++;
    return 0;
}

/* A log created by an earlier build (AUTOINCREMENT id, index on tier) is
 * used as it is: no migration, rows written and read back, ids growing. */
static void test_sqlite_earlier_schema(void **state) {
    (void)state;
    fresh_log();
    sqlite3 *db = raw_open();
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL;"
                                  "CREATE TABLE requests ("
                                  " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                                  " ts_ms INTEGER NOT NULL,"
                                  " request_id TEXT, tier TEXT NOT NULL DEFAULT '', model TEXT, strategy TEXT,"
                                  " reason TEXT, forced INTEGER NOT NULL DEFAULT 0, stream INTEGER NOT NULL DEFAULT 0,"
                                  " route_us REAL, latency_ms REAL, ttft_ms REAL,"
                                  " prompt_tokens INTEGER, completion_tokens INTEGER,"
                                  " status INTEGER NOT NULL DEFAULT 0,"
                                  " error TEXT, prompt TEXT, attempts_json TEXT, label TEXT);"
                                  "CREATE INDEX requests_ts ON requests(ts_ms);"
                                  "CREATE INDEX requests_tier ON requests(tier);"
                                  "PRAGMA user_version = 1;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    hr_store *s = open_log(NULL);
    write_gen(s, 0, 0, 40);
    hr_store_close(s);
    s = open_log(NULL);
    write_gen(s, 0, 40, 57);
    hr_store_flush(s);
    id_ctx c = {.increasing = true};
    hr_store_query q = {0};
    char err[256] = "";
    assert_int_equal(hr_store_query_rows(s, &q, id_row, &c, err, sizeof err), 57);
    assert_true(c.increasing);
    assert_int_equal(c.n, 57);
    hr_store_close(s);

    db = raw_open();
    assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='requests_tier'"), 1);
    assert_int_equal(raw_int(db, "SELECT seq FROM sqlite_sequence WHERE name='requests'"), 57);
    sqlite3_close(db);
}

static void test_sqlite_refuses_newer_and_foreign(void **state) {
    (void)state;
    char err[512] = "";
    /* missing file: read-only open fails, naming the path */
    fresh_log();
    assert_null(hr_store_open_readonly(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, g_path));

    /* a SQLite file that is not a log */
    sqlite3 *db = raw_open();
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE other(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(hr_store_open_readonly(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "not a hermes-router request log"));

    /* written by a newer build */
    db = raw_open();
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(hr_store_open(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
    assert_null(hr_store_open_readonly(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "newer"));

    /* unwritable location */
    hr_log_config bad = g_cfg;
    bad.sqlite_path = "/nonexistent-dir/x/log.db";
    assert_null(hr_store_open(&bad, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/x/log.db"));
}

/* Rows in id order must be req-0-0, req-0-1, ... with no gap: batches commit
 * whole, in order. */
typedef struct prefix_ctx {
    long n;
    bool ok;
} prefix_ctx;

static int prefix_row(const hr_log_row *r, int64_t id, void *ud) {
    (void)id;
    prefix_ctx *c = ud;
    check_row(r);
    char want[48];
    snprintf(want, sizeof want, "req-0-%ld", c->n);
    if (strcmp(want, r->request_id) != 0) c->ok = false;
    c->n++;
    return 0;
}

static void test_sqlite_crash_mid_batch(void **state) {
    (void)state;
    fresh_log();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hr_store_options o = {.batch_rows = 50, .batch_ms = 0};
        char err[256];
        hr_store *s = hr_store_open_ex(&g_cfg, &o, err, sizeof err);
        if (!s) _exit(3);
        write_gen(s, 0, 0, 200);
        hr_store_flush(s);
        write_gen(s, 0, 200, 3000); /* the writer is busy committing these... */
        kill(getpid(), SIGKILL);    /* ...when the process dies */
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    sqlite3 *db = raw_open();
    char buf[64];
    raw_text(db, "PRAGMA integrity_check", buf, sizeof buf);
    assert_string_equal(buf, "ok");
    sqlite3_close(db);

    hr_store *s = open_log(NULL);
    prefix_ctx c = {.ok = true};
    hr_store_query q = {0};
    char err[256] = "";
    /* ts_ms grows with i, so oldest-first is id order here */
    assert_true(hr_store_query_rows(s, &q, prefix_row, &c, err, sizeof err) >= 200);
    assert_true(c.ok);
    assert_true(c.n >= 200 && c.n <= 3000);
    hr_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        STORE_COMMON_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_earlier_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_refuses_newer_and_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_crash_mid_batch, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
