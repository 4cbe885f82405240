/*
 * fw_store: the server's profile store, behind a backend-neutral interface.
 *
 * The HTTP server talks only to this header. A store is an opaque handle whose first member
 * is a table of backend operations, one table per backend (store/sqlite/ is the first); the
 * fw_store_* functions below dispatch through it, so callers never know which backend answers.
 * A store is opened from a URL whose scheme names the backend (fw_store_open).
 *
 * Conventions shared by every call:
 *   - Time is in whole seconds since the Unix epoch (int64). Ranges are half-open [from, until).
 *     Ingest takes the profile's own time_nanos and converts it.
 *   - Functions return an fw_store_status. Results are written into caller-provided structs and
 *     freed with the matching fw_store_*_free(); on error the struct is left empty (safe to free).
 *   - Every result that answers a query carries `sql`: the SQL text, in the backend's own
 *     dialect and with literal values inlined, that a user can run with that database's own
 *     client on the store's data to get the same numbers.
 *   - Strings inside results are owned by the result.
 *   - A store handle is thread safe: writes (ingest, maintenance, settings) are serialized
 *     internally as the backend needs; queries run concurrently with ingest and never block it.
 */
#ifndef FW_STORE_H
#define FW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fw_profile.h"

typedef enum {
    FW_STORE_OK = 0,
    FW_STORE_ERR_NOMEM = -1,
    FW_STORE_ERR_INVALID = -2,   /* bad input or arguments: HTTP 400 */
    FW_STORE_ERR_NOTFOUND = -3,  /* unknown app/type: HTTP 404 */
    FW_STORE_ERR_DENIED = -4,    /* read-only SQL refused a statement: HTTP 403 */
    FW_STORE_ERR_TIMEOUT = -5,   /* read-only SQL ran past its time limit: HTTP 408/503 */
    FW_STORE_ERR_IO = -6,        /* database error (disk full, corrupt file): HTTP 500 */
    FW_STORE_ERR_BUSY = -7,      /* no database lock or read connection in time: HTTP 503 */
    FW_STORE_ERR_TOOBIG = -8,    /* read-only SQL: a value or the result is over its byte limit: HTTP 413 */
} fw_store_status;

const char *fw_store_strerror(fw_store_status s);

typedef struct fw_store fw_store;

/* ---------------------------------------------------------------- opening */

/* How durable an acknowledged write is (docs/STORAGE.md says what each backend does for it). */
typedef enum {
    FW_STORE_SYNC_NORMAL = 0,  /* survives a crash of the server process (kill -9), not power loss */
    FW_STORE_SYNC_FULL = 1,    /* survives power loss too, at some cost per write */
} fw_store_sync;

typedef struct {
    int64_t retention_s;      /* 0 = default, 7 days */
    fw_store_sync sync;       /* default FW_STORE_SYNC_NORMAL (see docs/STORAGE.md) */
    int readers;              /* concurrent queries (read connections); 0 = backend default */
    int reader_wait_ms;       /* how long a query waits for a free read connection before it gives
                                 up with FW_STORE_ERR_BUSY; 0 = FW_STORE_READER_WAIT_MS */
    size_t cache_bytes;       /* dimension cache budget (docs/STORAGE.md); 0 = FW_STORE_DEFAULT_CACHE_BYTES */
} fw_store_options;

/* The default wait for a read connection (docs/API.md, "Limits"). Queries are made by HTTP
 * workers, so a query never waits without end behind others: past this it answers BUSY (503). */
#define FW_STORE_READER_WAIT_MS 3000

/* The default budget of the in-memory dimension cache (functions, frames, stacks, label sets). */
#define FW_STORE_DEFAULT_CACHE_BYTES ((size_t)64 << 20)

/* Opens (creating if needed) the store a URL names:
 *   sqlite:///var/lib/flamewatch   the embedded store in that directory (created if missing);
 *   sqlite://data                  the same, relative to the working directory: everything after
 *                                  "sqlite://" is the directory, as `--data DIR` gives it;
 *   clickhouse://[user[:pass]@]host[:8123][,host2[:port]...]/db[?cluster=NAME]   the ClickHouse
 *                                  store in database db
 *                                  (created if missing), on a cluster through Distributed tables;
 *                                  FW_STORE_ERR_IO "ClickHouse unreachable at host:port" when it
 *                                  does not answer.
 * Anything else, or an empty path, is FW_STORE_ERR_INVALID. On failure *out is NULL and err has
 * a one-line reason. */
fw_store_status fw_store_open(const char *url, const fw_store_options *opt, fw_store **out,
                              char *err, size_t errlen);
/* Checks a store URL without opening or creating anything (for command lines, before the server
 * starts): 0 when fw_store_open could try it, or -1 with the reason fw_store_open would give. */
int fw_store_url_check(const char *url, char *err, size_t errlen);
/* The URL as it may be logged: a password (scheme://user:PASSWORD@host) replaced by "***". */
void fw_store_url_redact(const char *url, char *out, size_t outlen);
/* The URL of the default store for a data directory (`--data DIR`), malloc'ed. */
char *fw_store_url_for_dir(const char *dir);
void fw_store_close(fw_store *s);

/* ---------------------------------------------------------------- ingest */

/* Value limits (docs/API.md, "Limits"). A value is nanoseconds, bytes or a count. One sample's
 * value may be at most 2^46 (19.5 hours of CPU or wall time: 1,170 threads on one stack for a
 * 60 s upload; 64 TiB allocated); one upload's values of one type add up to at most 2^48 (78
 * hours: 78 cores for an hour). An upload over either is refused whole (FW_STORE_ERR_INVALID).
 * 2^63 / 2^48 = 32,768 uploads at the limit would have to land in one sum before it could
 * overflow, and every sum the store makes saturates at INT64_MAX anyway (roll-ups, queries), so
 * no data, old or new, can make maintenance or a query fail on arithmetic. */
#define FW_STORE_MAX_SAMPLE_VALUE ((int64_t)1 << 46)
#define FW_STORE_MAX_UPLOAD_VALUE ((int64_t)1 << 48)

typedef struct {
    const char *app;              /* required, 1-128 bytes */
    const fw_profile *profile;    /* every sample type becomes one (app, type) series */
    int64_t time_s;               /* 0 = use the profile's time_nanos (or now when that is 0) */
    const fw_label *labels;       /* extra labels added to every sample (e.g. from ?name=app{k=v}) */
    size_t nlabels;
    uint64_t upload_id;           /* 0 = none; else the upload's id (server/fw_upload_id.c): a
                                     backend that de-duplicates stores an id once per app and time
                                     bucket and answers a repeat FW_STORE_OK with duplicate = 1 */
} fw_store_ingest_req;

typedef struct {
    size_t stack_values;  /* rows written: samples x sample types with a non-zero value */
    size_t new_stacks;    /* stacks seen for the first time */
    int duplicate;        /* 1: an upload with this upload_id was stored before; nothing written */
} fw_store_ingest_result;

/* One transaction: either the whole profile is stored and committed (durable per the sync mode)
 * before this returns FW_STORE_OK, or nothing is. Answer 2xx only after FW_STORE_OK. */
fw_store_status fw_store_ingest(fw_store *s, const fw_store_ingest_req *req,
                                fw_store_ingest_result *res, char *err, size_t errlen);

/* Periodic maintenance, call every ~10 s: rolls up closed time buckets, deletes data older than
 * the retention, and whatever housekeeping the backend needs. Does a bounded amount of work per
 * call. */
fw_store_status fw_store_maintain(fw_store *s, int64_t now_s);

/* ---------------------------------------------------------------- query inputs */

typedef struct {
    const char *app;
    const char *type;           /* profile type, e.g. "cpu" */
    int64_t from, until;        /* seconds, [from, until) */
    const fw_label *filters;    /* AND across keys, OR among values of the same key */
    size_t nfilters;
} fw_store_query;

typedef enum {
    FW_STORE_GRAN_FUNCTION = 0,  /* frames merged by function name + file */
    FW_STORE_GRAN_LINE = 1,      /* frames merged by name + file + line */
} fw_store_granularity;

/* ---------------------------------------------------------------- applications */

typedef struct {
    char *type;
    char *unit;
    char *description;   /* "CPU time per stack", ...; generic text for unknown types */
} fw_store_type_info;

typedef struct {
    char *app;
    fw_store_type_info *types;
    size_t ntypes;
} fw_store_app;

typedef struct {
    fw_store_app *apps;
    size_t napps;
    char *sql;
} fw_store_apps;

fw_store_status fw_store_list_apps(fw_store *s, fw_store_apps *out);
void fw_store_apps_free(fw_store_apps *a);
/* Description for a profile type (static string, never NULL). */
const char *fw_store_type_description(const char *type);

/* ---------------------------------------------------------------- labels */

typedef struct {
    char *key;
    char **values;     /* sorted */
    size_t nvalues;
} fw_store_label_key;

typedef struct {
    fw_store_label_key *keys;  /* sorted by key */
    size_t nkeys;
    char *sql;                 /* rows (key, value) */
} fw_store_labels;

/* Label keys and values present for q (app, type, range); q->filters are ignored. */
fw_store_status fw_store_label_values(fw_store *s, const fw_store_query *q, fw_store_labels *out);
void fw_store_labels_free(fw_store_labels *l);

/* ---------------------------------------------------------------- trend */

typedef struct {
    int64_t t;       /* step start, seconds */
    int64_t value;   /* sum of values in [t, t+step) */
    int64_t count;   /* sum of sample counts */
} fw_store_point;

typedef struct {
    int64_t step_s;          /* chosen so that the range has at most ~300 points */
    fw_store_point *points;  /* every step of the range, zeros included, ascending */
    size_t npoints;
    char *unit;
    char *sql;               /* rows (t, value, count), only non-empty steps */
} fw_store_trend;

/* step_s = 0 chooses the step automatically. */
fw_store_status fw_store_trend_query(fw_store *s, const fw_store_query *q, int64_t step_s,
                                     fw_store_trend *out);
void fw_store_trend_free(fw_store_trend *t);

/* ---------------------------------------------------------------- flame graph */

typedef struct {
    int32_t parent;     /* index into nodes, -1 for the root */
    int32_t depth;      /* root = 0 */
    char *name;         /* function name; "total" for the root; "other" for folded nodes */
    char *file;
    int64_t line;       /* 0 in function granularity */
    int is_other;       /* 1: a fold of the parent's smallest children */
    int64_t total, self;
    int64_t count_total, count_self;  /* sample counts */
} fw_store_node;

typedef struct {
    fw_store_node *nodes;   /* pre-order: a node's children follow it, largest total first */
    size_t nnodes;
    char *unit;
    char *sql;              /* rows (stack_id, path, value, count): the flat stacks the tree sums */
} fw_store_tree;

typedef struct {
    fw_store_granularity gran;
    size_t max_nodes;       /* 0 = 1024; includes the root and "other" nodes */
} fw_store_tree_opts;

fw_store_status fw_store_tree_query(fw_store *s, const fw_store_query *q,
                                    const fw_store_tree_opts *opt, fw_store_tree *out);
void fw_store_tree_free(fw_store_tree *t);

/* ---------------------------------------------------------------- table */

typedef enum {
    FW_STORE_SORT_SELF = 0,   /* descending */
    FW_STORE_SORT_TOTAL = 1,  /* descending */
    FW_STORE_SORT_NAME = 2,   /* ascending by name, file, line */
} fw_store_sort;

typedef struct {
    char *name;
    char *file;
    int64_t line;          /* 0 in function granularity */
    int64_t self, total;   /* total counts a function once per stack, even under recursion */
    int64_t count_self, count_total;
} fw_store_row;

typedef struct {
    fw_store_row *rows;
    size_t nrows;
    int64_t grand_total;   /* sum over all stacks, for percentages */
    char *unit;
    char *sql;             /* rows (name, file, line, self, total) in the same order */
} fw_store_table;

typedef struct {
    fw_store_granularity gran;
    fw_store_sort sort;
    size_t limit;          /* 0 = all */
} fw_store_table_opts;

fw_store_status fw_store_table_query(fw_store *s, const fw_store_query *q,
                                     const fw_store_table_opts *opt, fw_store_table *out);
void fw_store_table_free(fw_store_table *t);

/* ---------------------------------------------------------------- diff */

typedef struct {
    int32_t parent, depth;
    char *name;
    char *file;
    int64_t line;
    int is_other;
    int64_t base_total, base_self, cmp_total, cmp_self;
    int64_t base_count, cmp_count;     /* sample counts under the node (total) */
    double base_share, cmp_share;      /* node total / root total, 0..1 */
    double z;                          /* two-proportion z statistic on counts; + = share grew */
    int significant;                   /* +1 grew, -1 shrank, 0 within sampling noise */
} fw_store_diff_node;

typedef struct {
    fw_store_diff_node *nodes;  /* pre-order, as fw_store_tree */
    size_t nnodes;
    char *unit;
    char *sql;                  /* rows (stack_id, path, base_value, base_count, cmp_value, cmp_count) */
} fw_store_diff;

/* |z| at or above this is flagged significant (see docs/STORAGE.md, "Diff significance"). */
#define FW_STORE_Z_SIGNIFICANT 3.0

fw_store_status fw_store_diff_query(fw_store *s, const fw_store_query *base, const fw_store_query *cmp,
                                    const fw_store_tree_opts *opt, fw_store_diff *out);
void fw_store_diff_free(fw_store_diff *d);

/* ---------------------------------------------------------------- SQL text alone */

typedef enum {
    FW_STORE_SQL_APPS, FW_STORE_SQL_LABELS, FW_STORE_SQL_TREND, FW_STORE_SQL_TREE,
    FW_STORE_SQL_TABLE, FW_STORE_SQL_DIFF,
} fw_store_sql_kind;

/* The SQL a query of `kind` would run, without running it (cmp only for DIFF, step_s only for
 * TREND, table_opts only for TABLE; others may be NULL/0). *out is malloc'ed. */
fw_store_status fw_store_sql_text(fw_store *s, fw_store_sql_kind kind, const fw_store_query *q,
                                  const fw_store_query *cmp, int64_t step_s,
                                  const fw_store_table_opts *table_opts, char **out);

/* ---------------------------------------------------------------- read-only SQL */

typedef enum {
    FW_STORE_VAL_NULL = 0, FW_STORE_VAL_INT, FW_STORE_VAL_REAL, FW_STORE_VAL_TEXT, FW_STORE_VAL_BLOB,
} fw_store_val_type;

typedef struct {
    fw_store_val_type type;
    int64_t i;
    double d;
    char *s;        /* TEXT (NUL-terminated) or BLOB bytes */
    size_t len;     /* bytes in s */
} fw_store_value;

typedef struct {
    char **columns;
    size_t ncolumns;
    fw_store_value *cells;   /* row-major: cells[row * ncolumns + col] */
    size_t nrows;
    int truncated;           /* 1: more rows existed than max_rows */
} fw_store_sql_result;

typedef struct {
    size_t max_rows;         /* 0 = 10000 */
    int64_t timeout_ms;      /* 0 = 5000; counts the wait for a free console connection too */
    size_t max_bytes;        /* 0 = 8 MiB: text bytes + 2 x BLOB bytes (sent as hex) + 40 per cell */
    size_t max_cell_bytes;   /* 0 = 1 MiB: one text or BLOB cell */
} fw_store_sql_limits;

/* Runs one SELECT, in the backend's dialect, read-only, on the console's own connections (never
 * those that serve the other queries). Anything but reading (INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH, PRAGMA,
 * ...) and any function or table-valued function not on the console's allow-list gives
 * FW_STORE_ERR_DENIED; syntax errors FW_STORE_ERR_INVALID; the time limit, waiting included,
 * FW_STORE_ERR_TIMEOUT; a cell, the result or any value the query computes over its byte limit
 * FW_STORE_ERR_TOOBIG. err gets a one-line reason. */
fw_store_status fw_store_sql_run(fw_store *s, const char *sql, const fw_store_sql_limits *lim,
                                 fw_store_sql_result *out, char *err, size_t errlen);
void fw_store_sql_result_free(fw_store_sql_result *r);

/* ---------------------------------------------------------------- agent settings */

typedef struct {
    int enabled;              /* master switch */
    int cpu;                  /* 0/1 */
    int cpu_interval_ms;      /* 1-1000 */
    int wall;                 /* 0/1 */
    int memory;               /* 0/1 */
    int memory_threshold_kb;  /* >= 1 */
    int64_t updated_at;       /* seconds; 0 when never set (defaults returned) */
} fw_store_settings;

/* Defaults: enabled, cpu on at 10 ms, wall off, memory off at 1024 KB. */
void fw_store_settings_default(fw_store_settings *st);
/* Returns the app's settings, or the defaults (updated_at = 0) when none were put. */
fw_store_status fw_store_settings_get(fw_store *s, const char *app, fw_store_settings *out);
/* Validates ranges (FW_STORE_ERR_INVALID), stores with updated_at = now_s. */
fw_store_status fw_store_settings_put(fw_store *s, const char *app, const fw_store_settings *st,
                                      int64_t now_s);

typedef struct {
    char *host;
    int64_t pid;
    int64_t last_fetch;          /* seconds */
    int64_t settings_updated_at; /* the updated_at of the settings it received */
} fw_store_agent;

typedef struct {
    fw_store_agent *agents;      /* most recent fetch first */
    size_t nagents;
} fw_store_agents;

/* Records that agent (app, host, pid) fetched settings (with that updated_at) at now_s. */
fw_store_status fw_store_agent_seen(fw_store *s, const char *app, const char *host, int64_t pid,
                                    int64_t settings_updated_at, int64_t now_s);
fw_store_status fw_store_agents_list(fw_store *s, const char *app, fw_store_agents *out);
void fw_store_agents_free(fw_store_agents *a);

/* ---------------------------------------------------------------- stats */

typedef struct {
    int64_t size_bytes;     /* bytes the store's data takes on disk, as the backend counts them */
    int64_t profiles;       /* uploads ingested since the store was created */
    int64_t stack_values;   /* stack values ingested since the store was created */
    int64_t stacks;         /* distinct stacks stored */
    int64_t rows;           /* raw sample rows currently kept (approximate) */
    /* The in-memory dimension cache (0 for a backend without one): bytes held now, its budget,
     * entries, and entries evicted since the store was opened. */
    int64_t cache_bytes, cache_budget, cache_entries, cache_evictions;
} fw_store_stats;

fw_store_status fw_store_get_stats(fw_store *s, fw_store_stats *out);

/* ---------------------------------------------------------------- backend vtable */

/* Backends implement these; callers use the fw_store_* wrappers above. */
typedef struct {
    const char *name;
    void (*close)(fw_store *s);
    fw_store_status (*ingest)(fw_store *s, const fw_store_ingest_req *req,
                              fw_store_ingest_result *res, char *err, size_t errlen);
    fw_store_status (*maintain)(fw_store *s, int64_t now_s);
    fw_store_status (*list_apps)(fw_store *s, fw_store_apps *out);
    fw_store_status (*label_values)(fw_store *s, const fw_store_query *q, fw_store_labels *out);
    fw_store_status (*trend)(fw_store *s, const fw_store_query *q, int64_t step_s, fw_store_trend *out);
    fw_store_status (*tree)(fw_store *s, const fw_store_query *q, const fw_store_tree_opts *opt,
                            fw_store_tree *out);
    fw_store_status (*table)(fw_store *s, const fw_store_query *q, const fw_store_table_opts *opt,
                             fw_store_table *out);
    fw_store_status (*diff)(fw_store *s, const fw_store_query *base, const fw_store_query *cmp,
                            const fw_store_tree_opts *opt, fw_store_diff *out);
    fw_store_status (*sql_text)(fw_store *s, fw_store_sql_kind kind, const fw_store_query *q,
                                const fw_store_query *cmp, int64_t step_s,
                                const fw_store_table_opts *table_opts, char **out);
    fw_store_status (*sql_run)(fw_store *s, const char *sql, const fw_store_sql_limits *lim,
                               fw_store_sql_result *out, char *err, size_t errlen);
    fw_store_status (*settings_get)(fw_store *s, const char *app, fw_store_settings *out);
    fw_store_status (*settings_put)(fw_store *s, const char *app, const fw_store_settings *st,
                                    int64_t now_s);
    fw_store_status (*agent_seen)(fw_store *s, const char *app, const char *host, int64_t pid,
                                  int64_t settings_updated_at, int64_t now_s);
    fw_store_status (*agents_list)(fw_store *s, const char *app, fw_store_agents *out);
    fw_store_status (*stats)(fw_store *s, fw_store_stats *out);
} fw_store_ops;

/* Every backend's handle starts with this. */
struct fw_store {
    const fw_store_ops *ops;
};

#endif
