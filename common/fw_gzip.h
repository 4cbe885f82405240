/*
 * fw_gzip: gzip (RFC 1952) compression with zlib, the gzip magic test, and the status codes
 * that compression and decompression (fw_gunzip) share. This half is what the agent links:
 * it compresses every profile it uploads and never decompresses anything.
 */
#ifndef FW_GZIP_H
#define FW_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include "fw_buf.h"

typedef enum {
    FW_GZIP_OK = 0,
    FW_GZIP_NOMEM = -1,
    FW_GZIP_CORRUPT = -2,     /* not gzip, bad CRC, or truncated */
    FW_GZIP_TOO_LARGE = -3,   /* output would exceed the cap */
} fw_gzip_status;

int fw_gzip_is_gzip(const uint8_t *data, size_t len);
fw_gzip_status fw_gzip_compress(const uint8_t *data, size_t len, int level, fw_buf *out);
const char *fw_gzip_strerror(fw_gzip_status s);

#endif
