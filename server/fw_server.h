/*
 * fw_server: `flamewatch server`, the HTTP front of the store.
 *
 * fw_server_run() owns the whole lifecycle: open the store, bind, serve on a thread pool,
 * run maintenance (retention) in the background, and on SIGTERM/SIGINT stop accepting,
 * let in-flight requests finish, and close the store. The request/response types below are
 * shared by the HTTP glue (fw_server.c) and the endpoint handlers (fw_api.c) so that handlers
 * never touch libmicrohttpd directly.
 */
#ifndef FW_SERVER_H
#define FW_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_auth.h"
#include "fw_metrics.h"
#include "../store/fw_store.h"

typedef struct {
    const char *listen;          /* "127.0.0.1:4040", "[::1]:4040", "0.0.0.0:4040" */
    const char *data_dir;        /* the default store's directory (sqlite://DATA_DIR) */
    const char *store_url;       /* the store (fw_store_open); NULL = sqlite://data_dir */
    int64_t retention_s;
    const char *tokens_file;     /* NULL: no authentication (loopback only unless insecure) */
    int insecure;
    int threads;                 /* HTTP worker threads */
    int64_t maintenance_s;       /* seconds between maintenance runs */
    int sync_full;
    size_t cache_bytes;          /* dimension cache budget; 0 = the store's default (--cache-mb) */
    /* Connection limits (fw_conns.h); 0 = the default. */
    unsigned max_connections;    /* total, kept below the descriptor limit (default 4096) */
    unsigned max_conns_per_addr; /* per client address (default 256) */
    unsigned header_timeout_s;   /* to deliver a request head (default 10) */
    /* The store's query pool; 0 = the default. */
    int query_connections;       /* read connections (default 4) */
    int query_wait_ms;           /* wait for one before 503 (default FW_STORE_READER_WAIT_MS) */
} fw_server_config;

/* Runs until SIGTERM/SIGINT. Returns the process exit status (0, 1 runtime error, 2 usage). */
int fw_server_run(const fw_server_config *cfg);

typedef struct fw_server {
    fw_server_config cfg;
    fw_store *store;
    fw_auth *auth;               /* NULL when authentication is off */
    struct fw_conns *conns;      /* connection limits */
    struct fw_sqlx *sqlx;        /* runs SQL console requests off the HTTP workers */
    fw_metrics metrics;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
} fw_server;

typedef struct {
    void *conn;                  /* struct MHD_Connection * */
    const char *method;
    const char *path;
    const uint8_t *body;
    size_t body_len;
    fw_role role;                /* FW_ROLE_ADMIN when authentication is off */
    const char *token_name;
    int64_t now;
} fw_http_req;

typedef struct {
    int status;
    char *body;                  /* malloc'ed */
    size_t len;
    const char *content_type;
} fw_http_resp;

/* Request accessors (implemented in fw_server.c over libmicrohttpd). */
const char *fw_http_arg(const fw_http_req *r, const char *key);
/* All values of a repeated query parameter, in order; returns how many (<= max). */
size_t fw_http_args(const fw_http_req *r, const char *key, const char **vals, size_t max);
const char *fw_http_header(const fw_http_req *r, const char *name);

/* Response helpers. */
void fw_http_error(fw_http_resp *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Takes the finished document out of `j` (frees j); 500 if it failed. */
void fw_http_json(fw_http_resp *resp, int status, fw_json *j);
void fw_http_text(fw_http_resp *resp, int status, const char *ctype, char *body, size_t len);

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
