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
 *          retained raw or roll-up block names is live, then every ancestor of a live stack
 *          (the trie: a stack is its path from the root);
 *   sweep  in fw_store_sqlite.c, under the writer lock: stacks that are neither live nor were
 *          used by an upload while the mark ran, then frames no remaining stack uses, then
 *          functions no remaining frame uses, go from the file and from the cache.
 *
 * The block text is parsed here rather than with json_each: only the first number of each
 * triple matters, and a byte loop over the text is far cheaper than a SQLite row per stack.
 */
#include "fw_store_gc.h"

#include <stddef.h>

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

int fw_store_gc_mark_blocks(sqlite3 *db, unsigned char *live, uint32_t n)
{
    static const char *const q[] = {"SELECT stacks FROM sample_blocks", "SELECT stacks FROM rollup_blocks"};
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int k = 0; rc == SQLITE_OK && k < 2; k++) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(db, q[k], -1, &st, NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            int len = sqlite3_column_bytes(st, 0);
            rc = t && fw_gc_mark_text(t, (size_t)len, live, n) == 0 ? SQLITE_OK : SQLITE_CORRUPT;
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
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
