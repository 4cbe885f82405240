/*
 * fw_store_map.h: the store's hash map from content to id, and the hashes it is used with
 * (backend-neutral, internal to store/).
 *
 * Promises: fw_map_find returns the id whose content eq() says equals the key, or 0; fw_map_put
 * adds an id (never 0) that the caller has checked is absent; fw_map_del removes one; a map never stores keys, only a
 * hash tag and an id, so the content stays where it lives (the dimension cache's arrays, a tree's
 * nodes). fw_array_reserve grows the parallel arrays that hold that content. Hashes are for
 * memory only: nothing persists them, so they may change between versions.
 *
 * Find and put are inline: they are the inner loop of ingest (one probe per frame of every
 * sample), and the caller's eq() is then inlined into the probe loop as well.
 */
#ifndef FW_STORE_MAP_H
#define FW_STORE_MAP_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fw_hash_bytes(const void *p, size_t n, uint64_t h)
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

static inline uint64_t fw_hash_u64x2(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

/* Open addressing with linear probing. The map stores only (hash tag, id); the key's content lives
 * in the cache arrays, and the caller's eq() compares a candidate id against the key, so no key
 * is stored twice. A slot is 8 bytes (the low 32 bits of the hash and the id side by side) so that
 * a probe costs one cache miss: with hundreds of thousands of stacks the maps do not fit in cache,
 * and ingest used to spend a third of its time on the second miss of a separate hash array. The
 * table index uses the same low bits, so growing needs no full hash. */

typedef struct {
    uint32_t tag;     /* low 32 bits of the hash */
    uint32_t id;      /* 0 = empty slot */
} fw_map_slot;

typedef struct {
    fw_map_slot *s;
    size_t cap, n;    /* cap is a power of two, at most 2^32 */
} fw_map;

typedef int (*fw_map_eq_fn)(const void *ctx, uint32_t id, const void *key);

static inline uint32_t fw_map_find(const fw_map *m, uint64_t h, fw_map_eq_fn eq, const void *ctx,
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

int fw_map_grow(fw_map *m);

/* The caller has checked that the key is absent. */
static inline int fw_map_put(fw_map *m, uint64_t h, uint32_t id)
{
    assert(id != 0);
    if ((m->n + 1) * 2 > m->cap && fw_map_grow(m) != 0)
        return -1;
    size_t mask = m->cap - 1, i = h & mask;
    while (m->s[i].id)
        i = (i + 1) & mask;
    m->s[i].tag = (uint32_t)h;
    m->s[i].id = id;
    m->n++;
    return 0;
}

/* Removes the slot holding `id` under hash h (a no-op when absent). Backward-shift deletion: the
 * entries after it in its probe run move up, so lookups never need tombstones. */
void fw_map_del(fw_map *m, uint64_t h, uint32_t id);
void fw_map_clear(fw_map *m);
void fw_map_free(fw_map *m);

/* Grows a parallel array (elements of `elem` bytes, capacity *cap) to hold index `need`; new
 * elements are zeroed. 0, or -1 when out of memory or past 2^32 - 2 elements. */
int fw_array_reserve(void **arr, size_t elem, uint32_t *cap, uint32_t need);

#endif
