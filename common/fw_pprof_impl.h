/*
 * fw_pprof_impl: the private half of the pprof codec (fw_pprof_encode.c, fw_pprof_decode.c,
 * fw_pprof_samples.c); nothing else includes it.
 *
 * The wire format in one paragraph: a message is a sequence of fields, each a varint tag
 * (field number << 3 | wire type) followed by a payload: a varint (wire type 0), 8 bytes
 * (1), a varint length and that many bytes (2), or 4 bytes (5). Nested messages, strings
 * and packed repeated integers are all wire type 2. Fields may come in any order and repeat.
 *
 * The decoder's state (fw_dec) and its field reader live here so that its passes can sit in
 * two files. The reader runs once per field of the input, so its functions are static inline:
 * each file's passes get them inlined, as they were when the decoder was one file.
 */
#ifndef FW_PPROF_IMPL_H
#define FW_PPROF_IMPL_H

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_profile.h"

enum {
    FW_WT_VARINT = 0,
    FW_WT_I64 = 1,
    FW_WT_LEN = 2,
    FW_WT_I32 = 5,
};

/* Profile field numbers. */
enum {
    FW_P_SAMPLE_TYPE = 1, FW_P_SAMPLE = 2, FW_P_MAPPING = 3, FW_P_LOCATION = 4,
    FW_P_FUNCTION = 5, FW_P_STRING = 6, FW_P_DROP_FRAMES = 7, FW_P_KEEP_FRAMES = 8,
    FW_P_TIME = 9, FW_P_DURATION = 10, FW_P_PERIOD_TYPE = 11, FW_P_PERIOD = 12,
    FW_P_COMMENT = 13, FW_P_DEFAULT_TYPE = 14,
};


typedef struct {
    const uint8_t *p, *end;
} fw_rd;

typedef struct {
    unsigned field;
    unsigned wt;
    uint64_t v;            /* wire types 0, 1, 5 */
    const uint8_t *data;   /* wire type 2 */
    size_t len;
    size_t offset;         /* of the tag, from the start of the input */
} fw_field;

/* Where an error happened: "sample 12", or "profile" when index is SIZE_MAX. Formatted
 * only when an error is reported, so the hot loops pay nothing for it. */
typedef struct {
    const char *kind;
    size_t index;
} fw_where;

typedef struct {
    uint64_t *keys;   /* 0 = empty slot; file ids are nonzero */
    uint32_t *vals;
    size_t cap;
} fw_idmap;

typedef struct {
    size_t off;       /* into fw_dec.expand */
    size_t n;
} fw_locexp;

typedef struct {
    const uint8_t *base;
    const uint8_t *end;
    char *err;
    size_t errlen;
    int failed;
    fw_profile *prof;
    /* counts from the scan */
    size_t ntypes, nsamples, nlocs, nfuncs, nstrs;
    /* the string table: file slices, then profile indexes */
    const uint8_t **str_data;
    size_t *str_len;
    uint64_t *strmap;
    fw_idmap funcs;         /* file function id -> profile function id */
    fw_idmap locs;          /* file location id -> index into locexp */
    fw_locexp *locexp;
    uint64_t *expand;       /* profile location ids, in Line order */
    size_t nexpand, expand_cap;
    uint64_t unknown_func;  /* lazily created function for frames without one */
    /* The top-level messages the later passes read (sample types, samples, locations,
     * functions, strings), recorded by the scan so that each pass does not decode the whole
     * input again. Each is at least 2 input bytes and their counts are capped, so this is
     * bounded by 8x the input. */
    struct fw_topf { const uint8_t *data; uint32_t len, field; } *top;
    size_t ntop, top_cap;
} fw_dec;

/* Records the first error ("sample 12: location id 99 out of range") and returns -1; later
 * errors are ignored, so the first cause is the one reported. Static, so that the compiler
 * sees that every failure path returns -1 (and that outputs are then never read). */
static inline int fw_pb_fail(fw_dec *d, fw_where w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int fw_pb_fail(fw_dec *d, fw_where w, const char *fmt, ...)
{
    if (d->failed)
        return -1;
    d->failed = 1;
    if (!d->err || !d->errlen)
        return -1;
    int n = 0;
    if (w.index == SIZE_MAX)
        n = snprintf(d->err, d->errlen, "%s: ", w.kind);
    else
        n = snprintf(d->err, d->errlen, "%s %zu: ", w.kind, w.index);
    if (n < 0 || (size_t)n >= d->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The same for an fw_profile status ("out of memory", "too many samples"). */
int fw_pb_status_fail(fw_dec *d, fw_where w, fw_status st, const char *what);
/* Reads a ValueType's (type, unit) file string indexes. */
int fw_pb_value_type(fw_dec *d, fw_where w, const fw_field *vt, uint64_t *type, uint64_t *unit);
/* The passes of fw_pprof_samples.c: samples, then the remaining metadata. */
int fw_pb_samples(fw_dec *d);
int fw_pb_metadata(fw_dec *d);

static const fw_where fw_top = {"profile", SIZE_MAX};

static inline size_t fw_off(const fw_dec *d, const uint8_t *p)
{
    return (size_t)(p - d->base);
}

/* 0 ok, -1 truncated, -2 longer than 10 bytes or overflowing 64 bits. */
static inline int fw_get_varint(fw_rd *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        if (i == 9 && b > 1)
            return -2;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -2;
}

static inline int fw_varint_or_fail(fw_dec *d, fw_where w, fw_rd *r, uint64_t *out)
{
    /* Fast paths: tags, small ids and lengths below 16384 are one or two bytes. */
    if (r->end - r->p >= 2) {
        if (r->p[0] < 0x80) {
            *out = r->p[0];
            r->p += 1;
            return 0;
        }
        if (r->p[1] < 0x80) {
            *out = (uint64_t)(r->p[0] & 0x7f) | (uint64_t)r->p[1] << 7;
            r->p += 2;
            return 0;
        }
    }
    const uint8_t *at = r->p;
    int rc = fw_get_varint(r, out);
    if (rc == -1)
        return fw_pb_fail(d, w, "truncated varint at offset %zu", fw_off(d, at));
    if (rc == -2)
        return fw_pb_fail(d, w, "bad varint (more than 64 bits) at offset %zu", fw_off(d, at));
    return 0;
}

/* Reads the next field of a message: 1 = a field, 0 = end of message, -1 = error. */
static inline int fw_next(fw_dec *d, fw_where w, fw_rd *r, fw_field *f)
{
    if (r->p >= r->end)
        return 0;
    *f = (fw_field){.offset = fw_off(d, r->p)};
    uint64_t tag = 0;   /* set on success; gcc -O3 (setup.py) cannot see that fw_fail never returns 0 */
    if (fw_varint_or_fail(d, w, r, &tag) != 0)
        return -1;
    uint64_t field = tag >> 3;
    if (field == 0 || field > 536870911u)
        return fw_pb_fail(d, w, "invalid field number %" PRIu64 " at offset %zu", field, f->offset);
    f->field = (unsigned)field;
    f->wt = (unsigned)(tag & 7);
    size_t left;
    switch (f->wt) {
    case FW_WT_VARINT:
        return fw_varint_or_fail(d, w, r, &f->v) == 0 ? 1 : -1;
    case FW_WT_I64:
    case FW_WT_I32: {
        size_t n = f->wt == FW_WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return fw_pb_fail(d, w, "truncated field %u at offset %zu", f->field, f->offset);
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case FW_WT_LEN: {
        uint64_t len = 0;
        if (fw_varint_or_fail(d, w, r, &len) != 0)
            return -1;
        left = (size_t)(r->end - r->p);
        if (len > left)
            return fw_pb_fail(d, w, "truncated field %u at offset %zu: length %" PRIu64
                           " but %zu bytes left", f->field, f->offset, len, left);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return fw_pb_fail(d, w, "unsupported wire type %u (field %u) at offset %zu", f->wt,
                       f->field, f->offset);
    }
}

static inline int fw_want(fw_dec *d, fw_where w, const fw_field *f, unsigned wt, const char *name)
{
    if (f->wt == wt)
        return 0;
    return fw_pb_fail(d, w, "field %u (%s): wrong wire type %u at offset %zu", f->field, name,
                   f->wt, f->offset);
}

/* Walks a message only to check its framing (used for fields flamewatch ignores). */
static inline int fw_check_framing(fw_dec *d, fw_where w, const fw_field *f)
{
    fw_rd r = {f->data, f->data + f->len};
    fw_field g;
    int rc;
    while ((rc = fw_next(d, w, &r, &g)) == 1) {
    }
    return rc;
}

/* Repeated integers, accepted packed (wire type 2) and unpacked (wire type 0). */
typedef struct {
    fw_rd r;
    uint64_t single;
    int pending;
} fw_ints;

static inline int fw_ints_init(fw_dec *d, fw_where w, const fw_field *f, const char *name, fw_ints *it)
{
    if (f->wt == FW_WT_VARINT) {
        *it = (fw_ints){{NULL, NULL}, f->v, 1};
        return 0;
    }
    if (f->wt == FW_WT_LEN) {
        *it = (fw_ints){{f->data, f->data + f->len}, 0, 0};
        return 0;
    }
    return fw_want(d, w, f, FW_WT_LEN, name);
}

static inline int fw_ints_next(fw_dec *d, fw_where w, fw_ints *it, uint64_t *v)
{
    if (it->pending) {
        it->pending = 0;
        *v = it->single;
        return 1;
    }
    if (!it->r.p || it->r.p >= it->r.end)
        return 0;
    return fw_varint_or_fail(d, w, &it->r, v) == 0 ? 1 : -1;
}

/* ---- decoder: id maps ------------------------------------------------------------------- */

static inline int fw_idmap_init(fw_idmap *m, size_t count)
{
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    m->cap = cap;
    return m->keys && m->vals ? 0 : -1;
}

static inline void fw_idmap_free(fw_idmap *m)
{
    free(m->keys);
    free(m->vals);
}

static inline size_t fw_idmap_slot(const fw_idmap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

/* The map was sized from the scan counts (load <= 50%), so it never needs to grow. */
static inline int fw_idmap_put(fw_idmap *m, uint64_t key, uint32_t val)
{
    assert(key != 0);
    size_t i = fw_idmap_slot(m, key);
    if (m->keys[i])
        return -1;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

static inline int fw_idmap_get(const fw_idmap *m, uint64_t key, uint32_t *val)
{
    if (key == 0)
        return 0;
    size_t i = fw_idmap_slot(m, key);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}

/* Refuses a string index outside the table. */
static inline int fw_str_index(fw_dec *d, fw_where w, const char *what, uint64_t raw)
{
    if (raw < d->nstrs)
        return 0;
    return fw_pb_fail(d, w, "%s string index %" PRId64 " out of range (%zu strings)", what,
                      (int64_t)raw, d->nstrs);
}

/* The next recorded top-level message of kind `field` at or after *i: 1, or 0 at the end. */
static inline int fw_top_next(const fw_dec *d, size_t *i, unsigned field, fw_field *f)
{
    for (; *i < d->ntop; (*i)++)
        if (d->top[*i].field == field) {
            const struct fw_topf *t = &d->top[(*i)++];
            *f = (fw_field){.field = field, .wt = FW_WT_LEN, .data = t->data, .len = t->len,
                            .offset = (size_t)(t->data - d->base)};
            return 1;
        }
    return 0;
}

#endif
