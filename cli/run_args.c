/*
 * run_args: the decisions of `flamewatch run`, kept free of side effects.
 *
 * Why a separate file: `flamewatch run` ends in execvp(), which a unit test cannot survive.
 * Everything that can go wrong before that point (a bad flag, a bad FLAMEWATCH_* value, the
 * application name, the PYTHONPATH) is decided here from plain inputs (argv, an environment
 * array) into plain outputs, and cmd_run.c only applies the result.
 *
 * Validation is strict and follows docs/CONFIGURATION.md to the letter, because the same
 * rules are applied again by the Python side (flamewatch.start()) and the two must agree:
 *   - integers are plain decimal digits (no sign, no spaces, no "0x");
 *   - the upload interval is a plain decimal number (digits, at most one '.'), so "1e3",
 *     "inf" and "nan", which strtod would happily take, are refused;
 *   - character counts are Unicode characters, so text must be valid UTF-8;
 *   - booleans and log levels are case-insensitive and are exported in one canonical
 *     spelling ("1"/"0", lowercase), so the child never has to guess what we accepted.
 * A value that comes from the environment but is overridden by a flag is not checked: it
 * never reaches the program (the flag's value replaces it in the child's environment).
 *
 * Error messages are one line and name the flag or the variable, the value (control
 * characters escaped) and what was expected, e.g.
 *   flamewatch: invalid value for --cpu-interval: 'abc' (expected an integer from 1 to 1000)
 */
#include "run_args.h"
#include "fw_utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char fw_bool_expected[] = "expected a boolean: 1/0, true/false, yes/no or on/off";

long fw_run_utf8_chars(const char *s, size_t len)
{
    return fw_utf8_chars(s, len);
}

void fw_run_invalid(char *err, size_t errlen, const char *where, const char *value,
                    const char *expected)
{
    if (!err || errlen == 0)
        return;
    /* Escape control characters (and DEL) so the message stays one line whatever the value. */
    char shown[512];
    size_t o = 0;
    const unsigned char *v = (const unsigned char *)value;
    for (size_t i = 0; v[i] && o + 5 < sizeof shown; i++) {
        if (v[i] < 0x20 || v[i] == 0x7f) {
            snprintf(shown + o, sizeof shown - o, "\\x%02x", v[i]);
            o += 4;
        } else {
            shown[o++] = (char)v[i];
        }
    }
    shown[o] = '\0';
    bool cut = v[strnlen(value, sizeof shown)] != '\0' && o + 5 >= sizeof shown;
    snprintf(err, errlen, "flamewatch: invalid value for %s: '%s%s' (%s)", where, shown,
             cut ? "..." : "", expected);
}

bool fw_run_check_app(const char *v, const char **expected)
{
    /* The rule is common/fw_appname.h's, the same the server applies at ingest and in the
     * settings path: a name run accepts is never refused or altered downstream. */
    if (fw_app_name_problem(v, strlen(v)) != NULL) {
        *expected = "expected " FW_APP_NAME_RULE;
        return false;
    }
    return true;
}

bool fw_run_check_output(const char *v, const char **expected)
{
    /* Whether the directory exists or can be created is checked by cmd_run.c, which creates
     * it; here only what can be known from the text. */
    if (v[0] == '\0') {
        *expected = "expected a directory path";
        return false;
    }
    if (strlen(v) >= FW_RUN_PATH_BYTES - 256) {
        *expected = "expected a directory path shorter than 3840 bytes";
        return false;
    }
    return true;
}

bool fw_run_check_memory_threshold(const char *v, int *out, const char **expected)
{
    static const char exp[] = "expected an integer number of KB from 1 to 1048576";
    long n = 0;
    size_t i = 0;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 8) {  /* 8 digits are already out of range */
            *expected = exp;
            return false;
        }
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || n < 1 || n > 1048576) {
        *expected = exp;
        return false;
    }
    *out = (int)n;
    return true;
}

bool fw_run_check_cpu_interval(const char *v, int *out, const char **expected)
{
    static const char exp[] = "expected an integer from 1 to 1000";
    long n = 0;
    size_t i = 0;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 5) {  /* 5 digits are already out of range */
            *expected = exp;
            return false;
        }
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || n < 1 || n > 1000) {
        *expected = exp;
        return false;
    }
    *out = (int)n;
    return true;
}

bool fw_run_check_bool(const char *v, bool *out, const char **expected)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    *expected = fw_bool_expected;
    return false;
}

bool fw_run_check_upload_interval(const char *v, const char **expected)
{
    static const char exp[] = "expected seconds from 0.1 to 3600, a decimal number such as 15 or 0.5";
    size_t digits = 0, dots = 0, len = strlen(v);
    for (size_t i = 0; i < len; i++) {
        if (v[i] >= '0' && v[i] <= '9')
            digits++;
        else if (v[i] == '.')
            dots++;
        else {
            *expected = exp;
            return false;
        }
    }
    if (digits == 0 || dots > 1 || len > 24) {
        *expected = exp;
        return false;
    }
    /* Only digits and one '.' remain, so strtod reads plain decimal in the C locale
     * (flamewatch never calls setlocale, so the radix character is '.'). */
    double d = strtod(v, NULL);
    if (!(d >= 0.1 && d <= 3600.0)) {
        *expected = exp;
        return false;
    }
    return true;
}

bool fw_run_check_log(const char *v, char *out, size_t outlen, const char **expected)
{
    static const char *const levels[] = {"debug", "info", "warning", "quiet"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(v, levels[i]) == 0) {
            snprintf(out, outlen, "%s", levels[i]);
            return true;
        }
    }
    *expected = "expected one of debug, info, warning, quiet";
    return false;
}

bool fw_run_check_server(const char *v, const char **expected)
{
    size_t skip = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
    size_t len = strlen(v);
    bool ok = skip > 0 && len > skip && len <= 1000 && v[skip] != '/' && v[skip] != '?';
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (!ok)
        *expected = "expected an http:// or https:// URL such as http://127.0.0.1:4040";
    return ok;
}

bool fw_run_check_token(const char *v, const char **expected)
{
    size_t len = strlen(v);
    bool ok = len >= 1 && len <= 511;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (!ok)
        *expected = "expected 1 to 511 printable ASCII characters";
    return ok;
}

bool fw_run_check_ca_file(const char *v, const char **expected)
{
    /* Checked here rather than left to libcurl, which would only say so in a warning after the
     * program has started and its first upload has failed. The length leaves room for cmd_run
     * to make the path absolute within the agent's FW_PATH_MAX. */
    if (v[0] == '\0' || strlen(v) >= FW_RUN_PATH_BYTES - 256) {
        *expected = "expected the path of a PEM file of certificate authorities, shorter than 3840 bytes";
        return false;
    }
    /* open() rather than access(): it judges with the effective ids, as the agent will. */
    int fd = open(v, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *expected = errno == ENOENT || errno == ENOTDIR
                        ? "expected a PEM file of certificate authorities: no such file"
                        : "expected a readable PEM file of certificate authorities";
        return false;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        *expected = "expected a PEM file of certificate authorities, not a directory or device";
    return regular;
}

bool fw_run_check_tag(const char *v, size_t len, fw_run_tag *out, const char **expected)
{
    const char *eq = memchr(v, '=', len);
    if (!eq) {
        *expected = "expected K=V";
        return false;
    }
    size_t klen = (size_t)(eq - v);
    if (klen == 0 || klen > FW_RUN_MAX_KEY_CHARS || !(isalpha((unsigned char)v[0]) || v[0] == '_')) {
        *expected = "expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*";
        return false;
    }
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)v[i];
        /* isalnum() depends on the locale; the contract means ASCII. */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.')) {
            *expected = "expected K=V with a key of 1 to 64 characters matching [A-Za-z_][A-Za-z0-9_.]*";
            return false;
        }
    }
    const char *val = eq + 1;
    size_t vlen = len - klen - 1;
    long n = fw_run_utf8_chars(val, vlen);
    if (n < 0) {
        *expected = "expected K=V with a value in valid UTF-8";
        return false;
    }
    if (n > FW_RUN_MAX_VALUE_CHARS || memchr(val, ',', vlen) != NULL) {
        *expected = "expected K=V with a value of at most 256 characters without ','";
        return false;
    }
    if (out) {
        memcpy(out->key, v, klen);
        out->key[klen] = '\0';
        memcpy(out->value, val, vlen);
        out->value[vlen] = '\0';
    }
    return true;
}

/* Adds or replaces (same key: the later one wins) a tag in a list. */
static bool fw_tag_put(fw_run_tag *tags, size_t *ntags, const fw_run_tag *t)
{
    for (size_t i = 0; i < *ntags; i++) {
        if (strcmp(tags[i].key, t->key) == 0) {
            tags[i] = *t;
            return true;
        }
    }
    if (*ntags >= FW_RUN_MAX_TAGS)
        return false;
    tags[(*ntags)++] = *t;
    return true;
}

static const char fw_too_many_tags[] = "expected at most 32 tags";

bool fw_run_check_tags(const char *v, fw_run_tag *out, size_t *ntags, const char **expected)
{
    *ntags = 0;
    if (v[0] == '\0')
        return true;
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        fw_run_tag t;
        if (!fw_run_check_tag(p, len, &t, expected)) {
            /* Say it in the variable's terms: a list of k=v pairs. */
            if (strcmp(*expected, "expected K=V") == 0)
                *expected = "expected k=v pairs separated by ',', e.g. team=web,region=eu";
            return false;
        }
        if (!fw_tag_put(out, ntags, &t)) {
            *expected = fw_too_many_tags;
            return false;
        }
        if (!end)
            return true;
        p = end + 1;
    }
}

/* ---- step 1: the command line ---- */

typedef enum { FW_OPT_APP, FW_OPT_OUTPUT, FW_OPT_CPU_INTERVAL, FW_OPT_UPLOAD, FW_OPT_LOG,
               FW_OPT_TAG, FW_OPT_NO_CPU, FW_OPT_WALL, FW_OPT_DISABLE, FW_OPT_HELP,
               FW_OPT_SERVER, FW_OPT_TOKEN, FW_OPT_MEMORY, FW_OPT_MEMORY_THRESHOLD,
               FW_OPT_CA_FILE } fw_opt_id;

typedef struct {
    const char *name;
    fw_opt_id id;
    const char *metavar;  /* NULL: the flag takes no value */
} fw_opt;

static const fw_opt fw_opts[] = {
    {"--app", FW_OPT_APP, "NAME"},
    {"--output", FW_OPT_OUTPUT, "DIR"},
    {"--cpu-interval", FW_OPT_CPU_INTERVAL, "MS"},
    {"--upload-interval", FW_OPT_UPLOAD, "S"},
    {"--log", FW_OPT_LOG, "LEVEL"},
    {"--tag", FW_OPT_TAG, "K=V"},
    {"--server", FW_OPT_SERVER, "URL"},
    {"--token", FW_OPT_TOKEN, "TOKEN"},
    {"--ca-file", FW_OPT_CA_FILE, "PATH"},
    {"--no-cpu", FW_OPT_NO_CPU, NULL},
    {"--wall", FW_OPT_WALL, NULL},
    {"--memory-threshold", FW_OPT_MEMORY_THRESHOLD, "KB"},
    {"--memory", FW_OPT_MEMORY, NULL},
    {"--disable", FW_OPT_DISABLE, NULL},
    {"--help", FW_OPT_HELP, NULL},
    {"-h", FW_OPT_HELP, NULL},
};

fw_run_parse_status fw_run_parse_args(int argc, char **argv, fw_run_args *args,
                                      char *err, size_t errlen)
{
    memset(args, 0, sizeof *args);
    args->prog_index = -1;
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')  /* first non-option: PROGRAM */
            break;
        const fw_opt *opt = NULL;
        const char *value = NULL;
        for (size_t k = 0; k < sizeof fw_opts / sizeof fw_opts[0]; k++) {
            size_t n = strlen(fw_opts[k].name);
            if (strncmp(a, fw_opts[k].name, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                opt = &fw_opts[k];
                if (a[n] == '=')
                    value = a + n + 1;
                break;
            }
        }
        if (!opt) {
            snprintf(err, errlen, "flamewatch: unknown option for run: '%s' (see 'flamewatch run --help')", a);
            return FW_RUN_PARSE_ERROR;
        }
        if (opt->metavar == NULL && value != NULL) {
            snprintf(err, errlen, "flamewatch: option %s takes no value (got '%s')", opt->name, a);
            return FW_RUN_PARSE_ERROR;
        }
        if (opt->metavar != NULL && value == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "flamewatch: option %s needs a value (%s %s)", opt->name,
                         opt->name, opt->metavar);
                return FW_RUN_PARSE_ERROR;
            }
            value = argv[++i];
        }
        i++;
        /* Flags without a value never read `val`; the ones with one always have it here. */
        const char *val = value ? value : "";
        const char *expected = NULL;
        bool ok = true;
        int ms;
        char lvl[16];
        switch (opt->id) {
        case FW_OPT_HELP:
            return FW_RUN_PARSE_HELP;
        case FW_OPT_APP:
            ok = fw_run_check_app(val, &expected);
            args->app = val;
            break;
        case FW_OPT_OUTPUT:
            ok = fw_run_check_output(val, &expected);
            args->output = val;
            break;
        case FW_OPT_CPU_INTERVAL:
            ok = fw_run_check_cpu_interval(val, &ms, &expected);
            args->cpu_interval = val;
            break;
        case FW_OPT_UPLOAD:
            ok = fw_run_check_upload_interval(val, &expected);
            args->upload_interval = val;
            break;
        case FW_OPT_LOG:
            ok = fw_run_check_log(val, lvl, sizeof lvl, &expected);
            args->log = val;
            break;
        case FW_OPT_TAG:
            ok = fw_run_check_tag(val, strlen(val), NULL, &expected);
            if (ok) {
                /* Count distinct keys only: repeating a key replaces its value. */
                const char *eq = strchr(val, '=');
                size_t klen = eq ? (size_t)(eq - val) : strlen(val);
                size_t k = 0;
                for (; k < args->ntags; k++)
                    if (strncmp(args->tags[k], val, klen + 1) == 0)
                        break;
                if (k < args->ntags) {
                    args->tags[k] = val;
                } else if (args->ntags >= FW_RUN_MAX_TAGS) {
                    ok = false;
                    expected = fw_too_many_tags;
                } else {
                    args->tags[args->ntags++] = val;
                }
            }
            break;
        case FW_OPT_SERVER:
            ok = fw_run_check_server(val, &expected);
            args->server = val;
            break;
        case FW_OPT_TOKEN:
            ok = fw_run_check_token(val, &expected);
            args->token = val;
            if (!ok)
                val = "***";   /* never echo a secret */
            break;
        case FW_OPT_NO_CPU:
            args->no_cpu = true;
            break;
        case FW_OPT_WALL:
            args->wall = true;
            break;
        case FW_OPT_MEMORY:
            args->memory = true;
            break;
        case FW_OPT_MEMORY_THRESHOLD:
            ok = fw_run_check_memory_threshold(val, &ms, &expected);
            args->memory_threshold = val;
            break;
        case FW_OPT_DISABLE:
            args->disable = true;
            break;
        case FW_OPT_CA_FILE:
            ok = fw_run_check_ca_file(val, &expected);
            args->ca_file = val;
            break;
        }
        if (!ok) {
            fw_run_invalid(err, errlen, opt->name, val, expected);
            return FW_RUN_PARSE_ERROR;
        }
    }
    if (i >= argc) {
        snprintf(err, errlen, "flamewatch: run needs a program: flamewatch run [OPTIONS] -- PROGRAM [ARGS]");
        return FW_RUN_PARSE_ERROR;
    }
    if (argv[i][0] == '\0') {
        snprintf(err, errlen, "flamewatch: run needs a program, got an empty name");
        return FW_RUN_PARSE_ERROR;
    }
    args->prog_index = i;
    return FW_RUN_PARSE_OK;
}

/* ---- step 2: flags and environment ---- */

static const char *fw_env_get(char *const *envp, const char *name)
{
    if (!envp)
        return NULL;
    size_t n = strlen(name);
    const char *found = NULL;
    /* The last definition wins, as with getenv() on a hand-built environment. */
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            found = envp[i] + n + 1;
    return found;
}

/* Checks an environment value; on failure formats the message naming the variable. */
#define FW_ENV_FAIL(var, val, exp) \
    do { fw_run_invalid(err, errlen, (var), (val), (exp)); return false; } while (0)

bool fw_run_resolve(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                    char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    const char *expected = NULL;
    const char *v;

    if (args->app) {
        snprintf(cfg->app, sizeof cfg->app, "%s", args->app);
        cfg->app_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_APP")) != NULL) {
        if (!fw_run_check_app(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_APP", v, expected);
        snprintf(cfg->app, sizeof cfg->app, "%s", v);
        cfg->app_set = true;
    }

    if (args->output) {
        snprintf(cfg->output, sizeof cfg->output, "%s", args->output);
        cfg->output_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_OUTPUT")) != NULL) {
        if (!fw_run_check_output(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_OUTPUT", v, expected);
        snprintf(cfg->output, sizeof cfg->output, "%s", v);
        cfg->output_set = true;
    }

    if (args->cpu_interval) {
        cfg->cpu_interval_set = fw_run_check_cpu_interval(args->cpu_interval, &cfg->cpu_interval_ms, &expected);
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_CPU_INTERVAL")) != NULL) {
        if (!fw_run_check_cpu_interval(v, &cfg->cpu_interval_ms, &expected))
            FW_ENV_FAIL("FLAMEWATCH_CPU_INTERVAL", v, expected);
        cfg->cpu_interval_set = true;
    }

    if (args->no_cpu) {
        cfg->cpu_set = true;
        cfg->cpu = false;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_CPU")) != NULL) {
        if (!fw_run_check_bool(v, &cfg->cpu, &expected))
            FW_ENV_FAIL("FLAMEWATCH_CPU", v, expected);
        cfg->cpu_set = true;
    }

    if (args->wall) {
        cfg->wall_set = true;
        cfg->wall = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_WALL")) != NULL) {
        if (!fw_run_check_bool(v, &cfg->wall, &expected))
            FW_ENV_FAIL("FLAMEWATCH_WALL", v, expected);
        cfg->wall_set = true;
    }

    if (args->memory) {
        cfg->memory_set = true;
        cfg->memory = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_MEMORY")) != NULL) {
        if (!fw_run_check_bool(v, &cfg->memory, &expected))
            FW_ENV_FAIL("FLAMEWATCH_MEMORY", v, expected);
        cfg->memory_set = true;
    }

    if (args->memory_threshold) {
        cfg->memory_threshold_set = fw_run_check_memory_threshold(
            args->memory_threshold, &cfg->memory_threshold_kb, &expected);
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_MEMORY_THRESHOLD")) != NULL) {
        if (!fw_run_check_memory_threshold(v, &cfg->memory_threshold_kb, &expected))
            FW_ENV_FAIL("FLAMEWATCH_MEMORY_THRESHOLD", v, expected);
        cfg->memory_threshold_set = true;
    }

    if (args->disable) {
        cfg->enabled_set = true;
        cfg->enabled = false;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_ENABLED")) != NULL) {
        if (!fw_run_check_bool(v, &cfg->enabled, &expected))
            FW_ENV_FAIL("FLAMEWATCH_ENABLED", v, expected);
        cfg->enabled_set = true;
    }

    if (args->upload_interval) {
        snprintf(cfg->upload_interval, sizeof cfg->upload_interval, "%s", args->upload_interval);
        cfg->upload_interval_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_UPLOAD_INTERVAL")) != NULL) {
        if (!fw_run_check_upload_interval(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_UPLOAD_INTERVAL", v, expected);
        snprintf(cfg->upload_interval, sizeof cfg->upload_interval, "%s", v);
        cfg->upload_interval_set = true;
    }

    if (args->log) {
        cfg->log_set = fw_run_check_log(args->log, cfg->log, sizeof cfg->log, &expected);
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_LOG")) != NULL) {
        if (!fw_run_check_log(v, cfg->log, sizeof cfg->log, &expected))
            FW_ENV_FAIL("FLAMEWATCH_LOG", v, expected);
        cfg->log_set = true;
    }

    if (args->server) {
        snprintf(cfg->server, sizeof cfg->server, "%s", args->server);
        cfg->server_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_SERVER")) != NULL) {
        if (!fw_run_check_server(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_SERVER", v, expected);
        snprintf(cfg->server, sizeof cfg->server, "%s", v);
        cfg->server_set = true;
    }

    if (args->token) {
        snprintf(cfg->token, sizeof cfg->token, "%s", args->token);
        cfg->token_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_TOKEN")) != NULL) {
        if (!fw_run_check_token(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_TOKEN", "***", expected);
        snprintf(cfg->token, sizeof cfg->token, "%s", v);
        cfg->token_set = true;
    }

    if (args->ca_file) {
        snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s", args->ca_file);
        cfg->ca_file_set = true;
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_CA_FILE")) != NULL) {
        if (!fw_run_check_ca_file(v, &expected))
            FW_ENV_FAIL("FLAMEWATCH_CA_FILE", v, expected);
        snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s", v);
        cfg->ca_file_set = true;
    }

    /* Tags merge per key: the environment's tags, then the flags' (a flag wins on the same key).
     * The environment is validated even when flags are given, because its other keys still
     * reach the program. */
    if ((v = fw_env_get(envp, "FLAMEWATCH_TAGS")) != NULL) {
        if (!fw_run_check_tags(v, cfg->tags, &cfg->ntags, &expected))
            FW_ENV_FAIL("FLAMEWATCH_TAGS", v, expected);
        cfg->tags_set = true;
    }
    for (size_t i = 0; i < args->ntags; i++) {
        fw_run_tag t;
        if (!fw_run_check_tag(args->tags[i], strlen(args->tags[i]), &t, &expected)) {
            fw_run_invalid(err, errlen, "--tag", args->tags[i], expected);
            return false;
        }
        if (!fw_tag_put(cfg->tags, &cfg->ntags, &t)) {
            fw_run_invalid(err, errlen, "--tag", args->tags[i],
                           "expected at most 32 tags, FLAMEWATCH_TAGS included");
            return false;
        }
        cfg->tags_set = true;
    }
    return true;
}

/* ---- step 3: what the child gets ---- */

static int fw_export_put(fw_run_export *out, int *n, const char *name, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    out[*n].name = name;
    out[*n].value = copy;
    (*n)++;
    return 0;
}

void fw_run_exports_free(fw_run_export *out, int n)
{
    for (int i = 0; i < n; i++) {
        free(out[i].value);
        out[i].value = NULL;
    }
}

int fw_run_exports(const fw_run_config *cfg, const char *default_app, fw_run_export *out)
{
    int n = 0;
    char num[32];
    int rc = fw_export_put(out, &n, "FLAMEWATCH_RUN", "1");
    rc |= fw_export_put(out, &n, "FLAMEWATCH_APP", cfg->app_set ? cfg->app : default_app);
    if (rc == 0 && cfg->output_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_OUTPUT", cfg->output);
    if (rc == 0 && cfg->cpu_interval_set) {
        snprintf(num, sizeof num, "%d", cfg->cpu_interval_ms);
        rc |= fw_export_put(out, &n, "FLAMEWATCH_CPU_INTERVAL", num);
    }
    if (rc == 0 && cfg->cpu_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_CPU", cfg->cpu ? "1" : "0");
    if (rc == 0 && cfg->wall_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_WALL", cfg->wall ? "1" : "0");
    if (rc == 0 && cfg->memory_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_MEMORY", cfg->memory ? "1" : "0");
    if (rc == 0 && cfg->memory_threshold_set) {
        snprintf(num, sizeof num, "%d", cfg->memory_threshold_kb);
        rc |= fw_export_put(out, &n, "FLAMEWATCH_MEMORY_THRESHOLD", num);
    }
    if (rc == 0 && cfg->enabled_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_ENABLED", cfg->enabled ? "1" : "0");
    if (rc == 0 && cfg->upload_interval_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_UPLOAD_INTERVAL", cfg->upload_interval);
    if (rc == 0 && cfg->log_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_LOG", cfg->log);
    if (rc == 0 && cfg->server_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_SERVER", cfg->server);
    if (rc == 0 && cfg->token_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_TOKEN", cfg->token);
    if (rc == 0 && cfg->ca_file_set)
        rc |= fw_export_put(out, &n, "FLAMEWATCH_CA_FILE", cfg->ca_file);
    if (rc == 0 && cfg->tags_set) {
        size_t len = 1;
        for (size_t i = 0; i < cfg->ntags; i++)
            len += strlen(cfg->tags[i].key) + strlen(cfg->tags[i].value) + 2;
        char *s = malloc(len);
        if (!s) {
            rc = -1;
        } else {
            size_t o = 0;
            for (size_t i = 0; i < cfg->ntags; i++)
                o += (size_t)snprintf(s + o, len - o, "%s%s=%s", i ? "," : "", cfg->tags[i].key,
                                      cfg->tags[i].value);
            s[o] = '\0';
            out[n].name = "FLAMEWATCH_TAGS";
            out[n].value = s;
            n++;
        }
    }
    if (rc != 0) {
        fw_run_exports_free(out, n);
        return -1;
    }
    return n;
}

bool fw_run_pythonpath(const char *root, const char *old, char *out, size_t outlen)
{
    int n;
    if (old && old[0])
        n = snprintf(out, outlen, "%s/flamewatch/_bootstrap:%s:%s", root, root, old);
    else
        n = snprintf(out, outlen, "%s/flamewatch/_bootstrap:%s", root, root);
    return n >= 0 && (size_t)n < outlen;
}

static const char *fw_basename(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

bool fw_run_is_python(const char *prog)
{
    /* python, python3, python3.12, python3.13d, python3.14t, python3.12-dbg: "python", then
     * digits and dots, then an optional build suffix. A launcher may prefix the name with a
     * word and a dash (x86_64-linux-gnu-python3.14, the tests' flamewatch-python3.15). */
    const char *b = fw_basename(prog);
    for (const char *dash = strchr(b, '-'); strncmp(b, "python", 6) != 0 && dash != NULL;
         dash = strchr(dash + 1, '-')) {
        if (strncmp(dash + 1, "python", 6) == 0)
            b = dash + 1;
    }
    if (strncmp(b, "python", 6) != 0)
        return false;
    const char *p = b + 6;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    return *p == '\0' || strcmp(p, "d") == 0 || strcmp(p, "-dbg") == 0 || strcmp(p, "m") == 0 ||
           strcmp(p, "t") == 0 || strcmp(p, "td") == 0;
}

/* Walks CPython's own command-line grammar far enough to find -m MOD, -c CMD or the script.
 * `kind` receives 'm', 'c', 's' (script), '-' (stdin or none) and `what` the operand. */
static void fw_python_target(int argc, char *const *argv, char *kind, const char **what,
                             char *skip)
{
    *kind = '-';
    *what = NULL;
    if (skip)
        *skip = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) {
                *kind = 's';
                *what = argv[i + 1];
            }
            return;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (a[0] != '-') {
                *kind = 's';
                *what = a;
            }
            return;
        }
        if (a[1] == '-') {
            /* The only long option with an operand. */
            if (strcmp(a, "--check-hash-based-pycs") == 0)
                i++;
            continue;
        }
        for (const char *c = a + 1; *c; c++) {
            if (skip && !*skip && (*c == 'E' || *c == 'I' || *c == 'S'))
                *skip = *c;
            if (*c == 'm' || *c == 'c' || *c == 'W' || *c == 'X') {
                const char *operand = c[1] ? c + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (*c == 'm' || *c == 'c') {
                    *kind = *c;
                    *what = operand;
                    /* Everything after -m MOD / -c CMD belongs to the program. */
                    return;
                }
                break;
            }
        }
    }
}

bool fw_run_python_skips_bootstrap(int argc, char *const *argv, char *which)
{
    char kind;
    const char *what;
    *which = 0;
    if (argc < 1 || !fw_run_is_python(argv[0]))
        return false;
    fw_python_target(argc, argv, &kind, &what, which);
    return *which != 0;
}

void fw_run_default_app(int argc, char *const *argv, char *out, size_t outlen)
{
    const char *name = argc > 0 ? argv[0] : "python";
    char kind = 's';
    if (argc > 0 && fw_run_is_python(argv[0])) {
        const char *what;
        fw_python_target(argc, argv, &kind, &what, NULL);
        if ((kind == 's' || kind == 'm') && what && what[0])
            name = what;
        else
            name = "python";  /* -c, stdin or the REPL: no better name */
    }
    /* For a path, its last component; a trailing '/' (a package directory run as a script)
     * is dropped first so that the directory's name is used. */
    size_t len = strlen(name);
    if (kind != 'm') {
        while (len > 1 && name[len - 1] == '/')
            len--;
        const char *start = name;
        for (size_t i = 0; i < len; i++)
            if (name[i] == '/' && i + 1 < len)
                start = name + i + 1;
        len -= (size_t)(start - name);
        name = start;
        if (len > 3 && strncmp(name + len - 3, ".py", 3) == 0)
            len -= 3;
    }
    /* Copy whole UTF-8 characters, at most FW_APP_NAME_MAX bytes, replacing what the rule
     * (common/fw_appname.h) forbids, so that the default is always a valid name. */
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        size_t clen = 1;
        if (s[i] >= 0xf0) clen = 4;
        else if (s[i] >= 0xe0) clen = 3;
        else if (s[i] >= 0xc0) clen = 2;
        if (i + clen > len || fw_run_utf8_chars(name + i, clen) != 1) {
            clen = 1;
            if (o + 1 >= outlen || o + 1 > FW_APP_NAME_MAX) break;
            out[o++] = '_';  /* not UTF-8: keep the name valid */
        } else {
            if (o + clen >= outlen || o + clen > FW_APP_NAME_MAX) break;
            if (clen == 1 && (strchr("{},=/", s[i]) != NULL || s[i] < 0x20 || s[i] == 0x7f))
                out[o++] = '_';
            else {
                memcpy(out + o, name + i, clen);
                o += clen;
            }
        }
        i += clen;
    }
    out[o] = '\0';
    if (o > 0 && out[0] == ' ')
        out[0] = '_';
    if (o > 0 && out[o - 1] == ' ')
        out[o - 1] = '_';
    if (o == 0 || (len == 1 && name[0] == '/') || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, outlen, "python");
}
