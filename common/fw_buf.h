/*
 * fw_buf: a growable byte buffer, the one every encoder, compressor and request body in
 * flamewatch appends to. A leaf module: it includes nothing of ours, so any module can use
 * it without pulling in another (the buffer once lived in fw_pprof, which tied gzip to pprof).
 */
#ifndef FW_BUF_H
#define FW_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} fw_buf;

void fw_buf_free(fw_buf *b);
int fw_buf_append(fw_buf *b, const void *data, size_t len);  /* 0 or -1 (no memory) */
/* Makes room for `extra` more bytes after len without changing len: 0 or -1 (no memory). */
int fw_buf_reserve(fw_buf *b, size_t extra);

#endif
