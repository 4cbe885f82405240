/*
 * fw_ch_query.c: the console's queries (the ClickHouse backend).
 *
 * Trees, tables and diffs fetch flat rows and build in C, with the same builders as SQLite
 * (fw_store_tree.c, fw_store_table.c), so both backends answer alike: per-stack sums (stack,
 * value, count) of the range, one scan of the samples; the definitions of those stacks (function
 * ids and lines, root first) and their functions come from fw_ch_dims.c's cache, which fetches by
 * id only what this process has not seen. The stacks become a query-local dimension cache
 * (fw_store_dims.h), a trie with 32-bit ids, which is what the builders read. Trend, labels and
 * the application list run exactly the SQL they show.
 *
 * There is no snapshot across the queries; that is harmless because dimension rows are written
 * before the samples that use them, and ids are content: a stack id read in the sums has its
 * definition in ClickHouse by then, and a definition never changes.
 */
#include "fw_ch.h"

#include "../fw_store_blocks.h"
#include "../fw_store_dims.h"
#include "../fw_store_table.h"
#include "../fw_store_tree.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- fetching */

static fw_store_status fw_ch_unit_read(fw_ch *s, const fw_store_query *q, char **unit);

/* The unit of q's series; NOTFOUND when the (app, type) series does not exist. A series, once
 * seen, is remembered with its unit (the first unit of a series is its unit for good, as in
 * SQLite), which saves a round trip per query. */
static fw_store_status fw_ch_unit(fw_ch *s, const fw_store_query *q, char **unit)
{
    fw_ch_buf key = {0};
    fw_ch_puts(&key, q->app);
    fw_ch_put(&key, "", 1);
    fw_ch_puts(&key, q->type);
    uint64_t h = fw_ch_buf_failed(&key) ? 0 : fw_ch_hash(key.p, key.n, 0x756e6974ull);
    fw_ch_buf_free(&key);
    if (!h)
        return FW_STORE_ERR_NOMEM;
    pthread_mutex_lock(&s->klock);
    uint32_t k = fw_ch_idmap_get(&s->units, h);
    *unit = k ? fw_store_strdup(s->unit_text[k - 1]) : NULL;
    pthread_mutex_unlock(&s->klock);
    if (k)
        return *unit ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
    fw_store_status st = fw_ch_unit_read(s, q, unit);
    if (st != FW_STORE_OK)
        return st;
    pthread_mutex_lock(&s->klock);
    char **nt = fw_ch_idmap_get(&s->units, h) ? NULL : realloc(s->unit_text, (s->nunits + 1) * sizeof *nt);
    if (nt) {
        s->unit_text = nt;
        if ((nt[s->nunits] = fw_store_strdup(*unit)) && fw_ch_idmap_put(&s->units, h, (uint32_t)s->nunits + 1) == 0)
            s->nunits++;
        else
            free(nt[s->nunits]);   /* not remembered: the next query asks again */
    }
    pthread_mutex_unlock(&s->klock);
    return FW_STORE_OK;
}

static fw_store_status fw_ch_unit_read(fw_ch *s, const fw_store_query *q, char **unit)
{
    fw_ch_buf b = {0}, r = {0};
    fw_ch_puts(&b, "SELECT unit FROM series WHERE ");
    fw_ch_sql_where(s, &b, q, 0);
    fw_ch_puts(&b, " LIMIT 1");
    fw_store_status st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_select(s, b.p, &r, NULL, 0);
    if (st == FW_STORE_OK) {
        fw_ch_tsv t = {r.p, r.p + r.n};
        char *f[1];
        if (fw_ch_tsv_row(&t, f, NULL, 1) != 1)
            st = FW_STORE_ERR_NOTFOUND;
        else if (!(*unit = fw_store_strdup(f[0])))
            st = FW_STORE_ERR_NOMEM;
    }
    fw_ch_buf_free(&b);
    fw_ch_buf_free(&r);
    return st;
}

/* Raw per-stack sums of one query: content ids, values, counts. */
typedef struct {
    uint64_t *id;
    int64_t *v, *c;
    size_t n, cap;
} fw_ch_sums;

static void fw_ch_sums_free(fw_ch_sums *x)
{
    free(x->id);
    free(x->v);
    free(x->c);
    memset(x, 0, sizeof *x);
}

static fw_store_status fw_ch_sums_fetch(fw_ch *s, const fw_store_query *q, fw_ch_sums *out)
{
    fw_ch_buf sql = {0}, r = {0};
    fw_ch_sql_rows(s, &sql, q);
    fw_store_status st = fw_ch_buf_nul(&sql) ? FW_STORE_ERR_NOMEM : fw_ch_select(s, sql.p, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[3];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 1024;
            uint64_t *id = realloc(out->id, cap * sizeof *id);
            if (id)
                out->id = id;
            int64_t *v = id ? realloc(out->v, cap * sizeof *v) : NULL;
            if (v)
                out->v = v;
            int64_t *c = v ? realloc(out->c, cap * sizeof *c) : NULL;
            if (!c) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            out->c = c;
            out->cap = cap;
        }
        size_t i = out->n;
        if (nf != 3 || fw_ch_parse_u64(f[0], &out->id[i]) != 0 || fw_ch_parse_i64(f[1], &out->v[i]) != 0 ||
            fw_ch_parse_i64(f[2], &out->c[i]) != 0) {
            st = FW_STORE_ERR_IO;
            break;
        }
        out->n++;
    }
    fw_ch_buf_free(&sql);
    fw_ch_buf_free(&r);
    return st;
}

/* Sums with local stack ids, sorted by stack id, as the builders take them. */
static fw_store_status fw_ch_sums_rows(const fw_ch_sums *x, const fw_ch_idmap *sids, fw_blk_rows *out)
{
    fw_blk_acc acc = {0};
    fw_store_status st = FW_STORE_OK;
    for (size_t i = 0; i < x->n && st == FW_STORE_OK; i++) {
        uint32_t local = fw_ch_idmap_get(sids, x->id[i]);
        if (local && fw_blk_acc_add(&acc, local, x->v[i] < 0 ? 0 : x->v[i], x->c[i] < 0 ? 0 : x->c[i]) != 0)
            st = FW_STORE_ERR_NOMEM;
    }
    free(acc.slot);
    out->v = acc.r.v;
    out->n = acc.r.n;
    out->cap = acc.r.cap;
    if (st == FW_STORE_OK && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, fw_blk_row_stack_cmp);
    return st;
}

/* Everything a tree, table or diff needs: unit, SQL text, the local cache and the rows. One scan of
 * the samples per side; stack definitions come from fw_ch_dims.c's cache. */
static fw_store_status fw_ch_query_rows(fw_ch *s, fw_store_sql_kind kind, const fw_store_query *q,
                                        const fw_store_query *cmp, const fw_store_table_opts *topt, fw_dims *c,
                                        fw_blk_rows *rows, fw_blk_rows *rows2, char **sql, char **unit)
{
    fw_ch_idmap sids = {0};
    fw_ch_sums a = {0}, b = {0};
    uint64_t *ids = NULL;
    fw_store_status st = fw_ch_unit(s, q, unit);
    if (st == FW_STORE_OK && !(*sql = fw_ch_sql_build(s, kind, q, cmp, 0, topt)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_ch_sums_fetch(s, q, &a);
    if (st == FW_STORE_OK && cmp)
        st = fw_ch_sums_fetch(s, cmp, &b);
    if (st == FW_STORE_OK && !(ids = malloc((a.n + b.n + 1) * sizeof *ids)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK) {
        if (a.n)
            memcpy(ids, a.id, a.n * sizeof *ids);
        if (b.n)
            memcpy(ids + a.n, b.id, b.n * sizeof *ids);
        st = fw_ch_defs_load(s, ids, a.n + b.n);
    }
    if (st == FW_STORE_OK)
        st = fw_ch_defs_dims(s, ids, a.n + b.n, c, &sids);
    if (st == FW_STORE_OK)
        st = fw_ch_sums_rows(&a, &sids, rows);
    if (st == FW_STORE_OK && cmp && rows2)   /* rows2 is given whenever cmp is (diff) */
        st = fw_ch_sums_rows(&b, &sids, rows2);
    free(ids);
    fw_ch_sums_free(&a);
    fw_ch_sums_free(&b);
    fw_ch_idmap_free(&sids);
    return st;
}

fw_store_status fw_ch_flame(fw_store *base, const fw_store_query *q, const fw_store_tree_opts *opt,
                            fw_store_tree *out)
{
    fw_dims c = {0};
    fw_blk_rows rows = {0};
    fw_store_status st = fw_ch_query_rows((fw_ch *)base, FW_STORE_SQL_TREE, q, NULL, NULL, &c, &rows, NULL,
                                          &out->sql, &out->unit);
    if (st == FW_STORE_OK)
        st = fw_tree_flame(&c, &rows, opt, out);
    free(rows.v);
    fw_dims_free(&c);
    if (st != FW_STORE_OK)
        fw_store_tree_free(out);
    return st;
}

fw_store_status fw_ch_diff(fw_store *base, const fw_store_query *bq, const fw_store_query *cq,
                           const fw_store_tree_opts *opt, fw_store_diff *out)
{
    fw_dims c = {0};
    fw_blk_rows rb = {0}, rc = {0};
    fw_store_status st = fw_ch_query_rows((fw_ch *)base, FW_STORE_SQL_DIFF, bq, cq, NULL, &c, &rb, &rc,
                                          &out->sql, &out->unit);
    if (st == FW_STORE_OK)
        st = fw_tree_diff(&c, &rb, &rc, opt, out);
    free(rb.v);
    free(rc.v);
    fw_dims_free(&c);
    if (st != FW_STORE_OK)
        fw_store_diff_free(out);
    return st;
}

fw_store_status fw_ch_table(fw_store *base, const fw_store_query *q, const fw_store_table_opts *opt,
                            fw_store_table *out)
{
    fw_dims c = {0};
    fw_blk_rows rows = {0};
    fw_store_status st = fw_ch_query_rows((fw_ch *)base, FW_STORE_SQL_TABLE, q, NULL, opt, &c, &rows, NULL,
                                          &out->sql, &out->unit);
    if (st == FW_STORE_OK)
        st = fw_table_collect(&c, &rows, opt, out);
    free(rows.v);
    fw_dims_free(&c);
    if (st == FW_STORE_OK)
        fw_table_finish(opt, out);
    else
        fw_store_table_free(out);
    return st;
}

/* ---------------------------------------------------------------- trend, labels, applications */

fw_store_status fw_ch_trend(fw_store *base, const fw_store_query *q, int64_t step, fw_store_trend *out)
{
    fw_ch *s = (fw_ch *)base;
    step = fw_ch_step(q, step);
    int64_t t0 = fw_floor(q->from, step);
    int64_t npts = (q->until - t0 + step - 1) / step;
    if (npts <= 0 || npts > 100000)
        return FW_STORE_ERR_INVALID;
    out->step_s = step;
    out->points = calloc((size_t)npts, sizeof *out->points);
    if (!out->points)
        return FW_STORE_ERR_NOMEM;
    out->npoints = (size_t)npts;
    for (int64_t i = 0; i < npts; i++)
        out->points[i].t = t0 + i * step;
    fw_ch_buf r = {0};
    fw_store_status st = fw_ch_unit(s, q, &out->unit);
    if (st == FW_STORE_OK && !(out->sql = fw_ch_sql_build(s, FW_STORE_SQL_TREND, q, NULL, step, NULL)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_ch_select(s, out->sql, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[3];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        int64_t ts, v, c;
        if (nf != 3 || fw_ch_parse_i64(f[0], &ts) || fw_ch_parse_i64(f[1], &v) || fw_ch_parse_i64(f[2], &c)) {
            st = FW_STORE_ERR_IO;
            break;
        }
        int64_t i = (ts - t0) / step;
        if (ts >= t0 && i < npts) {
            out->points[i].value = fw_sat_add(out->points[i].value, v);
            out->points[i].count = fw_sat_add(out->points[i].count, c);
        }
    }
    fw_ch_buf_free(&r);
    if (st != FW_STORE_OK)
        fw_store_trend_free(out);
    return st;
}

fw_store_status fw_ch_labels(fw_store *base, const fw_store_query *q, fw_store_labels *out)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf r = {0};
    char *unit = NULL;
    fw_store_status st = fw_ch_unit(s, q, &unit);
    free(unit);
    if (st == FW_STORE_OK && !(out->sql = fw_ch_sql_build(s, FW_STORE_SQL_LABELS, q, NULL, 0, NULL)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_ch_select(s, out->sql, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[2];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 2)) != 0) {
        if (nf != 2) {
            st = FW_STORE_ERR_IO;
            break;
        }
        /* Rows come sorted by key: a new key starts a new entry. */
        if (!out->nkeys || strcmp(out->keys[out->nkeys - 1].key, f[0]) != 0) {
            fw_store_label_key *nk = realloc(out->keys, (out->nkeys + 1) * sizeof *nk);
            if (!nk) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            out->keys = nk;
            memset(&nk[out->nkeys], 0, sizeof *nk);
            if (!(nk[out->nkeys++].key = fw_store_strdup(f[0]))) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
        }
        fw_store_label_key *lk = &out->keys[out->nkeys - 1];
        char **nv = realloc(lk->values, (lk->nvalues + 1) * sizeof *nv);
        if (!nv) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        lk->values = nv;
        if (!(nv[lk->nvalues] = fw_store_strdup(f[1]))) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        lk->nvalues++;
    }
    fw_ch_buf_free(&r);
    if (st != FW_STORE_OK)
        fw_store_labels_free(out);
    return st;
}

fw_store_status fw_ch_apps(fw_store *base, fw_store_apps *out)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf r = {0};
    fw_store_status st = FW_STORE_OK;
    if (!(out->sql = fw_ch_sql_build(s, FW_STORE_SQL_APPS, NULL, NULL, 0, NULL)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_ch_select(s, out->sql, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[3];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        if (nf != 3) {
            st = FW_STORE_ERR_IO;
            break;
        }
        if (!out->napps || strcmp(out->apps[out->napps - 1].app, f[0]) != 0) {
            fw_store_app *na = realloc(out->apps, (out->napps + 1) * sizeof *na);
            if (!na) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            out->apps = na;
            memset(&na[out->napps], 0, sizeof *na);
            if (!(na[out->napps++].app = fw_store_strdup(f[0]))) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
        }
        fw_store_app *a = &out->apps[out->napps - 1];
        fw_store_type_info *nt = realloc(a->types, (a->ntypes + 1) * sizeof *nt);
        if (!nt) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        a->types = nt;
        fw_store_type_info *ti = &nt[a->ntypes++];
        ti->type = fw_store_strdup(f[1]);
        ti->unit = fw_store_strdup(f[2]);
        ti->description = fw_store_strdup(fw_store_type_description(f[1]));
        if (!ti->type || !ti->unit || !ti->description)
            st = FW_STORE_ERR_NOMEM;
    }
    fw_ch_buf_free(&r);
    if (st != FW_STORE_OK)
        fw_store_apps_free(out);
    return st;
}
