/*
 * Unit tests of the store's read-only SQL console (store/sqlite/fw_sqlite_console.c) through
 * fw_store_sql_run: the function allow-list, the byte limits, and the time limit that counts the
 * wait for a console connection. Empty stores are enough: the console reads the schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../store/fw_store.h"
#include "../../store/sqlite/fw_store_sqlite.h"

typedef struct {
    char dir[64];
    char path[128];
    fw_store *s;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fw_sqc_test_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/fw.db", f->dir);
    char err[256] = "";
    /* One pool reader: a console query that took a pool connection would stall the others. */
    fw_store_options opt = {.sync = FW_STORE_SYNC_NORMAL, .readers = 1};
    assert_int_equal(fw_store_open_sqlite(f->path, &opt, &f->s, err, sizeof err), FW_STORE_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    fw_store_close(f->s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs sql with lim (NULL: defaults); returns the status, err gets the message. */
static fw_store_status run(fw_store *s, const char *sql, const fw_store_sql_limits *lim, char *err, size_t errlen)
{
    fw_store_sql_result r;
    err[0] = '\0';
    fw_store_status st = fw_store_sql_run(s, sql, lim, &r, err, errlen);
    fw_store_sql_result_free(&r);
    return st;
}

static void expect(fw_store *s, const char *sql, const fw_store_sql_limits *lim, fw_store_status want,
                   const char *in_message)
{
    char err[512];
    fw_store_status st = run(s, sql, lim, err, sizeof err);
    if (st != want)
        fail_msg("'%s' gave %s (%s), expected %s", sql, fw_store_strerror(st), err, fw_store_strerror(want));
    if (in_message && !strstr(err, in_message))
        fail_msg("'%s': message '%s' does not say '%s'", sql, err, in_message);
}

static void test_functions_allow_list(void **state)
{
    fx *f = *state;
    static const char *const refused[][2] = {
        {"SELECT fts3_tokenizer('simple')", "fts3_tokenizer()"},
        {"SELECT fts3_tokenizer('mine', X'0000000000000000')", "fts3_tokenizer()"},
        {"SELECT load_extension('/nonexistent/x.so')", "load_extension()"},
        {"SELECT sqlite_compileoption_get(0)", "sqlite_compileoption_get()"},
        {"SELECT upper(x) FROM (SELECT LOAD_EXTENSION('x') AS x)", "load_extension()"},
        {"SELECT name FROM pragma_table_info('series')", "table-valued functions"},
        {"SELECT name FROM dbstat", "table-valued functions"},
        {"SELECT count(*) FROM dbstat", "table-valued functions"},   /* refused when it connects */
        {"UPDATE sqlite_master SET sql = ''", NULL},
        {"PRAGMA table_info(samples)", "only SELECT"},
        {"SELECT 1; SELECT 2", "one statement"},
        {"SELECT 1; DELETE FROM meta", "one statement"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        expect(f->s, refused[i][0], NULL, FW_STORE_ERR_DENIED, refused[i][1]);

    static const char *const allowed[] = {
        "SELECT abs(-1), lower('A'), printf('%d', 1), json_extract('{\"a\":1}', '$.a'), '{\"a\":1}' ->> '$.a'",
        "SELECT key, value FROM json_each('[1, 2]')",
        "SELECT count(*) FROM json_tree('[1, [2]]')",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5) SELECT sum(x) FROM r",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5) SELECT 1 FROM r",
        "SELECT count(*), max(t) FROM samples",
        "SELECT name, sql FROM sqlite_schema",
        "SELECT row_number() OVER (ORDER BY id), datetime(t, 'unixepoch') FROM sample_blocks",
        "SELECT sqrt(2), pow(2, 10), date('now')",
        "SELECT 1; -- a trailing comment",
        "SELECT 1; /* a trailing comment */ ;",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        expect(f->s, allowed[i], NULL, FW_STORE_OK, NULL);
    /* Unknown functions stay what they are: an error in the query. */
    expect(f->s, "SELECT no_such_function(1)", NULL, FW_STORE_ERR_INVALID, "no such function");
}

static void test_byte_limits(void **state)
{
    fx *f = *state;
    fw_store_sql_limits small = {.max_bytes = 4096, .max_cell_bytes = 1000};
    /* Counting: 40 bytes a cell, text bytes once, BLOB bytes twice (they are sent as hex). */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT printf('%%.%dc', 'x')", 1000);
    expect(f->s, sql, &small, FW_STORE_OK, NULL);
    snprintf(sql, sizeof sql, "SELECT printf('%%.%dc', 'x')", 1001);
    expect(f->s, sql, &small, FW_STORE_ERR_TOOBIG, "1001 bytes, over the 1000 bytes cell limit");
    expect(f->s, "SELECT zeroblob(1001)", &small, FW_STORE_ERR_TOOBIG, "cell limit");
    /* 4 rows of 40 + 2 x 500 bytes fit in 4096 (with the column name); 5 do not. */
    expect(f->s, "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3)"
                 " SELECT zeroblob(500) AS b FROM r", &small, FW_STORE_OK, NULL);
    expect(f->s, "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5)"
                 " SELECT zeroblob(500) AS b FROM r", &small, FW_STORE_ERR_TOOBIG,
           "over the 4 KiB result limit at row 4");
    /* Many small cells count too. */
    expect(f->s, "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 200)"
                 " SELECT x FROM r", &small, FW_STORE_ERR_TOOBIG, "result limit");
    /* Values the query computes are capped before they are built, whatever the result. */
    expect(f->s, "SELECT length(zeroblob(100000000))", NULL, FW_STORE_ERR_TOOBIG, "32 MiB value limit");
    expect(f->s, "SELECT length(randomblob(40000000))", NULL, FW_STORE_ERR_TOOBIG, "32 MiB value limit");
    expect(f->s, "SELECT length(zeroblob(1000000))", NULL, FW_STORE_OK, NULL);
    /* The default limits: one 1 MiB cell passes, a larger one does not. */
    expect(f->s, "SELECT zeroblob(1048576)", NULL, FW_STORE_OK, NULL);
    expect(f->s, "SELECT zeroblob(1048577)", NULL, FW_STORE_ERR_TOOBIG, "1 MiB cell limit");
}

typedef struct {
    fw_store *s;
    fw_store_status st;
    double took;
} runaway_arg;

static void *runaway(void *p)
{
    runaway_arg *a = p;
    fw_store_sql_limits lim = {.timeout_ms = 1500};
    char err[256];
    double t0 = mono_s();
    a->st = run(a->s, "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
                &lim, err, sizeof err);
    a->took = mono_s() - t0;
    return NULL;
}

static void test_time_limit_counts_the_wait(void **state)
{
    fx *f = *state;
    /* Two runaway queries take both console connections for 1.5 s. */
    runaway_arg a[2] = {{f->s, FW_STORE_OK, 0}, {f->s, FW_STORE_OK, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, runaway, &a[i]), 0);
    usleep(200 * 1000);
    /* A third call with 300 ms gets no connection in time: it ends at its own limit. */
    fw_store_sql_limits quick = {.timeout_ms = 300};
    char err[256];
    double t0 = mono_s();
    assert_int_equal(run(f->s, "SELECT 1", &quick, err, sizeof err), FW_STORE_ERR_TIMEOUT);
    double took = mono_s() - t0;
    assert_true(took >= 0.25 && took < 1.3);
    assert_non_null(strstr(err, "connections stayed busy"));
    /* Meanwhile the pool (one reader here) that serves the other queries is free. */
    fw_store_settings set;
    t0 = mono_s();
    assert_int_equal(fw_store_settings_get(f->s, "shop", &set), FW_STORE_OK);
    assert_true(mono_s() - t0 < 0.5);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(a[i].st, FW_STORE_ERR_TIMEOUT);
        assert_true(a[i].took < 2.5);
    }
    /* Freed: a waiter gets a connection as soon as one is given back. */
    assert_int_equal(run(f->s, "SELECT 1", &quick, err, sizeof err), FW_STORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_functions_allow_list, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_byte_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_time_limit_counts_the_wait, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
