/*
 * Unit tests of the SQLite store. Profiles are built only through fw_profile.h, with known
 * values and counts, so every expected number below is computed by hand. The SQL shown to users
 * is checked against the store's answers by running it with the sqlite3 command-line shell on the
 * same file (a different process, reading the WAL) and through the read-only SQL endpoint.
 */
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

static int fx_setup(void **state)
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

static int fx_teardown(void **state)
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

static fw_profile *new_cpu_profile(void)
{
    fw_sample_type t[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 2);
    assert_non_null(p);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10 * MS);
    return p;
}

/* Adds a sample whose stack is "root;...;leaf" (function names, file "app.py", line = 10 * depth). */
static void add(fw_profile *p, const char *folded, int64_t cpu, int64_t wall, const char *thread, const char *host)
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

static void ingest(fw_store *s, const char *app, fw_profile *p, int64_t t)
{
    fw_store_ingest_req r = {app, p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    char err[256] = "";
    fw_store_status st = fw_store_ingest(s, &r, &res, err, sizeof err);
    if (st != FW_STORE_OK)
        fail_msg("ingest: %s (%s)", fw_store_strerror(st), err);
}

/* The standard profile: 100 ms of CPU over three stacks and two threads. */
static fw_profile *standard(void)
{
    fw_profile *p = new_cpu_profile();
    add(p, "main;a;b", 30 * MS, 40 * MS, "t1", "10.0.0.1");
    add(p, "main;a;c", 20 * MS, 20 * MS, "t2", "10.0.0.1");
    add(p, "main;d", 50 * MS, 60 * MS, "t1", "10.0.0.2");
    return p;
}

static const fw_store_node *child(const fw_store_tree *t, int parent, const char *name)
{
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].parent == parent && strcmp(t->nodes[i].name, name) == 0)
            return &t->nodes[i];
    return NULL;
}

static int idx(const fw_store_tree *t, const fw_store_node *n) { return (int)(n - t->nodes); }

/* ---------------------------------------------------------------- running SQL elsewhere */

/* Runs sql with the sqlite3 shell, read-only, and returns its '|'-separated output. */
static char *sqlite3_cli(const char *db, const char *sql)
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
static int64_t sum_col(const char *out, int col)
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

static fw_store_query q_cpu(int64_t from, int64_t until)
{
    fw_store_query q = {"shop", "cpu", from, until, NULL, 0};
    return q;
}

static void test_ingest_tree_exact(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);

    fw_store_query q = q_cpu(T0 - 60, T0 + 60);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_string_equal(t.unit, "nanoseconds");
    assert_int_equal(t.nodes[0].total, 100 * MS);
    assert_int_equal(t.nodes[0].count_total, 10);   /* 3 + 2 + 5 samples of 10 ms */
    const fw_store_node *m = child(&t, 0, "main");
    assert_non_null(m);
    assert_int_equal(m->total, 100 * MS);
    assert_int_equal(m->self, 0);
    const fw_store_node *a = child(&t, idx(&t, m), "a");
    assert_int_equal(a->total, 50 * MS);
    const fw_store_node *b = child(&t, idx(&t, a), "b");
    assert_int_equal(b->self, 30 * MS);
    assert_int_equal(b->count_self, 3);
    assert_int_equal(child(&t, idx(&t, m), "d")->total, 50 * MS);
    /* Children come after their parent, largest first. */
    for (size_t i = 1; i < t.nnodes; i++)
        assert_true(t.nodes[i].parent < (int)i);
    fw_store_tree_free(&t);

    /* The wall series got its own values. */
    q.type = "wall";
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 120 * MS);
    fw_store_tree_free(&t);

    /* Outside the range: nothing. Unknown type: not found. */
    q.type = "cpu";
    q.from = T0 + 60;
    q.until = T0 + 120;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 0);
    fw_store_tree_free(&t);
    q.type = "alloc_space";
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_ERR_NOTFOUND);

    fw_store_apps apps;
    assert_int_equal(fw_store_list_apps(f->s, &apps), FW_STORE_OK);
    assert_int_equal(apps.napps, 1);
    assert_string_equal(apps.apps[0].app, "shop");
    assert_int_equal(apps.apps[0].ntypes, 2);
    assert_string_equal(apps.apps[0].types[0].type, "cpu");
    assert_string_equal(apps.apps[0].types[0].description, "CPU time per stack");
    assert_string_equal(apps.apps[0].types[1].description, "Wall-clock time per stack, idle threads included");
    fw_store_apps_free(&apps);
    assert_string_equal(fw_store_type_description("goroutines"), "Profile values per stack (type reported by the agent)");
}

static void test_max_nodes_other(void **state)
{
    fx *f = *state;
    fw_profile *p = new_cpu_profile();
    char stack[64];
    for (int i = 0; i < 20; i++) {
        snprintf(stack, sizeof stack, "main;f%02d", i);
        add(p, stack, (i + 1) * MS, 0, "t1", "h");
    }
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0, T0 + 10);
    fw_store_tree_opts o = {FW_STORE_GRAN_FUNCTION, 6};
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, &o, &t), FW_STORE_OK);
    assert_true(t.nnodes <= 6);
    int64_t sum = 0;
    int others = 0;
    const fw_store_node *m = child(&t, 0, "main");
    for (size_t i = 0; i < t.nnodes; i++)
        if (t.nodes[i].parent == idx(&t, m)) {
            sum += t.nodes[i].total;
            others += t.nodes[i].is_other;
        }
    assert_int_equal(others, 1);
    assert_int_equal(sum, m->total);   /* totals preserved */
    assert_int_equal(m->total, 210 * MS);
    assert_non_null(child(&t, idx(&t, m), "f19"));   /* the largest survive */
    fw_store_tree_free(&t);
}

static void test_table_recursion_and_lines(void **state)
{
    fx *f = *state;
    fw_profile *p = new_cpu_profile();
    add(p, "main;r;r;r", 10 * MS, 0, "t1", "h");
    add(p, "main;r;x", 5 * MS, 0, "t1", "h");
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0, T0 + 10);
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_TOTAL, 0};
    fw_store_table t;
    assert_int_equal(fw_store_table_query(f->s, &q, &o, &t), FW_STORE_OK);
    assert_int_equal(t.grand_total, 15 * MS);
    assert_int_equal(t.nrows, 3);
    /* Equal totals: ties go to the larger self. */
    assert_string_equal(t.rows[0].name, "r");
    assert_int_equal(t.rows[0].total, 15 * MS);   /* once per stack, not 35 */
    assert_int_equal(t.rows[0].self, 10 * MS);
    assert_string_equal(t.rows[1].name, "main");
    assert_int_equal(t.rows[1].total, 15 * MS);
    assert_string_equal(t.rows[2].name, "x");
    fw_store_table_free(&t);

    /* Line granularity: r appears at lines 20, 30, 40. */
    o.gran = FW_STORE_GRAN_LINE;
    o.sort = FW_STORE_SORT_NAME;
    assert_int_equal(fw_store_table_query(f->s, &q, &o, &t), FW_STORE_OK);
    assert_int_equal(t.nrows, 5);
    assert_string_equal(t.rows[1].name, "r");
    assert_int_equal(t.rows[1].line, 20);
    assert_int_equal(t.rows[1].total, 15 * MS);
    assert_int_equal(t.rows[3].line, 40);
    assert_int_equal(t.rows[3].self, 10 * MS);
    fw_store_table_free(&t);

    fw_store_tree_opts to = {FW_STORE_GRAN_LINE, 0};
    fw_store_tree tr;
    assert_int_equal(fw_store_tree_query(f->s, &q, &to, &tr), FW_STORE_OK);
    const fw_store_node *r = child(&tr, idx(&tr, child(&tr, 0, "main")), "r");
    assert_int_equal(r->line, 20);
    assert_int_equal(r->total, 15 * MS);
    fw_store_tree_free(&tr);
}

static void test_label_filters(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0, T0 + 10);
    fw_store_tree t;

    fw_label f1[] = {{"thread_name", "t1"}};
    q.filters = f1;
    q.nfilters = 1;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 80 * MS);
    fw_store_tree_free(&t);

    fw_label f2[] = {{"thread_name", "t1"}, {"host_ip", "10.0.0.1"}};   /* AND across keys */
    q.filters = f2;
    q.nfilters = 2;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 30 * MS);
    fw_store_tree_free(&t);

    fw_label f3[] = {{"thread_name", "t1"}, {"thread_name", "t2"}};   /* OR within a key */
    q.filters = f3;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 100 * MS);
    fw_store_tree_free(&t);

    fw_label f4[] = {{"thread_name", "nope"}};
    q.filters = f4;
    q.nfilters = 1;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 0);
    fw_store_tree_free(&t);

    fw_store_labels l;
    q.nfilters = 0;
    assert_int_equal(fw_store_label_values(f->s, &q, &l), FW_STORE_OK);
    assert_int_equal(l.nkeys, 2);
    assert_string_equal(l.keys[0].key, "host_ip");
    assert_int_equal(l.keys[0].nvalues, 2);
    assert_string_equal(l.keys[1].key, "thread_name");
    assert_string_equal(l.keys[1].values[1], "t2");
    fw_store_labels_free(&l);
}

/* Data over three days, rolled up; every answer must equal the raw sum, and the SQL shown must
 * give the same numbers in the sqlite3 shell. */
static void test_rollups_and_sql_equality(void **state)
{
    fx *f = *state;
    int64_t start = T0 - 3 * 86400;
    int n = 0;
    for (int64_t t = start; t < T0; t += 1800, n++) {
        fw_profile *p = standard();
        if (n % 3 == 0)
            add(p, "main;late;z", 7 * MS, 0, "t3", "10.0.0.3");
        ingest(f->s, "shop", p, t);
        fw_profile_free(p);
    }
    fw_store_query q = q_cpu(start + 1234, T0 - 777);   /* not aligned to anything */
    fw_store_tree before;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &before), FW_STORE_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, before.nodes[0].total);
    assert_int_equal(t.nodes[0].count_total, before.nodes[0].count_total);
    assert_non_null(strstr(t.sql, "FROM rollups"));   /* the plan did use roll-ups */
    assert_non_null(strstr(t.sql, "res = 86400"));
    char *out = sqlite3_cli(f->path, t.sql);
    assert_int_equal(sum_col(out, 2), t.nodes[0].total);
    assert_int_equal(sum_col(out, 3), t.nodes[0].count_total);
    /* The stack main;a;b appears with exactly its node's value. */
    const fw_store_node *b = child(&t, idx(&t, child(&t, idx(&t, child(&t, 0, "main")), "a")), "b");
    char expect[128];
    snprintf(expect, sizeof expect, "|main;a;b|%lld|", (long long)b->total);
    assert_non_null(strstr(out, expect));
    free(out);
    fw_store_tree_free(&before);

    /* Filtered tree after roll-ups, against the shell. */
    fw_label fl[] = {{"thread_name", "t3"}};
    fw_store_query qf = q;
    qf.filters = fl;
    qf.nfilters = 1;
    fw_store_tree tf;
    assert_int_equal(fw_store_tree_query(f->s, &qf, NULL, &tf), FW_STORE_OK);
    assert_true(tf.nodes[0].total > 0);
    assert_int_equal(tf.nodes[0].total % (7 * MS), 0);
    out = sqlite3_cli(f->path, tf.sql);
    assert_int_equal(sum_col(out, 2), tf.nodes[0].total);
    free(out);
    fw_store_tree_free(&tf);

    /* Table: every row equal, in the same order. */
    fw_store_table_opts to = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    for (int g = 0; g < 2; g++) {
        to.gran = g ? FW_STORE_GRAN_LINE : FW_STORE_GRAN_FUNCTION;
        fw_store_table tb;
        assert_int_equal(fw_store_table_query(f->s, &q, &to, &tb), FW_STORE_OK);
        out = sqlite3_cli(f->path, tb.sql);
        char *line = out;
        for (size_t i = 0; i < tb.nrows; i++) {
            char want[512];
            snprintf(want, sizeof want, "%s|%s|%lld|%lld|%lld\n", tb.rows[i].name, tb.rows[i].file,
                     (long long)tb.rows[i].line, (long long)tb.rows[i].self, (long long)tb.rows[i].total);
            assert_memory_equal(line, want, strlen(want));
            line += strlen(want);
        }
        assert_string_equal(line, "");
        free(out);
        fw_store_table_free(&tb);
    }

    /* Trend: points from the SQL equal the non-empty points. Three days -> 900 s steps. */
    fw_store_trend tr;
    assert_int_equal(fw_store_trend_query(f->s, &q, 0, &tr), FW_STORE_OK);
    assert_true(tr.npoints >= 100 && tr.npoints <= 300);
    out = sqlite3_cli(f->path, tr.sql);
    int64_t tsum = 0;
    for (size_t i = 0; i < tr.npoints; i++) {
        tsum += tr.points[i].value;
        if (tr.points[i].value) {
            char want[128];
            snprintf(want, sizeof want, "%lld|%lld|%lld\n", (long long)tr.points[i].t,
                     (long long)tr.points[i].value, (long long)tr.points[i].count);
            assert_non_null(strstr(out, want));
        }
    }
    assert_int_equal(tsum, t.nodes[0].total);
    assert_int_equal(sum_col(out, 1), tsum);
    free(out);
    fw_store_trend_free(&tr);

    /* Hourly trend over the same range uses the 1 h roll-up and still sums the same. */
    assert_int_equal(fw_store_trend_query(f->s, &q, 3600, &tr), FW_STORE_OK);
    tsum = 0;
    for (size_t i = 0; i < tr.npoints; i++)
        tsum += tr.points[i].value;
    assert_int_equal(tsum, t.nodes[0].total);
    fw_store_trend_free(&tr);

    /* Labels through the read-only SQL endpoint (a separate read-only connection). */
    fw_store_labels l;
    assert_int_equal(fw_store_label_values(f->s, &q, &l), FW_STORE_OK);
    fw_store_sql_result r;
    char err[256];
    assert_int_equal(fw_store_sql_run(f->s, l.sql, NULL, &r, err, sizeof err), FW_STORE_OK);
    size_t nv = 0;
    for (size_t i = 0; i < l.nkeys; i++)
        nv += l.keys[i].nvalues;
    assert_int_equal(r.nrows, nv);
    assert_int_equal(nv, 6);   /* host_ip and thread_name, three values each */
    fw_store_sql_result_free(&r);
    fw_store_labels_free(&l);
    fw_store_tree_free(&t);
}

static void test_diff_significance(void **state)
{
    fx *f = *state;
    /* Baseline: A and B 500 samples each. Shift: A 700, B 300. Noise: A 510, B 490. */
    struct { int64_t t; int a, b; } runs[] = {{T0, 500, 500}, {T0 + 3600, 700, 300}, {T0 + 7200, 510, 490}};
    for (int i = 0; i < 3; i++) {
        fw_profile *p = new_cpu_profile();
        add(p, "main;A", runs[i].a * 10 * MS, 0, "t1", "h");
        add(p, "main;B", runs[i].b * 10 * MS, 0, "t1", "h");
        ingest(f->s, "shop", p, runs[i].t);
        fw_profile_free(p);
    }
    fw_store_query base = q_cpu(T0, T0 + 60), shift = q_cpu(T0 + 3600, T0 + 3660), noise = q_cpu(T0 + 7200, T0 + 7260);
    fw_store_diff d;
    assert_int_equal(fw_store_diff_query(f->s, &base, &shift, NULL, &d), FW_STORE_OK);
    int seen = 0;
    for (size_t i = 0; i < d.nnodes; i++) {
        if (strcmp(d.nodes[i].name, "A") == 0) {
            assert_int_equal(d.nodes[i].base_count, 500);
            assert_int_equal(d.nodes[i].cmp_count, 700);
            assert_int_equal(d.nodes[i].significant, 1);
            assert_true(d.nodes[i].z > 8.0);   /* 0.5 -> 0.7 with n = 1000 each: z ~ 9.1 */
            seen++;
        } else if (strcmp(d.nodes[i].name, "B") == 0) {
            assert_int_equal(d.nodes[i].significant, -1);
            seen++;
        } else if (strcmp(d.nodes[i].name, "main") == 0) {
            assert_int_equal(d.nodes[i].significant, 0);   /* 100% of both */
        }
    }
    assert_int_equal(seen, 2);
    char *out = sqlite3_cli(f->path, d.sql);
    assert_int_equal(sum_col(out, 2), d.nodes[0].base_total);
    assert_int_equal(sum_col(out, 3), d.nodes[0].base_count);
    assert_int_equal(sum_col(out, 4), d.nodes[0].cmp_total);
    assert_int_equal(sum_col(out, 5), d.nodes[0].cmp_count);
    free(out);
    fw_store_diff_free(&d);

    assert_int_equal(fw_store_diff_query(f->s, &base, &noise, NULL, &d), FW_STORE_OK);
    for (size_t i = 0; i < d.nnodes; i++)
        assert_int_equal(d.nodes[i].significant, 0);   /* 0.50 -> 0.51: z ~ 0.45 */
    fw_store_diff_free(&d);

    /* Two filter sets over the same range also work. */
    fw_label fa[] = {{"thread_name", "t1"}}, fb[] = {{"thread_name", "none"}};
    base.filters = fa;
    base.nfilters = 1;
    fw_store_query other = base;
    other.filters = fb;
    assert_int_equal(fw_store_diff_query(f->s, &base, &other, NULL, &d), FW_STORE_OK);
    assert_int_equal(d.nodes[0].base_total, 1000 * 10 * MS);
    assert_int_equal(d.nodes[0].cmp_total, 0);
    fw_store_diff_free(&d);
}

static void test_retention(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0 - 8 * 86400);   /* older than the 7-day default */
    ingest(f->s, "shop", p, T0 - 3600);
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0 - 9 * 86400, T0);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 200 * MS);
    fw_store_tree_free(&t);
    for (int i = 0; i < 400; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 100 * MS);
    fw_store_tree_free(&t);
    char *out = sqlite3_cli(f->path, "SELECT count(*) FROM samples WHERE t < 1700000000 - 7 * 86400");
    assert_string_equal(out, "0\n");
    free(out);
    out = sqlite3_cli(f->path, "SELECT count(*) FROM rollups WHERE t < 1700000000 - 7 * 86400");
    assert_string_equal(out, "0\n");
    free(out);
}

static void test_reopen(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_close(f->s);
    char err[256];
    assert_int_equal(fw_store_open_sqlite(f->path, NULL, &f->s, err, sizeof err), FW_STORE_OK);
    p = standard();
    add(p, "main;new", 1 * MS, 0, "t1", "h");
    ingest(f->s, "shop", p, T0);   /* same stacks again must reuse the stored ids */
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0, T0 + 10);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 201 * MS);
    fw_store_tree_free(&t);
    fw_store_stats st;
    assert_int_equal(fw_store_get_stats(f->s, &st), FW_STORE_OK);
    assert_int_equal(st.profiles, 2);
    assert_int_equal(st.stacks, 6);   /* main, main;a, main;a;b, main;a;c, main;d, main;new */
    assert_int_equal(st.stack_values, 6 + 7);   /* cpu+wall for 3 stacks, twice, + 1 cpu */
    assert_true(st.size_bytes > 0);
}

static void test_failed_ingest_stores_nothing(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_stats before;
    assert_int_equal(fw_store_get_stats(f->s, &before), FW_STORE_OK);

    p = standard();
    add(p, "other;deep;stack", 5 * MS, 0, "t9", "10.9.9.9");
    fw_store_sqlite_fail_after(f->s, 3);   /* dies after 3 fact rows, new stacks already written */
    fw_store_ingest_req r = {"shop", p, T0 + 20, NULL, 0, 0};
    char err[256] = "";
    assert_int_equal(fw_store_ingest(f->s, &r, NULL, err, sizeof err), FW_STORE_ERR_IO);
    fw_store_stats after;
    assert_int_equal(fw_store_get_stats(f->s, &after), FW_STORE_OK);
    assert_int_equal(after.profiles, before.profiles);
    assert_int_equal(after.stacks, before.stacks);
    char *out = sqlite3_cli(f->path, "SELECT (SELECT count(*) FROM samples WHERE t >= 1700000020),"
                                     " (SELECT count(*) FROM stacks), (SELECT count(*) FROM labelsets)"
                                     " || '|' || (SELECT count(*) FROM functions WHERE name = 'deep')");
    assert_string_equal(out, "0|5|3|0\n");
    free(out);

    /* Bad input: a negative value is refused before anything is written. */
    fw_profile *bad = new_cpu_profile();
    add(bad, "main;neg", -5, 0, "t1", "h");
    r.profile = bad;
    assert_int_equal(fw_store_ingest(f->s, &r, NULL, err, sizeof err), FW_STORE_ERR_INVALID);
    assert_non_null(strstr(err, "negative"));
    fw_profile_free(bad);

    /* The cache was rolled back with the file: the same upload now succeeds, ids stay consistent. */
    ingest(f->s, "shop", p, T0 + 20);
    fw_profile_free(p);
    fw_store_query q = q_cpu(T0 + 20, T0 + 30);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 105 * MS);
    assert_non_null(child(&t, 0, "other"));
    fw_store_tree_free(&t);
}

static void test_readonly_sql(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    static const char *const refused[] = {
        "INSERT INTO meta(key, value) VALUES ('x', 1)",
        "UPDATE meta SET value = 0",
        "DELETE FROM samples",
        "CREATE TABLE x(a)",
        "DROP TABLE samples",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA journal_mode=DELETE",
        "PRAGMA table_info(samples)",
        "SELECT 1; DELETE FROM samples",
        "BEGIN",
    };
    fw_store_sql_result r;
    char err[256];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        fw_store_status st = fw_store_sql_run(f->s, refused[i], NULL, &r, err, sizeof err);
        if (st != FW_STORE_ERR_DENIED)
            fail_msg("'%s' gave %s (%s)", refused[i], fw_store_strerror(st), err);
    }
    assert_int_equal(fw_store_sql_run(f->s, "SELEC nonsense", NULL, &r, err, sizeof err), FW_STORE_ERR_INVALID);

    assert_int_equal(fw_store_sql_run(f->s, "SELECT app, type, 1.5, NULL FROM series ORDER BY type", NULL, &r,
                                      err, sizeof err), FW_STORE_OK);
    assert_int_equal(r.ncolumns, 4);
    assert_string_equal(r.columns[0], "app");
    assert_int_equal(r.nrows, 2);
    assert_int_equal(r.cells[0].type, FW_STORE_VAL_TEXT);
    assert_string_equal(r.cells[1].s, "cpu");
    assert_int_equal(r.cells[2].type, FW_STORE_VAL_REAL);
    assert_int_equal(r.cells[3].type, FW_STORE_VAL_NULL);
    fw_store_sql_result_free(&r);

    fw_store_sql_limits lim = {.max_rows = 3};
    assert_int_equal(fw_store_sql_run(f->s, "SELECT * FROM stack_paths", &lim, &r, err, sizeof err), FW_STORE_OK);
    assert_int_equal(r.nrows, 3);
    assert_int_equal(r.truncated, 1);
    fw_store_sql_result_free(&r);

    fw_store_sql_limits quick = {.timeout_ms = 100};
    assert_int_equal(fw_store_sql_run(f->s, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                                            " SELECT count(*) FROM c", &quick, &r, err, sizeof err),
                     FW_STORE_ERR_TIMEOUT);
    /* The connection is clean afterwards: normal queries still work. */
    fw_store_query q = q_cpu(T0, T0 + 10);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 100 * MS);
    fw_store_tree_free(&t);
}

static void test_settings_and_agents(void **state)
{
    fx *f = *state;
    fw_store_settings st;
    assert_int_equal(fw_store_settings_get(f->s, "shop", &st), FW_STORE_OK);
    assert_int_equal(st.updated_at, 0);
    assert_int_equal(st.cpu_interval_ms, 10);
    assert_int_equal(st.memory_threshold_kb, 1024);
    st.wall = 1;
    st.cpu_interval_ms = 20;
    assert_int_equal(fw_store_settings_put(f->s, "shop", &st, T0), FW_STORE_OK);
    fw_store_settings got;
    assert_int_equal(fw_store_settings_get(f->s, "shop", &got), FW_STORE_OK);
    assert_int_equal(got.wall, 1);
    assert_int_equal(got.cpu_interval_ms, 20);
    assert_int_equal(got.updated_at, T0);
    st.cpu_interval_ms = 0;
    assert_int_equal(fw_store_settings_put(f->s, "shop", &st, T0), FW_STORE_ERR_INVALID);

    assert_int_equal(fw_store_agent_seen(f->s, "shop", "web-1", 42, T0, T0 + 5), FW_STORE_OK);
    assert_int_equal(fw_store_agent_seen(f->s, "shop", "web-2", 7, 0, T0 - 5), FW_STORE_OK);
    assert_int_equal(fw_store_agent_seen(f->s, "shop", "web-1", 42, T0, T0 + 35), FW_STORE_OK);
    fw_store_agents a;
    assert_int_equal(fw_store_agents_list(f->s, "shop", &a), FW_STORE_OK);
    assert_int_equal(a.nagents, 2);
    assert_string_equal(a.agents[0].host, "web-1");
    assert_int_equal(a.agents[0].last_fetch, T0 + 35);
    assert_int_equal(a.agents[0].settings_updated_at, T0);
    fw_store_agents_free(&a);
}

static void test_trend_steps(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 6; i++) {
        fw_profile *p = new_cpu_profile();
        add(p, "main", (i + 1) * MS, 0, "t1", "h");
        ingest(f->s, "shop", p, T0 + i * 15);
        fw_profile_free(p);
    }
    fw_store_query q = q_cpu(T0, T0 + 900);   /* 15 minutes -> 10 s steps, 90 points */
    fw_store_trend tr;
    assert_int_equal(fw_store_trend_query(f->s, &q, 0, &tr), FW_STORE_OK);
    assert_int_equal(tr.step_s, 10);
    assert_int_equal(tr.npoints, 90);
    /* uploads at +0, +15, +30, +45, +60, +75 land in buckets 0, 10, 30, 40, 60, 70 */
    assert_int_equal(tr.points[0].value, 1 * MS);
    assert_int_equal(tr.points[1].value, 2 * MS);
    assert_int_equal(tr.points[2].value, 0);
    assert_int_equal(tr.points[7].value, 6 * MS);
    fw_store_trend_free(&tr);
    q.until = T0 + 7 * 86400;
    assert_int_equal(fw_store_trend_query(f->s, &q, 0, &tr), FW_STORE_OK);
    assert_int_equal(tr.step_s, 3600);
    assert_int_equal(tr.points[0].value, 21 * MS);
    fw_store_trend_free(&tr);
}

/* Every roll-up bucket behind its level's watermark equals the sum of its raw rows, per label set
 * and merged (labelset_id 0), checked in the sqlite3 shell over the views; `want` and `rol` must
 * be equal sets. Returns "missing|extra|rollup rows". */
static char *rollup_mismatches(const char *path)
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

static int64_t raw_sum(const char *path, int64_t from, int64_t until)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT sum(value) FROM samples WHERE series_id = (SELECT id FROM series WHERE"
             " app = 'shop' AND type = 'cpu') AND t >= %lld AND t < %lld", (long long)from, (long long)until);
    char *out = sqlite3_cli(path, sql);
    int64_t v = strtoll(out, NULL, 10);
    free(out);
    return v;
}

/* Roll-ups are blocks summed in C: each level must equal the raw rows it covers, also after
 * uploads that arrive late (behind the watermarks) and several uploads in one bucket. */
static void test_rollup_blocks_equal_raw(void **state)
{
    fx *f = *state;
    int64_t start = T0 - 2 * 86400;
    for (int64_t t = start; t < T0; t += 1700) {
        fw_profile *p = standard();
        ingest(f->s, "shop", p, t);
        ingest(f->s, "shop", p, t + 3);   /* same 10 s bucket: a second block with the same key */
        fw_profile_free(p);
    }
    for (int i = 0; i < 200; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    char *out = rollup_mismatches(f->path);
    assert_memory_equal(out, "0|0|", 4);
    assert_true(strtoll(out + 4, NULL, 10) > 100);
    free(out);
    /* Every level rolled something: the day level covers the first whole day. */
    out = sqlite3_cli(f->path, "SELECT group_concat(res) FROM (SELECT DISTINCT res FROM rollup_blocks ORDER BY res)");
    assert_string_equal(out, "60,900,3600,86400\n");
    free(out);

    fw_store_query q = q_cpu(start, T0);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, raw_sum(f->path, start, T0));
    assert_non_null(strstr(t.sql, "res = 86400"));
    fw_store_tree_free(&t);

    /* Late uploads: before every watermark, into buckets that exist and one that does not, with a
     * label set never seen before. */
    fw_profile *p = standard();
    add(p, "main;late;only", 9 * MS, 0, "t-late", "10.9.9.9");
    ingest(f->s, "shop", p, start + 1700);
    ingest(f->s, "shop", p, start + 45);
    fw_profile_free(p);
    out = rollup_mismatches(f->path);
    assert_memory_equal(out, "0|0|", 4);
    free(out);
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, raw_sum(f->path, start, T0));
    assert_non_null(child(&t, idx(&t, child(&t, 0, "main")), "late"));
    fw_store_tree_free(&t);
    /* Filtered by the new label set, over roll-ups only. */
    fw_label fl[] = {{"thread_name", "t-late"}};
    q.filters = fl;
    q.nfilters = 1;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 2 * 9 * MS);
    fw_store_tree_free(&t);
    fw_store_trend tr;
    q.nfilters = 0;
    assert_int_equal(fw_store_trend_query(f->s, &q, 3600, &tr), FW_STORE_OK);
    int64_t sum = 0;
    for (size_t i = 0; i < tr.npoints; i++)
        sum += tr.points[i].value;
    assert_int_equal(sum, raw_sum(f->path, start, T0));
    out = sqlite3_cli(f->path, tr.sql);
    assert_int_equal(sum_col(out, 1), sum);
    free(out);
    fw_store_trend_free(&tr);
}

/* A file of schema 1 (one row per stack in a `samples` table) is upgraded when opened: same
 * numbers, samples becomes the view over blocks, roll-ups are rebuilt by maintenance. */
static void test_upgrade_from_v1(void **state)
{
    fx *f = *state;
    fw_store_close(f->s);
    f->s = NULL;
    unlink(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    const char *v1 =
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE series(id INTEGER PRIMARY KEY, app TEXT NOT NULL, type TEXT NOT NULL,"
        " unit TEXT NOT NULL, UNIQUE(app, type));"
        "CREATE TABLE functions(id INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, UNIQUE(name, file));"
        "CREATE TABLE frames(id INTEGER PRIMARY KEY, function_id INTEGER NOT NULL, line INTEGER NOT NULL,"
        " UNIQUE(function_id, line));"
        "CREATE TABLE stacks(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, frame_id INTEGER NOT NULL,"
        " UNIQUE(parent_id, frame_id));"
        "CREATE TABLE labelsets(id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE);"
        "CREATE TABLE labels(key TEXT NOT NULL, value TEXT NOT NULL, labelset_id INTEGER NOT NULL,"
        " PRIMARY KEY(key, value, labelset_id)) WITHOUT ROWID;"
        "CREATE TABLE samples(series_id INTEGER NOT NULL, t INTEGER NOT NULL, labelset_id INTEGER NOT NULL,"
        " stack_id INTEGER NOT NULL, value INTEGER NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY(series_id, t, labelset_id, stack_id)) WITHOUT ROWID;"
        "CREATE TABLE rollups(series_id INTEGER NOT NULL, res INTEGER NOT NULL, t INTEGER NOT NULL,"
        " labelset_id INTEGER NOT NULL, stack_id INTEGER NOT NULL, value INTEGER NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY(series_id, res, labelset_id, t, stack_id)) WITHOUT ROWID;"
        "INSERT INTO meta VALUES ('schema_version', 1), ('profiles', 2), ('stack_values', 3), ('raw_rows', 3),"
        " ('wm_60', 1700000060), ('wm_900', 0), ('wm_3600', 0), ('wm_86400', 0);"
        "INSERT INTO series VALUES (1, 'shop', 'cpu', 'nanoseconds');"
        "INSERT INTO functions VALUES (1, 'main', 'app.py'), (2, 'a', 'app.py');"
        "INSERT INTO frames VALUES (1, 1, 10), (2, 2, 20);"
        "INSERT INTO stacks VALUES (1, 0, 1), (2, 1, 2);"
        "INSERT INTO labelsets VALUES (1, '{thread_name=\"t1\"}'), (2, '{thread_name=\"t2\"}');"
        "INSERT INTO labels VALUES ('thread_name', 't1', 1), ('thread_name', 't2', 2);"
        "INSERT INTO samples VALUES (1, 1700000000, 1, 1, 10000000, 1), (1, 1700000000, 1, 2, 30000000, 3),"
        " (1, 1700000000, 2, 2, 7000000, 1), (1, 1700000010, 1, 2, 5000000, 1);"
        "INSERT INTO rollups VALUES (1, 60, 1700000000, 0, 2, 999, 9);";   /* stale: must not count */
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char err[256] = "";
    assert_int_equal(fw_store_open_sqlite(f->path, NULL, &f->s, err, sizeof err), FW_STORE_OK);
    char *out = sqlite3_cli(f->path, "SELECT (SELECT type FROM sqlite_master WHERE name = 'samples') || '|' ||"
                                     " (SELECT value FROM meta WHERE key = 'schema_version') || '|' ||"
                                     " (SELECT count(*) FROM sample_blocks) || '|' || (SELECT count(*) FROM rollup_blocks)"
                                     " || '|' || (SELECT value FROM meta WHERE key = 'wm_60')");
    assert_string_equal(out, "view|2|3|0|0\n");
    free(out);
    fw_store_query q = q_cpu(T0, T0 + 20);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 52 * MS);
    assert_int_equal(t.nodes[0].count_total, 6);
    const fw_store_node *a = child(&t, idx(&t, child(&t, 0, "main")), "a");
    assert_non_null(a);
    assert_int_equal(a->total, 42 * MS);
    fw_store_tree_free(&t);
    /* New uploads reuse the old ids; roll-ups rebuilt from the raw blocks match them. */
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0 + 20);
    fw_profile_free(p);
    for (int i = 0; i < 50; i++)
        assert_int_equal(fw_store_maintain(f->s, T0 + 3 * 86400), FW_STORE_OK);
    out = rollup_mismatches(f->path);
    assert_memory_equal(out, "0|0|", 4);
    free(out);
    q.until = T0 + 86400;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 152 * MS);
    assert_non_null(strstr(t.sql, "FROM rollups"));
    fw_store_tree_free(&t);
}

/* ---------------------------------------------------------------- limits (issue 11) */

static fw_store_status try_ingest(fw_store *s, const char *app, fw_profile *p, int64_t t, char *err, size_t errlen)
{
    fw_store_ingest_req r = {app, p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    return fw_store_ingest(s, &r, &res, err, errlen);
}

/* Values over 2^46 per sample or 2^48 per upload and type are refused whole, with the reason. */
static void test_value_limits(void **state)
{
    fx *f = *state;
    char err[256] = "";
    fw_profile *p = new_cpu_profile();
    add(p, "main;ok", MS, 0, "t1", "h");
    add(p, "main;big", FW_STORE_MAX_SAMPLE_VALUE + 1, 0, "t1", "h");
    assert_int_equal(try_ingest(f->s, "lim", p, T0, err, sizeof err), FW_STORE_ERR_INVALID);
    assert_non_null(strstr(err, "per sample"));
    fw_profile_free(p);
    p = new_cpu_profile();
    for (int i = 0; i < 5; i++) {
        char st[32];
        snprintf(st, sizeof st, "main;f%d", i);
        add(p, st, FW_STORE_MAX_SAMPLE_VALUE, 0, "t1", "h");   /* 5 x 2^46 > 2^48 */
    }
    assert_int_equal(try_ingest(f->s, "lim", p, T0, err, sizeof err), FW_STORE_ERR_INVALID);
    assert_non_null(strstr(err, "per upload"));
    fw_profile_free(p);
    fw_store_query q = {"lim", "cpu", T0 - 60, T0 + 60, NULL, 0};
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_ERR_NOTFOUND);   /* nothing stored */
    p = new_cpu_profile();
    for (int i = 0; i < 4; i++) {
        char st[32];
        snprintf(st, sizeof st, "main;f%d", i);
        add(p, st, FW_STORE_MAX_SAMPLE_VALUE, 0, "t1", "h");   /* exactly 2^48: accepted */
    }
    ingest(f->s, "lim", p, T0);
    fw_profile_free(p);
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, FW_STORE_MAX_UPLOAD_VALUE);
    fw_store_tree_free(&t);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
        fail_msg("%s: %s", sql, e);
    sqlite3_close(db);
}

/* Blocks an old server accepted (values near INT64_MAX, text that is not a block) never stop
 * maintenance: other series are rolled up, retention runs, and the poisoned series' queries
 * answer with saturated sums. */
static void test_poisoned_blocks(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0 - 8 * 86400);   /* for retention to delete */
    ingest(f->s, "shop", p, T0 - 1200);
    ingest(f->s, "poison", p, T0 - 1200);
    ingest(f->s, "junk", p, T0 - 1200);
    fw_profile_free(p);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO sample_blocks(series_id, t, labelset_id, value, count, nstacks, stacks)"
             " SELECT id, %d, 1, 9223372036854775000, 1, 1, '[[1,9223372036854775000,1]]'"
             " FROM series, (VALUES (1), (2), (3)) WHERE app = 'poison';"
             "INSERT INTO sample_blocks(series_id, t, labelset_id, value, count, nstacks, stacks)"
             " SELECT id, %d, 1, 5, 1, 1, 'not a block' FROM series WHERE app = 'junk';",
             T0 - 1190, T0 - 1190);
    exec_sql(f->path, sql);
    for (int i = 0; i < 400; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    /* Roll-ups went past the poisoned minute, and retention ran. */
    char *out = sqlite3_cli(f->path, "SELECT value >= 1700000000 - 120 FROM meta WHERE key = 'wm_60'");
    assert_string_equal(out, "1\n");
    free(out);
    out = sqlite3_cli(f->path, "SELECT count(*) FROM sample_blocks WHERE t < 1700000000 - 7 * 86400");
    assert_string_equal(out, "0\n");
    free(out);
    /* The good series' minute roll-up is exact (a 15-minute+ range reads it). */
    fw_store_query q = q_cpu(T0 - 1260, T0 - 60);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 100 * MS);
    fw_store_tree_free(&t);
    /* The poisoned series answers, saturated, from raw blocks and from roll-ups. */
    fw_store_query qp = {"poison", "cpu", T0 - 1260, T0 - 60, NULL, 0};
    assert_int_equal(fw_store_tree_query(f->s, &qp, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, INT64_MAX);
    fw_store_tree_free(&t);
    qp.from = T0 - 1200;
    qp.until = T0 - 1170;
    assert_int_equal(fw_store_tree_query(f->s, &qp, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, INT64_MAX);
    fw_store_tree_free(&t);
    fw_store_trend tr;
    assert_int_equal(fw_store_trend_query(f->s, &qp, 0, &tr), FW_STORE_OK);
    assert_int_equal(tr.points[1].value, INT64_MAX);
    fw_store_trend_free(&tr);
    fw_store_table tb;
    fw_store_table_opts to = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_TOTAL, 0};
    assert_int_equal(fw_store_table_query(f->s, &qp, &to, &tb), FW_STORE_OK);
    assert_int_equal(tb.grand_total, INT64_MAX);
    fw_store_table_free(&tb);
}

/* Retention forgets the functions, frames and stacks that no retained block uses; what is kept
 * reads back whole, after a reopen too, and a forgotten name can come back. */
static void test_dimension_gc(void **state)
{
    fx *f = *state;
    fw_profile *p = new_cpu_profile();
    for (int i = 0; i < 2000; i++) {
        char st[64];
        snprintf(st, sizeof st, "main;a;gone_%d", i);
        add(p, st, MS, 0, "t1", "h");
    }
    ingest(f->s, "shop", p, T0 - 8 * 86400);
    fw_profile_free(p);
    p = standard();
    ingest(f->s, "shop", p, T0 - 3600);
    fw_profile_free(p);
    char *out = sqlite3_cli(f->path, "SELECT count(*) FROM functions");
    assert_int_equal(strtoll(out, NULL, 10), 2005);
    free(out);
    for (int i = 0; i < 400; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    out = sqlite3_cli(f->path, "SELECT (SELECT count(*) FROM functions) || '|' || (SELECT count(*) FROM frames)"
                               " || '|' || (SELECT count(*) FROM stacks)");
    assert_string_equal(out, "5|5|5\n");   /* main, a, b, c, d; main;a;b main;a;c main;d and their prefixes */
    free(out);
    fw_store_query q = q_cpu(T0 - 4000, T0);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 100 * MS);
    assert_non_null(child(&t, idx(&t, child(&t, 0, "main")), "d"));
    fw_store_tree_free(&t);
    p = new_cpu_profile();
    add(p, "main;a;gone_7", 3 * MS, 0, "t1", "h");
    ingest(f->s, "shop", p, T0 - 3600);
    fw_profile_free(p);
    char err[256] = "";
    fw_store_close(f->s);
    assert_int_equal(fw_store_open_sqlite(f->path, NULL, &f->s, err, sizeof err), FW_STORE_OK);
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 103 * MS);
    const fw_store_node *a = child(&t, idx(&t, child(&t, 0, "main")), "a");
    assert_non_null(a);
    assert_non_null(child(&t, idx(&t, a), "gone_7"));
    fw_store_tree_free(&t);
}

typedef struct {
    fw_store *s;
    int rounds, base;   /* uploads gone_{base + 20k + j} */
} gc_racer;

/* Uploads, at a recent time, stacks that until now only the old (expiring) data used. */
static void *gc_race_ingest(void *arg)
{
    gc_racer *r = arg;
    for (int k = 0; k < r->rounds; k++) {
        fw_profile *p = new_cpu_profile();
        for (int j = 0; j < 20; j++) {
            char st[64];
            snprintf(st, sizeof st, "main;a;gone_%d", r->base + k * 20 + j);
            add(p, st, MS, 0, "t1", "h");
        }
        ingest(r->s, "shop", p, T0 - 600);
        fw_profile_free(p);
    }
    return NULL;
}

static void gc_race_hook(void *arg)
{
    gc_racer *r = arg;
    if (r->rounds < 0)
        return;
    gc_race_ingest(r);
    r->rounds = -1;
}

/* The GC's mark runs without the writer lock while uploads go on: a stack that only expiring data
 * used when the mark began, and that an upload uses meanwhile, must survive the sweep. Afterwards
 * every stack a block names exists, with its frame, function and parents, and reads back. */
static void test_dimension_gc_races_ingest(void **state)
{
    fx *f = *state;
    fw_profile *p = new_cpu_profile();
    for (int i = 0; i < 3000; i++) {
        char st[64];
        snprintf(st, sizeof st, "main;a;gone_%d", i);
        add(p, st, MS, 0, "t1", "h");
    }
    ingest(f->s, "shop", p, T0 - 8 * 86400);
    fw_profile_free(p);
    /* Deterministic: 20 rounds run between the GC's mark and its sweep (the hook), the rest
     * concurrently with the maintenance calls. */
    gc_racer r = {f->s, 20, 0};
    fw_store_sqlite_gc_hook(f->s, gc_race_hook, &r);
    gc_racer r2 = {f->s, 130, 400};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, gc_race_ingest, &r2), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    pthread_join(th, NULL);
    fw_store_sqlite_gc_hook(f->s, NULL, NULL);
    assert_int_equal(r.rounds, -1);   /* the hook ran */
    for (int i = 0; i < 50; i++)
        assert_int_equal(fw_store_maintain(f->s, T0), FW_STORE_OK);
    char *out = sqlite3_cli(f->path,
        "SELECT (SELECT count(*) FROM (SELECT json_extract(j.value, '$[0]') AS sid FROM sample_blocks b, json_each(b.stacks) j"
        "  UNION ALL SELECT json_extract(j.value, '$[0]') FROM rollup_blocks b, json_each(b.stacks) j)"
        "  WHERE sid NOT IN (SELECT id FROM stacks))"
        " || '|' || (SELECT count(*) FROM stacks WHERE frame_id NOT IN (SELECT id FROM frames)"
        "  OR (parent_id <> 0 AND parent_id NOT IN (SELECT id FROM stacks)))"
        " || '|' || (SELECT count(*) FROM frames WHERE function_id NOT IN (SELECT id FROM functions))");
    assert_string_equal(out, "0|0|0\n");
    free(out);
    fw_store_query q = q_cpu(T0 - 700, T0);
    fw_store_table tb;
    fw_store_table_opts to = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_TOTAL, 0};
    assert_int_equal(fw_store_table_query(f->s, &q, &to, &tb), FW_STORE_OK);
    assert_int_equal(tb.grand_total, 150 * 20 * MS);
    assert_int_equal(tb.nrows, 2 + 3000);   /* main, a, and every gone_i (150 x 20 = 3000 of them) */
    for (size_t i = 0; i < tb.nrows; i++)
        assert_string_not_equal(tb.rows[i].name, "?");
    fw_store_table_free(&tb);
}

/* A trend over all time (1970..9999) picks a step that fits instead of refusing the range. */
static void test_trend_any_range(void **state)
{
    fx *f = *state;
    fw_profile *p = standard();
    ingest(f->s, "shop", p, T0);
    fw_profile_free(p);
    fw_store_query q = q_cpu(0, 253402300800LL);
    fw_store_trend tr;
    assert_int_equal(fw_store_trend_query(f->s, &q, 0, &tr), FW_STORE_OK);
    assert_true(tr.npoints <= 301);
    assert_int_equal(tr.step_s % 86400, 0);
    int64_t sum = 0;
    for (size_t i = 0; i < tr.npoints; i++)
        sum += tr.points[i].value;
    assert_int_equal(sum, 100 * MS);
    fw_store_trend_free(&tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_tree_exact, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_max_nodes_other, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_table_recursion_and_lines, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_label_filters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rollups_and_sql_equality, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_diff_significance, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reopen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_ingest_stores_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_sql, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_settings_and_agents, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_trend_steps, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rollup_blocks_equal_raw, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v1, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_value_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_poisoned_blocks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dimension_gc, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dimension_gc_races_ingest, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_trend_any_range, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
