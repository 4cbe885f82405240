/*
 * fw_ch_batch.c: group commit of sample rows, and retries stored once (the ClickHouse backend).
 *
 * Every INSERT into a MergeTree writes a part, and ClickHouse wants few large inserts rather than
 * many small ones; an upload is a few hundred rows. So concurrent uploads share inserts: each
 * appends its rows to the open batch and waits; when no insert is in flight, one of the waiters
 * takes the batch, closes it and inserts it, and everyone in it gets that insert's answer. One
 * insert is in flight at a time per server, so while it runs the next batch fills up: under load,
 * the number of inserts per second stays flat while the rows per insert grow with the load.
 *
 * Retries: every row carries its upload's id (fw_store_ingest_req.upload_id). Before inserting,
 * the flusher asks which ids of the batch `samples` already holds for the batch's applications
 * and time buckets (one index-range query per batch, on the table's sort key) and leaves those
 * uploads out, as well as a second copy of an id inside the batch: they are answered FW_STORE_OK
 * with duplicate = 1. The id is in the same insert as the rows, so "stored" and "id recorded"
 * cannot disagree, and the batches of one server run one after the other, so a retry can never
 * slip past an attempt this server is still inserting. Left open: two servers inserting the same
 * upload at the same instant (a retry sent elsewhere while the first attempt is still in flight
 * there); agents retry only after an answer or a timeout, so that needs a first attempt slower
 * than the agent's timeout.
 *
 * Acknowledgement is unchanged: an upload returns FW_STORE_OK only after ClickHouse acknowledged
 * the insert holding its rows (or, for a duplicate, an earlier one). A failed check or insert
 * fails every upload in the batch (none was acknowledged). A batch is freed by the last upload
 * that reads its answer.
 */
#include "fw_ch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A batch closes early once it holds this many bytes of rows (~150,000 rows). */
#define FW_CH_BATCH_BYTES (8u << 20)
/* Upload ids asked per duplicate check query. */
#define FW_CH_CHECK_CHUNK 1000

typedef struct {
    uint64_t id;             /* 0: no id, never a duplicate */
    int64_t t;
    size_t off, len;         /* its rows in the batch */
    size_t app_off;          /* its application and the type of its first row, each NUL-terminated, in
                                the batch's names: an upload's rows are all in one insert, so one
                                (app, type, t) of them finds them all */
    int dup;
} fw_ch_entry;

struct fw_ch_batch {
    fw_ch_buf rows, names;
    fw_ch_entry *ent;
    size_t nent, cap;
    int refs;                /* uploads whose rows are in it and that have not read the answer */
    int done;
    fw_store_status st;
    char err[256];
};

static void fw_ch_batch_destroy(fw_ch_batch *b)
{
    fw_ch_buf_free(&b->rows);
    fw_ch_buf_free(&b->names);
    free(b->ent);
    free(b);
}

/* Adds to `have` the ids of entries [from, to) that `samples` already holds: one query. */
static fw_store_status fw_ch_batch_have(fw_ch *s, const fw_ch_batch *b, size_t from, size_t to, fw_ch_idset *have,
                                        char *err, size_t errlen)
{
    fw_ch_buf q = {0}, r = {0};
    /* app, type and t are the sort key's prefix: the check reads the granules of those buckets only. */
    static const char *const parts[] = {"SELECT DISTINCT upload FROM samples WHERE app IN (", ") AND type IN (",
                                        ") AND t IN (", ") AND upload IN ("};
    for (int col = 0; col < 4; col++) {
        fw_ch_puts(&q, parts[col]);
        for (size_t i = from, k = 0; i < to; i++) {
            const fw_ch_entry *e = &b->ent[i];
            const char *app = b->names.p + e->app_off;
            if (!e->id)
                continue;
            fw_ch_puts(&q, k++ ? "," : "");
            if (col == 0)
                fw_ch_quote(&q, app);
            else if (col == 1)
                fw_ch_quote(&q, app + strlen(app) + 1);
            else if (col == 2)
                fw_ch_printf(&q, "%lld", (long long)e->t);
            else
                fw_ch_printf(&q, "%llu", (unsigned long long)e->id);
        }
    }
    fw_ch_puts(&q, ")");
    fw_store_status st = fw_ch_buf_nul(&q) ? FW_STORE_ERR_NOMEM : fw_ch_select(s, q.p, &r, err, errlen);
    if (st == FW_STORE_OK) {
        fw_ch_tsv tsv = {r.p, r.p + r.n};
        char *f[1];
        size_t len[1];
        int nf;
        while (st == FW_STORE_OK && (nf = fw_ch_tsv_row(&tsv, f, len, 1)) != 0) {
            uint64_t id;
            if (nf != 1 || fw_ch_parse_u64(f[0], &id) != 0) {
                fw_store_errf(err, errlen, "ClickHouse: unexpected answer to the upload id check");
                st = FW_STORE_ERR_IO;
            } else if (fw_ch_idset_add(have, id) != 0) {
                st = FW_STORE_ERR_NOMEM;
            }
        }
    }
    fw_ch_buf_free(&q);
    fw_ch_buf_free(&r);
    return st;
}

/* Marks the entries whose id `samples` already holds, or that repeat an earlier entry's id. The
 * ids are asked in chunks, so that a batch of many small uploads stays under ClickHouse's
 * max_query_size (256 KiB by default; ~60 bytes per upload here). */
static fw_store_status fw_ch_batch_dups(fw_ch *s, fw_ch_batch *b, size_t *ndup, char *err, size_t errlen)
{
    *ndup = 0;
    fw_ch_idset have = {0}, seen = {0};
    fw_store_status st = FW_STORE_OK;
    for (size_t from = 0; from < b->nent && st == FW_STORE_OK; from += FW_CH_CHECK_CHUNK) {
        size_t to = from + FW_CH_CHECK_CHUNK < b->nent ? from + FW_CH_CHECK_CHUNK : b->nent, nid = 0;
        for (size_t i = from; i < to; i++)
            nid += b->ent[i].id != 0;
        if (nid)
            st = fw_ch_batch_have(s, b, from, to, &have, err, errlen);
    }
    for (size_t i = 0; st == FW_STORE_OK && i < b->nent; i++) {
        fw_ch_entry *e = &b->ent[i];
        if (!e->id)
            continue;
        if (fw_ch_idset_has(&have, e->id) || fw_ch_idset_has(&seen, e->id)) {
            e->dup = 1;
            (*ndup)++;
        } else if (fw_ch_idset_add(&seen, e->id) != 0) {
            st = FW_STORE_ERR_NOMEM;
        }
    }
    if (st == FW_STORE_ERR_NOMEM)
        fw_store_errf(err, errlen, "out of memory");
    fw_ch_idset_free(&have);
    fw_ch_idset_free(&seen);
    return st;
}

/* The flusher's work: the duplicate check, then one insert of what is left. */
static fw_store_status fw_ch_batch_insert(fw_ch *s, fw_ch_batch *b, char *err, size_t errlen)
{
    static const char cols[] = "app, type, t, labelset, stack, value, count, upload";
    size_t ndup = 0;
    fw_store_status st = fw_ch_batch_dups(s, b, &ndup, err, errlen);
    if (st != FW_STORE_OK || ndup == b->nent)
        return st;
    if (!ndup)
        return fw_ch_insert(s, "samples", cols, &b->rows, err, errlen);
    fw_ch_buf keep = {0};
    for (size_t i = 0; i < b->nent; i++)
        if (!b->ent[i].dup)
            fw_ch_put(&keep, b->rows.p + b->ent[i].off, b->ent[i].len);
    if (fw_ch_buf_failed(&keep)) {
        fw_store_errf(err, errlen, "out of memory");
        st = FW_STORE_ERR_NOMEM;
    } else {
        st = fw_ch_insert(s, "samples", cols, &keep, err, errlen);
    }
    fw_ch_buf_free(&keep);
    return st;
}

/* Appends an upload to the open batch (blk held); its entry index, or -1 when out of memory (the
 * batch is then as it was). */
static long fw_ch_batch_add(fw_ch_batch *b, const fw_ch_buf *rows, const char *app, const char *type, int64_t t,
                            uint64_t id)
{
    if (b->nent == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        fw_ch_entry *e = realloc(b->ent, cap * sizeof *e);
        if (!e)
            return -1;
        b->ent = e;
        b->cap = cap;
    }
    size_t before = b->rows.n, nbefore = b->names.n;
    fw_ch_put(&b->rows, rows->p, rows->n);
    fw_ch_put(&b->names, app, strlen(app) + 1);
    fw_ch_put(&b->names, type, strlen(type) + 1);
    if (b->rows.oom || b->names.oom) {
        b->rows.n = before;   /* the others' rows stay whole; this upload alone fails */
        b->names.n = nbefore;
        b->rows.oom = b->names.oom = 0;
        return -1;
    }
    b->ent[b->nent] = (fw_ch_entry){id, t, before, rows->n, nbefore, 0};
    return (long)b->nent++;
}

fw_store_status fw_ch_commit_samples(fw_ch *s, const fw_ch_buf *rows, const char *app, const char *type, int64_t t,
                                     uint64_t id, int *dup, char *err, size_t errlen)
{
    *dup = 0;
    pthread_mutex_lock(&s->blk);
    fw_ch_batch *b = s->open;
    if (!b && !(b = s->open = calloc(1, sizeof *b))) {
        pthread_mutex_unlock(&s->blk);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    long me = fw_ch_batch_add(b, rows, app, type, t, id);
    if (me < 0) {
        if (!b->refs) {
            s->open = NULL;
            fw_ch_batch_destroy(b);
        }
        pthread_mutex_unlock(&s->blk);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    b->refs++;
    if (b->rows.n >= FW_CH_BATCH_BYTES)
        pthread_cond_broadcast(&s->bcond);   /* a lingering flusher need not wait longer */
    while (!b->done) {
        if (!s->flushing && s->open == b) {
            /* This upload inserts the batch. When the last batch was shared (uploads are arriving
             * together), it first lingers a moment with the batch still open: each insert writes
             * a part per table (a directory of files: most of ClickHouse's CPU per insert goes to
             * the file system), so fewer, larger inserts cost less per row. Then it closes the
             * batch, so later uploads start the next one. */
            s->flushing = 1;
            if (s->linger_ms > 0 && s->last_batch_n > 1) {
                struct timespec dl;
                clock_gettime(CLOCK_MONOTONIC, &dl);
                dl.tv_nsec += (long)s->linger_ms * 1000000L;
                dl.tv_sec += dl.tv_nsec / 1000000000L;
                dl.tv_nsec %= 1000000000L;
                while (b->rows.n < FW_CH_BATCH_BYTES && pthread_cond_timedwait(&s->bcond, &s->blk, &dl) == 0)
                    ;
            }
            s->last_batch_n = b->nent;
            s->open = NULL;
            pthread_mutex_unlock(&s->blk);
            fw_store_status st = fw_ch_batch_insert(s, b, b->err, sizeof b->err);
            pthread_mutex_lock(&s->blk);
            b->st = st;
            b->done = 1;
            s->flushing = 0;
            s->batches++;
            pthread_cond_broadcast(&s->bcond);
            break;
        }
        pthread_cond_wait(&s->bcond, &s->blk);
    }
    fw_store_status st = b->st;
    if (st != FW_STORE_OK)
        fw_store_errf(err, errlen, "%s", b->err);
    else
        *dup = b->ent[me].dup;
    if (--b->refs == 0)
        fw_ch_batch_destroy(b);
    pthread_mutex_unlock(&s->blk);
    return st;
}

void fw_ch_batch_free(fw_ch *s)
{
    /* Called at close, when no upload is running: an open batch has no waiter left. */
    if (s->open) {
        fw_ch_batch_destroy(s->open);
        s->open = NULL;
    }
}
