/*
 * run_child: step 3 of `flamewatch run` (run_args.h has steps 1 and 2): the child's
 * environment and the default application name.
 */
#ifndef FW_RUN_CHILD_H
#define FW_RUN_CHILD_H

#include <stdbool.h>
#include <stddef.h>

#include "run_args.h"

typedef struct {
    const char *name;
    char *value;   /* malloc'd; fw_run_exports_free() */
} fw_run_export;

#define FW_RUN_MAX_EXPORTS 15

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

#endif
