/*
 * fw_gzip: gzip (RFC 1952) with zlib, and decompression that refuses to grow past a cap.
 * The cap is how callers defend against gzip bombs: decompression stops as soon as the
 * output would exceed it and reports FW_GZIP_TOO_LARGE instead of allocating more.
 */
#ifndef FW_GZIP_H
#define FW_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include "fw_pprof.h"

typedef enum {
    FW_GZIP_OK = 0,
    FW_GZIP_NOMEM = -1,
    FW_GZIP_CORRUPT = -2,     /* not gzip, bad CRC, or truncated */
    FW_GZIP_TOO_LARGE = -3,   /* output would exceed the cap */
} fw_gzip_status;

int fw_gzip_is_gzip(const uint8_t *data, size_t len);
fw_gzip_status fw_gzip_compress(const uint8_t *data, size_t len, int level, fw_buf *out);
fw_gzip_status fw_gzip_decompress(const uint8_t *data, size_t len, size_t max_out, fw_buf *out);
const char *fw_gzip_strerror(fw_gzip_status s);

#endif
