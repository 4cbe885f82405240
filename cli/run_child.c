/*
 * run_child: step 3 of `flamewatch run` (see run_args.h): what the program gets. The
 * FLAMEWATCH_* variables in canonical form, a PYTHONPATH that puts the bootstrap first, and an
 * application name derived from PROGRAM when none was given. Pure functions, like step 1 and 2,
 * so that the tests can call them without exec'ing anything.
 */
#include "run_child.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
