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
#include "fw_json.h"
#include "fw_utf8.h"
#include "fw_render.h"
#include "fw_api.h"
#include "fw_util.h"
#include "fw_jobject.h"
#include "analysis/fw_analysis_api.h"

#define FW_MAX_FILTERS 32
#define FW_MAX_TREE_NODES 2000000

typedef struct {
    fw_label labels[FW_MAX_FILTERS];
    char buf[8192];
    size_t used;
} fw_filters;

static double fw_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fw_status_http(fw_store_status st)
{
    switch (st) {
    case FW_STORE_OK: return 200;
    case FW_STORE_ERR_INVALID: return 400;
    case FW_STORE_ERR_NOTFOUND: return 404;
    case FW_STORE_ERR_DENIED: return 403;
    case FW_STORE_ERR_TIMEOUT:
    case FW_STORE_ERR_BUSY: return 503;
    case FW_STORE_ERR_TOOBIG: return 413;
    default: return 500;
    }
}

/* The store's wait for a read connection, as configured (--query-wait). */
static int fw_reader_wait_ms(const fw_server *s)
{
    return s->cfg.query_wait_ms ? s->cfg.query_wait_ms : FW_STORE_READER_WAIT_MS;
}

static void fw_store_error(const fw_server *s, fw_http_resp *resp, fw_store_status st, const char *detail)
{
    /* BUSY with nothing more to say comes from the query pool (fw_store.h): name the wait. */
    char busy[160];
    if (st == FW_STORE_ERR_BUSY && !(detail && *detail)) {
        snprintf(busy, sizeof busy, "no read connection came free within %d ms (too many queries at once);"
                 " retry later", fw_reader_wait_ms(s));
        detail = busy;
    }
    fw_http_error(resp, fw_status_http(st), "%s%s%s", fw_store_strerror(st), detail && *detail ? ": " : "",
                  detail ? detail : "");
}

/* Splits repeated `NAME=KEY=VALUE` parameters into labels. */
static int fw_parse_filters(const fw_http_req *req, const char *param, fw_filters *f, size_t *n,
                            fw_http_resp *resp)
{
    const char *vals[FW_MAX_FILTERS + 1];
    size_t nv = fw_http_args(req, param, vals, FW_MAX_FILTERS + 1);
    if (nv > FW_MAX_FILTERS) {
        fw_http_error(resp, 400, "%s: at most %d filters", param, FW_MAX_FILTERS);
        return -1;
    }
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        const char *eq = strchr(vals[i], '=');
        size_t len = strlen(vals[i]);
        if (!eq || eq == vals[i]) {
            fw_http_error(resp, 400, "%s: '%.64s' is not KEY=VALUE", param, vals[i]);
            return -1;
        }
        if (f->used + len + 1 > sizeof f->buf) {
            fw_http_error(resp, 400, "%s: filters too long", param);
            return -1;
        }
        char *copy = f->buf + f->used;
        memcpy(copy, vals[i], len + 1);
        f->used += len + 1;
        copy[eq - vals[i]] = '\0';
        f->labels[*n].key = copy;
        f->labels[*n].value = copy + (eq - vals[i]) + 1;
        (*n)++;
    }
    return 0;
}

static int fw_parse_time_arg(const fw_http_req *req, const char *name, const char *alias, const char *dflt,
                             int64_t *out, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, name);
    if (!v && alias)
        v = fw_http_arg(req, alias);
    if (!v)
        v = dflt;
    if (fw_time_parse(v, req->now, out) != 0) {
        fw_http_error(resp, 400, "%s: '%.64s' is not a time (unix seconds, RFC 3339, 'now' or 'now-15m')", name, v);
        return -1;
    }
    return 0;
}

/* app, type, from, to, label=K=V... -> q. `prefix` selects the baseline set for diffs. */
static int fw_parse_query(const fw_http_req *req, fw_store_query *q, fw_filters *f, fw_http_resp *resp)
{
    memset(q, 0, sizeof *q);
    q->app = fw_http_arg(req, "app");
    if (!q->app || !*q->app) {
        fw_http_error(resp, 400, "missing parameter 'app'");
        return -1;
    }
    q->type = fw_http_arg(req, "type");
    if (!q->type || !*q->type)
        q->type = "cpu";
    if (fw_parse_time_arg(req, "from", NULL, "now-15m", &q->from, resp) != 0 ||
        fw_parse_time_arg(req, "to", "until", "now", &q->until, resp) != 0)
        return -1;
    /* 'to' is inclusive to the second: an upload stamped in the current second belongs to a
     * query that ends "now". The store's ranges are half-open, hence the +1. */
    q->until += 1;
    if (q->until <= q->from) {
        fw_http_error(resp, 400, "the range is empty: 'to' (%lld) must be after 'from' (%lld)",
                      (long long)q->until, (long long)q->from);
        return -1;
    }
    if (fw_parse_filters(req, "label", f, &q->nfilters, resp) != 0)
        return -1;
    q->filters = f->labels;
    return 0;
}

static int fw_explain(const fw_http_req *req)
{
    const char *e = fw_http_arg(req, "explain");
    return e && strcmp(e, "sql") == 0;
}

/* Sends a rendered buffer (ownership moves to the response), or 500 if rendering failed. */
static void fw_send_rendered(fw_http_resp *resp, int rc, fw_buf *b, const char *ctype)
{
    if (rc != 0) {
        fw_buf_free(b);
        fw_http_error(resp, 500, "cannot render the result (out of memory)");
        return;
    }
    fw_http_text(resp, 200, ctype, (char *)b->data, b->len);
}

static int fw_parse_format(const fw_http_req *req, const char *const *choices, int *out, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, "format");
    *out = 0;
    if (!v)
        return 0;
    for (int i = 0; choices[i]; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    fw_http_error(resp, 400, "format: '%.32s' is not supported here", v);
    return -1;
}

/* units=raw (the default: plain integers for scripts) or units=human (the console's "1.97 s",
 * "24.75%") for the text tables of /table and /diff. Returns 1 for human, 0 raw, -1 on error. */
static int fw_parse_units(const fw_http_req *req, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, "units");
    if (!v || strcmp(v, "raw") == 0)
        return 0;
    if (strcmp(v, "human") == 0)
        return 1;
    fw_http_error(resp, 400, "units: '%.32s' (expected raw or human)", v);
    return -1;
}

static void fw_send_sql_only(fw_server *s, fw_store_sql_kind kind, const fw_store_query *q,
                             const fw_store_query *cmp, int64_t step, const fw_store_table_opts *to,
                             fw_http_resp *resp)
{
    char *sql = NULL;
    fw_store_status st = fw_store_sql_text(s->store, kind, q, cmp, step, to, &sql);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "sql", sql);
    fw_json_obj_end(&j);
    free(sql);
    fw_http_json(resp, 200, &j);
}

static void fw_query_header(fw_json *j, const fw_store_query *q, const char *unit)
{
    fw_json_kv_str(j, "app", q->app);
    fw_json_kv_str(j, "type", q->type);
    fw_json_kv_str(j, "unit", unit ? unit : "");
    fw_json_kv_int(j, "from", q->from);
    fw_json_kv_int(j, "to", q->until);
    fw_json_key(j, "filters");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < q->nfilters; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "key", q->filters[i].key);
        fw_json_kv_str(j, "value", q->filters[i].value);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static int fw_parse_granularity(const fw_http_req *req, fw_store_granularity *g, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, "granularity");
    *g = FW_STORE_GRAN_FUNCTION;
    if (!v || strcmp(v, "function") == 0)
        return 0;
    if (strcmp(v, "line") == 0) {
        *g = FW_STORE_GRAN_LINE;
        return 0;
    }
    fw_http_error(resp, 400, "granularity: '%.32s' (expected function or line)", v);
    return -1;
}

static int fw_parse_size(const fw_http_req *req, const char *name, size_t dflt, size_t max, size_t *out,
                         fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, name);
    *out = dflt;
    if (!v)
        return 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 1 || (unsigned long long)n > max) {
        fw_http_error(resp, 400, "%s: '%.32s' is not an integer from 1 to %zu", name, v, max);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

/* ---- GET /api/v1/apps ---- */

static void fw_h_apps(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    (void)req;
    fw_store_apps a = {0};
    fw_store_status st = fw_store_list_apps(s->store, &a);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_key(&j, "apps");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < a.napps; i++) {
        fw_json_obj_begin(&j);
        fw_json_kv_str(&j, "name", a.apps[i].app);
        fw_json_key(&j, "types");
        fw_json_arr_begin(&j);
        for (size_t t = 0; t < a.apps[i].ntypes; t++) {
            fw_json_obj_begin(&j);
            fw_json_kv_str(&j, "type", a.apps[i].types[t].type);
            fw_json_kv_str(&j, "unit", a.apps[i].types[t].unit);
            fw_json_kv_str(&j, "description", a.apps[i].types[t].description);
            fw_json_obj_end(&j);
        }
        fw_json_arr_end(&j);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "sql", a.sql);
    fw_json_obj_end(&j);
    fw_store_apps_free(&a);
    fw_http_json(resp, 200, &j);
}

/* ---- GET /api/v1/labels ---- */

static void fw_h_labels(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    if (fw_parse_query(req, &q, &f, resp) != 0)
        return;
    if (fw_explain(req)) {
        fw_send_sql_only(s, FW_STORE_SQL_LABELS, &q, NULL, 0, NULL, resp);
        return;
    }
    fw_store_labels l = {0};
    fw_store_status st = fw_store_label_values(s->store, &q, &l);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_query_header(&j, &q, NULL);
    fw_json_key(&j, "labels");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < l.nkeys; i++) {
        fw_json_obj_begin(&j);
        fw_json_kv_str(&j, "key", l.keys[i].key);
        fw_json_key(&j, "values");
        fw_json_arr_begin(&j);
        for (size_t v = 0; v < l.keys[i].nvalues; v++)
            fw_json_str(&j, l.keys[i].values[v]);
        fw_json_arr_end(&j);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "sql", l.sql);
    fw_json_obj_end(&j);
    fw_store_labels_free(&l);
    fw_http_json(resp, 200, &j);
}

/* ---- GET /api/v1/trend ---- */

static void fw_h_trend(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    if (fw_parse_query(req, &q, &f, resp) != 0)
        return;
    int64_t step = 0;
    const char *sv = fw_http_arg(req, "step");
    if (sv && fw_duration_parse(sv, &step) != 0) {
        fw_http_error(resp, 400, "step: '%.32s' is not a duration (e.g. 60, 10s, 5m, 1h)", sv);
        return;
    }
    if (step && (q.until - q.from) / step > 10000) {
        fw_http_error(resp, 400, "step: more than 10000 points in the range");
        return;
    }
    if (fw_explain(req)) {
        fw_send_sql_only(s, FW_STORE_SQL_TREND, &q, NULL, step, NULL, resp);
        return;
    }
    fw_store_trend t = {0};
    fw_store_status st = fw_store_trend_query(s->store, &q, step, &t);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_query_header(&j, &q, t.unit);
    fw_json_kv_int(&j, "step", t.step_s);
    int64_t total = 0;
    fw_json_key(&j, "points");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < t.npoints; i++) {
        fw_json_obj_begin(&j);
        fw_json_kv_int(&j, "t", t.points[i].t);
        fw_json_kv_int(&j, "value", t.points[i].value);
        fw_json_kv_int(&j, "count", t.points[i].count);
        fw_json_obj_end(&j);
        total = t.points[i].value > INT64_MAX - total ? INT64_MAX : total + t.points[i].value;   /* saturates, as the store does */
    }
    fw_json_arr_end(&j);
    fw_json_kv_int(&j, "total", total);
    fw_json_kv_str(&j, "sql", t.sql);
    fw_json_obj_end(&j);
    fw_store_trend_free(&t);
    fw_http_json(resp, 200, &j);
}

/* ---- GET /api/v1/flamegraph ---- */

static void fw_node_common(fw_json *j, int32_t parent, int32_t depth, const char *name, const char *file,
                           int64_t line, int other)
{
    fw_json_kv_str(j, "name", name);
    fw_json_kv_str(j, "file", file ? file : "");
    fw_json_kv_int(j, "line", line);
    fw_json_kv_int(j, "parent", parent);
    fw_json_kv_int(j, "depth", depth);
    if (other)
        fw_json_kv_bool(j, "other", 1);
}

static void fw_h_flame(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    fw_store_tree_opts opt = {0};
    if (fw_parse_query(req, &q, &f, resp) != 0 || fw_parse_granularity(req, &opt.gran, resp) != 0 ||
        fw_parse_size(req, "maxNodes", 1024, FW_MAX_TREE_NODES, &opt.max_nodes, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "folded", "pprof", "speedscope", "svg", NULL};
    int fmt;
    if (fw_parse_format(req, fmts, &fmt, resp) != 0)
        return;
    if (fw_explain(req)) {
        fw_send_sql_only(s, FW_STORE_SQL_TREE, &q, NULL, 0, NULL, resp);
        return;
    }
    fw_store_tree t = {0};
    fw_store_status st = fw_store_tree_query(s->store, &q, &opt, &t);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    if (fmt >= 3) {
        fw_buf b = {0};
        int rc = fw_render_export(&t, q.type, t.unit, q.app, fmt == 4, &b);
        fw_store_tree_free(&t);
        fw_send_rendered(resp, rc, &b, fmt == 4 ? "image/svg+xml; charset=utf-8" : "application/json");
        return;
    }
    if (fmt) {
        fw_buf b = {0};
        int rc = fmt == 1 ? fw_render_folded(&t, &b) : fw_render_pprof(&t, q.type, t.unit, q.from, q.until, &b);
        fw_store_tree_free(&t);
        fw_send_rendered(resp, rc, &b, fmt == 1 ? "text/plain; charset=utf-8" : "application/octet-stream");
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_query_header(&j, &q, t.unit);
    fw_json_kv_str(&j, "granularity", opt.gran == FW_STORE_GRAN_LINE ? "line" : "function");
    fw_json_kv_int(&j, "total", t.nnodes ? t.nodes[0].total : 0);
    fw_json_key(&j, "nodes");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < t.nnodes; i++) {
        const fw_store_node *n = &t.nodes[i];
        fw_json_obj_begin(&j);
        fw_node_common(&j, n->parent, n->depth, n->name, n->file, n->line, n->is_other);
        fw_json_kv_int(&j, "self", n->self);
        fw_json_kv_int(&j, "total", n->total);
        fw_json_kv_int(&j, "countSelf", n->count_self);
        fw_json_kv_int(&j, "countTotal", n->count_total);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "sql", t.sql);
    fw_json_obj_end(&j);
    fw_store_tree_free(&t);
    fw_http_json(resp, 200, &j);
}

/* ---- GET /api/v1/table ---- */

static int fw_parse_sort(const fw_http_req *req, fw_store_sort *out, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, "sort");
    *out = FW_STORE_SORT_SELF;
    if (!v || strcmp(v, "self") == 0)
        return 0;
    if (strcmp(v, "total") == 0)
        *out = FW_STORE_SORT_TOTAL;
    else if (strcmp(v, "name") == 0)
        *out = FW_STORE_SORT_NAME;
    else {
        fw_http_error(resp, 400, "sort: '%.32s' (expected self, total or name)", v);
        return -1;
    }
    return 0;
}

static void fw_h_table(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    fw_store_table_opts opt = {0};
    if (fw_parse_query(req, &q, &f, resp) != 0 || fw_parse_granularity(req, &opt.gran, resp) != 0 ||
        fw_parse_sort(req, &opt.sort, resp) != 0 || fw_parse_size(req, "limit", 0, 1000000, &opt.limit, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "text", NULL};
    int fmt, human;
    if (fw_parse_format(req, fmts, &fmt, resp) != 0 || (human = fw_parse_units(req, resp)) < 0)
        return;
    if (fw_explain(req)) {
        fw_send_sql_only(s, FW_STORE_SQL_TABLE, &q, NULL, 0, &opt, resp);
        return;
    }
    fw_store_table t = {0};
    fw_store_status st = fw_store_table_query(s->store, &q, &opt, &t);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    if (fmt) {
        fw_buf b = {0};
        int rc = human ? fw_render_table_human(&t, &b) : fw_render_table_text(&t, &b);
        fw_store_table_free(&t);
        fw_send_rendered(resp, rc, &b, "text/plain; charset=utf-8");
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_query_header(&j, &q, t.unit);
    fw_json_kv_str(&j, "granularity", opt.gran == FW_STORE_GRAN_LINE ? "line" : "function");
    fw_json_kv_int(&j, "total", t.grand_total);
    fw_json_key(&j, "rows");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < t.nrows; i++) {
        const fw_store_row *r = &t.rows[i];
        fw_json_obj_begin(&j);
        fw_json_kv_str(&j, "name", r->name);
        fw_json_kv_str(&j, "file", r->file ? r->file : "");
        fw_json_kv_int(&j, "line", r->line);
        fw_json_kv_int(&j, "self", r->self);
        fw_json_kv_int(&j, "total", r->total);
        fw_json_kv_int(&j, "countSelf", r->count_self);
        fw_json_kv_int(&j, "countTotal", r->count_total);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "sql", t.sql);
    fw_json_obj_end(&j);
    fw_store_table_free(&t);
    fw_http_json(resp, 200, &j);
}

/* ---- GET /api/v1/diff ---- */

/* Baseline: baseFrom/baseTo (default: the comparison range), baseLabel (default: label). */
static int fw_parse_baseline(const fw_http_req *req, const fw_store_query *cmp, fw_store_query *base,
                             fw_filters *bf, fw_http_resp *resp)
{
    *base = *cmp;
    const char *bfrom = fw_http_arg(req, "baseFrom"), *bto = fw_http_arg(req, "baseTo");
    if (!bto)
        bto = fw_http_arg(req, "baseUntil");
    size_t nbl = 0;
    if (fw_parse_filters(req, "baseLabel", bf, &nbl, resp) != 0)
        return -1;
    if (!bfrom && !bto && nbl == 0) {
        fw_http_error(resp, 400, "diff needs a baseline: baseFrom/baseTo (a past range) and/or baseLabel=KEY=VALUE");
        return -1;
    }
    if ((bfrom && fw_time_parse(bfrom, req->now, &base->from) != 0) ||
        (bto && fw_time_parse(bto, req->now, &base->until) != 0)) {
        fw_http_error(resp, 400, "baseFrom/baseTo: not a time (unix seconds, RFC 3339, 'now' or 'now-15m')");
        return -1;
    }
    if (bto)
        base->until += 1;   /* inclusive, as for 'to' */
    if (base->until <= base->from) {
        fw_http_error(resp, 400, "the baseline range is empty");
        return -1;
    }
    if (nbl) {
        base->filters = bf->labels;
        base->nfilters = nbl;
    }
    return 0;
}

static void fw_h_diff(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q, base;
    fw_filters f, bf;
    f.used = bf.used = 0;
    fw_store_tree_opts opt = {0};
    if (fw_parse_query(req, &q, &f, resp) != 0 || fw_parse_baseline(req, &q, &base, &bf, resp) != 0 ||
        fw_parse_granularity(req, &opt.gran, resp) != 0 ||
        fw_parse_size(req, "maxNodes", 1024, FW_MAX_TREE_NODES, &opt.max_nodes, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "text", NULL};
    int fmt, human;
    if (fw_parse_format(req, fmts, &fmt, resp) != 0 || (human = fw_parse_units(req, resp)) < 0)
        return;
    if (fw_explain(req)) {
        fw_send_sql_only(s, FW_STORE_SQL_DIFF, &base, &q, 0, NULL, resp);
        return;
    }
    fw_store_diff d = {0};
    fw_store_status st = fw_store_diff_query(s->store, &base, &q, &opt, &d);
    if (st != FW_STORE_OK) {
        fw_store_error(s, resp, st, NULL);
        return;
    }
    if (fmt) {
        fw_buf b = {0};
        int rc = human ? fw_render_diff_human(&d, &b) : fw_render_diff_text(&d, &b);
        fw_store_diff_free(&d);
        fw_send_rendered(resp, rc, &b, "text/plain; charset=utf-8");
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_query_header(&j, &q, d.unit);
    fw_json_key(&j, "baseline");
    fw_json_obj_begin(&j);
    fw_query_header(&j, &base, d.unit);
    fw_json_obj_end(&j);
    fw_json_kv_double(&j, "zThreshold", FW_STORE_Z_SIGNIFICANT);
    fw_json_key(&j, "nodes");
    fw_json_arr_begin(&j);
    for (size_t i = 0; i < d.nnodes; i++) {
        const fw_store_diff_node *n = &d.nodes[i];
        fw_json_obj_begin(&j);
        fw_node_common(&j, n->parent, n->depth, n->name, n->file, n->line, n->is_other);
        fw_json_kv_int(&j, "baseSelf", n->base_self);
        fw_json_kv_int(&j, "baseTotal", n->base_total);
        fw_json_kv_int(&j, "cmpSelf", n->cmp_self);
        fw_json_kv_int(&j, "cmpTotal", n->cmp_total);
        fw_json_kv_int(&j, "baseCount", n->base_count);
        fw_json_kv_int(&j, "cmpCount", n->cmp_count);
        fw_json_kv_double(&j, "baseShare", n->base_share);
        fw_json_kv_double(&j, "cmpShare", n->cmp_share);
        fw_json_kv_double(&j, "z", n->z);
        fw_json_kv_int(&j, "significant", n->significant);
        fw_json_obj_end(&j);
    }
    fw_json_arr_end(&j);
    fw_json_kv_str(&j, "sql", d.sql);
    fw_json_obj_end(&j);
    fw_store_diff_free(&d);
    fw_http_json(resp, 200, &j);
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
            fw_http_error(resp, fw_status_http(st), "%s%s", st == FW_STORE_ERR_DENIED ? "read-only SQL: " : "", err);
        else
            fw_store_error(s, resp, st, err);
        return;
    }
    if (tsv) {
        fw_buf b = {0};
        int rc = fw_render_sql_tsv(&r, &b);
        fw_store_sql_result_free(&r);
        fw_send_rendered(resp, rc, &b, "text/tab-separated-values; charset=utf-8");
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
        fw_store_error(s, resp, rc, NULL);
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
        fw_store_error(s, resp, rc, NULL);
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
        fw_store_error(s, resp, rc, rc == FW_STORE_ERR_BUSY ? "the write lock stayed taken; retry later" : NULL);
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
    fw_store_ingest_req sreq = {b.app, b.profile, b.from, b.tags, b.ntags};
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
            fw_store_error(s, resp, st, err);
        return;
    }
    atomic_fetch_add_explicit(&s->metrics.uploads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.upload_bytes, req->body_len, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.stack_values, res.stack_values, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.agent_dropped, dropped, memory_order_relaxed);
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "app", b.app);
    fw_json_kv_str(&j, "format", b.format);
    fw_json_kv_int(&j, "from", b.from);
    fw_json_kv_int(&j, "until", b.until);
    fw_json_kv_int(&j, "stack_values", (int64_t)res.stack_values);
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
