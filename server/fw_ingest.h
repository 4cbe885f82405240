/*
 * fw_ingest: turns one Pyroscope-compatible `POST /ingest` request into a validated profile.
 *
 * The parser is pure (no I/O, no store): it takes the query parameters, a few headers and the
 * body, and either returns a complete fw_ingest_batch or an HTTP status with a one-line reason.
 * Nothing is stored unless parsing succeeded as a whole, which is how "nothing partial is
 * stored" is guaranteed at this layer; the store then writes the batch in one transaction.
 * Keeping it pure also makes it the fuzz target for the whole ingest path.
 */
#ifndef FW_INGEST_H
#define FW_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "fw_appname.h"
#include "fw_profile.h"

#define FW_INGEST_MAX_BODY         (16u << 20)  /* request body cap: 413 above */
#define FW_INGEST_MAX_DECOMPRESSED (64u << 20)  /* gzip bomb cap: 413 above */
#define FW_INGEST_MAX_TAGS         32
#define FW_INGEST_APP_MAX          FW_APP_NAME_MAX

typedef struct {
    /* Query parameters (NULL when absent). */
    const char *name;
    const char *from;
    const char *until;
    const char *format;
    const char *sample_rate;
    const char *spy_name;
    const char *units;
    const char *aggregation_type;
    /* Headers (NULL when absent). */
    const char *content_type;
    const char *content_encoding;
    /* Body. */
    const uint8_t *body;
    size_t body_len;
    /* Wall clock used to judge timestamps (unix seconds). */
    int64_t now;
} fw_ingest_request;

typedef struct {
    char app[FW_INGEST_APP_MAX + 1];
    size_t ntags;
    fw_label tags[FW_INGEST_MAX_TAGS];   /* point into `tagbuf` */
    char *tagbuf;
    int64_t from;                         /* unix seconds */
    int64_t until;                        /* unix seconds */
    const char *format;                   /* "pprof", "folded" or "lines" (static) */
    fw_profile *profile;                  /* owned; one sample type per profile type */
    uint64_t stack_values;                /* samples x types, for metrics */
} fw_ingest_batch;

/* Reason codes for the rejected-uploads metric. */
typedef enum {
    FW_REJECT_NONE = 0,
    FW_REJECT_PARAMS,
    FW_REJECT_FORMAT,
    FW_REJECT_TOO_LARGE,
    FW_REJECT_GZIP,
    FW_REJECT_PPROF,
    FW_REJECT_FOLDED,
    FW_REJECT_UTF8,
    FW_REJECT_TIME,
    FW_REJECT_MULTIPART,
    FW_REJECT_AUTH,
    FW_REJECT_STORE,
    FW_REJECT__COUNT
} fw_reject_reason;

const char *fw_reject_reason_name(fw_reject_reason r);

/* Parses `req`. Returns 200 and fills `out` on success (free with fw_ingest_batch_free), or a
 * 4xx status with `err` set and `*reason` set, leaving `out` empty. */
int fw_ingest_parse(const fw_ingest_request *req, fw_ingest_batch *out, fw_reject_reason *reason,
                    char *err, size_t errlen);
void fw_ingest_batch_free(fw_ingest_batch *b);

/* Parses `APP[.TYPE]{k=v,...}` (exposed for tests and the query side). Returns 0 or -1. */
int fw_ingest_parse_name(const char *name, fw_ingest_batch *out, char *type, size_t typelen,
                         char *err, size_t errlen);

/* Profile-type helpers shared with the query API. */
int fw_profile_type_known(const char *type);
const char *fw_profile_type_unit(const char *type);
const char *fw_profile_type_description(const char *type);

#endif
