/*
 * Unit tests for cli/cmd_convert.c: `flamewatch convert` run in-process on profiles built
 * here and written to a temporary directory. Standard output and error are captured
 * through temporary files so that messages and exit statuses are both checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "commands.h"
#include "fw_gzip.h"
#include "fw_pprof.h"
#include "fw_profile.h"

typedef struct {
    char dir[64];
    char gz[128], plain[128], out[128], trunc[128], esc[128];
} fw_paths;

static void write_file(const char *path, const fw_buf *b)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("<missing>");
    fw_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(fw_buf_append(&b, chunk, n), 0);
    fclose(f);
    assert_int_equal(fw_buf_append(&b, "", 1), 0);
    return (char *)b.data;
}

/* The profile of the interop suite: cpu 450 ms, wall 950 ms over three stacks. */
static fw_profile *sample_profile(void)
{
    const fw_sample_type t[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 2);
    uint64_t fm, fc, fj, lm, lc, lj, lc2;
    fw_profile_function(p, "main", "app.py", 1, &fm);
    fw_profile_function(p, "Cart.total", "shop/cart.py", 10, &fc);
    fw_profile_function(p, "処理.実行", "jp.py", 5, &fj);
    fw_profile_location(p, fm, 3, &lm);
    fw_profile_location(p, fc, 12, &lc);
    fw_profile_location(p, fc, 14, &lc2);
    fw_profile_location(p, fj, 7, &lj);
    uint64_t s1[] = {lc, lm}, s2[] = {lj, lm}, s3[] = {lc2, lm};
    fw_label a[] = {{"thread_name", "MainThread"}, {"thread_group", "MainThread"}};
    fw_label b[] = {{"thread_name", "worker-1"}, {"thread_group", "worker-*"}};
    fw_label c[] = {{"thread_name", "worker-2"}, {"thread_group", "worker-*"}};
    int64_t v1[] = {300, 400}, v2[] = {100, 500}, v3[] = {50, 50}, v4[] = {0, 7};
    assert_int_equal(fw_profile_add(p, s1, 2, a, 2, v1), FW_OK);
    assert_int_equal(fw_profile_add(p, s2, 2, b, 2, v2), FW_OK);
    assert_int_equal(fw_profile_add(p, s1, 2, c, 2, v3), FW_OK);   /* same stack as MainThread */
    assert_int_equal(fw_profile_add(p, s3, 2, c, 2, v4), FW_OK);   /* cpu 0: omitted for cpu */
    return p;
}

static fw_profile *escape_profile(void)
{
    const fw_sample_type t[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(t, 1);
    uint64_t f, l;
    fw_profile_function(p, "we\"ird\\name\n\t\x01 ü", "dir/file.py", 1, &f);
    fw_profile_location(p, f, 9, &l);
    fw_label a[] = {{"tag", "x\"y"}};
    int64_t v[] = {5};
    fw_profile_add(p, &l, 1, a, 1, v);
    return p;
}

static void encode_to(const char *path, fw_profile *p, int gzip)
{
    fw_buf raw = {0}, gz = {0};
    assert_int_equal(fw_pprof_encode(p, &raw), FW_OK);
    if (gzip) {
        assert_int_equal(fw_gzip_compress(raw.data, raw.len, 6, &gz), FW_GZIP_OK);
        write_file(path, &gz);
    } else {
        write_file(path, &raw);
    }
    fw_buf_free(&raw);
    fw_buf_free(&gz);
}

static int setup(void **state)
{
    fw_paths *pt = calloc(1, sizeof *pt);
    snprintf(pt->dir, sizeof pt->dir, "/tmp/fw_convert_XXXXXX");
    if (!mkdtemp(pt->dir))
        return -1;
    snprintf(pt->gz, sizeof pt->gz, "%s/a.pprof.gz", pt->dir);
    snprintf(pt->plain, sizeof pt->plain, "%s/b.pprof", pt->dir);
    snprintf(pt->out, sizeof pt->out, "%s/out.txt", pt->dir);
    snprintf(pt->trunc, sizeof pt->trunc, "%s/trunc.pprof", pt->dir);
    snprintf(pt->esc, sizeof pt->esc, "%s/esc.pprof", pt->dir);
    fw_profile *p = sample_profile();
    encode_to(pt->gz, p, 1);
    encode_to(pt->plain, p, 0);
    fw_buf raw = {0};
    fw_pprof_encode(p, &raw);
    raw.len = raw.len * 2 / 3;
    write_file(pt->trunc, &raw);
    fw_buf_free(&raw);
    fw_profile_free(p);
    p = escape_profile();
    encode_to(pt->esc, p, 0);
    fw_profile_free(p);
    *state = pt;
    return 0;
}

static int teardown(void **state)
{
    fw_paths *pt = *state;
    const char *files[] = {pt->gz, pt->plain, pt->out, pt->trunc, pt->esc};
    for (size_t i = 0; i < 5; i++)
        unlink(files[i]);
    rmdir(pt->dir);
    free(pt);
    return 0;
}

/* Runs convert with stdout and stderr redirected into files; returns the exit status. */
static int run(const fw_paths *pt, char **out, char **err, int argc, const char **argv)
{
    char so[160], se[160];
    snprintf(so, sizeof so, "%s/stdout", pt->dir);
    snprintf(se, sizeof se, "%s/stderr", pt->dir);
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    FILE *fo = fopen(so, "w"), *fe = fopen(se, "w");
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = fw_cmd_convert(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    fclose(fo);
    fclose(fe);
    *out = read_text(so);
    *err = read_text(se);
    unlink(so);
    unlink(se);
    return rc;
}

#define RUN(pt, out, err, ...)                                                            \
    run((pt), (out), (err), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
        (const char *[]){__VA_ARGS__})

static void expect_output(const fw_paths *pt, const char *want, int argc, const char **argv)
{
    char *out, *err;
    unlink(pt->out);
    int rc = run(pt, &out, &err, argc, argv);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    char *got = read_text(pt->out);
    assert_string_equal(got, want);
    assert_string_equal(out, "");
    free(got);
    free(out);
    free(err);
}

#define EXPECT(pt, want, ...) \
    expect_output((pt), (want), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
                  (const char *[]){__VA_ARGS__})

static void test_folded_default_type(void **state)
{
    fw_paths *pt = *state;
    /* MainThread and worker-2 share a stack: one folded line; zero cpu is omitted. */
    EXPECT(pt,
           "main (app.py:3);Cart.total (shop/cart.py:12) 350\n"
           "main (app.py:3);処理.実行 (jp.py:7) 100\n",
           "convert", "-o", pt->out, pt->gz);
}

static void test_folded_wall_and_merge_of_files(void **state)
{
    fw_paths *pt = *state;
    /* The same profile twice (gzip and plain): every value doubles. */
    EXPECT(pt,
           "main (app.py:3);処理.実行 (jp.py:7) 1000\n"
           "main (app.py:3);Cart.total (shop/cart.py:12) 900\n"
           "main (app.py:3);Cart.total (shop/cart.py:14) 14\n",
           "convert", "--type", "wall", "-o", pt->out, pt->gz, pt->plain);
    EXPECT(pt, "main (app.py:3);Cart.total (shop/cart.py:12) 100\n"
               "main (app.py:3);Cart.total (shop/cart.py:14) 14\n",
           "convert", "--type=wall", "--label", "thread_name=worker-2", "--output", pt->out,
           "--", pt->gz, pt->plain);
}

static void test_label_filters(void **state)
{
    fw_paths *pt = *state;
    EXPECT(pt, "main (app.py:3);処理.実行 (jp.py:7) 100\nmain (app.py:3);Cart.total (shop/cart.py:12) 50\n",
           "convert", "--label", "thread_group=worker-*", "-o", pt->out, pt->gz);
    /* AND across keys. */
    EXPECT(pt, "main (app.py:3);Cart.total (shop/cart.py:12) 50\n",
           "convert", "--label", "thread_group=worker-*", "--label=thread_name=worker-2",
           "-o", pt->out, pt->gz);
    /* OR within a key. */
    EXPECT(pt, "main (app.py:3);Cart.total (shop/cart.py:12) 300\nmain (app.py:3);処理.実行 (jp.py:7) 100\n",
           "convert", "--label", "thread_name=MainThread", "--label", "thread_name=worker-1",
           "-o", pt->out, pt->gz);
    /* A value or key that never occurs matches nothing. */
    EXPECT(pt, "", "convert", "--label", "thread_name=nobody", "-o", pt->out, pt->gz);
    EXPECT(pt, "", "convert", "--label", "nokey=x", "-o", pt->out, pt->gz);
}

static void test_json(void **state)
{
    fw_paths *pt = *state;
    EXPECT(pt,
           "{\"type\":\"wall\",\"unit\":\"nanoseconds\",\"total\":957,\"files\":1,\"samples\":[\n"
           "{\"stack\":[{\"name\":\"main\",\"file\":\"app.py\",\"line\":3},{\"name\":\"処理.実行\",\"file\":\"jp.py\",\"line\":7}],"
           "\"labels\":{\"thread_group\":\"worker-*\",\"thread_name\":\"worker-1\"},\"value\":500},\n"
           "{\"stack\":[{\"name\":\"main\",\"file\":\"app.py\",\"line\":3},{\"name\":\"Cart.total\",\"file\":\"shop/cart.py\",\"line\":12}],"
           "\"labels\":{\"thread_group\":\"MainThread\",\"thread_name\":\"MainThread\"},\"value\":400},\n"
           "{\"stack\":[{\"name\":\"main\",\"file\":\"app.py\",\"line\":3},{\"name\":\"Cart.total\",\"file\":\"shop/cart.py\",\"line\":12}],"
           "\"labels\":{\"thread_group\":\"worker-*\",\"thread_name\":\"worker-2\"},\"value\":50},\n"
           "{\"stack\":[{\"name\":\"main\",\"file\":\"app.py\",\"line\":3},{\"name\":\"Cart.total\",\"file\":\"shop/cart.py\",\"line\":14}],"
           "\"labels\":{\"thread_group\":\"worker-*\",\"thread_name\":\"worker-2\"},\"value\":7}]}\n",
           "convert", "--format", "json", "--type", "wall", "-o", pt->out, pt->plain);
    /* cpu: the zero-valued sample is omitted. */
    char *out, *err;
    int rc = RUN(pt, &out, &err, "convert", "--format=json", pt->gz);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"total\":450,\"files\":1"));
    assert_null(strstr(out, "\"line\":14"));
    free(out);
    free(err);
}

static void test_json_escaping(void **state)
{
    fw_paths *pt = *state;
    EXPECT(pt,
           "{\"type\":\"cpu\",\"unit\":\"nanoseconds\",\"total\":5,\"files\":1,\"samples\":[\n"
           "{\"stack\":[{\"name\":\"we\\\"ird\\\\name\\n\\t\\u0001 ü\",\"file\":\"dir/file.py\",\"line\":9}],"
           "\"labels\":{\"tag\":\"x\\\"y\"},\"value\":5}]}\n",
           "convert", "--format", "json", "-o", pt->out, pt->esc);
}

static void test_usage_errors(void **state)
{
    fw_paths *pt = *state;
    char *out, *err;
    assert_int_equal(RUN(pt, &out, &err, "convert", "--help"), 0);
    assert_non_null(strstr(out, "usage: flamewatch convert"));
    assert_string_equal(err, "");
    free(out);
    free(err);
    struct {
        const char *argv[4];
        int argc;
        const char *msg;
    } cases[] = {
        {{"convert", "--bogus", pt->gz}, 3, "unknown option '--bogus'"},
        {{"convert", pt->gz, "--type"}, 3, "option '--type' needs a value"},
        {{"convert", "--label", "novalue", pt->gz}, 4, "invalid --label 'novalue'"},
        {{"convert", "--label", "=x", pt->gz}, 4, "invalid --label '=x'"},
        {{"convert", "--format", "xml", pt->gz}, 4, "unknown --format 'xml'"},
        {{"convert", "-o", pt->out}, 3, "no input files"},
        {{"convert"}, 1, "no input files"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run(pt, &out, &err, cases[i].argc, cases[i].argv);
        assert_int_equal(rc, 2);
        if (!strstr(err, cases[i].msg) || !strstr(err, "usage: flamewatch convert"))
            fail_msg("case %zu: stderr '%s' lacks '%s'", i, err, cases[i].msg);
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
}

static void test_runtime_errors(void **state)
{
    fw_paths *pt = *state;
    char *out, *err, want[256];
    unlink(pt->out);
    assert_int_equal(RUN(pt, &out, &err, "convert", "-o", pt->out, pt->gz, "/nonexistent/x.pprof"), 1);
    assert_string_equal(err, "flamewatch convert: /nonexistent/x.pprof: No such file or directory\n");
    free(out);
    free(err);
    /* Nothing is written when an input fails. */
    assert_int_equal(access(pt->out, F_OK), -1);
    assert_int_equal(RUN(pt, &out, &err, "convert", pt->trunc), 1);
    snprintf(want, sizeof want, "flamewatch convert: %s: profile: truncated", pt->trunc);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("stderr: %s", err);
    free(out);
    free(err);
    assert_int_equal(RUN(pt, &out, &err, "convert", "--type", "alloc_space", pt->gz), 1);
    assert_string_equal(err, "flamewatch convert: unknown sample type 'alloc_space' (available: cpu, wall)\n");
    assert_string_equal(out, "");
    free(out);
    free(err);
    assert_int_equal(RUN(pt, &out, &err, "convert", "-o", "/nonexistent/dir/out", pt->gz), 1);
    assert_non_null(strstr(err, "/nonexistent/dir/out"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded_default_type),
        cmocka_unit_test(test_folded_wall_and_merge_of_files),
        cmocka_unit_test(test_label_filters),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_runtime_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
