/*
 * fw_analysis: the findings engine behind GET /api/v1/analysis, POST /api/v1/ask, the console's
 * Analysis cards and `flamewatch analyze` / `flamewatch ask`.
 *
 * One engine, on the server: it runs the store's ordinary queries (flame graph tree, table, diff,
 * trend, labels) and turns their numbers into a report, a list of findings each with its
 * evidence (share, value, frames, the function to focus in the flame graph) and a suggestion,
 * plus, with a focus function, a detail section (callers, callees, lines, trend, attribution to
 * label values). The report is plain data; fw_analysis_out.c writes it as JSON or text, so the
 * console, the CLI and curl always read the same findings.
 *
 * Every query the engine runs adds its SQL to the report: an answer cites what it rests on.
 */
#ifndef FW_ANALYSIS_H
#define FW_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "fw_json.h"
#include "../../store/fw_store.h"

typedef enum { FW_LVL_HOT = 0, FW_LVL_WARN, FW_LVL_INFO, FW_LVL_OK } fw_level;

/* A change between the baseline and the current range (comparison findings only). */
typedef struct {
    double base_share, cmp_share;  /* self share of each range's total, 0..1 */
    int64_t base_value, cmp_value;
    double z;                      /* two-proportion z statistic on self sample counts */
    int significant;               /* +1 grew, -1 shrank, 0 within sampling noise */
    const char *status;            /* "changed", "new", "vanished" (static) */
} fw_change;

typedef struct {
    fw_level level;
    const char *id;                /* rule or kind, static ("json", "dominance", "change", ...) */
    char *title, *detail, *suggestion;
    double share;                  /* < 0: not applicable */
    int64_t value;
    char *frames[4];               /* the functions that carry the finding, largest first */
    size_t nframes;
    char *focus;                   /* function to focus in the flame graph, or NULL */
    int has_change;
    fw_change change;
} fw_finding;

/* One row of a detail section: a caller, a callee, a line, a trend step, a label value. */
typedef struct {
    char *label;
    int64_t value;
    double share;                  /* of the whole profile's total */
    int has_base;                  /* comparison: baseline numbers and significance */
    int64_t base_value;
    double base_share, z;
    int significant;
} fw_arow;

typedef struct {
    const char *id;                /* "callers", "callees", "lines", "trend", "labels" */
    char *title;
    fw_arow *rows;
    size_t nrows, cap;
} fw_asection;

typedef struct {
    char *name;                    /* the focused function as the store spells it */
    char *file;
    int found;
    int64_t self, total, base_self, base_total;
    fw_asection sections[6];
    size_t nsections;
} fw_afocus;

typedef struct {
    char *title;
    char *sql;
} fw_asql;

typedef struct {
    int comparison;
    char *unit;
    int64_t total, base_total;        /* root totals (values) */
    int64_t count, base_count;        /* root sample counts */
    fw_finding *findings;
    size_t n, cap;
    fw_afocus *focus;                 /* NULL without focus= */
    fw_asql sql[24];
    size_t nsql;
    int oom;
} fw_report;

typedef struct {
    fw_store *store;
    const fw_store_query *q;          /* the range analysed (the comparison's current range) */
    const fw_store_query *base;       /* NULL: a single profile; else the baseline */
    const char *focus;                /* NULL or a function name (exact, or fuzzy-matched) */
    size_t max_nodes;                 /* tree size for the rules; 0 = 20000 */
} fw_analysis_req;

/* Runs the analysis. On a store error returns it (report left empty but freeable). */
fw_store_status fw_analysis_run(const fw_analysis_req *req, fw_report *out);
void fw_report_free(fw_report *r);

/* Helpers shared with the question engine (fw_ask.c). */
fw_finding *fw_report_add(fw_report *r, fw_level lvl, const char *id);
void fw_report_sql(fw_report *r, const char *title, const char *sql);
char *fw_afmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "1.23 s", "45 MiB", "1,234 objects" for a value in `unit` (nanoseconds, bytes, count). */
void fw_fmt_value(char *buf, size_t len, int64_t v, const char *unit);
/* Adds (value, share) as a row of a section; label is copied. */
int fw_section_add(fw_asection *s, const char *label, int64_t value, double share);
/* Two-proportion z statistic of x1/n1 -> x2/n2 (+: grew); 0 when undefined. */
double fw_ztest(int64_t x1, int64_t n1, int64_t x2, int64_t n2);
/* Which profile types an analysis of memory should pair (alloc_space <-> inuse_space). */
const char *fw_analysis_partner_type(const char *type);
/* A label key that names a host-like or group-like dimension, in order of interest. */
extern const char *const fw_analysis_label_keys[];

/* Appends up to 4 frame names to f and focuses the first. */
void fw_set_frames(fw_finding *f, const char *const *names, size_t n);

/* Output (fw_analysis_out.c). `link` builds console URLs for a function (may be NULL). */
typedef struct {
    const fw_store_query *q, *base;
} fw_link_ctx;
char *fw_analysis_link(const fw_link_ctx *c, const char *focus);
void fw_report_json(fw_json *j, const fw_report *r, const fw_link_ctx *lc);
/* Plain text for the CLI (malloc'ed, NUL-terminated). */
char *fw_report_text(const fw_report *r, const fw_link_ctx *lc, size_t *len);

#endif
