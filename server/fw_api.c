/*
 * fw_api: the endpoints. Each handler parses its parameters, makes one store call and writes
 * the answer as JSON, including the `sql` the store ran so a user can reproduce the numbers.
 *
 * Design rules:
 *   - Parameters are validated before the store is touched, with messages that name the
 *     parameter and the accepted forms; store errors map to HTTP by kind (400/403/404/503/500).
 *   - `?explain=sql` on any query endpoint returns only the SQL, without running the query, so
 *     the console's "View SQL" costs nothing.
 *   - Time parameters accept unix seconds, RFC 3339 and now-relative forms (fw_util), label
 *     filters are repeated `label=KEY=VALUE` (AND across keys, OR within one key, as the store).
 *   - No handler keeps state between requests: everything durable is in the store.
 *   - SQL console requests never run on an HTTP worker: the dispatcher hands them back to
 *     fw_server.c (FW_API_OFFLOAD), which runs fw_api_sql on the SQL executor (fw_sqlx.h).
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fw_conns.h"
#include "fw_ingest.h"
#include "fw_upload_id.h"
#include "fw_json.h"
#include "fw_utf8.h"
#include "fw_render.h"
#include "fw_api.h"
#include "fw_api_impl.h"
#include "fw_endpoint.h"
#include "fw_util.h"
#include "fw_jobject.h"
#include "analysis/fw_analysis_api.h"


static double fw_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- POST /api/v1/sql ---- */

static void fw_sql_value(fw_json *j, const fw_store_value *v)
{
    static const char hex[] = "0123456789abcdef";
    switch (v->type) {
    case FW_STORE_VAL_INT: fw_json_int(j, v->i); break;
    case FW_STORE_VAL_REAL: fw_json_double(j, v->d); break;
    case FW_STORE_VAL_TEXT: fw_json_strn(j, v->s, v->len); break;
    case FW_STORE_VAL_BLOB: {
        /* BLOBs are shown as hex, like sqlite3's X'..' literals. */
        char *h = malloc(v->len * 2 + 1);
        if (!h) {
            fw_json_null(j);
            break;
        }
        for (size_t i = 0; i < v->len; i++) {
            h[2 * i] = hex[((unsigned char)v->s[i]) >> 4];
            h[2 * i + 1] = hex[((unsigned char)v->s[i]) & 15];
        }
        fw_json_strn(j, h, v->len * 2);
        free(h);
        break;
    }
    default: fw_json_null(j); break;
    }
}

/* POST /api/v1/sql runs on the SQL executor (fw_sqlx.h), never on an HTTP worker: the
 * dispatcher answers FW_API_OFFLOAD for it and fw_server.c submits the job that calls
 * fw_api_sql. The time limit counts from the arrival of the request's head, so time spent
 * queued for the executor and for a console connection is part of it. */
static void fw_h_sql_run(fw_server *s, const fw_http_req *req, fw_http_resp *resp, double arrived)
{
    fw_jobject o;
    char err[512];
    if (fw_jobject_parse((const char *)req->body, req->body_len, &o, err, sizeof err) != 0) {
        fw_http_error(resp, 400, "%s (expected {\"query\": \"SELECT ...\"})", err);
        return;
    }
    const fw_jmember *qm = fw_jobject_get(&o, "query");
    const fw_jmember *mr = fw_jobject_get(&o, "maxRows");
    const fw_jmember *fm = fw_jobject_get(&o, "format");
    int tsv = fm && fm->type == FW_JV_STRING && strcmp(fm->str, "tsv") == 0;
    if (!qm || qm->type != FW_JV_STRING || !*qm->str) {
        fw_jobject_free(&o);
        fw_http_error(resp, 400, "missing string member 'query'");
        return;
    }
    fw_store_sql_limits lim = {0};
    lim.timeout_ms = FW_SQL_TIMEOUT_MS - (int64_t)((fw_mono() - arrived) * 1000);
    if (lim.timeout_ms < 1)
        lim.timeout_ms = 1;
    if (mr && mr->type == FW_JV_NUMBER && mr->is_int && mr->i > 0 && mr->i <= 100000)
        lim.max_rows = (size_t)mr->i;
    fw_store_sql_result r = {0};
    err[0] = '\0';
    fw_store_status st = fw_store_sql_run(s->store, qm->str, &lim, &r, err, sizeof err);
    fw_jobject_free(&o);
    if (st == FW_STORE_ERR_TIMEOUT) {
        /* The store knows only the time that was left; say what the limit is. */
        fw_http_error(resp, 503, "query time limit exceeded: no answer within %d ms of the request's arrival"
                      " (waiting for a turn counts; see docs/API.md, Limits)", FW_SQL_TIMEOUT_MS);
        return;
    }
    if (st != FW_STORE_OK) {
        if ((st == FW_STORE_ERR_DENIED || st == FW_STORE_ERR_TOOBIG) && err[0])
            fw_http_error(resp, fw_ep_status_http(st), "%s%s", st == FW_STORE_ERR_DENIED ? "read-only SQL: " : "", err);
        else
            fw_ep_store_error(s, resp, st, err);
        return;
    }
    if (tsv) {
        fw_buf b = {0};
        int rc = fw_render_sql_tsv(&r, &b);
        fw_store_sql_result_free(&r);
        fw_ep_send_rendered(resp, rc, &b, "text/tab-separated-values; charset=utf-8");
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_key(&j, "columns");
    fw_json_arr_begin(&j);
    for (size_t c = 0; c < r.ncolumns; c++)
        fw_json_str(&j, r.columns[c]);
    fw_json_arr_end(&j);
    fw_json_key(&j, "rows");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < r.nrows; i++) {
        fw_json_arr_begin(&j);
        for (size_t c = 0; c < r.ncolumns; c++)
            fw_sql_value(&j, &r.cells[i * r.ncolumns + c]);
        fw_json_arr_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_bool(&j, "truncated", r.truncated);
    fw_json_obj_end(&j);
    fw_store_sql_result_free(&r);
    fw_http_json(resp, 200, &j);
}

void fw_api_sql(fw_server *s, const fw_http_req *req, fw_http_resp *resp, double arrived, int stopping)
{
    double waited = fw_mono() - arrived;
    if (stopping)
        fw_http_error(resp, 503, "the server is stopping; retry later");
    else if (waited * 1000 >= FW_SQL_TIMEOUT_MS)
        /* Its turn came too late to run at all: answered without touching the store. */
        fw_http_error(resp, 503, "query time limit exceeded: the request waited %lld ms for a turn, past the %d ms"
                      " limit counted from its arrival (see docs/API.md, Limits); retry later",
                      (long long)(waited * 1000), FW_SQL_TIMEOUT_MS);
    else
        fw_h_sql_run(s, req, resp, arrived);
    fw_metrics_observe(&s->metrics, FW_EP_SQL, fw_mono() - arrived);
}

double fw_api_clock(void)
{
    return fw_mono();
}

/* ---- GET/PUT /api/v1/apps/{app}/settings ---- */

static void fw_settings_json(fw_json *j, const char *app, const fw_store_settings *st)
{
    fw_json_kv_str(j, "app", app);
    fw_json_kv_bool(j, "enabled", st->enabled);
    fw_json_kv_bool(j, "cpu", st->cpu);
    fw_json_kv_int(j, "cpu_interval_ms", st->cpu_interval_ms);
    fw_json_kv_bool(j, "wall", st->wall);
    fw_json_kv_bool(j, "memory", st->memory);
    fw_json_kv_int(j, "memory_threshold_kb", st->memory_threshold_kb);
    fw_json_kv_int(j, "updated_at", st->updated_at);
}

static void fw_agents_json(fw_server *s, fw_json *j, const char *app, int64_t updated_at)
{
    fw_store_agents a = {0};
    if (fw_store_agents_list(s->store, app, &a) != FW_STORE_OK)
        return;
    fw_json_key(j, "agents");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < a.nagents; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "host", a.agents[i].host);
        fw_json_kv_int(j, "pid", a.agents[i].pid);
        fw_json_kv_int(j, "last_fetch", a.agents[i].last_fetch);
        fw_json_kv_int(j, "settings_updated_at", a.agents[i].settings_updated_at);
        fw_json_kv_bool(j, "current", a.agents[i].settings_updated_at == updated_at);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
    fw_store_agents_free(&a);
}

/* Applies one JSON member to settings; -1 with a message on a bad value or unknown key. */
static int fw_settings_apply(const fw_jmember *m, fw_store_settings *st, char *err, size_t errlen)
{
    static const struct { const char *key; int is_bool; int min, max; size_t off; } fields[] = {
        {"enabled", 1, 0, 1, offsetof(fw_store_settings, enabled)},
        {"cpu", 1, 0, 1, offsetof(fw_store_settings, cpu)},
        {"cpu_interval_ms", 0, 1, 1000, offsetof(fw_store_settings, cpu_interval_ms)},
        {"wall", 1, 0, 1, offsetof(fw_store_settings, wall)},
        {"memory", 1, 0, 1, offsetof(fw_store_settings, memory)},
        {"memory_threshold_kb", 0, 1, 1048576, offsetof(fw_store_settings, memory_threshold_kb)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(m->key, fields[i].key) != 0)
            continue;
        int *dst = (int *)((char *)st + fields[i].off);
        if (fields[i].is_bool) {
            if (m->type != FW_JV_BOOL) {
                snprintf(err, errlen, "%s: expected true or false", m->key);
                return -1;
            }
            *dst = m->b;
        } else {
            if (m->type != FW_JV_NUMBER || !m->is_int || m->i < fields[i].min || m->i > fields[i].max) {
                snprintf(err, errlen, "%s: expected an integer from %d to %d", m->key, fields[i].min, fields[i].max);
                return -1;
            }
            *dst = (int)m->i;
        }
        return 0;
    }
    if (strcmp(m->key, "app") == 0 || strcmp(m->key, "updated_at") == 0 || strcmp(m->key, "agents") == 0)
        return 0; /* echoing a GET back is fine: read-only members are ignored */
    snprintf(err, errlen, "unknown setting '%.64s' (known: enabled, cpu, cpu_interval_ms, wall, memory, memory_threshold_kb)", m->key);
    return -1;
}

static void fw_settings_get(fw_server *s, const fw_http_req *req, const char *app, fw_http_resp *resp)
{
    fw_store_settings st;
    fw_store_status rc = fw_store_settings_get(s->store, app, &st);
    if (rc != FW_STORE_OK) {
        fw_ep_store_error(s, resp, rc, NULL);
        return;
    }
    /* An agent identifies itself so the console can show who picked up which settings. */
    const char *host = fw_http_arg(req, "host"), *pid = fw_http_arg(req, "pid");
    if (host && pid && *host && strlen(host) <= 256 && fw_utf8_valid_prefix(host, strlen(host)) == strlen(host)) {
        long long p = strtoll(pid, NULL, 10);
        if (p > 0)
            fw_store_agent_seen(s->store, app, host, p, st.updated_at, req->now);
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_settings_json(&j, app, &st);
    if (req->role == FW_ROLE_READ || req->role == FW_ROLE_ADMIN)
        fw_agents_json(s, &j, app, st.updated_at);
    fw_json_obj_end(&j);
    fw_http_json(resp, 200, &j);
}

static void fw_settings_put(fw_server *s, const fw_http_req *req, const char *app, fw_http_resp *resp)
{
    fw_jobject o;
    char err[512];
    if (fw_jobject_parse((const char *)req->body, req->body_len, &o, err, sizeof err) != 0) {
        fw_http_error(resp, 400, "%s", err);
        return;
    }
    fw_store_settings st;
    fw_store_status rc = fw_store_settings_get(s->store, app, &st);
    if (rc != FW_STORE_OK) {
        fw_jobject_free(&o);
        fw_ep_store_error(s, resp, rc, NULL);
        return;
    }
    for (size_t i = 0; i < o.n; i++)
        if (fw_settings_apply(&o.m[i], &st, err, sizeof err) != 0) {
            fw_jobject_free(&o);
            fw_http_error(resp, 400, "%s", err);
            return;
        }
    fw_jobject_free(&o);
    rc = fw_store_settings_put(s->store, app, &st, req->now);
    if (rc != FW_STORE_OK) {
        fw_ep_store_error(s, resp, rc, rc == FW_STORE_ERR_BUSY ? "the write lock stayed taken; retry later" : NULL);
        return;
    }
    fw_settings_get(s, req, app, resp);
}

static void fw_h_settings(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    const char *start = req->path + strlen("/api/v1/apps/");
    size_t n = strlen(start) - strlen("/settings");
    const char *problem = fw_app_name_problem(start, n);
    if (problem) {
        fw_http_error(resp, 400, "invalid application name in path: it %s (expected " FW_APP_NAME_RULE ")", problem);
        return;
    }
    char app[FW_APP_NAME_MAX + 1];
    memcpy(app, start, n);
    app[n] = '\0';
    if (strcmp(req->method, "GET") == 0)
        fw_settings_get(s, req, app, resp);
    else if (strcmp(req->method, "PUT") == 0)
        fw_settings_put(s, req, app, resp);
    else
        fw_http_error(resp, 405, "use GET or PUT");
}

/* ---- POST /ingest ---- */

#define FW_DROPPED_MAX 1000000000000ull

/* `dropped=N`: profiles the agent dropped since its last accepted upload (absent: 0). */
static bool fw_ingest_dropped(const char *v, uint64_t *out)
{
    *out = 0;
    if (!v)
        return true;
    if (!*v || strlen(v) > 13)
        return false;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        *out = *out * 10 + (uint64_t)(*p - '0');
    }
    return *out <= FW_DROPPED_MAX;
}

static void fw_h_ingest(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_ingest_request in = {
        .name = fw_http_arg(req, "name"),
        .from = fw_http_arg(req, "from"),
        .until = fw_http_arg(req, "until"),
        .format = fw_http_arg(req, "format"),
        .sample_rate = fw_http_arg(req, "sampleRate"),
        .spy_name = fw_http_arg(req, "spyName"),
        .units = fw_http_arg(req, "units"),
        .aggregation_type = fw_http_arg(req, "aggregationType"),
        .content_type = fw_http_header(req, "Content-Type"),
        .content_encoding = fw_http_header(req, "Content-Encoding"),
        .body = req->body,
        .body_len = req->body_len,
        .now = req->now,
    };
    fw_ingest_batch b;
    fw_reject_reason why;
    char err[512];
    uint64_t dropped;
    if (!fw_ingest_dropped(fw_http_arg(req, "dropped"), &dropped)) {
        atomic_fetch_add_explicit(&s->metrics.rejected[FW_REJECT_PARAMS], 1, memory_order_relaxed);
        fw_http_error(resp, 400, "dropped: '%.32s' is not a count from 0 to %llu",
                      fw_http_arg(req, "dropped"), (unsigned long long)FW_DROPPED_MAX);
        return;
    }
    int status = fw_ingest_parse(&in, &b, &why, err, sizeof err);
    if (status != 200) {
        atomic_fetch_add_explicit(&s->metrics.rejected[why], 1, memory_order_relaxed);
        fw_http_error(resp, status, "%s", err);
        return;
    }
    const char *uid = fw_http_arg(req, "uploadId");
    if (uid && (!*uid || strlen(uid) > FW_UPLOAD_ID_MAX)) {
        fw_ingest_batch_free(&b);
        atomic_fetch_add_explicit(&s->metrics.rejected[FW_REJECT_PARAMS], 1, memory_order_relaxed);
        fw_http_error(resp, 400, "uploadId: must be 1-%d bytes", FW_UPLOAD_ID_MAX);
        return;
    }
    fw_store_ingest_req sreq = {b.app, b.profile, b.from, b.tags, b.ntags, fw_upload_id(&in, uid)};
    fw_store_ingest_result res = {0};
    err[0] = '\0';
    fw_store_status st = fw_store_ingest(s->store, &sreq, &res, err, sizeof err);
    if (st != FW_STORE_OK) {
        fw_ingest_batch_free(&b);
        atomic_fetch_add_explicit(&s->metrics.rejected[FW_REJECT_STORE], 1, memory_order_relaxed);
        /* The database failed or is unreachable (ClickHouse down, a full disk): 503, so that
         * agents keep the upload and retry it; nothing of it was stored. */
        if (st == FW_STORE_ERR_IO)
            fw_http_error(resp, 503, "%s%s%s", fw_store_strerror(st), err[0] ? ": " : "", err);
        else
            fw_ep_store_error(s, resp, st, err);
        return;
    }
    atomic_fetch_add_explicit(&s->metrics.uploads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.upload_bytes, req->body_len, memory_order_relaxed);
    if (!res.duplicate) {
        atomic_fetch_add_explicit(&s->metrics.stack_values, res.stack_values, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->metrics.agent_dropped, dropped, memory_order_relaxed);
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "app", b.app);
    fw_json_kv_str(&j, "format", b.format);
    fw_json_kv_int(&j, "from", b.from);
    fw_json_kv_int(&j, "until", b.until);
    fw_json_kv_int(&j, "stack_values", (int64_t)res.stack_values);
    if (res.duplicate)
        fw_json_kv_bool(&j, "duplicate", 1);   /* a retry of a stored upload: stored once */
    fw_json_key(&j, "types");
    fw_json_arr_begin(&j);
    for (size_t t = 0; t < fw_profile_type_count(b.profile); t++)
        fw_json_str(&j, fw_profile_type(b.profile, t).type);
    fw_json_arr_end(&j);
    fw_json_obj_end(&j);
    fw_ingest_batch_free(&b);
    fw_http_json(resp, 200, &j);
}

/* ---- health and metrics ---- */

static void fw_h_health(fw_server *s, fw_http_resp *resp)
{
    (void)s;
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "status", "ok");
    fw_json_obj_end(&j);
    fw_http_json(resp, 200, &j);
}

static void fw_h_metrics(fw_server *s, fw_http_resp *resp)
{
    fw_store_stats stats;
    memset(&stats, 0, sizeof stats);
    int64_t bytes = -1, stacks = -1;
    if (fw_store_get_stats(s->store, &stats) == FW_STORE_OK) {
        bytes = stats.size_bytes;
        stacks = stats.stacks;
    }
    char *text = NULL;
    size_t len = 0;
    if (fw_metrics_render(&s->metrics, bytes, stacks, &text, &len) != 0) {
        fw_http_error(resp, 500, "out of memory");
        return;
    }
    /* The connection limits (fw_conns.h): what they turned away. */
    fw_conns_stats cs;
    fw_conns_get_stats(s->conns, &cs);
    char extra[1536];
    int n = snprintf(extra, sizeof extra,
                     "# HELP flamewatch_connections_open Connections counted against the limits.\n"
                     "# TYPE flamewatch_connections_open gauge\n"
                     "flamewatch_connections_open %llu\n"
                     "# HELP flamewatch_connections_closed_total Connections the limits closed: evicted (oldest "
                     "waiting for its request head, at a limit), header_timeout, refused (at a limit, all busy).\n"
                     "# TYPE flamewatch_connections_closed_total counter\n"
                     "flamewatch_connections_closed_total{reason=\"evicted\"} %llu\n"
                     "flamewatch_connections_closed_total{reason=\"header_timeout\"} %llu\n"
                     "flamewatch_connections_closed_total{reason=\"refused\"} %llu\n"
                     "# HELP flamewatch_store_cache_bytes Bytes the in-memory dimension cache holds (--cache-mb).\n"
                     "# TYPE flamewatch_store_cache_bytes gauge\nflamewatch_store_cache_bytes %lld\n"
                     "# HELP flamewatch_store_cache_budget_bytes The dimension cache's budget.\n"
                     "# TYPE flamewatch_store_cache_budget_bytes gauge\nflamewatch_store_cache_budget_bytes %lld\n"
                     "# HELP flamewatch_store_cache_entries Functions, frames, stacks and label sets cached.\n"
                     "# TYPE flamewatch_store_cache_entries gauge\nflamewatch_store_cache_entries %lld\n"
                     "# HELP flamewatch_store_cache_evictions_total Entries evicted to stay within the budget.\n"
                     "# TYPE flamewatch_store_cache_evictions_total counter\n"
                     "flamewatch_store_cache_evictions_total %lld\n",
                     (unsigned long long)cs.open, (unsigned long long)cs.evicted,
                     (unsigned long long)cs.timed_out, (unsigned long long)cs.refused, (long long)stats.cache_bytes,
                     (long long)stats.cache_budget, (long long)stats.cache_entries, (long long)stats.cache_evictions);
    char *grown = n > 0 && (size_t)n < sizeof extra ? realloc(text, len + (size_t)n + 1) : NULL;
    if (!grown) {
        free(text);
        fw_http_error(resp, 500, "out of memory");
        return;
    }
    memcpy(grown + len, extra, (size_t)n + 1);
    fw_http_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", grown, len + (size_t)n);
}

/* ---- routing ---- */

typedef struct {
    const char *path;
    const char *method;
    fw_endpoint ep;
    void (*fn)(fw_server *, const fw_http_req *, fw_http_resp *);
} fw_route;

static const fw_route fw_routes[] = {
    {"/api/v1/apps", "GET", FW_EP_APPS, fw_h_apps},
    {"/api/v1/labels", "GET", FW_EP_LABELS, fw_h_labels},
    {"/api/v1/trend", "GET", FW_EP_TREND, fw_h_trend},
    {"/api/v1/flamegraph", "GET", FW_EP_FLAME, fw_h_flame},
    {"/api/v1/table", "GET", FW_EP_TABLE, fw_h_table},
    {"/api/v1/diff", "GET", FW_EP_DIFF, fw_h_diff},
    {"/api/v1/sql", "POST", FW_EP_SQL, NULL},   /* NULL: on the SQL executor (fw_api_sql) */
    {"/api/v1/analysis", "GET", FW_EP_ANALYSIS, fw_h_analysis},
    {"/api/v1/ask", "POST", FW_EP_ASK, fw_h_ask},
};

static int fw_is_settings_path(const char *path)
{
    size_t n = strlen(path);
    return strncmp(path, "/api/v1/apps/", 13) == 0 && n > 13 + 9 && strcmp(path + n - 9, "/settings") == 0;
}

int fw_api_dispatch(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    if (strcmp(req->path, "/ingest") == 0) {
        if (strcmp(req->method, "POST") != 0)
            fw_http_error(resp, 405, "use POST /ingest");
        else
            fw_h_ingest(s, req, resp);
        return 1;
    }
    if (strcmp(req->path, "/healthz") == 0) {
        fw_h_health(s, resp);
        return 1;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        fw_h_metrics(s, resp);
        return 1;
    }
    double t0 = fw_mono();
    if (fw_is_settings_path(req->path)) {
        fw_h_settings(s, req, resp);
        fw_metrics_observe(&s->metrics, FW_EP_SETTINGS, fw_mono() - t0);
        return 1;
    }
    for (size_t i = 0; i < sizeof fw_routes / sizeof fw_routes[0]; i++) {
        if (strcmp(req->path, fw_routes[i].path) != 0)
            continue;
        if (strcmp(req->method, fw_routes[i].method) != 0) {
            fw_http_error(resp, 405, "use %s %s", fw_routes[i].method, fw_routes[i].path);
        } else if (!fw_routes[i].fn) {
            return FW_API_OFFLOAD;   /* observed by fw_api_sql, from the request's arrival */
        } else {
            fw_routes[i].fn(s, req, resp);
        }
        fw_metrics_observe(&s->metrics, fw_routes[i].ep, fw_mono() - t0);
        return 1;
    }
    if (strncmp(req->path, "/api/", 5) == 0) {
        fw_http_error(resp, 404, "no such endpoint: %s %s (see docs/API.md)", req->method, req->path);
        return 1;
    }
    return 0;
}
