/*
 * run_args: the decisions of `flamewatch run`, kept free of side effects.
 *
 * Why a separate file: `flamewatch run` ends in execvp(), which a unit test cannot survive.
 * Everything that can go wrong before that point (a bad flag, a bad FLAMEWATCH_* value, the
 * application name, the PYTHONPATH) is decided from plain inputs (argv, an environment array)
 * into plain outputs, and cmd_run.c only applies the result. This file reads the command line
 * (step 1) and merges it with the environment (step 2); the values are checked by
 * run_check.c, and what the child gets (step 3) is run_child.c's.
 *
 * A value that comes from the environment but is overridden by a flag is not checked: it
 * never reaches the program (the flag's value replaces it in the child's environment).
 */
#include "run_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Finds the option argv[*i] names and its value (the rest of "--flag=value", or the next
 * argument), moving *i past both. NULL with a message in err when it is not a valid use. */
static const fw_opt *fw_opt_read(int argc, char **argv, int *i, const char **value, char *err,
                                 size_t errlen)
{
    const char *a = argv[*i];
    const fw_opt *opt = NULL;
    *value = NULL;
    for (size_t k = 0; k < sizeof fw_opts / sizeof fw_opts[0]; k++) {
        size_t n = strlen(fw_opts[k].name);
        if (strncmp(a, fw_opts[k].name, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
            opt = &fw_opts[k];
            if (a[n] == '=')
                *value = a + n + 1;
            break;
        }
    }
    if (!opt) {
        snprintf(err, errlen, "flamewatch: unknown option for run: '%s' (see 'flamewatch run --help')", a);
        return NULL;
    }
    if (opt->metavar == NULL && *value != NULL) {
        snprintf(err, errlen, "flamewatch: option %s takes no value (got '%s')", opt->name, a);
        return NULL;
    }
    if (opt->metavar != NULL && *value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "flamewatch: option %s needs a value (%s %s)", opt->name,
                     opt->name, opt->metavar);
            return NULL;
        }
        *value = argv[++*i];
    }
    ++*i;
    return opt;
}

/* --tag K=V: counts distinct keys only, since repeating a key replaces its value. */
static bool fw_opt_tag(fw_run_args *args, const char *val, const char **expected)
{
    if (!fw_run_check_tag(val, strlen(val), NULL, expected))
        return false;
    const char *eq = strchr(val, '=');
    size_t klen = eq ? (size_t)(eq - val) : strlen(val);
    size_t k = 0;
    for (; k < args->ntags; k++)
        if (strncmp(args->tags[k], val, klen + 1) == 0)
            break;
    if (k < args->ntags) {
        args->tags[k] = val;
    } else if (args->ntags >= FW_RUN_MAX_TAGS) {
        *expected = fw_run_too_many_tags;
        return false;
    } else {
        args->tags[args->ntags++] = val;
    }
    return true;
}

/* Checks one flag's value and records it. False with *expected set when the value is bad;
 * *shown is what the message may echo of it (never a secret). */
static bool fw_opt_apply(fw_run_args *args, const fw_opt *opt, const char *val,
                         const char **shown, const char **expected)
{
    int ms;
    char lvl[16];
    bool ok = true;
    *shown = val;
    switch (opt->id) {
    case FW_OPT_HELP:
        break;   /* handled by the caller */
    case FW_OPT_APP:
        ok = fw_run_check_app(val, expected);
        args->app = val;
        break;
    case FW_OPT_OUTPUT:
        ok = fw_run_check_output(val, expected);
        args->output = val;
        break;
    case FW_OPT_CPU_INTERVAL:
        ok = fw_run_check_cpu_interval(val, &ms, expected);
        args->cpu_interval = val;
        break;
    case FW_OPT_UPLOAD:
        ok = fw_run_check_upload_interval(val, expected);
        args->upload_interval = val;
        break;
    case FW_OPT_LOG:
        ok = fw_run_check_log(val, lvl, sizeof lvl, expected);
        args->log = val;
        break;
    case FW_OPT_TAG:
        ok = fw_opt_tag(args, val, expected);
        break;
    case FW_OPT_SERVER:
        ok = fw_run_check_server(val, expected);
        args->server = val;
        break;
    case FW_OPT_TOKEN:
        ok = fw_run_check_token(val, expected);
        args->token = val;
        if (!ok)
            *shown = "***";   /* never echo a secret */
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
        ok = fw_run_check_memory_threshold(val, &ms, expected);
        args->memory_threshold = val;
        break;
    case FW_OPT_DISABLE:
        args->disable = true;
        break;
    case FW_OPT_CA_FILE:
        ok = fw_run_check_ca_file(val, expected);
        args->ca_file = val;
        break;
    }
    return ok;
}

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
        const char *value;
        const fw_opt *opt = fw_opt_read(argc, argv, &i, &value, err, errlen);
        if (!opt)
            return FW_RUN_PARSE_ERROR;
        if (opt->id == FW_OPT_HELP)
            return FW_RUN_PARSE_HELP;
        /* Flags without a value never read `val`; the ones with one always have it here. */
        const char *val = value ? value : "";
        const char *expected = NULL, *shown;
        if (!fw_opt_apply(args, opt, val, &shown, &expected)) {
            fw_run_invalid(err, errlen, opt->name, shown, expected);
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

typedef bool (*fw_check_text)(const char *v, const char **expected);
typedef bool (*fw_check_int)(const char *v, int *out, const char **expected);

/* A text setting: the flag as given (step 1 checked it), else the variable, checked here.
 * A `secret` value never appears in the message. */
static bool fw_resolve_text(const char *flag, char *const *envp, const char *var,
                            fw_check_text check, bool secret, char *out, size_t cap, bool *set,
                            char *err, size_t errlen)
{
    const char *expected = NULL;
    const char *v = flag;
    if (!v) {
        if ((v = fw_env_get(envp, var)) == NULL)
            return true;
        if (!check(v, &expected)) {
            fw_run_invalid(err, errlen, var, secret ? "***" : v, expected);
            return false;
        }
    }
    snprintf(out, cap, "%s", v);
    *set = true;
    return true;
}

/* An integer setting: the flag (converted again), else the variable, checked here. */
static bool fw_resolve_int(const char *flag, char *const *envp, const char *var,
                           fw_check_int check, int *out, bool *set, char *err, size_t errlen)
{
    const char *expected = NULL;
    const char *v;
    if (flag) {
        *set = check(flag, out, &expected);
    } else if ((v = fw_env_get(envp, var)) != NULL) {
        if (!check(v, out, &expected)) {
            fw_run_invalid(err, errlen, var, v, expected);
            return false;
        }
        *set = true;
    }
    return true;
}

/* A boolean setting: a flag that was given sets `flag_value`, else the variable decides. */
static bool fw_resolve_bool(bool flag, bool flag_value, char *const *envp, const char *var,
                            bool *out, bool *set, char *err, size_t errlen)
{
    const char *expected = NULL;
    const char *v;
    if (flag) {
        *set = true;
        *out = flag_value;
    } else if ((v = fw_env_get(envp, var)) != NULL) {
        if (!fw_run_check_bool(v, out, &expected)) {
            fw_run_invalid(err, errlen, var, v, expected);
            return false;
        }
        *set = true;
    }
    return true;
}

/* Where the profiles go: the application's name and the output directory. */
static bool fw_resolve_where(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                             char *err, size_t errlen)
{
    return fw_resolve_text(args->app, envp, "FLAMEWATCH_APP", fw_run_check_app, false, cfg->app,
                           sizeof cfg->app, &cfg->app_set, err, errlen) &&
           fw_resolve_text(args->output, envp, "FLAMEWATCH_OUTPUT", fw_run_check_output, false,
                           cfg->output, sizeof cfg->output, &cfg->output_set, err, errlen);
}

/* What is sampled, and how often. */
static bool fw_resolve_sampling(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                                char *err, size_t errlen)
{
    return fw_resolve_int(args->cpu_interval, envp, "FLAMEWATCH_CPU_INTERVAL",
                          fw_run_check_cpu_interval, &cfg->cpu_interval_ms,
                          &cfg->cpu_interval_set, err, errlen) &&
           fw_resolve_bool(args->no_cpu, false, envp, "FLAMEWATCH_CPU", &cfg->cpu, &cfg->cpu_set,
                           err, errlen) &&
           fw_resolve_bool(args->wall, true, envp, "FLAMEWATCH_WALL", &cfg->wall, &cfg->wall_set,
                           err, errlen) &&
           fw_resolve_bool(args->memory, true, envp, "FLAMEWATCH_MEMORY", &cfg->memory,
                           &cfg->memory_set, err, errlen) &&
           fw_resolve_int(args->memory_threshold, envp, "FLAMEWATCH_MEMORY_THRESHOLD",
                          fw_run_check_memory_threshold, &cfg->memory_threshold_kb,
                          &cfg->memory_threshold_set, err, errlen) &&
           fw_resolve_bool(args->disable, false, envp, "FLAMEWATCH_ENABLED", &cfg->enabled,
                           &cfg->enabled_set, err, errlen);
}

/* How the profiles leave: the upload interval, the log level, the server and its credentials. */
static bool fw_resolve_delivery(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                                char *err, size_t errlen)
{
    const char *expected = NULL;
    const char *v;
    if (!fw_resolve_text(args->upload_interval, envp, "FLAMEWATCH_UPLOAD_INTERVAL",
                         fw_run_check_upload_interval, false, cfg->upload_interval,
                         sizeof cfg->upload_interval, &cfg->upload_interval_set, err, errlen))
        return false;
    if (args->log) {
        cfg->log_set = fw_run_check_log(args->log, cfg->log, sizeof cfg->log, &expected);
    } else if ((v = fw_env_get(envp, "FLAMEWATCH_LOG")) != NULL) {
        if (!fw_run_check_log(v, cfg->log, sizeof cfg->log, &expected)) {
            fw_run_invalid(err, errlen, "FLAMEWATCH_LOG", v, expected);
            return false;
        }
        cfg->log_set = true;
    }
    return fw_resolve_text(args->server, envp, "FLAMEWATCH_SERVER", fw_run_check_server, false,
                           cfg->server, sizeof cfg->server, &cfg->server_set, err, errlen) &&
           fw_resolve_text(args->token, envp, "FLAMEWATCH_TOKEN", fw_run_check_token, true,
                           cfg->token, sizeof cfg->token, &cfg->token_set, err, errlen) &&
           fw_resolve_text(args->ca_file, envp, "FLAMEWATCH_CA_FILE", fw_run_check_ca_file, false,
                           cfg->ca_file, sizeof cfg->ca_file, &cfg->ca_file_set, err, errlen);
}

/* Tags merge per key: the environment's tags, then the flags' (a flag wins on the same key).
 * The environment is validated even when flags are given, because its other keys still
 * reach the program. */
static bool fw_resolve_tags(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                            char *err, size_t errlen)
{
    const char *expected = NULL;
    const char *v;
    if ((v = fw_env_get(envp, "FLAMEWATCH_TAGS")) != NULL) {
        if (!fw_run_check_tags(v, cfg->tags, &cfg->ntags, &expected)) {
            fw_run_invalid(err, errlen, "FLAMEWATCH_TAGS", v, expected);
            return false;
        }
        cfg->tags_set = true;
    }
    for (size_t i = 0; i < args->ntags; i++) {
        fw_run_tag t;
        if (!fw_run_check_tag(args->tags[i], strlen(args->tags[i]), &t, &expected)) {
            fw_run_invalid(err, errlen, "--tag", args->tags[i], expected);
            return false;
        }
        if (!fw_run_tag_put(cfg->tags, &cfg->ntags, &t)) {
            fw_run_invalid(err, errlen, "--tag", args->tags[i],
                           "expected at most 32 tags, FLAMEWATCH_TAGS included");
            return false;
        }
        cfg->tags_set = true;
    }
    return true;
}

/* The order of the steps is the order in which a bad variable is reported. */
bool fw_run_resolve(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                    char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    return fw_resolve_where(args, envp, cfg, err, errlen) &&
           fw_resolve_sampling(args, envp, cfg, err, errlen) &&
           fw_resolve_delivery(args, envp, cfg, err, errlen) &&
           fw_resolve_tags(args, envp, cfg, err, errlen);
}
