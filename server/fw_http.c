/*
 * fw_http.c: the request accessors over libmicrohttpd (query parameters, repeated ones in
 * order, headers) and the response helpers. A response owns its body (malloc'ed); a JSON
 * document that failed to build (out of memory) becomes a fixed 500 rather than a partial
 * answer.
 */
#include "fw_http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request accessors ---- */

const char *fw_http_arg(const fw_http_req *r, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct {
    const char *key;
    const char **vals;
    size_t n, max;
} fw_args_iter;

static enum MHD_Result fw_args_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    fw_args_iter *it = cls;
    if (strcmp(key, it->key) == 0 && it->n < it->max)
        it->vals[it->n++] = value ? value : "";
    return MHD_YES;
}

size_t fw_http_args(const fw_http_req *r, const char *key, const char **vals, size_t max)
{
    fw_args_iter it = {key, vals, 0, max};
    MHD_get_connection_values((struct MHD_Connection *)r->conn, MHD_GET_ARGUMENT_KIND, fw_args_cb, &it);
    return it.n;
}

const char *fw_http_header(const fw_http_req *r, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn, MHD_HEADER_KIND, name);
}

/* ---- response helpers ---- */

void fw_http_text(fw_http_resp *resp, int status, const char *ctype, char *body, size_t len)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = ctype;
    resp->body = body;
    resp->len = len;
}

void fw_http_error(fw_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fw_json j;
    fw_json_init(&j);
    fw_json_obj_begin(&j);
    fw_json_kv_str(&j, "error", msg);
    fw_json_obj_end(&j);
    fw_http_json(resp, status, &j);
}

void fw_http_json(fw_http_resp *resp, int status, fw_json *j)
{
    if (fw_json_finish(j) != 0) {
        fw_json_free(j);
        static const char oom[] = "{\"error\":\"out of memory building the response\"}";
        char *b = strdup(oom);
        fw_http_text(resp, 500, "application/json", b, b ? strlen(b) : 0);
        return;
    }
    fw_http_text(resp, status, "application/json", j->data, j->len);
    j->data = NULL; /* ownership moved to resp */
    fw_json_free(j);
}
