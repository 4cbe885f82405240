/*
 * fw_metrics: Prometheus exposition.
 *
 * Query latency is a histogram (not a summary) so several servers' data can be aggregated and
 * quantiles computed by Prometheus. Buckets span 1 ms to 10 s, which covers a flame graph of a
 * few minutes to a week. Rejected uploads carry the reason as a label, matching the reason
 * codes of fw_ingest, so a dashboard shows *why* agents are failing, not only that they are.
 */
#include "fw_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double fw_lat_le[FW_LAT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

static const char *const fw_ep_names[FW_EP__COUNT] = {
    "apps", "labels", "trend", "flamegraph", "table", "diff", "sql", "settings", "analysis", "ask",
};

void fw_metrics_observe(fw_metrics *m, fw_endpoint ep, double seconds)
{
    size_t b = 0;
    while (b < FW_LAT_BUCKETS && seconds > fw_lat_le[b])
        b++;
    atomic_fetch_add_explicit(&m->lat_bucket[ep][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_count[ep], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_sum_us[ep], (uint_fast64_t)(seconds * 1e6), memory_order_relaxed);
}

typedef struct {
    char *d;
    size_t len, cap;
    int failed;
} fw_text;

static void fw_text_printf(fw_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fw_text_printf(fw_text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->d + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *d = realloc(t->d, cap);
        if (!d) {
            t->failed = 1;
            return;
        }
        t->d = d;
        t->cap = cap;
    }
}

#define FW_LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

static void fw_render_ingest(fw_metrics *m, fw_text *t)
{
    fw_text_printf(t, "# HELP flamewatch_uploads_total Profiles accepted by /ingest.\n"
                      "# TYPE flamewatch_uploads_total counter\nflamewatch_uploads_total %llu\n",
                   FW_LOAD(m->uploads));
    fw_text_printf(t, "# HELP flamewatch_upload_bytes_total Request body bytes of accepted uploads.\n"
                      "# TYPE flamewatch_upload_bytes_total counter\nflamewatch_upload_bytes_total %llu\n",
                   FW_LOAD(m->upload_bytes));
    fw_text_printf(t, "# HELP flamewatch_stack_values_total Stack values (samples x types) accepted.\n"
                      "# TYPE flamewatch_stack_values_total counter\nflamewatch_stack_values_total %llu\n",
                   FW_LOAD(m->stack_values));
    fw_text_printf(t, "# HELP flamewatch_agent_profiles_dropped_total Profiles agents dropped before "
                      "delivery (the dropped=N of accepted uploads).\n"
                      "# TYPE flamewatch_agent_profiles_dropped_total counter\n"
                      "flamewatch_agent_profiles_dropped_total %llu\n",
                   FW_LOAD(m->agent_dropped));
    fw_text_printf(t, "# HELP flamewatch_uploads_rejected_total Uploads refused, by reason.\n"
                      "# TYPE flamewatch_uploads_rejected_total counter\n");
    for (int r = 1; r < FW_REJECT__COUNT; r++)
        fw_text_printf(t, "flamewatch_uploads_rejected_total{reason=\"%s\"} %llu\n",
                       fw_reject_reason_name((fw_reject_reason)r), FW_LOAD(m->rejected[r]));
}

static void fw_render_http(fw_metrics *m, fw_text *t)
{
    fw_text_printf(t, "# HELP flamewatch_http_requests_total HTTP responses by status class.\n"
                      "# TYPE flamewatch_http_requests_total counter\n");
    for (int c = 1; c <= 5; c++)
        fw_text_printf(t, "flamewatch_http_requests_total{code=\"%dxx\"} %llu\n", c, FW_LOAD(m->requests[c]));
    fw_text_printf(t, "# HELP flamewatch_http_in_flight Requests being handled.\n"
                      "# TYPE flamewatch_http_in_flight gauge\nflamewatch_http_in_flight %lld\n",
                   (long long)atomic_load(&m->in_flight));
    fw_text_printf(t, "# HELP flamewatch_query_duration_seconds Query latency by endpoint.\n"
                      "# TYPE flamewatch_query_duration_seconds histogram\n");
    for (int e = 0; e < FW_EP__COUNT; e++) {
        unsigned long long cum = 0;
        for (int b = 0; b <= FW_LAT_BUCKETS; b++) {
            cum += FW_LOAD(m->lat_bucket[e][b]);
            if (b < FW_LAT_BUCKETS)
                fw_text_printf(t, "flamewatch_query_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
                               fw_ep_names[e], fw_lat_le[b], cum);
            else
                fw_text_printf(t, "flamewatch_query_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
                               fw_ep_names[e], cum);
        }
        fw_text_printf(t, "flamewatch_query_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", fw_ep_names[e],
                       (double)FW_LOAD(m->lat_sum_us[e]) / 1e6);
        fw_text_printf(t, "flamewatch_query_duration_seconds_count{endpoint=\"%s\"} %llu\n", fw_ep_names[e],
                       FW_LOAD(m->lat_count[e]));
    }
}

int fw_metrics_render(fw_metrics *m, int64_t store_bytes, int64_t store_stacks, char **out, size_t *len)
{
    fw_text t = {malloc(8192), 0, 8192, 0};
    if (!t.d)
        return -1;
    t.d[0] = '\0';
    fw_render_ingest(m, &t);
    fw_render_http(m, &t);
    if (store_bytes >= 0)
        fw_text_printf(&t, "# HELP flamewatch_store_size_bytes Database file plus WAL.\n"
                           "# TYPE flamewatch_store_size_bytes gauge\nflamewatch_store_size_bytes %lld\n",
                       (long long)store_bytes);
    if (store_stacks >= 0)
        fw_text_printf(&t, "# HELP flamewatch_store_stacks Distinct stacks stored.\n"
                           "# TYPE flamewatch_store_stacks gauge\nflamewatch_store_stacks %lld\n",
                       (long long)store_stacks);
    if (t.failed) {
        free(t.d);
        return -1;
    }
    *out = t.d;
    *len = t.len;
    return 0;
}
