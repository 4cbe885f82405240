/*
 * fw_sqlite_console.c: the read-only SQL console (POST /api/v1/sql) on connections of its own.
 *
 * Isolation. The console's queries come from anyone with a read token, so they never run on the
 * pool that serves flame graphs, tables, trends and the agents' settings: the console has a few
 * read-only connections of its own (FW_SQC_CONNECTIONS), configured once at open and never handed
 * to other code. A flood of runaway queries can keep those busy, and nothing else.
 *
 * Time. The deadline is fixed when a call starts. A caller waits for a free console connection
 * on a condition variable until that deadline, then the query runs under a progress handler and a
 * busy handler that stop at the same deadline: the limit covers the wait and the run, so no call
 * outlives it by more than one progress interval. The server calls this from its SQL executor
 * (server/fw_sqlx.c: as many threads as there are console connections, and a bounded queue), never
 * from an HTTP worker, and passes the time that is left of the request's limit.
 *
 * What may run. One statement, read-only (sqlite3_stmt_readonly), under an authorizer that allows
 * SELECT, recursive CTEs, reads of the schema's own tables and views (read once at open), and
 * functions and table-valued functions from an explicit list. Everything else is refused and the
 * caller answers 403: writes, PRAGMA, ATTACH, and functions such as load_extension() or
 * fts3_tokenizer() (which returns a pointer into libsqlite3 and, given two arguments, registers a
 * tokenizer on the connection). An allow-list, not a deny-list: a function a later SQLite adds is
 * refused until someone puts it on the list. The connections also switch off extension loading
 * and fts3_tokenizer's two-argument form, in case a function ever slips through.
 *
 * Bytes. SQLITE_LIMIT_LENGTH caps every string or BLOB a query reads or computes (zeroblob,
 * randomblob, printf, group_concat...) at FW_SQC_VALUE_BYTES, well above the blocks the store
 * writes, so the SQL shown beside each answer still reads them. The copy of the result checks
 * each cell against the cell limit before fetching it (sqlite3_column_bytes does not expand a
 * zeroblob) and the running sum against the result limit, so neither the copy nor the JSON the
 * server builds from it can grow without bound. Sorts and temporary tables spill to files past a
 * small page cache (temp_store=FILE) instead of growing in memory.
 */
#include "fw_sqlite_console.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(sizeof(fw_store_value) <= FW_SQC_CELL_COST, "a cell's cost covers its bookkeeping");

typedef struct {
    sqlite3 *db;
    const struct fw_sqc *owner;   /* the schema's names, for the authorizer */
    int busy;                     /* taken by a call (under the owner's mutex) */
    int64_t deadline;             /* monotonic ms at which the current call ends */
    int denied;                   /* the authorizer refused something in this call */
    char why[256];                /* the first thing it refused, for the caller's message */
} fw_sqc_conn;

struct fw_sqc {
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* on CLOCK_MONOTONIC: a connection was given back */
    fw_sqc_conn *conns;
    int n;
    char **tables;                /* the schema's tables and views */
    size_t ntables;
};

/* Functions a console query may call, sorted (bsearch), lower case: SQLite's core scalar, date,
 * math, aggregate, window and JSON functions. Left out on purpose: load_extension,
 * fts3_tokenizer and the other FTS/R-Tree helpers, sqlite_compileoption_*, sqlite_source_id,
 * sqlite_offset, changes, total_changes, last_insert_rowid. */
static const char *const fw_sqc_functions[] = {
    "->", "->>",
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg",
    "ceil", "ceiling", "char", "coalesce", "concat", "concat_ws", "cos", "cosh", "count", "cume_dist",
    "current_date", "current_time", "current_timestamp",
    "date", "datetime", "degrees", "dense_rank", "exp",
    "first_value", "floor", "format", "glob", "group_concat", "hex",
    "ifnull", "iif", "instr",
    "json", "json_array", "json_array_length", "json_error_position", "json_extract", "json_group_array",
    "json_group_object", "json_insert", "json_object", "json_patch", "json_pretty", "json_quote",
    "json_remove", "json_replace", "json_set", "json_type", "json_valid",
    "jsonb", "jsonb_array", "jsonb_extract", "jsonb_group_array", "jsonb_group_object", "jsonb_insert",
    "jsonb_object", "jsonb_patch", "jsonb_remove", "jsonb_replace", "jsonb_set",
    "julianday",
    "lag", "last_value", "lead", "length", "like", "likelihood", "likely", "ln", "log", "log10", "log2",
    "lower", "ltrim",
    "max", "median", "min", "mod", "nth_value", "ntile", "nullif", "octet_length",
    "percent_rank", "percentile", "percentile_cont", "percentile_disc", "pi", "pow", "power", "printf",
    "quote", "radians", "random", "randomblob", "rank", "replace", "round", "row_number", "rtrim",
    "sign", "sin", "sinh", "soundex", "sqlite_version", "sqrt", "strftime", "string_agg", "substr",
    "substring", "sum", "tan", "tanh", "time", "timediff", "total", "trim", "trunc", "typeof",
    "unhex", "unicode", "unistr", "unistr_quote", "unixepoch", "unlikely", "upper", "zeroblob",
};

/* Table-valued functions a console query may read from, besides the schema's tables and views
 * (the `samples` and `rollups` views unpack blocks with json_each). */
static const char *const fw_sqc_table_functions[] = {"json_each", "json_tree", "jsonb_each", "jsonb_tree"};

static int64_t fw_sqc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fw_sqc_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fw_sqc_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above */
    va_end(ap);
}

static char *fw_sqc_strdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

/* "8 MiB", "512 KiB", "100 bytes": limits in messages, as docs/API.md states them. */
static const char *fw_sqc_size(size_t n, char *buf, size_t len)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, len, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, len, "%zu KiB", n >> 10);
    else
        snprintf(buf, len, "%zu bytes", n);
    return buf;
}

/* ================================================================ the authorizer */

static int fw_sqc_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

static int fw_sqc_function_ok(const char *name)
{
    char low[32];
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= sizeof low)
        return 0;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    return bsearch(low, fw_sqc_functions, sizeof fw_sqc_functions / sizeof fw_sqc_functions[0],
                   sizeof fw_sqc_functions[0], fw_sqc_cmp) != NULL;
}

static int fw_sqc_table_ok(const struct fw_sqc *c, const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < c->ntables; i++)
        if (sqlite3_stricmp(name, c->tables[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof fw_sqc_table_functions / sizeof fw_sqc_table_functions[0]; i++)
        if (sqlite3_stricmp(name, fw_sqc_table_functions[i]) == 0)
            return 1;
    return sqlite3_stricmp(name, "sqlite_master") == 0 || sqlite3_stricmp(name, "sqlite_temp_master") == 0;
}

/* Records why (the first refusal of a call is the one reported) and refuses. */
static int fw_sqc_refuse(fw_sqc_conn *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fw_sqc_refuse(fw_sqc_conn *k, const char *fmt, ...)
{
    if (!k->denied) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(k->why, sizeof k->why, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above */
        va_end(ap);
    }
    k->denied = 1;
    return SQLITE_DENY;
}

static int fw_sqc_authorize(void *ud, int code, const char *a, const char *b, const char *c, const char *d)
{
    fw_sqc_conn *k = ud;
    (void)c;
    (void)d;
    switch (code) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:   /* WITH RECURSIVE only reads; the SQL we show for trees uses it */
        return SQLITE_OK;
    case SQLITE_READ:        /* a = table, b = column; for reads inside a view too */
        /* No column (count(*) FROM x, SELECT 1 FROM x) reads no data, and is how a CTE shows
         * up here: allowed. A virtual table not connected at open would still be refused, by
         * the CREATE TABLE its connection parses. */
        if ((b && !*b) || fw_sqc_table_ok(k->owner, a))
            return SQLITE_OK;
        return fw_sqc_refuse(k, "reading %.64s is not allowed: only the store's tables and views, and"
                                " json_each()/json_tree() (docs/API.md, Limits)", a ? a : "");
    case SQLITE_FUNCTION:    /* b = function name */
        if (fw_sqc_function_ok(b))
            return SQLITE_OK;
        return fw_sqc_refuse(k, "function %.64s() is not on the SQL console's list of allowed functions"
                                " (docs/API.md, Limits)", b ? b : "");
    case SQLITE_UPDATE:
        /* A statement cannot update the schema table ("may not be modified" comes first); this
         * is SQLite connecting a table-valued function we did not connect at open. */
        if (a && (sqlite3_stricmp(a, "sqlite_master") == 0 || sqlite3_stricmp(a, "sqlite_temp_master") == 0))
            return fw_sqc_refuse(k, "table-valued functions other than json_each() and json_tree() are not"
                                    " allowed (docs/API.md, Limits)");
        return fw_sqc_refuse(k, "only SELECT statements are allowed");
    default:
        return fw_sqc_refuse(k, "only SELECT statements are allowed");
    }
}

static int fw_sqc_progress(void *ud)
{
    return fw_sqc_mono_ms() > ((const fw_sqc_conn *)ud)->deadline;
}

/* A reader is rarely busy under WAL (recovery after a crash); it waits only until the deadline. */
static int fw_sqc_busy(void *ud, int count)
{
    (void)count;
    if (fw_sqc_mono_ms() >= ((const fw_sqc_conn *)ud)->deadline)
        return 0;
    struct timespec ts = {0, 5L * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

/* ================================================================ open, close */

static int fw_sqc_load_tables(fw_sqc *c, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char **nt = realloc(c->tables, (c->ntables + 1) * sizeof *nt);
        if (!nt) {
            rc = SQLITE_NOMEM;
            break;
        }
        c->tables = nt;
        if (!(c->tables[c->ntables] = fw_sqc_strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        c->ntables++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int fw_sqc_configure(fw_sqc *c, fw_sqc_conn *k)
{
    sqlite3 *db = k->db;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    /* Eponymous virtual tables connect on first use by parsing a CREATE TABLE, which the
     * authorizer would refuse: connect the listed ones now, before it is installed. This also
     * loads the schema. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA query_only=1; PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;"
                              " PRAGMA mmap_size=1073741824;"
                              " SELECT count(*) FROM json_each('[]'), json_tree('[]');", NULL, NULL, NULL);
    if (rc == SQLITE_OK && !c->tables)
        rc = fw_sqc_load_tables(c, db);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)FW_SQC_VALUE_BYTES);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_busy_handler(db, fw_sqc_busy, k);
    sqlite3_progress_handler(db, 1000, fw_sqc_progress, k);
    return sqlite3_set_authorizer(db, fw_sqc_authorize, k);
}

void fw_sqc_close(fw_sqc *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        assert(!c->conns[i].busy);
        sqlite3_close_v2(c->conns[i].db);
    }
    for (size_t i = 0; i < c->ntables; i++)
        free(c->tables[i]);
    free(c->tables);
    free(c->conns);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

fw_store_status fw_sqc_open(const char *path, int nconn, fw_sqc **out, char *err, size_t errlen)
{
#ifndef NDEBUG
    for (size_t i = 1; i < sizeof fw_sqc_functions / sizeof fw_sqc_functions[0]; i++)
        assert(strcmp(fw_sqc_functions[i - 1], fw_sqc_functions[i]) < 0);   /* bsearch needs it */
#endif
    *out = NULL;
    fw_sqc *c = calloc(1, sizeof *c);
    if (!c)
        return FW_STORE_ERR_NOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    int n = nconn > 0 ? nconn : FW_SQC_CONNECTIONS;
    if (!(c->conns = calloc((size_t)n, sizeof *c->conns))) {
        fw_sqc_close(c);
        return FW_STORE_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        fw_sqc_conn *k = &c->conns[i];
        k->owner = c;
        c->n = i + 1;
        int rc = sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
            rc = fw_sqc_configure(c, k);
        if (rc != SQLITE_OK) {
            fw_sqc_err(err, errlen, "opening an SQL console connection: %s",
                       k->db ? sqlite3_errmsg(k->db) : "no memory");
            fw_sqc_close(c);
            return rc == SQLITE_NOMEM ? FW_STORE_ERR_NOMEM : FW_STORE_ERR_IO;
        }
    }
    *out = c;
    return FW_STORE_OK;
}

/* ================================================================ connections */

static fw_sqc_conn *fw_sqc_free_conn(fw_sqc *c)
{
    for (int i = 0; i < c->n; i++)
        if (!c->conns[i].busy) {
            c->conns[i].busy = 1;
            return &c->conns[i];
        }
    return NULL;
}

/* A free connection, or NULL once the deadline has passed. */
static fw_sqc_conn *fw_sqc_take(fw_sqc *c, int64_t deadline)
{
    struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&c->mu);
    fw_sqc_conn *k;
    while (!(k = fw_sqc_free_conn(c)))
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT) {
            k = fw_sqc_free_conn(c);
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return k;
}

static void fw_sqc_give(fw_sqc *c, fw_sqc_conn *k)
{
    pthread_mutex_lock(&c->mu);
    assert(k->busy);
    k->busy = 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ================================================================ running */

typedef struct {
    size_t max_rows, max_bytes, max_cell;
    size_t used;        /* bytes counted against max_bytes so far */
} fw_sqc_budget;

/* Copies the current row into out. OK, NOMEM, or TOOBIG with err set. */
static fw_store_status fw_sqc_copy_row(sqlite3_stmt *st, int nc, fw_store_sql_result *out, size_t *cap,
                                       fw_sqc_budget *b, char *err, size_t errlen)
{
    char lim[32];
    if (out->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        fw_store_value *nv = realloc(out->cells, ncap * (size_t)nc * sizeof *nv);
        if (!nv)
            return FW_STORE_ERR_NOMEM;
        out->cells = nv;
        *cap = ncap;
    }
    fw_store_value *row = &out->cells[out->nrows * (size_t)nc];
    memset(row, 0, (size_t)nc * sizeof *row);
    out->nrows++;   /* counted now so that a failure below frees what was copied */
    for (int i = 0; i < nc; i++) {
        int type = sqlite3_column_type(st, i);
        size_t n = type == SQLITE_TEXT || type == SQLITE_BLOB ? (size_t)sqlite3_column_bytes(st, i) : 0;
        if (n > b->max_cell) {
            fw_sqc_err(err, errlen, "result too large: row %zu, column '%.64s' holds %zu bytes, over the %s cell"
                       " limit (select length() or substr() of it)", out->nrows, out->columns[i], n,
                       fw_sqc_size(b->max_cell, lim, sizeof lim));
            return FW_STORE_ERR_TOOBIG;
        }
        size_t cost = FW_SQC_CELL_COST + (type == SQLITE_BLOB ? 2 * n : n);
        if (b->used > b->max_bytes || cost > b->max_bytes - b->used) {
            fw_sqc_err(err, errlen, "result too large: over the %s result limit at row %zu (select fewer rows"
                       " or columns, or lower maxRows)", fw_sqc_size(b->max_bytes, lim, sizeof lim), out->nrows);
            return FW_STORE_ERR_TOOBIG;
        }
        b->used += cost;
        switch (type) {
        case SQLITE_INTEGER:
            row[i].type = FW_STORE_VAL_INT;
            row[i].i = sqlite3_column_int64(st, i);
            break;
        case SQLITE_FLOAT:
            row[i].type = FW_STORE_VAL_REAL;
            row[i].d = sqlite3_column_double(st, i);
            break;
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
            const void *p = type == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const void *)sqlite3_column_text(st, i);
            if (!p && n)
                return FW_STORE_ERR_NOMEM;
            row[i].type = type == SQLITE_BLOB ? FW_STORE_VAL_BLOB : FW_STORE_VAL_TEXT;
            if (!(row[i].s = malloc(n + 1)))
                return FW_STORE_ERR_NOMEM;
            if (n)
                memcpy(row[i].s, p, n);
            row[i].s[n] = '\0';
            row[i].len = n;
            break;
        }
        default:
            row[i].type = FW_STORE_VAL_NULL;
        }
    }
    return FW_STORE_OK;
}

/* The status and message for an SQLite error code met while preparing or stepping. */
static fw_store_status fw_sqc_fail(fw_sqc_conn *k, int rc, int64_t timeout_ms, char *err, size_t errlen)
{
    char lim[32];
    if (k->denied || (rc & 0xff) == SQLITE_AUTH) {
        fw_sqc_err(err, errlen, "%s", k->why[0] ? k->why : sqlite3_errmsg(k->db));
        return FW_STORE_ERR_DENIED;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
        fw_sqc_err(err, errlen, "query time limit exceeded: the query ran past %lld ms (the time limit counts"
                   " the wait for a free SQL connection too)", (long long)timeout_ms);
        return FW_STORE_ERR_TIMEOUT;
    }
    if ((rc & 0xff) == SQLITE_TOOBIG) {
        fw_sqc_err(err, errlen, "result too large: a string or BLOB the query reads or computes is over the %s"
                   " value limit", fw_sqc_size(FW_SQC_VALUE_BYTES, lim, sizeof lim));
        return FW_STORE_ERR_TOOBIG;
    }
    fw_sqc_err(err, errlen, "%s", sqlite3_errmsg(k->db));
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return FW_STORE_ERR_NOMEM;
    case SQLITE_BUSY: case SQLITE_LOCKED: return FW_STORE_ERR_BUSY;
    case SQLITE_ERROR: return FW_STORE_ERR_INVALID;   /* no such table, wrong arguments... */
    default: return FW_STORE_ERR_IO;
    }
}

/* Prepares the one statement in sql; anything after it but space and comments is refused. */
static fw_store_status fw_sqc_prepare(fw_sqc_conn *k, const char *sql, int64_t timeout_ms, sqlite3_stmt **st,
                                      char *err, size_t errlen)
{
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(k->db, sql, -1, st, &tail);
    if (rc != SQLITE_OK) {
        /* A write to a view (samples, rollups) fails in the parser, before the authorizer sees
         * it; it is still a write, refused as such. */
        const char *msg = sqlite3_errmsg(k->db);
        if (strstr(msg, "because it is a view") || strstr(msg, "may not be modified"))
            k->denied = 1;
        return fw_sqc_fail(k, rc, timeout_ms, err, errlen);
    }
    if (!*st) {
        fw_sqc_err(err, errlen, "empty statement");
        return FW_STORE_ERR_INVALID;
    }
    /* Whatever follows must prepare to nothing (space, comments, ';'); it is never run. */
    sqlite3_stmt *next = NULL;
    rc = tail && *tail ? sqlite3_prepare_v2(k->db, tail, -1, &next, NULL) : SQLITE_OK;
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next) {
        fw_sqc_err(err, errlen, "only one statement is allowed");
        return FW_STORE_ERR_DENIED;
    }
    if (!sqlite3_stmt_readonly(*st)) {
        fw_sqc_err(err, errlen, "only read-only statements are allowed");
        return FW_STORE_ERR_DENIED;
    }
    return FW_STORE_OK;
}

fw_store_status fw_sqc_run(fw_sqc *c, const char *sql, const fw_store_sql_limits *lim,
                           fw_store_sql_result *out, char *err, size_t errlen)
{
    int64_t timeout_ms = lim->timeout_ms > 0 ? lim->timeout_ms : FW_SQC_TIMEOUT_MS;
    int64_t deadline = fw_sqc_mono_ms() + timeout_ms;
    fw_sqc_budget b = {lim->max_rows ? lim->max_rows : FW_SQC_MAX_ROWS,
                       lim->max_bytes ? lim->max_bytes : FW_SQC_RESULT_BYTES,
                       lim->max_cell_bytes ? lim->max_cell_bytes : FW_SQC_CELL_BYTES, 0};
    fw_sqc_conn *k = fw_sqc_take(c, deadline);
    if (!k) {
        fw_sqc_err(err, errlen, "query time limit exceeded: all %d SQL console connections stayed busy for %lld ms",
                   c->n, (long long)timeout_ms);
        return FW_STORE_ERR_TIMEOUT;
    }
    k->deadline = deadline;
    k->denied = 0;
    k->why[0] = '\0';
    sqlite3_stmt *st = NULL;
    fw_store_status rs = fw_sqc_prepare(k, sql, timeout_ms, &st, err, errlen);
    int nc = rs == FW_STORE_OK ? sqlite3_column_count(st) : 0;
    if (rs == FW_STORE_OK && !(out->columns = calloc((size_t)nc + 1, sizeof *out->columns)))
        rs = FW_STORE_ERR_NOMEM;
    for (int i = 0; rs == FW_STORE_OK && i < nc; i++) {
        const char *name = sqlite3_column_name(st, i);
        out->ncolumns = (size_t)i + 1;
        if (!(out->columns[i] = fw_sqc_strdup(name)))
            rs = FW_STORE_ERR_NOMEM;
        else
            b.used += strlen(out->columns[i]);   /* counted like text; checked with the first cell */
    }
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (rs == FW_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->nrows == b.max_rows) {
            out->truncated = 1;
            break;
        }
        if (nc == 0)
            out->nrows++;
        else
            rs = fw_sqc_copy_row(st, nc, out, &cap, &b, err, errlen);
    }
    if (rs == FW_STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        rs = fw_sqc_fail(k, rc, timeout_ms, err, errlen);
    sqlite3_finalize(st);
    fw_sqc_give(c, k);
    if (rs != FW_STORE_OK)
        fw_store_sql_result_free(out);
    return rs;
}
