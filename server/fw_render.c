/*
 * fw_render: text and pprof renderings of store results.
 *
 * Folded and pprof outputs reconstruct each stack by walking parent indexes from a node up to
 * the root: the store returns the tree in pre-order with parents, so a node's stack is its
 * ancestor chain and its own `self` value is exactly the value of that stack. Nodes folded
 * into "other" keep their name so totals still add up when a node limit applied.
 */
#include "fw_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_export.h"
#include "fw_gzip.h"
#include "fw_units.h"

static int fw_bprintf(fw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fw_bprintf(fw_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof tmp)
        return fw_buf_append(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = fw_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

static int fw_frame(fw_buf *b, const char *name, const char *file, int64_t line)
{
    if (file && *file && line > 0)
        return fw_bprintf(b, "%s (%s:%lld)", name, file, (long long)line);
    if (file && *file)
        return fw_bprintf(b, "%s (%s)", name, file);
    return fw_buf_append(b, name, strlen(name));
}

int fw_render_folded(const fw_store_tree *t, fw_buf *out)
{
    int32_t chain[1100];
    for (size_t i = 1; i < t->nnodes; i++) {
        const fw_store_node *n = &t->nodes[i];
        if (n->self <= 0)
            continue;
        size_t depth = 0;
        for (int32_t k = (int32_t)i; k > 0 && depth < sizeof chain / sizeof chain[0]; k = t->nodes[k].parent)
            chain[depth++] = k;
        for (size_t d = depth; d-- > 0;) {
            const fw_store_node *f = &t->nodes[chain[d]];
            if (fw_frame(out, f->name, f->file, f->line) != 0 || (d && fw_buf_append(out, ";", 1) != 0))
                return -1;
        }
        if (fw_bprintf(out, " %lld\n", (long long)n->self) != 0)
            return -1;
    }
    return 0;
}

int fw_render_pprof(const fw_store_tree *t, const char *type, const char *unit, int64_t from, int64_t until,
                    fw_buf *out)
{
    fw_sample_type st = {type, unit && *unit ? unit : "count"};
    fw_profile *p = fw_profile_new(&st, 1);
    if (!p)
        return -1;
    uint64_t *loc = calloc(t->nnodes ? t->nnodes : 1, sizeof *loc);
    int rc = loc ? 0 : -1;
    uint64_t ids[FW_PROFILE_MAX_DEPTH];
    for (size_t i = 1; i < t->nnodes && rc == 0; i++) {
        const fw_store_node *n = &t->nodes[i];
        uint64_t fid;
        if (fw_profile_function(p, n->name, n->file ? n->file : "", 0, &fid) != FW_OK ||
            fw_profile_location(p, fid, n->line, &loc[i]) != FW_OK) {
            rc = -1;
            break;
        }
        if (n->self <= 0)
            continue;
        size_t depth = 0; /* leaf first, as pprof wants */
        for (int32_t k = (int32_t)i; k > 0 && depth < FW_PROFILE_MAX_DEPTH; k = t->nodes[k].parent)
            ids[depth++] = loc[k];
        if (fw_profile_add(p, ids, depth, NULL, 0, &n->self) != FW_OK)
            rc = -1;
    }
    free(loc);
    fw_profile_set_time(p, from * 1000000000LL, (until - from) * 1000000000LL);
    fw_buf raw = {0};
    if (rc == 0 && fw_pprof_encode(p, &raw) != FW_OK)
        rc = -1;
    if (rc == 0 && fw_gzip_compress(raw.data, raw.len, 6, out) != FW_GZIP_OK)
        rc = -1;
    fw_buf_free(&raw);
    fw_profile_free(p);
    return rc;
}

int fw_render_export(const fw_store_tree *t, const char *type, const char *unit, const char *name, int svg,
                     fw_buf *out)
{
    fw_export *e = fw_export_new(type, unit);
    uint32_t *ids = calloc(t->nnodes ? t->nnodes : 1, sizeof *ids);
    uint32_t chain[FW_EXPORT_MAX_DEPTH];
    uint32_t group = 0;
    int rc = e && ids && fw_export_group_id(e, "", &group) == 0 ? 0 : -1;
    for (size_t i = 1; i < t->nnodes && rc == 0; i++) {
        const fw_store_node *n = &t->nodes[i];
        rc = fw_export_frame_id(e, n->name, n->file, n->line, &ids[i]);
        if (rc != 0 || n->self <= 0)
            continue;
        /* Parents come before children in pre-order, so every ancestor has its id already. */
        size_t depth = 0;
        for (int32_t k = (int32_t)i; k > 0; k = t->nodes[k].parent)
            depth++;
        size_t skip = depth > FW_EXPORT_MAX_DEPTH ? depth - FW_EXPORT_MAX_DEPTH : 0;
        size_t d = depth - skip;
        for (int32_t k = (int32_t)i; k > 0; k = t->nodes[k].parent) {
            if (skip) {
                skip--;
                continue;
            }
            chain[--d] = ids[k];
        }
        rc = fw_export_add(e, group, chain, depth > FW_EXPORT_MAX_DEPTH ? FW_EXPORT_MAX_DEPTH : depth, n->self);
    }
    if (rc == 0)
        rc = svg ? fw_export_svg(e, name, out) : fw_export_speedscope(e, name, out);
    free(ids);
    fw_export_free(e);
    return rc;
}

static double fw_pct(int64_t v, int64_t total)
{
    return total > 0 ? 100.0 * (double)v / (double)total : 0.0;
}

int fw_render_table_text(const fw_store_table *t, fw_buf *out)
{
    if (fw_bprintf(out, "%15s %7s %15s %7s  %s\n", "SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION") != 0)
        return -1;
    for (size_t i = 0; i < t->nrows; i++) {
        const fw_store_row *r = &t->rows[i];
        if (fw_bprintf(out, "%15lld %6.2f%% %15lld %6.2f%%  ", (long long)r->self, fw_pct(r->self, t->grand_total),
                       (long long)r->total, fw_pct(r->total, t->grand_total)) != 0 ||
            fw_frame(out, r->name, r->file, r->line) != 0 || fw_buf_append(out, "\n", 1) != 0)
            return -1;
    }
    return fw_bprintf(out, "total %lld %s\n", (long long)t->grand_total, t->unit ? t->unit : "");
}

int fw_render_diff_text(const fw_store_diff *d, fw_buf *out)
{
    if (fw_bprintf(out, "%9s %9s %9s %8s %-5s  %s\n", "BASE%", "CMP%", "DELTA", "Z", "SIG", "STACK") != 0)
        return -1;
    for (size_t i = 1; i < d->nnodes; i++) {
        const fw_store_diff_node *n = &d->nodes[i];
        const char *sig = n->significant > 0 ? "up" : n->significant < 0 ? "down" : "";
        if (fw_bprintf(out, "%8.2f%% %8.2f%% %+8.2f%% %8.2f %-5s  %*s", 100 * n->base_share, 100 * n->cmp_share,
                       100 * (n->cmp_share - n->base_share), n->z, sig, 2 * (n->depth - 1), "") != 0 ||
            fw_frame(out, n->name, n->file, n->line) != 0 || fw_buf_append(out, "\n", 1) != 0)
            return -1;
    }
    return 0;
}

/* `s` right-aligned in `width` characters (not bytes: "µs" and "−" are two and three bytes). */
static int fw_cell(fw_buf *b, const char *s, size_t width)
{
    for (size_t w = fw_units_width(s); w < width; w++)
        if (fw_buf_append(b, " ", 1) != 0)
            return -1;
    return fw_buf_append(b, s, strlen(s));
}

int fw_render_table_human(const fw_store_table *t, fw_buf *out)
{
    if (fw_bprintf(out, "%10s %7s %10s %7s  %s\n", "SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION") != 0)
        return -1;
    double total = t->grand_total > 0 ? (double)t->grand_total : 1;   /* the console's `total || 1` */
    char a[FW_UNITS_MAX], b[FW_UNITS_MAX], c[FW_UNITS_MAX], d[FW_UNITS_MAX];
    for (size_t i = 0; i < t->nrows; i++) {
        const fw_store_row *r = &t->rows[i];
        fw_units_value((double)r->self, t->unit, a, sizeof a);
        fw_units_pct((double)r->self / total, b, sizeof b);
        fw_units_value((double)r->total, t->unit, c, sizeof c);
        fw_units_pct((double)r->total / total, d, sizeof d);
        if (fw_cell(out, a, 10) != 0 || fw_cell(out, b, 8) != 0 || fw_cell(out, c, 11) != 0 ||
            fw_cell(out, d, 8) != 0 || fw_buf_append(out, "  ", 2) != 0 ||
            fw_frame(out, r->name, r->file, r->line) != 0 || fw_buf_append(out, "\n", 1) != 0)
            return -1;
    }
    fw_units_value((double)t->grand_total, t->unit, a, sizeof a);
    return fw_bprintf(out, "total %s\n", a);
}

int fw_render_diff_human(const fw_store_diff *d, fw_buf *out)
{
    if (fw_bprintf(out, "%10s %7s %10s %7s %11s %8s %-5s  %s\n", "BASE", "BASE%", "CMP", "CMP%", "CHANGE", "Z",
                   "SIG", "STACK") != 0)
        return -1;
    char a[FW_UNITS_MAX], b[FW_UNITS_MAX], c[FW_UNITS_MAX], e[FW_UNITS_MAX], f[FW_UNITS_MAX];
    for (size_t i = 1; i < d->nnodes; i++) {
        const fw_store_diff_node *n = &d->nodes[i];
        const char *sig = n->significant > 0 ? "up" : n->significant < 0 ? "down" : "";
        fw_units_value((double)n->base_total, d->unit, a, sizeof a);
        fw_units_pct(n->base_share, b, sizeof b);
        fw_units_value((double)n->cmp_total, d->unit, c, sizeof c);
        fw_units_pct(n->cmp_share, e, sizeof e);
        fw_units_signed_pct(n->cmp_share - n->base_share, f, sizeof f);
        if (fw_cell(out, a, 10) != 0 || fw_cell(out, b, 8) != 0 || fw_cell(out, c, 11) != 0 ||
            fw_cell(out, e, 8) != 0 || fw_cell(out, f, 12) != 0 ||
            fw_bprintf(out, " %8.2f %-5s  %*s", n->z, sig, 2 * (n->depth - 1), "") != 0 ||
            fw_frame(out, n->name, n->file, n->line) != 0 || fw_buf_append(out, "\n", 1) != 0)
            return -1;
    }
    return 0;
}

static int fw_tsv_cell(fw_buf *b, const fw_store_value *v)
{
    switch (v->type) {
    case FW_STORE_VAL_INT: return fw_bprintf(b, "%lld", (long long)v->i);
    case FW_STORE_VAL_REAL: return fw_bprintf(b, "%.17g", v->d);
    case FW_STORE_VAL_TEXT:
        for (size_t i = 0; i < v->len; i++) {
            char c = v->s[i];
            /* Tabs and newlines inside a cell would break the row structure. */
            if (fw_buf_append(b, (c == '\t' || c == '\n' || c == '\r') ? " " : &c, 1) != 0)
                return -1;
        }
        return 0;
    case FW_STORE_VAL_BLOB: return fw_bprintf(b, "<blob %zu bytes>", v->len);
    default: return fw_buf_append(b, "NULL", 4);
    }
}

int fw_render_sql_tsv(const fw_store_sql_result *r, fw_buf *out)
{
    for (size_t c = 0; c < r->ncolumns; c++)
        if (fw_bprintf(out, "%s%s", c ? "\t" : "", r->columns[c]) != 0)
            return -1;
    if (fw_buf_append(out, "\n", 1) != 0)
        return -1;
    for (size_t i = 0; i < r->nrows; i++) {
        for (size_t c = 0; c < r->ncolumns; c++)
            if ((c && fw_buf_append(out, "\t", 1) != 0) || fw_tsv_cell(out, &r->cells[i * r->ncolumns + c]) != 0)
                return -1;
        if (fw_buf_append(out, "\n", 1) != 0)
            return -1;
    }
    return r->truncated ? fw_bprintf(out, "# truncated\n") : 0;
}
