/*
 * fw_pprof.c: google/pprof profile.proto, encoded and decoded by hand.
 *
 * The wire format in one paragraph: a message is a sequence of fields, each a varint tag
 * (field number << 3 | wire type) followed by a payload: a varint (wire type 0), 8 bytes
 * (1), a varint length and that many bytes (2), or 4 bytes (5). Nested messages, strings
 * and packed repeated integers are all wire type 2. Fields may come in any order and
 * repeat.
 *
 * Encoder. Strings, functions and locations are already deduplicated and densely numbered
 * in fw_profile, so their indexes and ids are written as they are. A nested message is
 * built in a scratch buffer and then copied behind its tag and length; scratch buffers
 * are reused across messages, so encoding does one allocation per buffer, not per sample.
 * Writes go through a small writer that remembers the first allocation failure, keeping
 * the happy path free of error checks while still reporting FW_ERR_NOMEM.
 *
 * Decoder. The input is hostile until proven otherwise. Because a message may reference
 * strings that appear after it, decoding runs in passes over the top-level fields:
 *   1. scan: check framing of every field, wire types of known fields, and count each
 *      table (the counts are capped before anything is allocated from them);
 *   2. strings: check UTF-8 (invalid is an error, as is a NUL byte: fw_profile hands out
 *      C strings), and string_table[0] == "";
 *   3. sample types, which create the fw_profile; then all strings are interned;
 *   4. functions, then locations, then samples, then the remaining metadata.
 * Function and location ids in a file are arbitrary nonzero uint64 values, so each is
 * mapped to fw_profile's dense id through a small open-addressing map sized from the scan
 * counts. A location with several Line entries (inlined calls) expands into several frames,
 * innermost first, which keeps a sample's stack leaf first.
 * Interpretation choices: a numeric label (Label.num) becomes a string label holding its
 * decimal value (num_unit is checked and dropped), because fw_profile labels are strings;
 * a Line without a function, or a Location without lines, becomes a frame named after its
 * address ("0x4011a0", or "[unknown]"); mappings, drop/keep_frames, breakdowns and unknown
 * fields are checked for framing and skipped.
 * Every error names what was wrong and where ("sample 12: location id 99 out of range",
 * "string 3: invalid UTF-8", "truncated field at offset 57"); indexes in messages are
 * 0-based positions among the fields of that kind.
 */
#include "fw_pprof.h"
#include "fw_gzip.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- fw_buf ----------------------------------------------------------------------------- */

void fw_buf_free(fw_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int fw_buf_reserve(fw_buf *b, size_t extra)
{
    assert(b);
    if (extra > SIZE_MAX - b->len)
        return -1;
    if (b->len + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int fw_buf_append(fw_buf *b, const void *data, size_t len)
{
    assert(b);
    if (len == 0)
        return 0;
    if (fw_buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* ---- encoder ---------------------------------------------------------------------------- */

typedef struct {
    fw_buf *b;
    int failed;
} fw_w;

static void fw_w_raw(fw_w *w, const void *d, size_t n)
{
    if (!w->failed && fw_buf_append(w->b, d, n) != 0)
        w->failed = 1;
}

static void fw_w_varint(fw_w *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    fw_w_raw(w, tmp, n);
}

static size_t fw_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void fw_w_tag(fw_w *w, unsigned field, unsigned wt)
{
    fw_w_varint(w, (uint64_t)field << 3 | wt);
}

/* proto3 scalars: a zero value is the default and is not written. */
static void fw_w_uint(fw_w *w, unsigned field, uint64_t v)
{
    if (v) {
        fw_w_tag(w, field, FW_WT_VARINT);
        fw_w_varint(w, v);
    }
}

static void fw_w_int(fw_w *w, unsigned field, int64_t v)
{
    fw_w_uint(w, field, (uint64_t)v);
}

static void fw_w_bytes(fw_w *w, unsigned field, const void *d, size_t n)
{
    fw_w_tag(w, field, FW_WT_LEN);
    fw_w_varint(w, n);
    fw_w_raw(w, d, n);
}

static void fw_w_packed(fw_w *w, unsigned field, const uint64_t *v, size_t n)
{
    if (!n)
        return;
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += fw_varint_size(v[i]);
    fw_w_tag(w, field, FW_WT_LEN);
    fw_w_varint(w, size);
    for (size_t i = 0; i < n; i++)
        fw_w_varint(w, v[i]);
}

static void fw_w_packed_signed(fw_w *w, unsigned field, const int64_t *v, size_t n)
{
    if (!n)
        return;
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += fw_varint_size((uint64_t)v[i]);
    fw_w_tag(w, field, FW_WT_LEN);
    fw_w_varint(w, size);
    for (size_t i = 0; i < n; i++)
        fw_w_varint(w, (uint64_t)v[i]);
}

static uint64_t fw_string_index(const fw_profile *p, const char *s)
{
    uint64_t idx = 0;
    int found = fw_profile_find_string(p, s, strlen(s), &idx);
    assert(found);
    (void)found;
    return idx;
}

static void fw_enc_value_type(fw_w *out, fw_buf *scratch, unsigned field, uint64_t type,
                              uint64_t unit)
{
    scratch->len = 0;
    fw_w m = {scratch, 0};
    fw_w_uint(&m, 1, type);
    fw_w_uint(&m, 2, unit);
    out->failed |= m.failed;
    fw_w_bytes(out, field, scratch->data, scratch->len);
}

static void fw_enc_samples(const fw_profile *p, fw_w *w, fw_buf *msg, fw_buf *sub)
{
    size_t ntypes = fw_profile_type_count(p);
    for (size_t i = 0; i < fw_profile_sample_count(p) && !w->failed; i++) {
        fw_sample_view s;
        if (fw_profile_get_sample(p, i, &s) != FW_OK)
            continue;
        msg->len = 0;
        fw_w m = {msg, 0};
        fw_w_packed(&m, 1, s.location_ids, s.depth);
        fw_w_packed_signed(&m, 2, s.values, ntypes);
        for (size_t k = 0; k < s.nlabels; k++) {
            sub->len = 0;
            fw_w l = {sub, 0};
            fw_w_uint(&l, 1, s.label_keys[k]);
            fw_w_uint(&l, 2, s.label_values[k]);
            m.failed |= l.failed;
            fw_w_bytes(&m, 3, sub->data, sub->len);
        }
        w->failed |= m.failed;
        fw_w_bytes(w, FW_P_SAMPLE, msg->data, msg->len);
    }
}

static void fw_enc_tables(const fw_profile *p, fw_w *w, fw_buf *msg, fw_buf *sub)
{
    for (uint64_t id = 1; id <= fw_profile_location_count(p) && !w->failed; id++) {
        const fw_location *l = fw_profile_get_location(p, id);
        msg->len = 0;
        fw_w m = {msg, 0};
        fw_w_uint(&m, 1, id);
        sub->len = 0;
        fw_w ln = {sub, 0};
        fw_w_uint(&ln, 1, l->function_id);
        fw_w_int(&ln, 2, l->line);
        m.failed |= ln.failed;
        fw_w_bytes(&m, 4, sub->data, sub->len);
        w->failed |= m.failed;
        fw_w_bytes(w, FW_P_LOCATION, msg->data, msg->len);
    }
    for (uint64_t id = 1; id <= fw_profile_function_count(p) && !w->failed; id++) {
        const fw_function *f = fw_profile_get_function(p, id);
        msg->len = 0;
        fw_w m = {msg, 0};
        fw_w_uint(&m, 1, id);
        fw_w_uint(&m, 2, f->name);
        fw_w_uint(&m, 3, f->name);
        fw_w_uint(&m, 4, f->filename);
        fw_w_int(&m, 5, f->start_line);
        w->failed |= m.failed;
        fw_w_bytes(w, FW_P_FUNCTION, msg->data, msg->len);
    }
    for (uint64_t i = 0; i < fw_profile_string_count(p) && !w->failed; i++) {
        const char *s = fw_profile_string(p, i);
        fw_w_bytes(w, FW_P_STRING, s, strlen(s));
    }
}

fw_status fw_pprof_encode(const fw_profile *p, fw_buf *out)
{
    assert(p && out);
    size_t start = out->len;
    fw_buf msg = {0}, sub = {0};
    fw_w w = {out, 0};
    for (size_t t = 0; t < fw_profile_type_count(p); t++) {
        fw_sample_type st = fw_profile_type(p, t);
        fw_enc_value_type(&w, &msg, FW_P_SAMPLE_TYPE, fw_string_index(p, st.type),
                          fw_string_index(p, st.unit));
    }
    fw_enc_samples(p, &w, &msg, &sub);
    fw_enc_tables(p, &w, &msg, &sub);
    fw_w_int(&w, FW_P_TIME, fw_profile_time_nanos(p));
    fw_w_int(&w, FW_P_DURATION, fw_profile_duration_nanos(p));
    uint64_t ptype, punit;
    fw_profile_period_type(p, &ptype, &punit);
    if (ptype || punit)
        fw_enc_value_type(&w, &msg, FW_P_PERIOD_TYPE, ptype, punit);
    fw_w_int(&w, FW_P_PERIOD, fw_profile_period(p));
    size_t nc = fw_profile_comment_count(p);
    uint64_t *comments = nc ? malloc(nc * sizeof *comments) : NULL;
    if (nc && !comments)
        w.failed = 1;
    for (size_t i = 0; i < nc && comments; i++)
        comments[i] = fw_string_index(p, fw_profile_comment(p, i));
    if (comments)
        fw_w_packed(&w, FW_P_COMMENT, comments, nc);
    free(comments);
    fw_buf_free(&msg);
    fw_buf_free(&sub);
    if (w.failed) {
        out->len = start;
        return FW_ERR_NOMEM;
    }
    return FW_OK;
}

/* ---- decoder: wire reading -------------------------------------------------------------- */

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

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fw_fail(fw_dec *d, fw_where w, const char *fmt, ...)
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

static const fw_where fw_top = {"profile", SIZE_MAX};

static size_t fw_off(const fw_dec *d, const uint8_t *p)
{
    return (size_t)(p - d->base);
}

/* 0 ok, -1 truncated, -2 longer than 10 bytes or overflowing 64 bits. */
static int fw_get_varint(fw_rd *r, uint64_t *out)
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
        return fw_fail(d, w, "truncated varint at offset %zu", fw_off(d, at));
    if (rc == -2)
        return fw_fail(d, w, "bad varint (more than 64 bits) at offset %zu", fw_off(d, at));
    return 0;
}

/* Reads the next field of a message: 1 = a field, 0 = end of message, -1 = error. */
static int fw_next(fw_dec *d, fw_where w, fw_rd *r, fw_field *f)
{
    if (r->p >= r->end)
        return 0;
    *f = (fw_field){.offset = fw_off(d, r->p)};
    uint64_t tag = 0;   /* set on success; gcc -O3 (setup.py) cannot see that fw_fail never returns 0 */
    if (fw_varint_or_fail(d, w, r, &tag) != 0)
        return -1;
    uint64_t field = tag >> 3;
    if (field == 0 || field > 536870911u)
        return fw_fail(d, w, "invalid field number %" PRIu64 " at offset %zu", field, f->offset);
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
            return fw_fail(d, w, "truncated field %u at offset %zu", f->field, f->offset);
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 1;
    }
    case FW_WT_LEN: {
        uint64_t len;
        if (fw_varint_or_fail(d, w, r, &len) != 0)
            return -1;
        left = (size_t)(r->end - r->p);
        if (len > left)
            return fw_fail(d, w, "truncated field %u at offset %zu: length %" PRIu64
                           " but %zu bytes left", f->field, f->offset, len, left);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return fw_fail(d, w, "unsupported wire type %u (field %u) at offset %zu", f->wt,
                       f->field, f->offset);
    }
}

static int fw_want(fw_dec *d, fw_where w, const fw_field *f, unsigned wt, const char *name)
{
    if (f->wt == wt)
        return 0;
    return fw_fail(d, w, "field %u (%s): wrong wire type %u at offset %zu", f->field, name,
                   f->wt, f->offset);
}

/* Walks a message only to check its framing (used for fields flamewatch ignores). */
static int fw_check_framing(fw_dec *d, fw_where w, const fw_field *f)
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

static int fw_ints_init(fw_dec *d, fw_where w, const fw_field *f, const char *name, fw_ints *it)
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

static int fw_ints_next(fw_dec *d, fw_where w, fw_ints *it, uint64_t *v)
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

static int fw_idmap_init(fw_idmap *m, size_t count)
{
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    m->cap = cap;
    return m->keys && m->vals ? 0 : -1;
}

static void fw_idmap_free(fw_idmap *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t fw_idmap_slot(const fw_idmap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

/* The map was sized from the scan counts (load <= 50%), so it never needs to grow. */
static int fw_idmap_put(fw_idmap *m, uint64_t key, uint32_t val)
{
    assert(key != 0);
    size_t i = fw_idmap_slot(m, key);
    if (m->keys[i])
        return -1;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

static int fw_idmap_get(const fw_idmap *m, uint64_t key, uint32_t *val)
{
    if (key == 0)
        return 0;
    size_t i = fw_idmap_slot(m, key);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}

/* ---- decoder: passes -------------------------------------------------------------------- */

static int fw_status_fail(fw_dec *d, fw_where w, fw_status st, const char *what)
{
    switch (st) {
    case FW_ERR_NOMEM:
        return fw_fail(d, w, "out of memory");
    case FW_ERR_LIMIT:
        return fw_fail(d, w, "too many %s (profile limit reached)", what);
    default:
        return fw_fail(d, w, "invalid %s", what);
    }
}

static int fw_scan_field(fw_dec *d, const fw_field *f)
{
    static const char *const names[] = {
        NULL, "sample_type", "sample", "mapping", "location", "function", "string_table",
        "drop_frames", "keep_frames", "time_nanos", "duration_nanos", "period_type",
        "period", "comment", "default_sample_type",
    };
    switch (f->field) {
    case FW_P_SAMPLE_TYPE: case FW_P_SAMPLE: case FW_P_MAPPING: case FW_P_LOCATION:
    case FW_P_FUNCTION: case FW_P_STRING: case FW_P_PERIOD_TYPE:
        if (fw_want(d, fw_top, f, FW_WT_LEN, names[f->field]) != 0)
            return -1;
        break;
    case FW_P_DROP_FRAMES: case FW_P_KEEP_FRAMES: case FW_P_TIME: case FW_P_DURATION:
    case FW_P_PERIOD: case FW_P_DEFAULT_TYPE:
        return fw_want(d, fw_top, f, FW_WT_VARINT, names[f->field]);
    case FW_P_COMMENT:
        if (f->wt != FW_WT_VARINT)
            return fw_want(d, fw_top, f, FW_WT_LEN, names[f->field]);
        return 0;
    default:
        return 0;
    }
    d->ntypes += f->field == FW_P_SAMPLE_TYPE;
    d->nsamples += f->field == FW_P_SAMPLE;
    d->nlocs += f->field == FW_P_LOCATION;
    d->nfuncs += f->field == FW_P_FUNCTION;
    d->nstrs += f->field == FW_P_STRING;
    if (f->field == FW_P_MAPPING)
        return fw_check_framing(d, (fw_where){"mapping", SIZE_MAX}, f);
    return 0;
}

static int fw_scan(fw_dec *d)
{
    fw_rd r = {d->base, d->end};
    fw_field f;
    int rc;
    while ((rc = fw_next(d, fw_top, &r, &f)) == 1) {
        if (fw_scan_field(d, &f) != 0)
            return -1;
        if (f.field != FW_P_SAMPLE_TYPE && f.field != FW_P_SAMPLE && f.field != FW_P_LOCATION &&
            f.field != FW_P_FUNCTION && f.field != FW_P_STRING)
            continue;
        if (d->ntypes > FW_PROFILE_MAX_TYPES || d->nstrs > FW_PROFILE_MAX_STRINGS ||
            d->nfuncs > FW_PROFILE_MAX_FUNCTIONS || d->nlocs > FW_PROFILE_MAX_LOCATIONS ||
            d->nsamples > FW_PROFILE_MAX_SAMPLES || f.len > UINT32_MAX)
            continue;   /* refused below, after the scan */
        if (d->ntop == d->top_cap) {
            size_t ncap = d->top_cap ? d->top_cap * 2 : 1024;
            struct fw_topf *nt = realloc(d->top, ncap * sizeof *nt);
            if (!nt)
                return fw_fail(d, fw_top, "out of memory");
            d->top = nt;
            d->top_cap = ncap;
        }
        d->top[d->ntop++] = (struct fw_topf){f.data, (uint32_t)f.len, f.field};
    }
    if (rc < 0)
        return -1;
    if (d->ntypes > FW_PROFILE_MAX_TYPES)
        return fw_fail(d, fw_top, "%zu sample types (max %d)", d->ntypes, FW_PROFILE_MAX_TYPES);
    if (d->nstrs > FW_PROFILE_MAX_STRINGS)
        return fw_fail(d, fw_top, "%zu strings (max %u)", d->nstrs, FW_PROFILE_MAX_STRINGS);
    if (d->nfuncs > FW_PROFILE_MAX_FUNCTIONS)
        return fw_fail(d, fw_top, "%zu functions (max %u)", d->nfuncs, FW_PROFILE_MAX_FUNCTIONS);
    if (d->nlocs > FW_PROFILE_MAX_LOCATIONS)
        return fw_fail(d, fw_top, "%zu locations (max %u)", d->nlocs, FW_PROFILE_MAX_LOCATIONS);
    if (d->nsamples > FW_PROFILE_MAX_SAMPLES)
        return fw_fail(d, fw_top, "%zu samples (max %u)", d->nsamples, FW_PROFILE_MAX_SAMPLES);
    return 0;
}

/* The next recorded top-level message of kind `field` at or after *i: 1, or 0 at the end. */
static int fw_top_next(const fw_dec *d, size_t *i, unsigned field, fw_field *f)
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

static int fw_strings(fw_dec *d)
{
    size_t n = d->nstrs ? d->nstrs : 1;
    d->str_data = calloc(n, sizeof *d->str_data);
    d->str_len = calloc(n, sizeof *d->str_len);
    d->strmap = calloc(n, sizeof *d->strmap);
    if (!d->str_data || !d->str_len || !d->strmap)
        return fw_fail(d, fw_top, "out of memory");
    /* An absent string table still has its implicit "" at index 0. */
    d->str_data[0] = (const uint8_t *)"";
    fw_field f;
    size_t i = 0, ti = 0;
    while (fw_top_next(d, &ti, FW_P_STRING, &f)) {
        fw_where w = {"string", i};
        if (i == 0 && f.len != 0)
            return fw_fail(d, w, "string_table[0] must be empty");
        if (f.len > FW_PROFILE_MAX_STRING_LEN)
            return fw_fail(d, w, "%zu bytes (max %u)", f.len, FW_PROFILE_MAX_STRING_LEN);
        if (memchr(f.data, 0, f.len))
            return fw_fail(d, w, "contains a NUL byte");
        if (!fw_utf8_valid((const char *)f.data, f.len))
            return fw_fail(d, w, "invalid UTF-8");
        d->str_data[i] = f.data;
        d->str_len[i] = f.len;
        i++;
    }
    d->nstrs = n;
    return d->failed ? -1 : 0;
}

static int fw_str_index(fw_dec *d, fw_where w, const char *what, uint64_t raw)
{
    if (raw < d->nstrs)
        return 0;
    return fw_fail(d, w, "%s string index %" PRId64 " out of range (%zu strings)", what,
                   (int64_t)raw, d->nstrs);
}

/* Reads a ValueType's (type, unit) file string indexes. */
static int fw_value_type(fw_dec *d, fw_where w, const fw_field *vt, uint64_t *type,
                         uint64_t *unit)
{
    fw_rd r = {vt->data, vt->data + vt->len};
    fw_field f;
    int rc;
    *type = *unit = 0;
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        if (f.field != 1 && f.field != 2)
            continue;
        if (fw_want(d, w, &f, FW_WT_VARINT, f.field == 1 ? "type" : "unit") != 0 ||
            fw_str_index(d, w, f.field == 1 ? "type" : "unit", f.v) != 0)
            return -1;
        *(f.field == 1 ? type : unit) = f.v;
    }
    return rc;
}

static char *fw_file_cstr(const fw_dec *d, uint64_t idx)
{
    char *s = malloc(d->str_len[idx] + 1);
    if (s) {
        memcpy(s, d->str_data[idx], d->str_len[idx]);
        s[d->str_len[idx]] = '\0';
    }
    return s;
}

static int fw_create_profile(fw_dec *d)
{
    fw_sample_type types[FW_PROFILE_MAX_TYPES];
    char *owned[2 * FW_PROFILE_MAX_TYPES] = {0};
    size_t nt = 0, ti = 0;
    fw_field f;
    while (!d->failed && fw_top_next(d, &ti, FW_P_SAMPLE_TYPE, &f)) {
        uint64_t t, u;
        if (fw_value_type(d, (fw_where){"sample type", nt}, &f, &t, &u) != 0)
            break;
        owned[2 * nt] = fw_file_cstr(d, t);
        owned[2 * nt + 1] = fw_file_cstr(d, u);
        types[nt] = (fw_sample_type){owned[2 * nt], owned[2 * nt + 1]};
        nt++;
        if (!types[nt - 1].type || !types[nt - 1].unit)
            fw_fail(d, fw_top, "out of memory");
    }
    if (!d->failed) {
        d->prof = fw_profile_new(types, nt);
        if (!d->prof)
            fw_fail(d, fw_top, "out of memory");
    }
    for (size_t i = 0; i < 2 * nt; i++)
        free(owned[i]);
    if (d->failed)
        return -1;
    for (size_t i = 0; i < d->nstrs; i++) {
        fw_status st = fw_profile_intern(d->prof, (const char *)d->str_data[i], d->str_len[i],
                                         &d->strmap[i]);
        if (st != FW_OK)
            return fw_status_fail(d, (fw_where){"string", i}, st, "strings");
    }
    return 0;
}

static int fw_function_msg(fw_dec *d, size_t idx, const fw_field *fm)
{
    fw_where w = {"function", idx};
    fw_rd r = {fm->data, fm->data + fm->len};
    fw_field f;
    int rc;
    uint64_t id = 0, name = 0, sysname = 0, file = 0;
    int64_t start = 0;
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        static const char *const names[] = {NULL, "id", "name", "system_name", "filename",
                                            "start_line"};
        if (f.field < 1 || f.field > 5)
            continue;
        if (fw_want(d, w, &f, FW_WT_VARINT, names[f.field]) != 0)
            return -1;
        if (f.field >= 2 && f.field <= 4 && fw_str_index(d, w, names[f.field], f.v) != 0)
            return -1;
        switch (f.field) {
        case 1: id = f.v; break;
        case 2: name = f.v; break;
        case 3: sysname = f.v; break;
        case 4: file = f.v; break;
        default: start = (int64_t)f.v; break;
        }
    }
    if (rc < 0)
        return -1;
    if (id == 0)
        return fw_fail(d, w, "missing or zero id");
    uint64_t pid;
    fw_status st = fw_profile_function_indexed(d->prof, d->strmap[name ? name : sysname],
                                               d->strmap[file], start, &pid);
    if (st != FW_OK)
        return fw_status_fail(d, w, st, "functions");
    if (fw_idmap_put(&d->funcs, id, (uint32_t)pid) != 0)
        return fw_fail(d, w, "duplicate id %" PRIu64, id);
    return 0;
}

static int fw_push_frame(fw_dec *d, fw_where w, uint64_t loc_id)
{
    if (d->nexpand == d->expand_cap) {
        size_t ncap = d->expand_cap ? d->expand_cap * 2 : 256;
        uint64_t *n = realloc(d->expand, ncap * sizeof *n);
        if (!n)
            return fw_fail(d, w, "out of memory");
        d->expand = n;
        d->expand_cap = ncap;
    }
    d->expand[d->nexpand++] = loc_id;
    return 0;
}

/* A frame with no symbol: named after its address so that it still shows in a stack. */
static int fw_unsymbolized(fw_dec *d, fw_where w, uint64_t address, int64_t line, uint64_t *loc)
{
    char name[32];
    if (address)
        snprintf(name, sizeof name, "0x%" PRIx64, address);
    else
        snprintf(name, sizeof name, "[unknown]");
    uint64_t fid;
    fw_status st = fw_profile_function(d->prof, name, "", 0, &fid);
    if (st == FW_OK)
        st = fw_profile_location(d->prof, fid, line, loc);
    return st == FW_OK ? 0 : fw_status_fail(d, w, st, "locations");
}

static int fw_line_msg(fw_dec *d, fw_where w, size_t nline, const fw_field *lm,
                       uint64_t address)
{
    fw_rd r = {lm->data, lm->data + lm->len};
    fw_field f;
    int rc;
    uint64_t fid = 0;
    int64_t line = 0;
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        if (f.field < 1 || f.field > 3)
            continue;
        if (fw_want(d, w, &f, FW_WT_VARINT, f.field == 1 ? "function_id" :
                    f.field == 2 ? "line" : "column") != 0)
            return -1;
        if (f.field == 1)
            fid = f.v;
        else if (f.field == 2)
            line = (int64_t)f.v;
    }
    if (rc < 0)
        return -1;
    uint64_t loc = 0;
    if (fid == 0) {
        if (fw_unsymbolized(d, w, address, line, &loc) != 0)
            return -1;
        return fw_push_frame(d, w, loc);
    }
    uint32_t pfid;
    if (!fw_idmap_get(&d->funcs, fid, &pfid))
        return fw_fail(d, w, "line %zu: function id %" PRIu64 " out of range", nline, fid);
    fw_status st = fw_profile_location(d->prof, pfid, line, &loc);
    if (st != FW_OK)
        return fw_status_fail(d, w, st, "locations");
    return fw_push_frame(d, w, loc);
}

static int fw_location_msg(fw_dec *d, size_t idx, const fw_field *lm)
{
    fw_where w = {"location", idx};
    fw_rd r = {lm->data, lm->data + lm->len};
    fw_field f;
    int rc;
    uint64_t id = 0, address = 0;
    /* The address names unsymbolized frames, and may follow the lines: read it first. */
    while ((rc = fw_next(d, w, &r, &f)) == 1) {
        static const char *const names[] = {NULL, "id", "mapping_id", "address", "line",
                                            "is_folded"};
        if (f.field < 1 || f.field > 5)
            continue;
        if (fw_want(d, w, &f, f.field == 4 ? FW_WT_LEN : FW_WT_VARINT, names[f.field]) != 0)
            return -1;
        if (f.field == 1)
            id = f.v;
        else if (f.field == 3)
            address = f.v;
    }
    if (rc < 0)
        return -1;
    if (id == 0)
        return fw_fail(d, w, "missing or zero id");
    size_t first = d->nexpand, nline = 0;
    r = (fw_rd){lm->data, lm->data + lm->len};
    while (fw_next(d, w, &r, &f) == 1) {
        if (f.field != 4)
            continue;
        if (nline == FW_PROFILE_MAX_DEPTH)
            return fw_fail(d, w, "more than %d lines", FW_PROFILE_MAX_DEPTH);
        if (fw_line_msg(d, w, nline++, &f, address) != 0)
            return -1;
    }
    if (nline == 0) {
        uint64_t loc = 0;
        if (fw_unsymbolized(d, w, address, 0, &loc) != 0 || fw_push_frame(d, w, loc) != 0)
            return -1;
    }
    d->locexp[idx] = (fw_locexp){first, d->nexpand - first};
    if (fw_idmap_put(&d->locs, id, (uint32_t)idx) != 0)
        return fw_fail(d, w, "duplicate id %" PRIu64, id);
    return 0;
}

static int fw_tables(fw_dec *d)
{
    if (fw_idmap_init(&d->funcs, d->nfuncs) != 0 || fw_idmap_init(&d->locs, d->nlocs) != 0 ||
        !(d->locexp = calloc(d->nlocs ? d->nlocs : 1, sizeof *d->locexp)))
        return fw_fail(d, fw_top, "out of memory");
    fw_field f;
    size_t nf = 0, ti = 0;
    while (fw_top_next(d, &ti, FW_P_FUNCTION, &f))
        if (fw_function_msg(d, nf++, &f) != 0)
            return -1;
    size_t nl = 0;
    ti = 0;
    while (fw_top_next(d, &ti, FW_P_LOCATION, &f))
        if (fw_location_msg(d, nl++, &f) != 0)
            return -1;
    return d->failed ? -1 : 0;
}

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
    uint64_t id;
    int rc;
    if (fw_ints_init(d, w, f, "location_id", &it) != 0)
        return -1;
    while ((rc = fw_ints_next(d, w, &it, &id)) == 1) {
        uint32_t li;
        if (!fw_idmap_get(&d->locs, id, &li))
            return fw_fail(d, w, "location id %" PRIu64 " out of range", id);
        const fw_locexp *e = &d->locexp[li];
        if (e->n > FW_PROFILE_MAX_DEPTH - a->depth)
            return fw_fail(d, w, "more than %d frames", FW_PROFILE_MAX_DEPTH);
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
    uint64_t v;
    int rc;
    if (fw_ints_init(d, w, f, "value", &it) != 0)
        return -1;
    size_t ntypes = fw_profile_type_count(d->prof);
    while ((rc = fw_ints_next(d, w, &it, &v)) == 1) {
        if (a->nvalues == ntypes)
            return fw_fail(d, w, "more values than the %zu sample types", ntypes);
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
        return fw_fail(d, w, "more than %d labels", FW_PROFILE_MAX_LABELS);
    uint64_t value = d->strmap[str];
    if (!str && has_num) {
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, (int64_t)num);
        fw_status st = fw_profile_intern(d->prof, text, (size_t)n, &value);
        if (st != FW_OK)
            return fw_status_fail(d, w, st, "strings");
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
        return fw_fail(d, w, "%zu values for %zu sample types", a->nvalues, ntypes);
    fw_status st = fw_profile_add_indexed(d->prof, a->frames, a->depth, a->keys, a->vals,
                                          a->nlabels, a->values);
    return st == FW_OK ? 0 : fw_status_fail(d, w, st, "samples");
}

static int fw_samples(fw_dec *d)
{
    fw_sample_acc *a = malloc(sizeof *a);
    if (!a)
        return fw_fail(d, fw_top, "out of memory");
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
    uint64_t v;
    int rc;
    if (fw_ints_init(d, fw_top, f, "comment", &it) != 0)
        return -1;
    while ((rc = fw_ints_next(d, fw_top, &it, &v)) == 1) {
        if (fw_str_index(d, fw_top, "comment", v) != 0)
            return -1;
        fw_status st = fw_profile_add_comment(d->prof, fw_profile_string(d->prof, d->strmap[v]));
        if (st != FW_OK)
            return fw_status_fail(d, fw_top, st, "comments");
    }
    return rc;
}

static int fw_metadata(fw_dec *d)
{
    fw_rd r = {d->base, d->end};
    fw_field f;
    int64_t time = 0, dur = 0;
    int64_t period = 0;
    uint64_t ptype = 0, punit = 0;
    while (!d->failed && fw_next(d, fw_top, &r, &f) == 1) {
        if (f.field == FW_P_PERIOD_TYPE)
            fw_value_type(d, (fw_where){"period type", SIZE_MAX}, &f, &ptype, &punit);
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

static void fw_dec_free(fw_dec *d)
{
    free(d->str_data);
    free(d->str_len);
    free(d->strmap);
    fw_idmap_free(&d->funcs);
    fw_idmap_free(&d->locs);
    free(d->locexp);
    free(d->expand);
    free(d->top);
}

fw_profile *fw_pprof_decode(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    fw_dec d;
    memset(&d, 0, sizeof d);
    d.base = data;
    d.end = data ? data + len : data;
    d.err = err;
    d.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (!data && len) {
        fw_fail(&d, fw_top, "no data");
        return NULL;
    }
    if (fw_scan(&d) == 0 && fw_strings(&d) == 0 && fw_create_profile(&d) == 0 &&
        fw_tables(&d) == 0 && fw_samples(&d) == 0 && fw_metadata(&d) == 0) {
        fw_dec_free(&d);
        return d.prof;
    }
    fw_profile_free(d.prof);
    fw_dec_free(&d);
    return NULL;
}

fw_profile *fw_pprof_decode_any(const uint8_t *data, size_t len, size_t max_decompressed,
                                char *err, size_t errlen)
{
    if (!fw_gzip_is_gzip(data, len)) {
        if (len > max_decompressed) {
            if (err && errlen)
                snprintf(err, errlen, "profile: %zu bytes, more than the cap of %zu", len,
                         max_decompressed);
            return NULL;
        }
        return fw_pprof_decode(data, len, err, errlen);
    }
    fw_buf raw = {0};
    fw_gzip_status gs = fw_gzip_decompress(data, len, max_decompressed, &raw);
    if (gs != FW_GZIP_OK) {
        if (err && errlen)
            snprintf(err, errlen, "gzip: %s", fw_gzip_strerror(gs));
        fw_buf_free(&raw);
        return NULL;
    }
    fw_profile *p = fw_pprof_decode(raw.data, raw.len, err, errlen);
    fw_buf_free(&raw);
    return p;
}
