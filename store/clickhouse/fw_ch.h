/*
 * fw_ch.h: the ClickHouse backend's handle and what its files share (internal to store/clickhouse/).
 *
 * One concept per file: fw_ch_url.c parses clickhouse:// URLs; fw_ch_buf.c holds the byte buffer,
 * the RowBinary encoder, the TSV reader, SQL string quoting and the content hash; fw_ch_http.c is
 * the transport (ClickHouse's HTTP interface through libcurl, a pool of keep-alive handles, one-line
 * errors); fw_ch_batch.c lets concurrent uploads share sample inserts; fw_ch_store.c opens the store, creates the schema and holds the operations table;
 * fw_ch_ingest.c writes uploads; fw_ch_query.c answers the console's queries, with the stack definitions
 * cached by fw_ch_dims.c; fw_ch_sql.c writes
 * their SQL text; fw_ch_meta.c keeps settings, agents and stats, runs users' read-only SQL and
 * drops expired partitions.
 *
 * The server keeps no state ClickHouse does not have: any number of servers can share a database.
 * Ids of functions, stacks and label sets are 64-bit hashes of their content (fw_ch_hash), so two
 * servers writing the same stack write the same row, and ReplacingMergeTree folds the copies. The
 * in-memory "known" sets below only save re-sending rows this process already wrote; losing them
 * costs a duplicate row, never a wrong answer.
 */
#ifndef FW_CH_H
#define FW_CH_H

#include "../fw_store.h"
#include "../fw_store_dims.h"
#include "../fw_store_util.h"
#include "fw_store_clickhouse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FW_CH_BUCKET 10                           /* time bucket of raw samples, seconds (as SQLite) */
#define FW_CH_DEFAULT_RETENTION ((int64_t)7 * 86400)
#define FW_CH_POOL 8                              /* keep-alive HTTP handles */
#define FW_CH_LINGER_MS 20                        /* batch linger under load (fw_ch_batch.c) */

/* ---- fw_ch_buf.c: a growable byte buffer, RowBinary, TSV, quoting, hashing */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;             /* sticky: an append failed */
} fw_ch_buf;

void fw_ch_buf_free(fw_ch_buf *b);
void fw_ch_buf_reset(fw_ch_buf *b);
void fw_ch_put(fw_ch_buf *b, const void *p, size_t n);
void fw_ch_puts(fw_ch_buf *b, const char *s);
void fw_ch_printf(fw_ch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A quoted ClickHouse string literal: '...' with \ and ' (and control bytes) escaped. */
void fw_ch_quote(fw_ch_buf *b, const char *s);
/* RowBinary: little-endian fixed-width integers, strings as LEB128 length + bytes, arrays as
 * LEB128 count + elements. */
void fw_ch_rb_u8(fw_ch_buf *b, uint8_t v);
void fw_ch_rb_i32(fw_ch_buf *b, int32_t v);
void fw_ch_rb_u64(fw_ch_buf *b, uint64_t v);
void fw_ch_rb_i64(fw_ch_buf *b, int64_t v);
void fw_ch_rb_varuint(fw_ch_buf *b, uint64_t v);
void fw_ch_rb_str(fw_ch_buf *b, const char *s, size_t n);
/* -1 when an append ran out of memory (the buffer is then incomplete), else 0. */
static inline int fw_ch_buf_failed(const fw_ch_buf *b) { return b->oom ? -1 : 0; }
/* NUL-terminates in place (not counted in n): 0, or -1 when out of memory. */
int fw_ch_buf_nul(fw_ch_buf *b);
/* NUL-terminates and hands the text over (the buffer is left empty); NULL when out of memory. */
char *fw_ch_buf_take(fw_ch_buf *b);

/* TSV reader over a response body: fields are unescaped in place (\t \n \\ \' \0 ...). */
typedef struct {
    char *p, *end;
} fw_ch_tsv;
/* Splits the next line into at most max fields; returns the number of fields, 0 at the end, -1
 * when the line has more than max fields. */
int fw_ch_tsv_row(fw_ch_tsv *t, char **fields, size_t *lens, int max);
/* Integers of a field; 0 on success, -1 when the field is not an integer in range. */
int fw_ch_parse_i64(const char *s, int64_t *out);
int fw_ch_parse_u64(const char *s, uint64_t *out);
/* ClickHouse arrays of integers as TSV prints them: [1,2,3]. n = elements; -1 when malformed. */
int fw_ch_parse_array(const char *s, int is_signed, int64_t *out, size_t max, size_t *n);

/* The persisted content hash (64-bit FNV-1a over the bytes, then a murmur-style finalizer): ids in
 * the database are this hash, so it must never change between versions. Never returns 0. */
uint64_t fw_ch_hash(const void *p, size_t n, uint64_t seed);

/* ---- fw_ch_url.c */
#define FW_CH_MAX_HOSTS 8

typedef struct {
    char host[256];       /* the first host (hosts[0]) */
    int port;
    char hosts[FW_CH_MAX_HOSTS][256];
    int ports[FW_CH_MAX_HOSTS];
    int nhosts;
    char db[128];
    char cluster[128];    /* "" when single-node */
    char user[128];
    char password[128];
} fw_ch_url;
/* Parses clickhouse://[user[:password]@]host[:port][,host[:port]...]/db[?cluster=NAME]. 0, or -1
 * with a reason. Several hosts are nodes of one cluster: requests go to the first that answers,
 * and DDL goes to each of them when the cluster cannot run ON CLUSTER (no ZooKeeper). */
int fw_ch_url_parse(const char *url, fw_ch_url *u, char *err, size_t errlen);
/* Whether s is a plain identifier ([A-Za-z_][A-Za-z0-9_]*), as database and cluster names must be. */
int fw_ch_ident_ok(const char *s);

/* ---- fw_ch_http.c */
typedef struct fw_ch_http fw_ch_http;
/* Query-string settings for one request (NULL-terminated "name=value" list, values URL-safe). */
/* A transport to host number `host` of the URL, for database db. */
fw_ch_http *fw_ch_http_new(const fw_ch_url *u, int host, const char *db, char *err, size_t errlen);
void fw_ch_http_free(fw_ch_http *h);
/* Runs `sql` (in the query string when body is given, else as the body), with settings; the
 * response body lands in *resp (when resp is not NULL), at most max_resp bytes (0 = unlimited;
 * past it FW_STORE_ERR_TOOBIG). A transport failure is FW_STORE_ERR_IO with "ClickHouse unreachable
 * at host:port"; an error ClickHouse reports is mapped from its code (fw_ch_code_status) with its
 * one-line message in err. *code gets ClickHouse's error code (0 when none) when code is not NULL. */
fw_store_status fw_ch_http_run(fw_ch_http *h, const char *sql, const char *body, size_t body_len,
                               const char *const *settings, int64_t timeout_ms, size_t max_resp,
                               fw_ch_buf *resp, int *code, char *err, size_t errlen);
/* The store status for a ClickHouse error code. */
fw_store_status fw_ch_code_status(int code);
/* The one-line message of an error body ("Code: 62, e.displayText() = DB::Exception: ..." in 18.16,
 * "Code: 62. DB::Exception: ..." in current versions); *code gets the number (0 when none). */
void fw_ch_error_line(const char *body, size_t n, int *code, char *out, size_t outlen);

/* ---- the handle (fw_ch_store.c) */
typedef struct {
    uint64_t *v;        /* open addressing, 0 = empty */
    size_t cap, n;
} fw_ch_idset;
int fw_ch_idset_has(const fw_ch_idset *s, uint64_t id);
int fw_ch_idset_add(fw_ch_idset *s, uint64_t id);   /* 0, or -1 when out of memory */
void fw_ch_idset_free(fw_ch_idset *s);

typedef struct fw_ch_batch fw_ch_batch;
typedef struct fw_ch_defs fw_ch_defs;

/* A map from 64-bit content ids (never 0) to 32-bit values (0 = absent); fw_ch_dims.c. */
typedef struct {
    uint64_t *k;
    uint32_t *v;
    size_t cap, n;
} fw_ch_idmap;
uint32_t fw_ch_idmap_get(const fw_ch_idmap *m, uint64_t k);
int fw_ch_idmap_put(fw_ch_idmap *m, uint64_t k, uint32_t v);   /* 0, or -1 when out of memory */
void fw_ch_idmap_free(fw_ch_idmap *m);

typedef struct {
    fw_store base;
    fw_ch_url url;
    fw_ch_http *hosts[FW_CH_MAX_HOSTS];   /* one transport per host of the URL */
    _Atomic int cur;                      /* the host requests go to first */
    int on_cluster;                       /* 1: ON CLUSTER DDL works (distributed DDL configured) */
    int cluster;                 /* 1: Distributed tables over *_local tables ON CLUSTER */
    int64_t retention_s;
    /* Upload counters not yet written to `uploads`: maintenance flushes them (one row per ~10 s
     * instead of one insert per upload on the upload's path). */
    _Atomic int64_t pend_profiles, pend_values, pend_rows;
    /* Group commit of sample rows (fw_ch_batch.c): the open batch, whether an insert is in flight. */
    pthread_mutex_t blk;
    pthread_cond_t bcond;
    fw_ch_batch *open;
    int flushing;
    int linger_ms;               /* how long a flusher waits for more uploads (FW_CH_LINGER_MS) */
    size_t last_batch_n;         /* uploads in the last batch inserted */
    int64_t batches;             /* inserts made, for tests and benchmarks */
    fw_ch_defs *defs;            /* stack and function definitions read so far (fw_ch_dims.c) */
    fw_ch_idmap units;           /* hash(app, type) -> index + 1 into unit_text (under klock) */
    char **unit_text;
    size_t nunits;
    pthread_mutex_t klock;       /* guards the known sets */
    fw_ch_idset known_fn, known_st, known_ls, known_series;
} fw_ch;

/* Runs a statement that returns nothing (DDL, ALTER). */
fw_store_status fw_ch_exec(fw_ch *s, const char *sql, char *err, size_t errlen);
/* Runs DDL for every node: ON CLUSTER when the cluster supports it, else on each host of the URL
 * in turn. `sql` has "%s" where " ON CLUSTER name" goes (or nothing). */
fw_store_status fw_ch_ddl(fw_ch *s, const char *fmt_sql, char *err, size_t errlen);
/* Any request through the first host that answers (failover over the URL's hosts). */
fw_store_status fw_ch_run(fw_ch *s, const char *sql, const char *body, size_t body_len, const char *const *settings,
                          int64_t timeout_ms, size_t max_resp, fw_ch_buf *resp, int *code, char *err, size_t errlen);
/* Runs a query and returns its TabSeparated body (NUL-terminated) in resp. */
fw_store_status fw_ch_select(fw_ch *s, const char *sql, fw_ch_buf *resp, char *err, size_t errlen);
/* INSERT INTO table FORMAT RowBinary with the rows in body (synchronous on a cluster). */
fw_store_status fw_ch_insert(fw_ch *s, const char *table, const char *columns, const fw_ch_buf *rows,
                             char *err, size_t errlen);

/* ---- fw_ch_batch.c */
/* Adds an upload's sample rows (of application app, bucket t, upload id `id`, 0 = none; `type`
 * is the type of one of its rows) to the
 * open batch and returns once the insert holding them was answered: FW_STORE_OK only when
 * ClickHouse acknowledged it, or when `samples` already held upload `id` (then *dup = 1 and
 * nothing was written). */
fw_store_status fw_ch_commit_samples(fw_ch *s, const fw_ch_buf *rows, const char *app, const char *type, int64_t t,
                                     uint64_t id, int *dup, char *err, size_t errlen);
void fw_ch_batch_free(fw_ch *s);

/* ---- fw_ch_dims.c */
fw_ch_defs *fw_ch_defs_new(void);
void fw_ch_defs_free(fw_ch_defs *d);
/* Makes sure the definitions of stacks ids[0..n) and of their functions are cached, fetching
 * what is missing by id. */
fw_store_status fw_ch_defs_load(fw_ch *s, const uint64_t *ids, size_t n);
/* A query's own dimension table (fw_ch_local.c): the functions, frames and trie nodes of the
 * stacks it read, with dense 32-bit ids from 1, and the source (`src`, first member) that answers
 * the shared tree and table builders' dimension cache from it. One query, one thread: no lock. */
typedef struct {
    fw_dims_src src;
    char **fn_name, **fn_file;
    uint32_t fn_n, fn_cap;
    uint32_t *fr_fn;
    int64_t *fr_line;
    uint32_t fr_n, fr_cap;
    uint32_t *st_parent, *st_frame;
    uint32_t st_n, st_cap;
    fw_map fr_map, st_map;
    fw_ch_idmap fn_ids;           /* function content id -> local id */
} fw_ch_local;
void fw_ch_local_init(fw_ch_local *l);
void fw_ch_local_free(fw_ch_local *l);
/* Local ids of a function (by content id; name and file are copied), a frame, a trie node under
 * `parent` (0: the root); 0 when out of memory. */
uint32_t fw_ch_local_fn(fw_ch_local *l, uint64_t content_id, const char *name, const char *file);
uint32_t fw_ch_local_frame(fw_ch_local *l, uint32_t fn, int64_t line);
uint32_t fw_ch_local_node(fw_ch_local *l, uint32_t parent, uint32_t frame);

/* Adds the stacks ids[0..n) to a query's own table l (sids: content id -> local stack id). Stacks
 * the definitions cache does not have are left out. */
fw_store_status fw_ch_defs_dims(fw_ch *s, const uint64_t *ids, size_t n, fw_ch_local *l, fw_ch_idmap *sids);

/* ---- fw_ch_ingest.c */
fw_store_status fw_ch_ingest(fw_store *base, const fw_store_ingest_req *req, fw_store_ingest_result *res,
                             char *err, size_t errlen);

/* ---- fw_ch_sql.c */
/* The WHERE condition of a query's samples: app, type, range and label filters. */
void fw_ch_sql_where(fw_ch *s, fw_ch_buf *b, const fw_store_query *q, int with_filters);
/* What fw_ch_query.c runs: per-stack sums (stack, value, count) of q. */
void fw_ch_sql_rows(fw_ch *s, fw_ch_buf *b, const fw_store_query *q);
/* The SQL text shown for a query of `kind` (fw_store_sql_text), malloc'ed; NULL when out of memory. */
char *fw_ch_sql_build(fw_ch *s, fw_store_sql_kind kind, const fw_store_query *q, const fw_store_query *cmp,
                      int64_t step, const fw_store_table_opts *topt);
/* Trend step (same rule as SQLite's) rounded to whole buckets. */
int64_t fw_ch_step(const fw_store_query *q, int64_t step);
fw_store_status fw_ch_sql_text(fw_store *base, fw_store_sql_kind kind, const fw_store_query *q,
                               const fw_store_query *cmp, int64_t step, const fw_store_table_opts *topt,
                               char **out);

/* ---- fw_ch_query.c */
fw_store_status fw_ch_apps(fw_store *base, fw_store_apps *out);
fw_store_status fw_ch_labels(fw_store *base, const fw_store_query *q, fw_store_labels *out);
fw_store_status fw_ch_trend(fw_store *base, const fw_store_query *q, int64_t step, fw_store_trend *out);
fw_store_status fw_ch_flame(fw_store *base, const fw_store_query *q, const fw_store_tree_opts *opt,
                            fw_store_tree *out);
fw_store_status fw_ch_table(fw_store *base, const fw_store_query *q, const fw_store_table_opts *opt,
                            fw_store_table *out);
fw_store_status fw_ch_diff(fw_store *base, const fw_store_query *bq, const fw_store_query *cq,
                           const fw_store_tree_opts *opt, fw_store_diff *out);

/* ---- fw_ch_meta.c */
fw_store_status fw_ch_maintain(fw_store *base, int64_t now_s);
fw_store_status fw_ch_sql_run(fw_store *base, const char *sql, const fw_store_sql_limits *lim,
                              fw_store_sql_result *out, char *err, size_t errlen);
fw_store_status fw_ch_settings_get(fw_store *base, const char *app, fw_store_settings *out);
fw_store_status fw_ch_settings_put(fw_store *base, const char *app, const fw_store_settings *v, int64_t now_s);
fw_store_status fw_ch_agent_seen(fw_store *base, const char *app, const char *host, int64_t pid, int64_t upd,
                                 int64_t now_s);
fw_store_status fw_ch_agents_list(fw_store *base, const char *app, fw_store_agents *out);
fw_store_status fw_ch_stats(fw_store *base, fw_store_stats *out);
/* 1 when a statement is one SELECT (or WITH ... SELECT), comments and one trailing ';' allowed;
 * 0 for any other statement (a write, DDL, SET, SHOW, ...) or several: the console refuses those
 * before ClickHouse sees them; -1 when it starts with no statement keyword at all (left to
 * ClickHouse, under readonly=1, whose syntax error is the answer). */
int fw_ch_sql_is_select(const char *sql);

#endif
