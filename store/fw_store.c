/*
 * fw_store.c: the backend-neutral half of the store.
 *
 * The store interface is a handle whose first member points at a table of operations, the
 * way a C library offers several implementations behind one API without the caller knowing
 * which one it holds. This file is the only place that dereferences that table: each public
 * fw_store_* function checks its arguments once, here, and forwards. Backends can then assume
 * non-NULL handles and output structs, and the HTTP server never includes a backend header.
 *
 * It also holds what every backend shares and that does not depend on storage: the freeing of
 * result structs (their layout is defined by fw_store.h, not by a backend, so a result from any
 * backend is freed the same way), the human descriptions of profile types, and the default agent
 * settings. Result structs are zeroed before a backend fills them, so that an error path that
 * bails out halfway leaves something the caller can always pass to *_free().
 */
#include "fw_store.h"
#include "fw_store_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_store_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above; analyzer false positive */
    va_end(ap);
}

char *fw_store_strdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

const char *fw_store_strerror(fw_store_status s)
{
    switch (s) {
    case FW_STORE_OK: return "ok";
    case FW_STORE_ERR_NOMEM: return "out of memory";
    case FW_STORE_ERR_INVALID: return "invalid input";
    case FW_STORE_ERR_NOTFOUND: return "not found";
    case FW_STORE_ERR_DENIED: return "statement not allowed (read-only SQL)";
    case FW_STORE_ERR_TIMEOUT: return "query time limit exceeded";
    case FW_STORE_ERR_IO: return "database error";
    case FW_STORE_ERR_BUSY: return "database busy";
    case FW_STORE_ERR_TOOBIG: return "result too large";
    }
    return "unknown store error";
}

/* Descriptions come from PRODUCT.md's table of profile types; other agents (Pyroscope, Go)
 * send their own types, which get a generic sentence rather than nothing. */
const char *fw_store_type_description(const char *type)
{
    static const struct { const char *type, *desc; } known[] = {
        {"cpu", "CPU time per stack"},
        {"wall", "Wall-clock time per stack, idle threads included"},
        {"alloc_space", "Allocated bytes per stack"},
        {"alloc_objects", "Allocated objects per stack"},
        {"inuse_space", "Live bytes per stack at snapshot time"},
        {"inuse_objects", "Live objects per stack at snapshot time"},
        {"gil_hold", "Time per stack that kept the GIL while other threads waited for it"},
        {"gil_wait", "GIL hold time per stack times the number of threads that waited"},
        {"samples", "Number of samples per stack"},
    };
    if (type)
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(type, known[i].type) == 0)
                return known[i].desc;
    return "Profile values per stack (type reported by the agent)";
}

void fw_store_settings_default(fw_store_settings *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    st->enabled = 1;
    st->cpu = 1;
    st->cpu_interval_ms = 10;
    st->wall = 0;
    st->memory = 0;
    st->memory_threshold_kb = 1024;
    st->updated_at = 0;
}

/* ---------------------------------------------------------------- dispatch */

void fw_store_close(fw_store *s)
{
    if (s)
        s->ops->close(s);
}

static void fw_store_seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) {
        size_t n = strlen(msg);
        if (n >= errlen)
            n = errlen - 1;
        memcpy(err, msg, n);
        err[n] = '\0';
    }
}

fw_store_status fw_store_ingest(fw_store *s, const fw_store_ingest_req *req,
                                fw_store_ingest_result *res, char *err, size_t errlen)
{
    fw_store_ingest_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    if (!s || !req || !req->profile || !req->app || (req->nlabels && !req->labels)) {
        fw_store_seterr(err, errlen, "missing app or profile");
        return FW_STORE_ERR_INVALID;
    }
    return s->ops->ingest(s, req, res, err, errlen);
}

fw_store_status fw_store_maintain(fw_store *s, int64_t now_s)
{
    if (!s)
        return FW_STORE_ERR_INVALID;
    return s->ops->maintain(s, now_s);
}

static int fw_store_query_ok(const fw_store_query *q)
{
    return q && q->app && q->type && q->from < q->until && (q->nfilters == 0 || q->filters);
}

fw_store_status fw_store_list_apps(fw_store *s, fw_store_apps *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s)
        return FW_STORE_ERR_INVALID;
    return s->ops->list_apps(s, out);
}

fw_store_status fw_store_label_values(fw_store *s, const fw_store_query *q, fw_store_labels *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !fw_store_query_ok(q))
        return FW_STORE_ERR_INVALID;
    return s->ops->label_values(s, q, out);
}

fw_store_status fw_store_trend_query(fw_store *s, const fw_store_query *q, int64_t step_s,
                                     fw_store_trend *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !fw_store_query_ok(q) || step_s < 0)
        return FW_STORE_ERR_INVALID;
    return s->ops->trend(s, q, step_s, out);
}

fw_store_status fw_store_tree_query(fw_store *s, const fw_store_query *q,
                                    const fw_store_tree_opts *opt, fw_store_tree *out)
{
    fw_store_tree_opts def = {FW_STORE_GRAN_FUNCTION, 0};
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !fw_store_query_ok(q))
        return FW_STORE_ERR_INVALID;
    return s->ops->tree(s, q, opt ? opt : &def, out);
}

fw_store_status fw_store_table_query(fw_store *s, const fw_store_query *q,
                                     const fw_store_table_opts *opt, fw_store_table *out)
{
    fw_store_table_opts def = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !fw_store_query_ok(q))
        return FW_STORE_ERR_INVALID;
    return s->ops->table(s, q, opt ? opt : &def, out);
}

fw_store_status fw_store_diff_query(fw_store *s, const fw_store_query *base, const fw_store_query *cmp,
                                    const fw_store_tree_opts *opt, fw_store_diff *out)
{
    fw_store_tree_opts def = {FW_STORE_GRAN_FUNCTION, 0};
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !fw_store_query_ok(base) || !fw_store_query_ok(cmp))
        return FW_STORE_ERR_INVALID;
    return s->ops->diff(s, base, cmp, opt ? opt : &def, out);
}

fw_store_status fw_store_sql_text(fw_store *s, fw_store_sql_kind kind, const fw_store_query *q,
                                  const fw_store_query *cmp, int64_t step_s,
                                  const fw_store_table_opts *table_opts, char **out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    *out = NULL;
    if (!s)
        return FW_STORE_ERR_INVALID;
    if (kind != FW_STORE_SQL_APPS && !fw_store_query_ok(q))
        return FW_STORE_ERR_INVALID;
    if (kind == FW_STORE_SQL_DIFF && !fw_store_query_ok(cmp))
        return FW_STORE_ERR_INVALID;
    return s->ops->sql_text(s, kind, q, cmp, step_s, table_opts, out);
}

fw_store_status fw_store_sql_run(fw_store *s, const char *sql, const fw_store_sql_limits *lim,
                                 fw_store_sql_result *out, char *err, size_t errlen)
{
    fw_store_sql_limits def = {0};
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !sql) {
        fw_store_seterr(err, errlen, "no SQL given");
        return FW_STORE_ERR_INVALID;
    }
    return s->ops->sql_run(s, sql, lim ? lim : &def, out, err, errlen);
}

fw_store_status fw_store_settings_get(fw_store *s, const char *app, fw_store_settings *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    fw_store_settings_default(out);
    if (!s || !app)
        return FW_STORE_ERR_INVALID;
    return s->ops->settings_get(s, app, out);
}

fw_store_status fw_store_settings_put(fw_store *s, const char *app, const fw_store_settings *st,
                                      int64_t now_s)
{
    if (!s || !app || !*app || !st)
        return FW_STORE_ERR_INVALID;
    if ((st->enabled != 0 && st->enabled != 1) || (st->cpu != 0 && st->cpu != 1) ||
        (st->wall != 0 && st->wall != 1) || (st->memory != 0 && st->memory != 1) ||
        st->cpu_interval_ms < 1 || st->cpu_interval_ms > 1000 ||
        st->memory_threshold_kb < 1 || st->memory_threshold_kb > 1024 * 1024)
        return FW_STORE_ERR_INVALID;
    return s->ops->settings_put(s, app, st, now_s);
}

fw_store_status fw_store_agent_seen(fw_store *s, const char *app, const char *host, int64_t pid,
                                    int64_t settings_updated_at, int64_t now_s)
{
    if (!s || !app || !host)
        return FW_STORE_ERR_INVALID;
    return s->ops->agent_seen(s, app, host, pid, settings_updated_at, now_s);
}

fw_store_status fw_store_agents_list(fw_store *s, const char *app, fw_store_agents *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s || !app)
        return FW_STORE_ERR_INVALID;
    return s->ops->agents_list(s, app, out);
}

fw_store_status fw_store_get_stats(fw_store *s, fw_store_stats *out)
{
    if (!out)
        return FW_STORE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!s)
        return FW_STORE_ERR_INVALID;
    return s->ops->stats(s, out);
}

/* ---------------------------------------------------------------- freeing results */

void fw_store_apps_free(fw_store_apps *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->napps; i++) {
        for (size_t j = 0; j < a->apps[i].ntypes; j++) {
            free(a->apps[i].types[j].type);
            free(a->apps[i].types[j].unit);
            free(a->apps[i].types[j].description);
        }
        free(a->apps[i].types);
        free(a->apps[i].app);
    }
    free(a->apps);
    free(a->sql);
    memset(a, 0, sizeof *a);
}

void fw_store_labels_free(fw_store_labels *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nkeys; i++) {
        for (size_t j = 0; j < l->keys[i].nvalues; j++)
            free(l->keys[i].values[j]);
        free(l->keys[i].values);
        free(l->keys[i].key);
    }
    free(l->keys);
    free(l->sql);
    memset(l, 0, sizeof *l);
}

void fw_store_trend_free(fw_store_trend *t)
{
    if (!t)
        return;
    free(t->points);
    free(t->unit);
    free(t->sql);
    memset(t, 0, sizeof *t);
}

void fw_store_tree_free(fw_store_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nnodes; i++) {
        free(t->nodes[i].name);
        free(t->nodes[i].file);
    }
    free(t->nodes);
    free(t->unit);
    free(t->sql);
    memset(t, 0, sizeof *t);
}

void fw_store_table_free(fw_store_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows; i++) {
        free(t->rows[i].name);
        free(t->rows[i].file);
    }
    free(t->rows);
    free(t->unit);
    free(t->sql);
    memset(t, 0, sizeof *t);
}

void fw_store_diff_free(fw_store_diff *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nnodes; i++) {
        free(d->nodes[i].name);
        free(d->nodes[i].file);
    }
    free(d->nodes);
    free(d->unit);
    free(d->sql);
    memset(d, 0, sizeof *d);
}

void fw_store_sql_result_free(fw_store_sql_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncolumns; i++)
        free(r->columns[i]);
    free(r->columns);
    for (size_t i = 0; i < r->nrows * r->ncolumns; i++)
        free(r->cells[i].s);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

void fw_store_agents_free(fw_store_agents *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nagents; i++)
        free(a->agents[i].host);
    free(a->agents);
    memset(a, 0, sizeof *a);
}
