/*
 * fw_analysis: findings over one profile and over a comparison (see fw_analysis.h).
 *
 * Single profile. The rules mark frames of well-known Python costs (serialization, regex
 * compilation, logging, GC, lock waits, deepcopy, socket I/O, imports at steady state). A
 * rule's share is that of the samples with at least one marked frame: a pre-order walk of the
 * flame graph tree adds a matched node's total only when no ancestor matched, so recursion and
 * nested matches never count a sample twice. Then dominance (the largest self share), the hot
 * path (the largest child while it holds half the root), label dimensions with a disproportionate
 * share (one host or thread group), for memory types, allocated vs still in use, and for every
 * type, C calls that held the GIL while other threads waited (fw_analysis_gil.c).
 *
 * Comparison: fw_analysis_compare.c.
 *
 * Rules are POSIX extended regexes compiled once; matching is read-only and thread safe.
 */
#include "fw_analysis.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Implemented in fw_analysis_focus.c. */
fw_store_status fw_analysis_focus(const fw_analysis_req *req, fw_report *r);
void fw_analysis_dimensions(const fw_analysis_req *req, fw_report *r);
void fw_analysis_attribute(const fw_analysis_req *req, fw_report *r, const char *fn);
void fw_afocus_free(fw_afocus *f);
/* Implemented in fw_analysis_gil.c. */
void fw_analysis_gil(const fw_analysis_req *req, fw_report *r);
fw_store_status fw_compare(const fw_analysis_req *req, fw_report *r);

const char *const fw_analysis_label_keys[] = {"host", "hostname", "thread_group", "endpoint", "pod",
                                              "region", "service", "version", NULL};

/* ---------------------------------------------------------------- small helpers */

char *fw_afmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void fw_fmt_value(char *buf, size_t len, int64_t v, const char *unit)
{
    double a = fabs((double)v);
    const char *sign = v < 0 ? "-" : "";
    if (unit && strcmp(unit, "nanoseconds") == 0) {
        if (a >= 60e9)
            snprintf(buf, len, "%s%.3g min", sign, a / 60e9);
        else if (a >= 1e9)
            snprintf(buf, len, "%s%.3g s", sign, a / 1e9);
        else if (a >= 1e6)
            snprintf(buf, len, "%s%.3g ms", sign, a / 1e6);
        else
            snprintf(buf, len, "%s%.3g us", sign, a / 1e3);
    } else if (unit && strcmp(unit, "bytes") == 0) {
        static const char *const u[] = {"B", "KB", "MB", "GB", "TB"};
        int i = 0;
        while (a >= 1024 && i < 4) {
            a /= 1024;
            i++;
        }
        snprintf(buf, len, "%s%.3g %s", sign, a, u[i]);
    } else {
        snprintf(buf, len, "%lld%s%s", (long long)v, unit && *unit ? " " : "", unit ? unit : "");
    }
}

double fw_ztest(int64_t x1, int64_t n1, int64_t x2, int64_t n2)
{
    if (n1 <= 0 || n2 <= 0)
        return 0;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double p = (double)(x1 + x2) / (double)(n1 + n2);
    double se = sqrt(p * (1 - p) * (1.0 / (double)n1 + 1.0 / (double)n2));
    return se > 0 ? (p2 - p1) / se : 0;
}

const char *fw_analysis_partner_type(const char *type)
{
    static const char *const pairs[][2] = {{"alloc_space", "inuse_space"}, {"alloc_objects", "inuse_objects"}};
    for (size_t i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            if (strcmp(type, pairs[i][k]) == 0)
                return pairs[i][1 - k];
    return NULL;
}

fw_finding *fw_report_add(fw_report *r, fw_level lvl, const char *id)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        fw_finding *f = realloc(r->findings, cap * sizeof *f);
        if (!f) {
            r->oom = 1;
            return NULL;
        }
        r->findings = f;
        r->cap = cap;
    }
    fw_finding *f = &r->findings[r->n++];
    memset(f, 0, sizeof *f);
    f->level = lvl;
    f->id = id;
    f->share = -1;
    return f;
}

void fw_report_sql(fw_report *r, const char *title, const char *sql)
{
    if (!sql || r->nsql == sizeof r->sql / sizeof r->sql[0])
        return;
    for (size_t i = 0; i < r->nsql; i++)
        if (strcmp(r->sql[i].sql, sql) == 0)
            return; /* the same query twice (e.g. tree of the rules and of the focus) */
    r->sql[r->nsql].title = strdup(title);
    r->sql[r->nsql].sql = strdup(sql);
    if (!r->sql[r->nsql].title || !r->sql[r->nsql].sql) {
        free(r->sql[r->nsql].title);
        free(r->sql[r->nsql].sql);
        r->oom = 1;
        return;
    }
    r->nsql++;
}

int fw_section_add(fw_asection *s, const char *label, int64_t value, double share)
{
    if (s->nrows == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        fw_arow *n = realloc(s->rows, cap * sizeof *n);
        if (!n)
            return -1;
        s->rows = n;
        s->cap = cap;
    }
    fw_arow *row = &s->rows[s->nrows];
    memset(row, 0, sizeof *row);
    row->label = strdup(label ? label : "");
    if (!row->label)
        return -1;
    row->value = value;
    row->share = share;
    s->nrows++;
    return 0;
}

void fw_report_free(fw_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        fw_finding *f = &r->findings[i];
        free(f->title);
        free(f->detail);
        free(f->suggestion);
        free(f->focus);
        for (size_t k = 0; k < f->nframes; k++)
            free(f->frames[k]);
    }
    free(r->findings);
    for (size_t i = 0; i < r->nsql; i++) {
        free(r->sql[i].title);
        free(r->sql[i].sql);
    }
    if (r->focus) {
        fw_afocus_free(r->focus);
        free(r->focus);
    }
    free(r->unit);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- the rules */

typedef struct {
    const char *file_re, *name_re;  /* both must match; NULL matches anything */
    int icase;
} fw_pat;

typedef struct {
    const char *id, *title, *suggest;
    fw_pat pats[4];
} fw_rule;

static const fw_rule fw_rules[] = {
    {"json", "JSON serialization",
     "Serialize less: cache encoded responses, avoid encoding the same object twice, trim payloads, or switch to a faster codec (orjson, msgspec).",
     {{"(^|/)json/(encoder|decoder|__init__)\\.py$", NULL, 0},
      {NULL, "^(json\\.(dumps|loads|dump|load)|JSONEncoder\\.|JSONDecoder\\.)", 0},
      {"(^|/)(orjson|ujson|simplejson)([^A-Za-z0-9_]|$)", NULL, 0}}},
    {"pickle", "pickle serialization",
     "Pickle less data (send ids instead of objects, e.g. to multiprocessing or caches), use protocol=pickle.HIGHEST_PROTOCOL, or a compact format for hot paths.",
     {{"(^|/)(pickle|copyreg|_compat_pickle)\\.py$", NULL, 0},
      {NULL, "^(_?Pickler|_?Unpickler)([^A-Za-z0-9_]|$)|^pickle\\.", 0}}},
    {"re", "Regular expression compilation",
     "Compile patterns once at import time (PATTERN = re.compile(...)) and reuse them; building patterns dynamically defeats re's small internal cache.",
     {{"(^|/)(re/_compiler|re/_parser|sre_compile|sre_parse)\\.py$", NULL, 0},
      {"(^|/)re(/__init__)?\\.py$", "compile", 0}}},
    {"logging", "Logging",
     "Raise the log level on hot paths, use lazy arguments (log.debug(\"x %s\", v)) instead of f-strings, guard expensive messages with isEnabledFor(), and move slow handlers behind a QueueHandler.",
     {{"(^|/)logging/(__init__|handlers)\\.py$", NULL, 0},
      {NULL, "^(Logger|Handler|StreamHandler|Formatter|LogRecord)\\.", 0}}},
    {"gc", "Garbage collection",
     "Reduce allocation churn of container objects; call gc.freeze() after startup so long-lived objects are not rescanned, and raise gc.set_threshold() for large heaps.",
     {{NULL, "^(gc\\.collect|gc_collect.*|<gc>|\\[gc\\]|gc|garbage collection)$", 1}, {"^gc$", NULL, 0}}},
    {"locks", "Lock and condition waits",
     "Threads are waiting on locks or conditions: shorten critical sections, never hold a lock across I/O, shard shared state, or hand work over through queues in batches.",
     {{"(^|/)threading\\.py$", "(wait|acquire|join|_wait_for_tstate_lock)", 1},
      {"(^|/)queue\\.py$", "\\.(get|put)$", 0},
      {NULL, "^(Lock|RLock|Condition|Semaphore|Event)\\.(acquire|wait)$", 0}}},
    {"copy", "copy.deepcopy",
     "Avoid deepcopy on hot paths: copy only what changes, or use immutable data (tuples, frozen dataclasses).",
     {{"(^|/)copy\\.py$", NULL, 0}, {NULL, "^(copy\\.)?deepcopy$", 0}}},
    {"io", "Network and socket I/O",
     "Time in sockets: reuse connections (pooling, keep-alive), batch round trips, set timeouts, and move blocking calls off request threads.",
     {{"(^|/)(socket|ssl|selectors|http/client|asyncio/selector_events)\\.py$", NULL, 0}}},
    {"imports", "Imports at steady state",
     "Modules are being imported while the service runs: move imports to module level, or warm them up at start-up; an import inside a hot function pays the import lock on every call.",
     {{"importlib[/.]_bootstrap", NULL, 0}}},
};

#define FW_NRULES (sizeof fw_rules / sizeof fw_rules[0])

static regex_t fw_rx[FW_NRULES][4][2];
static int fw_rx_ok;
static pthread_once_t fw_rx_once = PTHREAD_ONCE_INIT;

static void fw_rx_init(void)
{
    for (size_t r = 0; r < FW_NRULES; r++)
        for (size_t p = 0; p < 4 && (fw_rules[r].pats[p].file_re || fw_rules[r].pats[p].name_re); p++) {
            const fw_pat *pt = &fw_rules[r].pats[p];
            int flags = REG_EXTENDED | REG_NOSUB | (pt->icase ? REG_ICASE : 0);
            if ((pt->file_re && regcomp(&fw_rx[r][p][0], pt->file_re, REG_EXTENDED | REG_NOSUB) != 0) ||
                (pt->name_re && regcomp(&fw_rx[r][p][1], pt->name_re, flags) != 0)) {
                assert(!"a rule's regex does not compile");
                return;
            }
        }
    fw_rx_ok = 1;
}

static int fw_rule_match(size_t r, const char *name, const char *file)
{
    for (size_t p = 0; p < 4; p++) {
        const fw_pat *pt = &fw_rules[r].pats[p];
        if (!pt->file_re && !pt->name_re)
            break;
        if (pt->file_re && regexec(&fw_rx[r][p][0], file, 0, NULL, 0) != 0)
            continue;
        if (pt->name_re && regexec(&fw_rx[r][p][1], name, 0, NULL, 0) != 0)
            continue;
        return 1;
    }
    return 0;
}

static const char *fw_what(const char *type)
{
    if (strcmp(type, "cpu") == 0)
        return "CPU time";
    if (strcmp(type, "wall") == 0)
        return "wall time";
    if (strcmp(type, "gil_hold") == 0)
        return "GIL hold time";
    if (strcmp(type, "gil_wait") == 0)
        return "time waited for the GIL";
    if (strstr(type, "space"))
        return "memory";
    if (strstr(type, "objects"))
        return "objects";
    return "the profile";
}

/* Marks rule r over the tree; returns the share, the value, and up to 3 top functions by self. */
static double fw_mark(const fw_store_tree *t, size_t r, unsigned char *inside, int64_t *value,
                      const char **top, size_t *ntop)
{
    *value = 0;
    *ntop = 0;
    if (t->nnodes < 2 || t->nodes[0].total <= 0)
        return 0;
    int64_t best[3] = {0, 0, 0};
    inside[0] = 0;
    for (size_t i = 1; i < t->nnodes; i++) {
        const fw_store_node *n = &t->nodes[i];
        int anc = inside[n->parent];
        int m = !n->is_other && fw_rule_match(r, n->name ? n->name : "", n->file ? n->file : "");
        if (m && !anc)
            *value += n->total;
        inside[i] = (unsigned char)(anc || m);
        if (!m || n->self <= 0)
            continue;
        /* The top functions by self among matched nodes (nodes of one function merge by name). */
        size_t k = 0;
        for (; k < *ntop && strcmp(top[k], n->name) != 0; k++)
            ;
        if (k < *ntop) {
            best[k] += n->self;
        } else if (*ntop < 3) {
            top[*ntop] = n->name;
            best[(*ntop)++] = n->self;
        } else {
            size_t lo = 0;
            for (size_t j = 1; j < 3; j++)
                if (best[j] < best[lo])
                    lo = j;
            if (n->self > best[lo]) {
                top[lo] = n->name;
                best[lo] = n->self;
            }
        }
        for (size_t a = 0; a < *ntop; a++) /* keep largest first */
            for (size_t b = a + 1; b < *ntop; b++)
                if (best[b] > best[a]) {
                    int64_t tv = best[a];
                    best[a] = best[b];
                    best[b] = tv;
                    const char *ts = top[a];
                    top[a] = top[b];
                    top[b] = ts;
                }
    }
    return (double)*value / (double)t->nodes[0].total;
}

void fw_set_frames(fw_finding *f, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n && f->nframes < 4; i++)
        if ((f->frames[f->nframes] = strdup(names[i])) != NULL)
            f->nframes++;
    if (n)
        f->focus = strdup(names[0]);
}

static void fw_rules_run(const fw_analysis_req *req, const fw_store_tree *t, fw_report *r)
{
    pthread_once(&fw_rx_once, fw_rx_init);
    if (!fw_rx_ok)
        return;
    unsigned char *inside = calloc(t->nnodes ? t->nnodes : 1, 1);
    if (!inside) {
        r->oom = 1;
        return;
    }
    const char *what = fw_what(req->q->type);
    int cpu = strcmp(req->q->type, "cpu") == 0;
    for (size_t k = 0; k < FW_NRULES; k++) {
        int64_t value;
        const char *top[3];
        size_t ntop;
        double share = fw_mark(t, k, inside, &value, top, &ntop);
        if (share < 0.01)
            continue;
        if (strcmp(fw_rules[k].id, "io") == 0 && cpu && share < 0.05)
            continue;
        fw_finding *f = fw_report_add(r, share >= 0.05 ? FW_LVL_HOT : FW_LVL_WARN, fw_rules[k].id);
        if (!f)
            break;
        char v[48];
        fw_fmt_value(v, sizeof v, value, r->unit);
        f->share = share;
        f->value = value;
        f->title = fw_afmt("%s: %.1f%% of %s", fw_rules[k].title, share * 100, what);
        f->detail = fw_afmt("%.1f%% of %s (%s) is spent in %s%s%s.%s", share * 100, what, v, fw_rules[k].title,
                            ntop ? ", mostly in " : "", ntop ? top[0] : "",
                            strcmp(fw_rules[k].id, "locks") == 0 && cpu
                                ? " On the CPU profile this is spinning or contended acquisition; check the wall profile for time spent blocked."
                                : "");
        f->suggestion = strdup(fw_rules[k].suggest);
        fw_set_frames(f, top, ntop);
    }
    free(inside);
}

/* ---------------------------------------------------------------- single profile */

static void fw_dominance(const fw_analysis_req *req, const fw_store_table *tb, fw_report *r)
{
    const char *what = fw_what(req->q->type);
    if (!tb->nrows || tb->grand_total <= 0)
        return;
    const fw_store_row *top = &tb->rows[0];
    double share = (double)top->self / (double)tb->grand_total;
    char v[48];
    fw_fmt_value(v, sizeof v, top->self, r->unit);
    fw_finding *f;
    if (share >= 0.2) {
        if (!(f = fw_report_add(r, FW_LVL_HOT, "dominance")))
            return;
        f->title = fw_afmt("%s dominates: %.1f%% of %s is its own code", top->name, share * 100, what);
        char loc[320] = "";
        if (top->file && *top->file)
            snprintf(loc, sizeof loc, " in %s", top->file);
        f->detail = fw_afmt("%s self%s.", v, loc);
        f->suggestion = strdup("Start here: look for repeated work in this function (caching, batching, a better algorithm) or move it off the hot path.");
    } else {
        if (!(f = fw_report_add(r, FW_LVL_INFO, "dominance")))
            return;
        char buf[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < tb->nrows && i < 3 && used < sizeof buf; i++)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s %.1f%%", i ? ", " : "", tb->rows[i].name,
                                     100.0 * (double)tb->rows[i].self / (double)tb->grand_total);
        f->title = strdup("No single function dominates");
        f->detail = fw_afmt("Largest self shares: %s.", buf);
        f->suggestion = strdup("The cost is spread out; use the flame graph to find the widest subtree and optimise its callers.");
    }
    f->share = share;
    f->value = top->self;
    const char *nm = top->name;
    fw_set_frames(f, &nm, 1);
    if (strstr(req->q->type, "alloc") && share >= 0.1) {
        fw_finding *a = fw_report_add(r, FW_LVL_INFO, "alloc");
        if (a) {
            a->share = share;
            a->value = top->self;
            a->title = fw_afmt("Allocation hot spot: %s", top->name);
            a->detail = fw_afmt("%s allocates %.1f%% (%s).", top->name, share * 100, v);
            a->suggestion = strdup("Reuse buffers, avoid building intermediate lists (use generators), and prefer __slots__ for many small objects.");
            fw_set_frames(a, &nm, 1);
        }
    }
}

static void fw_hot_path(const fw_analysis_req *req, const fw_store_tree *t, fw_report *r)
{
    if (t->nnodes < 2 || t->nodes[0].total <= 0)
        return;
    int64_t root = t->nodes[0].total;
    size_t path[64], np = 0, i = 0;
    for (;;) {
        /* Children follow their parent in pre-order, largest first: the first child is the largest. */
        size_t c = i + 1;
        if (c >= t->nnodes || t->nodes[c].parent != (int32_t)i || t->nodes[c].is_other ||
            (double)t->nodes[c].total < 0.5 * (double)root)
            break;
        if (np == 64)
            memmove(path, path + 1, --np * sizeof path[0]);
        path[np++] = c;
        i = c;
    }
    if (!np)
        return;
    const fw_store_node *last = &t->nodes[path[np - 1]];
    fw_finding *f = fw_report_add(r, FW_LVL_INFO, "hotpath");
    if (!f)
        return;
    char buf[1024] = "";
    size_t used = 0;
    for (size_t k = np > 4 ? np - 4 : 0; k < np && used < sizeof buf; k++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? " > " : "", t->nodes[path[k]].name);
    f->share = (double)last->total / (double)root;
    f->value = last->total;
    f->title = fw_afmt("Hot path: %.1f%% of %s runs under %s", f->share * 100, fw_what(req->q->type), last->name);
    f->detail = strdup(buf);
    f->suggestion = strdup("Click it in the flame graph to see its callers, callees and lines.");
    const char *nm = last->name;
    fw_set_frames(f, &nm, 1);
}

/* Memory: what is allocated vs what is still in use at the end (alloc_* paired with inuse_*). */
static void fw_retained(const fw_analysis_req *req, fw_report *r)
{
    const char *partner = fw_analysis_partner_type(req->q->type);
    if (!partner)
        return;
    int alloc_first = strncmp(req->q->type, "alloc", 5) == 0;
    fw_store_query qa = *req->q, qi = *req->q;
    (alloc_first ? &qi : &qa)->type = partner;
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 200};
    fw_store_table ta = {0}, ti = {0};
    if (fw_store_table_query(req->store, &qa, &o, &ta) != FW_STORE_OK ||
        fw_store_table_query(req->store, &qi, &o, &ti) != FW_STORE_OK || ta.grand_total <= 0 || ti.grand_total <= 0)
        goto done;
    fw_report_sql(r, "Allocated (table)", ta.sql);
    fw_report_sql(r, "In use (table)", ti.sql);
    /* In-use values are snapshots (one per upload) and allocations a flow, so their sums do not
     * compare; their shares do. A function holding more of the memory in use than its share of
     * allocations keeps what it allocates; one that allocates much and holds little frees it. */
    for (size_t i = 0; i < ti.nrows && i < 10; i++) {
        const fw_store_row *in = &ti.rows[i];
        double ishare = (double)in->self / (double)ti.grand_total;
        if (ishare < 0.1)
            break;
        int64_t alloc = 0;
        for (size_t k = 0; k < ta.nrows; k++)
            if (strcmp(ta.rows[k].name, in->name) == 0 && strcmp(ta.rows[k].file ? ta.rows[k].file : "", in->file ? in->file : "") == 0)
                alloc = ta.rows[k].self;
        double ashare = (double)alloc / (double)ta.grand_total;
        if (ishare < ashare)
            continue;
        fw_finding *f = fw_report_add(r, ishare >= 0.25 ? FW_LVL_HOT : FW_LVL_WARN, "retained");
        if (!f)
            break;
        f->share = ishare;
        f->value = in->self;
        f->title = fw_afmt("Memory retained by %s: %.1f%% of what is in use", in->name, ishare * 100);
        f->detail = fw_afmt("%s holds %.1f%% of the memory in use while it makes %.1f%% of the allocations: "
                            "what it allocates is not released.", in->name, ishare * 100, ashare * 100);
        f->suggestion = strdup("Check for caches without a bound, lists that only grow, and references kept by globals or closures; bound them (functools.lru_cache(maxsize=...), collections.deque(maxlen=...)) or release them.");
        const char *nm = in->name;
        fw_set_frames(f, &nm, 1);
    }
done:
    fw_store_table_free(&ta);
    fw_store_table_free(&ti);
}

static fw_store_status fw_single(const fw_analysis_req *req, fw_report *r)
{
    fw_store_tree t = {0};
    fw_store_table tb = {0};
    fw_store_tree_opts to = {FW_STORE_GRAN_FUNCTION, req->max_nodes ? req->max_nodes : 20000};
    fw_store_table_opts tbo = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    fw_store_status st = fw_store_tree_query(req->store, req->q, &to, &t);
    if (st == FW_STORE_OK)
        st = fw_store_table_query(req->store, req->q, &tbo, &tb);
    if (st != FW_STORE_OK)
        goto done;
    r->unit = strdup(t.unit ? t.unit : "");
    r->total = t.nnodes ? t.nodes[0].total : 0;
    r->count = t.nnodes ? t.nodes[0].count_total : 0;
    fw_report_sql(r, "Flame graph", t.sql);
    fw_report_sql(r, "Table", tb.sql);
    if (r->total <= 0 || !tb.nrows) {
        fw_finding *f = fw_report_add(r, FW_LVL_INFO, "empty");
        if (f) {
            f->title = strdup("Nothing to analyse");
            f->detail = strdup("There are no samples in this range and filter.");
        }
        goto done;
    }
    fw_dominance(req, &tb, r);
    fw_hot_path(req, &t, r);
    fw_rules_run(req, &t, r);
    fw_retained(req, r);
    fw_analysis_gil(req, r);
    fw_analysis_dimensions(req, r);
    if (strcmp(req->q->type, "wall") == 0) {
        fw_finding *f = fw_report_add(r, FW_LVL_INFO, "wall");
        if (f) {
            f->title = strdup("Wall time includes idle threads");
            f->detail = strdup("Threads that sleep or wait (thread pools, event loops) show up in the wall profile.");
            f->suggestion = strdup("Filter by thread group or thread name to look at request threads only.");
        }
    }
    size_t flagged = 0;
    for (size_t i = 0; i < r->n; i++)
        flagged += r->findings[i].level <= FW_LVL_WARN && strcmp(r->findings[i].id, "dominance") != 0;
    if (!flagged) {
        fw_finding *f = fw_report_add(r, FW_LVL_OK, "none");
        if (f) {
            f->title = strdup("No Python hot spot found");
            f->detail = strdup("None of serialization, regex compilation, logging, GC, lock waits, deepcopy, socket I/O or imports reaches 1%.");
        }
    }
done:
    fw_store_tree_free(&t);
    fw_store_table_free(&tb);
    return st;
}

fw_store_status fw_analysis_run(const fw_analysis_req *req, fw_report *out)
{
    assert(req && req->store && req->q && out);
    memset(out, 0, sizeof *out);
    out->comparison = req->base != NULL;
    fw_store_status st = req->base ? fw_compare(req, out) : fw_single(req, out);
    if (st == FW_STORE_OK && req->focus)
        st = fw_analysis_focus(req, out);
    if (st == FW_STORE_OK && out->oom)
        st = FW_STORE_ERR_NOMEM;
    if (st != FW_STORE_OK)
        fw_report_free(out);
    return st;
}
