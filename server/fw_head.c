/*
 * fw_head.c: request-head checks (see fw_head.h for why framing is refused, not repaired).
 *
 * One pass over the headers with their lengths (libmicrohttpd's _n iterator, so an embedded
 * NUL is seen instead of ending the string) counts the framing headers and notes the first
 * problem; one pass over the query arguments looks for NUL bytes, which a C string would
 * silently cut ("ab%00cd" would become "ab"). The first problem found is the one reported.
 */
#include "fw_head.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char fw_allowed_methods[] = "GET, HEAD, POST, PUT";

typedef struct {
    unsigned content_length;     /* Content-Length headers seen */
    unsigned transfer_encoding;  /* Transfer-Encoding headers seen */
    int bad_length;              /* a Content-Length that is not 1-19 digits */
    int chunked;                 /* the (single) Transfer-Encoding is "chunked" */
    const char *problem;         /* first other problem, a static message */
    int arg_nul;                 /* a query argument contains a NUL byte */
    char arg[64];                /* its name, for the message */
} fw_head_scan;

static int fw_digits(const char *v, size_t n)
{
    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static enum MHD_Result fw_scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                      const char *value, size_t value_size)
{
    (void)kind;
    fw_head_scan *h = cls;
    if (!value)
        value = "", value_size = 0;
    if (memchr(key, '\0', key_size) || memchr(value, '\0', value_size)) {
        h->problem = h->problem ? h->problem : "a header contains a NUL byte";
        return MHD_YES;
    }
    if (strcspn(key, " \t") != key_size) {
        h->problem = h->problem ? h->problem : "whitespace in a header name (before the ':')";
        return MHD_YES;
    }
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        h->content_length++;
        if (!fw_digits(value, value_size))
            h->bad_length = 1;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        h->transfer_encoding++;
        h->chunked = strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

static enum MHD_Result fw_scan_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    (void)kind;
    fw_head_scan *h = cls;
    if (memchr(key, '\0', key_size) || (value && memchr(value, '\0', value_size))) {
        h->arg_nul = 1;
        snprintf(h->arg, sizeof h->arg, "%.*s", (int)strnlen(key, key_size), key);
        return MHD_NO; /* one is enough */
    }
    return MHD_YES;
}

static int fw_method_allowed(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0;
}

int fw_head_check(void *connection, const char *method, const char *version, fw_http_resp *resp)
{
    struct MHD_Connection *conn = connection;
    if (!fw_method_allowed(method)) {
        fw_http_error(resp, 405, "method '%.32s' not allowed (use %s)", method, fw_allowed_methods);
        return -1;
    }
    fw_head_scan h = {0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, fw_scan_header, &h);
    const char *why = h.problem;
    if (!why && h.content_length > 1)
        why = "more than one Content-Length header";
    else if (!why && h.bad_length)
        why = "Content-Length is not a decimal number";
    else if (!why && h.transfer_encoding) {
        if (h.content_length)
            why = "both Content-Length and Transfer-Encoding";
        else if (h.transfer_encoding > 1 || !h.chunked)
            why = "Transfer-Encoding other than a single 'chunked'";
        else if (strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
            why = "Transfer-Encoding in an HTTP/1.0 request";
    }
    if (why) {
        fw_http_error(resp, 400, "ambiguous or invalid message framing: %s", why);
        return -1;
    }
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, fw_scan_arg, &h);
    if (h.arg_nul) {
        fw_http_error(resp, 400, "query parameter '%s' contains a NUL byte (%%00)", h.arg);
        return -1;
    }
    return 0;
}
