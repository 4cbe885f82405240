/*
 * fw_gunzip: the one gzip decompressor of flamewatch (server ingest, `flamewatch convert`,
 * pprof files), with a cap on the output: the cap is how callers defend against gzip bombs.
 * It uses libdeflate, so it is not part of the agent (which never decompresses and links
 * nothing but libc and zlib): mk/agent.mk and setup.py leave this file out.
 */
#ifndef FW_GUNZIP_H
#define FW_GUNZIP_H

#include <stddef.h>
#include <stdint.h>
#include "fw_buf.h"
#include "fw_gzip.h"

/* Appends the decompression of `data` (one or more concatenated gzip members) to `out`.
 * FW_GZIP_TOO_LARGE as soon as the output would exceed max_out bytes; on any failure `out`
 * is restored to its previous length. */
fw_gzip_status fw_gunzip(const uint8_t *data, size_t len, size_t max_out, fw_buf *out);

#endif
