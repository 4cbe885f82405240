/*
 * Unit tests for the one JSON reader (common/fw_jobject.c), the one UTF-8 validator
 * (common/fw_utf8.c), and the agent's settings reader built on them (agent/fw_settings.c,
 * compiled in here: it needs nothing but libc and common/).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fw_jobject.h"
#include "fw_utf8.h"
#include "../../agent/fw_settings.c"

static int parse(const char *text, fw_jobject *o, char *err, size_t errlen)
{
    return fw_jobject_parse(text, strlen(text), o, err, errlen);
}

static void test_flat_object(void **state)
{
    (void)state;
    fw_jobject o;
    char err[128];
    assert_int_equal(parse("{\"a\": 1, \"b\": \"x\\u00e9\\ud83d\\ude00\", \"c\": true, \"d\": null,"
                           " \"e\": 2.5, \"f\": {\"g\": [1, 2]}}", &o, err, sizeof err), 0);
    assert_int_equal(o.n, 6);
    const fw_jmember *m = fw_jobject_get(&o, "a");
    assert_true(m && m->type == FW_JV_NUMBER && m->is_int && m->i == 1);
    m = fw_jobject_get(&o, "b");
    assert_true(m && m->type == FW_JV_STRING);
    assert_string_equal(m->str, "x\xc3\xa9\xf0\x9f\x98\x80");
    m = fw_jobject_get(&o, "c");
    assert_true(m && m->type == FW_JV_BOOL && m->b == 1);
    assert_int_equal(fw_jobject_get(&o, "d")->type, FW_JV_NULL);
    m = fw_jobject_get(&o, "e");
    assert_true(m && m->type == FW_JV_NUMBER && !m->is_int);
    assert_int_equal(fw_jobject_get(&o, "f")->type, FW_JV_OTHER);
    assert_null(fw_jobject_get(&o, "g"));
    fw_jobject_free(&o);
}

static void test_bad_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "{", "{\"a\"}", "{\"a\": }", "{\"a\": 1,}", "{\"a\": 1} x", "{\"a\": \"\\ud800\"}",
        "{\"a\": \"\x01\"}", "{\"a\": \"\xc0\xaf\"}", "{\"a\": \"\\u0000\"}", "{\"a\": 1e999}",
        "{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fw_jobject o;
        char err[128] = "";
        assert_int_equal(parse(bad[i], &o, err, sizeof err), -1);
        assert_non_null(strstr(err, "invalid JSON: "));
        assert_int_equal(o.n, 0);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(fw_utf8_valid("plain", 5));
    assert_true(fw_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    /* Overlong, surrogate, past U+10FFFF, truncated, stray continuation byte. */
    static const char *const bad[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe2\x82", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(fw_utf8_valid(bad[i], strlen(bad[i])));
        assert_int_equal(fw_utf8_chars(bad[i], strlen(bad[i])), -1);
    }
    assert_int_equal(fw_utf8_valid_prefix("ab\xc3\xa9\xff", 5), 4);
    assert_int_equal(fw_utf8_chars("a\xc3\xa9\xe2\x82\xac", 6), 3);
    assert_int_equal(fw_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(fw_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
}

#define GOOD_SETTINGS "\"enabled\": true, \"cpu\": false, \"cpu_interval_ms\": 20, \"wall\": true, " \
                      "\"memory\": false, \"memory_threshold_kb\": 512, \"updated_at\": 1700000000"

static void test_agent_settings(void **state)
{
    (void)state;
    fw_remote_settings s;
    char err[256];
    const char *good = "{" GOOD_SETTINGS ", \"other\": {\"x\": [1]}}";
    assert_int_equal(fw_settings_parse(good, strlen(good), &s, err, sizeof err), 0);
    assert_true(s.enabled && !s.cpu && s.wall && !s.memory);
    assert_int_equal(s.cpu_interval_ms, 20);
    assert_int_equal(s.memory_threshold_kb, 512);
    assert_int_equal(s.updated_at, 1700000000);
    static const struct { const char *json, *why; } bad[] = {
        {"{\"enabled\": true, \"cpu\": \"maybe\", \"cpu_interval_ms\": 5000}", "cpu is not a boolean"},
        {"{\"enabled\": true}", "members missing"},
        {"{" GOOD_SETTINGS ", \"cpu_interval_ms\": 5000}", NULL},  /* duplicate: the first counts */
        {"{\"enabled\": true, \"cpu\": true, \"cpu_interval_ms\": 5000, \"wall\": true, \"memory\": false,"
         " \"memory_threshold_kb\": 512, \"updated_at\": 1}", "cpu_interval_ms out of range: 5000"},
        {"{\"enabled\": true, \"cpu\": true, \"cpu_interval_ms\": 1.5, \"wall\": true, \"memory\": false,"
         " \"memory_threshold_kb\": 512, \"updated_at\": 1}", "cpu_interval_ms is not an integer"},
        {"[1]", "invalid JSON"},
        {"{\"enabled\": tru}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = fw_settings_parse(bad[i].json, strlen(bad[i].json), &s, err, sizeof err);
        if (!bad[i].why) {
            assert_int_equal(rc, 0);
            assert_int_equal(s.cpu_interval_ms, 20);
            continue;
        }
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, bad[i].why));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_object),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_agent_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
