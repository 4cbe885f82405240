/*
 * fw_ch_batch.c: group commit of sample rows (the ClickHouse backend).
 *
 * Every INSERT into a MergeTree writes a part, and ClickHouse wants few large inserts rather than
 * many small ones; an upload is a few hundred rows. So concurrent uploads share inserts: each
 * appends its rows to the open batch and waits; when no insert is in flight, one of the waiters
 * takes the batch, closes it and inserts it, and everyone in it gets that insert's answer. One
 * insert is in flight at a time per server, so while it runs the next batch fills up: under load,
 * the number of inserts per second stays flat while the rows per insert grow with the load.
 *
 * Acknowledgement is unchanged: an upload returns FW_STORE_OK only after ClickHouse acknowledged
 * the insert holding its rows. A failed insert fails every upload in it (none was acknowledged).
 * A batch is freed by the last upload that reads its answer.
 */
#include "fw_ch.h"

#include <stdlib.h>
#include <string.h>

struct fw_ch_batch {
    fw_ch_buf rows;
    int refs;                /* uploads whose rows are in it and that have not read the answer */
    int done;
    fw_store_status st;
    char err[256];
};

fw_store_status fw_ch_commit_samples(fw_ch *s, const fw_ch_buf *rows, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->blk);
    fw_ch_batch *b = s->open;
    if (!b && !(b = s->open = calloc(1, sizeof *b))) {
        pthread_mutex_unlock(&s->blk);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    size_t before = b->rows.n;
    fw_ch_put(&b->rows, rows->p, rows->n);
    if (b->rows.oom) {
        b->rows.n = before;   /* the others' rows stay whole; this upload alone fails */
        b->rows.oom = 0;
        if (!b->refs) {
            s->open = NULL;
            fw_ch_buf_free(&b->rows);
            free(b);
        }
        pthread_mutex_unlock(&s->blk);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    b->refs++;
    while (!b->done) {
        if (!s->flushing && s->open == b) {
            /* This upload inserts the batch: close it, so later uploads start the next one. */
            s->flushing = 1;
            s->open = NULL;
            pthread_mutex_unlock(&s->blk);
            fw_store_status st = fw_ch_insert(s, "samples", "app, type, t, labelset, stack, value, count", &b->rows,
                                              b->err, sizeof b->err);
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
    if (--b->refs == 0) {
        fw_ch_buf_free(&b->rows);
        free(b);
    }
    pthread_mutex_unlock(&s->blk);
    return st;
}

void fw_ch_batch_free(fw_ch *s)
{
    /* Called at close, when no upload is running: an open batch has no waiter left. */
    if (s->open) {
        fw_ch_buf_free(&s->open->rows);
        free(s->open);
        s->open = NULL;
    }
}
