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
} fw_server_config;

/* Runs until SIGTERM/SIGINT. Returns the process exit status (0, 1 runtime error, 2 usage). */
int fw_server_run(const fw_server_config *cfg);

typedef struct fw_server {
    fw_server_config cfg;
    fw_store *store;
    fw_auth *auth;               /* NULL when authentication is off */
    struct fw_conns *conns;      /* connection limits */
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

/* Endpoint dispatch (fw_api.c): fills resp for any path it owns; returns 0 if not its path. */
int fw_api_dispatch(fw_server *s, const fw_http_req *req, fw_http_resp *resp);

#endif
