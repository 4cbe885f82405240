/*
 * fw_store_idmap.h: a map from a non-zero 32-bit id to a 32-bit value, or a set of such ids
 * (backend-neutral, internal to store/).
 *
 * For what a query or a GC pass keys by id: a tree's node per stack, a table's row per function,
 * the stacks a GC found live. Ids are never reused and have holes, so an array indexed by id would
 * cost memory for every id ever assigned; this costs memory only for the ids actually put.
 * Open addressing with linear probing, keys and values side by side, grown at half full.
 */
#ifndef FW_STORE_IDMAP_H
#define FW_STORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct fw_idmap_s {
    uint32_t *kv;       /* 2 * cap: key (0 = empty), value */
    size_t cap, n;
} fw_idmap;

static inline size_t fw_idmap_slot(uint32_t k, size_t cap)
{
    uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

/* The value of id k, or `none` when absent. */
static inline uint32_t fw_idmap_get(const fw_idmap *m, uint32_t k, uint32_t none)
{
    if (!m->cap || !k)
        return none;
    for (size_t i = fw_idmap_slot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->kv[2 * i] == k)
            return m->kv[2 * i + 1];
        if (!m->kv[2 * i])
            return none;
    }
}

static inline int fw_idmap_grow(fw_idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    uint32_t *nkv = calloc(2 * ncap, sizeof *nkv);
    if (!nkv)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        uint32_t k = m->kv[2 * i];
        if (!k)
            continue;
        size_t j = fw_idmap_slot(k, ncap);
        while (nkv[2 * j])
            j = (j + 1) & (ncap - 1);
        nkv[2 * j] = k;
        nkv[2 * j + 1] = m->kv[2 * i + 1];
    }
    free(m->kv);
    m->kv = nkv;
    m->cap = ncap;
    return 0;
}

/* Sets id k (not 0) to v, adding it when absent. 0, or -1 when out of memory. */
static inline int fw_idmap_put(fw_idmap *m, uint32_t k, uint32_t v)
{
    if (!k)
        return -1;
    if ((m->n + 1) * 2 > m->cap && fw_idmap_grow(m) != 0)
        return -1;
    size_t i = fw_idmap_slot(k, m->cap);
    while (m->kv[2 * i] && m->kv[2 * i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->kv[2 * i])
        m->n++;
    m->kv[2 * i] = k;
    m->kv[2 * i + 1] = v;
    return 0;
}

static inline void fw_idmap_free(fw_idmap *m)
{
    free(m->kv);
    m->kv = NULL;
    m->cap = m->n = 0;
}

#endif
