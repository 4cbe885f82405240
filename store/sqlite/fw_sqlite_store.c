/*
 * fw_sqlite_store.c: the embedded store, one SQLite file in WAL mode: opening, upgrading, closing.
 *
 * What is stored. A profile upload is a set of samples, each a stack of frames with labels and
 * one value per sample type. Almost everything in it repeats from one upload to the next: the
 * same functions, the same stacks, the same thread and host labels. So the file keeps each of
 * those once, in small dimension tables (functions, frames, stacks, labelsets), and the only
 * thing an upload adds in bulk is fact blocks, one per (series, 10 s bucket, label set):
 *
 *     sample_blocks(id, series_id, t, labelset_id, value, count, nstacks, stacks)
 *
 * where a series is one (app, profile type), t is the start of the bucket, `stacks` is JSON
 * [[stack_id, value, count], ...] sorted by stack id and value/count are the block's totals (count
 * = samples behind a value; the diff's significance test needs counts, not nanoseconds). Schema 1
 * had one b-tree row per stack value, and SQLite's per-row cost capped ingest; a block is one row
 * for a whole upload's label set, parsed back in C by the queries. The views `samples` and `rollups`
 * unpack blocks with json_each, so the sqlite3 shell reads the file with nothing loaded, and the
 * SQL we show works on them. Stacks are a trie: a stack row is (parent stack, leaf frame), so a
 * stack shares its prefix with every other stack of the same call path, a new stack costs one row
 * per new frame, and the trie is already the shape of a flame graph.
 *
 * Roll-ups. A 7-day view cannot read a week of 10 s blocks, so `rollup_blocks` holds the same
 * facts summed over 60 s, 15 min, 1 h and 1 day (column res), twice: per label set, and with
 * labelset_id = 0 meaning "all label sets merged" (the unfiltered view, by far the most common,
 * then reads one block per bucket). Maintenance rolls a bucket up once it is closed, each level
 * from the level below, summing blocks in C. For every level a watermark in `meta` says "every
 * bucket before this has been rolled up"; an upload that arrives late (an agent that buffered
 * through an outage) and lands before a watermark also gets its blocks written into that level in
 * the same transaction (several blocks may share a key; readers add them up), so the invariant
 * holds without re-rolling. A query splits its range into pieces: whole buckets of the coarsest
 * level below its watermark, then finer levels for the edges, raw blocks only for the last
 * minutes. Raw blocks are kept for the whole retention, so any range can also be answered exactly
 * from raw rows, and the SQL we show does not depend on roll-ups having run.
 *
 * Writers and readers. One writer connection, behind a mutex, does ingest, maintenance and settings;
 * each upload is one transaction, committed before fw_store_ingest returns (the caller answers 2xx
 * after that). With WAL, a commit has been written to the -wal file by then, so it survives kill -9
 * of the server with synchronous=NORMAL; synchronous=FULL adds an fsync per commit for power loss.
 * Queries run on a pool of read-only connections, each inside its own read transaction, so they see
 * one snapshot and never block ingest. A query waits for a free pool connection at most
 * reader_wait_ms (FW_STORE_READER_WAIT_MS), then answers FW_STORE_ERR_BUSY: the callers are HTTP
 * workers, which must not queue without end behind a burst of heavy queries. Users' SQL (the
 * read-only console) runs on connections of its own, never the pool's (fw_sqlite_console.c).
 *
 * In-memory dimension cache. Interning a stack frame by frame through SQL would cost more than the
 * sample insert itself, so the writer keeps functions, frames, stacks and label sets in a cache
 * (by id and by content) and assigns ids itself. The cache has a byte budget (--cache-mb): past
 * it, entries are evicted (CLOCK), and a miss is read from the file on the caller's connection
 * (fw_sqlite_dims.c); opening reads only the largest id of each table. Readers use the same cache
 * to turn stack ids into frames when building trees, under a mutex because every lookup may load
 * or evict. If an upload's transaction rolls back, the cache forgets the ids it made, so memory
 * never holds an id the file does not. The cache,
 * the packed blocks, trees and the table are backend-neutral (store/fw_store_dims.c,
 * fw_store_blocks.c, fw_store_tree.c, fw_store_table.c); this folder holds only what speaks SQLite,
 * one job per file (fw_sqlite.h lists them).
 *
 * The SQL behind each answer is built as text with literals inlined (sqlite3_str with %Q quoting).
 * The shown SQL and the SQL the server runs come from the same plan of pieces (fw_sqlite_sql.c): for
 * trees, tables and diffs the shown form reads the views per stack and groups by stack_id, the run
 * form reads the `stacks` text of the same blocks and sums them per stack in C (a hash over stack
 * ids); trend and labels run exactly the SQL they show. The unit tests run the shown SQL in the
 * sqlite3 shell and compare every number.
 */
#include "fw_sqlite.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const int64_t fw_sq_res[FW_SQ_NLEVELS] = {60, 900, 3600, 86400};

fw_store_status fw_sq_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return FW_STORE_OK;
    case SQLITE_NOMEM: return FW_STORE_ERR_NOMEM;
    case SQLITE_BUSY: case SQLITE_LOCKED: return FW_STORE_ERR_BUSY;
    case SQLITE_AUTH: return FW_STORE_ERR_DENIED;
    case SQLITE_INTERRUPT: return FW_STORE_ERR_TIMEOUT;
    default: return FW_STORE_ERR_IO;
    }
}

static const char fw_sq_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, app TEXT NOT NULL, type TEXT NOT NULL,"
    " unit TEXT NOT NULL, UNIQUE(app, type));\n"
    "CREATE TABLE IF NOT EXISTS functions(id INTEGER PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL,"
    " UNIQUE(name, file));\n"
    "CREATE TABLE IF NOT EXISTS frames(id INTEGER PRIMARY KEY, function_id INTEGER NOT NULL,"
    " line INTEGER NOT NULL, UNIQUE(function_id, line));\n"
    "CREATE TABLE IF NOT EXISTS stacks(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL,"
    " frame_id INTEGER NOT NULL, UNIQUE(parent_id, frame_id));\n"
    "CREATE TABLE IF NOT EXISTS labelsets(id INTEGER PRIMARY KEY, labels TEXT NOT NULL UNIQUE);\n"
    "CREATE TABLE IF NOT EXISTS labels(key TEXT NOT NULL, value TEXT NOT NULL,"
    " labelset_id INTEGER NOT NULL, PRIMARY KEY(key, value, labelset_id)) WITHOUT ROWID;\n"
    /* Fact blocks: one row per (series, bucket, label set) and upload, its stacks packed as JSON
     * [[stack_id, value, count], ...] sorted by stack_id, with the block's totals beside it. */
    "CREATE TABLE IF NOT EXISTS sample_blocks(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,"
    " t INTEGER NOT NULL, labelset_id INTEGER NOT NULL, value INTEGER NOT NULL, count INTEGER NOT NULL,"
    " nstacks INTEGER NOT NULL, stacks TEXT NOT NULL);\n"
    "CREATE INDEX IF NOT EXISTS sample_blocks_key ON sample_blocks(series_id, t, labelset_id, value, count);\n"
    "CREATE TABLE IF NOT EXISTS rollup_blocks(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,"
    " res INTEGER NOT NULL, t INTEGER NOT NULL, labelset_id INTEGER NOT NULL, value INTEGER NOT NULL,"
    " count INTEGER NOT NULL, nstacks INTEGER NOT NULL, stacks TEXT NOT NULL);\n"
    /* Label set before time: the merged blocks of a range (labelset 0, unfiltered views) and each
     * label set's blocks are each one index range; maintenance and retention walk by time. */
    "CREATE INDEX IF NOT EXISTS rollup_blocks_key ON rollup_blocks(series_id, res, labelset_id, t, value, count);\n"
    "CREATE INDEX IF NOT EXISTS rollup_blocks_time ON rollup_blocks(series_id, res, t, labelset_id, value, count);\n"
    /* The fact rows, one per (block, stack), for people and for the SQL we show. Plain SQLite
     * (JSON1's json_each), so the sqlite3 shell reads them without any extension. */
    "CREATE VIEW IF NOT EXISTS samples(series_id, t, labelset_id, stack_id, value, count) AS"
    " SELECT b.series_id, b.t, b.labelset_id, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
    " json_extract(j.value, '$[2]') FROM sample_blocks b, json_each(b.stacks) j;\n"
    "CREATE VIEW IF NOT EXISTS rollups(series_id, res, t, labelset_id, stack_id, value, count) AS"
    " SELECT b.series_id, b.res, b.t, b.labelset_id, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
    " json_extract(j.value, '$[2]') FROM rollup_blocks b, json_each(b.stacks) j;\n"
    /* Retries: the id of every stored upload (server/fw_upload_id.c), by 10 s bucket and app;
     * time first, so that retention deletes a range of the key. */
    "CREATE TABLE IF NOT EXISTS uploads(t INTEGER NOT NULL, app TEXT NOT NULL, upload_id INTEGER NOT NULL,"
    " PRIMARY KEY(t, app, upload_id)) WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS settings(app TEXT PRIMARY KEY, enabled INTEGER NOT NULL,"
    " cpu INTEGER NOT NULL, cpu_interval_ms INTEGER NOT NULL, wall INTEGER NOT NULL,"
    " memory INTEGER NOT NULL, memory_threshold_kb INTEGER NOT NULL, updated_at INTEGER NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS agents(app TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,"
    " last_fetch INTEGER NOT NULL, settings_updated_at INTEGER NOT NULL,"
    " PRIMARY KEY(app, host, pid)) WITHOUT ROWID;\n"
    /* A view for people exploring the file: every stack as 'root;...;leaf' of function names. */
    "CREATE VIEW IF NOT EXISTS stack_paths(stack_id, depth, path) AS"
    " WITH RECURSIVE p(stack_id, node_id, depth, path) AS ("
    "  SELECT s.id, s.parent_id, 1, f.name FROM stacks s JOIN frames fr ON fr.id = s.frame_id"
    "   JOIN functions f ON f.id = fr.function_id"
    "  UNION ALL SELECT p.stack_id, s.parent_id, p.depth + 1, f.name || ';' || p.path FROM p"
    "   JOIN stacks s ON s.id = p.node_id JOIN frames fr ON fr.id = s.frame_id"
    "   JOIN functions f ON f.id = fr.function_id)"
    " SELECT stack_id, depth, path FROM p WHERE node_id = 0;\n"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 2), ('profiles', 0),"
    " ('stack_values', 0), ('raw_rows', 0), ('wm_60', 0), ('wm_900', 0), ('wm_3600', 0), ('wm_86400', 0);\n";


static void fw_sq_finalize_all(fw_sq *s)
{
    sqlite3_stmt **all[] = {&s->ins_block, &s->ins_rblock, &s->ins_func, &s->ins_frame, &s->ins_stack,
                            &s->ins_ls, &s->ins_label, &s->get_series, &s->ins_series, &s->meta_add,
                            &s->meta_set, &s->ins_upload};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

static void fw_sq_close(fw_store *base)
{
    fw_sq *s = (fw_sq *)base;
    fw_sq_finalize_all(s);
    fw_sq_src_done(&s->wsrc);
    for (int i = 0; i < s->nr; i++)
        sqlite3_close_v2(s->r[i]);
    fw_sqc_close(s->con);
    if (s->ck)
        sqlite3_close_v2(s->ck);
    if (s->gcdb)
        sqlite3_close_v2(s->gcdb);
    if (s->w) {
        /* The last connection to close checkpoints and removes the -wal file: the writer. */
        sqlite3_close_v2(s->w);
    }
    free(s->r);
    free(s->rbusy);
    fw_dims_free(&s->c);
    free(s->enc.p);
    fw_blk_acc_free(&s->wacc);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->cklock);
    pthread_mutex_destroy(&s->rlock);
    pthread_cond_destroy(&s->rcond);
    pthread_mutex_destroy(&s->clock);
    free(s->path);
    free(s);
}

static int fw_sq_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

int fw_sq_meta_get(sqlite3 *db, const char *key, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static const fw_store_ops fw_sq_ops;

static int fw_sq_wal_hook(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    atomic_store_explicit(&((fw_sq *)ud)->wal_frames, frames, memory_order_relaxed);
    return SQLITE_OK;
}

/* The WAL bound. A burst while readers hold old snapshots (long console queries) keeps PASSIVE
 * checkpoints from ever completing, and the WAL grows; SQLite then reuses the file from its start
 * but never shrinks it (390 MB against an 11.7 MB database, until a graceful stop).
 * journal_size_limit truncates it to FW_SQ_WAL_LIMIT whenever it restarts; and at maintenance, a
 * WAL over the bound gets a TRUNCATE checkpoint, which waits (ck's busy timeout, 1 s) for readers
 * to move to the newest snapshot, copies everything and cuts the file to zero. It blocks new
 * writers for that long at most, hence only at maintenance and only over the bound. */
#define FW_SQ_WAL_LIMIT (16 << 20)

static int64_t fw_sq_wal_size(const fw_sq *s)
{
    char p[4096];
    struct stat sb;
    if ((size_t)snprintf(p, sizeof p, "%s-wal", s->path) >= sizeof p || stat(p, &sb) != 0)
        return 0;
    return (int64_t)sb.st_size;
}

/* Called with cklock held. */
static void fw_sq_wal_trim(fw_sq *s)
{
    if (fw_sq_wal_size(s) <= FW_SQ_WAL_LIMIT)
        return;
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) == SQLITE_OK)
        atomic_store_explicit(&s->wal_frames, 0, memory_order_relaxed);
}

/* A PASSIVE checkpoint (it never waits for readers or the writer) on the checkpoint connection,
 * when the WAL has grown past ~4 MB or when forced; skipped if another thread is at it. Called
 * without wlock. */
void fw_sq_checkpoint(fw_sq *s, int force)
{
    if (!force && atomic_load_explicit(&s->wal_frames, memory_order_relaxed) < 1000)
        return;
    if (pthread_mutex_trylock(&s->cklock) != 0)
        return;
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK && log == done)
        atomic_store_explicit(&s->wal_frames, 0, memory_order_relaxed);
    if (force)
        fw_sq_wal_trim(s);
    pthread_mutex_unlock(&s->cklock);
}

/* Schema 1 -> 2 (see fw_store_open_sqlite). Everything in one transaction: a failure leaves the
 * file as it was. */
static int fw_sq_upgrade_v1(sqlite3 *db, char *err, size_t errlen)
{
    char *emsg = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE; ALTER TABLE samples RENAME TO samples_v1;"
                              " DROP TABLE IF EXISTS rollups;", NULL, NULL, &emsg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, fw_sq_schema, NULL, NULL, &emsg);
    sqlite3_stmt *rd = NULL, *wr = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT series_id, t, labelset_id, stack_id, value, count FROM samples_v1"
                                    " ORDER BY series_id, t, labelset_id, stack_id", -1, &rd, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO sample_blocks(series_id, t, labelset_id, value, count, nstacks, stacks)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &wr, NULL);
    fw_blk_rows rows = {0};
    fw_blk_text txt = {0};
    int64_t key[3] = {0, 0, 0};
    while (rc == SQLITE_OK) {
        int step = sqlite3_step(rd);
        int64_t k[3] = {0, 0, 0};
        if (step == SQLITE_ROW)
            for (int i = 0; i < 3; i++)
                k[i] = sqlite3_column_int64(rd, i);
        else if (step != SQLITE_DONE) {
            rc = step;
            break;
        }
        if (rows.n && (step == SQLITE_DONE || memcmp(k, key, sizeof k) != 0)) {
            int64_t v, c;
            if (fw_blk_encode(&txt, rows.v, rows.n, &v, &c) != 0) {
                rc = SQLITE_NOMEM;
                break;
            }
            for (int i = 0; i < 3; i++)
                sqlite3_bind_int64(wr, i + 1, key[i]);
            sqlite3_bind_int64(wr, 4, v);
            sqlite3_bind_int64(wr, 5, c);
            sqlite3_bind_int64(wr, 6, (int64_t)rows.n);
            sqlite3_bind_text(wr, 7, txt.p, (int)txt.n, SQLITE_STATIC);
            rc = sqlite3_step(wr);
            sqlite3_reset(wr);
            if (rc != SQLITE_DONE)
                break;
            rc = SQLITE_OK;
            rows.n = 0;
        }
        if (step == SQLITE_DONE)
            break;
        int64_t sid = sqlite3_column_int64(rd, 3), v = sqlite3_column_int64(rd, 4), c = sqlite3_column_int64(rd, 5);
        if (sid <= 0 || sid >= (int64_t)UINT32_MAX || v < 0 || c < 0)
            continue;   /* not a row the server could have written */
        if (rows.n == rows.cap) {
            size_t ncap = rows.cap ? rows.cap * 2 : 1024;
            fw_blk_row *nv = realloc(rows.v, ncap * sizeof *nv);
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            rows.v = nv;
            rows.cap = ncap;
        }
        rows.v[rows.n++] = (fw_blk_row){(uint32_t)sid, v, c};
        memcpy(key, k, sizeof k);
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    free(rows.v);
    free(txt.p);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "DROP TABLE samples_v1; UPDATE meta SET value = 0"
                              " WHERE key IN ('wm_60', 'wm_900', 'wm_3600', 'wm_86400');"
                              " UPDATE meta SET value = 2 WHERE key = 'schema_version'; COMMIT;", NULL, NULL, &emsg);
    if (rc != SQLITE_OK) {
        fw_store_errf(err, errlen, "upgrading the file to schema 2: %s", emsg ? emsg : sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_free(emsg);
    return rc;
}


/* A store with its locks and cache set up and no connection yet; NULL when out of memory. */
static fw_sq *fw_sq_new(const fw_store_options *opt)
{
    fw_sq *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &fw_sq_ops;
    s->retention_s = opt->retention_s ? opt->retention_s : FW_SQ_DEFAULT_RETENTION;
    s->fail_after = -1;
    fw_dims_init(&s->c, opt->cache_bytes ? opt->cache_bytes : FW_STORE_DEFAULT_CACHE_BYTES);
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->cklock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->rcond, &ca);
    pthread_condattr_destroy(&ca);
    s->reader_wait_ms = opt->reader_wait_ms ? opt->reader_wait_ms : FW_STORE_READER_WAIT_MS;
    pthread_mutex_init(&s->clock, NULL);
    return s;
}

/* Files of schema 1 kept one row per (series, bucket, label set, stack) in a `samples` table.
 * They are upgraded here, once, in one transaction: the rows are packed into blocks, the old
 * roll-ups are dropped and their watermarks reset, so maintenance rebuilds them from the raw
 * blocks. */
static int fw_sq_upgrade_if_old(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int old = 0;
    if (sqlite3_prepare_v2(db, "SELECT type FROM sqlite_master WHERE name = 'samples'", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        old = strcmp((const char *)sqlite3_column_text(q, 0), "table") == 0;
    sqlite3_finalize(q);
    return old ? fw_sq_upgrade_v1(db, err, errlen) : SQLITE_OK;
}

/* journal_mode=WAL can silently stay "delete" (e.g. on some network file systems); we depend on
 * WAL for concurrent readers and for the durability argument, so insist. */
static bool fw_sq_is_wal(sqlite3 *db)
{
    sqlite3_stmt *jm = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK &&
        sqlite3_step(jm) == SQLITE_ROW)
        ok = sqlite3_stricmp((const char *)sqlite3_column_text(jm, 0), "wal") == 0;
    sqlite3_finalize(jm);
    return ok;
}

/* The writer connection: created if need be, upgraded, its schema made, in WAL mode with the
 * checkpoints left to us (fw_sq_checkpoint). */
static fw_store_status fw_sq_open_writer(fw_sq *s, const char *path, const fw_store_options *opt,
                                         char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(path, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        fw_store_errf(err, errlen, "opening %s: %s", path, s->w ? sqlite3_errmsg(s->w) : "out of memory");
        return FW_STORE_ERR_IO;
    }
    sqlite3_busy_timeout(s->w, 10000);
    sqlite3_extended_result_codes(s->w, 1);
    char pragmas[512];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY;"
             " PRAGMA cache_size=-65536; PRAGMA foreign_keys=OFF; PRAGMA journal_size_limit=%d;",
             opt->sync == FW_STORE_SYNC_FULL ? "FULL" : "NORMAL", FW_SQ_WAL_LIMIT);
    char *emsg = NULL;
    if (sqlite3_exec(s->w, pragmas, NULL, NULL, &emsg) != SQLITE_OK) {
        fw_store_errf(err, errlen, "initializing %s: %s", path, emsg ? emsg : sqlite3_errmsg(s->w));
        sqlite3_free(emsg);
        return FW_STORE_ERR_IO;
    }
    if (fw_sq_upgrade_if_old(s->w, err, errlen) != SQLITE_OK)
        return FW_STORE_ERR_IO;
    if (sqlite3_exec(s->w, fw_sq_schema, NULL, NULL, &emsg) != SQLITE_OK) {
        fw_store_errf(err, errlen, "initializing %s: %s", path, emsg ? emsg : sqlite3_errmsg(s->w));
        sqlite3_free(emsg);
        return FW_STORE_ERR_IO;
    }
    if (!fw_sq_is_wal(s->w)) {
        fw_store_errf(err, errlen, "%s: could not switch to WAL journal mode", path);
        return FW_STORE_ERR_IO;
    }
    sqlite3_wal_autocheckpoint(s->w, 0);
    sqlite3_wal_hook(s->w, fw_sq_wal_hook, s);
    return FW_STORE_OK;
}

/* The connection that checkpoints the WAL, apart from the writer so that a checkpoint never
 * holds an ingest up. */
static fw_store_status fw_sq_open_checkpointer(fw_sq *s, const char *path, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(path, &s->ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fw_store_errf(err, errlen, "opening the checkpoint connection: %s", s->ck ? sqlite3_errmsg(s->ck) : "no memory");
        return FW_STORE_ERR_IO;
    }
    sqlite3_busy_timeout(s->ck, 1000);
    sqlite3_wal_autocheckpoint(s->ck, 0);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA journal_size_limit=%d", FW_SQ_WAL_LIMIT);
    sqlite3_exec(s->ck, pragma, NULL, NULL, NULL);
    /* A connection that has not read the file yet does not know it is in WAL mode, and its
     * checkpoints would do nothing. */
    if (sqlite3_exec(s->ck, "SELECT count(*) FROM meta", NULL, NULL, NULL) != SQLITE_OK) {
        fw_store_errf(err, errlen, "opening the checkpoint connection: %s", sqlite3_errmsg(s->ck));
        return FW_STORE_ERR_IO;
    }
    return FW_STORE_OK;
}

/* The writer's statements, and the roll-up watermarks it compares each upload with. */
static fw_store_status fw_sq_prepare_writes(fw_sq *s, char *err, size_t errlen)
{
    if (fw_sq_prepare(s->w, &s->ins_block,
                      "INSERT INTO sample_blocks(series_id, t, labelset_id, value, count, nstacks, stacks)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)") ||
        fw_sq_prepare(s->w, &s->ins_rblock,
                      "INSERT INTO rollup_blocks(series_id, res, t, labelset_id, value, count, nstacks, stacks)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)") ||
        fw_sq_prepare(s->w, &s->ins_func, "INSERT INTO functions(id, name, file) VALUES (?1, ?2, ?3)") ||
        fw_sq_prepare(s->w, &s->ins_frame, "INSERT INTO frames(id, function_id, line) VALUES (?1, ?2, ?3)") ||
        fw_sq_prepare(s->w, &s->ins_stack, "INSERT INTO stacks(id, parent_id, frame_id) VALUES (?1, ?2, ?3)") ||
        fw_sq_prepare(s->w, &s->ins_ls, "INSERT INTO labelsets(id, labels) VALUES (?1, ?2)") ||
        fw_sq_prepare(s->w, &s->ins_label,
                      "INSERT OR IGNORE INTO labels(key, value, labelset_id) VALUES (?1, ?2, ?3)") ||
        fw_sq_prepare(s->w, &s->get_series, "SELECT id FROM series WHERE app = ?1 AND type = ?2") ||
        fw_sq_prepare(s->w, &s->ins_series, "INSERT INTO series(app, type, unit) VALUES (?1, ?2, ?3)") ||
        fw_sq_prepare(s->w, &s->meta_add, "UPDATE meta SET value = value + ?2 WHERE key = ?1") ||
        fw_sq_prepare(s->w, &s->meta_set, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)") ||
        fw_sq_prepare(s->w, &s->ins_upload,
                      "INSERT OR IGNORE INTO uploads(t, app, upload_id) VALUES (?1, ?2, ?3)")) {
        fw_store_errf(err, errlen, "preparing statements: %s", sqlite3_errmsg(s->w));
        return FW_STORE_ERR_IO;
    }
    for (int i = 0; i < FW_SQ_NLEVELS; i++) {
        char key[32];
        snprintf(key, sizeof key, "wm_%lld", (long long)fw_sq_res[i]);
        if (fw_sq_meta_get(s->w, key, &s->wm[i]) != SQLITE_OK) {
            fw_store_errf(err, errlen, "reading %s: %s", key, sqlite3_errmsg(s->w));
            return FW_STORE_ERR_IO;
        }
    }
    return FW_STORE_OK;
}

/* The pool of read-only connections the queries borrow. */
static fw_store_status fw_sq_open_readers(fw_sq *s, const char *path, const fw_store_options *opt,
                                          char *err, size_t errlen)
{
    s->nr = opt->readers ? opt->readers : 4;
    s->r = calloc((size_t)s->nr, sizeof(sqlite3 *));
    s->rbusy = calloc((size_t)s->nr, sizeof *s->rbusy);
    if (!s->r || !s->rbusy) {
        s->nr = 0;
        return FW_STORE_ERR_NOMEM;
    }
    for (int i = 0; i < s->nr; i++) {
        int rc = sqlite3_open_v2(path, &s->r[i], SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            fw_store_errf(err, errlen, "opening reader: %s", s->r[i] ? sqlite3_errmsg(s->r[i]) : "no memory");
            return FW_STORE_ERR_IO;
        }
        sqlite3_busy_timeout(s->r[i], 10000);
        sqlite3_exec(s->r[i], "PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;"
                              " PRAGMA mmap_size=1073741824;", NULL, NULL, NULL);
    }
    return FW_STORE_OK;
}

fw_store_status fw_store_open_sqlite(const char *path, const fw_store_options *opt,
                                     fw_store **out, char *err, size_t errlen)
{
    fw_store_options def = {.sync = FW_STORE_SYNC_NORMAL};
    if (!out)
        return FW_STORE_ERR_INVALID;
    *out = NULL;
    if (!path || !*path) {
        fw_store_errf(err, errlen, "no database path");
        return FW_STORE_ERR_INVALID;
    }
    if (!opt)
        opt = &def;
    if (opt->retention_s < 0 || opt->readers < 0 || opt->readers > 64 || opt->reader_wait_ms < 0) {
        fw_store_errf(err, errlen, "bad store options");
        return FW_STORE_ERR_INVALID;
    }
    fw_sq *s = fw_sq_new(opt);
    if (!s)
        return FW_STORE_ERR_NOMEM;
    s->path = fw_store_strdup(path);
    fw_store_status st = s->path ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_sq_open_writer(s, path, opt, err, errlen);
    if (st == FW_STORE_OK)
        st = fw_sq_open_checkpointer(s, path, err, errlen);
    if (st == FW_STORE_OK)
        st = fw_sq_prepare_writes(s, err, errlen);
    if (st == FW_STORE_OK)
        st = fw_sq_dims_open(s, err, errlen);
    if (st == FW_STORE_OK)
        st = fw_sq_open_readers(s, path, opt, err, errlen);
    if (st == FW_STORE_OK)
        st = fw_sqc_open(path, 0, &s->con, err, errlen);
    if (st != FW_STORE_OK) {
        fw_sq_close(&s->base);
        return st;
    }
    *out = &s->base;
    return FW_STORE_OK;
}

void fw_store_sqlite_fail_after(fw_store *base, long rows)
{
    fw_sq *s = (fw_sq *)base;
    pthread_mutex_lock(&s->wlock);
    s->fail_after = rows;
    pthread_mutex_unlock(&s->wlock);
}

void fw_store_sqlite_gc_hook(fw_store *base, void (*fn)(void *), void *arg)
{
    fw_sq *s = (fw_sq *)base;
    pthread_mutex_lock(&s->wlock);
    s->gc_hook = fn;
    s->gc_hook_arg = arg;
    pthread_mutex_unlock(&s->wlock);
}


static const fw_store_ops fw_sq_ops = {
    .name = "sqlite",
    .close = fw_sq_close,
    .ingest = fw_sq_ingest,
    .maintain = fw_sq_maintain,
    .list_apps = fw_sq_apps,
    .label_values = fw_sq_labels,
    .trend = fw_sq_trend,
    .tree = fw_sq_flame,
    .table = fw_sq_table,
    .diff = fw_sq_diff,
    .sql_text = fw_sq_sql_text,
    .sql_run = fw_sq_sql_run,
    .settings_get = fw_sq_settings_get,
    .settings_put = fw_sq_settings_put,
    .agent_seen = fw_sq_agent_seen,
    .agents_list = fw_sq_agents_list,
    .stats = fw_sq_stats,
};
