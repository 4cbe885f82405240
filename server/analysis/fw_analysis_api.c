/*
 * fw_analysis_api: GET /api/v1/analysis and POST /api/v1/ask.
 *
 * The analysis takes the parameters of the flame graph (app, type, from, to, label=K=V) and of
 * the diff (baseFrom, baseTo, baseLabel), plus baselineHours=N (the same range N hours earlier),
 * focus=FUNCTION and format=json|text. Without a baseline it analyses one profile; with one, the
 * change. The question endpoint reads a flat JSON object {question, app, type, from, to,
 * labels: "k=v,k2=v2", baselineHours} and answers with fw_ask. Both write what they ran as `sql`.
 *
 * Parameters are validated before the store is touched, with the same messages as fw_api.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_analysis.h"
#include "fw_analysis_api.h"
#include "fw_ask.h"
#include "../fw_endpoint.h"
#include "../fw_util.h"
#include "fw_jobject.h"

#define FW_A_MAX_FILTERS 32

typedef struct {
    fw_label labels[FW_A_MAX_FILTERS];
    char buf[8192];
    size_t used;
    size_t n;
} fw_afilters;

static int fw_a_add_filter(fw_afilters *f, const char *kv, size_t len, const char *param, fw_http_resp *resp)
{
    const char *eq = memchr(kv, '=', len);
    if (!eq || eq == kv) {
        fw_http_error(resp, 400, "%s: '%.*s' is not KEY=VALUE", param, (int)(len > 64 ? 64 : len), kv);
        return -1;
    }
    if (f->n == FW_A_MAX_FILTERS || f->used + len + 1 > sizeof f->buf) {
        fw_http_error(resp, 400, "%s: at most %d filters", param, FW_A_MAX_FILTERS);
        return -1;
    }
    char *c = f->buf + f->used;
    memcpy(c, kv, len);
    c[len] = '\0';
    f->used += len + 1;
    c[eq - kv] = '\0';
    f->labels[f->n].key = c;
    f->labels[f->n].value = c + (eq - kv) + 1;
    f->n++;
    return 0;
}

static int fw_a_filters(const fw_http_req *req, const char *param, fw_afilters *f, fw_http_resp *resp)
{
    const char *vals[FW_A_MAX_FILTERS + 1];
    size_t nv = fw_http_args(req, param, vals, FW_A_MAX_FILTERS + 1);
    if (nv > FW_A_MAX_FILTERS) {
        fw_http_error(resp, 400, "%s: at most %d filters", param, FW_A_MAX_FILTERS);
        return -1;
    }
    for (size_t i = 0; i < nv; i++)
        if (fw_a_add_filter(f, vals[i], strlen(vals[i]), param, resp) != 0)
            return -1;
    return 0;
}

static int fw_a_time(const char *v, const char *name, int64_t now, int64_t *out, fw_http_resp *resp)
{
    if (fw_time_parse(v, now, out) != 0) {
        fw_http_error(resp, 400, "%s: '%.64s' is not a time (unix seconds, RFC 3339, 'now' or 'now-15m')", name, v);
        return -1;
    }
    return 0;
}

/* app/type/from/to into q; 'to' is inclusive to the second, as in fw_api.c. */
static int fw_a_query(const char *app, const char *type, const char *from, const char *to, int64_t now,
                      fw_store_query *q, fw_http_resp *resp)
{
    memset(q, 0, sizeof *q);
    if (!app || !*app) {
        fw_http_error(resp, 400, "missing parameter 'app'");
        return -1;
    }
    q->app = app;
    q->type = type && *type ? type : "cpu";
    if (fw_a_time(from ? from : "now-15m", "from", now, &q->from, resp) != 0 ||
        fw_a_time(to ? to : "now", "to", now, &q->until, resp) != 0)
        return -1;
    q->until += 1;
    if (q->until <= q->from) {
        fw_http_error(resp, 400, "the range is empty: 'to' (%lld) must be after 'from' (%lld)", (long long)q->until,
                      (long long)q->from);
        return -1;
    }
    return 0;
}

static int fw_a_hours(const char *v, int64_t *out, fw_http_resp *resp)
{
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (v && (!*v || *end || n < 1 || n > 24LL * 366)) {
        fw_http_error(resp, 400, "baselineHours: '%.32s' is not a whole number of hours from 1 to 8784", v);
        return -1;
    }
    *out = n;
    return 0;
}

static fw_store_query fw_a_shift(const fw_store_query *q, int64_t hours)
{
    fw_store_query b = *q;
    b.from -= hours * 3600;
    b.until -= hours * 3600;
    return b;
}

static int fw_a_http_status(fw_store_status st)
{
    switch (st) {
    case FW_STORE_ERR_INVALID: return 400;
    case FW_STORE_ERR_NOTFOUND: return 404;
    case FW_STORE_ERR_DENIED: return 403;
    case FW_STORE_ERR_TIMEOUT:
    case FW_STORE_ERR_BUSY: return 503;
    default: return 500;
    }
}

/* The query endpoints' header (fw_endpoint.h), and the baseline's range when there is one. */
static void fw_a_header(fw_json *j, const fw_store_query *q, const fw_store_query *base, const char *unit)
{
    fw_ep_query_header(j, q, unit);
    if (base) {
        fw_json_key(j, "baseline");
        fw_json_obj_begin(j);
        fw_json_kv_int(j, "from", base->from);
        fw_json_kv_int(j, "to", base->until);
        fw_json_obj_end(j);
    }
}

void fw_h_analysis(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_store_query q, base;
    fw_afilters f = {.used = 0, .n = 0}, bf = {.used = 0, .n = 0};
    if (fw_a_query(fw_http_arg(req, "app"), fw_http_arg(req, "type"), fw_http_arg(req, "from"),
                   fw_http_arg(req, "to") ? fw_http_arg(req, "to") : fw_http_arg(req, "until"), req->now, &q, resp) != 0 ||
        fw_a_filters(req, "label", &f, resp) != 0 || fw_a_filters(req, "baseLabel", &bf, resp) != 0)
        return;
    q.filters = f.labels;
    q.nfilters = f.n;
    const char *fmt = fw_http_arg(req, "format"), *focus = fw_http_arg(req, "focus");
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
        fw_http_error(resp, 400, "format: '%.32s' (expected json or text)", fmt);
        return;
    }
    if (focus && (!*focus || strlen(focus) > 512)) {
        fw_http_error(resp, 400, "focus: a function name of 1 to 512 bytes");
        return;
    }
    int64_t hours = 0;
    const char *bfrom = fw_http_arg(req, "baseFrom"), *bto = fw_http_arg(req, "baseTo");
    if (fw_a_hours(fw_http_arg(req, "baselineHours"), &hours, resp) != 0)
        return;
    if (hours && (bfrom || bto)) {
        fw_http_error(resp, 400, "give the baseline either as baselineHours or as baseFrom/baseTo, not both");
        return;
    }
    int cmp = hours || bfrom || bto || bf.n;
    base = hours ? fw_a_shift(&q, hours) : q;
    if ((bfrom && fw_a_time(bfrom, "baseFrom", req->now, &base.from, resp) != 0) ||
        (bto && fw_a_time(bto, "baseTo", req->now, &base.until, resp) != 0))
        return;
    if (bto)
        base.until += 1;
    if (cmp && base.until <= base.from) {
        fw_http_error(resp, 400, "the baseline range is empty");
        return;
    }
    if (bf.n) {
        base.filters = bf.labels;
        base.nfilters = bf.n;
    }
    fw_analysis_req ar = {s->store, &q, cmp ? &base : NULL, focus, 0};
    fw_report r;
    fw_store_status st = fw_analysis_run(&ar, &r);
    if (st != FW_STORE_OK) {
        fw_http_error(resp, fw_a_http_status(st), "%s", fw_store_strerror(st));
        return;
    }
    fw_link_ctx lc = {&q, cmp ? &base : NULL};
    if (fmt && strcmp(fmt, "text") == 0) {
        size_t len = 0;
        char *text = fw_report_text(&r, &lc, &len);
        fw_report_free(&r);
        if (!text)
            fw_http_error(resp, 500, "cannot render the result (out of memory)");
        else
            fw_http_text(resp, 200, "text/plain; charset=utf-8", text, len);
        return;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_a_header(&j, &q, cmp ? &base : NULL, r.unit);
    fw_report_json(&j, &r, &lc);
    fw_json_obj_end(&j);
    fw_report_free(&r);
    fw_http_json(resp, 200, &j);
}

static const char *fw_a_member_str(const fw_jobject *o, const char *key, int *bad)
{
    const fw_jmember *m = fw_jobject_get(o, key);
    if (!m || m->type == FW_JV_NULL)
        return NULL;
    if (m->type != FW_JV_STRING) {
        *bad = 1;
        return NULL;
    }
    return m->str;
}

/* The CLI's text: the answer, its numbers, the view, the SQL (or the help list). */
static char *fw_a_answer_text(const fw_answer *a, size_t *len)
{
    size_t cap = 4096, used = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    b[0] = '\0';
#define FW_APPEND(...)                                                                 \
    do {                                                                               \
        int n_ = snprintf(NULL, 0, __VA_ARGS__);                                       \
        if (n_ < 0)                                                                    \
            break;                                                                     \
        if (used + (size_t)n_ + 1 > cap) {                                             \
            size_t c_ = (used + (size_t)n_ + 1) * 2;                                   \
            char *nb_ = realloc(b, c_);                                                \
            if (!nb_) {                                                                \
                free(b);                                                               \
                return NULL;                                                           \
            }                                                                          \
            b = nb_;                                                                   \
            cap = c_;                                                                  \
        }                                                                              \
        used += (size_t)snprintf(b + used, cap - used, __VA_ARGS__);                   \
    } while (0)
    FW_APPEND("%s\n", a->answer ? a->answer : "");
    for (size_t i = 0; i < a->rows.nrows; i++) {
        const fw_arow *w = &a->rows.rows[i];
        char v[48];
        fw_fmt_value(v, sizeof v, w->value, a->unit);
        if (w->has_base)
            FW_APPEND("  %6.1f%% -> %6.1f%%  %-12s %s%s\n", w->base_share * 100, w->share * 100, v, w->label,
                      w->significant ? " (significant)" : " (within noise)");
        else
            FW_APPEND("  %6.1f%%  %-12s %s\n", w->share * 100, v, w->label);
    }
    if (!a->understood)
        for (const char *const *e = fw_ask_examples; *e; e++)
            FW_APPEND("  - %s\n", *e);
    if (a->link)
        FW_APPEND("View: %s\n", a->link);
    if (a->rep.nsql)
        FW_APPEND("\nSQL behind these numbers:\n");
    for (size_t i = 0; i < a->rep.nsql; i++)
        FW_APPEND("-- %s\n%s;\n", a->rep.sql[i].title, a->rep.sql[i].sql);
#undef FW_APPEND
    *len = used;
    return b;
}

void fw_h_ask(fw_server *s, const fw_http_req *req, fw_http_resp *resp)
{
    fw_jobject o;
    char err[512];
    if (fw_jobject_parse((const char *)req->body, req->body_len, &o, err, sizeof err) != 0) {
        fw_http_error(resp, 400, "%s (expected {\"question\": \"...\", \"app\": \"...\"})", err);
        return;
    }
    int bad = 0;
    const char *question = fw_a_member_str(&o, "question", &bad), *app = fw_a_member_str(&o, "app", &bad);
    const char *type = fw_a_member_str(&o, "type", &bad), *labels = fw_a_member_str(&o, "labels", &bad);
    const char *format = fw_a_member_str(&o, "format", &bad);
    const fw_jmember *fm = fw_jobject_get(&o, "from"), *tm = fw_jobject_get(&o, "to"), *hm = fw_jobject_get(&o, "baselineHours");
    char fbuf[32], tbuf[32], hbuf[32];
    const char *from = NULL, *to = NULL, *hours_s = NULL;
    if (fm && fm->type == FW_JV_NUMBER && fm->is_int)
        snprintf(fbuf, sizeof fbuf, "%lld", (long long)fm->i), from = fbuf;
    else if (fm && fm->type == FW_JV_STRING)
        from = fm->str;
    else if (fm && fm->type != FW_JV_NULL)
        bad = 1;
    if (tm && tm->type == FW_JV_NUMBER && tm->is_int)
        snprintf(tbuf, sizeof tbuf, "%lld", (long long)tm->i), to = tbuf;
    else if (tm && tm->type == FW_JV_STRING)
        to = tm->str;
    else if (tm && tm->type != FW_JV_NULL)
        bad = 1;
    if (hm && hm->type == FW_JV_NUMBER && hm->is_int)
        snprintf(hbuf, sizeof hbuf, "%lld", (long long)hm->i), hours_s = hbuf;
    else if (hm && hm->type == FW_JV_STRING)
        hours_s = hm->str;
    else if (hm && hm->type != FW_JV_NULL)
        bad = 1;
    fw_store_query q;
    fw_afilters f = {.used = 0, .n = 0};
    int64_t hours = 0;
    if (bad) {
        fw_http_error(resp, 400, "question, app, type, from, to and labels must be strings (from/to may be unix seconds, baselineHours a number)");
        goto out;
    }
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        fw_http_error(resp, 400, "format: '%.32s' (expected json or text)", format);
        goto out;
    }
    if (!question || !*question || strlen(question) > 1000) {
        fw_http_error(resp, 400, "missing string member 'question' (1 to 1000 bytes)");
        goto out;
    }
    if (fw_a_query(app, type, from, to, req->now, &q, resp) != 0 || fw_a_hours(hours_s, &hours, resp) != 0)
        goto out;
    for (const char *p = labels; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len && fw_a_add_filter(&f, p, len, "labels", resp) != 0)
            goto out;
        p = c ? c + 1 : p + len;
    }
    q.filters = f.labels;
    q.nfilters = f.n;
    fw_answer a;
    fw_store_status st = fw_ask_run(s->store, &q, hours, question, &a);
    if (st != FW_STORE_OK) {
        fw_http_error(resp, fw_a_http_status(st), "%s", fw_store_strerror(st));
        goto out;
    }
    if (format && strcmp(format, "text") == 0) {
        size_t len = 0;
        char *text = fw_a_answer_text(&a, &len);
        fw_answer_free(&a);
        if (!text)
            fw_http_error(resp, 500, "cannot render the answer (out of memory)");
        else
            fw_http_text(resp, 200, "text/plain; charset=utf-8", text, len);
        goto out;
    }
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "question", question);
    fw_a_header(&j, &a.q, a.has_base ? &a.base : NULL, a.unit);
    fw_ask_json(&j, &a);
    fw_json_obj_end(&j);
    fw_answer_free(&a);
    fw_http_json(resp, 200, &j);
out:
    fw_jobject_free(&o);
}
