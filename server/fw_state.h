/*
 * fw_state: the running server as its handlers see it: the configuration, the store, the
 * tokens, the connection table, the SQL executor and the metrics. The daemon (fw_server.c)
 * builds and owns it; the endpoints (fw_api.c, analysis/) read it. A header of its own so that
 * neither of those two needs the other's header.
 */
#ifndef FW_STATE_H
#define FW_STATE_H

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

#endif
