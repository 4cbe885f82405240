/*
 * fw_upload_id.h: the id of an upload, so that a retry is stored once (docs/API.md, "Retries").
 */
#ifndef FW_UPLOAD_ID_H
#define FW_UPLOAD_ID_H

#include "fw_ingest.h"

#include <stdint.h>

#define FW_UPLOAD_ID_MAX 128   /* bytes of an explicit ?uploadId= */

/* The upload's 64-bit id, never 0. With an explicit `upload_id` (the client's own id for this
 * profile, kept across its retries) it is a hash of (name, upload_id); without one, a hash of
 * every parameter the upload's meaning depends on and of its body, so the same request sent
 * again has the same id and any other request a different one. */
uint64_t fw_upload_id(const fw_ingest_request *req, const char *upload_id);

#endif
