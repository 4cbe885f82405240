/*
 * fw_sqlite_ingest.c: one upload, one transaction (the SQLite backend).
 *
 * Validation first (fw_store_validate.c), so that the write phase fails only on I/O. Then, under
 * wlock: phase 1 interns every function, frame, stack and label set through the dimension cache
 * (under its lock; a miss is looked up in the file, inside this transaction), writing a row only
 * for what is new, with the next id of its kind; phase 2 merges the facts (series, label set, stack), sorts them and writes one
 * packed block per (series, label set), plus roll-up blocks for late data (a bucket before a level's
 * watermark). A failure anywhere rolls back and makes the cache forget every id the upload made.
 * Retries: before anything else the transaction records the upload's id (if it has one) for its
 * application and bucket; an id already there means the upload was stored before (its answer was
 * lost, and this is the agent's retry), and the transaction ends with nothing written.
 */
#include "fw_sqlite.h"

#include "../fw_store_validate.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

/* Interning: the id of a function, frame or stack, from the dimension cache or (on a miss) the
 * file, inserting a row with the next id when it is new. Called with wlock held and the cache
 * locked. `ph` (stacks) is the call path of the node; *nnew counts new rows. */
static fw_store_status fw_sq_intern(fw_sq *s, int kind, const fw_dims_val *v, const fw_dims_path *ph, uint32_t *out,
                                    size_t *nnew)
{
    int r = fw_dims_find(&s->c, &s->wsrc.base, kind, v, ph, out);
    if (r < 0)
        return FW_STORE_ERR_IO;
    if (r == 1)
        return FW_STORE_OK;
    uint32_t id = s->next[kind];
    if (id >= UINT32_MAX - 2)
        return FW_STORE_ERR_NOMEM;   /* 2^32 ids: the store is full of this kind */
    sqlite3_stmt *st = kind == FW_DIM_FN ? s->ins_func : kind == FW_DIM_FR ? s->ins_frame : s->ins_stack;
    sqlite3_bind_int64(st, 1, id);
    if (kind == FW_DIM_FN) {
        sqlite3_bind_text(st, 2, v->s1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, v->s2, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(st, 2, v->a);
        sqlite3_bind_int64(st, 3, kind == FW_DIM_FR ? v->line : (int64_t)v->b);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    s->next[kind] = id + 1;
    *out = id;
    if (nnew)
        (*nnew)++;
    return fw_dims_add(&s->c, kind, id, v, ph) == 0 ? FW_STORE_OK : FW_STORE_ERR_NOMEM;
}

typedef struct { const char *k, *v; } fw_sq_kv;

static int fw_sq_kv_cmp(const void *a, const void *b)
{
    const fw_sq_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* The canonical text of a label set: {key="value",...} sorted by key then value, exact duplicates
 * removed, with \ and " escaped. Two samples have the same label set iff their texts are equal. */
static fw_store_status fw_sq_intern_ls(fw_sq *s, fw_sq_kv *kv, size_t n, sqlite3_str *buf, uint32_t *out)
{
    qsort(kv, n, sizeof *kv, fw_sq_kv_cmp);
    sqlite3_str_reset(buf);
    sqlite3_str_appendchar(buf, 1, '{');
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && fw_sq_kv_cmp(&kv[i], &kv[i - 1]) == 0)
            continue;
        kv[m++] = kv[i];
        if (m > 1)
            sqlite3_str_appendchar(buf, 1, ',');
        sqlite3_str_appendall(buf, kv[i].k);
        sqlite3_str_appendall(buf, "=\"");
        for (const char *p = kv[i].v; *p; p++) {
            if (*p == '"' || *p == '\\')
                sqlite3_str_appendchar(buf, 1, '\\');
            sqlite3_str_appendchar(buf, 1, *p);
        }
        sqlite3_str_appendchar(buf, 1, '"');
    }
    sqlite3_str_appendchar(buf, 1, '}');
    if (sqlite3_str_errcode(buf))
        return FW_STORE_ERR_NOMEM;
    const char *text = sqlite3_str_value(buf);
    fw_dims_val v = {0, 0, 0, text, NULL};
    uint32_t id = 0;
    int r = fw_dims_find(&s->c, &s->wsrc.base, FW_DIM_LS, &v, NULL, &id);
    if (r < 0)
        return FW_STORE_ERR_IO;
    if (r == 1) {
        *out = id;
        return FW_STORE_OK;
    }
    id = s->next[FW_DIM_LS];
    if (id >= UINT32_MAX - 2)
        return FW_STORE_ERR_NOMEM;
    sqlite3_bind_int64(s->ins_ls, 1, id);
    sqlite3_bind_text(s->ins_ls, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->ins_ls);
    sqlite3_reset(s->ins_ls);
    if (rc == SQLITE_DONE) {
        s->next[FW_DIM_LS] = id + 1;
        if (fw_dims_add(&s->c, FW_DIM_LS, id, &v, NULL) != 0)
            return FW_STORE_ERR_NOMEM;
    }
    for (size_t i = 0; rc == SQLITE_DONE && i < m; i++) {
        sqlite3_bind_text(s->ins_label, 1, kv[i].k, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_label, 2, kv[i].v, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->ins_label, 3, id);
        rc = sqlite3_step(s->ins_label);
        sqlite3_reset(s->ins_label);
    }
    *out = id;
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

static fw_store_status fw_sq_series(fw_sq *s, const char *app, const char *type, const char *unit, int64_t *out)
{
    sqlite3_bind_text(s->get_series, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->get_series, 2, type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->get_series);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s->get_series, 0);
    sqlite3_reset(s->get_series);
    if (rc == SQLITE_ROW)
        return FW_STORE_OK;
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    sqlite3_bind_text(s->ins_series, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_series, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_series, 3, unit ? unit : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(s->ins_series);
    sqlite3_reset(s->ins_series);
    if (rc != SQLITE_DONE)
        return fw_sq_status(rc);
    *out = sqlite3_last_insert_rowid(s->w);
    return FW_STORE_OK;
}


/* Writes one block (rows sorted by stack) to sample_blocks, or to rollup_blocks at resolution res. */
fw_store_status fw_sq_put_block(fw_sq *s, int64_t res, int64_t series, int64_t t, uint32_t ls,
                                       const fw_blk_row *rows, size_t n)
{
    int64_t v, c;
    if (fw_blk_encode(&s->enc, rows, n, &v, &c) != 0)
        return FW_STORE_ERR_NOMEM;
    sqlite3_stmt *st = res ? s->ins_rblock : s->ins_block;
    int k = 1;
    sqlite3_bind_int64(st, k++, series);
    if (res)
        sqlite3_bind_int64(st, k++, res);
    sqlite3_bind_int64(st, k++, t);
    sqlite3_bind_int64(st, k++, ls);
    sqlite3_bind_int64(st, k++, v);
    sqlite3_bind_int64(st, k++, c);
    sqlite3_bind_int64(st, k++, (int64_t)n);
    sqlite3_bind_text(st, k, s->enc.p, (int)s->enc.n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FW_STORE_OK : fw_sq_status(rc);
}

/* One fact row before it is written; sorted by (series, label set, stack): one block per (series, label set). */
typedef struct {
    int64_t series;
    uint32_t ls, stack;
    int64_t value, count;
} fw_sq_fact;

static inline int fw_sq_fact_lt(const fw_sq_fact *x, const fw_sq_fact *y)
{
    if (x->series != y->series)
        return x->series < y->series;
    if (x->ls != y->ls)
        return x->ls < y->ls;
    return x->stack < y->stack;
}

/* Sorts facts by (series, label set, stack): quicksort with the comparison inlined (qsort's
 * indirect calls were a tenth of an upload's writer time), insertion sort for short ranges,
 * recursion on the smaller side only. */
static void fw_sq_fact_sort(fw_sq_fact *a, size_t n)
{
    while (n > 16) {
        size_t m = n / 2;
        fw_sq_fact t;
        /* median of three into a[m] */
        if (fw_sq_fact_lt(&a[m], &a[0])) { t = a[m]; a[m] = a[0]; a[0] = t; }
        if (fw_sq_fact_lt(&a[n - 1], &a[m])) {
            t = a[m]; a[m] = a[n - 1]; a[n - 1] = t;
            if (fw_sq_fact_lt(&a[m], &a[0])) { t = a[m]; a[m] = a[0]; a[0] = t; }
        }
        fw_sq_fact pivot = a[m];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (fw_sq_fact_lt(&a[i], &pivot))
                i++;
            while (fw_sq_fact_lt(&pivot, &a[j]))
                j--;
            if (i >= j)
                break;
            t = a[i]; a[i] = a[j]; a[j] = t;
            i++;
            j--;
        }
        /* [0, j] <= pivot <= [j + 1, n) */
        size_t left = j + 1;
        if (left < n - left) {
            fw_sq_fact_sort(a, left);
            a += left;
            n -= left;
        } else {
            fw_sq_fact_sort(a + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        fw_sq_fact x = a[i];
        size_t j = i;
        for (; j > 0 && fw_sq_fact_lt(&x, &a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* Distinct label lists remembered per upload; beyond this, label sets are built per sample. */
#define FW_SQ_LS_MEMO 64
typedef struct {
    size_t n;
    const uint64_t *k, *v;
    uint32_t id;
} fw_sq_lsmemo;

/* One upload on its way in: the profile, what was worked out about it, and the scratch arrays
 * (allocated once per upload, sized by the profile). */
typedef struct {
    const fw_store_ingest_req *req;
    const fw_profile *p;
    fw_store_ingest_result *res;
    int64_t t;                                  /* the bucket's start, seconds */
    int duplicate;                              /* the upload's id was stored before */
    size_t nt, ns, nloc, nfn;                   /* sample types, samples, locations, functions */
    int64_t series[FW_PROFILE_MAX_TYPES];
    /* Where each value's sample count comes from; see docs/STORAGE.md "Sample counts". */
    int samples_idx;
    int64_t period;
    int period_match[FW_PROFILE_MAX_TYPES];
    uint32_t *loc_frame;                        /* profile location -> frame id */
    uint32_t *fn_ids;                           /* profile function -> function id */
    uint32_t *samp_stack, *samp_ls;             /* per sample: stack id, label set id */
    fw_sq_kv *kv;
    uint32_t *frames;
    fw_sq_lsmemo *memo;
    size_t nmemo;
    fw_sq_fact *facts;
    size_t nf;
    fw_blk_row *brow;                           /* the merged rows, block after block */
    size_t rows;
    size_t nser, ser_start[FW_PROFILE_MAX_TYPES + 1];  /* where each series' rows start */
    int64_t ser_id[FW_PROFILE_MAX_TYPES + 1];
    sqlite3_str *buf;
    char *err;
    size_t errlen;
} fw_sq_ing;

/* The bucket of the upload: the request's time, else the profile's, else now. */
static fw_store_status fw_sq_ing_time(fw_sq_ing *c)
{
    int64_t t = c->req->time_s;
    if (t == 0)
        t = fw_profile_time_nanos(c->p) / 1000000000;
    if (t == 0)
        t = (int64_t)time(NULL);
    if (t < 0) {
        fw_store_errf(c->err, c->errlen, "profile time before 1970");
        return FW_STORE_ERR_INVALID;
    }
    c->t = fw_floor(t, FW_SQ_BUCKET);
    return FW_STORE_OK;
}

static fw_store_status fw_sq_ing_alloc(fw_sq_ing *c)
{
    const fw_profile *p = c->p;
    c->nt = fw_profile_type_count(p);
    c->ns = fw_profile_sample_count(p);
    c->nloc = fw_profile_location_count(p);
    c->nfn = fw_profile_function_count(p);
    c->samples_idx = fw_profile_find_type(p, "samples");
    c->period = fw_profile_period(p);
    uint64_t pt_type = 0, pt_unit = 0;
    fw_profile_period_type(p, &pt_type, &pt_unit);
    const char *period_unit = pt_unit ? fw_profile_string(p, pt_unit) : NULL;
    for (size_t j = 0; j < c->nt && j < FW_PROFILE_MAX_TYPES; j++) {
        fw_sample_type ty = fw_profile_type(p, j);
        c->period_match[j] = period_unit && ty.unit && strcmp(period_unit, ty.unit) == 0;
    }
    size_t ns = c->ns, nt = c->nt;
    c->loc_frame = calloc(c->nloc + 2, sizeof *c->loc_frame);
    c->fn_ids = calloc(c->nfn + 2, sizeof *c->fn_ids);
    c->samp_stack = malloc((ns + 1) * sizeof *c->samp_stack);
    c->samp_ls = malloc((ns + 1) * sizeof *c->samp_ls);
    c->kv = malloc((FW_PROFILE_MAX_LABELS + c->req->nlabels + 1) * sizeof *c->kv);
    c->frames = malloc(FW_PROFILE_MAX_DEPTH * sizeof *c->frames);
    c->memo = malloc(FW_SQ_LS_MEMO * sizeof *c->memo);
    c->facts = malloc((ns * nt + 1) * sizeof *c->facts);
    c->brow = malloc((ns * nt + 1) * sizeof *c->brow);
    c->buf = sqlite3_str_new(NULL);
    if (!c->loc_frame || !c->fn_ids || !c->samp_stack || !c->samp_ls || !c->kv || !c->frames ||
        !c->memo || !c->facts || !c->brow || !c->buf)
        return FW_STORE_ERR_NOMEM;
    return FW_STORE_OK;
}

static void fw_sq_ing_free(fw_sq_ing *c)
{
    free(c->loc_frame);
    free(c->fn_ids);
    free(c->samp_stack);
    free(c->samp_ls);
    free(c->kv);
    free(c->frames);
    free(c->memo);
    free(c->facts);
    free(c->brow);
    sqlite3_free(sqlite3_str_finish(c->buf));
}

/* The frame id of profile location `lid`; functions and frames are interned once per upload
 * each (a function has several lines, a location several samples). */
static fw_store_status fw_sq_ing_frame(fw_sq *s, fw_sq_ing *c, uint64_t lid, uint32_t *out)
{
    const fw_profile *p = c->p;
    uint32_t frame = lid <= c->nloc ? c->loc_frame[lid] : 0;
    fw_store_status st = FW_STORE_OK;
    if (!frame) {
        const fw_location *loc = fw_profile_get_location(p, lid);
        uint32_t fid = loc->function_id <= c->nfn ? c->fn_ids[loc->function_id] : 0;
        if (!fid) {
            const fw_function *fn = fw_profile_get_function(p, loc->function_id);
            fw_dims_val fv = {0, 0, 0, fw_profile_string(p, fn->name), fw_profile_string(p, fn->filename)};
            st = fw_sq_intern(s, FW_DIM_FN, &fv, NULL, &fid, NULL);
            if (st == FW_STORE_OK && loc->function_id <= c->nfn)
                c->fn_ids[loc->function_id] = fid;
        }
        fw_dims_val rv = {fid, 0, loc->line, NULL, NULL};
        if (st == FW_STORE_OK)
            st = fw_sq_intern(s, FW_DIM_FR, &rv, NULL, &frame, NULL);
        if (st == FW_STORE_OK && lid <= c->nloc)
            c->loc_frame[lid] = frame;
    }
    *out = frame;
    return st;
}

/* The stack id of sample `v` (0: an empty stack). */
static fw_store_status fw_sq_ing_stack(fw_sq *s, fw_sq_ing *c, const fw_sample_view *v, uint32_t *out)
{
    fw_store_status st = FW_STORE_OK;
    /* location_ids are leaf first; the trie is walked from the root. */
    fw_dims_path ph = {0, 0};
    for (size_t j = 0; j < v->depth && st == FW_STORE_OK; j++) {
        st = fw_sq_ing_frame(s, c, v->location_ids[v->depth - 1 - j], &c->frames[j]);
        fw_dims_path_step(&ph, c->frames[j]);
    }
    if (st != FW_STORE_OK)
        return st;
    /* A known stack: one probe of the path map. Otherwise walk (and extend) the trie. */
    uint32_t leaf = v->depth ? fw_dims_find_path(&s->c, &ph, c->frames[v->depth - 1]) : 0;
    if (!leaf && v->depth) {
        fw_dims_path h = {0, 0};
        for (size_t j = 0; j < v->depth && st == FW_STORE_OK; j++) {
            fw_dims_path_step(&h, c->frames[j]);
            fw_dims_val sv = {leaf, c->frames[j], 0, NULL, NULL};
            st = fw_sq_intern(s, FW_DIM_ST, &sv, &h, &leaf, &c->res->new_stacks);
        }
    }
    *out = leaf;
    return st;
}

/* The label set id of sample `v` with the request's labels. Label sets repeat across the
 * samples of an upload (one per thread, typically), so the canonical text is built once per
 * distinct list of (key, value) string indexes. */
static fw_store_status fw_sq_ing_labels(fw_sq *s, fw_sq_ing *c, const fw_sample_view *v, uint32_t *out)
{
    for (size_t m = 0; m < c->nmemo; m++) {
        const fw_sq_lsmemo *e = &c->memo[m];
        if (e->n == v->nlabels &&
            (!v->nlabels || (memcmp(e->k, v->label_keys, v->nlabels * sizeof *v->label_keys) == 0 &&
                             memcmp(e->v, v->label_values, v->nlabels * sizeof *v->label_values) == 0))) {
            *out = e->id;
            return FW_STORE_OK;
        }
    }
    size_t n = 0;
    for (size_t j = 0; j < v->nlabels; j++) {
        c->kv[n].k = fw_profile_string(c->p, v->label_keys[j]);
        c->kv[n++].v = fw_profile_string(c->p, v->label_values[j]);
    }
    for (size_t j = 0; j < c->req->nlabels; j++) {
        c->kv[n].k = c->req->labels[j].key;
        c->kv[n++].v = c->req->labels[j].value;
    }
    fw_store_status st = fw_sq_intern_ls(s, c->kv, n, c->buf, out);
    if (st == FW_STORE_OK && c->nmemo < FW_SQ_LS_MEMO)
        c->memo[c->nmemo++] = (fw_sq_lsmemo){v->nlabels, v->label_keys, v->label_values, *out};
    return st;
}

/* Phase 1: every sample's stack and label set, interned under the cache lock (queries wait
 * only this long). */
static fw_store_status fw_sq_ing_dims(fw_sq *s, fw_sq_ing *c)
{
    fw_store_status st = FW_STORE_OK;
    pthread_mutex_lock(&s->clock);
    s->wsrc.base.epoch = s->c.epoch;   /* the writer always sees the newest file */
    for (size_t i = 0; i < c->ns && st == FW_STORE_OK; i++) {
        fw_sample_view v;
        fw_profile_get_sample(c->p, i, &v);
        st = fw_sq_ing_stack(s, c, &v, &c->samp_stack[i]);
        if (st == FW_STORE_OK)
            st = fw_sq_ing_labels(s, c, &v, &c->samp_ls[i]);
    }
    pthread_mutex_unlock(&s->clock);
    if (st != FW_STORE_OK) {
        fw_store_errf(c->err, c->errlen, "storing stacks: %s",
                      st == FW_STORE_ERR_NOMEM ? "out of memory" : sqlite3_errmsg(s->w));
        return st;
    }
    if (s->gc_touch)   /* a GC is marking: these stacks are in use (see fw_sq_gc) */
        for (size_t i = 0; i < c->ns; i++)
            if (c->samp_stack[i] && c->samp_stack[i] < s->gc_n &&
                fw_idmap_put(s->gc_touch, c->samp_stack[i], 1)) {
                fw_store_errf(c->err, c->errlen, "storing stacks: out of memory");
                return FW_STORE_ERR_NOMEM;
            }
    return FW_STORE_OK;
}

/* Phase 2a: one fact per non-zero value of a sample with a stack, sorted by (series, label
 * set, stack). */
static void fw_sq_ing_facts(fw_sq_ing *c)
{
    c->nf = 0;
    for (size_t i = 0; i < c->ns; i++) {
        if (!c->samp_stack[i])
            continue;   /* an empty stack has no frame to charge; pprof allows it, we skip it */
        fw_sample_view v;
        fw_profile_get_sample(c->p, i, &v);
        for (size_t j = 0; j < c->nt; j++) {
            int64_t val = v.values[j];
            if (val == 0)
                continue;
            int64_t cnt = 1;
            if (c->samples_idx >= 0)
                cnt = v.values[c->samples_idx] > 0 ? v.values[c->samples_idx] : 1;
            else if (c->period > 0 && c->period_match[j])
                cnt = val / c->period + (val % c->period != 0);
            c->facts[c->nf++] = (fw_sq_fact){c->series[j], c->samp_ls[i], c->samp_stack[i], val, cnt};
        }
    }
    if (c->nf > 1)
        fw_sq_fact_sort(c->facts, c->nf);
}

/* Phase 2b: the facts merged (the same stack and label set twice in one upload is one row) and
 * written as one block per (series, label set), into the raw level and, for late data, into
 * every level whose watermark the bucket is behind. */
static fw_store_status fw_sq_ing_blocks(fw_sq *s, fw_sq_ing *c, int late)
{
    const fw_sq_fact *facts = c->facts;
    size_t nf = c->nf, blocks = 0;
    fw_store_status st = FW_STORE_OK;
    c->rows = 0;
    c->nser = 0;
    for (size_t i = 0; i < nf;) {
        int64_t ser = facts[i].series;
        uint32_t ls = facts[i].ls;
        size_t n = 0;
        if (!c->nser || c->ser_id[c->nser - 1] != ser) {
            c->ser_id[c->nser] = ser;
            c->ser_start[c->nser++] = c->rows;
        }
        while (i < nf && facts[i].series == ser && facts[i].ls == ls) {
            fw_sq_fact f = facts[i++];
            while (i < nf && facts[i].series == ser && facts[i].ls == ls && facts[i].stack == f.stack) {
                /* Validated non-negative and each below 2^63; a sum that would overflow is refused. */
                if (facts[i].value > INT64_MAX - f.value || facts[i].count > INT64_MAX - f.count) {
                    fw_store_errf(c->err, c->errlen, "values of one stack add up past 2^63");
                    return FW_STORE_ERR_INVALID;
                }
                f.value += facts[i].value;
                f.count += facts[i].count;
                i++;
            }
            c->brow[c->rows + n++] = (fw_blk_row){f.stack, f.value, f.count};
        }
        if (s->fail_after >= 0 && (long)blocks >= s->fail_after) {
            s->fail_after = -1;
            fw_store_errf(c->err, c->errlen, "injected failure after %zu blocks", blocks);
            return FW_STORE_ERR_IO;
        }
        st = fw_sq_put_block(s, 0, ser, c->t, ls, &c->brow[c->rows], n);
        /* Late data: buckets already rolled up get the block too, so every roll-up stays equal
         * to the sum of its raw rows. */
        for (int l = 0; late && st == FW_STORE_OK && l < FW_SQ_NLEVELS; l++)
            if (c->t < s->wm[l])
                st = fw_sq_put_block(s, fw_sq_res[l], ser, fw_floor(c->t, fw_sq_res[l]), ls,
                                     &c->brow[c->rows], n);
        if (st != FW_STORE_OK) {
            fw_store_errf(c->err, c->errlen, "storing samples: %s",
                          st == FW_STORE_ERR_NOMEM ? "out of memory" : sqlite3_errmsg(s->w));
            return st;
        }
        c->rows += n;
        blocks++;
    }
    c->ser_start[c->nser] = c->rows;
    return FW_STORE_OK;
}

/* Phase 2c, late data only: each series merged over label sets (labelset_id 0), one block per
 * series and rolled-up level. */
static fw_store_status fw_sq_ing_late_rollups(fw_sq *s, fw_sq_ing *c)
{
    for (size_t k = 0; k < c->nser; k++) {
        fw_blk_acc_reset(&s->wacc);
        int rc2 = 0;
        for (size_t i = c->ser_start[k]; rc2 == 0 && i < c->ser_start[k + 1]; i++)
            rc2 = fw_blk_acc_add(&s->wacc, c->brow[i].stack, c->brow[i].value, c->brow[i].count);
        if (rc2 == 0)
            fw_blk_acc_sort(&s->wacc);
        fw_store_status st = rc2 == 0 ? FW_STORE_OK : rc2 == FW_BLK_NOMEM ? FW_STORE_ERR_NOMEM : FW_STORE_ERR_INVALID;
        for (int l = 0; st == FW_STORE_OK && l < FW_SQ_NLEVELS; l++)
            if (c->t < s->wm[l])
                st = fw_sq_put_block(s, fw_sq_res[l], c->ser_id[k], fw_floor(c->t, fw_sq_res[l]), 0,
                                     s->wacc.r.v, s->wacc.r.n);
        if (st != FW_STORE_OK) {
            fw_store_errf(c->err, c->errlen, "storing late roll-ups: %s", sqlite3_errmsg(s->w));
            return st;
        }
    }
    return FW_STORE_OK;
}

/* The store's counters (meta): one more profile, its values and rows. */
static fw_store_status fw_sq_ing_counters(fw_sq *s, fw_sq_ing *c)
{
    static const char *const keys[] = {"profiles", "stack_values", "raw_rows"};
    int64_t adds[] = {1, (int64_t)c->nf, (int64_t)c->rows};
    for (int k = 0; k < 3; k++) {
        sqlite3_bind_text(s->meta_add, 1, keys[k], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->meta_add, 2, adds[k]);
        int rc = sqlite3_step(s->meta_add);
        sqlite3_reset(s->meta_add);
        if (rc != SQLITE_DONE) {
            fw_store_errf(c->err, c->errlen, "updating counters: %s", sqlite3_errmsg(s->w));
            return fw_sq_status(rc);
        }
    }
    return FW_STORE_OK;
}

/* Records the upload's id; c->duplicate if it was recorded before (then nothing is to be written). */
static fw_store_status fw_sq_ing_claim(fw_sq *s, fw_sq_ing *c)
{
    if (c->req->upload_id == 0)
        return FW_STORE_OK;
    sqlite3_bind_int64(s->ins_upload, 1, c->t);
    sqlite3_bind_text(s->ins_upload, 2, c->req->app, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->ins_upload, 3, (int64_t)c->req->upload_id);   /* the bits, as SQLite keeps them */
    int rc = sqlite3_step(s->ins_upload);
    sqlite3_reset(s->ins_upload);
    if (rc != SQLITE_DONE) {
        fw_store_errf(c->err, c->errlen, "recording the upload id: %s", sqlite3_errmsg(s->w));
        return fw_sq_status(rc);
    }
    c->duplicate = sqlite3_changes(s->w) == 0;
    return FW_STORE_OK;
}

/* Everything the transaction writes, in order; the caller commits or rolls back (and rolls back
 * a duplicate, for which nothing was written). */
static fw_store_status fw_sq_ing_write(fw_sq *s, fw_sq_ing *c)
{
    fw_store_status st = fw_sq_ing_claim(s, c);
    if (st != FW_STORE_OK || c->duplicate)
        return st;
    for (size_t i = 0; i < c->nt && st == FW_STORE_OK; i++) {
        fw_sample_type ty = fw_profile_type(c->p, i);
        st = fw_sq_series(s, c->req->app, ty.type, ty.unit, &c->series[i]);
    }
    if (st == FW_STORE_OK)
        st = fw_sq_ing_dims(s, c);
    if (st != FW_STORE_OK)
        return st;
    fw_sq_ing_facts(c);
    int late = c->t < s->wm[0];                /* the finest watermark is the highest */
    st = fw_sq_ing_blocks(s, c, late);
    if (st == FW_STORE_OK && late)
        st = fw_sq_ing_late_rollups(s, c);
    if (st == FW_STORE_OK)
        st = fw_sq_ing_counters(s, c);
    if (st == FW_STORE_OK) {
        int rc = fw_sq_exec(s->w, "COMMIT");
        if (rc != SQLITE_OK) {
            fw_store_errf(c->err, c->errlen, "commit: %s", sqlite3_errmsg(s->w));
            st = fw_sq_status(rc);
        }
    }
    return st;
}

fw_store_status fw_sq_ingest(fw_store *base, const fw_store_ingest_req *req,
                                    fw_store_ingest_result *res, char *err, size_t errlen)
{
    fw_sq *s = (fw_sq *)base;
    fw_store_status st = fw_store_validate_ingest(req, err, errlen);
    if (st != FW_STORE_OK)
        return st;
    fw_sq_ing c = {.req = req, .p = req->profile, .res = res, .err = err, .errlen = errlen};
    st = fw_sq_ing_time(&c);
    if (st != FW_STORE_OK)
        return st;
    st = fw_sq_ing_alloc(&c);
    if (st != FW_STORE_OK) {
        fw_sq_ing_free(&c);
        return st;
    }

    pthread_mutex_lock(&s->wlock);
    int rc = fw_sq_exec(s->w, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        fw_store_errf(err, errlen, "begin: %s", sqlite3_errmsg(s->w));
        pthread_mutex_unlock(&s->wlock);
        fw_sq_ing_free(&c);
        return fw_sq_status(rc);
    }
    /* The ids to cut the cache back to if this transaction rolls back. */
    uint32_t save_next[FW_DIM_KINDS];
    memcpy(save_next, s->next, sizeof save_next);
    st = fw_sq_ing_write(s, &c);
    if (st == FW_STORE_OK && !c.duplicate) {
        res->stack_values = c.nf;
        res->duplicate = 0;
        pthread_mutex_unlock(&s->wlock);
        fw_sq_checkpoint(s, 0);
    } else {
        fw_sq_exec(s->w, "ROLLBACK");
        pthread_mutex_lock(&s->clock);
        fw_dims_forget_from(&s->c, save_next);
        pthread_mutex_unlock(&s->clock);
        memcpy(s->next, save_next, sizeof save_next);
        pthread_mutex_unlock(&s->wlock);
        res->stack_values = 0;
        res->new_stacks = 0;
        res->duplicate = c.duplicate;
    }
    fw_sq_ing_free(&c);
    return st;
}
