/*
 * Unit tests of the two bounded waits that keep HTTP workers free (issue 11 item 2):
 *   - the store's query pool (fw_sq_reader_get): a query that finds every read connection taken
 *     waits at most reader_wait_ms, then answers FW_STORE_ERR_BUSY; a connection given back in
 *     time is taken;
 *   - the SQL executor (server/fw_sqlx.c): at most threads + max_waiting jobs are accepted, each
 *     runs exactly once in arrival order, and stopping answers what is still queued.
 * The pool's only reader is taken directly (the backend's internal header), so nothing here
 * depends on how long a query takes on a shared machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../server/fw_sqlx.h"
#include "../../store/fw_store.h"
#include "../../store/sqlite/fw_sqlite.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- the query pool */

typedef struct {
    char dir[64];
    fw_store *s;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fw_wait_test_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/fw.db", f->dir);
    char err[256] = "";
    fw_store_options opt = {.sync = FW_STORE_SYNC_NORMAL, .readers = 1, .reader_wait_ms = 300};   /* one reader, 300 ms wait */
    assert_int_equal(fw_store_open_sqlite(path, &opt, &f->s, err, sizeof err), FW_STORE_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    fw_store_close(f->s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_busy_pool_answers_busy_after_the_wait(void **state)
{
    fx *f = *state;
    fw_sq *sq = (fw_sq *)f->s;
    int ri = fw_sq_reader_get(sq);   /* the only reader: every query now has to wait */
    assert_true(ri >= 0);

    double t0 = mono_s();
    fw_store_apps apps;
    memset(&apps, 0, sizeof apps);
    assert_int_equal(fw_store_list_apps(f->s, &apps), FW_STORE_ERR_BUSY);
    double waited = mono_s() - t0;
    assert_true(waited >= 0.29);   /* it did wait for the reader... */
    assert_true(waited < 2.0);     /* ...and gave up at the deadline */
    fw_store_apps_free(&apps);

    fw_store_query q = {"app", "cpu", 0, 100, NULL, 0};
    fw_store_tree tree;
    memset(&tree, 0, sizeof tree);
    fw_store_tree_opts topt;
    memset(&topt, 0, sizeof topt);
    assert_int_equal(fw_store_tree_query(f->s, &q, &topt, &tree), FW_STORE_ERR_BUSY);
    fw_store_tree_free(&tree);
    fw_store_trend trend;
    memset(&trend, 0, sizeof trend);
    assert_int_equal(fw_store_trend_query(f->s, &q, 10, &trend), FW_STORE_ERR_BUSY);
    assert_null(trend.points);   /* nothing partial */
    fw_store_trend_free(&trend);
    fw_store_settings st;
    assert_int_equal(fw_store_settings_get(f->s, "app", &st), FW_STORE_ERR_BUSY);

    fw_sq_reader_put(sq, ri);
    memset(&apps, 0, sizeof apps);
    assert_int_equal(fw_store_list_apps(f->s, &apps), FW_STORE_OK);
    fw_store_apps_free(&apps);
}

typedef struct {
    fw_sq *sq;
    int ri;
} giver;

static void *give_back_later(void *arg)
{
    giver *g = arg;
    sleep_ms(100);
    fw_sq_reader_put(g->sq, g->ri);
    return NULL;
}

static void test_reader_given_back_in_time_is_taken(void **state)
{
    fx *f = *state;
    giver g = {(fw_sq *)f->s, fw_sq_reader_get((fw_sq *)f->s)};
    assert_true(g.ri >= 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, give_back_later, &g), 0);
    fw_store_apps apps;
    memset(&apps, 0, sizeof apps);
    assert_int_equal(fw_store_list_apps(f->s, &apps), FW_STORE_OK);
    fw_store_apps_free(&apps);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* ---------------------------------------------------------------- the SQL executor */

typedef struct {
    fw_sqlx_job job;      /* first member: the job is the record */
    int id;
    int runs, stopped, accepted;
} rec_job;

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int order[16], norder;
static int running_now;

static void rec_run(fw_sqlx_job *job, int stopping)
{
    rec_job *r = (rec_job *)(void *)job;
    pthread_mutex_lock(&gate_mu);
    r->runs++;
    r->stopped = stopping;
    order[norder++] = r->id;
    running_now++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open && !stopping)
        pthread_cond_wait(&gate_cv, &gate_mu);
    running_now--;
    pthread_mutex_unlock(&gate_mu);
}

static void rec_accepted(fw_sqlx_job *job)
{
    ((rec_job *)(void *)job)->accepted++;
}

static void wait_running(int n)
{
    pthread_mutex_lock(&gate_mu);
    while (running_now < n)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void test_executor_bounds_its_queue_and_runs_each_job_once(void **state)
{
    (void)state;
    gate_open = 0;
    norder = 0;
    fw_sqlx *x = fw_sqlx_new(2, 3);
    assert_non_null(x);
    rec_job j[8];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 8; i++) {
        j[i].id = i;
        j[i].job.run = rec_run;
        j[i].job.accepted = rec_accepted;
    }
    /* 2 run (blocked at the gate), 3 wait; the 6th and later are refused at once. */
    assert_int_equal(fw_sqlx_submit(x, &j[0].job), 0);
    assert_int_equal(fw_sqlx_submit(x, &j[1].job), 0);
    wait_running(2);
    for (int i = 2; i < 5; i++)
        assert_int_equal(fw_sqlx_submit(x, &j[i].job), 0);
    assert_int_equal(fw_sqlx_submit(x, &j[5].job), FW_SQLX_FULL);
    assert_int_equal(j[5].accepted, 0);
    fw_sqlx_stats st;
    fw_sqlx_get_stats(x, &st);
    assert_int_equal(st.running, 2);
    assert_int_equal(st.waiting, 3);

    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    fw_sqlx_stop(x);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(j[i].runs, 1);
        assert_int_equal(j[i].accepted, 1);
    }
    assert_int_equal(j[5].runs, 0);
    assert_int_equal(norder, 5);
    assert_int_equal(order[2], 2);   /* the queue is a FIFO */
    assert_int_equal(order[3], 3);
    assert_int_equal(order[4], 4);
    assert_int_equal(fw_sqlx_submit(x, &j[6].job), FW_SQLX_STOPPING);
    fw_sqlx_free(x);
}

static void *stop_pool(void *arg)
{
    fw_sqlx_stop(arg);
    return NULL;
}

static void test_executor_stop_answers_queued_jobs(void **state)
{
    (void)state;
    gate_open = 0;
    norder = 0;
    fw_sqlx *x = fw_sqlx_new(1, 4);
    assert_non_null(x);
    rec_job j[3];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 3; i++) {
        j[i].id = i;
        j[i].job.run = rec_run;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(fw_sqlx_submit(x, &j[i].job), 0);
    wait_running(1);
    /* Stop while job 0 runs (held at the gate) and jobs 1 and 2 wait: once the pool is
     * stopping, the gate opens; the queued jobs are then answered with stopping = 1. */
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, stop_pool, x), 0);
    for (;;) {
        fw_sqlx_stats st;
        fw_sqlx_get_stats(x, &st);
        if (st.stopping)
            break;
        sleep_ms(1);
    }
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    assert_int_equal(pthread_join(stopper, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(j[i].runs, 1);
    assert_int_equal(j[0].stopped, 0);
    assert_int_equal(j[1].stopped, 1);
    assert_int_equal(j[2].stopped, 1);
    assert_int_equal(fw_sqlx_submit(x, &j[0].job), FW_SQLX_STOPPING);
    fw_sqlx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_pool_answers_busy_after_the_wait, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reader_given_back_in_time_is_taken, fx_setup, fx_teardown),
        cmocka_unit_test(test_executor_bounds_its_queue_and_runs_each_job_once),
        cmocka_unit_test(test_executor_stop_answers_queued_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
