/* `hermes-router log export|stats` run as a program ($HR_BIN) on a SQLite log
 * this test writes through the store: every row comes back as one JSON line,
 * --with-text filters, --out is all-or-nothing, --config takes the log from
 * the YAML, usage errors exit 2 and runtime errors exit 1 with one line.
 * Skipped when the binary has not been built. */
#include "unit/store/store_cases.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];
static char g_path[128];
static const char *g_bin;

static void fresh_log(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*", g_dir);
    assert_int_equal(system(cmd), 0);
}

static int group_setup(void **state) {
    (void)state;
    g_bin = getenv("HR_BIN");
    snprintf(g_dir, sizeof g_dir, "/tmp/hr-logcli-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_path, sizeof g_path, "%s/log.db", g_dir);
    memset(&g_cfg, 0, sizeof g_cfg);
    g_cfg.enabled = true;
    g_cfg.sqlite_path = g_path;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void need_bin(void) {
    if (!g_bin || access(g_bin, X_OK) != 0) {
        fprintf(stderr, "test_log_cli: HR_BIN (%s) not built: skipping\n", g_bin ? g_bin : "unset");
        skip();
    }
}

/* Runs the binary with args (a shell fragment); stdout to out_path if given,
 * stderr to err_path. Returns the exit status. */
static int run(const char *args, const char *out_path, const char *err_path) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' log %s >'%s' 2>'%s'", g_bin, args, out_path ? out_path : "/dev/null", err_path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void read_file(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
}

static void make_log(void) {
    fresh_log();
    hr_store *s = open_log(NULL);
    write_gen(s, 2, 0, 40);
    hr_store_close(s);
}

static void test_export_to_stdout_and_file(void **state) {
    (void)state;
    need_bin();
    make_log();
    char args[512], out[160], err[160], msg[512];
    snprintf(out, sizeof out, "%s/out.jsonl", g_dir);
    snprintf(err, sizeof err, "%s/err.txt", g_dir);

    snprintf(args, sizeof args, "export --db '%s'", g_path);
    assert_int_equal(run(args, out, err), 0);
    FILE *f = fopen(out, "r");
    assert_int_equal(check_jsonl(f, false), 40);
    fclose(f);

    char file[160];
    snprintf(file, sizeof file, "%s/export.jsonl", g_dir);
    snprintf(args, sizeof args, "export --db '%s' --with-text --out '%s'", g_path, file);
    assert_int_equal(run(args, NULL, err), 0);
    f = fopen(file, "r");
    assert_int_equal(check_jsonl(f, true), 32);
    fclose(f);
    read_file(err, msg, sizeof msg);
    assert_non_null(strstr(msg, "exported 32 requests"));
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */
}

static void test_export_from_config(void **state) {
    (void)state;
    need_bin();
    make_log();
    char yaml[160], args[512], out[160], err[160];
    snprintf(yaml, sizeof yaml, "%s/config.yaml", g_dir);
    FILE *y = fopen(yaml, "w");
    assert_non_null(y);
    fprintf(y,
            "tiers:\n  small:\n    backends:\n      - { type: openai, url: http://127.0.0.1:9/v1, model: m }\n"
            "log:\n  sqlite: %s\n  capture_text: true\n",
            g_path);
    fclose(y);
    snprintf(out, sizeof out, "%s/out.jsonl", g_dir);
    snprintf(err, sizeof err, "%s/err.txt", g_dir);
    snprintf(args, sizeof args, "export --config '%s'", yaml);
    int rc = run(args, out, err);
    if (rc != 0) {
        char msg[512];
        read_file(err, msg, sizeof msg);
        fail_msg("log export --config: exit %d: %s", rc, msg);
    }
    FILE *f = fopen(out, "r");
    assert_int_equal(check_jsonl(f, false), 40);
    fclose(f);
}

static void test_stats(void **state) {
    (void)state;
    need_bin();
    make_log();
    char args[512], out[160], err[160], text[4096];
    snprintf(out, sizeof out, "%s/stats.txt", g_dir);
    snprintf(err, sizeof err, "%s/err.txt", g_dir);
    snprintf(args, sizeof args, "stats --db '%s'", g_path);
    assert_int_equal(run(args, out, err), 0);
    read_file(out, text, sizeof text);
    /* t = 2: tier of row i is tiers[(2 + i) % 3]; 40 rows -> large 14, medium 13, small 13 */
    assert_non_null(strstr(text, "large"));
    assert_non_null(strstr(text, "medium"));
    assert_non_null(strstr(text, "small"));
    char *total = strstr(text, "total");
    assert_non_null(total);
    unsigned long long n = 0;
    assert_int_equal(sscanf(total, "total %llu", &n), 1);
    assert_int_equal(n, 40);
    unsigned long long large = 0;
    assert_int_equal(sscanf(strstr(text, "large"), "large %llu", &large), 1);
    assert_int_equal(large, 14);
}

static void test_errors(void **state) {
    (void)state;
    need_bin();
    make_log();
    char args[512], err[160], msg[512];
    snprintf(err, sizeof err, "%s/err.txt", g_dir);

    /* usage errors: 2 */
    assert_int_equal(run("", NULL, err), 2);
    assert_int_equal(run("frobnicate", NULL, err), 2);
    assert_int_equal(run("export --bogus", NULL, err), 2);
    assert_int_equal(run("export --db", NULL, err), 2);
    snprintf(args, sizeof args, "export --db '%s' --postgres postgresql:///x", g_path);
    assert_int_equal(run(args, NULL, err), 2);
    read_file(err, msg, sizeof msg);
    assert_non_null(strstr(msg, "alternatives"));
    assert_int_equal(run("--help", NULL, err), 0);

    /* runtime errors: 1, one line naming what is wrong */
    snprintf(args, sizeof args, "export --db '%s/missing.db'", g_dir);
    assert_int_equal(run(args, NULL, err), 1);
    read_file(err, msg, sizeof msg);
    assert_non_null(strstr(msg, "missing.db: no such request log"));
    assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);

    snprintf(args, sizeof args, "export --config '%s/missing.yaml'", g_dir);
    assert_int_equal(run(args, NULL, err), 1);

    /* --out into a directory that does not exist: nothing is left behind */
    snprintf(args, sizeof args, "export --db '%s' --out '%s/nodir/x.jsonl'", g_path, g_dir);
    assert_int_equal(run(args, NULL, err), 1);
    read_file(err, msg, sizeof msg);
    assert_non_null(strstr(msg, "nodir/x.jsonl.tmp"));

    /* a failed export leaves no file and no .tmp */
    char file[160], tmp[200];
    snprintf(file, sizeof file, "%s/never.jsonl", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    snprintf(args, sizeof args, "export --db '%s/missing.db' --out '%s'", g_dir, file);
    assert_int_equal(run(args, NULL, err), 1);
    assert_int_equal(access(file, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_to_stdout_and_file),
        cmocka_unit_test(test_export_from_config),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("log_cli", tests, group_setup, group_teardown);
}
