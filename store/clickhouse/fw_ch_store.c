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
 * Cluster mode (?cluster=NAME): each table is created as NAME_local on every node, plus a
 * Distributed table of the plain name over it, so queries and inserts use the same names in both
 * modes. "Every node" is ON CLUSTER when the cluster runs distributed DDL (it needs ZooKeeper);
 * without it (a plain remote_servers cluster, as the tests run 18.16), each host listed in the URL
 * (clickhouse://h1:8123,h2:8123/db?cluster=NAME) gets the DDL itself, so list every shard there.
 * Inserts go through the Distributed tables with insert_distributed_sync=1: an upload is
 * acknowledged only after every shard it touched has its rows.
 */
#include "fw_ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* name, columns, engine (for the local table), ORDER BY, PARTITION BY ("" = none), sharding key */
static const struct {
    const char *name, *cols, *engine, *order, *part, *shard;
} fw_ch_tables[] = {
    {"samples", "app String, type String, t Int64, labelset UInt64, stack UInt64, value Int64, count Int64,"
                " upload UInt64",
     "MergeTree", "(app, type, t, labelset)", "intDiv(t, 86400)", "rand()"},
    {"samples_1h", "app String, type String, t Int64, labelset UInt64, stack UInt64, value Int64, count Int64",
     "SummingMergeTree((value, count))", "(app, type, t, labelset, stack)", "intDiv(t, 86400)", "rand()"},
    {"merged_1h", "app String, type String, t Int64, stack UInt64, value Int64, count Int64",
     "SummingMergeTree((value, count))", "(app, type, t, stack)", "intDiv(t, 86400)", "rand()"},
    {"merged_1d", "app String, type String, t Int64, stack UInt64, value Int64, count Int64",
     "SummingMergeTree((value, count))", "(app, type, t, stack)", "intDiv(t, 86400)", "rand()"},
    {"totals_1h", "app String, type String, t Int64, labelset UInt64, value Int64, count Int64",
     "SummingMergeTree((value, count))", "(app, type, t, labelset)", "intDiv(t, 86400)", "rand()"},
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

/* Transport failures move requests to the next host of the URL; errors ClickHouse answered do not. */
fw_store_status fw_ch_run(fw_ch *s, const char *sql, const char *body, size_t body_len, const char *const *settings,
                          int64_t timeout_ms, size_t max_resp, fw_ch_buf *resp, int *code, char *err, size_t errlen)
{
    int n = s->url.nhosts, first = atomic_load(&s->cur);
    fw_store_status st = FW_STORE_ERR_IO;
    for (int k = 0; k < n; k++) {
        int h = (first + k) % n;
        st = fw_ch_http_run(s->hosts[h], sql, body, body_len, settings, timeout_ms, max_resp, resp, code, err,
                            errlen);
        if (st != FW_STORE_ERR_IO || !err || !strstr(err, "unreachable")) {
            if (h != first)
                atomic_store(&s->cur, h);
            return st;
        }
    }
    return st;
}

fw_store_status fw_ch_exec(fw_ch *s, const char *sql, char *err, size_t errlen)
{
    char e[512] = "";
    fw_store_status st = fw_ch_run(s, sql, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, e, sizeof e);
    if (st != FW_STORE_OK)
        fw_store_errf(err, errlen, "%s", e);
    return st;
}

fw_store_status fw_ch_select(fw_ch *s, const char *sql, fw_ch_buf *resp, char *err, size_t errlen)
{
    static const char *const set[] = {"max_execution_time=60", NULL};
    char e[512] = "";
    fw_store_status st = fw_ch_run(s, sql, NULL, 0, set, 60000, 0, resp, NULL, e, sizeof e);
    if (st != FW_STORE_OK)
        fw_store_errf(err, errlen, "%s", e);
    return st;
}

fw_store_status fw_ch_insert(fw_ch *s, const char *table, const char *columns, const fw_ch_buf *rows,
                             char *err, size_t errlen)
{
    static const char *const sync[] = {"insert_distributed_sync=1", NULL};
    char sql[512], e[512] = "";
    snprintf(sql, sizeof sql, "INSERT INTO %s (%s) FORMAT RowBinary", table, columns);
    fw_store_status st = fw_ch_run(s, sql, rows->p ? rows->p : "", rows->n, s->cluster ? sync : NULL, 0, 1 << 20,
                                   NULL, NULL, e, sizeof e);
    if (st != FW_STORE_OK)
        fw_store_errf(err, errlen, "%s", e);
    return st;
}

fw_store_status fw_ch_ddl(fw_ch *s, const char *fmt_sql, char *err, size_t errlen)
{
    fw_ch_buf b = {0};
    fw_store_status st = FW_STORE_OK;
    if (s->cluster && s->on_cluster) {
        char oc[160];
        snprintf(oc, sizeof oc, " ON CLUSTER %s", s->url.cluster);
        fw_ch_printf(&b, fmt_sql, oc);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_exec(s, b.p, err, errlen);
    } else {
        fw_ch_printf(&b, fmt_sql, "");
        if (fw_ch_buf_nul(&b))
            st = FW_STORE_ERR_NOMEM;
        /* Without distributed DDL every node of the URL gets the statement itself. */
        for (int h = 0; st == FW_STORE_OK && h < (s->cluster ? s->url.nhosts : 1); h++)
            st = s->cluster ? fw_ch_http_run(s->hosts[h], b.p, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, err, errlen)
                            : fw_ch_exec(s, b.p, err, errlen);
    }
    fw_ch_buf_free(&b);
    return st;
}

/* Creates the database on every node; decides whether ON CLUSTER works here. */
static fw_store_status fw_ch_database(fw_ch *s, char *err, size_t errlen)
{
    char sql[512];
    fw_store_status st = FW_STORE_OK;
    if (s->cluster) {
        /* A cluster the server does not know would only fail later, at the first insert. */
        fw_ch_buf r = {0};
        snprintf(sql, sizeof sql, "SELECT count() FROM system.clusters WHERE cluster = '%s'", s->url.cluster);
        fw_ch_http *h0 = fw_ch_http_new(&s->url, 0, "default", err, errlen);
        st = h0 ? fw_ch_http_run(h0, sql, NULL, 0, NULL, 0, 1 << 20, &r, NULL, err, errlen) : FW_STORE_ERR_NOMEM;
        if (st == FW_STORE_OK && (!r.p || atoi(r.p) == 0)) {
            fw_store_errf(err, errlen, "ClickHouse at %s:%d has no cluster '%s' in its remote_servers",
                          s->url.host, s->url.port, s->url.cluster);
            st = FW_STORE_ERR_INVALID;
        }
        fw_ch_buf_free(&r);
        if (st == FW_STORE_OK) {
            snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s ON CLUSTER %s", s->url.db, s->url.cluster);
            char e[512] = "";
            fw_store_status oc = fw_ch_http_run(h0, sql, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, e, sizeof e);
            s->on_cluster = oc == FW_STORE_OK;
            if (oc == FW_STORE_ERR_IO && strstr(e, "unreachable")) {
                fw_store_errf(err, errlen, "%s", e);
                st = oc;
            }
        }
        fw_ch_http_free(h0);
        if (st != FW_STORE_OK || s->on_cluster)
            return st;
    }
    /* One node, or a cluster without distributed DDL (no ZooKeeper): each host of the URL. */
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s", s->url.db);
    for (int h = 0; st == FW_STORE_OK && h < s->url.nhosts; h++) {
        fw_ch_http *hh = fw_ch_http_new(&s->url, h, "default", err, errlen);
        st = hh ? fw_ch_http_run(hh, sql, NULL, 0, NULL, 0, 1 << 20, NULL, NULL, err, errlen) : FW_STORE_ERR_NOMEM;
        fw_ch_http_free(hh);
        if (!s->cluster && st == FW_STORE_ERR_IO && h + 1 < s->url.nhosts)
            st = FW_STORE_OK;   /* single node behind several addresses: one that answers is enough */
    }
    return st;
}

/* Without distributed DDL, the URL's hosts got the tables; every shard must have them before a
 * Distributed insert can land there. Asked through the cluster itself (the cluster() table
 * function reaches every shard over the native protocol). */
static fw_store_status fw_ch_check_shards(fw_ch *s, char *err, size_t errlen)
{
    char sql[512];
    fw_ch_buf r = {0};
    int64_t shards = 0, have = 0;
    snprintf(sql, sizeof sql, "SELECT count() FROM cluster('%s', system, one)", s->url.cluster);
    fw_store_status st = fw_ch_select(s, sql, &r, err, errlen);
    if (st == FW_STORE_OK && (!r.p || fw_ch_parse_i64(strtok(r.p, "\n") ? r.p : "", &shards) != 0))
        st = FW_STORE_ERR_IO;
    snprintf(sql, sizeof sql, "SELECT count() FROM cluster('%s', system, tables) WHERE database = '%s'"
                              " AND name = 'samples_local'", s->url.cluster, s->url.db);
    if (st == FW_STORE_OK)
        st = fw_ch_select(s, sql, &r, err, errlen);
    if (st == FW_STORE_OK && (!r.p || fw_ch_parse_i64(strtok(r.p, "\n") ? r.p : "", &have) != 0))
        st = FW_STORE_ERR_IO;
    fw_ch_buf_free(&r);
    if (st == FW_STORE_OK && have < shards) {
        fw_store_errf(err, errlen, "cluster '%s' has %lld shards and only %lld have flamewatch's tables: without "
                      "distributed DDL (ZooKeeper) list every shard's HTTP address in the store URL "
                      "(clickhouse://host1:8123,host2:8123/%s?cluster=%s)", s->url.cluster, (long long)shards,
                      (long long)have, s->url.db, s->url.cluster);
        st = FW_STORE_ERR_INVALID;
    }
    return st;
}

#define FW_CH_NVIEWS 4   /* materialized views: samples_1h, merged_1h, merged_1d, totals_1h */

/* Whether one node's database already has every table and view (each statement below is IF NOT
 * EXISTS, so skipping them then changes nothing); any error says no, and the DDL runs. */
static int fw_ch_schema_present(fw_ch *s)
{
    fw_ch_buf q = {0}, r = {0};
    size_t want = sizeof fw_ch_tables / sizeof fw_ch_tables[0];
    fw_ch_printf(&q, "SELECT count() FROM system.tables WHERE database = '%s' AND name IN ('samples_1h_mv',"
                     " 'merged_1h_mv', 'merged_1d_mv', 'totals_1h_mv'", s->url.db);
    for (size_t i = 0; i < want; i++)
        fw_ch_printf(&q, ", '%s'", fw_ch_tables[i].name);
    fw_ch_puts(&q, ")");
    int64_t n = -1;
    if (fw_ch_buf_nul(&q) == 0 && fw_ch_select(s, q.p, &r, NULL, 0) == FW_STORE_OK && r.p) {
        char *nl = strchr(r.p, '\n');
        if (nl)
            *nl = '\0';
        if (fw_ch_parse_i64(r.p, &n) != 0)
            n = -1;
    }
    fw_ch_buf_free(&q);
    fw_ch_buf_free(&r);
    return n == (int64_t)(want + FW_CH_NVIEWS);
}

/* Creates the database and every table (and, in cluster mode, the Distributed tables). */
static fw_store_status fw_ch_schema(fw_ch *s, char *err, size_t errlen)
{
    fw_store_status st = fw_ch_database(s, err, errlen);
    if (st != FW_STORE_OK)
        return st;
    fw_ch_buf b = {0};
    const char *sfx = s->cluster ? "_local" : "";
    if (!s->cluster && fw_ch_schema_present(s))
        return FW_STORE_OK;   /* a restart: one query instead of a round trip per statement */
    for (size_t i = 0; i < sizeof fw_ch_tables / sizeof fw_ch_tables[0] && st == FW_STORE_OK; i++) {
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%s%%s (%s) ENGINE = %s", s->url.db, fw_ch_tables[i].name,
                     sfx, fw_ch_tables[i].cols, fw_ch_tables[i].engine);
        if (fw_ch_tables[i].part[0])
            fw_ch_printf(&b, " PARTITION BY %s", fw_ch_tables[i].part);
        fw_ch_printf(&b, " ORDER BY %s", fw_ch_tables[i].order);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_ddl(s, b.p, err, errlen);
        if (st != FW_STORE_OK || !s->cluster)
            continue;
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%%s AS %s.%s_local ENGINE = Distributed(%s, %s, %s_local, %s)",
                     s->url.db, fw_ch_tables[i].name, s->url.db, fw_ch_tables[i].name, s->url.cluster, s->url.db,
                     fw_ch_tables[i].name, fw_ch_tables[i].shard);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_ddl(s, b.p, err, errlen);
    }
    /* The hour roll-up, filled on each shard from that shard's own inserts. */
    if (st == FW_STORE_OK) {
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s.samples_1h_mv%s%%s TO %s.samples_1h%s AS SELECT"
                         " app, type, intDiv(t, 3600) * 3600 AS t, labelset, stack, value, count FROM %s.samples%s",
                     s->url.db, sfx, s->url.db, sfx, s->url.db, sfx);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_ddl(s, b.p, err, errlen);
    }
    /* Label sets merged, per hour and per day: what unfiltered trees, tables and diffs read (as
     * SQLite's labelset_id = 0 roll-up blocks): the stacks of many instances running the same
     * code collapse into one row per stack and bucket. */
    static const struct { const char *name; int64_t res; } merged[] = {{"merged_1h", 3600}, {"merged_1d", 86400}};
    for (size_t i = 0; i < 2 && st == FW_STORE_OK; i++) {
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv%s%%s TO %s.%s%s AS SELECT"
                         " app, type, intDiv(t, %lld) * %lld AS t, stack, value, count FROM %s.samples%s",
                     s->url.db, merged[i].name, sfx, s->url.db, merged[i].name, sfx, (long long)merged[i].res,
                     (long long)merged[i].res, s->url.db, sfx);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_ddl(s, b.p, err, errlen);
    }
    /* Hour totals per label set (no stack): what trends and label lists read, ~stacks-per-label-set
     * times fewer rows than samples_1h. */
    if (st == FW_STORE_OK) {
        fw_ch_buf_reset(&b);
        fw_ch_printf(&b, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s.totals_1h_mv%s%%s TO %s.totals_1h%s AS SELECT"
                         " app, type, intDiv(t, 3600) * 3600 AS t, labelset, value, count FROM %s.samples%s",
                     s->url.db, sfx, s->url.db, sfx, s->url.db, sfx);
        st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_ddl(s, b.p, err, errlen);
    }
    if (st == FW_STORE_OK && s->cluster && !s->on_cluster)
        st = fw_ch_check_shards(s, err, errlen);
    if (st == FW_STORE_ERR_NOMEM && err && !*err)
        fw_store_errf(err, errlen, "out of memory");
    fw_ch_buf_free(&b);
    return st;
}

static void fw_ch_close(fw_store *base)
{
    fw_ch *s = (fw_ch *)base;
    for (int i = 0; i < FW_CH_MAX_HOSTS; i++)
        fw_ch_http_free(s->hosts[i]);
    fw_ch_idset_free(&s->known_fn);
    fw_ch_idset_free(&s->known_st);
    fw_ch_idset_free(&s->known_ls);
    fw_ch_idset_free(&s->known_series);
    fw_ch_batch_free(s);
    fw_ch_defs_free(s->defs);
    fw_ch_idmap_free(&s->units);
    for (size_t i = 0; i < s->nunits; i++)
        free(s->unit_text[i]);
    free(s->unit_text);
    pthread_mutex_destroy(&s->klock);
    pthread_mutex_destroy(&s->blk);
    pthread_cond_destroy(&s->bcond);
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
    pthread_mutex_init(&s->blk, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the batch linger's deadline */
    pthread_cond_init(&s->bcond, &ca);
    pthread_condattr_destroy(&ca);
    const char *lg = getenv("FW_CH_LINGER_MS");
    s->linger_ms = lg ? atoi(lg) : FW_CH_LINGER_MS;
    if (!(s->defs = fw_ch_defs_new())) {
        fw_ch_close(&s->base);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    if (fw_ch_url_parse(url, &s->url, err, errlen) != 0) {
        fw_ch_close(&s->base);
        return FW_STORE_ERR_INVALID;
    }
    s->cluster = s->url.cluster[0] != 0;
    s->retention_s = opt && opt->retention_s > 0 ? opt->retention_s : FW_CH_DEFAULT_RETENTION;
    for (int i = 0; i < s->url.nhosts; i++)
        if (!(s->hosts[i] = fw_ch_http_new(&s->url, i, s->url.db, err, errlen))) {
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
