/*
 * fw_ask: a small, deterministic grammar of questions over the store's numbers.
 *
 * No model and no network: a question is lower-cased and split into words; each intent has a
 * list of cue words (with synonyms, matched as prefixes or with one typo in a long word), and
 * the first intent in priority order whose cues appear wins. Three slots are filled from the
 * question itself: the profile type ("memory", "allocates" -> alloc_space; "retained", "leak",
 * "in use" -> inuse_space; "wall", "cpu"), a label value (any value of the range's labels that
 * appears in the question becomes a filter: "in thread group worker-*"), and a function (words
 * matched against the range's function names, exactly, case-insensitively, as a suffix, or with
 * a typo: "cart total" -> Cart.total). Growth questions take their baseline from the words
 * ("yesterday" = 24 h, "last week" = 168 h, "3 hours ago" = 3 h), or baselineHours.
 *
 * Every answer states its numbers (the rows), links to the console view that shows them and
 * cites the SQL of each query it ran. A question that matches no intent gets the help answer,
 * the list of questions below, never a guess.
 */
#include "fw_ask.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fw_analysis_match_name(const char *const *names, size_t n, const char *want);

const char *const fw_ask_examples[] = {
    "What uses the most CPU?",
    "What uses the most CPU in thread group worker-*?",
    "What are the hottest lines?",
    "Which module uses the most time?",
    "Which host uses the most CPU?",
    "Which thread group allocates the most?",
    "What grew since yesterday?",
    "What got slower in the last 3 hours?",
    "What allocates the most memory?",
    "Where is memory retained?",
    "Who calls Cart.total?",
    "What does checkout call?",
    "Which lines of Cart.total are hot?",
    "What is the trend of Cart.total?",
    "How much CPU does Cart.total use?",
    "Why is checkout slow?",
    "Where does the growth of Cart.total come from?",
    "Any problems? (the findings of the analysis)",
    NULL,
};

#define FW_MAX_WORDS 64

typedef struct {
    char lower[1024];
    char *w[FW_MAX_WORDS];
    size_t n;
    char words[1024];
} fw_q;

static void fw_q_split(fw_q *t, const char *question)
{
    size_t i = 0;
    for (; question[i] && i + 1 < sizeof t->lower; i++)
        t->lower[i] = (char)tolower((unsigned char)question[i]);
    t->lower[i] = '\0';
    memcpy(t->words, t->lower, i + 1);
    t->n = 0;
    char *save = NULL;
    for (char *w = strtok_r(t->words, " \t\r\n,;:!?\"'()", &save); w && t->n < FW_MAX_WORDS;
         w = strtok_r(NULL, " \t\r\n,;:!?\"'()", &save)) {
        size_t l = strlen(w);
        while (l > 1 && (w[l - 1] == '.'))
            w[--l] = '\0';
        t->w[t->n++] = w;
    }
}

static size_t fw_dist(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[33], cur[33];
    if (la > 32 || lb > 32)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            c = prev[j] + 1 < c ? prev[j] + 1 : c;
            cur[j] = cur[j - 1] + 1 < c ? cur[j - 1] + 1 : c;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* A cue: "stem*" matches words starting with stem; "a b" a phrase in the text; else a word,
 * with one typo allowed in words of 5 letters or more. */
static int fw_cue(const fw_q *t, const char *cue)
{
    if (strchr(cue, ' '))
        return strstr(t->lower, cue) != NULL;
    size_t l = strlen(cue);
    if (l == 0)
        return 0;
    int stem = cue[l - 1] == '*';
    for (size_t i = 0; i < t->n; i++) {
        if (stem ? strncmp(t->w[i], cue, l - 1) == 0 : strcmp(t->w[i], cue) == 0)
            return 1;
        if (!stem && l >= 5 && fw_dist(t->w[i], cue) <= 1)
            return 1;
        if (stem && l >= 6 && strlen(t->w[i]) >= l - 1) {
            char pre[40];
            snprintf(pre, sizeof pre, "%.*s", (int)(l - 1), t->w[i]);
            if (fw_dist(pre, cue) <= 2 && strncmp(pre, cue, 2) == 0) /* cue has the '*': one typo */
                return 1;
        }
    }
    return 0;
}

static int fw_any(const fw_q *t, const char *const *cues)
{
    for (; *cues; cues++)
        if (fw_cue(t, *cues))
            return 1;
    return 0;
}

static const char *const fw_c_help[] = {"help", "what can i ask", "which questions", "what questions", "examples", NULL};
static const char *const fw_c_callers[] = {"caller*", "who calls", "called by", "calls to", "who invokes", "invoked by", "who uses", NULL};
static const char *const fw_c_callees[] = {"callee*", "what does", "call?", "calls from", "children", "under", NULL};
static const char *const fw_c_lines[] = {"line", "lines", "hot lines", "which line", NULL};
static const char *const fw_c_trend[] = {"trend", "over time", "history", "timeline", "evolve*", NULL};
static const char *const fw_c_attr[] = {"come from", "comes from", "coming from", "attribut*", "caused by", "due to", "responsible", NULL};
static const char *const fw_c_growth[] = {"grew", "grow*", "regress*", "slower", "worse", "increas*", "changed", "change", "since", "compared", "than before", "diff", "degrad*", "more than", NULL};
static const char *const fw_c_retained[] = {"retain*", "leak*", "in use", "in-use", "inuse", "held", "never released", "not released", "not freed", "resident", NULL};
static const char *const fw_c_module[] = {"module*", "file", "files", "package*", "librar*", NULL};
static const char *const fw_c_findings[] = {"problem*", "issue*", "fix", "analy*", "hot spot*", "hotspot*", "suggest*", "improve*", "optimi*", "findings", "wrong", NULL};
static const char *const fw_c_how_much[] = {"how much", "how many", "share of", "percent*", "what fraction", NULL};
static const char *const fw_c_why[] = {"why", "slow", NULL};
static const char *const fw_c_top[] = {"most", "top", "hottest", "heaviest", "biggest", "largest", "expensive", "spend*", "spent", "where", "uses", "use", "consum*", "busy", "hog*", "time", "cpu", "memory", "allocat*", NULL};

/* Words never taken for a function name. */
static const char *const fw_stop[] = {
    "what", "which", "where", "when", "does", "uses", "most", "time", "cpu", "memory", "the", "is", "are", "in",
    "of", "for", "from", "since", "yesterday", "hour", "hours", "ago", "last", "week", "day", "grew", "grow", "slow",
    "slower", "who", "calls", "call", "called", "line", "lines", "trend", "how", "much", "many", "why", "host",
    "hosts", "thread", "threads", "group", "allocates", "allocate", "allocated", "retained", "module", "modules",
    "file", "files", "function", "functions", "hottest", "top", "use", "used", "spent", "spend", "by", "and", "this",
    "that", "with", "come", "comes", "growth", "change", "changed", "any", "problems", "there", "hot", "wall",
    "me", "show", "tell", "about", "endpoint", "value", "label", "do", "did", "a", "an", "to", "on", "at", "it", "its",
    "worse", "most?", "than", "before", "over", "get", "got", "takes", "take", "all", "where's", "what's", "heaviest",
    "biggest", "largest", "share", "percent", "leak", "leaks", "held", "released", "never", "not", "memory?",
    "one", "two", "three", "regression", "regressed", "since", "compared", "should", "fix", "problem", "issue",
    "expensive", "costly", "busiest", "busy", "like", "please", "could", "would", "self", "samples",
    "question", "questions", "help", "profile", "profiles", "app", "application", "service", "slowest", "fastest",
    NULL};

static int fw_is_stop(const char *w)
{
    for (const char *const *s = fw_stop; *s; s++)
        if (strcmp(*s, w) == 0)
            return 1;
    return strlen(w) < 3;
}

/* ---------------------------------------------------------------- answer helpers */

static void fw_ans_row(fw_answer *a, const char *label, int64_t v, double share)
{
    if (fw_section_add(&a->rows, label, v, share) != 0)
        a->rep.oom = 1;
}

static void fw_ans_text(fw_answer *a, char *text)
{
    free(a->answer);
    a->answer = text;
    if (!text)
        a->rep.oom = 1;
}

static void fw_ans_link(fw_answer *a, const char *focus)
{
    fw_link_ctx lc = {&a->q, a->has_base ? &a->base : NULL};
    free(a->link);
    a->link = fw_analysis_link(&lc, focus);
}

static const char *fw_what(const char *type)
{
    return strcmp(type, "cpu") == 0 ? "CPU time" : strcmp(type, "wall") == 0 ? "wall time"
           : strstr(type, "inuse") ? "memory in use" : strstr(type, "alloc") ? "allocated memory" : "the profile";
}

/* ---------------------------------------------------------------- intents */

static fw_store_status fw_top_functions(fw_store *s, fw_answer *a, fw_store_granularity gran)
{
    fw_store_table t = {0};
    fw_store_table_opts o = {gran, FW_STORE_SORT_SELF, 10};
    fw_store_status st = fw_store_table_query(s, &a->q, &o, &t);
    if (st != FW_STORE_OK)
        return st;
    fw_report_sql(&a->rep, gran == FW_STORE_GRAN_LINE ? "Lines (table)" : "Functions (table)", t.sql);
    a->unit = strdup(t.unit ? t.unit : "");
    for (size_t i = 0; i < t.nrows && i < 5; i++) {
        char label[600];
        if (gran == FW_STORE_GRAN_LINE)
            snprintf(label, sizeof label, "%s (%s:%lld)", t.rows[i].name, t.rows[i].file ? t.rows[i].file : "", (long long)t.rows[i].line);
        else
            snprintf(label, sizeof label, "%s", t.rows[i].name);
        fw_ans_row(a, label, t.rows[i].self, t.grand_total > 0 ? (double)t.rows[i].self / (double)t.grand_total : 0);
    }
    char v[48], tot[48];
    fw_fmt_value(tot, sizeof tot, t.grand_total, a->unit);
    if (!t.nrows || t.grand_total <= 0) {
        fw_ans_text(a, fw_afmt("There are no %s samples of %s in this range.", a->q.type, a->q.app));
    } else {
        fw_fmt_value(v, sizeof v, t.rows[0].self, a->unit);
        fw_ans_text(a, fw_afmt("%s uses the most %s (self): %s, %.1f%% of %s%s%s.", a->rows.rows[0].label,
                               fw_what(a->q.type), v, a->rows.rows[0].share * 100, tot,
                               a->rows.nrows > 1 ? "; next " : "", a->rows.nrows > 1 ? a->rows.rows[1].label : ""));
        a->function = strdup(t.rows[0].name);
    }
    fw_ans_link(a, a->function);
    fw_store_table_free(&t);
    return FW_STORE_OK;
}

static fw_store_status fw_top_modules(fw_store *s, fw_answer *a)
{
    fw_store_table t = {0};
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    fw_store_status st = fw_store_table_query(s, &a->q, &o, &t);
    if (st != FW_STORE_OK)
        return st;
    fw_report_sql(&a->rep, "Functions (table), summed by file", t.sql);
    a->unit = strdup(t.unit ? t.unit : "");
    fw_asection by = {0};
    for (size_t i = 0; i < t.nrows; i++) {
        const char *file = t.rows[i].file && *t.rows[i].file ? t.rows[i].file : "(unknown)";
        size_t k = 0;
        for (; k < by.nrows && strcmp(by.rows[k].label, file) != 0; k++)
            ;
        if (k == by.nrows && fw_section_add(&by, file, 0, 0) != 0)
            break;
        by.rows[k].value += t.rows[i].self;
    }
    for (size_t n = 0; n < 5 && n < by.nrows; n++) {
        size_t best = n;
        for (size_t k = n + 1; k < by.nrows; k++)
            if (by.rows[k].value > by.rows[best].value)
                best = k;
        fw_arow tmp = by.rows[n];
        by.rows[n] = by.rows[best];
        by.rows[best] = tmp;
        fw_ans_row(a, by.rows[n].label, by.rows[n].value, t.grand_total > 0 ? (double)by.rows[n].value / (double)t.grand_total : 0);
    }
    if (a->rows.nrows) {
        char v[48];
        fw_fmt_value(v, sizeof v, a->rows.rows[0].value, a->unit);
        fw_ans_text(a, fw_afmt("The module (file) %s uses the most %s: %s self, %.1f%%.", a->rows.rows[0].label,
                               fw_what(a->q.type), v, a->rows.rows[0].share * 100));
    } else {
        fw_ans_text(a, fw_afmt("There are no %s samples of %s in this range.", a->q.type, a->q.app));
    }
    fw_ans_link(a, NULL);
    for (size_t i = 0; i < by.nrows; i++)
        free(by.rows[i].label);
    free(by.rows);
    fw_store_table_free(&t);
    return FW_STORE_OK;
}

static fw_store_status fw_top_label(fw_store *s, fw_answer *a, const char *key)
{
    fw_store_labels l = {0};
    fw_store_status st = fw_store_label_values(s, &a->q, &l);
    if (st != FW_STORE_OK)
        return st;
    fw_report_sql(&a->rep, "Label values", l.sql);
    const fw_store_label_key *k = NULL;
    for (size_t i = 0; i < l.nkeys; i++)
        if (strcmp(l.keys[i].key, key) == 0)
            k = &l.keys[i];
    fw_label *buf = malloc((a->q.nfilters + 1) * sizeof *buf);
    int64_t sum = 0;
    for (size_t v = 0; k && buf && v < k->nvalues && v < 50; v++) {
        fw_store_query q = a->q;
        if (a->q.filters) /* memcpy's source may not be NULL, even for 0 bytes */
            memcpy(buf, a->q.filters, a->q.nfilters * sizeof *buf);
        buf[a->q.nfilters] = (fw_label){key, k->values[v]};
        q.filters = buf;
        q.nfilters = a->q.nfilters + 1;
        fw_store_trend t = {0};
        if ((st = fw_store_trend_query(s, &q, q.until - q.from, &t)) != FW_STORE_OK)
            break;
        if (!a->unit)
            a->unit = strdup(t.unit ? t.unit : "");
        if (v == 0)
            fw_report_sql(&a->rep, "Total per label value (trend)", t.sql);
        int64_t tot = 0;
        for (size_t p = 0; p < t.npoints; p++)
            tot += t.points[p].value;
        fw_store_trend_free(&t);
        char label[600];
        snprintf(label, sizeof label, "%s=%s", key, k->values[v]);
        fw_ans_row(a, label, tot, 0);
        sum += tot;
    }
    free(buf);
    if (st == FW_STORE_OK) {
        for (size_t i = 0; i < a->rows.nrows; i++)
            a->rows.rows[i].share = sum > 0 ? (double)a->rows.rows[i].value / (double)sum : 0;
        for (size_t i = 0; i < a->rows.nrows; i++) /* largest first */
            for (size_t j = i + 1; j < a->rows.nrows; j++)
                if (a->rows.rows[j].value > a->rows.rows[i].value) {
                    fw_arow tmp = a->rows.rows[i];
                    a->rows.rows[i] = a->rows.rows[j];
                    a->rows.rows[j] = tmp;
                }
        if (!a->rows.nrows || sum <= 0) {
            fw_ans_text(a, fw_afmt("No sample of %s in this range carries the label %s.", a->q.app, key));
        } else {
            char v[48];
            fw_fmt_value(v, sizeof v, a->rows.rows[0].value, a->unit);
            fw_ans_text(a, fw_afmt("%s has the most %s: %s, %.1f%% of the total across %zu values of %s.",
                                   a->rows.rows[0].label, fw_what(a->q.type), v, a->rows.rows[0].share * 100,
                                   a->rows.nrows, key));
        }
        fw_ans_link(a, NULL);
    }
    fw_store_labels_free(&l);
    return st;
}

/* Runs the analysis engine and copies what the question asks for. */
static fw_store_status fw_via_analysis(fw_store *s, fw_answer *a, const char *focus, const char *section)
{
    fw_analysis_req req = {s, &a->q, a->has_base ? &a->base : NULL, focus, 0};
    fw_report r;
    fw_store_status st = fw_analysis_run(&req, &r);
    if (st != FW_STORE_OK)
        return st;
    a->unit = strdup(r.unit ? r.unit : "");
    for (size_t i = 0; i < r.nsql; i++)
        fw_report_sql(&a->rep, r.sql[i].title, r.sql[i].sql);
    if (section && r.focus && !r.focus->found) {
        fw_ans_text(a, fw_afmt("No function matches '%s' in this range.", focus));
    } else if (section && r.focus) {
        const fw_afocus *f = r.focus;
        a->function = strdup(f->name);
        const fw_asection *sec = NULL;
        for (size_t i = 0; i < f->nsections; i++)
            if (strcmp(f->sections[i].id, section) == 0)
                sec = &f->sections[i];
        char sv[48], tv[48];
        fw_fmt_value(sv, sizeof sv, f->self, a->unit);
        fw_fmt_value(tv, sizeof tv, f->total, a->unit);
        for (size_t i = 0; sec && i < sec->nrows; i++) {
            fw_ans_row(a, sec->rows[i].label, sec->rows[i].value, sec->rows[i].share);
            if (sec->rows[i].has_base && a->rows.nrows) {
                fw_arow *w = &a->rows.rows[a->rows.nrows - 1];
                w->has_base = 1;
                w->base_value = sec->rows[i].base_value;
                w->base_share = sec->rows[i].base_share;
                w->z = sec->rows[i].z;
                w->significant = sec->rows[i].significant;
            }
        }
        double ts = r.total > 0 ? (double)f->total / (double)r.total : 0, ss = r.total > 0 ? (double)f->self / (double)r.total : 0;
        if (strcmp(section, "summary") == 0) {
            fw_ans_row(a, "self", f->self, ss);
            fw_ans_row(a, "total", f->total, ts);
            fw_ans_text(a, fw_afmt("%s uses %s of %s including its callees (%.1f%% of the total) and %s in its own code (%.1f%%).",
                                   f->name, tv, fw_what(a->q.type), ts * 100, sv, ss * 100));
        } else if (!a->rows.nrows) {
            fw_ans_text(a, fw_afmt("%s: %s has none in this range (it uses %s, %.1f%%).", sec ? sec->title : section,
                                   f->name, tv, ts * 100));
        } else {
            char v0[48];
            fw_fmt_value(v0, sizeof v0, a->rows.rows[0].value, a->unit);
            fw_ans_text(a, fw_afmt("%s: first %s with %s (%.1f%% of the total); %s uses %s in all (%.1f%%).",
                                   sec ? sec->title : section, a->rows.rows[0].label, v0, a->rows.rows[0].share * 100, f->name, tv, ts * 100));
        }
    } else {
        /* Findings: the change list for growth questions, all findings otherwise. */
        size_t shown = 0;
        const fw_finding *first = NULL;
        for (size_t i = 0; i < r.n; i++) {
            const fw_finding *f = &r.findings[i];
            if (a->has_base && !f->has_change)
                continue;
            if (!a->has_base && f->level > FW_LVL_WARN && strcmp(f->id, "dominance") != 0)
                continue;
            if (!first && (!a->has_base || f->change.significant > 0))
                first = f;
            fw_ans_row(a, f->frames[0] ? f->frames[0] : f->title, f->value, f->share >= 0 ? f->share : 0);
            if (f->has_change && a->rows.nrows) {
                fw_arow *w = &a->rows.rows[a->rows.nrows - 1];
                w->has_base = 1;
                w->base_value = f->change.base_value;
                w->base_share = f->change.base_share;
                w->z = f->change.z;
                w->significant = f->change.significant;
            }
            shown++;
        }
        if (a->has_base)
            fw_ans_text(a, first ? fw_afmt("%s %s", first->title, first->detail)
                                 : fw_afmt("Nothing grew beyond sampling noise against the same range %lld h earlier (|z| < %.0f).",
                                           (long long)((a->q.from - a->base.from) / 3600), FW_STORE_Z_SIGNIFICANT));
        else
            fw_ans_text(a, first ? fw_afmt("%zu finding%s; first: %s. %s", shown, shown == 1 ? "" : "s", first->title,
                                           first->suggestion ? first->suggestion : "")
                                 : strdup("No Python hot spot found."));
        if (first && first->focus)
            a->function = strdup(first->focus);
    }
    fw_ans_link(a, a->function);
    fw_report_free(&r);
    return FW_STORE_OK;
}

/* ---------------------------------------------------------------- slots */

static void fw_slot_type(fw_answer *a, const fw_q *t, int retained)
{
    static const char *const mem[] = {"memory", "allocat*", "alloc", "bytes", "ram", NULL};
    static const char *const wall[] = {"wall", "wall-clock", "latency", "blocked", "waiting", NULL};
    if (retained)
        a->q.type = fw_cue(t, "objects") ? "inuse_objects" : "inuse_space";
    else if (fw_any(t, mem))
        a->q.type = fw_cue(t, "objects") ? "alloc_objects" : "alloc_space";
    else if (fw_cue(t, "cpu"))
        a->q.type = "cpu";
    else if (fw_any(t, wall))
        a->q.type = "wall";
}

/* A label value named in the question becomes a filter; a key named alone is returned. */
static const char *fw_slot_label(fw_store *s, fw_answer *a, const fw_q *t, fw_report *sql)
{
    static const struct { const char *cue, *key; } keys[] = {
        {"thread group", "thread_group"}, {"thread_group", "thread_group"}, {"thread name", "thread_name"},
        {"thread", "thread_name"}, {"hostname", "host"}, {"host", "host"}, {"machine", "host"}, {"server", "host"},
        {"endpoint", "endpoint"}, {"route", "endpoint"}, {"pod", "pod"}, {"region", "region"}, {"version", "version"},
    };
    const char *named = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !named; i++)
        if (fw_cue(t, keys[i].cue))
            named = keys[i].key;
    fw_store_labels l = {0};
    if (fw_store_label_values(s, &a->q, &l) != FW_STORE_OK)
        return named;
    fw_report_sql(sql, "Label values", l.sql);
    const char *filtered = NULL;
    for (size_t k = 0; k < l.nkeys && !filtered; k++)
        for (size_t v = 0; v < l.keys[k].nvalues && !filtered; v++) {
            const char *val = l.keys[k].values[v];
            char low[256];
            size_t n = strlen(val);
            if (n < 3 || n >= sizeof low || a->q.nfilters >= FW_ASK_MAX_FILTERS - 1)
                continue;
            for (size_t i = 0; i <= n; i++)
                low[i] = (char)tolower((unsigned char)val[i]);
            const char *at = strstr(t->lower, low);
            /* Whole words only: "worker-*" in "...group worker-*?", not "1" in "12". */
            if (!at || (at > t->lower && isalnum((unsigned char)at[-1])) || isalnum((unsigned char)at[n]))
                continue;
            char *kc = strdup(l.keys[k].key), *vc = strdup(val);
            size_t o = 0;
            while (o < 4 && a->owned[o])
                o++;
            if (!kc || !vc || o + 2 > 4) {
                free(kc);
                free(vc);
                continue;
            }
            a->owned[o] = kc;
            a->owned[o + 1] = vc;
            a->filters[a->q.nfilters++] = (fw_label){kc, vc};
            filtered = kc;
        }
    fw_store_labels_free(&l);
    /* "which host ..." with no value named asks for a split by that key. */
    return filtered && named && strcmp(filtered, named) == 0 ? NULL : named;
}

static void fw_alnum_lower(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++)
        if (isalnum((unsigned char)*s))
            out[o++] = (char)tolower((unsigned char)*s);
    out[o] = '\0';
}

static const char *fw_exact_name(const char *const *names, size_t n, const char *want)
{
    char w[256], c[256];
    fw_alnum_lower(want, w, sizeof w);
    for (size_t i = 0; *w && i < n; i++) {
        fw_alnum_lower(names[i], c, sizeof c);
        if (strcmp(c, w) == 0)
            return names[i];
    }
    return NULL;
}

static char *fw_slot_function(fw_store *s, fw_answer *a, const fw_q *t)
{
    fw_store_table tb = {0};
    fw_store_table_opts o = {FW_STORE_GRAN_FUNCTION, FW_STORE_SORT_SELF, 0};
    if (fw_store_table_query(s, &a->q, &o, &tb) != FW_STORE_OK)
        return NULL;
    const char **names = malloc((tb.nrows + 1) * sizeof *names);
    char *found = NULL;
    for (size_t i = 0; names && i < tb.nrows; i++)
        names[i] = tb.rows[i].name;
    /* Pass 1, exact names (ignoring case and punctuation) anywhere in the question; pass 2, the
     * fuzzy matcher. Two-word joins ("cart total") before single words in each pass. */
    for (int pass = 0; pass < 2 && names && !found; pass++) {
        for (size_t i = 0; !found && i + 1 < t->n; i++) {
            if (fw_is_stop(t->w[i]) || fw_is_stop(t->w[i + 1]))
                continue;
            char two[256];
            snprintf(two, sizeof two, "%s %s", t->w[i], t->w[i + 1]);
            const char *m = pass ? fw_analysis_match_name(names, tb.nrows, two) : fw_exact_name(names, tb.nrows, two);
            if (m)
                found = strdup(m);
        }
        for (size_t i = 0; !found && i < t->n; i++) {
            if (fw_is_stop(t->w[i]))
                continue;
            const char *m = pass ? fw_analysis_match_name(names, tb.nrows, t->w[i]) : fw_exact_name(names, tb.nrows, t->w[i]);
            if (m)
                found = strdup(m);
        }
    }
    free(names);
    fw_store_table_free(&tb);
    return found;
}

static int64_t fw_slot_hours(const fw_q *t, int64_t given)
{
    if (given > 0)
        return given;
    for (size_t i = 0; i + 1 < t->n; i++) {
        long long n = strtoll(t->w[i], NULL, 10);
        if (n > 0 && n <= 8784 && (strncmp(t->w[i + 1], "hour", 4) == 0 || strcmp(t->w[i + 1], "h") == 0))
            return n;
        if (n > 0 && n <= 366 && strncmp(t->w[i + 1], "day", 3) == 0)
            return n * 24;
    }
    if (fw_cue(t, "last week") || fw_cue(t, "a week ago") || fw_cue(t, "week"))
        return 168;
    if (fw_cue(t, "an hour ago") || fw_cue(t, "last hour") || fw_cue(t, "one hour"))
        return 1;
    return 24; /* "since yesterday", or no word at all */
}

/* ---------------------------------------------------------------- entry */

fw_store_status fw_ask_run(fw_store *s, const fw_store_query *q, int64_t hours, const char *question, fw_answer *a)
{
    memset(a, 0, sizeof *a);
    a->q = *q;
    if (q->filters) /* memcpy's source may not be NULL, even for 0 bytes */
        memcpy(a->filters, q->filters, (q->nfilters < FW_ASK_MAX_FILTERS ? q->nfilters : FW_ASK_MAX_FILTERS) * sizeof *a->filters);
    a->q.filters = a->filters;
    a->q.nfilters = q->nfilters < FW_ASK_MAX_FILTERS ? q->nfilters : FW_ASK_MAX_FILTERS;
    a->understood = 1;
    fw_q t;
    fw_q_split(&t, question);
    int retained = fw_any(&t, fw_c_retained);
    fw_slot_type(a, &t, retained);
    const char *key = fw_slot_label(s, a, &t, &a->rep);
    char *fn = fw_slot_function(s, a, &t);
    fw_store_status st = FW_STORE_OK;
    int asks_help = fw_any(&t, fw_c_help) || !t.n;
    /* A function named with no other cue ("Cart.total?") is a question about its share. */
    int other_cue = fw_any(&t, fw_c_growth) || key || fw_any(&t, fw_c_lines) || fw_any(&t, fw_c_module) ||
                    fw_any(&t, fw_c_findings) || retained || fw_any(&t, fw_c_top);
    a->intent = "help";
    if (asks_help) {
        a->intent = "help"; /* even if it also names a function: the list is what was asked */
    } else if (fn && fw_any(&t, fw_c_attr)) {
        a->intent = "attribution";
        a->has_base = 1;
        int64_t h = fw_slot_hours(&t, hours);
        a->base = a->q;
        a->base.from -= h * 3600;
        a->base.until -= h * 3600;
        st = fw_via_analysis(s, a, fn, "labels");
    } else if (fn && fw_any(&t, fw_c_callers)) {
        a->intent = "callers";
        st = fw_via_analysis(s, a, fn, "callers");
    } else if (fn && fw_any(&t, fw_c_lines)) {
        a->intent = "lines";
        st = fw_via_analysis(s, a, fn, "lines");
    } else if (fn && fw_any(&t, fw_c_trend)) {
        a->intent = "trend";
        st = fw_via_analysis(s, a, fn, "trend");
    } else if (fn && (fw_any(&t, fw_c_callees) || fw_any(&t, fw_c_why))) {
        a->intent = "callees";
        st = fw_via_analysis(s, a, fn, "callees");
    } else if (fn && (fw_any(&t, fw_c_how_much) || !other_cue)) {
        a->intent = "function";
        st = fw_via_analysis(s, a, fn, "summary");
    } else if (fw_any(&t, fw_c_growth)) {
        a->intent = "growth";
        a->has_base = 1;
        int64_t h = fw_slot_hours(&t, hours);
        a->base = a->q;
        a->base.from -= h * 3600;
        a->base.until -= h * 3600;
        st = fw_via_analysis(s, a, NULL, NULL);
    } else if (key) {
        a->intent = "top_label";
        st = fw_top_label(s, a, key);
    } else if (fw_any(&t, fw_c_lines)) {
        a->intent = "top_lines";
        st = fw_top_functions(s, a, FW_STORE_GRAN_LINE);
    } else if (fw_any(&t, fw_c_module)) {
        a->intent = "top_modules";
        st = fw_top_modules(s, a);
    } else if (fw_any(&t, fw_c_findings) || (fw_any(&t, fw_c_why) && !fn)) {
        a->intent = "findings";
        st = fw_via_analysis(s, a, NULL, NULL);
    } else if (retained || fw_any(&t, fw_c_top)) {
        a->intent = retained ? "retained" : "top_functions";
        st = fw_top_functions(s, a, FW_STORE_GRAN_FUNCTION);
        if (st == FW_STORE_OK && retained && a->rows.nrows) {
            char v[48];
            fw_fmt_value(v, sizeof v, a->rows.rows[0].value, a->unit);
            fw_ans_text(a, fw_afmt("%s holds the most memory still in use: %s, %.1f%% of what is in use (allocated and not released).",
                                   a->rows.rows[0].label, v, a->rows.rows[0].share * 100));
        }
    }
    a->understood = strcmp(a->intent, "help") != 0;
    if (!a->understood && st == FW_STORE_OK)
        fw_ans_text(a, strdup("I cannot answer that question from the profiles. These are the questions I can answer:"));
    free(fn);
    if (st == FW_STORE_OK && a->rep.oom)
        st = FW_STORE_ERR_NOMEM;
    if (st != FW_STORE_OK)
        fw_answer_free(a);
    return st;
}

void fw_answer_free(fw_answer *a)
{
    free(a->answer);
    free(a->unit);
    free(a->function);
    free(a->link);
    for (size_t i = 0; i < a->rows.nrows; i++)
        free(a->rows.rows[i].label);
    free(a->rows.rows);
    fw_report_free(&a->rep);
    for (size_t i = 0; i < 4; i++)
        free(a->owned[i]);
    memset(a, 0, sizeof *a);
}

void fw_ask_json(fw_json *j, const fw_answer *a)
{
    fw_json_kv_str(j, "intent", a->intent);
    fw_json_kv_bool(j, "understood", a->understood);
    fw_json_kv_str(j, "answer", a->answer ? a->answer : "");
    if (a->function)
        fw_json_kv_str(j, "function", a->function);
    fw_json_key(j, "numbers");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < a->rows.nrows; i++) {
        const fw_arow *w = &a->rows.rows[i];
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "label", w->label);
        fw_json_kv_int(j, "value", w->value);
        fw_json_kv_double(j, "share", w->share);
        if (w->has_base) {
            fw_json_kv_int(j, "baseValue", w->base_value);
            fw_json_kv_double(j, "baseShare", w->base_share);
            fw_json_kv_double(j, "z", w->z);
            fw_json_kv_int(j, "significant", w->significant);
        }
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
    if (a->link)
        fw_json_kv_str(j, "link", a->link);
    if (!a->understood) {
        fw_json_key(j, "help");
        fw_json_arr_begin(j);
        for (const char *const *e = fw_ask_examples; *e; e++)
            fw_json_str(j, *e);
        fw_json_arr_end(j);
    }
    fw_json_key(j, "sql");
    fw_json_arr_begin(j);
    for (size_t i = 0; i < a->rep.nsql; i++) {
        fw_json_obj_begin(j);
        fw_json_kv_str(j, "title", a->rep.sql[i].title);
        fw_json_kv_str(j, "sql", a->rep.sql[i].sql);
        fw_json_obj_end(j);
    }
    fw_json_arr_end(j);
}
