/*
 * store_fixture.h: what the SQLite store's unit tests share (test_store*.c): a fresh store in a
 * temporary folder per test, profiles built only through fw_profile.h with known values, and the
 * sqlite3 command-line shell to check the store's SQL against its answers.
 */
#ifndef FW_STORE_FIXTURE_H
#define FW_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "../../store/fw_store.h"
#include "../../store/sqlite/fw_store_sqlite.h"

#define T0 1700000000   /* a Tuesday, 22:13:20 UTC; bucket-aligned */
#define MS 1000000LL    /* nanoseconds */

typedef struct {
    char dir[64];
    char path[128];
    fw_store *s;
} fx;

/* Each test file uses some of the helpers below, none all of them. */
#define FX_HELPER __attribute__((unused)) static

FX_HELPER int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fw_store_test_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/fw.db", f->dir);
    char err[256] = "";
    assert_int_equal(fw_store_open_sqlite(f->path, NULL, &f->s, err, sizeof err), FW_STORE_OK);
    *state = f;
    return 0;
}

FX_HELPER int fx_teardown(void **state)
{
    fx *f = *state;
    fw_store_close(f->s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, getenv("KEEP") ? "true %s" : "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* ---------------------------------------------------------------- building profiles */

FX_HELPER fw_profile *new_cpu_profile(void)
{
    fw_sample_type t[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 2);
    assert_non_null(p);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10 * MS);
    return p;
}

/* Adds a sample whose stack is "root;...;leaf" (function names, file "app.py", line = 10 * depth). */
FX_HELPER void add(fw_profile *p, const char *folded, int64_t cpu, int64_t wall, const char *thread, const char *host)
{
    uint64_t locs[64];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", folded);
    const char *names[64];
    size_t n = 0;
    for (char *tok = strtok(buf, ";"); tok; tok = strtok(NULL, ";"))
        names[n++] = tok;
    for (size_t i = 0; i < n; i++) {
        uint64_t fid, lid;
        assert_int_equal(fw_profile_function(p, names[i], "app.py", 1, &fid), FW_OK);
        assert_int_equal(fw_profile_location(p, fid, (int64_t)(10 * (i + 1)), &lid), FW_OK);
        locs[n - 1 - i] = lid;   /* leaf first */
    }
    fw_label labels[] = {{"thread_name", thread}, {"host_ip", host}};
    int64_t v[] = {cpu, wall};
    assert_int_equal(fw_profile_add(p, locs, n, labels, 2, v), FW_OK);
}

FX_HELPER void ingest(fw_store *s, const char *app, fw_profile *p, int64_t t)
{
    fw_store_ingest_req r = {app, p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    char err[256] = "";
    fw_store_status st = fw_store_ingest(s, &r, &res, err, sizeof err);
    if (st != FW_STORE_OK)
        fail_msg("ingest: %s (%s)", fw_store_strerror(st), err);
}

/* The standard profile: 100 ms of CPU over three stacks and two threads. */
FX_HELPER fw_profile *standard(void)
{
    fw_profile *p = new_cpu_profile();
    add(p, "main;a;b", 30 * MS, 40 * MS, "t1", "10.0.0.1");
    add(p, "main;a;c", 20 * MS, 20 * MS, "t2", "10.0.0.1");
    add(p, "main;d", 50 * MS, 60 * MS, "t1", "10.0.0.2");
    return p;
}

FX_HELPER const fw_store_node *child(const fw_store_tree *t, int parent, const char *name)
{
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].parent == parent && strcmp(t->nodes[i].name, name) == 0)
            return &t->nodes[i];
    return NULL;
}

FX_HELPER int idx(const fw_store_tree *t, const fw_store_node *n) { return (int)(n - t->nodes); }

/* ---------------------------------------------------------------- running SQL elsewhere */

/* Runs sql with the sqlite3 shell, read-only, and returns its '|'-separated output. */
FX_HELPER char *sqlite3_cli(const char *db, const char *sql)
{
    char sqlfile[] = "/tmp/fw_store_sql_XXXXXX";
    int fd = mkstemp(sqlfile);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s;\n", sql);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sqlite3 -readonly -batch -noheader -separator '|' '%s' < '%s'", db, sqlfile);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, pp)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *bigger = realloc(out, cap *= 2);
            assert_non_null(bigger);
            out = bigger;
        }
    }
    out[n] = '\0';
    assert_int_equal(pclose(pp), 0);
    unlink(sqlfile);
    return out;
}

/* Sum of column `col` (0-based) over the CLI's output rows. */
FX_HELPER int64_t sum_col(const char *out, int col)
{
    int64_t sum = 0;
    const char *line = out;
    while (*line) {
        const char *p = line;
        for (int c = 0; c < col && p; c++) {
            p = strchr(p, '|');
            if (p)
                p++;
        }
        if (p)
            sum += strtoll(p, NULL, 10);
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return sum;
}

/* ---------------------------------------------------------------- tests */

FX_HELPER fw_store_query q_cpu(int64_t from, int64_t until)
{
    fw_store_query q = {"shop", "cpu", from, until, NULL, 0};
    return q;
}

/* Every roll-up bucket behind its level's watermark equals the sum of its raw rows, per label set
 * and merged (labelset_id 0), checked in the sqlite3 shell over the views; `want` and `rol` must
 * be equal sets. Returns "missing|extra|rollup rows". */
FX_HELPER char *rollup_mismatches(const char *path)
{
    return sqlite3_cli(path,
        "WITH lv(res) AS (VALUES (60), (900), (3600), (86400)),"
        " raw AS (SELECT lv.res AS res, s.t - s.t % lv.res AS b, s.labelset_id AS ls, s.stack_id AS st,"
        "  sum(s.value) AS v, sum(s.count) AS c FROM samples s, lv"
        "  WHERE s.t - s.t % lv.res + lv.res <= (SELECT value FROM meta WHERE key = 'wm_' || lv.res)"
        "  GROUP BY 1, 2, 3, 4),"
        " want AS (SELECT * FROM raw UNION ALL SELECT res, b, 0, st, sum(v), sum(c) FROM raw GROUP BY 1, 2, 4),"
        " rol AS (SELECT res, t, labelset_id, stack_id, sum(value), sum(count) FROM rollups GROUP BY 1, 2, 3, 4)"
        " SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM rol)) || '|' ||"
        " (SELECT count(*) FROM (SELECT * FROM rol EXCEPT SELECT * FROM want)) || '|' || (SELECT count(*) FROM rol)");
}

FX_HELPER int64_t raw_sum(const char *path, int64_t from, int64_t until)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT sum(value) FROM samples WHERE series_id = (SELECT id FROM series WHERE"
             " app = 'shop' AND type = 'cpu') AND t >= %lld AND t < %lld", (long long)from, (long long)until);
    char *out = sqlite3_cli(path, sql);
    int64_t v = strtoll(out, NULL, 10);
    free(out);
    return v;
}

/* ---------------------------------------------------------------- limits (issue 11) */

FX_HELPER fw_store_status try_ingest(fw_store *s, const char *app, fw_profile *p, int64_t t, char *err, size_t errlen)
{
    fw_store_ingest_req r = {app, p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    return fw_store_ingest(s, &r, &res, err, errlen);
}

FX_HELPER void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
        fail_msg("%s: %s", sql, e);
    sqlite3_close(db);
}

#endif
