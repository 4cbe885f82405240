/*
 * fw_request: the uploader's HTTP requests (POST /ingest, GET settings, GET /healthz).
 * Called only from the uploader's thread, without its queue lock and without the GIL.
 */
#ifndef FW_REQUEST_H
#define FW_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_agent.h"

#define FW_ANSWER_MAX 65536u        /* bytes of an answer kept (errors, settings) */

/* An answer's first FW_ANSWER_MAX bytes; `data` holds FW_ANSWER_MAX + 1 bytes (NUL-ended). */
typedef struct {
    char *data;
    size_t len;
} fw_answer;

/* One profile to deliver: the gzip'ed pprof and the interval it covers. */
typedef struct {
    uint8_t *data;
    size_t len;
    int64_t start_ns;
    int64_t end_ns;
} fw_up_item;

typedef enum { FW_SEND_OK, FW_SEND_RETRY, FW_SEND_REJECTED } fw_send_result;

/* Who answered an attempt: nobody (no connection, timeout), a gateway on the server's behalf
 * (502, 503, 504: the server behind it may be down), or the server. */
typedef enum { FW_PEER_SILENT, FW_PEER_GATEWAY, FW_PEER_ANSWERED } fw_peer;

/* The server URL's length without trailing slashes. */
size_t fw_request_base_len(const char *server);
/* One POST /ingest, multipart/form-data with the pprof in the field `profile`, reporting
 * `dropped` profiles. RETRY or REJECTED come with a reason in `why`; *peer says who answered
 * and *cpu_ns the calling thread's CPU time spent on it. */
fw_send_result fw_request_ingest(const fw_agent *a, CURL *c, const fw_up_item *it,
                                  uint64_t dropped, long timeout_ms, fw_answer *ans, char *why,
                                  size_t whylen, fw_peer *peer, uint64_t *cpu_ns);
/* Fetches the settings; 200 with the answer in ans, another status, or 0 when unreachable. */
long fw_request_settings(const fw_agent *a, CURL *c, fw_answer *ans);
/* GET /healthz. True if the server answered (any status below 500). */
bool fw_request_probe(const fw_agent *a, CURL *c, fw_answer *ans);

#endif
