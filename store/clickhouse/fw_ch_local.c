/*
 * fw_ch_local.c: a query's own dimension table (the ClickHouse backend).
 *
 * ClickHouse ids are 64-bit content hashes, and a stack is stored whole (its frames root to leaf);
 * the shared tree and table builders (fw_store_tree.h, fw_store_table.h) read 32-bit ids of
 * functions, frames and trie nodes through a dimension cache (fw_store_dims.h). So each query
 * turns the stacks it read into a small trie of its own: functions interned by content id,
 * frames by (function, line), nodes by (parent, frame), ids dense from 1. Its fw_dims_src answers
 * the cache's misses from these arrays, so the builders see exactly what SQLite's would: the
 * same names, files and lines under the same call paths. It lives for one query and is never
 * shared, so it needs no lock.
 */
#include "fw_ch.h"

#include <stdlib.h>
#include <string.h>

static int fw_ch_local_by_id(fw_dims_src *src, int kind, uint32_t id, fw_dims_val *out)
{
    const fw_ch_local *l = (const fw_ch_local *)src;
    memset(out, 0, sizeof *out);
    switch (kind) {
    case FW_DIM_FN:
        if (id == 0 || id >= l->fn_n)
            return 0;
        out->s1 = l->fn_name[id];
        out->s2 = l->fn_file[id];
        return 1;
    case FW_DIM_FR:
        if (id == 0 || id >= l->fr_n)
            return 0;
        out->a = l->fr_fn[id];
        out->line = l->fr_line[id];
        return 1;
    case FW_DIM_ST:
        if (id == 0 || id >= l->st_n)
            return 0;
        out->a = l->st_parent[id];
        out->b = l->st_frame[id];
        return 1;
    default:
        return 0;
    }
}

/* The builders only ever ask by id: content lookups are this file's own (below). */
static int fw_ch_local_by_val(fw_dims_src *src, int kind, const fw_dims_val *v, uint32_t *id)
{
    (void)src;
    (void)kind;
    (void)v;
    *id = 0;
    return 0;
}

void fw_ch_local_init(fw_ch_local *l)
{
    memset(l, 0, sizeof *l);
    l->src.by_id = fw_ch_local_by_id;
    l->src.by_val = fw_ch_local_by_val;
    l->fn_n = l->fr_n = l->st_n = 1;   /* id 0 is "none" (and the root, as a parent) */
}

void fw_ch_local_free(fw_ch_local *l)
{
    for (uint32_t i = 0; i < l->fn_n && l->fn_name; i++) {
        free(l->fn_name[i]);
        free(l->fn_file[i]);
    }
    free(l->fn_name);
    free(l->fn_file);
    free(l->fr_fn);
    free(l->fr_line);
    free(l->st_parent);
    free(l->st_frame);
    fw_map_free(&l->fr_map);
    fw_map_free(&l->st_map);
    fw_ch_idmap_free(&l->fn_ids);
    memset(l, 0, sizeof *l);
}

uint32_t fw_ch_local_fn(fw_ch_local *l, uint64_t content_id, const char *name, const char *file)
{
    uint32_t id = fw_ch_idmap_get(&l->fn_ids, content_id);
    if (id)
        return id;
    id = l->fn_n;
    uint32_t cap = l->fn_cap;
    if (fw_array_reserve((void **)&l->fn_name, sizeof *l->fn_name, &cap, id) != 0)
        return 0;
    cap = l->fn_cap;
    if (fw_array_reserve((void **)&l->fn_file, sizeof *l->fn_file, &cap, id) != 0)
        return 0;
    l->fn_cap = cap;
    l->fn_name[id] = strdup(name);
    l->fn_file[id] = strdup(file);
    if (!l->fn_name[id] || !l->fn_file[id] || fw_ch_idmap_put(&l->fn_ids, content_id, id) != 0) {
        free(l->fn_name[id]);
        free(l->fn_file[id]);
        l->fn_name[id] = l->fn_file[id] = NULL;
        return 0;
    }
    l->fn_n = id + 1;
    return id;
}

typedef struct {
    uint32_t a;
    int64_t b;
} fw_ch_local_key;

static int fw_ch_local_fr_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_ch_local *l = ctx;
    const fw_ch_local_key *k = key;
    return l->fr_fn[id] == k->a && l->fr_line[id] == k->b;
}

static int fw_ch_local_st_eq(const void *ctx, uint32_t id, const void *key)
{
    const fw_ch_local *l = ctx;
    const fw_ch_local_key *k = key;
    return l->st_parent[id] == k->a && (int64_t)l->st_frame[id] == k->b;
}

uint32_t fw_ch_local_frame(fw_ch_local *l, uint32_t fn, int64_t line)
{
    fw_ch_local_key k = {fn, line};
    uint64_t h = fw_hash_u64x2(fn, (uint64_t)line);
    uint32_t id = fw_map_find(&l->fr_map, h, fw_ch_local_fr_eq, l, &k);
    if (id)
        return id;
    id = l->fr_n;
    uint32_t cap = l->fr_cap;
    if (fw_array_reserve((void **)&l->fr_fn, sizeof *l->fr_fn, &cap, id) != 0)
        return 0;
    cap = l->fr_cap;
    if (fw_array_reserve((void **)&l->fr_line, sizeof *l->fr_line, &cap, id) != 0)
        return 0;
    l->fr_cap = cap;
    l->fr_fn[id] = fn;
    l->fr_line[id] = line;
    if (fw_map_put(&l->fr_map, h, id) != 0)
        return 0;
    l->fr_n = id + 1;
    return id;
}

uint32_t fw_ch_local_node(fw_ch_local *l, uint32_t parent, uint32_t frame)
{
    fw_ch_local_key k = {parent, frame};
    uint64_t h = fw_hash_u64x2(((uint64_t)parent << 32) | frame, 0x9d2c5680u);
    uint32_t id = fw_map_find(&l->st_map, h, fw_ch_local_st_eq, l, &k);
    if (id)
        return id;
    id = l->st_n;
    uint32_t cap = l->st_cap;
    if (fw_array_reserve((void **)&l->st_parent, sizeof *l->st_parent, &cap, id) != 0)
        return 0;
    cap = l->st_cap;
    if (fw_array_reserve((void **)&l->st_frame, sizeof *l->st_frame, &cap, id) != 0)
        return 0;
    l->st_cap = cap;
    l->st_parent[id] = parent;
    l->st_frame[id] = frame;
    if (fw_map_put(&l->st_map, h, id) != 0)
        return 0;
    l->st_n = id + 1;
    return id;
}
