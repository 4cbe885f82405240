/*
 * ingest_load: the ingest load generator for `flamewatch server` (issue 3, "ingest" benchmark).
 *
 * C and libcurl so that the client costs little next to the server it measures (the Python
 * generator spent ~4.5 ms of CPU per upload, about what the server did). Each client thread
 * owns one curl easy handle (HTTP/1.1 keep-alive: one connection per client for the whole run)
 * and posts the same pre-built gzip pprof over and over; only the query string changes.
 *
 * Uploads: one pprof per client, built once with fw_profile/fw_pprof (the agent's encoder), with
 * --stacks distinct stacks (default 2,000) over a Python-like call graph of 400 functions, depth
 * 3-24, spread over 4 threads (sample labels thread_name, thread_group, as the agent sends them),
 * one sample type (cpu, nanoseconds, period 10 ms). Client k is instance "c<k>" (name=APP{instance=c<k>}),
 * and every upload is stamped with the current time (from = now - 15, until = now), so the data
 * advances through time as a live fleet's does and the server's roll-ups run as they would.
 *
 * Measures, per run: stack values acknowledged per second (sum of the server's "stack_values"
 * answers over wall time), uploads/s, the server's CPU per upload (utime + stime of --pid from
 * /proc/PID/stat across the run, maintenance thread included) and this generator's own CPU per
 * upload. Prints the median of --runs runs (default 5).
 *
 * Build: make bench-tools   (or: cc -std=c11 -D_GNU_SOURCE -O2 -pthread -Icommon -o build/ingest_load
 *        bench/ingest_load.c build/obj/common/fw_*.o -lcurl -lz -lm, leaving out fw_curl.o: this
 *        tool links libcurl itself rather than going through the lazy-loading stubs)
 * Usage: build/ingest_load --url http://127.0.0.1:4040 --pid SERVER_PID [--clients 8] [--seconds 10]
 *        [--runs 5] [--stacks 2000] [--app bench] [--token T] [--uploads N]
 * --uploads N: each client stops after N uploads instead of after --seconds (for callgrind runs).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fw_gzip.h"
#include "fw_pprof.h"
#include "fw_profile.h"

#define MAX_CLIENTS 256

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* A gzip pprof of `nstacks` distinct stacks; seed makes each client's profile different. */
static int build_body(int nstacks, uint64_t seed, fw_buf *gz)
{
    fw_sample_type ty[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(ty, 1);
    if (!p)
        return -1;
    fw_profile_set_period(p, "cpu", "nanoseconds", 10000000);
    fw_profile_set_time(p, (int64_t)time(NULL) * 1000000000LL, 15000000000LL);
    uint64_t fids[400];
    for (int i = 0; i < 400; i++) {
        char name[64], file[64];
        snprintf(name, sizeof name, "mod%d.Class%d.method%d", i % 17, i % 5, i);
        snprintf(file, sizeof file, "/srv/app/mod%d.py", i % 17);
        if (fw_profile_function(p, name, file, 10 + i, &fids[i]) != FW_OK)
            goto fail;
    }
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
    size_t added = 0;
    while ((int)fw_profile_sample_count(p) < nstacks && added < (size_t)nstacks * 4) {
        int depth = 3 + (int)(rng_next(&st) % 22);
        uint64_t locs[32];
        for (int d = 0; d < depth; d++) {
            int f = (int)(rng_next(&st) % 400);
            if (fw_profile_location(p, fids[f], 10 + f + (int64_t)(rng_next(&st) % 4), &locs[depth - 1 - d]) != FW_OK)
                goto fail;
        }
        char tn[32];
        int thread = (int)(added % 4);
        snprintf(tn, sizeof tn, "worker-%d", thread);
        fw_label lab[] = {{"thread_name", tn}, {"thread_group", "worker-*"}};
        int64_t v = (int64_t)(1 + rng_next(&st) % 50) * 10000000;
        if (fw_profile_add(p, locs, (size_t)depth, lab, 2, &v) != FW_OK)
            goto fail;
        added++;
    }
    fw_buf raw = {0};
    int rc = fw_pprof_encode(p, &raw) == FW_OK && fw_gzip_compress(raw.data, raw.len, 6, gz) == FW_GZIP_OK ? 0 : -1;
    fw_buf_free(&raw);
    fw_profile_free(p);
    return rc;
fail:
    fw_profile_free(p);
    return -1;
}

typedef struct {
    int id;
    const char *url, *app, *token;
    fw_buf body;
    double stop_at;
    long max_uploads;   /* 0 = until stop_at */
    /* results of the current run */
    long uploads, errors;
    long long values;
    char last_error[256];
} client;

typedef struct {
    char *data;
    size_t len;
} resp_buf;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    resp_buf *r = ud;
    size_t add = size * n;
    if (r->len + add < 4096) {
        memcpy(r->data + r->len, ptr, add);
        r->len += add;
        r->data[r->len] = '\0';
    }
    return add;
}

static void *client_main(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char resp[4096];
    resp_buf rb = {resp, 0};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    hdr = curl_slist_append(hdr, "Expect:");   /* no 100-continue round trip */
    char auth[512];
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)c->body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    char url[1024];
    /* Every upload posts the same body, so each names itself (?uploadId=): the server stores a
     * repeat of an upload id once (docs/API.md, "Retries"), and these are not retries. The nonce
     * keeps the ids of separate runs (same client numbers, maybe the same 10 s bucket) apart. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long nonce = ((unsigned long long)getpid() << 32) ^ (unsigned long long)ts.tv_nsec ^
                               ((unsigned long long)ts.tv_sec << 20);
    unsigned long long seq = 0;
    while (c->max_uploads ? c->uploads + c->errors < c->max_uploads : mono() < c->stop_at) {
        long now = (long)time(NULL);
        snprintf(url, sizeof url, "%s/ingest?name=%s%%7Binstance%%3Dc%d%%7D&format=pprof&from=%ld&until=%ld"
                 "&uploadId=%llx-%d-%llu", c->url, c->app, c->id, now - 15, now, nonce, c->id, seq++);
        curl_easy_setopt(h, CURLOPT_URL, url);
        rb.len = 0;
        resp[0] = '\0';
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        const char *sv = strstr(resp, "\"stack_values\":");
        if (cc != CURLE_OK || code != 200 || !sv) {
            c->errors++;
            snprintf(c->last_error, sizeof c->last_error, "%s HTTP %ld %.200s",
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "", code, resp);
            if (cc != CURLE_OK)
                usleep(100000);
            continue;
        }
        c->uploads++;
        c->values += atoll(sv + strlen("\"stack_values\":"));
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

/* utime + stime of a process, in seconds (all its threads). -1 when unreadable. */
static double proc_cpu(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the command name may contain spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *app = "bench", *token = NULL;
    int pid = 0, nclients = 8, runs = 5, stacks = 2000;
    long max_uploads = 0;
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--url") == 0) url = v;
        else if (strcmp(a, "--pid") == 0) pid = atoi(v);
        else if (strcmp(a, "--clients") == 0) nclients = atoi(v);
        else if (strcmp(a, "--runs") == 0) runs = atoi(v);
        else if (strcmp(a, "--seconds") == 0) seconds = atof(v);
        else if (strcmp(a, "--stacks") == 0) stacks = atoi(v);
        else if (strcmp(a, "--uploads") == 0) max_uploads = atol(v);
        else if (strcmp(a, "--app") == 0) app = v;
        else if (strcmp(a, "--token") == 0) token = v;
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (!url || nclients < 1 || nclients > MAX_CLIENTS || runs < 1 || runs > 100 || seconds <= 0 ||
        stacks < 1 || stacks > 100000) {
        fprintf(stderr, "usage: ingest_load --url http://HOST:PORT [--pid SERVER_PID] [--clients 8] [--seconds 10]\n"
                        "                   [--runs 5] [--stacks 2000] [--app bench] [--token T] [--uploads N]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    client *cl = calloc((size_t)nclients, sizeof *cl);
    if (!cl)
        return 1;
    size_t bytes = 0;
    for (int k = 0; k < nclients; k++) {
        cl[k] = (client){.id = k, .url = url, .app = app, .token = token};
        if (build_body(stacks, 100 + (uint64_t)k, &cl[k].body) != 0) {
            fprintf(stderr, "building the upload failed\n");
            return 1;
        }
        bytes += cl[k].body.len;
    }
    fprintf(stderr, "ingest_load: %d clients, %d stacks per upload, %.1f KB gzip per upload, %d runs of %.0f s\n",
            nclients, stacks, (double)bytes / nclients / 1024, runs, seconds);
    double *vps = calloc((size_t)runs, sizeof *vps), *ups = calloc((size_t)runs, sizeof *ups);
    double *scpu = calloc((size_t)runs, sizeof *scpu), *ccpu = calloc((size_t)runs, sizeof *ccpu);
    if (!vps || !ups || !scpu || !ccpu)
        return 1;
    long total_errors = 0;
    for (int r = 0; r < runs; r++) {
        double s0 = pid ? proc_cpu(pid) : -1, c0 = self_cpu(), t0 = mono();
        pthread_t th[MAX_CLIENTS];
        for (int k = 0; k < nclients; k++) {
            cl[k].stop_at = t0 + seconds;
            cl[k].max_uploads = max_uploads;
            cl[k].uploads = cl[k].errors = 0;
            cl[k].values = 0;
            pthread_create(&th[k], NULL, client_main, &cl[k]);
        }
        for (int k = 0; k < nclients; k++)
            pthread_join(th[k], NULL);
        double el = mono() - t0, s1 = pid ? proc_cpu(pid) : -1, c1 = self_cpu();
        long up = 0, err = 0;
        long long vals = 0;
        for (int k = 0; k < nclients; k++) {
            up += cl[k].uploads;
            err += cl[k].errors;
            vals += cl[k].values;
            if (cl[k].errors)
                fprintf(stderr, "  client %d: %ld errors, last: %s\n", k, cl[k].errors, cl[k].last_error);
        }
        total_errors += err;
        vps[r] = (double)vals / el;
        ups[r] = (double)up / el;
        scpu[r] = (pid && up && s0 >= 0 && s1 >= 0) ? (s1 - s0) * 1000 / (double)up : -1;
        ccpu[r] = up ? (c1 - c0) * 1000 / (double)up : -1;
        fprintf(stderr, "  run %d/%d: %ld uploads in %.1f s, %.0f stack values/s, %.0f uploads/s,"
                        " server CPU %.2f ms/upload, client CPU %.2f ms/upload, load %.2f, %ld errors\n",
                r + 1, runs, up, el, vps[r], ups[r], scpu[r], ccpu[r], loadavg1(), err);
    }
    printf("ingest: %d clients x %d-stack gzip pprof (%.1f KB), median of %d runs of %.0f s:"
           " %.0f stack values/s, %.0f uploads/s, server CPU %.2f ms/upload, client CPU %.2f ms/upload,"
           " %ld errors\n",
           nclients, stacks, (double)bytes / nclients / 1024, runs, seconds, median(vps, runs), median(ups, runs),
           median(scpu, runs), median(ccpu, runs), total_errors);
    for (int k = 0; k < nclients; k++)
        fw_buf_free(&cl[k].body);
    free(cl);
    free(vps);
    free(ups);
    free(scpu);
    free(ccpu);
    curl_global_cleanup();
    return total_errors ? 1 : 0;
}
