/*
 * store_bench: in-process ingest and query timings of the SQLite store.
 *
 * Ingest: W writer threads (default 8, like 8 concurrent HTTP clients) each upload P profiles of
 * S distinct stacks (default 2000); the figure is stack values committed per second, the same unit
 * as the server's target (1,000,000/s end to end). Queries: a fleet of N instances (default 50)
 * uploading every 15 s for one hour (dense), plus one upload per instance per hour for the previous
 * 7 days (sparse; a dense week would take longer to generate than the benchmark should), rolled
 * up, then flame graph / table / trend timings for 1 h, 24 h and 7 days, median of 5 runs.
 *
 * Stacks are deterministic in their index (same index = same stack on every instance), built from
 * 400 functions with depth 8-31, so prefixes are shared the way real call trees share them.
 *
 * Usage: store_bench [DB_PATH] [--writers W] [--stacks S] [--uploads P] [--instances N] [--query-stacks Q]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../store/fw_store.h"
#include "../store/sqlite/fw_store_sqlite.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* One upload: `nstacks` stacks spread over 4 threads, cpu values in 10 ms units. */
static fw_profile *make_profile(int nstacks, int instance, uint64_t seed)
{
    fw_sample_type ty[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(ty, 1);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10000000);
    char name[64], file[64], pid[16], thread[32];
    snprintf(pid, sizeof pid, "%d", 1000 + instance);
    uint64_t locs[32];
    for (int s = 0; s < nstacks; s++) {
        uint64_t h = mix((uint64_t)s + 1);
        int depth = 8 + (int)(h % 24);
        for (int d = 0; d < depth; d++) {
            /* the first frames depend on few bits so that stacks share prefixes */
            uint64_t f = d < 3 ? (uint64_t)d : mix(h >> (d % 16) ^ (uint64_t)d) % 400;
            snprintf(name, sizeof name, "mod%llu.Class.fn%llu", (unsigned long long)(f % 40), (unsigned long long)f);
            snprintf(file, sizeof file, "/srv/app/mod%llu.py", (unsigned long long)(f % 40));
            uint64_t fid, lid;
            fw_profile_function(p, name, file, (int64_t)f, &fid);
            fw_profile_location(p, fid, (int64_t)(f * 3 + (uint64_t)d), &lid);
            locs[depth - 1 - d] = lid;
        }
        snprintf(thread, sizeof thread, "worker-%d", s % 4);
        fw_label lab[] = {{"thread_name", thread}, {"thread_group", "worker-*"}, {"pid", pid},
                          {"hostname", "host"}};
        int64_t v = (int64_t)(1 + mix(h ^ seed) % 20) * 10000000;
        fw_profile_add(p, locs, (size_t)depth, lab, 4, &v);
    }
    return p;
}

typedef struct {
    fw_store *s;
    int id, uploads, stacks;
    size_t values;
    fw_profile **profiles;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    char err[256];
    for (int u = 0; u < w->uploads; u++) {
        fw_store_ingest_req r = {"bench", w->profiles[u % 4], 1700000000 + u * 15, NULL, 0, 0};
        fw_store_ingest_result res;
        if (fw_store_ingest(w->s, &r, &res, err, sizeof err) != FW_STORE_OK) {
            fprintf(stderr, "ingest: %s\n", err);
            return NULL;
        }
        w->values += res.stack_values;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void time_queries(fw_store *s, const char *label, int64_t from, int64_t until)
{
    fw_store_query q = {"bench", "cpu", from, until, NULL, 0};
    fw_label filt[] = {{"thread_name", "worker-1"}};
    double tt[5], tf[5], tb[5], tr[5];
    size_t nodes = 0;
    int64_t total = 0;
    for (int i = 0; i < 5; i++) {
        fw_store_tree t;
        fw_store_tree_opts o = {FW_STORE_GRAN_FUNCTION, 1024};
        double a = now_s();
        if (fw_store_tree_query(s, &q, &o, &t) != FW_STORE_OK) {
            fprintf(stderr, "tree failed\n");
            return;
        }
        tt[i] = now_s() - a;
        nodes = t.nnodes;
        total = t.nodes[0].total;
        fw_store_tree_free(&t);

        q.filters = filt;
        q.nfilters = 1;
        a = now_s();
        if (fw_store_tree_query(s, &q, &o, &t) == FW_STORE_OK)
            fw_store_tree_free(&t);
        tf[i] = now_s() - a;
        q.filters = NULL;
        q.nfilters = 0;

        fw_store_table tb_;
        fw_store_table_opts to = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 100};
        a = now_s();
        if (fw_store_table_query(s, &q, &to, &tb_) == FW_STORE_OK)
            fw_store_table_free(&tb_);
        tb[i] = now_s() - a;

        fw_store_trend tr_;
        a = now_s();
        if (fw_store_trend_query(s, &q, 0, &tr_) == FW_STORE_OK)
            fw_store_trend_free(&tr_);
        tr[i] = now_s() - a;
    }
    qsort(tt, 5, sizeof(double), cmp_double);
    qsort(tf, 5, sizeof(double), cmp_double);
    qsort(tb, 5, sizeof(double), cmp_double);
    qsort(tr, 5, sizeof(double), cmp_double);
    printf("%-5s flame %7.1f ms (%zu nodes, total %.0f s cpu) | filtered flame %7.1f ms | table %7.1f ms | trend %7.1f ms\n",
           label, tt[2] * 1e3, nodes, (double)total / 1e9, tf[2] * 1e3, tb[2] * 1e3, tr[2] * 1e3);
}

int main(int argc, char **argv)
{
    const char *path = "/tmp/fw_store_bench.db";
    int writers = 8, stacks = 2000, uploads = 40, instances = 50, qstacks = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--writers") == 0 && i + 1 < argc)
            writers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stacks") == 0 && i + 1 < argc)
            stacks = atoi(argv[++i]);
        else if (strcmp(argv[i], "--uploads") == 0 && i + 1 < argc)
            uploads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--instances") == 0 && i + 1 < argc)
            instances = atoi(argv[++i]);
        else if (strcmp(argv[i], "--query-stacks") == 0 && i + 1 < argc)
            qstacks = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (writers < 1 || writers > 64 || stacks < 1 || uploads < 1 || instances < 1 || qstacks < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(path);
    unlink(wal);
    fw_store *s = NULL;
    char err[256];
    if (fw_store_open_sqlite(path, NULL, &s, err, sizeof err) != FW_STORE_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }

    /* ---- ingest ---- */
    writer *w = calloc((size_t)writers, sizeof *w);
    pthread_t *th = calloc((size_t)writers, sizeof *th);
    for (int i = 0; i < writers; i++) {
        w[i] = (writer){s, i, uploads, stacks, 0, calloc(4, sizeof(fw_profile *))};
        for (int k = 0; k < 4; k++)
            w[i].profiles[k] = make_profile(stacks, i, (uint64_t)k);
    }
    double a = now_s();
    for (int i = 0; i < writers; i++)
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    size_t total = 0;
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        total += w[i].values;
    }
    double el = now_s() - a;
    printf("ingest: %d writers x %d uploads x %d stacks: %zu stack values in %.2f s = %.0f values/s (%.0f uploads/s)\n",
           writers, uploads, stacks, total, el, (double)total / el, writers * uploads / el);
    for (int i = 0; i < writers; i++) {
        for (int k = 0; k < 4; k++)
            fw_profile_free(w[i].profiles[k]);
        free(w[i].profiles);
    }
    free(w);
    free(th);
    fw_store_close(s);
    unlink(path);
    unlink(wal);

    /* ---- query dataset ---- */
    if (fw_store_open_sqlite(path, NULL, &s, err, sizeof err) != FW_STORE_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    const int64_t now = 1700006400;   /* an hour boundary + 1h; "now" for maintenance */
    fw_profile **prof = calloc((size_t)instances * 4, sizeof *prof);
    for (int i = 0; i < instances; i++)
        for (int k = 0; k < 4; k++)
            prof[i * 4 + k] = make_profile(qstacks, i, (uint64_t)k);
    a = now_s();
    size_t nvals = 0;
    for (int64_t t = now - 7 * 86400; t < now - 3600; t += 3600)    /* sparse week */
        for (int i = 0; i < instances; i++) {
            fw_store_ingest_req r = {"bench", prof[i * 4 + (int)(t / 3600 % 4)], t + i % 15, NULL, 0, 0};
            fw_store_ingest_result res;
            if (fw_store_ingest(s, &r, &res, err, sizeof err) != FW_STORE_OK) {
                fprintf(stderr, "ingest: %s\n", err);
                return 1;
            }
            nvals += res.stack_values;
        }
    for (int64_t t = now - 3600; t < now; t += 15)                      /* dense last hour */
        for (int i = 0; i < instances; i++) {
            fw_store_ingest_req r = {"bench", prof[i * 4 + (int)(t / 15 % 4)], t, NULL, 0, 0};
            fw_store_ingest_result res;
            if (fw_store_ingest(s, &r, &res, err, sizeof err) != FW_STORE_OK) {
                fprintf(stderr, "ingest: %s\n", err);
                return 1;
            }
            nvals += res.stack_values;
        }
    el = now_s() - a;
    printf("query dataset: %d instances, %d stacks per upload, %zu stack values, ingested single-threaded in %.1f s (%.0f/s)\n",
           instances, qstacks, nvals, el, (double)nvals / el);
    a = now_s();
    int calls = 0;
    /* Each call does a bounded slice of work; a call that returns quickly found nothing left. */
    for (; calls < 5000; calls++) {
        double c0 = now_s();
        fw_store_maintain(s, now);
        if (now_s() - c0 < 0.02 && calls > 2)
            break;
    }
    printf("roll-up of the dataset: %.1f s over %d maintenance calls\n", now_s() - a, calls + 1);
    fw_store_stats st;
    fw_store_get_stats(s, &st);
    printf("store: %.1f MB, %lld raw rows, %lld stacks\n", (double)st.size_bytes / 1e6, (long long)st.rows,
           (long long)st.stacks);
    time_queries(s, "1h", now - 3600 - 7, now - 7);
    time_queries(s, "24h", now - 86400 - 7, now - 7);
    time_queries(s, "7d", now - 7 * 86400 - 7, now - 7);
    for (int i = 0; i < instances * 4; i++)
        fw_profile_free(prof[i]);
    free(prof);
    fw_store_close(s);
    return 0;
}
