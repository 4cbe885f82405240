/*
 * libFuzzer target: the pprof decoder (gzip or plain) on arbitrary bytes.
 * Whatever the input, decoding must either fail with a message or return a profile that can
 * be re-encoded; ASan/UBSan catch any out-of-bounds read or overflow on the way.
 */
#include <stddef.h>
#include <stdint.h>

#include "fw_pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    fw_profile *p = fw_pprof_decode_any(data, size, 8u << 20, NULL, err, sizeof err);
    if (p) {
        fw_buf out = {0};
        (void)fw_pprof_encode(p, &out);
        fw_buf_free(&out);
        fw_profile_free(p);
    }
    return 0;
}
