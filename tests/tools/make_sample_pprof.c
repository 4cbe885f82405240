/*
 * make_sample_pprof: writes a small, known pprof for the interop suite.
 *
 * The profile exercises what other readers must get right: two sample types, non-ASCII
 * function and file names, per-sample labels, and a period type. The suite knows the
 * expected totals (cpu 450 ms, wall 950 ms) and stacks, so the file is built through the
 * public libfw API only, exactly as the agent builds its profiles.
 *
 * usage: make_sample_pprof OUT.pprof.gz [OUT.pprof]   (the second file is uncompressed)
 */
#include <stdio.h>
#include <stdlib.h>

#include "fw_gzip.h"
#include "fw_pprof.h"
#include "fw_profile.h"

#define FW_MS 1000000LL

static int fw_write(const char *path, const fw_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

static int fw_build(fw_profile *p)
{
    uint64_t fmain, fcart, fcafe, fjp, lmain, lcart, lcafe, ljp;
    if (fw_profile_function(p, "main", "app.py", 1, &fmain) ||
        fw_profile_function(p, "Cart.total", "shop/cart.py", 10, &fcart) ||
        fw_profile_function(p, "Café.größe", "shop/café.py", 20, &fcafe) ||
        fw_profile_function(p, "処理.実行", "jp.py", 5, &fjp) ||
        fw_profile_location(p, fmain, 3, &lmain) || fw_profile_location(p, fcart, 12, &lcart) ||
        fw_profile_location(p, fcafe, 22, &lcafe) || fw_profile_location(p, fjp, 7, &ljp))
        return -1;
    const uint64_t s1[] = {lcafe, lcart, lmain}, s2[] = {ljp, lmain}, s3[] = {lcart, lmain};
    const fw_label l1[] = {{"thread_name", "MainThread"}, {"thread_group", "MainThread"}, {"app", "shop"}};
    const fw_label l2[] = {{"thread_name", "worker-1"}, {"thread_group", "worker-*"}, {"app", "shop"}};
    const fw_label l3[] = {{"thread_name", "worker-2"}, {"thread_group", "worker-*"}, {"app", "shop"}};
    const int64_t v1[] = {300 * FW_MS, 400 * FW_MS}, v2[] = {100 * FW_MS, 500 * FW_MS},
                  v3[] = {50 * FW_MS, 50 * FW_MS};
    if (fw_profile_add(p, s1, 3, l1, 3, v1) || fw_profile_add(p, s2, 2, l2, 3, v2) ||
        fw_profile_add(p, s3, 2, l3, 3, v3))
        return -1;
    fw_profile_set_time(p, 1700000000LL * 1000000000LL, 15LL * 1000000000LL);
    fw_profile_set_period(p, "cpu", "nanoseconds", 10 * FW_MS);
    return fw_profile_add_comment(p, "flamewatch interop sample") ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT.pprof.gz [OUT.pprof]\n", argv[0]);
        return 2;
    }
    const fw_sample_type types[] = {{"cpu", "nanoseconds"}, {"wall", "nanoseconds"}};
    fw_profile *p = fw_profile_new(types, 2);
    fw_buf raw = {0}, gz = {0};
    int rc = 1;
    if (p && fw_build(p) == 0 && fw_pprof_encode(p, &raw) == FW_OK &&
        fw_gzip_compress(raw.data, raw.len, 6, &gz) == FW_GZIP_OK && fw_write(argv[1], &gz) == 0 &&
        (argc < 3 || fw_write(argv[2], &raw) == 0))
        rc = 0;
    else
        fprintf(stderr, "make_sample_pprof: failed to build the profile\n");
    fw_profile_free(p);
    fw_buf_free(&raw);
    fw_buf_free(&gz);
    return rc;
}
