/*
 * Unit tests of opening a store from a URL (store/fw_store_url.c): sqlite://DIR creates DIR and
 * its database and opens it; every URL it cannot use is refused with FW_STORE_ERR_INVALID, a
 * reason, no handle, and nothing created; fw_store_url_check agrees with fw_store_open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store/fw_store.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fw_store_url_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_sqlite_url_opens_and_creates(void **state)
{
    (void)state;
    char url[256], dir[200], db[256], err[256] = "";
    snprintf(dir, sizeof dir, "%s/store", tmpdir);
    snprintf(url, sizeof url, "sqlite://%s", dir);   /* sqlite:///tmp/... */
    snprintf(db, sizeof db, "%s/flamewatch.db", dir);
    assert_int_equal(fw_store_url_check(url, err, sizeof err), 0);
    fw_store *s = NULL;
    assert_int_equal(fw_store_open(url, NULL, &s, err, sizeof err), FW_STORE_OK);
    assert_non_null(s);
    assert_true(exists(db));
    fw_store_stats st;
    assert_int_equal(fw_store_get_stats(s, &st), FW_STORE_OK);
    assert_int_equal(st.profiles, 0);
    fw_store_close(s);
    /* Reopening an existing directory is fine. */
    s = NULL;
    assert_int_equal(fw_store_open(url, NULL, &s, err, sizeof err), FW_STORE_OK);
    fw_store_close(s);
}

static void test_relative_url_and_url_for_dir(void **state)
{
    (void)state;
    char cwd[512], err[256] = "";
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    char *url = fw_store_url_for_dir("rel");
    assert_string_equal(url, "sqlite://rel");
    fw_store *s = NULL;
    fw_store_status st = fw_store_open(url, NULL, &s, err, sizeof err);
    free(url);
    int made = exists("rel/flamewatch.db");
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(st, FW_STORE_OK);
    assert_true(made);
    fw_store_close(s);
    url = fw_store_url_for_dir("/var/lib/flamewatch");
    assert_string_equal(url, "sqlite:///var/lib/flamewatch");
    free(url);
}

static void test_bad_urls(void **state)
{
    (void)state;
    char p1[200], p2[200];
    snprintf(p1, sizeof p1, "sqlite://%s/p?sync=full", tmpdir);
    snprintf(p2, sizeof p2, "clickhouse://127.0.0.1:8123/db?cluster=%s", "c-1");
    struct { const char *url, *why; } cases[] = {
        {NULL, "empty store URL"},
        {"", "empty store URL"},
        {"/var/lib/flamewatch", "is not a store URL"},
        {"sqlite://", "names no directory"},
        {"SQLITE://", "names no directory"},
        {"redis://x", "unknown scheme 'redis'"},
        {"clickhouse://h", "names no database"},
        {"CLICKHOUSE://h:0/db", "bad port"},
        {"clickhouse://h/db-1", "must be a plain name"},
        {p2, "cluster must be a plain name"},
        {"clickhouse://h/db?user=x", "the only parameter is ?cluster=NAME"},
        {"clickhouse://@h/db", "bad user or password"},
        {p1, "takes no parameters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "", err2[256] = "";
        fw_store *s = (fw_store *)&err;   /* must come back NULL */
        assert_int_equal(fw_store_open(cases[i].url, NULL, &s, err, sizeof err), FW_STORE_ERR_INVALID);
        assert_null(s);
        if (!strstr(err, cases[i].why))
            fail_msg("URL %s: error '%s' does not say '%s'", cases[i].url ? cases[i].url : "(null)", err,
                     cases[i].why);
        assert_int_equal(fw_store_url_check(cases[i].url, err2, sizeof err2), -1);
        assert_string_equal(err, err2);
    }
    char probe[200];
    snprintf(probe, sizeof probe, "%s/p", tmpdir);
    assert_false(exists(probe));   /* the refused sqlite URL created nothing */
}

static void test_directory_that_cannot_be_made(void **state)
{
    (void)state;
    char err[256] = "";
    fw_store *s = NULL;
    assert_int_equal(fw_store_url_check("sqlite:///proc/fw-no/such", err, sizeof err), 0);
    assert_int_equal(fw_store_open("sqlite:///proc/fw-no/such", NULL, &s, err, sizeof err), FW_STORE_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err, "cannot create data directory /proc/fw-no/such"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_url_opens_and_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_url_and_url_for_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_that_cannot_be_made, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
