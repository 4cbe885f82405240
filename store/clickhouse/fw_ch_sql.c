/*
 * fw_ch_sql.c: the SQL text behind each answer, in ClickHouse's dialect (the ClickHouse backend).
 *
 * A query's range is split as SQLite splits it between roll-ups and raw rows, with one roll-up
 * level: whole hours come from `samples_1h` (summed by a materialized view at insert time), the
 * edges from `samples` (10 s buckets). Both give the same sums for the same buckets, so the split
 * changes speed, never answers. A trend uses the hour table only when its step is a multiple of
 * an hour.
 *
 * The text shown to users ("View SQL") runs in clickhouse-client against the store's database and
 * returns the rows fw_store.h documents; the server runs smaller queries over the same source
 * (fw_ch_query.c) and builds trees and tables in C with the backend-neutral builders, which is
 * how both backends give identical answers. Every literal is quoted by fw_ch_quote. Column
 * aliases never reuse a source column's name: ClickHouse 18.16 rejects `sum(value) AS value`
 * over a column `value` as a cyclic alias.
 */
#include "fw_ch.h"

#include <stdlib.h>
#include <string.h>

#define FW_CH_HOUR 3600
#define FW_CH_DAY 86400

static const char *fw_ch_in(fw_ch *s)
{
    /* On a cluster, IN (subquery) over a Distributed table would run the subquery on every shard
     * against that shard's part only; GLOBAL IN runs it once and ships the set. */
    return s->cluster ? "GLOBAL IN" : "IN";
}

void fw_ch_sql_where(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, int with_filters)
{
    fw_ch_puts(b, "app = ");
    fw_ch_quote(b, q->app);
    fw_ch_puts(b, " AND type = ");
    fw_ch_quote(b, q->type);
    if (!with_filters)
        return;
    /* AND across keys, OR among the values of one key (as SQLite's INTERSECT of IN lists). */
    for (size_t i = 0; i < q->nfilters; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(q->filters[j].key, q->filters[i].key) == 0)
                seen = 1;
        if (seen)
            continue;
        fw_ch_printf(b, " AND labelset %s (SELECT labelset FROM labels WHERE key = ", fw_ch_in(s));
        fw_ch_quote(b, q->filters[i].key);
        fw_ch_puts(b, " AND value IN (");
        int first = 1;
        for (size_t j = i; j < q->nfilters; j++)
            if (strcmp(q->filters[j].key, q->filters[i].key) == 0) {
                if (!first)
                    fw_ch_puts(b, ", ");
                first = 0;
                fw_ch_quote(b, q->filters[j].value);
            }
        fw_ch_puts(b, "))");
    }
}

typedef struct {
    const char *table;
    int64_t from, until;
} fw_ch_piece;

/* The source rows (ts, labelset, stack, v, c) of a query, split as SQLite splits its roll-ups:
 * whole days, then whole hours, from roll-up tables, the edges from `samples`. step > 0 (trend)
 * allows a roll-up only when the step is a multiple of its resolution. With `totals` (trends and
 * label lists, which need no stack) the rows are (ts, labelset, v, c) and whole hours come from
 * totals_1h, one row per label set and hour. Without label filters (a tree, table or diff of
 * everything) whole days come from merged_1d and whole hours from merged_1h, label sets merged
 * (labelset 0); with filters, hours come from samples_1h and there is no day level. */
static void fw_ch_sql_src_x(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, int64_t step, int with_filters,
                            int totals)
{
    if (!q)
        return;   /* only the application list has no query, and it reads no samples */
    int merged = !totals && (!with_filters || q->nfilters == 0);
    int64_t a = q->from, z = q->until;
    int64_t A = fw_floor(a + FW_CH_HOUR - 1, FW_CH_HOUR), B = fw_floor(z, FW_CH_HOUR);
    int64_t AD = fw_floor(a + FW_CH_DAY - 1, FW_CH_DAY), BD = fw_floor(z, FW_CH_DAY);
    int hours = A < B && (step == 0 || step % FW_CH_HOUR == 0);
    int days = merged && AD < BD && (step == 0 || step % FW_CH_DAY == 0);
    const char *hour_table = totals ? "totals_1h" : merged ? "merged_1h" : "samples_1h";
    fw_ch_piece piece[5];
    int n = 0;
    if (!hours) {
        piece[n++] = (fw_ch_piece){"samples", a, z};
    } else {
        if (a < A)
            piece[n++] = (fw_ch_piece){"samples", a, A};
        if (days) {
            if (A < AD)
                piece[n++] = (fw_ch_piece){hour_table, A, AD};
            piece[n++] = (fw_ch_piece){"merged_1d", AD, BD};
            if (BD < B)
                piece[n++] = (fw_ch_piece){hour_table, BD, B};
        } else {
            piece[n++] = (fw_ch_piece){hour_table, A, B};
        }
        if (B < z)
            piece[n++] = (fw_ch_piece){"samples", B, z};
    }
    fw_ch_puts(b, "(");
    for (int i = 0; i < n; i++) {
        if (i)
            fw_ch_puts(b, "\n  UNION ALL ");
        int no_ls = strncmp(piece[i].table, "merged_", 7) == 0;
        fw_ch_printf(b, "SELECT t AS ts, %s, %svalue AS v, count AS c FROM %s WHERE ",
                     no_ls ? "toUInt64(0) AS labelset" : "labelset", totals ? "" : "stack, ", piece[i].table);
        fw_ch_sql_where(s, b, q, with_filters && !no_ls);
        fw_ch_printf(b, " AND t >= %lld AND t < %lld", (long long)piece[i].from, (long long)piece[i].until);
    }
    fw_ch_puts(b, ")");
}

static void fw_ch_sql_src(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, int64_t step, int with_filters)
{
    fw_ch_sql_src_x(s, b, q, step, with_filters, 0);
}

void fw_ch_sql_rows(fw_ch *s, fw_ch_buf *b, const fw_store_query *q)
{
    fw_ch_puts(b, "SELECT stack, sum(v), sum(c) FROM ");
    fw_ch_sql_src(s, b, q, 0, 1);
    fw_ch_puts(b, " GROUP BY stack");
}

/* The ids of the stacks of q (and of cmp, when given). */
static void fw_ch_sql_ids(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, const fw_store_query *cmp)
{
    fw_ch_puts(b, "SELECT stack FROM ");
    fw_ch_sql_src(s, b, q, 0, 1);
    if (cmp) {
        fw_ch_puts(b, " UNION ALL SELECT stack FROM ");
        fw_ch_sql_src(s, b, cmp, 0, 1);
    }
}

/* paths(stack_id, path): 'root;...;leaf' function names of each stack of q (and cmp). */
static void fw_ch_sql_paths(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, const fw_store_query *cmp)
{
    fw_ch_puts(b, "(SELECT sid AS stack_id, arrayStringConcat(arrayMap(x -> tupleElement(x, 2),"
                  " arraySort(x -> tupleElement(x, 1), groupArray((pos, fname)))), ';') AS path FROM"
                  " (SELECT sid, fid, pos FROM (SELECT id AS sid, any(funcs) AS sfuncs FROM stacks WHERE id ");
    fw_ch_printf(b, "%s (", fw_ch_in(s));
    fw_ch_sql_ids(s, b, q, cmp);
    fw_ch_puts(b, ") GROUP BY id) ARRAY JOIN sfuncs AS fid, arrayEnumerate(sfuncs) AS pos)"
                  " ANY INNER JOIN (SELECT id AS fid, any(name) AS fname FROM functions GROUP BY id) USING fid"
                  " GROUP BY sid)");
}

int64_t fw_ch_step(const fw_store_query *q, int64_t step)
{
    if (step == 0) {
        static const int64_t steps[] = {10, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                                        21600, 43200, 86400, 604800};
        int64_t range = q->until - q->from;
        for (size_t i = 0; i < sizeof steps / sizeof steps[0] && !step; i++)
            if ((range + steps[i] - 1) / steps[i] <= 300)
                step = steps[i];
        if (!step)
            step = (range / 300 + 86399) / 86400 * 86400;
    }
    return (step + FW_CH_BUCKET - 1) / FW_CH_BUCKET * FW_CH_BUCKET;
}

char *fw_ch_sql_build(fw_ch *s, fw_store_sql_kind kind, const fw_store_query *q, const fw_store_query *cmp,
                      int64_t step, const fw_store_table_opts *topt)
{
    fw_ch_buf b = {0};
    switch (kind) {
    case FW_STORE_SQL_APPS:
        fw_ch_puts(&b, "SELECT app, type, any(unit) AS type_unit FROM series GROUP BY app, type ORDER BY app, type");
        break;
    case FW_STORE_SQL_LABELS:
        fw_ch_printf(&b, "SELECT DISTINCT key, value FROM labels WHERE labelset %s (SELECT labelset FROM ",
                     fw_ch_in(s));
        fw_ch_sql_src_x(s, &b, q, 0, 0, 1);
        fw_ch_puts(&b, ") ORDER BY key, value");
        break;
    case FW_STORE_SQL_TREND:
        fw_ch_printf(&b, "SELECT intDiv(ts, %lld) * %lld AS t, sum(v) AS value, sum(c) AS count FROM ",
                     (long long)step, (long long)step);
        fw_ch_sql_src_x(s, &b, q, step, 1, 1);
        fw_ch_puts(&b, " GROUP BY t ORDER BY t");
        break;
    case FW_STORE_SQL_TREE:
        fw_ch_puts(&b, "SELECT stack_id, path, value, count FROM (SELECT stack AS stack_id, sum(v) AS value,"
                       " sum(c) AS count FROM ");
        fw_ch_sql_src(s, &b, q, 0, 1);
        fw_ch_puts(&b, " GROUP BY stack_id)\nANY LEFT JOIN ");
        fw_ch_sql_paths(s, &b, q, NULL);
        fw_ch_puts(&b, " USING stack_id ORDER BY value DESC, stack_id");
        break;
    case FW_STORE_SQL_TABLE: {
        int line = topt && topt->gran == FW_STORE_GRAN_LINE;
        /* Each function (or line) once per stack: total counts a recursive function once. */
        fw_ch_printf(&b, "SELECT fname AS name, ffile AS file, ln AS line, self, total FROM (SELECT fid, ln,"
                         " sum(if(leaf = 1, sv, 0)) AS self, sum(sv) AS total FROM (SELECT sid, fid, ln,"
                         " max(pos = length(sfuncs)) AS leaf, any(sv) AS sv FROM (SELECT sid, sv, sfuncs, slines"
                         " FROM (SELECT stack AS sid, sum(v) AS sv FROM ");
        fw_ch_sql_src(s, &b, q, 0, 1);
        fw_ch_printf(&b, " GROUP BY sid)\n ANY INNER JOIN (SELECT id AS sid, any(funcs) AS sfuncs, any(lines) AS slines"
                         " FROM stacks WHERE id %s (", fw_ch_in(s));
        fw_ch_sql_ids(s, &b, q, NULL);
        fw_ch_printf(&b, ") GROUP BY id) USING sid)\n ARRAY JOIN sfuncs AS fid, %s AS ln, arrayEnumerate(sfuncs) AS pos"
                         " GROUP BY sid, fid, ln) GROUP BY fid, ln)\nANY INNER JOIN (SELECT id AS fid, any(name) AS fname,"
                         " any(file) AS ffile FROM functions GROUP BY id) USING fid ORDER BY %s",
                     line ? "slines" : "arrayMap(x -> toInt64(0), sfuncs)",
                     !topt || topt->sort == FW_STORE_SORT_SELF ? "self DESC, total DESC, name, file, line"
                     : topt->sort == FW_STORE_SORT_TOTAL       ? "total DESC, self DESC, name, file, line"
                                                               : "name, file, line");
        if (topt && topt->limit)
            fw_ch_printf(&b, " LIMIT %llu", (unsigned long long)topt->limit);
        break;
    }
    case FW_STORE_SQL_DIFF:
        fw_ch_puts(&b, "SELECT stack_id, path, base_value, base_count, cmp_value, cmp_count FROM (SELECT stack_id,"
                       " sum(bv) AS base_value, sum(bc) AS base_count, sum(cv) AS cmp_value, sum(cc) AS cmp_count"
                       " FROM (SELECT stack AS stack_id, v AS bv, c AS bc, toInt64(0) AS cv, toInt64(0) AS cc FROM ");
        fw_ch_sql_src(s, &b, q, 0, 1);
        fw_ch_puts(&b, "\n  UNION ALL SELECT stack AS stack_id, toInt64(0) AS bv, toInt64(0) AS bc, v AS cv, c AS cc FROM ");
        fw_ch_sql_src(s, &b, cmp, 0, 1);
        fw_ch_puts(&b, ") GROUP BY stack_id)\nANY LEFT JOIN ");
        fw_ch_sql_paths(s, &b, q, cmp);
        fw_ch_puts(&b, " USING stack_id ORDER BY stack_id");
        break;
    }
    return fw_ch_buf_take(&b);
}

fw_store_status fw_ch_sql_text(fw_store *base, fw_store_sql_kind kind, const fw_store_query *q,
                               const fw_store_query *cmp, int64_t step, const fw_store_table_opts *topt,
                               char **out)
{
    fw_ch *s = (fw_ch *)base;
    if (kind == FW_STORE_SQL_TREND)
        step = fw_ch_step(q, step);
    *out = fw_ch_sql_build(s, kind, q, cmp, step, topt);
    return *out ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
}
