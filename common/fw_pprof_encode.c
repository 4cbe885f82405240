/*
 * fw_pprof_encode.c: a fw_profile written as google/pprof's profile.proto, by hand.
 *
 * Strings, functions and locations are already deduplicated and densely numbered in
 * fw_profile, so their indexes and ids are written as they are. A nested message is built in
 * a scratch buffer and then copied behind its tag and length; scratch buffers are reused
 * across messages, so encoding does one allocation per buffer, not per sample. Writes go
 * through a small writer that remembers the first allocation failure, keeping the happy path
 * free of error checks while still reporting FW_ERR_NOMEM. This half is the agent's: it links
 * no decoder.
 */
#include "fw_pprof.h"
#include "fw_pprof_impl.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

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
