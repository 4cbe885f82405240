/*
 * fw_pprof: google/pprof's profile.proto wire format, written and read by hand.
 *
 * The schema is small and fixed, so we speak the protobuf wire format directly: the agent
 * needs no runtime dependency, and the decoder can enforce flamewatch's own caps.
 * The decoder treats its input as hostile: every length is checked against the remaining
 * bytes, every index (string, function, location) against its table, varints are limited
 * to 10 bytes, and counts are capped by fw_profile's limits. On failure it returns NULL and
 * writes a one-line reason to `err` (for example "sample 12: location id 99 out of range").
 * Fields flamewatch does not use (mappings, drop_frames, ...) are validated for framing and skipped.
 */
#ifndef FW_PPROF_H
#define FW_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include "fw_profile.h"

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} fw_buf;

void fw_buf_free(fw_buf *b);
int fw_buf_append(fw_buf *b, const void *data, size_t len);  /* 0 or -1 (no memory) */
/* Makes room for `extra` more bytes after len without changing len: 0 or -1 (no memory). */
int fw_buf_reserve(fw_buf *b, size_t extra);

/* Encodes `p` as an uncompressed pprof message appended to `out`. */
fw_status fw_pprof_encode(const fw_profile *p, fw_buf *out);

/* Decodes an uncompressed pprof message. */
fw_profile *fw_pprof_decode(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Decodes a pprof that may be gzip-compressed (detected by its magic bytes); the
 * decompressed size is capped at `max_decompressed` bytes. */
fw_profile *fw_pprof_decode_any(const uint8_t *data, size_t len, size_t max_decompressed,
                                char *err, size_t errlen);

#endif
