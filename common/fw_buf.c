/*
 * fw_buf.c: the growable byte buffer.
 *
 * Capacity doubles from 256 bytes, so appending n bytes one piece at a time costs O(n)
 * copies in all; every size computation is checked for overflow before it is used, and a
 * failed allocation leaves the buffer as it was (callers may keep what they had).
 */
#include "fw_buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void fw_buf_free(fw_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int fw_buf_reserve(fw_buf *b, size_t extra)
{
    assert(b);
    if (extra > SIZE_MAX - b->len)
        return -1;
    if (b->len + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int fw_buf_append(fw_buf *b, const void *data, size_t len)
{
    assert(b);
    if (len == 0)
        return 0;
    if (fw_buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}
