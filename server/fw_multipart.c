/*
 * fw_multipart.c: a multipart/form-data reader for one field.
 *
 * The boundary comes from the Content-Type; the parts are walked in place (memmem for each
 * delimiter), each part's headers are read for its Content-Disposition name, and the field's
 * bytes are returned as a slice of the body: nothing is copied, so a 16 MB upload costs no
 * second 16 MB. Anything malformed (no boundary, a part without headers, no closing
 * delimiter) is an error with a one-line reason.
 */
#include "fw_multipart.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


static const uint8_t *fw_memmem(const uint8_t *h, size_t hl, const char *n, size_t nl)
{
    return memmem(h, hl, n, nl);
}

static int fw_boundary(const char *ct, char *out, size_t outlen)
{
    const char *b = strcasestr(ct, "boundary=");
    if (!b)
        return -1;
    b += 9;
    size_t n;
    if (*b == '"') {
        b++;
        const char *q = strchr(b, '"');
        if (!q)
            return -1;
        n = (size_t)(q - b);
    } else {
        n = strcspn(b, "; \t");
    }
    if (n == 0 || n > 70 || n + 1 > outlen)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

/* Extracts name="..." from a part's headers. */
static int fw_part_name(const uint8_t *hdr, size_t len, char *name, size_t namelen)
{
    const uint8_t *cd = NULL;
    for (size_t i = 0; i + 19 <= len; i++)
        if (strncasecmp((const char *)hdr + i, "content-disposition", 19) == 0) {
            cd = hdr + i;
            break;
        }
    if (!cd)
        return -1;
    size_t rest = len - (size_t)(cd - hdr);
    const uint8_t *eol = fw_memmem(cd, rest, "\r\n", 2);
    size_t linelen = eol ? (size_t)(eol - cd) : rest;
    const uint8_t *nm = NULL;
    for (size_t i = 0; i + 6 <= linelen; i++)
        if (memcmp(cd + i, "name=\"", 6) == 0 && (i == 0 || cd[i - 1] == ' ' || cd[i - 1] == ';')) {
            nm = cd + i + 6;
            break;
        }
    if (!nm)
        return -1;
    const uint8_t *end = memchr(nm, '"', linelen - (size_t)(nm - cd));
    if (!end || (size_t)(end - nm) + 1 > namelen)
        return -1;
    memcpy(name, nm, (size_t)(end - nm));
    name[end - nm] = '\0';
    return 0;
}

int fw_multipart_find(const char *content_type, const uint8_t *body, size_t len, const char *field,
                      const uint8_t **data, size_t *dlen, char *err, size_t errlen)
{
    char boundary[80], delim[84];
    if (fw_boundary(content_type, boundary, sizeof boundary) != 0) {
        snprintf(err, errlen, "multipart: missing or invalid boundary in Content-Type");
        return -1;
    }
    size_t blen = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    /* The first delimiter may start the body without the leading CRLF. */
    const uint8_t *p;
    if (len >= blen - 2 && memcmp(body, delim + 2, blen - 2) == 0)
        p = body + blen - 2;
    else {
        p = fw_memmem(body, len, delim, blen);
        if (!p) {
            snprintf(err, errlen, "multipart: boundary not found in body");
            return -1;
        }
        p += blen;
    }
    const uint8_t *end = body + len;
    int found = 0;
    for (int parts = 0;; parts++) {
        if (parts > 64) {
            snprintf(err, errlen, "multipart: more than 64 parts");
            return -1;
        }
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return found ? 0 : 1; /* closing delimiter */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            snprintf(err, errlen, "multipart: truncated or malformed part delimiter");
            return -1;
        }
        p += 2;
        const uint8_t *hend = fw_memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const uint8_t *content;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p - 2; /* a part without headers */
            content = p + 2;
        } else if (!hend) {
            snprintf(err, errlen, "multipart: truncated part headers");
            return -1;
        } else {
            content = hend + 4;
        }
        char name[128] = "";
        int named = fw_part_name(p, (size_t)(hend - p > 0 ? hend - p : 0), name, sizeof name) == 0;
        const uint8_t *next = fw_memmem(content, (size_t)(end - content), delim, blen);
        if (!next) {
            snprintf(err, errlen, "multipart: truncated body (closing boundary missing)");
            return -1;
        }
        if (named && strcmp(name, field) == 0 && !found) {
            *data = content;
            *dlen = (size_t)(next - content);
            found = 1;
        }
        p = next + blen;
    }
}
