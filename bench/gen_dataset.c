/*
 * gen_dataset: writes a dense query dataset straight into a store file, for the server benchmark.
 *
 * Why in-process: loading a week of 50 instances every 15 s (2 M uploads) over HTTP takes hours
 * on the 2-core benchmark machine; through fw_store_ingest it is the same code path the server
 * runs after parsing (same interning, same fact rows, same transactions), minus HTTP and pprof
 * decoding, which the ingest benchmark measures separately. Maintenance (roll-ups) is run as the
 * server would run it, interleaved with the data: every simulated 10 minutes the store is asked
 * to roll up to "now" = that point in simulated time, so late-data paths are not exercised and
 * the roll-up tables end up exactly as a live server would have left them.
 *
 * Shape: app "hist", type cpu. Each instance uploads every 15 s a profile of S stacks (default
 * 200) over 4 threads (label sets thread_name x instance). Stacks come from a universe of 2,000
 * (400 functions, depth 8-31, shared prefixes); consecutive uploads of an instance use different
 * but overlapping slices of it, so an hour holds ~2,000 distinct stacks per instance, as a busy
 * service does. Timestamps end at END (default: now rounded down to 15 s) and go back HOURS.
 *
 * Usage: gen_dataset DB_PATH [--hours H] [--instances N] [--stacks S] [--end UNIX_SECONDS]
 * Prints rows written, throughput, file size and bytes per stored stack value.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../store/fw_store.h"
#include "../store/sqlite/fw_store_sqlite.h"

#define VARIANTS 10
#define UNIVERSE 2000

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

/* Variant k: stacks [k * step, k * step + nstacks) of the universe (mod UNIVERSE). */
static fw_profile *make_variant(int k, int nstacks)
{
    fw_sample_type ty[] = {{"cpu", "nanoseconds"}};
    fw_profile *p = fw_profile_new(ty, 1);
    if (!p)
        return NULL;
    fw_profile_set_period(p, "cpu", "nanoseconds", 10000000);
    char name[64], file[64], thread[32];
    uint64_t locs[32];
    int step = UNIVERSE / VARIANTS;
    for (int i = 0; i < nstacks; i++) {
        int sidx = (k * step + i) % UNIVERSE;
        uint64_t h = mix((uint64_t)sidx + 1);
        int depth = 8 + (int)(h % 24);
        for (int d = 0; d < depth; d++) {
            uint64_t f = d < 3 ? (uint64_t)d : mix(h >> (d % 16) ^ (uint64_t)d) % 400;
            snprintf(name, sizeof name, "mod%llu.Class.fn%llu", (unsigned long long)(f % 40), (unsigned long long)f);
            snprintf(file, sizeof file, "/srv/app/mod%llu.py", (unsigned long long)(f % 40));
            uint64_t fid, lid;
            if (fw_profile_function(p, name, file, (int64_t)f, &fid) != FW_OK ||
                fw_profile_location(p, fid, (int64_t)(f * 3 + (uint64_t)d), &lid) != FW_OK) {
                fw_profile_free(p);
                return NULL;
            }
            locs[depth - 1 - d] = lid;
        }
        snprintf(thread, sizeof thread, "worker-%d", sidx % 4);
        fw_label lab[] = {{"thread_name", thread}};
        int64_t v = (int64_t)(1 + mix(h ^ (uint64_t)k) % 20) * 10000000;
        if (fw_profile_add(p, locs, (size_t)depth, lab, 1, &v) != FW_OK) {
            fw_profile_free(p);
            return NULL;
        }
    }
    return p;
}

/* Smallest roll-up watermark, read on a separate connection (the store keeps its own copy). */
static long long min_watermark(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, "SELECT min(value) FROM meta WHERE key LIKE 'wm_%'", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Rolls up to `now` as the server's maintenance loop would, until the coarsest level caught up. */
static int maintain_until(fw_store *s, sqlite3 *db, int64_t now)
{
    for (int calls = 0; calls < 100000; calls++) {
        if (fw_store_maintain(s, now) != FW_STORE_OK)
            return -1;
        /* the day level waits for its bucket to close: done when nothing moved in a call */
        long long a = min_watermark(db);
        if (fw_store_maintain(s, now) != FW_STORE_OK)
            return -1;
        if (min_watermark(db) == a)
            return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    double hours = 24;
    int instances = 50, stacks = 200;
    int64_t end = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc)
            hours = atof(argv[++i]);
        else if (strcmp(argv[i], "--instances") == 0 && i + 1 < argc)
            instances = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stacks") == 0 && i + 1 < argc)
            stacks = atoi(argv[++i]);
        else if (strcmp(argv[i], "--end") == 0 && i + 1 < argc)
            end = atoll(argv[++i]);
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!path || hours <= 0 || hours > 24 * 31 || instances < 1 || instances > 10000 || stacks < 1 ||
        stacks > UNIVERSE) {
        fprintf(stderr, "usage: gen_dataset DB_PATH [--hours H] [--instances N] [--stacks S] [--end T]\n");
        return 2;
    }
    if (!end)
        end = (int64_t)time(NULL);
    end -= end % 15;
    fw_store *s = NULL;
    char err[256];
    fw_store_options opt = {.retention_s = 14 * 86400, .sync = FW_STORE_SYNC_NORMAL, .readers = 1};   /* retention past the dataset */
    if (fw_store_open_sqlite(path, &opt, &s, err, sizeof err) != FW_STORE_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "open %s read-only failed\n", path);
        return 1;
    }
    sqlite3_busy_timeout(db, 10000);
    fw_profile *var[VARIANTS];
    for (int k = 0; k < VARIANTS; k++)
        if (!(var[k] = make_variant(k, stacks))) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    char (*inst)[16] = calloc((size_t)instances, sizeof *inst);
    if (!inst)
        return 1;
    for (int i = 0; i < instances; i++)
        snprintf(inst[i], sizeof inst[i], "i%d", i);

    int64_t steps = (int64_t)(hours * 3600 / 15), start = end - steps * 15;
    size_t values = 0;
    double a = now_s(), last = a, tm = 0;
    for (int64_t k = 0; k < steps; k++) {
        int64_t t = start + k * 15;
        for (int i = 0; i < instances; i++) {
            fw_label lab[] = {{"instance", inst[i]}};
            fw_store_ingest_req r = {"hist", var[(k + i) % VARIANTS], t, lab, 1, 0};
            fw_store_ingest_result res;
            if (fw_store_ingest(s, &r, &res, err, sizeof err) != FW_STORE_OK) {
                fprintf(stderr, "ingest: %s\n", err);
                return 1;
            }
            values += res.stack_values;
        }
        if ((t + 15) % 600 == 0) {
            double m = now_s();
            if (maintain_until(s, db, t + 15) != 0) {
                fprintf(stderr, "maintenance failed\n");
                return 1;
            }
            tm += now_s() - m;
        }
        if (now_s() - last > 30) {
            last = now_s();
            fprintf(stderr, "  %.1f%%: %zu values, %.0f values/s (maintenance %.0f s)\n", 100.0 * (double)(k + 1) / (double)steps,
                    values, (double)values / (last - a), tm);
        }
    }
    double m = now_s();
    if (maintain_until(s, db, end) != 0) {
        fprintf(stderr, "maintenance failed\n");
        return 1;
    }
    tm += now_s() - m;
    double el = now_s() - a;
    sqlite3_close(db);
    fw_store_close(s);   /* checkpoints and removes the WAL: the size below is the whole file */
    struct stat stt;
    long long size = stat(path, &stt) == 0 ? (long long)stt.st_size : -1;
    printf("dataset: %d instances x %.0f h every 15 s x %d stacks = %zu stack values in %.0f s"
           " (%.0f values/s, of which maintenance %.0f s); end %lld\n",
           instances, hours, stacks, values, el, (double)values / el, tm, (long long)end);
    printf("file: %.1f MB = %.1f bytes per stored stack value\n", (double)size / 1e6, (double)size / (double)values);
    for (int k = 0; k < VARIANTS; k++)
        fw_profile_free(var[k]);
    free(inst);
    return 0;
}
