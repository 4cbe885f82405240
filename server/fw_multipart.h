/*
 * fw_multipart: finds one field of a multipart/form-data body (RFC 7578), the form Pyroscope
 * clients upload profiles in. A leaf: it reads the body in place and allocates nothing.
 */
#ifndef FW_MULTIPART_H
#define FW_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

/* Finds field `field` in a multipart/form-data body. Returns 0 and sets data and dlen, 1 when the
 * body is well formed but has no such field, -1 (with err) when the body is malformed. */
int fw_multipart_find(const char *content_type, const uint8_t *body, size_t len, const char *field,
                      const uint8_t **data, size_t *dlen, char *err, size_t errlen);

#endif
