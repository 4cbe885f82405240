/*
 * fw_metrics: the server's counters, exported at /metrics in Prometheus text format.
 * All updates are relaxed atomics: handlers on many threads bump them without a lock and a
 * scrape reads a slightly stale but never torn value.
 */
#ifndef FW_METRICS_H
#define FW_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "fw_ingest.h"
#include "fw_json.h"

#define FW_LAT_BUCKETS 12

typedef enum {
    FW_EP_APPS, FW_EP_LABELS, FW_EP_TREND, FW_EP_FLAME, FW_EP_TABLE, FW_EP_DIFF, FW_EP_SQL,
    FW_EP_SETTINGS, FW_EP_ANALYSIS, FW_EP_ASK, FW_EP__COUNT
} fw_endpoint;

typedef struct {
    atomic_uint_fast64_t uploads;
    atomic_uint_fast64_t upload_bytes;
    atomic_uint_fast64_t stack_values;
    atomic_uint_fast64_t agent_dropped;   /* sum of `dropped=N` of accepted uploads */
    atomic_uint_fast64_t rejected[FW_REJECT__COUNT];
    atomic_uint_fast64_t requests[6]; /* by status class: [1]=1xx .. [5]=5xx */
    atomic_uint_fast64_t lat_bucket[FW_EP__COUNT][FW_LAT_BUCKETS + 1]; /* last = +Inf */
    atomic_uint_fast64_t lat_count[FW_EP__COUNT];
    atomic_uint_fast64_t lat_sum_us[FW_EP__COUNT];
    atomic_int_fast64_t in_flight;
} fw_metrics;

void fw_metrics_observe(fw_metrics *m, fw_endpoint ep, double seconds);
/* Appends the exposition text to `out` (a plain growing buffer). store_bytes < 0: unknown. */
int fw_metrics_render(fw_metrics *m, int64_t store_bytes, int64_t store_stacks, char **out, size_t *len);

#endif
