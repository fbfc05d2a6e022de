/* Request log on PostgreSQL, against a real server: the shared cases plus
 * what is PostgreSQL's own (schema version table, several gateways opening
 * and writing one database at once, reconnecting after the server dropped
 * the connection).
 *
 * Server: HR_TEST_PG_URL if set (a scratch database: the test DROPs the
 * tables `requests` and `hr_schema_version` in it); otherwise the test starts
 * a throwaway cluster (initdb into a temp dir, pg_ctl start listening on a
 * Unix socket in that dir only, fsync off) from $HR_PG_BINDIR, else
 * /usr/lib/postgresql/<v>/bin, else PATH, as user postgres when running as root, and removes it at the end.
 * Every case is SKIPPED when no PostgreSQL server binaries are installed. */
#include "unit/store/store_cases.h"

#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_bindir[256];
static char g_dir[64];
static char g_url[256];
static char g_runas[64]; /* "runuser -u postgres -- " when root */
static bool g_have_server;
static bool g_started;

static bool find_bindir(void) {
    const char *env = getenv("HR_PG_BINDIR");
    if (env && env[0]) { /* explicit choice, also how the skip path is checked */
        char initdb[300];
        snprintf(g_bindir, sizeof g_bindir, "%s", env);
        snprintf(initdb, sizeof initdb, "%s/initdb", g_bindir);
        return access(initdb, X_OK) == 0;
    }
    glob_t gl;
    bool found = false;
    if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &gl) == 0 && gl.gl_pathc > 0) {
        /* highest version; glob sorts, so compare numerically */
        int best = -1;
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            int v = atoi(gl.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
            if (v > best) {
                best = v;
                snprintf(g_bindir, sizeof g_bindir, "%.*s", (int)(strlen(gl.gl_pathv[i]) - strlen("/pg_ctl")),
                         gl.gl_pathv[i]);
            }
        }
        found = true;
    }
    globfree(&gl);
    if (found) return true;
    FILE *p = popen("command -v pg_ctl 2>/dev/null", "r");
    if (!p) return false;
    char line[256] = "";
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        char *slash = strrchr(line, '/');
        if (slash) {
            *slash = '\0';
            snprintf(g_bindir, sizeof g_bindir, "%s", line);
            found = true;
        }
    }
    pclose(p);
    if (!found) return false;
    char initdb[300];
    snprintf(initdb, sizeof initdb, "%s/initdb", g_bindir);
    return access(initdb, X_OK) == 0;
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) fprintf(stderr, "  %s", line);
    fclose(f);
}

static int group_setup(void **state) {
    (void)state;
    memset(&g_cfg, 0, sizeof g_cfg);
    g_cfg.enabled = true;
    g_cfg.capture_text = true;
    g_cfg.sqlite_path = "unused.db";
    const char *ext = getenv("HR_TEST_PG_URL");
    if (ext && ext[0]) {
        snprintf(g_url, sizeof g_url, "%s", ext);
        g_cfg.postgres_url = g_url;
        g_have_server = true;
        return 0;
    }
    if (!find_bindir()) {
        fprintf(stderr, "test_store_pg: no PostgreSQL server binaries installed: skipping\n");
        return 0;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "test_store_pg: running as root and no 'postgres' user to run the server: skipping\n");
            return 0;
        }
        snprintf(g_runas, sizeof g_runas, "runuser -u postgres -- ");
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/hr-pg-XXXXXX"); /* short: the socket path has a length limit */
    if (!mkdtemp(g_dir)) return -1;
    if (g_runas[0]) {
        struct passwd *pw = getpwnam("postgres");
        if (chown(g_dir, pw->pw_uid, pw->pw_gid) != 0) return -1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s'%s/initdb' -D '%s/data' -A trust -U postgres --no-sync -E UTF8 --locale=C >'%s/initdb.log' 2>&1",
             g_runas, g_bindir, g_dir, g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_store_pg: initdb failed:\n");
        snprintf(cmd, sizeof cmd, "%s/initdb.log", g_dir);
        print_file(cmd);
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "%s'%s/pg_ctl' -D '%s/data' -l '%s/server.log' -w -t 60 -o \"-k %s -c listen_addresses='' "
             "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=40\" start >/dev/null",
             g_runas, g_bindir, g_dir, g_dir, g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_store_pg: pg_ctl start failed:\n");
        snprintf(cmd, sizeof cmd, "%s/server.log", g_dir);
        print_file(cmd);
        return -1;
    }
    g_started = true;
    snprintf(g_url, sizeof g_url, "postgresql:///postgres?host=%s&user=postgres&connect_timeout=10", g_dir);
    g_cfg.postgres_url = g_url;
    g_have_server = true;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (!g_dir[0]) return 0;
    char cmd[1024];
    if (g_started) {
        snprintf(cmd, sizeof cmd, "%s'%s/pg_ctl' -D '%s/data' -m immediate -w stop >/dev/null 2>&1", g_runas,
                 g_bindir, g_dir);
        if (system(cmd) != 0) fprintf(stderr, "test_store_pg: pg_ctl stop failed\n");
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static PGconn *admin(void) {
    PGconn *c = PQconnectdb(g_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("admin connection: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static void admin_exec(const char *sql) {
    PGconn *c = admin();
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static long admin_int(const char *sql) {
    PGconn *c = admin();
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Every case starts here, so this is where a missing server skips it
 * (cmocka treats skip() in a setup function as an error). */
static void fresh_log(void) {
    if (!g_have_server) skip();
    admin_exec("DROP TABLE IF EXISTS requests; DROP TABLE IF EXISTS hr_schema_version");
}

static int setup(void **state) {
    (void)state;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return 0;
}

static void test_pg_schema(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    assert_string_equal(hr_store_backend_name(s), "postgres");
    assert_int_equal(hr_store_schema_version(s), HR_STORE_SCHEMA_VERSION);
    hr_store_close(s);
    assert_int_equal(admin_int("SELECT version FROM hr_schema_version"), HR_STORE_SCHEMA_VERSION);
    assert_int_equal(admin_int("SELECT COUNT(*) FROM hr_schema_version"), 1);
    assert_int_equal(admin_int("SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'requests'"), 19);
    assert_int_equal(admin_int("SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'requests' AND indexname IN "
                               "('requests_ts', 'requests_tier')"),
                     2);
    /* reopening an existing log changes nothing */
    s = open_log(NULL);
    hr_store_close(s);
    assert_int_equal(admin_int("SELECT COUNT(*) FROM hr_schema_version"), 1);
}

static void test_pg_refuses_newer_and_missing(void **state) {
    (void)state;
    char err[512] = "";
    fresh_log();
    assert_null(hr_store_open_readonly(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "no hermes-router request log"));

    hr_store_close(open_log(NULL));
    admin_exec("UPDATE hr_schema_version SET version = 99");
    assert_null(hr_store_open(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
    assert_null(hr_store_open_readonly(&g_cfg, err, sizeof err));
    assert_non_null(strstr(err, "newer"));

    hr_log_config bad = g_cfg;
    bad.postgres_url = "postgresql:///postgres?host=/nonexistent-hr-dir&connect_timeout=2";
    assert_null(hr_store_open(&bad, err, sizeof err));
    assert_non_null(strstr(err, "cannot connect"));
    assert_null(strchr(err, '\n'));
}

/* Several gateways: each opens its own store on the same fresh database at
 * the same moment (the schema is created once), then writes concurrently. */
typedef struct gw_arg {
    int t;
    char err[512];
    bool ok;
} gw_arg;

static void *gateway_thread(void *p) {
    gw_arg *a = p;
    hr_store *s = hr_store_open(&g_cfg, a->err, sizeof a->err);
    if (!s) return NULL;
    write_gen(s, a->t, 0, N_PER_THREAD);
    hr_store_close(s);
    a->ok = true;
    return NULL;
}

static void test_pg_shared_by_gateways(void **state) {
    (void)state;
    fresh_log();
    pthread_t th[N_THREADS];
    gw_arg args[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].t = t;
        assert_int_equal(pthread_create(&th[t], NULL, gateway_thread, &args[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        if (!args[t].ok) fail_msg("gateway %d: %s", t, args[t].err);
    }
    assert_int_equal(admin_int("SELECT COUNT(*) FROM hr_schema_version"), 1);
    char err[256] = "";
    hr_store *r = hr_store_open_readonly(&g_cfg, err, sizeof err);
    assert_non_null(r);
    static seen sn;
    memset(&sn, 0, sizeof sn);
    sn.ordered = true;
    assert_int_equal(hr_store_query_rows(r, NULL, seen_row, &sn, err, sizeof err), N_THREADS * N_PER_THREAD);
    assert_true(sn.ordered);
    hr_store_close(r);
}

static void test_pg_reconnects(void **state) {
    (void)state;
    fresh_log();
    hr_store *s = open_log(NULL);
    write_gen(s, 0, 0, 10);
    hr_store_flush(s);
    assert_int_equal(count_rows(s), 10);
    /* the server drops every other connection (as on a restart or failover) */
    admin_int("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
              "WHERE pid <> pg_backend_pid() AND datname = current_database()");
    write_gen(s, 0, 10, 20);
    hr_store_flush(s);
    assert_int_equal(hr_store_written(s), 20);
    assert_int_equal(hr_store_failed(s), 0);
    /* the read connection was dropped too: reads reconnect as well */
    assert_int_equal(count_rows(s), 20);
    admin_int("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
              "WHERE pid <> pg_backend_pid() AND datname = current_database()");
    hr_store_stats st;
    char err[256] = "";
    assert_int_equal(hr_store_stats_get(s, 0, 0, &st, err, sizeof err), 0);
    assert_int_equal(st.requests, 20);
    hr_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        STORE_COMMON_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_refuses_newer_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_shared_by_gateways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnects, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_pg", tests, group_setup, group_teardown);
}
