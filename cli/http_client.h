/*
 * http_client: the CLI's HTTP requests to a flamewatch server, over libcurl.
 */
#ifndef FW_HTTP_CLIENT_H
#define FW_HTTP_CLIENT_H

#include <stddef.h>

typedef struct {
    long status;
    char *body;      /* NUL-terminated, malloc'ed */
    size_t len;
    char ctype[128];
} fw_http_result;

/* Performs one request. Returns 0 when a response arrived (any status), -1 with a message in
 * err when the server could not be reached. `token` may be NULL. */
int fw_http_request(const char *method, const char *url, const char *token, const char *content_type,
                    const void *body, size_t len, fw_http_result *out, char *err, size_t errlen);
void fw_http_result_free(fw_http_result *r);

/* Percent-encodes s for a query string; malloc'ed. */
char *fw_http_escape(const char *s);

/* A growing NUL-terminated text (a request URL, or a small request body). The first
 * fw_url_param() adds '?', later ones '&'. A failed allocation sets `failed`, after which every
 * call does nothing: callers check `failed` once, at the end. Free `s` with free(). */
typedef struct {
    char *s;
    size_t len, cap;
    int params;
    int failed;
} fw_url;

void fw_url_raw(fw_url *u, const char *t);
/* Appends ?k=v or &k=v with v percent-encoded; nothing when v is NULL. */
void fw_url_param(fw_url *u, const char *k, const char *v);

#endif
