/*
 * fw_store_dims.h: the dimension cache: every function, frame, stack and label set of a store,
 * in memory, by id and by content (backend-neutral, internal to store/).
 *
 * Promises: ids start at 1 (0 means "none", or the root for a stack's parent); index i of each
 * array holds the content of id i, or NULL/0 where an id was never assigned or was forgotten; the
 * maps find an id from its content (fw_map_find with the key types and eq/hash functions below).
 * A stack is a trie node (parent stack, leaf frame); pa_map finds a whole call path in one probe.
 * The cache does no locking: its owner (a backend) serializes writers and keeps readers out while
 * the arrays grow. After a failed write the owner cuts the arrays back (fw_dims_truncate) and
 * rebuilds the maps (fw_dims_reindex), so the cache never holds an id the backend does not.
 *
 * Why a cache at all: interning a stack frame by frame through the database would cost more than
 * storing the samples, so the backend assigns ids itself, from here; queries turn stack ids back
 * into frames from the same arrays when they build trees and tables.
 */
#ifndef FW_STORE_DIMS_H
#define FW_STORE_DIMS_H

#include <stdint.h>
#include <string.h>

#include "fw_store_map.h"

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
    fw_map fn_map, fr_map, st_map, ls_map;
    /* Whole call path (root..node, as frame ids) -> stack node. Resolving a known stack is then
     * one probe plus a walk up the trie that verifies it (nodes of one stack were usually created
     * together, so the walk stays in a few cache lines), instead of one random probe of st_map per
     * frame. Every node is in it, so it can be rebuilt from the arrays alone. */
    fw_map pa_map;
} fw_dims;


typedef struct { const char *name, *file; } fw_dims_fnkey;
typedef struct { uint32_t func; int64_t line; } fw_dims_frkey;
typedef struct { uint32_t parent, frame; } fw_dims_stkey;

static inline int fw_dims_fn_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_dims *c = ctx;
    const fw_dims_fnkey *k = key;
    return strcmp(c->fn_name[id], k->name) == 0 && strcmp(c->fn_file[id], k->file) == 0;
}
static inline int fw_dims_fr_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_dims *c = ctx;
    const fw_dims_frkey *k = key;
    return c->fr_func[id] == k->func && c->fr_line[id] == k->line;
}
static inline int fw_dims_st_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_dims *c = ctx;
    const fw_dims_stkey *k = key;
    return c->st_parent[id] == k->parent && c->st_frame[id] == k->frame;
}
static inline int fw_dims_ls_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_dims *c = ctx;
    return strcmp(c->ls_text[id], (const char *)key) == 0;
}

static inline uint64_t fw_dims_fn_hash(const char *name, const char *file)
{
    return fw_hash_bytes(file, strlen(file), fw_hash_bytes(name, strlen(name), 0));
}
static inline uint64_t fw_dims_fr_hash(uint32_t func, int64_t line) { return fw_hash_u64x2(func, (uint64_t)line); }
static inline uint64_t fw_dims_st_hash(uint32_t parent, uint32_t frame) { return fw_hash_u64x2(parent, frame); }
static inline uint64_t fw_dims_ls_hash(const char *t) { return fw_hash_bytes(t, strlen(t), 7); }
/* Path hash of a node from its parent's: the root (id 0) has path hash 0. */
static inline uint64_t fw_dims_pa_hash(uint64_t parent_h, uint32_t frame)
{
    return fw_hash_u64x2(parent_h ^ 0x5851f42d4c957f2dull, frame);
}

typedef struct { const uint32_t *frames; size_t depth; } fw_dims_pakey;   /* frames root first */

static inline int fw_dims_pa_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_dims *c = ctx;
    const fw_dims_pakey *k = key;
    for (size_t d = k->depth; d-- > 0;) {
        if (!id || id >= c->st_n || c->st_frame[id] != k->frames[d])
            return 0;
        id = c->st_parent[id];
    }
    return id == 0;
}

/* Rebuilds every map from the arrays. 0, or -1 when out of memory. */
int fw_dims_reindex(fw_dims *c);
/* Cuts the arrays back to the given sizes (ids >= size are forgotten). */
void fw_dims_truncate(fw_dims *c, uint32_t fn_n, uint32_t fr_n, uint32_t st_n, uint32_t ls_n);
void fw_dims_free(fw_dims *c);
/* Slot setters, for loading and for interning; they grow the arrays. 0, or -1 (out of memory). */
int fw_dims_set_fn(fw_dims *c, uint32_t id, const char *name, const char *file);
int fw_dims_set_fr(fw_dims *c, uint32_t id, uint32_t func, int64_t line);
int fw_dims_set_st(fw_dims *c, uint32_t id, uint32_t parent, uint32_t frame);
int fw_dims_set_ls(fw_dims *c, uint32_t id, const char *text);

#endif
