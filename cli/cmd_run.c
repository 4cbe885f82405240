/*
 * `flamewatch run`: start a Python program with the profiling agent inside it.
 *
 * The command does not start the agent itself; it arranges for the program's own
 * interpreter to do it, then becomes the program (execvp, so the pid, signals, exit status
 * and terminal belong to the program as if flamewatch were not there):
 *   - every setting is exported as its FLAMEWATCH_* variable, in canonical form, with flags
 *     replacing the environment's values (docs/CONFIGURATION.md: flag > environment);
 *   - FLAMEWATCH_RUN=1 tells the bootstrap sitecustomize that it was installed on purpose;
 *   - PYTHONPATH gets "<root>/flamewatch/_bootstrap" (where that sitecustomize lives) and
 *     "<root>" (the flamewatch package) in front, <root> being "python/" next to this binary
 *     (found through /proc/self/exe, so it works from any current directory and through
 *     symlinks) or FLAMEWATCH_PYTHONPATH.
 * Because the settings travel in the environment, every Python process the program starts
 * (multiprocessing spawn/forkserver children, subprocesses) gets the agent with the same
 * settings. For the same reason the output directory is exported as an absolute path: a child
 * that runs in another directory must still write next to its parent.
 *
 * Everything is validated before anything happens (parsing and validation live in
 * run_args.c, run_check.c and run_child.c, which the unit tests drive): a bad flag or variable
 * exits with status 2 and the
 * program never runs. After that, a program that cannot be started fails as in a shell
 * (127 not found, 126 not executable), so scripts that wrap flamewatch behave the same.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "run_child.h"

extern char **environ;

static void fw_run_usage(FILE *out)
{
    fprintf(out,
            "usage: flamewatch run [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "\n"
            "Runs PROGRAM (python app.py, python -m module, or a console script such as gunicorn)\n"
            "with the flamewatch agent loaded. Every flag has a FLAMEWATCH_* variable; a flag wins.\n"
            "\n"
            "options:\n"
            "  --app NAME             application name (FLAMEWATCH_APP; default: the script, module\n"
            "                         or console script name)\n"
            "  --output DIR           directory for the pprof files (FLAMEWATCH_OUTPUT;\n"
            "                         default ./flamewatch-profiles, created if missing)\n"
            "  --cpu-interval MS      CPU sampling interval, 1-1000 ms (FLAMEWATCH_CPU_INTERVAL; 10)\n"
            "  --no-cpu               no CPU profile (FLAMEWATCH_CPU=0)\n"
            "  --wall                 wall-clock profile too, idle threads included (FLAMEWATCH_WALL=1)\n"
            "  --memory               memory profiles too: allocations and live memory\n"
            "                         (FLAMEWATCH_MEMORY=1)\n"
            "  --memory-threshold KB  mean KB allocated between two memory samples, 1-1048576\n"
            "                         (FLAMEWATCH_MEMORY_THRESHOLD; 1024)\n"
            "  --tag K=V              a label on every sample, repeatable (FLAMEWATCH_TAGS=k=v,k2=v2)\n"
            "  --upload-interval S    seconds between profiles, 0.1-3600 (FLAMEWATCH_UPLOAD_INTERVAL; 15)\n"
            "  --server URL           upload every profile to this flamewatch (or Pyroscope) server and\n"
            "                         apply its settings live (FLAMEWATCH_SERVER); without --output,\n"
            "                         no files are written\n"
            "  --token TOKEN          bearer token for the server (FLAMEWATCH_TOKEN)\n"
            "  --ca-file PATH         PEM file of the certificate authorities trusted for an https\n"
            "                         server, instead of the system's bundle (FLAMEWATCH_CA_FILE)\n"
            "  --disable              load the agent switched off (FLAMEWATCH_ENABLED=0)\n"
            "  --log LEVEL            debug, info, warning or quiet (FLAMEWATCH_LOG; warning)\n"
            "  -h, --help             this help\n"
            "\n"
            "Booleans in the environment: 1/0, true/false, yes/no, on/off.\n"
            "Invalid values exit with status 2 before PROGRAM starts; a PROGRAM that cannot be found\n"
            "exits 127, one that cannot be executed 126, as in a shell.\n");
}

/* mkdir -p: creates each missing component; an existing non-directory is an error. */
static int fw_mkdirs(const char *path)
{
    char buf[FW_RUN_PATH_BYTES];
    size_t len = strlen(path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Makes `path` absolute against the current directory, without resolving symlinks (the
 * user's path may point through a link on purpose). */
static int fw_absolute(const char *path, char *out, size_t outlen)
{
    if (path[0] == '/') {
        int n = snprintf(out, outlen, "%s", path);
        return n >= 0 && (size_t)n < outlen ? 0 : -1;
    }
    char cwd[FW_RUN_PATH_BYTES];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    const char *rel = path;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    int n = strcmp(rel, ".") == 0 || rel[0] == '\0'
                ? snprintf(out, outlen, "%s", cwd)
                : snprintf(out, outlen, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", rel);
    return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

/* The directory that holds the flamewatch Python package. */
static int fw_package_root(char *out, size_t outlen)
{
    const char *over = getenv("FLAMEWATCH_PYTHONPATH");
    if (over && over[0]) {
        char *real = realpath(over, NULL);
        int n = snprintf(out, outlen, "%s", real ? real : over);
        free(real);
        return n >= 0 && (size_t)n < outlen ? 0 : -1;
    }
    char exe[FW_RUN_PATH_BYTES];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int m = snprintf(out, outlen, "%s/python", exe);
    return m >= 0 && (size_t)m < outlen ? 0 : -1;
}

/* Reports an exec failure in a shell's words and returns a shell's status. */
static int fw_exec_failed(const char *prog, int err)
{
    bool has_slash = strchr(prog, '/') != NULL;
    if (err == ENOENT || err == ENOTDIR) {
        fprintf(stderr, "flamewatch: %s: %s\n", prog,
                has_slash ? "No such file or directory" : "command not found");
        return 127;
    }
    struct stat st;
    if (err == EACCES && has_slash && stat(prog, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "flamewatch: %s: Is a directory\n", prog);
        return 126;
    }
    fprintf(stderr, "flamewatch: %s: %s\n", prog, strerror(err));
    return 126;
}

/* Step 1: the command line and the environment. 0, or the exit status (the message printed). */
static int fw_run_load(int argc, char **argv, fw_run_args *args, fw_run_config **out)
{
    char err[FW_RUN_ERR_BYTES];
    *out = NULL;
    switch (fw_run_parse_args(argc, argv, args, err, sizeof err)) {
    case FW_RUN_PARSE_HELP:
        fw_run_usage(stdout);
        return -1;
    case FW_RUN_PARSE_ERROR:
        fprintf(stderr, "%s\n", err);
        return 2;
    case FW_RUN_PARSE_OK:
        break;
    }
    /* Tens of kilobytes of fixed-size tag buffers: keep them off the stack. */
    fw_run_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "flamewatch: out of memory\n");
        return 1;
    }
    if (!fw_run_resolve(args, environ, cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        free(cfg);
        return 2;
    }
    *out = cfg;
    return 0;
}

/* Step 2: the output directory, absolute (children may run elsewhere) and created now, so that
 * a directory that cannot exist is a usage error before the program starts, not a warning from
 * the agent later. A disabled agent writes nothing, so nothing is created then, and with a
 * server but no output directory given, profiles are only uploaded. 0 or 2. */
static int fw_run_prepare_output(const fw_run_args *args, fw_run_config *cfg)
{
    char err[FW_RUN_ERR_BYTES];
    bool want_files = cfg->output_set || !cfg->server_set;
    const char *where = args->output ? "--output" : "FLAMEWATCH_OUTPUT";
    const char *given = cfg->output_set ? cfg->output : "flamewatch-profiles";
    char abs_out[FW_RUN_PATH_BYTES];
    if (fw_absolute(given, abs_out, sizeof abs_out) != 0) {
        fw_run_invalid(err, sizeof err, where, given, "expected a directory; the path is too long");
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (want_files && !(cfg->enabled_set && !cfg->enabled) && fw_mkdirs(abs_out) != 0) {
        char expected[FW_RUN_PATH_BYTES + 64];
        snprintf(expected, sizeof expected, "expected a directory that exists or can be created: %s",
                 strerror(errno));
        if (!cfg->output_set)
            fprintf(stderr, "flamewatch: cannot create the default output directory '%s': %s "
                            "(choose one with --output)\n", abs_out, strerror(errno));
        else {
            fw_run_invalid(err, sizeof err, where, given, expected);
            fprintf(stderr, "%s\n", err);
        }
        return 2;
    }
    snprintf(cfg->output, sizeof cfg->output, "%s", abs_out);
    cfg->output_set = want_files;
    return 0;
}

/* Step 3: the CA file, like the output directory, must mean the same file in children that run
 * in another directory. 0 or 2. */
static int fw_run_prepare_ca_file(const fw_run_args *args, fw_run_config *cfg)
{
    char err[FW_RUN_ERR_BYTES];
    if (!cfg->ca_file_set)
        return 0;
    char abs_ca[FW_RUN_PATH_BYTES];
    if (fw_absolute(cfg->ca_file, abs_ca, sizeof abs_ca) != 0) {
        fw_run_invalid(err, sizeof err, args->ca_file ? "--ca-file" : "FLAMEWATCH_CA_FILE",
                       cfg->ca_file, "expected a file; the path is too long");
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s", abs_ca);
    return 0;
}

/* Step 4: the bootstrap must exist, or the program would run silently unprofiled. 0 or 1. */
static int fw_run_find_bootstrap(char *root, size_t rootlen)
{
    char probe[FW_RUN_PATH_BYTES + 64];
    if (fw_package_root(root, rootlen) != 0) {
        fprintf(stderr, "flamewatch: cannot locate the flamewatch Python package "
                        "(set FLAMEWATCH_PYTHONPATH to the directory that holds it)\n");
        return 1;
    }
    snprintf(probe, sizeof probe, "%s/flamewatch/_bootstrap/sitecustomize.py", root);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "flamewatch: the agent's Python package is missing: %s: %s "
                        "(run 'make agent', or set FLAMEWATCH_PYTHONPATH to the directory that "
                        "holds the flamewatch package)\n", probe, strerror(errno));
        return 1;
    }
    return 0;
}

/* Step 5: the child's environment (PYTHONPATH and the FLAMEWATCH_* variables). 0 or 1. */
static int fw_run_set_environment(const fw_run_config *cfg, const char *root, int prog_argc,
                                  char **prog_argv)
{
    char app[FW_RUN_APP_BYTES];
    fw_run_default_app(prog_argc, prog_argv, app, sizeof app);
    fw_run_export ex[FW_RUN_MAX_EXPORTS];
    int nex = fw_run_exports(cfg, app, ex);
    const char *old_pp = getenv("PYTHONPATH");
    size_t pp_len = 2 * strlen(root) + (old_pp ? strlen(old_pp) : 0) + 64;
    char *pythonpath = malloc(pp_len);
    if (nex < 0 || !pythonpath || !fw_run_pythonpath(root, old_pp, pythonpath, pp_len)) {
        fprintf(stderr, "flamewatch: out of memory\n");
        if (nex >= 0)
            fw_run_exports_free(ex, nex);
        free(pythonpath);
        return 1;
    }
    int failed = setenv("PYTHONPATH", pythonpath, 1);
    for (int i = 0; i < nex; i++)
        failed |= setenv(ex[i].name, ex[i].value, 1);
    fw_run_exports_free(ex, nex);
    free(pythonpath);
    if (failed) {
        fprintf(stderr, "flamewatch: cannot set the environment: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

int fw_cmd_run(int argc, char **argv)
{
    fw_run_args args;
    fw_run_config *cfg;
    int rc = fw_run_load(argc, argv, &args, &cfg);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    char root[FW_RUN_PATH_BYTES];
    char **prog_argv = argv + args.prog_index;
    int prog_argc = argc - args.prog_index;
    rc = fw_run_prepare_output(&args, cfg);
    if (rc == 0)
        rc = fw_run_prepare_ca_file(&args, cfg);
    if (rc == 0)
        rc = fw_run_find_bootstrap(root, sizeof root);
    if (rc == 0)
        rc = fw_run_set_environment(cfg, root, prog_argc, prog_argv);
    bool quiet = cfg->log_set && strcmp(cfg->log, "quiet") == 0;
    free(cfg);
    if (rc != 0)
        return rc;

    char skip;
    if (!quiet && fw_run_python_skips_bootstrap(prog_argc, prog_argv, &skip))
        fprintf(stderr, "flamewatch: warning: python -%c %s, so the agent will not start\n", skip,
                skip == 'S' ? "skips sitecustomize" : "ignores PYTHONPATH");

    fflush(NULL);
    execvp(prog_argv[0], prog_argv);
    return fw_exec_failed(prog_argv[0], errno);
}
