/*
 * fw_utf8.c: UTF-8 validation by the table of well-formed byte sequences (Unicode 15, table
 * 3-7), not by decoding code points: the lead byte fixes the length and the allowed range of
 * the second byte (which is where overlongs, surrogates and values past U+10FFFF show), and
 * every later byte is a plain continuation byte. Runs of ASCII, the usual case for function
 * names and paths, cost one compare per byte.
 */
#include "fw_utf8.h"

#include <assert.h>

size_t fw_utf8_seq(const unsigned char *s, size_t len)
{
    assert(len > 0);
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;                      /* continuation bytes */
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        if (c == 0xe0)
            lo = 0xa0;             /* overlong */
        else if (c == 0xed)
            hi = 0x9f;             /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        if (c == 0xf0)
            lo = 0x90;             /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;             /* past U+10FFFF */
    } else {
        return 0;
    }
    if (len <= n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k <= n; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return n + 1;
}

size_t fw_utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = fw_utf8_seq(s + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

int fw_utf8_valid(const char *s, size_t len)
{
    return fw_utf8_valid_prefix(s, len) == len;
}

long fw_utf8_chars(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    long chars = 0;
    for (size_t i = 0; i < len; chars++) {
        size_t n = fw_utf8_seq(s + i, len - i);
        if (!n)
            return -1;
        i += n;
    }
    return chars;
}
