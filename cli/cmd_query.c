/*
 * `flamewatch query`, `flamewatch diff` and `flamewatch sql`: thin clients of the server's API.
 *
 * Design: the server renders every output format (folded text, pprof, aligned tables, TSV),
 * so these commands only build a URL from flags, make one request and copy the body out. That
 * keeps one implementation of each format (the console and curl users get the same bytes)
 * and keeps the CLI free of a JSON parser. Exit statuses: 2 for bad flags, 1 when the server
 * cannot be reached or answers with an error (its JSON message is printed), 0 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "http_client.h"

#define FW_Q_MAX_LABELS 32

typedef struct {
    const char *cmd;
    const char *server, *token, *app, *type, *from, *to, *format, *gran, *max_nodes, *output;
    const char *sort, *limit;
    const char *base_from, *base_to;
    const char *labels[FW_Q_MAX_LABELS];
    size_t nlabels;
    const char *base_labels[FW_Q_MAX_LABELS];
    size_t nbase_labels;
    const char *sql;
    int raw;   /* --raw: tables in plain integers, as before human units */
} fw_qopts;

static void fw_query_usage(FILE *out, const char *cmd)
{
    if (strcmp(cmd, "sql") == 0) {
        fprintf(out, "usage: flamewatch sql [--server URL] [--token T] [--format json|tsv] \"SELECT ...\"\n");
        return;
    }
    fprintf(out,
            "usage: flamewatch %s --app NAME [--type TYPE] [--from T] [--to T] [--label K=V]...\n"
            "       [--server URL] [--token T] [--granularity function|line] [--max-nodes N]\n", cmd);
    if (strcmp(cmd, "diff") == 0)
        fprintf(out, "       [--base-from T] [--base-to T] [--base-label K=V]... [--format table|json] [--raw]\n");
    else
        fprintf(out, "       [--format folded|json|table|pprof|speedscope|svg] [--sort self|total|name] [--limit N]\n"
                     "       [--output FILE] [--raw]\n");
    fprintf(out, "\nTimes: unix seconds, RFC 3339, now, now-15m. Defaults: --server $FLAMEWATCH_SERVER or\n"
                 "http://127.0.0.1:4040, --token $FLAMEWATCH_TOKEN, --type cpu, --from now-15m, --to now.\n"
                 "Tables print values as the console does (1.97 s, 24.75%%, 312 MB); --raw prints plain\n"
                 "integers in the profile's unit for scripts. JSON is always raw.\n");
}

static int fw_add_label(const char *cmd, const char *v, const char **arr, size_t *n)
{
    if (!strchr(v, '=') || v[0] == '=') {
        fprintf(stderr, "flamewatch %s: invalid label '%s' (expected KEY=VALUE)\n", cmd, v);
        return -1;
    }
    if (*n == FW_Q_MAX_LABELS) {
        fprintf(stderr, "flamewatch %s: at most %d labels\n", cmd, FW_Q_MAX_LABELS);
        return -1;
    }
    arr[(*n)++] = v;
    return 0;
}

/* Returns 0, 1 for --help, -1 on a usage error. */
static int fw_qparse(int argc, char **argv, fw_qopts *o)
{
    static const struct { const char *flag; size_t off; } vals[] = {
        {"--server", offsetof(fw_qopts, server)}, {"--token", offsetof(fw_qopts, token)},
        {"--app", offsetof(fw_qopts, app)}, {"--type", offsetof(fw_qopts, type)},
        {"--from", offsetof(fw_qopts, from)}, {"--to", offsetof(fw_qopts, to)},
        {"--format", offsetof(fw_qopts, format)}, {"--granularity", offsetof(fw_qopts, gran)},
        {"--max-nodes", offsetof(fw_qopts, max_nodes)}, {"--output", offsetof(fw_qopts, output)},
        {"--sort", offsetof(fw_qopts, sort)}, {"--limit", offsetof(fw_qopts, limit)},
        {"--base-from", offsetof(fw_qopts, base_from)}, {"--base-to", offsetof(fw_qopts, base_to)},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fw_query_usage(stdout, o->cmd);
            return 1;
        }
        int matched = 0;
        for (size_t k = 0; k < sizeof vals / sizeof vals[0] && !matched; k++) {
            if (strcmp(a, vals[k].flag) != 0)
                continue;
            if (i + 1 >= argc) {
                fprintf(stderr, "flamewatch %s: %s needs a value\n", o->cmd, a);
                return -1;
            }
            *(const char **)((char *)o + vals[k].off) = argv[++i];
            matched = 1;
        }
        if (matched)
            continue;
        if (strcmp(a, "--raw") == 0 && strcmp(o->cmd, "sql") != 0) {
            o->raw = 1;
        } else if (strcmp(a, "--label") == 0 || strcmp(a, "--base-label") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flamewatch %s: %s needs a value\n", o->cmd, a);
                return -1;
            }
            int base = strcmp(a, "--base-label") == 0;
            if (fw_add_label(o->cmd, argv[++i], base ? o->base_labels : o->labels, base ? &o->nbase_labels : &o->nlabels))
                return -1;
        } else if (a[0] != '-' && strcmp(o->cmd, "sql") == 0 && !o->sql) {
            o->sql = a;
        } else {
            fprintf(stderr, "flamewatch %s: unknown option '%s'\n", o->cmd, a);
            fw_query_usage(stderr, o->cmd);
            return -1;
        }
    }
    if (!o->server)
        o->server = getenv("FLAMEWATCH_SERVER") ? getenv("FLAMEWATCH_SERVER") : "http://127.0.0.1:4040";
    if (!o->token)
        o->token = getenv("FLAMEWATCH_TOKEN");
    return 0;
}

static int fw_check_choice(const char *cmd, const char *flag, const char *v, const char *const *choices)
{
    if (!v)
        return 0;
    for (; *choices; choices++)
        if (strcmp(v, *choices) == 0)
            return 0;
    fprintf(stderr, "flamewatch %s: invalid value for %s: '%s'\n", cmd, flag, v);
    return -1;
}

/* Sends the request and copies a 200 body to stdout or --output; prints the error otherwise. */
static int fw_qrun(const fw_qopts *o, const char *method, const char *url, const char *body)
{
    fw_http_result r;
    char err[1024];
    if (fw_http_request(method, url, o->token, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                        &r, err, sizeof err) != 0) {
        fprintf(stderr, "flamewatch %s: %s\n", o->cmd, err);
        return 1;
    }
    if (r.status != 200) {
        fprintf(stderr, "flamewatch %s: server answered %ld: %s%s", o->cmd, r.status, r.body,
                r.len && r.body[r.len - 1] == '\n' ? "" : "\n");
        fw_http_result_free(&r);
        return 1;
    }
    FILE *out = stdout;
    if (o->output && !(out = fopen(o->output, "wb"))) {
        fprintf(stderr, "flamewatch %s: cannot write %s\n", o->cmd, o->output);
        fw_http_result_free(&r);
        return 1;
    }
    int rc = fwrite(r.body, 1, r.len, out) == r.len ? 0 : 1;
    if (strncmp(r.ctype, "application/json", 16) == 0 && out == stdout)
        fputc('\n', out);
    if (out != stdout && fclose(out) != 0)
        rc = 1;
    fw_http_result_free(&r);
    return rc;
}

static void fw_common_params(fw_url *u, const fw_qopts *o)
{
    fw_url_param(u, "app", o->app);
    fw_url_param(u, "type", o->type);
    fw_url_param(u, "from", o->from);
    fw_url_param(u, "to", o->to);
    for (size_t i = 0; i < o->nlabels; i++)
        fw_url_param(u, "label", o->labels[i]);
}

static int fw_query_like(int argc, char **argv, const char *cmd)
{
    fw_qopts o = {0};
    o.cmd = cmd;
    int rc = fw_qparse(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    static const char *const qfmts[] = {"folded", "json", "table", "pprof", "speedscope", "svg", NULL};
    static const char *const dfmts[] = {"table", "json", NULL};
    static const char *const grans[] = {"function", "line", NULL};
    static const char *const sorts[] = {"self", "total", "name", NULL};
    int diff = strcmp(cmd, "diff") == 0;
    if (!o.app) {
        fprintf(stderr, "flamewatch %s: --app is required\n", cmd);
        return 2;
    }
    if (fw_check_choice(cmd, "--format", o.format, diff ? dfmts : qfmts) ||
        fw_check_choice(cmd, "--granularity", o.gran, grans) || fw_check_choice(cmd, "--sort", o.sort, sorts))
        return 2;
    if (diff && !o.base_from && !o.base_to && !o.nbase_labels) {
        fprintf(stderr, "flamewatch diff: give a baseline with --base-from/--base-to and/or --base-label\n");
        return 2;
    }
    const char *fmt = o.format ? o.format : diff ? "table" : "folded";
    fw_url u = {0};
    fw_url_raw(&u, o.server);
    if (u.len && u.s[u.len - 1] == '/')
        u.s[--u.len] = '\0';
    int table = strcmp(fmt, "table") == 0;
    fw_url_raw(&u, diff ? "/api/v1/diff" : table ? "/api/v1/table" : "/api/v1/flamegraph");
    fw_common_params(&u, &o);
    /* Folded, pprof and speedscope are exact: line granularity and no node limit unless asked
     * for. The SVG is a picture: function granularity, the server's node limit. */
    int exact = !diff && !table && strcmp(fmt, "json") != 0 && strcmp(fmt, "svg") != 0;
    fw_url_param(&u, "granularity", o.gran ? o.gran : exact ? "line" : NULL);
    fw_url_param(&u, "maxNodes", o.max_nodes ? o.max_nodes : exact ? "2000000" : NULL);
    fw_url_param(&u, "sort", o.sort);
    fw_url_param(&u, "limit", o.limit);
    fw_url_param(&u, "baseFrom", o.base_from);
    fw_url_param(&u, "baseTo", o.base_to);
    for (size_t i = 0; i < o.nbase_labels; i++)
        fw_url_param(&u, "baseLabel", o.base_labels[i]);
    fw_url_param(&u, "format", strcmp(fmt, "json") == 0 ? NULL : table ? "text" : fmt);
    fw_url_param(&u, "units", table && !o.raw ? "human" : NULL);
    if (u.failed) {
        free(u.s);
        fprintf(stderr, "flamewatch %s: out of memory\n", cmd);
        return 1;
    }
    rc = fw_qrun(&o, "GET", u.s, NULL);
    free(u.s);
    return rc;
}

int fw_cmd_query(int argc, char **argv) { return fw_query_like(argc, argv, "query"); }

int fw_cmd_diff(int argc, char **argv) { return fw_query_like(argc, argv, "diff"); }

/* Builds {"query": "...", "format": "..."} with JSON escaping of the query text. */
static char *fw_sql_body(const char *sql, const char *format)
{
    size_t n = strlen(sql);
    char *b = malloc(6 * n + 64), *p = b;
    if (!b)
        return NULL;
    p += sprintf(p, "{\"query\":\"");
    for (const unsigned char *s = (const unsigned char *)sql; *s; s++) {
        if (*s == '"' || *s == '\\')
            p += sprintf(p, "\\%c", *s);
        else if (*s < 0x20)
            p += sprintf(p, "\\u%04x", *s);
        else
            *p++ = (char)*s;
    }
    sprintf(p, "\",\"format\":\"%s\"}", format);
    return b;
}

int fw_cmd_sql(int argc, char **argv)
{
    fw_qopts o = {0};
    o.cmd = "sql";
    int rc = fw_qparse(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    static const char *const fmts[] = {"json", "tsv", NULL};
    if (!o.sql || !*o.sql) {
        fprintf(stderr, "flamewatch sql: give the query as an argument\n");
        fw_query_usage(stderr, "sql");
        return 2;
    }
    if (fw_check_choice("sql", "--format", o.format, fmts))
        return 2;
    char *body = fw_sql_body(o.sql, o.format ? o.format : "tsv");
    fw_url u = {0};
    fw_url_raw(&u, o.server);
    if (u.len && u.s[u.len - 1] == '/')
        u.s[--u.len] = '\0';
    fw_url_raw(&u, "/api/v1/sql");
    if (!body || u.failed) {
        free(body);
        free(u.s);
        fprintf(stderr, "flamewatch sql: out of memory\n");
        return 1;
    }
    rc = fw_qrun(&o, "POST", u.s, body);
    free(body);
    free(u.s);
    return rc;
}
