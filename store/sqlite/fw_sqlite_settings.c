/*
 * fw_sqlite_settings.c: agent settings, the agents list, stats and the read-only SQL entry point
 * (the SQLite backend).
 *
 * Settings and agents are one row each, written on the writer connection under wlock, read on the
 * pool. Users' SQL runs on the console's own connections (fw_sqlite_console.c), never the pool's.
 */
#include "fw_sqlite.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

/* The console has connections of its own (fw_sqlite_console.c), apart from the pool. */
fw_store_status fw_sq_sql_run(fw_store *base, const char *sql, const fw_store_sql_limits *lim,
                                     fw_store_sql_result *out, char *err, size_t errlen)
{
    return fw_sqc_run(((fw_sq *)base)->con, sql, lim, out, err, errlen);
}


fw_store_status fw_sq_settings_get(fw_store *base, const char *app, fw_store_settings *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r[ri],
                                "SELECT enabled, cpu, cpu_interval_ms, wall, memory, memory_threshold_kb,"
                                " updated_at FROM settings WHERE app = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->enabled = sqlite3_column_int(st, 0);
            out->cpu = sqlite3_column_int(st, 1);
            out->cpu_interval_ms = sqlite3_column_int(st, 2);
            out->wall = sqlite3_column_int(st, 3);
            out->memory = sqlite3_column_int(st, 4);
            out->memory_threshold_kb = sqlite3_column_int(st, 5);
            out->updated_at = sqlite3_column_int64(st, 6);
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    fw_sq_reader_put(s, ri);
    return fw_sq_status(rc);
}

static fw_store_status fw_sq_write1(fw_sq *s, const char *sql, const char *t1, const char *t2,
                                    const int64_t *ints, int nints)
{
    pthread_mutex_lock(&s->wlock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        int k = 1;
        sqlite3_bind_text(st, k++, t1, -1, SQLITE_STATIC);
        if (t2)
            sqlite3_bind_text(st, k++, t2, -1, SQLITE_STATIC);
        for (int i = 0; i < nints; i++)
            sqlite3_bind_int64(st, k++, ints[i]);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wlock);
    return fw_sq_status(rc);
}

fw_store_status fw_sq_settings_put(fw_store *base, const char *app, const fw_store_settings *v,
                                          int64_t now_s)
{
    int64_t ints[] = {v->enabled, v->cpu, v->cpu_interval_ms, v->wall, v->memory, v->memory_threshold_kb, now_s};
    return fw_sq_write1((fw_sq *)base,
                        "INSERT OR REPLACE INTO settings(app, enabled, cpu, cpu_interval_ms, wall, memory,"
                        " memory_threshold_kb, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        app, NULL, ints, 7);
}

fw_store_status fw_sq_agent_seen(fw_store *base, const char *app, const char *host, int64_t pid,
                                        int64_t upd, int64_t now_s)
{
    int64_t ints[] = {pid, now_s, upd};
    return fw_sq_write1((fw_sq *)base,
                        "INSERT OR REPLACE INTO agents(app, host, pid, last_fetch, settings_updated_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)", app, host, ints, 3);
}

fw_store_status fw_sq_agents_list(fw_store *base, const char *app, fw_store_agents *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r[ri],
                                "SELECT host, pid, last_fetch, settings_updated_at FROM agents WHERE app = ?1"
                                " ORDER BY last_fetch DESC, host, pid", -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fw_store_agent *na = realloc(out->agents, (out->nagents + 1) * sizeof *na);
        if (!na) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->agents = na;
        fw_store_agent *a = &na[out->nagents++];
        a->host = fw_store_strdup((const char *)sqlite3_column_text(st, 0));
        a->pid = sqlite3_column_int64(st, 1);
        a->last_fetch = sqlite3_column_int64(st, 2);
        a->settings_updated_at = sqlite3_column_int64(st, 3);
        rc = a->host ? SQLITE_OK : SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    fw_sq_reader_put(s, ri);
    fw_store_status r = fw_sq_status(rc == SQLITE_DONE ? SQLITE_DONE : (rc == SQLITE_OK ? SQLITE_ERROR : rc));
    if (r != FW_STORE_OK)
        fw_store_agents_free(out);
    return r;
}

static int64_t fw_sq_file_size(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat sb;
    if ((size_t)snprintf(buf, sizeof buf, "%s%s", path, suffix) >= sizeof buf || stat(buf, &sb) != 0)
        return 0;
    return (int64_t)sb.st_size;
}

fw_store_status fw_sq_stats(fw_store *base, fw_store_stats *out)
{
    fw_sq *s = (fw_sq *)base;
    out->size_bytes = fw_sq_file_size(s->path, "") + fw_sq_file_size(s->path, "-wal");
    int ri = fw_sq_reader_get(s);
    if (ri < 0)
        return FW_STORE_ERR_BUSY;
    int rc = fw_sq_meta_get(s->r[ri], "profiles", &out->profiles);
    if (rc == SQLITE_OK)
        rc = fw_sq_meta_get(s->r[ri], "stack_values", &out->stack_values);
    if (rc == SQLITE_OK)
        rc = fw_sq_meta_get(s->r[ri], "raw_rows", &out->rows);
    if (rc == SQLITE_OK) {
        /* Counted in the file: the cache holds only some of them, and ids have holes once the
         * dimension GC ran. */
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->r[ri], "SELECT count(*) FROM stacks", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            out->stacks = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    fw_sq_reader_put(s, ri);
    pthread_mutex_lock(&s->clock);
    out->cache_bytes = (int64_t)fw_dims_bytes(&s->c);
    out->cache_budget = (int64_t)s->c.budget;
    out->cache_entries = (int64_t)s->c.nused;
    out->cache_evictions = (int64_t)s->c.evictions;
    pthread_mutex_unlock(&s->clock);
    pthread_mutex_lock(&s->clock);
    out->cache_bytes = (int64_t)fw_dims_bytes(&s->c);
    out->cache_budget = (int64_t)s->c.budget;
    out->cache_entries = (int64_t)s->c.nused;
    out->cache_evictions = (int64_t)s->c.evictions;
    pthread_mutex_unlock(&s->clock);
    return fw_sq_status(rc);
}
