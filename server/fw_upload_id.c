/*
 * fw_upload_id.c: the id under which a store de-duplicates an upload (docs/API.md, "Retries").
 *
 * An agent whose upload was stored but whose answer was lost (a timeout, a server killed between
 * the commit and the reply) sends the same request again. Both attempts must end as one upload:
 * the store keeps the id next to the upload's rows and skips an upload whose id is already
 * stored for the same application and time bucket. The id is derived here rather than sent by
 * agents so that every client (Pyroscope's included) gets it: a retry repeats the URL and the
 * profile byte for byte (a multipart body only its `profile` field: the boundary changes). A
 * client that may send the same bytes twice on purpose names each upload with ?uploadId=
 * instead, which replaces the body in the hash.
 *
 * The hash: 64-bit words mixed with two multiplications (a murmur-style finalizer at the end),
 * fields framed by their index and length so that moving bytes between fields changes the id.
 * It only has to spread well (a collision inside one application and 10 s bucket would drop an
 * upload: with 1,000 uploads in one bucket the chance is ~3e-14); it is not persisted as a
 * format, so it may change between versions (a retry across an upgrade would then be stored twice).
 */
#include "fw_upload_id.h"
#include "fw_multipart.h"

#include <strings.h>
#include <string.h>

#define FW_UID_P1 0x9e3779b97f4a7c15ull
#define FW_UID_P2 0xc2b2ae3d27d4eb4full

static uint64_t fw_uid_fin(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t fw_uid_word(uint64_t h, uint64_t w)
{
    w *= FW_UID_P2;
    w = (w << 31) | (w >> 33);
    h ^= w * FW_UID_P1;
    return ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
}

static uint64_t fw_uid_bytes(uint64_t h, unsigned field, const void *p, size_t n)
{
    h = fw_uid_word(h, ((uint64_t)field << 56) ^ (uint64_t)n);
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = fw_uid_word(h, w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i);
        h = fw_uid_word(h, w);
    }
    return h;
}

static uint64_t fw_uid_str(uint64_t h, unsigned field, const char *s)
{
    /* Absent and empty differ: an absent parameter hashes as length 2^32. */
    return s ? fw_uid_bytes(h, field, s, strlen(s)) : fw_uid_word(h, ((uint64_t)field << 56) ^ (1ull << 32));
}

uint64_t fw_upload_id(const fw_ingest_request *req, const char *upload_id)
{
    uint64_t h = 0x75706c6f6164ull;   /* "upload" */
    h = fw_uid_str(h, 1, req->name);
    if (upload_id) {
        h = fw_uid_str(h, 2, upload_id);
    } else {
        h = fw_uid_str(h, 3, req->from);
        h = fw_uid_str(h, 4, req->until);
        h = fw_uid_str(h, 5, req->format);
        h = fw_uid_str(h, 6, req->sample_rate);
        h = fw_uid_str(h, 7, req->spy_name);
        h = fw_uid_str(h, 8, req->units);
        h = fw_uid_str(h, 9, req->aggregation_type);
        h = fw_uid_str(h, 11, req->content_encoding);
        /* A multipart body's boundary is new at every attempt (curl draws it at random, in the
         * Content-Type and the body), so the id covers the `profile` field's bytes only. */
        const uint8_t *data = req->body;
        size_t len = req->body_len;
        char err[8];
        if (req->content_type && strncasecmp(req->content_type, "multipart/form-data", 19) == 0 &&
            fw_multipart_find(req->content_type, req->body, req->body_len, "profile", &data, &len, err,
                              sizeof err) == 0) {
            h = fw_uid_str(h, 10, "multipart/form-data");
        } else {
            data = req->body;
            len = req->body_len;
            h = fw_uid_str(h, 10, req->content_type);
        }
        h = fw_uid_bytes(h, 12, data, len);
    }
    h = fw_uid_fin(h);
    return h ? h : 1;
}
