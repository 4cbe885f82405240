/*
 * Unit tests of the SQLite store's integrity: reopening, a failed ingest that stores nothing,
 * the read-only SQL endpoint, settings and agents, value limits, poisoned blocks, and the
 * dimension GC (alone and racing an ingest).
 */
#include "store_fixture.h"

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

/* Retries: an upload id is stored once per app and bucket, in the upload's own transaction. */
static void test_upload_id_stored_once(void **state)
{
    fx *f = *state;
    char err[256] = "";
    fw_store_ingest_result res;
    fw_profile *p = standard();
    fw_store_ingest_req r = {"shop", p, T0, NULL, 0, 0x8000000000000001ull};   /* the top bit too */

    /* A failed upload records no id: its retry is stored, not taken for a duplicate. */
    fw_store_sqlite_fail_after(f->s, 3);
    assert_int_equal(fw_store_ingest(f->s, &r, &res, err, sizeof err), FW_STORE_ERR_IO);
    memset(&res, 0xff, sizeof res);
    assert_int_equal(fw_store_ingest(f->s, &r, &res, err, sizeof err), FW_STORE_OK);
    assert_int_equal(res.duplicate, 0);
    assert_int_equal(res.stack_values, 6);

    /* The same id again: answered OK as a duplicate, nothing written. */
    fw_store_stats before, after;
    assert_int_equal(fw_store_get_stats(f->s, &before), FW_STORE_OK);
    assert_int_equal(fw_store_ingest(f->s, &r, &res, err, sizeof err), FW_STORE_OK);
    assert_int_equal(res.duplicate, 1);
    assert_int_equal(res.stack_values, 0);
    assert_int_equal(fw_store_get_stats(f->s, &after), FW_STORE_OK);
    assert_int_equal(after.profiles, before.profiles);
    assert_int_equal(after.stack_values, before.stack_values);

    /* Another bucket, another app, another id, or no id: each is an upload of its own. */
    fw_store_ingest_req others[] = {
        {"shop", p, T0 + 10, NULL, 0, r.upload_id},
        {"cart", p, T0, NULL, 0, r.upload_id},
        {"shop", p, T0, NULL, 0, 2},
        {"shop", p, T0, NULL, 0, 0},
        {"shop", p, T0, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        assert_int_equal(fw_store_ingest(f->s, &others[i], &res, err, sizeof err), FW_STORE_OK);
        assert_int_equal(res.duplicate, 0);
    }
    fw_store_query q = q_cpu(T0, T0 + 20);
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(f->s, &q, NULL, &t), FW_STORE_OK);
    assert_int_equal(t.nodes[0].total, 5 * 100 * MS);   /* shop: T0 x4 (first, id 2, no id twice), T0+10 */
    fw_store_tree_free(&t);
    char *out = sqlite3_cli(f->path, "SELECT count(*), count(DISTINCT upload_id) FROM uploads");
    assert_string_equal(out, "4|2\n");
    free(out);
    fw_profile_free(p);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_ingest_stores_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_upload_id_stored_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_sql, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_settings_and_agents, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_value_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_poisoned_blocks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dimension_gc, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dimension_gc_races_ingest, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
