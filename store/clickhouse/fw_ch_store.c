/*
 * fw_ch_store.c: opening a ClickHouse store: the schema, the request helpers and the operations
 * table (the ClickHouse backend).
 *
 * Schema (docs/STORAGE.md, "ClickHouse"): `samples` is a MergeTree partitioned by UTC day
 * (intDiv(t, 86400): integer seconds as SQLite keeps them, no dependence on the server's time
 * zone) and ordered by (app, type, t, labelset), the console's access path. `samples_1h` is a
 * SummingMergeTree that a materialized view fills from every insert into `samples`, so long
 * ranges read hour sums instead of 10 s rows. Functions, stacks and label sets are
 * ReplacingMergeTree tables keyed by content hash; series, settings, agents likewise, with a
 * version column so the newest row wins. Every statement here is accepted by ClickHouse 18.16 and
 * by current releases (IF NOT EXISTS everywhere: opening is idempotent, any number of servers may
 * open the same database at once).
 *
 * Cluster mode (?cluster=NAME): each table is created as NAME_local ON CLUSTER, plus a Distributed
 * table of the plain name over it, so queries and inserts use the same names in both modes.
 * Inserts go through the Distributed tables with insert_distributed_sync=1: an upload is
 * acknowledged only after every shard it touched has its rows.
 */
#include "fw_ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* name, columns, engine (for the local table), ORDER BY, PARTITION BY ("" = none), sharding key */
static const struct {
    const char *name, *cols, *engine, *order, *part, *shard;
} fw_ch_tables[] = {
    {"samples", "app String, type String, t Int64, labelset UInt64, stack UInt64, value Int64, count Int64",
     "MergeTree", "(app, type, t, labelset)", "intDiv(t, 86400)", "rand()"},
    {"samples_1h", "app String, type String, t Int64, labelset UInt64, stack UInt64, value Int64, count Int64",
     "SummingMergeTree((value, count))", "(app, type, t, labelset, stack)", "intDiv(t, 86400)", "rand()"},
    {"functions", "id UInt64, name String, file String", "ReplacingMergeTree", "id", "", "id"},
    {"stacks", "id UInt64, funcs Array(UInt64), lines Array(Int64)", "ReplacingMergeTree", "id", "", "id"},
    {"labels", "labelset UInt64, key String, value String", "ReplacingMergeTree", "(labelset, key, value)", "",
     "labelset"},
    {"series", "app String, type String, unit String", "ReplacingMergeTree", "(app, type)", "",
     "cityHash64(app, type)"},
    {"settings", "app String, enabled UInt8, cpu UInt8, cpu_interval_ms Int32, wall UInt8, memory UInt8,"
                 " memory_threshold_kb Int32, updated_at Int64, version UInt64",
     "ReplacingMergeTree(version)", "app", "", "cityHash64(app)"},
    {"agents", "app String, host String, pid Int64, last_fetch Int64, settings_updated_at Int64, version UInt64",
     "ReplacingMergeTree(version)", "(app, host, pid)", "", "cityHash64(app, host, pid)"},
    {"uploads", "k UInt8, profiles UInt64, stack_values UInt64, rows UInt64", "SummingMergeTree", "k", "", "rand()"},
};

void fw_ch_on_cluster(fw_ch *s, fw_ch_buf *b)
{
    if (s->cluster)
        fw_ch_printf(b, " ON CLUSTER %s", s->url.cluster);
}

fw_store_status fw_ch_exec(fw_ch *s, const char *sql, char *err, size_t errlen)
{
    return fw_ch_http_run(s->http, sql, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, err, errlen);
}

fw_store_status fw_ch_select(fw_ch *s, const char *sql, fw_ch_buf *resp, char *err, size_t errlen)
{
    static const char *const set[] = {"max_execution_time=60", NULL};
    return fw_ch_http_run(s->http, sql, NULL, 0, set, 60000, 0, resp, NULL, err, errlen);
}

fw_store_status fw_ch_insert(fw_ch *s, const char *table, const char *columns, const fw_ch_buf *rows,
                             char *err, size_t errlen)
{
    static const char *const sync[] = {"insert_distributed_sync=1", NULL};
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO %s (%s) FORMAT RowBinary", table, columns);
    return fw_ch_http_run(s->http, sql, rows->p ? rows->p : "", rows->n, s->cluster ? sync : NULL, 0, 1 << 20,
                          NULL, NULL, err, errlen);
}

/* Creates the database and every table (and, in cluster mode, the Distributed tables). */
static fw_store_status fw_ch_schema(fw_ch *s, char *err, size_t errlen)
{
    fw_ch_buf b = {0};
    fw_store_status st = FW_STORE_OK;
    const char *sfx = s->cluster ? "_local" : "";
    /* The database first, through the default database (ours may not exist yet). */
    fw_ch_printf(&b, "CREATE DATABASE IF NOT EXISTS %s", s->url.db);
    fw_ch_on_cluster(s, &b);
    if (fw_ch_buf_nul(&b) != 0) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }
    {
        fw_ch_url u0 = s->url;
        snprintf(u0.db, sizeof u0.db, "default");
        fw_ch_http *h0 = fw_ch_http_new(&u0, err, errlen);
        if (!h0) {
            st = FW_STORE_ERR_NOMEM;
            goto out;
        }
        st = fw_ch_http_run(h0, b.p, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, err, errlen);
        fw_ch_http_free(h0);
        if (st != FW_STORE_OK)
            goto out;
    }
    for (size_t i = 0; i < sizeof fw_ch_tables / sizeof fw_ch_tables[0]; i++) {
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%s", s->url.db, fw_ch_tables[i].name, sfx);
        fw_ch_on_cluster(s, &b);
        fw_ch_printf(&b, " (%s) ENGINE = %s", fw_ch_tables[i].cols, fw_ch_tables[i].engine);
        if (fw_ch_tables[i].part[0])
            fw_ch_printf(&b, " PARTITION BY %s", fw_ch_tables[i].part);
        fw_ch_printf(&b, " ORDER BY %s", fw_ch_tables[i].order);
        if (fw_ch_buf_nul(&b) != 0 || (st = fw_ch_exec(s, b.p, err, errlen)) != FW_STORE_OK)
            goto out;
        if (!s->cluster)
            continue;
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE TABLE IF NOT EXISTS %s.%s", s->url.db, fw_ch_tables[i].name);
        fw_ch_on_cluster(s, &b);
        fw_ch_printf(&b, " AS %s.%s_local ENGINE = Distributed(%s, %s, %s_local, %s)", s->url.db,
                     fw_ch_tables[i].name, s->url.cluster, s->url.db, fw_ch_tables[i].name, fw_ch_tables[i].shard);
        if (fw_ch_buf_nul(&b) != 0 || (st = fw_ch_exec(s, b.p, err, errlen)) != FW_STORE_OK)
            goto out;
    }
    /* The hour roll-up, filled on each shard from that shard's own inserts. */
    fw_ch_buf_reset(&b);
    fw_ch_printf(&b, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s.samples_1h_mv%s", s->url.db, sfx);
    fw_ch_on_cluster(s, &b);
    fw_ch_printf(&b, " TO %s.samples_1h%s AS SELECT app, type, intDiv(t, 3600) * 3600 AS t, labelset, stack,"
                     " value, count FROM %s.samples%s", s->url.db, sfx, s->url.db, sfx);
    if (fw_ch_buf_nul(&b) != 0) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }
    st = fw_ch_exec(s, b.p, err, errlen);
out:
    if (st == FW_STORE_ERR_NOMEM && err && !*err)
        fw_store_errf(err, errlen, "out of memory");
    fw_ch_buf_free(&b);
    return st;
}

static void fw_ch_close(fw_store *base)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_http_free(s->http);
    fw_ch_idset_free(&s->known_fn);
    fw_ch_idset_free(&s->known_st);
    fw_ch_idset_free(&s->known_ls);
    fw_ch_idset_free(&s->known_series);
    pthread_mutex_destroy(&s->klock);
    free(s);
}

static const fw_store_ops fw_ch_ops = {
    .name = "clickhouse",
    .close = fw_ch_close,
    .ingest = fw_ch_ingest,
    .maintain = fw_ch_maintain,
    .list_apps = fw_ch_apps,
    .label_values = fw_ch_labels,
    .trend = fw_ch_trend,
    .tree = fw_ch_flame,
    .table = fw_ch_table,
    .diff = fw_ch_diff,
    .sql_text = fw_ch_sql_text,
    .sql_run = fw_ch_sql_run,
    .settings_get = fw_ch_settings_get,
    .settings_put = fw_ch_settings_put,
    .agent_seen = fw_ch_agent_seen,
    .agents_list = fw_ch_agents_list,
    .stats = fw_ch_stats,
};

int fw_store_clickhouse_url_check(const char *url, char *err, size_t errlen)
{
    fw_ch_url u;
    return fw_ch_url_parse(url, &u, err, errlen);
}

fw_store_status fw_store_open_clickhouse(const char *url, const fw_store_options *opt, fw_store **out,
                                         char *err, size_t errlen)
{
    *out = NULL;
    fw_ch *s = calloc(1, sizeof *s);
    if (!s) {
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    s->base.ops = &fw_ch_ops;
    pthread_mutex_init(&s->klock, NULL);
    if (fw_ch_url_parse(url, &s->url, err, errlen) != 0) {
        fw_ch_close(&s->base);
        return FW_STORE_ERR_INVALID;
    }
    s->cluster = s->url.cluster[0] != 0;
    s->retention_s = opt && opt->retention_s > 0 ? opt->retention_s : FW_CH_DEFAULT_RETENTION;
    s->http = fw_ch_http_new(&s->url, err, errlen);
    if (!s->http) {
        fw_ch_close(&s->base);
        return FW_STORE_ERR_IO;
    }
    fw_store_status st = fw_ch_schema(s, err, errlen);
    if (st != FW_STORE_OK) {
        fw_ch_close(&s->base);
        return st;
    }
    *out = &s->base;
    return FW_STORE_OK;
}
