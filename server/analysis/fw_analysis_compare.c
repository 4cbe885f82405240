/*
 * fw_analysis_compare: what changed between a baseline and the current range.
 *
 * Functions are compared on their self share of each range (ranges of different load compare
 * by shape), with the two-proportion z test on self sample counts, the same test the diff API
 * applies to nodes (|z| >= FW_STORE_Z_SIGNIFICANT). Changes are ranked by absolute impact
 * (percentage points of the total), new and vanished functions are named as such, and a change
 * below the threshold is reported as within noise rather than dropped.
 *
 * Samples are not independent across the frames of one stack: a sampling profiler may charge
 * the time of a C call to the caller in one run and to the callee in the next (a frame read
 * while the call is entered or left). Two runs of the same workload then show one function
 * "growing" by exactly what a function a few frames above or below it "shrank". So before a
 * change is called significant, it is tested together with each function within four frames
 * of it on its main path (ancestors and descendants in the diff tree) that moved the other way:
 * if the pair's combined share did not change significantly, the change is a shift of
 * attribution inside the same stacks, reported as such and within noise.
 *
 * The largest significant growth is attributed to label values (fw_analysis_focus.c).
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_analysis.h"

void fw_analysis_attribute(const fw_analysis_req *req, fw_report *r, const char *fn);
fw_store_status fw_compare(const fw_analysis_req *req, fw_report *r);

/* ---------------------------------------------------------------- comparison */

typedef struct {
    const fw_store_row *b, *c;
    double bs, cs, d, z;
    int sig;                    /* after the shift test */
    int pseudo;                 /* the agent's "[unknown]"-style frame: not code */
    const char *shifted_with;   /* the function the cost moved to or from, or NULL */
} fw_chg;

#define FW_SHIFT_DEPTH 4

/* Every change has a row in at least one range (it was built from the two tables). */
static const fw_store_row *fw_chg_row(const fw_chg *c)
{
    assert(c->c || c->b);
    return c->c ? c->c : c->b;
}

static const char *fw_chg_name(const fw_chg *c) { return fw_chg_row(c)->name; }
static const char *fw_chg_file(const fw_chg *c)
{
    const char *f = fw_chg_row(c)->file;
    return f ? f : "";
}

static fw_chg *fw_chg_find(fw_chg *ch, size_t n, const char *name, const char *file)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fw_chg_name(&ch[i]), name) == 0 && strcmp(fw_chg_file(&ch[i]), file ? file : "") == 0)
            return &ch[i];
    return NULL;
}

/* The tests of the design note: is c's change a shift of attribution with a function within
 * FW_SHIFT_DEPTH frames of it on its largest node's path? */
static void fw_shift_test(fw_chg *c, fw_chg *ch, size_t n, const fw_store_diff *d, const fw_report *r)
{
    size_t best = 0;
    int64_t bw = -1;
    for (size_t i = 1; i < d->nnodes; i++) {
        const fw_store_diff_node *x = &d->nodes[i];
        if (!x->is_other && strcmp(x->name, fw_chg_name(c)) == 0 && strcmp(x->file ? x->file : "", fw_chg_file(c)) == 0 &&
            x->base_total + x->cmp_total > bw) {
            bw = x->base_total + x->cmp_total;
            best = i;
        }
    }
    if (!best)
        return;
    const fw_store_diff_node *node = &d->nodes[best];
    /* Candidates: ancestors, then descendants (pre-order: the subtree follows the node). */
    const fw_store_diff_node *cand[64];
    size_t nc = 0;
    for (int32_t p = node->parent; p > 0 && nc < FW_SHIFT_DEPTH; p = d->nodes[p].parent)
        cand[nc++] = &d->nodes[p];
    for (size_t i = best + 1; i < d->nnodes && d->nodes[i].depth > node->depth && nc < 64; i++)
        if (d->nodes[i].depth <= node->depth + FW_SHIFT_DEPTH && !d->nodes[i].is_other)
            cand[nc++] = &d->nodes[i];
    for (size_t k = 0; k < nc; k++) {
        fw_chg *g = fw_chg_find(ch, n, cand[k]->name, cand[k]->file);
        if (!g || g == c || (g->d > 0) == (c->d > 0))
            continue;
        int64_t bx = (c->b ? c->b->count_self : 0) + (g->b ? g->b->count_self : 0);
        int64_t cx = (c->c ? c->c->count_self : 0) + (g->c ? g->c->count_self : 0);
        if (fabs(fw_ztest(bx, r->base_count, cx, r->count)) < FW_STORE_Z_SIGNIFICANT) {
            c->sig = 0;
            c->shifted_with = fw_chg_name(g);
            return;
        }
    }
}

static int fw_chg_cmp(const void *a, const void *b)
{
    double x = fabs(((const fw_chg *)a)->d), y = fabs(((const fw_chg *)b)->d);
    return x < y ? 1 : x > y ? -1 : 0;
}

static int fw_row_same(const fw_store_row *a, const fw_store_row *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->file ? a->file : "", b->file ? b->file : "") == 0;
}

/* The last two parts of a path: re/__init__.py, json/encoder.py, shop.py. */
static const char *fw_short_file(const char *f)
{
    const char *last = strrchr(f, '/');
    if (!last)
        return f;
    const char *p = last;
    while (p > f && p[-1] != '/')
        p--;
    return p > f ? p : f;
}

static void fw_change_finding(fw_report *r, const fw_chg *c, int same_name)
{
    const fw_store_row *row = fw_chg_row(c);
    char label[512];
    /* A name that several files define is shown with its file: re's two _compile differ. */
    if (same_name && *fw_chg_file(c))
        snprintf(label, sizeof label, "%s (%s)", row->name, fw_short_file(fw_chg_file(c)));
    else
        snprintf(label, sizeof label, "%s", row->name);
    int sig = c->sig;
    const char *status = !c->b ? "new" : !c->c ? "vanished" : "changed";
    fw_level lvl = sig > 0 ? FW_LVL_HOT : sig < 0 ? FW_LVL_OK : FW_LVL_INFO;
    fw_finding *f = fw_report_add(r, lvl, "change");
    if (!f)
        return;
    char bv[48], cv[48];
    fw_fmt_value(bv, sizeof bv, c->b ? c->b->self : 0, r->unit);
    fw_fmt_value(cv, sizeof cv, c->c ? c->c->self : 0, r->unit);
    f->has_change = 1;
    f->change = (fw_change){c->bs, c->cs, c->b ? c->b->self : 0, c->c ? c->c->self : 0, c->z, sig, status};
    f->share = c->cs;
    f->value = c->c ? c->c->self : 0;
    f->title = fw_afmt("%s %s: %.1f%% -> %.1f%% self (%+.1f points)%s", label,
                       c->d > 0 ? "got worse" : "improved", c->bs * 100, c->cs * 100, c->d * 100,
                       !c->b ? ", new" : !c->c ? ", vanished" : "");
    if (c->pseudo)
        f->detail = fw_afmt("%s -> %s; z = %.1f, but %s is not code: it stands for stacks the profiler could not "
                            "read whole, whose number follows the machine's load (not a change of the code).",
                            bv, cv, c->z, row->name);
    else if (c->shifted_with)
        f->detail = fw_afmt("%s -> %s; z = %.1f, but together with %s, which moved the other way a few frames away, "
                            "the share did not change significantly: the cost shifted between the two in the same "
                            "stacks (within noise, not a change of the code).", bv, cv, c->z, c->shifted_with);
    else
        f->detail = fw_afmt("%s -> %s; the change is %s (z = %.1f, threshold %.0f).", bv, cv,
                            sig ? "significant" : "within sampling noise", c->z, FW_STORE_Z_SIGNIFICANT);
    f->suggestion = strdup(sig > 0 ? "Look at what changed in this function or its callers (a deploy, input size, a cache miss rate) in this period."
                           : sig < 0 ? "An improvement beyond noise."
                                     : "Not beyond noise: collect a longer range before acting.");
    const char *nm = row->name;
    fw_set_frames(f, &nm, 1);
}

fw_store_status fw_compare(const fw_analysis_req *req, fw_report *r)
{
    fw_store_diff d = {0};
    fw_store_table tb = {0}, tc = {0};
    fw_chg *ch = NULL;
    fw_store_tree_opts to = {FW_STORE_GRAN_FUNCTION, req->max_nodes ? req->max_nodes : 20000};
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    fw_store_status st = fw_store_diff_query(req->store, req->base, req->q, &to, &d);
    if (st == FW_STORE_OK)
        st = fw_store_table_query(req->store, req->base, &o, &tb);
    if (st == FW_STORE_OK)
        st = fw_store_table_query(req->store, req->q, &o, &tc);
    if (st != FW_STORE_OK)
        goto done;
    r->unit = strdup(d.unit ? d.unit : tc.unit ? tc.unit : "");
    fw_report_sql(r, "Diff", d.sql);
    fw_report_sql(r, "Baseline table", tb.sql);
    fw_report_sql(r, "Current table", tc.sql);
    r->base_total = tb.grand_total;
    r->total = tc.grand_total;
    r->base_count = d.nnodes ? d.nodes[0].base_count : 0;
    r->count = d.nnodes ? d.nodes[0].cmp_count : 0;
    fw_finding *f;
    if (r->base_total <= 0 || r->total <= 0) {
        if ((f = fw_report_add(r, r->base_total <= 0 && r->total <= 0 ? FW_LVL_INFO : FW_LVL_WARN, "empty"))) {
            f->title = strdup(r->base_total <= 0 && r->total <= 0 ? "Nothing to compare"
                              : r->base_total <= 0 ? "No baseline data" : "No data in the current range");
            f->detail = strdup(r->base_total <= 0 ? "The baseline range has no samples; pick a baseline where the application was already running."
                                                  : "The baseline has samples but the current range has none.");
        }
        goto done;
    }
    double ratio = (double)r->total / (double)r->base_total - 1;
    if ((f = fw_report_add(r, fabs(ratio) >= 0.2 ? (ratio > 0 ? FW_LVL_HOT : FW_LVL_OK) : FW_LVL_INFO, "total"))) {
        char a[48], b[48];
        fw_fmt_value(a, sizeof a, r->base_total, r->unit);
        fw_fmt_value(b, sizeof b, r->total, r->unit);
        f->title = fw_afmt("Total %s %.1f%%: %s -> %s", ratio >= 0 ? "up" : "down", fabs(ratio) * 100, a, b);
        f->detail = strdup("Functions are compared by their share of each range's total, so that a change of load alone does not look like a regression.");
    }
    /* Every function of either range, matched by name and file. */
    ch = calloc(tb.nrows + tc.nrows + 1, sizeof *ch);
    if (!ch) {
        st = FW_STORE_ERR_NOMEM;
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < tc.nrows; i++) {
        ch[n].c = &tc.rows[i];
        for (size_t k = 0; k < tb.nrows && !ch[n].b; k++)
            if (fw_row_same(&tb.rows[k], &tc.rows[i]))
                ch[n].b = &tb.rows[k];
        n++;
    }
    for (size_t k = 0; k < tb.nrows; k++) {
        int seen = 0;
        for (size_t i = 0; i < tc.nrows && !seen; i++)
            seen = fw_row_same(&tb.rows[k], &tc.rows[i]);
        if (!seen)
            ch[n++].b = &tb.rows[k];
    }
    for (size_t i = 0; i < n; i++) {
        ch[i].bs = ch[i].b ? (double)ch[i].b->self / (double)r->base_total : 0;
        ch[i].cs = ch[i].c ? (double)ch[i].c->self / (double)r->total : 0;
        ch[i].d = ch[i].cs - ch[i].bs;
        ch[i].z = fw_ztest(ch[i].b ? ch[i].b->count_self : 0, r->base_count, ch[i].c ? ch[i].c->count_self : 0, r->count);
        ch[i].sig = fabs(ch[i].z) >= FW_STORE_Z_SIGNIFICANT ? (ch[i].z > 0 ? 1 : -1) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* "[unknown]", "[truncated]", "[too many functions]": stacks the agent could not read
         * whole. How many there are depends on the machine's load, not on the code, so their
         * change is reported but never called significant. */
        const char *nm = fw_chg_name(&ch[i]);
        size_t len = strlen(nm);
        ch[i].pseudo = len >= 2 && nm[0] == '[' && nm[len - 1] == ']' && !*fw_chg_file(&ch[i]);
        if (ch[i].pseudo)
            ch[i].sig = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (ch[i].sig)
            fw_shift_test(&ch[i], ch, n, &d, r);
    qsort(ch, n, sizeof *ch, fw_chg_cmp);
    size_t shown = 0, sig = 0;
    const char *first_sig = NULL;
    for (size_t i = 0; i < n && shown < 10; i++) {
        int s = ch[i].sig != 0;
        /* Small moves are listed only when they are significant, or a function appeared/vanished. */
        if (fabs(ch[i].d) < 0.005 && !s)
            continue;
        int same = 0;
        for (size_t k = 0; k < n && !same; k++)
            same = k != i && strcmp(fw_chg_name(&ch[k]), fw_chg_name(&ch[i])) == 0;
        fw_change_finding(r, &ch[i], same);
        shown++;
        if (s) {
            sig++;
            if (!first_sig && ch[i].d > 0)
                first_sig = fw_chg_name(&ch[i]);
        }
    }
    if (!sig && (f = fw_report_add(r, FW_LVL_OK, "nochange"))) {
        f->title = strdup("No significant change");
        f->detail = fw_afmt("%s; every difference is within sampling noise (|z| < %.0f).",
                            shown ? "Some functions moved by more than half a point" : "No function moved by more than half a point",
                            FW_STORE_Z_SIGNIFICANT);
    }
    if (first_sig)
        fw_analysis_attribute(req, r, first_sig);
done:
    free(ch);
    fw_store_diff_free(&d);
    fw_store_table_free(&tb);
    fw_store_table_free(&tc);
    return st;
}

