/*
 * fw_store_dims.h: the dimension cache: functions, frames, stacks and label sets of a store, a
 * bounded number of them in memory, by id and by content (backend-neutral, internal to store/).
 *
 * Why a cache at all: interning a stack frame by frame through the database would cost more than
 * storing the samples, so the backend assigns ids itself and finds known content here; queries
 * turn stack ids back into frames from here when they build trees and tables.
 *
 * Why bounded: ids are never reused, and a service that puts ids or generated names in its
 * function names makes new ones all day (five uploads of 100,000 unique names used to cost the
 * server 484 MB, reloaded at every start). So the cache holds entries, not arrays indexed by id:
 * each entry is (kind, id, content) in a slot, found by id (idm), by content (cm) and, for stacks,
 * by whole call path (pam, one probe per sample for a known stack). Its bytes (slots, maps, strings) stay under a budget: inserting past
 * it evicts with CLOCK (a reference bit per entry, set by every hit, cleared by the hand as it
 * passes; the first entry found clear goes). A miss asks the backend (fw_dims_src: the database,
 * on the connection and snapshot of the caller) and keeps what it found. Memory is then a
 * function of the budget, never of how many ids were ever assigned, and opening loads nothing.
 *
 * Promises: ids start at 1 (0 means "none", or the root for a stack's parent); fw_dims_find and
 * fw_dims_get answer exactly what the backend's source would (the cache only saves the trip);
 * `complete[kind]` (set by the backend when it knows the cache holds every entry of a kind, e.g.
 * an empty table at open) lets a miss answer "absent" without asking, until the first eviction of
 * that kind. Values fw_dims_get returns (strings included) stay valid until the next call into the
 * cache. The cache does no locking: its owner serializes every call (they all may evict or load).
 *
 * Staleness: a reader loads from its own snapshot, which may still hold rows the dimension GC has
 * deleted since. The GC forgets what it deleted and bumps `epoch` after its commit; a source
 * carries the epoch read before its snapshot began, and what it loads is used but not kept when
 * the epochs differ, so the cache never holds an id the database no longer has.
 */
#ifndef FW_STORE_DIMS_H
#define FW_STORE_DIMS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fw_store_map.h"

enum { FW_DIM_FN = 0, FW_DIM_FR = 1, FW_DIM_ST = 2, FW_DIM_LS = 3, FW_DIM_KINDS = 4 };

/* The content of an entry: a function (s1 name, s2 file), a frame (a function id, line), a stack
 * (a parent stack, b leaf frame) or a label set (s1 its canonical text). */
typedef struct {
    uint32_t a, b;
    int64_t line;
    const char *s1, *s2;
} fw_dims_val;

/* Where misses are answered: the backend, on the caller's connection. Each returns 1 (found),
 * 0 (absent) or -1 (error); strings it returns stay valid until its next call. */
typedef struct fw_dims_src fw_dims_src;
struct fw_dims_src {
    int (*by_id)(fw_dims_src *src, int kind, uint32_t id, fw_dims_val *out);
    int (*by_val)(fw_dims_src *src, int kind, const fw_dims_val *v, uint32_t *id);
    uint64_t epoch;   /* the cache's epoch before the source's snapshot began */
};

typedef struct {
    uint32_t id;               /* 0: a free slot */
    uint8_t kind, ref, in_pa;
    uint32_t a, b;
    int64_t line;
    uint64_t ph, ph2;          /* stacks: the call path's two hashes, when in_pa */
    char *s1, *s2;             /* one allocation: s2 points into it */
} fw_dims_ent;

typedef struct {
    fw_dims_ent *e;
    uint32_t cap, top, nused, hand;
    uint32_t max_entries;      /* fixed by the budget: the slot array and maps stay within half */
    uint32_t *freel;
    uint32_t nfree, freecap;
    fw_map idm, cm[FW_DIM_KINDS], pam;   /* map ids are slot + 1; cm per kind */
    size_t budget, str_bytes;
    uint64_t epoch;
    unsigned char complete[FW_DIM_KINDS];
    uint64_t hits, misses, evictions;
    char *scratch;             /* strings of a loaded value that was not kept */
} fw_dims;

/* A budget below this is raised to it: the cache must hold at least one deep stack. */
#define FW_DIMS_MIN_BUDGET ((size_t)1 << 20)
/* A string's allocator overhead, counted with its bytes. */
#define FW_DIMS_STR_OVERHEAD 16

void fw_dims_init(fw_dims *c, size_t budget);
void fw_dims_free(fw_dims *c);
/* Bytes the cache holds now (slots, maps, strings), what the budget bounds. */
size_t fw_dims_bytes(const fw_dims *c);

/* A stack's whole call path, root to leaf, as two independent 64-bit hashes chained frame by
 * frame (fw_dims_path_step from {0, 0}, the root). A path is found by both (a false match needs a
 * collision of 128 bits); walking the trie to verify it instead cost a cache miss per frame, a
 * third of ingest. */
typedef struct { uint64_t h, h2; } fw_dims_path;

static inline void fw_dims_path_step(fw_dims_path *p, uint32_t frame)
{
    p->h = fw_hash_u64x2(p->h ^ 0x5851f42d4c957f2dull, frame);
    p->h2 = fw_hash_u64x2((uint64_t)frame * 0xd6e8feb86659fd93ull, p->h2 + 0x2545f4914f6cdd1dull);
}

/* content -> id. For stacks, `path` (may be NULL) is the stack's call path, recorded so that
 * fw_dims_find_path finds it. 1 found, 0 absent, -1 error (source or out of memory). */
int fw_dims_find(fw_dims *c, fw_dims_src *src, int kind, const fw_dims_val *v, const fw_dims_path *path,
                 uint32_t *id);
/* Records a new (id, content) the backend has just stored. 0, or -1 when out of memory. */
int fw_dims_add(fw_dims *c, int kind, uint32_t id, const fw_dims_val *v, const fw_dims_path *path);
/* id -> content. 1 found (out valid until the next call), 0 absent, -1 error. */
int fw_dims_get(fw_dims *c, fw_dims_src *src, int kind, uint32_t id, fw_dims_val *out);
/* The cached stack with this call path and leaf frame, or 0 (the caller then walks the trie with
 * fw_dims_find). */
uint32_t fw_dims_find_path(fw_dims *c, const fw_dims_path *path, uint32_t leaf_frame);
/* Forgets one entry (the backend deleted it), or every entry whose id is >= next[kind] (a
 * rolled-back transaction). */
void fw_dims_forget(fw_dims *c, int kind, uint32_t id);
void fw_dims_forget_from(fw_dims *c, const uint32_t next[FW_DIM_KINDS]);

static inline uint64_t fw_dims_fn_hash(const char *name, const char *file)
{
    return fw_hash_bytes(file, strlen(file), fw_hash_bytes(name, strlen(name), 0));
}

#endif
