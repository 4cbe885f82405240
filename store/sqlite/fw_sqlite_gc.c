/*
 * fw_sqlite_gc.c: the dimension GC of the SQLite store: which stacks are still used, and forgetting the rest.
 *
 * Functions, frames and stacks are interned once and shared by every block that uses them, so
 * deleting old blocks (retention) does not delete them: a service that puts ids, hashes or
 * generated names in its function names (five uploads of 100,000 unique names took the server
 * from 8 MB to 484 MB) would keep them in the file and in the writer's in-memory cache forever.
 * The GC is mark and sweep, run by maintenance after retention deleted something:
 *
 *   mark   here, on a read-only connection and without the writer lock: every stack id that a
 *          retained raw or roll-up block names is live (read through the merged roll-ups, see
 *          fw_store_gc_mark_blocks), then every ancestor of a live stack (the trie: a stack is
 *          its path from the root);
 *   sweep  below, under the writer lock: stacks that are neither live nor were
 *          used by an upload while the mark ran, then frames no remaining stack uses, then
 *          functions no remaining frame uses, go from the file and from the cache.
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

/* Marks the stack ids of one block's text [[s,v,c],...]. 0, or -1 if it is not such text. */
static int fw_gc_mark_text(const unsigned char *p, size_t len, unsigned char *live, uint32_t n)
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
            if (v > 0 && v < n)
                live[v] = 1;
            first = 0;
        } else if (ch == ',' && depth == 2) {
            first = 0;
        }
    }
    return depth == 0 ? 0 : -1;
}

/* Marks the stacks of every block `sql` (one parameter: the series id) lists, for each series. */
static int fw_gc_mark_query(sqlite3 *db, sqlite3_stmt *ser, const char *sql, unsigned char *live, uint32_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(ser)) == SQLITE_ROW) {
        sqlite3_bind_int64(st, 1, sqlite3_column_int64(ser, 0));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            int len = sqlite3_column_bytes(st, 0);
            if (!t || fw_gc_mark_text(t, (size_t)len, live, n) != 0) {
                rc = SQLITE_CORRUPT;
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

int fw_store_gc_mark_blocks(sqlite3 *db, unsigned char *live, uint32_t n)
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

void fw_store_gc_close_over(const uint32_t *parent, uint32_t n, unsigned char *live)
{
    for (uint32_t i = n; i-- > 1;) {
        if (!live[i])
            continue;
        /* Stop at the first ancestor already live: its own ancestors are, or will be, done. */
        for (uint32_t p = parent[i]; p != 0 && p < n && !live[p]; p = parent[p])
            live[p] = 1;
    }
}

/* ---------------------------------------------------------------- dimension GC
 *
 * See the top of this file for the design. The sweep runs under wlock: it deletes the stacks that
 * neither a retained block (live) nor an upload during the mark (touch) uses, then the frames and
 * functions that no remaining stack uses, in one transaction, and forgets them in the cache.
 * Stack ids >= n were created during the mark and are kept. */
#define FW_SQ_GC_INTERVAL_MS ((int64_t)60 * 1000)

static int fw_sq_gc_delete(fw_sq *s, const char *sql, const uint32_t *ids, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static int fw_sq_gc_sweep(fw_sq *s, unsigned char *live, const unsigned char *touch, uint32_t n, size_t *forgot)
{
    fw_dims *c = &s->c;
    for (uint32_t i = 0; i < n; i++)
        live[i] |= touch[i];
    fw_store_gc_close_over(c->st_parent, n, live);
    unsigned char *fr_used = calloc(c->fr_n + 1, 1), *fn_used = calloc(c->fn_n + 1, 1);
    uint32_t *dead = malloc(((size_t)c->st_n + c->fr_n + c->fn_n + 3) * sizeof *dead);
    int rc = SQLITE_NOMEM;
    if (!fr_used || !fn_used || !dead)
        goto out;
    size_t nst = 0, nfr = 0, nfn = 0;
    for (uint32_t i = 1; i < c->st_n; i++) {
        if (!c->st_frame[i])
            continue;
        if (i < n && !live[i])
            dead[nst++] = i;
        else if (c->st_frame[i] < c->fr_n)
            fr_used[c->st_frame[i]] = 1;
    }
    for (uint32_t i = 1; i < c->fr_n; i++) {
        if (!c->fr_func[i])
            continue;
        if (!fr_used[i])
            dead[nst + nfr++] = i;
        else if (c->fr_func[i] < c->fn_n)
            fn_used[c->fr_func[i]] = 1;
    }
    for (uint32_t i = 1; i < c->fn_n; i++)
        if (c->fn_name[i] && !fn_used[i])
            dead[nst + nfr + nfn++] = i;
    rc = SQLITE_OK;
    if (nst + nfr + nfn == 0)
        goto out;
    rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM stacks WHERE id = ?1", dead, nst);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM frames WHERE id = ?1", dead + nst, nfr);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM functions WHERE id = ?1", dead + nst + nfr, nfn);
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "COMMIT");
    if (rc != SQLITE_OK) {
        fw_sq_exec(s->w, "ROLLBACK");
        goto out;
    }
    /* Only once the deletes are durable does the cache forget: it never holds less than the file
     * refers to, nor ids the file does not have. Readers hold clock while they walk the arrays. */
    pthread_rwlock_wrlock(&s->clock);
    for (size_t k = 0; k < nst; k++)
        c->st_parent[dead[k]] = c->st_frame[dead[k]] = 0;
    for (size_t k = nst; k < nst + nfr; k++) {
        c->fr_func[dead[k]] = 0;
        c->fr_line[dead[k]] = 0;
    }
    for (size_t k = nst + nfr; k < nst + nfr + nfn; k++) {
        free(c->fn_name[dead[k]]);
        free(c->fn_file[dead[k]]);
        c->fn_name[dead[k]] = c->fn_file[dead[k]] = NULL;
    }
    /* The maps are rebuilt at their new size, so their memory goes too. */
    fw_map_free(&c->fn_map);
    fw_map_free(&c->fr_map);
    fw_map_free(&c->st_map);
    fw_map_free(&c->pa_map);
    if (fw_dims_reindex(c) != 0)
        rc = SQLITE_NOMEM;
    pthread_rwlock_unlock(&s->clock);
    fprintf(stderr, "flamewatch store: forgot %zu stacks, %zu frames and %zu functions no retained sample uses\n",
            nst, nfr, nfn);
    *forgot = nst + nfr + nfn;
out:
    free(fr_used);
    free(fn_used);
    free(dead);
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
    uint32_t n = s->c.st_n;
    unsigned char *touch = calloc(n, 1), *live = calloc(n, 1);
    int rc = touch && live ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_OK && !s->gcdb) {
        rc = sqlite3_open_v2(s->path, &s->gcdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
            sqlite3_busy_timeout(s->gcdb, 10000);
    }
    if (rc == SQLITE_OK) {
        s->gc_touch = touch;
        s->gc_n = n;
        s->gc_running = 1;   /* one GC at a time: a second would take gc_touch from the first */
    }
    pthread_mutex_unlock(&s->wlock);
    if (rc == SQLITE_OK)
        rc = fw_store_gc_mark_blocks(s->gcdb, live, n);
    if (s->gc_hook)
        s->gc_hook(s->gc_hook_arg);
    pthread_mutex_lock(&s->wlock);
    s->gc_running = 0;
    s->gc_touch = NULL;
    s->gc_n = 0;
    size_t forgot = 0;
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_sweep(s, live, touch, n, &forgot);
    pthread_mutex_unlock(&s->wlock);
#ifdef __GLIBC__
    /* Give the freed names and maps back to the system (outside the writer lock): glibc keeps
     * free memory in its arenas otherwise, and the point of forgetting them was the server's size
     * (310 MB -> 51 MB after 5 uploads of 100,000 unique names expired, docs/STORAGE.md). */
    if (forgot)
        malloc_trim(0);
#endif
    if (rc != SQLITE_OK)
        fprintf(stderr, "flamewatch store: dimension GC skipped: %s\n", sqlite3_errstr(rc));
    free(touch);
    free(live);
}
