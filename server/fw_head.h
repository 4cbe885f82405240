/*
 * fw_head: the checks a request passes at its head, before any byte of its body is read
 * (issue 11 item 8): the method, the message framing, and NUL bytes in the query.
 *
 * Framing decides where one request ends and the next begins; when two parties (a proxy and
 * us) could read it differently, a request can be smuggled past the first. libmicrohttpd
 * takes the first of two Content-Length headers, accepts Content-Length together with
 * Transfer-Encoding, and waits for a body it cannot frame on an unknown transfer coding.
 * So anything but one plain Content-Length or exactly "Transfer-Encoding: chunked" (HTTP/1.1,
 * no Content-Length) is refused with 400 and the connection closed, as are header names with
 * whitespace before the colon ("Content-Length : 5", which some proxies take as the header).
 */
#ifndef FW_HEAD_H
#define FW_HEAD_H

#include "fw_http.h"

/* The methods any endpoint answers; others get 405 with this list in Allow. */
extern const char fw_allowed_methods[];

/* 0 if the head is acceptable; otherwise fills resp (400/405) and returns -1. `conn` is the
 * libmicrohttpd connection. */
int fw_head_check(void *conn, const char *method, const char *version, fw_http_resp *resp);

#endif
