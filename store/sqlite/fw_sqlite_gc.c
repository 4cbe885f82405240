/*
 * fw_sqlite_gc.c: the dimension GC of the SQLite store: which stacks are still used, and forgetting the rest.
 *
 * Functions, frames and stacks are interned once and shared by every block that uses them, so
 * deleting old blocks (retention) does not delete them: a service that puts ids, hashes or
 * generated names in its function names (five uploads of 100,000 unique names took the server
 * from 8 MB to 484 MB) would keep them in the file forever. The same holds for label sets (a
 * request id in a label makes one per upload).
 * The GC is mark and sweep, run by maintenance after retention deleted something:
 *
 *   mark   here, on a read-only connection and without the writer lock: every stack id that a
 *          retained raw or roll-up block names is live (read through the merged roll-ups, see
 *          fw_store_gc_mark_blocks), then, in the sweep, every ancestor of a live stack (the
 *          trie: a stack is its path from the root);
 *   sweep  below, under the writer lock: stacks that are neither live nor were
 *          used by an upload while the mark ran, then frames no remaining stack uses, then
 *          functions no remaining frame uses, and label sets no block uses, go from the file
 *          and from the cache.
 *
 * The block text is parsed here rather than with json_each: only the first number of each
 * triple matters, and a byte loop over the text is far cheaper than a SQLite row per stack.
 */
#include "fw_sqlite.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include <stddef.h>
#include <stdio.h>

/* Marks the stack ids of one block's text [[s,v,c],...]. 0, -1 if it is not such text, -2 out of memory. */
static int fw_gc_mark_text(const unsigned char *p, size_t len, fw_idmap *live, uint32_t n)
{
    const unsigned char *end = p + len;
    int depth = 0, first = 0;
    for (; p < end; p++) {
        unsigned char ch = *p;
        if (ch == '[') {
            if (++depth > 2)
                return -1;
            first = depth == 2;
        } else if (ch == ']') {
            if (--depth < 0)
                return -1;
        } else if (ch >= '0' && ch <= '9' && first) {
            uint64_t v = 0;
            while (p < end && *p >= '0' && *p <= '9' && v < ((uint64_t)1 << 40))
                v = v * 10 + (uint64_t)(*p++ - '0');
            p--;
            if (v > 0 && v < n && fw_idmap_put(live, (uint32_t)v, 1))
                return -2;
            first = 0;
        } else if (ch == ',' && depth == 2) {
            first = 0;
        }
    }
    return depth == 0 ? 0 : -1;
}

/* Marks the stacks of every block `sql` (one parameter: the series id) lists, for each series. */
static int fw_gc_mark_query(sqlite3 *db, sqlite3_stmt *ser, const char *sql, fw_idmap *live, uint32_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(ser)) == SQLITE_ROW) {
        sqlite3_bind_int64(st, 1, sqlite3_column_int64(ser, 0));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            int len = sqlite3_column_bytes(st, 0);
            int e = t ? fw_gc_mark_text(t, (size_t)len, live, n) : -1;
            if (e != 0) {
                rc = e == -2 ? SQLITE_NOMEM : SQLITE_CORRUPT;
                break;
            }
        }
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        if (rc != SQLITE_OK)
            break;
    }
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_reset(ser);
    sqlite3_finalize(st);
    return rc;
}

int fw_store_gc_mark_blocks(sqlite3 *db, fw_idmap *live, uint32_t n)
{
    /* Reading every retained block would cost a parse of the whole retention (billions of stack
     * values on a busy server). The roll-ups make that unnecessary: a merged block (labelset 0)
     * of a bucket before its level's watermark holds every stack of every raw block in it, late
     * uploads included, so each level covers what the coarser one has not rolled up yet:
     *   day blocks                        all of them (a day bucket stays until wholly past retention)
     *   hour, 15 min, 1 min blocks        from one coarser bucket before the next level's watermark
     *   raw blocks                        from one minute before the 1-minute watermark, or from the
     *                                     oldest span a roll-up skipped (meta gc_raw_from)
     * Overlaps only mark more. The watermarks are read in the same snapshot as the blocks. */
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *ser = NULL, *meta = NULL;
    int64_t wm[4] = {0, 0, 0, 0}, raw_from = INT64_MAX;
    static const char *const keys[5] = {"wm_60", "wm_900", "wm_3600", "wm_86400", "gc_raw_from"};
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &meta, NULL);
    for (int k = 0; rc == SQLITE_OK && k < 5; k++) {
        sqlite3_bind_text(meta, 1, keys[k], -1, SQLITE_STATIC);
        rc = sqlite3_step(meta);
        if (rc == SQLITE_ROW)
            *(k < 4 ? &wm[k] : &raw_from) = sqlite3_column_int64(meta, 0);
        sqlite3_reset(meta);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(meta);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT id FROM series", -1, &ser, NULL);
    static const int64_t res[4] = {60, 900, 3600, 86400};
    char sql[256];
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "SELECT stacks FROM rollup_blocks WHERE series_id = ?1 AND res = 86400 AND labelset_id = 0");
        rc = fw_gc_mark_query(db, ser, sql, live, n);
    }
    for (int l = 2; rc == SQLITE_OK && l >= 0; l--) {
        snprintf(sql, sizeof sql, "SELECT stacks FROM rollup_blocks WHERE series_id = ?1 AND res = %lld"
                 " AND labelset_id = 0 AND t >= %lld", (long long)res[l], (long long)(wm[l + 1] - res[l + 1]));
        rc = fw_gc_mark_query(db, ser, sql, live, n);
    }
    if (rc == SQLITE_OK) {
        int64_t from = wm[0] - 60 < raw_from ? wm[0] - 60 : raw_from;
        snprintf(sql, sizeof sql, "SELECT stacks FROM sample_blocks WHERE series_id = ?1 AND t >= %lld", (long long)from);
        rc = fw_gc_mark_query(db, ser, sql, live, n);
    }
    sqlite3_finalize(ser);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---------------------------------------------------------------- dimension GC
 *
 * See the top of this file for the design. The sweep runs under wlock, in SQL on the writer: the
 * live stacks (a retained block's, an upload's during the mark, and every stack made since the
 * mark began) go into a temporary table, closed over their ancestors; then stacks outside it,
 * frames no remaining stack uses, functions no remaining frame uses, and label sets no block
 * uses (read here, under wlock, so exactly) are deleted in one transaction, and the cache forgets
 * each deleted id once the deletes are durable. Memory is the live set, never an array as long as
 * the largest id. */
#define FW_SQ_GC_INTERVAL_MS ((int64_t)60 * 1000)

/* Runs one statement; with `kind` >= 0 it is a DELETE ... RETURNING id whose ids are appended to
 * dead[kind] (counts in ndead, capacities in cap). */
static int fw_sq_gc_run(fw_sq *s, const char *sql, int kind, uint32_t **dead, uint32_t *ndead, uint32_t *cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (kind < 0)
            continue;
        int64_t id = sqlite3_column_int64(st, 0);
        if (id <= 0 || id >= UINT32_MAX)
            continue;
        if (fw_array_reserve((void **)&dead[kind], sizeof *dead[kind], &cap[kind], ndead[kind]))
            rc = SQLITE_NOMEM;
        else
            dead[kind][ndead[kind]++] = (uint32_t)id;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int fw_sq_gc_put_live(fw_sq *s, const fw_idmap *set)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, "INSERT OR IGNORE INTO temp.gc_live(id) VALUES (?1)", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < set->cap; i++) {
        if (!set->kv[2 * i])
            continue;
        sqlite3_bind_int64(st, 1, set->kv[2 * i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static int fw_sq_gc_sweep(fw_sq *s, const fw_idmap *live, const fw_idmap *touch, uint32_t n, size_t *forgot)
{
    uint32_t *dead[FW_DIM_KINDS] = {NULL, NULL, NULL, NULL}, ndead[FW_DIM_KINDS] = {0, 0, 0, 0},
             cap[FW_DIM_KINDS] = {0, 0, 0, 0};
    char sql[512];
    int rc = fw_sq_exec(s->w, "CREATE TEMP TABLE IF NOT EXISTS gc_live(id INTEGER PRIMARY KEY)");
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "CREATE TEMP TABLE IF NOT EXISTS gc_keep(id INTEGER PRIMARY KEY)");
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "DELETE FROM temp.gc_live; DELETE FROM temp.gc_keep");
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_put_live(s, live);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_put_live(s, touch);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO temp.gc_live(id) SELECT id FROM stacks WHERE id >= %u", n);
        rc = fw_sq_exec(s->w, sql);
    }
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "WITH RECURSIVE a(id) AS (SELECT id FROM temp.gc_live UNION"
                              " SELECT s.parent_id FROM a JOIN stacks s ON s.id = a.id WHERE s.parent_id != 0)"
                              " INSERT OR IGNORE INTO temp.gc_keep(id) SELECT id FROM a");
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "DELETE FROM stacks WHERE id < %u AND id NOT IN (SELECT id FROM temp.gc_keep)"
                 " RETURNING id", n);
        rc = fw_sq_gc_run(s, sql, FW_DIM_ST, dead, ndead, cap);
    }
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_run(s, "DELETE FROM frames WHERE id NOT IN (SELECT frame_id FROM stacks) RETURNING id",
                          FW_DIM_FR, dead, ndead, cap);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_run(s, "DELETE FROM functions WHERE id NOT IN (SELECT function_id FROM frames) RETURNING id",
                          FW_DIM_FN, dead, ndead, cap);
    /* Label sets: labelset_id 0 (merged roll-ups) is no row. Read under wlock, so exact. */
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_run(s, "DELETE FROM labelsets WHERE id NOT IN (SELECT labelset_id FROM sample_blocks)"
                             " AND id NOT IN (SELECT labelset_id FROM rollup_blocks) RETURNING id",
                          FW_DIM_LS, dead, ndead, cap);
    if (rc == SQLITE_OK && ndead[FW_DIM_LS])
        rc = fw_sq_gc_run(s, "DELETE FROM labels WHERE labelset_id NOT IN (SELECT id FROM labelsets)", -1, dead,
                          ndead, cap);
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "DELETE FROM temp.gc_live; DELETE FROM temp.gc_keep");
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "COMMIT");
    if (rc != SQLITE_OK) {
        fw_sq_exec(s->w, "ROLLBACK");
        goto out;
    }
    /* Only once the deletes are durable does the cache forget; the epoch then tells readers whose
     * snapshot is older that what they load may be gone (fw_store_dims.h, "Staleness"). */
    pthread_mutex_lock(&s->clock);
    size_t total = 0;
    for (int k = 0; k < FW_DIM_KINDS; k++) {
        for (uint32_t i = 0; i < ndead[k]; i++)
            fw_dims_forget(&s->c, k, dead[k][i]);
        total += ndead[k];
    }
    s->c.epoch++;
    pthread_mutex_unlock(&s->clock);
    if (total)
        fprintf(stderr, "flamewatch store: forgot %u stacks, %u frames, %u functions and %u label sets no retained "
                "sample uses\n", ndead[FW_DIM_ST], ndead[FW_DIM_FR], ndead[FW_DIM_FN], ndead[FW_DIM_LS]);
    *forgot = total;
out:
    for (int k = 0; k < FW_DIM_KINDS; k++)
        free(dead[k]);
    return rc;
}

void fw_sq_gc(fw_sq *s)
{
    pthread_mutex_lock(&s->wlock);
    int64_t now = fw_mono_ms();
    if (!s->gc_due || s->gc_running || (s->gc_last_ms && now - s->gc_last_ms < FW_SQ_GC_INTERVAL_MS)) {
        pthread_mutex_unlock(&s->wlock);
        return;
    }
    s->gc_due = 0;
    s->gc_last_ms = now;
    uint32_t n = s->next[FW_DIM_ST];
    fw_idmap touch = {0}, live = {0};
    int rc = SQLITE_OK;
    if (!s->gcdb) {
        rc = sqlite3_open_v2(s->path, &s->gcdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
            sqlite3_busy_timeout(s->gcdb, 10000);
    }
    if (rc == SQLITE_OK) {
        s->gc_touch = &touch;
        s->gc_n = n;
        s->gc_running = 1;   /* one GC at a time: a second would take gc_touch from the first */
    }
    pthread_mutex_unlock(&s->wlock);
    if (rc == SQLITE_OK)
        rc = fw_store_gc_mark_blocks(s->gcdb, &live, n);
    if (s->gc_hook)
        s->gc_hook(s->gc_hook_arg);
    pthread_mutex_lock(&s->wlock);
    s->gc_running = 0;
    s->gc_touch = NULL;
    s->gc_n = 0;
    size_t forgot = 0;
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_sweep(s, &live, &touch, n, &forgot);
    pthread_mutex_unlock(&s->wlock);
    fw_idmap_free(&touch);
    fw_idmap_free(&live);
#ifdef __GLIBC__
    /* Give the freed entries and sets back to the system (outside the writer lock): glibc keeps
     * free memory in its arenas otherwise. */
    if (forgot)
        malloc_trim(0);
#endif
    if (rc != SQLITE_OK)
        fprintf(stderr, "flamewatch store: dimension GC skipped: %s\n", sqlite3_errstr(rc));
}
