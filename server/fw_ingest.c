/*
 * fw_ingest: parsing and validation of uploads (Pyroscope-compatible POST /ingest).
 *
 * Design. An upload is hostile until proven otherwise, so parsing happens entirely in memory
 * into a fresh fw_profile and only a fully validated batch leaves this file. Each step checks
 * one thing and says precisely what is wrong ("line 3: value 'x' is not a non-negative
 * integer"), because the person reading the 400 is usually writing an integration:
 *
 *   1. the name: `APP[.TYPE]{k=v,...}` -> application, profile type (folded/lines only) and tags;
 *   2. the time range: unix seconds, not before 2000, not more than one day in the future;
 *   3. the body: multipart/form-data (field `profile`) or raw; optional gzip, always through
 *      fw_gunzip() with a cap so a 10 KB bomb cannot become 10 GB of memory;
 *   4. the payload: pprof through the defensive decoder (fw_pprof_decode), or folded/lines
 *      text parsed here; every string must be valid UTF-8 and every value non-negative.
 *
 * Folded CPU stacks count samples; Pyroscope's convention is that each sample is worth
 * 1/sampleRate seconds (100 Hz -> 10 ms), so we store nanoseconds like the agent does and
 * totals from every source are comparable. Folded frames written by `flamewatch convert`
 * (`QUALNAME (FILE:LINE)`) are split back into function, file and line so a round trip keeps
 * line granularity; any other frame text is a function name without file.
 */
#include "fw_ingest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "fw_gunzip.h"
#include "fw_json.h"
#include "fw_multipart.h"
#include "fw_utf8.h"
#include "fw_pprof.h"
#include "../store/fw_store.h"

#define FW_MIN_TIMESTAMP 946684800 /* 2000-01-01T00:00:00Z */
#define FW_MAX_FUTURE    86400

static void fw_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fw_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- profile types ---- */

typedef struct {
    const char *type;
    const char *unit;
    const char *description;
} fw_type_info;

static const fw_type_info fw_types[] = {
    {"cpu", "nanoseconds", "CPU time per stack"},
    {"wall", "nanoseconds", "wall-clock time per stack, idle threads included"},
    {"alloc_space", "bytes", "allocated bytes"},
    {"alloc_objects", "count", "allocated objects"},
    {"inuse_space", "bytes", "live bytes at snapshot time"},
    {"inuse_objects", "count", "live objects at snapshot time"},
    {"gil_hold", "nanoseconds", "time a stack kept the GIL while other threads waited for it"},
    {"gil_wait", "nanoseconds", "gil_hold times the number of threads that waited"},
};

static const fw_type_info *fw_type_lookup(const char *type)
{
    for (size_t i = 0; i < sizeof fw_types / sizeof fw_types[0]; i++)
        if (strcmp(fw_types[i].type, type) == 0)
            return &fw_types[i];
    return NULL;
}

int fw_profile_type_known(const char *type) { return fw_type_lookup(type) != NULL; }

const char *fw_profile_type_unit(const char *type)
{
    const fw_type_info *t = fw_type_lookup(type);
    return t ? t->unit : "";
}

const char *fw_profile_type_description(const char *type)
{
    const fw_type_info *t = fw_type_lookup(type);
    return t ? t->description : "profile type reported by a third-party agent";
}

static const char *const fw_reject_names[FW_REJECT__COUNT] = {
    "none", "params", "format", "too_large", "gzip", "pprof", "folded",
    "utf8", "timestamp", "multipart", "auth", "store",
};

const char *fw_reject_reason_name(fw_reject_reason r)
{
    return (r >= 0 && r < FW_REJECT__COUNT) ? fw_reject_names[r] : "unknown";
}

/* ---- name: APP[.TYPE]{k=v,...} ---- */

static int fw_tag_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 64 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)k[i]) || k[i] == '_' || k[i] == '.'))
            return 0;
    return 1;
}

static int fw_text_clean(const char *s)
{
    size_t n = strlen(s);
    if (fw_utf8_valid_prefix(s, n) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return 0;
    return 1;
}

static char *fw_trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

static int fw_parse_tags(char *body, fw_ingest_batch *out, char *err, size_t errlen)
{
    char *save = NULL;
    for (char *pair = strtok_r(body, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq) {
            fw_seterr(err, errlen, "name: tag '%.64s' is not KEY=VALUE", pair);
            return -1;
        }
        *eq = '\0';
        char *k = fw_trim(pair), *v = fw_trim(eq + 1);
        if (!fw_tag_key_valid(k)) {
            fw_seterr(err, errlen, "name: invalid tag key '%.64s' (expected [A-Za-z_][A-Za-z0-9_.]*, at most 64)", k);
            return -1;
        }
        if (strlen(v) > 256 || !fw_text_clean(v)) {
            fw_seterr(err, errlen, "name: invalid value for tag '%s' (at most 256 printable UTF-8 characters)", k);
            return -1;
        }
        for (size_t i = 0; i < out->ntags; i++)
            if (strcmp(out->tags[i].key, k) == 0) {
                fw_seterr(err, errlen, "name: tag '%s' given twice", k);
                return -1;
            }
        if (strcmp(k, "app") == 0)
            continue; /* the application name is the app label */
        if (out->ntags == FW_INGEST_MAX_TAGS) {
            fw_seterr(err, errlen, "name: more than %d tags", FW_INGEST_MAX_TAGS);
            return -1;
        }
        out->tags[out->ntags].key = k;
        out->tags[out->ntags].value = v;
        out->ntags++;
    }
    return 0;
}

int fw_ingest_parse_name(const char *name, fw_ingest_batch *out, char *type, size_t typelen,
                         char *err, size_t errlen)
{
    if (!name || !*name) {
        fw_seterr(err, errlen, "missing query parameter 'name' (APP{tag=value,...})");
        return -1;
    }
    size_t n = strlen(name);
    if (n > 4096) {
        fw_seterr(err, errlen, "name: longer than 4096 bytes");
        return -1;
    }
    free(out->tagbuf);
    out->tagbuf = strdup(name);
    if (!out->tagbuf) {
        fw_seterr(err, errlen, "out of memory");
        return -1;
    }
    out->ntags = 0;
    char *brace = strchr(out->tagbuf, '{');
    if (brace) {
        if (out->tagbuf[n - 1] != '}') {
            fw_seterr(err, errlen, "name: '{' without a closing '}' at the end");
            return -1;
        }
        out->tagbuf[n - 1] = '\0';
        *brace = '\0';
        if (fw_parse_tags(brace + 1, out, err, errlen) != 0)
            return -1;
    }
    char *app = fw_trim(out->tagbuf);
    type[0] = '\0';
    char *dot = strrchr(app, '.');
    if (dot && fw_profile_type_known(dot + 1)) {
        snprintf(type, typelen, "%s", dot + 1);
        *dot = '\0';
    }
    size_t alen = strlen(app);
    const char *problem = fw_app_name_problem(app, alen);
    if (problem) {
        fw_seterr(err, errlen, "name: invalid application name: it %s (expected " FW_APP_NAME_RULE ")", problem);
        return -1;
    }
    memcpy(out->app, app, alen + 1);
    return 0;
}

/* ---- time range ---- */

static int fw_parse_unix(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int fw_check_time(const char *what, int64_t t, int64_t now, char *err, size_t errlen)
{
    if (t < FW_MIN_TIMESTAMP) {
        fw_seterr(err, errlen, "%s: %lld is before 2000-01-01 (expected unix seconds)", what, (long long)t);
        return -1;
    }
    if (t > now + FW_MAX_FUTURE) {
        fw_seterr(err, errlen, "%s: %lld is more than one day in the future", what, (long long)t);
        return -1;
    }
    return 0;
}

static int fw_parse_range(const fw_ingest_request *req, const fw_profile *p, fw_ingest_batch *out,
                          char *err, size_t errlen)
{
    int64_t from = 0, until = 0;
    if (req->from && fw_parse_unix(req->from, &from) != 0) {
        fw_seterr(err, errlen, "from: '%.32s' is not unix seconds", req->from);
        return -1;
    }
    if (req->until && fw_parse_unix(req->until, &until) != 0) {
        fw_seterr(err, errlen, "until: '%.32s' is not unix seconds", req->until);
        return -1;
    }
    /* Missing bounds come from the pprof's own time, else from the clock (Pyroscope's rule). */
    int64_t pt = p ? fw_profile_time_nanos(p) / 1000000000 : 0;
    int64_t pd = p ? fw_profile_duration_nanos(p) / 1000000000 : 0;
    if (!req->from)
        from = pt > 0 ? pt : (req->until ? until : req->now);
    if (!req->until)
        until = (pt > 0 && !req->from) ? pt + (pd > 0 ? pd : 0) : (from > req->now ? from : req->now);
    if (fw_check_time("from", from, req->now, err, errlen) != 0 ||
        fw_check_time("until", until, req->now, err, errlen) != 0)
        return -1;
    if (until < from) {
        fw_seterr(err, errlen, "until (%lld) is before from (%lld)", (long long)until, (long long)from);
        return -1;
    }
    out->from = from;
    out->until = until;
    return 0;
}

/* ---- folded / lines ---- */

/* Splits `NAME (FILE:LINE)` into its parts; other frames are a bare function name. */
static void fw_split_frame(char *frame, char **name, char **file, int64_t *line)
{
    size_t n = strlen(frame);
    *name = frame;
    *file = "";
    *line = 0;
    if (n < 6 || frame[n - 1] != ')')
        return;
    char *open = NULL;
    for (char *q = frame + n - 1; q > frame; q--)
        if (q[0] == '(' && q[-1] == ' ') {
            open = q;
            break;
        }
    if (!open)
        return;
    char *colon = strrchr(open, ':');
    if (!colon || colon[1] == ')')
        return;
    int64_t v = 0;
    for (char *d = colon + 1; d < frame + n - 1; d++) {
        if (!isdigit((unsigned char)*d) || v > 100000000)
            return;
        v = v * 10 + (*d - '0');
    }
    open[-1] = '\0';
    *colon = '\0';
    frame[n - 1] = '\0';
    *file = open + 1;
    *line = v;
}

static int fw_folded_add(fw_profile *p, char *stack, int64_t value, size_t lineno, char *err,
                         size_t errlen)
{
    uint64_t ids[FW_PROFILE_MAX_DEPTH];
    size_t depth = 0;
    char *save = NULL;
    for (char *fr = strtok_r(stack, ";", &save); fr; fr = strtok_r(NULL, ";", &save)) {
        if (!*fr)
            continue;
        if (depth == FW_PROFILE_MAX_DEPTH) {
            fw_seterr(err, errlen, "line %zu: stack deeper than %d frames", lineno, FW_PROFILE_MAX_DEPTH);
            return -1;
        }
        char *name, *file;
        int64_t line;
        fw_split_frame(fr, &name, &file, &line);
        uint64_t fid, lid;
        if (fw_profile_function(p, name, file, 0, &fid) != FW_OK ||
            fw_profile_location(p, fid, line, &lid) != FW_OK) {
            fw_seterr(err, errlen, "line %zu: profile too large", lineno);
            return -1;
        }
        ids[depth++] = lid;
    }
    if (depth == 0) {
        fw_seterr(err, errlen, "line %zu: empty stack", lineno);
        return -1;
    }
    for (size_t i = 0; i < depth / 2; i++) { /* folded is root first; profiles are leaf first */
        uint64_t t = ids[i];
        ids[i] = ids[depth - 1 - i];
        ids[depth - 1 - i] = t;
    }
    if (fw_profile_add(p, ids, depth, NULL, 0, &value) != FW_OK) {
        fw_seterr(err, errlen, "line %zu: too many samples", lineno);
        return -1;
    }
    return 0;
}

static int fw_parse_count(const char *s, uint64_t *out)
{
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Parses folded (`a;b;c 12`) or lines (`a;b;c`, one sample per line) text into `p`. */
static int fw_parse_folded(fw_profile *p, const char *text, size_t len, int lines_format,
                           int64_t ns_per_sample_num, int64_t rate, char *err, size_t errlen)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        fw_seterr(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (memchr(copy, '\0', len)) {
        free(copy);
        fw_seterr(err, errlen, "body contains a NUL byte");
        return -1;
    }
    size_t lineno = 0;
    int rc = 0;
    char *save = NULL;
    for (char *ln = strtok_r(copy, "\n", &save); ln && rc == 0; ln = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(ln);
        if (n && ln[n - 1] == '\r')
            ln[--n] = '\0';
        if (n == 0)
            continue;
        uint64_t count = 1;
        if (!lines_format) {
            char *sp = strrchr(ln, ' ');
            if (!sp || fw_parse_count(sp + 1, &count) != 0) {
                fw_seterr(err, errlen, "line %zu: expected 'frame;frame;... VALUE' with a non-negative integer value", lineno);
                rc = -1;
                break;
            }
            *sp = '\0';
        }
        int64_t value;
        if (ns_per_sample_num) {
            /* CPU/wall sample counts become nanoseconds: count * 1e9 / sampleRate. */
            if (count > (uint64_t)(INT64_MAX / ns_per_sample_num)) {
                fw_seterr(err, errlen, "line %zu: value %llu samples is over the limit of %lld ns per sample"
                          " (2^46; see Limits in docs/API.md)", lineno, (unsigned long long)count,
                          (long long)FW_STORE_MAX_SAMPLE_VALUE);
                rc = -1;
                break;
            }
            value = (int64_t)count * ns_per_sample_num / rate;
        } else {
            if (count > (uint64_t)INT64_MAX) {
                fw_seterr(err, errlen, "line %zu: value %llu is over the limit of %lld per sample"
                          " (2^46; see Limits in docs/API.md)", lineno, (unsigned long long)count,
                          (long long)FW_STORE_MAX_SAMPLE_VALUE);
                rc = -1;
                break;
            }
            value = (int64_t)count;
        }
        if (count == 0)
            continue;
        if (value > FW_STORE_MAX_SAMPLE_VALUE) {
            /* The store refuses it too; here the message can name the line. */
            fw_seterr(err, errlen, "line %zu: value %lld%s is over the limit of %lld per sample"
                      " (2^46; see Limits in docs/API.md)", lineno, (long long)value,
                      ns_per_sample_num ? " ns" : "", (long long)FW_STORE_MAX_SAMPLE_VALUE);
            rc = -1;
            break;
        }
        rc = fw_folded_add(p, ln, value, lineno, err, errlen);
    }
    free(copy);
    return rc;
}

/* ---- pprof validation ---- */

/* FW_REJECT_NONE, or why the decoded profile is refused (with the message in err). */
static fw_reject_reason fw_validate_pprof(const fw_profile *p, char *err, size_t errlen)
{
    size_t ns = fw_profile_string_count(p);
    for (size_t i = 0; i < ns; i++) {
        const char *s = fw_profile_string(p, i);
        size_t n = s ? strlen(s) : 0;
        if (s && fw_utf8_valid_prefix(s, n) != n) {
            fw_seterr(err, errlen, "pprof: string %zu is not valid UTF-8", i);
            return FW_REJECT_UTF8;
        }
    }
    size_t nt = fw_profile_type_count(p);
    if (nt == 0) {
        fw_seterr(err, errlen, "pprof: no sample types");
        return FW_REJECT_PPROF;
    }
    for (size_t t = 0; t < nt; t++) {
        fw_sample_type st = fw_profile_type(p, t);
        size_t n = st.type ? strlen(st.type) : 0;
        if (n == 0 || n > 64 || strspn(st.type, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
            fw_seterr(err, errlen, "pprof: sample type %zu has an invalid name", t);
            return FW_REJECT_PPROF;
        }
    }
    size_t nsamp = fw_profile_sample_count(p);
    for (size_t i = 0; i < nsamp; i++) {
        fw_sample_view v;
        if (fw_profile_get_sample(p, i, &v) != FW_OK) {
            fw_seterr(err, errlen, "pprof: sample %zu unreadable", i);
            return FW_REJECT_PPROF;
        }
        for (size_t t = 0; t < nt; t++)
            if (v.values[t] < 0) {
                fw_seterr(err, errlen, "pprof: sample %zu has a negative value", i);
                return FW_REJECT_PPROF;
            }
    }
    return FW_REJECT_NONE;
}

/* ---- the request ---- */

/* The body's gzip layer, through the one decompressor (fw_gunzip, capped so a bomb is refused). */
static int fw_body_gunzip(const uint8_t *in, size_t len, fw_buf *out, fw_reject_reason *reason,
                          char *err, size_t errlen)
{
    fw_gzip_status st = fw_gunzip(in, len, FW_INGEST_MAX_DECOMPRESSED, out);
    if (st == FW_GZIP_OK)
        return 200;
    if (st == FW_GZIP_TOO_LARGE) {
        *reason = FW_REJECT_TOO_LARGE;
        fw_seterr(err, errlen, "decompressed body exceeds %u MB", FW_INGEST_MAX_DECOMPRESSED >> 20);
        return 413;
    }
    *reason = FW_REJECT_GZIP;
    fw_seterr(err, errlen, "gzip: %s", fw_gzip_strerror(st));
    return st == FW_GZIP_NOMEM ? 500 : 400;
}

/* A pprof body, gzip'ed or not (fw_pprof_decode_any sees the magic bytes), then validated. */
static int fw_parse_pprof(const uint8_t *data, size_t len, fw_ingest_batch *out,
                          fw_reject_reason *reason, char *err, size_t errlen)
{
    fw_pprof_error code;
    out->profile = fw_pprof_decode_any(data, len, FW_INGEST_MAX_DECOMPRESSED, &code, err, errlen);
    switch (code) {
    case FW_PPROF_OK:
        *reason = fw_validate_pprof(out->profile, err, errlen);
        return *reason == FW_REJECT_NONE ? 200 : 400;
    case FW_PPROF_TOO_LARGE:
        *reason = FW_REJECT_TOO_LARGE;
        fw_seterr(err, errlen, "decompressed body exceeds %u MB", FW_INGEST_MAX_DECOMPRESSED >> 20);
        return 413;
    case FW_PPROF_GZIP:
        *reason = FW_REJECT_GZIP;
        return 400;
    case FW_PPROF_NOMEM:
        *reason = FW_REJECT_GZIP;
        return 500;
    case FW_PPROF_INVALID:
        break;
    }
    *reason = FW_REJECT_PPROF;
    return 400;
}

/* Chooses the profile type for folded/lines uploads: name suffix, else units, else cpu. */
static const char *fw_folded_type(const char *suffix, const fw_ingest_request *req)
{
    if (*suffix)
        return suffix;
    int inuse = req->aggregation_type && strcmp(req->aggregation_type, "average") == 0;
    if (req->units && strcmp(req->units, "bytes") == 0)
        return inuse ? "inuse_space" : "alloc_space";
    if (req->units && strcmp(req->units, "objects") == 0)
        return inuse ? "inuse_objects" : "alloc_objects";
    return "cpu";
}

static int fw_parse_text(const fw_ingest_request *req, const char *type, int lines_format,
                         const uint8_t *data, size_t len, fw_ingest_batch *out,
                         fw_reject_reason *reason, char *err, size_t errlen)
{
    int64_t rate = 100;
    if (req->sample_rate) {
        int64_t r;
        if (fw_parse_unix(req->sample_rate, &r) != 0 || r < 1 || r > 1000000) {
            *reason = FW_REJECT_PARAMS;
            fw_seterr(err, errlen, "sampleRate: '%.32s' is not an integer from 1 to 1000000 (Hz)", req->sample_rate);
            return 400;
        }
        rate = r;
    }
    if (fw_utf8_valid_prefix((const char *)data, len) != len) {
        *reason = FW_REJECT_UTF8;
        fw_seterr(err, errlen, "body is not valid UTF-8 (byte offset %zu)",
                  fw_utf8_valid_prefix((const char *)data, len));
        return 400;
    }
    fw_sample_type st = {type, fw_profile_type_unit(type)};
    if (!*st.unit)
        st.unit = "count";
    out->profile = fw_profile_new(&st, 1);
    if (!out->profile) {
        fw_seterr(err, errlen, "out of memory");
        return 500;
    }
    int timed = strcmp(st.unit, "nanoseconds") == 0;
    if (fw_parse_folded(out->profile, (const char *)data, len, lines_format,
                        timed ? 1000000000 : 0, rate, err, errlen) != 0) {
        *reason = FW_REJECT_FOLDED;
        return 400;
    }
    if (timed)
        fw_profile_set_period(out->profile, type, "nanoseconds", 1000000000 / rate);
    return 200;
}

static int fw_parse_payload(const fw_ingest_request *req, const char *suffix, fw_ingest_batch *out,
                            fw_reject_reason *reason, char *err, size_t errlen)
{
    const char *fmt = req->format && *req->format ? req->format : "folded";
    int multipart = req->content_type && strncasecmp(req->content_type, "multipart/form-data", 19) == 0;
    if (multipart && (!req->format || !*req->format))
        fmt = "pprof";
    if (strcmp(fmt, "pprof") != 0 && strcmp(fmt, "folded") != 0 && strcmp(fmt, "lines") != 0) {
        *reason = FW_REJECT_FORMAT;
        fw_seterr(err, errlen, "format: '%.32s' is not supported (expected pprof, folded or lines)", fmt);
        return 400;
    }
    out->format = strcmp(fmt, "pprof") == 0 ? "pprof" : strcmp(fmt, "folded") == 0 ? "folded" : "lines";
    const uint8_t *data = req->body;
    size_t len = req->body_len;
    if (multipart) {
        int rc = fw_multipart_find(req->content_type, req->body, req->body_len, "profile", &data, &len,
                                   err, errlen);
        if (rc != 0) {
            *reason = FW_REJECT_MULTIPART;
            if (rc > 0)
                fw_seterr(err, errlen, "multipart: no 'profile' field");
            return 400;
        }
    }
    fw_buf plain = {0};
    int status = 200;
    if (len == 0) {
        *reason = FW_REJECT_PARAMS;
        fw_seterr(err, errlen, "empty body");
        return 400;
    }
    /* Two gzip layers, each looked for once: the transport's (Content-Encoding: gzip) here, the
     * file's own (a gzip'ed pprof, as Go writes them, or a gzip'ed text file) by its magic bytes. */
    if (req->content_encoding && strcasestr(req->content_encoding, "gzip")) {
        status = fw_body_gunzip(data, len, &plain, reason, err, errlen);
        if (status != 200)
            goto done;
        data = plain.data;
        len = plain.len;
    }
    if (strcmp(out->format, "pprof") == 0) {
        status = fw_parse_pprof(data, len, out, reason, err, errlen);
    } else if (fw_gzip_is_gzip(data, len) && !plain.data) {
        fw_buf text = {0};
        status = fw_body_gunzip(data, len, &text, reason, err, errlen);
        if (status == 200)
            status = fw_parse_text(req, fw_folded_type(suffix, req), strcmp(out->format, "lines") == 0,
                                   text.data, text.len, out, reason, err, errlen);
        fw_buf_free(&text);
    } else {
        status = fw_parse_text(req, fw_folded_type(suffix, req), strcmp(out->format, "lines") == 0,
                               data, len, out, reason, err, errlen);
    }
done:
    fw_buf_free(&plain);
    return status;
}

static uint64_t fw_count_values(const fw_profile *p)
{
    return (uint64_t)fw_profile_sample_count(p) * fw_profile_type_count(p);
}

int fw_ingest_parse(const fw_ingest_request *req, fw_ingest_batch *out, fw_reject_reason *reason,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    *reason = FW_REJECT_NONE;
    char suffix[32];
    if (fw_ingest_parse_name(req->name, out, suffix, sizeof suffix, err, errlen) != 0) {
        *reason = FW_REJECT_PARAMS;
        fw_ingest_batch_free(out);
        return 400;
    }
    if (req->body_len > FW_INGEST_MAX_BODY) {
        *reason = FW_REJECT_TOO_LARGE;
        fw_seterr(err, errlen, "body exceeds %u MB", FW_INGEST_MAX_BODY >> 20);
        fw_ingest_batch_free(out);
        return 413;
    }
    int status = fw_parse_payload(req, suffix, out, reason, err, errlen);
    if (status == 200 && fw_parse_range(req, out->profile, out, err, errlen) != 0) {
        *reason = FW_REJECT_TIME;
        status = 400;
    }
    if (status != 200) {
        fw_ingest_batch_free(out);
        return status;
    }
    out->stack_values = fw_count_values(out->profile);
    return 200;
}

/* Uploads with more samples than this give their memory back to the system when freed. */
#define FW_INGEST_TRIM_SAMPLES 10000

void fw_ingest_batch_free(fw_ingest_batch *b)
{
    size_t ns = b->profile ? fw_profile_sample_count(b->profile) : 0;
    fw_profile_free(b->profile);
    free(b->tagbuf);
    memset(b, 0, sizeof *b);
#ifdef __GLIBC__
    /* A large upload's parsed profile is tens of MB in the arena of the worker thread that took it,
     * and glibc keeps freed memory per arena: eight workers kept up to 8 x that resident, so the
     * server's memory followed the largest uploads each thread had seen (tests/hostile/
     * test_cache_budget.py). A trim costs a few ms against the 100+ ms such an upload takes. */
    if (ns > FW_INGEST_TRIM_SAMPLES)
        malloc_trim(0);
#else
    (void)ns;
#endif
}
