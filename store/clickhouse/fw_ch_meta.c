/*
 * fw_ch_meta.c: settings, the agents list, stats, retention and users' read-only SQL (the
 * ClickHouse backend).
 *
 * Settings and agents are rows in ReplacingMergeTree tables with a version column (microseconds
 * of the writer's clock): a read takes the row with the highest version (argMax), so it is right
 * before ClickHouse merges the copies away, and a setting saved through one server is what every
 * other server reads next. Retention drops whole daily partitions (ALTER TABLE ... DROP
 * PARTITION; 18.16 has no TTL) of `samples` and `samples_1h` once the whole day is past the
 * retention window. Users' SQL runs with readonly=1 and ClickHouse's own limits; readonly=1 also
 * refuses a SETTINGS clause and table functions, so a query cannot lift its limits.
 */
#include "fw_ch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static uint64_t fw_ch_version(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---------------------------------------------------------------- settings and agents */

fw_store_status fw_ch_settings_get(fw_store *base, const char *app, fw_store_settings *out)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf b = {0}, r = {0};
    fw_ch_puts(&b, "SELECT argMax(enabled, version), argMax(cpu, version), argMax(cpu_interval_ms, version),"
                   " argMax(wall, version), argMax(memory, version), argMax(memory_threshold_kb, version),"
                   " argMax(updated_at, version) FROM settings WHERE app = ");
    fw_ch_quote(&b, app);
    fw_ch_puts(&b, " GROUP BY app");
    fw_store_status st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_select(s, b.p, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[7];
    if (st == FW_STORE_OK && fw_ch_tsv_row(&t, f, NULL, 7) == 7) {
        int64_t v[7];
        for (int i = 0; i < 7; i++)
            if (fw_ch_parse_i64(f[i], &v[i]) != 0)
                st = FW_STORE_ERR_IO;
        if (st == FW_STORE_OK) {
            out->enabled = (int)v[0];
            out->cpu = (int)v[1];
            out->cpu_interval_ms = (int)v[2];
            out->wall = (int)v[3];
            out->memory = (int)v[4];
            out->memory_threshold_kb = (int)v[5];
            out->updated_at = v[6];
        }
    }
    fw_ch_buf_free(&b);
    fw_ch_buf_free(&r);
    return st;
}

fw_store_status fw_ch_settings_put(fw_store *base, const char *app, const fw_store_settings *v, int64_t now_s)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf b = {0};
    fw_ch_rb_str(&b, app, strlen(app));
    fw_ch_rb_u8(&b, (uint8_t)v->enabled);
    fw_ch_rb_u8(&b, (uint8_t)v->cpu);
    fw_ch_rb_i32(&b, v->cpu_interval_ms);
    fw_ch_rb_u8(&b, (uint8_t)v->wall);
    fw_ch_rb_u8(&b, (uint8_t)v->memory);
    fw_ch_rb_i32(&b, v->memory_threshold_kb);
    fw_ch_rb_i64(&b, now_s);
    fw_ch_rb_u64(&b, fw_ch_version());
    fw_store_status st = fw_ch_buf_failed(&b) ? FW_STORE_ERR_NOMEM
        : fw_ch_insert(s, "settings", "app, enabled, cpu, cpu_interval_ms, wall, memory, memory_threshold_kb,"
                                      " updated_at, version", &b, NULL, 0);
    fw_ch_buf_free(&b);
    return st;
}

fw_store_status fw_ch_agent_seen(fw_store *base, const char *app, const char *host, int64_t pid, int64_t upd,
                                 int64_t now_s)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf b = {0};
    fw_ch_rb_str(&b, app, strlen(app));
    fw_ch_rb_str(&b, host, strlen(host));
    fw_ch_rb_i64(&b, pid);
    fw_ch_rb_i64(&b, now_s);
    fw_ch_rb_i64(&b, upd);
    fw_ch_rb_u64(&b, fw_ch_version());
    fw_store_status st = fw_ch_buf_failed(&b) ? FW_STORE_ERR_NOMEM
        : fw_ch_insert(s, "agents", "app, host, pid, last_fetch, settings_updated_at, version", &b, NULL, 0);
    fw_ch_buf_free(&b);
    return st;
}

fw_store_status fw_ch_agents_list(fw_store *base, const char *app, fw_store_agents *out)
{
    fw_ch *s = (fw_ch *)base;
    fw_ch_buf b = {0}, r = {0};
    fw_ch_puts(&b, "SELECT host, pid, argMax(last_fetch, version) AS lf, argMax(settings_updated_at, version)"
                   " FROM agents WHERE app = ");
    fw_ch_quote(&b, app);
    fw_ch_puts(&b, " GROUP BY host, pid ORDER BY lf DESC, host, pid");
    fw_store_status st = fw_ch_buf_nul(&b) ? FW_STORE_ERR_NOMEM : fw_ch_select(s, b.p, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[4];
    int nf;
    while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&t, f, NULL, 4)) != 0) {
        fw_store_agent a = {0};
        if (nf != 4 || fw_ch_parse_i64(f[1], &a.pid) || fw_ch_parse_i64(f[2], &a.last_fetch) ||
            fw_ch_parse_i64(f[3], &a.settings_updated_at)) {
            st = FW_STORE_ERR_IO;
            break;
        }
        fw_store_agent *na = realloc(out->agents, (out->nagents + 1) * sizeof *na);
        if (!na || !(a.host = fw_store_strdup(f[0]))) {
            if (na)
                out->agents = na;
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        out->agents = na;
        na[out->nagents++] = a;
    }
    fw_ch_buf_free(&b);
    fw_ch_buf_free(&r);
    if (st != FW_STORE_OK)
        fw_store_agents_free(out);
    return st;
}

/* ---------------------------------------------------------------- stats */

static fw_store_status fw_ch_scalar(fw_ch *s, const char *sql, int64_t *out)
{
    fw_ch_buf r = {0};
    fw_store_status st = fw_ch_select(s, sql, &r, NULL, 0);
    fw_ch_tsv t = {r.p, r.p + r.n};
    char *f[1];
    *out = 0;
    if (st == FW_STORE_OK && fw_ch_tsv_row(&t, f, NULL, 1) == 1 && fw_ch_parse_i64(f[0], out) != 0)
        st = FW_STORE_ERR_IO;
    fw_ch_buf_free(&r);
    return st;
}

fw_store_status fw_ch_stats(fw_store *base, fw_store_stats *out)
{
    fw_ch *s = (fw_ch *)base;
    char sql[512];
    /* On a cluster, system.parts is this node's: the size is that of the node the URL names. */
    snprintf(sql, sizeof sql, "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = '%s' AND active",
             s->url.db);
    fw_store_status st = fw_ch_scalar(s, sql, &out->size_bytes);
    if (st == FW_STORE_OK)
        st = fw_ch_scalar(s, "SELECT toInt64(sum(profiles)) FROM uploads", &out->profiles);
    if (st == FW_STORE_OK)
        st = fw_ch_scalar(s, "SELECT toInt64(sum(stack_values)) FROM uploads", &out->stack_values);
    out->profiles += atomic_load(&s->pend_profiles);       /* not flushed yet */
    out->stack_values += atomic_load(&s->pend_values);
    if (st == FW_STORE_OK)
        st = fw_ch_scalar(s, "SELECT toInt64(count()) FROM samples", &out->rows);
    if (st == FW_STORE_OK)
        st = fw_ch_scalar(s, "SELECT toInt64(uniq(id)) FROM stacks", &out->stacks);
    return st;
}

/* ---------------------------------------------------------------- retention */

fw_store_status fw_ch_maintain(fw_store *base, int64_t now_s)
{
    fw_ch *s = (fw_ch *)base;
    /* The upload counters of the last interval, one row (put back if the insert fails). */
    int64_t np = atomic_exchange(&s->pend_profiles, 0), nv = atomic_exchange(&s->pend_values, 0),
            nr = atomic_exchange(&s->pend_rows, 0);
    if (np || nv || nr) {
        fw_ch_buf b = {0};
        fw_ch_rb_u8(&b, 0);
        fw_ch_rb_u64(&b, (uint64_t)np);
        fw_ch_rb_u64(&b, (uint64_t)nv);
        fw_ch_rb_u64(&b, (uint64_t)nr);
        if (fw_ch_buf_failed(&b) ||
            fw_ch_insert(s, "uploads", "k, profiles, stack_values, rows", &b, NULL, 0) != FW_STORE_OK) {
            atomic_fetch_add(&s->pend_profiles, np);
            atomic_fetch_add(&s->pend_values, nv);
            atomic_fetch_add(&s->pend_rows, nr);
        }
        fw_ch_buf_free(&b);
    }
    /* Two small reads of system.parts per call (every ~10 s); a DROP only when a day expired. */
    /* A partition is one UTC day, intDiv(t, 86400): drop it when its last second is out of the window. */
    int64_t keep_from = now_s - s->retention_s;
    int64_t last_day = fw_floor(keep_from, 86400) / 86400 - 1;   /* whole days before keep_from */
    static const char *const tables[] = {"samples", "samples_1h", "merged_1h", "merged_1d", "totals_1h"};
    fw_store_status st = FW_STORE_OK;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && st == FW_STORE_OK; i++) {
        char sql[512];
        fw_ch_buf r = {0};
        snprintf(sql, sizeof sql, "SELECT DISTINCT partition FROM system.parts WHERE database = '%s' AND table = '%s%s'"
                                  " AND active ORDER BY partition", s->url.db, tables[i], s->cluster ? "_local" : "");
        st = fw_ch_select(s, sql, &r, NULL, 0);
        fw_ch_tsv t = {r.p, r.p + r.n};
        char *f[1];
        while (st == FW_STORE_OK && fw_ch_tsv_row(&t, f, NULL, 1) == 1) {
            int64_t day;
            if (fw_ch_parse_i64(f[0], &day) != 0 || day > last_day)
                continue;
            char alter[512];
            snprintf(alter, sizeof alter, "ALTER TABLE %s.%s%s%%s DROP PARTITION %lld", s->url.db, tables[i],
                     s->cluster ? "_local" : "", (long long)day);
            st = fw_ch_ddl(s, alter, NULL, 0);
        }
        fw_ch_buf_free(&r);
    }
    return st;
}

/* ---------------------------------------------------------------- read-only SQL */

static const char *fw_ch_skip_space(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            if (!e)
                return p + strlen(p);
            p = e + 2;
        } else {
            return p;
        }
    }
}

int fw_ch_sql_is_select(const char *sql)
{
    static const char *const statements[] = {
        "INSERT", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "RENAME", "TRUNCATE", "OPTIMIZE", "SET",
        "SYSTEM", "KILL", "GRANT", "REVOKE", "USE", "DELETE", "UPDATE", "EXCHANGE", "SHOW", "DESCRIBE", "DESC",
        "EXISTS", "EXPLAIN", "CHECK", "WATCH", "BACKUP", "RESTORE", "UNDROP", "MOVE", "REPLACE", "UNDO"};
    const char *p = fw_ch_skip_space(sql);
    size_t w = 0;
    while ((p[w] >= 'A' && p[w] <= 'Z') || (p[w] >= 'a' && p[w] <= 'z'))
        w++;
    if (!((w == 6 && strncasecmp(p, "SELECT", 6) == 0) || (w == 4 && strncasecmp(p, "WITH", 4) == 0))) {
        for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
            if (w == strlen(statements[i]) && strncasecmp(p, statements[i], w) == 0)
                return 0;
        return -1;   /* not a statement at all: ClickHouse's parser says why (a syntax error) */
    }
    /* One statement: a ';' outside quotes may only be followed by space and comments. */
    char quote = 0;
    for (; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (p[1] && p[1] != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            if (!e)
                return 1;
            p = e + 1;
        } else if (*p == ';') {
            return *fw_ch_skip_space(p + 1) == '\0' ? 1 : 0;
        }
    }
    return 1;
}

static fw_store_val_type fw_ch_val_type(const char *type)
{
    if (strncmp(type, "Nullable(", 9) == 0)
        type += 9;
    if (strncmp(type, "Int", 3) == 0 || strncmp(type, "UInt", 4) == 0)
        return FW_STORE_VAL_INT;
    if (strncmp(type, "Float", 5) == 0)
        return FW_STORE_VAL_REAL;
    return FW_STORE_VAL_TEXT;
}

fw_store_status fw_ch_sql_run(fw_store *base, const char *sql, const fw_store_sql_limits *lim,
                              fw_store_sql_result *out, char *err, size_t errlen)
{
    fw_ch *s = (fw_ch *)base;
    if (fw_ch_sql_is_select(sql) == 0) {
        fw_store_errf(err, errlen, "only one SELECT statement is allowed");
        return FW_STORE_ERR_DENIED;
    }
    size_t max_rows = lim->max_rows ? lim->max_rows : 10000;
    int64_t timeout_ms = lim->timeout_ms ? lim->timeout_ms : 5000;
    size_t max_bytes = lim->max_bytes ? lim->max_bytes : (size_t)8 << 20;
    size_t max_cell = lim->max_cell_bytes ? lim->max_cell_bytes : (size_t)1 << 20;
    char s_time[64], s_rows[64], s_bytes[64];
    snprintf(s_time, sizeof s_time, "max_execution_time=%lld", (long long)((timeout_ms + 999) / 1000));
    /* One row more than returned tells truncation; `break` ends the read instead of failing it. */
    snprintf(s_rows, sizeof s_rows, "max_result_rows=%zu", max_rows + 1);
    snprintf(s_bytes, sizeof s_bytes, "max_result_bytes=%zu", max_bytes);
    const char *const set[] = {s_time, s_rows, "result_overflow_mode=break", s_bytes,
                               "default_format=TabSeparatedWithNamesAndTypes", "readonly=1", NULL};
    /* The text of the answer may exceed the bytes of its values by its escaping and two header
     * lines: allow twice the limit on the wire, the exact limit is checked per cell below. */
    fw_ch_buf r = {0};
    fw_store_status st = fw_ch_run(s, sql, NULL, 0, set, timeout_ms, 2 * max_bytes + 65536, &r, NULL,
                                        err, errlen);
    if (st != FW_STORE_OK) {
        fw_ch_buf_free(&r);
        return st;
    }
    fw_ch_tsv t = {r.p, r.p + r.n};
    char **names = malloc(1024 * sizeof *names), **types = malloc(1024 * sizeof *types), **f = NULL;
    size_t *lens = malloc(1024 * sizeof *lens);
    int nc = names && types && lens ? fw_ch_tsv_row(&t, names, NULL, 1024) : -2;
    if (nc == -2 || (nc > 0 && fw_ch_tsv_row(&t, types, NULL, nc) != nc)) {
        st = nc == -2 ? FW_STORE_ERR_NOMEM : FW_STORE_ERR_INVALID;
        fw_store_errf(err, errlen, nc == -2 ? "out of memory" : "the result is not in the console's format"
                                                                " (leave out FORMAT)");
        goto out;
    }
    if (nc <= 0) {
        st = FW_STORE_ERR_INVALID;
        fw_store_errf(err, errlen, "the statement returned no columns");
        goto out;
    }
    out->columns = calloc((size_t)nc, sizeof *out->columns);
    f = malloc((size_t)nc * sizeof *f);
    if (!out->columns || !f) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }
    out->ncolumns = (size_t)nc;
    for (int i = 0; i < nc; i++)
        if (!(out->columns[i] = fw_store_strdup(names[i]))) {
            st = FW_STORE_ERR_NOMEM;
            goto out;
        }
    size_t bytes = 0, cap = 0;
    int n;
    while ((n = fw_ch_tsv_row(&t, f, lens, nc)) != 0) {
        if (n != nc) {
            st = FW_STORE_ERR_INVALID;
            fw_store_errf(err, errlen, "the result is not in the console's format (leave out FORMAT)");
            goto out;
        }
        if (out->nrows == max_rows) {
            out->truncated = 1;
            break;
        }
        if ((out->nrows + 1) * out->ncolumns > cap) {
            size_t ncap = cap ? cap * 2 : out->ncolumns * 64;
            fw_store_value *nv = realloc(out->cells, ncap * sizeof *nv);
            if (!nv) {
                st = FW_STORE_ERR_NOMEM;
                goto out;
            }
            out->cells = nv;
            cap = ncap;
        }
        fw_store_value *row = &out->cells[out->nrows * out->ncolumns];
        memset(row, 0, out->ncolumns * sizeof *row);
        out->nrows++;
        for (int i = 0; i < nc; i++) {
            fw_store_value *v = &row[i];
            if (lens[i] > max_cell || (bytes += lens[i] + 40) > max_bytes) {
                st = FW_STORE_ERR_TOOBIG;
                fw_store_errf(err, errlen, lens[i] > max_cell ? "a value is over the cell limit (%zu bytes)"
                                                                : "the result is over its byte limit (%zu bytes)",
                              lens[i] > max_cell ? max_cell : max_bytes);
                goto out;
            }
            fw_store_val_type ty = fw_ch_val_type(types[i]);
            /* \N is NULL in TabSeparated; the reader turned it into "N", so look at the type and raw text. */
            if (strncmp(types[i], "Nullable(", 9) == 0 && lens[i] == 1 && f[i][0] == 'N') {
                v->type = FW_STORE_VAL_NULL;
                continue;
            }
            if (ty == FW_STORE_VAL_INT && fw_ch_parse_i64(f[i], &v->i) == 0) {
                v->type = FW_STORE_VAL_INT;
                continue;
            }
            if (ty == FW_STORE_VAL_REAL) {
                char *e;
                v->d = strtod(f[i], &e);
                if (*e == '\0') {
                    v->type = FW_STORE_VAL_REAL;
                    continue;
                }
            }
            v->type = FW_STORE_VAL_TEXT;
            v->s = malloc(lens[i] + 1);
            if (!v->s) {
                st = FW_STORE_ERR_NOMEM;
                goto out;
            }
            memcpy(v->s, f[i], lens[i]);
            v->s[lens[i]] = '\0';
            v->len = lens[i];
        }
    }
out:
    free(names);
    free(types);
    free(lens);
    free(f);
    fw_ch_buf_free(&r);
    if (st != FW_STORE_OK)
        fw_store_sql_result_free(out);
    return st;
}
