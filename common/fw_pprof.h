/*
 * fw_pprof: google/pprof's profile.proto wire format, written and read by hand.
 *
 * The schema is small and fixed, so we speak the protobuf wire format directly: the agent
 * needs no runtime dependency, and the decoder can enforce flamewatch's own caps.
 * The decoder treats its input as hostile: every length is checked against the remaining
 * bytes, every index (string, function, location) against its table, varints are limited
 * to 10 bytes, and counts are capped by fw_profile's limits. On failure it returns NULL and
 * writes a one-line reason to `err` (for example "sample 12: location id 99 out of range"),
 * for people; programs tell failures apart by fw_pprof_error.
 * The encoder is fw_pprof_encode.c (the agent's half); the decoder is fw_pprof_decode.c and
 * fw_pprof_samples.c (the server's and the CLI's).
 * Fields flamewatch does not use (mappings, drop_frames, ...) are validated for framing and skipped.
 */
#ifndef FW_PPROF_H
#define FW_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include "fw_buf.h"
#include "fw_profile.h"

/* Encodes `p` as an uncompressed pprof message appended to `out`. */
fw_status fw_pprof_encode(const fw_profile *p, fw_buf *out);

/* Decodes an uncompressed pprof message. */
fw_profile *fw_pprof_decode(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Why fw_pprof_decode_any failed. */
typedef enum {
    FW_PPROF_OK = 0,
    FW_PPROF_INVALID,     /* not a valid pprof message, or over fw_profile's limits */
    FW_PPROF_GZIP,        /* gzip-compressed, but corrupt or truncated */
    FW_PPROF_TOO_LARGE,   /* more than max_decompressed bytes, compressed or not */
    FW_PPROF_NOMEM,       /* no memory to decompress */
} fw_pprof_error;

/* Decodes a pprof that may be gzip-compressed (detected by its magic bytes, as pprof files
 * are usually written); the decompressed size is capped at `max_decompressed` bytes. On
 * failure, *code (when not NULL) says why. */
fw_profile *fw_pprof_decode_any(const uint8_t *data, size_t len, size_t max_decompressed,
                                fw_pprof_error *code, char *err, size_t errlen);

#endif
