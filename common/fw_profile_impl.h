/*
 * fw_profile_impl: the layout of struct fw_profile, private to fw_profile.c (the tables) and
 * fw_profile_merge.c (which walks another profile's tables directly, to skip re-hashing
 * strings it already holds). Everyone else goes through fw_profile.h.
 */
#ifndef FW_PROFILE_IMPL_H
#define FW_PROFILE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "fw_profile.h"

typedef struct {
    const char *s;
    uint32_t len;
    uint32_t hash;
} fw_str;

typedef struct fw_chunk {
    struct fw_chunk *next;
    size_t used;
    size_t cap;
    char data[];
} fw_chunk;

typedef struct {
    uint32_t *slots;  /* position + 1, 0 = empty */
    size_t cap;       /* power of two, or 0 before first use */
} fw_table;

typedef struct {
    size_t frames_off;
    size_t labels_off;
    uint32_t depth;
    uint32_t nlabels;
    uint32_t hash;
} fw_sample_rec;

typedef struct {
    uint64_t key;
    uint64_t value;
} fw_pair;

struct fw_profile {
    size_t ntypes;
    uint64_t type_str[FW_PROFILE_MAX_TYPES];
    uint64_t unit_str[FW_PROFILE_MAX_TYPES];

    fw_str *strs;
    size_t nstrs, strs_cap;
    fw_table str_index;
    fw_chunk *chunks;

    fw_function *funcs;
    uint32_t *func_hash;
    size_t nfuncs, funcs_cap, func_hash_cap;
    fw_table func_index;

    fw_location *locs;
    uint32_t *loc_hash;
    size_t nlocs, locs_cap, loc_hash_cap;
    fw_table loc_index;

    fw_sample_rec *samples;
    size_t nsamples, samples_cap;
    fw_table sample_index;
    int64_t *values;          /* nsamples * ntypes */
    size_t values_cap;
    uint64_t *frames;         /* location ids of every sample, leaf first */
    size_t nframes, frames_cap;
    uint64_t *lkeys, *lvals;  /* label pairs of every sample, canonical order */
    size_t nlab, lkeys_cap, lvals_cap;

    int64_t time_nanos, duration_nanos, period;
    uint64_t period_type, period_unit;
    uint64_t *comments;
    size_t ncomments, comments_cap;
};

/* Sums saturate: a counter that would overflow sticks at the limit instead of wrapping. */
static inline int64_t fw_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t fw_sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif
