/*
 * Unit tests for common/fw_profile.c: the specification of the in-memory profile.
 * Interning, deduplication, set semantics of labels, hard caps that leave the profile
 * unchanged, table growth under many inserts, merge across profiles, and metadata.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fw_profile.h"
#include "fw_utf8.h"

static const fw_sample_type fw_types2[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};

static uint64_t fw_loc(fw_profile *p, const char *name, const char *file, int64_t line)
{
    uint64_t f, l;
    assert_int_equal(fw_profile_function(p, name, file, 1, &f), FW_OK);
    assert_int_equal(fw_profile_location(p, f, line, &l), FW_OK);
    return l;
}

static void test_intern_and_index_zero(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    assert_non_null(p);
    assert_string_equal(fw_profile_string(p, 0), "");
    uint64_t a, b, c, e;
    assert_int_equal(fw_profile_intern(p, "", 0, &e), FW_OK);
    assert_int_equal(e, 0);
    assert_int_equal(fw_profile_intern(p, "hello", 5, &a), FW_OK);
    assert_int_equal(fw_profile_intern(p, "hello world", 5, &b), FW_OK);  /* length counts */
    assert_int_equal(a, b);
    assert_int_equal(fw_profile_intern(p, "hellp", 5, &c), FW_OK);
    assert_int_not_equal(a, c);
    assert_string_equal(fw_profile_string(p, a), "hello");
    assert_null(fw_profile_string(p, fw_profile_string_count(p)));
    uint64_t f;
    assert_true(fw_profile_find_string(p, "hellp", 5, &f));
    assert_int_equal(f, c);
    size_t before = fw_profile_string_count(p);
    assert_false(fw_profile_find_string(p, "absent", 6, &f));
    assert_int_equal(fw_profile_string_count(p), before);
    /* Sample type names are interned too (the encoder references them). */
    assert_true(fw_profile_find_string(p, "nanoseconds", 11, &f));
    fw_profile_free(p);
}

static void test_intern_rejects_bad_strings(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    size_t n = fw_profile_string_count(p);
    uint64_t i;
    assert_int_equal(fw_profile_intern(p, "a\0b", 3, &i), FW_ERR_INVALID);
    assert_int_equal(fw_profile_intern(p, "\xc0\xaf", 2, &i), FW_ERR_INVALID);      /* overlong */
    assert_int_equal(fw_profile_intern(p, "\xed\xa0\x80", 3, &i), FW_ERR_INVALID);  /* surrogate */
    assert_int_equal(fw_profile_intern(p, "\xf4\x90\x80\x80", 4, &i), FW_ERR_INVALID);
    assert_int_equal(fw_profile_intern(p, "\xe2\x82", 2, &i), FW_ERR_INVALID);      /* cut */
    assert_int_equal(fw_profile_intern(p, NULL, 0, &i), FW_ERR_INVALID);
    static char big[FW_PROFILE_MAX_STRING_LEN + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(fw_profile_intern(p, big, sizeof big, &i), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_string_count(p), n);
    assert_int_equal(fw_profile_intern(p, big, sizeof big - 1, &i), FW_OK);
    assert_int_equal(fw_profile_intern(p, "Café 処理 \xf0\x9f\x94\xa5", strlen("Café 処理 \xf0\x9f\x94\xa5"), &i), FW_OK);
    assert_true(fw_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    assert_false(fw_utf8_valid("\xff", 1));
    fw_profile_free(p);
}

static void test_types(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    assert_int_equal(fw_profile_type_count(p), 2);
    assert_string_equal(fw_profile_type(p, 1).type, "wall");
    assert_string_equal(fw_profile_type(p, 1).unit, "nanoseconds");
    assert_int_equal(fw_profile_find_type(p, "wall"), 1);
    assert_int_equal(fw_profile_find_type(p, "alloc_space"), -1);
    fw_profile_free(p);
    fw_sample_type many[FW_PROFILE_MAX_TYPES + 1];
    for (size_t i = 0; i <= FW_PROFILE_MAX_TYPES; i++)
        many[i] = (fw_sample_type){"t", "u"};
    assert_null(fw_profile_new(many, FW_PROFILE_MAX_TYPES + 1));
    p = fw_profile_new(many, FW_PROFILE_MAX_TYPES);
    assert_non_null(p);
    fw_profile_free(p);
}

static void test_functions_and_locations_dedup(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    uint64_t f1, f2, f3, l1, l2, l3;
    assert_int_equal(fw_profile_function(p, "Cart.total", "cart.py", 10, &f1), FW_OK);
    assert_int_equal(f1, 1);
    assert_int_equal(fw_profile_function(p, "Cart.total", "cart.py", 10, &f2), FW_OK);
    assert_int_equal(f1, f2);
    assert_int_equal(fw_profile_function(p, "Cart.total", "cart.py", 11, &f3), FW_OK);
    assert_int_equal(f3, 2);
    assert_int_equal(fw_profile_function_count(p), 2);
    const fw_function *fn = fw_profile_get_function(p, f1);
    assert_string_equal(fw_profile_string(p, fn->name), "Cart.total");
    assert_string_equal(fw_profile_string(p, fn->filename), "cart.py");
    assert_int_equal(fn->start_line, 10);
    assert_null(fw_profile_get_function(p, 0));
    assert_null(fw_profile_get_function(p, 3));

    assert_int_equal(fw_profile_location(p, f1, 12, &l1), FW_OK);
    assert_int_equal(fw_profile_location(p, f1, 12, &l2), FW_OK);
    assert_int_equal(l1, l2);
    assert_int_equal(fw_profile_location(p, f1, -1, &l3), FW_OK);
    assert_int_not_equal(l1, l3);
    assert_int_equal(fw_profile_location_count(p), 2);
    assert_int_equal(fw_profile_get_location(p, l3)->line, -1);
    assert_int_equal(fw_profile_location(p, 0, 1, &l3), FW_ERR_INVALID);
    assert_int_equal(fw_profile_location(p, 3, 1, &l3), FW_ERR_INVALID);
    assert_null(fw_profile_get_location(p, 3));
    assert_int_equal(fw_profile_function(p, NULL, "x", 1, &f3), FW_ERR_INVALID);
    assert_int_equal(fw_profile_function(p, "bad\xff", "x", 1, &f3), FW_ERR_INVALID);
    assert_int_equal(fw_profile_function_count(p), 2);
    fw_profile_free(p);
}

static void test_samples_merge_as_sets(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    uint64_t a = fw_loc(p, "a", "f.py", 1), b = fw_loc(p, "b", "f.py", 2);
    uint64_t stack[] = {a, b};
    fw_label l1[] = {{"thread_name", "MainThread"}, {"app", "shop"}, {"endpoint", "/x"}};
    fw_label l2[] = {{"endpoint", "/x"}, {"thread_name", "MainThread"}, {"app", "shop"},
                     {"app", "shop"}};  /* same set: order and repeats do not matter */
    fw_label l3[] = {{"thread_name", "worker-1"}, {"app", "shop"}, {"endpoint", "/x"}};
    int64_t v1[] = {10, 1}, v2[] = {5, 2};
    assert_int_equal(fw_profile_add(p, stack, 2, l1, 3, v1), FW_OK);
    assert_int_equal(fw_profile_add(p, stack, 2, l2, 4, v2), FW_OK);
    assert_int_equal(fw_profile_sample_count(p), 1);
    assert_int_equal(fw_profile_add(p, stack, 2, l3, 3, v1), FW_OK);
    assert_int_equal(fw_profile_add(p, stack, 1, l1, 3, v1), FW_OK);   /* shorter stack */
    uint64_t rev[] = {b, a};
    assert_int_equal(fw_profile_add(p, rev, 2, l1, 3, v1), FW_OK);     /* other order */
    assert_int_equal(fw_profile_add(p, stack, 2, NULL, 0, v1), FW_OK); /* no labels */
    assert_int_equal(fw_profile_sample_count(p), 5);

    fw_sample_view s;
    assert_int_equal(fw_profile_get_sample(p, 0, &s), FW_OK);
    assert_int_equal(s.depth, 2);
    assert_int_equal(s.location_ids[0], a);
    assert_int_equal(s.values[0], 15);
    assert_int_equal(s.values[1], 3);
    assert_int_equal(s.nlabels, 3);   /* the repeated app=shop was kept once */
    int seen_endpoint = 0;
    for (size_t i = 0; i < s.nlabels; i++)
        if (strcmp(fw_profile_string(p, s.label_keys[i]), "endpoint") == 0)
            seen_endpoint = strcmp(fw_profile_string(p, s.label_values[i]), "/x") == 0;
    assert_true(seen_endpoint);
    assert_int_equal(fw_profile_get_sample(p, 5, &s), FW_ERR_INVALID);

    /* Indexed adds meet the same samples. */
    uint64_t k[3], v[3];
    for (int i = 0; i < 3; i++) {
        assert_true(fw_profile_find_string(p, l1[i].key, strlen(l1[i].key), &k[2 - i]));
        assert_true(fw_profile_find_string(p, l1[i].value, strlen(l1[i].value), &v[2 - i]));
    }
    assert_int_equal(fw_profile_add_indexed(p, stack, 2, k, v, 3, v1), FW_OK);
    assert_int_equal(fw_profile_sample_count(p), 5);
    fw_profile_get_sample(p, 0, &s);
    assert_int_equal(s.values[0], 25);
    fw_profile_free(p);
}

static void test_add_rejects_invalid_without_change(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    uint64_t a = fw_loc(p, "a", "f.py", 1);
    int64_t v[] = {1, 1};
    size_t nstr = fw_profile_string_count(p);
    uint64_t bad[] = {a, 99};
    fw_label l[] = {{"brand-new-key", "brand-new-value"}};
    assert_int_equal(fw_profile_add(p, bad, 2, l, 1, v), FW_ERR_INVALID);
    uint64_t zero[] = {0};
    assert_int_equal(fw_profile_add(p, zero, 1, l, 1, v), FW_ERR_INVALID);
    static uint64_t deep[FW_PROFILE_MAX_DEPTH + 1];
    for (size_t i = 0; i <= FW_PROFILE_MAX_DEPTH; i++)
        deep[i] = a;
    assert_int_equal(fw_profile_add(p, deep, FW_PROFILE_MAX_DEPTH + 1, l, 1, v), FW_ERR_LIMIT);
    fw_label many[FW_PROFILE_MAX_LABELS + 1];
    for (size_t i = 0; i <= FW_PROFILE_MAX_LABELS; i++)
        many[i] = (fw_label){"k", "v"};
    assert_int_equal(fw_profile_add(p, deep, 1, many, FW_PROFILE_MAX_LABELS + 1, v), FW_ERR_LIMIT);
    fw_label badutf[] = {{"k", "v\xff"}};
    assert_int_equal(fw_profile_add(p, deep, 1, badutf, 1, v), FW_ERR_INVALID);
    fw_label nullv[] = {{"k", NULL}};
    assert_int_equal(fw_profile_add(p, deep, 1, nullv, 1, v), FW_ERR_INVALID);
    uint64_t k = 0, big = 1u << 30;
    assert_int_equal(fw_profile_add_indexed(p, deep, 1, &k, &big, 1, v), FW_ERR_INVALID);
    assert_int_equal(fw_profile_sample_count(p), 0);
    assert_int_equal(fw_profile_string_count(p), nstr);
    /* The maximum depth itself is fine. */
    assert_int_equal(fw_profile_add(p, deep, FW_PROFILE_MAX_DEPTH, NULL, 0, v), FW_OK);
    fw_profile_free(p);
}

static void test_values_saturate(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    uint64_t a = fw_loc(p, "a", "f.py", 1);
    int64_t v1[] = {INT64_MAX - 1, INT64_MIN + 1}, v2[] = {5, -5};
    assert_int_equal(fw_profile_add(p, &a, 1, NULL, 0, v1), FW_OK);
    assert_int_equal(fw_profile_add(p, &a, 1, NULL, 0, v2), FW_OK);
    fw_sample_view s;
    fw_profile_get_sample(p, 0, &s);
    assert_true(s.values[0] == INT64_MAX);
    assert_true(s.values[1] == INT64_MIN);
    fw_profile_free(p);
}

/* Growth through many table doublings: every sample stays findable and correct. */
static void test_many_samples(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    enum { NF = 300, NS = 60000 };
    uint64_t locs[NF];
    char name[32];
    for (int i = 0; i < NF; i++) {
        snprintf(name, sizeof name, "mod.func_%d", i);
        locs[i] = fw_loc(p, name, "mod.py", i);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NS; i++) {
            uint64_t st[3] = {locs[i % NF], locs[(i / NF) % NF], locs[(i * 7) % NF]};
            char tn[32];
            snprintf(tn, sizeof tn, "worker-%d", i % 50);
            fw_label l[] = {{"thread_name", tn}, {"app", "bench"}};
            int64_t v[] = {i, 1};
            assert_int_equal(fw_profile_add(p, st, 3, l, 2, v), FW_OK);
        }
    }
    assert_int_equal(fw_profile_sample_count(p), NS);
    for (size_t i = 0; i < NS; i += 997) {
        fw_sample_view s;
        fw_profile_get_sample(p, i, &s);
        assert_int_equal(s.values[0], 2 * (int64_t)i);
        assert_int_equal(s.values[1], 2);
        assert_int_equal(s.location_ids[0], locs[i % NF]);
    }
    fw_profile_free(p);
}

static void test_function_cap_leaves_profile_unchanged(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 1);
    uint64_t name, file, id;
    fw_profile_intern(p, "f", 1, &name);
    fw_profile_intern(p, "f.py", 4, &file);
    for (int64_t i = 0; i < (int64_t)FW_PROFILE_MAX_FUNCTIONS; i++)
        assert_int_equal(fw_profile_function_indexed(p, name, file, i, &id), FW_OK);
    assert_int_equal(fw_profile_function_count(p), FW_PROFILE_MAX_FUNCTIONS);
    size_t nstr = fw_profile_string_count(p);
    assert_int_equal(fw_profile_function_indexed(p, name, file, -1, &id), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_function(p, "new-name", "new-file", 1, &id), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_string_count(p), nstr);
    assert_int_equal(fw_profile_function_count(p), FW_PROFILE_MAX_FUNCTIONS);
    /* Existing functions are still found at the cap. */
    assert_int_equal(fw_profile_function(p, "f", "f.py", 5, &id), FW_OK);
    assert_int_equal(id, 6);
    fw_profile_free(p);
}

static void test_string_cap(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(NULL, 0);
    char s[16];
    uint64_t id;
    for (size_t i = fw_profile_string_count(p); i < FW_PROFILE_MAX_STRINGS; i++) {
        int n = snprintf(s, sizeof s, "%zx", i);
        assert_int_equal(fw_profile_intern(p, s, (size_t)n, &id), FW_OK);
    }
    assert_int_equal(fw_profile_intern(p, "one more", 8, &id), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_intern(p, "ff", 2, &id), FW_OK);  /* existing: fine */
    assert_int_equal(fw_profile_string_count(p), FW_PROFILE_MAX_STRINGS);
    /* A sample that needs a new label string fails as a whole. */
    uint64_t f, l;
    assert_int_equal(fw_profile_function(p, "ff", "fe", 1, &f), FW_OK);
    assert_int_equal(fw_profile_location(p, f, 1, &l), FW_OK);
    fw_label lab[] = {{"ff", "brand new"}};
    assert_int_equal(fw_profile_add(p, &l, 1, lab, 1, NULL), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_sample_count(p), 0);
    fw_profile_free(p);
}

static void test_sample_cap(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 1);
    uint64_t f, l;
    assert_int_equal(fw_profile_function(p, "f", "f.py", 1, &f), FW_OK);
    for (int64_t i = 0; i < 2048; i++)
        assert_int_equal(fw_profile_location(p, f, i, &l), FW_OK);
    /* Stacks of two frames over 2048 locations: exactly 2^22 distinct stacks. */
    uint64_t st[2];
    int64_t v = 1;
    for (uint32_t i = 0; i < FW_PROFILE_MAX_SAMPLES; i++) {
        st[0] = 1 + (i & 2047);
        st[1] = 1 + (i >> 11);
        if (fw_profile_add(p, st, 2, NULL, 0, &v) != FW_OK)
            fail_msg("add %u failed", i);
    }
    assert_int_equal(fw_profile_sample_count(p), FW_PROFILE_MAX_SAMPLES);
    size_t nstr = fw_profile_string_count(p);
    uint64_t other[] = {1};
    fw_label lab[] = {{"new", "label"}};
    assert_int_equal(fw_profile_add(p, other, 1, NULL, 0, &v), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_add(p, st, 2, lab, 1, &v), FW_ERR_LIMIT);
    assert_int_equal(fw_profile_string_count(p), nstr);
    assert_int_equal(fw_profile_sample_count(p), FW_PROFILE_MAX_SAMPLES);
    /* Existing samples still merge at the cap. */
    st[0] = st[1] = 1;
    assert_int_equal(fw_profile_add(p, st, 2, NULL, 0, &v), FW_OK);
    fw_sample_view s;
    fw_profile_get_sample(p, 0, &s);
    assert_int_equal(s.values[0], 2);
    fw_profile_free(p);
}

static void test_merge(void **state)
{
    (void)state;
    const fw_sample_type t_dst[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    const fw_sample_type t_src[] = {{"alloc_space", "bytes"}, {"wall", "nanoseconds"},
                                    {"cpu", "nanoseconds"}};
    fw_profile *dst = fw_profile_new(t_dst, 2), *src = fw_profile_new(t_src, 3);
    /* Different insertion orders give different indexes in the two profiles. */
    uint64_t d1 = fw_loc(dst, "a", "a.py", 1);
    uint64_t s_pad = fw_loc(src, "zzz", "z.py", 9);
    uint64_t s1 = fw_loc(src, "a", "a.py", 1), s2 = fw_loc(src, "b", "b.py", 2);
    (void)s_pad;
    fw_label ld[] = {{"thread_name", "T"}};
    fw_label ls[] = {{"thread_name", "T"}};
    int64_t vd[] = {100, 200}, vs[] = {7, 20, 10};
    assert_int_equal(fw_profile_add(dst, &d1, 1, ld, 1, vd), FW_OK);
    assert_int_equal(fw_profile_add(src, &s1, 1, ls, 1, vs), FW_OK);
    uint64_t st2[] = {s2, s1};
    assert_int_equal(fw_profile_add(src, st2, 2, NULL, 0, vs), FW_OK);
    fw_profile_set_time(dst, 1000, 100);
    fw_profile_set_time(src, 900, 150);
    fw_profile_set_period(src, "cpu", "nanoseconds", 10000000);

    assert_int_equal(fw_profile_merge(dst, src), FW_OK);
    assert_int_equal(fw_profile_sample_count(dst), 2);
    fw_sample_view s;
    fw_profile_get_sample(dst, 0, &s);
    assert_int_equal(s.values[0], 110);   /* cpu matched by name and unit */
    assert_int_equal(s.values[1], 220);
    fw_profile_get_sample(dst, 1, &s);
    assert_int_equal(s.depth, 2);
    const fw_function *leaf = fw_profile_get_function(dst,
                                  fw_profile_get_location(dst, s.location_ids[0])->function_id);
    assert_string_equal(fw_profile_string(dst, leaf->name), "b");
    assert_int_equal(fw_profile_time_nanos(dst), 900);
    assert_int_equal(fw_profile_duration_nanos(dst), 200);   /* 900 .. 1100 */
    assert_int_equal(fw_profile_period(dst), 10000000);
    /* Merging twice doubles, and merging a profile into itself is refused. */
    assert_int_equal(fw_profile_merge(dst, src), FW_OK);
    fw_profile_get_sample(dst, 0, &s);
    assert_int_equal(s.values[0], 120);
    assert_int_equal(fw_profile_merge(dst, dst), FW_ERR_INVALID);
    fw_profile_free(dst);
    fw_profile_free(src);
}

static void test_metadata(void **state)
{
    (void)state;
    fw_profile *p = fw_profile_new(fw_types2, 2);
    uint64_t t, u;
    fw_profile_period_type(p, &t, &u);
    assert_int_equal(t, 0);
    assert_int_equal(u, 0);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10000000);
    fw_profile_period_type(p, &t, &u);
    assert_string_equal(fw_profile_string(p, t), "cpu");
    assert_string_equal(fw_profile_string(p, u), "nanoseconds");
    assert_int_equal(fw_profile_period(p), 10000000);
    fw_profile_set_time(p, 5, 6);
    assert_int_equal(fw_profile_time_nanos(p), 5);
    assert_int_equal(fw_profile_duration_nanos(p), 6);
    assert_int_equal(fw_profile_add_comment(p, "hello"), FW_OK);
    assert_int_equal(fw_profile_comment_count(p), 1);
    assert_string_equal(fw_profile_comment(p, 0), "hello");
    assert_null(fw_profile_comment(p, 1));
    fw_profile_free(p);
    fw_profile_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intern_and_index_zero),
        cmocka_unit_test(test_intern_rejects_bad_strings),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_functions_and_locations_dedup),
        cmocka_unit_test(test_samples_merge_as_sets),
        cmocka_unit_test(test_add_rejects_invalid_without_change),
        cmocka_unit_test(test_values_saturate),
        cmocka_unit_test(test_many_samples),
        cmocka_unit_test(test_function_cap_leaves_profile_unchanged),
        cmocka_unit_test(test_string_cap),
        cmocka_unit_test(test_sample_cap),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
