/*
 * fw_gzip.c: gzip compression with zlib.
 *
 * Compression is one deflate call into a buffer sized by deflateBound(), so it cannot run
 * out of room halfway. Decompression, where hostile input lives, is fw_gunzip.c's.
 */
#include "fw_gzip.h"

#include <assert.h>
#include <limits.h>
#include <zlib.h>

int fw_gzip_is_gzip(const uint8_t *data, size_t len)
{
    return data && len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

const char *fw_gzip_strerror(fw_gzip_status s)
{
    switch (s) {
    case FW_GZIP_OK:
        return "ok";
    case FW_GZIP_NOMEM:
        return "out of memory";
    case FW_GZIP_CORRUPT:
        return "corrupt or truncated gzip data";
    case FW_GZIP_TOO_LARGE:
        return "decompressed size exceeds the limit";
    }
    return "unknown gzip error";
}

fw_gzip_status fw_gzip_compress(const uint8_t *data, size_t len, int level, fw_buf *out)
{
    assert(out);
    if ((!data && len) || level < -1 || level > 9 || len > UINT_MAX)
        return FW_GZIP_CORRUPT;
    z_stream zs = {0};
    /* 15 window bits + 16 selects the gzip wrapper. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return FW_GZIP_NOMEM;
    size_t bound = deflateBound(&zs, (uLong)len);
    size_t start = out->len;
    if (bound > UINT_MAX || start > SIZE_MAX - bound || fw_buf_reserve(out, bound) != 0) {
        deflateEnd(&zs);
        return FW_GZIP_NOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + start;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = bound - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END)
        return FW_GZIP_NOMEM;
    out->len = start + produced;
    return FW_GZIP_OK;
}
