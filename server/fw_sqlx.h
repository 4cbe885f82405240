/*
 * fw_sqlx: the SQL executor, a few threads of their own that run SQL console requests
 * (POST /api/v1/sql) so that those never occupy an HTTP worker.
 *
 * The HTTP layer suspends the request's connection (MHD_suspend_connection), submits a job and
 * returns its worker to the event loop at once; a pool thread runs the job, which fills the
 * response and resumes the connection. At most `nthreads` jobs run and `max_waiting` wait; a
 * submission past that is refused at once (the caller answers 429). Jobs run in arrival order.
 */
#ifndef FW_SQLX_H
#define FW_SQLX_H

typedef struct fw_sqlx_job fw_sqlx_job;
struct fw_sqlx_job {
    fw_sqlx_job *next;                          /* the queue's link, owned by the pool while queued */
    /* Called exactly once, on a pool thread, for every accepted job. stopping = 1: the pool is
     * being freed and the job must answer without doing its work. */
    void (*run)(fw_sqlx_job *job, int stopping);
    /* Called by fw_sqlx_submit under the pool's lock once the job is accepted, before any
     * thread can see it (the HTTP layer suspends the connection here, so that the job cannot
     * resume it first). May be NULL. Must not call back into the pool. */
    void (*accepted)(fw_sqlx_job *job);
};

typedef struct fw_sqlx fw_sqlx;

typedef struct {
    int running;      /* jobs being run now */
    int waiting;      /* jobs queued */
    int threads;      /* the pool's size */
    int max_waiting;  /* the queue's bound */
    int stopping;     /* fw_sqlx_stop was called */
} fw_sqlx_stats;

/* NULL when out of memory or threads. */
fw_sqlx *fw_sqlx_new(int nthreads, int max_waiting);
/* 0: the job is queued and will be run exactly once. FW_SQLX_FULL: every thread is busy and the
 * queue is full; FW_SQLX_STOPPING: the pool is stopping. Then the job is not run and stays the
 * caller's. */
#define FW_SQLX_FULL (-1)
#define FW_SQLX_STOPPING (-2)
int fw_sqlx_submit(fw_sqlx *x, fw_sqlx_job *job);
void fw_sqlx_get_stats(fw_sqlx *x, fw_sqlx_stats *out);
/* Refuses new jobs, runs every job still queued with stopping = 1, lets running jobs finish and
 * joins the threads. Submitting stays safe (FW_SQLX_STOPPING) until fw_sqlx_free. */
void fw_sqlx_stop(fw_sqlx *x);
/* Stops the pool if that was not done and frees it. NULL is allowed. */
void fw_sqlx_free(fw_sqlx *x);

#endif
