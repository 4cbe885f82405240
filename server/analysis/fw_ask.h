/*
 * fw_ask: questions in the user's words, answered from the store's numbers (POST /api/v1/ask,
 * `flamewatch ask`, the console's question box). See fw_ask.c for the grammar.
 */
#ifndef FW_ASK_H
#define FW_ASK_H

#include "fw_analysis.h"

#define FW_ASK_MAX_FILTERS 40

typedef struct {
    const char *intent;          /* static: "top_functions", ..., "help" */
    int understood;              /* 0: answer is the help text and `help` lists questions */
    char *answer;
    fw_store_query q, base;      /* what was queried (type and filters may come from the question) */
    int has_base;
    char *unit;
    char *function;              /* the function the question is about, or NULL */
    fw_asection rows;            /* the numbers the answer rests on */
    char *link;                  /* the console view that shows them */
    fw_report rep;               /* its `sql` lists the queries that were run */
    fw_label filters[FW_ASK_MAX_FILTERS];
    char *owned[4];              /* strings the filters/type point into */
} fw_answer;

/* hours > 0: the baseline for growth questions (else the question's own words, else 24). */
fw_store_status fw_ask_run(fw_store *s, const fw_store_query *q, int64_t hours, const char *question,
                           fw_answer *out);
void fw_ask_json(fw_json *j, const fw_answer *a);
void fw_answer_free(fw_answer *a);
/* The questions the grammar answers (NULL-terminated), shown as help. */
extern const char *const fw_ask_examples[];

#endif
