/*
 * fw_sqlx.c: the SQL executor (fw_sqlx.h), a fixed pool of threads over one bounded FIFO.
 *
 * Why a pool of its own. A console query may run for its whole time limit, and libmicrohttpd
 * runs a handler to completion on the worker that owns the connection; each worker also owns
 * every connection it accepted, and a burst can put several on one worker. Run there, a console
 * query made the requests queued on that worker (the next console query, but also /healthz,
 * ingest, settings polls) wait for it. Here the workers only suspend the connection and submit;
 * the pool runs at most `nthreads` queries, which is all the store's console connections can
 * serve anyway, and holds at most `max_waiting` more. The bound matters as much as the pool:
 * a request that cannot be queued is refused at once instead of holding anything.
 *
 * The pool knows nothing of deadlines or HTTP: a job decides for itself whether it is still
 * worth running (the SQL job answers 503 without running once its time limit, counted from the
 * request's arrival, has passed).
 *
 * Stopping. fw_sqlx_stop refuses new jobs, hands every queued job to a thread with
 * stopping = 1 (it answers without running and resumes its connection), lets the running ones
 * finish (their own time limit bounds them) and joins the threads. The server does this before
 * it stops libmicrohttpd, which must not be stopped with connections still suspended, and frees
 * the pool only after: until then a worker may still submit (and be told the pool is stopping).
 */
#include "fw_sqlx.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

struct fw_sqlx {
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* a job was queued, or the pool is stopping */
    fw_sqlx_job *head, *tail;     /* FIFO of waiting jobs */
    int waiting, running;
    int max_waiting;
    int stopping;
    pthread_t *threads;
    int nthreads;                 /* threads started */
    int size;                     /* threads asked for */
};

static void *fw_sqlx_main(void *arg)
{
    fw_sqlx *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->head && !x->stopping)
            pthread_cond_wait(&x->cv, &x->mu);
        fw_sqlx_job *job = x->head;
        if (!job)
            break;   /* stopping, and nothing left to answer */
        x->head = job->next;
        if (!x->head)
            x->tail = NULL;
        x->waiting--;
        x->running++;
        int stopping = x->stopping;
        pthread_mutex_unlock(&x->mu);
        job->next = NULL;
        job->run(job, stopping);   /* the job may be freed by the time this returns */
        pthread_mutex_lock(&x->mu);
        x->running--;
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

fw_sqlx *fw_sqlx_new(int nthreads, int max_waiting)
{
    assert(nthreads > 0 && max_waiting >= 0);
    fw_sqlx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->threads = calloc((size_t)nthreads, sizeof *x->threads);
    if (!x->threads) {
        free(x);
        return NULL;
    }
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->max_waiting = max_waiting;
    x->size = nthreads;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&x->threads[i], NULL, fw_sqlx_main, x) != 0) {
            fw_sqlx_free(x);
            return NULL;
        }
        x->nthreads++;
    }
    return x;
}

int fw_sqlx_submit(fw_sqlx *x, fw_sqlx_job *job)
{
    pthread_mutex_lock(&x->mu);
    /* Jobs not yet taken by a thread count as waiting even while a thread is idle (it is about
     * to take one): the bound is on everything accepted, running or not. */
    if (x->stopping || x->running + x->waiting >= x->nthreads + x->max_waiting) {
        int why = x->stopping ? FW_SQLX_STOPPING : FW_SQLX_FULL;
        pthread_mutex_unlock(&x->mu);
        return why;
    }
    if (job->accepted)
        job->accepted(job);
    job->next = NULL;
    if (x->tail)
        x->tail->next = job;
    else
        x->head = job;
    x->tail = job;
    x->waiting++;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

void fw_sqlx_get_stats(fw_sqlx *x, fw_sqlx_stats *out)
{
    pthread_mutex_lock(&x->mu);
    out->running = x->running;
    out->waiting = x->waiting;
    out->threads = x->size;
    out->max_waiting = x->max_waiting;
    out->stopping = x->stopping;
    pthread_mutex_unlock(&x->mu);
}

void fw_sqlx_stop(fw_sqlx *x)
{
    pthread_mutex_lock(&x->mu);
    int joined = x->stopping && !x->nthreads;
    x->stopping = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (joined)
        return;
    for (int i = 0; i < x->nthreads; i++)
        pthread_join(x->threads[i], NULL);
    /* Threads drain the queue before they leave; nothing can be queued once stopping is set
     * (and with no thread started, nothing was ever accepted but what is answered here). */
    pthread_mutex_lock(&x->mu);
    x->nthreads = 0;
    fw_sqlx_job *job = x->head;
    x->head = x->tail = NULL;
    x->waiting = 0;
    pthread_mutex_unlock(&x->mu);
    while (job) {
        fw_sqlx_job *next = job->next;
        job->next = NULL;
        job->run(job, 1);
        job = next;
    }
}

void fw_sqlx_free(fw_sqlx *x)
{
    if (!x)
        return;
    fw_sqlx_stop(x);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x->threads);
    free(x);
}
