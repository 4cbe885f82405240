/*
 * Unit tests of the analysis engine (server/analysis/) on a real SQLite store with profiles built
 * through fw_profile.h, so every expected number is computed by hand: a rule's share counts a
 * sample once when several of its frames match, the comparison's z is the two-proportion test on
 * self counts, a cost that moved between a caller and a callee is not a significant change, and
 * the question grammar answers or falls back to help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../server/analysis/fw_analysis.h"
#include "../../server/analysis/fw_ask.h"
#include "../../store/sqlite/fw_store_sqlite.h"

#define T0 1700000000
#define MS 1000000LL

const char *fw_analysis_match_name(const char *const *names, size_t n, const char *want);

typedef struct {
    char dir[64];
    char path[128];
    fw_store *s;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fw_analysis_test_XXXXXX");
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
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static fw_profile *cpu_profile(void)
{
    fw_sample_type t[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 1);
    assert_non_null(p);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10 * MS);
    return p;
}

/* "name@file;name@file" root first; `ticks` samples of 10 ms. */
static void add(fw_profile *p, const char *stack, int64_t ticks, const char *endpoint)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", stack);
    uint64_t locs[32];
    char *frames[32];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
        frames[n++] = tok;
    for (size_t i = 0; i < n; i++) {
        char *at = strchr(frames[i], '@');
        const char *file = "app.py";
        if (at) {
            *at = '\0';
            file = at + 1;
        }
        uint64_t fid, lid;
        assert_int_equal(fw_profile_function(p, frames[i], file, 1, &fid), FW_OK);
        assert_int_equal(fw_profile_location(p, fid, (int64_t)(i + 1), &lid), FW_OK);
        locs[n - 1 - i] = lid;
    }
    fw_label labels[] = {{"endpoint", endpoint}};
    int64_t v[] = {ticks * 10 * MS};
    assert_int_equal(fw_profile_add(p, locs, n, labels, 1, v), FW_OK);
}

static void ingest(fw_store *s, fw_profile *p, int64_t t)
{
    fw_store_ingest_req r = {"app", p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    char err[256] = "";
    assert_int_equal(fw_store_ingest(s, &r, &res, err, sizeof err), FW_STORE_OK);
    fw_profile_free(p);
}

static const fw_finding *find(const fw_report *r, const char *id, const char *frame)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->findings[i].id, id) == 0 &&
            (!frame || (r->findings[i].nframes && strcmp(r->findings[i].frames[0], frame) == 0)))
            return &r->findings[i];
    return NULL;
}

static void test_helpers(void **state)
{
    (void)state;
    /* 100/1000 -> 300/1000: p = 0.2, se = sqrt(0.2 * 0.8 * 2/1000) */
    assert_true(fabs(fw_ztest(100, 1000, 300, 1000) - 0.2 / sqrt(0.16 * 0.002)) < 1e-9);
    assert_true(fw_ztest(0, 0, 5, 10) == 0);
    const char *names[] = {"Cart.total", "checkout", "JSONEncoder.iterencode", "parse_query"};
    assert_string_equal(fw_analysis_match_name(names, 4, "checkout"), "checkout");
    assert_string_equal(fw_analysis_match_name(names, 4, "cart total"), "Cart.total");
    assert_string_equal(fw_analysis_match_name(names, 4, "iterencode"), "JSONEncoder.iterencode");
    assert_string_equal(fw_analysis_match_name(names, 4, "parse_qeury"), "parse_query");
    assert_null(fw_analysis_match_name(names, 4, "weather"));
    assert_null(fw_analysis_match_name(names, 4, "?!"));
    char v[48];
    fw_fmt_value(v, sizeof v, 1500 * MS, "nanoseconds");
    assert_string_equal(v, "1.5 s");
    fw_fmt_value(v, sizeof v, 3 << 20, "bytes");
    assert_string_equal(v, "3 MB");
}

/* Logging at 20 of 100 ticks, two matching frames per sample: counted once. */
static void test_rule_share_counts_a_sample_once(void **state)
{
    fx *f = *state;
    fw_profile *p = cpu_profile();
    add(p, "main;Logger.info@/usr/lib/python3.11/logging/__init__.py;Handler.emit@/usr/lib/python3.11/logging/__init__.py", 20, "/a");
    add(p, "main;work", 80, "/a");
    ingest(f->s, p, T0);
    fw_store_query q = {"app", "cpu", T0, T0 + 60, NULL, 0};
    fw_analysis_req req = {f->s, &q, NULL, NULL, 0};
    fw_report r;
    assert_int_equal(fw_analysis_run(&req, &r), FW_STORE_OK);
    const fw_finding *lg = find(&r, "logging", NULL);
    assert_non_null(lg);
    assert_true(fabs(lg->share - 0.2) < 1e-9);
    assert_int_equal(lg->value, 200 * MS);
    assert_string_equal(lg->frames[0], "Handler.emit");
    assert_non_null(lg->suggestion);
    const fw_finding *dom = find(&r, "dominance", "work");
    assert_non_null(dom);
    assert_int_equal(dom->level, FW_LVL_HOT);
    assert_null(find(&r, "json", NULL));
    assert_true(r.nsql >= 2);
    fw_report_free(&r);
}

/* Baseline: render 500 self, iterencode (3 frames below) 500, other 1000. Now: 100 and 900:
 * each moved by 20 points (|z| > 3), but the pair's share is unchanged: a shift, not a change.
 * slow: 200 -> 600 of 2000 (other shrinks) is a real, significant regression. */
static void test_compare_shift_and_regression(void **state)
{
    fx *f = *state;
    static const char *ser = "main;render;dumps@json/__init__.py;encode@json/encoder.py;iterencode@json/encoder.py";
    int64_t r0[] = {500, 500, 700, 200, 300}, r1[] = {100, 900, 600, 600, 0};
    for (int k = 0; k < 2; k++) {
        const int64_t *r = k ? r1 : r0;
        fw_profile *p = cpu_profile();
        add(p, "main;render", r[0], "/a");
        add(p, ser, r[1], "/a");
        add(p, "main;other", r[2], "/a");
        add(p, "main;slow", r[3], k ? "/b" : "/a");
        if (r[4])
            add(p, "main;[unknown]@", r[4], "/a");
        ingest(f->s, p, k ? T0 + 3600 : T0);
    }
    fw_store_query base = {"app", "cpu", T0, T0 + 60, NULL, 0}, cur = {"app", "cpu", T0 + 3600, T0 + 3660, NULL, 0};
    fw_analysis_req req = {f->s, &cur, &base, "slow", 0};
    fw_report r;
    assert_int_equal(fw_analysis_run(&req, &r), FW_STORE_OK);
    const fw_finding *render = find(&r, "change", "render"), *it = find(&r, "change", "iterencode");
    const fw_finding *slow = find(&r, "change", "slow");
    assert_non_null(render);
    assert_non_null(it);
    assert_non_null(slow);
    assert_true(fabs(render->change.z) >= FW_STORE_Z_SIGNIFICANT);
    assert_int_equal(render->change.significant, 0);
    assert_int_equal(it->change.significant, 0);
    assert_non_null(strstr(render->detail, "shifted"));
    assert_int_equal(slow->change.significant, 1);
    assert_true(fabs(slow->change.z - fw_ztest(200, 2200, 600, 2200)) < 1e-9);
    assert_true(fabs(slow->change.cmp_share - 600.0 / 2200) < 1e-9);
    /* The agent's pseudo-frame vanished (300 -> 0 of 2200): |z| is large, but it is not code. */
    const fw_finding *unk = find(&r, "change", "[unknown]");
    assert_non_null(unk);
    assert_true(fabs(unk->change.z) >= FW_STORE_Z_SIGNIFICANT);
    assert_int_equal(unk->change.significant, 0);
    assert_string_equal(unk->change.status, "vanished");
    /* Ranked by absolute change: render and iterencode (18.2 points) before slow (18.2)... all by |delta|. */
    double prev = 1;
    for (size_t i = 0; i < r.n; i++)
        if (r.findings[i].has_change) {
            double d = fabs(r.findings[i].change.cmp_share - r.findings[i].change.base_share);
            assert_true(d <= prev + 1e-12);
            prev = d;
        }
    /* slow grew only under endpoint=/b: the attribution says so, and so does the focus. */
    const fw_finding *at = find(&r, "attribution", "slow");
    assert_non_null(at);
    assert_non_null(strstr(at->title, "endpoint=/b"));
    assert_non_null(r.focus);
    assert_true(r.focus->found);
    assert_int_equal(r.focus->self, 600 * 10 * MS);
    assert_int_equal(r.focus->base_self, 200 * 10 * MS);
    assert_string_equal(r.focus->name, "slow");
    fw_report_free(&r);
}

static void test_ask(void **state)
{
    fx *f = *state;
    fw_profile *p = cpu_profile();
    add(p, "main;checkout;Cart.total", 70, "/checkout");
    add(p, "main;search", 30, "/search");
    ingest(f->s, p, T0);
    fw_store_query q = {"app", "cpu", T0, T0 + 60, NULL, 0};
    fw_answer a;
    assert_int_equal(fw_ask_run(f->s, &q, 0, "what uses the most cpu?", &a), FW_STORE_OK);
    assert_string_equal(a.intent, "top_functions");
    assert_true(a.understood);
    assert_string_equal(a.rows.rows[0].label, "Cart.total");
    assert_true(fabs(a.rows.rows[0].share - 0.7) < 1e-9);
    fw_answer_free(&a);
    assert_int_equal(fw_ask_run(f->s, &q, 0, "who calls cart total", &a), FW_STORE_OK);
    assert_string_equal(a.intent, "callers");
    assert_string_equal(a.rows.rows[0].label, "checkout");
    fw_answer_free(&a);
    assert_int_equal(fw_ask_run(f->s, &q, 0, "which endpoint uses the most", &a), FW_STORE_OK);
    assert_string_equal(a.intent, "top_label");
    assert_string_equal(a.rows.rows[0].label, "endpoint=/checkout");
    fw_answer_free(&a);
    assert_int_equal(fw_ask_run(f->s, &q, 0, "is it raining in Paris", &a), FW_STORE_OK);
    assert_string_equal(a.intent, "help");
    assert_false(a.understood);
    assert_int_equal(a.rows.nrows, 0);
    fw_answer_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helpers),
        cmocka_unit_test_setup_teardown(test_rule_share_counts_a_sample_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_compare_shift_and_regression, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ask, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
