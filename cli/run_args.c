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
                    expected = fw_run_too_many_tags;
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
        if (!fw_run_tag_put(cfg->tags, &cfg->ntags, &t)) {
            fw_run_invalid(err, errlen, "--tag", args->tags[i],
                           "expected at most 32 tags, FLAMEWATCH_TAGS included");
            return false;
        }
        cfg->tags_set = true;
    }
    return true;
}
