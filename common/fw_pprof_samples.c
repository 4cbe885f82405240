/*
 * fw_pprof_samples.c: the decoder's last two passes (fw_pprof_decode.c runs the others):
 * samples, with their locations, values and labels, then the remaining metadata (time,
 * duration, period, comments).
 *
 * A numeric label (Label.num) becomes a string label holding its decimal value (num_unit is
 * checked and dropped), because fw_profile labels are strings.
 */
#include "fw_pprof.h"
#include "fw_pprof_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t frames[FW_PROFILE_MAX_DEPTH];
    size_t depth;
    int64_t values[FW_PROFILE_MAX_TYPES];
    size_t nvalues;
    uint64_t keys[FW_PROFILE_MAX_LABELS], vals[FW_PROFILE_MAX_LABELS];
    size_t nlabels;
} fw_sample_acc;

static int fw_sample_locations(fw_dec *d, fw_where w, const fw_field *f, fw_sample_acc *a)
{
    fw_ints it = {{NULL, NULL}, 0, 0};
    uint64_t id = 0;
    int rc;
    if (fw_ints_init(d, w, f, "location_id", &it) != 0)
        return -1;
    while ((rc = fw_ints_next(d, w, &it, &id)) == 1) {
        uint32_t li;
        if (!fw_idmap_get(&d->locs, id, &li))
            return fw_pb_fail(d, w, "location id %" PRIu64 " out of range", id);
        const fw_locexp *e = &d->locexp[li];
        if (e->n > FW_PROFILE_MAX_DEPTH - a->depth)
            return fw_pb_fail(d, w, "more than %d frames", FW_PROFILE_MAX_DEPTH);
        if (e->n == 1)   /* the usual case: one Line per Location; no memcpy call */
            a->frames[a->depth++] = d->expand[e->off];
        else {
            memcpy(a->frames + a->depth, d->expand + e->off, e->n * sizeof *a->frames);
            a->depth += e->n;
        }
    }
    return rc;
}

static int fw_sample_values(fw_dec *d, fw_where w, const fw_field *f, fw_sample_acc *a)
{
    fw_ints it = {{NULL, NULL}, 0, 0};
    uint64_t v = 0;
    int rc;
    if (fw_ints_init(d, w, f, "value", &it) != 0)
        return -1;
    size_t ntypes = fw_profile_type_count(d->prof);
    while ((rc = fw_ints_next(d, w, &it, &v)) == 1) {
        if (a->nvalues == ntypes)
            return fw_pb_fail(d, w, "more values than the %zu sample types", ntypes);
        a->values[a->nvalues++] = (int64_t)v;
    }
    return rc;
}

static int fw_label_msg(fw_dec *d, fw_where w, const fw_field *lm, fw_sample_acc *a)
{
    fw_rd r = {lm->data, lm->data + lm->len};
    fw_field f;
    int rc, has_num = 0;
    uint64_t key = 0, str = 0, num = 0;
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        static const char *const names[] = {NULL, "key", "str", "num", "num_unit"};
        if (f.field < 1 || f.field > 4)
            continue;
        if (fw_want(d, w, &f, FW_WT_VARINT, names[f.field]) != 0)
            return -1;
        if (f.field != 3 && fw_str_index(d, w, names[f.field], f.v) != 0)
            return -1;
        if (f.field == 1)
            key = f.v;
        else if (f.field == 2)
            str = f.v;
        else if (f.field == 3) {
            num = f.v;
            has_num = 1;
        }
    }
    if (rc < 0)
        return -1;
    if (a->nlabels == FW_PROFILE_MAX_LABELS)
        return fw_pb_fail(d, w, "more than %d labels", FW_PROFILE_MAX_LABELS);
    uint64_t value = d->strmap[str];
    if (!str && has_num) {
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, (int64_t)num);
        fw_status st = fw_profile_intern(d->prof, text, (size_t)n, &value);
        if (st != FW_OK)
            return fw_pb_status_fail(d, w, st, "strings");
    }
    a->keys[a->nlabels] = d->strmap[key];
    a->vals[a->nlabels++] = value;
    return 0;
}

static int fw_sample_msg(fw_dec *d, size_t idx, const fw_field *sm, fw_sample_acc *a)
{
    fw_where w = {"sample", idx};
    fw_rd r = {sm->data, sm->data + sm->len};
    fw_field f;
    int rc;
    a->depth = a->nvalues = a->nlabels = 0;
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        if (f.field == 1)
            rc = fw_sample_locations(d, w, &f, a);
        else if (f.field == 2)
            rc = fw_sample_values(d, w, &f, a);
        else if (f.field == 3)
            rc = fw_want(d, w, &f, FW_WT_LEN, "label") ? -1 : fw_label_msg(d, w, &f, a);
        else
            rc = 0;
        if (rc < 0)
            return -1;
    }
    if (rc < 0)
        return -1;
    size_t ntypes = fw_profile_type_count(d->prof);
    if (a->nvalues != ntypes)
        return fw_pb_fail(d, w, "%zu values for %zu sample types", a->nvalues, ntypes);
    fw_status st = fw_profile_add_indexed(d->prof, a->frames, a->depth, a->keys, a->vals,
                                          a->nlabels, a->values);
    return st == FW_OK ? 0 : fw_pb_status_fail(d, w, st, "samples");
}

int fw_pb_samples(fw_dec *d)
{
    fw_sample_acc *a = malloc(sizeof *a);
    if (!a)
        return fw_pb_fail(d, fw_top, "out of memory");
    fw_field f;
    size_t n = 0, ti = 0;
    while (fw_top_next(d, &ti, FW_P_SAMPLE, &f))
        if (fw_sample_msg(d, n++, &f, a) != 0)
            break;
    free(a);
    return d->failed ? -1 : 0;
}

static int fw_metadata_field(fw_dec *d, const fw_field *f, int64_t *time, int64_t *dur)
{
    switch (f->field) {
    case FW_P_TIME:
        *time = (int64_t)f->v;
        return 0;
    case FW_P_DURATION:
        *dur = (int64_t)f->v;
        return 0;
    case FW_P_PERIOD:
        fw_profile_set_period(d->prof, NULL, NULL, (int64_t)f->v);
        return 0;
    case FW_P_DROP_FRAMES:
        return fw_str_index(d, fw_top, "drop_frames", f->v);
    case FW_P_KEEP_FRAMES:
        return fw_str_index(d, fw_top, "keep_frames", f->v);
    case FW_P_DEFAULT_TYPE:
        return fw_str_index(d, fw_top, "default_sample_type", f->v);
    default:
        return 0;
    }
}

static int fw_comments(fw_dec *d, const fw_field *f)
{
    fw_ints it = {{NULL, NULL}, 0, 0};
    uint64_t v = 0;
    int rc;
    if (fw_ints_init(d, fw_top, f, "comment", &it) != 0)
        return -1;
    while ((rc = fw_ints_next(d, fw_top, &it, &v)) == 1) {
        if (fw_str_index(d, fw_top, "comment", v) != 0)
            return -1;
        fw_status st = fw_profile_add_comment(d->prof, fw_profile_string(d->prof, d->strmap[v]));
        if (st != FW_OK)
            return fw_pb_status_fail(d, fw_top, st, "comments");
    }
    return rc;
}

int fw_pb_metadata(fw_dec *d)
{
    fw_rd r = {d->base, d->end};
    fw_field f;
    int64_t time = 0, dur = 0;
    int64_t period = 0;
    uint64_t ptype = 0, punit = 0;
    while (!d->failed && fw_next(d, fw_top, &r, &f) == 1) {
        if (f.field == FW_P_PERIOD_TYPE)
            fw_pb_value_type(d, (fw_where){"period type", SIZE_MAX}, &f, &ptype, &punit);
        else if (f.field == FW_P_COMMENT)
            fw_comments(d, &f);
        else if (f.field == FW_P_PERIOD)
            period = (int64_t)f.v;
        else
            fw_metadata_field(d, &f, &time, &dur);
    }
    if (d->failed)
        return -1;
    fw_profile_set_time(d->prof, time, dur);
    if (ptype || punit)
        fw_profile_set_period(d->prof, fw_profile_string(d->prof, d->strmap[ptype]),
                              fw_profile_string(d->prof, d->strmap[punit]), period);
    else
        fw_profile_set_period(d->prof, NULL, NULL, period);
    return 0;
}
