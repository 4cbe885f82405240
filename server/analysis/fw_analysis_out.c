/*
 * fw_analysis_out: a report (fw_analysis.h) as the API's JSON and as the CLI's text.
 *
 * Both are written from the same fw_report, so `flamewatch analyze`, the console and curl read
 * the same findings with the same numbers. Each finding with a function carries a console link
 * that opens the view with that function searched (highlighted) in the flame graph; comparison
 * links open the comparison page when the baseline is the same range shifted by whole hours.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_analysis.h"

static const char *const fw_level_names[] = {"hot", "warn", "info", "ok"};

typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} fw_sb;

static void fw_sb_add(fw_sb *b, const char *t, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, t, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void fw_sb_printf(fw_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fw_sb_printf(fw_sb *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        fw_sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    fw_sb_add(b, big, (size_t)n);
    free(big);
}

static void fw_sb_param(fw_sb *b, const char *k, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    fw_sb_add(b, b->len && strchr(b->s, '?') ? "&" : "?", 1);
    fw_sb_add(b, k, strlen(k));
    fw_sb_add(b, "=", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p)) {
            fw_sb_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            fw_sb_add(b, e, 3);
        }
    }
}

char *fw_analysis_link(const fw_link_ctx *c, const char *focus)
{
    fw_sb b = {0};
    char num[32];
    int64_t shift = c->base ? c->q->from - c->base->from : 0;
    int compare = c->base && shift > 0 && shift % 3600 == 0 && c->q->until - c->q->from == c->base->until - c->base->from;
    fw_sb_add(&b, "/", 1);
    fw_sb_param(&b, "page", compare ? "compare" : "query");
    fw_sb_param(&b, "app", c->q->app);
    fw_sb_param(&b, "type", c->q->type);
    snprintf(num, sizeof num, "%lld", (long long)c->q->from);
    fw_sb_param(&b, "from", num);
    snprintf(num, sizeof num, "%lld", (long long)(c->q->until - 1)); /* 'to' is inclusive */
    fw_sb_param(&b, "to", num);
    if (compare) {
        snprintf(num, sizeof num, "%lld", (long long)(shift / 3600));
        fw_sb_param(&b, "hours", num);
    }
    for (size_t i = 0; i < c->q->nfilters; i++) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s=%s", c->q->filters[i].key, c->q->filters[i].value);
        fw_sb_param(&b, "label", kv);
    }
    if (focus)
        fw_sb_param(&b, "search", focus);
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

static void fw_json_share(fw_json *j, const char *k, double v)
{
    fw_json_kv_double(j, k, (double)(int64_t)(v * 1e6 + (v >= 0 ? 0.5 : -0.5)) / 1e6);
}

static void fw_rows_json(fw_json *j, const fw_asection *s)
{
    fw_json_arr_begin(j);
    for (size_t i = 0; i < s->nrows; i++) {
        const fw_arow *w = &s->rows[i];
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "label", w->label);
        fw_json_kv_int(j, "value", w->value);
        fw_json_share(j, "share", w->share);
        if (w->has_base) {
            fw_json_kv_int(j, "baseValue", w->base_value);
            fw_json_share(j, "baseShare", w->base_share);
            fw_json_kv_double(j, "z", w->z);
            fw_json_kv_int(j, "significant", w->significant);
        }
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

static void fw_focus_json(fw_json *j, const fw_report *r, const fw_link_ctx *lc)
{
    const fw_afocus *f = r->focus;
    fw_json_obj_begin(j);
    fw_json_kv_str(j, "function", f->name);
    fw_json_kv_bool(j, "found", f->found);
    if (f->found) {
        fw_json_kv_str(j, "file", f->file ? f->file : "");
        fw_json_kv_int(j, "self", f->self);
        fw_json_kv_int(j, "total", f->total);
        fw_json_share(j, "selfShare", r->total > 0 ? (double)f->self / (double)r->total : 0);
        fw_json_share(j, "totalShare", r->total > 0 ? (double)f->total / (double)r->total : 0);
        if (r->comparison) {
            fw_json_kv_int(j, "baseSelf", f->base_self);
            fw_json_kv_int(j, "baseTotal", f->base_total);
            fw_json_share(j, "baseSelfShare", r->base_total > 0 ? (double)f->base_self / (double)r->base_total : 0);
            fw_json_share(j, "baseTotalShare", r->base_total > 0 ? (double)f->base_total / (double)r->base_total : 0);
        }
        char *link = fw_analysis_link(lc, f->name);
        fw_json_kv_str(j, "link", link ? link : "");
        free(link);
    }
    fw_json_key(j, "sections");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < f->nsections; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "id", f->sections[i].id);
        fw_json_kv_str(j, "title", f->sections[i].title);
        fw_json_key(j, "rows");
        fw_rows_json(j, &f->sections[i]);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
    fw_json_obj_end(j);
}

void fw_report_json(fw_json *j, const fw_report *r, const fw_link_ctx *lc)
{
    fw_json_kv_str(j, "mode", r->comparison ? "comparison" : "profile");
    fw_json_kv_int(j, "total", r->total);
    if (r->comparison) {
        fw_json_kv_int(j, "baseTotal", r->base_total);
        fw_json_kv_double(j, "zThreshold", FW_STORE_Z_SIGNIFICANT);
    }
    fw_json_key(j, "findings");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < r->n; i++) {
        const fw_finding *f = &r->findings[i];
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "level", fw_level_names[f->level]);
        fw_json_kv_str(j, "id", f->id);
        fw_json_kv_str(j, "title", f->title ? f->title : "");
        fw_json_kv_str(j, "detail", f->detail ? f->detail : "");
        if (f->suggestion)
            fw_json_kv_str(j, "suggestion", f->suggestion);
        if (f->share >= 0) {
            fw_json_share(j, "share", f->share);
            fw_json_kv_int(j, "value", f->value);
        }
        fw_json_key(j, "frames");
        fw_json_arr_begin(j);
        for (size_t k = 0; k < f->nframes; k++)
            fw_json_str(j, f->frames[k]);
        fw_json_arr_end(j);
        if (f->focus) {
            fw_json_kv_str(j, "focus", f->focus);
            char *link = fw_analysis_link(lc, f->focus);
            fw_json_kv_str(j, "link", link ? link : "");
            free(link);
        }
        if (f->has_change) {
            fw_json_key(j, "change");
            fw_json_obj_begin(j);
            fw_json_kv_str(j, "status", f->change.status);
            fw_json_share(j, "baseShare", f->change.base_share);
            fw_json_share(j, "cmpShare", f->change.cmp_share);
            fw_json_share(j, "delta", f->change.cmp_share - f->change.base_share);
            fw_json_kv_int(j, "baseValue", f->change.base_value);
            fw_json_kv_int(j, "cmpValue", f->change.cmp_value);
            fw_json_kv_double(j, "z", f->change.z);
            fw_json_kv_int(j, "significant", f->change.significant);
            fw_json_obj_end(j);
        }
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
    if (r->focus) {
        fw_json_key(j, "focus");
        fw_focus_json(j, r, lc);
    }
    fw_json_key(j, "sql");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < r->nsql; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "title", r->sql[i].title);
        fw_json_kv_str(j, "sql", r->sql[i].sql);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}

char *fw_report_text(const fw_report *r, const fw_link_ctx *lc, size_t *len)
{
    fw_sb b = {0};
    char v[48];
    fw_fmt_value(v, sizeof v, r->total, r->unit);
    fw_sb_printf(&b, "%s of %s (%s), total %s\n\n", r->comparison ? "Comparison" : "Analysis", lc->q->app,
                 lc->q->type, v);
    for (size_t i = 0; i < r->n; i++) {
        const fw_finding *f = &r->findings[i];
        fw_sb_printf(&b, "[%s] %s\n", fw_level_names[f->level], f->title ? f->title : "");
        if (f->detail && *f->detail)
            fw_sb_printf(&b, "    %s\n", f->detail);
        if (f->suggestion)
            fw_sb_printf(&b, "    Suggestion: %s\n", f->suggestion);
        if (f->focus) {
            char *link = fw_analysis_link(lc, f->focus);
            fw_sb_printf(&b, "    View: %s\n", link ? link : "");
            free(link);
        }
    }
    if (r->focus) {
        const fw_afocus *f = r->focus;
        if (!f->found) {
            fw_sb_printf(&b, "\nNo function matches '%s' in this range.\n", f->name);
        } else {
            char s1[48], s2[48];
            fw_fmt_value(s1, sizeof s1, f->self, r->unit);
            fw_fmt_value(s2, sizeof s2, f->total, r->unit);
            fw_sb_printf(&b, "\n%s (%s): self %s (%.1f%%), total %s (%.1f%%)\n", f->name, f->file ? f->file : "", s1,
                         r->total > 0 ? 100.0 * (double)f->self / (double)r->total : 0, s2,
                         r->total > 0 ? 100.0 * (double)f->total / (double)r->total : 0);
            for (size_t i = 0; i < f->nsections; i++) {
                fw_sb_printf(&b, "\n  %s\n", f->sections[i].title);
                if (!f->sections[i].nrows)
                    fw_sb_printf(&b, "    (none)\n");
                for (size_t k = 0; k < f->sections[i].nrows; k++) {
                    const fw_arow *w = &f->sections[i].rows[k];
                    fw_fmt_value(s1, sizeof s1, w->value, r->unit);
                    if (w->has_base)
                        fw_sb_printf(&b, "    %6.1f%% -> %6.1f%%  %-12s %s\n", w->base_share * 100, w->share * 100, s1, w->label);
                    else
                        fw_sb_printf(&b, "    %6.1f%%  %-12s %s\n", w->share * 100, s1, w->label);
                }
            }
        }
    }
    if (r->nsql) {
        fw_sb_printf(&b, "\nSQL behind these numbers:\n");
        for (size_t i = 0; i < r->nsql; i++)
            fw_sb_printf(&b, "-- %s\n%s;\n", r->sql[i].title, r->sql[i].sql);
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}
