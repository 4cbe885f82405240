/*
 * fw_server: HTTP glue over libmicrohttpd, authentication, static files and the lifecycle.
 *
 * Threads. libmicrohttpd runs a pool of worker threads, each with its own epoll loop; a
 * handler runs to completion on the worker that owns the connection. Store calls block, which
 * is fine as long as they are short and bounded: the store serializes writers itself and keeps
 * a pool of read connections (waited for at most a few seconds, then 503), so queries and
 * uploads proceed in parallel up to the pool size. The one kind of request that may run for
 * seconds by design, the SQL console, never runs on a worker: its connection is suspended and
 * the query runs on the SQL executor (fw_sqlx.h, 2 threads and a bounded queue), which resumes
 * the connection with the answer. A worker also owns every connection it accepted, so a console
 * query on a worker would stall whatever else that worker accepted in the same burst. One more
 * thread runs maintenance (rollups and retention) every few seconds, and the main thread only
 * waits for a signal. SIGINT/SIGTERM are blocked in every thread and taken with sigwait() in
 * main, so no handler ever runs in signal context.
 *
 * Shutdown. On a signal we quiesce the daemon (close the listening socket, so new connections
 * are refused), wait until the in-flight request counter drops to zero (bounded), stop the
 * daemon, stop maintenance, and close the store, which checkpoints the WAL. An upload that
 * was acknowledged was committed before its 200, so nothing acknowledged is lost even on
 * kill -9; a graceful stop simply lets the last uploads finish.
 *
 * Request heads. libmicrohttpd calls the handler once when a request's head is complete and
 * before any of its body is read; everything that can be decided then is (fw_check_head):
 * method and framing (fw_head.c), the token, the declared size. A refusal is sent at once
 * with "Connection: close", so the body is never read and nothing pipelined behind it is
 * served. Who may connect, how many, and for how long a head may take is fw_conns.c's
 * business (the accept policy and connection notifications below feed it).
 *
 * Bodies. Uploads arrive in chunks; we accumulate them with a hard cap (16 MB). A request
 * whose Content-Length far exceeds the cap gets 413 before we read the body; one a little
 * over it, or a chunked request that grows past it, is drained and answered 413 without
 * buffering the rest.
 *
 * Auth and exposure. Without a tokens file the server is an unauthenticated loopback service;
 * binding elsewhere needs --insecure, so nobody exposes profiles to the network by accident.
 * Static paths are resolved only against an in-memory table (no filesystem access at all
 * today), and paths with dot segments or backslashes are refused before lookup, so the
 * console can later move to files without opening a traversal hole.
 */
#include "fw_server.h"
#include "fw_api.h"
#include "fw_http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fw_conns.h"
#include "fw_head.h"
#include "fw_json.h"
#include "fw_pprof.h"
#include "fw_sqlx.h"
#include "fw_web_assets.h"

/* Where a SQL console request is on the executor (fw_conn_ctx.sql). */
enum { FW_SQL_NONE = 0, FW_SQL_QUEUED, FW_SQL_ANSWERED };

typedef struct {
    fw_buf body;
    int too_large;
    int rejected;                /* answered at the request head; the body is never read */
    fw_role role;                /* decided at the request head */
    const char *token_name;
    double arrived;              /* fw_api_clock() when the head was complete */
    /* A SQL console request runs on the executor while its connection is suspended: */
    fw_sqlx_job job;
    fw_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;    /* libmicrohttpd's, valid until the request completes */
    int64_t now;
    fw_http_resp resp;           /* the executor's answer, sent once the connection resumes */
    _Atomic int sql;             /* FW_SQL_*: written before MHD_resume_connection */
} fw_conn_ctx;

/* ---- static files: the web console, built into the binary (fw_web_assets.h) ---- */

/* Refuses dot segments, backslashes and leftover escapes (double encoding) in a decoded path. */
static int fw_path_safe(const char *path)
{
    if (path[0] != '/' || strchr(path, '\\') || strchr(path, '%'))
        return 0;
    const char *seg = path + 1;
    for (;;) {
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!seg[n])
            return 1;
        seg += n + 1;
    }
}

static void fw_static(const fw_http_req *req, fw_http_resp *resp)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        fw_http_error(resp, 405, "method %s not allowed on %s", req->method, req->path);
        return;
    }
    if (!fw_path_safe(req->path)) {
        fw_http_error(resp, 400, "invalid path");
        return;
    }
    const fw_web_asset *a = fw_web_asset_find(req->path);
    if (a) {
        char *b = malloc(a->length + 1);
        if (!b) {
            fw_http_error(resp, 500, "out of memory");
            return;
        }
        memcpy(b, a->bytes, a->length);
        fw_http_text(resp, 200, a->content_type, b, a->length);
        return;
    }
    fw_http_error(resp, 404, "not found: %s", req->path);
}

/* ---- authorization ---- */

/* The role a request needs: FW_ROLE_NONE means public. */
static fw_role fw_required_role(const fw_http_req *req, int *any_role)
{
    *any_role = 0;
    if (strcmp(req->path, "/ingest") == 0)
        return FW_ROLE_INGEST;
    if (strcmp(req->path, "/metrics") == 0)
        return FW_ROLE_READ;
    if (strncmp(req->path, "/api/", 5) != 0)
        return FW_ROLE_NONE; /* /healthz and the console's static files */
    size_t n = strlen(req->path);
    if (strncmp(req->path, "/api/v1/apps/", 13) == 0 && n > 9 && strcmp(req->path + n - 9, "/settings") == 0) {
        if (strcmp(req->method, "GET") == 0) {
            *any_role = 1; /* agents poll their settings with an ingest token */
            return FW_ROLE_READ;
        }
        return FW_ROLE_ADMIN;
    }
    return FW_ROLE_READ;
}

/* 0 if allowed; otherwise fills resp with 401/403. */
static int fw_authorize(fw_server *s, fw_http_req *req, fw_http_resp *resp)
{
    if (!s->auth) {
        req->role = FW_ROLE_ADMIN;
        return 0;
    }
    req->role = fw_auth_check(s->auth, fw_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), &req->token_name);
    int any = 0;
    fw_role need = fw_required_role(req, &any);
    if (need == FW_ROLE_NONE)
        return 0;
    if (req->role == FW_ROLE_NONE) {
        fw_http_error(resp, 401, "authentication required: send 'Authorization: Bearer TOKEN'");
        return -1;
    }
    if ((any && req->role != FW_ROLE_NONE) || fw_role_allows(req->role, need))
        return 0;
    fw_http_error(resp, 403, "a token with role '%s' cannot do this (needs %s)", fw_role_name(req->role),
                  fw_role_name(need));
    return -1;
}

/* ---- libmicrohttpd callbacks ---- */

/* `close_after`: the connection is closed after the response (a request refused at its head,
 * whose body, if any, is never read; and framing we do not trust for a next request). */
static enum MHD_Result fw_send(struct MHD_Connection *conn, fw_server *s, fw_http_resp *resp, int close_after)
{
    if (!resp->body) {
        resp->body = strdup("");
        resp->len = 0;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(resp->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->content_type && strncmp(resp->content_type, "text/html", 9) == 0)
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    if (resp->status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"flamewatch\"");
    if (resp->status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, fw_allowed_methods);
    if (close_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    int cls = resp->status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add_explicit(&s->metrics.requests[cls], 1, memory_order_relaxed);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void fw_reject_early(fw_server *s, const char *url, fw_reject_reason why)
{
    if (strcmp(url, "/ingest") == 0)
        atomic_fetch_add_explicit(&s->metrics.rejected[why], 1, memory_order_relaxed);
}

/* Everything decided at the request head: method and framing (fw_head.c), then the token,
 * then the declared size. 0 to go on reading the body; otherwise resp is filled. The token
 * comes before the size so that an unauthenticated client learns nothing but 401. */
static int fw_check_head(fw_server *s, struct MHD_Connection *conn, const char *url, const char *method,
                         const char *version, fw_conn_ctx *ctx, fw_http_resp *resp)
{
    if (fw_head_check(conn, method, version, resp) != 0)
        return -1;
    fw_http_req req = {conn, method, url, NULL, 0, FW_ROLE_NONE, NULL, (int64_t)time(NULL)};
    if (fw_authorize(s, &req, resp) != 0) {
        fw_reject_early(s, url, FW_REJECT_AUTH);
        return -1;
    }
    ctx->role = req.role;
    ctx->token_name = req.token_name;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    /* Bodies a little over the cap are drained so the client reads our 413 instead of a
     * reset; absurd declared sizes are refused at once and the connection closed. */
    if (cl && strtoull(cl, NULL, 10) > 4 * (unsigned long long)FW_INGEST_MAX_BODY) {
        fw_reject_early(s, url, FW_REJECT_TOO_LARGE);
        fw_http_error(resp, 413, "request body exceeds %u MB", FW_INGEST_MAX_BODY >> 20);
        return -1;
    }
    return 0;
}

/* The socket context of a connection: its entry in the connection limits (fw_conns). */
static fw_conn *fw_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- SQL console requests, off the HTTP workers (fw_sqlx.h) ---- */

static fw_conn_ctx *fw_ctx_of_job(fw_sqlx_job *job)
{
    return (fw_conn_ctx *)(void *)((char *)job - offsetof(fw_conn_ctx, job));
}

/* Under the executor's lock, before any executor thread can see the job: the connection is
 * suspended before the job can resume it. */
static void fw_sql_job_accepted(fw_sqlx_job *job)
{
    MHD_suspend_connection(fw_ctx_of_job(job)->conn);
}

/* On an executor thread: answer, then wake the connection; its worker sends the answer
 * (fw_on_request is called again once it is resumed). No libmicrohttpd call but the resume. */
static void fw_sql_job_run(fw_sqlx_job *job, int stopping)
{
    fw_conn_ctx *ctx = fw_ctx_of_job(job);
    fw_http_req req = {NULL, ctx->method, ctx->url, ctx->body.data, ctx->body.len, ctx->role, ctx->token_name,
                       ctx->now};
    fw_api_sql(ctx->srv, &req, &ctx->resp, ctx->arrived, stopping);
    atomic_store(&ctx->sql, FW_SQL_ANSWERED);
    MHD_resume_connection(ctx->conn);
}

/* Hands POST /api/v1/sql to the executor; refused at once (429) when it is full. */
static enum MHD_Result fw_sql_offload(fw_server *s, struct MHD_Connection *conn, fw_conn_ctx *ctx,
                                      const char *method, const char *url, fw_http_req *req)
{
    ctx->srv = s;
    ctx->conn = conn;
    ctx->method = method;
    ctx->url = url;
    ctx->now = req->now;
    ctx->job.run = fw_sql_job_run;
    ctx->job.accepted = fw_sql_job_accepted;
    atomic_store(&ctx->sql, FW_SQL_QUEUED);
    int rc = fw_sqlx_submit(s->sqlx, &ctx->job);
    if (rc == 0)
        return MHD_YES;
    atomic_store(&ctx->sql, FW_SQL_NONE);
    fw_http_resp resp = {0};
    if (rc == FW_SQLX_STOPPING) {
        fw_http_error(&resp, 503, "the server is stopping; retry later");
    } else {
        fw_sqlx_stats st;
        fw_sqlx_get_stats(s->sqlx, &st);
        fw_http_error(&resp, 429, "too many SQL queries at once: %d run and %d more may wait for a turn;"
                      " retry later", st.threads, st.max_waiting);
    }
    fw_metrics_observe(&s->metrics, FW_EP_SQL, fw_api_clock() - ctx->arrived);
    return fw_send(conn, s, &resp, 0);
}

static enum MHD_Result fw_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version, const char *upload_data,
                                     size_t *upload_data_size, void **con_cls)
{
    fw_server *s = cls;
    fw_conn_ctx *ctx = *con_cls;
    if (!ctx) {
        /* First call: the request head is complete and no byte of the body has been read.
         * Everything that can be refused without the body is refused now, with the
         * connection closed, so an unauthenticated client cannot make us buffer 16 MB. */
        fw_conn *fc = fw_conn_of(conn);
        if (fc)
            fw_conns_head_done(s->conns, fc);
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        ctx->arrived = fw_api_clock();
        *con_cls = ctx;
        atomic_fetch_add(&s->metrics.in_flight, 1);
        fw_http_resp resp = {0};
        if (fw_check_head(s, conn, url, method, version, ctx, &resp) != 0) {
            ctx->rejected = 1;
            return fw_send(conn, s, &resp, 1);
        }
        return MHD_YES;
    }
    if (ctx->rejected) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    int sql = atomic_load(&ctx->sql);
    if (sql == FW_SQL_ANSWERED) {   /* resumed: the executor's answer is ready */
        fw_http_resp resp = ctx->resp;
        memset(&ctx->resp, 0, sizeof ctx->resp);
        atomic_store(&ctx->sql, FW_SQL_NONE);
        return fw_send(conn, s, &resp, 0);
    }
    if (sql == FW_SQL_QUEUED)       /* still on the executor (not expected while suspended) */
        return MHD_YES;
    if (*upload_data_size) {
        if (!ctx->too_large && ctx->body.len + *upload_data_size > FW_INGEST_MAX_BODY) {
            ctx->too_large = 1;
            fw_buf_free(&ctx->body);
        }
        if (!ctx->too_large && fw_buf_append(&ctx->body, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    fw_http_resp resp = {0};
    fw_http_req req = {conn, method, url, ctx->body.data, ctx->body.len, ctx->role, ctx->token_name,
                       (int64_t)time(NULL)};
    if (ctx->too_large) {
        fw_reject_early(s, url, FW_REJECT_TOO_LARGE);
        fw_http_error(&resp, 413, "request body exceeds %u MB", FW_INGEST_MAX_BODY >> 20);
    } else {
        int d = fw_api_dispatch(s, &req, &resp);
        if (d == FW_API_OFFLOAD)
            return fw_sql_offload(s, conn, ctx, method, url, &req);
        if (!d)
            fw_static(&req, &resp);
    }
    return fw_send(conn, s, &resp, 0);
}

static void fw_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    fw_server *s = cls;
    fw_conn *fc = fw_conn_of(conn);
    if (fc)
        fw_conns_request_done(s->conns, fc); /* a kept-alive connection waits for its next head */
    fw_conn_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    /* Never while the executor holds the request: its connection is suspended until then. */
    assert(atomic_load(&ctx->sql) != FW_SQL_QUEUED);
    fw_buf_free(&ctx->body);
    free(ctx->resp.body);   /* an answer the connection closed before sending */
    free(ctx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->metrics.in_flight, 1);
}

/* Accept policy and connection notifications: the connection limits (fw_conns.h). */
static enum MHD_Result fw_on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    fw_server *s = cls;
    return fw_conns_admit(s->conns, addr, addrlen) ? MHD_YES : MHD_NO;
}

static void fw_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode code)
{
    fw_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ad ? ad->client_addr : NULL;
        socklen_t len = !sa ? 0 : sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                                            : (socklen_t)sizeof(struct sockaddr_in);
        *socket_context = fd ? fw_conns_started(s->conns, fd->connect_fd, sa, len) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        fw_conns_closed(s->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- listening address ---- */

static int fw_parse_listen(const char *listen, struct sockaddr_storage *ss, int *v6, int *loopback,
                           char *err, size_t errlen)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host) {
            snprintf(err, errlen, "--listen: '%s' is not [IPV6]:PORT", listen);
            return -1;
        }
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host) {
            snprintf(err, errlen, "--listen: '%s' is not HOST:PORT", listen);
            return -1;
        }
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "--listen: invalid port '%s'", port);
        return -1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "--listen: cannot resolve '%s'", host);
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    *v6 = ss->ss_family == AF_INET6;
    if (*v6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    return 0;
}

/* ---- maintenance thread ---- */

static void *fw_maintenance_main(void *arg)
{
    fw_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        fw_store_status st = fw_store_maintain(s->store, (int64_t)time(NULL));
        if (st != FW_STORE_OK)
            fprintf(stderr, "flamewatch server: maintenance: %s\n", fw_store_strerror(st));
        pthread_mutex_lock(&s->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += s->cfg.maintenance_s;
        while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ---- */

static int fw_open_store(fw_server *s, const fw_server_config *cfg)
{
    char err[512] = "";
    char *url = cfg->store_url ? NULL : fw_store_url_for_dir(cfg->data_dir);
    if (!cfg->store_url && !url) {
        fprintf(stderr, "flamewatch server: out of memory\n");
        return -1;
    }
    const char *u = cfg->store_url ? cfg->store_url : url;
    fw_store_options opt = {.retention_s = cfg->retention_s,
                            .sync = cfg->sync_full ? FW_STORE_SYNC_FULL : FW_STORE_SYNC_NORMAL,
                            .readers = cfg->query_connections,
                            .reader_wait_ms = cfg->query_wait_ms,
                            .cache_bytes = cfg->cache_bytes};
    fw_store_status st = fw_store_open(u, &opt, &s->store, err, sizeof err);
    if (st != FW_STORE_OK) {
        char shown[4200];
        fw_store_url_redact(u, shown, sizeof shown);
        fprintf(stderr, "flamewatch server: cannot open store %s: %s\n", shown, err[0] ? err : fw_store_strerror(st));
    }
    free(url);
    return st == FW_STORE_OK ? 0 : -1;
}

/* The connection limits for this process. The total stays below the descriptor limit
 * (raised to its hard maximum first): FW_FD_RESERVE descriptors are kept for the store,
 * the listening socket and the event loops, and libmicrohttpd's own limit sits above ours
 * by `margin`, for connections we stopped counting that it has not closed yet (fw_conns.c). */
#define FW_FD_RESERVE 128

static void fw_conn_limits(const fw_server_config *cfg, fw_conns_limits *lim, unsigned *mhd_limit)
{
    struct rlimit rl;
    rlim_t fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
            rl.rlim_cur = want;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        fds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
    }
    unsigned budget = fds > FW_FD_RESERVE + 64 ? (unsigned)fds - FW_FD_RESERVE : 64;
    unsigned margin = budget / 8 > 64 ? budget / 8 : 64;
    unsigned room = budget > margin + 16 ? budget - margin : 16;
    unsigned want = cfg->max_connections ? cfg->max_connections : 4096;
    lim->max_total = want < room ? want : room;
    if (cfg->max_connections && lim->max_total < want)
        fprintf(stderr, "flamewatch server: --max-connections %u lowered to %u (open file limit %llu)\n", want,
                lim->max_total, (unsigned long long)fds);
    lim->max_per_addr = cfg->max_conns_per_addr ? cfg->max_conns_per_addr : 256;
    lim->header_timeout_s = cfg->header_timeout_s ? cfg->header_timeout_s : 10;
    *mhd_limit = lim->max_total + margin;
    /* libmicrohttpd divides its limit among the worker threads: each needs a share. */
    if (*mhd_limit < 4 * (unsigned)cfg->threads)
        *mhd_limit = 4 * (unsigned)cfg->threads;
}

/* libmicrohttpd's error log, at most 10 messages a second: it writes one per connection a
 * client resets or we evict, and a flood of connections must not become a flood of log. The
 * count of what was left out is reported with the next message that gets through. */
static void fw_http_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static time_t window;
    static unsigned shown;
    static unsigned long dropped;
    time_t now = time(NULL);
    pthread_mutex_lock(&mu);
    if (now != window) {
        window = now;
        shown = 0;
    }
    if (shown < 10) {
        shown++;
        if (dropped)
            fprintf(stderr, "flamewatch server: http: (%lu messages suppressed)\n", dropped);
        dropped = 0;
        fputs("flamewatch server: http: ", stderr);
        vfprintf(stderr, fmt, ap);
    } else {
        dropped++;
    }
    pthread_mutex_unlock(&mu);
}

static struct MHD_Daemon *fw_start_http(fw_server *s, const struct sockaddr_storage *ss, int v6, unsigned mhd_limit)
{
    /* Suspend/resume (SQL console requests, fw_sqlx.h) works with this mode: a worker pool, each
     * worker with its own epoll loop, woken through its inter-thread channel (ITC) on resume. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(v6 ? ((const struct sockaddr_in6 *)ss)->sin6_port : ((const struct sockaddr_in *)ss)->sin_port);
    /* The idle timeout (reset by every byte) stays as a backstop for bodies; request heads
     * have their own total deadline (fw_conns). */
    return MHD_start_daemon(flags, port, fw_on_accept, s, fw_on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, fw_http_log, (void *)NULL,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
                            MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, fw_on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, fw_on_connection, s,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
}

static void fw_drain(fw_server *s, struct MHD_Daemon *d)
{
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    /* Let in-flight requests finish: at most 10 s, then stop regardless. */
    for (int i = 0; i < 1000 && atomic_load(&s->metrics.in_flight) > 0; i++) {
        struct timespec ts = {0, 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* No connection may stay suspended when libmicrohttpd stops: the executor answers what is
     * queued (503) and finishes what runs (bounded by the SQL time limit) first. */
    fw_sqlx_stop(s->sqlx);
    MHD_stop_daemon(d);
}

int fw_server_run(const fw_server_config *cfg)
{
    static fw_server srv; /* static: libmicrohttpd threads hold pointers into it */
    fw_server *s = &srv;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    char err[512];
    struct sockaddr_storage ss;
    int v6 = 0, loopback = 0;
    if (fw_parse_listen(cfg->listen, &ss, &v6, &loopback, err, sizeof err) != 0) {
        fprintf(stderr, "flamewatch server: %s\n", err);
        return 2;
    }
    if (!loopback && !cfg->tokens_file && !cfg->insecure) {
        fprintf(stderr, "flamewatch server: refusing to listen on non-loopback address %s without --tokens "
                        "(anyone could read and write profiles); pass --tokens FILE, or --insecure if you really mean it\n",
                cfg->listen);
        return 2;
    }
    if (cfg->tokens_file) {
        s->auth = fw_auth_load(cfg->tokens_file, err, sizeof err);
        if (!s->auth) {
            fprintf(stderr, "flamewatch server: --tokens: %s\n", err);
            return 2;
        }
    }
    /* Block the stop signals everywhere; main takes them with sigwait(). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (fw_open_store(s, cfg) != 0) {
        fw_auth_free(s->auth);
        return 1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    fw_conns_limits lim;
    unsigned mhd_limit = 0;
    fw_conn_limits(cfg, &lim, &mhd_limit);
    s->conns = fw_conns_new(&lim);
    s->sqlx = s->conns ? fw_sqlx_new(FW_SQL_EXECUTORS, FW_SQL_QUEUE) : NULL;
    struct MHD_Daemon *d = s->sqlx ? fw_start_http(s, &ss, v6, mhd_limit) : NULL;
    if (!d) {
        if (!s->conns)
            fprintf(stderr, "flamewatch server: cannot start the connection reaper (out of memory or threads)\n");
        else if (!s->sqlx)
            fprintf(stderr, "flamewatch server: cannot start the SQL executor (out of memory or threads)\n");
        else
            fprintf(stderr, "flamewatch server: cannot listen on %s (address in use or not available)\n", cfg->listen);
        fw_sqlx_free(s->sqlx);
        fw_conns_free(s->conns);
        fw_store_close(s->store);
        fw_auth_free(s->auth);
        return 1;
    }
    pthread_t maint;
    int have_maint = pthread_create(&maint, NULL, fw_maintenance_main, s) == 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char where[4200];
    if (cfg->store_url) {
        char shown[4096];
        fw_store_url_redact(cfg->store_url, shown, sizeof shown);
        snprintf(where, sizeof where, "store %s", shown);
    } else {
        snprintf(where, sizeof where, "data in %s", cfg->data_dir);
    }
    fprintf(stderr, "flamewatch server: listening on %s (port %u), %s, retention %llds, auth %s, "
                    "connections %u (%u per address, request head within %us)\n",
            cfg->listen, info ? (unsigned)info->port : 0u, where, (long long)cfg->retention_s,
            s->auth ? "on" : "off", lim.max_total, lim.max_per_addr, lim.header_timeout_s);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "flamewatch server: %s received, finishing in-flight requests\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fw_drain(s, d);
    fw_sqlx_free(s->sqlx);
    fw_conns_free(s->conns);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (have_maint)
        pthread_join(maint, NULL);
    fw_store_close(s->store);
    fw_auth_free(s->auth);
    fprintf(stderr, "flamewatch server: stopped\n");
    return 0;
}
