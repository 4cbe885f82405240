/*
 * fw_store_gc.c: which stacks are still used, for the dimension GC of the SQLite store.
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
 *   sweep  in fw_store_sqlite.c, under the writer lock: stacks that are neither live nor were
 *          used by an upload while the mark ran, then frames no remaining stack uses, then
 *          functions no remaining frame uses, go from the file and from the cache.
 *
 * The block text is parsed here rather than with json_each: only the first number of each
 * triple matters, and a byte loop over the text is far cheaper than a SQLite row per stack.
 */
#include "fw_sqlite_gc.h"

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
