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

#endif
