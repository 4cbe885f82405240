/*
 * run_args: everything `flamewatch run` decides before it execs the program, as pure
 * functions that unit tests can call without exec'ing anything.
 *
 * The work is split in three steps so that each error names where the bad value came from:
 *   1. fw_run_parse_args() reads the command line: flags (validated on the spot, so the
 *      message names the flag) and the position of PROGRAM.
 *   2. fw_run_resolve() merges the flags with the FLAMEWATCH_* variables of an environment
 *      array (flags win), validates the environment values that are actually used (the
 *      message names the variable), and produces canonical values.
 *   3. fw_run_exports() lists the variables to set in the child, fw_run_pythonpath() builds
 *      its PYTHONPATH and fw_run_default_app() derives the application name from PROGRAM.
 * Validation follows docs/CONFIGURATION.md; each fw_run_check_*() is exposed for the tests.
 */
#ifndef FW_RUN_ARGS_H
#define FW_RUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "fw_appname.h"
#include "fw_profile.h"

/* The agent keeps at most 32 user tags (FW_TAGS_MAX in agent/fw_agent.h); refusing more here
 * gives the user a usage error instead of an agent that fails to start. Together with the six
 * built-in labels this stays under FW_PROFILE_MAX_LABELS labels per sample. */
#define FW_RUN_MAX_TAGS       32
#if FW_RUN_MAX_TAGS + 6 > FW_PROFILE_MAX_LABELS
#error "user tags and built-in labels must fit in one sample"
#endif
#define FW_RUN_MAX_KEY_CHARS  64
#define FW_RUN_MAX_VALUE_CHARS 256
/* Byte sizes: UTF-8 uses at most 4 bytes per character. */
/* The application name is counted in bytes (common/fw_appname.h, one rule everywhere). */
#define FW_RUN_APP_BYTES   (FW_APP_NAME_MAX + 1)
#define FW_RUN_KEY_BYTES   (FW_RUN_MAX_KEY_CHARS + 1)
#define FW_RUN_VALUE_BYTES (FW_RUN_MAX_VALUE_CHARS * 4 + 1)
#define FW_RUN_PATH_BYTES  4096
#define FW_RUN_ERR_BYTES   1024

typedef enum {
    FW_RUN_PARSE_OK = 0,     /* run the program at args->prog_index */
    FW_RUN_PARSE_HELP = 1,   /* --help: print the usage, exit 0 */
    FW_RUN_PARSE_ERROR = 2,  /* usage error, message in err: exit 2 */
} fw_run_parse_status;

/* The raw command line: pointers into argv, NULL when a flag was not given. */
typedef struct {
    const char *app;
    const char *output;
    const char *cpu_interval;
    const char *upload_interval;
    const char *log;
    const char *server;
    const char *token;
    const char *ca_file;
    bool no_cpu;
    bool wall;
    bool memory;
    const char *memory_threshold;
    bool disable;
    const char *tags[FW_RUN_MAX_TAGS];  /* "K=V" as given, validated */
    size_t ntags;
    int prog_index;                       /* argv index of PROGRAM */
} fw_run_args;

typedef struct {
    char key[FW_RUN_KEY_BYTES];
    char value[FW_RUN_VALUE_BYTES];
} fw_run_tag;

/* One setting after merging flags and environment. `set` is false when neither gave a
 * value, in which case the child keeps the agent's default (the variable stays unset). */
typedef struct {
    bool app_set;
    char app[FW_RUN_APP_BYTES];
    bool output_set;
    char output[FW_RUN_PATH_BYTES];       /* as given; made absolute by cmd_run */
    bool cpu_interval_set;
    int cpu_interval_ms;
    bool cpu_set;
    bool cpu;
    bool wall_set;
    bool wall;
    bool memory_set;
    bool memory;
    bool memory_threshold_set;
    int memory_threshold_kb;
    bool enabled_set;
    bool enabled;
    bool upload_interval_set;
    char upload_interval[32];
    bool log_set;
    char log[16];
    bool tags_set;
    fw_run_tag tags[FW_RUN_MAX_TAGS];
    size_t ntags;
    bool server_set;
    char server[1024];
    bool token_set;
    char token[512];
    bool ca_file_set;
    char ca_file[FW_RUN_PATH_BYTES];      /* as given; made absolute by cmd_run */
} fw_run_config;

typedef struct {
    const char *name;
    char *value;   /* malloc'd; fw_run_exports_free() */
} fw_run_export;

#define FW_RUN_MAX_EXPORTS 15

/* Step 1. argv[0] is "run". */
fw_run_parse_status fw_run_parse_args(int argc, char **argv, fw_run_args *args,
                                      char *err, size_t errlen);

/* Step 2. `envp` is a NULL-terminated "NAME=VALUE" array (environ); may be NULL. Returns false
 * with a one-line message in err when a used FLAMEWATCH_* value is invalid. */
bool fw_run_resolve(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                    char *err, size_t errlen);

/* Step 3. Fills up to FW_RUN_MAX_EXPORTS variables to set (FLAMEWATCH_RUN=1 first) in canonical
 * form and returns how many, or -1 when out of memory. `default_app` is the application name
 * to export when cfg has none. */
int fw_run_exports(const fw_run_config *cfg, const char *default_app, fw_run_export *out);
void fw_run_exports_free(fw_run_export *out, int n);

/* PYTHONPATH for the child: "<root>/flamewatch/_bootstrap:<root>" followed by `old` when it
 * is non-empty (never a trailing ':', which Python would read as the current directory). */
bool fw_run_pythonpath(const char *root, const char *old, char *out, size_t outlen);

/* The default application name for `argv` (PROGRAM and its arguments): the script's name
 * without .py for `python script.py`, the module for `python -m mod`, else PROGRAM's base
 * name without .py (console scripts such as gunicorn). Characters the contract forbids are
 * replaced by '_' and the result is cut to 128 characters, so the result is always valid. */
void fw_run_default_app(int argc, char *const *argv, char *out, size_t outlen);

/* True when PROGRAM is a CPython interpreter (python, python3, python3.12, ...). */
bool fw_run_is_python(const char *prog);

/* True when the interpreter options in argv would keep the bootstrap from loading
 * (-E, -I or -S); `which` receives the option letter. */
bool fw_run_python_skips_bootstrap(int argc, char *const *argv, char *which);

/* The validators. Each returns false and sets *expected to the "(expected ...)" text. */
bool fw_run_check_app(const char *v, const char **expected);
bool fw_run_check_output(const char *v, const char **expected);
bool fw_run_check_cpu_interval(const char *v, int *out, const char **expected);
bool fw_run_check_bool(const char *v, bool *out, const char **expected);
/* KB between allocation samples: an integer from 1 to 1048576. */
bool fw_run_check_memory_threshold(const char *v, int *out, const char **expected);
bool fw_run_check_upload_interval(const char *v, const char **expected);
bool fw_run_check_log(const char *v, char *out, size_t outlen, const char **expected);
/* An http:// or https:// URL with a host, at most 1000 bytes, no spaces. */
bool fw_run_check_server(const char *v, const char **expected);
/* 1-511 printable ASCII characters. */
bool fw_run_check_token(const char *v, const char **expected);
/* A regular file that this process can open for reading (the PEM certificate authorities for
 * https), its path shorter than 3840 bytes. Reads the file system, nothing else. */
bool fw_run_check_ca_file(const char *v, const char **expected);
/* One "K=V" tag. */
bool fw_run_check_tag(const char *v, size_t len, fw_run_tag *out, const char **expected);
/* "k=v,k2=v2" (empty: no tags). */
bool fw_run_check_tags(const char *v, fw_run_tag *out, size_t *ntags, const char **expected);

/* Number of UTF-8 characters in s[0..len), or -1 when it is not valid UTF-8. */
long fw_run_utf8_chars(const char *s, size_t len);

/* Formats the contract's message: "flamewatch: invalid value for WHERE: 'VALUE' (EXPECTED)",
 * with control characters in VALUE escaped so that the message stays on one line. */
void fw_run_invalid(char *err, size_t errlen, const char *where, const char *value,
                    const char *expected);

#endif
