/*
 * fw_export_svg.c: a flame graph as one self-contained SVG file.
 *
 * Readable anywhere an SVG opens, with no script: every frame is a <g> holding a <title>
 * (the tooltip: "NAME (FILE:LINE)", its value in the console's units and its share of the
 * total), a <rect> and the frame's full name as <text> inside a nested <svg> viewport, which
 * clips it to the rectangle. The names are real text, so a browser's find searches them.
 *
 * Layout is the classic one: the root at the bottom, children above their parent, siblings
 * left to right by name, each frame's width proportional to its total value. The stacks are
 * first merged into a tree (a hash table maps (parent, frame) to the child); frames narrower
 * than FW_SVG_MIN_PX pixels are not drawn, nor anything above them, which bounds the file for
 * huge profiles. x and width are written with two decimals.
 */
#include "fw_export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_json.h"
#include "fw_units.h"
#include "fw_utf8.h"

#define FW_SVG_PAD 10.0
#define FW_SVG_ROW 16.0
#define FW_SVG_TOP 34.0

typedef struct {
    uint32_t frame;
    int32_t parent, first_child, next_sibling;
    int32_t depth;
    int64_t total;
} fw_svg_node;

typedef struct {
    const fw_export *e;
    fw_svg_node *nodes;
    size_t n, cap;
    int32_t *table;   /* node index + 1, keyed on (parent, frame) */
    size_t table_cap;
    int32_t *order;   /* scratch for sorting children */
} fw_svg_tree;

static size_t fw_slot(const fw_svg_tree *t, int32_t parent, uint32_t frame)
{
    uint64_t h = ((uint64_t)(uint32_t)parent << 32 | frame) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (t->table_cap - 1);
}

static int fw_tree_grow(fw_svg_tree *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    fw_svg_node *nodes = realloc(t->nodes, cap * sizeof *nodes);
    if (!nodes)
        return -1;
    t->nodes = nodes;
    t->cap = cap;
    int32_t *table = calloc(cap * 2, sizeof *table);
    if (!table)
        return -1;
    free(t->table);
    t->table = table;
    t->table_cap = cap * 2;
    for (size_t i = 1; i < t->n; i++) {
        size_t k = fw_slot(t, t->nodes[i].parent, t->nodes[i].frame);
        while (t->table[k])
            k = (k + 1) & (t->table_cap - 1);
        t->table[k] = (int32_t)i + 1;
    }
    return 0;
}

/* The child of `parent` for `frame`, created if missing; -1 when out of memory. */
static int32_t fw_child(fw_svg_tree *t, int32_t parent, uint32_t frame)
{
    if (t->n + 1 > t->cap / 2 + t->cap / 4 && fw_tree_grow(t) != 0)
        return -1;
    size_t k = fw_slot(t, parent, frame);
    for (; t->table[k]; k = (k + 1) & (t->table_cap - 1)) {
        const fw_svg_node *c = &t->nodes[t->table[k] - 1];
        if (c->parent == parent && c->frame == frame)
            return t->table[k] - 1;
    }
    int32_t id = (int32_t)t->n++;
    t->nodes[id] = (fw_svg_node){frame, parent, -1, t->nodes[parent].first_child, t->nodes[parent].depth + 1, 0};
    t->nodes[parent].first_child = id;
    t->table[k] = id + 1;
    return id;
}

/* Siblings' order: by name, then file, then line. */
static int fw_frame_cmp(const fw_export *e, uint32_t a, uint32_t b)
{
    const fw_export_frame *x = &e->frames[a], *y = &e->frames[b];
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->file, y->file);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* XML text: &<>"' escaped; bytes XML 1.0 forbids (controls, invalid UTF-8) become U+FFFD. */
static int fw_xml(fw_buf *b, const char *s)
{
    size_t len = strlen(s), i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        size_t ok = fw_utf8_valid_prefix(s + i, len - i);
        for (size_t k = i; k < i + ok && rc == 0; k++) {
            unsigned char c = (unsigned char)s[k];
            const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
                            : c == '\'' ? "&#39;" : (c < 0x20 && c != '\t') ? "\xef\xbf\xbd" : NULL;
            rc = rep ? fw_buf_append(b, rep, strlen(rep)) : fw_buf_append(b, &s[k], 1);
        }
        i += ok;
        if (i < len && rc == 0) {
            rc = fw_buf_append(b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    return rc;
}

static int fw_printf(fw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fw_printf(fw_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof tmp ? -1 : fw_buf_append(b, tmp, (size_t)n);
}

/* A warm colour from the frame's name, stable across exports. */
static void fw_colour(const char *name, char *out, size_t outlen)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++)
        h = (h ^ *s) * 16777619u;
    snprintf(out, outlen, "rgb(%u,%u,%u)", 205 + (h % 50), 80 + ((h >> 8) % 130), 30 + ((h >> 16) % 50));
}

static int fw_frame_svg(fw_buf *b, const fw_export *e, const fw_svg_node *n, double x, double y, double w,
                        int64_t total)
{
    char value[FW_UNITS_MAX], pct[FW_UNITS_MAX], colour[48];
    fw_units_value((double)n->total, e->unit, value, sizeof value);
    fw_units_pct(total > 0 ? (double)n->total / (double)total : 0, pct, sizeof pct);
    const fw_export_frame *f = n->depth ? &e->frames[n->frame] : NULL;
    const char *name = f ? f->name : "all";
    fw_colour(name, colour, sizeof colour);
    int rc = fw_buf_append(b, "<g><title>", 10) | fw_xml(b, name);
    if (f && f->file[0]) {
        rc |= fw_buf_append(b, " (", 2) | fw_xml(b, f->file);
        if (f->line > 0)
            rc |= fw_printf(b, ":%lld", (long long)f->line);
        rc |= fw_buf_append(b, ")", 1);
    }
    rc |= fw_printf(b, " \xe2\x80\x94 %s, %s</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
                       "fill=\"%s\"/><svg x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\"><text x=\"3\" "
                       "y=\"11.5\">", value, pct, x, y, w, FW_SVG_ROW - 1, n->depth ? colour : "rgb(220,220,220)",
                    x, y, w, FW_SVG_ROW - 1);
    rc |= fw_xml(b, name) | fw_buf_append(b, "</text></svg></g>\n", 18);
    return rc ? -1 : 0;
}

/* Draws the tree from the root, each node's children above it, depth first (an explicit
 * stack: profiles can be deeper than the C stack should recurse). */
static int fw_draw(fw_svg_tree *t, fw_buf *b, int64_t total, int32_t max_depth)
{
    const double scale = (FW_SVG_WIDTH - 2 * FW_SVG_PAD) / (double)(total > 0 ? total : 1);
    double *xs = malloc(t->n * sizeof *xs);
    int32_t *stack = malloc(t->n * sizeof *stack);
    if (!xs || !stack) {
        free(xs);
        free(stack);
        return -1;
    }
    size_t sp = 0;
    int rc = 0;
    xs[0] = FW_SVG_PAD;
    stack[sp++] = 0;
    while (sp && rc == 0) {
        int32_t id = stack[--sp];
        const fw_svg_node *n = &t->nodes[id];
        double w = (double)n->total * scale;
        if (w < FW_SVG_MIN_PX)
            continue;
        double y = FW_SVG_TOP + (double)(max_depth - n->depth) * FW_SVG_ROW;
        rc = fw_frame_svg(b, t->e, n, xs[id], y, w, total);
        /* Children sorted by name; pushed in reverse so the first is drawn first. */
        size_t nc = 0;
        for (int32_t c = n->first_child; c >= 0; c = t->nodes[c].next_sibling)
            t->order[nc++] = c;
        /* Insertion sort by frame: siblings are few, and already nearly in order. */
        for (size_t i = 1; i < nc; i++) {
            int32_t v = t->order[i];
            size_t k = i;
            while (k > 0 && fw_frame_cmp(t->e, t->nodes[t->order[k - 1]].frame, t->nodes[v].frame) > 0) {
                t->order[k] = t->order[k - 1];
                k--;
            }
            t->order[k] = v;
        }
        double cx = xs[id];
        for (size_t i = 0; i < nc; i++) {
            xs[t->order[i]] = cx;
            cx += (double)t->nodes[t->order[i]].total * scale;
        }
        for (size_t i = nc; i-- > 0;)
            stack[sp++] = t->order[i];
    }
    free(xs);
    free(stack);
    return rc;
}

int fw_export_svg(const fw_export *e, const char *title, fw_buf *out)
{
    fw_svg_tree t = {.e = e};
    int rc = fw_tree_grow(&t);
    if (rc == 0) {
        t.nodes[0] = (fw_svg_node){0, -1, -1, -1, 0, 0};
        t.n = 1;
    }
    int64_t total = 0;
    int32_t max_depth = 0;
    for (size_t i = 0; i < e->nstacks && rc == 0; i++) {
        const fw_export_stack *s = &e->stacks[i];
        int32_t cur = 0;
        if (__builtin_add_overflow(t.nodes[0].total, s->value, &t.nodes[0].total))
            t.nodes[0].total = INT64_MAX;
        for (size_t k = 0; k < s->depth && rc == 0; k++) {
            cur = fw_child(&t, cur, e->stack_frames[s->offset + k]);
            if (cur < 0) {
                rc = -1;
                break;
            }
            if (__builtin_add_overflow(t.nodes[cur].total, s->value, &t.nodes[cur].total))
                t.nodes[cur].total = INT64_MAX;
            if (t.nodes[cur].depth > max_depth)
                max_depth = t.nodes[cur].depth;
        }
    }
    total = rc == 0 ? t.nodes[0].total : 0;
    if (rc == 0 && !(t.order = malloc(t.n * sizeof *t.order)))
        rc = -1;
    double height = FW_SVG_TOP + (double)(max_depth + 1) * FW_SVG_ROW + FW_SVG_PAD;
    char value[FW_UNITS_MAX];
    fw_units_value((double)total, e->unit, value, sizeof value);
    if (rc == 0) {
        rc = fw_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%.0f\" "
                            "viewBox=\"0 0 %d %.0f\" font-family=\"monospace\" font-size=\"11\">\n"
                            "<style>g:hover rect{stroke:#000;stroke-width:0.5}text{fill:#000}</style>\n"
                            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\" class=\"background\"/>\n"
                            "<text x=\"%.0f\" y=\"20\" font-size=\"14\">", FW_SVG_WIDTH, height, FW_SVG_WIDTH,
                       height, FW_SVG_PAD);
        rc |= fw_xml(out, title);
        rc |= fw_buf_append(out, " \xe2\x80\x94 ", 5) | fw_xml(out, e->type);
        rc |= fw_printf(out, ", total %s</text>\n", value);
        rc |= fw_printf(out, "<g class=\"frames\" data-total=\"%lld\" data-unit=\"", (long long)total);
        rc |= fw_xml(out, e->unit);
        rc |= fw_buf_append(out, "\">\n", 3);
    }
    if (rc == 0)
        rc = fw_draw(&t, out, total, max_depth);
    if (rc == 0)
        rc = fw_buf_append(out, "</g>\n</svg>\n", 12);
    free(t.nodes);
    free(t.table);
    free(t.order);
    return rc ? -1 : 0;
}
