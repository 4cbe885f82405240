/*
 * fw_profile.c: the in-memory profile.
 *
 * Why this shape
 * --------------
 * A profile is written by the agent (tens of thousands of samples per flush), read by the
 * pprof encoder, and later filled by the server at more than a million stack values per
 * second. Almost every insert is a repeat: the same strings, the same functions, the same
 * stacks. So the design is four deduplicating tables, each an append-only array plus an
 * open-addressing hash index over it:
 *
 *   strings    array of (pointer, length, hash); the bytes live in an arena of large chunks
 *              that never move, so `const char *` results stay valid for the profile's life
 *              and a string costs no malloc of its own;
 *   functions  array of (name, filename, start_line), id = position + 1;
 *   locations  array of (function id, line),          id = position + 1;
 *   samples    array of records pointing into three pools (location ids, label keys, label
 *              values) plus a dense values matrix (one row of `ntypes` int64 per sample).
 *
 * The hash indexes (fw_table) are arrays of uint32 slots holding "position + 1", 0 meaning
 * empty, probed linearly. Entries are never deleted, so there are no tombstones, and the
 * table can be rebuilt from the entry arrays alone: every entry stores its own 32-bit hash,
 * which both rejects most mismatches without touching the key and makes doubling cheap.
 * Tables double when 70% full; entry arrays double when full.
 *
 * A sample's label set is canonical before it is hashed: pairs are sorted by (key index,
 * value index) and exact duplicates dropped. Two label lists in different orders therefore
 * produce the same record, which is what "labels are matched as a set" means.
 *
 * Failure atomicity: every cap (FW_PROFILE_MAX_*) is checked before anything is changed, so
 * FW_ERR_LIMIT and FW_ERR_INVALID leave the profile exactly as it was. Memory is reserved
 * before an entry is written, so FW_ERR_NOMEM leaves every table consistent; at worst a few
 * strings interned for the failed call remain, unreferenced.
 *
 * Values are summed with saturation: a counter that would overflow int64 sticks at the
 * limit instead of wrapping into a negative (and undefined) number.
 *
 * The tables' layout is in fw_profile_impl.h, shared with fw_profile_merge.c only.
 */
#include "fw_profile.h"
#include "fw_profile_impl.h"
#include "fw_utf8.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FW_CHUNK_SIZE ((size_t)64 * 1024)
#define FW_TABLE_MIN 64u

/* ---- hashing ---------------------------------------------------------------------------
 * A word-at-a-time multiply/xorshift hash: fast on short keys (identifiers, paths), and the
 * final avalanche makes the low bits, which pick the slot, depend on every input bit. */

#define FW_K1 0x9e3779b97f4a7c15ull
#define FW_K2 0xd6e8feb86659fd93ull

static uint64_t fw_mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * FW_K1;
    return h ^ (h >> 29);
}

static uint32_t fw_finish(uint64_t h)
{
    h ^= h >> 32;
    h *= FW_K2;
    h ^= h >> 29;
    return (uint32_t)h;
}

static uint32_t fw_hash_bytes(const char *s, size_t len)
{
    uint64_t h = FW_K2 ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = fw_mix(h, w);
        s += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    if (len)
        memcpy(&tail, s, len);
    return fw_finish(fw_mix(h, tail));
}

static uint32_t fw_hash_words(uint64_t seed, const uint64_t *w, size_t n)
{
    uint64_t h = seed;
    for (size_t i = 0; i < n; i++)
        h = fw_mix(h, w[i]);
    return fw_finish(h);
}

/* ---- growable arrays and tables -------------------------------------------------------- */

/* Grows *ptr to hold at least `need` elements; returns 0, or -1 leaving it untouched. */
static int fw_reserve(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return -1;
    void *np = realloc(*ptr, ncap * elem);
    if (!np)
        return -1;
    *ptr = np;
    *cap = ncap;
    return 0;
}

#define FW_RESERVE(arr, cap, need) \
    fw_reserve_typed((void *)&(arr), &(cap), (need), sizeof *(arr))

/* The void** detour is confined here: callers pass the address of a typed pointer. */
static int fw_reserve_typed(void *arrp, size_t *cap, size_t need, size_t elem)
{
    void *cur;
    memcpy(&cur, arrp, sizeof cur);
    if (fw_reserve(&cur, cap, need, elem) != 0)
        return -1;
    memcpy(arrp, &cur, sizeof cur);
    return 0;
}

typedef uint32_t (*fw_hash_of)(const fw_profile *p, size_t pos);

static void fw_table_put(fw_table *t, uint32_t hash, size_t pos)
{
    size_t mask = t->cap - 1;
    size_t i = hash & mask;
    while (t->slots[i])
        i = (i + 1) & mask;
    t->slots[i] = (uint32_t)(pos + 1);
}

/* Makes room for one entry beyond the `n` indexed ones, keeping the load under 70%; a
 * grown table is rebuilt from the entries' stored hashes, not from the old slots. */
static int fw_table_reserve(const fw_profile *p, fw_table *t, size_t n, fw_hash_of hash_of)
{
    size_t count = n + 1;
    if (t->cap && count * 10 <= t->cap * 7)
        return 0;
    size_t ncap = t->cap ? t->cap * 2 : FW_TABLE_MIN;
    while (count * 10 > ncap * 7)
        ncap *= 2;
    uint32_t *slots = calloc(ncap, sizeof *slots);
    if (!slots)
        return -1;
    free(t->slots);
    t->slots = slots;
    t->cap = ncap;
    for (size_t pos = 0; pos < n; pos++)
        fw_table_put(t, hash_of(p, pos), pos);
    return 0;
}

static uint32_t fw_str_hash_of(const fw_profile *p, size_t pos) { return p->strs[pos].hash; }
static uint32_t fw_func_hash_of(const fw_profile *p, size_t pos) { return p->func_hash[pos]; }
static uint32_t fw_loc_hash_of(const fw_profile *p, size_t pos) { return p->loc_hash[pos]; }
static uint32_t fw_sample_hash_of(const fw_profile *p, size_t pos) { return p->samples[pos].hash; }

/* ---- strings ---------------------------------------------------------------------------- */

static int fw_str_lookup(const fw_profile *p, const char *s, size_t len, uint32_t hash,
                         uint64_t *out)
{
    if (!p->str_index.cap)
        return 0;
    size_t mask = p->str_index.cap - 1;
    for (size_t i = hash & mask; p->str_index.slots[i]; i = (i + 1) & mask) {
        const fw_str *e = &p->strs[p->str_index.slots[i] - 1];
        if (e->hash == hash && e->len == len && memcmp(e->s, s, len) == 0) {
            *out = p->str_index.slots[i] - 1;
            return 1;
        }
    }
    return 0;
}

int fw_profile_find_string(const fw_profile *p, const char *s, size_t len, uint64_t *out)
{
    assert(p && out);
    if (!s || len > FW_PROFILE_MAX_STRING_LEN)
        return 0;
    return fw_str_lookup(p, s, len, fw_hash_bytes(s, len), out);
}

static char *fw_arena_alloc(fw_profile *p, size_t n)
{
    fw_chunk *c = p->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > FW_CHUNK_SIZE ? n : FW_CHUNK_SIZE;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        /* A big string gets its own chunk behind the current one, so the current chunk's
         * free space is not abandoned. */
        if (p->chunks && n > FW_CHUNK_SIZE) {
            c->next = p->chunks->next;
            p->chunks->next = c;
        } else {
            c->next = p->chunks;
            p->chunks = c;
        }
    }
    char *r = c->data + c->used;
    c->used += n;
    return r;
}

/* Checks what fw_profile_intern would check for a new string, without changing anything. */
static fw_status fw_str_acceptable(const char *s, size_t len)
{
    if (len > FW_PROFILE_MAX_STRING_LEN)
        return FW_ERR_LIMIT;
    if (memchr(s, 0, len) || !fw_utf8_valid(s, len))
        return FW_ERR_INVALID;
    return FW_OK;
}

fw_status fw_profile_intern(fw_profile *p, const char *s, size_t len, uint64_t *out)
{
    assert(p && out);
    if (!s)
        return FW_ERR_INVALID;
    if (len > FW_PROFILE_MAX_STRING_LEN)
        return FW_ERR_LIMIT;
    uint32_t hash = fw_hash_bytes(s, len);
    if (fw_str_lookup(p, s, len, hash, out))
        return FW_OK;
    fw_status st = fw_str_acceptable(s, len);
    if (st != FW_OK)
        return st;
    if (p->nstrs >= FW_PROFILE_MAX_STRINGS)
        return FW_ERR_LIMIT;
    if (FW_RESERVE(p->strs, p->strs_cap, p->nstrs + 1) != 0 ||
        fw_table_reserve(p, &p->str_index, p->nstrs, fw_str_hash_of) != 0)
        return FW_ERR_NOMEM;
    char *copy = fw_arena_alloc(p, len + 1);
    if (!copy)
        return FW_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    size_t pos = p->nstrs++;
    p->strs[pos] = (fw_str){copy, (uint32_t)len, hash};
    fw_table_put(&p->str_index, hash, pos);
    *out = pos;
    return FW_OK;
}

const char *fw_profile_string(const fw_profile *p, uint64_t index)
{
    assert(p);
    return index < p->nstrs ? p->strs[index].s : NULL;
}

size_t fw_profile_string_count(const fw_profile *p)
{
    assert(p);
    return p->nstrs;
}

/* For calls that may intern several strings: fails with LIMIT or INVALID before any of
 * them is added, so the call as a whole stays atomic. */
static fw_status fw_strs_precheck(const fw_profile *p, const char *const *strs, size_t n)
{
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t idx;
        size_t len = strlen(strs[i]);
        if (fw_profile_find_string(p, strs[i], len, &idx))
            continue;
        fw_status st = fw_str_acceptable(strs[i], len);
        if (st != FW_OK)
            return st;
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(strs[k], strs[i]) == 0;
        missing += !dup;
    }
    return p->nstrs + missing > FW_PROFILE_MAX_STRINGS ? FW_ERR_LIMIT : FW_OK;
}

/* ---- creation --------------------------------------------------------------------------- */

fw_profile *fw_profile_new(const fw_sample_type *types, size_t ntypes)
{
    if (ntypes > FW_PROFILE_MAX_TYPES || (ntypes && !types))
        return NULL;
    for (size_t i = 0; i < ntypes; i++) {
        if (!types[i].type || !types[i].unit)
            return NULL;
    }
    fw_profile *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    uint64_t empty;
    if (fw_profile_intern(p, "", 0, &empty) != FW_OK)
        goto fail;
    assert(empty == 0);
    for (size_t i = 0; i < ntypes; i++) {
        if (fw_profile_intern(p, types[i].type, strlen(types[i].type), &p->type_str[i]) != FW_OK ||
            fw_profile_intern(p, types[i].unit, strlen(types[i].unit), &p->unit_str[i]) != FW_OK)
            goto fail;
    }
    p->ntypes = ntypes;
    return p;
fail:
    fw_profile_free(p);
    return NULL;
}

void fw_profile_free(fw_profile *p)
{
    if (!p)
        return;
    for (fw_chunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(p->strs);
    free(p->str_index.slots);
    free(p->funcs);
    free(p->func_hash);
    free(p->func_index.slots);
    free(p->locs);
    free(p->loc_hash);
    free(p->loc_index.slots);
    free(p->samples);
    free(p->sample_index.slots);
    free(p->values);
    free(p->frames);
    free(p->lkeys);
    free(p->lvals);
    free(p->comments);
    free(p);
}

size_t fw_profile_type_count(const fw_profile *p)
{
    assert(p);
    return p->ntypes;
}

fw_sample_type fw_profile_type(const fw_profile *p, size_t i)
{
    assert(p && i < p->ntypes);
    if (i >= p->ntypes)
        return (fw_sample_type){NULL, NULL};
    return (fw_sample_type){p->strs[p->type_str[i]].s, p->strs[p->unit_str[i]].s};
}

int fw_profile_find_type(const fw_profile *p, const char *type)
{
    assert(p);
    if (!type)
        return -1;
    for (size_t i = 0; i < p->ntypes; i++)
        if (strcmp(p->strs[p->type_str[i]].s, type) == 0)
            return (int)i;
    return -1;
}

/* ---- functions and locations ------------------------------------------------------------ */

static uint32_t fw_func_hash(uint64_t name, uint64_t filename, int64_t start_line)
{
    uint64_t w[3] = {name, filename, (uint64_t)start_line};
    return fw_hash_words(0x46, w, 3);
}

fw_status fw_profile_function_indexed(fw_profile *p, uint64_t name, uint64_t filename,
                                      int64_t start_line, uint64_t *out_id)
{
    assert(p && out_id);
    if (name >= p->nstrs || filename >= p->nstrs)
        return FW_ERR_INVALID;
    uint32_t hash = fw_func_hash(name, filename, start_line);
    if (p->func_index.cap) {
        size_t mask = p->func_index.cap - 1;
        for (size_t i = hash & mask; p->func_index.slots[i]; i = (i + 1) & mask) {
            size_t pos = p->func_index.slots[i] - 1;
            const fw_function *f = &p->funcs[pos];
            if (p->func_hash[pos] == hash && f->name == name && f->filename == filename &&
                f->start_line == start_line) {
                *out_id = pos + 1;
                return FW_OK;
            }
        }
    }
    if (p->nfuncs >= FW_PROFILE_MAX_FUNCTIONS)
        return FW_ERR_LIMIT;
    if (FW_RESERVE(p->funcs, p->funcs_cap, p->nfuncs + 1) != 0 ||
        FW_RESERVE(p->func_hash, p->func_hash_cap, p->nfuncs + 1) != 0 ||
        fw_table_reserve(p, &p->func_index, p->nfuncs, fw_func_hash_of) != 0)
        return FW_ERR_NOMEM;
    size_t pos = p->nfuncs++;
    p->funcs[pos] = (fw_function){name, filename, start_line};
    p->func_hash[pos] = hash;
    fw_table_put(&p->func_index, hash, pos);
    *out_id = pos + 1;
    return FW_OK;
}

fw_status fw_profile_function(fw_profile *p, const char *name, const char *filename,
                              int64_t start_line, uint64_t *out_id)
{
    assert(p && out_id);
    if (!name || !filename)
        return FW_ERR_INVALID;
    uint64_t n, f;
    if (fw_profile_find_string(p, name, strlen(name), &n) &&
        fw_profile_find_string(p, filename, strlen(filename), &f))
        return fw_profile_function_indexed(p, n, f, start_line, out_id);
    /* At least one new string, hence a new function: check every cap first. */
    if (p->nfuncs >= FW_PROFILE_MAX_FUNCTIONS)
        return FW_ERR_LIMIT;
    const char *strs[2] = {name, filename};
    fw_status st = fw_strs_precheck(p, strs, 2);
    if (st != FW_OK)
        return st;
    if ((st = fw_profile_intern(p, name, strlen(name), &n)) != FW_OK ||
        (st = fw_profile_intern(p, filename, strlen(filename), &f)) != FW_OK)
        return st;
    return fw_profile_function_indexed(p, n, f, start_line, out_id);
}

fw_status fw_profile_location(fw_profile *p, uint64_t function_id, int64_t line, uint64_t *out_id)
{
    assert(p && out_id);
    if (function_id == 0 || function_id > p->nfuncs)
        return FW_ERR_INVALID;
    uint64_t w[2] = {function_id, (uint64_t)line};
    uint32_t hash = fw_hash_words(0x4c, w, 2);
    if (p->loc_index.cap) {
        size_t mask = p->loc_index.cap - 1;
        for (size_t i = hash & mask; p->loc_index.slots[i]; i = (i + 1) & mask) {
            size_t pos = p->loc_index.slots[i] - 1;
            if (p->loc_hash[pos] == hash && p->locs[pos].function_id == function_id &&
                p->locs[pos].line == line) {
                *out_id = pos + 1;
                return FW_OK;
            }
        }
    }
    if (p->nlocs >= FW_PROFILE_MAX_LOCATIONS)
        return FW_ERR_LIMIT;
    if (FW_RESERVE(p->locs, p->locs_cap, p->nlocs + 1) != 0 ||
        FW_RESERVE(p->loc_hash, p->loc_hash_cap, p->nlocs + 1) != 0 ||
        fw_table_reserve(p, &p->loc_index, p->nlocs, fw_loc_hash_of) != 0)
        return FW_ERR_NOMEM;
    size_t pos = p->nlocs++;
    p->locs[pos] = (fw_location){function_id, line};
    p->loc_hash[pos] = hash;
    fw_table_put(&p->loc_index, hash, pos);
    *out_id = pos + 1;
    return FW_OK;
}

const fw_function *fw_profile_get_function(const fw_profile *p, uint64_t id)
{
    assert(p);
    return id >= 1 && id <= p->nfuncs ? &p->funcs[id - 1] : NULL;
}

const fw_location *fw_profile_get_location(const fw_profile *p, uint64_t id)
{
    assert(p);
    return id >= 1 && id <= p->nlocs ? &p->locs[id - 1] : NULL;
}

size_t fw_profile_function_count(const fw_profile *p)
{
    assert(p);
    return p->nfuncs;
}

size_t fw_profile_location_count(const fw_profile *p)
{
    assert(p);
    return p->nlocs;
}

/* ---- samples ---------------------------------------------------------------------------- */

static int fw_pair_less(fw_pair a, fw_pair b)
{
    return a.key < b.key || (a.key == b.key && a.value < b.value);
}

/* Sorts and dedups label pairs in place (insertion sort: sets are small, often presorted). */
static size_t fw_pairs_canonical(fw_pair *pairs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        fw_pair x = pairs[i];
        size_t j = i;
        while (j > 0 && fw_pair_less(x, pairs[j - 1])) {
            pairs[j] = pairs[j - 1];
            j--;
        }
        pairs[j] = x;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out && pairs[out - 1].key == pairs[i].key && pairs[out - 1].value == pairs[i].value)
            continue;
        pairs[out++] = pairs[i];
    }
    return out;
}

static uint32_t fw_sample_hash(const uint64_t *locs, size_t depth, const fw_pair *pairs,
                               size_t n)
{
    uint64_t h = FW_K1 ^ depth;
    for (size_t i = 0; i < depth; i++)
        h = fw_mix(h, locs[i]);
    for (size_t i = 0; i < n; i++)
        h = fw_mix(fw_mix(h, pairs[i].key), pairs[i].value);
    return fw_finish(fw_mix(h, n));
}

static int fw_sample_equal(const fw_profile *p, const fw_sample_rec *r, const uint64_t *locs,
                           size_t depth, const fw_pair *pairs, size_t n)
{
    if (r->depth != depth || r->nlabels != n)
        return 0;
    if (depth && memcmp(p->frames + r->frames_off, locs, depth * sizeof *locs) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p->lkeys[r->labels_off + i] != pairs[i].key ||
            p->lvals[r->labels_off + i] != pairs[i].value)
            return 0;
    return 1;
}

static fw_status fw_sample_insert(fw_profile *p, const uint64_t *locs, size_t depth,
                                  const fw_pair *pairs, size_t n, uint32_t hash,
                                  const int64_t *values)
{
    if (p->nsamples >= FW_PROFILE_MAX_SAMPLES)
        return FW_ERR_LIMIT;
    size_t need_vals = (p->nsamples + 1) * p->ntypes;
    if (FW_RESERVE(p->samples, p->samples_cap, p->nsamples + 1) != 0 ||
        (need_vals && FW_RESERVE(p->values, p->values_cap, need_vals) != 0) ||
        (depth && FW_RESERVE(p->frames, p->frames_cap, p->nframes + depth) != 0) ||
        (n && FW_RESERVE(p->lkeys, p->lkeys_cap, p->nlab + n) != 0) ||
        (n && FW_RESERVE(p->lvals, p->lvals_cap, p->nlab + n) != 0) ||
        fw_table_reserve(p, &p->sample_index, p->nsamples, fw_sample_hash_of) != 0)
        return FW_ERR_NOMEM;
    size_t pos = p->nsamples++;
    fw_sample_rec *r = &p->samples[pos];
    r->frames_off = p->nframes;
    r->labels_off = p->nlab;
    r->depth = (uint32_t)depth;
    r->nlabels = (uint32_t)n;
    r->hash = hash;
    if (depth)
        memcpy(p->frames + p->nframes, locs, depth * sizeof *locs);
    p->nframes += depth;
    for (size_t i = 0; i < n; i++) {
        p->lkeys[p->nlab + i] = pairs[i].key;
        p->lvals[p->nlab + i] = pairs[i].value;
    }
    p->nlab += n;
    if (p->ntypes)
        memcpy(p->values + pos * p->ntypes, values, p->ntypes * sizeof *values);
    fw_table_put(&p->sample_index, hash, pos);
    return FW_OK;
}

static fw_status fw_check_locations(const fw_profile *p, const uint64_t *locs, size_t depth)
{
    if (depth > FW_PROFILE_MAX_DEPTH)
        return FW_ERR_LIMIT;
    if (depth && !locs)
        return FW_ERR_INVALID;
    for (size_t i = 0; i < depth; i++)
        if (locs[i] == 0 || locs[i] > p->nlocs)
            return FW_ERR_INVALID;
    return FW_OK;
}

fw_status fw_profile_add_indexed(fw_profile *p, const uint64_t *location_ids, size_t depth,
                                 const uint64_t *label_keys, const uint64_t *label_values,
                                 size_t nlabels, const int64_t *values)
{
    assert(p);
    fw_status st = fw_check_locations(p, location_ids, depth);
    if (st != FW_OK)
        return st;
    if (nlabels > FW_PROFILE_MAX_LABELS)
        return FW_ERR_LIMIT;
    if ((nlabels && (!label_keys || !label_values)) || (p->ntypes && !values))
        return FW_ERR_INVALID;
    fw_pair pairs[FW_PROFILE_MAX_LABELS];
    for (size_t i = 0; i < nlabels; i++) {
        if (label_keys[i] >= p->nstrs || label_values[i] >= p->nstrs)
            return FW_ERR_INVALID;
        pairs[i] = (fw_pair){label_keys[i], label_values[i]};
    }
    size_t n = fw_pairs_canonical(pairs, nlabels);
    uint32_t hash = fw_sample_hash(location_ids, depth, pairs, n);
    if (p->sample_index.cap) {
        size_t mask = p->sample_index.cap - 1;
        for (size_t i = hash & mask; p->sample_index.slots[i]; i = (i + 1) & mask) {
            size_t pos = p->sample_index.slots[i] - 1;
            const fw_sample_rec *r = &p->samples[pos];
            if (r->hash != hash || !fw_sample_equal(p, r, location_ids, depth, pairs, n))
                continue;
            /* A profile without sample types has no value rows (values may be NULL). */
            for (size_t t = 0; t < p->ntypes; t++)
                p->values[pos * p->ntypes + t] = fw_sat_add(p->values[pos * p->ntypes + t], values[t]);
            return FW_OK;
        }
    }
    return fw_sample_insert(p, location_ids, depth, pairs, n, hash, values);
}

fw_status fw_profile_add(fw_profile *p, const uint64_t *location_ids, size_t depth,
                         const fw_label *labels, size_t nlabels, const int64_t *values)
{
    assert(p);
    fw_status st = fw_check_locations(p, location_ids, depth);
    if (st != FW_OK)
        return st;
    if (nlabels > FW_PROFILE_MAX_LABELS)
        return FW_ERR_LIMIT;
    if ((nlabels && !labels) || (p->ntypes && !values))
        return FW_ERR_INVALID;
    uint64_t keys[FW_PROFILE_MAX_LABELS], vals[FW_PROFILE_MAX_LABELS];
    const char *strs[2 * FW_PROFILE_MAX_LABELS];
    int all_known = 1;
    for (size_t i = 0; i < nlabels; i++) {
        if (!labels[i].key || !labels[i].value)
            return FW_ERR_INVALID;
        strs[2 * i] = labels[i].key;
        strs[2 * i + 1] = labels[i].value;
        all_known &= fw_profile_find_string(p, labels[i].key, strlen(labels[i].key), &keys[i]);
        all_known &= fw_profile_find_string(p, labels[i].value, strlen(labels[i].value), &vals[i]);
    }
    if (!all_known) {
        /* A new string means a new sample: check both caps before interning anything. */
        if (p->nsamples >= FW_PROFILE_MAX_SAMPLES)
            return FW_ERR_LIMIT;
        if ((st = fw_strs_precheck(p, strs, 2 * nlabels)) != FW_OK)
            return st;
        for (size_t i = 0; i < nlabels; i++) {
            if ((st = fw_profile_intern(p, labels[i].key, strlen(labels[i].key), &keys[i])) != FW_OK ||
                (st = fw_profile_intern(p, labels[i].value, strlen(labels[i].value), &vals[i])) != FW_OK)
                return st;
        }
    }
    return fw_profile_add_indexed(p, location_ids, depth, keys, vals, nlabels, values);
}

size_t fw_profile_sample_count(const fw_profile *p)
{
    assert(p);
    return p->nsamples;
}

fw_status fw_profile_get_sample(const fw_profile *p, size_t i, fw_sample_view *out)
{
    assert(p && out);
    if (i >= p->nsamples)
        return FW_ERR_INVALID;
    const fw_sample_rec *r = &p->samples[i];
    out->location_ids = p->frames ? p->frames + r->frames_off : NULL;
    out->depth = r->depth;
    out->values = p->values ? p->values + i * p->ntypes : NULL;
    out->label_keys = p->lkeys ? p->lkeys + r->labels_off : NULL;
    out->label_values = p->lvals ? p->lvals + r->labels_off : NULL;
    out->nlabels = r->nlabels;
    return FW_OK;
}

/* ---- metadata --------------------------------------------------------------------------- */

void fw_profile_set_time(fw_profile *p, int64_t time_nanos, int64_t duration_nanos)
{
    assert(p);
    p->time_nanos = time_nanos;
    p->duration_nanos = duration_nanos;
}

void fw_profile_set_period(fw_profile *p, const char *type, const char *unit, int64_t period)
{
    assert(p);
    uint64_t t = 0, u = 0;
    /* The period is informational: if its strings cannot be interned it is left unset
     * rather than failing the whole profile. */
    if (type && unit && fw_profile_intern(p, type, strlen(type), &t) == FW_OK &&
        fw_profile_intern(p, unit, strlen(unit), &u) == FW_OK) {
        p->period_type = t;
        p->period_unit = u;
    }
    p->period = period;
}

int64_t fw_profile_time_nanos(const fw_profile *p) { assert(p); return p->time_nanos; }
int64_t fw_profile_duration_nanos(const fw_profile *p) { assert(p); return p->duration_nanos; }
int64_t fw_profile_period(const fw_profile *p) { assert(p); return p->period; }

void fw_profile_period_type(const fw_profile *p, uint64_t *type, uint64_t *unit)
{
    assert(p && type && unit);
    *type = p->period_type;
    *unit = p->period_unit;
}

fw_status fw_profile_add_comment(fw_profile *p, const char *comment)
{
    assert(p);
    if (!comment)
        return FW_ERR_INVALID;
    if (p->ncomments >= FW_PROFILE_MAX_STRINGS)
        return FW_ERR_LIMIT;
    uint64_t idx;
    fw_status st = fw_profile_intern(p, comment, strlen(comment), &idx);
    if (st != FW_OK)
        return st;
    if (FW_RESERVE(p->comments, p->comments_cap, p->ncomments + 1) != 0)
        return FW_ERR_NOMEM;
    p->comments[p->ncomments++] = idx;
    return FW_OK;
}

size_t fw_profile_comment_count(const fw_profile *p)
{
    assert(p);
    return p->ncomments;
}

const char *fw_profile_comment(const fw_profile *p, size_t i)
{
    assert(p);
    return i < p->ncomments ? p->strs[p->comments[i]].s : NULL;
}
