/*
 * Unit tests for common/fw_units.c (the console's number formatting; every expected string
 * below is what web/src/util.js / Number.prototype.toFixed print, checked with node) and for
 * the export model and writers of common/fw_export*.c (interning, limits, output shape).
 * tests/suites/cli_formats.py checks the writers end to end against the speedscope schema,
 * an XML parser and the console itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fw_export.h"
#include "fw_units.h"

static void test_to_fixed_like_javascript(void **state)
{
    (void)state;
    static const struct { double x; int digits; const char *want; } cases[] = {
        {0.125, 2, "0.13"},   /* exact tie: up (printf would say 0.12) */
        {1.005, 2, "1.00"},   /* really 1.00499...: down */
        {2.5, 0, "3"}, {100.5, 0, "101"}, {0.5, 0, "1"},
        {1.45, 1, "1.4"},     /* really 1.4499...: down */
        {9.995, 2, "9.99"}, {99.95, 1, "100.0"}, {0, 2, "0.00"},
        {1e20, 2, "100000000000000000000.00"},
    };
    char out[FW_UNITS_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fw_units_to_fixed(cases[i].x, cases[i].digits, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_values_like_the_console(void **state)
{
    (void)state;
    static const struct { double v; const char *unit; const char *want; } cases[] = {
        {1965897747, "nanoseconds", "1.97 s"}, {327155712, "bytes", "312 MB"}, {12345, "count", "12.3k"},
        {-1500, "nanoseconds", "\xe2\x88\x92" "1.5 \xc2\xb5s"}, {999.5, "nanoseconds", "1000 ns"},
        {3600e9, "nanoseconds", "1 h"}, {0, "bytes", "0 B"}, {5e18, "count", "5000P"},
    };
    char out[FW_UNITS_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fw_units_value(cases[i].v, cases[i].unit, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
    fw_units_value(0.0 / 0.0, "bytes", out, sizeof out);
    assert_string_equal(out, "\xe2\x80\x93");
    fw_units_pct(0.2475, out, sizeof out);
    assert_string_equal(out, "24.75%");
    fw_units_pct(-0.00001, out, sizeof out);
    assert_string_equal(out, "-0.00%");
    fw_units_signed_pct(0.0123, out, sizeof out);
    assert_string_equal(out, "+1.23 pp");
    fw_units_signed_pct(-0.005, out, sizeof out);
    assert_string_equal(out, "\xe2\x88\x92" "0.50 pp");
    fw_units_signed_pct(0, out, sizeof out);
    assert_string_equal(out, "\xc2\xb1" "0.00 pp");
    assert_int_equal(fw_units_width("1.5 \xc2\xb5s"), 6);
}

static void test_model_interns_and_limits(void **state)
{
    (void)state;
    fw_export *e = fw_export_new("cpu", NULL);
    assert_non_null(e);
    assert_string_equal(e->unit, "count");
    uint32_t a, b, c, g;
    assert_int_equal(fw_export_frame_id(e, "main", "app.py", 1, &a), 0);
    assert_int_equal(fw_export_frame_id(e, "main", "app.py", 2, &b), 0);
    assert_int_equal(fw_export_frame_id(e, "main", "app.py", 1, &c), 0);
    assert_int_equal(a, c);
    assert_true(a != b);
    /* Enough frames to grow the table several times; ids stay stable. */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(fw_export_frame_id(e, name, "", 0, &c), 0);
        assert_int_equal(c, (uint32_t)i + 2);
    }
    assert_int_equal(fw_export_frame_id(e, "main", "app.py", 2, &c), 0);
    assert_int_equal(c, b);
    assert_int_equal(fw_export_group_id(e, "MainThread", &g), 0);
    uint32_t *deep = malloc((FW_EXPORT_MAX_DEPTH + 10) * sizeof *deep);
    for (size_t i = 0; i < FW_EXPORT_MAX_DEPTH + 10; i++)
        deep[i] = (uint32_t)(i % 7);
    assert_int_equal(fw_export_add(e, g, deep, FW_EXPORT_MAX_DEPTH + 10, 5), 0);
    assert_int_equal(e->stacks[0].depth, FW_EXPORT_MAX_DEPTH);
    assert_int_equal(fw_export_add(e, g, deep, 3, 0), 0);    /* ignored */
    assert_int_equal(fw_export_add(e, g, deep, 3, -4), 0);   /* ignored */
    assert_int_equal(e->nstacks, 1);
    assert_int_equal(fw_export_add(e, g, deep, 2, INT64_MAX), 0);
    assert_true(fw_export_total(e) == INT64_MAX);             /* saturates */
    free(deep);
    fw_export_free(e);
}

static void test_writers(void **state)
{
    (void)state;
    fw_export *e = fw_export_new("alloc_space", "bytes");
    uint32_t f[3], g1, g2;
    assert_int_equal(fw_export_frame_id(e, "main", "app.py", 3, &f[0]), 0);
    assert_int_equal(fw_export_frame_id(e, "<&\"'>", "", 0, &f[1]), 0);
    assert_int_equal(fw_export_frame_id(e, "bad\xff\x01utf8", "x.py", 0, &f[2]), 0);
    assert_int_equal(fw_export_group_id(e, "MainThread", &g1), 0);
    assert_int_equal(fw_export_group_id(e, "worker-*", &g2), 0);
    assert_int_equal(fw_export_add(e, g1, f, 2, 1024), 0);
    assert_int_equal(fw_export_add(e, g2, (uint32_t[]){f[0], f[2]}, 2, 3072), 0);

    fw_buf b = {0};
    assert_int_equal(fw_export_speedscope(e, "app", &b), 0);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    const char *s = (const char *)b.data;
    assert_non_null(strstr(s, "\"$schema\":\"https://www.speedscope.app/file-format-schema.json\""));
    assert_non_null(strstr(s, "\"name\":\"app: MainThread\",\"unit\":\"bytes\",\"startValue\":0,\"endValue\":1024,"
                              "\"samples\":[[0,1]],\"weights\":[1024]"));
    assert_non_null(strstr(s, "\"name\":\"app: worker-*\""));
    assert_non_null(strstr(s, "{\"name\":\"main\",\"file\":\"app.py\",\"line\":3}"));
    fw_buf_free(&b);

    memset(&b, 0, sizeof b);
    assert_int_equal(fw_export_svg(e, "t<1>", &b), 0);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    s = (const char *)b.data;
    assert_non_null(strstr(s, "t&lt;1&gt;"));
    assert_non_null(strstr(s, "&lt;&amp;&quot;&#39;&gt;"));
    assert_null(strstr(s, "\xff"));
    assert_null(strstr(s, "\x01"));
    assert_non_null(strstr(s, "<title>main (app.py:3) \xe2\x80\x94 4 KB, 100.00%</title><rect x=\"10.00\""));
    size_t rects = 0;
    for (const char *p = s; (p = strstr(p, "<rect x=")); p++)
        rects++;
    assert_int_equal(rects, 4);   /* all, main, and main's two children */
    fw_buf_free(&b);
    fw_export_free(e);

    /* Nothing at all: still a loadable file and a drawable picture. */
    e = fw_export_new("cpu", "nanoseconds");
    memset(&b, 0, sizeof b);
    assert_int_equal(fw_export_speedscope(e, "empty", &b), 0);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    assert_non_null(strstr((const char *)b.data, "\"samples\":[],\"weights\":[]"));
    fw_buf_free(&b);
    memset(&b, 0, sizeof b);
    assert_int_equal(fw_export_svg(e, "empty", &b), 0);
    fw_buf_free(&b);
    fw_export_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_fixed_like_javascript),
        cmocka_unit_test(test_values_like_the_console),
        cmocka_unit_test(test_model_interns_and_limits),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
