/*
 * fw_api: the endpoints. fw_api_dispatch() routes a request (fw_http.h) to its handler, which
 * answers from the server's state (fw_state.h); the daemon (fw_server.c) knows this header
 * and nothing of the handlers behind it.
 */
#ifndef FW_API_H
#define FW_API_H

#include "fw_http.h"
#include "fw_state.h"

/* The SQL console's limits in the HTTP layer (docs/API.md, "Limits"). */
#define FW_SQL_TIMEOUT_MS 5000   /* the whole request, counted from the arrival of its head */
#define FW_SQL_EXECUTORS 2       /* console queries run at once: the store's console connections */
#define FW_SQL_QUEUE 8           /* and at most this many more wait for a turn; past that, 429 */

/* Endpoint dispatch (fw_api.c): fills resp for any path it owns and returns 1; returns 0 if not
 * its path; FW_API_OFFLOAD (resp untouched) for POST /api/v1/sql, which the caller runs with
 * fw_api_sql on the SQL executor instead of the HTTP worker. */
#define FW_API_OFFLOAD 2
int fw_api_dispatch(fw_server *s, const fw_http_req *req, fw_http_resp *resp);
/* POST /api/v1/sql, on an executor thread. `arrived`: fw_api_clock() when the request's head
 * arrived; the time limit counts from it. stopping: answer 503 without running. Uses no
 * libmicrohttpd call (req->conn may be suspended). */
void fw_api_sql(fw_server *s, const fw_http_req *req, fw_http_resp *resp, double arrived, int stopping);
/* Monotonic seconds, the clock of `arrived`. */
double fw_api_clock(void);

#endif
