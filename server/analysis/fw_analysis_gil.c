/*
 * fw_analysis_gil: "a C call held the GIL for long stretches while other threads waited".
 *
 * The agent charges two sample types to the stack of a thread that kept the GIL for a whole
 * tick while at least one other thread waited for it (agent/fw_gil_watch.h): gil_hold (the
 * tick's wall time) and gil_wait (that times the number of waiting threads). Their leaf line is
 * the Python line that made the C call, since a C function has no Python frame of its own. This
 * rule reads both types over the analysed range and filters, at line granularity, and reports
 * the call sites with the most hold time: how long they held the GIL, how many threads waited on
 * average (gil_wait / gil_hold) and the thread time those threads lost.
 *
 * The rule runs for every single-profile analysis, whatever its type: a GIL hold stalls every
 * other thread, which no CPU or wall share shows. A range without these types (another agent,
 * an older agent, no hold) simply gives no finding. Thresholds: a call site is reported from
 * FW_GIL_MIN_NS of hold in the range (a few ticks: anything shorter is within the tick
 * resolution), as hot from FW_GIL_HOT_NS; at most FW_GIL_MAX_SITES sites.
 */
#include "fw_analysis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_GIL_MIN_NS 50000000LL      /* 50 ms */
#define FW_GIL_HOT_NS 1000000000LL    /* 1 s */
#define FW_GIL_MAX_SITES 3

void fw_analysis_gil(const fw_analysis_req *req, fw_report *r);

/* The gil_wait of the row of `wait` with the same function, file and line; 0 if none. */
static int64_t fw_gil_wait_of(const fw_store_table *wait, const fw_store_row *hold)
{
    for (size_t i = 0; i < wait->nrows; i++) {
        const fw_store_row *w = &wait->rows[i];
        if (w->line == hold->line && strcmp(w->name, hold->name) == 0 &&
            strcmp(w->file ? w->file : "", hold->file ? hold->file : "") == 0)
            return w->self;
    }
    return 0;
}

static void fw_gil_finding(fw_report *r, const fw_store_row *site, int64_t wait, int64_t all_hold)
{
    fw_finding *f = fw_report_add(r, site->self >= FW_GIL_HOT_NS ? FW_LVL_HOT : FW_LVL_WARN, "gil_hold");
    if (!f)
        return;
    char held[48], lost[48], loc[400] = "";
    fw_fmt_value(held, sizeof held, site->self, "nanoseconds");
    fw_fmt_value(lost, sizeof lost, wait, "nanoseconds");
    double waiters = (double)wait / (double)site->self;
    if (site->file && *site->file)
        snprintf(loc, sizeof loc, " (%s:%lld)", site->file, (long long)site->line);
    f->share = all_hold > 0 ? (double)site->self / (double)all_hold : -1;
    f->value = site->self;
    f->title = fw_afmt("%s held the GIL for %s while %.1f other thread%s waited", site->name, held, waiters,
                       waiters >= 0.95 && waiters < 1.05 ? "" : "s");
    f->detail = fw_afmt("A C call made by %s%s kept the GIL for %s in stretches longer than the switch "
                        "interval, while on average %.1f other thread%s waited for it: %s of thread time "
                        "lost. That is %.1f%% of all GIL hold time with waiters in this range.",
                        site->name, loc, held, waiters, waiters >= 0.95 && waiters < 1.05 ? "" : "s", lost,
                        100.0 * f->share);
    f->suggestion = strdup("This call does not release the GIL, so no other thread runs Python meanwhile. "
                           "Release it around the long C work (Py_BEGIN_ALLOW_THREADS in a C extension, or a "
                           "library call that releases it, such as hashlib or zlib on large buffers), split "
                           "the work into smaller calls, or move it to a process pool "
                           "(concurrent.futures.ProcessPoolExecutor).");
    const char *nm = site->name;
    fw_set_frames(f, &nm, 1);
}

void fw_analysis_gil(const fw_analysis_req *req, fw_report *r)
{
    fw_store_query qh = *req->q, qw = *req->q;
    qh.type = "gil_hold";
    qw.type = "gil_wait";
    fw_store_table_opts o = {FW_STORE_GRAN_LINE, FW_STORE_SORT_SELF, 200};
    fw_store_table hold = {0}, wait = {0};
    /* A range without the types is not an error of the analysis: no finding. */
    if (fw_store_table_query(req->store, &qh, &o, &hold) != FW_STORE_OK || hold.grand_total <= 0 ||
        hold.nrows == 0 || hold.rows[0].self < FW_GIL_MIN_NS)
        goto done;
    if (fw_store_table_query(req->store, &qw, &o, &wait) != FW_STORE_OK)
        goto done;
    fw_report_sql(r, "GIL held while others waited (table)", hold.sql);
    fw_report_sql(r, "Threads waiting for the GIL (table)", wait.sql);
    for (size_t i = 0; i < hold.nrows && i < FW_GIL_MAX_SITES; i++) {
        if (hold.rows[i].self < FW_GIL_MIN_NS)
            break;
        fw_gil_finding(r, &hold.rows[i], fw_gil_wait_of(&wait, &hold.rows[i]), hold.grand_total);
    }
done:
    fw_store_table_free(&hold);
    fw_store_table_free(&wait);
}
