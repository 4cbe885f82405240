/*
 * fw_gzip.c: gzip with zlib, and decompression that never grows past a cap.
 *
 * Compression is one deflate call into a buffer sized by deflateBound(), so it cannot run
 * out of room halfway.
 *
 * Decompression is where hostile input lives: a few kilobytes of gzip can expand into
 * gigabytes. So inflate() is never given more output room than the bytes still allowed
 * under the cap plus one: if it fills that extra byte, the stream is larger than the cap
 * and we stop with FW_GZIP_TOO_LARGE, having allocated at most cap + one chunk. Output
 * grows in chunks (doubling through fw_buf), never by trusting the size field in the gzip
 * trailer, which an attacker controls.
 *
 * Concatenated gzip members (what `cat a.gz b.gz` produces) decompress to the
 * concatenation, as gzip(1) does. Anything else after the last member, and a stream that
 * ends early, is FW_GZIP_CORRUPT. On any failure `out` is restored to its previous length.
 */
#include "fw_gzip.h"

#include <assert.h>
#include <limits.h>
#include <zlib.h>

#define FW_GZIP_CHUNK ((size_t)64 * 1024)

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

static fw_gzip_status fw_inflate_all(z_stream *zs, const uint8_t *data, size_t len,
                                     size_t max_out, fw_buf *out, size_t start)
{
    zs->next_in = (Bytef *)(uintptr_t)data;
    zs->avail_in = (uInt)len;
    for (;;) {
        size_t produced = out->len - start;
        /* Room for at most one byte beyond the cap: seeing it proves the stream too big. */
        size_t allowed = max_out - produced + 1;
        size_t room = allowed < FW_GZIP_CHUNK ? allowed : FW_GZIP_CHUNK;
        if (fw_buf_reserve(out, room) != 0)
            return FW_GZIP_NOMEM;
        zs->next_out = out->data + out->len;
        zs->avail_out = (uInt)room;
        int rc = inflate(zs, Z_NO_FLUSH);
        out->len += room - zs->avail_out;
        if (out->len - start > max_out)
            return FW_GZIP_TOO_LARGE;
        if (rc == Z_STREAM_END) {
            /* Another member may follow; anything else after the end is corruption. */
            if (zs->avail_in == 0)
                return FW_GZIP_OK;
            if (zs->avail_in < 2 || zs->next_in[0] != 0x1f || zs->next_in[1] != 0x8b)
                return FW_GZIP_CORRUPT;
            if (inflateReset(zs) != Z_OK)
                return FW_GZIP_CORRUPT;
            continue;
        }
        if (rc == Z_MEM_ERROR)
            return FW_GZIP_NOMEM;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return FW_GZIP_CORRUPT;
        /* No progress possible: all input consumed without reaching the end. */
        if (zs->avail_in == 0 && zs->avail_out != 0)
            return FW_GZIP_CORRUPT;
        if (rc == Z_BUF_ERROR && zs->avail_in == 0)
            return FW_GZIP_CORRUPT;
    }
}

fw_gzip_status fw_gzip_decompress(const uint8_t *data, size_t len, size_t max_out, fw_buf *out)
{
    assert(out);
    if (!fw_gzip_is_gzip(data, len) || len > UINT_MAX)
        return FW_GZIP_CORRUPT;
    if (max_out == SIZE_MAX)
        max_out = SIZE_MAX - 1;
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return FW_GZIP_NOMEM;
    size_t start = out->len;
    fw_gzip_status st = fw_inflate_all(&zs, data, len, max_out, out, start);
    inflateEnd(&zs);
    if (st != FW_GZIP_OK)
        out->len = start;
    return st;
}
