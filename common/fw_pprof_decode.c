/*
 * fw_pprof_decode.c: google/pprof's profile.proto read into a fw_profile, by hand.
 *
 * The input is hostile until proven otherwise. Because a message may reference strings that
 * appear after it, decoding runs in passes over the top-level fields:
 *   1. scan: check framing of every field, wire types of known fields, and count each
 *      table (the counts are capped before anything is allocated from them);
 *   2. strings: check UTF-8 (invalid is an error, as is a NUL byte: fw_profile hands out
 *      C strings), and string_table[0] == "";
 *   3. sample types, which create the fw_profile; then all strings are interned;
 *   4. functions, then locations (this file), then samples, then the remaining metadata
 *      (fw_pprof_samples.c).
 * Function and location ids in a file are arbitrary nonzero uint64 values, so each is
 * mapped to fw_profile's dense id through a small open-addressing map sized from the scan
 * counts. A location with several Line entries (inlined calls) expands into several frames,
 * innermost first, which keeps a sample's stack leaf first.
 * Interpretation choices: a Line without a function, or a Location without lines, becomes a
 * frame named after its address ("0x4011a0", or "[unknown]"); mappings, drop/keep_frames,
 * breakdowns and unknown fields are checked for framing and skipped.
 * Every error names what was wrong and where ("sample 12: location id 99 out of range",
 * "string 3: invalid UTF-8", "truncated field at offset 57"); indexes in messages are
 * 0-based positions among the fields of that kind. Callers that must tell failures apart get
 * a code (fw_pprof_error), never by reading the text.
 *
 * The decoder (and fw_pprof_decode_any's gunzip) is the server's and the CLI's: the agent,
 * which only encodes, does not link this file.
 */
#include "fw_pprof.h"
#include "fw_pprof_impl.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_gunzip.h"
#include "fw_utf8.h"

/* ---- decoder: passes -------------------------------------------------------------------- */

int fw_pb_status_fail(fw_dec *d, fw_where w, fw_status st, const char *what)
{
    switch (st) {
    case FW_ERR_NOMEM:
        return fw_pb_fail(d, w, "out of memory");
    case FW_ERR_LIMIT:
        return fw_pb_fail(d, w, "too many %s (profile limit reached)", what);
    default:
        return fw_pb_fail(d, w, "invalid %s", what);
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
                return fw_pb_fail(d, fw_top, "out of memory");
            d->top = nt;
            d->top_cap = ncap;
        }
        d->top[d->ntop++] = (struct fw_topf){f.data, (uint32_t)f.len, f.field};
    }
    if (rc < 0)
        return -1;
    if (d->ntypes > FW_PROFILE_MAX_TYPES)
        return fw_pb_fail(d, fw_top, "%zu sample types (max %d)", d->ntypes, FW_PROFILE_MAX_TYPES);
    if (d->nstrs > FW_PROFILE_MAX_STRINGS)
        return fw_pb_fail(d, fw_top, "%zu strings (max %u)", d->nstrs, FW_PROFILE_MAX_STRINGS);
    if (d->nfuncs > FW_PROFILE_MAX_FUNCTIONS)
        return fw_pb_fail(d, fw_top, "%zu functions (max %u)", d->nfuncs, FW_PROFILE_MAX_FUNCTIONS);
    if (d->nlocs > FW_PROFILE_MAX_LOCATIONS)
        return fw_pb_fail(d, fw_top, "%zu locations (max %u)", d->nlocs, FW_PROFILE_MAX_LOCATIONS);
    if (d->nsamples > FW_PROFILE_MAX_SAMPLES)
        return fw_pb_fail(d, fw_top, "%zu samples (max %u)", d->nsamples, FW_PROFILE_MAX_SAMPLES);
    return 0;
}

static int fw_strings(fw_dec *d)
{
    size_t n = d->nstrs ? d->nstrs : 1;
    d->str_data = calloc(n, sizeof *d->str_data);
    d->str_len = calloc(n, sizeof *d->str_len);
    d->strmap = calloc(n, sizeof *d->strmap);
    if (!d->str_data || !d->str_len || !d->strmap)
        return fw_pb_fail(d, fw_top, "out of memory");
    /* An absent string table still has its implicit "" at index 0. */
    d->str_data[0] = (const uint8_t *)"";
    fw_field f;
    size_t i = 0, ti = 0;
    while (fw_top_next(d, &ti, FW_P_STRING, &f)) {
        fw_where w = {"string", i};
        if (i == 0 && f.len != 0)
            return fw_pb_fail(d, w, "string_table[0] must be empty");
        if (f.len > FW_PROFILE_MAX_STRING_LEN)
            return fw_pb_fail(d, w, "%zu bytes (max %u)", f.len, FW_PROFILE_MAX_STRING_LEN);
        if (memchr(f.data, 0, f.len))
            return fw_pb_fail(d, w, "contains a NUL byte");
        if (!fw_utf8_valid((const char *)f.data, f.len))
            return fw_pb_fail(d, w, "invalid UTF-8");
        d->str_data[i] = f.data;
        d->str_len[i] = f.len;
        i++;
    }
    d->nstrs = n;
    return d->failed ? -1 : 0;
}

int fw_pb_value_type(fw_dec *d, fw_where w, const fw_field *vt, uint64_t *type, uint64_t *unit)
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
        if (fw_pb_value_type(d, (fw_where){"sample type", nt}, &f, &t, &u) != 0)
            break;
        owned[2 * nt] = fw_file_cstr(d, t);
        owned[2 * nt + 1] = fw_file_cstr(d, u);
        types[nt] = (fw_sample_type){owned[2 * nt], owned[2 * nt + 1]};
        nt++;
        if (!types[nt - 1].type || !types[nt - 1].unit)
            fw_pb_fail(d, fw_top, "out of memory");
    }
    if (!d->failed) {
        d->prof = fw_profile_new(types, nt);
        if (!d->prof)
            fw_pb_fail(d, fw_top, "out of memory");
    }
    for (size_t i = 0; i < 2 * nt; i++)
        free(owned[i]);
    if (d->failed)
        return -1;
    for (size_t i = 0; i < d->nstrs; i++) {
        fw_status st = fw_profile_intern(d->prof, (const char *)d->str_data[i], d->str_len[i],
                                         &d->strmap[i]);
        if (st != FW_OK)
            return fw_pb_status_fail(d, (fw_where){"string", i}, st, "strings");
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
        return fw_pb_fail(d, w, "missing or zero id");
    uint64_t pid;
    fw_status st = fw_profile_function_indexed(d->prof, d->strmap[name ? name : sysname],
                                               d->strmap[file], start, &pid);
    if (st != FW_OK)
        return fw_pb_status_fail(d, w, st, "functions");
    if (fw_idmap_put(&d->funcs, id, (uint32_t)pid) != 0)
        return fw_pb_fail(d, w, "duplicate id %" PRIu64, id);
    return 0;
}

static int fw_push_frame(fw_dec *d, fw_where w, uint64_t loc_id)
{
    if (d->nexpand == d->expand_cap) {
        size_t ncap = d->expand_cap ? d->expand_cap * 2 : 256;
        uint64_t *n = realloc(d->expand, ncap * sizeof *n);
        if (!n)
            return fw_pb_fail(d, w, "out of memory");
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
    return st == FW_OK ? 0 : fw_pb_status_fail(d, w, st, "locations");
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
        return fw_pb_fail(d, w, "line %zu: function id %" PRIu64 " out of range", nline, fid);
    fw_status st = fw_profile_location(d->prof, pfid, line, &loc);
    if (st != FW_OK)
        return fw_pb_status_fail(d, w, st, "locations");
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
        return fw_pb_fail(d, w, "missing or zero id");
    size_t first = d->nexpand, nline = 0;
    r = (fw_rd){lm->data, lm->data + lm->len};
    while (fw_next(d, w, &r, &f) == 1) {
        if (f.field != 4)
            continue;
        if (nline == FW_PROFILE_MAX_DEPTH)
            return fw_pb_fail(d, w, "more than %d lines", FW_PROFILE_MAX_DEPTH);
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
        return fw_pb_fail(d, w, "duplicate id %" PRIu64, id);
    return 0;
}

static int fw_tables(fw_dec *d)
{
    if (fw_idmap_init(&d->funcs, d->nfuncs) != 0 || fw_idmap_init(&d->locs, d->nlocs) != 0 ||
        !(d->locexp = calloc(d->nlocs ? d->nlocs : 1, sizeof *d->locexp)))
        return fw_pb_fail(d, fw_top, "out of memory");
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
        fw_pb_fail(&d, fw_top, "no data");
        return NULL;
    }
    if (fw_scan(&d) == 0 && fw_strings(&d) == 0 && fw_create_profile(&d) == 0 &&
        fw_tables(&d) == 0 && fw_pb_samples(&d) == 0 && fw_pb_metadata(&d) == 0) {
        fw_dec_free(&d);
        return d.prof;
    }
    fw_profile_free(d.prof);
    fw_dec_free(&d);
    return NULL;
}

fw_profile *fw_pprof_decode_any(const uint8_t *data, size_t len, size_t max_decompressed,
                                fw_pprof_error *code, char *err, size_t errlen)
{
    fw_pprof_error unused;
    if (!code)
        code = &unused;
    *code = FW_PPROF_OK;
    if (!fw_gzip_is_gzip(data, len)) {
        if (len > max_decompressed) {
            *code = FW_PPROF_TOO_LARGE;
            if (err && errlen)
                snprintf(err, errlen, "profile: %zu bytes, more than the cap of %zu", len,
                         max_decompressed);
            return NULL;
        }
        fw_profile *p = fw_pprof_decode(data, len, err, errlen);
        if (!p)
            *code = FW_PPROF_INVALID;
        return p;
    }
    fw_buf raw = {0};
    fw_gzip_status gs = fw_gunzip(data, len, max_decompressed, &raw);
    if (gs != FW_GZIP_OK) {
        *code = gs == FW_GZIP_TOO_LARGE ? FW_PPROF_TOO_LARGE
              : gs == FW_GZIP_NOMEM     ? FW_PPROF_NOMEM
                                        : FW_PPROF_GZIP;
        if (err && errlen)
            snprintf(err, errlen, "gzip: %s", fw_gzip_strerror(gs));
        fw_buf_free(&raw);
        return NULL;
    }
    fw_profile *p = fw_pprof_decode(raw.data, raw.len, err, errlen);
    if (!p)
        *code = FW_PPROF_INVALID;
    fw_buf_free(&raw);
    return p;
}
