/*
 * fw_sqlite_sql.c: the SQL text behind each answer, in SQLite's dialect (the SQLite backend).
 *
 * A query's range is split into pieces: whole buckets of the coarsest roll-up level below its
 * watermark, then finer levels for the edges, raw blocks only for the last minutes. The SQL
 * shown to users and the SQL the server runs come from the same plan (fw_sq_sql_src): the shown
 * form reads the `samples` and `rollups` views per stack and groups by stack_id, so it runs in the
 * sqlite3 shell on the data file with nothing loaded; the run form reads the blocks' `stacks` text.
 * Literals are inlined with sqlite3_str's %Q quoting.
 */
#include "fw_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- SQL text */

typedef struct {
    int64_t res;   /* 0 = raw samples */
    int64_t a, b;
} fw_sq_piece;

static void fw_sq_plan_rec(const int64_t *wm, int li, int64_t a, int64_t b, fw_sq_piece *p, size_t *n)
{
    if (a >= b)
        return;
    if (li < 0) {
        if (*n && p[*n - 1].res == 0 && p[*n - 1].b == a) {
            p[*n - 1].b = b;
        } else {
            assert(*n < FW_SQ_MAX_PIECES);
            p[(*n)++] = (fw_sq_piece){0, a, b};
        }
        return;
    }
    int64_t R = fw_sq_res[li];
    int64_t A = fw_floor(a + R - 1, R);
    int64_t B = fw_floor(b, R);
    if (B > fw_floor(wm[li], R))
        B = fw_floor(wm[li], R);
    if (A < B) {
        fw_sq_plan_rec(wm, li - 1, a, A, p, n);
        assert(*n < FW_SQ_MAX_PIECES);
        p[(*n)++] = (fw_sq_piece){R, A, B};
        fw_sq_plan_rec(wm, li - 1, B, b, p, n);
    } else {
        fw_sq_plan_rec(wm, li - 1, a, b, p, n);
    }
}

/* Splits [from, until) into pieces answered by the coarsest roll-up that covers them. Levels whose
 * resolution does not divide `step` (trend) are not used; step 0 allows all. */
static size_t fw_sq_plan(const int64_t *wm, int64_t from, int64_t until, int64_t step, fw_sq_piece *p)
{
    int top = FW_SQ_NLEVELS - 1;
    if (step > 0)
        while (top >= 0 && step % fw_sq_res[top] != 0)
            top--;
    size_t n = 0;
    fw_sq_plan_rec(wm, top, from, until, p, &n);
    return n;
}

static void fw_sq_sql_filter(sqlite3_str *b, const fw_store_query *q)
{
    if (!q->nfilters)
        return;
    sqlite3_str_appendall(b, " AND labelset_id IN (");
    int first = 1;
    for (size_t i = 0; i < q->nfilters; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(q->filters[j].key, q->filters[i].key) == 0)
                seen = 1;
        if (seen)
            continue;
        if (!first)
            sqlite3_str_appendall(b, " INTERSECT ");
        first = 0;
        sqlite3_str_appendf(b, "SELECT labelset_id FROM labels WHERE key = %Q AND value IN (", q->filters[i].key);
        int fv = 1;
        for (size_t j = i; j < q->nfilters; j++)
            if (strcmp(q->filters[j].key, q->filters[i].key) == 0) {
                sqlite3_str_appendf(b, fv ? "%Q" : ", %Q", q->filters[j].value);
                fv = 0;
            }
        sqlite3_str_appendall(b, ")");
    }
    sqlite3_str_appendall(b, ")");
}

/* What a source reads. */
enum {
    FW_SQ_SRC_STACKS = 0,   /* name(t, labelset_id, stack_id, value, count): one row per stack, from the
                               samples and rollups views (the SQL shown for trees, tables, diffs) */
    FW_SQ_SRC_BLOCKS = 1,   /* name(t, labelset_id, value, count): one row per block, its totals, from
                               the block tables (trend and labels need no stacks) */
    FW_SQ_SRC_CORE = 2,     /* no CTE: `SELECT stacks FROM ...` per piece, for the C block reader */
};

/* Appends the fact rows of the query's series, range and filters, taken piecewise from roll-ups
 * and raw samples, in the form `mode` asks for. labels_only: the label listing wants
 * per-label-set rows and no filter. */
static void fw_sq_sql_src(sqlite3_str *b, const char *name, const fw_store_query *q, const int64_t *wm,
                          int64_t step, int labels_only, int mode)
{
    fw_sq_piece p[FW_SQ_MAX_PIECES];
    if (!q)
        return;
    size_t n = fw_sq_plan(wm, q->from, q->until, step, p);
    const char *cols = mode == FW_SQ_SRC_STACKS ? "t, labelset_id, stack_id, value, count"
                       : mode == FW_SQ_SRC_BLOCKS ? "t, labelset_id, value, count"
                                                  : "stacks";
    const char *raw = mode == FW_SQ_SRC_STACKS ? "samples" : "sample_blocks";
    const char *rol = mode == FW_SQ_SRC_STACKS ? "rollups" : "rollup_blocks";
    if (mode != FW_SQ_SRC_CORE)
        sqlite3_str_appendf(b, "%s(%s) AS (", name, cols);
    if (n == 0 && mode == FW_SQ_SRC_CORE)
        sqlite3_str_appendall(b, "SELECT stacks FROM sample_blocks WHERE 0");
    else if (n == 0)
        sqlite3_str_appendf(b, "SELECT %s FROM %s WHERE 0", cols, raw);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sqlite3_str_appendall(b, "\n  UNION ALL ");
        if (p[i].res == 0)
            sqlite3_str_appendf(b, "SELECT %s FROM %s"
                                   " WHERE series_id = (SELECT id FROM series WHERE app = %Q AND type = %Q)"
                                   " AND t >= %lld AND t < %lld",
                                cols, raw, q->app, q->type, (long long)p[i].a, (long long)p[i].b);
        else
            sqlite3_str_appendf(b, "SELECT %s FROM %s"
                                   " WHERE series_id = (SELECT id FROM series WHERE app = %Q AND type = %Q)"
                                   " AND res = %lld AND t >= %lld AND t < %lld AND labelset_id %s",
                                cols, rol, q->app, q->type, (long long)p[i].res, (long long)p[i].a,
                                (long long)p[i].b, (labels_only || q->nfilters) ? "<> 0" : "= 0");
        if (!labels_only)
            fw_sq_sql_filter(b, q);
    }
    if (mode != FW_SQ_SRC_CORE)
        sqlite3_str_appendall(b, ")");
}

static const char fw_sq_sql_agg[] = "SELECT stack_id, sum(value) AS value, sum(count) AS count FROM %s GROUP BY stack_id";

/* up(stack_id, node_id, path): walks each stack of `ids` to the root, building 'root;...;leaf'. */
static void fw_sq_sql_paths(sqlite3_str *b, const char *ids)
{
    sqlite3_str_appendf(b,
        "up(stack_id, node_id, path) AS (SELECT x.stack_id, s.parent_id, f.name FROM %s x"
        " JOIN stacks s ON s.id = x.stack_id JOIN frames fr ON fr.id = s.frame_id"
        " JOIN functions f ON f.id = fr.function_id"
        "\n  UNION ALL SELECT up.stack_id, s.parent_id, f.name || ';' || up.path FROM up"
        " JOIN stacks s ON s.id = up.node_id JOIN frames fr ON fr.id = s.frame_id"
        " JOIN functions f ON f.id = fr.function_id)", ids);
}

/* Builds the SQL of `kind`. core = 1 asks for the rows the C code consumes (stack_id, value,
 * count) instead of the user-facing text; they share the same source pieces. */
char *fw_sq_build(fw_sq_snap *snap, fw_store_sql_kind kind, const fw_store_query *q,
                         const fw_store_query *cmp, int64_t step, const fw_store_table_opts *topt, int core)
{
    sqlite3_str *b = sqlite3_str_new(NULL);
    switch (kind) {
    case FW_STORE_SQL_APPS:
        sqlite3_str_appendall(b, "SELECT app, type, unit FROM series ORDER BY app, type");
        break;
    case FW_STORE_SQL_LABELS:
        sqlite3_str_appendall(b, "WITH ");
        fw_sq_sql_src(b, "src", q, snap->wm, 0, 1, FW_SQ_SRC_BLOCKS);
        sqlite3_str_appendall(b, "\nSELECT DISTINCT key, value FROM labels"
                                 " WHERE labelset_id IN (SELECT labelset_id FROM src) ORDER BY key, value");
        break;
    case FW_STORE_SQL_TREND:
        sqlite3_str_appendall(b, "WITH ");
        fw_sq_sql_src(b, "src", q, snap->wm, step, 0, FW_SQ_SRC_BLOCKS);
        /* total() and a cast rather than sum(): sum() fails on overflow, the cast of a real
         * past 2^63 gives INT64_MAX (exact below 2^53; value limits keep sums far below). */
        sqlite3_str_appendf(b, "\nSELECT t - t %% %lld AS t, CAST(total(value) AS INTEGER) AS value,"
                               " CAST(total(count) AS INTEGER) AS count"
                               " FROM src GROUP BY 1 ORDER BY 1", (long long)step);
        break;
    case FW_STORE_SQL_TREE:
        if (core) {
            /* The server reads the blocks behind the same pieces and sums them per stack in C
             * (fw_sq_fetch_rows): the GROUP BY stack_id of fw_sq_sql_agg over the samples view. */
            fw_sq_sql_src(b, NULL, q, snap->wm, 0, 0, FW_SQ_SRC_CORE);
            break;
        }
        sqlite3_str_appendall(b, "WITH RECURSIVE ");
        fw_sq_sql_src(b, "src", q, snap->wm, 0, 0, FW_SQ_SRC_STACKS);
        sqlite3_str_appendall(b, ",\nagg AS (");
        sqlite3_str_appendf(b, fw_sq_sql_agg, "src");
        sqlite3_str_appendall(b, "),\n");
        fw_sq_sql_paths(b, "agg");
        sqlite3_str_appendall(b, "\nSELECT agg.stack_id, up.path, agg.value, agg.count FROM agg"
                                 " JOIN up ON up.stack_id = agg.stack_id AND up.node_id = 0"
                                 " ORDER BY agg.value DESC, agg.stack_id");
        break;
    case FW_STORE_SQL_TABLE: {
        int line = topt && topt->gran == FW_STORE_GRAN_LINE;
        sqlite3_str_appendall(b, "WITH RECURSIVE ");
        fw_sq_sql_src(b, "src", q, snap->wm, 0, 0, FW_SQ_SRC_STACKS);
        sqlite3_str_appendall(b, ",\nagg AS (");
        sqlite3_str_appendf(b, fw_sq_sql_agg, "src");
        /* walk: every (stack, node on its path); leaf = 1 for the stack's own node. hits: each
         * function (or line) once per stack, so recursion does not count twice in total. */
        sqlite3_str_appendf(b,
            "),\nwalk(stack_id, node_id, leaf) AS (SELECT stack_id, stack_id, 1 FROM agg"
            "\n  UNION ALL SELECT walk.stack_id, s.parent_id, 0 FROM walk JOIN stacks s ON s.id = walk.node_id"
            " WHERE s.parent_id <> 0),"
            "\nhits(stack_id, key, leaf) AS (SELECT walk.stack_id, %s, max(walk.leaf) FROM walk"
            " JOIN stacks s ON s.id = walk.node_id JOIN frames fr ON fr.id = s.frame_id"
            " GROUP BY walk.stack_id, %s)"
            "\nSELECT f.name AS name, f.file AS file, %s AS line,"
            " sum(CASE WHEN hits.leaf = 1 THEN agg.value ELSE 0 END) AS self, sum(agg.value) AS total"
            " FROM hits JOIN agg ON agg.stack_id = hits.stack_id %s"
            " GROUP BY hits.key ORDER BY %s",
            line ? "fr.id" : "fr.function_id", line ? "fr.id" : "fr.function_id",
            line ? "k.line" : "0",
            line ? "JOIN frames k ON k.id = hits.key JOIN functions f ON f.id = k.function_id"
                 : "JOIN functions f ON f.id = hits.key",
            !topt || topt->sort == FW_STORE_SORT_SELF ? "self DESC, total DESC, name, file, line"
            : topt->sort == FW_STORE_SORT_TOTAL       ? "total DESC, self DESC, name, file, line"
                                                      : "name, file, line");
        if (topt && topt->limit)
            sqlite3_str_appendf(b, " LIMIT %lld", (long long)topt->limit);
        break;
    }
    case FW_STORE_SQL_DIFF:
        sqlite3_str_appendall(b, "WITH RECURSIVE ");
        fw_sq_sql_src(b, "base_src", q, snap->wm, 0, 0, FW_SQ_SRC_STACKS);
        sqlite3_str_appendall(b, ",\n");
        fw_sq_sql_src(b, "cmp_src", cmp, snap->wm, 0, 0, FW_SQ_SRC_STACKS);
        sqlite3_str_appendall(b, ",\nbase AS (");
        sqlite3_str_appendf(b, fw_sq_sql_agg, "base_src");
        sqlite3_str_appendall(b, "),\ncmp AS (");
        sqlite3_str_appendf(b, fw_sq_sql_agg, "cmp_src");
        sqlite3_str_appendall(b, "),\nids AS (SELECT stack_id FROM base UNION SELECT stack_id FROM cmp),\n");
        fw_sq_sql_paths(b, "ids");
        sqlite3_str_appendall(b,
            "\nSELECT ids.stack_id, up.path, coalesce(base.value, 0) AS base_value,"
            " coalesce(base.count, 0) AS base_count, coalesce(cmp.value, 0) AS cmp_value,"
            " coalesce(cmp.count, 0) AS cmp_count FROM ids"
            " JOIN up ON up.stack_id = ids.stack_id AND up.node_id = 0"
            " LEFT JOIN base ON base.stack_id = ids.stack_id LEFT JOIN cmp ON cmp.stack_id = ids.stack_id"
            " ORDER BY ids.stack_id");
        break;
    }
    if (sqlite3_str_errcode(b)) {
        sqlite3_free(sqlite3_str_finish(b));
        return NULL;
    }
    return sqlite3_str_finish(b);
}

/* sqlite3_malloc'ed text into a malloc'ed copy (results are freed with free()). */
char *fw_sq_take(char *sq)
{
    char *r = sq ? fw_store_strdup(sq) : NULL;
    sqlite3_free(sq);
    return r;
}

/* Trend step: the smallest "round" step giving at most 300 points. 20 s and 30 s are left out on
 * purpose: a step that is not a multiple of 60 cannot use the 60 s roll-up and would read every raw
 * row of the range (an hour of a 50-instance fleet is millions of rows), so 1 h gets 60 points. */
int64_t fw_sq_auto_step(int64_t range)
{
    static const int64_t steps[] = {10, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                                    21600, 43200, 86400, 604800};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if ((range + steps[i] - 1) / steps[i] <= 300)
            return steps[i];
    /* Longer than 300 weeks (e.g. 1970..9999): whole days, still at most ~300 points. A fixed
     * 1-week step gave 400,000 points there, refused as a bare "invalid input". */
    int64_t days = (range / 300 + 86399) / 86400;
    return days * 86400;
}
