/*
 * fw_sqlite_query.c: queries on the reader pool (the SQLite backend).
 *
 * Each query takes a read-only connection from the pool, opens a read transaction (one snapshot:
 * it never blocks ingest, and ingest never changes what it sees), reads the roll-up watermarks and
 * the series' unit, and builds its SQL from the plan of pieces (fw_sqlite_sql.c). Trend and labels
 * run exactly the SQL they show. Trees, tables and diffs run the core form, which reads the packed
 * `stacks` text of the same blocks, and sum them per stack in C (fw_store_blocks.c); the tree and
 * the table are then built by the backend-neutral fw_store_tree.c and fw_store_table.c, under the
 * dimension cache's read lock.
 */
#include "fw_sqlite.h"

#include "../fw_store_table.h"
#include "../fw_store_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- readers */

static int64_t fw_sq_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A free read connection, waited for until s->reader_wait_ms have passed: -1 then, and the
 * caller answers FW_STORE_ERR_BUSY. The wait is bounded because the caller is an HTTP worker:
 * waiting without end behind a burst of heavy queries held every worker, so that /healthz and
 * ingest queued too and connections whose heads no worker read were dropped. rcond runs on
 * CLOCK_MONOTONIC (fw_sq_open), so a clock step neither shortens nor stretches the wait. */
int fw_sq_reader_get(fw_sq *s)
{
    int64_t deadline = fw_sq_mono_ms() + s->reader_wait_ms;
    struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&s->rlock);
    for (;;) {
        for (int i = 0; i < s->nr; i++)
            if (!s->rbusy[i]) {
                s->rbusy[i] = 1;
                pthread_mutex_unlock(&s->rlock);
                return i;
            }
        if (pthread_cond_timedwait(&s->rcond, &s->rlock, &until) == ETIMEDOUT) {
            /* One last look: a connection given back at the deadline is still taken. */
            for (int i = 0; i < s->nr; i++)
                if (!s->rbusy[i]) {
                    s->rbusy[i] = 1;
                    pthread_mutex_unlock(&s->rlock);
                    return i;
                }
            pthread_mutex_unlock(&s->rlock);
            return -1;
        }
    }
}

void fw_sq_reader_put(fw_sq *s, int i)
{
    pthread_mutex_lock(&s->rlock);
    s->rbusy[i] = 0;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
}

/* Starts a read transaction and reads the watermarks and the series' unit. NOTFOUND when the
 * (app, type) series does not exist. */
fw_store_status fw_sq_begin(sqlite3 *db, const fw_store_query *q, fw_sq_snap *snap)
{
    memset(snap, 0, sizeof *snap);
    int rc = fw_sq_exec(db, "BEGIN");
    if (rc != SQLITE_OK)
        return fw_sq_status(rc);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key LIKE 'wm_%'", -1, &st, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long r = atoll((const char *)sqlite3_column_text(st, 0) + 3);
        for (int l = 0; l < FW_SQ_NLEVELS; l++)
            if (fw_sq_res[l] == r)
                snap->wm[l] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    if (!q)
        return FW_STORE_OK;
    rc = sqlite3_prepare_v2(db, "SELECT unit FROM series WHERE app = ?1 AND type = ?2", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, q->app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, q->type, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snap->unit = fw_store_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FW_STORE_ERR_NOTFOUND;
    if (rc != SQLITE_ROW)
        return fw_sq_status(rc);
    return snap->unit ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
}

void fw_sq_end(sqlite3 *db, fw_sq_snap *snap)
{
    fw_sq_exec(db, "COMMIT");
    free(snap->unit);
    snap->unit = NULL;
}

/* ---------------------------------------------------------------- fact rows */


/* Runs the core SQL (the `stacks` text of every block of the source pieces) and sums the blocks
 * per stack id in C: the `GROUP BY stack_id` over the samples/rollups views of the SQL we show.
 * A block costs one SQLite row; its stacks are parsed here at a few ns each. Output is in stack id
 * order, as GROUP BY gives it. */
static fw_store_status fw_sq_fetch_rows(sqlite3 *db, const char *sql, fw_blk_rows *out)
{
    sqlite3_stmt *st = NULL;
    fw_blk_acc acc = {0};
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int e = fw_sq_blk(fw_blk_acc_add_json(&acc, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0)));
        if (e) {
            rc = e;
            break;
        }
    }
    sqlite3_finalize(st);
    free(acc.slot);
    out->v = acc.r.v;
    out->n = acc.r.n;
    out->cap = acc.r.cap;
    if (rc == SQLITE_DONE && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, fw_blk_row_stack_cmp);
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

/* The rows of a query, read in a snapshot that stays open on reader *ri when the answer is OK:
 * the tree or table is built in the same snapshot (the cache's misses are read there), and
 * fw_sq_query_done ends it. *epoch is the cache's epoch before the snapshot began. */
static fw_store_status fw_sq_query_rows(fw_sq *s, fw_store_sql_kind kind, const fw_store_query *q,
                                        const fw_store_query *cmp, const fw_store_table_opts *topt,
                                        fw_blk_rows *rows, fw_blk_rows *rows2, char **user_sql, char **unit,
                                        int *ri_out, uint64_t *epoch)
{
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    pthread_mutex_lock(&s->clock);
    *epoch = s->c.epoch;
    pthread_mutex_unlock(&s->clock);
    fw_store_status st = fw_sq_begin(db, q, &snap);
    char *core = NULL, *core2 = NULL;
    if (st == FW_STORE_OK) {
        core = fw_sq_build(&snap, FW_STORE_SQL_TREE, q, NULL, 0, NULL, 1);
        core2 = cmp ? fw_sq_build(&snap, FW_STORE_SQL_TREE, cmp, NULL, 0, NULL, 1) : NULL;
        *user_sql = fw_sq_take(fw_sq_build(&snap, kind, q, cmp, 0, topt, 0));
        if (!core || (cmp && !core2) || !*user_sql)
            st = FW_STORE_ERR_NOMEM;
    }
    if (st == FW_STORE_OK)
        st = fw_sq_fetch_rows(db, core, rows);
    if (st == FW_STORE_OK && cmp && rows2)   /* rows2 is given whenever cmp is (diff) */
        st = fw_sq_fetch_rows(db, core2, rows2);
    sqlite3_free(core);
    sqlite3_free(core2);
    *unit = snap.unit;
    snap.unit = NULL;
    if (st != FW_STORE_OK) {
        fw_sq_end(db, &snap);
        fw_sq_reader_put(s, ri);
        return st;
    }
    *ri_out = ri;
    return st;
}

static void fw_sq_query_done(fw_sq *s, int ri)
{
    fw_sq_snap snap = {{0}, NULL};
    fw_sq_end(s->r[ri], &snap);
    fw_sq_reader_put(s, ri);
}

fw_store_status fw_sq_flame(fw_store *base, const fw_store_query *q, const fw_store_tree_opts *opt,
                                  fw_store_tree *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_blk_rows rows = {0};
    int ri = -1;
    uint64_t epoch = 0;
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_TREE, q, NULL, NULL, &rows, NULL, &out->sql, &out->unit, &ri, &epoch);
    if (st != FW_STORE_OK) {
        free(rows.v);
        fw_store_tree_free(out);
        return st;
    }
    fw_sq_src src;
    fw_sq_src_init(&src, s->r[ri], epoch);
    pthread_mutex_lock(&s->clock);
    st = fw_tree_flame(&s->c, &src.base, &rows, opt, out);
    pthread_mutex_unlock(&s->clock);
    fw_sq_src_done(&src);
    fw_sq_query_done(s, ri);
    free(rows.v);
    if (st != FW_STORE_OK)
        fw_store_tree_free(out);
    return st;
}


fw_store_status fw_sq_diff(fw_store *base, const fw_store_query *bq, const fw_store_query *cq,
                                  const fw_store_tree_opts *opt, fw_store_diff *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_blk_rows rb = {0}, rc = {0};
    int ri = -1;
    uint64_t epoch = 0;
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_DIFF, bq, cq, NULL, &rb, &rc, &out->sql, &out->unit, &ri, &epoch);
    if (st != FW_STORE_OK) {
        free(rb.v);
        free(rc.v);
        fw_store_diff_free(out);
        return st;
    }
    fw_sq_src src;
    fw_sq_src_init(&src, s->r[ri], epoch);
    pthread_mutex_lock(&s->clock);
    st = fw_tree_diff(&s->c, &src.base, &rb, &rc, opt, out);
    pthread_mutex_unlock(&s->clock);
    fw_sq_src_done(&src);
    fw_sq_query_done(s, ri);
    free(rb.v);
    free(rc.v);
    if (st != FW_STORE_OK)
        fw_store_diff_free(out);
    return st;
}


fw_store_status fw_sq_table(fw_store *base, const fw_store_query *q, const fw_store_table_opts *opt,
                                   fw_store_table *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_blk_rows rows = {0};
    int ri = -1;
    uint64_t epoch = 0;
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_TABLE, q, NULL, opt, &rows, NULL, &out->sql, &out->unit, &ri, &epoch);
    if (st != FW_STORE_OK) {
        free(rows.v);
        fw_store_table_free(out);
        return st;
    }
    fw_sq_src src;
    fw_sq_src_init(&src, s->r[ri], epoch);
    pthread_mutex_lock(&s->clock);
    st = fw_table_collect(&s->c, &src.base, &rows, opt, out);
    pthread_mutex_unlock(&s->clock);
    fw_sq_src_done(&src);
    fw_sq_query_done(s, ri);
    free(rows.v);
    if (st == FW_STORE_OK)
        fw_table_finish(opt, out);
    else
        fw_store_table_free(out);
    return st;
}

/* ---------------------------------------------------------------- trend, labels, applications */

fw_store_status fw_sq_trend(fw_store *base, const fw_store_query *q, int64_t step, fw_store_trend *out)
{
    fw_sq *s = (fw_sq *)base;
    if (step == 0)
        step = fw_sq_auto_step(q->until - q->from);
    step = (step + FW_SQ_BUCKET - 1) / FW_SQ_BUCKET * FW_SQ_BUCKET;   /* whole raw buckets */
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

    int ri = fw_sq_reader_get(s);
    if (ri < 0) {
        fw_store_trend_free(out);
        return FW_STORE_ERR_BUSY;
    }
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, q, &snap);
    if (st == FW_STORE_OK) {
        out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_TREND, q, NULL, step, NULL, 0));
        out->unit = snap.unit;
        snap.unit = NULL;
        if (!out->sql)
            st = FW_STORE_ERR_NOMEM;
    }
    sqlite3_stmt *stt = NULL;
    int rc = st == FW_STORE_OK ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_OK;
    while (st == FW_STORE_OK && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        int64_t i = (sqlite3_column_int64(stt, 0) - t0) / step;
        if (i >= 0 && i < npts) {
            out->points[i].value = fw_sat_add(out->points[i].value, sqlite3_column_int64(stt, 1));
            out->points[i].count = fw_sat_add(out->points[i].count, sqlite3_column_int64(stt, 2));
        }
    }
    if (st == FW_STORE_OK && rc != SQLITE_DONE)
        st = fw_sq_status(rc);
    sqlite3_finalize(stt);
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_trend_free(out);
    return st;
}

fw_store_status fw_sq_labels(fw_store *base, const fw_store_query *q, fw_store_labels *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, q, &snap);
    if (st == FW_STORE_OK) {
        out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_LABELS, q, NULL, 0, NULL, 0));
        if (!out->sql)
            st = FW_STORE_ERR_NOMEM;
    }
    sqlite3_stmt *stt = NULL;
    int rc = st == FW_STORE_OK ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_OK;
    while (st == FW_STORE_OK && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(stt, 0), *v = (const char *)sqlite3_column_text(stt, 1);
        /* Rows come sorted by key: a new key starts a new entry. */
        if (!out->nkeys || strcmp(out->keys[out->nkeys - 1].key, k) != 0) {
            fw_store_label_key *nk = realloc(out->keys, (out->nkeys + 1) * sizeof *nk);
            if (!nk) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            out->keys = nk;
            memset(&nk[out->nkeys], 0, sizeof *nk);
            nk[out->nkeys].key = fw_store_strdup(k);
            out->nkeys++;
            if (!nk[out->nkeys - 1].key) {
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
        if (!(nv[lk->nvalues] = fw_store_strdup(v))) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        lk->nvalues++;
    }
    if (st == FW_STORE_OK && rc != SQLITE_DONE)
        st = fw_sq_status(rc);
    sqlite3_finalize(stt);
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_labels_free(out);
    return st;
}

fw_store_status fw_sq_apps(fw_store *base, fw_store_apps *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap = {{0}, NULL};
    fw_store_status st = FW_STORE_OK;
    out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_APPS, NULL, NULL, 0, NULL, 0));
    sqlite3_stmt *stt = NULL;
    int rc = out->sql ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_NOMEM;
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(stt, 0);
        if (!out->napps || strcmp(out->apps[out->napps - 1].app, app) != 0) {
            fw_store_app *na = realloc(out->apps, (out->napps + 1) * sizeof *na);
            if (!na) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->apps = na;
            memset(&na[out->napps], 0, sizeof *na);
            na[out->napps++].app = fw_store_strdup(app);
            if (!na[out->napps - 1].app) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        fw_store_app *a = &out->apps[out->napps - 1];
        fw_store_type_info *nt = realloc(a->types, (a->ntypes + 1) * sizeof *nt);
        if (!nt) {
            rc = SQLITE_NOMEM;
            break;
        }
        a->types = nt;
        const char *ty = (const char *)sqlite3_column_text(stt, 1);
        fw_store_type_info *ti = &nt[a->ntypes++];
        ti->type = fw_store_strdup(ty);
        ti->unit = fw_store_strdup((const char *)sqlite3_column_text(stt, 2));
        ti->description = fw_store_strdup(fw_store_type_description(ty));
        if (!ti->type || !ti->unit || !ti->description) {
            rc = SQLITE_NOMEM;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        st = fw_sq_status(rc == SQLITE_OK ? SQLITE_ERROR : rc);
    sqlite3_finalize(stt);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_apps_free(out);
    return st;
}

fw_store_status fw_sq_sql_text(fw_store *base, fw_store_sql_kind kind, const fw_store_query *q,
                                      const fw_store_query *cmp, int64_t step,
                                      const fw_store_table_opts *topt, char **out)
{
    fw_sq *s = (fw_sq *)base;
    if (kind == FW_STORE_SQL_TREND) {
        if (step == 0)
            step = fw_sq_auto_step(q->until - q->from);
        step = (step + FW_SQ_BUCKET - 1) / FW_SQ_BUCKET * FW_SQ_BUCKET;
    }
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, NULL, &snap);
    if (st == FW_STORE_OK) {
        *out = fw_sq_take(fw_sq_build(&snap, kind, q, cmp, step, topt, 0));
        if (!*out)
            st = FW_STORE_ERR_NOMEM;
    }
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    return st;
}
