/*
 * fw_store_map.c: the slow paths of the store's hash map (growing, clearing, freeing) and of its
 * parallel arrays; the probe itself is inline in fw_store_map.h.
 *
 * Design: open addressing with linear probing over 8-byte slots (hash tag, id), grown at half
 * full. Growing re-slots every entry by its tag (the low 32 bits of the hash, which are also the
 * table index for tables up to 2^32 slots), so no key is read and no hash recomputed.
 */
#include "fw_store_map.h"

#include <stdlib.h>

int fw_map_grow(fw_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    if (ncap > ((size_t)1 << 32))
        return -1;
    fw_map_slot *ns = calloc(ncap, sizeof *ns);
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

void fw_map_del(fw_map *m, uint64_t h, uint32_t id)
{
    if (!m->cap)
        return;
    size_t mask = m->cap - 1, i = h & mask;
    while (m->s[i].id != id) {
        if (!m->s[i].id)
            return;
        i = (i + 1) & mask;
    }
    /* Move up every later entry of the run whose home slot is not between the hole and it. */
    for (size_t j = (i + 1) & mask; m->s[j].id; j = (j + 1) & mask) {
        size_t home = m->s[j].tag & mask;
        int keep = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!keep) {
            m->s[i] = m->s[j];
            i = j;
        }
    }
    m->s[i].id = 0;
    m->s[i].tag = 0;
    m->n--;
}

void fw_map_clear(fw_map *m)
{
    if (m->cap)
        memset(m->s, 0, m->cap * sizeof *m->s);
    m->n = 0;
}

void fw_map_free(fw_map *m)
{
    free(m->s);
    memset(m, 0, sizeof *m);
}

/* Grows a parallel array to hold index `need`. */
int fw_array_reserve(void **arr, size_t elem, uint32_t *cap, uint32_t need)
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

