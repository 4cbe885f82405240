/*
 * `flamewatch analyze` and `flamewatch ask`: thin clients of GET /api/v1/analysis and
 * POST /api/v1/ask (server/analysis/).
 *
 * As with `flamewatch query`, the server does the work and renders the text: these commands
 * build one request from flags and copy the answer out, so the CLI, the console and curl read
 * the same findings. Exit statuses: 2 for bad flags, 1 when the server cannot be reached or
 * answers with an error (its message is printed), 0 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "http_client.h"

#define FW_A_MAX_LABELS 32

typedef struct {
    const char *cmd;
    const char *server, *token, *app, *type, *from, *to, *format, *hours, *focus, *base_from, *base_to;
    const char *labels[FW_A_MAX_LABELS];
    size_t nlabels;
    const char *question;
} fw_aopts;

static void fw_analyze_usage(FILE *out, const char *cmd)
{
    if (strcmp(cmd, "ask") == 0)
        fprintf(out, "usage: flamewatch ask \"QUESTION\" --app NAME [--type TYPE] [--from T] [--to T] [--label K=V]...\n"
                     "       [--baseline-hours N] [--format text|json] [--server URL] [--token T]\n");
    else
        fprintf(out, "usage: flamewatch analyze --app NAME [--type TYPE] [--from T] [--to T] [--label K=V]...\n"
                     "       [--baseline-hours N | --base-from T --base-to T] [--focus FUNCTION]\n"
                     "       [--format text|json] [--server URL] [--token T]\n");
    fprintf(out, "\nTimes: unix seconds, RFC 3339, now, now-15m. Defaults: --server $FLAMEWATCH_SERVER or\n"
                 "http://127.0.0.1:4040, --token $FLAMEWATCH_TOKEN, --type cpu, --from now-15m, --to now, --format text.\n");
}

static int fw_aparse(int argc, char **argv, fw_aopts *o)
{
    static const struct { const char *flag; size_t off; } vals[] = {
        {"--server", offsetof(fw_aopts, server)}, {"--token", offsetof(fw_aopts, token)},
        {"--app", offsetof(fw_aopts, app)}, {"--type", offsetof(fw_aopts, type)},
        {"--from", offsetof(fw_aopts, from)}, {"--to", offsetof(fw_aopts, to)},
        {"--format", offsetof(fw_aopts, format)}, {"--baseline-hours", offsetof(fw_aopts, hours)},
        {"--focus", offsetof(fw_aopts, focus)}, {"--base-from", offsetof(fw_aopts, base_from)},
        {"--base-to", offsetof(fw_aopts, base_to)},
    };
    int ask = strcmp(o->cmd, "ask") == 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fw_analyze_usage(stdout, o->cmd);
            return 1;
        }
        int matched = 0;
        for (size_t k = 0; k < sizeof vals / sizeof vals[0] && !matched; k++) {
            if (strcmp(a, vals[k].flag) != 0 || (ask && (strcmp(a, "--focus") == 0 || strncmp(a, "--base-", 7) == 0)))
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
        if (strcmp(a, "--label") == 0) {
            if (i + 1 >= argc || !strchr(argv[i + 1], '=') || argv[i + 1][0] == '=') {
                fprintf(stderr, "flamewatch %s: --label needs KEY=VALUE\n", o->cmd);
                return -1;
            }
            if (o->nlabels == FW_A_MAX_LABELS) {
                fprintf(stderr, "flamewatch %s: at most %d labels\n", o->cmd, FW_A_MAX_LABELS);
                return -1;
            }
            o->labels[o->nlabels++] = argv[++i];
        } else if (ask && a[0] != '-' && !o->question) {
            o->question = a;
        } else {
            fprintf(stderr, "flamewatch %s: unknown option '%s'\n", o->cmd, a);
            fw_analyze_usage(stderr, o->cmd);
            return -1;
        }
    }
    if (!o->server)
        o->server = getenv("FLAMEWATCH_SERVER") ? getenv("FLAMEWATCH_SERVER") : "http://127.0.0.1:4040";
    if (!o->token)
        o->token = getenv("FLAMEWATCH_TOKEN");
    if (!o->app) {
        fprintf(stderr, "flamewatch %s: --app is required\n", o->cmd);
        return -1;
    }
    if (o->format && strcmp(o->format, "text") != 0 && strcmp(o->format, "json") != 0) {
        fprintf(stderr, "flamewatch %s: invalid value for --format: '%s' (text or json)\n", o->cmd, o->format);
        return -1;
    }
    if (o->hours) {
        char *end = NULL;
        long n = strtol(o->hours, &end, 10);
        if (!*o->hours || *end || n < 1 || n > 8784) {
            fprintf(stderr, "flamewatch %s: --baseline-hours: '%s' is not a whole number from 1 to 8784\n", o->cmd, o->hours);
            return -1;
        }
        if (o->base_from || o->base_to) {
            fprintf(stderr, "flamewatch %s: give --baseline-hours or --base-from/--base-to, not both\n", o->cmd);
            return -1;
        }
    }
    if (ask && (!o->question || !*o->question)) {
        fprintf(stderr, "flamewatch ask: give the question as an argument\n");
        return -1;
    }
    return 0;
}

static void fw_str_json(fw_url *b, const char *k, const char *v, int comma)
{
    if (!v)
        return;
    char tmp[8];
    if (comma)
        fw_url_raw(b, ",");
    fw_url_raw(b, "\"");
    fw_url_raw(b, k);
    fw_url_raw(b, "\":\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            snprintf(tmp, sizeof tmp, "\\%c", *p);
        else if (*p < 0x20)
            snprintf(tmp, sizeof tmp, "\\u%04x", *p);
        else
            snprintf(tmp, sizeof tmp, "%c", *p);
        fw_url_raw(b, tmp);
    }
    fw_url_raw(b, "\"");
}

static int fw_arun(const fw_aopts *o, const char *method, const char *url, const char *body)
{
    fw_http_result r;
    char err[1024];
    if (fw_http_request(method, url, o->token, body ? "application/json" : NULL, body, body ? strlen(body) : 0, &r, err,
                        sizeof err) != 0) {
        fprintf(stderr, "flamewatch %s: %s\n", o->cmd, err);
        return 1;
    }
    if (r.status != 200) {
        fprintf(stderr, "flamewatch %s: server answered %ld: %s%s", o->cmd, r.status, r.body,
                r.len && r.body[r.len - 1] == '\n' ? "" : "\n");
        fw_http_result_free(&r);
        return 1;
    }
    int rc = fwrite(r.body, 1, r.len, stdout) == r.len ? 0 : 1;
    if (r.len && r.body[r.len - 1] != '\n')
        fputc('\n', stdout);
    fw_http_result_free(&r);
    return rc;
}

static void fw_base_url(fw_url *u, const fw_aopts *o, const char *path)
{
    fw_url_raw(u, o->server);
    if (u->len && u->s[u->len - 1] == '/')
        u->s[--u->len] = '\0';
    fw_url_raw(u, path);
}

int fw_cmd_analyze(int argc, char **argv)
{
    fw_aopts o = {0};
    o.cmd = "analyze";
    int rc = fw_aparse(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    fw_url u = {0};
    fw_base_url(&u, &o, "/api/v1/analysis");
    fw_url_param(&u, "app", o.app);
    fw_url_param(&u, "type", o.type);
    fw_url_param(&u, "from", o.from);
    fw_url_param(&u, "to", o.to);
    for (size_t i = 0; i < o.nlabels; i++)
        fw_url_param(&u, "label", o.labels[i]);
    fw_url_param(&u, "baselineHours", o.hours);
    fw_url_param(&u, "baseFrom", o.base_from);
    fw_url_param(&u, "baseTo", o.base_to);
    fw_url_param(&u, "focus", o.focus);
    fw_url_param(&u, "format", o.format ? o.format : "text");
    if (u.failed) {
        free(u.s);
        fprintf(stderr, "flamewatch analyze: out of memory\n");
        return 1;
    }
    rc = fw_arun(&o, "GET", u.s, NULL);
    free(u.s);
    return rc;
}

int fw_cmd_ask(int argc, char **argv)
{
    fw_aopts o = {0};
    o.cmd = "ask";
    int rc = fw_aparse(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    fw_url b = {0}, labels = {0}, u = {0};
    for (size_t i = 0; i < o.nlabels; i++) {
        if (strchr(o.labels[i], ',')) {
            fprintf(stderr, "flamewatch ask: a label value cannot contain ',' here: '%s'\n", o.labels[i]);
            free(labels.s);
            return 2;
        }
        fw_url_raw(&labels, i ? "," : "");
        fw_url_raw(&labels, o.labels[i]);
    }
    fw_url_raw(&b, "{");
    fw_str_json(&b, "question", o.question, 0);
    fw_str_json(&b, "app", o.app, 1);
    fw_str_json(&b, "type", o.type, 1);
    fw_str_json(&b, "from", o.from, 1);
    fw_str_json(&b, "to", o.to, 1);
    fw_str_json(&b, "labels", labels.s, 1);
    fw_str_json(&b, "baselineHours", o.hours, 1);
    fw_str_json(&b, "format", o.format ? o.format : "text", 1);
    fw_url_raw(&b, "}");
    fw_base_url(&u, &o, "/api/v1/ask");
    if (b.failed || u.failed || labels.failed) {
        free(b.s);
        free(u.s);
        free(labels.s);
        fprintf(stderr, "flamewatch ask: out of memory\n");
        return 1;
    }
    rc = fw_arun(&o, "POST", u.s, b.s);
    free(b.s);
    free(u.s);
    free(labels.s);
    return rc;
}
