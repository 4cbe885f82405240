/*
 * Unit tests for common/fw_pprof.c: round trips, and the decoder against every class of
 * bad input (truncation at each byte, bit flips, out-of-range indexes, bad varints, bad
 * UTF-8, wrong wire types, caps). Hand-built messages use the tiny protobuf writer below,
 * independent of the encoder under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fw_gzip.h"
#include "fw_pprof.h"
#include "fw_profile.h"

/* ---- a minimal protobuf writer for hand-made inputs ---- */

static void pb_raw(fw_buf *b, const void *d, size_t n)
{
    assert_int_equal(fw_buf_append(b, d, n), 0);
}

static void pb_varint(fw_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, t, n);
}

static void pb_uint(fw_buf *b, unsigned field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void pb_bytes(fw_buf *b, unsigned field, const void *d, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, d, n);
}

static void pb_msg(fw_buf *b, unsigned field, fw_buf *inner)
{
    pb_bytes(b, field, inner->data, inner->len);
    inner->len = 0;
}

static void pb_str(fw_buf *b, const char *s)
{
    pb_bytes(b, 6, s, strlen(s));
}

/* A valid profile: strings "", cpu, nanoseconds, main, app.py, k, v; one function with
 * id `fid`, one location with id `lid`, one sample. Parts can be overridden by tests. */
typedef struct {
    uint64_t fid, lid;
    uint64_t sample_loc;      /* location id referenced by the sample */
    uint64_t line_fid;        /* function id referenced by the Line */
    uint64_t fname;           /* function name string index */
    uint64_t label_key;
    int unpacked;
    const char *extra_string; /* appended to the string table when set */
} pb_spec;

static void pb_profile(fw_buf *out, const pb_spec *s)
{
    fw_buf m = {0}, in = {0};
    pb_uint(&m, 1, 1);
    pb_uint(&m, 2, 2);
    pb_msg(out, 1, &m);                     /* sample_type cpu/nanoseconds */
    if (s->unpacked) {
        pb_uint(&m, 1, s->sample_loc);
        pb_uint(&m, 2, 42);
    } else {
        pb_varint(&in, s->sample_loc);
        pb_msg(&m, 1, &in);
        pb_varint(&in, 42);
        pb_msg(&m, 2, &in);
    }
    pb_uint(&in, 1, s->label_key);
    pb_uint(&in, 2, 6);
    pb_msg(&m, 3, &in);
    pb_msg(out, 2, &m);                     /* sample */
    pb_uint(&m, 1, s->lid);
    pb_uint(&in, 1, s->line_fid);
    pb_uint(&in, 2, 7);
    pb_msg(&m, 4, &in);
    pb_msg(out, 4, &m);                     /* location */
    pb_uint(&m, 1, s->fid);
    pb_uint(&m, 2, s->fname);
    pb_uint(&m, 4, 4);
    pb_uint(&m, 5, 1);
    pb_msg(out, 5, &m);                     /* function */
    const char *strs[] = {"", "cpu", "nanoseconds", "main", "app.py", "k", "v"};
    for (size_t i = 0; i < 7; i++)
        pb_str(out, strs[i]);
    if (s->extra_string)
        pb_str(out, s->extra_string);
    fw_buf_free(&m);
    fw_buf_free(&in);
}

static const pb_spec pb_ok = {.fid = 1, .lid = 1, .sample_loc = 1, .line_fid = 1, .fname = 3,
                              .label_key = 5};

/* Decoding must fail and the message must contain `want`. */
static void expect_error(const fw_buf *b, const char *want)
{
    char err[256] = "unset";
    fw_profile *p = fw_pprof_decode(b->data, b->len, err, sizeof err);
    if (p) {
        fw_profile_free(p);
        fail_msg("decoded, expected error '%s'", want);
    }
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

/* ---- a profile built through the public API, and a canonical dump to compare ---- */

static fw_profile *build_profile(void)
{
    const fw_sample_type t[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 2);
    uint64_t f[3], l[4];
    assert_int_equal(fw_profile_function(p, "main", "app.py", 1, &f[0]), FW_OK);
    assert_int_equal(fw_profile_function(p, "Café.größe", "shop/café.py", 20, &f[1]), FW_OK);
    assert_int_equal(fw_profile_function(p, "処理.実行", "jp.py", -3, &f[2]), FW_OK);
    assert_int_equal(fw_profile_location(p, f[0], 3, &l[0]), FW_OK);
    assert_int_equal(fw_profile_location(p, f[1], 22, &l[1]), FW_OK);
    assert_int_equal(fw_profile_location(p, f[2], 7, &l[2]), FW_OK);
    assert_int_equal(fw_profile_location(p, f[2], 0, &l[3]), FW_OK);
    uint64_t s1[] = {l[1], l[0]}, s2[] = {l[2], l[3], l[0]};
    fw_label a[] = {{"thread_name", "MainThread"}, {"app", "shop"}};
    fw_label b[] = {{"thread_name", "worker \"1\""}, {"app", "shop"}, {"endpoint", "/checkout"}};
    int64_t v1[] = {300, 400}, v2[] = {-5, INT64_MAX}, v3[] = {0, 0};
    assert_int_equal(fw_profile_add(p, s1, 2, a, 2, v1), FW_OK);
    assert_int_equal(fw_profile_add(p, s2, 3, b, 3, v2), FW_OK);
    assert_int_equal(fw_profile_add(p, s1, 1, NULL, 0, v3), FW_OK);
    assert_int_equal(fw_profile_add(p, NULL, 0, a, 2, v1), FW_OK);  /* empty stack */
    fw_profile_set_time(p, 1700000000000000000LL, 15000000000LL);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10000000);
    assert_int_equal(fw_profile_add_comment(p, "made by test_pprof"), FW_OK);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A text form independent of string/function/location numbering: equal dumps mean the
 * same profile. Sample lines are sorted, labels within a sample too. */
static char *dump(const fw_profile *p)
{
    size_t n = fw_profile_sample_count(p);
    char **lines = calloc(n + 1, sizeof *lines);
    fw_buf out = {0};
    char tmp[512];
    for (size_t i = 0; i < n; i++) {
        fw_sample_view s;
        fw_buf b = {0};
        fw_profile_get_sample(p, i, &s);
        for (size_t k = 0; k < s.depth; k++) {
            const fw_location *l = fw_profile_get_location(p, s.location_ids[k]);
            const fw_function *f = fw_profile_get_function(p, l->function_id);
            snprintf(tmp, sizeof tmp, "%s@%s:%lld(%lld) ", fw_profile_string(p, f->name),
                     fw_profile_string(p, f->filename), (long long)l->line,
                     (long long)f->start_line);
            pb_raw(&b, tmp, strlen(tmp));
        }
        char *labels[FW_PROFILE_MAX_LABELS];
        for (size_t k = 0; k < s.nlabels; k++) {
            snprintf(tmp, sizeof tmp, "%s=%s", fw_profile_string(p, s.label_keys[k]),
                     fw_profile_string(p, s.label_values[k]));
            labels[k] = strdup(tmp);
        }
        qsort(labels, s.nlabels, sizeof *labels, cmp_str);
        for (size_t k = 0; k < s.nlabels; k++) {
            pb_raw(&b, "|", 1);
            pb_raw(&b, labels[k], strlen(labels[k]));
            free(labels[k]);
        }
        for (size_t t = 0; t < fw_profile_type_count(p); t++) {
            snprintf(tmp, sizeof tmp, " %lld", (long long)s.values[t]);
            pb_raw(&b, tmp, strlen(tmp));
        }
        pb_raw(&b, "", 1);
        lines[i] = (char *)b.data;
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t t = 0; t < fw_profile_type_count(p); t++) {
        snprintf(tmp, sizeof tmp, "type %s/%s\n", fw_profile_type(p, t).type,
                 fw_profile_type(p, t).unit);
        pb_raw(&out, tmp, strlen(tmp));
    }
    uint64_t pt, pu;
    fw_profile_period_type(p, &pt, &pu);
    snprintf(tmp, sizeof tmp, "time %lld dur %lld period %lld %s/%s comments %zu\n",
             (long long)fw_profile_time_nanos(p), (long long)fw_profile_duration_nanos(p),
             (long long)fw_profile_period(p), fw_profile_string(p, pt), fw_profile_string(p, pu),
             fw_profile_comment_count(p));
    pb_raw(&out, tmp, strlen(tmp));
    for (size_t i = 0; i < n; i++) {
        pb_raw(&out, lines[i], strlen(lines[i]));
        pb_raw(&out, "\n", 1);
        free(lines[i]);
    }
    free(lines);
    pb_raw(&out, "", 1);
    return (char *)out.data;
}

static void test_round_trip(void **state)
{
    (void)state;
    fw_profile *p = build_profile();
    fw_buf enc = {0}, enc2 = {0};
    assert_int_equal(fw_pprof_encode(p, &enc), FW_OK);
    char err[256];
    fw_profile *q = fw_pprof_decode(enc.data, enc.len, err, sizeof err);
    if (!q)
        fail_msg("decode: %s", err);
    char *d1 = dump(p), *d2 = dump(q);
    assert_string_equal(d1, d2);
    assert_non_null(strstr(d1, "Café.größe@shop/café.py:22(20)"));
    assert_non_null(strstr(d1, "-5 9223372036854775807"));
    assert_string_equal(fw_profile_comment(q, 0), "made by test_pprof");
    /* Encoding is a fixed point: decode then encode gives the same bytes. */
    assert_int_equal(fw_pprof_encode(q, &enc2), FW_OK);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);
    /* Encoding appends to what the buffer held. */
    fw_buf pre = {0};
    pb_raw(&pre, "xy", 2);
    assert_int_equal(fw_pprof_encode(p, &pre), FW_OK);
    assert_int_equal(pre.len, enc.len + 2);
    assert_memory_equal(pre.data + 2, enc.data, enc.len);
    free(d1);
    free(d2);
    fw_profile_free(p);
    fw_profile_free(q);
    fw_buf_free(&enc);
    fw_buf_free(&enc2);
    fw_buf_free(&pre);
}

static void test_empty_profile(void **state)
{
    (void)state;
    char err[128];
    fw_profile *q = fw_pprof_decode((const uint8_t *)"", 0, err, sizeof err);
    assert_non_null(q);
    assert_int_equal(fw_profile_sample_count(q), 0);
    assert_int_equal(fw_profile_type_count(q), 0);
    fw_profile_free(q);
    fw_profile *p = fw_profile_new(NULL, 0);
    fw_buf enc = {0};
    assert_int_equal(fw_pprof_encode(p, &enc), FW_OK);
    q = fw_pprof_decode(enc.data, enc.len, err, sizeof err);
    assert_non_null(q);
    fw_profile_free(q);
    fw_profile_free(p);
    fw_buf_free(&enc);
}

static void test_hand_made_valid(void **state)
{
    (void)state;
    fw_buf b = {0};
    pb_profile(&b, &pb_ok);
    char err[256];
    fw_profile *p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    assert_int_equal(fw_profile_sample_count(p), 1);
    fw_sample_view s;
    fw_profile_get_sample(p, 0, &s);
    assert_int_equal(s.values[0], 42);
    assert_string_equal(fw_profile_string(p, s.label_keys[0]), "k");
    assert_string_equal(fw_profile_string(p, s.label_values[0]), "v");
    fw_profile_free(p);
    fw_buf_free(&b);
}

static void test_unpacked_and_sparse_ids(void **state)
{
    (void)state;
    fw_buf b = {0};
    pb_spec s = pb_ok;
    s.unpacked = 1;
    s.fid = 0xffffffffffffffffull;
    s.line_fid = s.fid;
    s.lid = 1000000007;
    s.sample_loc = s.lid;
    pb_profile(&b, &s);
    char err[256];
    fw_profile *p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    fw_sample_view v;
    fw_profile_get_sample(p, 0, &v);
    assert_int_equal(v.values[0], 42);
    assert_int_equal(v.depth, 1);
    const fw_location *l = fw_profile_get_location(p, v.location_ids[0]);
    assert_int_equal(l->line, 7);
    assert_string_equal(fw_profile_string(p, fw_profile_get_function(p, l->function_id)->name),
                        "main");
    fw_profile_free(p);
    fw_buf_free(&b);
}

static void test_inlined_lines_expand(void **state)
{
    (void)state;
    /* Location 5 has two lines: inner() inlined into outer(); the sample is [5, 6]. */
    fw_buf b = {0}, m = {0}, in = {0};
    pb_uint(&m, 1, 1);
    pb_uint(&m, 2, 2);
    pb_msg(&b, 1, &m);
    pb_varint(&in, 5);
    pb_varint(&in, 6);
    pb_msg(&m, 1, &in);
    pb_varint(&in, 9);
    pb_msg(&m, 2, &in);
    pb_msg(&b, 2, &m);
    pb_uint(&m, 1, 5);
    pb_uint(&in, 1, 11);
    pb_uint(&in, 2, 100);
    pb_msg(&m, 4, &in);
    pb_uint(&in, 1, 12);
    pb_uint(&in, 2, 200);
    pb_msg(&m, 4, &in);
    pb_msg(&b, 4, &m);
    pb_uint(&m, 1, 6);
    pb_uint(&m, 3, 0x4011a0);                /* no lines: named after the address */
    pb_msg(&b, 4, &m);
    pb_uint(&m, 1, 11);
    pb_uint(&m, 2, 3);
    pb_msg(&b, 5, &m);
    pb_uint(&m, 1, 12);
    pb_uint(&m, 3, 4);                       /* only system_name: used as the name */
    pb_msg(&b, 5, &m);
    const char *strs[] = {"", "cpu", "nanoseconds", "inner", "outer"};
    for (size_t i = 0; i < 5; i++)
        pb_str(&b, strs[i]);
    char err[256];
    fw_profile *p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    fw_sample_view s;
    fw_profile_get_sample(p, 0, &s);
    assert_int_equal(s.depth, 3);
    const char *want[] = {"inner", "outer", "0x4011a0"};
    const int64_t lines[] = {100, 200, 0};
    for (size_t k = 0; k < 3; k++) {
        const fw_location *l = fw_profile_get_location(p, s.location_ids[k]);
        assert_string_equal(fw_profile_string(p, fw_profile_get_function(p, l->function_id)->name),
                            want[k]);
        assert_int_equal(l->line, lines[k]);
    }
    fw_profile_free(p);
    fw_buf_free(&b);
    fw_buf_free(&m);
    fw_buf_free(&in);
}

static void test_numeric_label(void **state)
{
    (void)state;
    fw_buf b = {0}, m = {0}, in = {0};
    pb_uint(&m, 1, 1);
    pb_uint(&m, 2, 2);
    pb_msg(&b, 1, &m);
    pb_uint(&m, 2, 1);
    pb_uint(&in, 1, 3);
    pb_uint(&in, 3, (uint64_t)-1234);
    pb_uint(&in, 4, 2);
    pb_msg(&m, 3, &in);
    pb_msg(&b, 2, &m);
    pb_str(&b, "");
    pb_str(&b, "alloc");
    pb_str(&b, "bytes");
    pb_str(&b, "request_size");
    char err[256];
    fw_profile *p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    fw_sample_view s;
    fw_profile_get_sample(p, 0, &s);
    assert_int_equal(s.nlabels, 1);
    assert_string_equal(fw_profile_string(p, s.label_keys[0]), "request_size");
    assert_string_equal(fw_profile_string(p, s.label_values[0]), "-1234");
    fw_profile_free(p);
    fw_buf_free(&b);
    fw_buf_free(&m);
    fw_buf_free(&in);
}

static void test_out_of_range_indexes(void **state)
{
    (void)state;
    fw_buf b = {0};
    pb_spec s = pb_ok;
    s.sample_loc = 99;
    pb_profile(&b, &s);
    expect_error(&b, "sample 0: location id 99 out of range");
    b.len = 0;
    s = pb_ok;
    s.line_fid = 7;
    pb_profile(&b, &s);
    expect_error(&b, "location 0: line 0: function id 7 out of range");
    b.len = 0;
    s = pb_ok;
    s.fname = 9;
    pb_profile(&b, &s);
    expect_error(&b, "function 0: name string index 9 out of range");
    b.len = 0;
    s = pb_ok;
    s.fname = (uint64_t)-2;
    pb_profile(&b, &s);
    expect_error(&b, "function 0: name string index -2 out of range");
    b.len = 0;
    s = pb_ok;
    s.label_key = 7;
    pb_profile(&b, &s);
    expect_error(&b, "sample 0: key string index 7 out of range");
    b.len = 0;
    s = pb_ok;
    s.fid = 0;
    pb_profile(&b, &s);
    expect_error(&b, "function 0: missing or zero id");
    b.len = 0;
    s = pb_ok;
    s.lid = 0;
    pb_profile(&b, &s);
    expect_error(&b, "location 0: missing or zero id");
    /* A second function with the same id. */
    b.len = 0;
    pb_profile(&b, &pb_ok);
    fw_buf m = {0};
    pb_uint(&m, 1, 1);
    pb_msg(&b, 5, &m);
    expect_error(&b, "function 1: duplicate id 1");
    b.len = 0;
    pb_profile(&b, &pb_ok);
    pb_uint(&b, 7, 50);
    expect_error(&b, "drop_frames string index 50 out of range");
    fw_buf_free(&b);
    fw_buf_free(&m);
}

static void test_bad_strings(void **state)
{
    (void)state;
    const char *bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fw_buf b = {0};
        pb_spec s = pb_ok;
        s.extra_string = bad[i];
        pb_profile(&b, &s);
        expect_error(&b, "string 7: invalid UTF-8");
        fw_buf_free(&b);
    }
    fw_buf b = {0};
    pb_profile(&b, &pb_ok);
    pb_bytes(&b, 6, "a\0b", 3);
    expect_error(&b, "string 7: contains a NUL byte");
    b.len = 0;
    pb_str(&b, "not empty");
    expect_error(&b, "string 0: string_table[0] must be empty");
    fw_buf_free(&b);
}

static void test_bad_varints_and_wire_types(void **state)
{
    (void)state;
    fw_buf b = {0};
    static const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    pb_profile(&b, &pb_ok);
    pb_varint(&b, 9 << 3);
    pb_raw(&b, eleven, sizeof eleven);
    expect_error(&b, "bad varint");
    /* 10 bytes whose last one sets bits past 64. */
    static const uint8_t ten[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    b.len = 0;
    pb_varint(&b, 9 << 3);
    pb_raw(&b, ten, sizeof ten);
    expect_error(&b, "bad varint");
    /* The largest valid varint is accepted. */
    static const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    b.len = 0;
    pb_varint(&b, 9 << 3);
    pb_raw(&b, max, sizeof max);
    char err[128];
    fw_profile *p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(fw_profile_time_nanos(p), -1);
    fw_profile_free(p);
    b.len = 0;
    pb_raw(&b, "\x48\x80", 2);                     /* field 9, truncated varint */
    expect_error(&b, "truncated varint at offset 1");
    b.len = 0;
    pb_uint(&b, 6, 3);                             /* string_table as a varint */
    expect_error(&b, "field 6 (string_table): wrong wire type 0");
    b.len = 0;
    pb_bytes(&b, 9, "x", 1);                       /* time_nanos as bytes */
    expect_error(&b, "field 9 (time_nanos): wrong wire type 2");
    b.len = 0;
    pb_varint(&b, 2 << 3 | 3);                     /* group start: unsupported */
    expect_error(&b, "unsupported wire type 3");
    b.len = 0;
    pb_varint(&b, 0 << 3 | 0);                     /* field number 0 */
    pb_varint(&b, 1);
    expect_error(&b, "invalid field number 0");
    /* Inside a sample: location ids as fixed64. */
    b.len = 0;
    fw_buf m = {0};
    pb_varint(&m, 1 << 3 | 1);
    pb_raw(&m, "12345678", 8);
    pb_msg(&b, 2, &m);
    expect_error(&b, "sample 0: field 1 (location_id): wrong wire type 1");
    /* A length running past the end. */
    b.len = 0;
    pb_varint(&b, 2 << 3 | 2);
    pb_varint(&b, 100);
    pb_raw(&b, "abc", 3);
    expect_error(&b, "length 100 but 3 bytes left");
    /* Unknown fields of every wire type are skipped. */
    b.len = 0;
    pb_profile(&b, &pb_ok);
    pb_uint(&b, 99, 5);
    pb_bytes(&b, 100, "zz", 2);
    pb_varint(&b, 101 << 3 | 5);
    pb_raw(&b, "1234", 4);
    pb_varint(&b, 102 << 3 | 1);
    pb_raw(&b, "12345678", 8);
    p = fw_pprof_decode(b.data, b.len, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    fw_profile_free(p);
    fw_buf_free(&b);
    fw_buf_free(&m);
}

static void test_value_count_and_caps(void **state)
{
    (void)state;
    fw_buf b = {0}, m = {0}, in = {0};
    pb_uint(&m, 1, 1);
    pb_uint(&m, 2, 2);
    pb_msg(&b, 1, &m);
    pb_uint(&m, 2, 1);
    pb_uint(&m, 2, 2);                      /* two values, one sample type */
    pb_msg(&b, 2, &m);
    pb_str(&b, "");
    pb_str(&b, "cpu");
    pb_str(&b, "ns");
    expect_error(&b, "sample 0: more values than the 1 sample types");
    b.len = 0;
    for (int i = 0; i < 9; i++) {
        pb_uint(&m, 1, 1);
        pb_msg(&b, 1, &m);
    }
    pb_str(&b, "");
    pb_str(&b, "t");
    expect_error(&b, "9 sample types (max 8)");
    /* More labels than a sample may have. */
    b.len = 0;
    pb_uint(&m, 1, 1);
    pb_msg(&b, 1, &m);
    pb_uint(&m, 2, 1);
    for (int i = 0; i <= FW_PROFILE_MAX_LABELS; i++) {
        pb_uint(&in, 1, 1);
        pb_uint(&in, 3, (uint64_t)i);
        pb_msg(&m, 3, &in);
    }
    pb_msg(&b, 2, &m);
    pb_str(&b, "");
    pb_str(&b, "t");
    expect_error(&b, "sample 0: more than 64 labels");
    /* A stack deeper than the cap, through one location repeated. */
    b.len = 0;
    pb_uint(&m, 1, 1);
    pb_msg(&b, 1, &m);
    for (int i = 0; i <= FW_PROFILE_MAX_DEPTH; i++)
        pb_varint(&in, 1);
    pb_msg(&m, 1, &in);
    pb_uint(&m, 2, 1);
    pb_msg(&b, 2, &m);
    pb_uint(&m, 1, 1);
    pb_msg(&b, 4, &m);
    pb_str(&b, "");
    pb_str(&b, "t");
    expect_error(&b, "sample 0: more than 1024 frames");
    fw_buf_free(&b);
    fw_buf_free(&m);
    fw_buf_free(&in);
}

/* Every prefix of a valid profile fails cleanly or decodes (ASan checks the rest). */
static void test_truncation_at_every_offset(void **state)
{
    (void)state;
    fw_profile *p = build_profile();
    fw_buf enc = {0};
    assert_int_equal(fw_pprof_encode(p, &enc), FW_OK);
    size_t failures = 0;
    for (size_t n = 0; n < enc.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);   /* exact size, so overreads are caught */
        memcpy(copy, enc.data, n);
        char err[256] = "";
        fw_profile *q = fw_pprof_decode(copy, n, err, sizeof err);
        if (q)
            fw_profile_free(q);
        else {
            failures++;
            assert_true(err[0] != '\0');
        }
        free(copy);
    }
    /* Most cuts land inside a field and must be reported. */
    assert_true(failures > enc.len / 2);
    fw_profile_free(p);
    fw_buf_free(&enc);
}

static void test_bit_flips(void **state)
{
    (void)state;
    fw_profile *p = build_profile();
    fw_buf enc = {0};
    assert_int_equal(fw_pprof_encode(p, &enc), FW_OK);
    static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x7f, 0x08};
    for (size_t i = 0; i < enc.len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            uint8_t *copy = malloc(enc.len);
            memcpy(copy, enc.data, enc.len);
            copy[i] ^= masks[m];
            char err[256] = "";
            fw_profile *q = fw_pprof_decode(copy, enc.len, err, sizeof err);
            if (q)
                fw_profile_free(q);
            else
                assert_true(err[0] != '\0');
            free(copy);
        }
    }
    fw_profile_free(p);
    fw_buf_free(&enc);
}

static void test_decode_any(void **state)
{
    (void)state;
    fw_profile *p = build_profile();
    fw_buf enc = {0}, gz = {0};
    assert_int_equal(fw_pprof_encode(p, &enc), FW_OK);
    assert_int_equal(fw_gzip_compress(enc.data, enc.len, 6, &gz), FW_GZIP_OK);
    char err[256];
    fw_profile *q = fw_pprof_decode_any(gz.data, gz.len, 1 << 20, NULL, err, sizeof err);
    assert_non_null(q);
    char *d1 = dump(p), *d2 = dump(q);
    assert_string_equal(d1, d2);
    fw_profile_free(q);
    q = fw_pprof_decode_any(enc.data, enc.len, 1 << 20, NULL, err, sizeof err);
    assert_non_null(q);
    fw_profile_free(q);
    /* The cap applies to the decompressed size, and to plain input; each failure has its code,
     * which is what callers branch on (the server answers 413 for TOO_LARGE, 400 otherwise). */
    fw_pprof_error code = FW_PPROF_OK;
    assert_null(fw_pprof_decode_any(gz.data, gz.len, enc.len - 1, &code, err, sizeof err));
    assert_non_null(strstr(err, "gzip: decompressed size exceeds the limit"));
    assert_int_equal(code, FW_PPROF_TOO_LARGE);
    assert_null(fw_pprof_decode_any(enc.data, enc.len, enc.len - 1, &code, err, sizeof err));
    assert_non_null(strstr(err, "more than the cap"));
    assert_int_equal(code, FW_PPROF_TOO_LARGE);
    assert_null(fw_pprof_decode_any(gz.data, gz.len - 3, 1 << 20, &code, err, sizeof err));
    assert_non_null(strstr(err, "gzip: corrupt"));
    assert_int_equal(code, FW_PPROF_GZIP);
    assert_null(fw_pprof_decode_any(enc.data, enc.len - 1, 1 << 20, &code, err, sizeof err));
    assert_int_equal(code, FW_PPROF_INVALID);
    q = fw_pprof_decode_any(gz.data, gz.len, 1 << 20, &code, err, sizeof err);
    assert_non_null(q);
    assert_int_equal(code, FW_PPROF_OK);
    fw_profile_free(q);
    free(d1);
    free(d2);
    fw_profile_free(p);
    fw_buf_free(&enc);
    fw_buf_free(&gz);
}

static void test_error_buffer_small(void **state)
{
    (void)state;
    fw_buf b = {0};
    pb_str(&b, "x");
    char err[8];
    memset(err, 'Z', sizeof err);
    assert_null(fw_pprof_decode(b.data, b.len, err, sizeof err));
    assert_true(memchr(err, '\0', sizeof err) != NULL);
    assert_null(fw_pprof_decode(b.data, b.len, NULL, 0));
    fw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_profile),
        cmocka_unit_test(test_hand_made_valid),
        cmocka_unit_test(test_unpacked_and_sparse_ids),
        cmocka_unit_test(test_inlined_lines_expand),
        cmocka_unit_test(test_numeric_label),
        cmocka_unit_test(test_out_of_range_indexes),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_varints_and_wire_types),
        cmocka_unit_test(test_value_count_and_caps),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_decode_any),
        cmocka_unit_test(test_error_buffer_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
