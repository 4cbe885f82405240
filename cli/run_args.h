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

#include "run_check.h"

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

/* Step 1. argv[0] is "run". */
fw_run_parse_status fw_run_parse_args(int argc, char **argv, fw_run_args *args,
                                      char *err, size_t errlen);

/* Step 2. `envp` is a NULL-terminated "NAME=VALUE" array (environ); may be NULL. Returns false
 * with a one-line message in err when a used FLAMEWATCH_* value is invalid. */
bool fw_run_resolve(const fw_run_args *args, char *const *envp, fw_run_config *cfg,
                    char *err, size_t errlen);

#endif
