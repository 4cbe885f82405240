/*
 * fw_store_sqlite.c: the embedded store, one SQLite file in WAL mode.
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
 * one snapshot and never block ingest. Users' SQL (the read-only console) runs on connections of
 * its own, never the pool's (fw_store_sql_console.c).
 *
 * In-memory dimension cache. Interning a stack frame by frame through SQL would cost more than the
 * sample insert itself, so the writer keeps every function, frame, stack and label set in memory
 * (arrays indexed by id plus hash maps from content to id) and assigns ids itself. Readers use the
 * same arrays to turn stack ids into frames when building trees, under a read/write lock because
 * the writer may grow them. If an upload's transaction rolls back, the arrays are cut back to their
 * size before it and the maps rebuilt, so memory never holds an id the file does not.
 *
 * The SQL behind each answer is built as text with literals inlined (sqlite3_str with %Q quoting).
 * The shown SQL and the SQL the server runs come from the same plan of pieces (fw_sq_sql_src): for
 * trees, tables and diffs the shown form reads the views per stack and groups by stack_id, the run
 * form reads the `stacks` text of the same blocks and sums them per stack in C (a hash over stack
 * ids); trend and labels run exactly the SQL they show. The unit tests run the shown SQL in the
 * sqlite3 shell and compare every number.
 */
#include "../fw_store.h"
#include "fw_sqlite_gc.h"
#include "fw_sqlite_console.h"
#include "fw_store_sqlite.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FW_SQ_BUCKET 10                    /* raw bucket width, seconds */
#define FW_SQ_NLEVELS 4
static const int64_t fw_sq_res[FW_SQ_NLEVELS] = {60, 900, 3600, 86400};   /* finest first */
#define FW_SQ_GRACE 60                     /* a bucket is closed this long after its end */
#define FW_SQ_DEFAULT_RETENTION ((int64_t)7 * 86400)
#define FW_SQ_MAX_PIECES 32
#define FW_SQ_NONE UINT32_MAX

/* ================================================================ small helpers */

static void fw_sq_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start is above; analyzer false positive */
    va_end(ap);
}

static char *fw_sq_strdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

static uint64_t fw_sq_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    /* Eight bytes per step (a byte-wise FNV was a tenth of ingest), then a final avalanche so
     * that the low bits used as table index are well mixed. Hashes live only in memory. */
    h ^= 0xcbf29ce484222325ull ^ (uint64_t)n;
    for (; n >= 8; b += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, b, n);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t fw_sq_hash_u64x2(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

static fw_store_status fw_sq_status(int rc)
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

static int64_t fw_sq_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t fw_sq_floor(int64_t t, int64_t r)
{
    int64_t q = t / r;
    if (t % r < 0)
        q--;
    return q * r;
}

/* a + b for non-negative sums, stuck at INT64_MAX instead of wrapping: a total that large is
 * already meaningless, and a sum that fails would stop roll-ups and queries for good. */
static inline int64_t fw_sq_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ================================================================ hash map: content -> id
 *
 * Open addressing with linear probing. The map stores only (hash tag, id); the key's content lives
 * in the cache arrays, and the caller's eq() compares a candidate id against the key, so no key
 * is stored twice. A slot is 8 bytes (the low 32 bits of the hash and the id side by side) so that
 * a probe costs one cache miss: with hundreds of thousands of stacks the maps do not fit in cache,
 * and ingest used to spend a third of its time on the second miss of a separate hash array. The
 * table index uses the same low bits, so growing needs no full hash. */

typedef struct {
    uint32_t tag;     /* low 32 bits of the hash */
    uint32_t id;      /* 0 = empty slot */
} fw_sq_slot;

typedef struct {
    fw_sq_slot *s;
    size_t cap, n;    /* cap is a power of two, at most 2^32 */
} fw_sq_map;

typedef int (*fw_sq_eq_fn)(const void *ctx, uint32_t id, const void *key);

static uint32_t fw_sq_map_find(const fw_sq_map *m, uint64_t h, fw_sq_eq_fn eq, const void *ctx,
                               const void *key)
{
    if (!m->cap)
        return 0;
    size_t mask = m->cap - 1;
    uint32_t tag = (uint32_t)h;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (!m->s[i].id)
            return 0;
        if (m->s[i].tag == tag && eq(ctx, m->s[i].id, key))
            return m->s[i].id;
    }
}

static int fw_sq_map_grow(fw_sq_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    if (ncap > ((size_t)1 << 32))
        return -1;
    fw_sq_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->s[i].id)
            continue;
        size_t j = m->s[i].tag & (ncap - 1);
        while (ns[j].id)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->s[i];
    }
    free(m->s);
    m->s = ns;
    m->cap = ncap;
    return 0;
}

/* The caller has checked that the key is absent. */
static int fw_sq_map_put(fw_sq_map *m, uint64_t h, uint32_t id)
{
    assert(id != 0);
    if ((m->n + 1) * 2 > m->cap && fw_sq_map_grow(m) != 0)
        return -1;
    size_t mask = m->cap - 1, i = h & mask;
    while (m->s[i].id)
        i = (i + 1) & mask;
    m->s[i].tag = (uint32_t)h;
    m->s[i].id = id;
    m->n++;
    return 0;
}

static void fw_sq_map_clear(fw_sq_map *m)
{
    if (m->cap)
        memset(m->s, 0, m->cap * sizeof *m->s);
    m->n = 0;
}

static void fw_sq_map_free(fw_sq_map *m)
{
    free(m->s);
    memset(m, 0, sizeof *m);
}

/* Grows a parallel array to hold index `need`. */
static int fw_sq_reserve(void **arr, size_t elem, uint32_t *cap, uint32_t need)
{
    if (need < *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap <= need)
        ncap *= 2;
    if (ncap > UINT32_MAX - 1)
        return -1;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = (uint32_t)ncap;
    return 0;
}

/* ================================================================ dimension cache */

typedef struct {
    /* index 0 of every array is unused: ids start at 1, 0 means "none"/"root". *_n = max id + 1. */
    char **fn_name, **fn_file;
    uint32_t fn_n, fn_cap, fn_cap2;
    uint32_t *fr_func;
    int64_t *fr_line;
    uint32_t fr_n, fr_cap, fr_cap2;
    uint32_t *st_parent, *st_frame;
    uint32_t st_n, st_cap, st_cap2;
    char **ls_text;
    uint32_t ls_n, ls_cap;
    fw_sq_map fn_map, fr_map, st_map, ls_map;
    /* Whole call path (root..node, as frame ids) -> stack node. Resolving a known stack is then
     * one probe plus a walk up the trie that verifies it (nodes of one stack were usually created
     * together, so the walk stays in a few cache lines), instead of one random probe of st_map per
     * frame. Every node is in it, so it can be rebuilt from the arrays alone. */
    fw_sq_map pa_map;
} fw_sq_cache;

typedef struct { const char *name, *file; } fw_sq_fnkey;
typedef struct { uint32_t func; int64_t line; } fw_sq_frkey;
typedef struct { uint32_t parent, frame; } fw_sq_stkey;

static int fw_sq_fn_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_cache *c = ctx;
    const fw_sq_fnkey *k = key;
    return strcmp(c->fn_name[id], k->name) == 0 && strcmp(c->fn_file[id], k->file) == 0;
}
static int fw_sq_fr_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_cache *c = ctx;
    const fw_sq_frkey *k = key;
    return c->fr_func[id] == k->func && c->fr_line[id] == k->line;
}
static int fw_sq_st_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_cache *c = ctx;
    const fw_sq_stkey *k = key;
    return c->st_parent[id] == k->parent && c->st_frame[id] == k->frame;
}
static int fw_sq_ls_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_cache *c = ctx;
    return strcmp(c->ls_text[id], (const char *)key) == 0;
}

static uint64_t fw_sq_fn_hash(const char *name, const char *file)
{
    return fw_sq_hash_bytes(file, strlen(file), fw_sq_hash_bytes(name, strlen(name), 0));
}
static uint64_t fw_sq_fr_hash(uint32_t func, int64_t line) { return fw_sq_hash_u64x2(func, (uint64_t)line); }
static uint64_t fw_sq_st_hash(uint32_t parent, uint32_t frame) { return fw_sq_hash_u64x2(parent, frame); }
static uint64_t fw_sq_ls_hash(const char *t) { return fw_sq_hash_bytes(t, strlen(t), 7); }
/* Path hash of a node from its parent's: the root (id 0) has path hash 0. */
static uint64_t fw_sq_pa_hash(uint64_t parent_h, uint32_t frame)
{
    return fw_sq_hash_u64x2(parent_h ^ 0x5851f42d4c957f2dull, frame);
}

typedef struct { const uint32_t *frames; size_t depth; } fw_sq_pakey;   /* frames root first */

static int fw_sq_pa_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_cache *c = ctx;
    const fw_sq_pakey *k = key;
    for (size_t d = k->depth; d-- > 0;) {
        if (!id || id >= c->st_n || c->st_frame[id] != k->frames[d])
            return 0;
        id = c->st_parent[id];
    }
    return id == 0;
}

/* Rebuilds every map from the arrays: after loading from disk and after a rollback cut the
 * arrays back. O(entries), and rare. */
static int fw_sq_cache_reindex(fw_sq_cache *c)
{
    fw_sq_map_clear(&c->fn_map);
    fw_sq_map_clear(&c->fr_map);
    fw_sq_map_clear(&c->st_map);
    fw_sq_map_clear(&c->ls_map);
    fw_sq_map_clear(&c->pa_map);
    for (uint32_t i = 1; i < c->fn_n; i++)
        if (c->fn_name[i] && fw_sq_map_put(&c->fn_map, fw_sq_fn_hash(c->fn_name[i], c->fn_file[i]), i))
            return -1;
    for (uint32_t i = 1; i < c->fr_n; i++)
        if (c->fr_func[i] && fw_sq_map_put(&c->fr_map, fw_sq_fr_hash(c->fr_func[i], c->fr_line[i]), i))
            return -1;
    for (uint32_t i = 1; i < c->st_n; i++)
        if (c->st_frame[i] && fw_sq_map_put(&c->st_map, fw_sq_st_hash(c->st_parent[i], c->st_frame[i]), i))
            return -1;
    if (c->st_n > 1) {
        /* Ids are assigned parent first, so one pass in id order sees every parent's hash before
         * its children. A node whose parent is not smaller (a hand-edited file) is left out: it
         * is still found through st_map, only more slowly. */
        uint64_t *ph = calloc(c->st_n, sizeof *ph);
        unsigned char *ok = calloc(c->st_n, 1);
        if (!ph || !ok) {
            free(ph);
            free(ok);
            return -1;
        }
        ok[0] = 1;
        for (uint32_t i = 1; i < c->st_n; i++) {
            uint32_t par = c->st_parent[i];
            if (!c->st_frame[i] || par >= i || !ok[par])
                continue;
            ph[i] = fw_sq_pa_hash(ph[par], c->st_frame[i]);
            ok[i] = 1;
            if (fw_sq_map_put(&c->pa_map, ph[i], i)) {
                free(ph);
                free(ok);
                return -1;
            }
        }
        free(ph);
        free(ok);
    }
    for (uint32_t i = 1; i < c->ls_n; i++)
        if (c->ls_text[i] && fw_sq_map_put(&c->ls_map, fw_sq_ls_hash(c->ls_text[i]), i))
            return -1;
    return 0;
}

/* Cuts the arrays back to the given sizes (ids >= size are forgotten). */
static void fw_sq_cache_truncate(fw_sq_cache *c, uint32_t fn_n, uint32_t fr_n, uint32_t st_n, uint32_t ls_n)
{
    for (uint32_t i = fn_n; i < c->fn_n; i++) {
        free(c->fn_name[i]);
        free(c->fn_file[i]);
        c->fn_name[i] = c->fn_file[i] = NULL;
    }
    for (uint32_t i = fr_n; i < c->fr_n; i++) {
        c->fr_func[i] = 0;
        c->fr_line[i] = 0;
    }
    for (uint32_t i = st_n; i < c->st_n; i++)
        c->st_parent[i] = c->st_frame[i] = 0;
    for (uint32_t i = ls_n; i < c->ls_n; i++) {
        free(c->ls_text[i]);
        c->ls_text[i] = NULL;
    }
    c->fn_n = fn_n;
    c->fr_n = fr_n;
    c->st_n = st_n;
    c->ls_n = ls_n;
}

static void fw_sq_cache_free(fw_sq_cache *c)
{
    fw_sq_cache_truncate(c, 1, 1, 1, 1);
    free(c->fn_name);
    free(c->fn_file);
    free(c->fr_func);
    free(c->fr_line);
    free(c->st_parent);
    free(c->st_frame);
    free(c->ls_text);
    fw_sq_map_free(&c->fn_map);
    fw_sq_map_free(&c->fr_map);
    fw_sq_map_free(&c->st_map);
    fw_sq_map_free(&c->ls_map);
    fw_sq_map_free(&c->pa_map);
    memset(c, 0, sizeof *c);
}

/* Slot setters used both by loading and by interning; they grow the arrays. */
static int fw_sq_cache_set_fn(fw_sq_cache *c, uint32_t id, const char *name, const char *file)
{
    if (fw_sq_reserve((void **)&c->fn_name, sizeof(char *), &c->fn_cap, id) ||
        fw_sq_reserve((void **)&c->fn_file, sizeof(char *), &c->fn_cap2, id))
        return -1;
    char *n = fw_sq_strdup(name), *f = fw_sq_strdup(file);
    if (!n || !f) {
        free(n);
        free(f);
        return -1;
    }
    free(c->fn_name[id]);
    free(c->fn_file[id]);
    c->fn_name[id] = n;
    c->fn_file[id] = f;
    if (id >= c->fn_n)
        c->fn_n = id + 1;
    return 0;
}
static int fw_sq_cache_set_fr(fw_sq_cache *c, uint32_t id, uint32_t func, int64_t line)
{
    if (fw_sq_reserve((void **)&c->fr_func, sizeof(uint32_t), &c->fr_cap, id) ||
        fw_sq_reserve((void **)&c->fr_line, sizeof(int64_t), &c->fr_cap2, id))
        return -1;
    c->fr_func[id] = func;
    c->fr_line[id] = line;
    if (id >= c->fr_n)
        c->fr_n = id + 1;
    return 0;
}
static int fw_sq_cache_set_st(fw_sq_cache *c, uint32_t id, uint32_t parent, uint32_t frame)
{
    if (fw_sq_reserve((void **)&c->st_parent, sizeof(uint32_t), &c->st_cap, id) ||
        fw_sq_reserve((void **)&c->st_frame, sizeof(uint32_t), &c->st_cap2, id))
        return -1;
    c->st_parent[id] = parent;
    c->st_frame[id] = frame;
    if (id >= c->st_n)
        c->st_n = id + 1;
    return 0;
}
static int fw_sq_cache_set_ls(fw_sq_cache *c, uint32_t id, const char *text)
{
    if (fw_sq_reserve((void **)&c->ls_text, sizeof(char *), &c->ls_cap, id))
        return -1;
    char *t = fw_sq_strdup(text);
    if (!t)
        return -1;
    free(c->ls_text[id]);
    c->ls_text[id] = t;
    if (id >= c->ls_n)
        c->ls_n = id + 1;
    return 0;
}

/* ================================================================ packed blocks
 *
 * A block is the stacks of one (series, bucket, label set), as JSON text [[stack,value,count],...]
 * sorted by stack id. JSON because the sqlite3 shell can unpack it with json_each (the `samples`
 * and `rollups` views) with no extension loaded; the server itself parses it here, in C, which
 * costs less per stack than stepping one SQLite row. An accumulator sums (stack, value, count)
 * triples by stack id: it merges blocks for queries and for roll-ups. */

typedef struct {
    uint32_t stack;
    int64_t value, count;
} fw_sq_row;

typedef struct {
    fw_sq_row *v;
    size_t n, cap;
} fw_sq_rows;

static int fw_sq_row_stack_cmp(const void *a, const void *b)
{
    const fw_sq_row *x = a, *y = b;
    return (x->stack > y->stack) - (x->stack < y->stack);
}

typedef struct {
    fw_sq_rows r;
    uint32_t *slot;      /* open addressing: index into r.v + 1, 0 = empty */
    size_t cap;          /* slots, a power of two, at least twice r.n */
    int64_t value, count;   /* totals of everything added */
} fw_sq_acc;

static void fw_sq_acc_reset(fw_sq_acc *a)
{
    if (a->cap)
        memset(a->slot, 0, a->cap * sizeof *a->slot);
    a->r.n = 0;
    a->value = a->count = 0;
}

static void fw_sq_acc_free(fw_sq_acc *a)
{
    free(a->r.v);
    free(a->slot);
    memset(a, 0, sizeof *a);
}

static size_t fw_sq_stack_slot(uint32_t stack, size_t mask)
{
    uint64_t h = (uint64_t)stack * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & mask;
}

/* 0 or SQLITE_NOMEM. Values are non-negative; sums saturate at INT64_MAX (fw_sq_sat_add). */
static int fw_sq_acc_add(fw_sq_acc *a, uint32_t stack, int64_t v, int64_t c)
{
    if ((a->r.n + 1) * 2 > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4096;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns || a->r.n + 1 >= UINT32_MAX) {
            free(ns);
            return SQLITE_NOMEM;
        }
        for (size_t i = 0; i < a->r.n; i++) {
            size_t j = fw_sq_stack_slot(a->r.v[i].stack, ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = (uint32_t)i + 1;
        }
        free(a->slot);
        a->slot = ns;
        a->cap = ncap;
    }
    a->value = fw_sq_sat_add(a->value, v);
    a->count = fw_sq_sat_add(a->count, c);
    size_t mask = a->cap - 1, j = fw_sq_stack_slot(stack, mask);
    while (a->slot[j] && a->r.v[a->slot[j] - 1].stack != stack)
        j = (j + 1) & mask;
    if (a->slot[j]) {
        fw_sq_row *r = &a->r.v[a->slot[j] - 1];
        r->value = fw_sq_sat_add(r->value, v);
        r->count = fw_sq_sat_add(r->count, c);
        return 0;
    }
    if (a->r.n == a->r.cap) {
        size_t ncap = a->r.cap ? a->r.cap * 2 : 1024;
        fw_sq_row *nv = realloc(a->r.v, ncap * sizeof *nv);
        if (!nv)
            return SQLITE_NOMEM;
        a->r.v = nv;
        a->r.cap = ncap;
    }
    a->r.v[a->r.n++] = (fw_sq_row){stack, v, c};
    a->slot[j] = (uint32_t)a->r.n;
    return 0;
}

/* Sorts the rows by stack id (the order blocks are written in). The hash stays valid. */
static void fw_sq_acc_sort(fw_sq_acc *a)
{
    if (a->r.n < 2)
        return;
    qsort(a->r.v, a->r.n, sizeof *a->r.v, fw_sq_row_stack_cmp);
    memset(a->slot, 0, a->cap * sizeof *a->slot);
    for (size_t i = 0; i < a->r.n; i++) {
        size_t j = fw_sq_stack_slot(a->r.v[i].stack, a->cap - 1);
        while (a->slot[j])
            j = (j + 1) & (a->cap - 1);
        a->slot[j] = (uint32_t)i + 1;
    }
}

static const char *fw_sq_parse_u63(const char *p, const char *end, int64_t *out)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return NULL;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (uint64_t)INT64_MAX / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX)
            return NULL;
    }
    *out = (int64_t)v;
    return p;
}

static const char *fw_sq_expect(const char *p, const char *end, char c)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p < end && *p == c ? p + 1 : NULL;
}

/* Adds every triple of a block's JSON text. 0, SQLITE_CORRUPT on text that is not a block, or
 * the accumulator's error. */
static int fw_sq_acc_add_json(fw_sq_acc *a, const char *text, size_t len)
{
    if (!text)
        return SQLITE_CORRUPT;
    const char *p = text, *end = text + len;
    if (!(p = fw_sq_expect(p, end, '[')))
        return SQLITE_CORRUPT;
    const char *q = fw_sq_expect(p, end, ']');
    if (q)
        return 0;   /* [] : an empty block */
    for (;;) {
        int64_t s, v, c;
        if (!(p = fw_sq_expect(p, end, '[')) || !(p = fw_sq_parse_u63(p, end, &s)) ||
            !(p = fw_sq_expect(p, end, ',')) || !(p = fw_sq_parse_u63(p, end, &v)) ||
            !(p = fw_sq_expect(p, end, ',')) || !(p = fw_sq_parse_u63(p, end, &c)) ||
            !(p = fw_sq_expect(p, end, ']')))
            return SQLITE_CORRUPT;
        if (s <= 0 || s >= (int64_t)UINT32_MAX)
            return SQLITE_CORRUPT;
        int rc = fw_sq_acc_add(a, (uint32_t)s, v, c);
        if (rc)
            return rc;
        if ((q = fw_sq_expect(p, end, ',')) != NULL) {
            p = q;
            continue;
        }
        return fw_sq_expect(p, end, ']') ? 0 : SQLITE_CORRUPT;
    }
}

/* A growable text buffer for encoding blocks (sqlite3_str's printf is slower per number). */
typedef struct {
    char *p;
    size_t n, cap;
} fw_sq_text;

static int fw_sq_text_reserve(fw_sq_text *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->n + extra)
        ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = ncap;
    return 0;
}

/* Decimal digits of v, two at a time (encoding was a fifth of the writer's time per upload). */
static char *fw_sq_put_u64(char *o, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[24];
    int n = 24;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (v >= 10) {
        tmp[--n] = pairs[v * 2 + 1];
        tmp[--n] = pairs[v * 2];
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(o, tmp + n, (size_t)(24 - n));
    return o + (24 - n);
}

/* Encodes rows (sorted by stack) as a block; totals into *value, *count. */
static int fw_sq_encode(fw_sq_text *b, const fw_sq_row *r, size_t n, int64_t *value, int64_t *count)
{
    b->n = 0;
    int64_t tv = 0, tc = 0;
    if (fw_sq_text_reserve(b, n * 64 + 3))
        return -1;
    char *o = b->p;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '[';
        o = fw_sq_put_u64(o, r[i].stack);
        *o++ = ',';
        o = fw_sq_put_u64(o, (uint64_t)r[i].value);
        *o++ = ',';
        o = fw_sq_put_u64(o, (uint64_t)r[i].count);
        *o++ = ']';
        tv = fw_sq_sat_add(tv, r[i].value);
        tc = fw_sq_sat_add(tc, r[i].count);
    }
    *o++ = ']';
    b->n = (size_t)(o - b->p);
    *value = tv;
    *count = tc;
    return 0;
}

/* ================================================================ the store */

typedef struct {
    fw_store base;
    char *path;
    int64_t retention_s;

    pthread_mutex_t wlock;          /* serializes everything that writes */
    sqlite3 *w;
    sqlite3_stmt *ins_block, *ins_rblock, *ins_func, *ins_frame, *ins_stack, *ins_ls, *ins_label,
        *get_series, *ins_series, *meta_add, *meta_set;
    int64_t wm[FW_SQ_NLEVELS];      /* roll-up watermarks (writer's copy of meta) */
    long fail_after;                /* test hook, -1 = off */
    fw_sq_text enc;                 /* writer's block encoding buffer */
    fw_sq_acc wacc;                 /* writer's accumulator (late roll-ups, maintenance) */

    /* Checkpoints run on their own connection, outside wlock, so that the copy from the WAL into
     * the database and its fsync never stall ingest (the writer's automatic checkpoint is off). */
    sqlite3 *ck;
    pthread_mutex_t cklock;
    _Atomic int wal_frames;         /* frames in the WAL after the last commit (wal hook) */

    pthread_rwlock_t clock;         /* guards cache arrays against growth while readers walk them */
    fw_sq_cache c;

    /* Dimension GC (fw_sq_gc, fw_store_gc.c): due after retention deleted blocks; while its mark
     * phase runs without wlock, ingest flags in gc_touch the stacks (ids < gc_n) it uses. */
    int gc_due, gc_running;
    int64_t gc_last_ms;
    unsigned char *gc_touch;
    uint32_t gc_n;
    sqlite3 *gcdb;                  /* read-only, opened at the first GC */
    void (*gc_hook)(void *);        /* test hook, between mark and sweep */
    void *gc_hook_arg;

    pthread_mutex_t rlock;          /* reader pool */
    pthread_cond_t rcond;
    sqlite3 **r;
    int *rbusy;
    int nr;

    fw_sqc *con;                    /* the read-only SQL console, on connections of its own */
} fw_sq;

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
                            &s->meta_set};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

static void fw_sq_close(fw_store *base)
{
    fw_sq *s = (fw_sq *)base;
    fw_sq_finalize_all(s);
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
    fw_sq_cache_free(&s->c);
    free(s->enc.p);
    fw_sq_acc_free(&s->wacc);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->cklock);
    pthread_mutex_destroy(&s->rlock);
    pthread_cond_destroy(&s->rcond);
    pthread_rwlock_destroy(&s->clock);
    free(s->path);
    free(s);
}

static int fw_sq_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static fw_store_status fw_sq_load_cache(fw_sq *s, char *err, size_t errlen)
{
    static const char *const q[] = {
        "SELECT id, name, file FROM functions",
        "SELECT id, function_id, line FROM frames",
        "SELECT id, parent_id, frame_id FROM stacks",
        "SELECT id, labels FROM labelsets",
    };
    for (int k = 0; k < 4; k++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->w, q[k], -1, &st, NULL);
        while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            int bad;
            if (id <= 0 || id >= (int64_t)UINT32_MAX - 1) {
                bad = 1;
            } else if (k == 0) {
                bad = fw_sq_cache_set_fn(&s->c, (uint32_t)id, (const char *)sqlite3_column_text(st, 1),
                                         (const char *)sqlite3_column_text(st, 2));
            } else if (k == 1) {
                bad = fw_sq_cache_set_fr(&s->c, (uint32_t)id, (uint32_t)sqlite3_column_int64(st, 1),
                                         sqlite3_column_int64(st, 2));
            } else if (k == 2) {
                bad = fw_sq_cache_set_st(&s->c, (uint32_t)id, (uint32_t)sqlite3_column_int64(st, 1),
                                         (uint32_t)sqlite3_column_int64(st, 2));
            } else {
                bad = fw_sq_cache_set_ls(&s->c, (uint32_t)id, (const char *)sqlite3_column_text(st, 1));
            }
            if (bad) {
                sqlite3_finalize(st);
                fw_sq_err(err, errlen, "loading %s: bad row or out of memory", q[k] + 14);
                return FW_STORE_ERR_IO;
            }
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            fw_sq_err(err, errlen, "loading dimensions: %s", sqlite3_errmsg(s->w));
            return fw_sq_status(rc);
        }
    }
    if (fw_sq_cache_reindex(&s->c) != 0)
        return FW_STORE_ERR_NOMEM;
    return FW_STORE_OK;
}

static int fw_sq_meta_get(sqlite3 *db, const char *key, int64_t *out)
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
static void fw_sq_checkpoint(fw_sq *s, int force)
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
    fw_sq_rows rows = {0};
    fw_sq_text txt = {0};
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
            if (fw_sq_encode(&txt, rows.v, rows.n, &v, &c) != 0) {
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
            fw_sq_row *nv = realloc(rows.v, ncap * sizeof *nv);
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            rows.v = nv;
            rows.cap = ncap;
        }
        rows.v[rows.n++] = (fw_sq_row){(uint32_t)sid, v, c};
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
        fw_sq_err(err, errlen, "upgrading the file to schema 2: %s", emsg ? emsg : sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_free(emsg);
    return rc;
}


fw_store_status fw_store_open_sqlite(const char *path, const fw_store_options *opt,
                                     fw_store **out, char *err, size_t errlen)
{
    fw_store_options def = {0, FW_STORE_SYNC_NORMAL, 0};
    if (!out)
        return FW_STORE_ERR_INVALID;
    *out = NULL;
    if (!path || !*path) {
        fw_sq_err(err, errlen, "no database path");
        return FW_STORE_ERR_INVALID;
    }
    if (!opt)
        opt = &def;
    if (opt->retention_s < 0 || opt->readers < 0 || opt->readers > 64) {
        fw_sq_err(err, errlen, "bad store options");
        return FW_STORE_ERR_INVALID;
    }
    fw_sq *s = calloc(1, sizeof *s);
    if (!s)
        return FW_STORE_ERR_NOMEM;
    s->base.ops = &fw_sq_ops;
    s->retention_s = opt->retention_s ? opt->retention_s : FW_SQ_DEFAULT_RETENTION;
    s->fail_after = -1;
    s->c.fn_n = s->c.fr_n = s->c.st_n = s->c.ls_n = 1;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->cklock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_cond_init(&s->rcond, NULL);
    pthread_rwlock_init(&s->clock, NULL);
    s->path = fw_sq_strdup(path);
    fw_store_status st = FW_STORE_ERR_IO;
    if (!s->path) {
        st = FW_STORE_ERR_NOMEM;
        goto fail;
    }

    int rc = sqlite3_open_v2(path, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        fw_sq_err(err, errlen, "opening %s: %s", path, s->w ? sqlite3_errmsg(s->w) : "out of memory");
        goto fail;
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
        fw_sq_err(err, errlen, "initializing %s: %s", path, emsg ? emsg : sqlite3_errmsg(s->w));
        sqlite3_free(emsg);
        goto fail;
    }
    {
        /* Files of schema 1 kept one row per (series, bucket, label set, stack) in a `samples`
         * table. They are upgraded here, once, in one transaction: the rows are packed into
         * blocks, the old roll-ups are dropped and their watermarks reset, so maintenance
         * rebuilds them from the raw blocks. */
        sqlite3_stmt *q = NULL;
        int old = 0;
        if (sqlite3_prepare_v2(s->w, "SELECT type FROM sqlite_master WHERE name = 'samples'", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            old = strcmp((const char *)sqlite3_column_text(q, 0), "table") == 0;
        sqlite3_finalize(q);
        if (old && fw_sq_upgrade_v1(s->w, err, errlen) != SQLITE_OK)
            goto fail;
    }
    if (sqlite3_exec(s->w, fw_sq_schema, NULL, NULL, &emsg) != SQLITE_OK) {
        fw_sq_err(err, errlen, "initializing %s: %s", path, emsg ? emsg : sqlite3_errmsg(s->w));
        sqlite3_free(emsg);
        goto fail;
    }
    {
        /* journal_mode=WAL can silently stay "delete" (e.g. on some network file systems); we
         * depend on WAL for concurrent readers and for the durability argument, so insist. */
        sqlite3_stmt *jm = NULL;
        int ok = 0;
        if (sqlite3_prepare_v2(s->w, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK &&
            sqlite3_step(jm) == SQLITE_ROW)
            ok = sqlite3_stricmp((const char *)sqlite3_column_text(jm, 0), "wal") == 0;
        sqlite3_finalize(jm);
        if (!ok) {
            fw_sq_err(err, errlen, "%s: could not switch to WAL journal mode", path);
            goto fail;
        }
    }
    sqlite3_wal_autocheckpoint(s->w, 0);
    sqlite3_wal_hook(s->w, fw_sq_wal_hook, s);
    rc = sqlite3_open_v2(path, &s->ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fw_sq_err(err, errlen, "opening the checkpoint connection: %s", s->ck ? sqlite3_errmsg(s->ck) : "no memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->ck, 1000);
    sqlite3_wal_autocheckpoint(s->ck, 0);
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_size_limit=%d", FW_SQ_WAL_LIMIT);
    sqlite3_exec(s->ck, pragmas, NULL, NULL, NULL);
    /* A connection that has not read the file yet does not know it is in WAL mode, and its
     * checkpoints would do nothing. */
    if (sqlite3_exec(s->ck, "SELECT count(*) FROM meta", NULL, NULL, NULL) != SQLITE_OK) {
        fw_sq_err(err, errlen, "opening the checkpoint connection: %s", sqlite3_errmsg(s->ck));
        goto fail;
    }
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
        fw_sq_prepare(s->w, &s->meta_set, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")) {
        fw_sq_err(err, errlen, "preparing statements: %s", sqlite3_errmsg(s->w));
        goto fail;
    }
    for (int i = 0; i < FW_SQ_NLEVELS; i++) {
        char key[32];
        snprintf(key, sizeof key, "wm_%lld", (long long)fw_sq_res[i]);
        if (fw_sq_meta_get(s->w, key, &s->wm[i]) != SQLITE_OK) {
            fw_sq_err(err, errlen, "reading %s: %s", key, sqlite3_errmsg(s->w));
            goto fail;
        }
    }
    st = fw_sq_load_cache(s, err, errlen);
    if (st != FW_STORE_OK)
        goto fail;
    st = FW_STORE_ERR_IO;

    s->nr = opt->readers ? opt->readers : 4;
    s->r = calloc((size_t)s->nr, sizeof(sqlite3 *));
    s->rbusy = calloc((size_t)s->nr, sizeof *s->rbusy);
    if (!s->r || !s->rbusy) {
        s->nr = 0;
        st = FW_STORE_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < s->nr; i++) {
        rc = sqlite3_open_v2(path, &s->r[i], SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            fw_sq_err(err, errlen, "opening reader: %s", s->r[i] ? sqlite3_errmsg(s->r[i]) : "no memory");
            goto fail;
        }
        sqlite3_busy_timeout(s->r[i], 10000);
        sqlite3_exec(s->r[i], "PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;"
                              " PRAGMA mmap_size=1073741824;", NULL, NULL, NULL);
    }
    if ((st = fw_sqc_open(path, 0, &s->con, err, errlen)) != FW_STORE_OK)
        goto fail;
    *out = &s->base;
    return FW_STORE_OK;
fail:
    fw_sq_close(&s->base);
    return st;
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

/* ================================================================ ingest */

/* Interning: each returns the id for the content, inserting a row (with the id we chose) when new.
 * Called with wlock held and the cache write-locked. */
static fw_store_status fw_sq_intern_fn(fw_sq *s, const char *name, const char *file, uint32_t *out)
{
    fw_sq_fnkey k = {name, file};
    uint64_t h = fw_sq_fn_hash(name, file);
    uint32_t id = fw_sq_map_find(&s->c.fn_map, h, fw_sq_fn_eq, &s->c, &k);
    if (id) {
        *out = id;
        return FW_STORE_OK;
    }
    id = s->c.fn_n;
    if (id >= UINT32_MAX - 2 || fw_sq_cache_set_fn(&s->c, id, name, file) || fw_sq_map_put(&s->c.fn_map, h, id))
        return FW_STORE_ERR_NOMEM;
    sqlite3_bind_int64(s->ins_func, 1, id);
    sqlite3_bind_text(s->ins_func, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_func, 3, file, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->ins_func);
    sqlite3_reset(s->ins_func);
    *out = id;
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

static fw_store_status fw_sq_intern_fr(fw_sq *s, uint32_t func, int64_t line, uint32_t *out)
{
    fw_sq_frkey k = {func, line};
    uint64_t h = fw_sq_fr_hash(func, line);
    uint32_t id = fw_sq_map_find(&s->c.fr_map, h, fw_sq_fr_eq, &s->c, &k);
    if (id) {
        *out = id;
        return FW_STORE_OK;
    }
    id = s->c.fr_n;
    if (id >= UINT32_MAX - 2 || fw_sq_cache_set_fr(&s->c, id, func, line) || fw_sq_map_put(&s->c.fr_map, h, id))
        return FW_STORE_ERR_NOMEM;
    sqlite3_bind_int64(s->ins_frame, 1, id);
    sqlite3_bind_int64(s->ins_frame, 2, func);
    sqlite3_bind_int64(s->ins_frame, 3, line);
    int rc = sqlite3_step(s->ins_frame);
    sqlite3_reset(s->ins_frame);
    *out = id;
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

/* `ph` is the path hash of the node (parent's path hash combined with frame). */
static fw_store_status fw_sq_intern_st(fw_sq *s, uint32_t parent, uint32_t frame, uint64_t ph, uint32_t *out,
                                       size_t *nnew)
{
    fw_sq_stkey k = {parent, frame};
    uint64_t h = fw_sq_st_hash(parent, frame);
    uint32_t id = fw_sq_map_find(&s->c.st_map, h, fw_sq_st_eq, &s->c, &k);
    if (id) {
        *out = id;
        return FW_STORE_OK;
    }
    id = s->c.st_n;
    if (id >= UINT32_MAX - 2 || fw_sq_cache_set_st(&s->c, id, parent, frame) ||
        fw_sq_map_put(&s->c.st_map, h, id) || fw_sq_map_put(&s->c.pa_map, ph, id))
        return FW_STORE_ERR_NOMEM;
    sqlite3_bind_int64(s->ins_stack, 1, id);
    sqlite3_bind_int64(s->ins_stack, 2, parent);
    sqlite3_bind_int64(s->ins_stack, 3, frame);
    int rc = sqlite3_step(s->ins_stack);
    sqlite3_reset(s->ins_stack);
    *out = id;
    (*nnew)++;
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

typedef struct { const char *k, *v; } fw_sq_kv;

static int fw_sq_kv_cmp(const void *a, const void *b)
{
    const fw_sq_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* The canonical text of a label set: {key="value",...} sorted by key then value, exact duplicates
 * removed, with \ and " escaped. Two samples have the same label set iff their texts are equal. */
static fw_store_status fw_sq_intern_ls(fw_sq *s, fw_sq_kv *kv, size_t n, sqlite3_str *buf, uint32_t *out)
{
    qsort(kv, n, sizeof *kv, fw_sq_kv_cmp);
    sqlite3_str_reset(buf);
    sqlite3_str_appendchar(buf, 1, '{');
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && fw_sq_kv_cmp(&kv[i], &kv[i - 1]) == 0)
            continue;
        kv[m++] = kv[i];
        if (m > 1)
            sqlite3_str_appendchar(buf, 1, ',');
        sqlite3_str_appendall(buf, kv[i].k);
        sqlite3_str_appendall(buf, "=\"");
        for (const char *p = kv[i].v; *p; p++) {
            if (*p == '"' || *p == '\\')
                sqlite3_str_appendchar(buf, 1, '\\');
            sqlite3_str_appendchar(buf, 1, *p);
        }
        sqlite3_str_appendchar(buf, 1, '"');
    }
    sqlite3_str_appendchar(buf, 1, '}');
    if (sqlite3_str_errcode(buf))
        return FW_STORE_ERR_NOMEM;
    const char *text = sqlite3_str_value(buf);
    uint64_t h = fw_sq_ls_hash(text);
    uint32_t id = fw_sq_map_find(&s->c.ls_map, h, fw_sq_ls_eq, &s->c, text);
    if (id) {
        *out = id;
        return FW_STORE_OK;
    }
    id = s->c.ls_n;
    if (id >= UINT32_MAX - 2 || fw_sq_cache_set_ls(&s->c, id, text) || fw_sq_map_put(&s->c.ls_map, h, id))
        return FW_STORE_ERR_NOMEM;
    sqlite3_bind_int64(s->ins_ls, 1, id);
    sqlite3_bind_text(s->ins_ls, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->ins_ls);
    sqlite3_reset(s->ins_ls);
    for (size_t i = 0; rc == SQLITE_DONE && i < m; i++) {
        sqlite3_bind_text(s->ins_label, 1, kv[i].k, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_label, 2, kv[i].v, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->ins_label, 3, id);
        rc = sqlite3_step(s->ins_label);
        sqlite3_reset(s->ins_label);
    }
    *out = id;
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

static fw_store_status fw_sq_series(fw_sq *s, const char *app, const char *type, const char *unit, int64_t *out)
{
    sqlite3_bind_text(s->get_series, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->get_series, 2, type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->get_series);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s->get_series, 0);
    sqlite3_reset(s->get_series);
    if (rc == SQLITE_ROW)
        return FW_STORE_OK;
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    sqlite3_bind_text(s->ins_series, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_series, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_series, 3, unit ? unit : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(s->ins_series);
    sqlite3_reset(s->ins_series);
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    *out = sqlite3_last_insert_rowid(s->w);
    return FW_STORE_OK;
}

static int fw_sq_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int fw_sq_bad_text(const char *t, size_t maxlen)
{
    if (!t)
        return 1;
    size_t n = 0;
    for (; t[n]; n++)
        if ((unsigned char)t[n] < 0x20 || n >= maxlen)
            return 1;
    return 0;
}

/* The value limits of fw_store.h: one value, and the running sum of its type over the upload
 * (*sum). Bounding them here, at the door, is what keeps the sums of roll-ups and queries far
 * from 2^63; the sums saturate as well, for files written before these limits. */
static int fw_sq_value_limits(const fw_profile *p, size_t type, int64_t v, int64_t *sum, size_t sample,
                              char *err, size_t errlen)
{
    const char *name = fw_profile_type(p, type).type;
    if (v > FW_STORE_MAX_SAMPLE_VALUE) {
        fw_sq_err(err, errlen, "sample %zu: %s value %lld is over the limit of %lld per sample (2^46; see Limits in docs/API.md)",
                  sample, name ? name : "?", (long long)v, (long long)FW_STORE_MAX_SAMPLE_VALUE);
        return -1;
    }
    *sum += v;   /* both terms are at most 2^48 here: no overflow */
    if (*sum > FW_STORE_MAX_UPLOAD_VALUE) {
        fw_sq_err(err, errlen, "%s values add up to more than the limit of %lld per upload (2^48; see Limits in docs/API.md)",
                  name ? name : "?", (long long)FW_STORE_MAX_UPLOAD_VALUE);
        return -1;
    }
    return 0;
}

/* Checks everything that can be checked before writing, so that bad input is refused with a
 * precise reason and the write phase fails only on I/O. */
static fw_store_status fw_sq_validate(const fw_store_ingest_req *req, char *err, size_t errlen)
{
    const fw_profile *p = req->profile;
    if (!*req->app || fw_sq_bad_text(req->app, 129)) {
        fw_sq_err(err, errlen, "app name must be 1-128 printable bytes");
        return FW_STORE_ERR_INVALID;
    }
    for (size_t i = 0; i < req->nlabels; i++)
        if (!req->labels[i].key || !*req->labels[i].key || !req->labels[i].value) {
            fw_sq_err(err, errlen, "label %zu: empty key", i);
            return FW_STORE_ERR_INVALID;
        }
    size_t nt = fw_profile_type_count(p);
    if (nt == 0) {
        fw_sq_err(err, errlen, "profile has no sample types");
        return FW_STORE_ERR_INVALID;
    }
    for (size_t i = 0; i < nt; i++) {
        fw_sample_type ty = fw_profile_type(p, i);
        if (!ty.type || !*ty.type || fw_sq_bad_text(ty.type, 129)) {
            fw_sq_err(err, errlen, "sample type %zu: empty or unprintable name", i);
            return FW_STORE_ERR_INVALID;
        }
    }
    /* Locations are checked once each (ids are 1..nloc); a frame then only needs a range check. */
    size_t nloc = fw_profile_location_count(p);
    int bad_loc = 0;
    for (size_t l = 1; l <= nloc && !bad_loc; l++) {
        const fw_location *loc = fw_profile_get_location(p, l);
        const fw_function *fn = loc ? fw_profile_get_function(p, loc->function_id) : NULL;
        bad_loc = !fn || !fw_profile_string(p, fn->name) || !fw_profile_string(p, fn->filename);
    }
    size_t ns = fw_profile_sample_count(p);
    int64_t sums[FW_PROFILE_MAX_TYPES] = {0};
    for (size_t i = 0; i < ns; i++) {
        fw_sample_view v;
        if (fw_profile_get_sample(p, i, &v) != FW_OK) {
            fw_sq_err(err, errlen, "sample %zu unreadable", i);
            return FW_STORE_ERR_INVALID;
        }
        for (size_t j = 0; j < nt; j++)
            if (v.values[j] < 0 || fw_sq_value_limits(p, j, v.values[j], &sums[j < FW_PROFILE_MAX_TYPES ? j : 0],
                                                      i, err, errlen) != 0) {
                if (v.values[j] < 0)
                    fw_sq_err(err, errlen, "sample %zu: negative value %lld", i, (long long)v.values[j]);
                return FW_STORE_ERR_INVALID;
            }
        for (size_t j = 0; j < v.depth; j++) {
            uint64_t lid = v.location_ids[j];
            int bad = lid < 1 || lid > nloc;
            if (!bad && bad_loc) {   /* slow path, only to name the frame in the error */
                const fw_location *loc = fw_profile_get_location(p, lid);
                const fw_function *fn = loc ? fw_profile_get_function(p, loc->function_id) : NULL;
                bad = !fn || !fw_profile_string(p, fn->name) || !fw_profile_string(p, fn->filename);
            }
            if (bad) {
                fw_sq_err(err, errlen, "sample %zu: frame %zu refers to an unknown location", i, j);
                return FW_STORE_ERR_INVALID;
            }
        }
        for (size_t j = 0; j < v.nlabels; j++) {
            const char *k = fw_profile_string(p, v.label_keys[j]);
            if (!k || !*k || !fw_profile_string(p, v.label_values[j])) {
                fw_sq_err(err, errlen, "sample %zu: label %zu has no key", i, j);
                return FW_STORE_ERR_INVALID;
            }
        }
    }
    return FW_STORE_OK;
}

/* Writes one block (rows sorted by stack) to sample_blocks, or to rollup_blocks at resolution res. */
static fw_store_status fw_sq_put_block(fw_sq *s, int64_t res, int64_t series, int64_t t, uint32_t ls,
                                       const fw_sq_row *rows, size_t n)
{
    int64_t v, c;
    if (fw_sq_encode(&s->enc, rows, n, &v, &c) != 0)
        return FW_STORE_ERR_NOMEM;
    sqlite3_stmt *st = res ? s->ins_rblock : s->ins_block;
    int k = 1;
    sqlite3_bind_int64(st, k++, series);
    if (res)
        sqlite3_bind_int64(st, k++, res);
    sqlite3_bind_int64(st, k++, t);
    sqlite3_bind_int64(st, k++, ls);
    sqlite3_bind_int64(st, k++, v);
    sqlite3_bind_int64(st, k++, c);
    sqlite3_bind_int64(st, k++, (int64_t)n);
    sqlite3_bind_text(st, k, s->enc.p, (int)s->enc.n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

/* One fact row before it is written; sorted by (series, label set, stack): one block per (series, label set). */
typedef struct {
    int64_t series;
    uint32_t ls, stack;
    int64_t value, count;
} fw_sq_fact;

static inline int fw_sq_fact_lt(const fw_sq_fact *x, const fw_sq_fact *y)
{
    if (x->series != y->series)
        return x->series < y->series;
    if (x->ls != y->ls)
        return x->ls < y->ls;
    return x->stack < y->stack;
}

/* Sorts facts by (series, label set, stack): quicksort with the comparison inlined (qsort's
 * indirect calls were a tenth of an upload's writer time), insertion sort for short ranges,
 * recursion on the smaller side only. */
static void fw_sq_fact_sort(fw_sq_fact *a, size_t n)
{
    while (n > 16) {
        size_t m = n / 2;
        fw_sq_fact t;
        /* median of three into a[m] */
        if (fw_sq_fact_lt(&a[m], &a[0])) { t = a[m]; a[m] = a[0]; a[0] = t; }
        if (fw_sq_fact_lt(&a[n - 1], &a[m])) {
            t = a[m]; a[m] = a[n - 1]; a[n - 1] = t;
            if (fw_sq_fact_lt(&a[m], &a[0])) { t = a[m]; a[m] = a[0]; a[0] = t; }
        }
        fw_sq_fact pivot = a[m];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (fw_sq_fact_lt(&a[i], &pivot))
                i++;
            while (fw_sq_fact_lt(&pivot, &a[j]))
                j--;
            if (i >= j)
                break;
            t = a[i]; a[i] = a[j]; a[j] = t;
            i++;
            j--;
        }
        /* [0, j] <= pivot <= [j + 1, n) */
        size_t left = j + 1;
        if (left < n - left) {
            fw_sq_fact_sort(a, left);
            a += left;
            n -= left;
        } else {
            fw_sq_fact_sort(a + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        fw_sq_fact x = a[i];
        size_t j = i;
        for (; j > 0 && fw_sq_fact_lt(&x, &a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* Distinct label lists remembered per upload; beyond this, label sets are built per sample. */
#define FW_SQ_LS_MEMO 64
typedef struct {
    size_t n;
    const uint64_t *k, *v;
    uint32_t id;
} fw_sq_lsmemo;

static fw_store_status fw_sq_ingest(fw_store *base, const fw_store_ingest_req *req,
                                    fw_store_ingest_result *res, char *err, size_t errlen)
{
    fw_sq *s = (fw_sq *)base;
    const fw_profile *p = req->profile;
    fw_store_status st = fw_sq_validate(req, err, errlen);
    if (st != FW_STORE_OK)
        return st;

    int64_t t = req->time_s;
    if (t == 0)
        t = fw_profile_time_nanos(p) / 1000000000;
    if (t == 0)
        t = (int64_t)time(NULL);
    if (t < 0) {
        fw_sq_err(err, errlen, "profile time before 1970");
        return FW_STORE_ERR_INVALID;
    }
    t = fw_sq_floor(t, FW_SQ_BUCKET);

    size_t nt = fw_profile_type_count(p), ns = fw_profile_sample_count(p);
    size_t nloc = fw_profile_location_count(p);
    int64_t series[FW_PROFILE_MAX_TYPES];
    /* Where each value's sample count comes from; see docs/STORAGE.md "Sample counts". */
    int samples_idx = fw_profile_find_type(p, "samples");
    int64_t period = fw_profile_period(p);
    uint64_t pt_type = 0, pt_unit = 0;
    fw_profile_period_type(p, &pt_type, &pt_unit);
    const char *period_unit = pt_unit ? fw_profile_string(p, pt_unit) : NULL;
    int period_match[FW_PROFILE_MAX_TYPES] = {0};
    for (size_t j = 0; j < nt && j < FW_PROFILE_MAX_TYPES; j++) {
        fw_sample_type ty = fw_profile_type(p, j);
        period_match[j] = period_unit && ty.unit && strcmp(period_unit, ty.unit) == 0;
    }

    uint32_t *loc_frame = calloc(nloc + 2, sizeof *loc_frame);       /* profile location -> frame id */
    size_t nfn = fw_profile_function_count(p);
    uint32_t *fn_ids = calloc(nfn + 2, sizeof *fn_ids);              /* profile function -> function id */
    uint32_t *samp_stack = malloc((ns + 1) * sizeof *samp_stack);
    uint32_t *samp_ls = malloc((ns + 1) * sizeof *samp_ls);
    fw_sq_kv *kv = malloc((FW_PROFILE_MAX_LABELS + req->nlabels + 1) * sizeof *kv);
    uint32_t *frames = malloc(FW_PROFILE_MAX_DEPTH * sizeof *frames);
    fw_sq_lsmemo *memo = malloc(FW_SQ_LS_MEMO * sizeof *memo);
    fw_sq_fact *facts = malloc((ns * nt + 1) * sizeof *facts);
    fw_sq_row *brow = malloc((ns * nt + 1) * sizeof *brow);   /* the merged rows, block after block */
    sqlite3_str *buf = sqlite3_str_new(NULL);
    if (!loc_frame || !fn_ids || !samp_stack || !samp_ls || !kv || !frames || !memo || !facts || !brow || !buf) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }

    pthread_mutex_lock(&s->wlock);
    int rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        fw_sq_err(err, errlen, "begin: %s", sqlite3_errmsg(s->w));
        pthread_mutex_unlock(&s->wlock);
        st = fw_sq_status(rc);
        goto out;
    }
    /* Sizes to cut the cache back to if this transaction rolls back. */
    uint32_t save_fn = s->c.fn_n, save_fr = s->c.fr_n, save_st = s->c.st_n, save_ls = s->c.ls_n;
    for (size_t i = 0; i < nt; i++) {
        fw_sample_type ty = fw_profile_type(p, i);
        st = fw_sq_series(s, req->app, ty.type, ty.unit, &series[i]);
        if (st != FW_STORE_OK)
            goto rollback;
    }

    /* Phase 1: intern dimensions, under the cache write lock (readers wait only this long). */
    pthread_rwlock_wrlock(&s->clock);
    size_t nmemo = 0;
    for (size_t i = 0; i < ns && st == FW_STORE_OK; i++) {
        fw_sample_view v;
        fw_profile_get_sample(p, i, &v);
        /* location_ids are leaf first; the trie is walked from the root. */
        uint64_t ph = 0;
        for (size_t j = 0; j < v.depth && st == FW_STORE_OK; j++) {
            uint64_t lid = v.location_ids[v.depth - 1 - j];
            uint32_t frame = lid <= nloc ? loc_frame[lid] : 0;
            if (!frame) {
                const fw_location *loc = fw_profile_get_location(p, lid);
                /* Functions are interned once per upload each (a function has several lines). */
                uint32_t fid = loc->function_id <= nfn ? fn_ids[loc->function_id] : 0;
                if (!fid) {
                    const fw_function *fn = fw_profile_get_function(p, loc->function_id);
                    st = fw_sq_intern_fn(s, fw_profile_string(p, fn->name), fw_profile_string(p, fn->filename), &fid);
                    if (st == FW_STORE_OK && loc->function_id <= nfn)
                        fn_ids[loc->function_id] = fid;
                }
                if (st == FW_STORE_OK)
                    st = fw_sq_intern_fr(s, fid, loc->line, &frame);
                if (st == FW_STORE_OK && lid <= nloc)
                    loc_frame[lid] = frame;
            }
            frames[j] = frame;
            ph = fw_sq_pa_hash(ph, frame);
        }
        if (st != FW_STORE_OK)
            break;
        /* A known stack: one probe of the path map. Otherwise walk (and extend) the trie. */
        fw_sq_pakey pk = {frames, v.depth};
        uint32_t leaf = v.depth ? fw_sq_map_find(&s->c.pa_map, ph, fw_sq_pa_eq, &s->c, &pk) : 0;
        if (!leaf && v.depth) {
            uint64_t h = 0;
            for (size_t j = 0; j < v.depth && st == FW_STORE_OK; j++) {
                h = fw_sq_pa_hash(h, frames[j]);
                st = fw_sq_intern_st(s, leaf, frames[j], h, &leaf, &res->new_stacks);
            }
        }
        samp_stack[i] = leaf;
        /* Label sets repeat across the samples of an upload (one per thread, typically), so the
         * canonical text is built once per distinct list of (key, value) string indexes. */
        size_t m = 0;
        for (; m < nmemo; m++)
            if (memo[m].n == v.nlabels &&
                (!v.nlabels || (memcmp(memo[m].k, v.label_keys, v.nlabels * sizeof *v.label_keys) == 0 &&
                                memcmp(memo[m].v, v.label_values, v.nlabels * sizeof *v.label_values) == 0)))
                break;
        if (m < nmemo) {
            samp_ls[i] = memo[m].id;
            continue;
        }
        size_t n = 0;
        for (size_t j = 0; j < v.nlabels; j++) {
            kv[n].k = fw_profile_string(p, v.label_keys[j]);
            kv[n++].v = fw_profile_string(p, v.label_values[j]);
        }
        for (size_t j = 0; j < req->nlabels; j++) {
            kv[n].k = req->labels[j].key;
            kv[n++].v = req->labels[j].value;
        }
        if (st == FW_STORE_OK)
            st = fw_sq_intern_ls(s, kv, n, buf, &samp_ls[i]);
        if (st == FW_STORE_OK && nmemo < FW_SQ_LS_MEMO) {
            memo[nmemo].n = v.nlabels;
            memo[nmemo].k = v.label_keys;
            memo[nmemo].v = v.label_values;
            memo[nmemo++].id = samp_ls[i];
        }
    }
    pthread_rwlock_unlock(&s->clock);
    if (st != FW_STORE_OK) {
        fw_sq_err(err, errlen, "storing stacks: %s", st == FW_STORE_ERR_NOMEM ? "out of memory" : sqlite3_errmsg(s->w));
        goto rollback;
    }
    if (s->gc_touch)   /* a GC is marking: these stacks are in use (see fw_sq_gc) */
        for (size_t i = 0; i < ns; i++)
            if (samp_stack[i] < s->gc_n)
                s->gc_touch[samp_stack[i]] = 1;

    /* Phase 2: the fact rows, merged (the same stack and label set twice in one upload is one
     * row), sorted, and written as one block per (series, label set). */
    size_t nf = 0;
    for (size_t i = 0; i < ns; i++) {
        if (!samp_stack[i])
            continue;   /* an empty stack has no frame to charge; pprof allows it, we skip it */
        fw_sample_view v;
        fw_profile_get_sample(p, i, &v);
        for (size_t j = 0; j < nt; j++) {
            int64_t val = v.values[j];
            if (val == 0)
                continue;
            int64_t cnt = 1;
            if (samples_idx >= 0)
                cnt = v.values[samples_idx] > 0 ? v.values[samples_idx] : 1;
            else if (period > 0 && period_match[j])
                cnt = val / period + (val % period != 0);
            facts[nf++] = (fw_sq_fact){series[j], samp_ls[i], samp_stack[i], val, cnt};
        }
    }
    if (nf > 1)
        fw_sq_fact_sort(facts, nf);
    size_t rows = 0, nvalues = nf, blocks = 0;
    int late = t < s->wm[0];                /* the finest watermark is the highest */
    size_t nser = 0, ser_start[FW_PROFILE_MAX_TYPES + 1];
    int64_t ser_id[FW_PROFILE_MAX_TYPES + 1];
    for (size_t i = 0; i < nf;) {
        int64_t ser = facts[i].series;
        uint32_t ls = facts[i].ls;
        size_t n = 0;
        if (!nser || ser_id[nser - 1] != ser) {
            ser_id[nser] = ser;
            ser_start[nser++] = rows;
        }
        while (i < nf && facts[i].series == ser && facts[i].ls == ls) {
            fw_sq_fact f = facts[i++];
            while (i < nf && facts[i].series == ser && facts[i].ls == ls && facts[i].stack == f.stack) {
                /* Validated non-negative and each below 2^63; a sum that would overflow is refused. */
                if (facts[i].value > INT64_MAX - f.value || facts[i].count > INT64_MAX - f.count) {
                    fw_sq_err(err, errlen, "values of one stack add up past 2^63");
                    st = FW_STORE_ERR_INVALID;
                    goto rollback;
                }
                f.value += facts[i].value;
                f.count += facts[i].count;
                i++;
            }
            brow[rows + n++] = (fw_sq_row){f.stack, f.value, f.count};
        }
        if (s->fail_after >= 0 && (long)blocks >= s->fail_after) {
            s->fail_after = -1;
            fw_sq_err(err, errlen, "injected failure after %zu blocks", blocks);
            st = FW_STORE_ERR_IO;
            goto rollback;
        }
        st = fw_sq_put_block(s, 0, ser, t, ls, &brow[rows], n);
        /* Late data: buckets already rolled up get the block too, so every roll-up stays equal
         * to the sum of its raw rows. */
        for (int l = 0; late && st == FW_STORE_OK && l < FW_SQ_NLEVELS; l++)
            if (t < s->wm[l])
                st = fw_sq_put_block(s, fw_sq_res[l], ser, fw_sq_floor(t, fw_sq_res[l]), ls, &brow[rows], n);
        if (st != FW_STORE_OK) {
            fw_sq_err(err, errlen, "storing samples: %s", st == FW_STORE_ERR_NOMEM ? "out of memory" : sqlite3_errmsg(s->w));
            goto rollback;
        }
        rows += n;
        blocks++;
    }
    /* Late data, merged over label sets (labelset_id 0), one block per series and level. */
    ser_start[nser] = rows;
    for (size_t k = 0; late && k < nser; k++) {
        fw_sq_acc_reset(&s->wacc);
        int rc2 = 0;
        for (size_t i = ser_start[k]; rc2 == 0 && i < ser_start[k + 1]; i++)
            rc2 = fw_sq_acc_add(&s->wacc, brow[i].stack, brow[i].value, brow[i].count);
        if (rc2 == 0)
            fw_sq_acc_sort(&s->wacc);
        st = rc2 == 0 ? FW_STORE_OK : rc2 == SQLITE_NOMEM ? FW_STORE_ERR_NOMEM : FW_STORE_ERR_INVALID;
        for (int l = 0; st == FW_STORE_OK && l < FW_SQ_NLEVELS; l++)
            if (t < s->wm[l])
                st = fw_sq_put_block(s, fw_sq_res[l], ser_id[k], fw_sq_floor(t, fw_sq_res[l]), 0, s->wacc.r.v,
                                     s->wacc.r.n);
        if (st != FW_STORE_OK) {
            fw_sq_err(err, errlen, "storing late roll-ups: %s", sqlite3_errmsg(s->w));
            goto rollback;
        }
    }
    static const char *const keys[] = {"profiles", "stack_values", "raw_rows"};
    int64_t adds[] = {1, (int64_t)nvalues, (int64_t)rows};
    for (int k = 0; k < 3; k++) {
        sqlite3_bind_text(s->meta_add, 1, keys[k], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->meta_add, 2, adds[k]);
        rc = sqlite3_step(s->meta_add);
        sqlite3_reset(s->meta_add);
        if (rc != SQLITE_DONE) {
            st = fw_sq_status(rc);
            fw_sq_err(err, errlen, "updating counters: %s", sqlite3_errmsg(s->w));
            goto rollback;
        }
    }
    rc = fw_sq_exec(s->w, "COMMIT");
    if (rc != SQLITE_OK) {
        st = fw_sq_status(rc);
        fw_sq_err(err, errlen, "commit: %s", sqlite3_errmsg(s->w));
        goto rollback;
    }
    res->stack_values = nvalues;
    pthread_mutex_unlock(&s->wlock);
    fw_sq_checkpoint(s, 0);
    st = FW_STORE_OK;
    goto out;

rollback:
    fw_sq_exec(s->w, "ROLLBACK");
    pthread_rwlock_wrlock(&s->clock);
    fw_sq_cache_truncate(&s->c, save_fn, save_fr, save_st, save_ls);
    if (fw_sq_cache_reindex(&s->c) != 0)
        st = FW_STORE_ERR_NOMEM;
    pthread_rwlock_unlock(&s->clock);
    pthread_mutex_unlock(&s->wlock);
    res->stack_values = 0;
    res->new_stacks = 0;
    if (st == FW_STORE_OK)
        st = FW_STORE_ERR_IO;
out:
    free(loc_frame);
    free(fn_ids);
    free(samp_stack);
    free(samp_ls);
    free(kv);
    free(frames);
    free(memo);
    free(facts);
    free(brow);
    sqlite3_free(sqlite3_str_finish(buf));
    return st;
}

/* ================================================================ maintenance */

/* Smallest bucket start present in a roll-up source, or -1 when it is empty. Asked per series so
 * that each lookup is one descent of the primary key. */
static int fw_sq_source_min(fw_sq *s, int level, int64_t *out)
{
    char sql[256];
    if (level == 0)
        snprintf(sql, sizeof sql, "SELECT min((SELECT min(t) FROM sample_blocks WHERE series_id = series.id)) FROM series");
    else
        snprintf(sql, sizeof sql,
                 "SELECT min((SELECT min(t) FROM rollup_blocks WHERE series_id = series.id AND res = %lld)) FROM series",
                 (long long)fw_sq_res[level - 1]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Per-label-set accumulators of one output bucket, during a roll-up. */
typedef struct {
    uint32_t ls;
    fw_sq_acc acc;
} fw_sq_lsacc;

/* Rolls up one series' buckets of level l in [a, b): reads the source blocks (raw blocks for the
 * first level, else the level below), sums them per (bucket, label set) in C and writes one block
 * each, plus the merged block (labelset_id 0) of each bucket. */
static int fw_sq_rollup_series(fw_sq *s, int l, int64_t series, int64_t a, int64_t b, sqlite3_stmt *list,
                               sqlite3_stmt *get)
{
    int64_t R = fw_sq_res[l];
    /* Block ids ordered by (bucket, label set): small rows to sort; the texts are then read by
     * rowid, one at a time. */
    sqlite3_bind_int64(list, 1, series);
    sqlite3_bind_int64(list, 2, a);
    sqlite3_bind_int64(list, 3, b);
    int rc = SQLITE_OK;
    int64_t cur_t = INT64_MIN;
    uint32_t cur_ls = FW_SQ_NONE;
    fw_sq_acc *merged = &s->wacc;
    fw_sq_acc one = {0};
    fw_sq_acc_reset(merged);
    int have_merged_src = 0;   /* level > 0: the source's own merged blocks (labelset 0) */
    for (;;) {
        int step = sqlite3_step(list);
        int64_t t = 0, id = 0;
        uint32_t ls = 0;
        if (step == SQLITE_ROW) {
            t = fw_sq_floor(sqlite3_column_int64(list, 0), R);
            ls = (uint32_t)sqlite3_column_int64(list, 1);
            id = sqlite3_column_int64(list, 2);
        } else if (step != SQLITE_DONE) {
            rc = step;
            break;
        }
        /* Flush the label set being summed when (bucket, label set) changes. */
        if (cur_ls != FW_SQ_NONE && (step == SQLITE_DONE || t != cur_t || ls != cur_ls)) {
            if (cur_ls != 0) {
                fw_sq_acc_sort(&one);
                if (fw_sq_put_block(s, R, series, cur_t, cur_ls, one.r.v, one.r.n) != FW_STORE_OK) {
                    rc = SQLITE_ERROR;
                    break;
                }
            }
            fw_sq_acc_reset(&one);   /* cur_ls is set again below before it is read */
        }
        /* Flush the merged block when the bucket changes. */
        if (cur_t != INT64_MIN && (step == SQLITE_DONE || t != cur_t)) {
            if (merged->r.n || have_merged_src) {
                fw_sq_acc_sort(merged);
                if (fw_sq_put_block(s, R, series, cur_t, 0, merged->r.v, merged->r.n) != FW_STORE_OK) {
                    rc = SQLITE_ERROR;
                    break;
                }
            }
            fw_sq_acc_reset(merged);
            have_merged_src = 0;
        }
        if (step == SQLITE_DONE)
            break;
        cur_t = t;
        cur_ls = ls;
        sqlite3_bind_int64(get, 1, id);
        rc = sqlite3_step(get);
        if (rc == SQLITE_ROW) {
            const char *txt = (const char *)sqlite3_column_text(get, 0);
            size_t len = (size_t)sqlite3_column_bytes(get, 0);
            if (ls != 0) {
                rc = fw_sq_acc_add_json(&one, txt, len);
                /* The first level merges raw label sets; higher levels merge the level below's
                 * merged blocks, which are smaller than all its label sets together. */
                if (rc == 0 && l == 0)
                    rc = fw_sq_acc_add_json(merged, txt, len);
            } else {
                rc = fw_sq_acc_add_json(merged, txt, len);
                have_merged_src = 1;
            }
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_CORRUPT;
        }
        sqlite3_reset(get);
        if (rc != SQLITE_OK)
            break;
    }
    sqlite3_reset(list);
    fw_sq_acc_free(&one);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Rolls [a, b) of level l's source into level l and advances its watermark, in one transaction. */
static fw_store_status fw_sq_rollup_span(fw_sq *s, int l, int64_t a, int64_t b)
{
    long long R = (long long)fw_sq_res[l];
    sqlite3_stmt *ser = NULL, *list = NULL, *get = NULL;
    int rc = sqlite3_prepare_v2(s->w, "SELECT id FROM series ORDER BY id", -1, &ser, NULL);
    if (rc == SQLITE_OK) {
        char sql[256];
        if (l == 0)
            snprintf(sql, sizeof sql, "SELECT t, labelset_id, id FROM sample_blocks"
                                      " WHERE series_id = ?1 AND t >= ?2 AND t < ?3"
                                      " ORDER BY t - t %% %lld, labelset_id", R);
        else
            snprintf(sql, sizeof sql, "SELECT t, labelset_id, id FROM rollup_blocks"
                                      " WHERE series_id = ?1 AND res = %lld AND t >= ?2 AND t < ?3"
                                      " ORDER BY t - t %% %lld, labelset_id", (long long)fw_sq_res[l - 1], R);
        rc = sqlite3_prepare_v2(s->w, sql, -1, &list, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, l == 0 ? "SELECT stacks FROM sample_blocks WHERE id = ?1"
                                             : "SELECT stacks FROM rollup_blocks WHERE id = ?1", -1, &get, NULL);
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(ser)) == SQLITE_ROW) {
            int64_t sid = sqlite3_column_int64(ser, 0);
            /* Each series in a savepoint: a block of one series that cannot be read (a file
             * edited by hand, a bug of an old version) costs that series this span's roll-up,
             * logged, and never stops the roll-ups and the retention of every other app. */
            rc = fw_sq_exec(s->w, "SAVEPOINT fw_series");
            if (rc == SQLITE_OK)
                rc = fw_sq_rollup_series(s, l, sid, a, b, list, get);
            if (rc == SQLITE_CORRUPT || rc == SQLITE_TOOBIG || rc == SQLITE_MISMATCH) {
                fprintf(stderr, "flamewatch store: series %lld: skipping its %llds roll-up of [%lld, %lld):"
                                " unreadable block (%s)\n", (long long)sid, R, (long long)a, (long long)b,
                        sqlite3_errstr(rc));
                rc = fw_sq_exec(s->w, "ROLLBACK TO fw_series");
                /* The span's stacks are not all in the roll-ups now: the dimension GC must read
                 * its raw blocks too (fw_store_gc_mark_blocks). */
                char *m = sqlite3_mprintf("INSERT INTO meta(key, value) VALUES ('gc_raw_from', %lld)"
                                          " ON CONFLICT(key) DO UPDATE SET value = min(value, excluded.value)",
                                          (long long)a);
                if (rc == SQLITE_OK)
                    rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
                sqlite3_free(m);
            }
            if (rc == SQLITE_OK)
                rc = fw_sq_exec(s->w, "RELEASE fw_series");
            if (rc != SQLITE_OK)
                break;
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        if (rc == SQLITE_OK) {
            char *wmsql = sqlite3_mprintf("UPDATE meta SET value = %lld WHERE key = 'wm_%lld';", (long long)b, R);
            rc = wmsql ? fw_sq_exec(s->w, wmsql) : SQLITE_NOMEM;
            sqlite3_free(wmsql);
        }
        if (rc == SQLITE_OK)
            rc = fw_sq_exec(s->w, "COMMIT");
        if (rc != SQLITE_OK)
            fw_sq_exec(s->w, "ROLLBACK");
        else
            s->wm[l] = b;   /* only once it is durable: ingest's late path trusts this value */
    }
    sqlite3_finalize(ser);
    sqlite3_finalize(list);
    sqlite3_finalize(get);
    return fw_sq_status(rc);
}

static fw_store_status fw_sq_delete_old(fw_sq *s, int64_t cutoff, int64_t deadline, int64_t *deleted_out)
{
    sqlite3_stmt *ser = NULL, *mn = NULL, *del = NULL, *delr = NULL;
    int rc = sqlite3_prepare_v2(s->w, "SELECT id FROM series", -1, &ser, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "SELECT min(t) FROM sample_blocks WHERE series_id = ?1", -1, &mn, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "DELETE FROM sample_blocks WHERE series_id = ?1 AND t < ?2 RETURNING nstacks",
                                -1, &del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->w, "DELETE FROM rollup_blocks WHERE series_id = ?1 AND res = ?2 AND t < ?3",
                                -1, &delr, NULL);
    int64_t ids[4096];
    size_t nids = 0;
    while (rc == SQLITE_OK && sqlite3_step(ser) == SQLITE_ROW && nids < 4096)
        ids[nids++] = sqlite3_column_int64(ser, 0);
    sqlite3_finalize(ser);
    int64_t deleted = 0;
    for (size_t i = 0; rc == SQLITE_OK && i < nids; i++) {
        /* Raw rows go an hour at a time, each hour its own transaction, so that a week of
         * backlog (a server that was down) never holds the write lock for long. */
        for (;;) {
            sqlite3_bind_int64(mn, 1, ids[i]);
            int64_t oldest = -1;
            if (sqlite3_step(mn) == SQLITE_ROW && sqlite3_column_type(mn, 0) != SQLITE_NULL)
                oldest = sqlite3_column_int64(mn, 0);
            sqlite3_reset(mn);
            if (oldest < 0 || oldest >= cutoff || fw_sq_mono_ms() > deadline)
                break;
            int64_t upto = oldest + 3600 < cutoff ? oldest + 3600 : cutoff;
            rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
            if (rc != SQLITE_OK)
                break;
            sqlite3_bind_int64(del, 1, ids[i]);
            sqlite3_bind_int64(del, 2, upto);
            int64_t n = 0;   /* stack rows (triples) deleted, for the raw_rows counter */
            while ((rc = sqlite3_step(del)) == SQLITE_ROW)
                n += sqlite3_column_int64(del, 0);
            sqlite3_reset(del);
            if (rc == SQLITE_DONE) {
                char *m = sqlite3_mprintf("UPDATE meta SET value = max(0, value - %lld) WHERE key = 'raw_rows'",
                                          (long long)n);
                rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
                sqlite3_free(m);
            }
            if (rc == SQLITE_OK)
                rc = fw_sq_exec(s->w, "COMMIT");
            if (rc != SQLITE_OK) {
                fw_sq_exec(s->w, "ROLLBACK");
                break;
            }
            deleted += n;
        }
        /* A roll-up bucket goes once it lies wholly before the cutoff. */
        for (int l = 0; rc == SQLITE_OK && l < FW_SQ_NLEVELS; l++) {
            sqlite3_bind_int64(delr, 1, ids[i]);
            sqlite3_bind_int64(delr, 2, fw_sq_res[l]);
            sqlite3_bind_int64(delr, 3, cutoff - fw_sq_res[l] + 1);
            rc = sqlite3_step(delr);
            sqlite3_reset(delr);
            deleted += sqlite3_changes(s->w);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    }
    *deleted_out = deleted;
    sqlite3_finalize(mn);
    sqlite3_finalize(del);
    sqlite3_finalize(delr);
    return fw_sq_status(rc);
}

/* ---------------------------------------------------------------- dimension GC
 *
 * See fw_store_gc.c for the design. The sweep runs under wlock: it deletes the stacks that
 * neither a retained block (live) nor an upload during the mark (touch) uses, then the frames and
 * functions that no remaining stack uses, in one transaction, and forgets them in the cache.
 * Stack ids >= n were created during the mark and are kept. */
#define FW_SQ_GC_INTERVAL_MS ((int64_t)60 * 1000)

static int fw_sq_gc_delete(fw_sq *s, const char *sql, const uint32_t *ids, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static int fw_sq_gc_sweep(fw_sq *s, unsigned char *live, const unsigned char *touch, uint32_t n, size_t *forgot)
{
    fw_sq_cache *c = &s->c;
    for (uint32_t i = 0; i < n; i++)
        live[i] |= touch[i];
    fw_store_gc_close_over(c->st_parent, n, live);
    unsigned char *fr_used = calloc(c->fr_n + 1, 1), *fn_used = calloc(c->fn_n + 1, 1);
    uint32_t *dead = malloc(((size_t)c->st_n + c->fr_n + c->fn_n + 3) * sizeof *dead);
    int rc = SQLITE_NOMEM;
    if (!fr_used || !fn_used || !dead)
        goto out;
    size_t nst = 0, nfr = 0, nfn = 0;
    for (uint32_t i = 1; i < c->st_n; i++) {
        if (!c->st_frame[i])
            continue;
        if (i < n && !live[i])
            dead[nst++] = i;
        else if (c->st_frame[i] < c->fr_n)
            fr_used[c->st_frame[i]] = 1;
    }
    for (uint32_t i = 1; i < c->fr_n; i++) {
        if (!c->fr_func[i])
            continue;
        if (!fr_used[i])
            dead[nst + nfr++] = i;
        else if (c->fr_func[i] < c->fn_n)
            fn_used[c->fr_func[i]] = 1;
    }
    for (uint32_t i = 1; i < c->fn_n; i++)
        if (c->fn_name[i] && !fn_used[i])
            dead[nst + nfr + nfn++] = i;
    rc = SQLITE_OK;
    if (nst + nfr + nfn == 0)
        goto out;
    rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM stacks WHERE id = ?1", dead, nst);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM frames WHERE id = ?1", dead + nst, nfr);
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_delete(s, "DELETE FROM functions WHERE id = ?1", dead + nst + nfr, nfn);
    if (rc == SQLITE_OK)
        rc = fw_sq_exec(s->w, "COMMIT");
    if (rc != SQLITE_OK) {
        fw_sq_exec(s->w, "ROLLBACK");
        goto out;
    }
    /* Only once the deletes are durable does the cache forget: it never holds less than the file
     * refers to, nor ids the file does not have. Readers hold clock while they walk the arrays. */
    pthread_rwlock_wrlock(&s->clock);
    for (size_t k = 0; k < nst; k++)
        c->st_parent[dead[k]] = c->st_frame[dead[k]] = 0;
    for (size_t k = nst; k < nst + nfr; k++) {
        c->fr_func[dead[k]] = 0;
        c->fr_line[dead[k]] = 0;
    }
    for (size_t k = nst + nfr; k < nst + nfr + nfn; k++) {
        free(c->fn_name[dead[k]]);
        free(c->fn_file[dead[k]]);
        c->fn_name[dead[k]] = c->fn_file[dead[k]] = NULL;
    }
    /* The maps are rebuilt at their new size, so their memory goes too. */
    fw_sq_map_free(&c->fn_map);
    fw_sq_map_free(&c->fr_map);
    fw_sq_map_free(&c->st_map);
    fw_sq_map_free(&c->pa_map);
    if (fw_sq_cache_reindex(c) != 0)
        rc = SQLITE_NOMEM;
    pthread_rwlock_unlock(&s->clock);
    fprintf(stderr, "flamewatch store: forgot %zu stacks, %zu frames and %zu functions no retained sample uses\n",
            nst, nfr, nfn);
    *forgot = nst + nfr + nfn;
out:
    free(fr_used);
    free(fn_used);
    free(dead);
    return rc;
}

static void fw_sq_gc(fw_sq *s)
{
    pthread_mutex_lock(&s->wlock);
    int64_t now = fw_sq_mono_ms();
    if (!s->gc_due || s->gc_running || (s->gc_last_ms && now - s->gc_last_ms < FW_SQ_GC_INTERVAL_MS)) {
        pthread_mutex_unlock(&s->wlock);
        return;
    }
    s->gc_due = 0;
    s->gc_last_ms = now;
    uint32_t n = s->c.st_n;
    unsigned char *touch = calloc(n, 1), *live = calloc(n, 1);
    int rc = touch && live ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_OK && !s->gcdb) {
        rc = sqlite3_open_v2(s->path, &s->gcdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
            sqlite3_busy_timeout(s->gcdb, 10000);
    }
    if (rc == SQLITE_OK) {
        s->gc_touch = touch;
        s->gc_n = n;
        s->gc_running = 1;   /* one GC at a time: a second would take gc_touch from the first */
    }
    pthread_mutex_unlock(&s->wlock);
    if (rc == SQLITE_OK)
        rc = fw_store_gc_mark_blocks(s->gcdb, live, n);
    if (s->gc_hook)
        s->gc_hook(s->gc_hook_arg);
    pthread_mutex_lock(&s->wlock);
    s->gc_running = 0;
    s->gc_touch = NULL;
    s->gc_n = 0;
    size_t forgot = 0;
    if (rc == SQLITE_OK)
        rc = fw_sq_gc_sweep(s, live, touch, n, &forgot);
    pthread_mutex_unlock(&s->wlock);
#ifdef __GLIBC__
    /* Give the freed names and maps back to the system (outside the writer lock): glibc keeps
     * free memory in its arenas otherwise, and the point of forgetting them was the server's size
     * (310 MB -> 51 MB after 5 uploads of 100,000 unique names expired, docs/STORAGE.md). */
    if (forgot)
        malloc_trim(0);
#endif
    if (rc != SQLITE_OK)
        fprintf(stderr, "flamewatch store: dimension GC skipped: %s\n", sqlite3_errstr(rc));
    free(touch);
    free(live);
}

static fw_store_status fw_sq_maintain(fw_store *base, int64_t now_s)
{
    fw_sq *s = (fw_sq *)base;
    int64_t deadline = fw_sq_mono_ms() + 250;
    fw_store_status st = FW_STORE_OK;
    pthread_mutex_lock(&s->wlock);
    for (int l = 0; l < FW_SQ_NLEVELS && st == FW_STORE_OK; l++) {
        int64_t R = fw_sq_res[l];
        int64_t target = fw_sq_floor(now_s - FW_SQ_GRACE, R);
        if (l > 0 && target > fw_sq_floor(s->wm[l - 1], R))
            target = fw_sq_floor(s->wm[l - 1], R);
        if (s->wm[l] >= target)
            continue;
        if (s->wm[l] == 0) {
            /* First run: start at the oldest data rather than at 1970. */
            int64_t mn = -1;
            if (fw_sq_source_min(s, l, &mn) != SQLITE_OK) {
                st = FW_STORE_ERR_IO;
                break;
            }
            int64_t start = mn < 0 ? target : fw_sq_floor(mn, R);
            if (start > target)
                start = target;
            if (start <= 0)
                start = R;  /* 0 means "never rolled"; data at t < R is not a real use */
            char *m = sqlite3_mprintf("UPDATE meta SET value = %lld WHERE key = 'wm_%lld'", (long long)start,
                                      (long long)R);
            int rc = m ? fw_sq_exec(s->w, m) : SQLITE_NOMEM;
            sqlite3_free(m);
            if (rc != SQLITE_OK) {
                st = fw_sq_status(rc);
                break;
            }
            s->wm[l] = start;
        }
        int64_t span = R * (l == 0 ? 10 : 4);
        while (s->wm[l] < target && st == FW_STORE_OK && fw_sq_mono_ms() < deadline) {
            int64_t b = s->wm[l] + span < target ? s->wm[l] + span : target;
            st = fw_sq_rollup_span(s, l, s->wm[l], b);
        }
    }
    /* Retention does not depend on the roll-ups: whatever failed above, old data still goes. */
    int64_t deleted = 0;
    fw_store_status st2 = fw_sq_delete_old(s, now_s - s->retention_s, deadline + 250, &deleted);
    if (st == FW_STORE_OK)
        st = st2;
    if (deleted > 0)
        s->gc_due = 1;
    pthread_mutex_unlock(&s->wlock);
    fw_sq_gc(s);
    /* PASSIVE never waits for readers; it copies what it can from the WAL into the database. */
    fw_sq_checkpoint(s, 1);
    return st;
}

/* ================================================================ readers */

static int fw_sq_reader_get(fw_sq *s)
{
    pthread_mutex_lock(&s->rlock);
    for (;;) {
        for (int i = 0; i < s->nr; i++)
            if (!s->rbusy[i]) {
                s->rbusy[i] = 1;
                pthread_mutex_unlock(&s->rlock);
                return i;
            }
        pthread_cond_wait(&s->rcond, &s->rlock);
    }
}

static void fw_sq_reader_put(fw_sq *s, int i)
{
    pthread_mutex_lock(&s->rlock);
    s->rbusy[i] = 0;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
}

/* What a query needs from its snapshot before it can write SQL. */
typedef struct {
    int64_t wm[FW_SQ_NLEVELS];
    char *unit;   /* of the first query's series */
} fw_sq_snap;

/* Starts a read transaction and reads the watermarks and the series' unit. NOTFOUND when the
 * (app, type) series does not exist. */
static fw_store_status fw_sq_begin(sqlite3 *db, const fw_store_query *q, fw_sq_snap *snap)
{
    memset(snap, 0, sizeof *snap);
    int rc = fw_sq_exec(db, "BEGIN");
    if (rc != SQLITE_OK)
        return fw_sq_status(rc);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key LIKE 'wm_%'", -1, &st, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long r = atoll((const char *)sqlite3_column_text(st, 0) + 3);
        for (int l = 0; l < FW_SQ_NLEVELS; l++)
            if (fw_sq_res[l] == r)
                snap->wm[l] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    if (!q)
        return FW_STORE_OK;
    rc = sqlite3_prepare_v2(db, "SELECT unit FROM series WHERE app = ?1 AND type = ?2", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, q->app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, q->type, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snap->unit = fw_sq_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return FW_STORE_ERR_NOTFOUND;
    if (rc != SQLITE_ROW)
        return fw_sq_status(rc);
    return snap->unit ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
}

static void fw_sq_end(sqlite3 *db, fw_sq_snap *snap)
{
    fw_sq_exec(db, "COMMIT");
    free(snap->unit);
    snap->unit = NULL;
}

/* ================================================================ SQL text */

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
    int64_t A = fw_sq_floor(a + R - 1, R);
    int64_t B = fw_sq_floor(b, R);
    if (B > fw_sq_floor(wm[li], R))
        B = fw_sq_floor(wm[li], R);
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
static char *fw_sq_build(fw_sq_snap *snap, fw_store_sql_kind kind, const fw_store_query *q,
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
static char *fw_sq_take(char *sq)
{
    char *r = sq ? fw_sq_strdup(sq) : NULL;
    sqlite3_free(sq);
    return r;
}

/* Trend step: the smallest "round" step giving at most 300 points. 20 s and 30 s are left out on
 * purpose: a step that is not a multiple of 60 cannot use the 60 s roll-up and would read every raw
 * row of the range (an hour of a 50-instance fleet is millions of rows), so 1 h gets 60 points. */
static int64_t fw_sq_auto_step(int64_t range)
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

/* ================================================================ fact rows */


/* Runs the core SQL (the `stacks` text of every block of the source pieces) and sums the blocks
 * per stack id in C: the `GROUP BY stack_id` over the samples/rollups views of the SQL we show.
 * A block costs one SQLite row; its stacks are parsed here at a few ns each. Output is in stack id
 * order, as GROUP BY gives it. */
static fw_store_status fw_sq_fetch_rows(sqlite3 *db, const char *sql, fw_sq_rows *out)
{
    sqlite3_stmt *st = NULL;
    fw_sq_acc acc = {0};
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int e = fw_sq_acc_add_json(&acc, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        if (e) {
            rc = e;
            break;
        }
    }
    sqlite3_finalize(st);
    free(acc.slot);
    out->v = acc.r.v;
    out->n = acc.r.n;
    out->cap = acc.r.cap;
    if (rc == SQLITE_DONE && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, fw_sq_row_stack_cmp);
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

static fw_store_status fw_sq_query_rows(fw_sq *s, fw_store_sql_kind kind, const fw_store_query *q,
                                        const fw_store_query *cmp, const fw_store_table_opts *topt,
                                        fw_sq_rows *rows, fw_sq_rows *rows2, char **user_sql, char **unit)
{
    int ri = fw_sq_reader_get(s);
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, q, &snap);
    char *core = NULL, *core2 = NULL;
    if (st == FW_STORE_OK) {
        core = fw_sq_build(&snap, FW_STORE_SQL_TREE, q, NULL, 0, NULL, 1);
        core2 = cmp ? fw_sq_build(&snap, FW_STORE_SQL_TREE, cmp, NULL, 0, NULL, 1) : NULL;
        *user_sql = fw_sq_take(fw_sq_build(&snap, kind, q, cmp, 0, topt, 0));
        if (!core || (cmp && !core2) || !*user_sql)
            st = FW_STORE_ERR_NOMEM;
    }
    if (st == FW_STORE_OK)
        st = fw_sq_fetch_rows(db, core, rows);
    if (st == FW_STORE_OK && cmp)
        st = fw_sq_fetch_rows(db, core2, rows2);
    sqlite3_free(core);
    sqlite3_free(core2);
    *unit = snap.unit;
    snap.unit = NULL;
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    return st;
}

/* ================================================================ merged trees */

typedef struct {
    uint32_t parent, key, first_child, next_sibling, nchild;
    int64_t self[2], total[2], cself[2], ctotal[2];
} fw_sq_tn;

typedef struct {
    fw_sq_tn *n;
    uint32_t len, cap;
    fw_sq_map map;             /* (parent node, key) -> node */
    const fw_sq_cache *c;
    int line;                  /* granularity: key is a frame id (1) or a function id (0) */
    uint32_t *memo;            /* stack id -> node, FW_SQ_NONE when not resolved yet */
    uint32_t *chain;
    size_t chain_cap;
} fw_sq_tree;

typedef struct { uint32_t parent, key; } fw_sq_tkey;

static int fw_sq_tn_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_sq_tree *t = ctx;
    const fw_sq_tkey *k = key;
    return t->n[id].parent == k->parent && t->n[id].key == k->key;
}

static uint32_t fw_sq_tree_child(fw_sq_tree *t, uint32_t parent, uint32_t key)
{
    fw_sq_tkey k = {parent, key};
    uint64_t h = fw_sq_hash_u64x2(parent, key);
    uint32_t id = fw_sq_map_find(&t->map, h, fw_sq_tn_eq, t, &k);
    if (id)
        return id;
    if (fw_sq_reserve((void **)&t->n, sizeof *t->n, &t->cap, t->len))
        return FW_SQ_NONE;
    id = t->len++;
    fw_sq_tn *n = &t->n[id];
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->key = key;
    n->next_sibling = t->n[parent].first_child;
    t->n[parent].first_child = id;
    t->n[parent].nchild++;
    if (fw_sq_map_put(&t->map, h, id))
        return FW_SQ_NONE;
    return id;
}

static int fw_sq_tree_init(fw_sq_tree *t, const fw_sq_cache *c, int line)
{
    memset(t, 0, sizeof *t);
    t->c = c;
    t->line = line;
    t->memo = malloc((size_t)c->st_n * sizeof *t->memo);
    if (!t->memo || fw_sq_reserve((void **)&t->n, sizeof *t->n, &t->cap, 1))
        return -1;
    memset(t->memo, 0xff, (size_t)c->st_n * sizeof *t->memo);
    t->len = 1;   /* node 0 is the root */
    memset(&t->n[0], 0, sizeof t->n[0]);
    return 0;
}

static void fw_sq_tree_free(fw_sq_tree *t)
{
    free(t->n);
    free(t->memo);
    free(t->chain);
    fw_sq_map_free(&t->map);
}

/* The tree node of a stack: resolves the unresolved part of its path from the deepest
 * resolved ancestor down, so each stack trie node is looked at once per query. */
static uint32_t fw_sq_tree_resolve(fw_sq_tree *t, uint32_t stack)
{
    const fw_sq_cache *c = t->c;
    size_t depth = 0;
    uint32_t s = stack;
    while (s != 0 && t->memo[s] == FW_SQ_NONE) {
        if (s >= c->st_n || !c->st_frame[s] || depth > 1u << 20)
            return FW_SQ_NONE;   /* a stack the cache does not know: corrupt file */
        if (depth == t->chain_cap) {
            size_t ncap = t->chain_cap ? t->chain_cap * 2 : 256;
            uint32_t *nc = realloc(t->chain, ncap * sizeof *nc);
            if (!nc)
                return FW_SQ_NONE;
            t->chain = nc;
            t->chain_cap = ncap;
        }
        t->chain[depth++] = s;
        s = c->st_parent[s];
    }
    uint32_t node = s == 0 ? 0 : t->memo[s];
    while (depth > 0) {
        uint32_t x = t->chain[--depth];
        uint32_t fr = c->st_frame[x];
        if (fr >= c->fr_n)
            return FW_SQ_NONE;
        node = fw_sq_tree_child(t, node, t->line ? fr : c->fr_func[fr]);
        if (node == FW_SQ_NONE)
            return FW_SQ_NONE;
        t->memo[x] = node;
    }
    return node;
}

static fw_store_status fw_sq_tree_add(fw_sq_tree *t, const fw_sq_rows *rows, int side)
{
    for (size_t i = 0; i < rows->n; i++) {
        uint32_t s = rows->v[i].stack;
        /* A stack the cache no longer has: retention deleted its blocks and the dimension GC the
         * stack after this query's snapshot began. Its rows are being deleted: skip them. */
        if (s >= t->c->st_n || !t->c->st_frame[s])
            continue;
        uint32_t n = fw_sq_tree_resolve(t, s);
        if (n == FW_SQ_NONE)
            return FW_STORE_ERR_NOMEM;
        t->n[n].self[side] = fw_sq_sat_add(t->n[n].self[side], rows->v[i].value);
        t->n[n].cself[side] = fw_sq_sat_add(t->n[n].cself[side], rows->v[i].count);
    }
    return FW_STORE_OK;
}

/* Totals: children always have larger indexes than their parent, so one backward pass sums up. */
static void fw_sq_tree_totals(fw_sq_tree *t)
{
    for (uint32_t i = 0; i < t->len; i++)
        for (int k = 0; k < 2; k++) {
            t->n[i].total[k] = t->n[i].self[k];
            t->n[i].ctotal[k] = t->n[i].cself[k];
        }
    for (uint32_t i = t->len; i-- > 1;)
        for (int k = 0; k < 2; k++) {
            t->n[t->n[i].parent].total[k] = fw_sq_sat_add(t->n[t->n[i].parent].total[k], t->n[i].total[k]);
            t->n[t->n[i].parent].ctotal[k] = fw_sq_sat_add(t->n[t->n[i].parent].ctotal[k], t->n[i].ctotal[k]);
        }
}

/* One node of the pruned output. */
typedef struct {
    uint32_t tn;               /* tree node, FW_SQ_NONE for an "other" fold */
    int32_t parent, depth;
    int64_t total[2], self[2], ctotal[2], cself[2];
} fw_sq_out;

typedef struct {
    double score;
    uint32_t idx;
} fw_sq_rank;

static int fw_sq_rank_cmp(const void *a, const void *b)
{
    const fw_sq_rank *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
    fw_sq_tree *t;
    double *score;
    uint8_t *kept;
    uint32_t *unkept;     /* children not kept, per node */
    fw_sq_out *out;
    size_t nout, cap;
} fw_sq_pruner;

static int fw_sq_emit(fw_sq_pruner *p, uint32_t n, int32_t parent, int32_t depth)
{
    assert(p->nout < p->cap);
    int32_t me = (int32_t)p->nout++;
    fw_sq_tn *tn = &p->t->n[n];
    fw_sq_out *o = &p->out[me];
    o->tn = n;
    o->parent = parent;
    o->depth = depth;
    for (int k = 0; k < 2; k++) {
        o->total[k] = tn->total[k];
        o->self[k] = tn->self[k];
        o->ctotal[k] = tn->ctotal[k];
        o->cself[k] = tn->cself[k];
    }
    size_t nk = 0;
    for (uint32_t c = tn->first_child; c; c = p->t->n[c].next_sibling)
        nk += p->kept[c];
    fw_sq_rank *kids = nk ? malloc(nk * sizeof *kids) : NULL;
    if (nk && !kids)
        return -1;
    nk = 0;
    for (uint32_t c = tn->first_child; c; c = p->t->n[c].next_sibling)
        if (p->kept[c] && kids)
            kids[nk++] = (fw_sq_rank){p->score[c], c};
    if (nk > 1)
        qsort(kids, nk, sizeof *kids, fw_sq_rank_cmp);
    int64_t rest[2] = {tn->total[0] - tn->self[0], tn->total[1] - tn->self[1]};
    int64_t crest[2] = {tn->ctotal[0] - tn->cself[0], tn->ctotal[1] - tn->cself[1]};
    for (size_t i = 0; i < nk; i++) {
        for (int k = 0; k < 2; k++) {
            rest[k] -= p->t->n[kids[i].idx].total[k];
            crest[k] -= p->t->n[kids[i].idx].ctotal[k];
        }
        if (fw_sq_emit(p, kids[i].idx, me, depth + 1)) {
            free(kids);
            return -1;
        }
    }
    free(kids);
    if (p->unkept[n]) {
        /* The children that did not fit, folded: totals stay exact at every level. */
        assert(p->nout < p->cap);
        fw_sq_out *f = &p->out[p->nout++];
        memset(f, 0, sizeof *f);
        f->tn = FW_SQ_NONE;
        f->parent = me;
        f->depth = depth + 1;
        for (int k = 0; k < 2; k++) {
            f->total[k] = f->self[k] = rest[k];
            f->ctotal[k] = f->cself[k] = crest[k];
        }
    }
    return 0;
}

/* Keeps the max_nodes most important nodes (root and "other" folds included). Importance is the
 * total (or, with two sides, the larger share), which never grows from parent to child, so taking
 * nodes in decreasing order always finds the parent already kept. */
static fw_store_status fw_sq_prune(fw_sq_tree *t, int sides, size_t max_nodes, fw_sq_out **out, size_t *nout)
{
    if (max_nodes == 0)
        max_nodes = 1024;
    if (max_nodes < 2)
        max_nodes = 2;
    fw_sq_pruner p = {t, NULL, NULL, NULL, NULL, 0, 0};
    fw_sq_rank *order = malloc((size_t)t->len * sizeof *order);
    p.score = malloc((size_t)t->len * sizeof *p.score);
    p.kept = calloc(t->len, 1);
    p.unkept = calloc(t->len, sizeof *p.unkept);
    p.cap = max_nodes + 1;
    p.out = malloc(p.cap * sizeof *p.out);
    fw_store_status st = FW_STORE_ERR_NOMEM;
    if (!order || !p.score || !p.kept || !p.unkept || !p.out)
        goto done;
    double r0 = t->n[0].total[0] > 0 ? (double)t->n[0].total[0] : 1.0;
    double r1 = t->n[0].total[1] > 0 ? (double)t->n[0].total[1] : 1.0;
    for (uint32_t i = 0; i < t->len; i++) {
        double a = (double)t->n[i].total[0] / r0, b = (double)t->n[i].total[1] / r1;
        p.score[i] = sides == 1 ? (double)t->n[i].total[0] : (a > b ? a : b);
        order[i] = (fw_sq_rank){p.score[i], i};
        p.unkept[i] = t->n[i].nchild;
    }
    qsort(order + 1, t->len - 1, sizeof *order, fw_sq_rank_cmp);
    p.kept[0] = 1;
    size_t kept = 1, others = t->n[0].nchild ? 1 : 0;
    for (uint32_t j = 1; j < t->len; j++) {
        uint32_t n = order[j].idx, par = t->n[n].parent;
        if (!p.kept[par])
            continue;   /* ties can put a child before an equal parent: skip, still consistent */
        size_t no = others + (t->n[n].nchild ? 1 : 0) - (p.unkept[par] == 1 ? 1 : 0);
        if (kept + 1 + no > max_nodes)
            break;
        p.kept[n] = 1;
        p.unkept[par]--;
        kept++;
        others = no;
    }
    if (fw_sq_emit(&p, 0, -1, 0) == 0) {
        st = FW_STORE_OK;
        *out = p.out;
        *nout = p.nout;
        p.out = NULL;
    }
done:
    free(order);
    free(p.score);
    free(p.kept);
    free(p.unkept);
    free(p.out);
    return st;
}

/* Name, file and line of an output node, copied (the cache may grow once the lock is released). */
static int fw_sq_node_names(const fw_sq_tree *t, const fw_sq_out *o, char **name, char **file, int64_t *line)
{
    const fw_sq_cache *c = t->c;
    const char *nm = "other", *fl = "";
    *line = 0;
    if (o->tn == 0) {
        nm = "total";
    } else if (o->tn != FW_SQ_NONE) {
        uint32_t key = t->n[o->tn].key, fn = key;
        if (t->line) {
            fn = key < c->fr_n ? c->fr_func[key] : 0;
            *line = key < c->fr_n ? c->fr_line[key] : 0;
        }
        nm = fn < c->fn_n && c->fn_name[fn] ? c->fn_name[fn] : "?";
        fl = fn < c->fn_n && c->fn_file[fn] ? c->fn_file[fn] : "";
    }
    *name = fw_sq_strdup(nm);
    *file = fw_sq_strdup(fl);
    return *name && *file ? 0 : -1;
}

static fw_store_status fw_sq_flame(fw_store *base, const fw_store_query *q, const fw_store_tree_opts *opt,
                                  fw_store_tree *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_sq_rows rows = {0};
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_TREE, q, NULL, NULL, &rows, NULL, &out->sql, &out->unit);
    if (st != FW_STORE_OK) {
        free(rows.v);
        fw_store_tree_free(out);
        return st;
    }
    fw_sq_tree t;
    fw_sq_out *o = NULL;
    size_t no = 0;
    pthread_rwlock_rdlock(&s->clock);
    if (fw_sq_tree_init(&t, &s->c, opt->gran == FW_STORE_GRAN_LINE) != 0)
        st = FW_STORE_ERR_NOMEM;
    else
        st = fw_sq_tree_add(&t, &rows, 0);
    if (st == FW_STORE_OK) {
        fw_sq_tree_totals(&t);
        st = fw_sq_prune(&t, 1, opt->max_nodes, &o, &no);
    }
    if (st == FW_STORE_OK) {
        out->nodes = calloc(no, sizeof *out->nodes);
        if (!out->nodes)
            st = FW_STORE_ERR_NOMEM;
    }
    for (size_t i = 0; st == FW_STORE_OK && i < no; i++) {
        fw_store_node *n = &out->nodes[i];
        out->nnodes = i + 1;
        if (fw_sq_node_names(&t, &o[i], &n->name, &n->file, &n->line))
            st = FW_STORE_ERR_NOMEM;
        n->parent = o[i].parent;
        n->depth = o[i].depth;
        n->is_other = o[i].tn == FW_SQ_NONE;
        n->total = o[i].total[0];
        n->self = o[i].self[0];
        n->count_total = o[i].ctotal[0];
        n->count_self = o[i].cself[0];
    }
    pthread_rwlock_unlock(&s->clock);
    fw_sq_tree_free(&t);
    free(o);
    free(rows.v);
    if (st != FW_STORE_OK)
        fw_store_tree_free(out);
    return st;
}

/* Two-proportion z-test on sample counts: is the node's share of samples in cmp different from
 * its share in base by more than binomial sampling noise? */
static double fw_sq_ztest(int64_t b, int64_t nb, int64_t c, int64_t nc)
{
    if (nb <= 0 || nc <= 0)
        return 0.0;
    double p1 = (double)b / (double)nb, p2 = (double)c / (double)nc;
    double p = (double)(b + c) / (double)(nb + nc);
    double se = sqrt(p * (1.0 - p) * (1.0 / (double)nb + 1.0 / (double)nc));
    if (!(se > 0.0))
        return 0.0;
    return (p2 - p1) / se;
}

static fw_store_status fw_sq_diff(fw_store *base, const fw_store_query *bq, const fw_store_query *cq,
                                  const fw_store_tree_opts *opt, fw_store_diff *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_sq_rows rb = {0}, rc = {0};
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_DIFF, bq, cq, NULL, &rb, &rc, &out->sql, &out->unit);
    if (st != FW_STORE_OK) {
        free(rb.v);
        free(rc.v);
        fw_store_diff_free(out);
        return st;
    }
    fw_sq_tree t;
    fw_sq_out *o = NULL;
    size_t no = 0;
    pthread_rwlock_rdlock(&s->clock);
    if (fw_sq_tree_init(&t, &s->c, opt->gran == FW_STORE_GRAN_LINE) != 0)
        st = FW_STORE_ERR_NOMEM;
    if (st == FW_STORE_OK)
        st = fw_sq_tree_add(&t, &rb, 0);
    if (st == FW_STORE_OK)
        st = fw_sq_tree_add(&t, &rc, 1);
    if (st == FW_STORE_OK) {
        fw_sq_tree_totals(&t);
        st = fw_sq_prune(&t, 2, opt->max_nodes, &o, &no);
    }
    if (st == FW_STORE_OK) {
        out->nodes = calloc(no, sizeof *out->nodes);
        if (!out->nodes)
            st = FW_STORE_ERR_NOMEM;
    }
    for (size_t i = 0; st == FW_STORE_OK && i < no; i++) {
        fw_store_diff_node *n = &out->nodes[i];
        out->nnodes = i + 1;
        if (fw_sq_node_names(&t, &o[i], &n->name, &n->file, &n->line))
            st = FW_STORE_ERR_NOMEM;
        n->parent = o[i].parent;
        n->depth = o[i].depth;
        n->is_other = o[i].tn == FW_SQ_NONE;
        n->base_total = o[i].total[0];
        n->base_self = o[i].self[0];
        n->cmp_total = o[i].total[1];
        n->cmp_self = o[i].self[1];
        n->base_count = o[i].ctotal[0];
        n->cmp_count = o[i].ctotal[1];
        n->base_share = o[0].total[0] ? (double)o[i].total[0] / (double)o[0].total[0] : 0.0;
        n->cmp_share = o[0].total[1] ? (double)o[i].total[1] / (double)o[0].total[1] : 0.0;
        n->z = fw_sq_ztest(o[i].ctotal[0], o[0].ctotal[0], o[i].ctotal[1], o[0].ctotal[1]);
        n->significant = n->z >= FW_STORE_Z_SIGNIFICANT ? 1 : n->z <= -FW_STORE_Z_SIGNIFICANT ? -1 : 0;
    }
    pthread_rwlock_unlock(&s->clock);
    fw_sq_tree_free(&t);
    free(o);
    free(rb.v);
    free(rc.v);
    if (st != FW_STORE_OK)
        fw_store_diff_free(out);
    return st;
}

/* ================================================================ table */

static fw_store_sort fw_sq_sort_mode;   /* set under fw_sq_sort_lock for qsort's comparator */
static pthread_mutex_t fw_sq_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int fw_sq_row_cmp(const void *a, const void *b)
{
    const fw_store_row *x = a, *y = b;
    int c;
    if (fw_sq_sort_mode == FW_STORE_SORT_SELF) {
        if (x->self != y->self)
            return x->self > y->self ? -1 : 1;
        if (x->total != y->total)
            return x->total > y->total ? -1 : 1;
    } else if (fw_sq_sort_mode == FW_STORE_SORT_TOTAL) {
        if (x->total != y->total)
            return x->total > y->total ? -1 : 1;
        if (x->self != y->self)
            return x->self > y->self ? -1 : 1;
    }
    if ((c = strcmp(x->name, y->name)) != 0)
        return c;
    if ((c = strcmp(x->file, y->file)) != 0)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static fw_store_status fw_sq_table(fw_store *base, const fw_store_query *q, const fw_store_table_opts *opt,
                                   fw_store_table *out)
{
    fw_sq *s = (fw_sq *)base;
    fw_sq_rows rows = {0};
    fw_store_status st = fw_sq_query_rows(s, FW_STORE_SQL_TABLE, q, NULL, opt, &rows, NULL, &out->sql, &out->unit);
    if (st != FW_STORE_OK) {
        free(rows.v);
        fw_store_table_free(out);
        return st;
    }
    int line = opt->gran == FW_STORE_GRAN_LINE;
    pthread_rwlock_rdlock(&s->clock);
    const fw_sq_cache *c = &s->c;
    uint32_t nk = line ? c->fr_n : c->fn_n;
    int64_t *acc = calloc((size_t)nk * 4, sizeof *acc);   /* self, total, cself, ctotal per key */
    uint32_t *stamp = calloc(nk, sizeof *stamp);
    if (!acc || !stamp)
        st = FW_STORE_ERR_NOMEM;
    for (size_t i = 0; st == FW_STORE_OK && i < rows.n; i++) {
        uint32_t sid = rows.v[i].stack, mark = (uint32_t)(i + 1);
        if (sid < c->st_n && !c->st_frame[sid])
            continue;   /* forgotten by the dimension GC after the snapshot (see fw_sq_tree_add) */
        out->grand_total = fw_sq_sat_add(out->grand_total, rows.v[i].value);
        for (int leaf = 1; sid != 0; leaf = 0) {
            if (sid >= c->st_n || c->st_frame[sid] >= c->fr_n) {
                st = FW_STORE_ERR_IO;
                break;
            }
            uint32_t fr = c->st_frame[sid];
            uint32_t key = line ? fr : c->fr_func[fr];
            if (key >= nk) {
                st = FW_STORE_ERR_IO;
                break;
            }
            if (leaf) {
                acc[(size_t)key * 4] = fw_sq_sat_add(acc[(size_t)key * 4], rows.v[i].value);
                acc[(size_t)key * 4 + 2] = fw_sq_sat_add(acc[(size_t)key * 4 + 2], rows.v[i].count);
            }
            if (stamp[key] != mark) {   /* once per stack: recursion does not double the total */
                stamp[key] = mark;
                acc[(size_t)key * 4 + 1] = fw_sq_sat_add(acc[(size_t)key * 4 + 1], rows.v[i].value);
                acc[(size_t)key * 4 + 3] = fw_sq_sat_add(acc[(size_t)key * 4 + 3], rows.v[i].count);
            }
            sid = c->st_parent[sid];
        }
    }
    size_t n = 0;
    for (uint32_t k = 1; st == FW_STORE_OK && k < nk; k++)
        n += acc[(size_t)k * 4 + 3] != 0 || acc[(size_t)k * 4 + 1] != 0;
    if (st == FW_STORE_OK && n) {
        out->rows = calloc(n, sizeof *out->rows);
        if (!out->rows)
            st = FW_STORE_ERR_NOMEM;
    }
    for (uint32_t k = 1; st == FW_STORE_OK && k < nk; k++) {
        if (acc[(size_t)k * 4 + 3] == 0 && acc[(size_t)k * 4 + 1] == 0)
            continue;
        fw_store_row *r = &out->rows[out->nrows++];
        uint32_t fn = line ? c->fr_func[k] : k;
        r->line = line ? c->fr_line[k] : 0;
        r->name = fw_sq_strdup(fn < c->fn_n && c->fn_name[fn] ? c->fn_name[fn] : "?");
        r->file = fw_sq_strdup(fn < c->fn_n && c->fn_file[fn] ? c->fn_file[fn] : "");
        r->self = acc[(size_t)k * 4];
        r->total = acc[(size_t)k * 4 + 1];
        r->count_self = acc[(size_t)k * 4 + 2];
        r->count_total = acc[(size_t)k * 4 + 3];
        if (!r->name || !r->file)
            st = FW_STORE_ERR_NOMEM;
    }
    pthread_rwlock_unlock(&s->clock);
    free(acc);
    free(stamp);
    free(rows.v);
    if (st == FW_STORE_OK) {
        pthread_mutex_lock(&fw_sq_sort_lock);
        fw_sq_sort_mode = opt->sort;
        if (out->nrows > 1)
            qsort(out->rows, out->nrows, sizeof *out->rows, fw_sq_row_cmp);
        pthread_mutex_unlock(&fw_sq_sort_lock);
        if (opt->limit && out->nrows > opt->limit) {
            for (size_t i = opt->limit; i < out->nrows; i++) {
                free(out->rows[i].name);
                free(out->rows[i].file);
            }
            out->nrows = opt->limit;
        }
    } else {
        fw_store_table_free(out);
    }
    return st;
}

/* ================================================================ trend, labels, applications */

static fw_store_status fw_sq_trend(fw_store *base, const fw_store_query *q, int64_t step, fw_store_trend *out)
{
    fw_sq *s = (fw_sq *)base;
    if (step == 0)
        step = fw_sq_auto_step(q->until - q->from);
    step = (step + FW_SQ_BUCKET - 1) / FW_SQ_BUCKET * FW_SQ_BUCKET;   /* whole raw buckets */
    int64_t t0 = fw_sq_floor(q->from, step);
    int64_t npts = (q->until - t0 + step - 1) / step;
    if (npts <= 0 || npts > 100000)
        return FW_STORE_ERR_INVALID;
    out->step_s = step;
    out->points = calloc((size_t)npts, sizeof *out->points);
    if (!out->points)
        return FW_STORE_ERR_NOMEM;
    out->npoints = (size_t)npts;
    for (int64_t i = 0; i < npts; i++)
        out->points[i].t = t0 + i * step;

    int ri = fw_sq_reader_get(s);
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, q, &snap);
    if (st == FW_STORE_OK) {
        out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_TREND, q, NULL, step, NULL, 0));
        out->unit = snap.unit;
        snap.unit = NULL;
        if (!out->sql)
            st = FW_STORE_ERR_NOMEM;
    }
    sqlite3_stmt *stt = NULL;
    int rc = st == FW_STORE_OK ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_OK;
    while (st == FW_STORE_OK && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        int64_t i = (sqlite3_column_int64(stt, 0) - t0) / step;
        if (i >= 0 && i < npts) {
            out->points[i].value = fw_sq_sat_add(out->points[i].value, sqlite3_column_int64(stt, 1));
            out->points[i].count = fw_sq_sat_add(out->points[i].count, sqlite3_column_int64(stt, 2));
        }
    }
    if (st == FW_STORE_OK && rc != SQLITE_DONE)
        st = fw_sq_status(rc);
    sqlite3_finalize(stt);
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_trend_free(out);
    return st;
}

static fw_store_status fw_sq_labels(fw_store *base, const fw_store_query *q, fw_store_labels *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, q, &snap);
    if (st == FW_STORE_OK) {
        out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_LABELS, q, NULL, 0, NULL, 0));
        if (!out->sql)
            st = FW_STORE_ERR_NOMEM;
    }
    sqlite3_stmt *stt = NULL;
    int rc = st == FW_STORE_OK ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_OK;
    while (st == FW_STORE_OK && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(stt, 0), *v = (const char *)sqlite3_column_text(stt, 1);
        /* Rows come sorted by key: a new key starts a new entry. */
        if (!out->nkeys || strcmp(out->keys[out->nkeys - 1].key, k) != 0) {
            fw_store_label_key *nk = realloc(out->keys, (out->nkeys + 1) * sizeof *nk);
            if (!nk) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
            out->keys = nk;
            memset(&nk[out->nkeys], 0, sizeof *nk);
            nk[out->nkeys].key = fw_sq_strdup(k);
            out->nkeys++;
            if (!nk[out->nkeys - 1].key) {
                st = FW_STORE_ERR_NOMEM;
                break;
            }
        }
        fw_store_label_key *lk = &out->keys[out->nkeys - 1];
        char **nv = realloc(lk->values, (lk->nvalues + 1) * sizeof *nv);
        if (!nv) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        lk->values = nv;
        if (!(nv[lk->nvalues] = fw_sq_strdup(v))) {
            st = FW_STORE_ERR_NOMEM;
            break;
        }
        lk->nvalues++;
    }
    if (st == FW_STORE_OK && rc != SQLITE_DONE)
        st = fw_sq_status(rc);
    sqlite3_finalize(stt);
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_labels_free(out);
    return st;
}

static fw_store_status fw_sq_apps(fw_store *base, fw_store_apps *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap = {{0}, NULL};
    fw_store_status st = FW_STORE_OK;
    out->sql = fw_sq_take(fw_sq_build(&snap, FW_STORE_SQL_APPS, NULL, NULL, 0, NULL, 0));
    sqlite3_stmt *stt = NULL;
    int rc = out->sql ? sqlite3_prepare_v2(db, out->sql, -1, &stt, NULL) : SQLITE_NOMEM;
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(stt)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(stt, 0);
        if (!out->napps || strcmp(out->apps[out->napps - 1].app, app) != 0) {
            fw_store_app *na = realloc(out->apps, (out->napps + 1) * sizeof *na);
            if (!na) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->apps = na;
            memset(&na[out->napps], 0, sizeof *na);
            na[out->napps++].app = fw_sq_strdup(app);
            if (!na[out->napps - 1].app) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        fw_store_app *a = &out->apps[out->napps - 1];
        fw_store_type_info *nt = realloc(a->types, (a->ntypes + 1) * sizeof *nt);
        if (!nt) {
            rc = SQLITE_NOMEM;
            break;
        }
        a->types = nt;
        const char *ty = (const char *)sqlite3_column_text(stt, 1);
        fw_store_type_info *ti = &nt[a->ntypes++];
        ti->type = fw_sq_strdup(ty);
        ti->unit = fw_sq_strdup((const char *)sqlite3_column_text(stt, 2));
        ti->description = fw_sq_strdup(fw_store_type_description(ty));
        if (!ti->type || !ti->unit || !ti->description) {
            rc = SQLITE_NOMEM;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        st = fw_sq_status(rc == SQLITE_OK ? SQLITE_ERROR : rc);
    sqlite3_finalize(stt);
    fw_sq_reader_put(s, ri);
    if (st != FW_STORE_OK)
        fw_store_apps_free(out);
    return st;
}

static fw_store_status fw_sq_sql_text(fw_store *base, fw_store_sql_kind kind, const fw_store_query *q,
                                      const fw_store_query *cmp, int64_t step,
                                      const fw_store_table_opts *topt, char **out)
{
    fw_sq *s = (fw_sq *)base;
    if (kind == FW_STORE_SQL_TREND) {
        if (step == 0)
            step = fw_sq_auto_step(q->until - q->from);
        step = (step + FW_SQ_BUCKET - 1) / FW_SQ_BUCKET * FW_SQ_BUCKET;
    }
    int ri = fw_sq_reader_get(s);
    sqlite3 *db = s->r[ri];
    fw_sq_snap snap;
    fw_store_status st = fw_sq_begin(db, NULL, &snap);
    if (st == FW_STORE_OK) {
        *out = fw_sq_take(fw_sq_build(&snap, kind, q, cmp, step, topt, 0));
        if (!*out)
            st = FW_STORE_ERR_NOMEM;
    }
    fw_sq_end(db, &snap);
    fw_sq_reader_put(s, ri);
    return st;
}

/* ================================================================ read-only SQL */

/* The console has connections of its own (fw_store_sql_console.c), apart from the pool. */
static fw_store_status fw_sq_sql_run(fw_store *base, const char *sql, const fw_store_sql_limits *lim,
                                     fw_store_sql_result *out, char *err, size_t errlen)
{
    return fw_sqc_run(((fw_sq *)base)->con, sql, lim, out, err, errlen);
}

/* ================================================================ settings, agents, stats */

static fw_store_status fw_sq_settings_get(fw_store *base, const char *app, fw_store_settings *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r[ri],
                                "SELECT enabled, cpu, cpu_interval_ms, wall, memory, memory_threshold_kb,"
                                " updated_at FROM settings WHERE app = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->enabled = sqlite3_column_int(st, 0);
            out->cpu = sqlite3_column_int(st, 1);
            out->cpu_interval_ms = sqlite3_column_int(st, 2);
            out->wall = sqlite3_column_int(st, 3);
            out->memory = sqlite3_column_int(st, 4);
            out->memory_threshold_kb = sqlite3_column_int(st, 5);
            out->updated_at = sqlite3_column_int64(st, 6);
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    fw_sq_reader_put(s, ri);
    return fw_sq_status(rc);
}

static fw_store_status fw_sq_write1(fw_sq *s, const char *sql, const char *t1, const char *t2,
                                    const int64_t *ints, int nints)
{
    pthread_mutex_lock(&s->wlock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->w, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        int k = 1;
        sqlite3_bind_text(st, k++, t1, -1, SQLITE_STATIC);
        if (t2)
            sqlite3_bind_text(st, k++, t2, -1, SQLITE_STATIC);
        for (int i = 0; i < nints; i++)
            sqlite3_bind_int64(st, k++, ints[i]);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wlock);
    return fw_sq_status(rc);
}

static fw_store_status fw_sq_settings_put(fw_store *base, const char *app, const fw_store_settings *v,
                                          int64_t now_s)
{
    int64_t ints[] = {v->enabled, v->cpu, v->cpu_interval_ms, v->wall, v->memory, v->memory_threshold_kb, now_s};
    return fw_sq_write1((fw_sq *)base,
                        "INSERT OR REPLACE INTO settings(app, enabled, cpu, cpu_interval_ms, wall, memory,"
                        " memory_threshold_kb, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        app, NULL, ints, 7);
}

static fw_store_status fw_sq_agent_seen(fw_store *base, const char *app, const char *host, int64_t pid,
                                        int64_t upd, int64_t now_s)
{
    int64_t ints[] = {pid, now_s, upd};
    return fw_sq_write1((fw_sq *)base,
                        "INSERT OR REPLACE INTO agents(app, host, pid, last_fetch, settings_updated_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)", app, host, ints, 3);
}

static fw_store_status fw_sq_agents_list(fw_store *base, const char *app, fw_store_agents *out)
{
    fw_sq *s = (fw_sq *)base;
    int ri = fw_sq_reader_get(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r[ri],
                                "SELECT host, pid, last_fetch, settings_updated_at FROM agents WHERE app = ?1"
                                " ORDER BY last_fetch DESC, host, pid", -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fw_store_agent *na = realloc(out->agents, (out->nagents + 1) * sizeof *na);
        if (!na) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->agents = na;
        fw_store_agent *a = &na[out->nagents++];
        a->host = fw_sq_strdup((const char *)sqlite3_column_text(st, 0));
        a->pid = sqlite3_column_int64(st, 1);
        a->last_fetch = sqlite3_column_int64(st, 2);
        a->settings_updated_at = sqlite3_column_int64(st, 3);
        rc = a->host ? SQLITE_OK : SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    fw_sq_reader_put(s, ri);
    fw_store_status r = fw_sq_status(rc == SQLITE_DONE ? SQLITE_DONE : (rc == SQLITE_OK ? SQLITE_ERROR : rc));
    if (r != FW_STORE_OK)
        fw_store_agents_free(out);
    return r;
}

static int64_t fw_sq_file_size(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat sb;
    if ((size_t)snprintf(buf, sizeof buf, "%s%s", path, suffix) >= sizeof buf || stat(buf, &sb) != 0)
        return 0;
    return (int64_t)sb.st_size;
}

static fw_store_status fw_sq_stats(fw_store *base, fw_store_stats *out)
{
    fw_sq *s = (fw_sq *)base;
    out->size_bytes = fw_sq_file_size(s->path, "") + fw_sq_file_size(s->path, "-wal");
    int ri = fw_sq_reader_get(s);
    int rc = fw_sq_meta_get(s->r[ri], "profiles", &out->profiles);
    if (rc == SQLITE_OK)
        rc = fw_sq_meta_get(s->r[ri], "stack_values", &out->stack_values);
    if (rc == SQLITE_OK)
        rc = fw_sq_meta_get(s->r[ri], "raw_rows", &out->rows);
    fw_sq_reader_put(s, ri);
    pthread_rwlock_rdlock(&s->clock);
    out->stacks = (int64_t)s->c.st_map.n;   /* ids have holes once the dimension GC ran */
    pthread_rwlock_unlock(&s->clock);
    return fw_sq_status(rc);
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
