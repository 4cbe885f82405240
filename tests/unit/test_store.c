/*
 * Unit tests of the SQLite store's queries: the flame tree, the table, label filters, diffs and
 * trends. Profiles are built only through fw_profile.h, with known values and counts, so every
 * expected number below is computed by hand (store_fixture.h). Roll-ups are tested in
 * test_store_rollups.c, durability and limits in test_store_integrity.c.
 */
#include "store_fixture.h"

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
        cmocka_unit_test_setup_teardown(test_diff_significance, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_trend_steps, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_trend_any_range, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
