/*
 * fw_ch_ingest.c: one upload, a few RowBinary inserts (the ClickHouse backend).
 *
 * Validation first (fw_store_validate.c, the same checks as SQLite), then every id is computed
 * here, from content: a function is the hash of (name, file); a stack the hash of its frames'
 * (function id, line), root first; a label set the hash of its canonical text (the same text
 * SQLite keeps). Two servers writing the same stack therefore write the same row, and the
 * ReplacingMergeTree tables fold the copies; nothing needs a round trip to learn an id.
 *
 * Order: dimension rows (functions, stacks, labels, series) first, side by side, then the samples,
 * in an insert shared with the uploads arriving meanwhile (fw_ch_batch.c). A failure before the samples insert leaves at most dimension rows nobody
 * references yet, which is harmless: the upload is answered with an error and stores no sample.
 * Dimension rows this process already wrote (the known sets) are not sent again.
 */
#include "fw_ch.h"

#include "../fw_store_validate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FW_CH_KNOWN_MAX (1u << 22)   /* beyond this many ids a known set starts over */

typedef struct { const char *k, *v; } fw_ch_kv;

static int fw_ch_kv_cmp(const void *a, const void *b)
{
    const fw_ch_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

typedef struct {
    uint32_t type;
    uint64_t ls, stack;
    int64_t value, count;
} fw_ch_fact;

static int fw_ch_fact_cmp(const void *a, const void *b)
{
    const fw_ch_fact *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->ls != y->ls)
        return x->ls < y->ls ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Label set of one sample: canonical text {k="v",...} (sorted, duplicates removed, \ and "
 * escaped, as SQLite's), its hash, and its label rows appended to `rows` when new. */
static uint64_t fw_ch_labelset(fw_ch_kv *kv, size_t n, fw_ch_buf *text, fw_ch_buf *rows, fw_ch_idset *seen,
                               const fw_ch_idset *known)
{
    qsort(kv, n, sizeof *kv, fw_ch_kv_cmp);
    fw_ch_buf_reset(text);
    fw_ch_put(text, "{", 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && fw_ch_kv_cmp(&kv[i], &kv[i - 1]) == 0)
            continue;
        kv[m++] = kv[i];
        if (m > 1)
            fw_ch_put(text, ",", 1);
        fw_ch_puts(text, kv[i].k);
        fw_ch_put(text, "=\"", 2);
        for (const char *p = kv[i].v; *p; p++) {
            if (*p == '"' || *p == '\\')
                fw_ch_put(text, "\\", 1);
            fw_ch_put(text, p, 1);
        }
        fw_ch_put(text, "\"", 1);
    }
    fw_ch_put(text, "}", 1);
    uint64_t id = fw_ch_hash(text->p, text->n, 0x6c6162656c73ull);
    if (!fw_ch_idset_has(known, id) && !fw_ch_idset_has(seen, id)) {
        if (fw_ch_idset_add(seen, id) != 0)
            rows->oom = 1;
        for (size_t i = 0; i < m; i++) {
            fw_ch_rb_u64(rows, id);
            fw_ch_rb_str(rows, kv[i].k, strlen(kv[i].k));
            fw_ch_rb_str(rows, kv[i].v, strlen(kv[i].v));
        }
    }
    return id;
}

/* One insert of a batch run side by side. */
typedef struct {
    fw_ch *s;
    const char *table, *cols;
    const fw_ch_buf *rows;
    fw_store_status st;
    char err[256];
} fw_ch_job;

static void *fw_ch_job_run(void *arg)
{
    fw_ch_job *j = arg;
    j->st = fw_ch_insert(j->s, j->table, j->cols, j->rows, j->err, sizeof j->err);
    return NULL;
}

/* Runs the non-empty jobs at once (a thread each but the last, which runs here): the dimension
 * inserts of an upload cost one round trip instead of four. The first error is returned. */
static fw_store_status fw_ch_insert_all(fw_ch_job *jobs, int n, char *err, size_t errlen)
{
    pthread_t th[8];
    int started[8] = {0};
    int last = -1;
    for (int i = 0; i < n; i++)
        if (jobs[i].rows->n)
            last = i;
    for (int i = 0; i < n; i++) {
        if (!jobs[i].rows->n)
            continue;
        if (i != last && pthread_create(&th[i], NULL, fw_ch_job_run, &jobs[i]) == 0)
            started[i] = 1;
        else
            fw_ch_job_run(&jobs[i]);   /* the last one, or no thread to be had: run it here */
    }
    fw_store_status st = FW_STORE_OK;
    for (int i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        if (jobs[i].rows->n && jobs[i].st != FW_STORE_OK && st == FW_STORE_OK) {
            st = jobs[i].st;
            fw_store_errf(err, errlen, "%s", jobs[i].err);
        }
    }
    return st;
}

/* Marks ids as written, under klock. */
static void fw_ch_remember(fw_ch *s, fw_ch_idset *known, const fw_ch_idset *fresh)
{
    if (known->n + fresh->n > FW_CH_KNOWN_MAX)
        fw_ch_idset_free(known);
    for (size_t i = 0; i < fresh->cap; i++)
        if (fresh->v[i] && fw_ch_idset_add(known, fresh->v[i]) != 0)
            break;   /* out of memory: the rows will be sent again, that is all */
    (void)s;
}

fw_store_status fw_ch_ingest(fw_store *base, const fw_store_ingest_req *req, fw_store_ingest_result *res,
                             char *err, size_t errlen)
{
    fw_ch *s = (fw_ch *)base;
    const fw_profile *p = req->profile;
    fw_store_status st = fw_store_validate_ingest(req, err, errlen);
    if (st != FW_STORE_OK)
        return st;
    int64_t t = req->time_s;
    if (t == 0)
        t = fw_profile_time_nanos(p) / 1000000000;
    if (t == 0)
        t = (int64_t)time(NULL);
    if (t < 0) {
        fw_store_errf(err, errlen, "profile time before 1970");
        return FW_STORE_ERR_INVALID;
    }
    t = fw_floor(t, FW_CH_BUCKET);

    size_t nt = fw_profile_type_count(p), ns = fw_profile_sample_count(p);
    size_t nfn = fw_profile_function_count(p);
    int samples_idx = fw_profile_find_type(p, "samples");
    int64_t period = fw_profile_period(p);
    uint64_t pt_type = 0, pt_unit = 0;
    fw_profile_period_type(p, &pt_type, &pt_unit);
    const char *period_unit = pt_unit ? fw_profile_string(p, pt_unit) : NULL;
    int period_match[FW_PROFILE_MAX_TYPES] = {0};
    for (size_t j = 0; j < nt && j < FW_PROFILE_MAX_TYPES; j++) {
        fw_sample_type ty = fw_profile_type(p, j);
        period_match[j] = period_unit && ty.unit && strcmp(period_unit, ty.unit) == 0;
    }

    uint64_t *fn_hash = calloc(nfn + 2, sizeof *fn_hash);
    uint64_t *frame_bytes = malloc((size_t)2 * FW_PROFILE_MAX_DEPTH * sizeof *frame_bytes);
    fw_ch_kv *kv = malloc((FW_PROFILE_MAX_LABELS + req->nlabels + 1) * sizeof *kv);
    fw_ch_fact *facts = malloc((ns * nt + 1) * sizeof *facts);
    fw_ch_buf fns = {0}, sts = {0}, lbs = {0}, sers = {0}, smp = {0}, text = {0};
    fw_ch_idset new_fn = {0}, new_st = {0}, new_ls = {0}, new_ser = {0};
    if (!fn_hash || !frame_bytes || !kv || !facts) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }

    /* Phase 1: ids and the dimension rows not written yet. The known sets are read under klock. */
    size_t nf = 0, nvalues = 0;
    pthread_mutex_lock(&s->klock);
    uint64_t ser_id[FW_PROFILE_MAX_TYPES];
    for (size_t j = 0; j < nt; j++) {
        fw_sample_type ty = fw_profile_type(p, j);
        fw_ch_buf_reset(&text);
        fw_ch_puts(&text, req->app);
        fw_ch_put(&text, "", 1);
        fw_ch_puts(&text, ty.type);
        ser_id[j] = fw_ch_hash(text.p, text.n, 0x736572ull);
        if (!fw_ch_idset_has(&s->known_series, ser_id[j]) && !fw_ch_idset_has(&new_ser, ser_id[j])) {
            if (fw_ch_idset_add(&new_ser, ser_id[j]) != 0)
                sers.oom = 1;
            fw_ch_rb_str(&sers, req->app, strlen(req->app));
            fw_ch_rb_str(&sers, ty.type, strlen(ty.type));
            fw_ch_rb_str(&sers, ty.unit ? ty.unit : "", ty.unit ? strlen(ty.unit) : 0);
        }
    }
    uint64_t memo_ls = 0;
    const uint64_t *memo_k = NULL, *memo_v = NULL;
    size_t memo_n = (size_t)-1;
    for (size_t i = 0; i < ns; i++) {
        fw_sample_view v;
        fw_profile_get_sample(p, i, &v);
        if (!v.depth)
            continue;   /* an empty stack has no frame to charge; pprof allows it, SQLite skips it too */
        /* location_ids are leaf first; the stack's content is root first. */
        for (size_t j = 0; j < v.depth; j++) {
            const fw_location *loc = fw_profile_get_location(p, v.location_ids[v.depth - 1 - j]);
            uint64_t fi = loc->function_id;
            uint64_t fh = fi <= nfn ? fn_hash[fi] : 0;
            if (!fh) {
                const fw_function *fn = fw_profile_get_function(p, fi);
                const char *name = fw_profile_string(p, fn->name), *file = fw_profile_string(p, fn->filename);
                fw_ch_buf_reset(&text);
                fw_ch_puts(&text, name);
                fw_ch_put(&text, "", 1);
                fw_ch_puts(&text, file);
                fh = fw_ch_hash(text.p, text.n, 0x66756e63ull);
                if (fi <= nfn)
                    fn_hash[fi] = fh;
                if (!fw_ch_idset_has(&s->known_fn, fh) && !fw_ch_idset_has(&new_fn, fh)) {
                    if (fw_ch_idset_add(&new_fn, fh) != 0)
                        fns.oom = 1;
                    fw_ch_rb_u64(&fns, fh);
                    fw_ch_rb_str(&fns, name, strlen(name));
                    fw_ch_rb_str(&fns, file, strlen(file));
                }
            }
            frame_bytes[2 * j] = fh;
            frame_bytes[2 * j + 1] = (uint64_t)loc->line;
        }
        uint64_t sh = fw_ch_hash(frame_bytes, v.depth * 2 * sizeof *frame_bytes, 0x737461636bull);
        if (!fw_ch_idset_has(&s->known_st, sh) && !fw_ch_idset_has(&new_st, sh)) {
            if (fw_ch_idset_add(&new_st, sh) != 0)
                sts.oom = 1;
            fw_ch_rb_u64(&sts, sh);
            fw_ch_rb_varuint(&sts, v.depth);
            for (size_t j = 0; j < v.depth; j++)
                fw_ch_rb_u64(&sts, frame_bytes[2 * j]);
            fw_ch_rb_varuint(&sts, v.depth);
            for (size_t j = 0; j < v.depth; j++)
                fw_ch_rb_i64(&sts, (int64_t)frame_bytes[2 * j + 1]);
        }
        /* Label sets repeat across samples (one per thread, typically): the last one is remembered. */
        uint64_t ls;
        if (memo_n == v.nlabels && (!v.nlabels || (memo_k && memo_v && memcmp(memo_k, v.label_keys, v.nlabels * sizeof *memo_k) == 0 &&
                                                  memcmp(memo_v, v.label_values, v.nlabels * sizeof *memo_v) == 0))) {
            ls = memo_ls;
        } else {
            size_t n = 0;
            for (size_t j = 0; j < v.nlabels; j++) {
                kv[n].k = fw_profile_string(p, v.label_keys[j]);
                kv[n++].v = fw_profile_string(p, v.label_values[j]);
            }
            for (size_t j = 0; j < req->nlabels; j++) {
                kv[n].k = req->labels[j].key;
                kv[n++].v = req->labels[j].value;
            }
            ls = fw_ch_labelset(kv, n, &text, &lbs, &new_ls, &s->known_ls);
            memo_ls = ls;
            memo_k = v.label_keys;
            memo_v = v.label_values;
            memo_n = v.nlabels;
        }
        for (size_t j = 0; j < nt; j++) {
            int64_t val = v.values[j];
            if (val == 0)
                continue;
            int64_t cnt = 1;
            if (samples_idx >= 0)
                cnt = v.values[samples_idx] > 0 ? v.values[samples_idx] : 1;
            else if (period > 0 && period_match[j])
                cnt = val / period + (val % period != 0);
            facts[nf++] = (fw_ch_fact){(uint32_t)j, ls, sh, val, cnt};
        }
    }
    pthread_mutex_unlock(&s->klock);
    nvalues = nf;
    res->new_stacks = new_st.n;

    /* Phase 2: facts merged per (type, label set, stack), as SQLite merges them into one block row. */
    if (nf > 1)
        qsort(facts, nf, sizeof *facts, fw_ch_fact_cmp);
    size_t rows = 0;
    for (size_t i = 0; i < nf;) {
        fw_ch_fact f = facts[i++];
        while (i < nf && fw_ch_fact_cmp(&facts[i], &f) == 0) {
            if (facts[i].value > INT64_MAX - f.value || facts[i].count > INT64_MAX - f.count) {
                fw_store_errf(err, errlen, "values of one stack add up past 2^63");
                st = FW_STORE_ERR_INVALID;
                goto out;
            }
            f.value += facts[i].value;
            f.count += facts[i].count;
            i++;
        }
        fw_sample_type ty = fw_profile_type(p, f.type);
        fw_ch_rb_str(&smp, req->app, strlen(req->app));
        fw_ch_rb_str(&smp, ty.type, strlen(ty.type));
        fw_ch_rb_i64(&smp, t);
        fw_ch_rb_u64(&smp, f.ls);
        fw_ch_rb_u64(&smp, f.stack);
        fw_ch_rb_i64(&smp, f.value);
        fw_ch_rb_i64(&smp, f.count);
        fw_ch_rb_u64(&smp, req->upload_id);
        rows++;
    }
    if (fw_ch_buf_failed(&fns) || fw_ch_buf_failed(&sts) || fw_ch_buf_failed(&lbs) || fw_ch_buf_failed(&sers) ||
        fw_ch_buf_failed(&smp) || fw_ch_buf_failed(&text)) {
        st = FW_STORE_ERR_NOMEM;
        goto out;
    }

    /* Phase 3: the inserts, dimensions first (side by side: they do not depend on each other),
     * then the samples that reference them. */
    fw_ch_job jobs[4] = {
        {s, "functions", "id, name, file", &fns, FW_STORE_OK, ""},
        {s, "stacks", "id, funcs, lines", &sts, FW_STORE_OK, ""},
        {s, "labels", "labelset, key, value", &lbs, FW_STORE_OK, ""},
        {s, "series", "app, type, unit", &sers, FW_STORE_OK, ""},
    };
    st = fw_ch_insert_all(jobs, 4, err, errlen);
    if (st != FW_STORE_OK)
        goto out;
    int dup = 0;
    if (smp.n && (st = fw_ch_commit_samples(s, &smp, req->app, fw_profile_type(p, facts[0].type).type, t,
                                            req->upload_id, &dup, err, errlen)) != FW_STORE_OK)
        goto out;
    res->stack_values = nvalues;
    res->duplicate = dup;
    if (!dup) {   /* a duplicate was counted when it was stored */
        atomic_fetch_add(&s->pend_profiles, 1);
        atomic_fetch_add(&s->pend_values, (int64_t)nvalues);
        atomic_fetch_add(&s->pend_rows, (int64_t)rows);
    }
    pthread_mutex_lock(&s->klock);
    fw_ch_remember(s, &s->known_fn, &new_fn);
    fw_ch_remember(s, &s->known_st, &new_st);
    fw_ch_remember(s, &s->known_ls, &new_ls);
    fw_ch_remember(s, &s->known_series, &new_ser);
    pthread_mutex_unlock(&s->klock);
out:
    if (st != FW_STORE_OK) {
        res->stack_values = 0;
        res->new_stacks = 0;
        if (st == FW_STORE_ERR_NOMEM && err && !*err)
            fw_store_errf(err, errlen, "out of memory");
    }
    free(fn_hash);
    free(frame_bytes);
    free(kv);
    free(facts);
    fw_ch_buf_free(&fns);
    fw_ch_buf_free(&sts);
    fw_ch_buf_free(&lbs);
    fw_ch_buf_free(&sers);
    fw_ch_buf_free(&smp);
    fw_ch_buf_free(&text);
    fw_ch_idset_free(&new_fn);
    fw_ch_idset_free(&new_st);
    fw_ch_idset_free(&new_ls);
    fw_ch_idset_free(&new_ser);
    return st;
}
