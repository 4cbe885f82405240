/*
 * fw_ch_http.c: the transport: ClickHouse's HTTP interface through libcurl.
 *
 * Why HTTP: it is ClickHouse's stable public interface from 18.16 to today, needs no protocol
 * client of our own, and carries RowBinary inserts and TabSeparated results as plain bodies.
 * libcurl is reached through common/fw_curl.c's stubs, which load it at the first
 * curl_global_init(): the CLI (the same binary) does not pay for it unless a ClickHouse store
 * is opened (docs/ARCHITECTURE.md, "Dependencies").
 *
 * A small pool of easy handles keeps connections alive between requests; a request takes a free
 * handle (waiting when all are busy), so at most FW_CH_POOL requests are in flight per server.
 * Every request sets wait_end_of_query=1: ClickHouse then buffers the result and reports an error
 * met halfway with an HTTP error status, instead of appending it to a 200 body already sent.
 * Errors become one line: "ClickHouse unreachable at host:port" when the transport failed (the
 * caller maps that to 503 for uploads, so agents retry), or ClickHouse's own message without its
 * stack trace, with the status its error code means (fw_ch_code_status).
 */
#include "fw_ch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fw_ch_http {
    char base[512];               /* http://host:port/?database=db */
    char hostport[300];
    struct curl_slist *headers;   /* user and key, when given */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    CURL *h[FW_CH_POOL];
    int busy[FW_CH_POOL];
};

static pthread_once_t fw_ch_curl_once = PTHREAD_ONCE_INIT;
static CURLcode fw_ch_curl_rc = CURLE_FAILED_INIT;

static void fw_ch_curl_init(void)
{
    fw_ch_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

fw_ch_http *fw_ch_http_new(const fw_ch_url *u, int host, const char *db, char *err, size_t errlen)
{
    pthread_once(&fw_ch_curl_once, fw_ch_curl_init);
    if (fw_ch_curl_rc != CURLE_OK) {
        fw_store_errf(err, errlen, "cannot load libcurl for ClickHouse: %s",
                      curl_easy_strerror(fw_ch_curl_rc));
        return NULL;
    }
    fw_ch_http *h = calloc(1, sizeof *h);
    if (!h) {
        fw_store_errf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(h->hostport, sizeof h->hostport, "%s:%d", u->hosts[host], u->ports[host]);
    snprintf(h->base, sizeof h->base, "http://%s/?database=%s", h->hostport, db);
    if (u->user[0]) {
        char line[300];
        snprintf(line, sizeof line, "X-ClickHouse-User: %s", u->user);
        struct curl_slist *l = curl_slist_append(NULL, line);
        snprintf(line, sizeof line, "X-ClickHouse-Key: %s", u->password);
        struct curl_slist *l2 = l ? curl_slist_append(l, line) : NULL;
        if (!l2) {
            curl_slist_free_all(l);
            free(h);
            fw_store_errf(err, errlen, "out of memory");
            return NULL;
        }
        h->headers = l2;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    return h;
}

void fw_ch_http_free(fw_ch_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < FW_CH_POOL; i++)
        if (h->h[i])
            curl_easy_cleanup(h->h[i]);
    curl_slist_free_all(h->headers);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}

static int fw_ch_get(fw_ch_http *h)
{
    pthread_mutex_lock(&h->lock);
    for (;;) {
        for (int i = 0; i < FW_CH_POOL; i++)
            if (!h->busy[i]) {
                h->busy[i] = 1;
                pthread_mutex_unlock(&h->lock);
                return i;
            }
        pthread_cond_wait(&h->cond, &h->lock);
    }
}

static void fw_ch_put_back(fw_ch_http *h, int i)
{
    pthread_mutex_lock(&h->lock);
    h->busy[i] = 0;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

fw_store_status fw_ch_code_status(int code)
{
    switch (code) {
    case 159: /* TIMEOUT_EXCEEDED */
    case 160: /* TOO_SLOW */
        return FW_STORE_ERR_TIMEOUT;
    case 396: /* TOO_MANY_ROWS_OR_BYTES */
    case 241: /* MEMORY_LIMIT_EXCEEDED */
    case 131: /* TOO_LARGE_STRING_SIZE */
    case 158: /* TOO_MANY_ROWS */
    case 307: /* TOO_MANY_BYTES */
        return FW_STORE_ERR_TOOBIG;
    case 164: /* READONLY */
    case 497: /* ACCESS_DENIED */
    case 516: /* AUTHENTICATION_FAILED */
        return FW_STORE_ERR_DENIED;
    case 202: /* TOO_MANY_SIMULTANEOUS_QUERIES */
        return FW_STORE_ERR_BUSY;
    case 1: case 27: case 36: case 38: case 41: case 42: case 43: case 44: case 46: case 47: case 48:
    case 49: case 50: case 51: case 52: case 53: case 60: case 62: case 70: case 72: case 80: case 81:
    case 113: case 115: case 117: case 179: case 184: case 190: case 215: case 352: case 386:
        /* syntax, unknown names, wrong types or arguments: the statement's fault */
        return FW_STORE_ERR_INVALID;
    default:
        return FW_STORE_ERR_IO;
    }
}

void fw_ch_error_line(const char *body, size_t n, int *code, char *out, size_t outlen)
{
    *code = 0;
    const char *c = NULL;
    for (size_t i = 0; i + 6 <= n; i++)
        if (memcmp(body + i, "Code: ", 6) == 0) {
            c = body + i;
            break;
        }
    const char *msg = body;
    size_t len = n;
    if (c) {
        *code = atoi(c + 6);
        static const char *const marks[] = {"DB::Exception: ", "e.displayText() = "};
        msg = c;
        len = n - (size_t)(c - body);
        for (size_t m = 0; m < 2; m++)
            for (size_t i = 0; i + strlen(marks[m]) <= len; i++)
                if (memcmp(msg + i, marks[m], strlen(marks[m])) == 0) {
                    msg += i + strlen(marks[m]);
                    len -= i + strlen(marks[m]);
                    m = 2;
                    break;
                }
    }
    /* One line, without the trailer 18.16 adds (", e.what() = ...") or a version suffix. */
    size_t e = 0;
    while (e < len && msg[e] != '\n' && msg[e] != '\r')
        e++;
    static const char *const tails[] = {", e.what() = ", " (version "};
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i + strlen(tails[t]) <= e; i++)
            if (memcmp(msg + i, tails[t], strlen(tails[t])) == 0) {
                e = i;
                break;
            }
    while (e > 0 && (msg[e - 1] == ' ' || msg[e - 1] == '.'))
        e--;
    if (e == 0) {
        snprintf(out, outlen, "ClickHouse error (code %d)", *code);
        return;
    }
    snprintf(out, outlen, "ClickHouse: %.*s", (int)(e > 400 ? 400 : e), msg);
}

typedef struct {
    fw_ch_buf *b;
    size_t max;
    int over;
} fw_ch_sink;

static size_t fw_ch_write(char *p, size_t size, size_t nmemb, void *arg)
{
    fw_ch_sink *k = arg;
    size_t n = size * nmemb;
    if (k->max && k->b->n + n > k->max) {
        k->over = 1;
        return 0;   /* aborts the transfer */
    }
    fw_ch_put(k->b, p, n);
    return k->b->oom ? 0 : n;
}

fw_store_status fw_ch_http_run(fw_ch_http *h, const char *sql, const char *body, size_t body_len,
                               const char *const *settings, int64_t timeout_ms, size_t max_resp,
                               fw_ch_buf *resp, int *code, char *err, size_t errlen)
{
    fw_ch_buf local = {0}, url = {0};
    fw_ch_buf *out = resp ? resp : &local;
    fw_ch_buf_reset(out);
    if (code)
        *code = 0;
    int i = fw_ch_get(h);
    if (!h->h[i])
        h->h[i] = curl_easy_init();
    CURL *c = h->h[i];
    fw_store_status st = FW_STORE_OK;
    if (!c) {
        fw_ch_put_back(h, i);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    curl_easy_reset(c);
    fw_ch_puts(&url, h->base);
    fw_ch_puts(&url, "&wait_end_of_query=1");
    for (size_t k = 0; settings && settings[k]; k++) {
        fw_ch_puts(&url, "&");
        fw_ch_puts(&url, settings[k]);
    }
    if (body) {
        char *q = curl_easy_escape(c, sql, (int)strlen(sql));
        if (q) {
            fw_ch_puts(&url, "&query=");
            fw_ch_puts(&url, q);
            curl_free(q);
        } else {
            url.oom = 1;
        }
    }
    char *u = fw_ch_buf_take(&url);
    if (!u) {
        fw_ch_put_back(h, i);
        fw_store_errf(err, errlen, "out of memory");
        return FW_STORE_ERR_NOMEM;
    }
    fw_ch_sink sink = {out, max_resp, 0};
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : sql);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : strlen(sql)));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fw_ch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    /* A little over ClickHouse's own max_execution_time, so its own timeout error wins. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms + 5000 : 120000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
#if LIBCURL_VERSION_NUM >= 0x075000
    /* A ClickHouse shutting down serves open keep-alive connections until they go quiet, and we
     * never let them: without a cap on a connection's age a stopped server kept acknowledging
     * uploads for 8 s (tests/clickhouse/test_faults.py), and a restarted one behind a balancer would
     * not get our traffic back. Two seconds keep the benefit of reuse for bursts. */
    curl_easy_setopt(c, CURLOPT_MAXLIFETIME_CONN, 2L);
#endif
    if (h->headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    CURLcode rc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    free(u);
    if (sink.over) {
        fw_store_errf(err, errlen, "result over its byte limit (%zu bytes)", max_resp);
        st = FW_STORE_ERR_TOOBIG;
    } else if (out->oom) {
        fw_store_errf(err, errlen, "out of memory reading ClickHouse's answer");
        st = FW_STORE_ERR_NOMEM;
    } else if (rc != CURLE_OK) {
        fw_store_errf(err, errlen, "ClickHouse unreachable at %s (%s)", h->hostport, curl_easy_strerror(rc));
        st = rc == CURLE_OPERATION_TIMEDOUT && http == 0 && out->n > 0 ? FW_STORE_ERR_TIMEOUT : FW_STORE_ERR_IO;
    } else if (http != 200) {
        int cd = 0;
        fw_ch_error_line(out->p ? out->p : "", out->n, &cd, err, errlen);
        if (code)
            *code = cd;
        st = cd ? fw_ch_code_status(cd) : FW_STORE_ERR_IO;
        if (!cd)
            fw_store_errf(err, errlen, "ClickHouse at %s answered HTTP %ld", h->hostport, http);
    }
    fw_ch_put_back(h, i);
    if (st == FW_STORE_OK && fw_ch_buf_nul(out) != 0)
        st = FW_STORE_ERR_NOMEM;
    fw_ch_buf_free(&local);
    return st;
}
