/*
 * Unit tests of the bounded dimension cache (store/fw_store_dims.c), its map deletion and id map,
 * and of a store opened with a small cache budget: memory stays under the budget, every miss is
 * answered exactly from the source, and queries after eviction answer what a store that never
 * evicted answers. The label-set GC is tested here too (it is what bounds the label-set table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/fw_store.h"
#include "../../store/fw_store_dims.h"
#include "../../store/fw_store_idmap.h"
#include "../../store/sqlite/fw_store_sqlite.h"

/* ---------------------------------------------------------------- a fake source */

/* The "database": function i is ("function_number_<i>", "mod<i%7>.py"); frame i is (function i,
 * line i); stack i is (parent i-1, frame i), a chain from stack 1. */
#define NFAKE 100000u

typedef struct {
    fw_dims_src base;
    long by_id_calls, by_val_calls;
    char name[64], file[64];
} fake_src;

static void fake_fn(uint32_t i, char *name, char *file)
{
    snprintf(name, 64, "function_number_%u", i);
    snprintf(file, 64, "mod%u.py", i % 7);
}

static int fake_by_id(fw_dims_src *b, int kind, uint32_t id, fw_dims_val *out)
{
    fake_src *f = (fake_src *)b;
    f->by_id_calls++;
    if (id == 0 || id > NFAKE)
        return 0;
    memset(out, 0, sizeof *out);
    if (kind == FW_DIM_FN) {
        fake_fn(id, f->name, f->file);
        out->s1 = f->name;
        out->s2 = f->file;
    } else if (kind == FW_DIM_FR) {
        out->a = id;
        out->line = id;
    } else if (kind == FW_DIM_ST) {
        out->a = id - 1;
        out->b = id;
    } else {
        snprintf(f->name, sizeof f->name, "{k=\"%u\"}", id);
        out->s1 = f->name;
    }
    return 1;
}

static int fake_by_val(fw_dims_src *b, int kind, const fw_dims_val *v, uint32_t *id)
{
    fake_src *f = (fake_src *)b;
    f->by_val_calls++;
    unsigned u = 0;
    if (kind == FW_DIM_FN) {
        if (sscanf(v->s1, "function_number_%u", &u) != 1 || u == 0 || u > NFAKE)
            return 0;
        char n[64], fl[64];
        fake_fn(u, n, fl);
        if (strcmp(n, v->s1) || strcmp(fl, v->s2))
            return 0;
    } else if (kind == FW_DIM_FR) {
        if (v->a == 0 || v->a > NFAKE || v->line != v->a)
            return 0;
        u = v->a;
    } else if (kind == FW_DIM_ST) {
        if (v->b == 0 || v->b > NFAKE || v->a != v->b - 1)
            return 0;
        u = v->b;
    } else {
        return 0;
    }
    *id = u;
    return 1;
}

static void fake_init(fake_src *f, uint64_t epoch)
{
    memset(f, 0, sizeof *f);
    f->base.by_id = fake_by_id;
    f->base.by_val = fake_by_val;
    f->base.epoch = epoch;
}

/* ---------------------------------------------------------------- the cache */

static void test_budget_bounds_memory(void **state)
{
    (void)state;
    fw_dims c;
    fw_dims_init(&c, 1 << 20);
    c.complete[FW_DIM_FN] = 1;
    char n[64], fl[64];
    for (uint32_t i = 1; i <= NFAKE; i++) {
        fake_fn(i, n, fl);
        fw_dims_val v = {0, 0, 0, n, fl};
        assert_int_equal(fw_dims_add(&c, FW_DIM_FN, i, &v, NULL), 0);
        assert_true(fw_dims_bytes(&c) <= c.budget);
    }
    /* 100,000 functions do not fit in 1 MiB: the cache evicted, and knows it is no longer whole. */
    assert_true(c.evictions > 0);
    assert_true(c.nused < NFAKE);
    assert_true(c.nused > 1000);
    assert_int_equal(c.complete[FW_DIM_FN], 0);
    fw_dims_free(&c);
}

static void test_misses_reload_exactly(void **state)
{
    (void)state;
    fw_dims c;
    fw_dims_init(&c, 1 << 20);
    fake_src src;
    fake_init(&src, 0);
    char n[64], fl[64];
    /* id -> content, every id, through a cache far smaller than the set. */
    for (uint32_t i = 1; i <= NFAKE; i++) {
        fw_dims_val v;
        assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, i, &v), 1);
        fake_fn(i, n, fl);
        assert_string_equal(v.s1, n);
        assert_string_equal(v.s2, fl);
    }
    assert_int_equal(src.by_id_calls, NFAKE);
    assert_true(c.evictions > 0);
    /* content -> id, in another order: old ones were evicted and are found again, exactly. */
    for (uint32_t i = NFAKE; i >= 1; i -= 7) {
        fake_fn(i, n, fl);
        fw_dims_val v = {0, 0, 0, n, fl};
        uint32_t id = 0;
        assert_int_equal(fw_dims_find(&c, &src.base, FW_DIM_FN, &v, NULL, &id), 1);
        assert_int_equal(id, i);
        if (i <= 7)
            break;
    }
    fw_dims_val v = {0, 0, 0, "no_such_function", "x.py"};
    uint32_t id = 0;
    assert_int_equal(fw_dims_find(&c, &src.base, FW_DIM_FN, &v, NULL, &id), 0);
    /* A hit does not ask the source. */
    fw_dims_val w;
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 5, &w), 1);
    long calls = src.by_id_calls;
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 5, &w), 1);
    assert_int_equal(src.by_id_calls, calls);
    assert_true(c.hits > 0);
    fw_dims_free(&c);
}

static void test_stale_epoch_is_not_kept(void **state)
{
    (void)state;
    fw_dims c;
    fw_dims_init(&c, 1 << 20);
    c.epoch = 3;
    fake_src src;
    fake_init(&src, 2);   /* a snapshot from before the last GC */
    fw_dims_val v;
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 42, &v), 1);
    assert_string_equal(v.s1, "function_number_42");
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 42, &v), 1);
    assert_int_equal(src.by_id_calls, 2);   /* used, not kept */
    assert_int_equal(c.nused, 0);
    src.base.epoch = 3;
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 42, &v), 1);
    assert_int_equal(fw_dims_get(&c, &src.base, FW_DIM_FN, 42, &v), 1);
    assert_int_equal(src.by_id_calls, 3);
    assert_int_equal(c.nused, 1);
    fw_dims_free(&c);
}

static void test_path_map(void **state)
{
    (void)state;
    fw_dims c;
    fw_dims_init(&c, 1 << 20);
    fw_dims_path h = {0, 0}, hs[51];
    for (uint32_t i = 1; i <= 50; i++) {
        fw_dims_path_step(&h, i);
        hs[i] = h;
        fw_dims_val v = {i - 1, i, 0, NULL, NULL};
        assert_int_equal(fw_dims_add(&c, FW_DIM_ST, i, &v, &h), 0);
    }
    assert_int_equal(fw_dims_find_path(&c, &hs[50], 50), 50);
    assert_int_equal(fw_dims_find_path(&c, &hs[20], 20), 20);
    /* Another path (frame 4 replaced), or the same path with another leaf: never a wrong stack. */
    fw_dims_path o = {0, 0};
    for (uint32_t i = 1; i <= 50; i++)
        fw_dims_path_step(&o, i == 4 ? 999 : i);
    assert_int_equal(fw_dims_find_path(&c, &o, 50), 0);
    assert_int_equal(fw_dims_find_path(&c, &hs[50], 49), 0);
    /* Both hashes must match: the first alone is not enough. */
    fw_dims_path half = {hs[50].h, hs[50].h2 ^ 1};
    assert_int_equal(fw_dims_find_path(&c, &half, 50), 0);
    /* An evicted stack is not found by path; found again by content, it is back in the path map. */
    fw_dims_forget(&c, FW_DIM_ST, 10);
    assert_int_equal(fw_dims_find_path(&c, &hs[10], 10), 0);
    assert_int_equal(fw_dims_find_path(&c, &hs[50], 50), 50);
    fake_src src;
    fake_init(&src, 0);
    fw_dims_val v = {9, 10, 0, NULL, NULL};
    uint32_t id = 0;
    assert_int_equal(fw_dims_find(&c, &src.base, FW_DIM_ST, &v, &hs[10], &id), 1);
    assert_int_equal(id, 10);
    assert_int_equal(src.by_val_calls, 1);
    assert_int_equal(fw_dims_find_path(&c, &hs[10], 10), 10);
    fw_dims_free(&c);
}

static void test_forget_from(void **state)
{
    (void)state;
    fw_dims c;
    fw_dims_init(&c, 1 << 20);
    for (uint32_t i = 1; i <= 100; i++) {
        fw_dims_val v = {i, 0, i, NULL, NULL};
        assert_int_equal(fw_dims_add(&c, FW_DIM_FR, i, &v, NULL), 0);
    }
    uint32_t next[FW_DIM_KINDS] = {1, 60, 1, 1};
    fw_dims_forget_from(&c, next);   /* a rolled-back upload had made frames 60..100 */
    for (uint32_t i = 1; i <= 100; i++) {
        fw_dims_val v, w = {i, 0, i, NULL, NULL};
        uint32_t id = 0;
        assert_int_equal(fw_dims_get(&c, NULL, FW_DIM_FR, i, &v), i < 60);
        assert_int_equal(fw_dims_find(&c, NULL, FW_DIM_FR, &w, NULL, &id), i < 60);
    }
    assert_int_equal(c.nused, 59);
    fw_dims_free(&c);
}

/* ---------------------------------------------------------------- maps */

static uint32_t map_keys[20001];
static int map_eq(const void *ctx, uint32_t id, const void *key)
{
    (void)ctx;
    return map_keys[id] == *(const uint32_t *)key;
}

static void test_map_delete(void **state)
{
    (void)state;
    fw_map m = {0};
    srand(7);
    for (uint32_t i = 1; i <= 20000; i++) {
        map_keys[i] = (uint32_t)rand() % 5000 * 100000u + i;   /* clustered hashes too */
        assert_int_equal(fw_map_put(&m, fw_hash_u64x2(map_keys[i] % 977, 0), i), 0);
    }
    for (uint32_t i = 1; i <= 20000; i += 3)
        fw_map_del(&m, fw_hash_u64x2(map_keys[i] % 977, 0), i);
    for (uint32_t i = 1; i <= 20000; i++) {
        uint32_t got = fw_map_find(&m, fw_hash_u64x2(map_keys[i] % 977, 0), map_eq, NULL, &map_keys[i]);
        assert_int_equal(got, (i - 1) % 3 == 0 ? 0 : i);
    }
    assert_int_equal(m.n, 20000 - 6667);
    fw_map_free(&m);
}

static void test_idmap(void **state)
{
    (void)state;
    fw_idmap m = {0};
    for (uint32_t i = 1; i < 100000; i += 2)
        assert_int_equal(fw_idmap_put(&m, i * 2654435761u | 1u, i), 0);
    for (uint32_t i = 1; i < 100000; i += 2)
        assert_int_equal(fw_idmap_get(&m, i * 2654435761u | 1u, 0), i);
    assert_int_equal(fw_idmap_get(&m, 2, 77), 77);
    assert_int_equal(m.n, 50000);
    fw_idmap_free(&m);
}

/* ---------------------------------------------------------------- a store with a small budget */

#define T0 1700000000
#define MS 1000000LL

static fw_store *open_store(const char *dir, const char *name, size_t cache_bytes)
{
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fw_store_options opt = {.sync = FW_STORE_SYNC_NORMAL, .cache_bytes = cache_bytes};
    fw_store *s = NULL;
    if (fw_store_open_sqlite(path, &opt, &s, err, sizeof err) != FW_STORE_OK)
        fail_msg("open: %s", err);
    return s;
}

/* Upload u: 4000 stacks main;mod_<k>;fn_<u>_<i> (unique functions), each i MS of CPU, with a
 * label req=<u> (a label set per upload). */
static fw_profile *unique_profile(int u, int nstacks)
{
    fw_sample_type t[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 1);
    assert_non_null(p);
    char name[64], req[32], mod[32];
    snprintf(req, sizeof req, "r%d", u);
    for (int i = 1; i <= nstacks; i++) {
        uint64_t f0, f1, f2, l0, l1, l2;
        snprintf(name, sizeof name, "fn_%d_%d_with_a_longish_generated_name", u, i);
        snprintf(mod, sizeof mod, "mod_%d", i % 13);
        assert_int_equal(fw_profile_function(p, "main", "app.py", 1, &f0), FW_OK);
        assert_int_equal(fw_profile_function(p, mod, "app.py", 1, &f1), FW_OK);
        assert_int_equal(fw_profile_function(p, name, "gen.py", 1, &f2), FW_OK);
        assert_int_equal(fw_profile_location(p, f0, 1, &l0), FW_OK);
        assert_int_equal(fw_profile_location(p, f1, 2 + i % 3, &l1), FW_OK);
        assert_int_equal(fw_profile_location(p, f2, 7, &l2), FW_OK);
        uint64_t locs[3] = {l2, l1, l0};
        fw_label labels[] = {{"req", req}};
        int64_t v[] = {(int64_t)i * MS};
        assert_int_equal(fw_profile_add(p, locs, 3, labels, 1, v), FW_OK);
    }
    return p;
}

static void ingest(fw_store *s, fw_profile *p, int64_t t)
{
    fw_store_ingest_req r = {"shop", p, t, NULL, 0, 0};
    fw_store_ingest_result res;
    char err[256] = "";
    if (fw_store_ingest(s, &r, &res, err, sizeof err) != FW_STORE_OK)
        fail_msg("ingest: %s", err);
}

/* The tree and both tables of [T0 - 3600, T0) as one text, for comparing stores. */
static char *answers(fw_store *s)
{
    fw_store_query q = {"shop", "cpu", T0 - 3600, T0, NULL, 0};
    fw_store_tree_opts to = {FW_STORE_GRAN_LINE, 100000};
    fw_store_tree t;
    assert_int_equal(fw_store_tree_query(s, &q, &to, &t), FW_STORE_OK);
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (size_t i = 0; i < t.nnodes; i++) {
        if (n + 512 > cap)
            assert_non_null(out = realloc(out, cap *= 2));
        n += (size_t)snprintf(out + n, cap - n, "%d %s %s %lld %lld %lld\n", t.nodes[i].parent, t.nodes[i].name,
                              t.nodes[i].file, (long long)t.nodes[i].line, (long long)t.nodes[i].total,
                              (long long)t.nodes[i].self);
    }
    fw_store_tree_free(&t);
    for (int g = 0; g < 2; g++) {
        fw_store_table_opts o = {g ? FW_STORE_GRAN_LINE : FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_NAME, 0};
        fw_store_table tb;
        assert_int_equal(fw_store_table_query(s, &q, &o, &tb), FW_STORE_OK);
        for (size_t i = 0; i < tb.nrows; i++) {
            if (n + 512 > cap)
                assert_non_null(out = realloc(out, cap *= 2));
            n += (size_t)snprintf(out + n, cap - n, "%s %s %lld %lld %lld\n", tb.rows[i].name, tb.rows[i].file,
                                  (long long)tb.rows[i].line, (long long)tb.rows[i].self, (long long)tb.rows[i].total);
        }
        fw_store_table_free(&tb);
    }
    return out;
}

static void rmdir_r(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_small_budget_answers_exactly(void **state)
{
    (void)state;
    char dir[] = "/tmp/fw_dims_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    fw_store *big = open_store(dir, "big.db", 0), *small = open_store(dir, "small.db", 1 << 20);
    /* 5 x 4000 unique functions: far more than 1 MiB of entries, nothing for the 64 MiB default. */
    for (int u = 0; u < 5; u++) {
        fw_profile *p = unique_profile(u, 4000);
        ingest(big, p, T0 - 1800 + u * 10);
        ingest(small, p, T0 - 1800 + u * 10);
        fw_profile_free(p);
    }
    char *want = answers(big), *got = answers(small);
    /* 1 + main + 13 modules x 3 lines + 20,000 leaves, and the totals of 5 x sum(1..4000) ms. */
    assert_non_null(strstr(want, "-1 total  0 40010000000000 0\n"));
    assert_string_equal(got, want);
    /* Again, from a cache that holds the last query's entries, and after a restart (lazy open). */
    char *again = answers(small);
    assert_string_equal(again, want);
    fw_store_close(small);
    small = open_store(dir, "small.db", 1 << 20);
    char *reopened = answers(small);
    assert_string_equal(reopened, want);
    /* Ingest after the restart finds known content through the file: no duplicate rows. */
    fw_profile *p = unique_profile(2, 4000);
    ingest(small, p, T0 - 900);
    ingest(big, p, T0 - 900);
    fw_profile_free(p);
    free(got);
    free(want);
    want = answers(big);
    got = answers(small);
    assert_string_equal(got, want);
    fw_store_stats sb, ss;
    assert_int_equal(fw_store_get_stats(big, &sb), FW_STORE_OK);
    assert_int_equal(fw_store_get_stats(small, &ss), FW_STORE_OK);
    assert_int_equal(ss.stacks, sb.stacks);
    free(got);
    free(want);
    free(again);
    free(reopened);
    fw_store_close(big);
    fw_store_close(small);
    rmdir_r(dir);
}

static long long count_rows(fw_store *s, const char *sql)
{
    fw_store_sql_limits lim = {0};
    fw_store_sql_result r;
    char err[256] = "";
    if (fw_store_sql_run(s, sql, &lim, &r, err, sizeof err) != FW_STORE_OK)
        fail_msg("sql: %s", err);
    assert_int_equal(r.nrows, 1);
    assert_int_equal(r.cells[0].type, FW_STORE_VAL_INT);
    long long v = r.cells[0].i;
    fw_store_sql_result_free(&r);
    return v;
}

static void test_label_set_gc(void **state)
{
    (void)state;
    char dir[] = "/tmp/fw_dims_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    fw_store *s = open_store(dir, "ls.db", 0);
    /* 30 uploads past retention, each with its own label set, then 2 recent ones. */
    for (int u = 0; u < 30; u++) {
        fw_profile *p = unique_profile(u, 20);
        ingest(s, p, T0 - 8 * 86400 + u * 10);
        fw_profile_free(p);
    }
    for (int u = 100; u < 102; u++) {
        fw_profile *p = unique_profile(u, 20);
        ingest(s, p, T0 - 1800 + (u - 100) * 10);
        fw_profile_free(p);
    }
    assert_int_equal(count_rows(s, "SELECT count(*) FROM labelsets"), 32);
    for (int i = 0; i < 400; i++)
        assert_int_equal(fw_store_maintain(s, T0), FW_STORE_OK);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM labelsets"), 2);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM labels"), 2);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM labelsets WHERE labels IN ('{req=\"r100\"}', '{req=\"r101\"}')"), 2);
    /* Label filters still answer for the kept ones, and a forgotten one comes back as new. */
    fw_store_labels lv;
    fw_store_query q = {"shop", "cpu", T0 - 3600, T0, NULL, 0};
    assert_int_equal(fw_store_label_values(s, &q, &lv), FW_STORE_OK);
    fw_store_labels_free(&lv);
    fw_profile *p = unique_profile(5, 20);
    ingest(s, p, T0 - 600);
    fw_profile_free(p);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM labelsets"), 3);
    fw_store_close(s);
    rmdir_r(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_bounds_memory),
        cmocka_unit_test(test_misses_reload_exactly),
        cmocka_unit_test(test_stale_epoch_is_not_kept),
        cmocka_unit_test(test_path_map),
        cmocka_unit_test(test_forget_from),
        cmocka_unit_test(test_map_delete),
        cmocka_unit_test(test_idmap),
        cmocka_unit_test(test_small_budget_answers_exactly),
        cmocka_unit_test(test_label_set_gc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
