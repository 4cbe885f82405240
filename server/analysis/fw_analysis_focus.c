/*
 * fw_analysis_focus: the detail analysis of one function (focus=FUNCTION), and the findings
 * that split the profile by label values.
 *
 * A function's detail is read from the same queries as the views: the flame graph tree gives
 * its callers and callees (each occurrence counted once: a node under an ancestor of the same
 * function is recursion and is skipped, so shares never exceed 100%), the line table its hottest
 * lines, and tables over equal slices of the range its trend. For a comparison each row carries
 * the baseline's numbers and a z test on its sample counts, and the change is attributed to
 * label values: per value of a host-like or group-like key, how much of the function's change
 * comes from samples with that value.
 *
 * Label dimensions: for each key of fw_analysis_label_keys with 2-12 values, one trend query
 * per value (the range as one step) gives that value's total; a value far above its fair share
 * is a finding. The number of queries is bounded: at most 4 keys x 12 values.
 *
 * Function names are matched exactly first, then case-insensitively, then as a substring, then
 * by edit distance (fw_analysis_match_name), so "cart total" finds Cart.total.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_analysis.h"

#define FW_DIM_MAX_KEYS 4
#define FW_DIM_MAX_VALUES 12
#define FW_TREND_SLICES 6

fw_store_status fw_analysis_focus(const fw_analysis_req *req, fw_report *r);
void fw_analysis_dimensions(const fw_analysis_req *req, fw_report *r);
void fw_analysis_attribute(const fw_analysis_req *req, fw_report *r, const char *fn);
void fw_afocus_free(fw_afocus *f);
const char *fw_analysis_match_name(const char *const *names, size_t n, const char *want);

void fw_afocus_free(fw_afocus *f)
{
    free(f->name);
    free(f->file);
    for (size_t i = 0; i < f->nsections; i++) {
        for (size_t k = 0; k < f->sections[i].nrows; k++)
            free(f->sections[i].rows[k].label);
        free(f->sections[i].rows);
        free(f->sections[i].title);
    }
}

/* ---------------------------------------------------------------- fuzzy names */

static void fw_norm(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++)
        if (isalnum((unsigned char)*s))
            out[o++] = (char)tolower((unsigned char)*s);
    out[o] = '\0';
}

static size_t fw_edit(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t prev[65] = {0}, cur[65] = {0};
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* names are in order of preference (largest first); returns one of them or NULL. */
const char *fw_analysis_match_name(const char *const *names, size_t n, const char *want)
{
    char w[256] = {0}, c[256] = {0};
    fw_norm(want, w, sizeof w);
    if (!*w)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], want) == 0)
            return names[i];
    for (size_t i = 0; i < n; i++) {
        fw_norm(names[i], c, sizeof c);
        if (strcmp(c, w) == 0)
            return names[i];
    }
    /* A name ending in the wanted words: "total" finds Cart.total before a longer name. */
    for (size_t i = 0; i < n; i++) {
        fw_norm(names[i], c, sizeof c);
        size_t lc = strlen(c), lw = strlen(w);
        if (lw >= 4 && lc >= lw && strcmp(c + lc - lw, w) == 0)
            return names[i];
    }
    for (size_t i = 0; i < n; i++) {
        fw_norm(names[i], c, sizeof c);
        if (strlen(w) >= 5 && strstr(c, w))
            return names[i];
    }
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        fw_norm(names[i], c, sizeof c);
        size_t d = fw_edit(c, w);
        if (d < bd) {
            bd = d;
            best = names[i];
        }
    }
    /* At most one typo in four letters. */
    return best && bd <= strlen(w) / 4 ? best : NULL;
}

/* ---------------------------------------------------------------- sections */

static fw_asection *fw_section(fw_afocus *f, const char *id, char *title)
{
    if (f->nsections == sizeof f->sections / sizeof f->sections[0] || !title) {
        free(title);
        return NULL;
    }
    fw_asection *s = &f->sections[f->nsections++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->title = title;
    return s;
}

/* Adds value to the row labelled `label` (creating it). */
static int fw_section_bump(fw_asection *s, const char *label, int64_t v, int base)
{
    for (size_t i = 0; i < s->nrows; i++)
        if (strcmp(s->rows[i].label, label) == 0) {
            if (base)
                s->rows[i].base_value += v;
            else
                s->rows[i].value += v;
            return 0;
        }
    if (fw_section_add(s, label, base ? 0 : v, 0) != 0)
        return -1;
    if (base)
        s->rows[s->nrows - 1].base_value = v;
    return 0;
}

static int fw_row_value_cmp(const void *a, const void *b)
{
    const fw_arow *x = a, *y = b;
    int64_t vx = x->value > x->base_value ? x->value : x->base_value;
    int64_t vy = y->value > y->base_value ? y->value : y->base_value;
    return vx < vy ? 1 : vx > vy ? -1 : strcmp(x->label, y->label);
}

static void fw_section_finish(fw_asection *s, int64_t total, int64_t base_total, int cmp, size_t keep)
{
    if (s->nrows) /* qsort's array may not be NULL, even when empty */
        qsort(s->rows, s->nrows, sizeof s->rows[0], fw_row_value_cmp);
    while (s->nrows > keep)
        free(s->rows[--s->nrows].label);
    for (size_t i = 0; i < s->nrows; i++) {
        fw_arow *w = &s->rows[i];
        w->share = total > 0 ? (double)w->value / (double)total : 0;
        if (cmp) {
            w->has_base = 1;
            w->base_share = base_total > 0 ? (double)w->base_value / (double)base_total : 0;
        }
    }
}

/* Callers and callees of fn over one tree (base = 1: into base_value). */
static int fw_tree_neighbours(const fw_store_tree *t, const char *fn, fw_asection *callers, fw_asection *callees,
                              int base, int64_t *self, int64_t *total)
{
    unsigned char *in = calloc(t->nnodes ? t->nnodes : 1, 1); /* 1: node or an ancestor is fn */
    if (!in)
        return -1;
    *self = *total = 0;
    int rc = 0;
    for (size_t i = 1; i < t->nnodes && rc == 0; i++) {
        const fw_store_node *n = &t->nodes[i];
        int anc = in[n->parent];
        int is = !n->is_other && strcmp(n->name, fn) == 0;
        in[i] = (unsigned char)(anc || is);
        if (is) {
            *self += n->self;
            if (!anc) {
                *total += n->total;
                if (callers)
                    rc = fw_section_bump(callers, n->parent > 0 ? t->nodes[n->parent].name : "(root)", n->total, base);
            }
        }
        /* A callee: a child of an outermost occurrence of fn (not of a recursive one). */
        if (callees && !is && n->parent > 0 && strcmp(t->nodes[n->parent].name, fn) == 0 &&
            !in[t->nodes[n->parent].parent])
            rc = fw_section_bump(callees, n->name, n->total, base);
    }
    free(in);
    return rc;
}

/* The self value of fn in a table (function granularity; all files of that name). */
static int64_t fw_table_self(const fw_store_table *t, const char *fn, int64_t *count)
{
    int64_t v = 0, c = 0;
    for (size_t i = 0; i < t->nrows; i++)
        if (strcmp(t->rows[i].name, fn) == 0) {
            v += t->rows[i].self;
            c += t->rows[i].count_self;
        }
    if (count)
        *count = c;
    return v;
}

/* Label values of the keys worth splitting by; fills keys[] (pointers into l). */
static size_t fw_dim_keys(const fw_store_labels *l, const fw_store_query *q, const fw_store_label_key **keys)
{
    size_t n = 0;
    for (const char *const *k = fw_analysis_label_keys; *k && n < FW_DIM_MAX_KEYS; k++)
        for (size_t i = 0; i < l->nkeys; i++) {
            if (strcmp(l->keys[i].key, *k) != 0 || l->keys[i].nvalues < 2 || l->keys[i].nvalues > FW_DIM_MAX_VALUES)
                continue;
            int filtered = 0;
            for (size_t f = 0; f < q->nfilters; f++)
                filtered |= strcmp(q->filters[f].key, *k) == 0;
            if (!filtered)
                keys[n++] = &l->keys[i];
        }
    return n;
}

/* q with one more filter key=value (filters copied into buf, which must hold nfilters+1). */
static fw_store_query fw_with_label(const fw_store_query *q, fw_label *buf, const char *key, const char *value)
{
    fw_store_query out = *q;
    if (q->filters) /* memcpy's source may not be NULL, even for 0 bytes */
        memcpy(buf, q->filters, q->nfilters * sizeof *buf);
    buf[q->nfilters].key = key;
    buf[q->nfilters].value = value;
    out.filters = buf;
    out.nfilters = q->nfilters + 1;
    return out;
}

static int64_t fw_range_total(fw_store *s, const fw_store_query *q, fw_report *r)
{
    fw_store_trend t = {0};
    int64_t sum = 0;
    if (fw_store_trend_query(s, q, q->until - q->from, &t) != FW_STORE_OK)
        return -1;
    for (size_t i = 0; i < t.npoints; i++)
        sum += t.points[i].value;
    fw_report_sql(r, "Total per label value (trend)", t.sql);
    fw_store_trend_free(&t);
    return sum;
}

void fw_analysis_dimensions(const fw_analysis_req *req, fw_report *r)
{
    fw_store_labels l = {0};
    if (fw_store_label_values(req->store, req->q, &l) != FW_STORE_OK)
        return;
    const fw_store_label_key *keys[FW_DIM_MAX_KEYS];
    size_t nk = fw_dim_keys(&l, req->q, keys);
    fw_label *buf = malloc((req->q->nfilters + 1) * sizeof *buf);
    for (size_t k = 0; k < nk && buf; k++) {
        int64_t vals[FW_DIM_MAX_VALUES], sum = 0;
        size_t top = 0, nv = keys[k]->nvalues;
        for (size_t v = 0; v < nv; v++) {
            fw_store_query q = fw_with_label(req->q, buf, keys[k]->key, keys[k]->values[v]);
            vals[v] = fw_range_total(req->store, &q, r);
            if (vals[v] < 0)
                goto done;
            sum += vals[v];
            if (vals[v] > vals[top])
                top = v;
        }
        if (sum <= 0)
            continue;
        double share = (double)vals[top] / (double)sum, fair = 1.0 / (double)nv;
        if (share < 0.5 || share < 1.5 * fair)
            continue;
        fw_finding *f = fw_report_add(r, share >= 0.8 && strstr(keys[k]->key, "host") ? FW_LVL_WARN : FW_LVL_INFO, "label");
        if (!f)
            break;
        char v[48];
        fw_fmt_value(v, sizeof v, vals[top], r->unit);
        f->share = share;
        f->value = vals[top];
        f->title = fw_afmt("%s=%s has %.1f%% of the total across %zu values of %s", keys[k]->key, keys[k]->values[top],
                           share * 100, nv, keys[k]->key);
        f->detail = fw_afmt("%s of the samples carry %s=%s; an even split would give each value %.1f%%.", v,
                            keys[k]->key, keys[k]->values[top], fair * 100);
        f->suggestion = strdup(strstr(keys[k]->key, "host")
                                   ? "One host does most of the work: check the load balancer's spread, a host with a different configuration, or a stuck job."
                                   : "Filter by this label value to see what it runs; compare it with the other values.");
    }
done:
    free(buf);
    fw_store_labels_free(&l);
}

/* Per value of each dimension: fn's self in base and current. Fills `sec` rows "key=value". */
static int fw_attribution_rows(const fw_analysis_req *req, fw_report *r, const char *fn, fw_asection *sec)
{
    fw_store_labels l = {0};
    if (fw_store_label_values(req->store, req->q, &l) != FW_STORE_OK)
        return -1;
    const fw_store_label_key *keys[FW_DIM_MAX_KEYS];
    size_t nk = fw_dim_keys(&l, req->q, keys);
    size_t nf = req->q->nfilters > req->base->nfilters ? req->q->nfilters : req->base->nfilters;
    fw_label *buf = malloc((nf + 1) * sizeof *buf), *bbuf = malloc((nf + 1) * sizeof *bbuf);
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    int rc = buf && bbuf ? 0 : -1;
    for (size_t k = 0; k < nk && rc == 0; k++)
        for (size_t v = 0; v < keys[k]->nvalues && rc == 0; v++) {
            fw_store_query qc = fw_with_label(req->q, buf, keys[k]->key, keys[k]->values[v]);
            fw_store_query qb = fw_with_label(req->base, bbuf, keys[k]->key, keys[k]->values[v]);
            fw_store_table tc = {0}, tb = {0};
            if (fw_store_table_query(req->store, &qc, &o, &tc) == FW_STORE_OK &&
                fw_store_table_query(req->store, &qb, &o, &tb) == FW_STORE_OK) {
                char label[512];
                snprintf(label, sizeof label, "%s=%s", keys[k]->key, keys[k]->values[v]);
                int64_t cc, bc;
                int64_t cv = fw_table_self(&tc, fn, &cc), bv = fw_table_self(&tb, fn, &bc);
                if ((cv || bv) && fw_section_add(sec, label, cv, 0) == 0) {
                    fw_arow *w = &sec->rows[sec->nrows - 1];
                    w->has_base = 1;
                    w->base_value = bv;
                    /* Shares of the whole ranges' totals: value rows add up to the function's. */
                    w->share = r->total > 0 ? (double)cv / (double)r->total : 0;
                    w->base_share = r->base_total > 0 ? (double)bv / (double)r->base_total : 0;
                    w->z = fw_ztest(bc, r->base_count, cc, r->count);
                    w->significant = fabs(w->z) >= FW_STORE_Z_SIGNIFICANT ? (w->z > 0 ? 1 : -1) : 0;
                }
                fw_report_sql(r, "Attribution (table per label value)", tc.sql);
            } else {
                rc = -1;
            }
            fw_store_table_free(&tc);
            fw_store_table_free(&tb);
        }
    free(buf);
    free(bbuf);
    fw_store_labels_free(&l);
    return rc;
}

void fw_analysis_attribute(const fw_analysis_req *req, fw_report *r, const char *fn)
{
    fw_asection sec = {0};
    if (fw_attribution_rows(req, r, fn, &sec) == 0) {
        /* Per key: the value that carries most of the growth in points of the total. */
        for (size_t i = 0; i < sec.nrows; i++) {
            const char *eq = strchr(sec.rows[i].label, '=');
            size_t klen = (size_t)(eq - sec.rows[i].label);
            double sum = 0;
            int first = 1;
            for (size_t k = 0; k < sec.nrows; k++)
                if (strncmp(sec.rows[k].label, sec.rows[i].label, klen + 1) == 0) {
                    sum += sec.rows[k].share - sec.rows[k].base_share;
                    first &= k >= i;
                }
            if (!first)
                continue; /* one finding per key, written at its first row */
            size_t best = i;
            for (size_t k = i; k < sec.nrows; k++)
                if (strncmp(sec.rows[k].label, sec.rows[i].label, klen + 1) == 0 &&
                    sec.rows[k].share - sec.rows[k].base_share > sec.rows[best].share - sec.rows[best].base_share)
                    best = k;
            double d = sec.rows[best].share - sec.rows[best].base_share;
            if (sum <= 0 || d / sum < 0.7)
                continue;
            fw_finding *f = fw_report_add(r, FW_LVL_WARN, "attribution");
            if (!f)
                break;
            f->share = d / sum;
            f->title = fw_afmt("The growth of %s comes from %s (%.0f%% of it)", fn, sec.rows[best].label, d / sum * 100);
            f->detail = fw_afmt("With %s: %.1f%% -> %.1f%% of the total; all values of %.*s together: %+.1f points.",
                                sec.rows[best].label, sec.rows[best].base_share * 100, sec.rows[best].share * 100,
                                (int)klen, sec.rows[best].label, sum * 100);
            f->suggestion = fw_afmt("Look at what is different about %s (its deploy, its configuration, its input).",
                                    sec.rows[best].label);
            const char *nm = fn;
            f->frames[0] = strdup(nm);
            f->nframes = f->frames[0] != NULL;
            f->focus = strdup(fn);
        }
    }
    for (size_t i = 0; i < sec.nrows; i++)
        free(sec.rows[i].label);
    free(sec.rows);
}

/* ---------------------------------------------------------------- focus */

fw_store_status fw_analysis_focus(const fw_analysis_req *req, fw_report *r)
{
    fw_store_table tb = {0}, lines = {0};
    fw_store_tree t = {0}, bt = {0};
    const char **names = NULL;
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    fw_store_status st = fw_store_table_query(req->store, req->q, &o, &tb);
    if (st != FW_STORE_OK)
        return st;
    fw_afocus *f = calloc(1, sizeof *f);
    names = malloc((tb.nrows + 1) * sizeof *names);
    if (!f || !names) {
        free(f);
        st = FW_STORE_ERR_NOMEM;
        goto done;
    }
    r->focus = f;
    for (size_t i = 0; i < tb.nrows; i++)
        names[i] = tb.rows[i].name;
    const char *fn = fw_analysis_match_name(names, tb.nrows, req->focus);
    f->name = strdup(fn ? fn : req->focus);
    if (!f->name) {
        st = FW_STORE_ERR_NOMEM;
        goto done;
    }
    if (!fn)
        goto done; /* found = 0: the output says so */
    f->found = 1;
    for (size_t i = 0; i < tb.nrows; i++)
        if (strcmp(tb.rows[i].name, fn) == 0 && !f->file)
            f->file = strdup(tb.rows[i].file ? tb.rows[i].file : "");
    fw_store_tree_opts to = {FW_STORE_GRAN_FUNCTION, 200000};
    if ((st = fw_store_tree_query(req->store, req->q, &to, &t)) != FW_STORE_OK)
        goto done;
    fw_report_sql(r, "Flame graph", t.sql);
    int cmp = req->base != NULL;
    int64_t root = t.nnodes ? t.nodes[0].total : 0, broot = 0;
    fw_asection *callers = fw_section(f, "callers", fw_afmt("Callers of %s", fn));
    fw_asection *callees = fw_section(f, "callees", fw_afmt("Callees of %s", fn));
    if (!callers || !callees || fw_tree_neighbours(&t, fn, callers, callees, 0, &f->self, &f->total) != 0) {
        st = FW_STORE_ERR_NOMEM;
        goto done;
    }
    if (cmp) {
        if ((st = fw_store_tree_query(req->store, req->base, &to, &bt)) != FW_STORE_OK)
            goto done;
        broot = bt.nnodes ? bt.nodes[0].total : 0;
        if (fw_tree_neighbours(&bt, fn, callers, callees, 1, &f->base_self, &f->base_total) != 0) {
            st = FW_STORE_ERR_NOMEM;
            goto done;
        }
    }
    fw_section_finish(callers, root, broot, cmp, 10);
    fw_section_finish(callees, root, broot, cmp, 10);
    /* Hottest lines: the line table's rows of this function. */
    fw_store_table_opts lo = {FW_STORE_GRAN_LINE, FW_STORE_SORT_SELF, 0};
    if ((st = fw_store_table_query(req->store, req->q, &lo, &lines)) != FW_STORE_OK)
        goto done;
    fw_report_sql(r, "Lines (table)", lines.sql);
    fw_asection *ls = fw_section(f, "lines", fw_afmt("Hottest lines of %s", fn));
    for (size_t i = 0; ls && i < lines.nrows && ls->nrows < 10; i++) {
        if (strcmp(lines.rows[i].name, fn) != 0 || lines.rows[i].self <= 0)
            continue;
        char label[600];
        snprintf(label, sizeof label, "%s:%lld", lines.rows[i].file ? lines.rows[i].file : "", (long long)lines.rows[i].line);
        if (fw_section_add(ls, label, lines.rows[i].self, root > 0 ? (double)lines.rows[i].self / (double)root : 0) != 0)
            break;
    }
    /* Trend: the function's self share in equal slices of the range. */
    fw_asection *tr = fw_section(f, "trend", fw_afmt("Trend of %s (self, %d slices of the range)", fn, FW_TREND_SLICES));
    int64_t span = req->q->until - req->q->from;
    for (int k = 0; tr && k < FW_TREND_SLICES && span >= FW_TREND_SLICES; k++) {
        fw_store_query sq = *req->q;
        sq.from = req->q->from + span * k / FW_TREND_SLICES;
        sq.until = req->q->from + span * (k + 1) / FW_TREND_SLICES;
        fw_store_table_opts so = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
        fw_store_table s = {0};
        if (fw_store_table_query(req->store, &sq, &so, &s) != FW_STORE_OK)
            break;
        char label[32];
        snprintf(label, sizeof label, "%lld", (long long)sq.from);
        int64_t v = fw_table_self(&s, fn, NULL);
        int bad = fw_section_add(tr, label, v, s.grand_total > 0 ? (double)v / (double)s.grand_total : 0);
        if (k == 0)
            fw_report_sql(r, "Trend slice (table)", s.sql);
        fw_store_table_free(&s);
        if (bad)
            break;
    }
    if (cmp) {
        fw_asection *ab = fw_section(f, "labels", fw_afmt("Where the change of %s comes from (label values)", fn));
        if (ab)
            fw_attribution_rows(req, r, fn, ab);
    }
done:
    free(names);
    fw_store_table_free(&tb);
    fw_store_table_free(&lines);
    fw_store_tree_free(&t);
    fw_store_tree_free(&bt);
    return st;
}
