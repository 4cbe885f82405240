/*
 * fw_endpoint: the steps the query endpoints share, and the one sequence they all run.
 *
 * Every query endpoint does the same six things: parse its parameters (app, type, range,
 * label filters, then its own), answer `?explain=sql` with the SQL alone, make one store
 * call, map a store error to its HTTP status, write a JSON document that opens with the
 * query (app, type, unit, range, filters) and closes with the `sql` the store ran, and
 * send it. fw_ep_answer() runs the last five in that order; an endpoint brings only its
 * parameters, its store call, its JSON members and (for other formats) its renderer.
 */
#ifndef FW_ENDPOINT_H
#define FW_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "fw_buf.h"
#include "fw_http.h"
#include "fw_json.h"
#include "fw_state.h"

#define FW_MAX_FILTERS 32

/* Label filters parsed from repeated NAME=KEY=VALUE parameters; labels point into buf. */
typedef struct {
    fw_label labels[FW_MAX_FILTERS];
    char buf[8192];
    size_t used;
} fw_filters;

/* One endpoint's answer, run by fw_ep_answer(). */
typedef struct fw_ep_call fw_ep_call;
struct fw_ep_call {
    const fw_store_query *q;          /* the query the answer opens with; NULL: no header */
    /* explain=sql: the SQL of `kind` for (sql_q, sql_cmp, step, table_opts); 0 = not offered */
    int explain;
    fw_store_sql_kind kind;
    const fw_store_query *sql_q, *sql_cmp;
    int64_t step;
    const fw_store_table_opts *table_opts;
    /* The store call; sets unit and sql (the result's, valid until free). */
    fw_store_status (*run)(fw_server *s, fw_ep_call *c);
    /* Another format than JSON: answers and returns 1, or returns 0 for JSON. May be NULL. */
    int (*render)(fw_ep_call *c, fw_http_resp *resp);
    /* The endpoint's members, after the header and before "sql". */
    void (*json)(fw_json *j, const fw_ep_call *c);
    void (*free)(fw_ep_call *c);      /* the result */
    const char *unit, *sql;
    void *self;                       /* the endpoint's parameters and result */
};

/* explain=sql, the store call, its error or the JSON document (or render's), sent in resp. */
void fw_ep_answer(fw_server *s, const fw_http_req *req, fw_ep_call *c, fw_http_resp *resp);

/* The HTTP status of a store status (400/403/404/413/503/500). */
int fw_ep_status_http(fw_store_status st);
/* A store error as HTTP (400/403/404/413/503/500) with the store's message and `detail`. */
void fw_ep_store_error(const fw_server *s, fw_http_resp *resp, fw_store_status st, const char *detail);

/* Parsers: 0, or -1 with a 400 in resp that names the parameter and the accepted forms. */
/* app, type, from, to (until), label=K=V... -> q (filters point into f). */
int fw_ep_query(const fw_http_req *req, fw_store_query *q, fw_filters *f, fw_http_resp *resp);
/* Repeated `param=KEY=VALUE` -> f's labels, *n of them. */
int fw_ep_filters(const fw_http_req *req, const char *param, fw_filters *f, size_t *n, fw_http_resp *resp);
/* format=: index into the NULL-terminated choices (0 when absent). */
int fw_ep_format(const fw_http_req *req, const char *const *choices, int *out, fw_http_resp *resp);
/* units=raw|human: 0 raw, 1 human, -1 on error. */
int fw_ep_units(const fw_http_req *req, fw_http_resp *resp);
int fw_ep_granularity(const fw_http_req *req, fw_store_granularity *g, fw_http_resp *resp);
/* An integer parameter from 1 to max; dflt when absent. */
int fw_ep_size(const fw_http_req *req, const char *name, size_t dflt, size_t max, size_t *out,
               fw_http_resp *resp);

/* The query's members: app, type, unit, from, to, filters. */
void fw_ep_query_header(fw_json *j, const fw_store_query *q, const char *unit);
/* Sends a rendered buffer (ownership moves to the response), or 500 if rendering failed. */
void fw_ep_send_rendered(fw_http_resp *resp, int rc, fw_buf *b, const char *ctype);

#endif
