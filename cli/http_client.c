/*
 * http_client: libcurl, used synchronously.
 *
 * libcurl gives us keep-alive, proxies, IPv6, chunked decoding and TLS for servers behind a
 * TLS proxy without code of our own. Each CLI invocation makes one or two requests, so an easy
 * handle per request is plenty. Timeouts are bounded (connect 10 s, total 120 s) so a hung
 * server makes the CLI fail with a message instead of hanging forever.
 *
 * libcurl is not linked: common/fw_curl.c dlopen()s it at the first curl_global_init(), so the
 * commands that make no request (`run` above all) do not pay for loading it. That init is
 * therefore the first libcurl call on every path, and a request fails with a message, not an
 * assert, when it did not succeed (a machine without libcurl4). Requests are made from one
 * thread.
 */
#include "http_client.h"

#include "fw_curl.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_HTTP_MAX_RESPONSE (512u << 20)

static size_t fw_http_sink(char *data, size_t size, size_t n, void *arg)
{
    fw_http_result *r = arg;
    size_t add = size * n;
    if (r->len + add > FW_HTTP_MAX_RESPONSE)
        return 0;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, data, add);
    r->body = b;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

int fw_http_request(const char *method, const char *url, const char *token, const char *content_type,
                    const void *body, size_t len, fw_http_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    static int inited;
    static CURLcode init_rc;
    static char init_err[512];
    if (!inited) {
        init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        const char *why = fw_curl_load_error();
        if (why)
            snprintf(init_err, sizeof init_err, "libcurl (" FW_CURL_LIBRARY ") could not be loaded (%s); "
                     "install libcurl4 (Debian, Ubuntu) or your distribution's libcurl package", why);
        else if (init_rc != CURLE_OK)
            snprintf(init_err, sizeof init_err, "cannot initialize libcurl: %s", curl_easy_strerror(init_rc));
        inited = 1;
    }
    if (init_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach %s: %s", url, init_err);
        return -1;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot initialize libcurl");
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char auth[600];
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (content_type) {
        char ct[200];
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fw_http_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->ctype, sizeof out->ctype, "%s", ct ? ct : "");
        if (!out->body) {
            out->body = calloc(1, 1);
            if (!out->body) {
                snprintf(err, errlen, "out of memory");
                ret = -1;
            }
        }
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (ret != 0)
        fw_http_result_free(out);
    return ret;
}

void fw_http_result_free(fw_http_result *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

char *fw_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1), *p = o;
    if (!o)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return o;
}

void fw_url_raw(fw_url *u, const char *t)
{
    size_t n = strlen(t);
    if (u->failed)
        return;
    if (u->len + n + 1 > u->cap) {
        size_t cap = (u->cap + n + 1) * 2;
        char *s = realloc(u->s, cap);
        if (!s) {
            u->failed = 1;
            return;
        }
        u->s = s;
        u->cap = cap;
    }
    memcpy(u->s + u->len, t, n + 1);
    u->len += n;
}

void fw_url_param(fw_url *u, const char *k, const char *v)
{
    if (!v)
        return;
    char *e = fw_http_escape(v);
    if (!e) {
        u->failed = 1;
        return;
    }
    fw_url_raw(u, u->params++ ? "&" : "?");
    fw_url_raw(u, k);
    fw_url_raw(u, "=");
    fw_url_raw(u, e);
    free(e);
}
