/*
 * fw_profile_merge.c: fw_profile_merge(), every sample of one profile added into another.
 *
 * Each source string, function and location is remapped into the destination once, through
 * maps indexed by source id (strings lazily: only those a kept sample or table entry uses), and
 * samples are then added by index with fw_profile_add_indexed, which skips hashing strings
 * again. Sample types are matched by (type, unit); values of types dst lacks are dropped.
 */
#include "fw_profile.h"
#include "fw_profile_impl.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- merge ------------------------------------------------------------------------------
 * Strings are remapped lazily (a source string costs one intern the first time it is
 * used); functions and locations eagerly, since samples reference most of them. */

typedef struct {
    fw_profile *dst;
    const fw_profile *src;
    uint64_t *strmap;     /* src string index -> dst index, UINT64_MAX = not yet */
    uint64_t *funcmap;    /* src function id - 1 -> dst id */
    uint64_t *locmap;     /* src location id - 1 -> dst id */
    int typemap[FW_PROFILE_MAX_TYPES];  /* src type -> dst type or -1 */
} fw_merge_ctx;

static fw_status fw_merge_str(fw_merge_ctx *m, uint64_t idx, uint64_t *out)
{
    assert(idx < m->src->nstrs);
    if (m->strmap[idx] == UINT64_MAX) {
        const fw_str *s = &m->src->strs[idx];
        fw_status st = fw_profile_intern(m->dst, s->s, s->len, &m->strmap[idx]);
        if (st != FW_OK) {
            m->strmap[idx] = UINT64_MAX;
            return st;
        }
    }
    *out = m->strmap[idx];
    return FW_OK;
}

static fw_status fw_merge_tables(fw_merge_ctx *m)
{
    fw_status st;
    for (size_t i = 0; i < m->src->nfuncs; i++) {
        const fw_function *f = &m->src->funcs[i];
        uint64_t n, fn;
        if ((st = fw_merge_str(m, f->name, &n)) != FW_OK ||
            (st = fw_merge_str(m, f->filename, &fn)) != FW_OK ||
            (st = fw_profile_function_indexed(m->dst, n, fn, f->start_line, &m->funcmap[i])) != FW_OK)
            return st;
    }
    for (size_t i = 0; i < m->src->nlocs; i++) {
        const fw_location *l = &m->src->locs[i];
        st = fw_profile_location(m->dst, m->funcmap[l->function_id - 1], l->line, &m->locmap[i]);
        if (st != FW_OK)
            return st;
    }
    return FW_OK;
}

static fw_status fw_merge_samples(fw_merge_ctx *m)
{
    uint64_t frames[FW_PROFILE_MAX_DEPTH];
    uint64_t keys[FW_PROFILE_MAX_LABELS], vals[FW_PROFILE_MAX_LABELS];
    int64_t values[FW_PROFILE_MAX_TYPES];
    const fw_profile *src = m->src;
    for (size_t i = 0; i < src->nsamples; i++) {
        const fw_sample_rec *r = &src->samples[i];
        fw_status st;
        for (size_t k = 0; k < r->depth; k++)
            frames[k] = m->locmap[src->frames[r->frames_off + k] - 1];
        for (size_t k = 0; k < r->nlabels; k++) {
            if ((st = fw_merge_str(m, src->lkeys[r->labels_off + k], &keys[k])) != FW_OK ||
                (st = fw_merge_str(m, src->lvals[r->labels_off + k], &vals[k])) != FW_OK)
                return st;
        }
        memset(values, 0, sizeof values);
        for (size_t t = 0; t < src->ntypes; t++)
            if (m->typemap[t] >= 0)
                values[m->typemap[t]] = src->values[i * src->ntypes + t];
        st = fw_profile_add_indexed(m->dst, frames, r->depth, keys, vals, r->nlabels, values);
        if (st != FW_OK)
            return st;
    }
    return FW_OK;
}

static void fw_merge_metadata(fw_profile *dst, const fw_profile *src)
{
    /* The merged profile covers the union of both intervals. */
    if (src->time_nanos && !dst->time_nanos) {
        dst->time_nanos = src->time_nanos;
        dst->duration_nanos = src->duration_nanos;
    } else if (src->time_nanos) {
        int64_t start = dst->time_nanos < src->time_nanos ? dst->time_nanos : src->time_nanos;
        int64_t end_d = fw_sat_add(dst->time_nanos, dst->duration_nanos);
        int64_t end_s = fw_sat_add(src->time_nanos, src->duration_nanos);
        dst->time_nanos = start;
        dst->duration_nanos = fw_sat_sub(end_d > end_s ? end_d : end_s, start);
    }
    if (!dst->period && src->period) {
        fw_profile_set_period(dst, src->strs[src->period_type].s, src->strs[src->period_unit].s,
                              src->period);
    }
}

fw_status fw_profile_merge(fw_profile *dst, const fw_profile *src)
{
    assert(dst && src);
    if (dst == src)
        return FW_ERR_INVALID;
    fw_merge_ctx m = {.dst = dst, .src = src};
    for (size_t t = 0; t < src->ntypes; t++) {
        m.typemap[t] = -1;
        for (size_t d = 0; d < dst->ntypes; d++)
            if (strcmp(src->strs[src->type_str[t]].s, dst->strs[dst->type_str[d]].s) == 0 &&
                strcmp(src->strs[src->unit_str[t]].s, dst->strs[dst->unit_str[d]].s) == 0)
                m.typemap[t] = (int)d;
    }
    m.strmap = malloc(src->nstrs * sizeof *m.strmap);
    m.funcmap = malloc((src->nfuncs + 1) * sizeof *m.funcmap);
    m.locmap = malloc((src->nlocs + 1) * sizeof *m.locmap);
    fw_status st = FW_ERR_NOMEM;
    if (m.strmap && m.funcmap && m.locmap) {
        memset(m.strmap, 0xff, src->nstrs * sizeof *m.strmap);
        st = fw_merge_tables(&m);
        if (st == FW_OK)
            st = fw_merge_samples(&m);
        if (st == FW_OK)
            fw_merge_metadata(dst, src);
    }
    free(m.strmap);
    free(m.funcmap);
    free(m.locmap);
    return st;
}
