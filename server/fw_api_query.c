/*
 * fw_api_query: the query endpoints (apps, labels, trend, flamegraph, table, diff). Each parses
 * its own parameters and hands fw_ep_answer() (fw_endpoint.h) its store call, its JSON members
 * and, for other formats than JSON, its renderer; explain=sql, store errors, the query header,
 * the `sql` member and sending are done there, once for all of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_api_impl.h"
#include "fw_endpoint.h"
#include "fw_render.h"
#include "fw_util.h"

#define FW_MAX_TREE_NODES 2000000

/* ---- GET /api/v1/apps ---- */

static fw_store_status fw_apps_run(fw_server *s, fw_ep_call *c)
{
    fw_store_apps *a = c->self;
    fw_store_status st = fw_store_list_apps(s->store, a);
    c->sql = a->sql;
    return st;
}

static void fw_apps_json(fw_json *j, const fw_ep_call *c)
{
    const fw_store_apps *a = c->self;
    fw_json_key(j, "apps");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < a->napps; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "name", a->apps[i].app);
        fw_json_key(j, "types");
        fw_json_arr_begin(j);
        for (size_t t = 0; t < a->apps[i].ntypes; t++) {
            fw_json_obj_begin(j);
            fw_json_kv_str(j, "type", a->apps[i].types[t].type);
            fw_json_kv_str(j, "unit", a->apps[i].types[t].unit);
            fw_json_kv_str(j, "description", a->apps[i].types[t].description);
            fw_json_obj_end(j);
        }
        fw_json_arr_end(j);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_apps_free(fw_ep_call *c) { fw_store_apps_free(c->self); }

void fw_h_apps(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_apps a = {0};
    fw_ep_call c = {.run = fw_apps_run, .json = fw_apps_json, .free = fw_apps_free, .self = &a};
    fw_ep_answer(s, req, &c, resp);
}

/* ---- GET /api/v1/labels ---- */

typedef struct {
    const fw_store_query *q;
    fw_store_labels l;
} fw_labels_call;

static fw_store_status fw_labels_run(fw_server *s, fw_ep_call *c)
{
    fw_labels_call *x = c->self;
    fw_store_status st = fw_store_label_values(s->store, x->q, &x->l);
    c->sql = x->l.sql;
    return st;
}

static void fw_labels_json(fw_json *j, const fw_ep_call *c)
{
    const fw_store_labels *l = &((const fw_labels_call *)c->self)->l;
    fw_json_key(j, "labels");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < l->nkeys; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "key", l->keys[i].key);
        fw_json_key(j, "values");
        fw_json_arr_begin(j);
        for (size_t v = 0; v < l->keys[i].nvalues; v++)
            fw_json_str(j, l->keys[i].values[v]);
        fw_json_arr_end(j);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_labels_free(fw_ep_call *c) { fw_store_labels_free(&((fw_labels_call *)c->self)->l); }

void fw_h_labels(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    if (fw_ep_query(req, &q, &f, resp) != 0)
        return;
    fw_labels_call x = {&q, {0}};
    fw_ep_call c = {.q = &q, .explain = 1, .kind = FW_STORE_SQL_LABELS, .sql_q = &q,
                    .run = fw_labels_run, .json = fw_labels_json, .free = fw_labels_free, .self = &x};
    fw_ep_answer(s, req, &c, resp);
}

/* ---- GET /api/v1/trend ---- */

typedef struct {
    const fw_store_query *q;
    int64_t step;
    fw_store_trend t;
} fw_trend_call;

static fw_store_status fw_trend_run(fw_server *s, fw_ep_call *c)
{
    fw_trend_call *x = c->self;
    fw_store_status st = fw_store_trend_query(s->store, x->q, x->step, &x->t);
    c->unit = x->t.unit;
    c->sql = x->t.sql;
    return st;
}

static void fw_trend_json(fw_json *j, const fw_ep_call *c)
{
    const fw_store_trend *t = &((const fw_trend_call *)c->self)->t;
    fw_json_kv_int(j, "step", t->step_s);
    int64_t total = 0;
    fw_json_key(j, "points");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < t->npoints; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_int(j, "t", t->points[i].t);
        fw_json_kv_int(j, "value", t->points[i].value);
        fw_json_kv_int(j, "count", t->points[i].count);
        fw_json_obj_end(j);
        total = t->points[i].value > INT64_MAX - total ? INT64_MAX : total + t->points[i].value;   /* saturates, as the store does */
    }
    fw_json_arr_end(j);
    fw_json_kv_int(j, "total", total);
}

static void fw_trend_free(fw_ep_call *c) { fw_store_trend_free(&((fw_trend_call *)c->self)->t); }

void fw_h_trend(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    if (fw_ep_query(req, &q, &f, resp) != 0)
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
    fw_trend_call x = {&q, step, {0}};
    fw_ep_call c = {.q = &q, .explain = 1, .kind = FW_STORE_SQL_TREND, .sql_q = &q, .step = step,
                    .run = fw_trend_run, .json = fw_trend_json, .free = fw_trend_free, .self = &x};
    fw_ep_answer(s, req, &c, resp);
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

typedef struct {
    const fw_store_query *q;
    fw_store_tree_opts opt;
    int fmt;                 /* json, folded, pprof, speedscope, svg */
    fw_store_tree t;
} fw_flame_call;

static fw_store_status fw_flame_run(fw_server *s, fw_ep_call *c)
{
    fw_flame_call *x = c->self;
    fw_store_status st = fw_store_tree_query(s->store, x->q, &x->opt, &x->t);
    c->unit = x->t.unit;
    c->sql = x->t.sql;
    return st;
}

static int fw_flame_render(fw_ep_call *c, fw_http_resp *resp)
{
    fw_flame_call *x = c->self;
    const fw_store_query *q = x->q;
    fw_buf b = {0};
    int rc;
    if (x->fmt >= 3) {
        rc = fw_render_export(&x->t, q->type, x->t.unit, q->app, x->fmt == 4, &b);
        fw_ep_send_rendered(resp, rc, &b, x->fmt == 4 ? "image/svg+xml; charset=utf-8" : "application/json");
        return 1;
    }
    if (x->fmt) {
        rc = x->fmt == 1 ? fw_render_folded(&x->t, &b) : fw_render_pprof(&x->t, q->type, x->t.unit, q->from, q->until, &b);
        fw_ep_send_rendered(resp, rc, &b, x->fmt == 1 ? "text/plain; charset=utf-8" : "application/octet-stream");
        return 1;
    }
    return 0;
}

static void fw_flame_json(fw_json *j, const fw_ep_call *c)
{
    const fw_flame_call *x = c->self;
    const fw_store_tree *t = &x->t;
    fw_json_kv_str(j, "granularity", x->opt.gran == FW_STORE_GRAN_LINE ? "line" : "function");
    fw_json_kv_int(j, "total", t->nnodes ? t->nodes[0].total : 0);
    fw_json_key(j, "nodes");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < t->nnodes; i++) {
        const fw_store_node *n = &t->nodes[i];
        fw_json_obj_begin(j);
        fw_node_common(j, n->parent, n->depth, n->name, n->file, n->line, n->is_other);
        fw_json_kv_int(j, "self", n->self);
        fw_json_kv_int(j, "total", n->total);
        fw_json_kv_int(j, "countSelf", n->count_self);
        fw_json_kv_int(j, "countTotal", n->count_total);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_flame_free(fw_ep_call *c) { fw_store_tree_free(&((fw_flame_call *)c->self)->t); }

void fw_h_flame(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    fw_flame_call x = {&q, {0}, 0, {0}};
    if (fw_ep_query(req, &q, &f, resp) != 0 || fw_ep_granularity(req, &x.opt.gran, resp) != 0 ||
        fw_ep_size(req, "maxNodes", 1024, FW_MAX_TREE_NODES, &x.opt.max_nodes, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "folded", "pprof", "speedscope", "svg", NULL};
    if (fw_ep_format(req, fmts, &x.fmt, resp) != 0)
        return;
    fw_ep_call c = {.q = &q, .explain = 1, .kind = FW_STORE_SQL_TREE, .sql_q = &q, .run = fw_flame_run,
                    .render = fw_flame_render, .json = fw_flame_json, .free = fw_flame_free, .self = &x};
    fw_ep_answer(s, req, &c, resp);
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

typedef struct {
    const fw_store_query *q;
    fw_store_table_opts opt;
    int fmt, human;          /* fmt: json, text */
    fw_store_table t;
} fw_table_call;

static fw_store_status fw_table_run(fw_server *s, fw_ep_call *c)
{
    fw_table_call *x = c->self;
    fw_store_status st = fw_store_table_query(s->store, x->q, &x->opt, &x->t);
    c->unit = x->t.unit;
    c->sql = x->t.sql;
    return st;
}

static int fw_table_render(fw_ep_call *c, fw_http_resp *resp)
{
    fw_table_call *x = c->self;
    if (!x->fmt)
        return 0;
    fw_buf b = {0};
    int rc = x->human ? fw_render_table_human(&x->t, &b) : fw_render_table_text(&x->t, &b);
    fw_ep_send_rendered(resp, rc, &b, "text/plain; charset=utf-8");
    return 1;
}

static void fw_table_json(fw_json *j, const fw_ep_call *c)
{
    const fw_table_call *x = c->self;
    const fw_store_table *t = &x->t;
    fw_json_kv_str(j, "granularity", x->opt.gran == FW_STORE_GRAN_LINE ? "line" : "function");
    fw_json_kv_int(j, "total", t->grand_total);
    fw_json_key(j, "rows");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < t->nrows; i++) {
        const fw_store_row *r = &t->rows[i];
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "name", r->name);
        fw_json_kv_str(j, "file", r->file ? r->file : "");
        fw_json_kv_int(j, "line", r->line);
        fw_json_kv_int(j, "self", r->self);
        fw_json_kv_int(j, "total", r->total);
        fw_json_kv_int(j, "countSelf", r->count_self);
        fw_json_kv_int(j, "countTotal", r->count_total);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_table_free(fw_ep_call *c) { fw_store_table_free(&((fw_table_call *)c->self)->t); }

void fw_h_table(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q;
    fw_filters f;
    f.used = 0;
    fw_table_call x = {&q, {0}, 0, 0, {0}};
    if (fw_ep_query(req, &q, &f, resp) != 0 || fw_ep_granularity(req, &x.opt.gran, resp) != 0 ||
        fw_parse_sort(req, &x.opt.sort, resp) != 0 || fw_ep_size(req, "limit", 0, 1000000, &x.opt.limit, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "text", NULL};
    if (fw_ep_format(req, fmts, &x.fmt, resp) != 0 || (x.human = fw_ep_units(req, resp)) < 0)
        return;
    fw_ep_call c = {.q = &q, .explain = 1, .kind = FW_STORE_SQL_TABLE, .sql_q = &q, .table_opts = &x.opt,
                    .run = fw_table_run, .render = fw_table_render, .json = fw_table_json,
                    .free = fw_table_free, .self = &x};
    fw_ep_answer(s, req, &c, resp);
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
    if (fw_ep_filters(req, "baseLabel", bf, &nbl, resp) != 0)
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

typedef struct {
    const fw_store_query *q, *base;
    fw_store_tree_opts opt;
    int fmt, human;          /* fmt: json, text */
    fw_store_diff d;
} fw_diff_call;

static fw_store_status fw_diff_run(fw_server *s, fw_ep_call *c)
{
    fw_diff_call *x = c->self;
    fw_store_status st = fw_store_diff_query(s->store, x->base, x->q, &x->opt, &x->d);
    c->unit = x->d.unit;
    c->sql = x->d.sql;
    return st;
}

static int fw_diff_render(fw_ep_call *c, fw_http_resp *resp)
{
    fw_diff_call *x = c->self;
    if (!x->fmt)
        return 0;
    fw_buf b = {0};
    int rc = x->human ? fw_render_diff_human(&x->d, &b) : fw_render_diff_text(&x->d, &b);
    fw_ep_send_rendered(resp, rc, &b, "text/plain; charset=utf-8");
    return 1;
}

static void fw_diff_json(fw_json *j, const fw_ep_call *c)
{
    const fw_diff_call *x = c->self;
    const fw_store_diff *d = &x->d;
    fw_json_key(j, "baseline");
    fw_json_obj_begin(j);
    fw_ep_query_header(j, x->base, d->unit);
    fw_json_obj_end(j);
    fw_json_kv_double(j, "zThreshold", FW_STORE_Z_SIGNIFICANT);
    fw_json_key(j, "nodes");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < d->nnodes; i++) {
        const fw_store_diff_node *n = &d->nodes[i];
        fw_json_obj_begin(j);
        fw_node_common(j, n->parent, n->depth, n->name, n->file, n->line, n->is_other);
        fw_json_kv_int(j, "baseSelf", n->base_self);
        fw_json_kv_int(j, "baseTotal", n->base_total);
        fw_json_kv_int(j, "cmpSelf", n->cmp_self);
        fw_json_kv_int(j, "cmpTotal", n->cmp_total);
        fw_json_kv_int(j, "baseCount", n->base_count);
        fw_json_kv_int(j, "cmpCount", n->cmp_count);
        fw_json_kv_double(j, "baseShare", n->base_share);
        fw_json_kv_double(j, "cmpShare", n->cmp_share);
        fw_json_kv_double(j, "z", n->z);
        fw_json_kv_int(j, "significant", n->significant);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_diff_free(fw_ep_call *c) { fw_store_diff_free(&((fw_diff_call *)c->self)->d); }

void fw_h_diff(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q, base;
    fw_filters f, bf;
    f.used = bf.used = 0;
    fw_diff_call x = {&q, &base, {0}, 0, 0, {0}};
    if (fw_ep_query(req, &q, &f, resp) != 0 || fw_parse_baseline(req, &q, &base, &bf, resp) != 0 ||
        fw_ep_granularity(req, &x.opt.gran, resp) != 0 ||
        fw_ep_size(req, "maxNodes", 1024, FW_MAX_TREE_NODES, &x.opt.max_nodes, resp) != 0)
        return;
    static const char *const fmts[] = {"json", "text", NULL};
    if (fw_ep_format(req, fmts, &x.fmt, resp) != 0 || (x.human = fw_ep_units(req, resp)) < 0)
        return;
    fw_ep_call c = {.q = &q, .explain = 1, .kind = FW_STORE_SQL_DIFF, .sql_q = &base, .sql_cmp = &q,
                    .run = fw_diff_run, .render = fw_diff_render, .json = fw_diff_json,
                    .free = fw_diff_free, .self = &x};
    fw_ep_answer(s, req, &c, resp);
}
