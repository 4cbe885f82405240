/*
 * fw_sqlite.h: the SQLite backend's handle and what its files share (internal to store/sqlite/).
 *
 * The backend is one fw_sq handle (below) and one file per job: fw_sqlite_store.c opens, upgrades
 * and closes the database and holds the operations table; fw_sqlite_ingest.c writes uploads;
 * fw_sqlite_maint.c rolls up and expires; fw_sqlite_gc.c forgets dimensions no block uses;
 * fw_sqlite_dims.c answers the bounded dimension cache's misses from a connection;
 * fw_sqlite_sql.c writes the SQL text of each query; fw_sqlite_query.c runs queries on the reader
 * pool; fw_sqlite_settings.c keeps agent settings, the agents list and stats; fw_sqlite_console.c
 * runs users' read-only SQL. What is not SQLite (the dimension cache, packed blocks, trees, the
 * table) lives in store/ and is shared by every backend.
 *
 * Locks: wlock serializes every writer (ingest, maintenance, settings) on the one write
 * connection; clock serializes every use of the dimension cache (every lookup may load or evict:
 * ingest holds it while it interns, a query while it builds its tree or table, the GC while it
 * forgets); rlock/rcond guard the reader pool; cklock the checkpoint connection.
 */
#ifndef FW_SQLITE_H
#define FW_SQLITE_H

#include "../fw_store.h"
#include "../fw_store_blocks.h"
#include "../fw_store_dims.h"
#include "../fw_store_idmap.h"
#include "../fw_store_util.h"
#include "fw_sqlite_console.h"
#include "fw_store_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#define FW_SQ_BUCKET 10                    /* raw bucket width, seconds */
#define FW_SQ_NLEVELS 4
extern const int64_t fw_sq_res[FW_SQ_NLEVELS];   /* roll-up widths, finest first: 60, 900, 3600, 86400 */
#define FW_SQ_GRACE 60                     /* a bucket is closed this long after its end */
#define FW_SQ_DEFAULT_RETENTION ((int64_t)7 * 86400)
#define FW_SQ_MAX_PIECES 32

/* A source for the dimension cache's misses (fw_sqlite_dims.c): one connection, its statements
 * prepared on first use. */
typedef struct {
    fw_dims_src base;
    sqlite3 *db;
    sqlite3_stmt *by_id[FW_DIM_KINDS], *by_val[FW_DIM_KINDS];
    char *buf;
} fw_sq_src;

typedef struct {
    fw_store base;
    char *path;
    int64_t retention_s;

    pthread_mutex_t wlock;          /* serializes everything that writes */
    sqlite3 *w;
    sqlite3_stmt *ins_block, *ins_rblock, *ins_func, *ins_frame, *ins_stack, *ins_ls, *ins_label,
        *get_series, *ins_series, *meta_add, *meta_set, *ins_upload;
    int64_t wm[FW_SQ_NLEVELS];      /* roll-up watermarks (writer's copy of meta) */
    long fail_after;                /* test hook, -1 = off */
    fw_blk_text enc;                 /* writer's block encoding buffer */
    fw_blk_acc wacc;                 /* writer's accumulator (late roll-ups, maintenance) */

    /* Checkpoints run on their own connection, outside wlock, so that the copy from the WAL into
     * the database and its fsync never stall ingest (the writer's automatic checkpoint is off). */
    sqlite3 *ck;
    pthread_mutex_t cklock;
    _Atomic int wal_frames;         /* frames in the WAL after the last commit (wal hook) */

    pthread_mutex_t clock;          /* serializes the dimension cache */
    fw_dims c;
    uint32_t next[FW_DIM_KINDS];    /* the next id of each kind (writer's, under wlock) */
    fw_sq_src wsrc;                 /* the writer's source of cache misses */

    /* Dimension GC (fw_sq_gc, fw_sqlite_gc.c): due after retention deleted blocks; while its mark
     * phase runs without wlock, ingest adds to gc_touch the stacks (ids < gc_n) it uses. */
    int gc_due, gc_running;
    int64_t gc_last_ms;
    fw_idmap *gc_touch;
    uint32_t gc_n;
    sqlite3 *gcdb;                  /* read-only, opened at the first GC */
    void (*gc_hook)(void *);        /* test hook, between mark and sweep */
    void *gc_hook_arg;

    pthread_mutex_t rlock;          /* reader pool */
    pthread_cond_t rcond;           /* on CLOCK_MONOTONIC: a reader was given back */
    int64_t reader_wait_ms;         /* fw_sq_reader_get gives up after this long */
    sqlite3 **r;
    int *rbusy;
    int nr;

    fw_sqc *con;                    /* the read-only SQL console, on connections of its own */
} fw_sq;


/* ---- fw_sqlite_store.c */
fw_store_status fw_sq_status(int rc);
int fw_sq_meta_get(sqlite3 *db, const char *key, int64_t *out);
/* A PASSIVE checkpoint when the WAL has grown (or when forced); called without wlock. */
void fw_sq_checkpoint(fw_sq *s, int force);

static inline int fw_sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* A packed-block result (fw_store_blocks.h) as an SQLite code. */
static inline int fw_sq_blk(int e)
{
    return e == 0 ? SQLITE_OK : e == FW_BLK_NOMEM ? SQLITE_NOMEM : SQLITE_CORRUPT;
}

/* ---- fw_sqlite_ingest.c */
fw_store_status fw_sq_ingest(fw_store *base, const fw_store_ingest_req *req, fw_store_ingest_result *res,
                             char *err, size_t errlen);
/* Writes one block (rows sorted by stack) to sample_blocks, or to rollup_blocks at resolution res. */
fw_store_status fw_sq_put_block(fw_sq *s, int64_t res, int64_t series, int64_t t, uint32_t ls,
                                const fw_blk_row *rows, size_t n);

/* ---- fw_sqlite_maint.c, fw_sqlite_gc.c */
fw_store_status fw_sq_maintain(fw_store *base, int64_t now_s);
/* The dimension GC, when due: mark without wlock, sweep under it. */
void fw_sq_gc(fw_sq *s);
/* Adds to the set `live` every stack id below n that a retained block of sample_blocks or
 * rollup_blocks references (and possibly more), reading db in one read transaction of its own.
 * SQLITE_OK, or SQLite's error (SQLITE_CORRUPT for a block that is not [[stack, value, count], ...]). */
int fw_store_gc_mark_blocks(sqlite3 *db, fw_idmap *live, uint32_t n);

/* ---- fw_sqlite_dims.c */
void fw_sq_src_init(fw_sq_src *x, sqlite3 *db, uint64_t epoch);
void fw_sq_src_done(fw_sq_src *x);
/* At open: next ids, and which kinds are empty (the cache then holds them whole). */
fw_store_status fw_sq_dims_open(fw_sq *s, char *err, size_t errlen);

/* ---- fw_sqlite_query.c: the reader pool and each query's snapshot */
/* The index of a free reader, or -1 when none came free within reader_wait_ms (the caller
 * returns FW_STORE_ERR_BUSY). */
int fw_sq_reader_get(fw_sq *s);
void fw_sq_reader_put(fw_sq *s, int i);
/* What a query needs from its snapshot before it can write SQL. */
typedef struct {
    int64_t wm[FW_SQ_NLEVELS];
    char *unit;   /* of the first query's series */
} fw_sq_snap;
fw_store_status fw_sq_begin(sqlite3 *db, const fw_store_query *q, fw_sq_snap *snap);
void fw_sq_end(sqlite3 *db, fw_sq_snap *snap);
fw_store_status fw_sq_apps(fw_store *base, fw_store_apps *out);
fw_store_status fw_sq_labels(fw_store *base, const fw_store_query *q, fw_store_labels *out);
fw_store_status fw_sq_trend(fw_store *base, const fw_store_query *q, int64_t step, fw_store_trend *out);
fw_store_status fw_sq_flame(fw_store *base, const fw_store_query *q, const fw_store_tree_opts *opt,
                            fw_store_tree *out);
fw_store_status fw_sq_table(fw_store *base, const fw_store_query *q, const fw_store_table_opts *opt,
                            fw_store_table *out);
fw_store_status fw_sq_diff(fw_store *base, const fw_store_query *bq, const fw_store_query *cq,
                           const fw_store_tree_opts *opt, fw_store_diff *out);
fw_store_status fw_sq_sql_text(fw_store *base, fw_store_sql_kind kind, const fw_store_query *q,
                               const fw_store_query *cmp, int64_t step, const fw_store_table_opts *topt,
                               char **out);

/* ---- fw_sqlite_sql.c: SQL text from a plan of pieces */
/* The SQL of a query of `kind` (core = 1: the form the server runs, the `stacks` text of every
 * source block; 0: the form shown, grouped per stack over the views), as sqlite3_malloc'd text. */
char *fw_sq_build(fw_sq_snap *snap, fw_store_sql_kind kind, const fw_store_query *q, const fw_store_query *cmp,
                  int64_t step, const fw_store_table_opts *topt, int core);
/* sqlite3_malloc'd text as malloc'd text (NULL stays NULL). */
char *fw_sq_take(char *sq);
/* Trend step for a range: the smallest "round" step giving at most 300 points. */
int64_t fw_sq_auto_step(int64_t range);

/* ---- fw_sqlite_settings.c */
fw_store_status fw_sq_sql_run(fw_store *base, const char *sql, const fw_store_sql_limits *lim,
                              fw_store_sql_result *out, char *err, size_t errlen);
fw_store_status fw_sq_settings_get(fw_store *base, const char *app, fw_store_settings *out);
fw_store_status fw_sq_settings_put(fw_store *base, const char *app, const fw_store_settings *v, int64_t now_s);
fw_store_status fw_sq_agent_seen(fw_store *base, const char *app, const char *host, int64_t pid, int64_t upd,
                                 int64_t now_s);
fw_store_status fw_sq_agents_list(fw_store *base, const char *app, fw_store_agents *out);
fw_store_status fw_sq_stats(fw_store *base, fw_store_stats *out);

#endif
