/*
 * fw_store_validate.h: checking an upload before any backend writes it (internal to store/).
 *
 * Promises: FW_STORE_OK when the upload can be stored whole; otherwise FW_STORE_ERR_INVALID and a
 * one-line reason in err naming the sample, label or type at fault.
 */
#ifndef FW_STORE_VALIDATE_H
#define FW_STORE_VALIDATE_H

#include "fw_store.h"

fw_store_status fw_store_validate_ingest(const fw_store_ingest_req *req, char *err, size_t errlen);

#endif
