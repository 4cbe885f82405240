/*
 * fw_store_dims.c: the bounded dimension cache (fw_store_dims.h).
 *
 * Design: a slot array of entries, with free slots on a list, and maps over it whose ids are
 * slot + 1: by (kind, id), by content (one map per kind: the few hundred functions an upload
 * looks up stay in a small map that stays in the CPU cache, not in one with every stack), and for
 * stacks by call path. The maps hold no keys:
 * eq() reads the candidate slot. Inserting past the budget runs the CLOCK hand (skipping the slot
 * just filled) until the bytes are under it again; an evicted entry leaves its maps by
 * backward-shift deletion, so lookups never meet tombstones. The slot array and the maps do not
 * shrink, and need not: they were sized by the budget, which is the point.
 */
#include "fw_store_dims.h"
#include "fw_store_util.h"

#include <assert.h>
#include <stdlib.h>

#define FW_DIMS_NONE UINT32_MAX

typedef struct { uint32_t kind, id; } fw_dims_idkey;
typedef struct { int kind; const fw_dims_val *v; } fw_dims_ckey;
typedef struct { const fw_dims_path *p; uint32_t leaf; } fw_dims_pakey;

static uint64_t fw_dims_id_hash(uint32_t kind, uint32_t id) { return fw_hash_u64x2(id, kind + 1); }

static uint64_t fw_dims_val_hash(int kind, const fw_dims_val *v)
{
    uint64_t h;
    switch (kind) {
    case FW_DIM_FN: h = fw_dims_fn_hash(v->s1, v->s2); break;
    case FW_DIM_FR: h = fw_hash_u64x2(v->a, (uint64_t)v->line); break;
    case FW_DIM_ST: h = fw_hash_u64x2(v->a, v->b); break;
    default: h = fw_hash_bytes(v->s1, strlen(v->s1), 7); break;
    }
    return fw_hash_u64x2(h, (uint64_t)kind);
}

static int fw_dims_id_eq(const void *ctx, uint32_t slot1, const void *key)
{
    const fw_dims_ent *e = &((const fw_dims *)ctx)->e[slot1 - 1];
    const fw_dims_idkey *k = key;
    return e->id == k->id && e->kind == k->kind;
}

static int fw_dims_val_eq(const void *ctx, uint32_t slot1, const void *key)
{
    const fw_dims_ent *e = &((const fw_dims *)ctx)->e[slot1 - 1];
    const fw_dims_ckey *k = key;
    if (e->kind != k->kind)
        return 0;
    switch (k->kind) {
    case FW_DIM_FN: return strcmp(e->s1, k->v->s1) == 0 && strcmp(e->s2, k->v->s2) == 0;
    case FW_DIM_FR: return e->a == k->v->a && e->line == k->v->line;
    case FW_DIM_ST: return e->a == k->v->a && e->b == k->v->b;
    default: return strcmp(e->s1, k->v->s1) == 0;
    }
}

static uint32_t fw_dims_slot(const fw_dims *c, int kind, uint32_t id)
{
    fw_dims_idkey k = {(uint32_t)kind, id};
    uint32_t s1 = fw_map_find(&c->idm, fw_dims_id_hash((uint32_t)kind, id), fw_dims_id_eq, c, &k);
    return s1 ? s1 - 1 : FW_DIMS_NONE;
}

/* A known call path: one probe and one entry read, whatever the depth. */
static int fw_dims_pa_eq(const void *ctx, uint32_t slot1, const void *key)
{
    const fw_dims_ent *e = &((const fw_dims *)ctx)->e[slot1 - 1];
    const fw_dims_pakey *k = key;
    return e->kind == FW_DIM_ST && e->in_pa && e->ph == k->p->h && e->ph2 == k->p->h2 && e->b == k->leaf;
}

/* Fixed bytes per entry at most: its slot, its free-list cell, its slots in the id and path maps
 * (load between 1/4 and 1/2: maps grow at half full, and the entry cap keeps them from doubling
 * again), and in its kind's content map (up to 4 per entry: each kind's map rounds up on its own). */
#define FW_DIMS_FIXED_PER_ENTRY (sizeof(fw_dims_ent) + sizeof(uint32_t) + (2 + 2 + 4) * sizeof(fw_map_slot))

void fw_dims_init(fw_dims *c, size_t budget)
{
    memset(c, 0, sizeof *c);
    c->budget = budget < FW_DIMS_MIN_BUDGET ? FW_DIMS_MIN_BUDGET : budget;
    /* The slot array and the maps never shrink, so their size is fixed here: at most half the
     * budget, the rest for strings. Without a cap, the doubling of a map past the budget would
     * leave nothing to evict but everything, at every insert. A power of two, as the arrays are. */
    c->max_entries = 256;
    while ((size_t)c->max_entries * 2 * FW_DIMS_FIXED_PER_ENTRY <= c->budget / 2 && c->max_entries < (1u << 30))
        c->max_entries *= 2;
}

size_t fw_dims_bytes(const fw_dims *c)
{
    return c->str_bytes + (size_t)c->cap * sizeof *c->e + (size_t)c->freecap * sizeof *c->freel +
           (c->idm.cap + c->cm[0].cap + c->cm[1].cap + c->cm[2].cap + c->cm[3].cap + c->pam.cap) * sizeof(fw_map_slot);
}

static void fw_dims_remove(fw_dims *c, uint32_t slot)
{
    fw_dims_ent *e = &c->e[slot];
    assert(e->id != 0);
    fw_dims_val v = {e->a, e->b, e->line, e->s1, e->s2};
    fw_map_del(&c->idm, fw_dims_id_hash(e->kind, e->id), slot + 1);
    fw_map_del(&c->cm[e->kind], fw_dims_val_hash(e->kind, &v), slot + 1);
    if (e->in_pa)
        fw_map_del(&c->pam, e->ph, slot + 1);
    if (e->s1) {
        c->str_bytes -= strlen(e->s1) + 1 + (e->s2 ? strlen(e->s2) + 1 : 0) + FW_DIMS_STR_OVERHEAD;
        free(e->s1);
    }
    memset(e, 0, sizeof *e);
    /* The free list has room for every slot: it grows with the slot array. */
    c->freel[c->nfree++] = slot;
    c->nused--;
}

/* CLOCK: the first entry after the hand whose reference bit is clear goes (never `keep`). */
static void fw_dims_evict_one(fw_dims *c, uint32_t keep)
{
    for (uint64_t steps = 0; steps < 3 * (uint64_t)c->top; steps++) {
        c->hand = c->hand + 1 < c->top ? c->hand + 1 : 0;
        fw_dims_ent *e = &c->e[c->hand];
        if (!e->id || c->hand == keep)
            continue;
        if (e->ref) {
            e->ref = 0;
            continue;
        }
        c->complete[e->kind] = 0;
        c->evictions++;
        fw_dims_remove(c, c->hand);
        return;
    }
}

/* Stores an entry in a free slot and indexes it, then evicts back under the budget. The slot,
 * or FW_DIMS_NONE when out of memory (the cache is unchanged then). */
static uint32_t fw_dims_insert(fw_dims *c, int kind, uint32_t id, const fw_dims_val *v, const fw_dims_path *ph)
{
    assert(id != 0 && kind >= 0 && kind < FW_DIM_KINDS);
    char *s = NULL;
    size_t l1 = 0, l2 = 0;
    if (kind == FW_DIM_FN || kind == FW_DIM_LS) {
        l1 = strlen(v->s1);
        l2 = kind == FW_DIM_FN ? strlen(v->s2) + 1 : 0;
        if (!(s = malloc(l1 + 1 + l2)))
            return FW_DIMS_NONE;
        memcpy(s, v->s1, l1 + 1);
        if (kind == FW_DIM_FN)
            memcpy(s + l1 + 1, v->s2, l2);
    }
    /* At the entry cap, one goes first (the maps stay below half full). */
    if (c->nused + 1 >= c->max_entries)
        fw_dims_evict_one(c, FW_DIMS_NONE);
    uint32_t slot;
    if (c->nfree) {
        slot = c->freel[--c->nfree];
    } else {
        if (fw_array_reserve((void **)&c->e, sizeof *c->e, &c->cap, c->top) ||
            fw_array_reserve((void **)&c->freel, sizeof *c->freel, &c->freecap, c->cap - 1)) {
            free(s);
            return FW_DIMS_NONE;
        }
        slot = c->top++;
    }
    fw_dims_ent *e = &c->e[slot];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->kind = (uint8_t)kind;
    e->ref = 1;
    e->a = v->a;
    e->b = v->b;
    e->line = v->line;
    e->s1 = s;
    e->s2 = NULL;
    if (kind == FW_DIM_FN && s)
        e->s2 = s + l1 + 1;
    c->nused++;
    if (s)
        c->str_bytes += l1 + 1 + l2 + FW_DIMS_STR_OVERHEAD;
    if (fw_map_put(&c->idm, fw_dims_id_hash((uint32_t)kind, id), slot + 1) ||
        fw_map_put(&c->cm[kind], fw_dims_val_hash(kind, v), slot + 1)) {
        fw_map_del(&c->idm, fw_dims_id_hash((uint32_t)kind, id), slot + 1);
        fw_dims_remove(c, slot);
        return FW_DIMS_NONE;
    }
    if (kind == FW_DIM_ST && ph && fw_map_put(&c->pam, ph->h, slot + 1) == 0) {
        c->e[slot].in_pa = 1;
        c->e[slot].ph = ph->h;
        c->e[slot].ph2 = ph->h2;
    }
    while (fw_dims_bytes(c) > c->budget && c->nused > 1)
        fw_dims_evict_one(c, slot);
    return slot;
}

int fw_dims_add(fw_dims *c, int kind, uint32_t id, const fw_dims_val *v, const fw_dims_path *ph)
{
    return fw_dims_insert(c, kind, id, v, ph) == FW_DIMS_NONE ? -1 : 0;
}

int fw_dims_find(fw_dims *c, fw_dims_src *src, int kind, const fw_dims_val *v, const fw_dims_path *ph,
                 uint32_t *id)
{
    fw_dims_ckey k = {kind, v};
    uint32_t s1 = fw_map_find(&c->cm[kind], fw_dims_val_hash(kind, v), fw_dims_val_eq, c, &k);
    if (s1) {
        fw_dims_ent *e = &c->e[s1 - 1];
        e->ref = 1;
        c->hits++;
        if (kind == FW_DIM_ST && ph && !e->in_pa && fw_map_put(&c->pam, ph->h, s1) == 0) {
            e->in_pa = 1;
            e->ph = ph->h;
            e->ph2 = ph->h2;
        }
        *id = e->id;
        return 1;
    }
    c->misses++;
    if (c->complete[kind] || !src)
        return 0;
    int r = src->by_val(src, kind, v, id);
    if (r == 1 && src->epoch == c->epoch && fw_dims_insert(c, kind, *id, v, ph) == FW_DIMS_NONE)
        return -1;
    return r;
}

int fw_dims_get(fw_dims *c, fw_dims_src *src, int kind, uint32_t id, fw_dims_val *out)
{
    uint32_t slot = fw_dims_slot(c, kind, id);
    if (slot == FW_DIMS_NONE) {
        c->misses++;
        if (c->complete[kind] || !src)
            return 0;
        fw_dims_val v;
        int r = src->by_id(src, kind, id, &v);
        if (r != 1)
            return r;
        if (src->epoch == c->epoch) {
            slot = fw_dims_insert(c, kind, id, &v, NULL);
            if (slot == FW_DIMS_NONE)
                return -1;
        } else {
            /* Loaded from a snapshot older than the last GC: used, not kept. */
            free(c->scratch);
            size_t l1 = v.s1 ? strlen(v.s1) + 1 : 0, l2 = v.s2 ? strlen(v.s2) + 1 : 0;
            c->scratch = malloc(l1 + l2 + 1);
            if (!c->scratch)
                return -1;
            if (v.s1)
                memcpy(c->scratch, v.s1, l1);
            if (v.s2)
                memcpy(c->scratch + l1, v.s2, l2);
            *out = v;
            out->s1 = v.s1 ? c->scratch : NULL;
            out->s2 = v.s2 ? c->scratch + l1 : NULL;
            return 1;
        }
    } else {
        c->hits++;
    }
    fw_dims_ent *e = &c->e[slot];
    e->ref = 1;
    *out = (fw_dims_val){e->a, e->b, e->line, e->s1, e->s2};
    return 1;
}

uint32_t fw_dims_find_path(fw_dims *c, const fw_dims_path *path, uint32_t leaf_frame)
{
    if (!leaf_frame)
        return 0;
    fw_dims_pakey k = {path, leaf_frame};
    uint32_t s1 = fw_map_find(&c->pam, path->h, fw_dims_pa_eq, c, &k);
    if (!s1)
        return 0;
    c->hits++;
    fw_dims_ent *e = &c->e[s1 - 1];
    if (!e->ref)
        e->ref = 1;
    return e->id;
}

void fw_dims_forget(fw_dims *c, int kind, uint32_t id)
{
    uint32_t slot = fw_dims_slot(c, kind, id);
    if (slot != FW_DIMS_NONE)
        fw_dims_remove(c, slot);
}

void fw_dims_forget_from(fw_dims *c, const uint32_t next[FW_DIM_KINDS])
{
    for (uint32_t i = 0; i < c->top; i++)
        if (c->e[i].id && c->e[i].id >= next[c->e[i].kind])
            fw_dims_remove(c, i);
}

void fw_dims_free(fw_dims *c)
{
    for (uint32_t i = 0; i < c->top; i++)
        free(c->e[i].s1);
    free(c->e);
    free(c->freel);
    free(c->scratch);
    fw_map_free(&c->idm);
    for (int k = 0; k < FW_DIM_KINDS; k++)
        fw_map_free(&c->cm[k]);
    fw_map_free(&c->pam);
    memset(c, 0, sizeof *c);
}
