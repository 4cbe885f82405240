/*
 * Unit tests of the SQLite store's roll-ups: every level equals the sum of its raw rows (checked
 * with the sqlite3 command-line shell on the same file, a different process reading the WAL, and
 * through the read-only SQL endpoint), retention, and the upgrade of schema-1 files.
 */
#include "store_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollups_and_sql_equality, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retention, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rollup_blocks_equal_raw, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v1, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
