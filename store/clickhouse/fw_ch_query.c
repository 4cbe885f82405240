/*
 * fw_ch_query.c: the console's queries (the ClickHouse backend).
 *
 * Trees, tables and diffs fetch flat rows and build in C, with the same builders as SQLite
 * (fw_store_tree.c, fw_store_table.c), so both backends answer alike: per-stack sums (stack,
 * value, count) of the range, then the definitions of those stacks (function ids and lines, root
 * first) and their functions. The stacks become a query-local dimension cache (fw_store_dims.h),
 * a trie with 32-bit ids, which is what the builders read; 64-bit content ids are mapped to it
 * here. Trend, labels and the application list run exactly the SQL they show.
 *
 * There is no snapshot across the three queries; that is harmless because dimension rows are
 * written before the samples that use them, and ids are content: a stack id read in the first
 * query has its definition by the time the second one runs.
 */
#include "fw_ch.h"

#include "../fw_store_blocks.h"
#include "../fw_store_dims.h"
#include "../fw_store_table.h"
#include "../fw_store_tree.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- 64-bit id -> local id */

typedef struct {
    uint64_t *k;
    uint32_t *v;
    size_t cap, n;
} fw_ch_idmap;

static uint32_t fw_ch_idmap_get(const fw_ch_idmap *m, uint64_t k)
{
    if (!m->cap)
        return 0;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)(k * 0x9e3779b97f4a7c15ull) & mask;; i = (i + 1) & mask) {
        if (m->k[i] == k)
            return m->v[i];
        if (!m->k[i])
            return 0;
    }
}

static int fw_ch_idmap_put(fw_ch_idmap *m, uint64_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = calloc(cap, sizeof *nk);
        uint32_t *nv = calloc(cap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t j = 0; j < m->cap; j++)
            if (m->k[j]) {
                size_t i = (size_t)(m->k[j] * 0x9e3779b97f4a7c15ull) & (cap - 1);
                while (nk[i])
                    i = (i + 1) & (cap - 1);
                nk[i] = m->k[j];
                nv[i] = m->v[j];
            }
        free(m->k);
        free(m->v);
        m->k = nk;
        m->v = nv;
        m->cap = cap;
    }
    size_t mask = m->cap - 1, i = (size_t)(k * 0x9e3779b97f4a7c15ull) & mask;
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & mask;
    if (!m->k[i])
        m->n++;
    m->k[i] = k;
    m->v[i] = v;
    return 0;
}

static void fw_ch_idmap_free(fw_ch_idmap *m)
{
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- fetching */

/* The unit of q's series; NOTFOUND when the (app, type) series does not exist. */
static fw_store_status fw_ch_unit(fw_ch *s, const fw_store_query *q, char **unit)
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

/* Runs a query built by `build` and returns its body. */
static fw_store_status fw_ch_fetch(fw_ch *s, fw_ch_buf *sql, fw_ch_buf *r)
{
    if (fw_ch_buf_nul(sql) != 0)
        return FW_STORE_ERR_NOMEM;
    return fw_ch_select(s, sql->p, r, NULL, 0);
}

/* Loads the stacks and functions of q (and cmp) into a query-local cache c; sids maps content
 * ids to the cache's stack ids. */
static fw_store_status fw_ch_load_dims(fw_ch *s, const fw_store_query *q, const fw_store_query *cmp, fw_dims *c,
                                       fw_ch_idmap *sids)
{
    fw_ch_buf sql = {0}, r = {0};
    fw_ch_idmap fids = {0};
    int64_t *arr = malloc((size_t)2 * FW_PROFILE_MAX_DEPTH * sizeof *arr);
    uint32_t *frames = malloc(FW_PROFILE_MAX_DEPTH * sizeof *frames);
    fw_store_status st = arr && frames ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK) {
        fw_ch_sql_functions(s, &sql, q, cmp);
        st = fw_ch_fetch(s, &sql, &r);
    }
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[3];
    int nf;
    uint32_t nfn = 1;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        uint64_t id;
        if (nf != 3 || fw_ch_parse_u64(f[0], &id) != 0) {
            st = FW_STORE_ERR_IO;
            break;
        }
        if (fw_dims_set_fn(c, nfn, f[1], f[2]) != 0 || fw_ch_idmap_put(&fids, id, nfn) != 0)
            st = FW_STORE_ERR_NOMEM;
        nfn++;
    }
    fw_ch_buf_reset(&sql);
    if (st == FW_STORE_OK) {
        fw_ch_sql_stacks(s, &sql, q, cmp);
        st = fw_ch_fetch(s, &sql, &r);
    }
    t = (fw_ch_tsv){r.p, r.p + r.n};
    c->fr_n = c->fr_n ? c->fr_n : 1;
    c->st_n = c->st_n ? c->st_n : 1;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        uint64_t id;
        size_t nfun = 0, nln = 0;
        if (nf != 3 || fw_ch_parse_u64(f[0], &id) != 0 ||
            fw_ch_parse_array(f[1], 0, arr, FW_PROFILE_MAX_DEPTH, &nfun) != 0 ||
            fw_ch_parse_array(f[2], 1, arr + FW_PROFILE_MAX_DEPTH, FW_PROFILE_MAX_DEPTH, &nln) != 0 ||
            nfun != nln || nfun == 0) {
            st = FW_STORE_ERR_IO;
            break;
        }
        /* Frames, then the trie walk from the root, interning what is new. */
        uint32_t parent = 0;
        for (size_t j = 0; j < nfun && st == FW_STORE_OK; j++) {
            uint32_t fn = fw_ch_idmap_get(&fids, (uint64_t)arr[j]);
            int64_t line = arr[FW_PROFILE_MAX_DEPTH + j];
            if (!fn) {
                st = FW_STORE_ERR_IO;   /* a stack whose function row is missing */
                break;
            }
            fw_dims_frkey fk = {fn, line};
            uint64_t h = fw_dims_fr_hash(fn, line);
            uint32_t fr = fw_map_find(&c->fr_map, h, fw_dims_fr_eq, c, &fk);
            if (!fr) {
                fr = c->fr_n;
                if (fw_dims_set_fr(c, fr, fn, line) != 0 || fw_map_put(&c->fr_map, h, fr) != 0) {
                    st = FW_STORE_ERR_NOMEM;
                    break;
                }
            }
            frames[j] = fr;
            fw_dims_stkey sk = {parent, fr};
            uint64_t sh = fw_dims_st_hash(parent, fr);
            uint32_t node = fw_map_find(&c->st_map, sh, fw_dims_st_eq, c, &sk);
            if (!node) {
                node = c->st_n;
                if (fw_dims_set_st(c, node, parent, fr) != 0 || fw_map_put(&c->st_map, sh, node) != 0) {
                    st = FW_STORE_ERR_NOMEM;
                    break;
                }
            }
            parent = node;
        }
        if (st == FW_STORE_OK && fw_ch_idmap_put(sids, id, parent) != 0)
            st = FW_STORE_ERR_NOMEM;
    }
    free(arr);
    free(frames);
    fw_ch_idmap_free(&fids);
    fw_ch_buf_free(&sql);
    fw_ch_buf_free(&r);
    return st;
}

/* Per-stack sums of q, with stack ids of the local cache, sorted by stack id. */
static fw_store_status fw_ch_rows(fw_ch *s, const fw_store_query *q, const fw_ch_idmap *sids, fw_blk_rows *out)
{
    fw_ch_buf sql = {0}, r = {0};
    fw_blk_acc acc = {0};
    fw_ch_sql_rows(s, &sql, q);
    fw_store_status st = fw_ch_fetch(s, &sql, &r);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[3];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 3)) != 0) {
        uint64_t id;
        int64_t v, c;
        if (nf != 3 || fw_ch_parse_u64(f[0], &id) != 0 || fw_ch_parse_i64(f[1], &v) != 0 ||
            fw_ch_parse_i64(f[2], &c) != 0) {
            st = FW_STORE_ERR_IO;
            break;
        }
        uint32_t local = fw_ch_idmap_get(sids, id);
        if (!local)
            continue;   /* written after the stacks were read: not part of this answer */
        if (fw_blk_acc_add(&acc, local, v < 0 ? 0 : v, c < 0 ? 0 : c) != 0)
            st = FW_STORE_ERR_NOMEM;
    }
    free(acc.slot);
    out->v = acc.r.v;
    out->n = acc.r.n;
    out->cap = acc.r.cap;
    if (st == FW_STORE_OK && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, fw_blk_row_stack_cmp);
    fw_ch_buf_free(&sql);
    fw_ch_buf_free(&r);
    return st;
}

/* Everything a tree, table or diff needs: unit, SQL text, the cache and the rows. */
static fw_store_status fw_ch_query_rows(fw_ch *s, fw_store_sql_kind kind, const fw_store_query *q,
                                        const fw_store_query *cmp, const fw_store_table_opts *topt, fw_dims *c,
                                        fw_blk_rows *rows, fw_blk_rows *rows2, char **sql, char **unit)
{
    fw_ch_idmap sids = {0};
    fw_store_status st = fw_ch_unit(s, q, unit);
    if (st == FW_STORE_OK && !(*sql = fw_ch_sql_build(s, kind, q, cmp, 0, topt)))
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_ch_load_dims(s, q, cmp, c, &sids);
    if (st == FW_STORE_OK)
        st = fw_ch_rows(s, q, &sids, rows);
    if (st == FW_STORE_OK && cmp && rows2)   /* rows2 is given whenever cmp is (diff) */
        st = fw_ch_rows(s, cmp, &sids, rows2);
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
