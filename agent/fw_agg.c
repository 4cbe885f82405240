/*
 * fw_agg.c: the sampler's aggregate (see fw_agg.h for what it promises).
 *
 * Records hold the key (hash, slot, tags, depth, offset of the frames in the arena) and the
 * values; the index maps a hash to a record number + 1 with linear probing, and is rebuilt at
 * twice the size when it is half full. A record's frames are copied into the arena once, when
 * the record is created, so adding to an existing stack costs a hash and a compare.
 */
#include "fw_agg.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fw_threads.h"

#define FW_AGG_HARD_ENTRIES (FW_AGG_MAX_ENTRIES + FW_THREADS_MAX)
#define FW_AGG_HARD_FRAMES  (FW_AGG_MAX_FRAMES + FW_THREADS_MAX)

typedef struct {
    uint64_t hash;
    uint32_t slot;
    uint32_t depth;
    uint32_t frames_off;
    uint32_t tags;        /* dynamic tag-set id (fw_tags), 0 = none: part of the key */
    int64_t cpu_ns;
    int64_t wall_ns;
    int64_t gil_hold_ns;
    int64_t gil_wait_ns;
} fw_agg_rec;

struct fw_agg {
    fw_agg_rec *recs;
    size_t nrecs;
    size_t recs_cap;
    uint32_t *index;      /* record number + 1; 0 = empty */
    size_t index_cap;     /* power of two, at least twice nrecs */
    fw_frame *frames;
    size_t nframes;
    size_t frames_cap;
    uint64_t dropped;
};

static const fw_frame fw_frame_dropped = {FW_FN_DROPPED, 0};
static const fw_frame fw_frame_unknown = {FW_FN_UNKNOWN, 0};

fw_agg *fw_agg_new(void)
{
    return calloc(1, sizeof(fw_agg));
}

void fw_agg_free(fw_agg *a)
{
    if (!a)
        return;
    free(a->recs);
    free(a->index);
    free(a->frames);
    free(a);
}

void fw_agg_clear(fw_agg *a)
{
    if (a->index)
        memset(a->index, 0, a->index_cap * sizeof a->index[0]);
    a->nrecs = 0;
    a->nframes = 0;
    a->dropped = 0;
}

size_t fw_agg_count(const fw_agg *a)
{
    return a->nrecs;
}

uint64_t fw_agg_dropped(const fw_agg *a)
{
    return a->dropped;
}

void fw_agg_get(const fw_agg *a, size_t i, fw_agg_entry *out)
{
    assert(i < a->nrecs);
    const fw_agg_rec *r = &a->recs[i];
    out->slot = r->slot;
    out->tags = r->tags;
    out->depth = r->depth;
    out->frames = &a->frames[r->frames_off];
    out->cpu_ns = r->cpu_ns;
    out->wall_ns = r->wall_ns;
    out->gil_hold_ns = r->gil_hold_ns;
    out->gil_wait_ns = r->gil_wait_ns;
}

size_t fw_agg_nonzero(const fw_agg *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nrecs; i++)
        n += a->recs[i].cpu_ns != 0 || a->recs[i].wall_ns != 0 || a->recs[i].gil_hold_ns != 0;
    return n;
}

static uint64_t fw_agg_hash(uint32_t slot, uint32_t tags, const fw_frame *frames, uint32_t depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ slot ^ ((uint64_t)tags << 32);
    for (uint32_t i = 0; i < depth; i++) {
        h ^= ((uint64_t)frames[i].function << 32) | (uint32_t)frames[i].line;
        h *= 0x100000001b3ull;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

static bool fw_agg_same(const fw_agg *a, const fw_agg_rec *r, uint64_t hash, uint32_t slot,
                        uint32_t tags, const fw_frame *frames, uint32_t depth)
{
    return r->hash == hash && r->slot == slot && r->tags == tags && r->depth == depth &&
           memcmp(&a->frames[r->frames_off], frames, depth * sizeof *frames) == 0;
}

/* Index position of the entry, or of the empty position where it would go. */
static size_t fw_agg_probe(const fw_agg *a, uint64_t hash, uint32_t slot, uint32_t tags,
                           const fw_frame *frames, uint32_t depth)
{
    size_t mask = a->index_cap - 1;
    size_t pos = (size_t)hash & mask;
    while (a->index[pos] != 0) {
        if (fw_agg_same(a, &a->recs[a->index[pos] - 1], hash, slot, tags, frames, depth))
            break;
        pos = (pos + 1) & mask;
    }
    return pos;
}

static bool fw_agg_grow_index(fw_agg *a)
{
    size_t cap = a->index_cap ? a->index_cap * 2 : 1024;
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return false;
    for (size_t i = 0; i < a->nrecs; i++) {
        size_t pos = (size_t)a->recs[i].hash & (cap - 1);
        while (index[pos] != 0)
            pos = (pos + 1) & (cap - 1);
        index[pos] = (uint32_t)(i + 1);
    }
    free(a->index);
    a->index = index;
    a->index_cap = cap;
    return true;
}

static bool fw_agg_reserve(fw_agg *a, uint32_t depth, size_t max_recs, size_t max_frames)
{
    if (a->nrecs + 1 > max_recs || a->nframes + depth > max_frames)
        return false;
    if (a->nrecs + 1 > a->recs_cap) {
        size_t cap = a->recs_cap ? a->recs_cap * 2 : 256;
        if (cap > FW_AGG_HARD_ENTRIES)
            cap = FW_AGG_HARD_ENTRIES;
        fw_agg_rec *recs = realloc(a->recs, cap * sizeof *recs);
        if (!recs)
            return false;
        a->recs = recs;
        a->recs_cap = cap;
    }
    if (a->nframes + depth > a->frames_cap) {
        size_t cap = a->frames_cap ? a->frames_cap : 4096;
        while (cap < a->nframes + depth)
            cap *= 2;
        if (cap > FW_AGG_HARD_FRAMES)
            cap = FW_AGG_HARD_FRAMES;
        fw_frame *frames = realloc(a->frames, cap * sizeof *frames);
        if (!frames)
            return false;
        a->frames = frames;
        a->frames_cap = cap;
    }
    if ((a->nrecs + 1) * 2 > a->index_cap && !fw_agg_grow_index(a))
        return false;
    return true;
}

/* Adds into an existing entry or creates one within the given caps. */
/* Returns the entry's index, or -1 when it is not there and the caps forbid a new one. */
static int64_t fw_agg_put(fw_agg *a, uint32_t slot, uint32_t tags, const fw_frame *frames,
                          uint32_t depth, int64_t cpu_ns, int64_t wall_ns, size_t max_recs,
                          size_t max_frames)
{
    uint64_t hash = fw_agg_hash(slot, tags, frames, depth);
    if (a->index_cap) {
        size_t pos = fw_agg_probe(a, hash, slot, tags, frames, depth);
        if (a->index[pos] != 0) {
            fw_agg_rec *r = &a->recs[a->index[pos] - 1];
            r->cpu_ns += cpu_ns;
            r->wall_ns += wall_ns;
            return (int64_t)a->index[pos] - 1;
        }
    }
    if (!fw_agg_reserve(a, depth, max_recs, max_frames))
        return -1;
    size_t pos = fw_agg_probe(a, hash, slot, tags, frames, depth);
    assert(a->index[pos] == 0);
    fw_agg_rec *r = &a->recs[a->nrecs];
    r->hash = hash;
    r->slot = slot;
    r->tags = tags;
    r->depth = depth;
    r->frames_off = (uint32_t)a->nframes;
    r->cpu_ns = cpu_ns;
    r->wall_ns = wall_ns;
    r->gil_hold_ns = 0;
    r->gil_wait_ns = 0;
    memcpy(&a->frames[a->nframes], frames, depth * sizeof *frames);
    a->nframes += depth;
    a->nrecs++;
    a->index[pos] = (uint32_t)a->nrecs;
    return (int64_t)a->nrecs - 1;
}

int64_t fw_agg_add(fw_agg *a, uint32_t slot, const fw_frame *frames, uint32_t depth,
                   int64_t cpu_ns, int64_t wall_ns)
{
    return fw_agg_add_tagged(a, slot, 0, frames, depth, cpu_ns, wall_ns);
}

int64_t fw_agg_add_tagged(fw_agg *a, uint32_t slot, uint32_t tags, const fw_frame *frames,
                          uint32_t depth, int64_t cpu_ns, int64_t wall_ns)
{
    if (depth == 0) {
        frames = &fw_frame_unknown;
        depth = 1;
    }
    int64_t i = fw_agg_put(a, slot, tags, frames, depth, cpu_ns, wall_ns, FW_AGG_MAX_ENTRIES,
                           FW_AGG_MAX_FRAMES);
    if (i >= 0)
        return i;
    a->dropped++;
    /* The reserve beyond the soft caps holds one "[dropped]" entry per thread slot. */
    return fw_agg_put(a, slot, tags, &fw_frame_dropped, 1, cpu_ns, wall_ns, FW_AGG_HARD_ENTRIES,
                      FW_AGG_HARD_FRAMES);
}

bool fw_agg_add_to(fw_agg *a, int64_t index, uint32_t slot, int64_t cpu_ns)
{
    if (index < 0 || (size_t)index >= a->nrecs || a->recs[index].slot != slot)
        return false;
    a->recs[index].cpu_ns += cpu_ns;
    return true;
}

bool fw_agg_add_gil(fw_agg *a, int64_t index, uint32_t slot, int64_t hold_ns, int64_t wait_ns)
{
    if (index < 0 || (size_t)index >= a->nrecs || a->recs[index].slot != slot)
        return false;
    a->recs[index].gil_hold_ns += hold_ns;
    a->recs[index].gil_wait_ns += wait_ns;
    return true;
}
