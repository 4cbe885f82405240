/*
 * fw_http: one HTTP request and its answer as the endpoints see them: the request's method,
 * path, body and caller (role, token), accessors for its query parameters and headers, and
 * helpers that fill the response (a JSON document, text, or a {"error": ...} JSON error).
 * Handlers never touch libmicrohttpd directly; this file is the only one besides the daemon
 * (fw_server.c) that does, and only to read the request's values.
 */
#ifndef FW_HTTP_H
#define FW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "fw_auth.h"
#include "fw_json.h"

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

/* Request accessors (over libmicrohttpd). */
const char *fw_http_arg(const fw_http_req *r, const char *key);
/* All values of a repeated query parameter, in order; returns how many (<= max). */
size_t fw_http_args(const fw_http_req *r, const char *key, const char **vals, size_t max);
const char *fw_http_header(const fw_http_req *r, const char *name);

/* Response helpers. */
void fw_http_error(fw_http_resp *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Takes the finished document out of `j` (frees j); 500 if it failed. */
void fw_http_json(fw_http_resp *resp, int status, fw_json *j);
void fw_http_text(fw_http_resp *resp, int status, const char *ctype, char *body, size_t len);

#endif
