/*
 * Unit tests for `flamewatch run`'s decisions (cli/run_args.c, run_check.c, run_child.c): flag
 * parsing, the validation
 * of every flag and FLAMEWATCH_* variable against docs/CONFIGURATION.md, the precedence of
 * flags over the environment, the canonical values exported to the child, PYTHONPATH and the
 * default application name. Nothing here execs: the integration tests (tests/agent/test_cli.py)
 * cover the real process, exit statuses and messages.
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

#include "run_child.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static char err[FW_RUN_ERR_BYTES];

static fw_run_parse_status parse(int argc, char **argv, fw_run_args *a)
{
    err[0] = '\0';
    return fw_run_parse_args(argc, argv, a, err, sizeof err);
}

static void test_program_after_double_dash(void **state)
{
    (void)state;
    fw_run_args a;
    char **argv = ARGV("run", "--app", "shop", "--wall", "--", "python3", "--app", "x.py");
    assert_int_equal(parse(8, argv, &a), FW_RUN_PARSE_OK);
    assert_int_equal(a.prog_index, 5);
    assert_string_equal(a.app, "shop");
    assert_true(a.wall);
    assert_false(a.no_cpu);
    assert_false(a.disable);
}

static void test_program_without_double_dash(void **state)
{
    (void)state;
    fw_run_args a;
    /* The first non-option is PROGRAM; its own options are not ours. */
    char **argv = ARGV("run", "--no-cpu", "gunicorn", "--wall", "app:app");
    assert_int_equal(parse(5, argv, &a), FW_RUN_PARSE_OK);
    assert_int_equal(a.prog_index, 2);
    assert_true(a.no_cpu);
    assert_false(a.wall);
}

static void test_equals_form_and_all_flags(void **state)
{
    (void)state;
    fw_run_args a;
    char **argv = ARGV("run", "--app=a", "--output=/tmp/o", "--cpu-interval=5", "--upload-interval", "0.5",
                       "--log=DEBUG", "--tag", "team=web", "--tag=region=eu-1", "--disable", "--", "prog");
    assert_int_equal(parse(13, argv, &a), FW_RUN_PARSE_OK);
    assert_string_equal(a.app, "a");
    assert_string_equal(a.output, "/tmp/o");
    assert_string_equal(a.cpu_interval, "5");
    assert_string_equal(a.upload_interval, "0.5");
    assert_string_equal(a.log, "DEBUG");
    assert_int_equal(a.ntags, 2);
    assert_string_equal(a.tags[1], "region=eu-1");
    assert_true(a.disable);
    assert_int_equal(a.prog_index, 12);
}

static void test_help(void **state)
{
    (void)state;
    fw_run_args a;
    assert_int_equal(parse(2, ARGV("run", "--help"), &a), FW_RUN_PARSE_HELP);
    assert_int_equal(parse(3, ARGV("run", "--wall", "-h"), &a), FW_RUN_PARSE_HELP);
    /* After PROGRAM, --help is the program's. */
    assert_int_equal(parse(3, ARGV("run", "prog", "--help"), &a), FW_RUN_PARSE_OK);
}

static void test_usage_errors(void **state)
{
    (void)state;
    fw_run_args a;
    assert_int_equal(parse(3, ARGV("run", "--bogus", "prog"), &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse(2, ARGV("run", "--app"), &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "--app needs a value"));
    assert_int_equal(parse(3, ARGV("run", "--wall=1", "prog"), &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "--wall takes no value"));
    assert_int_equal(parse(1, ARGV("run"), &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "needs a program"));
    assert_int_equal(parse(3, ARGV("run", "--wall", "--"), &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "needs a program"));
    assert_int_equal(parse(3, ARGV("run", "--", ""), &a), FW_RUN_PARSE_ERROR);
    /* --appx is not --app. */
    assert_int_equal(parse(4, ARGV("run", "--appx", "y", "prog"), &a), FW_RUN_PARSE_ERROR);
}

static void test_flag_values_rejected_with_contract_message(void **state)
{
    (void)state;
    fw_run_args a;
    assert_int_equal(parse(4, ARGV("run", "--cpu-interval", "abc", "prog"), &a), FW_RUN_PARSE_ERROR);
    assert_string_equal(err, "flamewatch: invalid value for --cpu-interval: 'abc' (expected an integer from 1 to 1000)");

    static const char *const bad[][2] = {
        {"--cpu-interval", "0"}, {"--cpu-interval", "1001"}, {"--cpu-interval", "-5"},
        {"--cpu-interval", ""}, {"--cpu-interval", "10 "}, {"--cpu-interval", "1e2"},
        {"--upload-interval", "0"}, {"--upload-interval", "0.05"}, {"--upload-interval", "3600.5"},
        {"--upload-interval", "inf"}, {"--upload-interval", "nan"}, {"--upload-interval", "1e2"},
        {"--upload-interval", "1.2.3"}, {"--upload-interval", "."}, {"--upload-interval", "-1"},
        {"--app", ""}, {"--app", "a,b"}, {"--app", "a=b"}, {"--app", "{x}"}, {"--app", "team/api"},
        {"--log", "verbose"}, {"--log", ""},
        {"--tag", "novalue"}, {"--tag", "=v"}, {"--tag", "1k=v"}, {"--tag", "k-y=v"}, {"--tag", "k=a,b"},
        {"--output", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **argv = ARGV("run", (char *)bad[i][0], (char *)bad[i][1], "prog");
        if (parse(4, argv, &a) != FW_RUN_PARSE_ERROR)
            fail_msg("accepted %s '%s'", bad[i][0], bad[i][1]);
        char want[256];
        snprintf(want, sizeof want, "flamewatch: invalid value for %s: '%s' (expected", bad[i][0], bad[i][1]);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("message for %s '%s': %s", bad[i][0], bad[i][1], err);
    }
}

static void test_check_app_limits(void **state)
{
    (void)state;
    const char *exp = NULL;
    char s[600];
    memset(s, 'a', 128);
    s[128] = '\0';
    assert_true(fw_run_check_app(s, &exp));
    s[128] = 'a';
    s[129] = '\0';
    assert_false(fw_run_check_app(s, &exp));
    assert_non_null(strstr(exp, "1 to 128 bytes"));
    /* Bytes, not characters (common/fw_appname.h): the server and the agent count bytes, so
     * 42 three-byte characters are fine and 43 (129 bytes) are not. */
    s[0] = '\0';
    for (int i = 0; i < 42; i++)
        strcat(s, "\xe2\x82\xac");
    assert_true(fw_run_check_app(s, &exp));
    strcat(s, "\xe2\x82\xac");
    assert_false(fw_run_check_app(s, &exp));
    assert_true(fw_run_check_app("shop.web-1 v2", &exp));
    assert_false(fw_run_check_app("bad\xff", &exp));
    assert_non_null(strstr(exp, "UTF-8"));
    /* Issue 11 item 10: names the settings path cannot carry, or that ingest would change,
     * are refused here instead of being accepted and silently never getting settings. */
    static const char *const bad[] = {"team/api", "/", "a\tb", "a\x7f", " a", "a ", ".", ".."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fw_run_check_app(bad[i], &exp))
            fail_msg("accepted app '%s'", bad[i]);
    assert_true(fw_run_check_app("...", &exp));
    assert_true(fw_run_check_app("team.api", &exp));
}

static void test_check_numbers(void **state)
{
    (void)state;
    const char *exp = NULL;
    int ms = 0;
    assert_true(fw_run_check_cpu_interval("1", &ms, &exp));
    assert_int_equal(ms, 1);
    assert_true(fw_run_check_cpu_interval("1000", &ms, &exp));
    assert_int_equal(ms, 1000);
    assert_true(fw_run_check_cpu_interval("0010", &ms, &exp));
    assert_int_equal(ms, 10);
    assert_false(fw_run_check_cpu_interval("99999999999999999999", &ms, &exp));
    assert_false(fw_run_check_cpu_interval("+5", &ms, &exp));

    assert_true(fw_run_check_upload_interval("0.1", &exp));
    assert_true(fw_run_check_upload_interval("3600", &exp));
    assert_true(fw_run_check_upload_interval("3600.0", &exp));
    assert_true(fw_run_check_upload_interval(".5", &exp));
    assert_true(fw_run_check_upload_interval("15", &exp));
    assert_false(fw_run_check_upload_interval("0.0999", &exp));
    assert_false(fw_run_check_upload_interval("0x10", &exp));
    assert_false(fw_run_check_upload_interval(" 5", &exp));
    assert_non_null(strstr(exp, "0.1 to 3600"));
}

static void test_check_bool_and_log(void **state)
{
    (void)state;
    const char *exp = NULL;
    bool b = false;
    static const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"0", "false", "False", "no", "NO", "off", "Off"};
    for (size_t i = 0; i < 7; i++) {
        b = false;
        assert_true(fw_run_check_bool(yes[i], &b, &exp));
        assert_true(b);
        assert_true(fw_run_check_bool(no[i], &b, &exp));
        assert_false(b);
    }
    assert_false(fw_run_check_bool("", &b, &exp));
    assert_false(fw_run_check_bool("2", &b, &exp));
    assert_false(fw_run_check_bool("enabled", &b, &exp));
    assert_non_null(strstr(exp, "true/false"));

    char lvl[16];
    assert_true(fw_run_check_log("Warning", lvl, sizeof lvl, &exp));
    assert_string_equal(lvl, "warning");
    assert_true(fw_run_check_log("quiet", lvl, sizeof lvl, &exp));
    assert_false(fw_run_check_log("error", lvl, sizeof lvl, &exp));
}

static void test_check_tags(void **state)
{
    (void)state;
    const char *exp = NULL;
    fw_run_tag *tags = calloc(FW_RUN_MAX_TAGS, sizeof *tags);
    size_t n = 99;
    assert_true(fw_run_check_tags("", tags, &n, &exp));
    assert_int_equal(n, 0);
    assert_true(fw_run_check_tags("team=web,_x.y=a=b,empty=", tags, &n, &exp));
    assert_int_equal(n, 3);
    assert_string_equal(tags[1].key, "_x.y");
    assert_string_equal(tags[1].value, "a=b");
    assert_string_equal(tags[2].value, "");
    /* The same key twice: the later value. */
    assert_true(fw_run_check_tags("k=1,k=2", tags, &n, &exp));
    assert_int_equal(n, 1);
    assert_string_equal(tags[0].value, "2");
    assert_false(fw_run_check_tags("team=web,", tags, &n, &exp));
    assert_false(fw_run_check_tags("team", tags, &n, &exp));
    assert_non_null(strstr(exp, "k=v pairs"));

    char key[80], tag[1200];
    memset(key, 'k', 64);
    key[64] = '\0';
    snprintf(tag, sizeof tag, "%s=v", key);
    assert_true(fw_run_check_tag(tag, strlen(tag), NULL, &exp));
    snprintf(tag, sizeof tag, "%sk=v", key);
    assert_false(fw_run_check_tag(tag, strlen(tag), NULL, &exp));
    /* Values: 256 characters (here two-byte ones) fit, 257 do not. */
    strcpy(tag, "k=");
    for (int i = 0; i < 256; i++)
        strcat(tag, "\xc3\xa9");
    assert_true(fw_run_check_tag(tag, strlen(tag), NULL, &exp));
    strcat(tag, "x");
    assert_false(fw_run_check_tag(tag, strlen(tag), NULL, &exp));

    /* More tags than a sample can carry. */
    char many[FW_RUN_MAX_TAGS * 8 + 16] = "";
    for (int i = 0; i <= FW_RUN_MAX_TAGS; i++) {
        char one[16];
        snprintf(one, sizeof one, "%sk%d=v", i ? "," : "", i);
        strcat(many, one);
    }
    assert_false(fw_run_check_tags(many, tags, &n, &exp));
    free(tags);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(fw_run_utf8_chars("abc", 3), 3);
    assert_int_equal(fw_run_utf8_chars("\xf0\x9f\x94\xa5x", 5), 2);
    assert_int_equal(fw_run_utf8_chars("\xc0\xaf", 2), -1);          /* overlong '/' */
    assert_int_equal(fw_run_utf8_chars("\xed\xa0\x80", 3), -1);      /* surrogate */
    assert_int_equal(fw_run_utf8_chars("\xe2\x82", 2), -1);          /* truncated */
    assert_int_equal(fw_run_utf8_chars("\xf4\x90\x80\x80", 4), -1);  /* > U+10FFFF */
}

static fw_run_config *resolve_ok(char **argv, int argc, char **envp)
{
    fw_run_args a;
    assert_int_equal(parse(argc, argv, &a), FW_RUN_PARSE_OK);
    fw_run_config *cfg = calloc(1, sizeof *cfg);
    if (!fw_run_resolve(&a, envp, cfg, err, sizeof err))
        fail_msg("resolve failed: %s", err);
    return cfg;
}

static void test_env_values_validated_and_named(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "FLAMEWATCH_APP=a,b", "FLAMEWATCH_OUTPUT=", "FLAMEWATCH_CPU_INTERVAL=abc", "FLAMEWATCH_CPU=maybe",
        "FLAMEWATCH_WALL=2", "FLAMEWATCH_ENABLED=", "FLAMEWATCH_UPLOAD_INTERVAL=0", "FLAMEWATCH_LOG=loud",
        "FLAMEWATCH_TAGS=no-equals",
    };
    fw_run_args a;
    fw_run_config *cfg = calloc(1, sizeof *cfg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(2, ARGV("run", "prog"), &a), FW_RUN_PARSE_OK);
        char *envp[] = {"PATH=/bin", (char *)bad[i], NULL};
        if (fw_run_resolve(&a, envp, cfg, err, sizeof err))
            fail_msg("accepted %s", bad[i]);
        const char *eq = strchr(bad[i], '=');
        char want[256];
        snprintf(want, sizeof want, "flamewatch: invalid value for %.*s: '%s' (expected", (int)(eq - bad[i]),
                 bad[i], eq + 1);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("message for %s: %s", bad[i], err);
    }
    free(cfg);
}

static void test_cpu_interval_env_message(void **state)
{
    (void)state;
    fw_run_args a;
    fw_run_config *cfg = calloc(1, sizeof *cfg);
    assert_int_equal(parse(2, ARGV("run", "prog"), &a), FW_RUN_PARSE_OK);
    char *envp[] = {"FLAMEWATCH_CPU_INTERVAL=abc", NULL};
    assert_false(fw_run_resolve(&a, envp, cfg, err, sizeof err));
    assert_string_equal(err, "flamewatch: invalid value for FLAMEWATCH_CPU_INTERVAL: 'abc' "
                             "(expected an integer from 1 to 1000)");
    free(cfg);
}

static void test_flags_override_env(void **state)
{
    (void)state;
    /* A flag replaces the variable in the child, so the variable's bad value is moot. */
    char *envp[] = {"FLAMEWATCH_CPU_INTERVAL=abc", "FLAMEWATCH_APP=env-app", "FLAMEWATCH_WALL=0",
                    "FLAMEWATCH_TAGS=team=env,zone=a", "FLAMEWATCH_LOG=quiet", NULL};
    char **argv = ARGV("run", "--cpu-interval", "20", "--wall", "--tag", "team=flag", "--", "prog");
    fw_run_config *cfg = resolve_ok(argv, 8, envp);
    assert_true(cfg->cpu_interval_set);
    assert_int_equal(cfg->cpu_interval_ms, 20);
    assert_string_equal(cfg->app, "env-app");
    assert_true(cfg->wall);
    assert_int_equal(cfg->ntags, 2);

    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    int n = fw_run_exports(cfg, "ignored", ex);
    assert_true(n > 0);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(ex[i].name, "FLAMEWATCH_TAGS") == 0) {
            assert_string_equal(ex[i].value, "team=flag,zone=a");
            seen |= 1;
        } else if (strcmp(ex[i].name, "FLAMEWATCH_CPU_INTERVAL") == 0) {
            assert_string_equal(ex[i].value, "20");
            seen |= 2;
        } else if (strcmp(ex[i].name, "FLAMEWATCH_WALL") == 0) {
            assert_string_equal(ex[i].value, "1");
            seen |= 4;
        } else if (strcmp(ex[i].name, "FLAMEWATCH_APP") == 0) {
            assert_string_equal(ex[i].value, "env-app");
            seen |= 8;
        } else if (strcmp(ex[i].name, "FLAMEWATCH_LOG") == 0) {
            assert_string_equal(ex[i].value, "quiet");
            seen |= 16;
        }
    }
    assert_int_equal(seen, 31);
    assert_string_equal(ex[0].name, "FLAMEWATCH_RUN");
    assert_string_equal(ex[0].value, "1");
    fw_run_exports_free(ex, n);
    free(cfg);
}

static void test_exports_are_canonical(void **state)
{
    (void)state;
    char *envp[] = {"FLAMEWATCH_CPU=Off", "FLAMEWATCH_ENABLED=yes", "FLAMEWATCH_LOG=INFO",
                    "FLAMEWATCH_CPU_INTERVAL=007", "FLAMEWATCH_WALL=1", "FLAMEWATCH_WALL=no", NULL};
    fw_run_config *cfg = resolve_ok(ARGV("run", "--disable", "prog"), 3, envp);
    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    int n = fw_run_exports(cfg, "prog", ex);
    char all[2048] = "";
    for (int i = 0; i < n; i++) {
        strcat(all, ex[i].name);
        strcat(all, "=");
        strcat(all, ex[i].value);
        strcat(all, ";");
    }
    /* Flag --disable beats FLAMEWATCH_ENABLED=yes; the last FLAMEWATCH_WALL definition wins. */
    assert_string_equal(all, "FLAMEWATCH_RUN=1;FLAMEWATCH_APP=prog;FLAMEWATCH_CPU_INTERVAL=7;FLAMEWATCH_CPU=0;"
                             "FLAMEWATCH_WALL=0;FLAMEWATCH_ENABLED=0;FLAMEWATCH_LOG=info;");
    fw_run_exports_free(ex, n);
    free(cfg);
}

static void test_unset_settings_not_exported(void **state)
{
    (void)state;
    char *envp[] = {"FLAMEWATCH_TEST_BUILD=x", "FLAMEWATCH_SOMETHING_NEW=1", NULL};
    fw_run_config *cfg = resolve_ok(ARGV("run", "prog"), 2, envp);
    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    int n = fw_run_exports(cfg, "prog", ex);
    assert_int_equal(n, 2);  /* FLAMEWATCH_RUN and FLAMEWATCH_APP only */
    fw_run_exports_free(ex, n);
    free(cfg);
}

static void test_pythonpath(void **state)
{
    (void)state;
    char out[256];
    assert_true(fw_run_pythonpath("/opt/fw/python", NULL, out, sizeof out));
    assert_string_equal(out, "/opt/fw/python/flamewatch/_bootstrap:/opt/fw/python");
    /* An empty PYTHONPATH must not leave a trailing ':' (Python would add the cwd). */
    assert_true(fw_run_pythonpath("/r", "", out, sizeof out));
    assert_string_equal(out, "/r/flamewatch/_bootstrap:/r");
    assert_true(fw_run_pythonpath("/r", "/a:/b", out, sizeof out));
    assert_string_equal(out, "/r/flamewatch/_bootstrap:/r:/a:/b");
    assert_false(fw_run_pythonpath("/a-long-root", "/x", out, 10));
}

static void check_app(char **argv, int argc, const char *want)
{
    char out[FW_RUN_APP_BYTES];
    fw_run_default_app(argc, argv, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("default app for %s %s: got '%s', want '%s'", argv[0], argc > 1 ? argv[1] : "", out, want);
    const char *exp;
    assert_true(fw_run_check_app(out, &exp));
}

static void test_default_app(void **state)
{
    (void)state;
    check_app(ARGV("python3", "shop.py"), 2, "shop");
    check_app(ARGV("/usr/bin/python3.12", "/srv/app/server.py", "--port", "1"), 4, "server");
    check_app(ARGV("python", "-u", "-X", "dev", "-W", "ignore", "tool.py"), 7, "tool");
    check_app(ARGV("python3", "-Xdev", "-OO", "--", "x.py"), 5, "x");
    check_app(ARGV("python3", "-m", "http.server", "8000"), 4, "http.server");
    check_app(ARGV("python3", "-u", "-mcelery", "worker"), 4, "celery");
    check_app(ARGV("python3", "-um", "pkg.main"), 3, "pkg.main");
    check_app(ARGV("python3", "--check-hash-based-pycs", "always", "app.py"), 4, "app");
    check_app(ARGV("python3", "-c", "print(1)"), 3, "python");
    check_app(ARGV("python3"), 1, "python");
    check_app(ARGV("python3", "-"), 2, "python");
    check_app(ARGV("gunicorn", "app:app", "-w", "4"), 4, "gunicorn");
    check_app(ARGV("/venv/bin/uvicorn", "main:app"), 2, "uvicorn");
    check_app(ARGV("./tools/job.py", "--x"), 2, "job");
    check_app(ARGV("python3", "mypkg/"), 2, "mypkg");
    check_app(ARGV("python3", "a=b,{c}.py"), 2, "a_b__c_");
    check_app(ARGV("python3", "caf\xc3\xa9.py"), 2, "caf\xc3\xa9");
    check_app(ARGV("python3", "bad\xff.py"), 2, "bad_");
    check_app(ARGV("python3", ".py"), 2, ".py");
    check_app(ARGV("python3", "..py"), 2, "python");            /* "." is not a name */
    check_app(ARGV("python3", " job .py"), 2, "_job_");          /* no edge spaces */
    check_app(ARGV("python3", "a\tb.py"), 2, "a_b");
    check_app(ARGV("python3", "-m", "pkg/mod"), 3, "pkg_mod");

    char longname[400];
    memset(longname, 'n', 300);
    strcpy(longname + 300, ".py");
    char out[FW_RUN_APP_BYTES];
    fw_run_default_app(2, ARGV("python3", longname), out, sizeof out);
    assert_int_equal(strlen(out), 128);
    /* Whole characters only: 100 three-byte characters are cut to 42 (126 bytes). */
    longname[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(longname, "\xe2\x82\xac");
    strcat(longname, ".py");
    fw_run_default_app(2, ARGV("python3", longname), out, sizeof out);
    assert_int_equal(strlen(out), 126);
}

static void test_python_detection(void **state)
{
    (void)state;
    assert_true(fw_run_is_python("python"));
    assert_true(fw_run_is_python("/usr/bin/python3.13"));
    assert_true(fw_run_is_python("python3.12-dbg"));
    assert_true(fw_run_is_python("/opt/py/bin/flamewatch-python3.15"));
    assert_true(fw_run_is_python("x86_64-linux-gnu-python3.14"));
    assert_true(fw_run_is_python("python3.14t"));
    assert_false(fw_run_is_python("flamewatch-pythonista"));
    assert_false(fw_run_is_python("python3.14-config"));
    assert_false(fw_run_is_python("x86_64-linux-gnu-python3.14-config"));
    assert_false(fw_run_is_python("pythonista"));
    assert_false(fw_run_is_python("ipython"));
    assert_false(fw_run_is_python("gunicorn"));
    char which;
    assert_true(fw_run_python_skips_bootstrap(3, ARGV("python3", "-I", "x.py"), &which));
    assert_int_equal(which, 'I');
    assert_true(fw_run_python_skips_bootstrap(3, ARGV("python3", "-uS", "x.py"), &which));
    assert_int_equal(which, 'S');
    /* -E after the script is the script's own argument. */
    assert_false(fw_run_python_skips_bootstrap(3, ARGV("python3", "x.py", "-E"), &which));
    assert_false(fw_run_python_skips_bootstrap(3, ARGV("python3", "-c", "-E"), &which));
    assert_false(fw_run_python_skips_bootstrap(2, ARGV("gunicorn", "-E"), &which));
}

static void test_invalid_message_escapes(void **state)
{
    (void)state;
    char e[128];
    fw_run_invalid(e, sizeof e, "--app", "a\nb\tc", "expected x");
    assert_string_equal(e, "flamewatch: invalid value for --app: 'a\\x0ab\\x09c' (expected x)");
    assert_null(strchr(e, '\n'));
    char big[2000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char e2[FW_RUN_ERR_BYTES];
    fw_run_invalid(e2, sizeof e2, "--app", big, "expected y");
    assert_non_null(strstr(e2, "...' (expected y)"));
}

/* --memory and --memory-threshold, FLAMEWATCH_MEMORY and FLAMEWATCH_MEMORY_THRESHOLD (issue 5). */
static const char *export_value(const fw_run_export *ex, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ex[i].name, name) == 0)
            return ex[i].value;
    return NULL;
}

static void test_memory_settings(void **state)
{
    (void)state;
    fw_run_args a;
    fw_run_config c;
    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    char **argv = ARGV("run", "--memory", "--memory-threshold", "64", "--", "prog");
    assert_int_equal(parse(6, argv, &a), FW_RUN_PARSE_OK);
    assert_true(a.memory);
    assert_string_equal(a.memory_threshold, "64");
    assert_true(fw_run_resolve(&a, NULL, &c, err, sizeof err));
    assert_true(c.memory_set && c.memory);
    assert_true(c.memory_threshold_set);
    assert_int_equal(c.memory_threshold_kb, 64);
    int n = fw_run_exports(&c, "prog", ex);
    assert_true(n > 0 && n <= FW_RUN_MAX_EXPORTS);
    assert_string_equal(export_value(ex, n, "FLAMEWATCH_MEMORY"), "1");
    assert_string_equal(export_value(ex, n, "FLAMEWATCH_MEMORY_THRESHOLD"), "64");
    fw_run_exports_free(ex, n);

    /* Limits, and the contract's message. */
    char **edge = ARGV("run", "--memory-threshold=1048576", "prog");
    assert_int_equal(parse(3, edge, &a), FW_RUN_PARSE_OK);
    char **one = ARGV("run", "--memory-threshold", "1", "prog");
    assert_int_equal(parse(4, one, &a), FW_RUN_PARSE_OK);
    const char *bad[] = {"0", "1048577", "abc", "", "-5", "64k", "99999999", " 64", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **argv2 = ARGV("run", "--memory-threshold", (char *)bad[i], "prog");
        char want[256];
        assert_int_equal(parse(4, argv2, &a), FW_RUN_PARSE_ERROR);
        snprintf(want, sizeof want, "flamewatch: invalid value for --memory-threshold: '%s' "
                 "(expected an integer number of KB from 1 to 1048576)", bad[i]);
        assert_string_equal(err, want);
    }
    char **novalue = ARGV("run", "--memory=1", "prog");
    assert_int_equal(parse(3, novalue, &a), FW_RUN_PARSE_ERROR);

    /* The environment: validated, named, and overridden by flags. */
    char **plain = ARGV("run", "prog");
    assert_int_equal(parse(2, plain, &a), FW_RUN_PARSE_OK);
    char *env_bad_bool[] = {"FLAMEWATCH_MEMORY=maybe", NULL};
    assert_false(fw_run_resolve(&a, env_bad_bool, &c, err, sizeof err));
    assert_string_equal(err, "flamewatch: invalid value for FLAMEWATCH_MEMORY: 'maybe' "
                        "(expected a boolean: 1/0, true/false, yes/no or on/off)");
    char *env_bad_kb[] = {"FLAMEWATCH_MEMORY_THRESHOLD=0", NULL};
    assert_false(fw_run_resolve(&a, env_bad_kb, &c, err, sizeof err));
    assert_string_equal(err, "flamewatch: invalid value for FLAMEWATCH_MEMORY_THRESHOLD: '0' "
                        "(expected an integer number of KB from 1 to 1048576)");
    char *env_ok[] = {"FLAMEWATCH_MEMORY=Yes", "FLAMEWATCH_MEMORY_THRESHOLD=2048", NULL};
    assert_true(fw_run_resolve(&a, env_ok, &c, err, sizeof err));
    assert_true(c.memory_set && c.memory);
    assert_int_equal(c.memory_threshold_kb, 2048);
    n = fw_run_exports(&c, "prog", ex);
    assert_string_equal(export_value(ex, n, "FLAMEWATCH_MEMORY"), "1");
    assert_string_equal(export_value(ex, n, "FLAMEWATCH_MEMORY_THRESHOLD"), "2048");
    fw_run_exports_free(ex, n);
    char **flag = ARGV("run", "--memory-threshold", "8", "prog");
    assert_int_equal(parse(4, flag, &a), FW_RUN_PARSE_OK);
    assert_true(fw_run_resolve(&a, env_bad_kb, &c, err, sizeof err));   /* the flag wins */
    assert_int_equal(c.memory_threshold_kb, 8);
    /* Nothing given: nothing exported (the agent's defaults apply: off, 1024 KB). */
    assert_true(fw_run_resolve(&a, NULL, &c, err, sizeof err));
    assert_false(c.memory_set);
    n = fw_run_exports(&c, "prog", ex);
    assert_null(export_value(ex, n, "FLAMEWATCH_MEMORY"));
    fw_run_exports_free(ex, n);
}

/* --ca-file / FLAMEWATCH_CA_FILE: a readable regular file, checked before the program runs. */
static void test_ca_file(void **state)
{
    (void)state;
    fw_run_args a;
    fw_run_config c;
    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    char dir[] = "/tmp/fw-ca-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pem[64], missing[64], unreadable[64];
    snprintf(pem, sizeof pem, "%s/ca.pem", dir);
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    snprintf(unreadable, sizeof unreadable, "%s/secret.pem", dir);
    FILE *f = fopen(pem, "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\n", f);
    fclose(f);
    f = fopen(unreadable, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(unreadable, 0), 0);

    char **ok = ARGV("run", "--ca-file", pem, "--", "prog");
    assert_int_equal(parse(5, ok, &a), FW_RUN_PARSE_OK);
    assert_string_equal(a.ca_file, pem);
    assert_true(fw_run_resolve(&a, NULL, &c, err, sizeof err));
    assert_true(c.ca_file_set);
    int n = fw_run_exports(&c, "prog", ex);
    assert_string_equal(export_value(ex, n, "FLAMEWATCH_CA_FILE"), pem);
    fw_run_exports_free(ex, n);

    char want[512];
    char **gone = ARGV("run", "--ca-file", missing, "prog");
    assert_int_equal(parse(4, gone, &a), FW_RUN_PARSE_ERROR);
    snprintf(want, sizeof want, "flamewatch: invalid value for --ca-file: '%s' "
             "(expected a PEM file of certificate authorities: no such file)", missing);
    assert_string_equal(err, want);
    char **isdir = ARGV("run", "--ca-file=", "prog");
    assert_int_equal(parse(3, isdir, &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "invalid value for --ca-file: '' (expected the path of a PEM"));
    char **adir = ARGV("run", "--ca-file", dir, "prog");
    assert_int_equal(parse(4, adir, &a), FW_RUN_PARSE_ERROR);
    assert_non_null(strstr(err, "(expected a PEM file of certificate authorities, not a directory"));
    const char *expected = NULL;
    /* root reads a mode-0 file anyway; then the check must agree that it is readable. */
    bool readable = geteuid() == 0;
    assert_int_equal(fw_run_check_ca_file(unreadable, &expected), readable);
    if (!readable)
        assert_string_equal(expected, "expected a readable PEM file of certificate authorities");

    /* The environment: validated and named, unless a flag replaces it. */
    char **plain = ARGV("run", "prog");
    assert_int_equal(parse(2, plain, &a), FW_RUN_PARSE_OK);
    char env_missing[96];
    snprintf(env_missing, sizeof env_missing, "FLAMEWATCH_CA_FILE=%s", missing);
    char *env_bad[] = {env_missing, NULL};
    assert_false(fw_run_resolve(&a, env_bad, &c, err, sizeof err));
    snprintf(want, sizeof want, "flamewatch: invalid value for FLAMEWATCH_CA_FILE: '%s' "
             "(expected a PEM file of certificate authorities: no such file)", missing);
    assert_string_equal(err, want);
    assert_int_equal(parse(5, ok, &a), FW_RUN_PARSE_OK);
    assert_true(fw_run_resolve(&a, env_bad, &c, err, sizeof err));   /* the flag wins */
    assert_string_equal(c.ca_file, pem);
    /* Nothing given: nothing exported (libcurl's default bundle). */
    assert_int_equal(parse(2, plain, &a), FW_RUN_PARSE_OK);
    assert_true(fw_run_resolve(&a, NULL, &c, err, sizeof err));
    assert_false(c.ca_file_set);
    n = fw_run_exports(&c, "prog", ex);
    assert_null(export_value(ex, n, "FLAMEWATCH_CA_FILE"));
    fw_run_exports_free(ex, n);

    /* Every setting at once still fits FW_RUN_MAX_EXPORTS. */
    char **all = ARGV("run", "--app", "a", "--output", "o", "--cpu-interval", "5", "--no-cpu",
                      "--wall", "--memory", "--memory-threshold", "8", "--disable",
                      "--upload-interval", "1", "--log", "debug", "--server", "https://h",
                      "--token", "t", "--ca-file", pem, "--tag", "k=v", "prog");
    assert_int_equal(parse(28, all, &a), FW_RUN_PARSE_OK);
    assert_true(fw_run_resolve(&a, NULL, &c, err, sizeof err));
    n = fw_run_exports(&c, "prog", ex);
    assert_int_equal(n, FW_RUN_MAX_EXPORTS);
    fw_run_exports_free(ex, n);

    unlink(pem);
    unlink(unreadable);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_after_double_dash),
        cmocka_unit_test(test_program_without_double_dash),
        cmocka_unit_test(test_equals_form_and_all_flags),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_flag_values_rejected_with_contract_message),
        cmocka_unit_test(test_check_app_limits),
        cmocka_unit_test(test_check_numbers),
        cmocka_unit_test(test_check_bool_and_log),
        cmocka_unit_test(test_check_tags),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_env_values_validated_and_named),
        cmocka_unit_test(test_cpu_interval_env_message),
        cmocka_unit_test(test_flags_override_env),
        cmocka_unit_test(test_exports_are_canonical),
        cmocka_unit_test(test_unset_settings_not_exported),
        cmocka_unit_test(test_pythonpath),
        cmocka_unit_test(test_default_app),
        cmocka_unit_test(test_python_detection),
        cmocka_unit_test(test_invalid_message_escapes),
        cmocka_unit_test(test_memory_settings),
        cmocka_unit_test(test_ca_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
