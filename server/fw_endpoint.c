/*
 * fw_endpoint.c: the query endpoints' shared steps (fw_endpoint.h) and fw_ep_answer(), the
 * sequence they run. Parameters are validated before the store is touched, with messages that
 * name the parameter and the accepted forms; store errors map to HTTP by kind.
 */
#include "fw_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_util.h"

int fw_ep_status_http(fw_store_status st)
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

void fw_ep_store_error(const fw_server *s, fw_http_resp *resp, fw_store_status st, const char *detail)
{
    /* BUSY with nothing more to say comes from the query pool (fw_store.h): name the wait. */
    char busy[160];
    if (st == FW_STORE_ERR_BUSY && !(detail && *detail)) {
        snprintf(busy, sizeof busy, "no read connection came free within %d ms (too many queries at once);"
                 " retry later", fw_reader_wait_ms(s));
        detail = busy;
    }
    fw_http_error(resp, fw_ep_status_http(st), "%s%s%s", fw_store_strerror(st), detail && *detail ? ": " : "",
                  detail ? detail : "");
}

/* Splits repeated `NAME=KEY=VALUE` parameters into labels. */
int fw_ep_filters(const fw_http_req *req, const char *param, fw_filters *f, size_t *n, fw_http_resp *resp)
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

static int fw_ep_time_arg(const fw_http_req *req, const char *name, const char *alias, const char *dflt,
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
int fw_ep_query(const fw_http_req *req, fw_store_query *q, fw_filters *f, fw_http_resp *resp)
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
    if (fw_ep_time_arg(req, "from", NULL, "now-15m", &q->from, resp) != 0 ||
        fw_ep_time_arg(req, "to", "until", "now", &q->until, resp) != 0)
        return -1;
    /* 'to' is inclusive to the second: an upload stamped in the current second belongs to a
     * query that ends "now". The store's ranges are half-open, hence the +1. */
    q->until += 1;
    if (q->until <= q->from) {
        fw_http_error(resp, 400, "the range is empty: 'to' (%lld) must be after 'from' (%lld)",
                      (long long)q->until, (long long)q->from);
        return -1;
    }
    if (fw_ep_filters(req, "label", f, &q->nfilters, resp) != 0)
        return -1;
    q->filters = f->labels;
    return 0;
}

static int fw_ep_explain(const fw_http_req *req)
{
    const char *e = fw_http_arg(req, "explain");
    return e && strcmp(e, "sql") == 0;
}

/* Sends a rendered buffer (ownership moves to the response), or 500 if rendering failed. */
void fw_ep_send_rendered(fw_http_resp *resp, int rc, fw_buf *b, const char *ctype)
{
    if (rc != 0) {
        fw_buf_free(b);
        fw_http_error(resp, 500, "cannot render the result (out of memory)");
        return;
    }
    fw_http_text(resp, 200, ctype, (char *)b->data, b->len);
}

int fw_ep_format(const fw_http_req *req, const char *const *choices, int *out, fw_http_resp *resp)
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
int fw_ep_units(const fw_http_req *req, fw_http_resp *resp)
{
    const char *v = fw_http_arg(req, "units");
    if (!v || strcmp(v, "raw") == 0)
        return 0;
    if (strcmp(v, "human") == 0)
        return 1;
    fw_http_error(resp, 400, "units: '%.32s' (expected raw or human)", v);
    return -1;
}

static void fw_ep_sql_only(fw_server *s, fw_store_sql_kind kind, const fw_store_query *q,
                             const fw_store_query *cmp, int64_t step, const fw_store_table_opts *to,
                             fw_http_resp *resp)
{
    char *sql = NULL;
    fw_store_status st = fw_store_sql_text(s->store, kind, q, cmp, step, to, &sql);
    if (st != FW_STORE_OK) {
        fw_ep_store_error(s, resp, st, NULL);
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

void fw_ep_query_header(fw_json *j, const fw_store_query *q, const char *unit)
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

int fw_ep_granularity(const fw_http_req *req, fw_store_granularity *g, fw_http_resp *resp)
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

int fw_ep_size(const fw_http_req *req, const char *name, size_t dflt, size_t max, size_t *out,
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

void fw_ep_answer(fw_server *s, const fw_http_req *req, fw_ep_call *c, fw_http_resp *resp)
{
    if (c->explain && fw_ep_explain(req)) {
        fw_ep_sql_only(s, c->kind, c->sql_q, c->sql_cmp, c->step, c->table_opts, resp);
        return;
    }
    fw_store_status st = c->run(s, c);
    if (st != FW_STORE_OK) {
        fw_ep_store_error(s, resp, st, NULL);
        return;
    }
    if (c->render && c->render(c, resp)) {
        c->free(c);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    if (c->q)
        fw_ep_query_header(&j, c->q, c->unit);
    c->json(&j, c);
    fw_json_kv_str(&j, "sql", c->sql);
    fw_json_obj_end(&j);
    c->free(c);
    fw_http_json(resp, 200, &j);
}
