/*
 * fw_sqlite_dims.c: where the SQLite store's dimension cache finds what it does not hold.
 *
 * The cache (store/fw_store_dims.c) is bounded: a miss asks a source. Here a source is one
 * connection (the writer's, inside the upload's transaction, or a reader's, inside the query's
 * snapshot) and eight point queries, each on a primary key or a UNIQUE index: id -> content and
 * content -> id for functions, frames, stacks and label sets. Statements are prepared on the first
 * miss of their kind, so a query the cache answers whole prepares nothing. Strings are copied into
 * the source's buffer before the statement is reset, so no statement stays open across calls
 * (a pending statement would hold its snapshot, or a COMMIT).
 */
#include "fw_sqlite.h"

#include <stdlib.h>
#include <string.h>

static const char *const fw_sq_by_id_sql[FW_DIM_KINDS] = {
    "SELECT name, file FROM functions WHERE id = ?1",
    "SELECT function_id, line FROM frames WHERE id = ?1",
    "SELECT parent_id, frame_id FROM stacks WHERE id = ?1",
    "SELECT labels, '' FROM labelsets WHERE id = ?1",
};
static const char *const fw_sq_by_val_sql[FW_DIM_KINDS] = {
    "SELECT id FROM functions WHERE name = ?1 AND file = ?2",
    "SELECT id FROM frames WHERE function_id = ?1 AND line = ?2",
    "SELECT id FROM stacks WHERE parent_id = ?1 AND frame_id = ?2",
    "SELECT id FROM labelsets WHERE labels = ?1",
};

static sqlite3_stmt *fw_sq_src_stmt(fw_sq_src *x, sqlite3_stmt **st, const char *sql)
{
    if (!*st && sqlite3_prepare_v3(x->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
    }
    return *st;
}

static int fw_sq_src_by_id(fw_dims_src *base, int kind, uint32_t id, fw_dims_val *out)
{
    fw_sq_src *x = (fw_sq_src *)base;
    sqlite3_stmt *st = fw_sq_src_stmt(x, &x->by_id[kind], fw_sq_by_id_sql[kind]);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    memset(out, 0, sizeof *out);
    if (r == 1 && (kind == FW_DIM_FN || kind == FW_DIM_LS)) {
        const char *a = (const char *)sqlite3_column_text(st, 0), *b = (const char *)sqlite3_column_text(st, 1);
        size_t la = a ? strlen(a) + 1 : 1, lb = b ? strlen(b) + 1 : 1;
        char *buf = realloc(x->buf, la + lb);
        if (!buf) {
            r = -1;
        } else {
            x->buf = buf;
            memcpy(buf, a ? a : "", la);
            memcpy(buf + la, b ? b : "", lb);
            out->s1 = buf;
            out->s2 = kind == FW_DIM_FN ? buf + la : NULL;
        }
    } else if (r == 1 && kind == FW_DIM_FR) {
        int64_t f = sqlite3_column_int64(st, 0);
        out->a = f > 0 && f < UINT32_MAX ? (uint32_t)f : 0;
        out->line = sqlite3_column_int64(st, 1);
    } else if (r == 1) {
        int64_t p = sqlite3_column_int64(st, 0), f = sqlite3_column_int64(st, 1);
        out->a = p > 0 && p < UINT32_MAX ? (uint32_t)p : 0;
        out->b = f > 0 && f < UINT32_MAX ? (uint32_t)f : 0;
        if (!out->b)
            r = -1;   /* a stack row without a frame: a corrupt file */
    }
    sqlite3_reset(st);
    return r;
}

static int fw_sq_src_by_val(fw_dims_src *base, int kind, const fw_dims_val *v, uint32_t *id)
{
    fw_sq_src *x = (fw_sq_src *)base;
    sqlite3_stmt *st = fw_sq_src_stmt(x, &x->by_val[kind], fw_sq_by_val_sql[kind]);
    if (!st)
        return -1;
    switch (kind) {
    case FW_DIM_FN:
        sqlite3_bind_text(st, 1, v->s1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, v->s2, -1, SQLITE_STATIC);
        break;
    case FW_DIM_FR:
        sqlite3_bind_int64(st, 1, v->a);
        sqlite3_bind_int64(st, 2, v->line);
        break;
    case FW_DIM_ST:
        sqlite3_bind_int64(st, 1, v->a);
        sqlite3_bind_int64(st, 2, v->b);
        break;
    default:
        sqlite3_bind_text(st, 1, v->s1, -1, SQLITE_STATIC);
        break;
    }
    int rc = sqlite3_step(st), r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r == 1) {
        int64_t i = sqlite3_column_int64(st, 0);
        if (i > 0 && i < UINT32_MAX - 1)
            *id = (uint32_t)i;
        else
            r = -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r;
}

void fw_sq_src_init(fw_sq_src *x, sqlite3 *db, uint64_t epoch)
{
    memset(x, 0, sizeof *x);
    x->base.by_id = fw_sq_src_by_id;
    x->base.by_val = fw_sq_src_by_val;
    x->base.epoch = epoch;
    x->db = db;
}

void fw_sq_src_done(fw_sq_src *x)
{
    for (int k = 0; k < FW_DIM_KINDS; k++) {
        sqlite3_finalize(x->by_id[k]);
        sqlite3_finalize(x->by_val[k]);
    }
    free(x->buf);
    memset(x, 0, sizeof *x);
}

/* The next id of each kind (one past the largest stored), and which kinds the empty cache already
 * holds whole (an empty table): their misses need not ask. Opening reads nothing else. */
fw_store_status fw_sq_dims_open(fw_sq *s, char *err, size_t errlen)
{
    static const char *const q[FW_DIM_KINDS] = {
        "SELECT coalesce(max(id), 0) FROM functions", "SELECT coalesce(max(id), 0) FROM frames",
        "SELECT coalesce(max(id), 0) FROM stacks", "SELECT coalesce(max(id), 0) FROM labelsets",
    };
    for (int k = 0; k < FW_DIM_KINDS; k++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->w, q[k], -1, &st, NULL);
        int64_t max = 0;
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            max = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK) {
            fw_store_errf(err, errlen, "reading dimension ids: %s", sqlite3_errmsg(s->w));
            return fw_sq_status(rc);
        }
        if (max < 0 || max >= (int64_t)UINT32_MAX - 2) {
            fw_store_errf(err, errlen, "reading dimension ids: id %lld out of range", (long long)max);
            return FW_STORE_ERR_IO;
        }
        s->next[k] = (uint32_t)max + 1;
        s->c.complete[k] = max == 0;
    }
    fw_sq_src_init(&s->wsrc, s->w, 0);
    return FW_STORE_OK;
}
