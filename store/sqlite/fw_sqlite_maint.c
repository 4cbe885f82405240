/*
 * fw_sqlite_maint.c: roll-ups and retention (the SQLite backend's fw_store_maintain).
 *
 * Each call does a bounded amount of work (about 250 ms of roll-ups, then retention, then the
 * dimension GC when due, then a checkpoint). A level's buckets are rolled up once closed, from the
 * level below, a span at a time, each span one transaction that also advances the level's
 * watermark; each series inside it in a savepoint, so an unreadable block costs that series that
 * span's roll-up and nothing else. Retention deletes raw blocks an hour at a time per series and
 * roll-up buckets that lie wholly before the cutoff, whatever happened to the roll-ups.
 */
#include "fw_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- maintenance */

/* Smallest bucket start present in a roll-up source, or -1 when it is empty. Asked per series so
 * that each lookup is one descent of the primary key. */
static int fw_sq_source_min(fw_sq *s, int level, int64_t *out)
{
    char sql[256];
    if (level == 0)
        snprintf(sql, sizeof sql, "SELECT min((SELECT min(t) FROM sample_blocks WHERE series_id = series.id)) FROM series");
    else
        snprintf(sql, sizeof sql,
                 "SELECT min((SELECT min(t) FROM rollup_blocks WHERE series_id = series.id AND res = %lld)) FROM series",
                 (long long)fw_sq_res[level - 1]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Per-label-set accumulators of one output bucket, during a roll-up. */
typedef struct {
    uint32_t ls;
    fw_blk_acc acc;
} fw_sq_lsacc;

/* Rolls up one series' buckets of level l in [a, b): reads the source blocks (raw blocks for the
 * first level, else the level below), sums them per (bucket, label set) in C and writes one block
 * each, plus the merged block (labelset_id 0) of each bucket. */
static int fw_sq_rollup_series(fw_sq *s, int l, int64_t series, int64_t a, int64_t b, sqlite3_stmt *list,
                               sqlite3_stmt *get)
{
    int64_t R = fw_sq_res[l];
    /* Block ids ordered by (bucket, label set): small rows to sort; the texts are then read by
     * rowid, one at a time. */
    sqlite3_bind_int64(list, 1, series);
    sqlite3_bind_int64(list, 2, a);
    sqlite3_bind_int64(list, 3, b);
    int rc = SQLITE_OK;
    int64_t cur_t = INT64_MIN;
    uint32_t cur_ls = FW_STORE_NONE;
    fw_blk_acc *merged = &s->wacc;
    fw_blk_acc one = {0};
    fw_blk_acc_reset(merged);
    int have_merged_src = 0;   /* level > 0: the source's own merged blocks (labelset 0) */
    for (;;) {
        int step = sqlite3_step(list);
        int64_t t = 0, id = 0;
        uint32_t ls = 0;
        if (step == SQLITE_ROW) {
            t = fw_floor(sqlite3_column_int64(list, 0), R);
            ls = (uint32_t)sqlite3_column_int64(list, 1);
            id = sqlite3_column_int64(list, 2);
        } else if (step != SQLITE_DONE) {
            rc = step;
            break;
        }
        /* Flush the label set being summed when (bucket, label set) changes. */
        if (cur_ls != FW_STORE_NONE && (step == SQLITE_DONE || t != cur_t || ls != cur_ls)) {
            if (cur_ls != 0) {
                fw_blk_acc_sort(&one);
                if (fw_sq_put_block(s, R, series, cur_t, cur_ls, one.r.v, one.r.n) != FW_STORE_OK) {
                    rc = SQLITE_ERROR;
                    break;
                }
            }
            fw_blk_acc_reset(&one);   /* cur_ls is set again below before it is read */
        }
        /* Flush the merged block when the bucket changes. */
        if (cur_t != INT64_MIN && (step == SQLITE_DONE || t != cur_t)) {
            if (merged->r.n || have_merged_src) {
                fw_blk_acc_sort(merged);
                if (fw_sq_put_block(s, R, series, cur_t, 0, merged->r.v, merged->r.n) != FW_STORE_OK) {
                    rc = SQLITE_ERROR;
                    break;
                }
            }
            fw_blk_acc_reset(merged);
            have_merged_src = 0;
        }
        if (step == SQLITE_DONE)
            break;
        cur_t = t;
        cur_ls = ls;
        sqlite3_bind_int64(get, 1, id);
        rc = sqlite3_step(get);
        if (rc == SQLITE_ROW) {
            const char *txt = (const char *)sqlite3_column_text(get, 0);
            size_t len = (size_t)sqlite3_column_bytes(get, 0);
            if (ls != 0) {
                rc = fw_sq_blk(fw_blk_acc_add_json(&one, txt, len));
                /* The first level merges raw label sets; higher levels merge the level below's
                 * merged blocks, which are smaller than all its label sets together. */
                if (rc == 0 && l == 0)
                    rc = fw_sq_blk(fw_blk_acc_add_json(merged, txt, len));
            } else {
                rc = fw_sq_blk(fw_blk_acc_add_json(merged, txt, len));
                have_merged_src = 1;
            }
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_CORRUPT;
        }
        sqlite3_reset(get);
        if (rc != SQLITE_OK)
            break;
    }
    sqlite3_reset(list);
    fw_blk_acc_free(&one);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Rolls [a, b) of level l's source into level l and advances its watermark, in one transaction. */
static fw_store_status fw_sq_rollup_span(fw_sq *s, int l, int64_t a, int64_t b)
{
    long long R = (long long)fw_sq_res[l];
    sqlite3_stmt *ser = NULL, *list = NULL, *get = NULL;
    int rc = sqlite3_prepare_v2(s->w, "SELECT id FROM series ORDER BY id", -1, &ser, NULL);
    if (rc == SQLITE_OK) {
        char sql[256];
        if (l == 0)
            snprintf(sql, sizeof sql, "SELECT t, labelset_id, id FROM sample_blocks"
                                      " WHERE series_id = ?1 AND t >= ?2 AND t < ?3"
                                      " ORDER BY t - t %% %lld, labelset_id", R);
        else
            snprintf(sql, sizeof sql, "SELECT t, labelset_id, id FROM rollup_blocks"
                                      " WHERE series_id = ?1 AND res = %lld AND t >= ?2 AND t < ?3"
                                      " ORDER BY t - t %% %lld, labelset_id", (long long)fw_sq_res[l - 1], R);
        rc = sqlite3_prepare_v2(s->w, sql, -1, &list, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, l == 0 ? "SELECT stacks FROM sample_blocks WHERE id = ?1"
                                             : "SELECT stacks FROM rollup_blocks WHERE id = ?1", -1, &get, NULL);
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(ser)) == SQLITE_ROW) {
            int64_t sid = sqlite3_column_int64(ser, 0);
            /* Each series in a savepoint: a block of one series that cannot be read (a file
             * edited by hand, a bug of an old version) costs that series this span's roll-up,
             * logged, and never stops the roll-ups and the retention of every other app. */
            rc = fw_sq_exec(s->w, "SAVEPOINT fw_series");
            if (rc == SQLITE_OK)
                rc = fw_sq_rollup_series(s, l, sid, a, b, list, get);
            if (rc == SQLITE_CORRUPT || rc == SQLITE_TOOBIG || rc == SQLITE_MISMATCH) {
                fprintf(stderr, "flamewatch store: series %lld: skipping its %llds roll-up of [%lld, %lld):"
                                " unreadable block (%s)\n", (long long)sid, R, (long long)a, (long long)b,
                        sqlite3_errstr(rc));
                rc = fw_sq_exec(s->w, "ROLLBACK TO fw_series");
                /* The span's stacks are not all in the roll-ups now: the dimension GC must read
                 * its raw blocks too (fw_store_gc_mark_blocks). */
                char *m = sqlite3_mprintf("INSERT INTO meta(key, value) VALUES ('gc_raw_from', %lld)"
                                          " ON CONFLICT(key) DO UPDATE SET value = min(value, excluded.value)",
                                          (long long)a);
                if (rc == SQLITE_OK)
                    rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
                sqlite3_free(m);
            }
            if (rc == SQLITE_OK)
                rc = fw_sq_exec(s->w, "RELEASE fw_series");
            if (rc != SQLITE_OK)
                break;
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        if (rc == SQLITE_OK) {
            char *wmsql = sqlite3_mprintf("UPDATE meta SET value = %lld WHERE key = 'wm_%lld';", (long long)b, R);
            rc = wmsql ? fw_sq_exec(s->w, wmsql) : SQLITE_NOMEM;
            sqlite3_free(wmsql);
        }
        if (rc == SQLITE_OK)
            rc = fw_sq_exec(s->w, "COMMIT");
        if (rc != SQLITE_OK)
            fw_sq_exec(s->w, "ROLLBACK");
        else
            s->wm[l] = b;   /* only once it is durable: ingest's late path trusts this value */
    }
    sqlite3_finalize(ser);
    sqlite3_finalize(list);
    sqlite3_finalize(get);
    return fw_sq_status(rc);
}

static fw_store_status fw_sq_delete_old(fw_sq *s, int64_t cutoff, int64_t deadline, int64_t *deleted_out)
{
    sqlite3_stmt *ser = NULL, *mn = NULL, *del = NULL, *delr = NULL;
    int rc = sqlite3_prepare_v2(s->w, "SELECT id FROM series", -1, &ser, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "SELECT min(t) FROM sample_blocks WHERE series_id = ?1", -1, &mn, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "DELETE FROM sample_blocks WHERE series_id = ?1 AND t < ?2 RETURNING nstacks",
                                -1, &del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "DELETE FROM rollup_blocks WHERE series_id = ?1 AND res = ?2 AND t < ?3",
                                -1, &delr, NULL);
    int64_t ids[4096];
    size_t nids = 0;
    while (rc == SQLITE_OK && sqlite3_step(ser) == SQLITE_ROW && nids < 4096)
        ids[nids++] = sqlite3_column_int64(ser, 0);
    sqlite3_finalize(ser);
    int64_t deleted = 0;
    for (size_t i = 0; rc == SQLITE_OK && i < nids; i++) {
        /* Raw rows go an hour at a time, each hour its own transaction, so that a week of
         * backlog (a server that was down) never holds the write lock for long. */
        for (;;) {
            sqlite3_bind_int64(mn, 1, ids[i]);
            int64_t oldest = -1;
            if (sqlite3_step(mn) == SQLITE_ROW && sqlite3_column_type(mn, 0) != SQLITE_NULL)
                oldest = sqlite3_column_int64(mn, 0);
            sqlite3_reset(mn);
            if (oldest < 0 || oldest >= cutoff || fw_mono_ms() > deadline)
                break;
            int64_t upto = oldest + 3600 < cutoff ? oldest + 3600 : cutoff;
            rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
            if (rc != SQLITE_OK)
                break;
            sqlite3_bind_int64(del, 1, ids[i]);
            sqlite3_bind_int64(del, 2, upto);
            int64_t n = 0;   /* stack rows (triples) deleted, for the raw_rows counter */
            while ((rc = sqlite3_step(del)) == SQLITE_ROW)
                n += sqlite3_column_int64(del, 0);
            sqlite3_reset(del);
            if (rc == SQLITE_DONE) {
                char *m = sqlite3_mprintf("UPDATE meta SET value = max(0, value - %lld) WHERE key = 'raw_rows'",
                                          (long long)n);
                rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
                sqlite3_free(m);
            }
            if (rc == SQLITE_OK)
                rc = fw_sq_exec(s->w, "COMMIT");
            if (rc != SQLITE_OK) {
                fw_sq_exec(s->w, "ROLLBACK");
                break;
            }
            deleted += n;
        }
        /* A roll-up bucket goes once it lies wholly before the cutoff. */
        for (int l = 0; rc == SQLITE_OK && l < FW_SQ_NLEVELS; l++) {
            sqlite3_bind_int64(delr, 1, ids[i]);
            sqlite3_bind_int64(delr, 2, fw_sq_res[l]);
            sqlite3_bind_int64(delr, 3, cutoff - fw_sq_res[l] + 1);
            rc = sqlite3_step(delr);
            sqlite3_reset(delr);
            deleted += sqlite3_changes(s->w);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    }
    /* The ids of uploads in buckets retention has passed: a retry that late is not expected,
     * and would only store what retention deletes next. */
    if (rc == SQLITE_OK) {
        char *m = sqlite3_mprintf("DELETE FROM uploads WHERE t < %lld", (long long)cutoff);
        rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
        sqlite3_free(m);
    }
    *deleted_out = deleted;
    sqlite3_finalize(mn);
    sqlite3_finalize(del);
    sqlite3_finalize(delr);
    return fw_sq_status(rc);
}


fw_store_status fw_sq_maintain(fw_store *base, int64_t now_s)
{
    fw_sq *s = (fw_sq *)base;
    int64_t deadline = fw_mono_ms() + 250;
    fw_store_status st = FW_STORE_OK;
    pthread_mutex_lock(&s->wlock);
    for (int l = 0; l < FW_SQ_NLEVELS && st == FW_STORE_OK; l++) {
        int64_t R = fw_sq_res[l];
        int64_t target = fw_floor(now_s - FW_SQ_GRACE, R);
        if (l > 0 && target > fw_floor(s->wm[l - 1], R))
            target = fw_floor(s->wm[l - 1], R);
        if (s->wm[l] >= target)
            continue;
        if (s->wm[l] == 0) {
            /* First run: start at the oldest data rather than at 1970. */
            int64_t mn = -1;
            if (fw_sq_source_min(s, l, &mn) != SQLITE_OK) {
                st = FW_STORE_ERR_IO;
                break;
            }
            int64_t start = mn < 0 ? target : fw_floor(mn, R);
            if (start > target)
                start = target;
            if (start <= 0)
                start = R;  /* 0 means "never rolled"; data at t < R is not a real use */
            char *m = sqlite3_mprintf("UPDATE meta SET value = %lld WHERE key = 'wm_%lld'", (long long)start,
                                      (long long)R);
            int rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
            sqlite3_free(m);
            if (rc != SQLITE_OK) {
                st = fw_sq_status(rc);
                break;
            }
            s->wm[l] = start;
        }
        int64_t span = R * (l == 0 ? 10 : 4);
        while (s->wm[l] < target && st == FW_STORE_OK && fw_mono_ms() < deadline) {
            int64_t b = s->wm[l] + span < target ? s->wm[l] + span : target;
            st = fw_sq_rollup_span(s, l, s->wm[l], b);
        }
    }
    /* Retention does not depend on the roll-ups: whatever failed above, old data still goes. */
    int64_t deleted = 0;
    fw_store_status st2 = fw_sq_delete_old(s, now_s - s->retention_s, deadline + 250, &deleted);
    if (st == FW_STORE_OK)
        st = st2;
    if (deleted > 0)
        s->gc_due = 1;
    pthread_mutex_unlock(&s->wlock);
    fw_sq_gc(s);
    /* PASSIVE never waits for readers; it copies what it can from the WAL into the database. */
    fw_sq_checkpoint(s, 1);
    return st;
}
