/*
 * libFuzzer target: the whole ingest parser (fw_ingest_parse), as the server calls it.
 * The first input byte picks the format, the content type and whether from/until are sent;
 * the rest is the body. Multipart bodies get a fixed boundary so the fuzzer can find parts.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fw_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const formats[] = {"pprof", "folded", "lines", NULL};
    static const char *const names[] = {"app", "shop.cpu{env=prod,region=eu}", "x.alloc_space{a=b}", "bad{"};
    uint8_t sel = data[0];
    fw_ingest_request req;
    memset(&req, 0, sizeof req);
    req.name = names[(sel >> 4) & 3];
    req.format = formats[sel & 3];
    req.content_type = (sel & 4) ? "multipart/form-data; boundary=fwtestboundary1234" : NULL;
    req.sample_rate = (sel & 8) ? "97" : NULL;
    req.from = (sel & 64) ? "1700000000" : NULL;
    req.until = (sel & 64) ? "1700000010" : NULL;
    req.units = (sel & 128) ? "bytes" : NULL;
    req.body = data + 1;
    req.body_len = size - 1;
    req.now = 1700000100;
    fw_ingest_batch b;
    fw_reject_reason why;
    char err[256];
    if (fw_ingest_parse(&req, &b, &why, err, sizeof err) == 200)
        fw_ingest_batch_free(&b);
    return 0;
}
